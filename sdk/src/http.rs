//! Outbound HTTP through the host: the request builder, the response and [`invoke_url`].
//! Everything here converts to and from the generated `switchboard:plugin/http` types.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::__private::bindings::switchboard::plugin::http as wit;

/// An HTTP method a function may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`
    Head,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `PATCH`
    Patch,
    /// `DELETE`
    Delete,
    /// `OPTIONS`
    Options,
}

impl Method {
    /// Every method, in the order the WIT contract lists them.
    pub const ALL: [Method; 7] = [
        Method::Get,
        Method::Head,
        Method::Post,
        Method::Put,
        Method::Patch,
        Method::Delete,
        Method::Options,
    ];

    /// The method's name in upper case, as it goes on the wire: `"GET"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
        }
    }

    fn to_wit(self) -> wit::Method {
        match self {
            Method::Get => wit::Method::Get,
            Method::Head => wit::Method::Head,
            Method::Post => wit::Method::Post,
            Method::Put => wit::Method::Put,
            Method::Patch => wit::Method::Patch,
            Method::Delete => wit::Method::Delete,
            Method::Options => wit::Method::Options,
        }
    }

    fn from_wit(m: wit::Method) -> Self {
        match m {
            wit::Method::Get => Method::Get,
            wit::Method::Head => Method::Head,
            wit::Method::Post => Method::Post,
            wit::Method::Put => Method::Put,
            wit::Method::Patch => Method::Patch,
            wit::Method::Delete => Method::Delete,
            wit::Method::Options => Method::Options,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Method {
    type Err = ParseMethodError;

    /// Parses a method name in any case: `"get"`, `"GET"` and `"Get"` are all [`Method::Get`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Method::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| ParseMethodError(s.to_owned()))
    }
}

/// The error of [`Method::from_str`]: the name is not a method a function may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseMethodError(String);

impl fmt::Display for ParseMethodError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown HTTP method `{}`: expected one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS",
            self.0
        )
    }
}

impl std::error::Error for ParseMethodError {}

/// An outbound request, built step by step and sent with [`invoke_url`].
///
/// ```
/// use switchboard_sdk::Request;
///
/// let request = Request::post("https://api.example.com/v1/items")
///     .header("accept", "application/json")
///     .json(&switchboard_sdk::json!({"name": "widget"}))
///     .timeout_ms(5_000);
/// assert_eq!(request.header_value("content-type"), Some("application/json"));
/// ```
#[derive(Debug, Clone)]
pub struct Request {
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    timeout_ms: Option<u32>,
    /// Set when `.json(..)` could not serialize its value; [`invoke_url`] reports it.
    error: Option<String>,
}

impl Request {
    /// A request with `method` to `url`, no headers and no body.
    ///
    /// `url` is absolute (`http` or `https`). With a connection it may hold `{param}`
    /// placeholders that the host fills from the connection's dynamic parameters.
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Request {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: None,
            timeout_ms: None,
            error: None,
        }
    }

    /// A `GET` request to `url`.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new(Method::Get, url)
    }

    /// A `POST` request to `url`.
    pub fn post(url: impl Into<String>) -> Self {
        Self::new(Method::Post, url)
    }

    /// A `PUT` request to `url`.
    pub fn put(url: impl Into<String>) -> Self {
        Self::new(Method::Put, url)
    }

    /// A `PATCH` request to `url`.
    pub fn patch(url: impl Into<String>) -> Self {
        Self::new(Method::Patch, url)
    }

    /// A `DELETE` request to `url`.
    pub fn delete(url: impl Into<String>) -> Self {
        Self::new(Method::Delete, url)
    }

    /// A `HEAD` request to `url`.
    pub fn head(url: impl Into<String>) -> Self {
        Self::new(Method::Head, url)
    }

    /// An `OPTIONS` request to `url`.
    pub fn options(url: impl Into<String>) -> Self {
        Self::new(Method::Options, url)
    }

    /// Adds a header. Adding a name twice sends it twice.
    ///
    /// Some headers are refused, not removed: the request fails with
    /// [`HttpError::InvalidRequest`] and nothing is sent. Always refused: `Host`,
    /// `Content-Length`, hop-by-hop headers and `Proxy-*`. With a connection also
    /// `Authorization`, `Cookie` and the service's API-key header names, in any case and
    /// with `_` for `-` (the connection supplies the credentials), and `Range`/`If-Range`
    /// (a reflected secret read in pieces would escape redaction).
    /// `Accept-Encoding` is the host's: whatever is set here, the host asks for
    /// `gzip, deflate` and hands over the decoded body.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body, as it is.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Sets the body to `value` as JSON, and `content-type` to `application/json`.
    ///
    /// If `value` cannot be serialized (a map with non-string keys, say), [`invoke_url`]
    /// returns [`HttpError::InvalidRequest`] without sending anything.
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => {
                self.body = Some(body);
                self.error = None;
            }
            Err(e) => self.error = Some(format!("the JSON body could not be serialized: {e}")),
        }
        self.set_header("content-type", "application/json")
    }

    /// Sets the body to `fields` encoded as `application/x-www-form-urlencoded`, and
    /// `content-type` to match.
    ///
    /// ```
    /// # use switchboard_sdk::Request;
    /// let request = Request::post("https://example.com/token")
    ///     .form(&[("grant_type", "client_credentials"), ("scope", "read write")]);
    /// ```
    pub fn form<K: AsRef<str>, V: AsRef<str>>(mut self, fields: &[(K, V)]) -> Self {
        self.body = Some(form_urlencode(fields).into_bytes());
        self.set_header("content-type", "application/x-www-form-urlencoded")
    }

    /// Appends `params` to the URL's query string, form-urlencoded.
    ///
    /// ```
    /// # use switchboard_sdk::Request;
    /// let request = Request::get("https://example.com/search").query(&[("q", "a&b")]);
    /// assert_eq!(request.url(), "https://example.com/search?q=a%26b");
    /// ```
    pub fn query<K: AsRef<str>, V: AsRef<str>>(mut self, params: &[(K, V)]) -> Self {
        if params.is_empty() {
            return self;
        }
        let fragment = self.url.find('#').map(|at| self.url.split_off(at));
        if !self.url.contains('?') {
            self.url.push('?');
        } else if !self.url.ends_with(['?', '&']) {
            self.url.push('&');
        }
        self.url.push_str(&form_urlencode(params));
        if let Some(fragment) = fragment {
            self.url.push_str(&fragment);
        }
        self
    }

    /// Bounds this request's time, in milliseconds. The call's own deadline always applies too.
    pub fn timeout_ms(mut self, timeout_ms: u32) -> Self {
        self.timeout_ms = Some(timeout_ms);
        self
    }

    /// The method.
    pub fn method(&self) -> Method {
        self.method
    }

    /// The URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The headers, in the order they were added.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The first value of header `name`, compared case-insensitively.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The body, if one was set.
    pub fn body_bytes(&self) -> Option<&[u8]> {
        self.body.as_deref()
    }

    /// Replaces every header named `name` with one `name: value`.
    fn set_header(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    fn into_wit(self) -> Result<wit::Request, HttpError> {
        if let Some(error) = self.error {
            return Err(HttpError::InvalidRequest(error));
        }
        Ok(wit::Request {
            method: self.method.to_wit(),
            url: self.url,
            headers: self.headers,
            body: self.body,
            timeout_ms: self.timeout_ms,
        })
    }
}

/// The final response to a request, after any redirects the host followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code, such as `200`.
    pub status: u16,
    /// The headers, in the order they arrived, names in lower case; no hop-by-hop headers
    /// and no `Content-Encoding`; `Content-Length` is the length of `body`. Through a
    /// connection, secrets in names and values are replaced with `[redacted]`.
    pub headers: Vec<(String, String)>,
    /// The body, decoded (the host decodes gzip and deflate and refuses other encodings);
    /// empty for `HEAD`.
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The body as text. Bytes that are not UTF-8 become `U+FFFD`.
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// Parses the body as JSON.
    ///
    /// # Errors
    ///
    /// When the body is not JSON or does not match `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

impl From<wit::Response> for Response {
    fn from(r: wit::Response) -> Self {
        Response {
            status: r.status,
            headers: r.headers,
            body: r.body,
        }
    }
}

/// Why a request was not sent or did not complete.
///
/// Each message says what to fix. [`HttpError::kind`] gives the case's name in the WIT
/// contract, which is stable: branch on the variant or the kind, not on the message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpError {
    /// No connection has this link name.
    UnknownConnection(String),
    /// The connection exists but this function has no grant for it.
    NotGranted(String),
    /// The URL's origin (or a redirect's) is not allowed for this function or connection.
    HostNotAllowed(String),
    /// The connection is not connected, was revoked, or its refresh failed.
    NeedsReconnect(String),
    /// The request is malformed: bad URL, forbidden header, unknown placeholder.
    InvalidRequest(String),
    /// A per-call limit was hit: number of requests, response size.
    LimitExceeded(String),
    /// The request or the call's deadline ran out.
    Timeout,
    /// Connecting, TLS or reading the response failed.
    Transport(String),
}

impl HttpError {
    /// The case's name in the WIT contract: `"unknown-connection"`, `"not-granted"`,
    /// `"host-not-allowed"`, `"needs-reconnect"`, `"invalid-request"`, `"limit-exceeded"`,
    /// `"timeout"` or `"transport"`.
    pub fn kind(&self) -> &'static str {
        match self {
            HttpError::UnknownConnection(_) => "unknown-connection",
            HttpError::NotGranted(_) => "not-granted",
            HttpError::HostNotAllowed(_) => "host-not-allowed",
            HttpError::NeedsReconnect(_) => "needs-reconnect",
            HttpError::InvalidRequest(_) => "invalid-request",
            HttpError::LimitExceeded(_) => "limit-exceeded",
            HttpError::Timeout => "timeout",
            HttpError::Transport(_) => "transport",
        }
    }

    /// The host's message, without the kind. [`HttpError::Timeout`] carries none, so this
    /// describes it.
    pub fn message(&self) -> &str {
        match self {
            HttpError::UnknownConnection(m)
            | HttpError::NotGranted(m)
            | HttpError::HostNotAllowed(m)
            | HttpError::NeedsReconnect(m)
            | HttpError::InvalidRequest(m)
            | HttpError::LimitExceeded(m)
            | HttpError::Transport(m) => m,
            HttpError::Timeout => "the request or the call's deadline ran out",
        }
    }
}

impl fmt::Display for HttpError {
    /// `kind: message`, such as `host-not-allowed: https://evil.example is not ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind(), self.message())
    }
}

impl std::error::Error for HttpError {}

impl From<wit::Error> for HttpError {
    fn from(e: wit::Error) -> Self {
        match e {
            wit::Error::UnknownConnection(m) => HttpError::UnknownConnection(m),
            wit::Error::NotGranted(m) => HttpError::NotGranted(m),
            wit::Error::HostNotAllowed(m) => HttpError::HostNotAllowed(m),
            wit::Error::NeedsReconnect(m) => HttpError::NeedsReconnect(m),
            wit::Error::InvalidRequest(m) => HttpError::InvalidRequest(m),
            wit::Error::LimitExceeded(m) => HttpError::LimitExceeded(m),
            wit::Error::Timeout => HttpError::Timeout,
            wit::Error::Transport(m) => HttpError::Transport(m),
        }
    }
}

/// Sends `request` through the host, with `connection`'s credentials when one is named.
///
/// `connection` is a connection's link name, such as `Some("github")`; the function needs a
/// grant for it. With `None` the request goes out without credentials, and only to the
/// origins the function is allowed.
///
/// # Errors
///
/// Whatever kept the request from being sent or from completing; see [`HttpError`]. A
/// response with an error status (4xx, 5xx) is `Ok`: check [`Response::is_success`].
///
/// # Panics
///
/// Outside a Switchboard host (on the native target, in unit tests): there is nobody to send
/// the request.
pub fn invoke_url(connection: Option<&str>, request: Request) -> Result<Response, HttpError> {
    let request = request.into_wit()?;
    if cfg!(not(target_arch = "wasm32")) {
        panic!(
            "switchboard_sdk::invoke_url({connection:?}, {} {}) called outside a Switchboard host",
            Method::from_wit(request.method),
            request.url
        );
    }
    wit::invoke_url(connection, &request)
        .map(Response::from)
        .map_err(HttpError::from)
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Encodes `fields` as `application/x-www-form-urlencoded` (the WHATWG URL standard's
/// serializer): `a=1&b=x+y`.
fn form_urlencode<K: AsRef<str>, V: AsRef<str>>(fields: &[(K, V)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        percent_encode_into(&mut out, k.as_ref());
        out.push('=');
        percent_encode_into(&mut out, v.as_ref());
    }
    out
}

fn percent_encode_into(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0x0f)]));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding_follows_whatwg() {
        assert_eq!(
            form_urlencode(&[("a b", "c&d=e"), ("é", "*-._~+/")]),
            "a+b=c%26d%3De&%C3%A9=*-._%7E%2B%2F"
        );
        assert_eq!(form_urlencode::<&str, &str>(&[]), "");
    }

    #[test]
    fn json_and_form_replace_content_type() {
        let r = Request::post("https://x.test")
            .header("Content-Type", "text/plain")
            .header("accept", "*/*")
            .form(&[("k", "v")]);
        assert_eq!(r.body_bytes(), Some(&b"k=v"[..]));
        let r = r.json(&serde_json::json!({"k": 1}));
        assert_eq!(
            r.headers(),
            [
                ("accept".to_owned(), "*/*".to_owned()),
                ("content-type".to_owned(), "application/json".to_owned()),
            ]
        );
        assert_eq!(r.body_bytes(), Some(&br#"{"k":1}"#[..]));
    }

    #[test]
    fn unserializable_json_is_an_invalid_request() {
        let map = std::collections::BTreeMap::from([((1, 2), 3)]);
        let err = Request::post("https://x.test")
            .json(&map)
            .into_wit()
            .unwrap_err();
        assert_eq!(err.kind(), "invalid-request");
    }

    #[test]
    fn query_is_appended_before_the_fragment() {
        let r = Request::get("https://x.test/p?a=1#top").query(&[("b", "2 3")]);
        assert_eq!(r.url(), "https://x.test/p?a=1&b=2+3#top");
        let r = Request::get("https://x.test/p").query(&[("q", "")]);
        assert_eq!(r.url(), "https://x.test/p?q=");
    }

    #[test]
    fn methods_parse_in_any_case() {
        assert_eq!("get".parse(), Ok(Method::Get));
        assert_eq!("OPTIONS".parse(), Ok(Method::Options));
        assert!("TRACE".parse::<Method>().is_err());
        for m in Method::ALL {
            assert_eq!(Method::from_wit(m.to_wit()), m);
        }
    }

    #[test]
    fn response_helpers() {
        let r = Response {
            status: 201,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: br#"{"ok":true}"#.to_vec(),
        };
        assert!(r.is_success());
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("x-missing"), None);
        assert_eq!(r.text(), r#"{"ok":true}"#);
        let v: serde_json::Value = r.json().unwrap();
        assert_eq!(v["ok"], true);
    }

    #[test]
    fn errors_name_their_wit_case() {
        let e = HttpError::from(wit::Error::HostNotAllowed("no".into()));
        assert_eq!(e.kind(), "host-not-allowed");
        assert_eq!(e.to_string(), "host-not-allowed: no");
        assert_eq!(HttpError::Timeout.kind(), "timeout");
    }
}
