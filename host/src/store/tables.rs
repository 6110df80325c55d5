//! Every redb table, in one place. Keys are function names, or (name, version);
//! values are JSON records, raw component bytes, or artifacts.

use redb::TableDefinition;

/// name → JSON [`super::FunctionRecord`].
pub(super) const FUNCTIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("functions");
/// (name, version) → JSON [`super::VersionRecord`].
pub(super) const VERSIONS: TableDefinition<(&str, u32), &[u8]> =
    TableDefinition::new("function_versions");
/// (name, version) → the component as uploaded.
pub(super) const COMPONENTS: TableDefinition<(&str, u32), &[u8]> =
    TableDefinition::new("function_components");
/// (name, version) → 32-byte engine hash followed by the precompiled artifact.
pub(super) const ARTIFACTS: TableDefinition<(&str, u32), &[u8]> =
    TableDefinition::new("function_artifacts");
