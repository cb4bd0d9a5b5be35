//! `kmsctl` as an operator uses it: the built binary, on the same configuration and token store
//! as an application holding the library through PKCS#11. What kmsctl does shows through the C
//! ABI, and what the application makes shows in kmsctl.

mod common;

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectClass};
use cryptoki::session::Session;
use serde_json::Value;
use std::process::{Command, Output};

/// Runs kmsctl on a token of the test configuration, as the user.
fn kmsctl(token: &str, args: &[&str]) -> Output {
    common::kmsctl(common::env(), &[&["--token", token], args].concat())
}

/// A successful run's JSON output.
#[track_caller]
fn json(token: &str, args: &[&str]) -> Value {
    common::kmsctl_json(common::env(), &[&["--token", token], args].concat())
}

/// A failed run's KMS error code (the word after "kmsctl: ").
#[track_caller]
fn failure(token: &str, args: &[&str]) -> String {
    let out = kmsctl(token, args);
    assert!(!out.status.success(), "kmsctl {args:?} succeeded: {}", String::from_utf8_lossy(&out.stdout));
    let err = String::from_utf8_lossy(&out.stderr);
    let line =
        err.lines().find(|l| l.starts_with("kmsctl: ")).unwrap_or_else(|| panic!("no error line in {err}"));
    line["kmsctl: ".len()..].split(':').next().unwrap().to_string()
}

fn text(v: &Value, field: &str) -> String {
    v[field].as_str().unwrap_or_else(|| panic!("{field} missing in {v}")).to_string()
}

/// The key objects the application sees for a key id.
fn key_objects(s: &Session, key_id: &str) -> Vec<cryptoki::object::ObjectHandle> {
    s.find_objects(&[Attribute::Id(key_id.as_bytes().to_vec())]).unwrap()
}

#[test]
fn create_describe_and_list_keys() {
    let t = "t00";
    let s = common::user_session(t);
    let k = json(
        t,
        &[
            "create-key",
            "--key-spec",
            "Aliyun_AES_256",
            "--description",
            "orders",
            "--tags",
            r#"{"team":"pay"}"#,
        ],
    );
    let id = text(&k, "KeyId");
    assert_eq!(id.len(), 36);
    assert_eq!(text(&k, "KeySpec"), "Aliyun_AES_256");
    assert_eq!(text(&k, "KeyUsage"), "ENCRYPT/DECRYPT");
    assert_eq!(text(&k, "KeyState"), "Enabled");
    assert_eq!(text(&k, "Origin"), "Aliyun_KMS");
    assert_eq!(text(&k, "Description"), "orders");
    assert_eq!(k["Tags"]["team"], "pay");
    assert_eq!(text(&k, "PrimaryKeyVersion").len(), 36);

    let described = json(t, &["describe-key", &id]);
    assert_eq!(described, k);
    let ec = json(t, &["create-key", "--key-spec", "EC_P256"]);
    assert_eq!(text(&ec, "KeyUsage"), "SIGN/VERIFY");
    let listed = json(t, &["list-keys"]);
    let ids: Vec<String> = listed.as_array().unwrap().iter().map(|k| text(k, "KeyId")).collect();
    assert!(ids.contains(&id) && ids.contains(&text(&ec, "KeyId")));

    // The application sees the key kmsctl made, with the same metadata.
    let objs = key_objects(&s, &id);
    assert_eq!(objs.len(), 1);
    let spec = s
        .get_attributes(objs[0], &[AttributeType::VendorDefined(kms_pkcs11::vendor::CKA_KMS_KEY_SPEC)])
        .unwrap();
    assert_eq!(
        spec,
        [Attribute::VendorDefined((
            AttributeType::VendorDefined(kms_pkcs11::vendor::CKA_KMS_KEY_SPEC),
            b"Aliyun_AES_256".to_vec()
        ))]
    );
}

#[test]
fn keys_made_by_kmsctl_have_one_usage() {
    let t = "t01";
    let s = common::user_session(t);
    let aes = text(&json(t, &["create-key", "--key-spec", "Aliyun_AES_256"]), "KeyId");
    let ec = text(&json(t, &["create-key", "--key-spec", "EC_P256", "--key-usage", "SIGN/VERIFY"]), "KeyId");
    let aes_obj = key_objects(&s, &aes)[0];
    assert_eq!(
        common::err(s.sign_init(&Mechanism::AesCMac, aes_obj)),
        cryptoki::error::RvError::KeyFunctionNotPermitted
    );
    let ec_private = s
        .find_objects(&[Attribute::Id(ec.as_bytes().to_vec()), Attribute::Class(ObjectClass::PRIVATE_KEY)])
        .unwrap()[0];
    assert_eq!(
        common::err(s.decrypt_init(&Mechanism::Ecdsa, ec_private)),
        cryptoki::error::RvError::KeyFunctionNotPermitted
    );
    assert_eq!(
        failure(t, &["create-key", "--key-spec", "EC_P256", "--key-usage", "ENCRYPT/DECRYPT"]),
        "InvalidParameter"
    );
    assert_eq!(
        failure(t, &["create-key", "--key-spec", "Aliyun_AES_256", "--key-usage", "SIGN/VERIFY"]),
        "InvalidParameter"
    );
}

#[test]
fn aliases_are_created_repointed_listed_and_deleted() {
    let t = "t02";
    let s = common::user_session(t);
    let a = text(&json(t, &["create-key"]), "KeyId");
    let b = text(&json(t, &["create-key"]), "KeyId");
    json(t, &["create-alias", "alias/orders", &a]);
    json(t, &["create-alias", "alias/orders-2", &a]);
    assert_eq!(failure(t, &["create-alias", "alias/orders", &b]), "Rejected.AlreadyExists");
    assert_eq!(failure(t, &["create-alias", "alias/acs-x", &b]), "InvalidParameter");
    assert_eq!(text(&json(t, &["describe-key", "alias/orders"]), "KeyId"), a);
    let found = s.find_objects(&[Attribute::Label(b"alias/orders".to_vec())]).unwrap();
    assert_eq!(found, key_objects(&s, &a));

    json(t, &["update-alias", "alias/orders", &b]);
    assert_eq!(text(&json(t, &["describe-key", "alias/orders"]), "KeyId"), b);
    assert_eq!(s.find_objects(&[Attribute::Label(b"alias/orders".to_vec())]).unwrap(), key_objects(&s, &b));
    assert_eq!(failure(t, &["update-alias", "alias/nothing", &b]), "Forbidden.AliasNotFound");

    let of_a = json(t, &["list-aliases", "--key", &a]);
    assert_eq!(of_a.as_array().unwrap().len(), 1);
    assert_eq!(text(&of_a[0], "AliasName"), "alias/orders-2");
    json(t, &["delete-alias", "alias/orders-2"]);
    assert_eq!(failure(t, &["delete-alias", "alias/orders-2"]), "Forbidden.AliasNotFound");
    assert!(s.find_objects(&[Attribute::Label(b"alias/orders-2".to_vec())]).unwrap().is_empty());
    assert_eq!(json(t, &["list-aliases"]).as_array().unwrap().len(), 1);
}

#[test]
fn encrypt_decrypt_and_data_keys_survive_a_new_version() {
    let t = "t03";
    let _s = common::user_session(t);
    let k = text(&json(t, &["create-key", "--key-spec", "Aliyun_SM4"]), "KeyId");
    let ctx = r#"{"order":"42"}"#;
    let sealed = json(t, &["encrypt", &k, "--plaintext", "hello", "--context", ctx]);
    let blob = text(&sealed, "CiphertextBlob");
    let v1 = text(&sealed, "KeyVersionId");
    let dk = json(t, &["generate-data-key", &k, "--number-of-bytes", "24"]);
    assert_eq!(base64_len(&text(&dk, "Plaintext")), 24);
    let dk_blob = text(&dk, "CiphertextBlob");
    let hidden = json(t, &["generate-data-key-without-plaintext", &k]);
    assert!(hidden.get("Plaintext").is_none());

    let v2 = text(&json(t, &["create-key-version", &k])[0], "KeyVersionId");
    assert_ne!(v1, v2);
    let versions = json(t, &["list-key-versions", &k]);
    assert_eq!(versions.as_array().unwrap().len(), 2);
    assert_eq!(versions[1]["Primary"], true);
    assert_eq!(text(&json(t, &["encrypt", &k, "--plaintext", "x"]), "KeyVersionId"), v2);

    let opened = json(t, &["decrypt", "--ciphertext-blob", &blob, "--context", ctx]);
    assert_eq!(text(&opened, "Plaintext"), "aGVsbG8=");
    assert_eq!(text(&opened, "KeyVersionId"), v1);
    assert_eq!(text(&json(t, &["decrypt", "--ciphertext-blob", &dk_blob]), "Plaintext").len() % 4, 0);
    json(t, &["decrypt", "--ciphertext-blob", &text(&hidden, "CiphertextBlob")]);
    assert_eq!(failure(t, &["decrypt", "--ciphertext-blob", &blob]), "CKR_ENCRYPTED_DATA_INVALID");
    assert_eq!(
        failure(t, &["decrypt", "--ciphertext-blob", &blob, "--context", r#"{"order":"43"}"#]),
        "CKR_ENCRYPTED_DATA_INVALID"
    );
    assert_eq!(failure(t, &["generate-data-key", &k, "--number-of-bytes", "1025"]), "InvalidParameter");
}

fn base64_len(text: &str) -> usize {
    let pad = text.bytes().rev().take_while(|b| *b == b'=').count();
    text.len() / 4 * 3 - pad
}

#[test]
fn asymmetric_versions_are_seven_days_apart() {
    let t = "t04";
    let _s = common::user_session(t);
    let k = text(&json(t, &["create-key", "--key-spec", "RSA_2048"]), "KeyId");
    assert_eq!(failure(t, &["create-key-version", &k]), "InvalidParameter");
    assert_eq!(
        failure(
            t,
            &[
                "update-rotation-policy",
                &k,
                "--enable-automatic-rotation",
                "true",
                "--rotation-interval",
                "30d"
            ]
        ),
        "UnsupportedOperation"
    );
}

#[test]
fn states_show_through_the_c_abi() {
    let t = "t05";
    let s = common::user_session(t);
    let k = text(&json(t, &["create-key"]), "KeyId");
    let obj = key_objects(&s, &k)[0];
    let cbc = || Mechanism::AesCbcPad([7u8; 16]);
    s.encrypt(&cbc(), obj, &[1, 2, 3]).unwrap();

    assert_eq!(text(&json(t, &["disable-key", &k]), "KeyState"), "Disabled");
    // Any object call brings this process up to date with kmsctl's change.
    s.get_attributes(obj, &[AttributeType::Label]).unwrap();
    assert_eq!(common::err(s.encrypt_init(&cbc(), obj)), cryptoki::error::RvError::KeyFunctionNotPermitted);
    assert_eq!(failure(t, &["encrypt", &k, "--plaintext", "x"]), "Rejected.Disabled");
    json(t, &["enable-key", &k]);
    // A refusal is checked against the store before it is given: the key kmsctl enabled a
    // moment ago works at once, with no object call in between.
    s.encrypt(&cbc(), obj, &[1]).unwrap();

    json(
        t,
        &[
            "set-deletion-protection",
            &k,
            "--enable-deletion-protection",
            "true",
            "--deletion-protection-description",
            "prod",
        ],
    );
    assert_eq!(failure(t, &["schedule-key-deletion", &k]), "Forbidden.DeletionProtected");
    json(t, &["set-deletion-protection", &k, "--enable-deletion-protection", "false"]);
    assert_eq!(
        failure(t, &["schedule-key-deletion", &k, "--pending-window-in-days", "6"]),
        "InvalidParameter"
    );
    let pending = json(t, &["schedule-key-deletion", &k, "--pending-window-in-days", "7"]);
    assert_eq!(text(&pending, "KeyState"), "PendingDeletion");
    assert!(pending["DeleteDate"].is_string());
    assert!(key_objects(&s, &k).is_empty(), "a key pending deletion is found");
    assert_eq!(common::err(s.encrypt_init(&cbc(), obj)), cryptoki::error::RvError::KeyFunctionNotPermitted);
    // kmsctl still lists it, and can cancel.
    let listed = json(t, &["list-keys"]);
    assert!(listed.as_array().unwrap().iter().any(|x| text(x, "KeyState") == "PendingDeletion"));
    assert_eq!(text(&json(t, &["cancel-key-deletion", &k]), "KeyState"), "Enabled");
    assert_eq!(key_objects(&s, &k), [obj]);
}

#[test]
fn tags_rotation_policy_and_quotas() {
    let t = "t06";
    let _s = common::user_session(t);
    let k = text(&json(t, &["create-key"]), "KeyId");
    let tagged = json(
        t,
        &["tag-resource", &k, "--tags", r#"[{"TagKey":"a","TagValue":"1"},{"TagKey":"b","TagValue":"2"}]"#],
    );
    assert_eq!(tagged["Tags"], serde_json::json!({"a":"1","b":"2"}));
    let untagged = json(t, &["untag-resource", &k, "--tag-keys", r#"["a"]"#]);
    assert_eq!(untagged["Tags"], serde_json::json!({"b":"2"}));

    let on = json(
        t,
        &["update-rotation-policy", &k, "--enable-automatic-rotation", "true", "--rotation-interval", "7d"],
    );
    assert_eq!(text(&on, "AutomaticRotation"), "Enabled");
    assert_eq!(text(&on, "RotationInterval"), "604800s");
    assert!(on["NextRotationDate"].is_string());
    assert_eq!(
        failure(
            t,
            &[
                "update-rotation-policy",
                &k,
                "--enable-automatic-rotation",
                "true",
                "--rotation-interval",
                "6d"
            ]
        ),
        "InvalidParameter"
    );
    let off = json(t, &["update-rotation-policy", &k, "--enable-automatic-rotation", "false"]);
    assert_eq!(text(&off, "AutomaticRotation"), "Disabled");

    let q = json(t, &["describe-quotas"]);
    let keys = q["Resources"].as_array().unwrap().iter().find(|r| r["Resource"] == "Keys").unwrap().clone();
    assert_eq!(keys["Used"], 1);
    assert_eq!(q["RequestRates"].as_array().unwrap().len(), 5);
}

#[test]
fn failures_exit_non_zero_with_the_kms_code() {
    let t = "t07";
    let _s = common::user_session(t);
    assert_eq!(
        failure(t, &["describe-key", "00000000-0000-4000-8000-000000000000"]),
        "Forbidden.KeyNotFound"
    );
    assert_eq!(failure(t, &["describe-key", "alias/none"]), "Forbidden.AliasNotFound");
    assert_eq!(failure(t, &["create-key", "--key-spec", "DES"]), "InvalidParameter");
    let out = Command::new(env!("CARGO_BIN_EXE_kmsctl"))
        .args(["--token", t, "list-keys"])
        .env("KMSCTL_PIN", "wrong-pin")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("CKR_PIN_INCORRECT"));
    // Human output is text, not JSON.
    let plain = kmsctl(t, &["list-keys"]);
    assert!(plain.status.success());
    assert!(String::from_utf8_lossy(&plain.stdout).starts_with("KEY ID"));
}
