//! Services, connections and grants, in parts with explicit dependencies:
//!
//! - `registry`: CRUD and the edit rules of Zoho Deluge's Connections documents,
//!   checked by `validate`, authorised by `model::authz`;
//! - `snapshot`: what every request reads, lock-free (`arc-swap`), updated per write
//!   with the rows it touched;
//! - `broker`: the per-request hot path (the [`ConnectionBroker`] the runtime calls);
//! - `flows`: sign-in (OAuth 1.0a and OAuth 2 share start and callback);
//! - `tokens` over [`refresher`]: keeping OAuth 2 tokens fresh through a
//!   [`TokenRefresher`](refresher::TokenRefresher) trait object (the in-process single
//!   flight today);
//! - `audit`: the batched audit writer; [`catalog`]: the default services.
//!
//! [`Connections`] holds the shared state those parts work on: the store, the sealer,
//! the snapshot and the write lock that keeps writes in order.

mod audit;
mod broker;
pub mod catalog;
mod defaults;
mod flows;
mod provider;
mod refresher;
mod registry;
mod snapshot;
mod template;
mod tokens;
mod validate;
mod views;

use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::RngCore;

pub use audit::KEEP_PER_CONNECTION;
pub use broker::Broker;
pub use defaults::ServiceClient;
pub use flows::oauth1::CallbackParams;
pub use flows::{FLOW_COOKIE, FLOW_TTL, FlowError, FlowStart, flow_cookie_name};
pub use refresher::MIN_TOKEN_AGE;
use snapshot::{Entry, Snapshot, Touched};
use switchboard_model::Error;
use switchboard_model::records::ServiceRecord;
pub use switchboard_model::{Clock, ManualClock, SystemClock};
use switchboard_store::{Repositories, Sealer};
pub use validate::{MAX_DESCRIPTION, MAX_DISPLAY_NAME, MAX_SECRET_LEN};
pub use views::{
    ActivityView, ConnectOutcome, ConnectRequest, ConnectionEdit, ConnectionView, GrantView,
    HistoryView, NewConnection, RequirementView, ServiceDefinition, ServiceRef, ServiceView,
};

/// The connections service.
#[derive(Debug)]
pub struct Connections {
    store: Arc<dyn Repositories>,
    sealer: Sealer,
    /// For token requests: no redirects, the private-network guard on every request.
    http: switchboard_outbound::TokenHttp,
    /// `--public-url`: where the provider sends the browser back.
    public_url: RwLock<Option<String>>,
    /// How long an authorization may take (10 minutes; shorter in tests).
    flow_ttl: RwLock<Duration>,
    /// OAuth 2 token refresh: one at a time per connection, back-off, its clock.
    refresh: tokens::RefreshState,
    /// Read on every request through a connection, without a lock; replaced (under
    /// `writes`) by a copy updated with each write's rows.
    snapshot: arc_swap::ArcSwap<Snapshot>,
    writes: tokio::sync::Mutex<()>,
    audit: audit::AuditLog,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn random_id(prefix: &str) -> String {
    let mut b = [0u8; 12];
    rand::rng().fill_bytes(&mut b);
    format!("{prefix}_{}", hex::encode(b))
}

fn bad(code: &'static str, message: impl Into<String>) -> Error {
    Error::BadRequest {
        code,
        message: message.into(),
    }
}

impl Connections {
    /// Opens the service over `store`, with secrets sealed by `sealer`, and starts the
    /// audit writer on the current tokio runtime.
    ///
    /// # Errors
    /// The store cannot be read.
    pub async fn new(
        store: Arc<dyn Repositories>,
        sealer: Sealer,
        http: switchboard_outbound::TokenHttp,
    ) -> anyhow::Result<Arc<Self>> {
        let rows = store
            .load_snapshot()
            .await
            .map_err(|e| anyhow::anyhow!("loading connections: {e}"))?;
        let snapshot = Snapshot::load(rows);
        let audit = audit::AuditLog::start(store.clone());
        Ok(Arc::new(Self {
            audit,
            store,
            sealer,
            http,
            public_url: RwLock::new(None),
            flow_ttl: RwLock::new(FLOW_TTL),
            refresh: tokens::RefreshState::default(),
            snapshot: arc_swap::ArcSwap::from_pointee(snapshot),
            writes: tokio::sync::Mutex::new(()),
        }))
    }

    /// Sets the URL the host is reached at from a browser (`--public-url`): the OAuth
    /// redirect URI is `{public_url}/oauth/callback`.
    pub fn set_public_url(&self, url: &str) {
        *self.public_url.write().expect("lock poisoned") =
            Some(url.trim_end_matches('/').to_owned());
    }

    /// Sets how long an OAuth authorization may take, from connect to callback.
    pub fn set_flow_ttl(&self, ttl: Duration) {
        *self.flow_ttl.write().expect("lock poisoned") = ttl;
    }

    /// Sets the clock token refresh reads (expiry, back-off, the minimum token age);
    /// tests pass a [`ManualClock`].
    pub fn set_clock(&self, clock: Arc<dyn Clock>) {
        self.refresh.set_clock(clock);
    }

    fn flow_ttl(&self) -> Duration {
        *self.flow_ttl.read().expect("lock poisoned")
    }

    /// The OAuth redirect URI to register at providers, once the public URL is known.
    pub fn redirect_uri_hint(&self) -> Option<String> {
        self.public_url
            .read()
            .expect("lock poisoned")
            .as_ref()
            .map(|u| format!("{u}/oauth/callback"))
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Rebuilds the whole snapshot from the store, in one read transaction.
    ///
    /// # Errors
    /// The store cannot be read.
    pub async fn refresh(&self) -> Result<(), Error> {
        let _guard = self.writes.lock().await;
        let snapshot = Snapshot::load(self.store.load_snapshot().await?);
        self.snapshot.store(Arc::new(snapshot));
        Ok(())
    }

    /// Reads a function's grants again after a write elsewhere (its deletion drops
    /// them), so a function deployed again under the name does not inherit them.
    ///
    /// # Errors
    /// The store cannot be read.
    pub async fn function_changed(&self, function: &str) -> Result<(), Error> {
        self.write(Touched::function(function), async { Ok(()) })
            .await
    }

    /// Runs a store write under the write lock, then reads back the rows it touched
    /// (one read transaction of point look-ups) and swaps in a snapshot updated with
    /// them: a write costs the same at 100,000 connections as at 10.
    async fn write<T>(
        &self,
        touched: Touched,
        write: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        let _guard = self.writes.lock().await;
        let current = self.snapshot();
        let out = write.await;
        // Read back even after a failed write: the snapshot must never be newer or
        // older than the store.
        let keys = current.keys(touched);
        let rows = self.store.read_touched(keys.clone()).await?;
        self.snapshot.store(Arc::new(current.apply(keys, rows)));
        out
    }

    /// Writes queued audit records and stops the writer; call at shutdown.
    pub async fn close(&self) {
        self.audit.close().await;
    }

    fn service_record(&self, link: &str) -> Result<Arc<ServiceRecord>, Error> {
        self.snapshot()
            .services
            .get(link)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("service `{link}` not found")))
    }

    fn entry(&self, link: &str) -> Result<Arc<Entry>, Error> {
        self.snapshot()
            .connections
            .get(link)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("connection `{link}` not found")))
    }
}

/// What the fuzz targets in `host/fuzz` call: the parsers and transformers an attacker
/// reaches, re-exported in one place so the rest of the crate stays private. Not a
/// stable API; see docs/fuzzing.md.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::ServiceDefinition;
    pub use crate::template::{
        check_origin_template, check_values, fill_origin, fill_url, placeholders,
    };
    pub use switchboard_auth::oauth1::{FlowParams, Signer as OAuth1Signer, Stamp, base_string};
    pub use switchboard_auth::{
        ApiKeyParam, AuthConfig, Credential, Credentials, ParamType, Redactor, SignatureMethod,
    };
    pub use switchboard_model::records::DynamicParam;
    pub use switchboard_model::{ApiKeyValue, SecretAccessKey, SecretString};
    pub use switchboard_outbound::{Policy, normalize_origin, redact_url};

    /// Checks a service definition as creating it does: AWS default origins filled in
    /// first, then every rule of `validate_service`.
    ///
    /// # Errors
    /// The message `POST /api/v1/services` would answer with.
    pub fn validate_service(def: ServiceDefinition) -> Result<ServiceDefinition, String> {
        let def = crate::validate::with_default_origins(def);
        crate::validate::validate_service(&def).map_err(|e| e.to_string())?;
        Ok(def)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::views::snippet;
    use switchboard_model::Principal;
    use switchboard_model::records::ConnectionStatus;
    use switchboard_store::{MasterKey, RedbStore};

    #[tokio::test]
    async fn only_the_creator_edits_or_deletes_a_service() {
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
        let def: ServiceDefinition = serde_json::from_value(serde_json::json!({
            "link_name": "acme", "display_name": "Acme", "auth": {"type": "basic"},
            "api_origins": ["https://api.acme.example"],
        }))
        .unwrap();
        c.create_service(def.clone(), &Principal::User("ada".into()))
            .await
            .unwrap();
        let mut edited = def.clone();
        edited.display_name = "Acme 2".into();
        for result in [
            c.edit_service("acme", edited.clone(), &Principal::User("bob".into()))
                .await
                .map(|_| ()),
            c.delete_service("acme", &Principal::User("bob".into()))
                .await
                .map(|_| ()),
        ] {
            match result {
                Err(Error::Forbidden(m)) => assert!(m.contains("`ada`"), "{m}"),
                other => panic!("{other:?}"),
            }
        }
        let (view, _) = c
            .edit_service("acme", edited, &Principal::User("ada".into()))
            .await
            .unwrap();
        assert_eq!(view.definition.display_name, "Acme 2");
        c.delete_service("acme", &Principal::User("ada".into()))
            .await
            .unwrap();
        c.close().await;
    }

    /// The snapshot updated per change equals a full load from the store.
    async fn assert_fresh(c: &Connections, after: &str) {
        let got = c.snapshot().canonical();
        let want = Snapshot::load(c.store.load_snapshot().await.unwrap()).canonical();
        assert_eq!(got, want, "after {after}");
    }

    #[tokio::test]
    async fn every_kind_of_write_leaves_the_snapshot_equal_to_a_full_load() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(&dir.path().join("db.redb"))
            .unwrap()
            .repositories();
        let c = Connections::new(
            store.clone(),
            Sealer::new(&MasterKey::generate()),
            switchboard_outbound::TokenHttp::new(&switchboard_outbound::OutboundConfig::default())
                .unwrap(),
        )
        .await
        .unwrap();
        let ada = Principal::User("ada".into());
        let def: ServiceDefinition = serde_json::from_value(serde_json::json!({
            "link_name": "acme", "display_name": "Acme", "auth": {"type": "basic"},
            "dynamic_params": [{"key": "host", "display_name": "Host", "pattern": "[a-z]+"}],
            "api_origins": ["https://{host}.acme.example"],
        }))
        .unwrap();
        c.create_service(def.clone(), &ada).await.unwrap();
        assert_fresh(&c, "create service").await;
        let new = |link: &str, service: &str, params: serde_json::Value| -> NewConnection {
            serde_json::from_value(serde_json::json!({
                "link_name": link, "display_name": link, "service": service, "params": params,
            }))
            .unwrap()
        };
        for (link, service, params) in [
            ("one", "acme", serde_json::json!({"host": "eu"})),
            ("two", "acme", serde_json::json!({"host": "us"})),
            ("three", "asana", serde_json::json!({})),
        ] {
            c.create_connection(new(link, service, params), &ada)
                .await
                .unwrap();
            assert_fresh(&c, &format!("create connection {link}")).await;
        }
        let basic: ConnectRequest =
            serde_json::from_value(serde_json::json!({"username": "u", "password": "p"})).unwrap();
        c.connect("one", basic.clone(), &ada).await.unwrap();
        assert_fresh(&c, "connect").await;
        assert_eq!(
            c.show_connection("one").unwrap().status,
            ConnectionStatus::Connected.as_str()
        );
        let rename: ConnectionEdit =
            serde_json::from_value(serde_json::json!({"display_name": "One"})).unwrap();
        c.edit_connection("one", rename).await.unwrap();
        assert_fresh(&c, "edit display name").await;
        let params: ConnectionEdit =
            serde_json::from_value(serde_json::json!({"params": {"host": "ap"}})).unwrap();
        c.edit_connection("one", params).await.unwrap();
        assert_fresh(&c, "edit params (revokes)").await;
        c.connect("two", basic.clone(), &ada).await.unwrap();
        c.revoke("two").await.unwrap();
        assert_fresh(&c, "revoke").await;
        c.connect("two", basic, &ada).await.unwrap();

        let artifact = switchboard_model::records::Artifact {
            engine_hash: [7; 32],
            bytes: vec![1; 10],
        };
        store
            .deploy(
                "f",
                switchboard_store::Deploy {
                    component: b"wasm".to_vec(),
                    artifact,
                    record: switchboard_model::records::VersionRecord {
                        version: 0,
                        sha256: "ab".into(),
                        size_bytes: 3,
                        deployed_at_ms: 1,
                        limits: switchboard_model::Limits::default(),
                        allowed_hosts: vec![],
                        requires: vec![],
                    },
                },
                1,
            )
            .await
            .unwrap();
        for link in ["one", "two", "three"] {
            c.grant("f", link).await.unwrap();
            assert_fresh(&c, &format!("grant {link}")).await;
        }
        c.revoke_grant("f", "three").await.unwrap();
        assert_fresh(&c, "revoke grant").await;
        c.delete_connection("one").await.unwrap();
        assert_fresh(&c, "delete a granted connection").await;
        assert_eq!(c.grants_of("f").len(), 1);

        let mut edited = def.clone();
        edited.display_name = "Acme 2".into();
        let (_, revoked) = c.edit_service("acme", edited, &ada).await.unwrap();
        assert_eq!(revoked, vec!["two".to_owned()]);
        assert_fresh(&c, "edit service (revokes its connections)").await;

        for id in ["client-a", "client-b"] {
            let client: ServiceClient = serde_json::from_value(
                serde_json::json!({"client_id": id, "client_secret": "s3cret"}),
            )
            .unwrap();
            c.set_service_client("asana", client, &ada).await.unwrap();
            assert_fresh(&c, &format!("catalogue client {id}")).await;
        }

        store.delete_function("f").await.unwrap();
        c.function_changed("f").await.unwrap();
        assert_fresh(&c, "function deleted").await;
        assert!(c.grants_of("f").is_empty());

        c.delete_service("acme", &ada).await.unwrap();
        assert_fresh(&c, "delete service").await;
        c.create_service(def, &ada).await.unwrap();
        assert_fresh(&c, "a new service under the old link name").await;
        assert_eq!(c.show_service("acme").unwrap().connections, 0);
        c.delete_connection("two").await.unwrap();
        assert_fresh(&c, "delete an orphaned connection").await;
        c.close().await;
    }

    #[test]
    fn snippet_names_the_link_and_the_first_origin() {
        let s = snippet("crm_prod", None);
        assert!(s.contains("Some(\"crm_prod\")"), "{s}");
        assert!(
            s.contains("Request::get(\"https://api.example.com/\")"),
            "{s}"
        );
    }

    /// The definition embeds the one service spelling (`ServiceSpec`, flattened) and
    /// still refuses unknown fields, in JSON and in TOML, naming the field.
    #[test]
    fn a_definition_refuses_unknown_fields_and_reads_back_flat() {
        let json = serde_json::json!({
            "link_name": "acme", "display_name": "Acme", "auth": {"type": "basic"},
            "api_origins": ["https://api.acme.example"], "category": "crm",
        });
        let def: ServiceDefinition = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(def.spec.category.as_deref(), Some("crm"));
        let mut written = serde_json::to_value(&def).unwrap();
        written.as_object_mut().unwrap().retain(|_, v| !v.is_null());
        let mut want = json.clone();
        want["dynamic_params"] = serde_json::json!([]);
        assert_eq!(written, want, "the wire shape is flat, as before");

        let mut extra = json;
        extra["api_origin"] = serde_json::json!("https://typo.example");
        let e = serde_json::from_value::<ServiceDefinition>(extra)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `api_origin`"), "{e}");
        let e = toml::from_str::<ServiceDefinition>(
            "link_name = \"acme\"\ndisplay_name = \"Acme\"\nauth = { type = \"basic\" }\nextra = 1\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("unknown field `extra`"), "{e}");
        // A field of the spec with the wrong type is still reported as such.
        let e = serde_json::from_value::<ServiceDefinition>(serde_json::json!({
            "link_name": "acme", "display_name": "Acme", "auth": {"type": "basic"},
            "api_origins": "https://not-a-list.example",
        }))
        .unwrap_err()
        .to_string();
        assert!(e.contains("invalid type"), "{e}");
    }
}
