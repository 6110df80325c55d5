//! Services, connections, their sealed secrets, grants, OAuth flows, the audit trail and
//! the master key's id. A service edit or delete revokes its connections in the same
//! transaction; a connection's secret is written or erased in the same transaction as
//! its status. Records are found by id; link names through the `(scope, link)` index.

use std::collections::HashMap;

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, Table, WriteTransaction};
use serde::de::DeserializeOwned;

use super::seal::Sealer;
use super::tables::{
    AUDIT, CONNECTION_LINKS, CONNECTIONS, FUNCTIONS, GRANTS, META, OAUTH_FLOWS, SECRETS,
    SERVICE_LINKS, SERVICES,
};
use super::{Db, StoreError, decode, encode, stale};
use switchboard_model::records::{
    AuditRecord, ConnectionRecord, ConnectionStatus, FIRST_REVISION, FlowBinding, FlowTake,
    GrantRecord, PendingFlow, SecretChange, ServiceRecord,
};

pub(super) const KEY_ID: &str = "key_id";
const AUDIT_SEQ: &str = "audit_seq";

/// The record under `key`, decoded.
pub(super) fn one<T: DeserializeOwned>(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
) -> Result<Option<T>, StoreError> {
    match table.get(key)? {
        Some(v) => Ok(Some(decode(v.value())?)),
        None => Ok(None),
    }
}

/// Every record of a table, decoded, in key order.
pub(super) fn all<T: DeserializeOwned>(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
) -> Result<Vec<T>, StoreError> {
    table
        .iter()?
        .map(|e| decode(e?.1.value()))
        .collect::<Result<_, _>>()
}

/// The id a `(scope, link)` index names.
pub(super) fn id_of(
    links: &impl ReadableTable<(&'static str, &'static str), &'static str>,
    scope: &str,
    link: &str,
) -> Result<Option<String>, StoreError> {
    Ok(links.get((scope, link))?.map(|v| v.value().to_owned()))
}

fn apply_secret(
    secrets: &mut Table<&str, &[u8]>,
    id: &str,
    change: SecretChange,
) -> Result<(), StoreError> {
    match change {
        SecretChange::Keep => {}
        SecretChange::Erase => {
            secrets.remove(id)?;
        }
        SecretChange::Set(blob) => {
            secrets.insert(id, blob.as_slice())?;
        }
    }
    Ok(())
}

/// Points `(scope, link)` at `id` when a record is renamed or moved: the old entry goes
/// (if it still names `id`), the new one must be free.
fn move_link(
    links: &mut Table<(&str, &str), &str>,
    kind: &str,
    id: &str,
    from: (&str, &str),
    to: (&str, &str),
) -> Result<(), StoreError> {
    if from == to {
        return Ok(());
    }
    if links.get(to)?.is_some() {
        return Err(StoreError::Conflict(format!(
            "a {kind} with link name `{}` already exists",
            to.1
        )));
    }
    if links.get(from)?.is_some_and(|v| v.value() == id) {
        links.remove(from)?;
    }
    links.insert(to, id)?;
    Ok(())
}

/// Removes `(scope, link)` if it names `id` (and not a newer record).
fn unlink(
    links: &mut Table<(&str, &str), &str>,
    scope: &str,
    link: &str,
    id: &str,
) -> Result<(), StoreError> {
    if links.get((scope, link))?.is_some_and(|v| v.value() == id) {
        links.remove((scope, link))?;
    }
    Ok(())
}

/// Revokes every connection of service `service_id` and erases their secrets. Visits
/// every connection: taken only by a service edit, delete or client change.
pub(super) fn revoke_connections_of(
    tx: &WriteTransaction,
    service_id: &str,
    reason: &str,
    now_ms: u64,
) -> Result<Vec<String>, StoreError> {
    let mut connections = tx.open_table(CONNECTIONS)?;
    let mut secrets = tx.open_table(SECRETS)?;
    let mut affected: Vec<ConnectionRecord> = Vec::new();
    for entry in connections.iter()? {
        let (_, v) = entry?;
        let c: ConnectionRecord = decode(v.value())?;
        if c.service_id == service_id {
            affected.push(c);
        }
    }
    affected.sort_by(|a, b| a.link_name.cmp(&b.link_name));
    let mut links = Vec::with_capacity(affected.len());
    for mut c in affected {
        secrets.remove(c.id.as_str())?;
        c.status = ConnectionStatus::Revoked;
        c.status_reason = Some(reason.to_owned());
        c.record_event("revoked", Some(reason), now_ms);
        c.credential_names.clear();
        c.revoked_at_ms = Some(now_ms);
        c.updated_at_ms = now_ms;
        c.revision += 1;
        connections.insert(c.id.as_str(), encode(&c).as_slice())?;
        links.push(c.link_name);
    }
    Ok(links)
}

impl Db {
    /// The id of the master key the database's secrets are sealed under, if it has any:
    /// the recorded one, or else that of any stored blob.
    pub(super) fn sealed_key_id(&self) -> Result<Option<String>, StoreError> {
        let tx = self.db.begin_read()?;
        if let Some(v) = tx.open_table(META)?.get(KEY_ID)? {
            return Ok(Some(String::from_utf8_lossy(v.value()).into_owned()));
        }
        let secrets = tx.open_table(SECRETS)?;
        let first = secrets.iter()?.next();
        match first {
            Some(entry) => Ok(Sealer::key_id_of(entry?.1.value())),
            None => Ok(None),
        }
    }

    pub(super) fn bind_key(&self, sealer: &Sealer) -> Result<(), StoreError> {
        if let Some(stored) = self.sealed_key_id()? {
            if stored != sealer.key_id() {
                return Err(StoreError::WrongKey {
                    stored,
                    running: sealer.key_id(),
                });
            }
            return Ok(());
        }
        let tx = self.db.begin_write()?;
        tx.open_table(META)?
            .insert(KEY_ID, sealer.key_id().as_bytes())?;
        tx.commit()?;
        Ok(())
    }

    pub(super) fn rotate_key(&self, old: &Sealer, new: &Sealer) -> Result<usize, StoreError> {
        let tx = self.db.begin_write()?;
        let count = {
            let mut secrets = tx.open_table(SECRETS)?;
            let mut resealed = Vec::new();
            for entry in secrets.iter()? {
                let (k, v) = entry?;
                let id = k.value().to_owned();
                let plain = old
                    .open(id.as_bytes(), v.value())
                    .map_err(|e| StoreError::Sealed(format!("secret of record {id}: {e}")))?;
                resealed.push((id.clone(), new.seal(id.as_bytes(), &plain)));
            }
            for (id, blob) in &resealed {
                secrets.insert(id.as_str(), blob.as_slice())?;
            }
            tx.open_table(META)?
                .insert(KEY_ID, new.key_id().as_bytes())?;
            resealed.len()
        };
        tx.commit()?;
        Ok(count)
    }

    // ---- services ----

    pub(super) fn services(&self) -> Result<Vec<ServiceRecord>, StoreError> {
        let tx = self.db.begin_read()?;
        all(&tx.open_table(SERVICES)?)
    }

    pub(super) fn service_by_link(
        &self,
        scope: &str,
        link: &str,
    ) -> Result<Option<ServiceRecord>, StoreError> {
        let tx = self.db.begin_read()?;
        match id_of(&tx.open_table(SERVICE_LINKS)?, scope, link)? {
            Some(id) => one(&tx.open_table(SERVICES)?, &id),
            None => Ok(None),
        }
    }

    pub(super) fn create_service(
        &self,
        service: &ServiceRecord,
        secret: Option<&[u8]>,
    ) -> Result<ServiceRecord, StoreError> {
        let tx = self.db.begin_write()?;
        let mut record = service.clone();
        record.meta.revision = FIRST_REVISION;
        {
            let mut links = tx.open_table(SERVICE_LINKS)?;
            let key = (record.meta.scope.as_str(), record.meta.link_name.as_str());
            if links.get(key)?.is_some() {
                return Err(StoreError::Conflict(format!(
                    "a service with link name `{}` already exists",
                    record.meta.link_name
                )));
            }
            let mut table = tx.open_table(SERVICES)?;
            if table.get(record.id.as_str())?.is_some() {
                return Err(StoreError::Conflict(format!(
                    "a service with id `{}` already exists",
                    record.id
                )));
            }
            links.insert(key, record.id.as_str())?;
            table.insert(record.id.as_str(), encode(&record).as_slice())?;
            if let Some(blob) = secret {
                tx.open_table(SECRETS)?.insert(record.id.as_str(), blob)?;
            }
        }
        tx.commit()?;
        Ok(record)
    }

    pub(super) fn update_service(
        &self,
        service: &ServiceRecord,
        expected_revision: u64,
        revoke: Option<&str>,
        secret: SecretChange,
    ) -> Result<Vec<String>, StoreError> {
        let tx = self.db.begin_write()?;
        let revoked = {
            let mut table = tx.open_table(SERVICES)?;
            let Some(existing) = one::<ServiceRecord>(&table, &service.id)? else {
                return Err(StoreError::Missing(format!(
                    "service `{}` not found",
                    service.meta.link_name
                )));
            };
            if existing.meta.revision != expected_revision {
                return Err(stale(
                    &format!("service `{}`", service.meta.link_name),
                    expected_revision,
                    existing.meta.revision,
                ));
            }
            move_link(
                &mut tx.open_table(SERVICE_LINKS)?,
                "service",
                &service.id,
                (&existing.meta.scope, &existing.meta.link_name),
                (&service.meta.scope, &service.meta.link_name),
            )?;
            let mut record = service.clone();
            record.meta.revision = existing.meta.revision + 1;
            table.insert(record.id.as_str(), encode(&record).as_slice())?;
            apply_secret(&mut tx.open_table(SECRETS)?, &record.id, secret)?;
            match revoke {
                Some(reason) => {
                    revoke_connections_of(&tx, &record.id, reason, record.meta.updated_at_ms)?
                }
                None => Vec::new(),
            }
        };
        tx.commit()?;
        Ok(revoked)
    }

    pub(super) fn delete_service(
        &self,
        id: &str,
        reason: &str,
        now_ms: u64,
    ) -> Result<Vec<String>, StoreError> {
        let tx = self.db.begin_write()?;
        let revoked = {
            let removed: ServiceRecord = match tx.open_table(SERVICES)?.remove(id)? {
                Some(v) => decode(v.value())?,
                None => return Err(StoreError::Missing(format!("service `{id}` not found"))),
            };
            unlink(
                &mut tx.open_table(SERVICE_LINKS)?,
                &removed.meta.scope,
                &removed.meta.link_name,
                id,
            )?;
            tx.open_table(SECRETS)?.remove(id)?;
            revoke_connections_of(&tx, id, reason, now_ms)?
        };
        tx.commit()?;
        Ok(revoked)
    }

    // ---- connections ----

    pub(super) fn connections(&self) -> Result<Vec<ConnectionRecord>, StoreError> {
        let tx = self.db.begin_read()?;
        all(&tx.open_table(CONNECTIONS)?)
    }

    pub(super) fn connection(&self, id: &str) -> Result<Option<ConnectionRecord>, StoreError> {
        let tx = self.db.begin_read()?;
        one(&tx.open_table(CONNECTIONS)?, id)
    }

    pub(super) fn connection_by_link(
        &self,
        scope: &str,
        link: &str,
    ) -> Result<Option<ConnectionRecord>, StoreError> {
        let tx = self.db.begin_read()?;
        match id_of(&tx.open_table(CONNECTION_LINKS)?, scope, link)? {
            Some(id) => one(&tx.open_table(CONNECTIONS)?, &id),
            None => Ok(None),
        }
    }

    /// Inserts a new connection (first revision) and its index entry.
    fn insert_new_connection(
        tx: &WriteTransaction,
        connection: &ConnectionRecord,
    ) -> Result<(), StoreError> {
        let mut links = tx.open_table(CONNECTION_LINKS)?;
        let key = (connection.scope.as_str(), connection.link_name.as_str());
        if links.get(key)?.is_some() {
            return Err(StoreError::Conflict(format!(
                "a connection with link name `{}` already exists",
                connection.link_name
            )));
        }
        let mut table = tx.open_table(CONNECTIONS)?;
        if table.get(connection.id.as_str())?.is_some() {
            return Err(StoreError::Conflict(format!(
                "a connection with id `{}` already exists",
                connection.id
            )));
        }
        let mut record = connection.clone();
        record.revision = FIRST_REVISION;
        links.insert(key, record.id.as_str())?;
        table.insert(record.id.as_str(), encode(&record).as_slice())?;
        Ok(())
    }

    pub(super) fn create_connections(
        &self,
        connections: &[ConnectionRecord],
    ) -> Result<(), StoreError> {
        let tx = self.db.begin_write()?;
        {
            let service_links = tx.open_table(SERVICE_LINKS)?;
            for connection in connections {
                let service = id_of(&service_links, &connection.scope, &connection.service)?;
                if service.as_deref() != Some(connection.service_id.as_str()) {
                    return Err(StoreError::Missing(format!(
                        "service `{}` not found",
                        connection.service
                    )));
                }
                Self::insert_new_connection(&tx, connection)?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    pub(super) fn create_default_service_connection(
        &self,
        connection: &ConnectionRecord,
    ) -> Result<(), StoreError> {
        let tx = self.db.begin_write()?;
        {
            let custom = id_of(
                &tx.open_table(SERVICE_LINKS)?,
                &connection.scope,
                &connection.service,
            )?;
            if custom.is_some() {
                return Err(StoreError::Missing(format!(
                    "service `{}` is a custom service now",
                    connection.service
                )));
            }
            Self::insert_new_connection(&tx, connection)?;
        }
        tx.commit()?;
        Ok(())
    }

    pub(super) fn update_connection(
        &self,
        connection: &ConnectionRecord,
        expected_revision: u64,
        secret: SecretChange,
    ) -> Result<ConnectionRecord, StoreError> {
        let tx = self.db.begin_write()?;
        let record = {
            let mut table = tx.open_table(CONNECTIONS)?;
            let Some(existing) = one::<ConnectionRecord>(&table, &connection.id)? else {
                return Err(StoreError::Missing(format!(
                    "connection `{}` was deleted meanwhile",
                    connection.link_name
                )));
            };
            if existing.revision != expected_revision {
                return Err(stale(
                    &format!("connection `{}`", connection.link_name),
                    expected_revision,
                    existing.revision,
                ));
            }
            move_link(
                &mut tx.open_table(CONNECTION_LINKS)?,
                "connection",
                &connection.id,
                (&existing.scope, &existing.link_name),
                (&connection.scope, &connection.link_name),
            )?;
            let mut record = connection.clone();
            record.revision = existing.revision + 1;
            table.insert(record.id.as_str(), encode(&record).as_slice())?;
            apply_secret(&mut tx.open_table(SECRETS)?, &record.id, secret)?;
            record
        };
        tx.commit()?;
        Ok(record)
    }

    pub(super) fn replace_credentials(
        &self,
        id: &str,
        expected: &[u8],
        update: impl FnOnce(&mut ConnectionRecord),
        secret: SecretChange,
    ) -> Result<ConnectionRecord, StoreError> {
        let tx = self.db.begin_write()?;
        let record = {
            let mut table = tx.open_table(CONNECTIONS)?;
            let Some(mut record) = one::<ConnectionRecord>(&table, id)? else {
                return Err(StoreError::Missing(format!(
                    "connection `{id}` was deleted meanwhile"
                )));
            };
            let mut secrets = tx.open_table(SECRETS)?;
            let current = secrets.get(id)?.map(|v| v.value().to_vec());
            if record.status != ConnectionStatus::Connected || current.as_deref() != Some(expected)
            {
                return Err(StoreError::Stale(format!(
                    "the credentials of connection `{}` changed meanwhile; read them again and retry",
                    record.link_name
                )));
            }
            let (scope, link, revision) = (
                record.scope.clone(),
                record.link_name.clone(),
                record.revision,
            );
            update(&mut record);
            // The update may not move the record: id, scope and link name stay.
            record.id = id.to_owned();
            record.scope = scope;
            record.link_name = link;
            record.revision = revision + 1;
            table.insert(id, encode(&record).as_slice())?;
            apply_secret(&mut secrets, id, secret)?;
            record
        };
        tx.commit()?;
        Ok(record)
    }

    pub(super) fn delete_connection(&self, id: &str) -> Result<(), StoreError> {
        let tx = self.db.begin_write()?;
        {
            let removed: ConnectionRecord = match tx.open_table(CONNECTIONS)?.remove(id)? {
                Some(v) => decode(v.value())?,
                None => {
                    return Err(StoreError::Missing(format!("connection `{id}` not found")));
                }
            };
            unlink(
                &mut tx.open_table(CONNECTION_LINKS)?,
                &removed.scope,
                &removed.link_name,
                id,
            )?;
            tx.open_table(SECRETS)?.remove(id)?;
            // Its grants, by function (no scan of every grant): a function's deletion
            // takes its grants with it, so every grant names a stored function.
            let functions: Vec<String> = tx
                .open_table(FUNCTIONS)?
                .iter()?
                .map(|e| Ok::<_, StoreError>(e?.0.value().to_owned()))
                .collect::<Result<_, _>>()?;
            let mut grants = tx.open_table(GRANTS)?;
            for function in &functions {
                grants.remove((function.as_str(), id))?;
            }
            tx.open_table(AUDIT)?
                .retain_in((id, 0)..=(id, u64::MAX), |_, _| false)?;
        }
        tx.commit()?;
        Ok(())
    }

    pub(super) fn secrets(&self) -> Result<HashMap<String, Vec<u8>>, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(SECRETS)?;
        table
            .iter()?
            .map(|e| {
                let (k, v) = e?;
                Ok((k.value().to_owned(), v.value().to_vec()))
            })
            .collect()
    }

    // ---- grants ----

    pub(super) fn grant(
        &self,
        function: &str,
        scope: &str,
        link: &str,
        now_ms: u64,
    ) -> Result<GrantRecord, StoreError> {
        let tx = self.db.begin_write()?;
        let grant = {
            if tx.open_table(FUNCTIONS)?.get(function)?.is_none() {
                return Err(StoreError::FunctionNotFound(function.to_owned()));
            }
            let Some(id) = id_of(&tx.open_table(CONNECTION_LINKS)?, scope, link)? else {
                return Err(StoreError::Missing(format!(
                    "connection `{link}` not found"
                )));
            };
            let mut grants = tx.open_table(GRANTS)?;
            let existing: Option<GrantRecord> = match grants.get((function, id.as_str()))? {
                Some(v) => Some(decode(v.value())?),
                None => None,
            };
            match existing {
                Some(g) => g,
                None => {
                    let g = GrantRecord {
                        granted_at_ms: now_ms,
                        revision: FIRST_REVISION,
                    };
                    grants.insert((function, id.as_str()), encode(&g).as_slice())?;
                    g
                }
            }
        };
        tx.commit()?;
        Ok(grant)
    }

    pub(super) fn revoke_grant(
        &self,
        function: &str,
        scope: &str,
        link: &str,
    ) -> Result<bool, StoreError> {
        let tx = self.db.begin_write()?;
        let removed = match id_of(&tx.open_table(CONNECTION_LINKS)?, scope, link)? {
            Some(id) => tx
                .open_table(GRANTS)?
                .remove((function, id.as_str()))?
                .is_some(),
            None => false,
        };
        tx.commit()?;
        Ok(removed)
    }

    pub(super) fn grants(&self) -> Result<Vec<(String, String, GrantRecord)>, StoreError> {
        let tx = self.db.begin_read()?;
        let connections = tx.open_table(CONNECTIONS)?;
        let mut out = Vec::new();
        for e in tx.open_table(GRANTS)?.iter()? {
            let (k, v) = e?;
            let (f, id) = k.value();
            if let Some(c) = one::<ConnectionRecord>(&connections, id)? {
                out.push((f.to_owned(), c.link_name, decode(v.value())?));
            }
        }
        Ok(out)
    }

    // ---- audit ----

    pub(super) fn append_audit(
        &self,
        records: &[(String, AuditRecord)],
        keep: usize,
    ) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let tx = self.db.begin_write()?;
        {
            let connections = tx.open_table(CONNECTIONS)?;
            let mut known: HashMap<&str, bool> = HashMap::new();
            let mut meta = tx.open_table(META)?;
            let mut seq = match meta.get(AUDIT_SEQ)? {
                Some(v) => u64::from_le_bytes(v.value().try_into().unwrap_or_default()),
                None => 0,
            };
            let mut audit = tx.open_table(AUDIT)?;
            let mut touched: Vec<&str> = Vec::new();
            for (id, record) in records {
                let exists = match known.get(id.as_str()) {
                    Some(&e) => e,
                    None => {
                        let e = connections.get(id.as_str())?.is_some();
                        known.insert(id, e);
                        e
                    }
                };
                // A record queued before its connection was deleted belongs to no one.
                if !exists {
                    continue;
                }
                seq += 1;
                audit.insert((id.as_str(), seq), encode(record).as_slice())?;
                if !touched.contains(&id.as_str()) {
                    touched.push(id);
                }
            }
            meta.insert(AUDIT_SEQ, seq.to_le_bytes().as_slice())?;
            for id in touched {
                let range = (id, 0)..=(id, u64::MAX);
                let count = audit.range(range.clone())?.count();
                if count > keep {
                    let mut excess = count - keep;
                    audit.retain_in(range, |_, _| {
                        if excess > 0 {
                            excess -= 1;
                            false
                        } else {
                            true
                        }
                    })?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    pub(super) fn audit(&self, id: &str, limit: usize) -> Result<Vec<AuditRecord>, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(AUDIT)?;
        let mut out: Vec<AuditRecord> = table
            .range((id, 0)..=(id, u64::MAX))?
            .rev()
            .take(limit)
            .map(|e| decode(e?.1.value()))
            .collect::<Result<_, _>>()?;
        out.reverse();
        Ok(out)
    }

    pub(super) fn audit_len(&self) -> Result<u64, StoreError> {
        let tx = self.db.begin_read()?;
        Ok(tx.open_table(AUDIT)?.len()?)
    }

    // ---- OAuth flows ----

    /// Stores a pending OAuth flow under its `state`, dropping expired ones.
    ///
    /// # Errors
    /// Database failures.
    pub(super) fn put_flow(
        &self,
        state: &str,
        flow: &PendingFlow,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let tx = self.db.begin_write()?;
        {
            let mut table = tx.open_table(OAUTH_FLOWS)?;
            table.retain(|_, v| {
                serde_json::from_slice::<PendingFlow>(v).is_ok_and(|f| f.expires_at_ms > now_ms)
            })?;
            table.insert(state, encode(flow).as_slice())?;
        }
        tx.commit()?;
        Ok(())
    }

    /// `/oauth/start`: binds the flow of `state` to the browser whose cookie hashes to
    /// `browser_hash`, in one transaction (check and set together, so two openings of
    /// one link cannot both bind it).
    ///
    /// # Errors
    /// Database failures.
    pub(super) fn bind_flow(
        &self,
        state: &str,
        browser_hash: &str,
        now_ms: u64,
    ) -> Result<FlowBinding, StoreError> {
        let tx = self.db.begin_write()?;
        let outcome = {
            let mut table = tx.open_table(OAUTH_FLOWS)?;
            let flow: Option<PendingFlow> = match table.get(state)? {
                Some(v) => Some(decode(v.value())?),
                None => None,
            };
            match flow {
                None => FlowBinding::Unknown,
                Some(f) if f.expires_at_ms <= now_ms => FlowBinding::Expired,
                Some(f) if f.browser_hash.is_some() => FlowBinding::AlreadyBound,
                Some(mut f) => {
                    f.browser_hash = Some(browser_hash.to_owned());
                    table.insert(state, encode(&f).as_slice())?;
                    FlowBinding::Bound(Box::new(f))
                }
            }
        };
        if matches!(outcome, FlowBinding::Bound(_)) {
            tx.commit()?;
        } else {
            tx.abort()?;
        }
        Ok(outcome)
    }

    /// `/oauth/callback`: removes and returns the flow of `state` (a state is used
    /// once) only when it is bound to the browser whose cookie hashes to
    /// `browser_hash`; a callback from anywhere else leaves it for the right browser.
    ///
    /// # Errors
    /// Database failures.
    pub(super) fn take_bound_flow(
        &self,
        state: &str,
        browser_hash: Option<&str>,
    ) -> Result<FlowTake, StoreError> {
        let tx = self.db.begin_write()?;
        let outcome = {
            let mut table = tx.open_table(OAUTH_FLOWS)?;
            let flow: Option<PendingFlow> = match table.get(state)? {
                Some(v) => Some(decode(v.value())?),
                None => None,
            };
            match flow {
                None => FlowTake::Unknown,
                Some(f)
                    if f.browser_hash.is_none() || f.browser_hash.as_deref() != browser_hash =>
                {
                    FlowTake::OtherBrowser
                }
                Some(f) => {
                    table.remove(state)?;
                    FlowTake::Taken(Box::new(f))
                }
            }
        };
        if matches!(outcome, FlowTake::Taken(_)) {
            tx.commit()?;
        } else {
            tx.abort()?;
        }
        Ok(outcome)
    }
}
