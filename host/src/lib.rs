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
