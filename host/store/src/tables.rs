//! Every redb table, in one place. Records are keyed by immutable ids (functions by
//! name); services and connections are also found through a `(scope, link name) → id`
//! index. Values are JSON records, raw component bytes, artifacts, or sealed blobs.
//! The layout's version is `schema_version` in [`META`] ([`super::migrate`]).

use redb::TableDefinition;

/// name → JSON [`super::FunctionRecord`].
pub(super) const FUNCTIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("functions");
/// (name, version) → JSON [`super::VersionRecord`].
pub(super) const VERSIONS: TableDefinition<(&str, u32), &[u8]> =
    TableDefinition::new("function_versions");
/// (name, version) → the component as uploaded.
pub(super) const COMPONENTS: TableDefinition<(&str, u32), &[u8]> =
    TableDefinition::new("function_components");
/// (name, version) → 32-byte engine hash followed by the precompiled artifact.
pub(super) const ARTIFACTS: TableDefinition<(&str, u32), &[u8]> =
    TableDefinition::new("function_artifacts");

/// Service id → JSON `ServiceRecord`.
pub(super) const SERVICES: TableDefinition<&str, &[u8]> = TableDefinition::new("service_by_id");
/// (scope, service link name) → service id.
pub(super) const SERVICE_LINKS: TableDefinition<(&str, &str), &str> =
    TableDefinition::new("service_links");
/// Connection id → JSON `ConnectionRecord`.
pub(super) const CONNECTIONS: TableDefinition<&str, &[u8]> =
    TableDefinition::new("connection_by_id");
/// (scope, connection link name) → connection id.
pub(super) const CONNECTION_LINKS: TableDefinition<(&str, &str), &str> =
    TableDefinition::new("connection_links");
/// Connection or service id → its credentials, sealed with the id as associated data.
pub(super) const SECRETS: TableDefinition<&str, &[u8]> = TableDefinition::new("secrets");
/// (function name, connection id) → JSON `GrantRecord`.
pub(super) const GRANTS: TableDefinition<(&str, &str), &[u8]> =
    TableDefinition::new("grant_by_connection_id");
/// (connection id, sequence number) → JSON `AuditRecord`.
pub(super) const AUDIT: TableDefinition<(&str, u64), &[u8]> =
    TableDefinition::new("audit_by_connection_id");
/// OAuth `state` → JSON `PendingFlow`: an authorization flow between connect
/// and callback, single-use, with an expiry.
pub(super) const OAUTH_FLOWS: TableDefinition<&str, &[u8]> = TableDefinition::new("oauth_flows");
/// Default-service id → JSON `ServiceClientRecord`: the operator's OAuth client
/// of a default service (its secret is in `secrets` under the same id).
pub(super) const SERVICE_CLIENTS: TableDefinition<&str, &[u8]> =
    TableDefinition::new("service_clients");
/// Settings of the database itself: `schema_version` (4 bytes little-endian), `key_id`
/// (the master key's id, see [`super::seal`]), `audit_seq` (the last audit sequence
/// number, 8 bytes little-endian).
pub(super) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// The layout before schema version 2 (keyed by link name), read only by the migration.
pub(super) mod legacy {
    use redb::TableDefinition;

    /// Service link name → JSON record.
    pub(crate) const SERVICES: TableDefinition<&str, &[u8]> = TableDefinition::new("services");
    /// Connection link name → JSON record.
    pub(crate) const CONNECTIONS: TableDefinition<&str, &[u8]> =
        TableDefinition::new("connections");
    /// (function name, connection link name) → JSON grant.
    pub(crate) const GRANTS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("grants");
    /// (connection link name, sequence number) → JSON audit record.
    pub(crate) const AUDIT: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("audit");
}
