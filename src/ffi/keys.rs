//! Key management: generate, wrap, unwrap, derive. The 3.2 encapsulation and authenticated
//! wrapping functions are not offered.

use super::mechanism::mechanism;
use super::util::{deliver, input, output, template, write};
use super::with_library;
use crate::error::Error;
use cryptoki_sys::*;

/// # Safety
/// `mech` points to a readable `CK_MECHANISM`; `tpl` to `count` readable attributes; `key`
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GenerateKey(
    session: CK_SESSION_HANDLE,
    mech: *mut CK_MECHANISM,
    tpl: *mut CK_ATTRIBUTE,
    count: CK_ULONG,
    key: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    with_library("C_GenerateKey", |lib| {
        if key.is_null() {
            return Err(Error::ArgumentsBad);
        }
        // SAFETY: the caller's mechanism and template, checked inside.
        let (m, t) = unsafe { (mechanism(mech)?, template(tpl, count)?) };
        let h = lib.generate_key(session, &m, &t)?;
        // SAFETY: checked for null above.
        unsafe { write(key, h) }
    })
}

/// # Safety
/// `mech` points to a readable `CK_MECHANISM`; the templates to their counts of readable
/// attributes; `public` and `private` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GenerateKeyPair(
    session: CK_SESSION_HANDLE,
    mech: *mut CK_MECHANISM,
    pub_tpl: *mut CK_ATTRIBUTE,
    pub_count: CK_ULONG,
    priv_tpl: *mut CK_ATTRIBUTE,
    priv_count: CK_ULONG,
    public: *mut CK_OBJECT_HANDLE,
    private: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    with_library("C_GenerateKeyPair", |lib| {
        if public.is_null() || private.is_null() {
            return Err(Error::ArgumentsBad);
        }
        // SAFETY: the caller's mechanism and templates, checked inside.
        let (m, pt, st) =
            unsafe { (mechanism(mech)?, template(pub_tpl, pub_count)?, template(priv_tpl, priv_count)?) };
        let (hp, hs) = lib.generate_key_pair(session, &m, &pt, &st)?;
        // SAFETY: checked for null above.
        unsafe {
            write(public, hp)?;
            write(private, hs)
        }
    })
}

/// # Safety
/// `mech` points to a readable `CK_MECHANISM`; `out_len` readable and writable; `out` null or
/// writable for `*out_len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_WrapKey(
    session: CK_SESSION_HANDLE,
    mech: *mut CK_MECHANISM,
    wrapping: CK_OBJECT_HANDLE,
    key: CK_OBJECT_HANDLE,
    out: *mut CK_BYTE,
    out_len: *mut CK_ULONG,
) -> CK_RV {
    with_library("C_WrapKey", |lib| {
        // SAFETY: the caller's mechanism and buffer, checked inside.
        let (m, o) = unsafe { (mechanism(mech)?, output(out, out_len)?) };
        let r = lib.wrap_key(session, &m, wrapping, key, o);
        // SAFETY: checked non-null by `output`.
        unsafe { deliver(out_len, r) }
    })
}

/// # Safety
/// `mech` points to a readable `CK_MECHANISM`; `wrapped` readable for `len` bytes; `tpl` to
/// `count` readable attributes; `key` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_UnwrapKey(
    session: CK_SESSION_HANDLE,
    mech: *mut CK_MECHANISM,
    unwrapping: CK_OBJECT_HANDLE,
    wrapped: *mut CK_BYTE,
    len: CK_ULONG,
    tpl: *mut CK_ATTRIBUTE,
    count: CK_ULONG,
    key: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    with_library("C_UnwrapKey", |lib| {
        if key.is_null() || wrapped.is_null() {
            return Err(Error::ArgumentsBad);
        }
        // SAFETY: the caller's mechanism, data and template, checked inside.
        let (m, w, t) = unsafe { (mechanism(mech)?, input(wrapped, len)?, template(tpl, count)?) };
        let h = lib.unwrap_key(session, &m, unwrapping, w, &t)?;
        // SAFETY: checked for null above.
        unsafe { write(key, h) }
    })
}

/// # Safety
/// `mech` points to a readable `CK_MECHANISM`; `tpl` to `count` readable attributes; `key`
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_DeriveKey(
    session: CK_SESSION_HANDLE,
    mech: *mut CK_MECHANISM,
    base: CK_OBJECT_HANDLE,
    tpl: *mut CK_ATTRIBUTE,
    count: CK_ULONG,
    key: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    with_library("C_DeriveKey", |lib| {
        if key.is_null() {
            return Err(Error::ArgumentsBad);
        }
        // SAFETY: the caller's mechanism and template, checked inside.
        let (m, t) = unsafe { (mechanism(mech)?, template(tpl, count)?) };
        let h = lib.derive_key(session, &m, base, &t)?;
        // SAFETY: checked for null above.
        unsafe { write(key, h) }
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn C_EncapsulateKey(
    session: CK_SESSION_HANDLE,
    _mech: *mut CK_MECHANISM,
    _public: CK_OBJECT_HANDLE,
    _tpl: *mut CK_ATTRIBUTE,
    _count: CK_ULONG,
    _ct: *mut CK_BYTE,
    _ct_len: *mut CK_ULONG,
    _key: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    with_library("C_EncapsulateKey", |lib| {
        lib.session(session)?;
        Err(Error::FunctionNotSupported)
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn C_DecapsulateKey(
    session: CK_SESSION_HANDLE,
    _mech: *mut CK_MECHANISM,
    _private: CK_OBJECT_HANDLE,
    _tpl: *mut CK_ATTRIBUTE,
    _count: CK_ULONG,
    _ct: *mut CK_BYTE,
    _ct_len: CK_ULONG,
    _key: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    with_library("C_DecapsulateKey", |lib| {
        lib.session(session)?;
        Err(Error::FunctionNotSupported)
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn C_WrapKeyAuthenticated(
    session: CK_SESSION_HANDLE,
    _mech: *mut CK_MECHANISM,
    _wrapping: CK_OBJECT_HANDLE,
    _key: CK_OBJECT_HANDLE,
    _aad: *mut CK_BYTE,
    _aad_len: CK_ULONG,
    _out: *mut CK_BYTE,
    _out_len: *mut CK_ULONG,
) -> CK_RV {
    with_library("C_WrapKeyAuthenticated", |lib| {
        lib.session(session)?;
        Err(Error::FunctionNotSupported)
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn C_UnwrapKeyAuthenticated(
    session: CK_SESSION_HANDLE,
    _mech: *mut CK_MECHANISM,
    _unwrapping: CK_OBJECT_HANDLE,
    _wrapped: *mut CK_BYTE,
    _len: CK_ULONG,
    _tpl: *mut CK_ATTRIBUTE,
    _count: CK_ULONG,
    _aad: *mut CK_BYTE,
    _aad_len: CK_ULONG,
    _key: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    with_library("C_UnwrapKeyAuthenticated", |lib| {
        lib.session(session)?;
        Err(Error::FunctionNotSupported)
    })
}
