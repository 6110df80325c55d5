//! Dynamic parameters: `{key}` placeholders in a service's API origins and in the URLs a
//! function sends, and the checks that keep a value inside its placeholder. A value
//! that lands in a host must be a host-name fragment (so `evil.com/#` cannot move the
//! credentials elsewhere); a value anywhere else is percent-encoded when it is filled in.

use std::collections::BTreeMap;

use regex::Regex;

use switchboard_model::records::DynamicParam;
use switchboard_outbound::normalize_origin;

/// Longest accepted value.
pub(crate) const MAX_VALUE_LEN: usize = 253;

/// Everything but RFC 3986 unreserved characters is percent-encoded in filled values.
const NOT_UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Whether `key` is a valid placeholder name: a lower-case letter, then lower-case
/// letters, digits or `_`, at most 50.
pub(crate) fn is_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 50
        && key.starts_with(|c: char| c.is_ascii_lowercase())
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The placeholders `{key}` in `text`, in order. Braces around anything that is not a
/// valid key are left alone (they are not placeholders).
pub fn placeholders(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) if is_key(&after[..close]) => {
                out.push(&after[..close]);
                rest = &after[close + 1..];
            }
            _ => rest = after,
        }
    }
    out
}

/// Compiles a parameter's pattern so that it must match the whole value.
///
/// # Errors
/// The pattern is not a valid regular expression, or too large.
pub(crate) fn compile_pattern(pattern: &str) -> Result<Regex, String> {
    regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(1 << 20)
        .build()
        .map_err(|e| format!("pattern `{pattern}` is not a valid regular expression: {e}"))
}

/// Checks an API-origin template against the declared parameters and returns the keys
/// it uses.
///
/// # Errors
/// An undeclared placeholder, or a template that is not an origin once filled.
pub fn check_origin_template(template: &str, declared: &[DynamicParam]) -> Result<(), String> {
    let keys = placeholders(template);
    if let Some(k) = keys.iter().find(|k| !declared.iter().any(|p| p.key == **k)) {
        return Err(format!(
            "API origin `{template}` uses `{{{k}}}`, which is not one of the service's dynamic parameters"
        ));
    }
    let sample = keys.iter().fold(template.to_owned(), |t, k| {
        t.replace(&format!("{{{k}}}"), "x")
    });
    normalize_origin(&sample)
        .map(|_| ())
        .map_err(|e| format!("API origin `{template}`: {e}"))
}

/// Whether `value` may stand in a host name: letters, digits, `-` and `.`, with no
/// empty label (an empty value would let the URL parser take what follows as the host).
fn is_host_fragment(value: &str) -> bool {
    !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !value.starts_with('.')
        && !value.ends_with('.')
        && !value.contains("..")
}

/// Checks every value of a connection against the service's parameters: all present,
/// none unknown, each matching its pattern, and those used in an API origin or in one of
/// `url_templates` (OAuth endpoints) safe in a host.
///
/// # Errors
/// A message naming the parameter (values are not secrets, but are not echoed whole).
pub fn check_values(
    declared: &[DynamicParam],
    origin_templates: &[String],
    url_templates: &[String],
    values: &BTreeMap<String, String>,
) -> Result<(), String> {
    if let Some(k) = values
        .keys()
        .find(|k| !declared.iter().any(|p| &p.key == *k))
    {
        return Err(format!(
            "`{k}` is not a dynamic parameter of this service (it has: {})",
            if declared.is_empty() {
                "none".to_owned()
            } else {
                declared
                    .iter()
                    .map(|p| p.key.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ));
    }
    let in_origin: Vec<&str> = origin_templates
        .iter()
        .chain(url_templates)
        .flat_map(|t| placeholders(t))
        .collect();
    for p in declared {
        let Some(value) = values.get(&p.key) else {
            return Err(format!(
                "dynamic parameter `{}` ({}) needs a value",
                p.key, p.display_name
            ));
        };
        if value.is_empty() || value.len() > MAX_VALUE_LEN {
            return Err(format!(
                "the value of `{}` must be 1 to {MAX_VALUE_LEN} characters",
                p.key
            ));
        }
        if value.chars().any(char::is_control) {
            return Err(format!(
                "the value of `{}` contains control characters",
                p.key
            ));
        }
        if let Some(pattern) = &p.pattern {
            let re = compile_pattern(pattern)?;
            if !re.is_match(value) {
                return Err(format!(
                    "the value of `{}` does not match its pattern `{pattern}`",
                    p.key
                ));
            }
        }
        if in_origin.contains(&p.key.as_str()) && !is_host_fragment(value) {
            return Err(format!(
                "the value of `{}` is used in the service's API origin, so it may hold only letters, digits, `-` and `.` (a host name fragment)",
                p.key
            ));
        }
    }
    for t in origin_templates {
        fill_origin(t, values)?;
    }
    Ok(())
}

/// Fills an origin template and normalises the result.
///
/// # Errors
/// A placeholder without a value, or a result that is not an origin.
pub fn fill_origin(template: &str, values: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = template.to_owned();
    for k in placeholders(template) {
        let v = values
            .get(k)
            .ok_or_else(|| format!("API origin `{template}` needs a value for `{k}`"))?;
        if !is_host_fragment(v) {
            return Err(format!("the value of `{k}` is not a host name fragment"));
        }
        out = out.replace(&format!("{{{k}}}"), v);
    }
    normalize_origin(&out).map_err(|e| format!("API origin `{template}` once filled: {e}"))
}

/// The keys of `keys` whose placeholders the URL parser reads as part of the authority
/// (host or user info) of `url`: found by parsing the URL with a marker label in each
/// placeholder, so every spelling the parser accepts (`https:{key}`, `https:\\{key}`,
/// leading spaces) counts. Percent-encoding cannot keep a value there in its place: the
/// parser decodes a host, and IDNA maps look-alike dots (`。`) to `.`.
fn authority_keys<'a>(url: &str, keys: &[&'a str]) -> Vec<&'a str> {
    let mut tag = 0u32;
    let marker = |tag: u32, i: usize| format!("zqph{tag}x{i}q");
    while (0..keys.len()).any(|i| url.contains(&marker(tag, i))) {
        tag += 1;
    }
    let mut sample = url.to_owned();
    for (i, k) in keys.iter().enumerate() {
        sample = sample.replace(&format!("{{{k}}}"), &marker(tag, i));
    }
    let Ok(parsed) = url::Url::parse(&sample) else {
        return Vec::new();
    };
    let authority = [
        parsed.host_str().unwrap_or_default(),
        parsed.username(),
        parsed.password().unwrap_or_default(),
    ];
    keys.iter()
        .enumerate()
        .filter(|(i, _)| authority.iter().any(|a| a.contains(&marker(tag, *i))))
        .map(|(_, k)| *k)
        .collect()
}

/// Fills the `{key}` placeholders of a request URL with a connection's values,
/// percent-encoded; a value in the URL's host must be a host-name fragment.
///
/// # Errors
/// A placeholder the connection has no value for; a value in the host that is not a
/// host-name fragment.
pub fn fill_url(url: &str, values: &BTreeMap<String, String>) -> Result<String, String> {
    let keys = placeholders(url);
    if keys.is_empty() {
        return Ok(url.to_owned());
    }
    let in_authority = authority_keys(url, &keys);
    let mut out = url.to_owned();
    for k in keys {
        let v = values.get(k).ok_or_else(|| {
            format!(
                "the URL has the placeholder `{{{k}}}` but the connection has no parameter `{k}`"
            )
        })?;
        if in_authority.contains(&k) && !is_host_fragment(v) {
            return Err(format!(
                "the URL uses `{{{k}}}` in its host, so the value of `{k}` may hold only letters, digits, `-` and `.` (a host name fragment)"
            ));
        }
        let encoded: String = percent_encoding::utf8_percent_encode(v, NOT_UNRESERVED).collect();
        out = out.replace(&format!("{{{k}}}"), &encoded);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain(pattern: Option<&str>) -> Vec<DynamicParam> {
        vec![DynamicParam {
            key: "domain".into(),
            display_name: "Domain".into(),
            pattern: pattern.map(str::to_owned),
        }]
    }

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn placeholders_are_found_and_other_braces_ignored() {
        assert_eq!(
            placeholders("https://{domain}.x.com/{a_1}/{Not}/{}/{b"),
            ["domain", "a_1"]
        );
        assert!(placeholders("https://x.com/?q={\"a\":1}").is_empty());
    }

    #[test]
    fn origin_templates_are_checked() {
        let d = domain(None);
        assert!(check_origin_template("https://{domain}.example.com", &d).is_ok());
        assert!(check_origin_template("https://api.example.com:8443", &d).is_ok());
        let e = check_origin_template("https://{tenant}.example.com", &d).unwrap_err();
        assert!(e.contains("{tenant}"), "{e}");
        let e = check_origin_template("https://{domain}.example.com/v1", &d).unwrap_err();
        assert!(e.contains("origin only"), "{e}");
        assert!(check_origin_template("ftp://{domain}.example.com", &d).is_err());
    }

    #[test]
    fn values_cannot_move_the_host() {
        let d = domain(None);
        let t = vec!["https://{domain}.example.com".to_owned()];
        assert!(check_values(&d, &t, &[], &values(&[("domain", "zylker")])).is_ok());
        assert!(check_values(&d, &t, &[], &values(&[("domain", "eu.zylker")])).is_ok());
        for bad in [
            "evil.com/#",
            "evil.com?",
            "a@evil.com",
            "evil.com:80",
            "",
            ".x",
            "a..b",
            "x y",
        ] {
            assert!(
                check_values(&d, &t, &[], &values(&[("domain", bad)])).is_err(),
                "{bad}"
            );
        }
        assert_eq!(
            fill_origin(&t[0], &values(&[("domain", "Zylker")])).unwrap(),
            "https://zylker.example.com"
        );
        let e = check_values(&d, &t, &[], &values(&[])).unwrap_err();
        assert!(e.contains("needs a value"), "{e}");
        let e = check_values(&d, &t, &[], &values(&[("domain", "a"), ("x", "b")])).unwrap_err();
        assert!(e.contains("`x` is not a dynamic parameter"), "{e}");
    }

    #[test]
    fn patterns_match_the_whole_value() {
        let d = domain(Some("[a-z]+"));
        let t = vec![];
        assert!(check_values(&d, &t, &[], &values(&[("domain", "abc")])).is_ok());
        let e = check_values(&d, &t, &[], &values(&[("domain", "abc1")])).unwrap_err();
        assert!(e.contains("does not match"), "{e}");
        assert!(compile_pattern("(").is_err());
    }

    #[test]
    fn request_urls_are_filled_encoded() {
        let v = values(&[("domain", "zylker"), ("id", "a/b c")]);
        assert_eq!(
            fill_url("https://{domain}.example.com/items/{id}?x=1", &v).unwrap(),
            "https://zylker.example.com/items/a%2Fb%20c?x=1"
        );
        let e = fill_url("https://{tenant}.example.com/", &v).unwrap_err();
        assert!(e.contains("{tenant}"), "{e}");
        assert_eq!(fill_url("https://a.com/", &v).unwrap(), "https://a.com/");
    }

    #[test]
    fn request_url_hosts_take_only_host_name_fragments() {
        // Found by the url_template fuzz target: percent-encoded, U+3002 (and the other
        // dots IDNA maps to `.`) is decoded back by the URL parser and splits the label.
        for bad in [
            "evil\u{3002}com",
            "evil\u{ff0e}com",
            "a b",
            "a%2e",
            "x_y",
            "\u{e9}",
            "",
        ] {
            let v = values(&[("t", bad)]);
            for template in [
                "https://{t}.example.com/",
                "https:{t}.example.com",
                "http:\\\\x{t}:8080?q",
                "https://user@{t}",
            ] {
                let e = fill_url(template, &v).unwrap_err();
                assert!(
                    e.contains("`t`") && e.contains("host"),
                    "{template} {bad}: {e}"
                );
            }
            // Anywhere else the value is percent-encoded and stays where it was put.
            let url = fill_url("https://a.example.com/{t}?q={t}#{t}", &v).unwrap();
            assert_eq!(
                url::Url::parse(&url).unwrap().host_str(),
                Some("a.example.com")
            );
        }
        let v = values(&[("t", "eu.Zylker-1")]);
        assert_eq!(
            fill_url("https://{t}.example.com/{t}", &v).unwrap(),
            "https://eu.Zylker-1.example.com/eu.Zylker-1"
        );
    }
}
