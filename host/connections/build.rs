//! Embeds the default-service catalogue: writes `$OUT_DIR/catalog_files.rs`, a list of
//! every `src/catalog/services/*.toml` file as `(file name, include_str!(path))`, sorted
//! by name. Adding a service is adding a file; nothing is read at run time.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::{env, fs};

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let dir = manifest.join("src").join("catalog").join("services");
    // The directory's own change time moves when a file is added or removed; each file's
    // contents are tracked by `include_str!`.
    println!("cargo::rerun-if-changed=src/catalog/services");
    let mut files: Vec<(String, PathBuf)> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| {
            let name = p
                .file_name()
                .and_then(|n| n.to_str())
                .expect("UTF-8 file name")
                .to_owned();
            (name, p)
        })
        .collect();
    files.sort();
    let mut out = String::from(
        "/// Every catalogue file as (file name, contents), sorted by name; written by build.rs.\n\
         pub(super) static FILES: &[(&str, &str)] = &[\n",
    );
    for (name, path) in &files {
        let path = path.to_str().expect("UTF-8 path");
        writeln!(out, "    ({name:?}, include_str!({path:?})),").expect("write to a string");
    }
    out.push_str("];\n");
    let target =
        PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo")).join("catalog_files.rs");
    fs::write(&target, out).unwrap_or_else(|e| panic!("writing {}: {e}", target.display()));
}
