//! The per-call log: [`Level`], [`log()`] and the macros that format a line and send it.
//! Inside the host each line goes to the `switchboard:plugin/log` import.

use std::fmt;

use crate::__private::bindings::switchboard::plugin::log as wit;

/// How important a log line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Step-by-step detail.
    Trace,
    /// Detail for whoever debugs the function.
    Debug,
    /// What the function did.
    Info,
    /// Something looked wrong, and the function went on.
    Warn,
    /// Something failed.
    Error,
}

impl Level {
    /// The level's name in lower case, as in the WIT contract: `"info"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Writes `message` to this call's log, shown by `switchboard function logs`.
///
/// The macros ([`info!`](crate::info) and friends) are usually handier. Outside a Switchboard
/// host (on the native target, in unit tests) the line goes to standard error.
pub fn log(level: Level, message: &str) {
    if cfg!(target_arch = "wasm32") {
        let level = match level {
            Level::Trace => wit::Level::Trace,
            Level::Debug => wit::Level::Debug,
            Level::Info => wit::Level::Info,
            Level::Warn => wit::Level::Warn,
            Level::Error => wit::Level::Error,
        };
        wit::log(level, message);
    } else {
        eprintln!("[{level}] {message}");
    }
}

/// What the macros call: formats only when the line is not a plain string.
#[doc(hidden)]
pub fn log_args(level: Level, args: fmt::Arguments<'_>) {
    match args.as_str() {
        Some(message) => log(level, message),
        None => log(level, &args.to_string()),
    }
}

/// Logs a line at [`Level::Trace`], formatted like [`format!`]: `trace!("got {n} items")`.
#[macro_export]
macro_rules! trace {
    ($($arg:tt)+) => {
        $crate::__private::log_args($crate::Level::Trace, ::core::format_args!($($arg)+))
    };
}

/// Logs a line at [`Level::Debug`], formatted like [`format!`]: `debug!("page {page}")`.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)+) => {
        $crate::__private::log_args($crate::Level::Debug, ::core::format_args!($($arg)+))
    };
}

/// Logs a line at [`Level::Info`], formatted like [`format!`]: `info!("created {id}")`.
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => {
        $crate::__private::log_args($crate::Level::Info, ::core::format_args!($($arg)+))
    };
}

/// Logs a line at [`Level::Warn`], formatted like [`format!`]: `warn!("retrying {url}")`.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => {
        $crate::__private::log_args($crate::Level::Warn, ::core::format_args!($($arg)+))
    };
}

/// Logs a line at [`Level::Error`], formatted like [`format!`]: `error!("gave up: {e}")`.
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => {
        $crate::__private::log_args($crate::Level::Error, ::core::format_args!($($arg)+))
    };
}
