//! General-purpose functions: `C_Initialize`, `C_Finalize`, `C_GetInfo`.

use super::util::{pad, write};
use super::{FORKS, STATE, State, after_fork_in_child, guard, library};
use crate::config::Config;
use crate::error::Error;
use crate::token::Library;
use cryptoki_sys::*;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Once};

static AT_FORK: Once = Once::new();
static AT_EXIT: Once = Once::new();

/// A process that exits without `C_Finalize` still gets its queued audit records written.
extern "C" fn flush_audit_at_exit() {
    let Some(state) = STATE.try_read() else { return };
    if let Some(s) = &*state
        && s.forks == FORKS.load(Ordering::SeqCst)
    {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s.library.flush_audit()));
    }
}
static PANIC_HOOK: Once = Once::new();

/// Panics are caught at the boundary; the message goes to our log rather than the host's
/// standard error.
fn install_panic_hook() {
    PANIC_HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            log::error!("internal error: {info}");
        }));
    });
}

/// # Safety
/// `init_args` is null or points to a `CK_C_INITIALIZE_ARGS`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_Initialize(init_args: *mut std::ffi::c_void) -> CK_RV {
    guard("C_Initialize", || {
        if !init_args.is_null() {
            // SAFETY: non-null, and the caller passes a CK_C_INITIALIZE_ARGS.
            let args = unsafe { (init_args as *const CK_C_INITIALIZE_ARGS).read_unaligned() };
            if !args.pReserved.is_null() {
                return Err(Error::ArgumentsBad);
            }
            let fns = [
                args.CreateMutex.is_some(),
                args.DestroyMutex.is_some(),
                args.LockMutex.is_some(),
                args.UnlockMutex.is_some(),
            ];
            let given = fns.iter().filter(|f| **f).count();
            if given != 0 && given != 4 {
                return Err(Error::ArgumentsBad);
            }
            // We lock with the OS's primitives; callers that only offer their own cannot be served.
            if given == 4 && args.flags & CKF_OS_LOCKING_OK == 0 {
                return Err(Error::CantLock);
            }
        }
        let mut state = STATE.write();
        let forks = FORKS.load(Ordering::SeqCst);
        if let Some(old) = state.take() {
            if old.forks == forks {
                *state = Some(old);
                return Err(Error::CryptokiAlreadyInitialized);
            }
            // Inherited from the parent: its store connections and locks belong to the parent
            // and must not be touched, not even to close them.
            std::mem::forget(old);
        }
        install_panic_hook();
        let config = match Config::load() {
            Ok(c) => c,
            Err(e) => {
                crate::logging::configure_default();
                log::error!("configuration: {e}");
                return Err(Error::GeneralError);
            }
        };
        crate::logging::configure(&config);
        AT_FORK.call_once(|| {
            // SAFETY: registers a handler that only increments an atomic.
            let rc = unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
            if rc != 0 {
                log::warn!("pthread_atfork failed ({rc}): a forked child may reuse the parent's state");
            }
        });
        AT_EXIT.call_once(|| {
            // SAFETY: registers a handler that takes no arguments and catches its own panics.
            if unsafe { libc::atexit(flush_audit_at_exit) } != 0 {
                log::warn!("atexit failed: audit records queued at exit without C_Finalize may be lost");
            }
        });
        // C_Initialize may report only the codes of PKCS#11 §5.4; anything the tokens met
        // has been logged with its cause.
        let library = Library::new(config).map_err(|e| match e {
            Error::HostMemory | Error::GeneralError | Error::FunctionFailed => e,
            _ => Error::GeneralError,
        })?;
        *state = Some(State { library: Arc::new(library), forks });
        log::info!("initialized");
        Ok(())
    })
}

/// # Safety
/// `reserved` must be null.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_Finalize(reserved: *mut std::ffi::c_void) -> CK_RV {
    guard("C_Finalize", || {
        if !reserved.is_null() {
            return Err(Error::ArgumentsBad);
        }
        library()?;
        let state = STATE.write().take();
        if let Some(s) = state {
            s.library.shutdown();
        }
        log::logger().flush();
        Ok(())
    })
}

fn info(version: CK_VERSION, info: *mut CK_INFO) -> CK_RV {
    guard("C_GetInfo", || {
        library()?;
        let v =
            env!("CARGO_PKG_VERSION").split('.').map(|p| p.parse::<u8>().unwrap_or(0)).collect::<Vec<_>>();
        let out = CK_INFO {
            cryptokiVersion: version,
            manufacturerID: pad("kms-pkcs11"),
            flags: 0,
            libraryDescription: pad("KMS through PKCS#11"),
            libraryVersion: CK_VERSION { major: v[0], minor: v.get(1).copied().unwrap_or(0) },
        };
        // SAFETY: `info` is checked for null and written once.
        unsafe { write(info, out) }
    })
}

/// # Safety
/// `info` is null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GetInfo(p: *mut CK_INFO) -> CK_RV {
    info(CK_VERSION { major: 2, minor: 40 }, p)
}

/// `C_GetInfo` of the 3.0 interface.
pub(super) unsafe extern "C" fn get_info_3_0(p: *mut CK_INFO) -> CK_RV {
    info(CK_VERSION { major: 3, minor: 0 }, p)
}

/// `C_GetInfo` of the 3.2 interface.
pub(super) unsafe extern "C" fn get_info_3_2(p: *mut CK_INFO) -> CK_RV {
    info(CK_VERSION { major: 3, minor: 2 }, p)
}
