//! AES: the ECB, CBC and CTR block modes, GCM and CMAC on aws-lc-rs; RFC 3394 / RFC 5649 key wrap
//! on RustCrypto's `aes-kw` (aws-lc-rs's key wrap has no AES-192 and expands the key on every
//! call). Every key schedule is built the first time a mode is used and kept with the key, so
//! the hot path never expands a key.

use super::CryptoError;
use aes_kw::{KeyInit, KwAes128, KwAes192, KwAes256, KwpAes128, KwpAes192, KwpAes256};
use aws_lc_rs::cipher::{
    DecryptingKey, DecryptionContext, EncryptingKey, EncryptionContext, UnboundCipherKey,
};
use aws_lc_rs::{aead, cipher, cmac};
use std::sync::OnceLock;
use zeroize::Zeroizing;

/// The AES block size.
pub const BLOCK_LEN: usize = 16;
/// The only GCM nonce length aws-lc-rs accepts.
pub const GCM_NONCE_LEN: usize = 12;
/// The only GCM tag length aws-lc-rs produces and checks.
pub const GCM_TAG_LEN: usize = 16;
/// The CMAC tag length.
pub const CMAC_LEN: usize = 16;
/// The key wrap semiblock (RFC 3394's 64-bit register).
pub const SEMIBLOCK_LEN: usize = 8;

/// A block, as the modes' chaining value and counter are kept.
pub type Block = [u8; BLOCK_LEN];

/// `aes-kw` is generic over the RustCrypto cipher type, so each size is its own type.
enum Kw {
    A128(KwAes128),
    A192(KwAes192),
    A256(KwAes256),
}

enum Kwp {
    A128(KwpAes128),
    A192(KwpAes192),
    A256(KwpAes256),
}

/// An AES key and the schedules derived from it.
pub struct AesKey {
    bytes: Zeroizing<Vec<u8>>,
    /// Boxed: the schedules take some 3.5 KiB, which would otherwise size every `LoadedKey`.
    cache: Box<Schedules>,
}

/// Each mode's expanded key, built on first use.
#[derive(Default)]
struct Schedules {
    ecb_enc: OnceLock<EncryptingKey>,
    ecb_dec: OnceLock<DecryptingKey>,
    cbc_enc: OnceLock<EncryptingKey>,
    cbc_dec: OnceLock<DecryptingKey>,
    ctr: OnceLock<EncryptingKey>,
    gcm: OnceLock<aead::LessSafeKey>,
    cmac: OnceLock<cmac::Key>,
    kw: OnceLock<Kw>,
    kwp: OnceLock<Kwp>,
}

impl std::fmt::Debug for AesKey {
    // The key bytes never reach a log; the size is enough to tell keys apart in a trace.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AesKey").field("bits", &(self.bytes.len() * 8)).finish_non_exhaustive()
    }
}

/// The value in `cell`, built by `make` on first use. `OnceLock::get_or_try_init` is not stable;
/// when two threads race, both build and the loser's copy is dropped, which only costs time.
fn cached<T>(cell: &OnceLock<T>, make: impl FnOnce() -> Result<T, CryptoError>) -> Result<&T, CryptoError> {
    if let Some(v) = cell.get() {
        return Ok(v);
    }
    let v = make()?;
    let _ = cell.set(v);
    cell.get().ok_or(CryptoError)
}

impl AesKey {
    /// A key of 16, 24 or 32 bytes.
    pub fn new(bytes: &[u8]) -> Result<AesKey, CryptoError> {
        if !matches!(bytes.len(), 16 | 24 | 32) {
            return Err(CryptoError);
        }
        Ok(AesKey { bytes: Zeroizing::new(bytes.to_vec()), cache: Box::default() })
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn cipher_alg(&self) -> &'static cipher::Algorithm {
        match self.bytes.len() {
            16 => &cipher::AES_128,
            24 => &cipher::AES_192,
            _ => &cipher::AES_256,
        }
    }

    fn unbound(&self) -> Result<UnboundCipherKey, CryptoError> {
        Ok(UnboundCipherKey::new(self.cipher_alg(), &self.bytes)?)
    }

    /// ECB-encrypts whole blocks in place.
    pub fn ecb_encrypt(&self, in_out: &mut [u8]) -> Result<(), CryptoError> {
        let key = cached(&self.cache.ecb_enc, || Ok(EncryptingKey::ecb(self.unbound()?)?))?;
        key.less_safe_encrypt(in_out, EncryptionContext::None)?;
        Ok(())
    }

    /// ECB-decrypts whole blocks in place.
    pub fn ecb_decrypt(&self, in_out: &mut [u8]) -> Result<(), CryptoError> {
        let key = cached(&self.cache.ecb_dec, || Ok(DecryptingKey::ecb(self.unbound()?)?))?;
        key.decrypt(in_out, DecryptionContext::None)?;
        Ok(())
    }

    /// CBC-encrypts whole blocks in place, chaining from `iv`; `iv` becomes the last ciphertext
    /// block so that the next call continues the chain.
    pub fn cbc_encrypt(&self, iv: &mut Block, in_out: &mut [u8]) -> Result<(), CryptoError> {
        if in_out.is_empty() {
            return Ok(());
        }
        if !in_out.len().is_multiple_of(BLOCK_LEN) {
            return Err(CryptoError);
        }
        let key = cached(&self.cache.cbc_enc, || Ok(EncryptingKey::cbc(self.unbound()?)?))?;
        key.less_safe_encrypt(in_out, EncryptionContext::Iv128((*iv).into()))?;
        let last = in_out.len() - BLOCK_LEN;
        iv.copy_from_slice(&in_out[last..]);
        Ok(())
    }

    /// CBC-decrypts whole blocks in place, chaining from `iv`; `iv` becomes the last ciphertext
    /// block so that the next call continues the chain.
    pub fn cbc_decrypt(&self, iv: &mut Block, in_out: &mut [u8]) -> Result<(), CryptoError> {
        if in_out.is_empty() {
            return Ok(());
        }
        if !in_out.len().is_multiple_of(BLOCK_LEN) {
            return Err(CryptoError);
        }
        let key = cached(&self.cache.cbc_dec, || Ok(DecryptingKey::cbc(self.unbound()?)?))?;
        let last = in_out.len() - BLOCK_LEN;
        let mut next: Block = [0; BLOCK_LEN];
        next.copy_from_slice(&in_out[last..]);
        key.decrypt(in_out, DecryptionContext::Iv128((*iv).into()))?;
        *iv = next;
        Ok(())
    }

    /// XORs the CTR keystream that starts at `counter` into `in_out`. The counter block is
    /// incremented as one 128-bit big-endian number; callers that need a narrower counter field
    /// stop before it would carry out of that field.
    pub fn ctr_xor(&self, counter: &Block, in_out: &mut [u8]) -> Result<(), CryptoError> {
        let key = cached(&self.cache.ctr, || Ok(EncryptingKey::ctr(self.unbound()?)?))?;
        key.less_safe_encrypt(in_out, EncryptionContext::Iv128((*counter).into()))?;
        Ok(())
    }

    fn gcm(&self) -> Result<&aead::LessSafeKey, CryptoError> {
        cached(&self.cache.gcm, || {
            let alg = match self.bytes.len() {
                16 => &aead::AES_128_GCM,
                24 => &aead::AES_192_GCM,
                _ => &aead::AES_256_GCM,
            };
            Ok(aead::LessSafeKey::new(aead::UnboundKey::new(alg, &self.bytes)?))
        })
    }

    /// GCM-encrypts `input` into `out` (exactly as long) and writes the tag into `tag`.
    pub fn gcm_seal(
        &self,
        nonce: &[u8; GCM_NONCE_LEN],
        aad: &[u8],
        input: &[u8],
        out: &mut [u8],
        tag: &mut [u8; GCM_TAG_LEN],
    ) -> Result<(), CryptoError> {
        let key = self.gcm()?;
        let nonce = aead::Nonce::assume_unique_for_key(*nonce);
        key.seal_out_of_place_scatter(nonce, aead::Aad::from(aad), input, out, &[], tag)?;
        Ok(())
    }

    /// GCM-decrypts `input` into `out` (exactly as long) after checking `tag`. On failure `out`
    /// holds no plaintext.
    pub fn gcm_open(
        &self,
        nonce: &[u8; GCM_NONCE_LEN],
        aad: &[u8],
        input: &[u8],
        tag: &[u8; GCM_TAG_LEN],
        out: &mut [u8],
    ) -> Result<(), CryptoError> {
        let key = self.gcm()?;
        let nonce = aead::Nonce::assume_unique_for_key(*nonce);
        let opened = key.open_separate_gather(nonce, aead::Aad::from(aad), input, tag, out);
        if opened.is_err() {
            // aws-lc-rs leaves the output unspecified on failure.
            out.fill(0);
        }
        Ok(opened?)
    }

    fn kw(&self) -> Result<&Kw, CryptoError> {
        cached(&self.cache.kw, || {
            let k = &self.bytes;
            Ok(match k.len() {
                16 => Kw::A128(KwAes128::new_from_slice(k).map_err(|_| CryptoError)?),
                24 => Kw::A192(KwAes192::new_from_slice(k).map_err(|_| CryptoError)?),
                _ => Kw::A256(KwAes256::new_from_slice(k).map_err(|_| CryptoError)?),
            })
        })
    }

    fn kwp(&self) -> Result<&Kwp, CryptoError> {
        cached(&self.cache.kwp, || {
            let k = &self.bytes;
            Ok(match k.len() {
                16 => Kwp::A128(KwpAes128::new_from_slice(k).map_err(|_| CryptoError)?),
                24 => Kwp::A192(KwpAes192::new_from_slice(k).map_err(|_| CryptoError)?),
                _ => Kwp::A256(KwpAes256::new_from_slice(k).map_err(|_| CryptoError)?),
            })
        })
    }

    /// RFC 3394 wrap; `input` is at least two semiblocks, a whole number of them. `out` has room
    /// for `input.len() + 8` bytes. Returns the bytes written.
    pub fn kw_wrap(&self, input: &[u8], out: &mut [u8]) -> Result<usize, CryptoError> {
        // aes-kw accepts a single semiblock, which RFC 3394 §2 and SP 800-38F do not define.
        if input.len() < 2 * SEMIBLOCK_LEN {
            return Err(CryptoError);
        }
        let r = match self.kw()? {
            Kw::A128(k) => k.wrap_key(input, out).map(<[u8]>::len),
            Kw::A192(k) => k.wrap_key(input, out).map(<[u8]>::len),
            Kw::A256(k) => k.wrap_key(input, out).map(<[u8]>::len),
        };
        r.map_err(|_| CryptoError)
    }

    /// RFC 3394 unwrap; `out` has room for `input.len() - 8` bytes. On failure `out` holds no
    /// key material.
    pub fn kw_unwrap(&self, input: &[u8], out: &mut [u8]) -> Result<usize, CryptoError> {
        if input.len() < 3 * SEMIBLOCK_LEN {
            return Err(CryptoError);
        }
        let r = match self.kw()? {
            Kw::A128(k) => k.unwrap_key(input, out).map(<[u8]>::len),
            Kw::A192(k) => k.unwrap_key(input, out).map(<[u8]>::len),
            Kw::A256(k) => k.unwrap_key(input, out).map(<[u8]>::len),
        };
        r.map_err(|_| CryptoError)
    }

    /// RFC 5649 wrap of 1 to 2^32 - 1 bytes; `out` has room for the input rounded up to a
    /// semiblock plus one more.
    pub fn kwp_wrap(&self, input: &[u8], out: &mut [u8]) -> Result<usize, CryptoError> {
        // RFC 5649 §3 needs at least one octet; aes-kw would wrap nothing into a bare AIV.
        if input.is_empty() {
            return Err(CryptoError);
        }
        let r = match self.kwp()? {
            Kwp::A128(k) => k.wrap_key(input, out).map(<[u8]>::len),
            Kwp::A192(k) => k.wrap_key(input, out).map(<[u8]>::len),
            Kwp::A256(k) => k.wrap_key(input, out).map(<[u8]>::len),
        };
        r.map_err(|_| CryptoError)
    }

    /// RFC 5649 unwrap; `out` has room for `input.len() - 8` bytes. On failure `out` holds no
    /// key material.
    pub fn kwp_unwrap(&self, input: &[u8], out: &mut [u8]) -> Result<usize, CryptoError> {
        // A single semiblock would make aes-kw check an empty register, and RFC 5649 needs two.
        if input.len() < 2 * SEMIBLOCK_LEN {
            return Err(CryptoError);
        }
        let r = match self.kwp()? {
            Kwp::A128(k) => k.unwrap_key(input, out).map(<[u8]>::len),
            Kwp::A192(k) => k.unwrap_key(input, out).map(<[u8]>::len),
            Kwp::A256(k) => k.unwrap_key(input, out).map(<[u8]>::len),
        };
        r.map_err(|_| CryptoError)
    }

    /// Starts a CMAC computation. The subkeys are derived once per key; each computation copies
    /// them.
    pub fn cmac(&self) -> Result<Cmac, CryptoError> {
        let key = cached(&self.cache.cmac, || {
            let alg = match self.bytes.len() {
                16 => cmac::AES_128,
                24 => cmac::AES_192,
                _ => cmac::AES_256,
            };
            Ok(cmac::Key::new(alg, &self.bytes)?)
        })?;
        Ok(Cmac { ctx: cmac::Context::with_key(key) })
    }

    /// The PKCS#11 check value: the first three bytes of the encryption of a zero block.
    pub fn check_value(&self) -> Result<[u8; 3], CryptoError> {
        let mut block = [0u8; BLOCK_LEN];
        self.ecb_encrypt(&mut block)?;
        Ok([block[0], block[1], block[2]])
    }
}

/// An incremental CMAC (RFC 4493).
pub struct Cmac {
    ctx: cmac::Context,
}

impl Cmac {
    pub fn update(&mut self, data: &[u8]) -> Result<(), CryptoError> {
        Ok(self.ctx.update(data)?)
    }

    /// The full 16-byte tag; consumes the computation.
    pub fn finish(self) -> Result<[u8; CMAC_LEN], CryptoError> {
        let tag = self.ctx.sign()?;
        tag.as_ref().try_into().map_err(|_| CryptoError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    fn block(s: &str) -> Block {
        h(s).try_into().unwrap()
    }

    const SP_PLAIN: &str = "6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51 \
                            30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710";
    const SP_K128: &str = "2b7e151628aed2a6abf7158809cf4f3c";
    const SP_K192: &str = "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b";
    const SP_K256: &str = "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4";

    #[test]
    fn key_sizes() {
        for n in [16, 24, 32] {
            assert_eq!(AesKey::new(&vec![7; n]).unwrap().bytes(), &vec![7; n][..]);
        }
        for n in [0, 8, 15, 17, 31, 33, 64] {
            assert!(AesKey::new(&vec![7; n]).is_err(), "{n}");
        }
    }

    #[test]
    fn debug_hides_key_bytes() {
        let k = AesKey::new(&[0xab; 16]).unwrap();
        let s = format!("{k:?}");
        assert!(s.contains("128"));
        assert!(!s.contains("ab") && !s.contains("171"));
    }

    #[test]
    fn fips_197_appendix_c() {
        let pt = "00112233445566778899aabbccddeeff";
        for (key, ct) in [
            ("000102030405060708090a0b0c0d0e0f", "69c4e0d86a7b0430d8cdb78070b4c55a"),
            ("000102030405060708090a0b0c0d0e0f1011121314151617", "dda97ca4864cdfe06eaf70a0ec0d7191"),
            (
                "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
                "8ea2b7ca516745bfeafc49904b496089",
            ),
        ] {
            let k = AesKey::new(&h(key)).unwrap();
            let mut b = h(pt);
            k.ecb_encrypt(&mut b).unwrap();
            assert_eq!(b, h(ct));
            k.ecb_decrypt(&mut b).unwrap();
            assert_eq!(b, h(pt));
        }
    }

    #[test]
    fn sp_800_38a_ecb() {
        for (key, ct) in [
            (
                SP_K128,
                "3ad77bb40d7a3660a89ecaf32466ef97 f5d3d58503b9699de785895a96fdbaaf \
                 43b1cd7f598ece23881b00e3ed030688 7b0c785e27e8ad3f8223207104725dd4",
            ),
            (
                SP_K192,
                "bd334f1d6e45f25ff712a214571fa5cc 974104846d0ad3ad7734ecb3ecee4eef \
                 ef7afd2270e2e60adce0ba2face6444e 9a4b41ba738d6c72fb16691603c18e0e",
            ),
        ] {
            let k = AesKey::new(&h(key)).unwrap();
            let mut b = h(SP_PLAIN);
            k.ecb_encrypt(&mut b).unwrap();
            assert_eq!(b, h(ct));
            k.ecb_decrypt(&mut b).unwrap();
            assert_eq!(b, h(SP_PLAIN));
        }
    }

    #[test]
    fn ecb_and_cbc_need_whole_blocks() {
        let k = AesKey::new(&h(SP_K128)).unwrap();
        assert_eq!(k.ecb_encrypt(&mut [0u8; 15]), Err(CryptoError));
        assert_eq!(k.ecb_decrypt(&mut [0u8; 17]), Err(CryptoError));
        let mut iv = [5u8; 16];
        assert_eq!(k.cbc_encrypt(&mut iv, &mut [0u8; 20]), Err(CryptoError));
        assert_eq!(k.cbc_decrypt(&mut iv, &mut [0u8; 31]), Err(CryptoError));
        assert_eq!(iv, [5u8; 16], "a refused call leaves the chain alone");
    }

    #[test]
    fn sp_800_38a_cbc_chains_across_calls() {
        let iv = block("000102030405060708090a0b0c0d0e0f");
        for (key, ct) in [
            (
                SP_K128,
                "7649abac8119b246cee98e9b12e9197d 5086cb9b507219ee95db113a917678b2 \
                 73bed6b8e3c1743b7116e69e22229516 3ff1caa1681fac09120eca307586e1a7",
            ),
            (
                SP_K256,
                "f58c4c04d6e5f1ba779eabfb5f7bfbd6 9cfc4e967edb808d679f777bc6702c7d \
                 39f23369a9d9bacfa530e26304231461 b2eb05e2c39be9fcda6c19078c6a9d1b",
            ),
        ] {
            let k = AesKey::new(&h(key)).unwrap();
            let mut b = h(SP_PLAIN);
            let mut chain = iv;
            let (first, rest) = b.split_at_mut(16);
            k.cbc_encrypt(&mut chain, first).unwrap();
            k.cbc_encrypt(&mut chain, rest).unwrap();
            assert_eq!(b, h(ct));
            assert_eq!(chain[..], h(ct)[48..]);
            let mut chain = iv;
            let (first, rest) = b.split_at_mut(32);
            k.cbc_decrypt(&mut chain, first).unwrap();
            k.cbc_decrypt(&mut chain, rest).unwrap();
            assert_eq!(b, h(SP_PLAIN));
        }
    }

    #[test]
    fn sp_800_38a_ctr() {
        let counter = block("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff");
        for (key, ct) in [
            (
                SP_K128,
                "874d6191b620e3261bef6864990db6ce 9806f66b7970fdff8617187bb9fffdff \
                 5ae4df3edbd5d35e5b4f09020db03eab 1e031dda2fbe03d1792170a0f3009cee",
            ),
            (
                SP_K256,
                "601ec313775789a5b7a7f504bbf3d228 f443e3ca4d62b59aca84e990cacaf5c5 \
                 2b0930daa23de94ce87017ba2d84988d dfc9c58db67aada613c2dd08457941a6",
            ),
        ] {
            let k = AesKey::new(&h(key)).unwrap();
            let mut b = h(SP_PLAIN);
            k.ctr_xor(&counter, &mut b).unwrap();
            assert_eq!(b, h(ct));
            k.ctr_xor(&counter, &mut b).unwrap();
            assert_eq!(b, h(SP_PLAIN));
        }
    }

    #[test]
    fn ctr_carries_across_all_128_bits() {
        // The block after ff..ff|ff..ff in a 64-bit counter must be 00..01|00..00.
        let k = AesKey::new(&h(SP_K128)).unwrap();
        let start = block("0000000000000000ffffffffffffffff");
        let mut two = [0u8; 32];
        k.ctr_xor(&start, &mut two).unwrap();
        let mut second = [0u8; 16];
        k.ctr_xor(&block("00000000000000010000000000000000"), &mut second).unwrap();
        assert_eq!(two[16..], second);
    }

    #[test]
    fn gcm_round_trip_and_tamper() {
        // NIST GCM test case 4 (AES-128, 60-byte plaintext, 20-byte AAD).
        let k = AesKey::new(&h("feffe9928665731c6d6a8f9467308308")).unwrap();
        let nonce: [u8; 12] = h("cafebabefacedbaddecaf888").try_into().unwrap();
        let aad = h("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        let pt = h("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95\
                    956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39");
        let mut ct = vec![0u8; pt.len()];
        let mut tag = [0u8; 16];
        k.gcm_seal(&nonce, &aad, &pt, &mut ct, &mut tag).unwrap();
        assert_eq!(
            ct,
            h("42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b2\
               5466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091")
        );
        assert_eq!(tag[..], h("5bc94fbc3221a5db94fae95ae7121a47"));
        let mut back = vec![0u8; ct.len()];
        k.gcm_open(&nonce, &aad, &ct, &tag, &mut back).unwrap();
        assert_eq!(back, pt);
        tag[0] ^= 1;
        let mut back = vec![0xffu8; ct.len()];
        assert_eq!(k.gcm_open(&nonce, &aad, &ct, &tag, &mut back), Err(CryptoError));
        assert!(back.iter().all(|b| *b == 0), "no plaintext survives a failed open");
    }

    #[test]
    fn rfc_3394_vectors() {
        let data128 = "00112233445566778899aabbccddeeff";
        for (kek, data, wrapped) in [
            ("000102030405060708090a0b0c0d0e0f", data128, "1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5"),
            (
                "000102030405060708090a0b0c0d0e0f1011121314151617",
                data128,
                "96778b25ae6ca435f92b5b97c050aed2468ab8a17ad84e5d",
            ),
            (
                "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
                "00112233445566778899aabbccddeeff000102030405060708090a0b0c0d0e0f",
                "28c9f404c4b810f4cbccb35cfb87f8263f5786e2d80ed326cbc7f0e71a99f43bfb988b9b7a02dd21",
            ),
        ] {
            let k = AesKey::new(&h(kek)).unwrap();
            let mut out = vec![0u8; h(data).len() + 8];
            assert_eq!(k.kw_wrap(&h(data), &mut out).unwrap(), out.len());
            assert_eq!(out, h(wrapped));
            let mut back = vec![0u8; out.len() - 8];
            assert_eq!(k.kw_unwrap(&out, &mut back).unwrap(), back.len());
            assert_eq!(back, h(data));
            out[3] ^= 0x10;
            assert_eq!(k.kw_unwrap(&out, &mut back), Err(CryptoError));
            assert!(back.iter().all(|b| *b == 0));
        }
    }

    #[test]
    fn kw_lengths_outside_rfc_3394_fail() {
        let k = AesKey::new(&[1; 16]).unwrap();
        let mut out = [0u8; 64];
        assert_eq!(k.kw_wrap(&[0; 8], &mut out), Err(CryptoError));
        assert_eq!(k.kw_wrap(&[0; 20], &mut out), Err(CryptoError));
        assert_eq!(k.kw_unwrap(&[0; 16], &mut out), Err(CryptoError));
        assert_eq!(k.kw_unwrap(&[0; 25], &mut out), Err(CryptoError));
    }

    #[test]
    fn rfc_5649_vectors() {
        let k = AesKey::new(&h("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8")).unwrap();
        for (data, wrapped) in [
            (
                "c37b7e6492584340bed12207808941155068f738",
                "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a",
            ),
            ("466f7250617369", "afbeb0f07dfbf5419200f2ccb50bb24f"),
        ] {
            let mut out = vec![0u8; h(wrapped).len()];
            assert_eq!(k.kwp_wrap(&h(data), &mut out).unwrap(), out.len());
            assert_eq!(out, h(wrapped));
            let mut back = vec![0u8; out.len() - 8];
            let n = k.kwp_unwrap(&out, &mut back).unwrap();
            assert_eq!(back[..n], h(data));
            out[0] ^= 1;
            assert_eq!(k.kwp_unwrap(&out, &mut back), Err(CryptoError));
        }
        let mut out = [0u8; 16];
        assert_eq!(k.kwp_wrap(&[], &mut out), Err(CryptoError));
        assert_eq!(k.kwp_unwrap(&[0xa6, 0x59, 0x59, 0xa6, 0, 0, 0, 0], &mut out), Err(CryptoError));
    }

    #[test]
    fn rfc_4493_cmac() {
        let k = AesKey::new(&h(SP_K128)).unwrap();
        let msg = h(SP_PLAIN);
        for (len, tag) in [
            (0, "bb1d6929e95937287fa37d129b756746"),
            (16, "070a16b46b4d4144f79bdd9dd04a287c"),
            (40, "dfa66747de9ae63030ca32611497c827"),
            (64, "51f0bebf7e3b9d92fc49741779363cfe"),
        ] {
            let mut m = k.cmac().unwrap();
            let (a, b) = msg[..len].split_at(len / 3);
            m.update(a).unwrap();
            m.update(b).unwrap();
            assert_eq!(m.finish().unwrap()[..], h(tag));
        }
    }

    #[test]
    fn check_value_is_zero_block_encryption() {
        let k = AesKey::new(&h("000102030405060708090a0b0c0d0e0f")).unwrap();
        let mut zero = [0u8; 16];
        k.ecb_encrypt(&mut zero).unwrap();
        assert_eq!(k.check_value().unwrap()[..], zero[..3]);
    }

    #[test]
    fn schedules_are_built_once() {
        let k = AesKey::new(&[3; 32]).unwrap();
        k.ecb_encrypt(&mut [0u8; 16]).unwrap();
        let first = k.cache.ecb_enc.get().map(|e| e as *const EncryptingKey);
        k.ecb_encrypt(&mut [0u8; 16]).unwrap();
        assert_eq!(first, k.cache.ecb_enc.get().map(|e| e as *const EncryptingKey));
        assert!(k.cache.gcm.get().is_none(), "modes not used build nothing");
    }
}
