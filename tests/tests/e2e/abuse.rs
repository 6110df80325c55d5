//! The host under abuse: compile bombs, forged log lines, one function hogging
//! the call slots, memory and output beyond budget, connection floods.

use std::time::{Duration, Instant};

use serde_json::json;
use switchboard_tests::TestHost;

use crate::HELLO;

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
    let forged =
        "x\n2026-01-01T00:00:00.000000Z  WARN switchboard_host::api: forged-canary-line\x1b[2J";
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
