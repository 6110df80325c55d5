//! Keeping OAuth 2 tokens fresh: the [`TokenRefresher`] contract the broker asks ("tokens
//! fresher than the generation the API refused, for this connection"), the seams a
//! refresh goes through ([`RefreshTarget`]: reading and writing one connection's
//! credentials; [`TokenProvider`]: the token request), and the first implementation,
//! [`SingleFlight`]: one refresh per connection at a time within this process.
//!
//! A refresher never touches HTTP or the store itself, so its state machine is tested
//! with a fake provider and a fake target (see the tests below).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use switchboard_model::Error;
use switchboard_outbound::{BoxFuture, BrokerError};

use crate::provider::{Clock, SystemClock, TokenError, Tokens};

/// An access token this close to its expiry is refreshed before use.
pub(crate) const REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// Longest wait after repeated transient token-endpoint failures.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// After a 401, the tokens are refreshed only if they are at least this old and no
/// other refresh after a 401 happened this recently: a 401 that is not about the token
/// (a wrong scope or endpoint) reaches the function instead of a refresh per call.
pub const MIN_TOKEN_AGE: Duration = Duration::from_secs(30);

/// A connection's credentials as read: its id, the generation of its sealed
/// credentials (which changes with every write of them: a refresh, a reconnect, a
/// revoke), its tokens, and whatever else the target hands back with them (`at`).
#[derive(Debug, Clone)]
pub(crate) struct Current<A> {
    /// The connection id: what single flight, back-off and leases are keyed by.
    pub connection_id: String,
    /// The generation of the stored credentials; `None` when none are stored.
    pub generation: Option<Vec<u8>>,
    /// The stored tokens.
    pub tokens: Tokens,
    /// The target's own record of the connection (the broker's snapshot entry).
    pub at: A,
}

/// The token request of one connection (a refresh grant, or client credentials again).
/// Errors are already redacted: no token or client secret in their text.
pub(crate) trait TokenProvider: Send + Sync {
    /// New tokens in exchange for `current`.
    fn request<'a>(&'a self, current: &'a Tokens) -> BoxFuture<'a, Result<Tokens, TokenError>>;
}

/// One connection as a refresher sees it: read its credentials, make its token
/// provider, write refreshed tokens, and mark it `needs_reconnect`.
pub(crate) trait RefreshTarget: Send + Sync + 'static {
    /// What [`Self::current`] hands back besides the tokens.
    type At: Clone + Send + Sync + 'static;
    /// The connection's name in messages (its link name).
    fn name(&self) -> &str;
    /// The stored credentials now; an error when the connection is gone, not connected
    /// or its credentials do not open.
    fn current(&self) -> Result<Current<Self::At>, BrokerError>;
    /// The provider to refresh `at` with; an error means the connection needs to be
    /// connected again (its service changed or was deleted).
    fn provider(&self, at: &Current<Self::At>) -> Result<Arc<dyn TokenProvider>, BrokerError>;
    /// Stores `tokens` only while the stored credentials are still those of `at` (its
    /// generation); otherwise (a reconnect, revoke or delete meanwhile) nothing is
    /// written and the answer is an error: the newer credentials win.
    fn store<'a>(
        &'a self,
        at: &'a Current<Self::At>,
        tokens: Tokens,
    ) -> BoxFuture<'a, Result<(), Error>>;
    /// After a definitive refusal: `needs_reconnect` with the credentials erased, only
    /// while they are still those of `at` (when they changed, nothing is written and the
    /// answer is `Ok`). An error means the write failed.
    fn mark_needs_reconnect<'a>(
        &'a self,
        at: &'a Current<Self::At>,
        why: &'a str,
    ) -> BoxFuture<'a, Result<(), Error>>;
}

/// Held while no refresh of a connection may store tokens (a revoke or delete erasing
/// them); dropping it lets refreshes run again.
pub(crate) struct RefreshHold(#[allow(dead_code)] Box<dyn Send + Sync>);

impl std::fmt::Debug for RefreshHold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshHold")
    }
}

/// What the broker asks when a connection's tokens are expiring, or an API answered
/// 401 to the tokens of a generation: "tokens fresher than generation G for connection
/// C". The contract every implementation keeps (the in-process [`SingleFlight`] today,
/// a cross-node lease in a shared database next):
///
/// - **Who calls the provider.** At most one caller per connection at a time, across
///   everyone the implementation covers (a process; a cluster for a lease). That caller
///   re-reads the credentials once it is the one, and asks the provider only if they
///   still need it: tokens someone else refreshed meanwhile are simply returned.
/// - **What waiters get.** Whoever waited for a refresh in flight gets what it stored
///   (read again after it ended), never a second provider request for the same expiry.
///   With `stale`, the caller saw that generation refused: if it is no longer the stored
///   one, the stored tokens are returned; if it is, and the tokens were issued or
///   refreshed after a 401 less than [`MIN_TOKEN_AGE`] ago, the answer is `Ok(None)`:
///   the 401 stands.
/// - **Errors and back-off.** A transient failure sets the connection's back-off (next
///   attempt time and reason, doubling up to [`MAX_BACKOFF`]); until then nobody asks the
///   provider, and callers get the current access token while it is valid and not
///   refused, else [`BrokerError::Unavailable`]. A definitive refusal (`invalid_grant`,
///   `invalid_client`, a bad configuration) marks the connection `needs_reconnect`
///   (erasing its tokens) and answers [`BrokerError::NeedsReconnect`]; no request follows,
///   as the connection is no longer connected. If that mark cannot be written, the
///   connection backs off instead.
/// - **A conflicting write.** Refreshed tokens are stored only against the generation
///   they were refreshed from. If the credentials changed during the refresh (a
///   reconnect, a revoke), the result is discarded, the newer credentials stay, and the
///   caller gets [`BrokerError::Unavailable`] (trying again reads the new ones).
/// - **Rotation.** A rotated refresh token is stored before the new access token is
///   returned to anyone; the refresh completes even when the caller that started it is
///   cancelled.
pub(crate) trait TokenRefresher<T: RefreshTarget>: Send + Sync {
    /// Fresh tokens for `target`, or `Ok(None)` when the 401 on `stale` stands.
    fn fresh<'a>(
        &'a self,
        target: Arc<T>,
        stale: Option<&'a [u8]>,
    ) -> BoxFuture<'a, Result<Option<Current<T::At>>, BrokerError>>;

    /// Waits until no refresh of `connection_id` runs, and keeps any from storing until
    /// the hold is dropped.
    fn hold(&self, connection_id: &str) -> BoxFuture<'static, RefreshHold>;
}

/// What a connection's tokens need before a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// They are good.
    Nothing,
    /// The API refused them but they were refreshed too recently: the 401 stands.
    Stands,
    /// A refresh: before expiry, or (`rejected`) after the API refused them.
    Refresh { rejected: bool },
}

/// A connection's back-off after failed refreshes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Backoff {
    /// Failures in a row.
    pub failures: u32,
    /// No token request before this time (clock ms).
    pub next_attempt_ms: u64,
    /// Why the last attempt failed (redacted).
    pub reason: String,
}

/// The in-process [`TokenRefresher`]: per connection id, an async lock held from the
/// decision to refresh until the result is stored (single flight), back-off after
/// failures, when the last refresh after a 401 started, and the clock all of it reads.
/// Cheap to clone; clones share state.
#[derive(Debug, Clone, Default)]
pub(crate) struct SingleFlight {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    clock: RwLock<Arc<dyn Clock>>,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    backoff: Mutex<HashMap<String, Backoff>>,
    /// When the last refresh after a 401 started (clock ms).
    reactive: Mutex<HashMap<String, u64>>,
}

impl Default for Inner {
    fn default() -> Self {
        Self {
            clock: RwLock::new(Arc::new(SystemClock)),
            locks: Mutex::default(),
            backoff: Mutex::default(),
            reactive: Mutex::default(),
        }
    }
}

impl SingleFlight {
    /// The clock expiry, back-off and the minimum token age are read from.
    pub(crate) fn clock(&self) -> Arc<dyn Clock> {
        self.inner.clock.read().expect("lock poisoned").clone()
    }

    /// Replaces the clock (tests).
    pub(crate) fn set_clock(&self, clock: Arc<dyn Clock>) {
        *self.inner.clock.write().expect("lock poisoned") = clock;
    }

    /// The back-off of `connection_id`, if it has one (also after it ran out).
    #[cfg(test)]
    pub(crate) fn backoff(&self, connection_id: &str) -> Option<Backoff> {
        self.inner
            .backoff
            .lock()
            .expect("lock poisoned")
            .get(connection_id)
            .cloned()
    }

    fn now(&self) -> u64 {
        self.clock().now_ms()
    }

    fn lock(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.inner
            .locks
            .lock()
            .expect("lock poisoned")
            .entry(id.to_owned())
            .or_default()
            .clone()
    }

    fn need<A>(&self, current: &Current<A>, stale: Option<&[u8]>) -> Need {
        let now = self.now();
        let tokens = &current.tokens;
        let rejected = stale.is_some_and(|g| Some(g) == current.generation.as_deref());
        if tokens.expiring(now, REFRESH_MARGIN) {
            return Need::Refresh { rejected };
        }
        if !rejected {
            return Need::Nothing;
        }
        let last_reactive = self
            .inner
            .reactive
            .lock()
            .expect("lock poisoned")
            .get(&current.connection_id)
            .copied();
        let since = tokens
            .issued_at_ms
            .unwrap_or(0)
            .max(last_reactive.unwrap_or(0));
        if now >= since.saturating_add(MIN_TOKEN_AGE.as_millis() as u64) {
            Need::Refresh { rejected }
        } else {
            Need::Stands
        }
    }

    fn note_reactive(&self, id: &str) {
        let now = self.now();
        self.inner
            .reactive
            .lock()
            .expect("lock poisoned")
            .insert(id.to_owned(), now);
    }

    fn backing_off(&self, id: &str) -> Option<Duration> {
        let now = self.now();
        let map = self.inner.backoff.lock().expect("lock poisoned");
        map.get(id)
            .filter(|b| b.next_attempt_ms > now)
            .map(|b| Duration::from_millis(b.next_attempt_ms - now))
    }

    fn note_failure(&self, id: &str, reason: String) -> Duration {
        let now = self.now();
        let mut map = self.inner.backoff.lock().expect("lock poisoned");
        let b = map.entry(id.to_owned()).or_insert(Backoff {
            failures: 0,
            next_attempt_ms: now,
            reason: String::new(),
        });
        b.failures += 1;
        let wait = Duration::from_secs(1 << b.failures.min(9)).min(MAX_BACKOFF);
        b.next_attempt_ms = now + wait.as_millis() as u64;
        b.reason = reason;
        wait
    }

    fn clear_backoff(&self, id: &str) {
        self.inner.backoff.lock().expect("lock poisoned").remove(id);
    }

    async fn fresh_inner<T: RefreshTarget>(
        &self,
        target: Arc<T>,
        stale: Option<&[u8]>,
    ) -> Result<Option<Current<T::At>>, BrokerError> {
        let current = target.current()?;
        if self.need(&current, stale) == Need::Nothing {
            return Ok(Some(current));
        }
        // One refresh per connection at a time; whoever waited re-reads what it stored
        // (so "the 401 stands" is decided only after a refresh in flight has ended).
        let guard = self.lock(&current.connection_id).lock_owned().await;
        let current = target.current()?;
        let rejected = match self.need(&current, stale) {
            Need::Nothing => return Ok(Some(current)),
            Need::Stands => return Ok(None),
            Need::Refresh { rejected } => rejected,
        };
        let id = current.connection_id.clone();
        let link = target.name().to_owned();
        // Tokens the API did not refuse and that have not expired yet still serve when
        // no new ones can be had.
        let still_usable = |tokens: &Tokens| !rejected && tokens.usable(self.now());
        if let Some(wait) = self.backing_off(&id) {
            if still_usable(&current.tokens) {
                return Ok(Some(current));
            }
            return Err(BrokerError::Unavailable(format!(
                "the token endpoint of connection `{link}` failed recently; the next try is in {} s",
                wait.as_secs().max(1)
            )));
        }
        if rejected {
            self.note_reactive(&id);
        }
        // The refresh runs in its own task holding the lock: if this call is cancelled
        // (its deadline), the refresh still completes and its rotated refresh token is
        // stored before anyone uses the new access token.
        let this = self.clone();
        let (old_generation, old_tokens) = (current.generation.clone(), current.tokens.clone());
        let task_target = target.clone();
        let result = tokio::spawn(async move {
            let _guard = guard;
            this.refresh(&*task_target, current).await
        })
        .await
        .map_err(|e| BrokerError::Unavailable(format!("the token refresh failed: {e}")))?;
        match result {
            // Only while they are still the stored credentials: not after a revoke.
            Err(BrokerError::Unavailable(why)) if still_usable(&old_tokens) => {
                match target.current() {
                    Ok(current) if current.generation == old_generation => {
                        tracing::info!(
                            connection = link,
                            reason = %why,
                            "using the current access token until it expires"
                        );
                        Ok(Some(current))
                    }
                    _ => Err(BrokerError::Unavailable(why)),
                }
            }
            other => other.map(Some),
        }
    }

    /// One provider request for `current`, its result stored (or the connection marked),
    /// under the connection's lock.
    async fn refresh<T: RefreshTarget>(
        &self,
        target: &T,
        current: Current<T::At>,
    ) -> Result<Current<T::At>, BrokerError> {
        let link = target.name();
        let provider = target.provider(&current)?;
        let result = provider.request(&current.tokens).await;
        let id = &current.connection_id;
        match result {
            Ok(new) => {
                self.clear_backoff(id);
                if let Err(e) = target.store(&current, new).await {
                    tracing::warn!(connection = link, error = %e, "the refreshed tokens were not stored");
                    return Err(BrokerError::Unavailable(format!(
                        "connection `{link}` changed during its token refresh ({e}); try again"
                    )));
                }
                tracing::info!(connection = link, "access token refreshed");
                target.current()
            }
            Err(
                e @ (TokenError::InvalidGrant(_) | TokenError::Rejected(_) | TokenError::Config(_)),
            ) => {
                let why = format!("token refresh failed: {e}; connect again");
                tracing::warn!(connection = link, reason = %e, "refresh refused; the connection needs to be connected again");
                if let Err(err) = target.mark_needs_reconnect(&current, &why).await {
                    let wait = self.note_failure(id, why.clone());
                    tracing::error!(
                        connection = link,
                        error = %err,
                        retry_in_s = wait.as_secs(),
                        "could not record that the connection needs to be connected again; backing off"
                    );
                }
                Err(BrokerError::NeedsReconnect(format!(
                    "connection `{link}`: {why}"
                )))
            }
            Err(e @ TokenError::Transient(_)) => {
                let wait = self.note_failure(id, e.to_string());
                tracing::warn!(connection = link, error = %e, retry_in_s = wait.as_secs(), "token refresh failed; backing off");
                Err(BrokerError::Unavailable(format!(
                    "connection `{link}`: {e}; the next try is in {} s",
                    wait.as_secs().max(1)
                )))
            }
        }
    }
}

impl<T: RefreshTarget> TokenRefresher<T> for SingleFlight {
    fn fresh<'a>(
        &'a self,
        target: Arc<T>,
        stale: Option<&'a [u8]>,
    ) -> BoxFuture<'a, Result<Option<Current<T::At>>, BrokerError>> {
        Box::pin(self.fresh_inner(target, stale))
    }

    fn hold(&self, connection_id: &str) -> BoxFuture<'static, RefreshHold> {
        let lock = self.lock(connection_id);
        Box::pin(async move { RefreshHold(Box::new(lock.lock_owned().await)) })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::sync::{Notify, Semaphore};

    use super::*;
    use switchboard_model::ManualClock;

    const HOUR_MS: u64 = 3_600_000;

    fn tokens(n: &str, issued: u64, expires: u64) -> Tokens {
        Tokens {
            access_token: switchboard_model::AccessToken::new(format!("at-{n}")),
            refresh_token: Some(switchboard_model::RefreshToken::new(format!("rt-{n}"))),
            expires_at_ms: Some(expires),
            issued_at_ms: Some(issued),
            granted_scopes: None,
        }
    }

    /// A token endpoint: counts requests, can hold them until released, fails when
    /// told, and otherwise rotates: `at-N`, `rt-N` for the N-th request.
    #[derive(Debug)]
    struct FakeProvider {
        clock: Arc<ManualClock>,
        calls: AtomicUsize,
        /// The refresh token each request presented.
        presented: Mutex<Vec<String>>,
        /// The next answers; when empty, new tokens.
        failures: Mutex<Vec<TokenError>>,
        holding: std::sync::atomic::AtomicBool,
        gate: Semaphore,
        started: Notify,
    }

    impl TokenProvider for FakeProvider {
        fn request<'a>(&'a self, current: &'a Tokens) -> BoxFuture<'a, Result<Tokens, TokenError>> {
            Box::pin(async move {
                let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
                self.presented.lock().unwrap().push(
                    current
                        .refresh_token
                        .as_ref()
                        .map(|r| r.expose().to_owned())
                        .unwrap_or_default(),
                );
                self.started.notify_one();
                if self.holding.load(Ordering::SeqCst) {
                    self.gate.acquire().await.unwrap().forget();
                }
                if let Some(e) = self.failures.lock().unwrap().pop() {
                    return Err(e);
                }
                let now = self.clock.now_ms();
                Ok(tokens(&n.to_string(), now, now + HOUR_MS))
            })
        }
    }

    /// One connection's stored credentials, with a generation counter.
    #[derive(Debug)]
    struct FakeTarget {
        provider: Arc<FakeProvider>,
        /// The generation and tokens; `None` once marked `needs_reconnect`.
        stored: Mutex<Option<(u64, Tokens)>>,
        marked: Mutex<Option<String>>,
        /// How many `needs_reconnect` writes fail.
        failing_marks: AtomicUsize,
    }

    impl RefreshTarget for FakeTarget {
        type At = ();

        fn name(&self) -> &str {
            "crm"
        }

        fn current(&self) -> Result<Current<()>, BrokerError> {
            let stored = self.stored.lock().unwrap();
            let (g, tokens) = stored
                .clone()
                .ok_or_else(|| BrokerError::NeedsReconnect("crm needs reconnect".into()))?;
            Ok(Current {
                connection_id: "c1".into(),
                generation: Some(g.to_be_bytes().to_vec()),
                tokens,
                at: (),
            })
        }

        fn provider(&self, _: &Current<()>) -> Result<Arc<dyn TokenProvider>, BrokerError> {
            Ok(self.provider.clone())
        }

        fn store<'a>(
            &'a self,
            at: &'a Current<()>,
            tokens: Tokens,
        ) -> BoxFuture<'a, Result<(), Error>> {
            Box::pin(async move {
                let mut stored = self.stored.lock().unwrap();
                match stored.as_mut() {
                    Some((g, t)) if Some(g.to_be_bytes().to_vec()) == at.generation => {
                        *g += 1;
                        *t = tokens;
                        Ok(())
                    }
                    _ => Err(Error::Conflict("the credentials changed".into())),
                }
            })
        }

        fn mark_needs_reconnect<'a>(
            &'a self,
            at: &'a Current<()>,
            why: &'a str,
        ) -> BoxFuture<'a, Result<(), Error>> {
            Box::pin(async move {
                if self
                    .failing_marks
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
                {
                    return Err(Error::Conflict("the database is broken".into()));
                }
                let mut stored = self.stored.lock().unwrap();
                if stored.as_ref().map(|(g, _)| g.to_be_bytes().to_vec()) == at.generation {
                    *stored = None;
                    *self.marked.lock().unwrap() = Some(why.to_owned());
                }
                Ok(())
            })
        }
    }

    struct Setup {
        clock: Arc<ManualClock>,
        flight: SingleFlight,
        provider: Arc<FakeProvider>,
        target: Arc<FakeTarget>,
    }

    impl Setup {
        /// Stored tokens `at-0`/`rt-0`, issued an hour ago, expiring in `expires_in`.
        fn new(expires_in: Duration) -> Self {
            let clock = Arc::new(ManualClock::default());
            let flight = SingleFlight::default();
            flight.set_clock(clock.clone());
            let provider = Arc::new(FakeProvider {
                clock: clock.clone(),
                calls: AtomicUsize::new(0),
                presented: Mutex::default(),
                failures: Mutex::default(),
                holding: false.into(),
                gate: Semaphore::new(0),
                started: Notify::new(),
            });
            let now = clock.now_ms();
            let target = Arc::new(FakeTarget {
                provider: provider.clone(),
                stored: Mutex::new(Some((
                    0,
                    tokens("0", now - HOUR_MS, now + expires_in.as_millis() as u64),
                ))),
                marked: Mutex::default(),
                failing_marks: AtomicUsize::new(0),
            });
            Self {
                clock,
                flight,
                provider,
                target,
            }
        }

        fn calls(&self) -> usize {
            self.provider.calls.load(Ordering::SeqCst)
        }

        fn fail(&self, e: TokenError) {
            self.provider.failures.lock().unwrap().push(e);
        }

        fn stored(&self) -> Option<(u64, Tokens)> {
            self.target.stored.lock().unwrap().clone()
        }

        fn generation(&self) -> Vec<u8> {
            self.stored().unwrap().0.to_be_bytes().to_vec()
        }

        async fn fresh(&self, stale: Option<&[u8]>) -> Result<Option<String>, BrokerError> {
            self.flight
                .fresh(self.target.clone(), stale)
                .await
                .map(|c| c.map(|c| c.tokens.access_token.expose().to_owned()))
        }
    }

    #[tokio::test]
    async fn good_tokens_need_no_provider() {
        let s = Setup::new(Duration::from_secs(3600));
        assert_eq!(s.fresh(None).await.unwrap().as_deref(), Some("at-0"));
        assert_eq!(s.calls(), 0);
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_refresh() {
        let s = Arc::new(Setup::new(Duration::from_secs(10)));
        s.provider.holding.store(true, Ordering::SeqCst);
        let callers: Vec<_> = (0..8)
            .map(|_| {
                let s = s.clone();
                tokio::spawn(async move { s.fresh(None).await })
            })
            .collect();
        // The first caller is at the provider; the others queue behind it.
        s.provider.started.notified().await;
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert_eq!(s.calls(), 1);
        s.provider.gate.add_permits(1);
        for c in callers {
            assert_eq!(c.await.unwrap().unwrap().as_deref(), Some("at-1"));
        }
        assert_eq!(s.calls(), 1);
        assert_eq!(s.stored().unwrap().0, 1);
    }

    #[tokio::test]
    async fn a_transient_failure_backs_off_until_the_next_attempt() {
        // Expired: nothing to fall back on.
        let s = Setup::new(Duration::ZERO);
        s.fail(TokenError::Transient("503".into()));
        let e = s.fresh(None).await.unwrap_err();
        assert!(
            matches!(&e, BrokerError::Unavailable(m) if m.contains("next try is in 2 s")),
            "{e:?}"
        );
        let backoff = s.flight.backoff("c1").unwrap();
        assert_eq!(backoff.failures, 1);
        assert_eq!(backoff.next_attempt_ms, s.clock.now_ms() + 2000);
        assert!(backoff.reason.contains("503"), "{}", backoff.reason);

        // No request until the clock passes the next attempt.
        let e = s.fresh(None).await.unwrap_err();
        assert!(
            matches!(&e, BrokerError::Unavailable(m) if m.contains("failed recently")),
            "{e:?}"
        );
        s.clock.advance(Duration::from_millis(1999));
        assert!(s.fresh(None).await.is_err());
        assert_eq!(s.calls(), 1);

        // Then one request, and the back-off is over.
        s.clock.advance(Duration::from_millis(1));
        assert_eq!(s.fresh(None).await.unwrap().as_deref(), Some("at-2"));
        assert_eq!(s.calls(), 2);
        assert_eq!(s.flight.backoff("c1"), None);
    }

    #[tokio::test]
    async fn repeated_failures_double_the_wait() {
        let s = Setup::new(Duration::ZERO);
        for (i, wait) in [2u64, 4, 8].into_iter().enumerate() {
            s.fail(TokenError::Transient("down".into()));
            assert!(s.fresh(None).await.is_err());
            let b = s.flight.backoff("c1").unwrap();
            assert_eq!(b.failures, i as u32 + 1);
            assert_eq!(b.next_attempt_ms, s.clock.now_ms() + wait * 1000);
            s.clock.advance(Duration::from_secs(wait));
        }
        assert_eq!(s.calls(), 3);
    }

    #[tokio::test]
    async fn a_failure_before_expiry_keeps_the_valid_token() {
        let s = Setup::new(Duration::from_secs(30));
        s.fail(TokenError::Transient("503".into()));
        assert_eq!(s.fresh(None).await.unwrap().as_deref(), Some("at-0"));
        // Backing off: the valid token again, without a request.
        assert_eq!(s.fresh(None).await.unwrap().as_deref(), Some("at-0"));
        assert_eq!(s.calls(), 1);
    }

    #[tokio::test]
    async fn invalid_grant_needs_reconnect_and_stops_requests() {
        let s = Setup::new(Duration::ZERO);
        s.fail(TokenError::InvalidGrant(": revoked".into()));
        let e = s.fresh(None).await.unwrap_err();
        assert!(
            matches!(&e, BrokerError::NeedsReconnect(m) if m.contains("invalid_grant")),
            "{e:?}"
        );
        assert!(s.stored().is_none(), "the refused tokens are erased");
        assert!(
            s.target
                .marked
                .lock()
                .unwrap()
                .as_deref()
                .unwrap()
                .contains("connect again")
        );
        s.clock.advance(Duration::from_secs(3600));
        assert!(matches!(
            s.fresh(None).await,
            Err(BrokerError::NeedsReconnect(_))
        ));
        assert_eq!(s.calls(), 1);
    }

    #[tokio::test]
    async fn a_needs_reconnect_that_cannot_be_written_backs_off() {
        let s = Setup::new(Duration::ZERO);
        s.target.failing_marks.store(1, Ordering::SeqCst);
        s.fail(TokenError::InvalidGrant(String::new()));
        assert!(matches!(
            s.fresh(None).await,
            Err(BrokerError::NeedsReconnect(_))
        ));
        assert!(s.stored().is_some(), "the mark was not written");
        let b = s.flight.backoff("c1").unwrap();
        assert!(b.reason.contains("invalid_grant"), "{}", b.reason);
        // No request while backing off.
        assert!(matches!(
            s.fresh(None).await,
            Err(BrokerError::Unavailable(_))
        ));
        assert_eq!(s.calls(), 1);
    }

    #[tokio::test]
    async fn a_401_right_after_a_refresh_stands() {
        let s = Setup::new(Duration::from_secs(3600));
        let g0 = s.generation();
        // Old enough: the 401 refreshes.
        assert_eq!(s.fresh(Some(&g0)).await.unwrap().as_deref(), Some("at-1"));
        let g1 = s.generation();
        assert_ne!(g0, g1);
        // A 401 on the new tokens right away stands: no second refresh.
        assert_eq!(s.fresh(Some(&g1)).await.unwrap(), None);
        s.clock.advance(MIN_TOKEN_AGE - Duration::from_millis(1));
        assert_eq!(s.fresh(Some(&g1)).await.unwrap(), None);
        // Whoever still holds the old generation gets the new tokens.
        assert_eq!(s.fresh(Some(&g0)).await.unwrap().as_deref(), Some("at-1"));
        assert_eq!(s.calls(), 1);
        // Once they are old enough, a 401 refreshes again.
        s.clock.advance(Duration::from_millis(1));
        assert_eq!(s.fresh(Some(&g1)).await.unwrap().as_deref(), Some("at-2"));
        assert_eq!(s.calls(), 2);
    }

    #[tokio::test]
    async fn a_conflicting_write_during_a_refresh_wins() {
        let s = Arc::new(Setup::new(Duration::from_secs(10)));
        s.provider.holding.store(true, Ordering::SeqCst);
        let caller = {
            let s = s.clone();
            tokio::spawn(async move { s.fresh(None).await })
        };
        s.provider.started.notified().await;
        // A reconnect stores new credentials while the refresh is at the provider.
        let now = s.clock.now_ms();
        *s.target.stored.lock().unwrap() = Some((7, tokens("reconnected", now, now + HOUR_MS)));
        s.provider.gate.add_permits(1);
        let e = caller.await.unwrap().unwrap_err();
        assert!(
            matches!(&e, BrokerError::Unavailable(m) if m.contains("changed during its token refresh")),
            "{e:?}"
        );
        let (g, t) = s.stored().unwrap();
        assert_eq!(g, 7);
        assert_eq!(t.access_token.expose(), "at-reconnected");
        assert_eq!(t.refresh_token.unwrap().expose(), "rt-reconnected");
        // The next caller uses the newer credentials, without a request.
        assert_eq!(
            s.fresh(None).await.unwrap().as_deref(),
            Some("at-reconnected")
        );
        assert_eq!(s.calls(), 1);
    }

    #[tokio::test]
    async fn rotated_refresh_tokens_are_stored_and_presented_next() {
        let s = Setup::new(Duration::ZERO);
        assert_eq!(s.fresh(None).await.unwrap().as_deref(), Some("at-1"));
        assert_eq!(
            s.stored().unwrap().1.refresh_token.unwrap().expose(),
            "rt-1"
        );
        s.clock.advance(Duration::from_secs(3600));
        assert_eq!(s.fresh(None).await.unwrap().as_deref(), Some("at-2"));
        assert_eq!(
            s.stored().unwrap().1.refresh_token.unwrap().expose(),
            "rt-2"
        );
        assert_eq!(*s.provider.presented.lock().unwrap(), ["rt-0", "rt-1"]);
    }

    #[tokio::test]
    async fn a_cancelled_caller_does_not_cancel_the_refresh() {
        let s = Arc::new(Setup::new(Duration::ZERO));
        s.provider.holding.store(true, Ordering::SeqCst);
        let caller = {
            let s = s.clone();
            tokio::spawn(async move { s.fresh(None).await })
        };
        s.provider.started.notified().await;
        caller.abort();
        assert!(caller.await.unwrap_err().is_cancelled());
        s.provider.gate.add_permits(1);
        // The refresh finishes and stores; the next caller waits for it and gets its tokens.
        assert_eq!(s.fresh(None).await.unwrap().as_deref(), Some("at-1"));
        assert_eq!(s.calls(), 1);
    }

    #[tokio::test]
    async fn a_hold_keeps_refreshes_out() {
        let s = Arc::new(Setup::new(Duration::ZERO));
        let hold = TokenRefresher::<FakeTarget>::hold(&s.flight, "c1").await;
        let caller = {
            let s = s.clone();
            tokio::spawn(async move { s.fresh(None).await })
        };
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert_eq!(s.calls(), 0);
        drop(hold);
        assert_eq!(caller.await.unwrap().unwrap().as_deref(), Some("at-1"));
        assert_eq!(s.calls(), 1);
    }
}
