//! The engine's side of the audit trail: every audited entry point runs through
//! [`Library::audited`], which hands the work a [`Call`] to fill in as it learns the key and
//! mechanism, and queues one record when the call ends the operation (or fails). An init, an
//! update or a length query defers its record to the call that ends the operation, so one
//! operation is one record, as one KMS request is one event.

use super::Library;
use super::slot::{Token, Who};
use crate::config::{AuditConfig, TokenConfig};
use crate::error::{Error, Result};
use crate::kms::audit::chain::Link;
use crate::kms::audit::record::{EventTime, Ident, Origin};
use crate::kms::audit::sink::{HookSink, Sink, SyslogSink};
use crate::kms::audit::{AuditLog, Event, HeadStore, LogFiles, Settings};
use crate::object::Object;
use crate::store::sqlite::SqliteStore;
use cryptoki_sys::CK_MECHANISM_TYPE;
use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// What one audited call did, filled in by the engine as it learns it.
pub struct Call {
    pub function: &'static str,
    pub event: &'static str,
    pub mechanism: Option<CK_MECHANISM_TYPE>,
    pub key_id: Ident,
    pub key_version_id: Ident,
    /// The operation goes on (an init, an update, a length query): its record comes later.
    pub deferred: bool,
    /// Not an audited call after all (reading only public attributes, say).
    pub skip: bool,
    /// The `CKR_*` the caller will see when it is not the engine's result (a sensitive
    /// attribute in an otherwise answered C_GetAttributeValue).
    pub reported: Option<&'static str>,
    /// When the operation began: this call's start, or (for a step) the init's.
    started: Option<Instant>,
    kms_mark: u64,
}

/// What an operation in progress carries to the call that ends it: plain data, so a step
/// copies it in a few moves.
#[derive(Clone, Copy)]
pub struct OpTag {
    event: &'static str,
    mechanism: Option<CK_MECHANISM_TYPE>,
    key_id: Ident,
    key_version_id: Ident,
    started: Instant,
}

impl Call {
    fn new(function: &'static str, event: &'static str, started: Option<Instant>) -> Call {
        Call {
            function,
            event,
            mechanism: None,
            key_id: Ident::NONE,
            key_version_id: Ident::NONE,
            deferred: false,
            skip: false,
            reported: None,
            started,
            kms_mark: crate::kms::failure_mark(),
        }
    }

    /// When the operation began, for whatever else in the call needs the time: the audit
    /// record's own clock read, or a fresh one when there is none.
    pub fn now(&self) -> Instant {
        self.started.unwrap_or_else(Instant::now)
    }

    /// The key the call uses: its managed-key id and version, if it has them.
    pub fn key(&mut self, obj: &Object) {
        if let Some(m) = obj.managed() {
            self.key_id = Ident::from(&*m.key_id);
            self.key_version_id = Ident::from(m.version_id.as_deref());
        }
    }

    /// The record this operation's last call writes.
    pub fn tag(&self) -> OpTag {
        OpTag {
            event: self.event,
            mechanism: self.mechanism,
            key_id: self.key_id,
            key_version_id: self.key_version_id,
            started: self.started.unwrap_or_else(Instant::now),
        }
    }

    /// Continues the operation `tag` began: the record names its key and mechanism, and its
    /// latency runs from the init.
    pub fn resume(&mut self, tag: &Option<OpTag>) {
        let Some(tag) = tag else { return };
        self.event = tag.event;
        self.mechanism = tag.mechanism;
        self.key_id = tag.key_id;
        self.key_version_id = tag.key_version_id;
        self.started = Some(tag.started);
    }

    fn event<T>(self, who: Who, outcome: &Result<T>) -> Event {
        let started = self.started.unwrap_or_else(Instant::now);
        let (result, error_code) = match outcome {
            Ok(_) => (self.reported.unwrap_or("CKR_OK"), None),
            Err(e) => (e.name(), crate::kms::code_since(self.kms_mark)),
        };
        Event {
            time: EventTime::Instant(started),
            name: self.event,
            function: self.function,
            mechanism: self.mechanism,
            key_id: self.key_id,
            key_version_id: self.key_version_id,
            principal: principal(who),
            result,
            error_code,
            latency_us: started.elapsed().as_micros() as u64,
        }
    }
}

pub fn principal(who: Who) -> &'static str {
    match who {
        Who::So => "SO",
        Who::User => "USER",
        Who::Public => "PUBLIC",
    }
}

impl Library {
    /// Runs `f` as the audited call `function` on `token`; `event` names it until the work
    /// knows better.
    pub(crate) fn audited<T>(
        &self,
        token: &Token,
        function: &'static str,
        event: &'static str,
        f: impl FnOnce(&mut Call) -> Result<T>,
    ) -> Result<T> {
        self.audited_from(token, function, event, true, f)
    }

    /// [`Library::audited`] for a step of an operation: its latency runs from the init, so it
    /// reads no clock of its own on the way in.
    pub(crate) fn audited_step<T>(
        &self,
        token: &Token,
        function: &'static str,
        event: &'static str,
        f: impl FnOnce(&mut Call) -> Result<T>,
    ) -> Result<T> {
        self.audited_from(token, function, event, false, f)
    }

    fn audited_from<T>(
        &self,
        token: &Token,
        function: &'static str,
        event: &'static str,
        timed: bool,
        f: impl FnOnce(&mut Call) -> Result<T>,
    ) -> Result<T> {
        let Some(log) = token.audit_log().filter(|_| !IN_ACTION.get()) else {
            return f(&mut Call::new(function, event, None));
        };
        log.admit().map_err(|_| unavailable())?;
        let mut call = Call::new(function, event, timed.then(Instant::now));
        // The login the call ran under: a C_Logout's record is the user's, a C_Login's the
        // role it logged in.
        let before = (function == "C_Logout").then(|| token.who());
        let outcome = f(&mut call);
        let continues = match &outcome {
            Ok(_) => call.deferred,
            Err(Error::BufferTooSmall(_)) => true,
            Err(_) => false,
        };
        if continues || call.skip {
            return outcome;
        }
        let who = before.unwrap_or_else(|| token.who());
        log.record(call.event(who, &outcome)).map_err(|_| unavailable())?;
        outcome
    }
}

thread_local! {
    /// A KMS action is running on this thread: its PKCS#11 steps are part of its one record.
    static IN_ACTION: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` as the inside of one KMS action (see [`IN_ACTION`]).
pub fn inside_action<T>(f: impl FnOnce() -> T) -> T {
    struct Leave;
    impl Drop for Leave {
        fn drop(&mut self) {
            IN_ACTION.set(false);
        }
    }
    IN_ACTION.set(true);
    let _leave = Leave;
    f()
}

fn unavailable() -> Error {
    log::error!(
        "audit: the record of this call cannot be written (a failing sink, or the library is stopping); the call fails"
    );
    Error::DeviceError
}

/// The token's audit file: `[audit] dir`, else beside the token store, named after it.
pub fn log_path(audit: &AuditConfig, token: &TokenConfig) -> PathBuf {
    let store = token.store_path();
    let dir = audit.dir.clone().or_else(|| store.parent().map(|p| p.to_path_buf())).unwrap_or_default();
    let stem =
        store.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| token.label.clone());
    dir.join(format!("{stem}.audit.log"))
}

/// Starts the audit writer of a token whose store opened.
pub fn start(audit: &AuditConfig, token: &TokenConfig) -> Result<Option<AuditLog>> {
    if !audit.enabled {
        return Ok(None);
    }
    let files = LogFiles { log: log_path(audit, token) };
    let store = SqliteStore::open(&token.store_path())?;
    store.relax_durability()?;
    let settings = Settings {
        durability: audit.durability,
        batch_records: audit.batch_records.max(2),
        batch_ms: audit.batch_ms,
        on_failure: audit.on_failure,
        rotate_bytes: audit.rotate_bytes,
        finalize_wait: Duration::from_millis(audit.finalize_wait_ms),
    };
    // The owner of /proc/self is the process's effective user.
    let uid =
        std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m)).unwrap_or(u32::MAX);
    let origin = Origin::new(&token.label, std::process::id(), uid);
    let sinks = sinks(audit);
    AuditLog::start(settings, files.clone(), Box::new(store), sinks, origin).map(Some).map_err(|e| {
        log::error!("token '{}': cannot start the audit trail at {}: {e}", token.label, files.log.display());
        Error::DeviceError
    })
}

/// A token's audit trail as `kmsctl audit` reads it: the files, and the key and chain head
/// from the token store (no login needed: neither is a secret of the keys).
pub struct Trail {
    pub files: LogFiles,
    key: Zeroizing<Vec<u8>>,
    head: Link,
}

impl Trail {
    pub fn open(audit: &AuditConfig, token: &TokenConfig) -> Result<Trail> {
        let mut store = SqliteStore::open(&token.store_path())?;
        // The head first: records written while the files are read only extend the chain.
        let (head, _) = store.head().map_err(|_| Error::DeviceError)?;
        let key = HeadStore::key(&mut store).map_err(|_| Error::DeviceError)?;
        Ok(Trail { files: LogFiles { log: log_path(audit, token) }, key, head })
    }

    pub fn verify(&self) -> io::Result<crate::kms::audit::Verdict> {
        crate::kms::audit::verify(&self.files, &self.key, self.head)
    }

    pub fn list(&self, filter: &crate::kms::audit::Filter) -> io::Result<Vec<serde_json::Value>> {
        crate::kms::audit::list(&self.files, filter)
    }
}

/// The sinks besides the file that `[audit]` names.
fn sinks(audit: &AuditConfig) -> Vec<Box<dyn Sink>> {
    let mut out: Vec<Box<dyn Sink>> = Vec::new();
    if audit.syslog {
        out.push(Box::new(SyslogSink::new(
            audit.syslog_socket.clone(),
            audit.syslog_facility,
            audit.syslog_tag.clone(),
        )));
    }
    if let Some(command) = &audit.hook {
        out.push(Box::new(HookSink::new(command.clone(), Duration::from_millis(audit.hook_timeout_ms))));
    }
    out
}

impl HeadStore for SqliteStore {
    fn key(&mut self) -> io::Result<Zeroizing<Vec<u8>>> {
        self.audit_key().map_err(io::Error::other)
    }

    fn head(&mut self) -> io::Result<(Link, u64)> {
        let (seq, mac, len) = self.audit_head().map_err(io::Error::other)?;
        let mac = mac.try_into().map_err(|_| io::Error::other("audit head: bad MAC length"))?;
        Ok((Link { seq, mac }, len))
    }

    fn set_head(&mut self, link: Link, file_len: u64) -> io::Result<()> {
        self.set_audit_head(link.seq, &link.mac, file_len).map_err(io::Error::other)
    }
}
