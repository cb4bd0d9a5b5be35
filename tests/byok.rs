//! Bring your own key, as a customer does it: an EXTERNAL key, import parameters, material
//! wrapped with OpenSSL alone and imported through `kmsctl` or `C_UnwrapKey`, then data that
//! the token and OpenSSL (holding the customer's copy) exchange both ways. This binary's token
//! forbids plaintext import (`[policy] plaintext_import = false`), so every key here arrives
//! wrapped.

mod common;

use cryptoki::error::{Error, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use cryptoki_sys::CK_ATTRIBUTE_TYPE;
use kms_pkcs11::vendor::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

// --- Configuration, clock, tools --------------------------------------------------------------

/// The KMS binaries' sections, with plaintext import refused: keys arrive wrapped here.
fn sections(dir: &Path) -> String {
    common::kms_sections(dir) + "\n[policy]\nplaintext_import = false\n"
}

fn env() -> &'static common::Env {
    common::env_with(sections)
}

fn clock_file() -> PathBuf {
    common::clock_file(env())
}

fn now() -> u64 {
    common::read_clock(&clock_file())
}

/// Import tokens live 24 hours by the library's clock: tests that move it hold the write side,
/// the others the read side, so that no token expires under a test that did not expect it.
static CLOCK: RwLock<()> = RwLock::new(());

fn steady_clock() -> RwLockReadGuard<'static, ()> {
    env();
    CLOCK.read().unwrap_or_else(|e| e.into_inner())
}

fn moving_clock() -> RwLockWriteGuard<'static, ()> {
    env();
    CLOCK.write().unwrap_or_else(|e| e.into_inner())
}

fn advance(seconds: u64) {
    common::write_clock(&clock_file(), now() + seconds);
}

fn session(token: &str) -> Session {
    env();
    common::user_session(token)
}

/// A scratch directory for the customer's files.
fn workdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn kmsctl(token: &str, args: &[&str]) -> Output {
    common::kmsctl(env(), &[&["--token", token], args].concat())
}

#[track_caller]
fn json(token: &str, args: &[&str]) -> Value {
    common::kmsctl_json(env(), &[&["--token", token], args].concat())
}

/// A failed kmsctl run's KMS error code.
#[track_caller]
fn failure(token: &str, args: &[&str]) -> String {
    let out = kmsctl(token, args);
    assert!(!out.status.success(), "kmsctl {args:?} succeeded");
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err.lines().find(|l| l.starts_with("kmsctl: ")).unwrap_or_else(|| panic!("no error in {err}"));
    line["kmsctl: ".len()..].split(':').next().unwrap().to_string()
}

/// Runs `openssl` with `args` in `dir`; it must succeed.
#[track_caller]
fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("run openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

fn text(v: &Value, field: &str) -> String {
    v[field].as_str().unwrap_or_else(|| panic!("{field} missing in {v}")).to_string()
}

fn vendor(ty: CK_ATTRIBUTE_TYPE, value: &[u8]) -> Attribute {
    Attribute::VendorDefined((AttributeType::VendorDefined(ty), value.to_vec()))
}

fn attr(s: &Session, o: ObjectHandle, ty: CK_ATTRIBUTE_TYPE) -> Vec<u8> {
    match &s.get_attributes(o, &[AttributeType::VendorDefined(ty)]).unwrap()[..] {
        [Attribute::VendorDefined((_, v))] => v.clone(),
        other => panic!("attribute {ty:#x}: {other:?}"),
    }
}

fn attr_text(s: &Session, o: ObjectHandle, ty: CK_ATTRIBUTE_TYPE) -> String {
    String::from_utf8(attr(s, o, ty)).unwrap()
}

fn attr_ulong(s: &Session, o: ObjectHandle, ty: CK_ATTRIBUTE_TYPE) -> u64 {
    u64::from_ne_bytes(attr(s, o, ty).try_into().unwrap())
}

/// The key object of a managed key (CKA_ID is its key id) of one class.
fn key_object(s: &Session, key_id: &str, class: ObjectClass) -> ObjectHandle {
    let found =
        s.find_objects(&[Attribute::Id(key_id.as_bytes().to_vec()), Attribute::Class(class)]).unwrap();
    assert_eq!(found.len(), 1, "one {class:?} object for key {key_id}");
    found[0]
}

fn rv(e: Error) -> RvError {
    match e {
        Error::Pkcs11(rv, _) => rv,
        other => panic!("not a PKCS#11 error: {other:?}"),
    }
}

/// The arguments of `kmsctl import-key-material`: `file` into `key_id` with `import_token`.
fn import_args<'a>(key_id: &'a str, file: &'a str, import_token: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    let mut args =
        vec!["import-key-material", key_id, "--encrypted-key-material", file, "--import-token", import_token];
    args.extend_from_slice(more);
    args
}

/// A file of the customer's directory, as kmsctl (run elsewhere) names it.
fn path(dir: &Path, file: &str) -> String {
    dir.join(file).to_str().unwrap().to_string()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Import parameters for `key_id`, with the wrapping public key written as PEM into `dir`.
fn parameters(token: &str, key_id: &str, dir: &Path, spec: &str, algorithm: &str) -> (String, PathBuf) {
    let pem = dir.join(format!("wrap-{key_id}-{algorithm}.pem"));
    let p = json(
        token,
        &[
            "get-parameters-for-import",
            key_id,
            "--wrapping-key-spec",
            spec,
            "--wrapping-algorithm",
            algorithm,
            "--public-key-out",
            pem.to_str().unwrap(),
        ],
    );
    assert_eq!(text(&p, "KeyId"), key_id);
    (text(&p, "ImportToken"), pem)
}

/// `openssl pkeyutl -encrypt` of `input` under the RSA public key `pem` with RSAES-OAEP
/// (`md` both for OAEP and MGF1) or, with `md` = None, PKCS #1 v1.5.
fn rsa_encrypt(dir: &Path, pem: &Path, input: &str, output: &str, md: Option<&str>) {
    let mut args =
        vec!["pkeyutl", "-encrypt", "-pubin", "-inkey", pem.to_str().unwrap(), "-in", input, "-out", output];
    let opts;
    if let Some(md) = md {
        opts = [format!("rsa_oaep_md:{md}"), format!("rsa_mgf1_md:{md}")];
        args.extend(["-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", &opts[0], "-pkeyopt", &opts[1]]);
    } else {
        args.extend(["-pkeyopt", "rsa_padding_mode:pkcs1"]);
    }
    openssl(dir, &args);
}

fn new_external(token: &str, spec: &str) -> String {
    let k = json(token, &["create-key", "--origin", "EXTERNAL", "--key-spec", spec]);
    assert_eq!(text(&k, "Origin"), "EXTERNAL");
    assert_eq!(text(&k, "KeyState"), "PendingImport");
    assert_eq!(text(&k, "PrimaryKeyVersion"), "");
    text(&k, "KeyId")
}

fn aes_cbc(iv: [u8; 16]) -> Mechanism<'static> {
    Mechanism::AesCbc(iv)
}

// --- Tests ------------------------------------------------------------------------------------

/// The customer's whole symmetric flow with OpenSSL alone: the token encrypts with AES-CBC what
/// `openssl enc` decrypts with the customer's key.bin, and the reverse.
#[test]
fn openssl_customer_imports_an_aes_key_and_both_sides_read_each_other() {
    let _clock = steady_clock();
    let t = "t00";
    let s = session(t);
    let dir = workdir();
    let d = dir.path();
    let key_id = new_external(t, "Aliyun_AES_256");
    let handle = key_object(&s, &key_id, ObjectClass::SECRET_KEY);
    assert_eq!(attr_text(&s, handle, CKA_KMS_KEY_STATE), "PendingImport");
    assert_eq!(
        rv(s.encrypt(&aes_cbc([0; 16]), handle, &[0; 16]).unwrap_err()),
        RvError::KeyFunctionNotPermitted
    );

    let (import_token, pem) = parameters(t, &key_id, d, "RSA_2048", "RSAES_OAEP_SHA_256");
    openssl(d, &["rand", "-out", "key.bin", "32"]);
    rsa_encrypt(d, &pem, "key.bin", "key.enc", Some("sha256"));
    let k = json(t, &import_args(&key_id, &path(d, "key.enc"), &import_token, &[]));
    assert_eq!(text(&k, "KeyState"), "Enabled");
    assert_eq!(text(&k, "PrimaryKeyVersion").len(), 36);
    assert_eq!(attr_text(&s, handle, CKA_KMS_KEY_STATE), "Enabled");

    let key_hex = hex(&std::fs::read(d.join("key.bin")).unwrap());
    let iv = [7u8; 16];
    let plaintext = b"thirty-two bytes of customer data";
    let plaintext = &plaintext[..32];
    let ct = s.encrypt(&aes_cbc(iv), handle, plaintext).unwrap();
    std::fs::write(d.join("token.ct"), &ct).unwrap();
    let opened = openssl(
        d,
        &["enc", "-d", "-aes-256-cbc", "-nopad", "-K", &key_hex, "-iv", &hex(&iv), "-in", "token.ct"],
    );
    assert_eq!(opened, plaintext, "OpenSSL opens what the token sealed");
    std::fs::write(d.join("pt"), plaintext).unwrap();
    let sealed =
        openssl(d, &["enc", "-aes-256-cbc", "-nopad", "-K", &key_hex, "-iv", &hex(&iv), "-in", "pt"]);
    assert_eq!(
        s.decrypt(&aes_cbc(iv), handle, &sealed).unwrap(),
        plaintext,
        "the token opens what OpenSSL sealed"
    );

    // The same material again (to set an expiry) is accepted; other material is not.
    let later = (now() + 30 * 86_400).to_string();
    let enc = path(d, "key.enc");
    let k = json(t, &import_args(&key_id, &enc, &import_token, &["--key-material-expire-unix", &later]));
    assert!(k["MaterialExpireTime"].is_string());
    assert_eq!(attr_ulong(&s, handle, CKA_KMS_MATERIAL_EXPIRY), later.parse::<u64>().unwrap());
    openssl(d, &["rand", "-out", "other.bin", "32"]);
    rsa_encrypt(d, &pem, "other.bin", "other.enc", Some("sha256"));
    let file = path(d, "other.enc");
    let args = import_args(&key_id, &file, &import_token, &[]);
    assert_eq!(failure(t, &args), "Rejected.IncorrectKeyMaterial");
    assert_eq!(s.decrypt(&aes_cbc(iv), handle, &sealed).unwrap(), plaintext, "the key kept its material");
}

/// The wrapping public key is a token object applications see, tagged with the key it imports
/// into and its expiry; the private half unwraps only (it decrypts nothing).
#[test]
fn the_wrapping_key_is_visible_and_only_unwraps() {
    let _clock = steady_clock();
    let t = "t01";
    let s = session(t);
    let dir = workdir();
    let key_id = new_external(t, "Aliyun_AES_256");
    let before = now();
    let (import_token, pem) = parameters(t, &key_id, dir.path(), "RSA_2048", "RSAES_OAEP_SHA_1");
    let publics = s
        .find_objects(&[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            vendor(CKA_KMS_IMPORT_KEY_ID, key_id.as_bytes()),
        ])
        .unwrap();
    assert_eq!(publics.len(), 1);
    let public = publics[0];
    assert_eq!(attr_text(&s, public, CKA_KMS_IMPORT_TOKEN), import_token);
    assert_eq!(attr_text(&s, public, CKA_KMS_WRAPPING_ALGORITHM), "RSAES_OAEP_SHA_1");
    let expiry = attr_ulong(&s, public, CKA_KMS_IMPORT_EXPIRY);
    assert!((before + 86_400..=now() + 86_400).contains(&expiry), "valid 24 hours");
    // The PEM written is that object's key.
    let der = openssl(dir.path(), &["pkey", "-pubin", "-in", pem.to_str().unwrap(), "-outform", "DER"]);
    match &s.get_attributes(public, &[AttributeType::PublicKeyInfo]).unwrap()[..] {
        [Attribute::PublicKeyInfo(info)] => assert_eq!(info, &der),
        other => panic!("{other:?}"),
    }
    let private = s
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            vendor(CKA_KMS_IMPORT_TOKEN, import_token.as_bytes()),
        ])
        .unwrap()[0];
    let oaep = PkcsOaepParams::new(
        cryptoki::mechanism::MechanismType::SHA1,
        PkcsMgfType::MGF1_SHA1,
        PkcsOaepSource::empty(),
    );
    let e = s.decrypt(&Mechanism::RsaPkcsOaep(oaep), private, &[0u8; 256]).unwrap_err();
    assert_eq!(rv(e), RvError::KeyFunctionNotPermitted);
}

/// `C_UnwrapKey` with the wrapping private key is ImportKeyMaterial for PKCS#11 applications:
/// the template names the CMK, the result is its key object. The mechanism must be the one the
/// parameters were issued for.
#[test]
fn c_unwrap_key_imports_into_the_named_key() {
    let _clock = steady_clock();
    let t = "t02";
    let s = session(t);
    let dir = workdir();
    let d = dir.path();
    for (algorithm, md) in [("RSAES_OAEP_SHA_1", Some("sha1")), ("RSAES_PKCS1_V1_5", None)] {
        let key_id = new_external(t, "Aliyun_AES_256");
        let (import_token, pem) = parameters(t, &key_id, d, "RSA_2048", algorithm);
        openssl(d, &["rand", "-out", "key.bin", "32"]);
        rsa_encrypt(d, &pem, "key.bin", "key.enc", md);
        let wrapped = std::fs::read(d.join("key.enc")).unwrap();
        let private = s
            .find_objects(&[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                vendor(CKA_KMS_IMPORT_TOKEN, import_token.as_bytes()),
            ])
            .unwrap()[0];
        let template = [vendor(CKA_KMS_KEY_ID, key_id.as_bytes())];
        // A mechanism other than the issued one changes nothing.
        let other = if md.is_some() { Mechanism::RsaPkcs } else { oaep_sha256() };
        assert_eq!(
            rv(s.unwrap_key(&other, private, &wrapped, &template).unwrap_err()),
            RvError::MechanismInvalid
        );
        let mechanism = match md {
            Some(_) => Mechanism::RsaPkcsOaep(PkcsOaepParams::new(
                cryptoki::mechanism::MechanismType::SHA1,
                PkcsMgfType::MGF1_SHA1,
                PkcsOaepSource::empty(),
            )),
            None => Mechanism::RsaPkcs,
        };
        // Anything but the key's name in the template is refused: the key keeps its own attributes.
        let labelled = [vendor(CKA_KMS_KEY_ID, key_id.as_bytes()), Attribute::Label(b"x".to_vec())];
        assert_eq!(
            rv(s.unwrap_key(&mechanism, private, &wrapped, &labelled).unwrap_err()),
            RvError::TemplateInconsistent
        );
        let handle = s.unwrap_key(&mechanism, private, &wrapped, &template).unwrap();
        assert_eq!(handle, key_object(&s, &key_id, ObjectClass::SECRET_KEY));
        assert_eq!(attr_text(&s, handle, CKA_KMS_KEY_STATE), "Enabled");
        // ECB of one block shows the material is key.bin.
        let block = s.encrypt(&Mechanism::AesEcb, handle, &[0u8; 16]).unwrap();
        std::fs::write(d.join("zero"), [0u8; 16]).unwrap();
        let key_hex = hex(&std::fs::read(d.join("key.bin")).unwrap());
        assert_eq!(openssl(d, &["enc", "-aes-256-ecb", "-nopad", "-K", &key_hex, "-in", "zero"]), block);
    }
}

fn oaep_sha256() -> Mechanism<'static> {
    Mechanism::RsaPkcsOaep(PkcsOaepParams::new(
        cryptoki::mechanism::MechanismType::SHA256,
        PkcsMgfType::MGF1_SHA256,
        PkcsOaepSource::empty(),
    ))
}

/// Every bad import fails with its own code and leaves the key as it was.
#[test]
fn bad_imports_change_nothing() {
    let _clock = steady_clock();
    let t = "t03";
    let s = session(t);
    let dir = workdir();
    let d = dir.path();
    let key_id = new_external(t, "Aliyun_AES_256");
    let other_id = new_external(t, "Aliyun_AES_256");
    let (import_token, pem) = parameters(t, &key_id, d, "RSA_2048", "RSAES_OAEP_SHA_256");
    let (other_token, _) = parameters(t, &other_id, d, "RSA_2048", "RSAES_OAEP_SHA_256");
    openssl(d, &["rand", "-out", "short.bin", "16"]);
    rsa_encrypt(d, &pem, "short.bin", "short.enc", Some("sha256"));
    let import = |token: &str, file: &str| failure(t, &import_args(&key_id, &path(d, file), token, &[]));
    assert_eq!(import(&import_token, "short.enc"), "InvalidParameter.KeyMaterial", "16 bytes for AES-256");
    assert_eq!(import(&other_token, "short.enc"), "Forbidden.ImportTokenInvalid", "another key's token");
    assert_eq!(import("no-such-token", "short.enc"), "Forbidden.ImportTokenInvalid");
    std::fs::write(d.join("garbage.enc"), [1u8; 256]).unwrap();
    assert_eq!(import(&import_token, "garbage.enc"), "CKR_WRAPPED_KEY_INVALID");
    // A key the KMS made takes no material, and SM2PKE carries SM4 keys only.
    let native = text(&json(t, &["create-key"]), "KeyId");
    let args = ["get-parameters-for-import", native.as_str()];
    assert_eq!(failure(t, &args), "UnsupportedOperation");
    let args = [
        "get-parameters-for-import",
        &key_id,
        "--wrapping-key-spec",
        "EC_SM2",
        "--wrapping-algorithm",
        "SM2PKE",
    ];
    assert_eq!(failure(t, &args), "InvalidParameter");
    let args = ["get-parameters-for-import", &key_id, "--wrapping-algorithm", "SM2PKE"];
    assert_eq!(failure(t, &args), "InvalidParameter", "SM2PKE needs an EC_SM2 wrapping key");
    let k = json(t, &["describe-key", &key_id]);
    assert_eq!(text(&k, "KeyState"), "PendingImport");
    assert_eq!(text(&k, "PrimaryKeyVersion"), "");
    let handle = key_object(&s, &key_id, ObjectClass::SECRET_KEY);
    assert_eq!(
        rv(s.encrypt(&Mechanism::AesEcb, handle, &[0; 16]).unwrap_err()),
        RvError::KeyFunctionNotPermitted
    );
}

/// SM4 material travels under an SM2 wrapping key (SM2PKE), encrypted by OpenSSL.
#[test]
fn sm4_material_arrives_under_sm2() {
    let _clock = steady_clock();
    let t = "t04";
    let s = session(t);
    let dir = workdir();
    let d = dir.path();
    let key_id = new_external(t, "Aliyun_SM4");
    let (import_token, pem) = parameters(t, &key_id, d, "EC_SM2", "SM2PKE");
    openssl(d, &["rand", "-out", "sm4.bin", "16"]);
    openssl(
        d,
        &[
            "pkeyutl",
            "-encrypt",
            "-pubin",
            "-inkey",
            pem.to_str().unwrap(),
            "-in",
            "sm4.bin",
            "-out",
            "sm4.enc",
        ],
    );
    let k = json(t, &import_args(&key_id, &path(d, "sm4.enc"), &import_token, &[]));
    assert_eq!(text(&k, "KeyState"), "Enabled");
    let handle = key_object(&s, &key_id, ObjectClass::SECRET_KEY);
    let sm4_ecb =
        Mechanism::VendorDefined(cryptoki::mechanism::vendor_defined::VendorDefinedMechanism::new::<()>(
            cryptoki::mechanism::MechanismType::new_vendor_defined(CKM_SM4_ECB).unwrap(),
            None,
        ));
    let block = s.encrypt(&sm4_ecb, handle, &[0u8; 16]).unwrap();
    std::fs::write(d.join("zero"), [0u8; 16]).unwrap();
    let key_hex = hex(&std::fs::read(d.join("sm4.bin")).unwrap());
    assert_eq!(openssl(d, &["enc", "-sm4-ecb", "-nopad", "-K", &key_hex, "-in", "zero"]), block);

    // A PKCS#11 application does the same with C_Encrypt (CKM_SM2_RAW, C1‖C3‖C2) under the
    // visible wrapping public key and C_UnwrapKey with its private half.
    let key_id = new_external(t, "Aliyun_SM4");
    let (import_token, _) = parameters(t, &key_id, d, "EC_SM2", "SM2PKE");
    let find = |class| {
        s.find_objects(&[Attribute::Class(class), vendor(CKA_KMS_IMPORT_TOKEN, import_token.as_bytes())])
            .unwrap()[0]
    };
    let sm2_raw =
        Mechanism::VendorDefined(cryptoki::mechanism::vendor_defined::VendorDefinedMechanism::new::<()>(
            cryptoki::mechanism::MechanismType::new_vendor_defined(CKM_SM2_RAW).unwrap(),
            None,
        ));
    let material = [0x5au8; 16];
    let wrapped = s.encrypt(&sm2_raw, find(ObjectClass::PUBLIC_KEY), &material).unwrap();
    assert_eq!(wrapped[0], 0x04, "C1 is an uncompressed point");
    let template = [vendor(CKA_KMS_KEY_ID, key_id.as_bytes()), Attribute::Class(ObjectClass::SECRET_KEY)];
    let handle = s.unwrap_key(&sm2_raw, find(ObjectClass::PRIVATE_KEY), &wrapped, &template).unwrap();
    assert_eq!(attr_text(&s, handle, CKA_KMS_KEY_STATE), "Enabled");
    let block = s.encrypt(&sm4_ecb, handle, &[0u8; 16]).unwrap();
    assert_eq!(openssl(d, &["enc", "-sm4-ecb", "-nopad", "-K", &hex(&material), "-in", "zero"]), block);
}

/// Material imported with an expiry is erased once the expiry passes: the key is back in
/// PendingImport, and the same material (only that) brings it and its data back.
#[test]
fn expired_material_is_erased_until_imported_again() {
    let _clock = moving_clock();
    let t = "t05";
    let s = session(t);
    let dir = workdir();
    let d = dir.path();
    let key_id = new_external(t, "Aliyun_AES_256");
    let (import_token, pem) = parameters(t, &key_id, d, "RSA_2048", "RSAES_OAEP_SHA_256");
    openssl(d, &["rand", "-out", "key.bin", "32"]);
    rsa_encrypt(d, &pem, "key.bin", "key.enc", Some("sha256"));
    let expiry = (now() + 3600).to_string();
    let enc = path(d, "key.enc");
    let args = import_args(key_id.as_str(), &enc, &import_token, &["--key-material-expire-unix", &expiry]);
    let k = json(t, &args);
    assert_eq!(text(&k, "KeyState"), "Enabled");
    let past = now().to_string();
    let mut in_the_past = args.clone();
    in_the_past[7] = &past;
    assert_eq!(failure(t, &in_the_past), "InvalidParameter", "an expiry must lie ahead");
    let handle = key_object(&s, &key_id, ObjectClass::SECRET_KEY);
    let gcm_iv = [3u8; 12];
    let ct = s
        .encrypt(
            &Mechanism::AesGcm(
                cryptoki::mechanism::aead::GcmParams::new(&mut gcm_iv.clone(), &[], 128.into()).unwrap(),
            ),
            handle,
            b"kept",
        )
        .unwrap();

    advance(3601);
    let e = s.encrypt(&Mechanism::AesEcb, handle, &[0; 16]).unwrap_err();
    assert_eq!(rv(e), RvError::KeyFunctionNotPermitted);
    assert_eq!(attr_text(&s, handle, CKA_KMS_KEY_STATE), "PendingImport");
    let k = json(t, &["describe-key", &key_id]);
    assert_eq!(text(&k, "KeyState"), "PendingImport");
    assert!(json(t, &["list-key-versions", &key_id]).as_array().unwrap().is_empty(), "the version is gone");

    openssl(d, &["rand", "-out", "other.bin", "32"]);
    rsa_encrypt(d, &pem, "other.bin", "other.enc", Some("sha256"));
    let file = path(d, "other.enc");
    let args = import_args(&key_id, &file, &import_token, &[]);
    assert_eq!(failure(t, &args), "Rejected.IncorrectKeyMaterial", "only the same material comes back");
    let k = json(t, &import_args(&key_id, &path(d, "key.enc"), &import_token, &[]));
    assert_eq!(text(&k, "KeyState"), "Enabled");
    let opened = s
        .decrypt(
            &Mechanism::AesGcm(
                cryptoki::mechanism::aead::GcmParams::new(&mut gcm_iv.clone(), &[], 128.into()).unwrap(),
            ),
            handle,
            &ct,
        )
        .unwrap();
    assert_eq!(opened, b"kept", "data sealed before the expiry opens again");

    // Import tokens expire after 24 hours.
    advance(86_400);
    assert_eq!(failure(t, &args), "Rejected.ImportTokenExpired");
}

/// An EXTERNAL key made through PKCS#11 (the vendor origin attribute in the template), and the
/// policy that leaves wrapped import only.
#[test]
fn pkcs11_applications_make_external_keys_and_cannot_import_plaintext() {
    let _clock = steady_clock();
    let t = "t06";
    let s = session(t);
    let template = [
        Attribute::Token(true),
        Attribute::ValueLen(32.into()),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
        vendor(CKA_KMS_ORIGIN, b"EXTERNAL"),
    ];
    let key = s.generate_key(&Mechanism::AesKeyGen, &template).unwrap();
    assert_eq!(attr_text(&s, key, CKA_KMS_ORIGIN), "EXTERNAL");
    assert_eq!(attr_text(&s, key, CKA_KMS_KEY_STATE), "PendingImport");
    assert_eq!(
        rv(s.encrypt(&Mechanism::AesEcb, key, &[0; 16]).unwrap_err()),
        RvError::KeyFunctionNotPermitted
    );
    let key_id = attr_text(&s, key, CKA_KMS_KEY_ID);
    assert_eq!(text(&json(t, &["describe-key", &key_id]), "Origin"), "EXTERNAL");
    // An EXTERNAL key pair: both halves wait for the material.
    let (public, private) = s
        .generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[
                Attribute::Token(true),
                Attribute::EcParams(vec![0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]),
            ],
            &[Attribute::Token(true), Attribute::Sign(true), vendor(CKA_KMS_ORIGIN, b"EXTERNAL")],
        )
        .unwrap();
    assert_eq!(attr_text(&s, private, CKA_KMS_KEY_STATE), "PendingImport");
    assert_eq!(attr_text(&s, public, CKA_KMS_KEY_SPEC), "EC_P256");
    let e = s.sign(&Mechanism::Ecdsa, private, &[0u8; 32]).unwrap_err();
    assert_eq!(rv(e), RvError::KeyFunctionNotPermitted);
    // No origin other than the two.
    let bad = [Attribute::Token(true), Attribute::ValueLen(32.into()), vendor(CKA_KMS_ORIGIN, b"HSM")];
    assert_eq!(rv(s.generate_key(&Mechanism::AesKeyGen, &bad).unwrap_err()), RvError::AttributeValueInvalid);

    // [policy] plaintext_import = false: no key material in the clear, token or session.
    for on_token in [true, false] {
        let clear = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Token(on_token),
            Attribute::Value(vec![1; 32]),
        ];
        assert_eq!(rv(s.create_object(&clear).unwrap_err()), RvError::TemplateInconsistent);
    }
    // Objects that are not key material are not affected.
    let data =
        [Attribute::Class(ObjectClass::DATA), Attribute::Token(false), Attribute::Value(b"x".to_vec())];
    s.create_object(&data).unwrap();
}

/// Imports and parameter requests are audited, and an import is counted as a key version.
#[test]
fn imports_are_audited_and_counted() {
    let _clock = steady_clock();
    let t = "t07";
    let _s = session(t);
    let dir = workdir();
    let d = dir.path();
    let versions_used = |q: &Value| {
        q["Resources"].as_array().unwrap().iter().find(|r| r["Resource"] == "KeyVersions").unwrap()["Used"]
            .as_u64()
            .unwrap()
    };
    let key_id = new_external(t, "Aliyun_AES_256");
    let before = versions_used(&json(t, &["describe-quotas"]));
    let (import_token, pem) = parameters(t, &key_id, d, "RSA_2048", "RSAES_OAEP_SHA_256");
    openssl(d, &["rand", "-out", "key.bin", "32"]);
    rsa_encrypt(d, &pem, "key.bin", "key.enc", Some("sha256"));
    json(t, &import_args(&key_id, &path(d, "key.enc"), &import_token, &[]));
    assert_eq!(versions_used(&json(t, &["describe-quotas"])), before + 1);
    for event in ["GetParametersForImport", "ImportKeyMaterial"] {
        let records = json(t, &["audit", "list", "--key-id", &key_id, "--event-name", event]);
        let records = records.as_array().unwrap();
        assert_eq!(records.len(), 1, "{event}: {records:?}");
        assert_eq!(records[0]["result"], "CKR_OK");
    }
}

/// The customer's own private key (RSA-2048, then EC P-256) travels as PKCS#8 under
/// RSA_AES_KEY_WRAP_SHA_256, made with OpenSSL alone: AES-KWP of the PKCS#8 under a random
/// AES-256 key, that key under RSA-OAEP, concatenated. The token's signatures verify with
/// `openssl dgst -verify` and the customer's own public key.
#[test]
fn openssl_customer_imports_private_keys_with_rsa_aes_key_wrap() {
    let _clock = steady_clock();
    let t = "t08";
    let s = session(t);
    let dir = workdir();
    let d = dir.path();
    let cases: [(&str, &[&str], Mechanism<'static>); 2] = [
        ("RSA_2048", &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], Mechanism::Sha256RsaPkcs),
        ("EC_P256", &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"], Mechanism::EcdsaSha256),
    ];
    for (spec, genpkey, sign_mechanism) in cases {
        let key_id = new_external(t, spec);
        let (import_token, pem) = parameters(t, &key_id, d, "RSA_2048", "RSA_AES_KEY_WRAP_SHA_256");
        let mut args = vec!["genpkey"];
        args.extend_from_slice(genpkey);
        args.extend(["-out", "customer.pem"]);
        openssl(d, &args);
        openssl(
            d,
            &["pkcs8", "-topk8", "-nocrypt", "-in", "customer.pem", "-outform", "DER", "-out", "customer.p8"],
        );
        openssl(d, &["pkey", "-in", "customer.pem", "-pubout", "-out", "customer.pub"]);
        openssl(d, &["rand", "-out", "aes.bin", "32"]);
        let aes_hex = hex(&std::fs::read(d.join("aes.bin")).unwrap());
        rsa_encrypt(d, &pem, "aes.bin", "aes.enc", Some("sha256"));
        openssl(
            d,
            &[
                "enc",
                "-id-aes256-wrap-pad",
                "-K",
                &aes_hex,
                "-iv",
                "A65959A6",
                "-in",
                "customer.p8",
                "-out",
                "p8.kwp",
            ],
        );
        let mut blob = std::fs::read(d.join("aes.enc")).unwrap();
        blob.extend(std::fs::read(d.join("p8.kwp")).unwrap());
        std::fs::write(d.join("material.enc"), &blob).unwrap();

        // Material of another spec is refused (an RSA key into an EC key and the reverse).
        let k = json(t, &import_args(&key_id, &path(d, "material.enc"), &import_token, &[]));
        assert_eq!(text(&k, "KeyState"), "Enabled", "{spec}");

        let private = key_object(&s, &key_id, ObjectClass::PRIVATE_KEY);
        let public = key_object(&s, &key_id, ObjectClass::PUBLIC_KEY);
        let data = b"signed by the token, verified by the customer";
        let signature = s.sign(&sign_mechanism, private, data).unwrap();
        s.verify(&sign_mechanism, public, data, &signature).unwrap();
        let signature = if spec == "EC_P256" { der_ecdsa(&signature) } else { signature };
        std::fs::write(d.join("data"), data).unwrap();
        std::fs::write(d.join("sig"), &signature).unwrap();
        let out = openssl(d, &["dgst", "-sha256", "-verify", "customer.pub", "-signature", "sig", "data"]);
        assert!(String::from_utf8_lossy(&out).contains("Verified OK"), "{spec}");
        // The token's public key object is the customer's public key.
        let der = openssl(d, &["pkey", "-pubin", "-in", "customer.pub", "-outform", "DER"]);
        match &s.get_attributes(public, &[AttributeType::PublicKeyInfo]).unwrap()[..] {
            [Attribute::PublicKeyInfo(info)] => assert_eq!(info, &der, "{spec}"),
            other => panic!("{other:?}"),
        }
    }
    // A private key of the wrong spec: an EC key into an RSA_2048 key.
    let key_id = new_external(t, "RSA_2048");
    let (import_token, _) = parameters(t, &key_id, d, "RSA_2048", "RSA_AES_KEY_WRAP_SHA_256");
    let file = path(d, "material.enc");
    let args = import_args(&key_id, &file, &import_token, &[]);
    // material.enc is under another key's wrapping key: it does not even open.
    assert_eq!(failure(t, &args), "CKR_WRAPPED_KEY_INVALID");
    let pem = d.join(format!("wrap-{key_id}-RSA_AES_KEY_WRAP_SHA_256.pem"));
    rsa_encrypt(d, &pem, "aes.bin", "aes2.enc", Some("sha256"));
    let mut blob = std::fs::read(d.join("aes2.enc")).unwrap();
    blob.extend(std::fs::read(d.join("p8.kwp")).unwrap());
    std::fs::write(d.join("wrong-spec.enc"), &blob).unwrap();
    let file = path(d, "wrong-spec.enc");
    let args = import_args(&key_id, &file, &import_token, &[]);
    assert_eq!(failure(t, &args), "InvalidParameter.KeyMaterial");
    assert_eq!(text(&json(t, &["describe-key", &key_id]), "KeyState"), "PendingImport");
}

/// r‖s as the DER `ECDSA-Sig-Value` OpenSSL verifies.
fn der_ecdsa(raw: &[u8]) -> Vec<u8> {
    use der::{Encode, asn1::UintRef};
    let (r, s) = raw.split_at(raw.len() / 2);
    let (r, s) = (UintRef::new(r).unwrap(), UintRef::new(s).unwrap());
    let len = (r.encoded_len().unwrap() + s.encoded_len().unwrap()).unwrap();
    let mut out = Vec::new();
    der::Header::new(der::Tag::Sequence, len).encode_to_vec(&mut out).unwrap();
    r.encode_to_vec(&mut out).unwrap();
    s.encode_to_vec(&mut out).unwrap();
    out
}
