//! dfabake's wasmtime host: load a baked matcher module, verify its database
//! natively once, compile it once, and answer matches from long-lived
//! instances.
//!
//! ```no_run
//! use dfabake_host::MatcherModule;
//! use dfabake_matcher::Mode;
//!
//! let module = MatcherModule::load("out/matcher.wasm".as_ref())?;
//! let mut instance = module.instantiate()?;
//! for ua in ["curl/8.0", "Mozilla/5.0 (compatible; Googlebot/2.1)"] {
//!     println!("{}", instance.match_json(Mode::All, ua.as_bytes())?);
//! }
//! # Ok::<(), anyhow::Error>(())
//! ```

use std::path::Path;

use anyhow::{bail, Context, Result};
use dfabake_matcher::format::{AlignedBytes, Database};
use dfabake_matcher::module::find_database;
use dfabake_matcher::Mode;
use wasmtime::{Engine, Instance, Memory, Module, Store, TypedFunc};

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
pub const ABI_VERSION: u32 = 1;

/// What the host learnt about a module while verifying it.
#[derive(Clone, Debug)]
pub struct ModuleInfo {
    /// Rules in the baked database.
    pub rules: usize,
    /// Shards in the baked database.
    pub shards: usize,
    /// The database checksum (XXH3-64), which identifies the rule set.
    pub checksum: u64,
    /// Size of the module file.
    pub module_bytes: usize,
}

/// Verifies the database baked into `wasm` (checksum, structure, every DFA),
/// natively and without instantiating anything.
pub fn verify_module_bytes(wasm: &[u8]) -> Result<ModuleInfo> {
    let db = find_database(wasm).context("module has no usable dfabake database")?;
    let aligned = AlignedBytes::copy_from(db);
    let db = Database::from_bytes(aligned.as_bytes()).context("baked database failed verification")?;
    Ok(ModuleInfo {
        rules: db.rule_count(),
        shards: db.shards().len(),
        checksum: db.checksum(),
        module_bytes: wasm.len(),
    })
}

/// A verified, compiled matcher module. Cheap to instantiate many times.
pub struct MatcherModule {
    engine: Engine,
    module: Module,
    info: ModuleInfo,
}

impl MatcherModule {
    /// Reads, verifies and compiles a module file.
    pub fn load(path: &Path) -> Result<MatcherModule> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        Self::from_bytes(&bytes).with_context(|| format!("loading {}", path.display()))
    }

    /// Verifies and compiles a module held in memory.
    pub fn from_bytes(wasm: &[u8]) -> Result<MatcherModule> {
        Self::with_engine(&Engine::default(), wasm)
    }

    /// Verifies and compiles a module with a caller-configured engine.
    pub fn with_engine(engine: &Engine, wasm: &[u8]) -> Result<MatcherModule> {
        let info = verify_module_bytes(wasm)?;
        let module = Module::new(engine, wasm).wctx("compiling the module")?;
        if module.imports().len() != 0 {
            bail!("module imports {} items; a dfabake matcher imports nothing", module.imports().len());
        }
        Ok(MatcherModule { engine: engine.clone(), module, info })
    }

    /// What verification found.
    pub fn info(&self) -> &ModuleInfo {
        &self.info
    }

    /// The compiled module.
    pub fn module(&self) -> &Module {
        &self.module
    }

    /// A new instance, initialized and ready to match.
    pub fn instantiate(&self) -> Result<MatcherInstance> {
        let mut store = Store::new(&self.engine, ());
        let instance =
            Instance::new(&mut store, &self.module, &[]).wctx("instantiating the module")?;
        MatcherInstance::new(store, instance)
    }
}

/// One instance of a matcher module, reused for every input.
pub struct MatcherInstance {
    store: Store<()>,
    memory: Memory,
    input: TypedFunc<u32, u32>,
    run: TypedFunc<(u32, u32), i32>,
    output_ptr: TypedFunc<(), u32>,
    output_len: TypedFunc<(), u32>,
}

impl MatcherInstance {
    fn new(mut store: Store<()>, instance: Instance) -> Result<MatcherInstance> {
        let version: TypedFunc<(), u32> = instance
            .get_typed_func(&mut store, "dfabake_abi_version")
            .wctx("not a dfabake matcher module (no dfabake_abi_version export)")?;
        let v = version.call(&mut store, ()).wctx("calling dfabake_abi_version")?;
        if v != ABI_VERSION {
            bail!("module speaks ABI version {v}, this host speaks {ABI_VERSION}");
        }
        let memory = instance.get_memory(&mut store, "memory").context("module exports no memory")?;
        let init: TypedFunc<(), i32> =
            instance.get_typed_func(&mut store, "dfabake_init").wctx("export dfabake_init")?;
        let mut me = MatcherInstance {
            input: instance.get_typed_func(&mut store, "dfabake_input").wctx("export dfabake_input")?,
            run: instance.get_typed_func(&mut store, "dfabake_match").wctx("export dfabake_match")?,
            output_ptr: instance
                .get_typed_func(&mut store, "dfabake_output_ptr")
                .wctx("export dfabake_output_ptr")?,
            output_len: instance
                .get_typed_func(&mut store, "dfabake_output_len")
                .wctx("export dfabake_output_len")?,
            store,
            memory,
        };
        let code = init.call(&mut me.store, ()).wctx("calling dfabake_init")?;
        if code != 0 {
            bail!("dfabake_init failed: {}", me.output_string()?);
        }
        Ok(me)
    }

    fn output_string(&mut self) -> Result<String> {
        let ptr = self.output_ptr.call(&mut self.store, ()).wctx("calling dfabake_output_ptr")? as usize;
        let len = self.output_len.call(&mut self.store, ()).wctx("calling dfabake_output_len")? as usize;
        let data = self.memory.data(&self.store);
        let bytes = data.get(ptr..ptr + len).context("output buffer out of bounds")?;
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }

    /// Matches one input and returns the JSON array of matches (see
    /// [`dfabake_matcher::json`] for its shape).
    pub fn match_json(&mut self, mode: Mode, input: &[u8]) -> Result<String> {
        let len = u32::try_from(input.len()).context("input larger than 4 GiB")?;
        let ptr = self.input.call(&mut self.store, len).wctx("calling dfabake_input")? as usize;
        self.memory
            .data_mut(&mut self.store)
            .get_mut(ptr..ptr + input.len())
            .context("input buffer out of bounds")?
            .copy_from_slice(input);
        let code = self.run.call(&mut self.store, (mode as u32, len)).wctx("calling dfabake_match")?;
        if code < 0 {
            bail!("dfabake_match failed ({code}): {}", self.output_string()?);
        }
        self.output_string()
    }

    /// The wasmtime store, e.g. to set limits or fuel.
    pub fn store_mut(&mut self) -> &mut Store<()> {
        &mut self.store
    }
}

/// One line of `dfabake-host match` output: `{"input": "...", "matches": [...]}`.
///
/// Inputs that are not UTF-8 are shown with U+FFFD replacement characters.
pub fn result_line(input: &[u8], matches_json: &str) -> String {
    let input = serde_json::to_string(&String::from_utf8_lossy(input)).unwrap();
    format!("{{\"input\":{input},\"matches\":{matches_json}}}")
}
