//! The embedded SQLite store: one file per token, WAL journal with `synchronous=FULL`, so a
//! committed write survives a crash and a crash mid-write leaves nothing half-made. Several
//! processes may use one file; writers take the lock up front (`BEGIN IMMEDIATE`) and wait for
//! each other rather than failing with `SQLITE_BUSY`.

use super::{Changes, Filter, ObjectRecord, PinOwner, Store, StoreError, StoreResult, Stored, TokenRecord};
use parking_lot::Mutex;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `PRAGMA application_id` of our files ("KMS1"), so a foreign SQLite file is never mistaken for
/// a token and never written to.
const APPLICATION_ID: i64 = 0x4b4d_5331;

/// Schema versions in order; entry `n` migrates version `n` to `n + 1`.
const MIGRATIONS: &[&str] = &[
    // 0 → 1: the first schema.
    "CREATE TABLE token (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        serial TEXT NOT NULL,
        label TEXT,
        so_pin BLOB,
        user_pin BLOB,
        so_failures INTEGER NOT NULL DEFAULT 0,
        user_failures INTEGER NOT NULL DEFAULT 0,
        generation INTEGER NOT NULL DEFAULT 0,
        seq INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE objects (
        uid TEXT PRIMARY KEY NOT NULL,
        class INTEGER NOT NULL,
        label BLOB NOT NULL,
        ckid BLOB NOT NULL,
        private INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        body BLOB NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX objects_label ON objects(label);
    CREATE INDEX objects_ckid ON objects(ckid);
    CREATE INDEX objects_class ON objects(class);
    CREATE INDEX objects_seq ON objects(seq);
    CREATE TABLE tombstones (seq INTEGER PRIMARY KEY, uid TEXT NOT NULL);",
];

/// How long a writer waits for another process's write before the call fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

struct Inner {
    conn: Connection,
    /// `PRAGMA data_version` at the last poll: it moves only when another connection commits.
    data_version: i64,
}

pub struct SqliteStore {
    path: PathBuf,
    inner: Mutex<Inner>,
}

impl SqliteStore {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: &Path) -> StoreResult<SqliteStore> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir)?;
        }
        create_private_file(path)?;
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let display = path.display().to_string();
        check_identity(&conn, &display)?;
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Corrupt(format!("{display}: cannot use WAL journal (got {mode})")));
        }
        conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")?;
        migrate(&conn, &display)?;
        let data_version = conn.query_row("PRAGMA data_version", [], |r| r.get(0))?;
        Ok(SqliteStore { path: path.to_path_buf(), inner: Mutex::new(Inner { conn, data_version }) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in a write transaction that bumps the store's change sequence; `f` gets the new
    /// sequence number.
    fn write<T>(&self, f: impl FnOnce(&rusqlite::Transaction, u64) -> StoreResult<T>) -> StoreResult<T> {
        let mut inner = self.inner.lock();
        let tx = inner.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let seq: i64 =
            tx.query_row("UPDATE token SET seq = seq + 1 WHERE id = 1 RETURNING seq", [], |r| r.get(0))?;
        let out = f(&tx, seq as u64)?;
        tx.commit()?;
        Ok(out)
    }
}

fn create_private_dir(dir: &Path) -> StoreResult<()> {
    use std::os::unix::fs::DirBuilderExt;
    if !dir.exists() {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    }
    Ok(())
}

/// Creates the file owner-only before SQLite opens it; SQLite gives the WAL and shared-memory
/// files the same permissions.
fn create_private_file(path: &Path) -> StoreResult<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Refuses SQLite files that belong to something else, and non-SQLite files.
fn check_identity(conn: &Connection, display: &str) -> StoreResult<()> {
    let app_id: i64 = conn.query_row("PRAGMA application_id", [], |r| r.get(0))?;
    if app_id == APPLICATION_ID {
        return Ok(());
    }
    let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
    if app_id != 0 || tables != 0 {
        return Err(StoreError::Foreign(display.to_string()));
    }
    Ok(())
}

fn migrate(conn: &Connection, display: &str) -> StoreResult<()> {
    let supported = MIGRATIONS.len() as i64;
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > supported {
        return Err(StoreError::TooNew { path: display.to_string(), found: current, supported });
    }
    if current == supported {
        return Ok(());
    }
    // Another process may be migrating the same file: decide inside the write lock.
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = (|| -> StoreResult<()> {
        check_identity(conn, display)?;
        let mut version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        while version < supported {
            conn.execute_batch(MIGRATIONS[version as usize])?;
            if version == 0 {
                let serial = new_serial()?;
                conn.execute("INSERT INTO token (id, serial) VALUES (1, ?1)", params![serial])?;
                conn.execute_batch(&format!("PRAGMA application_id = {APPLICATION_ID}"))?;
            }
            version += 1;
            conn.execute_batch(&format!("PRAGMA user_version = {version}"))?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => conn.execute_batch("COMMIT")?,
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e);
        }
    }
    Ok(())
}

/// A token serial: 16 hexadecimal digits, random, fixed for the life of the store.
fn new_serial() -> StoreResult<String> {
    let bytes: [u8; 8] =
        crate::engine::rand::array().map_err(|_| StoreError::Corrupt("no randomness".into()))?;
    Ok(bytes.iter().map(|b| format!("{b:02X}")).collect())
}

fn pin_columns(owner: PinOwner) -> (&'static str, &'static str) {
    match owner {
        PinOwner::So => ("so_pin", "so_failures"),
        PinOwner::User => ("user_pin", "user_failures"),
    }
}

impl Store for SqliteStore {
    fn token(&self) -> StoreResult<TokenRecord> {
        let inner = self.inner.lock();
        let row = inner.conn.query_row(
            "SELECT serial, label, so_pin, user_pin, so_failures, user_failures, generation FROM token WHERE id = 1",
            [],
            |r| {
                Ok(TokenRecord {
                    serial: r.get(0)?,
                    label: r.get(1)?,
                    so_pin: r.get(2)?,
                    user_pin: r.get(3)?,
                    so_failures: r.get(4)?,
                    user_failures: r.get(5)?,
                    generation: r.get::<_, i64>(6)? as u64,
                })
            },
        );
        row.optional()?
            .ok_or_else(|| StoreError::Corrupt(format!("{}: token row missing", self.path.display())))
    }

    fn initialize(&self, label: &str, so_pin: &[u8]) -> StoreResult<()> {
        self.write(|tx, _| {
            tx.execute("DELETE FROM objects", [])?;
            tx.execute("DELETE FROM tombstones", [])?;
            tx.execute(
                "UPDATE token SET label = ?1, so_pin = ?2, user_pin = NULL, so_failures = 0,
                 user_failures = 0, generation = generation + 1 WHERE id = 1",
                params![label, so_pin],
            )?;
            Ok(())
        })
    }

    fn set_pin(&self, owner: PinOwner, record: &[u8]) -> StoreResult<()> {
        let (pin, failures) = pin_columns(owner);
        self.write(|tx, _| {
            tx.execute(
                &format!("UPDATE token SET {pin} = ?1, {failures} = 0 WHERE id = 1"),
                params![record],
            )?;
            Ok(())
        })
    }

    fn pin_failed(&self, owner: PinOwner) -> StoreResult<u32> {
        let (_, failures) = pin_columns(owner);
        self.write(|tx, _| {
            let n: u32 = tx.query_row(
                &format!("UPDATE token SET {failures} = {failures} + 1 WHERE id = 1 RETURNING {failures}"),
                [],
                |r| r.get(0),
            )?;
            Ok(n)
        })
    }

    fn pin_succeeded(&self, owner: PinOwner) -> StoreResult<()> {
        let (_, failures) = pin_columns(owner);
        // Most logins find the counter at zero already: skip the write (and its fsync) then.
        let current: u32 = {
            let inner = self.inner.lock();
            inner.conn.query_row(&format!("SELECT {failures} FROM token WHERE id = 1"), [], |r| r.get(0))?
        };
        if current == 0 {
            return Ok(());
        }
        self.write(|tx, _| {
            tx.execute(&format!("UPDATE token SET {failures} = 0 WHERE id = 1"), [])?;
            Ok(())
        })
    }

    fn insert(&self, records: &[&ObjectRecord]) -> StoreResult<u64> {
        self.write(|tx, seq| {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO objects (uid, class, label, ckid, private, seq, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for rec in records {
                stmt.execute(params![rec.uid, rec.class as i64, rec.label, rec.ckid, rec.private, seq as i64, rec.body])?;
            }
            Ok(seq)
        })
    }

    fn update(&self, rec: &ObjectRecord) -> StoreResult<Option<u64>> {
        self.write(|tx, seq| {
            let n = tx.execute(
                "UPDATE objects SET class = ?2, label = ?3, ckid = ?4, private = ?5, seq = ?6, body = ?7 WHERE uid = ?1",
                params![rec.uid, rec.class as i64, rec.label, rec.ckid, rec.private, seq as i64, rec.body],
            )?;
            Ok((n == 1).then_some(seq))
        })
    }

    fn delete(&self, uid: &str) -> StoreResult<bool> {
        self.write(|tx, seq| {
            let n = tx.execute("DELETE FROM objects WHERE uid = ?1", params![uid])?;
            if n == 1 {
                tx.execute("INSERT INTO tombstones (seq, uid) VALUES (?1, ?2)", params![seq as i64, uid])?;
            }
            Ok(n == 1)
        })
    }

    fn load(&self, uid: &str) -> StoreResult<Option<Stored>> {
        let inner = self.inner.lock();
        let mut stmt = inner
            .conn
            .prepare_cached("SELECT class, label, ckid, private, seq, body FROM objects WHERE uid = ?1")?;
        let row = stmt
            .query_row(params![uid], |r| {
                Ok(Stored {
                    record: ObjectRecord {
                        uid: uid.to_string(),
                        class: r.get::<_, i64>(0)? as u64,
                        label: r.get(1)?,
                        ckid: r.get(2)?,
                        private: r.get(3)?,
                        body: r.get(5)?,
                    },
                    seq: r.get::<_, i64>(4)? as u64,
                })
            })
            .optional()?;
        Ok(row)
    }

    fn find(&self, filter: &Filter) -> StoreResult<Vec<(String, u64)>> {
        let mut sql = String::from("SELECT uid, seq FROM objects WHERE 1");
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(c) = filter.class {
            args.push((c as i64).into());
            sql.push_str(&format!(" AND class = ?{}", args.len()));
        }
        if let Some(l) = &filter.label {
            args.push(l.clone().into());
            sql.push_str(&format!(" AND label = ?{}", args.len()));
        }
        if let Some(i) = &filter.ckid {
            args.push(i.clone().into());
            sql.push_str(&format!(" AND ckid = ?{}", args.len()));
        }
        if !filter.include_private {
            sql.push_str(" AND private = 0");
        }
        let inner = self.inner.lock();
        let mut stmt = inner.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn poll(&self, seq: u64, generation: u64) -> StoreResult<Option<Changes>> {
        let mut inner = self.inner.lock();
        let dv: i64 = inner.conn.query_row("PRAGMA data_version", [], |r| r.get(0))?;
        if dv == inner.data_version {
            return Ok(None);
        }
        // Read everything in one snapshot so the head matches the rows.
        let tx = inner.conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
        let (head, current_generation): (i64, i64) =
            tx.query_row("SELECT seq, generation FROM token WHERE id = 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        let mut changes =
            Changes { head: head as u64, generation: current_generation as u64, ..Changes::default() };
        if current_generation as u64 != generation {
            changes.reset = true;
        } else {
            let mut stmt = tx.prepare_cached("SELECT uid FROM objects WHERE seq > ?1")?;
            changes.changed =
                stmt.query_map(params![seq as i64], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?;
            drop(stmt);
            let mut stmt = tx.prepare_cached("SELECT uid FROM tombstones WHERE seq > ?1")?;
            changes.deleted =
                stmt.query_map(params![seq as i64], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?;
        }
        tx.finish()?;
        inner.data_version = dv;
        Ok(Some(changes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(uid: &str, label: &[u8]) -> ObjectRecord {
        ObjectRecord {
            uid: uid.into(),
            class: 0,
            label: label.to_vec(),
            ckid: vec![],
            private: false,
            body: vec![1, 2, 3],
        }
    }

    #[test]
    fn new_store_is_uninitialized_with_a_serial() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("t.sqlite3")).unwrap();
        let t = s.token().unwrap();
        assert_eq!(t.serial.len(), 16);
        assert!(t.label.is_none());
        // The serial is stable across opens.
        drop(s);
        let s = SqliteStore::open(&dir.path().join("t.sqlite3")).unwrap();
        assert_eq!(s.token().unwrap().serial, t.serial);
    }

    #[test]
    fn objects_round_trip_and_are_found_by_label() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("t.sqlite3")).unwrap();
        s.insert(&[&record("a", b"one")]).unwrap();
        s.insert(&[&record("b", b"two")]).unwrap();
        let found = s.find(&Filter { label: Some(b"two".to_vec()), ..Filter::default() }).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, "b");
        assert_eq!(s.load("a").unwrap().unwrap().record, record("a", b"one"));
        assert!(s.delete("a").unwrap());
        assert!(!s.delete("a").unwrap());
        assert!(s.load("a").unwrap().is_none());
    }

    #[test]
    fn another_connection_sees_changes_through_poll() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.sqlite3");
        let a = SqliteStore::open(&path).unwrap();
        let b = SqliteStore::open(&path).unwrap();
        let gen0 = b.token().unwrap().generation;
        assert!(b.poll(0, gen0).unwrap().is_none());
        a.insert(&[&record("x", b"l")]).unwrap();
        let seq = a.insert(&[&record("y", b"l")]).unwrap();
        let c = b.poll(0, gen0).unwrap().unwrap();
        assert_eq!(c.changed.len(), 2);
        assert_eq!(c.head, seq);
        assert!(b.poll(c.head, gen0).unwrap().is_none());
        a.delete("x").unwrap();
        let c2 = b.poll(c.head, gen0).unwrap().unwrap();
        assert_eq!(c2.deleted, vec!["x".to_string()]);
        a.initialize("label", b"so").unwrap();
        assert!(b.poll(c2.head, gen0).unwrap().unwrap().reset);
    }

    #[test]
    fn pin_failures_count_and_reset() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("t.sqlite3")).unwrap();
        assert_eq!(s.pin_failed(PinOwner::User).unwrap(), 1);
        assert_eq!(s.pin_failed(PinOwner::User).unwrap(), 2);
        assert_eq!(s.token().unwrap().user_failures, 2);
        s.pin_succeeded(PinOwner::User).unwrap();
        assert_eq!(s.token().unwrap().user_failures, 0);
        s.set_pin(PinOwner::So, b"rec").unwrap();
        assert_eq!(s.token().unwrap().so_pin.as_deref(), Some(&b"rec"[..]));
    }

    #[test]
    fn foreign_sqlite_file_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("other.db");
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);").unwrap();
        }
        let before = std::fs::read(&path).unwrap();
        assert!(matches!(SqliteStore::open(&path), Err(StoreError::Foreign(_))));
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    #[test]
    fn garbage_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junk.sqlite3");
        std::fs::write(&path, vec![0x42u8; 8192]).unwrap();
        let err = SqliteStore::open(&path).err().unwrap();
        assert_eq!(crate::error::Error::from(err), crate::error::Error::TokenNotRecognized);
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.sqlite3");
        drop(SqliteStore::open(&path).unwrap());
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch("PRAGMA user_version = 99").unwrap();
        }
        assert!(matches!(SqliteStore::open(&path), Err(StoreError::TooNew { found: 99, .. })));
    }
}
