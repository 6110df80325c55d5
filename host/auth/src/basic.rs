//! Basic: `Authorization: Basic base64(username:password)` (RFC 7617).

use base64::Engine as _;
use reqwest::header::{AUTHORIZATION, HeaderValue};

use super::{ApplyError, Placement};
use switchboard_model::{Password, SecretString};

/// The base64 token of `username:password`.
pub(super) fn token(username: &SecretString, password: &Password) -> SecretString {
    let mut pair = zeroize::Zeroizing::new(String::with_capacity(
        username.expose().len() + 1 + password.expose().len(),
    ));
    pair.push_str(username.expose());
    pair.push(':');
    pair.push_str(password.expose());
    SecretString::new(base64::engine::general_purpose::STANDARD.encode(pair.as_bytes()))
}

pub(super) fn placement(
    username: &SecretString,
    password: &Password,
) -> Result<Placement, ApplyError> {
    let value = zeroize::Zeroizing::new(format!("Basic {}", token(username, password).expose()));
    let mut value = HeaderValue::from_str(&value)
        .map_err(|_| ApplyError("the Basic credentials do not form a valid header".into()))?;
    value.set_sensitive(true);
    Ok(Placement::Header {
        name: AUTHORIZATION,
        value,
    })
}
