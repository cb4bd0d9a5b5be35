//! Dual-function operations: one call feeds two active operations of a session. A length query
//! runs neither, and a short output buffer leaves both where they were.

use super::transform;
use crate::token::Out;
use cryptoki_sys::*;

/// # Safety
/// Buffers as the spec describes, each valid for its length.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_DigestEncryptUpdate(
    session: CK_SESSION_HANDLE,
    part: *mut CK_BYTE,
    len: CK_ULONG,
    out: *mut CK_BYTE,
    out_len: *mut CK_ULONG,
) -> CK_RV {
    // SAFETY: the caller's buffers, passed on.
    unsafe {
        transform(
            "C_DigestEncryptUpdate",
            session,
            CKF_DIGEST | CKF_ENCRYPT,
            part,
            len,
            out,
            out_len,
            |lib, i, o| {
                let query = matches!(o, Out::Query);
                let n = lib.encrypt_update(session, i, o)?;
                if !query {
                    lib.digest_update(session, i)?;
                }
                Ok(n)
            },
        )
    }
}

/// # Safety
/// Buffers as the spec describes, each valid for its length.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_SignEncryptUpdate(
    session: CK_SESSION_HANDLE,
    part: *mut CK_BYTE,
    len: CK_ULONG,
    out: *mut CK_BYTE,
    out_len: *mut CK_ULONG,
) -> CK_RV {
    // SAFETY: the caller's buffers, passed on.
    unsafe {
        transform(
            "C_SignEncryptUpdate",
            session,
            CKF_SIGN | CKF_ENCRYPT,
            part,
            len,
            out,
            out_len,
            |lib, i, o| {
                let query = matches!(o, Out::Query);
                let n = lib.encrypt_update(session, i, o)?;
                if !query {
                    lib.sign_update(session, i)?;
                }
                Ok(n)
            },
        )
    }
}

/// # Safety
/// Buffers as the spec describes, each valid for its length.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_DecryptDigestUpdate(
    session: CK_SESSION_HANDLE,
    part: *mut CK_BYTE,
    len: CK_ULONG,
    out: *mut CK_BYTE,
    out_len: *mut CK_ULONG,
) -> CK_RV {
    // SAFETY: the caller's buffers, passed on.
    unsafe {
        transform(
            "C_DecryptDigestUpdate",
            session,
            CKF_DECRYPT | CKF_DIGEST,
            part,
            len,
            out,
            out_len,
            |lib, i, o| match o {
                Out::Query => lib.decrypt_update(session, i, Out::Query),
                Out::Buf(buf) => {
                    let n = lib.decrypt_update(session, i, Out::Buf(&mut *buf))?;
                    lib.digest_update(session, &buf[..n])?;
                    Ok(n)
                }
            },
        )
    }
}

/// # Safety
/// Buffers as the spec describes, each valid for its length.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_DecryptVerifyUpdate(
    session: CK_SESSION_HANDLE,
    part: *mut CK_BYTE,
    len: CK_ULONG,
    out: *mut CK_BYTE,
    out_len: *mut CK_ULONG,
) -> CK_RV {
    // SAFETY: the caller's buffers, passed on.
    unsafe {
        transform(
            "C_DecryptVerifyUpdate",
            session,
            CKF_DECRYPT | CKF_VERIFY,
            part,
            len,
            out,
            out_len,
            |lib, i, o| match o {
                Out::Query => lib.decrypt_update(session, i, Out::Query),
                Out::Buf(buf) => {
                    let n = lib.decrypt_update(session, i, Out::Buf(&mut *buf))?;
                    lib.verify_update(session, &buf[..n])?;
                    Ok(n)
                }
            },
        )
    }
}
