//! The response redactor on its own, beside the redactor it replaced (issue 11: the old one
//! matched a few pre-encoded forms of each secret with `memmem`; it is copied below, only
//! for comparison, since it missed most spellings).
//!
//! Cases, each with the secrets of an API-key connection (a query key and a header
//! `Bearer` value) and with no secret in the haystack, so the whole input is scanned:
//!
//! - `json-2k`: a typical 2 KiB JSON response body;
//! - `headers`: the names and values of ten typical response headers, one call each (what
//!   `read_response` does per response);
//! - `text-8m`: 8 MiB of ordinary JSON text;
//! - `escapes-8m`: 8 MiB dense in escape leaders (`\u`, `%XX`, `&…;`) and near-misses.
//!
//! Run with `cargo bench -p switchboard-tests --bench redact`. Knobs (env):
//! `BENCH_CASE` (one case only), `BENCH_SMALL_ITERS` (20000), `BENCH_LARGE_ITERS` (15),
//! `BENCH_OLD` (0: skip the old redactor). For instruction counts on a shared machine:
//! `BENCH_CASE=json-2k BENCH_SMALL_ITERS=1000 valgrind --tool=callgrind <bench binary>`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use switchboard::auth::Redactor;

const QUERY_KEY: &[u8] = b"sk_live_51Hx9Qb2eZvKYlo2C/+=~k3y";
const HEADER_VALUE: &[u8] = b"Bearer sk_live_51Hx9Qb2eZvKYlo2C/+=~k3y";

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A 2 KiB JSON answer of the kind APIs return: ids, names, URLs, timestamps.
fn json_2k() -> Vec<u8> {
    let mut out = b"{\"object\":\"list\",\"has_more\":false,\"data\":[".to_vec();
    let mut i = 0;
    while out.len() < 2048 - 260 {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(
            format!(
                "{{\"id\":\"cus_{i:04}NffrFeUfNV2Hib\",\"email\":\"jenny.rosen{i}@example.com\",\
                 \"name\":\"Jenny Rosen\",\"created\":1680893993,\"livemode\":false,\
                 \"url\":\"https://api.example.com/v1/customers/cus_{i:04}\"}}"
            )
            .as_bytes(),
        );
        i += 1;
    }
    out.extend_from_slice(b"],\"url\":\"/v1/customers\"}");
    out
}

fn headers() -> Vec<(Vec<u8>, Vec<u8>)> {
    [
        ("content-type", "application/json; charset=utf-8"),
        ("date", "Tue, 01 Dec 2026 02:30:50 GMT"),
        ("server", "nginx"),
        ("cache-control", "no-cache, no-store"),
        ("request-id", "req_8bWh2ve9vqU0Zx"),
        ("x-ratelimit-limit", "100"),
        ("x-ratelimit-remaining", "97"),
        (
            "strict-transport-security",
            "max-age=63072000; includeSubDomains; preload",
        ),
        ("vary", "Origin"),
        ("etag", "W/\"5e-1f2c3d4e\""),
    ]
    .into_iter()
    .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
    .collect()
}

fn text_8m() -> Vec<u8> {
    let chunk = json_2k();
    let mut hay = Vec::with_capacity(8 << 20);
    while hay.len() < 8 << 20 {
        hay.extend_from_slice(&chunk);
    }
    hay
}

/// The dense case of the unit test `a_large_body_is_scanned_in_linear_time`.
fn escapes_8m() -> Vec<u8> {
    let chunk = b"{\"a\":\"s\\u006b_live &amp; %41 sk_live_51Hx9Qb2eZ\\/ \\\\n\"} ";
    let mut hay = Vec::with_capacity(8 << 20);
    while hay.len() < 8 << 20 {
        hay.extend_from_slice(chunk);
    }
    hay
}

/// Median and 10th percentile of `iters` runs of `f`.
fn measure(iters: u64, mut f: impl FnMut()) -> (Duration, Duration) {
    for _ in 0..iters.div_ceil(10) {
        f();
    }
    let mut samples: Vec<Duration> = (0..iters)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    samples.sort();
    (samples[samples.len() / 2], samples[samples.len() / 10])
}

fn show(d: Duration) -> String {
    if d < Duration::from_millis(1) {
        format!("{:.2} µs", d.as_secs_f64() * 1e6)
    } else {
        format!("{:.2} ms", d.as_secs_f64() * 1e3)
    }
}

fn main() {
    let only = std::env::var("BENCH_CASE").ok();
    let small = env_or("BENCH_SMALL_ITERS", 20_000);
    let large = env_or("BENCH_LARGE_ITERS", 15);
    let with_old = env_or("BENCH_OLD", 1) != 0;

    let mut new = Redactor::default();
    let mut old = old::Redactor::default();
    for secret in [QUERY_KEY, HEADER_VALUE] {
        new.add(secret);
        old.add(secret);
    }

    let json = json_2k();
    let hdrs = headers();
    let text = text_8m();
    let escapes = escapes_8m();
    type Case<'a> = (
        &'a str,
        u64,
        Box<dyn Fn(&dyn Fn(&[u8]) -> bool) -> usize + 'a>,
    );
    let cases: Vec<Case> = vec![
        ("json-2k", small, Box::new(|r| usize::from(r(&json)))),
        (
            "headers",
            small,
            Box::new(|r| {
                hdrs.iter()
                    .map(|(n, v)| usize::from(r(n)) + usize::from(r(v)))
                    .sum()
            }),
        ),
        ("text-8m", large, Box::new(|r| usize::from(r(&text)))),
        ("escapes-8m", large, Box::new(|r| usize::from(r(&escapes)))),
    ];
    println!(
        "redactor: 2 secrets ({} and {} bytes), no secret in any haystack; median (p10)",
        QUERY_KEY.len(),
        HEADER_VALUE.len()
    );
    for (name, iters, case) in &cases {
        if only.as_deref().is_some_and(|o| o != *name) {
            continue;
        }
        let run_new = |h: &[u8]| new.redact(black_box(h)).is_some();
        assert_eq!(case(&run_new), 0, "{name}: the haystack holds no secret");
        let (m, p10) = measure(*iters, || {
            black_box(case(&run_new));
        });
        let mut line = format!("{name:>10}: new {} ({})", show(m), show(p10));
        if with_old {
            let run_old = |h: &[u8]| old.redact(black_box(h)).is_some();
            let (om, op10) = measure(*iters, || {
                black_box(case(&run_old));
            });
            line += &format!(
                ", old {} ({}), new/old {:.2}",
                show(om),
                show(op10),
                m.as_secs_f64() / om.as_secs_f64()
            );
        }
        println!("{line}");
    }
}

/// The redactor of commit 01d8256 (before issue 11), unchanged but for `Zeroizing`.
mod old {
    use memchr::memmem;

    const REDACTED: &[u8] = b"[redacted]";

    #[derive(Default)]
    pub(crate) struct Redactor {
        needles: Vec<Vec<u8>>,
    }

    impl Redactor {
        pub(crate) fn add(&mut self, secret: &[u8]) {
            if secret.is_empty() {
                return;
            }
            let mut forms = vec![secret.to_vec()];
            let form: String = url::form_urlencoded::byte_serialize(secret).collect();
            forms.push(form.into_bytes());
            forms.push(percent_encode(secret));
            if let Ok(text) = std::str::from_utf8(secret) {
                let json = serde_json::to_string(text).expect("strings serialise");
                forms.push(json.as_bytes()[1..json.len() - 1].to_vec());
            }
            for f in forms {
                if !self.needles.iter().any(|n| n.as_slice() == f.as_slice()) {
                    self.needles.push(f);
                }
            }
            self.needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        }

        pub(crate) fn redact(&self, bytes: &[u8]) -> Option<Vec<u8>> {
            let mut current: Option<Vec<u8>> = None;
            for needle in &self.needles {
                let hay = current.as_deref().unwrap_or(bytes);
                let finder = memmem::Finder::new(needle.as_slice());
                let mut hits = finder.find_iter(hay).peekable();
                if hits.peek().is_none() {
                    continue;
                }
                let mut out = Vec::with_capacity(hay.len());
                let mut last = 0;
                for at in hits {
                    if at < last {
                        continue;
                    }
                    out.extend_from_slice(&hay[last..at]);
                    out.extend_from_slice(REDACTED);
                    last = at + needle.len();
                }
                out.extend_from_slice(&hay[last..]);
                current = Some(out);
            }
            current
        }
    }

    /// RFC 3986 unreserved characters stay; everything else is `%XX`.
    fn percent_encode(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(bytes.len() * 3);
        for &b in bytes {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                out.push(b);
            } else {
                out.extend_from_slice(format!("%{b:02X}").as_bytes());
            }
        }
        out
    }
}
