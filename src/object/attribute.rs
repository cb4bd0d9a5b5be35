//! Attribute values as PKCS#11 lays them out in memory, and the typed view of each standard
//! attribute. Values are kept in the caller's native layout (`CK_BBOOL` one byte, `CK_ULONG`
//! eight), so `C_GetAttributeValue` is a copy and templates compare byte for byte.

use crate::error::{Error, Result};
use cryptoki_sys::*;
use std::collections::BTreeMap;
use zeroize::Zeroizing;

/// How an attribute's value is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Ulong,
    Bytes,
    /// `CK_DATE`: 8 ASCII digits, or empty.
    Date,
    /// An array of `CK_MECHANISM_TYPE`.
    MechanismList,
}

/// The layout of every attribute this token understands; `None` means the attribute is unknown
/// here and a template naming it fails with `CKR_ATTRIBUTE_TYPE_INVALID`.
pub fn kind_of(ty: CK_ATTRIBUTE_TYPE) -> Option<Kind> {
    use Kind::*;
    Some(match ty {
        CKA_TOKEN
        | CKA_PRIVATE
        | CKA_MODIFIABLE
        | CKA_COPYABLE
        | CKA_DESTROYABLE
        | CKA_TRUSTED
        | CKA_SENSITIVE
        | CKA_ENCRYPT
        | CKA_DECRYPT
        | CKA_WRAP
        | CKA_UNWRAP
        | CKA_SIGN
        | CKA_SIGN_RECOVER
        | CKA_VERIFY
        | CKA_VERIFY_RECOVER
        | CKA_DERIVE
        | CKA_EXTRACTABLE
        | CKA_LOCAL
        | CKA_NEVER_EXTRACTABLE
        | CKA_ALWAYS_SENSITIVE
        | CKA_ALWAYS_AUTHENTICATE
        | CKA_WRAP_WITH_TRUSTED => Bool,
        CKA_CLASS
        | CKA_CERTIFICATE_TYPE
        | CKA_CERTIFICATE_CATEGORY
        | CKA_JAVA_MIDP_SECURITY_DOMAIN
        | CKA_NAME_HASH_ALGORITHM
        | CKA_KEY_TYPE
        | CKA_MODULUS_BITS
        | CKA_VALUE_LEN
        | CKA_KEY_GEN_MECHANISM
        | CKA_VALUE_BITS => Ulong,
        CKA_LABEL
        | CKA_UNIQUE_ID
        | CKA_APPLICATION
        | CKA_VALUE
        | CKA_OBJECT_ID
        | CKA_ISSUER
        | CKA_SERIAL_NUMBER
        | CKA_URL
        | CKA_HASH_OF_SUBJECT_PUBLIC_KEY
        | CKA_HASH_OF_ISSUER_PUBLIC_KEY
        | CKA_CHECK_VALUE
        | CKA_SUBJECT
        | CKA_ID
        | CKA_MODULUS
        | CKA_PUBLIC_EXPONENT
        | CKA_PRIVATE_EXPONENT
        | CKA_PRIME_1
        | CKA_PRIME_2
        | CKA_EXPONENT_1
        | CKA_EXPONENT_2
        | CKA_COEFFICIENT
        | CKA_PUBLIC_KEY_INFO
        | CKA_EC_PARAMS
        | CKA_EC_POINT => Bytes,
        CKA_START_DATE | CKA_END_DATE => Date,
        CKA_ALLOWED_MECHANISMS => MechanismList,
        ty => return kms_kind_of(ty),
    })
}

/// The layout of the KMS vendor attributes (`include/kms_pkcs11.h`).
fn kms_kind_of(ty: CK_ATTRIBUTE_TYPE) -> Option<Kind> {
    use crate::vendor::*;
    use Kind::*;
    Some(match ty {
        CKA_KMS_KEY_ID
        | CKA_KMS_KEY_VERSION_ID
        | CKA_KMS_PRIMARY_VERSION_ID
        | CKA_KMS_KEY_SPEC
        | CKA_KMS_KEY_USAGE
        | CKA_KMS_KEY_STATE
        | CKA_KMS_ORIGIN
        | CKA_KMS_TAGS
        | CKA_KMS_ALIASES
        | CKA_KMS_DESCRIPTION
        | CKA_KMS_PROTECTION_LEVEL
        | CKA_KMS_IMPORT_KEY_ID
        | CKA_KMS_IMPORT_TOKEN
        | CKA_KMS_WRAPPING_ALGORITHM => Bytes,
        CKA_KMS_ROTATION_INTERVAL
        | CKA_KMS_NEXT_ROTATION
        | CKA_KMS_DELETION_DATE
        | CKA_KMS_CREATION_DATE
        | CKA_KMS_LAST_ROTATION
        | CKA_KMS_MATERIAL_EXPIRY
        | CKA_KMS_IMPORT_EXPIRY => Ulong,
        CKA_KMS_DELETION_PROTECTION | CKA_KMS_IS_VERSION => Bool,
        _ => return None,
    })
}

/// Encodes a `CK_BBOOL`.
pub fn bool_bytes(v: bool) -> Vec<u8> {
    vec![if v { CK_TRUE } else { CK_FALSE }]
}

/// Encodes a `CK_ULONG` in native layout.
pub fn ulong_bytes(v: CK_ULONG) -> Vec<u8> {
    v.to_ne_bytes().to_vec()
}

/// Checks that a value has the layout its attribute requires.
pub fn check_value(ty: CK_ATTRIBUTE_TYPE, value: &[u8]) -> Result<Kind> {
    let kind = kind_of(ty).ok_or(Error::AttributeTypeInvalid)?;
    let ok = match kind {
        Kind::Bool => value.len() == 1,
        Kind::Ulong => value.len() == std::mem::size_of::<CK_ULONG>(),
        Kind::Bytes => true,
        Kind::Date => value.is_empty() || (value.len() == 8 && value.iter().all(u8::is_ascii_digit)),
        Kind::MechanismList => value.len().is_multiple_of(std::mem::size_of::<CK_ULONG>()),
    };
    if ok { Ok(kind) } else { Err(Error::AttributeValueInvalid) }
}

/// A caller's template: attribute types with their values, in the caller's order.
#[derive(Clone, Default)]
pub struct Template(pub Vec<(CK_ATTRIBUTE_TYPE, Zeroizing<Vec<u8>>)>);

impl Template {
    pub fn new() -> Template {
        Template(Vec::new())
    }

    pub fn push(&mut self, ty: CK_ATTRIBUTE_TYPE, value: Vec<u8>) {
        self.0.push((ty, Zeroizing::new(value)));
    }

    pub fn with(mut self, ty: CK_ATTRIBUTE_TYPE, value: Vec<u8>) -> Template {
        self.push(ty, value);
        self
    }

    pub fn get(&self, ty: CK_ATTRIBUTE_TYPE) -> Option<&[u8]> {
        self.0.iter().find(|(t, _)| *t == ty).map(|(_, v)| v.as_slice())
    }

    pub fn get_bool(&self, ty: CK_ATTRIBUTE_TYPE) -> Result<Option<bool>> {
        self.get(ty).map(decode_bool).transpose()
    }

    pub fn get_ulong(&self, ty: CK_ATTRIBUTE_TYPE) -> Result<Option<CK_ULONG>> {
        self.get(ty).map(decode_ulong).transpose()
    }

    pub fn contains(&self, ty: CK_ATTRIBUTE_TYPE) -> bool {
        self.get(ty).is_some()
    }

    pub fn iter(&self) -> impl Iterator<Item = (CK_ATTRIBUTE_TYPE, &[u8])> {
        self.0.iter().map(|(t, v)| (*t, v.as_slice()))
    }

    /// The template without any value of `ty`.
    pub fn without(&self, ty: CK_ATTRIBUTE_TYPE) -> Template {
        Template(self.0.iter().filter(|(t, _)| *t != ty).cloned().collect())
    }

    /// Checks every value's layout and that an attribute given twice is given the same value.
    pub fn validate(&self) -> Result<()> {
        for (i, (ty, value)) in self.0.iter().enumerate() {
            check_value(*ty, value)?;
            if self.0[..i].iter().any(|(t, v)| t == ty && v != value) {
                return Err(Error::TemplateInconsistent);
            }
        }
        Ok(())
    }
}

pub fn decode_bool(v: &[u8]) -> Result<bool> {
    match v {
        [b] => Ok(*b != CK_FALSE),
        _ => Err(Error::AttributeValueInvalid),
    }
}

pub fn decode_ulong(v: &[u8]) -> Result<CK_ULONG> {
    v.try_into().map(CK_ULONG::from_ne_bytes).map_err(|_| Error::AttributeValueInvalid)
}

/// An object's attributes, one value per type.
#[derive(Clone, Default)]
pub struct Attributes(BTreeMap<CK_ATTRIBUTE_TYPE, Zeroizing<Vec<u8>>>);

impl Attributes {
    pub fn new() -> Attributes {
        Attributes(BTreeMap::new())
    }

    pub fn get(&self, ty: CK_ATTRIBUTE_TYPE) -> Option<&[u8]> {
        self.0.get(&ty).map(|v| v.as_slice())
    }

    pub fn bool(&self, ty: CK_ATTRIBUTE_TYPE) -> Option<bool> {
        self.get(ty).and_then(|v| decode_bool(v).ok())
    }

    /// A boolean attribute, `false` when absent.
    pub fn flag(&self, ty: CK_ATTRIBUTE_TYPE) -> bool {
        self.bool(ty).unwrap_or(false)
    }

    pub fn ulong(&self, ty: CK_ATTRIBUTE_TYPE) -> Option<CK_ULONG> {
        self.get(ty).and_then(|v| decode_ulong(v).ok())
    }

    pub fn contains(&self, ty: CK_ATTRIBUTE_TYPE) -> bool {
        self.0.contains_key(&ty)
    }

    pub fn set(&mut self, ty: CK_ATTRIBUTE_TYPE, value: Vec<u8>) {
        self.0.insert(ty, Zeroizing::new(value));
    }

    pub fn set_bool(&mut self, ty: CK_ATTRIBUTE_TYPE, v: bool) {
        self.set(ty, bool_bytes(v));
    }

    pub fn set_ulong(&mut self, ty: CK_ATTRIBUTE_TYPE, v: CK_ULONG) {
        self.set(ty, ulong_bytes(v));
    }

    /// Sets a value only where the attribute is not yet present.
    pub fn set_default(&mut self, ty: CK_ATTRIBUTE_TYPE, value: Vec<u8>) {
        self.0.entry(ty).or_insert_with(|| Zeroizing::new(value));
    }

    pub fn remove(&mut self, ty: CK_ATTRIBUTE_TYPE) -> Option<Zeroizing<Vec<u8>>> {
        self.0.remove(&ty)
    }

    pub fn iter(&self) -> impl Iterator<Item = (CK_ATTRIBUTE_TYPE, &[u8])> {
        self.0.iter().map(|(t, v)| (*t, v.as_slice()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Moves the attributes selected by `pick` into a new set.
    pub fn split_off(&mut self, pick: impl Fn(CK_ATTRIBUTE_TYPE) -> bool) -> Attributes {
        let keys: Vec<_> = self.0.keys().copied().filter(|t| pick(*t)).collect();
        let mut out = Attributes::new();
        for k in keys {
            if let Some(v) = self.0.remove(&k) {
                out.0.insert(k, v);
            }
        }
        out
    }

    pub fn extend(&mut self, other: Attributes) {
        self.0.extend(other.0);
    }
}

impl std::fmt::Debug for Attributes {
    // Values may be key material: only the types are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys().map(|k| format!("{k:#x}"))).finish()
    }
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.iter().map(|(k, _)| format!("{k:#x}"))).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_for_layout() {
        assert_eq!(check_value(CKA_TOKEN, &[1]), Ok(Kind::Bool));
        assert_eq!(check_value(CKA_TOKEN, &[1, 0]), Err(Error::AttributeValueInvalid));
        assert_eq!(check_value(CKA_CLASS, &[0; 4]), Err(Error::AttributeValueInvalid));
        assert_eq!(check_value(CKA_START_DATE, b"2026112"), Err(Error::AttributeValueInvalid));
        assert_eq!(check_value(CKA_START_DATE, b"20261129"), Ok(Kind::Date));
        assert_eq!(check_value(0x7fff_0000, &[]), Err(Error::AttributeTypeInvalid));
    }

    #[test]
    fn template_rejects_conflicting_duplicates() {
        let t = Template::new().with(CKA_TOKEN, bool_bytes(true)).with(CKA_TOKEN, bool_bytes(true));
        assert!(t.validate().is_ok());
        let t = t.with(CKA_TOKEN, bool_bytes(false));
        assert_eq!(t.validate(), Err(Error::TemplateInconsistent));
    }

    #[test]
    fn split_off_moves_selected() {
        let mut a = Attributes::new();
        a.set_bool(CKA_TOKEN, true);
        a.set(CKA_VALUE, vec![1, 2, 3]);
        let s = a.split_off(|t| t == CKA_VALUE);
        assert_eq!(s.get(CKA_VALUE), Some(&[1u8, 2, 3][..]));
        assert!(!a.contains(CKA_VALUE));
    }
}
