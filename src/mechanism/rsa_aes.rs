//! `CKM_RSA_AES_KEY_WRAP` (PKCS#11 3.0 §2.1.21): a fresh AES key sealed with RSA-OAEP, then the
//! key material wrapped under that AES key with `CKM_AES_KEY_WRAP_KWP` (RFC 5649). This is also
//! the layout of AWS KMS key import (`RSA_AES_KEY_WRAP_SHA_*`) and of the OpenSSL command-line
//! recipe for it (`pkeyutl` OAEP, then `enc -id-aes256-wrap-pad`), so such blobs unwrap here. Both halves are the `rsa` and `aes` families' own wrap operations, so their parameter,
//! key and length checks apply unchanged; the mechanism's `Info` sits in the RSA table, since
//! it takes RSA keys, and the router sends it here.

use super::block_modes::failed;
use super::{LoadedKey, Mechanism, Param, aes, rsa};
use crate::engine::aes::{AesKey, SEMIBLOCK_LEN};
use crate::error::{Error, Result};
use cryptoki_sys::*;
use zeroize::Zeroizing;

/// The two halves of one wrap: the OAEP mechanism that seals the AES key, and that key's length
/// in bytes.
struct Halves {
    oaep: Mechanism,
    aes_len: usize,
}

fn halves(mech: &Mechanism) -> Result<Halves> {
    if mech.ty != CKM_RSA_AES_KEY_WRAP {
        return Err(Error::MechanismInvalid);
    }
    let Param::RsaAes { aes_key_bits, oaep } = &mech.param else {
        return Err(Error::MechanismParamInvalid);
    };
    // The FFI layer checks this too; a parameter built inside the library is held to the same.
    let aes_len = match aes_key_bits {
        128 | 192 | 256 => (*aes_key_bits / 8) as usize,
        _ => return Err(Error::MechanismParamInvalid),
    };
    Ok(Halves { oaep: Mechanism::with(CKM_RSA_PKCS_OAEP, (**oaep).clone()), aes_len })
}

fn kwp() -> Mechanism {
    Mechanism::new(CKM_AES_KEY_WRAP_KWP)
}

/// The wrapped length; checks the key, the OAEP parameters and the material's length.
fn sized(h: &Halves, key: &LoadedKey, len: usize) -> Result<usize> {
    Ok(rsa::wrap_len(&h.oaep, key, h.aes_len)? + aes::kwp_wrap_len(len)?)
}

pub fn wrap_len(mech: &Mechanism, key: &LoadedKey, len: usize) -> Result<usize> {
    sized(&halves(mech)?, key, len)
}

pub fn wrap(mech: &Mechanism, key: &LoadedKey, material: &[u8]) -> Result<Vec<u8>> {
    let h = halves(mech)?;
    // Every check comes before the AES key is drawn, so a refused wrap costs no randomness.
    sized(&h, key, material.len())?;
    let mut aes_key = Zeroizing::new([0u8; 32]);
    let aes_key = &mut aes_key[..h.aes_len];
    crate::engine::rand::fill(aes_key).map_err(failed)?;
    // `AesKey` keeps its bytes in a `Zeroizing` buffer and its schedules in `aes-kw`'s zeroizing
    // types, so no copy of the ephemeral key outlives this call.
    let kek = LoadedKey::Aes(AesKey::new(aes_key).map_err(failed)?);
    let mut out = rsa::wrap(&h.oaep, key, aes_key)?;
    out.extend_from_slice(&aes::wrap(&kwp(), &kek, material)?);
    Ok(out)
}

pub fn unwrap(mech: &Mechanism, key: &LoadedKey, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let h = halves(mech)?;
    let k = rsa::unwrap_block_len(&h.oaep, key)?;
    // Lengths are checked before any decryption, so the code a malformed blob gets does not
    // depend on its content. RFC 5649 output is at least two semiblocks, in whole semiblocks.
    if wrapped.len() < k + 2 * SEMIBLOCK_LEN || !(wrapped.len() - k).is_multiple_of(SEMIBLOCK_LEN) {
        return Err(Error::WrappedKeyLenRange);
    }
    let (sealed_key, sealed_material) = wrapped.split_at(k);
    let aes_key = rsa::unwrap(&h.oaep, key, sealed_key)?;
    // An AES key of another size would open the material just as well; the parameter names the
    // size the wrapper chose, and a mismatch means the blob is not what the caller thinks.
    if aes_key.len() != h.aes_len {
        return Err(Error::WrappedKeyInvalid);
    }
    let kek = LoadedKey::Aes(AesKey::new(&aes_key).map_err(|_| Error::WrappedKeyInvalid)?);
    aes::unwrap(&kwp(), &kek, sealed_material)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::digest::Algorithm;
    use crate::engine::ec::Curve;
    use crate::mechanism::{self as mechanism, GeneratedPair};
    use crate::object::attribute::{Template, ulong_bytes};
    use std::sync::{Arc, OnceLock};

    struct Pair {
        public: Arc<LoadedKey>,
        private: Arc<LoadedKey>,
    }

    /// One 2048-bit pair per test run: generation is slow in debug builds.
    fn pair() -> &'static Pair {
        static PAIR: OnceLock<Pair> = OnceLock::new();
        PAIR.get_or_init(|| {
            let tpl = Template::new().with(CKA_MODULUS_BITS, ulong_bytes(2048));
            let g = rsa::generate_pair(&Mechanism::new(CKM_RSA_PKCS_KEY_PAIR_GEN), &tpl, &Template::new())
                .unwrap();
            Pair {
                public: Arc::new(rsa::load(CKO_PUBLIC_KEY, &g.public).unwrap()),
                private: Arc::new(rsa::load(CKO_PRIVATE_KEY, &g.private).unwrap()),
            }
        })
    }

    fn oaep(hash: CK_MECHANISM_TYPE, mgf: CK_RSA_PKCS_MGF_TYPE, label: &[u8]) -> Param {
        Param::Oaep { hash, mgf, source: label.to_vec() }
    }

    fn mech_with(aes_key_bits: u64, oaep: Param) -> Mechanism {
        Mechanism::with(CKM_RSA_AES_KEY_WRAP, Param::RsaAes { aes_key_bits, oaep: Box::new(oaep) })
    }

    fn mech(aes_key_bits: u64) -> Mechanism {
        mech_with(aes_key_bits, oaep(CKM_SHA256, CKG_MGF1_SHA256, b""))
    }

    /// Wraps through the router, as `C_WrapKey` does, checking the length it promised.
    fn wrap_via_router(m: &Mechanism, key: &LoadedKey, material: &[u8]) -> Result<Vec<u8>> {
        let promised = mechanism::wrap_len(m, key, material.len())?;
        let wrapped = mechanism::wrap(m, key, material)?;
        assert_eq!(wrapped.len(), promised);
        Ok(wrapped)
    }

    #[test]
    fn a_32_byte_aes_key_round_trips_with_every_aes_key_size() {
        let p = pair();
        let material = [0x5au8; 32];
        for bits in [128, 192, 256] {
            let m = mech(bits);
            let wrapped = wrap_via_router(&m, &p.public, &material).unwrap();
            // OAEP block of the modulus size, then KWP: 32 bytes and the AIV.
            assert_eq!(wrapped.len(), 256 + 40, "{bits}");
            assert_eq!(*mechanism::unwrap(&m, &p.private, &wrapped).unwrap(), material, "{bits}");
        }
    }

    #[test]
    fn each_wrap_draws_a_fresh_aes_key() {
        let p = pair();
        let a = wrap(&mech(256), &p.public, &[1; 16]).unwrap();
        let b = wrap(&mech(256), &p.public, &[1; 16]).unwrap();
        assert_ne!(a[256..], b[256..]);
    }

    #[test]
    fn private_keys_round_trip_as_pkcs8() {
        let p = pair();
        let m = mech(256);
        let rsa_tpl = Template::new().with(CKA_MODULUS_BITS, ulong_bytes(2048));
        let ec_tpl = Template::new().with(CKA_EC_PARAMS, Curve::P256.params_der());
        let cases: [(CK_KEY_TYPE, GeneratedPair); 2] = [
            (
                CKK_RSA,
                rsa::generate_pair(&Mechanism::new(CKM_RSA_PKCS_KEY_PAIR_GEN), &rsa_tpl, &Template::new())
                    .unwrap(),
            ),
            (
                CKK_EC,
                super::super::ec::generate_pair(
                    &Mechanism::new(CKM_EC_KEY_PAIR_GEN),
                    &ec_tpl,
                    &Template::new(),
                )
                .unwrap(),
            ),
        ];
        for (kt, g) in cases {
            let der = mechanism::private_key_to_pkcs8(kt, &g.private).unwrap();
            let wrapped = wrap_via_router(&m, &p.public, &der).unwrap();
            let back = mechanism::unwrap(&m, &p.private, &wrapped).unwrap();
            assert_eq!(*back, *der, "{kt:#x}");
            let attrs = mechanism::private_key_from_pkcs8(kt, &back).unwrap();
            let (value_ty, expected) = if kt == CKK_RSA {
                (CKA_PRIVATE_EXPONENT, g.private.get(CKA_PRIVATE_EXPONENT))
            } else {
                (CKA_VALUE, g.private.get(CKA_VALUE))
            };
            assert_eq!(attrs.get(value_ty), expected, "{kt:#x}");
        }
    }

    /// A blob put together by hand the way the OpenSSL recipe for AWS KMS key import makes it:
    /// OAEP of the AES key first, then RFC 5649 of the key under it. MGF1-SHA1 with SHA-256 is
    /// Java's pairing, which aws-lc-rs does not serve, so the other OAEP engine is covered too.
    #[test]
    fn a_blob_made_by_hand_from_the_primitives_unwraps() {
        let p = pair();
        let LoadedKey::RsaPublic(public) = &*p.public else { unreachable!() };
        let aes_key = [0x11u8; 32];
        let target = b"twenty-byte secret!!";
        let label = b"import";
        let mut blob = vec![0u8; 256];
        let n = public.encrypt_oaep(Algorithm::Sha256, Algorithm::Sha1, label, &aes_key, &mut blob).unwrap();
        assert_eq!(n, 256);
        let mut kwp_out = [0u8; 32];
        let n = AesKey::new(&aes_key).unwrap().kwp_wrap(target, &mut kwp_out).unwrap();
        blob.extend_from_slice(&kwp_out[..n]);
        let m = mech_with(256, oaep(CKM_SHA256, CKG_MGF1_SHA1, label));
        assert_eq!(*unwrap(&m, &p.private, &blob).unwrap(), target[..]);
        // The label is part of the OAEP check.
        let other = mech_with(256, oaep(CKM_SHA256, CKG_MGF1_SHA1, b"other"));
        assert_eq!(unwrap(&other, &p.private, &blob).err(), Some(Error::WrappedKeyInvalid));
    }

    #[test]
    fn parameter_errors_are_mechanism_param_invalid() {
        let p = pair();
        let invalid = Some(Error::MechanismParamInvalid);
        let bad = [
            Mechanism::new(CKM_RSA_AES_KEY_WRAP),
            Mechanism::with(CKM_RSA_AES_KEY_WRAP, Param::Bytes(vec![0; 16])),
            mech(0),
            mech(64),
            mech(512),
            mech_with(256, Param::None),
            mech_with(256, oaep(CKM_MD5, CKG_MGF1_SHA256, b"")),
            mech_with(256, oaep(CKM_SHA256, 0x7777, b"")),
        ];
        for m in &bad {
            assert_eq!(wrap_len(m, &p.public, 32).err(), invalid, "{:?}", m.param);
            assert_eq!(wrap(m, &p.public, &[0; 32]).err(), invalid, "{:?}", m.param);
            assert_eq!(unwrap(m, &p.private, &[0; 296]).err(), invalid, "{:?}", m.param);
            // A bad parameter is reported before a bad length.
            assert_eq!(unwrap(m, &p.private, &[0; 10]).err(), invalid, "{:?}", m.param);
        }
        // Any OAEP hash the modulus has room for will do.
        let sha512 = mech_with(256, oaep(CKM_SHA512, CKG_MGF1_SHA512, b""));
        assert_eq!(wrap_len(&sha512, &p.public, 32).ok(), Some(256 + 40));
    }

    #[test]
    fn keys_of_the_wrong_kind_are_refused() {
        let p = pair();
        let aes_key = LoadedKey::Aes(AesKey::new(&[3; 32]).unwrap());
        let m = mech(256);
        assert_eq!(wrap(&m, &aes_key, &[0; 32]).err(), Some(Error::WrappingKeyTypeInconsistent));
        assert_eq!(wrap(&m, &p.private, &[0; 32]).err(), Some(Error::WrappingKeyTypeInconsistent));
        assert_eq!(unwrap(&m, &aes_key, &[0; 296]).err(), Some(Error::UnwrappingKeyTypeInconsistent));
        assert_eq!(unwrap(&m, &p.public, &[0; 296]).err(), Some(Error::UnwrappingKeyTypeInconsistent));
        // Nothing to wrap is no key at all.
        assert_eq!(wrap(&m, &p.public, &[]).err(), Some(Error::KeySizeRange));
    }

    #[test]
    fn tampering_anywhere_is_wrapped_key_invalid() {
        let p = pair();
        let m = mech(256);
        let wrapped = wrap(&m, &p.public, &[7; 32]).unwrap();
        for i in [0, 100, 255, 256, 270, wrapped.len() - 1] {
            let mut t = wrapped.clone();
            t[i] ^= 0x01;
            assert_eq!(unwrap(&m, &p.private, &t).err(), Some(Error::WrappedKeyInvalid), "byte {i}");
        }
        // The right RSA block and KWP under a different AES key size.
        assert_eq!(unwrap(&mech(128), &p.private, &wrapped).err(), Some(Error::WrappedKeyInvalid));
        // Another OAEP hash.
        let sha1 = mech_with(256, oaep(CKM_SHA_1, CKG_MGF1_SHA1, b""));
        assert_eq!(unwrap(&sha1, &p.private, &wrapped).err(), Some(Error::WrappedKeyInvalid));
    }

    #[test]
    fn impossible_lengths_are_wrapped_key_len_range() {
        let p = pair();
        let m = mech(256);
        let wrapped = wrap(&m, &p.public, &[7; 32]).unwrap();
        let range = Some(Error::WrappedKeyLenRange);
        for len in [0, 255, 256, 256 + 8, 256 + 15, 256 + 17, wrapped.len() - 1] {
            assert_eq!(unwrap(&m, &p.private, &wrapped[..len]).err(), range, "{len} bytes");
        }
        let mut longer = wrapped.clone();
        longer.push(0);
        assert_eq!(unwrap(&m, &p.private, &longer).err(), range);
    }

    #[test]
    fn the_router_serves_it_for_wrapping_only() {
        let info = mechanism::info(CKM_RSA_AES_KEY_WRAP).unwrap();
        let oaep = mechanism::info(CKM_RSA_PKCS_OAEP).unwrap();
        assert_eq!(info.flags, CKF_WRAP | CKF_UNWRAP);
        assert_eq!((info.min_key, info.max_key), (oaep.min_key, oaep.max_key));
        assert!(mechanism::all().contains(&CKM_RSA_AES_KEY_WRAP));
        let p = pair();
        let m = mech(256);
        assert_eq!(mechanism::encrypt_init(&m, &p.public).err(), Some(Error::MechanismInvalid));
        assert_eq!(mechanism::decrypt_init(&m, &p.private).err(), Some(Error::MechanismInvalid));
        assert_eq!(mechanism::sign_init(&m, &p.private).err(), Some(Error::MechanismInvalid));
    }
}
