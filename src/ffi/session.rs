//! Session management: open and close, session info, login and logout, cancel.

use super::util::{input, write};
use super::with_library;
use crate::error::Error;
use cryptoki_sys::*;

/// # Safety
/// `session` is null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_OpenSession(
    slot: CK_SLOT_ID,
    flags: CK_FLAGS,
    _application: *mut std::ffi::c_void,
    _notify: CK_NOTIFY,
    session: *mut CK_SESSION_HANDLE,
) -> CK_RV {
    with_library("C_OpenSession", |lib| {
        if session.is_null() {
            return Err(Error::ArgumentsBad);
        }
        let h = lib.open_session(slot, flags)?;
        // SAFETY: checked for null above.
        unsafe { write(session, h) }
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn C_CloseSession(session: CK_SESSION_HANDLE) -> CK_RV {
    with_library("C_CloseSession", |lib| lib.close_session(session))
}

#[unsafe(no_mangle)]
pub extern "C" fn C_CloseAllSessions(slot: CK_SLOT_ID) -> CK_RV {
    with_library("C_CloseAllSessions", |lib| lib.close_all_sessions(slot))
}

/// # Safety
/// `info` is null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GetSessionInfo(session: CK_SESSION_HANDLE, info: *mut CK_SESSION_INFO) -> CK_RV {
    with_library("C_GetSessionInfo", |lib| {
        let i = lib.session_info(session)?;
        let out = CK_SESSION_INFO { slotID: i.slot_id, state: i.state, flags: i.flags, ulDeviceError: 0 };
        // SAFETY: checked for null inside.
        unsafe { write(info, out) }
    })
}

/// Saving operation state would put key schedules in the caller's hands: not offered.
#[unsafe(no_mangle)]
pub extern "C" fn C_GetOperationState(
    session: CK_SESSION_HANDLE,
    _state: *mut CK_BYTE,
    _len: *mut CK_ULONG,
) -> CK_RV {
    with_library("C_GetOperationState", |lib| {
        lib.session(session)?;
        Err(Error::FunctionNotSupported)
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn C_SetOperationState(
    session: CK_SESSION_HANDLE,
    _state: *mut CK_BYTE,
    _len: CK_ULONG,
    _enc_key: CK_OBJECT_HANDLE,
    _auth_key: CK_OBJECT_HANDLE,
) -> CK_RV {
    with_library("C_SetOperationState", |lib| {
        lib.session(session)?;
        Err(Error::FunctionNotSupported)
    })
}

/// # Safety
/// `pin` readable for `pin_len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_Login(
    session: CK_SESSION_HANDLE,
    user: CK_USER_TYPE,
    pin: *mut CK_UTF8CHAR,
    pin_len: CK_ULONG,
) -> CK_RV {
    with_library("C_Login", |lib| {
        // No protected authentication path: a PIN must be given.
        if pin.is_null() {
            return Err(Error::ArgumentsBad);
        }
        // SAFETY: non-null; the caller passes `pin_len` bytes.
        let pin = unsafe { input(pin, pin_len)? };
        lib.login(session, user, pin)
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn C_Logout(session: CK_SESSION_HANDLE) -> CK_RV {
    with_library("C_Logout", |lib| lib.logout(session))
}

/// Named users are not yet served: only the spec's SO and user exist.
#[unsafe(no_mangle)]
pub extern "C" fn C_LoginUser(
    session: CK_SESSION_HANDLE,
    _user: CK_USER_TYPE,
    _pin: *mut CK_UTF8CHAR,
    _pin_len: CK_ULONG,
    _name: *mut CK_UTF8CHAR,
    _name_len: CK_ULONG,
) -> CK_RV {
    with_library("C_LoginUser", |lib| {
        lib.session(session)?;
        Err(Error::FunctionNotSupported)
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn C_SessionCancel(session: CK_SESSION_HANDLE, flags: CK_FLAGS) -> CK_RV {
    with_library("C_SessionCancel", |lib| lib.cancel(session, flags))
}

#[unsafe(no_mangle)]
pub extern "C" fn C_GetSessionValidationFlags(
    session: CK_SESSION_HANDLE,
    _ty: CK_SESSION_VALIDATION_FLAGS_TYPE,
    _flags: *mut CK_FLAGS,
) -> CK_RV {
    with_library("C_GetSessionValidationFlags", |lib| {
        lib.session(session)?;
        Err(Error::FunctionNotSupported)
    })
}

/// Legacy parallel-function management (PKCS#11 1.x): never parallel.
#[unsafe(no_mangle)]
pub extern "C" fn C_GetFunctionStatus(session: CK_SESSION_HANDLE) -> CK_RV {
    with_library("C_GetFunctionStatus", |lib| {
        lib.session(session)?;
        Err(Error::FunctionNotParallel)
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn C_CancelFunction(session: CK_SESSION_HANDLE) -> CK_RV {
    with_library("C_CancelFunction", |lib| {
        lib.session(session)?;
        Err(Error::FunctionNotParallel)
    })
}
