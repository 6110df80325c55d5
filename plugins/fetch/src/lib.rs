//! Example plugin: sends a request through `invoke-url`, with or without a connection.
//!
//! Input: `{"url": "https://...", "connection": null | "link_name", "method": "GET",
//! "headers": [["k", "v"]], "body": "text", "timeout_ms": 1000, "count": 1}`; all but `url`
//! are optional. `count` repeats the request (for request-limit tests).
//!
//! Output: `{"status": 200, "headers": [["k", "v"]], "body": "text"}` for the last response
//! (the body as lossy UTF-8), or, when `invoke-url` fails, still a successful call with
//! `{"error": {"kind": "host-not-allowed", "message": "..."}, "completed": 0}`, where
//! `completed` counts the requests that succeeded before the failure. Logs one debug line.

use serde::Deserialize;
use switchboard_sdk::serde_json::Value;
use switchboard_sdk::{Method, Request, debug, invoke_url, json};

#[derive(Deserialize)]
struct Input {
    url: String,
    #[serde(default)]
    connection: Option<String>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    headers: Vec<(String, String)>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    timeout_ms: Option<u32>,
    #[serde(default)]
    count: Option<u32>,
}

fn run(input: Input) -> Result<Value, String> {
    let method: Method = match &input.method {
        Some(m) => m.parse().map_err(|e| format!("{e}"))?,
        None => Method::Get,
    };
    let count = input.count.unwrap_or(1);
    if count == 0 {
        return Err("count must be at least 1".to_owned());
    }

    let mut request = Request::new(method, input.url);
    for (name, value) in input.headers {
        request = request.header(name, value);
    }
    if let Some(body) = input.body {
        request = request.body(body);
    }
    if let Some(timeout_ms) = input.timeout_ms {
        request = request.timeout_ms(timeout_ms);
    }

    let mut last = None;
    for completed in 0..count {
        match invoke_url(input.connection.as_deref(), request.clone()) {
            Ok(response) => last = Some(response),
            Err(e) => {
                return Ok(json!({
                    "error": { "kind": e.kind(), "message": e.message() },
                    "completed": completed,
                }));
            }
        }
    }
    let response = last.ok_or("no request was sent")?;
    debug!("{method} {} -> {}", request.url(), response.status);
    Ok(json!({
        "status": response.status,
        "headers": response.headers,
        "body": response.text(),
    }))
}

switchboard_sdk::export_function!(run);
