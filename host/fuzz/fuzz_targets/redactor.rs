//! The redactor: a secret placed in a response in any encoding the redactor promises
//! never survives redaction.
//!
//! Input (bytes): the first byte picks the encoding; the rest is split at `0xFF` bytes
//! into the secret, the text before it, the text after it and, optionally, a second
//! secret of the same connection (a Basic password beside its `user:password` token).
//!
//! To cover a new encoding, add its encoder to `ENCODERS`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_host::fuzzing::Redactor;

type Encoder = fn(&[u8]) -> Option<Vec<u8>>;

/// The forms `Redactor::add` promises to find (host/src/auth/redact.rs).
const ENCODERS: &[(&str, Encoder)] = &[
    ("raw", |s| Some(s.to_vec())),
    ("form", |s| {
        Some(
            url::form_urlencoded::byte_serialize(s)
                .collect::<String>()
                .into_bytes(),
        )
    }),
    ("percent (upper-case hex)", |s| {
        Some(
            percent_encoding::percent_encode(s, UNRESERVED)
                .collect::<String>()
                .into_bytes(),
        )
    }),
    ("JSON string", |s| {
        let text = std::str::from_utf8(s).ok()?;
        let json = serde_json::to_string(text).ok()?;
        Some(json.as_bytes()[1..json.len() - 1].to_vec())
    }),
];

const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// What the redactor writes in place of a secret, learnt from the redactor itself.
fn marker() -> Vec<u8> {
    let mut r = Redactor::default();
    r.add(b"probe");
    r.redact(b"probe").expect("a secret is replaced")
}

/// Whether `needle` could be made, in part, of the marker's own bytes (then finding it
/// after redaction says nothing about the input).
fn overlaps_marker(needle: &[u8], marker: &[u8]) -> bool {
    let n = needle.len().min(marker.len());
    (1..=n).any(|k| {
        needle[..k] == marker[marker.len() - k..] || needle[needle.len() - k..] == marker[..k]
    }) || marker.windows(needle.len()).any(|w| w == needle)
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let mut parts = rest.split(|&b| b == 0xFF);
    let (Some(secret), prefix, suffix, other) = (
        parts.next(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next(),
    ) else {
        return;
    };
    if secret.len() < 4 || secret.len() > 256 {
        return;
    }
    let (name, encode) = ENCODERS[usize::from(pick) % ENCODERS.len()];
    let Some(encoded) = encode(secret) else {
        return;
    };
    let marker = marker();
    if overlaps_marker(&encoded, &marker) {
        return;
    }

    let mut redactor = Redactor::default();
    redactor.add(secret);
    if let Some(other) = other.filter(|o| !o.is_empty()) {
        redactor.add(other);
    }
    let mut input = prefix.to_vec();
    input.extend_from_slice(&encoded);
    input.extend_from_slice(suffix);
    let output = redactor
        .redact(&input)
        .expect("the input holds the secret, so something is replaced");
    assert!(
        !output
            .windows(encoded.len())
            .any(|w| w == encoded.as_slice()),
        "the {name} form of the secret survived redaction"
    );
    // Deterministic.
    assert_eq!(redactor.redact(&input).as_deref(), Some(output.as_slice()));
});
