//! A strict mock OAuth 2 authorization server (and protected API) on loopback,
//! for the end-to-end tests of OAuth 2 connections.
//!
//! - `GET /authorize`: authorization code with PKCE S256 (RFC 6749 §4.1, RFC 7636),
//!   auto-consent, one exact registered redirect URI.
//! - `POST /token`: `authorization_code`, `refresh_token` (with rotation and reuse
//!   detection), `client_credentials`; client authentication exactly as configured.
//! - `POST /revoke`: RFC 7009 token revocation.
//! - `ANY /api/*`: a protected resource that wants a live bearer access token
//!   (`/api/unauthorized` refuses every token).
//!
//! Every authorization-code exchange starts a *grant*; the access and refresh tokens
//! issued from it (and from its refreshes) live and die with it. The most recent
//! grant is the *current* one (what [`OAuthMock::current_refresh_token`] and
//! [`OAuthMock::grant_revoked`] look at).
//!
//! Nothing here reads the wall clock for a test's outcome: token and code lifetimes run on
//! the clock given to [`OAuthMock::set_clock`] (the host's manual clock in the tests), a
//! slow provider is [`OAuthMock::hold_token_answers`] until the test releases it, and a
//! test waits for what the mock received with [`OAuthMock::until`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use switchboard::connections::{Clock, SystemClock};
use tokio::sync::{Notify, watch};

/// How the client must authenticate at `/token` and `/revoke`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// `Authorization: Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1).
    Basic,
    /// `client_id` and `client_secret` form fields.
    Body,
}

/// How the mock behaves; change it mid-test with [`OAuthMock::set_config`].
#[derive(Debug, Clone)]
pub struct OAuthConfig {
    /// The one registered client.
    pub client_id: String,
    /// Its secret.
    pub client_secret: String,
    /// The one client-authentication method accepted.
    pub client_auth: ClientAuth,
    /// Access-token lifetime; `None`: no `expires_in` and tokens never expire.
    pub access_ttl: Option<Duration>,
    /// Every refresh returns a new refresh token and the old one becomes "used";
    /// `false`: refresh responses carry no `refresh_token` and the old one stays valid.
    pub rotate_refresh_tokens: bool,
    /// `false`: token responses carry no `refresh_token` at all.
    pub return_refresh_token: bool,
    /// The `scope` of token responses (what was granted); `None`: echo the request.
    pub granted_scope: Option<String>,
    /// `/authorize` redirects back with `error=access_denied`.
    pub deny_consent: bool,
    /// Put into every issued access and refresh token after its `at`/`rt` prefix (canary
    /// tests use characters that need escaping: `/+=~!*'()` and non-ASCII).
    pub token_marker: String,
    /// Replaces the `error_description` of every `/token` error answer (a provider that
    /// quotes what it received back).
    pub error_description: Option<String>,
}

impl Default for OAuthConfig {
    fn default() -> Self {
        Self {
            client_id: "test-client".into(),
            client_secret: "test-secret".into(),
            client_auth: ClientAuth::Basic,
            access_ttl: Some(Duration::from_secs(3600)),
            rotate_refresh_tokens: true,
            return_refresh_token: true,
            granted_scope: None,
            deny_consent: false,
            token_marker: String::new(),
            error_description: None,
        }
    }
}

/// How long an authorization code lives.
const CODE_TTL: Duration = Duration::from_secs(60);

/// An authorization code handed out by `/authorize`.
#[derive(Debug)]
struct Code {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    scope: Option<String>,
    /// Mock-clock milliseconds.
    issued: u64,
    /// Set once exchanged: the grant it started (revoked if the code is replayed).
    exchanged: Option<usize>,
}

/// One authorization (user consent, or a client-credentials issuance).
#[derive(Debug)]
struct Grant {
    client_id: String,
    scope: Option<String>,
    revoked: bool,
}

#[derive(Debug)]
struct AccessToken {
    grant: usize,
    /// Mock-clock milliseconds.
    expires: Option<u64>,
    /// By [`OAuthMock::expire_access_tokens`].
    expired: bool,
    /// By `/revoke`.
    revoked: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RefreshState {
    Active,
    /// Rotated away: presenting it again is reuse.
    Used,
    /// Revoked at `/revoke`.
    Revoked,
}

#[derive(Debug)]
struct RefreshToken {
    grant: usize,
    state: RefreshState,
}

#[derive(Debug)]
struct Inner {
    config: OAuthConfig,
    redirect_uri: Option<String>,
    codes: HashMap<String, Code>,
    grants: Vec<Grant>,
    /// The latest authorization-code grant.
    current_grant: Option<usize>,
    access: HashMap<String, AccessToken>,
    refresh: HashMap<String, RefreshToken>,
    token_requests: HashMap<String, usize>,
    fail_next: (usize, u16),
    revocations: Vec<(String, Option<String>)>,
    api_requests: usize,
    /// `/api/*` answers of 401.
    unauthorized: usize,
    last_authorize_query: Option<Vec<(String, String)>>,
    /// Token and code lifetimes run on it.
    clock: Arc<dyn Clock>,
    /// `true`: `/token` requests are counted, then wait until it is `false`.
    hold_tokens: watch::Sender<bool>,
    /// Woken whenever a request is counted, for [`OAuthMock::until`].
    events: Arc<Notify>,
}

impl Inner {
    fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }
}

type Shared = Arc<Mutex<Inner>>;

/// The mock server; cheap to clone, all clones share state.
#[derive(Debug, Clone)]
pub struct OAuthMock {
    /// Where it listens.
    pub addr: SocketAddr,
    inner: Shared,
}

impl OAuthMock {
    /// Starts the mock on 127.0.0.1:0; it runs until the test's runtime ends.
    pub async fn start(config: OAuthConfig) -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            config,
            redirect_uri: None,
            codes: HashMap::new(),
            grants: Vec::new(),
            current_grant: None,
            access: HashMap::new(),
            refresh: HashMap::new(),
            token_requests: HashMap::new(),
            fail_next: (0, 503),
            revocations: Vec::new(),
            api_requests: 0,
            unauthorized: 0,
            last_authorize_query: None,
            clock: Arc::new(SystemClock),
            hold_tokens: watch::Sender::new(false),
            events: Arc::new(Notify::new()),
        }));
        let app = Router::new()
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/revoke", post(revoke))
            .route("/api/{*path}", any(api))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { addr, inner }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Registers the one exact redirect URI of the client (until set, `/authorize` refuses).
    pub fn set_redirect_uri(&self, uri: &str) {
        self.lock().redirect_uri = Some(uri.to_owned());
    }

    /// Changes the behaviour mid-test.
    pub fn set_config(&self, f: impl FnOnce(&mut OAuthConfig)) {
        f(&mut self.lock().config);
    }

    /// `/token` requests received with this `grant_type`, whatever the outcome
    /// (a missing or unreadable grant_type counts as `""`).
    pub fn token_requests(&self, grant_type: &str) -> usize {
        self.lock()
            .token_requests
            .get(grant_type)
            .copied()
            .unwrap_or(0)
    }

    /// The next `n` `/token` requests answer `status` with
    /// `{"error":"temporarily_unavailable"}` and change nothing (they are counted).
    pub fn fail_next_token_requests(&self, n: usize, status: u16) {
        self.lock().fail_next = (n, status);
    }

    /// The user revoked access: every grant dies with all its tokens.
    pub fn revoke_grant(&self) {
        for grant in &mut self.lock().grants {
            grant.revoked = true;
        }
    }

    /// Every access token issued so far is now expired (new ones are not).
    pub fn expire_access_tokens(&self) {
        for token in self.lock().access.values_mut() {
            token.expired = true;
        }
    }

    /// Whether the current grant is revoked: by [`Self::revoke_grant`], refresh-token
    /// reuse, code replay, or revoking its refresh token at `/revoke`. A new
    /// authorization-code exchange starts a new, live grant.
    pub fn grant_revoked(&self) -> bool {
        let inner = self.lock();
        inner.current_grant.is_some_and(|g| inner.grants[g].revoked)
    }

    /// The live refresh token of the current grant, if any.
    pub fn current_refresh_token(&self) -> Option<String> {
        let inner = self.lock();
        let grant = inner.current_grant?;
        if inner.grants[grant].revoked {
            return None;
        }
        inner
            .refresh
            .iter()
            .find(|(_, r)| r.grant == grant && r.state == RefreshState::Active)
            .map(|(token, _)| token.clone())
    }

    /// `(token, token_type_hint)` of every authenticated `/revoke` request, in order.
    pub fn revocations(&self) -> Vec<(String, Option<String>)> {
        self.lock().revocations.clone()
    }

    /// Requests to `/api/*`, authorized or not.
    pub fn api_requests(&self) -> usize {
        self.lock().api_requests
    }

    /// `/api/*` requests refused for a token that is not live (401 `invalid_token`).
    pub fn unauthorized_answers(&self) -> usize {
        self.lock().unauthorized
    }

    /// Token and code lifetimes run on `clock` from now on (by default the system's):
    /// give it the host's manual clock and a test moves both at once.
    pub fn set_clock(&self, clock: Arc<dyn Clock>) {
        self.lock().clock = clock;
    }

    /// A slow provider: `/token` requests are counted (see [`Self::until`]) and then
    /// wait, undecided, until [`Self::release_token_answers`].
    pub fn hold_token_answers(&self) {
        self.lock().hold_tokens.send_replace(true);
    }

    /// Lets the held `/token` requests, and all later ones, be answered.
    pub fn release_token_answers(&self) {
        self.lock().hold_tokens.send_replace(false);
    }

    /// Waits until `done` holds, re-checking whenever the mock counts a request;
    /// panics naming `what` after 30 seconds.
    pub async fn until(&self, what: &str, done: impl Fn(&Self) -> bool) {
        let events = self.lock().events.clone();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let notified = events.notified();
            tokio::pin!(notified);
            // Registered before the check: an event between the check and the wait wakes it.
            notified.as_mut().enable();
            if done(self) {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("the OAuth mock never saw {what}");
            }
        }
    }

    /// The query of the last `/authorize` request, in order.
    pub fn last_authorize_query(&self) -> Option<Vec<(String, String)>> {
        self.lock().last_authorize_query.clone()
    }
}

/// A random, unique, recognisable token: `prefix-` + 32 random bytes, base64url.
fn new_token(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
    )
}

/// Parses a query or form body; `None` if any parameter appears twice (RFC 6749 §3.1, §3.2).
fn parse_params(raw: &[u8]) -> Option<HashMap<String, String>> {
    let mut params = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(raw).into_owned() {
        if params.insert(k, v).is_some() {
            return None;
        }
    }
    Some(params)
}

/// `400` with a text body: errors `/authorize` shows to the user instead of redirecting.
fn refuse(why: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        format!("authorization refused: {why}"),
    )
        .into_response()
}

/// A JSON response with `Cache-Control: no-store` (RFC 6749 §5.1).
fn json_response(status: StatusCode, body: Value) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, "no-store".parse().unwrap());
    headers.insert(header::PRAGMA, "no-cache".parse().unwrap());
    response
}

/// An RFC 6749 §5.2 error; `invalid_client` is a 401 with a Basic challenge.
fn oauth_error(error: &str, description: &str) -> Response {
    let status = if error == "invalid_client" {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::BAD_REQUEST
    };
    let mut response = json_response(
        status,
        json!({ "error": error, "error_description": description }),
    );
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            "Basic realm=\"oauth-mock\"".parse().unwrap(),
        );
    }
    response
}

async fn authorize(State(inner): State<Shared>, uri: Uri) -> Response {
    let raw = uri.query().unwrap_or_default();
    let mut inner = inner.lock().unwrap();
    inner.last_authorize_query = Some(
        url::form_urlencoded::parse(raw.as_bytes())
            .into_owned()
            .collect(),
    );
    let Some(params) = parse_params(raw.as_bytes()) else {
        return refuse("repeated parameter");
    };
    let param = |k: &str| params.get(k).map(String::as_str);
    // Client and redirect URI first: until both are trusted, never redirect.
    if param("client_id") != Some(inner.config.client_id.as_str()) {
        return refuse("unknown client_id");
    }
    let Some(redirect_uri) = param("redirect_uri") else {
        return refuse("missing redirect_uri");
    };
    if inner.redirect_uri.as_deref() != Some(redirect_uri) {
        return refuse("redirect_uri is not the registered one");
    }
    if param("response_type") != Some("code") {
        return refuse("response_type must be code");
    }
    let Some(state) = param("state").filter(|s| !s.is_empty()) else {
        return refuse("missing state");
    };
    if param("code_challenge_method") != Some("S256") {
        return refuse("code_challenge_method must be S256");
    }
    // An S256 challenge is base64url(sha256) without padding: exactly 43 characters.
    let challenge = param("code_challenge").unwrap_or_default();
    if challenge.len() != 43 || URL_SAFE_NO_PAD.decode(challenge).is_err() {
        return refuse("missing or malformed code_challenge");
    }

    let Ok(mut location) = url::Url::parse(redirect_uri) else {
        return refuse("the registered redirect_uri is not a URL");
    };
    if inner.config.deny_consent {
        location
            .query_pairs_mut()
            .append_pair("error", "access_denied")
            .append_pair("error_description", "the user denied consent")
            .append_pair("state", state);
    } else {
        let code = new_token("code");
        location
            .query_pairs_mut()
            .append_pair("code", &code)
            .append_pair("state", state);
        let record = Code {
            client_id: inner.config.client_id.clone(),
            redirect_uri: redirect_uri.to_owned(),
            challenge: challenge.to_owned(),
            scope: params.get("scope").cloned(),
            issued: inner.now_ms(),
            exchanged: None,
        };
        inner.codes.insert(code, record);
    }
    (
        StatusCode::FOUND,
        [(header::LOCATION, location.to_string())],
    )
        .into_response()
}

/// Checks client authentication as configured; `Err` says why it failed
/// (the caller answers 401 `invalid_client`).
fn authenticate(
    config: &OAuthConfig,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<(), &'static str> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let body_secret = form.get("client_secret");
    let body_id = form.get("client_id");
    match config.client_auth {
        ClientAuth::Basic => {
            if body_secret.is_some() {
                return Err("client_secret in the body; this client must use HTTP Basic");
            }
            let Some(encoded) = authorization.and_then(|a| a.strip_prefix("Basic ")) else {
                return Err("HTTP Basic client authentication required");
            };
            let Some(decoded) = STANDARD
                .decode(encoded.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
            else {
                return Err("malformed Basic credentials");
            };
            let Some((id, secret)) = decoded.split_once(':') else {
                return Err("malformed Basic credentials");
            };
            // RFC 6749 §2.3.1: both are form-urlencoded before base64. Unencoded values
            // are the same thing when they hold no special characters.
            let unescape = |s: &str| -> String {
                url::form_urlencoded::parse(format!("v={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            if unescape(id) != config.client_id || unescape(secret) != config.client_secret {
                return Err("wrong client credentials");
            }
            if body_id.is_some_and(|b| *b != config.client_id) {
                return Err("client_id in the body differs from the authenticated client");
            }
        }
        ClientAuth::Body => {
            if authorization.is_some() {
                return Err("Authorization header sent; this client must use client_secret_post");
            }
            if body_id != Some(&config.client_id) || body_secret != Some(&config.client_secret) {
                return Err("wrong or missing client_id/client_secret");
            }
        }
    }
    Ok(())
}

/// Issues an access token (and maybe a refresh token) for `grant` and builds the §5.1 answer.
fn issue(
    inner: &mut Inner,
    grant: usize,
    refresh_token: Option<String>,
    scope: Option<String>,
) -> Response {
    let access_token = new_token(&format!("at{}", inner.config.token_marker));
    let ttl = inner.config.access_ttl;
    inner.access.insert(
        access_token.clone(),
        AccessToken {
            grant,
            expires: ttl.map(|t| inner.now_ms() + t.as_millis() as u64),
            expired: false,
            revoked: false,
        },
    );
    let mut body = json!({ "access_token": access_token, "token_type": "Bearer" });
    if let Some(ttl) = ttl {
        body["expires_in"] = json!(ttl.as_secs());
    }
    if let Some(rt) = refresh_token {
        inner.refresh.insert(
            rt.clone(),
            RefreshToken {
                grant,
                state: RefreshState::Active,
            },
        );
        body["refresh_token"] = json!(rt);
    }
    if let Some(scope) = inner.config.granted_scope.clone().or(scope) {
        body["scope"] = json!(scope);
    }
    json_response(StatusCode::OK, body)
}

async fn token(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let response = decide_token(shared.clone(), headers, body).await;
    let Some(description) = shared.lock().unwrap().config.error_description.clone() else {
        return response;
    };
    if response.status().is_success() {
        return response;
    }
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let mut body: Value = serde_json::from_slice(&bytes).unwrap_or_else(|_| json!({}));
    body["error_description"] = json!(description);
    json_response(status, body)
}

async fn decide_token(shared: Shared, headers: HeaderMap, body: Bytes) -> Response {
    let form = parse_params(&body);
    let grant_type = form
        .as_ref()
        .and_then(|f| f.get("grant_type").cloned())
        .unwrap_or_default();
    let mut held = {
        let mut inner = shared.lock().unwrap();
        *inner.token_requests.entry(grant_type.clone()).or_default() += 1;
        inner.events.notify_waiters();
        inner.hold_tokens.subscribe()
    };
    // Held by the test: nothing is decided or committed until it lets go.
    let _ = held.wait_for(|hold| !*hold).await;
    // From here on, one critical section: concurrent requests are decided one by one.
    let mut guard = shared.lock().unwrap();
    let inner = &mut *guard;
    if inner.fail_next.0 > 0 {
        inner.fail_next.0 -= 1;
        let status =
            StatusCode::from_u16(inner.fail_next.1).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        return json_response(
            status,
            json!({ "error": "temporarily_unavailable", "error_description": "injected failure" }),
        );
    }
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !form_type.starts_with("application/x-www-form-urlencoded") {
        return oauth_error("invalid_request", "expected a form-urlencoded body");
    }
    let Some(form) = form else {
        return oauth_error("invalid_request", "repeated parameter");
    };
    if let Err(why) = authenticate(&inner.config, &headers, &form) {
        return oauth_error("invalid_client", why);
    }
    let client_id = inner.config.client_id.clone();
    let rt = format!("rt{}", inner.config.token_marker);
    let now = inner.now_ms();
    let param = |k: &str| form.get(k).map(String::as_str);
    match grant_type.as_str() {
        "authorization_code" => {
            let (Some(code), Some(redirect_uri), Some(verifier)) =
                (param("code"), param("redirect_uri"), param("code_verifier"))
            else {
                return oauth_error(
                    "invalid_request",
                    "code, redirect_uri and code_verifier are required",
                );
            };
            let Some(record) = inner.codes.get_mut(code) else {
                return oauth_error("invalid_grant", "unknown authorization code");
            };
            if let Some(grant) = record.exchanged {
                // Replay: like real servers, revoke everything issued from this code.
                inner.grants[grant].revoked = true;
                return oauth_error("invalid_grant", "authorization code already used");
            }
            if now.saturating_sub(record.issued) > CODE_TTL.as_millis() as u64 {
                return oauth_error("invalid_grant", "authorization code expired");
            }
            if record.client_id != client_id {
                return oauth_error("invalid_grant", "code issued to another client");
            }
            if record.redirect_uri != redirect_uri {
                return oauth_error("invalid_grant", "redirect_uri differs from /authorize");
            }
            // RFC 7636 §4.1: 43-128 unreserved characters; §4.6: S256 comparison.
            let well_formed = (43..=128).contains(&verifier.len())
                && verifier
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
            if !well_formed || URL_SAFE_NO_PAD.encode(Sha256::digest(verifier)) != record.challenge
            {
                return oauth_error("invalid_grant", "PKCE verification failed");
            }
            let scope = record.scope.clone();
            let grant = inner.grants.len();
            record.exchanged = Some(grant);
            inner.grants.push(Grant {
                client_id,
                scope: scope.clone(),
                revoked: false,
            });
            inner.current_grant = Some(grant);
            let refresh = inner.config.return_refresh_token.then(|| new_token(&rt));
            issue(inner, grant, refresh, scope)
        }
        "refresh_token" => {
            let Some(presented) = param("refresh_token") else {
                return oauth_error("invalid_request", "refresh_token is required");
            };
            let Some(record) = inner.refresh.get_mut(presented) else {
                return oauth_error("invalid_grant", "unknown refresh token");
            };
            let grant = record.grant;
            if inner.grants[grant].client_id != client_id {
                return oauth_error("invalid_grant", "refresh token of another client");
            }
            if inner.grants[grant].revoked {
                return oauth_error("invalid_grant", "the grant was revoked");
            }
            match record.state {
                RefreshState::Revoked => {
                    return oauth_error("invalid_grant", "refresh token revoked");
                }
                RefreshState::Used => {
                    // Reuse of a rotated-away token: assume theft, kill the whole grant.
                    inner.grants[grant].revoked = true;
                    return oauth_error("invalid_grant", "refresh token reuse detected");
                }
                RefreshState::Active => {}
            }
            let rotate = inner.config.rotate_refresh_tokens && inner.config.return_refresh_token;
            if rotate {
                record.state = RefreshState::Used;
            }
            let scope = inner.grants[grant].scope.clone();
            issue(inner, grant, rotate.then(|| new_token(&rt)), scope)
        }
        "client_credentials" => {
            let scope = form.get("scope").cloned();
            let grant = inner.grants.len();
            inner.grants.push(Grant {
                client_id,
                scope: scope.clone(),
                revoked: false,
            });
            issue(inner, grant, None, scope)
        }
        "" => oauth_error("invalid_request", "grant_type is required"),
        _ => oauth_error("unsupported_grant_type", "unsupported grant_type"),
    }
}

async fn revoke(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let mut guard = shared.lock().unwrap();
    let inner = &mut *guard;
    let Some(form) = parse_params(&body) else {
        return oauth_error("invalid_request", "repeated parameter");
    };
    if let Err(why) = authenticate(&inner.config, &headers, &form) {
        return oauth_error("invalid_client", why);
    }
    let Some(token) = form.get("token").cloned() else {
        return oauth_error("invalid_request", "token is required");
    };
    inner
        .revocations
        .push((token.clone(), form.get("token_type_hint").cloned()));
    // RFC 7009 §2.1: revoking a refresh token also invalidates the grant's access
    // tokens (here: the whole grant); unknown tokens are not an error.
    if let Some(access) = inner.access.get_mut(&token) {
        access.revoked = true;
    } else if let Some(refresh) = inner.refresh.get_mut(&token) {
        refresh.state = RefreshState::Revoked;
        inner.grants[refresh.grant].revoked = true;
    }
    StatusCode::OK.into_response()
}

async fn api(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let mut inner = shared.lock().unwrap();
    inner.api_requests += 1;
    inner.events.notify_waiters();
    if uri.path() == "/api/unauthorized" {
        // An API that refuses every token (say, for a scope none has): a 401 that no
        // refresh cures.
        let mut response = (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({ "error": "insufficient_scope" })),
        )
            .into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            "Bearer error=\"insufficient_scope\"".parse().unwrap(),
        );
        return response;
    }
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let live = authorization
        .and_then(|a| a.strip_prefix("Bearer "))
        .and_then(|t| inner.access.get(t))
        .is_some_and(|t| {
            !t.expired
                && !t.revoked
                && !inner.grants[t.grant].revoked
                && t.expires.is_none_or(|e| inner.now_ms() < e)
        });
    if !live {
        inner.unauthorized += 1;
        let mut response = (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({ "error": "invalid_token" })),
        )
            .into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            "Bearer error=\"invalid_token\"".parse().unwrap(),
        );
        return response;
    }
    let path = uri.path();
    let mut body = json!({ "ok": true, "path": path, "method": method.as_str() });
    if path == "/api/echo" {
        body["authorization"] = json!(authorization);
    }
    axum::Json(body).into_response()
}
