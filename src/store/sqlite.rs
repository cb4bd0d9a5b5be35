//! The embedded SQLite store: one file per token, WAL journal with `synchronous=FULL`, so a
//! committed write survives a crash and a crash mid-write leaves nothing half-made. Several
//! processes may use one file; writers take the lock up front (`BEGIN IMMEDIATE`) and wait for
//! each other rather than failing with `SQLITE_BUSY`.

use super::{
    Changes, Counts, Filter, KmsKeyRecord, ObjectRecord, PinOwner, Store, StoreError, StoreResult, Stored,
    TokenRecord, Tx,
};
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
    // 1 → 2: managed keys (KMS metadata, versions, aliases); objects know their key.
    "ALTER TABLE objects ADD COLUMN key_id TEXT;
    DROP TABLE tombstones;
    CREATE TABLE tombstones (seq INTEGER NOT NULL, uid TEXT NOT NULL);
    CREATE INDEX tombstones_seq ON tombstones(seq);
    ALTER TABLE objects ADD COLUMN is_version INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX objects_key ON objects(key_id);
    CREATE TABLE kms_keys (
        key_id TEXT PRIMARY KEY NOT NULL,
        spec TEXT NOT NULL,
        usage TEXT NOT NULL,
        origin TEXT NOT NULL,
        state TEXT NOT NULL,
        description TEXT NOT NULL,
        tags TEXT NOT NULL,
        created INTEGER NOT NULL,
        creator TEXT NOT NULL,
        primary_version TEXT NOT NULL,
        rotation_interval INTEGER NOT NULL,
        next_rotation INTEGER NOT NULL,
        last_rotation INTEGER NOT NULL,
        deletion_date INTEGER NOT NULL,
        deletion_protection INTEGER NOT NULL,
        deletion_protection_description TEXT NOT NULL,
        material_expiry INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE kms_versions (
        n INTEGER PRIMARY KEY,
        version_id TEXT UNIQUE NOT NULL,
        key_id TEXT NOT NULL,
        created INTEGER NOT NULL
    );
    CREATE INDEX kms_versions_key ON kms_versions(key_id, n);
    CREATE TABLE kms_aliases (
        alias TEXT PRIMARY KEY NOT NULL,
        key_id TEXT NOT NULL,
        created INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX kms_aliases_key ON kms_aliases(key_id);",
    // 2 → 3: the audit trail's key and chain head (survive C_InitToken: the trail outlives a
    // wipe).
    "CREATE TABLE audit (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        key BLOB NOT NULL,
        seq INTEGER NOT NULL,
        mac BLOB NOT NULL,
        file_len INTEGER NOT NULL
    );",
    // 3 → 4: what BYOK re-imports are checked against.
    "ALTER TABLE kms_keys ADD COLUMN material_digest BLOB NOT NULL DEFAULT x'';",
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
    /// The connection that writes, and follows other processes' commits (`PRAGMA
    /// data_version` counts commits made on other connections).
    inner: Mutex<Inner>,
    /// Idle connections for searches and object loads: threads run those side by side (WAL
    /// lets readers share the file), where on the one connection they took turns, and each
    /// turn cost a sleeping thread's wake-up.
    readers: Mutex<Vec<Connection>>,
}

/// Reading connections kept open between uses; more are opened while more threads read at
/// once, and closed after.
const IDLE_READERS: usize = 4;

impl SqliteStore {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: &Path) -> StoreResult<SqliteStore> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir)?;
        }
        create_private_file(path)?;
        let conn = connect(path)?;
        let display = path.display().to_string();
        check_identity(&conn, &display)?;
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Corrupt(format!("{display}: cannot use WAL journal (got {mode})")));
        }
        conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")?;
        migrate(&conn, &display)?;
        let data_version = conn.query_row("PRAGMA data_version", [], |r| r.get(0))?;
        Ok(SqliteStore {
            path: path.to_path_buf(),
            inner: Mutex::new(Inner { conn, data_version }),
            readers: Mutex::new(Vec::new()),
        })
    }

    /// Runs `f` on an idle reading connection, opening one if none is idle.
    fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        let idle = self.readers.lock().pop();
        let conn = match idle {
            Some(c) => c,
            None => {
                let conn = connect(&self.path)?;
                conn.execute_batch("PRAGMA query_only=ON")?;
                conn
            }
        };
        let out = f(&conn);
        let mut idle = self.readers.lock();
        if idle.len() < IDLE_READERS {
            idle.push(conn);
        }
        out
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Commits on this connection stop waiting for the disk (WAL `synchronous=NORMAL`): for
    /// the audit writer's chain head, which may lag its file after a power loss (the next
    /// writer adopts the records past it), and which would otherwise cost a second fsync per
    /// batch of records.
    pub fn relax_durability(&self) -> StoreResult<()> {
        self.inner.lock().conn.execute_batch("PRAGMA synchronous=NORMAL")?;
        Ok(())
    }

    /// The audit trail's HMAC key.
    pub fn audit_key(&self) -> StoreResult<zeroize::Zeroizing<Vec<u8>>> {
        let inner = self.inner.lock();
        let key: Vec<u8> = inner.conn.query_row("SELECT key FROM audit WHERE id = 1", [], |r| r.get(0))?;
        Ok(zeroize::Zeroizing::new(key))
    }

    /// The audit chain head: last sequence number, its MAC, and the current file's length.
    pub fn audit_head(&self) -> StoreResult<(u64, Vec<u8>, u64)> {
        let inner = self.inner.lock();
        Ok(inner.conn.query_row("SELECT seq, mac, file_len FROM audit WHERE id = 1", [], |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get(1)?, r.get::<_, i64>(2)? as u64))
        })?)
    }

    /// Moves the head forward (never back: writers of several processes take turns).
    pub fn set_audit_head(&self, seq: u64, mac: &[u8], file_len: u64) -> StoreResult<()> {
        let inner = self.inner.lock();
        inner.conn.execute(
            "UPDATE audit SET seq = ?1, mac = ?2, file_len = ?3 WHERE id = 1 AND seq <= ?1",
            params![seq as i64, mac, file_len as i64],
        )?;
        Ok(())
    }

    /// Runs `f` in a write transaction that bumps the store's change sequence.
    fn transact<T>(&self, f: impl FnOnce(&mut SqliteTx<'_>) -> StoreResult<T>) -> StoreResult<(T, u64)> {
        let mut inner = self.inner.lock();
        let tx = inner.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let seq: i64 =
            tx.query_row("UPDATE token SET seq = seq + 1 WHERE id = 1 RETURNING seq", [], |r| r.get(0))?;
        let out = {
            let mut t = SqliteTx { tx: &tx, seq: seq as u64 };
            f(&mut t)?
        };
        tx.commit()?;
        Ok((out, seq as u64))
    }
}

/// One transaction's view of the store.
struct SqliteTx<'a> {
    tx: &'a rusqlite::Transaction<'a>,
    seq: u64,
}

const OBJECT_COLUMNS: &str = "class, label, ckid, private, key_id, is_version, body";

fn object_from_row(uid: &str, r: &rusqlite::Row<'_>) -> rusqlite::Result<ObjectRecord> {
    Ok(ObjectRecord {
        uid: uid.to_string(),
        class: r.get::<_, i64>(0)? as u64,
        label: r.get(1)?,
        ckid: r.get(2)?,
        private: r.get(3)?,
        key_id: r.get(4)?,
        is_version: r.get(5)?,
        body: r.get(6)?,
    })
}

const KMS_COLUMNS: &str = "key_id, spec, usage, origin, state, description, tags, created, creator, \
     primary_version, rotation_interval, next_rotation, last_rotation, deletion_date, deletion_protection, \
     deletion_protection_description, material_expiry, material_digest";

fn kms_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<KmsKeyRecord> {
    let n = |i: usize| r.get::<_, i64>(i).map(|v| v as u64);
    Ok(KmsKeyRecord {
        key_id: r.get(0)?,
        spec: r.get(1)?,
        usage: r.get(2)?,
        origin: r.get(3)?,
        state: r.get(4)?,
        description: r.get(5)?,
        tags: r.get(6)?,
        created: n(7)?,
        creator: r.get(8)?,
        primary_version: r.get(9)?,
        rotation_interval: n(10)?,
        next_rotation: n(11)?,
        last_rotation: n(12)?,
        deletion_date: n(13)?,
        deletion_protection: r.get(14)?,
        deletion_protection_description: r.get(15)?,
        material_expiry: n(16)?,
        material_digest: r.get(17)?,
    })
}

fn strings(rows: impl Iterator<Item = rusqlite::Result<String>>) -> StoreResult<Vec<String>> {
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

impl Tx for SqliteTx<'_> {
    fn insert_object(&mut self, rec: &ObjectRecord) -> StoreResult<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO objects (uid, class, label, ckid, private, key_id, is_version, seq, body) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                rec.uid,
                rec.class as i64,
                rec.label,
                rec.ckid,
                rec.private,
                rec.key_id,
                rec.is_version,
                self.seq as i64,
                rec.body
            ])?;
        Ok(())
    }

    fn update_object(&mut self, rec: &ObjectRecord) -> StoreResult<bool> {
        let n = self
            .tx
            .prepare_cached(
                "UPDATE objects SET class = ?2, label = ?3, ckid = ?4, private = ?5, key_id = ?6, is_version = ?7, \
                 seq = ?8, body = ?9 WHERE uid = ?1",
            )?
            .execute(params![
                rec.uid,
                rec.class as i64,
                rec.label,
                rec.ckid,
                rec.private,
                rec.key_id,
                rec.is_version,
                self.seq as i64,
                rec.body
            ])?;
        Ok(n == 1)
    }

    fn delete_object(&mut self, uid: &str) -> StoreResult<bool> {
        let n = self.tx.prepare_cached("DELETE FROM objects WHERE uid = ?1")?.execute(params![uid])?;
        if n == 1 {
            self.tx
                .prepare_cached("INSERT INTO tombstones (seq, uid) VALUES (?1, ?2)")?
                .execute(params![self.seq as i64, uid])?;
        }
        Ok(n == 1)
    }

    fn load_object(&mut self, uid: &str) -> StoreResult<Option<ObjectRecord>> {
        let sql = format!("SELECT {OBJECT_COLUMNS} FROM objects WHERE uid = ?1");
        Ok(self.tx.prepare_cached(&sql)?.query_row(params![uid], |r| object_from_row(uid, r)).optional()?)
    }

    fn objects_of_key(&mut self, key_id: &str) -> StoreResult<Vec<(String, bool)>> {
        let mut stmt = self.tx.prepare_cached("SELECT uid, is_version FROM objects WHERE key_id = ?1")?;
        let rows = stmt.query_map(params![key_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn kms_key(&mut self, key_id: &str) -> StoreResult<Option<KmsKeyRecord>> {
        let sql = format!("SELECT {KMS_COLUMNS} FROM kms_keys WHERE key_id = ?1");
        Ok(self.tx.prepare_cached(&sql)?.query_row(params![key_id], kms_from_row).optional()?)
    }

    fn kms_keys(&mut self) -> StoreResult<Vec<KmsKeyRecord>> {
        let sql = format!("SELECT {KMS_COLUMNS} FROM kms_keys ORDER BY created, key_id");
        let mut stmt = self.tx.prepare_cached(&sql)?;
        let rows = stmt.query_map([], kms_from_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn key_of_version(&mut self, version_id: &str) -> StoreResult<Option<String>> {
        Ok(self
            .tx
            .prepare_cached("SELECT key_id FROM kms_versions WHERE version_id = ?1")?
            .query_row(params![version_id], |r| r.get(0))
            .optional()?)
    }

    fn all_aliases(&mut self) -> StoreResult<Vec<(String, String)>> {
        let mut stmt = self.tx.prepare_cached("SELECT alias, key_id FROM kms_aliases ORDER BY alias")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn put_kms_key(&mut self, k: &KmsKeyRecord) -> StoreResult<()> {
        let sql = format!(
            "INSERT OR REPLACE INTO kms_keys ({KMS_COLUMNS}) VALUES \
             (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)"
        );
        self.tx.prepare_cached(&sql)?.execute(params![
            k.key_id,
            k.spec,
            k.usage,
            k.origin,
            k.state,
            k.description,
            k.tags,
            k.created as i64,
            k.creator,
            k.primary_version,
            k.rotation_interval as i64,
            k.next_rotation as i64,
            k.last_rotation as i64,
            k.deletion_date as i64,
            k.deletion_protection,
            k.deletion_protection_description,
            k.material_expiry as i64,
            k.material_digest,
        ])?;
        Ok(())
    }

    fn delete_kms_key(&mut self, key_id: &str) -> StoreResult<()> {
        for sql in [
            "DELETE FROM kms_aliases WHERE key_id = ?1",
            "DELETE FROM kms_versions WHERE key_id = ?1",
            "DELETE FROM kms_keys WHERE key_id = ?1",
        ] {
            self.tx.prepare_cached(sql)?.execute(params![key_id])?;
        }
        Ok(())
    }

    fn add_version(&mut self, key_id: &str, version_id: &str, created: u64) -> StoreResult<()> {
        self.tx
            .prepare_cached("INSERT INTO kms_versions (version_id, key_id, created) VALUES (?1, ?2, ?3)")?
            .execute(params![version_id, key_id, created as i64])?;
        Ok(())
    }

    fn delete_versions(&mut self, key_id: &str) -> StoreResult<()> {
        self.tx.prepare_cached("DELETE FROM kms_versions WHERE key_id = ?1")?.execute(params![key_id])?;
        Ok(())
    }

    fn versions(&mut self, key_id: &str) -> StoreResult<Vec<(String, u64)>> {
        let mut stmt = self
            .tx
            .prepare_cached("SELECT version_id, created FROM kms_versions WHERE key_id = ?1 ORDER BY n")?;
        let rows = stmt.query_map(params![key_id], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn alias_target(&mut self, alias: &str) -> StoreResult<Option<String>> {
        Ok(self
            .tx
            .prepare_cached("SELECT key_id FROM kms_aliases WHERE alias = ?1")?
            .query_row(params![alias], |r| r.get(0))
            .optional()?)
    }

    fn put_alias(&mut self, alias: &str, key_id: &str, created: u64) -> StoreResult<()> {
        self.tx
            .prepare_cached(
                "INSERT OR REPLACE INTO kms_aliases (alias, key_id, created) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![alias, key_id, created as i64])?;
        Ok(())
    }

    fn delete_alias(&mut self, alias: &str) -> StoreResult<bool> {
        Ok(self.tx.prepare_cached("DELETE FROM kms_aliases WHERE alias = ?1")?.execute(params![alias])? == 1)
    }

    fn aliases_of(&mut self, key_id: &str) -> StoreResult<Vec<String>> {
        let mut stmt =
            self.tx.prepare_cached("SELECT alias FROM kms_aliases WHERE key_id = ?1 ORDER BY alias")?;
        let rows = stmt.query_map(params![key_id], |r| r.get(0))?;
        strings(rows)
    }

    fn counts(&mut self) -> StoreResult<Counts> {
        let count = |sql: &str| -> StoreResult<u64> {
            Ok(self.tx.prepare_cached(sql)?.query_row([], |r| r.get::<_, i64>(0))? as u64)
        };
        Ok(Counts {
            keys: count("SELECT count(*) FROM kms_keys")?,
            aliases: count("SELECT count(*) FROM kms_aliases")?,
            versions: count("SELECT count(*) FROM kms_versions")?,
        })
    }

    fn due_keys(&mut self, now: u64) -> StoreResult<Vec<String>> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT key_id FROM kms_keys WHERE (next_rotation > 0 AND next_rotation <= ?1) \
             OR (deletion_date > 0 AND deletion_date <= ?1) OR (material_expiry > 0 AND material_expiry <= ?1)",
        )?;
        let rows = stmt.query_map(params![now as i64], |r| r.get(0))?;
        strings(rows)
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

/// A connection to an existing file (made by `create_private_file`, never by SQLite, so its
/// mode stays private), used by one thread at a time, that waits out other writers.
fn connect(path: &Path) -> StoreResult<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
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
            if version == 2 {
                let key: [u8; 32] =
                    crate::engine::rand::array().map_err(|_| StoreError::Corrupt("no randomness".into()))?;
                conn.execute(
                    "INSERT INTO audit (id, key, seq, mac, file_len) VALUES (1, ?1, 0, ?2, 0)",
                    params![key.as_slice(), [0u8; crate::kms::audit::chain::MAC_LEN].as_slice()],
                )?;
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
        self.transact(|t| {
            for table in ["objects", "tombstones", "kms_keys", "kms_versions", "kms_aliases"] {
                t.tx.execute(&format!("DELETE FROM {table}"), [])?;
            }
            t.tx.execute(
                "UPDATE token SET label = ?1, so_pin = ?2, user_pin = NULL, so_failures = 0,
                 user_failures = 0, generation = generation + 1 WHERE id = 1",
                params![label, so_pin],
            )?;
            Ok(())
        })
        .map(|_| ())
    }

    fn set_pin(&self, owner: PinOwner, record: &[u8]) -> StoreResult<()> {
        let (pin, failures) = pin_columns(owner);
        self.transact(|t| {
            t.tx.execute(
                &format!("UPDATE token SET {pin} = ?1, {failures} = 0 WHERE id = 1"),
                params![record],
            )?;
            Ok(())
        })
        .map(|_| ())
    }

    fn pin_failed(&self, owner: PinOwner) -> StoreResult<u32> {
        let (_, failures) = pin_columns(owner);
        self.transact(|t| {
            let n: u32 = t.tx.query_row(
                &format!("UPDATE token SET {failures} = {failures} + 1 WHERE id = 1 RETURNING {failures}"),
                [],
                |r| r.get(0),
            )?;
            Ok(n)
        })
        .map(|(n, _)| n)
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
        self.transact(|t| {
            t.tx.execute(&format!("UPDATE token SET {failures} = 0 WHERE id = 1"), [])?;
            Ok(())
        })
        .map(|_| ())
    }

    fn insert(&self, records: &[&ObjectRecord]) -> StoreResult<u64> {
        self.write(&mut |tx| records.iter().try_for_each(|r| tx.insert_object(r)))
    }

    fn update(&self, rec: &ObjectRecord) -> StoreResult<Option<u64>> {
        let mut found = false;
        let seq = self.write(&mut |tx| {
            found = tx.update_object(rec)?;
            Ok(())
        })?;
        Ok(found.then_some(seq))
    }

    fn delete(&self, uid: &str) -> StoreResult<bool> {
        let mut found = false;
        self.write(&mut |tx| {
            found = tx.delete_object(uid)?;
            Ok(())
        })?;
        Ok(found)
    }

    fn load(&self, uid: &str) -> StoreResult<Option<Stored>> {
        let sql = format!("SELECT {OBJECT_COLUMNS}, seq FROM objects WHERE uid = ?1");
        self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(&sql)?;
            let row = stmt
                .query_row(params![uid], |r| {
                    Ok(Stored { record: object_from_row(uid, r)?, seq: r.get::<_, i64>(7)? as u64 })
                })
                .optional()?;
            Ok(row)
        })
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
        if let Some(k) = &filter.key_id {
            args.push(k.clone().into());
            sql.push_str(&format!(" AND key_id = ?{}", args.len()));
        }
        if !filter.include_private {
            sql.push_str(" AND private = 0");
        }
        if !filter.include_versions {
            sql.push_str(" AND is_version = 0");
        }
        self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn write(&self, f: &mut dyn FnMut(&mut dyn Tx) -> StoreResult<()>) -> StoreResult<u64> {
        self.transact(|t| f(t)).map(|((), seq)| seq)
    }

    fn read(&self, f: &mut dyn FnMut(&mut dyn Tx) -> StoreResult<()>) -> StoreResult<()> {
        let mut inner = self.inner.lock();
        let tx = inner.conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
        {
            let mut t = SqliteTx { tx: &tx, seq: 0 };
            f(&mut t)?;
        }
        tx.finish()?;
        Ok(())
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
            key_id: None,
            is_version: false,
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
    fn readers_run_side_by_side_see_commits_and_a_few_stay_open() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("t.sqlite3")).unwrap();
        s.insert(&[&record("a", b"one")]).unwrap();
        // Six reads at once, as six threads would hold them: each has its own connection.
        fn nest(s: &SqliteStore, depth: usize) -> usize {
            s.with_reader(|conn| {
                let n: i64 = conn.query_row("SELECT count(*) FROM objects", [], |r| r.get(0))?;
                assert_eq!(n, 1);
                Ok(if depth == 1 { 1 } else { 1 + nest(s, depth - 1) })
            })
            .unwrap()
        }
        assert_eq!(nest(&s, 6), 6);
        assert_eq!(s.readers.lock().len(), IDLE_READERS);
        // A reader sees what the writer commits after it was opened.
        s.insert(&[&record("b", b"two")]).unwrap();
        assert_eq!(s.find(&Filter { label: Some(b"two".to_vec()), ..Filter::default() }).unwrap().len(), 1);
        // And it cannot write.
        let write = s.with_reader(|conn| Ok(conn.execute("DELETE FROM objects", [])?));
        assert!(write.is_err());
        assert_eq!(s.find(&Filter::default()).unwrap().len(), 2);
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
