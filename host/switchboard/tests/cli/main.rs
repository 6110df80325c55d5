//! The `switchboard` binary as an operator uses it, against a host started
//! in-process on port 0: exit codes and messages. (Deploying real plugins is
//! covered end to end in `tests/`.) One test binary for all of the CLI's tests: each
//! binary links the whole host.

mod catalog;

use std::process::{Command, Output};

use switchboard::server::{self, ServeConfig};

fn switchboard(args: &[&str], url: &str, data: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .env("SWITCHBOARD_URL", url)
        .env("SWITCHBOARD_DATA", data)
        .env_remove("SWITCHBOARD_TOKEN")
        .output()
        .expect("running switchboard")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn client_commands_report_errors_plainly() {
    let dir = tempfile::tempdir().unwrap();
    let running = server::spawn(ServeConfig::new(dir.path()), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let url = running.url();
    let data = dir.path().to_owned();

    let out = tokio::task::spawn_blocking({
        let (url, data) = (url.clone(), data.clone());
        move || {
            let list = switchboard(&["function", "list"], &url, &data);
            let junk = data.join("junk.wasm");
            std::fs::write(&junk, b"not wasm").unwrap();
            let deploy = switchboard(
                &["function", "deploy", "hello", junk.to_str().unwrap()],
                &url,
                &data,
            );
            let missing = switchboard(
                &["function", "deploy", "hello", "/nonexistent.wasm"],
                &url,
                &data,
            );
            let invoke = switchboard(
                &["function", "invoke", "ghost", "--input", "{}"],
                &url,
                &data,
            );
            let bad_json = switchboard(
                &["function", "invoke", "ghost", "--input", "{nope"],
                &url,
                &data,
            );
            let no_token = switchboard(
                &["function", "list"],
                &url,
                std::path::Path::new("/nonexistent"),
            );
            let wrong_token = Command::new(env!("CARGO_BIN_EXE_switchboard"))
                .args(["function", "list"])
                .env("SWITCHBOARD_URL", &url)
                .env("SWITCHBOARD_TOKEN", "sb_wrong")
                .output()
                .unwrap();
            (
                list,
                deploy,
                missing,
                invoke,
                bad_json,
                no_token,
                wrong_token,
            )
        }
    })
    .await
    .unwrap();
    let (list, deploy, missing, invoke, bad_json, no_token, wrong_token) = out;

    assert!(list.status.success(), "{}", text(&list.stderr));
    assert!(text(&list.stdout).contains("no functions"));

    assert!(!deploy.status.success());
    assert!(
        text(&deploy.stderr).contains("not a WebAssembly component"),
        "{}",
        text(&deploy.stderr)
    );

    assert!(!missing.status.success());
    assert!(text(&missing.stderr).contains("cannot read /nonexistent.wasm"));

    assert!(!invoke.status.success());
    assert!(
        text(&invoke.stderr).contains("function `ghost` not found"),
        "{}",
        text(&invoke.stderr)
    );

    assert!(!bad_json.status.success());
    assert!(text(&bad_json.stderr).contains("not valid JSON"));

    assert!(!no_token.status.success());
    assert!(
        text(&no_token.stderr).contains("SWITCHBOARD_TOKEN"),
        "{}",
        text(&no_token.stderr)
    );

    assert!(!wrong_token.status.success());
    assert!(
        text(&wrong_token.stderr).contains("not valid"),
        "{}",
        text(&wrong_token.stderr)
    );

    running.stop().await.unwrap();

    // With the host gone, the CLI says so.
    let down = tokio::task::spawn_blocking(move || switchboard(&["function", "list"], &url, &data))
        .await
        .unwrap();
    assert!(!down.status.success());
    assert!(
        text(&down.stderr).contains("is `switchboard serve` running?"),
        "{}",
        text(&down.stderr)
    );
}

/// Runs the binary with `stdin` as its standard input.
fn switchboard_with_stdin(args: &[&str], url: &str, data: &std::path::Path, stdin: &str) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .env("SWITCHBOARD_URL", url)
        .env("SWITCHBOARD_DATA", data)
        .env_remove("SWITCHBOARD_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running switchboard");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Asserts the command succeeded and returns its standard output.
#[track_caller]
fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Asserts the command failed with status 1 and a one-line `error: ...` containing
/// `says`; returns standard error.
#[track_caller]
fn fails(out: &Output, says: &str) -> String {
    let err = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout: {}\nstderr: {err}",
        text(&out.stdout)
    );
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains(says), "expected {says:?} in: {err}");
    err
}

const ACME_TOML: &str = r#"
link_name = "acme"
display_name = "Acme CRM"
api_origins = ["https://{domain}.acme.example"]
category = "crm"
description = "Acme's REST API"

[auth]
type = "api_key"
params = [{ name = "api_key", display_name = "API key", param_type = "header" }]

[[dynamic_params]]
key = "domain"
display_name = "Your Acme domain"
pattern = "[a-z0-9-]{1,40}"
"#;

#[tokio::test(flavor = "multi_thread")]
async fn services_connections_and_grants_from_the_command_line() {
    const CANARY: &str = "canary-7f3a9c-do-not-print";
    const CANARY2: &str = "canary-second-b41e07";
    let dir = tempfile::tempdir().unwrap();
    let running = server::spawn(ServeConfig::new(dir.path()), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let url = running.url();
    let data = dir.path().to_owned();

    tokio::task::spawn_blocking({
        let (url, data) = (url.clone(), data.clone());
        move || {
            let run = |args: &[&str]| switchboard(args, &url, &data);
            let no_secret = |out: &Output| {
                for s in [CANARY, CANARY2] {
                    assert!(!text(&out.stdout).contains(s), "{}", text(&out.stdout));
                    assert!(!text(&out.stderr).contains(s), "{}", text(&out.stderr));
                }
            };

            // A service from a TOML file, another from flags.
            let acme = data.join("acme.toml");
            std::fs::write(&acme, ACME_TOML).unwrap();
            let out = ok(&run(&[
                "service",
                "create",
                "--file",
                acme.to_str().unwrap(),
            ]));
            assert!(out.contains("created service acme"), "{out}");
            let out = ok(&run(&[
                "service",
                "create",
                "intranet",
                "--name",
                "Intranet",
                "--auth",
                "basic",
                "--origin",
                "https://intranet.example",
            ]));
            assert!(out.contains("created service intranet"), "{out}");
            fails(
                &run(&["service", "create", "--file", acme.to_str().unwrap()]),
                "acme",
            );
            let out = ok(&run(&["service", "list"]));
            assert!(out.contains("acme") && out.contains("intranet"), "{out}");
            let out = ok(&run(&["service", "show", "acme"]));
            assert!(out.contains("api_key") && out.contains("{domain}"), "{out}");

            // A connection, connected with its key on standard input.
            let out = ok(&run(&[
                "connection",
                "create",
                "acme_prod",
                "--service",
                "acme",
                "--name",
                "Acme (production)",
                "--param",
                "domain=zylker",
            ]));
            assert!(out.contains("not_connected"), "{out}");
            let connect = switchboard_with_stdin(
                &["connection", "connect", "acme_prod", "--value", "api_key=-"],
                &url,
                &data,
                &format!("{CANARY}\n"),
            );
            no_secret(&connect);
            let out = ok(&connect);
            assert!(out.contains("connected acme_prod"), "{out}");

            let show = run(&["connection", "show", "acme_prod"]);
            no_secret(&show);
            let out = ok(&show);
            assert!(out.contains("status:       connected"), "{out}");
            assert!(out.contains("https://zylker.acme.example"), "{out}");
            assert!(out.contains("invoke_url"), "the SDK snippet: {out}");
            let list = run(&["connection", "list"]);
            no_secret(&list);
            let out = ok(&list);
            assert!(
                out.lines().any(|l| l.contains("acme_prod")
                    && l.contains("acme ")
                    && l.contains("connected")),
                "{out}"
            );

            // A mistyped --value (no NAME=) is refused without being echoed.
            let typo = run(&["connection", "connect", "acme_prod", "--value", CANARY]);
            no_secret(&typo);
            fails(&typo, "NAME=VALUE");
            // Basic flags for an api_key connection.
            let wrong = switchboard_with_stdin(
                &[
                    "connection",
                    "connect",
                    "acme_prod",
                    "--username",
                    "ada",
                    "--password-stdin",
                ],
                &url,
                &data,
                &format!("{CANARY}\n"),
            );
            no_secret(&wrong);
            fails(&wrong, "api_key connection");

            // Editing the service revokes its connections.
            let edited = data.join("acme2.toml");
            std::fs::write(&edited, ACME_TOML.replace("Acme CRM", "Acme CRM v2")).unwrap();
            let out = ok(&run(&[
                "service",
                "edit",
                "acme",
                "--file",
                edited.to_str().unwrap(),
            ]));
            assert!(out.contains("acme_prod"), "{out}");
            let out = ok(&run(&["connection", "show", "acme_prod"]));
            assert!(out.contains("status:       revoked"), "{out}");

            // Connect again from a values file.
            let values = data.join("values.toml");
            std::fs::write(&values, format!("values = {{ api_key = \"{CANARY2}\" }}\n")).unwrap();
            let again = run(&[
                "connection",
                "connect",
                "acme_prod",
                "--values-file",
                values.to_str().unwrap(),
            ]);
            no_secret(&again);
            ok(&again);

            // Grants need an existing function.
            fails(
                &run(&["function", "grant", "ghost", "--connection", "acme_prod"]),
                "ghost",
            );

            // Bad input is refused with the reason.
            fails(
                &run(&[
                    "connection",
                    "create",
                    "Bad-Name",
                    "--service",
                    "acme",
                    "--name",
                    "Bad",
                    "--param",
                    "domain=zylker",
                ]),
                "Bad-Name",
            );
            fails(
                &run(&[
                    "connection",
                    "create",
                    "other",
                    "--service",
                    "nope",
                    "--name",
                    "Other",
                ]),
                "nope",
            );
            fails(&run(&["connection", "show", "ghost_conn"]), "ghost_conn");
            // A malformed flag is a usage error (clap's status 2) naming the form.
            let bad_param = run(&[
                "service",
                "create",
                "x",
                "--name",
                "X",
                "--auth",
                "api-key",
                "--param",
                "api_key:header",
                "--origin",
                "https://x.example",
            ]);
            assert_eq!(bad_param.status.code(), Some(2));
            assert!(text(&bad_param.stderr).contains("NAME:DISPLAY:TYPE"));

            let out = ok(&run(&["connection", "activity", "acme_prod"]));
            assert!(out.contains("no activity"), "{out}");
            ok(&run(&[
                "connection",
                "create",
                "wiki",
                "--service",
                "intranet",
                "--name",
                "Wiki",
            ]));
            let out = ok(&run(&["service", "delete", "intranet"]));
            assert!(out.contains("deleted service intranet"), "{out}");
            assert!(out.contains("wiki"), "{out}");
            // A connection whose service is gone cannot be connected; the host says why.
            let orphan = switchboard_with_stdin(
                &[
                    "connection",
                    "connect",
                    "wiki",
                    "--username",
                    "ada",
                    "--password-stdin",
                ],
                &url,
                &data,
                &format!("{CANARY}\n"),
            );
            no_secret(&orphan);
            fails(&orphan, "deleted");
        }
    })
    .await
    .unwrap();

    running.stop().await.unwrap();

    // Offline key rotation, then the host opens with the new key and the connection
    // is still connected.
    let rotate = tokio::task::spawn_blocking({
        let data = data.clone();
        move || {
            Command::new(env!("CARGO_BIN_EXE_switchboard"))
                .args(["admin", "rotate-key", "--data", data.to_str().unwrap()])
                .env_remove("SWITCHBOARD_DATA")
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let out = ok(&rotate);
    assert!(out.contains("re-sealed"), "{out}");
    assert!(out.contains("master.key"), "{out}");

    let running = server::spawn(ServeConfig::new(dir.path()), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let url = running.url();
    let show = tokio::task::spawn_blocking(move || {
        switchboard(&["connection", "show", "acme_prod"], &url, &data)
    })
    .await
    .unwrap();
    assert!(ok(&show).contains("status:       connected"));
    running.stop().await.unwrap();
}

/// Runs the binary with its standard output a pipe whose reader is already closed, as
/// in `switchboard service list | head -1` once `head` has its line.
fn switchboard_into_closed_pipe(args: &[&str], url: &str, data: &std::path::Path) -> Output {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .env("SWITCHBOARD_URL", url)
        .env("SWITCHBOARD_DATA", data)
        .env_remove("SWITCHBOARD_TOKEN")
        .stdout(writer)
        .output()
        .expect("running switchboard")
}

/// Parses a command's standard output as JSON.
fn json_of(out: &Output) -> serde_json::Value {
    let stdout = ok(out);
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn read_commands_print_the_api_views_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let running = server::spawn(ServeConfig::new(dir.path()), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let url = running.url();
    let data = dir.path().to_owned();
    tokio::task::spawn_blocking({
        let (url, data) = (url.clone(), data.clone());
        move || {
            let run = |args: &[&str]| switchboard(args, &url, &data);
            let acme = data.join("acme.toml");
            std::fs::write(&acme, ACME_TOML).unwrap();
            ok(&run(&[
                "service",
                "create",
                "--file",
                acme.to_str().unwrap(),
            ]));
            ok(&run(&[
                "connection",
                "create",
                "acme_prod",
                "--service",
                "acme",
                "--name",
                "Acme (production)",
                "--param",
                "domain=zylker",
            ]));

            let v = json_of(&run(&["function", "list", "--output", "json"]));
            assert_eq!(v, serde_json::json!({ "functions": [] }));

            let v = json_of(&run(&[
                "service", "list", "--output", "json", "--kind", "custom",
            ]));
            let services = v["services"].as_array().unwrap();
            assert_eq!(services.len(), 1, "{v}");
            assert_eq!(services[0]["link_name"], "acme");
            assert_eq!(services[0]["auth"]["type"], "api_key");
            assert_eq!(services[0]["connections"], 1);

            // The catalogue: default services, as JSON and as a table.
            let v = json_of(&run(&[
                "service", "list", "-o", "json", "--kind", "default",
            ]));
            let defaults = v["services"].as_array().unwrap();
            assert!(defaults.len() > 10, "{v}");
            assert!(defaults.iter().all(|s| s["kind"] == "default"), "{v}");
            let table = ok(&run(&["service", "list", "--kind", "default"]));
            let header = table.lines().next().unwrap();
            assert!(
                header.starts_with("LINK") && header.contains("CONNECTIONS"),
                "{table}"
            );
            assert_eq!(table.lines().count(), defaults.len() + 1, "{table}");

            let v = json_of(&run(&["service", "categories", "--output", "json"]));
            assert!(v["categories"].as_object().unwrap().len() > 3, "{v}");
            assert_eq!(
                v["categories"]["crm"].as_u64().map(|n| n > 0),
                Some(true),
                "{v}"
            );

            let v = json_of(&run(&["service", "show", "acme", "--output", "json"]));
            assert_eq!(v["display_name"], "Acme CRM");
            assert_eq!(v["dynamic_params"][0]["key"], "domain");

            let v = json_of(&run(&["connection", "list", "--output", "json"]));
            assert_eq!(v["connections"][0]["link_name"], "acme_prod", "{v}");
            assert_eq!(v["connections"][0]["status"], "not_connected");

            let v = json_of(&run(&[
                "connection",
                "show",
                "acme_prod",
                "--output",
                "json",
            ]));
            assert_eq!(v["params"]["domain"], "zylker");
            assert_eq!(v["service"]["link_name"], "acme");
            assert!(v["snippet"].as_str().unwrap().contains("invoke_url"), "{v}");

            let v = json_of(&run(&[
                "connection",
                "activity",
                "acme_prod",
                "--output",
                "json",
            ]));
            assert_eq!(
                v,
                serde_json::json!({ "connection": "acme_prod", "activity": [] })
            );

            // Function reads of an unknown function fail with the API's message, in
            // either format.
            for args in [
                &["function", "show", "ghost", "--output", "json"][..],
                &["function", "logs", "ghost", "--output", "json"][..],
                &["function", "grants", "ghost", "--output", "json"][..],
                &["function", "grants", "ghost"][..],
            ] {
                fails(&run(args), "ghost");
            }

            // A format that does not exist is a usage error naming the ones that do.
            let bad = run(&["connection", "list", "--output", "yaml"]);
            assert_eq!(bad.status.code(), Some(2));
            assert!(text(&bad.stderr).contains("json"), "{}", text(&bad.stderr));
        }
    })
    .await
    .unwrap();
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_closed_pipe_ends_a_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let running = server::spawn(ServeConfig::new(dir.path()), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let url = running.url();
    let data = dir.path().to_owned();
    tokio::task::spawn_blocking(move || {
        for args in [
            &["service", "list"][..],
            &["service", "list", "--output", "json"][..],
            &["service", "show", "github"][..],
            &["service", "categories"][..],
            &["function", "list"][..],
        ] {
            let out = switchboard_into_closed_pipe(args, &url, &data);
            assert!(
                out.status.success(),
                "{args:?}: {:?} {}",
                out.status,
                text(&out.stderr)
            );
            assert_eq!(text(&out.stderr), "", "{args:?}");
        }
        // An error still says what went wrong (on stderr, which is not the pipe).
        let out = switchboard_into_closed_pipe(&["service", "show", "ghost"], &url, &data);
        assert!(!out.status.success());
        assert!(text(&out.stderr).contains("ghost"), "{}", text(&out.stderr));
    })
    .await
    .unwrap();
    running.stop().await.unwrap();
}

/// `switchboard serve | head -1`, once `head` has gone: the banner cannot be written, and
/// the server keeps serving instead of panicking at start.
#[test]
fn serve_keeps_serving_when_its_stdout_is_a_closed_pipe() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    // A free loopback port: bound, read, released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("SWITCHBOARD_DATA", dir.path())
        .env_remove("SWITCHBOARD_MASTER_KEY")
        .stdout(writer)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("starting switchboard serve");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let answer = loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("serve exited with {status} instead of serving");
        }
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            if !out.is_empty() {
                break out;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "serve did not answer within 60 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
