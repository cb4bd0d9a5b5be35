//! Persistence of a token behind a trait (DESIGN §5). The store keeps opaque records: it knows
//! nothing of crypto (sealing happens above it) nor of attribute semantics beyond the few
//! columns it indexes for `C_FindObjects`.

pub mod sqlite;

use crate::error::Error;

/// Whose PIN a record is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinOwner {
    So,
    User,
}

/// The token row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// Assigned when the store is created; never changes.
    pub serial: String,
    /// Set by `C_InitToken`; `None` while the token is not initialized.
    pub label: Option<String>,
    /// The token master key wrapped under the SO PIN (opaque to the store).
    pub so_pin: Option<Vec<u8>>,
    /// The token master key wrapped under the user PIN; `None` until `C_InitPIN`.
    pub user_pin: Option<Vec<u8>>,
    pub so_failures: u32,
    pub user_failures: u32,
    /// Changes whenever `C_InitToken` wipes the token, so other processes drop what they cached.
    pub generation: u64,
}

/// One object as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct ObjectRecord {
    pub uid: String,
    pub class: u64,
    pub label: Vec<u8>,
    pub ckid: Vec<u8>,
    pub private: bool,
    /// The managed key the object belongs to, if any.
    pub key_id: Option<String>,
    /// One version of a managed key (rather than the key itself).
    pub is_version: bool,
    /// The encoded attributes (secret ones already sealed).
    pub body: Vec<u8>,
}

/// A managed key's metadata as stored (the KMS layer gives the strings their meaning).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KmsKeyRecord {
    pub key_id: String,
    pub spec: String,
    pub usage: String,
    pub origin: String,
    pub state: String,
    pub description: String,
    /// JSON object of strings.
    pub tags: String,
    pub created: u64,
    pub creator: String,
    pub primary_version: String,
    /// Seconds; 0 = no automatic rotation.
    pub rotation_interval: u64,
    /// Unix seconds; 0 = none.
    pub next_rotation: u64,
    pub last_rotation: u64,
    pub deletion_date: u64,
    pub deletion_protection: bool,
    pub deletion_protection_description: String,
    /// When imported material expires (BYOK), Unix seconds; 0 = never.
    pub material_expiry: u64,
    /// A keyed digest of the first material imported (BYOK): a later import must match it, and
    /// the material itself is never stored twice. Empty until then.
    pub material_digest: Vec<u8>,
}

/// Resource counts of a token, for quotas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub keys: u64,
    pub aliases: u64,
    pub versions: u64,
}

/// The writes of one transaction. Everything done through it commits together or not at all,
/// and every object written gets the transaction's sequence number.
pub trait Tx {
    fn insert_object(&mut self, record: &ObjectRecord) -> StoreResult<()>;
    /// `false` when the object is gone.
    fn update_object(&mut self, record: &ObjectRecord) -> StoreResult<bool>;
    fn delete_object(&mut self, uid: &str) -> StoreResult<bool>;
    fn load_object(&mut self, uid: &str) -> StoreResult<Option<ObjectRecord>>;
    /// The objects of a managed key: (uid, is_version).
    fn objects_of_key(&mut self, key_id: &str) -> StoreResult<Vec<(String, bool)>>;
    fn kms_key(&mut self, key_id: &str) -> StoreResult<Option<KmsKeyRecord>>;
    /// Every managed key, oldest first.
    fn kms_keys(&mut self) -> StoreResult<Vec<KmsKeyRecord>>;
    /// The key a version belongs to.
    fn key_of_version(&mut self, version_id: &str) -> StoreResult<Option<String>>;
    /// Every alias with its key, by name.
    fn all_aliases(&mut self) -> StoreResult<Vec<(String, String)>>;
    /// Inserts or replaces a managed key's metadata.
    fn put_kms_key(&mut self, record: &KmsKeyRecord) -> StoreResult<()>;
    /// Removes a managed key's metadata, versions and aliases.
    fn delete_kms_key(&mut self, key_id: &str) -> StoreResult<()>;
    fn add_version(&mut self, key_id: &str, version_id: &str, created: u64) -> StoreResult<()>;
    /// Forgets every version of a key (its imported material expired).
    fn delete_versions(&mut self, key_id: &str) -> StoreResult<()>;
    /// A key's versions, oldest first: (version id, created).
    fn versions(&mut self, key_id: &str) -> StoreResult<Vec<(String, u64)>>;
    /// The key an alias names.
    fn alias_target(&mut self, alias: &str) -> StoreResult<Option<String>>;
    /// Points an alias at a key (creating or repointing it).
    fn put_alias(&mut self, alias: &str, key_id: &str, created: u64) -> StoreResult<()>;
    fn delete_alias(&mut self, alias: &str) -> StoreResult<bool>;
    fn aliases_of(&mut self, key_id: &str) -> StoreResult<Vec<String>>;
    fn counts(&mut self) -> StoreResult<Counts>;
    /// Keys with something due at or before `now`: a rotation, a deletion or an expiry.
    fn due_keys(&mut self, now: u64) -> StoreResult<Vec<String>>;
}

impl std::fmt::Debug for ObjectRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectRecord")
            .field("uid", &self.uid)
            .field("class", &self.class)
            .finish_non_exhaustive()
    }
}

/// A record with the change sequence number of its last write.
#[derive(Debug, Clone)]
pub struct Stored {
    pub record: ObjectRecord,
    pub seq: u64,
}

/// What other processes changed since a sequence number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// The newest sequence number seen.
    pub head: u64,
    /// The token's wipe generation now.
    pub generation: u64,
    /// Objects written (created or changed).
    pub changed: Vec<String>,
    /// Objects destroyed.
    pub deleted: Vec<String>,
    /// The token was wiped (`C_InitToken`): everything cached is stale.
    pub reset: bool,
}

/// Indexed criteria of a search; the caller filters the rest of the template.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub class: Option<u64>,
    pub label: Option<Vec<u8>>,
    pub ckid: Option<Vec<u8>>,
    pub key_id: Option<String>,
    pub include_private: bool,
    /// Also the objects that are versions of managed keys.
    pub include_versions: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0} is not a kms-pkcs11 token store")]
    Foreign(String),
    #[error("{path} has schema version {found}, newer than this library's {supported}")]
    TooNew { path: String, found: i64, supported: i64 },
    #[error("store is damaged: {0}")]
    Corrupt(String),
    /// A KMS rule refused the transaction (raised by the caller inside `write`).
    #[error("{0}")]
    Refused(crate::kms::KmsError),
}

pub type StoreResult<T> = Result<T, StoreError>;

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Error {
        use rusqlite::ErrorCode;
        if let StoreError::Refused(k) = e {
            return k.into();
        }
        let sqlite_code = match &e {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => Some(f.code),
            _ => None,
        };
        log::error!("token store: {e}");
        match sqlite_code {
            Some(ErrorCode::DiskFull) => Error::DeviceMemory,
            Some(ErrorCode::ReadOnly) => Error::TokenWriteProtected,
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => Error::TokenNotRecognized,
            _ => match e {
                StoreError::Foreign(_) | StoreError::TooNew { .. } | StoreError::Corrupt(_) => {
                    Error::TokenNotRecognized
                }
                _ => Error::DeviceError,
            },
        }
    }
}

/// A token's persistent state. Implementations are safe to share between threads, and several
/// processes may open the same store at once.
pub trait Store: Send + Sync {
    /// The token row.
    fn token(&self) -> StoreResult<TokenRecord>;
    /// Wipes every object and sets the label and SO PIN record (`C_InitToken`); the user PIN
    /// becomes uninitialized.
    fn initialize(&self, label: &str, so_pin: &[u8]) -> StoreResult<()>;
    /// Replaces a PIN record and clears its failure count.
    fn set_pin(&self, owner: PinOwner, record: &[u8]) -> StoreResult<()>;
    /// Counts a wrong PIN; returns the failures in a row now recorded.
    fn pin_failed(&self, owner: PinOwner) -> StoreResult<u32>;
    /// Clears the failure count after a correct PIN.
    fn pin_succeeded(&self, owner: PinOwner) -> StoreResult<()>;
    /// Adds objects in one transaction (a key pair is both halves or neither); returns their
    /// sequence number.
    fn insert(&self, records: &[&ObjectRecord]) -> StoreResult<u64>;
    /// Rewrites an existing object; returns its new sequence number, or `None` if it is gone.
    fn update(&self, record: &ObjectRecord) -> StoreResult<Option<u64>>;
    /// Removes an object; `false` if it was already gone.
    fn delete(&self, uid: &str) -> StoreResult<bool>;
    fn load(&self, uid: &str) -> StoreResult<Option<Stored>>;
    /// Objects matching the indexed criteria, with their sequence numbers.
    fn find(&self, filter: &Filter) -> StoreResult<Vec<(String, u64)>>;
    /// What changed since `seq` if another connection wrote since the last poll, else `None`.
    fn poll(&self, seq: u64, generation: u64) -> StoreResult<Option<Changes>>;
    /// Runs `f` in one write transaction (others wait for it); returns the transaction's
    /// sequence number. `f`'s error rolls everything back.
    fn write(&self, f: &mut dyn FnMut(&mut dyn Tx) -> StoreResult<()>) -> StoreResult<u64>;
    /// Runs `f` on one consistent snapshot, for reads.
    fn read(&self, f: &mut dyn FnMut(&mut dyn Tx) -> StoreResult<()>) -> StoreResult<()>;
}
