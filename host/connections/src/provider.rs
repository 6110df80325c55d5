//! OAuth 2 with the `oauth2` crate: the authorize URL (PKCE S256, a caller-made `state`,
//! extra parameters), the code exchange, refresh and client-credentials token requests, and
//! RFC 7009 revocation. Every request goes through the client the caller passes, which
//! must not follow redirects (the crate's own warning). Token responses become [`Tokens`],
//! sealed by the caller; errors are sorted into what must stop refreshing
//! ([`TokenError::InvalidGrant`], [`TokenError::Rejected`]) and what may be retried, and
//! every provider text they quote has the request's secrets (client secret, code, PKCE
//! verifier, tokens) redacted. Token times come from a [`Clock`], so tests move time.

use std::sync::Arc;
use std::time::Duration;

use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, CsrfToken, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, RefreshToken, RequestTokenError, Scope, TokenResponse, TokenUrl,
};

use switchboard_auth::{ClientAuth, Redactor};
pub(crate) use switchboard_model::auth::Tokens;
use switchboard_model::secret::ExposeSecret;
use switchboard_model::{AccessToken, ClientSecret, PkceVerifier, SecretString};
pub(crate) use switchboard_model::{Clock, SystemClock};
use switchboard_outbound::{TokenHttp, TokenHttpError};

/// Longest provider text (an `error_description`) quoted in a [`TokenError`].
const MAX_DETAIL: usize = 200;

/// Why a token request failed. Messages never hold a token or the client secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TokenError {
    /// The grant is gone (`invalid_grant`): revoked, expired, or a reused refresh token.
    #[error("the provider refused the grant (invalid_grant{0})")]
    InvalidGrant(String),
    /// The provider refused the request for good (`invalid_client`, `invalid_scope`, ...).
    #[error("the provider refused the request ({0})")]
    Rejected(String),
    /// Unreachable, a server error, or an answer that is not OAuth: worth retrying later.
    #[error("the token endpoint failed ({0})")]
    Transient(String),
    /// The service's configuration cannot make this request (a bad URL).
    #[error("{0}")]
    Config(String),
}

/// A service's OAuth 2 endpoints and client, with a connection's dynamic parameters
/// already filled in.
#[derive(Debug, Clone)]
pub(crate) struct OAuthClient {
    /// Client id.
    pub client_id: String,
    /// Client secret (public clients have none).
    pub client_secret: Option<ClientSecret>,
    /// Authorize URL (authorization code only).
    pub authorize_url: Option<String>,
    /// Access-token URL.
    pub token_url: String,
    /// Refresh-token URL.
    pub refresh_url: String,
    /// RFC 7009 revocation URL.
    pub revoke_url: Option<String>,
    /// Client authentication at the token endpoint.
    pub client_auth: ClientAuth,
    /// Joins scopes.
    pub scope_delimiter: String,
    /// Stamps the tokens' issue and expiry times.
    pub clock: Arc<dyn Clock>,
}

/// Bound on a revocation request: it is best effort, after the local erase.
const REVOKE_TIMEOUT: Duration = Duration::from_secs(10);

type TokenClient = BasicClient<
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
>;

impl OAuthClient {
    fn client(&self, token_url: &str) -> Result<TokenClient, TokenError> {
        let mut client = BasicClient::new(ClientId::new(self.client_id.clone()))
            .set_auth_type(match self.client_auth {
                ClientAuth::Basic => AuthType::BasicAuth,
                ClientAuth::RequestBody => AuthType::RequestBody,
            })
            .set_token_uri(
                TokenUrl::new(token_url.to_owned())
                    .map_err(|e| TokenError::Config(format!("token URL: {e}")))?,
            );
        if let Some(secret) = &self.client_secret {
            client =
                client.set_client_secret(oauth2::ClientSecret::new(secret.expose().to_owned()));
        }
        Ok(client)
    }

    /// Redacts the client secret and `also` (the code, verifier or tokens of this
    /// request) from whatever the provider answers.
    fn redactor(&self, also: &[&dyn ExposeSecret]) -> Redactor {
        let mut r = Redactor::default();
        if let Some(secret) = &self.client_secret {
            r.add(secret.expose().as_bytes());
        }
        for s in also {
            r.add(s.expose_secret().as_bytes());
        }
        r
    }

    fn scope_param(&self, scopes: &[String]) -> Option<String> {
        (!scopes.is_empty()).then(|| scopes.join(&self.scope_delimiter))
    }

    /// The provider's authorize URL for `state`, and the PKCE verifier to keep (sealed)
    /// until the callback.
    ///
    /// # Errors
    /// [`TokenError::Config`] for a service without a valid authorize URL.
    pub(crate) fn authorize(
        &self,
        redirect_uri: &str,
        state: &str,
        scopes: &[String],
        extra: &[(String, String)],
    ) -> Result<(String, PkceVerifier), TokenError> {
        let auth_url = self
            .authorize_url
            .as_ref()
            .ok_or_else(|| TokenError::Config("the service has no authorize URL".into()))?;
        let client = BasicClient::new(ClientId::new(self.client_id.clone()))
            .set_auth_uri(
                AuthUrl::new(auth_url.clone())
                    .map_err(|e| TokenError::Config(format!("authorize URL: {e}")))?,
            )
            .set_redirect_uri(
                RedirectUrl::new(redirect_uri.to_owned())
                    .map_err(|e| TokenError::Config(format!("redirect URI: {e}")))?,
            );
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = state.to_owned();
        let mut request = client
            .authorize_url(move || CsrfToken::new(state))
            .set_pkce_challenge(challenge);
        if let Some(scope) = self.scope_param(scopes) {
            // The crate joins scopes with spaces; a provider with another delimiter gets
            // the joined string as one parameter, which is the same on the wire.
            request = request.add_extra_param("scope", scope);
        }
        for (k, v) in extra {
            request = request.add_extra_param(k.clone(), v.clone());
        }
        let (url, _) = request.url();
        Ok((
            url.to_string(),
            PkceVerifier::new(verifier.secret().clone()),
        ))
    }

    /// Exchanges an authorization code.
    ///
    /// # Errors
    /// [`TokenError`].
    pub(crate) async fn exchange_code(
        &self,
        http: &TokenHttp,
        redirect_uri: &str,
        code: &str,
        verifier: &PkceVerifier,
    ) -> Result<Tokens, TokenError> {
        let client = self.client(&self.token_url)?.set_redirect_uri(
            RedirectUrl::new(redirect_uri.to_owned())
                .map_err(|e| TokenError::Config(format!("redirect URI: {e}")))?,
        );
        let code = SecretString::new(code.to_owned());
        let redactor = self.redactor(&[&code, verifier]);
        let response = client
            .exchange_code(AuthorizationCode::new(code.expose().to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.expose().to_owned()))
            .request_async(http)
            .await
            .map_err(|e| classify(e, &redactor))?;
        Ok(self.tokens(&response, None))
    }

    /// Exchanges the refresh token of `current`. A response without a refresh token
    /// keeps the old one.
    ///
    /// # Errors
    /// [`TokenError`]; [`TokenError::InvalidGrant`] when `current` has no refresh token.
    pub(crate) async fn refresh(
        &self,
        http: &TokenHttp,
        current: &Tokens,
    ) -> Result<Tokens, TokenError> {
        let Some(refresh) = &current.refresh_token else {
            return Err(TokenError::InvalidGrant(
                ": the provider gave no refresh token and the access token expired".into(),
            ));
        };
        let redactor = self.redactor(&[refresh.as_secret(), current.access_token.as_secret()]);
        let response = self
            .client(&self.refresh_url)?
            .exchange_refresh_token(&RefreshToken::new(refresh.expose().to_owned()))
            .request_async(http)
            .await
            .map_err(|e| classify(e, &redactor))?;
        Ok(self.tokens(&response, Some(refresh)))
    }

    /// Fetches a token with the client's own credentials.
    ///
    /// # Errors
    /// [`TokenError`].
    pub(crate) async fn client_credentials(
        &self,
        http: &TokenHttp,
        scopes: &[String],
    ) -> Result<Tokens, TokenError> {
        let client = self.client(&self.token_url)?;
        let mut request = client.exchange_client_credentials();
        if let Some(scope) = self.scope_param(scopes) {
            if self.scope_delimiter == " " {
                request = request.add_scopes(scopes.iter().cloned().map(Scope::new));
            } else {
                request = request.add_extra_param("scope", scope);
            }
        }
        let redactor = self.redactor(&[]);
        let response = request
            .request_async(http)
            .await
            .map_err(|e| classify(e, &redactor))?;
        Ok(self.tokens(&response, None))
    }

    /// Revokes a token at the RFC 7009 endpoint, when the service has one (`Ok(false)`
    /// when it has none). Done by hand rather than with the `oauth2` crate, which
    /// refuses a revocation endpoint that is not https (loopback providers in tests,
    /// intranet providers).
    ///
    /// # Errors
    /// [`TokenError`].
    pub(crate) async fn revoke(
        &self,
        http: &TokenHttp,
        token: &SecretString,
        is_refresh: bool,
    ) -> Result<bool, TokenError> {
        let Some(url) = &self.revoke_url else {
            return Ok(false);
        };
        let hint = if is_refresh {
            "refresh_token"
        } else {
            "access_token"
        };
        let mut form = vec![("token", token.expose()), ("token_type_hint", hint)];
        let url =
            url::Url::parse(url).map_err(|e| TokenError::Config(format!("revocation URL: {e}")))?;
        let mut request = reqwest::Request::new(reqwest::Method::POST, url);
        *request.timeout_mut() = Some(REVOKE_TIMEOUT);
        let headers = request.headers_mut();
        headers.insert(
            reqwest::header::CONTENT_TYPE,
            reqwest::header::HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        headers.insert(
            reqwest::header::ACCEPT,
            reqwest::header::HeaderValue::from_static("application/json"),
        );
        match (self.client_auth, &self.client_secret) {
            (ClientAuth::Basic, Some(secret)) => {
                // RFC 6749 2.3.1: both parts form-urlencoded before Basic.
                let enc = |s: &str| {
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                };
                use base64::Engine as _;
                let basic = zeroize::Zeroizing::new(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!(
                        "{}:{}",
                        enc(&self.client_id),
                        enc(secret.expose())
                    ))
                ));
                let mut value = reqwest::header::HeaderValue::from_str(&basic).map_err(|_| {
                    TokenError::Config("the client id is not valid in a header".into())
                })?;
                value.set_sensitive(true);
                headers.insert(reqwest::header::AUTHORIZATION, value);
            }
            (_, secret) => {
                form.push(("client_id", &self.client_id));
                if let Some(secret) = secret {
                    form.push(("client_secret", secret.expose()));
                }
            }
        }
        let body = zeroize::Zeroizing::new(
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&form)
                .finish(),
        );
        *request.body_mut() = Some(body.as_bytes().to_vec().into());
        let response = http.execute(request).await.map_err(|e| {
            TokenError::Transient(match e.blocked() {
                Some(b) => format!("the revocation endpoint is not allowed: {b}"),
                None => "the revocation endpoint could not be reached".into(),
            })
        })?;
        match response.status().as_u16() {
            200..=299 => Ok(true),
            503 => Err(TokenError::Transient(
                "the revocation endpoint is unavailable".into(),
            )),
            status => Err(TokenError::Rejected(format!(
                "the revocation endpoint answered {status}"
            ))),
        }
    }

    fn tokens(
        &self,
        response: &oauth2::basic::BasicTokenResponse,
        previous_refresh: Option<&switchboard_model::RefreshToken>,
    ) -> Tokens {
        let access_token = AccessToken::new(response.access_token().secret().clone());
        let refresh_token = response
            .refresh_token()
            .map(|r| switchboard_model::RefreshToken::new(r.secret().clone()))
            .or_else(|| previous_refresh.cloned());
        // The provider's `scope` text is shown in connection views: a provider that puts
        // the client secret or a token in it has them redacted, like in its error text.
        let mut secrets: Vec<&dyn ExposeSecret> = vec![&access_token];
        if let Some(r) = &refresh_token {
            secrets.push(r);
        }
        let redactor = self.redactor(&secrets);
        let granted_scopes = response.scopes().map(|scopes| {
            scopes
                .iter()
                .flat_map(|s| {
                    s.as_str()
                        .split(|c: char| c == ' ' || self.scope_delimiter.contains(c))
                        .filter(|s| !s.is_empty())
                        .map(|s| {
                            let mut s = s.to_owned();
                            redactor.redact_string(&mut s);
                            s
                        })
                        .collect::<Vec<_>>()
                })
                .collect()
        });
        let now = self.clock.now_ms();
        Tokens {
            access_token,
            refresh_token,
            expires_at_ms: response
                .expires_in()
                .map(|d: Duration| now + d.as_millis() as u64),
            issued_at_ms: Some(now),
            granted_scopes,
        }
    }
}

/// The private-network guard's refusal, if that is why a token request failed.
fn blocked<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a switchboard_outbound::BlockedAddress> {
    e.downcast_ref::<TokenHttpError>()
        .and_then(TokenHttpError::blocked)
}

fn describe<RE: std::error::Error + 'static, T: oauth2::ErrorResponse + 'static>(
    e: &RequestTokenError<RE, T>,
) -> String {
    match e {
        RequestTokenError::ServerResponse(r) => r.to_string(),
        RequestTokenError::Request(e) => match blocked(e) {
            Some(b) => format!("the token endpoint is not allowed: {b}"),
            None => "the token endpoint could not be reached".into(),
        },
        RequestTokenError::Parse(_, body) => format!(
            "the token endpoint answered something that is not an OAuth 2 response ({} bytes)",
            body.len()
        ),
        RequestTokenError::Other(m) => m.clone(),
    }
}

/// Provider text fit to quote: secrets redacted, control characters replaced, at
/// most [`MAX_DETAIL`] characters.
fn quote(text: &str, redactor: &Redactor) -> String {
    let mut text = text.to_owned();
    redactor.redact_string(&mut text);
    let text: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let text = text.trim();
    let mut short: String = text.chars().take(MAX_DETAIL).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short
}

/// Sorts a failed token request; every provider text in the result went through
/// `redactor` (a provider may quote the client secret or the grant back).
fn classify<RE: std::error::Error + 'static>(
    e: RequestTokenError<RE, oauth2::basic::BasicErrorResponse>,
    redactor: &Redactor,
) -> TokenError {
    match &e {
        RequestTokenError::ServerResponse(r) => {
            let detail = r
                .error_description()
                .map(|d| quote(d, redactor))
                .filter(|d| !d.is_empty())
                .map(|d| format!(": {d}"))
                .unwrap_or_default();
            match r.error() {
                BasicErrorResponseType::InvalidGrant => TokenError::InvalidGrant(detail),
                BasicErrorResponseType::Extension(code) => {
                    TokenError::Transient(format!("{}{detail}", quote(code, redactor)))
                }
                other => TokenError::Rejected(format!("{other}{detail}")),
            }
        }
        _ => TokenError::Transient(quote(&describe(&e), redactor)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_model::ManualClock;

    fn client() -> OAuthClient {
        OAuthClient {
            client_id: "cid".into(),
            client_secret: Some(ClientSecret::new("csecret")),
            authorize_url: Some("https://auth.example.com/authorize?prompt=x".into()),
            token_url: "https://auth.example.com/token".into(),
            refresh_url: "https://auth.example.com/token".into(),
            revoke_url: None,
            client_auth: ClientAuth::Basic,
            scope_delimiter: ",".into(),
            clock: Arc::new(SystemClock),
        }
    }

    /// A provider's `scope` text reaches connection views: the client secret and the
    /// tokens are redacted from it.
    #[test]
    fn granted_scopes_quoting_secrets_are_redacted() {
        let response: oauth2::basic::BasicTokenResponse =
            serde_json::from_value(serde_json::json!({
                "access_token": "at-canary-123",
                "refresh_token": "rt-canary-456",
                "token_type": "bearer",
                "scope": "read csecret at-canary-123,rt-canary-456 x:rt-canary-456",
            }))
            .unwrap();
        let c = client();
        let t = c.tokens(&response, None);
        let scopes = t.granted_scopes.unwrap();
        assert_eq!(
            scopes,
            [
                "read",
                "[redacted]",
                "[redacted]",
                "[redacted]",
                "x:[redacted]"
            ]
        );
        assert_eq!(t.refresh_token.unwrap().expose(), "rt-canary-456");
    }

    #[test]
    fn authorize_url_has_pkce_state_scopes_and_extras() {
        let (url, verifier) = client()
            .authorize(
                "https://sb.example.com/oauth/callback",
                "st4te",
                &["repo".into(), "user".into()],
                &[("access_type".into(), "offline".into())],
            )
            .unwrap();
        let parsed = url::Url::parse(&url).unwrap();
        let q: std::collections::BTreeMap<String, String> =
            parsed.query_pairs().into_owned().collect();
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["client_id"], "cid");
        assert_eq!(q["state"], "st4te");
        assert_eq!(q["redirect_uri"], "https://sb.example.com/oauth/callback");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["scope"], "repo,user");
        assert_eq!(q["access_type"], "offline");
        assert_eq!(q["prompt"], "x", "the URL's own query is kept");
        assert!(!url.contains("csecret"));
        // The challenge is S256 of the verifier.
        use base64::Engine as _;
        use sha2::Digest as _;
        let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(verifier.expose().as_bytes()));
        assert_eq!(q["code_challenge"], expected);
        assert!(verifier.expose().len() >= 43);
        assert_eq!(format!("{verifier:?}"), "[redacted]");
    }

    /// A provider that quotes the client secret or the grant back in its error, in any
    /// form it travels in, has it redacted from the error's text.
    #[test]
    fn provider_error_text_never_quotes_a_secret() {
        let secret = "cs/CANARY+x=y&z é";
        let code = SecretString::new("code-CANARY-2");
        let mut c = client();
        c.client_secret = Some(ClientSecret::new(secret));
        let redactor = c.redactor(&[&code]);
        let form: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        let json = serde_json::to_string(secret).unwrap();
        let json = &json[1..json.len() - 1];
        for (error, description) in [
            (
                BasicErrorResponseType::InvalidClient,
                format!("bad secret {secret}"),
            ),
            (
                BasicErrorResponseType::InvalidGrant,
                format!("code {} unknown", code.expose()),
            ),
            (
                BasicErrorResponseType::InvalidRequest,
                format!("got client_secret={form}"),
            ),
            (
                BasicErrorResponseType::InvalidScope,
                format!("{{\"s\":\"{json}\"}}"),
            ),
            (
                BasicErrorResponseType::Extension(format!("err_{secret}")),
                "see error".to_owned(),
            ),
        ] {
            let e = classify::<oauth2::HttpClientError<reqwest::Error>>(
                RequestTokenError::ServerResponse(oauth2::StandardErrorResponse::new(
                    error,
                    Some(description.clone()),
                    None,
                )),
                &redactor,
            );
            let text = e.to_string();
            assert!(!text.contains("CANARY"), "{description} -> {text}");
            assert!(text.contains("[redacted]"), "{text}");
        }
        // Long or multi-line descriptions are cut short and kept on one line.
        let e = classify::<oauth2::HttpClientError<reqwest::Error>>(
            RequestTokenError::ServerResponse(oauth2::StandardErrorResponse::new(
                BasicErrorResponseType::InvalidClient,
                Some(format!("line\n{}", "x".repeat(1000))),
                None,
            )),
            &redactor,
        );
        let text = e.to_string();
        assert!(!text.contains('\n') && text.chars().count() < 300, "{text}");
    }

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let clock = ManualClock::default();
        let t0 = clock.now_ms();
        assert!(t0.abs_diff(SystemClock.now_ms()) < 60_000);
        assert_eq!(clock.now_ms(), t0);
        clock.advance(Duration::from_secs(31));
        assert_eq!(clock.now_ms(), t0 + 31_000);
    }

    #[test]
    fn a_service_without_an_authorize_url_says_so() {
        let mut c = client();
        c.authorize_url = None;
        let e = c.authorize("https://x/cb", "s", &[], &[]).unwrap_err();
        assert!(e.to_string().contains("authorize URL"), "{e}");
    }
}

#[cfg(test)]
mod expiry_tests {
    use super::*;

    fn tokens(issued: Option<u64>, expires: Option<u64>) -> Tokens {
        Tokens {
            access_token: AccessToken::new("a"),
            refresh_token: None,
            expires_at_ms: expires,
            issued_at_ms: issued,
            granted_scopes: None,
        }
    }

    #[test]
    fn refresh_margin_policy() {
        let m = Duration::from_secs(60);
        // An hour-long token: refreshed in its last minute.
        let t = tokens(Some(0), Some(3_600_000));
        assert!(!t.expiring(3_539_000, m));
        assert!(t.expiring(3_540_000, m));
        // A 10-second token: refreshed in its second half, not at every use.
        let t = tokens(Some(0), Some(10_000));
        assert!(!t.expiring(4_000, m));
        assert!(t.expiring(5_000, m));
        // No expiry: used until a 401.
        assert!(!tokens(Some(0), None).expiring(u64::MAX / 2, m));
    }

    #[test]
    fn a_token_is_usable_until_just_before_it_expires() {
        let t = tokens(Some(0), Some(10_000));
        assert!(t.usable(0));
        assert!(t.usable(8_300), "1.7 s left");
        assert!(!t.usable(9_000), "within the skew");
        assert!(!t.usable(10_000) && !t.usable(20_000));
        assert!(tokens(Some(0), None).usable(u64::MAX / 2));
    }
}
