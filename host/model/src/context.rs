//! Who is asking: the principal behind an API request, and the context an invocation
//! carries from the API through the runtime into the connection broker.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// Who made a request. Today every API token is the one administrator's; the type is
/// where users, members and end users will be told apart.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Principal {
    /// The host's administrator (the token made at first start).
    Admin,
    /// The host itself (start-up work, token refresh).
    System,
    /// A named user. The API makes none yet (one admin token); tests and the
    /// coming users feature do.
    User(String),
}

impl Principal {
    /// The name records keep as creator or actor.
    pub fn name(&self) -> &str {
        match self {
            Principal::Admin => "admin",
            Principal::System => "system",
            Principal::User(name) => name,
        }
    }

    /// Whether this principal is an administrator.
    pub fn is_admin(&self) -> bool {
        matches!(self, Principal::Admin)
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A time-ordered id: Unix milliseconds shifted left by 12 bits, plus a sequence for ids
/// made in the same millisecond, and always greater than the last id this process made.
/// Ids made after a restart are greater than the ones before it (unless the clock went
/// back), and every id stays below 2^53, so JavaScript reads it exactly.
pub fn time_ordered_id(now_ms: u64) -> u64 {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let floor = (now_ms & ((1 << 41) - 1)) << 12;
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = floor.max(last + 1);
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

/// One invocation of a function: who invokes it, on whose behalf, and an id that
/// names it in logs and audit records.
#[derive(Debug, Clone)]
pub struct InvocationContext {
    /// The function invoked.
    pub function: std::sync::Arc<str>,
    /// Who asked for the invocation.
    pub principal: Principal,
    /// Whose credentials the invocation uses: the principal's own unless an
    /// application invokes on behalf of one of its end users (not yet possible).
    pub on_behalf_of: Option<String>,
    /// Unique, time-ordered ([`time_ordered_id`]): the invocation id the API returns.
    pub request_id: u64,
}

impl InvocationContext {
    /// A context for `principal` invoking `function` now, with a fresh request id.
    pub fn new(
        function: impl Into<std::sync::Arc<str>>,
        principal: Principal,
        now_ms: u64,
    ) -> Self {
        Self {
            function: function.into(),
            principal,
            on_behalf_of: None,
            request_id: time_ordered_id(now_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_ordered() {
        let a = time_ordered_id(1_000);
        let b = time_ordered_id(1_000);
        let c = time_ordered_id(2_000);
        assert!(a < b && b < c, "{a} {b} {c}");
        assert_eq!(a >> 12, 1_000);
        // Today's clock stays within JavaScript's safe integers.
        let now = time_ordered_id(crate::time::now_ms());
        assert!(now < (1 << 53) && now > c);
        // A clock that goes back never repeats an id.
        assert!(time_ordered_id(500) > now);
    }
}
