//! Encryption and decryption.

use super::mechanism::mechanism;
use super::{finish, transform, with_library};
use cryptoki_sys::*;

/// # Safety
/// `mech` points to a readable `CK_MECHANISM` with a readable parameter.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_EncryptInit(
    session: CK_SESSION_HANDLE,
    mech: *mut CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
) -> CK_RV {
    with_library("C_EncryptInit", |lib| {
        // SAFETY: the caller's mechanism, checked inside.
        let m = unsafe { mechanism(mech)? };
        lib.encrypt_init(session, &m, key)
    })
}

/// # Safety
/// Buffers as the spec describes, each valid for its length.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_Encrypt(
    session: CK_SESSION_HANDLE,
    data: *mut CK_BYTE,
    len: CK_ULONG,
    out: *mut CK_BYTE,
    out_len: *mut CK_ULONG,
) -> CK_RV {
    // SAFETY: the caller's buffers, passed on.
    unsafe {
        transform("C_Encrypt", session, CKF_ENCRYPT, data, len, out, out_len, |lib, i, o| {
            lib.encrypt(session, i, o)
        })
    }
}

/// # Safety
/// Buffers as the spec describes, each valid for its length.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_EncryptUpdate(
    session: CK_SESSION_HANDLE,
    data: *mut CK_BYTE,
    len: CK_ULONG,
    out: *mut CK_BYTE,
    out_len: *mut CK_ULONG,
) -> CK_RV {
    // SAFETY: the caller's buffers, passed on.
    unsafe {
        transform("C_EncryptUpdate", session, CKF_ENCRYPT, data, len, out, out_len, |lib, i, o| {
            lib.encrypt_update(session, i, o)
        })
    }
}

/// # Safety
/// Buffers as the spec describes, each valid for its length.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_EncryptFinal(
    session: CK_SESSION_HANDLE,
    out: *mut CK_BYTE,
    out_len: *mut CK_ULONG,
) -> CK_RV {
    // SAFETY: the caller's buffers, passed on.
    unsafe {
        finish("C_EncryptFinal", session, CKF_ENCRYPT, out, out_len, |lib, o| lib.encrypt_final(session, o))
    }
}

/// # Safety
/// `mech` points to a readable `CK_MECHANISM` with a readable parameter.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_DecryptInit(
    session: CK_SESSION_HANDLE,
    mech: *mut CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
) -> CK_RV {
    with_library("C_DecryptInit", |lib| {
        // SAFETY: the caller's mechanism, checked inside.
        let m = unsafe { mechanism(mech)? };
        lib.decrypt_init(session, &m, key)
    })
}

/// # Safety
/// Buffers as the spec describes, each valid for its length.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_Decrypt(
    session: CK_SESSION_HANDLE,
    data: *mut CK_BYTE,
    len: CK_ULONG,
    out: *mut CK_BYTE,
    out_len: *mut CK_ULONG,
) -> CK_RV {
    // SAFETY: the caller's buffers, passed on.
    unsafe {
        transform("C_Decrypt", session, CKF_DECRYPT, data, len, out, out_len, |lib, i, o| {
            lib.decrypt(session, i, o)
        })
    }
}

/// # Safety
/// Buffers as the spec describes, each valid for its length.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_DecryptUpdate(
    session: CK_SESSION_HANDLE,
    data: *mut CK_BYTE,
    len: CK_ULONG,
    out: *mut CK_BYTE,
    out_len: *mut CK_ULONG,
) -> CK_RV {
    // SAFETY: the caller's buffers, passed on.
    unsafe {
        transform("C_DecryptUpdate", session, CKF_DECRYPT, data, len, out, out_len, |lib, i, o| {
            lib.decrypt_update(session, i, o)
        })
    }
}

/// # Safety
/// Buffers as the spec describes, each valid for its length.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_DecryptFinal(
    session: CK_SESSION_HANDLE,
    out: *mut CK_BYTE,
    out_len: *mut CK_ULONG,
) -> CK_RV {
    // SAFETY: the caller's buffers, passed on.
    unsafe {
        finish("C_DecryptFinal", session, CKF_DECRYPT, out, out_len, |lib, o| lib.decrypt_final(session, o))
    }
}
