//! Functions, their versions, uploaded components and precompiled artifacts.

use redb::{ReadableDatabase, ReadableTable};

use super::tables::{ARTIFACTS, COMPONENTS, FUNCTIONS, GRANTS, VERSIONS};
use super::{Db, StoreError, decode, decode_artifact, encode, encode_artifact};
use switchboard_model::records::{
    Artifact, FIRST_REVISION, FunctionRecord, NewVersion, VersionRecord,
};

impl Db {
    /// Adds a version to `name` (creating the function if needed) and makes it
    /// current. Durable when this returns.
    ///
    /// # Errors
    /// Only database failures.
    pub(super) fn deploy(
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
                revision: existing.as_ref().map_or(FIRST_REVISION, |f| f.revision + 1),
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
    pub(super) fn functions(&self) -> Result<Vec<FunctionRecord>, StoreError> {
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
    pub(super) fn function(
        &self,
        name: &str,
    ) -> Result<(FunctionRecord, Vec<VersionRecord>), StoreError> {
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
    pub(super) fn version(&self, name: &str, version: u32) -> Result<VersionRecord, StoreError> {
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
    pub(super) fn set_current(
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
            function.revision += 1;
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
    pub(super) fn delete_function(&self, name: &str) -> Result<(), StoreError> {
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
    pub(super) fn artifact(
        &self,
        name: &str,
        version: u32,
    ) -> Result<Option<Artifact>, StoreError> {
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
    pub(super) fn component(&self, name: &str, version: u32) -> Result<Vec<u8>, StoreError> {
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
    pub(super) fn put_artifact(
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
