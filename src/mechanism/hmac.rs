//! Generic secrets and HMAC: `CKM_GENERIC_SECRET_KEY_GEN`, `CKM_SHA_1_HMAC`,
//! `CKM_SHA224_HMAC`, `CKM_SHA256_HMAC`, `CKM_SHA384_HMAC`, `CKM_SHA512_HMAC` and their
//! `_GENERAL` forms (`CK_MAC_GENERAL_PARAMS` = tag length in bytes).

use super::{Generated, Info, LoadedKey, Mechanism, Param, Signer, Verifier, value_len};
use crate::engine::digest::Algorithm;
use crate::engine::hmac::{Mac, tags_equal};
use crate::error::{Error, Result};
use crate::object::attribute::{Attributes, Template};
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Largest generic secret, in bytes.
const MAX_SECRET: usize = 512;

const MAC: CK_FLAGS = CKF_SIGN | CKF_VERIFY;

/// HMAC key sizes are in bytes; generic secret generation sizes in bits, as the spec says.
pub const MECHANISMS: &[(CK_MECHANISM_TYPE, Info)] = &[
    (CKM_GENERIC_SECRET_KEY_GEN, Info::new(8, MAX_SECRET as u64 * 8, CKF_GENERATE)),
    (CKM_SHA_1_HMAC, Info::new(1, MAX_SECRET as u64, MAC)),
    (CKM_SHA_1_HMAC_GENERAL, Info::new(1, MAX_SECRET as u64, MAC)),
    (CKM_SHA224_HMAC, Info::new(1, MAX_SECRET as u64, MAC)),
    (CKM_SHA224_HMAC_GENERAL, Info::new(1, MAX_SECRET as u64, MAC)),
    (CKM_SHA256_HMAC, Info::new(1, MAX_SECRET as u64, MAC)),
    (CKM_SHA256_HMAC_GENERAL, Info::new(1, MAX_SECRET as u64, MAC)),
    (CKM_SHA384_HMAC, Info::new(1, MAX_SECRET as u64, MAC)),
    (CKM_SHA384_HMAC_GENERAL, Info::new(1, MAX_SECRET as u64, MAC)),
    (CKM_SHA512_HMAC, Info::new(1, MAX_SECRET as u64, MAC)),
    (CKM_SHA512_HMAC_GENERAL, Info::new(1, MAX_SECRET as u64, MAC)),
];

/// Key types served as raw secrets.
pub fn is_secret_key_type(kt: CK_KEY_TYPE) -> bool {
    matches!(
        kt,
        CKK_GENERIC_SECRET
            | CKK_SHA_1_HMAC
            | CKK_SHA224_HMAC
            | CKK_SHA256_HMAC
            | CKK_SHA384_HMAC
            | CKK_SHA512_HMAC
    )
}

/// The hash of an HMAC mechanism and whether it is a `_GENERAL` form.
fn hmac_of(ty: CK_MECHANISM_TYPE) -> Result<(Algorithm, bool)> {
    Ok(match ty {
        CKM_SHA_1_HMAC => (Algorithm::Sha1, false),
        CKM_SHA_1_HMAC_GENERAL => (Algorithm::Sha1, true),
        CKM_SHA224_HMAC => (Algorithm::Sha224, false),
        CKM_SHA224_HMAC_GENERAL => (Algorithm::Sha224, true),
        CKM_SHA256_HMAC => (Algorithm::Sha256, false),
        CKM_SHA256_HMAC_GENERAL => (Algorithm::Sha256, true),
        CKM_SHA384_HMAC => (Algorithm::Sha384, false),
        CKM_SHA384_HMAC_GENERAL => (Algorithm::Sha384, true),
        CKM_SHA512_HMAC => (Algorithm::Sha512, false),
        CKM_SHA512_HMAC_GENERAL => (Algorithm::Sha512, true),
        _ => return Err(Error::MechanismInvalid),
    })
}

struct Hmac {
    key: Arc<LoadedKey>,
    alg: Algorithm,
    tag_len: usize,
    mac: Option<Mac>,
}

impl Hmac {
    fn init(mech: &Mechanism, key: &Arc<LoadedKey>) -> Result<Hmac> {
        let (alg, general) = hmac_of(mech.ty)?;
        let tag_len = match (&mech.param, general) {
            (Param::None, false) => alg.len(),
            (Param::Ulong(n), true) if (1..=alg.len() as u64).contains(n) => *n as usize,
            _ => return Err(Error::MechanismParamInvalid),
        };
        match &**key {
            LoadedKey::Generic { key_type, .. } => check_key_type(mech.ty, *key_type)?,
            _ => return Err(Error::KeyTypeInconsistent),
        }
        Ok(Hmac { key: key.clone(), alg, tag_len, mac: None })
    }

    fn mac(&mut self) -> &mut Mac {
        let (alg, key) = (self.alg, &self.key);
        self.mac.get_or_insert_with(|| Mac::new(alg, key.secret_bytes().unwrap_or_default()))
    }

    fn tag(&mut self) -> crate::engine::digest::Output {
        let mac = self
            .mac
            .take()
            .unwrap_or_else(|| Mac::new(self.alg, self.key.secret_bytes().unwrap_or_default()));
        let mut tag = mac.finish();
        let full = tag.to_vec();
        tag.set(&full[..self.tag_len]);
        tag
    }
}

impl Signer for Hmac {
    fn len(&self) -> usize {
        self.tag_len
    }
    fn sign(&mut self, data: &[u8], out: &mut [u8]) -> Result<usize> {
        self.mac().update(data);
        Signer::finish(self, out)
    }
    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.mac().update(data);
        Ok(())
    }
    fn finish(&mut self, out: &mut [u8]) -> Result<usize> {
        let tag = self.tag();
        out[..tag.len()].copy_from_slice(&tag);
        Ok(tag.len())
    }
}

impl Verifier for Hmac {
    fn verify(&mut self, data: &[u8], signature: &[u8]) -> Result<()> {
        self.mac().update(data);
        Verifier::finish(self, signature)
    }
    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.mac().update(data);
        Ok(())
    }
    fn finish(&mut self, signature: &[u8]) -> Result<()> {
        if signature.len() != self.tag_len {
            return Err(Error::SignatureLenRange);
        }
        let tag = self.tag();
        if tags_equal(&tag, signature) { Ok(()) } else { Err(Error::SignatureInvalid) }
    }
}

pub fn sign_init(mech: &Mechanism, key: &Arc<LoadedKey>) -> Result<Box<dyn Signer>> {
    Ok(Box::new(Hmac::init(mech, key)?))
}

pub fn verify_init(mech: &Mechanism, key: &Arc<LoadedKey>) -> Result<Box<dyn Verifier>> {
    Ok(Box::new(Hmac::init(mech, key)?))
}

/// Checks that a key of type `kt` may be used with HMAC mechanism `ty`.
fn check_key_type(ty: CK_MECHANISM_TYPE, kt: CK_KEY_TYPE) -> Result<()> {
    let (alg, _) = hmac_of(ty)?;
    let kt_hash = match kt {
        CKK_GENERIC_SECRET => None,
        CKK_SHA_1_HMAC => Some(Algorithm::Sha1),
        CKK_SHA224_HMAC => Some(Algorithm::Sha224),
        CKK_SHA256_HMAC => Some(Algorithm::Sha256),
        CKK_SHA384_HMAC => Some(Algorithm::Sha384),
        CKK_SHA512_HMAC => Some(Algorithm::Sha512),
        _ => return Err(Error::KeyTypeInconsistent),
    };
    // Generic secrets fit every HMAC; an HMAC key type only its own hash.
    if kt_hash.is_none_or(|h| h == alg) { Ok(()) } else { Err(Error::KeyTypeInconsistent) }
}

pub fn generate(mech: &Mechanism, template: &Template) -> Result<Generated> {
    if mech.ty != CKM_GENERIC_SECRET_KEY_GEN {
        return Err(Error::MechanismInvalid);
    }
    if mech.param != Param::None {
        return Err(Error::MechanismParamInvalid);
    }
    let key_type = template.get_ulong(CKA_KEY_TYPE)?.unwrap_or(CKK_GENERIC_SECRET);
    if !is_secret_key_type(key_type) {
        return Err(Error::TemplateInconsistent);
    }
    let len = value_len(template)?.ok_or(Error::TemplateIncomplete)?;
    // No key has zero bytes (an invalid value); longer than this token keeps is out of range.
    if len == 0 {
        return Err(Error::AttributeValueInvalid);
    }
    if len > MAX_SECRET {
        return Err(Error::KeySizeRange);
    }
    let mut value = Zeroizing::new(vec![0u8; len]);
    crate::engine::rand::fill(&mut value).map_err(|_| Error::FunctionFailed)?;
    let mut attrs = Attributes::new();
    attrs.set(CKA_CHECK_VALUE, check_value(&value));
    attrs.set(CKA_VALUE, value.to_vec());
    attrs.set_ulong(CKA_VALUE_LEN, len as CK_ULONG);
    Ok(Generated { key_type, attrs })
}

/// `CKA_CHECK_VALUE` of a generic secret: the first three bytes of the SHA-1 of its value
/// (PKCS#11 3.0 §6.8).
fn check_value(value: &[u8]) -> Vec<u8> {
    crate::engine::digest::sha1(value)[..3].to_vec()
}

pub fn import(class: CK_OBJECT_CLASS, _kt: CK_KEY_TYPE, attrs: &mut Attributes) -> Result<()> {
    if class != CKO_SECRET_KEY {
        return Err(Error::TemplateInconsistent);
    }
    let len = attrs.get(CKA_VALUE).ok_or(Error::TemplateIncomplete)?.len();
    if len == 0 || len > MAX_SECRET {
        return Err(Error::AttributeValueInvalid);
    }
    match attrs.ulong(CKA_VALUE_LEN) {
        Some(l) if l as usize != len => return Err(Error::TemplateInconsistent),
        _ => attrs.set_ulong(CKA_VALUE_LEN, len as CK_ULONG),
    }
    let check = check_value(attrs.get(CKA_VALUE).unwrap_or_default());
    if attrs.get(CKA_CHECK_VALUE).is_some_and(|given| given != check) {
        return Err(Error::AttributeValueInvalid);
    }
    attrs.set(CKA_CHECK_VALUE, check);
    Ok(())
}

pub fn load(class: CK_OBJECT_CLASS, key_type: CK_KEY_TYPE, attrs: &Attributes) -> Result<LoadedKey> {
    if class != CKO_SECRET_KEY {
        return Err(Error::KeyTypeInconsistent);
    }
    let value = attrs.get(CKA_VALUE).ok_or(Error::GeneralError)?;
    Ok(LoadedKey::Generic { key_type, value: Zeroizing::new(value.to_vec()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(bytes: &[u8]) -> Arc<LoadedKey> {
        Arc::new(LoadedKey::Generic { key_type: CKK_GENERIC_SECRET, value: Zeroizing::new(bytes.to_vec()) })
    }

    #[test]
    fn rfc_4231_case_2_sign_and_verify() {
        let k = key(b"Jefe");
        let mut s = sign_init(&Mechanism::new(CKM_SHA256_HMAC), &k).unwrap();
        let mut tag = [0u8; 32];
        assert_eq!(s.sign(b"what do ya want for nothing?", &mut tag).unwrap(), 32);
        assert_eq!(tag[..4], [0x5b, 0xdc, 0xc1, 0x46]);
        let mut v = verify_init(&Mechanism::new(CKM_SHA256_HMAC), &k).unwrap();
        v.update(b"what do ya want ").unwrap();
        v.update(b"for nothing?").unwrap();
        assert!(v.finish(&tag).is_ok());
        let mut v = verify_init(&Mechanism::new(CKM_SHA256_HMAC), &k).unwrap();
        assert_eq!(v.verify(b"other", &tag), Err(Error::SignatureInvalid));
        let mut v = verify_init(&Mechanism::new(CKM_SHA256_HMAC), &k).unwrap();
        assert_eq!(v.verify(b"other", &tag[..31]), Err(Error::SignatureLenRange));
    }

    #[test]
    fn general_truncates() {
        let k = key(b"Jefe");
        let mut s = sign_init(&Mechanism::with(CKM_SHA256_HMAC_GENERAL, Param::Ulong(16)), &k).unwrap();
        assert_eq!(s.len(), 16);
        let mut tag = [0u8; 16];
        s.sign(b"what do ya want for nothing?", &mut tag).unwrap();
        assert_eq!(tag[..4], [0x5b, 0xdc, 0xc1, 0x46]);
        assert_eq!(
            sign_init(&Mechanism::with(CKM_SHA256_HMAC_GENERAL, Param::Ulong(33)), &k).err(),
            Some(Error::MechanismParamInvalid)
        );
        assert_eq!(
            sign_init(&Mechanism::with(CKM_SHA256_HMAC, Param::Ulong(16)), &k).err(),
            Some(Error::MechanismParamInvalid)
        );
    }

    #[test]
    fn generation_needs_a_length() {
        let m = Mechanism::new(CKM_GENERIC_SECRET_KEY_GEN);
        assert_eq!(generate(&m, &Template::new()).err(), Some(Error::TemplateIncomplete));
        let g = generate(&m, &Template::new().with(CKA_VALUE_LEN, crate::object::attribute::ulong_bytes(48)))
            .unwrap();
        assert_eq!(g.attrs.get(CKA_VALUE).unwrap().len(), 48);
        assert_eq!(g.key_type, CKK_GENERIC_SECRET);
    }

    #[test]
    fn key_type_must_fit_the_hash() {
        assert!(check_key_type(CKM_SHA256_HMAC, CKK_GENERIC_SECRET).is_ok());
        assert!(check_key_type(CKM_SHA256_HMAC, CKK_SHA256_HMAC).is_ok());
        assert_eq!(check_key_type(CKM_SHA256_HMAC, CKK_SHA512_HMAC), Err(Error::KeyTypeInconsistent));
        assert_eq!(check_key_type(CKM_SHA256_HMAC, CKK_AES), Err(Error::KeyTypeInconsistent));
    }
}
