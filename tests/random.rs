//! Random numbers: `C_GenerateRandom` and `C_SeedRandom`.

mod common;

use cryptoki::session::Session;
use cryptoki_sys::*;
use std::ptr::null_mut;

fn public_session(name: &str) -> Session {
    common::pkcs11().open_ro_session(common::fresh_token(name)).unwrap()
}

/// `C_GenerateRandom` into `buf`, through the raw list.
fn generate(s: &Session, buf: &mut [u8]) -> CK_RV {
    // SAFETY: `buf` is writable for its length.
    unsafe {
        common::raw().C_GenerateRandom.unwrap()(
            common::raw_handle(s),
            buf.as_mut_ptr(),
            buf.len() as CK_ULONG,
        )
    }
}

#[test]
fn zero_bytes_of_random_succeed() {
    let s = public_session("t00");
    let mut empty = [0u8; 0];
    assert_eq!(generate(&s, &mut empty), CKR_OK);
    // With no bytes asked for, no buffer is needed.
    // SAFETY: a null buffer of length zero is never written.
    let rv = unsafe { common::raw().C_GenerateRandom.unwrap()(common::raw_handle(&s), null_mut(), 0) };
    assert_eq!(rv, CKR_OK);
}

#[test]
fn one_byte_of_random_is_written_and_nothing_beyond() {
    let s = public_session("t01");
    // Draw until the one byte changes: a chance of 2^-8 per draw that it stays the same.
    let mut changed = false;
    for _ in 0..64 {
        let mut buf = [0u8, 0xa5, 0xa5];
        assert_eq!(generate(&s, &mut buf[..1]), CKR_OK);
        assert_eq!(buf[1..], [0xa5, 0xa5], "bytes past the requested length were written");
        changed |= buf[0] != 0;
    }
    assert!(changed, "64 one-byte draws were all zero");
}

#[test]
fn four_kilobytes_of_random_fill_the_buffer() {
    let s = public_session("t02");
    let mut buf = vec![0u8; 4096];
    assert_eq!(generate(&s, &mut buf), CKR_OK);
    // Every byte value is expected 16 times; none missing over 4096 bytes has a chance ~2^-22.
    let mut seen = [false; 256];
    for b in &buf {
        seen[*b as usize] = true;
    }
    let missing = seen.iter().filter(|s| !**s).count();
    assert!(missing < 8, "{missing} byte values never appeared in 4096 random bytes");
    // No long run of zeros at the end, as if only a prefix was written.
    assert!(buf[4064..].iter().any(|b| *b != 0), "the last 32 bytes are all zero");
}

#[test]
fn successive_outputs_differ() {
    let s = public_session("t03");
    let (mut a, mut b) = (vec![0u8; 32], vec![0u8; 32]);
    assert_eq!(generate(&s, &mut a), CKR_OK);
    assert_eq!(generate(&s, &mut b), CKR_OK);
    assert_ne!(a, b);
    let other = public_session("t04");
    let mut c = vec![0u8; 32];
    assert_eq!(generate(&other, &mut c), CKR_OK);
    assert_ne!(a, c);
    assert_ne!(b, c);
}

#[test]
fn random_needs_no_login() {
    let s = public_session("t05");
    let bytes = s.generate_random_vec(16).unwrap();
    assert_eq!(bytes.len(), 16);
}

#[test]
fn seed_random_is_random_seed_not_supported() {
    let s = public_session("t06");
    let mut seed = *b"not so random seed";
    // SAFETY: the seed buffer and its length.
    let rv = unsafe {
        common::raw().C_SeedRandom.unwrap()(common::raw_handle(&s), seed.as_mut_ptr(), seed.len() as CK_ULONG)
    };
    assert_eq!(rv, CKR_RANDOM_SEED_NOT_SUPPORTED);
}

#[test]
fn null_buffer_with_a_length_is_arguments_bad() {
    let s = public_session("t07");
    // SAFETY: a null buffer with a length, which the library must refuse.
    let rv = unsafe { common::raw().C_GenerateRandom.unwrap()(common::raw_handle(&s), null_mut(), 16) };
    assert_eq!(rv, CKR_ARGUMENTS_BAD);
}

#[test]
fn invalid_session_is_session_handle_invalid() {
    let s = public_session("t08");
    let h = common::raw_handle(&s);
    s.close().unwrap();
    let mut buf = [0u8; 16];
    // SAFETY: a 16-byte buffer.
    let rv = unsafe { common::raw().C_GenerateRandom.unwrap()(h, buf.as_mut_ptr(), 16) };
    assert_eq!(rv, CKR_SESSION_HANDLE_INVALID);
    // SAFETY: a 16-byte seed.
    let rv = unsafe { common::raw().C_SeedRandom.unwrap()(h, buf.as_mut_ptr(), 16) };
    assert_eq!(rv, CKR_SESSION_HANDLE_INVALID);
}
