//! The exfiltration suite: for each auth type, a hostile upstream
//! (`switchboard_tests::hostile`) reflects each credential it received (or knows) in every
//! form it has, and a hostile function (`plugins/test-exfil`) decodes what it got every way
//! it can and sends it all to a sink on its own allowed host. Zero canary bytes may arrive,
//! in the sink, in the function's output or in the host's logs.
//!
//! Each case is `auth/form/secret` (plus a variant: `+ae` when the function itself asks for
//! `Accept-Encoding: gzip, deflate, br`, `+range` when it reads the response piecewise with
//! `Range`); a failing test lists every case that leaked, which secret, where it arrived and
//! in which decoding, so one run says everything.
//!
//! # What is promised
//!
//! A secret of the connection never reaches the function, in any of these forms, wherever
//! the upstream puts it (body, header value, header name, `Set-Cookie`,
//! `WWW-Authenticate`, an error body, a redirect target, the host's own error messages):
//! - raw, and as ISO-8859-1 bytes; nor the rest of it around a character decoded lossily;
//! - percent-encoded with upper- or lower-case hex, whatever set of characters is left
//!   raw (RFC 3986, `application/x-www-form-urlencoded`, Python `quote` and `quote_plus`,
//!   JavaScript `encodeURIComponent`, header-name tokens);
//! - JSON-escaped (serde_json, every character as `\uXXXX`, `\/`);
//! - HTML-escaped (an escaper's `&amp; &quot; &#x27;`, named, decimal and hex references);
//! - compressed with a `Content-Encoding` (gzip, x-gzip, deflate as zlib or raw, stacked
//!   encodings) or behind a label the host cannot decode (`br`, unknown), or with a
//!   `Transfer-Encoding: gzip` (which the HTTP client does not undo): the host decodes
//!   what it can inspect and refuses the rest;
//! - in pieces: `Range` requests that each return less than the whole secret;
//! - by its length: a `Content-Length` the function sees matches the body it gets.
//!
//! The detector decodes (two layers of percent, form, JSON and HTML decoding, gzip and
//! zlib) rather than enumerating encodings, and matches ASCII case-insensitively (a host
//! name comes back lower-cased); `switchboard_tests::hostile`'s unit tests check it sees
//! every form the upstream reflects in.
//!
//! # Documented limits (not tested: no redactor can undo them)
//!
//! Transformations only the upstream and the function agree on: base64 or hex of the
//! secret, the secret reversed, split across fields or responses the function joins (other
//! than `Range`, which the host controls), XOR-ed, hashed one character at a time, or a
//! body compressed without saying so (`Content-Encoding` absent). A hostile upstream can
//! always hand its own secrets to a function; the promise is about the connection's.

use std::fmt::Write as _;

use serde_json::json;
use switchboard_tests::hostile::{FORMS, Hostile, detect};
use switchboard_tests::oauth1::{OAuth1Config, OAuth1Mock};
use switchboard_tests::oauth2::{OAuthConfig, OAuthMock};
use switchboard_tests::{Mock, TestHost, browser, captured_logs};

use crate::TEST_EXFIL;

/// Characters that need escaping in most encodings, and a non-ASCII letter.
const SPECIAL: &str = "/+=~!*'()é";
/// [`SPECIAL`] without the non-ASCII letter, for credentials that must be ASCII.
const SPECIAL_ASCII: &str = "/+=~!*'()";

/// Forms whose body is compressed: each runs with and without the function asking.
const COMPRESSED: &[&str] = &[
    "gzip",
    "x-gzip",
    "gzip-twice",
    "deflate",
    "deflate-raw",
    "br-label",
    "unknown-encoding",
    "te-gzip",
];

/// One request the hostile function makes.
struct Case {
    name: String,
    form: &'static str,
    source: &'static str,
    headers: Vec<(&'static str, &'static str)>,
    range_chunk: Option<usize>,
    /// The host may refuse the function's request outright (`invalid-request`): a header
    /// it owns (`Accept-Encoding`, `Range`).
    may_refuse: bool,
}

/// Every form × every source of one auth type.
fn cases(auth: &str, sources: &[(&'static str, &'static str)]) -> Vec<Case> {
    let mut out = Vec::new();
    for &form in FORMS {
        for &(secret, source) in sources {
            let name = format!("{auth}/{form}/{secret}");
            let plain = |name: String| Case {
                name,
                form,
                source,
                headers: Vec::new(),
                range_chunk: None,
                may_refuse: false,
            };
            if form == "range" {
                out.push(Case {
                    range_chunk: Some(5),
                    may_refuse: true,
                    ..plain(format!("{name}+range"))
                });
                continue;
            }
            if COMPRESSED.contains(&form) {
                out.push(Case {
                    headers: vec![("accept-encoding", "gzip, deflate, br")],
                    may_refuse: true,
                    ..plain(format!("{name}+ae"))
                });
            }
            out.push(plain(name));
        }
    }
    out
}

/// A host with `test-exfil` deployed (allowed to reach `sink`) and granted `link`.
async fn exfil_host(dir: &std::path::Path, sink: &Mock) -> TestHost {
    let host = TestHost::start(dir).await;
    host.api
        .deploy_ok(
            "exfil",
            TEST_EXFIL,
            &format!("?max_requests=64&allow_host={}", sink.origin()),
        )
        .await;
    host
}

/// Runs every case against `hostile` through connection `link` with `method`; `canaries`
/// gives the secrets to look for after each case (it may grow: OAuth tokens rotate).
/// Returns one line per failure.
async fn run(
    host: &TestHost,
    hostile: &Hostile,
    sink: &Mock,
    link: &str,
    method: &str,
    cases: &[Case],
    canaries: &dyn Fn() -> Vec<(String, String)>,
) -> Vec<String> {
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let before = hostile.reflected().len();
        let sink_before = sink.received().len();
        let url = format!(
            "{}/r/{}?from={}",
            hostile.origin(),
            case.form,
            url::form_urlencoded::byte_serialize(case.source.as_bytes()).collect::<String>()
        );
        let mut input = json!({
            "connection": link,
            "method": method,
            "url": url,
            "headers": case.headers,
            "exfil": format!("{}/sink/c{i}", sink.origin()),
        });
        if let Some(chunk) = case.range_chunk {
            input["range_chunk"] = json!(chunk);
        }
        let (status, out) = host.api.invoke("exfil", &input).await;
        let name = &case.name;
        if status != 200 {
            failures.push(format!("{name}: the function failed ({status}): {out}"));
            continue;
        }

        // Not vacuous: the upstream reflected the secret, or the host refused a request
        // that asked for what the host owns.
        let reflected = hostile.reflected().len() > before;
        let refused = out["error"]["kind"] == "invalid-request";
        if !(reflected || (case.may_refuse && refused)) {
            failures.push(format!(
                "{name}: the upstream reflected nothing (did the request arrive?): {out}"
            ));
        }
        if out["sent"].as_u64().unwrap_or(0) == 0 {
            failures.push(format!("{name}: nothing reached the sink: {out}"));
        }

        // Zero canary bytes in the sink or in the output.
        let received = sink.received();
        let mut places: Vec<(String, Vec<u8>)> = received[sink_before..]
            .iter()
            .map(|r| (format!("sink {}", r.uri), r.body.clone()))
            .collect();
        places.push(("the function's output".into(), out.to_string().into_bytes()));
        for (secret, value) in canaries() {
            for (place, bytes) in &places {
                if let Some(how) = detect::find(bytes, &value) {
                    failures.push(format!("{name}: LEAKED {secret} to {place} ({how})"));
                }
            }
        }

        // The length of what was redacted does not show. (Not for `Range` reads: the
        // function glues pieces, and the first piece's length is its own.)
        if let Some(headers) = out["headers"].as_array()
            && case.range_chunk.is_none()
        {
            let length = headers.iter().find(|h| {
                h[0].as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case("content-length"))
            });
            if let Some(length) = length {
                let body_len = out["body_len"].as_u64().unwrap_or(0);
                if length[1].as_str() != Some(body_len.to_string().as_str()) {
                    failures.push(format!(
                        "{name}: Content-Length {} but the body has {body_len} bytes (the length before redaction shows)",
                        length[1]
                    ));
                }
            }
        }
    }

    let logs = captured_logs();
    for (secret, value) in canaries() {
        if logs.contains(&value) {
            failures.push(format!("LEAKED {secret} to the host's logs"));
        }
    }
    failures
}

/// Fails with every finding, grouped by case, and how many cases had one.
fn report(auth: &str, cases: &[Case], failures: &[String]) {
    let failed = cases
        .iter()
        .filter(|c| {
            failures
                .iter()
                .any(|f| f.starts_with(&format!("{}: ", c.name)))
        })
        .count();
    let mut text = String::new();
    for f in failures {
        let _ = writeln!(text, "  {f}");
    }
    assert!(
        failures.is_empty(),
        "{auth}: {failed} of {} cases failed ({} findings):\n{text}",
        cases.len(),
        failures.len()
    );
}

fn canary(prefix: &str, tag: &str) -> String {
    format!("{prefix}{SPECIAL}-CANARY-{tag}")
}

#[tokio::test]
async fn api_key_values_do_not_reach_the_function_in_any_form() {
    let dir = tempfile::tempdir().unwrap();
    let (hostile, sink) = (Hostile::start().await, Mock::start().await);
    let host = exfil_host(dir.path(), &sink).await;
    let api = &host.api;
    let query = canary("qk", "query");
    let form = canary("fk", "form");
    // A header value that is also a valid host label and header name, so the redirect and
    // header-name forms carry it whole.
    let header = "hk-canary-header-7q".to_owned();
    api.create_service(&json!({
        "link_name": "keyed", "display_name": "Keyed",
        "auth": {"type": "api_key", "params": [
            {"name": "api_key", "display_name": "Query key", "param_type": "query"},
            {"name": "token", "display_name": "Form token", "param_type": "form"},
            {"name": "X-Api-Key", "display_name": "Header key", "param_type": "header"},
        ]},
        "api_origins": [hostile.origin()],
    }))
    .await;
    api.create_connection("keyed_main", "keyed", &json!({}))
        .await;
    api.connect(
        "keyed_main",
        &json!({"values": {"api_key": query, "token": form, "X-Api-Key": header}}),
    )
    .await;
    api.grant("exfil", "keyed_main").await;

    let cases = cases(
        "api_key",
        &[
            ("query-param", "query:api_key"),
            ("form-field", "form:token"),
            ("header", "header:x-api-key"),
        ],
    );
    let canaries = || {
        vec![
            ("the query key".to_owned(), query.clone()),
            ("the form token".to_owned(), form.clone()),
            ("the header key".to_owned(), header.clone()),
        ]
    };
    // A form-placed key needs a request with a body: the host refuses it on a GET.
    let failures = run(
        &host,
        &hostile,
        &sink,
        "keyed_main",
        "POST",
        &cases,
        &canaries,
    )
    .await;
    report("api_key", &cases, &failures);
}

#[tokio::test]
async fn basic_username_and_password_do_not_reach_the_function_in_any_form() {
    use base64::Engine as _;
    let dir = tempfile::tempdir().unwrap();
    let (hostile, sink) = (Hostile::start().await, Mock::start().await);
    let host = exfil_host(dir.path(), &sink).await;
    let api = &host.api;
    let username = "canary-user-b7".to_owned();
    let password = canary("pw", "basic");
    api.create_service(&json!({
        "link_name": "tracker", "display_name": "Tracker", "auth": {"type": "basic"},
        "api_origins": [hostile.origin()],
    }))
    .await;
    api.create_connection("tracker_main", "tracker", &json!({}))
        .await;
    api.connect(
        "tracker_main",
        &json!({"username": username, "password": password}),
    )
    .await;
    api.grant("exfil", "tracker_main").await;

    let cases = cases(
        "basic",
        &[
            ("username", "basic-user"),
            ("password", "basic-pass"),
            ("authorization", "header:authorization"),
        ],
    );
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    let canaries = || {
        vec![
            ("the username".to_owned(), username.clone()),
            ("the password".to_owned(), password.clone()),
            ("the Basic token".to_owned(), token.clone()),
        ]
    };
    let failures = run(
        &host,
        &hostile,
        &sink,
        "tracker_main",
        "GET",
        &cases,
        &canaries,
    )
    .await;
    report("basic", &cases, &failures);
}

#[tokio::test]
async fn oauth2_tokens_and_client_secret_do_not_reach_the_function_in_any_form() {
    let dir = tempfile::tempdir().unwrap();
    let (hostile, sink) = (Hostile::start().await, Mock::start().await);
    let client_secret = canary("cs", "oauth2-client");
    let provider = OAuthMock::start(OAuthConfig {
        client_secret: client_secret.clone(),
        token_marker: format!("{SPECIAL}-CANARY"),
        // Never expires: only a 401 (the `www-authenticate` form) makes the host refresh.
        access_ttl: None,
        ..OAuthConfig::default()
    })
    .await;
    let host = exfil_host(dir.path(), &sink).await;
    let api = &host.api;
    provider.set_redirect_uri(&format!("{}/oauth/callback", api.base()));
    api.create_service(&json!({
        "link_name": "prov", "display_name": "Provider",
        "auth": {
            "type": "oauth2",
            "client_id": "test-client",
            "authorize_url": format!("{}/authorize", provider.origin()),
            "access_token_url": format!("{}/token", provider.origin()),
            "scopes": ["read"],
            "grant_type": "authorization_code",
            "client_auth": "basic",
        },
        "client_secret": client_secret,
        "api_origins": [hostile.origin()],
    }))
    .await;
    api.create_connection("prov_main", "prov", &json!({})).await;
    let start = api.start_sign_in("prov_main").await;
    let (status, page) = browser::signs_in(&start).await;
    assert_eq!(status, 200, "{page}");
    api.grant("exfil", "prov_main").await;
    assert!(
        provider
            .current_refresh_token()
            .is_some_and(|t| t.contains(SPECIAL)),
        "the provider issues canary tokens"
    );

    // The API origin is the provider's too: it knows the client secret and the refresh
    // token without receiving them.
    let known = provider.clone();
    let secret = client_secret.clone();
    hostile.know(move |name| match name {
        "client_secret" => Some(secret.clone()),
        "refresh" => known.current_refresh_token(),
        _ => None,
    });

    let cases = cases(
        "oauth2",
        &[
            ("access-token", "bearer"),
            ("authorization", "header:authorization"),
            ("refresh-token", "known:refresh"),
            ("client-secret", "known:client_secret"),
        ],
    );
    // Tokens rotate on every refresh: every token the upstream ever saw or reflected is a
    // canary, and so is the live refresh token.
    let canaries = || {
        let mut all = vec![("the client secret".to_owned(), client_secret.clone())];
        if let Some(rt) = provider.current_refresh_token() {
            all.push(("the refresh token".to_owned(), rt));
        }
        for (source, value) in hostile.reflected() {
            let token = value.strip_prefix("Bearer ").unwrap_or(&value).to_owned();
            if !all.iter().any(|(_, v)| *v == token) {
                all.push((format!("a token reflected as {source}"), token));
            }
        }
        all
    };
    let failures = run(
        &host,
        &hostile,
        &sink,
        "prov_main",
        "GET",
        &cases,
        &canaries,
    )
    .await;
    report("oauth2", &cases, &failures);
}

#[tokio::test]
async fn oauth1_token_and_secrets_do_not_reach_the_function_in_any_form() {
    let dir = tempfile::tempdir().unwrap();
    let (hostile, sink) = (Hostile::start().await, Mock::start().await);
    let consumer_secret = canary("cs", "oauth1-consumer");
    let provider = OAuth1Mock::start(OAuth1Config {
        consumer_secret: consumer_secret.clone(),
        // PLAINTEXT: the signature carries both secrets, so the upstream reads them.
        signature_method: "PLAINTEXT".into(),
        token_secret_prefix: format!("ts{SPECIAL}-CANARY-"),
        ..OAuth1Config::default()
    })
    .await;
    let host = exfil_host(dir.path(), &sink).await;
    let api = &host.api;
    api.create_service(&json!({
        "link_name": "photos", "display_name": "Photos",
        "auth": {
            "type": "oauth1",
            "consumer_key": "test-consumer",
            "request_token_url": format!("{}/oauth/request_token", provider.origin()),
            "authorize_url": format!("{}/oauth/authorize", provider.origin()),
            "access_token_url": format!("{}/oauth/access_token", provider.origin()),
            "param_type": "header",
            "signature_method": "PLAINTEXT",
        },
        "client_secret": consumer_secret,
        "api_origins": [hostile.origin()],
    }))
    .await;
    api.create_connection("photos_main", "photos", &json!({}))
        .await;
    let start = api.start_sign_in("photos_main").await;
    let (status, page) = browser::signs_in(&start).await;
    assert_eq!(status, 200, "{page}");
    api.grant("exfil", "photos_main").await;
    let tokens = provider.access_tokens();
    assert_eq!(tokens.len(), 1, "one access token issued");
    let (token, token_secret) = tokens[0].clone();
    assert!(token_secret.contains(SPECIAL), "a canary token secret");

    let cases = cases(
        "oauth1",
        &[
            ("token", "oauth:oauth_token"),
            ("consumer-secret", "plaintext-consumer"),
            ("token-secret", "plaintext-token"),
            ("authorization", "header:authorization"),
        ],
    );
    let canaries = || {
        vec![
            ("the consumer secret".to_owned(), consumer_secret.clone()),
            ("the token".to_owned(), token.clone()),
            ("the token secret".to_owned(), token_secret.clone()),
        ]
    };
    let failures = run(
        &host,
        &hostile,
        &sink,
        "photos_main",
        "GET",
        &cases,
        &canaries,
    )
    .await;
    report("oauth1", &cases, &failures);
}

#[tokio::test]
async fn aws_secret_key_and_session_token_do_not_reach_the_function_in_any_form() {
    let dir = tempfile::tempdir().unwrap();
    let (hostile, sink) = (Hostile::start().await, Mock::start().await);
    let host = exfil_host(dir.path(), &sink).await;
    let api = &host.api;
    // AWS credentials are visible ASCII: no `é` here.
    let secret = format!("wJalrXUtnFEMI{}-CANARY-aws-secret", SPECIAL_ASCII);
    let session = format!("FwoGZXIvYXdz{}-CANARY-aws-session", SPECIAL_ASCII);
    api.create_service(&json!({
        "link_name": "queue", "display_name": "Queue",
        "auth": {"type": "aws_sigv4", "service": "sqs", "region": "eu-west-3"},
        "api_origins": [hostile.origin()],
    }))
    .await;
    api.create_connection("queue_main", "queue", &json!({}))
        .await;
    api.connect(
        "queue_main",
        &json!({
            "access_key_id": "AKIDSWITCHBOARD01",
            "secret_access_key": secret,
            "session_token": session,
        }),
    )
    .await;
    api.grant("exfil", "queue_main").await;
    // AWS knows the secret key; it never travels.
    let known = secret.clone();
    hostile.know(move |name| (name == "secret").then(|| known.clone()));

    let cases = cases(
        "aws_sigv4",
        &[
            ("secret-key", "known:secret"),
            ("session-token", "header:x-amz-security-token"),
        ],
    );
    let canaries = || {
        vec![
            ("the secret access key".to_owned(), secret.clone()),
            ("the session token".to_owned(), session.clone()),
        ]
    };
    let failures = run(
        &host,
        &hostile,
        &sink,
        "queue_main",
        "GET",
        &cases,
        &canaries,
    )
    .await;
    report("aws_sigv4", &cases, &failures);
}
