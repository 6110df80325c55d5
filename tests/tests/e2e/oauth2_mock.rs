//! The OAuth 2 mock provider on its own (tests/src/oauth2.rs): PKCE, rotation and reuse
//! detection, client authentication, revocation, the knobs the host tests turn.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use sha2::{Digest, Sha256};
use switchboard_tests::oauth2::{ClientAuth, OAuthConfig, OAuthMock};

const VERIFIER: &str = "a-verifier-that-is-long-enough-to-satisfy-rfc7636-rules";
const REDIRECT: &str = "http://127.0.0.1:9/oauth/callback";

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier))
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn mock(config: OAuthConfig) -> OAuthMock {
    let mock = OAuthMock::start(config).await;
    mock.set_redirect_uri(REDIRECT);
    mock
}

/// `/authorize` with the standard parameters plus `extra`; returns (status, Location).
async fn authorize_raw(mock: &OAuthMock, extra: &[(&str, &str)]) -> (u16, String) {
    let challenge = challenge(VERIFIER);
    let mut query = vec![
        ("response_type", "code"),
        ("client_id", "test-client"),
        ("redirect_uri", REDIRECT),
        ("scope", "read write"),
        ("state", "st@te 1"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    for (k, v) in extra {
        query.retain(|(q, _)| q != k);
        query.push((k, v));
    }
    let url = format!("{}/authorize", mock.origin());
    let response = client().get(url).query(&query).send().await.unwrap();
    let location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (response.status().as_u16(), location)
}

/// Runs `/authorize` and returns the code from the redirect.
async fn code(mock: &OAuthMock) -> String {
    let (status, location) = authorize_raw(mock, &[]).await;
    assert_eq!(status, 302);
    let url = url::Url::parse(&location).unwrap();
    assert!(location.starts_with(REDIRECT));
    let q: HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["state"], "st@te 1");
    q["code"].clone()
}

async fn post_token(mock: &OAuthMock, form: &[(&str, &str)]) -> (u16, Value) {
    let response = client()
        .post(format!("{}/token", mock.origin()))
        .basic_auth("test-client", Some("test-secret"))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    if status == 200 {
        assert_eq!(response.headers()["cache-control"], "no-store");
    }
    (status, response.json().await.unwrap())
}

async fn exchange(mock: &OAuthMock, code: &str, verifier: &str) -> (u16, Value) {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
    ];
    post_token(mock, &form).await
}

async fn refresh(mock: &OAuthMock, token: &str) -> (u16, Value) {
    post_token(
        mock,
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
    )
    .await
}

async fn call_api(mock: &OAuthMock, path: &str, token: &str) -> (u16, Value) {
    let response = client()
        .get(format!("{}{path}", mock.origin()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn code_flow_with_pkce() {
    let mock = mock(OAuthConfig::default()).await;
    let code = code(&mock).await;
    let query = mock.last_authorize_query().unwrap();
    assert!(query.contains(&("scope".into(), "read write".into())));
    let (status, body) = exchange(&mock, &code, VERIFIER).await;
    assert_eq!(status, 200, "{body}");
    let at = body["access_token"].as_str().unwrap();
    assert!(at.starts_with("at-"));
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "read write");
    assert_eq!(
        mock.current_refresh_token().as_deref(),
        body["refresh_token"].as_str()
    );
    let (status, api) = call_api(&mock, "/api/echo", at).await;
    assert_eq!(status, 200);
    assert_eq!(api["path"], "/api/echo");
    assert_eq!(api["authorization"], format!("Bearer {at}"));
    assert_eq!(mock.token_requests("authorization_code"), 1);
    assert_eq!(mock.api_requests(), 1);
}

#[tokio::test]
async fn wrong_verifier_refused() {
    let mock = mock(OAuthConfig::default()).await;
    let code = code(&mock).await;
    let other = "another-verifier-that-is-long-enough-to-satisfy-rfc7636";
    let (status, body) = exchange(&mock, &code, other).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn wrong_redirect_refused() {
    let mock = mock(OAuthConfig::default()).await;
    let evil = "http://127.0.0.1:9/oauth/callback/../evil";
    let (status, location) = authorize_raw(&mock, &[("redirect_uri", evil)]).await;
    assert_eq!((status, location.as_str()), (400, ""));
    // Missing state or PKCE, or a plain challenge: refused without redirecting.
    for bad in [
        ("state", ""),
        ("code_challenge_method", "plain"),
        ("response_type", "token"),
    ] {
        assert_eq!(authorize_raw(&mock, &[bad]).await.0, 400, "{bad:?}");
    }
    // At /token, the redirect_uri must be the one used at /authorize.
    let code = code(&mock).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", "http://127.0.0.1:9/other"),
        ("code_verifier", VERIFIER),
    ];
    assert_eq!(post_token(&mock, &form).await.0, 400);
}

#[tokio::test]
async fn code_reuse_refused_and_revokes() {
    let mock = mock(OAuthConfig::default()).await;
    let code = code(&mock).await;
    let (_, body) = exchange(&mock, &code, VERIFIER).await;
    let at = body["access_token"].as_str().unwrap();
    let (status, body) = exchange(&mock, &code, VERIFIER).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert!(mock.grant_revoked());
    assert_eq!(call_api(&mock, "/api/x", at).await.0, 401);
}

#[tokio::test]
async fn refresh_rotation_then_reuse_revokes_grant() {
    let mock = mock(OAuthConfig::default()).await;
    let (_, first) = exchange(&mock, &code(&mock).await, VERIFIER).await;
    let rt1 = first["refresh_token"].as_str().unwrap();
    let (status, second) = refresh(&mock, rt1).await;
    assert_eq!(status, 200, "{second}");
    let rt2 = second["refresh_token"].as_str().unwrap();
    assert!(rt2.starts_with("rt-") && rt2 != rt1);
    assert_eq!(mock.current_refresh_token().as_deref(), Some(rt2));
    assert!(!mock.grant_revoked());
    // Presenting the rotated-away token again kills the grant, the newest token too.
    let (status, body) = refresh(&mock, rt1).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert!(mock.grant_revoked());
    assert_eq!(mock.current_refresh_token(), None);
    assert_eq!(refresh(&mock, rt2).await.0, 400);
    let at2 = second["access_token"].as_str().unwrap();
    assert_eq!(call_api(&mock, "/api/x", at2).await.0, 401);
    assert_eq!(mock.token_requests("refresh_token"), 3);
}

#[tokio::test]
async fn client_auth_mismatch_is_401() {
    let mock = mock(OAuthConfig::default()).await;
    let url = format!("{}/token", mock.origin());
    let form = [("grant_type", "client_credentials")];
    // Basic configured: body credentials, or a wrong secret, are refused.
    let body_auth = [
        ("grant_type", "client_credentials"),
        ("client_id", "test-client"),
        ("client_secret", "test-secret"),
    ];
    let response = client().post(&url).form(&body_auth).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    let wrong = client().post(&url).basic_auth("test-client", Some("nope"));
    assert_eq!(wrong.form(&form).send().await.unwrap().status(), 401);
    // Body configured: Basic is refused, body credentials work.
    mock.set_config(|c| c.client_auth = ClientAuth::Body);
    let basic = client()
        .post(&url)
        .basic_auth("test-client", Some("test-secret"));
    assert_eq!(basic.form(&form).send().await.unwrap().status(), 401);
    let response = client().post(&url).form(&body_auth).send().await.unwrap();
    assert_eq!(response.status(), 200);
    // Special characters must be form-urlencoded inside Basic (RFC 6749 §2.3.1).
    mock.set_config(|c| {
        c.client_auth = ClientAuth::Basic;
        c.client_secret = "s3cr:t&+".into();
    });
    let encoded = client()
        .post(&url)
        .basic_auth("test-client", Some("s3cr%3At%26%2B"));
    assert_eq!(encoded.form(&form).send().await.unwrap().status(), 200);
    assert_eq!(mock.token_requests("client_credentials"), 5);
}

#[tokio::test]
async fn client_credentials() {
    let mock = mock(OAuthConfig::default()).await;
    let (status, body) = post_token(
        &mock,
        &[("grant_type", "client_credentials"), ("scope", "a,b")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "a,b");
    assert!(body.get("refresh_token").is_none());
    let at = body["access_token"].as_str().unwrap();
    assert_eq!(call_api(&mock, "/api/thing", at).await.0, 200);
}

#[tokio::test]
async fn api_401_after_expire_access_tokens() {
    let mock = mock(OAuthConfig::default()).await;
    let (_, body) = exchange(&mock, &code(&mock).await, VERIFIER).await;
    let at = body["access_token"].as_str().unwrap();
    assert_eq!(call_api(&mock, "/api/x", at).await.0, 200);
    mock.expire_access_tokens();
    let response = client()
        .get(format!("{}/api/x", mock.origin()))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\""
    );
    // A refresh gives a live token again.
    let rt = body["refresh_token"].as_str().unwrap();
    let (_, fresh) = refresh(&mock, rt).await;
    let at2 = fresh["access_token"].as_str().unwrap();
    assert_eq!(call_api(&mock, "/api/x", at2).await.0, 200);
}

#[tokio::test]
async fn fail_next_token_requests_is_transient() {
    let mock = mock(OAuthConfig::default()).await;
    let (_, body) = exchange(&mock, &code(&mock).await, VERIFIER).await;
    let rt = body["refresh_token"].as_str().unwrap();
    mock.fail_next_token_requests(2, 503);
    for _ in 0..2 {
        let (status, body) = refresh(&mock, rt).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (503, Some("temporarily_unavailable"))
        );
    }
    // The failures changed nothing: the same refresh token still works.
    assert_eq!(refresh(&mock, rt).await.0, 200);
    assert_eq!(mock.token_requests("refresh_token"), 3);
    assert!(!mock.grant_revoked());
}

#[tokio::test]
async fn deny_consent_revoke_and_no_expiry() {
    let mock = mock(OAuthConfig {
        deny_consent: true,
        ..OAuthConfig::default()
    })
    .await;
    let (status, location) = authorize_raw(&mock, &[]).await;
    assert_eq!(status, 302);
    assert!(location.contains("error=access_denied") && location.contains("state=st%40te+1"));
    mock.set_config(|c| {
        c.deny_consent = false;
        c.access_ttl = None;
        c.rotate_refresh_tokens = false;
        c.granted_scope = Some("read".into());
    });
    let (_, body) = exchange(&mock, &code(&mock).await, VERIFIER).await;
    assert!(body.get("expires_in").is_none());
    assert_eq!(body["scope"], "read");
    let rt = body["refresh_token"].as_str().unwrap();
    // Without rotation, refresh answers carry no refresh token and the old one lives on.
    let (_, fresh) = refresh(&mock, rt).await;
    assert!(fresh.get("refresh_token").is_none());
    assert_eq!(refresh(&mock, rt).await.0, 200);
    // RFC 7009 revocation of the refresh token kills the grant.
    let response = client()
        .post(format!("{}/revoke", mock.origin()))
        .basic_auth("test-client", Some("test-secret"))
        .form(&[("token", rt), ("token_type_hint", "refresh_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        mock.revocations(),
        vec![(rt.to_owned(), Some("refresh_token".to_owned()))]
    );
    assert_eq!(refresh(&mock, rt).await.0, 400);
    let at = fresh["access_token"].as_str().unwrap();
    assert_eq!(call_api(&mock, "/api/x", at).await.0, 401);
}
