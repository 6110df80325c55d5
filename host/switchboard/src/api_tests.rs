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
            r#"<script type="module" src="/console/main.js"></script>"#,
        ),
        ("/console/main.js", "text/javascript", "renderShell"),
        ("/console/api.js", "text/javascript", "Authorization"),
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

#[tokio::test]
async fn every_console_module_is_served_as_javascript_and_nothing_else_is() {
    let f = fixture().await;
    for (name, source) in switchboard_api::console::MODULES {
        let uri = format!("/console/{name}");
        let response = f
            .router
            .clone()
            .oneshot(Request::get(&uri).body(Body::empty()).unwrap())
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
        // Browsers refuse a module script without a JavaScript MIME type.
        assert_eq!(
            header("content-type"),
            "text/javascript; charset=utf-8",
            "{uri}"
        );
        assert_eq!(header("x-content-type-options"), "nosniff", "{uri}");
        assert_eq!(header("cache-control"), "no-cache", "{uri}");
        assert_eq!(header("referrer-policy"), "no-referrer", "{uri}");
        let csp = header("content-security-policy");
        assert!(csp.contains("script-src 'self';"), "{uri}: {csp}");
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(bytes, source.as_bytes(), "{uri}");
    }
    // Every relative import names a served module, and every served module is imported
    // by another one (or is the entry point): no 404 at load time, no dead entry.
    let served: Vec<&str> = switchboard_api::console::MODULES
        .iter()
        .map(|(n, _)| *n)
        .collect();
    let mut imported = vec!["main.js"];
    for (name, source) in switchboard_api::console::MODULES {
        for line in source.lines().filter(|l| l.starts_with("import ")) {
            let target = line
                .split("from './")
                .nth(1)
                .and_then(|rest| rest.split('\'').next())
                .unwrap_or_else(|| panic!("{name}: an import not from ./: {line}"));
            assert!(
                served.contains(&target),
                "{name} imports {target}, not served"
            );
            imported.push(target);
        }
    }
    for name in &served {
        assert!(
            imported.contains(name),
            "{name} is served but never imported"
        );
    }
    // Only the listed names: no other file, no path, and not the old single script.
    for uri in [
        "/console/nope.js",
        "/console/main",
        "/console/MAIN.JS",
        "/console/..%2Fconsole.rs",
        "/console/%2E%2E%2Fmod.rs",
        "/console/main.js/x",
        "/console/",
        "/console",
        "/console.js",
    ] {
        let (status, body) = f.call("GET", uri, None, vec![]).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::NOT_FOUND, "not_found"),
            "{uri}: {body}"
        );
    }
}

// ---- default services (the catalogue) ----

async fn fixture_with_public_url() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServeConfig::new(dir.path());
    config.runtime.max_concurrency = 4;
    config.runtime.max_memory_mib = 64;
    config.public_url = Some("https://switchboard.example".into());
    let host = Host::open(config).await.unwrap();
    Fixture {
        router: host.router(),
        token: host.token().secret().to_owned(),
        _dir: dir,
    }
}

fn links(body: &serde_json::Value) -> Vec<String> {
    body["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["link_name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn default_services_are_listed_searched_and_filtered() {
    let f = fixture().await;
    let (status, body) = f
        .authed(
            "POST",
            "/api/v1/services",
            json_body(serde_json::json!({
                "link_name": "intranet", "display_name": "Intranet wiki",
                "auth": {"type": "basic"}, "category": "productivity",
                "description": "Our own GitLab-backed wiki",
                "api_origins": ["https://wiki.acme.example"],
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let (status, all) = f.authed("GET", "/api/v1/services", vec![]).await;
    assert_eq!(status, StatusCode::OK);
    let all = all["services"].as_array().unwrap().clone();
    assert!(all.len() > 80, "{}", all.len());
    let github = all.iter().find(|s| s["link_name"] == "github").unwrap();
    assert_eq!(github["kind"], "default");
    assert_eq!(github["id"], "default_github");
    assert_eq!(github["created_by"], "catalog");
    assert_eq!(github["auth"]["type"], "oauth2");
    assert_eq!(github["auth"]["client_id"], "");
    assert_eq!(github["client_secret_set"], false);
    assert!(github["docs_url"].as_str().unwrap().starts_with("https://"));

    let (_, body) = f
        .authed("GET", "/api/v1/services?kind=custom", vec![])
        .await;
    assert_eq!(links(&body), ["intranet"]);
    assert!(body["services"][0]["docs_url"].is_null());
    let (_, body) = f
        .authed("GET", "/api/v1/services?kind=default", vec![])
        .await;
    assert_eq!(links(&body).len(), all.len() - 1);

    // q: link name, display name, category or description, case-insensitive.
    let (_, body) = f.authed("GET", "/api/v1/services?q=GiT", vec![]).await;
    let found = links(&body);
    for l in ["github", "gitlab", "intranet"] {
        assert!(found.contains(&l.to_owned()), "{l} not in {found:?}");
    }
    let (_, body) = f
        .authed("GET", "/api/v1/services?q=git&kind=default", vec![])
        .await;
    assert!(!links(&body).contains(&"intranet".to_owned()));
    let (_, body) = f.authed("GET", "/api/v1/services?q=soql", vec![]).await;
    assert_eq!(links(&body), ["salesforce"]);
    let (_, body) = f
        .authed("GET", "/api/v1/services?category=CRM", vec![])
        .await;
    let crm = body["services"].as_array().unwrap();
    assert!(crm.len() >= 5);
    assert!(crm.iter().all(|s| s["category"] == "crm"));
    let (_, body) = f
        .authed(
            "GET",
            "/api/v1/services?q=zoho&category=crm&kind=default",
            vec![],
        )
        .await;
    assert_eq!(links(&body), ["zoho_crm"]);
    let (_, body) = f
        .authed("GET", "/api/v1/services?q=no-such-thing-anywhere", vec![])
        .await;
    assert_eq!(links(&body), Vec::<String>::new());

    for (uri, says) in [
        ("/api/v1/services?kind=mine", "`kind`"),
        (
            "/api/v1/services?search=x",
            "unknown query parameter `search`",
        ),
    ] {
        let (status, body) = f.authed("GET", uri, vec![]).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::BAD_REQUEST, "unknown_parameter"),
            "{uri}"
        );
        assert!(message(&body).contains(says), "{body}");
    }

    let (status, body) = f.authed("GET", "/api/v1/services/categories", vec![]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let cats = body["categories"].as_object().unwrap();
    assert!(cats["crm"].as_u64().unwrap() >= 5);
    let total: u64 = cats.values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(total as usize, all.len());
    let (_, body) = f
        .authed("GET", "/api/v1/services/categories?kind=custom", vec![])
        .await;
    assert_eq!(body["categories"], serde_json::json!({"productivity": 1}));
}

#[tokio::test]
async fn default_services_are_read_only() {
    let f = fixture().await;
    let (_, stripe) = f.authed("GET", "/api/v1/services/stripe", vec![]).await;
    assert_eq!(stripe["kind"], "default");
    let mut def = stripe.clone();
    for k in [
        "id",
        "kind",
        "docs_url",
        "created_by",
        "created_at",
        "updated_at",
        "connections",
        "client_secret_set",
    ] {
        def.as_object_mut().unwrap().remove(k);
    }
    def["display_name"] = "My Stripe".into();
    let (status, body) = f
        .authed("PUT", "/api/v1/services/stripe", json_body(def.clone()))
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "read_only"),
        "{body}"
    );
    assert!(message(&body).contains("create a custom service"), "{body}");
    let (status, body) = f.authed("DELETE", "/api/v1/services/github", vec![]).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "read_only")
    );
    let (status, body) = f
        .authed("POST", "/api/v1/services", json_body(def.clone()))
        .await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "conflict"));
    assert!(message(&body).contains("default service"), "{body}");
    // Under another link name it is an ordinary custom service.
    def["link_name"] = "my_stripe".into();
    let (status, body) = f.authed("POST", "/api/v1/services", json_body(def)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["kind"], "custom");

    // A Basic default service is connected like a custom one.
    let (status, body) = f
        .authed(
            "POST",
            "/api/v1/connections",
            json_body(serde_json::json!({
                "link_name": "zd", "display_name": "Zendesk", "service": "zendesk_token",
                "params": {"subdomain": "acme"},
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        body["api_origins"],
        serde_json::json!(["https://acme.zendesk.com"])
    );
    let (status, body) = f
        .authed(
            "POST",
            "/api/v1/connections",
            json_body(serde_json::json!({
                "link_name": "zd2", "display_name": "Zendesk", "service": "zendesk_token",
                "params": {"subdomain": "evil.com/#"},
            })),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_param"),
        "{body}"
    );
    let (status, body) = f
        .authed(
            "POST",
            "/api/v1/connections/zd/connect",
            json_body(serde_json::json!({"username": "ada@acme.example/token", "password": "t"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "connected");
    let (_, body) = f
        .authed("GET", "/api/v1/services/zendesk_token", vec![])
        .await;
    assert_eq!(body["connections"], 1);
}

#[tokio::test]
async fn default_oauth_services_take_the_operators_client() {
    let f = fixture_with_public_url().await;
    let (status, body) = f
        .authed(
            "POST",
            "/api/v1/connections",
            json_body(serde_json::json!({
                "link_name": "gh", "display_name": "GitHub", "service": "github",
                "scopes": ["repo", "read:user"],
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = f
        .authed("POST", "/api/v1/connections/gh/connect", b"{}".to_vec())
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "client_not_configured"),
        "{body}"
    );
    assert!(
        message(&body).contains("switchboard service client github --client-id"),
        "{body}"
    );

    // Malformed bodies and the wrong kinds of service; the secret is never echoed.
    for (uri, sent, want) in [
        (
            "/api/v1/services/github/client",
            serde_json::json!({"client_id": "id", "client_secret": 7, "x": "canary"}),
            "invalid_body",
        ),
        (
            "/api/v1/services/github/client",
            serde_json::json!({"client_id": "has space", "client_secret": "canary"}),
            "invalid_body",
        ),
        (
            "/api/v1/services/stripe/client",
            serde_json::json!({"client_id": "id", "client_secret": "canary"}),
            "invalid_service",
        ),
    ] {
        let (status, body) = f.authed("PUT", uri, json_body(sent)).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::BAD_REQUEST, want),
            "{body}"
        );
        assert!(!body.to_string().contains("canary"), "{body}");
    }
    let (status, _) = f
        .authed(
            "PUT",
            "/api/v1/services/nope/client",
            json_body(serde_json::json!({"client_id": "id", "client_secret": "s"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, body) = f
        .authed(
            "PUT",
            "/api/v1/services/github/client",
            json_body(serde_json::json!({"client_id": "Iv1.cafe", "client_secret": "cs-canary"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["auth"]["client_id"], "Iv1.cafe");
    assert_eq!(body["client_secret_set"], true);
    assert_eq!(body["revoked_connections"], serde_json::json!([]));
    assert!(!body.to_string().contains("cs-canary"));

    let (status, body) = f
        .authed("POST", "/api/v1/connections/gh/connect", b"{}".to_vec())
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let start = body["authorize_url"].as_str().unwrap();
    let path = start
        .strip_prefix("https://switchboard.example")
        .unwrap_or_else(|| panic!("{start}"));
    let response = f
        .router
        .clone()
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(
        location.as_str().split('?').next().unwrap(),
        "https://github.com/login/oauth/authorize"
    );
    let q: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(q["client_id"], "Iv1.cafe");
    assert_eq!(q["scope"], "repo read:user");
    assert_eq!(
        q["redirect_uri"],
        "https://switchboard.example/oauth/callback"
    );
    assert!(!location.as_str().contains("cs-canary"));

    // The same client again changes nothing; another client revokes the connections.
    let same =
        json_body(serde_json::json!({"client_id": "Iv1.cafe", "client_secret": "cs-canary"}));
    let (_, body) = f
        .authed("PUT", "/api/v1/services/github/client", same)
        .await;
    assert_eq!(body["revoked_connections"], serde_json::json!([]));
    let (status, body) = f
        .authed(
            "PUT",
            "/api/v1/services/github/client",
            json_body(serde_json::json!({"client_id": "Iv1.beef", "client_secret": "other"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["revoked_connections"], serde_json::json!(["gh"]));
    let (_, body) = f.authed("GET", "/api/v1/connections/gh", vec![]).await;
    assert_eq!(body["status"], "revoked");
}

#[tokio::test]
async fn a_malformed_service_with_a_client_secret_is_refused_without_quoting_it() {
    let f = fixture().await;
    let body = br#"{"link_name": "x", "display_name": "X", "auth": "cs-canary-secret", "client_secret": "cs-canary-secret", "api_origins": []}"#;
    let (status, out) = f.authed("POST", "/api/v1/services", body.to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{out}");
    assert_eq!(code(&out), "invalid_body");
    assert!(!out.to_string().contains("canary"), "{out}");
    assert!(message(&out).contains("line 1"), "{out}");
}

// ---- OAuth sign-in: the browser binding ----

/// A host behind `https://switchboard.example/sb/` whose sign-ins last 90 seconds, with
/// an authorization-code connection `acme_main`.
async fn sign_in_fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServeConfig::new(dir.path());
    config.runtime.max_concurrency = 4;
    config.runtime.max_memory_mib = 64;
    config.public_url = Some("https://switchboard.example/sb/".into());
    config.oauth_flow_ttl = std::time::Duration::from_secs(90);
    let host = Host::open(config).await.unwrap();
    let f = Fixture {
        router: host.router(),
        token: host.token().secret().to_owned(),
        _dir: dir,
    };
    let (status, body) = f
        .authed(
            "POST",
            "/api/v1/services",
            json_body(serde_json::json!({
                "link_name": "acme", "display_name": "Acme",
                "auth": {"type": "oauth2", "client_id": "cid",
                         "authorize_url": "https://auth.acme.example/authorize",
                         "access_token_url": "https://auth.acme.example/token",
                         "grant_type": "authorization_code"},
                "client_secret": "cs-canary",
                "api_origins": ["https://api.acme.example"],
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    for link in ["acme_main", "acme_other"] {
        let (status, body) = f
            .authed(
                "POST",
                "/api/v1/connections",
                json_body(serde_json::json!({
                    "link_name": link, "display_name": link, "service": "acme",
                })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    f
}

impl Fixture {
    /// Starts a sign-in of `link`: the start link's path (below the public URL's).
    async fn start_link(&self, link: &str) -> String {
        let (status, body) = self
            .authed(
                "POST",
                &format!("/api/v1/connections/{link}/connect"),
                b"{}".to_vec(),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let start = body["authorize_url"].as_str().unwrap();
        start
            .strip_prefix("https://switchboard.example/sb")
            .unwrap_or_else(|| panic!("{start}"))
            .to_owned()
    }

    /// Opens a start link: the status and the `Set-Cookie` value.
    async fn open(&self, path: &str) -> (StatusCode, Option<String>) {
        let response = self
            .router
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let cookie = response
            .headers()
            .get("set-cookie")
            .map(|v| v.to_str().unwrap().to_owned());
        (response.status(), cookie)
    }
}

/// Issue 11 item 14 (d): the cookie's `Path` is the public URL's path, it is `Secure`
/// on an https public URL, and it lives as long as the configured sign-in lifetime.
#[tokio::test]
async fn the_sign_in_cookie_follows_the_public_url_and_the_sign_in_lifetime() {
    let f = sign_in_fixture().await;
    let path = f.start_link("acme_main").await;
    assert!(path.starts_with("/oauth/start?state="), "{path}");
    let (status, cookie) = f.open(&path).await;
    assert_eq!(status, StatusCode::FOUND);
    let cookie = cookie.unwrap();
    let attributes: Vec<&str> = cookie.split("; ").collect();
    assert!(attributes.contains(&"Path=/sb/oauth"), "{cookie}");
    assert!(attributes.contains(&"Secure"), "{cookie}");
    assert!(attributes.contains(&"HttpOnly"), "{cookie}");
    assert!(attributes.contains(&"SameSite=Lax"), "{cookie}");
    let max_age: u64 = attributes
        .iter()
        .find_map(|a| a.strip_prefix("Max-Age="))
        .unwrap_or_else(|| panic!("{cookie}"))
        .parse()
        .unwrap();
    assert!((80..=90).contains(&max_age), "{cookie}");
}

/// Issue 11 item 14 (a): each sign-in has a cookie of its own, so starting a second one
/// in the same browser does not replace the first one's.
#[tokio::test]
async fn sign_ins_started_side_by_side_have_cookies_of_their_own() {
    let f = sign_in_fixture().await;
    let a = f.start_link("acme_main").await;
    let b = f.start_link("acme_other").await;
    let name = |cookie: &str| cookie.split('=').next().unwrap().to_owned();
    let (_, ca) = f.open(&a).await;
    let (_, cb) = f.open(&b).await;
    let (ca, cb) = (ca.unwrap(), cb.unwrap());
    assert!(name(&ca).starts_with("switchboard_oauth_"), "{ca}");
    assert_ne!(name(&ca), name(&cb), "one cookie would replace the other");
    let state = |path: &str| path.split("state=").nth(1).unwrap().to_owned();
    assert_eq!(
        name(&ca),
        switchboard_connections::flow_cookie_name(&state(&a))
    );
    assert_eq!(
        name(&cb),
        switchboard_connections::flow_cookie_name(&state(&b))
    );
}

/// Issue 11 item 14 (b): the link binds one browser, checked and set in one step: of
/// many openings at the same time, exactly one gets a cookie.
#[tokio::test]
async fn a_start_link_binds_exactly_one_of_many_simultaneous_openings() {
    let f = std::sync::Arc::new(sign_in_fixture().await);
    for _ in 0..3 {
        let path = f.start_link("acme_main").await;
        let openings: Vec<_> = (0..8)
            .map(|_| {
                let (f, path) = (f.clone(), path.clone());
                tokio::spawn(async move { f.open(&path).await })
            })
            .collect();
        let mut bound = 0;
        for o in openings {
            let (status, cookie) = o.await.unwrap();
            if status == StatusCode::FOUND {
                assert!(cookie.is_some());
                bound += 1;
            } else {
                assert_eq!(status, StatusCode::BAD_REQUEST);
                assert!(cookie.is_none());
            }
        }
        assert_eq!(bound, 1);
    }
}

#[tokio::test]
async fn every_error_is_json_with_a_code_and_a_message() {
    let f = fixture().await;

    // A bad `?limit=` (axum's query rejection was text/plain).
    let (status, body) = f
        .authed("GET", "/api/v1/connections/x/activity?limit=abc", vec![])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(code(&body), "invalid_request", "{body}");
    assert!(message(&body).contains("limit"), "{body}");
    let (status, body) = f
        .authed("GET", "/api/v1/functions/x/logs?limit=-1", vec![])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(message(&body).contains("limit"), "{body}");

    // A method the path does not serve (was an empty 405).
    let req = Request::builder()
        .method("PUT")
        .uri("/api/v1/functions")
        .header("authorization", format!("Bearer {}", f.token))
        .body(Body::empty())
        .unwrap();
    let response = f.router.clone().oneshot(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(
        response.headers().contains_key("allow"),
        "{:?}",
        response.headers()
    );
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(code(&body), "method_not_allowed", "{body}");
    assert!(message(&body).contains("GET"), "{body}");

    // A body over axum's default limit (was "Failed to buffer the request body").
    let (status, body) = f
        .authed(
            "POST",
            "/api/v1/functions/x/rollback",
            vec![b' '; 3 * 1024 * 1024],
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(code(&body), "too_large", "{body}");

    // An unknown path outside the API.
    let (status, body) = f.call("GET", "/nothing", None, vec![]).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let f = fixture().await;
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let req = Request::builder()
            .uri("/api/v1/functions")
            .header("authorization", format!("{scheme} {}", f.token))
            .body(Body::empty())
            .unwrap();
        let response = f.router.clone().oneshot(req).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{scheme}");
    }
    for wrong in [format!("Basic {}", f.token), format!("Bearer{}", f.token)] {
        let req = Request::builder()
            .uri("/api/v1/functions")
            .header("authorization", wrong)
            .body(Body::empty())
            .unwrap();
        let response = f.router.clone().oneshot(req).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
}

/// Activity is kept by connection id: a connection deleted and made again under the
/// same link name starts with none of the old one's records.
#[tokio::test]
async fn a_connection_made_again_under_a_link_name_starts_without_activity() {
    use switchboard_model::records::AuditRecord;
    use switchboard_model::{InvocationContext, Principal};
    use switchboard_outbound::ConnectionBroker;

    let dir = tempfile::tempdir().unwrap();
    let host = Host::open(ServeConfig::new(dir.path())).await.unwrap();
    let f = Fixture {
        router: host.router(),
        token: host.token().secret().to_owned(),
        _dir: dir,
    };
    let broker = host.app().connections().broker();
    // A use of `acme_main`, recorded as the runtime does: under the id the call resolved
    // (`Some`), or, for a refused use, the link's current connection (`None`).
    let used = |path: &str, resolved: Option<&str>| {
        let ctx = InvocationContext::new("fetch", Principal::Admin, 1);
        let record = AuditRecord {
            time_ms: 1,
            function: "fetch".into(),
            method: "GET".into(),
            origin: "https://api.acme.example".into(),
            path: path.into(),
            status: Some(200),
            outcome: "ok".into(),
            duration_us: 5,
        };
        broker.record(&ctx, "acme_main", resolved, record);
    };
    let (status, body) = f
        .authed(
            "POST",
            "/api/v1/services",
            json_body(serde_json::json!({
                "link_name": "acme", "display_name": "Acme", "auth": {"type": "basic"},
                "api_origins": ["https://api.acme.example"],
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let connection = json_body(serde_json::json!({
        "link_name": "acme_main", "display_name": "Main", "service": "acme",
    }));
    let activity = || f.authed("GET", "/api/v1/connections/acme_main/activity", vec![]);

    let (status, _) = f
        .authed("POST", "/api/v1/connections", connection.clone())
        .await;
    assert_eq!(status, StatusCode::CREATED);
    used("/old", None);
    let (_, body) = activity().await;
    assert_eq!(body["activity"][0]["path"], "/old", "{body}");

    let (status, _) = f
        .authed("DELETE", "/api/v1/connections/acme_main", vec![])
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = f.authed("POST", "/api/v1/connections", connection).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, body) = activity().await;
    assert_eq!(body["activity"], serde_json::json!([]), "{body}");
    // A call that resolved the deleted connection and ends now: its record keeps the
    // deleted connection's id, so the new one does not get it.
    used("/late", Some("con_deleted_meanwhile"));
    used("/new", None);
    let (_, body) = activity().await;
    let paths: Vec<&str> = body["activity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["/new"]);
    host.app().connections().close().await;
}
