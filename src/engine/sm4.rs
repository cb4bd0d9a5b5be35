//! SM4 (GB/T 32907-2016) on RustCrypto: the `sm4` block cipher driven by the `cbc` and `ctr`
//! modes, and GCM from `aes-gcm`, whose `AesGcm` is generic over any 128-bit block cipher (the
//! construction of SP 800-38D is the same whatever the cipher; RFC 8998 uses it with SM4).
//! aws-lc-rs has no SM4. The key schedule is expanded when the key is loaded and borrowed by
//! every mode, so no operation expands a key again.
//!
//! Unlike the aws-lc-rs AES, `sm4` 0.6 is not constant-time: it looks its S-box up in a table
//! indexed by key-dependent bytes, which a process sharing the CPU cache could time.

use super::CryptoError;
use aes_gcm::aead::AeadInOut;
use aes_gcm::aead::inout::InOutBuf;
use sm4::Sm4;
use sm4::cipher::array::Array;
use sm4::cipher::consts::{U12, U16};
use sm4::cipher::{
    BlockCipherDecrypt, BlockCipherEncrypt, BlockModeDecrypt, BlockModeEncrypt, InnerIvInit, IvState,
    KeyInit, StreamCipher,
};
use std::sync::OnceLock;
use zeroize::Zeroizing;

/// The SM4 key size; SM4 has no other.
pub const KEY_LEN: usize = 16;
/// The SM4 block size.
pub const BLOCK_LEN: usize = 16;
/// GCM nonce length: 96 bits, the one SP 800-38D recommends and RFC 8998 uses.
pub const GCM_NONCE_LEN: usize = 12;
/// GCM tag length: the full 128 bits.
pub const GCM_TAG_LEN: usize = 16;

/// A block, as the modes' chaining value and counter are kept.
pub type Block = [u8; BLOCK_LEN];

type Gcm = aes_gcm::AesGcm<Sm4, U12, U16>;

/// An SM4 key and the schedules derived from it.
pub struct Sm4Key {
    bytes: Zeroizing<[u8; KEY_LEN]>,
    /// Boxed: the cipher and GHASH state take several hundred bytes, which would otherwise size
    /// every `LoadedKey`.
    schedules: Box<Schedules>,
}

struct Schedules {
    /// The round keys, expanded once. `sm4`'s `zeroize` feature clears them on drop.
    cipher: Sm4,
    /// GCM's hash key is one more block encryption and a GHASH setup: built on first use, since
    /// most keys never see GCM.
    gcm: OnceLock<Gcm>,
}

impl std::fmt::Debug for Sm4Key {
    // The key bytes never reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sm4Key").finish_non_exhaustive()
    }
}

/// `data` as whole blocks, or an error when it does not divide into them.
fn blocks(data: &mut [u8]) -> Result<&mut [Array<u8, U16>], CryptoError> {
    let (whole, rest) = Array::slice_as_chunks_mut(data);
    if rest.is_empty() { Ok(whole) } else { Err(CryptoError) }
}

impl Sm4Key {
    /// A key of exactly 16 bytes.
    pub fn new(bytes: &[u8]) -> Result<Sm4Key, CryptoError> {
        let bytes: Zeroizing<[u8; KEY_LEN]> = Zeroizing::new(bytes.try_into().map_err(|_| CryptoError)?);
        let cipher = Sm4::new_from_slice(&bytes[..]).map_err(|_| CryptoError)?;
        Ok(Sm4Key { bytes, schedules: Box::new(Schedules { cipher, gcm: OnceLock::new() }) })
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..]
    }

    fn cipher(&self) -> &Sm4 {
        &self.schedules.cipher
    }

    /// ECB-encrypts whole blocks in place.
    pub fn ecb_encrypt(&self, in_out: &mut [u8]) -> Result<(), CryptoError> {
        self.cipher().encrypt_blocks(blocks(in_out)?);
        Ok(())
    }

    /// ECB-decrypts whole blocks in place.
    pub fn ecb_decrypt(&self, in_out: &mut [u8]) -> Result<(), CryptoError> {
        self.cipher().decrypt_blocks(blocks(in_out)?);
        Ok(())
    }

    /// CBC-encrypts whole blocks in place, chaining from `iv`; `iv` becomes the last ciphertext
    /// block so that the next call continues the chain.
    pub fn cbc_encrypt(&self, iv: &mut Block, in_out: &mut [u8]) -> Result<(), CryptoError> {
        let data = blocks(in_out)?;
        // The mode borrows the expanded key: building it is a 16-byte copy, not a key schedule.
        let mut mode = cbc::Encryptor::<&Sm4>::inner_iv_init(self.cipher(), &Array::from(*iv));
        mode.encrypt_blocks(data);
        *iv = mode.iv_state().into();
        Ok(())
    }

    /// CBC-decrypts whole blocks in place, chaining from `iv`; `iv` becomes the last ciphertext
    /// block so that the next call continues the chain.
    pub fn cbc_decrypt(&self, iv: &mut Block, in_out: &mut [u8]) -> Result<(), CryptoError> {
        let data = blocks(in_out)?;
        let mut mode = cbc::Decryptor::<&Sm4>::inner_iv_init(self.cipher(), &Array::from(*iv));
        mode.decrypt_blocks(data);
        *iv = mode.iv_state().into();
        Ok(())
    }

    /// XORs the CTR keystream that starts at `counter` into `in_out`. The counter block is
    /// incremented as one 128-bit big-endian number (wrapping at 2^128); callers that need a
    /// narrower counter field stop before it would carry out of that field.
    pub fn ctr_xor(&self, counter: &Block, in_out: &mut [u8]) -> Result<(), CryptoError> {
        let core = ctr::CtrCore::<&Sm4, ctr::flavors::Ctr128BE>::inner_iv_init(
            self.cipher(),
            &Array::from(*counter),
        );
        ctr::Ctr128BE::from_core(core).try_apply_keystream(in_out).map_err(|_| CryptoError)
    }

    fn gcm(&self) -> &Gcm {
        // A copy of the round keys, not a new expansion.
        self.schedules.gcm.get_or_init(|| Gcm::from(self.schedules.cipher.clone()))
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
        let buf = InOutBuf::new(input, out).map_err(|_| CryptoError)?;
        let full =
            self.gcm().encrypt_inout_detached(&Array::from(*nonce), aad, buf).map_err(|_| CryptoError)?;
        tag.copy_from_slice(&full);
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
        let buf = InOutBuf::new(input, &mut *out).map_err(|_| CryptoError)?;
        let opened = self.gcm().decrypt_inout_detached(&Array::from(*nonce), aad, buf, &Array::from(*tag));
        if opened.is_err() {
            // `aes-gcm` decrypts only after the tag matched; clearing anyway keeps that promise
            // this function makes independent of the crate's internals.
            out.fill(0);
        }
        opened.map_err(|_| CryptoError)
    }

    /// The PKCS#11 check value: the first three bytes of the encryption of a zero block.
    pub fn check_value(&self) -> [u8; 3] {
        let mut block = Array::<u8, U16>::default();
        self.cipher().encrypt_block(&mut block);
        [block[0], block[1], block[2]]
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

    /// GB/T 32907-2016 appendix A: key and plaintext are the same block.
    const GB_KEY: &str = "0123456789abcdeffedcba9876543210";

    /// Vectors made once with OpenSSL 3.0.19 (`openssl enc -sm4-… -K GB_KEY -iv OSSL_IV
    /// -nopad`) over `OSSL_PLAIN`, the 64 bytes 0x30..0x6f.
    const OSSL_IV: &str = "000102030405060708090a0b0c0d0e0f";
    fn ossl_plain() -> Vec<u8> {
        (0x30..0x70).collect()
    }
    const OSSL_ECB: &str = "d55bfd68e7901219f41fab48427ab58d 718e2043bac7ec8bfd57a90711865015 \
                            0c2c0fab0b4e22ee8de3028b161a7c37 1cd7855afd87ef606bcfedad65c86b5b";
    const OSSL_CBC: &str = "54207c48e501eaf62c3ef5337df44eb3 0859e234004f553c0a846ce8f94bbe68 \
                            ac81133b61b55f9421b53cfa80e9a0db 08154765e17daf4ec1a97788c48b99c9";
    /// `-iv f0f1…feff`.
    const OSSL_CTR: &str = "6e13d4f4b6f0868ac9592fb1fb444688 ce720bf23d06471c13be548b26b8898b \
                            4988e67f8f489a329414da6f9020efe9 34312f5155768734cc629058acdd4986";
    /// `-iv 0123456789abcdeffffffffffffffffe`: the count carries across the 64-bit boundary.
    const OSSL_CTR_CARRY: &str = "8a42db754fd5148b0bfb98e86c6a75ef 2b9ae6c318c860717b8e914b2ea8024a \
                                  4357268dd1524fb9423f84d20de52f37 f5d786b52a699b613d53f6d146ed47bf";

    #[test]
    fn key_size_is_16_only() {
        assert_eq!(Sm4Key::new(&[7; 16]).unwrap().bytes(), &[7; 16]);
        for n in [0, 8, 15, 17, 24, 32] {
            assert!(Sm4Key::new(&vec![7; n]).is_err(), "{n}");
        }
    }

    #[test]
    fn debug_hides_key_bytes() {
        let s = format!("{:?}", Sm4Key::new(&[0xab; 16]).unwrap());
        assert!(!s.contains("ab") && !s.contains("171"), "{s}");
    }

    #[test]
    fn gb_t_32907_example_1() {
        let k = Sm4Key::new(&h(GB_KEY)).unwrap();
        let mut b = h(GB_KEY);
        k.ecb_encrypt(&mut b).unwrap();
        assert_eq!(b, h("681edf34d206965e86b3e94f536e4246"));
        k.ecb_decrypt(&mut b).unwrap();
        assert_eq!(b, h(GB_KEY));
    }

    /// GB/T 32907-2016 example 2: the same block encrypted 1,000,000 times (about 3 s in a
    /// debug build, well under a second in release).
    #[test]
    fn gb_t_32907_example_2() {
        let k = Sm4Key::new(&h(GB_KEY)).unwrap();
        let mut b = h(GB_KEY);
        for _ in 0..1_000_000 {
            k.ecb_encrypt(&mut b).unwrap();
        }
        assert_eq!(b, h("595298c7c6fd271f0402f804c33d3f66"));
    }

    #[test]
    fn openssl_ecb_and_cbc() {
        let k = Sm4Key::new(&h(GB_KEY)).unwrap();
        let mut b = ossl_plain();
        k.ecb_encrypt(&mut b).unwrap();
        assert_eq!(b, h(OSSL_ECB));
        k.ecb_decrypt(&mut b).unwrap();
        assert_eq!(b, ossl_plain());

        let mut iv = block(OSSL_IV);
        let mut b = ossl_plain();
        k.cbc_encrypt(&mut iv, &mut b).unwrap();
        assert_eq!(b, h(OSSL_CBC));
        assert_eq!(iv[..], b[48..], "the chain continues from the last ciphertext block");
        let mut iv = block(OSSL_IV);
        k.cbc_decrypt(&mut iv, &mut b).unwrap();
        assert_eq!(b, ossl_plain());
        assert_eq!(iv[..], h(OSSL_CBC)[48..]);
    }

    #[test]
    fn cbc_in_pieces_continues_the_chain() {
        let k = Sm4Key::new(&h(GB_KEY)).unwrap();
        let mut iv = block(OSSL_IV);
        let mut b = ossl_plain();
        let (first, rest) = b.split_at_mut(16);
        k.cbc_encrypt(&mut iv, first).unwrap();
        k.cbc_encrypt(&mut iv, &mut []).unwrap();
        k.cbc_encrypt(&mut iv, rest).unwrap();
        assert_eq!(b, h(OSSL_CBC));
        let mut iv = block(OSSL_IV);
        let (first, rest) = b.split_at_mut(32);
        k.cbc_decrypt(&mut iv, first).unwrap();
        k.cbc_decrypt(&mut iv, rest).unwrap();
        assert_eq!(b, ossl_plain());
    }

    #[test]
    fn partial_blocks_are_refused() {
        let k = Sm4Key::new(&[1; 16]).unwrap();
        let mut iv = [0u8; 16];
        let mut b = [0u8; 17];
        assert_eq!(k.ecb_encrypt(&mut b), Err(CryptoError));
        assert_eq!(k.ecb_decrypt(&mut b[..15]), Err(CryptoError));
        assert_eq!(k.cbc_encrypt(&mut iv, &mut b), Err(CryptoError));
        assert_eq!(k.cbc_decrypt(&mut iv, &mut b), Err(CryptoError));
        assert_eq!(b, [0; 17]);
        assert_eq!(iv, [0; 16]);
    }

    #[test]
    fn openssl_ctr() {
        let k = Sm4Key::new(&h(GB_KEY)).unwrap();
        for (counter, ct) in [
            ("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff", OSSL_CTR),
            ("0123456789abcdeffffffffffffffffe", OSSL_CTR_CARRY),
        ] {
            let mut b = ossl_plain();
            k.ctr_xor(&block(counter), &mut b).unwrap();
            assert_eq!(b, h(ct));
            // A message ending inside a block uses a prefix of the keystream.
            let mut b = ossl_plain()[..45].to_vec();
            k.ctr_xor(&block(counter), &mut b).unwrap();
            assert_eq!(b, h(ct)[..45]);
        }
        // The count wraps at 2^128 like OpenSSL's: the block after all-ones is all-zeros.
        let mut two = [0u8; 32];
        k.ctr_xor(&[0xff; 16], &mut two).unwrap();
        let mut zero = [0u8; 16];
        k.ctr_xor(&[0; 16], &mut zero).unwrap();
        assert_eq!(two[16..], zero);
    }

    /// RFC 8998 appendix A.1.
    #[test]
    fn rfc_8998_gcm() {
        let k = Sm4Key::new(&h(GB_KEY)).unwrap();
        let nonce: [u8; 12] = h("00001234567800000000abcd").try_into().unwrap();
        let aad = h("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        let pt = h("aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbb cccccccccccccccc dddddddddddddddd \
                    eeeeeeeeeeeeeeeeffffffffffffffff eeeeeeeeeeeeeeee aaaaaaaaaaaaaaaa");
        let ct = h("17f399f08c67d5ee19d0dc9969c4bb7d 5fd46fd3756489069157b282bb200735 \
                    d82710ca5c22f0ccfa7cbf93d496ac15 a56834cbcf98c397b4024a2691233b8d");
        let tag: [u8; 16] = h("83de3541e4c2b58177e065a9bf7b62ec").try_into().unwrap();
        let mut out = vec![0u8; pt.len()];
        let mut t = [0u8; 16];
        k.gcm_seal(&nonce, &aad, &pt, &mut out, &mut t).unwrap();
        assert_eq!(out, ct);
        assert_eq!(t, tag);
        let mut back = vec![0u8; ct.len()];
        k.gcm_open(&nonce, &aad, &ct, &tag, &mut back).unwrap();
        assert_eq!(back, pt);
    }

    /// Made once with the OpenSSL 4.0 of Python `cryptography` 48 (OpenSSL 3.0's `enc` has no
    /// SM4-GCM): `Cipher(SM4(GB_KEY), GCM(bytes(range(12))))`.
    #[test]
    fn openssl_gcm() {
        let k = Sm4Key::new(&h(GB_KEY)).unwrap();
        let nonce: [u8; 12] = std::array::from_fn(|i| i as u8);
        let pt = &ossl_plain()[..45];
        let mut out = vec![0u8; 45];
        let mut tag = [0u8; 16];
        k.gcm_seal(&nonce, b"", pt, &mut out, &mut tag).unwrap();
        assert_eq!(
            out,
            h("65102aa285849f285cb9b990e761586a c8b86bee0414f8f80efde364dca05d34 19549f09705c6b425fe8056b48")
        );
        assert_eq!(tag[..], h("fd95dd1fb9459f9ceb4161717dff2cad"));
        k.gcm_seal(&nonce, b"tde", b"", &mut [], &mut tag).unwrap();
        assert_eq!(tag[..], h("512c976f01dd1419a21cf421bf503051"));
    }

    #[test]
    fn gcm_open_failures_leave_no_plaintext() {
        let k = Sm4Key::new(&[3; 16]).unwrap();
        let nonce = [9u8; 12];
        let mut ct = [0u8; 20];
        let mut tag = [0u8; 16];
        k.gcm_seal(&nonce, b"a", &[0x41; 20], &mut ct, &mut tag).unwrap();
        let mut out = [0x55u8; 20];
        let mut bad = tag;
        bad[0] ^= 1;
        assert_eq!(k.gcm_open(&nonce, b"a", &ct, &bad, &mut out), Err(CryptoError));
        assert_eq!(out, [0; 20]);
        assert_eq!(k.gcm_open(&nonce, b"b", &ct, &tag, &mut out), Err(CryptoError));
        assert_eq!(k.gcm_open(&[8; 12], b"a", &ct, &tag, &mut out), Err(CryptoError));
        // Output of the wrong length is refused rather than truncated.
        assert_eq!(k.gcm_open(&nonce, b"a", &ct, &tag, &mut [0; 19]), Err(CryptoError));
        assert_eq!(k.gcm_seal(&nonce, b"a", &[0; 20], &mut [0; 21], &mut tag), Err(CryptoError));
        k.gcm_open(&nonce, b"a", &ct, &tag, &mut out).unwrap();
        assert_eq!(out, [0x41; 20]);
    }

    #[test]
    fn check_value_is_the_zero_block_encryption() {
        let k = Sm4Key::new(&h(GB_KEY)).unwrap();
        // `openssl enc -sm4-ecb -nopad` of a zero block: 2677f46b09c122cc975533105bd4a22a.
        assert_eq!(k.check_value(), [0x26, 0x77, 0xf4]);
    }
}
