//! The host under abuse: compile bombs, forged log lines, one function hogging
//! the call slots, memory and output beyond budget, connection floods.

use std::path::Path;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use serde_json::json;
use switchboard::server::{self, ConnectionLimits, Running, ServeConfig};
use switchboard_tests::{Api, TestHost};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

use crate::{FETCH, HELLO, TEST_ALLOC};

/// A host on 127.0.0.1:0 with settings the shared harness does not expose.
async fn start(dir: &Path, tweak: impl FnOnce(&mut ServeConfig)) -> (Running, Api) {
    switchboard_tests::capture_logs();
    let mut config = ServeConfig::new(dir);
    config.outbound.allow_private_networks = true;
    config.runtime.max_memory_mib = 64;
    config.compile_cache = Some(switchboard_tests::shared_compile_cache());
    tweak(&mut config);
    let running = server::spawn(config, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("host starts");
    let api = Api::new(&running.url(), &running.token);
    (running, api)
}

/// Waits (bounded) until the runtime has started `n` calls in all.
async fn calls_started(api: &Api, n: u64) {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, status) = api.get("/api/v1/status").await;
        if status["runtime"]["calls"].as_u64().unwrap_or(0) >= n {
            return;
        }
        assert!(Instant::now() < until, "{n} calls never started: {status}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A loopback upstream that holds every request until the test opens it: a function
/// that calls it keeps its call slot and its memory reservation for as long as the test
/// needs, without burning CPU (a spinning guest would hold a core of this 2-core machine
/// for its whole deadline) and without a deadline the test must outrun.
struct Gate {
    origin: String,
    open: watch::Sender<bool>,
    arrived: watch::Receiver<usize>,
}

#[derive(Clone)]
struct GateState {
    open: watch::Receiver<bool>,
    arrived: std::sync::Arc<watch::Sender<usize>>,
}

impl Gate {
    async fn start() -> Self {
        let (open, open_rx) = watch::channel(false);
        let (arrived_tx, arrived) = watch::channel(0usize);
        let state = GateState {
            open: open_rx,
            arrived: std::sync::Arc::new(arrived_tx),
        };
        let app = Router::new()
            .fallback(|State(mut gate): State<GateState>| async move {
                gate.arrived.send_modify(|n| *n += 1);
                let _ = gate.open.wait_for(|open| *open).await;
                "released"
            })
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            origin,
            open,
            arrived,
        }
    }

    /// Waits (bounded) until `n` requests in all are held.
    async fn held(&self, n: usize) {
        let mut arrived = self.arrived.clone();
        tokio::time::timeout(Duration::from_secs(30), arrived.wait_for(|k| *k >= n))
            .await
            .unwrap_or_else(|_| panic!("{n} requests never reached the gate"))
            .unwrap();
    }

    /// Lets every held request, and every later one, through.
    fn open(&self) {
        self.open.send_replace(true);
    }
}

fn leb(mut n: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn section(id: u8, body: &[u8], out: &mut Vec<u8>) {
    out.push(id);
    leb(body.len() as u64, out);
    out.extend_from_slice(body);
}

/// A component whose one core module defines `functions` empty functions (about
/// 4 bytes each): the upload of the "compile bomb" report.
fn compile_bomb(functions: u32) -> Vec<u8> {
    let mut m = b"\0asm\x01\0\0\0".to_vec();
    section(1, &[1, 0x60, 0, 0], &mut m);
    let mut funcs = Vec::new();
    leb(functions.into(), &mut funcs);
    funcs.extend(std::iter::repeat_n(0u8, functions as usize));
    section(3, &funcs, &mut m);
    let mut code = Vec::new();
    leb(functions.into(), &mut code);
    for _ in 0..functions {
        code.extend_from_slice(&[2, 0, 0x0b]);
    }
    section(10, &code, &mut m);
    let mut c = b"\0asm\x0d\0\x01\0".to_vec();
    section(1, &m, &mut c);
    c
}

#[tokio::test]
async fn a_compile_bomb_is_refused_by_name_before_anything_is_compiled() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let api = &host.api;
    let bomb = compile_bomb(1_000_000);
    assert!(bomb.len() < 5 * 1024 * 1024, "{} bytes", bomb.len());

    let started = Instant::now();
    let (status, out) = api.post("/api/v1/functions/bomb/versions", bomb).await;
    assert_eq!(status, 400, "{out}");
    assert_eq!(out["error"]["code"], "component_over_limit", "{out}");
    let message = out["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("1000000 functions") && message.contains("limit is 50000"),
        "{message}"
    );
    // Refused by a parse, not a compile: nothing reached Cranelift.
    assert_eq!(host.counter("compiles_started").await, 0);
    assert!(started.elapsed() < Duration::from_secs(30));
    let (status, _) = api.get("/api/v1/functions/bomb").await;
    assert_eq!(status, 404);

    // Real plugins are well within the limits.
    api.deploy_ok("hello", HELLO, "").await;
    assert_eq!(host.counter("compiles_started").await, 1);
}

#[tokio::test]
async fn a_function_log_line_cannot_forge_a_host_log_line() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let api = &host.api;
    api.deploy_ok("hello", HELLO, "").await;
    let forged = "x\n2026-01-01T00:00:00.000000Z  WARN switchboard::api: forged-canary-line\x1b[2J";
    let (status, _) = api.invoke("hello", &json!({ "name": forged })).await;
    assert_eq!(status, 200);

    let logs = switchboard_tests::captured_logs();
    let line = logs
        .lines()
        .find(|l| l.contains("forged-canary-line"))
        .expect("the function's line was logged");
    assert!(line.contains("greeting x\\n2026"), "{line}");
    assert!(
        !logs
            .lines()
            .any(|l| l.starts_with("2026-01-01T00:00:00.000000Z")),
        "a forged line starts a host log line"
    );
    assert!(!logs.contains('\x1b'), "an escape sequence reached the log");

    // The function's own log keeps what it wrote.
    let (_, out) = api.get("/api/v1/functions/hello/logs").await;
    let message = out["lines"][0]["message"].as_str().unwrap();
    assert!(message.contains("x\n2026"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_busy_function_cannot_take_every_call_slot() {
    let dir = tempfile::tempdir().unwrap();
    // 4 slots; by default a function may hold half of them.
    let (_host, api) = start(dir.path(), |c| c.runtime.max_concurrency = 4).await;
    let gate = Gate::start().await;
    // Version 1 waits at the gate for up to 30 s, version 2 has a 3 s deadline;
    // switching between them is a rollback (no compile while the calls run).
    let allow = format!("&allow_host={}", gate.origin);
    api.deploy_ok("busy", FETCH, &format!("?timeout_ms=30000{allow}"))
        .await;
    api.deploy_ok("busy", FETCH, &format!("?timeout_ms=3000{allow}"))
        .await;
    api.deploy_ok("hello", HELLO, "").await;
    let rollback = |version: u32| {
        let api = api.clone();
        async move {
            let (status, out) = api
                .post_json(
                    "/api/v1/functions/busy/rollback",
                    &json!({ "version": version }),
                )
                .await;
            assert_eq!(status, 200, "{out}");
        }
    };
    let (_, status) = api.get("/api/v1/status").await;
    assert_eq!(status["runtime"]["max_concurrency_per_function"], 2);

    let busy = |api: &Api| {
        let api = api.clone();
        let url = format!("{}/hold", gate.origin);
        tokio::spawn(async move { api.invoke("busy", &json!({ "url": url })).await })
    };
    rollback(1).await;
    let long: Vec<_> = (0..2).map(|_| busy(&api)).collect();
    gate.held(2).await;
    // More calls of the same function, with a shorter deadline: they queue
    // behind its two running calls even though two slots are free.
    rollback(2).await;
    let queued: Vec<_> = (0..4).map(|_| busy(&api)).collect();
    calls_started(&api, 6).await;

    let started = Instant::now();
    let (status, out) = api.invoke("hello", &json!({ "name": "Ada" })).await;
    assert_eq!(
        (status, out["greeting"].as_str()),
        (200, Some("Hello, Ada!"))
    );
    // Served while the busy calls still hold their slots and the queued ones still
    // wait: not after any of their deadlines (first come, first served would
    // have put hello behind the queued calls).
    assert!(
        long.iter().chain(&queued).all(|t| !t.is_finished()),
        "hello waited for the busy calls ({:?})",
        started.elapsed()
    );

    for t in queued {
        let (status, out) = t.await.unwrap();
        assert_eq!(
            (status, out["error"]["code"].as_str()),
            (503, Some("host_busy")),
            "{out}"
        );
        let message = out["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("2 of this function's 2 allowed calls running")
                && message.contains("3000 ms"),
            "{message}"
        );
    }
    // Only the two running calls reached the upstream; released, they complete.
    assert_eq!(*gate.arrived.borrow(), 2);
    gate.open();
    for t in long {
        let (status, out) = t.await.unwrap();
        assert_eq!((status, &out["body"]), (200, &json!("released")), "{out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_beyond_the_memory_budget_wait_or_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let (_host, api) = start(dir.path(), |c| {
        c.runtime.max_concurrency = 8;
        c.runtime.memory_budget_mib = 64;
    })
    .await;
    let gate = Gate::start().await;
    api.deploy_ok(
        "hog",
        FETCH,
        &format!("?timeout_ms=30000&memory_mib=48&allow_host={}", gate.origin),
    )
    .await;
    api.deploy_ok("alloc", TEST_ALLOC, "?memory_mib=32&timeout_ms=20000")
        .await;

    // Parallel calls whose limits add up past the budget take turns: all succeed.
    let calls: Vec<_> = (0..6)
        .map(|_| {
            let api = api.clone();
            tokio::spawn(async move { api.invoke("alloc", &json!({ "mib": 20 })).await })
        })
        .collect();
    for c in calls {
        let (status, out) = c.await.unwrap();
        assert_eq!((status, out), (200, json!({ "allocated_mib": 20 })));
    }

    // 48 of 64 MiB reserved by a long call: a 32 MiB call waits, and when its
    // deadline comes first it is refused with the numbers.
    api.deploy_ok("alloc", TEST_ALLOC, "?memory_mib=32&timeout_ms=300")
        .await;
    let hog = {
        let api = api.clone();
        let url = format!("{}/hold", gate.origin);
        tokio::spawn(async move { api.invoke("hog", &json!({ "url": url })).await })
    };
    gate.held(1).await;
    let (status, out) = api.invoke("alloc", &json!({ "mib": 1 })).await;
    assert!(!hog.is_finished(), "the hog ended before the check");
    assert_eq!(status, 503, "{out}");
    assert_eq!(out["error"]["code"], "host_busy");
    let message = out["error"]["message"].as_str().unwrap();
    assert!(message.contains("48 of 64 MiB"), "{message}");
    assert!(message.contains("memory-budget-mib"), "{message}");
    gate.open();
    assert_eq!(hog.await.unwrap().0, 200);
    let (status, _) = api.invoke("alloc", &json!({ "mib": 1 })).await;
    assert_eq!(status, 200);

    // A host whose per-call memory limit exceeds its budget does not start.
    let other = tempfile::tempdir().unwrap();
    let mut config = ServeConfig::new(other.path());
    config.runtime.max_memory_mib = 128;
    config.runtime.memory_budget_mib = 64;
    let e = server::spawn(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("memory budget") && e.contains("128 MiB"), "{e}");
}

#[tokio::test]
async fn an_output_over_the_cap_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_host, api) = start(dir.path(), |c| c.runtime.max_output_bytes = 1000).await;
    api.deploy_ok("hello", HELLO, "").await;
    let (status, _) = api.invoke("hello", &json!({ "name": "Ada" })).await;
    assert_eq!(status, 200);
    let (status, out) = api
        .invoke("hello", &json!({ "name": "a".repeat(2000) }))
        .await;
    assert_eq!(status, 422, "{out}");
    assert_eq!(out["error"]["code"], "output_too_large");
    let message = out["error"]["message"].as_str().unwrap();
    assert!(message.contains("limit is 1000 bytes"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_requests_cannot_lock_anyone_out() {
    let dir = tempfile::tempdir().unwrap();
    let (host, api) = start(dir.path(), |c| {
        c.connections = ConnectionLimits {
            header_read_timeout: Duration::from_secs(1),
            max_connections: 200,
            max_connections_per_ip: 100,
        };
    })
    .await;

    // 300 connections from another loopback address, each sending half a request.
    let mut flood = Vec::new();
    for _ in 0..300 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        let mut stream = socket.connect(host.addr).await.unwrap();
        // Never sent: the blank line that ends the headers.
        let _ = stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: switchboard\r\nX-Slow: 1")
            .await;
        flood.push(stream);
    }

    // Meanwhile health and the admin API answer from 127.0.0.1, promptly.
    let bound = Duration::from_secs(10);
    let health = tokio::time::timeout(bound, reqwest::get(format!("{}/healthz", host.url())))
        .await
        .expect("/healthz answers under the flood")
        .unwrap();
    assert_eq!(health.status(), 200);
    let (status, body) = tokio::time::timeout(bound, api.get("/api/v1/functions"))
        .await
        .expect("the API answers under the flood");
    assert_eq!(status, 200, "{body}");

    // Every half-sent connection is closed: those over the per-address cap at
    // once, the others when the 1 s header timeout passes.
    for (i, mut stream) in flood.into_iter().enumerate() {
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(bound, stream.read_to_end(&mut rest)).await;
        assert!(closed.is_ok(), "half-sent connection {i} is still open");
    }
    // And the flood's slots are free again: a fresh connection from the same address is served.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut stream = socket.connect(host.addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: switchboard\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    tokio::time::timeout(bound, stream.read_to_string(&mut answer))
        .await
        .expect("answered")
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
