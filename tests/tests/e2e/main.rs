//! End-to-end tests: one binary (a list of modules), a real host on port 0 per
//! test, the real plugins built for wasm32-wasip2, mock upstreams on loopback.

// Paths of the built plugins, private to this crate's root (its modules can
// use them): a fixture no test uses is a dead-code warning, and CI's clippy
// turns that into a failure.
include!(concat!(env!("OUT_DIR"), "/plugins.rs"));

mod abuse;
mod aws;
mod catalog;
mod compile_cache;
mod connections;
mod exfiltration;
mod functions;
mod limits;
mod manifest;
mod oauth1;
mod oauth2;
mod oauth2_mock;
mod outbound;
mod restart;
mod runtime_broker;
mod uploads;
