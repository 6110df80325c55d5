//! Services, connections, their sealed secrets, grants and the audit trail. A service
//! edit or delete revokes its connections in the same transaction; a connection's
//! secret is written or erased in the same transaction as its status.

use std::collections::HashMap;

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, WriteTransaction};

use super::seal::Sealer;
use super::tables::{AUDIT, CONNECTIONS, GRANTS, META, OAUTH_FLOWS, SECRETS, SERVICES};
use super::{Store, StoreError, decode, encode};
use switchboard_model::records::{
    AuditRecord, ConnectionRecord, ConnectionStatus, FlowBinding, FlowTake, GrantRecord,
    PendingFlow, SecretChange, ServiceRecord,
};

const KEY_ID: &str = "key_id";
const AUDIT_SEQ: &str = "audit_seq";

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
    let mut links = Vec::with_capacity(affected.len());
    for mut c in affected {
        secrets.remove(c.id.as_str())?;
        c.status = ConnectionStatus::Revoked;
        c.status_reason = Some(reason.to_owned());
        c.record_event("revoked", Some(reason), now_ms);
        c.credential_names.clear();
        c.revoked_at_ms = Some(now_ms);
        c.updated_at_ms = now_ms;
        connections.insert(c.link_name.as_str(), encode(&c).as_slice())?;
        links.push(c.link_name);
    }
    Ok(links)
}

impl Store {
    /// The id of the master key the database's secrets are sealed under, if it has any:
    /// the recorded one, or else that of any stored blob.
    ///
    /// # Errors
    /// Database failures.
    pub fn sealed_key_id(&self) -> Result<Option<String>, StoreError> {
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

    /// Binds the database to `sealer`'s key: records its id on first use, and refuses
    /// a key other than the one the secrets are sealed under.
    ///
    /// # Errors
    /// [`StoreError::WrongKey`], database failures.
    pub fn bind_key(&self, sealer: &Sealer) -> Result<(), StoreError> {
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

    /// Re-seals every secret from `old` to `new` and records `new`'s id, in one
    /// transaction. Returns how many secrets were re-sealed.
    ///
    /// # Errors
    /// A secret does not open under `old` (nothing is changed), database failures.
    pub fn rotate_key(&self, old: &Sealer, new: &Sealer) -> Result<usize, StoreError> {
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

    /// Every service, by link name.
    ///
    /// # Errors
    /// Database failures or an unreadable record.
    pub fn services(&self) -> Result<Vec<ServiceRecord>, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(SERVICES)?;
        table
            .iter()?
            .map(|e| decode(e?.1.value()))
            .collect::<Result<_, _>>()
    }

    /// Adds a service, with its sealed client secret (OAuth) if it has one.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the link name is taken.
    pub fn create_service(
        &self,
        service: &ServiceRecord,
        secret: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        let tx = self.db.begin_write()?;
        {
            let mut table = tx.open_table(SERVICES)?;
            if table.get(service.link_name.as_str())?.is_some() {
                return Err(StoreError::Conflict(format!(
                    "a service with link name `{}` already exists",
                    service.link_name
                )));
            }
            table.insert(service.link_name.as_str(), encode(service).as_slice())?;
            if let Some(blob) = secret {
                tx.open_table(SECRETS)?.insert(service.id.as_str(), blob)?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Replaces a service, if the stored one is still `expected`, and with `revoke`
    /// revokes its connections. Returns the link names of the revoked connections.
    ///
    /// # Errors
    /// [`StoreError::Missing`], [`StoreError::Conflict`] when it changed meanwhile.
    pub fn replace_service(
        &self,
        expected: &ServiceRecord,
        service: &ServiceRecord,
        revoke: Option<&str>,
        secret: SecretChange,
    ) -> Result<Vec<String>, StoreError> {
        let tx = self.db.begin_write()?;
        let revoked = {
            let mut table = tx.open_table(SERVICES)?;
            let existing: ServiceRecord = match table.get(service.link_name.as_str())? {
                Some(v) => decode(v.value())?,
                None => {
                    return Err(StoreError::Missing(format!(
                        "service `{}` not found",
                        service.link_name
                    )));
                }
            };
            if existing != *expected {
                return Err(StoreError::Conflict(format!(
                    "service `{}` changed while this request was handled; try again",
                    service.link_name
                )));
            }
            table.insert(service.link_name.as_str(), encode(service).as_slice())?;
            match secret {
                SecretChange::Keep => {}
                SecretChange::Erase => {
                    tx.open_table(SECRETS)?.remove(service.id.as_str())?;
                }
                SecretChange::Set(blob) => {
                    tx.open_table(SECRETS)?
                        .insert(service.id.as_str(), blob.as_slice())?;
                }
            }
            match revoke {
                Some(reason) => {
                    revoke_connections_of(&tx, &service.id, reason, service.updated_at_ms)?
                }
                None => Vec::new(),
            }
        };
        tx.commit()?;
        Ok(revoked)
    }

    /// Deletes a service and revokes its connections (which are kept).
    ///
    /// # Errors
    /// [`StoreError::Missing`], database failures.
    pub fn delete_service(
        &self,
        link: &str,
        reason: &str,
        now_ms: u64,
    ) -> Result<Vec<String>, StoreError> {
        let tx = self.db.begin_write()?;
        let revoked = {
            let removed: ServiceRecord = match tx.open_table(SERVICES)?.remove(link)? {
                Some(v) => decode(v.value())?,
                None => return Err(StoreError::Missing(format!("service `{link}` not found"))),
            };
            tx.open_table(SECRETS)?.remove(removed.id.as_str())?;
            revoke_connections_of(&tx, &removed.id, reason, now_ms)?
        };
        tx.commit()?;
        Ok(revoked)
    }

    /// Every connection, by link name.
    ///
    /// # Errors
    /// Database failures or an unreadable record.
    pub fn connections(&self) -> Result<Vec<ConnectionRecord>, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(CONNECTIONS)?;
        table
            .iter()?
            .map(|e| decode(e?.1.value()))
            .collect::<Result<_, _>>()
    }

    /// Adds a connection of an existing service.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the link name is taken, [`StoreError::Missing`]
    /// when the service is gone (or was replaced by another of the same link name).
    pub fn create_connection(&self, connection: &ConnectionRecord) -> Result<(), StoreError> {
        self.create_connections(std::slice::from_ref(connection))
    }

    /// Adds many connections in one transaction, each checked as
    /// [`Store::create_connection`] checks one; all or nothing. A bulk import (the
    /// connections benchmark pre-populates a host with it).
    ///
    /// # Errors
    /// As [`Store::create_connection`], for the first that fails.
    pub fn create_connections(&self, connections: &[ConnectionRecord]) -> Result<(), StoreError> {
        let tx = self.db.begin_write()?;
        {
            let services = tx.open_table(SERVICES)?;
            let mut table = tx.open_table(CONNECTIONS)?;
            for connection in connections {
                let service: Option<ServiceRecord> =
                    match services.get(connection.service.as_str())? {
                        Some(v) => Some(decode(v.value())?),
                        None => None,
                    };
                if service.is_none_or(|s| s.id != connection.service_id) {
                    return Err(StoreError::Missing(format!(
                        "service `{}` not found",
                        connection.service
                    )));
                }
                if table.get(connection.link_name.as_str())?.is_some() {
                    return Err(StoreError::Conflict(format!(
                        "a connection with link name `{}` already exists",
                        connection.link_name
                    )));
                }
                table.insert(connection.link_name.as_str(), encode(connection).as_slice())?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Writes a changed connection record and its secret together, if the stored record
    /// is still `expected` (the one the change was computed from).
    ///
    /// # Errors
    /// [`StoreError::Missing`] when the connection was deleted meanwhile,
    /// [`StoreError::Conflict`] when it changed meanwhile.
    pub fn update_connection(
        &self,
        expected: &ConnectionRecord,
        connection: &ConnectionRecord,
        secret: SecretChange,
    ) -> Result<(), StoreError> {
        let tx = self.db.begin_write()?;
        {
            let mut table = tx.open_table(CONNECTIONS)?;
            let existing: ConnectionRecord = match table.get(connection.link_name.as_str())? {
                Some(v) => decode(v.value())?,
                None => {
                    return Err(StoreError::Missing(format!(
                        "connection `{}` not found",
                        connection.link_name
                    )));
                }
            };
            if existing.id != connection.id {
                return Err(StoreError::Missing(format!(
                    "connection `{}` was deleted and made again meanwhile",
                    connection.link_name
                )));
            }
            if existing != *expected {
                return Err(StoreError::Conflict(format!(
                    "connection `{}` changed while this request was handled; try again",
                    connection.link_name
                )));
            }
            table.insert(connection.link_name.as_str(), encode(connection).as_slice())?;
            let mut secrets = tx.open_table(SECRETS)?;
            match secret {
                SecretChange::Keep => {}
                SecretChange::Erase => {
                    secrets.remove(connection.id.as_str())?;
                }
                SecretChange::Set(blob) => {
                    secrets.insert(connection.id.as_str(), blob.as_slice())?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Replaces a connection's sealed credentials if they are still `expected` (the blob
    /// they were derived from, as a token refresh does), applying `update` to the record
    /// as stored now. A concurrent change of anything else (the display name, a status
    /// note) is kept; a concurrent change of the credentials (revoke, reconnect, delete,
    /// a service edit) wins, and this write fails. Returns the record written.
    ///
    /// # Errors
    /// [`StoreError::Missing`] when the connection was deleted (or made again)
    /// meanwhile, [`StoreError::Conflict`] when its credentials changed meanwhile.
    pub fn replace_credentials(
        &self,
        link: &str,
        id: &str,
        expected: &[u8],
        update: impl FnOnce(&mut ConnectionRecord),
        secret: SecretChange,
    ) -> Result<ConnectionRecord, StoreError> {
        let tx = self.db.begin_write()?;
        let record = {
            let mut table = tx.open_table(CONNECTIONS)?;
            let stored: Option<ConnectionRecord> = match table.get(link)? {
                Some(v) => Some(decode(v.value())?),
                None => None,
            };
            let Some(mut record) = stored.filter(|r| r.id == id) else {
                return Err(StoreError::Missing(format!(
                    "connection `{link}` was deleted meanwhile"
                )));
            };
            let mut secrets = tx.open_table(SECRETS)?;
            let current = secrets.get(id)?.map(|v| v.value().to_vec());
            if record.status != ConnectionStatus::Connected || current.as_deref() != Some(expected)
            {
                return Err(StoreError::Conflict(format!(
                    "the credentials of connection `{link}` changed meanwhile"
                )));
            }
            update(&mut record);
            table.insert(link, encode(&record).as_slice())?;
            match secret {
                SecretChange::Keep => {}
                SecretChange::Erase => {
                    secrets.remove(id)?;
                }
                SecretChange::Set(blob) => {
                    secrets.insert(id, blob.as_slice())?;
                }
            }
            record
        };
        tx.commit()?;
        Ok(record)
    }

    /// Deletes a connection with its secret, grants and activity.
    ///
    /// # Errors
    /// [`StoreError::Missing`], database failures.
    pub fn delete_connection(&self, link: &str) -> Result<(), StoreError> {
        let tx = self.db.begin_write()?;
        {
            let removed: ConnectionRecord = match tx.open_table(CONNECTIONS)?.remove(link)? {
                Some(v) => decode(v.value())?,
                None => {
                    return Err(StoreError::Missing(format!(
                        "connection `{link}` not found"
                    )));
                }
            };
            tx.open_table(SECRETS)?.remove(removed.id.as_str())?;
            // Its grants, by function (no scan of every grant): a function's deletion
            // takes its grants with it, so every grant names a stored function.
            let functions: Vec<String> = tx
                .open_table(super::tables::FUNCTIONS)?
                .iter()?
                .map(|e| Ok::<_, StoreError>(e?.0.value().to_owned()))
                .collect::<Result<_, _>>()?;
            let mut grants = tx.open_table(GRANTS)?;
            for function in &functions {
                grants.remove((function.as_str(), link))?;
            }
            tx.open_table(AUDIT)?
                .retain_in((link, 0)..=(link, u64::MAX), |_, _| false)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Stores a pending OAuth flow under its `state`, dropping expired ones.
    ///
    /// # Errors
    /// Database failures.
    pub fn put_flow(&self, state: &str, flow: &PendingFlow, now_ms: u64) -> Result<(), StoreError> {
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
    pub fn bind_flow(
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
    pub fn take_bound_flow(
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

    /// Every sealed secret by record id.
    ///
    /// # Errors
    /// Database failures.
    pub fn secrets(&self) -> Result<HashMap<String, Vec<u8>>, StoreError> {
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

    /// Grants `function` the use of connection `link` (again is fine).
    ///
    /// # Errors
    /// [`StoreError::FunctionNotFound`], [`StoreError::Missing`] for the connection.
    pub fn grant(
        &self,
        function: &str,
        link: &str,
        now_ms: u64,
    ) -> Result<GrantRecord, StoreError> {
        let tx = self.db.begin_write()?;
        let grant = {
            if tx
                .open_table(super::tables::FUNCTIONS)?
                .get(function)?
                .is_none()
            {
                return Err(StoreError::FunctionNotFound(function.to_owned()));
            }
            if tx.open_table(CONNECTIONS)?.get(link)?.is_none() {
                return Err(StoreError::Missing(format!(
                    "connection `{link}` not found"
                )));
            }
            let mut grants = tx.open_table(GRANTS)?;
            let existing: Option<GrantRecord> = match grants.get((function, link))? {
                Some(v) => Some(decode(v.value())?),
                None => None,
            };
            match existing {
                Some(g) => g,
                None => {
                    let g = GrantRecord {
                        granted_at_ms: now_ms,
                    };
                    grants.insert((function, link), encode(&g).as_slice())?;
                    g
                }
            }
        };
        tx.commit()?;
        Ok(grant)
    }

    /// Removes a grant; `false` when there was none.
    ///
    /// # Errors
    /// Database failures.
    pub fn revoke_grant(&self, function: &str, link: &str) -> Result<bool, StoreError> {
        let tx = self.db.begin_write()?;
        let removed = tx.open_table(GRANTS)?.remove((function, link))?.is_some();
        tx.commit()?;
        Ok(removed)
    }

    /// Every grant as (function, connection, grant).
    ///
    /// # Errors
    /// Database failures.
    pub fn grants(&self) -> Result<Vec<(String, String, GrantRecord)>, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(GRANTS)?;
        table
            .iter()?
            .map(|e| {
                let (k, v) = e?;
                let (f, l) = k.value();
                Ok((f.to_owned(), l.to_owned(), decode(v.value())?))
            })
            .collect()
    }

    /// Appends audit records in one transaction and keeps at most `keep` per connection.
    ///
    /// # Errors
    /// Database failures.
    pub fn append_audit(
        &self,
        records: &[(String, AuditRecord)],
        keep: usize,
    ) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let tx = self.db.begin_write()?;
        {
            let mut meta = tx.open_table(META)?;
            let mut seq = match meta.get(AUDIT_SEQ)? {
                Some(v) => u64::from_le_bytes(v.value().try_into().unwrap_or_default()),
                None => 0,
            };
            let mut audit = tx.open_table(AUDIT)?;
            let mut touched: Vec<&str> = Vec::new();
            for (link, record) in records {
                seq += 1;
                audit.insert((link.as_str(), seq), encode(record).as_slice())?;
                if !touched.contains(&link.as_str()) {
                    touched.push(link);
                }
            }
            meta.insert(AUDIT_SEQ, seq.to_le_bytes().as_slice())?;
            for link in touched {
                let range = (link, 0)..=(link, u64::MAX);
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

    /// The newest `limit` audit records of connection `link`, oldest first.
    ///
    /// # Errors
    /// Database failures.
    pub fn audit(&self, link: &str, limit: usize) -> Result<Vec<AuditRecord>, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(AUDIT)?;
        let mut out: Vec<AuditRecord> = table
            .range((link, 0)..=(link, u64::MAX))?
            .rev()
            .take(limit)
            .map(|e| decode(e?.1.value()))
            .collect::<Result<_, _>>()?;
        out.reverse();
        Ok(out)
    }

    /// How many audit records are stored in all (for tests and status).
    ///
    /// # Errors
    /// Database failures.
    pub fn audit_len(&self) -> Result<u64, StoreError> {
        let tx = self.db.begin_read()?;
        Ok(tx.open_table(AUDIT)?.len()?)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::MasterKey;
    use switchboard_model::auth::AuthConfig;
    use switchboard_model::records::{FlowKind, NewVersion};

    fn service(id: &str, link: &str) -> ServiceRecord {
        ServiceRecord {
            id: id.into(),
            link_name: link.into(),
            display_name: "Svc".into(),
            auth: AuthConfig::Basic,
            dynamic_params: vec![],
            api_origins: vec!["https://api.example.com".into()],
            category: None,
            description: None,
            created_by: "admin".into(),
            created_at_ms: 1,
            updated_at_ms: 1,
        }
    }

    fn connection(id: &str, link: &str, service: &ServiceRecord) -> ConnectionRecord {
        ConnectionRecord {
            id: id.into(),
            link_name: link.into(),
            display_name: "Conn".into(),
            service: service.link_name.clone(),
            service_id: service.id.clone(),
            params: BTreeMap::new(),
            scopes: vec![],
            authorize_params: BTreeMap::new(),
            granted_scopes: vec![],
            token_expires_at_ms: None,
            credential_names: vec!["password".into()],
            status: ConnectionStatus::Connected,
            status_reason: None,
            created_by: "admin".into(),
            created_at_ms: 1,
            updated_at_ms: 1,
            connected_at_ms: Some(1),
            revoked_at_ms: None,
            history: vec![],
        }
    }

    fn open() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db.redb")).unwrap();
        (dir, store)
    }

    #[test]
    fn a_flow_is_bound_once_and_taken_only_by_its_browser() {
        let (_dir, store) = open();
        let flow = PendingFlow {
            connection_id: "con_1".into(),
            link: "acme_main".into(),
            created_by: "admin".into(),
            created_at_ms: 1_000,
            expires_at_ms: 10_000,
            authorize_url: "https://auth.example/authorize".into(),
            redirect_uri: "https://sb.example/oauth/callback".into(),
            verifier_sealed: String::new(),
            browser_hash: None,
            kind: FlowKind::OAuth2,
            request_token: None,
            request_secret_sealed: None,
        };
        store.put_flow("s1", &flow, 1_000).unwrap();
        // Not opened yet: no browser may take it, and it stays.
        assert_eq!(
            store.take_bound_flow("s1", None).unwrap(),
            FlowTake::OtherBrowser
        );
        assert_eq!(
            store.take_bound_flow("s1", Some("h")).unwrap(),
            FlowTake::OtherBrowser
        );
        assert_eq!(
            store.bind_flow("nope", "h", 2_000).unwrap(),
            FlowBinding::Unknown
        );
        let FlowBinding::Bound(bound) = store.bind_flow("s1", "h", 2_000).unwrap() else {
            panic!("not bound");
        };
        assert_eq!(bound.browser_hash.as_deref(), Some("h"));
        assert_eq!(
            store.bind_flow("s1", "other", 2_000).unwrap(),
            FlowBinding::AlreadyBound
        );
        // Another browser's callback leaves it in place.
        assert_eq!(
            store.take_bound_flow("s1", None).unwrap(),
            FlowTake::OtherBrowser
        );
        assert_eq!(
            store.take_bound_flow("s1", Some("other")).unwrap(),
            FlowTake::OtherBrowser
        );
        assert_eq!(
            store.take_bound_flow("s1", Some("h")).unwrap(),
            FlowTake::Taken(bound)
        );
        assert_eq!(
            store.take_bound_flow("s1", Some("h")).unwrap(),
            FlowTake::Unknown
        );
        store.put_flow("s2", &flow, 1_000).unwrap();
        assert_eq!(
            store.bind_flow("s2", "h", 10_000).unwrap(),
            FlowBinding::Expired
        );
    }

    #[test]
    fn editing_or_deleting_a_service_revokes_its_connections_and_erases_secrets() {
        let (_dir, store) = open();
        let sealer = Sealer::new(&MasterKey::generate());
        let svc = service("svc_1", "acme");
        let other = service("svc_2", "other");
        store.create_service(&svc, None).unwrap();
        store.create_service(&other, None).unwrap();
        assert!(matches!(
            store.create_service(&svc, None),
            Err(StoreError::Conflict(_))
        ));
        for (id, link, s) in [
            ("con_1", "a1", &svc),
            ("con_2", "a2", &svc),
            ("con_3", "o1", &other),
        ] {
            let c = connection(id, link, s);
            store.create_connection(&c).unwrap();
            store
                .update_connection(&c, &c, SecretChange::Set(sealer.seal(id.as_bytes(), b"x")))
                .unwrap();
        }
        assert!(matches!(
            store.create_connection(&connection("con_9", "a1", &svc)),
            Err(StoreError::Conflict(_))
        ));
        // A connection of a service id that is not the current one is refused.
        assert!(matches!(
            store.create_connection(&connection("con_8", "z", &service("svc_old", "acme"))),
            Err(StoreError::Missing(_))
        ));
        assert_eq!(store.secrets().unwrap().len(), 3);

        let mut edited = svc.clone();
        edited.display_name = "Acme 2".into();
        edited.updated_at_ms = 5;
        let revoked = store
            .replace_service(&svc, &edited, Some("edited"), SecretChange::Keep)
            .unwrap();
        assert!(matches!(
            store.replace_service(&svc, &edited, None, SecretChange::Keep),
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(revoked, ["a1", "a2"]);
        let secrets = store.secrets().unwrap();
        assert_eq!(secrets.keys().collect::<Vec<_>>(), ["con_3"]);
        let conns = store.connections().unwrap();
        let a1 = conns.iter().find(|c| c.link_name == "a1").unwrap();
        assert_eq!(a1.status, ConnectionStatus::Revoked);
        assert_eq!(a1.status_reason.as_deref(), Some("edited"));
        assert_eq!(a1.revoked_at_ms, Some(5));
        assert!(a1.credential_names.is_empty());

        let revoked = store.delete_service("other", "deleted", 9).unwrap();
        assert_eq!(revoked, ["o1"]);
        assert!(store.secrets().unwrap().is_empty());
        assert_eq!(
            store.connections().unwrap().len(),
            3,
            "connections are kept"
        );
        assert!(matches!(
            store.delete_service("other", "x", 9),
            Err(StoreError::Missing(_))
        ));
    }

    /// A token refresh stores its tokens against the credentials it started from: an
    /// edit of the record meanwhile is kept, a change of the credentials wins.
    #[test]
    fn credentials_are_replaced_against_their_generation_not_the_record() {
        let (_dir, store) = open();
        let svc = service("svc_1", "acme");
        store.create_service(&svc, None).unwrap();
        let c = connection("con_1", "main", &svc);
        store.create_connection(&c).unwrap();
        let blob = |b: &[u8]| SecretChange::Set(b.to_vec());
        store.update_connection(&c, &c, blob(b"gen-1")).unwrap();
        // Meanwhile: an edit of the display name and a status note.
        let mut edited = c.clone();
        edited.display_name = "Renamed".into();
        edited.record_event("failed", Some("a sign-in failed"), 2);
        store
            .update_connection(&c, &edited, SecretChange::Keep)
            .unwrap();
        let written = store
            .replace_credentials(
                "main",
                "con_1",
                b"gen-1",
                |r| r.record_event("refreshed", None, 3),
                blob(b"gen-2"),
            )
            .unwrap();
        assert_eq!(written.display_name, "Renamed");
        assert_eq!(written.history.len(), 2);
        assert_eq!(store.secrets().unwrap()["con_1"], b"gen-2");
        assert_eq!(store.connections().unwrap()[0], written);
        // Tokens derived from gen-1 lose to gen-2.
        assert!(matches!(
            store.replace_credentials("main", "con_1", b"gen-1", |_| {}, blob(b"x")),
            Err(StoreError::Conflict(_))
        ));
        // A revocation wins.
        let mut revoked = written.clone();
        revoked.status = ConnectionStatus::Revoked;
        store
            .update_connection(&written, &revoked, SecretChange::Erase)
            .unwrap();
        assert!(matches!(
            store.replace_credentials("main", "con_1", b"gen-2", |_| {}, blob(b"x")),
            Err(StoreError::Conflict(_))
        ));
        // A deleted connection, or another made under the same link name, is missing.
        store.delete_connection("main").unwrap();
        assert!(matches!(
            store.replace_credentials("main", "con_1", b"gen-2", |_| {}, blob(b"x")),
            Err(StoreError::Missing(_))
        ));
        store
            .create_connection(&connection("con_2", "main", &svc))
            .unwrap();
        assert!(matches!(
            store.replace_credentials("main", "con_1", b"gen-2", |_| {}, blob(b"x")),
            Err(StoreError::Missing(_))
        ));
    }

    #[test]
    fn grants_follow_functions_and_connections() {
        let (_dir, store) = open();
        let svc = service("svc_1", "acme");
        store.create_service(&svc, None).unwrap();
        store
            .create_connection(&connection("con_1", "c1", &svc))
            .unwrap();
        assert!(matches!(
            store.grant("fetch", "c1", 1),
            Err(StoreError::FunctionNotFound(_))
        ));
        let artifact = switchboard_model::records::Artifact {
            engine_hash: [0; 32],
            bytes: vec![1],
        };
        let record = switchboard_model::records::VersionRecord {
            version: 0,
            sha256: String::new(),
            size_bytes: 1,
            deployed_at_ms: 1,
            limits: switchboard_model::Limits::default(),
            allowed_hosts: vec![],
            requires: vec![],
        };
        store
            .deploy(
                "fetch",
                NewVersion {
                    component: b"w",
                    artifact: &artifact,
                    record,
                },
                1,
            )
            .unwrap();
        assert!(matches!(
            store.grant("fetch", "nope", 1),
            Err(StoreError::Missing(_))
        ));
        assert_eq!(store.grant("fetch", "c1", 3).unwrap().granted_at_ms, 3);
        assert_eq!(
            store.grant("fetch", "c1", 7).unwrap().granted_at_ms,
            3,
            "granting again keeps the first grant"
        );
        assert_eq!(store.grants().unwrap().len(), 1);
        store.delete("fetch").unwrap();
        assert!(store.grants().unwrap().is_empty());
        assert!(!store.revoke_grant("fetch", "c1").unwrap());
    }

    #[test]
    fn audit_keeps_the_newest_per_connection_and_goes_with_the_connection() {
        let (_dir, store) = open();
        let svc = service("svc_1", "acme");
        store.create_service(&svc, None).unwrap();
        store
            .create_connection(&connection("con_1", "c1", &svc))
            .unwrap();
        let rec = |n: u64| AuditRecord {
            time_ms: n,
            function: "f".into(),
            method: "GET".into(),
            origin: "https://api.example.com".into(),
            path: "/".into(),
            status: Some(200),
            outcome: "ok".into(),
            duration_us: n,
        };
        let batch: Vec<_> = (1..=7).map(|n| ("c1".to_owned(), rec(n))).collect();
        store.append_audit(&batch, 5).unwrap();
        store
            .append_audit(&[("c1".to_owned(), rec(8)), ("c2".to_owned(), rec(1))], 5)
            .unwrap();
        let got: Vec<u64> = store
            .audit("c1", 100)
            .unwrap()
            .iter()
            .map(|r| r.time_ms)
            .collect();
        assert_eq!(got, [4, 5, 6, 7, 8]);
        let got: Vec<u64> = store
            .audit("c1", 2)
            .unwrap()
            .iter()
            .map(|r| r.time_ms)
            .collect();
        assert_eq!(got, [7, 8]);
        store.delete_connection("c1").unwrap();
        assert!(store.audit("c1", 100).unwrap().is_empty());
        assert_eq!(store.audit_len().unwrap(), 1);
    }

    #[test]
    fn rotation_reseals_everything_or_nothing() {
        let (_dir, store) = open();
        let old = Sealer::new(&MasterKey::generate());
        let new = Sealer::new(&MasterKey::generate());
        store.bind_key(&old).unwrap();
        let svc = service("svc_1", "acme");
        store.create_service(&svc, None).unwrap();
        for id in ["con_1", "con_2"] {
            let c = connection(id, id, &svc);
            store.create_connection(&c).unwrap();
            store
                .update_connection(
                    &c,
                    &c,
                    SecretChange::Set(old.seal(id.as_bytes(), id.as_bytes())),
                )
                .unwrap();
        }
        // A sealer that cannot open the secrets changes nothing.
        assert!(matches!(
            store.rotate_key(&new, &old),
            Err(StoreError::Sealed(_))
        ));
        assert_eq!(store.sealed_key_id().unwrap(), Some(old.key_id()));

        assert_eq!(store.rotate_key(&old, &new).unwrap(), 2);
        assert_eq!(store.sealed_key_id().unwrap(), Some(new.key_id()));
        for (id, blob) in store.secrets().unwrap() {
            assert_eq!(
                new.open(id.as_bytes(), &blob).unwrap().as_slice(),
                id.as_bytes()
            );
            assert!(old.open(id.as_bytes(), &blob).is_err());
        }
        assert!(matches!(
            store.bind_key(&old),
            Err(StoreError::WrongKey { .. })
        ));
        store.bind_key(&new).unwrap();
    }
}
