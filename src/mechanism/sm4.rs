//! SM4 (vendor mechanisms, see `vendor.rs`): `CKM_SM4_KEY_GEN`; `CKM_SM4_ECB`, `CKM_SM4_CBC`,
//! `CKM_SM4_CBC_PAD`, `CKM_SM4_CTR` and `CKM_SM4_GCM` encryption, of which `CKM_SM4_CBC_PAD`
//! and `CKM_SM4_GCM` also wrap keys. Each mode behaves as its `CKM_AES_*` counterpart does —
//! the same parameters, multi-part semantics and return codes — so that an application can
//! switch between the two ciphers by changing the mechanism and key type alone.

use super::{Buffered, Cipher, Generated, Info, LoadedKey, Mechanism, OneShot, Param, value_len};
use crate::engine::sm4::{BLOCK_LEN, Block, GCM_NONCE_LEN, GCM_TAG_LEN, KEY_LEN, Sm4Key};
use crate::error::{Error, Result};
use crate::object::attribute::{Attributes, Template};
use crate::vendor::{
    CKK_SM4, CKM_SM4_CBC, CKM_SM4_CBC_PAD, CKM_SM4_CTR, CKM_SM4_ECB, CKM_SM4_GCM, CKM_SM4_KEY_GEN,
};
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::{Zeroize, Zeroizing};

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

/// SP 800-38D §5.2.1.1: at most 2^39 - 256 bits of plaintext under one IV.
const GCM_MAX_TEXT: u64 = (1 << 36) - 32;

/// The `CKR_*` values a transform reports for input of the wrong length and for input that
/// fails its integrity check; they depend on which function the transform serves.
#[derive(Debug, Clone, Copy)]
struct Codes {
    len: Error,
    invalid: Error,
}

const ENCRYPTING: Codes = Codes { len: Error::DataLenRange, invalid: Error::DataInvalid };
const DECRYPTING: Codes = Codes { len: Error::EncryptedDataLenRange, invalid: Error::EncryptedDataInvalid };
/// A length the mechanism cannot take is the wrapped key's size being out of range.
const WRAPPING: Codes = Codes { len: Error::KeySizeRange, invalid: Error::KeyNotWrappable };
const UNWRAPPING: Codes = Codes { len: Error::WrappedKeyLenRange, invalid: Error::WrappedKeyInvalid };

fn codes(encrypt: bool) -> Codes {
    if encrypt { ENCRYPTING } else { DECRYPTING }
}

/// Engine failures that no input can cause (a mode rejecting a length already checked here).
fn failed<E>(_: E) -> Error {
    Error::FunctionFailed
}

fn sm4_of(key: &LoadedKey) -> Result<&Sm4Key> {
    match key {
        LoadedKey::Sm4(k) => Ok(k),
        _ => Err(Error::KeyTypeInconsistent),
    }
}

/// The first `n` bytes of `out`. The token layer sizes `out` from `len`, `update_len` and
/// `final_len`; this keeps a broken promise from becoming a panic.
fn room(out: &mut [u8], n: usize) -> Result<&mut [u8]> {
    out.get_mut(..n).ok_or(Error::BufferTooSmall(n))
}

/// A mechanism's parameter, checked.
enum Mode {
    Ecb,
    Cbc(Block),
    CbcPad(Block),
    Ctr { counter: Block, bits: u32 },
    Gcm { nonce: [u8; GCM_NONCE_LEN], aad: Vec<u8> },
}

fn iv_of(iv: &[u8]) -> Result<Block> {
    iv.try_into().map_err(|_| Error::MechanismParamInvalid)
}

fn mode_of(mech: &Mechanism) -> Result<Mode> {
    let p = &mech.param;
    Ok(match mech.ty {
        CKM_SM4_ECB if *p == Param::None => Mode::Ecb,
        CKM_SM4_CBC | CKM_SM4_CBC_PAD => {
            let Param::Bytes(iv) = p else { return Err(Error::MechanismParamInvalid) };
            if mech.ty == CKM_SM4_CBC { Mode::Cbc(iv_of(iv)?) } else { Mode::CbcPad(iv_of(iv)?) }
        }
        CKM_SM4_CTR => match p {
            Param::Ctr { counter_bits: bits @ 1..=128, counter_block } => {
                Mode::Ctr { counter: *counter_block, bits: *bits as u32 }
            }
            _ => return Err(Error::MechanismParamInvalid),
        },
        CKM_SM4_GCM => {
            let Param::Gcm { iv, aad, tag_bits } = p else { return Err(Error::MechanismParamInvalid) };
            // The AES family takes only 96-bit IVs and 128-bit tags (all aws-lc-rs implements);
            // SM4 keeps to the same so that the two GCMs accept the same parameters.
            if *tag_bits != 128 {
                return Err(Error::MechanismParamInvalid);
            }
            let nonce = iv.as_slice().try_into().map_err(|_| Error::MechanismParamInvalid)?;
            Mode::Gcm { nonce, aad: aad.clone() }
        }
        CKM_SM4_ECB => return Err(Error::MechanismParamInvalid),
        _ => return Err(Error::MechanismInvalid),
    })
}

/// Length of `n` bytes after PKCS#7 padding to whole blocks (always at least one pad byte).
/// Saturating, like the other length functions: a size query may name any length.
fn padded_len(n: usize) -> usize {
    (n / BLOCK_LEN).saturating_add(1).saturating_mul(BLOCK_LEN)
}

/// The PKCS#7 pad length of a final block, or `None` when the padding is malformed. Every byte
/// is examined whatever the outcome, so the time taken does not say where the padding went
/// wrong (the return code still says that it did, as PKCS#11 requires).
fn pad_len(block: &Block) -> Option<usize> {
    let pad = block[BLOCK_LEN - 1];
    let mut bad = u8::from(pad == 0) | u8::from(pad as usize > BLOCK_LEN);
    for (i, b) in block.iter().enumerate() {
        let in_pad = u8::from(BLOCK_LEN - i <= pad as usize);
        bad |= in_pad & u8::from(*b != pad);
    }
    (bad == 0).then_some(pad as usize)
}

/// Writes the unpadded content of a decrypted final block to `out`.
fn unpad_into(block: &Block, out: &mut [u8], codes: Codes) -> Result<usize> {
    let keep = BLOCK_LEN - pad_len(block).ok_or(codes.invalid)?;
    room(out, keep)?.copy_from_slice(&block[..keep]);
    Ok(keep)
}

/// Single-part CBC with PKCS#7 padding, written straight into `out`.
fn cbc_pad_encrypt(key: &Sm4Key, mut iv: Block, input: &[u8], out: &mut [u8]) -> Result<usize> {
    let total = padded_len(input.len());
    let dst = room(out, total)?;
    dst[..input.len()].copy_from_slice(input);
    dst[input.len()..].fill((total - input.len()) as u8);
    if let Err(e) = key.cbc_encrypt(&mut iv, dst) {
        dst.fill(0);
        return Err(failed(e));
    }
    Ok(total)
}

/// Single-part CBC decryption and unpadding. The last block is decrypted apart so that `out`
/// need only hold the plaintext, not the padding.
fn cbc_pad_decrypt(key: &Sm4Key, mut iv: Block, input: &[u8], out: &mut [u8], codes: Codes) -> Result<usize> {
    if input.is_empty() || !input.len().is_multiple_of(BLOCK_LEN) {
        return Err(codes.len);
    }
    let (body, last) = input.split_at(input.len() - BLOCK_LEN);
    // At least one byte of the last block is padding.
    let (head, tail) = room(out, input.len() - 1)?.split_at_mut(body.len());
    head.copy_from_slice(body);
    let mut block: Zeroizing<Block> = Zeroizing::new([0; BLOCK_LEN]);
    block.copy_from_slice(last);
    let done = key
        .cbc_decrypt(&mut iv, head)
        .and_then(|()| key.cbc_decrypt(&mut iv, &mut block[..]))
        .map_err(failed)
        .and_then(|()| unpad_into(&block, tail, codes));
    match done {
        Ok(n) => Ok(body.len() + n),
        Err(e) => {
            head.fill(0);
            Err(e)
        }
    }
}

fn gcm_seal(
    key: &Sm4Key,
    nonce: &[u8; GCM_NONCE_LEN],
    aad: &[u8],
    input: &[u8],
    out: &mut [u8],
    codes: Codes,
) -> Result<usize> {
    if input.len() as u64 > GCM_MAX_TEXT {
        return Err(codes.len);
    }
    let total = input.len() + GCM_TAG_LEN;
    let (text, tag) = room(out, total)?.split_at_mut(input.len());
    let tag: &mut [u8; GCM_TAG_LEN] = tag.try_into().map_err(failed)?;
    key.gcm_seal(nonce, aad, input, text, tag).map_err(failed)?;
    Ok(total)
}

fn gcm_open(
    key: &Sm4Key,
    nonce: &[u8; GCM_NONCE_LEN],
    aad: &[u8],
    input: &[u8],
    out: &mut [u8],
    codes: Codes,
) -> Result<usize> {
    let text_len = input.len().checked_sub(GCM_TAG_LEN).ok_or(codes.len)?;
    if text_len as u64 > GCM_MAX_TEXT {
        return Err(codes.len);
    }
    let (text, tag) = input.split_at(text_len);
    let tag: &[u8; GCM_TAG_LEN] = tag.try_into().map_err(failed)?;
    key.gcm_open(nonce, aad, text, tag, room(out, text_len)?).map_err(|_| codes.invalid)?;
    Ok(text_len)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chaining {
    Ecb,
    Cbc,
    CbcPad,
}

/// ECB, CBC and CBC_PAD: whole blocks go out as soon as they are complete; a partial block
/// waits in `held`. CBC_PAD decryption also holds back the last whole block, because only
/// `finish` knows that it carries the padding.
struct Blocks {
    key: Arc<LoadedKey>,
    chaining: Chaining,
    encrypt: bool,
    iv: Block,
    held: Zeroizing<Block>,
    held_len: usize,
}

impl Blocks {
    fn new(key: Arc<LoadedKey>, chaining: Chaining, iv: Block, encrypt: bool) -> Blocks {
        Blocks { key, chaining, encrypt, iv, held: Zeroizing::new([0; BLOCK_LEN]), held_len: 0 }
    }

    fn holds_last_block(&self) -> bool {
        self.chaining == Chaining::CbcPad && !self.encrypt
    }

    /// Bytes released by an update when `total` bytes are pending.
    fn releasable(&self, total: usize) -> usize {
        let keep_from = if self.holds_last_block() { total.saturating_sub(1) } else { total };
        keep_from / BLOCK_LEN * BLOCK_LEN
    }

    /// Encrypts or decrypts whole blocks in place, continuing the chain.
    fn transform(&mut self, data: &mut [u8]) -> Result<()> {
        let key = sm4_of(&self.key)?;
        let r = match (self.chaining, self.encrypt) {
            (Chaining::Ecb, true) => key.ecb_encrypt(data),
            (Chaining::Ecb, false) => key.ecb_decrypt(data),
            (_, true) => key.cbc_encrypt(&mut self.iv, data),
            (_, false) => key.cbc_decrypt(&mut self.iv, data),
        };
        r.map_err(|e| {
            data.fill(0);
            failed(e)
        })
    }
}

impl Cipher for Blocks {
    fn len(&self, input_len: usize) -> usize {
        match (self.chaining, self.encrypt) {
            (Chaining::CbcPad, true) => padded_len(input_len),
            (Chaining::CbcPad, false) => input_len.saturating_sub(1),
            _ => input_len,
        }
    }

    fn run(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        match (self.chaining, self.encrypt) {
            (Chaining::CbcPad, true) => cbc_pad_encrypt(sm4_of(&self.key)?, self.iv, input, out),
            (Chaining::CbcPad, false) => cbc_pad_decrypt(sm4_of(&self.key)?, self.iv, input, out, DECRYPTING),
            _ => {
                if !input.len().is_multiple_of(BLOCK_LEN) {
                    return Err(codes(self.encrypt).len);
                }
                let dst = room(out, input.len())?;
                dst.copy_from_slice(input);
                self.transform(dst)?;
                Ok(input.len())
            }
        }
    }

    fn update_len(&self, input_len: usize) -> usize {
        self.releasable(self.held_len.saturating_add(input_len))
    }

    fn update(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        let total = self.held_len + input.len();
        let n = self.releasable(total);
        if n == 0 {
            self.held[self.held_len..total].copy_from_slice(input);
            self.held_len = total;
            return Ok(0);
        }
        // n is at least one block, so everything held goes out first.
        let from_input = n - self.held_len;
        let dst = room(out, n)?;
        dst[..self.held_len].copy_from_slice(&self.held[..self.held_len]);
        dst[self.held_len..].copy_from_slice(&input[..from_input]);
        self.transform(dst)?;
        let rest = &input[from_input..];
        self.held[..rest.len()].copy_from_slice(rest);
        self.held_len = rest.len();
        Ok(n)
    }

    fn final_len(&self) -> usize {
        match (self.chaining, self.encrypt) {
            (Chaining::CbcPad, true) => BLOCK_LEN,
            // At least one byte of the held block is padding.
            (Chaining::CbcPad, false) => BLOCK_LEN - 1,
            _ => 0,
        }
    }

    fn finish(&mut self, out: &mut [u8]) -> Result<usize> {
        match (self.chaining, self.encrypt) {
            (Chaining::CbcPad, true) => {
                let dst = room(out, BLOCK_LEN)?;
                dst.copy_from_slice(&self.held[..]);
                dst[self.held_len..].fill((BLOCK_LEN - self.held_len) as u8);
                self.held_len = 0;
                self.transform(dst)?;
                Ok(BLOCK_LEN)
            }
            (Chaining::CbcPad, false) => {
                if self.held_len != BLOCK_LEN {
                    return Err(Error::EncryptedDataLenRange);
                }
                let mut block = self.held.clone();
                self.held_len = 0;
                self.transform(&mut block[..])?;
                unpad_into(&block, out, DECRYPTING)
            }
            _ if self.held_len != 0 => Err(codes(self.encrypt).len),
            _ => Ok(0),
        }
    }
}

/// CTR mode (SP 800-38A §6.5) with the counter in the low `bits` bits of the counter block.
struct Ctr {
    key: Arc<LoadedKey>,
    encrypt: bool,
    /// The counter block of the block that `offset` points into.
    counter: Block,
    /// Keystream bytes already used from that block (0..16).
    offset: usize,
    /// Bytes that may still be processed before the counter field would wrap.
    remaining: u128,
}

impl Ctr {
    fn new(key: Arc<LoadedKey>, counter: Block, bits: u32, encrypt: bool) -> Ctr {
        let mask = u128::MAX >> (128 - bits);
        let start = u128::from_be_bytes(counter) & mask;
        // Blocks whose counter values are start..=mask; 2^128 when the whole block counts from
        // zero, which no input can reach.
        let blocks = (mask - start).saturating_add(1);
        Ctr { key, encrypt, counter, offset: 0, remaining: blocks.saturating_mul(BLOCK_LEN as u128) }
    }
}

/// Moves a counter block on by `blocks`, as one 128-bit big-endian number like the engine's CTR.
fn advance(counter: &mut Block, blocks: usize) {
    *counter = u128::from_be_bytes(*counter).wrapping_add(blocks as u128).to_be_bytes();
}

impl Cipher for Ctr {
    fn len(&self, input_len: usize) -> usize {
        input_len
    }

    fn run(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        self.update(input, out)
    }

    fn update_len(&self, input_len: usize) -> usize {
        input_len
    }

    fn update(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        // A wrapped counter would repeat keystream: refuse before producing any output.
        if input.len() as u128 > self.remaining {
            return Err(codes(self.encrypt).len);
        }
        let key = sm4_of(&self.key)?;
        let dst = room(out, input.len())?;
        dst.copy_from_slice(input);
        let take = if self.offset > 0 { (BLOCK_LEN - self.offset).min(dst.len()) } else { 0 };
        let (first, rest) = dst.split_at_mut(take);
        if !first.is_empty() {
            // Finish the block begun by the previous update: its keystream is recomputed whole.
            let mut block: Zeroizing<Block> = Zeroizing::new([0; BLOCK_LEN]);
            let span = self.offset..self.offset + take;
            block[span.clone()].copy_from_slice(first);
            key.ctr_xor(&self.counter, &mut block[..]).map_err(failed)?;
            first.copy_from_slice(&block[span]);
            self.offset += take;
            if self.offset == BLOCK_LEN {
                self.offset = 0;
                advance(&mut self.counter, 1);
            }
        }
        if !rest.is_empty() {
            key.ctr_xor(&self.counter, rest).map_err(failed)?;
            advance(&mut self.counter, rest.len() / BLOCK_LEN);
            self.offset = rest.len() % BLOCK_LEN;
        }
        self.remaining -= input.len() as u128;
        Ok(input.len())
    }

    fn final_len(&self) -> usize {
        0
    }

    fn finish(&mut self, _out: &mut [u8]) -> Result<usize> {
        Ok(0)
    }
}

/// GCM, single-part; multi-part runs through [`Buffered`], as the AES family's does. For
/// decryption that is what GCM requires anyway: no plaintext before the tag has been checked.
struct Gcm {
    key: Arc<LoadedKey>,
    nonce: [u8; GCM_NONCE_LEN],
    aad: Vec<u8>,
    encrypt: bool,
}

impl OneShot for Gcm {
    fn len(&self, input_len: usize) -> usize {
        if self.encrypt {
            input_len.saturating_add(GCM_TAG_LEN)
        } else {
            input_len.saturating_sub(GCM_TAG_LEN)
        }
    }

    fn run(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        let key = sm4_of(&self.key)?;
        if self.encrypt {
            gcm_seal(key, &self.nonce, &self.aad, input, out, ENCRYPTING)
        } else {
            gcm_open(key, &self.nonce, &self.aad, input, out, DECRYPTING)
        }
    }
}

pub fn cipher_init(mech: &Mechanism, key: &Arc<LoadedKey>, encrypt: bool) -> Result<Box<dyn Cipher>> {
    let mode = mode_of(mech)?;
    sm4_of(key)?;
    let key = key.clone();
    Ok(match mode {
        Mode::Ecb => Box::new(Blocks::new(key, Chaining::Ecb, [0; BLOCK_LEN], encrypt)),
        Mode::Cbc(iv) => Box::new(Blocks::new(key, Chaining::Cbc, iv, encrypt)),
        Mode::CbcPad(iv) => Box::new(Blocks::new(key, Chaining::CbcPad, iv, encrypt)),
        Mode::Ctr { counter, bits } => Box::new(Ctr::new(key, counter, bits, encrypt)),
        Mode::Gcm { nonce, aad } => Box::new(Buffered::new(Gcm { key, nonce, aad, encrypt })),
    })
}

/// The mechanism of a `C_WrapKey` / `C_UnwrapKey`, checked.
fn wrap_mode(mech: &Mechanism) -> Result<Mode> {
    match mech.ty {
        CKM_SM4_CBC_PAD | CKM_SM4_GCM => mode_of(mech),
        _ => Err(Error::MechanismInvalid),
    }
}

fn sized_wrap_len(mode: &Mode, n: usize) -> Result<usize> {
    match mode {
        Mode::CbcPad(_) => Ok(padded_len(n)),
        Mode::Gcm { .. } => Ok(n.saturating_add(GCM_TAG_LEN)),
        _ => Err(Error::MechanismInvalid),
    }
}

fn wrapping_key(key: &LoadedKey) -> Result<&Sm4Key> {
    sm4_of(key).map_err(|_| Error::WrappingKeyTypeInconsistent)
}

pub fn wrap_len(mech: &Mechanism, key: &LoadedKey, len: usize) -> Result<usize> {
    let mode = wrap_mode(mech)?;
    wrapping_key(key)?;
    sized_wrap_len(&mode, len)
}

pub fn wrap(mech: &Mechanism, key: &LoadedKey, material: &[u8]) -> Result<Vec<u8>> {
    let mode = wrap_mode(mech)?;
    let key = wrapping_key(key)?;
    let mut out = vec![0u8; sized_wrap_len(&mode, material.len())?];
    let done = match &mode {
        Mode::CbcPad(iv) => cbc_pad_encrypt(key, *iv, material, &mut out),
        Mode::Gcm { nonce, aad } => gcm_seal(key, nonce, aad, material, &mut out, WRAPPING),
        _ => Err(Error::MechanismInvalid),
    };
    match done {
        Ok(n) => {
            out.truncate(n);
            Ok(out)
        }
        Err(e) => {
            // CBC_PAD copies the material into `out` before encrypting it.
            out.zeroize();
            Err(e)
        }
    }
}

pub fn unwrap(mech: &Mechanism, key: &LoadedKey, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let mode = wrap_mode(mech)?;
    let key = sm4_of(key).map_err(|_| Error::UnwrappingKeyTypeInconsistent)?;
    let mut out = Zeroizing::new(vec![0u8; wrapped.len()]);
    let n = match &mode {
        Mode::CbcPad(iv) => cbc_pad_decrypt(key, *iv, wrapped, &mut out, UNWRAPPING)?,
        Mode::Gcm { nonce, aad } => gcm_open(key, nonce, aad, wrapped, &mut out, UNWRAPPING)?,
        _ => return Err(Error::MechanismInvalid),
    };
    out.truncate(n);
    Ok(out)
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
    fn ecb_and_cbc_need_whole_blocks() {
        let k = key(&[1; 16]);
        for m in [Mechanism::new(CKM_SM4_ECB), cbc(CKM_SM4_CBC, &[0; 16])] {
            assert_eq!(single(&m, &k, true, &[0; 17]), Err(Error::DataLenRange));
            assert_eq!(single(&m, &k, false, &[0; 15]), Err(Error::EncryptedDataLenRange));
            assert_eq!(parts(&m, &k, true, &[0; 20], &[7]), Err(Error::DataLenRange));
            assert_eq!(parts(&m, &k, false, &[0; 33], &[16]), Err(Error::EncryptedDataLenRange));
            assert_eq!(single(&m, &k, true, &[]).unwrap(), Vec::<u8>::new());
            assert_eq!(parts(&m, &k, false, &[], &[1]).unwrap(), Vec::<u8>::new());
        }
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
    fn cbc_pad_every_length_and_split() {
        let k = key(&h(GB_KEY));
        let m = cbc(CKM_SM4_CBC_PAD, &h(OSSL_IV));
        let plain: Vec<u8> = (0..70u8).collect();
        for n in 0..=plain.len() {
            let pt = &plain[..n];
            let ct = single(&m, &k, true, pt).unwrap();
            assert_eq!(ct.len(), (n / 16 + 1) * 16);
            // Padding is what CBC without padding would see as the last block's tail.
            let mut padded = pt.to_vec();
            padded.resize(ct.len(), (ct.len() - n) as u8);
            assert_eq!(single(&cbc(CKM_SM4_CBC, &h(OSSL_IV)), &k, true, &padded).unwrap(), ct);
            check_all_ways(&m, &k, pt, &ct);
        }
    }

    #[test]
    fn cbc_pad_decrypt_holds_back_the_last_block() {
        let k = key(&[2; 16]);
        let m = cbc(CKM_SM4_CBC_PAD, &[9; 16]);
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
        let m = cbc(CKM_SM4_CBC_PAD, &iv);
        // Blocks that decrypt to chosen bytes: encrypt them with raw CBC.
        let raw = |last: [u8; 16]| {
            let mut pt = vec![0x41u8; 16];
            pt.extend_from_slice(&last);
            single(&cbc(CKM_SM4_CBC, &iv), &k, true, &pt).unwrap()
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
        let ct = single(&cbc(CKM_SM4_CBC, &[0; 16]), &k, true, &[0x41; 32]).unwrap();
        let mut c = cipher_init(&cbc(CKM_SM4_CBC_PAD, &[0; 16]), &k, false).unwrap();
        let mut out = [0u8; 32];
        assert_eq!(c.run(&ct, &mut out), Err(Error::EncryptedDataInvalid));
        assert_eq!(out, [0; 32]);
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
    fn gcm_decrypt_releases_nothing_before_the_tag() {
        let k = key(&[8; 16]);
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
