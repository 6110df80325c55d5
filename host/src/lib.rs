//! Switchboard host: runs custom functions (WebAssembly components) in a
//! sandbox and sends their outbound HTTP requests for them.
//!
//! # Layout
//!
//! Data flows one way: API → app / connections → runtime → outbound → auth → network.
//!
//! - [`cli`]: the `switchboard` command (`serve`, and a client for the API).
//! - [`server`]: data folder, key files, start and graceful stop.
//! - [`api`]: the HTTP API under `/api/v1` and the error mapping.
//! - [`app`]: operations on functions; the in-memory table of loaded versions.
//! - [`runtime`]: wasmtime engine, compile/load, per-call store and limits.
//! - [`catalog`]: the default services (one embedded TOML file each) and service search.
//! - [`connections`]: services, connections, grants, the audit trail; resolves a
//!   connection for the runtime from an in-memory snapshot.
//! - [`outbound`]: the one HTTP client, origin policy, redirects, private-network guard,
//!   credentials on every allowed hop, redaction of what comes back.
//! - [`auth`]: auth types: what a service declares, what a connection holds sealed, and
//!   where each value goes on a request.
//! - [`store`]: redb tables, sealed secrets.
//! - [`names`]: identifier rules.

pub mod api;
pub mod app;
pub mod auth;
pub mod catalog;
pub mod cli;
pub mod connections;
pub mod names;
pub mod outbound;
pub mod runtime;
pub mod server;
pub mod store;

/// What the fuzz targets in `host/fuzz` call: the parsers and transformers an attacker
/// reaches, re-exported in one place so the rest of the crate stays private. Not a
/// stable API; see docs/fuzzing.md.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::auth::oauth1::{FlowParams, Signer as OAuth1Signer, Stamp, base_string};
    pub use crate::auth::{
        AuthConfig, Credential, Credentials, ParamType, Redactor, SignatureMethod,
    };
    pub use crate::connections::ServiceDefinition;
    pub use crate::connections::template::{
        check_origin_template, check_values, fill_origin, fill_url, placeholders,
    };
    pub use crate::outbound::{Policy, normalize_origin, redact_url};
    pub use crate::store::{DynamicParam, SecretString};

    /// Checks a service definition as creating it does: AWS default origins filled in
    /// first, then every rule of `validate_service`.
    ///
    /// # Errors
    /// The message `POST /api/v1/services` would answer with.
    pub fn validate_service(def: ServiceDefinition) -> Result<ServiceDefinition, String> {
        let def = crate::connections::with_default_origins(def);
        crate::connections::validate_service(&def).map_err(|e| e.to_string())?;
        Ok(def)
    }
}
