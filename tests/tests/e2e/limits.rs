//! Per-call limits: deadline, memory, outbound request count.

use std::time::{Duration, Instant};

use serde_json::json;
use switchboard_tests::{Mock, TestHost};

use crate::{FETCH, HELLO, TEST_ALLOC, TEST_SPIN};

#[tokio::test]
async fn infinite_loop_is_stopped_at_its_deadline_and_others_keep_running() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let api = host.api.clone();
    api.deploy_ok("spin", TEST_SPIN, "?timeout_ms=500").await;
    api.deploy_ok("hello", HELLO, "").await;

    let spinning = {
        let api = api.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let result = api.invoke("spin", &json!({})).await;
            (result, started.elapsed())
        })
    };
    // While the loop runs, other calls are served.
    for _ in 0..5 {
        let (status, out) = api.invoke("hello", &json!({ "name": "Ada" })).await;
        assert_eq!(
            (status, out["greeting"].as_str()),
            (200, Some("Hello, Ada!"))
        );
    }
    let ((status, out), elapsed) = spinning.await.unwrap();
    assert_eq!(status, 504, "{out}");
    assert_eq!(out["error"]["code"], "timeout");
    assert!(
        out["error"]["message"].as_str().unwrap().contains("500 ms"),
        "{out}"
    );
    // Bounded, generously: the point is that it stops, not how fast.
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");

    // The host is still healthy and the spinner can be called again.
    let (status, _) = api.invoke("spin", &json!({})).await;
    assert_eq!(status, 504);
    let (status, _) = api.invoke("hello", &json!({})).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn allocating_past_the_memory_limit_traps_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let api = &host.api;
    api.deploy_ok("alloc", TEST_ALLOC, "?memory_mib=16").await;

    let (status, out) = api.invoke("alloc", &json!({ "mib": 2 })).await;
    assert_eq!((status, out), (200, json!({ "allocated_mib": 2 })));

    let (status, out) = api.invoke("alloc", &json!({ "mib": 64 })).await;
    assert_eq!(status, 422, "{out}");
    assert_eq!(out["error"]["code"], "memory_limit_exceeded");
    assert!(
        out["error"]["message"].as_str().unwrap().contains("16 MiB"),
        "{out}"
    );

    // Each call has a fresh store: the next small call is fine.
    let (status, _) = api.invoke("alloc", &json!({ "mib": 2 })).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn outbound_requests_per_call_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let mock = Mock::start().await;
    let api = &host.api;
    api.deploy_ok(
        "fetch",
        FETCH,
        &format!("?max_requests=2&allow_host={}", mock.origin()),
    )
    .await;
    let (status, out) = api
        .invoke(
            "fetch",
            &json!({ "url": format!("{}/x", mock.origin()), "count": 5 }),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["error"]["kind"], "limit-exceeded", "{out}");
    assert_eq!(mock.received().len(), 2);
}
