//! OAuth 1.0a for connections (RFC 5849 section 2): checking a service's fields and the
//! three-legged flow. `connect` asks the provider for a request token (signed with the
//! consumer key and secret, `oauth_callback` pointing at the host's callback with the
//! flow's single-use `state` in its query) and keeps it, its secret sealed, in a pending
//! flow; `/oauth/start?state=` (shared with OAuth 2) ties the flow to the browser and
//! sends it to the provider's authorize URL with `oauth_token`; `/oauth/callback` checks
//! the state, the browser and that `oauth_token` is the flow's, then exchanges
//! `oauth_verifier` for the token credentials, which are sealed with the connection.

use reqwest::header::HeaderMap;
use switchboard_model::Principal;
use url::Url;

use crate::flows::{FlowError, check_url_template, random_token};
use crate::snapshot::Entry;
use crate::{ConnectionView, Connections, Error, ServiceDefinition, bad, now_ms};
use switchboard_auth::oauth1::{FlowParams, PARAM_PREFIX, Signer, Stamp};
use switchboard_auth::{AuthConfig, Credentials, ParamType, Redactor, SignatureMethod};
use switchboard_model::records::{
    ConnectionStatus, FlowKind, PendingFlow, SecretChange, ServiceRecord,
};
use switchboard_model::{AccessToken, ClientSecret, TokenSecret};

/// What the provider's redirect to the callback carries for OAuth 1.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallbackParams<'a> {
    /// `oauth_token`: the request token the user authorized.
    pub oauth_token: Option<&'a str>,
    /// `oauth_verifier`.
    pub oauth_verifier: Option<&'a str>,
}

/// Longest answer read from a token endpoint.
const MAX_ANSWER: usize = 64 * 1024;
/// How much of a refusal's body is shown.
const MAX_DETAIL: usize = 200;

/// Checks an `oauth1` service's fields.
pub(crate) fn check_service(def: &ServiceDefinition) -> Result<(), String> {
    let AuthConfig::OAuth1 {
        consumer_key,
        request_token_url,
        authorize_url,
        access_token_url,
        ..
    } = &def.spec.auth
    else {
        return Ok(());
    };
    if consumer_key.trim().is_empty()
        || consumer_key.len() > 500
        || consumer_key.chars().any(char::is_control)
    {
        return Err("`auth.consumer_key` must be 1 to 500 characters of text".into());
    }
    for (what, url) in [
        ("request-token URL", request_token_url),
        ("authorize URL", authorize_url),
        ("access-token URL", access_token_url),
    ] {
        check_url_template(what, url, &def.spec.dynamic_params)?;
        if let Some((_, query)) = url.split_once('?')
            && let Some((k, _)) = url::form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k.starts_with(PARAM_PREFIX))
        {
            return Err(format!(
                "{what} `{url}` has the parameter `{k}`; `oauth_*` parameters are the protocol's (RFC 5849 section 2)"
            ));
        }
    }
    Ok(())
}

/// A service's OAuth 1 endpoints and consumer, with a connection's dynamic parameters
/// filled in.
struct Consumer {
    key: String,
    secret: ClientSecret,
    request_token_url: String,
    authorize_url: String,
    access_token_url: String,
    method: SignatureMethod,
    param_type: ParamType,
}

impl Consumer {
    fn signer(&self, token: Option<(&AccessToken, &TokenSecret)>) -> Signer {
        let token = token.map(|(t, s)| (t.as_secret(), s.as_secret()));
        Signer::new(
            &self.key,
            self.secret.as_secret(),
            token,
            self.method,
            self.param_type,
        )
    }
}

/// Token credentials from a token endpoint's answer.
struct Issued {
    token: AccessToken,
    secret: TokenSecret,
    callback_confirmed: bool,
}

/// Parses an `application/x-www-form-urlencoded` token answer (RFC 5849 sections 2.1, 2.3).
fn parse_answer(body: &[u8]) -> Option<Issued> {
    let mut token = None;
    let mut secret = None;
    let mut confirmed = false;
    for (k, v) in url::form_urlencoded::parse(body) {
        match k.as_ref() {
            "oauth_token" => token = Some(AccessToken::new(v.into_owned())),
            "oauth_token_secret" => secret = Some(TokenSecret::new(v.into_owned())),
            "oauth_callback_confirmed" => confirmed = v == "true",
            _ => {}
        }
    }
    Some(Issued {
        token: token.filter(|t| !t.expose().is_empty())?,
        secret: secret?,
        callback_confirmed: confirmed,
    })
}

/// A short, secret-free description of a refusal's body.
fn detail(body: &[u8], redactor: &Redactor) -> String {
    // Redacted on the raw bytes: decoded lossily first, a secret sent back in Latin-1
    // would lose a character and the rest of it would show.
    let mut bytes = body.to_vec();
    redactor.redact_in_place(&mut bytes);
    let text: String = String::from_utf8_lossy(&bytes)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let text = text.trim();
    if text.is_empty() {
        return String::new();
    }
    let mut short: String = text.chars().take(MAX_DETAIL).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    format!(": {short}")
}

impl Connections {
    /// The service's sealed consumer (or client) secret, opened.
    pub(crate) fn consumer_secret(
        &self,
        service: &ServiceRecord,
    ) -> Result<Option<ClientSecret>, String> {
        let Some(blob) = self.snapshot().service_secrets.get(&service.id).cloned() else {
            return Ok(None);
        };
        let plain = self
            .sealer
            .open(service.id.as_bytes(), &blob)
            .map_err(|e| format!("the service's consumer secret does not open: {e}"))?;
        String::from_utf8(plain.to_vec())
            .map(|s| Some(ClientSecret::new(s)))
            .map_err(|_| "the service's consumer secret is not text".to_owned())
    }

    fn consumer(
        &self,
        service: &ServiceRecord,
        params: &std::collections::BTreeMap<String, String>,
    ) -> Result<Consumer, String> {
        let AuthConfig::OAuth1 {
            consumer_key,
            request_token_url,
            authorize_url,
            access_token_url,
            param_type,
            signature_method,
        } = &service.spec.auth
        else {
            return Err(format!(
                "service `{}` is not an oauth1 service",
                service.meta.link_name
            ));
        };
        let secret = self.consumer_secret(service)?.ok_or_else(|| {
            format!(
                "service `{}` has no consumer secret; set `client_secret` on the service, then connect again",
                service.meta.link_name
            )
        })?;
        Ok(Consumer {
            key: consumer_key.clone(),
            secret,
            request_token_url: crate::template::fill_url(request_token_url, params)?,
            authorize_url: crate::template::fill_url(authorize_url, params)?,
            access_token_url: crate::template::fill_url(access_token_url, params)?,
            method: *signature_method,
            param_type: *param_type,
        })
    }

    /// POSTs a signed token request to `url`; `what` names the step in errors.
    async fn token_request(
        &self,
        signer: &Signer,
        url: &str,
        flow: FlowParams<'_>,
        what: &str,
        redactor: &Redactor,
    ) -> Result<Issued, String> {
        let mut url =
            Url::parse(url).map_err(|e| format!("the {what} URL `{url}` is not a URL: {e}"))?;
        let mut headers = HeaderMap::new();
        let mut body = None;
        signer
            .sign_with(
                &reqwest::Method::POST,
                &mut url,
                &mut headers,
                &mut body,
                flow,
                &Stamp::now(),
            )
            .map_err(|e| e.0)?;
        let mut request = reqwest::Request::new(reqwest::Method::POST, url);
        *request.headers_mut() = headers;
        *request.body_mut() = body.map(Into::into);
        let response = self
            .http
            .execute(request)
            .await
            .map_err(|e| match e.blocked() {
                Some(b) => format!("the {what} endpoint is not allowed: {b}"),
                None => format!("the {what} endpoint could not be reached"),
            })?;
        let status = response.status();
        let mut answer = Vec::new();
        let mut response = response;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|_| format!("the {what} endpoint's answer was cut off"))?
        {
            if answer.len() + chunk.len() > MAX_ANSWER {
                return Err(format!("the {what} endpoint's answer is too large"));
            }
            answer.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            return Err(format!(
                "the {what} endpoint answered HTTP {}{}",
                status.as_u16(),
                detail(&answer, redactor)
            ));
        }
        parse_answer(&answer).ok_or_else(|| {
            format!(
                "the {what} endpoint's answer has no `oauth_token` and `oauth_token_secret` ({} bytes)",
                answer.len()
            )
        })
    }

    /// Starts the three-legged flow: gets a request token now (so a wrong consumer is
    /// found at once), keeps it in a pending flow under a new single-use `state`, and
    /// returns the host's `/oauth/start` link to open in a browser.
    pub(crate) async fn start_oauth1(
        &self,
        entry: &Entry,
        service: &ServiceRecord,
        who: &Principal,
    ) -> Result<String, Error> {
        let consumer = self
            .consumer(service, &entry.record.params)
            .map_err(|m| bad("invalid_connection", m))?;
        let redirect_uri = self.redirect_uri()?;
        let state = random_token(32);
        // The provider sends the browser back to this URL with its own parameters added;
        // the state in its query finds the flow.
        let callback = format!("{redirect_uri}?state={state}");
        let mut redactor = Redactor::default();
        redactor.add(consumer.secret.expose().as_bytes());
        let issued = self
            .token_request(
                &consumer.signer(None),
                &consumer.request_token_url,
                FlowParams {
                    callback: Some(&callback),
                    verifier: None,
                },
                "request-token",
                &redactor,
            )
            .await
            .map_err(|m| {
                bad(
                    "token_request_failed",
                    format!(
                        "the provider refused the request token ({m}); check the service's consumer key and secret and its request-token URL"
                    ),
                )
            })?;
        if !issued.callback_confirmed {
            return Err(bad(
                "token_request_failed",
                "the provider's request-token answer lacks `oauth_callback_confirmed=true`, so it does not speak OAuth 1.0a",
            ));
        }
        let mut authorize = Url::parse(&consumer.authorize_url)
            .map_err(|e| bad("invalid_connection", format!("authorize URL: {e}")))?;
        authorize
            .query_pairs_mut()
            .append_pair("oauth_token", issued.token.expose());
        let now = self.refresh.clock().now_ms(); // the injected clock: sign-in expiry
        let flow = PendingFlow {
            connection_id: entry.record.id.clone(),
            link: entry.record.link_name.clone(),
            created_by: who.name().to_owned(),
            created_at_ms: now,
            expires_at_ms: now + self.flow_ttl().as_millis() as u64,
            authorize_url: authorize.to_string(),
            redirect_uri: callback,
            verifier_sealed: String::new(),
            browser_hash: None,
            kind: FlowKind::OAuth1,
            request_token: Some(issued.token.expose().to_owned()),
            request_secret_sealed: Some(hex::encode(
                self.sealer
                    .seal(state.as_bytes(), issued.secret.expose().as_bytes()),
            )),
        };
        self.store.put_flow(&state, &flow, now).await?;
        tracing::info!(connection = %entry.record.link_name, "OAuth 1 authorization started");
        Ok(format!(
            "{}/start?state={state}",
            redirect_uri.trim_end_matches("/callback")
        ))
    }

    /// The OAuth 1 part of `/oauth/callback`, after the state, expiry and browser checks:
    /// the request token must be the flow's; the verifier is exchanged for the token
    /// credentials.
    pub(crate) async fn oauth1_callback(
        &self,
        state: &str,
        flow: &PendingFlow,
        entry: &Entry,
        answer: CallbackParams<'_>,
    ) -> Result<ConnectionView, FlowError> {
        let token = answer
            .oauth_token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                FlowError("the provider's answer has no `oauth_token`; start again".into())
            })?;
        if flow.request_token.as_deref() != Some(token) {
            return Err(FlowError(
                "the provider's answer names another request token than this sign-in's; start again".into(),
            ));
        }
        let verifier = answer
            .oauth_verifier
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                FlowError(
                    "the provider's answer has no `oauth_verifier` (was access denied?); start again"
                        .into(),
                )
            })?;
        let service = entry
            .service
            .clone()
            .ok_or_else(|| FlowError("the connection's service was deleted".into()))?;
        let consumer = self
            .consumer(&service, &entry.record.params)
            .map_err(FlowError)?;
        let damaged = || FlowError("the sign-in record is damaged; start again".into());
        let sealed = flow
            .request_secret_sealed
            .as_deref()
            .and_then(|h| hex::decode(h).ok())
            .ok_or_else(damaged)?;
        let secret = self
            .sealer
            .open(state.as_bytes(), &sealed)
            .map_err(|_| damaged())?;
        let request_secret = TokenSecret::new(String::from_utf8_lossy(&secret).into_owned());
        let request_token = AccessToken::new(token);
        let mut redactor = Redactor::default();
        redactor.add(consumer.secret.expose().as_bytes());
        redactor.add(request_secret.expose().as_bytes());
        // The verifier is a one-time secret like an OAuth 2 code.
        redactor.add(verifier.as_bytes());
        let issued = self
            .token_request(
                &consumer.signer(Some((&request_token, &request_secret))),
                &consumer.access_token_url,
                FlowParams {
                    callback: None,
                    verifier: Some(verifier),
                },
                "access-token",
                &redactor,
            )
            .await
            .map_err(|m| FlowError(format!("the provider refused the verifier ({m})")))?;
        let credentials = Credentials::OAuth1 {
            token: issued.token,
            token_secret: issued.secret,
        };
        self.store_oauth1(entry, &credentials)
            .await
            .map_err(|e| FlowError(e.to_string()))?;
        tracing::info!(connection = %flow.link, "connection connected through OAuth 1");
        self.show_connection(&flow.link)
            .map_err(|e| FlowError(e.to_string()))
    }

    /// Seals the token credentials for the connection and marks it connected, if the
    /// connection is unchanged (same revision) since `entry` was read.
    async fn store_oauth1(&self, entry: &Entry, credentials: &Credentials) -> Result<(), Error> {
        let plain = zeroize::Zeroizing::new(
            serde_json::to_vec(credentials).expect("credentials serialise"),
        );
        let blob = self.sealer.seal(entry.record.id.as_bytes(), &plain);
        let now = now_ms();
        let mut record = entry.record.clone();
        record.status = ConnectionStatus::Connected;
        record.status_reason = None;
        record.record_event("connected", None, now);
        record.credential_names = credentials.names();
        record.token_expires_at_ms = None;
        record.granted_scopes.clear();
        record.connected_at_ms = Some(now);
        record.updated_at_ms = now;
        self.write(
            crate::snapshot::Touched::connection(&entry.record.link_name),
            async {
                self.store
                    .update_connection(&record, entry.record.revision, SecretChange::Set(blob))
                    .await?;
                Ok(())
            },
        )
        .await
    }
}

#[cfg(test)]
mod detail_tests {
    use super::*;

    /// A refusal quoting a secret in Latin-1 is redacted before the lossy decoding.
    #[test]
    fn a_latin1_secret_in_a_refusal_is_redacted() {
        let mut r = Redactor::default();
        r.add("s\u{e9}cret-canary".as_bytes());
        let d = detail(b"bad consumer s\xe9cret-canary here", &r);
        assert!(!d.contains("cret-canary"), "{d}");
        assert!(d.contains("[redacted]"), "{d}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_answers_are_parsed() {
        let i = parse_answer(
            b"oauth_token=hh5s93j4hdidpola&oauth_token_secret=hdhd0244k9j7ao03&oauth_callback_confirmed=true",
        )
        .unwrap();
        assert_eq!(i.token.expose(), "hh5s93j4hdidpola");
        assert_eq!(i.secret.expose(), "hdhd0244k9j7ao03");
        assert!(i.callback_confirmed);
        let i = parse_answer(b"oauth_token=a%20b&oauth_token_secret=").unwrap();
        assert_eq!(i.token.expose(), "a b");
        assert!(!i.callback_confirmed);
        assert!(parse_answer(b"oauth_token_secret=x").is_none());
        assert!(parse_answer(b"{\"error\":\"nope\"}").is_none());
    }

    #[test]
    fn refusal_details_are_short_and_redacted() {
        let mut r = Redactor::default();
        r.add(b"CANARY-secret");
        let d = detail(b"bad signature for CANARY-secret\n", &r);
        assert_eq!(d, ": bad signature for [redacted]");
        assert_eq!(detail(b"", &r), "");
        assert!(detail(&[b'x'; 1000], &r).chars().count() <= MAX_DETAIL + 3);
    }

    fn def(auth: serde_json::Value) -> ServiceDefinition {
        serde_json::from_value(serde_json::json!({
            "link_name": "x", "display_name": "X", "auth": auth,
            "dynamic_params": [{"key": "region", "display_name": "Region"}],
            "api_origins": ["https://api.example.com"],
        }))
        .unwrap()
    }

    #[test]
    fn service_fields_are_checked() {
        let good = serde_json::json!({"type": "oauth1", "consumer_key": "ck",
            "request_token_url": "https://{region}.example.com/oauth/request_token",
            "authorize_url": "https://example.com/oauth/authorize?x=1",
            "access_token_url": "https://example.com/oauth/access_token",
            "param_type": "header", "signature_method": "HMAC-SHA256"});
        assert_eq!(check_service(&def(good.clone())), Ok(()));
        for (field, value, needle) in [
            ("consumer_key", "", "consumer_key"),
            ("request_token_url", "ftp://x/y", "request-token URL"),
            ("authorize_url", "https://{tenant}.example.com/a", "tenant"),
            (
                "access_token_url",
                "https://example.com/t?oauth_token=x",
                "oauth_token",
            ),
        ] {
            let mut bad = good.clone();
            bad[field] = serde_json::json!(value);
            let e = check_service(&def(bad)).unwrap_err();
            assert!(e.contains(needle), "{field}: {e}");
        }
    }
}
