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
#[derive(Debug, Default)]
pub struct CompileCache {
    entries: Mutex<HashMap<Key, Arc<Vec<u8>>>>,
    hits: AtomicU64,
}

type Key = ([u8; 32], [u8; 32]);

impl CompileCache {
    /// An empty cache, to share between hosts (`ServeConfig::compile_cache`).
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The key of `wasm` compiled under an engine with `engine_hash`.
    pub(super) fn key(engine_hash: [u8; 32], wasm: &[u8]) -> Key {
        (engine_hash, Sha256::digest(wasm).into())
    }

    /// The serialised component stored under `key`, if any.
    pub(super) fn get(&self, key: &Key) -> Option<Arc<Vec<u8>>> {
        let found = self
            .entries
            .lock()
            .expect("lock poisoned")
            .get(key)
            .cloned();
        if found.is_some() {
            self.hits.fetch_add(1, Ordering::Relaxed);
        }
        found
    }

    /// Stores a serialised component (a concurrent compile of the same bytes may have
    /// stored an equal one first; either is fine).
    pub(super) fn insert(&self, key: Key, serialized: Vec<u8>) {
        self.entries
            .lock()
            .expect("lock poisoned")
            .insert(key, Arc::new(serialized));
    }

    /// How many components it holds.
    pub fn len(&self) -> usize {
        self.entries.lock().expect("lock poisoned").len()
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
