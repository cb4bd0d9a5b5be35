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
    /// The encoded attributes (secret ones already sealed).
    pub body: Vec<u8>,
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
    pub include_private: bool,
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
}

pub type StoreResult<T> = Result<T, StoreError>;

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Error {
        use rusqlite::ErrorCode;
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
}
