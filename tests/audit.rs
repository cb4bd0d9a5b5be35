//! The audit trail through the C ABI, as a compliance team meets it: one record per covered
//! call with the fields of DESIGN §7, a chain `kmsctl audit verify` checks (and that catches
//! every kind of tampering), one chain from several processes, no secret in any record, the
//! syslog and hook sinks, calls refused when records cannot be written, records flushed at exit
//! and a chain that survives a killed process.
//!
//! This binary's configuration writes every record before the call returns (`durability =
//! "fsync"`), so a test reads a call's record as soon as the call is back. Scenarios with other
//! settings run this binary again as the `audit_child` test, with a configuration of their own
//! on the same data directory.

mod common;
mod support;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

fn sections(_dir: &Path) -> String {
    common::harness_sections(_dir) + "[audit]\ndurability = \"fsync\"\n"
}

fn env() -> &'static common::Env {
    common::env_with(sections)
}

fn log_of(token: &str) -> PathBuf {
    env().dir.path().join(format!("{token}.audit.log"))
}

/// The complete records of the token's trail (a writer may be in the middle of its last line,
/// or have been killed there).
fn records(token: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(log_of(token)).unwrap_or_default();
    text.split_inclusive('\n')
        .filter_map(|l| l.strip_suffix('\n'))
        .map(|l| serde_json::from_str(l).expect("a record is JSON"))
        .collect()
}

/// The records `f` adds to the token's trail.
fn added(token: &str, f: impl FnOnce()) -> Vec<Value> {
    let before = records(token).len();
    f();
    records(token).split_off(before)
}

/// The one record `f` adds, checked against the expected event, function and result.
fn one(token: &str, event: &str, function: &str, result: &str, f: impl FnOnce()) -> Value {
    let mut new = added(token, f);
    assert_eq!(new.len(), 1, "{function} ({event}) should add one record: {new:#?}");
    let r = new.remove(0);
    assert_eq!((r["eventName"].as_str(), r["pkcs11Function"].as_str()), (Some(event), Some(function)), "{r}");
    assert_eq!(r["result"], result, "{r}");
    r
}

fn session(token: &str) -> Session {
    env();
    common::user_session(token)
}

fn kmsctl(args: &[&str]) -> std::process::Output {
    common::kmsctl(env(), args)
}

const IV: [u8; 12] = [7; 12];

/// AES-GCM with the fixed test IV (a few bytes leaked per call: the parameters borrow the IV
/// for as long as the mechanism lives).
fn gcm() -> Mechanism<'static> {
    Mechanism::AesGcm(GcmParams::new(Box::leak(Box::new(IV)), b"aad", 128.into()).unwrap())
}

fn token_aes(s: &Session, extra: &[Attribute]) -> ObjectHandle {
    let mut t = vec![
        Attribute::Token(true),
        Attribute::ValueLen(32.into()),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
        Attribute::Wrap(true),
        Attribute::Unwrap(true),
        Attribute::Sign(true),
        Attribute::Verify(true),
    ];
    t.extend_from_slice(extra);
    s.generate_key(&Mechanism::AesKeyGen, &t).expect("token AES key")
}

// --- Coverage --------------------------------------------------------------------------------

#[test]
fn login_logout_and_pin_changes_are_recorded() {
    let t = "t01";
    env();
    let slot = common::fresh_token(t);
    let s = common::pkcs11().open_rw_session(slot).unwrap();
    let user = AuthPin::new(common::USER_PIN.into());
    one(t, "Login", "C_Login", "CKR_PIN_INCORRECT", || {
        assert!(s.login(UserType::User, Some(&AuthPin::new("wrong-pin".into()))).is_err());
    });
    let r = one(t, "Login", "C_Login", "CKR_OK", || s.login(UserType::User, Some(&user)).unwrap());
    assert_eq!(r["principal"], "USER");
    one(t, "SetPIN", "C_SetPIN", "CKR_OK", || s.set_pin(&user, &user).unwrap());
    one(t, "Logout", "C_Logout", "CKR_OK", || s.logout().unwrap());
    let so = AuthPin::new(common::SO_PIN.into());
    s.login(UserType::So, Some(&so)).unwrap();
    let r = one(t, "InitPIN", "C_InitPIN", "CKR_OK", || s.init_pin(&user).unwrap());
    assert_eq!(r["principal"], "SO");
    s.logout().unwrap();
    drop(s);
    one(t, "InitToken", "C_InitToken", "CKR_OK", || {
        common::pkcs11().init_token(slot, &so, t).unwrap();
    });
}

#[test]
fn every_key_use_is_one_record_naming_key_version_and_mechanism() {
    let t = "t02";
    let s = session(t);
    let key = one(t, "CreateKey", "C_GenerateKey", "CKR_OK", || {
        token_aes(&s, &[]);
    });
    let key_id = key["keyId"].as_str().unwrap().to_string();
    assert_eq!(key_id.len(), 36);
    assert_eq!(key["mechanism"], "CKM_AES_KEY_GEN");
    let handle = s.find_objects(&[Attribute::Id(key_id.clone().into_bytes())]).unwrap()[0];

    // C_EncryptInit writes nothing; the call that ends the operation writes the record.
    let r = one(t, "Encrypt", "C_Encrypt", "CKR_OK", || {
        s.encrypt(&gcm(), handle, b"hello").unwrap();
    });
    assert_eq!((r["keyId"].as_str(), r["mechanism"].as_str()), (Some(key_id.as_str()), Some("CKM_AES_GCM")));
    assert_eq!(r["keyVersionId"].as_str().map(str::len), Some(36));
    assert_eq!(r["principal"], "USER");
    assert!(r["latencyUs"].is_u64() && r["pid"].as_u64() == Some(std::process::id() as u64));
    let ct = s.encrypt(&gcm(), handle, b"hello").unwrap();
    one(t, "Decrypt", "C_Decrypt", "CKR_OK", || {
        s.decrypt(&gcm(), handle, &ct).unwrap();
    });
    // A size query and a short buffer leave the operation running: still one record.
    let f = f();
    let m = Mech::gcm(&IV, b"aad", 128);
    one(t, "Encrypt", "C_Encrypt", "CKR_OK", || {
        assert_eq!(encrypt_init(&s, &m, handle), CKR_OK);
        let mut data = *b"abc";
        let mut len: CK_ULONG = 0;
        // SAFETY: size query with a null output pointer.
        let rv =
            unsafe { f.C_Encrypt.unwrap()(sh(&s), data.as_mut_ptr(), 3, std::ptr::null_mut(), &mut len) };
        assert_eq!(rv, CKR_OK);
        let mut out = vec![0u8; len as usize];
        let mut short: CK_ULONG = 1;
        // SAFETY: the buffer holds at least one byte.
        let rv = unsafe { f.C_Encrypt.unwrap()(sh(&s), data.as_mut_ptr(), 3, out.as_mut_ptr(), &mut short) };
        assert_eq!(rv, CKR_BUFFER_TOO_SMALL);
        // SAFETY: the buffer holds `len` bytes.
        let rv = unsafe { f.C_Encrypt.unwrap()(sh(&s), data.as_mut_ptr(), 3, out.as_mut_ptr(), &mut len) };
        assert_eq!(rv, CKR_OK);
    });
    // Multi-part: one record, from the final call.
    one(t, "Encrypt", "C_EncryptFinal", "CKR_OK", || {
        s.encrypt_init(&Mechanism::AesCbcPad([1; 16]), handle).unwrap();
        s.encrypt_update(&[0; 40]).unwrap();
        s.encrypt_update(&[0; 40]).unwrap();
        s.encrypt_final().unwrap();
    });
    one(t, "GenerateMac", "C_Sign", "CKR_OK", || {
        s.sign(&Mechanism::AesCMac, handle, b"data").unwrap();
    });
    let mac = s.sign(&Mechanism::AesCMac, handle, b"data").unwrap();
    one(t, "VerifyMac", "C_Verify", "CKR_OK", || {
        s.verify(&Mechanism::AesCMac, handle, b"data", &mac).unwrap()
    });
    one(t, "VerifyMac", "C_Verify", "CKR_SIGNATURE_INVALID", || {
        assert!(s.verify(&Mechanism::AesCMac, handle, b"other", &mac).is_err());
    });

    // Asymmetric keys: the KMS's Asymmetric* actions.
    let (public, private) = one_pair(&s, t);
    one(t, "AsymmetricSign", "C_Sign", "CKR_OK", || {
        s.sign(&Mechanism::Ecdsa, private, &[1; 32]).unwrap();
    });
    let sig = s.sign(&Mechanism::Ecdsa, private, &[1; 32]).unwrap();
    one(t, "AsymmetricVerify", "C_Verify", "CKR_OK", || {
        s.verify(&Mechanism::Ecdsa, public, &[1; 32], &sig).unwrap()
    });

    // Wrapping and the envelope mechanism.
    let session_key = s
        .generate_key(&Mechanism::AesKeyGen, &[Attribute::ValueLen(32.into()), Attribute::Extractable(true)])
        .unwrap();
    let wrapped = one(t, "WrapKey", "C_WrapKey", "CKR_OK", || {
        s.wrap_key(&Mechanism::AesKeyWrap, handle, session_key).unwrap();
    });
    assert_eq!(wrapped["mechanism"], "CKM_AES_KEY_WRAP");
    let blob = s.wrap_key(&Mechanism::AesKeyWrap, handle, session_key).unwrap();
    let template = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Encrypt(true),
    ];
    one(t, "UnwrapKey", "C_UnwrapKey", "CKR_OK", || {
        s.unwrap_key(&Mechanism::AesKeyWrap, handle, &blob, &template).unwrap();
    });
    one(t, "DigestKey", "C_DigestKey", "CKR_OK", || {
        s.digest_init(&Mechanism::Sha256).unwrap();
        s.digest_key(handle).unwrap();
        s.digest_final().unwrap();
    });
    one(t, "GenerateKey", "C_GenerateKey", "CKR_OK", || {
        s.generate_key(&Mechanism::AesKeyGen, &[Attribute::ValueLen(16.into())]).unwrap();
    });

    // A refused use names the key and the KMS code.
    one(t, "DisableKey", "C_SetAttributeValue", "CKR_OK", || {
        s.update_attributes(handle, &[vendor(kms_pkcs11::vendor::CKA_KMS_KEY_STATE, b"Disabled")]).unwrap();
    });
    let r = one(t, "Encrypt", "C_EncryptInit", "CKR_KEY_FUNCTION_NOT_PERMITTED", || {
        assert!(s.encrypt(&gcm(), handle, b"x").is_err());
    });
    assert_eq!(
        (r["keyId"].as_str(), r["errorCode"].as_str()),
        (Some(key_id.as_str()), Some("Rejected.Disabled"))
    );
    one(t, "ScheduleKeyDeletion", "C_DestroyObject", "CKR_OK", || s.destroy_object(handle).unwrap());
}

fn one_pair(s: &Session, t: &str) -> (ObjectHandle, ObjectHandle) {
    let mut pair = None;
    let r = one(t, "CreateKey", "C_GenerateKeyPair", "CKR_OK", || {
        pair = Some(
            s.generate_key_pair(
                &Mechanism::EccKeyPairGen,
                &[
                    Attribute::Token(true),
                    Attribute::EcParams(h("06082a8648ce3d030107")),
                    Attribute::Verify(true),
                ],
                &[Attribute::Token(true), Attribute::Sign(true), Attribute::Derive(true)],
            )
            .unwrap(),
        );
    });
    assert_eq!(r["mechanism"], "CKM_EC_KEY_PAIR_GEN");
    pair.unwrap()
}

fn vendor(ty: CK_ATTRIBUTE_TYPE, value: &[u8]) -> Attribute {
    Attribute::VendorDefined((cryptoki::object::AttributeType::VendorDefined(ty), value.to_vec()))
}

fn encrypt_init(s: &Session, m: &Mech<'_>, key: ObjectHandle) -> CK_RV {
    let mut ck = m.ck();
    // SAFETY: the mechanism and its parameter live for the call.
    unsafe { f().C_EncryptInit.unwrap()(sh(s), &mut ck, oh(key)) }
}

#[test]
fn object_calls_and_secret_reads_are_recorded_and_public_reads_are_not() {
    let t = "t03";
    let s = session(t);
    let value = [0x42u8; 32];
    let imported = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Token(true),
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
        Attribute::Value(value.to_vec()),
    ];
    let mut key = None;
    one(t, "CreateKey", "C_CreateObject", "CKR_OK", || key = Some(s.create_object(&imported).unwrap()));
    let key = key.unwrap();
    one(t, "GetKeyMaterial", "C_GetAttributeValue", "CKR_OK", || {
        s.get_attributes(key, &[cryptoki::object::AttributeType::Value]).unwrap();
    });
    assert!(
        added(t, || {
            s.get_attributes(key, &[cryptoki::object::AttributeType::Label]).unwrap();
        })
        .is_empty()
    );
    let sensitive = token_aes(&s, &[]);
    let r = one(t, "GetKeyMaterial", "C_GetAttributeValue", "CKR_ATTRIBUTE_SENSITIVE", || {
        let _ = attr(&s, sensitive, CKA_VALUE);
    });
    assert!(r["keyId"].as_str().is_some_and(|k| !k.is_empty()));
    one(t, "SetAttributeValue", "C_SetAttributeValue", "CKR_OK", || {
        s.update_attributes(key, &[Attribute::Label(b"renamed".to_vec())]).unwrap();
    });
    let data = [Attribute::Class(ObjectClass::DATA), Attribute::Token(true), Attribute::Value(b"d".to_vec())];
    let mut d = None;
    one(t, "CreateObject", "C_CreateObject", "CKR_OK", || d = Some(s.create_object(&data).unwrap()));
    let mut copy = None;
    one(t, "CopyObject", "C_CopyObject", "CKR_OK", || copy = Some(s.copy_object(d.unwrap(), &[]).unwrap()));
    one(t, "DestroyObject", "C_DestroyObject", "CKR_OK", || s.destroy_object(copy.unwrap()).unwrap());
    one(t, "UpdateAlias", "C_SetAttributeValue", "CKR_OK", || {
        s.update_attributes(key, &[vendor(kms_pkcs11::vendor::CKA_KMS_ALIASES, br#"["alias/audited"]"#)])
            .unwrap();
    });
    one(t, "ScheduleKeyDeletion", "C_DestroyObject", "CKR_OK", || s.destroy_object(key).unwrap());
}

#[test]
fn kmsctl_actions_are_one_record_each() {
    let t = "t04";
    drop(session(t));
    let token = ["--token", t, "--json"];
    let run = |args: &[&str]| {
        let out = kmsctl(&[&token[..], args].concat());
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout).unwrap_or(Value::Null)
    };
    let mut key = String::new();
    let created = added(t, || key = run(&["create-key"])["KeyId"].as_str().unwrap().to_string());
    // The login, then the action (not the PKCS#11 calls inside it).
    let names: Vec<_> = created.iter().map(|r| r["eventName"].as_str().unwrap().to_string()).collect();
    assert_eq!(names, ["Login", "CreateKey"]);
    assert_eq!(
        (created[1]["pkcs11Function"].as_str(), created[1]["keyId"].as_str()),
        (Some("kmsctl"), Some(key.as_str()))
    );
    for (args, event) in [
        (vec!["generate-data-key", &key], "GenerateDataKey"),
        (vec!["generate-data-key-without-plaintext", &key], "GenerateDataKeyWithoutPlaintext"),
        (vec!["disable-key", &key], "DisableKey"),
        (vec!["describe-key", &key], "DescribeKey"),
        (vec!["schedule-key-deletion", &key, "--pending-window-in-days", "7"], "ScheduleKeyDeletion"),
    ] {
        let new = added(t, || {
            run(&args);
        });
        let actions: Vec<_> = new.iter().filter(|r| r["eventName"] != "Login").collect();
        assert_eq!(actions.len(), 1, "{args:?}: {new:#?}");
        assert_eq!(actions[0]["eventName"], event);
        assert_eq!(actions[0]["keyId"], key.as_str());
    }
    // A refused action is recorded with its KMS code.
    let new = added(t, || {
        let out = kmsctl(&[&token[..], &["encrypt", &key, "--plaintext", "x"]].concat());
        assert!(!out.status.success());
    });
    let r = new.iter().find(|r| r["eventName"] == "Encrypt").expect("Encrypt record");
    assert_eq!(r["errorCode"], "Rejected.PendingDeletion");
    // kmsctl audit list filters.
    let listed = run(&["audit", "list", "--key-id", &key, "--event-name", "DisableKey"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    let failed = run(&["audit", "list", "--result", "failed", "--event-name", "encrypt"]);
    assert_eq!(failed.as_array().map(Vec::len), Some(1));
}

// --- Tamper evidence -------------------------------------------------------------------------

fn verify(token: &str) -> (bool, String) {
    let out = kmsctl(&["--token", token, "audit", "verify"]);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn verify_accepts_the_trail_and_finds_every_kind_of_tampering() {
    let t = "t05";
    let s = session(t);
    let key = token_aes(&s, &[]);
    for _ in 0..5 {
        s.encrypt(&gcm(), key, b"x").unwrap();
    }
    let (ok, text) = verify(t);
    assert!(ok, "{text}");
    let path = log_of(t);
    let original = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = original.lines().collect();
    let n = lines.len();
    assert!(n >= 8);
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("changed", {
            let mut l: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
            l[3] = l[3].replace("\"CKR_OK\"", "\"CKR_GENERAL_ERROR\"");
            l
        }),
        ("removed", lines.iter().enumerate().filter(|(i, _)| *i != 4).map(|(_, s)| s.to_string()).collect()),
        ("reordered", {
            let mut l: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
            l.swap(2, 3);
            l
        }),
        ("inserted", {
            let mut l: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
            l.insert(5, lines[5].to_string());
            l
        }),
        ("tail cut", lines[..n - 2].iter().map(|s| s.to_string()).collect()),
    ];
    for (what, l) in cases {
        std::fs::write(&path, l.join("\n") + "\n").unwrap();
        let (ok, text) = verify(t);
        assert!(!ok, "{what} went unnoticed: {text}");
        assert!(text.contains("AuditTrailInvalid"), "{what}: {text}");
    }
    std::fs::write(&path, &original).unwrap();
    assert!(verify(t).0);
}

// --- Several processes, no secrets, crashes, sinks, lifecycle --------------------------------

/// This binary again, running `audit_child` with `scenario`, on this binary's data directory
/// and with the configuration `config` (this binary's when `None`).
fn child(scenario: &str, token: &str, config: Option<&Path>) -> Command {
    let e = env();
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args(["audit_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env("AUDIT_CHILD", scenario)
        .env("AUDIT_TOKEN", token)
        .env("AUDIT_MODULE", &e.module)
        .env("KMS_PKCS11_HOME", e.dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(cfg) = config {
        c.env("KMS_PKCS11_CONFIG", cfg);
    }
    c
}

/// A configuration for a child: this binary's tokens with other `[audit]` settings.
fn child_config(name: &str, audit: &str) -> PathBuf {
    let dir = env().dir.path().join(format!("config-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read_to_string(env().dir.path().join("config.toml")).unwrap();
    let text = text.replace(
        "[audit]\ndurability = \"fsync\"\n",
        &format!("[audit]\ndir = \"{}\"\n{audit}\n", env().dir.path().display()),
    );
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn run_child(c: &mut Command) -> String {
    let out = c.output().expect("run child");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "child failed: {text}\n{}", String::from_utf8_lossy(&out.stderr));
    text
}

#[test]
fn several_processes_make_one_valid_chain() {
    let t = "t06";
    let s = session(t);
    token_aes(&s, &[Attribute::Label(b"shared".to_vec())]);
    let before = records(t).len();
    let children: Vec<_> = (0..3).map(|_| child("encrypt_200", t, None).spawn().unwrap()).collect();
    let key = s.find_objects(&[Attribute::Label(b"shared".to_vec())]).unwrap()[0];
    for _ in 0..200 {
        s.encrypt(&gcm(), key, b"x").unwrap();
    }
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let all = records(t);
    let encrypts = all[before..].iter().filter(|r| r["eventName"] == "Encrypt").count();
    assert_eq!(encrypts, 800);
    let pids: std::collections::HashSet<_> = all[before..].iter().map(|r| r["pid"].as_u64()).collect();
    assert_eq!(pids.len(), 4);
    let (ok, text) = verify(t);
    assert!(ok, "{text}");
}

#[test]
fn no_secret_reaches_the_trail() {
    let t = "t07";
    let s = session(t);
    let key_value = *b"0123456789abcdef0123456789ABCDEF";
    let plaintext = b"the plaintext that must never be logged";
    let context_value = "context-value-that-must-not-appear";
    let key = s
        .create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Token(true),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::Sensitive(false),
            Attribute::Extractable(true),
            Attribute::Value(key_value.to_vec()),
        ])
        .unwrap();
    let ct = s.encrypt(&gcm(), key, plaintext).unwrap();
    s.decrypt(&gcm(), key, &ct).unwrap();
    const CONTEXT: &[u8; 48] = b"{\"purpose\":\"context-value-that-must-not-appear\"}";
    assert!(CONTEXT.windows(context_value.len()).any(|w| w == context_value.as_bytes()));
    let ty =
        cryptoki::mechanism::MechanismType::new_vendor_defined(kms_pkcs11::vendor::CKM_KMS_ENVELOPE).unwrap();
    let envelope = Mechanism::VendorDefined(
        cryptoki::mechanism::vendor_defined::VendorDefinedMechanism::new(ty, Some(CONTEXT)),
    );
    let blob = s.encrypt(&envelope, key, plaintext).unwrap();
    s.decrypt(&envelope, key, &blob).unwrap();
    s.get_attributes(key, &[cryptoki::object::AttributeType::Value]).unwrap();
    s.logout().unwrap();
    let _ = s.login(UserType::User, Some(&AuthPin::new("a-wrong-pin-0000".into())));
    s.login(UserType::User, Some(&AuthPin::new(common::USER_PIN.into()))).unwrap();
    let text = std::fs::read(log_of(t)).unwrap();
    let hexed = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    use base64ct::Encoding as _;
    let b64 = |b: &[u8]| base64ct::Base64::encode_string(b);
    let secrets: Vec<(&str, Vec<u8>)> = vec![
        ("key", key_value.to_vec()),
        ("key hex", hexed(&key_value).into_bytes()),
        ("key base64", b64(&key_value).into_bytes()),
        ("plaintext", plaintext.to_vec()),
        ("plaintext hex", hexed(plaintext).into_bytes()),
        ("plaintext base64", b64(plaintext).into_bytes()),
        ("ciphertext hex", hexed(&ct).into_bytes()),
        ("ciphertext base64", b64(&ct).into_bytes()),
        ("blob base64", b64(&blob[..24]).into_bytes()),
        ("context value", context_value.as_bytes().to_vec()),
        ("user PIN", format!("\"{}\"", common::USER_PIN).into_bytes()),
        ("wrong PIN", b"a-wrong-pin-0000".to_vec()),
        ("SO PIN", format!("\"{}\"", common::SO_PIN).into_bytes()),
    ];
    for (what, secret) in secrets {
        assert!(
            !text.windows(secret.len()).any(|w| w == secret.as_slice()),
            "the {what} is in the audit trail"
        );
    }
}

#[test]
fn a_killed_process_leaves_a_chain_that_verifies_and_goes_on() {
    let t = "t08";
    let s = session(t);
    token_aes(&s, &[Attribute::Label(b"shared".to_vec())]);
    // Batched, so the kill comes while records are queued and files are being written.
    let config = child_config("kill", "batch_records = 64\nbatch_ms = 5\n");
    for round in 0..3 {
        let mut c = child("encrypt_forever", t, Some(&config)).spawn().unwrap();
        let until = Instant::now() + Duration::from_secs(5);
        let start = records(t).len();
        while records(t).len() < start + 100 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20 + 13 * round));
        }
        c.kill().unwrap();
        c.wait().unwrap();
        let (ok, text) = verify(t);
        assert!(ok, "after kill {round}: {text}");
    }
    // Another process writes after the crash: the chain goes on from what survived.
    let key = s.find_objects(&[Attribute::Label(b"shared".to_vec())]).unwrap()[0];
    one(t, "Encrypt", "C_Encrypt", "CKR_OK", || {
        s.encrypt(&gcm(), key, b"x").unwrap();
    });
    let (ok, text) = verify(t);
    assert!(ok, "{text}");
}

#[test]
fn hook_and_syslog_receive_every_record() {
    let t = "t09";
    drop(session(t));
    let dir = tempfile::tempdir().unwrap();
    let hook_out = dir.path().join("hook.jsonl");
    let socket = dir.path().join("log.sock");
    let syslog = std::os::unix::net::UnixDatagram::bind(&socket).unwrap();
    let config = child_config(
        "sinks",
        &format!(
            "syslog = true\nsyslog_socket = \"{}\"\nsyslog_facility = \"local3\"\nhook = \"cat >> '{}'\"\n",
            socket.display(),
            hook_out.display()
        ),
    );
    // Read while the child runs: a datagram socket queues only a few messages.
    syslog.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let receiver = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = vec![0u8; 65536];
        while let Ok(n) = syslog.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).to_string());
        }
        got
    });
    let before = records(t).len();
    run_child(child("encrypt_10", t, Some(&config)).env("AUDIT_COUNT", "10"));
    let mine: Vec<String> =
        std::fs::read_to_string(log_of(t)).unwrap().lines().skip(before).map(String::from).collect();
    assert!(mine.len() >= 12, "login, key and ten encryptions");
    let hooked: Vec<String> = std::fs::read_to_string(&hook_out).unwrap().lines().map(String::from).collect();
    assert_eq!(hooked, mine, "the hook got exactly the file's records");
    let syslogged = receiver.join().unwrap();
    assert_eq!(syslogged.len(), mine.len());
    for (msg, line) in syslogged.iter().zip(&mine) {
        assert!(msg.starts_with("<158>kms-pkcs11["), "{msg}");
        assert!(msg.ends_with(line.as_str()), "{msg}");
    }
}

#[test]
fn a_stuck_hook_fails_calls_when_configured_to() {
    let t = "t10";
    drop(session(t));
    // A hook that never reads: once its input is full, records cannot be delivered.
    let config = child_config(
        "stuck-hook",
        "durability = \"fsync\"\non_failure = \"fail\"\nfinalize_wait_ms = 300\nhook = \"sleep 30\"\nhook_timeout_ms = 100\n",
    );
    let out = run_child(&mut child("encrypt_until_refused", t, Some(&config)));
    assert!(out.contains("refused=CKR_DEVICE_ERROR"), "{out}");
    // Nothing was lost: the chain holds every record the child's calls made, refused or not.
    assert!(verify(t).0);
}

#[test]
fn records_are_flushed_at_exit_and_no_thread_outlives_finalize() {
    let t = "t11";
    drop(session(t));
    // A batch that would wait a minute: only the exit handler writes these records.
    let config = child_config("exit", "batch_records = 100000\nbatch_ms = 60000\n");
    let before = records(t).len();
    let out = run_child(child("encrypt_10_exit_without_finalize", t, Some(&config)).env("AUDIT_COUNT", "10"));
    assert!(out.contains("exiting"), "{out}");
    let new = records(t).split_off(before);
    assert_eq!(new.iter().filter(|r| r["eventName"] == "Encrypt").count(), 10, "{new:#?}");
    let out = run_child(&mut child("threads_after_finalize", t, Some(&config)));
    let count = |name: &str| -> usize {
        let at = out.find(name).unwrap_or_else(|| panic!("{name} in {out}")) + name.len() + 1;
        out[at..].split_whitespace().next().unwrap().parse().unwrap()
    };
    assert_eq!(count("threads_after"), count("threads_before"), "{out}");
}

/// The scenarios the tests above run in another process.
#[test]
#[ignore = "a subprocess entry point: the multi-process tests of this binary run it with --ignored"]
fn audit_child() {
    let Ok(scenario) = std::env::var("AUDIT_CHILD") else { return };
    let token = std::env::var("AUDIT_TOKEN").unwrap();
    let count: usize = std::env::var("AUDIT_COUNT").ok().and_then(|c| c.parse().ok()).unwrap_or(200);
    let threads = || std::fs::read_dir("/proc/self/task").unwrap().count();
    let threads_before = threads();
    let pkcs11 = Pkcs11::new(std::env::var("AUDIT_MODULE").unwrap()).unwrap();
    pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)).unwrap();
    let idx = common::TOKENS.iter().position(|n| *n == token).unwrap();
    let slot = pkcs11.get_all_slots().unwrap()[idx];
    let s = pkcs11.open_rw_session(slot).unwrap();
    s.login(UserType::User, Some(&AuthPin::new(common::USER_PIN.into()))).unwrap();
    let shared = || s.find_objects(&[Attribute::Label(b"shared".to_vec())]).unwrap()[0];
    match scenario.as_str() {
        "encrypt_200" => {
            let key = shared();
            for _ in 0..200 {
                s.encrypt(&gcm(), key, b"x").unwrap();
            }
        }
        "encrypt_forever" => {
            let key = shared();
            loop {
                s.encrypt(&gcm(), key, b"x").unwrap();
            }
        }
        "encrypt_10" | "encrypt_10_exit_without_finalize" => {
            let key = token_aes(&s, &[]);
            for _ in 0..count {
                s.encrypt(&gcm(), key, b"x").unwrap();
            }
            if scenario == "encrypt_10_exit_without_finalize" {
                println!("exiting");
                // Neither C_Finalize nor destructors: the process just ends.
                std::process::exit(0);
            }
        }
        "encrypt_until_refused" => {
            let key = token_aes(&s, &[]);
            let refused = (0..5000)
                .map(|_| ckr(s.encrypt(&gcm(), key, &[0; 1024])))
                .find(|rv| *rv != CKR_OK)
                .unwrap_or(CKR_OK);
            println!("refused={}", rv_name(refused));
        }
        "threads_after_finalize" => {
            let key = token_aes(&s, &[]);
            s.encrypt(&gcm(), key, b"x").unwrap();
            drop(s);
            pkcs11.finalize().unwrap();
            println!("threads_before={threads_before} threads_after={}", threads());
            return;
        }
        other => panic!("unknown scenario {other}"),
    }
    drop(s);
    pkcs11.finalize().unwrap();
}
