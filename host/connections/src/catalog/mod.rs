//! The default-service catalogue: pre-configured services (GitHub, Slack, Stripe, ...)
//! shipped as one TOML file per service under `services/`, embedded at build time by
//! `build.rs` and parsed once, at first use, into read-only [`ServiceRecord`]s with the
//! stable id `default_{link}`, kind `default` and creator `catalog`.
//!
//! A file has the shape of the API's service definition plus `docs_url` and, for the
//! docs and tests, `example_params`. OAuth files have no client id: the operator sets
//! their own client once per service (`PUT /api/v1/services/{link}/client`), stored
//! apart and applied by [`record`]. The schema is documented in `docs/catalog.md`.
//!
//! Also here: the service search (`q`, `category`, `kind`) and category counts.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use crate::{ServiceDefinition, ServiceView};
use switchboard_auth::AuthConfig;
use switchboard_model::records::{
    FIRST_REVISION, HOST_SCOPE, ServiceClientRecord, ServiceMeta, ServiceRecord, ServiceSpec,
};

mod files {
    include!(concat!(env!("OUT_DIR"), "/catalog_files.rs"));
}

#[cfg(test)]
mod tests;

/// Prefix of every default service's id (custom services' ids start with `svc_`).
pub const ID_PREFIX: &str = "default_";
/// The `created_by` of default services.
pub const CREATED_BY: &str = "catalog";
/// `created_at` / `updated_at` of default services: the date of this catalogue
/// (2026-11-25T00:00:00Z). Bump it when the catalogue changes.
pub const CATALOG_DATE_MS: u64 = 1_795_564_800_000;

/// The categories a default service may have: (name, display name). Custom services
/// may use any category text.
pub const CATEGORIES: &[(&str, &str)] = &[
    ("accounting", "Accounting"),
    ("ai", "AI"),
    ("analytics", "Analytics"),
    ("cloud", "Cloud"),
    ("communication", "Communication"),
    ("crm", "CRM"),
    ("developer_tools", "Developer tools"),
    ("ecommerce", "E-commerce"),
    ("hr", "HR"),
    ("marketing", "Marketing"),
    ("media", "Media"),
    ("payments", "Payments"),
    ("productivity", "Productivity"),
    ("project_management", "Project management"),
    ("social", "Social"),
    ("storage", "Storage"),
    ("support", "Support"),
];

/// One default service as shipped.
#[derive(Debug, Clone)]
pub struct CatalogEntry {
    /// The definition; an OAuth client id (consumer key) is empty until configured.
    pub definition: ServiceDefinition,
    /// The provider's documentation.
    pub docs_url: String,
    /// A sample value per dynamic parameter (docs and tests).
    pub example_params: BTreeMap<String, String>,
    /// The file it came from.
    pub file: &'static str,
}

impl CatalogEntry {
    /// The service's id: `default_{link}`.
    pub fn id(&self) -> String {
        format!("{ID_PREFIX}{}", self.definition.link_name)
    }
}

fn take_string(table: &mut toml::Table, key: &str) -> Result<Option<String>, String> {
    match table.remove(key) {
        None => Ok(None),
        Some(toml::Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("`{key}` must be a string")),
    }
}

/// Parses one catalogue file. Checks the shape only (the definition's rules are
/// `validate_service`'s, which the tests run on every entry).
///
/// # Errors
/// A message naming the file and what is wrong.
pub fn parse(file: &'static str, text: &str) -> Result<CatalogEntry, String> {
    let fail = |m: String| format!("catalogue file {file}: {m}");
    let mut table: toml::Table = toml::from_str(text).map_err(|e| fail(e.to_string()))?;
    let docs_url = take_string(&mut table, "docs_url")
        .map_err(fail)?
        .ok_or_else(|| fail("`docs_url` (the provider's documentation) is missing".into()))?;
    if !docs_url.starts_with("https://") {
        return Err(fail(format!("`docs_url` `{docs_url}` must be https")));
    }
    let example_params = match table.remove("example_params") {
        None => BTreeMap::new(),
        Some(toml::Value::Table(t)) => t
            .into_iter()
            .map(|(k, v)| match v {
                toml::Value::String(s) => Ok((k, s)),
                _ => Err(fail(format!("`example_params.{k}` must be a string"))),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(fail("`example_params` must be a table".into())),
    };
    if table.contains_key("client_secret") {
        return Err(fail(
            "a catalogue file has no `client_secret`: operators set their own client".into(),
        ));
    }
    // The operator's client id (consumer key) is applied at run time; the file has none.
    if let Some(toml::Value::Table(auth)) = table.get_mut("auth") {
        let client_field = match auth.get("type").and_then(toml::Value::as_str) {
            Some("oauth2") => Some("client_id"),
            Some("oauth1") => Some("consumer_key"),
            _ => None,
        };
        if let Some(field) = client_field {
            if auth.contains_key(field) {
                return Err(fail(format!(
                    "`auth.{field}` must be left out: operators set their own with `switchboard service client`"
                )));
            }
            auth.insert(field.to_owned(), toml::Value::String(String::new()));
        }
    }
    let definition: ServiceDefinition = toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| fail(e.to_string()))?;
    if file.strip_suffix(".toml") != Some(definition.link_name.as_str()) {
        return Err(fail(format!(
            "the file must be named after the link name (`{}.toml`)",
            definition.link_name
        )));
    }
    Ok(CatalogEntry {
        definition,
        docs_url,
        example_params,
        file,
    })
}

static ENTRIES: LazyLock<Vec<CatalogEntry>> = LazyLock::new(|| {
    files::FILES
        .iter()
        .filter_map(|(file, text)| match parse(file, text) {
            Ok(e) => Some(e),
            Err(e) => {
                // The tests parse every file; this only guards a broken build.
                tracing::error!(error = %e, "default service skipped");
                None
            }
        })
        .collect()
});

/// Every default service, by link name.
pub fn entries() -> &'static [CatalogEntry] {
    &ENTRIES
}

/// The default service with this link name.
pub fn get(link: &str) -> Option<&'static CatalogEntry> {
    let entries = entries();
    entries
        .binary_search_by(|e| e.definition.link_name.as_str().cmp(link))
        .ok()
        .map(|i| &entries[i])
}

/// Whether a service id is a default service's.
pub fn is_default_id(id: &str) -> bool {
    id.starts_with(ID_PREFIX)
}

/// Whether `s` is a default service.
pub fn is_default(s: &ServiceRecord) -> bool {
    is_default_id(&s.id)
}

/// `default` or `custom`.
pub fn kind(s: &ServiceRecord) -> &'static str {
    if is_default(s) { "default" } else { "custom" }
}

/// The documentation link of a default service.
pub fn docs_url(s: &ServiceRecord) -> Option<&'static str> {
    if !is_default(s) {
        return None;
    }
    get(&s.meta.link_name).map(|e| e.docs_url.as_str())
}

/// The record of a default service, with the operator's OAuth client id (or OAuth 1
/// consumer key) when one is configured.
pub fn record(entry: &CatalogEntry, client: Option<&ServiceClientRecord>) -> ServiceRecord {
    let d = &entry.definition;
    let mut auth = d.spec.auth.clone();
    if let Some(c) = client {
        match &mut auth {
            AuthConfig::OAuth2 { client_id, .. } => client_id.clone_from(&c.client_id),
            AuthConfig::OAuth1 { consumer_key, .. } => consumer_key.clone_from(&c.client_id),
            _ => {}
        }
    }
    ServiceRecord {
        id: entry.id(),
        meta: ServiceMeta {
            scope: HOST_SCOPE.to_owned(),
            link_name: d.link_name.clone(),
            display_name: d.display_name.clone(),
            created_by: CREATED_BY.to_owned(),
            created_at_ms: CATALOG_DATE_MS,
            updated_at_ms: client.map_or(CATALOG_DATE_MS, |c| c.updated_at_ms.max(CATALOG_DATE_MS)),
            revision: FIRST_REVISION,
        },
        spec: ServiceSpec {
            auth,
            ..d.spec.clone()
        },
    }
}

/// Whether the service takes an operator-supplied client (OAuth 1 or 2).
pub fn takes_client(auth: &AuthConfig) -> bool {
    matches!(auth, AuthConfig::OAuth2 { .. } | AuthConfig::OAuth1 { .. })
}

/// Whether a default OAuth service has its client configured (always true for other
/// services).
pub fn client_configured(s: &ServiceRecord) -> bool {
    match &s.spec.auth {
        AuthConfig::OAuth2 { client_id, .. } => !client_id.is_empty(),
        AuthConfig::OAuth1 { consumer_key, .. } => !consumer_key.is_empty(),
        _ => true,
    }
}

/// A service search: every field optional, all given ones must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceQuery {
    /// Matches the link name, display name, category or description, case-insensitive.
    pub q: Option<String>,
    /// The category, case-insensitive.
    pub category: Option<String>,
    /// `default` or `custom`.
    pub kind: Option<String>,
}

impl ServiceQuery {
    /// Parses a query string (`q=git&category=developer_tools&kind=default`); empty
    /// values are ignored.
    ///
    /// # Errors
    /// An unknown parameter or kind; the message lists the accepted ones.
    pub fn from_query(query: Option<&str>) -> Result<Self, String> {
        let mut out = Self::default();
        for (k, v) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            let v = v.trim().to_owned();
            let value = (!v.is_empty()).then_some(v);
            match k.as_ref() {
                "q" => out.q = value,
                "category" => out.category = value,
                "kind" => out.kind = value,
                other => {
                    return Err(format!(
                        "unknown query parameter `{other}`; expected q, category or kind"
                    ));
                }
            }
        }
        if let Some(k) = &out.kind
            && k != "default"
            && k != "custom"
        {
            return Err(format!("`kind` must be `default` or `custom`, not `{k}`"));
        }
        Ok(out)
    }

    /// Whether `view` matches.
    pub fn matches(&self, view: &ServiceView) -> bool {
        let d = &view.definition;
        if self.kind.as_deref().is_some_and(|k| k != view.kind) {
            return false;
        }
        if let Some(c) = &self.category
            && !d
                .spec
                .category
                .as_deref()
                .is_some_and(|dc| dc.eq_ignore_ascii_case(c))
        {
            return false;
        }
        if let Some(q) = &self.q {
            let q = q.to_lowercase();
            let hit = [
                Some(d.link_name.as_str()),
                Some(d.display_name.as_str()),
                d.spec.category.as_deref(),
                d.spec.description.as_deref(),
            ]
            .into_iter()
            .flatten()
            .any(|field| field.to_lowercase().contains(&q));
            if !hit {
                return false;
            }
        }
        true
    }
}

/// Category → how many of `views` have it (services without one are not counted).
pub fn category_counts<'a>(
    views: impl IntoIterator<Item = &'a ServiceView>,
) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for v in views {
        if let Some(c) = &v.definition.spec.category {
            *out.entry(c.clone()).or_insert(0) += 1;
        }
    }
    out
}
