//! Connections end to end: a real host, the real `fetch` plugin, mock upstreams on
//! loopback. Credentials land exactly where the service says, go nowhere else, never
//! come back to the plugin, and a canary secret is found in nothing anyone can read.

use base64::Engine as _;
use serde_json::{Value, json};
use switchboard_tests::{Api, Mock, TestHost, captured_logs};

use crate::FETCH;

const Q: &str = "cq-CANARY-q1";
const F: &str = "cf CANARY&f2";
const H: &str = "ch-CANARY-h3";

/// An API-key service with one parameter of each type and a dynamic host, aimed at `mock`.
fn api_key_service(link: &str, mock: &Mock) -> Value {
    json!({
        "link_name": link,
        "display_name": "Acme",
        "auth": {"type": "api_key", "params": [
            {"name": "api_key", "display_name": "Query key", "param_type": "query"},
            {"name": "token", "display_name": "Form token", "param_type": "form"},
            {"name": "X-Api-Key", "display_name": "Header key", "param_type": "header"},
        ]},
        "dynamic_params": [{"key": "host", "display_name": "Host", "pattern": "[0-9.]+"}],
        "api_origins": [format!("http://{{host}}:{}", mock.addr.port())],
        "category": "crm",
    })
}

fn api_key_values() -> Value {
    json!({"values": {"api_key": Q, "token": F, "X-Api-Key": H}})
}

/// A host with `fetch` deployed and granted connection `acme_prod` of an API-key service.
/// Its form token needs a request body, so requests through it are POSTs (a GET is refused).
async fn api_key_setup(dir: &std::path::Path, mock: &Mock) -> TestHost {
    let host = TestHost::start(dir).await;
    let api = &host.api;
    api.deploy_ok("fetch", FETCH, "").await;
    api.create_service(&api_key_service("acme", mock)).await;
    api.create_connection("acme_prod", "acme", &json!({"host": "127.0.0.1"}))
        .await;
    api.connect("acme_prod", &api_key_values()).await;
    api.grant("fetch", "acme_prod").await;
    host
}

async fn fetch(api: &Api, input: Value) -> Value {
    let (status, out) = api.invoke("fetch", &input).await;
    assert_eq!(status, 200, "{out}");
    out
}

fn assert_refused(out: &Value, kind: &str) {
    assert_eq!(out["error"]["kind"], kind, "{out}");
}

#[tokio::test]
async fn api_key_values_land_exactly_where_the_service_says() {
    let dir = tempfile::tempdir().unwrap();
    let mock = Mock::start().await;
    let host = api_key_setup(dir.path(), &mock).await;
    let url = format!("http://{{host}}:{}/v1/items?x=1", mock.addr.port());

    // POST with a form body: the token is appended to it.
    let out = fetch(
        &host.api,
        json!({
            "url": url, "connection": "acme_prod", "method": "POST", "body": "a=1",
            "headers": [["content-type", "application/x-www-form-urlencoded"], ["x-trace", "t1"]],
        }),
    )
    .await;
    assert_eq!(out["status"], 200, "{out}");
    // GET has no body, and the host does not make one for the form token: refused
    // before anything is sent.
    let out = fetch(&host.api, json!({ "url": url, "connection": "acme_prod" })).await;
    assert_refused(&out, "invalid-request");
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`token` as form data"),
        "{out}"
    );
    // PUT without a body: the form body is created.
    let out = fetch(
        &host.api,
        json!({ "url": url, "connection": "acme_prod", "method": "PUT" }),
    )
    .await;
    assert_eq!(out["status"], 200, "{out}");

    let received = mock.received();
    assert_eq!(received.len(), 2);
    let header = |r: &switchboard_tests::Received, n: &str| {
        r.headers
            .iter()
            .filter(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
            .collect::<Vec<_>>()
    };
    let post = &received[0];
    assert_eq!(post.method, "POST");
    assert_eq!(post.uri, "/v1/items?x=1&api_key=cq-CANARY-q1");
    assert_eq!(post.body, b"a=1&token=cf+CANARY%26f2");
    assert_eq!(header(post, "x-api-key"), [H]);
    assert_eq!(header(post, "x-trace"), ["t1"]);
    assert_eq!(
        header(post, "content-type"),
        ["application/x-www-form-urlencoded"]
    );
    let get = &received[1];
    assert_eq!(get.method, "PUT");
    assert_eq!(get.uri, "/v1/items?x=1&api_key=cq-CANARY-q1");
    assert_eq!(get.body, b"token=cf+CANARY%26f2");
    assert_eq!(header(get, "x-api-key"), [H]);
    assert!(header(get, "authorization").is_empty());

    // The use is in the activity, without the query string or any value.
    let activity = host.client().activity("acme_prod", None).await.unwrap();
    assert_eq!(activity.connection, "acme_prod");
    let records = &activity.activity;
    assert_eq!(records.len(), 3, "{activity:?}");
    assert_eq!(records[0].function, "fetch");
    assert_eq!(records[0].method, "POST");
    assert_eq!(records[0].origin, mock.origin());
    assert_eq!(records[0].path, "/v1/items");
    assert_eq!(records[0].status, Some(200));
    assert_eq!(records[0].outcome, "ok");
    assert!(records[0].duration_ms > 0.0);
    assert!(
        !serde_json::to_string(&activity).unwrap().contains("CANARY"),
        "{activity:?}"
    );
}

#[tokio::test]
async fn basic_credentials_are_the_exact_header() {
    let dir = tempfile::tempdir().unwrap();
    let mock = Mock::start().await;
    let host = TestHost::start(dir.path()).await;
    let api = &host.api;
    api.deploy_ok("fetch", FETCH, "").await;
    api.create_service(&json!({
        "link_name": "jira_server", "display_name": "Jira",
        "auth": {"type": "basic"},
        "api_origins": [mock.origin()],
    }))
    .await;
    api.create_connection("jira_main", "jira_server", &json!({}))
        .await;
    api.connect(
        "jira_main",
        &json!({"username": "ada@example.com", "password": "pw-CANARY-basic"}),
    )
    .await;
    api.grant("fetch", "jira_main").await;
    let out = fetch(
        api,
        json!({ "url": format!("{}/rest/api/2/myself", mock.origin()), "connection": "jira_main" }),
    )
    .await;
    assert_eq!(out["status"], 200, "{out}");
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("ada@example.com:pw-CANARY-basic")
    );
    let received = mock.received();
    assert_eq!(received.len(), 1);
    let auth: Vec<_> = received[0]
        .headers
        .iter()
        .filter(|(k, _)| k == "authorization")
        .collect();
    assert_eq!(auth, [&("authorization".to_owned(), expected)]);
    assert_eq!(received[0].uri, "/rest/api/2/myself");
}

#[tokio::test]
async fn refused_requests_send_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mock = Mock::start().await;
    let other = Mock::start().await;
    let host = api_key_setup(dir.path(), &mock).await;
    let api = &host.api;
    let base = mock.origin();

    // Unknown connection.
    let out = fetch(
        api,
        json!({ "url": format!("{base}/x"), "connection": "nope" }),
    )
    .await;
    assert_refused(&out, "unknown-connection");

    // Not granted: a second connection the function has no grant for.
    api.create_connection("acme_other", "acme", &json!({"host": "127.0.0.1"}))
        .await;
    api.connect("acme_other", &api_key_values()).await;
    let out = fetch(
        api,
        json!({ "url": format!("{base}/x"), "connection": "acme_other" }),
    )
    .await;
    assert_refused(&out, "not-granted");
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("switchboard function grant fetch --connection acme_other"),
        "{out}"
    );

    // Another host, and a redirect to another origin.
    let out = fetch(
        api,
        json!({ "url": format!("{}/steal", other.origin()), "connection": "acme_prod", "method": "POST" }),
    )
    .await;
    assert_refused(&out, "host-not-allowed");
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("acme_prod"),
        "{out}"
    );
    let out = fetch(
        api,
        json!({
            "url": format!("{base}/redirect?to={}/landing", other.origin()),
            "connection": "acme_prod", "method": "POST",
        }),
    )
    .await;
    assert_refused(&out, "host-not-allowed");
    assert_eq!(mock.received().len(), 1, "only the first hop was sent");

    // A redirect within the origin keeps the credentials (a PUT stays a PUT after a 302).
    let out = fetch(
        api,
        json!({ "url": format!("{base}/redirect?to=/final"), "connection": "acme_prod", "method": "PUT" }),
    )
    .await;
    assert_eq!(out["status"], 200, "{out}");
    let last = mock.received().pop().unwrap();
    assert_eq!(last.uri, "/final?api_key=cq-CANARY-q1");

    // Header and parameter smuggling.
    let before = mock.received().len();
    for (name, value) in [
        ("Authorization", "Bearer mine"),
        ("x-api-key", "mine"),
        ("Cookie", "a=b"),
        ("Proxy-Authorization", "x"),
        ("Host", "evil.example"),
        ("Transfer-Encoding", "chunked"),
    ] {
        let out = fetch(
            api,
            json!({
                "url": format!("{base}/x"), "connection": "acme_prod", "method": "POST",
                "headers": [[name, value]],
            }),
        )
        .await;
        assert_refused(&out, "invalid-request");
    }
    let out = fetch(
        api,
        json!({ "url": format!("{base}/x?api_key=mine"), "connection": "acme_prod", "method": "POST" }),
    )
    .await;
    assert_refused(&out, "invalid-request");
    let out = fetch(
        api,
        json!({
            "url": format!("{base}/x"), "connection": "acme_prod", "method": "POST",
            "body": "token=mine",
            "headers": [["content-type", "application/x-www-form-urlencoded"]],
        }),
    )
    .await;
    assert_refused(&out, "invalid-request");
    // A placeholder the connection has no value for.
    let out = fetch(
        api,
        json!({ "url": "http://{tenant}.example/x", "connection": "acme_prod", "method": "POST" }),
    )
    .await;
    assert_refused(&out, "invalid-request");
    assert_eq!(
        mock.received().len(),
        before,
        "no smuggling request was sent"
    );

    // Revoked, then not connected at all.
    let (status, view) = api
        .post("/api/v1/connections/acme_prod/revoke", vec![])
        .await;
    assert_eq!((status, view["status"].as_str()), (200, Some("revoked")));
    let out = fetch(
        api,
        json!({ "url": format!("{base}/x"), "connection": "acme_prod", "method": "POST" }),
    )
    .await;
    assert_refused(&out, "needs-reconnect");
    api.create_connection("acme_new", "acme", &json!({"host": "127.0.0.1"}))
        .await;
    api.grant("fetch", "acme_new").await;
    let out = fetch(
        api,
        json!({ "url": format!("{base}/x"), "connection": "acme_new" }),
    )
    .await;
    assert_refused(&out, "needs-reconnect");

    assert_eq!(mock.received().len(), before);
    assert!(other.received().is_empty(), "the other origin got nothing");

    // Every refusal after the lookup is in the activity.
    let activity = api.client().activity("acme_prod", None).await.unwrap();
    let outcomes: Vec<&str> = activity
        .activity
        .iter()
        .map(|r| r.outcome.as_str())
        .collect();
    assert!(outcomes.contains(&"host-not-allowed"), "{activity:?}");
    assert!(outcomes.contains(&"invalid-request"), "{activity:?}");
    assert_eq!(outcomes.last(), Some(&"needs-reconnect"), "{activity:?}");
    let activity = api.client().activity("acme_other", None).await.unwrap();
    assert_eq!(activity.activity[0].outcome, "not-granted", "{activity:?}");
}

#[tokio::test]
async fn an_echoing_upstream_cannot_hand_the_secret_to_the_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let mock = Mock::start().await;
    let host = api_key_setup(dir.path(), &mock).await;
    let out = fetch(
        &host.api,
        json!({
            "url": format!("{}/echo?x=1", mock.origin()), "connection": "acme_prod",
            "method": "POST", "body": "a=1",
            "headers": [["content-type", "application/x-www-form-urlencoded"]],
        }),
    )
    .await;
    assert_eq!(out["status"], 200, "{out}");
    assert!(
        mock.saw(H) && mock.saw("cq-CANARY-q1"),
        "the upstream got them"
    );
    let text = out.to_string();
    assert!(!text.contains("CANARY"), "{text}");
    assert!(text.contains("[redacted]"), "{text}");
    // The echo headers came back, redacted.
    let headers = out["headers"].as_array().unwrap();
    let echoed = headers
        .iter()
        .find(|h| h[0] == "x-echo-x-api-key")
        .expect("echo header");
    assert_eq!(echoed[1], "[redacted]");
}

#[tokio::test]
async fn editing_or_deleting_the_service_revokes_its_connections() {
    let dir = tempfile::tempdir().unwrap();
    let mock = Mock::start().await;
    let host = api_key_setup(dir.path(), &mock).await;
    let api = &host.api;
    let url = format!("{}/x", mock.origin());

    // Edit rules: link name, auth type and parameters cannot go.
    let mut def = api_key_service("acme", &mock);
    def["link_name"] = json!("acme2");
    let (status, out) = api.put_json("/api/v1/services/acme", &def).await;
    assert_eq!(
        (status, out["error"]["code"].as_str()),
        (400, Some("immutable_field"))
    );
    let mut def = api_key_service("acme", &mock);
    def["auth"] = json!({"type": "basic"});
    let (status, out) = api.put_json("/api/v1/services/acme", &def).await;
    assert_eq!(
        (status, out["error"]["code"].as_str()),
        (400, Some("immutable_field"))
    );
    let mut def = api_key_service("acme", &mock);
    def["auth"]["params"].as_array_mut().unwrap().pop();
    let (status, out) = api.put_json("/api/v1/services/acme", &def).await;
    assert_eq!(
        (status, out["error"]["code"].as_str()),
        (400, Some("immutable_field"))
    );
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("X-Api-Key"),
        "{out}"
    );
    // An identical document changes nothing and revokes nothing.
    let (status, out) = api
        .put_json("/api/v1/services/acme", &api_key_service("acme", &mock))
        .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["revoked_connections"], json!([]));
    assert_eq!(
        fetch(
            api,
            json!({"url": url, "connection": "acme_prod", "method": "POST"})
        )
        .await["status"],
        200
    );

    // A real edit (a parameter added, a name changed) revokes.
    let mut def = api_key_service("acme", &mock);
    def["display_name"] = json!("Acme v2");
    def["auth"]["params"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "account", "display_name": "Account", "param_type": "query"}));
    let (status, out) = api.put_json("/api/v1/services/acme", &def).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["revoked_connections"], json!(["acme_prod"]));
    let (_, view) = api.get("/api/v1/connections/acme_prod").await;
    assert_eq!(view["status"], "revoked", "{view}");
    assert_eq!(view["credentials"], json!([]));
    let events: Vec<&str> = view["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["created", "connected", "revoked"], "{view}");
    assert!(
        view["history"][2]["reason"]
            .as_str()
            .unwrap()
            .contains("was edited"),
        "{view}"
    );
    let out = fetch(
        api,
        json!({"url": url, "connection": "acme_prod", "method": "POST"}),
    )
    .await;
    assert_refused(&out, "needs-reconnect");
    // The old values no longer suffice: the new parameter needs one.
    let (status, out) = api
        .post_json("/api/v1/connections/acme_prod/connect", &api_key_values())
        .await;
    assert_eq!(
        (status, out["error"]["code"].as_str()),
        (400, Some("invalid_credentials"))
    );
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("account")
    );
    let mut values = api_key_values();
    values["values"]["account"] = json!("acct-1");
    api.connect("acme_prod", &values).await;
    assert_eq!(
        fetch(
            api,
            json!({"url": url, "connection": "acme_prod", "method": "POST"})
        )
        .await["status"],
        200
    );
    assert!(
        mock.received()
            .last()
            .unwrap()
            .uri
            .contains("account=acct-1")
    );

    // Deleting the service revokes too; the connection stays but cannot connect.
    let (status, out) = api.delete("/api/v1/services/acme").await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["revoked_connections"], json!(["acme_prod"]));
    let out = fetch(
        api,
        json!({"url": url, "connection": "acme_prod", "method": "POST"}),
    )
    .await;
    assert_refused(&out, "needs-reconnect");
    let (status, out) = api
        .post_json("/api/v1/connections/acme_prod/connect", &values)
        .await;
    assert_eq!(status, 400, "{out}");
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("deleted")
    );
    // A new service under the same link name does not adopt the old connection.
    api.create_service(&api_key_service("acme", &mock)).await;
    let (status, _) = api
        .post_json("/api/v1/connections/acme_prod/connect", &values)
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_restart_keeps_services_connections_grants_and_activity() {
    let dir = tempfile::tempdir().unwrap();
    let mock = Mock::start().await;
    let host = api_key_setup(dir.path(), &mock).await;
    let url = format!("{}/before", mock.origin());
    assert_eq!(
        fetch(
            &host.api,
            json!({"url": url, "connection": "acme_prod", "method": "POST"})
        )
        .await["status"],
        200
    );
    let host = host.restart().await;
    let api = &host.api;
    let url = format!("{}/after", mock.origin());
    assert_eq!(
        fetch(
            api,
            json!({"url": url, "connection": "acme_prod", "method": "POST"})
        )
        .await["status"],
        200
    );
    let last = mock.received().pop().unwrap();
    assert_eq!(last.uri, "/after?api_key=cq-CANARY-q1");
    let activity = api.client().activity("acme_prod", None).await.unwrap();
    let paths: Vec<&str> = activity.activity.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/before", "/after"]);
    let f = api.client().show_function("fetch").await.unwrap();
    assert_eq!(f.grants.as_deref(), Some(&["acme_prod".to_owned()][..]));
    let grants = api.client().list_grants("fetch").await.unwrap();
    assert_eq!(grants.function, "fetch");
    assert_eq!(grants.grants.len(), 1);
    assert_eq!(grants.grants[0].connection, "acme_prod");

    // Deleting the function drops its grants: redeployed, it has none.
    let (status, _) = api.delete("/api/v1/functions/fetch").await;
    assert_eq!(status, 204);
    api.deploy_ok("fetch", FETCH, "").await;
    let out = fetch(
        api,
        json!({"url": url, "connection": "acme_prod", "method": "POST"}),
    )
    .await;
    assert_refused(&out, "not-granted");
}

#[tokio::test]
async fn a_canary_secret_appears_nowhere_anyone_can_read() {
    const CANARY: &str = "zz-CANARY-7f3a9c-zz";
    let dir = tempfile::tempdir().unwrap();
    let mock = Mock::start().await;
    let host = TestHost::start(dir.path()).await;
    let api = host.api.clone();
    api.deploy_ok("fetch", FETCH, "").await;
    api.create_service(&json!({
        "link_name": "vault", "display_name": "Vault",
        "auth": {"type": "api_key", "params": [
            {"name": "X-Key", "display_name": "Key", "param_type": "header"},
            {"name": "k", "display_name": "Query key", "param_type": "query"},
        ]},
        "api_origins": [mock.origin()],
    }))
    .await;
    api.create_connection("vault_main", "vault", &json!({}))
        .await;
    let mut seen = Vec::new();
    // Bad connects that carry the canary: the errors must not quote it.
    for body in [
        json!({"values": {"X-Key": CANARY}}),
        json!({"values": {"X-Key": CANARY, "k": CANARY, "other": CANARY}}),
        json!({"values": {"X-Key": format!("{CANARY}\n"), "k": CANARY}}),
        json!({"values": CANARY}),
        json!({"username": CANARY, "password": CANARY}),
    ] {
        let (status, out) = api
            .post_json("/api/v1/connections/vault_main/connect", &body)
            .await;
        assert_eq!(status, 400, "{out}");
        seen.push(out);
    }
    let connected = api
        .connect(
            "vault_main",
            &json!({"values": {"X-Key": CANARY, "k": CANARY}}),
        )
        .await;
    seen.push(serde_json::to_value(connected).unwrap());
    api.grant("fetch", "vault_main").await;

    // Plugin-visible values: echoed responses, errors, redirects.
    for input in [
        json!({"url": format!("{}/echo", mock.origin()), "connection": "vault_main"}),
        json!({"url": format!("{}/status/401", mock.origin()), "connection": "vault_main"}),
        json!({"url": format!("{}/redirect?to=http://127.0.0.2:1/x", mock.origin()), "connection": "vault_main"}),
        json!({"url": "http://127.0.0.1:1/refused", "connection": "vault_main"}),
        json!({"url": format!("{}/x", mock.origin()), "connection": "vault_main", "headers": [["x-key", "a"]]}),
    ] {
        seen.push(fetch(&api, input).await);
    }
    assert!(mock.saw(CANARY), "the upstream did receive the secret");
    let (_, logs) = api.get("/api/v1/functions/fetch/logs").await;
    seen.push(logs);

    // Every read endpoint.
    for path in [
        "/api/v1/services",
        "/api/v1/services/vault",
        "/api/v1/connections",
        "/api/v1/connections/vault_main",
        "/api/v1/connections/vault_main/activity",
        "/api/v1/functions/fetch",
        "/api/v1/functions/fetch/grants",
        "/api/v1/status",
    ] {
        let (status, body) = api.get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
        seen.push(body);
    }
    for v in &seen {
        assert!(!v.to_string().contains("CANARY"), "leaked: {v}");
    }

    // The host's own log, at trace level.
    let logs = captured_logs();
    assert!(!logs.is_empty());
    assert!(!logs.contains(CANARY), "the canary is in the host's log");

    // The database file on disk holds it only sealed.
    host.running.stop().await.unwrap();
    let mut raw = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        raw.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    assert!(raw.len() > 4096);
    let needle = CANARY.as_bytes();
    assert!(
        !raw.windows(needle.len()).any(|w| w == needle),
        "the canary is in the data folder in plain text"
    );
}

#[tokio::test]
async fn bad_definitions_and_values_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let mock = Mock::start().await;
    let host = TestHost::start(dir.path()).await;
    let api = &host.api;
    let good = api_key_service("acme", &mock);
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            {
                let mut d = good.clone();
                d["link_name"] = json!("Acme-1");
                d
            },
            "invalid_service",
            "lower-case",
        ),
        (
            {
                let mut d = good.clone();
                d["display_name"] = json!("x".repeat(51));
                d
            },
            "invalid_service",
            "1 to 50",
        ),
        (
            {
                let mut d = good.clone();
                d["auth"] = json!({"type": "oauth1", "consumer_key": "c", "request_token_url": "https://a/r?oauth_x=1", "authorize_url": "https://a/a", "access_token_url": "https://a/t", "param_type": "header"});
                d
            },
            "invalid_service",
            "oauth_x",
        ),
        (
            {
                let mut d = good.clone();
                d["auth"] = json!({"type": "oauth2", "client_id": "c", "access_token_url": "https://a/t", "grant_type": "authorization_code"});
                d
            },
            "invalid_service",
            "authorize_url",
        ),
        (
            {
                let mut d = good.clone();
                d["client_secret"] = json!("s");
                d
            },
            "invalid_service",
            "client_secret",
        ),
        (
            {
                let mut d = good.clone();
                d["auth"]["params"] = json!([]);
                d
            },
            "invalid_service",
            "at least one parameter",
        ),
        (
            {
                let mut d = good.clone();
                d["api_origins"] = json!(["https://{tenant}.example.com"]);
                d
            },
            "invalid_service",
            "{tenant}",
        ),
        (
            {
                let mut d = good.clone();
                d["api_origins"] = json!(["https://example.com/v1"]);
                d
            },
            "invalid_service",
            "origin only",
        ),
        (
            {
                let mut d = good.clone();
                d["api_origins"] = json!([]);
                d
            },
            "invalid_service",
            "api_origins",
        ),
        (
            {
                let mut d = good.clone();
                d["dynamic_params"][0]["pattern"] = json!("(");
                d
            },
            "invalid_service",
            "regular expression",
        ),
        (
            {
                let mut d = good.clone();
                d["auth"]["params"][2]["name"] = json!("Host");
                d
            },
            "invalid_service",
            "Host",
        ),
        (
            {
                let mut d = good.clone();
                d["surprise"] = json!(1);
                d
            },
            "invalid_body",
            "surprise",
        ),
    ];
    for (body, code, needle) in cases {
        let (status, out) = api.post_json("/api/v1/services", &body).await;
        assert_eq!(status, 400, "{body}: {out}");
        assert_eq!(out["error"]["code"], code, "{out}");
        assert!(
            out["error"]["message"].as_str().unwrap().contains(needle),
            "{needle}: {out}"
        );
    }
    let custom = api
        .client()
        .list_services(&switchboard_tests::client::ServiceFilter {
            kind: Some("custom".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(custom.services.is_empty(), "nothing was stored");

    api.create_service(&good).await;
    let (status, out) = api.post_json("/api/v1/services", &good).await;
    assert_eq!(
        (status, out["error"]["code"].as_str()),
        (409, Some("conflict"))
    );

    for (params, needle) in [
        (json!({"host": "evil.com/#"}), "pattern"),
        (json!({}), "needs a value"),
        (
            json!({"host": "127.0.0.1", "x": "1"}),
            "`x` is not a dynamic parameter",
        ),
    ] {
        let (status, out) = api
            .post_json(
                "/api/v1/connections",
                &json!({"link_name": "c1", "display_name": "C", "service": "acme", "params": params}),
            )
            .await;
        assert_eq!(
            (status, out["error"]["code"].as_str()),
            (400, Some("invalid_param")),
            "{out}"
        );
        assert!(
            out["error"]["message"].as_str().unwrap().contains(needle),
            "{out}"
        );
    }
    let (status, out) = api
        .post_json(
            "/api/v1/connections",
            &json!({"link_name": "c1", "display_name": "C", "service": "ghost"}),
        )
        .await;
    assert_eq!(status, 404, "{out}");
    let created = api
        .create_connection("c1", "acme", &json!({"host": "127.0.0.1"}))
        .await;
    assert_eq!(created.status, "not_connected");
    assert_eq!(created.api_origins, [mock.origin()]);
    assert!(
        created.snippet.contains("invoke_url(\n    Some(\"c1\")"),
        "{created:?}"
    );
    let (status, _) = api
        .post_json(
            "/api/v1/connections",
            &json!({"link_name": "c1", "display_name": "C", "service": "acme", "params": {"host": "127.0.0.1"}}),
        )
        .await;
    assert_eq!(status, 409);
    for (path, body, want) in [
        (
            "/api/v1/functions/ghost/grants",
            json!({"connection": "c1"}),
            404,
        ),
        (
            "/api/v1/functions/ghost/grants",
            json!({"connection": "c1", "x": 1}),
            400,
        ),
        (
            "/api/v1/connections/ghost/connect",
            json!({"values": {}}),
            404,
        ),
    ] {
        let (status, out) = api.post_json(path, &body).await;
        assert_eq!(status, want, "{path}: {out}");
    }
    let (status, _) = api.delete("/api/v1/functions/fetch/grants/c1").await;
    assert_eq!(status, 404);

    // Editing parameter values of a connected connection revokes it.
    api.connect("c1", &api_key_values()).await;
    let (status, out) = api
        .patch_json(
            "/api/v1/connections/c1",
            &json!({"display_name": "Renamed"}),
        )
        .await;
    assert_eq!(
        (status, out["status"].as_str()),
        (200, Some("connected")),
        "{out}"
    );
    assert_eq!(out["display_name"], "Renamed");
    let (status, out) = api
        .patch_json(
            "/api/v1/connections/c1",
            &json!({"params": {"host": "127.0.0.2"}}),
        )
        .await;
    assert_eq!(
        (status, out["status"].as_str()),
        (200, Some("revoked")),
        "{out}"
    );
    assert_eq!(
        out["api_origins"][0],
        format!("http://127.0.0.2:{}", mock.addr.port())
    );
    let (status, _) = api.delete("/api/v1/connections/c1").await;
    assert_eq!(status, 204);
    let (status, _) = api.get("/api/v1/connections/c1").await;
    assert_eq!(status, 404);
}
