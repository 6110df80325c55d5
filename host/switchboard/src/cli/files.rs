//! Reading the JSON or TOML documents the CLI takes with `--file` / `--values-file`.

use std::path::Path;

use anyhow::{Context, anyhow, bail};
use serde_json::Value;

/// Which syntax a file is read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Toml,
    /// Unknown extension: JSON, then TOML.
    Either,
}

fn format_of(path: &Path) -> Format {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("json") => Format::Json,
        Some("toml") => Format::Toml,
        _ => Format::Either,
    }
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()
        .get(..offset.min(text.len()))
        .map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
        + 1
}

/// Parses `text` (read from `path`) as JSON or TOML by the file's extension (`.json`,
/// `.toml`; anything else tries JSON, then TOML). With `secret` set, parse errors say
/// where the problem is but never quote the file (TOML errors would show the line).
pub(super) fn parse_document(path: &Path, text: &str, secret: bool) -> anyhow::Result<Value> {
    let shown = path.display();
    let json = || -> anyhow::Result<Value> {
        serde_json::from_str::<Value>(text).map_err(|e| {
            // serde_json's syntax errors give a position, never the text.
            anyhow!("{shown} is not valid JSON: {e}")
        })
    };
    let toml = || -> anyhow::Result<Value> {
        toml::from_str::<Value>(text).map_err(|e| {
            if secret {
                let line = e.span().map_or(0, |s| line_of(text, s.start));
                anyhow!(
                    "{shown} is not valid TOML (near line {line}; the file is not quoted because it holds secrets)"
                )
            } else {
                anyhow!("{shown} is not valid TOML: {}", e.to_string().trim_end())
            }
        })
    };
    let value = match format_of(path) {
        Format::Json => json()?,
        Format::Toml => toml()?,
        Format::Either => match json() {
            Ok(v) => v,
            Err(json_err) => toml().map_err(|toml_err| {
                anyhow!(
                    "{shown} is neither JSON nor TOML (name it .json or .toml for a precise error)\n  as JSON: {json_err:#}\n  as TOML: {toml_err:#}"
                )
            })?,
        },
    };
    if !value.is_object() {
        bail!("{shown} must hold a JSON object or a TOML table");
    }
    Ok(value)
}

/// Reads and parses a document file; see [`parse_document`]. A document that mentions
/// a secret (a service file with its `client_secret`) is treated as secret whatever the
/// caller says: its parse errors give positions only.
pub(super) fn read_document(path: &Path, secret: bool) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse_document(path, &text, secret || text.contains("secret"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_syntax_by_extension() {
        let toml_text = "link_name = \"acme\"\n[auth]\ntype = \"basic\"\n";
        let v = parse_document(Path::new("s.toml"), toml_text, false).unwrap();
        assert_eq!(v["auth"]["type"], "basic");
        let v = parse_document(Path::new("s.json"), r#"{"link_name":"acme"}"#, false).unwrap();
        assert_eq!(v["link_name"], "acme");
        // Unknown extension: JSON first, then TOML.
        let v = parse_document(Path::new("s.conf"), toml_text, false).unwrap();
        assert_eq!(v["link_name"], "acme");
        let v = parse_document(Path::new("s"), r#"{"a":1}"#, false).unwrap();
        assert_eq!(v["a"], 1);
        // A .json file is not read as TOML.
        let e = parse_document(Path::new("s.json"), toml_text, false).unwrap_err();
        assert!(e.to_string().contains("not valid JSON"), "{e}");
        let e = parse_document(Path::new("s.txt"), "{nope", false).unwrap_err();
        assert!(e.to_string().contains("neither JSON nor TOML"), "{e}");
        let e = parse_document(Path::new("s.json"), "[1]", false).unwrap_err();
        assert!(e.to_string().contains("must hold"), "{e}");
    }

    #[test]
    fn secret_files_are_never_quoted_in_errors() {
        let text = "username = \"ada\"\npassword = canary-s3cret\n";
        let e = parse_document(Path::new("v.toml"), text, true).unwrap_err();
        let msg = format!("{e:#}");
        assert!(!msg.contains("canary-s3cret"), "{msg}");
        assert!(msg.contains("line 2"), "{msg}");
        let e =
            parse_document(Path::new("v.json"), "{\"password\": canary-s3cret}", true).unwrap_err();
        assert!(!format!("{e:#}").contains("canary-s3cret"));
        let e = parse_document(Path::new("v"), "password = canary-s3cret", true).unwrap_err();
        assert!(!format!("{e:#}").contains("canary-s3cret"));
    }
}
