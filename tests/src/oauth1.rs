//! A strict mock OAuth 1.0a provider (RFC 5849) on loopback, for the end-to-end tests
//! of OAuth 1 connections. It verifies every signature itself, with its own code for the
//! signature base string (parameter collection from the query, the `Authorization`
//! header and a form body; its own percent-encoding; sorting; the base string URI from
//! the `Host` header) — nothing of the host's signer is used — and the RustCrypto
//! HMACs.
//!
//! - `POST /oauth/request_token`: signed with the consumer only; needs `oauth_callback`;
//!   answers `oauth_token`, `oauth_token_secret`, `oauth_callback_confirmed=true`.
//! - `GET /oauth/authorize?oauth_token=`: auto-approves and redirects to the callback
//!   with `oauth_token` and `oauth_verifier` (keeping the callback's own query).
//! - `POST /oauth/access_token`: signed with the request token; needs the right
//!   `oauth_verifier`; a request token is used once.
//! - `ANY /api/*`: a protected resource that wants a request signed with a live access
//!   token. Answers JSON with where the OAuth parameters were (`header`, `query`,
//!   `form`) and the request's own (non-`oauth_`) parameters that were signed.
//!   `/api/echo` also answers the whole request and the token secret (an upstream that
//!   leaks, to test redaction).
//!
//! Every signed request: a query of only the characters RFC 3986 allows raw (as
//! oauthlib insists), exactly one of the three places holds the protocol parameters,
//! none is repeated, the signature method is the configured one, the timestamp within
//! [`OAuth1Config::timestamp_window`] of now, and the nonce unused for that timestamp,
//! consumer and token.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde_json::{Value, json};

/// How the mock behaves.
#[derive(Debug, Clone)]
pub struct OAuth1Config {
    /// The one registered consumer.
    pub consumer_key: String,
    /// Its secret.
    pub consumer_secret: String,
    /// The signature method every request must use: `HMAC-SHA1`, `HMAC-SHA256` or
    /// `PLAINTEXT`.
    pub signature_method: String,
    /// How far a timestamp may be from now.
    pub timestamp_window: Duration,
    /// Prefix of issued access-token secrets (canary tests search for it).
    pub token_secret_prefix: String,
}

impl Default for OAuth1Config {
    fn default() -> Self {
        Self {
            consumer_key: "test-consumer".into(),
            consumer_secret: "test-consumer-secret".into(),
            signature_method: "HMAC-SHA1".into(),
            timestamp_window: Duration::from_secs(300),
            token_secret_prefix: "ts-".into(),
        }
    }
}

#[derive(Debug)]
struct RequestToken {
    secret: String,
    callback: String,
    verifier: Option<String>,
    used: bool,
}

#[derive(Debug)]
struct Inner {
    config: OAuth1Config,
    request_tokens: HashMap<String, RequestToken>,
    /// Access token → secret.
    access_tokens: HashMap<String, String>,
    /// (consumer, token, timestamp, nonce) seen.
    nonces: HashSet<(String, String, String, String)>,
    /// Every refusal, newest last.
    refusals: Vec<String>,
    api_requests: usize,
}

type Shared = Arc<Mutex<Inner>>;

/// The mock server; cheap to clone, all clones share state.
#[derive(Debug, Clone)]
pub struct OAuth1Mock {
    /// Where it listens.
    pub addr: SocketAddr,
    inner: Shared,
}

impl OAuth1Mock {
    /// Starts the mock on 127.0.0.1:0; it runs until the test's runtime ends.
    pub async fn start(config: OAuth1Config) -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            config,
            request_tokens: HashMap::new(),
            access_tokens: HashMap::new(),
            nonces: HashSet::new(),
            refusals: Vec::new(),
            api_requests: 0,
        }));
        let app = Router::new()
            .route("/oauth/request_token", post(request_token))
            .route("/oauth/authorize", get(authorize))
            .route("/oauth/access_token", post(access_token))
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

    /// Why requests were refused, oldest first.
    pub fn refusals(&self) -> Vec<String> {
        self.lock().refusals.clone()
    }

    /// Signed API requests accepted.
    pub fn api_requests(&self) -> usize {
        self.lock().api_requests
    }

    /// The access tokens issued, with their secrets.
    pub fn access_tokens(&self) -> Vec<(String, String)> {
        self.lock()
            .access_tokens
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

fn random(prefix: &str) -> String {
    let mut b = [0u8; 24];
    rand::rng().fill_bytes(&mut b);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(b))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// RFC 5849 section 3.6, byte by byte.
pub fn pct(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn unpct(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Decodes an `application/x-www-form-urlencoded` string (`+` is a space).
fn form_pairs(raw: &str) -> Option<Vec<(String, String)>> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Some((unpct(&k.replace('+', " "))?, unpct(&v.replace('+', " "))?))
        })
        .collect()
}

/// The `Authorization: OAuth k="v", ...` parameters, `realm` left out.
fn header_pairs(value: &str) -> Option<Vec<(String, String)>> {
    let rest = value.strip_prefix("OAuth ")?;
    rest.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=')?;
            let v = v.strip_prefix('"')?.strip_suffix('"')?;
            Some((unpct(k)?, unpct(v)?))
        })
        .filter(|p| p.as_ref().is_none_or(|(k, _)| k != "realm"))
        .collect()
}

/// Computes the signature a request must carry.
pub fn expected_signature(
    method: &str,
    key: &str,
    base_uri: &str,
    params: &[(String, String)],
    consumer_secret: &str,
    token_secret: &str,
) -> String {
    let mut encoded: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "oauth_signature")
        .map(|(k, v)| (pct(k), pct(v)))
        .collect();
    encoded.sort();
    let encoded: Vec<String> = encoded.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let base = format!(
        "{}&{}&{}",
        pct(method),
        pct(base_uri),
        pct(&encoded.join("&"))
    );
    let signing_key = format!("{}&{}", pct(consumer_secret), pct(token_secret));
    match key {
        "HMAC-SHA1" => {
            let mut m = Hmac::<sha1::Sha1>::new_from_slice(signing_key.as_bytes()).unwrap();
            m.update(base.as_bytes());
            STANDARD.encode(m.finalize().into_bytes())
        }
        "HMAC-SHA256" => {
            let mut m = Hmac::<sha2::Sha256>::new_from_slice(signing_key.as_bytes()).unwrap();
            m.update(base.as_bytes());
            STANDARD.encode(m.finalize().into_bytes())
        }
        _ => signing_key,
    }
}

/// A verified request: its protocol parameters and its own parameters.
struct Verified {
    oauth: HashMap<String, String>,
    placement: &'static str,
    own: Vec<(String, String)>,
}

fn refuse(inner: &mut Inner, status: StatusCode, why: &str) -> Response {
    inner.refusals.push(why.to_owned());
    (status, format!("oauth_problem={why}")).into_response()
}

/// Verifies the signature of a request; `token_secret` looks up the token's secret
/// (`None`: the token is unknown). `Err` is the refusal to send.
fn verify(
    inner: &mut Inner,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    token_secret: impl Fn(&Inner, &str) -> Option<String>,
    token_required: bool,
) -> Result<Verified, Box<Response>> {
    let bad =
        |inner: &mut Inner, why: &str| Err(Box::new(refuse(inner, StatusCode::BAD_REQUEST, why)));
    let unauthorized =
        |inner: &mut Inner, why: &str| Err(Box::new(refuse(inner, StatusCode::UNAUTHORIZED, why)));
    // Like oauthlib: a query holding characters RFC 3986 does not allow raw (`[ ]`,
    // `{ }`, `|`, ...) is not urlencoded, and is refused.
    if !uri
        .query()
        .unwrap_or_default()
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b))
    {
        return bad(inner, "query_not_urlencoded");
    }
    let Some(query) = form_pairs(uri.query().unwrap_or_default()) else {
        return bad(inner, "malformed_query");
    };
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    let form = if is_form {
        match std::str::from_utf8(body).ok().and_then(form_pairs) {
            Some(f) => f,
            None => return bad(inner, "malformed_body"),
        }
    } else {
        Vec::new()
    };
    let auth = match headers.get(header::AUTHORIZATION) {
        Some(v) => match v.to_str().ok().and_then(header_pairs) {
            Some(p) => p,
            None => return bad(inner, "malformed_authorization_header"),
        },
        None => Vec::new(),
    };
    let has_oauth = |p: &[(String, String)]| p.iter().any(|(k, _)| k.starts_with("oauth_"));
    let places: Vec<&'static str> = [
        ("header", has_oauth(&auth)),
        ("query", has_oauth(&query)),
        ("form", has_oauth(&form)),
    ]
    .into_iter()
    .filter(|(_, has)| *has)
    .map(|(p, _)| p)
    .collect();
    let placement = match places.as_slice() {
        [one] => *one,
        [] => return unauthorized(inner, "parameter_absent"),
        _ => return bad(inner, "parameters_in_several_places"),
    };
    let all: Vec<(String, String)> = auth.iter().chain(&query).chain(&form).cloned().collect();
    let mut oauth = HashMap::new();
    for (k, v) in all.iter().filter(|(k, _)| k.starts_with("oauth_")) {
        if oauth.insert(k.clone(), v.clone()).is_some() {
            return bad(inner, "duplicated_protocol_parameter");
        }
    }
    let get = |k: &str| oauth.get(k).cloned().unwrap_or_default();
    if get("oauth_consumer_key") != inner.config.consumer_key {
        return unauthorized(inner, "consumer_key_unknown");
    }
    if get("oauth_signature_method") != inner.config.signature_method {
        return bad(inner, "signature_method_rejected");
    }
    if oauth.contains_key("oauth_version") && get("oauth_version") != "1.0" {
        return bad(inner, "version_rejected");
    }
    let Ok(ts) = get("oauth_timestamp").parse::<u64>() else {
        return bad(inner, "timestamp_missing");
    };
    if now().abs_diff(ts) > inner.config.timestamp_window.as_secs() {
        return unauthorized(inner, "timestamp_refused");
    }
    let nonce = get("oauth_nonce");
    if nonce.is_empty() {
        return bad(inner, "nonce_missing");
    }
    let token = get("oauth_token");
    if token_required && token.is_empty() {
        return unauthorized(inner, "token_missing");
    }
    let secret = if token.is_empty() {
        String::new()
    } else {
        match token_secret(inner, &token) {
            Some(s) => s,
            None => return unauthorized(inner, "token_rejected"),
        }
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let host = host.strip_suffix(":80").unwrap_or(&host);
    let base_uri = format!("http://{host}{}", uri.path());
    let expected = expected_signature(
        method.as_str(),
        &inner.config.signature_method.clone(),
        &base_uri,
        &all,
        &inner.config.consumer_secret.clone(),
        &secret,
    );
    if get("oauth_signature") != expected {
        return unauthorized(inner, "signature_invalid");
    }
    let seen = (
        inner.config.consumer_key.clone(),
        token.clone(),
        ts.to_string(),
        nonce,
    );
    if !inner.nonces.insert(seen) {
        return unauthorized(inner, "nonce_used");
    }
    let own = query
        .into_iter()
        .chain(form)
        .filter(|(k, _)| !k.starts_with("oauth_"))
        .collect();
    Ok(Verified {
        oauth,
        placement,
        own,
    })
}

fn form_answer(pairs: &[(&str, &str)]) -> Response {
    let body = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", pct(k), pct(v)))
        .collect::<Vec<_>>()
        .join("&");
    (
        [(header::CONTENT_TYPE, "application/x-www-form-urlencoded")],
        body,
    )
        .into_response()
}

async fn request_token(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut inner = shared.lock().unwrap();
    let v = match verify(
        &mut inner,
        &method,
        &uri,
        &headers,
        &body,
        |_, _| None,
        false,
    ) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let Some(callback) = v.oauth.get("oauth_callback").cloned() else {
        return refuse(&mut inner, StatusCode::BAD_REQUEST, "callback_missing");
    };
    if url::Url::parse(&callback).is_err() {
        return refuse(&mut inner, StatusCode::BAD_REQUEST, "callback_rejected");
    }
    let token = random("rt-");
    let secret = random("rts-");
    inner.request_tokens.insert(
        token.clone(),
        RequestToken {
            secret: secret.clone(),
            callback,
            verifier: None,
            used: false,
        },
    );
    form_answer(&[
        ("oauth_token", &token),
        ("oauth_token_secret", &secret),
        ("oauth_callback_confirmed", "true"),
    ])
}

async fn authorize(State(shared): State<Shared>, uri: Uri) -> Response {
    let mut inner = shared.lock().unwrap();
    let query = form_pairs(uri.query().unwrap_or_default()).unwrap_or_default();
    let Some((_, token)) = query.iter().find(|(k, _)| k == "oauth_token") else {
        return refuse(
            &mut inner,
            StatusCode::BAD_REQUEST,
            "authorize_without_token",
        );
    };
    let verifier = random("v-");
    let Some(rt) = inner.request_tokens.get_mut(token) else {
        return refuse(
            &mut inner,
            StatusCode::BAD_REQUEST,
            "authorize_unknown_token",
        );
    };
    rt.verifier = Some(verifier.clone());
    let mut location = url::Url::parse(&rt.callback).unwrap();
    location
        .query_pairs_mut()
        .append_pair("oauth_token", token)
        .append_pair("oauth_verifier", &verifier);
    (
        StatusCode::FOUND,
        [(header::LOCATION, location.to_string())],
    )
        .into_response()
}

async fn access_token(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut inner = shared.lock().unwrap();
    let v = match verify(
        &mut inner,
        &method,
        &uri,
        &headers,
        &body,
        |inner, token| {
            inner
                .request_tokens
                .get(token)
                .filter(|rt| !rt.used)
                .map(|rt| rt.secret.clone())
        },
        true,
    ) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let token = v.oauth["oauth_token"].clone();
    let rt = inner.request_tokens.get_mut(&token).unwrap();
    if rt.verifier.is_none() || v.oauth.get("oauth_verifier") != rt.verifier.as_ref() {
        return refuse(&mut inner, StatusCode::UNAUTHORIZED, "verifier_invalid");
    }
    rt.used = true;
    let access = random("at-");
    let secret = random(&inner.config.token_secret_prefix.clone());
    inner.access_tokens.insert(access.clone(), secret.clone());
    form_answer(&[("oauth_token", &access), ("oauth_token_secret", &secret)])
}

async fn api(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut inner = shared.lock().unwrap();
    let v = match verify(
        &mut inner,
        &method,
        &uri,
        &headers,
        &body,
        |inner, token| inner.access_tokens.get(token).cloned(),
        true,
    ) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    inner.api_requests += 1;
    let mut answer = json!({
        "ok": true,
        "method": method.as_str(),
        "path": uri.path(),
        "placement": v.placement,
        "signature_method": v.oauth["oauth_signature_method"],
        "signed_params": v.own.iter().map(|(k, v)| json!([k, v])).collect::<Vec<Value>>(),
    });
    if uri.path() == "/api/echo" {
        let token = &v.oauth["oauth_token"];
        answer["token"] = json!(token);
        answer["token_secret"] = json!(inner.access_tokens[token]);
        answer["uri"] = json!(uri.to_string());
        answer["authorization"] = json!(
            headers
                .get(header::AUTHORIZATION)
                .and_then(|h| h.to_str().ok())
        );
        answer["body"] = json!(String::from_utf8_lossy(&body));
    }
    axum::Json(answer).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Signs a request as a client would, with this module's own functions.
    fn signed_header(
        method: &str,
        url: &str,
        extra: &[(&str, &str)],
        secrets: (&str, &str),
        ts: u64,
        nonce: &str,
    ) -> String {
        let u = url::Url::parse(url).unwrap();
        let mut params: Vec<(String, String)> = u.query_pairs().into_owned().collect();
        let mut oauth: Vec<(String, String)> = [
            ("oauth_consumer_key", "test-consumer"),
            ("oauth_signature_method", "HMAC-SHA1"),
            ("oauth_nonce", nonce),
        ]
        .iter()
        .chain(extra)
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        oauth.push(("oauth_timestamp".into(), ts.to_string()));
        params.extend(oauth.clone());
        let base_uri = format!(
            "http://{}:{}{}",
            u.host_str().unwrap(),
            u.port().unwrap(),
            u.path()
        );
        let sig = expected_signature(
            method,
            "HMAC-SHA1",
            &base_uri,
            &params,
            secrets.0,
            secrets.1,
        );
        oauth.push(("oauth_signature".into(), sig));
        format!(
            "OAuth {}",
            oauth
                .iter()
                .map(|(k, v)| format!("{}=\"{}\"", pct(k), pct(v)))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }

    #[test]
    fn rfc5849_example_verifies() {
        // RFC 5849 section 1.2's photo request, checked with this module's own code.
        let params: Vec<(String, String)> = [
            ("file", "vacation.jpg"),
            ("size", "original"),
            ("oauth_consumer_key", "dpf43f3p2l4k3l03"),
            ("oauth_token", "nnch734d00sl2jdk"),
            ("oauth_signature_method", "HMAC-SHA1"),
            ("oauth_timestamp", "137131202"),
            ("oauth_nonce", "chapoH"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        assert_eq!(
            expected_signature(
                "GET",
                "HMAC-SHA1",
                "http://photos.example.net/photos",
                &params,
                "kd94hf93k423kf44",
                "pfkkdhi9sl3r4s00"
            ),
            "MdpQcU8iPSUjWoN/UDMsK2sui9I="
        );
        assert_eq!(
            header_pairs("OAuth realm=\"x\", oauth_a=\"b%20c\"").unwrap(),
            vec![("oauth_a".to_owned(), "b c".to_owned())]
        );
    }

    #[tokio::test]
    async fn request_token_with_replay_and_stale_timestamps_refused() {
        let mock = OAuth1Mock::start(OAuth1Config::default()).await;
        let url = format!("{}/oauth/request_token", mock.origin());
        let http = reqwest::Client::new();
        let cb = [("oauth_callback", "http://127.0.0.1:9/cb?state=s")];
        let secrets = ("test-consumer-secret", "");
        let h = signed_header("POST", &url, &cb, secrets, now(), "n1");
        let r = http
            .post(&url)
            .header("authorization", &h)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let body = r.text().await.unwrap();
        assert!(body.contains("oauth_callback_confirmed=true"), "{body}");
        // The same nonce and timestamp again: a replay.
        let r = http
            .post(&url)
            .header("authorization", &h)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        assert_eq!(mock.refusals(), ["nonce_used"]);
        // Ten minutes old.
        let h = signed_header("POST", &url, &cb, secrets, now() - 600, "n2");
        let r = http
            .post(&url)
            .header("authorization", &h)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        // A wrong secret.
        let h = signed_header("POST", &url, &cb, ("wrong", ""), now(), "n3");
        let r = http
            .post(&url)
            .header("authorization", &h)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        // No callback.
        let h = signed_header("POST", &url, &[], secrets, now(), "n4");
        let r = http
            .post(&url)
            .header("authorization", &h)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        assert_eq!(
            mock.refusals(),
            [
                "nonce_used",
                "timestamp_refused",
                "signature_invalid",
                "callback_missing"
            ]
        );
    }
}
