//! Key management: C_GenerateKey (AES, generic secret), C_GenerateKeyPair (RSA, EC), C_WrapKey
//! and C_UnwrapKey (secret keys with AES KEY_WRAP, KWP, GCM, CBC_PAD and RSA OAEP/PKCS#1;
//! private keys as PKCS#8 with KWP) and C_DeriveKey (ECDH1 with CKD_NULL and the X9.63 KDF):
//! the attributes made, known answers, both parties agreeing, and the spec's return codes for
//! misuse, read-only sessions and sessions not logged in.
//!
//! Spec references are to the PKCS #11 Base Specification 3.0 (§4 objects, §5.2 output
//! convention, §5.14 key management) and the Current Mechanisms Specification 3.0.

mod common;
mod support;

use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectHandle};
use cryptoki::session::Session;
use support::*;

// --- Helpers ---------------------------------------------------------------------------------

const RSA_ENCRYPTION_OID: &str = "06092a864886f70d010101";
const EC_PUBLIC_KEY_OID: &str = "06072a8648ce3d0201";
/// Curves the library does not serve.
const SECP521R1: &str = "06052b81040023";
const BRAINPOOL_P256R1: &str = "06092b2403030208010107";

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The uncompressed point inside a CKA_EC_POINT value (a DER OCTET STRING).
fn point_of(der: &[u8]) -> Vec<u8> {
    assert_eq!(der[0], 0x04, "CKA_EC_POINT is an OCTET STRING");
    let (len, start) = if der[1] == 0x81 { (der[2] as usize, 3) } else { (der[1] as usize, 2) };
    assert_eq!(der.len(), start + len, "OCTET STRING length");
    der[start..].to_vec()
}

/// Encrypts with one key and decrypts with the other: the two hold the same AES value.
fn same_aes_key(s: &Session, a: ObjectHandle, b: ObjectHandle) -> bool {
    let mut iv = [9u8; 12];
    let pt = b"same key on both sides";
    let ct = s.encrypt(&Mechanism::AesGcm(GcmParams::new(&mut iv, b"", 128.into()).unwrap()), a, pt).unwrap();
    decrypt_once(s, &Mech::gcm(&[9; 12], b"", 128), b, &ct).as_deref() == Ok(&pt[..])
}

/// An extractable AES key of `len` bytes, the kind C_WrapKey may wrap.
fn extractable_aes(s: &Session, len: u64) -> ObjectHandle {
    gen_aes(s, len, &[Attribute::Extractable(true)])
}

/// A wrapping key (AES) with every usage flag set.
fn kek(s: &Session, value: &[u8]) -> ObjectHandle {
    aes_key(s, value)
}

fn aes_tpl() -> Tpl {
    secret_tpl(CKK_AES)
}

/// A secret key template whose value may be read back.
fn readable_tpl(kt: CK_KEY_TYPE) -> Tpl {
    secret_tpl(kt).bool(CKA_SENSITIVE, false).bool(CKA_EXTRACTABLE, true)
}

fn raw_wrap(
    s: &Session,
    m: &Mech<'_>,
    wrapping: ObjectHandle,
    key: ObjectHandle,
    out: *mut u8,
    len: &mut CK_ULONG,
) -> CK_RV {
    let mut ck = m.ck();
    // SAFETY: the mechanism lives for the call; `out` is null or writable for `*len` bytes.
    unsafe { f().C_WrapKey.unwrap()(sh(s), &mut ck, oh(wrapping), oh(key), out, len) }
}

/// ECDH between two generated pairs: (A's private, B's private, A's raw point, B's raw point).
fn ecdh_parties(s: &Session, curve: &str) -> (ObjectHandle, ObjectHandle, Vec<u8>, Vec<u8>) {
    let (a_pub, a_priv) = ec_pair(s, curve, &[]);
    let (b_pub, b_priv) = ec_pair(s, curve, &[]);
    let a_point = point_of(&attr(s, a_pub, CKA_EC_POINT).unwrap());
    let b_point = point_of(&attr(s, b_pub, CKA_EC_POINT).unwrap());
    (a_priv, b_priv, a_point, b_point)
}

// --- C_GenerateKey ---------------------------------------------------------------------------

#[test]
fn generated_aes_keys_carry_value_len_and_the_generation_attributes() {
    let s = session();
    for len in [16, 24, 32] {
        let k = gen_aes(&s, len, &[]);
        assert_eq!(ulong_attr(&s, k, CKA_VALUE_LEN), len, "CKA_VALUE_LEN");
        assert_eq!(ulong_attr(&s, k, CKA_KEY_TYPE), CKK_AES);
        assert_eq!(ulong_attr(&s, k, CKA_CLASS), CKO_SECRET_KEY);
        assert!(bool_attr(&s, k, CKA_LOCAL), "CKA_LOCAL");
        assert_eq!(ulong_attr(&s, k, CKA_KEY_GEN_MECHANISM), CKM_AES_KEY_GEN);
        assert!(bool_attr(&s, k, CKA_SENSITIVE) && bool_attr(&s, k, CKA_ALWAYS_SENSITIVE), "sensitive");
        assert!(
            !bool_attr(&s, k, CKA_EXTRACTABLE) && bool_attr(&s, k, CKA_NEVER_EXTRACTABLE),
            "unextractable"
        );
        assert_eq!(attr(&s, k, CKA_VALUE), Err(CKR_ATTRIBUTE_SENSITIVE), "CKA_VALUE of a sensitive key");
        let ct = s.encrypt(&Mechanism::AesEcb, k, &[0; 16]).unwrap();
        assert_eq!(s.decrypt(&Mechanism::AesEcb, k, &ct).unwrap(), vec![0; 16]);
    }
}

#[test]
fn generated_readable_aes_key_value_is_the_key() {
    let s = session();
    for len in [16u64, 24, 32] {
        let k = gen_aes(&s, len, &[Attribute::Sensitive(false), Attribute::Extractable(true)]);
        let value = attr(&s, k, CKA_VALUE).unwrap();
        assert_eq!(value.len() as u64, len);
        let copy = aes_key(&s, &value);
        assert_eq!(
            s.encrypt(&Mechanism::AesEcb, k, &[5; 16]).unwrap(),
            s.encrypt(&Mechanism::AesEcb, copy, &[5; 16]).unwrap(),
            "{len}-byte key"
        );
        let other = gen_aes(&s, len, &[Attribute::Sensitive(false), Attribute::Extractable(true)]);
        assert_ne!(attr(&s, other, CKA_VALUE).unwrap(), value, "two keys, one value");
    }
}

#[test]
fn generated_generic_secret_has_the_asked_length_and_macs_like_its_value() {
    let s = session();
    for len in [1u64, 20, 64, 128] {
        let t = readable_tpl(CKK_GENERIC_SECRET).ulong(CKA_VALUE_LEN, len);
        let k = generate_key(&s, &Mech::new(CKM_GENERIC_SECRET_KEY_GEN), &t).unwrap();
        assert_eq!(ulong_attr(&s, k, CKA_KEY_TYPE), CKK_GENERIC_SECRET);
        assert_eq!(ulong_attr(&s, k, CKA_KEY_GEN_MECHANISM), CKM_GENERIC_SECRET_KEY_GEN);
        let value = attr(&s, k, CKA_VALUE).unwrap();
        assert_eq!(value.len() as u64, len);
        let copy = secret_key(&s, KeyType::GENERIC_SECRET, &value, &[]);
        assert_eq!(
            s.sign(&Mechanism::Sha256Hmac, k, b"data").unwrap(),
            s.sign(&Mechanism::Sha256Hmac, copy, b"data").unwrap(),
            "{len}-byte key"
        );
    }
}

/// Current Mechanisms 3.0 (CKM_AES_KEY_GEN, CKM_GENERIC_SECRET_KEY_GEN): the template must
/// give CKA_VALUE_LEN.
#[test]
fn key_generation_without_value_len_is_template_incomplete() {
    let s = session();
    for ty in [CKM_AES_KEY_GEN, CKM_GENERIC_SECRET_KEY_GEN] {
        assert_eq!(generate_key(&s, &Mech::new(ty), &Tpl::new()), Err(CKR_TEMPLATE_INCOMPLETE), "{ty:#x}");
    }
}

/// Base 3.0 §4.7.2 table footnote 4: CKA_VALUE must not be given to C_GenerateKey.
#[test]
fn key_generation_with_a_value_is_template_inconsistent() {
    let s = session();
    let t = Tpl::new().ulong(CKA_VALUE_LEN, 16).bytes(CKA_VALUE, &[0; 16]);
    assert_eq!(generate_key(&s, &Mech::new(CKM_AES_KEY_GEN), &t), Err(CKR_TEMPLATE_INCONSISTENT));
}

#[test]
fn key_generation_for_another_class_or_key_type_is_template_inconsistent() {
    let s = session();
    let m = Mech::new(CKM_AES_KEY_GEN);
    let base = Tpl::new().ulong(CKA_VALUE_LEN, 16);
    let class = base.clone().ulong(CKA_CLASS, CKO_PRIVATE_KEY);
    let kt = base.ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET);
    assert_eq!(generate_key(&s, &m, &class), Err(CKR_TEMPLATE_INCONSISTENT), "CKO_PRIVATE_KEY");
    assert_eq!(generate_key(&s, &m, &kt), Err(CKR_TEMPLATE_INCONSISTENT), "CKK_GENERIC_SECRET");
}

/// Base 3.0 §4.1.1 (creating objects), rule 2: "If the supplied template specifies an invalid
/// value for a valid attribute, then the attempt should fail with the error code
/// CKR_ATTRIBUTE_VALUE_INVALID". An AES key is 16, 24 or 32 bytes long (Current Mechanisms 3.0,
/// AES secret key objects), and a generic secret at least one byte; C_CreateObject already
/// refuses such values with CKR_ATTRIBUTE_VALUE_INVALID. (CKR_KEY_SIZE_RANGE is about a
/// *supplied* key the token cannot handle.)
#[test]
fn key_generation_with_a_length_the_key_type_cannot_have_is_attribute_value_invalid() {
    let s = session();
    for len in [0, 8, 20, 33] {
        let t = Tpl::new().ulong(CKA_VALUE_LEN, len);
        assert_eq!(
            generate_key(&s, &Mech::new(CKM_AES_KEY_GEN), &t),
            Err(CKR_ATTRIBUTE_VALUE_INVALID),
            "AES, {len} bytes"
        );
    }
    let t = Tpl::new().ulong(CKA_VALUE_LEN, 0);
    let r = generate_key(&s, &Mech::new(CKM_GENERIC_SECRET_KEY_GEN), &t);
    assert_eq!(r, Err(CKR_ATTRIBUTE_VALUE_INVALID), "generic secret, 0 bytes");
    let imported = create_object(
        &s,
        &Tpl::new().ulong(CKA_CLASS, CKO_SECRET_KEY).ulong(CKA_KEY_TYPE, CKK_AES).bytes(CKA_VALUE, &[0; 20]),
    );
    assert_eq!(rv_of(&imported), CKR_ATTRIBUTE_VALUE_INVALID, "C_CreateObject of a 20-byte AES key");
}

#[test]
fn key_generation_mechanism_with_a_parameter_is_mechanism_param_invalid() {
    let s = session();
    let t = Tpl::new().ulong(CKA_VALUE_LEN, 16);
    assert_eq!(
        generate_key(&s, &Mech::bytes(CKM_AES_KEY_GEN, &[1; 4]), &t),
        Err(CKR_MECHANISM_PARAM_INVALID)
    );
}

#[test]
fn mechanisms_that_do_not_generate_are_mechanism_invalid() {
    let s = session();
    let t = Tpl::new().ulong(CKA_VALUE_LEN, 16);
    for ty in [
        CKM_AES_ECB,
        CKM_RSA_PKCS_KEY_PAIR_GEN,
        CKM_EC_KEY_PAIR_GEN,
        CKM_DES3_KEY_GEN,
        CKM_VENDOR_DEFINED | 3,
    ] {
        assert_eq!(generate_key(&s, &Mech::new(ty), &t), Err(CKR_MECHANISM_INVALID), "C_GenerateKey {ty:#x}");
    }
    for ty in [CKM_AES_KEY_GEN, CKM_RSA_PKCS, CKM_ECDSA] {
        let r = generate_key_pair(&s, &Mech::new(ty), &Tpl::new(), &Tpl::new());
        assert_eq!(rv_of(&r), CKR_MECHANISM_INVALID, "C_GenerateKeyPair {ty:#x}");
    }
}

#[test]
fn null_handle_pointers_are_arguments_bad() {
    let s = session();
    let mut ck = Mech::new(CKM_AES_KEY_GEN).ck();
    let len: CK_ULONG = 16;
    let mut tpl = [CK_ATTRIBUTE {
        type_: CKA_VALUE_LEN,
        pValue: (&len as *const CK_ULONG).cast_mut().cast(),
        ulValueLen: 8,
    }];
    // SAFETY: the template and mechanism are valid; the null handle pointer is what is tested.
    let rv =
        unsafe { f().C_GenerateKey.unwrap()(sh(&s), &mut ck, tpl.as_mut_ptr(), 1, std::ptr::null_mut()) };
    assert_rv(rv, CKR_ARGUMENTS_BAD, "C_GenerateKey");
    let mut ck = Mech::new(CKM_EC_KEY_PAIR_GEN).ck();
    let params = h(P256);
    let mut public = [CK_ATTRIBUTE {
        type_: CKA_EC_PARAMS,
        pValue: params.as_ptr().cast_mut().cast(),
        ulValueLen: params.len() as CK_ULONG,
    }];
    let mut handle: CK_OBJECT_HANDLE = 0;
    // SAFETY: as above, for C_GenerateKeyPair's private handle pointer.
    let rv = unsafe {
        f().C_GenerateKeyPair.unwrap()(
            sh(&s),
            &mut ck,
            public.as_mut_ptr(),
            1,
            std::ptr::null_mut(),
            0,
            &mut handle,
            std::ptr::null_mut(),
        )
    };
    assert_rv(rv, CKR_ARGUMENTS_BAD, "C_GenerateKeyPair");
}

// --- C_GenerateKeyPair: RSA ------------------------------------------------------------------

#[test]
fn generated_rsa_pairs_carry_modulus_exponent_and_public_key_info() {
    let s = session();
    for bits in [2048u64, 3072, 4096] {
        let (public, private) = rsa_pair(&s, bits, &[]);
        let n = attr(&s, public, CKA_MODULUS).unwrap();
        assert_eq!(n.len() as u64, bits / 8, "modulus length");
        assert!(n[0] & 0x80 != 0, "a {bits}-bit modulus has its top bit set");
        assert_eq!(ulong_attr(&s, public, CKA_MODULUS_BITS), bits);
        assert_eq!(attr(&s, public, CKA_PUBLIC_EXPONENT).unwrap(), vec![1, 0, 1]);
        assert_eq!(attr(&s, private, CKA_MODULUS).unwrap(), n, "the private key's modulus");
        assert_eq!(attr(&s, private, CKA_PUBLIC_EXPONENT).unwrap(), vec![1, 0, 1]);
        let spki = attr(&s, public, CKA_PUBLIC_KEY_INFO).unwrap();
        assert_eq!(spki[0], 0x30, "SubjectPublicKeyInfo is a SEQUENCE");
        assert!(contains(&spki, &h(RSA_ENCRYPTION_OID)), "rsaEncryption");
        assert!(contains(&spki, &n), "the modulus");
        assert!(spki.ends_with(&h("0203010001")), "the exponent last");
        assert_eq!(
            attr(&s, private, CKA_PUBLIC_KEY_INFO).unwrap(),
            spki,
            "the private key's CKA_PUBLIC_KEY_INFO"
        );
        for (o, what) in [(public, "public"), (private, "private")] {
            assert_eq!(ulong_attr(&s, o, CKA_KEY_TYPE), CKK_RSA, "{what}");
            assert!(bool_attr(&s, o, CKA_LOCAL), "{what} CKA_LOCAL");
            assert_eq!(ulong_attr(&s, o, CKA_KEY_GEN_MECHANISM), CKM_RSA_PKCS_KEY_PAIR_GEN, "{what}");
        }
        for ty in [CKA_PRIVATE_EXPONENT, CKA_PRIME_1, CKA_PRIME_2, CKA_COEFFICIENT] {
            assert_eq!(attr(&s, private, ty), Err(CKR_ATTRIBUTE_SENSITIVE), "{ty:#x}");
        }
        let sig = s.sign(&Mechanism::Sha256RsaPkcs, private, b"m").unwrap();
        s.verify(&Mechanism::Sha256RsaPkcs, public, b"m", &sig).unwrap();
    }
}

#[test]
fn rsa_generation_without_modulus_bits_is_template_incomplete() {
    let s = session();
    let r = generate_key_pair(&s, &Mech::new(CKM_RSA_PKCS_KEY_PAIR_GEN), &Tpl::new(), &Tpl::new());
    assert_eq!(rv_of(&r), CKR_TEMPLATE_INCOMPLETE);
}

#[test]
fn pair_templates_for_another_class_are_template_inconsistent() {
    let s = session();
    let m = Mech::new(CKM_EC_KEY_PAIR_GEN);
    let public = Tpl::new().bytes(CKA_EC_PARAMS, &h(P256));
    let wrong_public = public.clone().ulong(CKA_CLASS, CKO_PRIVATE_KEY);
    let wrong_private = Tpl::new().ulong(CKA_CLASS, CKO_SECRET_KEY);
    let wrong_type = Tpl::new().ulong(CKA_KEY_TYPE, CKK_RSA);
    assert_eq!(
        rv_of(&generate_key_pair(&s, &m, &wrong_public, &Tpl::new())),
        CKR_TEMPLATE_INCONSISTENT,
        "public"
    );
    assert_eq!(
        rv_of(&generate_key_pair(&s, &m, &public, &wrong_private)),
        CKR_TEMPLATE_INCONSISTENT,
        "private"
    );
    assert_eq!(
        rv_of(&generate_key_pair(&s, &m, &public, &wrong_type)),
        CKR_TEMPLATE_INCONSISTENT,
        "key type"
    );
}

// --- C_GenerateKeyPair: EC -------------------------------------------------------------------

/// Current Mechanisms 3.0 §2.3.3 (EC public key objects): CKA_EC_POINT is the DER encoding of
/// an ANSI X9.62 ECPoint, an OCTET STRING holding the uncompressed point.
#[test]
fn generated_ec_pairs_carry_the_point_as_a_der_octet_string_and_public_key_info() {
    let s = session();
    for curve in [P256, P384, SECP256K1] {
        let (public, private) = ec_pair(&s, curve, &[]);
        let der = attr(&s, public, CKA_EC_POINT).unwrap();
        let point = point_of(&der);
        assert_eq!(point.len(), 1 + 2 * field_len(curve), "{curve}: point length");
        assert_eq!(point[0], 0x04, "{curve}: uncompressed");
        assert_eq!(attr(&s, public, CKA_EC_PARAMS).unwrap(), h(curve), "public CKA_EC_PARAMS");
        assert_eq!(attr(&s, private, CKA_EC_PARAMS).unwrap(), h(curve), "private CKA_EC_PARAMS");
        let spki = attr(&s, public, CKA_PUBLIC_KEY_INFO).unwrap();
        assert_eq!(spki[0], 0x30, "SubjectPublicKeyInfo is a SEQUENCE");
        assert!(contains(&spki, &h(EC_PUBLIC_KEY_OID)), "{curve}: id-ecPublicKey");
        assert!(contains(&spki, &h(curve)), "{curve}: the curve");
        assert!(spki.ends_with(&point), "{curve}: the point last");
        assert_eq!(
            attr(&s, private, CKA_PUBLIC_KEY_INFO).unwrap(),
            spki,
            "{curve}: private CKA_PUBLIC_KEY_INFO"
        );
        assert_eq!(attr(&s, private, CKA_VALUE), Err(CKR_ATTRIBUTE_SENSITIVE), "{curve}: CKA_VALUE");
        for o in [public, private] {
            assert_eq!(ulong_attr(&s, o, CKA_KEY_TYPE), CKK_EC);
            assert!(bool_attr(&s, o, CKA_LOCAL), "{curve}: CKA_LOCAL");
            assert_eq!(ulong_attr(&s, o, CKA_KEY_GEN_MECHANISM), CKM_EC_KEY_PAIR_GEN);
        }
        // The public key made from the point verifies what the private key signs.
        let imported = ec_public(&s, curve, &point).unwrap();
        let sig = s.sign(&Mechanism::EcdsaSha256, private, b"m").unwrap();
        s.verify(&Mechanism::EcdsaSha256, imported, b"m", &sig).unwrap();
    }
}

#[test]
fn ec_generation_without_ec_params_is_template_incomplete() {
    let s = session();
    let r = generate_key_pair(&s, &Mech::new(CKM_EC_KEY_PAIR_GEN), &Tpl::new(), &Tpl::new());
    assert_eq!(rv_of(&r), CKR_TEMPLATE_INCOMPLETE);
}

/// Base 3.0 §5.1 CKR_CURVE_NOT_SUPPORTED: "the specified curve is not supported by this token".
#[test]
fn ec_generation_on_a_curve_the_token_lacks_is_curve_not_supported() {
    let s = session();
    for curve in [SECP521R1, BRAINPOOL_P256R1] {
        let public = Tpl::new().bytes(CKA_EC_PARAMS, &h(curve));
        let r = generate_key_pair(&s, &Mech::new(CKM_EC_KEY_PAIR_GEN), &public, &Tpl::new());
        assert_eq!(rv_of(&r), CKR_CURVE_NOT_SUPPORTED, "{curve}");
    }
}

// --- Sessions and login ----------------------------------------------------------------------

/// Base 3.0 §5.6 (C_OpenSession) and §4.4: a read-only session cannot create token objects;
/// C_GenerateKey, C_GenerateKeyPair and C_UnwrapKey return CKR_SESSION_READ_ONLY.
#[test]
fn read_only_session_making_a_token_key_is_session_read_only() {
    let rw = common::user_session("t01");
    let wrapping = kek(&rw, &[7; 16]);
    let victim = extractable_aes(&rw, 16);
    let wrapped = wrap_key(&rw, &Mech::new(CKM_AES_KEY_WRAP), wrapping, victim).unwrap();
    let s = common::pkcs11().open_ro_session(common::slot("t01")).unwrap();
    let token_aes = Tpl::new().ulong(CKA_VALUE_LEN, 16).bool(CKA_TOKEN, true);
    assert_eq!(
        generate_key(&s, &Mech::new(CKM_AES_KEY_GEN), &token_aes),
        Err(CKR_SESSION_READ_ONLY),
        "C_GenerateKey"
    );
    let public = Tpl::new().bytes(CKA_EC_PARAMS, &h(P256)).bool(CKA_TOKEN, true);
    let private = Tpl::new().bool(CKA_TOKEN, true);
    let r = generate_key_pair(&s, &Mech::new(CKM_EC_KEY_PAIR_GEN), &public, &private);
    assert_eq!(rv_of(&r), CKR_SESSION_READ_ONLY, "C_GenerateKeyPair");
    let t = aes_tpl().bool(CKA_TOKEN, true);
    assert_eq!(
        unwrap_key(&s, &Mech::new(CKM_AES_KEY_WRAP), wrapping, &wrapped, &t),
        Err(CKR_SESSION_READ_ONLY),
        "C_UnwrapKey"
    );
    // Session objects are fine in a read-only session.
    let session_aes = Tpl::new().ulong(CKA_VALUE_LEN, 16).bool(CKA_TOKEN, false);
    assert_eq!(rv_of(&generate_key(&s, &Mech::new(CKM_AES_KEY_GEN), &session_aes)), CKR_OK, "session key");
}

/// Base 3.0 §4.4: private objects can only be made by a session logged in as the user.
#[test]
fn session_not_logged_in_making_a_private_key_is_user_not_logged_in() {
    common::fresh_token("t02");
    let s = common::pkcs11().open_rw_session(common::slot("t02")).unwrap();
    let private = Tpl::new().ulong(CKA_VALUE_LEN, 16).bool(CKA_PRIVATE, true);
    let default = Tpl::new().ulong(CKA_VALUE_LEN, 16);
    let public = Tpl::new().ulong(CKA_VALUE_LEN, 16).bool(CKA_PRIVATE, false);
    let m = Mech::new(CKM_AES_KEY_GEN);
    assert_eq!(generate_key(&s, &m, &private), Err(CKR_USER_NOT_LOGGED_IN), "CKA_PRIVATE true");
    assert_eq!(
        generate_key(&s, &m, &default),
        Err(CKR_USER_NOT_LOGGED_IN),
        "secret keys are private by default"
    );
    assert_eq!(rv_of(&generate_key(&s, &m, &public)), CKR_OK, "CKA_PRIVATE false");
}

/// Base 3.0 §4.4: a private token object is invisible to sessions after the user logs out, and
/// visible again after the user logs in — under a new handle: 2.40 `C_Logout` says handles to
/// private objects stay invalid even after the user logs back in.
#[test]
fn private_token_key_is_invisible_after_logout() {
    let s = common::user_session("t03");
    let k = gen_aes(&s, 16, &[Attribute::Token(true), Attribute::Label(b"kept".to_vec())]);
    s.logout().unwrap();
    assert_eq!(attr(&s, k, CKA_LABEL), Err(CKR_OBJECT_HANDLE_INVALID), "C_GetAttributeValue");
    assert_rv(encrypt_init(&s, &Mech::new(CKM_AES_ECB), k), CKR_KEY_HANDLE_INVALID, "C_EncryptInit");
    let found = s.find_objects(&[Attribute::Label(b"kept".to_vec())]).unwrap();
    assert!(found.is_empty(), "C_FindObjects found {found:?}");
    login_user(&s);
    let found = s.find_objects(&[Attribute::Label(b"kept".to_vec())]).unwrap();
    assert_eq!(found.len(), 1);
    assert_ne!(found[0], k, "the handle from before the logout stays invalid");
    assert_eq!(attr(&s, found[0], CKA_LABEL), Ok(b"kept".to_vec()));
    assert_eq!(attr(&s, k, CKA_LABEL), Err(CKR_OBJECT_HANDLE_INVALID));
}

// --- C_WrapKey / C_UnwrapKey: secret keys ----------------------------------------------------

/// RFC 3394 §4.1 through C_WrapKey: a 128-bit key wrapped with a 128-bit KEK.
#[test]
fn aes_key_wrap_of_a_key_gives_the_rfc3394_answer_and_unwraps_to_the_same_key() {
    let s = session();
    let wrapping = kek(&s, &h("000102030405060708090a0b0c0d0e0f"));
    let key =
        secret_key(&s, KeyType::AES, &h("00112233445566778899aabbccddeeff"), &[Attribute::Extractable(true)]);
    let m = Mech::new(CKM_AES_KEY_WRAP);
    let wrapped = wrap_key(&s, &m, wrapping, key).unwrap();
    assert_eq!(wrapped, h("1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5"));
    let unwrapped = unwrap_key(&s, &m, wrapping, &wrapped, &aes_tpl()).unwrap();
    assert!(same_aes_key(&s, key, unwrapped));
    assert_eq!(ulong_attr(&s, unwrapped, CKA_VALUE_LEN), 16);
}

/// RFC 5649 §6 through C_WrapKey: a 20-byte generic secret wrapped with KWP.
#[test]
fn aes_kwp_of_a_key_gives_the_rfc5649_answer_and_unwraps_to_the_same_key() {
    let s = session();
    let wrapping = kek(&s, &h("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8"));
    let value = h("c37b7e6492584340bed12207808941155068f738");
    let key = secret_key(&s, KeyType::GENERIC_SECRET, &value, &[Attribute::Extractable(true)]);
    let m = Mech::new(CKM_AES_KEY_WRAP_KWP);
    let wrapped = wrap_key(&s, &m, wrapping, key).unwrap();
    assert_eq!(wrapped, h("138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a"));
    let unwrapped = unwrap_key(&s, &m, wrapping, &wrapped, &readable_tpl(CKK_GENERIC_SECRET)).unwrap();
    assert_eq!(attr(&s, unwrapped, CKA_VALUE), Ok(value));
}

#[test]
fn secret_keys_wrap_and_unwrap_with_every_aes_wrapping_mechanism() {
    let s = session();
    let wrapping = gen_aes(&s, 32, &[]);
    let (iv12, iv16, aad) = ([3u8; 12], [4u8; 16], *b"tde");
    let mechs = [
        Mech::new(CKM_AES_KEY_WRAP),
        Mech::new(CKM_AES_KEY_WRAP_KWP),
        Mech::gcm(&iv12, &aad, 128),
        Mech::bytes(CKM_AES_CBC_PAD, &iv16),
    ];
    for m in &mechs {
        for len in [16, 24, 32] {
            let key = extractable_aes(&s, len);
            let wrapped = wrap_key(&s, m, wrapping, key)
                .unwrap_or_else(|rv| panic!("wrap {:#x}: {}", m.ty, rv_name(rv)));
            let unwrapped = unwrap_key(&s, m, wrapping, &wrapped, &aes_tpl())
                .unwrap_or_else(|rv| panic!("unwrap {:#x}: {}", m.ty, rv_name(rv)));
            assert!(same_aes_key(&s, key, unwrapped), "{:#x}, {len}-byte key", m.ty);
            assert_eq!(ulong_attr(&s, unwrapped, CKA_VALUE_LEN), len, "{:#x}", m.ty);
        }
    }
}

/// Base 3.0 §4.7 (CKA_LOCAL, CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE): an unwrapped key was
/// neither made on the token nor always kept secret.
#[test]
fn unwrapped_key_is_not_local_nor_always_sensitive() {
    let s = session();
    let wrapping = gen_aes(&s, 16, &[]);
    let key = extractable_aes(&s, 16);
    let wrapped = wrap_key(&s, &Mech::new(CKM_AES_KEY_WRAP), wrapping, key).unwrap();
    let t = aes_tpl().bool(CKA_SENSITIVE, true).bool(CKA_EXTRACTABLE, false);
    let k = unwrap_key(&s, &Mech::new(CKM_AES_KEY_WRAP), wrapping, &wrapped, &t).unwrap();
    assert!(!bool_attr(&s, k, CKA_LOCAL), "CKA_LOCAL");
    assert!(!bool_attr(&s, k, CKA_ALWAYS_SENSITIVE), "CKA_ALWAYS_SENSITIVE");
    assert!(!bool_attr(&s, k, CKA_NEVER_EXTRACTABLE), "CKA_NEVER_EXTRACTABLE");
}

#[test]
fn secret_keys_wrap_and_unwrap_with_rsa_oaep_and_pkcs1() {
    let s = session();
    let (public, private) = rsa_pair(&s, 2048, &[]);
    let label = b"wrap label";
    for m in [
        Mech::new(CKM_RSA_PKCS),
        Mech::oaep(CKM_SHA256, CKG_MGF1_SHA256, label),
        Mech::oaep(CKM_SHA_1, CKG_MGF1_SHA1, b""),
    ] {
        let key = extractable_aes(&s, 32);
        let wrapped =
            wrap_key(&s, &m, public, key).unwrap_or_else(|rv| panic!("wrap {:#x}: {}", m.ty, rv_name(rv)));
        assert_eq!(wrapped.len(), 256);
        let unwrapped = unwrap_key(&s, &m, private, &wrapped, &aes_tpl())
            .unwrap_or_else(|rv| panic!("unwrap {:#x}: {}", m.ty, rv_name(rv)));
        assert!(same_aes_key(&s, key, unwrapped), "{:#x}", m.ty);
    }
}

// --- C_WrapKey / C_UnwrapKey: private keys (PKCS#8) ------------------------------------------

#[test]
fn rsa_private_key_wraps_as_pkcs8_with_kwp_and_unwraps_to_a_working_key() {
    let s = session();
    let wrapping = gen_aes(&s, 32, &[]);
    let (public, private) = rsa_pair(&s, 2048, &[Attribute::Extractable(true)]);
    let m = Mech::new(CKM_AES_KEY_WRAP_KWP);
    let wrapped = wrap_key(&s, &m, wrapping, private).unwrap();
    // The wrapped bytes are a PKCS#8 PrivateKeyInfo: decrypt them with the same key and mechanism.
    let pkcs8 = decrypt_once(&s, &m, wrapping, &wrapped).unwrap();
    assert_eq!(&pkcs8[..1], &[0x30], "PrivateKeyInfo is a SEQUENCE");
    assert!(contains(&pkcs8[..30], &h("020100")), "version 0");
    assert!(contains(&pkcs8, &h(RSA_ENCRYPTION_OID)), "rsaEncryption");
    let n = attr(&s, public, CKA_MODULUS).unwrap();
    assert!(contains(&pkcs8, &n), "the modulus");
    let t = Tpl::new().ulong(CKA_CLASS, CKO_PRIVATE_KEY).ulong(CKA_KEY_TYPE, CKK_RSA).bool(CKA_SIGN, true);
    let unwrapped = unwrap_key(&s, &m, wrapping, &wrapped, &t).unwrap();
    assert_eq!(attr(&s, unwrapped, CKA_MODULUS), Ok(n));
    let sig = s.sign(&Mechanism::Sha256RsaPkcs, unwrapped, b"m").unwrap();
    s.verify(&Mechanism::Sha256RsaPkcs, public, b"m", &sig).unwrap();
}

#[test]
fn ec_private_keys_wrap_as_pkcs8_with_kwp_and_unwrap_to_working_keys() {
    let s = session();
    let wrapping = gen_aes(&s, 16, &[]);
    let m = Mech::new(CKM_AES_KEY_WRAP_KWP);
    for curve in [P256, P384, SECP256K1] {
        let (public, private) = ec_pair(&s, curve, &[Attribute::Extractable(true)]);
        let wrapped =
            wrap_key(&s, &m, wrapping, private).unwrap_or_else(|rv| panic!("{curve}: {}", rv_name(rv)));
        let pkcs8 = decrypt_once(&s, &m, wrapping, &wrapped).unwrap();
        assert_eq!(pkcs8[0], 0x30, "{curve}: PrivateKeyInfo is a SEQUENCE");
        assert!(contains(&pkcs8, &h(EC_PUBLIC_KEY_OID)), "{curve}: id-ecPublicKey");
        assert!(contains(&pkcs8, &h(curve)), "{curve}: the curve");
        let t = Tpl::new().ulong(CKA_CLASS, CKO_PRIVATE_KEY).ulong(CKA_KEY_TYPE, CKK_EC).bool(CKA_SIGN, true);
        let unwrapped = unwrap_key(&s, &m, wrapping, &wrapped, &t)
            .unwrap_or_else(|rv| panic!("{curve}: {}", rv_name(rv)));
        assert_eq!(attr(&s, unwrapped, CKA_EC_PARAMS), Ok(h(curve)), "{curve}");
        let sig = s.sign(&Mechanism::EcdsaSha256, unwrapped, b"m").unwrap();
        s.verify(&Mechanism::EcdsaSha256, public, b"m", &sig).unwrap();
    }
}

// --- C_WrapKey / C_UnwrapKey: failures -------------------------------------------------------

/// Base 3.0 §5.14 C_WrapKey: a key whose CKA_EXTRACTABLE is false cannot be wrapped.
#[test]
fn wrapping_an_unextractable_key_is_key_unextractable() {
    let s = session();
    let wrapping = gen_aes(&s, 16, &[]);
    let secret = gen_aes(&s, 16, &[Attribute::Extractable(false)]);
    let (_, private) = ec_pair(&s, P256, &[Attribute::Extractable(false)]);
    let m = Mech::new(CKM_AES_KEY_WRAP_KWP);
    assert_eq!(wrap_key(&s, &m, wrapping, secret), Err(CKR_KEY_UNEXTRACTABLE), "secret key");
    assert_eq!(wrap_key(&s, &m, wrapping, private), Err(CKR_KEY_UNEXTRACTABLE), "private key");
}

/// Base 3.0 §4.7 (CKA_WRAP_WITH_TRUSTED): such a key "can only be wrapped with a wrapping key
/// that has CKA_TRUSTED set to CK_TRUE"; CKR_KEY_NOT_WRAPPABLE is the code for a wrapping key
/// the token may not use on this key.
#[test]
fn wrapping_a_wrap_with_trusted_key_with_an_untrusted_key_is_key_not_wrappable() {
    let s = session();
    let wrapping = gen_aes(&s, 16, &[]);
    let key = gen_aes(&s, 16, &[Attribute::Extractable(true), Attribute::WrapWithTrusted(true)]);
    assert_eq!(wrap_key(&s, &Mech::new(CKM_AES_KEY_WRAP), wrapping, key), Err(CKR_KEY_NOT_WRAPPABLE));
}

#[test]
fn c_wrap_key_size_query_and_short_buffer() {
    let s = session();
    let wrapping = gen_aes(&s, 16, &[]);
    let key = extractable_aes(&s, 32);
    let m = Mech::new(CKM_AES_KEY_WRAP);
    let mut len: CK_ULONG = 0;
    assert_rv(raw_wrap(&s, &m, wrapping, key, null_byte(), &mut len), CKR_OK, "size query");
    assert!(len >= 40, "size query says {len}");
    let mut small = [0u8; 39];
    len = 39;
    assert_rv(
        raw_wrap(&s, &m, wrapping, key, small.as_mut_ptr(), &mut len),
        CKR_BUFFER_TOO_SMALL,
        "short buffer",
    );
    assert_eq!(len, 40, "needed length");
    let mut out = [0u8; 40];
    assert_rv(raw_wrap(&s, &m, wrapping, key, out.as_mut_ptr(), &mut len), CKR_OK, "full buffer");
    assert_eq!(len, 40);
    let unwrapped = unwrap_key(&s, &m, wrapping, &out, &aes_tpl()).unwrap();
    assert!(same_aes_key(&s, key, unwrapped));
}

#[test]
fn c_wrap_key_without_a_length_pointer_is_arguments_bad() {
    let s = session();
    let wrapping = gen_aes(&s, 16, &[]);
    let key = extractable_aes(&s, 16);
    let mut out = [0u8; 64];
    let mut ck = Mech::new(CKM_AES_KEY_WRAP).ck();
    // SAFETY: the null length pointer is what is being tested.
    let rv = unsafe {
        f().C_WrapKey.unwrap()(sh(&s), &mut ck, oh(wrapping), oh(key), out.as_mut_ptr(), std::ptr::null_mut())
    };
    assert_rv(rv, CKR_ARGUMENTS_BAD, "C_WrapKey");
}

#[test]
fn wrapping_or_unwrapping_key_without_the_usage_flag_is_key_function_not_permitted() {
    let s = session();
    let no_wrap = gen_aes(&s, 16, &[Attribute::Wrap(false)]);
    let no_unwrap = gen_aes(&s, 16, &[Attribute::Unwrap(false)]);
    let key = extractable_aes(&s, 16);
    let m = Mech::new(CKM_AES_KEY_WRAP);
    assert_eq!(wrap_key(&s, &m, no_wrap, key), Err(CKR_KEY_FUNCTION_NOT_PERMITTED), "CKA_WRAP false");
    let wrapped = wrap_key(&s, &m, no_unwrap, key).unwrap();
    assert_eq!(
        unwrap_key(&s, &m, no_unwrap, &wrapped, &aes_tpl()),
        Err(CKR_KEY_FUNCTION_NOT_PERMITTED),
        "CKA_UNWRAP false"
    );
}

#[test]
fn invalid_handles_in_wrap_and_unwrap() {
    let s = session();
    let wrapping = gen_aes(&s, 16, &[]);
    let key = extractable_aes(&s, 16);
    let m = Mech::new(CKM_AES_KEY_WRAP);
    let nothing = obj(0x7fff_fff3);
    assert_eq!(wrap_key(&s, &m, nothing, key), Err(CKR_WRAPPING_KEY_HANDLE_INVALID), "wrapping key");
    assert_eq!(wrap_key(&s, &m, wrapping, nothing), Err(CKR_KEY_HANDLE_INVALID), "key to wrap");
    assert_eq!(
        unwrap_key(&s, &m, nothing, &[0; 24], &aes_tpl()),
        Err(CKR_UNWRAPPING_KEY_HANDLE_INVALID),
        "unwrapping key"
    );
}

#[test]
fn wrapping_key_of_the_wrong_type_is_wrapping_key_type_inconsistent() {
    let s = session();
    let generic = secret_key(&s, KeyType::GENERIC_SECRET, &[1; 16], &[]);
    let aes = gen_aes(&s, 16, &[]);
    let key = extractable_aes(&s, 16);
    let kw = Mech::new(CKM_AES_KEY_WRAP);
    assert_eq!(
        wrap_key(&s, &kw, generic, key),
        Err(CKR_WRAPPING_KEY_TYPE_INCONSISTENT),
        "KW with a generic secret"
    );
    assert_eq!(
        unwrap_key(&s, &kw, generic, &[0; 24], &aes_tpl()),
        Err(CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT),
        "unwrap"
    );
    let oaep = Mech::oaep(CKM_SHA256, CKG_MGF1_SHA256, b"");
    assert_eq!(
        wrap_key(&s, &oaep, aes, key),
        Err(CKR_WRAPPING_KEY_TYPE_INCONSISTENT),
        "OAEP with an AES key"
    );
}

/// Base 3.0 §5.14 C_UnwrapKey: the template must give the class and key type of the key made.
#[test]
fn unwrap_template_without_class_or_key_type_is_template_incomplete() {
    let s = session();
    let wrapping = gen_aes(&s, 16, &[]);
    let key = extractable_aes(&s, 16);
    let m = Mech::new(CKM_AES_KEY_WRAP);
    let wrapped = wrap_key(&s, &m, wrapping, key).unwrap();
    let no_class = Tpl::new().ulong(CKA_KEY_TYPE, CKK_AES);
    let no_type = Tpl::new().ulong(CKA_CLASS, CKO_SECRET_KEY);
    assert_eq!(unwrap_key(&s, &m, wrapping, &wrapped, &no_class), Err(CKR_TEMPLATE_INCOMPLETE), "no class");
    assert_eq!(unwrap_key(&s, &m, wrapping, &wrapped, &no_type), Err(CKR_TEMPLATE_INCOMPLETE), "no key type");
}

#[test]
fn unwrap_of_a_tampered_blob_is_wrapped_key_invalid() {
    let s = session();
    let wrapping = gen_aes(&s, 16, &[]);
    let key = extractable_aes(&s, 16);
    let iv12 = [0u8; 12];
    for m in [Mech::new(CKM_AES_KEY_WRAP), Mech::new(CKM_AES_KEY_WRAP_KWP), Mech::gcm(&iv12, b"", 128)] {
        let mut wrapped = wrap_key(&s, &m, wrapping, key).unwrap();
        wrapped[3] ^= 0x40;
        assert_eq!(
            unwrap_key(&s, &m, wrapping, &wrapped, &aes_tpl()),
            Err(CKR_WRAPPED_KEY_INVALID),
            "{:#x}",
            m.ty
        );
    }
}

#[test]
fn unwrap_of_a_blob_of_impossible_length_is_wrapped_key_len_range() {
    let s = session();
    let wrapping = gen_aes(&s, 16, &[]);
    let (_, private) = rsa_pair(&s, 2048, &[]);
    let kw = Mech::new(CKM_AES_KEY_WRAP);
    assert_eq!(
        unwrap_key(&s, &kw, wrapping, &[0; 20], &aes_tpl()),
        Err(CKR_WRAPPED_KEY_LEN_RANGE),
        "KW, 20 bytes"
    );
    assert_eq!(
        unwrap_key(&s, &kw, wrapping, &[0; 16], &aes_tpl()),
        Err(CKR_WRAPPED_KEY_LEN_RANGE),
        "KW, 16 bytes"
    );
    let rsa = Mech::new(CKM_RSA_PKCS);
    assert_eq!(
        unwrap_key(&s, &rsa, private, &[1; 255], &aes_tpl()),
        Err(CKR_WRAPPED_KEY_LEN_RANGE),
        "RSA, 255 bytes"
    );
}

// --- C_DeriveKey: ECDH -----------------------------------------------------------------------

/// Current Mechanisms 3.0 §2.3.17 (CKM_ECDH1_DERIVE): both parties compute the same secret
/// from their private key and the other's public point (raw uncompressed form, which a token
/// MUST accept).
#[test]
fn ecdh_with_the_null_kdf_gives_both_parties_the_same_key() {
    let s = session();
    for curve in [P256, P384] {
        let (a, b, a_point, b_point) = ecdh_parties(&s, curve);
        let t = aes_tpl().ulong(CKA_VALUE_LEN, 32);
        let ka = derive_key(&s, &Mech::ecdh(CKD_NULL, b"", &b_point), a, &t).unwrap();
        let kb = derive_key(&s, &Mech::ecdh(CKD_NULL, b"", &a_point), b, &t).unwrap();
        assert!(same_aes_key(&s, ka, kb), "{curve}: AES-256 keys agree");
        let t = readable_tpl(CKK_GENERIC_SECRET);
        let za = derive_key(&s, &Mech::ecdh(CKD_NULL, b"", &b_point), a, &t).unwrap();
        let zb = derive_key(&s, &Mech::ecdh(CKD_NULL, b"", &a_point), b, &t).unwrap();
        let (za, zb) = (attr(&s, za, CKA_VALUE).unwrap(), attr(&s, zb, CKA_VALUE).unwrap());
        assert_eq!(za, zb, "{curve}: shared secrets agree");
        assert_eq!(za.len(), field_len(curve), "{curve}: the whole x coordinate");
    }
}

/// NIST CAVS ECC CDH primitive test vectors (SP 800-56A, "KAS_ECC_CDH_PrimitiveTest", first
/// P-256 and P-384 cases), with the IUT private key imported through CKA_EC_PARAMS and
/// CKA_VALUE and the CAVS public point passed raw.
#[test]
fn ecdh_nist_cavs_vectors_with_imported_private_keys() {
    let s = session();
    let vectors = [
        (
            P256,
            "7d7dc5f71eb29ddaf80d6214632eeae03d9058af1fb6d22ed80badb62bc1a534",
            "04ead218590119e8876b29146ff89ca61770c4edbbf97d38ce385ed281d8a6b230
               28af61281fd35e2fa7002523acc85a429cb06ee6648325389f59edfce1405141",
            "04700c48f77f56584c5cc632ca65640db91b6bacce3a4df6b42ce7cc838833d287
               db71e509e3fd9b060ddb20ba5c51dcc5948d46fbf640dfe0441782cab85fa4ac",
            "46fc62106420ff012e54a434fbdd2d25ccc5852060561e68040dd7778997bd7b",
        ),
        (
            P384,
            "3cc3122a68f0d95027ad38c067916ba0eb8c38894d22e1b15618b6818a661774ad463b205da88cf699ab4d43c9cf98a1",
            "049803807f2f6d2fd966cdd0290bd410c0190352fbec7ff6247de1302df86f25d34fe4a97bef60cff548355c015dbb3e5f
               ba26ca69ec2f5b5d9dad20cc9da711383a9dbe34ea3fa5a2af75b46502629ad54dd8b7d73a8abb06a3a3be47d650cc99",
            "04a7c76b970c3b5fe8b05d2838ae04ab47697b9eaf52e764592efda27fe7513272734466b400091adbf2d68c58e0c50066
               ac68f19f2e1cb879aed43a9969b91a0839c4c38a49749b661efedf243451915ed0905a32b060992b468c64766fc8437a",
            "5f9d29dc5e31a163060356213669c8ce132e22f57c9a04f40ba7fcead493b457e5621e766c40a2e3d4d6a04b25e533f1",
        ),
    ];
    for (curve, d, q_iut, q_cavs, z) in vectors {
        let private = create_object(
            &s,
            &Tpl::new()
                .ulong(CKA_CLASS, CKO_PRIVATE_KEY)
                .ulong(CKA_KEY_TYPE, CKK_EC)
                .bytes(CKA_EC_PARAMS, &h(curve))
                .bytes(CKA_VALUE, &h(d))
                .bool(CKA_DERIVE, true),
        )
        .unwrap_or_else(|rv| panic!("{curve}: import: {}", rv_name(rv)));
        let spki = attr(&s, private, CKA_PUBLIC_KEY_INFO).unwrap();
        assert!(spki.ends_with(&h(q_iut)), "{curve}: CKA_PUBLIC_KEY_INFO holds the IUT's public point");
        let k = derive_key(
            &s,
            &Mech::ecdh(CKD_NULL, b"", &h(q_cavs)),
            private,
            &readable_tpl(CKK_GENERIC_SECRET),
        );
        let k = k.unwrap_or_else(|rv| panic!("{curve}: derive: {}", rv_name(rv)));
        assert_eq!(attr(&s, k, CKA_VALUE), Ok(h(z)), "{curve}: Z");
    }
}

#[test]
fn ecdh_with_a_kdf_gives_both_parties_the_same_key() {
    let s = session();
    for (curve, kdf) in
        [(P256, CKD_SHA256_KDF), (P384, CKD_SHA384_KDF), (P256, CKD_SHA512_KDF), (P384, CKD_SHA1_KDF)]
    {
        let (a, b, a_point, b_point) = ecdh_parties(&s, curve);
        let shared = b"shared info";
        let t = aes_tpl().ulong(CKA_VALUE_LEN, 32);
        let ka = derive_key(&s, &Mech::ecdh(kdf, shared, &b_point), a, &t).unwrap();
        let kb = derive_key(&s, &Mech::ecdh(kdf, shared, &a_point), b, &t).unwrap();
        assert!(same_aes_key(&s, ka, kb), "{curve}, KDF {kdf:#x}");
        let kc = derive_key(&s, &Mech::ecdh(kdf, b"other info", &a_point), b, &t).unwrap();
        assert!(!same_aes_key(&s, ka, kc), "{curve}, KDF {kdf:#x}: the shared info counts");
    }
}

/// ANSI X9.63 KDF as PKCS#11 names it (CKD_SHA256_KDF): K = SHA-256(Z ‖ 00000001 ‖ SharedInfo)
/// for a 32-byte key, with Z the shared secret the null KDF yields.
#[test]
fn ecdh_sha256_kdf_is_the_x963_kdf_of_the_shared_secret() {
    let s = session();
    let (a, _, _, b_point) = ecdh_parties(&s, P256);
    let shared = b"x9.63 shared info";
    let z =
        derive_key(&s, &Mech::ecdh(CKD_NULL, b"", &b_point), a, &readable_tpl(CKK_GENERIC_SECRET)).unwrap();
    let z = attr(&s, z, CKA_VALUE).unwrap();
    let t = readable_tpl(CKK_GENERIC_SECRET).ulong(CKA_VALUE_LEN, 48);
    let k = derive_key(&s, &Mech::ecdh(CKD_SHA256_KDF, shared, &b_point), a, &t).unwrap();
    let k = attr(&s, k, CKA_VALUE).unwrap();
    let block = |counter: u32| {
        let input = [z.as_slice(), &counter.to_be_bytes(), shared].concat();
        digest_once(&s, &Mech::new(CKM_SHA256), &input).unwrap()
    };
    let expected = [block(1), block(2)].concat();
    assert_eq!(k, expected[..48].to_vec());
}

#[test]
fn ecdh_null_kdf_key_shorter_than_the_secret_is_its_trailing_bytes() {
    let s = session();
    let (a, _, _, b_point) = ecdh_parties(&s, P384);
    let m = Mech::ecdh(CKD_NULL, b"", &b_point);
    let z = attr(&s, derive_key(&s, &m, a, &readable_tpl(CKK_GENERIC_SECRET)).unwrap(), CKA_VALUE).unwrap();
    let t = readable_tpl(CKK_AES).ulong(CKA_VALUE_LEN, 16);
    let k = attr(&s, derive_key(&s, &m, a, &t).unwrap(), CKA_VALUE).unwrap();
    assert_eq!(k, z[z.len() - 16..].to_vec());
}

#[test]
fn derive_aes_key_without_value_len_is_template_incomplete() {
    let s = session();
    let (a, _, _, b_point) = ecdh_parties(&s, P256);
    assert_eq!(
        derive_key(&s, &Mech::ecdh(CKD_NULL, b"", &b_point), a, &aes_tpl()),
        Err(CKR_TEMPLATE_INCOMPLETE)
    );
}

#[test]
fn derive_with_a_key_without_cka_derive_is_key_function_not_permitted() {
    let s = session();
    let (_, private) = ec_pair(&s, P256, &[Attribute::Derive(false)]);
    let (_, _, peer, _) = ecdh_parties(&s, P256);
    let t = aes_tpl().ulong(CKA_VALUE_LEN, 16);
    assert_eq!(
        derive_key(&s, &Mech::ecdh(CKD_NULL, b"", &peer), private, &t),
        Err(CKR_KEY_FUNCTION_NOT_PERMITTED)
    );
}

/// Current Mechanisms 3.0 (CK_ECDH1_DERIVE_PARAMS): "With the key derivation function CKD_NULL,
/// pSharedData must be NULL and ulSharedDataLen must be zero."
#[test]
fn ecdh_bad_parameters_are_mechanism_param_invalid() {
    let s = session();
    let (a, _, _, b_point) = ecdh_parties(&s, P256);
    let t = aes_tpl().ulong(CKA_VALUE_LEN, 16);
    let cases = [
        (Mech::ecdh(CKD_NULL, b"not allowed", &b_point), "shared data with the null KDF"),
        (Mech::ecdh(0x7777, b"", &b_point), "unknown KDF"),
        (Mech::ecdh(CKD_NULL, b"", &b_point).with_len(8), "parameter of the wrong size"),
        (Mech::new(CKM_ECDH1_DERIVE), "no parameter"),
    ];
    for (m, what) in cases {
        assert_eq!(derive_key(&s, &m, a, &t), Err(CKR_MECHANISM_PARAM_INVALID), "{what}");
    }
}

#[test]
fn derive_template_for_another_class_is_template_inconsistent() {
    let s = session();
    let (a, _, _, b_point) = ecdh_parties(&s, P256);
    let t =
        Tpl::new().ulong(CKA_CLASS, CKO_PRIVATE_KEY).ulong(CKA_KEY_TYPE, CKK_AES).ulong(CKA_VALUE_LEN, 16);
    assert_eq!(derive_key(&s, &Mech::ecdh(CKD_NULL, b"", &b_point), a, &t), Err(CKR_TEMPLATE_INCONSISTENT));
}

/// The library's documented limit (src/mechanism/ec.rs): ECDH on P-256 and P-384 only; a
/// secp256k1 key is the wrong key for the mechanism.
#[test]
fn ecdh_on_secp256k1_is_key_type_inconsistent() {
    let s = session();
    let (a, _, _, b_point) = ecdh_parties(&s, SECP256K1);
    let t = aes_tpl().ulong(CKA_VALUE_LEN, 16);
    assert_eq!(derive_key(&s, &Mech::ecdh(CKD_NULL, b"", &b_point), a, &t), Err(CKR_KEY_TYPE_INCONSISTENT));
}

#[test]
fn derived_key_attributes_follow_the_template() {
    let s = session();
    let (a, _, _, b_point) = ecdh_parties(&s, P256);
    let t = aes_tpl().ulong(CKA_VALUE_LEN, 24).bytes(CKA_LABEL, b"derived");
    let k = derive_key(&s, &Mech::ecdh(CKD_SHA256_KDF, b"", &b_point), a, &t).unwrap();
    assert_eq!(ulong_attr(&s, k, CKA_CLASS), CKO_SECRET_KEY);
    assert_eq!(ulong_attr(&s, k, CKA_KEY_TYPE), CKK_AES);
    assert_eq!(ulong_attr(&s, k, CKA_VALUE_LEN), 24);
    assert!(!bool_attr(&s, k, CKA_LOCAL), "a derived key is not CKA_LOCAL");
    let labels = s.get_attributes(k, &[AttributeType::Label]).unwrap();
    assert_eq!(labels, vec![Attribute::Label(b"derived".to_vec())]);
}

/// Base 3.0 §5.14 C_DeriveKey: a derived key is CKA_ALWAYS_SENSITIVE only if the base key is and
/// the derived key is sensitive, and CKA_NEVER_EXTRACTABLE only if the base key is and the
/// derived key is not extractable.
#[test]
fn derived_key_sensitivity_follows_the_base_key_and_the_template() {
    let s = session();
    let (a, _, _, b_point) = ecdh_parties(&s, P256);
    assert!(bool_attr(&s, a, CKA_ALWAYS_SENSITIVE) && bool_attr(&s, a, CKA_NEVER_EXTRACTABLE), "base key");
    let m = Mech::ecdh(CKD_NULL, b"", &b_point);
    let kept = derive_key(
        &s,
        &m,
        a,
        &aes_tpl().ulong(CKA_VALUE_LEN, 16).bool(CKA_SENSITIVE, true).bool(CKA_EXTRACTABLE, false),
    )
    .unwrap();
    assert!(bool_attr(&s, kept, CKA_ALWAYS_SENSITIVE), "sensitive from a sensitive base");
    assert!(bool_attr(&s, kept, CKA_NEVER_EXTRACTABLE), "unextractable from an unextractable base");
    let open = derive_key(&s, &m, a, &readable_tpl(CKK_AES).ulong(CKA_VALUE_LEN, 16)).unwrap();
    assert!(!bool_attr(&s, open, CKA_ALWAYS_SENSITIVE), "not sensitive");
    assert!(!bool_attr(&s, open, CKA_NEVER_EXTRACTABLE), "extractable");
}
