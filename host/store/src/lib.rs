//! Durable state in one embedded redb database: functions, their versions, the
//! uploaded components and their precompiled artifacts; services, connections, their
//! sealed secrets ([`seal`]), grants and the audit trail ([`connections`]).
//!
//! Every table is declared in [`tables`]; records are JSON so fields can be added
//! without a migration. All methods block on disk I/O: call them from
//! `tokio::task::spawn_blocking`, never from an async task directly.

mod catalog;
mod connections;
mod reader;
mod seal;
mod tables;

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable};
use serde::{Deserialize, Serialize};

pub use reader::Reader;
pub use seal::{MasterKey, SealError, Sealer};
use switchboard_model::records::{Artifact, FunctionRecord, NewVersion, VersionRecord};
use tables::{
    ARTIFACTS, AUDIT, COMPONENTS, CONNECTIONS, FUNCTIONS, GRANTS, META, OAUTH_FLOWS, SECRETS,
    SERVICES, VERSIONS,
};

/// What went wrong in the store. Callers branch on the first three.
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
    /// A sealed secret did not open.
    #[error("a sealed secret does not open: {0}")]
    Sealed(String),
    /// A stored record could not be decoded (written by a newer release, or damaged).
    #[error("stored record is unreadable: {0}")]
    Corrupt(String),
    /// The database failed.
    #[error("database error: {0}")]
    Db(#[from] redb::Error),
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

/// The API's view of a store failure: missing things are 404s, conflicts 409s, the
/// rest internal errors whose details are logged, not returned.
impl From<StoreError> for switchboard_model::Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::FunctionNotFound(_)
            | StoreError::VersionNotFound { .. }
            | StoreError::Missing(_) => switchboard_model::Error::NotFound(e.to_string()),
            StoreError::Conflict(m) => switchboard_model::Error::Conflict(m),
            other => switchboard_model::Error::Internal(other.into()),
        }
    }
}

/// The database handle. Cheap to share behind an `Arc`; redb serialises writers itself.
#[derive(Debug)]
pub struct Store {
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

impl Store {
    /// Opens (or creates) the database at `path` and makes sure every table exists.
    ///
    /// # Errors
    /// The file is locked by another process, unreadable, or not a redb database.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = Database::create(path)?;
        let tx = db.begin_write()?;
        {
            tx.open_table(FUNCTIONS)?;
            tx.open_table(VERSIONS)?;
            tx.open_table(COMPONENTS)?;
            tx.open_table(ARTIFACTS)?;
            tx.open_table(SERVICES)?;
            tx.open_table(CONNECTIONS)?;
            tx.open_table(SECRETS)?;
            tx.open_table(GRANTS)?;
            tx.open_table(AUDIT)?;
            tx.open_table(META)?;
            tx.open_table(OAUTH_FLOWS)?;
            tx.open_table(tables::SERVICE_CLIENTS)?;
        }
        tx.commit()?;
        Ok(Self { db })
    }

    /// Adds a version to `name` (creating the function if needed) and makes it
    /// current. Durable when this returns.
    ///
    /// # Errors
    /// Only database failures.
    pub fn deploy(
        &self,
        name: &str,
        new: NewVersion<'_>,
        now_ms: u64,
    ) -> Result<(FunctionRecord, VersionRecord), StoreError> {
        let tx = self.db.begin_write()?;
        let out = {
            let mut functions = tx.open_table(FUNCTIONS)?;
            let existing: Option<FunctionRecord> = match functions.get(name)? {
                Some(v) => Some(decode(v.value())?),
                None => None,
            };
            let version = existing.as_ref().map_or(1, |f| f.latest_version + 1);
            let function = FunctionRecord {
                name: name.to_owned(),
                current_version: version,
                latest_version: version,
                created_at_ms: existing.as_ref().map_or(now_ms, |f| f.created_at_ms),
                updated_at_ms: now_ms,
            };
            let record = VersionRecord {
                version,
                ..new.record
            };
            functions.insert(name, encode(&function).as_slice())?;
            tx.open_table(VERSIONS)?
                .insert((name, version), encode(&record).as_slice())?;
            tx.open_table(COMPONENTS)?
                .insert((name, version), new.component)?;
            tx.open_table(ARTIFACTS)?
                .insert((name, version), encode_artifact(new.artifact).as_slice())?;
            (function, record)
        };
        tx.commit()?;
        Ok(out)
    }

    /// Every function, ordered by name.
    ///
    /// # Errors
    /// Database failures or an unreadable record.
    pub fn list(&self) -> Result<Vec<FunctionRecord>, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(FUNCTIONS)?;
        let mut out = Vec::new();
        for entry in table.iter()? {
            let (_, v) = entry?;
            out.push(decode(v.value())?);
        }
        Ok(out)
    }

    /// A function and all its versions, oldest first.
    ///
    /// # Errors
    /// [`StoreError::FunctionNotFound`], database failures.
    pub fn get(&self, name: &str) -> Result<(FunctionRecord, Vec<VersionRecord>), StoreError> {
        let tx = self.db.begin_read()?;
        let function: FunctionRecord = match tx.open_table(FUNCTIONS)?.get(name)? {
            Some(v) => decode(v.value())?,
            None => return Err(StoreError::FunctionNotFound(name.to_owned())),
        };
        let versions_table = tx.open_table(VERSIONS)?;
        let mut versions = Vec::new();
        for entry in versions_table.range((name, 0)..=(name, u32::MAX))? {
            let (_, v) = entry?;
            versions.push(decode(v.value())?);
        }
        Ok((function, versions))
    }

    /// One version's settings.
    ///
    /// # Errors
    /// [`StoreError::VersionNotFound`], database failures.
    pub fn version(&self, name: &str, version: u32) -> Result<VersionRecord, StoreError> {
        let tx = self.db.begin_read()?;
        match tx.open_table(VERSIONS)?.get((name, version))? {
            Some(v) => decode(v.value()),
            None => Err(StoreError::VersionNotFound {
                name: name.to_owned(),
                version,
            }),
        }
    }

    /// Makes `version` current (a rollback, or a roll forward).
    ///
    /// # Errors
    /// The function or the version does not exist.
    pub fn set_current(
        &self,
        name: &str,
        version: u32,
        now_ms: u64,
    ) -> Result<FunctionRecord, StoreError> {
        let tx = self.db.begin_write()?;
        let function = {
            let mut functions = tx.open_table(FUNCTIONS)?;
            let mut function: FunctionRecord = match functions.get(name)? {
                Some(v) => decode(v.value())?,
                None => return Err(StoreError::FunctionNotFound(name.to_owned())),
            };
            if tx.open_table(VERSIONS)?.get((name, version))?.is_none() {
                return Err(StoreError::VersionNotFound {
                    name: name.to_owned(),
                    version,
                });
            }
            function.current_version = version;
            function.updated_at_ms = now_ms;
            functions.insert(name, encode(&function).as_slice())?;
            function
        };
        tx.commit()?;
        Ok(function)
    }

    /// Deletes a function with every version, component, artifact and grant.
    ///
    /// # Errors
    /// [`StoreError::FunctionNotFound`], database failures.
    pub fn delete(&self, name: &str) -> Result<(), StoreError> {
        let tx = self.db.begin_write()?;
        {
            let mut functions = tx.open_table(FUNCTIONS)?;
            if functions.remove(name)?.is_none() {
                return Err(StoreError::FunctionNotFound(name.to_owned()));
            }
            let range = (name, 0)..=(name, u32::MAX);
            tx.open_table(VERSIONS)?
                .retain_in(range.clone(), |_, _| false)?;
            tx.open_table(COMPONENTS)?
                .retain_in(range.clone(), |_, _| false)?;
            tx.open_table(ARTIFACTS)?.retain_in(range, |_, _| false)?;
            tx.open_table(GRANTS)?.retain(|(f, _), _| f != name)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The precompiled artifact of a version, if one is stored.
    ///
    /// # Errors
    /// Database failures or a damaged record.
    pub fn artifact(&self, name: &str, version: u32) -> Result<Option<Artifact>, StoreError> {
        let tx = self.db.begin_read()?;
        match tx.open_table(ARTIFACTS)?.get((name, version))? {
            Some(v) => decode_artifact(v.value()).map(Some),
            None => Ok(None),
        }
    }

    /// The component as uploaded, for recompiling under a different engine.
    ///
    /// # Errors
    /// [`StoreError::VersionNotFound`], database failures.
    pub fn component(&self, name: &str, version: u32) -> Result<Vec<u8>, StoreError> {
        let tx = self.db.begin_read()?;
        match tx.open_table(COMPONENTS)?.get((name, version))? {
            Some(v) => Ok(v.value().to_vec()),
            None => Err(StoreError::VersionNotFound {
                name: name.to_owned(),
                version,
            }),
        }
    }

    /// Replaces a version's artifact (after recompiling for a new engine).
    ///
    /// # Errors
    /// Database failures.
    pub fn put_artifact(
        &self,
        name: &str,
        version: u32,
        artifact: &Artifact,
    ) -> Result<(), StoreError> {
        let tx = self.db.begin_write()?;
        tx.open_table(ARTIFACTS)?
            .insert((name, version), encode_artifact(artifact).as_slice())?;
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_model::Limits;

    fn version_record(mib: u32) -> VersionRecord {
        VersionRecord {
            version: 0,
            sha256: "ab".into(),
            size_bytes: 3,
            deployed_at_ms: 1,
            limits: Limits {
                memory_mib: mib,
                ..Limits::default()
            },
            allowed_hosts: vec!["https://api.example.com".into()],
            requires: vec![],
        }
    }

    fn artifact(byte: u8) -> Artifact {
        Artifact {
            engine_hash: [7; 32],
            bytes: vec![byte; 10],
        }
    }

    fn deploy(store: &Store, name: &str, mib: u32) -> (FunctionRecord, VersionRecord) {
        let a = artifact(mib as u8);
        store
            .deploy(
                name,
                NewVersion {
                    component: b"wasm",
                    artifact: &a,
                    record: version_record(mib),
                },
                mib as u64,
            )
            .unwrap()
    }

    #[test]
    fn versions_rollback_delete_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        {
            let store = Store::open(&path).unwrap();
            let (f, v) = deploy(&store, "hello", 1);
            assert_eq!((f.current_version, v.version), (1, 1));
            let (f, v) = deploy(&store, "hello", 2);
            assert_eq!((f.current_version, f.latest_version, v.version), (2, 2, 2));
            assert_eq!(f.created_at_ms, 1);
            deploy(&store, "other", 3);

            let f = store.set_current("hello", 1, 9).unwrap();
            assert_eq!(f.current_version, 1);
            assert!(matches!(
                store.set_current("hello", 5, 9),
                Err(StoreError::VersionNotFound { version: 5, .. })
            ));
            // A rollback does not reuse version numbers.
            let (f, v) = deploy(&store, "hello", 4);
            assert_eq!((f.current_version, v.version), (3, 3));
            assert_eq!(
                store.artifact("hello", 2).unwrap().unwrap().bytes,
                vec![2; 10]
            );
        }
        let store = Store::open(&path).unwrap();
        let (f, versions) = store.get("hello").unwrap();
        assert_eq!(f.current_version, 3);
        assert_eq!(
            versions.iter().map(|v| v.version).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        assert_eq!(versions[1].limits.memory_mib, 2);
        assert_eq!(store.list().unwrap().len(), 2);

        store.delete("hello").unwrap();
        assert!(matches!(
            store.get("hello"),
            Err(StoreError::FunctionNotFound(_))
        ));
        assert!(store.artifact("hello", 1).unwrap().is_none());
        assert!(store.component("hello", 1).is_err());
        // The neighbour is untouched.
        assert_eq!(store.get("other").unwrap().1.len(), 1);
        assert!(matches!(
            store.delete("hello"),
            Err(StoreError::FunctionNotFound(_))
        ));
    }

    #[test]
    fn artifact_round_trip_and_corruption() {
        let a = artifact(3);
        let back = decode_artifact(&encode_artifact(&a)).unwrap();
        assert_eq!((back.engine_hash, back.bytes), (a.engine_hash, a.bytes));
        assert!(matches!(
            decode_artifact(&[1, 2]),
            Err(StoreError::Corrupt(_))
        ));
    }
}
