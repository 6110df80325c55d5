//! OAuth 2 connections end to end: a real host, the real `fetch` plugin, and the strict
//! mock provider of `switchboard_tests::oauth2` (PKCE, state, exact redirect URI, client
//! authentication, expiry, rotation with reuse detection).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use switchboard::connections::{MIN_TOKEN_AGE, ManualClock};
use switchboard_tests::browser::signs_in as browser_signs_in;
use switchboard_tests::oauth2::{ClientAuth, OAuthConfig, OAuthMock};
use switchboard_tests::{Api, HostOptions, TestHost, captured_logs};

use crate::FETCH;

const CLIENT_SECRET: &str = "cs-CANARY-oauth-client";

fn provider_config() -> OAuthConfig {
    OAuthConfig {
        client_secret: CLIENT_SECRET.into(),
        ..OAuthConfig::default()
    }
}

fn service(link: &str, mock: &OAuthMock, grant_type: &str, client_auth: &str) -> Value {
    json!({
        "link_name": link,
        "display_name": "Provider",
        "auth": {
            "type": "oauth2",
            "client_id": "test-client",
            "authorize_url": format!("{}/authorize", mock.origin()),
            "access_token_url": format!("{}/token", mock.origin()),
            "revoke_url": format!("{}/revoke", mock.origin()),
            "scopes": ["read", "write"],
            "grant_type": grant_type,
            "client_auth": client_auth,
            "extra_authorize_params": {"access_type": "offline"},
        },
        "client_secret": CLIENT_SECRET,
        "api_origins": [mock.origin()],
    })
}

async fn start_connect(api: &Api, link: &str) -> String {
    api.start_sign_in(link).await
}

/// A host whose token refresh reads a manual clock.
async fn host_with_clock(dir: &std::path::Path) -> (TestHost, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::default());
    let host = TestHost::start_with(
        dir,
        HostOptions {
            clock: Some(clock.clone()),
            ..Default::default()
        },
    )
    .await;
    (host, clock)
}

/// A host with `fetch` granted connection `prov_main` of an authorization-code service,
/// connected through the browser flow; token refresh reads the returned clock.
async fn connected(dir: &std::path::Path, mock: &OAuthMock) -> (TestHost, Arc<ManualClock>) {
    let (host, clock) = host_with_clock(dir).await;
    // The provider's token lifetimes run on the host's clock: the test moves both.
    mock.set_clock(clock.clone());
    mock.set_redirect_uri(&format!("{}/oauth/callback", host.api.base()));
    let api = &host.api;
    api.deploy_ok("fetch", FETCH, "?max_requests=8").await;
    api.create_service(&service("prov", mock, "authorization_code", "basic"))
        .await;
    let (status, c) = api
        .post_json(
            "/api/v1/connections",
            &json!({"link_name": "prov_main", "display_name": "Main", "service": "prov",
                    "scopes": ["read"], "authorize_params": {"prompt": "consent"}}),
        )
        .await;
    assert_eq!(status, 201, "{c}");
    let start = start_connect(api, "prov_main").await;
    let (status, page) = browser_signs_in(&start).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("prov_main") && page.contains("connected"),
        "{page}"
    );
    api.grant("fetch", "prov_main").await;
    (host, clock)
}

async fn call_api(api: &Api, mock: &OAuthMock, path: &str) -> Value {
    let (status, out) = api
        .invoke(
            "fetch",
            &json!({"url": format!("{}{path}", mock.origin()), "connection": "prov_main"}),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    out
}

#[tokio::test]
async fn authorization_code_with_pkce_connects_and_the_function_calls_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let mock = OAuthMock::start(provider_config()).await;
    let (host, _clock) = connected(dir.path(), &mock).await;
    let api = &host.api;

    let q: std::collections::BTreeMap<String, String> =
        mock.last_authorize_query().unwrap().into_iter().collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["scope"], "read");
    assert_eq!(q["access_type"], "offline", "service extra parameter");
    assert_eq!(q["prompt"], "consent", "connection extra parameter");
    assert_eq!(q["redirect_uri"], format!("{}/oauth/callback", api.base()));
    assert_eq!(mock.token_requests("authorization_code"), 1);

    let view = api.connection("prov_main").await;
    assert_eq!(view.status, "connected", "{view:?}");
    assert_eq!(view.granted_scopes, ["read"]);
    assert_eq!(view.credentials, ["access_token", "refresh_token"]);
    assert!(view.token_expires_at.is_some(), "{view:?}");
    let svc = api.client().show_service("prov").await.unwrap();
    assert!(svc.client_secret_set);

    let out = call_api(api, &mock, "/api/data").await;
    assert_eq!(out["status"], 200, "{out}");
    assert_eq!(mock.api_requests(), 1);
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once_and_the_call_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let mock = OAuthMock::start(provider_config()).await;
    let (host, clock) = connected(dir.path(), &mock).await;
    let api = &host.api;
    let first_refresh = mock.current_refresh_token().unwrap();

    // Reactive: the provider expired the token early; the API answers 401, the host
    // refreshes once and retries (the token is old enough for a refresh after a 401).
    clock.advance(MIN_TOKEN_AGE);
    mock.expire_access_tokens();
    let out = call_api(api, &mock, "/api/data").await;
    assert_eq!(out["status"], 200, "{out}");
    assert_eq!(mock.token_requests("refresh_token"), 1);
    assert_ne!(
        mock.current_refresh_token().unwrap(),
        first_refresh,
        "rotated"
    );

    // Proactive: a short-lived token is refreshed before use, without a 401.
    mock.set_config(|c| c.access_ttl = Some(Duration::from_secs(2)));
    clock.advance(MIN_TOKEN_AGE);
    mock.expire_access_tokens();
    let out = call_api(api, &mock, "/api/data").await;
    assert_eq!(out["status"], 200, "{out}");
    assert_eq!(mock.token_requests("refresh_token"), 2);
    let api_before = mock.api_requests();
    clock.advance(Duration::from_millis(1100));
    let out = call_api(api, &mock, "/api/data").await;
    assert_eq!(out["status"], 200, "{out}");
    assert_eq!(
        mock.token_requests("refresh_token"),
        3,
        "refreshed before use"
    );
    assert_eq!(mock.api_requests(), api_before + 1, "no 401 round trip");
    assert!(!mock.grant_revoked());
    let view = api.connection("prov_main").await;
    let events: Vec<&str> = view.history.iter().map(|h| h.event.as_str()).collect();
    assert_eq!(
        events,
        [
            "created",
            "connected",
            "refreshed",
            "refreshed",
            "refreshed"
        ],
        "{view:?}"
    );

    // A provider that does not rotate keeps the old refresh token working.
    mock.set_config(|c| {
        c.rotate_refresh_tokens = false;
        c.access_ttl = Some(Duration::from_secs(3600));
    });
    clock.advance(MIN_TOKEN_AGE);
    mock.expire_access_tokens();
    assert_eq!(call_api(api, &mock, "/api/x").await["status"], 200);
    clock.advance(MIN_TOKEN_AGE);
    mock.expire_access_tokens();
    assert_eq!(call_api(api, &mock, "/api/x").await["status"], 200);
    assert!(!mock.grant_revoked());
}

#[tokio::test]
async fn two_hundred_concurrent_calls_with_an_expired_token_make_one_token_request() {
    let dir = tempfile::tempdir().unwrap();
    let mock = OAuthMock::start(provider_config()).await;
    let (host, clock) = connected(dir.path(), &mock).await;
    // A slow provider: the refresh waits at /token until the other calls pile up behind it.
    mock.hold_token_answers();
    clock.advance(MIN_TOKEN_AGE);
    mock.expire_access_tokens();
    let before = mock.unauthorized_answers();
    let calls = (0..200).map(|_| {
        let api = host.api.clone();
        let url = format!("{}/api/data", mock.origin());
        tokio::spawn(async move {
            api.invoke("fetch", &json!({"url": url, "connection": "prov_main"}))
                .await
        })
    });
    let calls: Vec<_> = calls.collect();
    // A refresh is in flight and at least one more call met the expired token (and so
    // waits on that refresh instead of starting its own).
    mock.until("a refresh request and a second 401", |m| {
        m.token_requests("refresh_token") == 1 && m.unauthorized_answers() >= before + 2
    })
    .await;
    mock.release_token_answers();
    let results = futures_join(calls.into_iter()).await;
    let ok = results
        .iter()
        .filter(|(status, out)| *status == 200 && out["status"] == 200)
        .count();
    assert_eq!(
        ok,
        200,
        "{:?}",
        results.iter().find(|(_, o)| o["status"] != 200)
    );
    assert_eq!(mock.token_requests("refresh_token"), 1);
    assert!(!mock.grant_revoked(), "no refresh token was used twice");
}

async fn futures_join(
    handles: impl Iterator<Item = tokio::task::JoinHandle<(u16, Value)>>,
) -> Vec<(u16, Value)> {
    let mut out = Vec::new();
    for h in handles.collect::<Vec<_>>() {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn a_restart_during_a_refresh_keeps_the_newest_refresh_token() {
    let dir = tempfile::tempdir().unwrap();
    let mock = OAuthMock::start(provider_config()).await;
    let (host, clock) = connected(dir.path(), &mock).await;
    mock.hold_token_answers();
    clock.advance(MIN_TOKEN_AGE);
    mock.expire_access_tokens();
    let api = host.api.clone();
    let url = format!("{}/api/data", mock.origin());
    let in_flight = tokio::spawn(async move {
        api.invoke("fetch", &json!({"url": url, "connection": "prov_main"}))
            .await
    });
    mock.until("a refresh request", |m| {
        m.token_requests("refresh_token") == 1
    })
    .await;
    // Stop while the provider is answering: the refresh finishes and is stored first.
    let restart = host.restart();
    tokio::pin!(restart);
    // The first poll asks the server to stop; it then waits for the call in flight.
    assert!(futures_util::poll!(restart.as_mut()).is_pending());
    mock.release_token_answers();
    let host = restart.await;
    let (status, out) = in_flight.await.unwrap();
    assert_eq!((status, &out["status"]), (200, &json!(200)), "{out}");
    mock.set_redirect_uri(&format!("{}/oauth/callback", host.api.base()));

    // The next refresh uses the newest refresh token: the provider detects no reuse.
    clock.advance(MIN_TOKEN_AGE);
    mock.expire_access_tokens();
    assert_eq!(call_api(&host.api, &mock, "/api/data").await["status"], 200);
    assert_eq!(mock.token_requests("refresh_token"), 2);
    assert!(!mock.grant_revoked());
}

#[tokio::test]
async fn invalid_grant_needs_reconnect_and_stops_refreshing() {
    let dir = tempfile::tempdir().unwrap();
    let mock = OAuthMock::start(provider_config()).await;
    let (host, clock) = connected(dir.path(), &mock).await;
    let api = &host.api;
    clock.advance(MIN_TOKEN_AGE);
    mock.revoke_grant();
    let out = call_api(api, &mock, "/api/data").await;
    assert_eq!(out["error"]["kind"], "needs-reconnect", "{out}");
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("invalid_grant"),
        "{out}"
    );
    let view = api.connection("prov_main").await;
    assert_eq!(view.status, "needs_reconnect", "{view:?}");
    let events: Vec<&str> = view.history.iter().map(|h| h.event.as_str()).collect();
    assert_eq!(
        events,
        ["created", "connected", "needs_reconnect"],
        "{view:?}"
    );
    assert!(
        view.status_reason
            .as_deref()
            .unwrap()
            .contains("invalid_grant")
    );
    let (tokens, api_calls) = (mock.token_requests("refresh_token"), mock.api_requests());
    assert_eq!(tokens, 1);
    for _ in 0..3 {
        let out = call_api(api, &mock, "/api/data").await;
        assert_eq!(out["error"]["kind"], "needs-reconnect", "{out}");
    }
    assert_eq!(
        mock.token_requests("refresh_token"),
        tokens,
        "no more refreshes"
    );
    assert_eq!(mock.api_requests(), api_calls, "the provider is not called");

    // Connecting again restores it.
    let start = start_connect(api, "prov_main").await;
    assert_eq!(browser_signs_in(&start).await.0, 200);
    assert_eq!(call_api(api, &mock, "/api/data").await["status"], 200);
}

#[tokio::test]
async fn a_token_endpoint_down_before_expiry_keeps_the_valid_token_then_backs_off() {
    let dir = tempfile::tempdir().unwrap();
    let mock = OAuthMock::start(provider_config()).await;
    let (host, clock) = connected(dir.path(), &mock).await;
    let api = &host.api;
    mock.fail_next_token_requests(10, 503);
    // 1.7 s of validity left: the refresh before expiry fails, and the call goes out
    // with the token that is still valid.
    clock.advance(Duration::from_secs(3600) - Duration::from_millis(1700));
    let api_before = mock.api_requests();
    let out = call_api(api, &mock, "/api/data").await;
    assert_eq!(out["status"], 200, "{out}");
    assert_eq!(mock.token_requests("refresh_token"), 1);
    assert_eq!(mock.api_requests(), api_before + 1);
    // Backing off: the provider is left alone, the API still reached.
    let out = call_api(api, &mock, "/api/data").await;
    assert_eq!(out["status"], 200, "{out}");
    assert_eq!(mock.token_requests("refresh_token"), 1);
    // Expired for the host: now the calls fail, without reaching the API.
    clock.advance(Duration::from_secs(3));
    let api_before = mock.api_requests();
    let out = call_api(api, &mock, "/api/data").await;
    assert_eq!(out["error"]["kind"], "transport", "{out}");
    assert_eq!(mock.token_requests("refresh_token"), 2);
    // Within the back-off window the provider is left alone.
    let out = call_api(api, &mock, "/api/data").await;
    assert_eq!(out["error"]["kind"], "transport", "{out}");
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("next try"),
        "{out}"
    );
    assert_eq!(mock.token_requests("refresh_token"), 2);
    assert_eq!(mock.api_requests(), api_before);
    let view = api.connection("prov_main").await;
    assert_eq!(
        view.status, "connected",
        "a transient failure is not a revocation"
    );
}

#[tokio::test]
async fn a_401_no_refresh_cures_reaches_the_function_with_one_refresh_per_window() {
    let dir = tempfile::tempdir().unwrap();
    let mock = OAuthMock::start(provider_config()).await;
    let (host, clock) = connected(dir.path(), &mock).await;
    let api = &host.api;
    // Fresh tokens: the API's 401 is not about them; no refresh, the 401 is the answer.
    let out = call_api(api, &mock, "/api/unauthorized").await;
    assert_eq!(out["status"], 401, "{out}");
    assert_eq!(mock.token_requests("refresh_token"), 0);
    // Old enough: one refresh, one retry; then a storm of 401s refreshes nothing.
    clock.advance(MIN_TOKEN_AGE);
    let api_before = mock.api_requests();
    for _ in 0..10 {
        let out = call_api(api, &mock, "/api/unauthorized").await;
        assert_eq!(out["status"], 401, "{out}");
        assert!(
            out["body"].as_str().unwrap().contains("insufficient_scope"),
            "{out}"
        );
    }
    assert_eq!(mock.token_requests("refresh_token"), 1);
    assert_eq!(mock.api_requests(), api_before + 11, "one retry in all");
    // The next window allows one more.
    clock.advance(MIN_TOKEN_AGE);
    for _ in 0..3 {
        assert_eq!(
            call_api(api, &mock, "/api/unauthorized").await["status"],
            401
        );
    }
    assert_eq!(mock.token_requests("refresh_token"), 2);
    assert!(!mock.grant_revoked());
    // The tokens still work where the API accepts them.
    assert_eq!(call_api(api, &mock, "/api/data").await["status"], 200);
}

#[tokio::test]
async fn a_provider_quoting_the_client_secret_never_reaches_the_client() {
    // Characters that each encoding writes differently.
    const SECRET: &str = "cs/CANARY+q=1&x \"y\"";
    let form: String = url::form_urlencoded::byte_serialize(SECRET.as_bytes()).collect();
    let escaped = serde_json::to_string(SECRET).unwrap();
    let quoted = format!("you sent {SECRET} ({form}) or {escaped}");
    let mock = OAuthMock::start(OAuthConfig {
        client_secret: "the-registered-one".into(),
        client_auth: ClientAuth::Body,
        error_description: Some(quoted),
        ..OAuthConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (host, clock) = host_with_clock(dir.path()).await;
    let api = &host.api;
    api.deploy_ok("fetch", FETCH, "").await;
    let mut svc = service("machine", &mock, "client_credentials", "request_body");
    svc["client_secret"] = json!(SECRET);
    api.create_service(&svc).await;
    api.create_connection("prov_main", "machine", &json!({}))
        .await;
    let mut seen = Vec::new();
    // At connect: token_request_failed.
    let (status, out) = api
        .post_json("/api/v1/connections/prov_main/connect", &json!({}))
        .await;
    assert_eq!(status, 400, "{out}");
    assert_eq!(out["error"]["code"], "token_request_failed", "{out}");
    assert!(out.to_string().contains("[redacted]"), "{out}");
    seen.push(out.to_string());
    // At a refresh: the function's error, the connection's reason and history.
    mock.set_config(|c| c.client_secret = SECRET.into());
    let (status, out) = api
        .post_json("/api/v1/connections/prov_main/connect", &json!({}))
        .await;
    assert_eq!(status, 200, "{out}");
    api.grant("fetch", "prov_main").await;
    mock.set_config(|c| c.client_secret = "rotated-at-the-provider".into());
    clock.advance(Duration::from_secs(3600));
    let (_, out) = api
        .invoke(
            "fetch",
            &json!({"url": format!("{}/api/data", mock.origin()), "connection": "prov_main"}),
        )
        .await;
    assert_eq!(out["error"]["kind"], "needs-reconnect", "{out}");
    assert!(out.to_string().contains("invalid_client"), "{out}");
    seen.push(out.to_string());
    let (_, view) = api.get("/api/v1/connections/prov_main").await;
    assert_eq!(view["status"], "needs_reconnect", "{view}");
    seen.push(view.to_string());
    seen.push(api.get("/api/v1/functions/fetch/logs").await.1.to_string());
    seen.push(captured_logs());
    // Other tests' logs share the capture: look for this secret's forms only.
    let inner = &escaped[1..escaped.len() - 1];
    for text in &seen {
        for needle in [SECRET, form.as_str(), inner, "CANARY+q", "CANARY%2Bq"] {
            assert!(!text.contains(needle), "the client secret leaked: {text}");
        }
    }
}

#[tokio::test]
async fn bad_states_browsers_and_denied_consent_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mock = OAuthMock::start(provider_config()).await;
    let (host, _clock) = connected(dir.path(), &mock).await;
    let api = &host.api;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = api.base();

    // Unknown state.
    let r = http
        .get(format!("{base}/oauth/callback?state=nope&code=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("unknown or was already used")
    );

    // A state replayed after its flow completed.
    let start = start_connect(api, "prov_main").await;
    let r = http.get(&start).send().await.unwrap();
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let provider = r.headers()["location"].to_str().unwrap().to_owned();
    let r = http.get(&provider).send().await.unwrap();
    let back = r.headers()["location"].to_str().unwrap().to_owned();
    // Another browser (no cookie, or a cookie of its own) cannot complete it ...
    let (name, _) = cookie.split_once('=').unwrap();
    for other in [
        None,
        Some(format!("{name}=forged")),
        Some("switchboard_oauth=x".into()),
    ] {
        let mut r = http.get(&back);
        if let Some(c) = other {
            r = r.header("cookie", c);
        }
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), 400);
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("not started in this browser")
        );
    }
    // ... and those attempts did not use the state up (issue 11 item 14): the browser
    // that started it completes it, once.
    let r = http
        .get(&back)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = http
        .get(&back)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("already used"));
    // The start link works once.
    let start = start_connect(api, "prov_main").await;
    assert_eq!(http.get(&start).send().await.unwrap().status(), 302);
    let r = http.get(&start).send().await.unwrap();
    assert_eq!(r.status(), 400);

    // A wrong redirect URI is refused by the provider: nothing comes back.
    mock.set_redirect_uri("https://elsewhere.example/cb");
    let start = start_connect(api, "prov_main").await;
    let r = http.get(&start).send().await.unwrap();
    let provider = r.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(http.get(&provider).send().await.unwrap().status(), 400);
    mock.set_redirect_uri(&format!("{base}/oauth/callback"));

    // Denied consent: the page says so and the connection records why.
    mock.set_config(|c| c.deny_consent = true);
    let start = start_connect(api, "prov_main").await;
    let (status, page) = browser_signs_in(&start).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("access_denied"), "{page}");
    let (_, view) = api.get("/api/v1/connections/prov_main").await;
    assert!(
        view["status_reason"]
            .as_str()
            .unwrap()
            .contains("access_denied"),
        "{view}"
    );
    let last = view["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["event"], "failed", "{view}");
    assert!(last["reason"].as_str().unwrap().contains("access_denied"));
    assert_eq!(
        view["status"], "revoked",
        "connecting again revoked the earlier tokens (issue 11 item 6)"
    );
    assert_eq!(
        mock.token_requests("authorization_code"),
        2,
        "no code was exchanged but the one the right browser brought back"
    );
}

#[tokio::test]
async fn client_credentials_connect_without_a_browser_and_renew() {
    let dir = tempfile::tempdir().unwrap();
    let mock = OAuthMock::start(OAuthConfig {
        client_auth: ClientAuth::Body,
        ..provider_config()
    })
    .await;
    let (host, clock) = host_with_clock(dir.path()).await;
    let api = &host.api;
    api.deploy_ok("fetch", FETCH, "").await;
    api.create_service(&service(
        "machine",
        &mock,
        "client_credentials",
        "request_body",
    ))
    .await;
    api.create_connection("prov_main", "machine", &json!({}))
        .await;
    let (status, out) = api
        .post_json("/api/v1/connections/prov_main/connect", &json!({}))
        .await;
    assert_eq!(
        (status, out["status"].as_str()),
        (200, Some("connected")),
        "{out}"
    );
    assert!(out.get("authorize_url").is_none());
    assert_eq!(mock.token_requests("client_credentials"), 1);
    api.grant("fetch", "prov_main").await;
    assert_eq!(call_api(api, &mock, "/api/data").await["status"], 200);
    clock.advance(MIN_TOKEN_AGE);
    mock.expire_access_tokens();
    assert_eq!(call_api(api, &mock, "/api/data").await["status"], 200);
    assert_eq!(mock.token_requests("client_credentials"), 2);

    // A wrong client secret is found at connect.
    let mut bad = service("machine2", &mock, "client_credentials", "request_body");
    bad["client_secret"] = json!("bad-secret-CANARY-2");
    api.create_service(&bad).await;
    api.create_connection("bad_conn", "machine2", &json!({}))
        .await;
    let (status, out) = api
        .post_json("/api/v1/connections/bad_conn/connect", &json!({}))
        .await;
    assert_eq!(status, 400, "{out}");
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("invalid_client"),
        "{out}"
    );
    assert!(!out.to_string().contains("CANARY"), "{out}");
}

#[tokio::test]
async fn revoke_revokes_at_the_provider_and_tokens_appear_nowhere() {
    let dir = tempfile::tempdir().unwrap();
    let mock = OAuthMock::start(provider_config()).await;
    let (host, _clock) = connected(dir.path(), &mock).await;
    let api = host.api.clone();
    let out = call_api(&api, &mock, "/api/echo").await;
    assert_eq!(out["status"], 200, "{out}");
    let refresh = mock.current_refresh_token().unwrap();
    let mut seen = vec![out];
    for path in [
        "/api/v1/services",
        "/api/v1/services/prov",
        "/api/v1/connections",
        "/api/v1/connections/prov_main",
        "/api/v1/connections/prov_main/activity",
        "/api/v1/functions/fetch/logs",
    ] {
        seen.push(api.get(path).await.1);
    }
    let echoed = seen[0]["body"].as_str().unwrap().to_owned();
    assert!(echoed.contains("[redacted]"), "{echoed}");
    for v in &seen {
        let text = v.to_string();
        assert!(
            !has_token(&text, "at-") && !text.contains(&refresh),
            "token leaked: {text}"
        );
        assert!(
            !text.contains(CLIENT_SECRET),
            "client secret leaked: {text}"
        );
    }

    let (status, view) = api
        .post("/api/v1/connections/prov_main/revoke", vec![])
        .await;
    assert_eq!(
        (status, view["status"].as_str()),
        (200, Some("revoked")),
        "{view}"
    );
    assert_eq!(
        mock.revocations(),
        vec![(refresh.clone(), Some("refresh_token".to_owned()))]
    );
    assert!(mock.grant_revoked());
    let logs = captured_logs();
    assert!(!logs.contains(&refresh) && !logs.contains(CLIENT_SECRET));

    host.running.stop().await.unwrap();
    let mut raw = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        raw.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    for needle in [refresh.as_bytes(), CLIENT_SECRET.as_bytes()] {
        assert!(!raw.windows(needle.len()).any(|w| w == needle));
    }
}

/// Whether `text` holds a mock token: `prefix` and 43 base64url characters.
fn has_token(text: &str, prefix: &str) -> bool {
    text.match_indices(prefix).any(|(i, _)| {
        let rest = &text[i + prefix.len()..];
        rest.len() >= 43
            && rest[..43]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

#[tokio::test]
async fn an_expired_state_is_refused() {
    const TTL: Duration = Duration::from_secs(60);
    let dir = tempfile::tempdir().unwrap();
    let mock = OAuthMock::start(provider_config()).await;
    // Sign-in expiry reads the injected clock: the test moves it past the lifetime.
    let clock = Arc::new(ManualClock::default());
    let host = TestHost::start_with(
        dir.path(),
        HostOptions {
            oauth_flow_ttl: Some(TTL),
            clock: Some(clock.clone()),
            ..Default::default()
        },
    )
    .await;
    mock.set_redirect_uri(&format!("{}/oauth/callback", host.api.base()));
    let api = &host.api;
    api.create_service(&service("prov", &mock, "authorization_code", "basic"))
        .await;
    api.create_connection("prov_main", "prov", &json!({})).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // Opened too late.
    let start = start_connect(api, "prov_main").await;
    clock.advance(TTL);
    let r = http.get(&start).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("expired"));

    // Came back too late.
    let start = start_connect(api, "prov_main").await;
    let r = http.get(&start).send().await.unwrap();
    assert_eq!(r.status(), 302);
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let provider = r.headers()["location"].to_str().unwrap().to_owned();
    let back = http.get(&provider).send().await.unwrap().headers()["location"]
        .to_str()
        .unwrap()
        .to_owned();
    clock.advance(TTL);
    let r = http
        .get(&back)
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("expired"));
    assert_eq!(
        mock.token_requests("authorization_code"),
        0,
        "no code was exchanged"
    );
    assert_eq!(api.connection("prov_main").await.status, "not_connected");
}

/// Issue 11 item 5: without `--allow-private-networks`, the host's own token requests get
/// the guard functions get. An IP literal never reaches the DNS resolver, so before the
/// fix the client secret went to `http://127.0.0.1:P/token` in a Basic header.
#[tokio::test]
async fn token_requests_to_private_literals_send_nothing_without_allow_private_networks() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start_with(
        dir.path(),
        HostOptions {
            allow_private_networks: false,
            ..Default::default()
        },
    )
    .await;
    let api = &host.api;
    let wire = switchboard_tests::Tripwire::start().await;
    let port = wire.port();
    for (i, (literal, client_auth)) in [
        ("127.0.0.1", "basic"),
        ("127.0.0.1", "request_body"),
        ("[::ffff:127.0.0.1]", "basic"),
        ("[::127.0.0.1]", "basic"),
        ("[::1]", "basic"),
    ]
    .into_iter()
    .enumerate()
    {
        let origin = format!("http://{literal}:{port}");
        let link = format!("loop{i}");
        api.create_service(&json!({
            "link_name": link,
            "display_name": "Loopback provider",
            "auth": {
                "type": "oauth2",
                "client_id": "test-client",
                "access_token_url": format!("{origin}/token"),
                "revoke_url": format!("{origin}/revoke"),
                "grant_type": "client_credentials",
                "client_auth": client_auth,
            },
            "client_secret": CLIENT_SECRET,
            "api_origins": ["https://api.example.com"],
        }))
        .await;
        let conn = format!("{link}_main");
        api.create_connection(&conn, &link, &json!({})).await;
        let (status, out) = api
            .post_json(&format!("/api/v1/connections/{conn}/connect"), &json!({}))
            .await;
        assert_eq!(status, 400, "{literal}: {out}");
        assert_eq!(out["error"]["code"], "token_request_failed", "{out}");
        let message = out["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("token endpoint is not allowed")
                && message.contains("--allow-private-networks"),
            "{literal}: {message}"
        );
        assert!(!message.contains("CANARY"), "{message}");
        let view = api.connection(&conn).await;
        assert_eq!(view.status, "not_connected", "{view:?}");
    }
    assert_eq!(
        wire.hits(),
        0,
        "a token request reached the loopback listener"
    );
}

/// Issue 11 item 14 (a): two sign-ins started in one browser both complete. Before the
/// fix both used one cookie name, so the second start replaced the first one's cookie
/// and the first callback was "not started in this browser".
#[tokio::test]
async fn two_sign_ins_started_in_one_browser_both_complete() {
    let dir = tempfile::tempdir().unwrap();
    let mock = OAuthMock::start(provider_config()).await;
    let host = TestHost::start(dir.path()).await;
    mock.set_redirect_uri(&format!("{}/oauth/callback", host.api.base()));
    let api = &host.api;
    api.create_service(&service("prov", &mock, "authorization_code", "basic"))
        .await;
    api.create_connection("prov_a", "prov", &json!({})).await;
    api.create_connection("prov_b", "prov", &json!({})).await;
    let http = switchboard_tests::browser::client();
    // The browser's cookie jar: one value per cookie name, a later one replaces.
    let mut jar = std::collections::BTreeMap::new();
    let mut back = Vec::new();
    for link in ["prov_a", "prov_b"] {
        let start = start_connect(api, link).await;
        let (cookie, to_provider) = switchboard_tests::browser::open_start(&start).await;
        let (name, value) = cookie.split_once('=').unwrap();
        jar.insert(name.to_owned(), value.to_owned());
        let r = http.get(&to_provider).send().await.unwrap();
        assert_eq!(r.status(), 302);
        back.push(r.headers()["location"].to_str().unwrap().to_owned());
    }
    let cookies = jar
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    for (link, url) in ["prov_a", "prov_b"].iter().zip(&back) {
        let r = http
            .get(url)
            .header("cookie", &cookies)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{link}: {}", r.text().await.unwrap());
        let view = api.connection(link).await;
        assert_eq!(view.status, "connected", "{view:?}");
    }
}

/// Issue 11 item 6: every way the host forgets a connection's tokens revokes them at the
/// provider (RFC 7009), as `revoke` does: deleting the connection, editing or deleting
/// its service, and connecting it again. Before the fix none of these called
/// `revoke_url`, and the provider kept the refresh token live.
#[tokio::test]
async fn every_path_that_forgets_tokens_revokes_them_at_the_provider() {
    for path in [
        "connection delete",
        "service edit",
        "service delete",
        "connect again",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mock = OAuthMock::start(provider_config()).await;
        let (host, _clock) = connected(dir.path(), &mock).await;
        let api = &host.api;
        let refresh = mock.current_refresh_token().unwrap();
        assert!(mock.revocations().is_empty());
        match path {
            "connection delete" => {
                let (status, out) = api.delete("/api/v1/connections/prov_main").await;
                assert_eq!(status, 204, "{out}");
            }
            "service edit" => {
                let mut edited = service("prov", &mock, "authorization_code", "basic");
                edited["display_name"] = json!("Provider, renamed");
                let (status, out) = api.put_json("/api/v1/services/prov", &edited).await;
                assert_eq!(status, 200, "{out}");
                assert_eq!(out["revoked_connections"], json!(["prov_main"]), "{out}");
            }
            "service delete" => {
                let (status, out) = api.delete("/api/v1/services/prov").await;
                assert_eq!(status, 200, "{out}");
                assert_eq!(out["revoked_connections"], json!(["prov_main"]), "{out}");
            }
            "connect again" => {
                let start = start_connect(api, "prov_main").await;
                let (_, view) = api.get("/api/v1/connections/prov_main").await;
                assert_eq!(view["status"], "revoked", "{path}: {view}");
                assert_eq!(view["credentials"], json!([]), "{view}");
                assert_eq!(
                    mock.revocations(),
                    vec![(refresh.clone(), Some("refresh_token".to_owned()))],
                    "{path}"
                );
                // The new sign-in is a new grant, untouched.
                let (status, page) = browser_signs_in(&start).await;
                assert_eq!(status, 200, "{page}");
                assert!(!mock.grant_revoked(), "the new grant is live");
                assert_eq!(call_api(api, &mock, "/api/data").await["status"], 200);
            }
            _ => unreachable!(),
        }
        assert_eq!(
            mock.revocations(),
            vec![(refresh.clone(), Some("refresh_token".to_owned()))],
            "{path}"
        );
        if path != "connect again" {
            assert!(mock.grant_revoked(), "{path}");
            let (_, view) = api.get("/api/v1/connections/prov_main").await;
            if path != "connection delete" {
                assert_eq!(view["status"], "revoked", "{path}: {view}");
            }
        }
        let logs = captured_logs();
        assert!(!logs.contains(&refresh) && !logs.contains(CLIENT_SECRET));
    }
}

/// Issue 11 item 5, the other token requests: a host started without
/// `--allow-private-networks` over a connection made with it neither refreshes at nor
/// revokes at a loopback provider, and says why.
#[tokio::test]
async fn refresh_and_revocation_requests_get_the_guard_too() {
    let dir = tempfile::tempdir().unwrap();
    let mock = OAuthMock::start(provider_config()).await;
    // Access tokens that are due for a refresh as soon as they are issued.
    mock.set_config(|c| c.access_ttl = Some(Duration::ZERO));
    let (host, _clock) = connected(dir.path(), &mock).await;
    host.running.stop().await.unwrap();
    let host = TestHost::start_with(
        dir.path(),
        HostOptions {
            allow_private_networks: false,
            ..Default::default()
        },
    )
    .await;
    let api = &host.api;
    let (status, out) = api
        .invoke(
            "fetch",
            &json!({"url": format!("{}/api/data", mock.origin()), "connection": "prov_main"}),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    let message = out["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("token endpoint is not allowed")
            && message.contains("--allow-private-networks"),
        "{out}"
    );
    assert!(!out.to_string().contains(CLIENT_SECRET), "{out}");
    assert_eq!(mock.token_requests("refresh_token"), 0);
    assert_eq!(mock.api_requests(), 0);

    let (status, view) = api
        .post("/api/v1/connections/prov_main/revoke", vec![])
        .await;
    assert_eq!(
        (status, view["status"].as_str()),
        (200, Some("revoked")),
        "{view}"
    );
    assert!(
        mock.revocations().is_empty(),
        "the revocation went to loopback"
    );
    assert!(!mock.grant_revoked());
}

/// Connecting again a connection whose service has no `revoke_url`: nothing can be
/// revoked, so its tokens stand until the new sign-in replaces them.
#[tokio::test]
async fn connecting_again_without_a_revocation_endpoint_keeps_the_tokens_until_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let mock = OAuthMock::start(provider_config()).await;
    let host = TestHost::start(dir.path()).await;
    mock.set_redirect_uri(&format!("{}/oauth/callback", host.api.base()));
    let api = &host.api;
    api.deploy_ok("fetch", FETCH, "").await;
    let mut def = service("prov", &mock, "authorization_code", "basic");
    def["auth"].as_object_mut().unwrap().remove("revoke_url");
    api.create_service(&def).await;
    api.create_connection("prov_main", "prov", &json!({})).await;
    let start = start_connect(api, "prov_main").await;
    assert_eq!(browser_signs_in(&start).await.0, 200);
    api.grant("fetch", "prov_main").await;
    let _again = start_connect(api, "prov_main").await;
    let view = api.connection("prov_main").await;
    assert_eq!(view.status, "connected", "{view:?}");
    assert_eq!(call_api(api, &mock, "/api/data").await["status"], 200);
    assert!(mock.revocations().is_empty());
}
