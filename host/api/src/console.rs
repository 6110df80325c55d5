//! The web console: one page, its JavaScript modules (`console/`, native ES modules, no
//! build step) and its style sheet, embedded in the binary (running the host needs no
//! Node and no files). The routes are open like `/healthz`: the page asks for the admin
//! token, keeps it in session storage and sends it as `Authorization: Bearer` on every
//! API call.

use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

const PAGE: &str = include_str!("console.html");
const STYLE: &str = include_str!("console.css");

/// The console's modules, served at `/console/{name}`: this list is all there is (no
/// path is read from disk or looked up elsewhere). `main.js` is the entry point; the
/// others are imported by relative URL (`./api.js`), so they resolve under `/console/`.
#[doc(hidden)]
pub const MODULES: &[(&str, &str)] = &[
    ("main.js", include_str!("console/main.js")),
    ("api.js", include_str!("console/api.js")),
    ("catalog.js", include_str!("console/catalog.js")),
    ("connections.js", include_str!("console/connections.js")),
    ("dialogs.js", include_str!("console/dialogs.js")),
    ("dom.js", include_str!("console/dom.js")),
    ("feedback.js", include_str!("console/feedback.js")),
    ("forms.js", include_str!("console/forms.js")),
    ("functions.js", include_str!("console/functions.js")),
    ("model.js", include_str!("console/model.js")),
    (
        "new-connection.js",
        include_str!("console/new-connection.js"),
    ),
    ("router.js", include_str!("console/router.js")),
    ("service-form.js", include_str!("console/service-form.js")),
    ("services.js", include_str!("console/services.js")),
    ("shell.js", include_str!("console/shell.js")),
    ("theme.js", include_str!("console/theme.js")),
];

/// Only the console's own scripts (same-origin modules) and style sheet, API calls to this host, no inline
/// script, no other network, no framing: a value that slipped into the page could not run.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
            // Small files: revalidate rather than serve a console older than the host.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response()
}

/// `GET /`: the console's page.
pub(super) async fn page() -> Response {
    asset(PAGE, "text/html; charset=utf-8")
}

/// `GET /console/{name}`: one of the console's [`MODULES`]; any other name is a 404.
/// Module scripts must come with a JavaScript type (browsers refuse others).
pub(super) async fn module(Path(name): Path<String>) -> Response {
    match MODULES.iter().find(|(n, _)| *n == name) {
        Some((_, body)) => asset(body, "text/javascript; charset=utf-8"),
        None => super::not_found().await.into_response(),
    }
}

/// `GET /console.css`: the console's style sheet.
pub(super) async fn style() -> Response {
    asset(STYLE, "text/css; charset=utf-8")
}
