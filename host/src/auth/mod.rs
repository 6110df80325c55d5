//! Auth types: what a service declares ([`AuthConfig`]), what a connection holds sealed
//! ([`Credentials`]), and the form outbound uses on every hop ([`Credential`]): where
//! each value goes, which request parts a function may not set, and what to redact
//! from responses. One module per auth type does the placing.

mod api_key;
pub mod aws_sigv4;
mod basic;
pub mod oauth;
pub mod oauth1;
mod redact;

use std::collections::BTreeMap;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::store::SecretString;
pub use redact::Redactor;

/// Where an API-key parameter (or OAuth 1 parameters) travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamType {
    /// The URL's query string.
    Query,
    /// An `application/x-www-form-urlencoded` body.
    Form,
    /// A request header.
    Header,
}

/// One API-key parameter of a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyParam {
    /// The *actual parameter*: the name sent upstream (`api_key`, `X-Api-Key`).
    pub name: String,
    /// What the connect form asks for.
    pub display_name: String,
    /// Where it goes.
    pub param_type: ParamType,
}

/// OAuth 2 grant types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    /// Authorization code with PKCE.
    AuthorizationCode,
    /// Client credentials (no browser).
    ClientCredentials,
}

/// How an OAuth 2 client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// HTTP Basic with client id and secret.
    #[default]
    Basic,
    /// `client_id` and `client_secret` in the form body.
    RequestBody,
}

/// OAuth 1 signature methods.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SignatureMethod {
    /// HMAC-SHA1 (RFC 5849).
    #[default]
    #[serde(rename = "HMAC-SHA1")]
    HmacSha1,
    /// HMAC-SHA256.
    #[serde(rename = "HMAC-SHA256")]
    HmacSha256,
    /// PLAINTEXT.
    #[serde(rename = "PLAINTEXT")]
    Plaintext,
}

fn default_scope_delimiter() -> String {
    " ".to_owned()
}

/// A service's auth type and its (non-secret) fields, as the seeds list them. Client and
/// consumer secrets are sealed apart from this record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum AuthConfig {
    /// One or more key parameters.
    ApiKey {
        /// The parameters, in order.
        params: Vec<ApiKeyParam>,
    },
    /// Username and password as `Authorization: Basic`.
    Basic,
    /// OAuth 1.0a, three-legged.
    #[serde(rename = "oauth1")]
    OAuth1 {
        /// Consumer key.
        consumer_key: String,
        /// Request-token URL.
        request_token_url: String,
        /// Authorize URL.
        authorize_url: String,
        /// Access-token URL.
        access_token_url: String,
        /// Where the OAuth parameters go.
        param_type: ParamType,
        /// Signature method.
        #[serde(default)]
        signature_method: SignatureMethod,
    },
    /// OAuth 2.
    #[serde(rename = "oauth2")]
    OAuth2 {
        /// Client id.
        client_id: String,
        /// Authorize URL (authorization code).
        #[serde(default)]
        authorize_url: Option<String>,
        /// Access-token URL.
        access_token_url: String,
        /// Refresh-token URL (defaults to the access-token URL).
        #[serde(default)]
        refresh_token_url: Option<String>,
        /// RFC 7009 revocation endpoint.
        #[serde(default)]
        revoke_url: Option<String>,
        /// Scopes a connection may choose.
        #[serde(default)]
        scopes: Vec<String>,
        /// Joins scopes in requests.
        #[serde(default = "default_scope_delimiter")]
        scope_delimiter: String,
        /// Grant type; never changes.
        grant_type: GrantType,
        /// Client authentication at the token endpoint.
        #[serde(default)]
        client_auth: ClientAuth,
        /// Extra authorize parameters (`access_type=offline`, ...).
        #[serde(default)]
        extra_authorize_params: BTreeMap<String, String>,
    },
    /// AWS Signature Version 4.
    AwsSigv4 {
        /// AWS service (`s3`, `sqs`).
        service: String,
        /// Region (`us-east-1`).
        region: String,
    },
}

impl AuthConfig {
    /// The wire name of the type (`api_key`, `basic`, `oauth1`, `oauth2`, `aws_sigv4`).
    pub fn type_name(&self) -> &'static str {
        match self {
            AuthConfig::ApiKey { .. } => "api_key",
            AuthConfig::Basic => "basic",
            AuthConfig::OAuth1 { .. } => "oauth1",
            AuthConfig::OAuth2 { .. } => "oauth2",
            AuthConfig::AwsSigv4 { .. } => "aws_sigv4",
        }
    }

    /// Header names a function may not set on requests through this service, beyond the
    /// ones no connection request may set ([`Credential::check_request`]), lower-case.
    pub fn reserved_headers(&self) -> Vec<String> {
        match self {
            AuthConfig::ApiKey { params } => params
                .iter()
                .filter(|p| p.param_type == ParamType::Header)
                .map(|p| p.name.to_ascii_lowercase())
                .collect(),
            AuthConfig::AwsSigv4 { .. } => aws_sigv4::SIGNING_HEADERS
                .iter()
                .map(|h| (*h).to_owned())
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// A connection's secrets as sealed at rest. `Debug` never prints a value.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Credentials {
    /// One value per API-key parameter, by parameter name.
    ApiKey {
        /// Parameter name → value.
        values: BTreeMap<String, SecretString>,
    },
    /// Basic.
    Basic {
        /// Username (no `:`).
        username: SecretString,
        /// Password.
        password: SecretString,
    },
    /// AWS Signature Version 4 keys.
    AwsSigv4 {
        /// Access key id (not secret, but kept with the rest).
        access_key_id: SecretString,
        /// Secret access key.
        secret_access_key: SecretString,
        /// Session token of temporary credentials.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session_token: Option<SecretString>,
    },
    /// OAuth 2 tokens.
    #[serde(rename = "oauth2")]
    OAuth2(oauth::Tokens),
    /// OAuth 1.0a token credentials (the consumer secret is sealed with the service).
    #[serde(rename = "oauth1")]
    OAuth1 {
        /// `oauth_token`.
        token: SecretString,
        /// `oauth_token_secret`.
        token_secret: SecretString,
    },
}

impl Credentials {
    /// The names of the values that are set, for summaries.
    pub fn names(&self) -> Vec<String> {
        match self {
            Credentials::ApiKey { values } => values.keys().cloned().collect(),
            Credentials::Basic { .. } => vec!["username".into(), "password".into()],
            Credentials::OAuth2(t) => {
                let mut names = vec!["access_token".into()];
                if t.refresh_token.is_some() {
                    names.push("refresh_token".into());
                }
                names
            }
            Credentials::OAuth1 { .. } => vec!["token".into(), "token_secret".into()],
            Credentials::AwsSigv4 { session_token, .. } => {
                let mut names = vec!["access_key_id".into(), "secret_access_key".into()];
                if session_token.is_some() {
                    names.push("session_token".into());
                }
                names
            }
        }
    }
}

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
        service_secret: Option<&SecretString>,
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
                secret_access_key,
                session_token.as_ref(),
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
                    consumer_secret,
                    Some((token, token_secret)),
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
    use super::*;

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
            .map(|(k, v)| (k.to_owned(), SecretString::new(v)))
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
            values: [("api_key".to_owned(), SecretString::new("q-canary"))].into(),
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
            password: SecretString::new("pw-canary"),
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
            password: SecretString::new("pw-canary"),
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
        let tokens = oauth::Tokens {
            access_token: SecretString::new("at-canary"),
            refresh_token: None,
            expires_at_ms: None,
            issued_at_ms: None,
            granted_scopes: None,
        };
        let secret = SecretString::new("client-secret-canary");
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
            password: SecretString::new("open sesame"),
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
