//! Managed keys (CMKs): the rules that turn a token key into a CMK, the metadata it carries as
//! vendor attributes, and the state machine of the KMS (reference/kms-api.md §3, §4, §6).
//!
//! A CMK is stored as objects of two roles: the key itself (what applications hold: it acts
//! with the primary version and carries the metadata, but no secret material) and one object
//! per version (holding that version's material). A key pair has a private and a public object
//! in each role.

use super::{KeySpec, KeyState, KeyUsage, KmsCode, KmsError, Origin, names};
use crate::object::attribute::{Attributes, bool_bytes, ulong_bytes};
use crate::object::rules;
use crate::store::KmsKeyRecord;
use crate::vendor::*;
use cryptoki_sys::*;

const DAY: u64 = 86_400;

/// Manual versions of asymmetric keys: at most this many, this far apart (reference §6).
pub const MAX_VERSIONS: usize = 50;
pub const MIN_VERSION_GAP: u64 = 7 * DAY;

pub const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
pub const P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
pub const SECP256K1: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a];
pub const SM2: &[u8] = &[0x06, 0x08, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d];

/// The key spec of a key from its standard attributes (DESIGN §3: `CKK_AES` + 32 bytes is
/// `Aliyun_AES_256`, RSA 2048 is `RSA_2048`, the P-256 / secp256k1 / SM2 curves are `EC_P256` /
/// `EC_P256K` / `EC_SM2`; other sizes and curves get specs outside the KMS's six).
pub fn spec_of(key_type: CK_KEY_TYPE, attrs: &Attributes) -> Option<KeySpec> {
    Some(match key_type {
        CKK_AES => match attrs.ulong(CKA_VALUE_LEN)? {
            16 => KeySpec::Aes128,
            24 => KeySpec::Aes192,
            32 => KeySpec::Aes256,
            _ => return None,
        },
        CKK_SM4 => KeySpec::Sm4,
        CKK_RSA => {
            let bits = attrs.ulong(CKA_MODULUS_BITS).or_else(|| {
                attrs.get(CKA_MODULUS).map(|n| {
                    let n = &n[n.iter().position(|b| *b != 0).unwrap_or(n.len())..];
                    (n.len() * 8) as CK_ULONG - n.first().map_or(0, |b| b.leading_zeros() as CK_ULONG)
                })
            })?;
            match bits {
                2048 => KeySpec::Rsa2048,
                3072 => KeySpec::Rsa3072,
                4096 => KeySpec::Rsa4096,
                _ => KeySpec::RsaOther,
            }
        }
        CKK_EC | CKK_SM2 => match attrs.get(CKA_EC_PARAMS)? {
            p if p == P256 => KeySpec::EcP256,
            p if p == P384 => KeySpec::EcP384,
            p if p == SECP256K1 => KeySpec::EcP256K,
            p if p == SM2 => KeySpec::EcSm2,
            _ => return None,
        },
        kt if crate::mechanism::hmac::is_secret_key_type(kt) => KeySpec::GenericSecret,
        _ => return None,
    })
}

/// The usage a key's standard flags amount to (DESIGN §3): encryption if any of the cipher or
/// wrap flags is set and the spec can encrypt at all, signing if a sign or verify flag is; a
/// key with neither gets its spec's natural usage.
pub fn usage_of(spec: KeySpec, sets: &[&Attributes]) -> KeyUsage {
    let any = |tys: &[CK_ATTRIBUTE_TYPE]| sets.iter().any(|a| tys.iter().any(|t| a.flag(*t)));
    // No mechanism encrypts with an ECDSA curve's key, whatever its CKA_DECRYPT says (PKCS#11
    // defaults it to true on private keys): such a key is SIGN/VERIFY, as in the KMS.
    let can_encrypt = !matches!(spec, KeySpec::EcP256 | KeySpec::EcP256K | KeySpec::EcP384);
    let usage = KeyUsage {
        encrypt: can_encrypt && any(&[CKA_ENCRYPT, CKA_DECRYPT, CKA_WRAP, CKA_UNWRAP]),
        sign: any(&[CKA_SIGN, CKA_VERIFY]),
    };
    if usage.encrypt || usage.sign {
        usage
    } else if spec.is_symmetric() {
        KeyUsage { encrypt: true, sign: false }
    } else {
        KeyUsage { encrypt: false, sign: true }
    }
}

/// Vendor attributes a caller may give when a key is made (the rest are the token's).
pub fn settable_at_creation(ty: CK_ATTRIBUTE_TYPE) -> bool {
    matches!(
        ty,
        CKA_KMS_ROTATION_INTERVAL
            | CKA_KMS_DESCRIPTION
            | CKA_KMS_TAGS
            | CKA_KMS_ALIASES
            | CKA_KMS_DELETION_PROTECTION
    )
}

/// Vendor attributes `C_SetAttributeValue` may change on a managed key (through the KMS rules).
pub fn settable_later(ty: CK_ATTRIBUTE_TYPE) -> bool {
    settable_at_creation(ty) || ty == CKA_KMS_KEY_STATE
}

/// Whether `ty` is one of the KMS vendor attributes.
pub fn is_kms_attribute(ty: CK_ATTRIBUTE_TYPE) -> bool {
    (CKA_KMS_BASE + 1..CKA_KMS_BASE + 0x100).contains(&ty)
}

/// The metadata a new CMK starts with.
pub struct NewKeyOptions {
    pub key_id: String,
    pub version_id: String,
    pub now: u64,
    pub spec: KeySpec,
    pub usage: KeyUsage,
    pub origin: Origin,
    pub rotation_interval: u64,
    pub description: String,
    pub tags: String,
    pub deletion_protection: bool,
    pub creator: String,
}

/// The metadata record of a new CMK.
pub fn new_record(o: &NewKeyOptions) -> Result<KmsKeyRecord, KmsError> {
    check_rotation(o.spec, o.rotation_interval)?;
    Ok(KmsKeyRecord {
        key_id: o.key_id.clone(),
        spec: o.spec.name().to_string(),
        usage: o.usage.name(),
        origin: o.origin.name().to_string(),
        // Keys made through PKCS#11 arrive with their material, imported or not.
        state: KeyState::Enabled.name().to_string(),
        description: o.description.clone(),
        tags: o.tags.clone(),
        created: o.now,
        creator: o.creator.clone(),
        primary_version: o.version_id.clone(),
        rotation_interval: o.rotation_interval,
        next_rotation: if o.rotation_interval > 0 { o.now + o.rotation_interval } else { 0 },
        last_rotation: 0,
        deletion_date: 0,
        deletion_protection: o.deletion_protection,
        deletion_protection_description: String::new(),
        material_expiry: 0,
        material_digest: Vec::new(),
    })
}

/// Automatic rotation: symmetric keys only, 7 to 730 days (0 turns it off).
pub fn check_rotation(spec: KeySpec, interval: u64) -> Result<(), KmsError> {
    if interval == 0 {
        return Ok(());
    }
    if !spec.is_symmetric() {
        return Err(KmsError::new(
            KmsCode::UnsupportedOperation,
            "asymmetric keys do not rotate automatically; create versions with kmsctl create-key-version",
        ));
    }
    names::check_rotation_interval(interval).map(|_| ())
}

pub fn state_of(rec: &KmsKeyRecord) -> KeyState {
    KeyState::parse(&rec.state).unwrap_or(KeyState::Disabled)
}

pub fn spec_of_record(rec: &KmsKeyRecord) -> KeySpec {
    KeySpec::parse(&rec.spec).unwrap_or(KeySpec::GenericSecret)
}

/// The vendor attributes of the key object of a CMK, from its record.
pub fn key_object_attrs(rec: &KmsKeyRecord) -> Attributes {
    let mut a = Attributes::new();
    a.set(CKA_KMS_KEY_ID, rec.key_id.clone().into_bytes());
    a.set(CKA_KMS_KEY_VERSION_ID, rec.primary_version.clone().into_bytes());
    a.set(CKA_KMS_PRIMARY_VERSION_ID, rec.primary_version.clone().into_bytes());
    a.set(CKA_KMS_KEY_SPEC, rec.spec.clone().into_bytes());
    a.set(CKA_KMS_KEY_USAGE, rec.usage.clone().into_bytes());
    a.set(CKA_KMS_KEY_STATE, rec.state.clone().into_bytes());
    a.set(CKA_KMS_ORIGIN, rec.origin.clone().into_bytes());
    a.set_ulong(CKA_KMS_ROTATION_INTERVAL, rec.rotation_interval as CK_ULONG);
    a.set_ulong(CKA_KMS_NEXT_ROTATION, rec.next_rotation as CK_ULONG);
    a.set_ulong(CKA_KMS_LAST_ROTATION, rec.last_rotation as CK_ULONG);
    a.set_ulong(CKA_KMS_MATERIAL_EXPIRY, rec.material_expiry as CK_ULONG);
    a.set_ulong(CKA_KMS_DELETION_DATE, rec.deletion_date as CK_ULONG);
    a.set(CKA_KMS_TAGS, rec.tags.clone().into_bytes());
    a.set(CKA_KMS_DESCRIPTION, rec.description.clone().into_bytes());
    a.set_ulong(CKA_KMS_CREATION_DATE, rec.created as CK_ULONG);
    a.set_bool(CKA_KMS_DELETION_PROTECTION, rec.deletion_protection);
    a.set(CKA_KMS_PROTECTION_LEVEL, b"SOFTWARE".to_vec());
    a.set_bool(CKA_KMS_IS_VERSION, false);
    a
}

/// The vendor attributes of a version object.
pub fn version_object_attrs(rec: &KmsKeyRecord, version_id: &str, created: u64) -> Attributes {
    let mut a = Attributes::new();
    a.set(CKA_KMS_KEY_ID, rec.key_id.clone().into_bytes());
    a.set(CKA_KMS_KEY_VERSION_ID, version_id.as_bytes().to_vec());
    a.set(CKA_KMS_PRIMARY_VERSION_ID, rec.primary_version.clone().into_bytes());
    a.set(CKA_KMS_KEY_SPEC, rec.spec.clone().into_bytes());
    a.set(CKA_KMS_KEY_USAGE, rec.usage.clone().into_bytes());
    a.set(CKA_KMS_KEY_STATE, rec.state.clone().into_bytes());
    a.set_ulong(CKA_KMS_CREATION_DATE, created as CK_ULONG);
    a.set(CKA_KMS_PROTECTION_LEVEL, b"SOFTWARE".to_vec());
    a.set_bool(CKA_KMS_IS_VERSION, true);
    a.set_ulong(CKA_KMS_MATERIAL_EXPIRY, rec.material_expiry as CK_ULONG);
    a
}

/// Splits the complete attributes of a new key object into its two roles: the key object
/// (everything but secret material, with the CMK's metadata) and the version object (all of it,
/// with the version's metadata). `CKA_UNIQUE_ID` is left for the token to assign.
pub fn split_roles(
    attrs: &Attributes,
    rec: &KmsKeyRecord,
    version_id: &str,
    created: u64,
) -> (Attributes, Attributes) {
    let class = attrs.ulong(CKA_CLASS).unwrap_or(CKO_DATA);
    let private = attrs.flag(CKA_PRIVATE);
    let mut key = attrs.clone();
    key.split_off(|t| rules::sealed_at_rest(class, private, t) || t == CKA_UNIQUE_ID);
    key.extend(key_object_attrs(rec));
    let mut version = attrs.clone();
    version.remove(CKA_UNIQUE_ID);
    version.extend(version_object_attrs(rec, version_id, created));
    (key, version)
}

/// The non-secret attributes a key object takes over from its primary version when the primary
/// changes (public material and what is computed from material).
pub fn follows_primary(ty: CK_ATTRIBUTE_TYPE) -> bool {
    matches!(
        ty,
        CKA_VALUE_LEN
            | CKA_CHECK_VALUE
            | CKA_MODULUS
            | CKA_MODULUS_BITS
            | CKA_PUBLIC_EXPONENT
            | CKA_EC_PARAMS
            | CKA_EC_POINT
            | CKA_PUBLIC_KEY_INFO
    )
}

// --- The state machine (reference §3, §4) ----------------------------------------------------

pub fn enable(rec: &mut KmsKeyRecord) -> Result<(), KmsError> {
    match state_of(rec) {
        KeyState::Enabled | KeyState::Disabled => {
            rec.state = KeyState::Enabled.name().into();
            Ok(())
        }
        s => Err(KmsError::new(
            KmsCode::StateModifiedFailed,
            format!("a key in state {} cannot be enabled", s.name()),
        )),
    }
}

pub fn disable(rec: &mut KmsKeyRecord) -> Result<(), KmsError> {
    match state_of(rec) {
        KeyState::Enabled | KeyState::Disabled => {
            rec.state = KeyState::Disabled.name().into();
            Ok(())
        }
        s => Err(KmsError::new(
            KmsCode::StateModifiedFailed,
            format!("a key in state {} cannot be disabled", s.name()),
        )),
    }
}

pub fn schedule_deletion(rec: &mut KmsKeyRecord, window_days: u64, now: u64) -> Result<(), KmsError> {
    names::deletion_window_days(Some(window_days))?;
    if rec.deletion_protection {
        return Err(KmsError::new(KmsCode::DeletionProtected, "the key has deletion protection"));
    }
    if state_of(rec) == KeyState::PendingDeletion {
        return Err(KmsError::new(KmsCode::StateModifiedFailed, "the key is already pending deletion"));
    }
    rec.state = KeyState::PendingDeletion.name().into();
    rec.deletion_date = now + window_days * DAY;
    Ok(())
}

/// Cancelling a deletion returns the key to `Enabled` (reference §3), or to `PendingImport` when
/// its material is missing.
pub fn cancel_deletion(rec: &mut KmsKeyRecord, has_material: bool) -> Result<(), KmsError> {
    match state_of(rec) {
        KeyState::PendingDeletion => {
            rec.state = if has_material { KeyState::Enabled } else { KeyState::PendingImport }.name().into();
            rec.deletion_date = 0;
            Ok(())
        }
        KeyState::Enabled => Err(KmsError::new(KmsCode::Enabled, "the key is not pending deletion")),
        KeyState::Disabled => Err(KmsError::new(KmsCode::Disabled, "the key is not pending deletion")),
        KeyState::PendingImport => {
            Err(KmsError::new(KmsCode::PendingImport, "the key is not pending deletion"))
        }
    }
}

pub fn set_deletion_protection(rec: &mut KmsKeyRecord, on: bool, description: &str) -> Result<(), KmsError> {
    if state_of(rec) == KeyState::PendingDeletion {
        return Err(KmsError::new(
            KmsCode::PendingDeletion,
            "deletion protection cannot change while deletion is pending",
        ));
    }
    rec.deletion_protection = on;
    rec.deletion_protection_description = if on { description.to_string() } else { String::new() };
    Ok(())
}

pub fn set_rotation(rec: &mut KmsKeyRecord, interval: u64, now: u64) -> Result<(), KmsError> {
    check_rotation(spec_of_record(rec), interval)?;
    // A new version would need material only the customer has (reference §7).
    if interval > 0 && (state_of(rec) == KeyState::PendingImport || !rec.material_digest.is_empty()) {
        return Err(KmsError::new(
            KmsCode::UnsupportedOperation,
            "keys with imported material do not rotate automatically",
        ));
    }
    if state_of(rec) == KeyState::PendingDeletion {
        return Err(KmsError::new(KmsCode::PendingDeletion, "the key is pending deletion"));
    }
    rec.rotation_interval = interval;
    rec.next_rotation = if interval > 0 { rec.last_rotation.max(rec.created) + interval } else { 0 };
    // A shorter interval may already have passed: rotate at the next use.
    if rec.next_rotation != 0 && rec.next_rotation < now {
        rec.next_rotation = now;
    }
    Ok(())
}

/// Whether an automatic rotation is due.
pub fn rotation_due(rec: &KmsKeyRecord, now: u64) -> bool {
    rec.next_rotation != 0 && rec.next_rotation <= now && state_of(rec) == KeyState::Enabled
}

/// Checks that a new version may be made now (`manual`: by request rather than by the
/// rotation schedule) given the existing versions (oldest first).
pub fn check_new_version(
    rec: &KmsKeyRecord,
    versions: &[(String, u64)],
    now: u64,
    manual: bool,
) -> Result<(), KmsError> {
    if state_of(rec) != KeyState::Enabled {
        return Err(KmsError::new(
            state_of(rec).refusal().unwrap_or(KmsCode::StateModifiedFailed),
            "only an enabled key gets new versions",
        ));
    }
    if !rec.material_digest.is_empty() {
        return Err(KmsError::new(
            KmsCode::UnsupportedOperation,
            "a key with imported material gets no new versions: the token cannot make its material",
        ));
    }
    let spec = spec_of_record(rec);
    if manual && !spec.is_symmetric() {
        if versions.len() >= MAX_VERSIONS {
            return Err(KmsError::new(KmsCode::LimitExceeded, "an asymmetric key has at most 50 versions"));
        }
        if versions.last().is_some_and(|(_, created)| now < created + MIN_VERSION_GAP) {
            return Err(KmsError::new(
                KmsCode::InvalidParameter,
                "versions of an asymmetric key must be at least 7 days apart",
            ));
        }
    }
    Ok(())
}

/// Records a new primary version.
pub fn rotated(rec: &mut KmsKeyRecord, version_id: &str, now: u64) {
    rec.primary_version = version_id.to_string();
    rec.last_rotation = now;
    rec.next_rotation = if rec.rotation_interval > 0 { now + rec.rotation_interval } else { 0 };
}

/// Encodes a bool vendor attribute the way `C_GetAttributeValue` shows it.
pub fn flag(v: bool) -> Vec<u8> {
    bool_bytes(v)
}

/// Encodes a CK_ULONG vendor attribute.
pub fn number(v: u64) -> Vec<u8> {
    ulong_bytes(v as CK_ULONG)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(spec: KeySpec) -> KmsKeyRecord {
        new_record(&NewKeyOptions {
            key_id: "k".into(),
            version_id: "v1".into(),
            now: 1000,
            spec,
            usage: KeyUsage { encrypt: true, sign: false },
            origin: Origin::Kms,
            rotation_interval: 0,
            description: String::new(),
            tags: "{}".into(),
            deletion_protection: false,
            creator: String::new(),
        })
        .unwrap()
    }

    #[test]
    fn specs_follow_the_template() {
        let mut a = Attributes::new();
        a.set_ulong(CKA_VALUE_LEN, 32);
        assert_eq!(spec_of(CKK_AES, &a), Some(KeySpec::Aes256));
        a.set_ulong(CKA_VALUE_LEN, 16);
        assert_eq!(spec_of(CKK_AES, &a), Some(KeySpec::Aes128));
        let mut r = Attributes::new();
        r.set(CKA_MODULUS, vec![0x80; 256]);
        assert_eq!(spec_of(CKK_RSA, &r), Some(KeySpec::Rsa2048));
        r.set(CKA_MODULUS, vec![0x80; 128]);
        assert_eq!(spec_of(CKK_RSA, &r), Some(KeySpec::RsaOther));
        let mut e = Attributes::new();
        e.set(CKA_EC_PARAMS, SECP256K1.to_vec());
        assert_eq!(spec_of(CKK_EC, &e), Some(KeySpec::EcP256K));
        e.set(CKA_EC_PARAMS, SM2.to_vec());
        assert_eq!(spec_of(CKK_SM2, &e), Some(KeySpec::EcSm2));
    }

    #[test]
    fn usage_follows_the_flags() {
        let mut a = Attributes::new();
        a.set_bool(CKA_SIGN, true);
        assert_eq!(usage_of(KeySpec::EcP256, &[&a]), KeyUsage { encrypt: false, sign: true });
        a.set_bool(CKA_DECRYPT, true);
        assert_eq!(usage_of(KeySpec::Rsa2048, &[&a]), KeyUsage { encrypt: true, sign: true });
        assert_eq!(usage_of(KeySpec::EcSm2, &[&a]), KeyUsage { encrypt: true, sign: true });
        for ecdsa in [KeySpec::EcP256, KeySpec::EcP256K, KeySpec::EcP384] {
            assert_eq!(usage_of(ecdsa, &[&a]), KeyUsage { encrypt: false, sign: true }, "{ecdsa:?}");
        }
        assert_eq!(usage_of(KeySpec::Aes256, &[&Attributes::new()]), KeyUsage { encrypt: true, sign: false });
    }

    #[test]
    fn states_move_as_the_kms_says() {
        let mut r = rec(KeySpec::Aes256);
        disable(&mut r).unwrap();
        assert_eq!(state_of(&r), KeyState::Disabled);
        enable(&mut r).unwrap();
        assert_eq!(schedule_deletion(&mut r, 6, 0).unwrap_err().code, KmsCode::InvalidParameter);
        schedule_deletion(&mut r, 7, 100).unwrap();
        assert_eq!(r.deletion_date, 100 + 7 * DAY);
        assert_eq!(enable(&mut r).unwrap_err().code, KmsCode::StateModifiedFailed);
        assert_eq!(schedule_deletion(&mut r, 7, 0).unwrap_err().code, KmsCode::StateModifiedFailed);
        cancel_deletion(&mut r, true).unwrap();
        assert_eq!(state_of(&r), KeyState::Enabled);
        assert_eq!(cancel_deletion(&mut r, true).unwrap_err().code, KmsCode::Enabled);
        set_deletion_protection(&mut r, true, "prod").unwrap();
        assert_eq!(schedule_deletion(&mut r, 30, 0).unwrap_err().code, KmsCode::DeletionProtected);
    }

    #[test]
    fn rotation_bounds_and_schedule() {
        let mut r = rec(KeySpec::Aes256);
        assert_eq!(set_rotation(&mut r, 6 * DAY, 1000).unwrap_err().code, KmsCode::InvalidParameter);
        assert_eq!(set_rotation(&mut r, 731 * DAY, 1000).unwrap_err().code, KmsCode::InvalidParameter);
        set_rotation(&mut r, 7 * DAY, 1000).unwrap();
        assert_eq!(r.next_rotation, 1000 + 7 * DAY);
        assert!(!rotation_due(&r, 1000));
        assert!(rotation_due(&r, 1000 + 7 * DAY));
        rotated(&mut r, "v2", 1000 + 7 * DAY);
        assert_eq!(r.primary_version, "v2");
        assert_eq!(r.next_rotation, 1000 + 14 * DAY);
        let mut a = rec(KeySpec::Rsa2048);
        assert_eq!(set_rotation(&mut a, 30 * DAY, 0).unwrap_err().code, KmsCode::UnsupportedOperation);
    }

    #[test]
    fn asymmetric_versions_are_spaced_and_capped() {
        let r = rec(KeySpec::EcP256);
        let one = vec![("v1".to_string(), 1000)];
        assert_eq!(
            check_new_version(&r, &one, 1000 + DAY, true).unwrap_err().code,
            KmsCode::InvalidParameter
        );
        assert!(check_new_version(&r, &one, 1000 + 7 * DAY, true).is_ok());
        let many: Vec<_> = (0..50).map(|i| (format!("v{i}"), i)).collect();
        assert_eq!(check_new_version(&r, &many, 1 << 40, true).unwrap_err().code, KmsCode::LimitExceeded);
    }

    #[test]
    fn keys_with_imported_material_neither_rotate_nor_get_versions() {
        let mut r = rec(KeySpec::Aes256);
        r.state = KeyState::PendingImport.name().into();
        assert_eq!(set_rotation(&mut r, 30 * DAY, 1000).unwrap_err().code, KmsCode::UnsupportedOperation);
        r.state = KeyState::Enabled.name().into();
        r.material_digest = vec![1; 32];
        assert_eq!(set_rotation(&mut r, 30 * DAY, 1000).unwrap_err().code, KmsCode::UnsupportedOperation);
        assert!(set_rotation(&mut r, 0, 1000).is_ok(), "turning rotation off is always allowed");
        let one = vec![("v1".to_string(), 1000)];
        let e = check_new_version(&r, &one, 1000 + 30 * DAY, true).unwrap_err();
        assert_eq!(e.code, KmsCode::UnsupportedOperation);
    }

    #[test]
    fn roles_split_secrets_off_the_key_object() {
        let r = rec(KeySpec::Aes256);
        let mut a = Attributes::new();
        a.set_ulong(CKA_CLASS, CKO_SECRET_KEY);
        a.set_bool(CKA_PRIVATE, true);
        a.set(CKA_VALUE, vec![7; 32]);
        a.set_ulong(CKA_VALUE_LEN, 32);
        a.set(CKA_UNIQUE_ID, b"u".to_vec());
        let (key, version) = split_roles(&a, &r, "v1", 1000);
        assert!(!key.contains(CKA_VALUE));
        assert!(!key.contains(CKA_UNIQUE_ID));
        assert_eq!(key.ulong(CKA_VALUE_LEN), Some(32));
        assert!(!key.flag(CKA_KMS_IS_VERSION));
        assert_eq!(version.get(CKA_VALUE), Some(&[7u8; 32][..]));
        assert!(version.flag(CKA_KMS_IS_VERSION));
        assert_eq!(version.get(CKA_KMS_KEY_VERSION_ID), Some(&b"v1"[..]));
    }
}
