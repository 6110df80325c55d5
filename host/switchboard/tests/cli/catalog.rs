//! `switchboard service list --search/--category/--kind`, `service categories` and
//! `service client` against a host started in-process on port 0.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use switchboard::server::{self, ServeConfig};

fn run(args: &[&str], url: &str, data: &std::path::Path, stdin: &str) -> Output {
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

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[track_caller]
fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

#[tokio::test(flavor = "multi_thread")]
async fn catalogue_from_the_command_line() {
    const SECRET: &str = "canary-client-secret-51d0";
    let dir = tempfile::tempdir().unwrap();
    let running = server::spawn(ServeConfig::new(dir.path()), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let url = running.url();
    let data = dir.path().to_owned();
    tokio::task::spawn_blocking(move || {
        let sb = |args: &[&str], stdin: &str| run(args, &url, &data, stdin);

        let out = ok(&sb(
            &["service", "list", "--kind", "default", "--category", "crm"],
            "",
        ));
        assert!(
            out.contains("salesforce") && out.contains("hubspot"),
            "{out}"
        );
        assert!(!out.contains("github"), "{out}");
        for line in out.lines().skip(1) {
            assert!(line.contains(" default "), "{line}");
        }
        let out = ok(&sb(&["service", "list", "--search", "ZOHO"], ""));
        assert!(
            out.contains("zoho_crm") && out.contains("zoho_desk"),
            "{out}"
        );
        let out = ok(&sb(
            &["service", "list", "--search", "nothing-like-this"],
            "",
        ));
        assert!(out.contains("no services match"), "{out}");
        let out = ok(&sb(&["service", "categories", "--kind", "default"], ""));
        assert!(
            out.contains("crm") && out.contains("developer_tools"),
            "{out}"
        );

        let out = ok(&sb(&["service", "show", "github"], ""));
        assert!(out.contains("kind:         default"), "{out}");
        assert!(out.contains("oauth client: not configured"), "{out}");
        assert!(out.contains("docs:         https://"), "{out}");

        let out = sb(
            &[
                "service",
                "client",
                "github",
                "--client-id",
                "Iv1.cafe",
                "--client-secret-stdin",
            ],
            &format!("{SECRET}\n"),
        );
        let printed = ok(&out);
        assert!(
            printed.contains("set the OAuth client of github"),
            "{printed}"
        );
        assert!(!printed.contains(SECRET) && !text(&out.stderr).contains(SECRET));
        let out = ok(&sb(&["service", "show", "github"], ""));
        assert!(out.contains("oauth client: Iv1.cafe"), "{out}");

        // A default service cannot be edited, nor take a client when it has no OAuth.
        let out = sb(
            &[
                "service",
                "client",
                "stripe",
                "--client-id",
                "x",
                "--client-secret-stdin",
            ],
            "s\n",
        );
        assert_eq!(out.status.code(), Some(1));
        assert!(
            text(&out.stderr).contains("no OAuth client"),
            "{}",
            text(&out.stderr)
        );
        let out = sb(&["service", "delete", "github"], "");
        assert_eq!(out.status.code(), Some(1));
        assert!(
            text(&out.stderr).contains("create a custom service"),
            "{}",
            text(&out.stderr)
        );
    })
    .await
    .unwrap();
    running.stop().await.unwrap();
}
