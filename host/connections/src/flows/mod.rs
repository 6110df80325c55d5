//! Sign-in flows: what OAuth 1.0a and OAuth 2 share. Connect stores a single-use
//! `state`; `/oauth/start` binds it to the browser that opened it (a cookie of its own);
//! `/oauth/callback` checks state, expiry and browser, then hands over to the
//! protocol's own half ([`oauth2`], [`oauth1`]).

pub(crate) mod oauth1;
pub(crate) mod oauth2;

use std::time::Duration;

use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};

use switchboard_auth::Redactor;
use switchboard_model::Error;
use switchboard_model::records::{FlowBinding, FlowKind, FlowTake, SecretChange};

use crate::flows::oauth2::*;
use crate::snapshot::Entry;
use crate::views::*;
use crate::{Connections, now_ms};

/// How long an authorization may take, from connect to callback.
pub const FLOW_TTL: Duration = Duration::from_secs(600);
/// The prefix of the cookies that tie a callback to the browser that started the flow.
/// Each flow has its own cookie (see [`flow_cookie_name`]), so sign-ins started side
/// by side in one browser do not overwrite each other's.
pub const FLOW_COOKIE: &str = "switchboard_oauth";

/// The name of the cookie of the flow with `state`: [`FLOW_COOKIE`], `_`, and 16 hex
/// digits of a hash of the state (which the cookie name does not reveal).
pub fn flow_cookie_name(state: &str) -> String {
    format!(
        "{FLOW_COOKIE}_{}",
        &sha256_hex(&format!("switchboard flow cookie\0{state}"))[..16]
    )
}

/// What `/oauth/start` answers with: the browser's cookie and where to send it.
#[derive(Debug, Clone)]
pub struct FlowStart {
    /// The whole `Set-Cookie` value: the flow's own name, a random value (its hash is
    /// kept with the flow), `HttpOnly`, `SameSite=Lax`, the public URL's path,
    /// `Secure` on https, and the flow's remaining lifetime.
    pub set_cookie: String,
    /// The provider's authorize URL.
    pub authorize_url: String,
}

/// "10 minutes", "90 seconds": a sign-in's lifetime in words.
pub(crate) fn lifetime_words(ttl: Duration) -> String {
    let secs = ttl.as_secs().max(1);
    if secs.is_multiple_of(60) {
        let m = secs / 60;
        format!("{m} minute{}", if m == 1 { "" } else { "s" })
    } else {
        format!("{secs} second{}", if secs == 1 { "" } else { "s" })
    }
}

/// Why a step of the authorization flow failed: shown on the callback page.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FlowError(pub String);

pub(crate) fn random_token(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

pub(crate) fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

impl Connections {
    pub(crate) fn redirect_uri(&self) -> Result<String, Error> {
        let base = self.public_url.read().expect("lock poisoned").clone();
        base.map(|b| format!("{}/oauth/callback", b.trim_end_matches('/')))
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("the host's public URL is not set")))
    }

    /// The `Path` and `Secure` attributes of the flow cookies: `{public path}/oauth`, and
    /// `Secure` when the public URL is https.
    fn cookie_scope(&self) -> (String, bool) {
        let public = self.public_url.read().expect("lock poisoned").clone();
        let Some(url) = public.and_then(|u| url::Url::parse(&u).ok()) else {
            return ("/oauth".into(), false);
        };
        let path = format!("{}/oauth", url.path().trim_end_matches('/'));
        // A path the cookie syntax cannot carry (`;`, `,`, spaces) widens to the origin.
        let path = if path
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b';' | b',' | b'"' | b'\\'))
        {
            path
        } else {
            "/".into()
        };
        (path, url.scheme() == "https")
    }

    fn flow_cookie(&self, state: &str, value: &str, max_age_s: u64) -> String {
        let (path, secure) = self.cookie_scope();
        format!(
            "{}={value}; HttpOnly; SameSite=Lax; Path={path}; Max-Age={max_age_s}{}",
            flow_cookie_name(state),
            if secure { "; Secure" } else { "" }
        )
    }

    /// The `Set-Cookie` value that removes the cookie of the flow with `state` (sent
    /// with the callback's page: the flow is over).
    pub fn clear_flow_cookie(&self, state: &str) -> String {
        self.flow_cookie(state, "", 0)
    }

    /// `/oauth/start`: ties the flow to this browser (a cookie of its own whose hash
    /// the flow keeps, checked and set in one transaction) and returns the cookie and
    /// the provider's authorize URL.
    ///
    /// # Errors
    /// [`FlowError`] for an unknown, expired or already started flow.
    pub async fn oauth_start(&self, state: &str) -> Result<FlowStart, FlowError> {
        let nonce = random_token(32);
        let now = self.refresh.clock().now_ms();
        let outcome = self
            .store
            .bind_flow(state, &sha256_hex(&nonce), now)
            .await
            .map_err(|_| FlowError("the host could not save the sign-in".into()))?;
        let flow = match outcome {
            FlowBinding::Bound(flow) => flow,
            FlowBinding::Unknown => {
                return Err(FlowError(
                    "this sign-in link is unknown or was already used; start again with `switchboard connection connect`".into(),
                ));
            }
            FlowBinding::Expired => {
                return Err(FlowError(format!(
                    "this sign-in link expired (they last {}); start again",
                    lifetime_words(self.flow_ttl())
                )));
            }
            FlowBinding::AlreadyBound => {
                return Err(FlowError(
                    "this sign-in link was already opened; start again to get a new one".into(),
                ));
            }
        };
        // The cookie lives as long as the flow may still come back.
        let max_age_s = flow.expires_at_ms.saturating_sub(now).div_ceil(1000).max(1);
        Ok(FlowStart {
            set_cookie: self.flow_cookie(state, &nonce, max_age_s),
            authorize_url: flow.authorize_url,
        })
    }

    /// `/oauth/callback`: checks the state (single use, unexpired, same browser), then
    /// exchanges the code (OAuth 2) or the verifier (OAuth 1: `oauth1` holds the
    /// callback's `oauth_token` and `oauth_verifier`) and stores the tokens sealed. The
    /// flow is used up only by the browser that started it: a callback without its
    /// cookie changes nothing, so whoever sees a `state` cannot burn the sign-in.
    ///
    /// # Errors
    /// [`FlowError`] saying what went wrong (consent denied, state unknown or expired,
    /// code rejected).
    pub async fn oauth_callback(
        &self,
        state: &str,
        code: Option<&str>,
        error: Option<(&str, Option<&str>)>,
        browser: Option<&str>,
        oauth1: oauth1::CallbackParams<'_>,
    ) -> Result<ConnectionView, FlowError> {
        let hash = browser.map(sha256_hex);
        let outcome = self
            .store
            .take_bound_flow(state, hash.as_deref())
            .await
            .map_err(|_| FlowError("the host could not read the sign-in".into()))?;
        let flow = match outcome {
            FlowTake::Taken(flow) => *flow,
            FlowTake::Unknown => {
                return Err(FlowError(
                    "the sign-in's state is unknown or was already used; start again with `switchboard connection connect`".into(),
                ));
            }
            FlowTake::OtherBrowser => {
                return Err(FlowError(
                    "this sign-in was not started in this browser; open the link `connect` gave in the same browser".into(),
                ));
            }
        };
        if flow.expires_at_ms <= self.refresh.clock().now_ms() {
            return Err(FlowError(format!(
                "the sign-in expired (it lasts {}); start again",
                lifetime_words(self.flow_ttl())
            )));
        }
        let entry = self
            .snapshot()
            .connections
            .get(&flow.link)
            .filter(|e| e.record.id == flow.connection_id)
            .cloned()
            .ok_or_else(|| FlowError(format!("connection `{}` no longer exists", flow.link)))?;
        if let Some((code, description)) = error {
            let why = format!(
                "the provider did not grant access ({code}{})",
                description.map(|d| format!(": {d}")).unwrap_or_default()
            );
            self.note_failed(&entry, &why).await;
            return Err(FlowError(why));
        }
        if flow.kind == FlowKind::OAuth1 {
            return self.oauth1_callback(state, &flow, &entry, oauth1).await;
        }
        self.oauth2_callback(state, &flow, &entry, code).await
    }

    /// Records a failed sign-in on the connection (status unchanged; the reason kept,
    /// with the service's client secret redacted: the provider wrote it).
    pub(crate) async fn note_failed(&self, entry: &Entry, why: &str) {
        let mut why = why.to_owned();
        if let Some(service) = entry.service.as_deref()
            && let Ok(secret) = self.consumer_secret(service)
        {
            let mut redactor = Redactor::default();
            if let Some(secret) = &secret {
                redactor.add(secret.expose().as_bytes());
            }
            redactor.redact_string(&mut why);
            // Signing in again while connected: the provider knows the tokens it issued
            // and may quote them too.
            if entry.sealed.is_some()
                && let Ok(credentials) = self.open_credentials(&entry.record.link_name, entry)
                && let Ok(credential) = switchboard_auth::Credential::with_service_secret(
                    &service.spec.auth,
                    &credentials,
                    secret.as_ref(),
                )
            {
                credential.redactor().redact_string(&mut why);
            }
        }
        let mut record = entry.record.clone();
        record.status_reason = Some(why.clone());
        record.updated_at_ms = now_ms();
        record.record_event("failed", Some(&why), record.updated_at_ms);
        if let Err(e) = self
            .write(
                crate::snapshot::Touched::connection(&entry.record.link_name),
                async {
                    Ok(self
                        .store
                        .update_connection(&record, entry.record.revision, SecretChange::Keep)
                        .await?)
                },
            )
            .await
        {
            tracing::warn!(connection = %entry.record.link_name, error = %e, "a failed sign-in was not recorded");
        }
    }
}
