//! The rules a service definition, a connection's values and its credentials must
//! follow, and the edit rules (from Zoho Deluge's Connections documents) between a
//! stored service and its new definition.

use switchboard_auth::{AuthConfig, Credentials, ParamType, aws_sigv4};
use switchboard_model::Error;
use switchboard_model::names::validate_link_name;
use switchboard_model::records::ServiceRecord;

use crate::views::*;
use crate::{bad, template};

/// Longest display name, in characters.
pub const MAX_DISPLAY_NAME: usize = 50;
/// Longest service description, in characters.
pub const MAX_DESCRIPTION: usize = 1000;
/// Longest credential value, in bytes.
pub const MAX_SECRET_LEN: usize = 8192;

/// Header names an API-key parameter may not use: the host sets them itself.
pub(crate) const UNUSABLE_KEY_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "content-type",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

pub(crate) fn check_display_name(what: &str, name: &str) -> Result<(), String> {
    let n = name.trim().chars().count();
    if n == 0 || n > MAX_DISPLAY_NAME {
        return Err(format!(
            "{what} display name must be 1 to {MAX_DISPLAY_NAME} characters (got {n})"
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(format!("{what} display name contains control characters"));
    }
    Ok(())
}

pub(crate) fn check_secret_value(what: &str, value: &str) -> Result<(), Error> {
    if value.len() > MAX_SECRET_LEN {
        return Err(bad(
            "invalid_credentials",
            format!("{what} is longer than {MAX_SECRET_LEN} bytes"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(bad(
            "invalid_credentials",
            format!("{what} contains control characters (a pasted newline?)"),
        ));
    }
    Ok(())
}

/// Checks a service definition; the message says what to fix.
pub(crate) fn validate_service(def: &ServiceDefinition) -> Result<(), Error> {
    let invalid = |m: String| bad("invalid_service", m);
    validate_link_name("service", &def.link_name).map_err(invalid)?;
    check_display_name("service", &def.display_name).map_err(invalid)?;
    match &def.spec.auth {
        AuthConfig::ApiKey { params } => {
            if params.is_empty() {
                return Err(invalid(
                    "an api_key service needs at least one parameter in `auth.params`".into(),
                ));
            }
            for (i, p) in params.iter().enumerate() {
                if p.name.is_empty() || p.name.len() > 100 || p.name.chars().any(char::is_control) {
                    return Err(invalid(format!(
                        "API-key parameter {} needs a name (the actual parameter) of 1 to 100 characters",
                        i + 1
                    )));
                }
                check_display_name(&format!("parameter `{}`", p.name), &p.display_name)
                    .map_err(invalid)?;
                if params[..i]
                    .iter()
                    .any(|q| q.name.eq_ignore_ascii_case(&p.name))
                {
                    return Err(invalid(format!(
                        "API-key parameter `{}` is listed twice",
                        p.name
                    )));
                }
                if p.param_type == ParamType::Header {
                    let lower = p.name.to_ascii_lowercase();
                    if reqwest::header::HeaderName::from_bytes(p.name.as_bytes()).is_err() {
                        return Err(invalid(format!("`{}` is not a valid header name", p.name)));
                    }
                    if UNUSABLE_KEY_HEADERS.contains(&lower.as_str()) || lower.starts_with("proxy-")
                    {
                        return Err(invalid(format!(
                            "header `{}` cannot carry an API key: the host sets it",
                            p.name
                        )));
                    }
                }
            }
        }
        AuthConfig::Basic => {}
        AuthConfig::AwsSigv4 { service, region } => {
            aws_sigv4::check_scope(service, region).map_err(invalid)?;
        }
        AuthConfig::OAuth2 { .. } => crate::flows::oauth2::check_service(def).map_err(invalid)?,
        AuthConfig::OAuth1 { .. } => crate::flows::oauth1::check_service(def).map_err(invalid)?,
    }
    if let Some(secret) = &def.client_secret {
        if !matches!(
            def.spec.auth,
            AuthConfig::OAuth2 { .. } | AuthConfig::OAuth1 { .. }
        ) {
            return Err(invalid(format!(
                "`client_secret` is for oauth1 and oauth2 services; this one is `{}`",
                def.spec.auth.type_name()
            )));
        }
        if secret.expose().is_empty()
            || secret.expose().len() > MAX_SECRET_LEN
            || secret.expose().chars().any(char::is_control)
        {
            return Err(invalid(format!(
                "`client_secret` must be 1 to {MAX_SECRET_LEN} bytes of text without control characters"
            )));
        }
    }
    for (i, p) in def.spec.dynamic_params.iter().enumerate() {
        if !template::is_key(&p.key) {
            return Err(invalid(format!(
                "dynamic parameter key `{}` must start with a lower-case letter and hold only lower-case letters, digits and `_` (at most 50)",
                p.key
            )));
        }
        if def.spec.dynamic_params[..i].iter().any(|q| q.key == p.key) {
            return Err(invalid(format!(
                "dynamic parameter `{}` is listed twice",
                p.key
            )));
        }
        check_display_name(&format!("dynamic parameter `{}`", p.key), &p.display_name)
            .map_err(invalid)?;
        if let Some(pattern) = &p.pattern {
            template::compile_pattern(pattern).map_err(invalid)?;
        }
    }
    if def.spec.api_origins.is_empty() {
        return Err(invalid(
            "`api_origins` needs at least one origin (like https://api.example.com) the credentials may be sent to".into(),
        ));
    }
    if def.spec.api_origins.len() > 20 {
        return Err(invalid("at most 20 API origins".into()));
    }
    for o in &def.spec.api_origins {
        template::check_origin_template(o, &def.spec.dynamic_params).map_err(invalid)?;
    }
    if let Some(c) = &def.spec.category
        && (c.chars().count() > MAX_DISPLAY_NAME || c.chars().any(char::is_control))
    {
        return Err(invalid(format!(
            "category must be at most {MAX_DISPLAY_NAME} characters of text"
        )));
    }
    if def
        .spec
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION)
    {
        return Err(invalid(format!(
            "description must be at most {MAX_DESCRIPTION} characters"
        )));
    }
    Ok(())
}

/// An aws_sigv4 service without API origins gets AWS's (see
/// [`aws_sigv4::default_origins`]); explicit origins are kept as given.
pub(crate) fn with_default_origins(mut def: ServiceDefinition) -> ServiceDefinition {
    if let AuthConfig::AwsSigv4 { service, region } = &def.spec.auth
        && def.spec.api_origins.is_empty()
        && aws_sigv4::check_scope(service, region).is_ok()
    {
        let bucket = def.spec.dynamic_params.iter().any(|p| p.key == "bucket");
        def.spec.api_origins = aws_sigv4::default_origins(service, region, bucket);
    }
    def
}

/// The seed's edit rules between a stored service and its new definition.
pub(crate) fn check_edit(old: &ServiceRecord, new: &ServiceDefinition) -> Result<(), Error> {
    if new.link_name != old.meta.link_name {
        return Err(bad(
            "immutable_field",
            format!(
                "a service's link name never changes (`{}` cannot become `{}`); create a new service instead",
                old.meta.link_name, new.link_name
            ),
        ));
    }
    if new.spec.auth.type_name() != old.spec.auth.type_name() {
        return Err(bad(
            "immutable_field",
            format!(
                "a service's auth type never changes (`{}` cannot become `{}`); create a new service instead",
                old.spec.auth.type_name(),
                new.spec.auth.type_name()
            ),
        ));
    }
    if let (AuthConfig::ApiKey { params: old_p }, AuthConfig::ApiKey { params: new_p }) =
        (&old.spec.auth, &new.spec.auth)
        && let Some(gone) = old_p
            .iter()
            .find(|o| !new_p.iter().any(|n| n.name == o.name))
    {
        return Err(bad(
            "immutable_field",
            format!(
                "API-key parameter `{}` cannot be deleted (parameters can be added and edited, never deleted)",
                gone.name
            ),
        ));
    }
    Ok(())
}

/// Checks the values given at connect against the service's auth type.
pub(crate) fn credentials_for(
    auth: &AuthConfig,
    req: ConnectRequest,
) -> Result<Credentials, Error> {
    let invalid = |m: String| bad("invalid_credentials", m);
    let aws_fields = req.access_key_id.is_some()
        || req.secret_access_key.is_some()
        || req.session_token.is_some();
    let is_aws = matches!(auth, AuthConfig::AwsSigv4 { .. });
    if aws_fields && !is_aws {
        return Err(invalid(format!(
            "`access_key_id`, `secret_access_key` and `session_token` are for aws_sigv4 services; this one is `{}`",
            auth.type_name()
        )));
    }
    if is_aws && (req.values.is_some() || req.username.is_some() || req.password.is_some()) {
        return Err(invalid(
            "this is an aws_sigv4 service: give `access_key_id` and `secret_access_key` (and optionally `session_token`), not `values` or a username and password".into(),
        ));
    }
    match auth {
        AuthConfig::AwsSigv4 { .. } => {
            aws_sigv4::credentials(req.access_key_id, req.secret_access_key, req.session_token)
                .map_err(invalid)
        }
        AuthConfig::ApiKey { params } => {
            if req.username.is_some() || req.password.is_some() {
                return Err(invalid(
                    "this is an api_key service: give `values` (one per parameter), not a username and password".into(),
                ));
            }
            let values = req.values.unwrap_or_default();
            if let Some(unknown) = values
                .keys()
                .find(|k| !params.iter().any(|p| &p.name == *k))
            {
                return Err(invalid(format!(
                    "`{unknown}` is not a parameter of this service (it has: {})",
                    params
                        .iter()
                        .map(|p| p.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            for p in params {
                let Some(v) = values.get(&p.name) else {
                    return Err(invalid(format!(
                        "a value for `{}` ({}) is needed",
                        p.name, p.display_name
                    )));
                };
                if v.expose().is_empty() {
                    return Err(invalid(format!("the value for `{}` is empty", p.name)));
                }
                check_secret_value(&format!("the value for `{}`", p.name), v.expose())?;
            }
            Ok(Credentials::ApiKey { values })
        }
        AuthConfig::Basic => {
            if req.values.is_some() {
                return Err(invalid(
                    "this is a basic service: give `username` and `password`, not `values`".into(),
                ));
            }
            let (Some(username), Some(password)) = (req.username, req.password) else {
                return Err(invalid(
                    "a basic connection needs `username` and `password`".into(),
                ));
            };
            if username.expose().is_empty() {
                return Err(invalid("the username is empty".into()));
            }
            if username.expose().contains(':') {
                return Err(invalid(
                    "the username may not contain `:` (RFC 7617)".into(),
                ));
            }
            check_secret_value("the username", username.expose())?;
            check_secret_value("the password", password.expose())?;
            Ok(Credentials::Basic { username, password })
        }
        // Connect signs these in before it gets here; an exhaustive match keeps a new
        // auth type from slipping through unchecked.
        AuthConfig::OAuth1 { .. } | AuthConfig::OAuth2 { .. } => Err(invalid(format!(
            "`{}` connections are connected by signing in, not with values: connect without a body and open the link it returns",
            auth.type_name()
        ))),
    }
}
