//! The host's operations on functions (deploy, invoke, list, show, rollback,
//! delete, logs), shared by the HTTP API and the tests. Owns the in-memory
//! table of loaded versions so an invocation never touches the database.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use sha2::{Digest, Sha256};

use switchboard_connections::Connections;
use switchboard_connections::RequirementView;
use switchboard_model::names::validate_function_name;
use switchboard_model::names::validate_link_name;
use switchboard_model::records::{Artifact, FunctionRecord, Requirement, VersionRecord};
use switchboard_model::{Error, InvocationContext};
use switchboard_outbound::{Policy, normalize_origin};
use switchboard_runtime::{CallSpec, DeployError, Limits, Loaded, LogLine, Runtime};
use switchboard_store::{Deploy, Repositories};

/// Settings of the function service.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// Largest component accepted at deploy, in bytes.
    pub max_component_bytes: usize,
    /// Bound on compiling one component at deploy.
    pub compile_timeout: Duration,
    /// Log lines kept per function (across calls, newest kept).
    pub log_lines_per_function: usize,
}

impl Default for AppConfig {
    fn default() -> Self {
        Self {
            max_component_bytes: 32 * 1024 * 1024,
            compile_timeout: Duration::from_secs(60),
            log_lines_per_function: 1000,
        }
    }
}

fn deploy_error(e: DeployError) -> Error {
    let code = match e {
        DeployError::NotAComponent(_) => "not_a_component",
        DeployError::OverLimit(_) => "component_over_limit",
        _ => "invalid_component",
    };
    bad(code, e.to_string())
}

fn bad(code: &'static str, message: impl Into<String>) -> Error {
    Error::BadRequest {
        code,
        message: message.into(),
    }
}

/// What a deploy asks for besides the component.
#[derive(Debug, Clone, Default)]
pub struct DeployOptions {
    /// Limits; `None` fields take the defaults.
    pub memory_mib: Option<u32>,
    /// Deadline per call, ms.
    pub timeout_ms: Option<u32>,
    /// Outbound requests per call.
    pub max_requests: Option<u32>,
    /// Calls of this function at once (0: the host's per-function default).
    pub max_concurrency: Option<u32>,
    /// Origins connection-less `invoke-url` may reach.
    pub allowed_hosts: Vec<String>,
    /// Connections the function declares it needs (its manifest).
    pub requires: Vec<Requirement>,
}

/// A function's manifest: the connections it needs.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// One entry per connection needed.
    #[serde(default)]
    pub connections: Vec<Requirement>,
}

/// Checks a manifest's entries; the message says which entry and what to fix.
///
/// # Errors
/// A bad service link name, scope or reason, or too many entries.
pub fn validate_requirements(requires: &[Requirement]) -> Result<(), String> {
    if requires.len() > 20 {
        return Err("a manifest may declare at most 20 connections".into());
    }
    for (i, r) in requires.iter().enumerate() {
        validate_link_name("service", &r.service)
            .map_err(|m| format!("manifest connection {}: {m}", i + 1))?;
        if let Some(s) = r
            .scopes
            .iter()
            .find(|s| s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            return Err(format!(
                "manifest connection {} (`{}`): scope `{s}` must be non-empty text without spaces",
                i + 1,
                r.service
            ));
        }
        if r.why.as_ref().is_some_and(|w| w.chars().count() > 500) {
            return Err(format!(
                "manifest connection {} (`{}`): `why` is longer than 500 characters",
                i + 1,
                r.service
            ));
        }
    }
    Ok(())
}

/// A version as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct VersionView {
    /// Version number.
    pub version: u32,
    /// Whether invocations run this version.
    pub current: bool,
    /// Hex SHA-256 of the component.
    pub sha256: String,
    /// Component size.
    pub size_bytes: u64,
    /// RFC 3339.
    pub deployed_at: String,
    /// Per-call limits.
    pub limits: Limits,
    /// Allowed origins for connection-less requests.
    pub allowed_hosts: Vec<String>,
    /// Connections it declared it needs.
    pub requires: Vec<Requirement>,
}

/// A function as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct FunctionView {
    /// Name.
    pub name: String,
    /// Version invocations run.
    pub current_version: u32,
    /// Highest version deployed.
    pub latest_version: u32,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// All versions, oldest first (only in `show`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub versions: Option<Vec<VersionView>>,
    /// Connections it may use (only in `show`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grants: Option<Vec<String>>,
    /// How the current version's declared connections stand (`show` and deploy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requirements: Option<Vec<RequirementView>>,
}

/// A log line with the call it came from.
#[derive(Debug, Clone, Serialize)]
pub struct LogEntry {
    /// RFC 3339 with milliseconds.
    pub time: String,
    /// Invocation id (also in the `x-switchboard-invocation` response header).
    pub invocation: u64,
    /// Version that ran.
    pub version: u32,
    /// Level.
    pub level: &'static str,
    /// Message.
    pub message: String,
}

/// A successful invocation.
#[derive(Debug)]
pub struct Invocation {
    /// Id of this call.
    pub id: u64,
    /// Version that ran.
    pub version: u32,
    /// The function's JSON output.
    pub output: String,
    /// Wall-clock duration.
    pub duration: Duration,
}

/// A loaded, callable version.
#[derive(Debug)]
struct Deployed {
    version: u32,
    loaded: Loaded,
    spec: CallSpec,
    /// Connections the version declared it needs, checked before each call.
    requires: Arc<[Requirement]>,
}

/// The function service.
#[derive(Debug)]
pub struct App {
    store: Arc<dyn Repositories>,
    runtime: Arc<Runtime>,
    connections: Arc<Connections>,
    config: AppConfig,
    /// Read on every invocation, written on deploy/rollback/delete: a std
    /// RwLock held only to clone an `Arc`, never across an await.
    deployed: RwLock<HashMap<String, Arc<Deployed>>>,
    /// Serialises deploy, rollback and delete so the store and `deployed`
    /// change together and in order.
    writes: tokio::sync::Mutex<()>,
    /// Bounds concurrent compilations (CPU and memory heavy).
    /// One compile at a time. A permit moves into the compile's blocking task
    /// and is released when Cranelift really finishes, not when a timeout
    /// answers the client: a slow compile never runs beside the next one.
    compiles: Arc<tokio::sync::Semaphore>,
    logs: Mutex<HashMap<String, VecDeque<LogEntry>>>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Formats Unix milliseconds as RFC 3339 (UTC, milliseconds).
pub fn rfc3339(ms: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

fn version_view(v: VersionRecord, current: u32) -> VersionView {
    VersionView {
        current: v.version == current,
        version: v.version,
        sha256: v.sha256,
        size_bytes: v.size_bytes,
        deployed_at: rfc3339(v.deployed_at_ms),
        limits: v.limits,
        allowed_hosts: v.allowed_hosts,
        requires: v.requires,
    }
}

fn function_view(f: FunctionRecord, versions: Option<Vec<VersionRecord>>) -> FunctionView {
    let current = f.current_version;
    FunctionView {
        name: f.name,
        current_version: f.current_version,
        latest_version: f.latest_version,
        created_at: rfc3339(f.created_at_ms),
        updated_at: rfc3339(f.updated_at_ms),
        versions: versions.map(|vs| vs.into_iter().map(|v| version_view(v, current)).collect()),
        grants: None,
        requirements: None,
    }
}

/// What to do about a declared connection the function does not have.
fn missing_message(function: &str, r: &RequirementView) -> String {
    let why = r
        .why
        .as_deref()
        .map(|w| format!(" ({w})"))
        .unwrap_or_default();
    let scopes = if r.scopes.is_empty() {
        String::new()
    } else {
        format!(" with scopes {}", r.scopes.join(", "))
    };
    if r.granted.is_empty() {
        format!(
            "function `{function}` needs a connection of service `{service}`{scopes}{why}: create one with \
             `switchboard connection create LINK --service {service} --name NAME --for-function {function}` \
             and connect it, or grant an existing one with `switchboard function grant {function} --connection LINK`",
            service = r.service
        )
    } else {
        format!(
            "function `{function}` needs a connected connection of service `{service}`{scopes}{why}; \
             its connections of that service ({}) are not connected or lack the scopes: connect one with \
             `switchboard connection connect LINK`",
            r.granted.join(", "),
            service = r.service
        )
    }
}

/// Runs blocking store work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("blocking task failed: {e}")))?
}

impl App {
    /// Opens the service over `store`, loading the current version of every function.
    /// A version that fails to load is logged and left out (its function answers 404
    /// until redeployed or rolled back).
    ///
    /// # Errors
    /// The store cannot be read.
    pub async fn new(
        store: Arc<dyn Repositories>,
        runtime: Arc<Runtime>,
        connections: Arc<Connections>,
        config: AppConfig,
    ) -> anyhow::Result<Self> {
        let app = Self {
            store,
            runtime,
            connections,
            config,
            deployed: RwLock::new(HashMap::new()),
            writes: tokio::sync::Mutex::new(()),
            compiles: Arc::new(tokio::sync::Semaphore::new(1)),
            logs: Mutex::new(HashMap::new()),
        };
        let functions = app.store.functions().await?;
        for f in functions {
            match app.load_version(&f.name, f.current_version).await {
                Ok(d) => {
                    app.deployed
                        .write()
                        .expect("lock poisoned")
                        .insert(f.name.clone(), d);
                }
                Err(e) => {
                    tracing::error!(function = %f.name, version = f.current_version, error = %e, "could not load function")
                }
            }
        }
        Ok(app)
    }

    /// The runtime (for its counters).
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The connections service.
    pub fn connections(&self) -> &Arc<Connections> {
        &self.connections
    }

    /// Number of loaded functions.
    pub fn loaded_functions(&self) -> usize {
        self.deployed.read().expect("lock poisoned").len()
    }

    fn spec(&self, record: &VersionRecord) -> Result<CallSpec, Error> {
        let policy = Policy::new(&record.allowed_hosts)
            .map_err(|e| Error::Internal(anyhow::anyhow!("stored allowed host is invalid: {e}")))?;
        Ok(CallSpec {
            limits: record.limits,
            policy: Arc::new(policy),
        })
    }

    /// Loads a stored version: its artifact without compiling when the engine
    /// matches, else by recompiling the stored component (and storing the new artifact).
    async fn load_version(&self, name: &str, version: u32) -> Result<Arc<Deployed>, Error> {
        let record = self.store.version(name, version).await?;
        let loaded = match self.store.artifact(name, version).await? {
            Some(artifact) => {
                let runtime = self.runtime.clone();
                blocking(move || Ok(runtime.load(&artifact)?)).await?
            }
            None => None,
        };
        let loaded = match loaded {
            Some(loaded) => loaded,
            None => {
                tracing::info!(function = %name, version, "artifact missing or built by another engine; recompiling");
                let wasm = self.store.component(name, version).await?;
                // The same limited path as a deploy: limits checked first, one
                // compile at a time, bounded by the compile timeout.
                let (artifact, loaded) = self.compile(Arc::new(wasm)).await.map_err(|e| {
                    Error::Internal(anyhow::anyhow!("stored component no longer compiles: {e}"))
                })?;
                self.store.put_artifact(name, version, artifact).await?;
                loaded
            }
        };
        Ok(Arc::new(Deployed {
            version,
            spec: self.spec(&record)?,
            requires: record.requires.clone().into(),
            loaded,
        }))
    }

    /// Compiles `wasm` on a blocking thread: the [`switchboard_runtime::CompileLimits`]
    /// check first, one compile at a time, the client answered after
    /// `compile_timeout`. Deploys, start-up recompiles and rollbacks all come here.
    async fn compile(&self, wasm: Arc<Vec<u8>>) -> Result<(Artifact, Loaded), Error> {
        // Refuse what is over the limits before queueing for the compile permit,
        // so a bomb is answered at once even while another compile runs.
        let runtime = self.runtime.clone();
        let w = wasm.clone();
        tokio::task::spawn_blocking(move || runtime.check_compile_limits(&w))
            .await
            .map_err(|e| Error::Internal(anyhow::anyhow!("check task failed: {e}")))?
            .map_err(deploy_error)?;
        let permit = self
            .compiles
            .clone()
            .acquire_owned()
            .await
            .expect("never closed");
        let runtime = self.runtime.clone();
        // Cranelift cannot be cancelled: on timeout the compile finishes in the
        // background, holding the permit until it does, and its result is dropped.
        let task = tokio::task::spawn_blocking(move || {
            let result = runtime.compile(&wasm);
            switchboard_runtime::release_freed_memory();
            drop(permit);
            result
        });
        match tokio::time::timeout(self.config.compile_timeout, task).await {
            Err(_) => Err(bad(
                "compile_timeout",
                format!(
                    "compiling the component took longer than {} s; make it smaller",
                    self.config.compile_timeout.as_secs()
                ),
            )),
            Ok(Err(e)) => Err(Error::Internal(anyhow::anyhow!("compile task failed: {e}"))),
            Ok(Ok(result)) => result.map_err(deploy_error),
        }
    }

    /// Validates, compiles and stores a new version of `name` and makes it current.
    ///
    /// # Errors
    /// [`Error::BadRequest`] for a bad name, option or component (nothing is
    /// stored), [`Error::TooLarge`], or an internal failure.
    pub async fn deploy(
        &self,
        name: &str,
        wasm: Vec<u8>,
        opts: DeployOptions,
    ) -> Result<FunctionView, Error> {
        validate_function_name(name).map_err(|m| bad("invalid_name", m))?;
        let defaults = Limits::default();
        let limits = Limits {
            memory_mib: opts.memory_mib.unwrap_or(defaults.memory_mib),
            timeout_ms: opts.timeout_ms.unwrap_or(defaults.timeout_ms),
            max_requests: opts.max_requests.unwrap_or(defaults.max_requests),
            max_concurrency: opts.max_concurrency.unwrap_or(defaults.max_concurrency),
        };
        limits
            .validate(
                self.runtime.config().max_concurrency,
                self.runtime.config().max_memory_mib,
            )
            .map_err(|m| bad("invalid_limits", m))?;
        validate_requirements(&opts.requires).map_err(|m| bad("invalid_manifest", m))?;
        let mut allowed_hosts = Vec::new();
        for h in &opts.allowed_hosts {
            let origin = normalize_origin(h).map_err(|m| bad("invalid_allowed_host", m))?;
            if !allowed_hosts.contains(&origin) {
                allowed_hosts.push(origin);
            }
        }
        if wasm.len() > self.config.max_component_bytes {
            return Err(Error::TooLarge(format!(
                "component is {} bytes; the limit is {} bytes",
                wasm.len(),
                self.config.max_component_bytes
            )));
        }

        let sha256 = hex::encode(Sha256::digest(&wasm));
        let size_bytes = wasm.len() as u64;
        let wasm = Arc::new(wasm);
        let (artifact, loaded) = self.compile(wasm.clone()).await?;

        let record = VersionRecord {
            version: 0,
            sha256,
            size_bytes,
            deployed_at_ms: now_ms(),
            limits,
            allowed_hosts,
            requires: opts.requires,
        };
        let requires: Arc<[Requirement]> = record.requires.clone().into();
        let spec = self.spec(&record)?;
        let _writes = self.writes.lock().await;
        let component = Arc::try_unwrap(wasm).unwrap_or_else(|shared| (*shared).clone());
        let new = Deploy {
            component,
            artifact,
            record,
        };
        let (function, version) = self.store.deploy(name, new, now_ms()).await?;
        self.deployed.write().expect("lock poisoned").insert(
            name.to_owned(),
            Arc::new(Deployed {
                version: version.version,
                loaded,
                spec,
                requires: requires.clone(),
            }),
        );
        tracing::info!(function = name, version = version.version, "deployed");
        let mut view = function_view(function, Some(vec![version]));
        // Deploying says which declared connections are still missing.
        view.requirements = Some(self.connections.requirements(name, &requires));
        Ok(view)
    }

    /// Runs the current version of `name` with `input` (JSON text).
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::BadRequest`] for input that is not
    /// JSON, [`Error::Call`] when the function fails.
    /// Runs the current version of the function `context` names, as `context.principal`;
    /// the invocation's id is `context.request_id`.
    pub async fn invoke(
        &self,
        context: InvocationContext,
        input: String,
    ) -> Result<Invocation, Error> {
        let name: &str = &context.function.clone();
        let deployed = self
            .deployed
            .read()
            .expect("lock poisoned")
            .get(name)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("function `{name}` not found")))?;
        if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&input) {
            return Err(bad("invalid_input", format!("input must be JSON: {e}")));
        }
        if !deployed.requires.is_empty()
            && let Some(missing) = self
                .connections
                .requirements(name, &deployed.requires)
                .into_iter()
                .find(|r| !r.satisfied)
        {
            return Err(Error::MissingConnection(missing_message(name, &missing)));
        }
        let id = context.request_id;
        let outcome = self
            .runtime
            .invoke(&deployed.loaded, &deployed.spec, Arc::new(context), input)
            .await;
        if !outcome.logs.is_empty() {
            self.keep_logs(name, id, deployed.version, outcome.logs);
        }
        match outcome.result {
            Ok(output) => Ok(Invocation {
                id,
                version: deployed.version,
                output,
                duration: outcome.duration,
            }),
            Err(e) => {
                tracing::info!(function = name, invocation = id, error = %e, "invocation failed");
                Err(Error::Call(e))
            }
        }
    }

    fn keep_logs(&self, name: &str, id: u64, version: u32, lines: Vec<LogLine>) {
        let mut logs = self.logs.lock().expect("lock poisoned");
        let ring = logs.entry(name.to_owned()).or_default();
        for l in lines {
            if ring.len() == self.config.log_lines_per_function {
                ring.pop_front();
            }
            ring.push_back(LogEntry {
                time: rfc3339(l.time_ms),
                invocation: id,
                version,
                level: l.level,
                message: l.message,
            });
        }
    }

    /// The newest `limit` log lines of `name`, oldest first.
    ///
    /// # Errors
    /// [`Error::NotFound`] when no such function exists.
    pub fn logs(&self, name: &str, limit: usize) -> Result<Vec<LogEntry>, Error> {
        if !self
            .deployed
            .read()
            .expect("lock poisoned")
            .contains_key(name)
        {
            return Err(Error::NotFound(format!("function `{name}` not found")));
        }
        let logs = self.logs.lock().expect("lock poisoned");
        Ok(logs
            .get(name)
            .map(|ring| {
                ring.iter()
                    .skip(ring.len().saturating_sub(limit))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    /// All functions, by name.
    ///
    /// # Errors
    /// Store failures.
    pub async fn list(&self) -> Result<Vec<FunctionView>, Error> {
        let list = self.store.functions().await?;
        Ok(list.into_iter().map(|f| function_view(f, None)).collect())
    }

    /// One function with its versions.
    ///
    /// # Errors
    /// [`Error::NotFound`].
    pub async fn show(&self, name: &str) -> Result<FunctionView, Error> {
        let (f, versions) = self.store.function(name).await?;
        let current = versions
            .iter()
            .find(|v| v.version == f.current_version)
            .map(|v| v.requires.clone())
            .unwrap_or_default();
        let mut view = function_view(f, Some(versions));
        view.requirements = Some(self.connections.requirements(name, &current));
        view.grants = Some(
            self.connections
                .grants_of(name)
                .into_iter()
                .map(|g| g.connection)
                .collect(),
        );
        Ok(view)
    }

    /// Makes an earlier (or later) version current.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown function or version.
    pub async fn rollback(&self, name: &str, version: u32) -> Result<FunctionView, Error> {
        let _writes = self.writes.lock().await;
        // Load first, so a version that cannot run never becomes current.
        let deployed = self.load_version(name, version).await?;
        self.store.set_current(name, version, now_ms()).await?;
        self.deployed
            .write()
            .expect("lock poisoned")
            .insert(name.to_owned(), deployed);
        tracing::info!(function = name, version, "current version changed");
        drop(_writes);
        self.show(name).await
    }

    /// Deletes a function, all its versions, its grants and its logs.
    ///
    /// # Errors
    /// [`Error::NotFound`].
    pub async fn delete(&self, name: &str) -> Result<(), Error> {
        let _writes = self.writes.lock().await;
        self.store.delete_function(name).await?;
        self.deployed.write().expect("lock poisoned").remove(name);
        self.logs.lock().expect("lock poisoned").remove(name);
        // The store dropped its grants; a function deployed again under this name
        // must not inherit them from the snapshot.
        self.connections.function_changed(name).await?;
        tracing::info!(function = name, "deleted");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use switchboard_connections::Connections;
    use switchboard_outbound::{Outbound, OutboundConfig};
    use switchboard_runtime::RuntimeConfig;
    use switchboard_runtime::precheck::build::{component, module};
    use switchboard_store::{MasterKey, RedbStore, Sealer};

    use super::*;

    /// An app over a fresh database, as the server builds it.
    async fn test_app(
        dir: &std::path::Path,
        runtime: RuntimeConfig,
        config: AppConfig,
    ) -> Arc<App> {
        let store = RedbStore::open(&dir.join("db.redb"))
            .unwrap()
            .repositories();
        let sealer = Sealer::new(&MasterKey::generate());
        let outbound = Outbound::new(OutboundConfig::default()).unwrap();
        let connections = Connections::new(store.clone(), sealer, outbound.token_client().clone())
            .await
            .unwrap();
        let runtime = Arc::new(
            Runtime::new(runtime, outbound)
                .unwrap()
                .with_connections(connections.broker()),
        );
        Arc::new(App::new(store, runtime, connections, config).await.unwrap())
    }

    #[tokio::test]
    async fn a_compile_that_times_out_keeps_its_permit_until_it_really_ends() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = RuntimeConfig {
            max_concurrency: 2,
            ..RuntimeConfig::default()
        };
        let config = AppConfig {
            compile_timeout: Duration::from_millis(1),
            ..AppConfig::default()
        };
        let app = test_app(dir.path(), runtime, config).await;
        // Thousands of functions: well within the limits, and far more than a
        // millisecond of Cranelift work.
        let wasm = component(&module(500, 4), 1);
        let e = app
            .deploy("slow", wasm, DeployOptions::default())
            .await
            .unwrap_err();
        assert!(
            matches!(
                &e,
                Error::BadRequest {
                    code: "compile_timeout",
                    ..
                }
            ),
            "{e}"
        );
        // The client has its answer; the compile still runs and still holds the
        // only compile permit, so no other compile can start beside it.
        assert_eq!(app.compiles.available_permits(), 0);
        let permit = tokio::time::timeout(Duration::from_secs(120), app.compiles.acquire())
            .await
            .expect("the permit comes back when the compile ends");
        drop(permit);
        assert_eq!(
            app.runtime()
                .stats()
                .compiles_started
                .load(Ordering::Relaxed),
            1
        );
    }

    #[tokio::test]
    async fn a_component_over_the_limits_is_refused_without_waiting_for_a_compile() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = RuntimeConfig {
            max_concurrency: 2,
            ..RuntimeConfig::default()
        };
        let app = test_app(dir.path(), runtime, AppConfig::default()).await;
        // Another compile holds the permit.
        let _busy = app.compiles.acquire().await.unwrap();
        let bomb = component(&module(60_000, 0), 1);
        let e = tokio::time::timeout(
            Duration::from_secs(30),
            app.deploy("bomb", bomb, DeployOptions::default()),
        )
        .await
        .expect("answered without the compile permit")
        .unwrap_err();
        assert!(
            matches!(
                &e,
                Error::BadRequest {
                    code: "component_over_limit",
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("60000 functions"), "{e}");
    }
}
