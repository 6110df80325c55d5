//! Durable state behind async repository traits ([`repo`]): services, connections with
//! their sealed secrets ([`seal`]), grants, functions with their versions, components
//! and artifacts, OAuth flows and the audit trail. [`RedbStore`] implements them over
//! one embedded redb database; a PostgreSQL store is meant to implement them next.
//!
//! Every table is declared in [`tables`]; records are JSON so fields can be added
//! without a migration, and the layout's version is checked (and older layouts
//! migrated) when the database is opened ([`migrate`]). The redb work blocks on disk
//! I/O, so [`RedbStore`] runs it on `tokio::task::spawn_blocking`: callers just await.

mod catalog;
mod connections;
mod functions;
mod migrate;
mod reader;
mod redb_repo;
pub mod repo;
mod seal;
mod tables;

use std::path::Path;
use std::sync::Arc;

use redb::Database;
use serde::{Deserialize, Serialize};

pub use migrate::SCHEMA_VERSION;
pub use repo::{
    AuditRepo, ConnectionRepo, Deploy, FlowRepo, FunctionRepo, GrantRepo, RecordUpdate,
    Repositories, RowKeys, ServiceRepo, SnapshotRepo, SnapshotRows, StoreResult, TouchedRows,
    WithSecret,
};
pub use seal::{MasterKey, SealError, Sealer};
use switchboard_model::records::Artifact;

/// What went wrong in the store. Callers branch on the first five.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No function with this name.
    #[error("function `{0}` not found")]
    FunctionNotFound(String),
    /// The function exists but has no such version.
    #[error("function `{name}` has no version {version}")]
    VersionNotFound {
        /// Function name.
        name: String,
        /// Requested version.
        version: u32,
    },
    /// A service, connection or grant does not exist.
    #[error("{0}")]
    Missing(String),
    /// A link name is taken.
    #[error("{0}")]
    Conflict(String),
    /// The record changed since it was read: its revision moved (or, for a token
    /// refresh, its credentials did). Read it again and retry.
    #[error("{0}")]
    Stale(String),
    /// The secrets are sealed under another master key than the one in use.
    #[error(
        "the database's secrets are sealed under master key {stored}, but the host was given key {running}; \
         restore the original key file (or SWITCHBOARD_MASTER_KEY)"
    )]
    WrongKey {
        /// Id of the key the secrets are sealed under.
        stored: String,
        /// Id of the key given.
        running: String,
    },
    /// The database was written by a newer release, with a layout this one does not know.
    #[error(
        "the database has schema version {found}, but this release knows versions up to {known}; \
         run the release that wrote it (or a newer one), or restore a backup made before the upgrade"
    )]
    NewerSchema {
        /// The database's schema version.
        found: u32,
        /// The newest this code knows.
        known: u32,
    },
    /// A sealed secret did not open.
    #[error("a sealed secret does not open: {0}")]
    Sealed(String),
    /// A stored record could not be decoded (written by a newer release, or damaged).
    #[error("stored record is unreadable: {0}")]
    Corrupt(String),
    /// The database failed.
    #[error("database error: {0}")]
    Db(#[from] redb::Error),
    /// The blocking task running a store call failed (panicked or was cancelled).
    #[error("store task failed: {0}")]
    Task(String),
}

macro_rules! impl_from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Db(e.into())
            }
        }
    )*};
}
impl_from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// The API's view of a store failure: missing things are 404s, conflicts and stale
/// writes 409s, the rest internal errors whose details are logged, not returned.
impl From<StoreError> for switchboard_model::Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::FunctionNotFound(_)
            | StoreError::VersionNotFound { .. }
            | StoreError::Missing(_) => switchboard_model::Error::NotFound(e.to_string()),
            StoreError::Conflict(m) | StoreError::Stale(m) => switchboard_model::Error::Conflict(m),
            other => switchboard_model::Error::Internal(other.into()),
        }
    }
}

/// The message of a [`StoreError::Stale`]: what changed, and what to do.
fn stale(what: &str, expected: u64, found: u64) -> StoreError {
    StoreError::Stale(format!(
        "{what} changed while this request was handled (revision {expected}, now {found}); \
         read it again and retry"
    ))
}

/// The redb database: the one [`repo::Repositories`] implementation today. Cheap to
/// clone (an `Arc`); redb serialises writers itself.
#[derive(Debug, Clone)]
pub struct RedbStore {
    db: Arc<Db>,
}

/// The database and its blocking operations (one transaction each).
#[derive(Debug)]
struct Db {
    db: Database,
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("records serialise infallibly")
}

fn encode_artifact(a: &Artifact) -> Vec<u8> {
    let mut v = Vec::with_capacity(32 + a.bytes.len());
    v.extend_from_slice(&a.engine_hash);
    v.extend_from_slice(&a.bytes);
    v
}

fn decode_artifact(bytes: &[u8]) -> Result<Artifact, StoreError> {
    if bytes.len() < 32 {
        return Err(StoreError::Corrupt(
            "artifact shorter than its header".into(),
        ));
    }
    let (hash, code) = bytes.split_at(32);
    Ok(Artifact {
        engine_hash: hash.try_into().expect("split at 32"),
        bytes: code.to_vec(),
    })
}

impl RedbStore {
    /// Opens (or creates) the database at `path`: makes sure every table exists and
    /// migrates an older layout to this one, in one write transaction. Blocks on disk
    /// I/O (call it before serving, or on a blocking thread).
    ///
    /// # Errors
    /// The file is locked by another process, unreadable, or not a redb database;
    /// [`StoreError::NewerSchema`] for a database written by a newer release; a
    /// migration that failed (the database is left as it was).
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = Database::create(path)?;
        migrate::open(&db)?;
        Ok(Self {
            db: Arc::new(Db { db }),
        })
    }

    /// Everything as an `Arc<dyn Repositories>`, what the host's parts hold.
    pub fn repositories(&self) -> Arc<dyn Repositories> {
        Arc::new(self.clone())
    }

    /// Runs `f` over the database on a blocking thread.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Db) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?
    }
}

#[cfg(test)]
mod tests;
