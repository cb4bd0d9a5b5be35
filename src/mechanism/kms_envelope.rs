//! `CKM_KMS_ENVELOPE` and `CKM_KMS_DATA_KEY_WITHOUT_PLAINTEXT` (DESIGN §3): the KMS's Encrypt,
//! Decrypt and GenerateDataKey(WithoutPlaintext) over a managed key's versions, producing and
//! opening blobs byte-compatible with Alibaba Cloud KMS (`kms::envelope`). AES keys seal with
//! AES-GCM, SM4 keys with SM4-GCM.
//!
//! Encrypt, wrap and data keys use the primary version; decrypt and unwrap use whichever version
//! the blob names, provided it is one of this key's.

use super::block_modes::{
    self, Codes, DECRYPTING, ENCRYPTING, UNWRAPPING, WRAPPING, block_key, failed, finish_wrap, room,
};
use super::{Buffered, Cipher, Info, LoadedKey, Mechanism, OneShot, Param, Versions};
use crate::error::{Error, Result};
use crate::kms::KmsError;
use crate::kms::envelope::{
    self, AAD_LEN, Blob, HEADER_LEN, IV_LEN, MAX_BLOB, MAX_PLAINTEXT, OVERHEAD, VERSION_ID_LEN,
};
use crate::kms::names::{DATA_KEY_MAX, data_key_len};
use crate::vendor::{CKM_KMS_DATA_KEY_WITHOUT_PLAINTEXT, CKM_KMS_ENVELOPE};
use cryptoki_sys::*;
use std::sync::Arc;
use zeroize::Zeroizing;

/// AES-128 to AES-256 and SM4 keys.
const MIN_KEY: u64 = 16;
const MAX_KEY: u64 = 32;

pub const MECHANISMS: &[(CK_MECHANISM_TYPE, Info)] = &[
    (CKM_KMS_ENVELOPE, Info::new(MIN_KEY, MAX_KEY, CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP)),
    (CKM_KMS_DATA_KEY_WITHOUT_PLAINTEXT, Info::new(MIN_KEY, MAX_KEY, CKF_ENCRYPT)),
];

/// The longest Base64 text of a data key.
const DATA_KEY_TEXT_MAX: usize = envelope::data_key_text_len(DATA_KEY_MAX);

/// The AAD of an encryption context; `None` for an absent or empty one.
type Aad = Option<[u8; AAD_LEN]>;

fn aad_bytes(aad: &Aad) -> &[u8] {
    aad.as_ref().map_or(&[], |a| a.as_slice())
}

fn param_invalid(e: KmsError) -> Error {
    log::info!("{e}");
    Error::MechanismParamInvalid
}

/// The context parameter of `CKM_KMS_ENVELOPE`: none, or the JSON bytes.
fn envelope_aad(mech: &Mechanism) -> Result<Aad> {
    match &mech.param {
        Param::None => Ok(None),
        Param::Bytes(json) => envelope::aad_of(json).map_err(param_invalid),
        _ => Err(Error::MechanismParamInvalid),
    }
}

/// The primary version: its id as blob bytes and its key. `wrong_type` is the code for a key
/// that neither AES nor SM4 (it depends on the function: encrypt, wrap, unwrap).
fn primary(versions: &Versions, wrong_type: Error) -> Result<(&[u8; VERSION_ID_LEN], &Arc<LoadedKey>)> {
    // The token hands over only managed keys, which always have a primary version with a UUID
    // id; anything else is its bug, not the caller's.
    let Some((id, key)) = versions.0.first() else {
        log::error!("KMS envelope: a key without versions");
        return Err(Error::GeneralError);
    };
    let id = envelope::version_id_bytes(id).map_err(|e| {
        log::error!("KMS envelope: primary version: {e}");
        Error::GeneralError
    })?;
    block_key(key).map_err(|_| wrong_type)?;
    Ok((id, key))
}

/// Seals `plaintext` into a blob in `out` under the given version, with a fresh random IV.
fn seal(
    id: &[u8; VERSION_ID_LEN],
    key: &LoadedKey,
    aad: &Aad,
    plaintext: &[u8],
    out: &mut [u8],
    codes: Codes,
) -> Result<usize> {
    // A GCM IV must never repeat under one key; 96 random bits per blob is what the KMS does
    // and keeps the chance of a repeat negligible well beyond any key's lifetime of use.
    let iv: [u8; IV_LEN] = crate::engine::rand::array().map_err(failed)?;
    seal_with_iv(id, key, &iv, aad, plaintext, out, codes)
}

fn seal_with_iv(
    id: &[u8; VERSION_ID_LEN],
    key: &LoadedKey,
    iv: &[u8; IV_LEN],
    aad: &Aad,
    plaintext: &[u8],
    out: &mut [u8],
    codes: Codes,
) -> Result<usize> {
    let cipher = block_key(key)?;
    let total = envelope::blob_len(plaintext.len());
    let (header, sealed) = room(out, total)?.split_at_mut(HEADER_LEN);
    header[..VERSION_ID_LEN].copy_from_slice(id);
    header[VERSION_ID_LEN..].copy_from_slice(iv);
    block_modes::gcm_seal(cipher, iv, aad_bytes(aad), plaintext, sealed, codes)?;
    Ok(total)
}

/// Opens a blob with the version it names, which must be one of `versions`.
///
/// A blob shorter than its fixed parts, or longer than any Encrypt makes, is a length error
/// (`codes.len`); one that does not start with a version id, names a version of another key,
/// or fails the tag (tampered, other context) is invalid (`codes.invalid`).
fn open(versions: &Versions, aad: &Aad, blob: &[u8], out: &mut [u8], codes: Codes) -> Result<usize> {
    if !(OVERHEAD..=MAX_BLOB).contains(&blob.len()) {
        return Err(codes.len);
    }
    let blob = Blob::parse(blob).map_err(|_| codes.invalid)?;
    let (_, key) = versions.0.iter().find(|(id, _)| id == blob.version_id).ok_or(codes.invalid)?;
    block_modes::gcm_open(block_key(key)?, blob.iv, aad_bytes(aad), blob.sealed, out, codes)
}

/// KMS Encrypt.
struct Seal {
    id: [u8; VERSION_ID_LEN],
    key: Arc<LoadedKey>,
    aad: Aad,
}

impl OneShot for Seal {
    fn len(&self, input_len: usize) -> usize {
        envelope::blob_len(input_len)
    }

    fn run(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        // Empty plaintext is sealed like any other: GCM authenticates it, the blob is just the
        // fixed parts, and PKCS#11 callers may legitimately encrypt nothing.
        if input.len() > MAX_PLAINTEXT {
            return Err(Error::DataLenRange);
        }
        seal(&self.id, &self.key, &self.aad, input, out, ENCRYPTING)
    }
}

/// KMS Decrypt.
struct Open {
    versions: Arc<Versions>,
    aad: Aad,
}

impl OneShot for Open {
    fn len(&self, input_len: usize) -> usize {
        input_len.saturating_sub(OVERHEAD)
    }

    fn run(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        open(&self.versions, &self.aad, input, out, DECRYPTING)
    }
}

/// GenerateDataKeyWithoutPlaintext.
struct DataKey {
    id: [u8; VERSION_ID_LEN],
    key: Arc<LoadedKey>,
    aad: Aad,
    len: usize,
}

impl OneShot for DataKey {
    fn len(&self, _input_len: usize) -> usize {
        envelope::blob_len(envelope::data_key_text_len(self.len))
    }

    fn run(&mut self, input: &[u8], out: &mut [u8]) -> Result<usize> {
        if !input.is_empty() {
            return Err(Error::DataLenRange);
        }
        // On the stack, wiped on return: the data key is never anywhere else in the clear.
        let mut key = Zeroizing::new([0u8; DATA_KEY_MAX]);
        let key = key.get_mut(..self.len).ok_or(Error::GeneralError)?;
        crate::engine::rand::fill(key).map_err(failed)?;
        let mut text = Zeroizing::new([0u8; DATA_KEY_TEXT_MAX]);
        let n = envelope::data_key_text_into(key, &mut *text).map_err(failed)?;
        seal(&self.id, &self.key, &self.aad, &text[..n], out, ENCRYPTING)
    }
}

fn data_key_params(param: &Param) -> Result<(usize, Aad)> {
    match param {
        // No parameter: GenerateDataKey's defaults, 32 bytes and no context.
        Param::None => Ok((data_key_len(None).map_err(param_invalid)?, None)),
        Param::DataKey { len, context } => {
            let len = data_key_len((*len != 0).then_some(*len)).map_err(param_invalid)?;
            Ok((len, envelope::aad_of(context).map_err(param_invalid)?))
        }
        _ => Err(Error::MechanismParamInvalid),
    }
}

pub fn cipher_init(m: &Mechanism, versions: &Arc<Versions>, encrypt: bool) -> Result<Box<dyn Cipher>> {
    match (m.ty, encrypt) {
        (CKM_KMS_ENVELOPE, true) => {
            let aad = envelope_aad(m)?;
            let (id, key) = primary(versions, Error::KeyTypeInconsistent)?;
            Ok(Box::new(Buffered::new(Seal { id: *id, key: key.clone(), aad })))
        }
        (CKM_KMS_ENVELOPE, false) => {
            let aad = envelope_aad(m)?;
            primary(versions, Error::KeyTypeInconsistent)?;
            Ok(Box::new(Buffered::new(Open { versions: versions.clone(), aad })))
        }
        (CKM_KMS_DATA_KEY_WITHOUT_PLAINTEXT, true) => {
            let (len, aad) = data_key_params(&m.param)?;
            let (id, key) = primary(versions, Error::KeyTypeInconsistent)?;
            Ok(Box::new(Buffered::new(DataKey { id: *id, key: key.clone(), aad, len })))
        }
        _ => Err(Error::MechanismInvalid),
    }
}

/// The longest key material a blob can carry: its Base64 text must fit Encrypt's 6 KiB. More
/// than GenerateDataKey's 1024 bytes, so that private keys (PKCS#8 RSA-4096 is about 2.4 KB)
/// can be wrapped too.
const MAX_WRAPPED_MATERIAL: usize = MAX_PLAINTEXT / 4 * 3;

fn wrap_aad(m: &Mechanism) -> Result<Aad> {
    if m.ty != CKM_KMS_ENVELOPE {
        return Err(Error::MechanismInvalid);
    }
    envelope_aad(m)
}

pub fn wrap_len(m: &Mechanism, versions: &Versions, len: usize) -> Result<usize> {
    wrap_aad(m)?;
    primary(versions, Error::WrappingKeyTypeInconsistent)?;
    Ok(envelope::blob_len(envelope::data_key_text_len(len)))
}

/// Seals key material as GenerateDataKey does: the blob of its Base64 text.
pub fn wrap(m: &Mechanism, versions: &Versions, material: &[u8]) -> Result<Vec<u8>> {
    let aad = wrap_aad(m)?;
    let (id, key) = primary(versions, Error::WrappingKeyTypeInconsistent)?;
    if material.is_empty() || material.len() > MAX_WRAPPED_MATERIAL {
        return Err(Error::KeySizeRange);
    }
    let text = envelope::data_key_text(material);
    let mut out = vec![0u8; envelope::blob_len(text.len())];
    let done = seal(id, key, &aad, &text, &mut out, WRAPPING);
    finish_wrap(out, done)
}

/// Opens a data-key blob and decodes its Base64 text to the key material.
pub fn unwrap(m: &Mechanism, versions: &Versions, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let aad = wrap_aad(m)?;
    primary(versions, Error::UnwrappingKeyTypeInconsistent)?;
    let mut text = Zeroizing::new(vec![0u8; envelope::plaintext_len(wrapped.len()).unwrap_or(0)]);
    let n = open(versions, &aad, wrapped, &mut text, UNWRAPPING)?;
    text.truncate(n);
    match envelope::data_key_from_text(&text) {
        Ok(key) if !key.is_empty() => Ok(key),
        // Authentic, so made by a holder of the key — but not by a wrap or a data key.
        _ => Err(Error::WrappedKeyInvalid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::aes::AesKey;
    use crate::engine::sm4::Sm4Key;

    const V1: &str = "11111111-2222-4333-8444-555555555555";
    const V2: &str = "0f6f5a5e-7c64-4b27-9d5e-2a8c11f0b9a1";
    const FOREIGN: &str = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
    const CONTEXT: &[u8] = br#"{"user":"alice","purpose":"test"}"#;

    fn aes(fill: u8) -> Arc<LoadedKey> {
        Arc::new(LoadedKey::Aes(AesKey::new(&[fill; 32]).unwrap()))
    }

    fn sm4(fill: u8) -> Arc<LoadedKey> {
        Arc::new(LoadedKey::Sm4(Sm4Key::new(&[fill; 16]).unwrap()))
    }

    /// Newest first: the primary is the first.
    fn versions(keys: &[(&str, Arc<LoadedKey>)]) -> Arc<Versions> {
        Arc::new(Versions(keys.iter().map(|(id, k)| (id.to_string(), k.clone())).collect()))
    }

    fn mech(context: Option<&[u8]>) -> Mechanism {
        match context {
            None => Mechanism::new(CKM_KMS_ENVELOPE),
            Some(c) => Mechanism::with(CKM_KMS_ENVELOPE, Param::Bytes(c.to_vec())),
        }
    }

    fn run(m: &Mechanism, v: &Arc<Versions>, encrypt: bool, input: &[u8]) -> Result<Vec<u8>> {
        let mut c = cipher_init(m, v, encrypt)?;
        let mut out = vec![0u8; c.len(input.len())];
        let n = c.run(input, &mut out)?;
        out.truncate(n);
        Ok(out)
    }

    fn encrypt(v: &Arc<Versions>, context: Option<&[u8]>, pt: &[u8]) -> Vec<u8> {
        run(&mech(context), v, true, pt).unwrap()
    }

    fn decrypt(v: &Arc<Versions>, context: Option<&[u8]>, blob: &[u8]) -> Result<Vec<u8>> {
        run(&mech(context), v, false, blob)
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn mechanism_info() {
        let info = |t| MECHANISMS.iter().find(|(ty, _)| *ty == t).map(|(_, i)| *i).unwrap();
        assert_eq!(
            info(CKM_KMS_ENVELOPE),
            Info::new(16, 32, CKF_ENCRYPT | CKF_DECRYPT | CKF_WRAP | CKF_UNWRAP)
        );
        assert_eq!(info(CKM_KMS_DATA_KEY_WITHOUT_PLAINTEXT), Info::new(16, 32, CKF_ENCRYPT));
    }

    #[test]
    fn round_trips_with_aes_and_sm4() {
        for key in [aes(1), sm4(2), Arc::new(LoadedKey::Aes(AesKey::new(&[3; 16]).unwrap()))] {
            let v = versions(&[(V1, key)]);
            for ctx in [None, Some(CONTEXT)] {
                for pt in [&b""[..], b"x", &[0x5a; 1024], &[7; MAX_PLAINTEXT]] {
                    let blob = encrypt(&v, ctx, pt);
                    assert_eq!(blob.len(), pt.len() + OVERHEAD);
                    assert_eq!(&blob[..36], V1.as_bytes());
                    assert_eq!(decrypt(&v, ctx, &blob).unwrap(), pt);
                }
            }
        }
    }

    #[test]
    fn every_encryption_has_a_fresh_iv() {
        let v = versions(&[(V1, aes(1))]);
        let a = encrypt(&v, None, b"same");
        let b = encrypt(&v, None, b"same");
        assert_ne!(a[36..48], b[36..48]);
        assert_ne!(a, b);
    }

    #[test]
    fn multi_part_buffers() {
        let v = versions(&[(V1, sm4(4))]);
        let mut c = cipher_init(&mech(Some(CONTEXT)), &v, true).unwrap();
        assert_eq!(c.update(b"hello ", &mut []).unwrap(), 0);
        assert_eq!(c.update(b"world", &mut []).unwrap(), 0);
        let mut blob = vec![0u8; c.final_len()];
        let n = c.finish(&mut blob).unwrap();
        assert_eq!(n, 11 + OVERHEAD);
        let mut d = cipher_init(&mech(Some(CONTEXT)), &v, false).unwrap();
        d.update(&blob[..20], &mut []).unwrap();
        d.update(&blob[20..], &mut []).unwrap();
        let mut out = vec![0u8; d.final_len()];
        let n = d.finish(&mut out).unwrap();
        assert_eq!(&out[..n], b"hello world");
    }

    #[test]
    fn encrypt_uses_the_primary_and_decrypt_any_version() {
        let old = versions(&[(V1, aes(1))]);
        let blob_v1 = encrypt(&old, Some(CONTEXT), b"before rotation");
        // Rotated: V2 is the primary now, V1 still decrypts.
        let rotated = versions(&[(V2, aes(2)), (V1, aes(1))]);
        let blob_v2 = encrypt(&rotated, Some(CONTEXT), b"after rotation");
        assert_eq!(&blob_v2[..36], V2.as_bytes());
        assert_eq!(decrypt(&rotated, Some(CONTEXT), &blob_v1).unwrap(), b"before rotation");
        assert_eq!(decrypt(&rotated, Some(CONTEXT), &blob_v2).unwrap(), b"after rotation");
        // A version object of the key knows only its own version.
        assert_eq!(decrypt(&old, Some(CONTEXT), &blob_v2), Err(Error::EncryptedDataInvalid));
    }

    #[test]
    fn a_foreign_version_is_invalid() {
        let theirs = versions(&[(FOREIGN, aes(1))]);
        let ours = versions(&[(V2, aes(1)), (V1, aes(1))]);
        // Same key bytes even: the version decides.
        let blob = encrypt(&theirs, None, b"data");
        assert_eq!(decrypt(&ours, None, &blob), Err(Error::EncryptedDataInvalid));
        // Relabelled as ours, the key is right but nothing else is checked by the label: the
        // tag still holds, as in the KMS, where the version only selects the key.
        let mut relabelled = blob.clone();
        relabelled[..36].copy_from_slice(V1.as_bytes());
        assert_eq!(decrypt(&ours, None, &relabelled).unwrap(), b"data");
        // With a different key behind the label, the tag fails.
        let other = versions(&[(V1, aes(9))]);
        assert_eq!(decrypt(&other, None, &relabelled), Err(Error::EncryptedDataInvalid));
    }

    #[test]
    fn the_context_must_match() {
        let v = versions(&[(V1, aes(1))]);
        let blob = encrypt(&v, Some(CONTEXT), b"secret");
        assert_eq!(decrypt(&v, None, &blob), Err(Error::EncryptedDataInvalid));
        assert_eq!(decrypt(&v, Some(b"{}"), &blob), Err(Error::EncryptedDataInvalid));
        assert_eq!(
            decrypt(&v, Some(br#"{"user":"bob","purpose":"test"}"#), &blob),
            Err(Error::EncryptedDataInvalid)
        );
        assert_eq!(decrypt(&v, Some(br#"{"user":"alice"}"#), &blob), Err(Error::EncryptedDataInvalid));
        // Order and spacing do not matter.
        assert_eq!(
            decrypt(&v, Some(br#"{ "purpose": "test", "user": "alice" }"#), &blob).unwrap(),
            b"secret"
        );
        // No context and the empty context are the same thing.
        let plain = encrypt(&v, None, b"open");
        assert_eq!(decrypt(&v, Some(b"{}"), &plain).unwrap(), b"open");
        assert_eq!(decrypt(&v, Some(b""), &plain).unwrap(), b"open");
        assert_eq!(decrypt(&v, Some(CONTEXT), &plain), Err(Error::EncryptedDataInvalid));
    }

    #[test]
    fn a_bad_context_is_a_bad_parameter() {
        let v = versions(&[(V1, aes(1))]);
        for bad in [&br#"{"a":1}"#[..], br#"{"a":"1","a":"2"}"#, b"[]", b"{", b"\xff"] {
            for encrypt in [true, false] {
                assert_eq!(
                    cipher_init(&mech(Some(bad)), &v, encrypt).err(),
                    Some(Error::MechanismParamInvalid)
                );
            }
            let m = mech(Some(bad));
            assert_eq!(wrap(&m, &v, &[1; 32]), Err(Error::MechanismParamInvalid));
            assert_eq!(unwrap(&m, &v, &[0; 100]).err(), Some(Error::MechanismParamInvalid));
        }
        let gcm = Mechanism::with(CKM_KMS_ENVELOPE, Param::Ulong(1));
        assert_eq!(cipher_init(&gcm, &v, true).err(), Some(Error::MechanismParamInvalid));
    }

    #[test]
    fn a_tampered_blob_is_invalid() {
        let v = versions(&[(V1, sm4(5))]);
        let blob = encrypt(&v, Some(CONTEXT), b"do not touch");
        for i in 36..blob.len() {
            let mut bad = blob.clone();
            bad[i] ^= 0x01;
            assert_eq!(decrypt(&v, Some(CONTEXT), &bad), Err(Error::EncryptedDataInvalid), "byte {i}");
        }
        // A version id that is no UUID.
        let mut bad = blob.clone();
        bad[8] = b'x';
        assert_eq!(decrypt(&v, Some(CONTEXT), &bad), Err(Error::EncryptedDataInvalid));
        // Cut short: still long enough to be a blob, the tag fails; shorter, a length error.
        assert_eq!(decrypt(&v, Some(CONTEXT), &blob[..blob.len() - 1]), Err(Error::EncryptedDataInvalid));
        for n in [0, 36, 48, OVERHEAD - 1] {
            assert_eq!(decrypt(&v, Some(CONTEXT), &blob[..n]), Err(Error::EncryptedDataLenRange), "{n}");
        }
        let mut long = blob.clone();
        long.resize(MAX_BLOB + 1, 0);
        assert_eq!(decrypt(&v, Some(CONTEXT), &long), Err(Error::EncryptedDataLenRange));
    }

    #[test]
    fn six_kib_at_most() {
        let v = versions(&[(V1, aes(1))]);
        let blob = encrypt(&v, None, &[1; MAX_PLAINTEXT]);
        assert_eq!(blob.len(), MAX_BLOB);
        assert_eq!(run(&mech(None), &v, true, &[1; MAX_PLAINTEXT + 1]), Err(Error::DataLenRange));
        // Multi-part too.
        let mut c = cipher_init(&mech(None), &v, true).unwrap();
        c.update(&[1; MAX_PLAINTEXT], &mut []).unwrap();
        c.update(&[1], &mut []).unwrap();
        let mut out = vec![0u8; c.final_len()];
        assert_eq!(c.finish(&mut out), Err(Error::DataLenRange));
    }

    #[test]
    fn keys_of_other_types_are_inconsistent() {
        let generic =
            Arc::new(LoadedKey::Generic { key_type: CKK_GENERIC_SECRET, value: Zeroizing::new(vec![1; 32]) });
        let v = versions(&[(V1, generic)]);
        let dk = Mechanism::new(CKM_KMS_DATA_KEY_WITHOUT_PLAINTEXT);
        for (m, encrypt) in [(mech(None), true), (mech(None), false), (dk, true)] {
            assert_eq!(cipher_init(&m, &v, encrypt).err(), Some(Error::KeyTypeInconsistent));
        }
        assert_eq!(wrap_len(&mech(None), &v, 32), Err(Error::WrappingKeyTypeInconsistent));
        assert_eq!(wrap(&mech(None), &v, &[1; 32]), Err(Error::WrappingKeyTypeInconsistent));
        assert_eq!(unwrap(&mech(None), &v, &[0; 100]).err(), Some(Error::UnwrappingKeyTypeInconsistent));
        // No versions at all is the token's bug.
        let none = Arc::new(Versions(Vec::new()));
        assert_eq!(cipher_init(&mech(None), &none, true).err(), Some(Error::GeneralError));
    }

    #[test]
    fn other_mechanisms_and_directions_are_refused() {
        let v = versions(&[(V1, aes(1))]);
        let dk = Mechanism::new(CKM_KMS_DATA_KEY_WITHOUT_PLAINTEXT);
        assert_eq!(cipher_init(&dk, &v, false).err(), Some(Error::MechanismInvalid));
        assert_eq!(cipher_init(&Mechanism::new(CKM_AES_GCM), &v, true).err(), Some(Error::MechanismInvalid));
        assert_eq!(wrap(&dk, &v, &[1; 32]), Err(Error::MechanismInvalid));
        assert_eq!(wrap_len(&dk, &v, 32), Err(Error::MechanismInvalid));
    }

    fn data_key_mech(len: u64, context: &[u8]) -> Mechanism {
        Mechanism::with(CKM_KMS_DATA_KEY_WITHOUT_PLAINTEXT, Param::DataKey { len, context: context.to_vec() })
    }

    #[test]
    fn data_key_blobs_decrypt_to_base64_of_len_bytes() {
        let v = versions(&[(V1, aes(1))]);
        for (len, expect) in [(0u64, 32usize), (1, 1), (16, 16), (32, 32), (1024, 1024)] {
            let blob = run(&data_key_mech(len, CONTEXT), &v, true, b"").unwrap();
            assert_eq!(blob.len(), OVERHEAD + envelope::data_key_text_len(expect));
            let text = decrypt(&v, Some(CONTEXT), &blob).unwrap();
            let key = envelope::data_key_from_text(&text).unwrap();
            assert_eq!(key.len(), expect);
            // And the same blob unwraps to the key.
            assert_eq!(*unwrap(&mech(Some(CONTEXT)), &v, &blob).unwrap(), *key);
        }
        let a = run(&data_key_mech(32, b""), &v, true, b"").unwrap();
        let b = run(&data_key_mech(32, b""), &v, true, b"").unwrap();
        assert_ne!(decrypt(&v, None, &a).unwrap(), decrypt(&v, None, &b).unwrap());
        // No parameter: 32 bytes, no context.
        let blob = run(&Mechanism::new(CKM_KMS_DATA_KEY_WITHOUT_PLAINTEXT), &v, true, b"").unwrap();
        assert_eq!(envelope::data_key_from_text(&decrypt(&v, None, &blob).unwrap()).unwrap().len(), 32);
    }

    #[test]
    fn data_key_rules() {
        let v = versions(&[(V1, sm4(1))]);
        for len in [1025, u64::MAX] {
            assert_eq!(
                cipher_init(&data_key_mech(len, b""), &v, true).err(),
                Some(Error::MechanismParamInvalid)
            );
        }
        assert_eq!(cipher_init(&data_key_mech(32, b"{"), &v, true).err(), Some(Error::MechanismParamInvalid));
        let bytes = Mechanism::with(CKM_KMS_DATA_KEY_WITHOUT_PLAINTEXT, Param::Bytes(CONTEXT.to_vec()));
        assert_eq!(cipher_init(&bytes, &v, true).err(), Some(Error::MechanismParamInvalid));
        assert_eq!(run(&data_key_mech(32, b""), &v, true, b"x"), Err(Error::DataLenRange));
        // Multi-part of nothing.
        let mut c = cipher_init(&data_key_mech(16, b""), &v, true).unwrap();
        c.update(b"", &mut []).unwrap();
        let mut out = vec![0u8; c.final_len()];
        let n = c.finish(&mut out).unwrap();
        assert_eq!(n, OVERHEAD + 24);
    }

    #[test]
    fn wrap_and_unwrap() {
        let v = versions(&[(V2, aes(2)), (V1, aes(1))]);
        let m = mech(Some(CONTEXT));
        for len in [1, 16, 32, 1024, MAX_WRAPPED_MATERIAL] {
            let material: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let blob = wrap(&m, &v, &material).unwrap();
            assert_eq!(blob.len(), wrap_len(&m, &v, len).unwrap());
            assert_eq!(&blob[..36], V2.as_bytes());
            // GenerateDataKey's form: decrypting gives the Base64 text.
            assert_eq!(*decrypt(&v, Some(CONTEXT), &blob).unwrap(), *envelope::data_key_text(&material));
            assert_eq!(*unwrap(&m, &v, &blob).unwrap(), material);
        }
        assert_eq!(wrap(&m, &v, &[]), Err(Error::KeySizeRange));
        assert_eq!(wrap(&m, &v, &vec![1; MAX_WRAPPED_MATERIAL + 1]), Err(Error::KeySizeRange));
        let blob = wrap(&m, &v, &[9; 32]).unwrap();
        assert_eq!(unwrap(&mech(None), &v, &blob).err(), Some(Error::WrappedKeyInvalid));
        let mut bad = blob.clone();
        bad[50] ^= 1;
        assert_eq!(unwrap(&m, &v, &bad).err(), Some(Error::WrappedKeyInvalid));
        assert_eq!(unwrap(&m, &versions(&[(FOREIGN, aes(2))]), &blob).err(), Some(Error::WrappedKeyInvalid));
        assert_eq!(unwrap(&m, &v, &blob[..40]).err(), Some(Error::WrappedKeyLenRange));
        // Authentic but not Base64, or empty: not a wrapped key.
        for text in [&b"not base64!"[..], b""] {
            let blob = encrypt(&v, Some(CONTEXT), text);
            assert_eq!(unwrap(&m, &v, &blob).err(), Some(Error::WrappedKeyInvalid));
        }
    }

    // Made once with Python's `cryptography` (48.0.0), independently of this code:
    //   key = bytes(range(32)); iv = bytes.fromhex("000102030405060708090a0b")
    //   aad = sha256(b"purpose=test&user=alice")
    //   blob = V1.encode() + iv + AESGCM(key).encrypt(iv, b"Hello from Python, sealed for KMS", aad)
    // and for SM4 the same with key bytes(range(16)) and SM4-GCM (Cipher(SM4(key), GCM(iv))).
    const PY_AES_BLOB: &str = concat!(
        "31313131313131312d323232322d343333332d383434342d35353535353535353535353500010203",
        "0405060708090a0b0f67ba77aac5a469e22cb7dbc89d1002edfaa747951a33195c4783ea6f494bff",
        "52881743ba5908fed1ab98d2f58a689a02",
    );
    const PY_SM4_BLOB: &str = concat!(
        "31313131313131312d323232322d343333332d383434342d35353535353535353535353500010203",
        "0405060708090a0bdf23b297a64ae37290f1541da8cf91094fbb21b85468799293c8a42370fec59c",
        "d8c873924acc4d740b3a422606f5a61aa5",
    );
    const PY_PLAINTEXT: &[u8] = b"Hello from Python, sealed for KMS";
    const PY_IV: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];

    fn py_aes() -> Arc<LoadedKey> {
        Arc::new(LoadedKey::Aes(AesKey::new(&(0..32).collect::<Vec<u8>>()).unwrap()))
    }

    fn py_sm4() -> Arc<LoadedKey> {
        Arc::new(LoadedKey::Sm4(Sm4Key::new(&(0..16).collect::<Vec<u8>>()).unwrap()))
    }

    #[test]
    fn opens_blobs_made_by_python() {
        for (hex, key) in [(PY_AES_BLOB, py_aes()), (PY_SM4_BLOB, py_sm4())] {
            let blob = unhex(hex);
            // As an older version of a rotated key.
            let v = versions(&[(V2, aes(7)), (V1, key)]);
            assert_eq!(decrypt(&v, Some(CONTEXT), &blob).unwrap(), PY_PLAINTEXT);
            assert_eq!(decrypt(&v, None, &blob), Err(Error::EncryptedDataInvalid));
        }
    }

    #[test]
    fn seals_what_python_seals() {
        // With Python's IV, the library's blob is byte for byte Python's: so Python opens the
        // library's blobs, whose only other difference is a random IV (checked by hand once:
        // Python opened random-IV AES and SM4 blobs of `encrypt`; the C-ABI test repeats it).
        for (hex, key) in [(PY_AES_BLOB, py_aes()), (PY_SM4_BLOB, py_sm4())] {
            let aad = envelope::aad_of(CONTEXT).unwrap();
            let id = envelope::version_id_bytes(V1).unwrap();
            let mut out = vec![0u8; envelope::blob_len(PY_PLAINTEXT.len())];
            let n = seal_with_iv(id, &key, &PY_IV, &aad, PY_PLAINTEXT, &mut out, ENCRYPTING).unwrap();
            assert_eq!(out[..n], unhex(hex));
        }
    }
}
