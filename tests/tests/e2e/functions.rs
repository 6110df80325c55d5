//! Deploy, invoke, versions, rollback, logs and delete over HTTP.

use serde_json::json;
use switchboard_tests::TestHost;

use crate::{FETCH, HELLO};

#[tokio::test]
async fn deploy_invoke_redeploy_rollback_delete() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let api = &host.api;

    assert_eq!(api.deploy_ok("hello", HELLO, "").await, 1);
    let (status, out) = api.invoke("hello", &json!({ "name": "Ada" })).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out, json!({ "greeting": "Hello, Ada!" }));

    // Empty input is `{}`; the plugin's default name applies.
    let (status, out) = api.post("/api/v1/functions/hello/invoke", vec![]).await;
    assert_eq!((status, out), (200, json!({ "greeting": "Hello, world!" })));

    // A new version becomes current; here it is another component entirely.
    assert_eq!(
        api.deploy_ok("hello", FETCH, "?timeout_ms=2000&memory_mib=32")
            .await,
        2
    );
    let (status, show) = api.get("/api/v1/functions/hello").await;
    assert_eq!(status, 200);
    assert_eq!(show["current_version"], 2);
    let versions = show["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0]["current"], false);
    assert_eq!(versions[1]["current"], true);
    assert_eq!(
        versions[1]["limits"],
        json!({ "memory_mib": 32, "timeout_ms": 2000, "max_requests": 32, "max_concurrency": 0 })
    );
    assert_eq!(versions[0]["limits"]["timeout_ms"], 10_000);
    assert_eq!(versions[0]["sha256"].as_str().unwrap().len(), 64);

    // Version 2 is the fetch plugin: given no URL it fails as a function.
    let (status, out) = api.invoke("hello", &json!({ "name": "Ada" })).await;
    assert_ne!(status, 200, "{out}");

    let (status, out) = api
        .post(
            "/api/v1/functions/hello/rollback",
            br#"{"version": 1}"#.to_vec(),
        )
        .await;
    assert_eq!((status, &out["current_version"]), (200, &json!(1)), "{out}");
    let (status, out) = api.invoke("hello", &json!({ "name": "Grace" })).await;
    assert_eq!((status, out), (200, json!({ "greeting": "Hello, Grace!" })));

    let (status, out) = api
        .post(
            "/api/v1/functions/hello/rollback",
            br#"{"version": 9}"#.to_vec(),
        )
        .await;
    assert_eq!(status, 404, "{out}");
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no version 9")
    );

    let (status, list) = api.get("/api/v1/functions").await;
    assert_eq!(status, 200);
    assert_eq!(list["functions"][0]["name"], "hello");
    assert_eq!(list["functions"][0]["current_version"], 1);
    assert_eq!(list["functions"][0]["latest_version"], 2);

    let (status, _) = api.delete("/api/v1/functions/hello").await;
    assert_eq!(status, 204);
    let (status, out) = api.invoke("hello", &json!({})).await;
    assert_eq!(
        (status, out["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (_, list) = api.get("/api/v1/functions").await;
    assert_eq!(list["functions"], json!([]));
}

#[tokio::test]
async fn logs_are_kept_per_call_and_listed() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let api = &host.api;
    api.deploy_ok("hello", HELLO, "").await;
    for name in ["Ada", "Grace"] {
        let (status, _) = api.invoke("hello", &json!({ "name": name })).await;
        assert_eq!(status, 200);
    }
    let (status, logs) = api.get("/api/v1/functions/hello/logs").await;
    assert_eq!(status, 200, "{logs}");
    let lines = logs["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 2, "{logs}");
    assert!(
        lines[0]["message"].as_str().unwrap().contains("Ada"),
        "{logs}"
    );
    assert!(
        lines[1]["message"].as_str().unwrap().contains("Grace"),
        "{logs}"
    );
    assert_eq!(lines[0]["level"], "info");
    assert_eq!(lines[0]["version"], 1);
    assert_ne!(lines[0]["invocation"], lines[1]["invocation"]);

    let (_, logs) = api.get("/api/v1/functions/hello/logs?limit=1").await;
    assert_eq!(logs["lines"].as_array().unwrap().len(), 1);
    assert!(
        logs["lines"][0]["message"]
            .as_str()
            .unwrap()
            .contains("Grace")
    );
}

#[tokio::test]
async fn input_must_be_json_and_the_token_is_required() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let api = &host.api;
    api.deploy_ok("hello", HELLO, "").await;

    let (status, out) = api
        .post("/api/v1/functions/hello/invoke", b"{not json".to_vec())
        .await;
    assert_eq!(status, 400);
    assert_eq!(out["error"]["code"], "invalid_input");

    let anonymous = reqwest::Client::new();
    let url = format!("{}/api/v1/functions/hello/invoke", api.base());
    let response = anonymous.post(&url).body("{}").send().await.unwrap();
    assert_eq!(response.status(), 401);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
    let response = anonymous
        .post(&url)
        .bearer_auth("sb_guess")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let health = anonymous
        .get(format!("{}/healthz", api.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}
