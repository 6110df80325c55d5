//! The registry: creating, editing and deleting services, connections and grants,
//! with the edit rules of Zoho Deluge's Connections documents and the authorizer
//! consulted for every mutation. Every write goes to the store first; the snapshot is
//! then updated with the rows it touched.

use std::sync::Arc;
use std::time::Duration;

use switchboard_auth::{AuthConfig, Credential};
use switchboard_model::authz::{Action, authorize};
use switchboard_model::names::validate_link_name;
use switchboard_model::records::{
    ConnectionRecord, ConnectionStatus, FIRST_REVISION, HOST_SCOPE, SecretChange, ServiceMeta,
    ServiceRecord,
};
use switchboard_model::time::rfc3339;
use switchboard_model::{Error, Principal};

use crate::snapshot::{Entry, Touched};
use crate::tokens::Forget;
use crate::validate::*;
use crate::views::*;
use crate::{Connections, bad, catalog, defaults, now_ms, random_id, template};

impl Connections {
    // ---- services ----

    /// Creates a custom service owned by `actor`.
    ///
    /// # Errors
    /// [`Error::BadRequest`] for an invalid definition, [`Error::Conflict`].
    pub async fn create_service(
        &self,
        def: ServiceDefinition,
        who: &Principal,
    ) -> Result<ServiceView, Error> {
        defaults::check_new_link(&def.link_name)?;
        let def = with_default_origins(def);
        validate_service(&def)?;
        let now = now_ms();
        let id = random_id("svc");
        let sealed = def
            .client_secret
            .as_ref()
            .map(|c| self.sealer.seal(id.as_bytes(), c.expose().as_bytes()));
        let record = ServiceRecord {
            id,
            meta: ServiceMeta {
                scope: HOST_SCOPE.to_owned(),
                link_name: def.link_name,
                display_name: def.display_name.trim().to_owned(),
                created_by: who.name().to_owned(),
                created_at_ms: now,
                updated_at_ms: now,
                revision: FIRST_REVISION,
            },
            spec: def.spec,
        };
        let record = self
            .write(Touched::service(&record.meta.link_name), async {
                Ok(self.store.create_service(&record, sealed).await?)
            })
            .await?;
        tracing::info!(service = %record.meta.link_name, "service created");
        Ok(self.snapshot().service_view(&record))
    }

    /// Every service.
    pub fn list_services(&self) -> Vec<ServiceView> {
        let snap = self.snapshot();
        snap.services
            .values()
            .map(|s| snap.service_view(s))
            .collect()
    }

    /// One service.
    ///
    /// # Errors
    /// [`Error::NotFound`].
    pub fn show_service(&self, link: &str) -> Result<ServiceView, Error> {
        let s = self.service_record(link)?;
        Ok(self.snapshot().service_view(&s))
    }

    /// Replaces a service's definition under the edit rules; revokes its connections
    /// when anything changed. Returns the view and the revoked connections.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Forbidden`] for another's service,
    /// [`Error::BadRequest`].
    pub async fn edit_service(
        &self,
        link: &str,
        def: ServiceDefinition,
        who: &Principal,
    ) -> Result<(ServiceView, Vec<String>), Error> {
        let old = self.service_record(link)?;
        defaults::check_writable(&old, "edited")?;
        authorize(
            who,
            Action::EditService,
            &format!("service `{link}`"),
            &old.meta.created_by,
        )?;
        check_edit(&old, &def)?;
        let def = with_default_origins(def);
        validate_service(&def)?;
        let secret = match &def.client_secret {
            Some(c) => {
                SecretChange::Set(self.sealer.seal(old.id.as_bytes(), c.expose().as_bytes()))
            }
            None => SecretChange::Keep,
        };
        if definition(&old) == def {
            return Ok((self.snapshot().service_view(&old), Vec::new()));
        }
        let record = ServiceRecord {
            id: old.id.clone(),
            meta: ServiceMeta {
                display_name: def.display_name.trim().to_owned(),
                updated_at_ms: now_ms(),
                ..old.meta.clone()
            },
            spec: def.spec,
        };
        let reason = format!("service `{link}` was edited; connect again");
        // Every connection of the service is revoked: at the provider too, with the
        // client as it was.
        let forgetting = self.begin_forget(Forget::Service(&old.id)).await;
        let revoked = self
            .write(Touched::service(link), async {
                Ok(self
                    .store
                    .update_service(&record, old.meta.revision, Some(&reason), secret)
                    .await?)
            })
            .await?;
        self.finish_forget(forgetting).await;
        tracing::info!(service = link, revoked = revoked.len(), "service edited");
        Ok((self.snapshot().service_view(&record), revoked))
    }

    /// Deletes a service; its connections are kept, revoked.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Forbidden`].
    pub async fn delete_service(&self, link: &str, who: &Principal) -> Result<Vec<String>, Error> {
        let old = self.service_record(link)?;
        defaults::check_writable(&old, "deleted")?;
        authorize(
            who,
            Action::DeleteService,
            &format!("service `{link}`"),
            &old.meta.created_by,
        )?;
        let reason = format!("service `{link}` was deleted");
        let forgetting = self.begin_forget(Forget::Service(&old.id)).await;
        let revoked = self
            .write(Touched::service(link), async {
                Ok(self
                    .store
                    .delete_service(&old.id, &reason, now_ms())
                    .await?)
            })
            .await?;
        self.finish_forget(forgetting).await;
        tracing::info!(service = link, revoked = revoked.len(), "service deleted");
        Ok(revoked)
    }

    // ---- connections ----

    /// Creates a connection (status `not_connected`).
    ///
    /// # Errors
    /// [`Error::BadRequest`], [`Error::NotFound`] for the service, [`Error::Conflict`].
    pub async fn create_connection(
        &self,
        new: NewConnection,
        who: &Principal,
    ) -> Result<ConnectionView, Error> {
        validate_link_name("connection", &new.link_name)
            .map_err(|m| bad("invalid_connection", m))?;
        check_display_name("connection", &new.display_name)
            .map_err(|m| bad("invalid_connection", m))?;
        let service = self.service_record(&new.service)?;
        template::check_values(
            &service.spec.dynamic_params,
            &service.spec.api_origins,
            &crate::flows::oauth2::url_templates(&service.spec.auth),
            &new.params,
        )
        .map_err(|m| bad("invalid_param", m))?;
        crate::flows::oauth2::check_scopes(&service, &new.scopes)
            .map_err(|m| bad("invalid_connection", m))?;
        if !new.authorize_params.is_empty()
            && !matches!(service.spec.auth, AuthConfig::OAuth2 { .. })
        {
            return Err(bad(
                "invalid_connection",
                "`authorize_params` are for oauth2 services",
            ));
        }
        crate::flows::oauth2::check_authorize_params(&new.authorize_params)
            .map_err(|m| bad("invalid_connection", m))?;
        let now = now_ms();
        let mut record = ConnectionRecord {
            id: random_id("con"),
            scope: HOST_SCOPE.to_owned(),
            link_name: new.link_name.clone(),
            display_name: new.display_name.trim().to_owned(),
            service: service.meta.link_name.clone(),
            service_id: service.id.clone(),
            params: new.params,
            scopes: new.scopes,
            authorize_params: new.authorize_params,
            granted_scopes: Vec::new(),
            token_expires_at_ms: None,
            credential_names: Vec::new(),
            status: ConnectionStatus::NotConnected,
            status_reason: Some("created; connect it to give its credentials".into()),
            created_by: who.name().to_owned(),
            created_at_ms: now,
            updated_at_ms: now,
            connected_at_ms: None,
            revoked_at_ms: None,
            history: Vec::new(),
            revision: FIRST_REVISION,
        };
        record.record_event("created", None, now);
        let default_service = catalog::is_default(&service);
        // The functions to grant it to must exist before anything is stored.
        for function in &new.grant_to {
            self.store.function(function).await?;
        }
        self.write(Touched::connection(&new.link_name), async {
            if default_service {
                self.store
                    .create_default_service_connection(&record)
                    .await?;
            } else {
                self.store
                    .create_connections(std::slice::from_ref(&record))
                    .await?;
            }
            Ok(())
        })
        .await?;
        tracing::info!(connection = %new.link_name, service = %new.service, "connection created");
        for function in &new.grant_to {
            self.grant(function, &new.link_name).await?;
        }
        self.show_connection(&new.link_name)
    }

    /// Every connection's summary.
    pub fn list_connections(&self) -> Vec<ConnectionView> {
        let snap = self.snapshot();
        snap.connections
            .sorted()
            .into_iter()
            .map(|e| snap.connection_view(e))
            .collect()
    }

    /// One connection's summary.
    ///
    /// # Errors
    /// [`Error::NotFound`].
    pub fn show_connection(&self, link: &str) -> Result<ConnectionView, Error> {
        let e = self.entry(link)?;
        Ok(self.snapshot().connection_view(&e))
    }

    /// Changes the display name and/or the parameter values (which revokes: the
    /// credentials would go somewhere else).
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::BadRequest`].
    pub async fn edit_connection(
        &self,
        link: &str,
        edit: ConnectionEdit,
    ) -> Result<ConnectionView, Error> {
        let e = self.entry(link)?;
        let mut record = e.record.clone();
        let mut secret = SecretChange::Keep;
        if let Some(name) = edit.display_name {
            check_display_name("connection", &name).map_err(|m| bad("invalid_connection", m))?;
            record.display_name = name.trim().to_owned();
        }
        if let Some(params) = edit.params
            && params != record.params
        {
            let service = e.service.as_deref().ok_or_else(|| {
                bad(
                    "invalid_connection",
                    format!(
                        "the service of connection `{link}` was deleted; delete this connection"
                    ),
                )
            })?;
            template::check_values(
                &service.spec.dynamic_params,
                &service.spec.api_origins,
                &crate::flows::oauth2::url_templates(&service.spec.auth),
                &params,
            )
            .map_err(|m| bad("invalid_param", m))?;
            record.params = params;
            if record.status != ConnectionStatus::NotConnected {
                record.status = ConnectionStatus::Revoked;
                record.status_reason = Some("dynamic parameters changed; connect again".into());
                record.record_event(
                    "revoked",
                    Some("dynamic parameters changed; connect again"),
                    now_ms(),
                );
                record.revoked_at_ms = Some(now_ms());
                record.credential_names.clear();
                secret = SecretChange::Erase;
            }
        }
        record.updated_at_ms = now_ms();
        // Erased credentials are revoked at the provider too. The write is against the
        // revision read, so a refresh that stored new tokens since then makes this edit
        // fail rather than leave them live.
        let erase = matches!(secret, SecretChange::Erase);
        let forgetting = self
            .begin_forget(if erase {
                Forget::Connection {
                    link,
                    id: &e.record.id,
                }
            } else {
                Forget::Nothing
            })
            .await;
        self.write(Touched::connection(link), async {
            Ok(self
                .store
                .update_connection(&record, e.record.revision, secret)
                .await?)
        })
        .await?;
        self.finish_forget(forgetting).await;
        self.show_connection(link)
    }

    /// Seals and stores credentials; status `connected`.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::BadRequest`] for missing, unknown or
    /// malformed values (messages never hold a value).
    pub async fn connect(
        &self,
        link: &str,
        req: ConnectRequest,
        who: &Principal,
    ) -> Result<ConnectOutcome, Error> {
        let e = self.entry(link)?;
        let service = e.service.clone().ok_or_else(|| {
            bad(
                "invalid_connection",
                format!(
                    "the service of connection `{link}` was deleted, so it cannot be connected; delete it and make a new one"
                ),
            )
        })?;
        defaults::check_client(&service)?;
        if let AuthConfig::OAuth1 { .. } = &service.spec.auth {
            if req.values.is_some()
                || req.username.is_some()
                || req.password.is_some()
                || req.access_key_id.is_some()
                || req.secret_access_key.is_some()
                || req.session_token.is_some()
            {
                return Err(bad(
                    "invalid_credentials",
                    "this is an oauth1 service: connect takes no values (the provider issues the tokens)",
                ));
            }
            let authorize_url = self.start_oauth1(&e, &service, who).await?;
            return Ok(ConnectOutcome {
                connection: self.show_connection(link)?,
                authorize_url: Some(authorize_url),
            });
        }
        if let AuthConfig::OAuth2 { grant_type, .. } = &service.spec.auth {
            if req.values.is_some() || req.username.is_some() || req.password.is_some() {
                return Err(bad(
                    "invalid_credentials",
                    "this is an oauth2 service: connect takes no values (the provider issues the tokens)",
                ));
            }
            // A connection that holds tokens gives them up first when the provider can
            // revoke them (revoking after the new sign-in could end the new grant as
            // well where a provider revokes per user and client). Without a revocation
            // endpoint the old tokens stand until new ones replace them.
            let client = self
                .oauth_client(&service, &e.record.params)
                .map_err(|m| bad("invalid_connection", m))?;
            let e = if client.revoke_url.is_some() {
                self.forget_before_connecting(link, &e).await?
            } else {
                e
            };
            let authorize_url = match grant_type {
                switchboard_auth::GrantType::AuthorizationCode => {
                    Some(self.start_authorization(&e, &service, who).await?)
                }
                switchboard_auth::GrantType::ClientCredentials => {
                    self.connect_client_credentials(&e, &service).await?;
                    tracing::info!(
                        connection = link,
                        "connection connected (client credentials)"
                    );
                    None
                }
            };
            return Ok(ConnectOutcome {
                connection: self.show_connection(link)?,
                authorize_url,
            });
        }
        let service = service.as_ref();
        let credentials = credentials_for(&service.spec.auth, req)?;
        // Placing them must work before they are stored (a header value, say).
        Credential::new(&service.spec.auth, &credentials)
            .map_err(|e| bad("invalid_credentials", e.0))?;
        let plain = zeroize::Zeroizing::new(
            serde_json::to_vec(&credentials).expect("credentials serialise"),
        );
        let blob = self.sealer.seal(e.record.id.as_bytes(), &plain);
        let now = now_ms();
        let mut record = e.record.clone();
        record.status = ConnectionStatus::Connected;
        record.status_reason = None;
        record.record_event("connected", None, now);
        record.credential_names = credentials.names();
        record.connected_at_ms = Some(now);
        record.updated_at_ms = now;
        self.write(Touched::connection(link), async {
            Ok(self
                .store
                .update_connection(&record, e.record.revision, SecretChange::Set(blob))
                .await?)
        })
        .await?;
        tracing::info!(connection = link, "connection connected");
        Ok(ConnectOutcome {
            connection: self.show_connection(link)?,
            authorize_url: None,
        })
    }

    /// Before an OAuth 2 connection is connected again: its tokens, if it has any, are
    /// erased (status `revoked`) and revoked at the provider. Returns the entry to
    /// connect.
    async fn forget_before_connecting(
        &self,
        link: &str,
        entry: &Arc<Entry>,
    ) -> Result<Arc<Entry>, Error> {
        if entry.record.status != ConnectionStatus::Connected {
            return Ok(entry.clone());
        }
        let forgetting = self
            .begin_forget(Forget::Connection {
                link,
                id: &entry.record.id,
            })
            .await;
        let e = self.entry(link)?;
        if e.record.status == ConnectionStatus::Connected {
            let why = "connected again: the earlier tokens were revoked";
            let now = now_ms();
            let mut record = e.record.clone();
            record.status = ConnectionStatus::Revoked;
            record.status_reason = Some(format!("{why}; finish the new sign-in to use it"));
            record.record_event("revoked", Some(why), now);
            record.credential_names.clear();
            record.revoked_at_ms = Some(now);
            record.updated_at_ms = now;
            self.write(Touched::connection(link), async {
                Ok(self
                    .store
                    .update_connection(&record, e.record.revision, SecretChange::Erase)
                    .await?)
            })
            .await?;
            self.finish_forget(forgetting).await;
        }
        self.entry(link)
    }

    /// Erases the credentials; status `revoked`.
    ///
    /// # Errors
    /// [`Error::NotFound`].
    pub async fn revoke(&self, link: &str) -> Result<ConnectionView, Error> {
        self.entry(link)?;
        // Under the refresh lock: erase here first, then revoke what was erased at the
        // provider (a refresh cannot store new tokens in between).
        let forgetting = self.begin_forget(Forget::Link(link)).await;
        let e = self.entry(link)?;
        let now = now_ms();
        let mut record = e.record.clone();
        record.status = ConnectionStatus::Revoked;
        record.status_reason = Some("revoked by the operator; connect again to use it".into());
        record.record_event("revoked", Some("revoked by the operator"), now);
        record.credential_names.clear();
        record.revoked_at_ms = Some(now);
        record.updated_at_ms = now;
        self.write(Touched::connection(link), async {
            Ok(self
                .store
                .update_connection(&record, e.record.revision, SecretChange::Erase)
                .await?)
        })
        .await?;
        self.finish_forget(forgetting).await;
        tracing::info!(connection = link, "connection revoked");
        self.show_connection(link)
    }

    /// Deletes a connection with its credentials, grants and activity.
    ///
    /// # Errors
    /// [`Error::NotFound`].
    pub async fn delete_connection(&self, link: &str) -> Result<(), Error> {
        self.audit.flush().await;
        let forgetting = self.begin_forget(Forget::Link(link)).await;
        self.write(Touched::connection(link), async {
            let id = self.entry(link)?.record.id.clone();
            Ok(self.store.delete_connection(&id).await?)
        })
        .await?;
        self.finish_forget(forgetting).await;
        tracing::info!(connection = link, "connection deleted");
        Ok(())
    }

    /// The newest `limit` uses of a connection, oldest first.
    ///
    /// # Errors
    /// [`Error::NotFound`].
    pub async fn activity(&self, link: &str, limit: usize) -> Result<Vec<ActivityView>, Error> {
        let id = self.entry(link)?.record.id.clone();
        self.audit.flush().await;
        let records = self.store.audit(&id, limit).await?;
        Ok(records
            .into_iter()
            .map(|r| ActivityView {
                time: rfc3339(r.time_ms),
                function: r.function,
                method: r.method,
                origin: r.origin,
                path: r.path,
                status: r.status,
                outcome: r.outcome,
                duration_ms: Duration::from_micros(r.duration_us).as_secs_f64() * 1000.0,
            })
            .collect())
    }

    // ---- grants ----

    /// Grants `function` the use of `link`.
    ///
    /// # Errors
    /// [`Error::NotFound`] for the function or the connection.
    pub async fn grant(&self, function: &str, link: &str) -> Result<GrantView, Error> {
        let g = self
            .write(Touched::grant(function, link), async {
                Ok(self
                    .store
                    .grant(function, HOST_SCOPE, link, now_ms())
                    .await?)
            })
            .await?;
        tracing::info!(function, connection = link, "grant added");
        Ok(GrantView {
            function: function.to_owned(),
            connection: link.to_owned(),
            granted_at: rfc3339(g.granted_at_ms),
        })
    }

    /// Removes a grant.
    ///
    /// # Errors
    /// [`Error::NotFound`] when there was none.
    pub async fn revoke_grant(&self, function: &str, link: &str) -> Result<(), Error> {
        let removed = self
            .write(Touched::grant(function, link), async {
                Ok(self.store.revoke_grant(function, HOST_SCOPE, link).await?)
            })
            .await?;
        if !removed {
            return Err(Error::NotFound(format!(
                "function `{function}` has no grant for connection `{link}`"
            )));
        }
        tracing::info!(function, connection = link, "grant removed");
        Ok(())
    }

    /// How each of `function`'s declared needs stands: which granted connections are of
    /// the service, and whether one is connected with the scopes.
    pub fn requirements(
        &self,
        function: &str,
        requires: &[switchboard_model::records::Requirement],
    ) -> Vec<RequirementView> {
        let snap = self.snapshot();
        let granted: Vec<&Arc<Entry>> = snap
            .grants
            .get(function)
            .into_iter()
            .flat_map(|g| g.keys())
            .filter_map(|link| snap.connections.get(link))
            .collect();
        requires
            .iter()
            .map(|req| {
                let of_service: Vec<&&Arc<Entry>> = granted
                    .iter()
                    .filter(|e| {
                        e.record.service == req.service
                            && e.service
                                .as_ref()
                                .is_some_and(|s| s.id == e.record.service_id)
                    })
                    .collect();
                let satisfied = of_service.iter().any(|e| {
                    e.record.status == ConnectionStatus::Connected && {
                        let effective: &[String] = if !e.record.granted_scopes.is_empty() {
                            &e.record.granted_scopes
                        } else if !e.record.scopes.is_empty() {
                            &e.record.scopes
                        } else {
                            match e.service.as_deref().map(|s| &s.spec.auth) {
                                Some(AuthConfig::OAuth2 { scopes, .. }) => scopes,
                                _ => &[],
                            }
                        };
                        // Scopes only mean something where the connection has some.
                        effective.is_empty() || req.scopes.iter().all(|s| effective.contains(s))
                    }
                });
                RequirementView {
                    service: req.service.clone(),
                    scopes: req.scopes.clone(),
                    why: req.why.clone(),
                    granted: of_service
                        .iter()
                        .map(|e| e.record.link_name.clone())
                        .collect(),
                    satisfied,
                }
            })
            .collect()
    }

    /// The grants of a function.
    pub fn grants_of(&self, function: &str) -> Vec<GrantView> {
        self.snapshot()
            .grants
            .get(function)
            .map(|g| {
                g.iter()
                    .map(|(link, g)| GrantView {
                        function: function.to_owned(),
                        connection: link.clone(),
                        granted_at: rfc3339(g.granted_at_ms),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}
