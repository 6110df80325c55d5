//! Test fixture: a component that imports nothing unusual but exports `go` instead of `run`,
//! which the host must reject at upload.

/// Generated from `wit/no-run.wit` by `sdk/generate-bindings.sh`.
#[allow(
    unsafe_code,
    unused_qualifications,
    missing_debug_implementations,
    unreachable_pub,
    clippy::all,
    reason = "wit-bindgen generated code"
)]
mod bindings {
    include!("bindings.rs");
}

struct NoRun;

impl bindings::Guest for NoRun {
    fn go() -> String {
        "gone".to_owned()
    }
}

#[allow(unsafe_code, reason = "wit-bindgen generated export")]
mod export {
    use super::{NoRun, bindings};
    bindings::export!(NoRun with_types_in bindings);
}
