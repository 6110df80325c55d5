//! [`RedbStore`] as the repositories: each method runs one transaction on a blocking
//! thread. Also the master-key checks, which run once at start-up (or with the host
//! stopped) and so block.

use std::collections::HashMap;

use async_trait::async_trait;

use super::repo::{
    AuditRepo, ConnectionRepo, Deploy, FlowRepo, FunctionRepo, GrantRepo, RecordUpdate, RowKeys,
    ServiceRepo, SnapshotRepo, SnapshotRows, StoreResult, TouchedRows,
};
use super::{RedbStore, Sealer, StoreError};
use switchboard_model::records::{
    Artifact, AuditRecord, ConnectionRecord, FlowBinding, FlowTake, FunctionRecord, GrantRecord,
    NewVersion, PendingFlow, SecretChange, ServiceClientRecord, ServiceRecord, VersionRecord,
};

impl RedbStore {
    /// The id of the master key the database's secrets are sealed under, if it has any:
    /// the recorded one, or else that of any stored blob. Blocks.
    ///
    /// # Errors
    /// Database failures.
    pub fn sealed_key_id(&self) -> Result<Option<String>, StoreError> {
        self.db.sealed_key_id()
    }

    /// Binds the database to `sealer`'s key: records its id on first use, and refuses
    /// a key other than the one the secrets are sealed under. Blocks.
    ///
    /// # Errors
    /// [`StoreError::WrongKey`], database failures.
    pub fn bind_key(&self, sealer: &Sealer) -> Result<(), StoreError> {
        self.db.bind_key(sealer)
    }

    /// Re-seals every secret from `old` to `new` and records `new`'s id, in one
    /// transaction. Returns how many secrets were re-sealed. Blocks.
    ///
    /// # Errors
    /// A secret does not open under `old` (nothing is changed), database failures.
    pub fn rotate_key(&self, old: &Sealer, new: &Sealer) -> Result<usize, StoreError> {
        self.db.rotate_key(old, new)
    }
}

fn own(s: &str) -> String {
    s.to_owned()
}

#[async_trait]
impl ServiceRepo for RedbStore {
    async fn services(&self) -> StoreResult<Vec<ServiceRecord>> {
        self.run(|db| db.services()).await
    }

    async fn service_by_link(&self, scope: &str, link: &str) -> StoreResult<Option<ServiceRecord>> {
        let (scope, link) = (own(scope), own(link));
        self.run(move |db| db.service_by_link(&scope, &link)).await
    }

    async fn create_service(
        &self,
        service: &ServiceRecord,
        secret: Option<Vec<u8>>,
    ) -> StoreResult<ServiceRecord> {
        let service = service.clone();
        self.run(move |db| db.create_service(&service, secret.as_deref()))
            .await
    }

    async fn update_service(
        &self,
        service: &ServiceRecord,
        expected_revision: u64,
        revoke: Option<&str>,
        secret: SecretChange,
    ) -> StoreResult<Vec<String>> {
        let (service, revoke) = (service.clone(), revoke.map(own));
        self.run(move |db| {
            db.update_service(&service, expected_revision, revoke.as_deref(), secret)
        })
        .await
    }

    async fn delete_service(
        &self,
        id: &str,
        reason: &str,
        now_ms: u64,
    ) -> StoreResult<Vec<String>> {
        let (id, reason) = (own(id), own(reason));
        self.run(move |db| db.delete_service(&id, &reason, now_ms))
            .await
    }

    async fn service_clients(&self) -> StoreResult<HashMap<String, ServiceClientRecord>> {
        self.run(|db| db.service_clients()).await
    }

    async fn set_service_client(
        &self,
        service_id: &str,
        client: &ServiceClientRecord,
        sealed_secret: Vec<u8>,
        revoke: Option<&str>,
    ) -> StoreResult<Vec<String>> {
        let (id, client, revoke) = (own(service_id), client.clone(), revoke.map(own));
        self.run(move |db| db.set_service_client(&id, &client, &sealed_secret, revoke.as_deref()))
            .await
    }
}

#[async_trait]
impl ConnectionRepo for RedbStore {
    async fn connections(&self) -> StoreResult<Vec<ConnectionRecord>> {
        self.run(|db| db.connections()).await
    }

    async fn connection(&self, id: &str) -> StoreResult<Option<ConnectionRecord>> {
        let id = own(id);
        self.run(move |db| db.connection(&id)).await
    }

    async fn connection_by_link(
        &self,
        scope: &str,
        link: &str,
    ) -> StoreResult<Option<ConnectionRecord>> {
        let (scope, link) = (own(scope), own(link));
        self.run(move |db| db.connection_by_link(&scope, &link))
            .await
    }

    async fn create_connections(&self, connections: &[ConnectionRecord]) -> StoreResult<()> {
        let connections = connections.to_vec();
        self.run(move |db| db.create_connections(&connections))
            .await
    }

    async fn create_default_service_connection(
        &self,
        connection: &ConnectionRecord,
    ) -> StoreResult<()> {
        let connection = connection.clone();
        self.run(move |db| db.create_default_service_connection(&connection))
            .await
    }

    async fn update_connection(
        &self,
        connection: &ConnectionRecord,
        expected_revision: u64,
        secret: SecretChange,
    ) -> StoreResult<ConnectionRecord> {
        let connection = connection.clone();
        self.run(move |db| db.update_connection(&connection, expected_revision, secret))
            .await
    }

    async fn replace_credentials(
        &self,
        id: &str,
        expected: Vec<u8>,
        update: RecordUpdate,
        secret: SecretChange,
    ) -> StoreResult<ConnectionRecord> {
        let id = own(id);
        self.run(move |db| db.replace_credentials(&id, &expected, update, secret))
            .await
    }

    async fn delete_connection(&self, id: &str) -> StoreResult<()> {
        let id = own(id);
        self.run(move |db| db.delete_connection(&id)).await
    }

    async fn secrets(&self) -> StoreResult<HashMap<String, Vec<u8>>> {
        self.run(|db| db.secrets()).await
    }
}

#[async_trait]
impl GrantRepo for RedbStore {
    async fn grant(
        &self,
        function: &str,
        scope: &str,
        link: &str,
        now_ms: u64,
    ) -> StoreResult<GrantRecord> {
        let (f, scope, link) = (own(function), own(scope), own(link));
        self.run(move |db| db.grant(&f, &scope, &link, now_ms))
            .await
    }

    async fn revoke_grant(&self, function: &str, scope: &str, link: &str) -> StoreResult<bool> {
        let (f, scope, link) = (own(function), own(scope), own(link));
        self.run(move |db| db.revoke_grant(&f, &scope, &link)).await
    }

    async fn grants(&self) -> StoreResult<Vec<(String, String, GrantRecord)>> {
        self.run(|db| db.grants()).await
    }
}

#[async_trait]
impl FunctionRepo for RedbStore {
    async fn deploy(
        &self,
        name: &str,
        new: Deploy,
        now_ms: u64,
    ) -> StoreResult<(FunctionRecord, VersionRecord)> {
        let name = own(name);
        self.run(move |db| {
            db.deploy(
                &name,
                NewVersion {
                    component: &new.component,
                    artifact: &new.artifact,
                    record: new.record,
                },
                now_ms,
            )
        })
        .await
    }

    async fn functions(&self) -> StoreResult<Vec<FunctionRecord>> {
        self.run(|db| db.functions()).await
    }

    async fn function(&self, name: &str) -> StoreResult<(FunctionRecord, Vec<VersionRecord>)> {
        let name = own(name);
        self.run(move |db| db.function(&name)).await
    }

    async fn version(&self, name: &str, version: u32) -> StoreResult<VersionRecord> {
        let name = own(name);
        self.run(move |db| db.version(&name, version)).await
    }

    async fn set_current(
        &self,
        name: &str,
        version: u32,
        now_ms: u64,
    ) -> StoreResult<FunctionRecord> {
        let name = own(name);
        self.run(move |db| db.set_current(&name, version, now_ms))
            .await
    }

    async fn delete_function(&self, name: &str) -> StoreResult<()> {
        let name = own(name);
        self.run(move |db| db.delete_function(&name)).await
    }

    async fn artifact(&self, name: &str, version: u32) -> StoreResult<Option<Artifact>> {
        let name = own(name);
        self.run(move |db| db.artifact(&name, version)).await
    }

    async fn component(&self, name: &str, version: u32) -> StoreResult<Vec<u8>> {
        let name = own(name);
        self.run(move |db| db.component(&name, version)).await
    }

    async fn put_artifact(&self, name: &str, version: u32, artifact: Artifact) -> StoreResult<()> {
        let name = own(name);
        self.run(move |db| db.put_artifact(&name, version, &artifact))
            .await
    }
}

#[async_trait]
impl FlowRepo for RedbStore {
    async fn put_flow(&self, state: &str, flow: &PendingFlow, now_ms: u64) -> StoreResult<()> {
        let (state, flow) = (own(state), flow.clone());
        self.run(move |db| db.put_flow(&state, &flow, now_ms)).await
    }

    async fn bind_flow(
        &self,
        state: &str,
        browser_hash: &str,
        now_ms: u64,
    ) -> StoreResult<FlowBinding> {
        let (state, hash) = (own(state), own(browser_hash));
        self.run(move |db| db.bind_flow(&state, &hash, now_ms))
            .await
    }

    async fn take_bound_flow(
        &self,
        state: &str,
        browser_hash: Option<&str>,
    ) -> StoreResult<FlowTake> {
        let (state, hash) = (own(state), browser_hash.map(own));
        self.run(move |db| db.take_bound_flow(&state, hash.as_deref()))
            .await
    }
}

#[async_trait]
impl AuditRepo for RedbStore {
    async fn append_audit(
        &self,
        records: Vec<(String, AuditRecord)>,
        keep: usize,
    ) -> StoreResult<()> {
        self.run(move |db| db.append_audit(&records, keep)).await
    }

    async fn audit(&self, id: &str, limit: usize) -> StoreResult<Vec<AuditRecord>> {
        let id = own(id);
        self.run(move |db| db.audit(&id, limit)).await
    }

    async fn audit_len(&self) -> StoreResult<u64> {
        self.run(|db| db.audit_len()).await
    }
}

#[async_trait]
impl SnapshotRepo for RedbStore {
    async fn load_snapshot(&self) -> StoreResult<SnapshotRows> {
        self.run(|db| db.load_snapshot()).await
    }

    async fn read_touched(&self, keys: RowKeys) -> StoreResult<TouchedRows> {
        self.run(move |db| db.read_touched(keys)).await
    }
}
