//! The layout's version and the migration at open. `schema_version` in `meta` names the
//! layout; a database without it was written before it existed (version 1: services,
//! connections, grants and audit keyed by link name). [`open`] creates the tables of a
//! new database, migrates a version-1 database in the same write transaction (so a
//! failed migration leaves every old table as it was), and refuses a database whose
//! version is newer than [`SCHEMA_VERSION`].

use std::collections::HashMap;

use redb::{Database, ReadableTable, TableHandle, WriteTransaction};

use super::tables::{
    ARTIFACTS, AUDIT, COMPONENTS, CONNECTION_LINKS, CONNECTIONS, FUNCTIONS, GRANTS, META,
    OAUTH_FLOWS, SECRETS, SERVICE_CLIENTS, SERVICE_LINKS, SERVICES, VERSIONS, legacy,
};
use super::{StoreError, decode, encode};
use switchboard_model::records::{ConnectionRecord, ServiceRecord};

/// The layout this code reads and writes: 2 = records keyed by id with `(scope, link
/// name)` indexes, grants and audit keyed by connection id, revisions on records.
pub const SCHEMA_VERSION: u32 = 2;

/// The `meta` key of the schema version (4 bytes little-endian).
const SCHEMA_KEY: &str = "schema_version";

fn stored_version(tx: &WriteTransaction) -> Result<Option<u32>, StoreError> {
    match tx.open_table(META)?.get(SCHEMA_KEY)? {
        Some(v) => {
            let bytes: [u8; 4] = v
                .value()
                .try_into()
                .map_err(|_| StoreError::Corrupt("the schema version is not 4 bytes".into()))?;
            Ok(Some(u32::from_le_bytes(bytes)))
        }
        None => Ok(None),
    }
}

/// Makes the database's layout this code's: see the module's documentation.
pub(super) fn open(db: &Database) -> Result<(), StoreError> {
    let tx = db.begin_write()?;
    let found = stored_version(&tx)?;
    if let Some(found) = found.filter(|v| *v > SCHEMA_VERSION) {
        tx.abort()?;
        return Err(StoreError::NewerSchema {
            found,
            known: SCHEMA_VERSION,
        });
    }
    let legacy_tables = tx
        .list_tables()?
        .any(|t| t.name() == legacy::SERVICES.name());
    let from = found.unwrap_or(if legacy_tables { 1 } else { SCHEMA_VERSION });
    tx.open_table(FUNCTIONS)?;
    tx.open_table(VERSIONS)?;
    tx.open_table(COMPONENTS)?;
    tx.open_table(ARTIFACTS)?;
    tx.open_table(SERVICES)?;
    tx.open_table(SERVICE_LINKS)?;
    tx.open_table(CONNECTIONS)?;
    tx.open_table(CONNECTION_LINKS)?;
    tx.open_table(SECRETS)?;
    tx.open_table(GRANTS)?;
    tx.open_table(AUDIT)?;
    tx.open_table(OAUTH_FLOWS)?;
    tx.open_table(SERVICE_CLIENTS)?;
    if from < 2 {
        // On error the transaction is dropped unfinished: redb aborts it.
        from_version_1(&tx)?;
    }
    if found != Some(SCHEMA_VERSION) {
        tx.open_table(META)?
            .insert(SCHEMA_KEY, SCHEMA_VERSION.to_le_bytes().as_slice())?;
    }
    tx.commit()?;
    Ok(())
}

/// Version 1 → 2: services and connections by id with their link indexes, grants and
/// audit records by connection id (those naming a connection that no longer exists
/// are dropped: they could only be inherited by a new one), then the old tables go.
fn from_version_1(tx: &WriteTransaction) -> Result<(), StoreError> {
    {
        let old = tx.open_table(legacy::SERVICES)?;
        let mut services = tx.open_table(SERVICES)?;
        let mut links = tx.open_table(SERVICE_LINKS)?;
        for e in old.iter()? {
            let (k, v) = e?;
            let s: ServiceRecord = decode(v.value())
                .map_err(|e| StoreError::Corrupt(format!("service `{}`: {e}", k.value())))?;
            services.insert(s.id.as_str(), encode(&s).as_slice())?;
            links.insert(
                (s.meta.scope.as_str(), s.meta.link_name.as_str()),
                s.id.as_str(),
            )?;
        }
    }
    let mut id_of: HashMap<String, String> = HashMap::new();
    {
        let old = tx.open_table(legacy::CONNECTIONS)?;
        let mut connections = tx.open_table(CONNECTIONS)?;
        let mut links = tx.open_table(CONNECTION_LINKS)?;
        for e in old.iter()? {
            let (k, v) = e?;
            let c: ConnectionRecord = decode(v.value())
                .map_err(|e| StoreError::Corrupt(format!("connection `{}`: {e}", k.value())))?;
            connections.insert(c.id.as_str(), encode(&c).as_slice())?;
            links.insert((c.scope.as_str(), c.link_name.as_str()), c.id.as_str())?;
            id_of.insert(c.link_name.clone(), c.id.clone());
        }
    }
    {
        let old = tx.open_table(legacy::GRANTS)?;
        let mut grants = tx.open_table(GRANTS)?;
        for e in old.iter()? {
            let (k, v) = e?;
            let (function, link) = k.value();
            if let Some(id) = id_of.get(link) {
                grants.insert((function, id.as_str()), v.value())?;
            }
        }
    }
    {
        let old = tx.open_table(legacy::AUDIT)?;
        let mut audit = tx.open_table(AUDIT)?;
        for e in old.iter()? {
            let (k, v) = e?;
            let (link, seq) = k.value();
            if let Some(id) = id_of.get(link) {
                audit.insert((id.as_str(), seq), v.value())?;
            }
        }
    }
    tx.delete_table(legacy::SERVICES)?;
    tx.delete_table(legacy::CONNECTIONS)?;
    tx.delete_table(legacy::GRANTS)?;
    tx.delete_table(legacy::AUDIT)?;
    Ok(())
}
