//! The records the store keeps: services, connections, grants, audit, sign-in flows,
//! functions and their versions. Plain data; rules live with the parts that own them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::auth::AuthConfig;
use crate::limits::Limits;

/// The scope of every record today: the host as a whole. Link names are unique within
/// a scope (the store's `(scope, link name) → id` index); per-user scopes come with
/// users and roles.
pub const HOST_SCOPE: &str = "host";

/// The revision a record is created with; every write adds one. The store refuses an
/// update computed from another revision than the stored one (optimistic concurrency).
pub const FIRST_REVISION: u64 = 1;

fn host_scope() -> String {
    HOST_SCOPE.to_owned()
}

fn first_revision() -> u64 {
    FIRST_REVISION
}

/// A dynamic parameter of a service: a `{key}` placeholder a connection gives a value for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DynamicParam {
    /// Placeholder name.
    pub key: String,
    /// What the connect form asks for.
    pub display_name: String,
    /// A regular expression the whole value must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
}

/// What a service declares: its auth and where its credentials may go. The one
/// spelling of a service's definition: the stored [`ServiceRecord`], the API's service
/// definition and view, and the default-service catalogue's entries all embed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceSpec {
    /// Auth type and its fields.
    pub auth: AuthConfig,
    /// Dynamic parameters.
    #[serde(default)]
    pub dynamic_params: Vec<DynamicParam>,
    /// Origin templates the credentials may go to (for `aws_sigv4`, defaulted from the
    /// AWS service and region when empty).
    #[serde(default)]
    pub api_origins: Vec<String>,
    /// Category.
    #[serde(default)]
    pub category: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
}

/// Who a stored service is and its life: everything but its [`ServiceSpec`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceMeta {
    /// The scope the link name is unique in ([`HOST_SCOPE`] today).
    #[serde(default = "host_scope")]
    pub scope: String,
    /// Unique link name.
    pub link_name: String,
    /// Display name.
    pub display_name: String,
    /// Who created it (only they edit or delete it).
    pub created_by: String,
    /// Unix milliseconds.
    pub created_at_ms: u64,
    /// Unix milliseconds.
    pub updated_at_ms: u64,
    /// [`FIRST_REVISION`] when created, one more per write (set by the store).
    #[serde(default = "first_revision")]
    pub revision: u64,
}

/// A custom service: `{ id, meta, spec }`. Stored as one flat JSON object (the fields
/// of `meta` and `spec` side by side), as before the split into parts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRecord {
    /// Random id, never reused: connections refer to it, so a service deleted and made
    /// again under the same link name does not adopt the old connections.
    pub id: String,
    /// Link name, display name, creator, times, revision.
    #[serde(flatten)]
    pub meta: ServiceMeta,
    /// What it declares.
    #[serde(flatten)]
    pub spec: ServiceSpec,
}

/// Where a connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    /// Created, never given credentials.
    NotConnected,
    /// Has credentials; usable.
    Connected,
    /// Credentials erased.
    Revoked,
    /// Credentials no longer work (OAuth refresh failed).
    NeedsReconnect,
}

impl ConnectionStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionStatus::NotConnected => "not_connected",
            ConnectionStatus::Connected => "connected",
            ConnectionStatus::Revoked => "revoked",
            ConnectionStatus::NeedsReconnect => "needs_reconnect",
        }
    }
}

/// A connection. Its secrets are in the `secrets` table under `id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionRecord {
    /// Random id; the associated data of its sealed secret.
    pub id: String,
    /// The scope the link name is unique in ([`HOST_SCOPE`] today).
    #[serde(default = "host_scope")]
    pub scope: String,
    /// Unique link name.
    pub link_name: String,
    /// Display name.
    pub display_name: String,
    /// The service's link name.
    pub service: String,
    /// The service's id when the connection was made.
    pub service_id: String,
    /// Dynamic-parameter values.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// Chosen scopes (OAuth).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Extra authorize parameters of this connection (OAuth 2), over the service's.
    #[serde(default)]
    pub authorize_params: BTreeMap<String, String>,
    /// The scopes the provider granted (OAuth 2), when it said.
    #[serde(default)]
    pub granted_scopes: Vec<String>,
    /// When the current access token expires (OAuth 2), Unix milliseconds.
    #[serde(default)]
    pub token_expires_at_ms: Option<u64>,
    /// Names of the credential values that are set (never the values).
    #[serde(default)]
    pub credential_names: Vec<String>,
    /// Status.
    pub status: ConnectionStatus,
    /// Why the status is what it is, when it is not `connected`.
    #[serde(default)]
    pub status_reason: Option<String>,
    /// Who created it.
    pub created_by: String,
    /// Unix milliseconds.
    pub created_at_ms: u64,
    /// Unix milliseconds.
    pub updated_at_ms: u64,
    /// Unix milliseconds of the last connect.
    #[serde(default)]
    pub connected_at_ms: Option<u64>,
    /// Unix milliseconds of the last revocation.
    #[serde(default)]
    pub revoked_at_ms: Option<u64>,
    /// Status changes, oldest first (at most [`MAX_HISTORY`]).
    #[serde(default)]
    pub history: Vec<StatusEvent>,
    /// [`FIRST_REVISION`] when created, one more per write (set by the store).
    #[serde(default = "first_revision")]
    pub revision: u64,
}

/// An OAuth authorization in progress, between `connect` and the callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingFlow {
    /// The connection's id (a connection made again under the same link name does not
    /// inherit the flow).
    pub connection_id: String,
    /// The connection's link name.
    pub link: String,
    /// Who started it.
    pub created_by: String,
    /// Unix milliseconds.
    pub created_at_ms: u64,
    /// Unix milliseconds after which the callback is refused.
    pub expires_at_ms: u64,
    /// The provider's authorize URL (`/oauth/start` redirects there).
    pub authorize_url: String,
    /// The exact redirect URI sent to the provider.
    pub redirect_uri: String,
    /// The PKCE verifier, sealed with the state as associated data, hex.
    pub verifier_sealed: String,
    /// SHA-256 (hex) of the browser cookie set by `/oauth/start`; the callback must
    /// come from that browser.
    #[serde(default)]
    pub browser_hash: Option<String>,
    /// Which protocol the flow is for (flows stored before OAuth 1 are OAuth 2).
    #[serde(default)]
    pub kind: FlowKind,
    /// OAuth 1: the request token (temporary credentials identifier) the callback must
    /// name.
    #[serde(default)]
    pub request_token: Option<String>,
    /// OAuth 1: the request-token secret, sealed with the state as associated data, hex.
    #[serde(default)]
    pub request_secret_sealed: Option<String>,
}

/// What binding a flow to a browser found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowBinding {
    /// Bound now; the flow as stored.
    Bound(Box<PendingFlow>),
    /// No flow has this state (never made, used, or dropped after expiry).
    Unknown,
    /// The flow expired.
    Expired,
    /// The link was opened before (in this browser or another).
    AlreadyBound,
}

/// What taking a bound flow found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowTake {
    /// Removed; the flow as it was.
    Taken(Box<PendingFlow>),
    /// No flow has this state.
    Unknown,
    /// The flow is bound to another browser (or to none yet): left in place.
    OtherBrowser,
}

/// The protocol of a [`PendingFlow`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowKind {
    /// OAuth 2 authorization code with PKCE.
    #[default]
    OAuth2,
    /// OAuth 1.0a three-legged.
    OAuth1,
}

/// One change in a connection's life, for its summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusEvent {
    /// Unix milliseconds.
    pub time_ms: u64,
    /// `created`, `connected`, `refreshed`, `failed`, `revoked`, `needs_reconnect`.
    pub event: String,
    /// Why, when there is a reason (never a secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Events kept per connection, newest last.
pub const MAX_HISTORY: usize = 50;

impl ConnectionRecord {
    /// Appends an event to the status history (keeping the newest [`MAX_HISTORY`]).
    pub fn record_event(&mut self, event: &str, reason: Option<&str>, now_ms: u64) {
        self.history.push(StatusEvent {
            time_ms: now_ms,
            event: event.to_owned(),
            reason: reason.map(str::to_owned),
        });
        if self.history.len() > MAX_HISTORY {
            let excess = self.history.len() - MAX_HISTORY;
            self.history.drain(..excess);
        }
    }
}

/// A function's permission to use a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRecord {
    /// Unix milliseconds.
    pub granted_at_ms: u64,
    /// [`FIRST_REVISION`] (a grant is made and removed, never changed).
    #[serde(default = "first_revision")]
    pub revision: u64,
}

/// One use of a connection by a function. Never holds a secret or a query string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Unix milliseconds.
    pub time_ms: u64,
    /// The function.
    pub function: String,
    /// HTTP method.
    pub method: String,
    /// `scheme://host[:port]` of the request (after placeholders were filled).
    pub origin: String,
    /// Path, without the query.
    pub path: String,
    /// Upstream status, when one answered.
    pub status: Option<u16>,
    /// `ok` or the error kind the function received.
    pub outcome: String,
    /// Duration in microseconds.
    pub duration_us: u64,
}

/// What happens to a connection's sealed secret in an update.
#[derive(Debug)]
pub enum SecretChange {
    /// Leave it.
    Keep,
    /// Erase it.
    Erase,
    /// Replace it with this blob (sealed for the connection's id).
    Set(Vec<u8>),
}

/// A function: a name and which of its versions is current.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FunctionRecord {
    /// Unique name (see [`crate::names::validate_function_name`]).
    pub name: String,
    /// The version that invocations run.
    pub current_version: u32,
    /// The highest version ever deployed; the next deploy is `latest_version + 1`.
    pub latest_version: u32,
    /// Unix milliseconds.
    pub created_at_ms: u64,
    /// Unix milliseconds of the last deploy or rollback.
    pub updated_at_ms: u64,
    /// [`FIRST_REVISION`] at the first deploy, one more per deploy or rollback.
    #[serde(default = "first_revision")]
    pub revision: u64,
}

/// One deployed version of a function, with the settings it was deployed with.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct VersionRecord {
    /// 1, 2, 3, ...
    pub version: u32,
    /// Hex SHA-256 of the uploaded component.
    pub sha256: String,
    /// Size of the uploaded component in bytes.
    pub size_bytes: u64,
    /// Unix milliseconds.
    pub deployed_at_ms: u64,
    /// Memory, time and request limits for every call of this version.
    pub limits: Limits,
    /// Origins (`scheme://host[:port]`) that connection-less `invoke-url` may reach.
    pub allowed_hosts: Vec<String>,
    /// Connections the function declared it needs (its manifest).
    #[serde(default)]
    pub requires: Vec<Requirement>,
}

/// A connection a function needs, from its manifest: a connection of `service`, with at
/// least `scopes`, granted to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    /// The service's link name (default or custom).
    pub service: String,
    /// Scopes the connection must have (OAuth).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Why the function needs it, shown to the operator.
    #[serde(default)]
    pub why: Option<String>,
}

/// A precompiled artifact and the engine it was compiled for.
#[derive(Debug)]
pub struct Artifact {
    /// the runtime's `engine_hash` of the engine that produced `bytes`.
    pub engine_hash: [u8; 32],
    /// Output of `Engine::precompile_component`: native code, trusted only because we wrote it.
    pub bytes: Vec<u8>,
}

/// What a deploy writes, all in one transaction.
#[derive(Debug)]
pub struct NewVersion<'a> {
    /// The uploaded component, kept so it can be recompiled for a new engine.
    pub component: &'a [u8],
    /// Its precompiled form.
    pub artifact: &'a Artifact,
    /// Settings of the version (its `version` field is assigned by the store).
    pub record: VersionRecord,
}

/// The operator's OAuth client of a default service. The client secret (OAuth 1
/// consumer secret) is sealed in the `secrets` table under the service's id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceClientRecord {
    /// OAuth 2 client id, or OAuth 1 consumer key.
    pub client_id: String,
    /// Who set it.
    pub updated_by: String,
    /// Unix milliseconds.
    pub updated_at_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A service is stored as one flat object, as before it was split into `meta` and
    /// `spec`: records written then read back, and what is written reads the same.
    #[test]
    fn a_service_record_is_one_flat_object() {
        let stored = serde_json::json!({
            "id": "svc_1", "link_name": "acme", "display_name": "Acme",
            "auth": {"type": "basic"}, "api_origins": ["https://api.acme.example"],
            "created_by": "admin", "created_at_ms": 1, "updated_at_ms": 2
        });
        let record: ServiceRecord = serde_json::from_value(stored).unwrap();
        assert_eq!(record.meta.link_name, "acme");
        assert_eq!(
            (record.meta.scope.as_str(), record.meta.revision),
            (HOST_SCOPE, 1)
        );
        assert_eq!(record.spec.api_origins, ["https://api.acme.example"]);
        assert_eq!(record.spec.auth, AuthConfig::Basic);
        let written = serde_json::to_value(&record).unwrap();
        let keys: Vec<&str> = written
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        for key in [
            "id",
            "link_name",
            "revision",
            "auth",
            "api_origins",
            "scope",
        ] {
            assert!(keys.contains(&key), "{key} missing: {written}");
        }
        assert!(
            !keys.contains(&"meta") && !keys.contains(&"spec"),
            "{written}"
        );
        let back: ServiceRecord = serde_json::from_value(written).unwrap();
        assert_eq!(back, record);
    }
}
