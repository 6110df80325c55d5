//! Keeping OAuth 2 tokens fresh for the broker: proactively before expiry, reactively
//! after a 401, through the [`TokenRefresher`] trait object (one token request per
//! connection at a time, the rotated refresh token stored before the new access token is
//! used, `invalid_grant` ending in `needs_reconnect`, transient failures backing off),
//! and erasing tokens (revoke, delete) so that no refresh can store them again.

use std::sync::Arc;

use crate::provider::{Clock, OAuthClient, TokenError, Tokens};
use crate::refresher::{
    Current, RefreshHold, RefreshTarget, SingleFlight, TokenProvider, TokenRefresher,
};
use crate::snapshot::Entry;
use crate::{Connections, Error, now_ms};
use switchboard_auth::{AuthConfig, Credentials, GrantType, Redactor};
use switchboard_model::records::{ConnectionRecord, ConnectionStatus, SecretChange};
use switchboard_model::time::rfc3339;
use switchboard_outbound::BoxFuture;
use switchboard_outbound::BrokerError;
use switchboard_store::{RecordUpdate, StoreError};

/// The broker's token refresher (see [`crate::refresher`]), and (tests) how many
/// `needs_reconnect` writes fail as a broken database would.
pub(crate) struct RefreshState {
    /// Keeps tokens fresh: the in-process single flight today; a cross-node lease
    /// implements the same trait next.
    refresher: Arc<dyn TokenRefresher<ConnectionTarget>>,
    /// The single flight behind `refresher` (clones share state): its clock is also the
    /// one sign-in expiry reads.
    flight: SingleFlight,
    #[cfg(test)]
    fail_marks: std::sync::atomic::AtomicUsize,
}

impl Default for RefreshState {
    fn default() -> Self {
        let flight = SingleFlight::default();
        Self {
            refresher: Arc::new(flight.clone()),
            flight,
            #[cfg(test)]
            fail_marks: std::sync::atomic::AtomicUsize::default(),
        }
    }
}

impl std::fmt::Debug for RefreshState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshState")
            .field("flight", &self.flight)
            .finish_non_exhaustive()
    }
}

impl RefreshState {
    pub(crate) fn clock(&self) -> Arc<dyn Clock> {
        self.flight.clock()
    }

    pub(crate) fn set_clock(&self, clock: Arc<dyn Clock>) {
        self.flight.set_clock(clock);
    }

    #[cfg(test)]
    fn take_injected_failure(&self) -> bool {
        use std::sync::atomic::Ordering;
        self.fail_marks
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }
}

impl Connections {
    /// Fresh OAuth 2 tokens for `link`: the stored ones while they are good, else one
    /// refresh for everyone waiting. With `stale`, the caller saw tokens of that
    /// generation rejected (401): refresh unless someone already did, or unless a
    /// refresh of this connection is too recent ([`MIN_TOKEN_AGE`]); then `Ok(None)`:
    /// the 401 stands (a wrong scope or endpoint does not make every call refresh).
    /// When a refresh before expiry fails or is backing off, the current access token
    /// is used while it is still valid. See [`TokenRefresher`] for the whole contract.
    pub(crate) async fn fresh_tokens(
        self: Arc<Self>,
        link: &str,
        stale: Option<&[u8]>,
    ) -> Result<Option<(Arc<Entry>, Tokens)>, BrokerError> {
        let target = Arc::new(ConnectionTarget {
            connections: self.clone(),
            link: link.to_owned(),
        });
        let fresh = self.refresh.refresher.fresh(target, stale).await?;
        Ok(fresh.map(|c| (c.at, c.tokens)))
    }

    /// Seals refreshed tokens against the credentials they came from (not the whole
    /// record): an edit of the display name or a status note meanwhile keeps the
    /// rotated refresh token; a revoke, reconnect or delete meanwhile wins.
    pub(crate) async fn store_refreshed(&self, entry: &Entry, tokens: Tokens) -> Result<(), Error> {
        let expected = entry.sealed.clone().ok_or_else(|| {
            Error::Conflict("the connection's credentials were erased meanwhile".into())
        })?;
        let names = Credentials::OAuth2(tokens.clone()).names();
        let (expires, granted) = (tokens.expires_at_ms, tokens.granted_scopes.clone());
        let plain = zeroize::Zeroizing::new(
            serde_json::to_vec(&Credentials::OAuth2(tokens)).expect("credentials serialise"),
        );
        let blob = self.sealer.seal(entry.record.id.as_bytes(), &plain);
        let now = now_ms();
        self.write(
            crate::snapshot::Touched::connection(&entry.record.link_name),
            async {
                self.store
                    .replace_credentials(
                        &entry.record.id,
                        expected,
                        Box::new(move |record| {
                            record.status_reason = None;
                            record.record_event("refreshed", None, now);
                            record.credential_names = names;
                            record.token_expires_at_ms = expires;
                            if let Some(g) = granted {
                                record.granted_scopes = g;
                            }
                            record.updated_at_ms = now;
                        }),
                        SecretChange::Set(blob),
                    )
                    .await?;
                Ok(())
            },
        )
        .await
    }

    /// After a definitive refusal: `needs_reconnect` with the tokens erased, written
    /// against the refused credentials (so a concurrent edit or note cannot make the
    /// write miss). When the credentials changed meanwhile, the refusal was about old
    /// ones and nothing is written (`Ok`); when the write fails, the error is returned
    /// (the refresher then backs off and logs it, never silently keeps it).
    async fn mark_needs_reconnect(
        &self,
        link: &str,
        entry: &Entry,
        why: &str,
    ) -> Result<(), Error> {
        let Some(expected) = entry.sealed.clone() else {
            return Ok(());
        };
        let why_owned = why.to_owned();
        #[cfg(test)]
        let fail = self.refresh.take_injected_failure();
        #[cfg(not(test))]
        let fail = false;
        let written = self
            .write(crate::snapshot::Touched::connection(link), async {
                if fail {
                    return Err(Error::Internal(anyhow::anyhow!("injected write failure")));
                }
                let now = now_ms();
                let update: RecordUpdate = Box::new(move |record| {
                    record.status = ConnectionStatus::NeedsReconnect;
                    record.status_reason = Some(why_owned.clone());
                    record.record_event("needs_reconnect", Some(&why_owned), now);
                    record.credential_names.clear();
                    record.updated_at_ms = now;
                });
                match self
                    .store
                    .replace_credentials(&entry.record.id, expected, update, SecretChange::Erase)
                    .await
                {
                    Ok(_) => Ok(true),
                    Err(StoreError::Stale(_) | StoreError::Missing(_)) => Ok(false),
                    Err(e) => Err(e.into()),
                }
            })
            .await?;
        if !written {
            tracing::info!(
                connection = link,
                "the refused credentials were replaced meanwhile; nothing to mark"
            );
        }
        Ok(())
    }

    /// Starts forgetting the OAuth 2 tokens of the connections `select` picks: takes
    /// their refresh locks (in id order, so two callers cannot deadlock; a refresh in
    /// flight finishes first) and reads the tokens to revoke, with the client as the
    /// service is now (before an edit). Erase locally while holding the result, then
    /// pass it to [`Self::finish_forget`]; dropping it instead (the erase failed)
    /// revokes nothing.
    pub(crate) async fn begin_forget(&self, pick: Forget<'_>) -> Forgetting {
        let snapshot = self.snapshot();
        let key = |e: &Arc<Entry>| (e.record.id.clone(), e.record.link_name.clone());
        let mut picked: Vec<(String, String)> = match pick {
            Forget::Nothing => Vec::new(),
            // One connection: a look-up, not a scan (a write stays O(log n)).
            Forget::Link(link) => snapshot
                .connections
                .get(link)
                .map(key)
                .into_iter()
                .collect(),
            Forget::Connection { link, id } => snapshot
                .connections
                .get(link)
                .filter(|e| e.record.id == id)
                .map(key)
                .into_iter()
                .collect(),
            // Every connection of a service (its edit, delete or client change).
            Forget::Service(service_id) => snapshot
                .connections
                .values()
                .filter(|e| e.record.service_id == service_id)
                .map(key)
                .collect(),
        };
        picked.sort();
        let mut guards = Vec::with_capacity(picked.len());
        for (id, _) in &picked {
            guards.push(self.refresh.refresher.hold(id).await);
        }
        // Read again under the locks: a refresh that just finished stored new tokens.
        let snapshot = self.snapshot();
        let pending = picked
            .iter()
            .filter_map(|(id, link)| {
                snapshot
                    .connections
                    .get(link)
                    .filter(|e| e.record.id == *id)
            })
            .filter_map(|e| self.revocation_of(e))
            .collect();
        Forgetting { guards, pending }
    }

    /// What to revoke at the provider for `entry`: its OAuth 2 tokens, when its service
    /// has a revocation endpoint.
    fn revocation_of(&self, entry: &Entry) -> Option<Forgotten> {
        let service = entry.service.as_deref()?;
        let Ok(Credentials::OAuth2(tokens)) = self.open_credentials(&entry.record.link_name, entry)
        else {
            return None;
        };
        let client = self.oauth_client(service, &entry.record.params).ok()?;
        client.revoke_url.as_ref()?;
        Some(Forgotten {
            link: entry.record.link_name.clone(),
            client,
            tokens,
        })
    }

    /// After the local erase is committed: releases the refresh locks, then revokes the
    /// tokens at the provider (RFC 7009; the refresh token, which takes the grant's
    /// access tokens with it, or else the access token). Best effort: all at once, each
    /// bounded by the revocation timeout, failures logged; the tokens are gone here
    /// whatever the provider says.
    pub(crate) async fn finish_forget(&self, forgetting: Forgetting) {
        let Forgetting { guards, pending } = forgetting;
        drop(guards);
        let revocations = pending.into_iter().map(|f| async move {
            let (token, is_refresh) = match &f.tokens.refresh_token {
                Some(r) => (r.as_secret(), true),
                None => (f.tokens.access_token.as_secret(), false),
            };
            match f.client.revoke(&self.http, token, is_refresh).await {
                Ok(true) => tracing::info!(connection = %f.link, "tokens revoked at the provider"),
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(connection = %f.link, error = %e, "revoking at the provider failed; the tokens are erased here")
                }
            }
        });
        futures_util::future::join_all(revocations).await;
    }
}

/// Tokens erased here, to revoke at the provider.
pub(crate) struct Forgotten {
    link: String,
    client: OAuthClient,
    tokens: Tokens,
}

/// Connections whose tokens are being erased: their refresh locks (no refresh can
/// store new tokens meanwhile) and what to revoke once the erase is committed.
/// Which connections [`Connections::begin_forget`] takes.
pub(crate) enum Forget<'a> {
    Nothing,
    /// The connection under a link name.
    Link(&'a str),
    /// The connection under a link name, if it is still the one with this id.
    Connection {
        link: &'a str,
        id: &'a str,
    },
    /// Every connection of the service with this id.
    Service(&'a str),
}

pub(crate) struct Forgetting {
    guards: Vec<RefreshHold>,
    pending: Vec<Forgotten>,
}

impl std::fmt::Debug for Forgetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forgetting")
            .field("locks", &self.guards.len())
            .field("to_revoke", &self.pending.len())
            .finish()
    }
}

/// One connection of the broker as the token refresher sees it (see [`RefreshTarget`]).
pub(crate) struct ConnectionTarget {
    connections: Arc<Connections>,
    link: String,
}

impl RefreshTarget for ConnectionTarget {
    type At = Arc<Entry>;

    fn name(&self) -> &str {
        &self.link
    }

    fn current(&self) -> Result<Current<Arc<Entry>>, BrokerError> {
        let link = &self.link;
        let this = &self.connections;
        let entry = this
            .snapshot()
            .connections
            .get(link)
            .cloned()
            .ok_or_else(|| {
                BrokerError::Unknown(format!("no connection has the link name `{link}`"))
            })?;
        if entry.record.status != ConnectionStatus::Connected {
            return Err(crate::broker::needs_reconnect(link, &entry.record));
        }
        match this.open_credentials(link, &entry)? {
            Credentials::OAuth2(tokens) => Ok(Current {
                connection_id: entry.record.id.clone(),
                generation: crate::broker::generation(&entry),
                tokens,
                at: entry,
            }),
            _ => Err(BrokerError::NeedsReconnect(format!(
                "connection `{link}` has credentials that do not fit its service; connect it again"
            ))),
        }
    }

    fn provider(&self, at: &Current<Arc<Entry>>) -> Result<Arc<dyn TokenProvider>, BrokerError> {
        let (link, entry) = (&self.link, &at.at);
        let service = entry.service.clone().ok_or_else(|| {
            BrokerError::NeedsReconnect(format!(
                "connection `{link}`'s service was deleted; connect it again"
            ))
        })?;
        let AuthConfig::OAuth2 { grant_type, .. } = &service.spec.auth else {
            return Err(BrokerError::NeedsReconnect(format!(
                "connection `{link}` is not an OAuth 2 connection"
            )));
        };
        let client = self
            .connections
            .oauth_client(&service, &entry.record.params)
            .map_err(|m| BrokerError::NeedsReconnect(format!("connection `{link}`: {m}")))?;
        let client_credentials = match grant_type {
            GrantType::ClientCredentials => Some(self.connections.scopes_of(entry, &service)),
            GrantType::AuthorizationCode => None,
        };
        Ok(Arc::new(ClientProvider {
            client,
            http: self.connections.http.clone(),
            client_credentials,
        }))
    }

    fn store<'a>(
        &'a self,
        at: &'a Current<Arc<Entry>>,
        tokens: Tokens,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(self.connections.store_refreshed(&at.at, tokens))
    }

    fn mark_needs_reconnect<'a>(
        &'a self,
        at: &'a Current<Arc<Entry>>,
        why: &'a str,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(
            self.connections
                .mark_needs_reconnect(&self.link, &at.at, why),
        )
    }
}

/// The token request of a connection through its [`OAuthClient`]: a refresh grant, or
/// (`client_credentials`, with the scopes) the client-credentials grant again.
struct ClientProvider {
    client: OAuthClient,
    http: switchboard_outbound::TokenHttp,
    client_credentials: Option<Vec<String>>,
}

impl TokenProvider for ClientProvider {
    fn request<'a>(&'a self, current: &'a Tokens) -> BoxFuture<'a, Result<Tokens, TokenError>> {
        Box::pin(async move {
            let result = match &self.client_credentials {
                Some(scopes) => self.client.client_credentials(&self.http, scopes).await,
                None => self.client.refresh(&self.http, current).await,
            };
            // A provider's `error_description` is its own text and may quote the client
            // secret or a token back: redacted before it becomes a status reason or
            // reaches a function.
            result.map_err(|e| redact_token_error(e, &self.client, current))
        })
    }
}

/// The OAuth parts of a connection summary.
pub(crate) fn token_expiry(record: &ConnectionRecord) -> Option<String> {
    record.token_expires_at_ms.map(rfc3339)
}

/// `e` with the client secret and `tokens` replaced wherever the provider quoted them.
pub(crate) fn redact_token_error(
    e: TokenError,
    client: &OAuthClient,
    tokens: &Tokens,
) -> TokenError {
    let mut r = Redactor::default();
    if let Some(secret) = &client.client_secret {
        r.add(secret.expose().as_bytes());
    }
    r.add(tokens.access_token.expose().as_bytes());
    if let Some(refresh) = &tokens.refresh_token {
        r.add(refresh.expose().as_bytes());
    }
    let clean = |mut m: String| {
        r.redact_string(&mut m);
        m
    };
    match e {
        TokenError::InvalidGrant(m) => TokenError::InvalidGrant(clean(m)),
        TokenError::Rejected(m) => TokenError::Rejected(clean(m)),
        TokenError::Transient(m) => TokenError::Transient(clean(m)),
        TokenError::Config(m) => TokenError::Config(clean(m)),
    }
}

#[cfg(test)]
mod redaction_tests {
    use super::*;
    use switchboard_auth::ClientAuth;

    #[test]
    fn a_provider_quoting_secrets_in_its_error_is_redacted() {
        let client = OAuthClient {
            client_id: "cid".into(),
            client_secret: Some(switchboard_model::ClientSecret::new("cs-canary/+")),
            authorize_url: None,
            token_url: "https://auth.example.com/token".into(),
            refresh_url: "https://auth.example.com/token".into(),
            revoke_url: None,
            client_auth: ClientAuth::Basic,
            scope_delimiter: " ".into(),
            clock: Arc::new(crate::provider::SystemClock),
        };
        let tokens = Tokens {
            access_token: switchboard_model::AccessToken::new("at-canary"),
            refresh_token: Some(switchboard_model::RefreshToken::new("rt-canary")),
            expires_at_ms: None,
            issued_at_ms: None,
            granted_scopes: None,
        };
        for e in [
            TokenError::Rejected("invalid_client: secret cs-canary%2F%2B is wrong".into()),
            TokenError::InvalidGrant(": rt-canary was used".into()),
            TokenError::Transient("slow_down: at-canary".into()),
        ] {
            let shown = redact_token_error(e, &client, &tokens).to_string();
            assert!(!shown.contains("canary"), "{shown}");
            assert!(shown.contains("[redacted]"), "{shown}");
        }
    }
}

#[cfg(test)]
mod refresh_tests {
    //! The refresh state machine against a provider on loopback, with a manual clock:
    //! no test waits on the wall clock.

    use std::collections::BTreeMap;
    use std::time::Duration;

    use crate::refresher::MIN_TOKEN_AGE;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use switchboard_model::Principal;

    use axum::extract::State;
    use axum::http::StatusCode;
    use serde_json::{Value, json};
    use tokio::sync::{Notify, Semaphore};

    use std::sync::Mutex;

    use super::*;
    use crate::{ConnectionEdit, NewConnection, ServiceDefinition};
    use switchboard_model::ManualClock;
    use switchboard_store::{MasterKey, RedbStore, Sealer};

    const CLIENT_SECRET: &str = "cs/CANARY+secret=1";

    /// How `/token` answers.
    #[derive(Debug, Clone)]
    enum Answer {
        /// New tokens, the refresh token rotated: `at-N`, `rt-N` for the N-th request.
        Rotate,
        /// This status and JSON body.
        Fail(u16, Value),
    }

    #[derive(Debug)]
    struct Provider {
        calls: AtomicUsize,
        /// Each request's form body.
        bodies: Mutex<Vec<String>>,
        arrived: Notify,
        /// A request waits for a permit before answering.
        gate: Semaphore,
        answer: Mutex<Answer>,
    }

    async fn token(
        State(p): State<Arc<Provider>>,
        body: String,
    ) -> (StatusCode, axum::Json<Value>) {
        let n = p.calls.fetch_add(1, Ordering::SeqCst) + 1;
        p.bodies.lock().unwrap().push(body);
        p.arrived.notify_one();
        p.gate.acquire().await.unwrap().forget();
        match p.answer.lock().unwrap().clone() {
            Answer::Rotate => (
                StatusCode::OK,
                axum::Json(json!({
                    "access_token": format!("at-{n}"), "token_type": "Bearer",
                    "expires_in": 3600, "refresh_token": format!("rt-{n}"),
                })),
            ),
            Answer::Fail(status, body) => (StatusCode::from_u16(status).unwrap(), axum::Json(body)),
        }
    }

    struct Setup {
        _dir: tempfile::TempDir,
        c: Arc<Connections>,
        clock: Arc<ManualClock>,
        provider: Arc<Provider>,
    }

    impl Setup {
        /// A connection `main` holding `at-0`/`rt-0`, issued now and valid an hour.
        async fn new() -> Self {
            let provider = Arc::new(Provider {
                calls: AtomicUsize::new(0),
                bodies: Mutex::default(),
                arrived: Notify::new(),
                gate: Semaphore::new(Semaphore::MAX_PERMITS),
                answer: Mutex::new(Answer::Rotate),
            });
            let app = axum::Router::new()
                .route("/token", axum::routing::post(token))
                .with_state(provider.clone());
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let origin = format!("http://{}", listener.local_addr().unwrap());
            tokio::spawn(async move { axum::serve(listener, app).await });

            let dir = tempfile::tempdir().unwrap();
            let store = RedbStore::open(&dir.path().join("db.redb"))
                .unwrap()
                .repositories();
            let c = Connections::new(
                store,
                Sealer::new(&MasterKey::generate()),
                // The provider is on loopback.
                switchboard_outbound::TokenHttp::new(&switchboard_outbound::OutboundConfig {
                    allow_private_networks: true,
                    ..Default::default()
                })
                .unwrap(),
            )
            .await
            .unwrap();
            let clock = Arc::new(ManualClock::default());
            c.set_clock(clock.clone());
            let def: ServiceDefinition = serde_json::from_value(json!({
                "link_name": "prov", "display_name": "Provider",
                "auth": {
                    "type": "oauth2", "client_id": "cid",
                    "authorize_url": format!("{origin}/authorize"),
                    "access_token_url": format!("{origin}/token"),
                    "grant_type": "authorization_code", "client_auth": "basic",
                },
                "client_secret": CLIENT_SECRET,
                "api_origins": ["https://api.example.com"],
            }))
            .unwrap();
            c.create_service(def, &Principal::User("ada".into()))
                .await
                .unwrap();
            c.create_connection(
                NewConnection {
                    link_name: "main".into(),
                    display_name: "Main".into(),
                    service: "prov".into(),
                    params: BTreeMap::new(),
                    scopes: vec![],
                    authorize_params: BTreeMap::new(),
                    grant_to: vec![],
                },
                &Principal::User("ada".into()),
            )
            .await
            .unwrap();
            let now = clock.now_ms();
            let tokens = Tokens {
                access_token: switchboard_model::AccessToken::new("at-0"),
                refresh_token: Some(switchboard_model::RefreshToken::new("rt-0")),
                expires_at_ms: Some(now + 3_600_000),
                issued_at_ms: Some(now),
                granted_scopes: None,
            };
            let entry = c.entry("main").unwrap();
            c.store_tokens(&entry, tokens, true).await.unwrap();
            Self {
                _dir: dir,
                c,
                clock,
                provider,
            }
        }

        fn calls(&self) -> usize {
            self.provider.calls.load(Ordering::SeqCst)
        }

        fn answer(&self, answer: Answer) {
            *self.provider.answer.lock().unwrap() = answer;
        }

        /// The next token requests wait until [`Self::release`].
        fn hold(&self) {
            let permits = self.provider.gate.available_permits();
            self.provider.gate.forget_permits(permits);
        }

        fn release(&self) {
            self.provider.gate.add_permits(1);
        }

        fn generation(&self) -> Vec<u8> {
            crate::broker::generation(&self.c.entry("main").unwrap()).unwrap()
        }

        /// The stored tokens.
        fn stored(&self) -> Tokens {
            let entry = self.c.entry("main").unwrap();
            match self.c.open_credentials("main", &entry).unwrap() {
                Credentials::OAuth2(t) => t,
                other => panic!("{other:?}"),
            }
        }

        /// The access token a request would use now (`None`: the 401 stands).
        async fn fresh(&self, stale: Option<&[u8]>) -> Result<Option<String>, BrokerError> {
            self.c
                .clone()
                .fresh_tokens("main", stale)
                .await
                .map(|t| t.map(|(_, t)| t.access_token.expose().to_owned()))
        }

        /// Moves the clock to `left` before the stored access token expires.
        fn leave(&self, left: Duration) {
            let expires = self.stored().expires_at_ms.unwrap();
            let target = expires - left.as_millis() as u64;
            self.clock
                .advance(Duration::from_millis(target - self.clock.now_ms()));
        }
    }

    #[tokio::test]
    async fn an_edit_during_a_refresh_keeps_the_rotated_refresh_token() {
        let s = Setup::new().await;
        s.hold();
        s.leave(Duration::from_secs(30));
        let c = s.c.clone();
        let refresh = tokio::spawn(async move { c.fresh_tokens("main", None).await });
        s.provider.arrived.notified().await;
        // While the provider answers: an edit and a status note change the record.
        s.c.edit_connection(
            "main",
            ConnectionEdit {
                display_name: Some("Renamed".into()),
                params: None,
            },
        )
        .await
        .unwrap();
        let entry = s.c.entry("main").unwrap();
        s.c.note_failed(&entry, "a sign-in was denied").await;
        s.release();
        let (_, tokens) = refresh.await.unwrap().unwrap().unwrap();
        assert_eq!(tokens.access_token.expose(), "at-1");
        let stored = s.stored();
        assert_eq!(
            stored.refresh_token.unwrap().expose(),
            "rt-1",
            "rotated token kept"
        );
        let view = s.c.show_connection("main").unwrap();
        assert_eq!(view.display_name, "Renamed");
        assert_eq!(view.status, "connected");
        let events: Vec<&str> = view.history.iter().map(|h| h.event.as_str()).collect();
        assert_eq!(events, ["created", "connected", "failed", "refreshed"]);
        // The next refresh presents the rotated token.
        s.release();
        s.leave(Duration::from_secs(30));
        assert_eq!(s.fresh(None).await.unwrap().as_deref(), Some("at-2"));
        assert!(s.provider.bodies.lock().unwrap()[1].contains("refresh_token=rt-1"));
    }

    /// A failed sign-in on a connected connection: the provider's text may quote the
    /// tokens it issued; they are redacted from the reason and the history.
    #[tokio::test]
    async fn a_failed_sign_in_quoting_the_tokens_is_redacted() {
        let s = Setup::new().await;
        let entry = s.c.entry("main").unwrap();
        s.c.note_failed(
            &entry,
            "the provider did not grant access (x: at-0 and rt-0)",
        )
        .await;
        let view = s.c.show_connection("main").unwrap();
        let shown = serde_json::to_string(&view).unwrap();
        assert!(
            !shown.contains("at-0") && !shown.contains("rt-0"),
            "{shown}"
        );
        assert!(shown.contains("x: [redacted] and [redacted]"), "{shown}");
    }

    /// Revoke takes the refresh lock: it waits for a refresh in flight, then erases what
    /// that refresh stored (no refresh can store tokens after the erase).
    #[tokio::test]
    async fn a_revoke_during_a_refresh_erases_what_the_refresh_stored() {
        let s = Setup::new().await;
        s.hold();
        s.leave(Duration::from_secs(30));
        let c = s.c.clone();
        let refresh = tokio::spawn(async move { c.fresh_tokens("main", None).await });
        s.provider.arrived.notified().await;
        let c = s.c.clone();
        let revoke = tokio::spawn(async move { c.revoke("main").await });
        tokio::task::yield_now().await;
        assert!(
            !revoke.is_finished(),
            "revoke waits for the refresh in flight"
        );
        s.release();
        let (_, tokens) = refresh.await.unwrap().unwrap().unwrap();
        assert_eq!(tokens.access_token.expose(), "at-1");
        let view = revoke.await.unwrap().unwrap();
        assert_eq!(view.status, "revoked");
        assert!(
            s.c.entry("main").unwrap().sealed.is_none(),
            "the refreshed tokens are erased too"
        );
        let e = s.fresh(None).await.unwrap_err();
        assert!(matches!(e, BrokerError::NeedsReconnect(_)), "{e:?}");
        assert_eq!(s.calls(), 1);
    }

    #[tokio::test]
    async fn a_401_refreshes_at_most_once_per_window() {
        let s = Setup::new().await;
        // Tokens just issued: a 401 is not about them; it stands.
        let g0 = s.generation();
        assert_eq!(s.fresh(Some(&g0)).await.unwrap(), None);
        assert_eq!(s.calls(), 0);
        // Old enough: one refresh.
        s.clock.advance(MIN_TOKEN_AGE);
        assert_eq!(s.fresh(Some(&g0)).await.unwrap().as_deref(), Some("at-1"));
        assert_eq!(s.calls(), 1);
        // Someone holding the old generation gets the new tokens without a refresh.
        assert_eq!(s.fresh(Some(&g0)).await.unwrap().as_deref(), Some("at-1"));
        // The new tokens refused too (a wrong scope): the 401 stands for the window.
        let g1 = s.generation();
        for _ in 0..20 {
            assert_eq!(s.fresh(Some(&g1)).await.unwrap(), None);
        }
        s.clock.advance(MIN_TOKEN_AGE - Duration::from_millis(1));
        assert_eq!(s.fresh(Some(&g1)).await.unwrap(), None);
        assert_eq!(s.calls(), 1);
        s.clock.advance(Duration::from_millis(1));
        assert_eq!(s.fresh(Some(&g1)).await.unwrap().as_deref(), Some("at-2"));
        assert_eq!(s.calls(), 2);
        // Tokens without an issue time still get one refresh per window.
        let g2 = s.generation();
        s.clock.advance(MIN_TOKEN_AGE / 2);
        assert_eq!(s.fresh(Some(&g2)).await.unwrap(), None);
        assert_eq!(s.calls(), 2);
    }

    #[tokio::test]
    async fn callers_refused_during_a_refresh_after_a_401_get_its_tokens() {
        let s = Setup::new().await;
        s.clock.advance(MIN_TOKEN_AGE);
        s.hold();
        let g0 = s.generation();
        let spawn = |g: Vec<u8>| {
            let c = s.c.clone();
            tokio::spawn(async move {
                c.fresh_tokens("main", Some(&g))
                    .await
                    .map(|t| t.map(|(_, t)| t.access_token.expose().to_owned()))
            })
        };
        let first = spawn(g0.clone());
        s.provider.arrived.notified().await;
        // Refused with the same tokens while the refresh is in flight: they wait for it.
        let others: Vec<_> = (0..5).map(|_| spawn(g0.clone())).collect();
        tokio::task::yield_now().await;
        s.release();
        assert_eq!(first.await.unwrap().unwrap().as_deref(), Some("at-1"));
        for other in others {
            assert_eq!(other.await.unwrap().unwrap().as_deref(), Some("at-1"));
        }
        assert_eq!(s.calls(), 1);
    }

    #[tokio::test]
    async fn a_failed_refresh_before_expiry_keeps_using_the_valid_token() {
        let s = Setup::new().await;
        s.answer(Answer::Fail(
            503,
            json!({"error": "temporarily_unavailable"}),
        ));
        s.leave(Duration::from_millis(1700));
        assert_eq!(s.fresh(None).await.unwrap().as_deref(), Some("at-0"));
        assert_eq!(s.calls(), 1);
        // Backing off: still the valid token, and the provider is left alone.
        assert_eq!(s.fresh(None).await.unwrap().as_deref(), Some("at-0"));
        assert_eq!(s.calls(), 1);
        // Within the skew of its expiry it is no longer used.
        s.clock.advance(Duration::from_millis(1000));
        let e = s.fresh(None).await.unwrap_err();
        assert!(
            matches!(&e, BrokerError::Unavailable(m) if m.contains("next try")),
            "{e:?}"
        );
        // Expired, back-off over, the endpoint still down: the call fails.
        s.clock.advance(Duration::from_secs(2));
        let e = s.fresh(None).await.unwrap_err();
        assert!(matches!(e, BrokerError::Unavailable(_)), "{e:?}");
        assert_eq!(s.calls(), 2);
        // A token the API refused is not used as a fallback.
        s.answer(Answer::Rotate);
        s.clock.advance(Duration::from_secs(5));
        assert_eq!(s.fresh(None).await.unwrap().as_deref(), Some("at-3"));
        assert_eq!(s.c.show_connection("main").unwrap().status, "connected");
    }

    #[tokio::test]
    async fn invalid_grant_during_an_edit_still_marks_needs_reconnect() {
        let s = Setup::new().await;
        s.answer(Answer::Fail(400, json!({"error": "invalid_grant"})));
        s.hold();
        s.leave(Duration::from_secs(30));
        let c = s.c.clone();
        let refresh = tokio::spawn(async move { c.fresh_tokens("main", None).await });
        s.provider.arrived.notified().await;
        let entry = s.c.entry("main").unwrap();
        s.c.note_failed(&entry, "a sign-in was denied").await;
        s.release();
        let e = refresh.await.unwrap().unwrap_err();
        assert!(
            matches!(&e, BrokerError::NeedsReconnect(m) if m.contains("invalid_grant")),
            "{e:?}"
        );
        let view = s.c.show_connection("main").unwrap();
        assert_eq!(view.status, "needs_reconnect", "{view:?}");
        assert!(view.credentials.is_empty());
        assert!(
            s.c.entry("main").unwrap().sealed.is_none(),
            "dead tokens erased"
        );
        let e = s.fresh(None).await.unwrap_err();
        assert!(matches!(e, BrokerError::NeedsReconnect(_)), "{e:?}");
        assert_eq!(s.calls(), 1);
    }

    #[tokio::test]
    async fn a_needs_reconnect_that_cannot_be_written_backs_off() {
        let s = Setup::new().await;
        s.answer(Answer::Fail(400, json!({"error": "invalid_grant"})));
        s.c.refresh.fail_marks.store(1, Ordering::SeqCst);
        s.leave(Duration::ZERO);
        let e = s.fresh(None).await.unwrap_err();
        assert!(matches!(e, BrokerError::NeedsReconnect(_)), "{e:?}");
        assert_eq!(s.c.show_connection("main").unwrap().status, "connected");
        // Not a silent dead state: no token request until the back-off ends.
        assert!(
            s.c.refresh
                .flight
                .backoff(&s.c.entry("main").unwrap().record.id)
                .is_some()
        );
        let e = s.fresh(None).await.unwrap_err();
        assert!(
            matches!(&e, BrokerError::Unavailable(m) if m.contains("next try")),
            "{e:?}"
        );
        assert_eq!(s.calls(), 1);
        // After it, the refusal is written.
        s.clock.advance(Duration::from_secs(3));
        let e = s.fresh(None).await.unwrap_err();
        assert!(matches!(e, BrokerError::NeedsReconnect(_)), "{e:?}");
        assert_eq!(
            s.c.show_connection("main").unwrap().status,
            "needs_reconnect"
        );
        assert_eq!(s.calls(), 2);
    }

    #[tokio::test]
    async fn a_provider_quoting_the_client_secret_is_redacted_everywhere() {
        let s = Setup::new().await;
        let form: String = url::form_urlencoded::byte_serialize(CLIENT_SECRET.as_bytes()).collect();
        let json = serde_json::to_string(CLIENT_SECRET).unwrap();
        s.answer(Answer::Fail(
            401,
            json!({
                "error": "invalid_client",
                "error_description": format!(
                    "client_secret {CLIENT_SECRET} / {form} / {json} / refresh rt-0 / at-0 is wrong"
                ),
            }),
        ));
        s.leave(Duration::ZERO);
        let e = s.fresh(None).await.unwrap_err().to_string();
        let view = serde_json::to_string(&s.c.show_connection("main").unwrap()).unwrap();
        for text in [&e, &view] {
            assert!(text.contains("invalid_client"), "{text}");
            assert!(!text.contains("CANARY"), "{text}");
            assert!(!text.contains("rt-0") && !text.contains("at-0"), "{text}");
        }
    }
}
