//! The HTTP API under `/api/v1` (JSON, bearer token), `GET /healthz`, and the
//! console's static page at `/`. Handlers are thin: they parse, call [`App`],
//! and [`ApiError`] is the one place errors become HTTP responses.

mod catalog;
mod connections;
mod console;
mod error;

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::app::{App, DeployOptions};
pub use error::ApiError;

/// Largest invocation input, in bytes.
pub const MAX_INPUT_BYTES: usize = 1024 * 1024;

/// The admin API token. `Debug` never prints it.
#[derive(Clone)]
pub struct AdminToken(Arc<str>);

impl AdminToken {
    /// Wraps a token.
    pub fn new(token: impl Into<Arc<str>>) -> Self {
        Self(token.into())
    }

    /// The token itself, for writing it to its file.
    pub fn secret(&self) -> &str {
        &self.0
    }

    fn matches(&self, presented: &str) -> bool {
        self.0.as_bytes().ct_eq(presented.as_bytes()).into()
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken([redacted])")
    }
}

#[derive(Clone, Debug)]
struct ApiState {
    app: Arc<App>,
    token: AdminToken,
    max_component_bytes: usize,
}

/// Builds the router. `max_component_bytes` bounds deploy uploads.
pub fn router(app: Arc<App>, token: AdminToken, max_component_bytes: usize) -> Router {
    let state = ApiState {
        app,
        token,
        max_component_bytes,
    };
    let api = Router::new()
        .route("/status", get(status))
        .route("/functions", get(list_functions))
        .route(
            "/functions/{name}",
            get(show_function).delete(delete_function),
        )
        .route("/functions/{name}/versions", post(deploy))
        .route("/functions/{name}/rollback", post(rollback))
        .route("/functions/{name}/invoke", post(invoke))
        .route("/functions/{name}/logs", get(logs))
        .route(
            "/functions/{name}/grants",
            get(connections::list_grants).post(connections::grant),
        )
        .route(
            "/functions/{name}/grants/{link}",
            delete(connections::revoke_grant),
        )
        .route(
            "/services",
            get(catalog::list_services).post(connections::create_service),
        )
        .route("/services/categories", get(catalog::categories))
        .route(
            "/services/{link}/client",
            axum::routing::put(catalog::set_client),
        )
        .route(
            "/services/{link}",
            get(connections::show_service)
                .put(connections::edit_service)
                .delete(connections::delete_service),
        )
        .route(
            "/connections",
            get(connections::list_connections).post(connections::create_connection),
        )
        .route(
            "/connections/{link}",
            get(connections::show_connection)
                .patch(connections::edit_connection)
                .delete(connections::delete_connection),
        )
        .route("/connections/{link}/connect", post(connections::connect))
        .route("/connections/{link}/revoke", post(connections::revoke))
        .route("/connections/{link}/activity", get(connections::activity))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), require_token));
    let routes = Router::new()
        .route("/healthz", get(healthz))
        .route("/oauth/start", get(connections::oauth_start))
        .route("/oauth/callback", get(connections::oauth_callback))
        .route("/", get(console::page))
        .route("/console.js", get(console::script))
        .route("/console.css", get(console::style))
        .nest("/api/v1", api)
        .fallback(not_found)
        .with_state(state);
    // `Router::layer` wraps each route's handler, inside the method router that
    // answers 405 and sets `Allow`; as the sole fallback service of an outer
    // router the mapping sees every finished response.
    Router::new()
        .fallback_service(routes)
        .layer(middleware::map_response(error::json_errors))
}

/// The token of an `Authorization` value whose scheme is `Bearer` in any case
/// (RFC 9110 makes auth schemes case-insensitive).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

async fn require_token(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token);
    match presented {
        Some(t) if state.token.matches(t) => next.run(req).await,
        Some(_) => ApiError::unauthorized("the bearer token is not valid").into_response(),
        None => ApiError::unauthorized(
            "send `Authorization: Bearer <token>`; the admin token is in the `admin-token` file of the host's data folder",
        )
        .into_response(),
    }
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint; the API is documented in docs/api.md",
    )
}

async fn status(State(s): State<ApiState>) -> Json<serde_json::Value> {
    use std::sync::atomic::Ordering::Relaxed;
    let stats = s.app.runtime().stats();
    Json(serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "functions_loaded": s.app.loaded_functions(),
        "runtime": {
            "compiled": stats.compiled.load(Relaxed),
            "compiles_started": stats.compiles_started.load(Relaxed),
            "deserialized": stats.deserialized.load(Relaxed),
            "calls": stats.calls.load(Relaxed),
            "max_concurrency": s.app.runtime().config().max_concurrency,
            "max_concurrency_per_function": s.app.runtime().config().default_per_function(),
            "max_memory_mib": s.app.runtime().config().max_memory_mib,
            "memory_budget_mib": s.app.runtime().config().memory_budget_mib,
            "max_output_bytes": s.app.runtime().config().max_output_bytes,
        },
    }))
}

async fn list_functions(State(s): State<ApiState>) -> Result<Response, ApiError> {
    let functions = s.app.list().await?;
    Ok(Json(serde_json::json!({ "functions": functions })).into_response())
}

async fn show_function(
    State(s): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(s.app.show(&name).await?).into_response())
}

async fn delete_function(
    State(s): State<ApiState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.app.delete(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Reads a body up to `limit` bytes, answering 413 with a JSON error past it.
async fn read_body(body: Body, limit: usize, what: &str) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("{what} is larger than {limit} bytes"),
        )
    })
}

fn parse_deploy_query(query: Option<&str>) -> Result<DeployOptions, ApiError> {
    fn number(key: &str, value: &str) -> Result<u32, ApiError> {
        value.parse().map_err(|_| {
            ApiError::bad_request(
                "invalid_limits",
                format!("`{key}` must be a non-negative integer, got `{value}`"),
            )
        })
    }
    let mut opts = DeployOptions::default();
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "memory_mib" => opts.memory_mib = Some(number(&key, &value)?),
            "timeout_ms" => opts.timeout_ms = Some(number(&key, &value)?),
            "max_requests" => opts.max_requests = Some(number(&key, &value)?),
            "max_concurrency" => opts.max_concurrency = Some(number(&key, &value)?),
            "allow_host" => opts.allowed_hosts.push(value.into_owned()),
            "manifest" => {
                let manifest: crate::app::Manifest = serde_json::from_str(&value).map_err(|e| {
                    ApiError::bad_request(
                        "invalid_manifest",
                        format!(
                            "`manifest` must be JSON like {{\"connections\": [{{\"service\": \"github\", \"scopes\": [\"repo\"], \"why\": \"...\"}}]}}: {e}"
                        ),
                    )
                })?;
                opts.requires = manifest.connections;
            }
            other => {
                return Err(ApiError::bad_request(
                    "unknown_parameter",
                    format!(
                        "unknown query parameter `{other}`; expected memory_mib, timeout_ms, max_requests, max_concurrency, allow_host or manifest"
                    ),
                ));
            }
        }
    }
    Ok(opts)
}

async fn deploy(
    State(s): State<ApiState>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    body: Body,
) -> Result<Response, ApiError> {
    let opts = parse_deploy_query(query.as_deref())?;
    let wasm = read_body(body, s.max_component_bytes, "the component").await?;
    if wasm.is_empty() {
        return Err(ApiError::bad_request(
            "not_a_component",
            "the request body is empty: send the component's .wasm bytes",
        ));
    }
    let view = s.app.deploy(&name, wasm.to_vec(), opts).await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

#[derive(Deserialize)]
struct RollbackBody {
    version: u32,
}

async fn rollback(
    State(s): State<ApiState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let RollbackBody { version } = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "invalid_body",
            format!("expected a JSON body like {{\"version\": 1}}: {e}"),
        )
    })?;
    Ok(Json(s.app.rollback(&name, version).await?).into_response())
}

async fn invoke(
    State(s): State<ApiState>,
    Path(name): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let body = read_body(body, MAX_INPUT_BYTES, "the input").await?;
    // An empty body is the empty object, so `curl -X POST` runs a function
    // that needs no input.
    let input = if body.is_empty() {
        "{}".to_owned()
    } else {
        String::from_utf8(body.to_vec())
            .map_err(|_| ApiError::bad_request("invalid_input", "input must be UTF-8 JSON"))?
    };
    let done = s.app.invoke(&name, input).await?;
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert("x-switchboard-invocation", done.id.into());
    headers.insert("x-switchboard-version", done.version.into());
    headers.insert(
        "x-switchboard-duration-us",
        (done.duration.as_micros() as u64).into(),
    );
    Ok((headers, done.output).into_response())
}

#[derive(Deserialize)]
struct LogsQuery {
    limit: Option<usize>,
}

async fn logs(
    State(s): State<ApiState>,
    Path(name): Path<String>,
    Query(q): Query<LogsQuery>,
) -> Result<Response, ApiError> {
    let limit = q.limit.unwrap_or(100).min(1000);
    let lines = s.app.logs(&name, limit)?;
    Ok(Json(serde_json::json!({ "function": name, "lines": lines })).into_response())
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod wire_tests;
