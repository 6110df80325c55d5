//! Auth types: what a service declares ([`AuthConfig`]), what a connection holds sealed
//! ([`Credentials`]), and the form outbound uses on every hop ([`Credential`]): where
//! each value goes, which request parts a function may not set, and what to redact
//! from responses. One module per auth type does the placing.

mod api_key;
pub mod aws_sigv4;
mod basic;
pub mod oauth1;
mod redact;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use url::Url;

pub use redact::Redactor;
pub use switchboard_model::auth::{
    ApiKeyParam, AuthConfig, ClientAuth, Credentials, GrantType, ParamType, SignatureMethod, Tokens,
};
use switchboard_model::{ClientSecret, SecretString, SessionToken};

/// Why credentials could not be put on a request. Messages never hold a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ApplyError(pub String);

/// One placement of a secret on a request.
#[derive(Debug)]
enum Placement {
    Query {
        name: String,
        value: SecretString,
    },
    Form {
        name: String,
        value: SecretString,
    },
    Header {
        name: HeaderName,
        value: HeaderValue,
    },
    /// AWS SigV4: the whole request is signed, last.
    AwsSigv4(Box<aws_sigv4::Signer>),
    /// OAuth 1.0a: the whole request is signed, last.
    OAuth1(Box<oauth1::Signer>),
}

/// What outbound needs to send a request with a connection's credentials: the
/// placements, the request parts a function may not set, and the redactor.
#[derive(Debug)]
pub struct Credential {
    placements: Vec<Placement>,
    reserved_headers: Vec<String>,
    redactor: Redactor,
}

/// Headers no request through a connection may carry from the function: they would
/// override or smuggle credentials. (Hop-by-hop headers, `Host` and `Content-Length` are
/// refused for every request by outbound itself.)
pub const CONNECTION_FORBIDDEN_HEADERS: &[&str] = &["authorization", "cookie", "cookie2"];

/// Headers that ask for part of a response: refused through a connection, since a
/// reflected secret read in pieces escapes the redactor.
pub const RANGE_HEADERS: &[&str] = &["range", "if-range"];

/// A Basic username shorter than this is not redacted on its own (a one-letter name would
/// blank every such letter of a response); it is still redacted inside the Basic token.
pub const MIN_REDACTED_USERNAME: usize = 4;

/// A header name as servers may read it: lower case, `_` as `-`.
fn header_key(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', "-")
}

/// A query or form field name as servers may read it: lower case, a trailing `[…]`
/// dropped, `.`, space and `[` as `_`.
fn param_key(name: &str) -> String {
    let lower = name.trim().to_ascii_lowercase();
    let base = match lower.find('[') {
        Some(i) if lower[i..].contains(']') => &lower[..i],
        _ => lower.as_str(),
    };
    base.replace(['.', ' ', '['], "_")
}

fn form_on_bodiless(name: &str, method: &reqwest::Method) -> ApplyError {
    ApplyError(format!(
        "this connection sends `{name}` as form data, which needs a request body, and a {method} request has none (the host does not create one; a 303 redirect also turns a request into a GET): use POST, PUT or PATCH with an application/x-www-form-urlencoded body"
    ))
}

impl Credential {
    /// Builds the request-time form of `credentials` for a service with `auth`.
    ///
    /// # Errors
    /// The sealed credentials do not fit the service (the service changed shape and the
    /// connection was not revoked; should not happen) — the message names no value.
    pub fn new(auth: &AuthConfig, credentials: &Credentials) -> Result<Self, ApplyError> {
        Self::with_service_secret(auth, credentials, None)
    }

    /// [`Credential::new`] for auth types that also need the service's own secret (the
    /// OAuth 1 consumer secret, sealed with the service rather than the connection; the
    /// OAuth 2 client secret, which is not sent with API requests but is redacted from
    /// their responses).
    ///
    /// # Errors
    /// As [`Credential::new`]; an `oauth1` service without its consumer secret.
    pub fn with_service_secret(
        auth: &AuthConfig,
        credentials: &Credentials,
        service_secret: Option<&ClientSecret>,
    ) -> Result<Self, ApplyError> {
        let placements = match (auth, credentials) {
            (AuthConfig::ApiKey { params }, Credentials::ApiKey { values }) => {
                api_key::placements(params, values)?
            }
            (AuthConfig::Basic, Credentials::Basic { username, password }) => {
                vec![basic::placement(username, password)?]
            }
            (
                AuthConfig::AwsSigv4 { service, region },
                Credentials::AwsSigv4 {
                    access_key_id,
                    secret_access_key,
                    session_token,
                },
            ) => vec![Placement::AwsSigv4(Box::new(aws_sigv4::Signer::new(
                service,
                region,
                access_key_id,
                secret_access_key.as_secret(),
                session_token.as_ref().map(SessionToken::as_secret),
            )?))],
            (
                AuthConfig::OAuth1 {
                    consumer_key,
                    param_type,
                    signature_method,
                    ..
                },
                Credentials::OAuth1 {
                    token,
                    token_secret,
                },
            ) => {
                let consumer_secret = service_secret.ok_or_else(|| {
                    ApplyError(
                        "the service has no consumer secret (`client_secret`); set it, then connect again"
                            .into(),
                    )
                })?;
                vec![Placement::OAuth1(Box::new(oauth1::Signer::new(
                    consumer_key,
                    consumer_secret.as_secret(),
                    Some((token.as_secret(), token_secret.as_secret())),
                    *signature_method,
                    *param_type,
                )))]
            }
            (AuthConfig::OAuth2 { .. }, Credentials::OAuth2(tokens)) => {
                let mut value =
                    HeaderValue::from_str(&format!("Bearer {}", tokens.access_token.expose()))
                        .map_err(|_| {
                            ApplyError("the access token is not a valid header value".into())
                        })?;
                value.set_sensitive(true);
                vec![Placement::Header {
                    name: reqwest::header::AUTHORIZATION,
                    value,
                }]
            }
            (auth, _) => {
                return Err(ApplyError(format!(
                    "the stored credentials do not match the service's auth type `{}`; connect again",
                    auth.type_name()
                )));
            }
        };
        let mut redactor = Redactor::default();
        for p in &placements {
            match p {
                Placement::Query { value, .. } | Placement::Form { value, .. } => {
                    redactor.add(value.expose().as_bytes());
                }
                Placement::Header { value, .. } => redactor.add(value.as_bytes()),
                Placement::AwsSigv4(signer) => {
                    for secret in signer.secrets() {
                        redactor.add(secret.expose().as_bytes());
                    }
                }
                Placement::OAuth1(signer) => {
                    for secret in signer.secrets() {
                        redactor.add(secret.expose().as_bytes());
                    }
                    if let Some(sig) = signer.plaintext_signature() {
                        redactor.add(sig.as_bytes());
                    }
                }
            }
        }
        if let Credentials::Basic { username, password } = credentials {
            redactor.add(basic::token(username, password).expose().as_bytes());
            redactor.add(password.expose().as_bytes());
            if username.expose().chars().count() >= MIN_REDACTED_USERNAME {
                redactor.add(username.expose().as_bytes());
            }
        }
        if let Credentials::OAuth2(tokens) = credentials {
            redactor.add(tokens.access_token.expose().as_bytes());
            if let Some(r) = &tokens.refresh_token {
                redactor.add(r.expose().as_bytes());
            }
            // The service's client secret: an API origin may echo it too.
            if let Some(secret) = service_secret {
                redactor.add(secret.expose().as_bytes());
            }
        }
        Ok(Self {
            placements,
            reserved_headers: auth.reserved_headers(),
            redactor,
        })
    }

    /// Refuses a request whose headers, query or form body would override or smuggle a
    /// credential, or read a reflected one in pieces. Called once, on the function's
    /// request, before anything is sent.
    ///
    /// Names are compared as servers may read them, not only byte for byte: a header
    /// name case-insensitively with `_` taken as `-` (`X_Api_Key` is `X-Api-Key` to some
    /// servers); a query or form field name case-insensitively, with a trailing `[…]`
    /// dropped and `.`, space and `[` taken as `_` (PHP's reading: `API_KEY`, `api_key[]`,
    /// `api.key` are all `api_key`).
    ///
    /// # Errors
    /// A message naming the offending header or parameter.
    pub fn check_request(
        &self,
        method: &reqwest::Method,
        url: &Url,
        headers: &[(String, String)],
        body: Option<&[u8]>,
    ) -> Result<(), ApplyError> {
        for (name, _) in headers {
            let key = header_key(name);
            if CONNECTION_FORBIDDEN_HEADERS.contains(&key.as_str())
                || self.reserved_headers.iter().any(|r| header_key(r) == key)
            {
                return Err(ApplyError(format!(
                    "header `{name}` may not be set on a request through a connection: the host sets the credentials"
                )));
            }
            if RANGE_HEADERS.contains(&key.as_str()) {
                return Err(ApplyError(format!(
                    "header `{name}` may not be set on a request through a connection: a response read in ranges could carry a reflected credential in pieces the host cannot recognise; request the whole resource"
                )));
            }
        }
        let bodiless = *method == reqwest::Method::GET || *method == reqwest::Method::HEAD;
        // A query or form credential is refused in both places: servers that merge the
        // two (PHP's `$_REQUEST`, Rails' `params`) let a body field override a query
        // parameter of the same name, and the other way round.
        let in_query_or_form = |name: &str| -> Result<(), ApplyError> {
            if let Some((k, _)) = url
                .query_pairs()
                .find(|(k, _)| param_key(k) == param_key(name))
            {
                return Err(ApplyError(format!(
                    "query parameter `{k}` is set by the connection (as `{name}`); remove it from the URL"
                )));
            }
            if let Some((k, _)) = body.and_then(|b| {
                url::form_urlencoded::parse(b).find(|(k, _)| param_key(k) == param_key(name))
            }) {
                return Err(ApplyError(format!(
                    "form field `{k}` is set by the connection (as `{name}`); remove it from the body"
                )));
            }
            Ok(())
        };
        for p in &self.placements {
            match p {
                Placement::Query { name, .. } => in_query_or_form(name)?,
                Placement::Form { name, .. } => {
                    if bodiless {
                        return Err(form_on_bodiless(name, method));
                    }
                    in_query_or_form(name)?;
                }
                Placement::AwsSigv4(signer) => signer.check_url(url)?,
                Placement::OAuth1(_) => oauth1::Signer::check_request(url, body)?,
                Placement::Header { .. } => {}
            }
        }
        Ok(())
    }

    /// Puts the credentials on one hop of a request. Query and form values replace any
    /// of the same name (a redirect's `Location` may repeat them).
    ///
    /// # Errors
    /// A form credential with a body that is not `application/x-www-form-urlencoded`.
    pub fn apply(
        &self,
        method: &reqwest::Method,
        url: &mut Url,
        headers: &mut HeaderMap,
        body: &mut Option<Vec<u8>>,
    ) -> Result<(), ApplyError> {
        for p in &self.placements {
            match p {
                Placement::Query { name, value } => {
                    api_key::set_query(url, name, value.expose());
                }
                Placement::Form { name, value } => {
                    // A redirect (303) can turn a request into a GET: no body is made for it.
                    if *method == reqwest::Method::GET || *method == reqwest::Method::HEAD {
                        return Err(form_on_bodiless(name, method));
                    }
                    api_key::set_form(headers, body, name, value.expose())?;
                }
                Placement::Header { name, value } => {
                    headers.insert(name.clone(), value.clone());
                }
                Placement::AwsSigv4(signer) => {
                    signer.sign(method, url, headers, body.as_deref())?;
                }
                Placement::OAuth1(signer) => signer.sign(method, url, headers, body)?,
            }
        }
        Ok(())
    }

    /// Replaces every secret value in `bytes` with `[redacted]`.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use switchboard_model::{AccessToken, ApiKeyValue, Password};

    fn api_key_service() -> AuthConfig {
        AuthConfig::ApiKey {
            params: vec![
                ApiKeyParam {
                    name: "api_key".into(),
                    display_name: "Key".into(),
                    param_type: ParamType::Query,
                },
                ApiKeyParam {
                    name: "token".into(),
                    display_name: "Token".into(),
                    param_type: ParamType::Form,
                },
                ApiKeyParam {
                    name: "X-Api-Key".into(),
                    display_name: "Header key".into(),
                    param_type: ParamType::Header,
                },
            ],
        }
    }

    fn values() -> Credentials {
        Credentials::ApiKey {
            values: [
                ("api_key", "q-canary"),
                ("token", "f canary&="),
                ("X-Api-Key", "h-canary"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), ApiKeyValue::new(v)))
            .collect(),
        }
    }

    #[test]
    fn auth_config_serde_covers_every_type() {
        let cases = [
            r#"{"type":"api_key","params":[{"name":"k","display_name":"K","param_type":"header"}]}"#,
            r#"{"type":"basic"}"#,
            r#"{"type":"oauth1","consumer_key":"ck","request_token_url":"https://a/r","authorize_url":"https://a/a","access_token_url":"https://a/t","param_type":"header"}"#,
            r#"{"type":"oauth2","client_id":"id","authorize_url":"https://a/a","access_token_url":"https://a/t","scopes":["read"],"grant_type":"authorization_code"}"#,
            r#"{"type":"aws_sigv4","service":"s3","region":"us-east-1"}"#,
        ];
        for c in cases {
            let a: AuthConfig = serde_json::from_str(c).unwrap_or_else(|e| panic!("{c}: {e}"));
            let back: AuthConfig =
                serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
            assert_eq!(a, back);
        }
        let e = serde_json::from_str::<AuthConfig>(r#"{"type":"magic"}"#).unwrap_err();
        assert!(e.to_string().contains("magic"), "{e}");
        if let AuthConfig::OAuth2 {
            scope_delimiter, ..
        } = serde_json::from_str(cases[3]).unwrap()
        {
            assert_eq!(scope_delimiter, " ");
        }
    }

    #[test]
    fn credentials_debug_hides_values() {
        let d = format!("{:?}", values());
        assert!(!d.contains("canary"), "{d}");
        let c = Credential::new(&api_key_service(), &values()).unwrap();
        assert!(!format!("{c:?}").contains("canary"));
    }

    #[test]
    fn api_key_values_land_in_query_form_and_header() {
        let c = Credential::new(&api_key_service(), &values()).unwrap();
        let mut url = Url::parse("https://api.example.com/v1?x=1").unwrap();
        let mut headers = HeaderMap::new();
        let mut body = None;
        c.apply(&reqwest::Method::POST, &mut url, &mut headers, &mut body)
            .unwrap();
        assert_eq!(url.query(), Some("x=1&api_key=q-canary"));
        assert_eq!(headers["x-api-key"], "h-canary");
        assert!(headers["x-api-key"].is_sensitive());
        assert_eq!(body.as_deref(), Some(&b"token=f+canary%26%3D"[..]));
        assert_eq!(headers["content-type"], "application/x-www-form-urlencoded");

        // Appended to an existing form body; applied again (a redirect hop), replaced.
        let mut body = Some(b"a=1".to_vec());
        let mut headers = HeaderMap::new();
        headers.insert(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8"
                .parse()
                .unwrap(),
        );
        c.apply(&reqwest::Method::POST, &mut url, &mut headers, &mut body)
            .unwrap();
        c.apply(&reqwest::Method::POST, &mut url, &mut headers, &mut body)
            .unwrap();
        assert_eq!(body.as_deref(), Some(&b"a=1&token=f+canary%26%3D"[..]));
        assert_eq!(url.query(), Some("x=1&api_key=q-canary"));

        // A JSON body cannot carry a form credential.
        let mut body = Some(b"{}".to_vec());
        let mut headers = HeaderMap::new();
        headers.insert("content-type", "application/json".parse().unwrap());
        let e = c
            .apply(&reqwest::Method::POST, &mut url, &mut headers, &mut body)
            .unwrap_err();
        assert!(e.0.contains("x-www-form-urlencoded"), "{e}");
        assert!(!e.0.contains("canary"));
    }

    #[test]
    fn smuggling_is_refused() {
        let c = Credential::new(&api_key_service(), &values()).unwrap();
        let url = Url::parse("https://api.example.com/v1").unwrap();
        for h in ["Authorization", "cookie", "x-api-key", "X-API-KEY"] {
            let e = c
                .check_request(&post(), &url, &[(h.into(), "v".into())], None)
                .unwrap_err();
            assert!(e.0.contains(h), "{e}");
        }
        let q = Url::parse("https://api.example.com/v1?api_key=mine").unwrap();
        assert!(
            c.check_request(&post(), &q, &[], None)
                .unwrap_err()
                .0
                .contains("api_key")
        );
        let e = c
            .check_request(&post(), &url, &[], Some(b"a=1&token=mine"))
            .unwrap_err();
        assert!(e.0.contains("token"));
        assert!(
            c.check_request(
                &post(),
                &url,
                &[("accept".into(), "x".into())],
                Some(b"a=1")
            )
            .is_ok()
        );
    }

    fn post() -> reqwest::Method {
        reqwest::Method::POST
    }

    #[test]
    fn a_form_credential_never_makes_a_body_on_get_or_head() {
        let c = Credential::new(&api_key_service(), &values()).unwrap();
        let url = Url::parse("https://api.example.com/v1").unwrap();
        for m in [reqwest::Method::GET, reqwest::Method::HEAD] {
            let e = c.check_request(&m, &url, &[], None).unwrap_err();
            assert!(
                e.0.contains("`token` as form data") && e.0.contains("POST"),
                "{e}"
            );
            // A redirect hop turned into a GET is refused too, not given a body.
            let (mut u, mut h, mut b) = (url.clone(), HeaderMap::new(), None);
            let e = c.apply(&m, &mut u, &mut h, &mut b).unwrap_err();
            assert!(e.0.contains("form data"), "{e}");
            assert!(b.is_none() && h.get("content-type").is_none());
        }
        // Query and header placements alone are fine on a GET.
        let only_query = AuthConfig::ApiKey {
            params: vec![ApiKeyParam {
                name: "api_key".into(),
                display_name: "Key".into(),
                param_type: ParamType::Query,
            }],
        };
        let creds = Credentials::ApiKey {
            values: [("api_key".to_owned(), ApiKeyValue::new("q-canary"))].into(),
        };
        let c = Credential::new(&only_query, &creds).unwrap();
        c.check_request(&reqwest::Method::GET, &url, &[], None)
            .unwrap();
    }

    #[test]
    fn near_miss_names_and_range_requests_are_refused() {
        let c = Credential::new(&api_key_service(), &values()).unwrap();
        let url = Url::parse("https://api.example.com/v1").unwrap();
        for h in [
            "X_Api_Key",
            "x_api-key",
            "AUTHORIZATION",
            "Range",
            "if-range",
            "If_Range",
        ] {
            let e = c
                .check_request(&post(), &url, &[(h.into(), "v".into())], None)
                .unwrap_err();
            assert!(e.0.contains(h), "{h}: {e}");
        }
        for q in [
            "API_KEY=x",
            "api_key[]=x",
            "Api_Key[0]=x",
            "api.key=x",
            "api%20key=x",
            "api[key=x",
        ] {
            let u = Url::parse(&format!("https://api.example.com/v1?{q}")).unwrap();
            let e = c.check_request(&post(), &u, &[], None).unwrap_err();
            assert!(e.0.contains("api_key"), "{q}: {e}");
        }
        for f in ["TOKEN=x", "token[]=x", "a=1&Token%5Bx%5D=y"] {
            let e = c
                .check_request(&post(), &url, &[], Some(f.as_bytes()))
                .unwrap_err();
            assert!(e.0.contains("token"), "{f}: {e}");
        }
        // Across places: a body field named like the query credential, a query parameter
        // named like the form credential (servers that merge them read either).
        let e = c
            .check_request(&post(), &url, &[], Some(b"a=1&API_KEY=mine"))
            .unwrap_err();
        assert!(e.0.contains("API_KEY") && e.0.contains("body"), "{e}");
        let u = Url::parse("https://api.example.com/v1?token=mine").unwrap();
        let e = c.check_request(&post(), &u, &[], None).unwrap_err();
        assert!(e.0.contains("token") && e.0.contains("URL"), "{e}");
        // Names that only share a prefix are someone else's.
        let u = Url::parse("https://api.example.com/v1?api_key_id=1&my_api_key=2").unwrap();
        c.check_request(
            &post(),
            &u,
            &[("x-api-keys".into(), "v".into())],
            Some(b"tokens=1"),
        )
        .unwrap();
    }

    #[test]
    fn basic_username_and_oauth2_client_secret_are_redacted() {
        let creds = Credentials::Basic {
            username: SecretString::new("user-canary"),
            password: Password::new("pw-canary"),
        };
        let c = Credential::new(&AuthConfig::Basic, &creds).unwrap();
        let out = c
            .redactor()
            .redact(b"you are user-canary:[redacted]")
            .unwrap();
        assert_eq!(out, b"you are [redacted]:[redacted]");
        // A short username is not a needle of its own (it would blank every `bob`).
        let short = Credentials::Basic {
            username: SecretString::new("bob"),
            password: Password::new("pw-canary"),
        };
        let c = Credential::new(&AuthConfig::Basic, &short).unwrap();
        assert_eq!(c.redactor().redact(b"bob"), None);

        let auth = AuthConfig::OAuth2 {
            client_id: "id".into(),
            authorize_url: None,
            access_token_url: "https://a/t".into(),
            refresh_token_url: None,
            revoke_url: None,
            scopes: vec![],
            scope_delimiter: " ".into(),
            grant_type: GrantType::ClientCredentials,
            client_auth: ClientAuth::Basic,
            extra_authorize_params: BTreeMap::new(),
        };
        let tokens = Tokens {
            access_token: AccessToken::new("at-canary"),
            refresh_token: None,
            expires_at_ms: None,
            issued_at_ms: None,
            granted_scopes: None,
        };
        let secret = ClientSecret::new("client-secret-canary");
        let c = Credential::with_service_secret(&auth, &Credentials::OAuth2(tokens), Some(&secret))
            .unwrap();
        let out = c
            .redactor()
            .redact(b"{\"client_secret\":\"client-secret-canary\"}")
            .unwrap();
        assert_eq!(out, b"{\"client_secret\":\"[redacted]\"}");
    }

    #[test]
    fn basic_header_is_exact_and_redacted() {
        let creds = Credentials::Basic {
            username: SecretString::new("Aladdin"),
            password: Password::new("open sesame"),
        };
        let c = Credential::new(&AuthConfig::Basic, &creds).unwrap();
        let mut url = Url::parse("https://api.example.com/").unwrap();
        let mut headers = HeaderMap::new();
        let mut body = None;
        c.apply(&reqwest::Method::GET, &mut url, &mut headers, &mut body)
            .unwrap();
        // RFC 7617's example.
        assert_eq!(
            headers["authorization"],
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        let echoed = b"got Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ== and open sesame".to_vec();
        let out = c.redactor().redact(&echoed).unwrap();
        assert_eq!(out, b"got [redacted] and [redacted]");
        let token_only = c
            .redactor()
            .redact(b"QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
            .unwrap();
        assert_eq!(token_only, b"[redacted]");
        assert!(
            Credential::new(&api_key_service(), &creds)
                .unwrap_err()
                .0
                .contains("api_key")
        );
    }
}
