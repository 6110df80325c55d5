//! Percent-encoding sets, in one place.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Everything but RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`) is encoded:
/// what RFC 5849 (OAuth 1) section 3.6, AWS Signature Version 4 and the placeholders of
/// a connection's URL templates all want.
pub const NOT_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes the UTF-8 of `s` with [`NOT_UNRESERVED`] (upper-case hex).
pub fn encode_unreserved(s: &str) -> String {
    utf8_percent_encode(s, NOT_UNRESERVED).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unreserved_characters_stay() {
        assert_eq!(encode_unreserved("aZ09-._~"), "aZ09-._~");
        assert_eq!(encode_unreserved("a b/é+%"), "a%20b%2F%C3%A9%2B%25");
    }
}
