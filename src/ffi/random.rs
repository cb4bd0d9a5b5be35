//! Random numbers.

use super::util::input;
use super::with_library;
use crate::error::Error;
use cryptoki_sys::*;

/// The generator is AWS-LC's DRBG, seeded from the OS; caller seed material is not mixed in.
#[unsafe(no_mangle)]
pub extern "C" fn C_SeedRandom(session: CK_SESSION_HANDLE, _seed: *mut CK_BYTE, _len: CK_ULONG) -> CK_RV {
    with_library("C_SeedRandom", |lib| {
        lib.session(session)?;
        Err(Error::RandomSeedNotSupported)
    })
}

/// # Safety
/// `out` writable for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn C_GenerateRandom(
    session: CK_SESSION_HANDLE,
    out: *mut CK_BYTE,
    len: CK_ULONG,
) -> CK_RV {
    with_library("C_GenerateRandom", |lib| {
        // SAFETY: checked through `input` (null and length), then viewed mutably: the caller
        // passes `len` writable bytes.
        let buf = unsafe {
            input(out, len)?;
            if len == 0 { &mut [][..] } else { std::slice::from_raw_parts_mut(out, len as usize) }
        };
        lib.generate_random(session, buf)
    })
}
