//! The modes of a 128-bit block cipher — ECB, CBC, CBC with PKCS#7 padding, CTR and GCM — with
//! PKCS#11's parameters, multi-part semantics and return codes, shared by the AES and SM4
//! families so that an application can switch between the two ciphers by changing the
//! mechanism and key type alone.

use super::{Buffered, Cipher, LoadedKey, Mechanism, OneShot, Param};
use crate::engine::CryptoError;
use crate::engine::aes::{AesKey, BLOCK_LEN, Block, GCM_NONCE_LEN, GCM_TAG_LEN};
use crate::engine::sm4::Sm4Key;
use crate::error::{Error, Result};
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::{Zeroize, Zeroizing};

// The SM4 engine works on the same block, nonce and tag sizes.
const _: () = assert!(
    crate::engine::sm4::BLOCK_LEN == BLOCK_LEN
        && crate::engine::sm4::GCM_NONCE_LEN == GCM_NONCE_LEN
        && crate::engine::sm4::GCM_TAG_LEN == GCM_TAG_LEN
);

/// What the modes need of a cipher key.
pub(super) trait BlockKey {
    fn ecb_encrypt(&self, in_out: &mut [u8]) -> Result<(), CryptoError>;
    fn ecb_decrypt(&self, in_out: &mut [u8]) -> Result<(), CryptoError>;
    fn cbc_encrypt(&self, iv: &mut Block, in_out: &mut [u8]) -> Result<(), CryptoError>;
    fn cbc_decrypt(&self, iv: &mut Block, in_out: &mut [u8]) -> Result<(), CryptoError>;
    fn ctr_xor(&self, counter: &Block, in_out: &mut [u8]) -> Result<(), CryptoError>;
    fn gcm_seal(
        &self,
        nonce: &[u8; GCM_NONCE_LEN],
        aad: &[u8],
        input: &[u8],
        text: &mut [u8],
        tag: &mut [u8; GCM_TAG_LEN],
    ) -> Result<(), CryptoError>;
    fn gcm_open(
        &self,
        nonce: &[u8; GCM_NONCE_LEN],
        aad: &[u8],
        text: &[u8],
        tag: &[u8; GCM_TAG_LEN],
        out: &mut [u8],
    ) -> Result<(), CryptoError>;
}

macro_rules! block_key {
    ($ty:ty) => {
        impl BlockKey for $ty {
            fn ecb_encrypt(&self, in_out: &mut [u8]) -> Result<(), CryptoError> {
                <$ty>::ecb_encrypt(self, in_out)
            }
            fn ecb_decrypt(&self, in_out: &mut [u8]) -> Result<(), CryptoError> {
                <$ty>::ecb_decrypt(self, in_out)
            }
            fn cbc_encrypt(&self, iv: &mut Block, in_out: &mut [u8]) -> Result<(), CryptoError> {
                <$ty>::cbc_encrypt(self, iv, in_out)
            }
            fn cbc_decrypt(&self, iv: &mut Block, in_out: &mut [u8]) -> Result<(), CryptoError> {
                <$ty>::cbc_decrypt(self, iv, in_out)
            }
            fn ctr_xor(&self, counter: &Block, in_out: &mut [u8]) -> Result<(), CryptoError> {
                <$ty>::ctr_xor(self, counter, in_out)
            }
            fn gcm_seal(
                &self,
                nonce: &[u8; GCM_NONCE_LEN],
                aad: &[u8],
                input: &[u8],
                text: &mut [u8],
                tag: &mut [u8; GCM_TAG_LEN],
            ) -> Result<(), CryptoError> {
                <$ty>::gcm_seal(self, nonce, aad, input, text, tag)
            }
            fn gcm_open(
                &self,
                nonce: &[u8; GCM_NONCE_LEN],
                aad: &[u8],
                text: &[u8],
                tag: &[u8; GCM_TAG_LEN],
                out: &mut [u8],
            ) -> Result<(), CryptoError> {
                <$ty>::gcm_open(self, nonce, aad, text, tag, out)
            }
        }
    };
}

block_key!(AesKey);
block_key!(Sm4Key);

/// The block cipher of a loaded key.
pub(super) fn block_key(key: &LoadedKey) -> Result<&dyn BlockKey> {
    match key {
        LoadedKey::Aes(k) => Ok(k),
        LoadedKey::Sm4(k) => Ok(k),
        _ => Err(Error::KeyTypeInconsistent),
    }
}

/// SP 800-38D §5.2.1.1: at most 2^39 - 256 bits of plaintext under one IV.
const GCM_MAX_TEXT: u64 = (1 << 36) - 32;

/// The `CKR_*` values a transform reports for input of the wrong length and for input that
/// fails its integrity check; they depend on which function the transform serves.
#[derive(Debug, Clone, Copy)]
pub(super) struct Codes {
    pub len: Error,
    pub invalid: Error,
}

pub(super) const ENCRYPTING: Codes = Codes { len: Error::DataLenRange, invalid: Error::DataInvalid };
pub(super) const DECRYPTING: Codes =
    Codes { len: Error::EncryptedDataLenRange, invalid: Error::EncryptedDataInvalid };
/// The material being wrapped is a key, so a length the mechanism cannot take is the key's size
/// being out of range (`CKR_KEY_SIZE_RANGE`). `CKR_KEY_NOT_WRAPPABLE` is for keys that this
/// wrapping key may not wrap at all, whatever their size.
pub(super) const WRAPPING: Codes = Codes { len: Error::KeySizeRange, invalid: Error::KeyNotWrappable };
pub(super) const UNWRAPPING: Codes =
    Codes { len: Error::WrappedKeyLenRange, invalid: Error::WrappedKeyInvalid };

pub(super) fn codes(encrypt: bool) -> Codes {
    if encrypt { ENCRYPTING } else { DECRYPTING }
}

/// Engine failures that no input can cause (a mode rejecting a length already checked here).
pub(super) fn failed<E>(_: E) -> Error {
    Error::FunctionFailed
}

/// The first `n` bytes of `out`. The token layer sizes `out` from `len`, `update_len` and
/// `final_len`; this keeps a broken promise from becoming a panic.
pub(super) fn room(out: &mut [u8], n: usize) -> Result<&mut [u8]> {
    out.get_mut(..n).ok_or(Error::BufferTooSmall(n))
}

/// A mechanism's parameter, checked.
pub(super) enum Mode {
    Ecb,
    Cbc(Block),
    CbcPad(Block),
    Ctr { counter: Block, bits: u32 },
    Gcm { nonce: [u8; GCM_NONCE_LEN], aad: Vec<u8> },
}

fn iv_of(iv: &[u8]) -> Result<Block> {
    iv.try_into().map_err(|_| Error::MechanismParamInvalid)
}

/// The mechanism types of one cipher's block modes.
pub(super) struct ModeTypes {
    pub ecb: CK_MECHANISM_TYPE,
    pub cbc: CK_MECHANISM_TYPE,
    pub cbc_pad: CK_MECHANISM_TYPE,
    pub ctr: CK_MECHANISM_TYPE,
    pub gcm: CK_MECHANISM_TYPE,
}

/// The block mode a mechanism names, its parameter checked; `None` when the mechanism is not
/// one of `types`.
pub(super) fn mode_of(mech: &Mechanism, types: &ModeTypes) -> Result<Option<Mode>> {
    let p = &mech.param;
    let ty = mech.ty;
    Ok(Some(if ty == types.ecb {
        if *p != Param::None {
            return Err(Error::MechanismParamInvalid);
        }
        Mode::Ecb
    } else if ty == types.cbc || ty == types.cbc_pad {
        let Param::Bytes(iv) = p else { return Err(Error::MechanismParamInvalid) };
        if ty == types.cbc { Mode::Cbc(iv_of(iv)?) } else { Mode::CbcPad(iv_of(iv)?) }
    } else if ty == types.ctr {
        match p {
            Param::Ctr { counter_bits: bits @ 1..=128, counter_block } => {
                Mode::Ctr { counter: *counter_block, bits: *bits as u32 }
            }
            _ => return Err(Error::MechanismParamInvalid),
        }
    } else if ty == types.gcm {
        let Param::Gcm { iv, aad, tag_bits } = p else { return Err(Error::MechanismParamInvalid) };
        // PKCS#11 allows IVs of 1 to 2^32 - 1 bytes and tags of 0 to 128 bits, but aws-lc-rs
        // only implements 96-bit IVs and 128-bit tags (SP 800-38D's recommended choice); other
        // values are refused rather than computed some other way, and SM4-GCM keeps to the
        // same so that the two GCMs accept the same parameters.
        if *tag_bits != 128 {
            return Err(Error::MechanismParamInvalid);
        }
        let nonce = iv.as_slice().try_into().map_err(|_| Error::MechanismParamInvalid)?;
        Mode::Gcm { nonce, aad: aad.clone() }
    } else {
        return Ok(None);
    }))
}

/// Length of `n` bytes after PKCS#7 padding to whole blocks (always at least one pad byte).
/// Saturating, like the other length functions: a size query may name any length.
pub(super) fn padded_len(n: usize) -> usize {
    (n / BLOCK_LEN).saturating_add(1).saturating_mul(BLOCK_LEN)
}

/// The PKCS#7 pad length of a final block, or `None` when the padding is malformed. Every byte
/// is examined whatever the outcome, so the time taken does not say where the padding went
/// wrong (the return code still says that it did, as PKCS#11 requires).
pub(super) fn pad_len(block: &Block) -> Option<usize> {
    let pad = block[BLOCK_LEN - 1];
    let mut bad = u8::from(pad == 0) | u8::from(pad as usize > BLOCK_LEN);
    for (i, b) in block.iter().enumerate() {
        let in_pad = u8::from(BLOCK_LEN - i <= pad as usize);
        bad |= in_pad & u8::from(*b != pad);
    }
    (bad == 0).then_some(pad as usize)
}

/// Writes the unpadded content of a decrypted final block to `out`.
pub(super) fn unpad_into(block: &Block, out: &mut [u8], codes: Codes) -> Result<usize> {
    let keep = BLOCK_LEN - pad_len(block).ok_or(codes.invalid)?;
    room(out, keep)?.copy_from_slice(&block[..keep]);
    Ok(keep)
}

/// Single-part CBC with PKCS#7 padding, written straight into `out`.
pub(super) fn cbc_pad_encrypt(
    key: &dyn BlockKey,
    mut iv: Block,
    input: &[u8],
    out: &mut [u8],
) -> Result<usize> {
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
pub(super) fn cbc_pad_decrypt(
    key: &dyn BlockKey,
    mut iv: Block,
    input: &[u8],
    out: &mut [u8],
    codes: Codes,
) -> Result<usize> {
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

pub(super) fn gcm_seal(
    key: &dyn BlockKey,
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

pub(super) fn gcm_open(
    key: &dyn BlockKey,
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
        let key = block_key(&self.key)?;
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
            (Chaining::CbcPad, true) => cbc_pad_encrypt(block_key(&self.key)?, self.iv, input, out),
            (Chaining::CbcPad, false) => {
                cbc_pad_decrypt(block_key(&self.key)?, self.iv, input, out, DECRYPTING)
            }
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
        let key = block_key(&self.key)?;
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
        let key = block_key(&self.key)?;
        if self.encrypt {
            gcm_seal(key, &self.nonce, &self.aad, input, out, ENCRYPTING)
        } else {
            gcm_open(key, &self.nonce, &self.aad, input, out, DECRYPTING)
        }
    }
}

/// The cipher operation of a block mode.
pub(super) fn cipher(mode: Mode, key: Arc<LoadedKey>, encrypt: bool) -> Result<Box<dyn Cipher>> {
    block_key(&key)?;
    Ok(match mode {
        Mode::Ecb => Box::new(Blocks::new(key, Chaining::Ecb, [0; BLOCK_LEN], encrypt)),
        Mode::Cbc(iv) => Box::new(Blocks::new(key, Chaining::Cbc, iv, encrypt)),
        Mode::CbcPad(iv) => Box::new(Blocks::new(key, Chaining::CbcPad, iv, encrypt)),
        Mode::Ctr { counter, bits } => Box::new(Ctr::new(key, counter, bits, encrypt)),
        Mode::Gcm { nonce, aad } => Box::new(Buffered::new(Gcm { key, nonce, aad, encrypt })),
    })
}

/// Output length of wrapping `n` bytes with CBC_PAD or GCM.
pub(super) fn wrap_len(mode: &Mode, n: usize) -> Result<usize> {
    match mode {
        Mode::CbcPad(_) => Ok(padded_len(n)),
        Mode::Gcm { .. } => Ok(n.saturating_add(GCM_TAG_LEN)),
        _ => Err(Error::MechanismInvalid),
    }
}

/// Wraps key material with CBC_PAD or GCM.
pub(super) fn wrap(mode: &Mode, key: &dyn BlockKey, material: &[u8]) -> Result<Vec<u8>> {
    let mut out = vec![0u8; wrap_len(mode, material.len())?];
    let done = match mode {
        Mode::CbcPad(iv) => cbc_pad_encrypt(key, *iv, material, &mut out),
        Mode::Gcm { nonce, aad } => gcm_seal(key, nonce, aad, material, &mut out, WRAPPING),
        _ => Err(Error::MechanismInvalid),
    };
    finish_wrap(out, done)
}

/// The wrapped bytes, or the error with the buffer wiped: in-place modes copy the material
/// into it before encrypting.
pub(super) fn finish_wrap(mut out: Vec<u8>, done: Result<usize>) -> Result<Vec<u8>> {
    match done {
        Ok(n) => {
            out.truncate(n);
            Ok(out)
        }
        Err(e) => {
            out.zeroize();
            Err(e)
        }
    }
}

/// Unwraps key material wrapped with CBC_PAD or GCM.
pub(super) fn unwrap(mode: &Mode, key: &dyn BlockKey, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let mut out = Zeroizing::new(vec![0u8; wrapped.len()]);
    let n = match mode {
        Mode::CbcPad(iv) => cbc_pad_decrypt(key, *iv, wrapped, &mut out, UNWRAPPING)?,
        Mode::Gcm { nonce, aad } => gcm_open(key, nonce, aad, wrapped, &mut out, UNWRAPPING)?,
        _ => return Err(Error::MechanismInvalid),
    };
    out.truncate(n);
    Ok(out)
}
