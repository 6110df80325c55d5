//! Removes a connection's secret values from what an upstream answered, so an upstream
//! that echoes a key back cannot hand it to the function. Each secret is matched raw and in
//! the encodings it travels in (form/query encoding, JSON escaping); longer needles first,
//! so a header value is replaced whole before the token inside it.

use memchr::memmem;
use zeroize::Zeroizing;

/// What replaces a secret.
pub const REDACTED: &[u8] = b"[redacted]";

/// A set of secret byte strings to replace. `Debug` prints only how many.
#[derive(Default)]
pub struct Redactor {
    needles: Vec<Zeroizing<Vec<u8>>>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} needles)", self.needles.len())
    }
}

impl Redactor {
    /// Adds a secret and its encoded forms.
    pub fn add(&mut self, secret: &[u8]) {
        if secret.is_empty() {
            return;
        }
        let mut forms = vec![Zeroizing::new(secret.to_vec())];
        let form: String = url::form_urlencoded::byte_serialize(secret).collect();
        forms.push(Zeroizing::new(form.into_bytes()));
        let percent = percent_encode(secret);
        forms.push(Zeroizing::new(percent));
        if let Ok(text) = std::str::from_utf8(secret) {
            let json = serde_json::to_string(text).expect("strings serialise");
            forms.push(Zeroizing::new(json.as_bytes()[1..json.len() - 1].to_vec()));
        }
        for f in forms {
            if !self.needles.iter().any(|n| n.as_slice() == f.as_slice()) {
                self.needles.push(f);
            }
        }
        self.needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
    }

    /// `bytes` with every secret replaced, or `None` when none occurs.
    pub fn redact(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        let mut current: Option<Vec<u8>> = None;
        for needle in &self.needles {
            let hay = current.as_deref().unwrap_or(bytes);
            let finder = memmem::Finder::new(needle.as_slice());
            let mut hits = finder.find_iter(hay).peekable();
            if hits.peek().is_none() {
                continue;
            }
            let mut out = Vec::with_capacity(hay.len());
            let mut last = 0;
            for at in hits {
                if at < last {
                    continue;
                }
                out.extend_from_slice(&hay[last..at]);
                out.extend_from_slice(REDACTED);
                last = at + needle.len();
            }
            out.extend_from_slice(&hay[last..]);
            current = Some(out);
        }
        current
    }

    /// Redacts in place.
    pub fn redact_in_place(&self, bytes: &mut Vec<u8>) {
        if let Some(out) = self.redact(bytes) {
            *bytes = out;
        }
    }

    /// Redacts a string in place (secrets are replaced on byte boundaries of whole
    /// UTF-8 sequences, so the result stays valid UTF-8).
    pub fn redact_string(&self, text: &mut String) {
        if let Some(out) = self.redact(text.as_bytes()) {
            *text = String::from_utf8_lossy(&out).into_owned();
        }
    }
}

/// RFC 3986 unreserved characters stay; everything else is `%XX` (`%20` for space).
const NOT_UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn percent_encode(bytes: &[u8]) -> Vec<u8> {
    percent_encoding::percent_encode(bytes, NOT_UNRESERVED)
        .collect::<String>()
        .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_and_encoded_forms_are_replaced() {
        let mut r = Redactor::default();
        r.add(b"s3cr\"t key&");
        assert_eq!(r.redact(b"nothing here"), None);
        for (input, want) in [
            (&b"a s3cr\"t key& b"[..], &b"a [redacted] b"[..]),
            (b"q=s3cr%22t+key%26", b"q=[redacted]"),
            (b"q=s3cr%22t%20key%26", b"q=[redacted]"),
            (br#"{"k":"s3cr\"t key&"}"#, br#"{"k":"[redacted]"}"#),
            (b"s3cr\"t key&s3cr\"t key&", b"[redacted][redacted]"),
        ] {
            assert_eq!(
                r.redact(input).as_deref(),
                Some(want),
                "{}",
                String::from_utf8_lossy(input)
            );
        }
        assert!(!format!("{r:?}").contains("s3cr"));
        r.add(b"");
        assert_eq!(r.redact(b"x"), None);
    }
}
