//! What one connection write costs as the number of connections grows: the per-write
//! median of create, connect (API key), edit (display name) and revoke, each through
//! the HTTP API of an in-process host on 127.0.0.1:0, and of an `invoke-url` through
//! one connection, with 10, 1,000, 10,000 and 100,000 connections already stored.
//!
//! For each size: a host is started (the `fetch` function and an API-key service made
//! through the API) and stopped; the existing connections are written straight into
//! its database in batches (`ConnectionRepo::create_connections`, one transaction per 10,000:
//! through the HTTP API, 100,000 writes would take most of an hour on a shared
//! machine); the host is started again over that database (the snapshot's full load,
//! one read transaction), and `BENCH_WRITES` new connections are then created,
//! connected, edited and revoked one by one through the API, each call timed.
//!
//! Run with `cargo bench -p switchboard-tests --bench connection_writes`
//! (`BENCH_SIZES=10,1000` to pick sizes).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use serde_json::json;
use switchboard::model::records::{ConnectionRecord, ConnectionStatus, FIRST_REVISION, HOST_SCOPE};
use switchboard::model::time::now_ms;
use switchboard::model::{InvocationContext, Principal};
use switchboard::server::{self, ServeConfig};
use switchboard::store::{RedbStore, Repositories};
use switchboard_tests::Api;

mod plugins {
    #![allow(dead_code, reason = "the bench uses only some fixtures")]
    include!(concat!(env!("OUT_DIR"), "/plugins.rs"));
}

const KEY: &str = "bench-key-0123456789abcdef";

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn config(dir: &std::path::Path) -> ServeConfig {
    let mut config = ServeConfig::new(dir);
    config.outbound.allow_private_networks = true;
    config
}

/// The medians at one size: create, connect, edit, revoke, invoke-url.
async fn measure(existing: usize, writes: usize, invokes: usize, origin: &str) -> [Duration; 5] {
    let dir = tempfile::tempdir().unwrap();
    let running = server::spawn(config(dir.path()), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let api = Api::new(&running.url(), &running.token);
    api.deploy_ok(
        "fetch",
        plugins::FETCH,
        &format!("?max_requests=1000&timeout_ms=60000&allow_host={origin}"),
    )
    .await;
    api.create_service(&json!({
        "link_name": "bench", "display_name": "Bench",
        "auth": {"type": "api_key", "params": [
            {"name": "api_key", "display_name": "Query key", "param_type": "query"},
            {"name": "X-Api-Key", "display_name": "Header key", "param_type": "header"},
        ]},
        "api_origins": [origin],
    }))
    .await;
    running.stop().await.unwrap();

    let store: Arc<dyn Repositories> = RedbStore::open(&dir.path().join(server::DB_FILE))
        .unwrap()
        .repositories();
    let service = store
        .services()
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.meta.link_name == "bench")
        .unwrap();
    let now = now_ms();
    let all: Vec<usize> = (0..existing).collect();
    for chunk in all.chunks(10_000) {
        let records: Vec<ConnectionRecord> = chunk
            .iter()
            .map(|i| {
                let mut r = ConnectionRecord {
                    id: format!("con_bench_{i}"),
                    scope: HOST_SCOPE.to_owned(),
                    link_name: format!("existing_{i}"),
                    display_name: format!("Existing {i}"),
                    service: service.meta.link_name.clone(),
                    service_id: service.id.clone(),
                    params: Default::default(),
                    scopes: Vec::new(),
                    authorize_params: Default::default(),
                    granted_scopes: Vec::new(),
                    token_expires_at_ms: None,
                    credential_names: Vec::new(),
                    status: ConnectionStatus::NotConnected,
                    status_reason: None,
                    created_by: "admin".into(),
                    created_at_ms: now,
                    updated_at_ms: now,
                    connected_at_ms: None,
                    revoked_at_ms: None,
                    history: Vec::new(),
                    revision: FIRST_REVISION,
                };
                r.record_event("created", None, now);
                r
            })
            .collect();
        store.create_connections(&records).await.unwrap();
    }
    drop(store);

    let started = Instant::now();
    let running = server::spawn(config(dir.path()), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    eprintln!(
        "  {existing} connections: host started in {:.0} ms",
        ms(started.elapsed())
    );
    let api = Api::new(&running.url(), &running.token);
    let (mut create, mut connect, mut edit, mut revoke) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let values = json!({"values": {"api_key": KEY, "X-Api-Key": KEY}});
    for i in 0..writes {
        let link = format!("new_{i}");
        let t = Instant::now();
        api.create_connection(&link, "bench", &json!({})).await;
        create.push(t.elapsed());
        let t = Instant::now();
        api.connect(&link, &values).await;
        connect.push(t.elapsed());
        let t = Instant::now();
        let (status, body) = api
            .patch_json(
                &format!("/api/v1/connections/{link}"),
                &json!({"display_name": "Edited"}),
            )
            .await;
        edit.push(t.elapsed());
        assert_eq!(status, 200, "{body}");
        let t = Instant::now();
        let (status, body) = api
            .post_json(&format!("/api/v1/connections/{link}/revoke"), &json!({}))
            .await;
        revoke.push(t.elapsed());
        assert_eq!(status, 200, "{body}");
    }

    api.create_connection("hot", "bench", &json!({})).await;
    api.connect("hot", &values).await;
    api.grant("fetch", "hot").await;
    let input = json!({"url": format!("{origin}/v1/items?x=1"), "connection": "hot", "count": 1})
        .to_string();
    let mut invoke = Vec::new();
    // One warm-up call, not recorded.
    for i in 0..=invokes {
        let t = Instant::now();
        let context = InvocationContext::new("fetch", Principal::Admin, now_ms());
        let out = running.app.invoke(context, input.clone()).await.unwrap();
        assert!(out.output.contains("\"status\":200"), "{}", out.output);
        if i > 0 {
            invoke.push(t.elapsed());
        }
    }
    running.stop().await.unwrap();
    [
        median(create),
        median(connect),
        median(edit),
        median(revoke),
        median(invoke),
    ]
}

fn main() {
    let sizes: Vec<usize> = std::env::var("BENCH_SIZES")
        .unwrap_or_else(|_| "10,1000,10000,100000".into())
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .expect("BENCH_SIZES: numbers separated by commas")
        })
        .collect();
    let writes = env_or("BENCH_WRITES", 50) as usize;
    let invokes = env_or("BENCH_INVOKES", 200) as usize;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = upstream.local_addr().unwrap().port();
        let app = Router::new().fallback(get(|| async { "{\"ok\":true}" }));
        tokio::spawn(async move { axum::serve(upstream, app).await.unwrap() });
        let origin = format!("http://127.0.0.1:{port}");
        let mut rows = Vec::new();
        for &n in &sizes {
            rows.push((n, measure(n, writes, invokes, &origin).await));
        }
        println!(
            "per-call median through the HTTP API ({writes} writes each; invoke-url: {invokes} calls, in process):"
        );
        println!(
            "  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}  {:>11}",
            "existing", "create", "connect", "edit", "revoke", "invoke-url"
        );
        for (n, [c, k, e, r, i]) in &rows {
            println!(
                "  {n:>9}  {:>7.2}ms  {:>7.2}ms  {:>7.2}ms  {:>7.2}ms  {:>9.2}ms",
                ms(*c),
                ms(*k),
                ms(*e),
                ms(*r),
                ms(*i)
            );
        }
    });
}
