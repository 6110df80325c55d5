use serde_json::json;

use super::*;

#[test]
fn error_answers_decode_to_status_code_and_message() {
    let e = Error::from_answer(
        404,
        r#"{"error": {"code": "not_found", "message": "function `ghost` not found"}}"#,
    );
    assert_eq!(e.status(), Some(404));
    assert_eq!(e.code(), Some("not_found"));
    assert_eq!(e.to_string(), "function `ghost` not found");

    // Not the API's shape (a proxy's page): the status and the body's start.
    let e = Error::from_answer(502, "<html>bad gateway</html>");
    assert_eq!(e.status(), Some(502));
    assert_eq!(e.code(), None);
    assert_eq!(
        e.to_string(),
        "the host answered 502: <html>bad gateway</html>"
    );
    let long = "x".repeat(5000);
    match Error::from_answer(500, &long) {
        Error::Status { body, .. } => assert_eq!(body.len(), 1000),
        other => panic!("{other:?}"),
    }
}

#[test]
fn urls_encode_each_segment_under_api_v1() {
    let c = Client::new("http://127.0.0.1:7700", "t").unwrap();
    assert_eq!(
        c.url(&["functions", "a/b?c#d"]).as_str(),
        "http://127.0.0.1:7700/api/v1/functions/a%2Fb%3Fc%23d"
    );
    // A public URL with a path keeps it.
    let c = Client::new("https://example.com/switchboard/", "t").unwrap();
    assert_eq!(
        c.url(&["status"]).as_str(),
        "https://example.com/switchboard/api/v1/status"
    );
    assert_eq!(c.base_url(), "https://example.com/switchboard");
    for bad in ["127.0.0.1:7700", "ftp://x", "mailto:a@b", ""] {
        assert!(
            matches!(Client::new(bad, "t"), Err(Error::BadUrl(_))),
            "{bad}"
        );
    }
}

#[test]
fn debug_never_prints_the_token() {
    let c = Client::new("http://127.0.0.1:7700", "sb_secret_token").unwrap();
    let shown = format!("{c:?}");
    assert!(!shown.contains("sb_secret_token"), "{shown}");
    assert!(shown.contains("[redacted]"));
}

#[test]
fn views_tolerate_unknown_fields_and_round_trip() {
    let connection = json!({
        "link_name": "acme_prod", "display_name": "Acme", "some_future_field": 1,
        "service": {"link_name": "acme", "display_name": "Acme", "auth_type": "api_key"},
        "status": "connected", "status_reason": null, "params": {"domain": "zylker"},
        "api_origins": ["https://zylker.acme.example"], "credentials": ["api_key"],
        "scopes": [], "granted_scopes": [], "token_expires_at": null,
        "history": [{"time": "2026-01-01T00:00:00.000Z", "event": "created", "reason": null}],
        "granted_to": ["f"], "created_by": "admin", "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z", "connected_at": null, "revoked_at": null,
        "snippet": "invoke_url(...)",
        "authorize_url": "https://provider.example/authorize"
    });
    let connected: Connected = serde_json::from_value(connection.clone()).unwrap();
    assert_eq!(connected.connection.params["domain"], "zylker");
    assert_eq!(
        connected.authorize_url.as_deref(),
        Some("https://provider.example/authorize")
    );
    // Serialising gives the API's JSON back (less the field this client does not know).
    let mut expected = connection;
    expected
        .as_object_mut()
        .unwrap()
        .remove("some_future_field");
    assert_eq!(serde_json::to_value(&connected).unwrap(), expected);

    let service = json!({
        "id": "default_github", "kind": "default", "docs_url": "https://docs.github.com",
        "link_name": "github", "display_name": "GitHub",
        "auth": {"type": "oauth2", "client_id": "", "scopes": ["repo"], "grant_type": "authorization_code"},
        "dynamic_params": [{"key": "org", "display_name": "Org"}],
        "api_origins": ["https://api.github.com"], "category": "developer_tools",
        "description": null, "created_by": "catalogue", "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z", "connections": 2, "client_secret_set": false,
        "revoked_connections": ["a"]
    });
    let changed: ServiceChanged = serde_json::from_value(service.clone()).unwrap();
    assert_eq!(changed.service.auth.kind, "oauth2");
    assert_eq!(changed.service.auth.text("client_id"), Some(""));
    assert_eq!(changed.revoked_connections, ["a"]);
    assert_eq!(serde_json::to_value(&changed).unwrap(), service);
}

/// A one-shot HTTP server that answers every request with `response`.
async fn answer_once(response: &'static str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 8192];
        let _ = stream.read(&mut buf).await;
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn an_api_error_answer_becomes_a_typed_error() {
    let body = r#"{"error":{"code":"conflict","message":"connection `a` exists"}}"#;
    let response: &'static str = Box::leak(
        format!(
            "HTTP/1.1 409 Conflict\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_boxed_str(),
    );
    let base = answer_once(response).await;
    let c = Client::new(&base, "t").unwrap();
    let e = c.show_connection("a").await.unwrap_err();
    assert_eq!(e.status(), Some(409));
    assert_eq!(e.code(), Some("conflict"));
    assert_eq!(e.to_string(), "connection `a` exists");
}

#[tokio::test]
async fn a_success_answer_of_the_wrong_shape_is_a_decode_error() {
    let base = answer_once(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n[]",
    )
    .await;
    let c = Client::new(&base, "t").unwrap();
    let e = c.list_functions().await.unwrap_err();
    assert!(matches!(e, Error::Decode { .. }), "{e:?}");
    assert!(e.to_string().contains("function list"), "{e}");
}

#[tokio::test]
async fn nothing_listening_is_unreachable() {
    // Bind, learn the port, close: nothing listens there now.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = Client::new(&format!("http://127.0.0.1:{port}"), "t").unwrap();
    let e = c.status().await.unwrap_err();
    assert!(matches!(e, Error::Unreachable { .. }), "{e:?}");
    assert_eq!(e.status(), None);
}
