//! A slot and its token: the store, who is logged in, the master key while someone is, and the
//! objects this process has seen.

use super::cache::{Lookup, ObjectCache};
use super::pin::{self, PinCache};
use super::vault::MasterKey;
use crate::config::{PinConfig, TokenConfig};
use crate::error::{Error, Result};
use crate::object::attribute::Attributes;
use crate::object::{Object, SealedAttr, rules};
use crate::store::{Filter, ObjectRecord, PinOwner, Store, TokenRecord};
use crate::vendor::{CKA_KMS_IS_VERSION, CKA_KMS_KEY_ID};
use cryptoki_sys::*;
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

/// Who is logged in to the token in this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    Public,
    User,
    So,
}

struct Login {
    who: Who,
    master_key: Option<Arc<MasterKey>>,
}

/// How far this process has followed the store's changes.
struct SyncPoint {
    seq: u64,
    generation: u64,
}

/// An object's attributes as stored: clear ones and sealed ones.
#[derive(Serialize, Deserialize)]
struct Body {
    attrs: Vec<(u64, Vec<u8>)>,
    sealed: Vec<(u64, Vec<u8>)>,
}

/// What `C_GetTokenInfo` reports, before C layout.
pub struct TokenInfo {
    pub label: String,
    pub serial: String,
    pub flags: CK_FLAGS,
    pub min_pin: usize,
    pub max_pin: usize,
}

/// The KMS settings a token works under.
pub struct KmsSettings {
    pub clock: crate::kms::clock::Clock,
    pub quota: crate::config::QuotaConfig,
    pub destroy: crate::config::DestroyPolicy,
    /// `[policy] plaintext_import`.
    pub plaintext_import: bool,
}

pub struct Token {
    pub slot_id: CK_SLOT_ID,
    pub config: TokenConfig,
    pub pins: PinConfig,
    pub kms: KmsSettings,
    store: std::result::Result<Box<dyn Store>, Error>,
    login: RwLock<Login>,
    /// `login.who`, kept in step under the write lock: every audited call asks who is logged
    /// in, and this answer takes no lock.
    who: AtomicU8,
    pin_cache: PinCache,
    objects: ObjectCache,
    sync: Mutex<SyncPoint>,
    /// When this process last looked for other processes' changes (milliseconds since
    /// [`EPOCH`]).
    last_sync: AtomicU64,
    handles: Arc<AtomicU64>,
    /// This process's sessions on the token.
    pub sessions: super::session::SessionCount,
    /// The token's audit writer (none when `[audit] enabled = false`).
    audit: Option<crate::kms::audit::AuditLog>,
}

/// How stale a managed key's cached state may get on the cryptographic path before it is read
/// again: another process's disable, rotation or deletion takes effect within this time (and at
/// once after any object call, which always reads the store).
const SYNC_INTERVAL_MS: u64 = 100;

static EPOCH: once_cell::sync::Lazy<std::time::Instant> = once_cell::sync::Lazy::new(std::time::Instant::now);

fn millis() -> u64 {
    millis_at(std::time::Instant::now())
}

fn millis_at(now: std::time::Instant) -> u64 {
    now.saturating_duration_since(*EPOCH).as_millis() as u64
}

impl Token {
    pub fn new(
        slot_id: CK_SLOT_ID,
        config: TokenConfig,
        pins: PinConfig,
        kms: KmsSettings,
        store: std::result::Result<Box<dyn Store>, Error>,
        handles: Arc<AtomicU64>,
    ) -> Result<Token> {
        // A store that opened but cannot be read is as unusable as one that did not open.
        let (store, generation) = match store.and_then(|s| Ok((s.token()?.generation, s))) {
            Ok((generation, s)) => (Ok(s), generation),
            Err(e) => {
                if e != Error::TokenNotPresent {
                    log::error!(
                        "token '{}': store {} unreadable: {}",
                        config.label,
                        config.store_path().display(),
                        e.name()
                    );
                }
                (Err(e), 0)
            }
        };
        Ok(Token {
            slot_id,
            config,
            pins,
            kms,
            store,
            login: RwLock::new(Login { who: Who::Public, master_key: None }),
            who: AtomicU8::new(Who::Public as u8),
            pin_cache: PinCache::new()?,
            objects: ObjectCache::default(),
            sync: Mutex::new(SyncPoint { seq: 0, generation }),
            last_sync: AtomicU64::new(0),
            handles,
            sessions: Default::default(),
            audit: None,
        })
    }

    pub(super) fn attach_audit(&mut self, log: Option<crate::kms::audit::AuditLog>) {
        self.audit = log;
    }

    pub fn audit_log(&self) -> Option<&crate::kms::audit::AuditLog> {
        self.audit.as_ref()
    }

    /// The store, or why it could not be opened.
    pub fn store(&self) -> Result<&dyn Store> {
        self.store.as_ref().map(|s| s.as_ref()).map_err(|e| *e)
    }

    /// Takes the store out of use: every call on the token fails with `why`.
    pub(super) fn close_store(&mut self, why: Error) {
        self.store = Err(why);
    }

    pub fn is_present(&self) -> bool {
        self.store.is_ok()
    }

    pub fn record(&self) -> Result<TokenRecord> {
        Ok(self.store()?.token()?)
    }

    pub fn who(&self) -> Who {
        match self.who.load(Ordering::Acquire) {
            x if x == Who::User as u8 => Who::User,
            x if x == Who::So as u8 => Who::So,
            _ => Who::Public,
        }
    }

    pub fn master_key(&self) -> Option<Arc<MasterKey>> {
        self.login.read().master_key.clone()
    }

    pub(super) fn new_handle(&self) -> CK_OBJECT_HANDLE {
        self.handles.fetch_add(1, Ordering::Relaxed)
    }

    pub fn info(&self) -> Result<TokenInfo> {
        let rec = self.record()?;
        let max = self.pins.max_attempts;
        let mut flags = CKF_RNG | CKF_LOGIN_REQUIRED | CKF_DUAL_CRYPTO_OPERATIONS;
        if rec.label.is_some() {
            flags |= CKF_TOKEN_INITIALIZED;
        }
        if rec.user_pin.is_some() {
            flags |= CKF_USER_PIN_INITIALIZED;
        }
        flags |= pin_flags(
            rec.user_failures,
            max,
            CKF_USER_PIN_COUNT_LOW,
            CKF_USER_PIN_FINAL_TRY,
            CKF_USER_PIN_LOCKED,
        );
        flags |=
            pin_flags(rec.so_failures, max, CKF_SO_PIN_COUNT_LOW, CKF_SO_PIN_FINAL_TRY, CKF_SO_PIN_LOCKED);
        Ok(TokenInfo {
            label: rec.label.unwrap_or_else(|| self.config.label.clone()),
            serial: rec.serial,
            flags,
            min_pin: self.pins.min_len,
            max_pin: self.pins.max_len,
        })
    }

    pub fn check_pin_len(&self, pin: &[u8]) -> Result<()> {
        if pin.len() < self.pins.min_len || pin.len() > self.pins.max_len {
            return Err(Error::PinLenRange);
        }
        Ok(())
    }

    /// Checks `pin` against the stored record of `owner`, counting failures across processes.
    fn verify_pin(&self, owner: PinOwner, pin: &[u8]) -> Result<MasterKey> {
        let store = self.store()?;
        let rec = store.token()?;
        let (record, failures) = match owner {
            PinOwner::So => (rec.so_pin, rec.so_failures),
            PinOwner::User => (rec.user_pin, rec.user_failures),
        };
        let record = match (record, owner) {
            (Some(r), _) => r,
            (None, PinOwner::User) => return Err(Error::UserPinNotInitialized),
            (None, PinOwner::So) => return Err(Error::TokenNotRecognized),
        };
        if failures >= self.pins.max_attempts {
            return Err(Error::PinLocked);
        }
        match pin::unwrap(&record, pin, &self.pin_cache, owner)? {
            Some(mk) => {
                store.pin_succeeded(owner)?;
                Ok(mk)
            }
            None => {
                let n = store.pin_failed(owner)?;
                log::warn!("wrong {owner:?} PIN on token in slot {} ({n} in a row)", self.slot_id);
                if n >= self.pins.max_attempts {
                    log::warn!("{owner:?} PIN of the token in slot {} is now locked", self.slot_id);
                }
                // The attempt that locks the PIN was still a wrong PIN; the next one is refused
                // as locked (as SoftHSM and most HSMs answer).
                Err(Error::PinIncorrect)
            }
        }
    }

    /// `C_InitToken`: verifies the SO PIN of an initialized token, then wipes it.
    pub fn initialize(&self, so_pin: &[u8], label: &str) -> Result<()> {
        self.check_pin_len(so_pin)?;
        let store = self.store()?;
        if store.token()?.label.is_some() {
            self.verify_pin(PinOwner::So, so_pin)?;
        }
        let mk = MasterKey::generate()?;
        self.pin_cache.clear();
        let record = pin::wrap(&mk, so_pin, &self.pins, &self.pin_cache, PinOwner::So)?;
        store.initialize(label, &record)?;
        self.objects.forget_token_objects();
        let generation = store.token()?.generation;
        *self.sync.lock() = SyncPoint { seq: 0, generation };
        self.set_login(&mut self.login.write(), Login { who: Who::Public, master_key: None });
        Ok(())
    }

    pub fn login(&self, who: Who, pin: &[u8]) -> Result<()> {
        let owner = match who {
            Who::So => PinOwner::So,
            Who::User => PinOwner::User,
            Who::Public => return Err(Error::UserTypeInvalid),
        };
        if self.record()?.label.is_none() {
            return Err(if who == Who::User {
                Error::UserPinNotInitialized
            } else {
                Error::TokenNotRecognized
            });
        }
        let mk = self.verify_pin(owner, pin)?;
        let mut login = self.login.write();
        match login.who {
            Who::Public => {}
            current if current == who => return Err(Error::UserAlreadyLoggedIn),
            _ => return Err(Error::UserAnotherAlreadyLoggedIn),
        }
        self.set_login(&mut login, Login { who, master_key: Some(Arc::new(mk)) });
        drop(login);
        // The master key is here now: rotations that came due meanwhile can seal new material.
        if let Err(e) = self.run_due() {
            log::warn!("token in slot {}: due KMS work failed at login: {e:?}", self.slot_id);
        }
        Ok(())
    }

    /// Re-checks the user PIN for an operation on a `CKA_ALWAYS_AUTHENTICATE` key.
    pub fn verify_user_pin(&self, pin: &[u8]) -> Result<()> {
        self.verify_pin(PinOwner::User, pin).map(|_| ())
    }

    pub fn logout(&self) -> Result<()> {
        let mut login = self.login.write();
        if login.who == Who::Public {
            return Err(Error::UserNotLoggedIn);
        }
        self.set_login(&mut login, Login { who: Who::Public, master_key: None });
        drop(login);
        self.objects.forget_private();
        Ok(())
    }

    /// Replaces the login held under its write lock; returns the one before.
    fn set_login(&self, slot: &mut Login, login: Login) -> Login {
        self.who.store(login.who as u8, Ordering::Release);
        std::mem::replace(slot, login)
    }

    /// Forgets the login (all sessions closed).
    pub fn reset_login(&self) {
        let was = self.set_login(&mut self.login.write(), Login { who: Who::Public, master_key: None });
        if was.who != Who::Public {
            self.objects.forget_private();
        }
    }

    /// `C_InitPIN` (SO logged in).
    pub fn init_user_pin(&self, pin: &[u8]) -> Result<()> {
        self.check_pin_len(pin)?;
        let mk = match (self.who(), self.master_key()) {
            (Who::So, Some(mk)) => mk,
            _ => return Err(Error::UserNotLoggedIn),
        };
        let record = pin::wrap(&mk, pin, &self.pins, &self.pin_cache, PinOwner::User)?;
        self.store()?.set_pin(PinOwner::User, &record)?;
        Ok(())
    }

    /// `C_SetPIN`: the SO's PIN when the SO is logged in, else the user's.
    pub fn change_pin(&self, old: &[u8], new: &[u8]) -> Result<()> {
        self.check_pin_len(new)?;
        let owner = if self.who() == Who::So { PinOwner::So } else { PinOwner::User };
        let mk = self.verify_pin(owner, old)?;
        let record = pin::wrap(&mk, new, &self.pins, &self.pin_cache, owner)?;
        self.store()?.set_pin(owner, &record)?;
        Ok(())
    }

    /// Follows what other processes changed in the store since the last look.
    pub fn sync(&self) -> Result<()> {
        let store = self.store()?;
        let mut point = self.sync.lock();
        self.last_sync.store(millis(), Ordering::Relaxed);
        let Some(changes) = store.poll(point.seq, point.generation)? else {
            return Ok(());
        };
        if changes.reset {
            log::info!("token in slot {} was re-initialized by another process", self.slot_id);
            self.objects.forget_token_objects();
            self.set_login(&mut self.login.write(), Login { who: Who::Public, master_key: None });
            self.pin_cache.clear();
            point.generation = changes.generation;
        } else {
            for uid in &changes.changed {
                self.objects.invalidate(uid);
            }
            for uid in &changes.deleted {
                self.objects.forget(uid);
            }
        }
        point.seq = changes.head;
        Ok(())
    }

    /// Follows other processes' changes if the last look is older than [`SYNC_INTERVAL_MS`] at
    /// `now` (the calling operation's start: one clock read serves it and its audit record);
    /// `true` if it looked.
    pub fn sync_if_stale(&self, now: std::time::Instant) -> Result<bool> {
        if millis_at(now).saturating_sub(self.last_sync.load(Ordering::Relaxed)) < SYNC_INTERVAL_MS {
            return Ok(false);
        }
        self.sync()?;
        Ok(true)
    }

    /// Opens sealed secrets with the master key of the current login.
    fn unseal(&self, uid: &str, sealed: &[SealedAttr]) -> Result<Attributes> {
        let mut out = Attributes::new();
        if sealed.is_empty() {
            return Ok(out);
        }
        let mk = self.master_key().ok_or(Error::UserNotLoggedIn)?;
        for (ty, value) in sealed {
            out.set(*ty, mk.unseal(uid, *ty, value)?.to_vec());
        }
        Ok(out)
    }

    /// The secret attributes of an object in the clear.
    pub fn secrets<'a>(&self, obj: &'a Object) -> Result<&'a Attributes> {
        obj.secrets(|sealed| self.unseal(&obj.uid, sealed))
    }

    /// Every attribute of an object, secrets included.
    pub fn all_attrs(&self, obj: &Object) -> Result<Attributes> {
        obj.all_attrs(|sealed| self.unseal(&obj.uid, sealed))
    }

    /// The parsed key of an object.
    pub fn material(&self, obj: &Object) -> Result<Arc<crate::mechanism::LoadedKey>> {
        obj.material(|sealed| self.unseal(&obj.uid, sealed))
    }

    /// The object behind a handle, loading a token object's current version if needed. The
    /// caller checks visibility.
    pub fn object(&self, handle: CK_OBJECT_HANDLE) -> Result<Arc<Object>> {
        match self.objects.get(handle) {
            Lookup::Ready(o) => Ok(o),
            Lookup::Unknown => Err(Error::ObjectHandleInvalid),
            Lookup::Unloaded(uid) => {
                let stored = self.store()?.load(&uid)?;
                match stored {
                    Some(s) => {
                        let obj = Arc::new(self.decode(handle, &s.record, s.seq)?);
                        self.objects.put_loaded(obj.clone());
                        Ok(obj)
                    }
                    None => {
                        self.objects.forget(&uid);
                        Err(Error::ObjectHandleInvalid)
                    }
                }
            }
        }
    }

    pub(super) fn decode(&self, handle: CK_OBJECT_HANDLE, rec: &ObjectRecord, seq: u64) -> Result<Object> {
        let body: Body = postcard::from_bytes(&rec.body).map_err(|_| {
            log::error!("object {} in the token store is unreadable", rec.uid);
            Error::DeviceError
        })?;
        let mut attrs = Attributes::new();
        for (ty, v) in body.attrs {
            attrs.set(ty as CK_ATTRIBUTE_TYPE, v);
        }
        let sealed = body.sealed.into_iter().map(|(t, v)| (t as CK_ATTRIBUTE_TYPE, v)).collect();
        Ok(Object::from_parts(handle, attrs, sealed, None, seq))
    }

    /// The store form of an object: its clear attributes, and its secrets sealed.
    pub(super) fn encode(&self, obj: &Object) -> Result<ObjectRecord> {
        let mut sealed = Vec::new();
        if obj.has_secrets() {
            let mk = self.master_key().ok_or(Error::UserNotLoggedIn)?;
            for (ty, value) in self.secrets(obj)?.iter() {
                sealed.push((ty, mk.seal(&obj.uid, ty, value)?));
            }
        }
        let attrs = obj.attrs().iter().map(|(t, v)| (t, v.to_vec())).collect();
        let body = postcard::to_allocvec(&Body { attrs, sealed }).map_err(|_| Error::GeneralError)?;
        Ok(ObjectRecord {
            uid: obj.uid.clone(),
            class: obj.class,
            label: obj.attrs().get(CKA_LABEL).unwrap_or_default().to_vec(),
            ckid: obj.attrs().get(CKA_ID).unwrap_or_default().to_vec(),
            private: obj.private,
            key_id: obj.attrs().get(CKA_KMS_KEY_ID).map(|v| String::from_utf8_lossy(v).into_owned()),
            is_version: obj.flag(CKA_KMS_IS_VERSION),
            body,
        })
    }

    /// A stored object with its clear attributes changed by `f`; sealed secrets are kept as
    /// they are, so no login is needed (they stay bound to the same uid).
    pub(super) fn rewrite_record(
        &self,
        rec: &ObjectRecord,
        f: impl FnOnce(&mut Attributes),
    ) -> Result<ObjectRecord> {
        let body: Body = postcard::from_bytes(&rec.body).map_err(|_| {
            log::error!("object {} in the token store is unreadable", rec.uid);
            Error::DeviceError
        })?;
        let mut attrs = Attributes::new();
        for (ty, v) in body.attrs {
            attrs.set(ty, v);
        }
        f(&mut attrs);
        let body = Body { attrs: attrs.iter().map(|(t, v)| (t, v.to_vec())).collect(), sealed: body.sealed };
        Ok(ObjectRecord {
            uid: rec.uid.clone(),
            class: rec.class,
            label: attrs.get(CKA_LABEL).unwrap_or_default().to_vec(),
            ckid: attrs.get(CKA_ID).unwrap_or_default().to_vec(),
            private: attrs.flag(CKA_PRIVATE),
            key_id: rec.key_id.clone(),
            is_version: rec.is_version,
            body: postcard::to_allocvec(&body).map_err(|_| Error::GeneralError)?,
        })
    }

    /// Makes new objects from complete attribute sets, stores the token ones in one
    /// transaction, and returns their handles.
    pub fn add_objects(
        &self,
        sets: Vec<Attributes>,
        owner: CK_SESSION_HANDLE,
    ) -> Result<Vec<CK_OBJECT_HANDLE>> {
        self.add_objects_with(sets, owner, &mut |_| Ok(()))
    }

    /// As [`Token::add_objects`], with `extra` writes in the same transaction (the metadata of a
    /// managed key, say): the objects and the writes are stored together or not at all.
    pub fn add_objects_with(
        &self,
        sets: Vec<Attributes>,
        owner: CK_SESSION_HANDLE,
        extra: &mut dyn FnMut(&mut dyn crate::store::Tx) -> crate::store::StoreResult<()>,
    ) -> Result<Vec<CK_OBJECT_HANDLE>> {
        let mut objs = Vec::with_capacity(sets.len());
        for mut attrs in sets {
            attrs.set(CKA_UNIQUE_ID, new_uuid()?.into_bytes());
            let on_token = attrs.flag(CKA_TOKEN);
            objs.push(Object::new(self.new_handle(), attrs, (!on_token).then_some(owner), 0));
        }
        let records =
            objs.iter().filter(|o| o.on_token).map(|o| self.encode(o)).collect::<Result<Vec<_>>>()?;
        if !records.is_empty() {
            let seq = self.store()?.write(&mut |tx| {
                records.iter().try_for_each(|r| tx.insert_object(r))?;
                extra(tx)
            })?;
            for o in objs.iter_mut().filter(|o| o.on_token) {
                o.seq = seq;
            }
        }
        let handles = objs.iter().map(|o| o.handle).collect();
        for o in objs {
            self.objects.put(Arc::new(o));
        }
        Ok(handles)
    }

    /// Drops cached objects so their next use reads the store (after this process rewrote them).
    pub(super) fn invalidate(&self, uids: &[String]) {
        for uid in uids {
            self.objects.invalidate(uid);
        }
    }

    /// Forgets objects this process deleted from the store.
    pub(super) fn forget(&self, uids: &[String]) {
        for uid in uids {
            self.objects.forget(uid);
        }
    }

    /// Replaces an object's attributes (`C_SetAttributeValue`) with `all`, secrets included,
    /// keeping its handle and uid.
    pub fn replace_attrs(&self, obj: &Object, all: Attributes) -> Result<()> {
        let mut new = Object::new(obj.handle, all, obj.owner, obj.seq);
        if new.on_token {
            let rec = self.encode(&new)?;
            new.seq = self.store()?.update(&rec)?.ok_or(Error::ObjectHandleInvalid)?;
        }
        self.objects.put(Arc::new(new));
        Ok(())
    }

    pub fn destroy(&self, obj: &Object) -> Result<()> {
        if obj.on_token && !self.store()?.delete(&obj.uid)? {
            log::info!("object {} was already destroyed by another process", obj.uid);
        }
        self.objects.remove(obj.handle);
        Ok(())
    }

    /// Token objects matching the indexed part of a search template, loaded.
    pub fn find_token_objects(&self, filter: &Filter) -> Result<Vec<Arc<Object>>> {
        let rows = self.store()?.find(filter)?;
        let mut out = Vec::with_capacity(rows.len());
        for (uid, seq) in rows {
            let handle = self.objects.handle_for(&uid, || self.new_handle());
            if let Some(o) = self.objects.current(handle, seq) {
                out.push(o);
                continue;
            }
            match self.object(handle) {
                Ok(o) => out.push(o),
                // Destroyed between the search and the load.
                Err(Error::ObjectHandleInvalid) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    pub fn session_objects(&self) -> Vec<Arc<Object>> {
        self.objects.session_objects()
    }

    pub fn remove_session_objects(&self, session: Option<CK_SESSION_HANDLE>) {
        self.objects.remove_session_objects(session);
    }

    /// Whether an object can be seen by sessions of this token now.
    pub fn visible(&self, obj: &Object) -> bool {
        !obj.private || self.who() == Who::User
    }

    /// A managed key whose deletion is scheduled: searches no longer find it, and a handle still
    /// held shows its state and refuses cryptographic use, until it is purged or the deletion is
    /// cancelled (through `kmsctl`).
    pub fn pending_deletion(&self, obj: &Object) -> bool {
        obj.managed().is_some_and(|m| m.state == crate::kms::KeyState::PendingDeletion)
    }
}

/// A random (version 4) UUID: object unique ids, key ids, version ids.
pub fn new_uuid() -> Result<String> {
    let random = crate::engine::rand::array().map_err(|_| Error::FunctionFailed)?;
    Ok(uuid::Builder::from_random_bytes(random).into_uuid().to_string())
}

fn pin_flags(failures: u32, max: u32, low: CK_FLAGS, final_try: CK_FLAGS, locked: CK_FLAGS) -> CK_FLAGS {
    if failures == 0 {
        0
    } else if failures >= max {
        locked
    } else if failures + 1 == max {
        low | final_try
    } else {
        low
    }
}

/// Whether a secret attribute may be shown: never when the key is sensitive or unextractable.
pub fn may_reveal(obj: &Object, ty: CK_ATTRIBUTE_TYPE) -> bool {
    !rules::is_secret(obj.class, ty) || (!obj.flag(CKA_SENSITIVE) && obj.flag(CKA_EXTRACTABLE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_flags_follow_failures() {
        let f = |n| pin_flags(n, 3, 1, 2, 4);
        assert_eq!(f(0), 0);
        assert_eq!(f(1), 1);
        assert_eq!(f(2), 1 | 2);
        assert_eq!(f(3), 4);
    }
}
