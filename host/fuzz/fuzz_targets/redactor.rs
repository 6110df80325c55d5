//! The redactor: a secret placed in a response in any encoding the redactor promises
//! never survives redaction (an occurrence made in part of the `[redacted]` marker's
//! own bytes does not count: it is not the input's).
//!
//! Input (bytes): the first byte picks the encoding; the rest is split at `0xFF` bytes
//! into the secret, the text before it, the text after it and, optionally, a second
//! secret of the same connection (a Basic password beside its `user:password` token).
//!
//! To cover a new encoding, add its encoder to `ENCODERS`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_connections::fuzzing::Redactor;

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
    ("percent (lower-case hex)", |s| {
        Some(lower_hex(
            &percent_encoding::percent_encode(s, UNRESERVED).collect::<String>(),
        ))
    }),
    ("Python quote (keeps /)", |s| {
        Some(
            percent_encoding::percent_encode(s, PYTHON_QUOTE)
                .collect::<String>()
                .into_bytes(),
        )
    }),
    ("JavaScript encodeURIComponent", |s| {
        Some(
            percent_encoding::percent_encode(s, URI_COMPONENT)
                .collect::<String>()
                .into_bytes(),
        )
    }),
    ("JSON \\u escapes for every non-alphanumeric", |s| {
        let text = std::str::from_utf8(s).ok()?;
        let mut out = String::new();
        for c in text.chars() {
            if c.is_ascii_alphanumeric() {
                out.push(c);
            } else {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
        }
        Some(out.into_bytes())
    }),
    ("JSON with \\/", |s| {
        let text = std::str::from_utf8(s).ok()?;
        let json = serde_json::to_string(text).ok()?;
        Some(json[1..json.len() - 1].replace('/', "\\/").into_bytes())
    }),
    ("HTML decimal references", |s| {
        let text = std::str::from_utf8(s).ok()?;
        Some(html(text, |c| format!("&#{};", u32::from(c))))
    }),
    ("HTML hex references", |s| {
        let text = std::str::from_utf8(s).ok()?;
        Some(html(text, |c| format!("&#x{:X};", u32::from(c))))
    }),
    ("Latin-1 bytes", |s| {
        let text = std::str::from_utf8(s).ok()?;
        text.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect()
    }),
    ("ASCII upper case", |s| Some(s.to_ascii_uppercase())),
];

/// `%2f` for `%2F`: the hex digits after each `%` in lower case.
fn lower_hex(encoded: &str) -> Vec<u8> {
    let mut out = encoded.as_bytes().to_vec();
    let mut i = 0;
    while i < out.len() {
        if out[i] == b'%' {
            for b in out.iter_mut().skip(i + 1).take(2) {
                b.make_ascii_lowercase();
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    out
}

/// Every character but ASCII letters and digits as an HTML character reference.
fn html(text: &str, reference: fn(char) -> String) -> Vec<u8> {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else {
            out.push_str(&reference(c));
        }
    }
    out.into_bytes()
}

const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// Python's `urllib.parse.quote`: the unreserved set and `/`.
const PYTHON_QUOTE: &percent_encoding::AsciiSet = &UNRESERVED.remove(b'/');
/// JavaScript's `encodeURIComponent`: the unreserved set and `!'()*`.
const URI_COMPONENT: &percent_encoding::AsciiSet = &UNRESERVED
    .remove(b'!')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*');

/// What the redactor writes in place of a secret, learnt from the redactor itself.
fn marker() -> Vec<u8> {
    let mut r = Redactor::default();
    r.add(b"probe");
    r.redact(b"probe").expect("a secret is replaced")
}

/// Whether `needle` is part of the marker or overlaps one of its ends. A later pass of
/// the redactor may then replace bytes of an earlier pass's marker and leave the rest
/// of it beside the input (with a second secret `[`, `dacted` redacts to
/// `[redacted]redacted]`, which holds `dacted` again, though none of it is the input's).
fn overlaps_marker(needle: &[u8], marker: &[u8]) -> bool {
    let n = needle.len().min(marker.len());
    (1..n).any(|k| {
        needle[..k] == marker[marker.len() - k..] || needle[needle.len() - k..] == marker[..k]
    }) || marker.windows(needle.len()).any(|w| w == needle)
}

/// Where `needle` occurs in `hay` (overlapping occurrences included).
fn occurrences(hay: &[u8], needle: &[u8]) -> Vec<std::ops::Range<usize>> {
    hay.windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(at, _)| at..at + needle.len())
        .collect()
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
    let secrets = [Some(secret), other.filter(|o| !o.is_empty())];
    if secrets
        .iter()
        .flatten()
        .flat_map(|s| ENCODERS.iter().filter_map(|(_, e)| e(s)))
        .any(|form| overlaps_marker(&form, &marker))
    {
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
    // An occurrence that overlaps a marker is made, in part, of the marker's own bytes
    // (a secret like `ab[redacted]` after a prefix `ab`): it is not the input's.
    let markers = occurrences(&output, &marker);
    for found in occurrences(&output, &encoded) {
        assert!(
            markers
                .iter()
                .any(|m| m.start < found.end && found.start < m.end),
            "the {name} form of the secret survived redaction at {found:?}"
        );
    }
    // Deterministic.
    assert_eq!(redactor.redact(&input).as_deref(), Some(output.as_slice()));
});
