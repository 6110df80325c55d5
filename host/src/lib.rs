//! Switchboard host: runs custom functions (WebAssembly components) in a
//! sandbox and sends their outbound HTTP requests for them.
//!
//! # Layout
//!
//! Data flows one way: API → app → runtime → outbound → network.
//!
//! - [`cli`]: the `switchboard` command (`serve`, and a client for the API).
//! - [`server`]: data folder, key files, start and graceful stop.
//! - [`api`]: the HTTP API under `/api/v1` and the error mapping.
//! - [`app`]: operations on functions; the in-memory table of loaded versions.
//! - [`runtime`]: wasmtime engine, compile/load, per-call store and limits.
//! - [`outbound`]: the one HTTP client, origin policy, redirects, private-network guard.
//! - [`store`]: redb tables.
//! - [`names`]: identifier rules.

pub mod api;
pub mod app;
pub mod cli;
pub mod names;
pub mod outbound;
pub mod runtime;
pub mod server;
pub mod store;
