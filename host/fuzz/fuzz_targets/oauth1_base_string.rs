//! OAuth 1.0a: the signature base string and the signing of a function's request.
//!
//! Input (text): the method on the first line, the URL on the second, a third line of
//! option letters (`q`/`f` put the protocol parameters in the query or the form body
//! instead of the header; `2` HMAC-SHA256, `p` PLAINTEXT; `c` marks the body as a
//! form), then the body.
//!
//! Properties: never panics; the base string is deterministic and the same whatever the
//! order of the query's parameters; signing is deterministic for one nonce and time;
//! signing the signed request again (a redirect hop) replaces the protocol parameters
//! and signs the same base string.

#![no_main]

use libfuzzer_sys::fuzz_target;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use switchboard_connections::fuzzing::{
    FlowParams, OAuth1Signer, ParamType, SecretString, SignatureMethod, Stamp, base_string,
};
use url::Url;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.splitn(4, '\n');
    let (Some(method), Some(raw_url)) = (lines.next(), lines.next()) else {
        return;
    };
    let options = lines.next().unwrap_or_default();
    let body = lines.next().map(|b| b.as_bytes().to_vec());
    let Ok(method) = reqwest::Method::from_bytes(method.as_bytes()) else {
        return;
    };
    let Ok(url) = Url::parse(raw_url) else {
        return;
    };

    // The base string alone.
    let protocol = vec![
        ("oauth_consumer_key".to_owned(), "key".to_owned()),
        ("oauth_nonce".to_owned(), "n".to_owned()),
    ];
    let form: Vec<(String, String)> = body
        .as_deref()
        .map(|b| url::form_urlencoded::parse(b).into_owned().collect())
        .unwrap_or_default();
    let base = base_string(method.as_str(), &url, &protocol, &form);
    assert_eq!(base, base_string(method.as_str(), &url, &protocol, &form));
    if let Some(query) = url.query() {
        let reversed: Vec<&str> = query.split('&').rev().collect();
        let mut other = url.clone();
        other.set_query(Some(&reversed.join("&")));
        assert_eq!(
            base,
            base_string(method.as_str(), &other, &protocol, &form),
            "reordering the query changed the base string: {url} vs {other}"
        );
    }

    // The signer, as outbound runs it on every hop (only on what outbound would send).
    if !matches!(url.scheme(), "http" | "https")
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return;
    }
    let param_type = if options.contains('q') {
        ParamType::Query
    } else if options.contains('f') {
        ParamType::Form
    } else {
        ParamType::Header
    };
    let signature_method = if options.contains('2') {
        SignatureMethod::HmacSha256
    } else if options.contains('p') {
        SignatureMethod::Plaintext
    } else {
        SignatureMethod::HmacSha1
    };
    let mut headers = HeaderMap::new();
    if options.contains('c') {
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
    }
    if OAuth1Signer::check_request(&url, body.as_deref()).is_err() {
        return;
    }
    let signer = OAuth1Signer::new(
        "consumer key",
        &SecretString::new("consumer secret"),
        Some((
            &SecretString::new("token"),
            &SecretString::new("token secret"),
        )),
        signature_method,
        param_type,
    );
    let stamp = Stamp {
        nonce: "nonce".into(),
        timestamp: 1_700_000_000,
    };
    let sign = |url: &Url, headers: &HeaderMap, body: &Option<Vec<u8>>| {
        let (mut url, mut headers, mut body) = (url.clone(), headers.clone(), body.clone());
        let base = signer.sign_with(
            &method,
            &mut url,
            &mut headers,
            &mut body,
            FlowParams::default(),
            &stamp,
        );
        base.map(|b| (b, url, headers, body))
    };
    let Ok(first) = sign(&url, &headers, &body) else {
        return;
    };
    let again = sign(&url, &headers, &body).expect("signing is deterministic");
    assert_eq!(first.0, again.0);
    assert_eq!(first.1, again.1);
    assert_eq!(first.2, again.2);
    assert_eq!(first.3, again.3);
    let hop = sign(&first.1, &first.2, &first.3).expect("a signed request signs again");
    assert_eq!(
        first.0, hop.0,
        "signing the signed request again changed the base string"
    );
});
