//! One build, end to end: read rules, compile, bake, verify, write.

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use dfabake_matcher::format::{checksum, AlignedBytes, Database};
use dfabake_matcher::layout::{check, check_baked_from, read as read_layout};
use dfabake_matcher::module::find_database;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::bake::{bake, TEMPLATE};
use crate::compile::{check_all, compile_with, Compiled, Config, OnInvalid};
use crate::dialect::Dialect;
use crate::error::{BuildError, RowError};
use crate::manifest::{
    gzip_len, BuildEntry, DatabaseEntry, Manifest, ModuleEntry, NpmEntry, TemplateEntry, Tools,
};
use crate::npm::{bake_package_module, stage_package, NpmOptions, PACKAGE_DIR, WASM_FILE};
use crate::output::{Staging, GENERATOR};
use crate::progress::{Progress, Silent};
use crate::rules::{Entry, FileFormat, RuleSpec};
pub use crate::source::Source;

/// Everything `dfabake build` takes.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    /// Where the rules come from.
    pub source: Source,
    /// How their patterns and flags are written (`--dialect`); translated
    /// into the `regex` crate's syntax as they are read.
    pub dialect: Dialect,
    /// How to read a patterns file.
    pub format: FileFormat,
    /// The output directory (`matcher.wasm`, `manifest.json`).
    pub out: PathBuf,
    /// Compile options.
    pub config: Config,
    /// The npm package written as `OUT/npm/` (`None`: no package).
    pub npm: Option<NpmOptions>,
    /// Replace `out` even when it holds files dfabake did not write.
    pub force: bool,
}

impl BuildOptions {
    /// Default options for a source and an output directory; the dialect
    /// is the source's default ([`Source::default_dialect`]).
    pub fn new(source: Source, out: PathBuf) -> BuildOptions {
        BuildOptions {
            dialect: source.default_dialect(),
            source,
            format: FileFormat::Auto,
            out,
            config: Config::default(),
            npm: Some(NpmOptions::default()),
            force: false,
        }
    }
}

/// What a successful build wrote.
#[derive(Debug)]
pub struct BuildReport {
    /// Rules baked.
    pub rule_count: usize,
    /// Rules skipped under `--on-invalid skip`.
    pub skipped: Vec<RowError>,
    /// `OUT/matcher.wasm`.
    pub module_path: PathBuf,
    /// The manifest as written to `OUT/manifest.json`.
    pub manifest: Manifest,
    /// The working directory was the output directory (or inside it), and
    /// now refers to the old, removed tree: `cd .` finds the new one.
    pub cwd_replaced: bool,
    /// What went wrong without failing the build (an unusable shard
    /// cache), for the caller to show.
    pub warnings: Vec<String>,
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Checks a baked module natively: it is the template with the database
/// baked in and nothing else changed, its database is found where the
/// locator says, is byte-identical to what was compiled, passes full
/// verification (checksum, every DFA, every rule reachable) and reads back
/// every rule as written.
pub fn verify_module(module: &[u8], database: &[u8], rules: &[RuleSpec]) -> Result<(), String> {
    check_baked_from(module, TEMPLATE).map_err(|e| e.to_string())?;
    let found = find_database(module).map_err(|e| e.to_string())?;
    if found != database {
        return Err("the database read back from the module differs from the one compiled".into());
    }
    // A baked database starts at an 8-aligned offset of the module, so it
    // is read in place unless the module's buffer itself is not aligned.
    let copy;
    let found = if (found.as_ptr() as usize).is_multiple_of(8) {
        found
    } else {
        copy = AlignedBytes::copy_from(found);
        copy.as_bytes()
    };
    let db = Database::from_bytes(found).map_err(|e| e.to_string())?;
    if db.rule_count() != rules.len() {
        return Err(format!(
            "{} rules read back, {} written",
            db.rule_count(),
            rules.len()
        ));
    }
    for (i, rule) in rules.iter().enumerate() {
        let got = db.rule(i);
        let payload = rule.payload.as_ref().map(|p| p.to_string());
        if got.id_json() != rule.id.to_json() || got.payload_json() != payload.as_deref() {
            return Err(format!("rule {i} (id {}) reads back differently", rule.id));
        }
    }
    // That every rule is decided by a shard or by the prefilter alone is
    // part of `Database::from_bytes`, which every host runs too.
    Ok(())
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Runs a build. On error nothing is written and a previous output is kept.
///
/// ```
/// use dfabake::{build, BuildError, BuildOptions, RuleId, RuleSpec, Source};
///
/// let dir = tempfile::tempdir()?;
/// let out = dir.path().join("out");
/// let rules = |pattern: &str| Source::Rules {
///     name: "example".into(),
///     rules: vec![RuleSpec::new(RuleId::Int(1), pattern)],
/// };
/// let mut opts = BuildOptions::new(rules("Googlebot"), out.clone());
/// opts.npm = None;
/// let first = build(&opts)?;
/// let module = std::fs::read(&first.module_path)?;
///
/// // A failed build names the rule and leaves the previous output as it was.
/// opts.source = rules("Googlebot(");
/// let err = build(&opts).unwrap_err();
/// assert!(matches!(err, BuildError::InvalidRows(_)), "{err}");
/// assert_eq!(std::fs::read(out.join("matcher.wasm"))?, module);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn build(opts: &BuildOptions) -> Result<BuildReport, BuildError> {
    build_with(opts, &Silent)
}

/// [`build`], telling `progress` how far it has come (reading, checking,
/// compiling, writing).
pub fn build_with(opts: &BuildOptions, progress: &dyn Progress) -> Result<BuildReport, BuildError> {
    let started_at = SystemTime::now();
    let t0 = Instant::now();
    if let Some(npm) = &opts.npm {
        npm.check().map_err(BuildError::BadOption)?;
    }
    let staging = Staging::new(&opts.out, opts.force)?;
    // Every source gives its entries in priority order: rules, and rows
    // that cannot be rules (malformed lines, rows in another dialect that
    // do not translate). Sources only read and translate: `compile` checks.
    let entries: Vec<Entry> = opts.source.read(opts.format, opts.dialect, progress)?;
    let source_name = opts.source.describe();
    // Where each rule and each bad entry stands in the source.
    let mut rules = Vec::with_capacity(entries.len());
    let mut rule_entry = Vec::with_capacity(entries.len());
    let mut pre_errors: Vec<(usize, RowError)> = Vec::new();
    for (i, entry) in entries.into_iter().enumerate() {
        match entry {
            Ok(rule) => {
                rules.push(rule);
                rule_entry.push(i);
            }
            Err(e) => pre_errors.push((i, e)),
        }
    }
    if !pre_errors.is_empty() && opts.config.on_invalid == OnInvalid::Fail {
        // Every bad rule at once: the rules that did read are checked too.
        let mut all = pre_errors;
        all.extend(
            check_all(&rules, &opts.config, progress)
                .into_iter()
                .map(|(k, e)| (rule_entry[k], e)),
        );
        all.sort_by_key(|(i, _)| *i);
        return Err(BuildError::InvalidRows(
            all.into_iter().map(|(_, e)| e).collect(),
        ));
    }
    if rules.is_empty() {
        return Err(BuildError::NoRules {
            source: source_name,
            skipped: pre_errors.len(),
        });
    }
    let mut compiled: Compiled = compile_with(&rules, &opts.config, &source_name, progress)?;
    if !pre_errors.is_empty() {
        // The rules compile left out are those not kept, in order.
        let mut kept = compiled.kept.iter().copied().peekable();
        let left_out = (0..rules.len()).filter(|&k| {
            if kept.peek() == Some(&k) {
                kept.next();
                false
            } else {
                true
            }
        });
        let mut skipped: Vec<(usize, RowError)> = left_out
            .map(|k| rule_entry[k])
            .zip(std::mem::take(&mut compiled.skipped))
            .chain(pre_errors)
            .collect();
        skipped.sort_by_key(|(i, _)| *i);
        compiled.skipped = skipped.into_iter().map(|(_, e)| e).collect();
    }
    progress.step("baking and verifying the module", None);
    let kept: Vec<RuleSpec> = compiled.kept.iter().map(|&i| rules[i].clone()).collect();
    let module = bake(TEMPLATE, &compiled.database).map_err(BuildError::Verify)?;
    let checksum = format!("xxh3:{:016x}", checksum(&compiled.database));
    // Sizes after gzip are what edge platforms limit; compressing a big
    // module takes longest of all (a rebake is mostly that), so each
    // module is compressed and hashed on threads of its own while the
    // modules are verified and written (waiting on the disk, mostly): the
    // plain module on this thread, the npm package on another.
    let (module_gzip, module_sha256, npm) = std::thread::scope(|s| -> Result<_, BuildError> {
        let module_gzip = s.spawn(|| gzip_len(&module));
        let module_sha256 = s.spawn(|| sha256_hex(&module));
        let npm = opts.npm.as_ref().map(|npm| {
            s.spawn(|| -> Result<NpmEntry, BuildError> {
                let npm_module = std::sync::Arc::new(bake_package_module(&compiled.database)?);
                let gzip = s.spawn({
                    let npm_module = std::sync::Arc::clone(&npm_module);
                    move || gzip_len(&npm_module)
                });
                // The database inside is verified in full on the other
                // thread; the package's module must hold the very same
                // bytes.
                let verify = |m: &[u8]| match check_baked_from(m, crate::npm::NPM_TEMPLATE) {
                    Ok(baked) if baked.database == compiled.database.as_slice() => Ok(()),
                    Ok(_) => {
                        Err("the npm module's database differs from the one compiled".to_string())
                    }
                    Err(e) => Err(e.to_string()),
                };
                stage_package(
                    &staging,
                    npm,
                    &npm_module,
                    compiled.rule_count,
                    &checksum,
                    verify,
                )?;
                Ok(NpmEntry {
                    dir: PACKAGE_DIR.to_string(),
                    name: npm.name.clone(),
                    version: npm.version.clone(),
                    module: ModuleEntry {
                        file: format!("{PACKAGE_DIR}/{WASM_FILE}"),
                        bytes: npm_module.len(),
                        sha256: sha256_hex(&npm_module),
                        gzip_bytes: gzip.join().expect("gzip thread"),
                    },
                })
            })
        });
        verify_module(&module, &compiled.database, &kept).map_err(BuildError::Verify)?;
        staging.write("matcher.wasm", &module)?;
        let npm = npm
            .map(|npm| npm.join().expect("npm package thread"))
            .transpose()?;
        Ok((
            module_gzip.join().expect("gzip thread"),
            module_sha256.join().expect("hashing thread"),
            npm,
        ))
    })?;
    let mut manifest = Manifest {
        generator: GENERATOR.to_string(),
        format_version: dfabake_matcher::format::VERSION,
        abi_version: dfabake_matcher::abi_contract::ABI_VERSION,
        source: source_name,
        rules: compiled.rule_count,
        skipped: compiled.skipped.clone(),
        shards: compiled.shards.clone(),
        approximate_rules: compiled.approximate_ids(&rules),
        rule_paths: compiled.rule_paths(&rules),
        database: DatabaseEntry {
            bytes: compiled.database.len(),
            checksum,
        },
        module: ModuleEntry {
            file: "matcher.wasm".to_string(),
            bytes: module.len(),
            gzip_bytes: module_gzip,
            sha256: module_sha256,
        },
        template: TemplateEntry {
            bytes: TEMPLATE.len(),
            sha256: sha256_hex(TEMPLATE),
        },
        build: BuildEntry {
            started_at: rfc3339(started_at),
            compile_seconds: compiled.elapsed.as_secs_f64(),
            total_seconds: t0.elapsed().as_secs_f64(),
            config: opts.config.clone(),
        },
        tools: Tools {
            dfabake: env!("CARGO_PKG_VERSION").to_string(),
            regex_automata: dfabake_matcher::REGEX_AUTOMATA_VERSION.to_string(),
        },
        npm,
        files: Vec::new(),
    };
    // The record of what the directory holds: a later build replaces it
    // only if it holds nothing else.
    manifest.files = staging.files(&["manifest.json"]);
    staging.write("manifest.json", manifest.to_json().as_bytes())?;
    let committed = staging.commit()?;
    Ok(BuildReport {
        rule_count: compiled.rule_count,
        skipped: compiled.skipped,
        module_path: committed.path.join("matcher.wasm"),
        manifest,
        cwd_replaced: committed.cwd_replaced,
        warnings: compiled.warnings,
    })
}

/// Shard flags `dfabake inspect` does not list (it never has).
const INSPECT_OMITS: &[&str] = &["after_literal", "at_start"];

/// Reads and fully verifies a baked module file: its layout (as a host
/// checks it; and, when its code is that of one of this builder's
/// templates, that nothing but the database was added to it) and its
/// database.
pub fn inspect(module_path: &Path) -> Result<serde_json::Value, BuildError> {
    let module = std::fs::read(module_path).map_err(|e| BuildError::Io {
        path: module_path.to_path_buf(),
        source: e,
    })?;
    let verify = |e: dfabake_matcher::FormatError| BuildError::Verify(e.to_string());
    let found = check(&module).map_err(verify)?.database;
    // Only this builder's templates are known here; a module baked by
    // another version gets the checks a host makes.
    fn code(wasm: &[u8]) -> Option<&[u8]> {
        read_layout(wasm).ok()?.section(10)
    }
    let template = [("plain", TEMPLATE), ("npm", crate::npm::NPM_TEMPLATE)]
        .into_iter()
        .find(|(_, t)| code(t).is_some() && code(t) == code(&module));
    if let Some((_, t)) = template {
        check_baked_from(&module, t).map_err(verify)?;
    }
    let aligned = AlignedBytes::copy_from(found);
    let db =
        Database::from_bytes(aligned.as_bytes()).map_err(|e| BuildError::Verify(e.to_string()))?;
    // A gated shard's pairs, as the manifest reports them.
    let gates: std::collections::HashMap<u32, Vec<String>> = db
        .gates()
        .map(|g| {
            g.shards()
                .map(|(shard, mask)| {
                    let pairs = g.pairs(mask);
                    (shard, pairs.iter().map(crate::relax::pair_text).collect())
                })
                .collect()
        })
        .unwrap_or_default();
    let shards: Vec<_> = db
        .shards()
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut entry = json!({
                "rules": s.rule_count(),
                "kind": s.kind().name(),
            });
            for (name, on) in s
                .flags()
                .named()
                .filter(|(name, _)| !INSPECT_OMITS.contains(name))
            {
                entry[name] = json!(on);
            }
            // Where an approximate DFA needs no confirmation, as the
            // manifest reports it.
            let mut bounds: Vec<crate::compile::RunBound> = (0..s.rule_count())
                .flat_map(|pid| s.run_bounds(pid))
                .map(|(set, most)| crate::compile::RunBound {
                    bytes: crate::relax::byte_set_class(&db.byte_set(set)),
                    longest_run: most,
                })
                .collect();
            bounds.sort();
            bounds.dedup();
            if !bounds.is_empty() {
                entry["run_bounds"] = json!(bounds);
            }
            if let Some(gate) = gates.get(&(i as u32)) {
                entry["gate"] = json!(gate);
            }
            entry
        })
        .collect();
    Ok(json!({
        "rules": db.rule_count(),
        "shards": shards,
        "prefilter_literals": db.prefilter().map_or(0, |p| p.literal_count()),
        "prefilter_stride": db.prefilter().map_or(0, |p| p.stride()),
        "database": {
            "bytes": db.as_bytes().len(),
            "exact_program_bytes": (0..db.rule_count()).map(|i| db.rule(i).exact_program().len()).sum::<usize>(),
            "checksum": format!("xxh3:{:016x}", db.checksum()),
        },
        "module": {
            "bytes": module.len(),
            "sha256": sha256_hex(&module),
            "template": template.map(|(name, _)| name),
        },
    }))
}
