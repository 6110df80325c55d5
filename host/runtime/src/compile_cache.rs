//! Compiled components shared by the runtimes of one process, for test suites that start
//! many hosts: each plugin is compiled by Cranelift once per engine configuration instead
//! of once per host. A production host has none (`ServeConfig::compile_cache` is `None`):
//! it compiles what it is sent once and keeps the artifact in its database.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

/// Serialised components keyed by the engine's compatibility hash and the SHA-256 of the
/// component's bytes. Only [`super::Runtime::compile`] writes it, with what wasmtime
/// serialised, so what it holds is safe to deserialise under an engine of the same hash.
///
/// Single flight: hosts that deploy the same plugin at the same moment (parallel tests)
/// compile it once; the others wait for that compile and deserialise its result.
#[derive(Debug, Default)]
pub struct CompileCache {
    entries: Mutex<HashMap<Key, Arc<Slot>>>,
    hits: AtomicU64,
}

type Key = ([u8; 32], [u8; 32]);

/// One key's entry: empty until the first compile of it succeeds. Its lock is held for
/// the length of that compile, so a concurrent compile of the same key waits for it.
pub(super) type Slot = Mutex<Option<Arc<Vec<u8>>>>;

impl CompileCache {
    /// An empty cache, to share between hosts (`ServeConfig::compile_cache`).
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The key of `wasm` compiled under an engine with `engine_hash`.
    pub(super) fn key(engine_hash: [u8; 32], wasm: &[u8]) -> Key {
        (engine_hash, Sha256::digest(wasm).into())
    }

    /// The entry of `key`, created empty if there is none: lock it, use what it holds
    /// (and count a hit with [`Self::hit`]) or compile and fill it while holding the lock.
    pub(super) fn slot(&self, key: Key) -> Arc<Slot> {
        self.entries
            .lock()
            .expect("lock poisoned")
            .entry(key)
            .or_default()
            .clone()
    }

    /// Counts a compile saved.
    pub(super) fn hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }

    /// How many components it holds.
    pub fn len(&self) -> usize {
        self.entries
            .lock()
            .expect("lock poisoned")
            .values()
            .filter(|slot| slot.lock().is_ok_and(|held| held.is_some()))
            .count()
    }

    /// How many compiles it saved (components deserialised from it).
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
