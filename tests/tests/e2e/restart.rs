//! A restarted host loads precompiled artifacts instead of compiling again.

use serde_json::json;
use switchboard_tests::TestHost;

use crate::HELLO;

#[tokio::test]
async fn restart_invokes_without_compiling_again() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    host.api.deploy_ok("hello", HELLO, "?timeout_ms=1234").await;
    host.api.deploy_ok("hello", HELLO, "").await;
    host.client().rollback("hello", 1).await.unwrap();
    assert_eq!(host.counter("compiled").await, 2);

    let host = host.restart().await;
    assert_eq!(
        host.counter("compiled").await,
        0,
        "nothing is compiled on restart"
    );
    assert_eq!(
        host.counter("deserialized").await,
        1,
        "the current version is loaded"
    );
    let (status, out) = host.api.invoke("hello", &json!({ "name": "Ada" })).await;
    assert_eq!((status, out), (200, json!({ "greeting": "Hello, Ada!" })));

    let show = host.client().show_function("hello").await.unwrap();
    assert_eq!(show.current_version, 1);
    let versions = show.versions.unwrap();
    assert_eq!(versions[0].limits.timeout_ms, 1234);
    assert_eq!(versions.len(), 2);

    // Rolling forward loads version 2's artifact, again without compiling.
    host.client().rollback("hello", 2).await.unwrap();
    assert_eq!(host.counter("compiled").await, 0);
    assert_eq!(host.counter("deserialized").await, 2);

    // The data folder has the key files, readable by the owner only.
    #[cfg(unix)]
    for file in ["master.key", "admin-token"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }
}
