//! The default-service catalogue end to end: a real host lists the embedded default
//! services, refuses to connect a default OAuth service before its client is
//! configured, keeps the operator's client (sealed) across a restart, and `connect`
//! gives a start link that sends the browser to the provider's real authorize URL.
//! Nothing is sent to the internet: the redirect is read, not followed.

use serde_json::json;
use switchboard_tests::TestHost;

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

    let (status, body) = api.get("/api/v1/services?kind=default").await;
    assert_eq!(status, 200, "{body}");
    let defaults = body["services"].as_array().unwrap();
    assert!(defaults.len() >= 80, "{}", defaults.len());
    assert!(defaults.iter().all(|s| s["kind"] == "default"));
    let (_, body) = api.get("/api/v1/services?q=salesforce&category=crm").await;
    assert_eq!(body["services"][0]["link_name"], "salesforce", "{body}");

    // A connection of the default Salesforce service, on the operator's My Domain.
    let (status, body) = api
        .post_json(
            "/api/v1/connections",
            &json!({
                "link_name": "sf_prod", "display_name": "Salesforce (production)",
                "service": "salesforce", "params": {"domain": "acme"},
                "scopes": ["api", "refresh_token"],
            }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body["api_origins"],
        json!(["https://acme.my.salesforce.com"])
    );
    let (status, body) = api
        .post_json("/api/v1/connections/sf_prod/connect", &json!({}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "client_not_configured");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("switchboard service client salesforce"),
        "{body}"
    );

    let (status, body) = api
        .put_json(
            "/api/v1/services/salesforce/client",
            &json!({"client_id": "3MVG9-consumer-key", "client_secret": SECRET}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["client_secret_set"], true);
    assert!(!body.to_string().contains(SECRET));

    // The client survives a restart (sealed in the store, not in memory only).
    let host = host.restart().await;
    let api = &host.api;
    let (_, body) = api.get("/api/v1/services/salesforce").await;
    assert_eq!(body["auth"]["client_id"], "3MVG9-consumer-key", "{body}");
    assert_eq!(body["client_secret_set"], true);
    assert_eq!(body["connections"], 1);

    let (status, body) = api
        .post_json("/api/v1/connections/sf_prod/connect", &json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    let start = body["authorize_url"].as_str().unwrap();
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
