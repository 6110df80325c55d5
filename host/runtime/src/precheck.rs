//! Bounds on what a component may ask the compiler to do, checked by a single
//! parse (no validation, no compilation) before Cranelift sees it. Cranelift's
//! memory grows with the number and size of functions: a 4 MB upload of
//! 1,000,000 empty functions once took the host to 5.5 GiB.

use wasmparser::{Encoding, Parser, Payload};

use super::DeployError;

/// Limits on one component's code, checked before compiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompileLimits {
    /// Functions defined across all core modules (imports not counted).
    pub max_functions: u32,
    /// Bytes of function bodies across all core modules.
    pub max_code_bytes: u64,
    /// Bytes of one function body.
    pub max_function_bytes: u32,
    /// Locals declared by one function.
    pub max_locals_per_function: u32,
    /// Core modules in the component (nested components included).
    pub max_core_modules: u32,
    /// Linear memories defined across all core modules.
    pub max_memories: u32,
    /// Tables defined across all core modules.
    pub max_tables: u32,
    /// Data segments across all core modules.
    pub max_data_segments: u32,
    /// Globals defined across all core modules.
    pub max_globals: u32,
}

impl Default for CompileLimits {
    /// Generous for real plugins: a Rust plugin using serde and the SDK has a few
    /// thousand functions in one core module and a few small shim modules.
    fn default() -> Self {
        Self {
            max_functions: 50_000,
            max_code_bytes: 16 * 1024 * 1024,
            max_function_bytes: 1024 * 1024,
            max_locals_per_function: 10_000,
            max_core_modules: 16,
            max_memories: 4,
            max_tables: 8,
            max_data_segments: 10_000,
            max_globals: 10_000,
        }
    }
}

fn over(what: &str, value: u64, limit: u64) -> DeployError {
    DeployError::OverLimit(format!(
        "the component has {value} {what}; the limit is {limit}. This is checked before compiling: \
         split the plugin, or build it in release mode (`--release`) so it is smaller"
    ))
}

#[derive(Default)]
struct Totals {
    functions: u64,
    code_bytes: u64,
    core_modules: u64,
    memories: u64,
    tables: u64,
    data_segments: u64,
    globals: u64,
}

/// Checks `wasm` against `limits` by parsing its sections (fast, linear in its
/// size, allocating almost nothing).
///
/// # Errors
/// [`DeployError::OverLimit`] naming the limit and the value, or
/// [`DeployError::NotAComponent`] when the bytes do not parse.
pub fn check(wasm: &[u8], limits: &CompileLimits) -> Result<(), DeployError> {
    let mut t = Totals::default();
    let bad = |e: wasmparser::BinaryReaderError| {
        DeployError::NotAComponent(format!("invalid component: {e}"))
    };
    let check = |what: &str, value: u64, limit: u64| {
        if value > limit {
            Err(over(what, value, limit))
        } else {
            Ok(())
        }
    };
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.map_err(bad)? {
            Payload::Version {
                encoding: Encoding::Module,
                ..
            } => {
                t.core_modules += 1;
                check(
                    "core modules",
                    t.core_modules,
                    limits.max_core_modules.into(),
                )?;
            }
            Payload::FunctionSection(r) => {
                t.functions += u64::from(r.count());
                check(
                    "functions (across its core modules)",
                    t.functions,
                    limits.max_functions.into(),
                )?;
            }
            Payload::CodeSectionStart { count, size, .. } => {
                // The code section may declare more bodies than the function section.
                check(
                    "function bodies in one code section",
                    count.into(),
                    limits.max_functions.into(),
                )?;
                t.code_bytes += u64::from(size);
                check(
                    "bytes of function code",
                    t.code_bytes,
                    limits.max_code_bytes,
                )?;
            }
            Payload::CodeSectionEntry(body) => {
                check(
                    "bytes in one function body",
                    body.range().len() as u64,
                    limits.max_function_bytes.into(),
                )?;
                let mut locals = body.get_locals_reader().map_err(bad)?;
                let mut declared = 0u64;
                for _ in 0..locals.get_count() {
                    let (n, _) = locals.read().map_err(bad)?;
                    declared += u64::from(n);
                    check(
                        "locals in one function",
                        declared,
                        limits.max_locals_per_function.into(),
                    )?;
                }
            }
            Payload::MemorySection(r) => {
                t.memories += u64::from(r.count());
                check("linear memories", t.memories, limits.max_memories.into())?;
            }
            Payload::TableSection(r) => {
                t.tables += u64::from(r.count());
                check("tables", t.tables, limits.max_tables.into())?;
            }
            Payload::DataSection(r) => {
                t.data_segments += u64::from(r.count());
                check(
                    "data segments",
                    t.data_segments,
                    limits.max_data_segments.into(),
                )?;
            }
            Payload::GlobalSection(r) => {
                t.globals += u64::from(r.count());
                check("globals", t.globals, limits.max_globals.into())?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Test helpers: hand-made binaries (the format is small enough to write out). Built
/// for this crate's tests and, with the `testing` feature, for other crates' tests.
#[cfg(any(test, feature = "testing"))]
pub mod build {
    fn leb(mut n: u64, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    fn section(id: u8, body: &[u8], out: &mut Vec<u8>) {
        out.push(id);
        leb(body.len() as u64, out);
        out.extend_from_slice(body);
    }

    /// A core module with `functions` functions `() -> ()`, each declaring `locals` i32 locals.
    pub fn module(functions: u32, locals: u32) -> Vec<u8> {
        let mut m = b"\0asm\x01\0\0\0".to_vec();
        section(1, &[1, 0x60, 0, 0], &mut m);
        let mut funcs = Vec::new();
        leb(functions.into(), &mut funcs);
        funcs.extend(std::iter::repeat_n(0u8, functions as usize));
        section(3, &funcs, &mut m);
        let mut body = Vec::new();
        if locals == 0 {
            body.push(0);
        } else {
            body.push(1);
            leb(locals.into(), &mut body);
            body.push(0x7f);
        }
        body.push(0x0b);
        let mut code = Vec::new();
        leb(functions.into(), &mut code);
        for _ in 0..functions {
            leb(body.len() as u64, &mut code);
            code.extend_from_slice(&body);
        }
        section(10, &code, &mut m);
        m
    }

    /// A component holding `modules` copies of `module`.
    pub fn component(module: &[u8], modules: u32) -> Vec<u8> {
        let mut c = b"\0asm\x0d\0\x01\0".to_vec();
        for _ in 0..modules {
            section(1, module, &mut c);
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::build::{component, module};
    use super::*;

    fn err(wasm: &[u8]) -> String {
        check(wasm, &CompileLimits::default())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn small_components_pass() {
        check(&component(&module(10, 3), 2), &CompileLimits::default()).unwrap();
    }

    #[test]
    fn each_limit_is_named_with_its_value() {
        let e = err(&component(&module(50_001, 0), 1));
        assert!(
            e.contains("50001 functions") && e.contains("limit is 50000"),
            "{e}"
        );
        let e = err(&component(&module(30_000, 0), 2));
        assert!(e.contains("60000 functions"), "{e}");
        let e = err(&component(&module(1, 10_001), 1));
        assert!(
            e.contains("10001 locals in one function") && e.contains("10000"),
            "{e}"
        );
        let e = err(&component(&module(1, 0), 17));
        assert!(
            e.contains("17 core modules") && e.contains("limit is 16"),
            "{e}"
        );
        let tight = CompileLimits {
            max_code_bytes: 100,
            ..CompileLimits::default()
        };
        let e = check(&component(&module(100, 0), 1), &tight)
            .unwrap_err()
            .to_string();
        assert!(e.contains("bytes of function code"), "{e}");
    }

    #[test]
    fn a_million_functions_are_refused_quickly() {
        let bomb = component(&module(1_000_000, 0), 1);
        assert!(bomb.len() < 5 * 1024 * 1024);
        let started = std::time::Instant::now();
        let e = err(&bomb);
        assert!(e.contains("1000000 functions"), "{e}");
        // It stops at the function section's count, before reading any body.
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn garbage_is_not_a_component() {
        let e = check(b"\0asm\x0d\0\x01\0\x01\xff", &CompileLimits::default()).unwrap_err();
        assert!(matches!(e, DeployError::NotAComponent(_)), "{e}");
    }
}
