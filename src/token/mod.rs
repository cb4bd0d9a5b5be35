//! The engine behind the C ABI: slots and tokens from the configuration, sessions and their
//! operations, login state, object handles. Everything here is plain safe Rust; the FFI layer
//! converts C arguments and calls these methods.

pub mod admin;
pub mod audit;
pub mod cache;
mod crypto;
mod import;
mod kms;
mod objects;
pub use objects::AttrValue;
pub mod pin;
pub mod session;
pub mod slot;
pub mod vault;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::kms::rate_limit::{Group, RateLimiter};
use crate::store::sqlite::SqliteStore;
use cryptoki_sys::*;
use parking_lot::RwLock;
pub use session::Out;
use session::Session;
pub use slot::{Token, TokenInfo, Who};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// What `C_GetSessionInfo` reports.
pub struct SessionInfo {
    pub slot_id: CK_SLOT_ID,
    pub state: CK_STATE,
    pub flags: CK_FLAGS,
}

/// One initialized library: what `C_Initialize` builds and `C_Finalize` drops.
pub struct Library {
    pub config: Config,
    /// Request rates per KMS operation group, for this process.
    limiter: RateLimiter,
    tokens: Vec<Arc<Token>>,
    sessions: RwLock<HashMap<CK_SESSION_HANDLE, Arc<Session>>>,
    next_session: AtomicU64,
}

impl Library {
    /// Opens every configured token's store. A store that cannot be opened leaves its slot
    /// without a token (`CKR_TOKEN_NOT_PRESENT` / `CKR_TOKEN_NOT_RECOGNIZED`), with the reason
    /// in the log; the other tokens work.
    pub fn new(config: Config) -> Result<Library> {
        let handles = Arc::new(AtomicU64::new(1));
        let mut tokens = Vec::with_capacity(config.token.len());
        for (slot, tc) in config.token.iter().enumerate() {
            let path = tc.store_path();
            let store: std::result::Result<Box<dyn crate::store::Store>, Error> =
                match SqliteStore::open(&path) {
                    Ok(s) => Ok(Box::new(s)),
                    Err(e) => {
                        log::error!("token '{}': cannot open store {}: {e}", tc.label, path.display());
                        Err(Error::from(e))
                    }
                };
            let kms = slot::KmsSettings {
                clock: crate::kms::clock::Clock::from_file(config.kms.clock_file.clone()),
                quota: config.quota.clone(),
                destroy: config.kms.destroy,
                plaintext_import: config.policy.plaintext_import,
            };
            let mut token =
                Token::new(slot as CK_SLOT_ID, tc.clone(), config.pin.clone(), kms, store, handles.clone())?;
            // A token whose trail cannot start is closed (no call of it may go unrecorded);
            // the other tokens carry on.
            if token.is_present() {
                match audit::start(&config.audit, tc) {
                    Ok(log) => token.attach_audit(log),
                    Err(e) => {
                        log::error!(
                            "token '{}': unavailable: its audit trail cannot start ({}), store {}",
                            tc.label,
                            e.name(),
                            path.display()
                        );
                        token.close_store(Error::DeviceError);
                    }
                }
            }
            if token.is_present()
                && let Err(e) = token.run_due()
            {
                log::warn!("token '{}': due KMS work failed: {e:?}", tc.label);
            }
            tokens.push(Arc::new(token));
        }
        Ok(Library {
            limiter: RateLimiter::new(&config.rate_limit),
            config,
            tokens,
            sessions: RwLock::new(HashMap::new()),
            next_session: AtomicU64::new(1),
        })
    }

    /// Lets one KMS request of `group` through, within this process's rate for the group.
    pub(crate) fn throttle(&self, group: Group) -> Result<()> {
        Ok(self.limiter.acquire(group)?)
    }

    /// The rate limiter's view of recent traffic, for `kmsctl describe-quotas`.
    pub fn rate_usage(&self) -> Vec<crate::kms::rate_limit::GroupUsage> {
        self.limiter.usage()
    }

    pub fn slots(&self) -> &[Arc<Token>] {
        &self.tokens
    }

    pub fn token(&self, slot: CK_SLOT_ID) -> Result<&Arc<Token>> {
        self.tokens.get(slot as usize).ok_or(Error::SlotIdInvalid)
    }

    /// A slot whose token is usable.
    pub fn present_token(&self, slot: CK_SLOT_ID) -> Result<&Arc<Token>> {
        let t = self.token(slot)?;
        t.store()?;
        Ok(t)
    }

    pub fn session(&self, handle: CK_SESSION_HANDLE) -> Result<Arc<Session>> {
        self.sessions.read().get(&handle).cloned().ok_or(Error::SessionHandleInvalid)
    }

    pub fn open_session(&self, slot: CK_SLOT_ID, flags: CK_FLAGS) -> Result<CK_SESSION_HANDLE> {
        if flags & CKF_SERIAL_SESSION == 0 {
            return Err(Error::SessionParallelNotSupported);
        }
        let token = self.present_token(slot)?.clone();
        let read_write = flags & CKF_RW_SESSION != 0;
        if !read_write && token.who() == Who::So {
            return Err(Error::SessionReadWriteSoExists);
        }
        let handle = self.next_session.fetch_add(1, Ordering::Relaxed);
        let mut sessions = self.sessions.write();
        token.sessions.opened(read_write);
        sessions.insert(handle, Arc::new(Session { handle, token, read_write, ops: Default::default() }));
        Ok(handle)
    }

    pub fn close_session(&self, handle: CK_SESSION_HANDLE) -> Result<()> {
        let (session, left) = {
            let mut sessions = self.sessions.write();
            let session = sessions.remove(&handle).ok_or(Error::SessionHandleInvalid)?;
            let left = session.token.sessions.closed(session.read_write);
            (session, left)
        };
        let token = &session.token;
        token.remove_session_objects(Some(handle));
        if left == 0 {
            token.reset_login();
        }
        Ok(())
    }

    pub fn close_all_sessions(&self, slot: CK_SLOT_ID) -> Result<()> {
        let token = self.token(slot)?.clone();
        {
            let mut sessions = self.sessions.write();
            sessions.retain(|_, s| s.token.slot_id != slot);
            token.sessions.clear();
        }
        token.remove_session_objects(None);
        token.reset_login();
        Ok(())
    }

    /// Closes everything (`C_Finalize`).
    pub fn shutdown(&self) {
        let mut sessions = self.sessions.write();
        sessions.clear();
        for t in &self.tokens {
            t.sessions.clear();
        }
        drop(sessions);
        for t in &self.tokens {
            t.remove_session_objects(None);
            t.reset_login();
        }
        self.flush_audit();
    }

    /// Writes every queued audit record and stops the writers (also at process exit).
    pub fn flush_audit(&self) {
        for t in &self.tokens {
            if let Some(log) = t.audit_log() {
                log.stop();
            }
        }
    }

    pub fn session_info(&self, handle: CK_SESSION_HANDLE) -> Result<SessionInfo> {
        let s = self.session(handle)?;
        let mut flags = CKF_SERIAL_SESSION;
        if s.read_write {
            flags |= CKF_RW_SESSION;
        }
        Ok(SessionInfo { slot_id: s.token.slot_id, state: s.state(), flags })
    }

    pub fn token_info(&self, slot: CK_SLOT_ID) -> Result<(TokenInfo, usize, usize)> {
        let token = self.token(slot)?;
        let info = token.info()?;
        let all = token.sessions.all();
        Ok((info, all, all.saturating_sub(token.sessions.read_only())))
    }

    pub fn init_token(&self, slot: CK_SLOT_ID, so_pin: &[u8], label: &str) -> Result<()> {
        let token = self.present_token(slot)?;
        self.audited(token, "C_InitToken", "InitToken", |_| {
            if token.sessions.all() > 0 {
                return Err(Error::SessionExists);
            }
            token.initialize(so_pin, label)
        })
    }

    pub fn login(&self, handle: CK_SESSION_HANDLE, user_type: CK_USER_TYPE, pin: &[u8]) -> Result<()> {
        let session = self.session(handle)?;
        self.audited(&session.token, "C_Login", "Login", |_| self.login_in(&session, user_type, pin))
    }

    fn login_in(&self, session: &Session, user_type: CK_USER_TYPE, pin: &[u8]) -> Result<()> {
        let token = &session.token;
        let who = match user_type {
            CKU_SO => Who::So,
            CKU_USER => Who::User,
            CKU_CONTEXT_SPECIFIC => return self.context_login(session, pin),
            _ => return Err(Error::UserTypeInvalid),
        };
        match token.who() {
            Who::Public => {}
            current if current == who => return Err(Error::UserAlreadyLoggedIn),
            _ => return Err(Error::UserAnotherAlreadyLoggedIn),
        }
        if who == Who::So && token.sessions.read_only() > 0 {
            return Err(Error::SessionReadOnlyExists);
        }
        token.login(who, pin)
    }

    /// `CKU_CONTEXT_SPECIFIC`: unlocks the active operation on a `CKA_ALWAYS_AUTHENTICATE` key.
    fn context_login(&self, session: &Session, pin: &[u8]) -> Result<()> {
        if session.token.who() != Who::User {
            return Err(Error::UserNotLoggedIn);
        }
        let mut ops = session.ops.lock();
        let waiting = ops.sign.as_ref().is_some_and(|a| a.needs_auth)
            || ops.decrypt.as_ref().is_some_and(|a| a.needs_auth);
        if !waiting {
            return Err(Error::OperationNotInitialized);
        }
        session.token.verify_user_pin(pin)?;
        if let Some(a) = ops.sign.as_mut() {
            a.needs_auth = false;
        }
        if let Some(a) = ops.decrypt.as_mut() {
            a.needs_auth = false;
        }
        Ok(())
    }

    pub fn logout(&self, handle: CK_SESSION_HANDLE) -> Result<()> {
        let session = self.session(handle)?;
        self.audited(&session.token, "C_Logout", "Logout", |_| session.token.logout())
    }

    pub fn init_pin(&self, handle: CK_SESSION_HANDLE, pin: &[u8]) -> Result<()> {
        // Only the SO may, and SO sessions are always read-write: any other session state is
        // "not logged in" (PKCS#11 2.40 §5.5).
        let session = self.session(handle)?;
        self.audited(&session.token, "C_InitPIN", "InitPIN", |_| session.token.init_user_pin(pin))
    }

    pub fn set_pin(&self, handle: CK_SESSION_HANDLE, old: &[u8], new: &[u8]) -> Result<()> {
        let session = self.session(handle)?;
        self.audited(&session.token, "C_SetPIN", "SetPIN", |_| {
            if !session.read_write {
                return Err(Error::SessionReadOnly);
            }
            session.token.change_pin(old, new)
        })
    }

    /// The mechanisms a slot's backend serves.
    pub fn mechanisms(&self, slot: CK_SLOT_ID) -> Result<Vec<CK_MECHANISM_TYPE>> {
        self.token(slot)?;
        Ok(crate::backend::local::mechanisms())
    }

    /// Whether the slot's backend serves `ty`.
    pub fn supports(&self, slot: CK_SLOT_ID, ty: CK_MECHANISM_TYPE) -> Result<bool> {
        self.token(slot)?;
        Ok(crate::backend::local::supports(ty))
    }

    pub fn mechanism_info(&self, slot: CK_SLOT_ID, ty: CK_MECHANISM_TYPE) -> Result<crate::mechanism::Info> {
        if !self.supports(slot, ty)? {
            return Err(Error::MechanismInvalid);
        }
        crate::mechanism::info(ty)
    }

    /// Ends the operations named by `flags` (`C_SessionCancel`).
    pub fn cancel(&self, handle: CK_SESSION_HANDLE, flags: CK_FLAGS) -> Result<()> {
        let session = self.session(handle)?;
        let mut ops = session.ops.lock();
        if flags & CKF_ENCRYPT != 0 {
            ops.encrypt = None;
        }
        if flags & CKF_DECRYPT != 0 {
            ops.decrypt = None;
        }
        if flags & CKF_DIGEST != 0 {
            ops.digest = None;
        }
        if flags & CKF_SIGN != 0 {
            ops.sign = None;
        }
        if flags & CKF_VERIFY != 0 {
            ops.verify = None;
        }
        if flags & CKF_FIND_OBJECTS != 0 {
            ops.search = None;
        }
        Ok(())
    }

    pub fn generate_random(&self, handle: CK_SESSION_HANDLE, out: &mut [u8]) -> Result<()> {
        self.session(handle)?;
        crate::engine::rand::fill(out).map_err(|_| Error::FunctionFailed)
    }
}
