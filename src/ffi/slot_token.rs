//! Slot and token management: slots, tokens, mechanisms, `C_InitToken`, `C_InitPIN`,
//! `C_SetPIN`, `C_WaitForSlotEvent`.

use super::util::{fill_list, input, pad, unpad, write};
use super::with_library;
use crate::error::Error;
use cryptoki_sys::*;

fn version() -> CK_VERSION {
    let mut parts = env!("CARGO_PKG_VERSION").split('.').map(|p| p.parse::<u8>().unwrap_or(0));
    CK_VERSION { major: parts.next().unwrap_or(0), minor: parts.next().unwrap_or(0) }
}

/// # Safety
/// `list` is null or writable for `*count` slot ids; `count` is readable and writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GetSlotList(
    token_present: CK_BBOOL,
    list: *mut CK_SLOT_ID,
    count: *mut CK_ULONG,
) -> CK_RV {
    with_library("C_GetSlotList", |lib| {
        let slots: Vec<CK_SLOT_ID> = lib
            .slots()
            .iter()
            .filter(|t| token_present == CK_FALSE || t.is_present())
            .map(|t| t.slot_id)
            .collect();
        // SAFETY: the caller's list and count, checked inside.
        unsafe { fill_list(&slots, list, count) }
    })
}

/// # Safety
/// `info` is null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GetSlotInfo(slot: CK_SLOT_ID, info: *mut CK_SLOT_INFO) -> CK_RV {
    with_library("C_GetSlotInfo", |lib| {
        let token = lib.token(slot)?;
        let out = CK_SLOT_INFO {
            slotDescription: pad(&format!("kms-pkcs11 slot {} ({})", slot, token.config.label)),
            manufacturerID: pad("kms-pkcs11"),
            flags: if token.is_present() { CKF_TOKEN_PRESENT } else { 0 },
            hardwareVersion: version(),
            firmwareVersion: version(),
        };
        // SAFETY: checked for null inside.
        unsafe { write(info, out) }
    })
}

/// # Safety
/// `info` is null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GetTokenInfo(slot: CK_SLOT_ID, info: *mut CK_TOKEN_INFO) -> CK_RV {
    with_library("C_GetTokenInfo", |lib| {
        let token = lib.token(slot)?;
        if !token.is_present() {
            return Err(token.store().err().unwrap_or(Error::TokenNotPresent));
        }
        let (ti, sessions, rw) = lib.token_info(slot)?;
        let model = match token.config.backend {
            crate::config::BackendKind::Local => "local",
        };
        let out = CK_TOKEN_INFO {
            label: pad(&ti.label),
            manufacturerID: pad("kms-pkcs11"),
            model: pad(model),
            serialNumber: pad(&ti.serial),
            flags: ti.flags,
            ulMaxSessionCount: CK_EFFECTIVELY_INFINITE,
            ulSessionCount: sessions as CK_ULONG,
            ulMaxRwSessionCount: CK_EFFECTIVELY_INFINITE,
            ulRwSessionCount: rw as CK_ULONG,
            ulMaxPinLen: ti.max_pin as CK_ULONG,
            ulMinPinLen: ti.min_pin as CK_ULONG,
            ulTotalPublicMemory: CK_UNAVAILABLE_INFORMATION,
            ulFreePublicMemory: CK_UNAVAILABLE_INFORMATION,
            ulTotalPrivateMemory: CK_UNAVAILABLE_INFORMATION,
            ulFreePrivateMemory: CK_UNAVAILABLE_INFORMATION,
            hardwareVersion: version(),
            firmwareVersion: version(),
            utcTime: [b' '; 16],
        };
        // SAFETY: checked for null inside.
        unsafe { write(info, out) }
    })
}

/// # Safety
/// Pointers as the spec describes; `slot` and `reserved` may be anything when not used.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_WaitForSlotEvent(
    flags: CK_FLAGS,
    slot: *mut CK_SLOT_ID,
    reserved: *mut std::ffi::c_void,
) -> CK_RV {
    with_library("C_WaitForSlotEvent", |_| {
        if !reserved.is_null() {
            return Err(Error::ArgumentsBad);
        }
        let _ = slot;
        // Tokens never come or go while the library runs: there is never an event.
        if flags & CKF_DONT_BLOCK != 0 { Err(Error::NoEvent) } else { Err(Error::FunctionNotSupported) }
    })
}

/// # Safety
/// `list` is null or writable for `*count` entries; `count` is readable and writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GetMechanismList(
    slot: CK_SLOT_ID,
    list: *mut CK_MECHANISM_TYPE,
    count: *mut CK_ULONG,
) -> CK_RV {
    with_library("C_GetMechanismList", |lib| {
        let mechs = lib.mechanisms(slot)?;
        // SAFETY: checked inside.
        unsafe { fill_list(&mechs, list, count) }
    })
}

/// # Safety
/// `info` is null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GetMechanismInfo(
    slot: CK_SLOT_ID,
    ty: CK_MECHANISM_TYPE,
    info: *mut CK_MECHANISM_INFO,
) -> CK_RV {
    with_library("C_GetMechanismInfo", |lib| {
        let i = lib.mechanism_info(slot, ty)?;
        let out = CK_MECHANISM_INFO {
            ulMinKeySize: i.min_key as CK_ULONG,
            ulMaxKeySize: i.max_key as CK_ULONG,
            flags: i.flags,
        };
        // SAFETY: checked for null inside.
        unsafe { write(info, out) }
    })
}

/// # Safety
/// `pin` readable for `pin_len` bytes; `label` readable for 32 bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_InitToken(
    slot: CK_SLOT_ID,
    pin: *mut CK_UTF8CHAR,
    pin_len: CK_ULONG,
    label: *mut CK_UTF8CHAR,
) -> CK_RV {
    with_library("C_InitToken", |lib| {
        if pin.is_null() || label.is_null() {
            return Err(Error::ArgumentsBad);
        }
        // SAFETY: non-null; the caller passes `pin_len` bytes.
        let pin = unsafe { input(pin, pin_len)? };
        // SAFETY: non-null; the spec fixes the label at 32 bytes.
        let label = unpad(unsafe { input(label, 32)? });
        lib.init_token(slot, pin, &label)
    })
}

/// # Safety
/// `pin` readable for `pin_len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_InitPIN(
    session: CK_SESSION_HANDLE,
    pin: *mut CK_UTF8CHAR,
    pin_len: CK_ULONG,
) -> CK_RV {
    with_library("C_InitPIN", |lib| {
        if pin.is_null() {
            return Err(Error::ArgumentsBad);
        }
        // SAFETY: non-null; the caller passes `pin_len` bytes.
        let pin = unsafe { input(pin, pin_len)? };
        lib.init_pin(session, pin)
    })
}

/// # Safety
/// `old` and `new` readable for their lengths.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_SetPIN(
    session: CK_SESSION_HANDLE,
    old: *mut CK_UTF8CHAR,
    old_len: CK_ULONG,
    new: *mut CK_UTF8CHAR,
    new_len: CK_ULONG,
) -> CK_RV {
    with_library("C_SetPIN", |lib| {
        if old.is_null() || new.is_null() {
            return Err(Error::ArgumentsBad);
        }
        // SAFETY: non-null; the caller passes the lengths.
        let (old, new) = unsafe { (input(old, old_len)?, input(new, new_len)?) };
        lib.set_pin(session, old, new)
    })
}
