//! Benchmarks of the issue's two targets, in one process:
//!
//! 1. instantiate + call `hello` in-process (fresh store per call): median µs;
//! 2. `POST /api/v1/functions/hello/invoke` end to end over loopback HTTP with a
//!    keep-alive load generator: invocations per second.
//!
//! Run with `cargo bench -p switchboard-tests --bench invoke`. Knobs (env):
//! `BENCH_ITERS` (10000), `BENCH_SECONDS` (10), `BENCH_CONNECTIONS` (32).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use switchboard::model::{InvocationContext, Principal};
use switchboard::outbound::{Outbound, OutboundConfig, Policy};
use switchboard::runtime::{CallSpec, Limits, Runtime, RuntimeConfig};
use switchboard::server::{self, ServeConfig};

mod plugins {
    #![allow(dead_code, reason = "the bench uses only some fixtures")]
    include!(concat!(env!("OUT_DIR"), "/plugins.rs"));
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// What the API makes for each invocation.
fn context() -> Arc<InvocationContext> {
    Arc::new(InvocationContext::new(
        "hello",
        Principal::Admin,
        switchboard::model::time::now_ms(),
    ))
}

fn in_process(iters: u64) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let outbound = Outbound::new(OutboundConfig::default()).unwrap();
        let runtime = Runtime::new(RuntimeConfig::default(), outbound).unwrap();
        println!(
            "memory slot reset: {}",
            if runtime.pagemap_scan() {
                "PAGEMAP_SCAN (dirty pages restored in place)"
            } else {
                "madvise (PAGEMAP_SCAN unavailable: needs Linux 6.7+)"
            }
        );
        let wasm = std::fs::read(plugins::HELLO).unwrap();
        let (_, loaded) = runtime.compile(&wasm).unwrap();
        let spec = CallSpec {
            limits: Limits::default(),
            policy: Arc::new(Policy::default()),
        };
        let input = r#"{"name":"Ada"}"#;
        for _ in 0..200 {
            runtime.invoke(&loaded, &spec, context(), input.to_owned()).await.result.unwrap();
        }
        let mut samples = Vec::with_capacity(iters as usize);
        for _ in 0..iters {
            let t = Instant::now();
            let out = runtime.invoke(&loaded, &spec, context(), input.to_owned()).await;
            samples.push(t.elapsed());
            assert!(out.result.is_ok());
        }
        samples.sort();
        println!(
            "in-process instantiate+call (hello, {iters} iterations): median {:.1} µs, p90 {:.1} µs, p99 {:.1} µs",
            percentile(&samples, 0.5).as_secs_f64() * 1e6,
            percentile(&samples, 0.9).as_secs_f64() * 1e6,
            percentile(&samples, 0.99).as_secs_f64() * 1e6,
        );
    });
}

fn over_http(seconds: u64, connections: u64) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let running = server::spawn(ServeConfig::new(dir.path()), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let client = reqwest::Client::new();
        let deploy = client
            .post(format!("{}/api/v1/functions/hello/versions", running.url()))
            .bearer_auth(&running.token)
            .body(std::fs::read(plugins::HELLO).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(deploy.status(), 201);

        let done = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let measuring = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for _ in 0..connections {
            let (done, failed, measuring, stop) = (done.clone(), failed.clone(), measuring.clone(), stop.clone());
            let addr = running.addr;
            let auth = format!("Bearer {}", running.token);
            tasks.push(tokio::spawn(async move {
                let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
                stream.set_nodelay(true).unwrap();
                let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
                tokio::spawn(conn);
                let mut latencies = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let req = hyper::Request::post("/api/v1/functions/hello/invoke")
                        .header("host", "bench")
                        .header("authorization", &auth)
                        .body(Full::new(Bytes::from_static(br#"{"name":"Ada"}"#)))
                        .unwrap();
                    let t = Instant::now();
                    let response = sender.send_request(req).await.unwrap();
                    let ok = response.status() == 200;
                    response.into_body().collect().await.unwrap();
                    if measuring.load(Ordering::Relaxed) {
                        latencies.push(t.elapsed());
                        if ok { done.fetch_add(1, Ordering::Relaxed) } else { failed.fetch_add(1, Ordering::Relaxed) };
                    }
                }
                latencies
            }));
        }
        tokio::time::sleep(Duration::from_secs(1)).await; // warm-up
        measuring.store(true, Ordering::Relaxed);
        let start = Instant::now();
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        measuring.store(false, Ordering::Relaxed);
        let elapsed = start.elapsed();
        stop.store(true, Ordering::Relaxed);
        let mut latencies = Vec::new();
        for t in tasks {
            latencies.extend(t.await.unwrap());
        }
        latencies.sort();
        let n = done.load(Ordering::Relaxed);
        println!(
            "HTTP invoke (hello, {connections} keep-alive connections, {seconds} s): {:.0} invocations/s, {} failed, median latency {:.0} µs, p99 {:.0} µs",
            n as f64 / elapsed.as_secs_f64(),
            failed.load(Ordering::Relaxed),
            percentile(&latencies, 0.5).as_secs_f64() * 1e6,
            percentile(&latencies, 0.99).as_secs_f64() * 1e6,
        );
        running.stop().await.unwrap();
    });
}

fn main() {
    // `cargo test --benches` runs bench targets with `--bench`-less args; keep that quick.
    let quick = std::env::args().any(|a| a == "--test");
    let iters = if quick {
        100
    } else {
        env_or("BENCH_ITERS", 10_000)
    };
    let seconds = if quick {
        1
    } else {
        env_or("BENCH_SECONDS", 10)
    };
    let connections = env_or("BENCH_CONNECTIONS", 32);
    println!(
        "cores: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    in_process(iters);
    over_http(seconds, connections);
}
