//! The API's answers against `switchboard-client`'s views: every body the handlers send
//! (and every view type they serialise) must deserialise as the client's view and
//! serialise back to the same JSON. A field renamed, added or dropped on either side
//! fails here, so the CLI and the end-to-end tests cannot drift from the API.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use switchboard_client as wire;
use tower::ServiceExt;

use crate::server::{Host, ServeConfig};

/// Asserts `raw` reads as `T` and `T` writes `raw` back, field for field.
#[track_caller]
fn same_shape<T: DeserializeOwned + Serialize>(raw: &Value) -> T {
    let view: T = serde_json::from_value(raw.clone()).unwrap_or_else(|e| {
        panic!(
            "{} does not read the API's JSON ({e}): {raw:#}",
            std::any::type_name::<T>()
        )
    });
    let back = serde_json::to_value(&view).unwrap();
    assert_eq!(
        &back,
        raw,
        "{} loses or adds fields",
        std::any::type_name::<T>()
    );
    view
}

struct Router {
    router: axum::Router,
    token: String,
    _dir: tempfile::TempDir,
}

impl Router {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ServeConfig::new(dir.path());
        config.runtime.max_concurrency = 4;
        config.runtime.max_memory_mib = 64;
        config.public_url = Some("https://sb.example.com".into());
        let host = Host::open(config).await.unwrap();
        Self {
            router: host.router(),
            token: host.token().secret().to_owned(),
            _dir: dir,
        }
    }

    async fn call(&self, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", format!("Bearer {}", self.token))
            .header("content-type", "application/json")
            .body(Body::from(
                body.map(|b| serde_json::to_vec(&b).unwrap())
                    .unwrap_or_default(),
            ))
            .unwrap();
        let response = self.router.clone().oneshot(req).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn ok(&self, method: &str, uri: &str, body: Option<Value>) -> Value {
        let (status, v) = self.call(method, uri, body).await;
        assert!(status.is_success(), "{method} {uri}: {status} {v}");
        v
    }
}

#[tokio::test]
async fn every_answer_reads_as_the_clients_view() {
    let r = Router::new().await;
    same_shape::<wire::Status>(&r.ok("GET", "/api/v1/status", None).await);
    same_shape::<wire::FunctionList>(&r.ok("GET", "/api/v1/functions", None).await);

    // Custom services of each shape the CLI prints.
    let acme = json!({
        "link_name": "acme", "display_name": "Acme", "category": "crm",
        "auth": {"type": "api_key", "params": [
            {"name": "api_key", "display_name": "API key", "param_type": "header"}
        ]},
        "dynamic_params": [
            {"key": "domain", "display_name": "Domain", "pattern": "[a-z]+"},
            {"key": "region", "display_name": "Region"}
        ],
        "api_origins": ["https://{domain}.acme.example"],
    });
    let created = same_shape::<wire::Service>(&r.ok("POST", "/api/v1/services", Some(acme)).await);
    assert_eq!(created.auth.api_key_params()[0].param_type, "header");
    same_shape::<wire::Service>(
        &r.ok(
            "POST",
            "/api/v1/services",
            Some(json!({
                "link_name": "s3_logs", "display_name": "S3 logs",
                "auth": {"type": "aws_sigv4", "service": "s3", "region": "eu-west-3"},
            })),
        )
        .await,
    );
    for uri in [
        "/api/v1/services/acme",
        "/api/v1/services/github",
        "/api/v1/services/s3_logs",
    ] {
        same_shape::<wire::Service>(&r.ok("GET", uri, None).await);
    }
    let list = same_shape::<wire::ServiceList>(&r.ok("GET", "/api/v1/services", None).await);
    assert!(list.services.len() > 10);
    same_shape::<wire::Categories>(&r.ok("GET", "/api/v1/services/categories", None).await);

    // Connections, connected, with an OAuth sign-in link, revoked.
    same_shape::<wire::Connection>(
        &r.ok(
            "POST",
            "/api/v1/connections",
            Some(json!({
                "link_name": "acme_prod", "display_name": "Acme", "service": "acme",
                "params": {"domain": "zylker", "region": "eu"},
            })),
        )
        .await,
    );
    let connected = same_shape::<wire::Connected>(
        &r.ok(
            "POST",
            "/api/v1/connections/acme_prod/connect",
            Some(json!({"values": {"api_key": "k-1"}})),
        )
        .await,
    );
    assert_eq!(connected.connection.status, "connected");
    assert_eq!(connected.authorize_url, None);
    same_shape::<wire::ServiceChanged>(
        &r.ok(
            "PUT",
            "/api/v1/services/github/client",
            Some(json!({"client_id": "Iv1.abc", "client_secret": "s"})),
        )
        .await,
    );
    r.ok(
        "POST",
        "/api/v1/connections",
        Some(json!({
            "link_name": "gh", "display_name": "GitHub", "service": "github",
            "scopes": ["repo"],
        })),
    )
    .await;
    let sign_in = same_shape::<wire::Connected>(
        &r.ok("POST", "/api/v1/connections/gh/connect", Some(json!({})))
            .await,
    );
    assert!(sign_in.authorize_url.is_some());
    same_shape::<wire::ConnectionList>(&r.ok("GET", "/api/v1/connections", None).await);
    same_shape::<wire::Connection>(
        &r.ok(
            "PATCH",
            "/api/v1/connections/acme_prod",
            Some(json!({"display_name": "Acme (prod)"})),
        )
        .await,
    );
    same_shape::<wire::Connection>(
        &r.ok("POST", "/api/v1/connections/acme_prod/revoke", None)
            .await,
    );
    same_shape::<wire::Activity>(
        &r.ok("GET", "/api/v1/connections/acme_prod/activity", None)
            .await,
    );

    // Edits and deletes that revoke.
    let changed = same_shape::<wire::ServiceChanged>(
        &r.ok(
            "PUT",
            "/api/v1/services/acme",
            Some(json!({
                "link_name": "acme", "display_name": "Acme v2",
                "auth": {"type": "api_key", "params": [
                    {"name": "api_key", "display_name": "API key", "param_type": "header"}
                ]},
                "dynamic_params": [
                    {"key": "domain", "display_name": "Domain", "pattern": "[a-z]+"},
                    {"key": "region", "display_name": "Region"}
                ],
                "api_origins": ["https://{domain}.acme.example"],
            })),
        )
        .await,
    );
    assert_eq!(changed.service.display_name, "Acme v2");
    same_shape::<wire::ServiceDeleted>(&r.ok("DELETE", "/api/v1/services/acme", None).await);

    // Errors, whichever layer answers.
    for (method, uri) in [
        ("GET", "/api/v1/connections/ghost"),
        ("POST", "/api/v1/services"),
        ("PUT", "/api/v1/functions"),
        ("GET", "/api/v1/nothing"),
    ] {
        let (status, body) = r.call(method, uri, None).await;
        assert!(status.is_client_error(), "{method} {uri}");
        let e = same_shape::<wire::ErrorBody>(&body);
        let decoded = wire::Error::from_answer(status.as_u16(), &body.to_string());
        assert_eq!(decoded.code(), Some(e.error.code.as_str()));
        assert_eq!(decoded.to_string(), e.error.message);
    }
}

/// The function views need a deployed component, which the host's unit tests do not
/// build: the view types themselves are serialised here (the end-to-end tests read the
/// live answers through the client).
#[test]
fn function_views_read_as_the_clients_views() {
    use switchboard_api::app::{FunctionView, LogEntry, VersionView};
    use switchboard_connections::{ActivityView, GrantView, RequirementView};
    use switchboard_model::Limits;
    use switchboard_model::records::Requirement;

    let version = VersionView {
        version: 2,
        current: true,
        sha256: "ab".repeat(32),
        size_bytes: 1234,
        deployed_at: "2026-01-01T00:00:00Z".into(),
        limits: Limits::default(),
        allowed_hosts: vec!["https://api.example.com".into()],
        requires: vec![Requirement {
            service: "github".into(),
            scopes: vec!["repo".into()],
            why: Some("reads issues".into()),
        }],
    };
    let shown = FunctionView {
        name: "hello".into(),
        current_version: 2,
        latest_version: 2,
        created_at: "2026-01-01T00:00:00Z".into(),
        updated_at: "2026-01-02T00:00:00Z".into(),
        versions: Some(vec![version]),
        grants: Some(vec!["gh".into()]),
        requirements: Some(vec![RequirementView {
            service: "github".into(),
            scopes: vec!["repo".into()],
            why: None,
            granted: vec!["gh".into()],
            satisfied: true,
        }]),
    };
    let f = same_shape::<wire::Function>(&serde_json::to_value(&shown).unwrap());
    assert_eq!(f.versions.unwrap()[0].limits.timeout_ms, 10_000);
    // In lists the optional parts are absent, not null.
    let listed = FunctionView {
        versions: None,
        grants: None,
        requirements: None,
        ..shown
    };
    let raw = json!({ "functions": [listed] });
    same_shape::<wire::FunctionList>(&raw);
    assert!(raw["functions"][0].get("versions").is_none());

    let line = LogEntry {
        time: "2026-01-01T00:00:00.123Z".into(),
        invocation: 7,
        version: 2,
        level: "info",
        message: "hi".into(),
    };
    same_shape::<wire::Logs>(&json!({ "function": "hello", "lines": [line] }));
    same_shape::<wire::Grant>(
        &serde_json::to_value(GrantView {
            function: "hello".into(),
            connection: "gh".into(),
            granted_at: "2026-01-01T00:00:00Z".into(),
        })
        .unwrap(),
    );
    let entry = ActivityView {
        time: "2026-01-01T00:00:00.123Z".into(),
        function: "hello".into(),
        method: "GET".into(),
        origin: "https://api.github.com".into(),
        path: "/user".into(),
        status: Some(200),
        outcome: "ok".into(),
        duration_ms: 12.5,
    };
    same_shape::<wire::Activity>(&json!({ "connection": "gh", "activity": [entry] }));
}
