//! The `switchboard` command: `serve` runs a host; every other command is a
//! client of a running host's HTTP API.

mod admin;
mod client;
mod connection;
mod files;
mod output;
mod service;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::server::{Host, ServeConfig};
use admin::AdminCommand;
use connection::ConnectionCommand;
use output::OutputArgs;
use service::ServiceCommand;

/// Switchboard: run untrusted WebAssembly functions that call third-party APIs.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the host: API, console and runtime, with an embedded database.
    Serve(ServeArgs),
    /// Deploy, invoke and manage functions on a running host.
    #[command(subcommand)]
    Function(FunctionCommand),
    /// Define the services (API connectors) connections are made for.
    #[command(subcommand)]
    Service(ServiceCommand),
    /// Create, connect and inspect connections: one account of a service each.
    #[command(subcommand)]
    Connection(ConnectionCommand),
    /// Offline maintenance of a stopped host's data folder.
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "SWITCHBOARD_LISTEN", default_value = "127.0.0.1:7700")]
    listen: SocketAddr,
    /// Data folder: database, master key, admin token.
    #[arg(long, env = "SWITCHBOARD_DATA", default_value = "switchboard-data")]
    data: PathBuf,
    /// Let functions reach loopback, private and link-local addresses (local development, tests).
    #[arg(long, env = "SWITCHBOARD_ALLOW_PRIVATE_NETWORKS")]
    allow_private_networks: bool,
    /// Calls that may run at once; more wait for a slot (fairly across functions).
    #[arg(long, env = "SWITCHBOARD_MAX_CONCURRENCY", default_value_t = 128)]
    max_concurrency: u32,
    /// Calls of one function that may run at once unless deployed with its own
    /// max_concurrency; 0: half of --max-concurrency.
    #[arg(
        long,
        env = "SWITCHBOARD_MAX_CONCURRENCY_PER_FUNCTION",
        default_value_t = 0
    )]
    max_concurrency_per_function: u32,
    /// Largest memory limit a function may be deployed with, in MiB.
    #[arg(long, env = "SWITCHBOARD_MAX_MEMORY_MIB", default_value_t = 512)]
    max_memory_mib: u32,
    /// Memory budget of all running calls together (the sum of their memory_mib),
    /// in MiB; a call that does not fit waits up to its deadline.
    #[arg(long, env = "SWITCHBOARD_MEMORY_BUDGET_MIB", default_value_t = 4096)]
    memory_budget_mib: u32,
    /// Time a client has to send a request's headers (on a new connection and
    /// between keep-alive requests), e.g. `10s`.
    #[arg(long, env = "SWITCHBOARD_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    header_read_timeout: std::time::Duration,
    /// Open HTTP connections in all; more are closed at once.
    #[arg(long, env = "SWITCHBOARD_MAX_CONNECTIONS", default_value_t = 1024)]
    max_connections: usize,
    /// Open HTTP connections from one IP address (keep it below --max-connections).
    #[arg(
        long,
        env = "SWITCHBOARD_MAX_CONNECTIONS_PER_IP",
        default_value_t = 256
    )]
    max_connections_per_ip: usize,
    /// Largest result a call may return, in bytes.
    #[arg(long, env = "SWITCHBOARD_MAX_OUTPUT_BYTES", default_value_t = 4 * 1024 * 1024)]
    max_output_bytes: usize,
    /// The URL browsers reach this host at (behind a proxy, or not on localhost); OAuth
    /// providers send users back to {public-url}/oauth/callback. Default: http:// and the
    /// listening address.
    #[arg(long, env = "SWITCHBOARD_PUBLIC_URL", value_parser = parse_public_url)]
    public_url: Option<String>,
}

fn parse_public_url(s: &str) -> Result<String, String> {
    let url = url::Url::parse(s)
        .map_err(|e| format!("`{s}` is not a URL like https://switchboard.example.com: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!("`{s}` must be an http(s) URL with a host"));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(format!(
            "`{s}` must not have a query, fragment or user info"
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// Where the host is and how to authenticate.
#[derive(Debug, Args)]
struct ClientArgs {
    /// URL of the running host.
    #[arg(
        long,
        global = true,
        env = "SWITCHBOARD_URL",
        default_value = "http://127.0.0.1:7700"
    )]
    url: String,
    /// Admin API token (default: the admin-token file in --data).
    #[arg(long, global = true, env = "SWITCHBOARD_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The host's data folder, to read the admin token from.
    #[arg(
        long,
        global = true,
        env = "SWITCHBOARD_DATA",
        default_value = "switchboard-data"
    )]
    data: PathBuf,
}

#[derive(Debug, Subcommand)]
enum FunctionCommand {
    /// Upload a component as the next version of NAME and make it current.
    Deploy {
        /// Function name: a lower-case letter, then lower-case letters, digits, `_` or `-`.
        name: String,
        /// The component (.wasm built for wasm32-wasip2).
        path: PathBuf,
        /// Memory limit of a call (all its linear memories together), MiB (default 64).
        #[arg(long)]
        memory_mib: Option<u32>,
        /// Deadline per call, ms (default 10000).
        #[arg(long)]
        timeout_ms: Option<u32>,
        /// Outbound requests per call (default 32).
        #[arg(long)]
        max_requests: Option<u32>,
        /// Calls of this function that may run at once (default 0: the host's
        /// --max-concurrency-per-function).
        #[arg(long)]
        max_concurrency: Option<u32>,
        /// An origin connection-less requests may reach, e.g. https://api.example.com (repeatable).
        #[arg(long = "allow-host")]
        allow_hosts: Vec<String>,
        /// The function's manifest (TOML or JSON): the connections it needs, as
        /// `[[connections]] service = "github"  scopes = ["repo"]  why = "..."`.
        #[arg(long)]
        manifest: Option<PathBuf>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Run NAME with a JSON input and print its JSON output.
    Invoke {
        /// Function name.
        name: String,
        /// JSON input (default `{}`).
        #[arg(long, conflicts_with = "input_file")]
        input: Option<String>,
        /// Read the JSON input from a file (`-` for standard input).
        #[arg(long)]
        input_file: Option<PathBuf>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List functions.
    List {
        #[command(flatten)]
        client: ClientArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Show a function and its versions.
    Show {
        /// Function name.
        name: String,
        #[command(flatten)]
        client: ClientArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Delete a function and all its versions.
    Delete {
        /// Function name.
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show a function's recent log lines.
    Logs {
        /// Function name.
        name: String,
        /// Lines to show (at most 1000).
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[command(flatten)]
        client: ClientArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Make an earlier version current again.
    Rollback {
        /// Function name.
        name: String,
        /// Version to make current.
        version: u32,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Let function NAME use a connection (its `invoke_url` calls may name it).
    Grant {
        /// Function name.
        name: String,
        /// Link name of the connection.
        #[arg(long)]
        connection: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List the connections function NAME may use.
    Grants {
        /// Function name.
        name: String,
        #[command(flatten)]
        client: ClientArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Take a connection grant away from function NAME.
    RevokeGrant {
        /// Function name.
        name: String,
        /// Link name of the connection.
        #[arg(long)]
        connection: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(args).await,
            Command::Function(cmd) => client::run(cmd).await,
            Command::Service(cmd) => service::run(cmd).await,
            Command::Connection(cmd) => connection::run(cmd).await,
            Command::Admin(cmd) => admin::run(cmd).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of standard output has gone (`... | head`): nothing more to say.
        Err(e) if output::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            match e.downcast_ref::<switchboard_client::Error>() {
                Some(api) => eprintln!("error: {}", client::explain(api)),
                None => eprintln!("error: {e:#}"),
            }
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,cranelift=warn,wasmtime=warn".into()),
        )
        .init();
    let mut config = ServeConfig::new(&args.data);
    config.outbound.allow_private_networks = args.allow_private_networks;
    config.runtime.max_concurrency = args.max_concurrency;
    config.runtime.max_concurrency_per_function = args.max_concurrency_per_function;
    config.runtime.max_memory_mib = args.max_memory_mib;
    config.runtime.memory_budget_mib = args.memory_budget_mib;
    config.runtime.max_output_bytes = args.max_output_bytes;
    config.connections = crate::server::ConnectionLimits {
        header_read_timeout: args.header_read_timeout,
        max_connections: args.max_connections,
        max_connections_per_ip: args.max_connections_per_ip,
    };
    config.master_key = std::env::var(crate::server::MASTER_KEY_ENV).ok();
    config.public_url = args.public_url.clone();
    let key_from_env = config.master_key.is_some();
    let host = Host::open(config).await?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let paths = host.paths().clone();
    // The banner is for whoever started the server; if they are gone (stdout a closed
    // pipe, `switchboard serve | head -1`), the server keeps serving: `println!` would
    // panic here.
    let master_key = if key_from_env {
        format!("from ${}", crate::server::MASTER_KEY_ENV)
    } else {
        paths.master_key.display().to_string()
    };
    let banner = format!(
        "switchboard {version} listening on http://{addr}\n  \
         console:     http://{addr}/\n  \
         API:         http://{addr}/api/v1\n  \
         database:    {database}\n  \
         master key:  {master_key}\n  \
         admin token: {token} (the CLI reads it from there)\n  \
         OAuth redirect URI: {public}/oauth/callback (register it at OAuth providers; --public-url changes it)\n",
        version = env!("CARGO_PKG_VERSION"),
        database = paths.database.display(),
        token = paths.admin_token.display(),
        public = args
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}")),
    );
    {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(banner.as_bytes()).and_then(|()| out.flush());
    }
    if args.allow_private_networks {
        tracing::warn!(
            "functions may reach private, loopback and link-local addresses (--allow-private-networks)"
        );
    }
    host.serve(listener, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn public_urls_are_checked() {
        assert_eq!(
            parse_public_url("https://sb.example.com/").unwrap(),
            "https://sb.example.com"
        );
        assert_eq!(
            parse_public_url("https://example.com/switchboard/").unwrap(),
            "https://example.com/switchboard"
        );
        for bad in ["sb.example.com", "ftp://x", "https://x/?a=1", "https://u@x"] {
            assert!(parse_public_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn deploy_parses_repeated_allow_host() {
        let cli = Cli::try_parse_from([
            "switchboard",
            "function",
            "deploy",
            "fetch",
            "fetch.wasm",
            "--allow-host",
            "https://a.example",
            "--allow-host",
            "https://b.example",
            "--timeout-ms",
            "500",
        ])
        .unwrap();
        let Command::Function(FunctionCommand::Deploy {
            allow_hosts,
            timeout_ms,
            ..
        }) = cli.command
        else {
            panic!("parsed as another command");
        };
        assert_eq!(allow_hosts.len(), 2);
        assert_eq!(timeout_ms, Some(500));
    }
}
