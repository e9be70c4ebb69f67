//! dfabake's wasmtime host: load a baked matcher module, verify its database
//! natively once, compile it once (or load the compiled code from an on-disk
//! cache), and answer matches from long-lived instances.
//!
//! A [`MatcherModule`] is loaded once per module file
//! ([`MatcherModule::load`], [`MatcherModule::from_bytes`]); each
//! [`MatcherInstance`] from [`MatcherModule::instantiate`] serves one caller
//! at a time. The `dfabake-host` binary and its HTTP [`server`] are built on
//! these two types.
//!
//! # Example
//!
//! ```
//! use dfabake_host::{HostConfig, MatcherModule, Mode};
//! # use dfabake::{build, BuildOptions, RuleId, RuleSpec, Source};
//! # let dir = tempfile::tempdir()?;
//! # let rules = vec![
//! #     RuleSpec::new(RuleId::Int(1), "(?i)googlebot"),
//! #     RuleSpec::new(RuleId::Str("curl".into()), r"^curl/(\d+)"),
//! # ];
//! # let mut opts = BuildOptions::new(Source::Rules { name: "example".into(), rules }, dir.path().join("out"));
//! # opts.npm = None;
//! # build(&opts)?;
//! # let out = dir.path().join("out");
//!
//! // `out` is the directory `dfabake build --out` wrote, for two rules:
//! // 1 `(?i)googlebot` and "curl" `^curl/(\d+)`.
//! let cache = out.join("compiled");
//! let config = HostConfig { cache_dir: Some(cache), ..HostConfig::default() };
//! let module = MatcherModule::load(&out.join("matcher.wasm"), &config)?;
//! let mut instance = module.instantiate()?;
//! assert_eq!(
//!     instance.match_json(Mode::All, b"curl/8.0 (Googlebot)")?,
//!     r#"[{"id":1,"payload":null},{"id":"curl","payload":null}]"#
//! );
//! assert_eq!(instance.match_json(Mode::Any, b"Mozilla/5.0")?, "[]");
//!
//! // A second load finds the compiled code in the cache.
//! let again = MatcherModule::load(&out.join("matcher.wasm"), &config)?;
//! assert_eq!(again.code_source(), dfabake_host::CodeSource::Cache);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use dfabake_matcher::abi_contract::{export, slot};
use dfabake_matcher::format::{AlignedBytes, Database};
use dfabake_matcher::layout;
use sha2::{Digest, Sha256};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, InstancePre, Linker, Memory, Module,
    PoolingAllocationConfig, ResourceLimiter, Store, StoreLimits, StoreLimitsBuilder, TypedFunc,
};

mod cache;
pub mod server;

/// `anyhow::Context` for wasmtime's own error type.
trait WasmContext<T> {
    fn wctx(self, what: &'static str) -> Result<T>;
}

impl<T> WasmContext<T> for wasmtime::Result<T> {
    fn wctx(self, what: &'static str) -> Result<T> {
        self.map_err(anyhow::Error::from).context(what)
    }
}

/// The ABI version this host speaks.
pub use dfabake_matcher::abi_contract::ABI_VERSION;
/// What a match call answers (`any`, `all`, `first`): re-exported so that a
/// host's callers need no direct dependency on the matcher crate.
pub use dfabake_matcher::Mode;

/// How the host sets up wasmtime.
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// Directory of compiled native code, keyed by module hash and engine
    /// configuration; `None` compiles every time. Entries are used only if
    /// this user alone could have written them and they authenticate (see
    /// the README's native-code cache section); others are ignored with a
    /// warning ([`MatcherModule::warnings`]) and recompiled.
    pub cache_dir: Option<PathBuf>,
    /// Use the pooling allocator (fast instance replacement with
    /// copy-on-write memory images); sized for `max_instances`.
    pub pooling: bool,
    /// Most instances alive at once (pooling only).
    pub max_instances: u32,
    /// Largest linear memory one instance may grow to.
    pub memory_limit: usize,
    /// Per-call time bound, enforced with epoch interruption (`None` = none).
    pub call_timeout: Option<Duration>,
    /// Compile epoch-interruption checks into the code even without a
    /// `call_timeout`. Code differs with and without them, and so does its
    /// cache entry: with this set, every timeout setting (none included)
    /// shares one entry. The CLI sets it for `match`, `serve` and `compile`.
    pub interruptible: bool,
    /// Refuse a module whose SHA-256 (hex, either case) is not this one.
    pub expect_sha256: Option<String>,
}

impl Default for HostConfig {
    fn default() -> HostConfig {
        HostConfig {
            cache_dir: None,
            pooling: false,
            max_instances: 64,
            memory_limit: 1 << 30,
            call_timeout: None,
            interruptible: false,
            expect_sha256: None,
        }
    }
}

/// How often the epoch advances when a call timeout is set.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Time bound of instantiating and initializing an instance.
const INIT_DEADLINE: Duration = Duration::from_secs(10);

impl HostConfig {
    /// A wasmtime engine for this configuration.
    pub fn engine(&self) -> Result<Engine> {
        let mut cfg = Config::new();
        cfg.epoch_interruption(self.interruptible || self.call_timeout.is_some());
        cfg.memory_init_cow(true);
        if self.pooling {
            let mut pool = PoolingAllocationConfig::default();
            pool.total_memories(self.max_instances)
                .total_tables(self.max_instances)
                .total_core_instances(self.max_instances)
                .max_memory_size(self.memory_limit);
            cfg.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        }
        Engine::new(&cfg).wctx("creating the wasmtime engine")
    }
}

/// What the host learnt about a module while verifying it.
#[derive(Clone, Debug)]
pub struct ModuleInfo {
    /// Rules in the baked database.
    pub rules: usize,
    /// Shards in the baked database.
    pub shards: usize,
    /// The database checksum (XXH3-64), which identifies the rule set.
    pub checksum: u64,
    /// SHA-256 of the module file, hex.
    pub sha256: String,
    /// Size of the module file.
    pub module_bytes: usize,
}

/// Verifies the database baked into `wasm` (checksum, structure, every DFA,
/// every rule's id, payload and way to be answered), natively and without
/// instantiating anything, and that it is what every instance will read:
/// the module's data segments are laid out as baking lays them out, none
/// writing over the database or its locator (see
/// [`dfabake_matcher::layout`]).
pub fn verify_module_bytes(wasm: &[u8]) -> Result<ModuleInfo> {
    Ok(ModuleInfo {
        sha256: sha256_hex(wasm),
        ..verify_module_database(wasm, true)?
    })
}

/// SHA-256 of `bytes`, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// With `full` false, only the layout and the database's structure: for a
/// module this host verified before (an authenticated cache entry vouches).
/// `sha256` is left empty, for the caller.
fn verify_module_database(wasm: &[u8], full: bool) -> Result<ModuleInfo> {
    let db = layout::check(wasm)
        .context("module has no usable dfabake database")?
        .database;
    // Baking places the database 8-aligned in the file, so in a buffer
    // that is itself aligned it is read in place; otherwise copied.
    let copy;
    let db = if (db.as_ptr() as usize).is_multiple_of(8) {
        db
    } else {
        copy = AlignedBytes::copy_from(db);
        copy.as_bytes()
    };
    let db = if full {
        Database::from_bytes(db)
    } else {
        // SAFETY: these bytes (SHA-256 equal to the cache entry's name)
        // passed `Database::from_bytes` when the entry was written, and the
        // database is only read for its header here.
        unsafe { Database::from_bytes_unchecked(db) }
    }
    .context("baked database failed verification")?;
    Ok(ModuleInfo {
        rules: db.rule_count(),
        shards: db.shards().len(),
        checksum: db.checksum(),
        sha256: String::new(),
        module_bytes: wasm.len(),
    })
}

/// A module's code, compiled or from the cache, and what verifying it found.
struct Loaded {
    module: Module,
    code_source: CodeSource,
    cache_entry: Option<PathBuf>,
    warnings: Vec<String>,
    info: ModuleInfo,
    /// The module's cache key, when it went through the cache.
    module_hash: Option<blake3::Hash>,
}

/// Verifies and compiles `wasm`, or loads its code from the cache.
fn load_code(engine: &Engine, wasm: &[u8], config: &HostConfig) -> Result<Loaded> {
    let Some(dir) = &config.cache_dir else {
        let info = verify_module_database(wasm, true)?;
        return Ok(Loaded {
            module: Module::new(engine, wasm).wctx("compiling the module")?,
            code_source: CodeSource::Compiled,
            cache_entry: None,
            warnings: Vec::new(),
            info,
            module_hash: None,
        });
    };
    // Verified in full before compiling; an entry from the cache vouches
    // that this host verified this very module before.
    let mut verified = None;
    let module_hash = cache::module_key(wasm);
    let o = cache::compile_cached(engine, wasm, &module_hash.to_hex(), dir, &mut || {
        verified = Some(verify_module_database(wasm, true)?);
        Ok(())
    })?;
    let info = match verified {
        Some(info) => info,
        None => verify_module_database(wasm, false)?,
    };
    Ok(Loaded {
        module: o.module,
        code_source: o.source,
        cache_entry: o.entry,
        warnings: o.warnings,
        info,
        module_hash: Some(module_hash),
    })
}

/// Refuses a module whose SHA-256 is not the one `config` pins.
fn pin(config: &HostConfig, sha256: &str) -> Result<()> {
    match &config.expect_sha256 {
        Some(want) if !want.eq_ignore_ascii_case(sha256) => bail!(
            "module SHA-256 mismatch: the module's is {sha256}, expected {}",
            want.to_ascii_lowercase()
        ),
        _ => Ok(()),
    }
}

/// Why the npm package's module is refused (it needs its JavaScript glue).
const NPM_FLAVOUR: &str = "this is the npm flavour of a dfabake module (wasm-bindgen, run by the \
     npm package's JavaScript), not the plain module dfabake-host runs";

/// Where the compiled module came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeSource {
    /// Compiled with Cranelift now (and stored in the cache, if any).
    Compiled,
    /// Loaded from the native-code cache.
    Cache,
}

/// A verified, compiled matcher module. Cheap to instantiate many times.
pub struct MatcherModule {
    engine: Engine,
    pre: InstancePre<Limits>,
    info: ModuleInfo,
    config: HostConfig,
    code_source: CodeSource,
    cache_entry: Option<PathBuf>,
    warnings: Vec<String>,
    load_time: Duration,
}

impl MatcherModule {
    /// Reads, verifies and compiles a module file (or loads its compiled code
    /// from `config.cache_dir`).
    pub fn load(path: &Path, config: &HostConfig) -> Result<MatcherModule> {
        let engine = config.engine()?;
        Self::load_with_engine(&engine, path, config)
    }

    /// Like [`MatcherModule::load`], sharing an engine (all modules of one
    /// server share one engine, and its epoch).
    pub fn load_with_engine(
        engine: &Engine,
        path: &Path,
        config: &HostConfig,
    ) -> Result<MatcherModule> {
        let t = Instant::now();
        let mut file =
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let identity = cache::FileIdentity::of(&file)
            .with_context(|| format!("reading {}", path.display()))?;
        if let Some(dir) = &config.cache_dir {
            // A file the cache remembers unchanged is not read at all.
            if let Some((module, entry, known)) = cache::load_known(engine, dir, &identity) {
                pin(config, &known.info.sha256)
                    .with_context(|| format!("loading {}", path.display()))?;
                let loaded = Loaded {
                    module,
                    code_source: CodeSource::Cache,
                    cache_entry: Some(entry),
                    warnings: Vec::new(),
                    info: known.info,
                    module_hash: Some(known.hash),
                };
                return Self::finish(engine, config, loaded, t)
                    .with_context(|| format!("loading {}", path.display()));
            }
        }
        // A capacity hint only: the file may have grown since.
        let mut bytes = Vec::with_capacity(usize::try_from(identity.len()).unwrap_or(0));
        std::io::Read::read_to_end(&mut file, &mut bytes)
            .with_context(|| format!("reading {}", path.display()))?;
        if layout::is_wasm_bindgen(&bytes) {
            // `dfabake build --out OUT` writes OUT/matcher.wasm and OUT/npm/.
            let plain = path
                .parent()
                .filter(|dir| dir.file_name().is_some_and(|n| n == "npm"))
                .and_then(Path::parent)
                .map(|out| out.join("matcher.wasm"))
                .filter(|plain| plain.is_file());
            let hint = match plain {
                Some(plain) => format!("use {}", plain.display()),
                None => {
                    "use OUT/matcher.wasm, which `dfabake build --out OUT` writes next to OUT/npm/"
                        .to_string()
                }
            };
            bail!("{}: {NPM_FLAVOUR}; {hint}", path.display());
        }
        let (mut module, known) = Self::load_bytes(engine, &bytes, config, t)
            .with_context(|| format!("loading {}", path.display()))?;
        // Only a file that did not change while it was read is remembered.
        if let (Some(dir), Some(known)) = (&config.cache_dir, known) {
            if cache::FileIdentity::of(&file).ok() == Some(identity) {
                if let Err(e) = cache::remember(dir, &identity, &known) {
                    module.warnings.push(format!("{e:#}"));
                }
            }
        }
        Ok(module)
    }

    /// Verifies and compiles a module held in memory, with default settings.
    ///
    /// ```
    /// use dfabake::bake::{bake, TEMPLATE};
    /// use dfabake::{compile, Config, RuleId, RuleSpec};
    /// use dfabake_host::{MatcherModule, Mode};
    ///
    /// // What `dfabake build` writes as matcher.wasm, made in memory.
    /// let rules = [RuleSpec::new(RuleId::Int(7), r"bot/(\d+)")];
    /// let database = compile(&rules, &Config::default(), "example")?.database;
    /// let wasm = bake(TEMPLATE, &database)?;
    ///
    /// let module = MatcherModule::from_bytes(&wasm)?;
    /// assert_eq!(module.info().rules, 1);
    /// let mut instance = module.instantiate()?;
    /// // `first` also says where the rule matched, with its capture groups.
    /// assert_eq!(
    ///     instance.match_json(Mode::First, b"a bot/2 b")?,
    ///     r#"[{"id":7,"start":2,"end":7,"payload":null,"captures":[[2,7],[6,7]]}]"#
    /// );
    ///
    /// // Bytes that are not a baked module are refused before compiling.
    /// assert!(MatcherModule::from_bytes(b"\0asm not a module").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_bytes(wasm: &[u8]) -> Result<MatcherModule> {
        let config = HostConfig::default();
        Self::from_bytes_with(&config.engine()?, wasm, &config)
    }

    /// Verifies and compiles a module held in memory.
    pub fn from_bytes_with(
        engine: &Engine,
        wasm: &[u8],
        config: &HostConfig,
    ) -> Result<MatcherModule> {
        Ok(Self::load_bytes(engine, wasm, config, Instant::now())?.0)
    }

    /// [`MatcherModule::from_bytes_with`], also returning what the cache
    /// should remember of the module (when it went through the cache).
    fn load_bytes(
        engine: &Engine,
        wasm: &[u8],
        config: &HostConfig,
        t: Instant,
    ) -> Result<(MatcherModule, Option<cache::Known>)> {
        if layout::is_wasm_bindgen(wasm) {
            bail!("{NPM_FLAVOUR}; use OUT/matcher.wasm from `dfabake build --out OUT`");
        }
        let (sha256, loaded) = if config.expect_sha256.is_some() {
            // Pinned: nothing is verified or compiled before the pin holds.
            let sha256 = sha256_hex(wasm);
            pin(config, &sha256)?;
            (sha256, load_code(engine, wasm, config))
        } else {
            // SHA-256 (what users see) runs beside the load on another core;
            // the cache is keyed by BLAKE3, three times faster: on a 30 MB
            // module, SHA-256 alone was a fifth of a warm start.
            std::thread::scope(|scope| {
                let sha256 = scope.spawn(|| sha256_hex(wasm));
                let loaded = load_code(engine, wasm, config);
                (sha256.join().expect("hashing does not panic"), loaded)
            })
        };
        let mut loaded = loaded?;
        loaded.info.sha256 = sha256;
        let known = loaded.module_hash.map(|hash| cache::Known {
            hash,
            info: loaded.info.clone(),
        });
        Ok((Self::finish(engine, config, loaded, t)?, known))
    }

    /// The module, ready to instantiate.
    fn finish(
        engine: &Engine,
        config: &HostConfig,
        loaded: Loaded,
        t: Instant,
    ) -> Result<MatcherModule> {
        let Loaded {
            module,
            code_source,
            cache_entry,
            warnings,
            info,
            module_hash: _,
        } = loaded;
        if module.imports().len() != 0 {
            bail!(
                "module imports {} items; a dfabake matcher imports nothing",
                module.imports().len()
            );
        }
        let linker = Linker::new(engine);
        let pre = linker
            .instantiate_pre(&module)
            .wctx("preparing instantiation")?;
        Ok(MatcherModule {
            engine: engine.clone(),
            pre,
            info,
            config: config.clone(),
            code_source,
            cache_entry,
            warnings,
            load_time: t.elapsed(),
        })
    }

    /// What verification found.
    pub fn info(&self) -> &ModuleInfo {
        &self.info
    }

    /// Whether the code was compiled now or loaded from the cache.
    pub fn code_source(&self) -> CodeSource {
        self.code_source
    }

    /// The cache entry that holds this module's code (read from it or
    /// written to it); `None` without a cache, or when the cache was not
    /// usable (see [`MatcherModule::warnings`]).
    pub fn cache_entry(&self) -> Option<&Path> {
        self.cache_entry.as_deref()
    }

    /// What went wrong but did not stop loading: cache entries or a cache
    /// directory that were not trusted and so not used. For the caller to
    /// show (the library prints nothing).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Time spent reading, verifying and compiling (or loading) the module.
    pub fn load_time(&self) -> Duration {
        self.load_time
    }

    /// The engine the module was compiled for.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// A new instance, initialized and ready to match. Instances are
    /// independent (each has its own memory) and cheap to make, so a server
    /// keeps one per worker and replaces one that failed
    /// ([`MatchError::poisons_instance`]); see the crate example.
    pub fn instantiate(&self) -> Result<MatcherInstance> {
        let limits = Limits {
            inner: StoreLimitsBuilder::new()
                .memory_size(self.config.memory_limit)
                .instances(1)
                .build(),
            memory_limit: self.config.memory_limit,
            memory_refused: false,
        };
        let mut store = Store::new(&self.engine, limits);
        store.limiter(|l| l);
        let deadline_ticks = self
            .config
            .call_timeout
            .map(|t| (t.as_micros() / EPOCH_TICK.as_micros()).max(1) as u64);
        if deadline_ticks.is_some() {
            // The per-call bound applies to matching; setting up an instance
            // (O(rules + shards)) gets a generous allowance of its own.
            store.set_epoch_deadline(
                INIT_DEADLINE.as_micros() as u64 / EPOCH_TICK.as_micros() as u64,
            );
        } else {
            // Code compiled `interruptible` checks the epoch even without a
            // bound: a deadline it never reaches (the default, 0, traps at
            // once).
            store.set_epoch_deadline(u64::MAX / 2);
        }
        let instance = self
            .pre
            .instantiate(&mut store)
            .wctx("instantiating the module")?;
        MatcherInstance::new(store, instance, deadline_ticks)
    }
}

/// An instance's limits ([`StoreLimits`]), noting whether its memory was
/// refused growth: the module aborts when an allocation fails, a trap that
/// says nothing of memory by itself.
struct Limits {
    inner: StoreLimits,
    memory_limit: usize,
    memory_refused: bool,
}

impl ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.inner.memory_growing(current, desired, maximum)?;
        self.memory_refused |= !allowed || maximum.is_some_and(|m| desired > m);
        Ok(allowed)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.memory_refused = true;
        self.inner.memory_grow_failed(error)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

/// One instance of a matcher module, reused for every input.
pub struct MatcherInstance {
    store: Store<Limits>,
    memory: Memory,
    input: TypedFunc<u32, u32>,
    run: TypedFunc<(u32, u32), i32>,
    output_ptr: TypedFunc<(), u32>,
    output_len: TypedFunc<(), u32>,
    /// Where the module keeps the output's pointer and length, then its
    /// input buffer's (four u32), when it exports `dfabake_output_slot`:
    /// read there, not by calls, and inputs that fit go straight in.
    output_slot: Option<usize>,
    deadline_ticks: Option<u64>,
    last_count: usize,
}

impl MatcherInstance {
    fn new(
        mut store: Store<Limits>,
        instance: wasmtime::Instance,
        deadline_ticks: Option<u64>,
    ) -> Result<MatcherInstance> {
        let version: TypedFunc<(), u32> = instance
            .get_typed_func(&mut store, export::ABI_VERSION)
            .wctx("not a dfabake matcher module (no dfabake_abi_version export)")?;
        let v = version
            .call(&mut store, ())
            .wctx("calling dfabake_abi_version")?;
        if v != ABI_VERSION {
            bail!("module speaks ABI version {v}, this host speaks {ABI_VERSION}");
        }
        let memory = instance
            .get_memory(&mut store, export::MEMORY)
            .context("module exports no memory")?;
        let init: TypedFunc<(), i32> = instance
            .get_typed_func(&mut store, export::INIT)
            .wctx("export dfabake_init")?;
        let mut me = MatcherInstance {
            input: instance
                .get_typed_func(&mut store, export::INPUT)
                .wctx("export dfabake_input")?,
            run: instance
                .get_typed_func(&mut store, export::MATCH)
                .wctx("export dfabake_match")?,
            output_ptr: instance
                .get_typed_func(&mut store, export::OUTPUT_PTR)
                .wctx("export dfabake_output_ptr")?,
            output_len: instance
                .get_typed_func(&mut store, export::OUTPUT_LEN)
                .wctx("export dfabake_output_len")?,
            store,
            memory,
            output_slot: None,
            deadline_ticks,
            last_count: 0,
        };
        if let Ok(slot) = instance.get_typed_func::<(), u32>(&mut me.store, export::OUTPUT_SLOT) {
            me.output_slot = Some(
                slot.call(&mut me.store, ())
                    .wctx("calling dfabake_output_slot")? as usize,
            );
        }
        let code = init.call(&mut me.store, ()).wctx("calling dfabake_init")?;
        if code != 0 {
            bail!("dfabake_init failed: {}", me.output_string()?);
        }
        Ok(me)
    }

    /// The words of the module's output slot (see [`slot`]) at `at` in its
    /// memory `data`.
    fn read_slot(at: usize, data: &[u8]) -> Result<[usize; slot::WORDS]> {
        data.get(at..at + 4 * slot::WORDS)
            .map(|b| core::array::from_fn(|i| dfabake_matcher::wire::read_u32(b, 4 * i) as usize))
            .context("output slot out of bounds")
    }

    /// The module's output, borrowed from its memory: where its output
    /// slot says (one look-up of the memory, which goes through the
    /// store's tables), or, for a module without one, where its exports do.
    fn output_bytes(&mut self) -> Result<&[u8]> {
        if let Some(at) = self.output_slot {
            let data = self.memory.data(&self.store);
            let words = Self::read_slot(at, data)?;
            let (ptr, len) = (words[slot::OUTPUT_PTR], words[slot::OUTPUT_LEN]);
            return data
                .get(ptr..ptr.saturating_add(len))
                .context("output buffer out of bounds");
        }
        let ptr = self
            .output_ptr
            .call(&mut self.store, ())
            .wctx("calling dfabake_output_ptr")? as usize;
        let len = self
            .output_len
            .call(&mut self.store, ())
            .wctx("calling dfabake_output_len")? as usize;
        self.memory
            .data(&self.store)
            .get(ptr..ptr.saturating_add(len))
            .context("output buffer out of bounds")
    }

    fn output_string(&mut self) -> Result<String> {
        // Answers are UTF-8 (a module that broke that gets U+FFFD).
        Ok(String::from_utf8_lossy(self.output_bytes()?).into_owned())
    }

    /// Matches one input and returns the JSON array of matches (see
    /// [`dfabake_matcher::json`] for its shape).
    ///
    /// An error means the instance may be in an unknown state (a trap, a
    /// timeout, a memory limit): callers that keep instances should discard
    /// this one (see [`MatchError::poisons_instance`]).
    pub fn match_json(&mut self, mode: Mode, input: &[u8]) -> Result<String, MatchError> {
        // Answers are UTF-8 (a module that broke that gets U+FFFD).
        Ok(String::from_utf8_lossy(self.match_json_bytes(mode, input)?).into_owned())
    }

    /// Like [`MatcherInstance::match_json`], but the JSON stays where the
    /// module wrote it, in the instance's memory, until the next call: no
    /// copy, no allocation, no UTF-8 check (a module built by `dfabake`
    /// writes UTF-8; one that does not is not trusted to here). For callers
    /// that write the answer on (a response body, a line of output).
    pub fn match_json_bytes(&mut self, mode: Mode, input: &[u8]) -> Result<&[u8], MatchError> {
        self.call(mode, input, self.deadline_ticks)
    }

    /// Like [`MatcherInstance::match_json`], but this call may run for
    /// `budget` instead of the configured per-call bound: a caller with one
    /// deadline for several inputs passes what is left of it. Needs a module
    /// loaded with a `call_timeout` (which turns on epoch interruption);
    /// without one, `budget` is ignored.
    pub fn match_json_within(
        &mut self,
        mode: Mode,
        input: &[u8],
        budget: Duration,
    ) -> Result<String, MatchError> {
        Ok(
            String::from_utf8_lossy(self.match_json_bytes_within(mode, input, budget)?)
                .into_owned(),
        )
    }

    /// [`MatcherInstance::match_json_within`] without the copy, as
    /// [`MatcherInstance::match_json_bytes`].
    pub fn match_json_bytes_within(
        &mut self,
        mode: Mode,
        input: &[u8],
        budget: Duration,
    ) -> Result<&[u8], MatchError> {
        let ticks = self
            .deadline_ticks
            .map(|_| (budget.as_micros() / EPOCH_TICK.as_micros()).max(1) as u64);
        self.call(mode, input, ticks)
    }

    /// A failed call's error; a trap after the memory was refused growth is
    /// told as running out of memory.
    fn call_failed(&self, e: wasmtime::Error) -> MatchError {
        match MatchError::from_wasmtime(e) {
            MatchError::Trap(trap) if self.store.data().memory_refused => {
                MatchError::Trap(format!(
                    "out of memory: the instance's memory limit is {} bytes ({trap})",
                    self.store.data().memory_limit
                ))
            }
            other => other,
        }
    }

    fn call(
        &mut self,
        mode: Mode,
        input: &[u8],
        deadline_ticks: Option<u64>,
    ) -> Result<&[u8], MatchError> {
        if let Some(ticks) = deadline_ticks {
            self.store.set_epoch_deadline(ticks);
        }
        let len = u32::try_from(input.len()).map_err(|_| MatchError::TooLarge)?;
        // The common case, an input that fits the module's buffer, borrows
        // the memory once: to read where the buffer is and to fill it.
        let data = self.memory.data_mut(&mut self.store);
        let buffer = match self.output_slot.map(|at| Self::read_slot(at, data)) {
            Some(Ok(words)) if input.len() <= words[slot::INPUT_SIZE] => {
                let ptr = words[slot::INPUT_PTR];
                data.get_mut(ptr..ptr + input.len())
            }
            _ => None,
        };
        match buffer {
            Some(buffer) => buffer.copy_from_slice(input),
            None => {
                let ptr = match self.input.call(&mut self.store, len) {
                    Ok(ptr) => ptr as usize,
                    Err(e) => return Err(self.call_failed(e)),
                };
                self.memory
                    .data_mut(&mut self.store)
                    .get_mut(ptr..ptr + input.len())
                    .ok_or_else(|| MatchError::Abi("input buffer out of bounds".into()))?
                    .copy_from_slice(input);
            }
        }
        let code = match self.run.call(&mut self.store, (mode as u32, len)) {
            Ok(code) => code,
            Err(e) => return Err(self.call_failed(e)),
        };
        if code < 0 {
            let why = self
                .output_string()
                .map_err(|e| MatchError::Abi(format!("{e:#}")))?;
            return Err(MatchError::Abi(format!(
                "dfabake_match failed ({code}): {why}"
            )));
        }
        self.last_count = code as usize;
        self.output_bytes()
            .map_err(|e| MatchError::Abi(format!("{e:#}")))
    }

    /// How many matches the last successful [`MatcherInstance::match_json`] returned.
    pub fn last_match_count(&self) -> usize {
        self.last_count
    }
}

/// Why a match call failed.
#[derive(Debug)]
pub enum MatchError {
    /// The call ran past the time bound and was interrupted.
    Timeout,
    /// The module trapped (e.g. out of memory under the instance's limit).
    Trap(String),
    /// The module answered with an error, or broke the ABI.
    Abi(String),
    /// The input is larger than 4 GiB.
    TooLarge,
}

impl MatchError {
    fn from_wasmtime(e: wasmtime::Error) -> MatchError {
        // The trap itself, not the wasm backtrace around it: this message
        // reaches HTTP clients, and the frames mean nothing to them.
        match e.downcast_ref::<wasmtime::Trap>() {
            Some(wasmtime::Trap::Interrupt) => MatchError::Timeout,
            Some(trap) => MatchError::Trap(trap.to_string()),
            None => MatchError::Trap(e.root_cause().to_string()),
        }
    }

    /// Whether the instance must be replaced after this error.
    pub fn poisons_instance(&self) -> bool {
        !matches!(self, MatchError::TooLarge)
    }
}

impl std::fmt::Display for MatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MatchError::Timeout => write!(f, "the match exceeded the time bound"),
            MatchError::Trap(m) => write!(f, "the module trapped: {m}"),
            MatchError::Abi(m) => write!(f, "{m}"),
            MatchError::TooLarge => write!(f, "input larger than 4 GiB"),
        }
    }
}

impl std::error::Error for MatchError {}

/// One line of `dfabake-host match` output: `{"input": "...", "matches": [...]}`.
///
/// Inputs that are not UTF-8 are shown with U+FFFD replacement characters.
pub fn result_line(input: &[u8], matches_json: &str) -> String {
    let mut line = Vec::new();
    write_result_line(&mut line, input, matches_json.as_bytes())
        .expect("writing to a Vec does not fail");
    String::from_utf8(line).expect("both parts are UTF-8")
}

/// Writes [`result_line`]'s line (without a newline) to `out`, with the
/// answer as [`MatcherInstance::match_json_bytes`] returns it.
pub fn write_result_line(
    out: &mut impl std::io::Write,
    input: &[u8],
    matches_json: &[u8],
) -> std::io::Result<()> {
    out.write_all(b"{\"input\":")?;
    serde_json::to_writer(&mut *out, &String::from_utf8_lossy(input))?;
    out.write_all(b",\"matches\":")?;
    out.write_all(matches_json)?;
    out.write_all(b"}")
}
