//! Every request a function makes leaves through here: the allowed-origin
//! policy, our own redirect handling (each hop checked again), the private
//! network guard after DNS, timeouts and the response-size cap, on one shared client.
//!
//! With a connection, the policy is the connection's API origins, the connection's
//! [`Credential`] is put on every hop that policy allows, requests that would override
//! or smuggle a credential are refused before anything is sent, and the secret values
//! are redacted from the response. Nothing else in the host talks to the network for a
//! function.

mod net;
mod token;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
pub use reqwest::Method;
use url::Url;

use net::GuardedResolver;
pub use net::{BlockedAddress, is_private};
pub use token::{TokenHttp, TokenHttpError};

use switchboard_auth::{Credential, Redactor};
use switchboard_model::InvocationContext;
use switchboard_model::records::AuditRecord;

/// Request headers a function may not set: hop-by-hop headers, `Host`, and
/// `Content-Length` (the host computes it). Any `proxy-*` header is refused too.
pub const FORBIDDEN_REQUEST_HEADERS: &[&str] = &[
    "host",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

/// Hop-by-hop response headers, not passed on to the function.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Process-wide settings of the outbound client.
#[derive(Debug, Clone)]
pub struct OutboundConfig {
    /// Let requests reach loopback, private and link-local addresses (tests, local development).
    pub allow_private_networks: bool,
    /// Largest response body a function may receive, in bytes.
    pub max_response_bytes: usize,
    /// Redirects followed per request.
    pub max_redirects: u32,
    /// Bound on establishing a connection.
    pub connect_timeout: Duration,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        Self {
            allow_private_networks: false,
            max_response_bytes: 8 * 1024 * 1024,
            max_redirects: 5,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// A request as a function asked for it.
#[derive(Debug, Clone)]
pub struct OutboundRequest {
    /// HTTP method.
    pub method: Method,
    /// Absolute URL.
    pub url: String,
    /// Headers in order; names are checked against [`FORBIDDEN_REQUEST_HEADERS`].
    pub headers: Vec<(String, String)>,
    /// Body, if any.
    pub body: Option<Vec<u8>>,
    /// Bound on the whole exchange, redirects included.
    pub timeout: Duration,
}

/// The final response after redirects.
#[derive(Debug)]
pub struct OutboundResponse {
    /// Status code.
    pub status: u16,
    /// Headers (hop-by-hop ones and `Content-Encoding` removed, `Content-Length` that of
    /// `body`), names and values redacted, then decoded lossily as UTF-8.
    pub headers: Vec<(String, String)>,
    /// Body, decoded, at most [`OutboundConfig::max_response_bytes`].
    pub body: Vec<u8>,
}

impl OutboundResponse {
    /// Redacts `redactor`'s secrets from header names, values and the body (a second
    /// credential's, after a retry with refreshed ones), keeping `Content-Length` true.
    pub fn redact(&mut self, redactor: &Redactor) {
        for (name, value) in &mut self.headers {
            redactor.redact_string(name);
            redactor.redact_string(value);
        }
        if let Some(out) = redactor.redact(&self.body) {
            self.body = out;
            let len = self.body.len().to_string();
            for (name, value) in &mut self.headers {
                if name == "content-length" {
                    value.clone_from(&len);
                }
            }
        }
    }
}

/// Why a request was refused or failed. Messages never contain a query string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    /// The origin, a redirect's origin, or the resolved address is not allowed.
    #[error("host not allowed: {0}")]
    HostNotAllowed(String),
    /// Bad URL, scheme or header.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// Request budget or response size exceeded.
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
    /// The request's time ran out.
    #[error("timeout")]
    Timeout,
    /// Connecting or reading failed.
    #[error("transport error: {0}")]
    Transport(String),
}

impl OutboundError {
    /// The error with `redactor`'s secrets replaced in its message.
    #[must_use]
    pub fn redacted(self, redactor: &Redactor) -> Self {
        let clean = |mut m: String| {
            redactor.redact_string(&mut m);
            m
        };
        match self {
            OutboundError::HostNotAllowed(m) => OutboundError::HostNotAllowed(clean(m)),
            OutboundError::InvalidRequest(m) => OutboundError::InvalidRequest(clean(m)),
            OutboundError::LimitExceeded(m) => OutboundError::LimitExceeded(clean(m)),
            OutboundError::Timeout => OutboundError::Timeout,
            OutboundError::Transport(m) => OutboundError::Transport(clean(m)),
        }
    }
}

/// Which origins a request may reach: a function's allowed hosts (no connection), or a
/// connection's API origins.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    allowed: Vec<url::Origin>,
    /// The connection's link name, for messages; `None` for a function's own hosts.
    connection: Option<Arc<str>>,
}

impl Policy {
    /// Builds a function's policy from origins already normalised by [`normalize_origin`].
    ///
    /// # Errors
    /// An entry is not a valid origin.
    pub fn new(origins: &[String]) -> Result<Self, String> {
        let allowed = origins
            .iter()
            .map(|o| {
                normalize_origin(o)
                    .and_then(|n| Ok(Url::parse(&n).map_err(|e| e.to_string())?.origin()))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            allowed,
            connection: None,
        })
    }

    /// Builds the policy of connection `link`, whose credentials may go to `origins`.
    ///
    /// # Errors
    /// An entry is not a valid origin.
    pub fn for_connection(link: &str, origins: &[String]) -> Result<Self, String> {
        Ok(Self {
            connection: Some(link.into()),
            ..Self::new(origins)?
        })
    }

    fn describe(&self) -> String {
        self.allowed
            .iter()
            .map(url::Origin::ascii_serialization)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Whether `url`'s origin is allowed.
    pub fn allows(&self, url: &Url) -> bool {
        let origin = url.origin();
        self.allowed.contains(&origin)
    }
}

/// Parses an allowed-host entry (`https://api.example.com`, `http://127.0.0.1:8080`)
/// into its canonical origin form.
///
/// # Errors
/// A message saying what is wrong with the entry: not a URL, not http(s), has a
/// path, query, fragment or user info.
pub fn normalize_origin(entry: &str) -> Result<String, String> {
    let url = Url::parse(entry).map_err(|e| {
        format!("allowed host `{entry}` is not an origin like https://api.example.com: {e}")
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("allowed host `{entry}` must use http or https"));
    }
    if url.host().is_none() {
        return Err(format!("allowed host `{entry}` has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("allowed host `{entry}` must not contain user info"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "allowed host `{entry}` must be an origin only (scheme://host[:port]), without a path, query or fragment"
        ));
    }
    Ok(url.origin().ascii_serialization())
}

/// `scheme://host:port/path` of a URL: what error messages and logs may show.
pub fn redact_url(url: &Url) -> String {
    format!("{}{}", url.origin().ascii_serialization(), url.path())
}

/// The one HTTP client for function traffic, and the host's own client for OAuth token
/// requests ([`TokenHttp`]: the same private-network guard, never follows redirects).
#[derive(Debug)]
pub struct Outbound {
    client: reqwest::Client,
    token_client: TokenHttp,
    config: OutboundConfig,
}

impl Outbound {
    /// Builds the client: no automatic redirects, no proxies from the
    /// environment, the private-network guard in its resolver.
    ///
    /// # Errors
    /// The TLS backend failed to initialise.
    pub fn new(config: OutboundConfig) -> anyhow::Result<Arc<Self>> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .referer(false)
            .connect_timeout(config.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(GuardedResolver::new(
                config.allow_private_networks,
            )))
            .build()?;
        let token_client = TokenHttp::new(&config)?;
        Ok(Arc::new(Self {
            client,
            token_client,
            config,
        }))
    }

    /// The client for the host's own token requests (OAuth 1 and 2).
    pub fn token_client(&self) -> &TokenHttp {
        &self.token_client
    }

    /// Settings in force.
    pub fn config(&self) -> &OutboundConfig {
        &self.config
    }

    /// Sends `req` under `policy`, following redirects whose targets the policy
    /// also allows. Each hop spends one unit of `budget`. With a `credential`, the
    /// request is checked for smuggled credentials first, the credential is put on
    /// every hop, and its secrets are redacted from the response and from the error
    /// (every string that leaves here passes the redactor).
    ///
    /// The host owns content negotiation: whatever the function set, every hop asks for
    /// [`ACCEPT_ENCODING`]; a gzip or deflate response is decoded (bounded by
    /// [`OutboundConfig::max_response_bytes`] after decoding) before redaction, and any
    /// other `Content-Encoding` is refused. The function gets the decoded body, without
    /// `Content-Encoding`, with a `Content-Length` of what it receives.
    ///
    /// # Errors
    /// [`OutboundError`]; nothing is sent for a refused origin, URL or header.
    pub async fn send(
        &self,
        policy: &Policy,
        req: OutboundRequest,
        budget: &mut u32,
        credential: Option<&Credential>,
    ) -> Result<OutboundResponse, OutboundError> {
        let result = self.send_unredacted(policy, req, budget, credential).await;
        match credential {
            Some(c) => result.map_err(|e| e.redacted(c.redactor())),
            None => result,
        }
    }

    async fn send_unredacted(
        &self,
        policy: &Policy,
        req: OutboundRequest,
        budget: &mut u32,
        credential: Option<&Credential>,
    ) -> Result<OutboundResponse, OutboundError> {
        let deadline = Instant::now() + req.timeout;
        if has_dot_segment(&req.url) {
            return Err(OutboundError::InvalidRequest(format!(
                "the URL's path has a `.` or `..` segment (or one spelled with %2E); URLs are normalised by removing such segments, so the request would go to, and be signed for, another path than the one given. {DOT_SEGMENT_HINT}"
            )));
        }
        let mut url = Url::parse(&req.url).map_err(|e| {
            OutboundError::InvalidRequest(format!("URL is not absolute or not valid: {e}"))
        })?;
        if let Some(c) = credential {
            c.check_request(&req.method, &url, &req.headers, req.body.as_deref())
                .map_err(|e| OutboundError::InvalidRequest(e.0))?;
        }
        let mut headers = build_headers(&req.headers)?;
        // Content negotiation is the host's: the function's choice is dropped here (before
        // any signing) and replaced on every hop.
        headers.remove(reqwest::header::ACCEPT_ENCODING);
        let mut method = req.method;
        let mut body = req.body;

        for hop in 0..=self.config.max_redirects {
            self.check_target(policy, &url, hop > 0)?;
            if *budget == 0 {
                return Err(OutboundError::LimitExceeded(
                    "no outbound requests left for this call".into(),
                ));
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(OutboundError::Timeout);
            }
            let (mut hop_url, mut hop_headers, mut hop_body) =
                (url.clone(), headers.clone(), body.clone());
            if let Some(c) = credential {
                c.apply(&method, &mut hop_url, &mut hop_headers, &mut hop_body)
                    .map_err(|e| OutboundError::InvalidRequest(e.0))?;
            }
            // After signing, so it stays out of a SigV4 signature (caches and CDNs rewrite
            // it in transit).
            hop_headers.insert(
                reqwest::header::ACCEPT_ENCODING,
                reqwest::header::HeaderValue::from_static(ACCEPT_ENCODING),
            );
            *budget -= 1;
            let mut builder = self
                .client
                .request(method.clone(), hop_url)
                .headers(hop_headers)
                .timeout(remaining);
            if let Some(b) = hop_body {
                builder = builder.body(b);
            }
            let response = builder.send().await.map_err(|e| map_error(&e, &url))?;
            let code = response.status().as_u16();
            // Only these redirect; any other 3xx (304 Not Modified, 300, 305) is an
            // answer and goes to the function as it is.
            if matches!(code, 301 | 302 | 303 | 307 | 308)
                && let Some(location) = response.headers().get(reqwest::header::LOCATION)
            {
                let location = location.to_str().map_err(|_| {
                    OutboundError::Transport("redirect Location header is not valid text".into())
                })?;
                if has_dot_segment(location) {
                    return Err(OutboundError::InvalidRequest(format!(
                        "the upstream redirected to a URL whose path has a `.` or `..` segment; the host does not follow it (it would be sent to another path than the one given). {DOT_SEGMENT_HINT}"
                    )));
                }
                url = url.join(location).map_err(|e| {
                    OutboundError::Transport(format!("redirect Location is not a valid URL: {e}"))
                })?;
                // 303 always (a HEAD stays a HEAD), and 301/302 after a POST, become a
                // GET without a body or the headers that describe one (what browsers do
                // and RFC 9110 section 15.4 describes); 307/308 repeat the request.
                if (code == 303 && method != Method::HEAD)
                    || (matches!(code, 301 | 302) && method == Method::POST)
                {
                    method = Method::GET;
                    body = None;
                    for name in BODY_HEADERS {
                        headers.remove(*name);
                    }
                }
                continue;
            }
            let redactor = credential.map(Credential::redactor);
            return self
                .read_response(response, &url, method == Method::HEAD, redactor)
                .await;
        }
        Err(OutboundError::Transport(format!(
            "more than {} redirects",
            self.config.max_redirects
        )))
    }

    fn check_target(
        &self,
        policy: &Policy,
        url: &Url,
        redirect: bool,
    ) -> Result<(), OutboundError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(OutboundError::InvalidRequest(format!(
                "scheme `{}` is not supported: use http or https",
                url.scheme()
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(OutboundError::InvalidRequest(
                "URL must not contain user info (user:password@)".into(),
            ));
        }
        let origin = url.origin().ascii_serialization();
        if let Some(link) = policy.connection.as_deref()
            && !policy.allows(url)
        {
            // A redirect's target is the upstream's text (it can carry an echoed secret
            // in a form no redactor recognises, such as a punycode host): not quoted.
            return Err(OutboundError::HostNotAllowed(if redirect {
                format!(
                    "the upstream redirected to an origin that is not one of connection `{link}`'s API origins ({}); the host does not follow it, and the credentials go nowhere else",
                    policy.describe()
                )
            } else {
                format!(
                    "{origin} is not one of connection `{link}`'s API origins ({}); its credentials go nowhere else",
                    policy.describe()
                )
            }));
        }
        if !policy.allows(url) {
            return Err(OutboundError::HostNotAllowed(if redirect {
                format!(
                    "redirect to {origin} is not allowed: it is not one of this function's allowed hosts"
                )
            } else {
                format!(
                    "{origin} is not one of this function's allowed hosts (deploy it with --allow-host {origin})"
                )
            }));
        }
        // Literal addresses never reach the resolver, so they are checked here.
        net::check_literal(url, self.config.allow_private_networks)
            .map_err(|b| OutboundError::HostNotAllowed(b.to_string()))?;
        Ok(())
    }

    /// Reads, decodes and (with a connection) redacts the final response: header names
    /// and values are redacted on their raw bytes, before any lossy decoding.
    async fn read_response(
        &self,
        response: reqwest::Response,
        url: &Url,
        head: bool,
        redactor: Option<&Redactor>,
    ) -> Result<OutboundResponse, OutboundError> {
        let status = response.status().as_u16();
        let max = self.config.max_response_bytes;
        if response.content_length().is_some_and(|n| n > max as u64) {
            return Err(too_large(max));
        }
        let encodings = content_encodings(response.headers())?;
        let raw_headers: Vec<(Vec<u8>, Vec<u8>)> = response
            .headers()
            .iter()
            .filter(|(name, _)| {
                !HOP_BY_HOP.contains(&name.as_str())
                    && *name != reqwest::header::CONTENT_ENCODING
                    && *name != reqwest::header::CONTENT_LENGTH
            })
            .map(|(name, value)| (name.as_str().as_bytes().to_vec(), value.as_bytes().to_vec()))
            .collect();
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| map_error(&e, url))?;
            if body.len() + chunk.len() > max {
                return Err(too_large(max));
            }
            body.extend_from_slice(&chunk);
        }
        if !body.is_empty() {
            for encoding in encodings.iter().rev() {
                body = decode(*encoding, &body, max, url)?;
            }
        }
        let text = |mut bytes: Vec<u8>| {
            if let Some(r) = redactor {
                r.redact_in_place(&mut bytes);
            }
            String::from_utf8_lossy(&bytes).into_owned()
        };
        let mut headers: Vec<(String, String)> = raw_headers
            .into_iter()
            .map(|(name, value)| (text(name), text(value)))
            .collect();
        if let Some(r) = redactor {
            r.redact_in_place(&mut body);
            // A short secret grows into the marker wherever it is found: the cap holds on
            // what the function receives.
            if body.len() > max {
                return Err(OutboundError::LimitExceeded(format!(
                    "response body is larger than {max} bytes once the connection's secrets in it are replaced with [redacted]"
                )));
            }
        }
        // The upstream's length would tell the length of what was redacted (or the
        // encoded size); a HEAD answer has no body to measure, so it gets none.
        if !head {
            headers.push(("content-length".into(), body.len().to_string()));
        }
        Ok(OutboundResponse {
            status,
            headers,
            body,
        })
    }
}

/// What every hop asks for, whatever the function set: encodings the host can decode and
/// so inspect. (`identity` is always acceptable.)
pub const ACCEPT_ENCODING: &str = "gzip, deflate";

/// Request headers that describe a body, dropped when a redirect turns a request into a
/// GET without one (RFC 9110 section 15.4).
const BODY_HEADERS: &[&str] = &[
    "content-type",
    "content-encoding",
    "content-language",
    "content-location",
    "digest",
    "content-digest",
    "repr-digest",
    "last-modified",
];

const DOT_SEGMENT_HINT: &str = "Such a path cannot be sent through the host: build it without `.` and `..` segments (an object key containing one is not reachable).";

/// Whether the path of `raw` (an absolute URL or a redirect's reference) has a `.` or `..`
/// segment in any spelling the WHATWG URL parser resolves: `.`, `%2e`, `.%2E`, with `/`
/// or `\\` as separators and tabs or newlines (which the parser drops) anywhere.
fn has_dot_segment(raw: &str) -> bool {
    let cleaned: String = raw
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    let path = cleaned.split(['?', '#']).next().unwrap_or_default();
    path.split(['/', '\\']).any(|segment| {
        let s = segment.to_ascii_lowercase().replace("%2e", ".");
        s == "." || s == ".."
    })
}

/// A content coding the host decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coding {
    Gzip,
    Deflate,
}

/// Registered content and transfer codings the host does not decode, named in its refusal.
const KNOWN_CODINGS: &[&str] = &[
    "br",
    "zstd",
    "compress",
    "x-compress",
    "exi",
    "pack200-gzip",
    "aes128gcm",
    "dcb",
    "dcz",
];

/// Most codings stacked on one response.
const MAX_CODINGS: usize = 3;

/// The codings applied to the response's body, in the order applied: its
/// `Content-Encoding` list, then its `Transfer-Encoding` list (applied after, on the
/// wire), `identity` dropped. `chunked` is the one transfer coding the HTTP client undoes
/// itself; any other (`gzip` included) would reach the function as it is, so it is decoded
/// here like a content coding, or refused.
fn content_encodings(headers: &reqwest::header::HeaderMap) -> Result<Vec<Coding>, OutboundError> {
    let mut codings = Vec::new();
    for (header, label) in [
        (reqwest::header::CONTENT_ENCODING, "Content-Encoding"),
        (reqwest::header::TRANSFER_ENCODING, "Transfer-Encoding"),
    ] {
        for value in headers.get_all(&header) {
            let text = String::from_utf8_lossy(value.as_bytes());
            for token in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                let coding = match token.to_ascii_lowercase().as_str() {
                    "identity" => continue,
                    "chunked" if header == reqwest::header::TRANSFER_ENCODING => continue,
                    "gzip" | "x-gzip" => Coding::Gzip,
                    "deflate" => Coding::Deflate,
                    other => {
                        // Only a registered name is quoted: the upstream's text could be a
                        // secret, and a quote cut short would hold a prefix of it that no
                        // redactor recognises.
                        let shown = KNOWN_CODINGS
                            .iter()
                            .find(|k| **k == other)
                            .map_or_else(|| "an unknown coding".to_owned(), |k| format!("`{k}`"));
                        return Err(OutboundError::Transport(format!(
                            "the upstream answered with {label} {shown}, which the host cannot decode, so it cannot check the response for secrets; the host asks for `{ACCEPT_ENCODING}` or no encoding"
                        )));
                    }
                };
                codings.push(coding);
            }
        }
    }
    if codings.len() > MAX_CODINGS {
        return Err(OutboundError::Transport(format!(
            "the upstream's response has more than {MAX_CODINGS} content encodings"
        )));
    }
    Ok(codings)
}

/// Decodes one layer, refusing more than `max` decoded bytes (a small compressed body
/// can inflate to gigabytes).
fn decode(coding: Coding, body: &[u8], max: usize, url: &Url) -> Result<Vec<u8>, OutboundError> {
    use std::io::Read;
    let read = |reader: &mut dyn Read| -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        reader.take(max as u64 + 1).read_to_end(&mut out)?;
        Ok(out)
    };
    let decoded = match coding {
        Coding::Gzip => read(&mut flate2::read::MultiGzDecoder::new(body)),
        // HTTP's `deflate` is zlib (RFC 9110 section 8.4.1.2); some servers send raw deflate.
        Coding::Deflate => read(&mut flate2::read::ZlibDecoder::new(body))
            .or_else(|_| read(&mut flate2::read::DeflateDecoder::new(body))),
    };
    let name = match coding {
        Coding::Gzip => "gzip",
        Coding::Deflate => "deflate",
    };
    let out = decoded.map_err(|_| {
        OutboundError::Transport(format!(
            "the response from {} is not valid {name} data",
            redact_url(url)
        ))
    })?;
    if out.len() > max {
        return Err(OutboundError::LimitExceeded(format!(
            "response body is larger than {max} bytes once decoded ({name})"
        )));
    }
    Ok(out)
}

fn too_large(max: usize) -> OutboundError {
    OutboundError::LimitExceeded(format!("response body is larger than {max} bytes"))
}

fn build_headers(pairs: &[(String, String)]) -> Result<reqwest::header::HeaderMap, OutboundError> {
    let mut map = reqwest::header::HeaderMap::with_capacity(pairs.len());
    for (name, value) in pairs {
        let lower = name.to_ascii_lowercase();
        if FORBIDDEN_REQUEST_HEADERS.contains(&lower.as_str()) || lower.starts_with("proxy-") {
            return Err(OutboundError::InvalidRequest(format!(
                "header `{name}` may not be set by a function"
            )));
        }
        let n = reqwest::header::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            OutboundError::InvalidRequest(format!("`{name}` is not a valid header name"))
        })?;
        let v = reqwest::header::HeaderValue::from_str(value).map_err(|_| {
            OutboundError::InvalidRequest(format!("value of header `{name}` is not valid"))
        })?;
        map.append(n, v);
    }
    Ok(map)
}

/// Turns a reqwest error into an [`OutboundError`] without reqwest's Display,
/// which would print the whole URL (query strings can carry secrets).
fn map_error(e: &reqwest::Error, url: &Url) -> OutboundError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(b) = s.downcast_ref::<BlockedAddress>() {
            return OutboundError::HostNotAllowed(b.to_string());
        }
        source = s.source();
    }
    if e.is_timeout() {
        return OutboundError::Timeout;
    }
    let what = if e.is_connect() {
        "could not connect to"
    } else if e.is_body() || e.is_decode() {
        "failed reading the response from"
    } else {
        "request failed to"
    };
    OutboundError::Transport(format!("{what} {}", redact_url(url)))
}

/// A connection as one request needs it: where its credentials may go, the request's
/// URL with the connection's `{key}` placeholders filled, and the credential itself.
#[derive(Debug)]
pub struct ResolvedConnection {
    /// The connection's API origins.
    pub policy: Arc<Policy>,
    /// The URL the function asked for, its placeholders filled by the broker.
    pub url: String,
    /// The opened credentials.
    pub credential: Credential,
    /// A 401 from an API origin may be answered by refreshing the credentials (OAuth 2).
    pub refreshable: bool,
    /// Identifies these credentials, for [`ConnectionBroker::refresh_after_unauthorized`].
    pub generation: Vec<u8>,
    /// The connection's immutable id: the use is recorded under it (see
    /// [`ConnectionBroker::record`]), not under the link name, which a connection made
    /// later may reuse.
    pub connection_id: String,
}

/// A boxed future, for the broker's object-safe async methods.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a connection cannot be used. Messages say what to do; none holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrokerError {
    /// No connection has this link name.
    #[error("{0}")]
    Unknown(String),
    /// The function has no grant for it.
    #[error("{0}")]
    NotGranted(String),
    /// Not connected, revoked, or its credentials no longer work.
    #[error("{0}")]
    NeedsReconnect(String),
    /// Its credentials could not be renewed just now (token endpoint down): try later.
    #[error("{0}")]
    Unavailable(String),
    /// The request cannot go through this connection as asked (a placeholder the
    /// connection has no value for, a value that is not allowed there).
    #[error("{0}")]
    InvalidRequest(String),
}

/// What the runtime asks about connections: implemented by the connections crate's
/// broker, swapped in tests.
pub trait ConnectionBroker: Send + Sync + std::fmt::Debug {
    /// The connection `link` for a request to `url` made by the invocation `ctx`, after
    /// the grant check, with `url`'s placeholders filled and credentials fresh enough
    /// to use (an OAuth 2 token near expiry is refreshed).
    ///
    /// # Errors
    /// [`BrokerError`].
    fn resolve<'a>(
        &'a self,
        ctx: &'a InvocationContext,
        link: &'a str,
        url: &'a str,
    ) -> BoxFuture<'a, Result<ResolvedConnection, BrokerError>>;

    /// An API origin answered 401 to `used`: the connection again, its credentials
    /// refreshed unless someone already replaced them; `Ok(None)` when they were not
    /// replaced (a refresh was too recent), so the 401 stands as the answer.
    ///
    /// # Errors
    /// [`BrokerError`].
    fn refresh_after_unauthorized<'a>(
        &'a self,
        ctx: &'a InvocationContext,
        link: &'a str,
        used: &'a ResolvedConnection,
    ) -> BoxFuture<'a, Result<Option<ResolvedConnection>, BrokerError>> {
        Box::pin(async move { self.resolve(ctx, link, &used.url).await.map(Some) })
    }

    /// Records one use of connection `link` by the invocation `ctx` (never blocks on
    /// disk), under `connection_id` when the link resolved (the id [`Self::resolve`]
    /// returned: a connection deleted and made again under the link meanwhile does not
    /// get the record).
    fn record(
        &self,
        ctx: &InvocationContext,
        link: &str,
        connection_id: Option<&str>,
        record: AuditRecord,
    );
}

/// A broker with no connections at all.
#[derive(Debug, Default)]
pub struct NoConnections;

impl ConnectionBroker for NoConnections {
    fn resolve<'a>(
        &'a self,
        _ctx: &'a InvocationContext,
        link: &'a str,
        _url: &'a str,
    ) -> BoxFuture<'a, Result<ResolvedConnection, BrokerError>> {
        Box::pin(std::future::ready(Err(BrokerError::Unknown(format!(
            "no connection has the link name `{link}`"
        )))))
    }

    fn record(
        &self,
        _ctx: &InvocationContext,
        _link: &str,
        _connection_id: Option<&str>,
        _record: AuditRecord,
    ) {
    }
}

#[cfg(test)]
mod upstream_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalised_and_checked() {
        assert_eq!(
            normalize_origin("https://API.example.com").unwrap(),
            "https://api.example.com"
        );
        assert_eq!(
            normalize_origin("https://api.example.com:443/").unwrap(),
            "https://api.example.com"
        );
        assert_eq!(
            normalize_origin("http://127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080"
        );
        for bad in [
            "api.example.com",
            "ftp://example.com",
            "https://example.com/path",
            "https://u:p@example.com",
            "https://example.com/?q=1",
        ] {
            assert!(normalize_origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn policy_matches_scheme_host_and_port() {
        let p = Policy::new(&["https://api.example.com".into()]).unwrap();
        assert!(p.allows(&Url::parse("https://api.example.com/v1?x=1").unwrap()));
        assert!(!p.allows(&Url::parse("http://api.example.com/").unwrap()));
        assert!(!p.allows(&Url::parse("https://api.example.com:8443/").unwrap()));
        assert!(!p.allows(&Url::parse("https://evil.com/api.example.com").unwrap()));
        assert!(!p.allows(&Url::parse("https://api.example.com.evil.com/").unwrap()));
        assert!(!Policy::default().allows(&Url::parse("https://api.example.com/").unwrap()));
    }

    #[test]
    fn forbidden_headers_are_refused() {
        for h in [
            "Host",
            "content-length",
            "Transfer-Encoding",
            "Proxy-Authorization",
            "connection",
        ] {
            let e = build_headers(&[(h.into(), "x".into())]).unwrap_err();
            assert!(
                matches!(e, OutboundError::InvalidRequest(ref m) if m.contains(h)),
                "{h}"
            );
        }
        assert!(build_headers(&[("bad name".into(), "x".into())]).is_err());
        assert!(build_headers(&[("x-ok".into(), "a\nb".into())]).is_err());
        let ok =
            build_headers(&[("Accept".into(), "a".into()), ("accept".into(), "b".into())]).unwrap();
        assert_eq!(ok.get_all("accept").iter().count(), 2);
    }

    #[test]
    fn redacted_url_has_no_query() {
        let u = Url::parse("https://api.example.com/v1/x?api_key=SECRET#frag").unwrap();
        assert_eq!(redact_url(&u), "https://api.example.com/v1/x");
    }
}
