//! Handlers for services, connections, grants and connection activity. Thin: parse,
//! call [`Connections`], answer JSON.

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use switchboard_model::Principal;

use super::{ApiError, ApiState};
use switchboard_connections::{
    ConnectRequest, ConnectionEdit, NewConnection, ServiceDefinition, flow_cookie_name,
};

/// Parses a JSON body; the message quotes serde's reason and an example.
fn parse<T: DeserializeOwned>(body: &Bytes, example: &str) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(
            "invalid_body",
            format!("the body is not what this endpoint takes ({e}); expected JSON like {example}"),
        )
    })
}

/// Parses a body that holds secrets: serde's message can quote a value, so only its
/// position is reported.
fn parse_secret<T: DeserializeOwned>(body: &Bytes, example: &str) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(
            "invalid_body",
            format!(
                "the body is not valid here (line {}, column {}); expected JSON like {example}",
                e.line(),
                e.column()
            ),
        )
    })
}

/// Parses a service definition. One that carries a `client_secret` gets only the error's
/// position: serde's message can quote a value, and the secret may be that value.
fn parse_service(body: &Bytes) -> Result<ServiceDefinition, ApiError> {
    if memchr::memmem::find(body, b"client_secret").is_some() {
        parse_secret(body, SERVICE_EXAMPLE)
    } else {
        parse(body, SERVICE_EXAMPLE)
    }
}

const SERVICE_EXAMPLE: &str = r#"{"link_name": "acme", "display_name": "Acme", "auth": {"type": "api_key", "params": [{"name": "api_key", "display_name": "API key", "param_type": "header"}]}, "api_origins": ["https://api.acme.example"]}"#;

pub(super) async fn create_service(
    State(s): State<ApiState>,
    Extension(who): Extension<Principal>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let def: ServiceDefinition = parse_service(&body)?;
    let view = s.app.connections().create_service(def, &who).await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

pub(super) async fn show_service(
    State(s): State<ApiState>,
    Path(link): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(s.app.connections().show_service(&link)?).into_response())
}

pub(super) async fn edit_service(
    State(s): State<ApiState>,
    Extension(who): Extension<Principal>,
    Path(link): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let def: ServiceDefinition = parse_service(&body)?;
    let (view, revoked) = s.app.connections().edit_service(&link, def, &who).await?;
    let mut out = serde_json::to_value(view).expect("views serialise");
    out["revoked_connections"] = serde_json::json!(revoked);
    Ok(Json(out).into_response())
}

pub(super) async fn delete_service(
    State(s): State<ApiState>,
    Extension(who): Extension<Principal>,
    Path(link): Path<String>,
) -> Result<Response, ApiError> {
    let revoked = s.app.connections().delete_service(&link, &who).await?;
    Ok(
        Json(serde_json::json!({ "deleted": link, "revoked_connections": revoked }))
            .into_response(),
    )
}

pub(super) async fn list_connections(State(s): State<ApiState>) -> Response {
    Json(serde_json::json!({ "connections": s.app.connections().list_connections() }))
        .into_response()
}

pub(super) async fn create_connection(
    State(s): State<ApiState>,
    Extension(who): Extension<Principal>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let new: NewConnection = parse(
        &body,
        r#"{"link_name": "acme_prod", "display_name": "Acme (production)", "service": "acme", "params": {}}"#,
    )?;
    let view = s.app.connections().create_connection(new, &who).await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

pub(super) async fn show_connection(
    State(s): State<ApiState>,
    Path(link): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(s.app.connections().show_connection(&link)?).into_response())
}

pub(super) async fn edit_connection(
    State(s): State<ApiState>,
    Path(link): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let edit: ConnectionEdit = parse(
        &body,
        r#"{"display_name": "New name", "params": {"domain": "zylker"}}"#,
    )?;
    Ok(Json(s.app.connections().edit_connection(&link, edit).await?).into_response())
}

pub(super) async fn connect(
    State(s): State<ApiState>,
    Extension(who): Extension<Principal>,
    Path(link): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: ConnectRequest = parse_secret(
        &body,
        r#"{"values": {"api_key": "..."}} or {"username": "...", "password": "..."}"#,
    )?;
    let outcome = s.app.connections().connect(&link, req, &who).await?;
    let mut out = serde_json::to_value(outcome.connection).expect("views serialise");
    if let Some(url) = outcome.authorize_url {
        out["authorize_url"] = serde_json::json!(url);
    }
    Ok(Json(out).into_response())
}

pub(super) async fn revoke(
    State(s): State<ApiState>,
    Path(link): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(s.app.connections().revoke(&link).await?).into_response())
}

pub(super) async fn delete_connection(
    State(s): State<ApiState>,
    Path(link): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.app.connections().delete_connection(&link).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub(super) struct LimitQuery {
    limit: Option<usize>,
}

pub(super) async fn activity(
    State(s): State<ApiState>,
    Path(link): Path<String>,
    Query(q): Query<LimitQuery>,
) -> Result<Response, ApiError> {
    let limit = q
        .limit
        .unwrap_or(100)
        .min(switchboard_connections::KEEP_PER_CONNECTION);
    let activity = s.app.connections().activity(&link, limit).await?;
    Ok(Json(serde_json::json!({ "connection": link, "activity": activity })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantBody {
    connection: String,
}

pub(super) async fn grant(
    State(s): State<ApiState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let GrantBody { connection } = parse(&body, r#"{"connection": "acme_prod"}"#)?;
    let view = s.app.connections().grant(&name, &connection).await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

pub(super) async fn list_grants(
    State(s): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    // Answers 404 for an unknown function rather than an empty list.
    s.app.show(&name).await?;
    let grants: Vec<serde_json::Value> = s
        .app
        .connections()
        .grants_of(&name)
        .into_iter()
        .map(|g| serde_json::json!({ "connection": g.connection, "granted_at": g.granted_at }))
        .collect();
    Ok(Json(serde_json::json!({ "function": name, "grants": grants })).into_response())
}

pub(super) async fn revoke_grant(
    State(s): State<ApiState>,
    Path((name, link)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    s.app.connections().revoke_grant(&name, &link).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub(super) struct StartQuery {
    state: Option<String>,
}

/// The page the OAuth endpoints answer with: what happened and what to do next.
fn flow_page(status: StatusCode, title: &str, detail: &str) -> Response {
    flow_page_to(status, title, detail, "/", "Back to the console")
}

fn flow_page_to(
    status: StatusCode,
    title: &str,
    detail: &str,
    back: &str,
    back_text: &str,
) -> Response {
    fn escape(s: &str) -> String {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    }
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
         <meta name=\"viewport\" content=\"width=device-width\"></head>\
         <body style=\"font-family:system-ui;max-width:40rem;margin:4rem auto;padding:0 1rem\">\
         <h1>{t}</h1><p>{d}</p><p><a href=\"{b}\">{bt}</a></p></body></html>",
        t = escape(title),
        d = escape(detail),
        b = escape(back),
        bt = escape(back_text),
    );
    (
        status,
        [
            (axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (axum::http::header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// `GET /oauth/start?state=`: ties the flow to this browser with a cookie and sends it
/// to the provider's consent page. Open: the browser has no API token.
pub(super) async fn oauth_start(
    State(s): State<ApiState>,
    Query(q): Query<StartQuery>,
) -> Response {
    let Some(state) = q.state.filter(|s| !s.is_empty()) else {
        return flow_page(
            StatusCode::BAD_REQUEST,
            "Sign-in link incomplete",
            "The link has no state; copy the whole link `connect` printed.",
        );
    };
    match s.app.connections().oauth_start(&state).await {
        Ok(start) => (
            StatusCode::FOUND,
            [
                (axum::http::header::SET_COOKIE, start.set_cookie),
                (axum::http::header::LOCATION, start.authorize_url),
                (axum::http::header::CACHE_CONTROL, "no-store".to_owned()),
            ],
        )
            .into_response(),
        Err(e) => flow_page(StatusCode::BAD_REQUEST, "Cannot start the sign-in", &e.0),
    }
}

#[derive(Deserialize)]
pub(super) struct CallbackQuery {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    /// OAuth 1: the authorized request token and the verifier.
    oauth_token: Option<String>,
    oauth_verifier: Option<String>,
    /// OAuth 1 providers that say "no" this way (Twitter): the refused request token.
    denied: Option<String>,
}

/// `GET /oauth/callback`: the provider sends the browser back here.
pub(super) async fn oauth_callback(
    State(s): State<ApiState>,
    headers: axum::http::HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let Some(state) = q.state.filter(|s| !s.is_empty()) else {
        return flow_page(
            StatusCode::BAD_REQUEST,
            "Sign-in failed",
            "The provider's answer has no state, so it cannot be matched to a connection.",
        );
    };
    // Each flow has its own cookie, named after its state.
    let name = flow_cookie_name(&state);
    let cookie = headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned());
    let error = q
        .error
        .as_deref()
        .map(|e| (e, q.error_description.as_deref()))
        .or_else(|| {
            q.denied
                .as_ref()
                .map(|_| ("access_denied", Some("the user denied access")))
        });
    let oauth1 = switchboard_connections::CallbackParams {
        oauth_token: q.oauth_token.as_deref(),
        oauth_verifier: q.oauth_verifier.as_deref(),
    };
    let connections = s.app.connections();
    let mut page = match connections
        .oauth_callback(&state, q.code.as_deref(), error, cookie.as_deref(), oauth1)
        .await
    {
        Ok(view) => flow_page_to(
            StatusCode::OK,
            "Connected",
            &format!(
                "Connection `{}` ({}) is connected. You can close this page.",
                view.link_name, view.display_name
            ),
            &format!("/#/connections/{}", view.link_name),
            "Open the connection in the console",
        ),
        Err(e) => flow_page(StatusCode::BAD_REQUEST, "Sign-in failed", &e.0),
    };
    // The flow is over for this browser, whatever happened: drop its cookie.
    if cookie.is_some()
        && let Ok(clear) = axum::http::HeaderValue::from_str(&connections.clear_flow_cookie(&state))
    {
        page.headers_mut()
            .append(axum::http::header::SET_COOKIE, clear);
    }
    page
}
