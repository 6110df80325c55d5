//! Deploy, invoke, versions, rollback, logs and delete over HTTP.

use serde_json::json;
use switchboard_tests::TestHost;
use switchboard_tests::client::Limits;

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
    let client = api.client();
    let show = client.show_function("hello").await.unwrap();
    assert_eq!(show.current_version, 2);
    let versions = show.versions.unwrap();
    assert_eq!(versions.len(), 2);
    assert!(!versions[0].current);
    assert!(versions[1].current);
    assert_eq!(
        versions[1].limits,
        Limits {
            memory_mib: 32,
            timeout_ms: 2000,
            max_requests: 32,
            max_concurrency: 0
        }
    );
    assert_eq!(versions[0].limits.timeout_ms, 10_000);
    assert_eq!(versions[0].sha256.len(), 64);

    // Version 2 is the fetch plugin: given no URL it fails as a function.
    let (status, out) = api.invoke("hello", &json!({ "name": "Ada" })).await;
    assert_ne!(status, 200, "{out}");

    assert_eq!(
        client.rollback("hello", 1).await.unwrap().current_version,
        1
    );
    let (status, out) = api.invoke("hello", &json!({ "name": "Grace" })).await;
    assert_eq!((status, out), (200, json!({ "greeting": "Hello, Grace!" })));

    let e = client.rollback("hello", 9).await.unwrap_err();
    assert_eq!(e.status(), Some(404), "{e}");
    assert!(e.to_string().contains("no version 9"), "{e}");

    let list = client.list_functions().await.unwrap().functions;
    assert_eq!(list[0].name, "hello");
    assert_eq!(list[0].current_version, 1);
    assert_eq!(list[0].latest_version, 2);
    // Lists leave the versions out.
    assert_eq!(list[0].versions, None);

    client.delete_function("hello").await.unwrap();
    let e = client.invoke("hello", "{}").await.unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(404), Some("not_found")));
    assert!(client.list_functions().await.unwrap().functions.is_empty());
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
    let logs = api.client().logs("hello", None).await.unwrap();
    assert_eq!(logs.function, "hello");
    let lines = logs.lines;
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].message.contains("Ada"), "{lines:?}");
    assert!(lines[1].message.contains("Grace"), "{lines:?}");
    assert_eq!(lines[0].level, "info");
    assert_eq!(lines[0].version, 1);
    assert_ne!(lines[0].invocation, lines[1].invocation);

    let logs = api.client().logs("hello", Some(1)).await.unwrap();
    assert_eq!(logs.lines.len(), 1);
    assert!(logs.lines[0].message.contains("Grace"));

    // The invocation's headers name the call its log lines carry.
    let done = api
        .client()
        .invoke("hello", r#"{"name": "Lin"}"#)
        .await
        .unwrap();
    assert_eq!(done.version, 1);
    let last = api.client().logs("hello", Some(1)).await.unwrap().lines;
    assert_eq!(last[0].invocation, done.invocation);
    assert!(last[0].message.contains("Lin"));
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
