//! Write Switchboard custom functions in Rust.
//!
//! A custom function is a WebAssembly component that exports one function, `run`: it takes
//! JSON and returns JSON. It reaches the network only through [`invoke_url`], where the host
//! adds a connection's credentials, so the function never sees a secret. This crate hides the
//! raw component bindings (the WIT package `switchboard:plugin`) behind a small API:
//!
//! - [`export_function!`] turns `fn run(input: T) -> Result<U, E>` into the component's `run`
//!   export, with `T` parsed from the input JSON and `U` written back as JSON;
//! - [`Request`], [`invoke_url`], [`Response`] and [`HttpError`] for outbound HTTP;
//! - [`trace!`], [`debug!`], [`info!`], [`warn!`] and [`error!`] for the per-call log.
//!
//! # Example
//!
//! A whole function: `Cargo.toml` declares a `cdylib` that depends on `switchboard-sdk` and
//! `serde` (with `derive`), and it is built with
//! `cargo build --release --target wasm32-wasip2`.
//!
//! ```no_run
//! use serde::{Deserialize, Serialize};
//! use switchboard_sdk::{Request, info, invoke_url};
//!
//! #[derive(Deserialize)]
//! struct Input {
//!     owner: String,
//!     repo: String,
//! }
//!
//! #[derive(Serialize)]
//! struct Output {
//!     stars: u64,
//! }
//!
//! fn run(input: Input) -> Result<Output, String> {
//!     let url = format!("https://api.github.com/repos/{}/{}", input.owner, input.repo);
//!     let response = invoke_url(Some("github"), Request::get(url).header("accept", "application/json"))
//!         .map_err(|e| e.to_string())?;
//!     if !response.is_success() {
//!         return Err(format!("GitHub answered {}: {}", response.status, response.text()));
//!     }
//!     let repo: switchboard_sdk::serde_json::Value = response.json().map_err(|e| e.to_string())?;
//!     let stars = repo["stargazers_count"].as_u64().unwrap_or(0);
//!     info!("{}/{} has {stars} stars", input.owner, input.repo);
//!     Ok(Output { stars })
//! }
//!
//! switchboard_sdk::export_function!(run);
//! # fn main() {}
//! ```
//!
//! # Outside the host
//!
//! The crate also compiles for the native target so that a function's own logic can be unit
//! tested with `cargo test`. There, the log macros print to standard error and [`invoke_url`]
//! panics: only a Switchboard host can send requests.
//!
//! # Layout
//!
//! - `http`: the request builder, the response, the error and [`invoke_url`];
//! - `log`: [`Level`], [`log()`](log()) and the log macros;
//! - `export`: what [`export_function!`] expands to;
//! - `__private`: what the macros expand to, with the code `wit-bindgen` generated from
//!   `wit/plugin.wit` (`src/bindings.rs`, checked in: building a function does not run
//!   the bindings generator; not public API).

mod export;
mod http;
mod log;

pub use export::Function;
pub use http::{HttpError, Method, ParseMethodError, Request, Response, invoke_url};
pub use log::{Level, log};

/// The `serde` crate, for `Serialize` and `Deserialize`.
pub use serde;
/// The `serde_json` crate, for `Value` and friends.
pub use serde_json;
/// Builds a [`serde_json::Value`] from JSON syntax: `json!({"name": name})`.
pub use serde_json::json;

/// What the macros of this crate expand to. Not public API: it may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::export::run_json;
    pub use crate::log::log_args;
    pub use bindings::Guest;

    /// The code `wit-bindgen` generates from `wit/plugin.wit`, checked in as
    /// `src/bindings.rs` (`sdk/generate-bindings.sh` regenerates it; a test fails when it
    /// is older than the WIT). The generated export macro needs it public; plugins never
    /// name it.
    #[allow(
        unsafe_code,
        unused_qualifications,
        missing_debug_implementations,
        unreachable_pub,
        clippy::all,
        reason = "wit-bindgen generated code"
    )]
    pub mod bindings {
        include!("bindings.rs");
    }
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    /// `src/bindings.rs` starts with the SHA-256 of the WIT it was generated from.
    #[test]
    fn generated_bindings_match_the_wit() {
        let wit = include_bytes!("../../wit/plugin.wit");
        let recorded = include_str!("bindings.rs")
            .lines()
            .next()
            .and_then(|line| line.strip_prefix("// wit/plugin.wit sha256: "))
            .expect("src/bindings.rs starts with the WIT's hash");
        let actual = hex(&Sha256::digest(wit));
        assert_eq!(
            recorded, actual,
            "wit/plugin.wit changed since src/bindings.rs was generated: run sdk/generate-bindings.sh"
        );
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
