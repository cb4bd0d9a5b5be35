//! The spec's per-class attribute rules: which attributes a class has, which are required,
//! their defaults, which may change after creation and how, and which hold secret material.

use super::attribute::{Attributes, Template, bool_bytes, ulong_bytes};
use crate::error::{Error, Result};
use cryptoki_sys::*;

/// How a new object came to be; it decides `CKA_LOCAL`, `CKA_ALWAYS_SENSITIVE`,
/// `CKA_NEVER_EXTRACTABLE` and `CKA_KEY_GEN_MECHANISM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Created,
    Generated(CK_MECHANISM_TYPE),
    Unwrapped,
    Derived { base_always_sensitive: bool, base_never_extractable: bool },
}

/// How an attribute may change once the object exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// `C_SetAttributeValue` and `C_CopyObject` may change it.
    Free,
    /// Never changes after creation.
    Fixed,
    /// Only `C_CopyObject` may change it (`CKA_TOKEN`, `CKA_PRIVATE`, …).
    OnCopy,
    /// May only go from false to true (`CKA_SENSITIVE`, `CKA_WRAP_WITH_TRUSTED`).
    ToTrue,
    /// May only go from true to false (`CKA_EXTRACTABLE`, `CKA_COPYABLE`).
    ToFalse,
    /// Only the security officer may set it to true (`CKA_TRUSTED`).
    SoTrue,
    /// Computed by the token; never given by the caller.
    Computed,
    /// A KMS attribute of a managed key: given at creation and changed through the KMS rules.
    Kms,
}

/// The rule for `ty` on an object of `class` (and `key_type` for keys), or `None` when the
/// class has no such attribute.
pub fn rule(class: CK_OBJECT_CLASS, key_type: Option<CK_KEY_TYPE>, ty: CK_ATTRIBUTE_TYPE) -> Option<Change> {
    use Change::*;
    if crate::kms::managed::is_kms_attribute(ty) {
        // Keys may be managed keys; the KMS layer decides what their vendor attributes mean.
        let key = matches!(class, CKO_SECRET_KEY | CKO_PRIVATE_KEY | CKO_PUBLIC_KEY);
        let settable = crate::kms::managed::settable_at_creation(ty);
        return key.then_some(if settable { Kms } else { Computed });
    }
    let common = match ty {
        CKA_CLASS => Some(Fixed),
        CKA_TOKEN | CKA_PRIVATE | CKA_MODIFIABLE | CKA_DESTROYABLE => Some(OnCopy),
        CKA_COPYABLE => Some(ToFalse),
        CKA_LABEL => Some(Free),
        CKA_UNIQUE_ID => Some(Computed),
        _ => None,
    };
    if common.is_some() {
        return common;
    }
    match class {
        CKO_DATA => match ty {
            CKA_APPLICATION | CKA_OBJECT_ID | CKA_VALUE => Some(Free),
            _ => None,
        },
        CKO_CERTIFICATE => match ty {
            CKA_CERTIFICATE_TYPE => Some(Fixed),
            CKA_TRUSTED => Some(SoTrue),
            CKA_CERTIFICATE_CATEGORY
            | CKA_START_DATE
            | CKA_END_DATE
            | CKA_ID
            | CKA_ISSUER
            | CKA_SERIAL_NUMBER
            | CKA_URL
            | CKA_HASH_OF_SUBJECT_PUBLIC_KEY
            | CKA_HASH_OF_ISSUER_PUBLIC_KEY
            | CKA_JAVA_MIDP_SECURITY_DOMAIN
            | CKA_NAME_HASH_ALGORITHM
            | CKA_SUBJECT => Some(Free),
            // A check value the caller gives must match the one computed (checked on creation).
            CKA_VALUE | CKA_PUBLIC_KEY_INFO | CKA_CHECK_VALUE => Some(Fixed),
            _ => None,
        },
        CKO_PUBLIC_KEY | CKO_PRIVATE_KEY | CKO_SECRET_KEY => {
            let key = match ty {
                CKA_KEY_TYPE => Some(Fixed),
                CKA_ID | CKA_START_DATE | CKA_END_DATE | CKA_DERIVE | CKA_ALLOWED_MECHANISMS => Some(Free),
                CKA_LOCAL | CKA_KEY_GEN_MECHANISM => Some(Computed),
                _ => None,
            };
            if key.is_some() {
                return key;
            }
            let class_rule = match (class, ty) {
                (CKO_PUBLIC_KEY, CKA_SUBJECT | CKA_ENCRYPT | CKA_VERIFY | CKA_VERIFY_RECOVER | CKA_WRAP) => {
                    Some(Free)
                }
                (CKO_PUBLIC_KEY, CKA_TRUSTED) => Some(SoTrue),
                (CKO_PUBLIC_KEY, CKA_PUBLIC_KEY_INFO) => Some(Computed),
                (
                    CKO_PRIVATE_KEY,
                    CKA_SUBJECT
                    | CKA_DECRYPT
                    | CKA_SIGN
                    | CKA_SIGN_RECOVER
                    | CKA_UNWRAP
                    | CKA_ALWAYS_AUTHENTICATE,
                ) => Some(Free),
                (CKO_PRIVATE_KEY, CKA_PUBLIC_KEY_INFO) => Some(Computed),
                (
                    CKO_SECRET_KEY,
                    CKA_ENCRYPT | CKA_DECRYPT | CKA_SIGN | CKA_VERIFY | CKA_WRAP | CKA_UNWRAP,
                ) => Some(Free),
                (CKO_SECRET_KEY, CKA_TRUSTED) => Some(SoTrue),
                // Given by the caller, it must match the key (the key's family checks it).
                (CKO_SECRET_KEY, CKA_CHECK_VALUE) => Some(Fixed),
                (CKO_PRIVATE_KEY | CKO_SECRET_KEY, CKA_SENSITIVE | CKA_WRAP_WITH_TRUSTED) => Some(ToTrue),
                (CKO_PRIVATE_KEY | CKO_SECRET_KEY, CKA_EXTRACTABLE) => Some(ToFalse),
                (CKO_PRIVATE_KEY | CKO_SECRET_KEY, CKA_ALWAYS_SENSITIVE | CKA_NEVER_EXTRACTABLE) => {
                    Some(Computed)
                }
                _ => None,
            };
            if class_rule.is_some() {
                return class_rule;
            }
            key_material_rule(class, key_type?, ty)
        }
        _ => None,
    }
}

/// Attributes that hold a key's material or its description, per key type. They never change.
fn key_material_rule(class: CK_OBJECT_CLASS, key_type: CK_KEY_TYPE, ty: CK_ATTRIBUTE_TYPE) -> Option<Change> {
    use Change::*;
    let is_ec = crate::mechanism::is_ec_key_type(key_type);
    match (class, ty) {
        (CKO_SECRET_KEY, CKA_VALUE) => Some(Fixed),
        (CKO_SECRET_KEY, CKA_VALUE_LEN) => Some(Fixed),
        (CKO_PUBLIC_KEY, CKA_MODULUS | CKA_PUBLIC_EXPONENT) if key_type == CKK_RSA => Some(Fixed),
        (CKO_PUBLIC_KEY, CKA_MODULUS_BITS) if key_type == CKK_RSA => Some(Fixed),
        (
            CKO_PRIVATE_KEY,
            CKA_MODULUS | CKA_PUBLIC_EXPONENT | CKA_PRIVATE_EXPONENT | CKA_PRIME_1 | CKA_PRIME_2
            | CKA_EXPONENT_1 | CKA_EXPONENT_2 | CKA_COEFFICIENT,
        ) if key_type == CKK_RSA => Some(Fixed),
        (CKO_PUBLIC_KEY, CKA_EC_PARAMS | CKA_EC_POINT) if is_ec => Some(Fixed),
        (CKO_PRIVATE_KEY, CKA_EC_PARAMS | CKA_VALUE) if is_ec => Some(Fixed),
        _ => None,
    }
}

/// Whether `ty` holds secret key material on an object of `class`: never shown when the key is
/// sensitive or unextractable, and sealed under the token master key at rest.
pub fn is_secret(class: CK_OBJECT_CLASS, ty: CK_ATTRIBUTE_TYPE) -> bool {
    match class {
        CKO_SECRET_KEY => ty == CKA_VALUE,
        CKO_PRIVATE_KEY => matches!(
            ty,
            CKA_VALUE
                | CKA_PRIVATE_EXPONENT
                | CKA_PRIME_1
                | CKA_PRIME_2
                | CKA_EXPONENT_1
                | CKA_EXPONENT_2
                | CKA_COEFFICIENT
        ),
        _ => false,
    }
}

/// Whether `ty` is kept encrypted at rest: secret material, and the value of a private data
/// object.
pub fn sealed_at_rest(class: CK_OBJECT_CLASS, private: bool, ty: CK_ATTRIBUTE_TYPE) -> bool {
    is_secret(class, ty) || (class == CKO_DATA && private && ty == CKA_VALUE)
}

/// Attributes a generic tool may send that mean nothing for the object being made; they are
/// accepted and dropped rather than failing the call.
fn harmless_extra(class: CK_OBJECT_CLASS, key_type: Option<CK_KEY_TYPE>, ty: CK_ATTRIBUTE_TYPE) -> bool {
    match class {
        // pkcs11-tool and others put usage flags of both halves into both templates.
        CKO_PUBLIC_KEY => matches!(
            ty,
            CKA_DECRYPT
                | CKA_SIGN
                | CKA_UNWRAP
                | CKA_SENSITIVE
                | CKA_EXTRACTABLE
                | CKA_SIGN_RECOVER
                | CKA_ALWAYS_AUTHENTICATE
        ),
        CKO_PRIVATE_KEY => {
            matches!(ty, CKA_ENCRYPT | CKA_VERIFY | CKA_WRAP | CKA_VERIFY_RECOVER | CKA_TRUSTED)
                || (key_type == Some(CKK_RSA) && ty == CKA_MODULUS_BITS)
        }
        _ => false,
    }
}

/// Builds the attributes of a new object of `class` from the caller's template: refuses what the
/// class does not have or the caller may not set, fills defaults and computes the attributes
/// the token owns. Key material checks belong to the key's mechanism family.
pub fn new_object(
    template: &Template,
    class: CK_OBJECT_CLASS,
    key_type: Option<CK_KEY_TYPE>,
    origin: Origin,
    so_logged_in: bool,
) -> Result<Attributes> {
    template.validate()?;
    let mut attrs = Attributes::new();
    for (ty, value) in template.iter() {
        match rule(class, key_type, ty) {
            None if harmless_extra(class, key_type, ty) => continue,
            None => return Err(Error::AttributeTypeInvalid),
            Some(Change::Computed) => {
                // CKA_VALUE_LEN / CKA_MODULUS_BITS are inputs to generation; handled by the
                // mechanism family. Everything else computed is the token's to set.
                return Err(Error::AttributeReadOnly);
            }
            Some(Change::SoTrue) if value.first().is_some_and(|b| *b != CK_FALSE) && !so_logged_in => {
                return Err(Error::AttributeReadOnly);
            }
            Some(_) => attrs.set(ty, value.to_vec()),
        }
    }
    attrs.set_ulong(CKA_CLASS, class);
    if let Some(kt) = key_type {
        attrs.set_ulong(CKA_KEY_TYPE, kt);
    }
    let is_key = matches!(class, CKO_SECRET_KEY | CKO_PRIVATE_KEY);
    attrs.set_default(CKA_TOKEN, bool_bytes(false));
    attrs.set_default(CKA_PRIVATE, bool_bytes(is_key));
    attrs.set_default(CKA_MODIFIABLE, bool_bytes(true));
    attrs.set_default(CKA_COPYABLE, bool_bytes(true));
    attrs.set_default(CKA_DESTROYABLE, bool_bytes(true));
    attrs.set_default(CKA_LABEL, Vec::new());
    match class {
        CKO_DATA => {
            attrs.set_default(CKA_APPLICATION, Vec::new());
            attrs.set_default(CKA_OBJECT_ID, Vec::new());
            attrs.set_default(CKA_VALUE, Vec::new());
        }
        CKO_CERTIFICATE => certificate_defaults(&mut attrs)?,
        CKO_PUBLIC_KEY | CKO_PRIVATE_KEY | CKO_SECRET_KEY => {
            if key_type == Some(CKK_EC) {
                // EC keys sign and agree keys; they never encrypt or wrap (SM2 keys do both).
                for ty in [CKA_ENCRYPT, CKA_DECRYPT, CKA_WRAP, CKA_UNWRAP] {
                    attrs.set_default(ty, bool_bytes(false));
                }
            }
            key_defaults(&mut attrs, class, origin)
        }
        _ => return Err(Error::AttributeValueInvalid),
    }
    Ok(attrs)
}

fn certificate_defaults(attrs: &mut Attributes) -> Result<()> {
    match attrs.ulong(CKA_CERTIFICATE_TYPE) {
        None => return Err(Error::TemplateIncomplete),
        Some(CKC_X_509) => {}
        Some(_) => return Err(Error::AttributeValueInvalid),
    }
    if !attrs.contains(CKA_SUBJECT) {
        return Err(Error::TemplateIncomplete);
    }
    let value = attrs.get(CKA_VALUE).map(<[u8]>::to_vec);
    match value {
        Some(v) if !v.is_empty() => {
            let check = crate::engine::digest::sha1(&v)[..3].to_vec();
            if attrs.get(CKA_CHECK_VALUE).is_some_and(|given| given != check) {
                return Err(Error::AttributeValueInvalid);
            }
            attrs.set(CKA_CHECK_VALUE, check);
        }
        _ if attrs.get(CKA_URL).is_some_and(|u| !u.is_empty()) => {
            attrs.set_default(CKA_VALUE, Vec::new());
            attrs.set(CKA_CHECK_VALUE, Vec::new());
        }
        _ => return Err(Error::TemplateIncomplete),
    }
    attrs.set_default(CKA_TRUSTED, bool_bytes(false));
    attrs.set_default(CKA_CERTIFICATE_CATEGORY, ulong_bytes(CK_CERTIFICATE_CATEGORY_UNSPECIFIED));
    attrs.set_default(CKA_START_DATE, Vec::new());
    attrs.set_default(CKA_END_DATE, Vec::new());
    attrs.set_default(CKA_ID, Vec::new());
    attrs.set_default(CKA_ISSUER, Vec::new());
    attrs.set_default(CKA_SERIAL_NUMBER, Vec::new());
    attrs.set_default(CKA_URL, Vec::new());
    attrs.set_default(CKA_HASH_OF_SUBJECT_PUBLIC_KEY, Vec::new());
    attrs.set_default(CKA_HASH_OF_ISSUER_PUBLIC_KEY, Vec::new());
    attrs.set_default(CKA_JAVA_MIDP_SECURITY_DOMAIN, ulong_bytes(CK_SECURITY_DOMAIN_UNSPECIFIED));
    attrs.set_default(CKA_NAME_HASH_ALGORITHM, ulong_bytes(CKM_SHA_1));
    attrs.set_default(CKA_PUBLIC_KEY_INFO, Vec::new());
    Ok(())
}

fn key_defaults(attrs: &mut Attributes, class: CK_OBJECT_CLASS, origin: Origin) {
    attrs.set_default(CKA_ID, Vec::new());
    attrs.set_default(CKA_START_DATE, Vec::new());
    attrs.set_default(CKA_END_DATE, Vec::new());
    attrs.set_default(CKA_DERIVE, bool_bytes(false));
    attrs.set_default(CKA_ALLOWED_MECHANISMS, Vec::new());
    let (local, gen_mech) = match origin {
        Origin::Generated(m) => (true, m),
        _ => (false, CK_UNAVAILABLE_INFORMATION),
    };
    attrs.set_bool(CKA_LOCAL, local);
    attrs.set_ulong(CKA_KEY_GEN_MECHANISM, gen_mech);
    match class {
        CKO_PUBLIC_KEY => {
            attrs.set_default(CKA_SUBJECT, Vec::new());
            attrs.set_default(CKA_ENCRYPT, bool_bytes(true));
            attrs.set_default(CKA_VERIFY, bool_bytes(true));
            attrs.set_default(CKA_VERIFY_RECOVER, bool_bytes(false));
            attrs.set_default(CKA_WRAP, bool_bytes(true));
            attrs.set_default(CKA_TRUSTED, bool_bytes(false));
        }
        CKO_PRIVATE_KEY | CKO_SECRET_KEY => {
            if class == CKO_PRIVATE_KEY {
                attrs.set_default(CKA_SUBJECT, Vec::new());
                attrs.set_default(CKA_SIGN_RECOVER, bool_bytes(false));
                attrs.set_default(CKA_ALWAYS_AUTHENTICATE, bool_bytes(false));
            } else {
                attrs.set_default(CKA_ENCRYPT, bool_bytes(true));
                attrs.set_default(CKA_VERIFY, bool_bytes(true));
                attrs.set_default(CKA_WRAP, bool_bytes(true));
                attrs.set_default(CKA_TRUSTED, bool_bytes(false));
            }
            attrs.set_default(CKA_DECRYPT, bool_bytes(true));
            attrs.set_default(CKA_SIGN, bool_bytes(true));
            attrs.set_default(CKA_UNWRAP, bool_bytes(true));
            attrs.set_default(CKA_SENSITIVE, bool_bytes(true));
            attrs.set_default(CKA_EXTRACTABLE, bool_bytes(false));
            attrs.set_default(CKA_WRAP_WITH_TRUSTED, bool_bytes(false));
            let sensitive = attrs.flag(CKA_SENSITIVE);
            let extractable = attrs.flag(CKA_EXTRACTABLE);
            let (always_sensitive, never_extractable) = match origin {
                Origin::Generated(_) => (sensitive, !extractable),
                Origin::Derived { base_always_sensitive, base_never_extractable } => {
                    (sensitive && base_always_sensitive, !extractable && base_never_extractable)
                }
                Origin::Created | Origin::Unwrapped => (false, false),
            };
            attrs.set_bool(CKA_ALWAYS_SENSITIVE, always_sensitive);
            attrs.set_bool(CKA_NEVER_EXTRACTABLE, never_extractable);
        }
        _ => {}
    }
}

/// Checks one attribute change of `C_SetAttributeValue` (`copy` false) or `C_CopyObject`
/// (`copy` true) against the object's current attributes.
pub fn check_change(
    current: &Attributes,
    ty: CK_ATTRIBUTE_TYPE,
    value: &[u8],
    copy: bool,
    so_logged_in: bool,
) -> Result<()> {
    let class = current.ulong(CKA_CLASS).unwrap_or(CK_UNAVAILABLE_INFORMATION);
    let key_type = current.ulong(CKA_KEY_TYPE);
    super::attribute::check_value(ty, value)?;
    let new_true = || value.first().is_some_and(|b| *b != CK_FALSE);
    let old_true = current.flag(ty);
    match rule(class, key_type, ty) {
        None => Err(Error::AttributeTypeInvalid),
        Some(Change::Free) => Ok(()),
        Some(Change::OnCopy) if copy => {
            // A copy may make an object less modifiable, never more.
            if ty == CKA_MODIFIABLE && new_true() && !old_true {
                Err(Error::AttributeReadOnly)
            } else {
                Ok(())
            }
        }
        Some(Change::ToTrue) if new_true() || !old_true => Ok(()),
        Some(Change::ToFalse) if !new_true() || old_true => Ok(()),
        Some(Change::SoTrue) if !new_true() || so_logged_in => Ok(()),
        // Setting a fixed attribute to the value it has is harmless, except for secret material,
        // where the answer would tell whether a guess is right.
        Some(_) if current.get(ty) == Some(value) && !is_secret(class, ty) => Ok(()),
        Some(_) => Err(Error::AttributeReadOnly),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> Template {
        Template::new()
    }

    #[test]
    fn secret_key_defaults() {
        let a = new_object(&t(), CKO_SECRET_KEY, Some(CKK_AES), Origin::Generated(CKM_AES_KEY_GEN), false)
            .unwrap();
        assert!(a.flag(CKA_PRIVATE));
        assert!(a.flag(CKA_SENSITIVE));
        assert!(!a.flag(CKA_EXTRACTABLE));
        assert!(a.flag(CKA_ALWAYS_SENSITIVE));
        assert!(a.flag(CKA_NEVER_EXTRACTABLE));
        assert!(a.flag(CKA_LOCAL));
        assert_eq!(a.ulong(CKA_KEY_GEN_MECHANISM), Some(CKM_AES_KEY_GEN));
    }

    #[test]
    fn imported_keys_are_not_local() {
        let a = new_object(&t(), CKO_SECRET_KEY, Some(CKK_AES), Origin::Created, false).unwrap();
        assert!(!a.flag(CKA_LOCAL));
        assert!(!a.flag(CKA_ALWAYS_SENSITIVE));
        assert_eq!(a.ulong(CKA_KEY_GEN_MECHANISM), Some(CK_UNAVAILABLE_INFORMATION));
    }

    #[test]
    fn token_owned_attributes_are_read_only() {
        for ty in [CKA_LOCAL, CKA_UNIQUE_ID, CKA_ALWAYS_SENSITIVE, CKA_KEY_GEN_MECHANISM] {
            let tpl = t().with(
                ty,
                if ty == CKA_UNIQUE_ID {
                    b"x".to_vec()
                } else if ty == CKA_KEY_GEN_MECHANISM {
                    ulong_bytes(0)
                } else {
                    bool_bytes(true)
                },
            );
            assert_eq!(
                new_object(&tpl, CKO_SECRET_KEY, Some(CKK_AES), Origin::Created, false).unwrap_err(),
                Error::AttributeReadOnly,
                "{ty:#x}"
            );
        }
    }

    #[test]
    fn foreign_attribute_is_invalid() {
        let tpl = t().with(CKA_MODULUS, vec![1]);
        assert_eq!(
            new_object(&tpl, CKO_SECRET_KEY, Some(CKK_AES), Origin::Created, false).unwrap_err(),
            Error::AttributeTypeInvalid
        );
    }

    #[test]
    fn trusted_needs_the_so() {
        let tpl = t().with(CKA_TRUSTED, bool_bytes(true));
        assert_eq!(
            new_object(&tpl, CKO_PUBLIC_KEY, Some(CKK_RSA), Origin::Created, false).unwrap_err(),
            Error::AttributeReadOnly
        );
        assert!(new_object(&tpl, CKO_PUBLIC_KEY, Some(CKK_RSA), Origin::Created, true).is_ok());
    }

    #[test]
    fn certificate_needs_type_subject_and_value() {
        let base = t().with(CKA_CERTIFICATE_TYPE, ulong_bytes(CKC_X_509));
        assert_eq!(
            new_object(&base, CKO_CERTIFICATE, None, Origin::Created, false).unwrap_err(),
            Error::TemplateIncomplete
        );
        let full = base.with(CKA_SUBJECT, b"s".to_vec()).with(CKA_VALUE, b"cert".to_vec());
        let a = new_object(&full, CKO_CERTIFICATE, None, Origin::Created, false).unwrap();
        assert_eq!(a.get(CKA_CHECK_VALUE).unwrap().len(), 3);
        assert!(!a.flag(CKA_PRIVATE));
    }

    #[test]
    fn sensitive_only_goes_up_and_extractable_only_down() {
        let a = new_object(
            &t().with(CKA_SENSITIVE, bool_bytes(false)).with(CKA_EXTRACTABLE, bool_bytes(true)),
            CKO_SECRET_KEY,
            Some(CKK_AES),
            Origin::Created,
            false,
        )
        .unwrap();
        assert!(check_change(&a, CKA_SENSITIVE, &[1], false, false).is_ok());
        assert!(check_change(&a, CKA_EXTRACTABLE, &[0], false, false).is_ok());
        let b = new_object(&t(), CKO_SECRET_KEY, Some(CKK_AES), Origin::Created, false).unwrap();
        assert_eq!(check_change(&b, CKA_SENSITIVE, &[0], false, false), Err(Error::AttributeReadOnly));
        assert_eq!(check_change(&b, CKA_EXTRACTABLE, &[1], false, false), Err(Error::AttributeReadOnly));
        assert_eq!(check_change(&b, CKA_TOKEN, &[1], false, false), Err(Error::AttributeReadOnly));
        assert!(check_change(&b, CKA_TOKEN, &[1], true, false).is_ok());
        assert_eq!(check_change(&b, CKA_VALUE, &[1; 16], false, false), Err(Error::AttributeReadOnly));
        assert!(check_change(&b, CKA_LABEL, b"new", false, false).is_ok());
    }
}
