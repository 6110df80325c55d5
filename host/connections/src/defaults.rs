//! Default services (the catalogue, [`crate::catalog`]) inside the connections service:
//! merged into the snapshot next to custom services, read-only, their link names
//! reserved, and the operator's OAuth client set once per service.

use std::collections::BTreeMap;
use switchboard_model::Principal;

use serde::Deserialize;

use super::{Connections, Error, MAX_SECRET_LEN, ServiceView, bad, now_ms};
use crate::catalog::{self, ServiceQuery};
use switchboard_model::ClientSecret;
use switchboard_model::records::{ServiceClientRecord, ServiceRecord};

/// `PUT /api/v1/services/{link}/client`: the operator's OAuth client of a default
/// service. `Debug` prints no secret.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceClient {
    /// OAuth 2 client id (OAuth 1: consumer key).
    #[serde(alias = "consumer_key")]
    pub client_id: String,
    /// OAuth 2 client secret (OAuth 1: consumer secret).
    #[serde(alias = "consumer_secret")]
    pub client_secret: ClientSecret,
}

/// Default services cannot be edited or deleted.
pub(crate) fn check_writable(service: &ServiceRecord, verb: &str) -> Result<(), Error> {
    if catalog::is_default(service) {
        return Err(bad(
            "read_only",
            format!(
                "`{}` is a default service and cannot be {verb}; create a custom service (another link name) with the definition you need instead",
                service.meta.link_name
            ),
        ));
    }
    Ok(())
}

/// A custom service may not take a default service's link name.
pub(crate) fn check_new_link(link: &str) -> Result<(), Error> {
    if catalog::get(link).is_some() {
        return Err(Error::Conflict(format!(
            "`{link}` is the link name of a default service; make connections of it directly, or give the custom service another link name"
        )));
    }
    Ok(())
}

/// A default OAuth service is connected only once its client is configured.
pub(crate) fn check_client(service: &ServiceRecord) -> Result<(), Error> {
    if catalog::is_default(service) && !catalog::client_configured(service) {
        let (id, secret) = match service.spec.auth {
            switchboard_auth::AuthConfig::OAuth1 { .. } => ("consumer key", "consumer secret"),
            _ => ("client id", "client secret"),
        };
        return Err(bad(
            "client_not_configured",
            format!(
                "default service `{link}` has no OAuth client yet: register an app with the provider, then run `switchboard service client {link} --client-id ID --client-secret-stdin` with its {id} and {secret} (or PUT /api/v1/services/{link}/client)",
                link = service.meta.link_name
            ),
        ));
    }
    Ok(())
}

fn check_client_values(client: &ServiceClient) -> Result<(), Error> {
    let invalid = |m: &str| bad("invalid_body", m.to_owned());
    let id = &client.client_id;
    if id.is_empty() || id.len() > 500 || id.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(invalid(
            "`client_id` must be 1 to 500 characters without spaces or control characters",
        ));
    }
    let secret = client.client_secret.expose();
    if secret.is_empty() || secret.len() > MAX_SECRET_LEN || secret.chars().any(char::is_control) {
        return Err(invalid(
            "`client_secret` must be 1 to 8192 bytes of text without control characters (a pasted newline?)",
        ));
    }
    Ok(())
}

impl Connections {
    /// The services matching `query`, by link name.
    pub fn search_services(&self, query: &ServiceQuery) -> Vec<ServiceView> {
        let snap = self.snapshot();
        snap.services
            .values()
            .map(|s| snap.service_view(s))
            .filter(|v| query.matches(v))
            .collect()
    }

    /// Category → number of services (of `kind`, when given).
    pub fn service_categories(&self, query: &ServiceQuery) -> BTreeMap<String, usize> {
        catalog::category_counts(&self.search_services(query))
    }

    /// Sets the operator's OAuth client (id and sealed secret) of a default OAuth 1 or 2
    /// service. Changing an existing client revokes the service's connections (their
    /// tokens were issued to the old one). Returns the view and the revoked connections.
    ///
    /// # Errors
    /// [`Error::NotFound`]; [`Error::BadRequest`] for a custom or non-OAuth
    /// service, or malformed values (never quoted).
    pub async fn set_service_client(
        &self,
        link: &str,
        client: ServiceClient,
        who: &Principal,
    ) -> Result<(ServiceView, Vec<String>), Error> {
        let service = self.service_record(link)?;
        if !catalog::is_default(&service) {
            return Err(bad(
                "invalid_service",
                format!(
                    "`{link}` is a custom service: its client is part of its definition; change it with `switchboard service edit`"
                ),
            ));
        }
        if !catalog::takes_client(&service.spec.auth) {
            return Err(bad(
                "invalid_service",
                format!(
                    "`{link}` uses {} auth: each connection gives its own credentials, there is no OAuth client to set",
                    service.spec.auth.type_name()
                ),
            ));
        }
        check_client_values(&client)?;
        let had_client = catalog::client_configured(&service);
        if had_client && self.same_client(&service, &client) {
            return Ok((self.snapshot().service_view(&service), Vec::new()));
        }
        let id = service.id.clone();
        let sealed = self
            .sealer
            .seal(id.as_bytes(), client.client_secret.expose().as_bytes());
        let record = ServiceClientRecord {
            client_id: client.client_id,
            updated_by: who.name().to_owned(),
            updated_at_ms: now_ms(),
        };
        let reason = had_client
            .then(|| format!("the OAuth client of service `{link}` changed; connect again"));
        // A changed client revokes the connections: at the provider too, with the old
        // client's credentials.
        let forgetting = self
            .begin_forget(if had_client {
                crate::tokens::Forget::Service(&service.id)
            } else {
                crate::tokens::Forget::Nothing
            })
            .await;
        let revoked = self
            .write(crate::snapshot::Touched::service(link), async {
                Ok(self
                    .store
                    .set_service_client(&id, &record, sealed, reason.as_deref())
                    .await?)
            })
            .await?;
        self.finish_forget(forgetting).await;
        tracing::info!(
            service = link,
            revoked = revoked.len(),
            "default service client set"
        );
        let view = self.show_service(link)?;
        Ok((view, revoked))
    }

    /// Whether `client` is the one already configured (same id, same secret).
    fn same_client(&self, service: &ServiceRecord, client: &ServiceClient) -> bool {
        let current_id = match &service.spec.auth {
            switchboard_auth::AuthConfig::OAuth2 { client_id, .. } => client_id,
            switchboard_auth::AuthConfig::OAuth1 { consumer_key, .. } => consumer_key,
            _ => return false,
        };
        if *current_id != client.client_id {
            return false;
        }
        let snap = self.snapshot();
        let Some(blob) = snap.service_secrets.get(&service.id) else {
            return false;
        };
        self.sealer
            .open(service.id.as_bytes(), blob)
            .is_ok_and(|plain| plain[..] == *client.client_secret.expose().as_bytes())
    }
}
