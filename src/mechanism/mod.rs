//! Mechanisms: for each `CKM_*` its key types, sizes and flags, and its operation. One file per
//! family; this module holds the operation traits every family implements and routes a
//! mechanism to its family. Nothing here knows where keys are stored.

pub mod aes;
mod block_modes;
pub mod digest;
pub mod ec;
pub mod hmac;
pub mod kms_envelope;
pub mod rsa;
pub mod rsa_aes;
pub mod sm2;
pub mod sm4;

use crate::error::{Error, Result};
use crate::object::attribute::{Attributes, Template};
use crate::vendor::{CKK_SM2, CKK_SM4};
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::Zeroizing;

/// A mechanism and its parameter, converted from the caller's `CK_MECHANISM`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mechanism {
    pub ty: CK_MECHANISM_TYPE,
    pub param: Param,
}

impl Mechanism {
    pub fn new(ty: CK_MECHANISM_TYPE) -> Mechanism {
        Mechanism { ty, param: Param::None }
    }

    pub fn with(ty: CK_MECHANISM_TYPE, param: Param) -> Mechanism {
        Mechanism { ty, param }
    }
}

/// A mechanism parameter. The FFI layer decodes the C structure named by the mechanism type into
/// one of these; families reject a parameter of the wrong shape with
/// `CKR_MECHANISM_PARAM_INVALID`.
#[derive(Clone, PartialEq, Eq)]
pub enum Param {
    None,
    /// A byte string: an IV (CBC, ECB has none), a signer ID, a raw vendor parameter.
    Bytes(Vec<u8>),
    /// `CK_GCM_PARAMS`.
    Gcm {
        iv: Vec<u8>,
        aad: Vec<u8>,
        tag_bits: u64,
    },
    /// `CK_AES_CTR_PARAMS` (also the SM4 CTR layout).
    Ctr {
        counter_bits: u64,
        counter_block: [u8; 16],
    },
    /// `CK_RSA_PKCS_OAEP_PARAMS`; `source` is the label (`CKZ_DATA_SPECIFIED`).
    Oaep {
        hash: CK_MECHANISM_TYPE,
        mgf: CK_RSA_PKCS_MGF_TYPE,
        source: Vec<u8>,
    },
    /// `CK_RSA_PKCS_PSS_PARAMS`.
    Pss {
        hash: CK_MECHANISM_TYPE,
        mgf: CK_RSA_PKCS_MGF_TYPE,
        salt_len: u64,
    },
    /// `CK_ECDH1_DERIVE_PARAMS`.
    Ecdh {
        kdf: CK_EC_KDF_TYPE,
        shared_data: Vec<u8>,
        public_data: Vec<u8>,
    },
    /// `CK_MAC_GENERAL_PARAMS` and other single-`CK_ULONG` parameters.
    Ulong(u64),
    /// `CK_KMS_DATA_KEY_PARAMS`: data key length (0: the default) and encryption context.
    DataKey {
        len: u64,
        context: Vec<u8>,
    },
    /// `CK_RSA_AES_KEY_WRAP_PARAMS`: the size of the ephemeral AES key, and the
    /// `CK_RSA_PKCS_OAEP_PARAMS` that seal it, kept as the `Param::Oaep` they decode to so that
    /// `CKM_RSA_PKCS_OAEP` checks them.
    RsaAes {
        aes_key_bits: u64,
        oaep: Box<Param>,
    },
}

impl std::fmt::Debug for Param {
    // Parameters can carry caller data (AAD, labels); only the shape is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Param::None => "None",
            Param::Bytes(_) => "Bytes",
            Param::Gcm { .. } => "Gcm",
            Param::Ctr { .. } => "Ctr",
            Param::Oaep { .. } => "Oaep",
            Param::Pss { .. } => "Pss",
            Param::Ecdh { .. } => "Ecdh",
            Param::Ulong(_) => "Ulong",
            Param::DataKey { .. } => "DataKey",
            Param::RsaAes { .. } => "RsaAes",
        };
        f.write_str(name)
    }
}

/// The versions of a managed key, newest first (the first is the primary): what KMS envelope
/// encryption and decryption with an older version need.
pub struct Versions(pub Vec<(String, Arc<LoadedKey>)>);

/// Key material parsed once and kept with its object, so the hot path never parses a key or
/// expands a key schedule again.
pub enum LoadedKey {
    Aes(crate::engine::aes::AesKey),
    /// Generic secret and HMAC keys.
    Generic {
        key_type: CK_KEY_TYPE,
        value: Zeroizing<Vec<u8>>,
    },
    RsaPrivate(crate::engine::rsa::RsaPrivateKey),
    RsaPublic(crate::engine::rsa::RsaPublicKey),
    EcPrivate(crate::engine::ec::EcPrivateKey),
    EcPublic(crate::engine::ec::EcPublicKey),
    Sm4(crate::engine::sm4::Sm4Key),
    Sm2Private(crate::engine::sm2::Sm2PrivateKey),
    Sm2Public(crate::engine::sm2::Sm2PublicKey),
}

impl LoadedKey {
    /// The key's raw value for secret keys (what `C_WrapKey` wraps and `C_DigestKey` digests).
    pub fn secret_bytes(&self) -> Option<&[u8]> {
        match self {
            LoadedKey::Aes(k) => Some(k.bytes()),
            LoadedKey::Generic { value, .. } => Some(value),
            LoadedKey::Sm4(k) => Some(k.bytes()),
            _ => None,
        }
    }
}

/// A cipher operation in one direction (encrypt or decrypt). Output buffers handed to it are at
/// least as long as the matching `*_len` says.
#[allow(clippy::len_without_is_empty)] // `len` is an output length, never "empty".
pub trait Cipher: Send {
    /// Bytes that suffice for the single-part output of `input_len` input bytes.
    fn len(&self, input_len: usize) -> usize;
    /// Single-part operation.
    fn run(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize>;
    /// Exact output of the next `update` with `input_len` bytes.
    fn update_len(&self, input_len: usize) -> usize;
    fn update(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize>;
    /// Bytes that suffice for `finish`.
    fn final_len(&self) -> usize;
    fn finish(&mut self, out: &mut [u8]) -> Result<usize>;
}

/// A signing or MAC operation.
#[allow(clippy::len_without_is_empty)] // `len` is an output length, never "empty".
pub trait Signer: Send {
    fn len(&self) -> usize;
    fn sign(&mut self, data: &[u8], out: &mut [u8]) -> Result<usize>;
    fn update(&mut self, data: &[u8]) -> Result<()>;
    fn finish(&mut self, out: &mut [u8]) -> Result<usize>;
}

/// A verification operation.
pub trait Verifier: Send {
    fn verify(&mut self, data: &[u8], signature: &[u8]) -> Result<()>;
    fn update(&mut self, data: &[u8]) -> Result<()>;
    fn finish(&mut self, signature: &[u8]) -> Result<()>;
}

/// A digest operation.
#[allow(clippy::len_without_is_empty)] // `len` is an output length, never "empty".
pub trait Digester: Send {
    fn len(&self) -> usize;
    fn update(&mut self, data: &[u8]) -> Result<()>;
    fn finish(&mut self, out: &mut [u8]) -> Result<usize>;
}

/// What a key generation produced: the key type and the attributes that carry its material
/// (`CKA_VALUE`, `CKA_MODULUS`, …) and those computed from it (`CKA_VALUE_LEN`, …).
pub struct Generated {
    pub key_type: CK_KEY_TYPE,
    pub attrs: Attributes,
}

/// What a key pair generation produced.
pub struct GeneratedPair {
    pub key_type: CK_KEY_TYPE,
    pub public: Attributes,
    pub private: Attributes,
}

/// Sizes and flags reported by `C_GetMechanismInfo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Info {
    pub min_key: u64,
    pub max_key: u64,
    pub flags: CK_FLAGS,
}

impl Info {
    pub const fn new(min_key: u64, max_key: u64, flags: CK_FLAGS) -> Info {
        Info { min_key, max_key, flags }
    }
}

/// The families, in the order `C_GetMechanismList` lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Aes,
    Rsa,
    Ec,
    Digest,
    Hmac,
    Sm2,
    Sm4,
    KmsEnvelope,
}

const FAMILIES: [Family; 8] = [
    Family::Aes,
    Family::Rsa,
    Family::Ec,
    Family::Digest,
    Family::Hmac,
    Family::Sm2,
    Family::Sm4,
    Family::KmsEnvelope,
];

fn table(f: Family) -> &'static [(CK_MECHANISM_TYPE, Info)] {
    match f {
        Family::Aes => aes::MECHANISMS,
        Family::Rsa => rsa::MECHANISMS,
        Family::Ec => ec::MECHANISMS,
        Family::Digest => digest::MECHANISMS,
        Family::Hmac => hmac::MECHANISMS,
        Family::Sm2 => sm2::MECHANISMS,
        Family::Sm4 => sm4::MECHANISMS,
        Family::KmsEnvelope => kms_envelope::MECHANISMS,
    }
}

fn family_of(ty: CK_MECHANISM_TYPE) -> Result<Family> {
    FAMILIES.into_iter().find(|f| table(*f).iter().any(|(t, _)| *t == ty)).ok_or(Error::MechanismInvalid)
}

/// Every mechanism the local engine implements.
pub fn all() -> Vec<CK_MECHANISM_TYPE> {
    FAMILIES.iter().flat_map(|f| table(*f).iter().map(|(t, _)| *t)).collect()
}

/// `C_GetMechanismInfo` for one mechanism.
pub fn info(ty: CK_MECHANISM_TYPE) -> Result<Info> {
    FAMILIES
        .iter()
        .find_map(|f| table(*f).iter().find(|(t, _)| *t == ty).map(|(_, i)| *i))
        .ok_or(Error::MechanismInvalid)
}

/// Whether the mechanism can perform the operation named by `flag` (`CKF_ENCRYPT`, …).
pub fn supports(ty: CK_MECHANISM_TYPE, flag: CK_FLAGS) -> bool {
    info(ty).is_ok_and(|i| i.flags & flag != 0)
}

fn require(mech: &Mechanism, flag: CK_FLAGS) -> Result<Family> {
    let family = family_of(mech.ty)?;
    if !supports(mech.ty, flag) {
        return Err(Error::MechanismInvalid);
    }
    Ok(family)
}

pub fn encrypt_init(mech: &Mechanism, key: &Arc<LoadedKey>) -> Result<Box<dyn Cipher>> {
    match require(mech, CKF_ENCRYPT)? {
        Family::Aes => aes::cipher_init(mech, key, true),
        Family::Rsa => rsa::cipher_init(mech, key, true),
        Family::Sm2 => sm2::cipher_init(mech, key, true),
        Family::Sm4 => sm4::cipher_init(mech, key, true),
        _ => Err(Error::MechanismInvalid),
    }
}

pub fn decrypt_init(mech: &Mechanism, key: &Arc<LoadedKey>) -> Result<Box<dyn Cipher>> {
    match require(mech, CKF_DECRYPT)? {
        Family::Aes => aes::cipher_init(mech, key, false),
        Family::Rsa => rsa::cipher_init(mech, key, false),
        Family::Sm2 => sm2::cipher_init(mech, key, false),
        Family::Sm4 => sm4::cipher_init(mech, key, false),
        _ => Err(Error::MechanismInvalid),
    }
}

pub fn sign_init(mech: &Mechanism, key: &Arc<LoadedKey>) -> Result<Box<dyn Signer>> {
    match require(mech, CKF_SIGN)? {
        Family::Aes => aes::sign_init(mech, key),
        Family::Rsa => rsa::sign_init(mech, key),
        Family::Ec => ec::sign_init(mech, key),
        Family::Hmac => hmac::sign_init(mech, key),
        Family::Sm2 => sm2::sign_init(mech, key),
        Family::Digest | Family::Sm4 | Family::KmsEnvelope => Err(Error::MechanismInvalid),
    }
}

pub fn verify_init(mech: &Mechanism, key: &Arc<LoadedKey>) -> Result<Box<dyn Verifier>> {
    match require(mech, CKF_VERIFY)? {
        Family::Aes => aes::verify_init(mech, key),
        Family::Rsa => rsa::verify_init(mech, key),
        Family::Ec => ec::verify_init(mech, key),
        Family::Hmac => hmac::verify_init(mech, key),
        Family::Sm2 => sm2::verify_init(mech, key),
        Family::Digest | Family::Sm4 | Family::KmsEnvelope => Err(Error::MechanismInvalid),
    }
}

pub fn digest_init(mech: &Mechanism) -> Result<Box<dyn Digester>> {
    match require(mech, CKF_DIGEST)? {
        Family::Digest => digest::digest_init(mech),
        _ => Err(Error::MechanismInvalid),
    }
}

/// Bytes that suffice for wrapping `key_len` bytes of key material.
pub fn wrap_len(mech: &Mechanism, wrapping_key: &LoadedKey, key_len: usize) -> Result<usize> {
    match require(mech, CKF_WRAP)? {
        Family::Aes => aes::wrap_len(mech, wrapping_key, key_len),
        Family::Rsa if mech.ty == CKM_RSA_AES_KEY_WRAP => rsa_aes::wrap_len(mech, wrapping_key, key_len),
        Family::Rsa => rsa::wrap_len(mech, wrapping_key, key_len),
        Family::Sm2 => sm2::wrap_len(mech, wrapping_key, key_len),
        Family::Sm4 => sm4::wrap_len(mech, wrapping_key, key_len),
        _ => Err(Error::MechanismInvalid),
    }
}

/// Wraps key material (a secret key's value, or a private key's PKCS#8 encoding).
pub fn wrap(mech: &Mechanism, wrapping_key: &LoadedKey, material: &[u8]) -> Result<Vec<u8>> {
    match require(mech, CKF_WRAP)? {
        Family::Aes => aes::wrap(mech, wrapping_key, material),
        Family::Rsa if mech.ty == CKM_RSA_AES_KEY_WRAP => rsa_aes::wrap(mech, wrapping_key, material),
        Family::Rsa => rsa::wrap(mech, wrapping_key, material),
        Family::Sm2 => sm2::wrap(mech, wrapping_key, material),
        Family::Sm4 => sm4::wrap(mech, wrapping_key, material),
        _ => Err(Error::MechanismInvalid),
    }
}

/// Unwraps key material.
pub fn unwrap(mech: &Mechanism, unwrapping_key: &LoadedKey, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    match require(mech, CKF_UNWRAP)? {
        Family::Aes => aes::unwrap(mech, unwrapping_key, wrapped),
        Family::Rsa if mech.ty == CKM_RSA_AES_KEY_WRAP => rsa_aes::unwrap(mech, unwrapping_key, wrapped),
        Family::Rsa => rsa::unwrap(mech, unwrapping_key, wrapped),
        Family::Sm2 => sm2::unwrap(mech, unwrapping_key, wrapped),
        Family::Sm4 => sm4::unwrap(mech, unwrapping_key, wrapped),
        _ => Err(Error::MechanismInvalid),
    }
}

/// The KMS mechanisms, which work on a managed key's versions rather than one key.
pub fn is_kms_mechanism(ty: CK_MECHANISM_TYPE) -> bool {
    matches!(ty, crate::vendor::CKM_KMS_ENVELOPE | crate::vendor::CKM_KMS_DATA_KEY_WITHOUT_PLAINTEXT)
}

/// Mechanisms whose ciphertext authenticates the key that made it, so that a managed key can
/// try each of its versions in turn on data sealed before a rotation (DESIGN §3). Other modes
/// would "decrypt" under any key into garbage, so they use the primary version only.
fn opens_with_any_version(ty: CK_MECHANISM_TYPE) -> bool {
    matches!(ty, CKM_AES_GCM | CKM_AES_KEY_WRAP | CKM_AES_KEY_WRAP_KWP | crate::vendor::CKM_SM4_GCM)
}

/// The failures that mean "not sealed under this version".
fn wrong_version(e: &Error) -> bool {
    matches!(e, Error::EncryptedDataInvalid | Error::WrappedKeyInvalid)
}

/// Decryption with a managed key's versions (newest first): the envelope format names its
/// version; authenticated modes try each version; anything else uses the primary.
pub fn decrypt_init_versions(mech: &Mechanism, versions: &Arc<Versions>) -> Result<Box<dyn Cipher>> {
    if is_kms_mechanism(mech.ty) {
        return kms_envelope::cipher_init(mech, versions, false);
    }
    let primary = &versions.0.first().ok_or(Error::GeneralError)?.1;
    let first = decrypt_init(mech, primary)?;
    if versions.0.len() == 1 || !opens_with_any_version(mech.ty) {
        return Ok(first);
    }
    Ok(Box::new(Buffered::new(AnyVersion { mech: mech.clone(), versions: versions.clone(), first })))
}

/// Encryption with a managed key: with its primary version, or the envelope format.
pub fn encrypt_init_versions(mech: &Mechanism, versions: &Arc<Versions>) -> Result<Box<dyn Cipher>> {
    if is_kms_mechanism(mech.ty) {
        return kms_envelope::cipher_init(mech, versions, true);
    }
    encrypt_init(mech, &versions.0.first().ok_or(Error::GeneralError)?.1)
}

/// Decryption that tries each version of a managed key. Each attempt decrypts into its own
/// buffer, so nothing unauthenticated reaches the caller.
struct AnyVersion {
    mech: Mechanism,
    versions: Arc<Versions>,
    first: Box<dyn Cipher>,
}

impl OneShot for AnyVersion {
    fn len(&self, input_len: usize) -> usize {
        self.first.len(input_len)
    }
    fn run(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        let mut last = Error::EncryptedDataInvalid;
        for (_, key) in &self.versions.0 {
            let mut c = decrypt_init(&self.mech, key)?;
            let mut buf = Zeroizing::new(vec![0u8; c.len(input.len())]);
            match c.run(input, &mut buf) {
                Ok(n) => {
                    let dst = out.get_mut(..n).ok_or(Error::BufferTooSmall(n))?;
                    dst.copy_from_slice(&buf[..n]);
                    return Ok(n);
                }
                Err(e) if wrong_version(&e) => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }
}

/// Wraps with a managed key's primary version (or in the envelope format).
pub fn wrap_len_versions(mech: &Mechanism, versions: &Versions, key_len: usize) -> Result<usize> {
    if mech.ty == crate::vendor::CKM_KMS_ENVELOPE {
        return kms_envelope::wrap_len(mech, versions, key_len);
    }
    wrap_len(mech, &versions.0.first().ok_or(Error::GeneralError)?.1, key_len)
}

pub fn wrap_versions(mech: &Mechanism, versions: &Versions, material: &[u8]) -> Result<Vec<u8>> {
    if mech.ty == crate::vendor::CKM_KMS_ENVELOPE {
        return kms_envelope::wrap(mech, versions, material);
    }
    wrap(mech, &versions.0.first().ok_or(Error::GeneralError)?.1, material)
}

/// Unwraps with whichever version of a managed key sealed the key (see
/// [`decrypt_init_versions`]).
pub fn unwrap_versions(mech: &Mechanism, versions: &Versions, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    if mech.ty == crate::vendor::CKM_KMS_ENVELOPE {
        return kms_envelope::unwrap(mech, versions, wrapped);
    }
    let mut last = Error::WrappedKeyInvalid;
    for (i, (_, key)) in versions.0.iter().enumerate() {
        if i > 0 && !opens_with_any_version(mech.ty) {
            break;
        }
        match unwrap(mech, key, wrapped) {
            Ok(k) => return Ok(k),
            Err(e) if wrong_version(&e) => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// Derives `len` bytes of key material from `base` (`len` 0: the mechanism's natural length).
pub fn derive(mech: &Mechanism, base: &LoadedKey, len: usize) -> Result<Zeroizing<Vec<u8>>> {
    match require(mech, CKF_DERIVE)? {
        Family::Ec => ec::derive(mech, base, len),
        _ => Err(Error::MechanismInvalid),
    }
}

/// Generates a secret key from the caller's template (which names sizes such as
/// `CKA_VALUE_LEN`).
pub fn generate_key(mech: &Mechanism, template: &Template) -> Result<Generated> {
    match require(mech, CKF_GENERATE)? {
        Family::Aes => aes::generate(mech, template),
        Family::Hmac => hmac::generate(mech, template),
        Family::Sm4 => sm4::generate(mech, template),
        _ => Err(Error::MechanismInvalid),
    }
}

/// The key type a generation mechanism makes, without making a key: what an EXTERNAL key,
/// whose material comes later, is created with.
pub fn generated_key_type(mech: CK_MECHANISM_TYPE, public: &Template) -> Result<CK_KEY_TYPE> {
    Ok(match mech {
        CKM_AES_KEY_GEN => CKK_AES,
        crate::vendor::CKM_SM4_KEY_GEN => CKK_SM4,
        crate::vendor::CKM_SM2_KEY_PAIR_GEN => CKK_SM2,
        CKM_RSA_PKCS_KEY_PAIR_GEN => CKK_RSA,
        CKM_EC_KEY_PAIR_GEN if public.get(CKA_EC_PARAMS).is_some_and(sm2::is_sm2_params) => CKK_SM2,
        CKM_EC_KEY_PAIR_GEN => CKK_EC,
        _ => return Err(Error::MechanismInvalid),
    })
}

/// Generates a key pair from the caller's two templates.
pub fn generate_key_pair(mech: &Mechanism, public: &Template, private: &Template) -> Result<GeneratedPair> {
    match require(mech, CKF_GENERATE_KEY_PAIR)? {
        Family::Rsa => rsa::generate_pair(mech, public, private),
        // CKM_EC_KEY_PAIR_GEN with the SM2 curve makes an SM2 key pair.
        Family::Ec if public.get(CKA_EC_PARAMS).is_some_and(sm2::is_sm2_params) => {
            sm2::generate_pair(mech, public, private)
        }
        Family::Ec => ec::generate_pair(mech, public, private),
        Family::Sm2 => sm2::generate_pair(mech, public, private),
        _ => Err(Error::MechanismInvalid),
    }
}

/// Checks the material of a key object being created or unwrapped, and adds what is computed
/// from it (`CKA_VALUE_LEN`, `CKA_MODULUS_BITS`, `CKA_PUBLIC_KEY_INFO`, `CKA_EC_POINT` …).
/// `attrs` holds every attribute of the new object.
pub fn import(class: CK_OBJECT_CLASS, key_type: CK_KEY_TYPE, attrs: &mut Attributes) -> Result<()> {
    match key_type {
        CKK_AES => aes::import(class, attrs),
        CKK_RSA => rsa::import(class, attrs),
        CKK_SM2 => sm2::import(class, attrs),
        CKK_SM4 => sm4::import(class, attrs),
        CKK_EC => ec::import(class, attrs),
        kt if hmac::is_secret_key_type(kt) => hmac::import(class, kt, attrs),
        _ => Err(Error::AttributeValueInvalid),
    }
}

/// Parses an object's material into the form operations use. `attrs` holds every attribute,
/// secrets included.
pub fn load(class: CK_OBJECT_CLASS, key_type: CK_KEY_TYPE, attrs: &Attributes) -> Result<LoadedKey> {
    match key_type {
        CKK_AES => aes::load(class, attrs),
        CKK_RSA => rsa::load(class, attrs),
        CKK_SM2 => sm2::load(class, attrs),
        CKK_SM4 => sm4::load(class, attrs),
        CKK_EC => ec::load(class, attrs),
        kt if hmac::is_secret_key_type(kt) => hmac::load(class, kt, attrs),
        _ => Err(Error::KeyTypeInconsistent),
    }
}

/// Encodes a private key as PKCS#8 `PrivateKeyInfo`, the form `C_WrapKey` wraps.
pub fn private_key_to_pkcs8(key_type: CK_KEY_TYPE, attrs: &Attributes) -> Result<Zeroizing<Vec<u8>>> {
    match key_type {
        CKK_RSA => rsa::to_pkcs8(attrs),
        CKK_SM2 => sm2::to_pkcs8(attrs),
        CKK_EC => ec::to_pkcs8(attrs),
        _ => Err(Error::KeyNotWrappable),
    }
}

/// Decodes an unwrapped PKCS#8 private key into the attributes of a private key object of
/// `key_type`.
pub fn private_key_from_pkcs8(key_type: CK_KEY_TYPE, der: &[u8]) -> Result<Attributes> {
    match key_type {
        CKK_RSA => rsa::from_pkcs8(der),
        CKK_SM2 => sm2::from_pkcs8(der),
        CKK_EC => ec::from_pkcs8(der),
        _ => Err(Error::TemplateInconsistent),
    }
}

/// The attributes of the public half of a private key's material (what its public key object
/// holds; `import` completes them).
pub fn public_from_private(key_type: CK_KEY_TYPE, private: &Attributes) -> Result<Attributes> {
    use der::Decode;
    let mut out = Attributes::new();
    let copy = |out: &mut Attributes, ty| -> Result<()> {
        out.set(ty, private.get(ty).ok_or(Error::TemplateIncomplete)?.to_vec());
        Ok(())
    };
    match key_type {
        CKK_RSA => {
            copy(&mut out, CKA_MODULUS)?;
            copy(&mut out, CKA_PUBLIC_EXPONENT)?;
        }
        kt if is_ec_key_type(kt) => {
            copy(&mut out, CKA_EC_PARAMS)?;
            let spki = private.get(CKA_PUBLIC_KEY_INFO).ok_or(Error::TemplateIncomplete)?;
            let info = spki::SubjectPublicKeyInfoRef::from_der(spki).map_err(|_| Error::GeneralError)?;
            let point = info.subject_public_key.as_bytes().ok_or(Error::GeneralError)?;
            out.set(CKA_EC_POINT, point.to_vec());
        }
        _ => return Err(Error::TemplateInconsistent),
    }
    Ok(out)
}

/// Key types that carry `CKA_EC_PARAMS` / `CKA_EC_POINT`.
pub fn is_ec_key_type(kt: CK_KEY_TYPE) -> bool {
    kt == CKK_EC || kt == CKK_SM2
}

/// The key types a secret key can have.
pub fn is_secret_key_type(kt: CK_KEY_TYPE) -> bool {
    kt == CKK_AES || kt == CKK_SM4 || hmac::is_secret_key_type(kt)
}

/// Runs a cipher whose mechanism has no natural multi-part form (RSA, key wrap…) by buffering
/// the parts and running the single-part operation at the end.
pub struct Buffered<C> {
    pub inner: C,
    pub buffer: Zeroizing<Vec<u8>>,
}

/// The single-part operation of a cipher that buffers its multi-part input.
#[allow(clippy::len_without_is_empty)] // `len` is an output length, never "empty".
pub trait OneShot: Send {
    fn len(&self, input_len: usize) -> usize;
    fn run(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize>;
}

impl<C: OneShot> Buffered<C> {
    pub fn new(inner: C) -> Buffered<C> {
        Buffered { inner, buffer: Zeroizing::new(Vec::new()) }
    }
}

impl<C: OneShot> Cipher for Buffered<C> {
    fn len(&self, input_len: usize) -> usize {
        self.inner.len(input_len)
    }
    fn run(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        self.inner.run(input, out)
    }
    fn update_len(&self, _input_len: usize) -> usize {
        0
    }
    fn update(&mut self, input: &[u8], _out: &mut [u8]) -> Result<usize> {
        self.buffer.extend_from_slice(input);
        Ok(0)
    }
    fn final_len(&self) -> usize {
        self.inner.len(self.buffer.len())
    }
    fn finish(&mut self, out: &mut [u8]) -> Result<usize> {
        let data = std::mem::take(&mut *self.buffer);
        let data = Zeroizing::new(data);
        self.inner.run(&data, out)
    }
}

/// A signer or verifier over a message that is hashed first; the pre-hashed form signs the
/// digest. Families use it for `CKM_SHA256_RSA_PKCS`, `CKM_ECDSA_SHA256` and the like.
pub struct HashThen<S> {
    pub hasher: crate::engine::digest::Hasher,
    pub inner: S,
}

/// A signature scheme that signs and verifies a digest.
#[allow(clippy::len_without_is_empty)] // `len` is an output length, never "empty".
pub trait DigestSigner: Send {
    fn len(&self) -> usize;
    fn sign_digest(&self, digest: &[u8], out: &mut [u8]) -> Result<usize>;
}

pub trait DigestVerifier: Send {
    fn verify_digest(&self, digest: &[u8], signature: &[u8]) -> Result<()>;
}

impl<S: DigestSigner> Signer for HashThen<S> {
    fn len(&self) -> usize {
        self.inner.len()
    }
    fn sign(&mut self, data: &[u8], out: &mut [u8]) -> Result<usize> {
        self.hasher.update(data);
        self.finish(out)
    }
    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.hasher.update(data);
        Ok(())
    }
    fn finish(&mut self, out: &mut [u8]) -> Result<usize> {
        let digest = self.hasher.finish_reset();
        self.inner.sign_digest(&digest, out)
    }
}

impl<S: DigestVerifier> Verifier for HashThen<S> {
    fn verify(&mut self, data: &[u8], signature: &[u8]) -> Result<()> {
        self.hasher.update(data);
        self.finish(signature)
    }
    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.hasher.update(data);
        Ok(())
    }
    fn finish(&mut self, signature: &[u8]) -> Result<()> {
        let digest = self.hasher.finish_reset();
        self.inner.verify_digest(&digest, signature)
    }
}

/// A signer over a caller-supplied digest (`CKM_ECDSA`, `CKM_RSA_PKCS` with a DigestInfo):
/// multi-part input is collected and signed as one value.
pub struct Prehashed<S> {
    pub inner: S,
    pub buffer: Vec<u8>,
}

impl<S> Prehashed<S> {
    pub fn new(inner: S) -> Prehashed<S> {
        Prehashed { inner, buffer: Vec::new() }
    }
}

impl<S: DigestSigner> Signer for Prehashed<S> {
    fn len(&self) -> usize {
        self.inner.len()
    }
    fn sign(&mut self, data: &[u8], out: &mut [u8]) -> Result<usize> {
        self.inner.sign_digest(data, out)
    }
    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.buffer.extend_from_slice(data);
        Ok(())
    }
    fn finish(&mut self, out: &mut [u8]) -> Result<usize> {
        let data = std::mem::take(&mut self.buffer);
        self.inner.sign_digest(&data, out)
    }
}

impl<S: DigestVerifier> Verifier for Prehashed<S> {
    fn verify(&mut self, data: &[u8], signature: &[u8]) -> Result<()> {
        self.inner.verify_digest(data, signature)
    }
    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.buffer.extend_from_slice(data);
        Ok(())
    }
    fn finish(&mut self, signature: &[u8]) -> Result<()> {
        let data = std::mem::take(&mut self.buffer);
        self.inner.verify_digest(&data, signature)
    }
}

/// The digest algorithm of a hash mechanism (`CKM_SHA256` → SHA-256), for OAEP, PSS and
/// hash-then-sign mechanisms.
pub fn hash_of(ty: CK_MECHANISM_TYPE) -> Result<crate::engine::digest::Algorithm> {
    use crate::engine::digest::Algorithm::*;
    Ok(match ty {
        CKM_SHA_1 => Sha1,
        CKM_SHA224 => Sha224,
        CKM_SHA256 => Sha256,
        CKM_SHA384 => Sha384,
        CKM_SHA512 => Sha512,
        _ => return Err(Error::MechanismParamInvalid),
    })
}

/// The MGF1 hash of an `CKG_MGF1_*` value.
pub fn mgf_hash(mgf: CK_RSA_PKCS_MGF_TYPE) -> Result<crate::engine::digest::Algorithm> {
    use crate::engine::digest::Algorithm::*;
    Ok(match mgf {
        CKG_MGF1_SHA1 => Sha1,
        CKG_MGF1_SHA224 => Sha224,
        CKG_MGF1_SHA256 => Sha256,
        CKG_MGF1_SHA384 => Sha384,
        CKG_MGF1_SHA512 => Sha512,
        _ => return Err(Error::MechanismParamInvalid),
    })
}

/// The key length a template asks for with `CKA_VALUE_LEN`.
pub fn value_len(template: &Template) -> Result<Option<usize>> {
    Ok(template.get_ulong(CKA_VALUE_LEN)?.map(|v| v as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_mechanism_has_info() {
        for ty in all() {
            let i = info(ty).unwrap();
            assert!(i.flags != 0, "{ty:#x} has no flags");
            assert!(i.min_key <= i.max_key, "{ty:#x} sizes");
        }
    }

    #[test]
    fn mechanisms_are_listed_once() {
        let mut v = all();
        let n = v.len();
        v.sort();
        v.dedup();
        assert_eq!(v.len(), n);
    }

    #[test]
    fn unknown_mechanism_is_invalid() {
        assert_eq!(info(0x7fff_ffff), Err(Error::MechanismInvalid));
    }
}
