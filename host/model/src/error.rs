//! The one error type of the host's operations, and how a call can fail.

/// Errors of the function service; the API maps each to an HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The named thing does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The caller sent something invalid; `code` is machine-readable.
    #[error("{message}")]
    BadRequest {
        /// Stable error code.
        code: &'static str,
        /// What to fix.
        message: String,
    },
    /// The upload is too large.
    #[error("{0}")]
    TooLarge(String),
    /// A link name is taken.
    #[error("{0}")]
    Conflict(String),
    /// The caller may not change this (someone else's service).
    #[error("{0}")]
    Forbidden(String),
    /// The function needs a connection it has not been given.
    #[error("{0}")]
    MissingConnection(String),
    /// The function ran and failed.
    #[error(transparent)]
    Call(CallError),
    /// Something on our side failed; details are logged, not returned.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

/// Why a call did not produce output.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CallError {
    /// The function returned `err`.
    #[error("function returned an error: {0}")]
    Function(String),
    /// The call ran past its deadline and was stopped.
    #[error("function did not finish within its {0} ms deadline")]
    Timeout(u32),
    /// A linear memory tried to grow past the limit and the guest trapped.
    #[error("function exceeded its memory limit of {0} MiB")]
    MemoryLimit(u32),
    /// The guest trapped (panic, unreachable, out-of-bounds ...).
    #[error("function trapped: {0}")]
    Trap(String),
    /// `run` returned something that is not JSON.
    #[error("function returned output that is not JSON: {0}")]
    BadOutput(String),
    /// `run` returned more than the host's output cap.
    #[error(
        "function returned {bytes} bytes; the host's output limit is {limit} bytes (--max-output-bytes): return less, or page through the result"
    )]
    OutputTooLarge {
        /// Bytes returned.
        bytes: usize,
        /// The cap.
        limit: usize,
    },
    /// No call slot, per-function slot or memory budget came free before the deadline.
    #[error("{0}")]
    Busy(String),
}
