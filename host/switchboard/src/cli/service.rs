//! `switchboard service ...`: services (API connectors) on a running host.

use std::path::PathBuf;

use anyhow::bail;
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Map, Value, json};

use switchboard_client::{Service, ServiceFilter};

use super::ClientArgs;
use super::client::connect;
use super::files::read_document;
use super::output::{
    OutputArgs, align_right, list_or_dash, or_dash, outln, print_json, print_table, table,
};

#[derive(Debug, Subcommand)]
pub(super) enum ServiceCommand {
    /// Create a custom service, from a definition file or from flags.
    ///
    /// With --file, the file (TOML or JSON, chosen by its extension .toml/.json; anything
    /// else is tried as JSON, then TOML) has the shape of the API's service definition.
    /// Otherwise give LINK, --name, --auth and, for api-key services, one --param per
    /// credential value, plus at least one --origin; aws-sigv4 services take
    /// --aws-service and --aws-region, and their --origin defaults to AWS's endpoint.
    #[command(after_help = "Examples:
  switchboard service create --file acme.toml
  switchboard service create s3_logs --name \"S3 logs\" --auth aws-sigv4 --aws-service s3 \\
      --aws-region eu-west-3 --dynamic bucket:Bucket:'[a-z0-9.-]{3,63}'
  switchboard service create acme --name \"Acme CRM\" --auth api-key \\
      --param api_key:\"API key\":header --dynamic domain:\"Your domain\":'[a-z0-9-]{1,40}' \\
      --origin 'https://{domain}.acme.example'")]
    Create {
        /// Read the whole definition from this TOML or JSON file.
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        #[command(flatten)]
        flags: CreateFlags,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List services: the default ones (the catalogue) and custom ones, optionally
    /// searched and filtered.
    #[command(after_help = "Examples:
  switchboard service list --kind default --category crm
  switchboard service list --search mail")]
    List {
        /// Only services whose link name, display name, category or description
        /// contains this text (case-insensitive).
        #[arg(long, value_name = "TEXT")]
        search: Option<String>,
        /// Only services of this category (see `switchboard service categories`).
        #[arg(long)]
        category: Option<String>,
        /// Only default (catalogue) or custom services.
        #[arg(long, value_enum)]
        kind: Option<KindArg>,
        #[command(flatten)]
        client: ClientArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Count services by category.
    Categories {
        /// Only default (catalogue) or custom services.
        #[arg(long, value_enum)]
        kind: Option<KindArg>,
        #[command(flatten)]
        client: ClientArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Set the operator's OAuth client of a default OAuth service (the app registered
    /// with the provider): its client id and secret (OAuth 1: consumer key and secret).
    ///
    /// The secret is read from standard input (one line) and stored sealed. Changing an
    /// existing client revokes the service's connections.
    #[command(after_help = "Example:
  switchboard service client github --client-id Iv1.0123abcd --client-secret-stdin < secret.txt")]
    Client {
        /// Link name of the default service.
        link: String,
        /// Client id (OAuth 1: consumer key).
        #[arg(long, value_name = "ID")]
        client_id: String,
        /// Read the client secret (OAuth 1: consumer secret) from standard input.
        #[arg(long, required = true)]
        client_secret_stdin: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show a service's definition and how many connections use it.
    Show {
        /// Link name of the service.
        link: String,
        #[command(flatten)]
        client: ClientArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Replace a service's definition with a file's (TOML or JSON).
    ///
    /// The link name and auth type cannot change, and no API-key parameter may be removed.
    /// When anything changed, every connection of the service is revoked (its credentials
    /// erased): they must be connected again.
    Edit {
        /// Link name of the service.
        link: String,
        /// The whole new definition (TOML or JSON, as for `create --file`).
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Delete a service; its connections are kept, revoked, and can no longer be connected.
    Delete {
        /// Link name of the service.
        link: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// The flags of `service create` without `--file`.
#[derive(Debug, Args)]
pub(super) struct CreateFlags {
    /// Link name of the new service: a lower-case letter, then lower-case letters,
    /// digits and `_`; never changes.
    #[arg(required_unless_present = "file", conflicts_with = "file")]
    link: Option<String>,
    /// Display name (1 to 50 characters).
    #[arg(long, required_unless_present = "file", conflicts_with = "file")]
    name: Option<String>,
    /// Auth type; never changes.
    #[arg(
        long,
        value_enum,
        required_unless_present = "file",
        conflicts_with = "file"
    )]
    auth: Option<AuthArg>,
    /// An API-key parameter, NAME:DISPLAY:TYPE with TYPE one of query, form, header
    /// (repeatable; api-key only). NAME is sent upstream, DISPLAY is what connecting
    /// asks for.
    #[arg(
        long = "param",
        value_name = "NAME:DISPLAY:TYPE",
        value_parser = parse_param,
        conflicts_with = "file"
    )]
    params: Vec<ParamSpec>,
    /// AWS SigV4: the AWS service the requests are signed for (s3, sqs, execute-api).
    #[arg(long, value_name = "SERVICE", conflicts_with = "file")]
    aws_service: Option<String>,
    /// AWS SigV4: the region (us-east-1).
    #[arg(long, value_name = "REGION", conflicts_with = "file")]
    aws_region: Option<String>,
    /// An origin credentials may be sent to, e.g. https://api.acme.example or
    /// https://{domain}.acme.example (repeatable; at least one, except for aws-sigv4
    /// services, which default to https://SERVICE.REGION.amazonaws.com and, for s3 with a
    /// `bucket` dynamic parameter, https://{bucket}.s3.REGION.amazonaws.com).
    #[arg(long = "origin", value_name = "URL", conflicts_with = "file")]
    origins: Vec<String>,
    /// A dynamic parameter each connection gives a value for, KEY:DISPLAY[:PATTERN]
    /// (repeatable). PATTERN is a regular expression the whole value must match; it may
    /// contain `:`, DISPLAY may not.
    #[arg(
        long = "dynamic",
        value_name = "KEY:DISPLAY[:PATTERN]",
        value_parser = parse_dynamic,
        conflicts_with = "file"
    )]
    dynamic: Vec<DynamicSpec>,
    /// Category (free text, at most 50 characters).
    #[arg(long, conflicts_with = "file")]
    category: Option<String>,
    /// Description (free text, at most 1000 characters).
    #[arg(long, conflicts_with = "file")]
    description: Option<String>,
}

/// `--kind` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum KindArg {
    /// Pre-configured services of the catalogue (read-only).
    Default,
    /// Services created on this host.
    Custom,
}

impl KindArg {
    fn api_name(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::Custom => "custom",
        }
    }
}

/// `--auth` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum AuthArg {
    /// One or more key values sent as query, form or header parameters.
    #[value(name = "api-key", alias = "api_key")]
    ApiKey,
    /// Username and password as `Authorization: Basic`.
    Basic,
    /// AWS Signature Version 4 (access key id, secret access key, session token).
    #[value(name = "aws-sigv4", alias = "aws_sigv4")]
    AwsSigv4,
}

impl AuthArg {
    fn api_name(self) -> &'static str {
        match self {
            Self::ApiKey => "api_key",
            Self::Basic => "basic",
            Self::AwsSigv4 => "aws_sigv4",
        }
    }
}

/// One `--param NAME:DISPLAY:TYPE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ParamSpec {
    name: String,
    display_name: String,
    param_type: &'static str,
}

/// One `--dynamic KEY:DISPLAY[:PATTERN]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct DynamicSpec {
    key: String,
    display_name: String,
    pattern: Option<String>,
}

/// Parses `NAME:DISPLAY:TYPE`. DISPLAY may itself contain `:` (the first `:` ends NAME,
/// the last one starts TYPE).
fn parse_param(s: &str) -> Result<ParamSpec, String> {
    const FORM: &str = "expected NAME:DISPLAY:TYPE, e.g. api_key:\"API key\":header";
    let (name, rest) = s
        .split_once(':')
        .ok_or_else(|| format!("no `:` in it; {FORM}"))?;
    let (display, kind) = rest
        .rsplit_once(':')
        .ok_or_else(|| format!("only one `:` in it; {FORM}"))?;
    let name = name.trim();
    let display = display.trim();
    if name.is_empty() {
        return Err(format!("the parameter NAME is empty; {FORM}"));
    }
    if display.is_empty() {
        return Err(format!("the DISPLAY name is empty; {FORM}"));
    }
    let param_type = match kind.trim().to_ascii_lowercase().as_str() {
        "query" => "query",
        "form" => "form",
        "header" => "header",
        other => {
            return Err(format!(
                "parameter type `{other}` is not one of query, form, header; {FORM}"
            ));
        }
    };
    Ok(ParamSpec {
        name: name.to_owned(),
        display_name: display.to_owned(),
        param_type,
    })
}

/// Parses `KEY:DISPLAY[:PATTERN]`. PATTERN (everything after the second `:`) may contain
/// `:`; DISPLAY may not.
fn parse_dynamic(s: &str) -> Result<DynamicSpec, String> {
    const FORM: &str =
        "expected KEY:DISPLAY or KEY:DISPLAY:PATTERN, e.g. domain:\"Your domain\":'[a-z0-9-]+'";
    let (key, rest) = s
        .split_once(':')
        .ok_or_else(|| format!("no `:` in it; {FORM}"))?;
    let (display, pattern) = match rest.split_once(':') {
        Some((d, p)) => (d, Some(p)),
        None => (rest, None),
    };
    let key = key.trim();
    let display = display.trim();
    if key.is_empty() {
        return Err(format!("the KEY is empty; {FORM}"));
    }
    if display.is_empty() {
        return Err(format!("the DISPLAY name is empty; {FORM}"));
    }
    if pattern.is_some_and(str::is_empty) {
        return Err(format!(
            "the PATTERN after the second `:` is empty (leave out `:PATTERN` for none); {FORM}"
        ));
    }
    Ok(DynamicSpec {
        key: key.to_owned(),
        display_name: display.to_owned(),
        pattern: pattern.map(str::to_owned),
    })
}

/// The flags of `service create` as an API service definition.
fn definition_from_flags(flags: CreateFlags) -> anyhow::Result<Value> {
    let CreateFlags {
        link,
        name,
        auth,
        params,
        aws_service,
        aws_region,
        origins,
        dynamic,
        category,
        description,
    } = flags;
    let (Some(link), Some(name), Some(auth)) = (link, name, auth) else {
        bail!("give --file FILE, or LINK with --name and --auth");
    };
    if auth != AuthArg::AwsSigv4 && (aws_service.is_some() || aws_region.is_some()) {
        bail!("--aws-service and --aws-region are for aws-sigv4 services");
    }
    let auth = match auth {
        AuthArg::AwsSigv4 => {
            if !params.is_empty() {
                bail!(
                    "--param is for api-key services; an aws-sigv4 service asks for an access key"
                );
            }
            let (Some(service), Some(region)) = (aws_service, aws_region) else {
                bail!(
                    "an aws-sigv4 service needs --aws-service (e.g. s3, sqs) and --aws-region (e.g. us-east-1)"
                );
            };
            json!({"type": auth.api_name(), "service": service, "region": region})
        }
        AuthArg::ApiKey => {
            if params.is_empty() {
                bail!(
                    "an api-key service needs at least one --param NAME:DISPLAY:TYPE (e.g. --param api_key:\"API key\":header)"
                );
            }
            let params: Vec<Value> = params
                .into_iter()
                .map(|p| {
                    json!({"name": p.name, "display_name": p.display_name, "param_type": p.param_type})
                })
                .collect();
            json!({"type": auth.api_name(), "params": params})
        }
        AuthArg::Basic => {
            if !params.is_empty() {
                bail!(
                    "--param is for api-key services; a basic service asks for a username and password"
                );
            }
            json!({"type": auth.api_name()})
        }
    };
    if origins.is_empty() && auth["type"] != "aws_sigv4" {
        bail!(
            "give at least one --origin URL the credentials may be sent to (e.g. --origin https://api.example.com)"
        );
    }
    let dynamic: Vec<Value> = dynamic
        .into_iter()
        .map(|d| {
            let mut m = Map::new();
            m.insert("key".into(), d.key.into());
            m.insert("display_name".into(), d.display_name.into());
            if let Some(p) = d.pattern {
                m.insert("pattern".into(), p.into());
            }
            Value::Object(m)
        })
        .collect();
    let mut def = Map::new();
    def.insert("link_name".into(), link.into());
    def.insert("display_name".into(), name.into());
    def.insert("auth".into(), auth);
    def.insert("dynamic_params".into(), dynamic.into());
    def.insert("api_origins".into(), origins.into());
    if let Some(c) = category {
        def.insert("category".into(), c.into());
    }
    if let Some(d) = description {
        def.insert("description".into(), d.into());
    }
    Ok(Value::Object(def))
}

fn print_service(s: &Service) -> anyhow::Result<()> {
    let auth = &s.auth;
    outln!("link name:    {}", or_dash(Some(&s.link_name)));
    outln!("display name: {}", or_dash(Some(&s.display_name)));
    outln!("kind:         {}", or_dash(Some(&s.kind)));
    if s.kind == "default" {
        outln!("docs:         {}", or_dash(s.docs_url.as_deref()));
        if auth.kind == "oauth2" || auth.kind == "oauth1" {
            let id = auth.text(if auth.kind == "oauth2" {
                "client_id"
            } else {
                "consumer_key"
            });
            match id.filter(|i| !i.is_empty()) {
                Some(id) => outln!("oauth client: {id}"),
                None => outln!(
                    "oauth client: not configured (switchboard service client {} --client-id ID --client-secret-stdin)",
                    or_dash(Some(&s.link_name))
                ),
            }
        }
    }
    outln!("auth type:    {}", or_dash(Some(&auth.kind)));
    if auth.kind == "aws_sigv4" {
        outln!(
            "aws scope:    {} in {}",
            or_dash(auth.text("service")),
            or_dash(auth.text("region"))
        );
    }
    outln!("category:     {}", or_dash(s.category.as_deref()));
    outln!("description:  {}", or_dash(s.description.as_deref()));
    outln!("api origins:  {}", list_or_dash(&s.api_origins));
    outln!("connections:  {}", s.connections);
    outln!("created by:   {}", or_dash(Some(&s.created_by)));
    outln!("created:      {}", or_dash(Some(&s.created_at)));
    outln!("updated:      {}", or_dash(Some(&s.updated_at)));
    if auth.fields.contains_key("params") {
        outln!();
        let mut t = table(&["API-KEY PARAMETER", "TYPE", "DISPLAY NAME"]);
        for p in auth.api_key_params() {
            t.add_row(vec![p.name, p.param_type, p.display_name]);
        }
        print_table(&mut t)?;
    }
    if !s.dynamic_params.is_empty() {
        outln!();
        let mut t = table(&["DYNAMIC PARAMETER", "DISPLAY NAME", "PATTERN"]);
        for d in &s.dynamic_params {
            t.add_row(vec![
                d.key.clone(),
                d.display_name.clone(),
                or_dash(d.pattern.as_deref()),
            ]);
        }
        print_table(&mut t)?;
    }
    Ok(())
}

fn revoked_line(revoked: &[String]) -> String {
    if revoked.is_empty() {
        "no connections were revoked".to_owned()
    } else {
        format!(
            "revoked connections (connect them again): {}",
            revoked.join(", ")
        )
    }
}

pub(super) async fn run(cmd: ServiceCommand) -> anyhow::Result<()> {
    match cmd {
        ServiceCommand::Create {
            file,
            flags,
            client,
        } => {
            let definition = match file {
                Some(path) => read_document(&path, false)?,
                None => definition_from_flags(flags)?,
            };
            let c = connect(&client)?;
            let s = c.create_service(&definition).await?;
            outln!(
                "created service {} ({}, auth {})",
                or_dash(Some(&s.link_name)),
                or_dash(Some(&s.display_name)),
                or_dash(Some(&s.auth.kind))
            );
        }
        ServiceCommand::List {
            search,
            category,
            kind,
            client,
            output,
        } => {
            let c = connect(&client)?;
            let filter = ServiceFilter {
                search,
                category,
                kind: kind.map(|k| k.api_name().to_owned()),
            };
            let list = c.list_services(&filter).await?;
            if output.json() {
                return print_json(&list);
            }
            if list.services.is_empty() {
                if filter.is_empty() {
                    outln!("no services; create one with `switchboard service create`");
                } else {
                    outln!("no services match");
                }
                return Ok(());
            }
            let mut t = table(&[
                "LINK",
                "KIND",
                "AUTH",
                "CONNECTIONS",
                "CATEGORY",
                "DISPLAY NAME",
            ]);
            for s in &list.services {
                t.add_row(vec![
                    or_dash(Some(&s.link_name)),
                    or_dash(Some(&s.kind)),
                    or_dash(Some(&s.auth.kind)),
                    s.connections.to_string(),
                    or_dash(s.category.as_deref()),
                    or_dash(Some(&s.display_name)),
                ]);
            }
            align_right(&mut t, &[3]);
            print_table(&mut t)?;
        }
        ServiceCommand::Categories {
            kind,
            client,
            output,
        } => {
            let c = connect(&client)?;
            let categories = c.categories(kind.map(KindArg::api_name)).await?;
            if output.json() {
                return print_json(&categories);
            }
            let mut t = table(&["CATEGORY", "SERVICES"]);
            for (category, count) in &categories.categories {
                t.add_row(vec![category.clone(), count.to_string()]);
            }
            print_table(&mut t)?;
        }
        ServiceCommand::Client {
            link,
            client_id,
            client_secret_stdin: _,
            client,
        } => {
            let secret =
                super::connection::read_secret_line(&mut std::io::stdin().lock(), "client secret")?;
            let c = connect(&client)?;
            let v = c
                .set_service_client(&link, &client_id, secret.as_str())
                .await?;
            outln!(
                "set the OAuth client of {link}; {}",
                revoked_line(&v.revoked_connections)
            );
        }
        ServiceCommand::Show {
            link,
            client,
            output,
        } => {
            let c = connect(&client)?;
            let s = c.show_service(&link).await?;
            if output.json() {
                return print_json(&s);
            }
            print_service(&s)?;
        }
        ServiceCommand::Edit { link, file, client } => {
            let mut definition = read_document(&file, false)?;
            // The file may leave the (unchangeable) link name out.
            if let Some(m) = definition.as_object_mut() {
                m.entry("link_name")
                    .or_insert_with(|| Value::String(link.clone()));
            }
            let c = connect(&client)?;
            let v = c.edit_service(&link, &definition).await?;
            outln!(
                "updated service {link}; {}",
                revoked_line(&v.revoked_connections)
            );
        }
        ServiceCommand::Delete { link, client } => {
            let c = connect(&client)?;
            let v = c.delete_service(&link).await?;
            outln!(
                "deleted service {link}; {}",
                revoked_line(&v.revoked_connections)
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn param_specs() {
        let p = parse_param("api_key:API key:header").unwrap();
        assert_eq!(
            p,
            ParamSpec {
                name: "api_key".into(),
                display_name: "API key".into(),
                param_type: "header",
            }
        );
        // The display name may hold `:`; the type is case-insensitive.
        let p = parse_param("X-Token:Token: the long one:QUERY").unwrap();
        assert_eq!(p.display_name, "Token: the long one");
        assert_eq!(p.param_type, "query");
        assert_eq!(parse_param("k:K:form").unwrap().param_type, "form");

        for (bad, says) in [
            ("api_key", "no `:`"),
            ("api_key:header", "only one `:`"),
            (":Key:header", "NAME is empty"),
            ("k::header", "DISPLAY name is empty"),
            ("k:Key:cookie", "`cookie` is not one of query, form, header"),
            ("k:Key:", "`` is not one of"),
        ] {
            let e = parse_param(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
            assert!(e.contains("NAME:DISPLAY:TYPE"), "{bad}: {e}");
        }
    }

    #[test]
    fn dynamic_specs() {
        let d = parse_dynamic("domain:Your domain").unwrap();
        assert_eq!(d.key, "domain");
        assert_eq!(d.display_name, "Your domain");
        assert_eq!(d.pattern, None);
        // The pattern keeps its own colons.
        let d = parse_dynamic("region:Region:(?:us|eu)-[0-9]:x").unwrap();
        assert_eq!(d.pattern.as_deref(), Some("(?:us|eu)-[0-9]:x"));
        for (bad, says) in [
            ("domain", "no `:`"),
            (":Domain", "KEY is empty"),
            ("domain:", "DISPLAY name is empty"),
            ("domain:Domain:", "PATTERN after the second `:` is empty"),
        ] {
            let e = parse_dynamic(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    /// Parses `service create` arguments through clap, as the binary would.
    fn create_flags(args: &[&str]) -> Result<(Option<PathBuf>, CreateFlags), clap::Error> {
        use clap::Parser;
        let cli = super::super::Cli::try_parse_from(
            ["switchboard", "service", "create"].iter().chain(args),
        )?;
        match cli.command {
            super::super::Command::Service(ServiceCommand::Create { file, flags, .. }) => {
                Ok((file, flags))
            }
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn flags_make_an_api_definition() {
        let (file, flags) = create_flags(&[
            "acme",
            "--name",
            "Acme CRM",
            "--auth",
            "api-key",
            "--param",
            "api_key:API key:header",
            "--origin",
            "https://{domain}.acme.example",
            "--dynamic",
            "domain:Domain:[a-z]+",
            "--category",
            "crm",
        ])
        .unwrap();
        assert!(file.is_none());
        assert_eq!(
            definition_from_flags(flags).unwrap(),
            json!({
                "link_name": "acme",
                "display_name": "Acme CRM",
                "auth": {"type": "api_key", "params": [
                    {"name": "api_key", "display_name": "API key", "param_type": "header"}
                ]},
                "dynamic_params": [{"key": "domain", "display_name": "Domain", "pattern": "[a-z]+"}],
                "api_origins": ["https://{domain}.acme.example"],
                "category": "crm"
            })
        );

        let (_, flags) = create_flags(&[
            "b",
            "--name",
            "B",
            "--auth",
            "basic",
            "--origin",
            "https://b.example",
        ])
        .unwrap();
        assert_eq!(
            definition_from_flags(flags).unwrap()["auth"],
            json!({"type": "basic"})
        );

        // aws-sigv4: no --origin needed (the host defaults it).
        let (_, flags) = create_flags(&[
            "s3_logs",
            "--name",
            "S3 logs",
            "--auth",
            "aws-sigv4",
            "--aws-service",
            "s3",
            "--aws-region",
            "eu-west-3",
            "--dynamic",
            "bucket:Bucket",
        ])
        .unwrap();
        let def = definition_from_flags(flags).unwrap();
        assert_eq!(
            def["auth"],
            json!({"type": "aws_sigv4", "service": "s3", "region": "eu-west-3"})
        );
        assert_eq!(def["api_origins"], json!([]));

        for (args, says) in [
            (
                &[
                    "a",
                    "--name",
                    "A",
                    "--auth",
                    "api_key",
                    "--origin",
                    "https://a.example",
                ][..],
                "at least one --param",
            ),
            (
                &[
                    "b",
                    "--name",
                    "B",
                    "--auth",
                    "basic",
                    "--param",
                    "k:K:query",
                    "--origin",
                    "https://b.example",
                ][..],
                "--param is for api-key",
            ),
            (&["b", "--name", "B", "--auth", "basic"][..], "--origin"),
            (
                &[
                    "s",
                    "--name",
                    "S",
                    "--auth",
                    "aws-sigv4",
                    "--aws-service",
                    "s3",
                ][..],
                "--aws-region",
            ),
            (
                &[
                    "b",
                    "--name",
                    "B",
                    "--auth",
                    "basic",
                    "--aws-region",
                    "us-east-1",
                ][..],
                "for aws-sigv4 services",
            ),
        ] {
            let (_, flags) = create_flags(args).unwrap();
            let e = definition_from_flags(flags).unwrap_err();
            assert!(e.to_string().contains(says), "{args:?}: {e}");
        }
    }

    #[test]
    fn file_and_flags_do_not_mix() {
        let (file, _) = create_flags(&["--file", "acme.toml"]).unwrap();
        assert_eq!(file.unwrap(), PathBuf::from("acme.toml"));
        assert!(create_flags(&["--file", "acme.toml", "--name", "X"]).is_err());
        assert!(create_flags(&["acme", "--file", "acme.toml"]).is_err());
        // Without --file, LINK, --name and --auth are required.
        assert!(create_flags(&["acme", "--name", "Acme"]).is_err());
        assert!(create_flags(&[]).is_err());
        // A bad --param is refused by the parser with the reason.
        let e = create_flags(&[
            "acme",
            "--name",
            "A",
            "--auth",
            "api-key",
            "--param",
            "api_key:header",
        ])
        .unwrap_err();
        assert!(e.to_string().contains("NAME:DISPLAY:TYPE"), "{e}");
    }
}
