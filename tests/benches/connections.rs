//! What a connection adds to an outbound request, in one run:
//!
//! 1. native: the same GET (query key and header key included) sent with a plain
//!    keep-alive `reqwest::Client` to a loopback upstream;
//! 2. `invoke-url` without a connection (the `fetch` plugin, `--allow-host`);
//! 3. `invoke-url` through an API-key connection (grant check, opening the sealed
//!    credentials, placing a query and a header key, redaction, the audit record).
//!
//! Each round sends `BENCH_REQUESTS` requests natively, then runs `fetch` once per
//! variant with `count = BENCH_REQUESTS` (one instantiation amortised over all of
//! them), in process through the host's `App` (no API socket), all three back to back
//! so they share the machine's load. Reported: medians over `BENCH_ROUNDS` rounds of
//! the per-request time, and the median of the per-round differences (what the target
//! is about: the overhead measured under the same conditions).
//!
//! Run with `cargo bench -p switchboard-tests --bench connections`.

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use serde_json::json;
use switchboard::model::time::now_ms;
use switchboard::model::{InvocationContext, Principal};
use switchboard::server::{self, ServeConfig};
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

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let rounds = env_or("BENCH_ROUNDS", 60);
    let requests = env_or("BENCH_REQUESTS", 200) as u32;
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

        let dir = tempfile::tempdir().unwrap();
        let mut config = ServeConfig::new(dir.path());
        config.outbound.allow_private_networks = true;
        let running = server::spawn(config, "127.0.0.1:0".parse().unwrap())
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
        api.create_connection("bench_conn", "bench", &json!({}))
            .await;
        api.connect(
            "bench_conn",
            &json!({"values": {"api_key": KEY, "X-Api-Key": KEY}}),
        )
        .await;
        api.grant("fetch", "bench_conn").await;

        let native = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let path = "/v1/items?x=1";
        let plain_input = json!({
            "url": format!("{origin}{path}&api_key={KEY}"),
            "headers": [["x-api-key", KEY]],
            "count": requests,
        })
        .to_string();
        let conn_input = json!({
            "url": format!("{origin}{path}"),
            "connection": "bench_conn",
            "count": requests,
        })
        .to_string();

        let mut t_native = Vec::new();
        let mut t_plain = Vec::new();
        let mut t_conn = Vec::new();
        // One warm-up round, not recorded.
        for round in 0..=rounds {
            let started = Instant::now();
            for _ in 0..requests {
                let r = native
                    .get(format!("{origin}{path}&api_key={KEY}"))
                    .header("x-api-key", KEY)
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success());
                r.bytes().await.unwrap();
            }
            let native_each = started.elapsed() / requests;

            let each = |input: &str| {
                let input = input.to_owned();
                let app = running.app.clone();
                async move {
                    let started = Instant::now();
                    let context = InvocationContext::new("fetch", Principal::Admin, now_ms());
                    let out = app.invoke(context, input).await.unwrap();
                    assert!(out.output.contains("\"status\":200"), "{}", out.output);
                    started.elapsed() / requests
                }
            };
            let plain_each = each(&plain_input).await;
            let conn_each = each(&conn_input).await;
            if round > 0 {
                t_native.push(native_each);
                t_plain.push(plain_each);
                t_conn.push(conn_each);
            }
        }
        let diff = |a: &[Duration], b: &[Duration]| -> f64 {
            let mut d: Vec<f64> = a.iter().zip(b).map(|(x, y)| us(*x) - us(*y)).collect();
            d.sort_by(f64::total_cmp);
            d[d.len() / 2]
        };
        let added = diff(&t_conn, &t_native);
        let added_by_connection = diff(&t_conn, &t_plain);
        let (n, p, c) = (median(t_native), median(t_plain), median(t_conn));
        println!(
            "per request, median of {rounds} rounds x {requests} requests (loopback upstream):"
        );
        println!("  native reqwest:                      {:>7.1} µs", us(n));
        println!("  invoke-url, no connection:           {:>7.1} µs", us(p));
        println!("  invoke-url, API-key connection:      {:>7.1} µs", us(c));
        println!(
            "  added by invoke-url + connection:    {added:>7.1} µs over native, median of per-round differences (target <= 50 µs)"
        );
        println!(
            "  added by the connection alone:       {added_by_connection:>7.1} µs over invoke-url without one"
        );
        running.stop().await.unwrap();
    });
}
