//! Example plugin: pure computation, no network.
//!
//! Input `{"name": "Ada"}` (name optional, default `"world"`) gives
//! `{"greeting": "Hello, Ada!"}`, and one info line in the call's log.

use serde::{Deserialize, Serialize};
use switchboard_sdk::info;

#[derive(Deserialize)]
struct Input {
    #[serde(default = "world")]
    name: String,
}

fn world() -> String {
    "world".to_owned()
}

#[derive(Serialize)]
struct Output {
    greeting: String,
}

fn run(input: Input) -> Result<Output, String> {
    info!("greeting {}", input.name);
    Ok(Output {
        greeting: format!("Hello, {}!", input.name),
    })
}

switchboard_sdk::export_function!(run);
