//! Connections declared by functions: a manifest at deploy, what is missing reported at
//! deploy and in `show`, invocation refused with what to do until a connection of the
//! service is granted and connected, and `grant_to` when creating one.

use serde_json::json;
use switchboard_tests::client::{DeployOptions, NewConnection};
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
    let client = api.client();
    let deployed = client
        .deploy(
            "fetch",
            std::fs::read(FETCH).unwrap(),
            &DeployOptions {
                manifest: Some(manifest),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let requirements = deployed.requirements.as_deref().unwrap();
    assert_eq!(requirements[0].service, "acme");
    assert!(!requirements[0].satisfied, "{deployed:?}");
    assert_eq!(
        deployed.versions.as_deref().unwrap()[0].requires[0]
            .why
            .as_deref(),
        Some("reads the items")
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
    let for_function = |f: &str| NewConnection {
        link_name: "acme_main".into(),
        display_name: "Main".into(),
        service: "acme".into(),
        grant_to: vec![f.to_owned()],
        ..Default::default()
    };
    let e = client
        .create_connection(&for_function("ghost"))
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(404), "{e}");
    let e = client.show_connection("acme_main").await.unwrap_err();
    assert_eq!(
        e.status(),
        Some(404),
        "nothing was created for an unknown function"
    );
    let created = client
        .create_connection(&for_function("fetch"))
        .await
        .unwrap();
    assert_eq!(created.granted_to, ["fetch"]);
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
    let shown = client.show_function("fetch").await.unwrap();
    let requirements = shown.requirements.as_deref().unwrap();
    assert!(requirements[0].satisfied, "{shown:?}");
    assert_eq!(requirements[0].granted, ["acme_main"]);
    let (status, out) = api.invoke("fetch", &input).await;
    assert_eq!((status, &out["status"]), (200, &json!(200)), "{out}");

    // Revoked again: refused before the function runs.
    client.revoke("acme_main").await.unwrap();
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
    assert_eq!(
        client.show_function("fetch").await.unwrap().current_version,
        1
    );
}
