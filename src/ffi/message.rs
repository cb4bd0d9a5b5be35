//! Message-based functions (3.0) and asynchronous functions (3.2): not offered yet. Each checks
//! its session so a bad handle still gets `CKR_SESSION_HANDLE_INVALID`.

use super::with_library;
use crate::error::Error;
use cryptoki_sys::*;
use std::ffi::c_void;

fn unsupported(name: &'static str, session: CK_SESSION_HANDLE) -> CK_RV {
    with_library(name, |lib| {
        lib.session(session)?;
        Err(Error::FunctionNotSupported)
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn C_MessageEncryptInit(
    s: CK_SESSION_HANDLE,
    _m: *mut CK_MECHANISM,
    _k: CK_OBJECT_HANDLE,
) -> CK_RV {
    unsupported("C_MessageEncryptInit", s)
}

#[unsafe(no_mangle)]
pub extern "C" fn C_EncryptMessage(
    s: CK_SESSION_HANDLE,
    _p: *mut c_void,
    _pl: CK_ULONG,
    _a: *mut CK_BYTE,
    _al: CK_ULONG,
    _d: *mut CK_BYTE,
    _dl: CK_ULONG,
    _o: *mut CK_BYTE,
    _ol: *mut CK_ULONG,
) -> CK_RV {
    unsupported("C_EncryptMessage", s)
}

#[unsafe(no_mangle)]
pub extern "C" fn C_EncryptMessageBegin(
    s: CK_SESSION_HANDLE,
    _p: *mut c_void,
    _pl: CK_ULONG,
    _a: *mut CK_BYTE,
    _al: CK_ULONG,
) -> CK_RV {
    unsupported("C_EncryptMessageBegin", s)
}

#[unsafe(no_mangle)]
pub extern "C" fn C_EncryptMessageNext(
    s: CK_SESSION_HANDLE,
    _p: *mut c_void,
    _pl: CK_ULONG,
    _d: *mut CK_BYTE,
    _dl: CK_ULONG,
    _o: *mut CK_BYTE,
    _ol: *mut CK_ULONG,
    _f: CK_FLAGS,
) -> CK_RV {
    unsupported("C_EncryptMessageNext", s)
}

#[unsafe(no_mangle)]
pub extern "C" fn C_MessageEncryptFinal(s: CK_SESSION_HANDLE) -> CK_RV {
    unsupported("C_MessageEncryptFinal", s)
}

#[unsafe(no_mangle)]
pub extern "C" fn C_MessageDecryptInit(
    s: CK_SESSION_HANDLE,
    _m: *mut CK_MECHANISM,
    _k: CK_OBJECT_HANDLE,
) -> CK_RV {
    unsupported("C_MessageDecryptInit", s)
}

#[unsafe(no_mangle)]
pub extern "C" fn C_DecryptMessage(
    s: CK_SESSION_HANDLE,
    _p: *mut c_void,
    _pl: CK_ULONG,
    _a: *mut CK_BYTE,
    _al: CK_ULONG,
    _d: *mut CK_BYTE,
    _dl: CK_ULONG,
    _o: *mut CK_BYTE,
    _ol: *mut CK_ULONG,
) -> CK_RV {
    unsupported("C_DecryptMessage", s)
}

#[unsafe(no_mangle)]
pub extern "C" fn C_DecryptMessageBegin(
    s: CK_SESSION_HANDLE,
    _p: *mut c_void,
    _pl: CK_ULONG,
    _a: *mut CK_BYTE,
    _al: CK_ULONG,
) -> CK_RV {
    unsupported("C_DecryptMessageBegin", s)
}

#[unsafe(no_mangle)]
pub extern "C" fn C_DecryptMessageNext(
    s: CK_SESSION_HANDLE,
    _p: *mut c_void,
    _pl: CK_ULONG,
    _d: *mut CK_BYTE,
    _dl: CK_ULONG,
    _o: *mut CK_BYTE,
    _ol: *mut CK_ULONG,
    _f: CK_FLAGS,
) -> CK_RV {
    unsupported("C_DecryptMessageNext", s)
}

#[unsafe(no_mangle)]
pub extern "C" fn C_MessageDecryptFinal(s: CK_SESSION_HANDLE) -> CK_RV {
    unsupported("C_MessageDecryptFinal", s)
}

#[unsafe(no_mangle)]
pub extern "C" fn C_MessageSignInit(
    s: CK_SESSION_HANDLE,
    _m: *mut CK_MECHANISM,
    _k: CK_OBJECT_HANDLE,
) -> CK_RV {
    unsupported("C_MessageSignInit", s)
}

#[unsafe(no_mangle)]
pub extern "C" fn C_SignMessage(
    s: CK_SESSION_HANDLE,
    _p: *mut c_void,
    _pl: CK_ULONG,
    _d: *mut CK_BYTE,
    _dl: CK_ULONG,
    _o: *mut CK_BYTE,
    _ol: *mut CK_ULONG,
) -> CK_RV {
    unsupported("C_SignMessage", s)
}

#[unsafe(no_mangle)]
pub extern "C" fn C_SignMessageBegin(s: CK_SESSION_HANDLE, _p: *mut c_void, _pl: CK_ULONG) -> CK_RV {
    unsupported("C_SignMessageBegin", s)
}

#[unsafe(no_mangle)]
pub extern "C" fn C_SignMessageNext(
    s: CK_SESSION_HANDLE,
    _p: *mut c_void,
    _pl: CK_ULONG,
    _d: *mut CK_BYTE,
    _dl: CK_ULONG,
    _o: *mut CK_BYTE,
    _ol: *mut CK_ULONG,
) -> CK_RV {
    unsupported("C_SignMessageNext", s)
}

#[unsafe(no_mangle)]
pub extern "C" fn C_MessageSignFinal(s: CK_SESSION_HANDLE) -> CK_RV {
    unsupported("C_MessageSignFinal", s)
}

#[unsafe(no_mangle)]
pub extern "C" fn C_MessageVerifyInit(
    s: CK_SESSION_HANDLE,
    _m: *mut CK_MECHANISM,
    _k: CK_OBJECT_HANDLE,
) -> CK_RV {
    unsupported("C_MessageVerifyInit", s)
}

#[unsafe(no_mangle)]
pub extern "C" fn C_VerifyMessage(
    s: CK_SESSION_HANDLE,
    _p: *mut c_void,
    _pl: CK_ULONG,
    _d: *mut CK_BYTE,
    _dl: CK_ULONG,
    _g: *mut CK_BYTE,
    _gl: CK_ULONG,
) -> CK_RV {
    unsupported("C_VerifyMessage", s)
}

#[unsafe(no_mangle)]
pub extern "C" fn C_VerifyMessageBegin(s: CK_SESSION_HANDLE, _p: *mut c_void, _pl: CK_ULONG) -> CK_RV {
    unsupported("C_VerifyMessageBegin", s)
}

#[unsafe(no_mangle)]
pub extern "C" fn C_VerifyMessageNext(
    s: CK_SESSION_HANDLE,
    _p: *mut c_void,
    _pl: CK_ULONG,
    _d: *mut CK_BYTE,
    _dl: CK_ULONG,
    _g: *mut CK_BYTE,
    _gl: CK_ULONG,
) -> CK_RV {
    unsupported("C_VerifyMessageNext", s)
}

#[unsafe(no_mangle)]
pub extern "C" fn C_MessageVerifyFinal(s: CK_SESSION_HANDLE) -> CK_RV {
    unsupported("C_MessageVerifyFinal", s)
}

#[unsafe(no_mangle)]
pub extern "C" fn C_AsyncComplete(
    s: CK_SESSION_HANDLE,
    _f: *mut CK_UTF8CHAR,
    _r: *mut CK_ASYNC_DATA,
) -> CK_RV {
    unsupported("C_AsyncComplete", s)
}

#[unsafe(no_mangle)]
pub extern "C" fn C_AsyncGetID(s: CK_SESSION_HANDLE, _f: *mut CK_UTF8CHAR, _id: *mut CK_ULONG) -> CK_RV {
    unsupported("C_AsyncGetID", s)
}

#[unsafe(no_mangle)]
pub extern "C" fn C_AsyncJoin(
    s: CK_SESSION_HANDLE,
    _f: *mut CK_UTF8CHAR,
    _id: CK_ULONG,
    _d: *mut CK_BYTE,
    _dl: CK_ULONG,
) -> CK_RV {
    unsupported("C_AsyncJoin", s)
}
