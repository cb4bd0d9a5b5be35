//! RSA: PKCS#1 v1.5 and PSS signatures, PKCS#1 v1.5 and OAEP encryption, key generation and
//! the PKCS#1 / PKCS#8 / SubjectPublicKeyInfo encodings.
//!
//! aws-lc-rs serves every form it offers, from objects parsed once when the key is built.
//! RustCrypto `rsa` serves the rest, from a key parsed on first use and kept:
//! PKCS#1 v1.5 signatures with SHA-1 and SHA-224 (and over data that is not a SHA-2
//! `DigestInfo`), PSS with SHA-1, SHA-224 or a salt other than the hash length, OAEP with
//! SHA-224, and the CRT values of a key given only as (n, e, d).
//!
//! aws-lc-rs refuses moduli below 2048 bits everywhere (`KeyPair`, the decrypting and
//! encrypting keys, and the `RSA_*_2048_8192_*` verification parameters). Keys of 1024 to 2047
//! bits are therefore served by `rsa` alone. Public exponents above 33 bits are refused by both.
//!
//! Where `rsa` serves a decryption, two behaviours differ from aws-lc-rs: PKCS#1 v1.5 uses
//! implicit rejection (draft-irtf-cfrg-rsa-guidance §7.2), so a malformed ciphertext yields a
//! pseudo-random message rather than an error (small keys only); and OAEP ignores the first
//! octet of the encoded message, which RFC 8017 §7.1.2 wants zero (SHA-224 and small keys).

use super::CryptoError;
use super::digest::Algorithm as Hash;
use super::rand::Rng;
use aws_lc_rs::digest as aws_digest;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{
    KeyPair, KeyPairComponents, KeySize, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OAEP_SHA384_MGF1SHA384,
    OAEP_SHA512_MGF1SHA512, OaepAlgorithm, OaepPrivateDecryptingKey, OaepPublicEncryptingKey,
    Pkcs1PrivateDecryptingKey, Pkcs1PublicEncryptingKey, PrivateDecryptingKey, PublicEncryptingKey,
    PublicKeyComponents,
};
use aws_lc_rs::signature::{self as aws_sig, ParsedPublicKey, RsaParameters, RsaSignatureEncoding};
use der::asn1::{BitStringRef, OctetStringRef, UintRef};
use der::{Decode, Encode};
use rsa::BoxedUint;
use rsa::traits::PrivateKeyParts;
use std::sync::OnceLock;
use zeroize::Zeroizing;

/// Smallest and largest modulus accepted, in bits.
pub const MIN_BITS: usize = 1024;
pub const MAX_BITS: usize = 8192;
/// aws-lc-rs serves keys from this size up.
const AWS_MIN_BITS: usize = 2048;

/// The integers of a two-prime RSA private key, big-endian without leading zeros.
pub struct Components {
    pub n: Vec<u8>,
    pub e: Vec<u8>,
    pub d: Zeroizing<Vec<u8>>,
    pub p: Zeroizing<Vec<u8>>,
    pub q: Zeroizing<Vec<u8>>,
    pub dp: Zeroizing<Vec<u8>>,
    pub dq: Zeroizing<Vec<u8>>,
    pub qinv: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Components {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Components({} bits)", modulus_bits(&self.n))
    }
}

/// `bytes` without its leading zero bytes (PKCS#11 big integers may carry them).
pub fn unsigned(bytes: &[u8]) -> &[u8] {
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    &bytes[zeros..]
}

fn secret(bytes: &[u8]) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(unsigned(bytes).to_vec())
}

/// The bit length of a big-endian integer.
pub fn modulus_bits(n: &[u8]) -> usize {
    let n = unsigned(n);
    match n.first() {
        Some(top) => (n.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
        None => 0,
    }
}

// ---------------------------------------------------------------------------------------------
// Encodings

/// DER `SubjectPublicKeyInfo` of an RSA public key (`rsaEncryption`, NULL parameters).
pub fn spki_der(n: &[u8], e: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let public = pkcs1::RsaPublicKey { modulus: uint(n)?, public_exponent: uint(e)? };
    let key = public.to_der().map_err(|_| CryptoError)?;
    let spki = spki::SubjectPublicKeyInfoRef {
        algorithm: pkcs1::ALGORITHM_ID,
        subject_public_key: BitStringRef::from_bytes(&key).map_err(|_| CryptoError)?,
    };
    spki.to_der().map_err(|_| CryptoError)
}

fn uint(b: &[u8]) -> Result<UintRef<'_>, CryptoError> {
    UintRef::new(unsigned(b)).map_err(|_| CryptoError)
}

/// DER PKCS#8 `PrivateKeyInfo` (v1) holding a PKCS#1 `RSAPrivateKey`.
pub fn pkcs8_der(c: &Components) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let key = pkcs1::RsaPrivateKeyRef {
        modulus: uint(&c.n)?,
        public_exponent: uint(&c.e)?,
        private_exponent: uint(&c.d)?,
        prime1: uint(&c.p)?,
        prime2: uint(&c.q)?,
        exponent1: uint(&c.dp)?,
        exponent2: uint(&c.dq)?,
        coefficient: uint(&c.qinv)?,
        other_prime_infos: None,
    };
    // Encoding into buffers that wipe themselves, failure included.
    let mut inner = Zeroizing::new(Vec::new());
    key.encode_to_vec(&mut inner).map_err(|_| CryptoError)?;
    let info = pkcs8::PrivateKeyInfoRef::new(
        pkcs1::ALGORITHM_ID,
        OctetStringRef::new(&inner).map_err(|_| CryptoError)?,
    );
    let mut der = Zeroizing::new(Vec::new());
    info.encode_to_vec(&mut der).map_err(|_| CryptoError)?;
    Ok(der)
}

/// The components of a PKCS#8 `PrivateKeyInfo` holding a two-prime RSA key. Only the
/// structure is checked, not that the integers form a key.
pub fn components_from_pkcs8(der: &[u8]) -> Result<Components, CryptoError> {
    let info = pkcs8::PrivateKeyInfoRef::from_der(der).map_err(|_| CryptoError)?;
    if info.algorithm.oid != pkcs1::ALGORITHM_OID || info.algorithm.parameters.is_some_and(|p| !p.is_null()) {
        return Err(CryptoError);
    }
    let key = pkcs1::RsaPrivateKeyRef::from_der(info.private_key.as_bytes()).map_err(|_| CryptoError)?;
    if key.other_prime_infos.is_some() {
        return Err(CryptoError);
    }
    Ok(Components {
        n: unsigned(key.modulus.as_bytes()).to_vec(),
        e: unsigned(key.public_exponent.as_bytes()).to_vec(),
        d: secret(key.private_exponent.as_bytes()),
        p: secret(key.prime1.as_bytes()),
        q: secret(key.prime2.as_bytes()),
        dp: secret(key.exponent1.as_bytes()),
        dq: secret(key.exponent2.as_bytes()),
        qinv: secret(key.coefficient.as_bytes()),
    })
}

// ---------------------------------------------------------------------------------------------
// Key generation and CRT recovery

/// Generates a key pair of `bits` (2048, 3072 or 4096) with e = 65537.
pub fn generate(bits: usize) -> Result<Components, CryptoError> {
    let size = match bits {
        2048 => KeySize::Rsa2048,
        3072 => KeySize::Rsa3072,
        4096 => KeySize::Rsa4096,
        _ => return Err(CryptoError),
    };
    let pair = KeyPair::generate(size)?;
    let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair)?;
    let c = components_from_pkcs8(der.as_ref())?;
    // AWS-LC generates with RSA_F4; a different exponent would break the caller's template.
    if c.e != [1, 0, 1] || modulus_bits(&c.n) != bits {
        return Err(CryptoError);
    }
    Ok(c)
}

fn public_uint(bytes: &[u8]) -> BoxedUint {
    BoxedUint::from_be_slice_vartime(unsigned(bytes))
}

fn secret_uint(bytes: &[u8]) -> Result<BoxedUint, CryptoError> {
    let bytes = unsigned(bytes);
    let bits = u32::try_from(bytes.len().max(1) * 8).map_err(|_| CryptoError)?;
    BoxedUint::from_be_slice(bytes, bits).map_err(|_| CryptoError)
}

fn uint_bytes(x: &BoxedUint) -> Zeroizing<Vec<u8>> {
    let mut v = Zeroizing::new(x.to_be_bytes().into_vec());
    let zeros = v.iter().take_while(|b| **b == 0).count();
    v.drain(..zeros);
    v
}

fn rc_private(n: &[u8], e: &[u8], d: &[u8], primes: Vec<BoxedUint>) -> Result<rsa::PrivateKey, CryptoError> {
    rsa::PrivateKey::from_components(public_uint(n), public_uint(e), secret_uint(d)?, primes)
        .map_err(|_| CryptoError)
}

/// Completes a private key given as (n, e, d) and possibly its primes: computes the CRT values
/// (and the primes when either is missing, which needs 2^16 < e < 2^256). When one prime is
/// given, it keeps its place. Nothing given beyond n, e and d is trusted: the caller compares.
pub fn complete(
    n: &[u8],
    e: &[u8],
    d: &[u8],
    p: Option<&[u8]>,
    q: Option<&[u8]>,
) -> Result<Components, CryptoError> {
    let primes = match (p, q) {
        (Some(p), Some(q)) => vec![secret_uint(p)?, secret_uint(q)?],
        _ => Vec::new(),
    };
    let mut key = rc_private(n, e, d, primes)?;
    let first = key.primes().first().map(|x| uint_bytes(x.as_ref())).ok_or(CryptoError)?;
    let swapped = match (p, q) {
        (Some(p), None) => unsigned(p) != first.as_slice(),
        (None, Some(q)) => unsigned(q) == first.as_slice(),
        _ => false,
    };
    if swapped {
        let primes: Vec<BoxedUint> = key.primes().iter().rev().map(|x| x.as_ref().clone()).collect();
        key = rc_private(n, e, d, primes)?;
    }
    let [p, q] = key.primes() else { return Err(CryptoError) };
    let (p, q) = (uint_bytes(p.as_ref()), uint_bytes(q.as_ref()));
    let dp = uint_bytes(key.dp().ok_or(CryptoError)?);
    let dq = uint_bytes(key.dq().ok_or(CryptoError)?);
    let qinv = Zeroizing::new(key.crt_coefficient().ok_or(CryptoError)?);
    Ok(Components {
        n: unsigned(n).to_vec(),
        e: unsigned(e).to_vec(),
        d: secret(d),
        p,
        q,
        dp,
        dq,
        qinv: uint_bytes(&qinv),
    })
}

// ---------------------------------------------------------------------------------------------
// Algorithm tables

fn aws_digest_alg(hash: Hash) -> &'static aws_digest::Algorithm {
    match hash {
        Hash::Sha1 => &aws_digest::SHA1_FOR_LEGACY_USE_ONLY,
        Hash::Sha224 => &aws_digest::SHA224,
        Hash::Sha256 => &aws_digest::SHA256,
        Hash::Sha384 => &aws_digest::SHA384,
        Hash::Sha512 => &aws_digest::SHA512,
    }
}

/// The verification forms aws-lc-rs offers; each has its own parsed key.
#[derive(Clone, Copy)]
enum AwsVerify {
    Pkcs1Sha1,
    Pkcs1Sha256,
    Pkcs1Sha384,
    Pkcs1Sha512,
    PssSha256,
    PssSha384,
    PssSha512,
}

const AWS_VERIFY_FORMS: usize = 7;

impl AwsVerify {
    fn pkcs1(hash: Hash) -> Option<AwsVerify> {
        match hash {
            Hash::Sha1 => Some(AwsVerify::Pkcs1Sha1),
            Hash::Sha224 => None,
            Hash::Sha256 => Some(AwsVerify::Pkcs1Sha256),
            Hash::Sha384 => Some(AwsVerify::Pkcs1Sha384),
            Hash::Sha512 => Some(AwsVerify::Pkcs1Sha512),
        }
    }

    /// aws-lc-rs verifies PSS only with a salt as long as the hash.
    fn pss(hash: Hash, salt_len: usize) -> Option<AwsVerify> {
        if salt_len != hash.len() {
            return None;
        }
        match hash {
            Hash::Sha256 => Some(AwsVerify::PssSha256),
            Hash::Sha384 => Some(AwsVerify::PssSha384),
            Hash::Sha512 => Some(AwsVerify::PssSha512),
            Hash::Sha1 | Hash::Sha224 => None,
        }
    }

    fn params(self) -> &'static RsaParameters {
        match self {
            AwsVerify::Pkcs1Sha1 => &aws_sig::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY,
            AwsVerify::Pkcs1Sha256 => &aws_sig::RSA_PKCS1_2048_8192_SHA256,
            AwsVerify::Pkcs1Sha384 => &aws_sig::RSA_PKCS1_2048_8192_SHA384,
            AwsVerify::Pkcs1Sha512 => &aws_sig::RSA_PKCS1_2048_8192_SHA512,
            AwsVerify::PssSha256 => &aws_sig::RSA_PSS_2048_8192_SHA256,
            AwsVerify::PssSha384 => &aws_sig::RSA_PSS_2048_8192_SHA384,
            AwsVerify::PssSha512 => &aws_sig::RSA_PSS_2048_8192_SHA512,
        }
    }
}

/// The signing encodings aws-lc-rs offers (PSS with salt = hash length).
fn aws_sign_encoding(pss: bool, hash: Hash, salt_len: usize) -> Option<&'static RsaSignatureEncoding> {
    if pss && salt_len != hash.len() {
        return None;
    }
    match (pss, hash) {
        (false, Hash::Sha256) => Some(&aws_sig::RSA_PKCS1_SHA256),
        (false, Hash::Sha384) => Some(&aws_sig::RSA_PKCS1_SHA384),
        (false, Hash::Sha512) => Some(&aws_sig::RSA_PKCS1_SHA512),
        (true, Hash::Sha256) => Some(&aws_sig::RSA_PSS_SHA256),
        (true, Hash::Sha384) => Some(&aws_sig::RSA_PSS_SHA384),
        (true, Hash::Sha512) => Some(&aws_sig::RSA_PSS_SHA512),
        (_, Hash::Sha1 | Hash::Sha224) => None,
    }
}

fn aws_oaep(hash: Hash) -> Option<&'static OaepAlgorithm> {
    match hash {
        Hash::Sha1 => Some(&OAEP_SHA1_MGF1SHA1),
        Hash::Sha224 => None,
        Hash::Sha256 => Some(&OAEP_SHA256_MGF1SHA256),
        Hash::Sha384 => Some(&OAEP_SHA384_MGF1SHA384),
        Hash::Sha512 => Some(&OAEP_SHA512_MGF1SHA512),
    }
}

/// Runs `$body` with `$D` naming the RustCrypto digest type of `$hash`.
macro_rules! with_digest {
    ($hash:expr, $D:ident => $body:expr) => {
        match $hash {
            Hash::Sha1 => {
                type $D = sha1::Sha1;
                $body
            }
            Hash::Sha224 => {
                type $D = sha2::Sha224;
                $body
            }
            Hash::Sha256 => {
                type $D = sha2::Sha256;
                $body
            }
            Hash::Sha384 => {
                type $D = sha2::Sha384;
                $body
            }
            Hash::Sha512 => {
                type $D = sha2::Sha512;
                $body
            }
        }
    };
}

fn copy_out(value: &[u8], out: &mut [u8]) -> Result<usize, CryptoError> {
    let dst = out.get_mut(..value.len()).ok_or(CryptoError)?;
    dst.copy_from_slice(value);
    Ok(value.len())
}

fn oaep_label(label: &[u8]) -> Option<&[u8]> {
    (!label.is_empty()).then_some(label)
}

// ---------------------------------------------------------------------------------------------
// Public key

struct AwsPublic {
    pkcs1: Pkcs1PublicEncryptingKey,
    oaep: OaepPublicEncryptingKey,
    /// Parsed on first use of each form, indexed by `AwsVerify`.
    verifiers: [OnceLock<ParsedPublicKey>; AWS_VERIFY_FORMS],
}

/// An RSA public key, parsed once.
pub struct RsaPublicKey {
    n: Vec<u8>,
    e: Vec<u8>,
    bits: usize,
    // Boxed so that the key, and `LoadedKey` holding it, stay small.
    aws: Option<Box<AwsPublic>>,
    rc: Box<rsa::PublicKey>,
}

impl std::fmt::Debug for RsaPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RsaPublicKey({} bits)", self.bits)
    }
}

impl RsaPublicKey {
    /// Builds a key from its modulus and public exponent (leading zeros allowed); refuses
    /// moduli outside `MIN_BITS..=MAX_BITS`, even moduli and exponents outside 3..2^33.
    pub fn new(n: &[u8], e: &[u8]) -> Result<RsaPublicKey, CryptoError> {
        let (n, e) = (unsigned(n), unsigned(e));
        let bits = modulus_bits(n);
        if !(MIN_BITS..=MAX_BITS).contains(&bits) || e.last().is_none_or(|b| b & 1 == 0) {
            return Err(CryptoError);
        }
        // `rsa` checks what aws-lc-rs takes on trust for public keys (odd n, e in range).
        let rc = rsa::PublicKey::new(public_uint(n), public_uint(e)).map_err(|_| CryptoError)?;
        let aws = if bits >= AWS_MIN_BITS {
            let encrypting: PublicEncryptingKey = PublicKeyComponents { n, e }.try_into()?;
            Some(Box::new(AwsPublic {
                pkcs1: Pkcs1PublicEncryptingKey::new(encrypting.clone())?,
                oaep: OaepPublicEncryptingKey::new(encrypting)?,
                verifiers: Default::default(),
            }))
        } else {
            None
        };
        Ok(RsaPublicKey { n: n.to_vec(), e: e.to_vec(), bits, aws, rc: Box::new(rc) })
    }

    pub fn bits(&self) -> usize {
        self.bits
    }

    /// The modulus length in bytes: the length of signatures and ciphertexts.
    pub fn size(&self) -> usize {
        self.bits.div_ceil(8)
    }

    pub fn modulus(&self) -> &[u8] {
        &self.n
    }

    pub fn exponent(&self) -> &[u8] {
        &self.e
    }

    fn aws_verifier(&self, form: AwsVerify) -> Option<Result<&ParsedPublicKey, CryptoError>> {
        let aws = self.aws.as_ref()?;
        let cell = &aws.verifiers[form as usize];
        if let Some(parsed) = cell.get() {
            return Some(Ok(parsed));
        }
        let components = PublicKeyComponents { n: self.n.as_slice(), e: self.e.as_slice() };
        Some(match components.to_parsed_public_key(form.params()) {
            Ok(parsed) => Ok(cell.get_or_init(|| parsed)),
            Err(_) => Err(CryptoError),
        })
    }

    fn aws_verify_digest(
        &self,
        form: AwsVerify,
        hash: Hash,
        digest: &[u8],
        sig: &[u8],
    ) -> Option<Result<(), CryptoError>> {
        let parsed = match self.aws_verifier(form)? {
            Ok(p) => p,
            Err(e) => return Some(Err(e)),
        };
        Some(
            aws_digest::Digest::import_less_safe(digest, aws_digest_alg(hash))
                .and_then(|d| parsed.verify_digest_sig(&d, sig))
                .map_err(CryptoError::from),
        )
    }

    /// Verifies a PKCS#1 v1.5 signature over `digest`, a `hash` value.
    pub fn verify_pkcs1(&self, hash: Hash, digest: &[u8], sig: &[u8]) -> Result<(), CryptoError> {
        if let Some(form) = AwsVerify::pkcs1(hash)
            && let Some(result) = self.aws_verify_digest(form, hash, digest, sig)
        {
            return result;
        }
        self.rc_verify_pkcs1(hash.digest_info_prefix(), digest, sig)
    }

    /// Verifies a PKCS#1 v1.5 signature whose encoded message carries `data` as is (normally a
    /// `DigestInfo`).
    pub fn verify_pkcs1_raw(&self, data: &[u8], sig: &[u8]) -> Result<(), CryptoError> {
        if let Some((hash, digest)) = Hash::from_digest_info(data)
            && AwsVerify::pkcs1(hash).is_some()
            && self.aws.is_some()
        {
            return self.verify_pkcs1(hash, digest, sig);
        }
        self.rc_verify_pkcs1(&[], data, sig)
    }

    fn rc_verify_pkcs1(&self, prefix: &[u8], data: &[u8], sig: &[u8]) -> Result<(), CryptoError> {
        let scheme = rsa::Pkcs1v15Sign { hash_len: None, prefix: prefix.into() };
        self.rc.verify(scheme, data, sig).map_err(|_| CryptoError)
    }

    /// Verifies a PSS signature over `digest` with MGF1 of the same hash.
    pub fn verify_pss(
        &self,
        hash: Hash,
        salt_len: usize,
        digest: &[u8],
        sig: &[u8],
    ) -> Result<(), CryptoError> {
        if let Some(form) = AwsVerify::pss(hash, salt_len)
            && let Some(result) = self.aws_verify_digest(form, hash, digest, sig)
        {
            return result;
        }
        self.rc_verify_pss(hash, salt_len, digest, sig)
    }

    fn rc_verify_pss(
        &self,
        hash: Hash,
        salt_len: usize,
        digest: &[u8],
        sig: &[u8],
    ) -> Result<(), CryptoError> {
        with_digest!(hash, D => self.rc.verify(rsa::Pss::<D>::new_with_salt(salt_len), digest, sig))
            .map_err(|_| CryptoError)
    }

    /// PKCS#1 v1.5 (type 2) encryption; `out` holds at least `size()` bytes.
    pub fn encrypt_pkcs1(&self, plaintext: &[u8], out: &mut [u8]) -> Result<usize, CryptoError> {
        match &self.aws {
            Some(aws) => Ok(aws.pkcs1.encrypt(plaintext, out)?.len()),
            None => self.rc_encrypt_pkcs1(plaintext, out),
        }
    }

    fn rc_encrypt_pkcs1(&self, plaintext: &[u8], out: &mut [u8]) -> Result<usize, CryptoError> {
        let ct = self.rc.encrypt(&mut Rng, rsa::Pkcs1v15Encrypt, plaintext).map_err(|_| CryptoError)?;
        copy_out(&ct, out)
    }

    /// OAEP encryption with MGF1 of `hash` and an optional label (empty = none).
    /// OAEP with `hash` for the label and `mgf` for MGF1 (aws-lc-rs serves only equal ones).
    pub fn encrypt_oaep(
        &self,
        hash: Hash,
        mgf: Hash,
        label: &[u8],
        plaintext: &[u8],
        out: &mut [u8],
    ) -> Result<usize, CryptoError> {
        match (&self.aws, aws_oaep(hash).filter(|_| mgf == hash)) {
            (Some(aws), Some(alg)) => Ok(aws.oaep.encrypt(alg, plaintext, out, oaep_label(label))?.len()),
            _ => self.rc_encrypt_oaep(hash, mgf, label, plaintext, out),
        }
    }

    fn rc_encrypt_oaep(
        &self,
        hash: Hash,
        mgf: Hash,
        label: &[u8],
        plaintext: &[u8],
        out: &mut [u8],
    ) -> Result<usize, CryptoError> {
        let ct = with_digest!(hash, D => with_digest!(mgf, M => {
            let padding = match oaep_label(label) {
                Some(l) => rsa::Oaep::<D, M>::new_with_mgf_hash_and_label(l),
                None => rsa::Oaep::<D, M>::new_with_mgf_hash(),
            };
            self.rc.encrypt(&mut Rng, padding, plaintext)
        }))
        .map_err(|_| CryptoError)?;
        copy_out(&ct, out)
    }
}

// ---------------------------------------------------------------------------------------------
// Private key

struct AwsPrivate {
    pair: KeyPair,
    pkcs1: Pkcs1PrivateDecryptingKey,
    oaep: OaepPrivateDecryptingKey,
}

/// An RSA private key, parsed once. It carries its public half.
pub struct RsaPrivateKey {
    public: RsaPublicKey,
    parts: Box<Components>,
    aws: Option<Box<AwsPrivate>>,
    /// The `rsa` form, built on first use (from the start for keys aws-lc-rs refuses).
    rc: OnceLock<Box<rsa::PrivateKey>>,
}

impl std::fmt::Debug for RsaPrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RsaPrivateKey({} bits)", self.public.bits)
    }
}

impl RsaPrivateKey {
    /// Builds a key from all its components and checks that they form one key.
    pub fn new(parts: Components) -> Result<RsaPrivateKey, CryptoError> {
        let parts = Components {
            n: unsigned(&parts.n).to_vec(),
            e: unsigned(&parts.e).to_vec(),
            d: secret(&parts.d),
            p: secret(&parts.p),
            q: secret(&parts.q),
            dp: secret(&parts.dp),
            dq: secret(&parts.dq),
            qinv: secret(&parts.qinv),
        };
        let public = RsaPublicKey::new(&parts.n, &parts.e)?;
        let rc = OnceLock::new();
        let aws = if public.aws.is_some() {
            // from_components runs RSA_check_key over every component, CRT values included.
            let pair = KeyPair::from_components(&KeyPairComponents {
                public_key: PublicKeyComponents { n: parts.n.as_slice(), e: parts.e.as_slice() },
                d: parts.d.as_slice(),
                p: parts.p.as_slice(),
                q: parts.q.as_slice(),
                dP: parts.dp.as_slice(),
                dQ: parts.dq.as_slice(),
                qInv: parts.qinv.as_slice(),
            })?;
            let decrypting = PrivateDecryptingKey::from_pkcs8(&pkcs8_der(&parts)?)?;
            Some(Box::new(AwsPrivate {
                pair,
                pkcs1: Pkcs1PrivateDecryptingKey::new(decrypting.clone())?,
                oaep: OaepPrivateDecryptingKey::new(decrypting)?,
            }))
        } else {
            let key = build_rc(&parts)?;
            key.validate().map_err(|_| CryptoError)?;
            // `rsa` recomputes the CRT values; the given ones must be those.
            let (dp, dq) = (key.dp().ok_or(CryptoError)?, key.dq().ok_or(CryptoError)?);
            let qinv = Zeroizing::new(key.crt_coefficient().ok_or(CryptoError)?);
            if *uint_bytes(dp) != *parts.dp
                || *uint_bytes(dq) != *parts.dq
                || *uint_bytes(&qinv) != *parts.qinv
            {
                return Err(CryptoError);
            }
            let _ = rc.set(Box::new(key));
            None
        };
        Ok(RsaPrivateKey { public, parts: Box::new(parts), aws, rc })
    }

    pub fn public(&self) -> &RsaPublicKey {
        &self.public
    }

    pub fn bits(&self) -> usize {
        self.public.bits
    }

    pub fn size(&self) -> usize {
        self.public.size()
    }

    pub fn components(&self) -> &Components {
        &self.parts
    }

    fn rc(&self) -> Result<&rsa::PrivateKey, CryptoError> {
        if let Some(key) = self.rc.get() {
            return Ok(key);
        }
        let key = build_rc(&self.parts)?;
        Ok(self.rc.get_or_init(|| Box::new(key)))
    }

    fn aws_sign(
        &self,
        encoding: &'static RsaSignatureEncoding,
        hash: Hash,
        digest: &[u8],
        out: &mut [u8],
    ) -> Option<Result<usize, CryptoError>> {
        let aws = self.aws.as_ref()?;
        let k = self.size();
        // KeyPair::sign_digest wants a buffer of exactly the modulus length.
        let Some(out) = out.get_mut(..k) else { return Some(Err(CryptoError)) };
        Some(
            aws_digest::Digest::import_less_safe(digest, aws_digest_alg(hash))
                .and_then(|d| aws.pair.sign_digest(encoding, &d, out))
                .map(|()| k)
                .map_err(CryptoError::from),
        )
    }

    /// PKCS#1 v1.5 signature over `digest`, a `hash` value; `out` holds `size()` bytes.
    pub fn sign_pkcs1(&self, hash: Hash, digest: &[u8], out: &mut [u8]) -> Result<usize, CryptoError> {
        if let Some(encoding) = aws_sign_encoding(false, hash, 0)
            && let Some(result) = self.aws_sign(encoding, hash, digest, out)
        {
            return result;
        }
        self.rc_sign_pkcs1(hash.digest_info_prefix(), digest, out)
    }

    /// PKCS#1 v1.5 signature whose encoded message carries `data` as is (at most `size()` − 11
    /// bytes, normally a `DigestInfo`).
    pub fn sign_pkcs1_raw(&self, data: &[u8], out: &mut [u8]) -> Result<usize, CryptoError> {
        if let Some((hash, digest)) = Hash::from_digest_info(data)
            && aws_sign_encoding(false, hash, 0).is_some()
            && self.aws.is_some()
        {
            return self.sign_pkcs1(hash, digest, out);
        }
        self.rc_sign_pkcs1(&[], data, out)
    }

    fn rc_sign_pkcs1(&self, prefix: &[u8], data: &[u8], out: &mut [u8]) -> Result<usize, CryptoError> {
        let scheme = rsa::Pkcs1v15Sign { hash_len: None, prefix: prefix.into() };
        let sig = self.rc()?.sign_with_rng(&mut Rng, scheme, data).map_err(|_| CryptoError)?;
        copy_out(&sig, out)
    }

    /// PSS signature over `digest` with MGF1 of the same hash and a `salt_len`-byte salt.
    pub fn sign_pss(
        &self,
        hash: Hash,
        salt_len: usize,
        digest: &[u8],
        out: &mut [u8],
    ) -> Result<usize, CryptoError> {
        if let Some(encoding) = aws_sign_encoding(true, hash, salt_len)
            && let Some(result) = self.aws_sign(encoding, hash, digest, out)
        {
            return result;
        }
        self.rc_sign_pss(hash, salt_len, digest, out)
    }

    fn rc_sign_pss(
        &self,
        hash: Hash,
        salt_len: usize,
        digest: &[u8],
        out: &mut [u8],
    ) -> Result<usize, CryptoError> {
        let key = self.rc()?;
        let sig = with_digest!(hash, D => key.sign_with_rng(&mut Rng, rsa::Pss::<D>::new_with_salt(salt_len), digest))
            .map_err(|_| CryptoError)?;
        copy_out(&sig, out)
    }

    /// PKCS#1 v1.5 (type 2) decryption; `out` holds at least `size()` bytes.
    pub fn decrypt_pkcs1(&self, ciphertext: &[u8], out: &mut [u8]) -> Result<usize, CryptoError> {
        match &self.aws {
            Some(aws) => Ok(aws.pkcs1.decrypt(ciphertext, out)?.len()),
            None => self.rc_decrypt_pkcs1(ciphertext, out),
        }
    }

    fn rc_decrypt_pkcs1(&self, ciphertext: &[u8], out: &mut [u8]) -> Result<usize, CryptoError> {
        let pt = self
            .rc()?
            .decrypt_blinded(&mut Rng, rsa::Pkcs1v15Encrypt, ciphertext)
            .map_err(|_| CryptoError)?;
        copy_out(&Zeroizing::new(pt), out)
    }

    /// OAEP decryption with MGF1 of `hash` and an optional label (empty = none); `out` holds
    /// at least `size()` bytes.
    /// OAEP with `hash` for the label and `mgf` for MGF1 (aws-lc-rs serves only equal ones).
    pub fn decrypt_oaep(
        &self,
        hash: Hash,
        mgf: Hash,
        label: &[u8],
        ciphertext: &[u8],
        out: &mut [u8],
    ) -> Result<usize, CryptoError> {
        match (&self.aws, aws_oaep(hash).filter(|_| mgf == hash)) {
            (Some(aws), Some(alg)) => Ok(aws.oaep.decrypt(alg, ciphertext, out, oaep_label(label))?.len()),
            _ => self.rc_decrypt_oaep(hash, mgf, label, ciphertext, out),
        }
    }

    fn rc_decrypt_oaep(
        &self,
        hash: Hash,
        mgf: Hash,
        label: &[u8],
        ciphertext: &[u8],
        out: &mut [u8],
    ) -> Result<usize, CryptoError> {
        let key = self.rc()?;
        // The `rsa` crate's OAEP decoding ignores the first octet of the encoded message, which
        // RFC 8017 §7.1.2 step 3g requires to be zero. Check it on the raw decryption; both
        // steps always run and fail alike, so the check adds no padding oracle.
        let first_octet_zero = self.rc_oaep_first_octet_is_zero(key, ciphertext);
        let pt = with_digest!(hash, D => with_digest!(mgf, M => {
            let padding = match oaep_label(label) {
                Some(l) => rsa::Oaep::<D, M>::new_with_mgf_hash_and_label(l),
                None => rsa::Oaep::<D, M>::new_with_mgf_hash(),
            };
            key.decrypt_blinded(&mut Rng, padding, ciphertext)
        }));
        match (pt, first_octet_zero) {
            (Ok(pt), true) => copy_out(&Zeroizing::new(pt), out),
            _ => Err(CryptoError),
        }
    }

    /// Whether the RSA decryption of `ciphertext` is below 256^(k−1), i.e. its first octet is 0.
    fn rc_oaep_first_octet_is_zero(&self, key: &rsa::PrivateKey, ciphertext: &[u8]) -> bool {
        use rsa::traits::PublicKeyParts;
        let k = key.size();
        let precision = key.n().as_ref().bits_precision();
        let Ok(c) = BoxedUint::from_be_slice(ciphertext, precision) else {
            return false;
        };
        match rsa::hazmat::rsa_decrypt_and_check(key, Some(&mut Rng), &c) {
            Ok(m) => m.bit_width() as usize <= 8 * (k - 1),
            Err(_) => false,
        }
    }
}

fn build_rc(c: &Components) -> Result<rsa::PrivateKey, CryptoError> {
    rc_private(&c.n, &c.e, &c.d, vec![secret_uint(&c.p)?, secret_uint(&c.q)?])
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::traits::PublicKeyParts;
    use std::sync::OnceLock;

    fn key() -> &'static RsaPrivateKey {
        static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
        KEY.get_or_init(|| RsaPrivateKey::new(generate(2048).unwrap()).unwrap())
    }

    fn clone_parts(c: &Components) -> Components {
        Components {
            n: c.n.clone(),
            e: c.e.clone(),
            d: c.d.clone(),
            p: c.p.clone(),
            q: c.q.clone(),
            dp: c.dp.clone(),
            dq: c.dq.clone(),
            qinv: c.qinv.clone(),
        }
    }

    const ALL: [Hash; 5] = [Hash::Sha1, Hash::Sha224, Hash::Sha256, Hash::Sha384, Hash::Sha512];

    #[test]
    fn generated_key_has_the_asked_size_and_f4() {
        let k = key();
        assert_eq!(k.bits(), 2048);
        assert_eq!(k.size(), 256);
        assert_eq!(k.public().exponent(), &[1, 0, 1]);
        let c = k.components();
        for v in [&c.n[..], &c.d, &c.p, &c.q, &c.dp, &c.dq, &c.qinv] {
            assert_ne!(v[0], 0, "leading zero");
        }
        assert!(generate(1024).is_err());
        assert!(format!("{:?}", k).contains("2048 bits"));
    }

    #[test]
    fn common_forms_are_served_by_aws_lc() {
        let k = key();
        assert!(k.aws.is_some() && k.public().aws.is_some());
        for hash in [Hash::Sha256, Hash::Sha384, Hash::Sha512] {
            assert!(aws_sign_encoding(false, hash, 0).is_some());
            assert!(aws_sign_encoding(true, hash, hash.len()).is_some());
            assert!(aws_sign_encoding(true, hash, 0).is_none());
            assert!(AwsVerify::pkcs1(hash).is_some() && AwsVerify::pss(hash, hash.len()).is_some());
        }
        for hash in [Hash::Sha1, Hash::Sha256, Hash::Sha384, Hash::Sha512] {
            assert!(aws_oaep(hash).is_some());
        }
        assert!(aws_sign_encoding(false, Hash::Sha1, 0).is_none());
        assert!(aws_oaep(Hash::Sha224).is_none());
        // The raw PKCS#1 path recognises a SHA-256 DigestInfo: same signature as the hash form,
        // which only aws-lc-rs produces on this path.
        let digest = super::super::digest::sha256(b"m");
        let mut info = Hash::Sha256.digest_info_prefix().to_vec();
        info.extend_from_slice(&digest);
        let (mut a, mut b) = ([0u8; 256], [0u8; 256]);
        let encoding = aws_sign_encoding(false, Hash::Sha256, 0).unwrap();
        k.aws_sign(encoding, Hash::Sha256, &digest, &mut a).unwrap().unwrap();
        k.sign_pkcs1_raw(&info, &mut b).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn pkcs1_signatures_agree_between_engines() {
        let k = key();
        let mut a = [0u8; 256];
        let mut b = [0u8; 256];
        for hash in ALL {
            let digest = super::super::digest::digest(hash, b"message");
            // PKCS#1 v1.5 signatures are deterministic, so both engines must produce the same.
            assert_eq!(k.sign_pkcs1(hash, &digest, &mut a).unwrap(), 256);
            assert_eq!(k.rc_sign_pkcs1(hash.digest_info_prefix(), &digest, &mut b).unwrap(), 256);
            assert_eq!(a, b, "{hash:?}");
            k.public().verify_pkcs1(hash, &digest, &a).unwrap();
            k.public().rc_verify_pkcs1(hash.digest_info_prefix(), &digest, &a).unwrap();
            a[10] ^= 1;
            assert!(k.public().verify_pkcs1(hash, &digest, &a).is_err());
            assert!(k.public().rc_verify_pkcs1(hash.digest_info_prefix(), &digest, &a).is_err());
        }
    }

    #[test]
    fn sha1_signature_of_the_fallback_verifies_on_aws_lc() {
        let k = key();
        let digest = super::super::digest::sha1(b"legacy");
        let mut sig = [0u8; 256];
        k.sign_pkcs1(Hash::Sha1, &digest, &mut sig).unwrap();
        let parsed = k.public().aws_verifier(AwsVerify::Pkcs1Sha1).unwrap().unwrap();
        assert!(parsed.verify_sig(b"legacy", &sig).is_ok());
        assert!(parsed.verify_sig(b"other", &sig).is_err());
    }

    #[test]
    fn pss_signatures_cross_verify() {
        let k = key();
        let mut sig = [0u8; 256];
        for hash in [Hash::Sha256, Hash::Sha384, Hash::Sha512] {
            let digest = super::super::digest::digest(hash, b"pss");
            let salt = hash.len();
            k.sign_pss(hash, salt, &digest, &mut sig).unwrap();
            k.public().rc_verify_pss(hash, salt, &digest, &sig).unwrap();
            k.rc_sign_pss(hash, salt, &digest, &mut sig).unwrap();
            k.public().verify_pss(hash, salt, &digest, &sig).unwrap();
            // A salt length other than the signer's fails.
            assert!(k.public().verify_pss(hash, salt - 1, &digest, &sig).is_err());
        }
        for (hash, salt) in [(Hash::Sha1, 20), (Hash::Sha224, 0), (Hash::Sha256, 0), (Hash::Sha512, 190)] {
            let digest = super::super::digest::digest(hash, b"pss");
            k.sign_pss(hash, salt, &digest, &mut sig).unwrap();
            k.public().verify_pss(hash, salt, &digest, &sig).unwrap();
        }
    }

    #[test]
    fn encryption_cross_decrypts() {
        let k = key();
        let mut ct = [0u8; 256];
        let mut pt = [0u8; 256];
        assert_eq!(k.public().encrypt_pkcs1(b"secret", &mut ct).unwrap(), 256);
        // rsa's implicit rejection returns the message unchanged for valid padding.
        let len = k.rc_decrypt_pkcs1(&ct, &mut pt).unwrap();
        assert_eq!(&pt[..len], b"secret");
        k.public().rc_encrypt_pkcs1(b"secret", &mut ct).unwrap();
        let len = k.decrypt_pkcs1(&ct, &mut pt).unwrap();
        assert_eq!(&pt[..len], b"secret");
        for hash in ALL {
            for label in [&b""[..], b"label"] {
                k.public().encrypt_oaep(hash, hash, label, b"key bytes", &mut ct).unwrap();
                let len = k.rc_decrypt_oaep(hash, hash, label, &ct, &mut pt).unwrap();
                assert_eq!(&pt[..len], b"key bytes");
                k.public().rc_encrypt_oaep(hash, hash, label, b"key bytes", &mut ct).unwrap();
                let len = k.decrypt_oaep(hash, hash, label, &ct, &mut pt).unwrap();
                assert_eq!(&pt[..len], b"key bytes");
                assert!(k.decrypt_oaep(hash, hash, b"wrong", &ct, &mut pt).is_err());
            }
        }
    }

    #[test]
    fn aws_lc_pkcs1_decryption_reports_bad_padding() {
        let k = key();
        let mut ct = [0u8; 256];
        let mut pt = [0u8; 256];
        // An OAEP ciphertext is not PKCS#1 v1.5 type 2.
        k.public().encrypt_oaep(Hash::Sha256, Hash::Sha256, b"", b"x", &mut ct).unwrap();
        assert!(k.decrypt_pkcs1(&ct, &mut pt).is_err());
    }

    #[test]
    fn pkcs8_round_trip_and_aws_lc_agree() {
        let k = key();
        let der = pkcs8_der(k.components()).unwrap();
        let back = components_from_pkcs8(&der).unwrap();
        assert_eq!(*back.d, *k.components().d);
        assert_eq!(*back.qinv, *k.components().qinv);
        assert_eq!(back.n, k.components().n);
        // The encoding is the one aws-lc produces.
        let pair = KeyPair::from_pkcs8(&der).unwrap();
        let again = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair).unwrap();
        assert_eq!(again.as_ref(), &der[..]);
        assert!(components_from_pkcs8(&der[..der.len() - 1]).is_err());
        assert!(components_from_pkcs8(b"garbage").is_err());
    }

    #[test]
    fn spki_matches_aws_lc() {
        let k = key();
        let ours = spki_der(k.public().modulus(), k.public().exponent()).unwrap();
        let pair = KeyPair::from_pkcs8(&pkcs8_der(k.components()).unwrap()).unwrap();
        let theirs = AsDer::<aws_lc_rs::encoding::PublicKeyX509Der>::as_der(
            &aws_lc_rs::signature::KeyPair::public_key(&pair).clone(),
        )
        .unwrap();
        assert_eq!(ours, theirs.as_ref());
    }

    #[test]
    fn crt_values_are_recovered() {
        let c = key().components();
        let full = complete(&c.n, &c.e, &c.d, None, None).unwrap();
        // Recovery may order the primes either way; the product and CRT set must match one.
        let same = *full.p == *c.p && *full.dp == *c.dp && *full.qinv == *c.qinv;
        let swapped = *full.p == *c.q && *full.dp == *c.dq;
        assert!(same || swapped);
        for (p, q) in [(Some(&c.p[..]), None), (None, Some(&c.q[..])), (Some(&c.p[..]), Some(&c.q[..]))] {
            let full = complete(&c.n, &c.e, &c.d, p, q).unwrap();
            assert_eq!(*full.p, *c.p);
            assert_eq!(*full.q, *c.q);
            assert_eq!(*full.dp, *c.dp);
            assert_eq!(*full.dq, *c.dq);
            assert_eq!(*full.qinv, *c.qinv);
        }
        let mut bad_d = c.d.to_vec();
        bad_d[100] ^= 1;
        assert!(complete(&c.n, &c.e, &bad_d, None, None).is_err());
    }

    #[test]
    fn inconsistent_components_are_refused() {
        let c = key().components();
        let mut bad = clone_parts(c);
        bad.dp[5] ^= 1;
        assert!(RsaPrivateKey::new(bad).is_err());
        let mut bad = clone_parts(c);
        bad.e = vec![3];
        assert!(RsaPrivateKey::new(bad).is_err());
        assert!(RsaPrivateKey::new(clone_parts(c)).is_ok());
    }

    #[test]
    fn public_key_limits() {
        let n = key().public().modulus();
        assert!(RsaPublicKey::new(n, &[1, 0, 1]).is_ok());
        // Leading zeros are not part of the value.
        let mut padded = vec![0, 0];
        padded.extend_from_slice(n);
        assert_eq!(RsaPublicKey::new(&padded, &[0, 1, 0, 1]).unwrap().bits(), 2048);
        assert!(RsaPublicKey::new(n, &[2]).is_err());
        assert!(RsaPublicKey::new(n, &[]).is_err());
        assert!(RsaPublicKey::new(&n[..64], &[1, 0, 1]).is_err(), "512 bits");
        let mut even = n.to_vec();
        *even.last_mut().unwrap() &= 0xfe;
        assert!(RsaPublicKey::new(&even, &[1, 0, 1]).is_err());
        assert_eq!(modulus_bits(&[0, 1, 0]), 9);
        assert_eq!(modulus_bits(&[]), 0);
    }

    #[test]
    fn small_keys_use_the_fallback_engine() {
        let rc = rsa::PrivateKey::new(&mut Rng, 1024).unwrap();
        let parts = complete(
            &rc.n_bytes(),
            &rc.e_bytes(),
            &uint_bytes(rsa::traits::PrivateKeyParts::d(&rc)),
            None,
            None,
        )
        .unwrap();
        let k = RsaPrivateKey::new(parts).unwrap();
        assert!(k.aws.is_none() && k.public().aws.is_none());
        assert_eq!(k.size(), 128);
        let mut sig = [0u8; 128];
        let digest = super::super::digest::sha256(b"small");
        k.sign_pkcs1(Hash::Sha256, &digest, &mut sig).unwrap();
        k.public().verify_pkcs1(Hash::Sha256, &digest, &sig).unwrap();
        k.sign_pss(Hash::Sha256, 32, &digest, &mut sig).unwrap();
        k.public().verify_pss(Hash::Sha256, 32, &digest, &sig).unwrap();
        let mut ct = [0u8; 128];
        let mut pt = [0u8; 128];
        k.public().encrypt_oaep(Hash::Sha256, Hash::Sha256, b"", b"m", &mut ct).unwrap();
        let len = k.decrypt_oaep(Hash::Sha256, Hash::Sha256, b"", &ct, &mut pt).unwrap();
        assert_eq!(&pt[..len], b"m");
        k.public().encrypt_pkcs1(b"m", &mut ct).unwrap();
        let len = k.decrypt_pkcs1(&ct, &mut pt).unwrap();
        assert_eq!(&pt[..len], b"m");
    }
}
