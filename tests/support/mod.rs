//! Helpers of the function-group tests (`encrypt`, `digest`, `sign`, `keys`, `stress`), on top
//! of the harness in `tests/common`:
//!
//! * sessions on shared tokens, for tests that neither log out nor need a fresh token;
//! * return-code checks that print `CKR_*` names;
//! * key objects made through `cryptoki`;
//! * [`Mech`] and raw calls through the C function list, for what `cryptoki` cannot express
//!   (mechanisms it lacks, null pointers, short buffers, size queries, odd lengths).
//!
//! Every raw call goes through the `CK_FUNCTION_LIST` of the loaded library.

#![allow(dead_code)]

use crate::common;
use cryptoki::error::{Error, Rv};
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
pub use cryptoki_sys::*;
use std::marker::PhantomData;
use std::ptr::{null, null_mut};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

// --- Sessions --------------------------------------------------------------------------------

/// Tokens shared by the tests of a binary that keep the user logged in and need no fresh token.
/// Tests that log out, use read-only sessions or search a token take a token of their own
/// (`t00`..`t27`) with `common::user_session`.
pub const SHARED_TOKENS: [&str; 4] = ["t28", "t29", "t30", "t31"];

/// A read-write session, logged in as the user, on one of the shared tokens (round robin). The
/// token is initialized once per test binary; the user stays logged in while any session of the
/// token is open.
pub fn session() -> Session {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    static READY: [OnceLock<()>; SHARED_TOKENS.len()] = [const { OnceLock::new() }; SHARED_TOKENS.len()];
    let i = NEXT.fetch_add(1, Ordering::Relaxed) % SHARED_TOKENS.len();
    READY[i].get_or_init(|| {
        common::fresh_token(SHARED_TOKENS[i]);
    });
    let s = common::pkcs11().open_rw_session(common::slot(SHARED_TOKENS[i])).expect("open session");
    login_user(&s);
    s
}

/// Logs the user in; another session of the token may have done it already.
pub fn login_user(s: &Session) {
    let rv = ckr(s.login(UserType::User, Some(&AuthPin::new(common::USER_PIN.into()))));
    assert!(rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN, "user login: {}", rv_name(rv));
}

/// The raw handle of a session.
pub fn sh(s: &Session) -> CK_SESSION_HANDLE {
    common::raw_handle(s)
}

/// An object handle from a raw value (also one that names no object, for negative tests).
pub fn obj(handle: CK_OBJECT_HANDLE) -> ObjectHandle {
    // SAFETY: a handle is a number; the library checks it on every use.
    unsafe { ObjectHandle::new_from_raw(handle) }
}

/// The raw handle of an object.
pub fn oh(o: ObjectHandle) -> CK_OBJECT_HANDLE {
    o.handle()
}

// --- Return codes ----------------------------------------------------------------------------

/// The `CK_RV` of a `cryptoki` result: `CKR_OK` on success.
pub fn ckr<T>(r: cryptoki::error::Result<T>) -> CK_RV {
    match r {
        Ok(_) => CKR_OK,
        Err(Error::Pkcs11(e, _)) => {
            (0..0x400).find(|c| Rv::from(*c) == Rv::Error(e)).unwrap_or_else(|| panic!("unmapped {e:?}"))
        }
        Err(e) => panic!("not a PKCS#11 error: {e}"),
    }
}

/// The `CK_RV` of a raw result.
pub fn rv_of<T>(r: &Result<T, CK_RV>) -> CK_RV {
    match r {
        Ok(_) => CKR_OK,
        Err(rv) => *rv,
    }
}

/// Asserts a return code, naming both codes on failure.
#[track_caller]
pub fn assert_rv(got: CK_RV, want: CK_RV, what: &str) {
    assert!(got == want, "{what}: got {} ({got:#x}), expected {} ({want:#x})", rv_name(got), rv_name(want));
}

/// The `CKR_*` name of the return codes these tests meet.
pub fn rv_name(rv: CK_RV) -> &'static str {
    match rv {
        CKR_OK => "CKR_OK",
        CKR_GENERAL_ERROR => "CKR_GENERAL_ERROR",
        CKR_FUNCTION_FAILED => "CKR_FUNCTION_FAILED",
        CKR_ARGUMENTS_BAD => "CKR_ARGUMENTS_BAD",
        CKR_ATTRIBUTE_READ_ONLY => "CKR_ATTRIBUTE_READ_ONLY",
        CKR_ATTRIBUTE_SENSITIVE => "CKR_ATTRIBUTE_SENSITIVE",
        CKR_ATTRIBUTE_TYPE_INVALID => "CKR_ATTRIBUTE_TYPE_INVALID",
        CKR_ATTRIBUTE_VALUE_INVALID => "CKR_ATTRIBUTE_VALUE_INVALID",
        CKR_ACTION_PROHIBITED => "CKR_ACTION_PROHIBITED",
        CKR_DATA_INVALID => "CKR_DATA_INVALID",
        CKR_DATA_LEN_RANGE => "CKR_DATA_LEN_RANGE",
        CKR_DEVICE_ERROR => "CKR_DEVICE_ERROR",
        CKR_DEVICE_MEMORY => "CKR_DEVICE_MEMORY",
        CKR_TOKEN_RESOURCE_EXCEEDED => "CKR_TOKEN_RESOURCE_EXCEEDED",
        CKR_ENCRYPTED_DATA_INVALID => "CKR_ENCRYPTED_DATA_INVALID",
        CKR_ENCRYPTED_DATA_LEN_RANGE => "CKR_ENCRYPTED_DATA_LEN_RANGE",
        CKR_FUNCTION_NOT_SUPPORTED => "CKR_FUNCTION_NOT_SUPPORTED",
        CKR_KEY_HANDLE_INVALID => "CKR_KEY_HANDLE_INVALID",
        CKR_KEY_SIZE_RANGE => "CKR_KEY_SIZE_RANGE",
        CKR_KEY_TYPE_INCONSISTENT => "CKR_KEY_TYPE_INCONSISTENT",
        CKR_KEY_INDIGESTIBLE => "CKR_KEY_INDIGESTIBLE",
        CKR_KEY_FUNCTION_NOT_PERMITTED => "CKR_KEY_FUNCTION_NOT_PERMITTED",
        CKR_KEY_NOT_WRAPPABLE => "CKR_KEY_NOT_WRAPPABLE",
        CKR_KEY_UNEXTRACTABLE => "CKR_KEY_UNEXTRACTABLE",
        CKR_MECHANISM_INVALID => "CKR_MECHANISM_INVALID",
        CKR_MECHANISM_PARAM_INVALID => "CKR_MECHANISM_PARAM_INVALID",
        CKR_OBJECT_HANDLE_INVALID => "CKR_OBJECT_HANDLE_INVALID",
        CKR_OPERATION_ACTIVE => "CKR_OPERATION_ACTIVE",
        CKR_OPERATION_NOT_INITIALIZED => "CKR_OPERATION_NOT_INITIALIZED",
        CKR_SESSION_HANDLE_INVALID => "CKR_SESSION_HANDLE_INVALID",
        CKR_SESSION_READ_ONLY => "CKR_SESSION_READ_ONLY",
        CKR_SIGNATURE_INVALID => "CKR_SIGNATURE_INVALID",
        CKR_SIGNATURE_LEN_RANGE => "CKR_SIGNATURE_LEN_RANGE",
        CKR_TEMPLATE_INCOMPLETE => "CKR_TEMPLATE_INCOMPLETE",
        CKR_TEMPLATE_INCONSISTENT => "CKR_TEMPLATE_INCONSISTENT",
        CKR_UNWRAPPING_KEY_HANDLE_INVALID => "CKR_UNWRAPPING_KEY_HANDLE_INVALID",
        CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT => "CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT",
        CKR_USER_ALREADY_LOGGED_IN => "CKR_USER_ALREADY_LOGGED_IN",
        CKR_USER_NOT_LOGGED_IN => "CKR_USER_NOT_LOGGED_IN",
        CKR_WRAPPED_KEY_INVALID => "CKR_WRAPPED_KEY_INVALID",
        CKR_WRAPPED_KEY_LEN_RANGE => "CKR_WRAPPED_KEY_LEN_RANGE",
        CKR_WRAPPING_KEY_HANDLE_INVALID => "CKR_WRAPPING_KEY_HANDLE_INVALID",
        CKR_WRAPPING_KEY_TYPE_INCONSISTENT => "CKR_WRAPPING_KEY_TYPE_INCONSISTENT",
        CKR_DOMAIN_PARAMS_INVALID => "CKR_DOMAIN_PARAMS_INVALID",
        CKR_CURVE_NOT_SUPPORTED => "CKR_CURVE_NOT_SUPPORTED",
        CKR_BUFFER_TOO_SMALL => "CKR_BUFFER_TOO_SMALL",
        CKR_CRYPTOKI_NOT_INITIALIZED => "CKR_CRYPTOKI_NOT_INITIALIZED",
        _ => "CKR_(other)",
    }
}

/// Mismatches collected over a table of known answers, reported together at the end so that one
/// failure does not hide the others.
#[derive(Default)]
pub struct Mismatches(Vec<String>);

impl Mismatches {
    pub fn new() -> Mismatches {
        Mismatches::default()
    }

    /// Records `what` when `got` differs from `want`.
    pub fn check<T: PartialEq + std::fmt::Debug>(&mut self, got: T, want: T, what: impl std::fmt::Display) {
        if got != want {
            self.0.push(format!("{what}: got {got:?}, expected {want:?}"));
        }
    }

    /// Records `what` when an output (bytes or a return code) differs from the one expected.
    pub fn check_out(
        &mut self,
        got: Result<Vec<u8>, CK_RV>,
        want: Result<Vec<u8>, CK_RV>,
        what: impl std::fmt::Display,
    ) {
        if got != want {
            self.0.push(format!("{what}: got {}, expected {}", show(&got), show(&want)));
        }
    }

    /// Records `what` when a return code differs from the one expected.
    pub fn check_rv(&mut self, got: CK_RV, want: CK_RV, what: impl std::fmt::Display) {
        if got != want {
            self.0.push(format!("{what}: got {}, expected {}", rv_name(got), rv_name(want)));
        }
    }

    /// Records `what` when `ok` is false.
    pub fn expect(&mut self, ok: bool, what: impl std::fmt::Display) {
        if !ok {
            self.0.push(what.to_string());
        }
    }

    /// Fails the test if anything was recorded; `total` is the number of cases examined.
    #[track_caller]
    pub fn assert_none(self, total: usize) {
        assert!(self.0.is_empty(), "{} of {total} cases failed:\n{}", self.0.len(), self.0.join("\n"));
    }
}

/// An output or a return code, for messages.
pub fn show(r: &Result<Vec<u8>, CK_RV>) -> String {
    match r {
        Ok(v) => format!("Ok({})", hex::encode(v)),
        Err(rv) => rv_name(*rv).to_string(),
    }
}

// --- Data ------------------------------------------------------------------------------------

/// Bytes from hex; spaces are ignored.
pub fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace([' ', '\n'], "")).expect("hex")
}

/// `n` bytes of a fixed pattern.
pub fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

/// A big-endian unsigned integer without leading zero bytes (Wycheproof prints integers as
/// signed, with a leading zero when the top bit is set).
pub fn unsigned(v: &[u8]) -> Vec<u8> {
    let start = v.iter().position(|b| *b != 0).unwrap_or(v.len().saturating_sub(1));
    v[start..].to_vec()
}

/// The DER `DigestInfo` prefix of a hash mechanism (RFC 8017 §9.2 note 1).
pub fn digest_info_prefix(hash: CK_MECHANISM_TYPE) -> Vec<u8> {
    h(match hash {
        CKM_SHA_1 => "3021300906052b0e03021a05000414",
        CKM_SHA224 => "302d300d06096086480165030402040500041c",
        CKM_SHA256 => "3031300d060960864801650304020105000420",
        CKM_SHA384 => "3041300d060960864801650304020205000430",
        CKM_SHA512 => "3051300d060960864801650304020305000440",
        _ => panic!("no DigestInfo for {hash:#x}"),
    })
}

/// The five SHA mechanisms with their MGF1 and HMAC counterparts and output length.
pub const HASHES: [(CK_MECHANISM_TYPE, CK_RSA_PKCS_MGF_TYPE, usize); 5] = [
    (CKM_SHA_1, CKG_MGF1_SHA1, 20),
    (CKM_SHA224, CKG_MGF1_SHA224, 28),
    (CKM_SHA256, CKG_MGF1_SHA256, 32),
    (CKM_SHA384, CKG_MGF1_SHA384, 48),
    (CKM_SHA512, CKG_MGF1_SHA512, 64),
];

/// DER `ECParameters` (namedCurve OIDs) of the curves the library serves.
pub const P256: &str = "06082a8648ce3d030107";
pub const P384: &str = "06052b81040022";
pub const SECP256K1: &str = "06052b8104000a";

/// Field length in bytes of a curve given by its DER OID.
pub fn field_len(curve: &str) -> usize {
    match curve {
        P256 | SECP256K1 => 32,
        P384 => 48,
        _ => panic!("unknown curve"),
    }
}

/// A DER OCTET STRING holding `content` (short or one-byte long form: up to 255 bytes).
pub fn der_octet_string(content: &[u8]) -> Vec<u8> {
    let mut v = vec![0x04];
    if content.len() < 0x80 {
        v.push(content.len() as u8);
    } else {
        assert!(content.len() < 0x100);
        v.extend([0x81, content.len() as u8]);
    }
    v.extend_from_slice(content);
    v
}

// --- Key objects -----------------------------------------------------------------------------

/// Usage flags a test key gets unless the test overrides them.
fn usages() -> Vec<Attribute> {
    vec![
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
        Attribute::Sign(true),
        Attribute::Verify(true),
        Attribute::Wrap(true),
        Attribute::Unwrap(true),
    ]
}

/// Replaces attributes of `base` by those of the same type in `extra`, and appends the rest.
pub fn merge(mut base: Vec<Attribute>, extra: &[Attribute]) -> Vec<Attribute> {
    for a in extra {
        base.retain(|b| b.attribute_type() != a.attribute_type());
        base.push(a.clone());
    }
    base
}

/// Imports a secret key of type `kt` as a session object with every usage flag set.
pub fn secret_key(s: &Session, kt: KeyType, value: &[u8], extra: &[Attribute]) -> ObjectHandle {
    let mut t = vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(kt),
        Attribute::Value(value.to_vec()),
    ];
    t.extend(usages());
    s.create_object(&merge(t, extra)).expect("C_CreateObject (secret key)")
}

pub fn aes_key(s: &Session, value: &[u8]) -> ObjectHandle {
    secret_key(s, KeyType::AES, value, &[])
}

/// A freshly generated AES key of `len` bytes, every usage flag set.
pub fn gen_aes(s: &Session, len: u64, extra: &[Attribute]) -> ObjectHandle {
    let mut t = vec![Attribute::ValueLen(len.into())];
    t.extend(usages());
    s.generate_key(&cryptoki::mechanism::Mechanism::AesKeyGen, &merge(t, extra)).expect("C_GenerateKey (AES)")
}

/// A generated RSA key pair with every usage flag set.
pub fn rsa_pair(s: &Session, bits: u64, private_extra: &[Attribute]) -> (ObjectHandle, ObjectHandle) {
    let public = vec![
        Attribute::ModulusBits(bits.into()),
        Attribute::PublicExponent(vec![1, 0, 1]),
        Attribute::Encrypt(true),
        Attribute::Verify(true),
        Attribute::Wrap(true),
    ];
    let private =
        merge(vec![Attribute::Decrypt(true), Attribute::Sign(true), Attribute::Unwrap(true)], private_extra);
    s.generate_key_pair(&cryptoki::mechanism::Mechanism::RsaPkcsKeyPairGen, &public, &private)
        .expect("C_GenerateKeyPair (RSA)")
}

/// A generated EC key pair on the curve given by its DER OID, with sign, verify and derive.
pub fn ec_pair(s: &Session, curve: &str, private_extra: &[Attribute]) -> (ObjectHandle, ObjectHandle) {
    let public = vec![Attribute::EcParams(h(curve)), Attribute::Verify(true)];
    let private = merge(vec![Attribute::Sign(true), Attribute::Derive(true)], private_extra);
    s.generate_key_pair(&cryptoki::mechanism::Mechanism::EccKeyPairGen, &public, &private)
        .expect("C_GenerateKeyPair (EC)")
}

/// Imports an RSA public key (modulus and exponent, big-endian).
pub fn rsa_public(s: &Session, n: &[u8], e: &[u8]) -> cryptoki::error::Result<ObjectHandle> {
    s.create_object(&[
        Attribute::Class(ObjectClass::PUBLIC_KEY),
        Attribute::KeyType(KeyType::RSA),
        Attribute::Modulus(unsigned(n)),
        Attribute::PublicExponent(unsigned(e)),
        Attribute::Verify(true),
        Attribute::Encrypt(true),
    ])
}

/// The parts of an RSA private key, big-endian.
pub struct RsaParts<'a> {
    pub n: &'a [u8],
    pub e: &'a [u8],
    pub d: &'a [u8],
    pub p: &'a [u8],
    pub q: &'a [u8],
    pub dp: &'a [u8],
    pub dq: &'a [u8],
    pub qinv: &'a [u8],
}

/// Imports an RSA private key with all its CRT parts.
pub fn rsa_private(s: &Session, k: &RsaParts<'_>) -> cryptoki::error::Result<ObjectHandle> {
    s.create_object(&[
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::KeyType(KeyType::RSA),
        Attribute::Modulus(unsigned(k.n)),
        Attribute::PublicExponent(unsigned(k.e)),
        Attribute::PrivateExponent(unsigned(k.d)),
        Attribute::Prime1(unsigned(k.p)),
        Attribute::Prime2(unsigned(k.q)),
        Attribute::Exponent1(unsigned(k.dp)),
        Attribute::Exponent2(unsigned(k.dq)),
        Attribute::Coefficient(unsigned(k.qinv)),
        Attribute::Decrypt(true),
        Attribute::Sign(true),
    ])
}

/// Imports an EC public key: `curve` a DER OID, `point` the uncompressed point (04 || X || Y),
/// stored DER-encoded in CKA_EC_POINT as PKCS#11 requires.
pub fn ec_public(s: &Session, curve: &str, point: &[u8]) -> cryptoki::error::Result<ObjectHandle> {
    s.create_object(&[
        Attribute::Class(ObjectClass::PUBLIC_KEY),
        Attribute::KeyType(KeyType::EC),
        Attribute::EcParams(h(curve)),
        Attribute::EcPoint(der_octet_string(point)),
        Attribute::Verify(true),
    ])
}

/// One attribute through raw `C_GetAttributeValue` (size query, then value).
pub fn attr(s: &Session, o: ObjectHandle, ty: CK_ATTRIBUTE_TYPE) -> Result<Vec<u8>, CK_RV> {
    let f = f().C_GetAttributeValue.unwrap();
    let mut a = CK_ATTRIBUTE { type_: ty, pValue: null_mut(), ulValueLen: 0 };
    // SAFETY: one attribute with a null value pointer: the library writes the length only.
    let rv = unsafe { f(sh(s), oh(o), &mut a, 1) };
    if rv != CKR_OK {
        return Err(rv);
    }
    let mut buf = vec![0u8; a.ulValueLen as usize];
    a.pValue = buf.as_mut_ptr().cast();
    // SAFETY: the value buffer holds ulValueLen bytes.
    let rv = unsafe { f(sh(s), oh(o), &mut a, 1) };
    if rv != CKR_OK {
        return Err(rv);
    }
    buf.truncate(a.ulValueLen as usize);
    Ok(buf)
}

/// A CK_ULONG attribute value.
pub fn ulong_attr(s: &Session, o: ObjectHandle, ty: CK_ATTRIBUTE_TYPE) -> CK_ULONG {
    let v = attr(s, o, ty).unwrap_or_else(|rv| panic!("attribute {ty:#x}: {}", rv_name(rv)));
    CK_ULONG::from_ne_bytes(v.try_into().expect("CK_ULONG attribute"))
}

/// A CK_BBOOL attribute value.
pub fn bool_attr(s: &Session, o: ObjectHandle, ty: CK_ATTRIBUTE_TYPE) -> bool {
    let v = attr(s, o, ty).unwrap_or_else(|rv| panic!("attribute {ty:#x}: {}", rv_name(rv)));
    assert_eq!(v.len(), 1, "CK_BBOOL attribute {ty:#x}");
    v[0] != 0
}

// --- Raw mechanisms --------------------------------------------------------------------------

/// A mechanism for raw calls: the type and the bytes of its parameter structure. Structures
/// that point at caller memory (GCM, OAEP, ECDH) borrow it for `'a`.
#[derive(Clone)]
pub struct Mech<'a> {
    pub ty: CK_MECHANISM_TYPE,
    param: Vec<u8>,
    /// Overrides `ulParameterLen`, to send a parameter of the wrong size.
    len_override: Option<CK_ULONG>,
    _borrow: PhantomData<&'a [u8]>,
}

impl<'a> Mech<'a> {
    /// A mechanism without parameter.
    pub fn new(ty: CK_MECHANISM_TYPE) -> Mech<'a> {
        Mech { ty, param: Vec::new(), len_override: None, _borrow: PhantomData }
    }

    /// A mechanism whose parameter is a byte string (an IV).
    pub fn bytes(ty: CK_MECHANISM_TYPE, param: &[u8]) -> Mech<'a> {
        Mech { param: param.to_vec(), ..Mech::new(ty) }
    }

    /// A mechanism whose parameter is the C structure `p`, copied.
    pub fn with<T: Copy>(ty: CK_MECHANISM_TYPE, p: &T) -> Mech<'a> {
        // SAFETY: `p` is a plain repr(C) structure of CK_ULONGs, pointers and bytes without
        // padding; its bytes are all initialized.
        let bytes = unsafe { std::slice::from_raw_parts((p as *const T).cast::<u8>(), size_of::<T>()) };
        Mech::bytes(ty, bytes)
    }

    /// `CK_GCM_PARAMS` (3.0 layout, with `ulIvBits`).
    pub fn gcm(iv: &'a [u8], aad: &'a [u8], tag_bits: CK_ULONG) -> Mech<'a> {
        let p = CK_GCM_PARAMS {
            pIv: iv.as_ptr().cast_mut(),
            ulIvLen: iv.len() as CK_ULONG,
            ulIvBits: (iv.len() * 8) as CK_ULONG,
            pAAD: aad.as_ptr().cast_mut(),
            ulAADLen: aad.len() as CK_ULONG,
            ulTagBits: tag_bits,
        };
        Mech::with(CKM_AES_GCM, &p)
    }

    /// `CK_AES_CTR_PARAMS`.
    pub fn ctr(counter_bits: CK_ULONG, counter_block: [u8; 16]) -> Mech<'a> {
        Mech::with(CKM_AES_CTR, &CK_AES_CTR_PARAMS { ulCounterBits: counter_bits, cb: counter_block })
    }

    /// `CK_RSA_PKCS_OAEP_PARAMS` with a label (`CKZ_DATA_SPECIFIED`).
    pub fn oaep(hash: CK_MECHANISM_TYPE, mgf: CK_RSA_PKCS_MGF_TYPE, label: &'a [u8]) -> Mech<'a> {
        let p = CK_RSA_PKCS_OAEP_PARAMS {
            hashAlg: hash,
            mgf,
            source: CKZ_DATA_SPECIFIED,
            pSourceData: if label.is_empty() { null_mut() } else { label.as_ptr().cast_mut().cast() },
            ulSourceDataLen: label.len() as CK_ULONG,
        };
        Mech::with(CKM_RSA_PKCS_OAEP, &p)
    }

    /// `CK_RSA_PKCS_PSS_PARAMS`.
    pub fn pss(
        ty: CK_MECHANISM_TYPE,
        hash: CK_MECHANISM_TYPE,
        mgf: CK_RSA_PKCS_MGF_TYPE,
        salt: CK_ULONG,
    ) -> Mech<'a> {
        Mech::with(ty, &CK_RSA_PKCS_PSS_PARAMS { hashAlg: hash, mgf, sLen: salt })
    }

    /// `CK_MAC_GENERAL_PARAMS` (and other single-CK_ULONG parameters).
    pub fn ulong(ty: CK_MECHANISM_TYPE, n: CK_ULONG) -> Mech<'a> {
        Mech::with(ty, &n)
    }

    /// `CK_ECDH1_DERIVE_PARAMS`.
    pub fn ecdh(kdf: CK_EC_KDF_TYPE, shared: &'a [u8], public: &'a [u8]) -> Mech<'a> {
        let p = CK_ECDH1_DERIVE_PARAMS {
            kdf,
            ulSharedDataLen: shared.len() as CK_ULONG,
            pSharedData: if shared.is_empty() { null_mut() } else { shared.as_ptr().cast_mut() },
            ulPublicDataLen: public.len() as CK_ULONG,
            pPublicData: public.as_ptr().cast_mut(),
        };
        Mech::with(CKM_ECDH1_DERIVE, &p)
    }

    /// The same parameter under another mechanism type (`CKM_SM4_GCM` takes `CK_GCM_PARAMS`).
    pub fn retyped(mut self, ty: CK_MECHANISM_TYPE) -> Mech<'a> {
        self.ty = ty;
        self
    }

    /// The same mechanism with `ulParameterLen` set to `len` (the parameter bytes unchanged).
    pub fn with_len(mut self, len: CK_ULONG) -> Mech<'a> {
        self.len_override = Some(len);
        self
    }

    /// The C structure; it points into `self`.
    pub fn ck(&self) -> CK_MECHANISM {
        CK_MECHANISM {
            mechanism: self.ty,
            pParameter: if self.param.is_empty() {
                null_mut()
            } else {
                self.param.as_ptr().cast_mut().cast()
            },
            ulParameterLen: self.len_override.unwrap_or(self.param.len() as CK_ULONG),
        }
    }
}

// --- Raw calls -------------------------------------------------------------------------------

/// The function list of the library under test.
pub fn f() -> &'static CK_FUNCTION_LIST {
    common::raw()
}

/// Runs an output call twice, as the spec's convention has it: with a null buffer for the
/// length, then with a buffer of that length.
pub fn two_calls(mut call: impl FnMut(*mut u8, *mut CK_ULONG) -> CK_RV) -> Result<Vec<u8>, CK_RV> {
    let mut len: CK_ULONG = 0;
    let rv = call(null_mut(), &mut len);
    if rv != CKR_OK {
        return Err(rv);
    }
    let mut buf = vec![0u8; len as usize];
    let rv = call(buf.as_mut_ptr(), &mut len);
    if rv != CKR_OK {
        return Err(rv);
    }
    assert!(len as usize <= buf.len(), "output longer than the length the size query reported");
    buf.truncate(len as usize);
    Ok(buf)
}

fn ok(rv: CK_RV) -> Result<(), CK_RV> {
    if rv == CKR_OK { Ok(()) } else { Err(rv) }
}

fn ptr(data: &[u8]) -> *mut u8 {
    if data.is_empty() { null_mut() } else { data.as_ptr().cast_mut() }
}

type InitFn = unsafe extern "C" fn(CK_SESSION_HANDLE, *mut CK_MECHANISM, CK_OBJECT_HANDLE) -> CK_RV;
type InOutFn = unsafe extern "C" fn(CK_SESSION_HANDLE, *mut u8, CK_ULONG, *mut u8, *mut CK_ULONG) -> CK_RV;
type OutFn = unsafe extern "C" fn(CK_SESSION_HANDLE, *mut u8, *mut CK_ULONG) -> CK_RV;
type InFn = unsafe extern "C" fn(CK_SESSION_HANDLE, *mut u8, CK_ULONG) -> CK_RV;

fn init(fun: Option<InitFn>, s: &Session, m: &Mech<'_>, key: ObjectHandle) -> CK_RV {
    let mut ck = m.ck();
    // SAFETY: the mechanism and the memory it points to live for the call.
    unsafe { fun.unwrap()(sh(s), &mut ck, oh(key)) }
}

fn in_out(fun: Option<InOutFn>, s: &Session, data: &[u8]) -> Result<Vec<u8>, CK_RV> {
    // SAFETY: `data` is readable for its length; `two_calls` hands valid output buffers.
    two_calls(|out, len| unsafe { fun.unwrap()(sh(s), ptr(data), data.len() as CK_ULONG, out, len) })
}

fn out_only(fun: Option<OutFn>, s: &Session) -> Result<Vec<u8>, CK_RV> {
    // SAFETY: `two_calls` hands valid output buffers.
    two_calls(|out, len| unsafe { fun.unwrap()(sh(s), out, len) })
}

fn in_only(fun: Option<InFn>, s: &Session, data: &[u8]) -> CK_RV {
    // SAFETY: `data` is readable for its length.
    unsafe { fun.unwrap()(sh(s), ptr(data), data.len() as CK_ULONG) }
}

pub fn encrypt_init(s: &Session, m: &Mech<'_>, key: ObjectHandle) -> CK_RV {
    init(f().C_EncryptInit, s, m, key)
}
pub fn encrypt(s: &Session, data: &[u8]) -> Result<Vec<u8>, CK_RV> {
    in_out(f().C_Encrypt, s, data)
}
pub fn encrypt_update(s: &Session, data: &[u8]) -> Result<Vec<u8>, CK_RV> {
    in_out(f().C_EncryptUpdate, s, data)
}
pub fn encrypt_final(s: &Session) -> Result<Vec<u8>, CK_RV> {
    out_only(f().C_EncryptFinal, s)
}
pub fn decrypt_init(s: &Session, m: &Mech<'_>, key: ObjectHandle) -> CK_RV {
    init(f().C_DecryptInit, s, m, key)
}
pub fn decrypt(s: &Session, data: &[u8]) -> Result<Vec<u8>, CK_RV> {
    in_out(f().C_Decrypt, s, data)
}
pub fn decrypt_update(s: &Session, data: &[u8]) -> Result<Vec<u8>, CK_RV> {
    in_out(f().C_DecryptUpdate, s, data)
}
pub fn decrypt_final(s: &Session) -> Result<Vec<u8>, CK_RV> {
    out_only(f().C_DecryptFinal, s)
}
pub fn sign_init(s: &Session, m: &Mech<'_>, key: ObjectHandle) -> CK_RV {
    init(f().C_SignInit, s, m, key)
}
pub fn sign(s: &Session, data: &[u8]) -> Result<Vec<u8>, CK_RV> {
    in_out(f().C_Sign, s, data)
}
pub fn sign_update(s: &Session, data: &[u8]) -> CK_RV {
    in_only(f().C_SignUpdate, s, data)
}
pub fn sign_final(s: &Session) -> Result<Vec<u8>, CK_RV> {
    out_only(f().C_SignFinal, s)
}
pub fn verify_init(s: &Session, m: &Mech<'_>, key: ObjectHandle) -> CK_RV {
    init(f().C_VerifyInit, s, m, key)
}
pub fn verify(s: &Session, data: &[u8], sig: &[u8]) -> CK_RV {
    // SAFETY: both buffers are readable for their lengths.
    unsafe {
        f().C_Verify.unwrap()(sh(s), ptr(data), data.len() as CK_ULONG, ptr(sig), sig.len() as CK_ULONG)
    }
}
pub fn verify_update(s: &Session, data: &[u8]) -> CK_RV {
    in_only(f().C_VerifyUpdate, s, data)
}
pub fn verify_final(s: &Session, sig: &[u8]) -> CK_RV {
    in_only(f().C_VerifyFinal, s, sig)
}
pub fn digest_init(s: &Session, m: &Mech<'_>) -> CK_RV {
    let mut ck = m.ck();
    // SAFETY: the mechanism lives for the call.
    unsafe { f().C_DigestInit.unwrap()(sh(s), &mut ck) }
}
pub fn digest(s: &Session, data: &[u8]) -> Result<Vec<u8>, CK_RV> {
    in_out(f().C_Digest, s, data)
}
pub fn digest_update(s: &Session, data: &[u8]) -> CK_RV {
    in_only(f().C_DigestUpdate, s, data)
}
pub fn digest_key(s: &Session, key: ObjectHandle) -> CK_RV {
    // SAFETY: plain handles.
    unsafe { f().C_DigestKey.unwrap()(sh(s), oh(key)) }
}
pub fn digest_final(s: &Session) -> Result<Vec<u8>, CK_RV> {
    out_only(f().C_DigestFinal, s)
}

/// Init and single-part encryption; an init failure is returned as the error.
pub fn encrypt_once(s: &Session, m: &Mech<'_>, key: ObjectHandle, data: &[u8]) -> Result<Vec<u8>, CK_RV> {
    ok(encrypt_init(s, m, key))?;
    encrypt(s, data)
}

pub fn decrypt_once(s: &Session, m: &Mech<'_>, key: ObjectHandle, data: &[u8]) -> Result<Vec<u8>, CK_RV> {
    ok(decrypt_init(s, m, key))?;
    decrypt(s, data)
}

/// Init, then updates with `chunk`-byte parts, then final; the outputs concatenated.
pub fn encrypt_parts(
    s: &Session,
    m: &Mech<'_>,
    key: ObjectHandle,
    data: &[u8],
    chunk: usize,
) -> Result<Vec<u8>, CK_RV> {
    ok(encrypt_init(s, m, key))?;
    let mut out = Vec::new();
    for part in data.chunks(chunk) {
        out.extend(encrypt_update(s, part)?);
    }
    out.extend(encrypt_final(s)?);
    Ok(out)
}

pub fn decrypt_parts(
    s: &Session,
    m: &Mech<'_>,
    key: ObjectHandle,
    data: &[u8],
    chunk: usize,
) -> Result<Vec<u8>, CK_RV> {
    ok(decrypt_init(s, m, key))?;
    let mut out = Vec::new();
    for part in data.chunks(chunk) {
        out.extend(decrypt_update(s, part)?);
    }
    out.extend(decrypt_final(s)?);
    Ok(out)
}

pub fn sign_once(s: &Session, m: &Mech<'_>, key: ObjectHandle, data: &[u8]) -> Result<Vec<u8>, CK_RV> {
    ok(sign_init(s, m, key))?;
    sign(s, data)
}

pub fn sign_parts(
    s: &Session,
    m: &Mech<'_>,
    key: ObjectHandle,
    data: &[u8],
    chunk: usize,
) -> Result<Vec<u8>, CK_RV> {
    ok(sign_init(s, m, key))?;
    for part in data.chunks(chunk) {
        ok(sign_update(s, part))?;
    }
    sign_final(s)
}

/// Init and single-part verification: the return code of whichever call failed, or CKR_OK.
pub fn verify_once(s: &Session, m: &Mech<'_>, key: ObjectHandle, data: &[u8], sig: &[u8]) -> CK_RV {
    let rv = verify_init(s, m, key);
    if rv != CKR_OK {
        return rv;
    }
    verify(s, data, sig)
}

pub fn verify_parts(
    s: &Session,
    m: &Mech<'_>,
    key: ObjectHandle,
    data: &[u8],
    sig: &[u8],
    chunk: usize,
) -> CK_RV {
    let rv = verify_init(s, m, key);
    if rv != CKR_OK {
        return rv;
    }
    for part in data.chunks(chunk) {
        let rv = verify_update(s, part);
        if rv != CKR_OK {
            return rv;
        }
    }
    verify_final(s, sig)
}

pub fn digest_once(s: &Session, m: &Mech<'_>, data: &[u8]) -> Result<Vec<u8>, CK_RV> {
    ok(digest_init(s, m))?;
    digest(s, data)
}

/// `C_WrapKey` with the size query.
pub fn wrap_key(
    s: &Session,
    m: &Mech<'_>,
    wrapping: ObjectHandle,
    key: ObjectHandle,
) -> Result<Vec<u8>, CK_RV> {
    let fun = f().C_WrapKey.unwrap();
    let mut ck = m.ck();
    // SAFETY: the mechanism lives for the calls; `two_calls` hands valid output buffers.
    two_calls(|out, len| unsafe { fun(sh(s), &mut ck, oh(wrapping), oh(key), out, len) })
}

/// A template for raw calls: attribute types and their values.
#[derive(Clone, Default)]
pub struct Tpl(Vec<(CK_ATTRIBUTE_TYPE, Vec<u8>)>);

impl Tpl {
    pub fn new() -> Tpl {
        Tpl::default()
    }
    pub fn bytes(mut self, ty: CK_ATTRIBUTE_TYPE, v: &[u8]) -> Tpl {
        self.0.push((ty, v.to_vec()));
        self
    }
    pub fn ulong(self, ty: CK_ATTRIBUTE_TYPE, v: CK_ULONG) -> Tpl {
        self.bytes(ty, &v.to_ne_bytes())
    }
    pub fn bool(self, ty: CK_ATTRIBUTE_TYPE, v: bool) -> Tpl {
        self.bytes(ty, &[u8::from(v)])
    }
    /// This template followed by the attributes of `more`.
    pub fn extend(mut self, more: Tpl) -> Tpl {
        self.0.extend(more.0);
        self
    }
    /// The C array; it points into `self`.
    pub fn ck(&self) -> Vec<CK_ATTRIBUTE> {
        self.0
            .iter()
            .map(|(ty, v)| CK_ATTRIBUTE {
                type_: *ty,
                pValue: ptr(v).cast(),
                ulValueLen: v.len() as CK_ULONG,
            })
            .collect()
    }
}

/// A secret key template for unwrapping and derivation: class, key type, and usage flags.
pub fn secret_tpl(kt: CK_KEY_TYPE) -> Tpl {
    Tpl::new()
        .ulong(CKA_CLASS, CKO_SECRET_KEY)
        .ulong(CKA_KEY_TYPE, kt)
        .bool(CKA_ENCRYPT, true)
        .bool(CKA_DECRYPT, true)
        .bool(CKA_SIGN, true)
        .bool(CKA_VERIFY, true)
}

/// `C_UnwrapKey`.
pub fn unwrap_key(
    s: &Session,
    m: &Mech<'_>,
    unwrapping: ObjectHandle,
    wrapped: &[u8],
    template: &Tpl,
) -> Result<ObjectHandle, CK_RV> {
    let mut ck = m.ck();
    let mut attrs = template.ck();
    let mut key: CK_OBJECT_HANDLE = CK_INVALID_HANDLE;
    // SAFETY: mechanism, wrapped bytes and template live for the call; `key` is writable.
    let rv = unsafe {
        f().C_UnwrapKey.unwrap()(
            sh(s),
            &mut ck,
            oh(unwrapping),
            ptr(wrapped),
            wrapped.len() as CK_ULONG,
            attrs.as_mut_ptr(),
            attrs.len() as CK_ULONG,
            &mut key,
        )
    };
    ok(rv).map(|()| obj(key))
}

/// `C_DeriveKey`.
pub fn derive_key(
    s: &Session,
    m: &Mech<'_>,
    base: ObjectHandle,
    template: &Tpl,
) -> Result<ObjectHandle, CK_RV> {
    let mut ck = m.ck();
    let mut attrs = template.ck();
    let mut key: CK_OBJECT_HANDLE = CK_INVALID_HANDLE;
    // SAFETY: mechanism and template live for the call; `key` is writable.
    let rv = unsafe {
        f().C_DeriveKey.unwrap()(
            sh(s),
            &mut ck,
            oh(base),
            attrs.as_mut_ptr(),
            attrs.len() as CK_ULONG,
            &mut key,
        )
    };
    ok(rv).map(|()| obj(key))
}

/// `C_GenerateKey`.
pub fn generate_key(s: &Session, m: &Mech<'_>, template: &Tpl) -> Result<ObjectHandle, CK_RV> {
    let mut ck = m.ck();
    let mut attrs = template.ck();
    let mut key: CK_OBJECT_HANDLE = CK_INVALID_HANDLE;
    // SAFETY: mechanism and template live for the call; `key` is writable.
    let rv = unsafe {
        f().C_GenerateKey.unwrap()(sh(s), &mut ck, attrs.as_mut_ptr(), attrs.len() as CK_ULONG, &mut key)
    };
    ok(rv).map(|()| obj(key))
}

/// `C_GenerateKeyPair`: (public, private).
pub fn generate_key_pair(
    s: &Session,
    m: &Mech<'_>,
    public: &Tpl,
    private: &Tpl,
) -> Result<(ObjectHandle, ObjectHandle), CK_RV> {
    let mut ck = m.ck();
    let (mut pt, mut st) = (public.ck(), private.ck());
    let (mut hp, mut hs): (CK_OBJECT_HANDLE, CK_OBJECT_HANDLE) = (CK_INVALID_HANDLE, CK_INVALID_HANDLE);
    // SAFETY: mechanism and templates live for the call; the handles are writable.
    let rv = unsafe {
        f().C_GenerateKeyPair.unwrap()(
            sh(s),
            &mut ck,
            pt.as_mut_ptr(),
            pt.len() as CK_ULONG,
            st.as_mut_ptr(),
            st.len() as CK_ULONG,
            &mut hp,
            &mut hs,
        )
    };
    ok(rv).map(|()| (obj(hp), obj(hs)))
}

/// `C_CreateObject`.
pub fn create_object(s: &Session, template: &Tpl) -> Result<ObjectHandle, CK_RV> {
    let mut attrs = template.ck();
    let mut o: CK_OBJECT_HANDLE = CK_INVALID_HANDLE;
    // SAFETY: the template lives for the call; `o` is writable.
    let rv =
        unsafe { f().C_CreateObject.unwrap()(sh(s), attrs.as_mut_ptr(), attrs.len() as CK_ULONG, &mut o) };
    ok(rv).map(|()| obj(o))
}

/// `C_CopyObject`.
pub fn copy_object(s: &Session, o: ObjectHandle, template: &Tpl) -> Result<ObjectHandle, CK_RV> {
    let mut attrs = template.ck();
    let mut copy: CK_OBJECT_HANDLE = CK_INVALID_HANDLE;
    // SAFETY: the template lives for the call; `copy` is writable.
    let rv = unsafe {
        f().C_CopyObject.unwrap()(sh(s), oh(o), attrs.as_mut_ptr(), attrs.len() as CK_ULONG, &mut copy)
    };
    ok(rv).map(|()| obj(copy))
}

/// `C_SetAttributeValue`.
pub fn set_attributes(s: &Session, o: ObjectHandle, template: &Tpl) -> CK_RV {
    let mut attrs = template.ck();
    // SAFETY: the template lives for the call.
    unsafe { f().C_SetAttributeValue.unwrap()(sh(s), oh(o), attrs.as_mut_ptr(), attrs.len() as CK_ULONG) }
}

/// `C_FindObjectsInit`, `C_FindObjects` until the end, `C_FindObjectsFinal`: the handles found.
pub fn find(s: &Session, template: &Tpl) -> Vec<ObjectHandle> {
    let mut attrs = template.ck();
    let l = f();
    // SAFETY: the template lives for the call; the output arrays are writable for their lengths.
    unsafe {
        let rv = l.C_FindObjectsInit.unwrap()(sh(s), attrs.as_mut_ptr(), attrs.len() as CK_ULONG);
        assert_rv(rv, CKR_OK, "C_FindObjectsInit");
        let mut out = Vec::new();
        loop {
            let mut chunk = [CK_INVALID_HANDLE; 64];
            let mut n: CK_ULONG = 0;
            let rv = l.C_FindObjects.unwrap()(sh(s), chunk.as_mut_ptr(), chunk.len() as CK_ULONG, &mut n);
            assert_rv(rv, CKR_OK, "C_FindObjects");
            if n == 0 {
                break;
            }
            out.extend(chunk[..n as usize].iter().map(|h| obj(*h)));
        }
        assert_rv(l.C_FindObjectsFinal.unwrap()(sh(s)), CKR_OK, "C_FindObjectsFinal");
        out
    }
}

/// Null, for raw calls that test pointer checks.
pub fn null_byte() -> *mut u8 {
    null::<u8>().cast_mut()
}
