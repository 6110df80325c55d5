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

use crate::api::{self, AdminToken};
use crate::app::{App, AppConfig};
use crate::outbound::{Outbound, OutboundConfig};
use crate::runtime::{Runtime, RuntimeConfig};
use crate::store::Store;

/// File names inside the data folder.
pub const DB_FILE: &str = "switchboard.redb";
/// The master key (64 hex characters); never stored in the database.
pub const MASTER_KEY_FILE: &str = "master.key";
/// The admin API token.
pub const TOKEN_FILE: &str = "admin-token";

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
}

impl ServeConfig {
    /// Defaults with the given data folder.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            runtime: RuntimeConfig::default(),
            outbound: OutboundConfig::default(),
            app: AppConfig::default(),
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
    token: AdminToken,
    paths: DataPaths,
    max_component_bytes: usize,
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

fn check_master_key(key: &str, path: &Path) -> anyhow::Result<()> {
    if key.len() != 64 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!(
            "the master key in {} is not 64 hex characters; restore the original file (secrets sealed under another key cannot be read)",
            path.display()
        );
    }
    Ok(())
}

impl Host {
    /// Opens the data folder (creating it, the master key and the admin token
    /// on first start), the database, the runtime, and loads every function.
    ///
    /// # Errors
    /// The folder or a key file cannot be created or read, the master key is
    /// malformed, the database is locked by another host or damaged.
    pub async fn open(config: ServeConfig) -> anyhow::Result<Self> {
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
        let key = ensure_secret_file(&paths.master_key, || random_hex(32))?;
        check_master_key(&key, &paths.master_key)?;
        let token = ensure_secret_file(&paths.admin_token, || format!("sb_{}", random_hex(32)))?;
        if token.is_empty() {
            bail!(
                "the admin token file {} is empty; delete it to have a new one made",
                paths.admin_token.display()
            );
        }

        let db_path = paths.database.clone();
        let store = tokio::task::spawn_blocking(move || Store::open(&db_path))
            .await?
            .with_context(|| format!("opening database {}", paths.database.display()))?;
        let outbound = Outbound::new(config.outbound.clone())?;
        let runtime = Arc::new(Runtime::new(config.runtime.clone(), outbound)?);
        let app = App::new(Arc::new(store), runtime, config.app.clone()).await?;
        Ok(Self {
            app: Arc::new(app),
            token: AdminToken::new(token),
            paths,
            max_component_bytes: config.app.max_component_bytes,
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
        api::router(
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
        let router = self.router();
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await
            .context("serving the API")?;
        Ok(())
    }
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
    fn malformed_master_key_is_a_clear_error() {
        let p = Path::new("/data/master.key");
        assert!(check_master_key(&"a".repeat(64), p).is_ok());
        let e = check_master_key("short", p).unwrap_err().to_string();
        assert!(
            e.contains("64 hex characters") && e.contains("/data/master.key"),
            "{e}"
        );
        assert!(check_master_key(&"z".repeat(64), p).is_err());
    }

    #[test]
    fn admin_token_debug_is_redacted() {
        let t = AdminToken::new("sb_canary_secret");
        assert_eq!(format!("{t:?}"), "AdminToken([redacted])");
    }
}
