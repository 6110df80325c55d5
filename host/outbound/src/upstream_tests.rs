//! Outbound against a hostile upstream on loopback: a raw HTTP/1.1 server (one request
//! per connection) that reflects the credential it receives in compressed bodies, header
//! names, Latin-1 header values, redirect targets and cut-short bodies.

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;
use switchboard_auth::{ApiKeyParam, AuthConfig, Credentials, ParamType};
use switchboard_model::{ApiKeyValue, SecretAccessKey, SecretString};

/// The canary: every character class the redactor must see through.
const KEY: &str = "Cnry/+=~!*'()é😀-k";
/// A canary that fits in a header name and a host name.
const TOKEN_KEY: &str = "HdrCanary7341";

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `api_key` query parameter the host placed.
    fn key(&self) -> String {
        let query = self.target.split_once('?').map_or("", |(_, q)| q);
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "api_key")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    }

    fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }
}

type Handler = fn(&Seen) -> Vec<u8>;

struct Upstream {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Upstream {
    async fn start(handler: Handler) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    let Some(req) = read_request(&mut stream).await else {
                        return;
                    };
                    log.lock().unwrap().push(req.clone());
                    let _ = stream.write_all(&handler(&req)).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Self { addr, seen }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn policy(&self) -> Policy {
        Policy::for_connection("acme", &[format!("http://{}", self.addr)]).unwrap()
    }
}

async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<Seen> {
    let mut buf = Vec::new();
    let head_end = loop {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(at) = memchr::memmem::find(&buf, b"\r\n\r\n") {
            break at;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, target) = (first.next()?.to_owned(), first.next()?.to_owned());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Seen {
        method,
        target,
        headers,
        body,
    })
}

/// A complete response with `headers` (raw lines) and `body`.
fn respond(status: &str, headers: &[&[u8]], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\nconnection: close\r\n").into_bytes();
    for h in headers {
        out.extend_from_slice(h);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn zlib(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn raw_deflate(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn percent_all(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02x}")).collect()
}

/// The hostile upstream: reflects the key it received, in the way the path asks.
fn reflect(req: &Seen) -> Vec<u8> {
    let key = req.key();
    let echoed = format!("{{\"you_sent\":{}}}", serde_json::to_string(&key).unwrap());
    match req.path() {
        "/gzip" => respond(
            "200 OK",
            &[b"content-encoding: gzip"],
            &gzip(echoed.as_bytes()),
        ),
        "/x-gzip-twice" => respond(
            "200 OK",
            &[b"content-encoding: x-gzip", b"content-encoding: gzip"],
            &gzip(&gzip(echoed.as_bytes())),
        ),
        "/deflate" => respond(
            "200 OK",
            &[b"content-encoding: deflate"],
            &zlib(echoed.as_bytes()),
        ),
        "/raw-deflate" => respond(
            "200 OK",
            &[b"Content-Encoding: Deflate"],
            &raw_deflate(echoed.as_bytes()),
        ),
        "/br" => respond(
            "200 OK",
            &[b"content-encoding: br"],
            b"\x1b\x00\x00 not brotli",
        ),
        "/stacked" => respond(
            "200 OK",
            &[b"content-encoding: gzip, zstd"],
            &gzip(echoed.as_bytes()),
        ),
        "/not-gzip" => respond("200 OK", &[b"content-encoding: gzip"], b"plain text"),
        "/bomb" => respond(
            "200 OK",
            &[b"content-encoding: gzip"],
            &gzip(&vec![0; 4 << 20]),
        ),
        "/escaped" => {
            let forms = format!(
                "json={} lower={} html={}",
                serde_json::to_string(&key)
                    .unwrap()
                    .replace('/', "\\/")
                    .replace('é', "\\u00E9")
                    .replace('😀', "\\ud83d\\ude00"),
                percent_all(&key),
                key.chars()
                    .map(|c| format!("&#{};", u32::from(c)))
                    .collect::<String>()
            );
            respond("200 OK", &[], forms.as_bytes())
        }
        "/header-name" => respond("200 OK", &[format!("x-{key}: 1").as_bytes()], b"ok"),
        "/latin1" => {
            let mut latin1 = b"x-latin1: ".to_vec();
            latin1.extend(key.chars().filter_map(|c| u8::try_from(u32::from(c)).ok()));
            respond("200 OK", &[&latin1], b"ok")
        }
        "/length" => respond("200 OK", &[b"content-type: text/plain"], key.as_bytes()),
        "/redirect-evil" => respond(
            "302 Found",
            &[format!("location: http://{key}.evil.example/").as_bytes()],
            b"",
        ),
        "/redirect-broken" => {
            // Non-ASCII percent-encoded (a Location is ASCII), the rest as it is.
            let path: String = key
                .chars()
                .map(|c| {
                    if c.is_ascii() {
                        c.to_string()
                    } else {
                        percent_all(&c.to_string())
                    }
                })
                .collect();
            respond(
                "302 Found",
                &[format!("location: /broken/{path}").as_bytes()],
                b"",
            )
        }
        // A transfer coding other than `chunked`: HTTP/1.1 clients undo only `chunked`, so
        // the gzip bytes would reach the function as they are.
        "/te-gzip" => {
            let mut out = b"HTTP/1.1 200 OK\r\nconnection: close\r\ntransfer-encoding: gzip\r\n\r\n"
                .to_vec();
            out.extend_from_slice(&gzip(echoed.as_bytes()));
            out
        }
        "/te-gzip-chunked" => {
            let packed = gzip(echoed.as_bytes());
            let mut out = b"HTTP/1.1 200 OK\r\nconnection: close\r\ntransfer-encoding: GZip , chunked\r\n\r\n"
                .to_vec();
            out.extend_from_slice(format!("{:x}\r\n", packed.len()).as_bytes());
            out.extend_from_slice(&packed);
            out.extend_from_slice(b"\r\n0\r\n\r\n");
            out
        }
        "/te-br" => {
            b"HTTP/1.1 200 OK\r\nconnection: close\r\ntransfer-encoding: br\r\n\r\n\x1b\x00 not brotli"
                .to_vec()
        }
        "/repeat" => respond("200 OK", &[], key.repeat(1000).as_bytes()),
        "/ce-key" => respond(
            "200 OK",
            &[format!("content-encoding: {key}").as_bytes()],
            b"x",
        ),
        "/te-key" => format!(
            "HTTP/1.1 200 OK\r\nconnection: close\r\ntransfer-encoding: {key}, chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n"
        )
        .into_bytes(),
        p if p.starts_with("/broken/") => {
            b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 1000\r\n\r\ncut".to_vec()
        }
        _ => respond("404 Not Found", &[], b""),
    }
}

fn api_key_credential(key: &str) -> Credential {
    let auth = AuthConfig::ApiKey {
        params: vec![ApiKeyParam {
            name: "api_key".into(),
            display_name: "Key".into(),
            param_type: ParamType::Query,
        }],
    };
    let creds = Credentials::ApiKey {
        values: [("api_key".to_owned(), ApiKeyValue::new(key))].into(),
    };
    Credential::new(&auth, &creds).unwrap()
}

fn outbound(max_response_bytes: usize) -> Arc<Outbound> {
    Outbound::new(OutboundConfig {
        allow_private_networks: true,
        max_response_bytes,
        ..OutboundConfig::default()
    })
    .unwrap()
}

fn get(url: String) -> OutboundRequest {
    OutboundRequest {
        method: Method::GET,
        url,
        headers: vec![("accept-encoding".into(), "gzip, br".into())],
        body: None,
        timeout: Duration::from_secs(10),
    }
}

async fn send_with(
    up: &Upstream,
    credential: &Credential,
    req: OutboundRequest,
) -> Result<OutboundResponse, OutboundError> {
    let mut budget = 10;
    outbound(8 << 20)
        .send(&up.policy(), req, &mut budget, Some(credential))
        .await
}

fn header<'a>(r: &'a OutboundResponse, name: &str) -> Vec<&'a str> {
    r.headers
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// Nothing the function can read holds the key in any spelling the redactor knows.
fn assert_clean(what: &str, text: &str, key: &str) {
    let mut r = Redactor::default();
    r.add(key.as_bytes());
    assert!(r.redact(text.as_bytes()).is_none(), "{what} leaks: {text}");
    let lower = key.to_ascii_lowercase();
    assert!(
        !text.to_ascii_lowercase().contains(&lower),
        "{what}: {text}"
    );
}

#[tokio::test]
async fn compressed_reflections_are_decoded_then_redacted() {
    let up = Upstream::start(reflect).await;
    let c = api_key_credential(KEY);
    for path in ["/gzip", "/x-gzip-twice", "/deflate", "/raw-deflate"] {
        let r = send_with(&up, &c, get(up.url(path))).await.unwrap();
        let body = String::from_utf8(r.body.clone()).unwrap();
        assert_eq!(body, r#"{"you_sent":"[redacted]"}"#, "{path}");
        assert!(header(&r, "content-encoding").is_empty(), "{path}");
        assert_eq!(header(&r, "content-length"), [body.len().to_string()]);
    }
    // The host asked for what it can decode, whatever the function set.
    for s in up.seen() {
        assert_eq!(s.header("accept-encoding"), Some(ACCEPT_ENCODING), "{s:?}");
    }
    // Without a connection the same holds: one behaviour for every request.
    let mut budget = 1;
    let policy = Policy::new(&[format!("http://{}", up.addr)]).unwrap();
    let r = outbound(8 << 20)
        .send(
            &policy,
            get(up.url("/gzip?api_key=plain")),
            &mut budget,
            None,
        )
        .await
        .unwrap();
    assert_eq!(r.body, br#"{"you_sent":"plain"}"#);
}

#[tokio::test]
async fn transfer_codings_are_decoded_then_redacted_or_refused() {
    let up = Upstream::start(reflect).await;
    let c = api_key_credential(KEY);
    for path in ["/te-gzip", "/te-gzip-chunked"] {
        let r = send_with(&up, &c, get(up.url(path))).await.unwrap();
        let body = String::from_utf8_lossy(&r.body).into_owned();
        assert_eq!(body, r#"{"you_sent":"[redacted]"}"#, "{path}");
        assert_eq!(header(&r, "content-length"), [body.len().to_string()]);
    }
    let e = send_with(&up, &c, get(up.url("/te-br"))).await.unwrap_err();
    assert!(
        matches!(&e, OutboundError::Transport(m) if m.contains("Transfer-Encoding `br`")),
        "{e}"
    );
}

/// An encoding the host refuses is not quoted from the upstream's header: a quote cut
/// short would hold a prefix of a long secret, which no redactor recognises as the secret.
#[tokio::test]
async fn a_refused_encoding_is_not_quoted_in_part() {
    const LONG: &str = "LongCanary0123456789abcdefghijklmnopqrstuvwxyz";
    let up = Upstream::start(reflect).await;
    let c = api_key_credential(LONG);
    for path in ["/ce-key", "/te-key"] {
        let e = send_with(&up, &c, get(up.url(path))).await.unwrap_err();
        let m = e.to_string();
        assert!(matches!(e, OutboundError::Transport(_)), "{path}: {m}");
        assert!(!m.contains(&LONG[..16]), "{path}: {m}");
        assert!(m.contains("cannot decode"), "{path}: {m}");
    }
}

/// A short secret grows into `[redacted]` wherever it is found: the cap on what a
/// function receives holds after redaction too (a 2-character key reflected 1000 times
/// would otherwise give five times the cap).
#[tokio::test]
async fn the_size_cap_holds_after_redaction() {
    let up = Upstream::start(reflect).await;
    let c = api_key_credential("ab");
    let mut budget = 1;
    let Err(e) = outbound(4096)
        .send(&up.policy(), get(up.url("/repeat")), &mut budget, Some(&c))
        .await
    else {
        panic!("a body past the cap once redacted is refused");
    };
    assert!(
        matches!(&e, OutboundError::LimitExceeded(m) if m.contains("4096") && m.contains("redacted")),
        "{e}"
    );
    let mut budget = 1;
    let r = outbound(10_000)
        .send(&up.policy(), get(up.url("/repeat")), &mut budget, Some(&c))
        .await
        .unwrap();
    assert_eq!(r.body, b"[redacted]".repeat(1000));
}

#[tokio::test]
async fn encodings_the_host_cannot_inspect_are_refused() {
    let up = Upstream::start(reflect).await;
    let c = api_key_credential(KEY);
    for (path, want) in [
        ("/br", "`br`"),
        ("/stacked", "`zstd`"),
        ("/not-gzip", "not valid gzip"),
    ] {
        let e = send_with(&up, &c, get(up.url(path))).await.unwrap_err();
        assert!(
            matches!(&e, OutboundError::Transport(m) if m.contains(want)),
            "{path}: {e}"
        );
    }
    // A small body that inflates past the cap is refused, not inflated.
    let mut budget = 1;
    let e = outbound(1 << 20)
        .send(&up.policy(), get(up.url("/bomb")), &mut budget, Some(&c))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, OutboundError::LimitExceeded(m) if m.contains("once decoded")),
        "{e}"
    );
}

#[tokio::test]
async fn escaped_reflections_header_names_and_latin1_values_are_redacted() {
    let up = Upstream::start(reflect).await;
    let c = api_key_credential(KEY);
    let r = send_with(&up, &c, get(up.url("/escaped"))).await.unwrap();
    let body = String::from_utf8(r.body.clone()).unwrap();
    assert_eq!(
        body, "json=\"[redacted]\" lower=[redacted] html=[redacted]",
        "{body}"
    );

    // A header name holds token characters only (and arrives in lower case).
    let c = api_key_credential(TOKEN_KEY);
    let r = send_with(&up, &c, get(up.url("/header-name")))
        .await
        .unwrap();
    let all = format!("{:?}", r.headers);
    assert_clean("headers", &all, TOKEN_KEY);
    assert!(all.contains("\"x-[redacted]\""), "{all}");

    // A header value in ISO-8859-1 is redacted on its bytes, before lossy decoding.
    let key = "Zürich-Cänary";
    let c = api_key_credential(key);
    let r = send_with(&up, &c, get(up.url("/latin1"))).await.unwrap();
    assert_eq!(header(&r, "x-latin1"), ["[redacted]"], "{:?}", r.headers);
}

#[tokio::test]
async fn content_length_is_that_of_the_redacted_body() {
    let up = Upstream::start(reflect).await;
    let c = api_key_credential(KEY);
    let r = send_with(&up, &c, get(up.url("/length"))).await.unwrap();
    assert_eq!(r.body, b"[redacted]");
    assert_eq!(header(&r, "content-length"), ["10"]);
    // A HEAD answer's length would describe the unredacted body: none is passed on.
    let mut head = get(up.url("/length"));
    head.method = Method::HEAD;
    let r = send_with(&up, &c, head).await.unwrap();
    assert!(header(&r, "content-length").is_empty(), "{:?}", r.headers);
}

#[tokio::test]
async fn error_messages_are_redacted() {
    let up = Upstream::start(reflect).await;
    let c = api_key_credential(TOKEN_KEY);
    let e = send_with(&up, &c, get(up.url("/redirect-evil")))
        .await
        .unwrap_err();
    assert!(matches!(e, OutboundError::HostNotAllowed(_)), "{e}");
    assert_clean("redirect error", &e.to_string(), TOKEN_KEY);

    let c = api_key_credential(KEY);
    let e = send_with(&up, &c, get(up.url("/redirect-broken")))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, OutboundError::Transport(m) if m.contains("/broken/[redacted]")),
        "{e}"
    );
    assert_clean("transport error", &e.to_string(), KEY);
}

/// An upstream for redirects: `/to/<status>` answers `<status>` to `/landing`.
fn redirector(req: &Seen) -> Vec<u8> {
    match req.path().strip_prefix("/to/") {
        Some(code) => respond(
            &format!("{code} Moved"),
            &[b"location: /landing", b"etag: \"v1\""],
            b"",
        ),
        None => respond(
            "200 OK",
            &[],
            format!(
                "{} {} type={:?} len={}",
                req.method,
                req.path(),
                req.header("content-type"),
                req.body.len()
            )
            .as_bytes(),
        ),
    }
}

#[tokio::test]
async fn only_real_redirects_are_followed_and_a_get_loses_the_body_headers() {
    let up = Upstream::start(redirector).await;
    let policy = Policy::new(&[format!("http://{}", up.addr)]).unwrap();
    let out = outbound(1 << 20);
    let send = |method: Method, path: &str| {
        let req = OutboundRequest {
            method,
            url: up.url(path),
            headers: vec![
                ("content-type".into(), "text/plain".into()),
                ("content-language".into(), "en".into()),
            ],
            body: Some(b"hello".to_vec()),
            timeout: Duration::from_secs(10),
        };
        let out = out.clone();
        let policy = policy.clone();
        async move {
            let mut budget = 5;
            out.send(&policy, req, &mut budget, None).await.unwrap()
        }
    };
    // 304 and other 3xx are answers, not redirects.
    for code in ["304", "300", "305"] {
        let r = send(Method::GET, &format!("/to/{code}")).await;
        assert_eq!(r.status.to_string(), code);
    }
    assert_eq!(up.seen().len(), 3, "none was followed");

    let r = send(Method::POST, "/to/303").await;
    assert_eq!(
        String::from_utf8(r.body).unwrap(),
        "GET /landing type=None len=0"
    );
    let r = send(Method::POST, "/to/302").await;
    assert_eq!(
        String::from_utf8(r.body).unwrap(),
        "GET /landing type=None len=0"
    );
    let landing = up.seen().pop().unwrap();
    assert_eq!(landing.header("content-language"), None);
    // 307 repeats the request with its body; a HEAD stays a HEAD after a 303.
    let r = send(Method::POST, "/to/307").await;
    assert_eq!(
        String::from_utf8(r.body).unwrap(),
        "POST /landing type=Some(\"text/plain\") len=5"
    );
    send(Method::HEAD, "/to/303").await;
    assert_eq!(up.seen().pop().unwrap().method, "HEAD");
}

#[tokio::test]
async fn a_form_credential_is_not_put_on_a_get_made_by_a_303() {
    let up = Upstream::start(redirector).await;
    let auth = AuthConfig::ApiKey {
        params: vec![ApiKeyParam {
            name: "token".into(),
            display_name: "Token".into(),
            param_type: ParamType::Form,
        }],
    };
    let creds = Credentials::ApiKey {
        values: [("token".to_owned(), ApiKeyValue::new("form-canary"))].into(),
    };
    let c = Credential::new(&auth, &creds).unwrap();
    let req = OutboundRequest {
        method: Method::POST,
        url: up.url("/to/303"),
        headers: vec![(
            "content-type".into(),
            "application/x-www-form-urlencoded".into(),
        )],
        body: Some(b"a=1".to_vec()),
        timeout: Duration::from_secs(10),
    };
    let e = send_with(&up, &c, req).await.unwrap_err();
    assert!(
        matches!(&e, OutboundError::InvalidRequest(m) if m.contains("form data")),
        "{e}"
    );
    let seen = up.seen();
    assert_eq!(seen.len(), 1, "the GET was never sent");
    assert_eq!(seen[0].body, b"a=1&token=form-canary");
}

#[tokio::test]
async fn dot_segments_are_refused_before_anything_is_sent() {
    let up = Upstream::start(redirector).await;
    let c = api_key_credential(KEY);
    for path in [
        "/bucket/../other-bucket/key.txt",
        "/bucket/./key.txt",
        "/bucket/%2E%2E/other",
        "/bucket/.%2e/other",
        "/bucket/%2e/x",
        "/bucket/..",
        "/bucket\\..\\other",
        "/bucket/.\t./other",
    ] {
        let e = send_with(&up, &c, get(up.url(path))).await.unwrap_err();
        assert!(
            matches!(&e, OutboundError::InvalidRequest(m) if m.contains("`..` segment")),
            "{path}: {e}"
        );
    }
    // Dots inside a segment are fine.
    assert!(!has_dot_segment("https://a/b/..c/.d/e./f..?x=/../"));

    // An S3 path through a SigV4 connection: not signed for another bucket, not sent.
    let auth = AuthConfig::AwsSigv4 {
        service: "s3".into(),
        region: "us-east-1".into(),
    };
    let creds = Credentials::AwsSigv4 {
        access_key_id: SecretString::new("AKIDEXAMPLE"),
        secret_access_key: SecretAccessKey::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        session_token: None,
    };
    let s3 = Credential::new(&auth, &creds).unwrap();
    let e = send_with(&up, &s3, get(up.url("/bucket/../other-bucket/key.txt")))
        .await
        .unwrap_err();
    assert!(matches!(e, OutboundError::InvalidRequest(_)), "{e}");
    assert!(up.seen().is_empty(), "{:?}", up.seen());
    // A plain key is sent; the host's Accept-Encoding replaces the function's and stays
    // out of the signature (set after signing, so a rewrite in transit cannot break it).
    send_with(&up, &s3, get(up.url("/bucket/key.txt")))
        .await
        .unwrap();
    let sent = up.seen().pop().unwrap();
    assert_eq!(sent.header("accept-encoding"), Some(ACCEPT_ENCODING));
    let auth = sent.header("authorization").unwrap();
    assert!(
        auth.contains("SignedHeaders=") && !auth.contains("accept-encoding"),
        "{auth}"
    );

    // A redirect whose path has one is not followed.
    fn dotty(_: &Seen) -> Vec<u8> {
        respond("302 Found", &[b"location: /a/%2e%2e/b"], b"")
    }
    let up = Upstream::start(dotty).await;
    let e = send_with(&up, &c, get(up.url("/start"))).await.unwrap_err();
    assert!(
        matches!(&e, OutboundError::InvalidRequest(m) if m.contains("redirected")),
        "{e}"
    );
    assert_eq!(up.seen().len(), 1);
}

#[tokio::test]
async fn range_requests_through_a_connection_are_refused() {
    let up = Upstream::start(reflect).await;
    let c = api_key_credential(KEY);
    let mut req = get(up.url("/length"));
    req.headers.push(("Range".into(), "bytes=0-3".into()));
    let e = send_with(&up, &c, req).await.unwrap_err();
    assert!(matches!(e, OutboundError::InvalidRequest(_)), "{e}");
    assert!(up.seen().is_empty());
}

#[test]
fn a_second_redactor_keeps_content_length_true() {
    // After a 401 retry with refreshed tokens, the answer passes the first tokens'
    // redactor too (runtime/state.rs); the length must follow.
    let mut r = OutboundResponse {
        status: 200,
        headers: vec![
            ("x-old-token".into(), "old-canary".into()),
            ("content-length".into(), "14".into()),
        ],
        body: b"was old-canary".to_vec(),
    };
    let mut old = Redactor::default();
    old.add(b"old-canary");
    r.redact(&old);
    assert_eq!(r.body, b"was [redacted]");
    assert_eq!(r.headers[0].1, "[redacted]");
    assert_eq!(r.headers[1], ("content-length".into(), "14".into()));
    let mut longer = Redactor::default();
    longer.add(b"was");
    r.redact(&longer);
    assert_eq!(r.headers[1].1, r.body.len().to_string());
}
