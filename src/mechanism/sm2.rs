//! SM2 (GB/T 32918) on `CKK_SM2` keys, which are EC keys on the SM2 curve (`CKA_EC_PARAMS` =
//! OID 1.2.156.10197.1.301): `CKM_SM2_KEY_PAIR_GEN` (and `CKM_EC_KEY_PAIR_GEN` on that curve),
//! `CKM_SM2` over a caller's 32-byte digest e, `CKM_SM3_SM2` / `CKM_SM3_SM2_DER` computing
//! e = SM3(Z_A ‖ M) inside with the signer ID as parameter, and `CKM_SM2_RAW` /
//! `CKM_SM2_CIPHER_DER` encryption and key wrap with C1‖C3‖C2 or GM/T 0009 DER ciphertexts.
//! Signatures are `r‖s` (64 bytes) as for `CKM_ECDSA`, except the `_DER` mechanism's
//! `SEQUENCE { r, s }`. The vendor values and their sources are in `crate::vendor`.

use super::{
    Buffered, Cipher, DigestSigner, DigestVerifier, GeneratedPair, Info, LoadedKey, Mechanism, OneShot,
    Param, Prehashed, Signer, Verifier,
};
use crate::engine::CryptoError;
use crate::engine::ec::Pkcs8Error;
use crate::engine::sm2::{
    CipherFormat, DEFAULT_ID, DIGEST_LEN, DecryptError, MAX_DER_SIGNATURE_LEN, MAX_ID_LEN,
    MIN_DER_SIGNATURE_LEN, POINT_LEN, SIGNATURE_LEN, Sm2PrivateKey, Sm2PublicKey, left_pad_scalar,
    signature_from_der, signature_to_der, z_a,
};
use crate::engine::sm3::Sm3;
use crate::error::{Error, Result};
use crate::object::attribute::{Attributes, Template};
use crate::vendor::{
    CKK_SM2, CKM_SM2, CKM_SM2_CIPHER_DER, CKM_SM2_KEY_PAIR_GEN, CKM_SM2_RAW, CKM_SM3_SM2, CKM_SM3_SM2_DER,
};
use cryptoki_sys::*;
use der::asn1::OctetStringRef;
use der::{Decode, Encode};
use std::sync::Arc;
use zeroize::Zeroizing;

/// SM2 is a prime-field curve named by OID, with uncompressed points.
const CURVES: CK_FLAGS = CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS;
const SIG: CK_FLAGS = CKF_SIGN | CKF_VERIFY | CURVES;
const CIPHER: CK_FLAGS = CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP | CURVES;
/// The one curve has a 256-bit order.
const BITS: u64 = 256;

pub const MECHANISMS: &[(CK_MECHANISM_TYPE, Info)] = &[
    (CKM_SM2_KEY_PAIR_GEN, Info::new(BITS, BITS, CKF_GENERATE_KEY_PAIR | CURVES)),
    (CKM_SM2, Info::new(BITS, BITS, SIG)),
    (CKM_SM3_SM2, Info::new(BITS, BITS, SIG)),
    (CKM_SM3_SM2_DER, Info::new(BITS, BITS, SIG)),
    (CKM_SM2_RAW, Info::new(BITS, BITS, CIPHER)),
    (CKM_SM2_CIPHER_DER, Info::new(BITS, BITS, CIPHER)),
];

/// `CKA_EC_PARAMS` of the SM2 curve: the DER `namedCurve` OID.
const SM2_PARAMS: [u8; 10] = [0x06, 0x08, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d];

/// Whether DER `CKA_EC_PARAMS` name the SM2 curve. DER has one encoding per OID, so the bytes
/// compare as they are.
pub fn is_sm2_params(params: &[u8]) -> bool {
    params == SM2_PARAMS
}

/// `CKA_EC_PARAMS` that must name the SM2 curve. Any other value, another curve's OID or
/// something that is no named curve at all, is a curve this key type does not have.
fn check_params(params: &[u8]) -> Result<()> {
    if is_sm2_params(params) { Ok(()) } else { Err(Error::CurveNotSupported) }
}

// ---------------------------------------------------------------------------------------------
// Signatures

/// `CKM_SM2`: SM2 over the caller's e. The key stays behind its `Arc`; each call only matches
/// the variant, checked once at init.
struct Sm2Digest {
    key: Arc<LoadedKey>,
}

impl DigestSigner for Sm2Digest {
    fn len(&self) -> usize {
        SIGNATURE_LEN
    }

    fn sign_digest(&self, e: &[u8], out: &mut [u8]) -> Result<usize> {
        let LoadedKey::Sm2Private(key) = &*self.key else {
            return Err(Error::KeyTypeInconsistent);
        };
        if e.len() != DIGEST_LEN {
            return Err(Error::DataLenRange);
        }
        if out.len() < SIGNATURE_LEN {
            return Err(Error::BufferTooSmall(SIGNATURE_LEN));
        }
        key.sign_digest(e, out).map_err(|_| Error::FunctionFailed)
    }
}

impl DigestVerifier for Sm2Digest {
    fn verify_digest(&self, e: &[u8], signature: &[u8]) -> Result<()> {
        let LoadedKey::Sm2Public(key) = &*self.key else {
            return Err(Error::KeyTypeInconsistent);
        };
        if e.len() != DIGEST_LEN {
            return Err(Error::DataLenRange);
        }
        if signature.len() != SIGNATURE_LEN {
            return Err(Error::SignatureLenRange);
        }
        if key.verify_digest(e, signature) { Ok(()) } else { Err(Error::SignatureInvalid) }
    }
}

/// `CKM_SM3_SM2` and `CKM_SM3_SM2_DER`: e = SM3(Z_A ‖ M) over a message given in any number of
/// parts. Z_A is fixed at init, from the ID and the key.
struct Sm3Sm2 {
    key: Arc<LoadedKey>,
    z: [u8; DIGEST_LEN],
    /// SM3 with Z_A already absorbed.
    hasher: Sm3,
    der: bool,
}

impl Sm3Sm2 {
    fn new(key: &Arc<LoadedKey>, z: [u8; DIGEST_LEN], der: bool) -> Sm3Sm2 {
        let mut hasher = Sm3::new();
        hasher.update(&z);
        Sm3Sm2 { key: key.clone(), z, hasher, der }
    }

    /// e of the message so far; the hasher starts over with Z_A.
    fn digest(&mut self) -> [u8; DIGEST_LEN] {
        let e = self.hasher.finish_reset();
        self.hasher.update(&self.z);
        e
    }

    fn max_len(&self) -> usize {
        if self.der { MAX_DER_SIGNATURE_LEN } else { SIGNATURE_LEN }
    }
}

impl Signer for Sm3Sm2 {
    fn len(&self) -> usize {
        self.max_len()
    }

    fn sign(&mut self, data: &[u8], out: &mut [u8]) -> Result<usize> {
        // Checked before the data enters the hash, so that a short buffer costs nothing.
        if out.len() < self.max_len() {
            return Err(Error::BufferTooSmall(self.max_len()));
        }
        self.hasher.update(data);
        Signer::finish(self, out)
    }

    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.hasher.update(data);
        Ok(())
    }

    fn finish(&mut self, out: &mut [u8]) -> Result<usize> {
        if out.len() < self.max_len() {
            return Err(Error::BufferTooSmall(self.max_len()));
        }
        let e = self.digest();
        let LoadedKey::Sm2Private(key) = &*self.key else {
            return Err(Error::KeyTypeInconsistent);
        };
        if !self.der {
            return key.sign_digest(&e, out).map_err(|_| Error::FunctionFailed);
        }
        let mut rs = [0u8; SIGNATURE_LEN];
        key.sign_digest(&e, &mut rs).map_err(|_| Error::FunctionFailed)?;
        signature_to_der(&rs, out).map_err(|_| Error::GeneralError)
    }
}

impl Verifier for Sm3Sm2 {
    fn verify(&mut self, data: &[u8], signature: &[u8]) -> Result<()> {
        self.hasher.update(data);
        Verifier::finish(self, signature)
    }

    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.hasher.update(data);
        Ok(())
    }

    fn finish(&mut self, signature: &[u8]) -> Result<()> {
        let e = self.digest();
        let LoadedKey::Sm2Public(key) = &*self.key else {
            return Err(Error::KeyTypeInconsistent);
        };
        // CKR_SIGNATURE_LEN_RANGE means "invalid purely based on its length". For r‖s that is
        // any length but 64; for DER, lengths no SEQUENCE of two INTEGERs below n can have
        // (8 to 72 bytes). A DER value of a possible length that does not parse is an invalid
        // signature, as it is for a wrong r or s.
        let rs = if self.der {
            if !(MIN_DER_SIGNATURE_LEN..=MAX_DER_SIGNATURE_LEN).contains(&signature.len()) {
                return Err(Error::SignatureLenRange);
            }
            signature_from_der(signature).ok_or(Error::SignatureInvalid)?
        } else {
            signature.try_into().map_err(|_| Error::SignatureLenRange)?
        };
        if key.verify_digest(&e, &rs) { Ok(()) } else { Err(Error::SignatureInvalid) }
    }
}

/// The signer ID a mechanism parameter names: none, or an empty one, is the default ID.
fn signer_id(param: &Param) -> Result<&[u8]> {
    match param {
        Param::None => Ok(DEFAULT_ID),
        Param::Bytes(id) if id.is_empty() => Ok(DEFAULT_ID),
        Param::Bytes(id) if id.len() <= MAX_ID_LEN => Ok(id),
        _ => Err(Error::MechanismParamInvalid),
    }
}

/// Z_A for the ID of `param` and the key's public point; the key's precomputed value for the
/// default ID, which most callers use.
fn z_for(param: &Param, point: &[u8], z_default: &[u8; DIGEST_LEN]) -> Result<[u8; DIGEST_LEN]> {
    let id = signer_id(param)?;
    if id == DEFAULT_ID {
        return Ok(*z_default);
    }
    z_a(id, point).map_err(|_| Error::MechanismParamInvalid)
}

pub fn sign_init(mech: &Mechanism, key: &Arc<LoadedKey>) -> Result<Box<dyn Signer>> {
    let private = match &**key {
        LoadedKey::Sm2Private(k) => Some(k),
        _ => None,
    };
    match mech.ty {
        CKM_SM2 => {
            if mech.param != Param::None {
                return Err(Error::MechanismParamInvalid);
            }
            private.ok_or(Error::KeyTypeInconsistent)?;
            Ok(Box::new(Prehashed::new(Sm2Digest { key: key.clone() })))
        }
        CKM_SM3_SM2 | CKM_SM3_SM2_DER => {
            let k = private.ok_or(Error::KeyTypeInconsistent)?;
            let z = z_for(&mech.param, k.public_point(), k.z_default())?;
            Ok(Box::new(Sm3Sm2::new(key, z, mech.ty == CKM_SM3_SM2_DER)))
        }
        _ => Err(Error::MechanismInvalid),
    }
}

pub fn verify_init(mech: &Mechanism, key: &Arc<LoadedKey>) -> Result<Box<dyn Verifier>> {
    let public = match &**key {
        LoadedKey::Sm2Public(k) => Some(k),
        _ => None,
    };
    match mech.ty {
        CKM_SM2 => {
            if mech.param != Param::None {
                return Err(Error::MechanismParamInvalid);
            }
            public.ok_or(Error::KeyTypeInconsistent)?;
            Ok(Box::new(Prehashed::new(Sm2Digest { key: key.clone() })))
        }
        CKM_SM3_SM2 | CKM_SM3_SM2_DER => {
            let k = public.ok_or(Error::KeyTypeInconsistent)?;
            let z = z_for(&mech.param, k.point(), k.z_default())?;
            Ok(Box::new(Sm3Sm2::new(key, z, mech.ty == CKM_SM3_SM2_DER)))
        }
        _ => Err(Error::MechanismInvalid),
    }
}

// ---------------------------------------------------------------------------------------------
// Encryption and key wrapping

/// The ciphertext form of a cipher mechanism, which takes no parameter.
fn format_of(mech: &Mechanism) -> Result<CipherFormat> {
    let format = match mech.ty {
        CKM_SM2_RAW => CipherFormat::Raw,
        CKM_SM2_CIPHER_DER => CipherFormat::Der,
        _ => return Err(Error::MechanismInvalid),
    };
    if mech.param != Param::None {
        return Err(Error::MechanismParamInvalid);
    }
    Ok(format)
}

/// Encrypts a non-empty message into a new buffer.
fn encrypt(key: &Sm2PublicKey, format: CipherFormat, msg: &[u8], out: &mut [u8]) -> Result<usize> {
    if msg.is_empty() {
        return Err(Error::DataLenRange);
    }
    let need = format.ciphertext_len(msg.len());
    if out.len() < need {
        return Err(Error::BufferTooSmall(need));
    }
    key.encrypt(format, msg, out).map_err(|_| Error::FunctionFailed)
}

/// A single-part SM2 encryption or decryption; multi-part input is buffered by `Buffered`.
struct Sm2Cipher {
    key: Arc<LoadedKey>,
    format: CipherFormat,
    encrypt: bool,
}

impl OneShot for Sm2Cipher {
    fn len(&self, input_len: usize) -> usize {
        if self.encrypt {
            self.format.ciphertext_len(input_len)
        } else {
            self.format.plaintext_len(input_len)
        }
    }

    fn run(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        match &*self.key {
            LoadedKey::Sm2Public(key) if self.encrypt => encrypt(key, self.format, input, out),
            LoadedKey::Sm2Private(key) if !self.encrypt => {
                key.decrypt(self.format, input, out).map_err(|e| match e {
                    DecryptError::TooShort => Error::EncryptedDataLenRange,
                    DecryptError::Invalid => Error::EncryptedDataInvalid,
                    DecryptError::OutputTooSmall(n) => Error::BufferTooSmall(n),
                })
            }
            _ => Err(Error::KeyTypeInconsistent),
        }
    }
}

pub fn cipher_init(mech: &Mechanism, key: &Arc<LoadedKey>, encrypt: bool) -> Result<Box<dyn Cipher>> {
    let format = format_of(mech)?;
    let fits = match &**key {
        LoadedKey::Sm2Public(_) => encrypt,
        LoadedKey::Sm2Private(_) => !encrypt,
        _ => false,
    };
    if !fits {
        return Err(Error::KeyTypeInconsistent);
    }
    Ok(Box::new(Buffered::new(Sm2Cipher { key: key.clone(), format, encrypt })))
}

/// The format and public key of a wrap of `len` bytes of key material.
fn wrap_init<'k>(
    mech: &Mechanism,
    key: &'k LoadedKey,
    len: usize,
) -> Result<(CipherFormat, &'k Sm2PublicKey)> {
    let format = format_of(mech)?;
    let LoadedKey::Sm2Public(key) = key else {
        return Err(Error::WrappingKeyTypeInconsistent);
    };
    // Key material is never empty; SM2 sets no upper bound.
    if len == 0 {
        return Err(Error::KeySizeRange);
    }
    Ok((format, key))
}

pub fn wrap_len(mech: &Mechanism, key: &LoadedKey, len: usize) -> Result<usize> {
    wrap_init(mech, key, len).map(|(format, _)| format.ciphertext_len(len))
}

pub fn wrap(mech: &Mechanism, key: &LoadedKey, material: &[u8]) -> Result<Vec<u8>> {
    let (format, key) = wrap_init(mech, key, material.len())?;
    let mut out = vec![0u8; format.ciphertext_len(material.len())];
    let n = encrypt(key, format, material, &mut out)?;
    out.truncate(n);
    Ok(out)
}

pub fn unwrap(mech: &Mechanism, key: &LoadedKey, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let format = format_of(mech)?;
    let LoadedKey::Sm2Private(key) = key else {
        return Err(Error::UnwrappingKeyTypeInconsistent);
    };
    let mut out = Zeroizing::new(vec![0u8; format.plaintext_len(wrapped.len())]);
    let n = key.decrypt(format, wrapped, &mut out).map_err(|e| match e {
        DecryptError::TooShort => Error::WrappedKeyLenRange,
        // The buffer holds every plaintext the ciphertext can have; a shortfall would be ours.
        DecryptError::Invalid | DecryptError::OutputTooSmall(_) => Error::WrappedKeyInvalid,
    })?;
    out.truncate(n);
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Key objects

/// `CKA_EC_POINT` as PKCS#11 stores it: the DER OCTET STRING of the uncompressed point.
fn point_attr(point: &[u8]) -> Result<Vec<u8>> {
    OctetStringRef::new(point).and_then(|p| p.to_der()).map_err(|_| Error::GeneralError)
}

/// The uncompressed point in a `CKA_EC_POINT` value. PKCS#11 wants the DER OCTET STRING of the
/// point; some tools send the bare point. The two never have the same length, so the length
/// tells which one came.
fn point_of(value: &[u8]) -> Option<&[u8]> {
    let point =
        if value.len() == POINT_LEN { value } else { <&OctetStringRef>::from_der(value).ok()?.as_bytes() };
    (point.len() == POINT_LEN && point.first() == Some(&0x04)).then_some(point)
}

/// Encoding or exporting a key that has already been validated does not fail; if it ever did,
/// the fault would be the token's, not the caller's.
fn internal<T>(r: std::result::Result<T, CryptoError>) -> Result<T> {
    r.map_err(|_| Error::GeneralError)
}

/// A template's `CKA_KEY_TYPE`, where given, must be `CKK_SM2`, or `CKK_EC`, which the SM2
/// curve also is.
fn check_key_type(template: &Template) -> Result<()> {
    match template.get_ulong(CKA_KEY_TYPE)? {
        Some(kt) if kt != CKK_SM2 && kt != CKK_EC => Err(Error::TemplateInconsistent),
        _ => Ok(()),
    }
}

pub fn generate_pair(mech: &Mechanism, public: &Template, private: &Template) -> Result<GeneratedPair> {
    if mech.ty != CKM_SM2_KEY_PAIR_GEN && mech.ty != CKM_EC_KEY_PAIR_GEN {
        return Err(Error::MechanismInvalid);
    }
    if mech.param != Param::None {
        return Err(Error::MechanismParamInvalid);
    }
    check_key_type(public)?;
    check_key_type(private)?;
    match public.get(CKA_EC_PARAMS) {
        Some(params) => check_params(params)?,
        // The SM2 mechanism has one curve to make; the generic EC one must be told.
        None if mech.ty == CKM_EC_KEY_PAIR_GEN => return Err(Error::TemplateIncomplete),
        None => {}
    }
    // As for EC: a private template that names a curve must name the same one.
    if private.get(CKA_EC_PARAMS).is_some_and(|p| !is_sm2_params(p)) {
        return Err(Error::TemplateInconsistent);
    }
    let key = Sm2PrivateKey::generate().map_err(|_| Error::FunctionFailed)?;
    let spki = internal(key.spki_der())?;
    let mut pub_attrs = Attributes::new();
    pub_attrs.set(CKA_EC_PARAMS, SM2_PARAMS.to_vec());
    pub_attrs.set(CKA_EC_POINT, point_attr(key.public_point())?);
    pub_attrs.set(CKA_PUBLIC_KEY_INFO, spki.clone());
    let mut priv_attrs = Attributes::new();
    priv_attrs.set(CKA_EC_PARAMS, SM2_PARAMS.to_vec());
    priv_attrs.set(CKA_VALUE, key.scalar().to_vec());
    priv_attrs.set(CKA_PUBLIC_KEY_INFO, spki);
    Ok(GeneratedPair { key_type: CKK_SM2, public: pub_attrs, private: priv_attrs })
}

/// The private key an object's attributes describe, with its scalar padded to 32 bytes.
fn private_key_of(attrs: &Attributes) -> Result<(Sm2PrivateKey, Zeroizing<[u8; 32]>)> {
    let (Some(params), Some(value)) = (attrs.get(CKA_EC_PARAMS), attrs.get(CKA_VALUE)) else {
        return Err(Error::TemplateIncomplete);
    };
    check_params(params)?;
    let d = left_pad_scalar(value).ok_or(Error::AttributeValueInvalid)?;
    let key = Sm2PrivateKey::from_scalar(&d[..]).map_err(|_| Error::AttributeValueInvalid)?;
    Ok((key, d))
}

/// The public key an object's attributes describe.
fn public_key_of(attrs: &Attributes) -> Result<Sm2PublicKey> {
    let (Some(params), Some(point)) = (attrs.get(CKA_EC_PARAMS), attrs.get(CKA_EC_POINT)) else {
        return Err(Error::TemplateIncomplete);
    };
    check_params(params)?;
    let point = point_of(point).ok_or(Error::AttributeValueInvalid)?;
    Sm2PublicKey::from_point(point).map_err(|_| Error::AttributeValueInvalid)
}

pub fn import(class: CK_OBJECT_CLASS, attrs: &mut Attributes) -> Result<()> {
    match class {
        CKO_PUBLIC_KEY => {
            let key = public_key_of(attrs)?;
            // Stored in the standard form whichever form came in.
            attrs.set(CKA_EC_POINT, point_attr(key.point())?);
            attrs.set(CKA_PUBLIC_KEY_INFO, internal(key.spki_der())?);
        }
        CKO_PRIVATE_KEY => {
            let (key, d) = private_key_of(attrs)?;
            attrs.set(CKA_VALUE, d.to_vec());
            attrs.set(CKA_PUBLIC_KEY_INFO, internal(key.spki_der())?);
        }
        _ => return Err(Error::TemplateInconsistent),
    }
    Ok(())
}

pub fn load(class: CK_OBJECT_CLASS, attrs: &Attributes) -> Result<LoadedKey> {
    match class {
        CKO_PUBLIC_KEY => Ok(LoadedKey::Sm2Public(public_key_of(attrs)?)),
        CKO_PRIVATE_KEY => Ok(LoadedKey::Sm2Private(private_key_of(attrs)?.0)),
        _ => Err(Error::KeyTypeInconsistent),
    }
}

pub fn to_pkcs8(attrs: &Attributes) -> Result<Zeroizing<Vec<u8>>> {
    let (key, _) = private_key_of(attrs)?;
    internal(key.to_pkcs8_der())
}

/// The attributes of a private key object from an unwrapped PKCS#8 `PrivateKeyInfo`. Anything
/// that is not a well-formed EC private key (another algorithm included) is an invalid wrapped
/// key; a well-formed one on another curve is, as for `CKK_EC`, a curve not supported here.
pub fn from_pkcs8(der: &[u8]) -> Result<Attributes> {
    let key = Sm2PrivateKey::from_pkcs8_der(der).map_err(|e| match e {
        Pkcs8Error::Malformed => Error::WrappedKeyInvalid,
        Pkcs8Error::UnsupportedCurve => Error::CurveNotSupported,
    })?;
    let mut attrs = Attributes::new();
    attrs.set(CKA_EC_PARAMS, SM2_PARAMS.to_vec());
    attrs.set(CKA_VALUE, key.scalar().to_vec());
    attrs.set(CKA_PUBLIC_KEY_INFO, internal(key.spki_der())?);
    Ok(attrs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::sm2::tests::{
        OSSL_CIPHERTEXT, OSSL_MSG, OSSL_PKCS8, OSSL_SIG_ALICE, OSSL_SIG_DEFAULT_ID, OSSL_SPKI,
    };
    use crate::object::attribute::ulong_bytes;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    const ALL_SIG: [CK_MECHANISM_TYPE; 3] = [CKM_SM2, CKM_SM3_SM2, CKM_SM3_SM2_DER];
    const ALL_CIPHER: [CK_MECHANISM_TYPE; 2] = [CKM_SM2_RAW, CKM_SM2_CIPHER_DER];
    const ORDER: &str = "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123";
    const P256_PARAMS: &str = "06082a8648ce3d030107";

    /// A generated pair, loaded as the token would: (private, public, public attributes).
    fn pair() -> (Arc<LoadedKey>, Arc<LoadedKey>, Attributes) {
        let g =
            generate_pair(&Mechanism::new(CKM_SM2_KEY_PAIR_GEN), &Template::new(), &Template::new()).unwrap();
        let private = load(CKO_PRIVATE_KEY, &g.private).unwrap();
        let public = load(CKO_PUBLIC_KEY, &g.public).unwrap();
        (Arc::new(private), Arc::new(public), g.public)
    }

    fn private_from_pkcs8(der: &[u8]) -> Arc<LoadedKey> {
        Arc::new(load(CKO_PRIVATE_KEY, &from_pkcs8(der).unwrap()).unwrap())
    }

    fn public_from_point(point: &[u8]) -> Result<Arc<LoadedKey>> {
        let mut a = Attributes::new();
        a.set(CKA_EC_PARAMS, SM2_PARAMS.to_vec());
        a.set(CKA_EC_POINT, point.to_vec());
        import(CKO_PUBLIC_KEY, &mut a)?;
        Ok(Arc::new(load(CKO_PUBLIC_KEY, &a)?))
    }

    fn import_private(value: &[u8]) -> Result<Attributes> {
        let mut a = Attributes::new();
        a.set(CKA_EC_PARAMS, SM2_PARAMS.to_vec());
        a.set(CKA_VALUE, value.to_vec());
        import(CKO_PRIVATE_KEY, &mut a).map(|_| a)
    }

    /// The OpenSSL fixture's public key (its SPKI ends with the point).
    fn openssl_public() -> Arc<LoadedKey> {
        let spki = h(OSSL_SPKI);
        public_from_point(&spki[spki.len() - 65..]).unwrap()
    }

    fn sign_with(m: &Mechanism, key: &Arc<LoadedKey>, data: &[u8]) -> Result<Vec<u8>> {
        let mut s = sign_init(m, key)?;
        let mut out = vec![0u8; s.len()];
        let n = s.sign(data, &mut out)?;
        out.truncate(n);
        Ok(out)
    }

    fn sign(ty: CK_MECHANISM_TYPE, key: &Arc<LoadedKey>, data: &[u8]) -> Result<Vec<u8>> {
        sign_with(&Mechanism::new(ty), key, data)
    }

    fn verify_with(m: &Mechanism, key: &Arc<LoadedKey>, data: &[u8], sig: &[u8]) -> Result<()> {
        verify_init(m, key)?.verify(data, sig)
    }

    fn verify(ty: CK_MECHANISM_TYPE, key: &Arc<LoadedKey>, data: &[u8], sig: &[u8]) -> Result<()> {
        verify_with(&Mechanism::new(ty), key, data, sig)
    }

    fn with_id(ty: CK_MECHANISM_TYPE, id: &[u8]) -> Mechanism {
        Mechanism::with(ty, Param::Bytes(id.to_vec()))
    }

    fn encrypt(ty: CK_MECHANISM_TYPE, key: &Arc<LoadedKey>, data: &[u8]) -> Result<Vec<u8>> {
        let mut c = cipher_init(&Mechanism::new(ty), key, true)?;
        let mut out = vec![0u8; c.len(data.len())];
        let n = c.run(data, &mut out)?;
        out.truncate(n);
        Ok(out)
    }

    fn decrypt(ty: CK_MECHANISM_TYPE, key: &Arc<LoadedKey>, data: &[u8]) -> Result<Vec<u8>> {
        let mut c = cipher_init(&Mechanism::new(ty), key, false)?;
        let mut out = vec![0u8; c.len(data.len())];
        let n = c.run(data, &mut out)?;
        out.truncate(n);
        Ok(out)
    }

    fn sm3_of(parts: &[&[u8]]) -> Vec<u8> {
        let mut s = Sm3::new();
        parts.iter().for_each(|p| s.update(p));
        s.finish_reset().to_vec()
    }

    fn point_of_attrs(public: &Attributes) -> Vec<u8> {
        <&OctetStringRef>::from_der(public.get(CKA_EC_POINT).unwrap()).unwrap().as_bytes().to_vec()
    }

    #[test]
    fn mechanism_info() {
        for (ty, info) in MECHANISMS {
            assert_eq!((info.min_key, info.max_key), (256, 256), "{ty:#x}");
            assert_eq!(info.flags & CURVES, CURVES, "{ty:#x}");
        }
        let flags = |ty| MECHANISMS.iter().find(|(t, _)| *t == ty).unwrap().1.flags & !CURVES;
        assert_eq!(flags(CKM_SM2_KEY_PAIR_GEN), CKF_GENERATE_KEY_PAIR);
        for ty in ALL_SIG {
            assert_eq!(flags(ty), CKF_SIGN | CKF_VERIFY);
        }
        for ty in ALL_CIPHER {
            assert_eq!(flags(ty), CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP);
        }
        assert_eq!(MECHANISMS.len(), 6);
        // The router finds the family through this table.
        assert!(super::super::supports(CKM_SM3_SM2, CKF_SIGN));
        assert!(super::super::supports(CKM_SM2_RAW, CKF_WRAP));
        assert!(!super::super::supports(CKM_SM2, CKF_ENCRYPT));
        assert_eq!(SM2_PARAMS.to_vec(), crate::engine::sm2::OID_SM2.to_der().unwrap());
    }

    #[test]
    fn generated_pair_attributes() {
        let sm2 = Template::new().with(CKA_EC_PARAMS, SM2_PARAMS.to_vec());
        let cases = [
            (CKM_SM2_KEY_PAIR_GEN, Template::new()),
            (CKM_SM2_KEY_PAIR_GEN, sm2.clone()),
            (CKM_SM2_KEY_PAIR_GEN, sm2.clone().with(CKA_KEY_TYPE, ulong_bytes(CKK_EC))),
            (CKM_EC_KEY_PAIR_GEN, sm2.clone()),
        ];
        for (ty, public) in cases {
            let g = generate_pair(&Mechanism::new(ty), &public, &Template::new()).unwrap();
            assert_eq!(g.key_type, CKK_SM2);
            assert_eq!(g.public.get(CKA_EC_PARAMS), Some(&SM2_PARAMS[..]));
            assert_eq!(g.private.get(CKA_EC_PARAMS), Some(&SM2_PARAMS[..]));
            let ec_point = g.public.get(CKA_EC_POINT).unwrap();
            assert_eq!(ec_point[..3], [0x04, 65, 0x04]);
            assert_eq!(ec_point.len(), 67);
            assert_eq!(g.private.get(CKA_VALUE).unwrap().len(), 32);
            assert!(!g.private.contains(CKA_EC_POINT));
            let spki = g.public.get(CKA_PUBLIC_KEY_INFO).unwrap();
            assert_eq!(g.private.get(CKA_PUBLIC_KEY_INFO), Some(spki));
            assert!(spki.starts_with(&h(OSSL_SPKI)[..27]), "id-ecPublicKey with the SM2 curve");
            assert!(spki.ends_with(&ec_point[2..]));
            assert_eq!(g.public.len(), 3);
            assert_eq!(g.private.len(), 3);
            // The halves belong together.
            let private = Arc::new(load(CKO_PRIVATE_KEY, &g.private).unwrap());
            let public = Arc::new(load(CKO_PUBLIC_KEY, &g.public).unwrap());
            let sig = sign(CKM_SM3_SM2, &private, b"pair").unwrap();
            assert_eq!(verify(CKM_SM3_SM2, &public, b"pair", &sig), Ok(()));
            // Importing what generation produced changes nothing.
            let mut again = g.public.clone();
            import(CKO_PUBLIC_KEY, &mut again).unwrap();
            assert_eq!(again.get(CKA_EC_POINT), Some(ec_point));
            assert_eq!(again.get(CKA_PUBLIC_KEY_INFO), Some(spki));
            let mut again = g.private.clone();
            import(CKO_PRIVATE_KEY, &mut again).unwrap();
            assert_eq!(again.get(CKA_PUBLIC_KEY_INFO), Some(spki));
        }
        // Through the router: CKM_EC_KEY_PAIR_GEN on the SM2 curve makes an SM2 pair.
        let g = super::super::generate_key_pair(&Mechanism::new(CKM_EC_KEY_PAIR_GEN), &sm2, &Template::new())
            .unwrap();
        assert_eq!(g.key_type, CKK_SM2);
    }

    #[test]
    fn generation_refusals() {
        let gen_with = |ty, public: Template, private: Template| {
            generate_pair(&Mechanism::new(ty), &public, &private).err()
        };
        let sm2 = || Template::new().with(CKA_EC_PARAMS, SM2_PARAMS.to_vec());
        for params in
            [h(P256_PARAMS), h("06052b81040023"), h("0500"), h("3003020101"), b"sm2p256v1".to_vec(), vec![]]
        {
            let t = Template::new().with(CKA_EC_PARAMS, params);
            assert_eq!(gen_with(CKM_SM2_KEY_PAIR_GEN, t, Template::new()), Some(Error::CurveNotSupported));
        }
        assert_eq!(
            gen_with(CKM_EC_KEY_PAIR_GEN, Template::new(), Template::new()),
            Some(Error::TemplateIncomplete)
        );
        for kt in [CKK_RSA, crate::vendor::CKK_SM4] {
            assert_eq!(
                gen_with(CKM_SM2_KEY_PAIR_GEN, sm2().with(CKA_KEY_TYPE, ulong_bytes(kt)), Template::new()),
                Some(Error::TemplateInconsistent)
            );
            assert_eq!(
                gen_with(CKM_SM2_KEY_PAIR_GEN, sm2(), Template::new().with(CKA_KEY_TYPE, ulong_bytes(kt))),
                Some(Error::TemplateInconsistent)
            );
        }
        assert_eq!(
            gen_with(CKM_SM2_KEY_PAIR_GEN, sm2(), Template::new().with(CKA_EC_PARAMS, h(P256_PARAMS))),
            Some(Error::TemplateInconsistent)
        );
        assert!(gen_with(CKM_SM2_KEY_PAIR_GEN, Template::new(), sm2()).is_none());
        let m = Mechanism::with(CKM_SM2_KEY_PAIR_GEN, Param::Bytes(vec![1]));
        assert_eq!(generate_pair(&m, &sm2(), &Template::new()).err(), Some(Error::MechanismParamInvalid));
        assert_eq!(gen_with(CKM_SM2, sm2(), Template::new()), Some(Error::MechanismInvalid));
    }

    #[test]
    fn every_signature_mechanism_round_trips() {
        let (private, public, _) = pair();
        let data: Vec<u8> = (1..=1000u32).map(|i| i as u8).collect();
        for ty in ALL_SIG {
            let input = if ty == CKM_SM2 { &data[..32] } else { &data[..] };
            let sig = sign(ty, &private, input).unwrap();
            if ty == CKM_SM3_SM2_DER {
                assert!((8..=72).contains(&sig.len()));
                assert_eq!(sig[0], 0x30);
            } else {
                assert_eq!(sig.len(), 64, "{ty:#x}");
            }
            assert_eq!(verify(ty, &public, input, &sig), Ok(()), "{ty:#x}");
            assert_eq!(
                verify(ty, &public, &input[1..], &sig).err(),
                Some(if ty == CKM_SM2 { Error::DataLenRange } else { Error::SignatureInvalid })
            );
            let mut changed = input.to_vec();
            changed[0] ^= 1;
            assert_eq!(verify(ty, &public, &changed, &sig), Err(Error::SignatureInvalid), "{ty:#x}");
            let mut bad = sig.clone();
            let last = bad.len() - 1;
            bad[last] ^= 0x10;
            assert_eq!(verify(ty, &public, input, &bad), Err(Error::SignatureInvalid), "{ty:#x}");
            // Multi-part in both directions.
            let mut s = sign_init(&Mechanism::new(ty), &private).unwrap();
            s.update(&input[..7]).unwrap();
            s.update(&input[7..]).unwrap();
            let mut out = vec![0u8; s.len()];
            let n = s.finish(&mut out).unwrap();
            let mut v = verify_init(&Mechanism::new(ty), &public).unwrap();
            v.update(&input[..20]).unwrap();
            v.update(&[]).unwrap();
            v.update(&input[20..]).unwrap();
            assert_eq!(v.finish(&out[..n]), Ok(()), "{ty:#x}");
            // A multi-part signature verifies single-part too.
            assert_eq!(verify(ty, &public, input, &out[..n]), Ok(()), "{ty:#x}");
        }
        // An empty message is a message.
        let sig = sign(CKM_SM3_SM2, &private, b"").unwrap();
        assert_eq!(verify(CKM_SM3_SM2, &public, b"", &sig), Ok(()));
    }

    /// The three mechanisms are one scheme: e = SM3(Z_A ‖ M) by hand signs under `CKM_SM2` what
    /// `CKM_SM3_SM2` verifies, and the DER form holds the same r and s.
    #[test]
    fn mechanisms_agree_with_each_other() {
        let (private, public, attrs) = pair();
        let point = point_of_attrs(&attrs);
        let z = z_a(DEFAULT_ID, &point).unwrap();
        let e = sm3_of(&[&z, b"message"]);
        let raw = sign(CKM_SM2, &private, &e).unwrap();
        assert_eq!(verify(CKM_SM3_SM2, &public, b"message", &raw), Ok(()));
        let mut der = [0u8; 72];
        let n = signature_to_der(&raw, &mut der).unwrap();
        assert_eq!(verify(CKM_SM3_SM2_DER, &public, b"message", &der[..n]), Ok(()));
        let hashed = sign(CKM_SM3_SM2_DER, &private, b"message").unwrap();
        let rs = signature_from_der(&hashed).unwrap();
        assert_eq!(verify(CKM_SM2, &public, &e, &rs), Ok(()));
        assert_eq!(verify(CKM_SM3_SM2, &public, b"message", &rs), Ok(()));
        // With another ID, e changes with Z_A.
        let za = z_a(b"alice", &point).unwrap();
        let sig = sign_with(&with_id(CKM_SM3_SM2, b"alice"), &private, b"message").unwrap();
        assert_eq!(verify(CKM_SM2, &public, &sm3_of(&[&za, b"message"]), &sig), Ok(()));
    }

    #[test]
    fn signer_ids() {
        let (private, public, _) = pair();
        for ty in [CKM_SM3_SM2, CKM_SM3_SM2_DER] {
            let sig = sign_with(&with_id(ty, b"alice@example.com"), &private, b"m").unwrap();
            assert_eq!(verify_with(&with_id(ty, b"alice@example.com"), &public, b"m", &sig), Ok(()));
            assert_eq!(
                verify_with(&with_id(ty, b"bob@example.com"), &public, b"m", &sig),
                Err(Error::SignatureInvalid)
            );
            assert_eq!(verify(ty, &public, b"m", &sig), Err(Error::SignatureInvalid));
            // No parameter, an empty one and the default ID spelled out are the same ID.
            let sig = sign(ty, &private, b"m").unwrap();
            assert_eq!(verify_with(&with_id(ty, b""), &public, b"m", &sig), Ok(()));
            assert_eq!(verify_with(&with_id(ty, DEFAULT_ID), &public, b"m", &sig), Ok(()));
            // IDs are bytes, not text; the longest one ENTL can describe is accepted.
            let binary = [0xffu8, 0x00, 0xfe];
            let sig = sign_with(&with_id(ty, &binary), &private, b"m").unwrap();
            assert_eq!(verify_with(&with_id(ty, &binary), &public, b"m", &sig), Ok(()));
            let longest = vec![0x41u8; MAX_ID_LEN];
            let sig = sign_with(&with_id(ty, &longest), &private, b"m").unwrap();
            assert_eq!(verify_with(&with_id(ty, &longest), &public, b"m", &sig), Ok(()));
            let too_long = with_id(ty, &vec![0x41u8; MAX_ID_LEN + 1]);
            assert_eq!(sign_init(&too_long, &private).err(), Some(Error::MechanismParamInvalid));
            assert_eq!(verify_init(&too_long, &public).err(), Some(Error::MechanismParamInvalid));
            let wrong_shape = Mechanism::with(ty, Param::Ulong(16));
            assert_eq!(sign_init(&wrong_shape, &private).err(), Some(Error::MechanismParamInvalid));
            assert_eq!(verify_init(&wrong_shape, &public).err(), Some(Error::MechanismParamInvalid));
        }
        // CKM_SM2 takes e, not an ID.
        let m = with_id(CKM_SM2, b"alice");
        assert_eq!(sign_init(&m, &private).err(), Some(Error::MechanismParamInvalid));
        assert_eq!(verify_init(&m, &public).err(), Some(Error::MechanismParamInvalid));
    }

    #[test]
    fn signature_refusals() {
        let (private, public, _) = pair();
        // CKM_SM2 signs exactly 32 bytes.
        for len in [0, 1, 31, 33, 64] {
            let data = vec![7u8; len];
            assert_eq!(sign(CKM_SM2, &private, &data).err(), Some(Error::DataLenRange), "{len}");
            assert_eq!(verify(CKM_SM2, &public, &data, &[1u8; 64]), Err(Error::DataLenRange), "{len}");
        }
        let mut s = sign_init(&Mechanism::new(CKM_SM2), &private).unwrap();
        s.update(&[1; 16]).unwrap();
        let mut out = [0u8; 64];
        assert_eq!(s.finish(&mut out), Err(Error::DataLenRange));
        let mut s = sign_init(&Mechanism::new(CKM_SM2), &private).unwrap();
        s.update(&[1; 16]).unwrap();
        s.update(&[2; 16]).unwrap();
        assert_eq!(s.finish(&mut out), Ok(64));
        // Short buffers are reported, not a panic.
        let mut s = sign_init(&Mechanism::new(CKM_SM2), &private).unwrap();
        assert_eq!(s.sign(&[1u8; 32], &mut out[..63]), Err(Error::BufferTooSmall(64)));
        let mut s = sign_init(&Mechanism::new(CKM_SM3_SM2_DER), &private).unwrap();
        assert_eq!(s.len(), 72);
        assert_eq!(s.sign(b"x", &mut [0u8; 71]), Err(Error::BufferTooSmall(72)));
        let mut s = sign_init(&Mechanism::new(CKM_SM3_SM2), &private).unwrap();
        assert_eq!(s.finish(&mut out[..10]), Err(Error::BufferTooSmall(64)));
        // r‖s of the wrong length; r or s zero or not below n.
        let e = [1u8; 32];
        let sig = sign(CKM_SM2, &private, &e).unwrap();
        for ty in [CKM_SM2, CKM_SM3_SM2] {
            let data: &[u8] = if ty == CKM_SM2 { &e } else { b"x" };
            assert_eq!(verify(ty, &public, data, &sig[..63]), Err(Error::SignatureLenRange));
            assert_eq!(
                verify(ty, &public, data, &[sig.clone(), vec![0]].concat()),
                Err(Error::SignatureLenRange)
            );
            assert_eq!(verify(ty, &public, data, &[]), Err(Error::SignatureLenRange));
            assert_eq!(verify(ty, &public, data, &[0u8; 64]), Err(Error::SignatureInvalid));
            assert_eq!(verify(ty, &public, data, &[0xffu8; 64]), Err(Error::SignatureInvalid));
            let n_s = [&sig[..32], &h(ORDER)[..]].concat();
            assert_eq!(verify(ty, &public, data, &n_s), Err(Error::SignatureInvalid));
        }
        // DER: lengths no signature can have, then malformed values of possible lengths. The
        // signature is one short enough (under 72 bytes, when r or s needs no leading zero)
        // that one more byte is still a possible length.
        let der = loop {
            let der = sign(CKM_SM3_SM2_DER, &private, b"x").unwrap();
            if der.len() < 72 {
                break der;
            }
        };
        let v = |sig: &[u8]| verify(CKM_SM3_SM2_DER, &public, b"x", sig);
        assert_eq!(v(&[]), Err(Error::SignatureLenRange));
        assert_eq!(v(&der[..7]), Err(Error::SignatureLenRange));
        assert_eq!(v(&[0x30; 73]), Err(Error::SignatureLenRange));
        assert_eq!(v(&sig), Err(Error::SignatureInvalid), "r‖s is not DER");
        assert_eq!(v(&der[..der.len() - 1]), Err(Error::SignatureInvalid));
        let mut trailing = der.clone();
        trailing.push(0);
        assert_eq!(v(&trailing), Err(Error::SignatureInvalid));
        assert_eq!(v(&h("3006020100020100")), Err(Error::SignatureInvalid), "r = s = 0");
        assert_eq!(v(&h("3006020101020101")), Err(Error::SignatureInvalid));
    }

    #[test]
    fn wrong_keys_are_key_type_inconsistent() {
        let (private, public, _) = pair();
        let p256 = {
            let m = Mechanism::new(CKM_EC_KEY_PAIR_GEN);
            let t = Template::new().with(CKA_EC_PARAMS, h(P256_PARAMS));
            let g = super::super::ec::generate_pair(&m, &t, &Template::new()).unwrap();
            let private = super::super::ec::load(CKO_PRIVATE_KEY, &g.private).unwrap();
            let public = super::super::ec::load(CKO_PUBLIC_KEY, &g.public).unwrap();
            (Arc::new(private), Arc::new(public))
        };
        let secret =
            Arc::new(LoadedKey::Generic { key_type: CKK_GENERIC_SECRET, value: Zeroizing::new(vec![1; 32]) });
        for ty in ALL_SIG {
            let m = Mechanism::new(ty);
            for key in [&public, &p256.0, &p256.1, &secret] {
                assert_eq!(sign_init(&m, key).err(), Some(Error::KeyTypeInconsistent), "{ty:#x}");
            }
            for key in [&private, &p256.0, &p256.1, &secret] {
                assert_eq!(verify_init(&m, key).err(), Some(Error::KeyTypeInconsistent), "{ty:#x}");
            }
        }
        for ty in ALL_CIPHER {
            let m = Mechanism::new(ty);
            for key in [&private, &p256.0, &p256.1, &secret] {
                assert_eq!(cipher_init(&m, key, true).err(), Some(Error::KeyTypeInconsistent), "{ty:#x}");
            }
            for key in [&public, &p256.0, &p256.1, &secret] {
                assert_eq!(cipher_init(&m, key, false).err(), Some(Error::KeyTypeInconsistent), "{ty:#x}");
            }
            assert_eq!(wrap_len(&m, &private, 16).err(), Some(Error::WrappingKeyTypeInconsistent));
            assert_eq!(wrap(&m, &p256.1, &[1; 16]).err(), Some(Error::WrappingKeyTypeInconsistent));
            assert_eq!(unwrap(&m, &public, &[1; 113]).err(), Some(Error::UnwrappingKeyTypeInconsistent));
            assert_eq!(unwrap(&m, &p256.0, &[1; 113]).err(), Some(Error::UnwrappingKeyTypeInconsistent));
        }
        // Mechanisms of other families are not served here.
        assert_eq!(sign_init(&Mechanism::new(CKM_ECDSA), &private).err(), Some(Error::MechanismInvalid));
        assert_eq!(cipher_init(&Mechanism::new(CKM_SM2), &public, true).err(), Some(Error::MechanismInvalid));
    }

    #[test]
    fn encryption_round_trips_single_and_multi_part() {
        let (private, public, _) = pair();
        for ty in ALL_CIPHER {
            for len in [1, 16, 32, 33, 300] {
                let msg: Vec<u8> = (0..len).map(|i| (i * 3 + 1) as u8).collect();
                let ct = encrypt(ty, &public, &msg).unwrap();
                if ty == CKM_SM2_RAW {
                    assert_eq!(ct.len(), 97 + len);
                    assert_eq!(ct[0], 0x04);
                } else {
                    assert_eq!(ct[0], 0x30);
                }
                assert_eq!(decrypt(ty, &private, &ct).unwrap(), msg, "{ty:#x} {len}");
                // Multi-part: input is collected, output comes at the end.
                let mut c = cipher_init(&Mechanism::new(ty), &public, true).unwrap();
                assert_eq!(c.update_len(10), 0);
                let mut none = [0u8; 0];
                assert_eq!(c.update(&msg[..len / 2], &mut none), Ok(0));
                assert_eq!(c.update(&msg[len / 2..], &mut none), Ok(0));
                let mut out = vec![0u8; c.final_len()];
                let n = c.finish(&mut out).unwrap();
                let mut d = cipher_init(&Mechanism::new(ty), &private, false).unwrap();
                for chunk in out[..n].chunks(50) {
                    assert_eq!(d.update(chunk, &mut none), Ok(0));
                }
                let mut plain = vec![0u8; d.final_len()];
                let m = d.finish(&mut plain).unwrap();
                assert_eq!(plain[..m], msg[..], "{ty:#x} {len} multi-part");
            }
        }
    }

    #[test]
    fn cipher_refusals() {
        let (private, public, _) = pair();
        for ty in ALL_CIPHER {
            assert_eq!(encrypt(ty, &public, &[]).err(), Some(Error::DataLenRange));
            let mut c = cipher_init(&Mechanism::new(ty), &public, true).unwrap();
            assert_eq!(c.finish(&mut [0u8; 200]), Err(Error::DataLenRange), "empty multi-part");
            let with_param = Mechanism::with(ty, Param::Bytes(vec![1]));
            assert_eq!(cipher_init(&with_param, &public, true).err(), Some(Error::MechanismParamInvalid));
            assert_eq!(cipher_init(&with_param, &private, false).err(), Some(Error::MechanismParamInvalid));
            assert_eq!(wrap_len(&with_param, &public, 16).err(), Some(Error::MechanismParamInvalid));
            assert_eq!(unwrap(&with_param, &private, &[0; 120]).err(), Some(Error::MechanismParamInvalid));
            let ct = encrypt(ty, &public, b"sixteen byte key").unwrap();
            assert_eq!(decrypt(ty, &private, &[]).err(), Some(Error::EncryptedDataLenRange));
            assert_eq!(decrypt(ty, &private, &ct[..40]).err(), Some(Error::EncryptedDataLenRange));
            let mut bad = ct.clone();
            let at = bad.len() - 20;
            bad[at] ^= 1;
            assert_eq!(decrypt(ty, &private, &bad).err(), Some(Error::EncryptedDataInvalid));
            // DER refuses the trailing byte; raw has no framing, so the byte is one more of
            // C2, which C3 then refuses.
            let mut long = ct.clone();
            long.push(0);
            assert_eq!(decrypt(ty, &private, &long).err(), Some(Error::EncryptedDataInvalid), "{ty:#x}");
            // A short output buffer is reported with the length needed.
            let mut d = cipher_init(&Mechanism::new(ty), &private, false).unwrap();
            assert_eq!(d.run(&ct, &mut [0u8; 15]), Err(Error::BufferTooSmall(16)));
            let mut e = cipher_init(&Mechanism::new(ty), &public, true).unwrap();
            assert!(matches!(e.run(b"abc", &mut [0u8; 99]), Err(Error::BufferTooSmall(_))));
        }
        // Raw: exactly C1‖C3 with no C2 is too short; a compressed C1 is malformed.
        let ct = encrypt(CKM_SM2_RAW, &public, &[5u8; 40]).unwrap();
        assert_eq!(decrypt(CKM_SM2_RAW, &private, &ct[..97]).err(), Some(Error::EncryptedDataLenRange));
        let compressed = [&[2 + (ct[64] & 1)][..], &ct[1..33], &ct[65..]].concat();
        assert_eq!(decrypt(CKM_SM2_RAW, &private, &compressed).err(), Some(Error::EncryptedDataInvalid));
        // Each format refuses the other.
        let der = encrypt(CKM_SM2_CIPHER_DER, &public, &[5u8; 40]).unwrap();
        assert_eq!(decrypt(CKM_SM2_RAW, &private, &der).err(), Some(Error::EncryptedDataInvalid));
        assert_eq!(decrypt(CKM_SM2_CIPHER_DER, &private, &ct).err(), Some(Error::EncryptedDataInvalid));
    }

    /// Wrapping an SM4 key (16 bytes) and an SM2 private key's PKCS#8, both formats.
    #[test]
    fn wrap_and_unwrap() {
        let (private, public, _) = pair();
        let sm4 = h("00112233445566778899aabbccddeeff");
        let (other, _, _) = pair();
        let LoadedKey::Sm2Private(other_key) = &*other else { panic!() };
        let pkcs8 = other_key.to_pkcs8_der().unwrap();
        for ty in ALL_CIPHER {
            let m = Mechanism::new(ty);
            for material in [&sm4[..], &pkcs8[..]] {
                let wrapped = wrap(&m, &public, material).unwrap();
                assert!(wrapped.len() <= wrap_len(&m, &public, material.len()).unwrap());
                assert_eq!(*unwrap(&m, &private, &wrapped).unwrap(), material);
                // What the wrap mechanism makes, the decrypt mechanism reads, and back.
                assert_eq!(decrypt(ty, &private, &wrapped).unwrap(), material);
                let ct = encrypt(ty, &public, material).unwrap();
                assert_eq!(*unwrap(&m, &private, &ct).unwrap(), material);
                let mut bad = wrapped.clone();
                let last = bad.len() - 1;
                bad[last] ^= 1;
                assert_eq!(unwrap(&m, &private, &bad).err(), Some(Error::WrappedKeyInvalid));
                assert_eq!(unwrap(&m, &private, &wrapped[..30]).err(), Some(Error::WrappedKeyLenRange));
            }
            assert_eq!(wrap_len(&m, &public, 16), Ok(if ty == CKM_SM2_RAW { 113 } else { 124 }));
            assert_eq!(wrap(&m, &public, &[]).err(), Some(Error::KeySizeRange));
            assert_eq!(unwrap(&m, &private, &[]).err(), Some(Error::WrappedKeyLenRange));
        }
        // The unwrapped PKCS#8 is the same key.
        let wrapped = wrap(&Mechanism::new(CKM_SM2_RAW), &public, &pkcs8).unwrap();
        let der = unwrap(&Mechanism::new(CKM_SM2_RAW), &private, &wrapped).unwrap();
        let attrs = from_pkcs8(&der).unwrap();
        assert_eq!(attrs.get(CKA_VALUE).unwrap(), &other_key.scalar()[..]);
        // Through the router.
        let m = Mechanism::new(CKM_SM2_CIPHER_DER);
        let w = super::super::wrap(&m, &public, &sm4).unwrap();
        assert_eq!(*super::super::unwrap(&m, &private, &w).unwrap(), sm4);
    }

    /// A signature and a ciphertext made by OpenSSL 3 (see the engine's fixtures).
    #[test]
    fn openssl_interop() {
        let private = private_from_pkcs8(&h(OSSL_PKCS8));
        let public = openssl_public();
        let sig = h(OSSL_SIG_DEFAULT_ID);
        assert_eq!(verify(CKM_SM3_SM2_DER, &public, OSSL_MSG, &sig), Ok(()));
        assert_eq!(verify_with(&with_id(CKM_SM3_SM2_DER, DEFAULT_ID), &public, OSSL_MSG, &sig), Ok(()));
        let rs = signature_from_der(&sig).unwrap();
        assert_eq!(verify(CKM_SM3_SM2, &public, OSSL_MSG, &rs), Ok(()));
        let alice = h(OSSL_SIG_ALICE);
        let m = with_id(CKM_SM3_SM2_DER, b"alice@example.com");
        assert_eq!(verify_with(&m, &public, OSSL_MSG, &alice), Ok(()));
        assert_eq!(verify(CKM_SM3_SM2_DER, &public, OSSL_MSG, &alice), Err(Error::SignatureInvalid));
        assert_eq!(decrypt(CKM_SM2_CIPHER_DER, &private, &h(OSSL_CIPHERTEXT)).unwrap(), OSSL_MSG);
        // The same ciphertext as C1‖C3‖C2, re-encoded by the crate.
        let mut der = h(OSSL_CIPHERTEXT);
        let cipher = sm2::pke::Cipher::<sm2::Sm2, sm3::Sm3>::from_der(&der).unwrap();
        let raw = cipher.to_vec(sm2::pke::Mode::C1C3C2, false).unwrap();
        assert_eq!(raw.len(), 97 + OSSL_MSG.len());
        assert_eq!(decrypt(CKM_SM2_RAW, &private, &raw).unwrap(), OSSL_MSG);
        der[100] ^= 1;
        assert_eq!(decrypt(CKM_SM2_CIPHER_DER, &private, &der).err(), Some(Error::EncryptedDataInvalid));
        // An SM4 key wrapped by `openssl pkeyutl -encrypt` unwraps here.
        let wrapped = h(concat!(
            "307902204442f03dc392e69749e07a5858321788a96a45ae9f9062e1cd310af0bdcb45f3022100a686b522a907",
            "8bee030e8e6eaf5844732a4e80e6885faebcebea4eac24fd309a0420f905978d9bd33c29643caed17418e6a5c4",
            "58b1238d4b8cc5dd8ed14c323b5a8404104a7aa86e6fe1441a1cd708682de6e75a"
        ));
        let key = unwrap(&Mechanism::new(CKM_SM2_CIPHER_DER), &private, &wrapped).unwrap();
        assert_eq!(*key, h("00112233445566778899aabbccddeeff"));
        // Our own signature with OpenSSL's key verifies under OpenSSL's public key here.
        let ours = sign(CKM_SM3_SM2_DER, &private, OSSL_MSG).unwrap();
        assert_eq!(verify(CKM_SM3_SM2_DER, &public, OSSL_MSG, &ours), Ok(()));
    }

    #[test]
    fn public_key_import() {
        let (_, _, attrs) = pair();
        let point = point_of_attrs(&attrs);
        // Raw point in, DER form stored; the same key either way.
        let mut raw = Attributes::new();
        raw.set(CKA_EC_PARAMS, SM2_PARAMS.to_vec());
        raw.set(CKA_EC_POINT, point.clone());
        import(CKO_PUBLIC_KEY, &mut raw).unwrap();
        assert_eq!(raw.get(CKA_EC_POINT), attrs.get(CKA_EC_POINT));
        assert_eq!(raw.get(CKA_PUBLIC_KEY_INFO), attrs.get(CKA_PUBLIC_KEY_INFO));
        // OpenSSL's SPKI for OpenSSL's key.
        let spki = h(OSSL_SPKI);
        let mut a = Attributes::new();
        a.set(CKA_EC_PARAMS, SM2_PARAMS.to_vec());
        a.set(CKA_EC_POINT, spki[spki.len() - 65..].to_vec());
        import(CKO_PUBLIC_KEY, &mut a).unwrap();
        assert_eq!(a.get(CKA_PUBLIC_KEY_INFO), Some(&spki[..]));

        let mut off = point.clone();
        off[64] ^= 1;
        assert_eq!(public_from_point(&off).err(), Some(Error::AttributeValueInvalid));
        assert_eq!(public_from_point(&point[..64]).err(), Some(Error::AttributeValueInvalid));
        assert_eq!(public_from_point(&point_attr(&off).unwrap()).err(), Some(Error::AttributeValueInvalid));
        assert_eq!(
            public_from_point(&point_attr(&point[..33]).unwrap()).err(),
            Some(Error::AttributeValueInvalid)
        );
        assert_eq!(public_from_point(b"").err(), Some(Error::AttributeValueInvalid));
        // A P-256 point under the SM2 curve.
        let p256 = crate::engine::ec::EcPrivateKey::generate(crate::engine::ec::Curve::P256).unwrap();
        assert_eq!(public_from_point(&p256.public_point()).err(), Some(Error::AttributeValueInvalid));
        let mut a = Attributes::new();
        a.set(CKA_EC_POINT, point.clone());
        assert_eq!(import(CKO_PUBLIC_KEY, &mut a), Err(Error::TemplateIncomplete));
        a.set(CKA_EC_PARAMS, h(P256_PARAMS));
        assert_eq!(import(CKO_PUBLIC_KEY, &mut a), Err(Error::CurveNotSupported));
        assert!(matches!(load(CKO_PUBLIC_KEY, &a), Err(Error::CurveNotSupported)));
        let mut a = Attributes::new();
        a.set(CKA_EC_PARAMS, SM2_PARAMS.to_vec());
        assert_eq!(import(CKO_PUBLIC_KEY, &mut a), Err(Error::TemplateIncomplete));
        assert_eq!(import(CKO_SECRET_KEY, &mut a), Err(Error::TemplateInconsistent));
        assert!(matches!(load(CKO_SECRET_KEY, &a), Err(Error::KeyTypeInconsistent)));
    }

    #[test]
    fn private_key_import() {
        // Leading zeros stripped: padded back.
        let mut d = vec![0u8; 2];
        d.extend_from_slice(&[0x42; 30]);
        let a = import_private(&d[2..]).unwrap();
        assert_eq!(a.get(CKA_VALUE), Some(&d[..]));
        assert!(!a.contains(CKA_EC_POINT));
        // One extra zero in front (a signed integer's encoding) is harmless.
        let mut signed = vec![0u8];
        signed.extend_from_slice(&h(ORDER));
        signed[32] -= 1;
        assert!(import_private(&signed).is_ok());
        // The SPKI is that of d·G: OpenSSL's key gives OpenSSL's SPKI.
        let k = crate::engine::sm2::tests::OSSL_D;
        let a = import_private(&h(k)).unwrap();
        assert_eq!(a.get(CKA_PUBLIC_KEY_INFO), Some(&h(OSSL_SPKI)[..]));
        let mut above = h(ORDER);
        above[31] += 1;
        for bad in [vec![], vec![0u8; 32], vec![0u8; 1], h(ORDER), above, vec![0xff; 32], vec![1u8; 33]] {
            assert_eq!(
                import_private(&bad).err(),
                Some(Error::AttributeValueInvalid),
                "{}",
                hex::encode(&bad)
            );
        }
        let mut a = Attributes::new();
        a.set(CKA_VALUE, h(k));
        assert_eq!(import(CKO_PRIVATE_KEY, &mut a), Err(Error::TemplateIncomplete));
        for params in [h(P256_PARAMS), h("3003020101"), vec![]] {
            a.set(CKA_EC_PARAMS, params);
            assert_eq!(import(CKO_PRIVATE_KEY, &mut a), Err(Error::CurveNotSupported));
        }
        let mut a = Attributes::new();
        a.set(CKA_EC_PARAMS, SM2_PARAMS.to_vec());
        assert_eq!(import(CKO_PRIVATE_KEY, &mut a), Err(Error::TemplateIncomplete));
        // An imported key signs like a generated one, and with the key OpenSSL made.
        let key = Arc::new(load(CKO_PRIVATE_KEY, &import_private(&h(k)).unwrap()).unwrap());
        let sig = sign(CKM_SM3_SM2, &key, b"imported").unwrap();
        assert_eq!(verify(CKM_SM3_SM2, &openssl_public(), b"imported", &sig), Ok(()));
    }

    #[test]
    fn pkcs8_through_attributes() {
        let g =
            generate_pair(&Mechanism::new(CKM_SM2_KEY_PAIR_GEN), &Template::new(), &Template::new()).unwrap();
        let der = to_pkcs8(&g.private).unwrap();
        let back = from_pkcs8(&der).unwrap();
        for ty in [CKA_EC_PARAMS, CKA_VALUE, CKA_PUBLIC_KEY_INFO] {
            assert_eq!(back.get(ty), g.private.get(ty), "{ty:#x}");
        }
        assert_eq!(back.len(), 3);
        // OpenSSL's PKCS#8 in, the same bytes out.
        let attrs = from_pkcs8(&h(OSSL_PKCS8)).unwrap();
        assert_eq!(*to_pkcs8(&attrs).unwrap(), h(OSSL_PKCS8));
        assert_eq!(attrs.get(CKA_PUBLIC_KEY_INFO), Some(&h(OSSL_SPKI)[..]));
        // The router agrees.
        assert_eq!(*super::super::private_key_to_pkcs8(CKK_SM2, &attrs).unwrap(), h(OSSL_PKCS8));
        assert!(super::super::private_key_from_pkcs8(CKK_SM2, &h(OSSL_PKCS8)).is_ok());

        assert_eq!(from_pkcs8(b"\x30\x03\x02\x01\x00").err(), Some(Error::WrappedKeyInvalid));
        assert_eq!(from_pkcs8(&[]).err(), Some(Error::WrappedKeyInvalid));
        let p256 = crate::engine::ec::EcPrivateKey::generate(crate::engine::ec::Curve::P256).unwrap();
        assert_eq!(from_pkcs8(&p256.to_pkcs8_der().unwrap()).err(), Some(Error::CurveNotSupported));
        let mut a = Attributes::new();
        a.set(CKA_EC_PARAMS, SM2_PARAMS.to_vec());
        assert_eq!(to_pkcs8(&a).err(), Some(Error::TemplateIncomplete));
    }
}
