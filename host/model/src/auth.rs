//! What a service declares about authentication ([`AuthConfig`]) and what a connection
//! holds sealed ([`Credentials`], [`Tokens`]). Placement and signing are in
//! `switchboard-auth`; these are the records only.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::secret::{
    AccessToken, ApiKeyValue, Password, RefreshToken, SecretAccessKey, SecretString, SessionToken,
    TokenSecret,
};

/// Headers AWS Signature Version 4 sets; a function may not set them on a request
/// through an AWS connection.
pub const AWS_SIGNING_HEADERS: &[&str] =
    &["x-amz-date", "x-amz-content-sha256", "x-amz-security-token"];

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

/// A service's auth type and its (non-secret) fields, as Zoho Deluge's Connections documents list them. Client and
/// consumer secrets are sealed apart from this record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
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
    /// ones no connection request may set (the auth crate's `Credential::check_request`), lower-case.
    pub fn reserved_headers(&self) -> Vec<String> {
        match self {
            AuthConfig::ApiKey { params } => params
                .iter()
                .filter(|p| p.param_type == ParamType::Header)
                .map(|p| p.name.to_ascii_lowercase())
                .collect(),
            AuthConfig::AwsSigv4 { .. } => AWS_SIGNING_HEADERS
                .iter()
                .map(|h| (*h).to_owned())
                .collect(),
            _ => Vec::new(),
        }
    }
}

impl SignatureMethod {
    /// The `oauth_signature_method` value.
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureMethod::HmacSha1 => "HMAC-SHA1",
            SignatureMethod::HmacSha256 => "HMAC-SHA256",
            SignatureMethod::Plaintext => "PLAINTEXT",
        }
    }
}

/// A connection's secrets as sealed at rest. `Debug` never prints a value; every secret
/// field opts in to serialisation for sealing (`crate::secret::expose_for_sealing`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Credentials {
    /// One value per API-key parameter, by parameter name.
    ApiKey {
        /// Parameter name → value.
        #[serde(serialize_with = "crate::secret::expose_map_for_sealing")]
        values: BTreeMap<String, ApiKeyValue>,
    },
    /// Basic.
    Basic {
        /// Username (no `:`).
        #[serde(serialize_with = "crate::secret::expose_for_sealing")]
        username: SecretString,
        /// Password.
        #[serde(serialize_with = "crate::secret::expose_for_sealing")]
        password: Password,
    },
    /// AWS Signature Version 4 keys.
    AwsSigv4 {
        /// Access key id (not secret, but kept with the rest).
        #[serde(serialize_with = "crate::secret::expose_for_sealing")]
        access_key_id: SecretString,
        /// Secret access key.
        #[serde(serialize_with = "crate::secret::expose_for_sealing")]
        secret_access_key: SecretAccessKey,
        /// Session token of temporary credentials.
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            serialize_with = "crate::secret::expose_option_for_sealing"
        )]
        session_token: Option<SessionToken>,
    },
    /// OAuth 2 tokens.
    #[serde(rename = "oauth2")]
    OAuth2(Tokens),
    /// OAuth 1.0a token credentials (the consumer secret is sealed with the service).
    #[serde(rename = "oauth1")]
    OAuth1 {
        /// `oauth_token`.
        #[serde(serialize_with = "crate::secret::expose_for_sealing")]
        token: AccessToken,
        /// `oauth_token_secret`.
        #[serde(serialize_with = "crate::secret::expose_for_sealing")]
        token_secret: TokenSecret,
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

/// A connection's OAuth 2 tokens, as sealed at rest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tokens {
    /// The access token, sent as `Authorization: Bearer`.
    #[serde(serialize_with = "crate::secret::expose_for_sealing")]
    pub access_token: AccessToken,
    /// The refresh token, when the provider gave one.
    #[serde(default, serialize_with = "crate::secret::expose_option_for_sealing")]
    pub refresh_token: Option<RefreshToken>,
    /// Unix milliseconds when the access token expires; `None` when the provider did not
    /// say (it is then used until an API answers 401, which triggers a refresh).
    #[serde(default)]
    pub expires_at_ms: Option<u64>,
    /// Unix milliseconds when the provider issued it.
    #[serde(default)]
    pub issued_at_ms: Option<u64>,
    /// The scopes the provider granted, when it said.
    #[serde(default)]
    pub granted_scopes: Option<Vec<String>>,
}

/// An access token this close to its expiry is no longer used, even when a refresh
/// failed: the call would race the expiry.
pub const EXPIRY_SKEW: Duration = Duration::from_secs(1);

impl Tokens {
    /// Whether the access token can still be used at `now_ms`: it has no expiry, or more
    /// than [`EXPIRY_SKEW`] of it is left.
    pub fn usable(&self, now_ms: u64) -> bool {
        self.expires_at_ms
            .is_none_or(|expires| (now_ms + EXPIRY_SKEW.as_millis() as u64) < expires)
    }

    /// Whether the access token should be refreshed before use: within `margin` of its
    /// expiry, or within half its lifetime for tokens that live shorter than twice
    /// `margin`. Tokens without an expiry are used until an API answers 401.
    pub fn expiring(&self, now_ms: u64, margin: Duration) -> bool {
        let Some(expires) = self.expires_at_ms else {
            return false;
        };
        let lifetime = self
            .issued_at_ms
            .map_or(u64::MAX, |issued| expires.saturating_sub(issued));
        let margin = (margin.as_millis() as u64).min(lifetime / 2);
        expires <= now_ms + margin
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Credentials as they were sealed before the per-kind secret types (every secret a
    /// transparent `SecretString`): each still parses, and serialises back byte for byte.
    #[test]
    fn credentials_sealed_before_the_secret_kinds_still_parse_unchanged() {
        let sealed = [
            r#"{"type":"api_key","values":{"X-Api-Key":"k-1","api_key":"k-2"}}"#,
            r#"{"type":"basic","username":"ada","password":"pw"}"#,
            r#"{"type":"aws_sigv4","access_key_id":"AKID","secret_access_key":"sk"}"#,
            r#"{"type":"aws_sigv4","access_key_id":"AKID","secret_access_key":"sk","session_token":"st"}"#,
            r#"{"type":"oauth2","access_token":"at","refresh_token":"rt","expires_at_ms":5,"issued_at_ms":1,"granted_scopes":["a"]}"#,
            r#"{"type":"oauth2","access_token":"at","refresh_token":null,"expires_at_ms":null,"issued_at_ms":null,"granted_scopes":null}"#,
            r#"{"type":"oauth1","token":"t","token_secret":"ts"}"#,
        ];
        for json in sealed {
            let credentials: Credentials = serde_json::from_str(json).unwrap();
            assert_eq!(serde_json::to_string(&credentials).unwrap(), json);
        }
        // Older OAuth 2 records had no optional fields at all.
        let Credentials::OAuth2(tokens) =
            serde_json::from_str(r#"{"type":"oauth2","access_token":"at"}"#).unwrap()
        else {
            panic!("not oauth2");
        };
        assert_eq!(tokens.access_token.expose(), "at");
        assert!(tokens.refresh_token.is_none());
    }

    #[test]
    fn credentials_debug_prints_no_secret() {
        let all = [
            r#"{"type":"api_key","values":{"k":"canary-1"}}"#,
            r#"{"type":"basic","username":"canary-2","password":"canary-3"}"#,
            r#"{"type":"aws_sigv4","access_key_id":"canary-4","secret_access_key":"canary-5","session_token":"canary-6"}"#,
            r#"{"type":"oauth2","access_token":"canary-7","refresh_token":"canary-8"}"#,
            r#"{"type":"oauth1","token":"canary-9","token_secret":"canary-10"}"#,
        ]
        .map(|json| format!("{:?}", serde_json::from_str::<Credentials>(json).unwrap()))
        .join(" ");
        assert!(!all.contains("canary"), "{all}");
    }
}
