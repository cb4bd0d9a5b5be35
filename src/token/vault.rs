//! The token master key: a random AES-256 key that seals every secret attribute at rest
//! (AES-256-GCM, AAD binding the object's unique id and the attribute type, DESIGN §5).

use crate::error::{Error, Result};
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use cryptoki_sys::CK_ATTRIBUTE_TYPE;
use zeroize::Zeroizing;

const TAG_LEN: usize = 16;

pub struct MasterKey {
    bytes: Zeroizing<[u8; 32]>,
    aead: LessSafeKey,
}

impl MasterKey {
    pub fn generate() -> Result<MasterKey> {
        let bytes: [u8; 32] = crate::engine::rand::array().map_err(|_| Error::FunctionFailed)?;
        MasterKey::from_bytes(Zeroizing::new(bytes))
    }

    pub fn from_bytes(bytes: Zeroizing<[u8; 32]>) -> Result<MasterKey> {
        let key = UnboundKey::new(&AES_256_GCM, &bytes[..]).map_err(|_| Error::GeneralError)?;
        Ok(MasterKey { bytes, aead: LessSafeKey::new(key) })
    }

    pub fn bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    fn aad(uid: &str, ty: CK_ATTRIBUTE_TYPE) -> Vec<u8> {
        let mut aad = Vec::with_capacity(uid.len() + 8);
        aad.extend_from_slice(uid.as_bytes());
        aad.extend_from_slice(&ty.to_le_bytes());
        aad
    }

    /// Seals one attribute value of object `uid`: nonce ‖ ciphertext ‖ tag.
    pub fn seal(&self, uid: &str, ty: CK_ATTRIBUTE_TYPE, value: &[u8]) -> Result<Vec<u8>> {
        let nonce: [u8; NONCE_LEN] = crate::engine::rand::array().map_err(|_| Error::FunctionFailed)?;
        let mut out = Vec::with_capacity(NONCE_LEN + value.len() + TAG_LEN);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(value);
        let tag = self
            .aead
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(Self::aad(uid, ty)),
                &mut out[NONCE_LEN..],
            )
            .map_err(|_| Error::GeneralError)?;
        out.extend_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Opens a sealed value; a value moved to another object or attribute, or altered, fails.
    pub fn unseal(&self, uid: &str, ty: CK_ATTRIBUTE_TYPE, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        if sealed.len() < NONCE_LEN + TAG_LEN {
            log::error!("sealed attribute {ty:#x} of object {uid} is truncated");
            return Err(Error::DeviceError);
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| Error::DeviceError)?;
        let mut buf = Zeroizing::new(rest.to_vec());
        let len = self
            .aead
            .open_in_place(nonce, Aad::from(Self::aad(uid, ty)), &mut buf)
            .map_err(|_| {
                log::error!("sealed attribute {ty:#x} of object {uid} does not open under the master key");
                Error::DeviceError
            })?
            .len();
        buf.truncate(len);
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cryptoki_sys::{CKA_PRIME_1, CKA_VALUE};

    #[test]
    fn seal_binds_object_and_attribute() {
        let mk = MasterKey::generate().unwrap();
        let s = mk.seal("uid-1", CKA_VALUE, b"secret").unwrap();
        assert!(!s.windows(6).any(|w| w == b"secret"));
        assert_eq!(&mk.unseal("uid-1", CKA_VALUE, &s).unwrap()[..], b"secret");
        assert_eq!(mk.unseal("uid-2", CKA_VALUE, &s).unwrap_err(), Error::DeviceError);
        assert_eq!(mk.unseal("uid-1", CKA_PRIME_1, &s).unwrap_err(), Error::DeviceError);
        let mut t = s.clone();
        t[14] ^= 1;
        assert_eq!(mk.unseal("uid-1", CKA_VALUE, &t).unwrap_err(), Error::DeviceError);
        assert_eq!(mk.unseal("uid-1", CKA_VALUE, &s[..10]).unwrap_err(), Error::DeviceError);
    }

    #[test]
    fn another_master_key_cannot_open() {
        let a = MasterKey::generate().unwrap();
        let b = MasterKey::generate().unwrap();
        let s = a.seal("u", CKA_VALUE, b"k").unwrap();
        assert!(b.unseal("u", CKA_VALUE, &s).is_err());
    }
}
