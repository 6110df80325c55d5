//! Test fixture: a component that imports nothing unusual but exports `go` instead of `run`,
//! which the host must reject at upload.

#[allow(
    unsafe_code,
    unused_qualifications,
    reason = "wit-bindgen generated code"
)]
mod bindings {
    wit_bindgen::generate!({
        inline: "
            package switchboard-test:no-run;

            world no-run {
                export go: func() -> string;
            }
        ",
    });
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
