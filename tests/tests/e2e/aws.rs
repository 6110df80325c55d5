//! AWS Signature Version 4 connections end to end: a real host, the real `fetch` plugin,
//! and a loopback upstream (`switchboard_tests::aws::AwsVerifier`) that recomputes each
//! signature by hand from the secret it knows, independently of the host's signer, and
//! answers 403 when it does not match.

use serde_json::{Value, json};
use switchboard_tests::aws::{AwsScope, AwsVerifier};
use switchboard_tests::{Api, Mock, TestHost, captured_logs};

use crate::FETCH;

const KEY_ID: &str = "AKIDSWITCHBOARD01";
/// The secret access key: a canary that must never be readable by the function or the API.
const SECRET: &str = "wJalrXUtnFEMI/CANARY+aws/sEcReTkEy0000001";
const TOKEN: &str = "FwoGZXIvYXdzCANARYtoken//////////wEaDH+session=";

fn scope(service: &str, token: Option<&str>) -> AwsScope {
    AwsScope {
        access_key_id: KEY_ID.into(),
        secret_access_key: SECRET.into(),
        session_token: token.map(str::to_owned),
        region: "eu-west-3".into(),
        service: service.into(),
    }
}

/// A host with `fetch` deployed, an aws_sigv4 service `link` for `service` aimed at
/// `origin`, and a granted connection `{link}_main` connected with `secret` (and `token`).
async fn setup(
    host: &TestHost,
    link: &str,
    service: &str,
    origin: &str,
    secret: &str,
    token: Option<&str>,
) -> String {
    let api = &host.api;
    api.create_service(&json!({
        "link_name": link, "display_name": link,
        "auth": {"type": "aws_sigv4", "service": service, "region": "eu-west-3"},
        "dynamic_params": [{"key": "bucket", "display_name": "Bucket", "pattern": "[a-z0-9.-]{3,63}"}],
        "api_origins": [origin],
    }))
    .await;
    let conn = format!("{link}_main");
    api.create_connection(&conn, link, &json!({"bucket": "my-logs"}))
        .await;
    let mut creds = json!({"access_key_id": KEY_ID, "secret_access_key": secret});
    if let Some(t) = token {
        creds["session_token"] = t.into();
    }
    let summary = api.connect(&conn, &creds).await;
    let mut expected = vec!["access_key_id", "secret_access_key"];
    if token.is_some() {
        expected.push("session_token");
    }
    assert_eq!(summary.credentials, expected, "{summary:?}");
    api.grant("fetch", &conn).await;
    conn
}

async fn fetch(api: &Api, input: Value) -> Value {
    let (status, out) = api.invoke("fetch", &input).await;
    assert_eq!(status, 200, "{out}");
    out
}

fn body_json(out: &Value) -> Value {
    serde_json::from_str(out["body"].as_str().unwrap_or_default()).unwrap_or(Value::Null)
}

#[tokio::test]
async fn signed_requests_pass_an_independent_verifier() {
    let dir = tempfile::tempdir().unwrap();
    let verifier = AwsVerifier::start(scope("sqs", None)).await;
    let host = TestHost::start(dir.path()).await;
    host.api.deploy_ok("fetch", FETCH, "").await;
    let conn = setup(&host, "queue", "sqs", &verifier.origin(), SECRET, None).await;
    let base = verifier.origin();
    let api = &host.api;

    // GET with a query out of order, a space, a plus and sub-delimiters in the path.
    let out = fetch(
        api,
        json!({"url": format!("{base}/123456789012/my queue(1)!?Version=2012-11-05&Action=ReceiveMessage&Attr=a+b&Empty"),
               "connection": conn, "headers": [["x-trace", "t  1"], ["Accept", "application/json"]]}),
    )
    .await;
    assert_eq!(out["status"], 200, "{out}");
    let got = body_json(&out);
    assert_eq!(got["verified"], true, "{got}");
    assert_eq!(got["path"], "/123456789012/my%20queue%281%29%21");
    assert_eq!(
        got["query"],
        "Version=2012-11-05&Action=ReceiveMessage&Attr=a%20b&Empty"
    );
    assert_eq!(
        got["signed_headers"],
        "accept;host;x-amz-content-sha256;x-amz-date;x-trace"
    );

    // POST with a form body (the suite's post-x-www-form-urlencoded, through a plugin).
    let out = fetch(
        api,
        json!({"url": format!("{base}/"), "connection": conn, "method": "POST",
               "headers": [["content-type", "application/x-www-form-urlencoded"]],
               "body": "Param1=value1&Action=SendMessage&MessageBody=hello+world"}),
    )
    .await;
    assert_eq!(out["status"], 200, "{out}");
    let got = body_json(&out);
    assert_eq!(
        got["body"],
        "Param1=value1&Action=SendMessage&MessageBody=hello+world"
    );
    assert_eq!(
        got["signed_headers"],
        "content-type;host;x-amz-content-sha256;x-amz-date"
    );

    // The AWS JSON protocol: X-Amz-Target is the function's to set, and it is signed.
    let out = fetch(
        api,
        json!({"url": format!("{base}/"), "connection": conn, "method": "POST",
               "headers": [["content-type", "application/x-amz-json-1.0"], ["X-Amz-Target", "AmazonSQS.ListQueues"]],
               "body": "{\"QueueNamePrefix\":\"a\"}"}),
    )
    .await;
    assert_eq!(out["status"], 200, "{out}");
    assert_eq!(
        body_json(&out)["signed_headers"],
        "content-type;host;x-amz-content-sha256;x-amz-date;x-amz-target"
    );

    let verdicts = verifier.verdicts();
    assert_eq!(verdicts.len(), 3);
    for v in &verdicts {
        assert_eq!(v.failure, None, "{:?}", v.request);
        let auth = v
            .request
            .headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .unwrap();
        assert!(
            auth.1
                .starts_with(&format!("AWS4-HMAC-SHA256 Credential={KEY_ID}/"))
                && auth.1.contains("/eu-west-3/sqs/aws4_request"),
            "{auth:?}"
        );
    }
}

#[tokio::test]
async fn session_tokens_and_s3_paths_are_signed() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = AwsVerifier::start(scope("s3", Some(TOKEN))).await;
    let host = TestHost::start(dir.path()).await;
    host.api.deploy_ok("fetch", FETCH, "").await;
    let conn = setup(&host, "logs", "s3", &s3.origin(), SECRET, Some(TOKEN)).await;
    let base = s3.origin();

    // PUT an object whose key needs encoding, with a body; then list with a prefix.
    let out = fetch(
        &host.api,
        json!({"url": format!("{base}/{{bucket}}/2024/app log (1).txt"), "connection": conn,
               "method": "PUT", "headers": [["content-type", "text/plain"], ["x-amz-meta-owner", "ada"]],
               "body": "line one\nline two\n"}),
    )
    .await;
    assert_eq!(out["status"], 200, "{out}");
    let got = body_json(&out);
    assert_eq!(got["path"], "/my-logs/2024/app%20log%20%281%29.txt");
    assert_eq!(got["body"], "line one\nline two\n");
    assert_eq!(
        got["signed_headers"],
        "content-type;host;x-amz-content-sha256;x-amz-date;x-amz-meta-owner;x-amz-security-token"
    );
    let out = fetch(
        &host.api,
        json!({"url": format!("{base}/{{bucket}}?list-type=2&prefix=2024/"), "connection": conn}),
    )
    .await;
    assert_eq!(out["status"], 200, "{out}");
    assert_eq!(body_json(&out)["query"], "list-type=2&prefix=2024%2F");

    // An upstream that echoes the secret key and the token: both are redacted.
    let out = fetch(
        &host.api,
        json!({"url": format!("{base}/leak/x"), "connection": conn}),
    )
    .await;
    assert_eq!(out["status"], 200, "{out}");
    let got = body_json(&out);
    assert_eq!(got["echo_secret"], "[redacted]", "{out}");
    assert_eq!(got["echo_token"], "[redacted]", "{out}");
    let echoed: Vec<&Value> = out["headers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h[0] == "x-echo-secret")
        .collect();
    assert_eq!(echoed, [&json!(["x-echo-secret", "[redacted]"])], "{out}");
    assert!(!out.to_string().contains("CANARY"), "{out}");

    for v in s3.verdicts() {
        assert_eq!(v.failure, None, "{:?}", v.request);
        let token: Vec<_> = v
            .request
            .headers
            .iter()
            .filter(|(k, _)| k == "x-amz-security-token")
            .collect();
        assert_eq!(
            token,
            [&("x-amz-security-token".to_owned(), TOKEN.to_owned())]
        );
    }
}

#[tokio::test]
async fn a_wrong_secret_is_refused_by_the_verifier() {
    let dir = tempfile::tempdir().unwrap();
    let verifier = AwsVerifier::start(scope("execute-api", None)).await;
    let host = TestHost::start(dir.path()).await;
    host.api.deploy_ok("fetch", FETCH, "").await;
    let wrong = "wJalrXUtnFEMI/CANARY+aws/sEcReTkEy0000002";
    let conn = setup(&host, "gw", "execute-api", &verifier.origin(), wrong, None).await;
    let out = fetch(
        &host.api,
        json!({"url": format!("{}/prod/items?id=1", verifier.origin()), "connection": conn}),
    )
    .await;
    assert_eq!(out["status"], 403, "{out}");
    assert_eq!(body_json(&out)["error"], "SignatureDoesNotMatch", "{out}");
    let verdicts = verifier.verdicts();
    assert_eq!(verdicts.len(), 1);
    assert!(
        verdicts[0]
            .failure
            .as_deref()
            .unwrap()
            .contains("signature mismatch"),
        "{:?}",
        verdicts[0].failure
    );
    // The right secret on the same request passes: only the secret differed.
    let (status, body) = host
        .api
        .post_json(
            &format!("/api/v1/connections/{conn}/connect"),
            &json!({"access_key_id": KEY_ID, "secret_access_key": SECRET}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let out = fetch(
        &host.api,
        json!({"url": format!("{}/prod/items?id=1", verifier.origin()), "connection": conn}),
    )
    .await;
    assert_eq!(out["status"], 200, "{out}");
}

#[tokio::test]
async fn the_function_cannot_set_the_signature_headers() {
    let dir = tempfile::tempdir().unwrap();
    let verifier = AwsVerifier::start(scope("sqs", None)).await;
    let host = TestHost::start(dir.path()).await;
    host.api.deploy_ok("fetch", FETCH, "").await;
    let conn = setup(&host, "queue", "sqs", &verifier.origin(), SECRET, None).await;
    let url = format!("{}/", verifier.origin());
    for header in [
        "Authorization",
        "X-Amz-Date",
        "x-amz-content-sha256",
        "X-Amz-Security-Token",
    ] {
        let out = fetch(
            &host.api,
            json!({"url": url, "connection": conn, "headers": [[header, "20150830T123600Z"]]}),
        )
        .await;
        assert_eq!(out["error"]["kind"], "invalid-request", "{header}: {out}");
        assert!(
            out["error"]["message"].as_str().unwrap().contains(header),
            "{out}"
        );
    }
    // Nor smuggle a presigned URL's signature.
    let out = fetch(
        &host.api,
        json!({"url": format!("{url}?X-Amz-Signature=abc&X-Amz-Credential=x"), "connection": conn}),
    )
    .await;
    assert_eq!(out["error"]["kind"], "invalid-request", "{out}");
    assert!(verifier.verdicts().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn services_get_aws_origins_and_connect_values_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let host = TestHost::start(dir.path()).await;
    let api = &host.api;

    // No api_origins: AWS's, from service and region; S3 with `bucket` gets both styles.
    let sqs = api
        .create_service(&json!({
            "link_name": "sqs", "display_name": "SQS",
            "auth": {"type": "aws_sigv4", "service": "sqs", "region": "eu-west-3"},
        }))
        .await;
    assert_eq!(sqs.api_origins, ["https://sqs.eu-west-3.amazonaws.com"]);
    let s3 = api
        .create_service(&json!({
            "link_name": "s3", "display_name": "S3",
            "auth": {"type": "aws_sigv4", "service": "s3", "region": "us-east-1"},
            "dynamic_params": [{"key": "bucket", "display_name": "Bucket"}],
            "api_origins": [],
        }))
        .await;
    assert_eq!(
        s3.api_origins,
        [
            "https://s3.us-east-1.amazonaws.com",
            "https://{bucket}.s3.us-east-1.amazonaws.com"
        ]
    );
    let c = api
        .create_connection("s3_logs", "s3", &json!({"bucket": "my-logs"}))
        .await;
    assert_eq!(
        c.api_origins,
        [
            "https://s3.us-east-1.amazonaws.com",
            "https://my-logs.s3.us-east-1.amazonaws.com"
        ]
    );
    // Editing with the same (defaulted) definition changes nothing.
    let (status, body) = api
        .put_json(
            "/api/v1/services/sqs",
            &json!({
                "link_name": "sqs", "display_name": "SQS",
                "auth": {"type": "aws_sigv4", "service": "sqs", "region": "eu-west-3"},
            }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["revoked_connections"], json!([]), "{body}");

    // Bad scopes; api_key still needs an origin.
    for (auth, says) in [
        (
            json!({"type": "aws_sigv4", "service": "S3", "region": "us-east-1"}),
            "auth.service",
        ),
        (
            json!({"type": "aws_sigv4", "service": "s3", "region": "evil.com/x"}),
            "auth.region",
        ),
        (
            json!({"type": "aws_sigv4", "service": "", "region": "us-east-1"}),
            "auth.service",
        ),
        (
            json!({"type": "api_key", "params": [{"name": "k", "display_name": "K", "param_type": "header"}]}),
            "api_origins",
        ),
    ] {
        let (status, body) = api
            .post_json(
                "/api/v1/services",
                &json!({"link_name": "bad", "display_name": "Bad", "auth": auth}),
            )
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["code"], "invalid_service", "{body}");
        assert!(body.to_string().contains(says), "{says}: {body}");
    }

    // Connect bodies: checked, never quoted.
    for (creds, says) in [
        (json!({"access_key_id": KEY_ID}), "secret_access_key"),
        (
            json!({"access_key_id": KEY_ID, "secret_access_key": format!("{SECRET}\n")}),
            "control characters",
        ),
        (
            json!({"access_key_id": KEY_ID, "secret_access_key": "CANARY"}),
            "8 to 256",
        ),
        (
            json!({"access_key_id": KEY_ID, "secret_access_key": SECRET, "session_token": "CANARY token"}),
            "session_token",
        ),
        (json!({"values": {"k": SECRET}}), "aws_sigv4 service"),
        (
            json!({"access_key_id": KEY_ID, "secret_access_key": SECRET, "username": "CANARY"}),
            "aws_sigv4 service",
        ),
    ] {
        let (status, body) = api
            .post_json("/api/v1/connections/s3_logs/connect", &creds)
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["code"], "invalid_credentials", "{body}");
        assert!(body.to_string().contains(says), "{says}: {body}");
        assert!(!body.to_string().contains("CANARY"), "{body}");
    }
}

#[tokio::test]
async fn the_secret_key_reaches_neither_the_plugin_nor_the_api() {
    let dir = tempfile::tempdir().unwrap();
    // An echoing upstream: it returns every header it received, so the plugin sees
    // exactly what was sent (the signature, never the key).
    let mock = Mock::start().await;
    let host = TestHost::start(dir.path()).await;
    let api = host.api.clone();
    api.deploy_ok("fetch", FETCH, "").await;
    let conn = setup(&host, "echo", "sqs", &mock.origin(), SECRET, Some(TOKEN)).await;
    let mut seen = Vec::new();
    for input in [
        json!({"url": format!("{}/echo", mock.origin()), "connection": conn}),
        json!({"url": format!("{}/echo", mock.origin()), "connection": conn, "method": "POST",
               "headers": [["content-type", "application/x-www-form-urlencoded"]], "body": "a=1"}),
        json!({"url": format!("{}/redirect?to=http://127.0.0.2:1/x", mock.origin()), "connection": conn}),
        json!({"url": format!("{}/x", mock.origin()), "connection": conn, "headers": [["authorization", "x"]]}),
    ] {
        seen.push(fetch(&api, input).await);
    }
    // The echo shows the signature went out, and the token (which is sent) came back
    // redacted; the secret key itself never travelled.
    let echo = &seen[0];
    assert_eq!(echo["status"], 200, "{echo}");
    assert!(
        echo["body"]
            .as_str()
            .unwrap()
            .contains("AWS4-HMAC-SHA256 Credential=AKIDSWITCHBOARD01/"),
        "{echo}"
    );
    assert!(
        echo["body"].as_str().unwrap().contains("[redacted]"),
        "{echo}"
    );
    assert!(
        mock.saw(TOKEN),
        "the upstream did receive the session token"
    );
    assert!(!mock.saw(SECRET), "the secret key itself is never sent");
    assert!(!mock.saw("CANARY+aws"), "nor any part of it");
    let (_, logs) = api.get("/api/v1/functions/fetch/logs").await;
    seen.push(logs);
    for path in [
        "/api/v1/services".to_owned(),
        "/api/v1/services/echo".to_owned(),
        "/api/v1/connections".to_owned(),
        format!("/api/v1/connections/{conn}"),
        format!("/api/v1/connections/{conn}/activity"),
    ] {
        let (status, body) = api.get(&path).await;
        assert_eq!(status, 200, "{path}: {body}");
        seen.push(body);
    }
    for v in &seen {
        assert!(!v.to_string().contains("CANARY"), "leaked: {v}");
    }
    let logs = captured_logs();
    assert!(
        !logs.contains(SECRET),
        "the secret key is in the host's log"
    );
    assert!(
        !logs.contains(TOKEN),
        "the session token is in the host's log"
    );
}
