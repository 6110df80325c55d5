//! OAuth 2: a service's OAuth fields, the authorization-code flow with PKCE (its start
//! and its half of the callback), and the client-credentials grant.

use std::collections::BTreeMap;

use switchboard_auth::{AuthConfig, Credentials, GrantType};
use switchboard_model::records::{
    ConnectionStatus, FlowKind, PendingFlow, SecretChange, ServiceRecord,
};
use switchboard_model::{ClientSecret, Error, PkceVerifier, Principal};

use crate::flows::*;
use crate::provider::{OAuthClient, Tokens};
use crate::snapshot::Entry;
use crate::views::*;
use crate::{Connections, bad, now_ms, template};

/// Authorize parameters the host sets itself.
pub(crate) const RESERVED_AUTHORIZE_PARAMS: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "state",
    "scope",
    "code_challenge",
    "code_challenge_method",
];

pub(crate) fn check_url_template(
    what: &str,
    url: &str,
    declared: &[switchboard_model::records::DynamicParam],
) -> Result<(), String> {
    if let Some(k) = template::placeholders(url)
        .into_iter()
        .find(|k| !declared.iter().any(|p| p.key == *k))
    {
        return Err(format!(
            "{what} `{url}` uses `{{{k}}}`, which is not one of the service's dynamic parameters"
        ));
    }
    let sample = template::placeholders(url)
        .into_iter()
        .fold(url.to_owned(), |t, k| t.replace(&format!("{{{k}}}"), "x"));
    let parsed =
        url::Url::parse(&sample).map_err(|e| format!("{what} `{url}` is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "https" | "http") || parsed.host().is_none() {
        return Err(format!("{what} `{url}` must be an http(s) URL with a host"));
    }
    if parsed.fragment().is_some() || !parsed.username().is_empty() {
        return Err(format!(
            "{what} `{url}` must not have a fragment or user info"
        ));
    }
    Ok(())
}

/// The OAuth URL templates of a service, whose placeholders must stay host-safe.
pub(crate) fn url_templates(auth: &AuthConfig) -> Vec<String> {
    match auth {
        AuthConfig::OAuth2 {
            authorize_url,
            access_token_url,
            refresh_token_url,
            revoke_url,
            ..
        } => [
            authorize_url.as_ref(),
            Some(access_token_url),
            refresh_token_url.as_ref(),
            revoke_url.as_ref(),
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect(),
        AuthConfig::OAuth1 {
            request_token_url,
            authorize_url,
            access_token_url,
            ..
        } => vec![
            request_token_url.clone(),
            authorize_url.clone(),
            access_token_url.clone(),
        ],
        _ => Vec::new(),
    }
}

/// Checks an `oauth2` service's fields.
pub(crate) fn check_service(def: &ServiceDefinition) -> Result<(), String> {
    let AuthConfig::OAuth2 {
        client_id,
        authorize_url,
        access_token_url,
        refresh_token_url,
        revoke_url,
        scopes,
        scope_delimiter,
        grant_type,
        extra_authorize_params,
        ..
    } = &def.spec.auth
    else {
        return Ok(());
    };
    if client_id.trim().is_empty() || client_id.len() > 500 {
        return Err("`auth.client_id` must be 1 to 500 characters".into());
    }
    match (grant_type, authorize_url) {
        (GrantType::AuthorizationCode, None) => {
            return Err(
                "an authorization_code service needs `auth.authorize_url` (the provider's consent page)"
                    .into(),
            );
        }
        (_, Some(u)) => check_url_template("authorize URL", u, &def.spec.dynamic_params)?,
        _ => {}
    }
    check_url_template(
        "access-token URL",
        access_token_url,
        &def.spec.dynamic_params,
    )?;
    if let Some(u) = refresh_token_url {
        check_url_template("refresh-token URL", u, &def.spec.dynamic_params)?;
    }
    if let Some(u) = revoke_url {
        check_url_template("revocation URL", u, &def.spec.dynamic_params)?;
    }
    if !matches!(scope_delimiter.as_str(), " " | "," | "+") {
        return Err("`auth.scope_delimiter` must be \" \" (the default), \",\" or \"+\"".into());
    }
    for (i, s) in scopes.iter().enumerate() {
        if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("scope `{s}` must be non-empty text without spaces"));
        }
        if scopes[..i].contains(s) {
            return Err(format!("scope `{s}` is listed twice"));
        }
    }
    check_authorize_params(extra_authorize_params)
}

/// Extra authorize parameters may not replace the ones the flow's safety rests on.
pub(crate) fn check_authorize_params(params: &BTreeMap<String, String>) -> Result<(), String> {
    for (k, v) in params {
        if k.is_empty() || RESERVED_AUTHORIZE_PARAMS.contains(&k.as_str()) {
            return Err(format!(
                "authorize parameter `{k}` is set by the host and cannot be given (reserved: {})",
                RESERVED_AUTHORIZE_PARAMS.join(", ")
            ));
        }
        if v.chars().any(char::is_control) {
            return Err(format!("authorize parameter `{k}` has control characters"));
        }
    }
    Ok(())
}

/// Checks a connection's chosen scopes against its service's.
pub(crate) fn check_scopes(service: &ServiceRecord, chosen: &[String]) -> Result<(), String> {
    let AuthConfig::OAuth2 { scopes, .. } = &service.spec.auth else {
        if chosen.is_empty() {
            return Ok(());
        }
        return Err(format!(
            "scopes are for oauth2 services; `{}` is `{}`",
            service.meta.link_name,
            service.spec.auth.type_name()
        ));
    };
    if let Some(s) = chosen.iter().find(|s| !scopes.contains(s)) {
        return Err(format!(
            "scope `{s}` is not one of service `{}`'s scopes ({})",
            service.meta.link_name,
            scopes.join(", ")
        ));
    }
    Ok(())
}

pub(crate) fn fill(url: &str, params: &BTreeMap<String, String>) -> Result<String, String> {
    template::fill_url(url, params)
}

impl Connections {
    /// The OAuth client of `service` for a connection with `params`.
    pub(crate) fn oauth_client(
        &self,
        service: &ServiceRecord,
        params: &BTreeMap<String, String>,
    ) -> Result<OAuthClient, String> {
        let AuthConfig::OAuth2 {
            client_id,
            authorize_url,
            access_token_url,
            refresh_token_url,
            revoke_url,
            scope_delimiter,
            client_auth,
            ..
        } = &service.spec.auth
        else {
            return Err(format!(
                "service `{}` is not an oauth2 service",
                service.meta.link_name
            ));
        };
        let client_secret = match self.snapshot().service_secrets.get(&service.id) {
            Some(blob) => {
                let plain = self
                    .sealer
                    .open(service.id.as_bytes(), blob)
                    .map_err(|e| format!("the service's client secret does not open: {e}"))?;
                Some(ClientSecret::new(
                    String::from_utf8(plain.to_vec())
                        .map_err(|_| "the service's client secret is not text".to_owned())?,
                ))
            }
            None => None,
        };
        let token_url = fill(access_token_url, params)?;
        Ok(OAuthClient {
            client_id: client_id.clone(),
            client_secret,
            authorize_url: authorize_url
                .as_deref()
                .map(|u| fill(u, params))
                .transpose()?,
            refresh_url: refresh_token_url
                .as_deref()
                .map(|u| fill(u, params))
                .transpose()?
                .unwrap_or_else(|| token_url.clone()),
            token_url,
            revoke_url: revoke_url.as_deref().map(|u| fill(u, params)).transpose()?,
            client_auth: *client_auth,
            scope_delimiter: scope_delimiter.clone(),
            clock: self.refresh.clock(),
        })
    }

    /// Starts an authorization-code flow: a single-use `state` bound to the connection,
    /// a PKCE verifier sealed until the callback. Returns the host's `/oauth/start` URL
    /// to open in a browser.
    pub(crate) async fn start_authorization(
        &self,
        entry: &Entry,
        service: &ServiceRecord,
        who: &Principal,
    ) -> Result<String, Error> {
        let client = self
            .oauth_client(service, &entry.record.params)
            .map_err(|m| bad("invalid_connection", m))?;
        let AuthConfig::OAuth2 {
            scopes: service_scopes,
            extra_authorize_params,
            ..
        } = &service.spec.auth
        else {
            unreachable!("checked by the caller");
        };
        let scopes = if entry.record.scopes.is_empty() {
            service_scopes.clone()
        } else {
            entry.record.scopes.clone()
        };
        let mut extra = extra_authorize_params.clone();
        extra.extend(entry.record.authorize_params.clone());
        let extra: Vec<(String, String)> = extra.into_iter().collect();
        let redirect_uri = self.redirect_uri()?;
        let state = random_token(32);
        let (authorize_url, verifier) = client
            .authorize(&redirect_uri, &state, &scopes, &extra)
            .map_err(|e| bad("invalid_connection", e.to_string()))?;
        let now = self.refresh.clock().now_ms(); // the injected clock: sign-in expiry
        let flow = PendingFlow {
            connection_id: entry.record.id.clone(),
            link: entry.record.link_name.clone(),
            created_by: who.name().to_owned(),
            created_at_ms: now,
            expires_at_ms: now + self.flow_ttl().as_millis() as u64,
            authorize_url,
            redirect_uri: redirect_uri.clone(),
            verifier_sealed: hex::encode(
                self.sealer
                    .seal(state.as_bytes(), verifier.expose().as_bytes()),
            ),
            browser_hash: None,
            kind: FlowKind::OAuth2,
            request_token: None,
            request_secret_sealed: None,
        };
        self.store.put_flow(&state, &flow, now).await?;
        tracing::info!(connection = %entry.record.link_name, "authorization started");
        Ok(format!(
            "{}?state={state}",
            redirect_uri.trim_end_matches("/callback").to_owned() + "/start"
        ))
    }

    /// Seals `tokens` for the connection and marks it connected, in one write that
    /// succeeds only if the connection's revision is unchanged since `entry` was read (connecting),
    /// or, for refreshed tokens, only if its credentials are (see
    /// [`Self::store_refreshed`]).
    pub(crate) async fn store_tokens(
        &self,
        entry: &Entry,
        tokens: Tokens,
        connecting: bool,
    ) -> Result<(), Error> {
        if !connecting {
            return self.store_refreshed(entry, tokens).await;
        }
        let credentials = Credentials::OAuth2(tokens);
        let plain = zeroize::Zeroizing::new(
            serde_json::to_vec(&credentials).expect("credentials serialise"),
        );
        let blob = self.sealer.seal(entry.record.id.as_bytes(), &plain);
        let Credentials::OAuth2(tokens) = &credentials else {
            unreachable!()
        };
        let now = now_ms();
        let mut record = entry.record.clone();
        record.status = ConnectionStatus::Connected;
        record.status_reason = None;
        record.record_event(
            if connecting { "connected" } else { "refreshed" },
            None,
            now,
        );
        record.credential_names = credentials.names();
        record.token_expires_at_ms = tokens.expires_at_ms;
        if let Some(g) = &tokens.granted_scopes {
            record.granted_scopes = g.clone();
        } else if connecting {
            record.granted_scopes.clear();
        }
        if connecting {
            record.connected_at_ms = Some(now);
        }
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

    /// Connect for client credentials: fetch a token now, so a wrong client is found at
    /// once.
    pub(crate) async fn connect_client_credentials(
        &self,
        entry: &Entry,
        service: &ServiceRecord,
    ) -> Result<(), Error> {
        let client = self
            .oauth_client(service, &entry.record.params)
            .map_err(|m| bad("invalid_connection", m))?;
        let tokens = client
            .client_credentials(&self.http, &self.scopes_of(entry, service))
            .await
            .map_err(|e| bad("token_request_failed", e.to_string()))?;
        self.store_tokens(entry, tokens, true).await
    }

    pub(crate) fn scopes_of(&self, entry: &Entry, service: &ServiceRecord) -> Vec<String> {
        match &service.spec.auth {
            AuthConfig::OAuth2 { scopes, .. } if entry.record.scopes.is_empty() => scopes.clone(),
            _ => entry.record.scopes.clone(),
        }
    }

    /// OAuth 2's half of the callback: exchanges the `code` (with the PKCE verifier
    /// sealed at connect) and stores the tokens sealed.
    pub(crate) async fn oauth2_callback(
        &self,
        state: &str,
        flow: &PendingFlow,
        entry: &Entry,
        code: Option<&str>,
    ) -> Result<ConnectionView, FlowError> {
        let code = code.ok_or_else(|| {
            FlowError("the provider's answer has neither a code nor an error".into())
        })?;
        let service = entry
            .service
            .clone()
            .ok_or_else(|| FlowError("the connection's service was deleted".into()))?;
        let client = self
            .oauth_client(&service, &entry.record.params)
            .map_err(FlowError)?;
        let sealed = hex::decode(&flow.verifier_sealed)
            .map_err(|_| FlowError("the sign-in record is damaged; start again".into()))?;
        let verifier = self
            .sealer
            .open(state.as_bytes(), &sealed)
            .map_err(|_| FlowError("the sign-in record is damaged; start again".into()))?;
        let verifier = PkceVerifier::new(String::from_utf8_lossy(&verifier).into_owned());
        let tokens = client
            .exchange_code(&self.http, &flow.redirect_uri, code, &verifier)
            .await;
        let tokens = match tokens {
            Ok(t) => t,
            Err(e) => {
                let why = format!("the provider refused the code: {e}");
                self.note_failed(entry, &why).await;
                return Err(FlowError(why));
            }
        };
        self.store_tokens(entry, tokens, true)
            .await
            .map_err(|e| FlowError(e.to_string()))?;
        tracing::info!(connection = %flow.link, "connection connected through OAuth 2");
        self.show_connection(&flow.link)
            .map_err(|e| FlowError(e.to_string()))
    }
}
