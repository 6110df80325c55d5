//! Handlers for the default-service catalogue: service search, category counts, and the
//! operator's OAuth client of a default service.

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use switchboard_model::Principal;

use super::{ApiError, ApiState};
use switchboard_connections::ServiceClient;
use switchboard_connections::catalog::ServiceQuery;

fn query(raw: Option<&str>) -> Result<ServiceQuery, ApiError> {
    ServiceQuery::from_query(raw).map_err(|m| ApiError::bad_request("unknown_parameter", m))
}

/// `GET /services?q=&category=&kind=default|custom`.
pub(super) async fn list_services(
    State(s): State<ApiState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = query(raw.as_deref())?;
    let services = s.app.connections().search_services(&q);
    Ok(Json(serde_json::json!({ "services": services })).into_response())
}

/// `GET /services/categories?kind=`: category → number of services.
pub(super) async fn categories(
    State(s): State<ApiState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = query(raw.as_deref())?;
    let counts = s.app.connections().service_categories(&q);
    Ok(Json(serde_json::json!({ "categories": counts })).into_response())
}

/// `PUT /services/{link}/client`: `{"client_id": "…", "client_secret": "…"}`.
pub(super) async fn set_client(
    State(s): State<ApiState>,
    Extension(who): Extension<Principal>,
    Path(link): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    // Only the position of a JSON error is reported: serde can quote the secret.
    let client: ServiceClient = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "invalid_body",
            format!(
                "the body is not valid here (line {}, column {}); expected JSON like {{\"client_id\": \"…\", \"client_secret\": \"…\"}}",
                e.line(),
                e.column()
            ),
        )
    })?;
    let (view, revoked) = s
        .app
        .connections()
        .set_service_client(&link, client, &who)
        .await?;
    let mut out = serde_json::to_value(view).expect("views serialise");
    out["revoked_connections"] = serde_json::json!(revoked);
    Ok(Json(out).into_response())
}
