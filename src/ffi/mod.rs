//! The exported C ABI, grouped by the spec's chapters. This layer only converts: it checks
//! pointers and lengths, copies C memory in and out, applies the size-query convention, catches
//! panics, and maps the engine's [`Error`](crate::error::Error) to `CK_RV`. Every rule lives in
//! [`token`](crate::token) and below.

mod before_3_2;
mod digest;
mod dual;
mod encrypt;
mod general;
mod interface;
mod keys;
mod mechanism;
mod message;
mod object;
mod random;
mod session;
mod sign;
mod slot_token;
mod util;

use crate::error::{Error, Result};
use crate::token::Library;
use cryptoki_sys::*;
use parking_lot::RwLock;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use interface::{C_GetFunctionList, C_GetInterface, C_GetInterfaceList};

/// The initialized library and the fork generation it was made in.
struct State {
    library: Arc<Library>,
    forks: u64,
}

static STATE: RwLock<Option<State>> = RwLock::new(None);

/// Incremented in the child after every `fork`: a library made before the fork is not used by
/// the child, which must call `C_Initialize` again.
static FORKS: AtomicU64 = AtomicU64::new(0);

extern "C" fn after_fork_in_child() {
    FORKS.fetch_add(1, Ordering::SeqCst);
}

/// The library, if initialized in this process.
fn library() -> Result<Arc<Library>> {
    match &*STATE.read() {
        Some(s) if s.forks == FORKS.load(Ordering::SeqCst) => Ok(s.library.clone()),
        _ => Err(Error::CryptokiNotInitialized),
    }
}

/// Runs an entry point: errors become their `CKR_*`, and a panic becomes
/// `CKR_GENERAL_ERROR` instead of unwinding into the caller.
fn guard(name: &'static str, f: impl FnOnce() -> Result<()>) -> CK_RV {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => CKR_OK,
        Ok(Err(e)) => {
            match e {
                Error::BufferTooSmall(_) => {}
                Error::GeneralError | Error::DeviceError | Error::FunctionFailed => {
                    log::warn!("{name}: {}", e.name())
                }
                _ => log::debug!("{name}: {}", e.name()),
            }
            e.rv()
        }
        Err(_) => {
            log::error!("{name}: internal error; the call failed and the library goes on");
            CKR_GENERAL_ERROR
        }
    }
}

/// Runs an entry point that needs the initialized library.
fn with_library(name: &'static str, f: impl FnOnce(&Library) -> Result<()>) -> CK_RV {
    guard(name, || f(&*library()?))
}

/// Ends the session's operations named by `ops` after a caller error the token layer never
/// saw (a null pointer, say): every failure but a short buffer ends the operation.
fn abort(lib: &Library, session: CK_SESSION_HANDLE, ops: CK_FLAGS, e: Error) -> Error {
    let _ = lib.cancel(session, ops);
    e
}

/// An entry point of the shape (session, input, output, output length): encrypt, decrypt,
/// digest, sign and their update steps. `ops` names the operations a bad argument ends.
///
/// # Safety
/// `data` readable for `len` bytes; `out_len` readable and writable; `out` null or writable
/// for `*out_len` bytes.
#[allow(clippy::too_many_arguments)]
unsafe fn transform(
    name: &'static str,
    session: CK_SESSION_HANDLE,
    ops: CK_FLAGS,
    data: *const CK_BYTE,
    len: CK_ULONG,
    out: *mut CK_BYTE,
    out_len: *mut CK_ULONG,
    f: impl FnOnce(&Library, &[u8], crate::token::Out<'_>) -> Result<usize>,
) -> CK_RV {
    with_library(name, |lib| {
        // SAFETY: the caller's buffers, checked inside.
        let (input, output) = unsafe { util::input_output(data, len, out, out_len) }
            .map_err(|e| abort(lib, session, ops, e))?;
        let r = f(lib, &input, output);
        // SAFETY: `out_len` was checked non-null by `input_output`.
        unsafe { util::deliver(out_len, r) }
    })
}

/// An entry point of the shape (session, output, output length): the final steps.
///
/// # Safety
/// `out_len` readable and writable; `out` null or writable for `*out_len` bytes.
unsafe fn finish(
    name: &'static str,
    session: CK_SESSION_HANDLE,
    ops: CK_FLAGS,
    out: *mut CK_BYTE,
    out_len: *mut CK_ULONG,
    f: impl FnOnce(&Library, crate::token::Out<'_>) -> Result<usize>,
) -> CK_RV {
    with_library(name, |lib| {
        // SAFETY: the caller's buffer, checked inside.
        let output = unsafe { util::output(out, out_len) }.map_err(|e| abort(lib, session, ops, e))?;
        let r = f(lib, output);
        // SAFETY: checked non-null by `output`.
        unsafe { util::deliver(out_len, r) }
    })
}

/// An entry point of the shape (session, input): update steps without output.
///
/// # Safety
/// `data` readable for `len` bytes.
unsafe fn consume(
    name: &'static str,
    session: CK_SESSION_HANDLE,
    ops: CK_FLAGS,
    data: *const CK_BYTE,
    len: CK_ULONG,
    f: impl FnOnce(&Library, &[u8]) -> Result<()>,
) -> CK_RV {
    with_library(name, |lib| {
        // SAFETY: the caller's buffer, checked inside.
        let input = unsafe { util::input(data, len) }.map_err(|e| abort(lib, session, ops, e))?;
        f(lib, input)
    })
}
