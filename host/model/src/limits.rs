//! Per-call limits of a function version.

use serde::{Deserialize, Serialize};

/// Per-call limits of a function version, set at deploy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Maximum size of the call's linear memories together, in MiB; also what the
    /// call reserves of the host's memory budget while it runs.
    pub memory_mib: u32,
    /// Wall-clock deadline of a call, including time spent in host calls, in ms.
    pub timeout_ms: u32,
    /// Maximum number of `invoke-url` requests per call (redirect hops included).
    pub max_requests: u32,
    /// Calls of this function that may run at once; 0 takes the host's
    /// per-function default (the runtime's `max_concurrency_per_function`).
    pub max_concurrency: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_mib: 64,
            timeout_ms: 10_000,
            max_requests: 32,
            max_concurrency: 0,
        }
    }
}

/// Upper bounds on what a deploy may ask for.
pub const MAX_TIMEOUT_MS: u32 = 300_000;
/// Upper bound on [`Limits::max_requests`].
pub const MAX_REQUESTS: u32 = 1_000;

impl Limits {
    /// Checks every field against the host's bounds.
    ///
    /// # Errors
    /// A message naming the field and its allowed range.
    /// `max_concurrency` and `max_memory_mib` are the host's call slots and the largest
    /// memory a function may ask for.
    pub fn validate(&self, max_concurrency: u32, max_memory_mib: u32) -> Result<(), String> {
        if self.max_concurrency > max_concurrency {
            return Err(format!(
                "max_concurrency must be between 0 (the host's default) and the host's {} call slots, got {}",
                max_concurrency, self.max_concurrency
            ));
        }
        if !(1..=max_memory_mib).contains(&self.memory_mib) {
            return Err(format!(
                "memory_mib must be between 1 and {max_memory_mib}, got {}",
                self.memory_mib
            ));
        }
        if !(1..=MAX_TIMEOUT_MS).contains(&self.timeout_ms) {
            return Err(format!(
                "timeout_ms must be between 1 and {MAX_TIMEOUT_MS}, got {}",
                self.timeout_ms
            ));
        }
        if self.max_requests > MAX_REQUESTS {
            return Err(format!(
                "max_requests must be at most {MAX_REQUESTS}, got {}",
                self.max_requests
            ));
        }
        Ok(())
    }
}
