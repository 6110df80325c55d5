//! Services, connections and grants: validation, the edit rules of the seeds, sealing
//! credentials, and the in-memory snapshot the runtime resolves connections from (an
//! invocation never reads the database). Every write goes to the store first, then the
//! snapshot is rebuilt, under one async mutex so writes apply in order.

mod audit;
pub mod catalog;
mod defaults;
mod oauth;
mod oauth1;
pub mod provider;
pub mod refresher;
mod snapshot;
pub mod template;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::RngCore;
use serde::{Deserialize, Serialize};

pub use audit::KEEP_PER_CONNECTION;
pub use defaults::ServiceClient;
use oauth::Forget;
pub use oauth::{FLOW_COOKIE, FLOW_TTL, FlowError, FlowStart, MIN_TOKEN_AGE, flow_cookie_name};
pub use oauth1::CallbackParams;
use snapshot::{Entry, Snapshot, Touched};
use switchboard_auth::{AuthConfig, Credential, Credentials, ParamType, aws_sigv4};
use switchboard_model::Error;
use switchboard_model::authz::{Action, authorize};
use switchboard_model::names::validate_link_name;
use switchboard_model::records::{
    AuditRecord, ConnectionRecord, ConnectionStatus, FIRST_REVISION, HOST_SCOPE, SecretChange,
    ServiceMeta, ServiceRecord, ServiceSpec,
};
use switchboard_model::time::rfc3339;
use switchboard_model::{
    ApiKeyValue, InvocationContext, Password, Principal, SecretAccessKey, SecretString,
    SessionToken,
};
pub use switchboard_model::{Clock, ManualClock, SystemClock};
use switchboard_outbound::{BoxFuture, BrokerError, ConnectionBroker, ResolvedConnection};
use switchboard_store::{Repositories, Sealer};

/// Longest display name, in characters.
pub const MAX_DISPLAY_NAME: usize = 50;
/// Longest service description, in characters.
pub const MAX_DESCRIPTION: usize = 1000;
/// Longest credential value, in bytes.
pub const MAX_SECRET_LEN: usize = 8192;

/// Header names an API-key parameter may not use: the host sets them itself.
const UNUSABLE_KEY_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "content-type",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// A service as the API receives it (create, or the whole document on edit), and as the
/// catalogue ships it: a link name, a display name and the [`ServiceSpec`], one flat
/// JSON (or TOML) object. Unknown fields are refused ([`DefinitionFields`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "DefinitionFields")]
pub struct ServiceDefinition {
    /// Unique, never changes.
    pub link_name: String,
    /// 1 to 50 characters.
    pub display_name: String,
    /// Auth, dynamic parameters, API origins, category, description.
    #[serde(flatten)]
    pub spec: ServiceSpec,
    /// OAuth client secret (oauth2) or consumer secret (oauth1): write-only, sealed
    /// apart from the service record; on edit, absent keeps the stored one.
    #[serde(default, skip_serializing)]
    pub client_secret: Option<SecretString>,
}

/// How a [`ServiceDefinition`] is read: serde's `deny_unknown_fields` does not work
/// with `flatten`, so the fields no part takes are gathered and refused here.
#[derive(Deserialize)]
struct DefinitionFields {
    link_name: String,
    display_name: String,
    #[serde(flatten)]
    spec: ServiceSpec,
    #[serde(default)]
    client_secret: Option<SecretString>,
    #[serde(flatten)]
    unknown: BTreeMap<String, serde::de::IgnoredAny>,
}

impl TryFrom<DefinitionFields> for ServiceDefinition {
    type Error = String;

    fn try_from(d: DefinitionFields) -> Result<Self, String> {
        if let Some(field) = d.unknown.keys().next() {
            return Err(format!(
                "unknown field `{field}`, expected one of `link_name`, `display_name`, `auth`, \
                 `dynamic_params`, `api_origins`, `category`, `description`, `client_secret`"
            ));
        }
        Ok(Self {
            link_name: d.link_name,
            display_name: d.display_name,
            spec: d.spec,
            client_secret: d.client_secret,
        })
    }
}

/// A service as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceView {
    /// Id.
    pub id: String,
    /// `default` (from the catalogue, read-only) or `custom`.
    pub kind: &'static str,
    /// Default services: the provider's documentation.
    pub docs_url: Option<&'static str>,
    /// The definition.
    #[serde(flatten)]
    pub definition: ServiceDefinition,
    /// Creator.
    pub created_by: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// Connections made from it.
    pub connections: usize,
    /// Whether a client secret is stored (never the secret).
    pub client_secret_set: bool,
}

/// What creating a connection takes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewConnection {
    /// Unique link name.
    pub link_name: String,
    /// Display name.
    pub display_name: String,
    /// The service's link name.
    pub service: String,
    /// Dynamic-parameter values.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// OAuth 2: the scopes to ask for (default: all of the service's).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// OAuth 2: extra authorize parameters of this connection.
    #[serde(default)]
    pub authorize_params: BTreeMap<String, String>,
    /// Functions to grant the new connection to (a function that declared it needs one).
    #[serde(default)]
    pub grant_to: Vec<String>,
}

/// What editing a connection may change.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionEdit {
    /// New display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// New dynamic-parameter values (all of them).
    #[serde(default)]
    pub params: Option<BTreeMap<String, String>>,
}

/// Credentials given at connect. `Debug` prints no value.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectRequest {
    /// API key: parameter name → value.
    #[serde(default)]
    pub values: Option<BTreeMap<String, ApiKeyValue>>,
    /// Basic: username.
    #[serde(default)]
    pub username: Option<SecretString>,
    /// Basic: password.
    #[serde(default)]
    pub password: Option<Password>,
    /// AWS SigV4: access key id.
    #[serde(default)]
    pub access_key_id: Option<SecretString>,
    /// AWS SigV4: secret access key.
    #[serde(default)]
    pub secret_access_key: Option<SecretAccessKey>,
    /// AWS SigV4: session token of temporary credentials.
    #[serde(default)]
    pub session_token: Option<SessionToken>,
}

/// The service part of a connection summary.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceRef {
    /// Link name.
    pub link_name: String,
    /// Display name (empty when the service was deleted).
    pub display_name: String,
    /// Auth type (empty when the service was deleted).
    pub auth_type: &'static str,
}

/// The connection summary. Never holds a secret.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionView {
    /// Link name.
    pub link_name: String,
    /// Display name.
    pub display_name: String,
    /// Its service.
    pub service: ServiceRef,
    /// `not_connected`, `connected`, `revoked`, `needs_reconnect`.
    pub status: &'static str,
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
    /// Status changes, oldest first: created, connected, refreshed, failed, revoked,
    /// needs_reconnect, with times and reasons.
    pub history: Vec<HistoryView>,
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

/// One status change as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryView {
    /// RFC 3339 with milliseconds.
    pub time: String,
    /// `created`, `connected`, `refreshed`, `failed`, `revoked`, `needs_reconnect`.
    pub event: String,
    /// Why, when there is a reason.
    pub reason: Option<String>,
}

/// Where a function's declared need for a connection stands.
#[derive(Debug, Clone, Serialize)]
pub struct RequirementView {
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

/// What `connect` did.
#[derive(Debug, Clone)]
pub struct ConnectOutcome {
    /// The summary after connecting.
    pub connection: ConnectionView,
    /// OAuth 2 authorization code: the URL to open in a browser to finish.
    pub authorize_url: Option<String>,
}

/// A grant as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct GrantView {
    /// Function.
    pub function: String,
    /// Connection link name.
    pub connection: String,
    /// RFC 3339.
    pub granted_at: String,
}

/// An audit record as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ActivityView {
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

/// The connections service.
#[derive(Debug)]
pub struct Connections {
    /// Itself, for work that must outlive a caller (a token refresh).
    me: std::sync::Weak<Connections>,
    store: Arc<dyn Repositories>,
    sealer: Sealer,
    /// For token requests: no redirects, the private-network guard on every request.
    http: switchboard_outbound::TokenHttp,
    /// `--public-url`: where the provider sends the browser back.
    public_url: RwLock<Option<String>>,
    /// How long an authorization may take (10 minutes; shorter in tests).
    flow_ttl: RwLock<Duration>,
    /// OAuth 2 token refresh: one at a time per connection, back-off, its clock.
    refresh: oauth::RefreshState,
    /// Read on every request through a connection, without a lock; replaced (under
    /// `writes`) by a copy updated with each write's rows.
    snapshot: arc_swap::ArcSwap<Snapshot>,
    writes: tokio::sync::Mutex<()>,
    audit: audit::AuditLog,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn random_id(prefix: &str) -> String {
    let mut b = [0u8; 12];
    rand::rng().fill_bytes(&mut b);
    format!("{prefix}_{}", hex::encode(b))
}

fn bad(code: &'static str, message: impl Into<String>) -> Error {
    Error::BadRequest {
        code,
        message: message.into(),
    }
}

fn check_display_name(what: &str, name: &str) -> Result<(), String> {
    let n = name.trim().chars().count();
    if n == 0 || n > MAX_DISPLAY_NAME {
        return Err(format!(
            "{what} display name must be 1 to {MAX_DISPLAY_NAME} characters (got {n})"
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(format!("{what} display name contains control characters"));
    }
    Ok(())
}

fn check_secret_value(what: &str, value: &str) -> Result<(), Error> {
    if value.len() > MAX_SECRET_LEN {
        return Err(bad(
            "invalid_credentials",
            format!("{what} is longer than {MAX_SECRET_LEN} bytes"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(bad(
            "invalid_credentials",
            format!("{what} contains control characters (a pasted newline?)"),
        ));
    }
    Ok(())
}

/// Checks a service definition; the message says what to fix.
pub(crate) fn validate_service(def: &ServiceDefinition) -> Result<(), Error> {
    let invalid = |m: String| bad("invalid_service", m);
    validate_link_name("service", &def.link_name).map_err(invalid)?;
    check_display_name("service", &def.display_name).map_err(invalid)?;
    match &def.spec.auth {
        AuthConfig::ApiKey { params } => {
            if params.is_empty() {
                return Err(invalid(
                    "an api_key service needs at least one parameter in `auth.params`".into(),
                ));
            }
            for (i, p) in params.iter().enumerate() {
                if p.name.is_empty() || p.name.len() > 100 || p.name.chars().any(char::is_control) {
                    return Err(invalid(format!(
                        "API-key parameter {} needs a name (the actual parameter) of 1 to 100 characters",
                        i + 1
                    )));
                }
                check_display_name(&format!("parameter `{}`", p.name), &p.display_name)
                    .map_err(invalid)?;
                if params[..i]
                    .iter()
                    .any(|q| q.name.eq_ignore_ascii_case(&p.name))
                {
                    return Err(invalid(format!(
                        "API-key parameter `{}` is listed twice",
                        p.name
                    )));
                }
                if p.param_type == ParamType::Header {
                    let lower = p.name.to_ascii_lowercase();
                    if reqwest::header::HeaderName::from_bytes(p.name.as_bytes()).is_err() {
                        return Err(invalid(format!("`{}` is not a valid header name", p.name)));
                    }
                    if UNUSABLE_KEY_HEADERS.contains(&lower.as_str()) || lower.starts_with("proxy-")
                    {
                        return Err(invalid(format!(
                            "header `{}` cannot carry an API key: the host sets it",
                            p.name
                        )));
                    }
                }
            }
        }
        AuthConfig::Basic => {}
        AuthConfig::AwsSigv4 { service, region } => {
            aws_sigv4::check_scope(service, region).map_err(invalid)?;
        }
        AuthConfig::OAuth2 { .. } => oauth::check_service(def).map_err(invalid)?,
        AuthConfig::OAuth1 { .. } => oauth1::check_service(def).map_err(invalid)?,
    }
    if let Some(secret) = &def.client_secret {
        if !matches!(
            def.spec.auth,
            AuthConfig::OAuth2 { .. } | AuthConfig::OAuth1 { .. }
        ) {
            return Err(invalid(format!(
                "`client_secret` is for oauth1 and oauth2 services; this one is `{}`",
                def.spec.auth.type_name()
            )));
        }
        if secret.expose().is_empty()
            || secret.expose().len() > MAX_SECRET_LEN
            || secret.expose().chars().any(char::is_control)
        {
            return Err(invalid(format!(
                "`client_secret` must be 1 to {MAX_SECRET_LEN} bytes of text without control characters"
            )));
        }
    }
    for (i, p) in def.spec.dynamic_params.iter().enumerate() {
        if !template::is_key(&p.key) {
            return Err(invalid(format!(
                "dynamic parameter key `{}` must start with a lower-case letter and hold only lower-case letters, digits and `_` (at most 50)",
                p.key
            )));
        }
        if def.spec.dynamic_params[..i].iter().any(|q| q.key == p.key) {
            return Err(invalid(format!(
                "dynamic parameter `{}` is listed twice",
                p.key
            )));
        }
        check_display_name(&format!("dynamic parameter `{}`", p.key), &p.display_name)
            .map_err(invalid)?;
        if let Some(pattern) = &p.pattern {
            template::compile_pattern(pattern).map_err(invalid)?;
        }
    }
    if def.spec.api_origins.is_empty() {
        return Err(invalid(
            "`api_origins` needs at least one origin (like https://api.example.com) the credentials may be sent to".into(),
        ));
    }
    if def.spec.api_origins.len() > 20 {
        return Err(invalid("at most 20 API origins".into()));
    }
    for o in &def.spec.api_origins {
        template::check_origin_template(o, &def.spec.dynamic_params).map_err(invalid)?;
    }
    if let Some(c) = &def.spec.category
        && (c.chars().count() > MAX_DISPLAY_NAME || c.chars().any(char::is_control))
    {
        return Err(invalid(format!(
            "category must be at most {MAX_DISPLAY_NAME} characters of text"
        )));
    }
    if def
        .spec
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION)
    {
        return Err(invalid(format!(
            "description must be at most {MAX_DESCRIPTION} characters"
        )));
    }
    Ok(())
}

/// An aws_sigv4 service without API origins gets AWS's (see
/// [`aws_sigv4::default_origins`]); explicit origins are kept as given.
pub(crate) fn with_default_origins(mut def: ServiceDefinition) -> ServiceDefinition {
    if let AuthConfig::AwsSigv4 { service, region } = &def.spec.auth
        && def.spec.api_origins.is_empty()
        && aws_sigv4::check_scope(service, region).is_ok()
    {
        let bucket = def.spec.dynamic_params.iter().any(|p| p.key == "bucket");
        def.spec.api_origins = aws_sigv4::default_origins(service, region, bucket);
    }
    def
}

/// The seed's edit rules between a stored service and its new definition.
fn check_edit(old: &ServiceRecord, new: &ServiceDefinition) -> Result<(), Error> {
    if new.link_name != old.meta.link_name {
        return Err(bad(
            "immutable_field",
            format!(
                "a service's link name never changes (`{}` cannot become `{}`); create a new service instead",
                old.meta.link_name, new.link_name
            ),
        ));
    }
    if new.spec.auth.type_name() != old.spec.auth.type_name() {
        return Err(bad(
            "immutable_field",
            format!(
                "a service's auth type never changes (`{}` cannot become `{}`); create a new service instead",
                old.spec.auth.type_name(),
                new.spec.auth.type_name()
            ),
        ));
    }
    if let (AuthConfig::ApiKey { params: old_p }, AuthConfig::ApiKey { params: new_p }) =
        (&old.spec.auth, &new.spec.auth)
        && let Some(gone) = old_p
            .iter()
            .find(|o| !new_p.iter().any(|n| n.name == o.name))
    {
        return Err(bad(
            "immutable_field",
            format!(
                "API-key parameter `{}` cannot be deleted (parameters can be added and edited, never deleted)",
                gone.name
            ),
        ));
    }
    Ok(())
}

fn definition(s: &ServiceRecord) -> ServiceDefinition {
    ServiceDefinition {
        link_name: s.meta.link_name.clone(),
        display_name: s.meta.display_name.clone(),
        spec: s.spec.clone(),
        client_secret: None,
    }
}

fn snippet(link: &str, service: Option<&ServiceRecord>) -> String {
    let origin = service
        .and_then(|s| s.spec.api_origins.first())
        .map_or("https://api.example.com", String::as_str);
    format!(
        "let response = switchboard_sdk::invoke_url(\n    Some(\"{link}\"),\n    switchboard_sdk::Request::get(\"{origin}/\"),\n)\n.map_err(|e| e.to_string())?;"
    )
}

fn filled_origins(
    service: &ServiceRecord,
    params: &BTreeMap<String, String>,
) -> Option<Vec<String>> {
    service
        .spec
        .api_origins
        .iter()
        .map(|t| template::fill_origin(t, params))
        .collect::<Result<_, _>>()
        .ok()
}

impl Snapshot {
    fn granted_to(&self, link: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .grants
            .iter()
            .filter(|(_, g)| g.contains_key(link))
            .map(|(f, _)| f.clone())
            .collect();
        out.sort();
        out
    }

    fn service_view(&self, s: &ServiceRecord) -> ServiceView {
        ServiceView {
            id: s.id.clone(),
            kind: catalog::kind(s),
            docs_url: catalog::docs_url(s),
            definition: definition(s),
            created_by: s.meta.created_by.clone(),
            created_at: rfc3339(s.meta.created_at_ms),
            updated_at: rfc3339(s.meta.updated_at_ms),
            connections: self.counts.get(&s.id).copied().unwrap_or(0),
            client_secret_set: self.service_secrets.contains_key(&s.id),
        }
    }

    fn connection_view(&self, e: &Entry) -> ConnectionView {
        let r = &e.record;
        let service = e.service.as_deref();
        ConnectionView {
            link_name: r.link_name.clone(),
            display_name: r.display_name.clone(),
            service: ServiceRef {
                link_name: r.service.clone(),
                display_name: service
                    .map(|s| s.meta.display_name.clone())
                    .unwrap_or_default(),
                auth_type: service.map_or("", |s| s.spec.auth.type_name()),
            },
            status: r.status.as_str(),
            status_reason: r.status_reason.clone(),
            params: r.params.clone(),
            api_origins: service
                .and_then(|s| filled_origins(s, &r.params))
                .unwrap_or_default(),
            credentials: r.credential_names.clone(),
            scopes: r.scopes.clone(),
            granted_scopes: r.granted_scopes.clone(),
            token_expires_at: oauth::token_expiry(r),
            history: r
                .history
                .iter()
                .map(|h| HistoryView {
                    time: rfc3339(h.time_ms),
                    event: h.event.clone(),
                    reason: h.reason.clone(),
                })
                .collect(),
            granted_to: self.granted_to(&r.link_name),
            created_by: r.created_by.clone(),
            created_at: rfc3339(r.created_at_ms),
            updated_at: rfc3339(r.updated_at_ms),
            connected_at: r.connected_at_ms.map(rfc3339),
            revoked_at: r.revoked_at_ms.map(rfc3339),
            snippet: snippet(&r.link_name, service),
        }
    }
}

impl Connections {
    /// Opens the service over `store`, with secrets sealed by `sealer`, and starts the
    /// audit writer on the current tokio runtime.
    ///
    /// # Errors
    /// The store cannot be read.
    pub async fn new(
        store: Arc<dyn Repositories>,
        sealer: Sealer,
        http: switchboard_outbound::TokenHttp,
    ) -> anyhow::Result<Arc<Self>> {
        let rows = store
            .load_snapshot()
            .await
            .map_err(|e| anyhow::anyhow!("loading connections: {e}"))?;
        let snapshot = Snapshot::load(rows);
        let audit = audit::AuditLog::start(store.clone());
        Ok(Arc::new_cyclic(|me| Self {
            me: me.clone(),
            audit,
            store,
            sealer,
            http,
            public_url: RwLock::new(None),
            flow_ttl: RwLock::new(FLOW_TTL),
            refresh: oauth::RefreshState::default(),
            snapshot: arc_swap::ArcSwap::from_pointee(snapshot),
            writes: tokio::sync::Mutex::new(()),
        }))
    }

    /// Sets the URL the host is reached at from a browser (`--public-url`): the OAuth
    /// redirect URI is `{public_url}/oauth/callback`.
    pub fn set_public_url(&self, url: &str) {
        *self.public_url.write().expect("lock poisoned") =
            Some(url.trim_end_matches('/').to_owned());
    }

    /// Sets how long an OAuth authorization may take, from connect to callback.
    pub fn set_flow_ttl(&self, ttl: Duration) {
        *self.flow_ttl.write().expect("lock poisoned") = ttl;
    }

    /// Sets the clock token refresh reads (expiry, back-off, the minimum token age);
    /// tests pass a [`ManualClock`].
    pub fn set_clock(&self, clock: Arc<dyn Clock>) {
        self.refresh.set_clock(clock);
    }

    fn flow_ttl(&self) -> Duration {
        *self.flow_ttl.read().expect("lock poisoned")
    }

    /// The OAuth redirect URI to register at providers, once the public URL is known.
    pub fn redirect_uri_hint(&self) -> Option<String> {
        self.public_url
            .read()
            .expect("lock poisoned")
            .as_ref()
            .map(|u| format!("{u}/oauth/callback"))
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Rebuilds the whole snapshot from the store, in one read transaction.
    ///
    /// # Errors
    /// The store cannot be read.
    pub async fn refresh(&self) -> Result<(), Error> {
        let _guard = self.writes.lock().await;
        let snapshot = Snapshot::load(self.store.load_snapshot().await?);
        self.snapshot.store(Arc::new(snapshot));
        Ok(())
    }

    /// Reads a function's grants again after a write elsewhere (its deletion drops
    /// them), so a function deployed again under the name does not inherit them.
    ///
    /// # Errors
    /// The store cannot be read.
    pub async fn function_changed(&self, function: &str) -> Result<(), Error> {
        self.write(Touched::function(function), async { Ok(()) })
            .await
    }

    /// Runs a store write under the write lock, then reads back the rows it touched
    /// (one read transaction of point look-ups) and swaps in a snapshot updated with
    /// them: a write costs the same at 100,000 connections as at 10.
    async fn write<T>(
        &self,
        touched: Touched,
        write: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        let _guard = self.writes.lock().await;
        let current = self.snapshot();
        let out = write.await;
        // Read back even after a failed write: the snapshot must never be newer or
        // older than the store.
        let keys = current.keys(touched);
        let rows = self.store.read_touched(keys.clone()).await?;
        self.snapshot.store(Arc::new(current.apply(keys, rows)));
        out
    }

    /// Writes queued audit records and stops the writer; call at shutdown.
    pub async fn close(&self) {
        self.audit.close().await;
    }

    fn service_record(&self, link: &str) -> Result<Arc<ServiceRecord>, Error> {
        self.snapshot()
            .services
            .get(link)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("service `{link}` not found")))
    }

    fn entry(&self, link: &str) -> Result<Arc<Entry>, Error> {
        self.snapshot()
            .connections
            .get(link)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("connection `{link}` not found")))
    }

    // ---- services ----

    /// Creates a custom service owned by `actor`.
    ///
    /// # Errors
    /// [`Error::BadRequest`] for an invalid definition, [`Error::Conflict`].
    pub async fn create_service(
        &self,
        def: ServiceDefinition,
        who: &Principal,
    ) -> Result<ServiceView, Error> {
        defaults::check_new_link(&def.link_name)?;
        let def = with_default_origins(def);
        validate_service(&def)?;
        let now = now_ms();
        let id = random_id("svc");
        let sealed = def
            .client_secret
            .as_ref()
            .map(|c| self.sealer.seal(id.as_bytes(), c.expose().as_bytes()));
        let record = ServiceRecord {
            id,
            meta: ServiceMeta {
                scope: HOST_SCOPE.to_owned(),
                link_name: def.link_name,
                display_name: def.display_name.trim().to_owned(),
                created_by: who.name().to_owned(),
                created_at_ms: now,
                updated_at_ms: now,
                revision: FIRST_REVISION,
            },
            spec: def.spec,
        };
        let record = self
            .write(Touched::service(&record.meta.link_name), async {
                Ok(self.store.create_service(&record, sealed).await?)
            })
            .await?;
        tracing::info!(service = %record.meta.link_name, "service created");
        Ok(self.snapshot().service_view(&record))
    }

    /// Every service.
    pub fn list_services(&self) -> Vec<ServiceView> {
        let snap = self.snapshot();
        snap.services
            .values()
            .map(|s| snap.service_view(s))
            .collect()
    }

    /// One service.
    ///
    /// # Errors
    /// [`Error::NotFound`].
    pub fn show_service(&self, link: &str) -> Result<ServiceView, Error> {
        let s = self.service_record(link)?;
        Ok(self.snapshot().service_view(&s))
    }

    /// Replaces a service's definition under the edit rules; revokes its connections
    /// when anything changed. Returns the view and the revoked connections.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Forbidden`] for another's service,
    /// [`Error::BadRequest`].
    pub async fn edit_service(
        &self,
        link: &str,
        def: ServiceDefinition,
        who: &Principal,
    ) -> Result<(ServiceView, Vec<String>), Error> {
        let old = self.service_record(link)?;
        defaults::check_writable(&old, "edited")?;
        authorize(
            who,
            Action::EditService,
            &format!("service `{link}`"),
            &old.meta.created_by,
        )?;
        check_edit(&old, &def)?;
        let def = with_default_origins(def);
        validate_service(&def)?;
        let secret = match &def.client_secret {
            Some(c) => {
                SecretChange::Set(self.sealer.seal(old.id.as_bytes(), c.expose().as_bytes()))
            }
            None => SecretChange::Keep,
        };
        if definition(&old) == def {
            return Ok((self.snapshot().service_view(&old), Vec::new()));
        }
        let record = ServiceRecord {
            id: old.id.clone(),
            meta: ServiceMeta {
                display_name: def.display_name.trim().to_owned(),
                updated_at_ms: now_ms(),
                ..old.meta.clone()
            },
            spec: def.spec,
        };
        let reason = format!("service `{link}` was edited; connect again");
        // Every connection of the service is revoked: at the provider too, with the
        // client as it was.
        let forgetting = self.begin_forget(Forget::Service(&old.id)).await;
        let revoked = self
            .write(Touched::service(link), async {
                Ok(self
                    .store
                    .update_service(&record, old.meta.revision, Some(&reason), secret)
                    .await?)
            })
            .await?;
        self.finish_forget(forgetting).await;
        tracing::info!(service = link, revoked = revoked.len(), "service edited");
        Ok((self.snapshot().service_view(&record), revoked))
    }

    /// Deletes a service; its connections are kept, revoked.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Forbidden`].
    pub async fn delete_service(&self, link: &str, who: &Principal) -> Result<Vec<String>, Error> {
        let old = self.service_record(link)?;
        defaults::check_writable(&old, "deleted")?;
        authorize(
            who,
            Action::DeleteService,
            &format!("service `{link}`"),
            &old.meta.created_by,
        )?;
        let reason = format!("service `{link}` was deleted");
        let forgetting = self.begin_forget(Forget::Service(&old.id)).await;
        let revoked = self
            .write(Touched::service(link), async {
                Ok(self
                    .store
                    .delete_service(&old.id, &reason, now_ms())
                    .await?)
            })
            .await?;
        self.finish_forget(forgetting).await;
        tracing::info!(service = link, revoked = revoked.len(), "service deleted");
        Ok(revoked)
    }

    // ---- connections ----

    /// Creates a connection (status `not_connected`).
    ///
    /// # Errors
    /// [`Error::BadRequest`], [`Error::NotFound`] for the service, [`Error::Conflict`].
    pub async fn create_connection(
        &self,
        new: NewConnection,
        who: &Principal,
    ) -> Result<ConnectionView, Error> {
        validate_link_name("connection", &new.link_name)
            .map_err(|m| bad("invalid_connection", m))?;
        check_display_name("connection", &new.display_name)
            .map_err(|m| bad("invalid_connection", m))?;
        let service = self.service_record(&new.service)?;
        template::check_values(
            &service.spec.dynamic_params,
            &service.spec.api_origins,
            &oauth::url_templates(&service.spec.auth),
            &new.params,
        )
        .map_err(|m| bad("invalid_param", m))?;
        oauth::check_scopes(&service, &new.scopes).map_err(|m| bad("invalid_connection", m))?;
        if !new.authorize_params.is_empty()
            && !matches!(service.spec.auth, AuthConfig::OAuth2 { .. })
        {
            return Err(bad(
                "invalid_connection",
                "`authorize_params` are for oauth2 services",
            ));
        }
        oauth::check_authorize_params(&new.authorize_params)
            .map_err(|m| bad("invalid_connection", m))?;
        let now = now_ms();
        let mut record = ConnectionRecord {
            id: random_id("con"),
            scope: HOST_SCOPE.to_owned(),
            link_name: new.link_name.clone(),
            display_name: new.display_name.trim().to_owned(),
            service: service.meta.link_name.clone(),
            service_id: service.id.clone(),
            params: new.params,
            scopes: new.scopes,
            authorize_params: new.authorize_params,
            granted_scopes: Vec::new(),
            token_expires_at_ms: None,
            credential_names: Vec::new(),
            status: ConnectionStatus::NotConnected,
            status_reason: Some("created; connect it to give its credentials".into()),
            created_by: who.name().to_owned(),
            created_at_ms: now,
            updated_at_ms: now,
            connected_at_ms: None,
            revoked_at_ms: None,
            history: Vec::new(),
            revision: FIRST_REVISION,
        };
        record.record_event("created", None, now);
        let default_service = catalog::is_default(&service);
        // The functions to grant it to must exist before anything is stored.
        for function in &new.grant_to {
            self.store.function(function).await?;
        }
        self.write(Touched::connection(&new.link_name), async {
            if default_service {
                self.store
                    .create_default_service_connection(&record)
                    .await?;
            } else {
                self.store
                    .create_connections(std::slice::from_ref(&record))
                    .await?;
            }
            Ok(())
        })
        .await?;
        tracing::info!(connection = %new.link_name, service = %new.service, "connection created");
        for function in &new.grant_to {
            self.grant(function, &new.link_name).await?;
        }
        self.show_connection(&new.link_name)
    }

    /// Every connection's summary.
    pub fn list_connections(&self) -> Vec<ConnectionView> {
        let snap = self.snapshot();
        snap.connections
            .sorted()
            .into_iter()
            .map(|e| snap.connection_view(e))
            .collect()
    }

    /// One connection's summary.
    ///
    /// # Errors
    /// [`Error::NotFound`].
    pub fn show_connection(&self, link: &str) -> Result<ConnectionView, Error> {
        let e = self.entry(link)?;
        Ok(self.snapshot().connection_view(&e))
    }

    /// Changes the display name and/or the parameter values (which revokes: the
    /// credentials would go somewhere else).
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::BadRequest`].
    pub async fn edit_connection(
        &self,
        link: &str,
        edit: ConnectionEdit,
    ) -> Result<ConnectionView, Error> {
        let e = self.entry(link)?;
        let mut record = e.record.clone();
        let mut secret = SecretChange::Keep;
        if let Some(name) = edit.display_name {
            check_display_name("connection", &name).map_err(|m| bad("invalid_connection", m))?;
            record.display_name = name.trim().to_owned();
        }
        if let Some(params) = edit.params
            && params != record.params
        {
            let service = e.service.as_deref().ok_or_else(|| {
                bad(
                    "invalid_connection",
                    format!(
                        "the service of connection `{link}` was deleted; delete this connection"
                    ),
                )
            })?;
            template::check_values(
                &service.spec.dynamic_params,
                &service.spec.api_origins,
                &oauth::url_templates(&service.spec.auth),
                &params,
            )
            .map_err(|m| bad("invalid_param", m))?;
            record.params = params;
            if record.status != ConnectionStatus::NotConnected {
                record.status = ConnectionStatus::Revoked;
                record.status_reason = Some("dynamic parameters changed; connect again".into());
                record.record_event(
                    "revoked",
                    Some("dynamic parameters changed; connect again"),
                    now_ms(),
                );
                record.revoked_at_ms = Some(now_ms());
                record.credential_names.clear();
                secret = SecretChange::Erase;
            }
        }
        record.updated_at_ms = now_ms();
        // Erased credentials are revoked at the provider too. The write is against the
        // revision read, so a refresh that stored new tokens since then makes this edit
        // fail rather than leave them live.
        let erase = matches!(secret, SecretChange::Erase);
        let forgetting = self
            .begin_forget(if erase {
                Forget::Connection {
                    link,
                    id: &e.record.id,
                }
            } else {
                Forget::Nothing
            })
            .await;
        self.write(Touched::connection(link), async {
            Ok(self
                .store
                .update_connection(&record, e.record.revision, secret)
                .await?)
        })
        .await?;
        self.finish_forget(forgetting).await;
        self.show_connection(link)
    }

    /// Seals and stores credentials; status `connected`.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::BadRequest`] for missing, unknown or
    /// malformed values (messages never hold a value).
    pub async fn connect(
        &self,
        link: &str,
        req: ConnectRequest,
        who: &Principal,
    ) -> Result<ConnectOutcome, Error> {
        let e = self.entry(link)?;
        let service = e.service.clone().ok_or_else(|| {
            bad(
                "invalid_connection",
                format!(
                    "the service of connection `{link}` was deleted, so it cannot be connected; delete it and make a new one"
                ),
            )
        })?;
        defaults::check_client(&service)?;
        if let AuthConfig::OAuth1 { .. } = &service.spec.auth {
            if req.values.is_some()
                || req.username.is_some()
                || req.password.is_some()
                || req.access_key_id.is_some()
                || req.secret_access_key.is_some()
                || req.session_token.is_some()
            {
                return Err(bad(
                    "invalid_credentials",
                    "this is an oauth1 service: connect takes no values (the provider issues the tokens)",
                ));
            }
            let authorize_url = self.start_oauth1(&e, &service, who).await?;
            return Ok(ConnectOutcome {
                connection: self.show_connection(link)?,
                authorize_url: Some(authorize_url),
            });
        }
        if let AuthConfig::OAuth2 { grant_type, .. } = &service.spec.auth {
            if req.values.is_some() || req.username.is_some() || req.password.is_some() {
                return Err(bad(
                    "invalid_credentials",
                    "this is an oauth2 service: connect takes no values (the provider issues the tokens)",
                ));
            }
            // A connection that holds tokens gives them up first when the provider can
            // revoke them (revoking after the new sign-in could end the new grant as
            // well where a provider revokes per user and client). Without a revocation
            // endpoint the old tokens stand until new ones replace them.
            let client = self
                .oauth_client(&service, &e.record.params)
                .map_err(|m| bad("invalid_connection", m))?;
            let e = if client.revoke_url.is_some() {
                self.forget_before_connecting(link, &e).await?
            } else {
                e
            };
            let authorize_url = match grant_type {
                switchboard_auth::GrantType::AuthorizationCode => {
                    Some(self.start_authorization(&e, &service, who).await?)
                }
                switchboard_auth::GrantType::ClientCredentials => {
                    self.connect_client_credentials(&e, &service).await?;
                    tracing::info!(
                        connection = link,
                        "connection connected (client credentials)"
                    );
                    None
                }
            };
            return Ok(ConnectOutcome {
                connection: self.show_connection(link)?,
                authorize_url,
            });
        }
        let service = service.as_ref();
        let credentials = credentials_for(&service.spec.auth, req)?;
        // Placing them must work before they are stored (a header value, say).
        Credential::new(&service.spec.auth, &credentials)
            .map_err(|e| bad("invalid_credentials", e.0))?;
        let plain = zeroize::Zeroizing::new(
            serde_json::to_vec(&credentials).expect("credentials serialise"),
        );
        let blob = self.sealer.seal(e.record.id.as_bytes(), &plain);
        let now = now_ms();
        let mut record = e.record.clone();
        record.status = ConnectionStatus::Connected;
        record.status_reason = None;
        record.record_event("connected", None, now);
        record.credential_names = credentials.names();
        record.connected_at_ms = Some(now);
        record.updated_at_ms = now;
        self.write(Touched::connection(link), async {
            Ok(self
                .store
                .update_connection(&record, e.record.revision, SecretChange::Set(blob))
                .await?)
        })
        .await?;
        tracing::info!(connection = link, "connection connected");
        Ok(ConnectOutcome {
            connection: self.show_connection(link)?,
            authorize_url: None,
        })
    }

    /// Before an OAuth 2 connection is connected again: its tokens, if it has any, are
    /// erased (status `revoked`) and revoked at the provider. Returns the entry to
    /// connect.
    async fn forget_before_connecting(
        &self,
        link: &str,
        entry: &Arc<Entry>,
    ) -> Result<Arc<Entry>, Error> {
        if entry.record.status != ConnectionStatus::Connected {
            return Ok(entry.clone());
        }
        let forgetting = self
            .begin_forget(Forget::Connection {
                link,
                id: &entry.record.id,
            })
            .await;
        let e = self.entry(link)?;
        if e.record.status == ConnectionStatus::Connected {
            let why = "connected again: the earlier tokens were revoked";
            let now = now_ms();
            let mut record = e.record.clone();
            record.status = ConnectionStatus::Revoked;
            record.status_reason = Some(format!("{why}; finish the new sign-in to use it"));
            record.record_event("revoked", Some(why), now);
            record.credential_names.clear();
            record.revoked_at_ms = Some(now);
            record.updated_at_ms = now;
            self.write(Touched::connection(link), async {
                Ok(self
                    .store
                    .update_connection(&record, e.record.revision, SecretChange::Erase)
                    .await?)
            })
            .await?;
            self.finish_forget(forgetting).await;
        }
        self.entry(link)
    }

    /// Erases the credentials; status `revoked`.
    ///
    /// # Errors
    /// [`Error::NotFound`].
    pub async fn revoke(&self, link: &str) -> Result<ConnectionView, Error> {
        self.entry(link)?;
        // Under the refresh lock: erase here first, then revoke what was erased at the
        // provider (a refresh cannot store new tokens in between).
        let forgetting = self.begin_forget(Forget::Link(link)).await;
        let e = self.entry(link)?;
        let now = now_ms();
        let mut record = e.record.clone();
        record.status = ConnectionStatus::Revoked;
        record.status_reason = Some("revoked by the operator; connect again to use it".into());
        record.record_event("revoked", Some("revoked by the operator"), now);
        record.credential_names.clear();
        record.revoked_at_ms = Some(now);
        record.updated_at_ms = now;
        self.write(Touched::connection(link), async {
            Ok(self
                .store
                .update_connection(&record, e.record.revision, SecretChange::Erase)
                .await?)
        })
        .await?;
        self.finish_forget(forgetting).await;
        tracing::info!(connection = link, "connection revoked");
        self.show_connection(link)
    }

    /// Deletes a connection with its credentials, grants and activity.
    ///
    /// # Errors
    /// [`Error::NotFound`].
    pub async fn delete_connection(&self, link: &str) -> Result<(), Error> {
        self.audit.flush().await;
        let forgetting = self.begin_forget(Forget::Link(link)).await;
        self.write(Touched::connection(link), async {
            let id = self.entry(link)?.record.id.clone();
            Ok(self.store.delete_connection(&id).await?)
        })
        .await?;
        self.finish_forget(forgetting).await;
        tracing::info!(connection = link, "connection deleted");
        Ok(())
    }

    /// The newest `limit` uses of a connection, oldest first.
    ///
    /// # Errors
    /// [`Error::NotFound`].
    pub async fn activity(&self, link: &str, limit: usize) -> Result<Vec<ActivityView>, Error> {
        let id = self.entry(link)?.record.id.clone();
        self.audit.flush().await;
        let records = self.store.audit(&id, limit).await?;
        Ok(records
            .into_iter()
            .map(|r| ActivityView {
                time: rfc3339(r.time_ms),
                function: r.function,
                method: r.method,
                origin: r.origin,
                path: r.path,
                status: r.status,
                outcome: r.outcome,
                duration_ms: Duration::from_micros(r.duration_us).as_secs_f64() * 1000.0,
            })
            .collect())
    }

    // ---- grants ----

    /// Grants `function` the use of `link`.
    ///
    /// # Errors
    /// [`Error::NotFound`] for the function or the connection.
    pub async fn grant(&self, function: &str, link: &str) -> Result<GrantView, Error> {
        let g = self
            .write(Touched::grant(function, link), async {
                Ok(self
                    .store
                    .grant(function, HOST_SCOPE, link, now_ms())
                    .await?)
            })
            .await?;
        tracing::info!(function, connection = link, "grant added");
        Ok(GrantView {
            function: function.to_owned(),
            connection: link.to_owned(),
            granted_at: rfc3339(g.granted_at_ms),
        })
    }

    /// Removes a grant.
    ///
    /// # Errors
    /// [`Error::NotFound`] when there was none.
    pub async fn revoke_grant(&self, function: &str, link: &str) -> Result<(), Error> {
        let removed = self
            .write(Touched::grant(function, link), async {
                Ok(self.store.revoke_grant(function, HOST_SCOPE, link).await?)
            })
            .await?;
        if !removed {
            return Err(Error::NotFound(format!(
                "function `{function}` has no grant for connection `{link}`"
            )));
        }
        tracing::info!(function, connection = link, "grant removed");
        Ok(())
    }

    /// How each of `function`'s declared needs stands: which granted connections are of
    /// the service, and whether one is connected with the scopes.
    pub fn requirements(
        &self,
        function: &str,
        requires: &[switchboard_model::records::Requirement],
    ) -> Vec<RequirementView> {
        let snap = self.snapshot();
        let granted: Vec<&Arc<Entry>> = snap
            .grants
            .get(function)
            .into_iter()
            .flat_map(|g| g.keys())
            .filter_map(|link| snap.connections.get(link))
            .collect();
        requires
            .iter()
            .map(|req| {
                let of_service: Vec<&&Arc<Entry>> = granted
                    .iter()
                    .filter(|e| {
                        e.record.service == req.service
                            && e.service
                                .as_ref()
                                .is_some_and(|s| s.id == e.record.service_id)
                    })
                    .collect();
                let satisfied = of_service.iter().any(|e| {
                    e.record.status == ConnectionStatus::Connected && {
                        let effective: &[String] = if !e.record.granted_scopes.is_empty() {
                            &e.record.granted_scopes
                        } else if !e.record.scopes.is_empty() {
                            &e.record.scopes
                        } else {
                            match e.service.as_deref().map(|s| &s.spec.auth) {
                                Some(AuthConfig::OAuth2 { scopes, .. }) => scopes,
                                _ => &[],
                            }
                        };
                        // Scopes only mean something where the connection has some.
                        effective.is_empty() || req.scopes.iter().all(|s| effective.contains(s))
                    }
                });
                RequirementView {
                    service: req.service.clone(),
                    scopes: req.scopes.clone(),
                    why: req.why.clone(),
                    granted: of_service
                        .iter()
                        .map(|e| e.record.link_name.clone())
                        .collect(),
                    satisfied,
                }
            })
            .collect()
    }

    /// The grants of a function.
    pub fn grants_of(&self, function: &str) -> Vec<GrantView> {
        self.snapshot()
            .grants
            .get(function)
            .map(|g| {
                g.iter()
                    .map(|(link, g)| GrantView {
                        function: function.to_owned(),
                        connection: link.clone(),
                        granted_at: rfc3339(g.granted_at_ms),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Checks the values given at connect against the service's auth type.
fn credentials_for(auth: &AuthConfig, req: ConnectRequest) -> Result<Credentials, Error> {
    let invalid = |m: String| bad("invalid_credentials", m);
    let aws_fields = req.access_key_id.is_some()
        || req.secret_access_key.is_some()
        || req.session_token.is_some();
    let is_aws = matches!(auth, AuthConfig::AwsSigv4 { .. });
    if aws_fields && !is_aws {
        return Err(invalid(format!(
            "`access_key_id`, `secret_access_key` and `session_token` are for aws_sigv4 services; this one is `{}`",
            auth.type_name()
        )));
    }
    if is_aws && (req.values.is_some() || req.username.is_some() || req.password.is_some()) {
        return Err(invalid(
            "this is an aws_sigv4 service: give `access_key_id` and `secret_access_key` (and optionally `session_token`), not `values` or a username and password".into(),
        ));
    }
    match auth {
        AuthConfig::AwsSigv4 { .. } => {
            aws_sigv4::credentials(req.access_key_id, req.secret_access_key, req.session_token)
                .map_err(invalid)
        }
        AuthConfig::ApiKey { params } => {
            if req.username.is_some() || req.password.is_some() {
                return Err(invalid(
                    "this is an api_key service: give `values` (one per parameter), not a username and password".into(),
                ));
            }
            let values = req.values.unwrap_or_default();
            if let Some(unknown) = values
                .keys()
                .find(|k| !params.iter().any(|p| &p.name == *k))
            {
                return Err(invalid(format!(
                    "`{unknown}` is not a parameter of this service (it has: {})",
                    params
                        .iter()
                        .map(|p| p.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            for p in params {
                let Some(v) = values.get(&p.name) else {
                    return Err(invalid(format!(
                        "a value for `{}` ({}) is needed",
                        p.name, p.display_name
                    )));
                };
                if v.expose().is_empty() {
                    return Err(invalid(format!("the value for `{}` is empty", p.name)));
                }
                check_secret_value(&format!("the value for `{}`", p.name), v.expose())?;
            }
            Ok(Credentials::ApiKey { values })
        }
        AuthConfig::Basic => {
            if req.values.is_some() {
                return Err(invalid(
                    "this is a basic service: give `username` and `password`, not `values`".into(),
                ));
            }
            let (Some(username), Some(password)) = (req.username, req.password) else {
                return Err(invalid(
                    "a basic connection needs `username` and `password`".into(),
                ));
            };
            if username.expose().is_empty() {
                return Err(invalid("the username is empty".into()));
            }
            if username.expose().contains(':') {
                return Err(invalid(
                    "the username may not contain `:` (RFC 7617)".into(),
                ));
            }
            check_secret_value("the username", username.expose())?;
            check_secret_value("the password", password.expose())?;
            Ok(Credentials::Basic { username, password })
        }
        other => Err(bad(
            "unsupported_auth_type",
            format!(
                "connecting `{}` connections is not available in this release",
                other.type_name()
            ),
        )),
    }
}

/// The error for a connection that is not `connected`.
fn needs_reconnect(link: &str, record: &ConnectionRecord) -> BrokerError {
    let why = match record.status {
        ConnectionStatus::NotConnected => "has no credentials yet".to_owned(),
        status => format!(
            "is {}{}",
            status.as_str(),
            record
                .status_reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ),
    };
    BrokerError::NeedsReconnect(format!("connection `{link}` {why}; connect it again"))
}

/// Identifies the sealed credentials an entry holds (the blob's random nonce), so a
/// caller that saw them rejected can tell whether they were replaced since.
fn generation(entry: &Entry) -> Option<Vec<u8>> {
    entry
        .sealed
        .as_deref()
        .and_then(|b| b.get(11..35))
        .map(<[u8]>::to_vec)
}

impl Connections {
    /// Opens an entry's sealed credentials.
    fn open_credentials(&self, link: &str, entry: &Entry) -> Result<Credentials, BrokerError> {
        let needs = |why: &str| {
            BrokerError::NeedsReconnect(format!("connection `{link}` {why}; connect it again"))
        };
        let sealed = entry
            .sealed
            .as_deref()
            .ok_or_else(|| needs("has no stored credentials"))?;
        let opened = self
            .sealer
            .open(entry.record.id.as_bytes(), sealed)
            .map_err(|e| {
                tracing::error!(connection = link, error = %e, "sealed credentials do not open");
                needs("has credentials that cannot be read")
            })?;
        serde_json::from_slice(&opened).map_err(|_| {
            tracing::error!(connection = link, "sealed credentials are not readable");
            needs("has credentials that cannot be read")
        })
    }

    /// The connection for a request; `Ok(None)` only with `stale`, when the credentials
    /// the API refused were not replaced (see [`Connections::fresh_tokens`]).
    async fn resolve_for(
        &self,
        ctx: &InvocationContext,
        link: &str,
        url: &str,
        stale: Option<&[u8]>,
    ) -> Result<Option<ResolvedConnection>, BrokerError> {
        let function = &*ctx.function;
        let snap = self.snapshot();
        let entry = snap.connections.get(link).cloned().ok_or_else(|| {
            BrokerError::Unknown(format!("no connection has the link name `{link}`"))
        })?;
        if !snap
            .grants
            .get(function)
            .is_some_and(|g| g.contains_key(link))
        {
            return Err(BrokerError::NotGranted(format!(
                "function `{function}` may not use connection `{link}`; the operator grants it with `switchboard function grant {function} --connection {link}`"
            )));
        }
        drop(snap);
        if entry.record.status != ConnectionStatus::Connected {
            return Err(needs_reconnect(link, &entry.record));
        }
        let (entry, credentials) = match entry.service.as_deref().map(|s| &s.spec.auth) {
            Some(AuthConfig::OAuth2 { .. }) => {
                let me = self
                    .me
                    .upgrade()
                    .ok_or_else(|| BrokerError::Unavailable("the host is shutting down".into()))?;
                let Some((entry, tokens)) = me.fresh_tokens(link, stale).await? else {
                    return Ok(None);
                };
                (entry, Credentials::OAuth2(tokens))
            }
            _ => {
                let c = self.open_credentials(link, &entry)?;
                (entry, c)
            }
        };
        let (Some(service), Some(policy)) = (entry.service.as_deref(), entry.policy.clone()) else {
            return Err(BrokerError::NeedsReconnect(format!(
                "connection `{link}` cannot be used (its service was deleted); connect it again"
            )));
        };
        // OAuth 1 signs with the consumer secret; OAuth 2 only needs the client secret
        // redacted from responses.
        let service_secret = match &service.spec.auth {
            AuthConfig::OAuth1 { .. } | AuthConfig::OAuth2 { .. } => self.consumer_secret(service).map_err(|e| {
                tracing::error!(connection = link, error = %e, "the consumer secret does not open");
                BrokerError::NeedsReconnect(format!(
                    "connection `{link}`'s service has a client secret that cannot be read; set it again"
                ))
            })?,
            _ => None,
        };
        let credential = Credential::with_service_secret(
            &service.spec.auth,
            &credentials,
            service_secret.as_ref(),
        )
        .map_err(|e| {
            tracing::error!(connection = link, error = %e, "credentials do not fit the service");
            BrokerError::NeedsReconnect(format!(
                "connection `{link}` has credentials that do not fit its service; connect it again"
            ))
        })?;
        let url = template::fill_url(url, &entry.params).map_err(BrokerError::InvalidRequest)?;
        Ok(Some(ResolvedConnection {
            policy,
            url,
            credential,
            refreshable: matches!(service.spec.auth, AuthConfig::OAuth2 { .. }),
            generation: generation(&entry).unwrap_or_default(),
        }))
    }
}

impl ConnectionBroker for Connections {
    fn resolve<'a>(
        &'a self,
        ctx: &'a InvocationContext,
        link: &'a str,
        url: &'a str,
    ) -> BoxFuture<'a, Result<ResolvedConnection, BrokerError>> {
        Box::pin(async move {
            self.resolve_for(ctx, link, url, None)
                .await?
                .ok_or_else(|| {
                    BrokerError::Unavailable(format!("connection `{link}` did not resolve"))
                })
        })
    }

    fn refresh_after_unauthorized<'a>(
        &'a self,
        ctx: &'a InvocationContext,
        link: &'a str,
        used: &'a ResolvedConnection,
    ) -> BoxFuture<'a, Result<Option<ResolvedConnection>, BrokerError>> {
        Box::pin(self.resolve_for(ctx, link, &used.url, Some(&used.generation)))
    }

    fn record(&self, _ctx: &InvocationContext, link: &str, record: AuditRecord) {
        // Kept by connection id: a connection made again under this link name starts
        // with no records (a record of a deleted connection is dropped by the store).
        if let Some(e) = self.snapshot().connections.get(link) {
            self.audit.push(&e.record.id, record);
        }
    }
}

/// What the fuzz targets in `host/fuzz` call: the parsers and transformers an attacker
/// reaches, re-exported in one place so the rest of the crate stays private. Not a
/// stable API; see docs/fuzzing.md.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::ServiceDefinition;
    pub use crate::template::{
        check_origin_template, check_values, fill_origin, fill_url, placeholders,
    };
    pub use switchboard_auth::oauth1::{FlowParams, Signer as OAuth1Signer, Stamp, base_string};
    pub use switchboard_auth::{
        ApiKeyParam, AuthConfig, Credential, Credentials, ParamType, Redactor, SignatureMethod,
    };
    pub use switchboard_model::records::DynamicParam;
    pub use switchboard_model::{ApiKeyValue, SecretAccessKey, SecretString};
    pub use switchboard_outbound::{Policy, normalize_origin, redact_url};

    /// Checks a service definition as creating it does: AWS default origins filled in
    /// first, then every rule of `validate_service`.
    ///
    /// # Errors
    /// The message `POST /api/v1/services` would answer with.
    pub fn validate_service(def: ServiceDefinition) -> Result<ServiceDefinition, String> {
        let def = crate::with_default_origins(def);
        crate::validate_service(&def).map_err(|e| e.to_string())?;
        Ok(def)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_store::{MasterKey, RedbStore};

    #[tokio::test]
    async fn only_the_creator_edits_or_deletes_a_service() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(&dir.path().join("db.redb"))
            .unwrap()
            .repositories();
        let c = Connections::new(
            store,
            Sealer::new(&MasterKey::generate()),
            switchboard_outbound::TokenHttp::new(&switchboard_outbound::OutboundConfig::default())
                .unwrap(),
        )
        .await
        .unwrap();
        let def: ServiceDefinition = serde_json::from_value(serde_json::json!({
            "link_name": "acme", "display_name": "Acme", "auth": {"type": "basic"},
            "api_origins": ["https://api.acme.example"],
        }))
        .unwrap();
        c.create_service(def.clone(), &Principal::User("ada".into()))
            .await
            .unwrap();
        let mut edited = def.clone();
        edited.display_name = "Acme 2".into();
        for result in [
            c.edit_service("acme", edited.clone(), &Principal::User("bob".into()))
                .await
                .map(|_| ()),
            c.delete_service("acme", &Principal::User("bob".into()))
                .await
                .map(|_| ()),
        ] {
            match result {
                Err(Error::Forbidden(m)) => assert!(m.contains("`ada`"), "{m}"),
                other => panic!("{other:?}"),
            }
        }
        let (view, _) = c
            .edit_service("acme", edited, &Principal::User("ada".into()))
            .await
            .unwrap();
        assert_eq!(view.definition.display_name, "Acme 2");
        c.delete_service("acme", &Principal::User("ada".into()))
            .await
            .unwrap();
        c.close().await;
    }

    /// The snapshot updated per change equals a full load from the store.
    async fn assert_fresh(c: &Connections, after: &str) {
        let got = c.snapshot().canonical();
        let want = Snapshot::load(c.store.load_snapshot().await.unwrap()).canonical();
        assert_eq!(got, want, "after {after}");
    }

    #[tokio::test]
    async fn every_kind_of_write_leaves_the_snapshot_equal_to_a_full_load() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(&dir.path().join("db.redb"))
            .unwrap()
            .repositories();
        let c = Connections::new(
            store.clone(),
            Sealer::new(&MasterKey::generate()),
            switchboard_outbound::TokenHttp::new(&switchboard_outbound::OutboundConfig::default())
                .unwrap(),
        )
        .await
        .unwrap();
        let ada = Principal::User("ada".into());
        let def: ServiceDefinition = serde_json::from_value(serde_json::json!({
            "link_name": "acme", "display_name": "Acme", "auth": {"type": "basic"},
            "dynamic_params": [{"key": "host", "display_name": "Host", "pattern": "[a-z]+"}],
            "api_origins": ["https://{host}.acme.example"],
        }))
        .unwrap();
        c.create_service(def.clone(), &ada).await.unwrap();
        assert_fresh(&c, "create service").await;
        let new = |link: &str, service: &str, params: serde_json::Value| -> NewConnection {
            serde_json::from_value(serde_json::json!({
                "link_name": link, "display_name": link, "service": service, "params": params,
            }))
            .unwrap()
        };
        for (link, service, params) in [
            ("one", "acme", serde_json::json!({"host": "eu"})),
            ("two", "acme", serde_json::json!({"host": "us"})),
            ("three", "asana", serde_json::json!({})),
        ] {
            c.create_connection(new(link, service, params), &ada)
                .await
                .unwrap();
            assert_fresh(&c, &format!("create connection {link}")).await;
        }
        let basic: ConnectRequest =
            serde_json::from_value(serde_json::json!({"username": "u", "password": "p"})).unwrap();
        c.connect("one", basic.clone(), &ada).await.unwrap();
        assert_fresh(&c, "connect").await;
        assert_eq!(
            c.show_connection("one").unwrap().status,
            ConnectionStatus::Connected.as_str()
        );
        let rename: ConnectionEdit =
            serde_json::from_value(serde_json::json!({"display_name": "One"})).unwrap();
        c.edit_connection("one", rename).await.unwrap();
        assert_fresh(&c, "edit display name").await;
        let params: ConnectionEdit =
            serde_json::from_value(serde_json::json!({"params": {"host": "ap"}})).unwrap();
        c.edit_connection("one", params).await.unwrap();
        assert_fresh(&c, "edit params (revokes)").await;
        c.connect("two", basic.clone(), &ada).await.unwrap();
        c.revoke("two").await.unwrap();
        assert_fresh(&c, "revoke").await;
        c.connect("two", basic, &ada).await.unwrap();

        let artifact = switchboard_model::records::Artifact {
            engine_hash: [7; 32],
            bytes: vec![1; 10],
        };
        store
            .deploy(
                "f",
                switchboard_store::Deploy {
                    component: b"wasm".to_vec(),
                    artifact,
                    record: switchboard_model::records::VersionRecord {
                        version: 0,
                        sha256: "ab".into(),
                        size_bytes: 3,
                        deployed_at_ms: 1,
                        limits: switchboard_model::Limits::default(),
                        allowed_hosts: vec![],
                        requires: vec![],
                    },
                },
                1,
            )
            .await
            .unwrap();
        for link in ["one", "two", "three"] {
            c.grant("f", link).await.unwrap();
            assert_fresh(&c, &format!("grant {link}")).await;
        }
        c.revoke_grant("f", "three").await.unwrap();
        assert_fresh(&c, "revoke grant").await;
        c.delete_connection("one").await.unwrap();
        assert_fresh(&c, "delete a granted connection").await;
        assert_eq!(c.grants_of("f").len(), 1);

        let mut edited = def.clone();
        edited.display_name = "Acme 2".into();
        let (_, revoked) = c.edit_service("acme", edited, &ada).await.unwrap();
        assert_eq!(revoked, vec!["two".to_owned()]);
        assert_fresh(&c, "edit service (revokes its connections)").await;

        for id in ["client-a", "client-b"] {
            let client: ServiceClient = serde_json::from_value(
                serde_json::json!({"client_id": id, "client_secret": "s3cret"}),
            )
            .unwrap();
            c.set_service_client("asana", client, &ada).await.unwrap();
            assert_fresh(&c, &format!("catalogue client {id}")).await;
        }

        store.delete_function("f").await.unwrap();
        c.function_changed("f").await.unwrap();
        assert_fresh(&c, "function deleted").await;
        assert!(c.grants_of("f").is_empty());

        c.delete_service("acme", &ada).await.unwrap();
        assert_fresh(&c, "delete service").await;
        c.create_service(def, &ada).await.unwrap();
        assert_fresh(&c, "a new service under the old link name").await;
        assert_eq!(c.show_service("acme").unwrap().connections, 0);
        c.delete_connection("two").await.unwrap();
        assert_fresh(&c, "delete an orphaned connection").await;
        c.close().await;
    }

    #[test]
    fn snippet_names_the_link_and_the_first_origin() {
        let s = snippet("crm_prod", None);
        assert!(s.contains("Some(\"crm_prod\")"), "{s}");
        assert!(
            s.contains("Request::get(\"https://api.example.com/\")"),
            "{s}"
        );
    }

    /// The definition embeds the one service spelling (`ServiceSpec`, flattened) and
    /// still refuses unknown fields, in JSON and in TOML, naming the field.
    #[test]
    fn a_definition_refuses_unknown_fields_and_reads_back_flat() {
        let json = serde_json::json!({
            "link_name": "acme", "display_name": "Acme", "auth": {"type": "basic"},
            "api_origins": ["https://api.acme.example"], "category": "crm",
        });
        let def: ServiceDefinition = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(def.spec.category.as_deref(), Some("crm"));
        let mut written = serde_json::to_value(&def).unwrap();
        written.as_object_mut().unwrap().retain(|_, v| !v.is_null());
        let mut want = json.clone();
        want["dynamic_params"] = serde_json::json!([]);
        assert_eq!(written, want, "the wire shape is flat, as before");

        let mut extra = json;
        extra["api_origin"] = serde_json::json!("https://typo.example");
        let e = serde_json::from_value::<ServiceDefinition>(extra)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `api_origin`"), "{e}");
        let e = toml::from_str::<ServiceDefinition>(
            "link_name = \"acme\"\ndisplay_name = \"Acme\"\nauth = { type = \"basic\" }\nextra = 1\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("unknown field `extra`"), "{e}");
        // A field of the spec with the wrong type is still reported as such.
        let e = serde_json::from_value::<ServiceDefinition>(serde_json::json!({
            "link_name": "acme", "display_name": "Acme", "auth": {"type": "basic"},
            "api_origins": "https://not-a-list.example",
        }))
        .unwrap_err()
        .to_string();
        assert!(e.contains("invalid type"), "{e}");
    }
}
