//! API key: each parameter's value in the query string, a form body or a header.

use std::collections::BTreeMap;

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use url::Url;

use super::{ApiKeyParam, ApplyError, ParamType, Placement};
use switchboard_model::ApiKeyValue;

const FORM: &str = "application/x-www-form-urlencoded";

pub(super) fn placements(
    params: &[ApiKeyParam],
    values: &BTreeMap<String, ApiKeyValue>,
) -> Result<Vec<Placement>, ApplyError> {
    params
        .iter()
        .map(|p| {
            let value = values.get(&p.name).ok_or_else(|| {
                ApplyError(format!(
                    "the connection has no value for parameter `{}`; connect it again",
                    p.name
                ))
            })?;
            Ok(match p.param_type {
                ParamType::Query => Placement::Query {
                    name: p.name.clone(),
                    value: value.as_secret().clone(),
                },
                ParamType::Form => Placement::Form {
                    name: p.name.clone(),
                    value: value.as_secret().clone(),
                },
                ParamType::Header => {
                    let name = HeaderName::from_bytes(p.name.as_bytes()).map_err(|_| {
                        ApplyError(format!("`{}` is not a valid header name", p.name))
                    })?;
                    let mut value = HeaderValue::from_str(value.expose()).map_err(|_| {
                        ApplyError(format!(
                            "the value of `{}` is not a valid header value; connect again",
                            p.name
                        ))
                    })?;
                    value.set_sensitive(true);
                    Placement::Header { name, value }
                }
            })
        })
        .collect()
}

/// Sets `name=value` in the query, replacing pairs of the same name.
pub(super) fn set_query(url: &mut Url, name: &str, value: &str) {
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != name)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut pairs = url.query_pairs_mut();
    pairs.clear();
    for (k, v) in &kept {
        pairs.append_pair(k, v);
    }
    pairs.append_pair(name, value);
}

/// Sets `name=value` in a form body, creating the body (and its content type) when
/// there is none, replacing pairs of the same name.
pub(super) fn set_form(
    headers: &mut HeaderMap,
    body: &mut Option<Vec<u8>>,
    name: &str,
    value: &str,
) -> Result<(), ApplyError> {
    match headers.get(CONTENT_TYPE) {
        Some(ct) => {
            let essence = ct
                .to_str()
                .unwrap_or_default()
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            if essence != FORM {
                return Err(ApplyError(format!(
                    "this connection sends `{name}` as form data, so the request body must be {FORM} (it is `{essence}`)"
                )));
            }
        }
        None if body.as_ref().is_some_and(|b| !b.is_empty()) => {
            return Err(ApplyError(format!(
                "this connection sends `{name}` as form data: set `content-type: {FORM}` on a request with a body"
            )));
        }
        None => {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(FORM));
        }
    }
    let existing = body.take().unwrap_or_default();
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in url::form_urlencoded::parse(&existing) {
        if k != name {
            out.append_pair(&k, &v);
        }
    }
    out.append_pair(name, value);
    *body = Some(out.finish().into_bytes());
    Ok(())
}
