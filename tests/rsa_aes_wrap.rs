//! `CKM_RSA_AES_KEY_WRAP` (Current Mechanisms 3.0 §2.1.21) through the C ABI: secret and
//! private keys wrapped with an RSA public key and unwrapped with its private key into working
//! keys, the mechanism's listing and parameter checks, damaged blobs, and blobs exchanged with
//! OpenSSL 3 in both directions (RSA-OAEP of the AES key, then `id-aes256-wrap-pad`).
//!
//! `cryptoki` 0.12 has no variant for this mechanism, so wraps and unwraps are raw calls.

mod common;
mod support;

use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, KeyType, ObjectHandle};
use cryptoki::session::Session;
use std::path::Path;
use std::process::Command;
use support::*;

// --- Helpers ---------------------------------------------------------------------------------

/// Bytes of the RSA-2048 block that leads every blob.
const K: usize = 256;
/// RFC 5649 §3 alternative initial value, which `openssl enc` wants spelled out.
const KWP_AIV: &str = "A65959A6";

/// `CK_RSA_PKCS_OAEP_PARAMS` with a label (`CKZ_DATA_SPECIFIED`).
fn oaep(hash: CK_MECHANISM_TYPE, mgf: CK_RSA_PKCS_MGF_TYPE, label: &[u8]) -> CK_RSA_PKCS_OAEP_PARAMS {
    CK_RSA_PKCS_OAEP_PARAMS {
        hashAlg: hash,
        mgf,
        source: CKZ_DATA_SPECIFIED,
        pSourceData: if label.is_empty() { std::ptr::null_mut() } else { label.as_ptr().cast_mut().cast() },
        ulSourceDataLen: label.len() as CK_ULONG,
    }
}

fn sha256_oaep(label: &[u8]) -> CK_RSA_PKCS_OAEP_PARAMS {
    oaep(CKM_SHA256, CKG_MGF1_SHA256, label)
}

/// `CK_RSA_AES_KEY_WRAP_PARAMS` pointing at `oaep`, which must outlive the calls made with it.
fn rsa_aes<'a>(aes_bits: CK_ULONG, oaep: *const CK_RSA_PKCS_OAEP_PARAMS) -> Mech<'a> {
    let p = CK_RSA_AES_KEY_WRAP_PARAMS { ulAESKeyBits: aes_bits, pOAEPParams: oaep.cast_mut() };
    Mech::with(CKM_RSA_AES_KEY_WRAP, &p)
}

fn aes_tpl() -> Tpl {
    secret_tpl(CKK_AES)
}

/// A secret key template whose value may be read back.
fn readable_aes_tpl() -> Tpl {
    aes_tpl().bool(CKA_SENSITIVE, false).bool(CKA_EXTRACTABLE, true)
}

fn private_tpl(kt: CK_KEY_TYPE) -> Tpl {
    Tpl::new().ulong(CKA_CLASS, CKO_PRIVATE_KEY).ulong(CKA_KEY_TYPE, kt).bool(CKA_SIGN, true)
}

/// Encrypts with one key and decrypts with the other: the two hold the same AES value.
fn same_aes_key(s: &Session, a: ObjectHandle, b: ObjectHandle) -> bool {
    let mut iv = [3u8; 12];
    let pt = b"what the original encrypted";
    let ct = s.encrypt(&Mechanism::AesGcm(GcmParams::new(&mut iv, b"", 128.into()).unwrap()), a, pt).unwrap();
    decrypt_once(s, &Mech::gcm(&[3; 12], b"", 128), b, &ct).as_deref() == Ok(&pt[..])
}

fn mechanism_info(s: &Session, ty: CK_MECHANISM_TYPE) -> Result<CK_MECHANISM_INFO, CK_RV> {
    let slot = s.get_session_info().unwrap().slot_id().id();
    let mut info = CK_MECHANISM_INFO { ulMinKeySize: 0, ulMaxKeySize: 0, flags: 0 };
    // SAFETY: a writable CK_MECHANISM_INFO.
    let rv = unsafe { f().C_GetMechanismInfo.unwrap()(slot, ty, &mut info) };
    if rv == CKR_OK { Ok(info) } else { Err(rv) }
}

fn mechanism_list(s: &Session) -> Vec<CK_MECHANISM_TYPE> {
    let slot = s.get_session_info().unwrap().slot_id().id();
    let list = f().C_GetMechanismList.unwrap();
    let mut n: CK_ULONG = 0;
    // SAFETY: a null list asks for the count, written to `n`.
    assert_eq!(unsafe { list(slot, std::ptr::null_mut(), &mut n) }, CKR_OK);
    let mut v = vec![0; n as usize];
    // SAFETY: `v` holds `n` entries.
    assert_eq!(unsafe { list(slot, v.as_mut_ptr(), &mut n) }, CKR_OK);
    v.truncate(n as usize);
    v
}

// --- Round trips -----------------------------------------------------------------------------

#[test]
fn aes_key_unwraps_to_a_key_that_decrypts_what_the_original_encrypted() {
    let s = session();
    let (public, private) = rsa_pair(&s, 2048, &[]);
    let key = gen_aes(&s, 32, &[Attribute::Extractable(true)]);
    let params = sha256_oaep(b"");
    let m = rsa_aes(256, &params);
    // `wrap_key` makes the size query first and checks the output fits what it promised.
    let wrapped = wrap_key(&s, &m, public, key).unwrap_or_else(|rv| panic!("wrap: {}", rv_name(rv)));
    assert_eq!(wrapped.len(), K + 40, "RSA block, then KWP of 32 bytes");
    let unwrapped = unwrap_key(&s, &m, private, &wrapped, &aes_tpl())
        .unwrap_or_else(|rv| panic!("unwrap: {}", rv_name(rv)));
    assert!(same_aes_key(&s, key, unwrapped));
    assert_eq!(ulong_attr(&s, unwrapped, CKA_VALUE_LEN), 32);
}

#[test]
fn ec_private_key_unwraps_to_a_key_that_signs_verifiably() {
    let s = session();
    let (rsa_public, rsa_private) = rsa_pair(&s, 2048, &[]);
    let (ec_public, ec_private) = ec_pair(&s, P256, &[Attribute::Extractable(true)]);
    let label = b"ec import";
    let params = sha256_oaep(label);
    let m = rsa_aes(128, &params);
    let wrapped =
        wrap_key(&s, &m, rsa_public, ec_private).unwrap_or_else(|rv| panic!("wrap: {}", rv_name(rv)));
    let unwrapped = unwrap_key(&s, &m, rsa_private, &wrapped, &private_tpl(CKK_EC))
        .unwrap_or_else(|rv| panic!("unwrap: {}", rv_name(rv)));
    assert_eq!(attr(&s, unwrapped, CKA_EC_PARAMS), Ok(h(P256)));
    let sig = s.sign(&Mechanism::EcdsaSha256, unwrapped, b"signed by the unwrapped key").unwrap();
    s.verify(&Mechanism::EcdsaSha256, ec_public, b"signed by the unwrapped key", &sig).unwrap();
}

#[test]
fn rsa_private_key_unwraps_to_a_key_that_signs_verifiably() {
    let s = session();
    let (wrapping_public, unwrapping_private) = rsa_pair(&s, 2048, &[]);
    let (public, private) = rsa_pair(&s, 2048, &[Attribute::Extractable(true)]);
    let params = oaep(CKM_SHA_1, CKG_MGF1_SHA1, b"");
    let m = rsa_aes(192, &params);
    let wrapped = wrap_key(&s, &m, wrapping_public, private).unwrap();
    let unwrapped = unwrap_key(&s, &m, unwrapping_private, &wrapped, &private_tpl(CKK_RSA)).unwrap();
    assert_eq!(attr(&s, unwrapped, CKA_MODULUS), attr(&s, public, CKA_MODULUS));
    let sig = s.sign(&Mechanism::Sha256RsaPkcs, unwrapped, b"m").unwrap();
    s.verify(&Mechanism::Sha256RsaPkcs, public, b"m", &sig).unwrap();
}

// --- Listing and misuse ----------------------------------------------------------------------

#[test]
fn mechanism_is_listed_for_wrap_and_unwrap_only() {
    let s = session();
    assert!(mechanism_list(&s).contains(&CKM_RSA_AES_KEY_WRAP));
    let info = mechanism_info(&s, CKM_RSA_AES_KEY_WRAP).unwrap();
    let oaep_info = mechanism_info(&s, CKM_RSA_PKCS_OAEP).unwrap();
    assert_eq!(info.flags, CKF_WRAP | CKF_UNWRAP);
    assert_eq!((info.ulMinKeySize, info.ulMaxKeySize), (oaep_info.ulMinKeySize, oaep_info.ulMaxKeySize));
    let (public, private) = rsa_pair(&s, 2048, &[]);
    let params = sha256_oaep(b"");
    let m = rsa_aes(256, &params);
    assert_rv(encrypt_init(&s, &m, public), CKR_MECHANISM_INVALID, "C_EncryptInit");
    assert_rv(decrypt_init(&s, &m, private), CKR_MECHANISM_INVALID, "C_DecryptInit");
    assert_rv(sign_init(&s, &m, private), CKR_MECHANISM_INVALID, "C_SignInit");
}

#[test]
fn bad_parameters_are_mechanism_param_invalid() {
    let s = session();
    let (public, private) = rsa_pair(&s, 2048, &[]);
    let key = gen_aes(&s, 16, &[Attribute::Extractable(true)]);
    let good = sha256_oaep(b"");
    let bad_hash = oaep(CKM_MD5, CKG_MGF1_SHA256, b"");
    let mut bad_source = sha256_oaep(b"");
    bad_source.source = 0x99;
    let size = std::mem::size_of::<CK_RSA_AES_KEY_WRAP_PARAMS>() as CK_ULONG;
    let cases = [
        ("no parameter", Mech::new(CKM_RSA_AES_KEY_WRAP)),
        ("short parameter", rsa_aes(256, &good).with_len(size - 1)),
        ("long parameter", rsa_aes(256, &good).with_len(size + 8)),
        ("0-bit AES key", rsa_aes(0, &good)),
        ("64-bit AES key", rsa_aes(64, &good)),
        ("512-bit AES key", rsa_aes(512, &good)),
        ("no OAEP parameters", rsa_aes(256, std::ptr::null())),
        ("MD5 OAEP", rsa_aes(256, &bad_hash)),
        ("unknown label source", rsa_aes(256, &bad_source)),
    ];
    for (what, m) in &cases {
        assert_eq!(wrap_key(&s, m, public, key), Err(CKR_MECHANISM_PARAM_INVALID), "wrap, {what}");
        assert_eq!(
            unwrap_key(&s, m, private, &[0; K + 24], &aes_tpl()),
            Err(CKR_MECHANISM_PARAM_INVALID),
            "unwrap, {what}"
        );
    }
}

#[test]
fn keys_of_the_wrong_kind_are_type_inconsistent() {
    let s = session();
    let (public, private) = rsa_pair(&s, 2048, &[]);
    let aes = gen_aes(&s, 32, &[]);
    let key = gen_aes(&s, 16, &[Attribute::Extractable(true)]);
    let params = sha256_oaep(b"");
    let m = rsa_aes(256, &params);
    assert_eq!(wrap_key(&s, &m, aes, key), Err(CKR_WRAPPING_KEY_TYPE_INCONSISTENT), "AES wrapping key");
    let wrapped = wrap_key(&s, &m, public, key).unwrap();
    assert_eq!(
        unwrap_key(&s, &m, aes, &wrapped, &aes_tpl()),
        Err(CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT),
        "AES unwrapping key"
    );
    assert!(unwrap_key(&s, &m, private, &wrapped, &aes_tpl()).is_ok());
}

#[test]
fn damaged_blobs_are_wrapped_key_invalid_and_short_ones_len_range() {
    let s = session();
    let (public, private) = rsa_pair(&s, 2048, &[]);
    let key = gen_aes(&s, 32, &[Attribute::Extractable(true)]);
    let params = sha256_oaep(b"label");
    let m = rsa_aes(256, &params);
    let wrapped = wrap_key(&s, &m, public, key).unwrap();
    for i in [0, K / 2, K - 1, K, K + 20, wrapped.len() - 1] {
        let mut t = wrapped.clone();
        t[i] ^= 0x80;
        assert_eq!(unwrap_key(&s, &m, private, &t, &aes_tpl()), Err(CKR_WRAPPED_KEY_INVALID), "byte {i}");
    }
    let other_label = sha256_oaep(b"other");
    assert_eq!(
        unwrap_key(&s, &rsa_aes(256, &other_label), private, &wrapped, &aes_tpl()),
        Err(CKR_WRAPPED_KEY_INVALID),
        "another label"
    );
    assert_eq!(
        unwrap_key(&s, &rsa_aes(128, &params), private, &wrapped, &aes_tpl()),
        Err(CKR_WRAPPED_KEY_INVALID),
        "another AES key size"
    );
    for len in [K - 1, K, K + 8, K + 15] {
        assert_eq!(
            unwrap_key(&s, &m, private, &wrapped[..len], &aes_tpl()),
            Err(CKR_WRAPPED_KEY_LEN_RANGE),
            "{len} bytes"
        );
    }
    assert!(unwrap_key(&s, &m, private, &wrapped, &aes_tpl()).is_ok(), "the blob itself");
}

// --- OpenSSL ---------------------------------------------------------------------------------

/// Runs `openssl` in `dir`; panics with its output when it fails.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (Debian package openssl) is needed for the interoperability checks");
    assert!(
        out.status.success(),
        "openssl {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The `pkeyutl` options of SHA-256 OAEP with `label`.
fn oaep_opts(label: &[u8]) -> Vec<String> {
    let mut v: Vec<String> = ["rsa_padding_mode:oaep", "rsa_oaep_md:sha256", "rsa_mgf1_md:sha256"]
        .iter()
        .flat_map(|o| ["-pkeyopt".to_string(), o.to_string()])
        .collect();
    v.extend(["-pkeyopt".to_string(), format!("rsa_oaep_label:{}", hex(label))]);
    v
}

#[test]
fn a_blob_made_by_openssl_unwraps_in_the_token() {
    let s = session();
    let (public, private) = rsa_pair(&s, 2048, &[]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("pub.der"), attr(&s, public, CKA_PUBLIC_KEY_INFO).unwrap()).unwrap();
    let kek = pattern(32, 11);
    let target = pattern(32, 29);
    std::fs::write(d.join("kek.bin"), &kek).unwrap();
    std::fs::write(d.join("target.bin"), &target).unwrap();
    let label = b"from openssl";
    let mut args = vec!["pkeyutl", "-encrypt", "-pubin", "-keyform", "DER", "-inkey", "pub.der"];
    let opts = oaep_opts(label);
    args.extend(opts.iter().map(String::as_str));
    args.extend(["-in", "kek.bin", "-out", "sealed-kek.bin"]);
    openssl(d, &args);
    let kek_hex = hex(&kek);
    openssl(
        d,
        &[
            "enc",
            "-id-aes256-wrap-pad",
            "-K",
            &kek_hex,
            "-iv",
            KWP_AIV,
            "-in",
            "target.bin",
            "-out",
            "kwp.bin",
        ],
    );
    let mut blob = std::fs::read(d.join("sealed-kek.bin")).unwrap();
    assert_eq!(blob.len(), K);
    blob.extend(std::fs::read(d.join("kwp.bin")).unwrap());
    let params = sha256_oaep(label);
    let unwrapped = unwrap_key(&s, &rsa_aes(256, &params), private, &blob, &readable_aes_tpl())
        .unwrap_or_else(|rv| panic!("unwrap: {}", rv_name(rv)));
    assert_eq!(attr(&s, unwrapped, CKA_VALUE), Ok(target));
}

#[test]
fn a_blob_made_by_the_token_unwraps_with_openssl() {
    let s = session();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The RSA key is OpenSSL's, brought into the token as PKCS#8 under KWP, so both hold it.
    let rsa_2048 = "rsa_keygen_bits:2048";
    openssl(d, &["genpkey", "-algorithm", "RSA", "-pkeyopt", rsa_2048, "-out", "key.pem"]);
    // `genpkey -outform DER` writes PKCS#1; PKCS#8 is what C_UnwrapKey takes.
    openssl(d, &["pkcs8", "-topk8", "-nocrypt", "-in", "key.pem", "-outform", "DER", "-out", "key.der"]);
    let import_kek = pattern(32, 5);
    let import_hex = hex(&import_kek);
    openssl(
        d,
        &[
            "enc",
            "-id-aes256-wrap-pad",
            "-K",
            &import_hex,
            "-iv",
            KWP_AIV,
            "-in",
            "key.der",
            "-out",
            "key.kwp",
        ],
    );
    let import_key = aes_key(&s, &import_kek);
    let private = unwrap_key(
        &s,
        &Mech::new(CKM_AES_KEY_WRAP_KWP),
        import_key,
        &std::fs::read(d.join("key.kwp")).unwrap(),
        &private_tpl(CKK_RSA),
    )
    .unwrap_or_else(|rv| panic!("PKCS#8 import: {}", rv_name(rv)));
    let public = create_object(
        &s,
        &Tpl::new()
            .ulong(CKA_CLASS, CKO_PUBLIC_KEY)
            .ulong(CKA_KEY_TYPE, CKK_RSA)
            .bytes(CKA_MODULUS, &attr(&s, private, CKA_MODULUS).unwrap())
            .bytes(CKA_PUBLIC_EXPONENT, &attr(&s, private, CKA_PUBLIC_EXPONENT).unwrap())
            .bool(CKA_WRAP, true),
    )
    .unwrap();
    let value = pattern(32, 77);
    let key = secret_key(&s, KeyType::AES, &value, &[Attribute::Extractable(true)]);
    let label = b"to openssl";
    let params = sha256_oaep(label);
    let blob = wrap_key(&s, &rsa_aes(256, &params), public, key).unwrap();
    std::fs::write(d.join("sealed-kek.bin"), &blob[..K]).unwrap();
    std::fs::write(d.join("kwp.bin"), &blob[K..]).unwrap();
    let mut args = vec!["pkeyutl", "-decrypt", "-keyform", "DER", "-inkey", "key.der"];
    let opts = oaep_opts(label);
    args.extend(opts.iter().map(String::as_str));
    args.extend(["-in", "sealed-kek.bin", "-out", "kek.bin"]);
    openssl(d, &args);
    let kek = std::fs::read(d.join("kek.bin")).unwrap();
    assert_eq!(kek.len(), 32, "a 256-bit AES key");
    let kek_hex = hex(&kek);
    openssl(
        d,
        &[
            "enc",
            "-d",
            "-id-aes256-wrap-pad",
            "-K",
            &kek_hex,
            "-iv",
            KWP_AIV,
            "-in",
            "kwp.bin",
            "-out",
            "key.bin",
        ],
    );
    assert_eq!(std::fs::read(d.join("key.bin")).unwrap(), value);
}
