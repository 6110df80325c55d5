//! The CLI's client side: one request per command against a running host through
//! [`switchboard_client`], API errors printed as their message; and `function ...`.

use std::io::Read;

use anyhow::{Context, anyhow};
use serde_json::Value;
use switchboard_client::{Client, DeployOptions, Function, RequirementStatus};

use super::output::{align_right, list_or_dash, outln, print_json, print_table, table};
use super::{ClientArgs, FunctionCommand};
use crate::server::TOKEN_FILE;

/// A client of the host `args` point at, with the token from `--token`,
/// `SWITCHBOARD_TOKEN` or the data folder's token file.
pub(super) fn connect(args: &ClientArgs) -> anyhow::Result<Client> {
    let token = match &args.token {
        Some(t) => t.clone(),
        None => {
            let path = args.data.join(TOKEN_FILE);
            std::fs::read_to_string(&path)
                .map(|s| s.trim().to_owned())
                .map_err(|_| {
                    anyhow!(
                        "no API token: set SWITCHBOARD_TOKEN, or point --data at the host's data folder (no readable {})",
                        path.display()
                    )
                })?
        }
    };
    Ok(Client::new(&args.url, token)?)
}

/// What to print for a client error: the API's message, or how to reach the host.
pub(super) fn explain(e: &switchboard_client::Error) -> String {
    match e {
        switchboard_client::Error::Unreachable { base, .. } => format!(
            "cannot reach the host at {base}: is `switchboard serve` running? (set SWITCHBOARD_URL or --url)"
        ),
        other => other.to_string(),
    }
}

fn print_function(f: &Function) -> anyhow::Result<()> {
    outln!("name:            {}", f.name);
    outln!("current version: {}", f.current_version);
    outln!("created:         {}", f.created_at);
    outln!("updated:         {}", f.updated_at);
    outln!(
        "grants:          {}",
        list_or_dash(f.grants.as_deref().unwrap_or_default())
    );
    print_requirements(&f.name, f.requirements.as_deref().unwrap_or_default())?;
    outln!();
    let mut t = table(&[
        "",
        "VERSION",
        "DEPLOYED",
        "SIZE",
        "MEM MiB",
        "TIMEOUT",
        "REQUESTS",
        "SHA-256",
        "ALLOWED HOSTS",
    ]);
    for v in f.versions.as_deref().unwrap_or_default() {
        t.add_row(vec![
            if v.current { "*" } else { "" }.to_owned(),
            v.version.to_string(),
            v.deployed_at.clone(),
            v.size_bytes.to_string(),
            v.limits.memory_mib.to_string(),
            format!("{}ms", v.limits.timeout_ms),
            v.limits.max_requests.to_string(),
            v.sha256.get(..12).unwrap_or_default().to_owned(),
            if v.allowed_hosts.is_empty() {
                "-".to_owned()
            } else {
                v.allowed_hosts.join(" ")
            },
        ]);
    }
    align_right(&mut t, &[1, 3, 4, 5, 6]);
    print_table(&mut t)
}

/// The connections a function declared it needs, and which are missing.
fn print_requirements(name: &str, requirements: &[RequirementStatus]) -> anyhow::Result<()> {
    if requirements.is_empty() {
        return Ok(());
    }
    outln!("needs:");
    for r in requirements {
        let service = &r.service;
        let scopes = list_or_dash(&r.scopes);
        let state = if r.satisfied {
            format!("ok ({})", list_or_dash(&r.granted))
        } else {
            format!(
                "MISSING: switchboard connection create LINK --service {service} --name NAME --for-function {name}"
            )
        };
        outln!(
            "  {service:<20} scopes {scopes:<20} {}  {state}",
            r.why.as_deref().unwrap_or_default()
        );
    }
    Ok(())
}

pub(super) async fn run(cmd: FunctionCommand) -> anyhow::Result<()> {
    match cmd {
        FunctionCommand::Deploy {
            name,
            path,
            memory_mib,
            timeout_ms,
            max_requests,
            max_concurrency,
            allow_hosts,
            manifest,
            client,
        } => {
            let c = connect(&client)?;
            let manifest = manifest
                .map(|p| super::files::read_document(&p, false))
                .transpose()?;
            let wasm =
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let options = DeployOptions {
                memory_mib,
                timeout_ms,
                max_requests,
                max_concurrency,
                allow_hosts,
                manifest,
            };
            let f = c.deploy(&name, wasm, &options).await?;
            // The answer lists the new version only.
            if let Some(v) = f.versions.as_deref().and_then(<[_]>::first) {
                outln!(
                    "deployed {name} version {} ({} bytes, sha256 {})",
                    v.version,
                    v.size_bytes,
                    v.sha256
                );
            }
            print_requirements(&name, f.requirements.as_deref().unwrap_or_default())?;
        }
        FunctionCommand::Invoke {
            name,
            input,
            input_file,
            client,
        } => {
            let c = connect(&client)?;
            let input = match (input, input_file) {
                (Some(i), _) => i,
                (None, Some(p)) if p.as_os_str() == "-" => {
                    let mut s = String::new();
                    std::io::stdin().read_to_string(&mut s)?;
                    s
                }
                (None, Some(p)) => std::fs::read_to_string(&p)
                    .with_context(|| format!("cannot read {}", p.display()))?,
                (None, None) => "{}".to_owned(),
            };
            serde_json::from_str::<Value>(&input).context("--input is not valid JSON")?;
            let done = c.invoke(&name, input).await?;
            outln!("{}", done.output);
        }
        FunctionCommand::List { client, output } => {
            let c = connect(&client)?;
            let list = c.list_functions().await?;
            if output.json() {
                return print_json(&list);
            }
            if list.functions.is_empty() {
                outln!(
                    "no functions; deploy one with `switchboard function deploy NAME FILE.wasm`"
                );
                return Ok(());
            }
            let mut t = table(&["NAME", "CURRENT", "LATEST", "UPDATED"]);
            for f in &list.functions {
                t.add_row(vec![
                    f.name.clone(),
                    f.current_version.to_string(),
                    f.latest_version.to_string(),
                    f.updated_at.clone(),
                ]);
            }
            align_right(&mut t, &[1, 2]);
            print_table(&mut t)?;
        }
        FunctionCommand::Show {
            name,
            client,
            output,
        } => {
            let c = connect(&client)?;
            let f = c.show_function(&name).await?;
            if output.json() {
                return print_json(&f);
            }
            print_function(&f)?;
        }
        FunctionCommand::Delete { name, client } => {
            let c = connect(&client)?;
            c.delete_function(&name).await?;
            outln!("deleted {name}");
        }
        FunctionCommand::Logs {
            name,
            limit,
            client,
            output,
        } => {
            let c = connect(&client)?;
            let logs = c.logs(&name, Some(limit)).await?;
            if output.json() {
                return print_json(&logs);
            }
            if logs.lines.is_empty() {
                outln!("no log lines for {name} yet");
            }
            for l in &logs.lines {
                outln!(
                    "{} {:<5} #{} v{} {}",
                    l.time,
                    l.level,
                    l.invocation,
                    l.version,
                    l.message
                );
            }
        }
        FunctionCommand::Rollback {
            name,
            version,
            client,
        } => {
            let c = connect(&client)?;
            c.rollback(&name, version).await?;
            outln!("{name}: version {version} is now current");
        }
        FunctionCommand::Grant {
            name,
            connection,
            client,
        } => {
            let c = connect(&client)?;
            c.grant(&name, &connection).await?;
            outln!("granted connection {connection} to function {name}");
        }
        FunctionCommand::Grants {
            name,
            client,
            output,
        } => {
            let c = connect(&client)?;
            let grants = c.list_grants(&name).await?;
            if output.json() {
                return print_json(&grants);
            }
            if grants.grants.is_empty() {
                outln!(
                    "function {name} may use no connection; grant one with `switchboard function grant {name} --connection LINK`"
                );
                return Ok(());
            }
            let mut t = table(&["CONNECTION", "GRANTED"]);
            for g in &grants.grants {
                t.add_row(vec![g.connection.clone(), g.granted_at.clone()]);
            }
            print_table(&mut t)?;
        }
        FunctionCommand::RevokeGrant {
            name,
            connection,
            client,
        } => {
            let c = connect(&client)?;
            c.revoke_grant(&name, &connection).await?;
            outln!("function {name} may no longer use connection {connection}");
        }
    }
    Ok(())
}
