//! Every repository method, against the redb implementation, through the traits.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTableMetadata, TableHandle};

use super::tables::{self, META, legacy};
use super::*;
use switchboard_model::Limits;
use switchboard_model::auth::AuthConfig;
use switchboard_model::records::{
    AuditRecord, ConnectionRecord, ConnectionStatus, FlowBinding, FlowKind, FlowTake, HOST_SCOPE,
    PendingFlow, SecretChange, ServiceClientRecord, ServiceMeta, ServiceRecord, ServiceSpec,
    VersionRecord,
};

const H: &str = HOST_SCOPE;

fn service(id: &str, link: &str) -> ServiceRecord {
    ServiceRecord {
        id: id.into(),
        meta: ServiceMeta {
            scope: HOST_SCOPE.into(),
            link_name: link.into(),
            display_name: "Svc".into(),
            created_by: "admin".into(),
            created_at_ms: 1,
            updated_at_ms: 1,
            revision: 0,
        },
        spec: ServiceSpec {
            auth: AuthConfig::Basic,
            dynamic_params: vec![],
            api_origins: vec!["https://api.example.com".into()],
            category: None,
            description: None,
        },
    }
}

fn connection(id: &str, link: &str, service: &ServiceRecord) -> ConnectionRecord {
    ConnectionRecord {
        id: id.into(),
        scope: HOST_SCOPE.into(),
        link_name: link.into(),
        display_name: "Conn".into(),
        service: service.meta.link_name.clone(),
        service_id: service.id.clone(),
        params: BTreeMap::new(),
        scopes: vec![],
        authorize_params: BTreeMap::new(),
        granted_scopes: vec![],
        token_expires_at_ms: None,
        credential_names: vec!["password".into()],
        status: ConnectionStatus::Connected,
        status_reason: None,
        created_by: "admin".into(),
        created_at_ms: 1,
        updated_at_ms: 1,
        connected_at_ms: Some(1),
        revoked_at_ms: None,
        history: vec![],
        revision: 0,
    }
}

fn version_record(mib: u32) -> VersionRecord {
    VersionRecord {
        version: 0,
        sha256: "ab".into(),
        size_bytes: 3,
        deployed_at_ms: 1,
        limits: Limits {
            memory_mib: mib,
            ..Limits::default()
        },
        allowed_hosts: vec!["https://api.example.com".into()],
        requires: vec![],
    }
}

fn artifact(byte: u8) -> Artifact {
    Artifact {
        engine_hash: [7; 32],
        bytes: vec![byte; 10],
    }
}

fn audit_record(n: u64) -> AuditRecord {
    AuditRecord {
        time_ms: n,
        function: "f".into(),
        method: "GET".into(),
        origin: "https://api.example.com".into(),
        path: "/".into(),
        status: Some(200),
        outcome: "ok".into(),
        duration_us: n,
    }
}

fn open() -> (tempfile::TempDir, Arc<dyn Repositories>) {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&dir.path().join("db.redb")).unwrap();
    (dir, store.repositories())
}

async fn deploy(store: &dyn Repositories, name: &str, mib: u32) -> (FunctionRecord, VersionRecord) {
    store
        .deploy(
            name,
            Deploy {
                component: b"wasm".to_vec(),
                artifact: artifact(mib as u8),
                record: version_record(mib),
            },
            mib as u64,
        )
        .await
        .unwrap()
}

async fn connect(store: &dyn Repositories, c: &ConnectionRecord, blob: &[u8]) -> ConnectionRecord {
    let stored = store.connection(&c.id).await.unwrap().unwrap();
    store
        .update_connection(&stored, stored.revision, SecretChange::Set(blob.to_vec()))
        .await
        .unwrap()
}

use switchboard_model::records::{Artifact, FunctionRecord};

#[tokio::test]
async fn versions_rollback_delete_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.redb");
    {
        let store = RedbStore::open(&path).unwrap().repositories();
        let (f, v) = deploy(&*store, "hello", 1).await;
        assert_eq!((f.current_version, v.version, f.revision), (1, 1, 1));
        let (f, v) = deploy(&*store, "hello", 2).await;
        assert_eq!((f.current_version, f.latest_version, v.version), (2, 2, 2));
        assert_eq!((f.created_at_ms, f.revision), (1, 2));
        deploy(&*store, "other", 3).await;

        let f = store.set_current("hello", 1, 9).await.unwrap();
        assert_eq!((f.current_version, f.revision), (1, 3));
        assert!(matches!(
            store.set_current("hello", 5, 9).await,
            Err(StoreError::VersionNotFound { version: 5, .. })
        ));
        assert!(matches!(
            store.set_current("nope", 1, 9).await,
            Err(StoreError::FunctionNotFound(_))
        ));
        // A rollback does not reuse version numbers.
        let (f, v) = deploy(&*store, "hello", 4).await;
        assert_eq!((f.current_version, v.version), (3, 3));
        assert_eq!(
            store.artifact("hello", 2).await.unwrap().unwrap().bytes,
            vec![2; 10]
        );
        store.put_artifact("hello", 2, artifact(9)).await.unwrap();
        assert_eq!(
            store.artifact("hello", 2).await.unwrap().unwrap().bytes,
            vec![9; 10]
        );
        assert_eq!(store.component("hello", 2).await.unwrap(), b"wasm");
        assert_eq!(
            store.version("hello", 2).await.unwrap().limits.memory_mib,
            2
        );
        assert!(matches!(
            store.version("hello", 7).await,
            Err(StoreError::VersionNotFound { .. })
        ));
    }
    let store = RedbStore::open(&path).unwrap().repositories();
    let (f, versions) = store.function("hello").await.unwrap();
    assert_eq!(f.current_version, 3);
    assert_eq!(
        versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(versions[1].limits.memory_mib, 2);
    assert_eq!(store.functions().await.unwrap().len(), 2);

    store.delete_function("hello").await.unwrap();
    assert!(matches!(
        store.function("hello").await,
        Err(StoreError::FunctionNotFound(_))
    ));
    assert!(store.artifact("hello", 1).await.unwrap().is_none());
    assert!(store.component("hello", 1).await.is_err());
    // The neighbour is untouched.
    assert_eq!(store.function("other").await.unwrap().1.len(), 1);
    assert!(matches!(
        store.delete_function("hello").await,
        Err(StoreError::FunctionNotFound(_))
    ));
}

#[test]
fn artifact_round_trip_and_corruption() {
    let a = artifact(3);
    let back = decode_artifact(&encode_artifact(&a)).unwrap();
    assert_eq!((back.engine_hash, back.bytes), (a.engine_hash, a.bytes));
    assert!(matches!(
        decode_artifact(&[1, 2]),
        Err(StoreError::Corrupt(_))
    ));
}

#[tokio::test]
async fn a_flow_is_bound_once_and_taken_only_by_its_browser() {
    let (_dir, store) = open();
    let flow = PendingFlow {
        connection_id: "con_1".into(),
        link: "acme_main".into(),
        created_by: "admin".into(),
        created_at_ms: 1_000,
        expires_at_ms: 10_000,
        authorize_url: "https://auth.example/authorize".into(),
        redirect_uri: "https://sb.example/oauth/callback".into(),
        verifier_sealed: String::new(),
        browser_hash: None,
        kind: FlowKind::OAuth2,
        request_token: None,
        request_secret_sealed: None,
    };
    store.put_flow("s1", &flow, 1_000).await.unwrap();
    // Not opened yet: no browser may take it, and it stays.
    assert_eq!(
        store.take_bound_flow("s1", None).await.unwrap(),
        FlowTake::OtherBrowser
    );
    assert_eq!(
        store.take_bound_flow("s1", Some("h")).await.unwrap(),
        FlowTake::OtherBrowser
    );
    assert_eq!(
        store.bind_flow("nope", "h", 2_000).await.unwrap(),
        FlowBinding::Unknown
    );
    let FlowBinding::Bound(bound) = store.bind_flow("s1", "h", 2_000).await.unwrap() else {
        panic!("not bound");
    };
    assert_eq!(bound.browser_hash.as_deref(), Some("h"));
    assert_eq!(
        store.bind_flow("s1", "other", 2_000).await.unwrap(),
        FlowBinding::AlreadyBound
    );
    // Another browser's callback leaves it in place.
    assert_eq!(
        store.take_bound_flow("s1", None).await.unwrap(),
        FlowTake::OtherBrowser
    );
    assert_eq!(
        store.take_bound_flow("s1", Some("other")).await.unwrap(),
        FlowTake::OtherBrowser
    );
    assert_eq!(
        store.take_bound_flow("s1", Some("h")).await.unwrap(),
        FlowTake::Taken(bound)
    );
    assert_eq!(
        store.take_bound_flow("s1", Some("h")).await.unwrap(),
        FlowTake::Unknown
    );
    store.put_flow("s2", &flow, 1_000).await.unwrap();
    assert_eq!(
        store.bind_flow("s2", "h", 10_000).await.unwrap(),
        FlowBinding::Expired
    );
    // Putting a flow drops the expired ones.
    store.put_flow("s3", &flow, 20_000).await.unwrap();
    assert_eq!(
        store.bind_flow("s2", "h", 2_000).await.unwrap(),
        FlowBinding::Unknown
    );
}

#[tokio::test]
async fn services_are_found_by_link_and_updated_against_their_revision() {
    let (_dir, store) = open();
    let created = store
        .create_service(&service("svc_1", "acme"), Some(b"blob".to_vec()))
        .await
        .unwrap();
    assert_eq!(created.meta.revision, 1);
    assert!(matches!(
        store.create_service(&service("svc_2", "acme"), None).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.service_by_link(H, "acme").await.unwrap(),
        Some(created.clone())
    );
    assert_eq!(store.service_by_link("other", "acme").await.unwrap(), None);
    assert_eq!(
        store.services().await.unwrap(),
        std::slice::from_ref(&created)
    );
    assert_eq!(store.secrets().await.unwrap()["svc_1"], b"blob");

    let mut edited = created.clone();
    edited.meta.display_name = "Acme 2".into();
    store
        .update_service(&edited, 1, None, SecretChange::Erase)
        .await
        .unwrap();
    let stored = store.service_by_link(H, "acme").await.unwrap().unwrap();
    assert_eq!(
        (stored.meta.display_name.as_str(), stored.meta.revision),
        ("Acme 2", 2)
    );
    assert!(store.secrets().await.unwrap().is_empty());
    // Computed from revision 1: refused, and says what to do.
    let err = store
        .update_service(&created, 1, None, SecretChange::Keep)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Stale(_)), "{err}");
    assert!(err.to_string().contains("read it again and retry"), "{err}");
    let api: switchboard_model::Error = err.into();
    assert!(matches!(api, switchboard_model::Error::Conflict(_)));
    assert!(matches!(
        store
            .update_service(&service("svc_9", "zzz"), 1, None, SecretChange::Keep)
            .await,
        Err(StoreError::Missing(_))
    ));
}

#[tokio::test]
async fn editing_or_deleting_a_service_revokes_its_connections_and_erases_secrets() {
    let (_dir, store) = open();
    let svc = store
        .create_service(&service("svc_1", "acme"), None)
        .await
        .unwrap();
    let other = store
        .create_service(&service("svc_2", "other"), None)
        .await
        .unwrap();
    for (id, link, s) in [
        ("con_1", "a1", &svc),
        ("con_2", "a2", &svc),
        ("con_3", "o1", &other),
    ] {
        let c = connection(id, link, s);
        store
            .create_connections(std::slice::from_ref(&c))
            .await
            .unwrap();
        connect(&*store, &c, b"x").await;
    }
    assert!(matches!(
        store
            .create_connections(&[connection("con_9", "a1", &svc)])
            .await,
        Err(StoreError::Conflict(_))
    ));
    // A connection of a service id that is not the current one is refused.
    assert!(matches!(
        store
            .create_connections(&[connection("con_8", "z", &service("svc_old", "acme"))])
            .await,
        Err(StoreError::Missing(_))
    ));
    // All or nothing.
    assert!(
        store
            .create_connections(&[
                connection("con_7", "b1", &svc),
                connection("con_6", "a1", &svc)
            ])
            .await
            .is_err()
    );
    assert!(store.connection_by_link(H, "b1").await.unwrap().is_none());
    assert_eq!(store.secrets().await.unwrap().len(), 3);

    let mut edited = svc.clone();
    edited.meta.display_name = "Acme 2".into();
    edited.meta.updated_at_ms = 5;
    let revoked = store
        .update_service(
            &edited,
            svc.meta.revision,
            Some("edited"),
            SecretChange::Keep,
        )
        .await
        .unwrap();
    assert_eq!(revoked, ["a1", "a2"]);
    let secrets = store.secrets().await.unwrap();
    assert_eq!(secrets.keys().collect::<Vec<_>>(), ["con_3"]);
    let a1 = store.connection_by_link(H, "a1").await.unwrap().unwrap();
    assert_eq!(a1.status, ConnectionStatus::Revoked);
    assert_eq!(a1.status_reason.as_deref(), Some("edited"));
    assert_eq!(a1.revoked_at_ms, Some(5));
    assert_eq!(a1.revision, 3, "created, connected, revoked");
    assert!(a1.credential_names.is_empty());

    let revoked = store.delete_service("svc_2", "deleted", 9).await.unwrap();
    assert_eq!(revoked, ["o1"]);
    assert!(store.secrets().await.unwrap().is_empty());
    assert_eq!(
        store.connections().await.unwrap().len(),
        3,
        "connections are kept"
    );
    assert!(store.service_by_link(H, "other").await.unwrap().is_none());
    assert!(matches!(
        store.delete_service("svc_2", "x", 9).await,
        Err(StoreError::Missing(_))
    ));
    // The link name is free again, for a new id.
    store
        .create_service(&service("svc_3", "other"), None)
        .await
        .unwrap();
    assert_eq!(
        store.service_by_link(H, "other").await.unwrap().unwrap().id,
        "svc_3"
    );
}

#[tokio::test]
async fn connections_are_updated_against_their_revision() {
    let (_dir, store) = open();
    let svc = store
        .create_service(&service("svc_1", "acme"), None)
        .await
        .unwrap();
    let c = connection("con_1", "main", &svc);
    store
        .create_connections(std::slice::from_ref(&c))
        .await
        .unwrap();
    let stored = store.connection("con_1").await.unwrap().unwrap();
    assert_eq!(stored.revision, 1);
    let mut edited = stored.clone();
    edited.display_name = "Renamed".into();
    let written = store
        .update_connection(&edited, 1, SecretChange::Set(b"s".to_vec()))
        .await
        .unwrap();
    assert_eq!(
        (written.revision, written.display_name.as_str()),
        (2, "Renamed")
    );
    assert_eq!(
        store.connection_by_link(H, "main").await.unwrap(),
        Some(written.clone())
    );
    // A second writer that read revision 1 loses, and nothing of it is stored.
    let mut late = stored.clone();
    late.display_name = "Late".into();
    assert!(matches!(
        store.update_connection(&late, 1, SecretChange::Erase).await,
        Err(StoreError::Stale(_))
    ));
    assert_eq!(store.secrets().await.unwrap()["con_1"], b"s");
    // A rename moves the index; a taken name is refused.
    store
        .create_connections(&[connection("con_2", "taken", &svc)])
        .await
        .unwrap();
    let mut renamed = written.clone();
    renamed.link_name = "taken".into();
    assert!(matches!(
        store
            .update_connection(&renamed, 2, SecretChange::Keep)
            .await,
        Err(StoreError::Conflict(_))
    ));
    renamed.link_name = "moved".into();
    store
        .update_connection(&renamed, 2, SecretChange::Keep)
        .await
        .unwrap();
    assert!(store.connection_by_link(H, "main").await.unwrap().is_none());
    assert_eq!(
        store
            .connection_by_link(H, "moved")
            .await
            .unwrap()
            .unwrap()
            .id,
        "con_1"
    );
    store.delete_connection("con_1").await.unwrap();
    assert!(matches!(
        store
            .update_connection(&renamed, 3, SecretChange::Keep)
            .await,
        Err(StoreError::Missing(_))
    ));
    assert!(matches!(
        store.delete_connection("con_1").await,
        Err(StoreError::Missing(_))
    ));
    assert!(store.connection("con_1").await.unwrap().is_none());
}

#[tokio::test]
async fn connections_of_default_services_are_refused_under_a_custom_one() {
    let (_dir, store) = open();
    let default = service("catalog_github", "github");
    let c = connection("con_1", "gh", &default);
    store.create_default_service_connection(&c).await.unwrap();
    assert!(matches!(
        store.create_default_service_connection(&c).await,
        Err(StoreError::Conflict(_))
    ));
    store
        .create_service(&service("svc_1", "github"), None)
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_default_service_connection(&connection("con_2", "gh2", &default))
            .await,
        Err(StoreError::Missing(_))
    ));
}

/// A token refresh stores its tokens against the credentials it started from: an
/// edit of the record meanwhile is kept, a change of the credentials wins.
#[tokio::test]
async fn credentials_are_replaced_against_their_generation_not_the_revision() {
    let (_dir, store) = open();
    let svc = store
        .create_service(&service("svc_1", "acme"), None)
        .await
        .unwrap();
    let c = connection("con_1", "main", &svc);
    store
        .create_connections(std::slice::from_ref(&c))
        .await
        .unwrap();
    let c = connect(&*store, &c, b"gen-1").await;
    // Meanwhile: an edit of the display name and a status note.
    let mut edited = c.clone();
    edited.display_name = "Renamed".into();
    edited.record_event("failed", Some("a sign-in failed"), 2);
    store
        .update_connection(&edited, c.revision, SecretChange::Keep)
        .await
        .unwrap();
    let written = store
        .replace_credentials(
            "con_1",
            b"gen-1".to_vec(),
            Box::new(|r| r.record_event("refreshed", None, 3)),
            SecretChange::Set(b"gen-2".to_vec()),
        )
        .await
        .unwrap();
    assert_eq!(written.display_name, "Renamed");
    assert_eq!((written.history.len(), written.revision), (2, 4));
    assert_eq!(store.secrets().await.unwrap()["con_1"], b"gen-2");
    assert_eq!(store.connections().await.unwrap()[0], written);
    // Tokens derived from gen-1 lose to gen-2.
    assert!(matches!(
        store
            .replace_credentials(
                "con_1",
                b"gen-1".to_vec(),
                Box::new(|_| {}),
                SecretChange::Keep
            )
            .await,
        Err(StoreError::Stale(_))
    ));
    // A revocation wins.
    let mut revoked = written.clone();
    revoked.status = ConnectionStatus::Revoked;
    store
        .update_connection(&revoked, written.revision, SecretChange::Erase)
        .await
        .unwrap();
    assert!(matches!(
        store
            .replace_credentials(
                "con_1",
                b"gen-2".to_vec(),
                Box::new(|_| {}),
                SecretChange::Keep
            )
            .await,
        Err(StoreError::Stale(_))
    ));
    // A deleted connection is missing, even once another takes its link name.
    store.delete_connection("con_1").await.unwrap();
    store
        .create_connections(&[connection("con_2", "main", &svc)])
        .await
        .unwrap();
    assert!(matches!(
        store
            .replace_credentials(
                "con_1",
                b"gen-2".to_vec(),
                Box::new(|_| {}),
                SecretChange::Keep
            )
            .await,
        Err(StoreError::Missing(_))
    ));
}

#[tokio::test]
async fn grants_follow_functions_and_connections() {
    let (_dir, store) = open();
    let svc = store
        .create_service(&service("svc_1", "acme"), None)
        .await
        .unwrap();
    store
        .create_connections(&[connection("con_1", "c1", &svc)])
        .await
        .unwrap();
    assert!(matches!(
        store.grant("fetch", H, "c1", 1).await,
        Err(StoreError::FunctionNotFound(_))
    ));
    deploy(&*store, "fetch", 1).await;
    assert!(matches!(
        store.grant("fetch", H, "nope", 1).await,
        Err(StoreError::Missing(_))
    ));
    let g = store.grant("fetch", H, "c1", 3).await.unwrap();
    assert_eq!((g.granted_at_ms, g.revision), (3, 1));
    assert_eq!(
        store
            .grant("fetch", H, "c1", 7)
            .await
            .unwrap()
            .granted_at_ms,
        3,
        "granting again keeps the first grant"
    );
    assert_eq!(
        store.grants().await.unwrap(),
        [("fetch".to_owned(), "c1".to_owned(), g)]
    );
    assert!(store.revoke_grant("fetch", H, "c1").await.unwrap());
    assert!(!store.revoke_grant("fetch", H, "c1").await.unwrap());
    assert!(!store.revoke_grant("fetch", H, "nope").await.unwrap());
    store.grant("fetch", H, "c1", 3).await.unwrap();
    store.delete_function("fetch").await.unwrap();
    assert!(store.grants().await.unwrap().is_empty());

    // A connection's deletion takes its grants: a new connection under the link name
    // (a new id) has none.
    deploy(&*store, "fetch", 1).await;
    store.grant("fetch", H, "c1", 3).await.unwrap();
    store.delete_connection("con_1").await.unwrap();
    store
        .create_connections(&[connection("con_2", "c1", &svc)])
        .await
        .unwrap();
    assert!(store.grants().await.unwrap().is_empty());
}

#[tokio::test]
async fn audit_keeps_the_newest_per_connection_and_goes_with_the_connection() {
    let (_dir, store) = open();
    let svc = store
        .create_service(&service("svc_1", "acme"), None)
        .await
        .unwrap();
    for (id, link) in [("con_1", "c1"), ("con_2", "c2")] {
        store
            .create_connections(&[connection(id, link, &svc)])
            .await
            .unwrap();
    }
    let batch: Vec<_> = (1..=7)
        .map(|n| ("con_1".to_owned(), audit_record(n)))
        .collect();
    store.append_audit(batch, 5).await.unwrap();
    store
        .append_audit(
            vec![
                ("con_1".to_owned(), audit_record(8)),
                ("con_2".to_owned(), audit_record(1)),
                // A connection that does not exist (deleted while queued): dropped.
                ("con_gone".to_owned(), audit_record(1)),
            ],
            5,
        )
        .await
        .unwrap();
    let times = |r: Vec<AuditRecord>| r.iter().map(|r| r.time_ms).collect::<Vec<_>>();
    assert_eq!(
        times(store.audit("con_1", 100).await.unwrap()),
        [4, 5, 6, 7, 8]
    );
    assert_eq!(times(store.audit("con_1", 2).await.unwrap()), [7, 8]);
    assert_eq!(store.audit_len().await.unwrap(), 6);
    store.delete_connection("con_1").await.unwrap();
    assert!(store.audit("con_1", 100).await.unwrap().is_empty());
    assert_eq!(store.audit_len().await.unwrap(), 1);
}

/// The issue's rule: a new connection that reuses a link name never inherits the old
/// one's records, even records of the old one written after the new one was made.
#[tokio::test]
async fn a_connection_made_again_under_a_link_name_inherits_no_audit() {
    let (_dir, store) = open();
    let svc = store
        .create_service(&service("svc_1", "acme"), None)
        .await
        .unwrap();
    store
        .create_connections(&[connection("con_old", "main", &svc)])
        .await
        .unwrap();
    store
        .append_audit(vec![("con_old".to_owned(), audit_record(1))], 10)
        .await
        .unwrap();
    store.delete_connection("con_old").await.unwrap();
    store
        .create_connections(&[connection("con_new", "main", &svc)])
        .await
        .unwrap();
    // A record of the old connection still queued when it was deleted.
    store
        .append_audit(vec![("con_old".to_owned(), audit_record(2))], 10)
        .await
        .unwrap();
    let new = store.connection_by_link(H, "main").await.unwrap().unwrap();
    assert_eq!(new.id, "con_new");
    assert!(store.audit(&new.id, 10).await.unwrap().is_empty());
    assert_eq!(store.audit_len().await.unwrap(), 0);
}

#[tokio::test]
async fn the_snapshot_reads_everything_or_the_touched_rows() {
    let (_dir, store) = open();
    let svc = store
        .create_service(&service("svc_1", "acme"), Some(b"client".to_vec()))
        .await
        .unwrap();
    let c = connection("con_1", "c1", &svc);
    store
        .create_connections(std::slice::from_ref(&c))
        .await
        .unwrap();
    connect(&*store, &c, b"sealed").await;
    deploy(&*store, "f", 1).await;
    store.grant("f", H, "c1", 2).await.unwrap();
    let client = ServiceClientRecord {
        client_id: "id".into(),
        updated_by: "admin".into(),
        updated_at_ms: 3,
    };
    assert!(
        store
            .set_service_client("catalog_x", &client, b"cs".to_vec(), Some("new client"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.service_clients().await.unwrap()["catalog_x"], client);

    let all = store.load_snapshot().await.unwrap();
    assert_eq!(all.services.len(), 1);
    assert_eq!(all.connections.len(), 1);
    assert_eq!(all.secrets.len(), 3);
    assert_eq!(all.grants[0].1, "c1");
    assert_eq!(all.service_clients.len(), 1);

    let rows = store
        .read_touched(RowKeys {
            scope: H.into(),
            services: vec!["acme".into(), "gone".into()],
            service_clients: vec!["catalog_x".into(), "catalog_y".into()],
            connections: vec!["c1".into(), "nope".into()],
            grants: vec![("f".into(), "c1".into()), ("f".into(), "nope".into())],
            functions: vec!["f".into(), "g".into()],
        })
        .await
        .unwrap();
    let (s, secret) = rows.services["acme"].clone().unwrap();
    assert_eq!(
        (s.id.as_str(), secret.as_deref()),
        ("svc_1", Some(&b"client"[..]))
    );
    assert!(rows.services["gone"].is_none());
    assert_eq!(
        rows.service_clients["catalog_x"].1.as_deref(),
        Some(&b"cs"[..])
    );
    assert_eq!(rows.service_clients["catalog_y"], (None, None));
    let (c1, sealed) = rows.connections["c1"].clone().unwrap();
    assert_eq!(
        (c1.id.as_str(), sealed.as_deref()),
        ("con_1", Some(&b"sealed"[..]))
    );
    assert!(rows.connections["nope"].is_none());
    assert!(rows.grants[&("f".to_owned(), "c1".to_owned())].is_some());
    assert!(rows.grants[&("f".to_owned(), "nope".to_owned())].is_none());
    assert_eq!(rows.grants_of["f"].len(), 1);
    assert!(rows.grants_of["g"].is_empty());

    // A changed client revokes the service's connections.
    let d = connection("con_2", "d1", &service("catalog_x", "xsvc"));
    store.create_default_service_connection(&d).await.unwrap();
    assert_eq!(
        store
            .set_service_client("catalog_x", &client, b"cs2".to_vec(), Some("new client"))
            .await
            .unwrap(),
        ["d1"]
    );
}

#[tokio::test]
async fn rotation_reseals_everything_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let redb = RedbStore::open(&dir.path().join("db.redb")).unwrap();
    let store = redb.repositories();
    let old = Sealer::new(&MasterKey::generate());
    let new = Sealer::new(&MasterKey::generate());
    redb.bind_key(&old).unwrap();
    let svc = store
        .create_service(&service("svc_1", "acme"), None)
        .await
        .unwrap();
    for id in ["con_1", "con_2"] {
        let c = connection(id, id, &svc);
        store
            .create_connections(std::slice::from_ref(&c))
            .await
            .unwrap();
        connect(&*store, &c, &old.seal(id.as_bytes(), id.as_bytes())).await;
    }
    // A sealer that cannot open the secrets changes nothing.
    assert!(matches!(
        redb.rotate_key(&new, &old),
        Err(StoreError::Sealed(_))
    ));
    assert_eq!(redb.sealed_key_id().unwrap(), Some(old.key_id()));

    assert_eq!(redb.rotate_key(&old, &new).unwrap(), 2);
    assert_eq!(redb.sealed_key_id().unwrap(), Some(new.key_id()));
    for (id, blob) in store.secrets().await.unwrap() {
        assert_eq!(
            new.open(id.as_bytes(), &blob).unwrap().as_slice(),
            id.as_bytes()
        );
        assert!(old.open(id.as_bytes(), &blob).is_err());
    }
    assert!(matches!(
        redb.bind_key(&old),
        Err(StoreError::WrongKey { .. })
    ));
    redb.bind_key(&new).unwrap();
}

// ---- schema version and migration ----

/// Writes a database as the release before schema versions wrote it: every table
/// opened at start, services, connections, grants and audit keyed by link name,
/// records without scope or revision.
fn write_version_1(path: &Path, damaged_connection: bool) {
    let db = Database::create(path).unwrap();
    let tx = db.begin_write().unwrap();
    {
        for t in [
            tables::FUNCTIONS,
            tables::SECRETS,
            tables::OAUTH_FLOWS,
            tables::SERVICE_CLIENTS,
            META,
        ] {
            tx.open_table(t).unwrap();
        }
        let json = |v: serde_json::Value| serde_json::to_vec(&v).unwrap();
        tx.open_table(legacy::SERVICES)
            .unwrap()
            .insert(
                "acme",
                json(serde_json::json!({
                    "id": "svc_1", "link_name": "acme", "display_name": "Acme",
                    "auth": {"type": "basic"}, "api_origins": ["https://api.acme.com"],
                    "created_by": "admin", "created_at_ms": 1, "updated_at_ms": 2
                }))
                .as_slice(),
            )
            .unwrap();
        let mut connections = tx.open_table(legacy::CONNECTIONS).unwrap();
        connections
            .insert(
                "main",
                json(serde_json::json!({
                    "id": "con_1", "link_name": "main", "display_name": "Main",
                    "service": "acme", "service_id": "svc_1", "status": "connected",
                    "credential_names": ["password"],
                    "created_by": "admin", "created_at_ms": 1, "updated_at_ms": 2
                }))
                .as_slice(),
            )
            .unwrap();
        if damaged_connection {
            connections.insert("bad", b"{not json".as_slice()).unwrap();
        }
        tx.open_table(tables::SECRETS)
            .unwrap()
            .insert("con_1", b"sealed".as_slice())
            .unwrap();
        let mut grants = tx.open_table(legacy::GRANTS).unwrap();
        grants
            .insert(("fetch", "main"), br#"{"granted_at_ms":5}"#.as_slice())
            .unwrap();
        // A grant of a connection that is gone: not carried over.
        grants
            .insert(("fetch", "gone"), br#"{"granted_at_ms":5}"#.as_slice())
            .unwrap();
        tx.open_table(tables::FUNCTIONS)
            .unwrap()
            .insert(
                "fetch",
                br#"{"name":"fetch","current_version":1,"latest_version":1,"created_at_ms":1,"updated_at_ms":1}"#
                    .as_slice(),
            )
            .unwrap();
        let mut audit = tx.open_table(legacy::AUDIT).unwrap();
        for (link, seq) in [("main", 1u64), ("main", 3), ("gone", 2)] {
            audit
                .insert(
                    (link, seq),
                    json(serde_json::to_value(audit_record(seq)).unwrap()).as_slice(),
                )
                .unwrap();
        }
        tx.open_table(META)
            .unwrap()
            .insert("audit_seq", 3u64.to_le_bytes().as_slice())
            .unwrap();
    }
    tx.commit().unwrap();
}

#[tokio::test]
async fn a_version_1_database_is_migrated_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.redb");
    write_version_1(&path, false);
    let store = RedbStore::open(&path).unwrap().repositories();

    let s = store.service_by_link(H, "acme").await.unwrap().unwrap();
    assert_eq!(
        (s.id.as_str(), s.meta.scope.as_str(), s.meta.revision),
        ("svc_1", H, 1)
    );
    let c = store.connection_by_link(H, "main").await.unwrap().unwrap();
    assert_eq!((c.id.as_str(), c.revision), ("con_1", 1));
    assert_eq!(store.secrets().await.unwrap()["con_1"], b"sealed");
    let g = store.grants().await.unwrap();
    assert_eq!(g.len(), 1);
    assert_eq!(
        (g[0].0.as_str(), g[0].1.as_str(), g[0].2.revision),
        ("fetch", "main", 1)
    );
    let times: Vec<u64> = store
        .audit("con_1", 10)
        .await
        .unwrap()
        .iter()
        .map(|r| r.time_ms)
        .collect();
    assert_eq!(times, [1, 3]);
    assert_eq!(store.audit_len().await.unwrap(), 2);
    let f = store.function("fetch").await.unwrap().0;
    assert_eq!(f.revision, 1);
    // The sequence continues after the migrated records.
    store
        .append_audit(vec![("con_1".to_owned(), audit_record(4))], 10)
        .await
        .unwrap();
    assert_eq!(store.audit("con_1", 1).await.unwrap()[0].time_ms, 4);
    // Updates work against the migrated revision.
    store
        .update_connection(&c, 1, SecretChange::Keep)
        .await
        .unwrap();
    drop(store);

    // The old tables are gone and the version is recorded; opening again is a no-op.
    let store = RedbStore::open(&path).unwrap();
    drop(store);
    let db = Database::create(&path).unwrap();
    let tx = db.begin_read().unwrap();
    let names: Vec<String> = tx
        .list_tables()
        .unwrap()
        .map(|t| t.name().to_owned())
        .collect();
    for old in ["services", "connections", "grants", "audit"] {
        assert!(
            !names.iter().any(|n| n == old),
            "{old} still there: {names:?}"
        );
    }
    let version = tx
        .open_table(META)
        .unwrap()
        .get("schema_version")
        .unwrap()
        .unwrap()
        .value()
        .to_vec();
    assert_eq!(version, SCHEMA_VERSION.to_le_bytes());
}

#[test]
fn a_failed_migration_leaves_the_old_tables_as_they_were() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.redb");
    write_version_1(&path, true);
    let err = RedbStore::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
    assert!(err.to_string().contains("connection `bad`"), "{err}");

    let db = Database::create(&path).unwrap();
    let tx = db.begin_read().unwrap();
    assert_eq!(tx.open_table(legacy::SERVICES).unwrap().len().unwrap(), 1);
    assert_eq!(
        tx.open_table(legacy::CONNECTIONS).unwrap().len().unwrap(),
        2
    );
    assert_eq!(tx.open_table(legacy::GRANTS).unwrap().len().unwrap(), 2);
    assert_eq!(tx.open_table(legacy::AUDIT).unwrap().len().unwrap(), 3);
    assert!(
        tx.open_table(META)
            .unwrap()
            .get("schema_version")
            .unwrap()
            .is_none(),
        "no version recorded"
    );
    let names: Vec<String> = tx
        .list_tables()
        .unwrap()
        .map(|t| t.name().to_owned())
        .collect();
    assert!(!names.iter().any(|n| n == "connection_by_id"), "{names:?}");
}

#[test]
fn a_database_of_a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.redb");
    drop(RedbStore::open(&path).unwrap());
    {
        let db = Database::create(&path).unwrap();
        let tx = db.begin_write().unwrap();
        tx.open_table(META)
            .unwrap()
            .insert(
                "schema_version",
                (SCHEMA_VERSION + 1).to_le_bytes().as_slice(),
            )
            .unwrap();
        tx.commit().unwrap();
    }
    let err = RedbStore::open(&path).unwrap_err();
    assert!(
        matches!(err, StoreError::NewerSchema { found, known } if found == SCHEMA_VERSION + 1 && known == SCHEMA_VERSION),
        "{err}"
    );
    assert!(err.to_string().contains("newer one"), "{err}");
}

#[test]
fn a_new_database_starts_at_the_current_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.redb");
    drop(RedbStore::open(&path).unwrap());
    let db = Database::create(&path).unwrap();
    let tx = db.begin_read().unwrap();
    let version = tx
        .open_table(META)
        .unwrap()
        .get("schema_version")
        .unwrap()
        .unwrap()
        .value()
        .to_vec();
    assert_eq!(version, SCHEMA_VERSION.to_le_bytes());
    let names: Vec<String> = tx
        .list_tables()
        .unwrap()
        .map(|t| t.name().to_owned())
        .collect();
    assert!(!names.iter().any(|n| n == "services"), "{names:?}");
}
