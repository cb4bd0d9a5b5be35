//! SM2 (GB/T 32918) on RustCrypto's `sm2`: signatures over a digest e, the signer's Z_A, public
//! key encryption with the ciphertext as C1‖C3‖C2 or as the GM/T 0009 DER `SM2Cipher`, and the
//! encodings of SM2 keys, which are EC keys on the SM2 curve (id-ecPublicKey with curve OID
//! 1.2.156.10197.1.301, as OpenSSL and GmSSL write them). aws-lc-rs has no SM2.
//!
//! Keys are parsed once: each keeps the crate's signing, verifying, encrypting or decrypting
//! object, its public point and the Z_A of the default ID, so that signing a digest parses and
//! allocates nothing.

use super::CryptoError;
use super::ec::Pkcs8Error;
use super::rand::Rng;
use super::sm3::Sm3;
use der::asn1::{AnyRef, BitStringRef, ObjectIdentifier, OctetStringRef, UintRef};
use der::{Decode, Encode, Reader as _};
use sm2::dsa::signature::hazmat::{PrehashVerifier, RandomizedPrehashSigner};
use sm2::dsa::{Signature, SigningKey, VerifyingKey};
use sm2::elliptic_curve::Generate as _;
use sm2::elliptic_curve::sec1::ToSec1Point as _;
use sm2::pke::{Cipher, DecryptingKey, EncryptingKey, Mode};
use zeroize::Zeroizing;

/// id-ecPublicKey (RFC 5480): SM2 keys are EC keys in SPKI and PKCS#8.
const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// The SM2 curve, sm2p256v1.
pub const OID_SM2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.156.10197.1.301");

/// Bytes of a field element and of a scalar.
pub const FIELD_LEN: usize = 32;
/// Bytes of an uncompressed point `04‖x‖y`.
pub const POINT_LEN: usize = 1 + 2 * FIELD_LEN;
/// Bytes of an `r‖s` signature.
pub const SIGNATURE_LEN: usize = 2 * FIELD_LEN;
/// Bytes of an SM3 digest: e, Z_A and C3.
pub const DIGEST_LEN: usize = 32;
/// Longest DER `SEQUENCE { r, s }`: two 33-byte INTEGERs (a sign byte in front of a 32-byte
/// value) with their headers, in a sequence whose length fits one byte.
pub const MAX_DER_SIGNATURE_LEN: usize = 2 + 2 * (2 + FIELD_LEN + 1);
/// Shortest DER `SEQUENCE { r, s }`: two one-byte INTEGERs.
pub const MIN_DER_SIGNATURE_LEN: usize = 2 + 2 * 3;
/// C1‖C3 around C2 in the raw ciphertext.
pub const RAW_OVERHEAD: usize = POINT_LEN + DIGEST_LEN;
/// The least a DER `SM2Cipher` adds to C2: the sequence header, two one-byte INTEGERs, the
/// 32-byte HASH and the header of the CipherText.
pub const MIN_DER_OVERHEAD: usize = 2 + 3 + 3 + (2 + DIGEST_LEN) + 2;
/// ENTL_A is the ID's length in bits as 16 bits, so an ID has at most ⌊65535 / 8⌋ bytes.
pub const MAX_ID_LEN: usize = 8191;
/// GM/T 0009's default signer ID, which OpenSSL, GmSSL and BouncyCastle use as well.
pub const DEFAULT_ID: &[u8] = b"1234567812345678";
/// The `distid` the crate's key objects are built with. Z_A is computed here instead (the crate
/// takes the ID as `str`, while a PKCS#11 ID is any byte string), so this only keeps the
/// crate's own, unused copy consistent with ours.
const DEFAULT_DISTID: &str = "1234567812345678";

/// Curve coefficients and base point of GB/T 32918.5, the inputs of Z_A besides the ID and the
/// public key.
const CURVE_A: [u8; 32] = hex32("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC");
const CURVE_B: [u8; 32] = hex32("28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93");
const GENERATOR_X: [u8; 32] = hex32("32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7");
const GENERATOR_Y: [u8; 32] = hex32("BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0");

/// Decodes 64 hex digits at compile time; a bad constant fails the build, not a call.
const fn hex32(s: &str) -> [u8; 32] {
    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => panic!("not a hex digit"),
        }
    }
    let b = s.as_bytes();
    assert!(b.len() == 64);
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = nibble(b[2 * i]) << 4 | nibble(b[2 * i + 1]);
        i += 1;
    }
    out
}

/// Z_A = SM3(ENTL_A ‖ ID_A ‖ a ‖ b ‖ x_G ‖ y_G ‖ x_A ‖ y_A) of GB/T 32918.2 §5.5, for the
/// uncompressed public point `04‖x_A‖y_A`. Refused: an ID longer than [`MAX_ID_LEN`], a point
/// of the wrong form.
pub fn z_a(id: &[u8], point: &[u8]) -> Result<[u8; DIGEST_LEN], CryptoError> {
    let bits = id.len().checked_mul(8).and_then(|b| u16::try_from(b).ok()).ok_or(CryptoError)?;
    let xy = match point.split_first() {
        Some((0x04, xy)) if xy.len() == 2 * FIELD_LEN => xy,
        _ => return Err(CryptoError),
    };
    let mut h = Sm3::new();
    h.update(&bits.to_be_bytes());
    h.update(id);
    for part in [&CURVE_A, &CURVE_B, &GENERATOR_X, &GENERATOR_Y] {
        h.update(part);
    }
    h.update(xy);
    Ok(h.finish_reset())
}

/// The form of a ciphertext.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CipherFormat {
    /// C1‖C3‖C2 with C1 = `04‖x1‖y1`, the order of GB/T 32918.4-2016.
    Raw,
    /// GM/T 0009 `SM2Cipher ::= SEQUENCE { XCoordinate INTEGER, YCoordinate INTEGER,
    /// HASH OCTET STRING, CipherText OCTET STRING }`, what OpenSSL and GmSSL write.
    Der,
}

impl CipherFormat {
    /// Bytes that suffice for the ciphertext of `msg_len` bytes: exact for `Raw`, an upper
    /// bound for `Der` (whose INTEGERs lose leading zeros and may gain a sign byte).
    pub fn ciphertext_len(self, msg_len: usize) -> usize {
        match self {
            CipherFormat::Raw => RAW_OVERHEAD.saturating_add(msg_len),
            CipherFormat::Der => {
                let c2 = tlv_len(msg_len);
                tlv_len(c2.saturating_add((2 + FIELD_LEN + 1) * 2 + (2 + DIGEST_LEN)))
            }
        }
    }

    /// Bytes that suffice for the plaintext of a `ct_len`-byte ciphertext.
    pub fn plaintext_len(self, ct_len: usize) -> usize {
        ct_len.saturating_sub(match self {
            CipherFormat::Raw => RAW_OVERHEAD,
            CipherFormat::Der => MIN_DER_OVERHEAD,
        })
    }
}

/// Bytes of a DER TLV whose value has `len` bytes (definite length, one-byte tag).
fn tlv_len(len: usize) -> usize {
    let len_of_len =
        if len < 0x80 { 1 } else { 1 + (usize::BITS - len.leading_zeros()).div_ceil(8) as usize };
    (1 + len_of_len).saturating_add(len)
}

/// Why a ciphertext was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecryptError {
    /// Too short to hold C1, C3 and at least one byte of C2.
    TooShort,
    /// Malformed, C1 not on the curve, or C3 does not match.
    Invalid,
    /// The output buffer is shorter than the plaintext, which has this length.
    OutputTooSmall(usize),
}

/// An SM2 private key, ready to sign and decrypt.
pub struct Sm2PrivateKey {
    signing: SigningKey,
    decrypting: DecryptingKey,
    point: [u8; POINT_LEN],
    z_default: [u8; DIGEST_LEN],
}

impl std::fmt::Debug for Sm2PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sm2PrivateKey").finish_non_exhaustive()
    }
}

impl Sm2PrivateKey {
    pub fn generate() -> Result<Sm2PrivateKey, CryptoError> {
        let d = sm2::NonZeroScalar::try_generate_from_rng(&mut Rng).map_err(|_| CryptoError)?;
        Sm2PrivateKey::from_nonzero_scalar(d)
    }

    /// A key from its scalar d, big-endian and exactly 32 bytes. Zero and d ≥ n are refused.
    pub fn from_scalar(d: &[u8]) -> Result<Sm2PrivateKey, CryptoError> {
        if d.len() != FIELD_LEN {
            return Err(CryptoError);
        }
        let d = sm2::NonZeroScalar::try_from(d).map_err(|_| CryptoError)?;
        Sm2PrivateKey::from_nonzero_scalar(d)
    }

    fn from_nonzero_scalar(d: sm2::NonZeroScalar) -> Result<Sm2PrivateKey, CryptoError> {
        let signing = SigningKey::from_nonzero_scalar(DEFAULT_DISTID, d).map_err(|_| CryptoError)?;
        let decrypting = DecryptingKey::new_with_mode(d, Mode::C1C3C2);
        let point = point_of(signing.verifying_key())?;
        let z_default = z_a(DEFAULT_ID, &point)?;
        Ok(Sm2PrivateKey { signing, decrypting, point, z_default })
    }

    /// The scalar d, big-endian, 32 bytes.
    pub fn scalar(&self) -> Zeroizing<[u8; FIELD_LEN]> {
        let mut d = Zeroizing::new([0u8; FIELD_LEN]);
        d.copy_from_slice(&self.signing.to_bytes());
        d
    }

    /// The public point, uncompressed.
    pub fn public_point(&self) -> &[u8] {
        &self.point
    }

    /// The Z_A of the default ID.
    pub fn z_default(&self) -> &[u8; DIGEST_LEN] {
        &self.z_default
    }

    pub fn spki_der(&self) -> Result<Vec<u8>, CryptoError> {
        spki_der(&self.point)
    }

    /// Signs the 32-byte digest e into `out` as `r‖s`; returns [`SIGNATURE_LEN`].
    pub fn sign_digest(&self, e: &[u8], out: &mut [u8]) -> Result<usize, CryptoError> {
        let out = out.get_mut(..SIGNATURE_LEN).ok_or(CryptoError)?;
        if e.len() != DIGEST_LEN {
            return Err(CryptoError);
        }
        // The crate derives k by RFC 6979 from d, e and fresh random bytes, so a weak or
        // repeated random draw cannot reveal d. It gives up instead of drawing again when k ≥ n
        // or r = 0 or r + k = n (each about 2⁻³² or rarer); fresh bytes make a retry succeed.
        for _ in 0..4 {
            if let Ok(sig) = self.signing.sign_prehash_with_rng(&mut Rng, e) {
                out.copy_from_slice(&sig.to_bytes());
                return Ok(SIGNATURE_LEN);
            }
        }
        Err(CryptoError)
    }

    /// Decrypts a ciphertext into `out`. Nothing of an unauthenticated plaintext is left in
    /// `out` when C3 does not match.
    pub fn decrypt(&self, format: CipherFormat, ct: &[u8], out: &mut [u8]) -> Result<usize, DecryptError> {
        let cipher = match format {
            CipherFormat::Raw => {
                if ct.len() <= RAW_OVERHEAD {
                    return Err(DecryptError::TooShort);
                }
                // C1 is uncompressed by definition here; the crate would take other forms.
                if ct.first() != Some(&0x04) {
                    return Err(DecryptError::Invalid);
                }
                Cipher::<sm2::Sm2, sm3::Sm3>::from_slice(ct, Mode::C1C3C2)
                    .map_err(|_| DecryptError::Invalid)?
            }
            CipherFormat::Der => {
                if ct.len() <= MIN_DER_OVERHEAD {
                    return Err(DecryptError::TooShort);
                }
                let cipher = Cipher::<sm2::Sm2, sm3::Sm3>::from_der(ct).map_err(|_| DecryptError::Invalid)?;
                if cipher.c2().is_empty() {
                    return Err(DecryptError::TooShort);
                }
                cipher
            }
        };
        let n = cipher.c2().len();
        let out = out.get_mut(..n).ok_or(DecryptError::OutputTooSmall(n))?;
        match self.decrypting.decrypt_cipher_with_buf(&cipher, out) {
            Ok(len) if len == n => Ok(n),
            _ => {
                // The crate writes M' before it compares C3.
                zeroize::Zeroize::zeroize(out);
                Err(DecryptError::Invalid)
            }
        }
    }

    /// PKCS#8 `PrivateKeyInfo` (RFC 5208/5915): id-ecPublicKey with the SM2 curve, holding an
    /// `ECPrivateKey` with the public key and without repeating the curve, byte for byte what
    /// OpenSSL writes for an SM2 key.
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let d = self.scalar();
        let sec1 =
            sec1::EcPrivateKey { private_key: &d[..], parameters: None, public_key: Some(&self.point) };
        let mut inner = Zeroizing::new([0u8; 128]);
        let inner = sec1.encode_to_slice(&mut inner[..]).map_err(|_| CryptoError)?;
        let info = pkcs8::PrivateKeyInfo::<ObjectIdentifier, &OctetStringRef, BitStringRef<'_>>::new(
            spki::AlgorithmIdentifier { oid: ID_EC_PUBLIC_KEY, parameters: Some(OID_SM2) },
            OctetStringRef::new(inner).map_err(|_| CryptoError)?,
        );
        let len = info.encoded_len().and_then(usize::try_from).map_err(|_| CryptoError)?;
        let mut out = Zeroizing::new(vec![0u8; len]);
        info.encode_to_slice(&mut out).map_err(|_| CryptoError)?;
        Ok(out)
    }

    /// Parses a PKCS#8 `PrivateKeyInfo` holding an EC key on the SM2 curve.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Sm2PrivateKey, Pkcs8Error> {
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
        if oid != OID_SM2 {
            return Err(UnsupportedCurve);
        }
        let d = left_pad_scalar(sec1.private_key).ok_or(Malformed)?;
        let key = Sm2PrivateKey::from_scalar(&d[..]).map_err(|_| Malformed)?;
        if sec1.public_key.is_some_and(|p| p != key.public_point()) {
            return Err(Malformed);
        }
        Ok(key)
    }
}

fn named_curve(params: AnyRef<'_>) -> Result<ObjectIdentifier, Pkcs8Error> {
    params.decode_as::<ObjectIdentifier>().map_err(|_| Pkcs8Error::UnsupportedCurve)
}

/// A scalar as exactly 32 big-endian bytes. Encoders drop leading zeros (and some add one for a
/// sign), so shorter values are left-padded and longer ones may only carry zeros in front. The
/// range 0 < d < n is left to [`Sm2PrivateKey::from_scalar`].
pub fn left_pad_scalar(value: &[u8]) -> Option<Zeroizing<[u8; FIELD_LEN]>> {
    let value = match value.len().checked_sub(FIELD_LEN) {
        Some(extra) => {
            let (front, rest) = value.split_at(extra);
            if front.iter().any(|b| *b != 0) {
                return None;
            }
            rest
        }
        None => value,
    };
    let mut d = Zeroizing::new([0u8; FIELD_LEN]);
    d[FIELD_LEN - value.len()..].copy_from_slice(value);
    Some(d)
}

fn point_of(key: &VerifyingKey) -> Result<[u8; POINT_LEN], CryptoError> {
    key.to_sec1_point(false).as_bytes().try_into().map_err(|_| CryptoError)
}

/// An SM2 public key, ready to verify and encrypt.
pub struct Sm2PublicKey {
    verifying: VerifyingKey,
    encrypting: EncryptingKey,
    point: [u8; POINT_LEN],
    z_default: [u8; DIGEST_LEN],
}

impl std::fmt::Debug for Sm2PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sm2PublicKey").finish_non_exhaustive()
    }
}

impl Sm2PublicKey {
    /// A key from its uncompressed point `04‖x‖y`; refused unless the point is on the curve
    /// (and so not the identity).
    pub fn from_point(point: &[u8]) -> Result<Sm2PublicKey, CryptoError> {
        if point.len() != POINT_LEN || point.first() != Some(&0x04) {
            return Err(CryptoError);
        }
        let public = sm2::PublicKey::from_sec1_bytes(point).map_err(|_| CryptoError)?;
        let verifying = VerifyingKey::new(DEFAULT_DISTID, public).map_err(|_| CryptoError)?;
        let encrypting = EncryptingKey::new_with_mode(public, Mode::C1C3C2);
        let point: [u8; POINT_LEN] = point.try_into().map_err(|_| CryptoError)?;
        let z_default = z_a(DEFAULT_ID, &point)?;
        Ok(Sm2PublicKey { verifying, encrypting, point, z_default })
    }

    /// The uncompressed point.
    pub fn point(&self) -> &[u8] {
        &self.point
    }

    /// The Z_A of the default ID.
    pub fn z_default(&self) -> &[u8; DIGEST_LEN] {
        &self.z_default
    }

    pub fn spki_der(&self) -> Result<Vec<u8>, CryptoError> {
        spki_der(&self.point)
    }

    /// Whether `signature` (`r‖s`) is valid for the 32-byte digest e.
    pub fn verify_digest(&self, e: &[u8], signature: &[u8]) -> bool {
        e.len() == DIGEST_LEN
            && Signature::from_slice(signature)
                .is_ok_and(|sig| self.verifying.verify_prehash(e, &sig).is_ok())
    }

    /// Encrypts a non-empty message into `out` (at least `format.ciphertext_len(msg.len())`
    /// bytes); returns the ciphertext length.
    pub fn encrypt(&self, format: CipherFormat, msg: &[u8], out: &mut [u8]) -> Result<usize, CryptoError> {
        self.encrypt_with(&mut Rng, format, msg, out)
    }

    /// [`Sm2PublicKey::encrypt`] with k drawn from `rng`, which lets a test fix k.
    fn encrypt_with<R: rand_core::TryCryptoRng>(
        &self,
        rng: &mut R,
        format: CipherFormat,
        msg: &[u8],
        out: &mut [u8],
    ) -> Result<usize, CryptoError> {
        if msg.is_empty() {
            return Err(CryptoError);
        }
        match format {
            CipherFormat::Raw => {
                let len = RAW_OVERHEAD.checked_add(msg.len()).ok_or(CryptoError)?;
                let (head, c2) = out.get_mut(..len).ok_or(CryptoError)?.split_at_mut(RAW_OVERHEAD);
                let cipher = self
                    .encrypting
                    .encrypt_cipher_with_buf::<R, sm3::Sm3>(rng, msg, c2)
                    .map_err(|_| CryptoError)?;
                let (c1, c3) = head.split_at_mut(POINT_LEN);
                c1.copy_from_slice(cipher.c1().to_sec1_point(false).as_bytes());
                c3.copy_from_slice(cipher.c3());
                Ok(len)
            }
            CipherFormat::Der => {
                // C2 is ciphertext, not secret; it only needs a place to be before encoding.
                let mut c2 = vec![0u8; msg.len()];
                let cipher = self
                    .encrypting
                    .encrypt_cipher_with_buf::<R, sm3::Sm3>(rng, msg, &mut c2)
                    .map_err(|_| CryptoError)?;
                Ok(cipher.encode_to_slice(out).map_err(|_| CryptoError)?.len())
            }
        }
    }
}

fn spki_der(point: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let info = spki::SubjectPublicKeyInfo::<ObjectIdentifier, BitStringRef<'_>> {
        algorithm: spki::AlgorithmIdentifier { oid: ID_EC_PUBLIC_KEY, parameters: Some(OID_SM2) },
        subject_public_key: BitStringRef::from_bytes(point).map_err(|_| CryptoError)?,
    };
    info.to_der().map_err(|_| CryptoError)
}

/// `r‖s` as DER `SEQUENCE { r INTEGER, s INTEGER }` into `out`; returns its length.
pub fn signature_to_der(rs: &[u8], out: &mut [u8]) -> Result<usize, CryptoError> {
    if rs.len() != SIGNATURE_LEN {
        return Err(CryptoError);
    }
    let (r, s) = rs.split_at(FIELD_LEN);
    let ints = [UintRef::new(r).map_err(|_| CryptoError)?, UintRef::new(s).map_err(|_| CryptoError)?];
    Ok(ints.encode_to_slice(out).map_err(|_| CryptoError)?.len())
}

/// `r‖s` from a strict DER `SEQUENCE { r INTEGER, s INTEGER }`; `None` where the DER is
/// malformed, has trailing bytes, or an integer is negative or wider than 32 bytes. The range
/// 0 < r, s < n is the verifier's to check.
pub fn signature_from_der(der: &[u8]) -> Option<[u8; SIGNATURE_LEN]> {
    let mut reader = der::SliceReader::new(der).ok()?;
    let ints = reader
        .sequence(|seq| -> der::Result<[UintRef<'_>; 2]> {
            Ok([UintRef::decode(seq)?, UintRef::decode(seq)?])
        })
        .ok()?;
    reader.finish().ok()?;
    let mut rs = [0u8; SIGNATURE_LEN];
    for (half, int) in rs.chunks_mut(FIELD_LEN).zip(&ints) {
        let b = int.as_bytes();
        half.get_mut(FIELD_LEN.checked_sub(b.len())?..)?.copy_from_slice(b);
    }
    Some(rs)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use sm2::dsa::signature::Signer as _;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    /// GB/T 32918.5-2017 (GM/T 0003.5-2012) annex A, on the recommended curve: the key of both
    /// examples, the signature example (ID "1234567812345678", M "message digest") and the
    /// encryption example (M "encryption standard"), each with the standard's k.
    const STD_D: &str = "3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8";
    const STD_POINT: &str = concat!(
        "04",
        "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020",
        "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13"
    );
    const STD_Z: &str = "B2E14C5C79C6DF5B85F4FE7ED8DB7A262B9DA7E07CCB0EA9F4747B8CCDA8A4F3";
    const STD_E: &str = "F0B43E94BA45ACCAACE692ED534382EB17E6AB5A19CE7B31F4486FDFC0D28640";
    const STD_K: &str = "59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21";
    const STD_SIG: &str = concat!(
        "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3",
        "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA"
    );
    const STD_CIPHERTEXT: &str = concat!(
        "04",
        "04EBFC718E8D1798620432268E77FEB6415E2EDE0E073C0F4F640ECD2E149A73",
        "E858F9D81E5430A57B36DAAB8F950A3C64E6EE6A63094D99283AFF767E124DF0",
        "59983C18F809E262923C53AEC295D30383B54E39D609D160AFCB1908D0BD8766",
        "21886CA989CA9C7D58087307CA93092D651EFA"
    );
    const ORDER: &str = "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123";

    /// Made once with OpenSSL 3.0.19: `openssl genpkey -algorithm SM2`, the key as PKCS#8 and
    /// its SPKI; `pkeyutl -sign -rawin -digest sm3 -pkeyopt distid:…` over [`OSSL_MSG`] with the
    /// default ID and with "alice@example.com"; `pkeyutl -encrypt` of [`OSSL_MSG`].
    pub(crate) const OSSL_PKCS8: &str = "308187020100301306072a8648ce3d020106082a811ccf5501822d046d306b02010104206b814d1012983211d6572a3013dbb5de2ad07177a6a68c67a49024cb5012bf89a14403420004928b221015f3ad5e0be5f82004760bb50e44dab96c769cd176df4a5edcc4e646fd8370ac709f3a607f59384f17eb5cc9978fe4750aa7035afbde4b970256ce0e";
    pub(crate) const OSSL_SPKI: &str = "3059301306072a8648ce3d020106082a811ccf5501822d03420004928b221015f3ad5e0be5f82004760bb50e44dab96c769cd176df4a5edcc4e646fd8370ac709f3a607f59384f17eb5cc9978fe4750aa7035afbde4b970256ce0e";
    pub(crate) const OSSL_D: &str = "6b814d1012983211d6572a3013dbb5de2ad07177a6a68c67a49024cb5012bf89";
    pub(crate) const OSSL_MSG: &[u8] = b"kms-pkcs11 SM2 interop";
    pub(crate) const OSSL_SIG_DEFAULT_ID: &str = "3045022100876a6ec9fd91b18ed41eafe0fd6d7d2a4fe76d87b07107993ca035de0be0568c022029c8fbe09273a87ab6be6d9d8cbfb37c187bc1c1fd4621dd62c349e21f8076aa";
    pub(crate) const OSSL_SIG_ALICE: &str = "30440220354007ff09538b400f32a0306bdadb79251753bd77e3e0b065d2a279ecc70aea022041cd25a146811c825517d6a2a7b96f927f47b36076a7e7ea7e49a4a11efd7cab";
    pub(crate) const OSSL_CIPHERTEXT: &str = "307f02204438f14681d9792ff92c5ddca4910acb7d7e405ba4f38b8dc0119b6c3ca58e570221008be262adabd906b33d2935f99581474534741de862ab1d7b7ff958a972f9c24504203ea133fcba80aa4b17c4df8d48eb473cdc8ddf1d60f58213b56dd0ea366fc4b304164ecfabadf791fa86439b1baa262fa9ebde94e3f9668c";

    /// A "random" source that always yields the same 32 bytes, to fix k.
    struct FixedK([u8; 32]);

    impl rand_core::TryRng for FixedK {
        type Error = core::convert::Infallible;
        fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
            Ok(0)
        }
        fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
            Ok(0)
        }
        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
            dst.copy_from_slice(&self.0[..dst.len()]);
            Ok(())
        }
    }

    impl rand_core::TryCryptoRng for FixedK {}

    fn std_key() -> Sm2PrivateKey {
        Sm2PrivateKey::from_scalar(&h(STD_D)).unwrap()
    }

    fn public_of(k: &Sm2PrivateKey) -> Sm2PublicKey {
        Sm2PublicKey::from_point(k.public_point()).unwrap()
    }

    fn sm3_of(parts: &[&[u8]]) -> [u8; 32] {
        let mut s = Sm3::new();
        parts.iter().for_each(|p| s.update(p));
        s.finish_reset()
    }

    #[test]
    fn curve_constants() {
        assert_eq!(OID_SM2.to_der().unwrap(), h("06082a811ccf5501822d"));
        // d = 1 gives the generator, which the crate knows independently of our constants.
        let mut one = [0u8; 32];
        one[31] = 1;
        let g = Sm2PrivateKey::from_scalar(&one).unwrap();
        assert_eq!(g.public_point()[1..33], GENERATOR_X);
        assert_eq!(g.public_point()[33..], GENERATOR_Y);
        // n − 1 is the largest scalar; n and above, and zero, are not scalars.
        let mut top = h(ORDER);
        top[31] -= 1;
        assert!(Sm2PrivateKey::from_scalar(&top).is_ok());
        let mut above = h(ORDER);
        above[31] += 1;
        for bad in [h(ORDER), above, vec![0u8; 32], vec![0xff; 32], vec![1u8; 31], vec![1u8; 33]] {
            assert!(Sm2PrivateKey::from_scalar(&bad).is_err(), "{}", hex::encode(&bad));
        }
    }

    /// The signature example: the public key, Z_A and e are the standard's; its (r, s) verifies.
    /// The crate derives k itself (RFC 6979), so the standard's k cannot be given to it and its
    /// own signature of the example differs from the standard's (and verifies too).
    #[test]
    fn gb_t_32918_signature_example() {
        let key = std_key();
        assert_eq!(key.public_point(), h(STD_POINT));
        assert_eq!(key.z_default().to_vec(), h(STD_Z));
        assert_eq!(z_a(b"1234567812345678", &h(STD_POINT)).unwrap().to_vec(), h(STD_Z));
        let e = sm3_of(&[key.z_default(), b"message digest"]);
        assert_eq!(e.to_vec(), h(STD_E));
        let public = public_of(&key);
        assert_eq!(public.z_default(), key.z_default());
        assert!(public.verify_digest(&e, &h(STD_SIG)));
        let mut other = e;
        other[31] ^= 1;
        assert!(!public.verify_digest(&other, &h(STD_SIG)));
        let mut ours = [0u8; 64];
        assert_eq!(key.sign_digest(&e, &mut ours), Ok(64));
        assert!(public.verify_digest(&e, &ours));
        assert_ne!(ours.to_vec(), h(STD_SIG));
    }

    /// The encryption example, exactly, with the standard's k drawn from a fixed source; and
    /// the standard's ciphertext decrypts.
    #[test]
    fn gb_t_32918_encryption_example() {
        let key = std_key();
        let public = public_of(&key);
        let msg = b"encryption standard";
        let mut k = [0u8; 32];
        k.copy_from_slice(&h(STD_K));
        let mut out = vec![0u8; CipherFormat::Raw.ciphertext_len(msg.len())];
        let n = public.encrypt_with(&mut FixedK(k), CipherFormat::Raw, msg, &mut out).unwrap();
        assert_eq!(out[..n], h(STD_CIPHERTEXT)[..]);
        let mut plain = [0u8; 19];
        assert_eq!(key.decrypt(CipherFormat::Raw, &h(STD_CIPHERTEXT), &mut plain), Ok(19));
        assert_eq!(&plain, msg);
        // The same C1, C3 and C2 in the DER form.
        let mut der = vec![0u8; CipherFormat::Der.ciphertext_len(msg.len())];
        let n = public.encrypt_with(&mut FixedK(k), CipherFormat::Der, msg, &mut der).unwrap();
        let ct = h(STD_CIPHERTEXT);
        let mut expected = vec![0x30, 0x7c, 0x02, 0x20];
        expected.extend_from_slice(&ct[1..33]);
        expected.extend_from_slice(&[0x02, 0x21, 0x00]);
        expected.extend_from_slice(&ct[33..65]);
        expected.extend_from_slice(&[0x04, 0x20]);
        expected.extend_from_slice(&ct[65..97]);
        expected.extend_from_slice(&[0x04, 0x13]);
        expected.extend_from_slice(&ct[97..]);
        assert_eq!(der[..n], expected[..]);
        assert_eq!(key.decrypt(CipherFormat::Der, &expected, &mut plain), Ok(19));
        assert_eq!(&plain, msg);
    }

    #[test]
    fn z_a_binds_id_and_key_and_limits_the_id() {
        let point = h(STD_POINT);
        let other = Sm2PrivateKey::generate().unwrap();
        let z = z_a(DEFAULT_ID, &point).unwrap();
        assert_ne!(z_a(b"ALICE123@YAHOO.COM", &point).unwrap(), z);
        assert_ne!(z_a(DEFAULT_ID, other.public_point()).unwrap(), z);
        // ENTL is the bit length in 16 bits: 8191 bytes fit, 8192 do not.
        assert!(z_a(&[0x61; MAX_ID_LEN], &point).is_ok());
        assert!(z_a(&[0x61; MAX_ID_LEN + 1], &point).is_err());
        assert!(z_a(&[], &point).is_ok());
        // Z_A of an empty ID starts with ENTL = 0.
        let mut parts: Vec<&[u8]> = vec![&[0, 0], &CURVE_A, &CURVE_B, &GENERATOR_X, &GENERATOR_Y];
        parts.push(&point[1..]);
        assert_eq!(z_a(&[], &point).unwrap(), sm3_of(&parts));
        for bad in [&point[..64], &point[1..], &[], &[0x02; 65][..]] {
            assert!(z_a(DEFAULT_ID, bad).is_err());
        }
    }

    /// The crate hashes Z_A ‖ M itself when given a message; our e of the same message must be
    /// what it signed.
    #[test]
    fn z_a_agrees_with_the_crate() {
        let key = Sm2PrivateKey::generate().unwrap();
        let crate_key = SigningKey::from_slice(DEFAULT_DISTID, &key.scalar()[..]).unwrap();
        let sig: Signature = crate_key.sign(b"hello");
        let e = sm3_of(&[key.z_default(), b"hello"]);
        assert!(public_of(&key).verify_digest(&e, &sig.to_bytes()));
    }

    #[test]
    fn sign_verify_and_refusals() {
        let key = Sm2PrivateKey::generate().unwrap();
        let public = public_of(&key);
        let e = [0x5au8; 32];
        let mut sig = [0u8; 64];
        assert_eq!(key.sign_digest(&e, &mut sig), Ok(64));
        assert!(public.verify_digest(&e, &sig));
        // Randomised: two signatures of one digest differ.
        let mut again = [0u8; 64];
        key.sign_digest(&e, &mut again).unwrap();
        assert_ne!(sig, again);
        assert!(public.verify_digest(&e, &again));
        for len in [0, 31, 33, 64] {
            assert!(key.sign_digest(&vec![1; len], &mut again).is_err());
            assert!(!public.verify_digest(&vec![1; len], &sig));
        }
        assert!(key.sign_digest(&e, &mut [0u8; 63]).is_err());
        assert!(!public.verify_digest(&e, &sig[..63]));
        assert!(!public.verify_digest(&e, &[0u8; 64]));
        let mut n_s = sig;
        n_s[32..].copy_from_slice(&h(ORDER));
        assert!(!public.verify_digest(&e, &n_s));
        // Another key's public half does not verify.
        assert!(!public_of(&Sm2PrivateKey::generate().unwrap()).verify_digest(&e, &sig));
    }

    #[test]
    fn public_points_are_validated() {
        let point = h(STD_POINT);
        assert!(Sm2PublicKey::from_point(&point).is_ok());
        let mut off = point.clone();
        off[64] ^= 1;
        assert!(Sm2PublicKey::from_point(&off).is_err(), "off the curve");
        let mut compressed = point[..33].to_vec();
        compressed[0] = 2 + (point[64] & 1);
        assert!(Sm2PublicKey::from_point(&compressed).is_err(), "compressed");
        assert!(Sm2PublicKey::from_point(&[0]).is_err(), "identity");
        assert!(Sm2PublicKey::from_point(&point[..64]).is_err());
        // A P-256 point is no SM2 point.
        let p256 = crate::engine::ec::EcPrivateKey::generate(crate::engine::ec::Curve::P256).unwrap();
        assert!(Sm2PublicKey::from_point(&p256.public_point()).is_err());
    }

    fn round_trip(key: &Sm2PrivateKey, format: CipherFormat, msg: &[u8]) -> Vec<u8> {
        let public = public_of(key);
        let mut ct = vec![0u8; format.ciphertext_len(msg.len())];
        let n = public.encrypt(format, msg, &mut ct).unwrap();
        ct.truncate(n);
        let mut plain = vec![0u8; format.plaintext_len(n)];
        assert!(plain.len() >= msg.len());
        assert_eq!(key.decrypt(format, &ct, &mut plain), Ok(msg.len()), "{format:?} {}", msg.len());
        assert_eq!(&plain[..msg.len()], msg);
        ct
    }

    #[test]
    fn encryption_round_trips() {
        let key = Sm2PrivateKey::generate().unwrap();
        for len in [1, 16, 31, 32, 33, 64, 100, 200, 1000, 70000] {
            let msg: Vec<u8> = (0..len).map(|i| (i * 7 + 1) as u8).collect();
            let raw = round_trip(&key, CipherFormat::Raw, &msg);
            assert_eq!(raw.len(), RAW_OVERHEAD + len);
            assert_eq!(raw[0], 0x04);
            let der = round_trip(&key, CipherFormat::Der, &msg);
            assert!(der.len() <= CipherFormat::Der.ciphertext_len(len));
            assert!(der.len() >= MIN_DER_OVERHEAD + len);
        }
        let public = public_of(&key);
        let mut out = [0u8; 200];
        assert!(public.encrypt(CipherFormat::Raw, &[], &mut out).is_err());
        assert!(public.encrypt(CipherFormat::Der, &[], &mut out).is_err());
        assert!(public.encrypt(CipherFormat::Raw, &[1; 10], &mut out[..106]).is_err());
    }

    /// DER INTEGERs drop leading zeros: a C1 whose x is below 2²⁴⁸ has a shorter INTEGER, which
    /// must decode back to the same point.
    #[test]
    fn der_ciphertext_with_a_short_coordinate() {
        let key = Sm2PrivateKey::generate().unwrap();
        let public = public_of(&key);
        let mut ct = vec![0u8; CipherFormat::Der.ciphertext_len(3)];
        for _ in 0..20_000 {
            let n = public.encrypt(CipherFormat::Der, b"abc", &mut ct).unwrap();
            // SEQUENCE header, then INTEGER x: 02 len.
            if ct[3] < 0x20 {
                let mut plain = [0u8; 3];
                assert_eq!(key.decrypt(CipherFormat::Der, &ct[..n], &mut plain), Ok(3));
                assert_eq!(&plain, b"abc");
                return;
            }
        }
        panic!("no short x in 20000 encryptions");
    }

    #[test]
    fn decryption_refusals() {
        use DecryptError::*;
        let key = Sm2PrivateKey::generate().unwrap();
        let raw = round_trip(&key, CipherFormat::Raw, b"secret");
        let der = round_trip(&key, CipherFormat::Der, b"secret");
        let mut out = [0u8; 64];
        let mut dec = |f, ct: &[u8]| key.decrypt(f, ct, &mut out);
        assert_eq!(dec(CipherFormat::Raw, &raw[..97]), Err(TooShort));
        assert_eq!(dec(CipherFormat::Raw, &[]), Err(TooShort));
        assert_eq!(dec(CipherFormat::Der, &der[..40]), Err(TooShort));
        assert_eq!(dec(CipherFormat::Der, &[]), Err(TooShort));
        for i in [0, 1, 40, 64, 65, 96, 97, 102] {
            let mut bad = raw.clone();
            bad[i] ^= 0x01;
            assert_eq!(dec(CipherFormat::Raw, &bad), Err(Invalid), "byte {i}");
        }
        // A compressed C1 is not C1 here, even for the right point.
        let raw40 = round_trip(&key, CipherFormat::Raw, &[7; 40]);
        let mut compressed = vec![2 + (raw40[64] & 1)];
        compressed.extend_from_slice(&raw40[1..33]);
        compressed.extend_from_slice(&raw40[65..]);
        assert_eq!(dec(CipherFormat::Raw, &compressed), Err(Invalid));
        // C1 off the curve, C3 or C2 changed, trailing or missing bytes, raw given as DER.
        for i in [5, der.len() - 40, der.len() - 1] {
            let mut bad = der.clone();
            bad[i] ^= 0x01;
            assert_eq!(dec(CipherFormat::Der, &bad), Err(Invalid), "byte {i}");
        }
        let mut long = der.clone();
        long.push(0);
        assert_eq!(dec(CipherFormat::Der, &long), Err(Invalid));
        assert_eq!(dec(CipherFormat::Der, &der[..der.len() - 1]), Err(Invalid));
        assert_eq!(dec(CipherFormat::Der, &raw), Err(Invalid));
        assert_eq!(dec(CipherFormat::Raw, &der), Err(Invalid));
        // Another key's ciphertext.
        let other = round_trip(&Sm2PrivateKey::generate().unwrap(), CipherFormat::Raw, b"secret");
        assert_eq!(dec(CipherFormat::Raw, &other), Err(Invalid));
        // A DER SM2Cipher around an empty C2.
        let c1c3 = &raw[..97];
        let ints = [UintRef::new(&c1c3[1..33]).unwrap(), UintRef::new(&c1c3[33..65]).unwrap()];
        let mut body = Vec::new();
        for i in &ints {
            i.encode_to_vec(&mut body).unwrap();
        }
        OctetStringRef::new(&c1c3[65..]).unwrap().encode_to_vec(&mut body).unwrap();
        OctetStringRef::new(&[]).unwrap().encode_to_vec(&mut body).unwrap();
        let mut empty = vec![0x30, body.len() as u8];
        empty.extend_from_slice(&body);
        assert_eq!(dec(CipherFormat::Der, &empty), Err(TooShort));
        // A short output buffer is reported with the length needed.
        assert_eq!(key.decrypt(CipherFormat::Raw, &raw, &mut [0u8; 5]), Err(OutputTooSmall(6)));
    }

    /// The crate writes M' before it checks C3; a failed decryption leaves nothing of it.
    #[test]
    fn failed_decryption_leaves_no_plaintext() {
        let key = Sm2PrivateKey::generate().unwrap();
        let mut ct = round_trip(&key, CipherFormat::Raw, &[0xaa; 40]);
        ct[70] ^= 1;
        let mut out = [0x11u8; 40];
        assert_eq!(key.decrypt(CipherFormat::Raw, &ct, &mut out), Err(DecryptError::Invalid));
        assert_eq!(out, [0u8; 40]);
    }

    #[test]
    fn der_signatures() {
        let mut rs = [0u8; 64];
        rs[..32].copy_from_slice(&[0x80; 32]);
        rs[63] = 5;
        let mut der = [0u8; MAX_DER_SIGNATURE_LEN];
        let n = signature_to_der(&rs, &mut der).unwrap();
        // r gains a sign byte, s loses 31 zeros.
        assert_eq!(n, 2 + (2 + 33) + 3);
        assert_eq!(der[..6], [0x30, 0x26, 0x02, 0x21, 0x00, 0x80]);
        assert_eq!(der[n - 3..n], [0x02, 0x01, 0x05]);
        assert_eq!(signature_from_der(&der[..n]), Some(rs));
        let widest = [0xffu8; 64];
        assert_eq!(signature_to_der(&widest, &mut der), Ok(MAX_DER_SIGNATURE_LEN));
        assert_eq!(signature_from_der(&der), Some(widest));
        assert!(signature_to_der(&widest, &mut [0u8; 71]).is_err());
        assert!(signature_to_der(&widest[..63], &mut der).is_err());
        let min = h("3006020101020101");
        assert_eq!(min.len(), MIN_DER_SIGNATURE_LEN);
        assert!(signature_from_der(&min).is_some());
        for bad in [
            "300602010102010100", // trailing byte
            "3007020101020101",   // length too long
            "30070201010201010a", // extra element inside the sequence
            "300702020001020101", // non-minimal INTEGER
            "3006020181020101",   // negative INTEGER
            "3006020101040101",   // OCTET STRING for s
            "3103020101",         // not a SEQUENCE
            "",
        ] {
            assert_eq!(signature_from_der(&h(bad)), None, "{bad}");
        }
        // 33 significant bytes are wider than any scalar.
        let mut wide = vec![0x30, 0x27, 0x02, 0x21];
        wide.extend_from_slice(&[0x01; 33]);
        wide.extend_from_slice(&[0x02, 0x01, 0x01]);
        assert_eq!(signature_from_der(&wide), None);
    }

    #[test]
    fn openssl_key_signatures_and_ciphertext() {
        let key = Sm2PrivateKey::from_pkcs8_der(&h(OSSL_PKCS8)).unwrap();
        assert_eq!(*key.scalar(), h(OSSL_D)[..]);
        // Ours is byte for byte what OpenSSL wrote.
        assert_eq!(*key.to_pkcs8_der().unwrap(), h(OSSL_PKCS8));
        assert_eq!(key.spki_der().unwrap(), h(OSSL_SPKI));
        let public = public_of(&key);
        assert_eq!(public.spki_der().unwrap(), h(OSSL_SPKI));
        let sig = signature_from_der(&h(OSSL_SIG_DEFAULT_ID)).unwrap();
        let e = sm3_of(&[public.z_default(), OSSL_MSG]);
        assert!(public.verify_digest(&e, &sig));
        let alice = signature_from_der(&h(OSSL_SIG_ALICE)).unwrap();
        let z = z_a(b"alice@example.com", public.point()).unwrap();
        assert!(public.verify_digest(&sm3_of(&[&z, OSSL_MSG]), &alice));
        assert!(!public.verify_digest(&e, &alice));
        let mut plain = vec![0u8; CipherFormat::Der.plaintext_len(h(OSSL_CIPHERTEXT).len())];
        let n = key.decrypt(CipherFormat::Der, &h(OSSL_CIPHERTEXT), &mut plain).unwrap();
        assert_eq!(&plain[..n], OSSL_MSG);
    }

    #[test]
    fn pkcs8_round_trips_and_refusals() {
        use Pkcs8Error::*;
        let k = Sm2PrivateKey::generate().unwrap();
        let der = k.to_pkcs8_der().unwrap();
        let back = Sm2PrivateKey::from_pkcs8_der(&der).unwrap();
        assert_eq!(*back.scalar(), *k.scalar());
        assert_eq!(back.public_point(), k.public_point());
        let p256 = crate::engine::ec::EcPrivateKey::generate(crate::engine::ec::Curve::P256).unwrap();
        assert_eq!(
            Sm2PrivateKey::from_pkcs8_der(&p256.to_pkcs8_der().unwrap()).err(),
            Some(UnsupportedCurve)
        );
        assert_eq!(Sm2PrivateKey::from_pkcs8_der(&der[..der.len() - 1]).err(), Some(Malformed));
        assert_eq!(Sm2PrivateKey::from_pkcs8_der(b"garbage").err(), Some(Malformed));
        assert_eq!(Sm2PrivateKey::from_pkcs8_der(&[]).err(), Some(Malformed));

        // Hand-built variants of one key.
        let d = k.scalar();
        let other = Sm2PrivateKey::generate().unwrap();
        let p256_oid = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
        let build = |alg: ObjectIdentifier,
                     outer: Option<ObjectIdentifier>,
                     inner: Option<ObjectIdentifier>,
                     public: Option<&[u8]>,
                     d: &[u8]| {
            let sec1 = sec1::EcPrivateKey {
                private_key: d,
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
        let from = |der: Vec<u8>| Sm2PrivateKey::from_pkcs8_der(&der).map(|k| k.public_point().to_vec());
        let ec = ID_EC_PUBLIC_KEY;
        let point = k.public_point().to_vec();
        assert_eq!(from(build(ec, None, Some(OID_SM2), None, &d[..])), Ok(point.clone()));
        assert_eq!(from(build(ec, Some(OID_SM2), Some(OID_SM2), Some(&point), &d[..])), Ok(point.clone()));
        assert_eq!(from(build(ec, None, None, None, &d[..])).err(), Some(Malformed));
        assert_eq!(from(build(ec, Some(OID_SM2), Some(p256_oid), None, &d[..])).err(), Some(Malformed));
        assert_eq!(
            from(build(ec, Some(OID_SM2), None, Some(other.public_point()), &d[..])).err(),
            Some(Malformed)
        );
        assert_eq!(from(build(ec, Some(p256_oid), None, None, &d[..])).err(), Some(UnsupportedCurve));
        assert_eq!(from(build(OID_SM2, Some(OID_SM2), None, None, &d[..])).err(), Some(Malformed));
        assert_eq!(from(build(ec, Some(OID_SM2), None, None, &[0u8; 32])).err(), Some(Malformed));
        assert_eq!(from(build(ec, Some(OID_SM2), None, None, &h(ORDER))).err(), Some(Malformed));
    }

    #[test]
    fn scalars_are_padded_to_32_bytes() {
        let mut expected = [0u8; 32];
        expected[30..].copy_from_slice(&[1, 2]);
        assert_eq!(*left_pad_scalar(&[1, 2]).unwrap(), expected);
        let mut long = vec![0u8; 3];
        long.extend_from_slice(&[7u8; 32]);
        assert_eq!(*left_pad_scalar(&long).unwrap(), [7u8; 32]);
        assert!(left_pad_scalar(&[1u8; 33]).is_none());
        assert_eq!(*left_pad_scalar(&[]).unwrap(), [0u8; 32]);
    }

    #[test]
    fn length_bounds() {
        assert_eq!(CipherFormat::Raw.ciphertext_len(10), 107);
        assert_eq!(CipherFormat::Raw.plaintext_len(107), 10);
        assert_eq!(CipherFormat::Raw.plaintext_len(50), 0);
        // The widest DER: both INTEGERs with a sign byte; 70 + 34 + (2 + 10) = 116, header 2.
        assert_eq!(CipherFormat::Der.ciphertext_len(10), 118);
        // 70 + 34 + (3 + 200) = 307 needs a four-byte header.
        assert_eq!(CipherFormat::Der.ciphertext_len(200), 311);
        assert_eq!(CipherFormat::Der.plaintext_len(118), 118 - MIN_DER_OVERHEAD);
        assert_eq!(tlv_len(0x7f), 0x81);
        assert_eq!(tlv_len(0x80), 0x83);
        assert_eq!(tlv_len(0x1_0000), 0x1_0005);
        assert_eq!(CipherFormat::Raw.ciphertext_len(usize::MAX), usize::MAX);
        assert_eq!(CipherFormat::Der.ciphertext_len(usize::MAX), usize::MAX);
    }
}
