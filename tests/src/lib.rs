//! Harness for the end-to-end tests and benchmarks: a real host on port 0 with
//! a temporary data folder, clients of its API (the typed
//! [`switchboard_client::Client`] the CLI uses, and raw requests for tests of error
//! answers and malformed input), and mock upstreams on loopback that record what they
//! receive.
//!
//! The plugins are built for wasm32-wasip2 by this crate's build script; their
//! paths are constants in `$OUT_DIR/plugins.rs`.

pub mod aws;
pub mod hostile;
pub mod oauth1;
pub mod oauth2;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use switchboard::runtime::CompileCache;
use switchboard::server::{self, Running, ServeConfig};
pub use switchboard_client as client;
use switchboard_client::Client;

/// A host serving on 127.0.0.1:0 over a data folder that outlives restarts.
#[derive(Debug)]
pub struct TestHost {
    /// The running server.
    pub running: Running,
    /// An API client with the admin token.
    pub api: Api,
    data: PathBuf,
    opts: HostOptions,
}

/// Settings for [`TestHost::start_with`].
#[derive(Debug, Clone)]
pub struct HostOptions {
    /// Pass `--allow-private-networks` (the mocks are on loopback).
    pub allow_private_networks: bool,
    /// Concurrency slots.
    pub max_concurrency: u32,
    /// How long an OAuth sign-in may take (default 10 minutes).
    pub oauth_flow_ttl: Option<std::time::Duration>,
    /// The clock of OAuth 2 token refresh and of sign-in expiry (default: the system's);
    /// a test moves it instead of sleeping.
    pub clock: Option<Arc<switchboard::connections::ManualClock>>,
    /// Where compiled components are shared; `None`: the one cache of this process, so
    /// each plugin is compiled once per engine configuration for the whole test run.
    pub compile_cache: Option<Arc<CompileCache>>,
}

impl Default for HostOptions {
    fn default() -> Self {
        Self {
            allow_private_networks: true,
            max_concurrency: 16,
            oauth_flow_ttl: None,
            clock: None,
            compile_cache: None,
        }
    }
}

/// The compiled components every [`TestHost`] of this process shares unless its options
/// name another cache.
pub fn shared_compile_cache() -> Arc<CompileCache> {
    static CACHE: OnceLock<Arc<CompileCache>> = OnceLock::new();
    CACHE.get_or_init(CompileCache::new).clone()
}

/// Everything the host logged in this test process, at debug level and above (the host
/// has no trace-level lines; a trace directive would also let every `log::trace!` of
/// Cranelift through `log`'s global level check, for nothing): canary tests search it
/// for secrets.
static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct LogSink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the process-wide log capture (once; later calls do nothing).
pub fn capture_logs() {
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = LogSink(buffer.clone());
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "debug,cranelift_codegen=warn,wasmtime_cranelift=warn,wasmtime=info,regalloc2=warn",
            ))
            .with_ansi(false)
            .with_writer(move || sink.clone())
            .try_init();
        buffer
    });
}

/// What the host has logged so far in this process (see [`capture_logs`]).
pub fn captured_logs() -> String {
    LOGS.get()
        .map(|b| String::from_utf8_lossy(&b.lock().unwrap()).into_owned())
        .unwrap_or_default()
}

impl TestHost {
    /// Starts a host over `data` with the default test options.
    pub async fn start(data: &Path) -> Self {
        Self::start_with(data, HostOptions::default()).await
    }

    /// Starts a host over `data`.
    pub async fn start_with(data: &Path, opts: HostOptions) -> Self {
        capture_logs();
        let mut config = ServeConfig::new(data);
        config.outbound.allow_private_networks = opts.allow_private_networks;
        config.runtime.max_concurrency = opts.max_concurrency;
        config.runtime.max_memory_mib = 256;
        if let Some(ttl) = opts.oauth_flow_ttl {
            config.oauth_flow_ttl = ttl;
        }
        if let Some(clock) = &opts.clock {
            config.clock = clock.clone();
        }
        config.compile_cache = Some(
            opts.compile_cache
                .clone()
                .unwrap_or_else(shared_compile_cache),
        );
        let running = server::spawn(config, "127.0.0.1:0".parse().unwrap())
            .await
            .expect("host starts");
        let api = Api::new(&running.url(), &running.token);
        Self {
            running,
            api,
            data: data.to_owned(),
            opts,
        }
    }

    /// Stops the host and starts a new one over the same data folder, with the same
    /// options (the same clock).
    pub async fn restart(self) -> Self {
        let (data, opts) = (self.data.clone(), self.opts.clone());
        self.running.stop().await.expect("host stops cleanly");
        Self::start_with(&data, opts).await
    }

    /// The typed API client (the one the CLI uses), with the admin token.
    pub fn client(&self) -> Client {
        self.api.client().clone()
    }

    /// `/api/v1/status` runtime counter `name` (compiled, compiles_started,
    /// deserialized, calls).
    pub async fn counter(&self, name: &str) -> u64 {
        let runtime = self.api.client().status().await.expect("status").runtime;
        match name {
            "compiled" => runtime.compiled,
            "compiles_started" => runtime.compiles_started,
            "deserialized" => runtime.deserialized,
            "calls" => runtime.calls,
            other => panic!("no runtime counter `{other}`"),
        }
    }
}

/// Clients of the host's API: [`Api::client`] is the typed one; the raw methods
/// (`get`, `post_json`, ...) answer the status and the body as JSON, for tests of error
/// answers and malformed requests.
#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
    client: Client,
    base: String,
    token: String,
}

impl Api {
    /// A client for `base` with `token`.
    pub fn new(base: &str, token: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            client: Client::new(base, token).expect("the host's URL"),
            base: base.to_owned(),
            token: token.to_owned(),
        }
    }

    /// The typed client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> (u16, Value) {
        let response = req
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("host answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, body)
    }

    /// GET `path`.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    /// DELETE `path`.
    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.send(self.http.delete(format!("{}{path}", self.base)))
            .await
    }

    /// POST raw bytes to `path`.
    pub async fn post(&self, path: &str, body: Vec<u8>) -> (u16, Value) {
        self.send(self.http.post(format!("{}{path}", self.base)).body(body))
            .await
    }

    /// POST a JSON value to `path`.
    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send(self.http.post(format!("{}{path}", self.base)).json(body))
            .await
    }

    /// PUT a JSON value to `path`.
    pub async fn put_json(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send(self.http.put(format!("{}{path}", self.base)).json(body))
            .await
    }

    /// PATCH a JSON value to `path`.
    pub async fn patch_json(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send(self.http.patch(format!("{}{path}", self.base)).json(body))
            .await
    }

    /// Creates a service and asserts success.
    pub async fn create_service(&self, definition: &Value) -> client::Service {
        self.client
            .create_service(definition)
            .await
            .unwrap_or_else(|e| panic!("create service: {e}"))
    }

    /// Creates a connection of `service` with dynamic-parameter values and asserts success.
    pub async fn create_connection(
        &self,
        link: &str,
        service: &str,
        params: &Value,
    ) -> client::Connection {
        let new = client::NewConnection {
            link_name: link.to_owned(),
            display_name: link.to_owned(),
            service: service.to_owned(),
            params: serde_json::from_value(params.clone()).expect("params are text values"),
            ..Default::default()
        };
        self.client
            .create_connection(&new)
            .await
            .unwrap_or_else(|e| panic!("create connection {link}: {e}"))
    }

    /// Connects `link` with a connect body and asserts success.
    pub async fn connect(&self, link: &str, credentials: &Value) -> client::Connection {
        let done = self
            .client
            .connect(link, credentials)
            .await
            .unwrap_or_else(|e| panic!("connect {link}: {e}"));
        assert_eq!(done.connection.status, "connected", "{done:?}");
        done.connection
    }

    /// Starts connecting an OAuth connection; returns the link to open in a browser.
    pub async fn start_sign_in(&self, link: &str) -> String {
        let done = self
            .client
            .connect(link, &serde_json::json!({}))
            .await
            .unwrap_or_else(|e| panic!("connect {link}: {e}"));
        match done.authorize_url {
            Some(url) => url,
            None => panic!("no authorize_url: {:?}", done.connection),
        }
    }

    /// Connection `link` as the API shows it; asserts it exists.
    pub async fn connection(&self, link: &str) -> client::Connection {
        self.client
            .show_connection(link)
            .await
            .unwrap_or_else(|e| panic!("show connection {link}: {e}"))
    }

    /// Grants `function` the use of `link` and asserts success.
    pub async fn grant(&self, function: &str, link: &str) {
        self.client
            .grant(function, link)
            .await
            .unwrap_or_else(|e| panic!("grant {function} {link}: {e}"));
    }

    /// Deploys the component at `wasm` as `name`, with a raw query string (`""` for none).
    pub async fn deploy(&self, name: &str, wasm: &str, query: &str) -> (u16, Value) {
        let bytes = std::fs::read(wasm).unwrap_or_else(|e| panic!("reading {wasm}: {e}"));
        self.post(&format!("/api/v1/functions/{name}/versions{query}"), bytes)
            .await
    }

    /// Deploys and asserts success; returns the new version number.
    pub async fn deploy_ok(&self, name: &str, wasm: &str, query: &str) -> u64 {
        let (status, body) = self.deploy(name, wasm, query).await;
        assert_eq!(status, 201, "deploy {name}: {body}");
        body["current_version"].as_u64().expect("version")
    }

    /// Invokes `name` with a JSON input.
    pub async fn invoke(&self, name: &str, input: &Value) -> (u16, Value) {
        self.post(
            &format!("/api/v1/functions/{name}/invoke"),
            serde_json::to_vec(input).unwrap(),
        )
        .await
    }
}

/// One request a mock received.
#[derive(Debug, Clone)]
pub struct Received {
    /// Method.
    pub method: String,
    /// Path and query.
    pub uri: String,
    /// Headers, lower-case names.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

/// A loopback HTTP server that records every request and answers by path:
/// `/redirect?to=URL` → 302 to URL; `/status/N` → status N; `/big?bytes=N` →
/// N bytes; `/echo` → 200 with the whole request (URI, headers, body as text) as JSON
/// and every request header repeated as an `x-echo-NAME` response header;
/// anything else → 200 `{"ok":true,"path":...}`.
#[derive(Debug, Clone)]
pub struct Mock {
    /// Where it listens.
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Mock {
    /// Starts a mock on 127.0.0.1:0; it runs until the test's runtime ends.
    pub async fn start() -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new().fallback(record).with_state(received.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { addr, received }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Whether any received request holds `needle` in its URI, headers or body.
    pub fn saw(&self, needle: &str) -> bool {
        self.received().iter().any(|r| {
            r.uri.contains(needle)
                || r.headers.iter().any(|(_, v)| v.contains(needle))
                || String::from_utf8_lossy(&r.body).contains(needle)
        })
    }
}

async fn record(State(received): State<Arc<Mutex<Vec<Received>>>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 16 * 1024 * 1024)
        .await
        .unwrap_or_default()
        .to_vec();
    let uri = parts.uri.to_string();
    if parts.uri.path() == "/echo" {
        let headers: Vec<(String, String)> = parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let mut response = axum::Json(serde_json::json!({
            "uri": uri,
            "headers": headers,
            "body": String::from_utf8_lossy(&body),
        }))
        .into_response();
        for (k, v) in &headers {
            if let (Ok(name), Ok(value)) = (
                axum::http::HeaderName::from_bytes(format!("x-echo-{k}").as_bytes()),
                axum::http::HeaderValue::from_str(v),
            ) {
                response.headers_mut().append(name, value);
            }
        }
        received.lock().unwrap().push(Received {
            method: parts.method.to_string(),
            uri,
            headers,
            body,
        });
        return response;
    }
    received.lock().unwrap().push(Received {
        method: parts.method.to_string(),
        uri: uri.clone(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
        body,
    });
    let path = parts.uri.path();
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let param = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if path == "/redirect" {
        let to = param("to").unwrap_or_default();
        return (StatusCode::FOUND, [("location", to)]).into_response();
    }
    if let Some(code) = path.strip_prefix("/status/") {
        let code = code.parse().unwrap_or(500);
        return StatusCode::from_u16(code)
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            .into_response();
    }
    if path == "/big" {
        let n: usize = param("bytes").and_then(|b| b.parse().ok()).unwrap_or(0);
        return vec![b'x'; n].into_response();
    }
    axum::Json(serde_json::json!({ "ok": true, "path": path })).into_response()
}

/// A loopback listener that accepts connections, counts them and closes them at once:
/// a test that something is never contacted asserts [`Tripwire::hits`] stays 0.
#[derive(Debug, Clone)]
pub struct Tripwire {
    /// Where it listens (127.0.0.1).
    pub addr: SocketAddr,
    hits: Arc<std::sync::atomic::AtomicUsize>,
}

impl Tripwire {
    /// Starts listening on 127.0.0.1:0; it runs until the test's runtime ends.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let h = hits.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                drop(stream);
            }
        });
        Self { addr, hits }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Connections accepted so far.
    pub fn hits(&self) -> usize {
        self.hits.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// The browser side of an OAuth sign-in, shared by the OAuth 1 and OAuth 2 tests.
pub mod browser {
    /// An HTTP client that, like a test of a browser's steps, follows no redirect.
    pub fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// Opens the host's start link: the host's cookie (`name=value`) and where it
    /// redirects (the provider's authorize URL).
    pub async fn open_start(start: &str) -> (String, String) {
        let r = client().get(start).send().await.unwrap();
        assert_eq!(r.status(), 302, "{}", r.text().await.unwrap());
        let cookie = r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        (cookie, r.headers()["location"].to_str().unwrap().to_owned())
    }

    /// What a browser does with the link `connect` printed: the host's start page, the
    /// provider (which redirects back), the callback with the host's cookie. Returns the
    /// callback's status and page.
    pub async fn signs_in(start: &str) -> (u16, String) {
        let (cookie, to_provider) = open_start(start).await;
        let r = client().get(&to_provider).send().await.unwrap();
        assert_eq!(r.status(), 302, "provider: {}", r.text().await.unwrap());
        let back = r.headers()["location"].to_str().unwrap().to_owned();
        let r = client()
            .get(&back)
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }
}
