//! The `switchboard` binary as an operator uses it, against a host started
//! in-process on port 0: exit codes and messages. (Deploying real plugins is
//! covered end to end in `tests/`.)

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
