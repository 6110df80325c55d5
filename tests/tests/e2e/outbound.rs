//! invoke-url without a connection: allowed origins, redirects, private
//! networks, response size, unknown connections; and content encoding, with and without.

use serde_json::json;
use switchboard_tests::{HostOptions, Mock, TestHost};

use crate::FETCH;

async fn fetch_host(dir: &std::path::Path, allow: &[&str], opts: HostOptions) -> TestHost {
    let host = TestHost::start_with(dir, opts).await;
    let query: Vec<String> = allow.iter().map(|o| format!("allow_host={o}")).collect();
    host.api
        .deploy_ok("fetch", FETCH, &format!("?{}", query.join("&")))
        .await;
    host
}

#[tokio::test]
async fn an_allowed_origin_is_reached_with_method_headers_and_body() {
    let dir = tempfile::tempdir().unwrap();
    let mock = Mock::start().await;
    let host = fetch_host(dir.path(), &[&mock.origin()], HostOptions::default()).await;
    let (status, out) = host
        .api
        .invoke(
            "fetch",
            &json!({
                "url": format!("{}/v1/items?q=1", mock.origin()),
                "method": "POST",
                "headers": [["x-trace", "abc"], ["content-type", "application/json"]],
                "body": "{\"a\":1}",
            }),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["status"], 200, "{out}");
    let body: serde_json::Value = serde_json::from_str(out["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["path"], "/v1/items");
    let received = mock.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].method, "POST");
    assert_eq!(received[0].uri, "/v1/items?q=1");
    assert_eq!(received[0].body, b"{\"a\":1}");
    assert!(
        received[0]
            .headers
            .contains(&("x-trace".into(), "abc".into()))
    );
}

#[tokio::test]
async fn a_disallowed_origin_is_refused_and_receives_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let allowed = Mock::start().await;
    let other = Mock::start().await;
    let host = fetch_host(dir.path(), &[&allowed.origin()], HostOptions::default()).await;
    let (status, out) = host
        .api
        .invoke(
            "fetch",
            &json!({ "url": format!("{}/steal", other.origin()) }),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["error"]["kind"], "host-not-allowed", "{out}");
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--allow-host"),
        "{out}"
    );
    assert!(other.received().is_empty());
    assert!(allowed.received().is_empty());

    // With no allowed hosts at all, nothing is reachable.
    let dir = tempfile::tempdir().unwrap();
    let host = fetch_host(dir.path(), &[], HostOptions::default()).await;
    let (_, out) = host
        .api
        .invoke(
            "fetch",
            &json!({ "url": format!("{}/x", allowed.origin()) }),
        )
        .await;
    assert_eq!(out["error"]["kind"], "host-not-allowed", "{out}");
    assert!(allowed.received().is_empty());
}

#[tokio::test]
async fn redirects_are_checked_hop_by_hop() {
    let dir = tempfile::tempdir().unwrap();
    let allowed = Mock::start().await;
    let other = Mock::start().await;
    let host = fetch_host(dir.path(), &[&allowed.origin()], HostOptions::default()).await;

    // Within the allowed origin: followed.
    let same = format!("{}/redirect?to=/final", allowed.origin());
    let (_, out) = host.api.invoke("fetch", &json!({ "url": same })).await;
    assert_eq!(out["status"], 200, "{out}");
    assert!(out["body"].as_str().unwrap().contains("/final"), "{out}");
    assert_eq!(allowed.received().len(), 2);

    // To another origin: refused, and the other origin receives nothing.
    let cross = format!(
        "{}/redirect?to={}/landing",
        allowed.origin(),
        other.origin()
    );
    let (_, out) = host.api.invoke("fetch", &json!({ "url": cross })).await;
    assert_eq!(out["error"]["kind"], "host-not-allowed", "{out}");
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("redirect"),
        "{out}"
    );
    assert!(other.received().is_empty());
}

#[tokio::test]
async fn private_addresses_are_refused_unless_the_operator_allows_them() {
    let dir = tempfile::tempdir().unwrap();
    let mock = Mock::start().await;
    let port = mock.addr.port();
    let by_name = format!("http://localhost:{port}");
    let opts = HostOptions {
        allow_private_networks: false,
        ..HostOptions::default()
    };
    let host = fetch_host(dir.path(), &[&mock.origin(), &by_name], opts).await;
    for url in [format!("{}/x", mock.origin()), format!("{by_name}/x")] {
        let (_, out) = host.api.invoke("fetch", &json!({ "url": url })).await;
        assert_eq!(out["error"]["kind"], "host-not-allowed", "{url}: {out}");
        assert!(
            out["error"]["message"]
                .as_str()
                .unwrap()
                .contains("--allow-private-networks"),
            "{out}"
        );
    }
    assert!(mock.received().is_empty());
}

#[tokio::test]
async fn oversized_responses_and_unknown_connections_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mock = Mock::start().await;
    let host = fetch_host(dir.path(), &[&mock.origin()], HostOptions::default()).await;

    let big = format!("{}/big?bytes={}", mock.origin(), 9 * 1024 * 1024);
    let (_, out) = host.api.invoke("fetch", &json!({ "url": big })).await;
    assert_eq!(out["error"]["kind"], "limit-exceeded", "{out}");

    let small = format!("{}/big?bytes=1000", mock.origin());
    let (_, out) = host.api.invoke("fetch", &json!({ "url": small })).await;
    assert_eq!(out["body"].as_str().unwrap().len(), 1000);

    let (_, out) = host
        .api
        .invoke(
            "fetch",
            &json!({ "url": format!("{}/x", mock.origin()), "connection": "crm" }),
        )
        .await;
    assert_eq!(out["error"]["kind"], "unknown-connection", "{out}");
    assert!(out["error"]["message"].as_str().unwrap().contains("crm"));

    let (_, out) = host
        .api
        .invoke(
            "fetch",
            &json!({ "url": format!("{}/x", mock.origin()), "headers": [["Host", "evil"]] }),
        )
        .await;
    assert_eq!(out["error"]["kind"], "invalid-request", "{out}");
    // Only the two size requests reached the mock; the refused ones sent nothing.
    assert_eq!(mock.received().len(), 2);
}

/// An upstream that reflects the `api_key` query parameter it receives in a gzip body,
/// and records the `accept-encoding` it was asked for.
async fn gzip_reflector() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::Write as _;
    let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = asked.clone();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let log = log.clone();
        async move {
            let key = url::form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes())
                .find(|(k, _)| k == "api_key")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            log.lock().unwrap().push(
                req.headers()
                    .get("accept-encoding")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned(),
            );
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(format!("{{\"you_sent\":\"{key}\"}}").as_bytes())
                .unwrap();
            ([("content-encoding", "gzip")], gz.finish().unwrap())
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (origin, asked)
}

#[tokio::test]
async fn a_gzip_reflection_of_the_key_reaches_the_function_decoded_and_redacted() {
    const KEY: &str = "gz-CANARY-key";
    let dir = tempfile::tempdir().unwrap();
    let (origin, asked) = gzip_reflector().await;
    let host = fetch_host(dir.path(), &[&origin], HostOptions::default()).await;
    let api = &host.api;
    api.create_service(&json!({
        "link_name": "gzapi", "display_name": "Gzip API",
        "auth": {"type": "api_key", "params": [
            {"name": "api_key", "display_name": "Key", "param_type": "query"},
        ]},
        "api_origins": [origin],
    }))
    .await;
    api.create_connection("gzapi_main", "gzapi", &json!({}))
        .await;
    api.connect("gzapi_main", &json!({"values": {"api_key": KEY}}))
        .await;
    api.grant("fetch", "gzapi_main").await;

    // The function asks for gzip itself, hoping to inflate the raw key on its side.
    let (status, out) = api
        .invoke(
            "fetch",
            &json!({"url": format!("{origin}/me"), "connection": "gzapi_main",
                    "headers": [["Accept-Encoding", "gzip"]]}),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["status"], 200, "{out}");
    assert_eq!(out["body"], r#"{"you_sent":"[redacted]"}"#, "{out}");
    assert!(!out.to_string().contains("CANARY"), "{out}");
    let headers = out["headers"].as_array().unwrap();
    assert!(!headers.iter().any(|h| h[0] == "content-encoding"), "{out}");

    // Without a connection: decoded the same way.
    let (_, out) = api
        .invoke(
            "fetch",
            &json!({"url": format!("{origin}/me?api_key=public"),
                    "headers": [["accept-encoding", "br"]]}),
        )
        .await;
    assert_eq!(out["body"], r#"{"you_sent":"public"}"#, "{out}");
    assert_eq!(
        *asked.lock().unwrap(),
        ["gzip, deflate", "gzip, deflate"],
        "the host, not the function, chose the encodings"
    );
}
