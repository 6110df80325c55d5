//! The `switchboard` binary as an operator uses it, against a host started
//! in-process on port 0: exit codes and messages. (Deploying real plugins is
//! covered end to end in `tests/`.) One test binary for all of the CLI's tests: each
//! binary links the whole host.

mod catalog;

use std::process::{Command, Output};

use switchboard_host::server::{self, ServeConfig};

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
