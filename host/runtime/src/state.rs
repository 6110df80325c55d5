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
use switchboard_auth::Redactor;
use switchboard_model::InvocationContext;
use switchboard_model::records::AuditRecord;
use switchboard_outbound::{
    BrokerError, ConnectionBroker, Outbound, OutboundError, OutboundRequest, Policy,
};

/// Lines a call may log; later lines are counted and dropped.
pub(crate) const MAX_LOG_LINES: usize = 100;
/// Longest kept log line, in bytes; longer lines are cut.
pub(crate) const MAX_LOG_LINE_BYTES: usize = 4096;

/// The epoch callback's trap when a call passes its deadline.
#[derive(Debug)]
pub(super) struct DeadlineExceeded;

impl std::fmt::Display for DeadlineExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("deadline exceeded")
    }
}

impl std::error::Error for DeadlineExceeded {}

/// Enforces the call's memory limit over all its linear memories together (what
/// the call reserved of the host's memory budget), and remembers that it did, so
/// a trap that follows a refused growth is reported as "memory limit", not as a
/// bare trap.
#[derive(Debug)]
pub(super) struct MemoryLimiter {
    limit_bytes: usize,
    /// Bytes of all linear memories of this store so far.
    total_bytes: usize,
    pub(super) exceeded: bool,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> Result<bool> {
        let total = self
            .total_bytes
            .saturating_sub(current)
            .saturating_add(desired);
        if total > self.limit_bytes {
            self.exceeded = true;
            return Ok(false);
        }
        self.total_bytes = total;
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
    context: Arc<InvocationContext>,
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
        context: Arc<InvocationContext>,
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
                total_bytes: 0,
                exceeded: false,
            },
            logs: CallLogs::default(),
            context,
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

/// The message as the host's own log prints it: control characters (newlines,
/// carriage returns, ANSI escapes, C1 controls), Unicode line separators and
/// bidirectional overrides become `\n`, `\u{1b}`-style escapes, so a function
/// cannot start a forged host log line or repaint the operator's terminal. The
/// stored [`LogLine`] keeps the text as the function wrote it (the API returns it
/// inside JSON, which escapes it).
pub(super) fn escape_for_host_log(message: &str) -> std::borrow::Cow<'_, str> {
    fn needs_escape(c: char) -> bool {
        c.is_control()
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    }
    if !message.chars().any(needs_escape) {
        return std::borrow::Cow::Borrowed(message);
    }
    let mut out = String::with_capacity(message.len() + 16);
    for c in message.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
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
                tracing::warn!(function = %self.context.function, request_id = %self.context.request_id, "log line limit reached; dropping further lines of this call");
            }
            return;
        }
        let message = truncate_utf8(message, MAX_LOG_LINE_BYTES);
        let printed = escape_for_host_log(&message);
        tracing::info!(target: "switchboard::plugin", function = %self.context.function, request_id = %self.context.request_id, level, "{printed}");
        self.logs.lines.push(LogLine {
            time_ms: now_ms(),
            level,
            message,
        });
    }
}

fn method(m: http::Method) -> switchboard_outbound::Method {
    match m {
        http::Method::Get => switchboard_outbound::Method::GET,
        http::Method::Head => switchboard_outbound::Method::HEAD,
        http::Method::Post => switchboard_outbound::Method::POST,
        http::Method::Put => switchboard_outbound::Method::PUT,
        http::Method::Patch => switchboard_outbound::Method::PATCH,
        http::Method::Delete => switchboard_outbound::Method::DELETE,
        http::Method::Options => switchboard_outbound::Method::OPTIONS,
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

/// A broker error for the function, redacted with the credentials already in hand (none
/// before the connection is resolved: those messages are the host's own text).
fn broker_error(e: BrokerError, redactor: Option<&Redactor>) -> http::Error {
    let clean = |mut m: String| {
        if let Some(r) = redactor {
            r.redact_string(&mut m);
        }
        m
    };
    match e {
        BrokerError::Unknown(m) => http::Error::UnknownConnection(clean(m)),
        BrokerError::NotGranted(m) => http::Error::NotGranted(clean(m)),
        BrokerError::NeedsReconnect(m) => http::Error::NeedsReconnect(clean(m)),
        BrokerError::Unavailable(m) => http::Error::Transport(clean(m)),
        BrokerError::InvalidRequest(m) => http::Error::InvalidRequest(clean(m)),
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
            function: self.context.function.to_string(),
            method: method.as_str().to_owned(),
            origin: String::new(),
            path: String::new(),
            status: None,
            outcome: "ok".into(),
            duration_us: 0,
        };
        let mut connection_id = None;
        let result = async {
            let connection = self
                .broker
                .resolve(&self.context, link, &request.url)
                .await
                .map_err(|e| broker_error(e, None))?;
            connection_id = Some(connection.connection_id.clone());
            let url = connection.url.clone();
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
                    // The upstream saw the first credentials too: what comes back from
                    // here on passes their redactor as well as the fresh one's.
                    let used = connection.credential.redactor();
                    // No fresh credentials (refreshed too recently): the 401 is the answer.
                    let Some(fresh) = self
                        .broker
                        .refresh_after_unauthorized(&self.context, link, &connection)
                        .await
                        .map_err(|e| broker_error(e, Some(used)))?
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
                        .map(|mut r| {
                            r.redact(used);
                            r
                        })
                        .map_err(|e| to_wit(e.redacted(used)))
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
        self.broker
            .record(&self.context, link, connection_id.as_deref(), audit);
        result.map(into_wit)
    }
}

fn into_wit(response: switchboard_outbound::OutboundResponse) -> http::Response {
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

    #[test]
    fn host_log_lines_cannot_be_forged_or_repaint_the_terminal() {
        assert!(matches!(
            escape_for_host_log("plain é text"),
            std::borrow::Cow::Borrowed(_)
        ));
        let forged = "ok\n2026-01-01T00:00:00Z  INFO switchboard: admin token rotated\r\x1b[2J\u{85}\u{202e}";
        let printed = escape_for_host_log(forged);
        assert!(!printed.chars().any(|c| c.is_control()), "{printed}");
        assert_eq!(
            printed,
            "ok\\n2026-01-01T00:00:00Z  INFO switchboard: admin token rotated\\r\\u{1b}[2J\\u{85}\\u{202e}"
        );
    }
}
