//! A typed client of the Switchboard HTTP API (`/api/v1`, bearer token).
//!
//! [`Client`] has one method per API operation; each returns the answer as a typed view
//! ([`views`]) or an [`Error`] that carries the status and the API's message. The
//! `switchboard` command and the end-to-end tests both use it, so the wire shapes are
//! spelled once on the client side. Light on purpose: reqwest, serde, url, thiserror.

pub mod views;

use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

pub use views::*;

/// What a call can fail with. `Display` is the API's own message where there is one;
/// never the token.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The host answered with an error in its JSON shape.
    #[error("{message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The API's error code (`not_found`, `invalid_body`, ...).
        code: String,
        /// The API's message.
        message: String,
    },
    /// The host answered with an error status and a body that is not the API's error
    /// shape (a proxy's page, say).
    #[error("the host answered {status}: {body}")]
    Status {
        /// HTTP status.
        status: u16,
        /// The body, as text (cut at 1000 characters).
        body: String,
    },
    /// Nothing answers at the host's address.
    #[error("cannot reach the host at {base}")]
    Unreachable {
        /// The base URL tried.
        base: String,
        /// The transport's reason.
        #[source]
        source: reqwest::Error,
    },
    /// Any other transport failure (a timeout, a reset connection).
    #[error("request to the host failed: {0}")]
    Transport(#[source] reqwest::Error),
    /// A success answer that is not the view this call expects.
    #[error("the host's answer to {what} is not what this client understands: {source}")]
    Decode {
        /// The operation.
        what: String,
        /// serde's reason.
        #[source]
        source: serde_json::Error,
    },
    /// The base URL is not an http(s) URL.
    #[error("`{0}` is not an http(s) URL like http://127.0.0.1:7700")]
    BadUrl(String),
}

impl Error {
    /// The HTTP status of an error answer (`None` when the host did not answer).
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } | Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The API's error code, when the answer had one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Decodes an error answer: the API's `{"error": {"code", "message"}}`, or the
    /// status and the start of the body.
    pub fn from_answer(status: u16, body: &str) -> Self {
        match serde_json::from_str::<ErrorBody>(body) {
            Ok(ErrorBody { error }) => Self::Api {
                status,
                code: error.code,
                message: error.message,
            },
            Err(_) => Self::Status {
                status,
                body: body.chars().take(1000).collect(),
            },
        }
    }
}

/// What a deploy asks for besides the component; `None` takes the host's default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeployOptions {
    /// Memory of a call, MiB.
    pub memory_mib: Option<u32>,
    /// Deadline of a call, ms.
    pub timeout_ms: Option<u32>,
    /// Outbound requests per call.
    pub max_requests: Option<u32>,
    /// Calls at once.
    pub max_concurrency: Option<u32>,
    /// Origins connection-less requests may reach.
    pub allow_hosts: Vec<String>,
    /// The manifest, as JSON (`{"connections": [...]}`).
    pub manifest: Option<serde_json::Value>,
}

impl DeployOptions {
    fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        for (key, value) in [
            ("memory_mib", self.memory_mib),
            ("timeout_ms", self.timeout_ms),
            ("max_requests", self.max_requests),
            ("max_concurrency", self.max_concurrency),
        ] {
            if let Some(v) = value {
                q.push((key, v.to_string()));
            }
        }
        for h in &self.allow_hosts {
            q.push(("allow_host", h.clone()));
        }
        if let Some(m) = &self.manifest {
            q.push(("manifest", m.to_string()));
        }
        q
    }
}

/// A client of one host's API. `Debug` never prints the token.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    token: String,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base.as_str())
            .field("token", &"[redacted]")
            .finish()
    }
}

impl Client {
    /// A client of the host at `base` (`http://127.0.0.1:7700`, or the public URL with
    /// its path) with the admin `token`; requests time out after 10 minutes.
    ///
    /// # Errors
    /// [`Error::BadUrl`] when `base` is not an http(s) URL.
    pub fn new(base: &str, token: impl Into<String>) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(600))
            .build()
            .map_err(Error::Transport)?;
        Self::with_http(base, token, http)
    }

    /// Like [`Client::new`] with a reqwest client of the caller's.
    ///
    /// # Errors
    /// [`Error::BadUrl`] when `base` is not an http(s) URL.
    pub fn with_http(
        base: &str,
        token: impl Into<String>,
        http: reqwest::Client,
    ) -> Result<Self, Error> {
        let url = Url::parse(base).map_err(|_| Error::BadUrl(base.to_owned()))?;
        if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
            return Err(Error::BadUrl(base.to_owned()));
        }
        Ok(Self {
            http,
            base: url,
            token: token.into(),
        })
    }

    /// The host's base URL, as given.
    pub fn base_url(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    /// `{base}/api/v1/{segments...}`, each segment percent-encoded (a name from the
    /// command line never adds a path segment or a query).
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        url.set_query(None);
        url.set_fragment(None);
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(["api", "v1"]).extend(segments);
        }
        url
    }

    fn request(&self, method: Method, segments: &[&str]) -> RequestBuilder {
        self.http
            .request(method, self.url(segments))
            .bearer_auth(&self.token)
    }

    /// Sends a request; an answer that is not a success becomes an [`Error`].
    async fn send(&self, req: RequestBuilder) -> Result<Response, Error> {
        let response = req.send().await.map_err(|e| {
            if e.is_connect() {
                Error::Unreachable {
                    base: self.base_url().to_owned(),
                    source: e,
                }
            } else {
                Error::Transport(e)
            }
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.text().await.unwrap_or_default();
        Err(Error::from_answer(status.as_u16(), &body))
    }

    async fn view<T: DeserializeOwned>(&self, what: &str, req: RequestBuilder) -> Result<T, Error> {
        let body = self
            .send(req)
            .await?
            .bytes()
            .await
            .map_err(Error::Transport)?;
        serde_json::from_slice(&body).map_err(|source| Error::Decode {
            what: what.to_owned(),
            source,
        })
    }

    async fn empty(&self, req: RequestBuilder) -> Result<(), Error> {
        self.send(req).await.map(drop)
    }

    // --- Host ---

    /// `GET /status`: version and runtime counters.
    pub async fn status(&self) -> Result<Status, Error> {
        self.view("status", self.request(Method::GET, &["status"]))
            .await
    }

    // --- Functions ---

    /// `GET /functions`.
    pub async fn list_functions(&self) -> Result<FunctionList, Error> {
        self.view("function list", self.request(Method::GET, &["functions"]))
            .await
    }

    /// `GET /functions/{name}`: with versions, grants and requirements.
    pub async fn show_function(&self, name: &str) -> Result<Function, Error> {
        self.view(
            "function show",
            self.request(Method::GET, &["functions", name]),
        )
        .await
    }

    /// `POST /functions/{name}/versions`: deploys `wasm` as the next version.
    pub async fn deploy(
        &self,
        name: &str,
        wasm: Vec<u8>,
        options: &DeployOptions,
    ) -> Result<Function, Error> {
        self.view(
            "deploy",
            self.request(Method::POST, &["functions", name, "versions"])
                .query(&options.query())
                .header("content-type", "application/wasm")
                .body(wasm),
        )
        .await
    }

    /// `DELETE /functions/{name}`.
    pub async fn delete_function(&self, name: &str) -> Result<(), Error> {
        self.empty(self.request(Method::DELETE, &["functions", name]))
            .await
    }

    /// `POST /functions/{name}/invoke` with a JSON input (sent as it is).
    pub async fn invoke(
        &self,
        name: &str,
        input: impl Into<String>,
    ) -> Result<InvokeResult, Error> {
        let response = self
            .send(
                self.request(Method::POST, &["functions", name, "invoke"])
                    .header("content-type", "application/json")
                    .body(input.into()),
            )
            .await?;
        let header = |h: &str| -> u64 {
            response
                .headers()
                .get(h)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or_default()
        };
        let (invocation, version, duration_us) = (
            header("x-switchboard-invocation"),
            header("x-switchboard-version"),
            header("x-switchboard-duration-us"),
        );
        Ok(InvokeResult {
            invocation,
            version: u32::try_from(version).unwrap_or_default(),
            duration_us,
            output: response.text().await.map_err(Error::Transport)?,
        })
    }

    /// `GET /functions/{name}/logs?limit=` (the host caps it at 1000).
    pub async fn logs(&self, name: &str, limit: Option<usize>) -> Result<Logs, Error> {
        let mut req = self.request(Method::GET, &["functions", name, "logs"]);
        if let Some(l) = limit {
            req = req.query(&[("limit", l)]);
        }
        self.view("function logs", req).await
    }

    /// `POST /functions/{name}/rollback`: makes `version` current.
    pub async fn rollback(&self, name: &str, version: u32) -> Result<Function, Error> {
        self.view(
            "rollback",
            self.request(Method::POST, &["functions", name, "rollback"])
                .json(&serde_json::json!({ "version": version })),
        )
        .await
    }

    /// `POST /functions/{name}/grants`: lets the function use connection `link`.
    pub async fn grant(&self, name: &str, link: &str) -> Result<Grant, Error> {
        self.view(
            "grant",
            self.request(Method::POST, &["functions", name, "grants"])
                .json(&serde_json::json!({ "connection": link })),
        )
        .await
    }

    /// `GET /functions/{name}/grants`.
    pub async fn list_grants(&self, name: &str) -> Result<GrantList, Error> {
        self.view(
            "grant list",
            self.request(Method::GET, &["functions", name, "grants"]),
        )
        .await
    }

    /// `DELETE /functions/{name}/grants/{link}`.
    pub async fn revoke_grant(&self, name: &str, link: &str) -> Result<(), Error> {
        self.empty(self.request(Method::DELETE, &["functions", name, "grants", link]))
            .await
    }

    // --- Services ---

    /// `GET /services?q=&category=&kind=`: default and custom services.
    pub async fn list_services(&self, filter: &ServiceFilter) -> Result<ServiceList, Error> {
        self.view(
            "service list",
            self.request(Method::GET, &["services"])
                .query(&filter.pairs()),
        )
        .await
    }

    /// `GET /services/categories?kind=`.
    pub async fn categories(&self, kind: Option<&str>) -> Result<Categories, Error> {
        let query: Vec<(&str, &str)> = kind.map(|k| ("kind", k)).into_iter().collect();
        self.view(
            "service categories",
            self.request(Method::GET, &["services", "categories"])
                .query(&query),
        )
        .await
    }

    /// `POST /services`: creates a custom service from its definition document.
    pub async fn create_service(&self, definition: &impl Serialize) -> Result<Service, Error> {
        self.view(
            "service create",
            self.request(Method::POST, &["services"]).json(definition),
        )
        .await
    }

    /// `GET /services/{link}`.
    pub async fn show_service(&self, link: &str) -> Result<Service, Error> {
        self.view(
            "service show",
            self.request(Method::GET, &["services", link]),
        )
        .await
    }

    /// `PUT /services/{link}`: replaces the definition.
    pub async fn edit_service(
        &self,
        link: &str,
        definition: &impl Serialize,
    ) -> Result<ServiceChanged, Error> {
        self.view(
            "service edit",
            self.request(Method::PUT, &["services", link])
                .json(definition),
        )
        .await
    }

    /// `DELETE /services/{link}`.
    pub async fn delete_service(&self, link: &str) -> Result<ServiceDeleted, Error> {
        self.view(
            "service delete",
            self.request(Method::DELETE, &["services", link]),
        )
        .await
    }

    /// `PUT /services/{link}/client`: the operator's OAuth client of a default service.
    pub async fn set_service_client(
        &self,
        link: &str,
        client_id: &str,
        client_secret: &str,
    ) -> Result<ServiceChanged, Error> {
        self.view(
            "service client",
            self.request(Method::PUT, &["services", link, "client"])
                .json(&serde_json::json!({
                    "client_id": client_id,
                    "client_secret": client_secret,
                })),
        )
        .await
    }

    // --- Connections ---

    /// `GET /connections`.
    pub async fn list_connections(&self) -> Result<ConnectionList, Error> {
        self.view(
            "connection list",
            self.request(Method::GET, &["connections"]),
        )
        .await
    }

    /// `POST /connections`.
    pub async fn create_connection(&self, new: &NewConnection) -> Result<Connection, Error> {
        self.view(
            "connection create",
            self.request(Method::POST, &["connections"]).json(new),
        )
        .await
    }

    /// `GET /connections/{link}`.
    pub async fn show_connection(&self, link: &str) -> Result<Connection, Error> {
        self.view(
            "connection show",
            self.request(Method::GET, &["connections", link]),
        )
        .await
    }

    /// `PATCH /connections/{link}`.
    pub async fn edit_connection(
        &self,
        link: &str,
        edit: &ConnectionEdit,
    ) -> Result<Connection, Error> {
        self.view(
            "connection edit",
            self.request(Method::PATCH, &["connections", link])
                .json(edit),
        )
        .await
    }

    /// `POST /connections/{link}/connect` with the credentials body (`{}` starts an OAuth
    /// sign-in).
    pub async fn connect(
        &self,
        link: &str,
        credentials: &impl Serialize,
    ) -> Result<Connected, Error> {
        self.view(
            "connect",
            self.request(Method::POST, &["connections", link, "connect"])
                .json(credentials),
        )
        .await
    }

    /// `POST /connections/{link}/revoke`: erases its credentials.
    pub async fn revoke(&self, link: &str) -> Result<Connection, Error> {
        self.view(
            "revoke",
            self.request(Method::POST, &["connections", link, "revoke"]),
        )
        .await
    }

    /// `DELETE /connections/{link}`.
    pub async fn delete_connection(&self, link: &str) -> Result<(), Error> {
        self.empty(self.request(Method::DELETE, &["connections", link]))
            .await
    }

    /// `GET /connections/{link}/activity?limit=`: the functions' recent uses of it.
    pub async fn activity(&self, link: &str, limit: Option<usize>) -> Result<Activity, Error> {
        let mut req = self.request(Method::GET, &["connections", link, "activity"]);
        if let Some(l) = limit {
            req = req.query(&[("limit", l)]);
        }
        self.view("connection activity", req).await
    }
}

#[cfg(test)]
mod tests;
