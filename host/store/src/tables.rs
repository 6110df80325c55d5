//! Every redb table, in one place. Keys are names (of functions, services,
//! connections), ids, or tuples of them; values are JSON records, raw component bytes,
//! artifacts, or sealed blobs.

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

/// Service link name → JSON [`super::ServiceRecord`].
pub(super) const SERVICES: TableDefinition<&str, &[u8]> = TableDefinition::new("services");
/// Connection link name → JSON [`super::ConnectionRecord`].
pub(super) const CONNECTIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("connections");
/// Connection id → its credentials, sealed with the id as associated data.
pub(super) const SECRETS: TableDefinition<&str, &[u8]> = TableDefinition::new("secrets");
/// (function name, connection link name) → JSON [`super::GrantRecord`].
pub(super) const GRANTS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("grants");
/// (connection link name, sequence number) → JSON [`super::AuditRecord`].
pub(super) const AUDIT: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("audit");
/// OAuth `state` → JSON [`super::PendingFlow`]: an authorization flow between connect
/// and callback, single-use, with an expiry.
pub(super) const OAUTH_FLOWS: TableDefinition<&str, &[u8]> = TableDefinition::new("oauth_flows");
/// Default-service id → JSON [`super::ServiceClientRecord`]: the operator's OAuth client
/// of a default service (its secret is in `secrets` under the same id).
pub(super) const SERVICE_CLIENTS: TableDefinition<&str, &[u8]> =
    TableDefinition::new("service_clients");
/// Settings of the database itself: `key_id` (the master key's id, see
/// [`super::seal`]), `audit_seq` (the last audit sequence number, 8 bytes little-endian).
pub(super) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
