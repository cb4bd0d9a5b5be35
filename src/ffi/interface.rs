//! The function lists and interfaces: `C_GetFunctionList` (the 2.40 list, reporting 2.40),
//! `C_GetInterfaceList` and `C_GetInterface` ("PKCS 11" 3.2, 3.0 and 2.40). Every slot of every
//! list is a real function.

use super::util::fill_list;
use super::{before_3_2, guard, session::*, sign::*, slot_token::*};
use super::{digest::*, dual::*, encrypt::*, general::*, keys::*, message::*, object::*, random::*};
use crate::error::Error;
use cryptoki_sys::*;
use std::ffi::c_void;

/// Builds a function list of type `$ty`: the 2.40 functions, then the listed extra ones. The
/// functions that can hit a KMS quota come from `$quota` (see `before_3_2`).
macro_rules! function_list {
    ($ty:ident, $major:expr, $minor:expr, $get_info:expr, $quota:path, { $($extra:ident),* $(,)? }) => {{
        use $quota as quota;
        $ty {
            version: CK_VERSION { major: $major, minor: $minor },
            C_Initialize: Some(C_Initialize),
            C_Finalize: Some(C_Finalize),
            C_GetInfo: Some($get_info),
            C_GetFunctionList: Some(C_GetFunctionList),
            C_GetSlotList: Some(C_GetSlotList),
            C_GetSlotInfo: Some(C_GetSlotInfo),
            C_GetTokenInfo: Some(C_GetTokenInfo),
            C_GetMechanismList: Some(C_GetMechanismList),
            C_GetMechanismInfo: Some(C_GetMechanismInfo),
            C_InitToken: Some(C_InitToken),
            C_InitPIN: Some(C_InitPIN),
            C_SetPIN: Some(C_SetPIN),
            C_OpenSession: Some(C_OpenSession),
            C_CloseSession: Some(C_CloseSession),
            C_CloseAllSessions: Some(C_CloseAllSessions),
            C_GetSessionInfo: Some(C_GetSessionInfo),
            C_GetOperationState: Some(C_GetOperationState),
            C_SetOperationState: Some(C_SetOperationState),
            C_Login: Some(C_Login),
            C_Logout: Some(C_Logout),
            C_CreateObject: Some(quota::C_CreateObject),
            C_CopyObject: Some(quota::C_CopyObject),
            C_DestroyObject: Some(C_DestroyObject),
            C_GetObjectSize: Some(C_GetObjectSize),
            C_GetAttributeValue: Some(C_GetAttributeValue),
            C_SetAttributeValue: Some(quota::C_SetAttributeValue),
            C_FindObjectsInit: Some(C_FindObjectsInit),
            C_FindObjects: Some(C_FindObjects),
            C_FindObjectsFinal: Some(C_FindObjectsFinal),
            C_EncryptInit: Some(C_EncryptInit),
            C_Encrypt: Some(C_Encrypt),
            C_EncryptUpdate: Some(C_EncryptUpdate),
            C_EncryptFinal: Some(C_EncryptFinal),
            C_DecryptInit: Some(C_DecryptInit),
            C_Decrypt: Some(C_Decrypt),
            C_DecryptUpdate: Some(C_DecryptUpdate),
            C_DecryptFinal: Some(C_DecryptFinal),
            C_DigestInit: Some(C_DigestInit),
            C_Digest: Some(C_Digest),
            C_DigestUpdate: Some(C_DigestUpdate),
            C_DigestKey: Some(C_DigestKey),
            C_DigestFinal: Some(C_DigestFinal),
            C_SignInit: Some(C_SignInit),
            C_Sign: Some(C_Sign),
            C_SignUpdate: Some(C_SignUpdate),
            C_SignFinal: Some(C_SignFinal),
            C_SignRecoverInit: Some(C_SignRecoverInit),
            C_SignRecover: Some(C_SignRecover),
            C_VerifyInit: Some(C_VerifyInit),
            C_Verify: Some(C_Verify),
            C_VerifyUpdate: Some(C_VerifyUpdate),
            C_VerifyFinal: Some(C_VerifyFinal),
            C_VerifyRecoverInit: Some(C_VerifyRecoverInit),
            C_VerifyRecover: Some(C_VerifyRecover),
            C_DigestEncryptUpdate: Some(C_DigestEncryptUpdate),
            C_DecryptDigestUpdate: Some(C_DecryptDigestUpdate),
            C_SignEncryptUpdate: Some(C_SignEncryptUpdate),
            C_DecryptVerifyUpdate: Some(C_DecryptVerifyUpdate),
            C_GenerateKey: Some(quota::C_GenerateKey),
            C_GenerateKeyPair: Some(quota::C_GenerateKeyPair),
            C_WrapKey: Some(C_WrapKey),
            C_UnwrapKey: Some(quota::C_UnwrapKey),
            C_DeriveKey: Some(quota::C_DeriveKey),
            C_SeedRandom: Some(C_SeedRandom),
            C_GenerateRandom: Some(C_GenerateRandom),
            C_GetFunctionStatus: Some(C_GetFunctionStatus),
            C_CancelFunction: Some(C_CancelFunction),
            C_WaitForSlotEvent: Some(C_WaitForSlotEvent),
            $($extra: Some($extra),)*
        }
    }};
}

static LIST_2_40: CK_FUNCTION_LIST = function_list!(CK_FUNCTION_LIST, 2, 40, C_GetInfo, before_3_2, {});

static LIST_3_0: CK_FUNCTION_LIST_3_0 = function_list!(CK_FUNCTION_LIST_3_0, 3, 0, get_info_3_0, before_3_2, {
    C_GetInterfaceList, C_GetInterface, C_LoginUser, C_SessionCancel,
    C_MessageEncryptInit, C_EncryptMessage, C_EncryptMessageBegin, C_EncryptMessageNext, C_MessageEncryptFinal,
    C_MessageDecryptInit, C_DecryptMessage, C_DecryptMessageBegin, C_DecryptMessageNext, C_MessageDecryptFinal,
    C_MessageSignInit, C_SignMessage, C_SignMessageBegin, C_SignMessageNext, C_MessageSignFinal,
    C_MessageVerifyInit, C_VerifyMessage, C_VerifyMessageBegin, C_VerifyMessageNext, C_MessageVerifyFinal,
});

static LIST_3_2: CK_FUNCTION_LIST_3_2 = function_list!(CK_FUNCTION_LIST_3_2, 3, 2, get_info_3_2, before_3_2::current, {
    C_GetInterfaceList, C_GetInterface, C_LoginUser, C_SessionCancel,
    C_MessageEncryptInit, C_EncryptMessage, C_EncryptMessageBegin, C_EncryptMessageNext, C_MessageEncryptFinal,
    C_MessageDecryptInit, C_DecryptMessage, C_DecryptMessageBegin, C_DecryptMessageNext, C_MessageDecryptFinal,
    C_MessageSignInit, C_SignMessage, C_SignMessageBegin, C_SignMessageNext, C_MessageSignFinal,
    C_MessageVerifyInit, C_VerifyMessage, C_VerifyMessageBegin, C_VerifyMessageNext, C_MessageVerifyFinal,
    C_EncapsulateKey, C_DecapsulateKey, C_VerifySignatureInit, C_VerifySignature, C_VerifySignatureUpdate,
    C_VerifySignatureFinal, C_GetSessionValidationFlags, C_AsyncComplete, C_AsyncGetID, C_AsyncJoin,
    C_WrapKeyAuthenticated, C_UnwrapKeyAuthenticated,
});

const NAME: &[u8] = b"PKCS 11\0";
/// The vendor interface (`KMS_INTERFACE_NAME` in `include/kms_pkcs11.h`).
const KMS_NAME: &[u8] = b"KMS PKCS11\0";

/// `CK_KMS_FUNCTION_LIST` of `include/kms_pkcs11.h`.
#[repr(C)]
pub struct KmsFunctionList {
    pub version: CK_VERSION,
    pub get_last_error: unsafe extern "C" fn(*mut CK_UTF8CHAR, *mut CK_ULONG) -> CK_RV,
}

static KMS_LIST: KmsFunctionList =
    KmsFunctionList { version: CK_VERSION { major: 1, minor: 0 }, get_last_error: kms_get_last_error };

/// `C_KMS_GetLastError`: the KMS code of the calling thread's last failure, with the
/// size-query convention.
///
/// # Safety
/// `len` readable and writable; `code` null or writable for `*len` bytes.
unsafe extern "C" fn kms_get_last_error(code: *mut CK_UTF8CHAR, len: *mut CK_ULONG) -> CK_RV {
    guard("C_KMS_GetLastError", || {
        let text = crate::kms::last_error().map(|e| e.code.name()).unwrap_or_default();
        // SAFETY: the caller's buffer and length, checked inside.
        let out = unsafe { super::util::output(code, len)? };
        let result = match out {
            crate::token::Out::Query => Ok(text.len()),
            crate::token::Out::Buf(buf) if buf.len() < text.len() => Err(Error::BufferTooSmall(text.len())),
            crate::token::Out::Buf(buf) => {
                buf[..text.len()].copy_from_slice(text.as_bytes());
                Ok(text.len())
            }
        };
        // SAFETY: `len` was checked non-null by `output`; writable per the caller.
        unsafe { super::util::deliver(len, result) }
    })
}

/// The interfaces, newest first; the first is the default.
struct Interfaces([CK_INTERFACE; 4]);

// SAFETY: the pointers refer to immutable statics (the name and the function lists), which the
// caller only reads; sharing them between threads is sound.
unsafe impl Sync for Interfaces {}

static INTERFACES: Interfaces = Interfaces([
    CK_INTERFACE {
        pInterfaceName: NAME.as_ptr() as *mut CK_UTF8CHAR,
        pFunctionList: &LIST_3_2 as *const CK_FUNCTION_LIST_3_2 as *mut c_void,
        flags: 0,
    },
    CK_INTERFACE {
        pInterfaceName: NAME.as_ptr() as *mut CK_UTF8CHAR,
        pFunctionList: &LIST_3_0 as *const CK_FUNCTION_LIST_3_0 as *mut c_void,
        flags: 0,
    },
    CK_INTERFACE {
        pInterfaceName: NAME.as_ptr() as *mut CK_UTF8CHAR,
        pFunctionList: &LIST_2_40 as *const CK_FUNCTION_LIST as *mut c_void,
        flags: 0,
    },
    CK_INTERFACE {
        pInterfaceName: KMS_NAME.as_ptr() as *mut CK_UTF8CHAR,
        pFunctionList: &KMS_LIST as *const KmsFunctionList as *mut c_void,
        flags: 0,
    },
]);

fn interface_name(i: &CK_INTERFACE) -> &'static [u8] {
    if std::ptr::eq(i.pInterfaceName, KMS_NAME.as_ptr()) {
        &KMS_NAME[..KMS_NAME.len() - 1]
    } else {
        &NAME[..NAME.len() - 1]
    }
}

fn list_version(i: &CK_INTERFACE) -> CK_VERSION {
    // SAFETY: every list starts with its CK_VERSION, and the pointer is one of our statics.
    unsafe { (i.pFunctionList as *const CK_VERSION).read() }
}

/// # Safety
/// `list` is null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GetFunctionList(list: *mut *mut CK_FUNCTION_LIST) -> CK_RV {
    guard("C_GetFunctionList", || {
        if list.is_null() {
            return Err(Error::ArgumentsBad);
        }
        // SAFETY: checked for null; the caller gives a writable pointer slot.
        unsafe { *list = &LIST_2_40 as *const CK_FUNCTION_LIST as *mut CK_FUNCTION_LIST };
        Ok(())
    })
}

/// # Safety
/// `list` null or writable for `*count` interfaces; `count` readable and writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GetInterfaceList(list: *mut CK_INTERFACE, count: *mut CK_ULONG) -> CK_RV {
    // SAFETY: checked inside.
    guard("C_GetInterfaceList", || unsafe { fill_list(&INTERFACES.0, list, count) })
}

/// # Safety
/// `name` null or a NUL-terminated string; `version` null or readable; `interface` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GetInterface(
    name: *mut CK_UTF8CHAR,
    version: *mut CK_VERSION,
    interface: *mut *mut CK_INTERFACE,
    flags: CK_FLAGS,
) -> CK_RV {
    guard("C_GetInterface", || {
        if interface.is_null() {
            return Err(Error::ArgumentsBad);
        }
        // No name means the standard interface.
        let wanted_name = if name.is_null() {
            &NAME[..NAME.len() - 1]
        } else {
            // SAFETY: non-null and NUL-terminated per the caller.
            unsafe { std::ffi::CStr::from_ptr(name as *const std::ffi::c_char) }.to_bytes()
        };
        let wanted = if version.is_null() {
            None
        } else {
            // SAFETY: non-null and readable per the caller.
            Some(unsafe { version.read_unaligned() })
        };
        let found = INTERFACES.0.iter().find(|i| {
            let v = list_version(i);
            interface_name(i) == wanted_name
                && wanted.is_none_or(|w| w.major == v.major && w.minor == v.minor)
                && (i.flags & flags) == flags
        });
        let found = found.ok_or(Error::ArgumentsBad)?;
        // SAFETY: checked for null; the caller gives a writable pointer slot.
        unsafe { *interface = found as *const CK_INTERFACE as *mut CK_INTERFACE };
        Ok(())
    })
}
