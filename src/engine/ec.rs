//! Elliptic curves: ECDSA on P-256, P-384 (aws-lc-rs) and secp256k1 (`k256`), ECDH on P-256 and
//! P-384, the ANSI X9.63 KDF, and the standard encodings of EC keys (SEC 1, PKCS#8, SPKI).
//!
//! Keys are parsed once into the library's own objects; signing and verifying a digest parse
//! nothing.

use super::CryptoError;
use super::digest::{Algorithm, Hasher};
use aws_lc_rs::encoding::AsBigEndian;
use aws_lc_rs::signature::KeyPair as _;
use aws_lc_rs::{agreement, digest as aws_digest, signature as aws_sig};
use der::asn1::{AnyRef, BitStringRef, ObjectIdentifier, OctetStringRef};
use der::{Decode, Encode};
use k256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use k256::elliptic_curve::Generate as _;
use zeroize::Zeroizing;

/// Largest field (and scalar) size in bytes: P-384.
pub const MAX_FIELD_LEN: usize = 48;

/// id-ecPublicKey (RFC 5480), the algorithm of every EC key in SPKI and PKCS#8.
const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_SECP256K1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.10");

/// A supported named curve. For each of them the order has exactly 8 × `field_len` bits, which
/// is what lets a digest of any length be fitted to the field size (see [`fit_digest`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
    Secp256k1,
}

impl Curve {
    pub const ALL: [Curve; 3] = [Curve::P256, Curve::P384, Curve::Secp256k1];

    pub fn oid(self) -> ObjectIdentifier {
        match self {
            Curve::P256 => OID_P256,
            Curve::P384 => OID_P384,
            Curve::Secp256k1 => OID_SECP256K1,
        }
    }

    pub fn from_oid(oid: &ObjectIdentifier) -> Option<Curve> {
        Curve::ALL.into_iter().find(|c| c.oid() == *oid)
    }

    /// The curve of a DER `ECParameters`. Only the `namedCurve` choice names a curve here;
    /// explicit parameters, `implicitlyCA` and anything unparsable give `None`.
    pub fn from_params_der(der: &[u8]) -> Option<Curve> {
        ObjectIdentifier::from_der(der).ok().as_ref().and_then(Curve::from_oid)
    }

    /// The DER `ECParameters` (`namedCurve`) of the curve.
    pub fn params_der(self) -> Vec<u8> {
        // An OID known at compile time always encodes; the empty fallback is unreachable.
        self.oid().to_der().unwrap_or_default()
    }

    /// Bytes of a field element, of a scalar, and of each half of an `r‖s` signature.
    pub fn field_len(self) -> usize {
        match self {
            Curve::P256 | Curve::Secp256k1 => 32,
            Curve::P384 => 48,
        }
    }

    pub fn bits(self) -> usize {
        self.field_len() * 8
    }

    /// Bytes of an uncompressed point `04‖x‖y`.
    pub fn point_len(self) -> usize {
        1 + 2 * self.field_len()
    }

    /// Bytes of an `r‖s` signature.
    pub fn signature_len(self) -> usize {
        2 * self.field_len()
    }

    fn aws_signing(self) -> Option<&'static aws_sig::EcdsaSigningAlgorithm> {
        match self {
            Curve::P256 => Some(&aws_sig::ECDSA_P256_SHA256_FIXED_SIGNING),
            Curve::P384 => Some(&aws_sig::ECDSA_P384_SHA384_FIXED_SIGNING),
            Curve::Secp256k1 => None,
        }
    }

    fn aws_verification(self) -> Option<&'static aws_sig::EcdsaVerificationAlgorithm> {
        match self {
            Curve::P256 => Some(&aws_sig::ECDSA_P256_SHA256_FIXED),
            Curve::P384 => Some(&aws_sig::ECDSA_P384_SHA384_FIXED),
            Curve::Secp256k1 => None,
        }
    }

    /// The digest algorithm whose output is exactly `field_len` bytes: the label aws-lc-rs
    /// wants on a digest it signs. Only the length matters to ECDSA.
    fn aws_digest(self) -> &'static aws_digest::Algorithm {
        match self {
            Curve::P256 | Curve::Secp256k1 => &aws_digest::SHA256,
            Curve::P384 => &aws_digest::SHA384,
        }
    }

    fn aws_agreement(self) -> Option<&'static agreement::Algorithm> {
        match self {
            Curve::P256 => Some(&agreement::ECDH_P256),
            Curve::P384 => Some(&agreement::ECDH_P384),
            Curve::Secp256k1 => None,
        }
    }

    fn is_uncompressed_point(self, point: &[u8]) -> bool {
        point.len() == self.point_len() && point.first() == Some(&0x04)
    }
}

/// ECDSA signs e = the leftmost min(bitlen(n), bitlen(H)) bits of the digest H. Since bitlen(n)
/// is 8 × `field_len` for every supported curve, a longer digest gives the same e as its leftmost
/// `field_len` bytes, and a shorter one the same e as itself left-padded with zeros. So every
/// digest becomes one of exactly the field size, which both libraries take as is.
fn fit_digest<'a>(digest: &[u8], curve: Curve, buf: &'a mut [u8; MAX_FIELD_LEN]) -> &'a [u8] {
    let n = curve.field_len();
    let e = &mut buf[..n];
    if digest.len() >= n {
        e.copy_from_slice(&digest[..n]);
    } else {
        let pad = n - digest.len();
        e[..pad].fill(0);
        e[pad..].copy_from_slice(digest);
    }
    e
}

enum PrivateInner {
    Aws(aws_sig::EcdsaKeyPair),
    K256(k256::ecdsa::SigningKey),
}

/// An EC private key, ready to sign and agree.
pub struct EcPrivateKey {
    curve: Curve,
    inner: PrivateInner,
}

impl std::fmt::Debug for EcPrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EcPrivateKey").field("curve", &self.curve).finish_non_exhaustive()
    }
}

impl EcPrivateKey {
    pub fn generate(curve: Curve) -> Result<EcPrivateKey, CryptoError> {
        let inner = match curve.aws_signing() {
            Some(alg) => PrivateInner::Aws(aws_sig::EcdsaKeyPair::generate(alg)?),
            None => PrivateInner::K256(
                k256::ecdsa::SigningKey::try_generate_from_rng(&mut super::rand::Rng)
                    .map_err(|_| CryptoError)?,
            ),
        };
        Ok(EcPrivateKey { curve, inner })
    }

    /// A key from its scalar d, big-endian and exactly `field_len` bytes. Zero and d ≥ n are
    /// refused.
    pub fn from_scalar(curve: Curve, d: &[u8]) -> Result<EcPrivateKey, CryptoError> {
        if d.len() != curve.field_len() {
            return Err(CryptoError);
        }
        let inner = match curve.aws_signing() {
            Some(alg) => {
                // aws-lc-rs takes a bare scalar only together with its public point; an
                // RFC 5915 ECPrivateKey without the point has it computed once, here.
                let sec1 = sec1::EcPrivateKey {
                    private_key: d,
                    parameters: Some(sec1::EcParameters::NamedCurve(curve.oid())),
                    public_key: None,
                };
                let mut buf = Zeroizing::new([0u8; 128]);
                let der = sec1.encode_to_slice(&mut buf[..]).map_err(|_| CryptoError)?;
                PrivateInner::Aws(aws_sig::EcdsaKeyPair::from_private_key_der(alg, der)?)
            }
            None => PrivateInner::K256(k256::ecdsa::SigningKey::from_slice(d).map_err(|_| CryptoError)?),
        };
        Ok(EcPrivateKey { curve, inner })
    }

    pub fn curve(&self) -> Curve {
        self.curve
    }

    /// The scalar d, big-endian, `field_len` bytes.
    pub fn scalar(&self) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        Ok(match &self.inner {
            PrivateInner::Aws(kp) => Zeroizing::new(kp.private_key().as_be_bytes()?.as_ref().to_vec()),
            PrivateInner::K256(sk) => Zeroizing::new(sk.to_bytes().to_vec()),
        })
    }

    /// The public point, uncompressed.
    pub fn public_point(&self) -> Vec<u8> {
        match &self.inner {
            PrivateInner::Aws(kp) => kp.public_key().as_ref().to_vec(),
            PrivateInner::K256(sk) => sk.verifying_key().to_sec1_point(false).as_bytes().to_vec(),
        }
    }

    /// The DER `SubjectPublicKeyInfo` of the public key.
    pub fn spki_der(&self) -> Result<Vec<u8>, CryptoError> {
        spki_der(self.curve, &self.public_point())
    }

    /// Signs a digest of any length into `out` as `r‖s`; returns the signature
    /// length (`Curve::signature_len`).
    pub fn sign_digest(&self, digest: &[u8], out: &mut [u8]) -> Result<usize, CryptoError> {
        let len = self.curve.signature_len();
        let out = out.get_mut(..len).ok_or(CryptoError)?;
        let mut buf = [0u8; MAX_FIELD_LEN];
        let e = fit_digest(digest, self.curve, &mut buf);
        match &self.inner {
            PrivateInner::Aws(kp) => {
                let d = aws_digest::Digest::import_less_safe(e, self.curve.aws_digest())?;
                let sig = kp.sign_digest(&d)?;
                out.copy_from_slice(sig.as_ref().get(..len).ok_or(CryptoError)?);
            }
            PrivateInner::K256(sk) => {
                // RFC 6979 deterministic nonce; k256 emits low-S, which every verifier accepts.
                let sig: k256::ecdsa::Signature = sk.sign_prehash(e).map_err(|_| CryptoError)?;
                out.copy_from_slice(&sig.to_bytes());
            }
        }
        Ok(len)
    }

    /// The ECDH shared secret with a peer's uncompressed point: the x coordinate of d·Q,
    /// `field_len` bytes. P-256 and P-384 only; the peer point is validated.
    pub fn ecdh(&self, peer_point: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let (PrivateInner::Aws(kp), Some(alg)) = (&self.inner, self.curve.aws_agreement()) else {
            return Err(CryptoError);
        };
        if !self.curve.is_uncompressed_point(peer_point) {
            return Err(CryptoError);
        }
        // Agreement keys are a different aws-lc-rs type; built per derivation, which is rare
        // next to signing, rather than kept beside every signing key.
        let d = kp.private_key().as_be_bytes()?;
        let own = agreement::PrivateKey::from_private_key(alg, d.as_ref())?;
        let peer = agreement::UnparsedPublicKey::new(alg, peer_point);
        agreement::agree(&own, peer, CryptoError, |z| Ok(Zeroizing::new(z.to_vec())))
    }

    /// PKCS#8 `PrivateKeyInfo` (RFC 5208/5915): id-ecPublicKey with the named curve, holding an
    /// `ECPrivateKey` with the public key, as OpenSSL and aws-lc write it.
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let d = self.scalar()?;
        let point = self.public_point();
        let sec1 = sec1::EcPrivateKey { private_key: &d, parameters: None, public_key: Some(&point) };
        let mut inner = Zeroizing::new([0u8; 256]);
        let inner = sec1.encode_to_slice(&mut inner[..]).map_err(|_| CryptoError)?;
        let params = self.curve.oid();
        let info = pkcs8::PrivateKeyInfo::<ObjectIdentifier, &OctetStringRef, BitStringRef<'_>>::new(
            spki::AlgorithmIdentifier { oid: ID_EC_PUBLIC_KEY, parameters: Some(params) },
            OctetStringRef::new(inner).map_err(|_| CryptoError)?,
        );
        let len = info.encoded_len().and_then(usize::try_from).map_err(|_| CryptoError)?;
        let mut out = Zeroizing::new(vec![0u8; len]);
        info.encode_to_slice(&mut out).map_err(|_| CryptoError)?;
        Ok(out)
    }

    /// Parses a PKCS#8 `PrivateKeyInfo` holding an EC key on a supported curve.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<EcPrivateKey, Pkcs8Error> {
        use Pkcs8Error::*;
        let info = pkcs8::PrivateKeyInfoRef::from_der(der).map_err(|_| Malformed)?;
        if info.algorithm.oid != ID_EC_PUBLIC_KEY {
            return Err(Malformed);
        }
        let sec1 = sec1::EcPrivateKey::from_der(info.private_key.as_bytes()).map_err(|_| Malformed)?;
        let outer = info.algorithm.parameters.map(named_curve).transpose()?;
        let inner = sec1.parameters.and_then(sec1::EcParameters::named_curve);
        // RFC 5915 §3: the parameters may sit in either place; where both are, they agree.
        let oid = match (outer, inner) {
            (Some(a), Some(b)) if a != b => return Err(Malformed),
            (Some(a), _) | (None, Some(a)) => a,
            (None, None) => return Err(Malformed),
        };
        let curve = Curve::from_oid(&oid).ok_or(UnsupportedCurve)?;
        let d = left_pad_scalar(curve, sec1.private_key).ok_or(Malformed)?;
        let key = EcPrivateKey::from_scalar(curve, &d).map_err(|_| Malformed)?;
        if let Some(point) = sec1.public_key
            && point != key.public_point().as_slice()
        {
            return Err(Malformed);
        }
        Ok(key)
    }
}

/// Why a PKCS#8 EC key was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pkcs8Error {
    /// Not a well-formed, consistent EC private key.
    Malformed,
    /// A well-formed key on a curve this engine does not serve.
    UnsupportedCurve,
}

fn named_curve(params: AnyRef<'_>) -> Result<ObjectIdentifier, Pkcs8Error> {
    params.decode_as::<ObjectIdentifier>().map_err(|_| Pkcs8Error::UnsupportedCurve)
}

/// A scalar as exactly `field_len` big-endian bytes. Encoders drop leading zeros (and some add
/// one for a sign), so shorter values are left-padded and longer ones may only carry zeros in
/// front. The range 0 < d < n is left to the key constructors.
pub fn left_pad_scalar(curve: Curve, value: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let n = curve.field_len();
    let value = match value.len().checked_sub(n) {
        Some(extra) => {
            let (front, rest) = value.split_at(extra);
            if front.iter().any(|b| *b != 0) {
                return None;
            }
            rest
        }
        None => value,
    };
    let mut d = Zeroizing::new(vec![0u8; n]);
    d[n - value.len()..].copy_from_slice(value);
    Some(d)
}

enum PublicInner {
    Aws(aws_sig::ParsedPublicKey),
    K256(k256::ecdsa::VerifyingKey),
}

/// An EC public key, ready to verify.
pub struct EcPublicKey {
    curve: Curve,
    point: Box<[u8]>,
    inner: PublicInner,
}

impl std::fmt::Debug for EcPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EcPublicKey").field("curve", &self.curve).finish_non_exhaustive()
    }
}

impl EcPublicKey {
    /// A key from its uncompressed point `04‖x‖y`; refused unless the point is on the curve
    /// (and so not the identity).
    pub fn from_point(curve: Curve, point: &[u8]) -> Result<EcPublicKey, CryptoError> {
        if !curve.is_uncompressed_point(point) {
            return Err(CryptoError);
        }
        let inner = match curve.aws_verification() {
            Some(alg) => PublicInner::Aws(aws_sig::ParsedPublicKey::new(alg, point)?),
            None => {
                PublicInner::K256(k256::ecdsa::VerifyingKey::from_sec1_bytes(point).map_err(|_| CryptoError)?)
            }
        };
        Ok(EcPublicKey { curve, point: point.into(), inner })
    }

    pub fn curve(&self) -> Curve {
        self.curve
    }

    /// The uncompressed point.
    pub fn point(&self) -> &[u8] {
        &self.point
    }

    pub fn spki_der(&self) -> Result<Vec<u8>, CryptoError> {
        spki_der(self.curve, &self.point)
    }

    /// Whether `signature` (`r‖s`, `signature_len` bytes) is valid for a digest of any length.
    pub fn verify_digest(&self, digest: &[u8], signature: &[u8]) -> bool {
        if signature.len() != self.curve.signature_len() {
            return false;
        }
        let mut buf = [0u8; MAX_FIELD_LEN];
        let e = fit_digest(digest, self.curve, &mut buf);
        match &self.inner {
            PublicInner::Aws(pk) => aws_digest::Digest::import_less_safe(e, self.curve.aws_digest())
                .is_ok_and(|d| pk.verify_digest_sig(&d, signature).is_ok()),
            PublicInner::K256(vk) => k256::ecdsa::Signature::from_slice(signature)
                // k256 refuses high-S as Bitcoin does; plain ECDSA accepts both (r, s) and
                // (r, n − s), so the caller's signature is normalised first.
                .is_ok_and(|sig| vk.verify_prehash(e, &sig.normalize_s()).is_ok()),
        }
    }
}

fn spki_der(curve: Curve, point: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let info = spki::SubjectPublicKeyInfo::<ObjectIdentifier, BitStringRef<'_>> {
        algorithm: spki::AlgorithmIdentifier { oid: ID_EC_PUBLIC_KEY, parameters: Some(curve.oid()) },
        subject_public_key: BitStringRef::from_bytes(point).map_err(|_| CryptoError)?,
    };
    info.to_der().map_err(|_| CryptoError)
}

/// The ANSI X9.63 KDF (SEC 1 §3.6.1): `out` = leftmost bytes of
/// H(z ‖ 1 ‖ info) ‖ H(z ‖ 2 ‖ info) ‖ …, the counter a 32-bit big-endian integer.
pub fn x963_kdf(hash: Algorithm, z: &[u8], shared_info: &[u8], out: &mut [u8]) {
    let mut hasher = Hasher::new(hash);
    for (block, counter) in out.chunks_mut(hash.len()).zip(1u32..) {
        hasher.update(z);
        hasher.update(&counter.to_be_bytes());
        hasher.update(shared_info);
        let h = hasher.finish_reset();
        block.copy_from_slice(&h[..block.len()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{UnparsedPublicKey, VerificationAlgorithm};
    use der::asn1::UintRef;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    /// The group order n of each curve, big-endian.
    fn order(curve: Curve) -> Vec<u8> {
        h(match curve {
            Curve::P256 => "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551",
            Curve::P384 => {
                "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973"
            }
            Curve::Secp256k1 => "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
        })
    }

    /// The generator G of each curve, uncompressed.
    fn generator(curve: Curve) -> Vec<u8> {
        h(match curve {
            Curve::P256 => concat!(
                "04",
                "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296",
                "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5"
            ),
            Curve::P384 => concat!(
                "04",
                "aa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7",
                "3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5f"
            ),
            Curve::Secp256k1 => concat!(
                "04",
                "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
                "483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8"
            ),
        })
    }

    /// `v` + `delta` as a big-endian number of the same width (no overflow in these tests).
    fn add(v: &[u8], delta: i16) -> Vec<u8> {
        let mut out = v.to_vec();
        let mut carry = delta;
        for b in out.iter_mut().rev() {
            let x = *b as i16 + carry;
            *b = x.rem_euclid(256) as u8;
            carry = x.div_euclid(256);
        }
        out
    }

    /// `r‖s` as an ASN.1 `ECDSA-Sig-Value` (SEQUENCE of two INTEGERs).
    fn to_asn1(sig: &[u8]) -> Vec<u8> {
        let (r, s) = sig.split_at(sig.len() / 2);
        let strip = |x: &[u8]| x[x.iter().position(|b| *b != 0).unwrap_or(x.len() - 1)..].to_vec();
        let (r, s) = (strip(r), strip(s));
        vec![UintRef::new(&r).unwrap(), UintRef::new(&s).unwrap()].to_der().unwrap()
    }

    #[test]
    fn curve_parameters_are_named_curve_oids() {
        assert_eq!(Curve::P256.params_der(), h("06082a8648ce3d030107"));
        assert_eq!(Curve::P384.params_der(), h("06052b81040022"));
        assert_eq!(Curve::Secp256k1.params_der(), h("06052b8104000a"));
        for c in Curve::ALL {
            assert_eq!(Curve::from_params_der(&c.params_der()), Some(c));
            assert_eq!(c.bits(), c.field_len() * 8);
        }
        // P-521, implicitlyCA (NULL), explicit parameters, a curve name, trailing bytes, nothing.
        for bad in [
            &h("06052b81040023")[..],
            &h("0500"),
            &h("3003020101"),
            &h("130a7072696d6532353676"),
            &h("06082a8648ce3d03010700"),
            &[],
        ] {
            assert_eq!(Curve::from_params_der(bad), None, "{}", hex::encode(bad));
        }
    }

    #[test]
    fn digests_are_fitted_to_the_field() {
        let mut buf = [0xaau8; MAX_FIELD_LEN];
        let d: Vec<u8> = (1..=64).collect();
        assert_eq!(fit_digest(&d, Curve::P256, &mut buf), &d[..32]);
        assert_eq!(fit_digest(&d[..48], Curve::P384, &mut buf), &d[..48]);
        let short = fit_digest(&d[..20], Curve::P384, &mut buf).to_vec();
        assert_eq!(short[..28], [0u8; 28]);
        assert_eq!(short[28..], d[..20]);
    }

    #[test]
    fn scalars_must_lie_between_zero_and_the_order() {
        for c in Curve::ALL {
            let n = order(c);
            let one = add(&vec![0u8; c.field_len()], 1);
            // d = 1 gives the generator, which pins both the scalar and point encodings.
            assert_eq!(EcPrivateKey::from_scalar(c, &one).unwrap().public_point(), generator(c), "{c:?}");
            let top = EcPrivateKey::from_scalar(c, &add(&n, -1)).unwrap();
            assert_eq!(*top.scalar().unwrap(), add(&n, -1));
            // (n − 1)·G = −G: same x, y negated.
            assert_eq!(top.public_point()[..1 + c.field_len()], generator(c)[..1 + c.field_len()]);
            for bad in [
                vec![0u8; c.field_len()],
                n.clone(),
                add(&n, 1),
                vec![0xff; c.field_len()],
                one[1..].to_vec(),
            ] {
                assert!(EcPrivateKey::from_scalar(c, &bad).is_err(), "{c:?} {}", bad.len());
            }
        }
        use k256::elliptic_curve::Curve as _;
        assert_eq!(k256::Secp256k1::ORDER.to_be_bytes().to_vec(), order(Curve::Secp256k1));
    }

    #[test]
    fn scalars_are_padded_to_the_field_size() {
        assert_eq!(*left_pad_scalar(Curve::P256, &[1, 2]).unwrap(), add(&[0u8; 32], 0x0102));
        let mut long = vec![0u8; 3];
        long.extend_from_slice(&[7u8; 48]);
        assert_eq!(*left_pad_scalar(Curve::P384, &long).unwrap(), vec![7u8; 48]);
        assert!(left_pad_scalar(Curve::P256, &[1u8; 33]).is_none());
    }

    #[test]
    fn public_points_are_validated() {
        for c in Curve::ALL {
            let point = EcPrivateKey::generate(c).unwrap().public_point();
            assert_eq!(point.len(), c.point_len());
            assert!(EcPublicKey::from_point(c, &point).is_ok());
            let mut off = point.clone();
            off[c.point_len() - 1] ^= 1;
            assert!(EcPublicKey::from_point(c, &off).is_err(), "off the curve");
            let mut compressed = point[..1 + c.field_len()].to_vec();
            compressed[0] = 2 + (point[c.point_len() - 1] & 1);
            assert!(EcPublicKey::from_point(c, &compressed).is_err(), "compressed");
            assert!(EcPublicKey::from_point(c, &point[..c.point_len() - 1]).is_err());
            assert!(EcPublicKey::from_point(c, &[0]).is_err(), "identity");
        }
        // A P-256 point is no P-384 key, and the other way round.
        let p256 = EcPrivateKey::generate(Curve::P256).unwrap().public_point();
        assert!(EcPublicKey::from_point(Curve::Secp256k1, &p256).is_err());
    }

    #[test]
    fn sign_verify_every_curve_and_digest_length() {
        for c in Curve::ALL {
            let k = EcPrivateKey::generate(c).unwrap();
            let p = EcPublicKey::from_point(c, &k.public_point()).unwrap();
            for len in [20, 28, 32, 48, 64] {
                let digest: Vec<u8> = (0..len as u8).map(|i| i.wrapping_mul(37)).collect();
                let mut sig = [0u8; 96];
                assert_eq!(k.sign_digest(&digest, &mut sig).unwrap(), c.signature_len());
                let sig = &sig[..c.signature_len()];
                assert!(p.verify_digest(&digest, sig), "{c:?} {len}");
                let mut other = digest.clone();
                other[0] ^= 1;
                assert!(!p.verify_digest(&other, sig));
            }
            let mut small = [0u8; 10];
            assert!(k.sign_digest(&[1; 32], &mut small).is_err());
        }
    }

    /// The fitted-digest trick against aws-lc's own hashing and truncation: a signature made
    /// over SHA-x(m) fitted to the field verifies as ECDSA-with-SHA-x over m.
    #[test]
    fn fitted_digests_match_aws_lc_native_hashing() {
        use aws_lc_rs::signature as s;
        let cases: [(Curve, Algorithm, &'static dyn VerificationAlgorithm); 6] = [
            (Curve::P256, Algorithm::Sha1, &s::ECDSA_P256_SHA1_ASN1),
            (Curve::P256, Algorithm::Sha384, &s::ECDSA_P256_SHA384_ASN1),
            (Curve::P256, Algorithm::Sha512, &s::ECDSA_P256_SHA512_ASN1),
            (Curve::P384, Algorithm::Sha256, &s::ECDSA_P384_SHA256_ASN1),
            (Curve::P384, Algorithm::Sha512, &s::ECDSA_P384_SHA512_ASN1),
            (Curve::Secp256k1, Algorithm::Sha256, &s::ECDSA_P256K1_SHA256_ASN1),
        ];
        let msg = b"fitted digests";
        for (c, alg, verifier) in cases {
            let k = EcPrivateKey::generate(c).unwrap();
            let mut sig = [0u8; 96];
            let n = k.sign_digest(&super::super::digest::digest(alg, msg), &mut sig).unwrap();
            let asn1 = to_asn1(&sig[..n]);
            let pk = UnparsedPublicKey::new(verifier, k.public_point());
            assert!(pk.verify(msg, &asn1).is_ok(), "{c:?} {alg:?}");
            assert!(pk.verify(b"other", &asn1).is_err());
        }
    }

    /// secp256k1 runs on k256; aws-lc-rs also has the curve, so each checks the other, with
    /// every digest length against k256's own truncation and padding.
    #[test]
    fn secp256k1_agrees_with_aws_lc_and_k256() {
        use aws_lc_rs::signature as s;
        let ours = EcPrivateKey::generate(Curve::Secp256k1).unwrap();
        let d = ours.scalar().unwrap();
        let theirs = s::EcdsaKeyPair::from_private_key_and_public_key(
            &s::ECDSA_P256K1_SHA256_FIXED_SIGNING,
            &d,
            &ours.public_point(),
        )
        .unwrap();
        let public = EcPublicKey::from_point(Curve::Secp256k1, &ours.public_point()).unwrap();
        let aws_public = UnparsedPublicKey::new(&s::ECDSA_P256K1_SHA256_FIXED, ours.public_point());
        let vk = k256::ecdsa::VerifyingKey::from_sec1_bytes(&ours.public_point()).unwrap();
        let mut high_s_seen = false;
        for i in 0..16u8 {
            let msg = [i; 5];
            // aws-lc signs with a random nonce and does not normalise s.
            let sig = theirs.sign(&aws_lc_rs::rand::SystemRandom::new(), &msg).unwrap();
            let digest = super::super::digest::sha256(&msg);
            assert!(public.verify_digest(&digest, sig.as_ref()), "aws-lc signature {i}");
            high_s_seen |= sig.as_ref()[32] >= 0x80;
            let mut mine = [0u8; 64];
            ours.sign_digest(&digest, &mut mine).unwrap();
            assert!(aws_public.verify(&msg, &mine).is_ok(), "k256 signature {i}");
        }
        assert!(high_s_seen, "no high-S signature in 16 tries");
        for alg in [Algorithm::Sha1, Algorithm::Sha224, Algorithm::Sha384, Algorithm::Sha512] {
            let digest = super::super::digest::digest(alg, b"abc");
            let mut mine = [0u8; 64];
            ours.sign_digest(&digest, &mut mine).unwrap();
            let sig = k256::ecdsa::Signature::from_slice(&mine).unwrap();
            assert!(vk.verify_prehash(&digest, &sig).is_ok(), "{alg:?}");
        }
    }

    /// Wycheproof ecdh_secp256r1_ecpoint_test.json and ecdh_secp384r1_ecpoint_test.json, tcId 1.
    #[test]
    fn ecdh_known_answers() {
        let cases = [
            (
                Curve::P256,
                "0612465c89a023ab17855b0a6bcebfd3febb53aef84138647b5352e02c10c346",
                "0462d5bd3372af75fe85a040715d0f502428e07046868b0bfdfa61d731afe44f26ac333a93a9e70a81cd5a95b5bf8d13990eb741c8c38872b4a07d275a014e30cf",
                "53020d908b0219328b658b525f26780e3ae12bcd952bb25a93bc0895e1714285",
            ),
            (
                Curve::P384,
                "766e61425b2da9f846c09fc3564b93a6f8603b7392c785165bf20da948c49fd1fb1dee4edd64356b9f21c588b75dfd81",
                "04790a6e059ef9a5940163183d4a7809135d29791643fc43a2f17ee8bf677ab84f791b64a6be15969ffa012dd9185d8796d9b954baa8a75e82df711b3b56eadff6b0f668c3b26b4b1aeb308a1fcc1c680d329a6705025f1c98a0b5e5bfcb163caa",
                "6461defb95d996b24296f5a1832b34db05ed031114fbe7d98d098f93859866e4de1e229da71fef0c77fe49b249190135",
            ),
        ];
        for (c, d, peer, shared) in cases {
            let k = EcPrivateKey::from_scalar(c, &h(d)).unwrap();
            assert_eq!(*k.ecdh(&h(peer)).unwrap(), h(shared));
            let mut off = h(peer);
            off[5] ^= 1;
            assert!(k.ecdh(&off).is_err(), "peer off the curve");
        }
        let k1 = EcPrivateKey::generate(Curve::Secp256k1).unwrap();
        assert!(k1.ecdh(&k1.public_point()).is_err(), "no ECDH on secp256k1");
    }

    #[test]
    fn ecdh_both_sides_agree() {
        for c in [Curve::P256, Curve::P384] {
            let (a, b) = (EcPrivateKey::generate(c).unwrap(), EcPrivateKey::generate(c).unwrap());
            let ab = a.ecdh(&b.public_point()).unwrap();
            assert_eq!(ab.len(), c.field_len());
            assert_eq!(*ab, *b.ecdh(&a.public_point()).unwrap());
        }
    }

    /// NIST CAVS ansx963_2001.rsp vectors.
    #[test]
    fn x963_kdf_known_answers() {
        let mut out = vec![0u8; 128];
        x963_kdf(
            Algorithm::Sha1,
            &h("fd17198b89ab39c4ab5d7cca363b82f9fd7e23c3984dc8a2"),
            &h("856a53f3e36a26bbc5792879f307cce2"),
            &mut out,
        );
        assert_eq!(
            hex::encode(&out),
            "6e5fad865cb4a51c95209b16df0cc490bc2c9064405c5bccd4ee4832a531fbe7f10cb79e2eab6ab1149fbd5a23cfdabc\
             41242269c9df22f628c4424333855b64e95e2d4fb8469c669f17176c07d103376b10b384ec5763d8b8c610409f19aca8\
             eb31f9d85cc61a8d6d4a03d03e5a506b78d6847e93d295ee548c65afedd2efec"
        );
        let mut out = [0u8; 16];
        x963_kdf(Algorithm::Sha256, &h("96c05619d56c328ab95fe84b18264b08725b85e33fd34f08"), &[], &mut out);
        assert_eq!(hex::encode(out), "443024c3dae66b95e6f5670601558f71");
        let mut out = vec![0u8; 128];
        x963_kdf(
            Algorithm::Sha256,
            &h("22518b10e70f2a3f243810ae3254139efbee04aa57c7af7d"),
            &h("75eef81aa3041e33b80971203d2c0c52"),
            &mut out,
        );
        assert_eq!(
            hex::encode(&out),
            "c498af77161cc59f2962b9a713e2b215152d139766ce34a776df11866a69bf2e52a13d9c7c6fc878c50c5ea0bc7b00e0\
             da2447cfd874f6cf92f30d0097111485500c90c3af8b487872d04685d14c8d1dc8d7fa08beb0ce0ababc11f0bd496269\
             142d43525a78e5bc79a17f59676a5706dc54d54d4d1f0bd7e386128ec26afc21"
        );
    }

    #[test]
    fn spki_is_id_ec_public_key_with_the_curve() {
        for c in Curve::ALL {
            let k = EcPrivateKey::generate(c).unwrap();
            let der = k.spki_der().unwrap();
            let info = spki::SubjectPublicKeyInfoRef::from_der(&der).unwrap();
            assert_eq!(info.algorithm.oid, ID_EC_PUBLIC_KEY);
            assert_eq!(info.algorithm.parameters_oid().unwrap(), c.oid());
            assert_eq!(info.subject_public_key.raw_bytes(), k.public_point().as_slice());
            let p = EcPublicKey::from_point(c, &k.public_point()).unwrap();
            assert_eq!(p.spki_der().unwrap(), der);
        }
        // aws-lc reads our SPKI as the same key.
        let k = EcPrivateKey::generate(Curve::P256).unwrap();
        let parsed = aws_sig::ParsedPublicKey::new(&aws_sig::ECDSA_P256_SHA256_FIXED, k.spki_der().unwrap());
        assert!(parsed.is_ok());
    }

    #[test]
    fn pkcs8_round_trips_and_interoperates() {
        for c in Curve::ALL {
            let k = EcPrivateKey::generate(c).unwrap();
            let der = k.to_pkcs8_der().unwrap();
            let back = EcPrivateKey::from_pkcs8_der(&der).unwrap();
            assert_eq!(back.curve(), c);
            assert_eq!(*back.scalar().unwrap(), *k.scalar().unwrap());
            assert_eq!(back.public_point(), k.public_point());
        }
        use aws_lc_rs::signature as s;
        for (c, alg) in [
            (Curve::P256, &s::ECDSA_P256_SHA256_FIXED_SIGNING),
            (Curve::P384, &s::ECDSA_P384_SHA384_FIXED_SIGNING),
            (Curve::Secp256k1, &s::ECDSA_P256K1_SHA256_FIXED_SIGNING),
        ] {
            // aws-lc's PKCS#8 reads here, and ours reads in aws-lc.
            let theirs = s::EcdsaKeyPair::generate(alg).unwrap();
            let ours = EcPrivateKey::from_pkcs8_der(theirs.to_pkcs8v1().unwrap().as_ref()).unwrap();
            assert_eq!(ours.curve(), c);
            assert_eq!(ours.public_point(), theirs.public_key().as_ref());
            let again = s::EcdsaKeyPair::from_pkcs8(alg, &ours.to_pkcs8_der().unwrap()).unwrap();
            assert_eq!(again.public_key().as_ref(), theirs.public_key().as_ref());
        }
    }

    #[test]
    fn pkcs8_refusals() {
        use Pkcs8Error::*;
        let p521 = aws_sig::EcdsaKeyPair::generate(&aws_sig::ECDSA_P521_SHA512_FIXED_SIGNING).unwrap();
        assert_eq!(
            EcPrivateKey::from_pkcs8_der(p521.to_pkcs8v1().unwrap().as_ref()).err(),
            Some(UnsupportedCurve)
        );
        let good = EcPrivateKey::generate(Curve::P256).unwrap().to_pkcs8_der().unwrap();
        assert_eq!(EcPrivateKey::from_pkcs8_der(&good[..good.len() - 1]).err(), Some(Malformed));
        assert_eq!(EcPrivateKey::from_pkcs8_der(b"garbage").err(), Some(Malformed));
        assert_eq!(EcPrivateKey::from_pkcs8_der(&[]).err(), Some(Malformed));

        // Hand-built variants of one key.
        let k = EcPrivateKey::generate(Curve::P256).unwrap();
        let d = k.scalar().unwrap();
        let other = EcPrivateKey::generate(Curve::P256).unwrap().public_point();
        let build = |alg: ObjectIdentifier,
                     outer: Option<ObjectIdentifier>,
                     inner: Option<ObjectIdentifier>,
                     public: Option<&[u8]>| {
            let sec1 = sec1::EcPrivateKey {
                private_key: &d,
                parameters: inner.map(sec1::EcParameters::NamedCurve),
                public_key: public,
            };
            let sec1 = sec1.to_der().unwrap();
            pkcs8::PrivateKeyInfo::<ObjectIdentifier, &OctetStringRef, BitStringRef<'_>>::new(
                spki::AlgorithmIdentifier { oid: alg, parameters: outer },
                OctetStringRef::new(&sec1).unwrap(),
            )
            .to_der()
            .unwrap()
        };
        let from = |der: Vec<u8>| EcPrivateKey::from_pkcs8_der(&der).map(|k| k.public_point());
        assert_eq!(from(build(ID_EC_PUBLIC_KEY, None, Some(OID_P256), None)), Ok(k.public_point()));
        assert_eq!(from(build(ID_EC_PUBLIC_KEY, Some(OID_P256), Some(OID_P256), None)), Ok(k.public_point()));
        assert_eq!(from(build(ID_EC_PUBLIC_KEY, None, None, None)).err(), Some(Malformed));
        assert_eq!(
            from(build(ID_EC_PUBLIC_KEY, Some(OID_P256), Some(OID_P384), None)).err(),
            Some(Malformed)
        );
        assert_eq!(from(build(ID_EC_PUBLIC_KEY, Some(OID_P256), None, Some(&other))).err(), Some(Malformed));
        let rsa = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
        assert_eq!(from(build(rsa, Some(OID_P256), None, None)).err(), Some(Malformed));
    }
}
