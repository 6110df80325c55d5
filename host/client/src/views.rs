//! The API's answers as typed views: one struct per JSON shape the host sends, with the
//! host's field names. Deserialising ignores fields a view does not know (a newer host
//! may add some), and serialising gives back the same JSON the host sent, so
//! `switchboard ... --output json` prints what the API answered.
//!
//! The host's own view types (in the `switchboard-api` and `switchboard-connections` crates) serialise to these shapes; a test
//! there deserialises them with these structs, so the two cannot drift apart unnoticed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The body of every error answer: `{"error": {"code", "message"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Machine-readable code (`not_found`, `invalid_body`, `conflict`, ...).
    pub code: String,
    /// What to fix, for a person.
    pub message: String,
}

/// `GET /api/v1/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// The host's version.
    pub version: String,
    /// Functions with a compiled current version in memory.
    pub functions_loaded: u64,
    /// Runtime counters and settings.
    pub runtime: RuntimeStatus,
}

/// The runtime part of [`Status`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeStatus {
    /// Components compiled.
    pub compiled: u64,
    /// Compiles started (a compile waited on by several calls counts once).
    pub compiles_started: u64,
    /// Components loaded from the artifact cache instead of compiled.
    pub deserialized: u64,
    /// Calls run.
    pub calls: u64,
    /// Calls that may run at once.
    pub max_concurrency: u64,
    /// Calls of one function that may run at once by default.
    pub max_concurrency_per_function: u64,
    /// Largest memory limit a function may be deployed with, MiB.
    pub max_memory_mib: u64,
    /// Memory budget of all running calls, MiB.
    pub memory_budget_mib: u64,
    /// Largest result of a call, bytes.
    pub max_output_bytes: u64,
}

// --- Functions ---------------------------------------------------------------------

/// Per-call limits of a function version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Memory of a call, MiB.
    pub memory_mib: u32,
    /// Deadline of a call, ms.
    pub timeout_ms: u32,
    /// Outbound requests per call.
    pub max_requests: u32,
    /// Calls at once (0: the host's per-function default).
    pub max_concurrency: u32,
}

/// A connection a function declares it needs (its manifest's entries).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requirement {
    /// The service's link name.
    pub service: String,
    /// Scopes the connection must have.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Why the function needs it.
    #[serde(default)]
    pub why: Option<String>,
}

/// Where a function's declared need for a connection stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequirementStatus {
    /// The service needed.
    pub service: String,
    /// Scopes needed.
    pub scopes: Vec<String>,
    /// Why, from the manifest.
    pub why: Option<String>,
    /// Connections of that service granted to the function.
    pub granted: Vec<String>,
    /// Whether one of them is connected (with the scopes).
    pub satisfied: bool,
}

/// One deployed version of a function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    /// Version number.
    pub version: u32,
    /// Whether invocations run this version.
    pub current: bool,
    /// Hex SHA-256 of the component.
    pub sha256: String,
    /// Component size.
    pub size_bytes: u64,
    /// RFC 3339.
    pub deployed_at: String,
    /// Per-call limits.
    pub limits: Limits,
    /// Origins connection-less requests may reach.
    pub allowed_hosts: Vec<String>,
    /// Connections it declared it needs.
    pub requires: Vec<Requirement>,
}

/// A function. `versions`, `grants` and `requirements` are present in `show` (and
/// `requirements` in deploy's answer), absent in lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Function {
    /// Name.
    pub name: String,
    /// Version invocations run.
    pub current_version: u32,
    /// Highest version deployed.
    pub latest_version: u32,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// All versions, oldest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versions: Option<Vec<Version>>,
    /// Connections it may use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grants: Option<Vec<String>>,
    /// How the current version's declared connections stand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requirements: Option<Vec<RequirementStatus>>,
}

/// `GET /functions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionList {
    /// The functions, by name.
    pub functions: Vec<Function>,
}

/// One log line of a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// RFC 3339 with milliseconds.
    pub time: String,
    /// Invocation id (the `x-switchboard-invocation` header of its answer).
    pub invocation: u64,
    /// Version that ran.
    pub version: u32,
    /// `trace`, `debug`, `info`, `warn`, `error`.
    pub level: String,
    /// Message.
    pub message: String,
}

/// `GET /functions/{name}/logs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Logs {
    /// The function.
    pub function: String,
    /// Oldest first.
    pub lines: Vec<LogLine>,
}

/// What an invocation answered: the function's output and the call's headers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvokeResult {
    /// Invocation id.
    pub invocation: u64,
    /// Version that ran.
    pub version: u32,
    /// Wall-clock duration, microseconds.
    pub duration_us: u64,
    /// The function's JSON output, as the host sent it.
    pub output: String,
}

/// A grant as `POST /functions/{name}/grants` answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// Function.
    pub function: String,
    /// Connection link name.
    pub connection: String,
    /// RFC 3339.
    pub granted_at: String,
}

/// One entry of [`GrantList`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantEntry {
    /// Connection link name.
    pub connection: String,
    /// RFC 3339.
    pub granted_at: String,
}

/// `GET /functions/{name}/grants`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantList {
    /// The function.
    pub function: String,
    /// Its grants.
    pub grants: Vec<GrantEntry>,
}

// --- Services ----------------------------------------------------------------------

/// A service's auth: its `type` (`api_key`, `basic`, `oauth1`, `oauth2`, `aws_sigv4`) and
/// that type's fields as the API sends them (never a secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Auth {
    /// The auth type.
    #[serde(rename = "type")]
    pub kind: String,
    /// The type's fields (`params`, `client_id`, `service`, `region`, ...).
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

impl Auth {
    /// A text field, e.g. `client_id` or `region`; `None` when absent or not text.
    pub fn text(&self, field: &str) -> Option<&str> {
        self.fields.get(field).and_then(Value::as_str)
    }

    /// The API-key parameters (api_key services; empty otherwise).
    pub fn api_key_params(&self) -> Vec<ApiKeyParam> {
        self.fields
            .get("params")
            .and_then(|p| serde_json::from_value(p.clone()).ok())
            .unwrap_or_default()
    }
}

/// One API-key parameter of a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyParam {
    /// The name sent upstream.
    pub name: String,
    /// What connecting asks for.
    pub display_name: String,
    /// `query`, `form` or `header`.
    pub param_type: String,
}

/// A dynamic parameter of a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DynamicParam {
    /// Placeholder name.
    pub key: String,
    /// What connecting asks for.
    pub display_name: String,
    /// A regular expression the whole value must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
}

/// A service (API connector), default (from the catalogue) or custom.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    /// Id.
    pub id: String,
    /// `default` or `custom`.
    pub kind: String,
    /// Default services: the provider's documentation.
    pub docs_url: Option<String>,
    /// Link name.
    pub link_name: String,
    /// Display name.
    pub display_name: String,
    /// Auth type and fields.
    pub auth: Auth,
    /// Dynamic parameters.
    pub dynamic_params: Vec<DynamicParam>,
    /// Origin templates the credentials may go to.
    pub api_origins: Vec<String>,
    /// Category.
    pub category: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Creator.
    pub created_by: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// Connections made from it.
    pub connections: u64,
    /// Whether an OAuth client secret is stored (never the secret).
    pub client_secret_set: bool,
}

/// A service after an edit (or after setting its OAuth client), with the connections the
/// change revoked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceChanged {
    /// The service now.
    #[serde(flatten)]
    pub service: Service,
    /// Connections revoked by the change (connect them again).
    pub revoked_connections: Vec<String>,
}

/// What deleting a service did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceDeleted {
    /// The link name deleted.
    pub deleted: String,
    /// Its connections, revoked.
    pub revoked_connections: Vec<String>,
}

/// `GET /services`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceList {
    /// The services.
    pub services: Vec<Service>,
}

/// `GET /services/categories`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Categories {
    /// Category → number of services.
    pub categories: BTreeMap<String, u64>,
}

/// What `GET /services` is asked for: all fields optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceFilter {
    /// Text in the link name, display name, category or description.
    pub search: Option<String>,
    /// Category.
    pub category: Option<String>,
    /// `default` or `custom`.
    pub kind: Option<String>,
}

impl ServiceFilter {
    /// The query pairs.
    pub(crate) fn pairs(&self) -> Vec<(&'static str, &str)> {
        let mut q = Vec::new();
        if let Some(s) = &self.search {
            q.push(("q", s.as_str()));
        }
        if let Some(c) = &self.category {
            q.push(("category", c.as_str()));
        }
        if let Some(k) = &self.kind {
            q.push(("kind", k.as_str()));
        }
        q
    }

    /// Whether any filter is set.
    pub fn is_empty(&self) -> bool {
        self.search.is_none() && self.category.is_none() && self.kind.is_none()
    }
}

// --- Connections -------------------------------------------------------------------

/// The service part of a connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRef {
    /// Link name.
    pub link_name: String,
    /// Display name (empty when the service was deleted).
    pub display_name: String,
    /// Auth type (empty when the service was deleted).
    pub auth_type: String,
}

/// One status change of a connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// RFC 3339 with milliseconds.
    pub time: String,
    /// `created`, `connected`, `refreshed`, `failed`, `revoked`, `needs_reconnect`.
    pub event: String,
    /// Why, when there is a reason.
    pub reason: Option<String>,
}

/// A connection: one account of a service. Never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    /// Link name.
    pub link_name: String,
    /// Display name.
    pub display_name: String,
    /// Its service.
    pub service: ServiceRef,
    /// `not_connected`, `connected`, `revoked`, `needs_reconnect`.
    pub status: String,
    /// Why, when not connected.
    pub status_reason: Option<String>,
    /// Dynamic-parameter values.
    pub params: BTreeMap<String, String>,
    /// Where its credentials may go (filled).
    pub api_origins: Vec<String>,
    /// Names of the credential values that are set.
    pub credentials: Vec<String>,
    /// OAuth 2: the scopes asked for.
    pub scopes: Vec<String>,
    /// OAuth 2: the scopes the provider granted.
    pub granted_scopes: Vec<String>,
    /// OAuth 2: when the access token expires (RFC 3339).
    pub token_expires_at: Option<String>,
    /// Status changes, oldest first.
    pub history: Vec<HistoryEntry>,
    /// Functions granted its use.
    pub granted_to: Vec<String>,
    /// Creator.
    pub created_by: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// RFC 3339.
    pub connected_at: Option<String>,
    /// RFC 3339.
    pub revoked_at: Option<String>,
    /// Ready-to-paste SDK code.
    pub snippet: String,
}

/// What `POST /connections/{link}/connect` answers: the connection, and for an OAuth
/// sign-in the link to open in a browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connected {
    /// The connection after connecting.
    #[serde(flatten)]
    pub connection: Connection,
    /// OAuth: the page to open to finish signing in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorize_url: Option<String>,
}

/// `GET /connections`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionList {
    /// The connections, by link name.
    pub connections: Vec<Connection>,
}

/// What creating a connection takes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewConnection {
    /// Link name.
    pub link_name: String,
    /// Display name.
    pub display_name: String,
    /// The service's link name.
    pub service: String,
    /// Dynamic-parameter values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
    /// OAuth 2: the scopes to ask for (default: all of the service's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// OAuth 2: extra authorize parameters.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub authorize_params: BTreeMap<String, String>,
    /// Functions to grant it to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grant_to: Vec<String>,
}

/// What editing a connection may change; `None` keeps the current value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionEdit {
    /// New display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// New dynamic-parameter values (all of them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<BTreeMap<String, String>>,
}

/// One use of a connection by a function (its audit record).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityEntry {
    /// RFC 3339 with milliseconds.
    pub time: String,
    /// Function.
    pub function: String,
    /// Method.
    pub method: String,
    /// Origin.
    pub origin: String,
    /// Path (no query).
    pub path: String,
    /// Upstream status.
    pub status: Option<u16>,
    /// `ok` or the error kind.
    pub outcome: String,
    /// Milliseconds.
    pub duration_ms: f64,
}

/// `GET /connections/{link}/activity`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    /// The connection.
    pub connection: String,
    /// Oldest first.
    pub activity: Vec<ActivityEntry>,
}
