//! PINs: the token master key wrapped under a key derived from each PIN with Argon2id, and a
//! per-process cache that makes a repeated login with the same PIN cheap. The cache holds the
//! derived key under a MAC of the PIN (never the PIN); a different PIN, or a PIN record
//! rewritten by another process (new salt), misses it and pays the full derivation.

use super::vault::MasterKey;
use crate::config::PinConfig;
use crate::error::{Error, Result};
use crate::store::PinOwner;
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use zeroize::Zeroizing;

/// Binds a wrapped master key to its purpose.
const WRAP_AAD: &[u8] = b"kms-pkcs11 master key v1";

/// A PIN record as stored: Argon2id parameters, salt and the wrapped master key.
#[derive(Serialize, Deserialize)]
struct PinRecord {
    version: u8,
    salt: [u8; 16],
    memory_kib: u32,
    iterations: u32,
    lanes: u32,
    nonce: [u8; 12],
    wrapped: Vec<u8>,
}

/// A key derived from a PIN.
type Kek = Zeroizing<[u8; 32]>;

fn derive(pin: &[u8], rec: &PinRecord) -> Result<Kek> {
    let params = argon2::Params::new(rec.memory_kib, rec.iterations, rec.lanes, Some(32)).map_err(|e| {
        log::error!("PIN record has unusable Argon2id parameters: {e}");
        Error::DeviceError
    })?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = Zeroizing::new([0u8; 32]);
    argon.hash_password_into(pin, &rec.salt, &mut out[..]).map_err(|e| {
        log::error!("Argon2id failed: {e}");
        Error::DeviceError
    })?;
    Ok(out)
}

fn aead(kek: &Kek) -> Result<LessSafeKey> {
    UnboundKey::new(&AES_256_GCM, &kek[..]).map(LessSafeKey::new).map_err(|_| Error::GeneralError)
}

fn open(rec: &PinRecord, kek: &Kek) -> Option<MasterKey> {
    let key = aead(kek).ok()?;
    let mut buf = Zeroizing::new(rec.wrapped.clone());
    let plain =
        key.open_in_place(Nonce::assume_unique_for_key(rec.nonce), Aad::from(WRAP_AAD), &mut buf).ok()?;
    let bytes: [u8; 32] = plain.try_into().ok()?;
    MasterKey::from_bytes(Zeroizing::new(bytes)).ok()
}

fn decode(record: &[u8]) -> Result<PinRecord> {
    let rec: PinRecord = postcard::from_bytes(record).map_err(|_| {
        log::error!("PIN record in the token store is unreadable");
        Error::DeviceError
    })?;
    if rec.version != 1 {
        log::error!("PIN record version {} is not supported", rec.version);
        return Err(Error::DeviceError);
    }
    Ok(rec)
}

/// Wraps the master key under `pin`; returns the record to store.
pub fn wrap(
    mk: &MasterKey,
    pin: &[u8],
    cfg: &PinConfig,
    cache: &PinCache,
    owner: PinOwner,
) -> Result<Vec<u8>> {
    let mut rec = PinRecord {
        version: 1,
        salt: crate::engine::rand::array().map_err(|_| Error::FunctionFailed)?,
        memory_kib: cfg.argon2_memory_kib,
        iterations: cfg.argon2_iterations,
        lanes: cfg.argon2_lanes,
        nonce: crate::engine::rand::array().map_err(|_| Error::FunctionFailed)?,
        wrapped: Vec::new(),
    };
    let kek = derive(pin, &rec)?;
    let mut buf = mk.bytes().to_vec();
    let tag = aead(&kek)?
        .seal_in_place_separate_tag(Nonce::assume_unique_for_key(rec.nonce), Aad::from(WRAP_AAD), &mut buf)
        .map_err(|_| Error::GeneralError)?;
    buf.extend_from_slice(tag.as_ref());
    rec.wrapped = buf;
    cache.remember(owner, pin, rec.salt, kek);
    postcard::to_allocvec(&rec).map_err(|_| Error::GeneralError)
}

/// Opens the master key with `pin`: `Ok(None)` means the PIN is wrong.
pub fn unwrap(record: &[u8], pin: &[u8], cache: &PinCache, owner: PinOwner) -> Result<Option<MasterKey>> {
    let rec = decode(record)?;
    if let Some(kek) = cache.lookup(owner, pin, &rec.salt)
        && let Some(mk) = open(&rec, &kek)
    {
        return Ok(Some(mk));
    }
    let kek = derive(pin, &rec)?;
    match open(&rec, &kek) {
        Some(mk) => {
            cache.remember(owner, pin, rec.salt, kek);
            Ok(Some(mk))
        }
        None => Ok(None),
    }
}

struct CacheEntry {
    salt: [u8; 16],
    pin_mac: [u8; 32],
    kek: Kek,
}

/// Derived keys of PINs that logged in successfully in this process.
pub struct PinCache {
    mac_key: aws_lc_rs::hmac::Key,
    entries: parking_lot::Mutex<HashMap<PinOwnerKey, CacheEntry>>,
}

#[derive(Hash, PartialEq, Eq, Clone, Copy)]
enum PinOwnerKey {
    So,
    User,
}

impl From<PinOwner> for PinOwnerKey {
    fn from(o: PinOwner) -> Self {
        match o {
            PinOwner::So => PinOwnerKey::So,
            PinOwner::User => PinOwnerKey::User,
        }
    }
}

impl PinCache {
    pub fn new() -> Result<PinCache> {
        let k: Zeroizing<[u8; 32]> =
            Zeroizing::new(crate::engine::rand::array().map_err(|_| Error::FunctionFailed)?);
        Ok(PinCache {
            mac_key: aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &k[..]),
            entries: parking_lot::Mutex::new(HashMap::new()),
        })
    }

    fn pin_mac(&self, pin: &[u8]) -> [u8; 32] {
        let tag = aws_lc_rs::hmac::sign(&self.mac_key, pin);
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    fn lookup(&self, owner: PinOwner, pin: &[u8], salt: &[u8; 16]) -> Option<Kek> {
        let mac = self.pin_mac(pin);
        let entries = self.entries.lock();
        let e = entries.get(&owner.into())?;
        let same = e.salt == *salt && crate::engine::hmac::tags_equal(&e.pin_mac, &mac);
        same.then(|| e.kek.clone())
    }

    fn remember(&self, owner: PinOwner, pin: &[u8], salt: [u8; 16], kek: Kek) {
        let pin_mac = self.pin_mac(pin);
        self.entries.lock().insert(owner.into(), CacheEntry { salt, pin_mac, kek });
    }

    /// Forgets everything (the token was re-initialized).
    pub fn clear(&self) {
        self.entries.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> PinConfig {
        PinConfig { argon2_memory_kib: 64, argon2_iterations: 1, ..PinConfig::default() }
    }

    #[test]
    fn right_pin_opens_wrong_pin_does_not() {
        let mk = MasterKey::generate().unwrap();
        let cache = PinCache::new().unwrap();
        let rec = wrap(&mk, b"1234", &cheap(), &cache, PinOwner::User).unwrap();
        let fresh = PinCache::new().unwrap();
        let opened = unwrap(&rec, b"1234", &fresh, PinOwner::User).unwrap().unwrap();
        assert_eq!(opened.bytes(), mk.bytes());
        assert!(unwrap(&rec, b"1235", &fresh, PinOwner::User).unwrap().is_none());
        // A cached entry does not open the record for another PIN.
        assert!(unwrap(&rec, b"9999", &cache, PinOwner::User).unwrap().is_none());
        assert!(unwrap(&rec, b"1234", &cache, PinOwner::User).unwrap().is_some());
    }

    #[test]
    fn record_does_not_contain_the_key() {
        let mk = MasterKey::generate().unwrap();
        let rec = wrap(&mk, b"1234", &cheap(), &PinCache::new().unwrap(), PinOwner::So).unwrap();
        assert!(!rec.windows(32).any(|w| w == mk.bytes()));
    }

    #[test]
    fn garbage_record_is_a_device_error() {
        let cache = PinCache::new().unwrap();
        assert_eq!(unwrap(b"\x07junk", b"1234", &cache, PinOwner::User).err(), Some(Error::DeviceError));
    }
}
