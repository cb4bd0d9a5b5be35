//! Object management: `C_CreateObject`, `C_CopyObject`, `C_DestroyObject`, `C_GetObjectSize`,
//! `C_GetAttributeValue`, `C_SetAttributeValue` and `C_FindObjects*`, on data objects, X.509
//! certificates (`tests/data/cert.der`), AES keys and generic secrets; visibility of private
//! and session objects; and a second process on the same token (this binary run again as the
//! `peer_process` test).

mod common;

use common::{SO_PIN, USER_PIN, err, pin, ro, rw};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, CertificateType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki_sys::*;
use std::ptr::null_mut;

const AES_128: [u8; 16] = *b"0123456789abcdef";
/// The first three bytes of AES-128-ECB of a zero block under `AES_128` (`openssl enc`).
const AES_128_CHECK_VALUE: [u8; 3] = [0x0b, 0x9b, 0x15];
/// A generic secret of 20 bytes 0x05, and the first three bytes of its SHA-1.
const GENERIC_20: [u8; 20] = [5; 20];
const GENERIC_20_CHECK_VALUE: [u8; 3] = [0x29, 0xd2, 0xc2];
/// The first three bytes of the SHA-1 of `tests/data/cert.der` (`openssl dgst -sha1`).
const CERT_CHECK_VALUE: [u8; 3] = [0xdf, 0xc4, 0x09];

fn data(label: &str) -> Vec<Attribute> {
    vec![Attribute::Class(ObjectClass::DATA), Attribute::Label(label.into())]
}

fn aes_key(extra: &[Attribute]) -> Vec<Attribute> {
    let mut t = vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Value(AES_128.to_vec()),
    ];
    t.extend_from_slice(extra);
    t
}

fn generic_secret(value: &[u8], extra: &[Attribute]) -> Vec<Attribute> {
    let mut t = vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::GENERIC_SECRET),
        Attribute::Value(value.to_vec()),
    ];
    t.extend_from_slice(extra);
    t
}

/// `C_GetAttributeValue` on one attribute, with the size query first: the value, or the return
/// value of the failing call.
fn get(s: &Session, obj: ObjectHandle, ty: CK_ATTRIBUTE_TYPE) -> Result<Vec<u8>, CK_RV> {
    let mut a = [CK_ATTRIBUTE { type_: ty, pValue: null_mut(), ulValueLen: 0 }];
    let rv = raw_get(s, obj.handle(), &mut a);
    if rv != CKR_OK {
        // 2.40 §5.7 C_GetAttributeValue: an attribute it cannot give has this length.
        if [CKR_ATTRIBUTE_SENSITIVE, CKR_ATTRIBUTE_TYPE_INVALID].contains(&rv) {
            assert_eq!(a[0].ulValueLen, CK_UNAVAILABLE_INFORMATION, "ulValueLen after {rv:#x}");
        }
        return Err(rv);
    }
    let mut buf = vec![0u8; a[0].ulValueLen as usize];
    a[0].pValue = buf.as_mut_ptr().cast();
    let rv = raw_get(s, obj.handle(), &mut a);
    if rv != CKR_OK {
        return Err(rv);
    }
    buf.truncate(a[0].ulValueLen as usize);
    Ok(buf)
}

fn raw_get(s: &Session, obj: CK_OBJECT_HANDLE, tpl: &mut [CK_ATTRIBUTE]) -> CK_RV {
    // SAFETY: each attribute's buffer is null or holds `ulValueLen` bytes.
    unsafe {
        common::raw().C_GetAttributeValue.unwrap()(
            common::raw_handle(s),
            obj,
            tpl.as_mut_ptr(),
            tpl.len() as CK_ULONG,
        )
    }
}

#[track_caller]
fn get_bool(s: &Session, obj: ObjectHandle, ty: CK_ATTRIBUTE_TYPE) -> bool {
    let v = get(s, obj, ty).unwrap_or_else(|rv| panic!("attribute {ty:#x}: {rv:#x}"));
    assert_eq!(v.len(), 1, "attribute {ty:#x} is not a CK_BBOOL");
    v[0] != CK_FALSE
}

#[track_caller]
fn get_ulong(s: &Session, obj: ObjectHandle, ty: CK_ATTRIBUTE_TYPE) -> CK_ULONG {
    let v = get(s, obj, ty).unwrap_or_else(|rv| panic!("attribute {ty:#x}: {rv:#x}"));
    CK_ULONG::from_ne_bytes(v.try_into().expect("a CK_ULONG"))
}

#[track_caller]
fn get_bytes(s: &Session, obj: ObjectHandle, ty: CK_ATTRIBUTE_TYPE) -> Vec<u8> {
    get(s, obj, ty).unwrap_or_else(|rv| panic!("attribute {ty:#x}: {rv:#x}"))
}

/// The label of an object, through the `cryptoki` API (which the peer process can use too: it
/// has no `common::raw()`).
fn label(s: &Session, obj: ObjectHandle) -> String {
    match &s.get_attributes(obj, &[AttributeType::Label]).unwrap()[..] {
        [Attribute::Label(l)] => String::from_utf8(l.clone()).unwrap(),
        other => panic!("CKA_LABEL of {obj}: {other:?}"),
    }
}

/// Labels of the objects a search finds, sorted.
fn labels(s: &Session, template: &[Attribute]) -> Vec<String> {
    let mut out: Vec<String> = s.find_objects(template).unwrap().into_iter().map(|o| label(s, o)).collect();
    out.sort();
    out
}

fn count(s: &Session, template: &[Attribute]) -> usize {
    s.find_objects(template).unwrap().len()
}

/// A handle the token never gave out.
fn bogus_handle() -> ObjectHandle {
    // SAFETY: only used to check that the library refuses it.
    unsafe { ObjectHandle::new_from_raw(0x7fff_fff0) }
}

fn cert_der() -> Vec<u8> {
    std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/cert.der")).expect("tests/data/cert.der")
}

/// The DER elements in `der`, each as (tag, whole element, contents).
fn der_elements(mut der: &[u8]) -> Vec<(u8, &[u8], &[u8])> {
    let mut out = Vec::new();
    while !der.is_empty() {
        let (len, header) = match der[1] {
            n if n < 0x80 => (n as usize, 2),
            0x81 => (der[2] as usize, 3),
            0x82 => (u16::from_be_bytes([der[2], der[3]]) as usize, 4),
            n => panic!("DER length form {n:#x} not expected in the fixture"),
        };
        out.push((der[0], &der[..header + len], &der[header..header + len]));
        der = &der[header + len..];
    }
    out
}

/// (serial number, issuer, subject) of a DER certificate, each DER-encoded.
fn cert_fields(cert: &[u8]) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let outer = der_elements(cert);
    let tbs = der_elements(der_elements(outer[0].2)[0].2);
    // TBSCertificate: [0] version, serialNumber, signature, issuer, validity, subject, ...
    assert_eq!(tbs[0].0, 0xa0, "the fixture is a v3 certificate");
    (tbs[1].1.to_vec(), tbs[3].1.to_vec(), tbs[5].1.to_vec())
}

fn x509(label: &str, cert: &[u8]) -> Vec<Attribute> {
    let (_, _, subject) = cert_fields(cert);
    vec![
        Attribute::Class(ObjectClass::CERTIFICATE),
        Attribute::CertificateType(CertificateType::X_509),
        Attribute::Subject(subject),
        Attribute::Value(cert.to_vec()),
        Attribute::Label(label.into()),
    ]
}

/// Raw `C_FindObjects*` collecting the handles `max` at a time.
fn find_in_chunks(s: &Session, template: &[Attribute], max: usize) -> Vec<CK_OBJECT_HANDLE> {
    let l = common::raw();
    let h = common::raw_handle(s);
    let mut tpl: Vec<CK_ATTRIBUTE> = template.iter().map(Into::into).collect();
    let mut out = Vec::new();
    let mut chunk = vec![0; max];
    // SAFETY: the template's values live in `template`; `chunk` holds `max` handles.
    unsafe {
        assert_eq!(l.C_FindObjectsInit.unwrap()(h, tpl.as_mut_ptr(), tpl.len() as CK_ULONG), CKR_OK);
        loop {
            let mut found = 0;
            assert_eq!(l.C_FindObjects.unwrap()(h, chunk.as_mut_ptr(), max as CK_ULONG, &mut found), CKR_OK);
            assert!(found as usize <= max);
            if found == 0 {
                break;
            }
            out.extend_from_slice(&chunk[..found as usize]);
        }
        assert_eq!(l.C_FindObjectsFinal.unwrap()(h), CKR_OK);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The second process: this binary again, running only `peer_process`, with the library
// configuration this process set up (`KMS_PKCS11_CONFIG` and `KMS_PKCS11_HOME` are inherited).

const PEER_TOKEN: &str = "KMS_PKCS11_TEST_PEER_TOKEN";
const PEER_SCRIPT: &str = "KMS_PKCS11_TEST_PEER_SCRIPT";

/// Runs `script` (commands separated by `;`, see `peer_process`) in a second process logged in
/// as the user of `token`, and returns the answer to each command.
fn run_peer(token: &str, script: &str) -> Vec<String> {
    common::env();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["peer_process", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(PEER_TOKEN, token)
        .env(PEER_SCRIPT, script)
        .output()
        .expect("spawn the peer process");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "peer process failed on '{script}': {}\n--- stdout\n{stdout}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .filter_map(|l| l.split_once("PEER> ").map(|(_, answer)| answer))
        .map(str::to_string)
        .collect()
}

/// A user session of `token` in a library of this (peer) process.
fn peer_login(pkcs11: &Pkcs11, token: &str) -> Session {
    let idx = common::TOKENS.iter().position(|t| *t == token).expect("token name");
    let slot = pkcs11.get_all_slots().unwrap()[idx];
    let s = pkcs11.open_rw_session(slot).unwrap();
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    s
}

fn peer_library() -> Pkcs11 {
    // Keep the module mapped for the life of the peer even when `Pkcs11` unloads it after
    // C_Finalize: unloading it crashes the process at thread exit (see
    // `general::module_unloaded_after_finalize_does_not_crash_threads_that_used_it`).
    // SAFETY: loading the module runs no code of ours; the handle is never closed.
    std::mem::forget(unsafe { libloading::Library::new(common::module_path()) }.expect("dlopen"));
    let pkcs11 = Pkcs11::new(common::module_path()).unwrap();
    pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)).unwrap();
    pkcs11
}

/// The single object with this label, in the peer.
fn peer_find(s: &Session, label: &str) -> ObjectHandle {
    let found = s.find_objects(&[Attribute::Label(label.into())]).unwrap();
    assert_eq!(found.len(), 1, "objects labelled {label}");
    found[0]
}

/// The second process of the two-process tests. Commands: `labels` (the sorted labels of every
/// object), `value:L` (CKA_VALUE of the object labelled L, in hex), `create:L` (a public token data
/// object), `relabel:L:M`, `destroy:L`, `restart` (C_Finalize, C_Initialize and log in again).
#[test]
#[ignore = "the second process of the two-process tests, which run it with --ignored"]
fn peer_process() {
    let token = std::env::var(PEER_TOKEN).expect("run by run_peer");
    let script = std::env::var(PEER_SCRIPT).expect("run by run_peer");
    assert!(std::env::var_os("KMS_PKCS11_CONFIG").is_some(), "inherits the test configuration");
    let mut pkcs11 = peer_library();
    let mut s = peer_login(&pkcs11, &token);
    for command in script.split(';') {
        let parts: Vec<&str> = command.split(':').collect();
        let answer = match parts[..] {
            ["labels"] => labels(&s, &[]).join(","),
            ["value", l] => match &s.get_attributes(peer_find(&s, l), &[AttributeType::Value]).unwrap()[..] {
                [Attribute::Value(v)] => hex::encode(v),
                other => panic!("CKA_VALUE of {l}: {other:?}"),
            },
            ["create", l] => {
                s.create_object(&[data(l), vec![Attribute::Token(true), Attribute::Private(false)]].concat())
                    .unwrap();
                "created".into()
            }
            ["relabel", from, to] => {
                s.update_attributes(peer_find(&s, from), &[Attribute::Label(to.into())]).unwrap();
                "relabelled".into()
            }
            ["destroy", l] => {
                s.destroy_object(peer_find(&s, l)).unwrap();
                "destroyed".into()
            }
            ["restart"] => {
                drop(s);
                pkcs11.finalize().unwrap();
                pkcs11 = peer_library();
                s = peer_login(&pkcs11, &token);
                "restarted".into()
            }
            _ => panic!("unknown peer command {command}"),
        };
        println!("PEER> {answer}");
    }
}

// ---------------------------------------------------------------------------------------------
// Data objects and the rules common to all objects

#[test]
fn data_object_defaults() {
    let s = common::user_session("t00");
    let o = s.create_object(&[Attribute::Class(ObjectClass::DATA)]).unwrap();
    assert!(!get_bool(&s, o, CKA_TOKEN), "CKA_TOKEN defaults to false");
    assert!(get_bool(&s, o, CKA_MODIFIABLE));
    assert!(get_bool(&s, o, CKA_COPYABLE));
    assert!(get_bool(&s, o, CKA_DESTROYABLE));
    // CKA_PRIVATE has a token-specific default, but it is there.
    get_bool(&s, o, CKA_PRIVATE);
    for empty in [CKA_LABEL, CKA_APPLICATION, CKA_OBJECT_ID, CKA_VALUE] {
        assert_eq!(get_bytes(&s, o, empty), b"", "attribute {empty:#x} defaults to empty");
    }
    assert_eq!(get_ulong(&s, o, CKA_CLASS), CKO_DATA);
}

#[test]
fn data_object_attributes_round_trip() {
    let s = common::user_session("t01");
    let oid = vec![0x06, 0x03, 0x2a, 0x03, 0x04];
    let o = s
        .create_object(&[
            Attribute::Class(ObjectClass::DATA),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Label(b"a data object".to_vec()),
            Attribute::Application(b"kms tests".to_vec()),
            Attribute::ObjectId(oid.clone()),
            Attribute::Value(b"some private bytes".to_vec()),
        ])
        .unwrap();
    assert!(get_bool(&s, o, CKA_TOKEN));
    assert!(get_bool(&s, o, CKA_PRIVATE));
    assert_eq!(label(&s, o), "a data object");
    assert_eq!(get_bytes(&s, o, CKA_APPLICATION), b"kms tests");
    assert_eq!(get_bytes(&s, o, CKA_OBJECT_ID), oid);
    assert_eq!(get_bytes(&s, o, CKA_VALUE), b"some private bytes");
}

#[test]
fn missing_required_attributes_are_template_incomplete() {
    let s = common::user_session("t02");
    let cases: Vec<(&str, Vec<Attribute>)> = vec![
        ("no CKA_CLASS", vec![Attribute::Label(b"no class".to_vec())]),
        (
            "secret key without CKA_KEY_TYPE",
            vec![Attribute::Class(ObjectClass::SECRET_KEY), Attribute::Value(AES_128.to_vec())],
        ),
        (
            "AES key without CKA_VALUE",
            vec![Attribute::Class(ObjectClass::SECRET_KEY), Attribute::KeyType(KeyType::AES)],
        ),
        (
            "generic secret without CKA_VALUE",
            vec![Attribute::Class(ObjectClass::SECRET_KEY), Attribute::KeyType(KeyType::GENERIC_SECRET)],
        ),
    ];
    for (what, template) in cases {
        assert_eq!(err(s.create_object(&template)), RvError::TemplateIncomplete, "{what}");
    }
    // An X.509 certificate needs CKA_CERTIFICATE_TYPE, CKA_SUBJECT and CKA_VALUE (2.40 §4.6.3).
    let full = x509("cert", &cert_der());
    for missing in 1..4 {
        let mut t = full.clone();
        t.remove(missing);
        assert_eq!(
            err(s.create_object(&t)),
            RvError::TemplateIncomplete,
            "certificate without {:?}",
            full[missing]
        );
    }
}

#[test]
fn attributes_fixed_at_creation_are_attribute_read_only() {
    let s = common::user_session("t03");
    let d = s.create_object(&data("before")).unwrap();
    s.update_attributes(d, &[Attribute::Label(b"after".to_vec())]).unwrap();
    assert_eq!(label(&s, d), "after");
    assert_eq!(
        err(s.update_attributes(d, &[Attribute::Class(ObjectClass::CERTIFICATE)])),
        RvError::AttributeReadOnly
    );
    // CKA_TOKEN and CKA_PRIVATE change only in a copy (2.40 §4.4).
    assert_eq!(err(s.update_attributes(d, &[Attribute::Token(true)])), RvError::AttributeReadOnly);
    assert_eq!(err(s.update_attributes(d, &[Attribute::Private(true)])), RvError::AttributeReadOnly);
    assert_eq!(get_ulong(&s, d, CKA_CLASS), CKO_DATA);

    let c = s.create_object(&x509("cert", &cert_der())).unwrap();
    assert_eq!(
        err(s.update_attributes(c, &[Attribute::Value(b"other".to_vec())])),
        RvError::AttributeReadOnly
    );
    let set_type = s.update_attributes(c, &[Attribute::CertificateType(CertificateType::X_509_ATTR)]);
    assert_eq!(err(set_type), RvError::AttributeReadOnly);
    s.update_attributes(c, &[Attribute::Label(b"relabelled".to_vec()), Attribute::Id(b"id".to_vec())])
        .unwrap();

    let k = s.create_object(&aes_key(&[])).unwrap();
    assert_eq!(err(s.update_attributes(k, &[Attribute::Value(vec![9; 16])])), RvError::AttributeReadOnly);
    assert_eq!(
        err(s.update_attributes(k, &[Attribute::KeyType(KeyType::GENERIC_SECRET)])),
        RvError::AttributeReadOnly
    );
    assert_eq!(err(s.update_attributes(k, &[Attribute::ValueLen(32.into())])), RvError::AttributeReadOnly);
    // Usage flags and the id may change.
    s.update_attributes(k, &[Attribute::Encrypt(false), Attribute::Id(b"k1".to_vec())]).unwrap();
    assert!(!get_bool(&s, k, CKA_ENCRYPT));
}

#[test]
fn unmodifiable_object_refuses_changes_with_action_prohibited() {
    let s = common::user_session("t04");
    let o = s.create_object(&[data("frozen"), vec![Attribute::Modifiable(false)]].concat()).unwrap();
    assert_eq!(
        err(s.update_attributes(o, &[Attribute::Label(b"thawed".to_vec())])),
        RvError::ActionProhibited
    );
    assert_eq!(label(&s, o), "frozen");
    // A copy may make a modifiable object unmodifiable.
    let m = s.create_object(&data("modifiable")).unwrap();
    let copy = s.copy_object(m, &[Attribute::Modifiable(false)]).unwrap();
    assert_eq!(err(s.update_attributes(copy, &[Attribute::Label(b"x".to_vec())])), RvError::ActionProhibited);
    // Unmodifiable objects can still be destroyed.
    s.destroy_object(o).unwrap();
}

#[test]
fn undestroyable_object_refuses_destroy_with_action_prohibited() {
    let s = common::user_session("t05");
    let o = s.create_object(&[data("forever"), vec![Attribute::Destroyable(false)]].concat()).unwrap();
    assert_eq!(err(s.destroy_object(o)), RvError::ActionProhibited);
    assert_eq!(label(&s, o), "forever");
    s.update_attributes(o, &[Attribute::Label(b"still here".to_vec())]).unwrap();
}

#[test]
fn uncopyable_object_refuses_copy_with_action_prohibited() {
    let s = common::user_session("t06");
    let o = s.create_object(&[data("single"), vec![Attribute::Copyable(false)]].concat()).unwrap();
    assert_eq!(err(s.copy_object(o, &[])), RvError::ActionProhibited);
    // CKA_COPYABLE cannot go back to true once false.
    assert_eq!(err(s.update_attributes(o, &[Attribute::Copyable(true)])), RvError::AttributeReadOnly);
    assert!(!get_bool(&s, o, CKA_COPYABLE));
}

#[test]
fn copy_object_makes_an_independent_object_with_the_template_applied() {
    let s = common::user_session("t07");
    let o =
        s.create_object(&[data("original"), vec![Attribute::Value(b"payload".to_vec())]].concat()).unwrap();
    let copy = s.copy_object(o, &[Attribute::Label(b"copy".to_vec()), Attribute::Token(true)]).unwrap();
    assert_ne!(copy.handle(), o.handle());
    assert_eq!(label(&s, copy), "copy");
    assert!(get_bool(&s, copy, CKA_TOKEN));
    assert_eq!(get_bytes(&s, copy, CKA_VALUE), b"payload");
    assert_ne!(get_bytes(&s, copy, CKA_UNIQUE_ID), get_bytes(&s, o, CKA_UNIQUE_ID));
    // The original is unchanged, and changing the copy does not touch it.
    s.update_attributes(copy, &[Attribute::Label(b"copy renamed".to_vec())]).unwrap();
    assert_eq!(label(&s, o), "original");
    assert!(!get_bool(&s, o, CKA_TOKEN));
}

#[test]
fn unique_ids_are_present_distinct_and_read_only() {
    let s = common::user_session("t09");
    let objects = [
        s.create_object(&data("one")).unwrap(),
        s.create_object(&[data("two"), vec![Attribute::Token(true)]].concat()).unwrap(),
        s.create_object(&aes_key(&[])).unwrap(),
    ];
    let mut ids: Vec<Vec<u8>> = objects.iter().map(|o| get_bytes(&s, *o, CKA_UNIQUE_ID)).collect();
    assert!(ids.iter().all(|id| !id.is_empty()));
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "unique ids repeat");
    // 3.0, storage objects: CKA_UNIQUE_ID is set by the token, never by the application.
    let set = s.update_attributes(objects[0], &[Attribute::UniqueId(b"mine".to_vec())]);
    assert_eq!(err(set), RvError::AttributeReadOnly);
    let create = s.create_object(&[data("three"), vec![Attribute::UniqueId(b"mine".to_vec())]].concat());
    assert_eq!(err(create), RvError::AttributeReadOnly);
    let copy = s.copy_object(objects[0], &[Attribute::UniqueId(b"mine".to_vec())]);
    assert_eq!(err(copy), RvError::AttributeReadOnly);
}

// ---------------------------------------------------------------------------------------------
// C_GetAttributeValue conventions, sizes, bad arguments and handles

#[test]
fn get_attribute_value_size_query_and_short_buffer() {
    let s = common::user_session("t10");
    let o = s.create_object(&data("twelve bytes")).unwrap();
    let mut a = [CK_ATTRIBUTE { type_: CKA_LABEL, pValue: null_mut(), ulValueLen: 0 }];
    assert_eq!(raw_get(&s, o.handle(), &mut a), CKR_OK);
    assert_eq!(a[0].ulValueLen, 12);
    let mut buf = [0u8; 40];
    a[0].pValue = buf.as_mut_ptr().cast();
    a[0].ulValueLen = buf.len() as CK_ULONG;
    assert_eq!(raw_get(&s, o.handle(), &mut a), CKR_OK);
    assert_eq!(a[0].ulValueLen, 12, "the length is set to the value's length");
    assert_eq!(&buf[..12], b"twelve bytes");

    let mut small = [0u8; 4];
    let mut class = [0u8; 8];
    let mut a = [
        CK_ATTRIBUTE { type_: CKA_LABEL, pValue: small.as_mut_ptr().cast(), ulValueLen: 4 },
        CK_ATTRIBUTE { type_: CKA_CLASS, pValue: class.as_mut_ptr().cast(), ulValueLen: 8 },
    ];
    assert_eq!(raw_get(&s, o.handle(), &mut a), CKR_BUFFER_TOO_SMALL);
    assert_eq!(a[0].ulValueLen, CK_UNAVAILABLE_INFORMATION);
    // Every other attribute of the template is still processed.
    assert_eq!(a[1].ulValueLen, 8);
    assert_eq!(CK_ULONG::from_ne_bytes(class), CKO_DATA);
}

#[test]
fn unknown_attribute_is_attribute_type_invalid() {
    let s = common::user_session("t11");
    let o = s.create_object(&data("plain")).unwrap();
    let mut a = [
        CK_ATTRIBUTE { type_: CKA_VENDOR_DEFINED | 0x4242, pValue: null_mut(), ulValueLen: 0 },
        CK_ATTRIBUTE { type_: CKA_MODULUS, pValue: null_mut(), ulValueLen: 0 },
        CK_ATTRIBUTE { type_: CKA_LABEL, pValue: null_mut(), ulValueLen: 0 },
    ];
    assert_eq!(raw_get(&s, o.handle(), &mut a), CKR_ATTRIBUTE_TYPE_INVALID);
    assert_eq!(a[0].ulValueLen, CK_UNAVAILABLE_INFORMATION);
    assert_eq!(a[1].ulValueLen, CK_UNAVAILABLE_INFORMATION, "a data object has no CKA_MODULUS");
    assert_eq!(a[2].ulValueLen, 5);
    // In a template to create or change an object, too.
    let vendor =
        Attribute::VendorDefined((AttributeType::VendorDefined(CKA_VENDOR_DEFINED | 0x4242), vec![1]));
    assert_eq!(
        err(s.create_object(&[data("x"), vec![vendor.clone()]].concat())),
        RvError::AttributeTypeInvalid
    );
    assert_eq!(err(s.update_attributes(o, &[vendor])), RvError::AttributeTypeInvalid);
}

#[test]
fn null_pointer_arguments_are_arguments_bad() {
    let s = common::user_session("t12");
    let o = s.create_object(&data("x")).unwrap().handle();
    let (l, h) = (common::raw(), common::raw_handle(&s));
    let mut class = CKO_DATA.to_ne_bytes();
    let mut tpl = [CK_ATTRIBUTE { type_: CKA_CLASS, pValue: class.as_mut_ptr().cast(), ulValueLen: 8 }];
    let mut found = 0;
    let mut handles = [0; 2];
    // SAFETY: null pointers where the library must refuse them; the rest point to live values.
    unsafe {
        assert_eq!(l.C_GetAttributeValue.unwrap()(h, o, null_mut(), 1), CKR_ARGUMENTS_BAD);
        assert_eq!(l.C_GetObjectSize.unwrap()(h, o, null_mut()), CKR_ARGUMENTS_BAD);
        assert_eq!(l.C_CreateObject.unwrap()(h, tpl.as_mut_ptr(), 1, null_mut()), CKR_ARGUMENTS_BAD);
        assert_eq!(l.C_CreateObject.unwrap()(h, null_mut(), 1, handles.as_mut_ptr()), CKR_ARGUMENTS_BAD);
        assert_eq!(l.C_CopyObject.unwrap()(h, o, null_mut(), 0, null_mut()), CKR_ARGUMENTS_BAD);
        assert_eq!(l.C_SetAttributeValue.unwrap()(h, o, null_mut(), 1), CKR_ARGUMENTS_BAD);
        assert_eq!(l.C_FindObjectsInit.unwrap()(h, null_mut(), 1), CKR_ARGUMENTS_BAD);
        assert_eq!(l.C_FindObjectsInit.unwrap()(h, null_mut(), 0), CKR_OK);
        assert_eq!(l.C_FindObjects.unwrap()(h, handles.as_mut_ptr(), 2, null_mut()), CKR_ARGUMENTS_BAD);
        assert_eq!(l.C_FindObjects.unwrap()(h, null_mut(), 2, &mut found), CKR_ARGUMENTS_BAD);
        assert_eq!(l.C_FindObjectsFinal.unwrap()(h), CKR_OK);
    }
}

#[test]
fn object_size_is_reported() {
    let s = common::user_session("t13");
    let o = s.create_object(&[data("sized"), vec![Attribute::Value(vec![7; 100])]].concat()).unwrap();
    let mut size: CK_ULONG = 0;
    // SAFETY: a writable size.
    let rv = unsafe { common::raw().C_GetObjectSize.unwrap()(common::raw_handle(&s), o.handle(), &mut size) };
    assert_eq!(rv, CKR_OK);
    // 2.40 §5.7: an approximation of the object's size, or CK_UNAVAILABLE_INFORMATION.
    assert_ne!(size, 0);
}

#[test]
fn invalid_object_handle_is_object_handle_invalid_everywhere() {
    let s = common::user_session("t14");
    let destroyed = s.create_object(&[data("gone"), vec![Attribute::Token(true)]].concat()).unwrap();
    s.destroy_object(destroyed).unwrap();
    assert_eq!(count(&s, &[Attribute::Label(b"gone".to_vec())]), 0, "a destroyed object is not found");
    let h = common::raw_handle(&s);
    let l = common::raw();
    for bad in [CK_INVALID_HANDLE, destroyed.handle(), bogus_handle().handle()] {
        let mut label = *b"new";
        let mut tpl = [CK_ATTRIBUTE { type_: CKA_LABEL, pValue: label.as_mut_ptr().cast(), ulValueLen: 3 }];
        let mut query = [CK_ATTRIBUTE { type_: CKA_LABEL, pValue: null_mut(), ulValueLen: 0 }];
        let (mut size, mut copy) = (0, 0);
        // SAFETY: every pointer is to a live value of the right type and size.
        let results = unsafe {
            [
                ("C_GetAttributeValue", l.C_GetAttributeValue.unwrap()(h, bad, query.as_mut_ptr(), 1)),
                ("C_SetAttributeValue", l.C_SetAttributeValue.unwrap()(h, bad, tpl.as_mut_ptr(), 1)),
                ("C_CopyObject", l.C_CopyObject.unwrap()(h, bad, null_mut(), 0, &mut copy)),
                ("C_GetObjectSize", l.C_GetObjectSize.unwrap()(h, bad, &mut size)),
                ("C_DestroyObject", l.C_DestroyObject.unwrap()(h, bad)),
            ]
        };
        for (name, rv) in results {
            assert_eq!(rv, CKR_OBJECT_HANDLE_INVALID, "{name} with object handle {bad:#x}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// X.509 certificates

#[test]
fn x509_certificate_attributes_defaults_and_check_value() {
    let s = common::user_session("t15");
    let cert = cert_der();
    let (serial, issuer, subject) = cert_fields(&cert);
    let plain = s.create_object(&x509("plain", &cert)).unwrap();
    assert_eq!(get_ulong(&s, plain, CKA_CERTIFICATE_TYPE), CKC_X_509);
    assert_eq!(get_bytes(&s, plain, CKA_VALUE), cert);
    assert_eq!(get_bytes(&s, plain, CKA_SUBJECT), subject);
    assert!(!get_bool(&s, plain, CKA_TRUSTED));
    assert_eq!(get_ulong(&s, plain, CKA_CERTIFICATE_CATEGORY), CK_CERTIFICATE_CATEGORY_UNSPECIFIED);
    assert_eq!(get_ulong(&s, plain, CKA_JAVA_MIDP_SECURITY_DOMAIN), CK_SECURITY_DOMAIN_UNSPECIFIED);
    for empty in [CKA_ID, CKA_ISSUER, CKA_SERIAL_NUMBER, CKA_URL, CKA_START_DATE, CKA_END_DATE] {
        assert_eq!(get_bytes(&s, plain, empty), b"", "attribute {empty:#x} defaults to empty");
    }
    // 2.40 §4.6.3: the first three bytes of the SHA-1 of CKA_VALUE.
    assert_eq!(get_bytes(&s, plain, CKA_CHECK_VALUE), CERT_CHECK_VALUE);

    let full = [
        x509("full", &cert),
        vec![
            Attribute::Issuer(issuer.clone()),
            Attribute::SerialNumber(serial.clone()),
            Attribute::Id(b"cert-1".to_vec()),
            Attribute::Token(true),
        ],
    ]
    .concat();
    let o = s.create_object(&full).unwrap();
    assert_eq!(get_bytes(&s, o, CKA_ISSUER), issuer);
    assert_eq!(get_bytes(&s, o, CKA_SERIAL_NUMBER), serial);
    assert_eq!(s.find_objects(&[Attribute::Id(b"cert-1".to_vec())]).unwrap(), vec![o]);
}

// ---------------------------------------------------------------------------------------------
// Secret keys

#[test]
fn imported_aes_key_is_not_local_and_was_never_sensitive() {
    let s = common::user_session("t16");
    let k = s.create_object(&aes_key(&[Attribute::Sensitive(true), Attribute::Extractable(false)])).unwrap();
    assert_eq!(get_ulong(&s, k, CKA_KEY_TYPE), CKK_AES);
    assert_eq!(get_ulong(&s, k, CKA_VALUE_LEN), 16);
    assert!(!get_bool(&s, k, CKA_LOCAL));
    // 2.40 §4.10: always-sensitive and never-extractable only for keys that never left a token.
    assert!(!get_bool(&s, k, CKA_ALWAYS_SENSITIVE));
    assert!(!get_bool(&s, k, CKA_NEVER_EXTRACTABLE));
    assert_eq!(get_ulong(&s, k, CKA_KEY_GEN_MECHANISM), CK_UNAVAILABLE_INFORMATION);
    // The token sets these; a template may not (footnote 2 of the key attribute tables).
    for computed in
        [Attribute::Local(true), Attribute::AlwaysSensitive(true), Attribute::NeverExtractable(true)]
    {
        let t = aes_key(std::slice::from_ref(&computed));
        assert_eq!(err(s.create_object(&t)), RvError::AttributeReadOnly, "creating with {computed:?}");
    }
}

#[test]
fn generated_keys_are_local_with_their_mechanism() {
    let s = common::user_session("t17");
    let aes = s
        .generate_key(
            &Mechanism::AesKeyGen,
            &[Attribute::ValueLen(32.into()), Attribute::Sensitive(true), Attribute::Extractable(false)],
        )
        .unwrap();
    assert!(get_bool(&s, aes, CKA_LOCAL));
    assert!(get_bool(&s, aes, CKA_ALWAYS_SENSITIVE));
    assert!(get_bool(&s, aes, CKA_NEVER_EXTRACTABLE));
    assert_eq!(get_ulong(&s, aes, CKA_KEY_GEN_MECHANISM), CKM_AES_KEY_GEN);
    assert_eq!(get_ulong(&s, aes, CKA_VALUE_LEN), 32);

    let secret = s
        .generate_key(
            &Mechanism::GenericSecretKeyGen,
            &[Attribute::ValueLen(20.into()), Attribute::Sensitive(false), Attribute::Extractable(true)],
        )
        .unwrap();
    assert!(get_bool(&s, secret, CKA_LOCAL));
    assert!(!get_bool(&s, secret, CKA_ALWAYS_SENSITIVE));
    assert!(!get_bool(&s, secret, CKA_NEVER_EXTRACTABLE));
    assert_eq!(get_ulong(&s, secret, CKA_KEY_GEN_MECHANISM), CKM_GENERIC_SECRET_KEY_GEN);
    assert_eq!(get_bytes(&s, secret, CKA_VALUE).len(), 20);
}

#[test]
fn always_sensitive_and_never_extractable_remember_the_past() {
    let s = common::user_session("t18");
    let k = s
        .generate_key(
            &Mechanism::AesKeyGen,
            &[Attribute::ValueLen(16.into()), Attribute::Sensitive(false), Attribute::Extractable(true)],
        )
        .unwrap();
    s.update_attributes(k, &[Attribute::Sensitive(true), Attribute::Extractable(false)]).unwrap();
    assert!(get_bool(&s, k, CKA_SENSITIVE));
    assert!(!get_bool(&s, k, CKA_EXTRACTABLE));
    assert!(!get_bool(&s, k, CKA_ALWAYS_SENSITIVE), "the key was once not sensitive");
    assert!(!get_bool(&s, k, CKA_NEVER_EXTRACTABLE), "the key was once extractable");
    assert_eq!(err(s.update_attributes(k, &[Attribute::AlwaysSensitive(true)])), RvError::AttributeReadOnly);
    assert_eq!(err(s.update_attributes(k, &[Attribute::Local(false)])), RvError::AttributeReadOnly);
}

#[test]
fn sensitive_only_rises_and_extractable_only_falls() {
    let s = common::user_session("t19");
    let k = s.create_object(&aes_key(&[Attribute::Sensitive(false), Attribute::Extractable(true)])).unwrap();
    s.update_attributes(k, &[Attribute::Sensitive(true)]).unwrap();
    assert!(get_bool(&s, k, CKA_SENSITIVE));
    assert_eq!(err(s.update_attributes(k, &[Attribute::Sensitive(false)])), RvError::AttributeReadOnly);
    assert!(get_bool(&s, k, CKA_SENSITIVE));

    s.update_attributes(k, &[Attribute::Extractable(false)]).unwrap();
    assert!(!get_bool(&s, k, CKA_EXTRACTABLE));
    assert_eq!(err(s.update_attributes(k, &[Attribute::Extractable(true)])), RvError::AttributeReadOnly);
    assert!(!get_bool(&s, k, CKA_EXTRACTABLE));

    // Nor can a copy undo either.
    assert_eq!(err(s.copy_object(k, &[Attribute::Sensitive(false)])), RvError::AttributeReadOnly);
    assert_eq!(err(s.copy_object(k, &[Attribute::Extractable(true)])), RvError::AttributeReadOnly);
}

#[test]
fn key_value_is_sensitive_unless_extractable_and_not_sensitive() {
    let s = common::user_session("t20");
    let readable =
        s.create_object(&aes_key(&[Attribute::Sensitive(false), Attribute::Extractable(true)])).unwrap();
    assert_eq!(get_bytes(&s, readable, CKA_VALUE), AES_128);
    for (sensitive, extractable) in [(true, true), (true, false), (false, false)] {
        let k = s
            .create_object(&aes_key(&[Attribute::Sensitive(sensitive), Attribute::Extractable(extractable)]))
            .unwrap();
        // The value is withheld, the other attributes of the same call are still answered.
        let mut a = [
            CK_ATTRIBUTE { type_: CKA_VALUE, pValue: null_mut(), ulValueLen: 0 },
            CK_ATTRIBUTE { type_: CKA_VALUE_LEN, pValue: null_mut(), ulValueLen: 0 },
        ];
        let rv = raw_get(&s, k.handle(), &mut a);
        assert_eq!(rv, CKR_ATTRIBUTE_SENSITIVE, "sensitive {sensitive}, extractable {extractable}");
        assert_eq!(a[0].ulValueLen, CK_UNAVAILABLE_INFORMATION);
        assert_eq!(a[1].ulValueLen, 8);
    }
    // Once made sensitive, the readable key is readable no more.
    s.update_attributes(readable, &[Attribute::Sensitive(true)]).unwrap();
    assert_eq!(get(&s, readable, CKA_VALUE).err(), Some(CKR_ATTRIBUTE_SENSITIVE));
}

#[test]
fn imported_secret_keys_get_value_len_and_check_value() {
    let s = common::user_session("t21");
    let t = generic_secret(&GENERIC_20, &[Attribute::Sensitive(false), Attribute::Extractable(true)]);
    let generic = s.create_object(&t).unwrap();
    assert_eq!(get_ulong(&s, generic, CKA_KEY_TYPE), CKK_GENERIC_SECRET);
    assert_eq!(get_ulong(&s, generic, CKA_VALUE_LEN), 20);
    assert_eq!(get_bytes(&s, generic, CKA_VALUE), GENERIC_20);
    // CKA_CHECK_VALUE is a common secret key attribute (2.40 §4.10, "Key checksum"); Current
    // Mechanisms 3.0, generic secret keys: for a generic secret, the first three bytes of SHA-1 of the value,
    // AES keys: for AES, the first three bytes of the encryption of a zero block.
    let aes = s.create_object(&aes_key(&[])).unwrap();
    assert_eq!(get(&s, aes, CKA_CHECK_VALUE), Ok(AES_128_CHECK_VALUE.to_vec()), "AES key");
    assert_eq!(get(&s, generic, CKA_CHECK_VALUE), Ok(GENERIC_20_CHECK_VALUE.to_vec()), "generic secret");
    // An AES key must have a valid AES length.
    let bad_len = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Value(vec![1; 15]),
    ];
    assert_eq!(err(s.create_object(&bad_len)), RvError::AttributeValueInvalid);
}

#[test]
fn check_value_given_at_creation_must_match_the_key() {
    // CKA_CHECK_VALUE has no "must not be specified" footnote in the secret key table (2.40 §4.10),
    // so a template may carry it; the library checks it (src/mechanism/aes.rs, `import`).
    let s = common::user_session("t31");
    let right = aes_key(&[Attribute::CheckValue(AES_128_CHECK_VALUE.to_vec())]);
    let k = s.create_object(&right);
    assert!(k.is_ok(), "the matching check value was refused: {k:?}");
    let wrong = aes_key(&[Attribute::CheckValue(vec![1, 2, 3])]);
    assert_eq!(err(s.create_object(&wrong)), RvError::AttributeValueInvalid);
}

// ---------------------------------------------------------------------------------------------
// Visibility: private objects, read-only sessions, session objects

#[test]
fn private_objects_are_invisible_without_login_and_to_the_so() {
    let slot = common::fresh_token("t22");
    let s = rw(slot);
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    let private = [Attribute::Private(true)];
    let token_private = s
        .create_object(&[data("token private"), vec![Attribute::Token(true)], private.to_vec()].concat())
        .unwrap();
    let session_private = s.create_object(&[data("session private"), private.to_vec()].concat()).unwrap();
    s.create_object(
        &[data("token public"), vec![Attribute::Token(true), Attribute::Private(false)]].concat(),
    )
    .unwrap();
    s.logout().unwrap();

    assert_eq!(labels(&s, &[]), ["token public"]);
    for o in [token_private, session_private] {
        assert_eq!(get(&s, o, CKA_LABEL).err(), Some(CKR_OBJECT_HANDLE_INVALID));
        assert_eq!(
            err(s.update_attributes(o, &[Attribute::Label(b"x".to_vec())])),
            RvError::ObjectHandleInvalid
        );
        assert_eq!(err(s.copy_object(o, &[])), RvError::ObjectHandleInvalid);
        assert_eq!(err(s.destroy_object(o)), RvError::ObjectHandleInvalid);
    }
    // Creating a private object needs the user too.
    assert_eq!(
        err(s.create_object(&[data("new private"), private.to_vec()].concat())),
        RvError::UserNotLoggedIn
    );

    // The security officer does not see them either.
    s.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
    assert_eq!(labels(&s, &[]), ["token public"]);
    assert_eq!(get(&s, token_private, CKA_LABEL).err(), Some(CKR_OBJECT_HANDLE_INVALID));
    assert_eq!(
        err(s.create_object(&[data("so private"), private.to_vec()].concat())),
        RvError::UserNotLoggedIn
    );
    s.logout().unwrap();

    // Back with the user, the private token object is found again.
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    assert_eq!(labels(&s, &[Attribute::Token(true)]), ["token private", "token public"]);
}

#[test]
fn logout_destroys_private_session_objects_and_voids_private_handles() {
    // 2.40 §5.6 C_Logout: "any of the application's handles to private objects become invalid
    // (even if a user is later logged back into the token, those handles remain invalid). In
    // addition, all private session objects from sessions belonging to the application are
    // destroyed."
    let s = common::user_session("t08");
    let private = [Attribute::Private(true)];
    let token_private = [data("token private"), vec![Attribute::Token(true)], private.to_vec()].concat();
    let token_private = s.create_object(&token_private).unwrap();
    let session_private = s.create_object(&[data("session private"), private.to_vec()].concat()).unwrap();
    let session_public =
        s.create_object(&[data("session public"), vec![Attribute::Private(false)]].concat()).unwrap();
    s.logout().unwrap();
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();

    assert_eq!(labels(&s, &[]), ["session public", "token private"], "private session objects are destroyed");
    assert_eq!(get(&s, session_private, CKA_LABEL).err(), Some(CKR_OBJECT_HANDLE_INVALID));
    assert_eq!(
        get(&s, token_private, CKA_LABEL).err(),
        Some(CKR_OBJECT_HANDLE_INVALID),
        "old private handle"
    );
    assert_eq!(label(&s, session_public), "session public");
    let found = s.find_objects(&[Attribute::Label(b"token private".to_vec())]).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(label(&s, found[0]), "token private");
}

#[test]
fn token_objects_in_a_read_only_session_are_session_read_only() {
    let slot = common::fresh_token("t23");
    let w = rw(slot);
    w.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    let token_object = w.create_object(&[data("on token"), vec![Attribute::Token(true)]].concat()).unwrap();
    let r = ro(slot);
    let on_token = [data("new on token"), vec![Attribute::Token(true)]].concat();
    assert_eq!(err(r.create_object(&on_token)), RvError::SessionReadOnly);
    assert_eq!(
        err(r.update_attributes(token_object, &[Attribute::Label(b"x".to_vec())])),
        RvError::SessionReadOnly
    );
    assert_eq!(err(r.destroy_object(token_object)), RvError::SessionReadOnly);
    assert_eq!(err(r.copy_object(token_object, &[])), RvError::SessionReadOnly);
    // Session objects are fine, as is reading token objects and copying them to the session.
    let session_object = r.create_object(&data("in session")).unwrap();
    r.update_attributes(session_object, &[Attribute::Label(b"renamed".to_vec())]).unwrap();
    let copy = r.copy_object(token_object, &[Attribute::Token(false)]).unwrap();
    assert_eq!(label(&r, copy), "on token");
    r.destroy_object(session_object).unwrap();
}

#[test]
fn session_objects_vanish_when_their_session_closes() {
    let slot = common::fresh_token("t24");
    let a = rw(slot);
    let b = ro(slot);
    let ephemeral = a.create_object(&data("ephemeral")).unwrap();
    let kept = a.create_object(&[data("kept"), vec![Attribute::Token(true)]].concat()).unwrap();
    // Other sessions of the application see a session object while it lives.
    assert_eq!(label(&b, ephemeral), "ephemeral");
    assert_eq!(labels(&b, &[]), ["ephemeral", "kept"]);
    a.close().unwrap();
    assert_eq!(get(&b, ephemeral, CKA_LABEL).err(), Some(CKR_OBJECT_HANDLE_INVALID));
    assert_eq!(labels(&b, &[]), ["kept"]);
    assert_eq!(label(&b, kept), "kept");
}

// ---------------------------------------------------------------------------------------------
// C_FindObjects*

#[test]
fn find_by_label_id_class_and_token() {
    let s = common::user_session("t25");
    let token = Attribute::Token(true);
    for _ in 0..2 {
        s.create_object(&[data("alpha"), vec![token.clone()]].concat()).unwrap();
    }
    s.create_object(&data("alpha")).unwrap();
    s.create_object(&[data("beta"), vec![token.clone()]].concat()).unwrap();
    let key = s
        .create_object(&aes_key(&[
            token.clone(),
            Attribute::Label(b"alpha".to_vec()),
            Attribute::Id(b"k-1".to_vec()),
        ]))
        .unwrap();
    let cert = s
        .create_object(&[x509("cert", &cert_der()), vec![token, Attribute::Id(b"k-1".to_vec())]].concat())
        .unwrap();

    let alpha = || Attribute::Label(b"alpha".to_vec());
    assert_eq!(count(&s, &[]), 6);
    assert_eq!(count(&s, &[alpha()]), 4);
    assert_eq!(count(&s, &[alpha(), Attribute::Class(ObjectClass::DATA)]), 3);
    assert_eq!(count(&s, &[alpha(), Attribute::Token(true)]), 3);
    assert_eq!(count(&s, &[alpha(), Attribute::Token(false)]), 1);
    assert_eq!(count(&s, &[Attribute::Label(b"beta".to_vec())]), 1);
    assert_eq!(count(&s, &[Attribute::Label(b"gamma".to_vec())]), 0);
    let mut by_id = s.find_objects(&[Attribute::Id(b"k-1".to_vec())]).unwrap();
    by_id.sort_by_key(ObjectHandle::handle);
    let mut expected = vec![key, cert];
    expected.sort_by_key(ObjectHandle::handle);
    assert_eq!(by_id, expected);
    assert_eq!(s.find_objects(&[Attribute::Class(ObjectClass::SECRET_KEY)]).unwrap(), vec![key]);
    assert_eq!(
        s.find_objects(&[Attribute::Class(ObjectClass::CERTIFICATE), Attribute::Id(b"k-1".to_vec())])
            .unwrap(),
        vec![cert]
    );
    // Results come out one at a time as well as all at once, each once.
    let mut one_by_one = find_in_chunks(&s, &[], 1);
    one_by_one.sort();
    one_by_one.dedup();
    assert_eq!(one_by_one.len(), 6);
    // A search may name any attribute, the value of a private data object included.
    let secret_note =
        [data("note"), vec![Attribute::Private(true), Attribute::Value(b"findable".to_vec())]].concat();
    let note = s.create_object(&secret_note).unwrap();
    let by_value = [Attribute::Class(ObjectClass::DATA), Attribute::Value(b"findable".to_vec())];
    assert_eq!(s.find_objects(&by_value).unwrap(), vec![note]);
}

#[test]
fn find_operation_must_be_initialized_once() {
    let s = common::user_session("t26");
    let (l, h) = (common::raw(), common::raw_handle(&s));
    let mut handles = [0; 4];
    let mut found = 0;
    // SAFETY: `handles` holds 4 handles; `found` is writable.
    unsafe {
        assert_eq!(
            l.C_FindObjects.unwrap()(h, handles.as_mut_ptr(), 4, &mut found),
            CKR_OPERATION_NOT_INITIALIZED
        );
        assert_eq!(l.C_FindObjectsFinal.unwrap()(h), CKR_OPERATION_NOT_INITIALIZED);
        assert_eq!(l.C_FindObjectsInit.unwrap()(h, null_mut(), 0), CKR_OK);
        assert_eq!(l.C_FindObjectsInit.unwrap()(h, null_mut(), 0), CKR_OPERATION_ACTIVE);
        assert_eq!(l.C_FindObjects.unwrap()(h, handles.as_mut_ptr(), 4, &mut found), CKR_OK);
        assert_eq!(l.C_FindObjectsFinal.unwrap()(h), CKR_OK);
        assert_eq!(l.C_FindObjectsFinal.unwrap()(h), CKR_OPERATION_NOT_INITIALIZED);
        assert_eq!(
            l.C_FindObjects.unwrap()(h, handles.as_mut_ptr(), 4, &mut found),
            CKR_OPERATION_NOT_INITIALIZED
        );
        // A search is per session: another session may search while this one does.
        let other = common::pkcs11().open_ro_session(common::slot("t26")).unwrap();
        assert_eq!(l.C_FindObjectsInit.unwrap()(h, null_mut(), 0), CKR_OK);
        assert_eq!(l.C_FindObjectsInit.unwrap()(common::raw_handle(&other), null_mut(), 0), CKR_OK);
        assert_eq!(l.C_FindObjectsFinal.unwrap()(common::raw_handle(&other)), CKR_OK);
        assert_eq!(l.C_FindObjectsFinal.unwrap()(h), CKR_OK);
    }
}

#[test]
fn find_among_ten_thousand_token_objects() {
    let s = common::user_session("t27");
    // Every tenth object is a private generic secret with CKA_ID = its number; the others are
    // public data objects. Labels cycle through bulk-0 .. bulk-99.
    for i in 0u32..10_000 {
        let label = Attribute::Label(format!("bulk-{}", i % 100).into_bytes());
        let template = if i % 10 == 0 {
            generic_secret(
                &i.to_be_bytes(),
                &[Attribute::Token(true), label, Attribute::Id(i.to_be_bytes().to_vec())],
            )
        } else {
            vec![
                Attribute::Class(ObjectClass::DATA),
                Attribute::Token(true),
                Attribute::Private(false),
                label,
            ]
        };
        s.create_object(&template).unwrap_or_else(|e| panic!("object {i}: {e}"));
    }
    s.create_object(&data("bulk-7")).unwrap();

    assert_eq!(find_in_chunks(&s, &[Attribute::Token(true)], 1000).len(), 10_000);
    assert_eq!(count(&s, &[Attribute::Class(ObjectClass::DATA), Attribute::Token(true)]), 9_000);
    assert_eq!(count(&s, &[Attribute::Class(ObjectClass::SECRET_KEY)]), 1_000);
    assert_eq!(count(&s, &[Attribute::Label(b"bulk-7".to_vec())]), 101);
    assert_eq!(count(&s, &[Attribute::Label(b"bulk-7".to_vec()), Attribute::Token(true)]), 100);
    assert_eq!(
        count(&s, &[Attribute::Label(b"bulk-20".to_vec()), Attribute::Class(ObjectClass::SECRET_KEY)]),
        100
    );
    assert_eq!(count(&s, &[Attribute::Label(b"bulk-20".to_vec()), Attribute::Class(ObjectClass::DATA)]), 0);
    let by_id = s.find_objects(&[Attribute::Id(4560u32.to_be_bytes().to_vec())]).unwrap();
    assert_eq!(by_id.len(), 1);
    assert_eq!(label(&s, by_id[0]), "bulk-60");
    assert_eq!(count(&s, &[Attribute::Id(4561u32.to_be_bytes().to_vec())]), 0);
    // Without the user, the private keys are not found.
    s.logout().unwrap();
    assert_eq!(count(&s, &[Attribute::Token(true)]), 9_000);
    assert_eq!(count(&s, &[Attribute::Class(ObjectClass::SECRET_KEY)]), 0);
}

// ---------------------------------------------------------------------------------------------
// Two processes on one token

#[test]
fn another_process_sees_objects_created_changed_and_destroyed_here() {
    let s = common::user_session("t28");
    let token = [Attribute::Token(true)];
    let public = s
        .create_object(&[data("shared public"), token.to_vec(), vec![Attribute::Private(false)]].concat())
        .unwrap();
    let private = [
        data("shared private"),
        token.to_vec(),
        vec![Attribute::Private(true), Attribute::Value(b"sealed".to_vec())],
    ];
    let private = s.create_object(&private.concat()).unwrap();
    s.create_object(&data("session only")).unwrap();
    let seen = run_peer("t28", "labels;value:shared private");
    assert_eq!(seen, ["shared private,shared public".to_string(), hex::encode(b"sealed")]);

    s.update_attributes(public, &[Attribute::Label(b"renamed public".to_vec())]).unwrap();
    s.destroy_object(private).unwrap();
    assert_eq!(run_peer("t28", "labels"), ["renamed public"]);
}

#[test]
fn this_process_sees_objects_created_changed_and_destroyed_by_another() {
    let s = common::user_session("t29");
    assert_eq!(run_peer("t29", "create:from peer"), ["created"]);
    let found = s.find_objects(&[Attribute::Label(b"from peer".to_vec())]).unwrap();
    assert_eq!(found.len(), 1);
    let o = found[0];
    assert!(get_bool(&s, o, CKA_TOKEN));

    assert_eq!(run_peer("t29", "relabel:from peer:renamed by peer"), ["relabelled"]);
    assert_eq!(label(&s, o), "renamed by peer", "a handle held here shows the other process's change");
    assert_eq!(count(&s, &[Attribute::Label(b"from peer".to_vec())]), 0);
    // PKCS#11 object handles: a handle stays the object's for as long as the object and the session live.
    assert_eq!(s.find_objects(&[Attribute::Label(b"renamed by peer".to_vec())]).unwrap(), vec![o]);

    assert_eq!(run_peer("t29", "destroy:renamed by peer"), ["destroyed"]);
    // Every use of the handle now fails, the first one included, whichever function it is.
    let (l, h) = (common::raw(), common::raw_handle(&s));
    let (mut size, mut copy) = (0, 0);
    // SAFETY: writable size and handle.
    unsafe {
        let rv = l.C_CopyObject.unwrap()(h, o.handle(), null_mut(), 0, &mut copy);
        assert_eq!(rv, CKR_OBJECT_HANDLE_INVALID, "C_CopyObject of an object destroyed elsewhere");
        let rv = l.C_GetObjectSize.unwrap()(h, o.handle(), &mut size);
        assert_eq!(rv, CKR_OBJECT_HANDLE_INVALID, "C_GetObjectSize of an object destroyed elsewhere");
    }
    assert_eq!(get(&s, o, CKA_LABEL).err(), Some(CKR_OBJECT_HANDLE_INVALID));
    assert_eq!(count(&s, &[]), 0);
}

#[test]
fn token_objects_persist_across_finalize_and_initialize() {
    let s = common::user_session("t30");
    let key = aes_key(&[
        Attribute::Token(true),
        Attribute::Label(b"persisted key".to_vec()),
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
    ]);
    s.create_object(&key).unwrap();
    s.create_object(
        &[data("persisted data"), vec![Attribute::Token(true), Attribute::Private(false)]].concat(),
    )
    .unwrap();
    let answers = run_peer("t30", "value:persisted key;labels;restart;value:persisted key;labels");
    let key_hex = hex::encode(AES_128);
    let both = "persisted data,persisted key".to_string();
    assert_eq!(answers, [key_hex.clone(), both.clone(), "restarted".into(), key_hex, both]);
}
