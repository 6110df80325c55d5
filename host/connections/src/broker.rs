//! The broker: the per-request hot path. Resolves a connection for an `invoke-url`
//! call from the snapshot (never the database), opens its credentials, fills the URL's
//! placeholders, refreshes OAuth 2 tokens through the token refresher, and queues the
//! audit record.

use std::sync::Arc;

use switchboard_auth::{AuthConfig, Credential, Credentials};
use switchboard_model::InvocationContext;
use switchboard_model::records::{AuditRecord, ConnectionRecord, ConnectionStatus};
use switchboard_outbound::{BoxFuture, BrokerError, ConnectionBroker, ResolvedConnection};

use crate::snapshot::Entry;
use crate::{Connections, template};

/// The error for a connection that is not `connected`.
pub(crate) fn needs_reconnect(link: &str, record: &ConnectionRecord) -> BrokerError {
    let why = match record.status {
        ConnectionStatus::NotConnected => "has no credentials yet".to_owned(),
        status => format!(
            "is {}{}",
            status.as_str(),
            record
                .status_reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ),
    };
    BrokerError::NeedsReconnect(format!("connection `{link}` {why}; connect it again"))
}

/// Identifies the sealed credentials an entry holds (the blob's random nonce), so a
/// caller that saw them rejected can tell whether they were replaced since.
pub(crate) fn generation(entry: &Entry) -> Option<Vec<u8>> {
    entry
        .sealed
        .as_deref()
        .and_then(|b| b.get(11..35))
        .map(<[u8]>::to_vec)
}

impl Connections {
    /// Opens an entry's sealed credentials.
    pub(crate) fn open_credentials(
        &self,
        link: &str,
        entry: &Entry,
    ) -> Result<Credentials, BrokerError> {
        let needs = |why: &str| {
            BrokerError::NeedsReconnect(format!("connection `{link}` {why}; connect it again"))
        };
        let sealed = entry
            .sealed
            .as_deref()
            .ok_or_else(|| needs("has no stored credentials"))?;
        let opened = self
            .sealer
            .open(entry.record.id.as_bytes(), sealed)
            .map_err(|e| {
                tracing::error!(connection = link, error = %e, "sealed credentials do not open");
                needs("has credentials that cannot be read")
            })?;
        serde_json::from_slice(&opened).map_err(|_| {
            tracing::error!(connection = link, "sealed credentials are not readable");
            needs("has credentials that cannot be read")
        })
    }

    /// The connection for a request; `Ok(None)` only with `stale`, when the credentials
    /// the API refused were not replaced (see [`Connections::fresh_tokens`]).
    async fn resolve_for(
        self: &Arc<Self>,
        ctx: &InvocationContext,
        link: &str,
        url: &str,
        stale: Option<&[u8]>,
    ) -> Result<Option<ResolvedConnection>, BrokerError> {
        let function = &*ctx.function;
        let snap = self.snapshot();
        let entry = snap.connections.get(link).cloned().ok_or_else(|| {
            BrokerError::Unknown(format!("no connection has the link name `{link}`"))
        })?;
        if !snap
            .grants
            .get(function)
            .is_some_and(|g| g.contains_key(link))
        {
            return Err(BrokerError::NotGranted(format!(
                "function `{function}` may not use connection `{link}`; the operator grants it with `switchboard function grant {function} --connection {link}`"
            )));
        }
        drop(snap);
        if entry.record.status != ConnectionStatus::Connected {
            return Err(needs_reconnect(link, &entry.record));
        }
        let (entry, credentials) = match entry.service.as_deref().map(|s| &s.spec.auth) {
            Some(AuthConfig::OAuth2 { .. }) => {
                let Some((entry, tokens)) = self.clone().fresh_tokens(link, stale).await? else {
                    return Ok(None);
                };
                (entry, Credentials::OAuth2(tokens))
            }
            _ => {
                let c = self.open_credentials(link, &entry)?;
                (entry, c)
            }
        };
        let (Some(service), Some(policy)) = (entry.service.as_deref(), entry.policy.clone()) else {
            return Err(BrokerError::NeedsReconnect(format!(
                "connection `{link}` cannot be used (its service was deleted); connect it again"
            )));
        };
        // OAuth 1 signs with the consumer secret; OAuth 2 only needs the client secret
        // redacted from responses.
        let service_secret = match &service.spec.auth {
            AuthConfig::OAuth1 { .. } | AuthConfig::OAuth2 { .. } => self.consumer_secret(service).map_err(|e| {
                tracing::error!(connection = link, error = %e, "the consumer secret does not open");
                BrokerError::NeedsReconnect(format!(
                    "connection `{link}`'s service has a client secret that cannot be read; set it again"
                ))
            })?,
            _ => None,
        };
        let credential = Credential::with_service_secret(
            &service.spec.auth,
            &credentials,
            service_secret.as_ref(),
        )
        .map_err(|e| {
            tracing::error!(connection = link, error = %e, "credentials do not fit the service");
            BrokerError::NeedsReconnect(format!(
                "connection `{link}` has credentials that do not fit its service; connect it again"
            ))
        })?;
        let url = template::fill_url(url, &entry.params).map_err(BrokerError::InvalidRequest)?;
        Ok(Some(ResolvedConnection {
            policy,
            url,
            credential,
            refreshable: matches!(service.spec.auth, AuthConfig::OAuth2 { .. }),
            generation: generation(&entry).unwrap_or_default(),
            connection_id: entry.record.id.clone(),
        }))
    }
}

/// The broker the runtime calls for every `invoke-url` through a connection: a handle on
/// the connections' shared state (see [`Connections::broker`]). It owns a reference, so
/// a token refresh it starts completes even when the call that started it is cancelled.
#[derive(Debug, Clone)]
pub struct Broker(Arc<Connections>);

impl Connections {
    /// The [`ConnectionBroker`] over these connections, for the runtime.
    pub fn broker(self: &Arc<Self>) -> Arc<Broker> {
        Arc::new(Broker(self.clone()))
    }
}

impl ConnectionBroker for Broker {
    fn resolve<'a>(
        &'a self,
        ctx: &'a InvocationContext,
        link: &'a str,
        url: &'a str,
    ) -> BoxFuture<'a, Result<ResolvedConnection, BrokerError>> {
        Box::pin(async move {
            self.0
                .resolve_for(ctx, link, url, None)
                .await?
                .ok_or_else(|| {
                    BrokerError::Unavailable(format!("connection `{link}` did not resolve"))
                })
        })
    }

    fn refresh_after_unauthorized<'a>(
        &'a self,
        ctx: &'a InvocationContext,
        link: &'a str,
        used: &'a ResolvedConnection,
    ) -> BoxFuture<'a, Result<Option<ResolvedConnection>, BrokerError>> {
        Box::pin(
            self.0
                .resolve_for(ctx, link, &used.url, Some(&used.generation)),
        )
    }

    fn record(
        &self,
        _ctx: &InvocationContext,
        link: &str,
        connection_id: Option<&str>,
        record: AuditRecord,
    ) {
        // Kept by connection id: a connection made again under this link name starts
        // with no records (a record of a deleted connection is dropped by the store).
        // A use that resolved names its id; a refused one (not granted, not connected)
        // goes to whichever connection has the link now.
        match connection_id {
            Some(id) => self.0.audit.push(id, record),
            None => {
                if let Some(e) = self.0.snapshot().connections.get(link) {
                    self.0.audit.push(&e.record.id, record);
                }
            }
        }
    }
}
