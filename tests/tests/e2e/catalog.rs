//! The default-service catalogue end to end: a real host lists the embedded default
//! services, refuses to connect a default OAuth service before its client is
//! configured, keeps the operator's client (sealed) across a restart, and `connect`
//! gives a start link that sends the browser to the provider's real authorize URL.
//! Nothing is sent to the internet: the redirect is read, not followed.

use serde_json::json;
use switchboard_tests::TestHost;
use switchboard_tests::client::{NewConnection, ServiceFilter};

const SECRET: &str = "cs-CANARY-catalog-client-secret";

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_default_oauth_service_connects_with_the_operators_client() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let api = &host.api;

    let client = api.client();
    let defaults = client
        .list_services(&ServiceFilter {
            kind: Some("default".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .services;
    assert!(defaults.len() >= 80, "{}", defaults.len());
    assert!(defaults.iter().all(|s| s.kind == "default"));
    let found = client
        .list_services(&ServiceFilter {
            search: Some("salesforce".into()),
            category: Some("crm".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .services;
    assert_eq!(found[0].link_name, "salesforce", "{found:?}");

    // A connection of the default Salesforce service, on the operator's My Domain.
    let created = client
        .create_connection(&NewConnection {
            link_name: "sf_prod".into(),
            display_name: "Salesforce (production)".into(),
            service: "salesforce".into(),
            params: [("domain".to_owned(), "acme".to_owned())].into(),
            scopes: vec!["api".into(), "refresh_token".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(created.api_origins, ["https://acme.my.salesforce.com"]);
    let e = client.connect("sf_prod", &json!({})).await.unwrap_err();
    assert_eq!(e.status(), Some(400), "{e}");
    assert_eq!(e.code(), Some("client_not_configured"));
    assert!(
        e.to_string()
            .contains("switchboard service client salesforce"),
        "{e}"
    );

    let set = client
        .set_service_client("salesforce", "3MVG9-consumer-key", SECRET)
        .await
        .unwrap();
    assert!(set.service.client_secret_set);
    assert!(!format!("{set:?}").contains(SECRET));

    // The client survives a restart (sealed in the store, not in memory only).
    let host = host.restart().await;
    let api = &host.api;
    let client = host.client();
    let service = client.show_service("salesforce").await.unwrap();
    assert_eq!(
        service.auth.text("client_id"),
        Some("3MVG9-consumer-key"),
        "{service:?}"
    );
    assert!(service.client_secret_set);
    assert_eq!(service.connections, 1);

    let started = client.connect("sf_prod", &json!({})).await.unwrap();
    let start = started.authorize_url.as_deref().unwrap();
    assert!(start.starts_with(&host.running.url()), "{start}");
    let r = no_redirects().get(start).send().await.unwrap();
    assert_eq!(r.status(), 302, "{}", r.text().await.unwrap());
    let location = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(
        format!(
            "{}://{}{}",
            location.scheme(),
            location.host_str().unwrap(),
            location.path()
        ),
        "https://acme.my.salesforce.com/services/oauth2/authorize"
    );
    let q: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(q["client_id"], "3MVG9-consumer-key");
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["scope"], "api refresh_token");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(
        q["redirect_uri"],
        format!("{}/oauth/callback", host.running.url())
    );
    assert!(!location.as_str().contains(SECRET));

    // Default services stay read-only.
    let (status, body) = api.delete("/api/v1/services/salesforce").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "read_only");

    // The secret is sealed at rest: not in any file of the data folder.
    host.running.stop().await.unwrap();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
                "{} holds the client secret",
                path.display()
            );
        }
    }
}
