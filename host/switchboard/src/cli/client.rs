//! The CLI's client side: one request per command against a running host,
//! API errors printed as their message.

use std::io::Read;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use serde_json::Value;

use super::{ClientArgs, FunctionCommand};
use crate::server::TOKEN_FILE;

pub(super) struct Client {
    pub(super) http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    pub(super) fn new(args: &ClientArgs) -> anyhow::Result<Self> {
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
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(600))
            .build()?;
        Ok(Self {
            http,
            base: format!("{}/api/v1", args.url.trim_end_matches('/')),
            token,
        })
    }

    pub(super) async fn send(
        &self,
        req: reqwest::RequestBuilder,
    ) -> anyhow::Result<reqwest::Response> {
        let response = req.bearer_auth(&self.token).send().await.map_err(|e| {
            if e.is_connect() {
                anyhow!("cannot reach the host at {}: is `switchboard serve` running? (set SWITCHBOARD_URL or --url)", self.base.trim_end_matches("/api/v1"))
            } else {
                anyhow!("request to the host failed: {e}")
            }
        })?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        let message = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| format!("the host answered {status}: {body}"));
        bail!("{message}")
    }

    pub(super) async fn json(&self, req: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        Ok(self.send(req).await?.json().await?)
    }

    pub(super) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// `s` percent-encoded for use as one URL path segment (names from the command line
/// must not add path segments or a query).
pub(super) fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The text of a JSON string, or `-` for null, missing or empty.
pub(super) fn text_or_dash(v: &Value) -> String {
    match v {
        Value::String(s) if !s.is_empty() => s.clone(),
        Value::Null | Value::String(_) => "-".to_owned(),
        other => other.to_string(),
    }
}

/// A JSON array of strings joined by `, `, or `-` when empty or missing.
pub(super) fn list_or_dash(v: &Value) -> String {
    let items: Vec<String> = v
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
        .collect();
    if items.is_empty() {
        "-".to_owned()
    } else {
        items.join(", ")
    }
}

fn print_function(f: &Value) {
    println!(
        "name:            {}",
        f["name"].as_str().unwrap_or_default()
    );
    println!("current version: {}", f["current_version"]);
    println!(
        "created:         {}",
        f["created_at"].as_str().unwrap_or_default()
    );
    println!(
        "updated:         {}",
        f["updated_at"].as_str().unwrap_or_default()
    );
    println!("grants:          {}", list_or_dash(&f["grants"]));
    print_requirements(f["name"].as_str().unwrap_or_default(), &f["requirements"]);
    println!();
    println!(
        "{:<3} {:>7}  {:<26} {:>9}  {:>7} {:>8} {:>8}  {:<14} ALLOWED HOSTS",
        "", "VERSION", "DEPLOYED", "SIZE", "MEM MiB", "TIMEOUT", "REQUESTS", "SHA-256"
    );
    for v in f["versions"].as_array().into_iter().flatten() {
        let hosts: Vec<&str> = v["allowed_hosts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        println!(
            "{:<3} {:>7}  {:<26} {:>9}  {:>7} {:>8} {:>8}  {:<14} {}",
            if v["current"].as_bool() == Some(true) {
                "*"
            } else {
                ""
            },
            v["version"].to_string(),
            v["deployed_at"].as_str().unwrap_or_default(),
            v["size_bytes"].to_string(),
            v["limits"]["memory_mib"].to_string(),
            format!("{}ms", v["limits"]["timeout_ms"]),
            v["limits"]["max_requests"].to_string(),
            v["sha256"]
                .as_str()
                .unwrap_or_default()
                .get(..12)
                .unwrap_or_default(),
            if hosts.is_empty() {
                "-".to_owned()
            } else {
                hosts.join(" ")
            },
        );
    }
}

/// The connections a function declared it needs, and which are missing.
fn print_requirements(name: &str, requirements: &Value) {
    let Some(list) = requirements.as_array().filter(|l| !l.is_empty()) else {
        return;
    };
    println!("needs:");
    for r in list {
        let service = r["service"].as_str().unwrap_or_default();
        let scopes = list_or_dash(&r["scopes"]);
        let state = if r["satisfied"].as_bool() == Some(true) {
            format!("ok ({})", list_or_dash(&r["granted"]))
        } else {
            format!(
                "MISSING: switchboard connection create LINK --service {service} --name NAME --for-function {name}"
            )
        };
        println!(
            "  {service:<20} scopes {scopes:<20} {}  {state}",
            r["why"].as_str().unwrap_or_default()
        );
    }
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
            let c = Client::new(&client)?;
            let manifest = manifest
                .map(|p| super::files::read_document(&p, false))
                .transpose()?;
            let wasm =
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let mut query: Vec<(&str, String)> = Vec::new();
            if let Some(v) = memory_mib {
                query.push(("memory_mib", v.to_string()));
            }
            if let Some(v) = timeout_ms {
                query.push(("timeout_ms", v.to_string()));
            }
            if let Some(v) = max_requests {
                query.push(("max_requests", v.to_string()));
            }
            if let Some(v) = max_concurrency {
                query.push(("max_concurrency", v.to_string()));
            }
            for h in allow_hosts {
                query.push(("allow_host", h));
            }
            if let Some(m) = &manifest {
                query.push(("manifest", m.to_string()));
            }
            let f = c
                .json(
                    c.http
                        .post(c.url(&format!("/functions/{name}/versions")))
                        .query(&query)
                        .header("content-type", "application/wasm")
                        .body(wasm),
                )
                .await?;
            let v = &f["versions"][0];
            println!(
                "deployed {name} version {} ({} bytes, sha256 {})",
                v["version"],
                v["size_bytes"],
                v["sha256"].as_str().unwrap_or_default()
            );
            print_requirements(&name, &f["requirements"]);
        }
        FunctionCommand::Invoke {
            name,
            input,
            input_file,
            client,
        } => {
            let c = Client::new(&client)?;
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
            let response = c
                .send(
                    c.http
                        .post(c.url(&format!("/functions/{name}/invoke")))
                        .header("content-type", "application/json")
                        .body(input),
                )
                .await?;
            println!("{}", response.text().await?);
        }
        FunctionCommand::List { client } => {
            let c = Client::new(&client)?;
            let v = c.json(c.http.get(c.url("/functions"))).await?;
            let functions = v["functions"].as_array().cloned().unwrap_or_default();
            if functions.is_empty() {
                println!(
                    "no functions; deploy one with `switchboard function deploy NAME FILE.wasm`"
                );
                return Ok(());
            }
            println!("{:<30} {:>7} {:>7}  UPDATED", "NAME", "CURRENT", "LATEST");
            for f in functions {
                println!(
                    "{:<30} {:>7} {:>7}  {}",
                    f["name"].as_str().unwrap_or_default(),
                    f["current_version"].to_string(),
                    f["latest_version"].to_string(),
                    f["updated_at"].as_str().unwrap_or_default()
                );
            }
        }
        FunctionCommand::Show { name, client } => {
            let c = Client::new(&client)?;
            let f = c
                .json(c.http.get(c.url(&format!("/functions/{name}"))))
                .await?;
            print_function(&f);
        }
        FunctionCommand::Delete { name, client } => {
            let c = Client::new(&client)?;
            c.send(c.http.delete(c.url(&format!("/functions/{name}"))))
                .await?;
            println!("deleted {name}");
        }
        FunctionCommand::Logs {
            name,
            limit,
            client,
        } => {
            let c = Client::new(&client)?;
            let v = c
                .json(
                    c.http
                        .get(c.url(&format!("/functions/{name}/logs")))
                        .query(&[("limit", limit)]),
                )
                .await?;
            let lines = v["lines"].as_array().cloned().unwrap_or_default();
            if lines.is_empty() {
                println!("no log lines for {name} yet");
            }
            for l in lines {
                println!(
                    "{} {:<5} #{} v{} {}",
                    l["time"].as_str().unwrap_or_default(),
                    l["level"].as_str().unwrap_or_default(),
                    l["invocation"],
                    l["version"],
                    l["message"].as_str().unwrap_or_default()
                );
            }
        }
        FunctionCommand::Rollback {
            name,
            version,
            client,
        } => {
            let c = Client::new(&client)?;
            c.send(
                c.http
                    .post(c.url(&format!("/functions/{name}/rollback")))
                    .json(&serde_json::json!({ "version": version })),
            )
            .await?;
            println!("{name}: version {version} is now current");
        }
        FunctionCommand::Grant {
            name,
            connection,
            client,
        } => {
            let c = Client::new(&client)?;
            c.send(
                c.http
                    .post(c.url(&format!("/functions/{name}/grants")))
                    .json(&serde_json::json!({ "connection": connection })),
            )
            .await?;
            println!("granted connection {connection} to function {name}");
        }
        FunctionCommand::RevokeGrant {
            name,
            connection,
            client,
        } => {
            let c = Client::new(&client)?;
            c.send(
                c.http
                    .delete(c.url(&format!("/functions/{name}/grants/{connection}"))),
            )
            .await?;
            println!("function {name} may no longer use connection {connection}");
        }
    }
    Ok(())
}
