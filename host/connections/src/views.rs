//! What the API receives and shows for services, connections, grants and activity,
//! and how the snapshot's records become those views.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use switchboard_model::records::{ServiceRecord, ServiceSpec};
use switchboard_model::time::rfc3339;
use switchboard_model::{
    ApiKeyValue, ClientSecret, Password, SecretAccessKey, SecretString, SessionToken,
};

use crate::snapshot::{Entry, Snapshot};
use crate::{catalog, template};

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
    pub client_secret: Option<ClientSecret>,
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
    client_secret: Option<ClientSecret>,
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

pub(crate) fn definition(s: &ServiceRecord) -> ServiceDefinition {
    ServiceDefinition {
        link_name: s.meta.link_name.clone(),
        display_name: s.meta.display_name.clone(),
        spec: s.spec.clone(),
        client_secret: None,
    }
}

pub(crate) fn snippet(link: &str, service: Option<&ServiceRecord>) -> String {
    let origin = service
        .and_then(|s| s.spec.api_origins.first())
        .map_or("https://api.example.com", String::as_str);
    format!(
        "let response = switchboard_sdk::invoke_url(\n    Some(\"{link}\"),\n    switchboard_sdk::Request::get(\"{origin}/\"),\n)\n.map_err(|e| e.to_string())?;"
    )
}

pub(crate) fn filled_origins(
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
    pub(crate) fn granted_to(&self, link: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .grants
            .iter()
            .filter(|(_, g)| g.contains_key(link))
            .map(|(f, _)| f.clone())
            .collect();
        out.sort();
        out
    }

    pub(crate) fn service_view(&self, s: &ServiceRecord) -> ServiceView {
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

    pub(crate) fn connection_view(&self, e: &Entry) -> ConnectionView {
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
            token_expires_at: crate::tokens::token_expiry(r),
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
