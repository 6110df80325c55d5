//! OAuth 1.0a connections end to end: a real host, the real `fetch` plugin, and the
//! strict mock provider of `switchboard_tests::oauth1`, which verifies every signature
//! with its own code (request token, authorize, access token, API calls; nonce replay
//! and timestamp window enforced).

use serde_json::{Value, json};
use switchboard_tests::browser::{client, open_start, signs_in as browser_signs_in};
use switchboard_tests::oauth1::{OAuth1Config, OAuth1Mock};
use switchboard_tests::{Api, TestHost, captured_logs};

use crate::FETCH;

const CONSUMER_SECRET: &str = "cs-CANARY-oauth1-consumer";

async fn provider(method: &str, token_secret_prefix: &str) -> OAuth1Mock {
    OAuth1Mock::start(OAuth1Config {
        consumer_secret: CONSUMER_SECRET.into(),
        signature_method: method.into(),
        token_secret_prefix: token_secret_prefix.into(),
        ..OAuth1Config::default()
    })
    .await
}

fn service(link: &str, mock: &OAuth1Mock, param_type: &str, method: &str, secret: &str) -> Value {
    json!({
        "link_name": link,
        "display_name": "Photos",
        "auth": {
            "type": "oauth1",
            "consumer_key": "test-consumer",
            "request_token_url": format!("{}/oauth/request_token", mock.origin()),
            "authorize_url": format!("{}/oauth/authorize", mock.origin()),
            "access_token_url": format!("{}/oauth/access_token", mock.origin()),
            "param_type": param_type,
            "signature_method": method,
        },
        "client_secret": secret,
        "api_origins": [mock.origin()],
    })
}

async fn start_connect(api: &Api, link: &str) -> String {
    let start = api.start_sign_in(link).await;
    let view = api.connection(link).await;
    assert_eq!(view.status, "not_connected", "{view:?}");
    start
}

/// Creates service `link` and connection `{link}_main` on `mock`, connects it through
/// the browser flow and grants it to `fetch`.
async fn connect(api: &Api, link: &str, mock: &OAuth1Mock, param_type: &str, method: &str) {
    api.create_service(&service(link, mock, param_type, method, CONSUMER_SECRET))
        .await;
    let conn = format!("{link}_main");
    api.create_connection(&conn, link, &json!({})).await;
    let start = start_connect(api, &conn).await;
    assert!(
        start.starts_with(&format!("{}/oauth/start?state=", api.base())),
        "{start}"
    );
    let (status, page) = browser_signs_in(&start).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(&conn) && page.contains("connected"), "{page}");
    let view = api.connection(&conn).await;
    assert_eq!(view.status, "connected", "{view:?}");
    assert_eq!(view.credentials, ["token", "token_secret"]);
    api.grant("fetch", &conn).await;
}

async fn fetch(api: &Api, input: Value) -> Value {
    let (status, out) = api.invoke("fetch", &input).await;
    assert_eq!(status, 200, "{out}");
    out
}

fn answer(out: &Value) -> Value {
    assert_eq!(out["status"], 200, "{out}");
    serde_json::from_str(out["body"].as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn the_flow_connects_and_calls_are_signed_in_every_param_type() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let api = &host.api;
    api.deploy_ok("fetch", FETCH, "?max_requests=8").await;

    for (param_type, method) in [
        ("header", "HMAC-SHA1"),
        ("query", "HMAC-SHA256"),
        ("form", "PLAINTEXT"),
    ] {
        let mock = provider(method, "ts-").await;
        let link = format!("ph_{param_type}");
        connect(api, &link, &mock, param_type, method).await;
        let conn = format!("{link}_main");

        // GET with the request's own query parameters: signed, and twice (a fresh
        // nonce each time).
        let out = fetch(
            api,
            json!({"url": format!("{}/api/items?b=2&a=x%20y", mock.origin()),
                   "connection": conn, "count": 2}),
        )
        .await;
        let a = answer(&out);
        assert_eq!(a["placement"], param_type, "{a}");
        assert_eq!(a["signature_method"], method, "{a}");
        assert_eq!(a["signed_params"], json!([["b", "2"], ["a", "x y"]]), "{a}");

        // POST with a form body and a query: both are in the signature.
        let out = fetch(
            api,
            json!({"url": format!("{}/api/items?z=1", mock.origin()), "connection": conn,
                   "method": "POST",
                   "headers": [["content-type", "application/x-www-form-urlencoded"]],
                   "body": "name=a+b&n=%26"}),
        )
        .await;
        let a = answer(&out);
        assert_eq!(a["method"], "POST");
        assert_eq!(a["placement"], param_type, "{a}");
        assert_eq!(
            a["signed_params"],
            json!([["z", "1"], ["name", "a b"], ["n", "&"]]),
            "{a}"
        );
        assert_eq!(mock.api_requests(), 3, "{:?}", mock.refusals());
        assert!(mock.refusals().is_empty(), "{:?}", mock.refusals());

        // A function may not send protocol parameters of its own.
        let out = fetch(
            api,
            json!({"url": format!("{}/api/items?oauth_token=mine", mock.origin()),
                   "connection": conn}),
        )
        .await;
        assert_eq!(out["error"]["kind"], "invalid-request", "{out}");
        assert!(
            out["error"]["message"]
                .as_str()
                .unwrap()
                .contains("oauth_token")
        );
    }
}

#[tokio::test]
async fn a_wrong_consumer_secret_fails_at_the_request_token() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let api = &host.api;
    let mock = provider("HMAC-SHA1", "ts-").await;
    api.create_service(&service(
        "photos",
        &mock,
        "header",
        "HMAC-SHA1",
        "wrong-CANARY-secret",
    ))
    .await;
    api.create_connection("photos_main", "photos", &json!({}))
        .await;
    let (status, out) = api
        .post_json("/api/v1/connections/photos_main/connect", &json!({}))
        .await;
    assert_eq!(status, 400, "{out}");
    assert_eq!(out["error"]["code"], "token_request_failed", "{out}");
    let message = out["error"]["message"].as_str().unwrap();
    assert!(message.contains("refused the request token"), "{message}");
    assert!(message.contains("HTTP 401"), "{message}");
    assert!(message.contains("consumer key and secret"), "{message}");
    assert!(!message.contains("CANARY"), "{message}");
    assert_eq!(mock.refusals(), ["signature_invalid"]);
    assert_eq!(api.connection("photos_main").await.status, "not_connected");

    // Values at connect are refused for an oauth1 service.
    let (status, out) = api
        .post_json(
            "/api/v1/connections/photos_main/connect",
            &json!({"values": {"x": "y"}}),
        )
        .await;
    assert_eq!(status, 400, "{out}");
    assert!(out.to_string().contains("oauth1"), "{out}");
}

#[tokio::test]
async fn bad_callbacks_are_refused_plainly() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let api = &host.api;
    let mock = provider("HMAC-SHA1", "ts-").await;
    api.create_service(&service(
        "photos",
        &mock,
        "header",
        "HMAC-SHA1",
        CONSUMER_SECRET,
    ))
    .await;
    api.create_connection("photos_main", "photos", &json!({}))
        .await;

    // The provider's answer names another request token.
    let start = start_connect(api, "photos_main").await;
    let (cookie, to_provider) = open_start(&start).await;
    let r = client().get(&to_provider).send().await.unwrap();
    let back = r.headers()["location"].to_str().unwrap().to_owned();
    let mut forged = url::Url::parse(&back).unwrap();
    let pairs: Vec<(String, String)> = forged
        .query_pairs()
        .into_owned()
        .map(|(k, v)| {
            if k == "oauth_token" {
                (k, "rt-forged".to_owned())
            } else {
                (k, v)
            }
        })
        .collect();
    forged.query_pairs_mut().clear().extend_pairs(pairs);
    let r = client()
        .get(forged.as_str())
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let page = r.text().await.unwrap();
    assert!(page.contains("another request token"), "{page}");
    // The state was used up: the real answer is refused too.
    let r = client()
        .get(&back)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("already used"));

    // No verifier (the user said no).
    let start = start_connect(api, "photos_main").await;
    let (cookie, to_provider) = open_start(&start).await;
    let r = client().get(&to_provider).send().await.unwrap();
    let back = r.headers()["location"].to_str().unwrap().to_owned();
    let mut no_verifier = url::Url::parse(&back).unwrap();
    let pairs: Vec<(String, String)> = no_verifier
        .query_pairs()
        .into_owned()
        .filter(|(k, _)| k != "oauth_verifier")
        .collect();
    no_verifier.query_pairs_mut().clear().extend_pairs(pairs);
    let r = client()
        .get(no_verifier.as_str())
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("oauth_verifier"));

    // Another browser.
    let start = start_connect(api, "photos_main").await;
    let (_, to_provider) = open_start(&start).await;
    let r = client().get(&to_provider).send().await.unwrap();
    let back = r.headers()["location"].to_str().unwrap().to_owned();
    let r = client().get(&back).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("browser"));

    let view = api.connection("photos_main").await;
    assert_eq!(view.status, "not_connected", "{view:?}");
}

#[tokio::test]
async fn the_token_secret_appears_nowhere_and_revoke_erases_the_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let api = host.api.clone();
    api.deploy_ok("fetch", FETCH, "?max_requests=8").await;
    let mock = provider("HMAC-SHA1", "ts-CANARY-").await;
    connect(&api, "photos", &mock, "header", "HMAC-SHA1").await;
    let [(token, token_secret)]: [(String, String); 1] = mock.access_tokens().try_into().unwrap();
    assert!(token_secret.starts_with("ts-CANARY-"));

    // An upstream that echoes the request and the token secret back.
    let out = fetch(
        &api,
        json!({"url": format!("{}/api/echo", mock.origin()), "connection": "photos_main"}),
    )
    .await;
    let a = answer(&out);
    assert_eq!(a["token_secret"], "[redacted]", "{a}");
    assert_eq!(a["token"], "[redacted]", "{a}");
    let mut seen = vec![out];
    for path in [
        "/api/v1/services",
        "/api/v1/services/photos",
        "/api/v1/connections",
        "/api/v1/connections/photos_main",
        "/api/v1/connections/photos_main/activity",
        "/api/v1/functions/fetch/logs",
    ] {
        seen.push(api.get(path).await.1);
    }
    for v in &seen {
        let text = v.to_string();
        assert!(!text.contains("CANARY"), "secret leaked: {text}");
        assert!(!text.contains(&token), "token leaked: {text}");
    }

    let (status, view) = api
        .post("/api/v1/connections/photos_main/revoke", vec![])
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["status"], "revoked");
    assert_eq!(view["credentials"], json!([]));
    let out = fetch(
        &api,
        json!({"url": format!("{}/api/items", mock.origin()), "connection": "photos_main"}),
    )
    .await;
    assert_eq!(out["error"]["kind"], "needs-reconnect", "{out}");

    let logs = captured_logs();
    assert!(!logs.contains(&token_secret) && !logs.contains(CONSUMER_SECRET));
    host.running.stop().await.unwrap();
    let mut raw = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            raw.extend(std::fs::read(path).unwrap());
        }
    }
    for needle in [
        token_secret.as_bytes(),
        CONSUMER_SECRET.as_bytes(),
        b"CANARY",
    ] {
        assert!(!raw.windows(needle.len()).any(|w| w == needle));
    }
}

/// Issue 11 item 5: without `--allow-private-networks`, the request-token request (which
/// carries the consumer secret in the clear with PLAINTEXT) is not sent to a loopback
/// literal.
#[tokio::test]
async fn the_request_token_request_is_not_sent_to_a_private_literal() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start_with(
        dir.path(),
        switchboard_tests::HostOptions {
            allow_private_networks: false,
            ..Default::default()
        },
    )
    .await;
    let api = &host.api;
    let wire = switchboard_tests::Tripwire::start().await;
    let origin = format!("http://127.0.0.1:{}", wire.port());
    api.create_service(&json!({
        "link_name": "loop",
        "display_name": "Loopback provider",
        "auth": {
            "type": "oauth1",
            "consumer_key": "test-consumer",
            "request_token_url": format!("{origin}/oauth/request_token"),
            "authorize_url": format!("{origin}/oauth/authorize"),
            "access_token_url": format!("{origin}/oauth/access_token"),
            "param_type": "header",
            "signature_method": "PLAINTEXT",
        },
        "client_secret": CONSUMER_SECRET,
        "api_origins": ["https://api.example.com"],
    }))
    .await;
    api.create_connection("loop_main", "loop", &json!({})).await;
    let (status, out) = api
        .post_json("/api/v1/connections/loop_main/connect", &json!({}))
        .await;
    assert_eq!(status, 400, "{out}");
    assert_eq!(out["error"]["code"], "token_request_failed", "{out}");
    let message = out["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("request-token endpoint is not allowed")
            && message.contains("127.0.0.1")
            && message.contains("--allow-private-networks"),
        "{message}"
    );
    assert!(!message.contains("CANARY"), "{message}");
    assert_eq!(wire.hits(), 0, "the request-token request reached loopback");
}

/// Issue 11 item 8: a query with `[ ]` (and the other characters RFC 3986 does not allow
/// raw) reaches a strict provider percent-encoded, and the signature verifies; before
/// the fix the raw `[` was sent and refused.
#[tokio::test]
async fn brackets_in_a_query_are_encoded_and_signed() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let api = &host.api;
    api.deploy_ok("fetch", FETCH, "?max_requests=8").await;
    for (param_type, method) in [("header", "HMAC-SHA1"), ("query", "HMAC-SHA256")] {
        let mock = provider(method, "ts-").await;
        let link = format!("br_{param_type}");
        connect(api, &link, &mock, param_type, method).await;
        let out = fetch(
            api,
            json!({"url": format!("{}/api/items?filter[name]=a|b&ids[]=1&ids[]=2", mock.origin()),
                   "connection": format!("{link}_main")}),
        )
        .await;
        assert!(mock.refusals().is_empty(), "{:?}", mock.refusals());
        let a = answer(&out);
        assert_eq!(
            a["signed_params"],
            json!([["filter[name]", "a|b"], ["ids[]", "1"], ["ids[]", "2"]]),
            "{a}"
        );
    }
}
