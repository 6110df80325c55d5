//! `{key}` placeholders: the URL a function sends filled with a connection's values
//! (`fill_url`), and a service's API-origin templates checked and filled
//! (`check_origin_template`, `check_values`, `fill_origin`).
//!
//! Input (text): the template on the first line, then `key=value` lines.
//!
//! Properties: never panics; a value filled into a host stays where its placeholder
//! was: the host keeps the template's text before the first and after the last
//! placeholder, and gains exactly the labels the values' own dots add (a value cannot
//! end the host, add a user, port or path, or split a label with look-alike dots);
//! a value cannot add or remove path segments; an origin template that checks fills,
//! with values that check, to an origin whose host is the template's with the values
//! in place.

#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use switchboard_connections::fuzzing::{
    DynamicParam, check_origin_template, check_values, fill_origin, fill_url, placeholders,
};
use url::Url;

/// A label no template or value holds (those that do are skipped), one per key.
fn marker(i: usize) -> String {
    format!("zqmark{i}zq")
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.lines();
    let Some(template) = lines.next() else {
        return;
    };
    let values: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once('='))
        // What a connection can hold (`check_values` refuses the rest at connect).
        .filter(|(_, v)| !v.is_empty() && v.len() <= 253 && !v.chars().any(char::is_control))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    if template.contains("zqmark") || values.values().any(|v| v.contains("zqmark")) {
        return;
    }
    let keys: Vec<&str> = placeholders(template);
    // The template with every placeholder replaced by its marker label.
    let mut sample = template.to_owned();
    let mut order: Vec<&str> = Vec::new();
    for k in &keys {
        if !order.contains(k) {
            order.push(k);
        }
    }
    for (i, k) in order.iter().enumerate() {
        sample = sample.replace(&format!("{{{k}}}"), &marker(i));
    }

    if let Ok(filled) = fill_url(template, &values) {
        check_fill(&sample, &order, &values, &filled);
    }

    // The same text as a service's API origin.
    let declared: Vec<DynamicParam> = order
        .iter()
        .map(|k| DynamicParam {
            key: (*k).to_owned(),
            display_name: (*k).to_owned(),
            pattern: None,
        })
        .collect();
    if check_origin_template(template, &declared).is_ok() {
        let origins = vec![template.to_owned()];
        if check_values(&declared, &origins, &[], &values).is_ok() {
            let filled = fill_origin(template, &values)
                .expect("values that check fill the origin that checks");
            check_fill(&sample, &order, &values, &filled);
        }
    } else {
        let _ = fill_origin(template, &values);
    }
});

fn check_fill(sample: &str, order: &[&str], values: &BTreeMap<String, String>, filled: &str) {
    let (Ok(sample_url), Ok(filled_url)) = (Url::parse(sample), Url::parse(filled)) else {
        return;
    };
    // A placeholder may stand in the scheme (`htt{x}:`): then the value decides how the
    // rest parses (an unknown scheme's opaque path, or http's segments), and nothing below
    // compares like with like. Outbound sends only http(s), to an origin checked after the
    // fill, so there is nothing more to hold such a template to.
    if sample_url.scheme().contains("zqmark") {
        return;
    }
    assert_eq!(sample_url.scheme(), filled_url.scheme(), "{filled}");
    // Outbound sends nothing else.
    if !matches!(filled_url.scheme(), "http" | "https") {
        return;
    }
    assert_eq!(sample_url.port(), filled_url.port(), "{filled}");
    // Path segments: only whole-segment `.`/`..` values could move them, and those are
    // the next check's business; every other value stays inside its segment.
    let dots = |v: &str| v == "." || v == "..";
    if !order
        .iter()
        .any(|k| values.get(*k).is_some_and(|v| dots(v)))
    {
        let count = |u: &Url| u.path_segments().map_or(0, Iterator::count);
        assert_eq!(
            count(&sample_url),
            count(&filled_url),
            "a value changed the path's segments: {sample} -> {filled}"
        );
    }
    let (Some(url::Host::Domain(sample_host)), Some(filled_host)) =
        (sample_url.host(), filled_url.host_str())
    else {
        return;
    };
    if matches!(
        filled_url.host(),
        Some(url::Host::Ipv4(_) | url::Host::Ipv6(_))
    ) {
        return; // numeric forms are normalised (and guarded after DNS, like any host)
    }
    let used: Vec<(String, &String)> = order
        .iter()
        .enumerate()
        .filter(|(i, _)| sample_host.contains(&marker(*i)))
        .filter_map(|(i, k)| values.get(*k).map(|v| (marker(i), v)))
        .collect();
    if used.is_empty() {
        assert_eq!(sample_host, filled_host, "{filled}");
        return;
    }
    let first = used
        .iter()
        .filter_map(|(m, _)| sample_host.find(m.as_str()))
        .min()
        .unwrap_or(0);
    let last = used
        .iter()
        .filter_map(|(m, _)| sample_host.rfind(m.as_str()).map(|at| at + m.len()))
        .max()
        .unwrap_or(sample_host.len());
    // Where the template's own host is not ASCII, IDNA re-encodes the whole label
    // (`xn--...`), so only the label count says where a value went.
    let punycode = sample_host.split('.').any(|l| l.starts_with("xn--"));
    assert!(
        punycode
            || filled_host.starts_with(&sample_host[..first])
                && filled_host.ends_with(&sample_host[last..]),
        "a value moved the host: {sample} -> {filled}"
    );
    let occurrences = |m: &str| sample_host.matches(m).count();
    let added: usize = used
        .iter()
        .map(|(m, v)| occurrences(m) * v.matches('.').count())
        .sum();
    assert_eq!(
        filled_host.split('.').count(),
        sample_host.split('.').count() + added,
        "a value split or merged host labels: {sample} -> {filled}"
    );
}
