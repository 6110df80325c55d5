//! Per-call state: what one `Store` holds while a function runs, and the host
//! side of the WIT imports (`http`, `log`) and of the WASI subset we link.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use wasmtime::component::{HasData, Linker, ResourceTable};
use wasmtime::{ResourceLimiter, Result};
use wasmtime_wasi::cli::{WasiCli, WasiCliView};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
use wasmtime_wasi::random::WasiRandom;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::CallSpec;
use super::bindings::{http, log};
use crate::connections::fill_url;
use crate::outbound::{
    self, BrokerError, ConnectionBroker, Outbound, OutboundError, OutboundRequest, Policy,
};
use crate::store::AuditRecord;

/// Lines a call may log; later lines are counted and dropped.
pub const MAX_LOG_LINES: usize = 100;
/// Longest kept log line, in bytes; longer lines are cut.
pub const MAX_LOG_LINE_BYTES: usize = 4096;

/// The epoch callback's trap when a call passes its deadline.
#[derive(Debug)]
pub(super) struct DeadlineExceeded;

impl std::fmt::Display for DeadlineExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("deadline exceeded")
    }
}

impl std::error::Error for DeadlineExceeded {}

/// Enforces the per-memory limit and remembers that it did, so a trap that
/// follows a refused growth is reported as "memory limit", not as a bare trap.
#[derive(Debug)]
pub(super) struct MemoryLimiter {
    limit_bytes: usize,
    pub(super) exceeded: bool,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> Result<bool> {
        if desired > self.limit_bytes {
            self.exceeded = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// One line a function logged.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LogLine {
    /// Unix milliseconds.
    pub time_ms: u64,
    /// `trace`, `debug`, `info`, `warn` or `error`.
    pub level: &'static str,
    /// The message, at most [`MAX_LOG_LINE_BYTES`].
    pub message: String,
}

#[derive(Debug, Default)]
pub(super) struct CallLogs {
    pub(super) lines: Vec<LogLine>,
    dropped: usize,
}

/// Everything a store holds for one call.
pub(super) struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(super) limiter: MemoryLimiter,
    pub(super) logs: CallLogs,
    function: Arc<str>,
    outbound: Arc<Outbound>,
    broker: Arc<dyn ConnectionBroker>,
    policy: Arc<Policy>,
    deadline: Instant,
    requests_left: u32,
    max_requests: u32,
}

impl CallState {
    pub(super) fn new(
        spec: &CallSpec,
        outbound: Arc<Outbound>,
        broker: Arc<dyn ConnectionBroker>,
        deadline: Instant,
        memory_bytes: usize,
    ) -> Self {
        Self {
            // No preopens, arguments, environment or network; stdio discarded.
            wasi: WasiCtx::builder()
                .allow_tcp(false)
                .allow_udp(false)
                .allow_ip_name_lookup(false)
                .build(),
            table: ResourceTable::new(),
            limiter: MemoryLimiter {
                limit_bytes: memory_bytes,
                exceeded: false,
            },
            logs: CallLogs::default(),
            function: spec.function.clone(),
            outbound,
            broker,
            policy: spec.policy.clone(),
            deadline,
            requests_left: spec.limits.max_requests,
            max_requests: spec.limits.max_requests,
        }
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

struct HasIo;

impl HasData for HasIo {
    type Data<'a> = &'a mut ResourceTable;
}

/// Links the WASI p2 interfaces listed in [`super::ALLOWED_IMPORTS`], and no
/// others: filesystem and sockets are never linked, so even a component that
/// slipped past validation could not reach them.
pub(super) fn add_wasi_to_linker(l: &mut Linker<CallState>) -> Result<()> {
    use wasmtime_wasi::p2::bindings::{cli, clocks, random};
    use wasmtime_wasi_io::bindings::wasi::io;

    io::error::add_to_linker::<CallState, HasIo>(l, |t| &mut t.table)?;
    io::poll::add_to_linker::<CallState, HasIo>(l, |t| &mut t.table)?;
    io::streams::add_to_linker::<CallState, HasIo>(l, |t| &mut t.table)?;
    clocks::wall_clock::add_to_linker::<CallState, WasiClocks>(l, CallState::clocks)?;
    clocks::monotonic_clock::add_to_linker::<CallState, WasiClocks>(l, CallState::clocks)?;
    random::random::add_to_linker::<CallState, WasiRandom>(l, |t| t.wasi.random())?;
    random::insecure::add_to_linker::<CallState, WasiRandom>(l, |t| t.wasi.random())?;
    random::insecure_seed::add_to_linker::<CallState, WasiRandom>(l, |t| t.wasi.random())?;
    cli::exit::add_to_linker::<CallState, WasiCli>(l, CallState::cli)?;
    cli::environment::add_to_linker::<CallState, WasiCli>(l, CallState::cli)?;
    cli::stdin::add_to_linker::<CallState, WasiCli>(l, CallState::cli)?;
    cli::stdout::add_to_linker::<CallState, WasiCli>(l, CallState::cli)?;
    cli::stderr::add_to_linker::<CallState, WasiCli>(l, CallState::cli)?;
    cli::terminal_input::add_to_linker::<CallState, WasiCli>(l, CallState::cli)?;
    cli::terminal_output::add_to_linker::<CallState, WasiCli>(l, CallState::cli)?;
    cli::terminal_stdin::add_to_linker::<CallState, WasiCli>(l, CallState::cli)?;
    cli::terminal_stdout::add_to_linker::<CallState, WasiCli>(l, CallState::cli)?;
    cli::terminal_stderr::add_to_linker::<CallState, WasiCli>(l, CallState::cli)?;
    Ok(())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn truncate_utf8(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

impl log::Host for CallState {
    async fn log(&mut self, level: log::Level, message: String) {
        let level = match level {
            log::Level::Trace => "trace",
            log::Level::Debug => "debug",
            log::Level::Info => "info",
            log::Level::Warn => "warn",
            log::Level::Error => "error",
        };
        if self.logs.lines.len() >= MAX_LOG_LINES {
            self.logs.dropped += 1;
            if self.logs.dropped == 1 {
                tracing::warn!(function = %self.function, "log line limit reached; dropping further lines of this call");
            }
            return;
        }
        let message = truncate_utf8(message, MAX_LOG_LINE_BYTES);
        tracing::info!(target: "switchboard::plugin", function = %self.function, level, "{message}");
        self.logs.lines.push(LogLine {
            time_ms: now_ms(),
            level,
            message,
        });
    }
}

fn method(m: http::Method) -> outbound::Method {
    match m {
        http::Method::Get => outbound::Method::GET,
        http::Method::Head => outbound::Method::HEAD,
        http::Method::Post => outbound::Method::POST,
        http::Method::Put => outbound::Method::PUT,
        http::Method::Patch => outbound::Method::PATCH,
        http::Method::Delete => outbound::Method::DELETE,
        http::Method::Options => outbound::Method::OPTIONS,
    }
}

fn to_wit(e: OutboundError) -> http::Error {
    match e {
        OutboundError::HostNotAllowed(m) => http::Error::HostNotAllowed(m),
        OutboundError::InvalidRequest(m) => http::Error::InvalidRequest(m),
        OutboundError::LimitExceeded(m) => http::Error::LimitExceeded(m),
        OutboundError::Timeout => http::Error::Timeout,
        OutboundError::Transport(m) => http::Error::Transport(m),
    }
}

fn broker_error(e: BrokerError) -> http::Error {
    match e {
        BrokerError::Unknown(m) => http::Error::UnknownConnection(m),
        BrokerError::NotGranted(m) => http::Error::NotGranted(m),
        BrokerError::NeedsReconnect(m) => http::Error::NeedsReconnect(m),
        BrokerError::Unavailable(m) => http::Error::Transport(m),
    }
}

/// The WIT name of an error, as the audit trail records it.
fn kind(e: &http::Error) -> &'static str {
    match e {
        http::Error::UnknownConnection(_) => "unknown-connection",
        http::Error::NotGranted(_) => "not-granted",
        http::Error::HostNotAllowed(_) => "host-not-allowed",
        http::Error::NeedsReconnect(_) => "needs-reconnect",
        http::Error::InvalidRequest(_) => "invalid-request",
        http::Error::LimitExceeded(_) => "limit-exceeded",
        http::Error::Timeout => "timeout",
        http::Error::Transport(_) => "transport",
    }
}

impl CallState {
    fn request_timeout(&self, asked_ms: Option<u32>) -> Duration {
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        asked_ms
            .map(|ms| Duration::from_millis(u64::from(ms)))
            .map_or(remaining, |t| t.min(remaining))
    }

    fn check_budget(&self) -> Result<(), http::Error> {
        if self.requests_left == 0 {
            return Err(http::Error::LimitExceeded(format!(
                "this function may make at most {} outbound requests per call",
                self.max_requests
            )));
        }
        Ok(())
    }

    /// A request through connection `link`: grant and status checks, placeholders,
    /// the connection's origins and credential, and one audit record whatever happens.
    async fn via_connection(
        &mut self,
        link: &str,
        request: http::Request,
    ) -> Result<http::Response, http::Error> {
        let started = Instant::now();
        let method = method(request.method);
        let mut audit = AuditRecord {
            time_ms: now_ms(),
            function: self.function.to_string(),
            method: method.as_str().to_owned(),
            origin: String::new(),
            path: String::new(),
            status: None,
            outcome: "ok".into(),
            duration_us: 0,
        };
        let result = async {
            let connection = self
                .broker
                .resolve(&self.function, link)
                .await
                .map_err(broker_error)?;
            let url =
                fill_url(&request.url, &connection.params).map_err(http::Error::InvalidRequest)?;
            if let Ok(parsed) = url::Url::parse(&url) {
                audit.origin = parsed.origin().ascii_serialization();
                audit.path = parsed.path().to_owned();
            }
            self.check_budget()?;
            let outbound_request = OutboundRequest {
                method,
                url,
                headers: request.headers,
                body: request.body,
                timeout: self.request_timeout(request.timeout_ms),
            };
            // An OAuth 2 API may answer 401 to an access token revoked or expired early:
            // refresh once (single flight, in the broker) and send once more.
            let retry = connection.refreshable.then(|| outbound_request.clone());
            let response = self
                .outbound
                .send(
                    &connection.policy,
                    outbound_request,
                    &mut self.requests_left,
                    Some(&connection.credential),
                )
                .await
                .map_err(to_wit)?;
            match retry {
                Some(again) if response.status == 401 => {
                    // No fresh credentials (refreshed too recently): the 401 is the answer.
                    let Some(fresh) = self
                        .broker
                        .refresh_after_unauthorized(&self.function, link, &connection)
                        .await
                        .map_err(broker_error)?
                    else {
                        return Ok(response);
                    };
                    self.check_budget()?;
                    self.outbound
                        .send(
                            &fresh.policy,
                            again,
                            &mut self.requests_left,
                            Some(&fresh.credential),
                        )
                        .await
                        .map_err(to_wit)
                }
                _ => Ok(response),
            }
        }
        .await;
        match &result {
            Err(http::Error::UnknownConnection(_)) => return result.map(into_wit),
            Ok(response) => audit.status = Some(response.status),
            Err(e) => audit.outcome = kind(e).to_owned(),
        }
        audit.duration_us = started.elapsed().as_micros() as u64;
        self.broker.record(link, audit);
        result.map(into_wit)
    }
}

fn into_wit(response: outbound::OutboundResponse) -> http::Response {
    http::Response {
        status: response.status,
        headers: response.headers,
        body: response.body,
    }
}

impl http::Host for CallState {
    async fn invoke_url(
        &mut self,
        connection: Option<String>,
        request: http::Request,
    ) -> Result<http::Response, http::Error> {
        if let Some(link) = connection {
            return self.via_connection(&link, request).await;
        }
        self.check_budget()?;
        let request = OutboundRequest {
            method: method(request.method),
            url: request.url,
            headers: request.headers,
            body: request.body,
            timeout: self.request_timeout(request.timeout_ms),
        };
        self.outbound
            .send(&self.policy, request, &mut self.requests_left, None)
            .await
            .map(into_wit)
            .map_err(to_wit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_utf8_valid() {
        assert_eq!(truncate_utf8("abc".into(), 10), "abc");
        assert_eq!(truncate_utf8("abcdef".into(), 3), "abc…");
        // 'é' is two bytes: cutting in its middle backs off to a boundary.
        assert_eq!(truncate_utf8("aé".into(), 2), "a…");
    }
}
