//! SM4 (vendor mechanisms, see `vendor.rs`): `CKM_SM4_KEY_GEN`; `CKM_SM4_ECB`, `CKM_SM4_CBC`,
//! `CKM_SM4_CBC_PAD`, `CKM_SM4_CTR` and `CKM_SM4_GCM` encryption, of which `CKM_SM4_CBC_PAD`
//! and `CKM_SM4_GCM` also wrap keys. The modes are those of the AES family (`block_modes`):
//! the same parameters, multi-part semantics and return codes, whose tests run through AES;
//! the tests here are SM4's own: the standards' examples and OpenSSL's outputs.

use super::block_modes::{self, Mode, ModeTypes, failed};
use super::{Cipher, Generated, Info, LoadedKey, Mechanism, Param, value_len};
use crate::engine::sm4::{KEY_LEN, Sm4Key};
use crate::error::{Error, Result};
use crate::object::attribute::{Attributes, Template};
use crate::vendor::{
    CKK_SM4, CKM_SM4_CBC, CKM_SM4_CBC_PAD, CKM_SM4_CTR, CKM_SM4_ECB, CKM_SM4_GCM, CKM_SM4_KEY_GEN,
};
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::Zeroizing;

/// SM4 has one key size, 16 bytes.
const MIN_KEY: u64 = KEY_LEN as u64;
const MAX_KEY: u64 = KEY_LEN as u64;

const CRYPT: CK_FLAGS = CKF_ENCRYPT | CKF_DECRYPT;
const WRAP: CK_FLAGS = CKF_WRAP | CKF_UNWRAP;

pub const MECHANISMS: &[(CK_MECHANISM_TYPE, Info)] = &[
    (CKM_SM4_KEY_GEN, Info::new(MIN_KEY, MAX_KEY, CKF_GENERATE)),
    (CKM_SM4_ECB, Info::new(MIN_KEY, MAX_KEY, CRYPT)),
    (CKM_SM4_CBC, Info::new(MIN_KEY, MAX_KEY, CRYPT)),
    // The wrapping mechanisms are those the AES family wraps with besides RFC 3394/5649, which
    // have no SM4 definition.
    (CKM_SM4_CBC_PAD, Info::new(MIN_KEY, MAX_KEY, CRYPT | WRAP)),
    (CKM_SM4_CTR, Info::new(MIN_KEY, MAX_KEY, CRYPT)),
    (CKM_SM4_GCM, Info::new(MIN_KEY, MAX_KEY, CRYPT | WRAP)),
];

const MODES: ModeTypes = ModeTypes {
    ecb: CKM_SM4_ECB,
    cbc: CKM_SM4_CBC,
    cbc_pad: CKM_SM4_CBC_PAD,
    ctr: CKM_SM4_CTR,
    gcm: CKM_SM4_GCM,
};

fn sm4_of(key: &LoadedKey) -> Result<&Sm4Key> {
    match key {
        LoadedKey::Sm4(k) => Ok(k),
        _ => Err(Error::KeyTypeInconsistent),
    }
}

fn mode_of(mech: &Mechanism) -> Result<Mode> {
    block_modes::mode_of(mech, &MODES)?.ok_or(Error::MechanismInvalid)
}

pub fn cipher_init(mech: &Mechanism, key: &Arc<LoadedKey>, encrypt: bool) -> Result<Box<dyn Cipher>> {
    let mode = mode_of(mech)?;
    sm4_of(key)?;
    block_modes::cipher(mode, key.clone(), encrypt)
}

/// The mechanism of a `C_WrapKey` / `C_UnwrapKey`, checked.
fn wrap_mode(mech: &Mechanism) -> Result<Mode> {
    match mech.ty {
        CKM_SM4_CBC_PAD | CKM_SM4_GCM => mode_of(mech),
        _ => Err(Error::MechanismInvalid),
    }
}

fn wrapping_key(key: &LoadedKey) -> Result<&Sm4Key> {
    sm4_of(key).map_err(|_| Error::WrappingKeyTypeInconsistent)
}

pub fn wrap_len(mech: &Mechanism, key: &LoadedKey, len: usize) -> Result<usize> {
    let mode = wrap_mode(mech)?;
    wrapping_key(key)?;
    block_modes::wrap_len(&mode, len)
}

pub fn wrap(mech: &Mechanism, key: &LoadedKey, material: &[u8]) -> Result<Vec<u8>> {
    let mode = wrap_mode(mech)?;
    block_modes::wrap(&mode, wrapping_key(key)?, material)
}

pub fn unwrap(mech: &Mechanism, key: &LoadedKey, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let mode = wrap_mode(mech)?;
    let key = sm4_of(key).map_err(|_| Error::UnwrappingKeyTypeInconsistent)?;
    block_modes::unwrap(&mode, key, wrapped)
}

/// The attributes computed from a key value.
fn computed(key: &Sm4Key, attrs: &mut Attributes) {
    attrs.set_ulong(CKA_VALUE_LEN, KEY_LEN as CK_ULONG);
    attrs.set(CKA_CHECK_VALUE, key.check_value().to_vec());
}

pub fn generate(mech: &Mechanism, template: &Template) -> Result<Generated> {
    if mech.ty != CKM_SM4_KEY_GEN {
        return Err(Error::MechanismInvalid);
    }
    if mech.param != Param::None {
        return Err(Error::MechanismParamInvalid);
    }
    if template.get_ulong(CKA_KEY_TYPE)?.is_some_and(|kt| kt != CKK_SM4) {
        return Err(Error::TemplateInconsistent);
    }
    // SM4 has one key size, so the length may be left out; one given must be that size
    // (PKCS#11 3.0 §4.1.1: a value no key of the type can have is invalid).
    if value_len(template)?.is_some_and(|len| len != KEY_LEN) {
        return Err(Error::AttributeValueInvalid);
    }
    let mut value = Zeroizing::new([0u8; KEY_LEN]);
    crate::engine::rand::fill(&mut value[..]).map_err(failed)?;
    let key = Sm4Key::new(&value[..]).map_err(failed)?;
    let mut attrs = Attributes::new();
    attrs.set(CKA_VALUE, value.to_vec());
    computed(&key, &mut attrs);
    Ok(Generated { key_type: CKK_SM4, attrs })
}

pub fn import(class: CK_OBJECT_CLASS, attrs: &mut Attributes) -> Result<()> {
    if class != CKO_SECRET_KEY {
        return Err(Error::TemplateInconsistent);
    }
    let value = attrs.get(CKA_VALUE).ok_or(Error::TemplateIncomplete)?;
    let key = Sm4Key::new(value).map_err(|_| Error::AttributeValueInvalid)?;
    if attrs.ulong(CKA_VALUE_LEN).is_some_and(|l| l != KEY_LEN as CK_ULONG) {
        return Err(Error::TemplateInconsistent);
    }
    // PKCS#11 3.0 §4.10: a check value given with the key must be the one the key has.
    if attrs.get(CKA_CHECK_VALUE).is_some_and(|c| c != key.check_value()) {
        return Err(Error::AttributeValueInvalid);
    }
    computed(&key, attrs);
    Ok(())
}

pub fn load(class: CK_OBJECT_CLASS, attrs: &Attributes) -> Result<LoadedKey> {
    if class != CKO_SECRET_KEY {
        return Err(Error::KeyTypeInconsistent);
    }
    // Stored objects passed `import`; a bad value here means the store is damaged.
    let value = attrs.get(CKA_VALUE).ok_or(Error::GeneralError)?;
    Ok(LoadedKey::Sm4(Sm4Key::new(value).map_err(|_| Error::GeneralError)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::aes::AesKey;
    use crate::object::attribute::ulong_bytes;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    fn key(bytes: &[u8]) -> Arc<LoadedKey> {
        Arc::new(LoadedKey::Sm4(Sm4Key::new(bytes).unwrap()))
    }

    fn aes_key() -> Arc<LoadedKey> {
        Arc::new(LoadedKey::Aes(AesKey::new(&[1; 16]).unwrap()))
    }

    fn generic_key() -> Arc<LoadedKey> {
        Arc::new(LoadedKey::Generic { key_type: CKK_GENERIC_SECRET, value: Zeroizing::new(vec![1; 16]) })
    }

    fn cbc(ty: CK_MECHANISM_TYPE, iv: &[u8]) -> Mechanism {
        Mechanism::with(ty, Param::Bytes(iv.to_vec()))
    }

    fn gcm(iv: &[u8], aad: &[u8]) -> Mechanism {
        Mechanism::with(CKM_SM4_GCM, Param::Gcm { iv: iv.to_vec(), aad: aad.to_vec(), tag_bits: 128 })
    }

    fn ctr(bits: u64, block: &str) -> Mechanism {
        Mechanism::with(
            CKM_SM4_CTR,
            Param::Ctr { counter_bits: bits, counter_block: h(block).try_into().unwrap() },
        )
    }

    /// C_Encrypt / C_Decrypt with a buffer of exactly `len` bytes.
    fn single(m: &Mechanism, k: &Arc<LoadedKey>, encrypt: bool, input: &[u8]) -> Result<Vec<u8>> {
        let mut c = cipher_init(m, k, encrypt)?;
        let mut out = vec![0u8; c.len(input.len())];
        let n = c.run(input, &mut out)?;
        assert!(n <= out.len());
        out.truncate(n);
        Ok(out)
    }

    /// C_*Update over parts of the given sizes (cycled), then C_*Final, each with a buffer of
    /// exactly `update_len` / `final_len` bytes; every update must produce exactly `update_len`.
    fn parts(
        m: &Mechanism,
        k: &Arc<LoadedKey>,
        encrypt: bool,
        input: &[u8],
        sizes: &[usize],
    ) -> Result<Vec<u8>> {
        let mut c = cipher_init(m, k, encrypt)?;
        let mut all = Vec::new();
        let mut rest = input;
        for size in sizes.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (part, tail) = rest.split_at((*size).min(rest.len()));
            let mut out = vec![0u8; c.update_len(part.len())];
            let n = c.update(part, &mut out)?;
            assert_eq!(n, out.len(), "update_len is exact");
            all.extend_from_slice(&out);
            rest = tail;
        }
        let mut out = vec![0u8; c.final_len()];
        let n = c.finish(&mut out)?;
        assert!(n <= out.len());
        all.extend_from_slice(&out[..n]);
        Ok(all)
    }

    const ODD_PARTS: [&[usize]; 6] = [&[1], &[7, 13], &[16, 3], &[17, 5, 31], &[33], &[15, 1, 2]];

    /// Encrypting and decrypting `pt` single-part gives `ct` and back, and every multi-part
    /// split gives the same.
    fn check_all_ways(m: &Mechanism, k: &Arc<LoadedKey>, pt: &[u8], ct: &[u8]) {
        assert_eq!(single(m, k, true, pt).unwrap(), ct);
        assert_eq!(single(m, k, false, ct).unwrap(), pt);
        for sizes in ODD_PARTS {
            assert_eq!(parts(m, k, true, pt, sizes).unwrap(), ct, "{sizes:?}");
            assert_eq!(parts(m, k, false, ct, sizes).unwrap(), pt, "{sizes:?}");
        }
    }

    /// The GB/T 32907-2016 example key.
    const GB_KEY: &str = "0123456789abcdeffedcba9876543210";

    /// Vectors made once with OpenSSL 3.0.19's `openssl enc -sm4-… -K GB_KEY -iv OSSL_IV`
    /// (`-nopad` except for CBC_PAD) over the 64 bytes 0x30..0x6f.
    const OSSL_IV: &str = "000102030405060708090a0b0c0d0e0f";
    fn ossl_plain() -> Vec<u8> {
        (0x30..0x70).collect()
    }
    const OSSL_ECB: &str = "d55bfd68e7901219f41fab48427ab58d 718e2043bac7ec8bfd57a90711865015 \
                            0c2c0fab0b4e22ee8de3028b161a7c37 1cd7855afd87ef606bcfedad65c86b5b";
    const OSSL_CBC: &str = "54207c48e501eaf62c3ef5337df44eb3 0859e234004f553c0a846ce8f94bbe68 \
                            ac81133b61b55f9421b53cfa80e9a0db 08154765e17daf4ec1a97788c48b99c9";
    /// The first 45 bytes, padded (`openssl enc -sm4-cbc` without `-nopad`).
    const OSSL_CBC_PAD_45: &str = "54207c48e501eaf62c3ef5337df44eb3 0859e234004f553c0a846ce8f94bbe68 \
                                   c166ad5b6ab62d530ac25aec679be6b0";
    /// The empty message, padded.
    const OSSL_CBC_PAD_0: &str = "4b910651754b5553f10cfa0c8a09e9e5";
    /// `-iv f0f1…feff`.
    const OSSL_CTR: &str = "6e13d4f4b6f0868ac9592fb1fb444688 ce720bf23d06471c13be548b26b8898b \
                            4988e67f8f489a329414da6f9020efe9 34312f5155768734cc629058acdd4986";
    /// `-iv 0123456789abcdeffffffffffffffffe`: the count carries across the 64-bit boundary.
    const OSSL_CTR_CARRY: &str = "8a42db754fd5148b0bfb98e86c6a75ef 2b9ae6c318c860717b8e914b2ea8024a \
                                  4357268dd1524fb9423f84d20de52f37 f5d786b52a699b613d53f6d146ed47bf";

    /// RFC 8998 appendix A.1.
    const RFC_IV: &str = "00001234567800000000abcd";
    const RFC_AAD: &str = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
    const RFC_PLAIN: &str = "aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbb ccccccccccccccccdddddddddddddddd \
                             eeeeeeeeeeeeeeeeffffffffffffffff eeeeeeeeeeeeeeeeaaaaaaaaaaaaaaaa";
    const RFC_SEALED: &str = "17f399f08c67d5ee19d0dc9969c4bb7d 5fd46fd3756489069157b282bb200735 \
                              d82710ca5c22f0ccfa7cbf93d496ac15 a56834cbcf98c397b4024a2691233b8d \
                              83de3541e4c2b58177e065a9bf7b62ec";

    #[test]
    fn mechanism_table() {
        let info = |t| MECHANISMS.iter().find(|(ty, _)| *ty == t).map(|(_, i)| *i).unwrap();
        for (_, i) in MECHANISMS {
            assert_eq!((i.min_key, i.max_key), (16, 16));
        }
        assert_eq!(info(CKM_SM4_KEY_GEN).flags, CKF_GENERATE);
        for t in [CKM_SM4_ECB, CKM_SM4_CBC, CKM_SM4_CTR] {
            assert_eq!(info(t).flags, CKF_ENCRYPT | CKF_DECRYPT);
        }
        for t in [CKM_SM4_CBC_PAD, CKM_SM4_GCM] {
            assert_eq!(info(t).flags, CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP);
        }
        assert_eq!(MECHANISMS.len(), 6);
        assert!(super::super::all().contains(&CKM_SM4_GCM));
        assert!(super::super::supports(CKM_SM4_GCM, CKF_WRAP));
        assert!(!super::super::supports(CKM_SM4_CBC, CKF_WRAP));
        assert!(!super::super::supports(CKM_SM4_ECB, CKF_SIGN));
    }

    #[test]
    fn gb_t_32907_example_through_ecb() {
        let k = key(&h(GB_KEY));
        check_all_ways(&Mechanism::new(CKM_SM4_ECB), &k, &h(GB_KEY), &h("681edf34d206965e86b3e94f536e4246"));
    }

    #[test]
    fn openssl_ecb_and_cbc_every_split() {
        let k = key(&h(GB_KEY));
        check_all_ways(&Mechanism::new(CKM_SM4_ECB), &k, &ossl_plain(), &h(OSSL_ECB));
        check_all_ways(&cbc(CKM_SM4_CBC, &h(OSSL_IV)), &k, &ossl_plain(), &h(OSSL_CBC));
    }

    #[test]
    fn openssl_cbc_pad() {
        let k = key(&h(GB_KEY));
        let m = cbc(CKM_SM4_CBC_PAD, &h(OSSL_IV));
        check_all_ways(&m, &k, &ossl_plain()[..45], &h(OSSL_CBC_PAD_45));
        check_all_ways(&m, &k, &[], &h(OSSL_CBC_PAD_0));
    }

    #[test]
    fn openssl_ctr_every_split() {
        let k = key(&h(GB_KEY));
        let m = ctr(128, "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff");
        check_all_ways(&m, &k, &ossl_plain(), &h(OSSL_CTR));
        // A message that ends inside a block.
        check_all_ways(&m, &k, &ossl_plain()[..45], &h(OSSL_CTR)[..45]);
        // A 32-bit counter field: the same keystream while it does not wrap.
        check_all_ways(&ctr(32, "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"), &k, &ossl_plain(), &h(OSSL_CTR));
        // The count carries into the upper half when the whole block is the counter.
        let carry = "0123456789abcdeffffffffffffffffe";
        check_all_ways(&ctr(128, carry), &k, &ossl_plain(), &h(OSSL_CTR_CARRY));
        // With a 64-bit field the same start leaves two blocks.
        check_all_ways(&ctr(64, carry), &k, &ossl_plain()[..32], &h(OSSL_CTR_CARRY)[..32]);
        assert_eq!(single(&ctr(64, carry), &k, true, &ossl_plain()[..33]), Err(Error::DataLenRange));
    }

    #[test]
    fn short_output_buffers_are_refused() {
        let k = key(&[1; 16]);
        let mut c = cipher_init(&cbc(CKM_SM4_CBC, &[0; 16]), &k, true).unwrap();
        assert_eq!(c.run(&[0; 32], &mut [0; 31]), Err(Error::BufferTooSmall(32)));
        let mut c = cipher_init(&cbc(CKM_SM4_CBC_PAD, &[0; 16]), &k, true).unwrap();
        assert_eq!(c.run(&[0; 16], &mut [0; 16]), Err(Error::BufferTooSmall(32)));
        let mut c = cipher_init(&gcm(&[0; 12], b""), &k, true).unwrap();
        assert_eq!(c.run(&[0; 4], &mut [0; 19]), Err(Error::BufferTooSmall(20)));
        let mut c = cipher_init(&ctr(128, OSSL_IV), &k, true).unwrap();
        assert_eq!(c.update(&[0; 4], &mut [0; 3]), Err(Error::BufferTooSmall(4)));
    }

    #[test]
    fn ctr_param_is_checked() {
        let k = key(&[5; 16]);
        for bits in [0, 129] {
            assert_eq!(cipher_init(&ctr(bits, OSSL_IV), &k, true).err(), Some(Error::MechanismParamInvalid));
        }
        let m = cbc(CKM_SM4_CTR, &[0; 16]);
        assert_eq!(cipher_init(&m, &k, true).err(), Some(Error::MechanismParamInvalid));
        assert_eq!(
            cipher_init(&Mechanism::new(CKM_SM4_CTR), &k, false).err(),
            Some(Error::MechanismParamInvalid)
        );
    }

    #[test]
    fn rfc_8998_gcm_every_split() {
        let k = key(&h(GB_KEY));
        check_all_ways(&gcm(&h(RFC_IV), &h(RFC_AAD)), &k, &h(RFC_PLAIN), &h(RFC_SEALED));
        // Any change to what the tag covers is caught.
        for (iv, aad) in [("00001234567800000000abce", RFC_AAD), (RFC_IV, "feedface")] {
            let m = gcm(&h(iv), &h(aad));
            assert_eq!(single(&m, &k, false, &h(RFC_SEALED)), Err(Error::EncryptedDataInvalid));
        }
    }

    /// Made once with the OpenSSL 4.0 of Python `cryptography` 48 (`openssl enc` refuses AEAD
    /// ciphers): `Cipher(SM4(GB_KEY), GCM(bytes(range(12))))`.
    #[test]
    fn openssl_gcm() {
        let k = key(&h(GB_KEY));
        let iv: Vec<u8> = (0..12).collect();
        let sealed = h(
            "65102aa285849f285cb9b990e761586a c8b86bee0414f8f80efde364dca05d34 19549f09705c6b425fe8056b48 \
                        fd95dd1fb9459f9ceb4161717dff2cad",
        );
        check_all_ways(&gcm(&iv, b""), &k, &ossl_plain()[..45], &sealed);
        check_all_ways(&gcm(&iv, b"tde"), &k, &[], &h("512c976f01dd1419a21cf421bf503051"));
    }

    #[test]
    fn gcm_param_and_length_errors() {
        let k = key(&[7; 16]);
        let bad = |p| cipher_init(&Mechanism::with(CKM_SM4_GCM, p), &k, true).err();
        let p = |iv: usize, tag_bits| Param::Gcm { iv: vec![0; iv], aad: vec![], tag_bits };
        assert_eq!(bad(p(12, 96)), Some(Error::MechanismParamInvalid));
        assert_eq!(bad(p(12, 0)), Some(Error::MechanismParamInvalid));
        assert_eq!(bad(p(12, 129)), Some(Error::MechanismParamInvalid));
        assert_eq!(bad(p(16, 128)), Some(Error::MechanismParamInvalid));
        assert_eq!(bad(p(0, 128)), Some(Error::MechanismParamInvalid));
        assert_eq!(bad(Param::Bytes(vec![0; 12])), Some(Error::MechanismParamInvalid));
        assert_eq!(bad(Param::None), Some(Error::MechanismParamInvalid));
        let m = gcm(&[0; 12], b"aad");
        assert_eq!(single(&m, &k, false, &[0; 15]), Err(Error::EncryptedDataLenRange));
        assert_eq!(single(&m, &k, false, &[]), Err(Error::EncryptedDataLenRange));
        assert_eq!(parts(&m, &k, false, &[0; 15], &[4]), Err(Error::EncryptedDataLenRange));
        // An empty message still carries a tag.
        let sealed = single(&m, &k, true, &[]).unwrap();
        assert_eq!(sealed.len(), 16);
        assert_eq!(single(&m, &k, false, &sealed).unwrap(), Vec::<u8>::new());
        assert_eq!(single(&gcm(&[0; 12], b"other"), &k, false, &sealed), Err(Error::EncryptedDataInvalid));
    }

    #[test]
    fn wrap_round_trips_and_lengths() {
        let k = key(&[0x11; 16]);
        let mechs = [cbc(CKM_SM4_CBC_PAD, &[2; 16]), gcm(&[3; 12], b"tde")];
        for m in &mechs {
            // SM4 keys, and the AES sizes: SM4 wraps both.
            for n in [16, 24, 32, 48] {
                let material: Vec<u8> = (0..n as u8).collect();
                let wrapped = wrap(m, &k, &material).unwrap();
                assert_eq!(wrapped.len(), wrap_len(m, &k, n).unwrap(), "{:#x}", m.ty);
                assert_ne!(&wrapped[..n], &material[..]);
                assert_eq!(&unwrap(m, &k, &wrapped).unwrap()[..], &material[..]);
            }
            // C_WrapKey is C_Encrypt with the same mechanism.
            let material = [0x42u8; 24];
            assert_eq!(wrap(m, &k, &material).unwrap(), single(m, &k, true, &material).unwrap());
        }
        assert_eq!(wrap_len(&mechs[0], &k, 16).unwrap(), 32);
        assert_eq!(wrap_len(&mechs[1], &k, 16).unwrap(), 32);
        // A size query for any length answers without overflowing.
        assert_eq!(wrap_len(&mechs[0], &k, usize::MAX).unwrap(), usize::MAX);
        assert_eq!(wrap_len(&mechs[1], &k, usize::MAX).unwrap(), usize::MAX);
        // The OpenSSL and RFC 8998 vectors, as wrapping.
        let gb = key(&h(GB_KEY));
        let m = cbc(CKM_SM4_CBC_PAD, &h(OSSL_IV));
        assert_eq!(wrap(&m, &gb, &ossl_plain()[..45]).unwrap(), h(OSSL_CBC_PAD_45));
        assert_eq!(&unwrap(&m, &gb, &h(OSSL_CBC_PAD_45)).unwrap()[..], &ossl_plain()[..45]);
        let m = gcm(&h(RFC_IV), &h(RFC_AAD));
        assert_eq!(wrap(&m, &gb, &h(RFC_PLAIN)).unwrap(), h(RFC_SEALED));
        assert_eq!(&unwrap(&m, &gb, &h(RFC_SEALED)).unwrap()[..], &h(RFC_PLAIN)[..]);
    }

    #[test]
    fn unwrap_errors() {
        let k = key(&[0x22; 16]);
        let cases =
            [(cbc(CKM_SM4_CBC_PAD, &[2; 16]), vec![15usize, 0, 33]), (gcm(&[3; 12], b""), vec![15, 0])];
        for (m, bad_lengths) in &cases {
            for n in bad_lengths {
                assert_eq!(
                    unwrap(m, &k, &vec![0; *n]).err(),
                    Some(Error::WrappedKeyLenRange),
                    "{:#x} {n}",
                    m.ty
                );
            }
            let mut wrapped = wrap(m, &k, &[0x44; 16]).unwrap();
            let last = wrapped.len() - 1;
            wrapped[last] ^= 0x80;
            assert_eq!(unwrap(m, &k, &wrapped).err(), Some(Error::WrappedKeyInvalid), "{:#x}", m.ty);
        }
        // Unwrapping under another key fails the integrity check, not the length check.
        let wrapped = wrap(&cases[1].0, &k, &[0x44; 16]).unwrap();
        assert_eq!(unwrap(&cases[1].0, &key(&[0x23; 16]), &wrapped).err(), Some(Error::WrappedKeyInvalid));
    }

    #[test]
    fn wrap_mechanism_and_key_are_checked() {
        let k = key(&[1; 16]);
        let m = gcm(&[0; 12], b"");
        for other in [aes_key(), generic_key()] {
            assert_eq!(wrap(&m, &other, &[0; 16]), Err(Error::WrappingKeyTypeInconsistent));
            assert_eq!(wrap_len(&m, &other, 16), Err(Error::WrappingKeyTypeInconsistent));
            assert_eq!(unwrap(&m, &other, &[0; 32]).err(), Some(Error::UnwrappingKeyTypeInconsistent));
        }
        for other in [Mechanism::new(CKM_SM4_ECB), cbc(CKM_SM4_CBC, &[0; 16]), ctr(128, OSSL_IV)] {
            assert_eq!(wrap(&other, &k, &[0; 16]), Err(Error::MechanismInvalid));
            assert_eq!(wrap_len(&other, &k, 16), Err(Error::MechanismInvalid));
            assert_eq!(unwrap(&other, &k, &[0; 16]).err(), Some(Error::MechanismInvalid));
        }
        // The parameter is checked before the key.
        let bad = Mechanism::with(CKM_SM4_GCM, Param::Gcm { iv: vec![0; 8], aad: vec![], tag_bits: 128 });
        assert_eq!(wrap(&bad, &aes_key(), &[0; 16]), Err(Error::MechanismParamInvalid));
        assert_eq!(wrap_len(&bad, &k, 16), Err(Error::MechanismParamInvalid));
        assert_eq!(
            unwrap(&cbc(CKM_SM4_CBC_PAD, &[0; 8]), &k, &[0; 16]).err(),
            Some(Error::MechanismParamInvalid)
        );
    }

    #[test]
    fn cipher_key_and_param_shapes() {
        let k = key(&[1; 16]);
        let bad = |m: Mechanism| cipher_init(&m, &k, true).err();
        assert_eq!(bad(cbc(CKM_SM4_ECB, &[0; 16])), Some(Error::MechanismParamInvalid));
        assert_eq!(bad(Mechanism::new(CKM_SM4_CBC)), Some(Error::MechanismParamInvalid));
        assert_eq!(bad(cbc(CKM_SM4_CBC, &[0; 15])), Some(Error::MechanismParamInvalid));
        assert_eq!(bad(cbc(CKM_SM4_CBC_PAD, &[0; 17])), Some(Error::MechanismParamInvalid));
        assert_eq!(bad(Mechanism::with(CKM_SM4_CBC, Param::Ulong(16))), Some(Error::MechanismParamInvalid));
        assert_eq!(bad(Mechanism::new(CKM_SM4_KEY_GEN)), Some(Error::MechanismInvalid));
        assert_eq!(bad(Mechanism::new(CKM_AES_ECB)), Some(Error::MechanismInvalid));
        for m in [
            Mechanism::new(CKM_SM4_ECB),
            cbc(CKM_SM4_CBC, &[0; 16]),
            cbc(CKM_SM4_CBC_PAD, &[0; 16]),
            gcm(&[0; 12], b""),
            ctr(128, OSSL_IV),
        ] {
            for other in [aes_key(), generic_key()] {
                assert_eq!(cipher_init(&m, &other, true).err(), Some(Error::KeyTypeInconsistent));
                assert_eq!(cipher_init(&m, &other, false).err(), Some(Error::KeyTypeInconsistent));
            }
        }
    }

    #[test]
    fn key_generation() {
        let m = Mechanism::new(CKM_SM4_KEY_GEN);
        let len = |n| Template::new().with(CKA_VALUE_LEN, ulong_bytes(n));
        for n in [0, 8, 15, 17, 24, 32] {
            assert_eq!(generate(&m, &len(n)).err(), Some(Error::AttributeValueInvalid), "{n}");
        }
        let with_param = Mechanism::with(CKM_SM4_KEY_GEN, Param::Bytes(vec![]));
        assert_eq!(generate(&with_param, &Template::new()).err(), Some(Error::MechanismParamInvalid));
        assert_eq!(
            generate(&Mechanism::new(CKM_SM4_ECB), &Template::new()).err(),
            Some(Error::MechanismInvalid)
        );
        for kt in [CKK_AES, CKK_GENERIC_SECRET] {
            let other_type = Template::new().with(CKA_KEY_TYPE, ulong_bytes(kt));
            assert_eq!(generate(&m, &other_type).err(), Some(Error::TemplateInconsistent));
        }
        let malformed = Template::new().with(CKA_VALUE_LEN, vec![16]);
        assert!(generate(&m, &malformed).is_err());
        let mut values = Vec::new();
        for t in [Template::new(), len(16), len(16).with(CKA_KEY_TYPE, ulong_bytes(CKK_SM4))] {
            let g = generate(&m, &t).unwrap();
            assert_eq!(g.key_type, CKK_SM4);
            let value = g.attrs.get(CKA_VALUE).unwrap().to_vec();
            assert_eq!(value.len(), 16);
            assert_eq!(g.attrs.ulong(CKA_VALUE_LEN), Some(16));
            let check = Sm4Key::new(&value).unwrap().check_value();
            assert_eq!(g.attrs.get(CKA_CHECK_VALUE), Some(&check[..]));
            assert!(!values.contains(&value));
            values.push(value);
        }
        // Through the family router.
        assert_eq!(super::super::generate_key(&m, &Template::new()).unwrap().key_type, CKK_SM4);
    }

    #[test]
    fn import_checks_and_completes_the_object() {
        let with = |value: &[u8]| {
            let mut a = Attributes::new();
            a.set(CKA_VALUE, value.to_vec());
            a
        };
        let mut a = with(&h(GB_KEY));
        import(CKO_SECRET_KEY, &mut a).unwrap();
        assert_eq!(a.ulong(CKA_VALUE_LEN), Some(16));
        // `openssl enc -sm4-ecb -nopad` of a zero block under GB_KEY: 2677f46b….
        assert_eq!(a.get(CKA_CHECK_VALUE), Some(&[0x26, 0x77, 0xf4][..]));
        let mut a = with(&[1; 16]);
        a.set_ulong(CKA_VALUE_LEN, 16);
        assert_eq!(super::super::import(CKO_SECRET_KEY, CKK_SM4, &mut a), Ok(()));

        assert_eq!(import(CKO_SECRET_KEY, &mut Attributes::new()), Err(Error::TemplateIncomplete));
        for n in [0, 1, 15, 17, 24, 32] {
            assert_eq!(
                import(CKO_SECRET_KEY, &mut with(&vec![1; n])),
                Err(Error::AttributeValueInvalid),
                "{n}"
            );
        }
        let mut a = with(&[1; 16]);
        a.set_ulong(CKA_VALUE_LEN, 24);
        assert_eq!(import(CKO_SECRET_KEY, &mut a), Err(Error::TemplateInconsistent));
        let mut a = with(&h(GB_KEY));
        a.set(CKA_CHECK_VALUE, vec![0x26, 0x77, 0xf5]);
        assert_eq!(import(CKO_SECRET_KEY, &mut a), Err(Error::AttributeValueInvalid));
        a.set(CKA_CHECK_VALUE, vec![0x26, 0x77]);
        assert_eq!(import(CKO_SECRET_KEY, &mut a), Err(Error::AttributeValueInvalid));
        a.set(CKA_CHECK_VALUE, vec![0x26, 0x77, 0xf4]);
        assert_eq!(import(CKO_SECRET_KEY, &mut a), Ok(()));
        for class in [CKO_PUBLIC_KEY, CKO_PRIVATE_KEY, CKO_DATA] {
            assert_eq!(import(class, &mut with(&[1; 16])), Err(Error::TemplateInconsistent));
        }
    }

    #[test]
    fn load_gives_an_sm4_key() {
        let mut a = Attributes::new();
        a.set(CKA_VALUE, vec![4; 16]);
        let loaded = super::super::load(CKO_SECRET_KEY, CKK_SM4, &a).unwrap();
        match &loaded {
            LoadedKey::Sm4(k) => assert_eq!(k.bytes(), &[4; 16]),
            _ => panic!("not an SM4 key"),
        }
        // What C_WrapKey wraps and C_DigestKey digests.
        assert_eq!(loaded.secret_bytes(), Some(&[4u8; 16][..]));
        assert!(matches!(load(CKO_PRIVATE_KEY, &a), Err(Error::KeyTypeInconsistent)));
        assert!(matches!(load(CKO_SECRET_KEY, &Attributes::new()), Err(Error::GeneralError)));
        a.set(CKA_VALUE, vec![4; 10]);
        assert!(matches!(load(CKO_SECRET_KEY, &a), Err(Error::GeneralError)));
    }

    #[test]
    fn routed_through_the_family_table() {
        let k = key(&h(GB_KEY));
        let m = gcm(&h(RFC_IV), &h(RFC_AAD));
        let mut c = super::super::encrypt_init(&m, &k).unwrap();
        let mut out = vec![0u8; c.len(64)];
        assert_eq!(c.run(&h(RFC_PLAIN), &mut out).unwrap(), 80);
        assert_eq!(out, h(RFC_SEALED));
        let mut d = super::super::decrypt_init(&m, &k).unwrap();
        let mut back = vec![0u8; d.len(80)];
        assert_eq!(d.run(&out, &mut back).unwrap(), 64);
        assert_eq!(back, h(RFC_PLAIN));
        for ty in [CKM_SM4_CBC, CKM_SM4_GCM] {
            let m = Mechanism::new(ty);
            assert_eq!(super::super::sign_init(&m, &k).err(), Some(Error::MechanismInvalid));
            assert_eq!(super::super::verify_init(&m, &k).err(), Some(Error::MechanismInvalid));
        }
        assert_eq!(
            super::super::digest_init(&Mechanism::new(CKM_SM4_ECB)).err(),
            Some(Error::MechanismInvalid)
        );
        assert_eq!(
            super::super::wrap(&Mechanism::new(CKM_SM4_ECB), &k, &[0; 16]),
            Err(Error::MechanismInvalid)
        );
        assert_eq!(
            super::super::generate_key(&Mechanism::new(CKM_SM4_CBC), &Template::new()).err(),
            Some(Error::MechanismInvalid)
        );
    }

    /// An AES key wrapped under an SM4 key comes back as an AES key, and the other way round
    /// through the AES family.
    #[test]
    fn sm4_and_aes_keys_wrap_each_other() {
        let sm4 = key(&h(GB_KEY));
        let aes_value = [0x5au8; 32];
        for m in [gcm(&[6; 12], b"dek"), cbc(CKM_SM4_CBC_PAD, &[7; 16])] {
            let wrapped = super::super::wrap(&m, &sm4, &aes_value).unwrap();
            let back = super::super::unwrap(&m, &sm4, &wrapped).unwrap();
            let mut attrs = Attributes::new();
            attrs.set(CKA_VALUE, back.to_vec());
            super::super::import(CKO_SECRET_KEY, CKK_AES, &mut attrs).unwrap();
            assert_eq!(attrs.ulong(CKA_VALUE_LEN), Some(32));
        }
        let aes = Arc::new(LoadedKey::Aes(AesKey::new(&aes_value).unwrap()));
        let kwp = Mechanism::new(CKM_AES_KEY_WRAP_KWP);
        let material = sm4.secret_bytes().unwrap();
        let wrapped = super::super::wrap(&kwp, &aes, material).unwrap();
        let back = super::super::unwrap(&kwp, &aes, &wrapped).unwrap();
        let mut attrs = Attributes::new();
        attrs.set(CKA_VALUE, back.to_vec());
        super::super::import(CKO_SECRET_KEY, CKK_SM4, &mut attrs).unwrap();
        assert_eq!(attrs.get(CKA_CHECK_VALUE), Some(&[0x26, 0x77, 0xf4][..]));
    }
}
