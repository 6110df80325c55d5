//! The wasmtime side of the host: one engine and linker for the process, one
//! compiled component and `InstancePre` per function version, one `Store` per call.
//!
//! All wasmtime configuration lives here. Three kinds of state stay apart:
//! process-wide ([`Runtime`]: engine, linker, epoch ticker, concurrency permits),
//! per version ([`Loaded`]), and per call ([`CallState`], dropped with its store).

mod admission;
mod bindings;
mod compile_cache;
pub mod precheck;
mod state;

use std::hash::Hasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store,
};

pub use compile_cache::CompileCache;
pub use precheck::CompileLimits;
pub use state::LogLine;
use state::{CallState, DeadlineExceeded, MemoryLimiter};
pub use switchboard_model::limits::{MAX_REQUESTS, MAX_TIMEOUT_MS};
use switchboard_model::records::Artifact;
pub use switchboard_model::{CallError, InvocationContext, Limits};
use switchboard_outbound::{ConnectionBroker, NoConnections, Outbound, Policy};

/// How often the epoch ticks. A running guest yields to the async executor at
/// every tick and is interrupted at the first tick past its deadline.
const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Bytes of each linear memory slot kept resident between calls when the
/// kernel has `PAGEMAP_SCAN`: up to this much of what a call dirtied is
/// restored in place (only dirty pages are touched); dirty pages beyond it are
/// `madvise`d away. It also bounds the memory an idle slot keeps: at most
/// `total_memories` × 1 MiB (256 MiB with the default 128 slots), and in
/// practice only the pages functions really write (`hello` writes about 4).
const MEMORY_KEEP_RESIDENT_PAGEMAP: usize = 1024 * 1024;
/// Without `PAGEMAP_SCAN` the first `keep_resident` bytes of a slot are
/// memset on every reset whether touched or not, so keep that small.
const MEMORY_KEEP_RESIDENT: usize = 64 * 1024;
/// Tables are small; with `PAGEMAP_SCAN` only their dirty pages are reset.
/// 0 would disable the scan for tables and send every table reset through
/// `madvise`, which doubles the cost of a `hello` call.
const TABLE_KEEP_RESIDENT: usize = 16 * 1024;

/// Imports a component may have, as `namespace:package/interface` (any version).
/// Rust's standard library for wasm32-wasip2 imports the WASI ones even when it
/// never calls them; they are linked with an empty environment, no arguments,
/// no stdin and discarded stdout/stderr. Files and sockets are never linked.
pub const ALLOWED_IMPORTS: &[&str] = &[
    "switchboard:plugin/http",
    "switchboard:plugin/log",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:clocks/wall-clock",
    "wasi:clocks/monotonic-clock",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
];

/// Process-wide runtime settings.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Calls that may run at once; further calls wait for a slot.
    pub max_concurrency: u32,
    /// Calls of one function that may run at once unless its deploy says
    /// otherwise; 0: half of `max_concurrency` (at least 1).
    pub max_concurrency_per_function: u32,
    /// The largest `memory_mib` a function may ask for.
    pub max_memory_mib: u32,
    /// Host-wide memory budget in MiB: the `memory_mib` of all running calls
    /// together. A call that does not fit waits, up to its deadline.
    pub memory_budget_mib: u32,
    /// Largest result (`run`'s output or error string) a call may return, in bytes.
    pub max_output_bytes: usize,
    /// Bounds on a component's code, checked before compiling it.
    pub compile_limits: CompileLimits,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            max_concurrency: 128,
            max_concurrency_per_function: 0,
            max_memory_mib: 512,
            memory_budget_mib: 4096,
            max_output_bytes: 4 * 1024 * 1024,
            compile_limits: CompileLimits::default(),
        }
    }
}

impl RuntimeConfig {
    /// The per-function cap for a function deployed with `max_concurrency` 0.
    pub fn default_per_function(&self) -> u32 {
        match self.max_concurrency_per_function {
            0 => (self.max_concurrency / 2).max(1),
            n => n.min(self.max_concurrency),
        }
    }
}

/// Why a component was refused at deploy. The message says what to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeployError {
    /// Not a WebAssembly component at all.
    #[error("{0}")]
    NotAComponent(String),
    /// The component does not target the `switchboard:plugin` world.
    #[error("{0}")]
    WrongWorld(String),
    /// The component is over a [`CompileLimits`] bound; nothing was compiled.
    #[error("{0}")]
    OverLimit(String),
}

/// Counters an operator (and the tests) can read.
#[derive(Debug, Default)]
pub struct Stats {
    /// Components compiled from source (deploys, and loads under a changed engine).
    pub compiled: AtomicU64,
    /// Compilations handed to Cranelift, including ones that failed; a component
    /// refused by [`CompileLimits`] never gets here.
    pub compiles_started: AtomicU64,
    /// Precompiled artifacts loaded without compiling.
    pub deserialized: AtomicU64,
    /// Calls started.
    pub calls: AtomicU64,
}

/// A function version ready to run: compiled, linked, exports checked.
pub struct Loaded {
    pre: bindings::PluginPre<CallState>,
}

impl std::fmt::Debug for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loaded").finish_non_exhaustive()
    }
}

/// What one call needs besides its input.
#[derive(Debug, Clone)]
pub struct CallSpec {
    /// Limits of the version being called.
    pub limits: Limits,
    /// Outbound policy of the version being called.
    pub policy: Arc<Policy>,
}

/// The result of a call and what it logged.
#[derive(Debug)]
pub struct CallOutcome {
    /// The function's JSON output, or why there is none.
    pub result: Result<String, CallError>,
    /// Lines the guest logged (bounded).
    pub logs: Vec<LogLine>,
    /// Wall-clock time of the call, including waiting for a slot.
    pub duration: Duration,
}

/// Process-wide wasmtime state.
pub struct Runtime {
    engine: Engine,
    linker: Linker<CallState>,
    engine_hash: [u8; 32],
    admission: Arc<admission::Admission>,
    outbound: Arc<Outbound>,
    broker: Arc<dyn ConnectionBroker>,
    config: RuntimeConfig,
    stats: Stats,
    pagemap_scan: bool,
    /// Test suites share compiled components between hosts; `None` in production.
    compile_cache: Option<Arc<CompileCache>>,
    // Held for its `Drop`, which stops the epoch thread.
    _ticker: Ticker,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("config", &self.config)
            .field("stats", &self.stats)
            .field("pagemap_scan", &self.pagemap_scan)
            .finish_non_exhaustive()
    }
}

/// Feeds `Hash` output into SHA-256 so the engine's compatibility hash is a
/// stable 32-byte value we can store.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        unreachable!("only `write` is used")
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

impl Runtime {
    /// Builds the engine (pooling allocator, copy-on-write memory images, epoch
    /// interruption), the linker, and starts the epoch ticker thread.
    ///
    /// # Errors
    /// wasmtime rejected the configuration (e.g. the pool does not fit in the
    /// address space).
    pub fn new(config: RuntimeConfig, outbound: Arc<Outbound>) -> anyhow::Result<Self> {
        let mut pool = PoolingAllocationConfig::default();
        let slots = config.max_concurrency.max(1);
        // A Rust wasip2 component holds a few core instances (the program and
        // small shims) and at most two memories; leave room.
        pool.total_component_instances(slots)
            .total_core_instances(slots * 8)
            .total_memories(slots * 2)
            .total_tables(slots * 8)
            .total_stacks(slots)
            .max_memories_per_component(4)
            .max_tables_per_component(8)
            .max_core_instances_per_component(16)
            .max_memory_size(config.max_memory_mib as usize * 1024 * 1024)
            .table_keep_resident(TABLE_KEEP_RESIDENT);
        // Resetting a memory slot when its store drops is most of the cost of a
        // call to a small function. Without `PAGEMAP_SCAN` wasmtime memsets the
        // first `keep_resident` bytes and `madvise`s the rest away: every page
        // the guest touched (stack, data, heap) is unmapped (a TLB shootdown to
        // the other cores) and faults back in on the next call, about 4 µs a
        // page on this project's VMs. With it (Linux 6.7+), wasmtime asks the
        // kernel which pages were written and restores just those in place
        // (zeros, or the bytes of the CoW image), so they stay mapped. Either
        // way the next instance sees exactly the pristine initial memory;
        // `Auto` falls back to the `madvise` path where the ioctl is missing.
        let pagemap_scan = PoolingAllocationConfig::is_pagemap_scan_available();
        if pagemap_scan {
            pool.pagemap_scan(Enabled::Auto)
                .linear_memory_keep_resident(MEMORY_KEEP_RESIDENT_PAGEMAP);
        } else {
            pool.linear_memory_keep_resident(MEMORY_KEEP_RESIDENT);
        }

        let mut c = Config::new();
        c.wasm_component_model(true)
            .epoch_interruption(true)
            .memory_init_cow(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&c)?;

        let mut hasher = Sha256Hasher(Sha256::new());
        std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut hasher);
        let engine_hash = hasher.0.finalize().into();

        let mut linker = Linker::new(&engine);
        state::add_wasi_to_linker(&mut linker)?;
        bindings::Plugin::add_to_linker::<_, HasSelf<CallState>>(&mut linker, |s| s)?;

        if config.max_memory_mib > config.memory_budget_mib {
            anyhow::bail!(
                "the largest memory limit a function may ask for ({} MiB, --max-memory-mib) is more \
                 than the host's memory budget ({} MiB, --memory-budget-mib): such a call could never run",
                config.max_memory_mib,
                config.memory_budget_mib
            );
        }
        let ticker = Ticker::start(engine.clone());
        Ok(Self {
            engine,
            linker,
            engine_hash,
            admission: admission::Admission::new(
                slots as usize,
                u64::from(config.memory_budget_mib) * 1024 * 1024,
            ),
            outbound,
            broker: Arc::new(NoConnections),
            config,
            stats: Stats::default(),
            pagemap_scan,
            compile_cache: None,
            _ticker: ticker,
        })
    }

    /// Uses `broker` for `invoke-url` with a connection (the default knows none).
    #[must_use]
    pub fn with_connections(mut self, broker: Arc<dyn ConnectionBroker>) -> Self {
        self.broker = broker;
        self
    }

    /// Shares compiled components with the other runtimes that hold `cache` (test suites
    /// that start many hosts; see [`CompileCache`]). A component found there is
    /// deserialised instead of compiled, and still counts in [`Stats::compiled`].
    #[must_use]
    pub fn with_compile_cache(mut self, cache: Option<Arc<CompileCache>>) -> Self {
        self.compile_cache = cache;
        self
    }

    /// Identifies the engine's code format; an artifact made under another hash
    /// must be recompiled.
    pub fn engine_hash(&self) -> [u8; 32] {
        self.engine_hash
    }

    /// Runtime settings.
    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// Counters since start.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Whether memory slots are reset with Linux's `PAGEMAP_SCAN` (only dirty
    /// pages restored in place) rather than `madvise`. It decides most of the
    /// cost of a short call; the benchmark prints it.
    pub fn pagemap_scan(&self) -> bool {
        self.pagemap_scan
    }

    /// Checks the header and the [`CompileLimits`] without compiling: one parse,
    /// linear in the size. Blocking (a 32 MiB upload takes a while): run it on a
    /// blocking thread.
    ///
    /// # Errors
    /// [`DeployError`] saying what is wrong or which limit is exceeded.
    pub fn check_compile_limits(&self, wasm: &[u8]) -> Result<(), DeployError> {
        check_header(wasm)?;
        precheck::check(wasm, &self.config.compile_limits)
    }

    /// Validates and compiles an uploaded component. Blocking and CPU-heavy:
    /// run it on a blocking thread.
    ///
    /// # Errors
    /// [`DeployError`] saying why the bytes are not an acceptable plugin.
    pub fn compile(&self, wasm: &[u8]) -> Result<(Artifact, Loaded), DeployError> {
        check_header(wasm)?;
        precheck::check(wasm, &self.config.compile_limits)?;
        self.stats.compiles_started.fetch_add(1, Ordering::Relaxed);
        // With a shared cache, the key's slot stays locked until this compile has
        // filled it: a concurrent compile of the same bytes waits, then deserialises.
        let slot = self
            .compile_cache
            .as_ref()
            .map(|c| (c, c.slot(CompileCache::key(self.engine_hash, wasm))));
        let mut held = slot.as_ref().map(|(_, slot)| {
            slot.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        });
        let cached = held.as_deref().and_then(Option::clone);
        let component = match &cached {
            // SAFETY: as in `load`: the cache holds only what `compile` serialised, under
            // an engine of the same hash (part of the key).
            #[allow(unsafe_code, reason = "loading our own precompiled artifact")]
            Some(bytes) => unsafe { Component::deserialize(&self.engine, bytes.as_slice()) },
            None => Component::new(&self.engine, wasm),
        }
        .map_err(|e| DeployError::NotAComponent(format!("invalid component: {e:#}")))?;
        self.stats.compiled.fetch_add(1, Ordering::Relaxed);
        let loaded = self.link(&component)?;
        let bytes = match cached {
            Some(bytes) => {
                if let Some((cache, _)) = &slot {
                    cache.hit();
                }
                Vec::clone(&bytes)
            }
            None => {
                let bytes = component.serialize().map_err(|e| {
                    DeployError::NotAComponent(format!("component could not be serialised: {e:#}"))
                })?;
                if let Some(held) = held.as_deref_mut() {
                    *held = Some(Arc::new(bytes.clone()));
                }
                bytes
            }
        };
        drop(held);
        Ok((
            Artifact {
                engine_hash: self.engine_hash,
                bytes,
            },
            loaded,
        ))
    }

    /// Loads an artifact written by [`Runtime::compile`], without compiling.
    /// Returns `None` when it was made by an engine with other settings or
    /// another wasmtime (the caller recompiles from the stored component).
    ///
    /// # Errors
    /// The artifact is damaged or no longer links.
    pub fn load(&self, artifact: &Artifact) -> anyhow::Result<Option<Loaded>> {
        if artifact.engine_hash != self.engine_hash {
            return Ok(None);
        }
        // SAFETY: `deserialize` trusts its input to be code wasmtime produced.
        // Artifacts only ever come from our own `compile` (stored in our
        // database, keyed by the engine hash checked above); bytes a user sent
        // are never passed here.
        #[allow(unsafe_code, reason = "loading our own precompiled artifact")]
        let component = unsafe { Component::deserialize(&self.engine, &artifact.bytes) }
            .map_err(|e| anyhow::anyhow!("stored artifact does not load: {e:#}"))?;
        self.stats.deserialized.fetch_add(1, Ordering::Relaxed);
        Ok(Some(self.link(&component)?))
    }

    /// Checks the component's imports and exports against the plugin world and
    /// pre-instantiates it.
    fn link(&self, component: &Component) -> Result<Loaded, DeployError> {
        let ty = component.component_type();
        let refused: Vec<String> = ty
            .imports(&self.engine)
            .map(|(name, _)| name)
            .filter(|name| !import_allowed(name))
            .map(|name| format!("`{name}`"))
            .collect();
        if !refused.is_empty() {
            return Err(DeployError::WrongWorld(format!(
                "component imports {} which a plugin may not use; a plugin may import only \
                 switchboard:plugin/{{http,log}} and the WASI interfaces Rust's std needs \
                 (io, cli without files, clocks, random) — no files, sockets or environment",
                refused.join(", ")
            )));
        }
        if ty.get_export(&self.engine, "run").is_none() {
            let exports: Vec<String> = ty
                .exports(&self.engine)
                .map(|(name, _)| format!("`{name}`"))
                .collect();
            return Err(DeployError::WrongWorld(format!(
                "component does not export `run: func(input: string) -> result<string, string>` \
                 (it exports {}); build it against the switchboard:plugin world",
                if exports.is_empty() {
                    "nothing".to_owned()
                } else {
                    exports.join(", ")
                }
            )));
        }
        let pre = self
            .linker
            .instantiate_pre(component)
            .map_err(|e| DeployError::WrongWorld(format!("component does not link: {e:#}")))?;
        let pre = bindings::PluginPre::new(pre).map_err(|e| {
            DeployError::WrongWorld(format!(
                "component's exports do not match the plugin world: {e:#}"
            ))
        })?;
        Ok(Loaded { pre })
    }

    /// Runs `run(input)` in a fresh store under the version's limits.
    ///
    /// Never fails as a Rust call: every failure of the guest is a [`CallError`].
    /// `context` names the invocation in logs and tells the broker who is asking.
    pub async fn invoke(
        &self,
        loaded: &Loaded,
        spec: &CallSpec,
        context: Arc<InvocationContext>,
        input: String,
    ) -> CallOutcome {
        let started = Instant::now();
        self.stats.calls.fetch_add(1, Ordering::Relaxed);
        let timeout = Duration::from_millis(u64::from(spec.limits.timeout_ms));
        let deadline = started + timeout;
        let memory_bytes = spec.limits.memory_mib as usize * 1024 * 1024;
        // The pool has `max_concurrency` slots; waiting here instead of failing
        // in the allocator turns a burst into a queue, served fairly across
        // functions, within the per-function cap and the memory budget.
        let cap = match spec.limits.max_concurrency {
            0 => self.config.default_per_function(),
            n => n,
        };
        let _grant = match self
            .admission
            .admit(
                &context.function,
                memory_bytes as u64,
                cap as usize,
                deadline,
            )
            .await
        {
            Ok(grant) => grant,
            Err(r) => {
                return CallOutcome {
                    result: Err(CallError::Busy(format!(
                        "the host could not start this call within its {} ms deadline: {} of {} call slots \
                         busy, {} of {} MiB of the memory budget reserved, {} of this function's {} allowed \
                         calls running (it reserves {} MiB); retry later, lower its memory_mib, or raise \
                         --max-concurrency / --memory-budget-mib",
                        spec.limits.timeout_ms,
                        r.slots_used,
                        r.slots,
                        r.bytes_used / (1024 * 1024),
                        r.budget_bytes / (1024 * 1024),
                        r.running,
                        r.cap,
                        spec.limits.memory_mib,
                    ))),
                    logs: Vec::new(),
                    duration: started.elapsed(),
                };
            }
        };

        let mut store = Store::new(
            &self.engine,
            CallState::new(
                spec,
                context,
                self.outbound.clone(),
                self.broker.clone(),
                deadline,
                memory_bytes,
            ),
        );
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                Err(wasmtime::Error::new(DeadlineExceeded))
            } else {
                Ok(wasmtime::UpdateDeadline::Yield(1))
            }
        });

        let call = async {
            let plugin = loaded.pre.instantiate_async(&mut store).await?;
            plugin.call_run(&mut store, &input).await
        };
        let limit = self.config.max_output_bytes;
        let result = match tokio::time::timeout_at(deadline.into(), call).await {
            Err(_elapsed) => Err(CallError::Timeout(spec.limits.timeout_ms)),
            Ok(Ok(Ok(output) | Err(output))) if output.len() > limit => {
                Err(CallError::OutputTooLarge {
                    bytes: output.len(),
                    limit,
                })
            }
            Ok(Ok(Ok(output))) => match serde_json::from_str::<serde::de::IgnoredAny>(&output) {
                Ok(_) => Ok(output),
                Err(e) => Err(CallError::BadOutput(e.to_string())),
            },
            Ok(Ok(Err(message))) => Err(CallError::Function(message)),
            Ok(Err(trap)) => Err(classify_trap(&trap, &store.data().limiter, spec)),
        };
        let logs = std::mem::take(&mut store.data_mut().logs.lines);
        CallOutcome {
            result,
            logs,
            duration: started.elapsed(),
        }
    }
}

fn classify_trap(trap: &wasmtime::Error, limiter: &MemoryLimiter, spec: &CallSpec) -> CallError {
    if trap.is::<DeadlineExceeded>() {
        CallError::Timeout(spec.limits.timeout_ms)
    } else if limiter.exceeded {
        CallError::MemoryLimit(spec.limits.memory_mib)
    } else if let Some(trap) = trap.downcast_ref::<wasmtime::Trap>() {
        CallError::Trap(trap.to_string())
    } else {
        CallError::Trap(format!("{trap:#}"))
    }
}

/// A component starts with `\0asm` and the component-model layer version;
/// a core module has version 1 instead.
/// Hands the heap pages a compile freed back to the operating system. Cranelift allocates
/// hundreds of MiB for a large component (in every compile thread's malloc arena) and frees
/// it at the end, but glibc keeps freed pages in its arenas, so an idle host stayed near
/// its peak after one big upload. Called once a compile really ends.
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(
        unsafe_code,
        reason = "malloc_trim has no preconditions: it only returns free pages of every arena"
    )]
    // SAFETY: glibc's malloc_trim takes no pointers and is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn check_header(wasm: &[u8]) -> Result<(), DeployError> {
    match wasm {
        [0, b'a', b's', b'm', 0x0d, 0x00, 0x01, 0x00, ..] => Ok(()),
        [0, b'a', b's', b'm', 0x01, 0x00, 0x00, 0x00, ..] => Err(DeployError::NotAComponent(
            "this is a core WebAssembly module, not a component: build the plugin with \
             `--target wasm32-wasip2` (or wrap it with `wasm-tools component new`)"
                .into(),
        )),
        _ => Err(DeployError::NotAComponent(
            "not a WebAssembly component (the upload does not start with the `\\0asm` header); \
             upload the .wasm file built for wasm32-wasip2"
                .into(),
        )),
    }
}

fn import_allowed(name: &str) -> bool {
    let unversioned = name.split_once('@').map_or(name, |(n, _)| n);
    ALLOWED_IMPORTS.contains(&unversioned)
}

/// Increments the engine's epoch every [`EPOCH_TICK`] on a thread of its own, so
/// deadlines hold even when every async worker is busy running guests.
struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Ticker {
    fn start(engine: Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("switchboard-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .expect("spawning the epoch thread");
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_check_names_the_problem() {
        assert!(check_header(b"\0asm\x0d\0\x01\0rest").is_ok());
        let core = check_header(b"\0asm\x01\0\0\0").unwrap_err().to_string();
        assert!(core.contains("core WebAssembly module"), "{core}");
        let junk = check_header(b"hello").unwrap_err().to_string();
        assert!(junk.contains("not a WebAssembly component"), "{junk}");
        assert!(check_header(b"").is_err());
    }

    #[test]
    fn imports_allowed_by_interface_any_version() {
        assert!(import_allowed("wasi:io/poll@0.2.6"));
        assert!(import_allowed("switchboard:plugin/http@0.1.0"));
        assert!(!import_allowed("wasi:filesystem/types@0.2.6"));
        assert!(!import_allowed("wasi:sockets/tcp@0.2.0"));
        assert!(!import_allowed("wasi:http/outgoing-handler@0.2.0"));
        assert!(!import_allowed("wasi:io/pollx@0.2.0"));
    }

    #[test]
    fn limits_validation_names_the_field() {
        let host = RuntimeConfig::default();
        assert!(
            Limits::default()
                .validate(host.max_concurrency, host.max_memory_mib)
                .is_ok()
        );
        let e = Limits {
            memory_mib: 0,
            ..Limits::default()
        };
        assert!(
            e.validate(host.max_concurrency, host.max_memory_mib)
                .unwrap_err()
                .contains("memory_mib")
        );
        let e = Limits {
            memory_mib: 1024,
            ..Limits::default()
        };
        assert!(
            e.validate(host.max_concurrency, host.max_memory_mib)
                .unwrap_err()
                .contains("between 1 and 512")
        );
        let e = Limits {
            timeout_ms: 0,
            ..Limits::default()
        };
        assert!(
            e.validate(host.max_concurrency, host.max_memory_mib)
                .unwrap_err()
                .contains("timeout_ms")
        );
        let e = Limits {
            max_requests: 5000,
            ..Limits::default()
        };
        assert!(
            e.validate(host.max_concurrency, host.max_memory_mib)
                .unwrap_err()
                .contains("max_requests")
        );
        let e = Limits {
            max_concurrency: 129,
            ..Limits::default()
        };
        let m = e
            .validate(host.max_concurrency, host.max_memory_mib)
            .unwrap_err();
        assert!(m.contains("max_concurrency") && m.contains("128"), "{m}");
    }

    #[test]
    fn the_per_function_default_is_half_the_slots() {
        let mut c = RuntimeConfig::default();
        assert_eq!(c.default_per_function(), 64);
        c.max_concurrency = 1;
        assert_eq!(c.default_per_function(), 1);
        c.max_concurrency_per_function = 5;
        assert_eq!(c.default_per_function(), 1);
    }
}
