//! OAuth 2 for connections: checking a service's OAuth fields, the authorization-code
//! flow (connect → `/oauth/start` → provider → `/oauth/callback`), client credentials, and
//! keeping tokens fresh: proactively before expiry, reactively after a 401, one token
//! request per connection at a time (single flight), the new refresh token stored before
//! the new access token is used, `invalid_grant` ending in `needs_reconnect`, and transient
//! failures backing off.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::{
    AppError, ConnectionView, Connections, Entry, ServiceDefinition, bad, blocking, now_ms,
    template,
};
use crate::auth::oauth::{OAuthClient, TokenError, Tokens};
use crate::auth::{AuthConfig, Credentials, GrantType, Redactor};
use crate::outbound::BrokerError;
use crate::store::{
    ConnectionRecord, ConnectionStatus, FlowBinding, FlowKind, FlowTake, PendingFlow, SecretChange,
    SecretString, ServiceRecord,
};

/// How long an authorization may take, from connect to callback.
pub const FLOW_TTL: Duration = Duration::from_secs(600);
/// An access token this close to its expiry is refreshed before use.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(60);
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
/// Longest wait after repeated transient token-endpoint failures.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

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
    declared: &[crate::store::DynamicParam],
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
    } = &def.auth
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
        (_, Some(u)) => check_url_template("authorize URL", u, &def.dynamic_params)?,
        _ => {}
    }
    check_url_template("access-token URL", access_token_url, &def.dynamic_params)?;
    if let Some(u) = refresh_token_url {
        check_url_template("refresh-token URL", u, &def.dynamic_params)?;
    }
    if let Some(u) = revoke_url {
        check_url_template("revocation URL", u, &def.dynamic_params)?;
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
    let AuthConfig::OAuth2 { scopes, .. } = &service.auth else {
        if chosen.is_empty() {
            return Ok(());
        }
        return Err(format!(
            "scopes are for oauth2 services; `{}` is `{}`",
            service.link_name,
            service.auth.type_name()
        ));
    };
    if let Some(s) = chosen.iter().find(|s| !scopes.contains(s)) {
        return Err(format!(
            "scope `{s}` is not one of service `{}`'s scopes ({})",
            service.link_name,
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
        } = &service.auth
        else {
            return Err(format!(
                "service `{}` is not an oauth2 service",
                service.link_name
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
        })
    }

    pub(super) fn redirect_uri(&self) -> Result<String, AppError> {
        let base = self.public_url.read().expect("lock poisoned").clone();
        base.map(|b| format!("{}/oauth/callback", b.trim_end_matches('/')))
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("the host's public URL is not set")))
    }

    /// Starts an authorization-code flow: a single-use `state` bound to the connection,
    /// a PKCE verifier sealed until the callback. Returns the host's `/oauth/start` URL
    /// to open in a browser.
    pub(super) async fn start_authorization(
        &self,
        entry: &Entry,
        service: &ServiceRecord,
        actor: &str,
    ) -> Result<String, AppError> {
        let client = self
            .oauth_client(service, &entry.record.params)
            .map_err(|m| bad("invalid_connection", m))?;
        let AuthConfig::OAuth2 {
            scopes: service_scopes,
            extra_authorize_params,
            ..
        } = &service.auth
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
        let now = now_ms();
        let flow = PendingFlow {
            connection_id: entry.record.id.clone(),
            link: entry.record.link_name.clone(),
            created_by: actor.to_owned(),
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
        let store = self.store.clone();
        let s = state.clone();
        blocking(move || Ok(store.put_flow(&s, &flow, now)?)).await?;
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
        let store = self.store.clone();
        let (s, hash) = (state.to_owned(), sha256_hex(&nonce));
        let now = now_ms();
        let outcome = blocking(move || Ok(store.bind_flow(&s, &hash, now)?))
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
        let store = self.store.clone();
        let s = state.to_owned();
        let hash = browser.map(sha256_hex);
        let outcome = blocking(move || Ok(store.take_bound_flow(&s, hash.as_deref())?))
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
        if flow.expires_at_ms <= now_ms() {
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

    /// Records a failed sign-in on the connection (status unchanged; the reason kept).
    pub(super) async fn note_failed(&self, entry: &Entry, why: &str) {
        let mut record = entry.record.clone();
        record.status_reason = Some(why.to_owned());
        record.updated_at_ms = now_ms();
        record.record_event("failed", Some(why), record.updated_at_ms);
        let expected = entry.record.clone();
        let _ = self
            .write(move |s| Ok(s.update_connection(&expected, &record, SecretChange::Keep)?))
            .await;
    }

    /// Seals `tokens` for the connection and marks it connected, in one write that
    /// succeeds only if the connection is unchanged since `entry` was read.
    pub(super) async fn store_tokens(
        &self,
        entry: &Entry,
        tokens: Tokens,
        connecting: bool,
    ) -> Result<(), AppError> {
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
        let expected = entry.record.clone();
        self.write(move |s| Ok(s.update_connection(&expected, &record, SecretChange::Set(blob))?))
            .await
    }

    /// Connect for client credentials: fetch a token now, so a wrong client is found at
    /// once.
    pub(super) async fn connect_client_credentials(
        &self,
        entry: &Entry,
        service: &ServiceRecord,
    ) -> Result<(), AppError> {
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
        match &service.auth {
            AuthConfig::OAuth2 { scopes, .. } if entry.record.scopes.is_empty() => scopes.clone(),
            _ => entry.record.scopes.clone(),
        }
    }

    fn refresh_lock(&self, connection_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.refresh_locks
            .lock()
            .expect("lock poisoned")
            .entry(connection_id.to_owned())
            .or_default()
            .clone()
    }

    /// Fresh OAuth 2 tokens for `link`: the stored ones while they are good, else one
    /// refresh for everyone waiting. With `stale`, the caller saw tokens of that
    /// generation rejected (401): refresh unless someone already did.
    pub(super) async fn fresh_tokens(
        self: Arc<Self>,
        link: &str,
        stale: Option<&[u8]>,
    ) -> Result<(Arc<Entry>, Tokens), BrokerError> {
        let current = |this: &Self| -> Result<(Arc<Entry>, Tokens), BrokerError> {
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
                Credentials::OAuth2(t) => Ok((entry, t)),
                _ => Err(BrokerError::NeedsReconnect(format!(
                    "connection `{link}` has credentials that do not fit its service; connect it again"
                ))),
            }
        };
        let needs_refresh = |entry: &Entry, tokens: &Tokens| {
            let expiring = tokens.expiring(now_ms(), REFRESH_MARGIN);
            let rejected = stale.is_some_and(|g| Some(g) == super::generation(entry).as_deref());
            expiring || rejected
        };
        let (entry, tokens) = current(&self)?;
        if !needs_refresh(&entry, &tokens) {
            return Ok((entry, tokens));
        }
        // One refresh per connection at a time; whoever waited re-reads what it stored.
        let guard = self.refresh_lock(&entry.record.id).lock_owned().await;
        let (entry, tokens) = current(&self)?;
        if !needs_refresh(&entry, &tokens) {
            return Ok((entry, tokens));
        }
        if let Some(wait) = self.backing_off(&entry.record.id) {
            return Err(BrokerError::Unavailable(format!(
                "the token endpoint of connection `{link}` failed recently; the next try is in {} s",
                wait.as_secs().max(1)
            )));
        }
        // The refresh runs in its own task holding the lock: if this call is cancelled
        // (its deadline), the refresh still completes and its rotated refresh token is
        // stored before anyone uses the new access token.
        let this = self.clone();
        let link = link.to_owned();
        tokio::spawn(async move {
            let _guard = guard;
            this.refresh_tokens(&link, &entry, tokens).await
        })
        .await
        .map_err(|e| BrokerError::Unavailable(format!("the token refresh failed: {e}")))?
    }

    async fn refresh_tokens(
        &self,
        link: &str,
        entry: &Arc<Entry>,
        tokens: Tokens,
    ) -> Result<(Arc<Entry>, Tokens), BrokerError> {
        let service = entry.service.clone().ok_or_else(|| {
            BrokerError::NeedsReconnect(format!(
                "connection `{link}`'s service was deleted; connect it again"
            ))
        })?;
        let AuthConfig::OAuth2 { grant_type, .. } = &service.auth else {
            return Err(BrokerError::NeedsReconnect(format!(
                "connection `{link}` is not an OAuth 2 connection"
            )));
        };
        let client = self
            .oauth_client(&service, &entry.record.params)
            .map_err(|m| BrokerError::NeedsReconnect(format!("connection `{link}`: {m}")))?;
        let result = match (grant_type, &tokens.refresh_token) {
            (GrantType::ClientCredentials, _) => {
                client
                    .client_credentials(&self.http, &self.scopes_of(entry, &service))
                    .await
            }
            (GrantType::AuthorizationCode, Some(refresh)) => {
                client.refresh(&self.http, refresh).await
            }
            (GrantType::AuthorizationCode, None) => Err(TokenError::InvalidGrant(
                ": the provider gave no refresh token and the access token expired".into(),
            )),
        };
        // A provider's `error_description` is its own text and may quote the client secret
        // or a token back: redacted before it becomes a status reason or reaches a function.
        let result = result.map_err(|e| redact_token_error(e, &client, &tokens));
        match result {
            Ok(new) => {
                self.clear_backoff(&entry.record.id);
                self.store_tokens(entry, new, false).await.map_err(|e| {
                    BrokerError::Unavailable(format!(
                        "connection `{link}` changed during its token refresh ({e}); try again"
                    ))
                })?;
                tracing::info!(connection = link, "access token refreshed");
                let entry = self
                    .snapshot()
                    .connections
                    .get(link)
                    .cloned()
                    .ok_or_else(|| {
                        BrokerError::Unknown(format!("no connection has the link name `{link}`"))
                    })?;
                match self.open_credentials(link, &entry)? {
                    Credentials::OAuth2(t) => Ok((entry, t)),
                    _ => Err(BrokerError::NeedsReconnect(format!(
                        "connection `{link}` has credentials that do not fit its service"
                    ))),
                }
            }
            Err(
                e @ (TokenError::InvalidGrant(_) | TokenError::Rejected(_) | TokenError::Config(_)),
            ) => {
                let why = format!("token refresh failed: {e}; connect again");
                tracing::warn!(connection = link, reason = %e, "refresh refused; the connection needs to be connected again");
                let mut record = entry.record.clone();
                record.status = ConnectionStatus::NeedsReconnect;
                record.status_reason = Some(why.clone());
                record.record_event("needs_reconnect", Some(&why), now_ms());
                record.credential_names.clear();
                record.updated_at_ms = now_ms();
                let expected = entry.record.clone();
                let _ = self
                    .write(move |s| {
                        Ok(s.update_connection(&expected, &record, SecretChange::Erase)?)
                    })
                    .await;
                Err(BrokerError::NeedsReconnect(format!(
                    "connection `{link}`: {why}"
                )))
            }
            Err(e @ TokenError::Transient(_)) => {
                let wait = self.note_failure(&entry.record.id);
                tracing::warn!(connection = link, error = %e, retry_in_s = wait.as_secs(), "token refresh failed; backing off");
                Err(BrokerError::Unavailable(format!(
                    "connection `{link}`: {e}; the next try is in {} s",
                    wait.as_secs().max(1)
                )))
            }
        }
    }

    fn backing_off(&self, id: &str) -> Option<Duration> {
        let map = self.backoff.lock().expect("lock poisoned");
        map.get(id)
            .and_then(|(_, until)| until.checked_duration_since(Instant::now()))
    }

    fn note_failure(&self, id: &str) -> Duration {
        let mut map = self.backoff.lock().expect("lock poisoned");
        let e = map.entry(id.to_owned()).or_insert((0, Instant::now()));
        e.0 += 1;
        let wait = Duration::from_secs(1 << e.0.min(9)).min(MAX_BACKOFF);
        e.1 = Instant::now() + wait;
        wait
    }

    fn clear_backoff(&self, id: &str) {
        self.backoff.lock().expect("lock poisoned").remove(id);
    }

    /// Starts forgetting the OAuth 2 tokens of the connections `select` picks: takes
    /// their refresh locks (in id order, so two callers cannot deadlock; a refresh in
    /// flight finishes first) and reads the tokens to revoke, with the client as the
    /// service is now (before an edit). Erase locally while holding the result, then
    /// pass it to [`Self::finish_forget`]; dropping it instead (the erase failed)
    /// revokes nothing.
    pub(super) async fn begin_forget(&self, select: impl Fn(&Entry) -> bool) -> Forgetting {
        let mut picked: Vec<(String, String)> = self
            .snapshot()
            .connections
            .values()
            .filter(|e| select(e))
            .map(|e| (e.record.id.clone(), e.record.link_name.clone()))
            .collect();
        picked.sort();
        let mut guards = Vec::with_capacity(picked.len());
        for (id, _) in &picked {
            guards.push(self.refresh_lock(id).lock_owned().await);
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
                Some(r) => (r, true),
                None => (&f.tokens.access_token, false),
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
pub(super) struct Forgetting {
    guards: Vec<tokio::sync::OwnedMutexGuard<()>>,
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
    use crate::auth::ClientAuth;
    use crate::store::SecretString;

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
        };
        let tokens = Tokens {
            access_token: SecretString::new("at-canary"),
            refresh_token: Some(SecretString::new("rt-canary")),
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
