//! Service definitions as the API (JSON) and the catalogue and CLI files (TOML) take
//! them, through the host's validation. Never panics; a definition that validates
//! reads back from its own JSON and validates again (the store and edit paths), and
//! every API origin fills with a host-safe sample value (what validation promised).

#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use switchboard_connections::fuzzing::{ServiceDefinition, fill_origin, placeholders, validate_service};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = [
        serde_json::from_str::<ServiceDefinition>(text).ok(),
        toml::from_str::<ServiceDefinition>(text).ok(),
    ];
    for def in parsed.into_iter().flatten() {
        let Ok(def) = validate_service(def) else {
            continue;
        };
        let json = serde_json::to_string(&def).expect("a valid service serialises");
        let back: ServiceDefinition =
            serde_json::from_str(&json).expect("a valid service's JSON reads back");
        let client_secret = def.client_secret.clone();
        let back = validate_service(ServiceDefinition {
            client_secret,
            ..back
        })
        .expect("a valid service's JSON validates again");
        assert_eq!(back, def, "the JSON round trip changed the service");
        for origin in &def.spec.api_origins {
            let sample: BTreeMap<String, String> = placeholders(origin)
                .into_iter()
                .map(|k| (k.to_owned(), "x".to_owned()))
                .collect();
            if let Err(e) = fill_origin(origin, &sample) {
                panic!("validated origin `{origin}` does not fill: {e}");
            }
        }
    }
});
