//! Message digests.

use super::mechanism::mechanism;
use super::{consume, finish, transform, with_library};
use cryptoki_sys::*;

/// # Safety
/// `mech` points to a readable `CK_MECHANISM`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_DigestInit(session: CK_SESSION_HANDLE, mech: *mut CK_MECHANISM) -> CK_RV {
    with_library("C_DigestInit", |lib| {
        // SAFETY: the caller's mechanism, checked inside.
        let m = unsafe { mechanism(mech)? };
        lib.digest_init(session, &m)
    })
}

/// # Safety
/// Buffers as the spec describes, each valid for its length.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_Digest(
    session: CK_SESSION_HANDLE,
    data: *mut CK_BYTE,
    len: CK_ULONG,
    out: *mut CK_BYTE,
    out_len: *mut CK_ULONG,
) -> CK_RV {
    // SAFETY: the caller's buffers, passed on.
    unsafe {
        transform("C_Digest", session, CKF_DIGEST, data, len, out, out_len, |lib, i, o| {
            lib.digest(session, i, o)
        })
    }
}

/// # Safety
/// `data` readable for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_DigestUpdate(
    session: CK_SESSION_HANDLE,
    data: *mut CK_BYTE,
    len: CK_ULONG,
) -> CK_RV {
    // SAFETY: the caller's buffer, passed on.
    unsafe {
        consume("C_DigestUpdate", session, CKF_DIGEST, data, len, |lib, i| lib.digest_update(session, i))
    }
}

#[unsafe(no_mangle)]
pub extern "C" fn C_DigestKey(session: CK_SESSION_HANDLE, key: CK_OBJECT_HANDLE) -> CK_RV {
    with_library("C_DigestKey", |lib| lib.digest_key(session, key))
}

/// # Safety
/// Buffers as the spec describes, each valid for its length.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_DigestFinal(
    session: CK_SESSION_HANDLE,
    out: *mut CK_BYTE,
    out_len: *mut CK_ULONG,
) -> CK_RV {
    // SAFETY: the caller's buffers, passed on.
    unsafe {
        finish("C_DigestFinal", session, CKF_DIGEST, out, out_len, |lib, o| lib.digest_final(session, o))
    }
}
