//! OAuth 2 for connections: checking a service's OAuth fields, the authorization-code
//! flow (connect → `/oauth/start` → provider → `/oauth/callback`), client credentials, and
//! keeping tokens fresh: proactively before expiry, reactively after a 401, one token
//! request per connection at a time (single flight), the new refresh token stored before
//! the new access token is used, `invalid_grant` ending in `needs_reconnect`, and transient
//! failures backing off.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use switchboard_model::Principal;

use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::{ConnectionView, Connections, Entry, Error, ServiceDefinition, bad, now_ms, template};
use crate::provider::{Clock, OAuthClient, TokenError, Tokens};
use crate::refresher::{
    Current, RefreshHold, RefreshTarget, SingleFlight, TokenProvider, TokenRefresher,
};
use switchboard_auth::{AuthConfig, Credentials, GrantType, Redactor};
use switchboard_model::SecretString;
use switchboard_model::records::{
    ConnectionRecord, ConnectionStatus, FlowBinding, FlowKind, FlowTake, PendingFlow, SecretChange,
    ServiceRecord,
};
use switchboard_outbound::BoxFuture;
use switchboard_outbound::BrokerError;
use switchboard_store::{RecordUpdate, StoreError};

/// How long an authorization may take, from connect to callback.
pub const FLOW_TTL: Duration = Duration::from_secs(600);
/// The prefix of the cookies that tie a callback to the browser that started the flow.
/// Each flow has its own cookie (see [`flow_cookie_name`]), so sign-ins started side
/// by side in one browser do not overwrite each other's.
pub const FLOW_COOKIE: &str = "switchboard_oauth";

/// The name of the cookie of the flow with `state`: [`FLOW_COOKIE`], `_`, and 16 hex
/// digits of a hash of the state (which the cookie name does not reveal).
pub fn flow_cookie_name(state: &str) -> String {
    format!(
        "{FLOW_COOKIE}_{}",
        &sha256_hex(&format!("switchboard flow cookie\0{state}"))[..16]
    )
}

/// What `/oauth/start` answers with: the browser's cookie and where to send it.
#[derive(Debug, Clone)]
pub struct FlowStart {
    /// The whole `Set-Cookie` value: the flow's own name, a random value (its hash is
    /// kept with the flow), `HttpOnly`, `SameSite=Lax`, the public URL's path,
    /// `Secure` on https, and the flow's remaining lifetime.
    pub set_cookie: String,
    /// The provider's authorize URL.
    pub authorize_url: String,
}

/// "10 minutes", "90 seconds": a sign-in's lifetime in words.
fn lifetime_words(ttl: Duration) -> String {
    let secs = ttl.as_secs().max(1);
    if secs.is_multiple_of(60) {
        let m = secs / 60;
        format!("{m} minute{}", if m == 1 { "" } else { "s" })
    } else {
        format!("{secs} second{}", if secs == 1 { "" } else { "s" })
    }
}
pub use crate::refresher::MIN_TOKEN_AGE;

/// The broker's token refresher (see [`crate::refresher`]): the in-process single flight,
/// and (tests) how many `needs_reconnect` writes fail as a broken database would.
#[derive(Debug, Default)]
pub(super) struct RefreshState {
    flight: SingleFlight,
    #[cfg(test)]
    fail_marks: std::sync::atomic::AtomicUsize,
}

impl RefreshState {
    pub(super) fn clock(&self) -> Arc<dyn Clock> {
        self.flight.clock()
    }

    pub(super) fn set_clock(&self, clock: Arc<dyn Clock>) {
        self.flight.set_clock(clock);
    }

    #[cfg(test)]
    fn take_injected_failure(&self) -> bool {
        use std::sync::atomic::Ordering;
        self.fail_marks
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }
}

/// Authorize parameters the host sets itself.
const RESERVED_AUTHORIZE_PARAMS: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "state",
    "scope",
    "code_challenge",
    "code_challenge_method",
];

/// Why a step of the authorization flow failed: shown on the callback page.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FlowError(pub String);

pub(super) fn random_token(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

pub(super) fn check_url_template(
    what: &str,
    url: &str,
    declared: &[switchboard_model::records::DynamicParam],
) -> Result<(), String> {
    if let Some(k) = template::placeholders(url)
        .into_iter()
        .find(|k| !declared.iter().any(|p| p.key == *k))
    {
        return Err(format!(
            "{what} `{url}` uses `{{{k}}}`, which is not one of the service's dynamic parameters"
        ));
    }
    let sample = template::placeholders(url)
        .into_iter()
        .fold(url.to_owned(), |t, k| t.replace(&format!("{{{k}}}"), "x"));
    let parsed =
        url::Url::parse(&sample).map_err(|e| format!("{what} `{url}` is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "https" | "http") || parsed.host().is_none() {
        return Err(format!("{what} `{url}` must be an http(s) URL with a host"));
    }
    if parsed.fragment().is_some() || !parsed.username().is_empty() {
        return Err(format!(
            "{what} `{url}` must not have a fragment or user info"
        ));
    }
    Ok(())
}

/// The OAuth URL templates of a service, whose placeholders must stay host-safe.
pub(super) fn url_templates(auth: &AuthConfig) -> Vec<String> {
    match auth {
        AuthConfig::OAuth2 {
            authorize_url,
            access_token_url,
            refresh_token_url,
            revoke_url,
            ..
        } => [
            authorize_url.as_ref(),
            Some(access_token_url),
            refresh_token_url.as_ref(),
            revoke_url.as_ref(),
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect(),
        AuthConfig::OAuth1 {
            request_token_url,
            authorize_url,
            access_token_url,
            ..
        } => vec![
            request_token_url.clone(),
            authorize_url.clone(),
            access_token_url.clone(),
        ],
        _ => Vec::new(),
    }
}

/// Checks an `oauth2` service's fields.
pub(super) fn check_service(def: &ServiceDefinition) -> Result<(), String> {
    let AuthConfig::OAuth2 {
        client_id,
        authorize_url,
        access_token_url,
        refresh_token_url,
        revoke_url,
        scopes,
        scope_delimiter,
        grant_type,
        extra_authorize_params,
        ..
    } = &def.spec.auth
    else {
        return Ok(());
    };
    if client_id.trim().is_empty() || client_id.len() > 500 {
        return Err("`auth.client_id` must be 1 to 500 characters".into());
    }
    match (grant_type, authorize_url) {
        (GrantType::AuthorizationCode, None) => {
            return Err(
                "an authorization_code service needs `auth.authorize_url` (the provider's consent page)"
                    .into(),
            );
        }
        (_, Some(u)) => check_url_template("authorize URL", u, &def.spec.dynamic_params)?,
        _ => {}
    }
    check_url_template(
        "access-token URL",
        access_token_url,
        &def.spec.dynamic_params,
    )?;
    if let Some(u) = refresh_token_url {
        check_url_template("refresh-token URL", u, &def.spec.dynamic_params)?;
    }
    if let Some(u) = revoke_url {
        check_url_template("revocation URL", u, &def.spec.dynamic_params)?;
    }
    if !matches!(scope_delimiter.as_str(), " " | "," | "+") {
        return Err("`auth.scope_delimiter` must be \" \" (the default), \",\" or \"+\"".into());
    }
    for (i, s) in scopes.iter().enumerate() {
        if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("scope `{s}` must be non-empty text without spaces"));
        }
        if scopes[..i].contains(s) {
            return Err(format!("scope `{s}` is listed twice"));
        }
    }
    check_authorize_params(extra_authorize_params)
}

/// Extra authorize parameters may not replace the ones the flow's safety rests on.
pub(super) fn check_authorize_params(params: &BTreeMap<String, String>) -> Result<(), String> {
    for (k, v) in params {
        if k.is_empty() || RESERVED_AUTHORIZE_PARAMS.contains(&k.as_str()) {
            return Err(format!(
                "authorize parameter `{k}` is set by the host and cannot be given (reserved: {})",
                RESERVED_AUTHORIZE_PARAMS.join(", ")
            ));
        }
        if v.chars().any(char::is_control) {
            return Err(format!("authorize parameter `{k}` has control characters"));
        }
    }
    Ok(())
}

/// Checks a connection's chosen scopes against its service's.
pub(super) fn check_scopes(service: &ServiceRecord, chosen: &[String]) -> Result<(), String> {
    let AuthConfig::OAuth2 { scopes, .. } = &service.spec.auth else {
        if chosen.is_empty() {
            return Ok(());
        }
        return Err(format!(
            "scopes are for oauth2 services; `{}` is `{}`",
            service.meta.link_name,
            service.spec.auth.type_name()
        ));
    };
    if let Some(s) = chosen.iter().find(|s| !scopes.contains(s)) {
        return Err(format!(
            "scope `{s}` is not one of service `{}`'s scopes ({})",
            service.meta.link_name,
            scopes.join(", ")
        ));
    }
    Ok(())
}

fn fill(url: &str, params: &BTreeMap<String, String>) -> Result<String, String> {
    template::fill_url(url, params)
}

impl Connections {
    /// The OAuth client of `service` for a connection with `params`.
    pub(super) fn oauth_client(
        &self,
        service: &ServiceRecord,
        params: &BTreeMap<String, String>,
    ) -> Result<OAuthClient, String> {
        let AuthConfig::OAuth2 {
            client_id,
            authorize_url,
            access_token_url,
            refresh_token_url,
            revoke_url,
            scope_delimiter,
            client_auth,
            ..
        } = &service.spec.auth
        else {
            return Err(format!(
                "service `{}` is not an oauth2 service",
                service.meta.link_name
            ));
        };
        let client_secret = match self.snapshot().service_secrets.get(&service.id) {
            Some(blob) => {
                let plain = self
                    .sealer
                    .open(service.id.as_bytes(), blob)
                    .map_err(|e| format!("the service's client secret does not open: {e}"))?;
                Some(SecretString::new(
                    String::from_utf8(plain.to_vec())
                        .map_err(|_| "the service's client secret is not text".to_owned())?,
                ))
            }
            None => None,
        };
        let token_url = fill(access_token_url, params)?;
        Ok(OAuthClient {
            client_id: client_id.clone(),
            client_secret,
            authorize_url: authorize_url
                .as_deref()
                .map(|u| fill(u, params))
                .transpose()?,
            refresh_url: refresh_token_url
                .as_deref()
                .map(|u| fill(u, params))
                .transpose()?
                .unwrap_or_else(|| token_url.clone()),
            token_url,
            revoke_url: revoke_url.as_deref().map(|u| fill(u, params)).transpose()?,
            client_auth: *client_auth,
            scope_delimiter: scope_delimiter.clone(),
            clock: self.refresh.clock(),
        })
    }

    pub(super) fn redirect_uri(&self) -> Result<String, Error> {
        let base = self.public_url.read().expect("lock poisoned").clone();
        base.map(|b| format!("{}/oauth/callback", b.trim_end_matches('/')))
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("the host's public URL is not set")))
    }

    /// Starts an authorization-code flow: a single-use `state` bound to the connection,
    /// a PKCE verifier sealed until the callback. Returns the host's `/oauth/start` URL
    /// to open in a browser.
    pub(super) async fn start_authorization(
        &self,
        entry: &Entry,
        service: &ServiceRecord,
        who: &Principal,
    ) -> Result<String, Error> {
        let client = self
            .oauth_client(service, &entry.record.params)
            .map_err(|m| bad("invalid_connection", m))?;
        let AuthConfig::OAuth2 {
            scopes: service_scopes,
            extra_authorize_params,
            ..
        } = &service.spec.auth
        else {
            unreachable!("checked by the caller");
        };
        let scopes = if entry.record.scopes.is_empty() {
            service_scopes.clone()
        } else {
            entry.record.scopes.clone()
        };
        let mut extra = extra_authorize_params.clone();
        extra.extend(entry.record.authorize_params.clone());
        let extra: Vec<(String, String)> = extra.into_iter().collect();
        let redirect_uri = self.redirect_uri()?;
        let state = random_token(32);
        let (authorize_url, verifier) = client
            .authorize(&redirect_uri, &state, &scopes, &extra)
            .map_err(|e| bad("invalid_connection", e.to_string()))?;
        let now = self.refresh.clock().now_ms(); // the injected clock: sign-in expiry
        let flow = PendingFlow {
            connection_id: entry.record.id.clone(),
            link: entry.record.link_name.clone(),
            created_by: who.name().to_owned(),
            created_at_ms: now,
            expires_at_ms: now + self.flow_ttl().as_millis() as u64,
            authorize_url,
            redirect_uri: redirect_uri.clone(),
            verifier_sealed: hex::encode(
                self.sealer
                    .seal(state.as_bytes(), verifier.expose().as_bytes()),
            ),
            browser_hash: None,
            kind: FlowKind::OAuth2,
            request_token: None,
            request_secret_sealed: None,
        };
        self.store.put_flow(&state, &flow, now).await?;
        tracing::info!(connection = %entry.record.link_name, "authorization started");
        Ok(format!(
            "{}?state={state}",
            redirect_uri.trim_end_matches("/callback").to_owned() + "/start"
        ))
    }

    /// The `Path` and `Secure` attributes of the flow cookies: `{public path}/oauth`, and
    /// `Secure` when the public URL is https.
    fn cookie_scope(&self) -> (String, bool) {
        let public = self.public_url.read().expect("lock poisoned").clone();
        let Some(url) = public.and_then(|u| url::Url::parse(&u).ok()) else {
            return ("/oauth".into(), false);
        };
        let path = format!("{}/oauth", url.path().trim_end_matches('/'));
        // A path the cookie syntax cannot carry (`;`, `,`, spaces) widens to the origin.
        let path = if path
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b';' | b',' | b'"' | b'\\'))
        {
            path
        } else {
            "/".into()
        };
        (path, url.scheme() == "https")
    }

    fn flow_cookie(&self, state: &str, value: &str, max_age_s: u64) -> String {
        let (path, secure) = self.cookie_scope();
        format!(
            "{}={value}; HttpOnly; SameSite=Lax; Path={path}; Max-Age={max_age_s}{}",
            flow_cookie_name(state),
            if secure { "; Secure" } else { "" }
        )
    }

    /// The `Set-Cookie` value that removes the cookie of the flow with `state` (sent
    /// with the callback's page: the flow is over).
    pub fn clear_flow_cookie(&self, state: &str) -> String {
        self.flow_cookie(state, "", 0)
    }

    /// `/oauth/start`: ties the flow to this browser (a cookie of its own whose hash
    /// the flow keeps, checked and set in one transaction) and returns the cookie and
    /// the provider's authorize URL.
    ///
    /// # Errors
    /// [`FlowError`] for an unknown, expired or already started flow.
    pub async fn oauth_start(&self, state: &str) -> Result<FlowStart, FlowError> {
        let nonce = random_token(32);
        let now = self.refresh.clock().now_ms();
        let outcome = self
            .store
            .bind_flow(state, &sha256_hex(&nonce), now)
            .await
            .map_err(|_| FlowError("the host could not save the sign-in".into()))?;
        let flow = match outcome {
            FlowBinding::Bound(flow) => flow,
            FlowBinding::Unknown => {
                return Err(FlowError(
                    "this sign-in link is unknown or was already used; start again with `switchboard connection connect`".into(),
                ));
            }
            FlowBinding::Expired => {
                return Err(FlowError(format!(
                    "this sign-in link expired (they last {}); start again",
                    lifetime_words(self.flow_ttl())
                )));
            }
            FlowBinding::AlreadyBound => {
                return Err(FlowError(
                    "this sign-in link was already opened; start again to get a new one".into(),
                ));
            }
        };
        // The cookie lives as long as the flow may still come back.
        let max_age_s = flow.expires_at_ms.saturating_sub(now).div_ceil(1000).max(1);
        Ok(FlowStart {
            set_cookie: self.flow_cookie(state, &nonce, max_age_s),
            authorize_url: flow.authorize_url,
        })
    }

    /// `/oauth/callback`: checks the state (single use, unexpired, same browser), then
    /// exchanges the code (OAuth 2) or the verifier (OAuth 1: `oauth1` holds the
    /// callback's `oauth_token` and `oauth_verifier`) and stores the tokens sealed. The
    /// flow is used up only by the browser that started it: a callback without its
    /// cookie changes nothing, so whoever sees a `state` cannot burn the sign-in.
    ///
    /// # Errors
    /// [`FlowError`] saying what went wrong (consent denied, state unknown or expired,
    /// code rejected).
    pub async fn oauth_callback(
        &self,
        state: &str,
        code: Option<&str>,
        error: Option<(&str, Option<&str>)>,
        browser: Option<&str>,
        oauth1: super::oauth1::CallbackParams<'_>,
    ) -> Result<ConnectionView, FlowError> {
        let hash = browser.map(sha256_hex);
        let outcome = self
            .store
            .take_bound_flow(state, hash.as_deref())
            .await
            .map_err(|_| FlowError("the host could not read the sign-in".into()))?;
        let flow = match outcome {
            FlowTake::Taken(flow) => *flow,
            FlowTake::Unknown => {
                return Err(FlowError(
                    "the sign-in's state is unknown or was already used; start again with `switchboard connection connect`".into(),
                ));
            }
            FlowTake::OtherBrowser => {
                return Err(FlowError(
                    "this sign-in was not started in this browser; open the link `connect` gave in the same browser".into(),
                ));
            }
        };
        if flow.expires_at_ms <= self.refresh.clock().now_ms() {
            return Err(FlowError(format!(
                "the sign-in expired (it lasts {}); start again",
                lifetime_words(self.flow_ttl())
            )));
        }
        let entry = self
            .snapshot()
            .connections
            .get(&flow.link)
            .filter(|e| e.record.id == flow.connection_id)
            .cloned()
            .ok_or_else(|| FlowError(format!("connection `{}` no longer exists", flow.link)))?;
        if let Some((code, description)) = error {
            let why = format!(
                "the provider did not grant access ({code}{})",
                description.map(|d| format!(": {d}")).unwrap_or_default()
            );
            self.note_failed(&entry, &why).await;
            return Err(FlowError(why));
        }
        if flow.kind == FlowKind::OAuth1 {
            return self.oauth1_callback(state, &flow, &entry, oauth1).await;
        }
        let code = code.ok_or_else(|| {
            FlowError("the provider's answer has neither a code nor an error".into())
        })?;
        let service = entry
            .service
            .clone()
            .ok_or_else(|| FlowError("the connection's service was deleted".into()))?;
        let client = self
            .oauth_client(&service, &entry.record.params)
            .map_err(FlowError)?;
        let sealed = hex::decode(&flow.verifier_sealed)
            .map_err(|_| FlowError("the sign-in record is damaged; start again".into()))?;
        let verifier = self
            .sealer
            .open(state.as_bytes(), &sealed)
            .map_err(|_| FlowError("the sign-in record is damaged; start again".into()))?;
        let verifier = SecretString::new(String::from_utf8_lossy(&verifier).into_owned());
        let tokens = client
            .exchange_code(&self.http, &flow.redirect_uri, code, &verifier)
            .await;
        let tokens = match tokens {
            Ok(t) => t,
            Err(e) => {
                let why = format!("the provider refused the code: {e}");
                self.note_failed(&entry, &why).await;
                return Err(FlowError(why));
            }
        };
        self.store_tokens(&entry, tokens, true)
            .await
            .map_err(|e| FlowError(e.to_string()))?;
        tracing::info!(connection = %flow.link, "connection connected through OAuth 2");
        self.show_connection(&flow.link)
            .map_err(|e| FlowError(e.to_string()))
    }

    /// Records a failed sign-in on the connection (status unchanged; the reason kept,
    /// with the service's client secret redacted: the provider wrote it).
    pub(super) async fn note_failed(&self, entry: &Entry, why: &str) {
        let mut why = why.to_owned();
        if let Some(service) = entry.service.as_deref()
            && let Ok(secret) = self.consumer_secret(service)
        {
            let mut redactor = Redactor::default();
            if let Some(secret) = &secret {
                redactor.add(secret.expose().as_bytes());
            }
            redactor.redact_string(&mut why);
            // Signing in again while connected: the provider knows the tokens it issued
            // and may quote them too.
            if entry.sealed.is_some()
                && let Ok(credentials) = self.open_credentials(&entry.record.link_name, entry)
                && let Ok(credential) = switchboard_auth::Credential::with_service_secret(
                    &service.spec.auth,
                    &credentials,
                    secret.as_ref(),
                )
            {
                credential.redactor().redact_string(&mut why);
            }
        }
        let mut record = entry.record.clone();
        record.status_reason = Some(why.clone());
        record.updated_at_ms = now_ms();
        record.record_event("failed", Some(&why), record.updated_at_ms);
        if let Err(e) = self
            .write(
                crate::snapshot::Touched::connection(&entry.record.link_name),
                async {
                    Ok(self
                        .store
                        .update_connection(&record, entry.record.revision, SecretChange::Keep)
                        .await?)
                },
            )
            .await
        {
            tracing::warn!(connection = %entry.record.link_name, error = %e, "a failed sign-in was not recorded");
        }
    }

    /// Seals `tokens` for the connection and marks it connected, in one write that
    /// succeeds only if the connection's revision is unchanged since `entry` was read (connecting),
    /// or, for refreshed tokens, only if its credentials are (see
    /// [`Self::store_refreshed`]).
    pub(super) async fn store_tokens(
        &self,
        entry: &Entry,
        tokens: Tokens,
        connecting: bool,
    ) -> Result<(), Error> {
        if !connecting {
            return self.store_refreshed(entry, tokens).await;
        }
        let credentials = Credentials::OAuth2(tokens);
        let plain = zeroize::Zeroizing::new(
            serde_json::to_vec(&credentials).expect("credentials serialise"),
        );
        let blob = self.sealer.seal(entry.record.id.as_bytes(), &plain);
        let Credentials::OAuth2(tokens) = &credentials else {
            unreachable!()
        };
        let now = now_ms();
        let mut record = entry.record.clone();
        record.status = ConnectionStatus::Connected;
        record.status_reason = None;
        record.record_event(
            if connecting { "connected" } else { "refreshed" },
            None,
            now,
        );
        record.credential_names = credentials.names();
        record.token_expires_at_ms = tokens.expires_at_ms;
        if let Some(g) = &tokens.granted_scopes {
            record.granted_scopes = g.clone();
        } else if connecting {
            record.granted_scopes.clear();
        }
        if connecting {
            record.connected_at_ms = Some(now);
        }
        record.updated_at_ms = now;
        self.write(
            crate::snapshot::Touched::connection(&entry.record.link_name),
            async {
                self.store
                    .update_connection(&record, entry.record.revision, SecretChange::Set(blob))
                    .await?;
                Ok(())
            },
        )
        .await
    }

    /// Connect for client credentials: fetch a token now, so a wrong client is found at
    /// once.
    pub(super) async fn connect_client_credentials(
        &self,
        entry: &Entry,
        service: &ServiceRecord,
    ) -> Result<(), Error> {
        let client = self
            .oauth_client(service, &entry.record.params)
            .map_err(|m| bad("invalid_connection", m))?;
        let tokens = client
            .client_credentials(&self.http, &self.scopes_of(entry, service))
            .await
            .map_err(|e| bad("token_request_failed", e.to_string()))?;
        self.store_tokens(entry, tokens, true).await
    }

    fn scopes_of(&self, entry: &Entry, service: &ServiceRecord) -> Vec<String> {
        match &service.spec.auth {
            AuthConfig::OAuth2 { scopes, .. } if entry.record.scopes.is_empty() => scopes.clone(),
            _ => entry.record.scopes.clone(),
        }
    }

    /// Fresh OAuth 2 tokens for `link`: the stored ones while they are good, else one
    /// refresh for everyone waiting. With `stale`, the caller saw tokens of that
    /// generation rejected (401): refresh unless someone already did, or unless a
    /// refresh of this connection is too recent ([`MIN_TOKEN_AGE`]); then `Ok(None)`:
    /// the 401 stands (a wrong scope or endpoint does not make every call refresh).
    /// When a refresh before expiry fails or is backing off, the current access token
    /// is used while it is still valid. See [`TokenRefresher`] for the whole contract.
    pub(super) async fn fresh_tokens(
        self: Arc<Self>,
        link: &str,
        stale: Option<&[u8]>,
    ) -> Result<Option<(Arc<Entry>, Tokens)>, BrokerError> {
        let target = Arc::new(ConnectionTarget {
            connections: self.clone(),
            link: link.to_owned(),
        });
        let fresh = TokenRefresher::fresh(&self.refresh.flight, target, stale).await?;
        Ok(fresh.map(|c| (c.at, c.tokens)))
    }

    /// Seals refreshed tokens against the credentials they came from (not the whole
    /// record): an edit of the display name or a status note meanwhile keeps the
    /// rotated refresh token; a revoke, reconnect or delete meanwhile wins.
    async fn store_refreshed(&self, entry: &Entry, tokens: Tokens) -> Result<(), Error> {
        let expected = entry.sealed.clone().ok_or_else(|| {
            Error::Conflict("the connection's credentials were erased meanwhile".into())
        })?;
        let names = Credentials::OAuth2(tokens.clone()).names();
        let (expires, granted) = (tokens.expires_at_ms, tokens.granted_scopes.clone());
        let plain = zeroize::Zeroizing::new(
            serde_json::to_vec(&Credentials::OAuth2(tokens)).expect("credentials serialise"),
        );
        let blob = self.sealer.seal(entry.record.id.as_bytes(), &plain);
        let now = now_ms();
        self.write(
            crate::snapshot::Touched::connection(&entry.record.link_name),
            async {
                self.store
                    .replace_credentials(
                        &entry.record.id,
                        expected,
                        Box::new(move |record| {
                            record.status_reason = None;
                            record.record_event("refreshed", None, now);
                            record.credential_names = names;
                            record.token_expires_at_ms = expires;
                            if let Some(g) = granted {
                                record.granted_scopes = g;
                            }
                            record.updated_at_ms = now;
                        }),
                        SecretChange::Set(blob),
                    )
                    .await?;
                Ok(())
            },
        )
        .await
    }

    /// After a definitive refusal: `needs_reconnect` with the tokens erased, written
    /// against the refused credentials (so a concurrent edit or note cannot make the
    /// write miss). When the credentials changed meanwhile, the refusal was about old
    /// ones and nothing is written (`Ok`); when the write fails, the error is returned
    /// (the refresher then backs off and logs it, never silently keeps it).
    async fn mark_needs_reconnect(
        &self,
        link: &str,
        entry: &Entry,
        why: &str,
    ) -> Result<(), Error> {
        let Some(expected) = entry.sealed.clone() else {
            return Ok(());
        };
        let why_owned = why.to_owned();
        #[cfg(test)]
        let fail = self.refresh.take_injected_failure();
        #[cfg(not(test))]
        let fail = false;
        let written = self
            .write(crate::snapshot::Touched::connection(link), async {
                if fail {
                    return Err(Error::Internal(anyhow::anyhow!("injected write failure")));
                }
                let now = now_ms();
                let update: RecordUpdate = Box::new(move |record| {
                    record.status = ConnectionStatus::NeedsReconnect;
                    record.status_reason = Some(why_owned.clone());
                    record.record_event("needs_reconnect", Some(&why_owned), now);
                    record.credential_names.clear();
                    record.updated_at_ms = now;
                });
                match self
                    .store
                    .replace_credentials(&entry.record.id, expected, update, SecretChange::Erase)
                    .await
                {
                    Ok(_) => Ok(true),
                    Err(StoreError::Stale(_) | StoreError::Missing(_)) => Ok(false),
                    Err(e) => Err(e.into()),
                }
            })
            .await?;
        if !written {
            tracing::info!(
                connection = link,
                "the refused credentials were replaced meanwhile; nothing to mark"
            );
        }
        Ok(())
    }

    /// Starts forgetting the OAuth 2 tokens of the connections `select` picks: takes
    /// their refresh locks (in id order, so two callers cannot deadlock; a refresh in
    /// flight finishes first) and reads the tokens to revoke, with the client as the
    /// service is now (before an edit). Erase locally while holding the result, then
    /// pass it to [`Self::finish_forget`]; dropping it instead (the erase failed)
    /// revokes nothing.
    pub(super) async fn begin_forget(&self, pick: Forget<'_>) -> Forgetting {
        let snapshot = self.snapshot();
        let key = |e: &Arc<Entry>| (e.record.id.clone(), e.record.link_name.clone());
        let mut picked: Vec<(String, String)> = match pick {
            Forget::Nothing => Vec::new(),
            // One connection: a look-up, not a scan (a write stays O(log n)).
            Forget::Link(link) => snapshot
                .connections
                .get(link)
                .map(key)
                .into_iter()
                .collect(),
            Forget::Connection { link, id } => snapshot
                .connections
                .get(link)
                .filter(|e| e.record.id == id)
                .map(key)
                .into_iter()
                .collect(),
            // Every connection of a service (its edit, delete or client change).
            Forget::Service(service_id) => snapshot
                .connections
                .values()
                .filter(|e| e.record.service_id == service_id)
                .map(key)
                .collect(),
        };
        picked.sort();
        let mut guards = Vec::with_capacity(picked.len());
        for (id, _) in &picked {
            guards.push(TokenRefresher::<ConnectionTarget>::hold(&self.refresh.flight, id).await);
        }
        // Read again under the locks: a refresh that just finished stored new tokens.
        let snapshot = self.snapshot();
        let pending = picked
            .iter()
            .filter_map(|(id, link)| {
                snapshot
                    .connections
                    .get(link)
                    .filter(|e| e.record.id == *id)
            })
            .filter_map(|e| self.revocation_of(e))
            .collect();
        Forgetting { guards, pending }
    }

    /// What to revoke at the provider for `entry`: its OAuth 2 tokens, when its service
    /// has a revocation endpoint.
    fn revocation_of(&self, entry: &Entry) -> Option<Forgotten> {
        let service = entry.service.as_deref()?;
        let Ok(Credentials::OAuth2(tokens)) = self.open_credentials(&entry.record.link_name, entry)
        else {
            return None;
        };
        let client = self.oauth_client(service, &entry.record.params).ok()?;
        client.revoke_url.as_ref()?;
        Some(Forgotten {
            link: entry.record.link_name.clone(),
            client,
            tokens,
        })
    }

    /// After the local erase is committed: releases the refresh locks, then revokes the
    /// tokens at the provider (RFC 7009; the refresh token, which takes the grant's
    /// access tokens with it, or else the access token). Best effort: all at once, each
    /// bounded by the revocation timeout, failures logged; the tokens are gone here
    /// whatever the provider says.
    pub(super) async fn finish_forget(&self, forgetting: Forgetting) {
        let Forgetting { guards, pending } = forgetting;
        drop(guards);
        let revocations = pending.into_iter().map(|f| async move {
            let (token, is_refresh) = match &f.tokens.refresh_token {
                Some(r) => (r.as_secret(), true),
                None => (f.tokens.access_token.as_secret(), false),
            };
            match f.client.revoke(&self.http, token, is_refresh).await {
                Ok(true) => tracing::info!(connection = %f.link, "tokens revoked at the provider"),
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(connection = %f.link, error = %e, "revoking at the provider failed; the tokens are erased here")
                }
            }
        });
        futures_util::future::join_all(revocations).await;
    }
}

/// Tokens erased here, to revoke at the provider.
pub(super) struct Forgotten {
    link: String,
    client: OAuthClient,
    tokens: Tokens,
}

/// Connections whose tokens are being erased: their refresh locks (no refresh can
/// store new tokens meanwhile) and what to revoke once the erase is committed.
/// Which connections [`Connections::begin_forget`] takes.
pub(super) enum Forget<'a> {
    Nothing,
    /// The connection under a link name.
    Link(&'a str),
    /// The connection under a link name, if it is still the one with this id.
    Connection {
        link: &'a str,
        id: &'a str,
    },
    /// Every connection of the service with this id.
    Service(&'a str),
}

pub(super) struct Forgetting {
    guards: Vec<RefreshHold>,
    pending: Vec<Forgotten>,
}

impl std::fmt::Debug for Forgetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forgetting")
            .field("locks", &self.guards.len())
            .field("to_revoke", &self.pending.len())
            .finish()
    }
}

/// One connection of the broker as the token refresher sees it (see [`RefreshTarget`]).
pub(super) struct ConnectionTarget {
    connections: Arc<Connections>,
    link: String,
}

impl RefreshTarget for ConnectionTarget {
    type At = Arc<Entry>;

    fn name(&self) -> &str {
        &self.link
    }

    fn current(&self) -> Result<Current<Arc<Entry>>, BrokerError> {
        let link = &self.link;
        let this = &self.connections;
        let entry = this
            .snapshot()
            .connections
            .get(link)
            .cloned()
            .ok_or_else(|| {
                BrokerError::Unknown(format!("no connection has the link name `{link}`"))
            })?;
        if entry.record.status != ConnectionStatus::Connected {
            return Err(super::needs_reconnect(link, &entry.record));
        }
        match this.open_credentials(link, &entry)? {
            Credentials::OAuth2(tokens) => Ok(Current {
                connection_id: entry.record.id.clone(),
                generation: super::generation(&entry),
                tokens,
                at: entry,
            }),
            _ => Err(BrokerError::NeedsReconnect(format!(
                "connection `{link}` has credentials that do not fit its service; connect it again"
            ))),
        }
    }

    fn provider(&self, at: &Current<Arc<Entry>>) -> Result<Arc<dyn TokenProvider>, BrokerError> {
        let (link, entry) = (&self.link, &at.at);
        let service = entry.service.clone().ok_or_else(|| {
            BrokerError::NeedsReconnect(format!(
                "connection `{link}`'s service was deleted; connect it again"
            ))
        })?;
        let AuthConfig::OAuth2 { grant_type, .. } = &service.spec.auth else {
            return Err(BrokerError::NeedsReconnect(format!(
                "connection `{link}` is not an OAuth 2 connection"
            )));
        };
        let client = self
            .connections
            .oauth_client(&service, &entry.record.params)
            .map_err(|m| BrokerError::NeedsReconnect(format!("connection `{link}`: {m}")))?;
        let client_credentials = match grant_type {
            GrantType::ClientCredentials => Some(self.connections.scopes_of(entry, &service)),
            GrantType::AuthorizationCode => None,
        };
        Ok(Arc::new(ClientProvider {
            client,
            http: self.connections.http.clone(),
            client_credentials,
        }))
    }

    fn store<'a>(
        &'a self,
        at: &'a Current<Arc<Entry>>,
        tokens: Tokens,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(self.connections.store_refreshed(&at.at, tokens))
    }

    fn mark_needs_reconnect<'a>(
        &'a self,
        at: &'a Current<Arc<Entry>>,
        why: &'a str,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(
            self.connections
                .mark_needs_reconnect(&self.link, &at.at, why),
        )
    }
}

/// The token request of a connection through its [`OAuthClient`]: a refresh grant, or
/// (`client_credentials`, with the scopes) the client-credentials grant again.
struct ClientProvider {
    client: OAuthClient,
    http: switchboard_outbound::TokenHttp,
    client_credentials: Option<Vec<String>>,
}

impl TokenProvider for ClientProvider {
    fn request<'a>(&'a self, current: &'a Tokens) -> BoxFuture<'a, Result<Tokens, TokenError>> {
        Box::pin(async move {
            let result = match &self.client_credentials {
                Some(scopes) => self.client.client_credentials(&self.http, scopes).await,
                None => self.client.refresh(&self.http, current).await,
            };
            // A provider's `error_description` is its own text and may quote the client
            // secret or a token back: redacted before it becomes a status reason or
            // reaches a function.
            result.map_err(|e| redact_token_error(e, &self.client, current))
        })
    }
}

/// The OAuth parts of a connection summary.
pub(super) fn token_expiry(record: &ConnectionRecord) -> Option<String> {
    record.token_expires_at_ms.map(super::rfc3339)
}

/// `e` with the client secret and `tokens` replaced wherever the provider quoted them.
fn redact_token_error(e: TokenError, client: &OAuthClient, tokens: &Tokens) -> TokenError {
    let mut r = Redactor::default();
    if let Some(secret) = &client.client_secret {
        r.add(secret.expose().as_bytes());
    }
    r.add(tokens.access_token.expose().as_bytes());
    if let Some(refresh) = &tokens.refresh_token {
        r.add(refresh.expose().as_bytes());
    }
    let clean = |mut m: String| {
        r.redact_string(&mut m);
        m
    };
    match e {
        TokenError::InvalidGrant(m) => TokenError::InvalidGrant(clean(m)),
        TokenError::Rejected(m) => TokenError::Rejected(clean(m)),
        TokenError::Transient(m) => TokenError::Transient(clean(m)),
        TokenError::Config(m) => TokenError::Config(clean(m)),
    }
}

#[cfg(test)]
mod redaction_tests {
    use super::*;
    use switchboard_auth::ClientAuth;
    use switchboard_model::SecretString;

    #[test]
    fn a_provider_quoting_secrets_in_its_error_is_redacted() {
        let client = OAuthClient {
            client_id: "cid".into(),
            client_secret: Some(SecretString::new("cs-canary/+")),
            authorize_url: None,
            token_url: "https://auth.example.com/token".into(),
            refresh_url: "https://auth.example.com/token".into(),
            revoke_url: None,
            client_auth: ClientAuth::Basic,
            scope_delimiter: " ".into(),
            clock: Arc::new(crate::provider::SystemClock),
        };
        let tokens = Tokens {
            access_token: switchboard_model::AccessToken::new("at-canary"),
            refresh_token: Some(switchboard_model::RefreshToken::new("rt-canary")),
            expires_at_ms: None,
            issued_at_ms: None,
            granted_scopes: None,
        };
        for e in [
            TokenError::Rejected("invalid_client: secret cs-canary%2F%2B is wrong".into()),
            TokenError::InvalidGrant(": rt-canary was used".into()),
            TokenError::Transient("slow_down: at-canary".into()),
        ] {
            let shown = redact_token_error(e, &client, &tokens).to_string();
            assert!(!shown.contains("canary"), "{shown}");
            assert!(shown.contains("[redacted]"), "{shown}");
        }
    }
}

#[cfg(test)]
mod refresh_tests {
    //! The refresh state machine against a provider on loopback, with a manual clock:
    //! no test waits on the wall clock.

    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::extract::State;
    use axum::http::StatusCode;
    use serde_json::{Value, json};
    use tokio::sync::{Notify, Semaphore};

    use std::sync::Mutex;

    use super::*;
    use crate::provider::ManualClock;
    use crate::{ConnectionEdit, NewConnection, ServiceDefinition};
    use switchboard_store::{MasterKey, RedbStore, Sealer};

    const CLIENT_SECRET: &str = "cs/CANARY+secret=1";

    /// How `/token` answers.
    #[derive(Debug, Clone)]
    enum Answer {
        /// New tokens, the refresh token rotated: `at-N`, `rt-N` for the N-th request.
        Rotate,
        /// This status and JSON body.
        Fail(u16, Value),
    }

    #[derive(Debug)]
    struct Provider {
        calls: AtomicUsize,
        /// Each request's form body.
        bodies: Mutex<Vec<String>>,
        arrived: Notify,
        /// A request waits for a permit before answering.
        gate: Semaphore,
        answer: Mutex<Answer>,
    }

    async fn token(
        State(p): State<Arc<Provider>>,
        body: String,
    ) -> (StatusCode, axum::Json<Value>) {
        let n = p.calls.fetch_add(1, Ordering::SeqCst) + 1;
        p.bodies.lock().unwrap().push(body);
        p.arrived.notify_one();
        p.gate.acquire().await.unwrap().forget();
        match p.answer.lock().unwrap().clone() {
            Answer::Rotate => (
                StatusCode::OK,
                axum::Json(json!({
                    "access_token": format!("at-{n}"), "token_type": "Bearer",
                    "expires_in": 3600, "refresh_token": format!("rt-{n}"),
                })),
            ),
            Answer::Fail(status, body) => (StatusCode::from_u16(status).unwrap(), axum::Json(body)),
        }
    }

    struct Setup {
        _dir: tempfile::TempDir,
        c: Arc<Connections>,
        clock: Arc<ManualClock>,
        provider: Arc<Provider>,
    }

    impl Setup {
        /// A connection `main` holding `at-0`/`rt-0`, issued now and valid an hour.
        async fn new() -> Self {
            let provider = Arc::new(Provider {
                calls: AtomicUsize::new(0),
                bodies: Mutex::default(),
                arrived: Notify::new(),
                gate: Semaphore::new(Semaphore::MAX_PERMITS),
                answer: Mutex::new(Answer::Rotate),
            });
            let app = axum::Router::new()
                .route("/token", axum::routing::post(token))
                .with_state(provider.clone());
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let origin = format!("http://{}", listener.local_addr().unwrap());
            tokio::spawn(async move { axum::serve(listener, app).await });

            let dir = tempfile::tempdir().unwrap();
            let store = RedbStore::open(&dir.path().join("db.redb"))
                .unwrap()
                .repositories();
            let c = Connections::new(
                store,
                Sealer::new(&MasterKey::generate()),
                // The provider is on loopback.
                switchboard_outbound::TokenHttp::new(&switchboard_outbound::OutboundConfig {
                    allow_private_networks: true,
                    ..Default::default()
                })
                .unwrap(),
            )
            .await
            .unwrap();
            let clock = Arc::new(ManualClock::default());
            c.set_clock(clock.clone());
            let def: ServiceDefinition = serde_json::from_value(json!({
                "link_name": "prov", "display_name": "Provider",
                "auth": {
                    "type": "oauth2", "client_id": "cid",
                    "authorize_url": format!("{origin}/authorize"),
                    "access_token_url": format!("{origin}/token"),
                    "grant_type": "authorization_code", "client_auth": "basic",
                },
                "client_secret": CLIENT_SECRET,
                "api_origins": ["https://api.example.com"],
            }))
            .unwrap();
            c.create_service(def, &Principal::User("ada".into()))
                .await
                .unwrap();
            c.create_connection(
                NewConnection {
                    link_name: "main".into(),
                    display_name: "Main".into(),
                    service: "prov".into(),
                    params: BTreeMap::new(),
                    scopes: vec![],
                    authorize_params: BTreeMap::new(),
                    grant_to: vec![],
                },
                &Principal::User("ada".into()),
            )
            .await
            .unwrap();
            let now = clock.now_ms();
            let tokens = Tokens {
                access_token: switchboard_model::AccessToken::new("at-0"),
                refresh_token: Some(switchboard_model::RefreshToken::new("rt-0")),
                expires_at_ms: Some(now + 3_600_000),
                issued_at_ms: Some(now),
                granted_scopes: None,
            };
            let entry = c.entry("main").unwrap();
            c.store_tokens(&entry, tokens, true).await.unwrap();
            Self {
                _dir: dir,
                c,
                clock,
                provider,
            }
        }

        fn calls(&self) -> usize {
            self.provider.calls.load(Ordering::SeqCst)
        }

        fn answer(&self, answer: Answer) {
            *self.provider.answer.lock().unwrap() = answer;
        }

        /// The next token requests wait until [`Self::release`].
        fn hold(&self) {
            let permits = self.provider.gate.available_permits();
            self.provider.gate.forget_permits(permits);
        }

        fn release(&self) {
            self.provider.gate.add_permits(1);
        }

        fn generation(&self) -> Vec<u8> {
            super::super::generation(&self.c.entry("main").unwrap()).unwrap()
        }

        /// The stored tokens.
        fn stored(&self) -> Tokens {
            let entry = self.c.entry("main").unwrap();
            match self.c.open_credentials("main", &entry).unwrap() {
                Credentials::OAuth2(t) => t,
                other => panic!("{other:?}"),
            }
        }

        /// The access token a request would use now (`None`: the 401 stands).
        async fn fresh(&self, stale: Option<&[u8]>) -> Result<Option<String>, BrokerError> {
            self.c
                .clone()
                .fresh_tokens("main", stale)
                .await
                .map(|t| t.map(|(_, t)| t.access_token.expose().to_owned()))
        }

        /// Moves the clock to `left` before the stored access token expires.
        fn leave(&self, left: Duration) {
            let expires = self.stored().expires_at_ms.unwrap();
            let target = expires - left.as_millis() as u64;
            self.clock
                .advance(Duration::from_millis(target - self.clock.now_ms()));
        }
    }

    #[tokio::test]
    async fn an_edit_during_a_refresh_keeps_the_rotated_refresh_token() {
        let s = Setup::new().await;
        s.hold();
        s.leave(Duration::from_secs(30));
        let c = s.c.clone();
        let refresh = tokio::spawn(async move { c.fresh_tokens("main", None).await });
        s.provider.arrived.notified().await;
        // While the provider answers: an edit and a status note change the record.
        s.c.edit_connection(
            "main",
            ConnectionEdit {
                display_name: Some("Renamed".into()),
                params: None,
            },
        )
        .await
        .unwrap();
        let entry = s.c.entry("main").unwrap();
        s.c.note_failed(&entry, "a sign-in was denied").await;
        s.release();
        let (_, tokens) = refresh.await.unwrap().unwrap().unwrap();
        assert_eq!(tokens.access_token.expose(), "at-1");
        let stored = s.stored();
        assert_eq!(
            stored.refresh_token.unwrap().expose(),
            "rt-1",
            "rotated token kept"
        );
        let view = s.c.show_connection("main").unwrap();
        assert_eq!(view.display_name, "Renamed");
        assert_eq!(view.status, "connected");
        let events: Vec<&str> = view.history.iter().map(|h| h.event.as_str()).collect();
        assert_eq!(events, ["created", "connected", "failed", "refreshed"]);
        // The next refresh presents the rotated token.
        s.release();
        s.leave(Duration::from_secs(30));
        assert_eq!(s.fresh(None).await.unwrap().as_deref(), Some("at-2"));
        assert!(s.provider.bodies.lock().unwrap()[1].contains("refresh_token=rt-1"));
    }

    /// A failed sign-in on a connected connection: the provider's text may quote the
    /// tokens it issued; they are redacted from the reason and the history.
    #[tokio::test]
    async fn a_failed_sign_in_quoting_the_tokens_is_redacted() {
        let s = Setup::new().await;
        let entry = s.c.entry("main").unwrap();
        s.c.note_failed(
            &entry,
            "the provider did not grant access (x: at-0 and rt-0)",
        )
        .await;
        let view = s.c.show_connection("main").unwrap();
        let shown = serde_json::to_string(&view).unwrap();
        assert!(
            !shown.contains("at-0") && !shown.contains("rt-0"),
            "{shown}"
        );
        assert!(shown.contains("x: [redacted] and [redacted]"), "{shown}");
    }

    /// Revoke takes the refresh lock: it waits for a refresh in flight, then erases what
    /// that refresh stored (no refresh can store tokens after the erase).
    #[tokio::test]
    async fn a_revoke_during_a_refresh_erases_what_the_refresh_stored() {
        let s = Setup::new().await;
        s.hold();
        s.leave(Duration::from_secs(30));
        let c = s.c.clone();
        let refresh = tokio::spawn(async move { c.fresh_tokens("main", None).await });
        s.provider.arrived.notified().await;
        let c = s.c.clone();
        let revoke = tokio::spawn(async move { c.revoke("main").await });
        tokio::task::yield_now().await;
        assert!(
            !revoke.is_finished(),
            "revoke waits for the refresh in flight"
        );
        s.release();
        let (_, tokens) = refresh.await.unwrap().unwrap().unwrap();
        assert_eq!(tokens.access_token.expose(), "at-1");
        let view = revoke.await.unwrap().unwrap();
        assert_eq!(view.status, "revoked");
        assert!(
            s.c.entry("main").unwrap().sealed.is_none(),
            "the refreshed tokens are erased too"
        );
        let e = s.fresh(None).await.unwrap_err();
        assert!(matches!(e, BrokerError::NeedsReconnect(_)), "{e:?}");
        assert_eq!(s.calls(), 1);
    }

    #[tokio::test]
    async fn a_401_refreshes_at_most_once_per_window() {
        let s = Setup::new().await;
        // Tokens just issued: a 401 is not about them; it stands.
        let g0 = s.generation();
        assert_eq!(s.fresh(Some(&g0)).await.unwrap(), None);
        assert_eq!(s.calls(), 0);
        // Old enough: one refresh.
        s.clock.advance(MIN_TOKEN_AGE);
        assert_eq!(s.fresh(Some(&g0)).await.unwrap().as_deref(), Some("at-1"));
        assert_eq!(s.calls(), 1);
        // Someone holding the old generation gets the new tokens without a refresh.
        assert_eq!(s.fresh(Some(&g0)).await.unwrap().as_deref(), Some("at-1"));
        // The new tokens refused too (a wrong scope): the 401 stands for the window.
        let g1 = s.generation();
        for _ in 0..20 {
            assert_eq!(s.fresh(Some(&g1)).await.unwrap(), None);
        }
        s.clock.advance(MIN_TOKEN_AGE - Duration::from_millis(1));
        assert_eq!(s.fresh(Some(&g1)).await.unwrap(), None);
        assert_eq!(s.calls(), 1);
        s.clock.advance(Duration::from_millis(1));
        assert_eq!(s.fresh(Some(&g1)).await.unwrap().as_deref(), Some("at-2"));
        assert_eq!(s.calls(), 2);
        // Tokens without an issue time still get one refresh per window.
        let g2 = s.generation();
        s.clock.advance(MIN_TOKEN_AGE / 2);
        assert_eq!(s.fresh(Some(&g2)).await.unwrap(), None);
        assert_eq!(s.calls(), 2);
    }

    #[tokio::test]
    async fn callers_refused_during_a_refresh_after_a_401_get_its_tokens() {
        let s = Setup::new().await;
        s.clock.advance(MIN_TOKEN_AGE);
        s.hold();
        let g0 = s.generation();
        let spawn = |g: Vec<u8>| {
            let c = s.c.clone();
            tokio::spawn(async move {
                c.fresh_tokens("main", Some(&g))
                    .await
                    .map(|t| t.map(|(_, t)| t.access_token.expose().to_owned()))
            })
        };
        let first = spawn(g0.clone());
        s.provider.arrived.notified().await;
        // Refused with the same tokens while the refresh is in flight: they wait for it.
        let others: Vec<_> = (0..5).map(|_| spawn(g0.clone())).collect();
        tokio::task::yield_now().await;
        s.release();
        assert_eq!(first.await.unwrap().unwrap().as_deref(), Some("at-1"));
        for other in others {
            assert_eq!(other.await.unwrap().unwrap().as_deref(), Some("at-1"));
        }
        assert_eq!(s.calls(), 1);
    }

    #[tokio::test]
    async fn a_failed_refresh_before_expiry_keeps_using_the_valid_token() {
        let s = Setup::new().await;
        s.answer(Answer::Fail(
            503,
            json!({"error": "temporarily_unavailable"}),
        ));
        s.leave(Duration::from_millis(1700));
        assert_eq!(s.fresh(None).await.unwrap().as_deref(), Some("at-0"));
        assert_eq!(s.calls(), 1);
        // Backing off: still the valid token, and the provider is left alone.
        assert_eq!(s.fresh(None).await.unwrap().as_deref(), Some("at-0"));
        assert_eq!(s.calls(), 1);
        // Within the skew of its expiry it is no longer used.
        s.clock.advance(Duration::from_millis(1000));
        let e = s.fresh(None).await.unwrap_err();
        assert!(
            matches!(&e, BrokerError::Unavailable(m) if m.contains("next try")),
            "{e:?}"
        );
        // Expired, back-off over, the endpoint still down: the call fails.
        s.clock.advance(Duration::from_secs(2));
        let e = s.fresh(None).await.unwrap_err();
        assert!(matches!(e, BrokerError::Unavailable(_)), "{e:?}");
        assert_eq!(s.calls(), 2);
        // A token the API refused is not used as a fallback.
        s.answer(Answer::Rotate);
        s.clock.advance(Duration::from_secs(5));
        assert_eq!(s.fresh(None).await.unwrap().as_deref(), Some("at-3"));
        assert_eq!(s.c.show_connection("main").unwrap().status, "connected");
    }

    #[tokio::test]
    async fn invalid_grant_during_an_edit_still_marks_needs_reconnect() {
        let s = Setup::new().await;
        s.answer(Answer::Fail(400, json!({"error": "invalid_grant"})));
        s.hold();
        s.leave(Duration::from_secs(30));
        let c = s.c.clone();
        let refresh = tokio::spawn(async move { c.fresh_tokens("main", None).await });
        s.provider.arrived.notified().await;
        let entry = s.c.entry("main").unwrap();
        s.c.note_failed(&entry, "a sign-in was denied").await;
        s.release();
        let e = refresh.await.unwrap().unwrap_err();
        assert!(
            matches!(&e, BrokerError::NeedsReconnect(m) if m.contains("invalid_grant")),
            "{e:?}"
        );
        let view = s.c.show_connection("main").unwrap();
        assert_eq!(view.status, "needs_reconnect", "{view:?}");
        assert!(view.credentials.is_empty());
        assert!(
            s.c.entry("main").unwrap().sealed.is_none(),
            "dead tokens erased"
        );
        let e = s.fresh(None).await.unwrap_err();
        assert!(matches!(e, BrokerError::NeedsReconnect(_)), "{e:?}");
        assert_eq!(s.calls(), 1);
    }

    #[tokio::test]
    async fn a_needs_reconnect_that_cannot_be_written_backs_off() {
        let s = Setup::new().await;
        s.answer(Answer::Fail(400, json!({"error": "invalid_grant"})));
        s.c.refresh.fail_marks.store(1, Ordering::SeqCst);
        s.leave(Duration::ZERO);
        let e = s.fresh(None).await.unwrap_err();
        assert!(matches!(e, BrokerError::NeedsReconnect(_)), "{e:?}");
        assert_eq!(s.c.show_connection("main").unwrap().status, "connected");
        // Not a silent dead state: no token request until the back-off ends.
        assert!(
            s.c.refresh
                .flight
                .backoff(&s.c.entry("main").unwrap().record.id)
                .is_some()
        );
        let e = s.fresh(None).await.unwrap_err();
        assert!(
            matches!(&e, BrokerError::Unavailable(m) if m.contains("next try")),
            "{e:?}"
        );
        assert_eq!(s.calls(), 1);
        // After it, the refusal is written.
        s.clock.advance(Duration::from_secs(3));
        let e = s.fresh(None).await.unwrap_err();
        assert!(matches!(e, BrokerError::NeedsReconnect(_)), "{e:?}");
        assert_eq!(
            s.c.show_connection("main").unwrap().status,
            "needs_reconnect"
        );
        assert_eq!(s.calls(), 2);
    }

    #[tokio::test]
    async fn a_provider_quoting_the_client_secret_is_redacted_everywhere() {
        let s = Setup::new().await;
        let form: String = url::form_urlencoded::byte_serialize(CLIENT_SECRET.as_bytes()).collect();
        let json = serde_json::to_string(CLIENT_SECRET).unwrap();
        s.answer(Answer::Fail(
            401,
            json!({
                "error": "invalid_client",
                "error_description": format!(
                    "client_secret {CLIENT_SECRET} / {form} / {json} / refresh rt-0 / at-0 is wrong"
                ),
            }),
        ));
        s.leave(Duration::ZERO);
        let e = s.fresh(None).await.unwrap_err().to_string();
        let view = serde_json::to_string(&s.c.show_connection("main").unwrap()).unwrap();
        for text in [&e, &view] {
            assert!(text.contains("invalid_client"), "{text}");
            assert!(!text.contains("CANARY"), "{text}");
            assert!(!text.contains("rt-0") && !text.contains("at-0"), "{text}");
        }
    }
}
