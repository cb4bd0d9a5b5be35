//! The audit writer of one token: calls queue their [`Event`]s; one background thread turns
//! them into chained lines, appends them to the token's audit file, advances the chain head in
//! the token store and hands the lines to the other sinks.
//!
//! Several processes append to one file. The chain must have one order, so a batch is written
//! under an exclusive lock on a lock file beside the log, and each writer continues from the
//! head in the store, adopting lines another process wrote but could not record (it crashed
//! between the two steps) and cutting a half-written last line.
//!
//! Nothing is dropped silently: while the file or a sink cannot take records, the queue fills
//! and calls either wait (`on_failure = "block"`) or fail (`"fail"`). The queue holds half of
//! `batch_records` and the batch being written the other half, so no more than `batch_records`
//! records are ever not yet durable, which bounds what a crash loses.
//!
//! A call hands its record over without a lock: a lock's release is a full fence, and it would
//! make every call wait until the record's cache lines have come over from the writer's core.
//! The lock-free queue reserves a slot with one atomic instruction before the record is copied
//! in, so the copy completes in the background.

use super::chain::{ChainKey, Link};
use super::record::{Event, Origin};
use super::sink::Sink;
use super::{Durability, OnFailure};
use crossbeam_queue::ArrayQueue;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
// std's futex-based locks rather than parking_lot's: the writer parks for long stretches, and a
// child forked meanwhile must not inherit a global table of parked threads that do not exist in it.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// The chain head and audit key, kept in the token store.
pub trait HeadStore: Send {
    fn key(&mut self) -> io::Result<Zeroizing<Vec<u8>>>;
    /// The last record written and the length of the current file after it.
    fn head(&mut self) -> io::Result<(Link, u64)>;
    fn set_head(&mut self, link: Link, file_len: u64) -> io::Result<()>;
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub durability: Durability,
    pub batch_records: usize,
    pub batch_ms: u64,
    pub on_failure: OnFailure,
    /// Start a new file once the current one would pass this size; 0 = never.
    pub rotate_bytes: u64,
    /// How long `C_Finalize` waits for records a failing sink cannot take.
    pub finalize_wait: Duration,
}

/// Why an audited call cannot go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unavailable;

struct State {
    /// Records queued under per-record durability, and how many records are durable: such a
    /// call waits for its own number.
    queued: u64,
    durable: u64,
    stop: bool,
}

struct Shared {
    settings: Settings,
    /// Records not yet taken by the writer; made with the first record, so a token nobody
    /// uses holds no room for them.
    queue: once_cell::sync::OnceCell<ArrayQueue<Event>>,
    state: Mutex<State>,
    wake_writer: Condvar,
    wake_callers: Condvar,
    /// A sink or the file is failing right now (what `on_failure = "fail"` refuses calls on).
    failing: AtomicBool,
    /// `state.stop`, for calls that take no lock.
    stopping: AtomicBool,
    /// The writer is waiting for records: a call that fills half the queue wakes it.
    writer_idle: AtomicBool,
}

impl Shared {
    fn queue(&self) -> &ArrayQueue<Event> {
        self.queue.get_or_init(|| ArrayQueue::new((self.settings.batch_records / 2).max(1)))
    }
}

pub struct AuditLog {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<Writer>>>,
    /// The writer until its thread starts.
    idle: Mutex<Option<Writer>>,
    started: AtomicBool,
    /// Made in this process: a forked child must not join the parent's thread.
    pid: u32,
}

/// The files of one token's audit trail: the current log, rotated ones beside it
/// (`<log>.<last seq>`), and the lock file writers take.
#[derive(Debug, Clone)]
pub struct LogFiles {
    pub log: PathBuf,
}

impl LogFiles {
    pub fn lock(&self) -> PathBuf {
        with_suffix(&self.log, ".lock")
    }

    pub fn rotated(&self, last_seq: u64) -> PathBuf {
        with_suffix(&self.log, &format!(".{last_seq:020}"))
    }

    /// Every file of the trail, oldest first.
    pub fn all(&self) -> io::Result<Vec<PathBuf>> {
        let dir = self.log.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let name = self.log.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let mut rotated = Vec::new();
        match std::fs::read_dir(dir) {
            Ok(entries) => {
                for e in entries.flatten() {
                    let n = e.file_name().to_string_lossy().into_owned();
                    if let Some(rest) = n.strip_prefix(&name).and_then(|r| r.strip_prefix('.'))
                        && rest.len() == 20
                        && rest.bytes().all(|b| b.is_ascii_digit())
                    {
                        rotated.push(e.path());
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        rotated.sort();
        if self.log.exists() {
            rotated.push(self.log.clone());
        }
        Ok(rotated)
    }
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

impl AuditLog {
    pub fn start(
        settings: Settings,
        files: LogFiles,
        mut store: Box<dyn HeadStore>,
        sinks: Vec<Box<dyn Sink>>,
        origin: Origin,
    ) -> io::Result<AuditLog> {
        let key = ChainKey::new(&store.key()?);
        if let Some(dir) = files.log.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        }
        let shared = Arc::new(Shared {
            queue: once_cell::sync::OnceCell::new(),
            state: Mutex::new(State { queued: 0, durable: 0, stop: false }),
            settings,
            wake_writer: Condvar::new(),
            wake_callers: Condvar::new(),
            failing: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            writer_idle: AtomicBool::new(false),
        });
        let writer = Writer {
            chunk: Vec::with_capacity(CHUNK + 1024),
            shared: shared.clone(),
            files,
            store,
            key,
            sinks,
            origin,
        };
        Ok(AuditLog {
            shared,
            thread: Mutex::new(None),
            idle: Mutex::new(Some(writer)),
            started: AtomicBool::new(false),
            pid: std::process::id(),
        })
    }

    /// The writer thread starts with the first record: a process with many tokens that uses
    /// one of them runs one thread, not one per token.
    fn ensure_started(&self) -> Result<(), Unavailable> {
        if self.started.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut idle = lock(&self.idle);
        if let Some(mut writer) = idle.take() {
            let spawned = std::thread::Builder::new().name("kms-pkcs11-audit".into()).spawn(move || {
                writer.run();
                writer
            });
            match spawned {
                Ok(t) => *lock(&self.thread) = Some(t),
                Err(e) => {
                    log::error!("audit: cannot start the writer thread: {e}");
                    return Err(Unavailable);
                }
            }
            self.started.store(true, Ordering::Release);
        }
        Ok(())
    }

    /// Whether a call may start: with `on_failure = "fail"`, not while records cannot be
    /// written (the call would have to fail after doing its work).
    pub fn admit(&self) -> Result<(), Unavailable> {
        if self.shared.settings.on_failure == OnFailure::Fail && self.shared.failing.load(Ordering::Relaxed) {
            return Err(Unavailable);
        }
        Ok(())
    }

    /// Queues the record of one call; waits for room (or, per record, for durability) as the
    /// settings say.
    pub fn record(&self, event: Event) -> Result<(), Unavailable> {
        self.ensure_started()?;
        let s = &*self.shared;
        if s.settings.durability == Durability::Fsync {
            return self.record_durably(event);
        }
        if s.stopping.load(Ordering::Acquire) {
            return Err(Unavailable);
        }
        let queue = s.queue();
        let mut event = event;
        while let Err(back) = queue.push(event) {
            event = back;
            self.wait_for_room()?;
        }
        if s.writer_idle.load(Ordering::SeqCst) && queue.len() >= queue.capacity() / 2 {
            // Under the lock, so the wake-up cannot fall between the writer's look at the
            // queue and its wait.
            drop(lock(&s.state));
            s.wake_writer.notify_one();
        }
        Ok(())
    }

    /// The queue is full: waits until the writer takes records, or says why not.
    fn wait_for_room(&self) -> Result<(), Unavailable> {
        let s = &*self.shared;
        let st = lock(&s.state);
        if st.stop || (s.settings.on_failure == OnFailure::Fail && s.failing.load(Ordering::Relaxed)) {
            return Err(Unavailable);
        }
        if s.queue().is_full() {
            s.wake_writer.notify_one();
            // The writer takes the lock after it empties the queue, to wake us; the timeout
            // only bounds a wait whose wake-up came between our look and our wait.
            drop(
                s.wake_callers
                    .wait_timeout(st, Duration::from_millis(50))
                    .unwrap_or_else(PoisonError::into_inner),
            );
        }
        Ok(())
    }

    /// Per-record durability: queued under the lock, so the queue's order is the order of
    /// the numbers calls wait for.
    fn record_durably(&self, event: Event) -> Result<(), Unavailable> {
        let s = &*self.shared;
        let fail_fast = s.settings.on_failure == OnFailure::Fail;
        let mut st = lock(&s.state);
        let mut event = event;
        loop {
            if st.stop || (fail_fast && s.failing.load(Ordering::Relaxed)) {
                return Err(Unavailable);
            }
            match s.queue().push(event) {
                Ok(()) => break,
                Err(back) => event = back,
            }
            s.wake_writer.notify_one();
            st = s.wake_callers.wait(st).unwrap_or_else(PoisonError::into_inner);
        }
        st.queued += 1;
        let mine = st.queued;
        s.wake_writer.notify_one();
        while st.durable < mine {
            if (fail_fast && s.failing.load(Ordering::Relaxed)) || st.stop {
                return Err(Unavailable);
            }
            st = s.wake_callers.wait(st).unwrap_or_else(PoisonError::into_inner);
        }
        Ok(())
    }

    /// Writes everything queued and stops the writer thread (`C_Finalize`, process exit).
    pub fn stop(&self) {
        {
            let mut st = lock(&self.shared.state);
            st.stop = true;
            self.shared.stopping.store(true, Ordering::Release);
        }
        self.shared.wake_writer.notify_all();
        self.shared.wake_callers.notify_all();
        let thread = lock(&self.thread).take();
        if let Some(t) = thread {
            if self.pid == std::process::id() {
                if let Ok(mut writer) = t.join() {
                    // A call racing with C_Finalize may have queued after the writer's last look.
                    let mut batch = Vec::new();
                    while writer.write_queued(&mut batch) > 0 {}
                    writer.close();
                }
            } else {
                // The parent's thread does not exist in a forked child.
                std::mem::forget(t);
            }
        }
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Bytes formatted before they are written out.
const CHUNK: usize = 64 << 10;
/// About the size of one record, to decide on rotation before a batch is formatted.
const RECORD_ESTIMATE: usize = 480;

struct Writer {
    /// Reused between batches.
    chunk: Vec<u8>,
    shared: Arc<Shared>,
    files: LogFiles,
    store: Box<dyn HeadStore>,
    key: ChainKey,
    sinks: Vec<Box<dyn Sink>>,
    origin: Origin,
}

impl Writer {
    /// The writer thread: a batch whenever half the queue is full, `batch_ms` has passed since
    /// the last one, or (per-record durability) a record waits; until the log stops.
    fn run(&mut self) {
        let mut batch = Vec::with_capacity(self.shared.queue().capacity().min(4096));
        loop {
            let stop = self.wait_for_records();
            if self.write_queued(&mut batch) == 0 && stop {
                break;
            }
        }
    }

    /// Waits until there is a batch to write or the log stops; `true` once it stops.
    fn wait_for_records(&self) -> bool {
        let s = &*self.shared;
        let batch_wait = Duration::from_millis(s.settings.batch_ms.max(1));
        let per_record = s.settings.durability == Durability::Fsync;
        let mut st = lock(&s.state);
        let started = Instant::now();
        loop {
            // Announced before the look at the queue: a call that queues after the look sees
            // it and wakes us.
            s.writer_idle.store(true, Ordering::SeqCst);
            let queued = s.queue().len();
            let full = queued >= s.queue().capacity() / 2;
            if st.stop || (queued > 0 && (full || per_record)) {
                break;
            }
            let waited = started.elapsed();
            if waited >= batch_wait && queued > 0 {
                break;
            }
            let wait = batch_wait.saturating_sub(waited).max(Duration::from_millis(1));
            st = s.wake_writer.wait_timeout(st, wait).unwrap_or_else(PoisonError::into_inner).0;
        }
        s.writer_idle.store(false, Ordering::Relaxed);
        st.stop
    }

    /// Takes at most one queue's worth of records (with the queue refilling meanwhile, that
    /// keeps the records not yet durable within `batch_records`) and delivers them; returns
    /// how many.
    fn write_queued(&mut self, batch: &mut Vec<Event>) -> u64 {
        let room = self.shared.queue().capacity();
        while batch.len() < room {
            match self.shared.queue().pop() {
                Some(e) => batch.push(e),
                None => break,
            }
        }
        let done = batch.len() as u64;
        if done == 0 {
            return 0;
        }
        // Delivered, or given up at shutdown (with a log line saying how many): either way no
        // longer in flight. Callers still waiting at shutdown see `stop` and fail.
        self.deliver(batch);
        batch.clear();
        let s = &*self.shared;
        lock(&s.state).durable += done;
        s.wake_callers.notify_all();
        done
    }

    fn close(&mut self) {
        for sink in &mut self.sinks {
            sink.close(Duration::from_secs(2));
        }
    }

    /// Makes the batch durable in the file and accepted by every sink, retrying with backoff
    /// while anything fails; gives up only when stopping and the finalize wait has passed.
    fn deliver(&mut self, batch: &[Event]) {
        let mut backoff = Duration::from_millis(50);
        let mut deadline: Option<Instant> = None;
        let mut lines: Option<Vec<u8>> = None;
        let mut pending_sinks: Vec<usize> = (0..self.sinks.len()).collect();
        loop {
            let mut error = None;
            if lines.is_none() {
                match self.append(batch) {
                    Ok(l) => lines = Some(l),
                    Err(e) => error = Some(format!("audit file {}: {e}", self.files.log.display())),
                }
            }
            if let Some(l) = &lines {
                let sinks = &mut self.sinks;
                pending_sinks.retain(|&i| match sinks[i].deliver(l) {
                    Ok(()) => false,
                    Err(e) => {
                        error = Some(format!("audit sink {}: {e}", sinks[i].name()));
                        true
                    }
                });
            }
            let Some(error) = error else {
                if self.shared.failing.swap(false, Ordering::Relaxed) {
                    log::warn!("audit: records are being written again");
                }
                return;
            };
            if !self.shared.failing.swap(true, Ordering::Relaxed) {
                log::error!("{error}; holding {} records until it recovers", batch.len());
                self.shared.wake_callers.notify_all();
            }
            let st = lock(&self.shared.state);
            if st.stop {
                let d = *deadline.get_or_insert_with(|| Instant::now() + self.shared.settings.finalize_wait);
                if Instant::now() >= d {
                    log::error!("{error}; {} audit records could not be delivered at shutdown", batch.len());
                    return;
                }
            }
            drop(self.shared.wake_writer.wait_timeout(st, backoff).unwrap_or_else(PoisonError::into_inner));
            backoff = (backoff * 2).min(Duration::from_secs(1));
        }
    }

    /// Appends the batch to the chain under the cross-process lock; returns the lines written.
    fn append(&mut self, batch: &[Event]) -> io::Result<Vec<u8>> {
        let _lock = ChainLock::take(&self.files.lock())?;
        let (mut link, mut recorded_len) = self.store.head()?;
        // A writer that rotated and crashed before recording its head: the file the head speaks
        // of now bears the head's sequence number, and the current file starts after it.
        if recorded_len > 0 && self.files.rotated(link.seq).exists() {
            recorded_len = 0;
        }
        let mut file = open_log(&self.files.log)?;
        let mut len = file.metadata()?.len();
        if len != recorded_len {
            len = self.recover(&mut file, &mut link, recorded_len, len)?;
        }
        let mut ids = vec![0u8; 16 * batch.len()];
        crate::engine::rand::fill(&mut ids).map_err(|_| io::Error::other("no randomness for event ids"))?;
        let rotate = self.shared.settings.rotate_bytes;
        if rotate > 0 && len > 0 && len + (batch.len() * RECORD_ESTIMATE) as u64 > rotate {
            std::fs::rename(&self.files.log, self.files.rotated(link.seq))?;
            file = open_log(&self.files.log)?;
            len = 0;
        }
        // Written in chunks small enough to stay in the cache between formatting and the copy
        // into the page cache; the sinks get the whole batch.
        let keep = !self.sinks.is_empty();
        let mut lines = Vec::new();
        let mut chunk = std::mem::take(&mut self.chunk);
        chunk.clear();
        let mut written = 0u64;
        let mut text = uuid::Uuid::encode_buffer();
        let result = (|| -> io::Result<()> {
            for (i, (e, id)) in batch.iter().zip(ids.chunks_exact(16)).enumerate() {
                let mut bytes = [0u8; 16];
                bytes.copy_from_slice(id);
                let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
                let id = id.hyphenated().encode_lower(&mut text);
                link = self.key.seal_with(link, &mut chunk, |out| e.write_body(id, &self.origin, out));
                if chunk.len() >= CHUNK || i + 1 == batch.len() {
                    file.write_all(&chunk)?;
                    written += chunk.len() as u64;
                    if keep {
                        lines.extend_from_slice(&chunk);
                    }
                    chunk.clear();
                }
            }
            file.sync_data()
        })();
        self.chunk = chunk;
        if let Err(e) = result {
            // Leave no part of the batch behind: the retry writes it again.
            let _ = file.set_len(len);
            return Err(e);
        }
        self.store.set_head(link, len + written)?;
        Ok(lines)
    }

    /// The file and the store's head disagree: another writer crashed after writing lines and
    /// before recording them (adopt the whole lines that continue the chain, cut the rest), or
    /// the file was cut or replaced (say so; `kmsctl audit verify` reports where).
    fn recover(&mut self, file: &mut File, link: &mut Link, recorded: u64, len: u64) -> io::Result<u64> {
        if len < recorded {
            log::error!(
                "audit file {} is shorter than the chain head records ({len} < {recorded} bytes): it was \
                 cut or replaced; appending after it",
                self.files.log.display()
            );
            return Ok(len);
        }
        file.seek(SeekFrom::Start(recorded))?;
        let mut extra = Vec::new();
        file.read_to_end(&mut extra)?;
        let mut keep = 0;
        let mut adopted = 0;
        for line in extra.split_inclusive(|b| *b == b'\n') {
            let Some(body) = line.strip_suffix(b"\n") else { break };
            match self.key.follow(*link, body) {
                Ok(next) => {
                    *link = next;
                    keep += line.len();
                    adopted += 1;
                }
                Err(_) => break,
            }
        }
        let end = recorded + keep as u64;
        if end < len {
            log::warn!(
                "audit file {}: cut {} bytes of an unfinished record left by a crash",
                self.files.log.display(),
                len - end
            );
            file.set_len(end)?;
        }
        if adopted > 0 {
            log::warn!("audit: {adopted} records written before a crash joined the chain head");
        }
        Ok(end)
    }
}

/// The cross-process lock on the chain. Released explicitly rather than by closing: a child
/// forked while it is held shares the open file description, and closing our descriptor alone
/// would leave the lock held by the child's copy forever.
struct ChainLock(File);

impl ChainLock {
    fn take(path: &Path) -> io::Result<ChainLock> {
        let f = OpenOptions::new().create(true).append(true).mode(0o600).open(path)?;
        f.lock()?;
        Ok(ChainLock(f))
    }
}

impl Drop for ChainLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn open_log(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).read(true).mode(0o600).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A head kept in memory, shared by "processes" of one test.
    #[derive(Clone)]
    struct MemHead(Arc<parking_lot::Mutex<(Link, u64)>>);

    impl HeadStore for MemHead {
        fn key(&mut self) -> io::Result<Zeroizing<Vec<u8>>> {
            Ok(Zeroizing::new(vec![1; 32]))
        }
        fn head(&mut self) -> io::Result<(Link, u64)> {
            Ok(*self.0.lock())
        }
        fn set_head(&mut self, link: Link, file_len: u64) -> io::Result<()> {
            *self.0.lock() = (link, file_len);
            Ok(())
        }
    }

    /// A sink that fails while its switch is on.
    struct Switch(Arc<AtomicBool>);

    impl Sink for Switch {
        fn name(&self) -> &'static str {
            "switch"
        }
        fn deliver(&mut self, _: &[u8]) -> io::Result<()> {
            if self.0.load(Ordering::SeqCst) { Err(io::Error::other("down")) } else { Ok(()) }
        }
        fn close(&mut self, _: Duration) {}
    }

    /// A fresh trail: its directory (kept alive by the caller), files and an empty head.
    fn trail() -> (tempfile::TempDir, LogFiles, MemHead) {
        let dir = tempfile::tempdir().unwrap();
        let files = LogFiles { log: dir.path().join("t.audit.log") };
        (dir, files, MemHead(Arc::new(parking_lot::Mutex::new((Link::START, 0)))))
    }

    fn settings(durability: Durability) -> Settings {
        Settings {
            durability,
            batch_records: 64,
            batch_ms: 5,
            on_failure: OnFailure::Block,
            rotate_bytes: 0,
            finalize_wait: Duration::from_millis(200),
        }
    }

    fn event(name: &'static str) -> Event {
        Event {
            time: crate::kms::audit::record::EventTime::Wall(std::time::SystemTime::now()),
            name,
            function: "C_Encrypt",
            mechanism: None,
            key_id: crate::kms::audit::record::Ident::NONE,
            key_version_id: crate::kms::audit::record::Ident::NONE,
            principal: "USER",
            result: "CKR_OK",
            error_code: None,
            latency_us: 1,
        }
    }

    fn origin() -> Origin {
        Origin::new("t", 1, 2)
    }

    fn verify(files: &LogFiles, head: &MemHead) -> u64 {
        let key = ChainKey::new(&Zeroizing::new(vec![1; 32]));
        let mut link = Link::START;
        for f in files.all().unwrap() {
            for line in std::fs::read(f).unwrap().split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                link = key.follow(link, line).unwrap();
            }
        }
        assert_eq!(link, head.0.lock().0);
        link.seq
    }

    #[test]
    fn two_writers_on_one_file_make_one_chain() {
        let (_dir, files, head) = trail();
        let logs: Vec<AuditLog> = (0..2)
            .map(|_| {
                AuditLog::start(
                    settings(Durability::Batch),
                    files.clone(),
                    Box::new(head.clone()),
                    vec![],
                    origin(),
                )
                .unwrap()
            })
            .collect();
        std::thread::scope(|s| {
            for log in &logs {
                s.spawn(|| {
                    for _ in 0..500 {
                        log.record(event("Encrypt")).unwrap();
                    }
                });
            }
        });
        for log in &logs {
            log.stop();
        }
        assert_eq!(verify(&files, &head), 1000);
    }

    #[test]
    fn per_record_durability_returns_after_the_write_and_rotation_keeps_the_chain() {
        let (_dir, files, head) = trail();
        let mut st = settings(Durability::Fsync);
        st.rotate_bytes = 2000;
        let log = AuditLog::start(st, files.clone(), Box::new(head.clone()), vec![], origin()).unwrap();
        for i in 0..20 {
            log.record(event("Sign")).unwrap();
            assert_eq!(head.0.lock().0.seq, i + 1, "durable when record returns");
        }
        log.stop();
        assert!(files.all().unwrap().len() > 2, "rotated by size");
        assert_eq!(verify(&files, &head), 20);
    }

    #[test]
    fn a_crash_between_file_and_head_is_adopted_and_a_torn_line_cut() {
        let (_dir, files, head) = trail();
        let log = AuditLog::start(
            settings(Durability::Fsync),
            files.clone(),
            Box::new(head.clone()),
            vec![],
            origin(),
        )
        .unwrap();
        log.record(event("A")).unwrap();
        log.record(event("B")).unwrap();
        log.stop();
        // Roll the head back one record (the crash came before the store update) and leave half
        // a line at the end (the crash came mid-write).
        let text = std::fs::read(&files.log).unwrap();
        let first_end = text.iter().position(|b| *b == b'\n').unwrap() + 1;
        let key = ChainKey::new(&Zeroizing::new(vec![1; 32]));
        let first = key.follow(Link::START, &text[..first_end - 1]).unwrap();
        *head.0.lock() = (first, first_end as u64);
        let mut f = OpenOptions::new().append(true).open(&files.log).unwrap();
        f.write_all(&text[..40]).unwrap();
        let log = AuditLog::start(
            settings(Durability::Fsync),
            files.clone(),
            Box::new(head.clone()),
            vec![],
            origin(),
        )
        .unwrap();
        log.record(event("C")).unwrap();
        log.stop();
        assert_eq!(verify(&files, &head), 3);
    }

    /// Block mode (the default): a call waits while its record cannot be delivered, and goes on
    /// once the sink takes it.
    #[test]
    fn a_failing_sink_makes_calls_wait_in_block_mode() {
        let (_dir, files, head) = trail();
        let down = Arc::new(AtomicBool::new(true));
        let log = AuditLog::start(
            settings(Durability::Fsync),
            files.clone(),
            Box::new(head.clone()),
            vec![Box::new(Switch(down.clone()))],
            origin(),
        )
        .unwrap();
        let started = Instant::now();
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(300));
                down.store(false, Ordering::SeqCst);
            });
            assert_eq!(log.record(event("A")), Ok(()));
        });
        assert!(started.elapsed() >= Duration::from_millis(300), "the call waited for the sink");
        log.stop();
        assert_eq!(verify(&files, &head), 1);
    }

    #[test]
    fn a_crash_right_after_rotation_is_adopted() {
        let (_dir, files, head) = trail();
        let mut st = settings(Durability::Fsync);
        st.rotate_bytes = 1500;
        let log =
            AuditLog::start(st.clone(), files.clone(), Box::new(head.clone()), vec![], origin()).unwrap();
        for _ in 0..3 {
            log.record(event("A")).unwrap();
        }
        let before_rotation = *head.0.lock();
        for _ in 0..3 {
            log.record(event("B")).unwrap();
        }
        log.stop();
        assert!(files.all().unwrap().len() >= 2, "rotated");
        // The crash came after the rename and the new file's records, before the head moved.
        *head.0.lock() = before_rotation;
        let log = AuditLog::start(st, files.clone(), Box::new(head.clone()), vec![], origin()).unwrap();
        log.record(event("C")).unwrap();
        log.stop();
        assert_eq!(verify(&files, &head), 7);
    }

    #[test]
    fn a_failing_sink_holds_records_and_fail_mode_refuses_calls() {
        let (_dir, files, head) = trail();
        let down = Arc::new(AtomicBool::new(true));
        let mut st = settings(Durability::Fsync);
        st.on_failure = OnFailure::Fail;
        let log = AuditLog::start(
            st,
            files.clone(),
            Box::new(head.clone()),
            vec![Box::new(Switch(down.clone()))],
            origin(),
        )
        .unwrap();
        assert_eq!(log.record(event("A")), Err(Unavailable));
        assert_eq!(log.admit(), Err(Unavailable));
        down.store(false, Ordering::SeqCst);
        let until = Instant::now() + Duration::from_secs(5);
        while log.admit().is_err() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(log.admit(), Ok(()));
        log.record(event("B")).unwrap();
        log.stop();
        // The held record was written once, not lost and not repeated.
        assert_eq!(verify(&files, &head), 2);
    }
}
