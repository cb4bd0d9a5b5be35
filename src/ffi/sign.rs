//! Signatures and MACs: sign, verify, and the 3.2 verify-signature functions.

use super::mechanism::mechanism;
use super::util::input;
use super::{consume, finish, transform, with_library};
use crate::error::{Error, Result};
use crate::token::Library;
use cryptoki_sys::*;

/// # Safety
/// `mech` points to a readable `CK_MECHANISM` with a readable parameter.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_SignInit(
    session: CK_SESSION_HANDLE,
    mech: *mut CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
) -> CK_RV {
    with_library("C_SignInit", |lib| {
        // SAFETY: the caller's mechanism, checked inside.
        let m = unsafe { mechanism(mech)? };
        lib.sign_init(session, &m, key)
    })
}

/// # Safety
/// Buffers as the spec describes, each valid for its length.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_Sign(
    session: CK_SESSION_HANDLE,
    data: *mut CK_BYTE,
    len: CK_ULONG,
    sig: *mut CK_BYTE,
    sig_len: *mut CK_ULONG,
) -> CK_RV {
    // SAFETY: the caller's buffers, passed on.
    unsafe {
        transform("C_Sign", session, CKF_SIGN, data, len, sig, sig_len, |lib, i, o| lib.sign(session, i, o))
    }
}

/// # Safety
/// `data` readable for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_SignUpdate(
    session: CK_SESSION_HANDLE,
    data: *mut CK_BYTE,
    len: CK_ULONG,
) -> CK_RV {
    // SAFETY: the caller's buffer, passed on.
    unsafe { consume("C_SignUpdate", session, CKF_SIGN, data, len, |lib, i| lib.sign_update(session, i)) }
}

/// # Safety
/// Buffers as the spec describes, each valid for its length.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_SignFinal(
    session: CK_SESSION_HANDLE,
    sig: *mut CK_BYTE,
    sig_len: *mut CK_ULONG,
) -> CK_RV {
    // SAFETY: the caller's buffers, passed on.
    unsafe { finish("C_SignFinal", session, CKF_SIGN, sig, sig_len, |lib, o| lib.sign_final(session, o)) }
}

/// No mechanism here recovers data from a signature.
#[unsafe(no_mangle)]
pub extern "C" fn C_SignRecoverInit(
    session: CK_SESSION_HANDLE,
    _mech: *mut CK_MECHANISM,
    _key: CK_OBJECT_HANDLE,
) -> CK_RV {
    with_library("C_SignRecoverInit", |lib| {
        lib.session(session)?;
        Err(Error::FunctionNotSupported)
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn C_SignRecover(
    session: CK_SESSION_HANDLE,
    _data: *mut CK_BYTE,
    _len: CK_ULONG,
    _sig: *mut CK_BYTE,
    _sig_len: *mut CK_ULONG,
) -> CK_RV {
    with_library("C_SignRecover", |lib| {
        lib.session(session)?;
        Err(Error::FunctionNotSupported)
    })
}

/// # Safety
/// `mech` points to a readable `CK_MECHANISM` with a readable parameter.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_VerifyInit(
    session: CK_SESSION_HANDLE,
    mech: *mut CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
) -> CK_RV {
    with_library("C_VerifyInit", |lib| {
        // SAFETY: the caller's mechanism, checked inside.
        let m = unsafe { mechanism(mech)? };
        lib.verify_init(session, &m, key)
    })
}

/// # Safety
/// `data` and `sig` readable for their lengths.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_Verify(
    session: CK_SESSION_HANDLE,
    data: *mut CK_BYTE,
    len: CK_ULONG,
    sig: *mut CK_BYTE,
    sig_len: CK_ULONG,
) -> CK_RV {
    with_library("C_Verify", |lib| {
        // SAFETY: the caller's buffers, checked inside.
        let args = unsafe { input(data, len).and_then(|d| Ok((d, input(sig, sig_len)?))) };
        let (d, s) = args.map_err(|e| super::abort(lib, session, CKF_VERIFY, e))?;
        lib.verify(session, d, s)
    })
}

/// # Safety
/// `data` readable for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_VerifyUpdate(
    session: CK_SESSION_HANDLE,
    data: *mut CK_BYTE,
    len: CK_ULONG,
) -> CK_RV {
    // SAFETY: the caller's buffer, passed on.
    unsafe {
        consume("C_VerifyUpdate", session, CKF_VERIFY, data, len, |lib, i| lib.verify_update(session, i))
    }
}

/// # Safety
/// `sig` readable for `sig_len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_VerifyFinal(
    session: CK_SESSION_HANDLE,
    sig: *mut CK_BYTE,
    sig_len: CK_ULONG,
) -> CK_RV {
    // SAFETY: the caller's buffer, passed on.
    unsafe {
        consume("C_VerifyFinal", session, CKF_VERIFY, sig, sig_len, |lib, s| lib.verify_final(session, s))
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn C_VerifyRecoverInit(
    session: CK_SESSION_HANDLE,
    _mech: *mut CK_MECHANISM,
    _key: CK_OBJECT_HANDLE,
) -> CK_RV {
    with_library("C_VerifyRecoverInit", |lib| {
        lib.session(session)?;
        Err(Error::FunctionNotSupported)
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn C_VerifyRecover(
    session: CK_SESSION_HANDLE,
    _sig: *mut CK_BYTE,
    _sig_len: CK_ULONG,
    _data: *mut CK_BYTE,
    _len: *mut CK_ULONG,
) -> CK_RV {
    with_library("C_VerifyRecover", |lib| {
        lib.session(session)?;
        Err(Error::FunctionNotSupported)
    })
}

/// # Safety
/// `mech` points to a readable `CK_MECHANISM`; `sig` readable for `sig_len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_VerifySignatureInit(
    session: CK_SESSION_HANDLE,
    mech: *mut CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
    sig: *mut CK_BYTE,
    sig_len: CK_ULONG,
) -> CK_RV {
    with_library("C_VerifySignatureInit", |lib| {
        // SAFETY: the caller's mechanism and signature, checked inside.
        let (m, s) = unsafe { (mechanism(mech)?, input(sig, sig_len)?) };
        lib.verify_signature_init(session, &m, key, s)
    })
}

/// `consume` for the `C_VerifySignature*` steps: the operation a bad argument ends is the
/// verify-signature one, which no `CKF_*` flag names apart from `C_VerifyInit`'s.
///
/// # Safety
/// `data` readable for `len` bytes.
unsafe fn verify_signature_step(
    name: &'static str,
    session: CK_SESSION_HANDLE,
    data: *const CK_BYTE,
    len: CK_ULONG,
    f: impl FnOnce(&Library, &[u8]) -> Result<()>,
) -> CK_RV {
    with_library(name, |lib| {
        // SAFETY: the caller's buffer, checked inside.
        let data = unsafe { input(data, len) }.inspect_err(|_| lib.end_verify_signature(session))?;
        f(lib, data)
    })
}

/// # Safety
/// `data` readable for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_VerifySignature(
    session: CK_SESSION_HANDLE,
    data: *mut CK_BYTE,
    len: CK_ULONG,
) -> CK_RV {
    // SAFETY: the caller's buffer, passed on.
    unsafe {
        verify_signature_step("C_VerifySignature", session, data, len, |lib, d| {
            lib.verify_signature(session, d)
        })
    }
}

/// # Safety
/// `data` readable for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_VerifySignatureUpdate(
    session: CK_SESSION_HANDLE,
    data: *mut CK_BYTE,
    len: CK_ULONG,
) -> CK_RV {
    // SAFETY: the caller's buffer, passed on.
    unsafe {
        verify_signature_step("C_VerifySignatureUpdate", session, data, len, |lib, d| {
            lib.verify_signature_update(session, d)
        })
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn C_VerifySignatureFinal(session: CK_SESSION_HANDLE) -> CK_RV {
    with_library("C_VerifySignatureFinal", |lib| lib.verify_signature_final(session))
}
