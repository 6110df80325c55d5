//! Hosts in one process share compiled components (`ServeConfig::compile_cache`, what the
//! harness gives every test host): a plugin another host compiled is deserialised, not
//! compiled again, and behaves the same.

use serde_json::json;
use switchboard::runtime::CompileCache;
use switchboard_tests::{HostOptions, TestHost};

use crate::{FETCH, HELLO};

#[tokio::test]
async fn a_second_host_loads_what_the_first_compiled() {
    let cache = CompileCache::new();
    let opts = HostOptions {
        compile_cache: Some(cache.clone()),
        ..Default::default()
    };
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = TestHost::start_with(a.path(), opts.clone()).await;
    first.api.deploy_ok("hello", HELLO, "").await;
    assert_eq!((cache.len(), cache.hits()), (1, 0), "compiled and kept");

    let second = TestHost::start_with(b.path(), opts).await;
    second.api.deploy_ok("hello", HELLO, "").await;
    assert_eq!((cache.len(), cache.hits()), (1, 1), "taken from the cache");
    // It stands in for a compile: the host's counters read as without a cache.
    assert_eq!(second.counter("compiled").await, 1);
    let (status, out) = second.api.invoke("hello", &json!({ "name": "Ada" })).await;
    assert_eq!((status, out), (200, json!({ "greeting": "Hello, Ada!" })));

    // What it stored on deploy is a normal artifact: a restart loads it.
    let second = second.restart().await;
    assert_eq!(second.counter("deserialized").await, 1);
    let (status, out) = second.api.invoke("hello", &json!({ "name": "Bo" })).await;
    assert_eq!((status, out), (200, json!({ "greeting": "Hello, Bo!" })));

    // Other bytes are another entry.
    second.api.deploy_ok("fetch", FETCH, "").await;
    assert_eq!((cache.len(), cache.hits()), (2, 1));
    first.running.stop().await.unwrap();
    second.running.stop().await.unwrap();
}

// Several threads, so that the deploys' compiles really overlap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_deploying_the_same_plugin_at_once_compile_it_once() {
    let cache = CompileCache::new();
    let opts = HostOptions {
        compile_cache: Some(cache.clone()),
        ..Default::default()
    };
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut hosts = Vec::new();
    for dir in &dirs {
        hosts.push(TestHost::start_with(dir.path(), opts.clone()).await);
    }
    // All four uploads start before the first compile (hundreds of ms) ends: without a
    // single flight each would miss the cache and run Cranelift.
    let deploys: Vec<_> = hosts
        .iter()
        .map(|host| {
            let api = host.api.clone();
            tokio::spawn(async move { api.deploy_ok("hello", HELLO, "").await })
        })
        .collect();
    for deploy in deploys {
        deploy.await.unwrap();
    }
    assert_eq!(
        (cache.len(), cache.hits()),
        (1, 3),
        "one compile, three waited"
    );
    for host in hosts {
        let (status, out) = host.api.invoke("hello", &json!({ "name": "Ada" })).await;
        assert_eq!((status, out), (200, json!({ "greeting": "Hello, Ada!" })));
        host.running.stop().await.unwrap();
    }
}

#[tokio::test]
async fn junk_is_refused_the_same_with_a_cache() {
    let cache = CompileCache::new();
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start_with(
        dir.path(),
        HostOptions {
            compile_cache: Some(cache.clone()),
            ..Default::default()
        },
    )
    .await;
    // A component header and nothing valid after it: refused, nothing cached.
    let (status, body) = host
        .api
        .post(
            "/api/v1/functions/junk/versions",
            b"\0asm\x0d\0\x01\0garbage".to_vec(),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(cache.is_empty());
}
