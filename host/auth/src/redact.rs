//! Removes a connection's secret values from what an upstream answered (body, header
//! names and values, and the host's own error messages), so an upstream that echoes a key
//! back cannot hand it to the function.
//!
//! # How a secret is found
//!
//! A secret is not matched as a list of pre-encoded strings (a key with a few special
//! characters has thousands of mixed spellings). Instead each secret is kept as a sequence
//! of characters, and the haystack is walked with a matcher that, for the next expected
//! character, accepts any of its spellings, mixed freely within one occurrence:
//!
//! - the raw UTF-8 bytes, ASCII letters in either case;
//! - percent-encoding of each UTF-8 byte, hex in either case (RFC 3986, form and query
//!   encoding, Python `quote`/`quote_plus`, JavaScript `encodeURIComponent`/`encodeURI`),
//!   and `+` for a space;
//! - the Latin-1 byte of a character U+0080..U+00FF, raw or as `%XX` (JavaScript `escape`,
//!   header values in ISO-8859-1);
//! - `\uXXXX` (surrogate pairs above U+FFFF), `\u{X…}` and `%uXXXX` code-point escapes
//!   (JSON, JavaScript, `escape`);
//! - the JSON/JavaScript short escapes `\/ \\ \" \' \n \r \t \b \f`;
//! - HTML character references: decimal `&#NN;`, hex `&#xNN;`, and the named ones for ASCII
//!   punctuation (`&amp; &lt; &gt; &quot; &apos; &sol; …`) and the non-breaking space.
//!
//! What is not undone: base64, hex dumps, reversal, splitting across places, double
//! encoding, case changes of non-ASCII letters, and any other transformation. Longer
//! secrets are tried first at each position, so a whole header value (`Bearer …`) is
//! replaced before the token inside it.

use zeroize::Zeroizing;

/// What replaces a secret.
pub(crate) const REDACTED: &[u8] = b"[redacted]";

/// A unit of a secret: a Unicode scalar value, or (for bytes that are not UTF-8) a raw byte
/// tagged with [`RAW_BYTE`].
const RAW_BYTE: u32 = 0x8000_0000;

/// Bounds the work of one match attempt (a haystack can be crafted so that several
/// spellings of one character overlap); past it the attempt counts as a match up to the
/// furthest position reached, so the matcher fails closed.
const STEPS_PER_UNIT: usize = 32;

/// A set of secrets to replace. `Debug` prints only how many.
pub struct Redactor {
    /// Longest first.
    needles: Vec<Zeroizing<Vec<u32>>>,
    /// Per needle (same order), the bytes a spelling of its first character starts with.
    firsts: Vec<[bool; 256]>,
    /// Per byte: 0 when no spelling of any needle's first character starts with it, else
    /// 1 + its index in `follows`.
    starts: Box<[u16; 256]>,
    /// Per start byte, the bytes that may come right after it in an occurrence of some
    /// needle (the pre-filter: most positions that start a spelling of a first character,
    /// such as an `s` in text for a key `sk_…`, fail on the next byte).
    follows: Vec<ByteSet>,
}

impl Default for Redactor {
    fn default() -> Self {
        Self {
            needles: Vec::new(),
            firsts: Vec::new(),
            starts: Box::new([0; 256]),
            follows: Vec::new(),
        }
    }
}

/// A set of bytes.
#[derive(Clone, Copy, Default)]
struct ByteSet([u64; 4]);

impl ByteSet {
    const ALL: ByteSet = ByteSet([u64::MAX; 4]);

    fn of(bytes: &[u8]) -> Self {
        let mut s = Self::default();
        for b in bytes {
            s.insert(*b);
        }
        s
    }

    fn insert(&mut self, b: u8) {
        self.0[usize::from(b >> 6)] |= 1 << (b & 63);
    }

    fn union(&mut self, other: ByteSet) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a |= b;
        }
    }

    fn contains(&self, b: u8) -> bool {
        self.0[usize::from(b >> 6)] >> (b & 63) & 1 != 0
    }
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} needles)", self.needles.len())
    }
}

impl Redactor {
    /// Adds a secret (matched in every spelling the module docs list).
    pub fn add(&mut self, secret: &[u8]) {
        if secret.is_empty() {
            return;
        }
        let units: Zeroizing<Vec<u32>> = Zeroizing::new(match std::str::from_utf8(secret) {
            Ok(text) => text.chars().map(u32::from).collect(),
            // Valid UTF-8 runs are characters (every spelling); only the bytes that are
            // not UTF-8 are matched as bytes (raw, in either case, or `%XX`).
            Err(_) => secret
                .utf8_chunks()
                .flat_map(|chunk| {
                    let valid = chunk.valid().chars().map(u32::from);
                    let invalid = chunk.invalid().iter().map(|b| RAW_BYTE | u32::from(*b));
                    valid.chain(invalid)
                })
                .collect(),
        });
        if self
            .needles
            .iter()
            .any(|n| n.as_slice() == units.as_slice())
        {
            return;
        }
        for (b, next) in follows(units[0], units.get(1).copied()) {
            match self.starts[usize::from(b)] {
                0 => {
                    self.follows.push(next);
                    self.starts[usize::from(b)] =
                        u16::try_from(self.follows.len()).expect("at most 256 start bytes");
                }
                i => self.follows[usize::from(i) - 1].union(next),
            }
        }
        let at = self.needles.partition_point(|n| n.len() >= units.len());
        let mut first = [false; 256];
        for b in first_bytes(units[0]) {
            first[usize::from(b)] = true;
        }
        self.needles.insert(at, units);
        self.firsts.insert(at, first);
    }

    /// Whether no secret was added.
    pub fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }

    /// `bytes` with every secret replaced, or `None` when none occurs.
    pub fn redact(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        if self.needles.is_empty() {
            return None;
        }
        let mut out: Option<Vec<u8>> = None;
        let mut copied = 0;
        let mut at = 0;
        // The pre-filter: skip to a byte that starts a spelling of some needle's first
        // character and is followed by a byte that may come next.
        while let Some(skip) = self.skip(&bytes[at..]) {
            at += skip;
            let byte = usize::from(bytes[at]);
            if let Some(next) = bytes.get(at + 1)
                && !self.follows[usize::from(self.starts[byte]) - 1].contains(*next)
            {
                at += 1;
                continue;
            }
            let found = self
                .needles
                .iter()
                .zip(&self.firsts)
                .filter(|(_, first)| first[byte])
                .find_map(|(needle, _)| match_at(needle, bytes, at));
            match found {
                Some(end) if end > at => {
                    let o = out.get_or_insert_with(|| Vec::with_capacity(bytes.len()));
                    o.extend_from_slice(&bytes[copied..at]);
                    o.extend_from_slice(REDACTED);
                    copied = end;
                    at = end;
                }
                _ => at += 1,
            }
        }
        let mut o = out?;
        o.extend_from_slice(&bytes[copied..]);
        Some(o)
    }

    /// The offset of the first byte of `bytes` that starts a spelling of some needle's first
    /// character. Eight bytes at a time while none does (most text has long runs of such
    /// bytes).
    fn skip(&self, bytes: &[u8]) -> Option<usize> {
        let start = |b: &u8| self.starts[usize::from(*b)] != 0;
        let mut chunks = bytes.chunks_exact(8);
        let mut offset = 0;
        for chunk in &mut chunks {
            let any = chunk
                .iter()
                .fold(0, |acc, b| acc | self.starts[usize::from(*b)]);
            if any != 0 {
                return chunk.iter().position(start).map(|p| offset + p);
            }
            offset += 8;
        }
        chunks
            .remainder()
            .iter()
            .position(start)
            .map(|p| offset + p)
    }

    /// Redacts in place.
    pub fn redact_in_place(&self, bytes: &mut Vec<u8>) {
        if let Some(out) = self.redact(bytes) {
            *bytes = out;
        }
    }

    /// Redacts a string in place (a replacement that cuts a UTF-8 sequence leaves U+FFFD).
    pub fn redact_string(&self, text: &mut String) {
        if let Some(out) = self.redact(text.as_bytes()) {
            *text = String::from_utf8_lossy(&out).into_owned();
        }
    }
}

/// For each byte a spelling of `unit` (a needle's first unit) may start with, the bytes
/// that may follow it in an occurrence of the needle (`next`: the needle's second unit).
/// A superset is safe (it only filters less); every spelling [`spellings`] accepts must be
/// covered.
fn follows(unit: u32, next: Option<u32>) -> Vec<(u8, ByteSet)> {
    if unit & RAW_BYTE == 0 && unit >= 0x80 {
        // Spellings of several bytes and kinds: no filter on the second byte.
        return first_bytes(unit)
            .into_iter()
            .map(|b| (b, ByteSet::ALL))
            .collect();
    }
    // A one-byte spelling is followed by the start of the next unit's spelling.
    let after = next.map_or(ByteSet::ALL, |n| ByteSet::of(&first_bytes(n)));
    let byte = (unit & 0xff) as u8;
    let hi = b"0123456789abcdef"[usize::from(byte >> 4)];
    let mut v = vec![
        (byte.to_ascii_lowercase(), after),
        (byte.to_ascii_uppercase(), after),
        // `%XX`.
        (b'%', ByteSet::of(&[hi, hi.to_ascii_uppercase()])),
    ];
    if unit & RAW_BYTE != 0 {
        return v;
    }
    let c = char::from(byte);
    if c == ' ' {
        v.push((b'+', after));
    }
    // `%uXXXX`, `\uXXXX`, `\u{…}`, a short escape.
    v.push((b'%', ByteSet::of(b"uU")));
    let mut escape = ByteSet::of(b"uU");
    if let Some(s) = short_escape(c) {
        escape.insert(s);
    }
    v.push((b'\\', escape));
    // `&#…` and the named references of `c`, either case.
    let mut reference = ByteSet::of(b"#");
    for (name, _) in NAMED.iter().filter(|(_, ch)| *ch == c) {
        let first = name.as_bytes()[0];
        reference.insert(first.to_ascii_lowercase());
        reference.insert(first.to_ascii_uppercase());
    }
    v.push((b'&', reference));
    v
}

/// The letter after `\` in the JSON/JavaScript short escape of `c`, if it has one.
fn short_escape(c: char) -> Option<u8> {
    match c {
        '/' | '\\' | '"' | '\'' => Some(c as u8),
        '\n' => Some(b'n'),
        '\r' => Some(b'r'),
        '\t' => Some(b't'),
        '\u{8}' => Some(b'b'),
        '\u{c}' => Some(b'f'),
        _ => None,
    }
}

/// The bytes a spelling of `unit` may start with.
fn first_bytes(unit: u32) -> Vec<u8> {
    let mut v = vec![b'%', b'\\', b'&'];
    if unit & RAW_BYTE != 0 {
        let b = (unit & 0xff) as u8;
        v.extend([b.to_ascii_lowercase(), b.to_ascii_uppercase()]);
        return v;
    }
    let c = char::from_u32(unit).unwrap_or_default();
    let mut buf = [0; 4];
    let first = c.encode_utf8(&mut buf).as_bytes()[0];
    v.push(first.to_ascii_lowercase());
    v.push(first.to_ascii_uppercase());
    if c == ' ' {
        v.push(b'+');
    }
    if (0x80..=0xff).contains(&unit) {
        v.push(unit as u8);
    }
    v
}

/// The end of an occurrence of `needle` starting at `start`, if there is one.
fn match_at(needle: &[u32], hay: &[u8], start: usize) -> Option<usize> {
    let mut m = Matcher {
        needle,
        hay,
        steps: STEPS_PER_UNIT * needle.len() + 64,
        furthest: start,
        exhausted: false,
    };
    let end = m.from(0, start);
    if end.is_none() && m.exhausted {
        return Some(m.furthest);
    }
    end
}

struct Matcher<'a> {
    needle: &'a [u32],
    hay: &'a [u8],
    steps: usize,
    furthest: usize,
    exhausted: bool,
}

impl Matcher<'_> {
    fn from(&mut self, mut i: usize, mut h: usize) -> Option<usize> {
        loop {
            self.furthest = self.furthest.max(h);
            if i == self.needle.len() {
                return Some(h);
            }
            if self.steps == 0 {
                self.exhausted = true;
                return None;
            }
            self.steps -= 1;
            // Fast path: an ASCII character over a byte that starts no escape has one
            // spelling, itself (in either case).
            let unit = self.needle[i];
            if unit < 0x80
                && let Some(&b) = self.hay.get(h)
                && !starts_escape(b)
            {
                if !b.eq_ignore_ascii_case(&(unit as u8)) {
                    return None;
                }
                i += 1;
                h += 1;
                // The rest of a run of such characters: one step each, as above, without
                // the checks that only a position where the run ends needs.
                while self.steps > 0
                    && let (Some(&unit), Some(&b)) = (self.needle.get(i), self.hay.get(h))
                    && unit < 0x80
                    && !starts_escape(b)
                {
                    self.steps -= 1;
                    if !b.eq_ignore_ascii_case(&(unit as u8)) {
                        self.furthest = self.furthest.max(h);
                        return None;
                    }
                    i += 1;
                    h += 1;
                }
                continue;
            }
            let mut ends = Ends::default();
            spellings(self.needle[i], self.hay, h, &mut ends);
            match ends.as_slice() {
                [] => return None,
                [only] => {
                    i += 1;
                    h = *only;
                }
                _ => {
                    // Longest spelling first, so a trailing `&amp;` is taken whole.
                    let several = &mut ends.ends[..ends.len];
                    several.sort_unstable_by(|a, b| b.cmp(a));
                    return several.iter().find_map(|e| self.from(i + 1, *e));
                }
            }
        }
    }
}

/// Whether a byte may start a spelling of an ASCII character other than itself.
fn starts_escape(b: u8) -> bool {
    matches!(b, b'%' | b'\\' | b'&' | b'+')
}

/// Distinct end positions of spellings at one position (few: at most one per kind).
#[derive(Default)]
struct Ends {
    ends: [usize; 8],
    len: usize,
}

impl Ends {
    fn push(&mut self, end: usize) {
        if !self.as_slice().contains(&end) && self.len < self.ends.len() {
            self.ends[self.len] = end;
            self.len += 1;
        }
    }

    fn as_slice(&self) -> &[usize] {
        &self.ends[..self.len]
    }
}

fn hex_val(b: u8) -> Option<u32> {
    (b as char).to_digit(16)
}

/// `n` hex digits at `hay[at..]`.
fn hex_at(hay: &[u8], at: usize, n: usize) -> Option<u32> {
    let digits = hay.get(at..at + n)?;
    digits
        .iter()
        .try_fold(0u32, |acc, b| Some(acc * 16 + hex_val(*b)?))
}

/// A byte at `h`, raw or `%XX`: the positions after it.
fn byte_at(hay: &[u8], h: usize, want: u8, ends: &mut Ends) {
    if hay.get(h).is_some_and(|b| b.eq_ignore_ascii_case(&want)) {
        ends.push(h + 1);
    }
    if hay.get(h) == Some(&b'%') && hex_at(hay, h + 1, 2) == Some(u32::from(want)) {
        ends.push(h + 3);
    }
}

/// Pushes the end of every spelling of `unit` that starts at `hay[h]`.
fn spellings(unit: u32, hay: &[u8], h: usize, ends: &mut Ends) {
    if h >= hay.len() {
        return;
    }
    if unit & RAW_BYTE != 0 {
        byte_at(hay, h, (unit & 0xff) as u8, ends);
        return;
    }
    let Some(c) = char::from_u32(unit) else {
        return;
    };
    // UTF-8 bytes, each raw or percent-encoded. Only `%` itself has two spellings of
    // different lengths, and it is one byte long.
    let mut buf = [0; 4];
    let bytes = c.encode_utf8(&mut buf).as_bytes();
    if bytes.len() == 1 {
        byte_at(hay, h, bytes[0], ends);
    } else {
        let mut p = h;
        let mut ok = true;
        for b in bytes {
            let mut one = Ends::default();
            byte_at(hay, p, *b, &mut one);
            match one.as_slice().first() {
                Some(e) => p = *e,
                None => {
                    ok = false;
                    break;
                }
            }
        }
        if ok {
            ends.push(p);
        }
    }
    if c == ' ' && hay[h] == b'+' {
        ends.push(h + 1);
    }
    if (0x80..=0xff).contains(&unit) {
        byte_at(hay, h, unit as u8, ends);
    }
    match hay[h] {
        b'\\' => {
            if let Some(e) = utf16_escape(hay, h, b'\\', unit) {
                ends.push(e);
            }
            if hay.get(h + 1) == Some(&b'u')
                && hay.get(h + 2) == Some(&b'{')
                && let Some(close) = hay[h + 3..].iter().take(7).position(|b| *b == b'}')
                && close > 0
                && hex_at(hay, h + 3, close) == Some(unit)
            {
                ends.push(h + 3 + close + 1);
            }
            let short = short_escape(c);
            if short.is_some() && hay.get(h + 1).copied() == short {
                ends.push(h + 2);
            }
        }
        b'%' => {
            if let Some(e) = utf16_escape(hay, h, b'%', unit) {
                ends.push(e);
            }
        }
        b'&' => {
            if let Some(e) = html_reference(hay, h, unit) {
                ends.push(e);
            }
        }
        _ => {}
    }
}

/// `\uXXXX` or `%uXXXX` (`lead` is `\` or `%`), with a surrogate pair above U+FFFF.
fn utf16_escape(hay: &[u8], h: usize, lead: u8, unit: u32) -> Option<usize> {
    let one = |at: usize| -> Option<u32> {
        if hay.get(at) == Some(&lead) && matches!(hay.get(at + 1), Some(b'u' | b'U')) {
            hex_at(hay, at + 2, 4)
        } else {
            None
        }
    };
    let first = one(h)?;
    if unit <= 0xffff {
        return (first == unit).then_some(h + 6);
    }
    let v = unit - 0x1_0000;
    let (hi, lo) = (0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff));
    (first == hi && one(h + 6)? == lo).then_some(h + 12)
}

/// Named references this matcher knows: ASCII punctuation (what HTML encoders that use
/// names emit) and the non-breaking space. Names are matched case-insensitively.
const NAMED: &[(&str, char)] = &[
    ("amp", '&'),
    ("lt", '<'),
    ("gt", '>'),
    ("quot", '"'),
    ("apos", '\''),
    ("nbsp", '\u{a0}'),
    ("excl", '!'),
    ("num", '#'),
    ("dollar", '$'),
    ("percnt", '%'),
    ("lpar", '('),
    ("rpar", ')'),
    ("ast", '*'),
    ("midast", '*'),
    ("plus", '+'),
    ("comma", ','),
    ("period", '.'),
    ("sol", '/'),
    ("colon", ':'),
    ("semi", ';'),
    ("equals", '='),
    ("quest", '?'),
    ("commat", '@'),
    ("lsqb", '['),
    ("lbrack", '['),
    ("bsol", '\\'),
    ("rsqb", ']'),
    ("rbrack", ']'),
    ("hat", '^'),
    ("lowbar", '_'),
    ("grave", '`'),
    ("lcub", '{'),
    ("lbrace", '{'),
    ("verbar", '|'),
    ("vert", '|'),
    ("rcub", '}'),
    ("rbrace", '}'),
    ("tilde", '~'),
    ("tab", '\t'),
    ("newline", '\n'),
];

/// HTML 4's named references for U+00A0..=U+00FF (Latin-1), by code point - 0xA0: what
/// encoders such as PHP's `htmlentities` emit for accented letters (`&eacute;`).
const LATIN1_NAMES: [&str; 96] = [
    "nbsp", "iexcl", "cent", "pound", "curren", "yen", "brvbar", "sect", "uml", "copy", "ordf",
    "laquo", "not", "shy", "reg", "macr", "deg", "plusmn", "sup2", "sup3", "acute", "micro",
    "para", "middot", "cedil", "sup1", "ordm", "raquo", "frac14", "frac12", "frac34", "iquest",
    "Agrave", "Aacute", "Acirc", "Atilde", "Auml", "Aring", "AElig", "Ccedil", "Egrave", "Eacute",
    "Ecirc", "Euml", "Igrave", "Iacute", "Icirc", "Iuml", "ETH", "Ntilde", "Ograve", "Oacute",
    "Ocirc", "Otilde", "Ouml", "times", "Oslash", "Ugrave", "Uacute", "Ucirc", "Uuml", "Yacute",
    "THORN", "szlig", "agrave", "aacute", "acirc", "atilde", "auml", "aring", "aelig", "ccedil",
    "egrave", "eacute", "ecirc", "euml", "igrave", "iacute", "icirc", "iuml", "eth", "ntilde",
    "ograve", "oacute", "ocirc", "otilde", "ouml", "divide", "oslash", "ugrave", "uacute", "ucirc",
    "uuml", "yacute", "thorn", "yuml",
];

/// `&#NN;`, `&#xNN;` (the `;` optional, as browsers read it) or a named reference.
fn html_reference(hay: &[u8], h: usize, unit: u32) -> Option<usize> {
    let rest = &hay[h + 1..];
    if rest.first() == Some(&b'#') {
        let (radix, digits_at) = match rest.get(1) {
            Some(b'x' | b'X') => (16, 2),
            _ => (10, 1),
        };
        let digits = rest[digits_at..]
            .iter()
            .take_while(|b| (**b as char).is_digit(radix))
            .count();
        if digits == 0 || digits > 10 {
            return None;
        }
        let value = rest[digits_at..digits_at + digits]
            .iter()
            .try_fold(0u32, |acc, b| {
                acc.checked_mul(radix)?
                    .checked_add((*b as char).to_digit(radix)?)
            })?;
        if value != unit {
            return None;
        }
        let mut end = h + 1 + digits_at + digits;
        if hay.get(end) == Some(&b';') {
            end += 1;
        }
        return Some(end);
    }
    let c = char::from_u32(unit)?;
    let latin1 = (0xa0..=0xff)
        .contains(&unit)
        .then(|| (LATIN1_NAMES[(unit - 0xa0) as usize], c));
    NAMED
        .iter()
        .copied()
        .chain(latin1)
        .filter(|(_, ch)| *ch == c)
        .find_map(|(name, _)| {
            let n = name.len();
            let candidate = rest.get(..n + 1)?;
            (candidate[..n].eq_ignore_ascii_case(name.as_bytes()) && candidate[n] == b';')
                .then_some(h + 1 + n + 1)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redact(r: &Redactor, s: &[u8]) -> String {
        String::from_utf8_lossy(&r.redact(s).unwrap_or_else(|| s.to_vec())).into_owned()
    }

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
            (b"<p>s3cr&quot;t key&amp;</p>", b"<p>[redacted]</p>"),
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

    /// Encoders written here from their specifications, independent of the matcher.
    fn percent(s: &str, keep: &[u8], lower: bool, plus: bool) -> String {
        let mut out = String::new();
        for b in s.bytes() {
            if b.is_ascii_alphanumeric() || keep.contains(&b) {
                out.push(b as char);
            } else if plus && b == b' ' {
                out.push('+');
            } else if lower {
                out.push_str(&format!("%{b:02x}"));
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    }

    fn js_escape(s: &str) -> String {
        let mut out = String::new();
        for u in s.encode_utf16() {
            match u {
                u if u < 0x80 && (u as u8).is_ascii_alphanumeric() => out.push(u as u8 as char),
                u if u < 0x80 && b"@*_+-./".contains(&(u as u8)) => out.push(u as u8 as char),
                u if u < 0x100 => out.push_str(&format!("%{u:02X}")),
                u => out.push_str(&format!("%u{u:04X}")),
            }
        }
        out
    }

    fn json_u(s: &str, upper: bool, slash: bool) -> String {
        let mut out = String::new();
        for c in s.chars() {
            match c {
                '/' if slash => out.push_str("\\/"),
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if c.is_ascii_alphanumeric() => out.push(c),
                c => {
                    for u in c.encode_utf16(&mut [0; 2]) {
                        if upper {
                            out.push_str(&format!("\\u{u:04X}"));
                        } else {
                            out.push_str(&format!("\\u{u:04x}"));
                        }
                    }
                }
            }
        }
        out
    }

    fn html(s: &str, style: u8) -> String {
        let mut out = String::new();
        for c in s.chars() {
            match (style, c) {
                (_, c) if c.is_ascii_alphanumeric() => out.push(c),
                (0, '&') => out.push_str("&amp;"),
                (0, '<') => out.push_str("&lt;"),
                (0, '"') => out.push_str("&quot;"),
                (0, '\'') => out.push_str("&#39;"),
                (0, c) => out.push(c),
                (1, c) => out.push_str(&format!("&#{};", c as u32)),
                (_, c) => out.push_str(&format!("&#x{:x};", c as u32)),
            }
        }
        out
    }

    /// Found by the `redactor` fuzz target: in a secret that is not UTF-8, the ASCII
    /// characters lost their other spellings (`+` for a space, `%2F`), so its form
    /// encoding survived.
    #[test]
    fn a_secret_that_is_not_utf8_keeps_every_spelling_of_its_ascii() {
        let secret = b"=c/b\0+# ~\x84}*(A/B)'";
        let mut r = Redactor::default();
        r.add(secret);
        let form: String = url::form_urlencoded::byte_serialize(secret).collect();
        let echoed = format!("q={form}&x=0");
        assert_eq!(redact(&r, echoed.as_bytes()), "q=[redacted]&x=0");
    }

    #[test]
    fn latin1_named_references_are_read() {
        // What PHP's htmlentities() makes of an accented key: `&eacute;`, `&Eacute;`.
        let mut r = Redactor::default();
        r.add("caf\u{e9}-\u{c9}t\u{e9}-k3y".as_bytes());
        for echoed in [
            "<b>caf&eacute;-&Eacute;t&eacute;-k3y</b>",
            "<b>caf&eacute;-&#201;t&#xe9;-k3y</b>",
        ] {
            assert_eq!(
                redact(&r, echoed.as_bytes()),
                "<b>[redacted]</b>",
                "{echoed}"
            );
        }
        // A name for another letter is not this secret.
        assert_eq!(r.redact(b"caf&egrave;-&Eacute;t&eacute;-k3y"), None);
    }

    fn latin1(s: &str) -> Option<Vec<u8>> {
        s.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect()
    }

    const TRICKY: &[&str] = &[
        "k/+=~!*'()y",
        "a b/c+d=e",
        "sk_live_é/x",
        "pw😀(1)*",
        "~!*'()",
        "Aé😀 /+=",
        "100%&<>\"\\",
        "tab\there",
        // First characters that are escape leads or have several spellings themselves
        // (the scan's pre-filter looks at the byte after each start).
        " sp/ace",
        "+plus=",
        "%25pct",
        "&amp;k",
        "\\back\"",
        "/sl",
        "\"q'",
        "'ap",
        "\nnl",
        "é-first",
        "😀-first",
    ];

    #[test]
    fn every_supported_encoding_of_tricky_keys_is_replaced() {
        for key in TRICKY {
            let mut r = Redactor::default();
            r.add(key.as_bytes());
            let mut forms: Vec<(String, Vec<u8>)> = vec![
                ("raw".into(), key.as_bytes().to_vec()),
                ("upper".into(), key.to_ascii_uppercase().into_bytes()),
                // Python quote (safe='/'), quote_plus, JS encodeURIComponent, encodeURI.
                ("quote".into(), percent(key, b"_.-~/", false, false).into()),
                (
                    "quote_plus".into(),
                    percent(key, b"_.-~", false, true).into(),
                ),
                (
                    "encodeURIComponent".into(),
                    percent(key, b"-_.!~*'()", false, false).into(),
                ),
                (
                    "encodeURI".into(),
                    percent(key, b"-_.!~*'();/?:@&=+$,#", false, false).into(),
                ),
                ("lower hex".into(), percent(key, b"", true, false).into()),
                ("form".into(), percent(key, b"*-._", false, true).into()),
                ("escape".into(), js_escape(key).into()),
                ("json \\u".into(), json_u(key, false, false).into()),
                ("json \\U".into(), json_u(key, true, true).into()),
                ("json serde".into(), {
                    let j = serde_json::to_string(key).unwrap();
                    j.as_bytes()[1..j.len() - 1].to_vec()
                }),
                ("html named".into(), html(key, 0).into()),
                ("html dec".into(), html(key, 1).into()),
                ("html hex".into(), html(key, 2).into()),
            ];
            if let Some(l) = latin1(key) {
                forms.push(("latin-1".into(), l));
            }
            for (what, form) in forms {
                let mut hay = b"before ".to_vec();
                hay.extend_from_slice(&form);
                hay.extend_from_slice(b" after");
                let out = redact(&r, &hay);
                assert_eq!(
                    out,
                    "before [redacted] after",
                    "{what} of {key:?}: {}",
                    String::from_utf8_lossy(&form)
                );
            }
        }
    }

    #[test]
    fn one_character_secrets_are_found_at_the_end_and_before_anything() {
        let forms: [(&str, &[&[u8]]); 3] = [
            ("/", &[b"/", b"%2f", b"\\/", b"&#47;", b"&sol;", b"\\u002F"]),
            (
                "é",
                &[b"\xc3\xa9", b"%C3%A9", b"\xe9", b"&eacute;", b"\\u00e9"],
            ),
            ("k", &[b"K", b"%6B", b"\\u006b", b"&#107"]),
        ];
        for (secret, forms) in forms {
            let mut r = Redactor::default();
            r.add(secret.as_bytes());
            for form in forms {
                for (before, after) in [(&b"a "[..], &b""[..]), (b"", b" z"), (b"", b"\\")] {
                    let hay = [before, form, after].concat();
                    let want = [before, REDACTED, after].concat();
                    assert_eq!(
                        r.redact(&hay).as_deref(),
                        Some(&want[..]),
                        "{secret:?} in {}",
                        String::from_utf8_lossy(&hay)
                    );
                }
            }
        }
    }

    #[test]
    fn longest_secret_wins_and_text_around_is_kept() {
        let mut r = Redactor::default();
        r.add(b"tok");
        r.add(b"Bearer tok");
        assert_eq!(
            redact(&r, b"a Bearer tok b tok"),
            "a [redacted] b [redacted]"
        );
        assert_eq!(redact(&r, b"to tok%"), "to [redacted]%");
        // Percent signs that are not escapes, and a `%` secret followed by `%25`.
        let mut r = Redactor::default();
        r.add(b"%25x");
        assert_eq!(redact(&r, b"%%25x %2525x %x"), "%[redacted] [redacted] %x");
    }

    #[test]
    fn a_secret_that_is_not_text_is_matched_byte_for_byte() {
        let mut r = Redactor::default();
        r.add(&[0xff, b'a', 0x00]);
        assert_eq!(
            redact(&r, b"x\xffa\x00y %FFA%00"),
            "x[redacted]y [redacted]"
        );
        let mut r = Redactor::default();
        r.add(b"k\xff");
        assert_eq!(redact(&r, b"K\xff"), "[redacted]");
    }

    #[test]
    fn near_misses_are_left_alone() {
        let mut r = Redactor::default();
        r.add("k/é".as_bytes());
        for s in ["k/e", "k%2Fe", "k\\/\\u00e8", "k&#47;&#232;", "k/%C3"] {
            assert_eq!(r.redact(s.as_bytes()), None, "{s}");
        }
    }

    #[test]
    fn crafted_overlaps_stay_bounded_and_fail_closed() {
        let mut r = Redactor::default();
        let secret = "%".repeat(64);
        r.add(secret.as_bytes());
        let hay = "%25".repeat(100_000);
        let started = std::time::Instant::now();
        let out = r.redact(hay.as_bytes()).unwrap();
        assert!(!String::from_utf8_lossy(&out).contains(&"%25".repeat(64)));
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn a_large_body_is_scanned_in_linear_time() {
        let mut r = Redactor::default();
        r.add(b"sk_live_canary/+=");
        r.add(b"Bearer sk_live_canary/+=");
        // 8 MiB of text rich in escape leaders and near-misses.
        let chunk = b"{\"a\":\"s\\u006b_live &amp; %41 sk_live_canar\\/ \\\\n\"} ";
        let mut hay = Vec::with_capacity(8 << 20);
        while hay.len() < 8 << 20 {
            hay.extend_from_slice(chunk);
        }
        hay.extend_from_slice(b"sk_live_canary%2F%2b%3D");
        let started = std::time::Instant::now();
        let out = r.redact(&hay).unwrap();
        assert!(out.ends_with(b"[redacted]"));
        // Generous for a debug build on a loaded machine; the release figure is tens of ms.
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
    }
}
