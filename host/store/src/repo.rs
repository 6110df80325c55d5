//! The repositories: one async trait per aggregate (services, connections with their
//! sealed secrets, grants, functions with their versions, OAuth flows, audit) and the
//! snapshot's two reads. Callers hold an `Arc<dyn Repositories>`; [`crate::RedbStore`]
//! is the one implementation today, a PostgreSQL store is meant to be the next.
//!
//! Rules every implementation keeps:
//! - Records are keyed by immutable ids; services and connections are also found by
//!   `(scope, link name)` through an index ([`switchboard_model::records::HOST_SCOPE`]
//!   is the one scope today). A link name freed by a delete and taken again names a new
//!   id, so nothing keyed by id (secrets, grants, audit) is inherited.
//! - Updates take the revision they were computed from and fail with
//!   [`StoreError::Stale`] when the stored one moved; the store sets the new revision
//!   (one more). Nothing compares whole records.
//! - Every method is one transaction.
//!
//! The traits use `async-trait` (boxed futures): native `async fn` in traits is not
//! object-safe, and the store is held as a trait object so that the host is assembled
//! with one implementation or another without generics through every layer. The cost,
//! one allocation per call, is small next to a database round trip.

use std::collections::HashMap;

use async_trait::async_trait;

use crate::StoreError;
use switchboard_model::records::{
    Artifact, AuditRecord, ConnectionRecord, FlowBinding, FlowTake, FunctionRecord, GrantRecord,
    PendingFlow, SecretChange, ServiceClientRecord, ServiceRecord, VersionRecord,
};

/// What store methods return.
pub type StoreResult<T> = Result<T, StoreError>;

/// A change applied to a connection as stored when its credentials are replaced (see
/// [`ConnectionRepo::replace_credentials`]).
pub type RecordUpdate = Box<dyn FnOnce(&mut ConnectionRecord) + Send>;

/// Custom services and the operator's clients of default services.
#[async_trait]
pub trait ServiceRepo: Send + Sync {
    /// Every custom service.
    async fn services(&self) -> StoreResult<Vec<ServiceRecord>>;

    /// One custom service by `(scope, link name)`.
    async fn service_by_link(&self, scope: &str, link: &str) -> StoreResult<Option<ServiceRecord>>;

    /// Adds a service (its `revision` is set to the first), with its sealed client
    /// secret (OAuth) if it has one. Returns the record stored.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the link name is taken in its scope.
    async fn create_service(
        &self,
        service: &ServiceRecord,
        secret: Option<Vec<u8>>,
    ) -> StoreResult<ServiceRecord>;

    /// Replaces the service with `service.id` if its stored revision is still
    /// `expected_revision`; with `revoke`, revokes its connections (the reason). Returns
    /// the link names of the revoked connections.
    ///
    /// # Errors
    /// [`StoreError::Missing`], [`StoreError::Stale`].
    async fn update_service(
        &self,
        service: &ServiceRecord,
        expected_revision: u64,
        revoke: Option<&str>,
        secret: SecretChange,
    ) -> StoreResult<Vec<String>>;

    /// Deletes the service `id` with its secret, and revokes its connections (which are
    /// kept). Returns the revoked connections' link names.
    ///
    /// # Errors
    /// [`StoreError::Missing`].
    async fn delete_service(&self, id: &str, reason: &str, now_ms: u64)
    -> StoreResult<Vec<String>>;

    /// Every configured default-service client, by service id.
    async fn service_clients(&self) -> StoreResult<HashMap<String, ServiceClientRecord>>;

    /// Sets the client of the default service `service_id` and its sealed secret; with
    /// `revoke`, revokes the service's connections. Returns the revoked link names.
    async fn set_service_client(
        &self,
        service_id: &str,
        client: &ServiceClientRecord,
        sealed_secret: Vec<u8>,
        revoke: Option<&str>,
    ) -> StoreResult<Vec<String>>;
}

/// Connections and their sealed secrets.
#[async_trait]
pub trait ConnectionRepo: Send + Sync {
    /// Every connection.
    async fn connections(&self) -> StoreResult<Vec<ConnectionRecord>>;

    /// One connection by id.
    async fn connection(&self, id: &str) -> StoreResult<Option<ConnectionRecord>>;

    /// One connection by `(scope, link name)`.
    async fn connection_by_link(
        &self,
        scope: &str,
        link: &str,
    ) -> StoreResult<Option<ConnectionRecord>>;

    /// Adds connections of custom services in one transaction, all or nothing; each
    /// gets the first revision. A bulk import takes many at once.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when a link name is taken, [`StoreError::Missing`] when
    /// the service is gone (or is another one under the same link name now).
    async fn create_connections(&self, connections: &[ConnectionRecord]) -> StoreResult<()>;

    /// Adds a connection of a default service (which has no stored row).
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the link name is taken, [`StoreError::Missing`]
    /// when a custom service holds the service's link name.
    async fn create_default_service_connection(
        &self,
        connection: &ConnectionRecord,
    ) -> StoreResult<()>;

    /// Writes a changed connection and its secret together if its stored revision is
    /// still `expected_revision`. Returns the record stored (with its new revision).
    ///
    /// # Errors
    /// [`StoreError::Missing`] when it was deleted meanwhile, [`StoreError::Stale`] when
    /// it changed meanwhile, [`StoreError::Conflict`] for a link name taken.
    async fn update_connection(
        &self,
        connection: &ConnectionRecord,
        expected_revision: u64,
        secret: SecretChange,
    ) -> StoreResult<ConnectionRecord>;

    /// Replaces the sealed credentials of connection `id` if they are still `expected`
    /// (the blob they were derived from, as a token refresh does), applying `update` to
    /// the record as stored now: a concurrent change of anything else is kept, a
    /// concurrent change of the credentials wins. Returns the record stored.
    ///
    /// # Errors
    /// [`StoreError::Missing`] when it was deleted meanwhile, [`StoreError::Stale`]
    /// when its credentials changed meanwhile.
    async fn replace_credentials(
        &self,
        id: &str,
        expected: Vec<u8>,
        update: RecordUpdate,
        secret: SecretChange,
    ) -> StoreResult<ConnectionRecord>;

    /// Deletes connection `id` with its secret, grants and audit records.
    ///
    /// # Errors
    /// [`StoreError::Missing`].
    async fn delete_connection(&self, id: &str) -> StoreResult<()>;

    /// Every sealed secret (of connections and services) by record id.
    async fn secrets(&self) -> StoreResult<HashMap<String, Vec<u8>>>;
}

/// Grants: a function's permission to use a connection, kept by connection id.
#[async_trait]
pub trait GrantRepo: Send + Sync {
    /// Grants `function` the use of the connection at `(scope, link)`; again returns
    /// the first grant.
    ///
    /// # Errors
    /// [`StoreError::FunctionNotFound`], [`StoreError::Missing`] for the connection.
    async fn grant(
        &self,
        function: &str,
        scope: &str,
        link: &str,
        now_ms: u64,
    ) -> StoreResult<GrantRecord>;

    /// Removes a grant; `false` when there was none.
    async fn revoke_grant(&self, function: &str, scope: &str, link: &str) -> StoreResult<bool>;

    /// Every grant as (function, connection link name, grant).
    async fn grants(&self) -> StoreResult<Vec<(String, String, GrantRecord)>>;
}

/// What a deploy writes, all in one transaction (owned, for an async call).
#[derive(Debug)]
pub struct Deploy {
    /// The uploaded component.
    pub component: Vec<u8>,
    /// Its precompiled form.
    pub artifact: Artifact,
    /// Settings of the version (its `version` field is assigned by the store).
    pub record: VersionRecord,
}

/// Functions, their versions, uploaded components and precompiled artifacts. A
/// function is keyed by its name; deploys and rollbacks are computed inside the
/// store's transaction (no read-modify-write by the caller), and bump its revision.
#[async_trait]
pub trait FunctionRepo: Send + Sync {
    /// Adds a version to `name` (creating the function if needed) and makes it current.
    /// Durable when this returns.
    async fn deploy(
        &self,
        name: &str,
        new: Deploy,
        now_ms: u64,
    ) -> StoreResult<(FunctionRecord, VersionRecord)>;

    /// Every function, ordered by name.
    async fn functions(&self) -> StoreResult<Vec<FunctionRecord>>;

    /// A function and all its versions, oldest first.
    ///
    /// # Errors
    /// [`StoreError::FunctionNotFound`].
    async fn function(&self, name: &str) -> StoreResult<(FunctionRecord, Vec<VersionRecord>)>;

    /// One version's settings.
    ///
    /// # Errors
    /// [`StoreError::VersionNotFound`].
    async fn version(&self, name: &str, version: u32) -> StoreResult<VersionRecord>;

    /// Makes `version` current (a rollback, or a roll forward).
    ///
    /// # Errors
    /// [`StoreError::FunctionNotFound`], [`StoreError::VersionNotFound`].
    async fn set_current(
        &self,
        name: &str,
        version: u32,
        now_ms: u64,
    ) -> StoreResult<FunctionRecord>;

    /// Deletes a function with every version, component, artifact and grant.
    ///
    /// # Errors
    /// [`StoreError::FunctionNotFound`].
    async fn delete_function(&self, name: &str) -> StoreResult<()>;

    /// The precompiled artifact of a version, if one is stored.
    async fn artifact(&self, name: &str, version: u32) -> StoreResult<Option<Artifact>>;

    /// The component as uploaded, for recompiling under another engine.
    ///
    /// # Errors
    /// [`StoreError::VersionNotFound`].
    async fn component(&self, name: &str, version: u32) -> StoreResult<Vec<u8>>;

    /// Replaces a version's artifact (after recompiling for a new engine).
    async fn put_artifact(&self, name: &str, version: u32, artifact: Artifact) -> StoreResult<()>;
}

/// OAuth authorizations between connect and callback, keyed by their random `state`.
#[async_trait]
pub trait FlowRepo: Send + Sync {
    /// Stores a pending flow under its `state`, dropping expired ones.
    async fn put_flow(&self, state: &str, flow: &PendingFlow, now_ms: u64) -> StoreResult<()>;

    /// `/oauth/start`: binds the flow of `state` to the browser whose cookie hashes to
    /// `browser_hash` (check and set in one transaction).
    async fn bind_flow(
        &self,
        state: &str,
        browser_hash: &str,
        now_ms: u64,
    ) -> StoreResult<FlowBinding>;

    /// `/oauth/callback`: removes and returns the flow of `state` only when it is bound
    /// to the browser whose cookie hashes to `browser_hash`.
    async fn take_bound_flow(
        &self,
        state: &str,
        browser_hash: Option<&str>,
    ) -> StoreResult<FlowTake>;
}

/// The audit trail, keyed by (connection id, sequence number): a connection made
/// again under a link name starts with none.
#[async_trait]
pub trait AuditRepo: Send + Sync {
    /// Appends records of (connection id, record) in one transaction and keeps at most
    /// `keep` per connection. Records of a connection that no longer exists are dropped.
    async fn append_audit(
        &self,
        records: Vec<(String, AuditRecord)>,
        keep: usize,
    ) -> StoreResult<()>;

    /// The newest `limit` records of connection `id`, oldest first.
    async fn audit(&self, id: &str, limit: usize) -> StoreResult<Vec<AuditRecord>>;

    /// How many audit records are stored in all.
    async fn audit_len(&self) -> StoreResult<u64>;
}

/// Everything the connections snapshot holds, as of one read transaction.
#[derive(Debug, Default)]
pub struct SnapshotRows {
    /// Every custom service.
    pub services: Vec<ServiceRecord>,
    /// Every connection.
    pub connections: Vec<ConnectionRecord>,
    /// Every sealed secret by record id.
    pub secrets: HashMap<String, Vec<u8>>,
    /// Every grant as (function, connection link name, grant).
    pub grants: Vec<(String, String, GrantRecord)>,
    /// Every default-service client by service id.
    pub service_clients: HashMap<String, ServiceClientRecord>,
}

/// Rows to read back after a write, by key (all in `scope`).
#[derive(Debug, Default, Clone)]
pub struct RowKeys {
    /// The scope of the link names below.
    pub scope: String,
    /// Custom services by link name.
    pub services: Vec<String>,
    /// Default-service clients by service id.
    pub service_clients: Vec<String>,
    /// Connections by link name.
    pub connections: Vec<String>,
    /// Grants as (function, connection link name).
    pub grants: Vec<(String, String)>,
    /// Functions whose grants are all read.
    pub functions: Vec<String>,
}

/// A record with its sealed secret, if it has one.
pub type WithSecret<T> = (T, Option<Vec<u8>>);

/// The rows of [`RowKeys`], as of one read transaction; a key with no row maps to `None`.
#[derive(Debug, Default)]
pub struct TouchedRows {
    /// Custom service by link name, with its sealed client secret.
    pub services: HashMap<String, Option<WithSecret<ServiceRecord>>>,
    /// Default-service client by service id, and the service's sealed client secret.
    pub service_clients: HashMap<String, (Option<ServiceClientRecord>, Option<Vec<u8>>)>,
    /// Connection by link name, with its sealed credentials.
    pub connections: HashMap<String, Option<WithSecret<ConnectionRecord>>>,
    /// Grant by (function, connection link name).
    pub grants: HashMap<(String, String), Option<GrantRecord>>,
    /// Every grant of a function as (connection link name, grant).
    pub grants_of: HashMap<String, Vec<(String, GrantRecord)>>,
}

/// The connections snapshot's reads.
#[async_trait]
pub trait SnapshotRepo: Send + Sync {
    /// Everything the snapshot needs, in one read transaction (start-up, full refresh).
    async fn load_snapshot(&self) -> StoreResult<SnapshotRows>;

    /// The rows a write touched, in one read transaction of point look-ups: the cost is
    /// O(touched rows · log n), not O(n).
    async fn read_touched(&self, keys: RowKeys) -> StoreResult<TouchedRows>;
}

/// Every repository in one object: what the host's parts hold
/// (`Arc<dyn Repositories>`).
pub trait Repositories:
    ServiceRepo
    + ConnectionRepo
    + GrantRepo
    + FunctionRepo
    + FlowRepo
    + AuditRepo
    + SnapshotRepo
    + std::fmt::Debug
{
}

impl<T> Repositories for T where
    T: ServiceRepo
        + ConnectionRepo
        + GrantRepo
        + FunctionRepo
        + FlowRepo
        + AuditRepo
        + SnapshotRepo
        + std::fmt::Debug
{
}
