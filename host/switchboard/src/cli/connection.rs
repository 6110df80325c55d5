//! `switchboard connection ...`: connections (one account of a service each) on a running
//! host. Credentials given to `connect` are never printed, not even in error messages.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use std::collections::BTreeMap;

use anyhow::{anyhow, bail};
use clap::Subcommand;
use serde_json::{Map, Value, json};
use switchboard_client::{Connection, ConnectionEdit, NewConnection};
use zeroize::Zeroizing;

use super::ClientArgs;
use super::client::connect;
use super::files::read_document;
use super::output::{
    OutputArgs, align_right, list_or_dash, or_dash, outln, print_json, print_table, table,
};

#[derive(Debug, Subcommand)]
pub(super) enum ConnectionCommand {
    /// Create a connection of a service (status `not_connected` until `connect`).
    Create {
        /// Link name of the new connection (functions pass it to `invoke_url`): a
        /// lower-case letter, then lower-case letters, digits and `_`.
        link: String,
        /// Link name of the service.
        #[arg(long)]
        service: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// A value of one of the service's dynamic parameters, KEY=VALUE (repeatable).
        #[arg(long = "param", value_name = "KEY=VALUE", value_parser = parse_key_value)]
        params: Vec<(String, String)>,
        /// Grant the new connection to this function (repeatable): a function that
        /// declared it needs a connection of the service.
        #[arg(long = "for-function", value_name = "FUNCTION")]
        for_functions: Vec<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List connections.
    List {
        #[command(flatten)]
        client: ClientArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Show a connection: status, parameters, grants and the SDK snippet to use it
    /// (never a secret).
    Show {
        /// Link name of the connection.
        link: String,
        #[command(flatten)]
        client: ClientArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Change a connection's display name or dynamic-parameter values.
    ///
    /// Values not given keep their current value. Changing a value changes where the
    /// credentials go, so it revokes the connection: connect it again.
    Edit {
        /// Link name of the connection.
        link: String,
        /// New display name.
        #[arg(long)]
        name: Option<String>,
        /// A new value of a dynamic parameter, KEY=VALUE (repeatable).
        #[arg(long = "param", value_name = "KEY=VALUE", value_parser = parse_key_value)]
        params: Vec<(String, String)>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Give a connection its credentials (sealed by the host) and make it `connected`.
    ///
    /// API-key services take one --value per parameter of the service; basic services take
    /// --username and a password; aws_sigv4 services take --access-key-id and the secret
    /// access key (and a session token) on standard input. Values given on the command line
    /// are visible to other local users (process list, shell history): prefer
    /// `--value NAME=-`, `--password-stdin` or `--values-file`, which read them from
    /// standard input or a file.
    #[command(after_help = "Examples:
  read -rs KEY && printf '%s\\n' \"$KEY\" | switchboard connection connect acme_prod --value api_key=-
  switchboard connection connect intranet --username ada --password-stdin < password.txt
  switchboard connection connect s3_logs --access-key-id AKIA... --secret-access-key-stdin < secret.txt
  switchboard connection connect acme_prod --values-file acme-secrets.toml   # values = { api_key = \"...\" }")]
    Connect {
        /// Link name of the connection.
        link: String,
        /// API-key services: a credential value, NAME=VALUE, NAME being the service's
        /// parameter name (repeatable). `NAME=-` reads the value from standard input, one
        /// line (several `-` read one line each, in order). A VALUE written here is visible
        /// to other local users; stdin is safer.
        #[arg(long = "value", value_name = "NAME=VALUE")]
        values: Vec<String>,
        /// Basic services: the username.
        #[arg(long)]
        username: Option<String>,
        /// Basic services: the password. Visible to other local users; --password-stdin is
        /// safer.
        #[arg(long, conflicts_with = "password_stdin")]
        password: Option<String>,
        /// Basic services: read the password from standard input (one line).
        #[arg(long)]
        password_stdin: bool,
        /// AWS SigV4 services: the access key id (not a secret).
        #[arg(long, value_name = "ID")]
        access_key_id: Option<String>,
        /// AWS SigV4 services: read the secret access key from standard input (one line).
        #[arg(long)]
        secret_access_key_stdin: bool,
        /// AWS SigV4 services: read a session token (temporary credentials) from standard
        /// input, the line after the secret access key.
        #[arg(long, requires = "secret_access_key_stdin")]
        session_token_stdin: bool,
        /// Read the credentials from a JSON or TOML file: `{"values": {NAME: VALUE, ...}}`
        /// for API-key services, `{"username": ..., "password": ...}` for basic ones,
        /// `{"access_key_id": ..., "secret_access_key": ..., "session_token": ...}` (token
        /// optional) for aws_sigv4 ones.
        #[arg(
            long,
            value_name = "FILE",
            conflicts_with_all = [
                "values", "username", "password", "password_stdin", "access_key_id",
                "secret_access_key_stdin", "session_token_stdin"
            ]
        )]
        values_file: Option<PathBuf>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Erase a connection's credentials (status `revoked`); it and its grants are kept.
    Revoke {
        /// Link name of the connection.
        link: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Delete a connection with its credentials, grants and activity.
    Delete {
        /// Link name of the connection.
        link: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show the functions' recent uses of a connection, newest last.
    Activity {
        /// Link name of the connection.
        link: String,
        /// Entries to show (at most 1000).
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[command(flatten)]
        client: ClientArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
}

/// Parses a (non-secret) `KEY=VALUE`.
fn parse_key_value(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| "expected KEY=VALUE, e.g. domain=zylker".to_owned())?;
    let k = k.trim();
    if k.is_empty() {
        return Err("the KEY before `=` is empty; expected KEY=VALUE".to_owned());
    }
    Ok((k.to_owned(), v.to_owned()))
}

/// `KEY=VALUE` pairs as a map; a key given twice is an error.
fn key_value_map(
    pairs: Vec<(String, String)>,
    flag: &str,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut map = BTreeMap::new();
    for (k, v) in pairs {
        if map.insert(k.clone(), v).is_some() {
            bail!("{flag} {k}=... is given twice");
        }
    }
    Ok(map)
}

/// Where one credential value comes from.
#[derive(Debug, PartialEq, Eq)]
enum Source {
    /// Written on the command line.
    Given(Zeroizing<String>),
    /// One line of standard input.
    Stdin,
}

/// Parses the `--value NAME=VALUE` flags. Errors never quote the flag (it may be a
/// secret typed without its `NAME=`).
fn parse_values(raw: Vec<String>) -> anyhow::Result<Vec<(String, Source)>> {
    let mut out: Vec<(String, Source)> = Vec::new();
    for (i, item) in raw.into_iter().enumerate() {
        let item = Zeroizing::new(item);
        let Some((name, value)) = item.split_once('=') else {
            bail!(
                "--value number {} has no `=`: expected NAME=VALUE or NAME=- (the value is not shown)",
                i + 1
            );
        };
        let name = name.trim();
        if name.is_empty() {
            bail!(
                "--value number {} has an empty NAME: expected NAME=VALUE or NAME=- (the value is not shown)",
                i + 1
            );
        }
        if out.iter().any(|(n, _)| n == name) {
            bail!("--value {name}=... is given twice");
        }
        let source = if value == "-" {
            Source::Stdin
        } else {
            Source::Given(Zeroizing::new(value.to_owned()))
        };
        out.push((name.to_owned(), source));
    }
    Ok(out)
}

/// Turns terminal echo off while a secret is typed (best effort; Unix `stty`).
struct NoEcho(bool);

impl NoEcho {
    fn new() -> Self {
        let off = cfg!(unix)
            && std::process::Command::new("stty")
                .arg("-echo")
                .stdin(std::process::Stdio::inherit())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
        Self(off)
    }
}

impl Drop for NoEcho {
    fn drop(&mut self) {
        if self.0 {
            let _ = std::process::Command::new("stty")
                .arg("echo")
                .stdin(std::process::Stdio::inherit())
                .status();
            eprintln!();
        }
    }
}

/// Reads one line from `input` for `what`, without its line ending. Prompts on the
/// terminal (with echo off) when standard input is one.
pub(super) fn read_secret_line(
    input: &mut impl BufRead,
    what: &str,
) -> anyhow::Result<Zeroizing<String>> {
    let _no_echo = if std::io::stdin().is_terminal() {
        eprint!("{what}: ");
        let _ = std::io::stderr().flush();
        Some(NoEcho::new())
    } else {
        None
    };
    let mut line = Zeroizing::new(String::new());
    input
        .read_line(&mut line)
        .map_err(|e| anyhow!("cannot read {what} from standard input: {e}"))?;
    let trimmed = line.trim_end_matches(['\n', '\r']);
    if trimmed.is_empty() {
        bail!("no {what} on standard input (expected one line)");
    }
    Ok(Zeroizing::new(trimmed.to_owned()))
}

/// The connect flags, before anything is read from standard input.
#[derive(Debug, Default)]
struct ConnectFlags {
    values: Vec<(String, Source)>,
    username: Option<String>,
    password: Option<Source>,
    access_key_id: Option<String>,
    secret_access_key_stdin: bool,
    session_token_stdin: bool,
}

/// The body of `POST /connections/{link}/connect`, and the secrets in it (to keep them
/// out of error messages).
struct ConnectBody {
    body: Value,
    secrets: Vec<Zeroizing<String>>,
}

impl ConnectBody {
    /// `message` with every secret replaced.
    fn redact(&self, message: &str) -> String {
        let mut out = message.to_owned();
        for s in &self.secrets {
            // A very short secret would blank out ordinary words; the host does not
            // quote values anyway, this is a second line of defence.
            if s.chars().count() >= 3 {
                out = out.replace(s.as_str(), "[redacted]");
            }
        }
        out
    }
}

impl Drop for ConnectBody {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        fn wipe(v: &mut Value) {
            match v {
                Value::String(s) => s.zeroize(),
                Value::Object(m) => m.values_mut().for_each(wipe),
                Value::Array(a) => a.iter_mut().for_each(wipe),
                _ => {}
            }
        }
        wipe(&mut self.body);
    }
}

/// Builds the connect body for a service of `auth_type` from the flags, reading `-`
/// values from `stdin`.
fn connect_body(
    auth_type: &str,
    link: &str,
    flags: ConnectFlags,
    stdin: &mut impl BufRead,
) -> anyhow::Result<ConnectBody> {
    let mut secrets = Vec::new();
    let aws_flags = flags.access_key_id.is_some() || flags.secret_access_key_stdin;
    if aws_flags && auth_type != "aws_sigv4" {
        bail!(
            "{link} is a connection of a `{auth_type}` service: --access-key-id and --secret-access-key-stdin are for aws_sigv4 services"
        );
    }
    match auth_type {
        "aws_sigv4" => {
            if !flags.values.is_empty() || flags.username.is_some() || flags.password.is_some() {
                bail!(
                    "{link} is an aws_sigv4 connection: give --access-key-id ID --secret-access-key-stdin [--session-token-stdin], not --value/--username/--password"
                );
            }
            let (Some(access_key_id), true) = (flags.access_key_id, flags.secret_access_key_stdin)
            else {
                bail!(
                    "{link} is an aws_sigv4 connection: give --access-key-id ID and --secret-access-key-stdin (the secret on standard input), or --values-file FILE"
                );
            };
            let secret = read_secret_line(stdin, "secret access key")?;
            let token = if flags.session_token_stdin {
                Some(read_secret_line(stdin, "session token")?)
            } else {
                None
            };
            let mut body =
                json!({ "access_key_id": access_key_id, "secret_access_key": secret.as_str() });
            if let Some(t) = &token {
                body["session_token"] = Value::String(t.to_string());
            }
            secrets.push(secret);
            secrets.extend(token);
            Ok(ConnectBody { body, secrets })
        }
        "api_key" => {
            if flags.username.is_some() || flags.password.is_some() {
                bail!(
                    "{link} is an api_key connection: give its values with --value NAME=VALUE (or NAME=-), not --username/--password"
                );
            }
            if flags.values.is_empty() {
                bail!(
                    "give the credentials of {link}: --value NAME=- per parameter of the service (reads standard input), or --values-file FILE"
                );
            }
            let mut values = Map::new();
            for (name, source) in flags.values {
                let value = match source {
                    Source::Given(v) => v,
                    Source::Stdin => read_secret_line(stdin, &format!("value of {name}"))?,
                };
                values.insert(name, Value::String(value.to_string()));
                secrets.push(value);
            }
            Ok(ConnectBody {
                body: json!({ "values": values }),
                secrets,
            })
        }
        "basic" => {
            if !flags.values.is_empty() {
                bail!(
                    "{link} is a basic connection: give --username and --password-stdin (or --password), not --value"
                );
            }
            let Some(username) = flags.username else {
                bail!("{link} is a basic connection: give --username");
            };
            let password = match flags.password {
                Some(Source::Given(p)) => p,
                Some(Source::Stdin) => read_secret_line(stdin, "password")?,
                None => bail!(
                    "{link} is a basic connection: give the password with --password-stdin (or --password)"
                ),
            };
            let body = json!({ "username": username, "password": password.as_str() });
            secrets.push(password);
            Ok(ConnectBody { body, secrets })
        }
        kind @ ("oauth1" | "oauth2") => {
            if !flags.values.is_empty() || flags.username.is_some() || flags.password.is_some() {
                bail!(
                    "{link} is an {kind} connection: connect takes no values; the provider issues the tokens"
                );
            }
            Ok(ConnectBody {
                body: json!({}),
                secrets,
            })
        }
        other => bail!(
            "{link} is a connection of a `{other}` service, which this command cannot connect"
        ),
    }
}

/// Checks a `--values-file` document against the service's auth type; the document is
/// the body as is. Errors name fields, never values.
fn connect_body_from_file(
    auth_type: &str,
    file: &std::path::Path,
    doc: Value,
) -> anyhow::Result<ConnectBody> {
    let shown = file.display();
    let mut secrets = Vec::new();
    let Value::Object(map) = &doc else {
        bail!("{shown} must hold a table");
    };
    match auth_type {
        "api_key" => {
            let Some(Value::Object(values)) = map.get("values") else {
                bail!(
                    "{shown}: an api_key connection needs a `values` table of NAME = VALUE (e.g. values = {{ api_key = \"...\" }})"
                );
            };
            if let Some(k) = map.keys().find(|k| *k != "values") {
                bail!("{shown}: unexpected `{k}` (an api_key connection takes only `values`)");
            }
            for (name, v) in values {
                let Value::String(s) = v else {
                    bail!("{shown}: the value of `{name}` must be text");
                };
                secrets.push(Zeroizing::new(s.clone()));
            }
        }
        "basic" => {
            for field in ["username", "password"] {
                match map.get(field) {
                    Some(Value::String(s)) => {
                        if field == "password" {
                            secrets.push(Zeroizing::new(s.clone()));
                        }
                    }
                    Some(_) => bail!("{shown}: `{field}` must be text"),
                    None => bail!(
                        "{shown}: a basic connection needs `username` and `password` (missing `{field}`)"
                    ),
                }
            }
            if let Some(k) = map.keys().find(|k| *k != "username" && *k != "password") {
                bail!(
                    "{shown}: unexpected `{k}` (a basic connection takes `username` and `password`)"
                );
            }
        }
        "aws_sigv4" => {
            const FIELDS: [&str; 3] = ["access_key_id", "secret_access_key", "session_token"];
            for field in FIELDS {
                match map.get(field) {
                    Some(Value::String(s)) => {
                        if field != "access_key_id" {
                            secrets.push(Zeroizing::new(s.clone()));
                        }
                    }
                    Some(_) => bail!("{shown}: `{field}` must be text"),
                    None if field == "session_token" => {}
                    None => bail!(
                        "{shown}: an aws_sigv4 connection needs `access_key_id` and `secret_access_key` (missing `{field}`)"
                    ),
                }
            }
            if let Some(k) = map.keys().find(|k| !FIELDS.contains(&k.as_str())) {
                bail!(
                    "{shown}: unexpected `{k}` (an aws_sigv4 connection takes `access_key_id`, `secret_access_key` and optionally `session_token`)"
                );
            }
        }
        other => bail!("a connection of a `{other}` service cannot be connected with this command"),
    }
    Ok(ConnectBody { body: doc, secrets })
}

/// The auth type the given credentials are for, when the service is unknown.
fn guess_auth(api_key: bool) -> &'static str {
    if api_key { "api_key" } else { "basic" }
}

fn print_connection(s: &Connection) -> anyhow::Result<()> {
    let service = &s.service;
    let reason = match s.status_reason.as_deref() {
        Some(r) if !r.is_empty() => format!(" ({r})"),
        _ => String::new(),
    };
    let params: Vec<String> = s.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    outln!("link name:    {}", or_dash(Some(&s.link_name)));
    outln!("display name: {}", or_dash(Some(&s.display_name)));
    outln!(
        "service:      {} ({}, {})",
        or_dash(Some(&service.link_name)),
        or_dash(Some(&service.display_name)),
        or_dash(Some(&service.auth_type))
    );
    outln!("status:       {}{reason}", or_dash(Some(&s.status)));
    outln!("params:       {}", list_or_dash(&params));
    outln!("api origins:  {}", list_or_dash(&s.api_origins));
    outln!(
        "credentials:  {} (names of the values set)",
        list_or_dash(&s.credentials)
    );
    outln!("granted to:   {}", list_or_dash(&s.granted_to));
    outln!("created by:   {}", or_dash(Some(&s.created_by)));
    outln!("created:      {}", or_dash(Some(&s.created_at)));
    outln!("updated:      {}", or_dash(Some(&s.updated_at)));
    outln!("connected:    {}", or_dash(s.connected_at.as_deref()));
    outln!("revoked:      {}", or_dash(s.revoked_at.as_deref()));
    if !s.history.is_empty() {
        outln!();
        outln!("history:");
        for h in &s.history {
            outln!(
                "  {}  {:<15} {}",
                or_dash(Some(&h.time)),
                h.event,
                h.reason.as_deref().unwrap_or_default()
            );
        }
    }
    outln!();
    outln!(
        "use it from a function (grant it first: switchboard function grant NAME --connection {}):",
        or_dash(Some(&s.link_name))
    );
    outln!();
    for line in s.snippet.lines() {
        outln!("    {line}");
    }
    Ok(())
}

pub(super) async fn run(cmd: ConnectionCommand) -> anyhow::Result<()> {
    match cmd {
        ConnectionCommand::Create {
            link,
            service,
            name,
            params,
            for_functions,
            client,
        } => {
            let params = key_value_map(params, "--param")?;
            let c = connect(&client)?;
            let s = c
                .create_connection(&NewConnection {
                    link_name: link,
                    display_name: name,
                    service,
                    params,
                    grant_to: for_functions,
                    ..NewConnection::default()
                })
                .await?;
            outln!(
                "created connection {} of service {} (status {}); give it credentials with `switchboard connection connect {}`",
                or_dash(Some(&s.link_name)),
                or_dash(Some(&s.service.link_name)),
                or_dash(Some(&s.status)),
                or_dash(Some(&s.link_name)),
            );
        }
        ConnectionCommand::List { client, output } => {
            let c = connect(&client)?;
            let list = c.list_connections().await?;
            if output.json() {
                return print_json(&list);
            }
            if list.connections.is_empty() {
                outln!(
                    "no connections; create one with `switchboard connection create LINK --service SERVICE --name NAME`"
                );
                return Ok(());
            }
            let mut t = table(&["LINK", "SERVICE", "STATUS", "DISPLAY NAME"]);
            for s in &list.connections {
                t.add_row(vec![
                    or_dash(Some(&s.link_name)),
                    or_dash(Some(&s.service.link_name)),
                    or_dash(Some(&s.status)),
                    or_dash(Some(&s.display_name)),
                ]);
            }
            print_table(&mut t)?;
        }
        ConnectionCommand::Show {
            link,
            client,
            output,
        } => {
            let c = connect(&client)?;
            let s = c.show_connection(&link).await?;
            if output.json() {
                return print_json(&s);
            }
            print_connection(&s)?;
        }
        ConnectionCommand::Edit {
            link,
            name,
            params,
            client,
        } => {
            if name.is_none() && params.is_empty() {
                bail!("nothing to change: give --name and/or --param KEY=VALUE");
            }
            let given = key_value_map(params, "--param")?;
            let c = connect(&client)?;
            let mut edit = ConnectionEdit {
                display_name: name,
                params: None,
            };
            let mut before = None;
            if !given.is_empty() {
                // The API takes the full map: keep the values not given.
                let current = c.show_connection(&link).await?;
                let mut params = current.params.clone();
                params.extend(given);
                edit.params = Some(params);
                before = Some(current);
            }
            let s = c.edit_connection(&link, &edit).await?;
            outln!("updated connection {link}");
            if s.status == "revoked" && before.is_some_and(|b| b.status != "revoked") {
                outln!(
                    "its parameters changed, so it was revoked: connect it again with `switchboard connection connect {link}`"
                );
            }
        }
        ConnectionCommand::Connect {
            link,
            values,
            username,
            password,
            password_stdin,
            access_key_id,
            secret_access_key_stdin,
            session_token_stdin,
            values_file,
            client,
        } => {
            let flags = ConnectFlags {
                values: parse_values(values)?,
                username,
                password: match (password, password_stdin) {
                    (Some(p), _) => Some(Source::Given(Zeroizing::new(p))),
                    (None, true) => Some(Source::Stdin),
                    (None, false) => None,
                },
                access_key_id,
                secret_access_key_stdin,
                session_token_stdin,
            };
            let c = connect(&client)?;
            let summary = c.show_connection(&link).await?;
            // Empty when the service was deleted: then the flags decide the body's
            // shape and the host says why the connection cannot be connected.
            let auth_type = summary.service.auth_type;
            let body = match values_file {
                Some(file) => {
                    let doc = read_document(&file, true)?;
                    let auth_type = if auth_type.is_empty() {
                        if doc.get("access_key_id").is_some() {
                            "aws_sigv4"
                        } else {
                            guess_auth(doc.get("values").is_some())
                        }
                    } else {
                        &auth_type
                    };
                    connect_body_from_file(auth_type, &file, doc)?
                }
                None => {
                    let auth_type = if auth_type.is_empty() {
                        if flags.access_key_id.is_some() {
                            "aws_sigv4"
                        } else {
                            guess_auth(flags.username.is_none() && flags.password.is_none())
                        }
                    } else {
                        &auth_type
                    };
                    connect_body(auth_type, &link, flags, &mut std::io::stdin().lock())?
                }
            };
            let s = c
                .connect(&link, &body.body)
                .await
                .map_err(|e| anyhow!("{}", body.redact(&super::client::explain(&e))))?;
            if let Some(url) = &s.authorize_url {
                outln!(
                    "open this link in a browser within 10 minutes to sign in and connect {link}:\n\n  {url}\n\nthen `switchboard connection show {link}` shows its status"
                );
            } else {
                outln!(
                    "connected {link} (status {}; credentials set: {})",
                    or_dash(Some(&s.connection.status)),
                    list_or_dash(&s.connection.credentials)
                );
            }
        }
        ConnectionCommand::Revoke { link, client } => {
            let c = connect(&client)?;
            c.revoke(&link).await?;
            outln!("revoked {link}: its credentials are erased; its grants are kept");
        }
        ConnectionCommand::Delete { link, client } => {
            let c = connect(&client)?;
            c.delete_connection(&link).await?;
            outln!("deleted connection {link}");
        }
        ConnectionCommand::Activity {
            link,
            limit,
            client,
            output,
        } => {
            let c = connect(&client)?;
            let activity = c.activity(&link, Some(limit)).await?;
            if output.json() {
                return print_json(&activity);
            }
            if activity.activity.is_empty() {
                outln!("no activity for {link} yet");
                return Ok(());
            }
            let mut t = table(&[
                "TIME", "FUNCTION", "METHOD", "STATUS", "OUTCOME", "DURATION", "URL",
            ]);
            for a in &activity.activity {
                t.add_row(vec![
                    or_dash(Some(&a.time)),
                    or_dash(Some(&a.function)),
                    or_dash(Some(&a.method)),
                    a.status.map_or_else(|| "-".to_owned(), |s| s.to_string()),
                    or_dash(Some(&a.outcome)),
                    format!("{}ms", a.duration_ms),
                    format!("{}{}", a.origin, a.path),
                ]);
            }
            align_right(&mut t, &[3, 5]);
            print_table(&mut t)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_values() {
        assert_eq!(
            parse_key_value("domain=zylker").unwrap(),
            ("domain".into(), "zylker".into())
        );
        // Only the first `=` splits; empty values are the host's to judge.
        assert_eq!(parse_key_value("q=a=b").unwrap().1, "a=b");
        assert_eq!(parse_key_value("k=").unwrap().1, "");
        assert!(parse_key_value("domain").unwrap_err().contains("KEY=VALUE"));
        assert!(parse_key_value("=x").unwrap_err().contains("empty"));
        let e = key_value_map(
            vec![("a".into(), "1".into()), ("a".into(), "2".into())],
            "--param",
        )
        .unwrap_err();
        assert!(e.to_string().contains("twice"));
    }

    #[test]
    fn value_flags_never_quote_the_value() {
        let v = parse_values(vec!["api_key=s3cr=et".into(), "account=-".into()]).unwrap();
        assert_eq!(v[0].0, "api_key");
        assert_eq!(v[0].1, Source::Given(Zeroizing::new("s3cr=et".into())));
        assert_eq!(v[1], ("account".into(), Source::Stdin));
        for bad in ["canary-secret", "=canary-secret"] {
            let e = parse_values(vec!["a=b".into(), bad.into()]).unwrap_err();
            let msg = e.to_string();
            assert!(!msg.contains("canary"), "{msg}");
            assert!(msg.contains("number 2"), "{msg}");
        }
        let e = parse_values(vec!["a=x".into(), "a=y".into()]).unwrap_err();
        assert!(e.to_string().contains("twice"));
    }

    fn flags(values: &[&str], username: Option<&str>, password: Option<Source>) -> ConnectFlags {
        ConnectFlags {
            values: parse_values(values.iter().map(|s| (*s).to_owned()).collect()).unwrap(),
            username: username.map(str::to_owned),
            password,
            ..ConnectFlags::default()
        }
    }

    #[test]
    fn aws_bodies_read_the_secret_and_token_from_stdin() {
        let aws = |token: bool| ConnectFlags {
            access_key_id: Some("AKIDEXAMPLE".into()),
            secret_access_key_stdin: true,
            session_token_stdin: token,
            ..ConnectFlags::default()
        };
        let mut stdin = &b"secret-canary/+x\ntoken-canary\n"[..];
        let body = connect_body("aws_sigv4", "s3_logs", aws(true), &mut stdin).unwrap();
        assert_eq!(
            body.body,
            json!({"access_key_id": "AKIDEXAMPLE", "secret_access_key": "secret-canary/+x", "session_token": "token-canary"})
        );
        let msg = body.redact("got secret-canary/+x and token-canary");
        assert!(!msg.contains("canary"), "{msg}");
        let mut stdin = &b"secret-canary\n"[..];
        let body = connect_body("aws_sigv4", "s3_logs", aws(false), &mut stdin).unwrap();
        assert!(body.body.get("session_token").is_none());

        let mut empty = &b""[..];
        let e = connect_body("aws_sigv4", "s3_logs", aws(true), &mut empty)
            .err()
            .unwrap();
        assert!(e.to_string().contains("secret access key"), "{e}");
        let e = connect_body("api_key", "acme", aws(false), &mut empty)
            .err()
            .unwrap();
        assert!(e.to_string().contains("aws_sigv4 services"), "{e}");
        let e = connect_body(
            "aws_sigv4",
            "s3_logs",
            flags(&["a=b"], None, None),
            &mut empty,
        )
        .err()
        .unwrap();
        assert!(e.to_string().contains("--access-key-id"), "{e}");

        let f = std::path::Path::new("aws.toml");
        let ok = connect_body_from_file(
            "aws_sigv4",
            f,
            json!({"access_key_id": "AKID", "secret_access_key": "canary-secret"}),
        )
        .unwrap();
        assert_eq!(ok.redact("x canary-secret"), "x [redacted]");
        for (doc, says) in [
            (
                json!({"access_key_id": "AKID"}),
                "missing `secret_access_key`",
            ),
            (
                json!({"access_key_id": "AKID", "secret_access_key": "canary-secret", "region": "x"}),
                "unexpected `region`",
            ),
            (
                json!({"access_key_id": "AKID", "secret_access_key": ["canary-secret"]}),
                "must be text",
            ),
        ] {
            let msg = connect_body_from_file("aws_sigv4", f, doc)
                .err()
                .unwrap()
                .to_string();
            assert!(msg.contains(says), "{msg}");
            assert!(!msg.contains("canary"), "{msg}");
        }
    }

    #[test]
    fn api_key_bodies_read_dashes_from_stdin_in_order() {
        let mut stdin = &b"first-canary\r\nsecond-canary\n"[..];
        let body = connect_body(
            "api_key",
            "acme_prod",
            flags(&["a=-", "b=given", "c=-"], None, None),
            &mut stdin,
        )
        .unwrap();
        assert_eq!(
            body.body,
            json!({"values": {"a": "first-canary", "b": "given", "c": "second-canary"}})
        );
        let msg = body.redact("bad value first-canary for c: second-canary");
        assert!(!msg.contains("canary"), "{msg}");

        // Too few lines on stdin.
        let mut stdin = &b"only-one\n"[..];
        let e = connect_body(
            "api_key",
            "acme_prod",
            flags(&["a=-", "b=-"], None, None),
            &mut stdin,
        )
        .err()
        .unwrap();
        assert!(
            e.to_string().contains("no value of b on standard input"),
            "{e}"
        );
    }

    #[test]
    fn flags_must_fit_the_auth_type() {
        let mut empty = &b""[..];
        let e = connect_body("api_key", "x", flags(&[], Some("ada"), None), &mut empty)
            .err()
            .unwrap();
        assert!(e.to_string().contains("api_key connection"), "{e}");
        let e = connect_body("api_key", "x", flags(&[], None, None), &mut empty)
            .err()
            .unwrap();
        assert!(e.to_string().contains("--value NAME=-"), "{e}");
        let e = connect_body("basic", "x", flags(&["a=b"], None, None), &mut empty)
            .err()
            .unwrap();
        assert!(e.to_string().contains("basic connection"), "{e}");
        let e = connect_body("basic", "x", flags(&[], None, None), &mut empty)
            .err()
            .unwrap();
        assert!(e.to_string().contains("--username"), "{e}");
        let e = connect_body("basic", "x", flags(&[], Some("ada"), None), &mut empty)
            .err()
            .unwrap();
        assert!(e.to_string().contains("--password-stdin"), "{e}");
        // oauth2 takes no values: the body is empty and the host answers with the link
        // to open in a browser.
        let body = connect_body("oauth2", "x", flags(&[], None, None), &mut empty).unwrap();
        assert_eq!(body.body, json!({}));
        let e = connect_body("oauth2", "x", flags(&["a=b"], None, None), &mut empty)
            .err()
            .unwrap();
        assert!(e.to_string().contains("oauth2"), "{e}");
        // oauth1 likewise (the host answers with the start link).
        let body = connect_body("oauth1", "x", flags(&[], None, None), &mut empty).unwrap();
        assert_eq!(body.body, json!({}));
        let e = connect_body("oauth1", "x", flags(&["a=b"], None, None), &mut empty)
            .err()
            .unwrap();
        assert!(e.to_string().contains("oauth1"), "{e}");

        let mut stdin = &b"pa ss\n"[..];
        let body = connect_body(
            "basic",
            "x",
            flags(&[], Some("ada"), Some(Source::Stdin)),
            &mut stdin,
        )
        .unwrap();
        assert_eq!(body.body, json!({"username": "ada", "password": "pa ss"}));
    }

    #[test]
    fn values_files_are_checked_without_quoting_them() {
        let f = std::path::Path::new("v.toml");
        let ok =
            connect_body_from_file("api_key", f, json!({"values": {"api_key": "canary"}})).unwrap();
        assert_eq!(ok.body["values"]["api_key"], "canary");
        let ok = connect_body_from_file("basic", f, json!({"username": "u", "password": "canary"}))
            .unwrap();
        assert_eq!(ok.redact("x canary y"), "x [redacted] y");
        for (auth, doc, says) in [
            (
                "api_key",
                json!({"username": "u", "password": "canary"}),
                "`values` table",
            ),
            ("api_key", json!({"values": {"k": 1}}), "`k` must be text"),
            (
                "api_key",
                json!({"values": {"k": "canary"}, "x": "canary"}),
                "unexpected `x`",
            ),
            (
                "basic",
                json!({"values": {"k": "canary"}}),
                "missing `username`",
            ),
            ("basic", json!({"username": "u"}), "missing `password`"),
            (
                "basic",
                json!({"username": "u", "password": ["canary"]}),
                "must be text",
            ),
        ] {
            let e = connect_body_from_file(auth, f, doc).err().unwrap();
            let msg = e.to_string();
            assert!(msg.contains(says), "{msg}");
            assert!(!msg.contains("canary"), "{msg}");
        }
    }

    #[test]
    fn connect_flags_parse() {
        use clap::Parser;
        let parse = |args: &[&str]| {
            super::super::Cli::try_parse_from(
                ["switchboard", "connection", "connect", "acme_prod"]
                    .iter()
                    .chain(args),
            )
        };
        assert!(parse(&["--value", "api_key=-", "--value", "account=42"]).is_ok());
        assert!(parse(&["--username", "u", "--password-stdin"]).is_ok());
        assert!(parse(&["--password", "p", "--password-stdin"]).is_err());
        assert!(parse(&["--values-file", "v.toml", "--value", "a=-"]).is_err());
        assert!(parse(&["--values-file", "v.toml", "--username", "u"]).is_err());
        assert!(parse(&["--access-key-id", "AKID", "--secret-access-key-stdin"]).is_ok());
        assert!(parse(&["--access-key-id", "AKID", "--session-token-stdin"]).is_err());
        assert!(parse(&["--values-file", "v.toml", "--access-key-id", "AKID"]).is_err());
        // --value is not checked by clap, so clap never prints a mistyped secret.
        assert!(parse(&["--value", "just-a-secret"]).is_ok());
    }
}
