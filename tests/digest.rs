//! C_DigestInit, C_Digest, C_DigestUpdate, C_DigestKey and C_DigestFinal: SHA-1 and SHA-2
//! known answers (FIPS 180-4 examples), single- and multi-part, digesting key values, and the
//! spec's return codes for misuse.
//!
//! Spec references are to the PKCS #11 Base Specification 3.0 (§5.2 output convention, §5.10
//! message digesting).

mod common;
mod support;

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType};
use support::*;

// --- Known-answer data -----------------------------------------------------------------------

const MSG_448: &str = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
const MSG_896: &str = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";

/// (message, [SHA-1, SHA-224, SHA-256, SHA-384, SHA-512]) from the FIPS 180 examples.
const KATS: [(&str, [&str; 5]); 4] = [
    (
        "",
        [
            "da39a3ee5e6b4b0d3255bfef95601890afd80709",
            "d14a028c2a3a2bc9476102bb288234c415a2b01f828ea62ac5b3e42f",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b",
            "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce\
             47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
        ],
    ),
    (
        "abc",
        [
            "a9993e364706816aba3e25717850c26c9cd0d89d",
            "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
             2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        ],
    ),
    (
        MSG_448,
        [
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1",
            "75388b16512776cc5dba5da1fd890150b0c6455cb4f58b1952522525",
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
            "3391fdddfc8dc7393707a65b1b4709397cf8b1d162af05abfe8f450de5f36bc6b0455a8520bc4e6f5fe95b1fe3c8452b",
            "204a8fc6dda82f0a0ced7beb8e08a41657c16ef468b228a8279be331a703c335\
             96fd15c13b1b07f9aa1d3bea57789ca031ad85c7a71dd70354ec631238ca3445",
        ],
    ),
    (
        MSG_896,
        [
            "a49b2446a02c645bf419f995b67091253a04a259",
            "c97ca9a559850ce97a04a96def6d99a9e0e0e2ab14e6b8df265fc0b3",
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
            "09330c33f71147e83d192fc782cd1b4753111b173b3b05d22fa08086e3b0f712fcc7c71a557e2db966c3e9fa91746039",
            "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018\
             501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909",
        ],
    ),
];

/// The `cryptoki` digest mechanisms in the order of [`KATS`] and [`HASHES`].
const MECHANISMS: [Mechanism<'static>; 5] =
    [Mechanism::Sha1, Mechanism::Sha224, Mechanism::Sha256, Mechanism::Sha384, Mechanism::Sha512];

// --- Helpers ---------------------------------------------------------------------------------

/// Digest of `data` through the library, for comparisons.
fn sha(s: &cryptoki::session::Session, i: usize, data: &[u8]) -> Vec<u8> {
    s.digest(&MECHANISMS[i], data).expect("C_Digest")
}

fn raw_digest(s: &cryptoki::session::Session, data: &[u8], out: *mut u8, len: &mut CK_ULONG) -> CK_RV {
    // SAFETY: `data` is readable; `out` is null or writable for `*len` bytes.
    unsafe { f().C_Digest.unwrap()(sh(s), data.as_ptr().cast_mut(), data.len() as CK_ULONG, out, len) }
}

fn raw_digest_final(s: &cryptoki::session::Session, out: *mut u8, len: &mut CK_ULONG) -> CK_RV {
    // SAFETY: `out` is null or writable for `*len` bytes.
    unsafe { f().C_DigestFinal.unwrap()(sh(s), out, len) }
}

// --- Known answers ---------------------------------------------------------------------------

#[test]
fn fips_180_known_answers_single_part() {
    let s = session();
    for (msg, digests) in KATS {
        for (i, want) in digests.iter().enumerate() {
            assert_eq!(sha(&s, i, msg.as_bytes()), h(want), "{:?} of {msg:?}", MECHANISMS[i]);
        }
    }
}

#[test]
fn fips_180_known_answers_multi_part_in_any_chunking() {
    let s = session();
    for (msg, digests) in KATS {
        for (i, want) in digests.iter().enumerate() {
            for chunk in [1, 3, 55, 64, 65, 200] {
                s.digest_init(&MECHANISMS[i]).unwrap();
                for part in msg.as_bytes().chunks(chunk) {
                    s.digest_update(part).unwrap();
                }
                assert_eq!(
                    s.digest_final().unwrap(),
                    h(want),
                    "{:?} of {msg:?} in {chunk}-byte parts",
                    MECHANISMS[i]
                );
            }
        }
    }
}

#[test]
fn sha256_of_one_million_a_in_one_thousand_parts() {
    let s = session();
    s.digest_init(&Mechanism::Sha256).unwrap();
    for _ in 0..1000 {
        s.digest_update(&[b'a'; 1000]).unwrap();
    }
    assert_eq!(
        s.digest_final().unwrap(),
        h("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    );
}

#[test]
fn digests_in_two_sessions_do_not_interfere() {
    let (a, b) = (session(), session());
    a.digest_init(&Mechanism::Sha256).unwrap();
    b.digest_init(&Mechanism::Sha1).unwrap();
    a.digest_update(b"a").unwrap();
    b.digest_update(b"ab").unwrap();
    a.digest_update(b"bc").unwrap();
    b.digest_update(b"c").unwrap();
    assert_eq!(a.digest_final().unwrap(), h(KATS[1].1[2]));
    assert_eq!(b.digest_final().unwrap(), h(KATS[1].1[0]));
}

#[test]
fn digest_works_without_login_in_a_read_only_session() {
    common::fresh_token("t00");
    let s = common::pkcs11().open_ro_session(common::slot("t00")).unwrap();
    assert_eq!(s.digest(&Mechanism::Sha384, b"abc").unwrap(), h(KATS[1].1[3]));
}

// --- C_DigestKey -----------------------------------------------------------------------------

/// Base 3.0 §5.10 C_DigestKey: "continues a multiple-part message-digesting operation by
/// digesting the value of a secret key".
#[test]
fn digest_key_of_a_secret_key_equals_the_digest_of_its_value() {
    let s = session();
    let aes = pattern(32, 1);
    let generic = pattern(48, 2);
    for (kt, value) in [(KeyType::AES, &aes), (KeyType::GENERIC_SECRET, &generic)] {
        let k = secret_key(&s, kt, value, &[]);
        for (i, m) in MECHANISMS.iter().enumerate() {
            s.digest_init(m).unwrap();
            s.digest_key(k).unwrap();
            assert_eq!(s.digest_final().unwrap(), sha(&s, i, value), "{kt:?} key, {m:?}");
        }
    }
}

#[test]
fn digest_key_between_updates_digests_data_key_data() {
    let s = session();
    let value = pattern(24, 3);
    let k = secret_key(&s, KeyType::AES, &value, &[]);
    s.digest_init(&Mechanism::Sha512).unwrap();
    s.digest_update(b"before").unwrap();
    s.digest_key(k).unwrap();
    s.digest_update(b"after").unwrap();
    let all = [b"before".as_slice(), &value, b"after"].concat();
    assert_eq!(s.digest_final().unwrap(), sha(&s, 4, &all));
}

#[test]
fn digest_key_of_a_sensitive_unextractable_generated_key_succeeds() {
    let s = session();
    let k = gen_aes(&s, 32, &[Attribute::Sensitive(true), Attribute::Extractable(false)]);
    s.digest_init(&Mechanism::Sha256).unwrap();
    s.digest_key(k).unwrap();
    assert_eq!(s.digest_final().unwrap().len(), 32);
}

/// Base 3.0 §5.1 (CKR_KEY_INDIGESTIBLE): "the value of the specified key cannot be digested for
/// some reason (perhaps the key isn't a secret key …)".
#[test]
fn digest_key_of_a_private_key_is_key_indigestible() {
    let s = session();
    let (_, private) = rsa_pair(&s, 2048, &[]);
    s.digest_init(&Mechanism::Sha256).unwrap();
    assert_rv(digest_key(&s, private), CKR_KEY_INDIGESTIBLE, "RSA private key");
}

#[test]
fn digest_key_of_an_ec_private_key_is_key_indigestible() {
    let s = session();
    let (_, private) = ec_pair(&s, P256, &[]);
    s.digest_init(&Mechanism::Sha256).unwrap();
    assert_rv(digest_key(&s, private), CKR_KEY_INDIGESTIBLE, "EC private key");
}

#[test]
fn digest_key_of_a_public_key_is_key_indigestible() {
    let s = session();
    let (public, _) = rsa_pair(&s, 2048, &[]);
    s.digest_init(&Mechanism::Sha256).unwrap();
    assert_rv(digest_key(&s, public), CKR_KEY_INDIGESTIBLE, "RSA public key");
}

#[test]
fn digest_key_with_an_invalid_handle_is_key_handle_invalid() {
    let s = session();
    s.digest_init(&Mechanism::Sha256).unwrap();
    assert_rv(digest_key(&s, obj(0x7fff_fff1)), CKR_KEY_HANDLE_INVALID, "unknown handle");
    assert_rv(digest_key(&s, obj(CK_INVALID_HANDLE)), CKR_KEY_HANDLE_INVALID, "CK_INVALID_HANDLE");
}

/// Base 3.0 §4.4 (CKA_PRIVATE): a private key is invisible to a session that is not logged in.
#[test]
fn digest_key_of_a_private_key_object_after_logout_is_key_handle_invalid() {
    let s = common::user_session("t01");
    let private = secret_key(&s, KeyType::AES, &pattern(16, 4), &[Attribute::Private(true)]);
    let public = secret_key(&s, KeyType::AES, &pattern(16, 5), &[Attribute::Private(false)]);
    s.logout().unwrap();
    s.digest_init(&Mechanism::Sha256).unwrap();
    assert_rv(digest_key(&s, private), CKR_KEY_HANDLE_INVALID, "private secret key");
    let other = common::pkcs11().open_ro_session(common::slot("t01")).unwrap();
    assert_rv(digest_init(&other, &Mech::new(CKM_SHA256)), CKR_OK, "init");
    assert_rv(digest_key(&other, public), CKR_OK, "public secret key");
    assert_eq!(digest_final(&other), Ok(sha(&other, 2, &pattern(16, 5))));
}

#[test]
fn digest_key_without_init_is_operation_not_initialized() {
    let s = session();
    let k = gen_aes(&s, 16, &[]);
    assert_rv(digest_key(&s, k), CKR_OPERATION_NOT_INITIALIZED, "C_DigestKey");
}

// --- Size queries and short buffers (Base 3.0 §5.2) ------------------------------------------

#[test]
fn c_digest_size_query_and_short_buffer_keep_the_operation_active() {
    let s = session();
    for (i, (_, _, hlen)) in HASHES.iter().enumerate() {
        assert_rv(digest_init(&s, &Mech::new(HASHES[i].0)), CKR_OK, "init");
        let mut len: CK_ULONG = 0;
        assert_rv(raw_digest(&s, b"abc", null_byte(), &mut len), CKR_OK, "size query");
        assert!(len as usize >= *hlen, "size query says {len}");
        let mut small = vec![0u8; hlen - 1];
        len = small.len() as CK_ULONG;
        assert_rv(raw_digest(&s, b"abc", small.as_mut_ptr(), &mut len), CKR_BUFFER_TOO_SMALL, "short buffer");
        assert_eq!(len as usize, *hlen, "needed length");
        let mut out = vec![0u8; *hlen];
        assert_rv(raw_digest(&s, b"abc", out.as_mut_ptr(), &mut len), CKR_OK, "full buffer");
        assert_eq!((len as usize, out), (*hlen, h(KATS[1].1[i])));
        assert_eq!(digest(&s, b"abc"), Err(CKR_OPERATION_NOT_INITIALIZED), "the operation has ended");
    }
}

#[test]
fn c_digest_final_size_query_and_short_buffer_keep_the_operation_active() {
    let s = session();
    assert_rv(digest_init(&s, &Mech::new(CKM_SHA224)), CKR_OK, "init");
    assert_rv(digest_update(&s, b"abc"), CKR_OK, "update");
    let mut len: CK_ULONG = 0;
    assert_rv(raw_digest_final(&s, null_byte(), &mut len), CKR_OK, "size query");
    assert!(len >= 28, "size query says {len}");
    let mut small = [0u8; 20];
    len = 20;
    assert_rv(raw_digest_final(&s, small.as_mut_ptr(), &mut len), CKR_BUFFER_TOO_SMALL, "short buffer");
    assert_eq!(len, 28, "needed length");
    let mut out = [0u8; 64];
    len = 64;
    assert_rv(raw_digest_final(&s, out.as_mut_ptr(), &mut len), CKR_OK, "large buffer");
    assert_eq!(out[..len as usize], h(KATS[1].1[1])[..]);
    assert_eq!(digest_final(&s), Err(CKR_OPERATION_NOT_INITIALIZED), "the operation has ended");
}

// --- Null pointers ---------------------------------------------------------------------------

#[test]
fn null_mechanism_pointer_is_arguments_bad() {
    let s = session();
    // SAFETY: the null mechanism pointer is what is being tested.
    let rv = unsafe { f().C_DigestInit.unwrap()(sh(&s), std::ptr::null_mut()) };
    assert_rv(rv, CKR_ARGUMENTS_BAD, "C_DigestInit");
}

#[test]
fn null_length_pointer_is_arguments_bad() {
    let s = session();
    let mut out = [0u8; 64];
    assert_rv(digest_init(&s, &Mech::new(CKM_SHA256)), CKR_OK, "init");
    // SAFETY: the null length pointer is what is being tested; the rest is valid.
    let rv = unsafe {
        f().C_Digest.unwrap()(sh(&s), b"abc".as_ptr().cast_mut(), 3, out.as_mut_ptr(), std::ptr::null_mut())
    };
    assert_rv(rv, CKR_ARGUMENTS_BAD, "C_Digest");
    let s = session();
    assert_rv(digest_init(&s, &Mech::new(CKM_SHA256)), CKR_OK, "init");
    // SAFETY: as above.
    let rv = unsafe { f().C_DigestFinal.unwrap()(sh(&s), out.as_mut_ptr(), std::ptr::null_mut()) };
    assert_rv(rv, CKR_ARGUMENTS_BAD, "C_DigestFinal");
}

#[test]
fn null_data_pointer_with_a_length_is_arguments_bad() {
    let s = session();
    assert_rv(digest_init(&s, &Mech::new(CKM_SHA256)), CKR_OK, "init");
    // SAFETY: the null data pointer is what is being tested.
    let rv = unsafe { f().C_DigestUpdate.unwrap()(sh(&s), null_byte(), 8) };
    assert_rv(rv, CKR_ARGUMENTS_BAD, "C_DigestUpdate");
    let s = session();
    assert_rv(digest_init(&s, &Mech::new(CKM_SHA256)), CKR_OK, "init");
    let mut out = [0u8; 32];
    let mut len: CK_ULONG = 32;
    // SAFETY: as above; `out` is writable for `len` bytes.
    let rv = unsafe { f().C_Digest.unwrap()(sh(&s), null_byte(), 8, out.as_mut_ptr(), &mut len) };
    assert_rv(rv, CKR_ARGUMENTS_BAD, "C_Digest");
}

#[test]
fn null_data_pointer_with_zero_length_digests_the_empty_message() {
    let s = session();
    assert_rv(digest_init(&s, &Mech::new(CKM_SHA256)), CKR_OK, "init");
    let mut out = [0u8; 32];
    let mut len: CK_ULONG = 32;
    // SAFETY: zero bytes are read through the null pointer; `out` is writable.
    let rv = unsafe { f().C_Digest.unwrap()(sh(&s), null_byte(), 0, out.as_mut_ptr(), &mut len) };
    assert_rv(rv, CKR_OK, "C_Digest of nothing");
    assert_eq!(out.to_vec(), h(KATS[0].1[2]));
}

/// Base 3.0 §5.10 C_Digest: "A call to C_Digest always terminates the active digest operation
/// unless it returns CKR_BUFFER_TOO_SMALL or is a successful call … to determine the length of
/// the buffer needed to hold the message digest."
#[test]
fn c_digest_failing_with_arguments_bad_ends_the_operation() {
    let s = session();
    assert_rv(digest_init(&s, &Mech::new(CKM_SHA256)), CKR_OK, "init");
    // SAFETY: the null length pointer is what is being tested.
    let rv = unsafe {
        f().C_Digest.unwrap()(sh(&s), b"abc".as_ptr().cast_mut(), 3, null_byte(), std::ptr::null_mut())
    };
    assert_rv(rv, CKR_ARGUMENTS_BAD, "C_Digest");
    assert_eq!(digest(&s, b"abc"), Err(CKR_OPERATION_NOT_INITIALIZED));
}

// --- Operation state and mechanisms ----------------------------------------------------------

#[test]
fn digest_functions_without_init_are_operation_not_initialized() {
    let s = session();
    assert_eq!(digest(&s, b"abc"), Err(CKR_OPERATION_NOT_INITIALIZED), "C_Digest");
    assert_rv(digest_update(&s, b"abc"), CKR_OPERATION_NOT_INITIALIZED, "C_DigestUpdate");
    assert_eq!(digest_final(&s), Err(CKR_OPERATION_NOT_INITIALIZED), "C_DigestFinal");
}

#[test]
fn digest_init_while_active_is_operation_active_and_the_first_goes_on() {
    let s = session();
    assert_rv(digest_init(&s, &Mech::new(CKM_SHA256)), CKR_OK, "first");
    assert_rv(digest_init(&s, &Mech::new(CKM_SHA_1)), CKR_OPERATION_ACTIVE, "second");
    assert_eq!(digest(&s, b"abc"), Ok(h(KATS[1].1[2])), "the first (SHA-256) operation");
}

#[test]
fn c_digest_ends_the_operation() {
    let s = session();
    assert_eq!(digest_once(&s, &Mech::new(CKM_SHA_1), b"abc"), Ok(h(KATS[1].1[0])));
    assert_rv(digest_update(&s, b"more"), CKR_OPERATION_NOT_INITIALIZED, "C_DigestUpdate after C_Digest");
}

#[test]
fn digest_mechanism_with_a_parameter_is_mechanism_param_invalid() {
    let s = session();
    assert_rv(
        digest_init(&s, &Mech::bytes(CKM_SHA256, &[1, 2, 3])),
        CKR_MECHANISM_PARAM_INVALID,
        "SHA-256 + param",
    );
}

#[test]
fn unknown_or_non_digest_mechanism_is_mechanism_invalid() {
    let s = session();
    for ty in [
        CKM_MD5,
        CKM_SHA3_256,
        CKM_SHA512_256,
        CKM_AES_ECB,
        CKM_SHA256_HMAC,
        CKM_RSA_PKCS,
        CKM_VENDOR_DEFINED | 7,
    ] {
        assert_rv(digest_init(&s, &Mech::new(ty)), CKR_MECHANISM_INVALID, &format!("{ty:#x}"));
    }
}
