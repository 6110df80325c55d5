//! The URL paths and queries a function sends, through the outbound origin checks and
//! the credentials that rewrite them: AWS SigV4's canonical re-encoding and signing, and
//! an API key placed in the query.
//!
//! Input (text): the method on the first line, the URL on the second, `s3` or another
//! AWS service name on the third, then `name: value` header lines up to an empty line,
//! then the body.
//!
//! Properties: never panics; an allowed-host entry normalises to a fixed point that the
//! policy built from it allows; the SigV4 re-encoding is a fixed point (signing the
//! signed request again, as on a redirect hop, sends the same URL); an API key in the
//! query leaves every other parameter as it was, in order, and appears once.

#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use switchboard_connections::fuzzing::{
    ApiKeyValue, AuthConfig, Credential, Credentials, ParamType, Policy, SecretAccessKey,
    SecretString, normalize_origin,
    redact_url,
};
use url::Url;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let (Some(method), Some(raw_url)) = (lines.next(), lines.next()) else {
        return;
    };
    let service = lines.next().unwrap_or("s3");
    let mut header_pairs = Vec::new();
    for line in lines.by_ref() {
        if line.is_empty() {
            break;
        }
        if let Some((n, v)) = line.split_once(':') {
            header_pairs.push((n.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let body: Vec<u8> = lines.collect::<Vec<_>>().join("\n").into_bytes();
    let body = (!body.is_empty()).then_some(body);

    // Origin checks.
    if let Ok(origin) = normalize_origin(raw_url) {
        assert_eq!(normalize_origin(&origin).as_deref(), Ok(origin.as_str()));
        let policy = Policy::new(std::slice::from_ref(&origin)).expect("a normal origin builds");
        let url = Url::parse(raw_url).expect("an origin is a URL");
        assert!(
            policy.allows(&url),
            "{raw_url} is not allowed by its own origin {origin}"
        );
    }
    let Ok(method) = reqwest::Method::from_bytes(method.as_bytes()) else {
        return;
    };
    let Ok(url) = Url::parse(raw_url) else {
        return;
    };
    let _ = redact_url(&url);
    // Outbound refuses anything else before a credential touches the request.
    if !matches!(url.scheme(), "http" | "https")
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return;
    }
    let mut headers = HeaderMap::new();
    for (n, v) in &header_pairs {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(n.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            headers.append(n, v);
        }
    }

    // SigV4.
    let aws = AuthConfig::AwsSigv4 {
        service: service.to_owned(),
        region: "us-east-1".to_owned(),
    };
    let keys = Credentials::AwsSigv4 {
        access_key_id: SecretString::new("AKIDEXAMPLE"),
        secret_access_key: SecretAccessKey::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        session_token: None,
    };
    if let Ok(credential) = Credential::new(&aws, &keys)
        && credential
            .check_request(&method, &url, &header_pairs, body.as_deref())
            .is_ok()
    {
        let (mut signed_url, mut signed_headers, mut signed_body) =
            (url.clone(), headers.clone(), body.clone());
        if credential
            .apply(
                &method,
                &mut signed_url,
                &mut signed_headers,
                &mut signed_body,
            )
            .is_ok()
        {
            let mut hop = signed_url.clone();
            credential
                .apply(&method, &mut hop, &mut signed_headers, &mut signed_body)
                .expect("a signed request signs again");
            assert_eq!(
                signed_url, hop,
                "the canonical encoding is not a fixed point: {url} -> {signed_url} -> {hop}"
            );
        }
    }

    // An API key in the query.
    let api_key = AuthConfig::ApiKey {
        params: vec![switchboard_connections::fuzzing::ApiKeyParam {
            name: "api_key".into(),
            display_name: "API key".into(),
            param_type: ParamType::Query,
        }],
    };
    let values = Credentials::ApiKey {
        values: BTreeMap::from([("api_key".to_owned(), ApiKeyValue::new("k3y&=?#/"))]),
    };
    let credential = Credential::new(&api_key, &values).expect("an API key credential builds");
    if credential
        .check_request(&method, &url, &header_pairs, body.as_deref())
        .is_err()
    {
        return;
    }
    let (mut keyed, mut keyed_headers, mut keyed_body) = (url.clone(), headers, body);
    credential
        .apply(&method, &mut keyed, &mut keyed_headers, &mut keyed_body)
        .expect("a query key always applies");
    let before: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let after: Vec<(String, String)> = keyed
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let (keys_after, others): (Vec<_>, Vec<_>) =
        after.into_iter().partition(|(k, _)| k == "api_key");
    assert_eq!(keys_after, [("api_key".to_owned(), "k3y&=?#/".to_owned())]);
    assert_eq!(
        before, others,
        "the API key changed the other parameters: {url} -> {keyed}"
    );
    assert_eq!(url.path(), keyed.path());
});
