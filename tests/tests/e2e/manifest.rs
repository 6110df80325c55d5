//! Connections declared by functions: a manifest at deploy, what is missing reported at
//! deploy and in `show`, invocation refused with what to do until a connection of the
//! service is granted and connected, and `grant_to` when creating one.

use serde_json::json;
use switchboard_tests::{Mock, TestHost};

use crate::FETCH;

fn manifest_query(manifest: &serde_json::Value) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::from("?"));
    q.append_pair("manifest", &manifest.to_string());
    q.finish()
}

#[tokio::test]
async fn a_function_declares_its_connections_and_runs_once_they_are_there() {
    let dir = tempfile::tempdir().unwrap();
    let mock = Mock::start().await;
    let host = TestHost::start(dir.path()).await;
    let api = &host.api;
    api.create_service(&json!({
        "link_name": "acme", "display_name": "Acme",
        "auth": {"type": "api_key", "params": [
            {"name": "key", "display_name": "Key", "param_type": "header"}]},
        "api_origins": [mock.origin()],
    }))
    .await;

    let manifest = json!({"connections": [{"service": "acme", "why": "reads the items"}]});
    let (status, deployed) = api.deploy("fetch", FETCH, &manifest_query(&manifest)).await;
    assert_eq!(status, 201, "{deployed}");
    assert_eq!(deployed["requirements"][0]["service"], "acme");
    assert_eq!(
        deployed["requirements"][0]["satisfied"], false,
        "{deployed}"
    );
    assert_eq!(
        deployed["versions"][0]["requires"][0]["why"],
        "reads the items"
    );

    let input = json!({"url": format!("{}/items", mock.origin()), "connection": "acme_main"});
    let (status, out) = api.invoke("fetch", &input).await;
    assert_eq!(status, 409, "{out}");
    assert_eq!(out["error"]["code"], "missing_connection");
    let message = out["error"]["message"].as_str().unwrap();
    for needle in ["`acme`", "reads the items", "--for-function fetch"] {
        assert!(message.contains(needle), "{needle}: {message}");
    }

    // Creating a connection for the function grants it; until it is connected the
    // function still may not run.
    let (status, out) = api
        .post_json(
            "/api/v1/connections",
            &json!({"link_name": "acme_main", "display_name": "Main", "service": "acme",
                    "grant_to": ["ghost"]}),
        )
        .await;
    assert_eq!(status, 404, "{out}");
    let (status, _) = api.get("/api/v1/connections/acme_main").await;
    assert_eq!(status, 404, "nothing was created for an unknown function");
    let (status, created) = api
        .post_json(
            "/api/v1/connections",
            &json!({"link_name": "acme_main", "display_name": "Main", "service": "acme",
                    "grant_to": ["fetch"]}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["granted_to"], json!(["fetch"]));
    let (status, out) = api.invoke("fetch", &input).await;
    assert_eq!(status, 409, "{out}");
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("acme_main"),
        "{out}"
    );

    api.connect("acme_main", &json!({"values": {"key": "k-1"}}))
        .await;
    let (_, shown) = api.get("/api/v1/functions/fetch").await;
    assert_eq!(shown["requirements"][0]["satisfied"], true, "{shown}");
    assert_eq!(shown["requirements"][0]["granted"], json!(["acme_main"]));
    let (status, out) = api.invoke("fetch", &input).await;
    assert_eq!((status, &out["status"]), (200, &json!(200)), "{out}");

    // Revoked again: refused before the function runs.
    api.post("/api/v1/connections/acme_main/revoke", vec![])
        .await;
    let (status, _) = api.invoke("fetch", &input).await;
    assert_eq!(status, 409);

    // A bad manifest is refused with a reason, and nothing is deployed.
    for (manifest, needle) in [
        (json!({"connections": [{"service": "Acme"}]}), "lower-case"),
        (
            json!({"connections": [{"service": "acme", "scopes": ["a b"]}]}),
            "without spaces",
        ),
        (
            json!({"connections": [{"service": "acme", "extra": 1}]}),
            "extra",
        ),
        (json!({"needs": []}), "needs"),
    ] {
        let (status, out) = api.deploy("fetch", FETCH, &manifest_query(&manifest)).await;
        assert_eq!(status, 400, "{manifest}: {out}");
        assert_eq!(out["error"]["code"], "invalid_manifest", "{out}");
        assert!(
            out["error"]["message"].as_str().unwrap().contains(needle),
            "{needle}: {out}"
        );
    }
    let (_, shown) = api.get("/api/v1/functions/fetch").await;
    assert_eq!(shown["current_version"], 1);
}
