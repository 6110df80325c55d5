//! What the client commands print: `--output table` (the default, for people) or
//! `--output json` (the API's views, for scripts), written so that a closed pipe
//! (`switchboard service list | head -1`) ends the command quietly.
//!
//! Rust ignores SIGPIPE, so `println!` panics when the reader has gone. Everything here
//! writes with [`outln!`], which returns the `io::Error` instead; [`is_broken_pipe`]
//! lets `main` turn that one into a quiet success.

use std::io::Write;

use clap::{Args, ValueEnum};
use comfy_table::{CellAlignment, ContentArrangement, Table};
use serde::Serialize;

/// Writes one line to standard output; `?` passes a write error (a closed pipe) up.
macro_rules! outln {
    () => {
        ::std::io::Write::write_all(&mut ::std::io::stdout().lock(), b"\n")?
    };
    ($($arg:tt)*) => {
        {
            use ::std::io::Write as _;
            ::std::writeln!(::std::io::stdout().lock(), $($arg)*)?
        }
    };
}
pub(super) use outln;

/// `--output` values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub(super) enum Format {
    /// Columns and labelled lines, for reading.
    #[default]
    Table,
    /// The API's JSON views, for scripts (`jq`).
    Json,
}

/// The `--output` flag of the read commands.
#[derive(Debug, Clone, Copy, Args)]
pub(super) struct OutputArgs {
    /// How to print the answer: `table` for people, `json` (the API's views) for scripts.
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Table)]
    pub(super) output: Format,
}

impl OutputArgs {
    /// Whether JSON was asked for.
    pub(super) fn json(self) -> bool {
        self.output == Format::Json
    }
}

/// Prints a view as pretty JSON.
pub(super) fn print_json(view: &impl Serialize) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, view)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

/// A borderless table with `header`: columns two spaces apart, never wrapped.
pub(super) fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(comfy_table::presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.to_vec());
    t
}

/// Right-aligns the (numeric) columns `columns` of `t`.
pub(super) fn align_right(t: &mut Table, columns: &[usize]) {
    for &i in columns {
        if let Some(c) = t.column_mut(i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
}

/// Prints `t`, its lines without trailing spaces, flush with the left margin.
pub(super) fn print_table(t: &mut Table) -> anyhow::Result<()> {
    for c in t.column_iter_mut() {
        c.set_padding((0, 2));
    }
    let text = t.trim_fmt();
    let mut out = std::io::stdout().lock();
    for line in text.lines() {
        writeln!(out, "{}", line.trim_end())?;
    }
    out.flush()?;
    Ok(())
}

/// `-` for nothing: an absent or empty text.
pub(super) fn or_dash(s: Option<&str>) -> String {
    match s {
        Some(s) if !s.is_empty() => s.to_owned(),
        _ => "-".to_owned(),
    }
}

/// Items joined by `, `, or `-` when there are none.
pub(super) fn list_or_dash(items: &[String]) -> String {
    if items.is_empty() {
        "-".to_owned()
    } else {
        items.join(", ")
    }
}

/// Whether `e` is (caused by) a write to a pipe whose reader has gone.
pub(super) fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<serde_json::Error>()
                .and_then(|j| j.io_error_kind())
                .is_some_and(|k| k == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_pipes_are_recognised_through_context() {
        let e = anyhow::Error::from(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
            .context("printing the list");
        assert!(is_broken_pipe(&e));
        let e = anyhow::Error::from(std::io::Error::from(std::io::ErrorKind::PermissionDenied));
        assert!(!is_broken_pipe(&e));
        assert!(!is_broken_pipe(&anyhow::anyhow!("function `x` not found")));
    }

    #[test]
    fn tables_are_plain_columns() {
        let mut t = table(&["NAME", "COUNT"]);
        t.add_row(vec!["alpha", "7"]);
        t.add_row(vec!["b", "12"]);
        align_right(&mut t, &[1]);
        for c in t.column_iter_mut() {
            c.set_padding((0, 2));
        }
        let text = t.trim_fmt();
        let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
        assert_eq!(lines, ["NAME   COUNT", "alpha      7", "b         12"]);
    }
}
