//! Starting and stopping a host: the data folder (database, master key, admin
//! token), the runtime, the API on a listener the caller provides, and a
//! shutdown future the caller controls (so tests bind port 0 and stop cleanly).

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use rand::RngCore;
use tokio::net::TcpListener;

use switchboard_api::AdminToken;
use switchboard_api::app::{App, AppConfig};
use switchboard_connections::Connections;
use switchboard_outbound::{Outbound, OutboundConfig};
use switchboard_runtime::{Runtime, RuntimeConfig};
use switchboard_store::{MasterKey, RedbStore, Sealer};

/// File names inside the data folder.
pub const DB_FILE: &str = "switchboard.redb";
/// The master key (64 hex characters); never stored in the database.
pub const MASTER_KEY_FILE: &str = "master.key";
/// A new master key while `switchboard admin rotate-key` runs; renamed over
/// [`MASTER_KEY_FILE`] once the database is re-sealed.
pub const NEW_MASTER_KEY_FILE: &str = "master.key.new";
/// The environment variable that gives the master key instead of the file.
pub const MASTER_KEY_ENV: &str = "SWITCHBOARD_MASTER_KEY";
/// The admin API token.
pub const TOKEN_FILE: &str = "admin-token";
/// The shortest admin token accepted from an existing file (a new one is 67 characters).
pub const MIN_TOKEN_CHARS: usize = 32;

/// Bounds on the HTTP connections the API accepts, so that clients who never
/// finish a request cannot lock everyone else out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Time a client has to send a request's headers, on a new connection and
    /// between keep-alive requests (so it also closes idle connections).
    pub header_read_timeout: std::time::Duration,
    /// Open connections in all; one more is closed as soon as it is accepted.
    pub max_connections: usize,
    /// Open connections from one IP address; below `max_connections`, so a
    /// flood from one address leaves room for everyone else (the admin included).
    pub max_connections_per_ip: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: std::time::Duration::from_secs(10),
            max_connections: 1024,
            max_connections_per_ip: 256,
        }
    }
}

impl ConnectionLimits {
    /// Checks the settings make sense together.
    ///
    /// # Errors
    /// A message naming the setting to change.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.header_read_timeout.is_zero() {
            bail!("--header-read-timeout must be more than 0");
        }
        if self.max_connections == 0 || self.max_connections_per_ip == 0 {
            bail!("--max-connections and --max-connections-per-ip must be at least 1");
        }
        if self.max_connections_per_ip > self.max_connections {
            bail!(
                "--max-connections-per-ip ({}) must not be more than --max-connections ({})",
                self.max_connections_per_ip,
                self.max_connections
            );
        }
        Ok(())
    }
}

/// Everything `switchboard serve` can be told.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Data folder; created if missing.
    pub data_dir: PathBuf,
    /// Runtime (wasmtime) settings.
    pub runtime: RuntimeConfig,
    /// Outbound HTTP settings.
    pub outbound: OutboundConfig,
    /// Function service settings.
    pub app: AppConfig,
    /// Bounds on the API's HTTP connections.
    pub connections: ConnectionLimits,
    /// How long an OAuth authorization may take, from connect to callback.
    pub oauth_flow_ttl: std::time::Duration,
    /// The clock OAuth 2 token refresh and sign-in expiry read (the system's; tests move
    /// a manual one).
    pub clock: Arc<dyn switchboard_connections::Clock>,
    /// The URL browsers reach the host at (`--public-url`), for the OAuth redirect URI
    /// `{public_url}/oauth/callback`; `None`: `http://` and the listening address.
    pub public_url: Option<String>,
    /// The master key as 64 hex characters (from `$SWITCHBOARD_MASTER_KEY`); `None`
    /// reads, or on first start creates, the key file in the data folder.
    pub master_key: Option<String>,
    /// Compiled components shared with other hosts in this process (test suites; see
    /// [`crate::runtime::CompileCache`]); `None`, the default, compiles every upload.
    pub compile_cache: Option<Arc<crate::runtime::CompileCache>>,
}

impl ServeConfig {
    /// Defaults with the given data folder.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            runtime: RuntimeConfig::default(),
            outbound: OutboundConfig::default(),
            app: AppConfig::default(),
            connections: ConnectionLimits::default(),
            master_key: None,
            public_url: None,
            oauth_flow_ttl: switchboard_connections::FLOW_TTL,
            clock: Arc::new(switchboard_connections::SystemClock),
            compile_cache: None,
        }
    }
}

/// Paths of the data folder's files, for the start-up message.
#[derive(Debug, Clone)]
pub struct DataPaths {
    /// The redb database.
    pub database: PathBuf,
    /// The master key file.
    pub master_key: PathBuf,
    /// The admin token file.
    pub admin_token: PathBuf,
}

/// A prepared host: data folder opened, functions loaded, not yet serving.
#[derive(Debug)]
pub struct Host {
    app: Arc<App>,
    connections: Arc<Connections>,
    token: AdminToken,
    paths: DataPaths,
    max_component_bytes: usize,
    limits: ConnectionLimits,
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

/// Creates `path` with mode 0600 and `contents`, or reads it if it exists.
fn ensure_secret_file(path: &Path, contents: impl FnOnce() -> String) -> anyhow::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(s) => return Ok(s.trim().to_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    }
    let value = contents();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    writeln!(f, "{value}")?;
    f.sync_all()?;
    Ok(value)
}

/// Reads (or on first start makes) the admin token, refusing a file that others on
/// the machine could have read and a token short enough to guess.
fn admin_token(path: &Path) -> anyhow::Result<String> {
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            bail!(
                "the admin token file {} can be read by other users (mode {mode:03o}), so the token \
                 may be known: delete the file to have a new token made at start (or, if no one \
                 else can have read it, `chmod 600` it)",
                path.display()
            );
        }
    }
    let token = ensure_secret_file(path, || format!("sb_{}", random_hex(32)))?;
    if token.is_empty() {
        bail!(
            "the admin token file {} is empty; delete it to have a new one made",
            path.display()
        );
    }
    let chars = token.chars().count();
    if chars < MIN_TOKEN_CHARS || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        bail!(
            "the admin token in {} is too weak ({chars} characters; at least {MIN_TOKEN_CHARS} \
             without spaces are needed): delete the file to have a strong one made at start",
            path.display()
        );
    }
    Ok(token)
}

/// Restricts the database file to its owner (redb creates it with the umask's mode).
fn restrict_file(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("restricting {} to its owner", path.display()))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

fn read_master_key(path: &Path) -> anyhow::Result<Option<MasterKey>> {
    match std::fs::read_to_string(path) {
        Ok(text) => MasterKey::from_hex(&text).map(Some).map_err(|e| {
            anyhow::anyhow!(
                "the master key in {} is not valid ({e}); restore the original file (secrets sealed under another key cannot be read)",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Writes a key file with mode 0600, replacing none: the caller removes a stale one.
fn write_key_file(path: &Path, key: &MasterKey) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    writeln!(f, "{}", key.to_hex().as_str())?;
    f.sync_all()?;
    Ok(())
}

/// Finishes or discards a rotation that stopped between re-sealing the database and
/// renaming the new key file over the old one.
fn recover_rotation(dir: &Path, store: &RedbStore) -> anyhow::Result<()> {
    let new_path = dir.join(NEW_MASTER_KEY_FILE);
    let Some(new_key) = read_master_key(&new_path)? else {
        return Ok(());
    };
    if store.sealed_key_id()?.as_deref() == Some(new_key.id().as_str()) {
        std::fs::rename(&new_path, dir.join(MASTER_KEY_FILE)).with_context(|| {
            format!("finishing an interrupted key rotation in {}", dir.display())
        })?;
        tracing::warn!(key_id = %new_key.id(), "finished an interrupted master-key rotation");
    } else {
        std::fs::remove_file(&new_path)?;
        tracing::warn!("discarded the key of a master-key rotation that did not complete");
    }
    Ok(())
}

/// The master key: from `given` (the environment), else the key file; on a first start
/// (no file and no sealed secret) a new key file. A missing or wrong key is an error that
/// names both key ids, never a silent new key over sealed secrets.
fn master_key(dir: &Path, given: Option<&str>, store: &RedbStore) -> anyhow::Result<MasterKey> {
    if let Some(hex) = given {
        return MasterKey::from_hex(hex)
            .map_err(|e| anyhow::anyhow!("{MASTER_KEY_ENV} is not a valid master key: {e}"));
    }
    recover_rotation(dir, store)?;
    let path = dir.join(MASTER_KEY_FILE);
    if let Some(key) = read_master_key(&path)? {
        return Ok(key);
    }
    if let Some(id) = store.sealed_key_id()? {
        bail!(
            "the master key file {} is missing, but the database holds secrets sealed under key {id}; \
             restore the file or set {MASTER_KEY_ENV}",
            path.display()
        );
    }
    let key = MasterKey::generate();
    write_key_file(&path, &key)?;
    Ok(key)
}

/// What `switchboard admin rotate-key` did.
#[derive(Debug, Clone)]
pub struct RotateReport {
    /// Id of the key the secrets were sealed under.
    pub old_key_id: String,
    /// Id of the new key, now in the key file.
    pub new_key_id: String,
    /// Secrets re-sealed.
    pub resealed: usize,
    /// The old key came from `$SWITCHBOARD_MASTER_KEY`, which must now be changed to
    /// the new key file's contents.
    pub from_env: bool,
}

/// Re-seals every secret in the data folder under a new master key, in one
/// transaction, then replaces the key file. The host must be stopped. A crash in the
/// middle is finished (or undone) at the next start.
///
/// # Errors
/// The database is in use or damaged, the current key is missing or wrong.
pub fn rotate_master_key(dir: &Path) -> anyhow::Result<RotateReport> {
    let db = dir.join(DB_FILE);
    if !db.exists() {
        bail!("no database at {}: nothing to rotate", db.display());
    }
    let store = RedbStore::open(&db).with_context(|| {
        format!(
            "opening {} (stop the host first: rotating needs the database to itself)",
            db.display()
        )
    })?;
    let env = std::env::var(MASTER_KEY_ENV).ok();
    let old = master_key(dir, env.as_deref(), &store)?;
    let old_sealer = Sealer::new(&old);
    store.bind_key(&old_sealer)?;
    let new = MasterKey::generate();
    let new_path = dir.join(NEW_MASTER_KEY_FILE);
    let _ = std::fs::remove_file(&new_path);
    write_key_file(&new_path, &new)?;
    let resealed = store.rotate_key(&old_sealer, &Sealer::new(&new))?;
    std::fs::rename(&new_path, dir.join(MASTER_KEY_FILE)).with_context(|| {
        format!(
            "moving the new key into {}",
            dir.join(MASTER_KEY_FILE).display()
        )
    })?;
    Ok(RotateReport {
        old_key_id: old.id(),
        new_key_id: new.id(),
        resealed,
        from_env: env.is_some(),
    })
}

impl Host {
    /// Opens the data folder (creating it, the master key and the admin token
    /// on first start), the database, the runtime, and loads every function.
    ///
    /// # Errors
    /// The folder or a key file cannot be created or read, the master key is
    /// malformed, the database is locked by another host or damaged.
    pub async fn open(config: ServeConfig) -> anyhow::Result<Self> {
        config.connections.validate()?;
        let dir = &config.data_dir;
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating data folder {}", dir.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("restricting {}", dir.display()))?;
        }
        let paths = DataPaths {
            database: dir.join(DB_FILE),
            master_key: dir.join(MASTER_KEY_FILE),
            admin_token: dir.join(TOKEN_FILE),
        };
        let token = admin_token(&paths.admin_token)?;

        let db_path = paths.database.clone();
        // The one place the host names its store: redb, behind the repository traits.
        let store = tokio::task::spawn_blocking(move || RedbStore::open(&db_path))
            .await?
            .with_context(|| format!("opening database {}", paths.database.display()))?;
        restrict_file(&paths.database)?;
        let (d, given, s) = (dir.clone(), config.master_key.clone(), store.clone());
        let sealer = tokio::task::spawn_blocking(move || -> anyhow::Result<Sealer> {
            let sealer = Sealer::new(&master_key(&d, given.as_deref(), &s)?);
            s.bind_key(&sealer)?;
            Ok(sealer)
        })
        .await??;
        let outbound = Outbound::new(config.outbound.clone())?;
        let store = store.repositories();
        let connections =
            Connections::new(store.clone(), sealer, outbound.token_client().clone()).await?;
        if let Some(url) = &config.public_url {
            connections.set_public_url(url);
        }
        connections.set_flow_ttl(config.oauth_flow_ttl);
        connections.set_clock(config.clock.clone());
        let runtime = Arc::new(
            Runtime::new(config.runtime.clone(), outbound)?
                .with_connections(connections.broker())
                .with_compile_cache(config.compile_cache.clone()),
        );
        let app = App::new(store, runtime, connections.clone(), config.app.clone()).await?;
        Ok(Self {
            connections,
            app: Arc::new(app),
            token: AdminToken::new(token),
            paths,
            max_component_bytes: config.app.max_component_bytes,
            limits: config.connections,
        })
    }

    /// The function service.
    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// The admin token.
    pub fn token(&self) -> &AdminToken {
        &self.token
    }

    /// Where the data folder's files are.
    pub fn paths(&self) -> &DataPaths {
        &self.paths
    }

    /// The router, for serving or for calling without a socket.
    pub fn router(&self) -> axum::Router {
        switchboard_api::router(
            self.app.clone(),
            self.token.clone(),
            self.max_component_bytes,
        )
    }

    /// Serves on `listener` until `shutdown` completes, then waits for open
    /// requests and releases the database.
    ///
    /// # Errors
    /// The listener fails.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        if self.connections.redirect_uri_hint().is_none()
            && let Ok(addr) = listener.local_addr()
        {
            self.connections.set_public_url(&format!("http://{addr}"));
        }
        let router = self.router();
        let served = serve_connections(listener, router, self.limits, shutdown).await;
        self.connections.close().await;
        served
    }
}

/// Open connections per peer address.
#[derive(Debug, Default)]
struct PerIp(std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>);

/// A connection's place in [`PerIp`], given back when the connection ends.
struct IpSlot(Arc<PerIp>, std::net::IpAddr);

/// The address a connection counts against: an IPv4 address as it is (an IPv4-mapped
/// IPv6 peer as its IPv4 address), an IPv6 address as its /64 prefix, since one
/// subscriber, host or container usually holds a whole /64 and could otherwise open
/// connections from as many addresses as it likes.
fn peer_key(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip.to_canonical() {
        std::net::IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !(u128::from(u64::MAX));
            std::net::IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

impl PerIp {
    fn take(self: &Arc<Self>, ip: std::net::IpAddr, cap: usize) -> Option<IpSlot> {
        let ip = peer_key(ip);
        let mut map = self.0.lock().expect("lock poisoned");
        let n = map.entry(ip).or_default();
        if *n >= cap {
            return None;
        }
        *n += 1;
        Some(IpSlot(self.clone(), ip))
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut map = self.0.0.lock().expect("lock poisoned");
        if let Some(n) = map.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.1);
            }
        }
    }
}

/// The accept loop: HTTP/1 with a header-read timeout, a cap on open connections
/// in all and per IP address (a connection over a cap is closed at once), and a
/// graceful shutdown that waits for open requests.
async fn serve_connections(
    listener: TcpListener,
    router: axum::Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};

    let all = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let per_ip = Arc::new(PerIp::default());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let mut refused_logged = false;
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let ip = peer.ip().to_canonical();
        let Some(ip_slot) = per_ip.take(ip, limits.max_connections_per_ip) else {
            if !refused_logged {
                tracing::warn!(peer = %ip, cap = limits.max_connections_per_ip, "connection cap per address reached; closing new connections from it");
                refused_logged = true;
            }
            continue;
        };
        let Ok(permit) = all.clone().try_acquire_owned() else {
            if !refused_logged {
                tracing::warn!(
                    cap = limits.max_connections,
                    "connection cap reached; closing new connections"
                );
                refused_logged = true;
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        let conn = http.serve_connection(TokioIo::new(stream), service);
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let _slots = (permit, ip_slot);
            tokio::pin!(conn);
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                }
                _ = async { stop.wait_for(|stop| *stop).await.map(|_| ()) } => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Every open connection holds a permit: having them all means all are done.
    let _ = all
        .acquire_many(u32::try_from(limits.max_connections).unwrap_or(u32::MAX))
        .await;
    Ok(())
}

/// A host serving in the background (tests, benchmarks).
#[derive(Debug)]
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The admin token.
    pub token: String,
    /// The function service, for reading counters.
    pub app: Arc<App>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving and waits until the database is released.
    ///
    /// # Errors
    /// The server task failed.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let app = self.app;
        (&mut self.task).await??;
        // `serve` closed the audit writer (which holds the database) before returning.
        // The last reference to the app (and so to the database) goes here.
        drop(app);
        Ok(())
    }
}

/// Opens a host and serves it on `listen` in a background task.
///
/// # Errors
/// As [`Host::open`], or the address cannot be bound.
pub async fn spawn(config: ServeConfig, listen: SocketAddr) -> anyhow::Result<Running> {
    let host = Host::open(config).await?;
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr()?;
    let token = host.token().secret().to_owned();
    let app = host.app().clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(host.serve(listener, async {
        let _ = rx.await;
    }));
    Ok(Running {
        addr,
        token,
        app,
        stop: Some(tx),
        task,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The per-address cap counts an IPv6 peer by its /64: one client holds a whole /64,
    /// so counting each address would let it open any number of connections.
    #[test]
    fn the_per_address_cap_counts_ipv6_peers_by_their_64_prefix() {
        let per_ip = Arc::new(PerIp::default());
        let a: std::net::IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: std::net::IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other: std::net::IpAddr = "2001:db8:1:3::1".parse().unwrap();
        let first = per_ip.take(a, 1).expect("a first connection is taken");
        assert!(per_ip.take(b, 1).is_none(), "the same /64 is one address");
        let elsewhere = per_ip
            .take(other, 1)
            .expect("another /64 has its own count");
        // IPv4, and IPv4 mapped into IPv6, count by the whole address.
        let v4: std::net::IpAddr = "192.0.2.7".parse().unwrap();
        let mapped: std::net::IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        let v4_slot = per_ip.take(v4, 1).expect("an IPv4 peer");
        assert!(per_ip.take(mapped, 1).is_none(), "mapped is the same peer");
        assert!(per_ip.take("192.0.2.8".parse().unwrap(), 1).is_some());
        drop((first, elsewhere, v4_slot));
        assert!(
            per_ip.take(b, 1).is_some(),
            "given back when the connection ends"
        );
        assert!(per_ip.0.lock().unwrap().is_empty());
    }

    #[test]
    fn secret_files_are_made_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        let a = ensure_secret_file(&p, || "first".into()).unwrap();
        let b = ensure_secret_file(&p, || "second".into()).unwrap();
        assert_eq!((a.as_str(), b.as_str()), ("first", "first"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }

    #[test]
    fn master_key_is_made_once_and_a_missing_or_bad_one_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(&dir.path().join(DB_FILE)).unwrap();
        let first = master_key(dir.path(), None, &store).unwrap();
        let again = master_key(dir.path(), None, &store).unwrap();
        assert_eq!(first.id(), again.id());
        let sealer = Sealer::new(&first);
        store.bind_key(&sealer).unwrap();

        // The key file goes missing: no new key over a bound database.
        let path = dir.path().join(MASTER_KEY_FILE);
        std::fs::remove_file(&path).unwrap();
        let e = master_key(dir.path(), None, &store)
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing") && e.contains(&first.id()), "{e}");

        // A malformed file names itself and does not echo its contents.
        std::fs::write(&path, "not-a-key-canary").unwrap();
        let e = master_key(dir.path(), None, &store)
            .unwrap_err()
            .to_string();
        assert!(e.contains("master.key") && !e.contains("canary"), "{e}");

        // Another key is refused by the database, naming both ids.
        let other = MasterKey::generate();
        let e = store
            .bind_key(&Sealer::new(&other))
            .unwrap_err()
            .to_string();
        assert!(e.contains(&first.id()) && e.contains(&other.id()), "{e}");

        // The environment wins over the file; a bad value is named.
        let hex = first.to_hex();
        let k = master_key(dir.path(), Some(hex.as_str()), &store).unwrap();
        assert_eq!(k.id(), first.id());
        let e = master_key(dir.path(), Some("zz"), &store)
            .unwrap_err()
            .to_string();
        assert!(e.contains(MASTER_KEY_ENV), "{e}");
    }

    #[tokio::test]
    async fn the_database_is_owner_only_and_an_existing_one_is_tightened() {
        let dir = tempfile::tempdir().unwrap();
        let host = Host::open(ServeConfig::new(dir.path())).await.unwrap();
        let db = host.paths().database.clone();
        host.connections.close().await;
        drop(host);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&db), 0o600);
            std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
            let host = Host::open(ServeConfig::new(dir.path())).await.unwrap();
            host.connections.close().await;
            drop(host);
            assert_eq!(mode(&db), 0o600);
        }
    }

    #[test]
    fn an_exposed_or_weak_admin_token_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(TOKEN_FILE);
        let made = admin_token(&path).unwrap();
        assert!(made.len() >= MIN_TOKEN_CHARS, "{made}");
        assert_eq!(admin_token(&path).unwrap(), made);

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let e = admin_token(&path).unwrap_err().to_string();
            assert!(e.contains("other users") && e.contains("644"), "{e}");
            assert!(e.contains("delete the file") && !e.contains(&made), "{e}");
        }

        std::fs::remove_file(&path).unwrap();
        ensure_secret_file(&path, || "canary".into()).unwrap();
        let e = admin_token(&path).unwrap_err().to_string();
        assert!(
            e.contains("too weak") && e.contains("delete the file"),
            "{e}"
        );
        assert!(!e.contains("canary"), "the token itself is not quoted: {e}");
    }

    #[test]
    fn admin_token_debug_is_redacted() {
        let t = AdminToken::new("sb_canary_secret");
        assert_eq!(format!("{t:?}"), "AdminToken([redacted])");
    }
}
