//! The host side of the `switchboard:plugin` WIT world (`wit/plugin.wit`), the
//! only place `bindgen!` runs. Only the items the rest of the host needs are re-exported.

mod generated {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "plugin",
        imports: { default: async },
        exports: { default: async },
    });
}

/// The world: `add_to_linker` for the host's imports.
pub(crate) use generated::Plugin;
/// Pre-instantiated plugin: exports type-checked, imports resolved.
pub(crate) use generated::PluginPre;
/// The `http` interface: request, response, error types and the `Host` trait.
pub(crate) use generated::switchboard::plugin::http;
/// The `log` interface.
pub(crate) use generated::switchboard::plugin::log;
