//! The runtime against a fake `ConnectionBroker`: a real guest (the `fetch` plugin) calls
//! `invoke-url` with a connection, the broker records what the runtime asks and answers
//! with chosen connections or errors, and a loopback upstream reflects the credential it
//! receives. No host, no store, no connections crate.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::{Value, json};
use switchboard::auth::{ApiKeyParam, AuthConfig, Credential, Credentials, ParamType};
use switchboard::model::context::Principal;
use switchboard::model::records::AuditRecord;
use switchboard::model::{ApiKeyValue, InvocationContext, Limits};
use switchboard::outbound::{
    BoxFuture, BrokerError, ConnectionBroker, Outbound, OutboundConfig, Policy, ResolvedConnection,
};
use switchboard::runtime::{CallSpec, Loaded, Runtime, RuntimeConfig};

use crate::FETCH;

const LINK: &str = "api";
/// The id the fake broker's connection resolves with.
const CONNECTION_ID: &str = "con_fake";

/// What the fake broker was asked to record: request id, link, the resolved connection's
/// id (when it resolved), the record.
type Record = (u64, String, Option<String>, AuditRecord);
/// The credential the upstream refuses with 401.
const OLD: &str = "old-Cnry-7f3a91";
/// The credential it accepts.
const FRESH: &str = "fresh-Cnry-52be07";
/// The header the credential travels in.
const HEADER: &str = "X-Token";

/// What the runtime asked the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Asked {
    Resolve {
        function: String,
        principal: Principal,
        request_id: u64,
        link: String,
        url: String,
    },
    Refresh {
        request_id: u64,
        link: String,
        generation: Vec<u8>,
    },
}

/// A broker that answers from queues and writes down every question and audit record.
#[derive(Debug, Default)]
struct FakeBroker {
    resolves: Mutex<VecDeque<Result<ResolvedConnection, BrokerError>>>,
    refreshes: Mutex<VecDeque<Result<Option<ResolvedConnection>, BrokerError>>>,
    asked: Mutex<Vec<Asked>>,
    records: Mutex<Vec<Record>>,
}

impl FakeBroker {
    fn answering(resolves: Vec<Result<ResolvedConnection, BrokerError>>) -> Arc<Self> {
        Arc::new(Self {
            resolves: Mutex::new(resolves.into()),
            ..Self::default()
        })
    }

    fn then_refresh(
        self: Arc<Self>,
        r: Result<Option<ResolvedConnection>, BrokerError>,
    ) -> Arc<Self> {
        self.refreshes.lock().unwrap().push_back(r);
        self
    }

    fn asked(&self) -> Vec<Asked> {
        self.asked.lock().unwrap().clone()
    }

    fn records(&self) -> Vec<Record> {
        self.records.lock().unwrap().clone()
    }
}

impl ConnectionBroker for FakeBroker {
    fn resolve<'a>(
        &'a self,
        ctx: &'a InvocationContext,
        link: &'a str,
        url: &'a str,
    ) -> BoxFuture<'a, Result<ResolvedConnection, BrokerError>> {
        self.asked.lock().unwrap().push(Asked::Resolve {
            function: ctx.function.to_string(),
            principal: ctx.principal.clone(),
            request_id: ctx.request_id,
            link: link.to_owned(),
            url: url.to_owned(),
        });
        let next = self
            .resolves
            .lock()
            .unwrap()
            .pop_front()
            .expect("the test scripted no further resolve");
        Box::pin(std::future::ready(next))
    }

    fn refresh_after_unauthorized<'a>(
        &'a self,
        ctx: &'a InvocationContext,
        link: &'a str,
        used: &'a ResolvedConnection,
    ) -> BoxFuture<'a, Result<Option<ResolvedConnection>, BrokerError>> {
        self.asked.lock().unwrap().push(Asked::Refresh {
            request_id: ctx.request_id,
            link: link.to_owned(),
            generation: used.generation.clone(),
        });
        let next = self
            .refreshes
            .lock()
            .unwrap()
            .pop_front()
            .expect("the test scripted no further refresh");
        Box::pin(std::future::ready(next))
    }

    fn record(
        &self,
        ctx: &InvocationContext,
        link: &str,
        connection_id: Option<&str>,
        record: AuditRecord,
    ) {
        self.records.lock().unwrap().push((
            ctx.request_id,
            link.to_owned(),
            connection_id.map(str::to_owned),
            record,
        ));
    }
}

/// A loopback API: 401 (echoing the token) to [`OLD`], 200 echoing the token and the
/// path to anything else.
async fn upstream() -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let app = axum::Router::new().fallback(move |req: Request| {
        let log = log.clone();
        async move {
            let token = req
                .headers()
                .get(HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            log.lock().unwrap().push(token.clone());
            let body = json!({ "token": token, "path": req.uri().path() });
            let status = if token == OLD {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::OK
            };
            (status, [("x-seen", token)], axum::Json(body)).into_response()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (origin, seen)
}

/// A connection whose credential is `token` in [`HEADER`], allowed to `origin`.
fn connection(
    origin: &str,
    url: &str,
    token: &str,
    refreshable: bool,
    generation: u8,
) -> ResolvedConnection {
    let auth = AuthConfig::ApiKey {
        params: vec![ApiKeyParam {
            name: HEADER.to_owned(),
            display_name: "Token".to_owned(),
            param_type: ParamType::Header,
        }],
    };
    let credentials = Credentials::ApiKey {
        values: [(HEADER.to_owned(), ApiKeyValue::new(token))].into(),
    };
    ResolvedConnection {
        policy: Arc::new(Policy::for_connection(LINK, &[origin.to_owned()]).unwrap()),
        url: url.to_owned(),
        credential: Credential::new(&auth, &credentials).unwrap(),
        refreshable,
        generation: vec![generation],
        connection_id: CONNECTION_ID.to_owned(),
    }
}

struct Harness {
    runtime: Runtime,
    loaded: Loaded,
}

impl Harness {
    fn new(broker: Arc<FakeBroker>) -> Self {
        let outbound = Outbound::new(OutboundConfig {
            allow_private_networks: true,
            ..OutboundConfig::default()
        })
        .unwrap();
        let runtime = Runtime::new(
            RuntimeConfig {
                max_concurrency: 2,
                ..RuntimeConfig::default()
            },
            outbound,
        )
        .unwrap()
        .with_connections(broker);
        let wasm = std::fs::read(FETCH).unwrap();
        let (_, loaded) = runtime.compile(&wasm).unwrap();
        Self { runtime, loaded }
    }

    /// Runs `fetch` with `input` as `who`; the call's context and its JSON output.
    async fn fetch(&self, who: Principal, input: Value) -> (Arc<InvocationContext>, Value) {
        let spec = CallSpec {
            limits: Limits::default(),
            policy: Arc::new(Policy::default()),
        };
        let ctx = Arc::new(InvocationContext::new("fetcher", who, 1_700_000_000_000));
        let outcome = self
            .runtime
            .invoke(&self.loaded, &spec, ctx.clone(), input.to_string())
            .await;
        let output = outcome.result.expect("the call succeeds");
        (ctx, serde_json::from_str(&output).unwrap())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_gets_the_context_and_the_unfilled_url_and_the_function_never_the_credential() {
    let (origin, seen) = upstream().await;
    let asked_url = "https://{tenant}.example.test/v1/items?q=1";
    let filled = format!("{origin}/v1/items?q=1");
    let broker = FakeBroker::answering(vec![Ok(connection(&origin, &filled, FRESH, false, 1))]);
    let h = Harness::new(broker.clone());

    let who = Principal::User("ada".into());
    let (ctx, out) = h
        .fetch(who.clone(), json!({ "url": asked_url, "connection": LINK }))
        .await;

    assert_eq!(out["status"], 200, "{out}");
    assert_eq!(
        broker.asked(),
        vec![Asked::Resolve {
            function: "fetcher".into(),
            principal: who,
            request_id: ctx.request_id,
            link: LINK.into(),
            url: asked_url.into(),
        }]
    );
    // The upstream got the credential; the function saw neither it in the body nor in
    // the reflecting header.
    assert_eq!(*seen.lock().unwrap(), vec![FRESH.to_owned()]);
    let text = out.to_string();
    assert!(
        !text.contains(FRESH),
        "the function saw the credential: {text}"
    );
    let body: Value = serde_json::from_str(out["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["path"], "/v1/items");
    assert_ne!(body["token"], FRESH);

    let records = broker.records();
    assert_eq!(records.len(), 1, "{records:?}");
    let (request_id, link, id, record) = &records[0];
    assert_eq!((*request_id, link.as_str()), (ctx.request_id, LINK));
    // Under the id resolve returned, not whatever has the link name later.
    assert_eq!(id.as_deref(), Some(CONNECTION_ID));
    assert_eq!(record.function, "fetcher");
    assert_eq!(record.method, "GET");
    assert_eq!(record.origin, origin);
    assert_eq!(record.path, "/v1/items");
    assert_eq!(record.status, Some(200));
    assert_eq!(record.outcome, "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_broker_error_reaches_the_function_as_its_wit_error_and_is_audited() {
    let cases = [
        (
            BrokerError::Unknown("no connection `api`".into()),
            "unknown-connection",
        ),
        (
            BrokerError::NotGranted("not granted `api`".into()),
            "not-granted",
        ),
        (
            BrokerError::NeedsReconnect("reconnect `api`".into()),
            "needs-reconnect",
        ),
        (
            BrokerError::Unavailable("token endpoint down".into()),
            "transport",
        ),
        (
            BrokerError::InvalidRequest("no value for {tenant}".into()),
            "invalid-request",
        ),
    ];
    let broker = FakeBroker::answering(cases.iter().map(|(e, _)| Err(e.clone())).collect());
    let h = Harness::new(broker.clone());

    for (error, kind) in &cases {
        let (ctx, out) = h
            .fetch(
                Principal::Admin,
                json!({ "url": "https://api.example.test/x", "connection": LINK }),
            )
            .await;
        assert_eq!(out["error"]["kind"], *kind, "{error:?}: {out}");
        assert_eq!(out["error"]["message"], error.to_string(), "{out}");
        let records = broker.records();
        let mine: Vec<_> = records.iter().filter(|r| r.0 == ctx.request_id).collect();
        if *kind == "unknown-connection" {
            // No connection by that name: nothing to write the record to.
            assert!(mine.is_empty(), "{mine:?}");
        } else {
            assert_eq!(mine.len(), 1, "{kind}: {records:?}");
            assert_eq!(mine[0].2, None, "a refused use never resolved an id");
            assert_eq!(mine[0].3.outcome, *kind);
            assert_eq!(mine[0].3.status, None);
        }
    }
    assert_eq!(broker.asked().len(), cases.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_is_retried_once_with_the_fresh_credential_when_refreshable() {
    let (origin, seen) = upstream().await;
    let url = format!("{origin}/me");
    let broker = FakeBroker::answering(vec![Ok(connection(&origin, &url, OLD, true, 1))])
        .then_refresh(Ok(Some(connection(&origin, &url, FRESH, true, 2))));
    let h = Harness::new(broker.clone());

    let (ctx, out) = h
        .fetch(Principal::Admin, json!({ "url": url, "connection": LINK }))
        .await;

    assert_eq!(out["status"], 200, "{out}");
    assert_eq!(
        *seen.lock().unwrap(),
        vec![OLD.to_owned(), FRESH.to_owned()]
    );
    let asked = broker.asked();
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert_eq!(
        asked[1],
        Asked::Refresh {
            request_id: ctx.request_id,
            link: LINK.into(),
            generation: vec![1],
        }
    );
    let text = out.to_string();
    assert!(!text.contains(OLD) && !text.contains(FRESH), "{text}");
    let records = broker.records();
    assert_eq!(
        records.len(),
        1,
        "one record for the request, retry included: {records:?}"
    );
    assert_eq!(records[0].3.status, Some(200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_retry_redacts_the_old_credential_from_what_comes_back() {
    // The fresh credential is accepted but the upstream reflects the old one too: the
    // answer passes both redactors.
    let (origin, _seen) = upstream().await;
    let url = format!("{origin}/reflect/{OLD}");
    let broker = FakeBroker::answering(vec![Ok(connection(&origin, &url, OLD, true, 1))])
        .then_refresh(Ok(Some(connection(&origin, &url, FRESH, true, 2))));
    let h = Harness::new(broker.clone());

    let (_, out) = h
        .fetch(Principal::Admin, json!({ "url": url, "connection": LINK }))
        .await;

    assert_eq!(out["status"], 200, "{out}");
    let text = out.to_string();
    assert!(!text.contains(OLD), "the old credential came back: {text}");
    assert!(!text.contains(FRESH), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_stands_when_not_refreshable_or_when_nothing_fresher_exists() {
    let (origin, seen) = upstream().await;
    let url = format!("{origin}/me");
    let broker = FakeBroker::answering(vec![
        Ok(connection(&origin, &url, OLD, false, 1)),
        Ok(connection(&origin, &url, OLD, true, 1)),
    ])
    .then_refresh(Ok(None));
    let h = Harness::new(broker.clone());

    // Not refreshable (API key, Basic...): no refresh asked, the 401 is the answer.
    let (_, out) = h
        .fetch(Principal::Admin, json!({ "url": url, "connection": LINK }))
        .await;
    assert_eq!(out["status"], 401, "{out}");
    assert!(!out.to_string().contains(OLD), "{out}");
    assert_eq!(broker.asked().len(), 1);
    assert_eq!(seen.lock().unwrap().len(), 1);

    // Refreshable, but the broker has nothing fresher: one refresh asked, no resend.
    let (_, out) = h
        .fetch(Principal::Admin, json!({ "url": url, "connection": LINK }))
        .await;
    assert_eq!(out["status"], 401, "{out}");
    let asked = broker.asked();
    assert_eq!(asked.len(), 3, "{asked:?}");
    assert!(matches!(asked[2], Asked::Refresh { .. }), "{asked:?}");
    assert_eq!(seen.lock().unwrap().len(), 2, "no resend");
    let records = broker.records();
    assert_eq!(records.len(), 2, "{records:?}");
    assert!(records.iter().all(|r| r.3.status == Some(401)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_refresh_is_the_functions_error_redacted() {
    let (origin, seen) = upstream().await;
    let url = format!("{origin}/me");
    let broker = FakeBroker::answering(vec![Ok(connection(&origin, &url, OLD, true, 1))])
        .then_refresh(Err(BrokerError::NeedsReconnect(format!(
            "the provider refused the refresh of {OLD}"
        ))));
    let h = Harness::new(broker.clone());

    let (_, out) = h
        .fetch(Principal::Admin, json!({ "url": url, "connection": LINK }))
        .await;
    assert_eq!(out["error"]["kind"], "needs-reconnect", "{out}");
    assert!(!out.to_string().contains(OLD), "{out}");
    assert_eq!(seen.lock().unwrap().len(), 1);
    let records = broker.records();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].3.outcome, "needs-reconnect");
}
