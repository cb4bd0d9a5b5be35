//! The Chinese commercial algorithms through the C ABI, checked both ways against an independent
//! implementation (OpenSSL 3's SM2, SM3 and SM4 on this machine) and against the standards'
//! examples: SM3 (GB/T 32905), SM4 (GB/T 32907), SM2 signatures (GB/T 32918.2 with the default
//! distinguishing ID) and SM2 encryption in both the C1‖C3‖C2 and the GM/T 0009 DER forms.

mod common;
mod support;

use cryptoki::object::ObjectHandle;
use cryptoki::session::Session;
use kms_pkcs11::vendor::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::*;

/// DER `CKA_EC_PARAMS` of the SM2 curve (OID 1.2.156.10197.1.301).
const SM2_PARAMS: [u8; 10] = [0x06, 0x08, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d];
const P256_PARAMS: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const DEFAULT_ID: &str = "1234567812345678";

// --- OpenSSL ---------------------------------------------------------------------------------

/// Runs `openssl` in `dir`; panics with its output when it fails.
fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (Debian package openssl) is needed for the SM cross-checks");
    assert!(
        out.status.success(),
        "openssl {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn write(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

// --- Keys ------------------------------------------------------------------------------------

fn sm4_key(s: &Session, value: &[u8]) -> ObjectHandle {
    create_object(
        s,
        &Tpl::new()
            .ulong(CKA_CLASS, CKO_SECRET_KEY)
            .ulong(CKA_KEY_TYPE, CKK_SM4)
            .bytes(CKA_VALUE, value)
            .bool(CKA_ENCRYPT, true)
            .bool(CKA_DECRYPT, true)
            .bool(CKA_WRAP, true)
            .bool(CKA_UNWRAP, true)
            .bool(CKA_EXTRACTABLE, true),
    )
    .unwrap()
}

/// An SM2 key pair made in the token: (public, private).
fn sm2_pair(s: &Session) -> (ObjectHandle, ObjectHandle) {
    generate_key_pair(
        s,
        &Mech::new(CKM_SM2_KEY_PAIR_GEN),
        &Tpl::new()
            .bytes(CKA_EC_PARAMS, &SM2_PARAMS)
            .bool(CKA_VERIFY, true)
            .bool(CKA_ENCRYPT, true)
            .bool(CKA_WRAP, true),
        &Tpl::new().bool(CKA_SIGN, true).bool(CKA_DECRYPT, true).bool(CKA_UNWRAP, true),
    )
    .unwrap()
}

/// The PEM public key OpenSSL reads, from the token's `CKA_PUBLIC_KEY_INFO`.
fn export_public(s: &Session, dir: &Path, public: ObjectHandle) -> PathBuf {
    let spki = attr(s, public, CKA_PUBLIC_KEY_INFO).unwrap();
    write(dir, "token-pub.der", &spki);
    openssl(dir, &["pkey", "-pubin", "-inform", "DER", "-in", "token-pub.der", "-out", "token-pub.pem"]);
    dir.join("token-pub.pem")
}

/// An SM2 key made by OpenSSL (`key.pem`), and its public half as a token object.
fn openssl_sm2_key(s: &Session, dir: &Path) -> ObjectHandle {
    openssl(dir, &["genpkey", "-algorithm", "SM2", "-out", "key.pem"]);
    openssl(dir, &["pkey", "-in", "key.pem", "-pubout", "-outform", "DER", "-out", "pub.der"]);
    let spki = read(dir, "pub.der");
    // The SubjectPublicKeyInfo ends with the uncompressed point 04 ‖ x ‖ y.
    let point = &spki[spki.len() - 65..];
    assert_eq!(point[0], 0x04);
    create_object(
        s,
        &Tpl::new()
            .ulong(CKA_CLASS, CKO_PUBLIC_KEY)
            .ulong(CKA_KEY_TYPE, CKK_SM2)
            .bytes(CKA_EC_PARAMS, &SM2_PARAMS)
            .bytes(CKA_EC_POINT, &der_octet_string(point))
            .bool(CKA_VERIFY, true)
            .bool(CKA_ENCRYPT, true),
    )
    .unwrap()
}

// --- SM3 -------------------------------------------------------------------------------------

#[test]
fn sm3_matches_the_standard_and_openssl() {
    let s = session();
    let m = Mech::new(CKM_SM3);
    assert_eq!(
        hex(&digest_once(&s, &m, b"abc").unwrap()),
        "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0",
        "GB/T 32905 example 1"
    );
    let dir = tempfile::tempdir().unwrap();
    let data = pattern(10_000, 3);
    write(dir.path(), "data", &data);
    let theirs = openssl(dir.path(), &["dgst", "-sm3", "-binary", "data"]);
    assert_eq!(digest_once(&s, &m, &data).unwrap(), theirs, "single-part");
    assert_eq!(digest_init(&s, &m), CKR_OK);
    for part in data.chunks(777) {
        assert_eq!(digest_update(&s, part), CKR_OK);
    }
    assert_eq!(digest_final(&s).unwrap(), theirs, "multi-part");
}

#[test]
fn sm3_digests_an_sm4_key() {
    let s = session();
    let value = pattern(16, 9);
    let key = sm4_key(&s, &value);
    assert_eq!(digest_init(&s, &Mech::new(CKM_SM3)), CKR_OK);
    assert_eq!(digest_key(&s, key), CKR_OK);
    assert_eq!(digest_final(&s).unwrap(), digest_once(&s, &Mech::new(CKM_SM3), &value).unwrap());
}

// --- SM4 -------------------------------------------------------------------------------------

#[test]
fn sm4_gb_t_32907_example() {
    let s = session();
    let k = h("0123456789abcdeffedcba9876543210");
    let key = sm4_key(&s, &k);
    let ct = encrypt_once(&s, &Mech::new(CKM_SM4_ECB), key, &k).unwrap();
    assert_eq!(hex(&ct), "681edf34d206965e86b3e94f536e4246");
}

#[test]
fn sm4_ecb_cbc_ctr_agree_with_openssl_both_ways() {
    let s = session();
    let dir = tempfile::tempdir().unwrap();
    let (k, iv) = (pattern(16, 1), pattern(16, 2));
    let key = sm4_key(&s, &k);
    let data = pattern(16 * 40, 5);
    write(dir.path(), "plain", &data);
    for (mech, cipher) in [
        (Mech::new(CKM_SM4_ECB), "-sm4-ecb"),
        (Mech::bytes(CKM_SM4_CBC, &iv), "-sm4-cbc"),
        (Mech::ctr(128, iv.clone().try_into().unwrap()).retyped(CKM_SM4_CTR), "-sm4-ctr"),
    ] {
        let (k_hex, iv_hex) = (hex(&k), hex(&iv));
        let mut args = vec!["enc", cipher, "-K", &k_hex];
        if cipher != "-sm4-ecb" {
            args.extend(["-iv", &iv_hex]);
        }
        args.extend(["-nopad", "-in", "plain", "-out", "theirs"]);
        openssl(dir.path(), &args);
        let theirs = read(dir.path(), "theirs");
        let ours = encrypt_once(&s, &mech, key, &data).unwrap();
        assert_eq!(ours, theirs, "{cipher} encryption");
        assert_eq!(decrypt_once(&s, &mech, key, &theirs).unwrap(), data, "{cipher} decrypts OpenSSL's");
        assert_eq!(encrypt_parts(&s, &mech, key, &data, 37).unwrap(), theirs, "{cipher} multi-part");
    }
    // CBC with padding: OpenSSL pads with PKCS#7 by default.
    let odd = pattern(1000, 7);
    write(dir.path(), "odd", &odd);
    openssl(
        dir.path(),
        &["enc", "-sm4-cbc", "-K", &hex(&k), "-iv", &hex(&iv), "-in", "odd", "-out", "padded"],
    );
    let mech = Mech::bytes(CKM_SM4_CBC_PAD, &iv);
    assert_eq!(encrypt_once(&s, &mech, key, &odd).unwrap(), read(dir.path(), "padded"));
    assert_eq!(decrypt_once(&s, &mech, key, &read(dir.path(), "padded")).unwrap(), odd);
}

#[test]
fn sm4_gcm_round_trips_and_detects_tampering() {
    let s = session();
    let key = sm4_key(&s, &pattern(16, 4));
    let (iv, aad) = (pattern(12, 8), b"header".to_vec());
    let m = Mech::gcm(&iv, &aad, 128).retyped(CKM_SM4_GCM);
    let data = pattern(333, 6);
    let ct = encrypt_once(&s, &m, key, &data).unwrap();
    assert_eq!(ct.len(), data.len() + 16);
    assert_eq!(decrypt_once(&s, &m, key, &ct).unwrap(), data);
    let mut bad = ct.clone();
    bad[10] ^= 1;
    assert_eq!(decrypt_once(&s, &m, key, &bad), Err(CKR_ENCRYPTED_DATA_INVALID));
}

#[test]
fn sm4_keys_wrap_under_aes_kwp_sm4_gcm_and_sm2() {
    let s = session();
    let target_value = pattern(16, 11);
    let target = sm4_key(&s, &target_value);
    let unwrapped_works = |k: ObjectHandle| {
        let ct = encrypt_once(&s, &Mech::new(CKM_SM4_ECB), k, &[0u8; 16]).unwrap();
        assert_eq!(ct, encrypt_once(&s, &Mech::new(CKM_SM4_ECB), target, &[0u8; 16]).unwrap());
    };
    let tpl = secret_tpl(CKK_SM4);
    // AES key wrap with padding (RFC 5649).
    let aes = aes_key(&s, &pattern(32, 12));
    let kwp = Mech::new(CKM_AES_KEY_WRAP_KWP);
    let wrapped = wrap_key(&s, &kwp, aes, target).unwrap();
    unwrapped_works(unwrap_key(&s, &kwp, aes, &wrapped, &tpl).unwrap());
    // SM4-GCM.
    let kek = sm4_key(&s, &pattern(16, 13));
    let iv = pattern(12, 14);
    let gcm = Mech::gcm(&iv, &[], 128).retyped(CKM_SM4_GCM);
    let wrapped = wrap_key(&s, &gcm, kek, target).unwrap();
    assert_eq!(wrapped.len(), 32);
    unwrapped_works(unwrap_key(&s, &gcm, kek, &wrapped, &tpl).unwrap());
    // SM2 public-key encryption, both ciphertext forms.
    let (public, private) = sm2_pair(&s);
    for mech in [CKM_SM2_RAW, CKM_SM2_CIPHER_DER] {
        let m = Mech::new(mech);
        let wrapped = wrap_key(&s, &m, public, target).unwrap();
        unwrapped_works(unwrap_key(&s, &m, private, &wrapped, &tpl).unwrap());
    }
}

// --- SM2 signatures --------------------------------------------------------------------------

#[test]
fn token_sm2_signature_verifies_in_openssl() {
    let s = session();
    let dir = tempfile::tempdir().unwrap();
    let (public, private) = sm2_pair(&s);
    export_public(&s, dir.path(), public);
    let msg = pattern(500, 21);
    write(dir.path(), "msg", &msg);
    let sig = sign_once(&s, &Mech::new(CKM_SM3_SM2_DER), private, &msg).unwrap();
    write(dir.path(), "sig", &sig);
    let out = openssl(
        dir.path(),
        &[
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            "token-pub.pem",
            "-rawin",
            "-digest",
            "sm3",
            "-pkeyopt",
            &format!("distid:{DEFAULT_ID}"),
            "-in",
            "msg",
            "-sigfile",
            "sig",
        ],
    );
    assert!(String::from_utf8_lossy(&out).contains("Signature Verified Successfully"));
    // The r‖s form of CKM_SM3_SM2 verifies in the token, also multi-part.
    let raw = sign_parts(&s, &Mech::new(CKM_SM3_SM2), private, &msg, 64).unwrap();
    assert_eq!(raw.len(), 64);
    assert_eq!(verify_once(&s, &Mech::new(CKM_SM3_SM2), public, &msg, &raw), CKR_OK);
}

#[test]
fn openssl_sm2_signature_verifies_in_the_token() {
    let s = session();
    let dir = tempfile::tempdir().unwrap();
    let public = openssl_sm2_key(&s, dir.path());
    let msg = pattern(300, 22);
    write(dir.path(), "msg", &msg);
    openssl(
        dir.path(),
        &[
            "pkeyutl",
            "-sign",
            "-inkey",
            "key.pem",
            "-rawin",
            "-digest",
            "sm3",
            "-pkeyopt",
            &format!("distid:{DEFAULT_ID}"),
            "-in",
            "msg",
            "-out",
            "sig",
        ],
    );
    let sig = read(dir.path(), "sig");
    let m = Mech::new(CKM_SM3_SM2_DER);
    assert_eq!(verify_once(&s, &m, public, &msg, &sig), CKR_OK);
    // The same signature over other data, or under another signer ID, does not verify.
    assert_eq!(verify_once(&s, &m, public, b"other", &sig), CKR_SIGNATURE_INVALID);
    let other_id = Mech::bytes(CKM_SM3_SM2_DER, b"alice@example.com");
    assert_eq!(verify_once(&s, &other_id, public, &msg, &sig), CKR_SIGNATURE_INVALID);
}

#[test]
fn signer_id_is_a_parameter() {
    let s = session();
    let (public, private) = sm2_pair(&s);
    let id = Mech::bytes(CKM_SM3_SM2, b"ALICE123@YAHOO.COM");
    let sig = sign_once(&s, &id, private, b"message digest").unwrap();
    assert_eq!(verify_once(&s, &id, public, b"message digest", &sig), CKR_OK);
    // An empty parameter is the default ID.
    assert_eq!(
        verify_once(&s, &Mech::new(CKM_SM3_SM2), public, b"message digest", &sig),
        CKR_SIGNATURE_INVALID
    );
    let sig = sign_once(&s, &Mech::new(CKM_SM3_SM2), private, b"m").unwrap();
    assert_eq!(verify_once(&s, &Mech::bytes(CKM_SM3_SM2, DEFAULT_ID.as_bytes()), public, b"m", &sig), CKR_OK);
    // ENTL holds the ID length in bits in 16 bits: 8191 bytes is the longest ID.
    let longest = vec![b'a'; 8191];
    assert_eq!(sign_init(&s, &Mech::bytes(CKM_SM3_SM2, &longest), private), CKR_OK);
    assert!(sign(&s, b"m").is_ok());
    let too_long = vec![b'a'; 8192];
    assert_eq!(sign_init(&s, &Mech::bytes(CKM_SM3_SM2, &too_long), private), CKR_MECHANISM_PARAM_INVALID);
}

#[test]
fn ckm_sm2_signs_a_caller_digest() {
    let s = session();
    let (public, private) = sm2_pair(&s);
    let e = pattern(32, 40);
    let sig = sign_once(&s, &Mech::new(CKM_SM2), private, &e).unwrap();
    assert_eq!(sig.len(), 64);
    assert_eq!(verify_once(&s, &Mech::new(CKM_SM2), public, &e, &sig), CKR_OK);
    assert_eq!(sign_once(&s, &Mech::new(CKM_SM2), private, &e[..31]), Err(CKR_DATA_LEN_RANGE));
}

// --- SM2 encryption --------------------------------------------------------------------------

#[test]
fn openssl_sm2_ciphertext_decrypts_in_the_token_in_both_forms() {
    let s = session();
    let dir = tempfile::tempdir().unwrap();
    let (public, private) = sm2_pair(&s);
    export_public(&s, dir.path(), public);
    let msg = pattern(100, 31);
    write(dir.path(), "msg", &msg);
    openssl(
        dir.path(),
        &["pkeyutl", "-encrypt", "-pubin", "-inkey", "token-pub.pem", "-in", "msg", "-out", "ct"],
    );
    let der = read(dir.path(), "ct");
    assert_eq!(decrypt_once(&s, &Mech::new(CKM_SM2_CIPHER_DER), private, &der).unwrap(), msg);
    // The same ciphertext as C1 ‖ C3 ‖ C2 (GB/T 32918.4).
    let raw = raw_from_der(&der);
    assert_eq!(raw.len(), 65 + 32 + msg.len());
    assert_eq!(decrypt_once(&s, &Mech::new(CKM_SM2_RAW), private, &raw).unwrap(), msg);
}

#[test]
fn token_sm2_ciphertext_decrypts_in_openssl() {
    let s = session();
    let dir = tempfile::tempdir().unwrap();
    let public = openssl_sm2_key(&s, dir.path());
    let msg = pattern(77, 32);
    let ct = encrypt_once(&s, &Mech::new(CKM_SM2_CIPHER_DER), public, &msg).unwrap();
    write(dir.path(), "ct", &ct);
    openssl(dir.path(), &["pkeyutl", "-decrypt", "-inkey", "key.pem", "-in", "ct", "-out", "pt"]);
    assert_eq!(read(dir.path(), "pt"), msg);
}

/// GM/T 0009 `SM2Cipher ::= SEQUENCE { x INTEGER, y INTEGER, hash OCTET STRING, ct OCTET
/// STRING }` → `04 ‖ x ‖ y ‖ hash ‖ ct`, coordinates padded to 32 bytes.
fn raw_from_der(der: &[u8]) -> Vec<u8> {
    let mut fields = Vec::new();
    let body = der_body(der, 0x30).0;
    let mut rest = body;
    while !rest.is_empty() {
        let tag = rest[0];
        let (value, after) = der_body(rest, tag);
        fields.push(value.to_vec());
        rest = after;
    }
    assert_eq!(fields.len(), 4);
    let coord = |v: &[u8]| {
        let v = v.strip_prefix(&[0u8]).unwrap_or(v);
        let mut out = vec![0u8; 32 - v.len()];
        out.extend_from_slice(v);
        out
    };
    let mut raw = vec![0x04];
    raw.extend(coord(&fields[0]));
    raw.extend(coord(&fields[1]));
    raw.extend(&fields[2]);
    raw.extend(&fields[3]);
    raw
}

/// The content of a DER element with tag `tag` at the start of `der`, and what follows it.
fn der_body(der: &[u8], tag: u8) -> (&[u8], &[u8]) {
    assert_eq!(der[0], tag);
    let (len, hdr) = match der[1] {
        n if n < 0x80 => (n as usize, 2),
        0x81 => (der[2] as usize, 3),
        0x82 => ((der[2] as usize) << 8 | der[3] as usize, 4),
        n => panic!("length form {n:#x}"),
    };
    (&der[hdr..hdr + len], &der[hdr + len..])
}

// --- Key generation and import ---------------------------------------------------------------

#[test]
fn ec_key_pair_gen_on_the_sm2_curve_makes_an_sm2_key() {
    let s = session();
    let (public, private) = generate_key_pair(
        &s,
        &Mech::new(CKM_EC_KEY_PAIR_GEN),
        &Tpl::new().ulong(CKA_KEY_TYPE, CKK_EC).bytes(CKA_EC_PARAMS, &SM2_PARAMS).bool(CKA_VERIFY, true),
        &Tpl::new().ulong(CKA_KEY_TYPE, CKK_EC).bool(CKA_SIGN, true),
    )
    .unwrap();
    assert_eq!(ulong_attr(&s, public, CKA_KEY_TYPE), CKK_SM2);
    assert_eq!(ulong_attr(&s, private, CKA_KEY_TYPE), CKK_SM2);
    assert_eq!(attr(&s, public, CKA_EC_PARAMS).unwrap(), SM2_PARAMS);
    let point = attr(&s, public, CKA_EC_POINT).unwrap();
    assert_eq!(point, der_octet_string(&point[2..]));
    let sig = sign_once(&s, &Mech::new(CKM_SM3_SM2), private, b"x").unwrap();
    assert_eq!(verify_once(&s, &Mech::new(CKM_SM3_SM2), public, b"x", &sig), CKR_OK);
}

#[test]
fn imported_sm2_private_key_signs_like_openssl_expects() {
    let s = session();
    let dir = tempfile::tempdir().unwrap();
    openssl(dir.path(), &["genpkey", "-algorithm", "SM2", "-out", "key.pem"]);
    // `openssl pkey -text` prints the private scalar as hex after "priv:".
    let text =
        String::from_utf8(openssl(dir.path(), &["pkey", "-in", "key.pem", "-text", "-noout"])).unwrap();
    let priv_hex: String = text
        .split("priv:")
        .nth(1)
        .unwrap()
        .split("pub:")
        .next()
        .unwrap()
        .chars()
        .filter(char::is_ascii_hexdigit)
        .collect();
    let d = h(&priv_hex);
    let private = create_object(
        &s,
        &Tpl::new()
            .ulong(CKA_CLASS, CKO_PRIVATE_KEY)
            .ulong(CKA_KEY_TYPE, CKK_SM2)
            .bytes(CKA_EC_PARAMS, &SM2_PARAMS)
            .bytes(CKA_VALUE, &d)
            .bool(CKA_SIGN, true),
    )
    .unwrap();
    openssl(dir.path(), &["pkey", "-in", "key.pem", "-pubout", "-out", "pub.pem"]);
    write(dir.path(), "msg", b"imported key");
    let sig = sign_once(&s, &Mech::new(CKM_SM3_SM2_DER), private, b"imported key").unwrap();
    write(dir.path(), "sig", &sig);
    let out = openssl(
        dir.path(),
        &[
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            "pub.pem",
            "-rawin",
            "-digest",
            "sm3",
            "-pkeyopt",
            &format!("distid:{DEFAULT_ID}"),
            "-in",
            "msg",
            "-sigfile",
            "sig",
        ],
    );
    assert!(String::from_utf8_lossy(&out).contains("Signature Verified Successfully"));
}

// --- Bad input -------------------------------------------------------------------------------

#[test]
fn bad_input_gets_the_exact_error() {
    let s = session();
    // An SM4 key is 16 bytes.
    for len in [0, 15, 17, 32] {
        let r = create_object(
            &s,
            &Tpl::new()
                .ulong(CKA_CLASS, CKO_SECRET_KEY)
                .ulong(CKA_KEY_TYPE, CKK_SM4)
                .bytes(CKA_VALUE, &vec![1; len]),
        );
        assert_eq!(r.err(), Some(CKR_ATTRIBUTE_VALUE_INVALID), "{len}-byte SM4 key");
    }
    // A P-256 key given to an SM2 mechanism.
    let (p256_public, p256_private) = generate_key_pair(
        &s,
        &Mech::new(CKM_EC_KEY_PAIR_GEN),
        &Tpl::new().bytes(CKA_EC_PARAMS, &P256_PARAMS).bool(CKA_VERIFY, true),
        &Tpl::new().bool(CKA_SIGN, true),
    )
    .unwrap();
    assert_eq!(sign_init(&s, &Mech::new(CKM_SM3_SM2), p256_private), CKR_KEY_TYPE_INCONSISTENT);
    assert_eq!(verify_init(&s, &Mech::new(CKM_SM2), p256_public), CKR_KEY_TYPE_INCONSISTENT);
    // An SM4 key given to an AES mechanism, and an AES key to an SM4 one.
    let sm4 = sm4_key(&s, &pattern(16, 50));
    assert_eq!(encrypt_init(&s, &Mech::new(CKM_AES_ECB), sm4), CKR_KEY_TYPE_INCONSISTENT);
    let aes = aes_key(&s, &pattern(16, 51));
    assert_eq!(encrypt_init(&s, &Mech::new(CKM_SM4_ECB), aes), CKR_KEY_TYPE_INCONSISTENT);
    // Malformed ciphertexts and signatures.
    let (public, private) = sm2_pair(&s);
    let mut ct = encrypt_once(&s, &Mech::new(CKM_SM2_RAW), public, b"secret").unwrap();
    ct[70] ^= 1; // inside C3
    assert_eq!(decrypt_once(&s, &Mech::new(CKM_SM2_RAW), private, &ct), Err(CKR_ENCRYPTED_DATA_INVALID));
    let mut der = encrypt_once(&s, &Mech::new(CKM_SM2_CIPHER_DER), public, b"secret").unwrap();
    der[0] = 0x31; // not a SEQUENCE
    assert_eq!(
        decrypt_once(&s, &Mech::new(CKM_SM2_CIPHER_DER), private, &der),
        Err(CKR_ENCRYPTED_DATA_INVALID)
    );
    // Shorter than any SM2 ciphertext can be.
    assert_eq!(
        decrypt_once(&s, &Mech::new(CKM_SM2_CIPHER_DER), private, b"\x30\x03\x02\x01"),
        Err(CKR_ENCRYPTED_DATA_LEN_RANGE)
    );
    let sig = sign_once(&s, &Mech::new(CKM_SM3_SM2), private, b"m").unwrap();
    let mut bad = sig.clone();
    bad[5] ^= 1;
    assert_eq!(verify_once(&s, &Mech::new(CKM_SM3_SM2), public, b"m", &bad), CKR_SIGNATURE_INVALID);
    assert_eq!(verify_once(&s, &Mech::new(CKM_SM3_SM2), public, b"m", &sig[..63]), CKR_SIGNATURE_LEN_RANGE);
    let rv = verify_once(&s, &Mech::new(CKM_SM3_SM2_DER), public, b"m", b"\x30\x02\x02");
    assert!(
        rv == CKR_SIGNATURE_INVALID || rv == CKR_SIGNATURE_LEN_RANGE,
        "malformed DER signature: {}",
        rv_name(rv)
    );
}

// --- Mechanism list ----------------------------------------------------------------------------

#[test]
fn every_sm_mechanism_is_listed_with_sizes_and_flags() {
    let s = session();
    let slot = s.get_session_info().unwrap().slot_id();
    let raw_slot = slot.id();
    let expected: &[(CK_MECHANISM_TYPE, CK_ULONG, CK_ULONG, CK_FLAGS)] = &[
        (CKM_SM2_KEY_PAIR_GEN, 256, 256, CKF_GENERATE_KEY_PAIR),
        (CKM_SM2, 256, 256, CKF_SIGN | CKF_VERIFY),
        (CKM_SM3_SM2, 256, 256, CKF_SIGN | CKF_VERIFY),
        (CKM_SM3_SM2_DER, 256, 256, CKF_SIGN | CKF_VERIFY),
        (CKM_SM2_RAW, 256, 256, CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP),
        (CKM_SM2_CIPHER_DER, 256, 256, CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP),
        (CKM_SM3, 0, 0, CKF_DIGEST),
        (CKM_SM4_KEY_GEN, 16, 16, CKF_GENERATE),
        (CKM_SM4_ECB, 16, 16, CKF_ENCRYPT | CKF_DECRYPT),
        (CKM_SM4_CBC, 16, 16, CKF_ENCRYPT | CKF_DECRYPT),
        (CKM_SM4_CBC_PAD, 16, 16, CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP),
        (CKM_SM4_CTR, 16, 16, CKF_ENCRYPT | CKF_DECRYPT),
        (CKM_SM4_GCM, 16, 16, CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP),
    ];
    let mut count: CK_ULONG = 0;
    // SAFETY: a size query with a valid count pointer.
    assert_eq!(
        unsafe { f().C_GetMechanismList.unwrap()(raw_slot, std::ptr::null_mut(), &mut count) },
        CKR_OK
    );
    let mut list = vec![0 as CK_MECHANISM_TYPE; count as usize];
    // SAFETY: `list` holds `count` entries.
    assert_eq!(unsafe { f().C_GetMechanismList.unwrap()(raw_slot, list.as_mut_ptr(), &mut count) }, CKR_OK);
    for &(ty, min, max, flags) in expected {
        assert!(list.contains(&ty), "{ty:#x} not in C_GetMechanismList");
        // SAFETY: CK_MECHANISM_INFO is plain data, written by the call.
        let mut info: CK_MECHANISM_INFO = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is writable.
        assert_eq!(unsafe { f().C_GetMechanismInfo.unwrap()(raw_slot, ty, &mut info) }, CKR_OK);
        assert_eq!((info.ulMinKeySize, info.ulMaxKeySize), (min, max), "{ty:#x} key sizes");
        assert_eq!(info.flags & flags, flags, "{ty:#x} flags {:#x}", info.flags);
    }
}

#[test]
fn pkcs11_tool_lists_the_vendor_mechanisms() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("pkcs11-tool")
        .args(["--module"])
        .arg(common::module_path())
        .arg("--list-mechanisms")
        .env("KMS_PKCS11_HOME", dir.path())
        .env_remove("KMS_PKCS11_CONFIG")
        .output()
        .expect("pkcs11-tool (Debian package opensc)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).to_lowercase();
    for (name, value) in ALL.iter().filter(|(n, _)| n.starts_with("CKM_SM")) {
        assert!(text.contains(&format!("mechtype-0x{value:x}")), "{name} ({value:#x}) missing from:\n{text}");
    }
}
