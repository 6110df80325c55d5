//! Switchboard host: runs custom functions (WebAssembly components) in a sandbox and
//! sends their outbound HTTP requests for them. This crate is the top of the host: the
//! `switchboard` binary, its [`cli`], and the [`server`] that wires the other crates
//! together.
//!
//! # Layers
//!
//! Each layer is a crate under `host/` and depends only on the ones below it (the
//! compiler enforces the direction; docs/architecture.md draws it):
//!
//! ```text
//! switchboard (cli, server)
//!   └ api (HTTP API, console, app: functions)
//!       ├ connections (registry, flows, refresh, broker, catalogue)
//!       │   └ store (redb, sealing)
//!       └ runtime (wasmtime)
//!           └ outbound (HTTP client, policy, guard, redaction of answers)
//!               └ auth (placement, signing, redactor)
//!                   └ model (records, ids, limits, secrets, errors, clock)
//! ```

pub mod cli;
pub mod server;

#[cfg(test)]
mod api_tests;
#[cfg(test)]
mod wire_tests;

// The crates below, under the names the layers have in docs/architecture.md, for the
// end-to-end tests and for embedding.
pub use switchboard_api as api;
pub use switchboard_api::app;
pub use switchboard_auth as auth;
pub use switchboard_connections as connections;
pub use switchboard_connections::catalog;
pub use switchboard_model as model;
pub use switchboard_model::names;
pub use switchboard_outbound as outbound;
pub use switchboard_runtime as runtime;
pub use switchboard_store as store;
