//! Every catalogue entry is checked here: it parses, passes the API's own validation,
//! uses https, has a known category and a documentation link, and its URL templates
//! only take values that stay inside a host name.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::*;
use crate::validate::validate_service;
use crate::{Connections, NewConnection};
use switchboard_auth::GrantType;
use switchboard_model::{Error, Principal};
use switchboard_store::{MasterKey, RedbStore, Sealer};

/// The placeholders `{key}` in a template.
fn placeholders(t: &str) -> Vec<String> {
    let re = regex::Regex::new(r"\{([a-z][a-z0-9_]*)\}").unwrap();
    re.captures_iter(t).map(|c| c[1].to_owned()).collect()
}

/// Every URL template of an entry: API origins and the auth type's endpoints.
fn url_templates(d: &ServiceDefinition) -> Vec<String> {
    let mut out = d.spec.api_origins.clone();
    match &d.spec.auth {
        AuthConfig::OAuth2 {
            authorize_url,
            access_token_url,
            refresh_token_url,
            revoke_url,
            ..
        } => {
            out.push(access_token_url.clone());
            out.extend(
                [authorize_url, refresh_token_url, revoke_url]
                    .into_iter()
                    .flatten()
                    .cloned(),
            );
        }
        AuthConfig::OAuth1 {
            request_token_url,
            authorize_url,
            access_token_url,
            ..
        } => out.extend([
            request_token_url.clone(),
            authorize_url.clone(),
            access_token_url.clone(),
        ]),
        _ => {}
    }
    out
}

/// The definition as an operator's client makes it: OAuth client id filled in.
fn with_client(d: &ServiceDefinition) -> ServiceDefinition {
    let mut d = d.clone();
    match &mut d.spec.auth {
        AuthConfig::OAuth2 { client_id, .. } => *client_id = "test-client".into(),
        AuthConfig::OAuth1 { consumer_key, .. } => *consumer_key = "test-consumer".into(),
        _ => {}
    }
    d
}

fn kind_of(auth: &AuthConfig) -> &'static str {
    match auth {
        AuthConfig::OAuth2 {
            grant_type: GrantType::AuthorizationCode,
            ..
        } => "oauth2_authorization_code",
        AuthConfig::OAuth2 {
            grant_type: GrantType::ClientCredentials,
            ..
        } => "oauth2_client_credentials",
        other => other.type_name(),
    }
}

#[test]
fn every_file_parses_and_there_are_at_least_80() {
    let mut errors = Vec::new();
    for (file, text) in files::FILES {
        if let Err(e) = parse(file, text) {
            errors.push(e);
        }
    }
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(entries().len(), files::FILES.len());
    assert!(entries().len() >= 80, "only {} entries", entries().len());
}

#[test]
fn every_entry_passes_the_apis_validation() {
    for e in entries() {
        let d = with_client(&e.definition);
        if let Err(err) = validate_service(&d) {
            panic!("{}: {err}", e.file);
        }
        // An unconfigured OAuth client (empty) is what the catalogue ships.
        if takes_client(&e.definition.spec.auth) {
            assert!(!client_configured(&record(e, None)), "{}", e.file);
        }
    }
}

#[test]
fn names_categories_links_and_descriptions() {
    let known: BTreeSet<&str> = CATEGORIES.iter().map(|(c, _)| *c).collect();
    let mut links = BTreeSet::new();
    for e in entries() {
        let d = &e.definition;
        assert!(links.insert(d.link_name.clone()), "{} twice", d.link_name);
        let category = d.spec.category.as_deref().unwrap_or_default();
        assert!(
            known.contains(category),
            "{}: category `{category}` is not one of {known:?}",
            e.file
        );
        assert!(
            d.spec.description.as_deref().is_some_and(|s| s.len() >= 20),
            "{}: needs a description",
            e.file
        );
        assert!(e.docs_url.starts_with("https://"), "{}", e.file);
        url::Url::parse(&e.docs_url).unwrap_or_else(|err| panic!("{}: {err}", e.file));
        assert_eq!(e.id(), format!("default_{}", d.link_name));
    }
    // Sorted by link name, so `get` can search.
    let sorted: Vec<_> = entries().iter().map(|e| &e.definition.link_name).collect();
    assert!(sorted.is_sorted());
    assert!(get("github").is_some() && get("nope").is_none());
    // Every category of the list is used.
    let used: BTreeSet<&str> = entries()
        .iter()
        .filter_map(|e| e.definition.spec.category.as_deref())
        .collect();
    assert_eq!(used, known);
}

#[test]
fn every_url_is_https_and_only_takes_host_safe_declared_values() {
    // Characters that could move a value out of its host: none may be accepted.
    const UNSAFE: &[char] = &[
        '/', '?', '#', '@', ':', '%', '\\', ' ', '_', '~', '!', '$', '&', '\'', '(', ')', '*', '+',
        ',', ';', '=', '[', ']', '"', '<', '>', '\n',
    ];
    for e in entries() {
        let d = &e.definition;
        let declared: BTreeMap<&str, &switchboard_model::records::DynamicParam> = d
            .spec
            .dynamic_params
            .iter()
            .map(|p| (p.key.as_str(), p))
            .collect();
        // Every parameter has an example that matches its pattern.
        for p in &d.spec.dynamic_params {
            let example = e
                .example_params
                .get(&p.key)
                .unwrap_or_else(|| panic!("{}: no example for `{}`", e.file, p.key));
            let pattern = p
                .pattern
                .as_deref()
                .unwrap_or_else(|| panic!("{}: `{}` needs a pattern", e.file, p.key));
            let re = regex::Regex::new(&format!("^(?:{pattern})$")).unwrap();
            assert!(re.is_match(example), "{}: example of `{}`", e.file, p.key);
        }
        let examples: Vec<&str> = e.example_params.keys().map(String::as_str).collect();
        let keys: Vec<&str> = declared.keys().copied().collect();
        assert_eq!(
            examples, keys,
            "{}: example_params must cover exactly the dynamic parameters",
            e.file
        );
        for t in url_templates(d) {
            assert!(t.starts_with("https://"), "{}: `{t}` is not https", e.file);
            let mut filled = t.clone();
            for key in placeholders(&t) {
                let p = declared
                    .get(key.as_str())
                    .unwrap_or_else(|| panic!("{}: `{t}` uses undeclared `{key}`", e.file));
                let re =
                    regex::Regex::new(&format!("^(?:{})$", p.pattern.as_deref().unwrap())).unwrap();
                let example = &e.example_params[&key];
                for c in UNSAFE {
                    for v in [
                        format!("{c}{example}"),
                        format!("{example}{c}"),
                        format!("{}{c}{}", &example[..1], &example[1..]),
                        format!("{example}{c}evil.example"),
                    ] {
                        assert!(
                            !re.is_match(&v),
                            "{}: `{key}` accepts {v:?}, which is not host-safe",
                            e.file
                        );
                    }
                }
                filled = filled.replace(&format!("{{{key}}}"), example);
            }
            let url = url::Url::parse(&filled)
                .unwrap_or_else(|err| panic!("{}: `{filled}`: {err}", e.file));
            assert_eq!(url.scheme(), "https");
            // The value stayed inside the host the template names.
            let template_host = t
                .trim_start_matches("https://")
                .split(['/', '?'])
                .next()
                .unwrap()
                .to_owned();
            let mut expected = template_host;
            for (k, v) in &e.example_params {
                expected = expected.replace(&format!("{{{k}}}"), v);
            }
            assert_eq!(
                url.host_str().unwrap(),
                expected.to_ascii_lowercase(),
                "{}",
                e.file
            );
        }
    }
}

#[test]
fn every_auth_type_is_present() {
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for e in entries() {
        *count.entry(kind_of(&e.definition.spec.auth)).or_default() += 1;
    }
    for kind in [
        "api_key",
        "basic",
        "oauth1",
        "oauth2_authorization_code",
        "oauth2_client_credentials",
        "aws_sigv4",
    ] {
        assert!(
            count.get(kind).is_some_and(|n| *n > 0),
            "no {kind}: {count:?}"
        );
    }
}

#[test]
fn files_with_a_client_or_a_wrong_name_are_refused() {
    let github = files::FILES
        .iter()
        .find(|(f, _)| *f == "github.toml")
        .unwrap()
        .1;
    let e = parse("gh.toml", github).unwrap_err();
    assert!(e.contains("named after the link name"), "{e}");
    let with_id = github.replace("[auth]\n", "[auth]\nclient_id = \"mine\"\n");
    let e = parse("github.toml", &with_id).unwrap_err();
    assert!(e.contains("auth.client_id"), "{e}");
    let no_docs: String = github
        .lines()
        .filter(|l| !l.starts_with("docs_url"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        parse("github.toml", &no_docs)
            .unwrap_err()
            .contains("docs_url")
    );
    let typo = github.replace("api_origins", "api_origin");
    assert!(
        parse("github.toml", &typo)
            .unwrap_err()
            .contains("api_origin")
    );
}

#[test]
fn records_apply_the_operators_client() {
    let e = get("github").unwrap();
    let r = record(e, None);
    assert_eq!((r.id.as_str(), kind(&r)), ("default_github", "default"));
    assert_eq!(r.meta.created_by, CREATED_BY);
    assert!(!client_configured(&r));
    let c = ServiceClientRecord {
        client_id: "Iv1.abc".into(),
        updated_by: "admin".into(),
        updated_at_ms: CATALOG_DATE_MS + 5,
    };
    let r = record(e, Some(&c));
    assert!(client_configured(&r));
    assert!(matches!(&r.spec.auth, AuthConfig::OAuth2 { client_id, .. } if client_id == "Iv1.abc"));
    assert_eq!(r.meta.updated_at_ms, CATALOG_DATE_MS + 5);
    assert_eq!(docs_url(&r), Some(e.docs_url.as_str()));
    let trello = record(get("trello").unwrap(), Some(&c));
    assert!(
        matches!(&trello.spec.auth, AuthConfig::OAuth1 { consumer_key, .. } if consumer_key == "Iv1.abc")
    );
}

#[test]
fn queries_parse_and_match() {
    assert_eq!(
        ServiceQuery::from_query(None).unwrap(),
        ServiceQuery::default()
    );
    let q = ServiceQuery::from_query(Some("q=Git&category=&kind=default")).unwrap();
    assert_eq!(q.q.as_deref(), Some("Git"));
    assert_eq!(q.category, None);
    assert!(
        ServiceQuery::from_query(Some("kind=mine"))
            .unwrap_err()
            .contains("`kind`")
    );
    assert!(
        ServiceQuery::from_query(Some("search=x"))
            .unwrap_err()
            .contains("unknown query parameter `search`")
    );
}

async fn connections() -> (tempfile::TempDir, Arc<Connections>) {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&dir.path().join("db.redb"))
        .unwrap()
        .repositories();
    let c = Connections::new(
        store,
        Sealer::new(&MasterKey::generate()),
        switchboard_outbound::TokenHttp::new(&switchboard_outbound::OutboundConfig::default())
            .unwrap(),
    )
    .await
    .unwrap();
    (dir, c)
}

#[tokio::test]
async fn every_default_service_takes_a_connection_with_its_example_values() {
    let (_dir, c) = connections().await;
    let all = c.search_services(&ServiceQuery::default());
    assert_eq!(
        all.iter().filter(|v| v.kind == "default").count(),
        entries().len()
    );
    for e in entries() {
        let link = &e.definition.link_name;
        let new = NewConnection {
            link_name: format!("{link}_conn"),
            display_name: "Test".into(),
            service: link.clone(),
            params: e.example_params.clone(),
            scopes: Vec::new(),
            authorize_params: BTreeMap::new(),
            grant_to: Vec::new(),
        };
        let view = c
            .create_connection(new, &Principal::Admin)
            .await
            .unwrap_or_else(|err| panic!("{}: {err}", e.file));
        assert_eq!(view.status, "not_connected");
        assert_eq!(view.api_origins.len(), e.definition.spec.api_origins.len());
    }
    c.close().await;
}

#[tokio::test]
async fn default_services_are_read_only_and_their_link_names_reserved() {
    let (_dir, c) = connections().await;
    let view = c.show_service("stripe").unwrap();
    assert_eq!(view.kind, "default");
    let def = view.definition.clone();
    for result in [
        c.edit_service("stripe", def.clone(), &Principal::Admin)
            .await
            .map(|_| ()),
        c.delete_service("stripe", &Principal::Admin)
            .await
            .map(|_| ()),
    ] {
        match result {
            Err(Error::BadRequest { code, message }) => {
                assert_eq!(code, "read_only");
                assert!(message.contains("create a custom service"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }
    match c.create_service(def, &Principal::Admin).await {
        Err(Error::Conflict(m)) => assert!(m.contains("default service"), "{m}"),
        other => panic!("{other:?}"),
    }
    c.close().await;
}
