//! Handlers called through the router, without a socket.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::server::{Host, ServeConfig};

struct Fixture {
    router: axum::Router,
    token: String,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServeConfig::new(dir.path());
    config.runtime.max_concurrency = 4;
    config.runtime.max_memory_mib = 64;
    let host = Host::open(config).await.unwrap();
    Fixture {
        router: host.router(),
        token: host.token().secret().to_owned(),
        _dir: dir,
    }
}

impl Fixture {
    async fn call(
        &self,
        method: &str,
        uri: &str,
        token: Option<&str>,
        body: Vec<u8>,
    ) -> (StatusCode, serde_json::Value) {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let response = self
            .router
            .clone()
            .oneshot(req.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        (status, json)
    }

    async fn authed(
        &self,
        method: &str,
        uri: &str,
        body: Vec<u8>,
    ) -> (StatusCode, serde_json::Value) {
        let token = self.token.clone();
        self.call(method, uri, Some(&token), body).await
    }
}

fn code(v: &serde_json::Value) -> &str {
    v["error"]["code"].as_str().unwrap_or_default()
}

fn message(v: &serde_json::Value) -> &str {
    v["error"]["message"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn health_is_open_everything_else_needs_the_token() {
    let f = fixture().await;
    let (status, body) = f.call("GET", "/healthz", None, vec![]).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );

    for (method, uri) in [
        ("GET", "/api/v1/functions"),
        ("GET", "/api/v1/status"),
        ("POST", "/api/v1/functions/hello/invoke"),
        ("POST", "/api/v1/functions/hello/versions"),
        ("DELETE", "/api/v1/functions/hello"),
        ("GET", "/api/v1/nothing-here"),
    ] {
        let (status, body) = f.call(method, uri, None, vec![]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {uri}");
        assert_eq!(code(&body), "unauthorized");
        assert!(message(&body).contains("Authorization: Bearer"));
        let (status, body) = f.call(method, uri, Some("sb_wrong"), vec![]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {uri}");
        assert!(message(&body).contains("not valid"));
    }
    let (status, body) = f.authed("GET", "/api/v1/functions", vec![]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["functions"], serde_json::json!([]));
}

#[tokio::test]
async fn bad_uploads_are_refused_with_a_reason_and_nothing_is_stored() {
    let f = fixture().await;
    let cases: [(&str, Vec<u8>, &str, &str); 6] = [
        (
            "/api/v1/functions/hello/versions",
            vec![],
            "not_a_component",
            "empty",
        ),
        (
            "/api/v1/functions/hello/versions",
            b"not wasm at all".to_vec(),
            "not_a_component",
            "not a WebAssembly component",
        ),
        (
            "/api/v1/functions/hello/versions",
            b"\0asm\x01\0\0\0".to_vec(),
            "not_a_component",
            "core WebAssembly module",
        ),
        (
            "/api/v1/functions/hello/versions",
            b"\0asm\x0d\0\x01\0garbage".to_vec(),
            "not_a_component",
            "invalid component",
        ),
        (
            "/api/v1/functions/Hello/versions",
            b"\0asm\x0d\0\x01\0".to_vec(),
            "invalid_name",
            "lower-case",
        ),
        (
            "/api/v1/functions/hello/versions?memory_mib=100000",
            b"\0asm\x0d\0\x01\0".to_vec(),
            "invalid_limits",
            "memory_mib",
        ),
    ];
    for (uri, body, want_code, want_message) in cases {
        let (status, body) = f.authed("POST", uri, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert_eq!(code(&body), want_code, "{uri}: {body}");
        assert!(message(&body).contains(want_message), "{uri}: {body}");
    }
    let (status, body) = f
        .authed(
            "POST",
            "/api/v1/functions/hello/versions?allow_host=ftp://x",
            b"\0asm\x0d\0\x01\0".to_vec(),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_allowed_host")
    );
    let (status, body) = f
        .authed(
            "POST",
            "/api/v1/functions/hello/versions?memroy_mib=1",
            b"\0asm\x0d\0\x01\0".to_vec(),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "unknown_parameter")
    );
    assert!(message(&body).contains("memroy_mib"));
    let (status, body) = f
        .authed(
            "POST",
            "/api/v1/functions/hello/versions?timeout_ms=soon",
            b"\0asm\x0d\0\x01\0".to_vec(),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_limits")
    );

    let (_, body) = f.authed("GET", "/api/v1/functions", vec![]).await;
    assert_eq!(
        body["functions"],
        serde_json::json!([]),
        "nothing was stored"
    );
}

#[tokio::test]
async fn unknown_things_are_404_with_json() {
    let f = fixture().await;
    for (method, uri, body) in [
        ("GET", "/api/v1/functions/ghost", vec![]),
        ("DELETE", "/api/v1/functions/ghost", vec![]),
        ("POST", "/api/v1/functions/ghost/invoke", b"{}".to_vec()),
        ("GET", "/api/v1/functions/ghost/logs", vec![]),
        (
            "POST",
            "/api/v1/functions/ghost/rollback",
            br#"{"version":1}"#.to_vec(),
        ),
        ("GET", "/api/v1/nope", vec![]),
    ] {
        let (status, body) = f.authed(method, uri, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {uri}");
        assert_eq!(code(&body), "not_found", "{method} {uri}");
    }
    let (status, body) = f
        .authed("POST", "/api/v1/functions/ghost/rollback", b"one".to_vec())
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_body")
    );
}

#[tokio::test]
async fn status_reports_runtime_counters() {
    let f = fixture().await;
    let (status, body) = f.authed("GET", "/api/v1/status", vec![]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["runtime"]["compiled"], 0);
    assert_eq!(body["runtime"]["max_concurrency"], 4);
}

fn json_body(v: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&v).unwrap()
}

#[tokio::test]
async fn services_and_connections_through_the_router() {
    let f = fixture().await;
    let service = serde_json::json!({
        "link_name": "acme", "display_name": "Acme",
        "auth": {"type": "basic"},
        "api_origins": ["https://api.acme.example"],
    });
    for uri in [
        "/api/v1/services",
        "/api/v1/connections",
        "/api/v1/services/acme",
    ] {
        let (status, _) = f.call("GET", uri, None, vec![]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}");
    }
    let (status, body) = f
        .authed("POST", "/api/v1/services", json_body(service.clone()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["kind"], "custom");
    assert_eq!(body["created_by"], "admin");
    assert_eq!(body["connections"], 0);
    let (status, body) = f
        .authed("POST", "/api/v1/services", b"{not json".to_vec())
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_body")
    );
    assert!(message(&body).contains("expected JSON like"), "{body}");

    let (status, body) = f
        .authed(
            "POST",
            "/api/v1/connections",
            json_body(serde_json::json!({
                "link_name": "acme_main", "display_name": "Main", "service": "acme",
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["status"], "not_connected");
    assert_eq!(body["service"]["auth_type"], "basic");
    assert_eq!(
        body["api_origins"],
        serde_json::json!(["https://api.acme.example"])
    );

    // Connect errors never quote what was sent.
    for sent in [
        serde_json::json!({"username": "a:b-canary", "password": "canary"}),
        serde_json::json!({"values": {"k": "canary"}}),
        serde_json::json!({"username": 7, "password": "canary"}),
        serde_json::json!({"username": "x", "password": "canary\u{7}"}),
    ] {
        let (status, body) = f
            .authed(
                "POST",
                "/api/v1/connections/acme_main/connect",
                json_body(sent),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(!body.to_string().contains("canary"), "{body}");
    }
    let (status, body) = f
        .authed(
            "POST",
            "/api/v1/connections/acme_main/connect",
            json_body(serde_json::json!({"username": "ada", "password": "canary"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "connected");
    assert_eq!(
        body["credentials"],
        serde_json::json!(["username", "password"])
    );
    assert!(!body.to_string().contains("canary"));

    let (status, body) = f.authed("GET", "/api/v1/services/acme", vec![]).await;
    assert_eq!(
        (status, body["connections"].as_u64()),
        (StatusCode::OK, Some(1))
    );
    let (status, body) = f
        .authed("GET", "/api/v1/connections/acme_main/activity", vec![])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["activity"], serde_json::json!([]));
    for (method, uri) in [
        ("GET", "/api/v1/services/ghost"),
        ("DELETE", "/api/v1/services/ghost"),
        ("GET", "/api/v1/connections/ghost"),
        ("POST", "/api/v1/connections/ghost/revoke"),
        ("DELETE", "/api/v1/connections/ghost"),
        ("GET", "/api/v1/connections/ghost/activity"),
        ("GET", "/api/v1/functions/ghost/grants"),
    ] {
        let (status, body) = f.authed(method, uri, vec![]).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {uri}: {body}");
    }
}

#[tokio::test]
async fn the_console_and_its_assets_are_open_and_locked_down() {
    let f = fixture().await;
    for (uri, content_type, needle) in [
        (
            "/",
            "text/html",
            r#"<script type="module" src="/console.js"></script>"#,
        ),
        ("/console.js", "text/javascript", "Authorization"),
        ("/console.css", "text/css", "[data-theme=\"dark\"]"),
    ] {
        // No token: the page asks for it.
        let response = f
            .router
            .clone()
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{uri}");
        let headers = response.headers().clone();
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert!(header("content-type").starts_with(content_type), "{uri}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{uri}");
        let csp = header("content-security-policy");
        assert!(csp.contains("script-src 'self'"), "{uri}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{uri}: {csp}");
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        assert!(text.contains(needle), "{uri} lacks {needle}");
        // Nothing is loaded from another origin (no CDN fonts, scripts or styles).
        for remote in [
            "src=\"http",
            "href=\"http",
            "url(http",
            "from \"http",
            "from 'http",
        ] {
            assert!(!text.contains(remote), "{uri} loads {remote}…");
        }
    }
    let (status, body) = f.call("GET", "/console.jsx", None, vec![]).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
}
