//! The function lists and interfaces: `C_GetFunctionList` (the 2.40 list, reporting 2.40),
//! `C_GetInterfaceList` and `C_GetInterface` ("PKCS 11" 3.2, 3.0 and 2.40). Every slot of every
//! list is a real function.

use super::util::fill_list;
use super::{digest::*, dual::*, encrypt::*, general::*, keys::*, message::*, object::*, random::*};
use super::{guard, session::*, sign::*, slot_token::*};
use crate::error::Error;
use cryptoki_sys::*;
use std::ffi::c_void;

/// Builds a function list of type `$ty`: the 2.40 functions, then the listed extra ones.
macro_rules! function_list {
    ($ty:ident, $major:expr, $minor:expr, $get_info:expr, { $($extra:ident),* $(,)? }) => {
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
            C_CreateObject: Some(C_CreateObject),
            C_CopyObject: Some(C_CopyObject),
            C_DestroyObject: Some(C_DestroyObject),
            C_GetObjectSize: Some(C_GetObjectSize),
            C_GetAttributeValue: Some(C_GetAttributeValue),
            C_SetAttributeValue: Some(C_SetAttributeValue),
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
            C_GenerateKey: Some(C_GenerateKey),
            C_GenerateKeyPair: Some(C_GenerateKeyPair),
            C_WrapKey: Some(C_WrapKey),
            C_UnwrapKey: Some(C_UnwrapKey),
            C_DeriveKey: Some(C_DeriveKey),
            C_SeedRandom: Some(C_SeedRandom),
            C_GenerateRandom: Some(C_GenerateRandom),
            C_GetFunctionStatus: Some(C_GetFunctionStatus),
            C_CancelFunction: Some(C_CancelFunction),
            C_WaitForSlotEvent: Some(C_WaitForSlotEvent),
            $($extra: Some($extra),)*
        }
    };
}

static LIST_2_40: CK_FUNCTION_LIST = function_list!(CK_FUNCTION_LIST, 2, 40, C_GetInfo, {});

static LIST_3_0: CK_FUNCTION_LIST_3_0 = function_list!(CK_FUNCTION_LIST_3_0, 3, 0, get_info_3_0, {
    C_GetInterfaceList, C_GetInterface, C_LoginUser, C_SessionCancel,
    C_MessageEncryptInit, C_EncryptMessage, C_EncryptMessageBegin, C_EncryptMessageNext, C_MessageEncryptFinal,
    C_MessageDecryptInit, C_DecryptMessage, C_DecryptMessageBegin, C_DecryptMessageNext, C_MessageDecryptFinal,
    C_MessageSignInit, C_SignMessage, C_SignMessageBegin, C_SignMessageNext, C_MessageSignFinal,
    C_MessageVerifyInit, C_VerifyMessage, C_VerifyMessageBegin, C_VerifyMessageNext, C_MessageVerifyFinal,
});

static LIST_3_2: CK_FUNCTION_LIST_3_2 = function_list!(CK_FUNCTION_LIST_3_2, 3, 2, get_info_3_2, {
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

/// The interfaces, newest first; the first is the default.
struct Interfaces([CK_INTERFACE; 3]);

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
]);

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
        if !name.is_null() {
            // SAFETY: non-null and NUL-terminated per the caller.
            let n = unsafe { std::ffi::CStr::from_ptr(name as *const std::ffi::c_char) };
            if n.to_bytes() != &NAME[..NAME.len() - 1] {
                return Err(Error::ArgumentsBad);
            }
        }
        let wanted = if version.is_null() {
            None
        } else {
            // SAFETY: non-null and readable per the caller.
            Some(unsafe { version.read_unaligned() })
        };
        let found = INTERFACES.0.iter().find(|i| {
            let v = list_version(i);
            wanted.is_none_or(|w| w.major == v.major && w.minor == v.minor) && (i.flags & flags) == flags
        });
        let found = found.ok_or(Error::ArgumentsBad)?;
        // SAFETY: checked for null; the caller gives a writable pointer slot.
        unsafe { *interface = found as *const CK_INTERFACE as *mut CK_INTERFACE };
        Ok(())
    })
}
