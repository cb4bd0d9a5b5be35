//! The KMS semantics of the token through the C ABI, as a PKCS#11 consumer sees them: token
//! keys become managed keys (CMKs) with metadata attributes; versions and automatic rotation
//! that keep old data readable; aliases; key states and scheduled deletion; the envelope
//! mechanisms (checked both ways against Python's `cryptography`); per-token quotas; and
//! per-process rate limits.
//!
//! This binary has a configuration of its own (`kms_sections`): the KMS's default quotas,
//! unlimited request rates, and a clock file the library reads as "now", which the
//! time-dependent tests move forward by days while they hold [`clock`]. Scenarios that need
//! another process (rotation and state changes seen across processes, other configurations:
//! immediate destruction, rate limits) run this binary again as the `kms_child` test.

mod common;
mod support;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, AttributeType, ObjectHandle};
use cryptoki::session::{Session, UserType};
use kms_pkcs11::vendor::*;
use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};
use support::*;

const DAY: u64 = 86_400;

/// DER OIDs of the curves of the KMS's EC specs.
const P256: &str = "06082a8648ce3d030107";
const SECP256K1: &str = "06052b8104000a";
const SM2_CURVE: &str = "06082a811ccf5501822d";

// --- Configuration and clock -----------------------------------------------------------------

fn env() -> &'static common::Env {
    common::env_with(common::kms_sections)
}

/// A read-write session on a freshly initialized token of its own, logged in as the user.
fn session(token: &str) -> Session {
    env();
    common::user_session(token)
}

fn clock_file() -> PathBuf {
    common::clock_file(env())
}

/// The library's "now".
fn now() -> u64 {
    common::read_clock(&clock_file())
}

/// The right to move the clock. Tests whose keys rotate, or whose deletions are pending, hold
/// it for their whole run, so that no other test's jump lands in the middle of them; time only
/// moves forward.
struct Clock {
    _guard: MutexGuard<'static, ()>,
}

fn clock() -> Clock {
    static LOCK: Mutex<()> = Mutex::new(());
    env();
    // A test that failed while holding the clock leaves it consistent: it only moves forward.
    Clock { _guard: LOCK.lock().unwrap_or_else(|e| e.into_inner()) }
}

impl Clock {
    fn now(&self) -> u64 {
        now()
    }

    fn advance(&self, seconds: u64) -> u64 {
        let t = now() + seconds;
        common::write_clock(&clock_file(), t);
        t
    }
}

// --- Interfaces ------------------------------------------------------------------------------

/// The library under test: this binary's, or the one a parent test names for its child.
fn module() -> PathBuf {
    match std::env::var_os(CHILD_MODULE) {
        Some(p) => PathBuf::from(p),
        None => common::module_path(),
    }
}

type GetInterfaceFn =
    unsafe extern "C" fn(*mut CK_UTF8CHAR, *mut CK_VERSION, *mut *mut CK_INTERFACE, CK_FLAGS) -> CK_RV;

/// `C_GetInterface(name, version, &interface, 0)`: the interface's function list.
fn interface(name: &std::ffi::CStr, version: Option<CK_VERSION>) -> *const c_void {
    static GET: OnceLock<usize> = OnceLock::new();
    let addr = *GET.get_or_init(|| {
        // SAFETY: the library stays loaded for the life of the process (the handle is never
        // closed), and C_GetInterface is one of its exported symbols, of this type.
        unsafe {
            let lib = libloading::Library::new(module()).expect("dlopen");
            let f: libloading::Symbol<GetInterfaceFn> = lib.get(b"C_GetInterface").expect("C_GetInterface");
            let addr = *f as usize;
            std::mem::forget(lib);
            addr
        }
    });
    // SAFETY: the address is C_GetInterface's, taken above from the loaded library.
    let get: GetInterfaceFn = unsafe { std::mem::transmute::<usize, GetInterfaceFn>(addr) };
    let mut version = version;
    let version_ptr = version.as_mut().map_or(std::ptr::null_mut(), |v| v as *mut CK_VERSION);
    let mut iface: *mut CK_INTERFACE = std::ptr::null_mut();
    // SAFETY: a NUL-terminated name, a readable version or null, a writable interface slot.
    let rv = unsafe { get(name.as_ptr() as *mut CK_UTF8CHAR, version_ptr, &mut iface, 0) };
    assert_rv(rv, CKR_OK, "C_GetInterface");
    // SAFETY: on success the library points `iface` at one of its static interfaces.
    unsafe { (*iface).pFunctionList as *const c_void }
}

/// `CK_KMS_FUNCTION_LIST` of `include/kms_pkcs11.h`.
#[repr(C)]
struct KmsFunctionList {
    version: CK_VERSION,
    get_last_error: unsafe extern "C" fn(*mut CK_UTF8CHAR, *mut CK_ULONG) -> CK_RV,
}

fn kms_list() -> &'static KmsFunctionList {
    // SAFETY: the vendor interface's list is a static `CK_KMS_FUNCTION_LIST` of the library.
    unsafe { &*(interface(c"KMS PKCS11", None) as *const KmsFunctionList) }
}

/// The KMS error code of this thread's last failed call (`C_KMS_GetLastError`).
fn last_error() -> String {
    let f = kms_list().get_last_error;
    let mut len: CK_ULONG = 0;
    // SAFETY: a size query: null buffer, writable length.
    assert_rv(unsafe { f(std::ptr::null_mut(), &mut len) }, CKR_OK, "C_KMS_GetLastError (size)");
    let mut buf = vec![0u8; len as usize];
    // SAFETY: the buffer holds `len` bytes.
    assert_rv(unsafe { f(buf.as_mut_ptr(), &mut len) }, CKR_OK, "C_KMS_GetLastError");
    buf.truncate(len as usize);
    String::from_utf8(buf).expect("UTF-8 error code")
}

/// The 3.2 function list (`C_GetInterface("PKCS 11", 3.2)`), which reports a full quota as
/// `CKR_TOKEN_RESOURCE_EXCEEDED`.
fn list_3_2() -> &'static CK_FUNCTION_LIST_3_2 {
    let list = interface(c"PKCS 11", Some(CK_VERSION { major: 3, minor: 2 }));
    // SAFETY: the 3.2 interface's list is a static `CK_FUNCTION_LIST_3_2` of the library.
    unsafe { &*(list as *const CK_FUNCTION_LIST_3_2) }
}

// --- Attributes and objects ------------------------------------------------------------------

/// A UTF-8 attribute.
fn text(s: &Session, o: ObjectHandle, ty: CK_ATTRIBUTE_TYPE) -> String {
    let v = attr(s, o, ty).unwrap_or_else(|rv| panic!("attribute {ty:#x}: {}", rv_name(rv)));
    String::from_utf8(v).expect("UTF-8 attribute")
}

fn key_id(s: &Session, o: ObjectHandle) -> String {
    text(s, o, CKA_KMS_KEY_ID)
}

fn primary(s: &Session, o: ObjectHandle) -> String {
    text(s, o, CKA_KMS_PRIMARY_VERSION_ID)
}

fn state(s: &Session, o: ObjectHandle) -> String {
    text(s, o, CKA_KMS_KEY_STATE)
}

/// The aliases of a key, as the JSON array `CKA_KMS_ALIASES` holds, sorted.
fn aliases(s: &Session, o: ObjectHandle) -> Vec<String> {
    let mut v: Vec<String> =
        serde_json::from_slice(&attr(s, o, CKA_KMS_ALIASES).unwrap()).expect("JSON array");
    v.sort();
    v
}

#[track_caller]
fn assert_uuid(id: &str) {
    let ok = id.len() == 36
        && id.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        });
    assert!(ok, "{id:?} is not a 36-character UUID");
}

/// `C_SetAttributeValue` of one text attribute.
fn set_text(s: &Session, o: ObjectHandle, ty: CK_ATTRIBUTE_TYPE, value: &str) -> CK_RV {
    set_attributes(s, o, &Tpl::new().bytes(ty, value.as_bytes()))
}

/// Every key object of the token (a search without template: no version objects).
fn all_keys(s: &Session) -> Vec<ObjectHandle> {
    find(s, &Tpl::new())
}

/// The objects of a managed key; with `versions`, its version objects instead.
fn objects_of(s: &Session, key_id: &str, versions: bool) -> Vec<ObjectHandle> {
    let t = Tpl::new().bytes(CKA_KMS_KEY_ID, key_id.as_bytes());
    find(s, &if versions { t.bool(CKA_KMS_IS_VERSION, true) } else { t })
}

/// The secret-key version objects of a managed key, by version id.
fn secret_versions(s: &Session, key_id: &str) -> Vec<(String, ObjectHandle)> {
    let t = Tpl::new()
        .bytes(CKA_KMS_KEY_ID, key_id.as_bytes())
        .bool(CKA_KMS_IS_VERSION, true)
        .ulong(CKA_CLASS, CKO_SECRET_KEY);
    find(s, &t).into_iter().map(|o| (text(s, o, CKA_KMS_KEY_VERSION_ID), o)).collect()
}

/// A token secret key template with the cipher and wrap usages only (secret keys may sign
/// by default).
fn token_secret() -> Tpl {
    Tpl::new()
        .bool(CKA_TOKEN, true)
        .bool(CKA_ENCRYPT, true)
        .bool(CKA_DECRYPT, true)
        .bool(CKA_WRAP, true)
        .bool(CKA_UNWRAP, true)
        .bool(CKA_SIGN, false)
        .bool(CKA_VERIFY, false)
}

/// A generated AES-256 managed key; `more` adds to the template.
fn aes_cmk(s: &Session, more: Tpl) -> ObjectHandle {
    aes_cmk_try(s, more).unwrap_or_else(|rv| panic!("C_GenerateKey (AES CMK): {}", rv_name(rv)))
}

fn aes_cmk_try(s: &Session, more: Tpl) -> Result<ObjectHandle, CK_RV> {
    let mut t = token_secret().ulong(CKA_VALUE_LEN, 32);
    t = t.extend(more);
    generate_key(s, &Mech::new(CKM_AES_KEY_GEN), &t)
}

fn sm4_cmk(s: &Session, more: Tpl) -> ObjectHandle {
    generate_key(s, &Mech::new(CKM_SM4_KEY_GEN), &token_secret().extend(more))
        .unwrap_or_else(|rv| panic!("C_GenerateKey (SM4 CMK): {}", rv_name(rv)))
}

/// A token key pair on a curve; (public, private).
fn ec_cmk(s: &Session, mech: CK_MECHANISM_TYPE, curve: &str) -> (ObjectHandle, ObjectHandle) {
    generate_key_pair(
        s,
        &Mech::new(mech),
        &Tpl::new().bool(CKA_TOKEN, true).bytes(CKA_EC_PARAMS, &h(curve)).bool(CKA_VERIFY, true),
        &Tpl::new().bool(CKA_TOKEN, true).bool(CKA_SIGN, true),
    )
    .unwrap_or_else(|rv| panic!("C_GenerateKeyPair: {}", rv_name(rv)))
}

/// A token key pair with its usage flags given (PKCS#11's defaults would let private keys
/// decrypt and unwrap, and public keys encrypt and wrap); (public, private).
fn token_pair(
    s: &Session,
    mech: CK_MECHANISM_TYPE,
    public: Tpl,
    sign: bool,
    encrypt: bool,
) -> (ObjectHandle, ObjectHandle) {
    generate_key_pair(
        s,
        &Mech::new(mech),
        &public.bool(CKA_TOKEN, true).bool(CKA_VERIFY, sign).bool(CKA_ENCRYPT, encrypt).bool(CKA_WRAP, false),
        &Tpl::new()
            .bool(CKA_TOKEN, true)
            .bool(CKA_SIGN, sign)
            .bool(CKA_DECRYPT, encrypt)
            .bool(CKA_UNWRAP, false),
    )
    .unwrap_or_else(|rv| panic!("C_GenerateKeyPair: {}", rv_name(rv)))
}

/// A session AES key whose value can be read back.
fn session_aes(s: &Session, value: &[u8]) -> ObjectHandle {
    create_object(
        s,
        &Tpl::new()
            .ulong(CKA_CLASS, CKO_SECRET_KEY)
            .ulong(CKA_KEY_TYPE, CKK_AES)
            .bytes(CKA_VALUE, value)
            .bool(CKA_SENSITIVE, false)
            .bool(CKA_EXTRACTABLE, true)
            .bool(CKA_ENCRYPT, true)
            .bool(CKA_DECRYPT, true),
    )
    .expect("session AES key")
}

/// The template of a session secret key made by an unwrap, readable.
fn readable_secret(kt: CK_KEY_TYPE) -> Tpl {
    Tpl::new()
        .ulong(CKA_CLASS, CKO_SECRET_KEY)
        .ulong(CKA_KEY_TYPE, kt)
        .bool(CKA_SENSITIVE, false)
        .bool(CKA_EXTRACTABLE, true)
}

const IV: [u8; 12] = [7; 12];
const AAD: &[u8] = b"header";

fn gcm_seal(s: &Session, mech: CK_MECHANISM_TYPE, key: ObjectHandle, pt: &[u8]) -> Result<Vec<u8>, CK_RV> {
    encrypt_once(s, &Mech::gcm(&IV, AAD, 128).retyped(mech), key, pt)
}

fn gcm_open(s: &Session, mech: CK_MECHANISM_TYPE, key: ObjectHandle, ct: &[u8]) -> Result<Vec<u8>, CK_RV> {
    decrypt_once(s, &Mech::gcm(&IV, AAD, 128).retyped(mech), key, ct)
}

fn envelope(context: Option<&str>) -> Mech<'static> {
    match context {
        Some(c) => Mech::bytes(CKM_KMS_ENVELOPE, c.as_bytes()),
        None => Mech::new(CKM_KMS_ENVELOPE),
    }
}

/// `CK_KMS_DATA_KEY_PARAMS` of `include/kms_pkcs11.h`.
#[repr(C)]
#[derive(Clone, Copy)]
struct DataKeyParams {
    key_len: CK_ULONG,
    context: *mut u8,
    context_len: CK_ULONG,
}

fn data_key_mech(len: CK_ULONG, context: &[u8]) -> Mech<'_> {
    let p = DataKeyParams {
        key_len: len,
        context: if context.is_empty() { std::ptr::null_mut() } else { context.as_ptr().cast_mut() },
        context_len: context.len() as CK_ULONG,
    };
    Mech::with(CKM_KMS_DATA_KEY_WITHOUT_PLAINTEXT, &p)
}

fn base64(bytes: &[u8]) -> String {
    use base64ct::{Base64, Encoding};
    Base64::encode_string(bytes)
}

// --- 1. Managed keys -------------------------------------------------------------------------

/// Checks the metadata every new managed key's key object starts with.
#[track_caller]
fn assert_new_cmk(s: &Session, o: ObjectHandle, spec: &str, usage: &str, origin: &str, created: u64) {
    let id = key_id(s, o);
    assert_uuid(&id);
    assert_eq!(attr(s, o, CKA_ID).unwrap(), id.as_bytes(), "{spec}: CKA_ID is the key id");
    let p = primary(s, o);
    assert_uuid(&p);
    assert_ne!(p, id, "{spec}: the version id is not the key id");
    assert_eq!(text(s, o, CKA_KMS_KEY_VERSION_ID), p, "{spec}: the key object acts with the primary");
    assert_eq!(text(s, o, CKA_KMS_KEY_SPEC), spec);
    assert_eq!(text(s, o, CKA_KMS_KEY_USAGE), usage, "{spec}: usage");
    assert_eq!(text(s, o, CKA_KMS_ORIGIN), origin, "{spec}: origin");
    assert_eq!(state(s, o), "Enabled", "{spec}");
    assert_eq!(text(s, o, CKA_KMS_PROTECTION_LEVEL), "SOFTWARE");
    assert_eq!(ulong_attr(s, o, CKA_KMS_CREATION_DATE), created, "{spec}: creation date");
    for zero in
        [CKA_KMS_ROTATION_INTERVAL, CKA_KMS_NEXT_ROTATION, CKA_KMS_LAST_ROTATION, CKA_KMS_DELETION_DATE]
    {
        assert_eq!(ulong_attr(s, o, zero), 0, "{spec}: attribute {zero:#x}");
    }
    assert_eq!(text(s, o, CKA_KMS_ALIASES), "[]");
    assert_eq!(text(s, o, CKA_KMS_TAGS), "{}");
    assert_eq!(text(s, o, CKA_KMS_DESCRIPTION), "");
    assert!(!bool_attr(s, o, CKA_KMS_DELETION_PROTECTION));
    assert!(!bool_attr(s, o, CKA_KMS_IS_VERSION));
}

#[test]
fn token_keys_become_managed_keys_of_their_spec() {
    let s = session("t00");
    // Creation dates are the library's "now": keep it still.
    let clock = clock();
    let created = clock.now();
    let enc = "ENCRYPT/DECRYPT";
    let sig = "SIGN/VERIFY";

    let aes = aes_cmk(&s, Tpl::new());
    assert_new_cmk(&s, aes, "Aliyun_AES_256", enc, "Aliyun_KMS", created);
    let sm4 = sm4_cmk(&s, Tpl::new());
    assert_new_cmk(&s, sm4, "Aliyun_SM4", enc, "Aliyun_KMS", created);
    let aes128 =
        generate_key(&s, &Mech::new(CKM_AES_KEY_GEN), &token_secret().ulong(CKA_VALUE_LEN, 16)).unwrap();
    assert_new_cmk(&s, aes128, "Aliyun_AES_128", enc, "Aliyun_KMS", created);
    // A secret key that only signs (CMAC) is a SIGN/VERIFY key; a generic template, with the
    // default flags that allow everything, makes a key of both usages.
    let mac = generate_key(
        &s,
        &Mech::new(CKM_AES_KEY_GEN),
        &Tpl::new()
            .bool(CKA_TOKEN, true)
            .ulong(CKA_VALUE_LEN, 32)
            .bool(CKA_SIGN, true)
            .bool(CKA_VERIFY, true)
            .bool(CKA_ENCRYPT, false)
            .bool(CKA_DECRYPT, false)
            .bool(CKA_WRAP, false)
            .bool(CKA_UNWRAP, false),
    )
    .unwrap();
    assert_new_cmk(&s, mac, "Aliyun_AES_256", sig, "Aliyun_KMS", created);
    let generic = generate_key(
        &s,
        &Mech::new(CKM_AES_KEY_GEN),
        &Tpl::new().bool(CKA_TOKEN, true).ulong(CKA_VALUE_LEN, 32),
    )
    .unwrap();
    assert_new_cmk(&s, generic, "Aliyun_AES_256", "ENCRYPT/DECRYPT,SIGN/VERIFY", "Aliyun_KMS", created);

    let rsa_bits = Tpl::new().ulong(CKA_MODULUS_BITS, 2048);
    let (rsa_pub, rsa) = token_pair(&s, CKM_RSA_PKCS_KEY_PAIR_GEN, rsa_bits, true, false);
    assert_new_cmk(&s, rsa, "RSA_2048", sig, "Aliyun_KMS", created);
    // ECDSA curves sign only, whatever CKA_DECRYPT says: these have PKCS#11's default flags.
    let (p256_pub, p256) = ec_cmk(&s, CKM_EC_KEY_PAIR_GEN, P256);
    assert_new_cmk(&s, p256, "EC_P256", sig, "Aliyun_KMS", created);
    let (k1_pub, k1) = ec_cmk(&s, CKM_EC_KEY_PAIR_GEN, SECP256K1);
    assert_new_cmk(&s, k1, "EC_P256K", sig, "Aliyun_KMS", created);
    let sm2_curve = || Tpl::new().bytes(CKA_EC_PARAMS, &h(SM2_CURVE));
    let (sm2_pub, sm2) = token_pair(&s, CKM_SM2_KEY_PAIR_GEN, sm2_curve(), true, false);
    assert_new_cmk(&s, sm2, "EC_SM2", sig, "Aliyun_KMS", created);
    // A template that asks for both usages gets both; one for decryption gets that.
    let (_, sm2_both) = token_pair(&s, CKM_SM2_KEY_PAIR_GEN, sm2_curve(), true, true);
    assert_new_cmk(&s, sm2_both, "EC_SM2", "ENCRYPT/DECRYPT,SIGN/VERIFY", "Aliyun_KMS", created);
    let (_, sm2_dec) = token_pair(&s, CKM_SM2_KEY_PAIR_GEN, sm2_curve(), false, true);
    assert_new_cmk(&s, sm2_dec, "EC_SM2", enc, "Aliyun_KMS", created);
    let (_, rsa_dec) =
        token_pair(&s, CKM_RSA_PKCS_KEY_PAIR_GEN, Tpl::new().ulong(CKA_MODULUS_BITS, 2048), false, true);
    assert_new_cmk(&s, rsa_dec, "RSA_2048", enc, "Aliyun_KMS", created);

    // The public half of a pair is an object of the same managed key.
    for (public, private, spec) in [
        (rsa_pub, rsa, "RSA_2048"),
        (p256_pub, p256, "EC_P256"),
        (k1_pub, k1, "EC_P256K"),
        (sm2_pub, sm2, "EC_SM2"),
    ] {
        assert_eq!(key_id(&s, public), key_id(&s, private), "{spec}");
        assert_eq!(primary(&s, public), primary(&s, private), "{spec}");
        assert_eq!(text(&s, public, CKA_KMS_KEY_SPEC), spec);
        assert!(!bool_attr(&s, public, CKA_KMS_IS_VERSION));
        // One version so far, with a private and a public object.
        let versions = objects_of(&s, &key_id(&s, private), true);
        assert_eq!(versions.len(), 2, "{spec}: version objects");
        for v in versions {
            assert!(bool_attr(&s, v, CKA_KMS_IS_VERSION));
            assert_eq!(text(&s, v, CKA_KMS_KEY_VERSION_ID), primary(&s, private));
        }
    }

    // The key objects act with the primary version's material.
    let digest = [0x5a; 32];
    for (public, private, mech) in
        [(p256_pub, p256, CKM_ECDSA), (k1_pub, k1, CKM_ECDSA), (sm2_pub, sm2, CKM_SM2)]
    {
        let sig = sign_once(&s, &Mech::new(mech), private, &digest).unwrap();
        assert_rv(verify_once(&s, &Mech::new(mech), public, &digest, &sig), CKR_OK, "verify");
    }
    let sig = sign_once(&s, &Mech::new(CKM_SHA256_RSA_PKCS), rsa, b"message").unwrap();
    assert_rv(verify_once(&s, &Mech::new(CKM_SHA256_RSA_PKCS), rsa_pub, b"message", &sig), CKR_OK, "RSA");
    for (key, mech) in [(aes, CKM_AES_GCM), (sm4, CKM_SM4_GCM), (aes128, CKM_AES_GCM)] {
        let ct = gcm_seal(&s, mech, key, b"managed").unwrap();
        assert_eq!(gcm_open(&s, mech, key, &ct).unwrap(), b"managed");
    }

    // Each key its own id; a plain search sees key objects only, versions only when asked.
    let singles = [aes, sm4, aes128, mac, generic, rsa, p256, k1, sm2, sm2_both, sm2_dec, rsa_dec];
    let mut ids: Vec<String> = singles.iter().map(|o| key_id(&s, *o)).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), singles.len(), "key ids are distinct");
    let keys = all_keys(&s);
    // Five secret keys, seven pairs.
    assert_eq!(keys.len(), 5 + 7 * 2, "key objects found by an empty template");
    assert!(keys.iter().all(|k| !bool_attr(&s, *k, CKA_KMS_IS_VERSION)));
    assert_eq!(find(&s, &Tpl::new().bool(CKA_KMS_IS_VERSION, true)).len(), 5 + 7 * 2, "version objects");
    assert_eq!(find(&s, &Tpl::new().bool(CKA_KMS_IS_VERSION, false)).len(), 5 + 7 * 2);
    let by_version = find(&s, &Tpl::new().bytes(CKA_KMS_KEY_VERSION_ID, primary(&s, aes).as_bytes()));
    assert_eq!(by_version.len(), 2, "the AES key object and its version object share the version id");
}

#[test]
fn session_keys_stay_plain_and_refuse_kms_attributes() {
    let s = session("t01");
    let key = generate_key(&s, &Mech::new(CKM_AES_KEY_GEN), &Tpl::new().ulong(CKA_VALUE_LEN, 32)).unwrap();
    let (public, private) = generate_key_pair(
        &s,
        &Mech::new(CKM_EC_KEY_PAIR_GEN),
        &Tpl::new().bytes(CKA_EC_PARAMS, &h(P256)),
        &Tpl::new().bool(CKA_SIGN, true),
    )
    .unwrap();
    for o in [key, public, private] {
        for ty in [CKA_KMS_KEY_ID, CKA_KMS_KEY_SPEC, CKA_KMS_KEY_STATE, CKA_KMS_IS_VERSION] {
            assert_eq!(attr(&s, o, ty), Err(CKR_ATTRIBUTE_TYPE_INVALID), "session key, attribute {ty:#x}");
        }
        assert_rv(
            set_text(&s, o, CKA_KMS_DESCRIPTION, "x"),
            CKR_ATTRIBUTE_TYPE_INVALID,
            "set on a plain key",
        );
    }
    // A token public key alone is no managed key either.
    let point = attr(&s, public, CKA_EC_POINT).unwrap();
    let lone = create_object(
        &s,
        &Tpl::new()
            .ulong(CKA_CLASS, CKO_PUBLIC_KEY)
            .ulong(CKA_KEY_TYPE, CKK_EC)
            .bool(CKA_TOKEN, true)
            .bytes(CKA_EC_PARAMS, &h(P256))
            .bytes(CKA_EC_POINT, &point),
    )
    .unwrap();
    assert_eq!(attr(&s, lone, CKA_KMS_KEY_ID), Err(CKR_ATTRIBUTE_TYPE_INVALID));

    // KMS attributes on anything that does not become a managed key are refused.
    let before = all_keys(&s).len();
    let kms = [
        (CKA_KMS_DESCRIPTION, b"a session key".to_vec(), CKR_TEMPLATE_INCONSISTENT),
        (CKA_KMS_TAGS, b"{}".to_vec(), CKR_TEMPLATE_INCONSISTENT),
        (CKA_KMS_ALIASES, br#"["alias/session"]"#.to_vec(), CKR_TEMPLATE_INCONSISTENT),
        (CKA_KMS_ROTATION_INTERVAL, (30 * DAY).to_ne_bytes().to_vec(), CKR_TEMPLATE_INCONSISTENT),
        (CKA_KMS_DELETION_PROTECTION, vec![1], CKR_TEMPLATE_INCONSISTENT),
        // What the token computes is never given, on any key.
        (CKA_KMS_KEY_ID, b"00000000-0000-4000-8000-000000000000".to_vec(), CKR_ATTRIBUTE_READ_ONLY),
    ];
    for (ty, value, rv) in &kms {
        let t = Tpl::new().ulong(CKA_VALUE_LEN, 32).bytes(*ty, value);
        let made = generate_key(&s, &Mech::new(CKM_AES_KEY_GEN), &t);
        assert_eq!(made.err(), Some(*rv), "session key with {ty:#x}");
        // A data object has no such attribute at all.
        let data = Tpl::new().ulong(CKA_CLASS, CKO_DATA).bool(CKA_TOKEN, true).bytes(*ty, value);
        assert_eq!(create_object(&s, &data).err(), Some(CKR_ATTRIBUTE_TYPE_INVALID), "data object");
    }
    assert_eq!(all_keys(&s).len(), before, "nothing was made");
}

#[test]
fn creation_template_sets_kms_options_and_refuses_token_owned_ones() {
    let s = session("t02");
    let clock = clock();
    let key = aes_cmk(
        &s,
        Tpl::new()
            .bytes(CKA_KMS_DESCRIPTION, "payments master key".as_bytes())
            .bytes(CKA_KMS_TAGS, br#"{ "team": "pay",  "env": "prod" }"#)
            .bytes(CKA_KMS_ALIASES, br#"["alias/payments","alias/payments/eu"]"#)
            .bool(CKA_KMS_DELETION_PROTECTION, true)
            .ulong(CKA_KMS_ROTATION_INTERVAL, 30 * DAY),
    );
    let created = ulong_attr(&s, key, CKA_KMS_CREATION_DATE);
    assert_eq!(created, clock.now());
    assert_eq!(text(&s, key, CKA_KMS_DESCRIPTION), "payments master key");
    assert_eq!(text(&s, key, CKA_KMS_TAGS), r#"{"env":"prod","team":"pay"}"#, "tags are kept normalized");
    assert_eq!(aliases(&s, key), ["alias/payments", "alias/payments/eu"]);
    assert!(bool_attr(&s, key, CKA_KMS_DELETION_PROTECTION));
    assert_eq!(ulong_attr(&s, key, CKA_KMS_ROTATION_INTERVAL), 30 * DAY);
    assert_eq!(ulong_attr(&s, key, CKA_KMS_NEXT_ROTATION), created + 30 * DAY);
    assert_eq!(text(&s, key, CKA_KMS_ORIGIN), "Aliyun_KMS");

    // Later changes of the settable ones.
    assert_rv(set_text(&s, key, CKA_KMS_DESCRIPTION, "retired"), CKR_OK, "description");
    assert_rv(set_text(&s, key, CKA_KMS_TAGS, r#"{"env":"test"}"#), CKR_OK, "tags");
    assert_rv(
        set_attributes(&s, key, &Tpl::new().bool(CKA_KMS_DELETION_PROTECTION, false)),
        CKR_OK,
        "deletion protection",
    );
    assert_rv(
        set_attributes(&s, key, &Tpl::new().ulong(CKA_KMS_ROTATION_INTERVAL, 0)),
        CKR_OK,
        "rotation off",
    );
    assert_eq!(text(&s, key, CKA_KMS_DESCRIPTION), "retired");
    assert_eq!(text(&s, key, CKA_KMS_TAGS), r#"{"env":"test"}"#);
    assert!(!bool_attr(&s, key, CKA_KMS_DELETION_PROTECTION));
    assert_eq!(ulong_attr(&s, key, CKA_KMS_ROTATION_INTERVAL), 0);
    assert_eq!(ulong_attr(&s, key, CKA_KMS_NEXT_ROTATION), 0, "no rotation scheduled");

    // What the token owns can be neither given nor changed (the origin may be given: an
    // EXTERNAL key waits for imported material, tests/byok.rs).
    let before = all_keys(&s).len();
    let owned: [(CK_ATTRIBUTE_TYPE, &[u8]); 5] = [
        (CKA_KMS_KEY_ID, b"00000000-0000-4000-8000-000000000000"),
        (CKA_KMS_KEY_STATE, b"Enabled"),
        (CKA_KMS_KEY_SPEC, b"Aliyun_AES_256"),
        (CKA_KMS_PRIMARY_VERSION_ID, b"00000000-0000-4000-8000-000000000000"),
        (CKA_KMS_IS_VERSION, &[1]),
    ];
    for (ty, value) in owned {
        assert_eq!(
            aes_cmk_try(&s, Tpl::new().bytes(ty, value)).err(),
            Some(CKR_ATTRIBUTE_READ_ONLY),
            "{ty:#x}"
        );
    }
    for (ty, value) in [
        (CKA_KMS_KEY_ID, &b"00000000-0000-4000-8000-000000000000"[..]),
        (CKA_KMS_KEY_SPEC, b"Aliyun_SM4"),
        (CKA_KMS_ORIGIN, b"EXTERNAL"),
        (CKA_KMS_CREATION_DATE, &0u64.to_ne_bytes()),
        (CKA_KMS_DELETION_DATE, &0u64.to_ne_bytes()),
        (CKA_KMS_KEY_USAGE, b"SIGN/VERIFY"),
    ] {
        assert_rv(
            set_attributes(&s, key, &Tpl::new().bytes(ty, value)),
            CKR_ATTRIBUTE_READ_ONLY,
            "set owned",
        );
    }
    // Values outside the KMS's rules.
    let tags_21: String =
        format!("{{{}}}", (0..21).map(|i| format!(r#""k{i}":"v""#)).collect::<Vec<_>>().join(","));
    let long_description = "d".repeat(8193);
    for (ty, value) in [
        (CKA_KMS_TAGS, "not json"),
        (CKA_KMS_TAGS, r#"{"acs:reserved":"x"}"#),
        (CKA_KMS_TAGS, r#"{"k":1}"#),
        (CKA_KMS_TAGS, tags_21.as_str()),
        (CKA_KMS_DESCRIPTION, long_description.as_str()),
    ] {
        assert_eq!(
            aes_cmk_try(&s, Tpl::new().bytes(ty, value.as_bytes())).err(),
            Some(CKR_ATTRIBUTE_VALUE_INVALID),
            "creation with {ty:#x} = {:.40}",
            value
        );
        assert_rv(set_text(&s, key, ty, value), CKR_ATTRIBUTE_VALUE_INVALID, "set a value out of the rules");
    }
    assert_eq!(all_keys(&s).len(), before, "no key was made by a refused template");
    assert_eq!(text(&s, key, CKA_KMS_TAGS), r#"{"env":"test"}"#, "a refused change changes nothing");

    // The metadata belongs to the key, not to its versions.
    let (_, version) = secret_versions(&s, &key_id(&s, key)).pop().unwrap();
    assert_rv(set_text(&s, version, CKA_KMS_DESCRIPTION, "v"), CKR_ATTRIBUTE_READ_ONLY, "on a version");
}

#[test]
fn imported_unwrapped_and_derived_keys_are_managed_with_their_origin() {
    let s = session("t03");
    let value = pattern(32, 3);
    let imported = create_object(
        &s,
        &Tpl::new()
            .ulong(CKA_CLASS, CKO_SECRET_KEY)
            .ulong(CKA_KEY_TYPE, CKK_AES)
            .bool(CKA_TOKEN, true)
            .bool(CKA_ENCRYPT, true)
            .bool(CKA_DECRYPT, true)
            .bool(CKA_SIGN, false)
            .bool(CKA_VERIFY, false)
            .bytes(CKA_VALUE, &value),
    )
    .unwrap();
    assert_eq!(text(&s, imported, CKA_KMS_ORIGIN), "EXTERNAL");
    assert_eq!(text(&s, imported, CKA_KMS_KEY_SPEC), "Aliyun_AES_256");
    assert_eq!(text(&s, imported, CKA_KMS_KEY_USAGE), "ENCRYPT/DECRYPT");
    // The material is the one imported: a plain session key of the same value opens its output.
    let plain = session_aes(&s, &value);
    let ct = gcm_seal(&s, CKM_AES_GCM, imported, b"imported").unwrap();
    assert_eq!(gcm_open(&s, CKM_AES_GCM, plain, &ct).unwrap(), b"imported");

    // Unwrapped into a token key: EXTERNAL too.
    let kek = session_aes(&s, &pattern(16, 9));
    assert_rv(
        set_attributes(&s, kek, &Tpl::new().bool(CKA_WRAP, true).bool(CKA_UNWRAP, true)),
        CKR_OK,
        "kek",
    );
    let wrapped = wrap_key(&s, &Mech::new(CKM_AES_KEY_WRAP), kek, plain).unwrap();
    let unwrapped = unwrap_key(
        &s,
        &Mech::new(CKM_AES_KEY_WRAP),
        kek,
        &wrapped,
        &Tpl::new()
            .ulong(CKA_CLASS, CKO_SECRET_KEY)
            .ulong(CKA_KEY_TYPE, CKK_AES)
            .bool(CKA_TOKEN, true)
            .bool(CKA_DECRYPT, true),
    )
    .unwrap();
    assert_eq!(text(&s, unwrapped, CKA_KMS_ORIGIN), "EXTERNAL");
    assert_eq!(text(&s, unwrapped, CKA_KMS_KEY_SPEC), "Aliyun_AES_256");
    assert_eq!(gcm_open(&s, CKM_AES_GCM, unwrapped, &ct).unwrap(), b"imported");

    // Derived in the token (ECDH): made by the KMS.
    let (_, ours) = generate_key_pair(
        &s,
        &Mech::new(CKM_EC_KEY_PAIR_GEN),
        &Tpl::new().bytes(CKA_EC_PARAMS, &h(P256)),
        &Tpl::new().bool(CKA_DERIVE, true),
    )
    .unwrap();
    let (peer, _) = generate_key_pair(
        &s,
        &Mech::new(CKM_EC_KEY_PAIR_GEN),
        &Tpl::new().bytes(CKA_EC_PARAMS, &h(P256)),
        &Tpl::new().bool(CKA_DERIVE, true),
    )
    .unwrap();
    let point = attr(&s, peer, CKA_EC_POINT).unwrap();
    let derived = derive_key(
        &s,
        &Mech::ecdh(CKD_NULL, &[], &point),
        ours,
        &Tpl::new()
            .ulong(CKA_CLASS, CKO_SECRET_KEY)
            .ulong(CKA_KEY_TYPE, CKK_AES)
            .ulong(CKA_VALUE_LEN, 32)
            .bool(CKA_TOKEN, true)
            .bool(CKA_ENCRYPT, true),
    )
    .unwrap();
    assert_eq!(text(&s, derived, CKA_KMS_ORIGIN), "Aliyun_KMS");
    assert_uuid(&key_id(&s, derived));
}

// --- 2. Versions and rotation ----------------------------------------------------------------

#[test]
fn rotation_makes_a_new_primary_and_old_data_stays_readable() {
    let s = session("t04");
    let clock = clock();
    let key = aes_cmk(&s, Tpl::new().ulong(CKA_KMS_ROTATION_INTERVAL, 7 * DAY));
    let id = key_id(&s, key);
    let v1 = primary(&s, key);
    let created = clock.now();
    assert_eq!(ulong_attr(&s, key, CKA_KMS_NEXT_ROTATION), created + 7 * DAY);

    // Data sealed under the first version: GCM, a key wrapped with KW and one with KWP, and an
    // envelope blob.
    let ct1 = gcm_seal(&s, CKM_AES_GCM, key, b"sealed before the rotation").unwrap();
    let dek = session_aes(&s, &pattern(32, 1));
    let kw1 = wrap_key(&s, &Mech::new(CKM_AES_KEY_WRAP), key, dek).unwrap();
    let odd = create_object(
        &s,
        &Tpl::new()
            .ulong(CKA_CLASS, CKO_SECRET_KEY)
            .ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET)
            .bytes(CKA_VALUE, &pattern(20, 2))
            .bool(CKA_SENSITIVE, false)
            .bool(CKA_EXTRACTABLE, true),
    )
    .unwrap();
    let kwp1 = wrap_key(&s, &Mech::new(CKM_AES_KEY_WRAP_KWP), key, odd).unwrap();
    let context = r#"{"table":"orders"}"#;
    let blob1 = encrypt_once(&s, &envelope(Some(context)), key, b"envelope before").unwrap();
    assert_eq!(&blob1[..36], v1.as_bytes());

    // Not due yet: a use changes nothing.
    clock.advance(6 * DAY);
    gcm_seal(&s, CKM_AES_GCM, key, b"x").unwrap();
    assert_eq!(primary(&s, key), v1);

    // Due: reading the key does not rotate it, the next cryptographic use does.
    let t = clock.advance(2 * DAY);
    assert_eq!(primary(&s, key), v1, "rotation waits for a use");
    let ct2 = gcm_seal(&s, CKM_AES_GCM, key, b"sealed after the rotation").unwrap();
    let v2 = primary(&s, key);
    assert_ne!(v2, v1, "the key rotated");
    assert_uuid(&v2);
    assert_eq!(text(&s, key, CKA_KMS_KEY_VERSION_ID), v2);
    assert_eq!(ulong_attr(&s, key, CKA_KMS_LAST_ROTATION), t);
    assert_eq!(ulong_attr(&s, key, CKA_KMS_NEXT_ROTATION), t + 7 * DAY);
    assert_eq!(key_id(&s, key), id, "the same key");

    // Through the key object, old and new data open.
    assert_eq!(gcm_open(&s, CKM_AES_GCM, key, &ct1).unwrap(), b"sealed before the rotation");
    assert_eq!(gcm_open(&s, CKM_AES_GCM, key, &ct2).unwrap(), b"sealed after the rotation");
    let back = unwrap_key(&s, &Mech::new(CKM_AES_KEY_WRAP), key, &kw1, &readable_secret(CKK_AES)).unwrap();
    assert_eq!(attr(&s, back, CKA_VALUE).unwrap(), pattern(32, 1), "KW-wrapped before the rotation");
    let back =
        unwrap_key(&s, &Mech::new(CKM_AES_KEY_WRAP_KWP), key, &kwp1, &readable_secret(CKK_GENERIC_SECRET))
            .unwrap();
    assert_eq!(attr(&s, back, CKA_VALUE).unwrap(), pattern(20, 2), "KWP-wrapped before the rotation");
    assert_eq!(decrypt_once(&s, &envelope(Some(context)), key, &blob1).unwrap(), b"envelope before");
    let blob2 = encrypt_once(&s, &envelope(Some(context)), key, b"envelope after").unwrap();
    assert_eq!(&blob2[..36], v2.as_bytes(), "new blobs name the new primary");
    // Wrapping now uses the new version: the old version alone cannot open it.
    let kw2 = wrap_key(&s, &Mech::new(CKM_AES_KEY_WRAP), key, dek).unwrap();
    assert_ne!(kw2, kw1);

    // Two version objects, found by key id and CKA_KMS_IS_VERSION.
    let versions = secret_versions(&s, &id);
    let mut ids: Vec<&str> = versions.iter().map(|(v, _)| v.as_str()).collect();
    ids.sort();
    let mut want = vec![v1.as_str(), v2.as_str()];
    want.sort();
    assert_eq!(ids, want, "one version object per version");
    for (vid, o) in &versions {
        assert_uuid(vid);
        assert!(bool_attr(&s, *o, CKA_KMS_IS_VERSION));
        assert_eq!(key_id(&s, *o), id);
        assert_eq!(primary(&s, *o), v2, "every version knows the primary");
    }
    let key_objects =
        all_keys(&s).into_iter().filter(|k| attr(&s, *k, CKA_KMS_KEY_ID) == Ok(id.clone().into_bytes()));
    assert_eq!(key_objects.count(), 1, "still one key object");
    let old = versions.iter().find(|(v, _)| *v == v1).unwrap().1;
    let new = versions.iter().find(|(v, _)| *v == v2).unwrap().1;

    // A version object opens only what it sealed.
    assert_eq!(gcm_open(&s, CKM_AES_GCM, old, &ct1).unwrap(), b"sealed before the rotation");
    assert_eq!(gcm_open(&s, CKM_AES_GCM, old, &ct2), Err(CKR_ENCRYPTED_DATA_INVALID));
    assert_eq!(gcm_open(&s, CKM_AES_GCM, new, &ct2).unwrap(), b"sealed after the rotation");
    assert_eq!(gcm_open(&s, CKM_AES_GCM, new, &ct1), Err(CKR_ENCRYPTED_DATA_INVALID));
    assert_eq!(decrypt_once(&s, &envelope(Some(context)), old, &blob1).unwrap(), b"envelope before");
    assert_eq!(decrypt_once(&s, &envelope(Some(context)), old, &blob2), Err(CKR_ENCRYPTED_DATA_INVALID));
    assert_eq!(decrypt_once(&s, &envelope(Some(context)), new, &blob1), Err(CKR_ENCRYPTED_DATA_INVALID));
    assert!(unwrap_key(&s, &Mech::new(CKM_AES_KEY_WRAP), new, &kw1, &readable_secret(CKK_AES)).is_err());
    let back = unwrap_key(&s, &Mech::new(CKM_AES_KEY_WRAP), old, &kw1, &readable_secret(CKK_AES)).unwrap();
    assert_eq!(attr(&s, back, CKA_VALUE).unwrap(), pattern(32, 1));
    // A pinned old version still seals with itself, and the key object opens that too.
    let pinned = gcm_seal(&s, CKM_AES_GCM, old, b"pinned").unwrap();
    assert_eq!(gcm_open(&s, CKM_AES_GCM, key, &pinned).unwrap(), b"pinned");
    assert_eq!(gcm_open(&s, CKM_AES_GCM, new, &pinned), Err(CKR_ENCRYPTED_DATA_INVALID));
}

#[test]
fn sm4_keys_rotate_and_keep_old_ciphertexts_readable() {
    let s = session("t05");
    let clock = clock();
    let key = sm4_cmk(&s, Tpl::new().ulong(CKA_KMS_ROTATION_INTERVAL, 7 * DAY));
    let v1 = primary(&s, key);
    let ct1 = gcm_seal(&s, CKM_SM4_GCM, key, b"SM4 before").unwrap();
    let blob1 = encrypt_once(&s, &envelope(None), key, b"SM4 envelope before").unwrap();
    clock.advance(8 * DAY);
    let ct2 = gcm_seal(&s, CKM_SM4_GCM, key, b"SM4 after").unwrap();
    let v2 = primary(&s, key);
    assert_ne!(v2, v1);
    assert_eq!(gcm_open(&s, CKM_SM4_GCM, key, &ct1).unwrap(), b"SM4 before");
    assert_eq!(gcm_open(&s, CKM_SM4_GCM, key, &ct2).unwrap(), b"SM4 after");
    assert_eq!(decrypt_once(&s, &envelope(None), key, &blob1).unwrap(), b"SM4 envelope before");
    assert_eq!(secret_versions(&s, &key_id(&s, key)).len(), 2);
    // Another interval passes: a third version, and the first one's data still opens.
    clock.advance(8 * DAY);
    gcm_seal(&s, CKM_SM4_GCM, key, b"x").unwrap();
    assert_eq!(secret_versions(&s, &key_id(&s, key)).len(), 3);
    assert_eq!(gcm_open(&s, CKM_SM4_GCM, key, &ct1).unwrap(), b"SM4 before");
}

#[test]
fn due_rotation_happens_at_login() {
    let s = session("t06");
    let clock = clock();
    let key = aes_cmk(&s, Tpl::new().ulong(CKA_KMS_ROTATION_INTERVAL, 7 * DAY));
    let key_id_of = key_id(&s, key);
    let v1 = primary(&s, key);
    let ct = gcm_seal(&s, CKM_AES_GCM, key, b"before").unwrap();
    clock.advance(8 * DAY);
    assert_eq!(primary(&s, key), v1);
    relogin(&s);
    // Handles of private objects end with the logout: find the key again. No cryptographic use
    // since: the login rotated it.
    let key = objects_of(&s, &key_id_of, false)[0];
    let v2 = primary(&s, key);
    assert_ne!(v2, v1, "rotated at login");
    assert_eq!(gcm_open(&s, CKM_AES_GCM, key, &ct).unwrap(), b"before");
}

#[test]
fn rotation_interval_rules() {
    let s = session("t07");
    let clock = clock();
    let before = all_keys(&s).len();
    for bad in [1, 6 * DAY, 7 * DAY - 1, 730 * DAY + 1, 3650 * DAY] {
        assert_eq!(
            aes_cmk_try(&s, Tpl::new().ulong(CKA_KMS_ROTATION_INTERVAL, bad)).err(),
            Some(CKR_ATTRIBUTE_VALUE_INVALID),
            "interval of {bad} s at creation"
        );
    }
    assert_eq!(all_keys(&s).len(), before);
    let key = aes_cmk(&s, Tpl::new());
    for bad in [1, 6 * DAY, 731 * DAY] {
        let rv = set_attributes(&s, key, &Tpl::new().ulong(CKA_KMS_ROTATION_INTERVAL, bad));
        assert_rv(rv, CKR_ATTRIBUTE_VALUE_INVALID, "interval set later");
    }
    assert_eq!(ulong_attr(&s, key, CKA_KMS_ROTATION_INTERVAL), 0);
    for good in [7 * DAY, 730 * DAY] {
        assert_rv(
            set_attributes(&s, key, &Tpl::new().ulong(CKA_KMS_ROTATION_INTERVAL, good)),
            CKR_OK,
            "interval",
        );
        assert_eq!(ulong_attr(&s, key, CKA_KMS_ROTATION_INTERVAL), good);
        assert_eq!(
            ulong_attr(&s, key, CKA_KMS_NEXT_ROTATION),
            ulong_attr(&s, key, CKA_KMS_CREATION_DATE) + good
        );
    }
    assert_eq!(clock.now(), ulong_attr(&s, key, CKA_KMS_CREATION_DATE));
    assert_rv(set_attributes(&s, key, &Tpl::new().ulong(CKA_KMS_ROTATION_INTERVAL, 0)), CKR_OK, "off");
    assert_eq!(ulong_attr(&s, key, CKA_KMS_NEXT_ROTATION), 0);

    // Asymmetric keys do not rotate automatically.
    let (_, ec) = ec_cmk(&s, CKM_EC_KEY_PAIR_GEN, P256);
    let rv = set_attributes(&s, ec, &Tpl::new().ulong(CKA_KMS_ROTATION_INTERVAL, 30 * DAY));
    assert_ne!(rv, CKR_OK, "rotation interval on an EC key");
    assert_rv(rv, CKR_ATTRIBUTE_VALUE_INVALID, "rotation interval on an EC key");
    let n = all_keys(&s).len();
    let refused = generate_key_pair(
        &s,
        &Mech::new(CKM_RSA_PKCS_KEY_PAIR_GEN),
        &Tpl::new().bool(CKA_TOKEN, true).ulong(CKA_MODULUS_BITS, 2048).bool(CKA_VERIFY, true),
        &Tpl::new().bool(CKA_TOKEN, true).bool(CKA_SIGN, true).ulong(CKA_KMS_ROTATION_INTERVAL, 30 * DAY),
    );
    assert_eq!(refused.err(), Some(CKR_ATTRIBUTE_VALUE_INVALID), "rotation interval on an RSA key");
    assert_eq!(all_keys(&s).len(), n, "no half-made pair");
    assert_eq!(ulong_attr(&s, ec, CKA_KMS_ROTATION_INTERVAL), 0);
}

#[test]
fn rotation_due_in_two_processes_at_once_makes_one_version() {
    let s = session("t08");
    let clock = clock();
    let key = aes_cmk(&s, Tpl::new().ulong(CKA_KMS_ROTATION_INTERVAL, 7 * DAY));
    let id = key_id(&s, key);
    let v1 = primary(&s, key);
    let before = gcm_seal(&s, CKM_AES_GCM, key, b"parent, before").unwrap();

    // Both children log in and find the key, then wait; the clock moves, and both use the key
    // at the same moment.
    let sync = tempfile::tempdir().unwrap();
    let children: Vec<Child> = (0..2)
        .map(|i| {
            child("rotate")
                .env(CHILD_TOKEN, "t08")
                .env(CHILD_KEY, &id)
                .env(CHILD_SYNC, sync.path())
                .env(CHILD_INDEX, i.to_string())
                .spawn()
                .expect("spawn a child process")
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(0..2).all(|i| sync.path().join(format!("ready-{i}")).exists()) {
        assert!(Instant::now() < deadline, "the children did not get ready");
        std::thread::sleep(Duration::from_millis(5));
    }
    clock.advance(8 * DAY);
    std::fs::write(sync.path().join("go"), b"").unwrap();
    let answers: Vec<Vec<(String, String)>> = children.into_iter().map(|c| finish(c, "rotate")).collect();

    let versions = secret_versions(&s, &id);
    assert_eq!(versions.len(), 2, "exactly one new version");
    let v2 = primary(&s, key);
    assert_ne!(v2, v1);
    assert!(versions.iter().any(|(v, _)| *v == v2));
    for a in &answers {
        assert_eq!(answer(a, "primary"), v2, "each child sees the one new primary");
        let ct = hex::decode(answer(a, "ciphertext")).unwrap();
        let index = answer(a, "index");
        assert_eq!(gcm_open(&s, CKM_AES_GCM, key, &ct).unwrap(), format!("child {index}").as_bytes());
    }
    assert_eq!(gcm_open(&s, CKM_AES_GCM, key, &before).unwrap(), b"parent, before");
}

// --- 4. Aliases ------------------------------------------------------------------------------

fn by_label(s: &Session, label: &str) -> Vec<ObjectHandle> {
    find(s, &Tpl::new().bytes(CKA_LABEL, label.as_bytes()))
}

#[test]
fn aliases_are_set_found_repointed_and_deleted() {
    let s = session("t09");
    let a = aes_cmk(&s, Tpl::new().bytes(CKA_LABEL, b"key A"));
    let b = aes_cmk(&s, Tpl::new().bytes(CKA_LABEL, b"key B"));
    assert_rv(set_text(&s, a, CKA_KMS_ALIASES, r#"["alias/app-a","alias/shared"]"#), CKR_OK, "aliases of A");
    assert_eq!(aliases(&s, a), ["alias/app-a", "alias/shared"]);
    assert_eq!(aliases(&s, b), Vec::<String>::new());
    assert_eq!(by_label(&s, "alias/app-a"), [a]);
    assert_eq!(by_label(&s, "alias/shared"), [a]);
    assert_eq!(by_label(&s, "key A"), [a], "the label still finds the key");
    assert!(by_label(&s, "alias/unknown").is_empty());
    // An alias search combines with the rest of the template.
    let t = Tpl::new().bytes(CKA_LABEL, b"alias/shared").ulong(CKA_CLASS, CKO_SECRET_KEY);
    assert_eq!(find(&s, &t), [a]);
    assert!(find(&s, &Tpl::new().bytes(CKA_LABEL, b"alias/shared").ulong(CKA_CLASS, CKO_DATA)).is_empty());

    // Taken by another key.
    assert_rv(set_text(&s, b, CKA_KMS_ALIASES, r#"["alias/shared"]"#), CKR_ATTRIBUTE_VALUE_INVALID, "taken");
    assert_eq!(last_error(), "Rejected.AlreadyExists");
    assert_eq!(aliases(&s, b), Vec::<String>::new(), "nothing changed");
    assert_eq!(by_label(&s, "alias/shared"), [a]);

    // Repointed: off A, onto B.
    assert_rv(set_text(&s, a, CKA_KMS_ALIASES, r#"["alias/app-a"]"#), CKR_OK, "remove from A");
    assert_rv(set_text(&s, b, CKA_KMS_ALIASES, r#"["alias/shared"]"#), CKR_OK, "add to B");
    assert_eq!(by_label(&s, "alias/shared"), [b]);
    assert_eq!(aliases(&s, a), ["alias/app-a"]);
    assert_eq!(aliases(&s, b), ["alias/shared"]);

    // Deleted.
    assert_rv(set_text(&s, b, CKA_KMS_ALIASES, "[]"), CKR_OK, "delete");
    assert!(by_label(&s, "alias/shared").is_empty());
    assert_eq!(aliases(&s, b), Vec::<String>::new());
    // And free again.
    assert_rv(set_text(&s, a, CKA_KMS_ALIASES, r#"["alias/app-a","alias/shared"]"#), CKR_OK, "reuse");
    assert_eq!(by_label(&s, "alias/shared"), [a]);

    // Names outside the rules; none changes anything.
    for bad in [
        r#"["alias/"]"#,
        r#"["alias/acs-reserved"]"#,
        r#"["key/app"]"#,
        r#"["alias/with space"]"#,
        r#"["alias/dot.ted"]"#,
        r#"["alias/a","alias/a"]"#,
        r#"{"alias":"alias/a"}"#,
        "alias/app",
        "",
    ] {
        assert_rv(set_text(&s, b, CKA_KMS_ALIASES, bad), CKR_ATTRIBUTE_VALUE_INVALID, bad);
    }
    let longest = format!(r#"["alias/{}"]"#, "x".repeat(249));
    assert_rv(set_text(&s, b, CKA_KMS_ALIASES, &longest), CKR_OK, "255 characters");
    let too_long = format!(r#"["alias/{}"]"#, "x".repeat(250));
    assert_rv(set_text(&s, b, CKA_KMS_ALIASES, &too_long), CKR_ATTRIBUTE_VALUE_INVALID, "256 characters");
    assert_eq!(aliases(&s, a), ["alias/app-a", "alias/shared"]);
}

#[test]
fn aliases_at_creation_and_on_key_pairs() {
    let s = session("t10");
    let a = aes_cmk(&s, Tpl::new().bytes(CKA_KMS_ALIASES, br#"["alias/created"]"#));
    assert_eq!(by_label(&s, "alias/created"), [a]);
    // A creation whose alias is taken makes nothing.
    let before = all_keys(&s).len();
    let taken = aes_cmk_try(&s, Tpl::new().bytes(CKA_KMS_ALIASES, br#"["alias/other","alias/created"]"#));
    assert_eq!(taken.err(), Some(CKR_ATTRIBUTE_VALUE_INVALID));
    assert_eq!(last_error(), "Rejected.AlreadyExists");
    assert_eq!(all_keys(&s).len(), before, "no key half made");
    assert!(by_label(&s, "alias/other").is_empty(), "no alias half made");
    let invalid = aes_cmk_try(&s, Tpl::new().bytes(CKA_KMS_ALIASES, br#"["alias/acs"]"#));
    assert_eq!(invalid.err(), Some(CKR_ATTRIBUTE_VALUE_INVALID));

    // An alias of a key pair finds both halves; set through either.
    let (public, private) = ec_cmk(&s, CKM_EC_KEY_PAIR_GEN, P256);
    assert_rv(
        set_text(&s, public, CKA_KMS_ALIASES, r#"["alias/signer"]"#),
        CKR_OK,
        "through the public half",
    );
    let mut found = by_label(&s, "alias/signer");
    found.sort_by_key(|o| o.handle());
    let mut both = vec![public, private];
    both.sort_by_key(|o| o.handle());
    assert_eq!(found, both);
    assert_eq!(aliases(&s, private), ["alias/signer"]);
    let only_private = Tpl::new().bytes(CKA_LABEL, b"alias/signer").ulong(CKA_CLASS, CKO_PRIVATE_KEY);
    assert_eq!(find(&s, &only_private), [private]);
}

// --- 5. States and deletion ------------------------------------------------------------------

/// Every cryptographic use of `secret`, and of the key pair `signer` (public, private), fails
/// with `CKR_KEY_FUNCTION_NOT_PERMITTED` and the KMS code `code`.
#[track_caller]
fn assert_crypto_refused(
    s: &Session,
    secret: ObjectHandle,
    signer: (ObjectHandle, ObjectHandle),
    code: &str,
) {
    let dek = session_aes(s, &pattern(16, 4));
    let wrapped = wrap_key(s, &Mech::new(CKM_AES_KEY_WRAP), session_kek(s), dek).unwrap();
    let mut failures = Vec::new();
    let mut check = |what: &str, rv: CK_RV| {
        if rv != CKR_KEY_FUNCTION_NOT_PERMITTED {
            failures.push(format!("{what}: {}", rv_name(rv)));
        } else if last_error() != code {
            failures.push(format!("{what}: last error {}", last_error()));
        }
    };
    check("C_EncryptInit", encrypt_init(s, &Mech::gcm(&IV, AAD, 128), secret));
    check("C_DecryptInit", decrypt_init(s, &Mech::gcm(&IV, AAD, 128), secret));
    check("C_EncryptInit (envelope)", encrypt_init(s, &envelope(None), secret));
    check("C_EncryptInit (data key)", encrypt_init(s, &data_key_mech(32, b""), secret));
    check("C_WrapKey", rv_of(&wrap_key(s, &Mech::new(CKM_AES_KEY_WRAP), secret, dek)));
    check(
        "C_UnwrapKey",
        rv_of(&unwrap_key(s, &Mech::new(CKM_AES_KEY_WRAP), secret, &wrapped, &readable_secret(CKK_AES))),
    );
    assert_rv(digest_init(s, &Mech::new(CKM_SHA256)), CKR_OK, "C_DigestInit");
    check("C_DigestKey", digest_key(s, secret));
    // End the digest, whether or not the refusal did.
    let _ = digest_final(s);
    check("C_SignInit", sign_init(s, &Mech::new(CKM_ECDSA), signer.1));
    check("C_VerifyInit", verify_init(s, &Mech::new(CKM_ECDSA), signer.0));
    assert!(failures.is_empty(), "not refused as {code}:\n{}", failures.join("\n"));
}

/// A session key-encryption key.
fn session_kek(s: &Session) -> ObjectHandle {
    create_object(
        s,
        &Tpl::new()
            .ulong(CKA_CLASS, CKO_SECRET_KEY)
            .ulong(CKA_KEY_TYPE, CKK_AES)
            .bytes(CKA_VALUE, &pattern(16, 8))
            .bool(CKA_WRAP, true)
            .bool(CKA_UNWRAP, true),
    )
    .unwrap()
}

#[test]
fn disabled_keys_refuse_every_cryptographic_use_until_enabled() {
    let s = session("t11");
    let key = aes_cmk(&s, Tpl::new().bool(CKA_SENSITIVE, false).bool(CKA_EXTRACTABLE, true));
    let (public, private) = ec_cmk(&s, CKM_EC_KEY_PAIR_GEN, P256);
    let ct = gcm_seal(&s, CKM_AES_GCM, key, b"while enabled").unwrap();

    for (o, name) in [(key, "AES"), (private, "EC")] {
        assert_rv(set_text(&s, o, CKA_KMS_KEY_STATE, "Disabled"), CKR_OK, name);
        assert_eq!(state(&s, o), "Disabled");
    }
    assert_eq!(state(&s, public), "Disabled", "both halves of a pair");
    assert_crypto_refused(&s, key, (public, private), "Rejected.Disabled");
    // The versions of a disabled key are disabled with it.
    let (_, version) = secret_versions(&s, &key_id(&s, key)).pop().unwrap();
    assert_eq!(state(&s, version), "Disabled");
    assert_eq!(gcm_open(&s, CKM_AES_GCM, version, &ct), Err(CKR_KEY_FUNCTION_NOT_PERMITTED));
    // Its material does not leave the token wrapped either.
    let kek = session_kek(&s);
    assert_eq!(wrap_key(&s, &Mech::new(CKM_AES_KEY_WRAP), kek, key), Err(CKR_KEY_FUNCTION_NOT_PERMITTED));
    // Still found, still described.
    assert!(all_keys(&s).contains(&key));

    // Only Enabled and Disabled can be set.
    for bad in ["PendingDeletion", "PendingImport", "enabled", ""] {
        assert_rv(set_text(&s, key, CKA_KMS_KEY_STATE, bad), CKR_ATTRIBUTE_VALUE_INVALID, bad);
    }
    for (o, name) in [(key, "AES"), (private, "EC")] {
        assert_rv(set_text(&s, o, CKA_KMS_KEY_STATE, "Enabled"), CKR_OK, name);
    }
    assert_eq!(gcm_open(&s, CKM_AES_GCM, key, &ct).unwrap(), b"while enabled");
    let sig = sign_once(&s, &Mech::new(CKM_ECDSA), private, &[1; 32]).unwrap();
    assert_rv(verify_once(&s, &Mech::new(CKM_ECDSA), public, &[1; 32], &sig), CKR_OK, "verify");
    assert!(wrap_key(&s, &Mech::new(CKM_AES_KEY_WRAP), kek, key).is_ok());
}

#[test]
fn destroying_a_managed_key_schedules_its_deletion() {
    let s = session("t12");
    let clock = clock();
    let key = aes_cmk(&s, Tpl::new().bytes(CKA_KMS_ALIASES, br#"["alias/doomed"]"#));
    let keep = aes_cmk(&s, Tpl::new());
    let id = key_id(&s, key);
    let (public, private) = ec_cmk(&s, CKM_EC_KEY_PAIR_GEN, P256);
    let ct = gcm_seal(&s, CKM_AES_GCM, key, b"x").unwrap();

    let t = clock.now();
    s.destroy_object(key).unwrap();
    s.destroy_object(private).unwrap();
    // Searches no longer find it, by any road.
    assert!(!all_keys(&s).contains(&key));
    assert!(objects_of(&s, &id, false).is_empty());
    assert!(objects_of(&s, &id, true).is_empty(), "nor its versions");
    assert!(by_label(&s, "alias/doomed").is_empty());
    let left = all_keys(&s);
    assert_eq!(left, [keep], "the pair went with its private half");
    // A held handle shows the state and refuses cryptographic use.
    assert_eq!(state(&s, key), "PendingDeletion");
    assert_eq!(ulong_attr(&s, key, CKA_KMS_DELETION_DATE), t + 7 * DAY);
    assert_eq!(state(&s, public), "PendingDeletion");
    assert_crypto_refused(&s, key, (public, private), "Rejected.PendingDeletion");
    assert_eq!(gcm_open(&s, CKM_AES_GCM, key, &ct), Err(CKR_KEY_FUNCTION_NOT_PERMITTED));
    // Destroying it again is no error; it cannot be enabled or changed meanwhile.
    s.destroy_object(key).unwrap();
    s.destroy_object(public).unwrap();
    assert_rv(set_text(&s, key, CKA_KMS_KEY_STATE, "Enabled"), CKR_ACTION_PROHIBITED, "enable");
    assert_eq!(last_error(), "Rejected.StateModifiedFailed");
    assert_eq!(state(&s, key), "PendingDeletion");

    // Within the window a new login purges nothing: the alias is still the key's, and the
    // public half (not private, so its handle outlives the logout) still shows the state.
    clock.advance(6 * DAY);
    relogin(&s);
    let keep = all_keys(&s)[0];
    assert_eq!(state(&s, public), "PendingDeletion");
    assert_rv(
        set_text(&s, keep, CKA_KMS_ALIASES, r#"["alias/doomed"]"#),
        CKR_ATTRIBUTE_VALUE_INVALID,
        "taken",
    );
    assert_eq!(last_error(), "Rejected.AlreadyExists");
    // After it, the next login does.
    clock.advance(2 * DAY);
    relogin(&s);
    assert_eq!(attr(&s, public, CKA_KMS_KEY_STATE), Err(CKR_OBJECT_HANDLE_INVALID), "purged");
    let keep = all_keys(&s)[0];
    assert!(objects_of(&s, &id, true).is_empty());
    assert_eq!(all_keys(&s), [keep]);
    // Its alias is free again.
    assert_rv(set_text(&s, keep, CKA_KMS_ALIASES, r#"["alias/doomed"]"#), CKR_OK, "alias freed");
    assert_eq!(
        gcm_open(&s, CKM_AES_GCM, keep, &gcm_seal(&s, CKM_AES_GCM, keep, b"y").unwrap()).unwrap(),
        b"y"
    );
}

/// C_Logout and C_Login again: what is due runs at login.
fn relogin(s: &Session) {
    s.logout().unwrap();
    s.login(UserType::User, Some(&common::pin(common::USER_PIN))).unwrap();
}

#[test]
fn deletion_protection_versions_copies_and_public_halves() {
    let s = session("t13");
    let key = aes_cmk(&s, Tpl::new().bool(CKA_KMS_DELETION_PROTECTION, true));
    assert_eq!(ckr(s.destroy_object(key)), CKR_ACTION_PROHIBITED);
    assert_eq!(last_error(), "Forbidden.DeletionProtected");
    assert_eq!(state(&s, key), "Enabled");
    assert!(all_keys(&s).contains(&key));
    assert_rv(set_attributes(&s, key, &Tpl::new().bool(CKA_KMS_DELETION_PROTECTION, false)), CKR_OK, "off");

    // Versions go only with their key; managed keys are not copied.
    let (_, version) = secret_versions(&s, &key_id(&s, key)).pop().unwrap();
    assert_eq!(ckr(s.destroy_object(version)), CKR_ACTION_PROHIBITED);
    assert_eq!(copy_object(&s, key, &Tpl::new()).err(), Some(CKR_ACTION_PROHIBITED));
    assert_eq!(copy_object(&s, version, &Tpl::new()).err(), Some(CKR_ACTION_PROHIBITED));
    assert_eq!(
        copy_object(&s, key, &Tpl::new().bool(CKA_TOKEN, false)).err(),
        Some(CKR_ACTION_PROHIBITED),
        "not even as a session key"
    );

    // The public half of a pair goes alone; the key stays and signs.
    let (public, private) = ec_cmk(&s, CKM_EC_KEY_PAIR_GEN, P256);
    let id = key_id(&s, private);
    s.destroy_object(public).unwrap();
    assert_eq!(attr(&s, public, CKA_KMS_KEY_ID), Err(CKR_OBJECT_HANDLE_INVALID));
    assert_eq!(objects_of(&s, &id, false), [private]);
    assert_eq!(state(&s, private), "Enabled");
    sign_once(&s, &Mech::new(CKM_ECDSA), private, &[2; 32]).unwrap();

    s.destroy_object(key).unwrap();
    assert_eq!(state(&s, key), "PendingDeletion");
}

#[test]
fn session_objects_and_data_objects_are_destroyed_at_once() {
    let s = session("t14");
    let session_key =
        generate_key(&s, &Mech::new(CKM_AES_KEY_GEN), &Tpl::new().ulong(CKA_VALUE_LEN, 32)).unwrap();
    let data = create_object(
        &s,
        &Tpl::new().ulong(CKA_CLASS, CKO_DATA).bool(CKA_TOKEN, true).bytes(CKA_LABEL, b"token data"),
    )
    .unwrap();
    let lone_public = {
        let (public, _) = generate_key_pair(
            &s,
            &Mech::new(CKM_EC_KEY_PAIR_GEN),
            &Tpl::new().bytes(CKA_EC_PARAMS, &h(P256)),
            &Tpl::new().bool(CKA_SIGN, true),
        )
        .unwrap();
        let point = attr(&s, public, CKA_EC_POINT).unwrap();
        create_object(
            &s,
            &Tpl::new()
                .ulong(CKA_CLASS, CKO_PUBLIC_KEY)
                .ulong(CKA_KEY_TYPE, CKK_EC)
                .bool(CKA_TOKEN, true)
                .bytes(CKA_EC_PARAMS, &h(P256))
                .bytes(CKA_EC_POINT, &point),
        )
        .unwrap()
    };
    for o in [session_key, data, lone_public] {
        s.destroy_object(o).unwrap();
        assert_eq!(attr(&s, o, CKA_LABEL), Err(CKR_OBJECT_HANDLE_INVALID));
    }
    assert!(by_label(&s, "token data").is_empty());
}

#[test]
fn immediate_destruction_when_configured() {
    env();
    let dir = tempfile::tempdir().unwrap();
    let sections = format!(
        "[rate_limit]\ncreate = \"unlimited\"\nwrite = \"unlimited\"\nread = \"unlimited\"\n\
         crypto_symmetric = \"unlimited\"\ncrypto_asymmetric = \"unlimited\"\n\n\
         [kms]\ndestroy = \"immediate\"\nclock_file = \"{}\"\n",
        clock_file().display()
    );
    let c = own_config_child("immediate", dir.path(), &sections).spawn().expect("spawn");
    let a = finish(c, "immediate");
    assert_eq!(answer(&a, "done"), "yes");
}

#[test]
fn another_process_changing_the_state_takes_effect_here() {
    let s = session("t15");
    let key = aes_cmk(&s, Tpl::new());
    let id = key_id(&s, key);
    gcm_seal(&s, CKM_AES_GCM, key, b"x").unwrap();

    let set_state = |to: &str| {
        let c = child("set_state")
            .env(CHILD_TOKEN, "t15")
            .env(CHILD_KEY, &id)
            .env(CHILD_STATE, to)
            .spawn()
            .expect("spawn");
        assert_eq!(answer(&finish(c, "set_state"), "state"), to);
    };
    // On the cryptographic path within the sync interval (100 ms).
    set_state("Disabled");
    std::thread::sleep(Duration::from_millis(150));
    assert_eq!(encrypt_init(&s, &Mech::gcm(&IV, AAD, 128), key), CKR_KEY_FUNCTION_NOT_PERMITTED);
    assert_eq!(last_error(), "Rejected.Disabled");
    // At once after an object call.
    set_state("Enabled");
    assert_eq!(state(&s, key), "Enabled");
    assert_eq!(gcm_seal(&s, CKM_AES_GCM, key, b"y").map(|c| c.len()), Ok(1 + 16));
}

// --- 6. Envelope encryption and data keys ----------------------------------------------------

#[test]
fn envelope_encrypt_and_decrypt() {
    let s = session("t16");
    let key = aes_cmk(&s, Tpl::new());
    let v = primary(&s, key);
    let context = r#"{"user":"alice","purpose":"test"}"#;
    let pt = b"KMS Encrypt through C_Encrypt";

    let blob = encrypt_once(&s, &envelope(Some(context)), key, pt).unwrap();
    assert_eq!(blob.len(), 36 + 12 + pt.len() + 16, "version id, IV, ciphertext, tag");
    assert_eq!(&blob[..36], v.as_bytes());
    let again = encrypt_once(&s, &envelope(Some(context)), key, pt).unwrap();
    assert_ne!(blob[36..48], again[36..48], "a fresh IV each time");
    assert_eq!(decrypt_once(&s, &envelope(Some(context)), key, &blob).unwrap(), pt);
    // The same context in another order and spacing is the same context.
    let reordered = r#"{ "purpose" : "test", "user" : "alice" }"#;
    assert_eq!(decrypt_once(&s, &envelope(Some(reordered)), key, &blob).unwrap(), pt);
    // A wrong or missing context, a tampered blob, another key's blob: invalid.
    for wrong in [Some(r#"{"user":"bob","purpose":"test"}"#), Some(r#"{"user":"alice"}"#), Some("{}"), None] {
        assert_eq!(
            decrypt_once(&s, &envelope(wrong), key, &blob),
            Err(CKR_ENCRYPTED_DATA_INVALID),
            "{wrong:?}"
        );
    }
    for i in [0, 40, 50, blob.len() - 1] {
        let mut bad = blob.clone();
        bad[i] ^= 1;
        assert_eq!(
            decrypt_once(&s, &envelope(Some(context)), key, &bad),
            Err(CKR_ENCRYPTED_DATA_INVALID),
            "byte {i}"
        );
    }
    let other = aes_cmk(&s, Tpl::new());
    assert_eq!(decrypt_once(&s, &envelope(Some(context)), other, &blob), Err(CKR_ENCRYPTED_DATA_INVALID));
    assert_eq!(
        decrypt_once(&s, &envelope(Some(context)), key, &blob[..60]),
        Err(CKR_ENCRYPTED_DATA_LEN_RANGE)
    );
    // No context and the empty context are one.
    let plain = encrypt_once(&s, &envelope(None), key, pt).unwrap();
    assert_eq!(decrypt_once(&s, &envelope(Some("{}")), key, &plain).unwrap(), pt);
    // Contexts outside the rules.
    for bad in [r#"{"a":1}"#, "[]", r#"{"a":"1","a":"2"}"#, "{"] {
        assert_eq!(encrypt_init(&s, &envelope(Some(bad)), key), CKR_MECHANISM_PARAM_INVALID, "{bad}");
    }

    // Direct Encrypt takes at most 6 KiB.
    let max = vec![0x42u8; 6144];
    let big = encrypt_once(&s, &envelope(None), key, &max).unwrap();
    assert_eq!(decrypt_once(&s, &envelope(None), key, &big).unwrap(), max);
    assert_eq!(encrypt_once(&s, &envelope(None), key, &[0x42; 6145]), Err(CKR_DATA_LEN_RANGE));
    // Empty plaintext is sealed like any other.
    let empty = encrypt_once(&s, &envelope(None), key, b"").unwrap();
    assert_eq!(empty.len(), 64);
    assert_eq!(decrypt_once(&s, &envelope(None), key, &empty).unwrap(), b"");

    // SM4 keys seal with SM4-GCM.
    let sm4 = sm4_cmk(&s, Tpl::new());
    let blob = encrypt_once(&s, &envelope(Some(context)), sm4, pt).unwrap();
    assert_eq!(&blob[..36], primary(&s, sm4).as_bytes());
    assert_eq!(decrypt_once(&s, &envelope(Some(context)), sm4, &blob).unwrap(), pt);
    assert_eq!(decrypt_once(&s, &envelope(Some(context)), key, &blob), Err(CKR_ENCRYPTED_DATA_INVALID));

    // The envelope format needs a managed key.
    let session_key = session_aes(&s, &pattern(32, 5));
    assert_eq!(encrypt_init(&s, &envelope(None), session_key), CKR_KEY_TYPE_INCONSISTENT);
    assert_eq!(decrypt_init(&s, &envelope(None), session_key), CKR_KEY_TYPE_INCONSISTENT);
}

#[test]
fn data_keys_with_and_without_plaintext() {
    let s = session("t17");
    let cmk = aes_cmk(&s, Tpl::new());
    let context = r#"{"bucket":"logs"}"#;

    // GenerateDataKey: a session key, sealed with C_WrapKey.
    let dk = generate_key(
        &s,
        &Mech::new(CKM_AES_KEY_GEN),
        &Tpl::new().ulong(CKA_VALUE_LEN, 32).bool(CKA_SENSITIVE, false).bool(CKA_EXTRACTABLE, true),
    )
    .unwrap();
    assert_eq!(attr(&s, dk, CKA_KMS_KEY_ID), Err(CKR_ATTRIBUTE_TYPE_INVALID), "a data key is a session key");
    let value = attr(&s, dk, CKA_VALUE).unwrap();
    let blob = wrap_key(&s, &envelope(Some(context)), cmk, dk).unwrap();
    assert_eq!(&blob[..36], primary(&s, cmk).as_bytes());
    // Decrypt gives the data key's Base64 text, as KMS Decrypt of a GenerateDataKey blob does.
    let text = decrypt_once(&s, &envelope(Some(context)), cmk, &blob).unwrap();
    assert_eq!(String::from_utf8(text).unwrap(), base64(&value));
    let back = unwrap_key(&s, &envelope(Some(context)), cmk, &blob, &readable_secret(CKK_AES)).unwrap();
    assert_eq!(attr(&s, back, CKA_VALUE).unwrap(), value);
    assert_eq!(
        unwrap_key(&s, &envelope(None), cmk, &blob, &readable_secret(CKK_AES)).err(),
        Some(CKR_WRAPPED_KEY_INVALID),
        "without its context"
    );
    let session_kek = session_aes(&s, &pattern(32, 6));
    assert_eq!(wrap_key(&s, &envelope(None), session_kek, dk).err(), Some(CKR_KEY_TYPE_INCONSISTENT));

    // GenerateDataKeyWithoutPlaintext: only the blob of a fresh key.
    let m = data_key_mech(16, context.as_bytes());
    let blob = encrypt_once(&s, &m, cmk, b"").unwrap();
    assert_eq!(blob.len(), 64 + 24, "a blob of the 24-character Base64 text of 16 bytes");
    let text = decrypt_once(&s, &envelope(Some(context)), cmk, &blob).unwrap();
    assert_eq!(text.len(), 24);
    let key = unwrap_key(&s, &envelope(Some(context)), cmk, &blob, &readable_secret(CKK_AES)).unwrap();
    let value = attr(&s, key, CKA_VALUE).unwrap();
    assert_eq!(value.len(), 16);
    assert_eq!(base64(&value).as_bytes(), text);
    assert_ne!(encrypt_once(&s, &m, cmk, b"").unwrap(), blob, "a fresh key each time");
    // The default length is 32 bytes; 1 to 1024 may be asked.
    for (len, text_len) in [(0, 44), (1, 4), (1024, 1368)] {
        let blob = encrypt_once(&s, &data_key_mech(len, b""), cmk, b"").unwrap();
        assert_eq!(decrypt_once(&s, &envelope(None), cmk, &blob).unwrap().len(), text_len, "{len} bytes");
    }
    assert_eq!(encrypt_init(&s, &data_key_mech(1025, b""), cmk), CKR_MECHANISM_PARAM_INVALID);
    assert_eq!(encrypt_init(&s, &data_key_mech(32, b"not json"), cmk), CKR_MECHANISM_PARAM_INVALID);
    assert_eq!(encrypt_once(&s, &data_key_mech(32, b""), cmk, b"data"), Err(CKR_DATA_LEN_RANGE));
    assert_eq!(encrypt_init(&s, &data_key_mech(32, b""), session_kek), CKR_KEY_TYPE_INCONSISTENT);
}

/// Runs Python with the `cryptography` package: `script` with `args`, its standard output.
fn python(script: &str, args: &[&str]) -> String {
    let check = Command::new("/usr/bin/python3").args(["-c", "import cryptography"]).output();
    match check {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "Python's `cryptography` package is needed for the envelope cross-check (Debian: \
             apt-get install python3-cryptography): {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => {
            panic!("/usr/bin/python3 is needed for the envelope cross-check (with python3-cryptography): {e}")
        }
    }
    let out =
        Command::new("/usr/bin/python3").arg("-c").arg(script).args(args).output().expect("run python3");
    assert!(out.status.success(), "python3 failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The blob layout and AAD of DESIGN §1, written from the documentation alone.
const PY_ENVELOPE: &str = r#"
import hashlib, json, os, sys
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

def aad(context):
    pairs = sorted(json.loads(context).items(), key=lambda kv: kv[0].encode())
    if not pairs:
        return None
    return hashlib.sha256("&".join(k + "=" + v for k, v in pairs).encode()).digest()

mode, key, context = sys.argv[1], bytes.fromhex(sys.argv[2]), sys.argv[3]
if mode == "seal":
    version_id, plaintext = sys.argv[4].encode(), bytes.fromhex(sys.argv[5])
    iv = os.urandom(12)
    print((version_id + iv + AESGCM(key).encrypt(iv, plaintext, aad(context))).hex())
else:
    blob = bytes.fromhex(sys.argv[4])
    version_id, iv, sealed = blob[:36], blob[36:48], blob[48:]
    print(version_id.decode(), AESGCM(key).decrypt(iv, sealed, aad(context)).hex())
"#;

#[test]
fn envelope_blobs_cross_checked_with_python() {
    let s = session("t18");
    let material = pattern(32, 0x11);
    let key = create_object(
        &s,
        &Tpl::new()
            .ulong(CKA_CLASS, CKO_SECRET_KEY)
            .ulong(CKA_KEY_TYPE, CKK_AES)
            .bool(CKA_TOKEN, true)
            .bool(CKA_ENCRYPT, true)
            .bool(CKA_DECRYPT, true)
            .bytes(CKA_VALUE, &material),
    )
    .unwrap();
    assert_eq!(text(&s, key, CKA_KMS_ORIGIN), "EXTERNAL");
    let version = primary(&s, key);
    let context = r#"{"user":"alice","purpose":"backup","Zone":"cn-hangzhou"}"#;
    let pt = b"sealed by one side, opened by the other";

    // Python seals, the library opens.
    let blob = hex::decode(python(
        PY_ENVELOPE,
        &["seal", &hex::encode(&material), context, &version, &hex::encode(pt)],
    ))
    .unwrap();
    assert_eq!(decrypt_once(&s, &envelope(Some(context)), key, &blob).unwrap(), pt, "Python's blob");
    assert_eq!(decrypt_once(&s, &envelope(None), key, &blob), Err(CKR_ENCRYPTED_DATA_INVALID));
    let empty =
        hex::decode(python(PY_ENVELOPE, &["seal", &hex::encode(&material), "{}", &version, ""])).unwrap();
    assert_eq!(decrypt_once(&s, &envelope(None), key, &empty).unwrap(), b"", "no context, no AAD");

    // The library seals, Python opens.
    let blob = encrypt_once(&s, &envelope(Some(context)), key, pt).unwrap();
    let opened = python(PY_ENVELOPE, &["open", &hex::encode(&material), context, &hex::encode(&blob)]);
    assert_eq!(opened, format!("{version} {}", hex::encode(pt)), "the library's blob in Python");
    let blob = encrypt_once(&s, &envelope(None), key, pt).unwrap();
    let opened = python(PY_ENVELOPE, &["open", &hex::encode(&material), "{}", &hex::encode(&blob)]);
    assert_eq!(opened, format!("{version} {}", hex::encode(pt)));
}

// --- 7. Quotas -------------------------------------------------------------------------------

/// `C_GenerateKey` of a token AES key through a given function list.
fn generate_through(
    generate: unsafe extern "C" fn(
        CK_SESSION_HANDLE,
        *mut CK_MECHANISM,
        *mut CK_ATTRIBUTE,
        CK_ULONG,
        *mut CK_OBJECT_HANDLE,
    ) -> CK_RV,
    s: &Session,
    more: Tpl,
) -> CK_RV {
    let t = token_secret().ulong(CKA_VALUE_LEN, 32).extend(more);
    let mut attrs = t.ck();
    let mut m = Mech::new(CKM_AES_KEY_GEN).ck();
    let mut key = CK_INVALID_HANDLE;
    // SAFETY: mechanism and template live for the call; `key` is writable.
    unsafe { generate(sh(s), &mut m, attrs.as_mut_ptr(), attrs.len() as CK_ULONG, &mut key) }
}

#[test]
fn the_key_quota_holds_and_leaves_nothing_half_made() {
    let s = session("t19");
    for i in 0..200 {
        aes_cmk_try(&s, Tpl::new()).unwrap_or_else(|rv| panic!("key {i}: {}", rv_name(rv)));
    }
    let keys = all_keys(&s).len();
    let versions = find(&s, &Tpl::new().bool(CKA_KMS_IS_VERSION, true)).len();
    assert_eq!((keys, versions), (200, 200));

    // The 201st: the 3.2 interface names the quota, the older ones report no room.
    let v32 = list_3_2().C_GenerateKey.unwrap();
    assert_rv(generate_through(v32, &s, Tpl::new()), CKR_TOKEN_RESOURCE_EXCEEDED, "3.2 list");
    assert_eq!(last_error(), "Rejected.LimitExceeded");
    let v240 = f().C_GenerateKey.unwrap();
    assert_rv(generate_through(v240, &s, Tpl::new()), CKR_DEVICE_MEMORY, "2.40 list");
    assert_eq!(last_error(), "Rejected.LimitExceeded");
    // Every way of making a managed key.
    let pair = generate_key_pair(
        &s,
        &Mech::new(CKM_EC_KEY_PAIR_GEN),
        &Tpl::new().bool(CKA_TOKEN, true).bytes(CKA_EC_PARAMS, &h(P256)),
        &Tpl::new().bool(CKA_TOKEN, true).bool(CKA_SIGN, true),
    );
    assert_eq!(pair.err(), Some(CKR_DEVICE_MEMORY), "C_GenerateKeyPair");
    let import = Tpl::new()
        .ulong(CKA_CLASS, CKO_SECRET_KEY)
        .ulong(CKA_KEY_TYPE, CKK_AES)
        .bool(CKA_TOKEN, true)
        .bytes(CKA_VALUE, &[1; 32]);
    assert_eq!(create_object(&s, &import).err(), Some(CKR_DEVICE_MEMORY), "C_CreateObject");
    let mut attrs = import.ck();
    let mut handle = CK_INVALID_HANDLE;
    // SAFETY: the template lives for the call; `handle` is writable.
    let rv = unsafe {
        list_3_2().C_CreateObject.unwrap()(sh(&s), attrs.as_mut_ptr(), attrs.len() as CK_ULONG, &mut handle)
    };
    assert_rv(rv, CKR_TOKEN_RESOURCE_EXCEEDED, "C_CreateObject through the 3.2 list");
    assert_eq!(
        generate_through(v32, &s, Tpl::new().bytes(CKA_KMS_ALIASES, br#"["alias/over"]"#)),
        CKR_TOKEN_RESOURCE_EXCEEDED
    );
    // Session keys and other objects are no managed keys: still made.
    generate_key(&s, &Mech::new(CKM_AES_KEY_GEN), &Tpl::new().ulong(CKA_VALUE_LEN, 32)).unwrap();
    create_object(&s, &Tpl::new().ulong(CKA_CLASS, CKO_DATA).bool(CKA_TOKEN, true)).unwrap();

    assert_eq!(find(&s, &Tpl::new().bool(CKA_TOKEN, true).ulong(CKA_CLASS, CKO_SECRET_KEY)).len(), 200);
    assert!(find(&s, &Tpl::new().ulong(CKA_CLASS, CKO_PRIVATE_KEY)).is_empty());
    assert_eq!(find(&s, &Tpl::new().bool(CKA_KMS_IS_VERSION, true)).len(), 200, "no version half made");
    assert!(by_label(&s, "alias/over").is_empty(), "no alias half made");
}

#[test]
fn the_alias_quota_holds() {
    let s = session("t20");
    let a = aes_cmk(&s, Tpl::new());
    let b = aes_cmk(&s, Tpl::new());
    let names = |range: std::ops::Range<usize>| {
        serde_json::to_string(&range.map(|i| format!("alias/a{i}")).collect::<Vec<_>>()).unwrap()
    };
    assert_rv(set_text(&s, a, CKA_KMS_ALIASES, &names(0..300)), CKR_OK, "300 aliases");
    assert_eq!(aliases(&s, a).len(), 300);
    // The 301st: refused whichever way it comes, and nothing changes.
    let list = list_3_2().C_SetAttributeValue.unwrap();
    let t = Tpl::new().bytes(CKA_KMS_ALIASES, br#"["alias/b"]"#);
    let mut attrs = t.ck();
    // SAFETY: the template lives for the call.
    let rv = unsafe { list(sh(&s), oh(b), attrs.as_mut_ptr(), attrs.len() as CK_ULONG) };
    assert_rv(rv, CKR_TOKEN_RESOURCE_EXCEEDED, "3.2 list");
    assert_eq!(last_error(), "Rejected.LimitExceeded");
    assert_rv(set_text(&s, b, CKA_KMS_ALIASES, r#"["alias/b"]"#), CKR_DEVICE_MEMORY, "2.40 list");
    let before = all_keys(&s).len();
    assert_eq!(
        aes_cmk_try(&s, Tpl::new().bytes(CKA_KMS_ALIASES, br#"["alias/c"]"#)).err(),
        Some(CKR_DEVICE_MEMORY)
    );
    assert_eq!(all_keys(&s).len(), before, "no key made without its alias");
    assert!(aliases(&s, b).is_empty());
    // Replacing a key's aliases within the quota is fine; freeing one makes room.
    assert_rv(set_text(&s, a, CKA_KMS_ALIASES, &names(1..301)), CKR_OK, "replace 300 with 300");
    assert_rv(set_text(&s, a, CKA_KMS_ALIASES, &names(0..299)), CKR_OK, "299");
    assert_rv(set_text(&s, b, CKA_KMS_ALIASES, r#"["alias/b"]"#), CKR_OK, "the 300th");
    assert_eq!(by_label(&s, "alias/b"), [b]);
    assert_rv(set_text(&s, b, CKA_KMS_ALIASES, r#"["alias/b","alias/b2"]"#), CKR_DEVICE_MEMORY, "301st");
}

// --- 8. Rate limits --------------------------------------------------------------------------

#[test]
fn creation_bursts_wait_for_the_rate() {
    env();
    let dir = tempfile::tempdir().unwrap();
    let sections = "[rate_limit]\ncreate = 5\nmax_wait_ms = 10000\n";
    let c = own_config_child("throttle_wait", dir.path(), sections).spawn().expect("spawn");
    let a = finish(c, "throttle_wait");
    assert_eq!(answer(&a, "created"), "20");
    let ms: u64 = answer(&a, "elapsed_ms").parse().unwrap();
    // Five at once (the bucket holds one second), then five a second: 15 take three seconds.
    assert!(ms >= 2900, "20 creations at 5 a second took {ms} ms");
}

#[test]
fn bursts_past_the_wait_bound_are_throttled() {
    env();
    let dir = tempfile::tempdir().unwrap();
    let sections = "[rate_limit]\ncreate = 5\nread = 5\nwrite = 5\ncrypto_symmetric = 5\n\
                    crypto_asymmetric = 5\nmax_wait_ms = 50\n";
    let c = own_config_child("throttle_fail", dir.path(), sections).spawn().expect("spawn");
    let a = finish(c, "throttle_fail");
    for group in ["create", "read", "write", "crypto", "destroy"] {
        let n: u128 = answer(&a, &format!("{group}_ok")).parse().unwrap();
        // The bucket's five, and what refilled (one per 200 ms) while the burst ran and the
        // last call waited.
        let ms: u128 = answer(&a, &format!("{group}_ms")).parse().unwrap();
        let most = 5 + (ms + 50) / 200 + 1;
        assert!((5..=most).contains(&n), "{group}: {n} calls in {ms} ms went through, not about 5");
        assert_eq!(answer(&a, &format!("{group}_rv")), "CKR_DEVICE_ERROR", "{group}");
        assert_eq!(answer(&a, &format!("{group}_code")), "Rejected.Throttling", "{group}");
    }
    assert_eq!(answer(&a, "unthrottled"), "yes");
}

// --- The vendor interface --------------------------------------------------------------------

#[test]
fn last_error_follows_the_size_query_convention() {
    let s = session("t21");
    let key = aes_cmk(&s, Tpl::new());
    assert_rv(set_text(&s, key, CKA_KMS_KEY_STATE, "Disabled"), CKR_OK, "disable");
    assert_eq!(encrypt_init(&s, &Mech::gcm(&IV, AAD, 128), key), CKR_KEY_FUNCTION_NOT_PERMITTED);
    let list = kms_list();
    assert_eq!((list.version.major, list.version.minor), (1, 0));
    let f = list.get_last_error;
    let mut len: CK_ULONG = 0;
    // SAFETY: size query.
    assert_rv(unsafe { f(std::ptr::null_mut(), &mut len) }, CKR_OK, "size");
    assert_eq!(len as usize, "Rejected.Disabled".len());
    let mut short = [0u8; 4];
    let mut short_len: CK_ULONG = short.len() as CK_ULONG;
    // SAFETY: the buffer holds `short_len` bytes.
    assert_rv(unsafe { f(short.as_mut_ptr(), &mut short_len) }, CKR_BUFFER_TOO_SMALL, "short buffer");
    assert_eq!(short_len, len);
    // SAFETY: a null length pointer is the caller's error, reported as such.
    assert_rv(unsafe { f(short.as_mut_ptr(), std::ptr::null_mut()) }, CKR_ARGUMENTS_BAD, "null length");
    assert_eq!(last_error(), "Rejected.Disabled");
    // Per thread: another thread has had no failure.
    let other = std::thread::spawn(last_error).join().unwrap();
    assert_eq!(other, "");
}

// ---------------------------------------------------------------------------------------------
// Other processes: this binary again, running only `kms_child`.

/// The scenario a child runs, and its inputs.
const CHILD: &str = "KMS_PKCS11_TEST_KMS_CHILD";
const CHILD_MODULE: &str = "KMS_PKCS11_TEST_MODULE";
const CHILD_TOKEN: &str = "KMS_PKCS11_TEST_TOKEN";
const CHILD_KEY: &str = "KMS_PKCS11_TEST_KEY_ID";
const CHILD_SYNC: &str = "KMS_PKCS11_TEST_SYNC_DIR";
const CHILD_INDEX: &str = "KMS_PKCS11_TEST_INDEX";
const CHILD_STATE: &str = "KMS_PKCS11_TEST_STATE";

/// A child running `scenario` with this process's configuration (so on the same tokens and
/// clock).
fn child(scenario: &str) -> Command {
    env();
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args(["kms_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD, scenario)
        .env(CHILD_MODULE, common::module_path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// A child running `scenario` on a configuration of its own in `dir`, with `sections` as its
/// KMS sections: tokens of its own.
fn own_config_child(scenario: &str, dir: &Path, sections: &str) -> Command {
    let config = common::write_config_with(dir, sections);
    let mut c = child(scenario);
    c.env("KMS_PKCS11_CONFIG", config).env("KMS_PKCS11_HOME", dir);
    c
}

/// Waits for a child and returns its answers (`CHILD> name=value` lines).
fn finish(c: Child, scenario: &str) -> Vec<(String, String)> {
    let out = c.wait_with_output().expect("wait for the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child '{scenario}' failed: {}\n--- stdout\n{stdout}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .filter_map(|l| l.split_once("CHILD> "))
        .filter_map(|(_, a)| a.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[track_caller]
fn answer(answers: &[(String, String)], name: &str) -> String {
    answers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("the child did not answer {name}: {answers:?}"))
}

fn say(name: &str, value: impl std::fmt::Display) {
    println!("CHILD> {name}={value}");
}

/// The library in a child, initialized with the configuration its parent gave.
fn child_library() -> Pkcs11 {
    // Keep the module mapped for the life of the child (see `object::peer_library`).
    // SAFETY: loading the module runs no code of ours; the handle is never closed.
    std::mem::forget(unsafe { libloading::Library::new(module()) }.expect("dlopen"));
    let pkcs11 = Pkcs11::new(module()).unwrap();
    pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)).unwrap();
    pkcs11
}

/// A user session of a token of the configuration; with `fresh`, the token is initialized
/// first.
fn child_session(pkcs11: &Pkcs11, token: &str, fresh: bool) -> Session {
    let idx = common::TOKENS.iter().position(|t| *t == token).expect("token name");
    let slot = pkcs11.get_all_slots().unwrap()[idx];
    if fresh {
        pkcs11.init_token(slot, &common::pin(common::SO_PIN), token).unwrap();
        let so = pkcs11.open_rw_session(slot).unwrap();
        so.login(UserType::So, Some(&common::pin(common::SO_PIN))).unwrap();
        so.init_pin(&common::pin(common::USER_PIN)).unwrap();
    }
    let s = pkcs11.open_rw_session(slot).unwrap();
    s.login(UserType::User, Some(&common::pin(common::USER_PIN))).unwrap();
    s
}

fn vendor(ty: CK_ATTRIBUTE_TYPE, value: &[u8]) -> Attribute {
    Attribute::VendorDefined((AttributeType::VendorDefined(ty), value.to_vec()))
}

fn child_text(s: &Session, o: ObjectHandle, ty: CK_ATTRIBUTE_TYPE) -> String {
    match &s.get_attributes(o, &[AttributeType::VendorDefined(ty)]).unwrap()[..] {
        [Attribute::VendorDefined((_, v))] => String::from_utf8(v.clone()).unwrap(),
        other => panic!("attribute {ty:#x}: {other:?}"),
    }
}

/// The key object of a managed key, by its id.
fn child_key(s: &Session, key_id: &str) -> ObjectHandle {
    let found = s.find_objects(&[vendor(CKA_KMS_KEY_ID, key_id.as_bytes())]).unwrap();
    assert_eq!(found.len(), 1, "key objects of {key_id}");
    found[0]
}

fn child_aes_template() -> Vec<Attribute> {
    vec![
        Attribute::Token(true),
        Attribute::ValueLen(32.into()),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
    ]
}

/// The other processes of the multi-process tests; `KMS_PKCS11_TEST_KMS_CHILD` names the
/// scenario.
#[test]
#[ignore = "a subprocess entry point: the multi-process tests of this binary run it with --ignored"]
fn kms_child() {
    let scenario = std::env::var(CHILD).expect("run by a test of this binary");
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is set by the parent"));
    let pkcs11 = child_library();
    match scenario.as_str() {
        // Find a rotating key, wait for the parent's go, and use it.
        "rotate" => {
            let s = child_session(&pkcs11, &var(CHILD_TOKEN), false);
            let key = child_key(&s, &var(CHILD_KEY));
            let sync = PathBuf::from(var(CHILD_SYNC));
            let index = var(CHILD_INDEX);
            std::fs::write(sync.join(format!("ready-{index}")), b"").unwrap();
            let deadline = Instant::now() + Duration::from_secs(60);
            while !sync.join("go").exists() {
                assert!(Instant::now() < deadline, "no go from the parent");
                std::thread::sleep(Duration::from_millis(1));
            }
            let mut iv = IV;
            let params = GcmParams::new(&mut iv, AAD, 128.into()).unwrap();
            let ct = s.encrypt(&Mechanism::AesGcm(params), key, format!("child {index}").as_bytes()).unwrap();
            say("index", &index);
            say("ciphertext", hex::encode(ct));
            say("primary", child_text(&s, key, CKA_KMS_PRIMARY_VERSION_ID));
        }
        "set_state" => {
            let s = child_session(&pkcs11, &var(CHILD_TOKEN), false);
            let key = child_key(&s, &var(CHILD_KEY));
            s.update_attributes(key, &[vendor(CKA_KMS_KEY_STATE, var(CHILD_STATE).as_bytes())]).unwrap();
            say("state", child_text(&s, key, CKA_KMS_KEY_STATE));
        }
        "immediate" => child_immediate(&pkcs11),
        "throttle_wait" => {
            let s = child_session(&pkcs11, "t00", true);
            let start = Instant::now();
            for i in 0..20 {
                s.generate_key(&Mechanism::AesKeyGen, &child_aes_template())
                    .unwrap_or_else(|e| panic!("creation {i}: {e}"));
            }
            say("elapsed_ms", start.elapsed().as_millis());
            say("created", s.find_objects(&[Attribute::Token(true)]).unwrap().len());
        }
        "throttle_fail" => child_throttle_fail(&pkcs11),
        other => panic!("unknown child scenario {other}"),
    }
}

/// `[kms] destroy = "immediate"`: C_DestroyObject deletes a managed key at once.
fn child_immediate(pkcs11: &Pkcs11) {
    let s = child_session(pkcs11, "t00", true);
    let key = s.generate_key(&Mechanism::AesKeyGen, &child_aes_template()).unwrap();
    let key_id = child_text(&s, key, CKA_KMS_KEY_ID);
    s.destroy_object(key).unwrap();
    assert_eq!(ckr(s.get_attributes(key, &[AttributeType::Label])), CKR_OBJECT_HANDLE_INVALID);
    let versions = [vendor(CKA_KMS_KEY_ID, key_id.as_bytes()), vendor(CKA_KMS_IS_VERSION, &[1])];
    assert!(s.find_objects(&versions).unwrap().is_empty(), "versions purged");
    assert!(s.find_objects(&[]).unwrap().is_empty());

    // Deletion protection still holds.
    let mut t = child_aes_template();
    t.push(vendor(CKA_KMS_DELETION_PROTECTION, &[1]));
    let protected = s.generate_key(&Mechanism::AesKeyGen, &t).unwrap();
    assert_eq!(ckr(s.destroy_object(protected)), CKR_ACTION_PROHIBITED);
    assert_eq!(last_error(), "Forbidden.DeletionProtected");
    assert_eq!(child_text(&s, protected, CKA_KMS_KEY_STATE), "Enabled");

    // A pair goes whole when its private half is destroyed.
    let (public, private) = s
        .generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[Attribute::Token(true), Attribute::EcParams(h(P256)), Attribute::Verify(true)],
            &[Attribute::Token(true), Attribute::Sign(true)],
        )
        .unwrap();
    s.destroy_object(private).unwrap();
    assert_eq!(ckr(s.get_attributes(public, &[AttributeType::Label])), CKR_OBJECT_HANDLE_INVALID);
    assert_eq!(s.find_objects(&[]).unwrap(), [protected]);
    say("done", "yes");
}

/// Rate limits of 5 a second and a 50 ms bound on waiting: a burst gets about the bucket's
/// five through, then `CKR_DEVICE_ERROR` with `Rejected.Throttling`, in each group.
fn child_throttle_fail(pkcs11: &Pkcs11) {
    let s = child_session(pkcs11, "t00", true);
    let list = interface(c"PKCS 11", Some(CK_VERSION { major: 2, minor: 40 }));
    // SAFETY: the 2.40 interface's list is a static `CK_FUNCTION_LIST` of the library.
    let list = unsafe { &*(list as *const CK_FUNCTION_LIST) };
    let burst = |group: &str, call: &mut dyn FnMut() -> CK_RV| {
        let mut ok = 0;
        let start = Instant::now();
        let rv = loop {
            let rv = call();
            if rv != CKR_OK || ok == 20 {
                break rv;
            }
            ok += 1;
        };
        say(&format!("{group}_ok"), ok);
        say(&format!("{group}_ms"), start.elapsed().as_millis());
        say(&format!("{group}_rv"), rv_name(rv));
        say(&format!("{group}_code"), last_error());
    };
    let mut keys = Vec::new();
    let create =
        |keys: &mut Vec<ObjectHandle>| match s.generate_key(&Mechanism::AesKeyGen, &child_aes_template()) {
            Ok(k) => {
                keys.push(k);
                CKR_OK
            }
            Err(e) => ckr::<()>(Err(e)),
        };
    burst("create", &mut || create(&mut keys));
    let key = keys[0];
    // One C_GetAttributeValue call per read (cryptoki's own makes two).
    let read = |ty: CK_ATTRIBUTE_TYPE| {
        let mut buf = [0u8; 64];
        let mut a = CK_ATTRIBUTE { type_: ty, pValue: buf.as_mut_ptr().cast(), ulValueLen: 64 };
        // SAFETY: one attribute with a 64-byte buffer.
        unsafe { list.C_GetAttributeValue.unwrap()(s.handle(), key.handle(), &mut a, 1) }
    };
    burst("read", &mut || read(CKA_KMS_KEY_SPEC));
    burst("write", &mut || ckr(s.update_attributes(key, &[vendor(CKA_KMS_DESCRIPTION, b"d")])));
    burst("crypto", &mut || {
        let mut iv = IV;
        let params = GcmParams::new(&mut iv, AAD, 128.into()).unwrap();
        ckr(s.encrypt(&Mechanism::AesGcm(params), key, b"x"))
    });
    // Destroying a managed key is a write. Once the buckets have refilled, enough keys to
    // destroy past the bucket (not the first, used below).
    std::thread::sleep(Duration::from_millis(1100));
    for _ in 0..5 {
        assert_rv(create(&mut keys), CKR_OK, "creation after the refill");
    }
    let mut victims = keys[1..].to_vec();
    burst("destroy", &mut || ckr(s.destroy_object(victims.pop().expect("a key to destroy"))));
    // What is no KMS request is not counted: standard attributes, session keys.
    let session_key =
        s.generate_key(&Mechanism::AesKeyGen, &[Attribute::ValueLen(32.into()), Attribute::Encrypt(true)]);
    let session_key = session_key.unwrap();
    let free = (0..20)
        .all(|_| read(CKA_LABEL) == CKR_OK && s.encrypt(&Mechanism::AesEcb, session_key, &[0; 16]).is_ok());
    say("unthrottled", if free { "yes" } else { "no" });
}
