//! Uploads that are not plugins are refused with a reason, and nothing is stored.

use serde_json::json;
use switchboard_tests::TestHost;

use crate::{HELLO, TEST_FS, TEST_NO_RUN};

#[tokio::test]
async fn bad_uploads_are_refused_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let api = &host.api;

    let (status, out) = api.deploy("fs", TEST_FS, "").await;
    assert_eq!(status, 400, "{out}");
    assert_eq!(out["error"]["code"], "invalid_component");
    let message = out["error"]["message"].as_str().unwrap();
    assert!(message.contains("wasi:filesystem"), "{message}");

    let (status, out) = api.deploy("norun", TEST_NO_RUN, "").await;
    assert_eq!(status, 400, "{out}");
    assert_eq!(out["error"]["code"], "invalid_component");
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("does not export `run"),
        "{out}"
    );

    let core_module = b"\0asm\x01\0\0\0".to_vec();
    let (status, out) = api
        .post("/api/v1/functions/core/versions", core_module)
        .await;
    assert_eq!(
        (status, out["error"]["code"].as_str()),
        (400, Some("not_a_component"))
    );

    let client = api.client();
    for name in ["fs", "norun", "core"] {
        let e = client.show_function(name).await.unwrap_err();
        assert_eq!(e.status(), Some(404), "{name} must not be stored");
    }
    assert!(client.list_functions().await.unwrap().functions.is_empty());

    // A bad redeploy leaves the good version current and running.
    api.deploy_ok("hello", HELLO, "").await;
    let (status, _) = api.deploy("hello", TEST_FS, "").await;
    assert_eq!(status, 400);
    let show = client.show_function("hello").await.unwrap();
    assert_eq!(show.versions.unwrap().len(), 1);
    let (status, _) = api.invoke("hello", &json!({})).await;
    assert_eq!(status, 200);
}
