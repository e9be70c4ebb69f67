//! One build, end to end: read rules, compile, bake, verify, write.

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use dfabake_matcher::format::{checksum, AlignedBytes, Database};
use dfabake_matcher::layout::{check, check_baked_from, read as read_layout};
use dfabake_matcher::module::find_database;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::bake::{bake, TEMPLATE};
use crate::compile::{compile, Compiled, Config};
use crate::manifest::{gzip_len, BuildEntry, DatabaseEntry, Manifest, ModuleEntry, NpmEntry, TemplateEntry, Tools};
use crate::error::{BuildError, RowError};
use crate::npm::{write_package, NpmOptions};
use crate::output::{Staging, GENERATOR};
use crate::rules::{load_file, FileFormat, RuleSpec};

/// Where the rules come from.
#[derive(Clone, Debug)]
pub enum Source {
    /// A patterns file (JSON Lines or plain text).
    File(PathBuf),
    /// Rules already in memory; `name` is used in messages and the manifest.
    Rules {
        /// Describes the source.
        name: String,
        /// The rules, in priority order.
        rules: Vec<RuleSpec>,
    },
    /// A patterns file whose patterns and flags are in the MySQL `REGEXP`
    /// dialect (`--patterns FILE --dialect mysql`).
    MysqlDialectFile(PathBuf),
    /// A MySQL/MariaDB table or query.
    Mysql(crate::mysql::MysqlSource),
}

/// Everything `dfabake build` takes.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    /// Where the rules come from.
    pub source: Source,
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
    /// Default options for a source and an output directory.
    pub fn new(source: Source, out: PathBuf) -> BuildOptions {
        BuildOptions {
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
    let aligned = AlignedBytes::copy_from(found);
    let db = Database::from_bytes(aligned.as_bytes()).map_err(|e| e.to_string())?;
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
pub fn build(opts: &BuildOptions) -> Result<BuildReport, BuildError> {
    let started_at = SystemTime::now();
    let t0 = Instant::now();
    if let Some(npm) = &opts.npm {
        crate::npm::check_name(&npm.name).map_err(BuildError::BadOption)?;
        crate::npm::check_version(&npm.version).map_err(BuildError::BadOption)?;
    }
    let staging = Staging::new(&opts.out, opts.force)?;
    // Sources in another dialect are translated (and checked) first; their
    // bad rows are reported together, or skipped, as the compile path does.
    let mut progress = None;
    let (source_name, rules, pre_errors) = match &opts.source {
        Source::File(path) => (
            path.display().to_string(),
            load_file(path, opts.format)?,
            vec![],
        ),
        Source::Rules { name, rules } => (name.clone(), rules.clone(), vec![]),
        Source::MysqlDialectFile(path) => {
            let (good, bad) = crate::dialect::translate_all(&load_file(path, opts.format)?);
            (path.display().to_string(), good, bad)
        }
        Source::Mysql(src) => {
            let loaded = crate::mysql::load(src)?;
            if loaded.rows_read == 0 {
                return Err(BuildError::Source(format!(
                    "no rules in {}: the query returned no rows; nothing was written",
                    src.describe()
                )));
            }
            progress = Some(crate::mysql::progress_bar(src.progress));
            (src.describe(), loaded.rules, loaded.errors)
        }
    };
    if !pre_errors.is_empty() && opts.config.on_invalid == crate::compile::OnInvalid::Fail {
        return Err(BuildError::InvalidRows(pre_errors));
    }
    if rules.is_empty() {
        return Err(BuildError::NoRules {
            source: source_name,
            skipped: pre_errors.len(),
        });
    }
    if let Some(pb) = &progress {
        pb.set_message(format!("compiling {} rules", rules.len()));
    }
    let mut compiled: Compiled = compile(&rules, &opts.config, &source_name)?;
    if let Some(pb) = progress {
        pb.finish_and_clear();
    }
    if !pre_errors.is_empty() {
        let mut skipped = pre_errors;
        skipped.append(&mut compiled.skipped);
        compiled.skipped = skipped;
    }
    let kept: Vec<RuleSpec> = compiled.kept.iter().map(|&i| rules[i].clone()).collect();
    let module = bake(TEMPLATE, &compiled.database).map_err(BuildError::Verify)?;
    // Sizes after gzip are what edge platforms limit; compressing a big
    // module takes a while, so it runs beside verification and packaging.
    let (module_gzip, npm) = std::thread::scope(|s| -> Result<_, BuildError> {
        let module_gzip = s.spawn(|| gzip_len(&module));
        verify_module(&module, &compiled.database, &kept).map_err(BuildError::Verify)?;
        let checksum = format!("xxh3:{:016x}", checksum(&compiled.database));
        let npm = match &opts.npm {
            Some(npm) => {
                // The database inside was verified in full just above; the
                // package's module must hold the very same bytes.
                let verify = |m: &[u8]| match check_baked_from(m, crate::npm::NPM_TEMPLATE) {
                    Ok(baked) if baked.database == compiled.database.as_slice() => Ok(()),
                    Ok(_) => Err("the npm module's database differs from the one compiled".to_string()),
                    Err(e) => Err(e.to_string()),
                };
                let report = write_package(
                    &staging,
                    npm,
                    &compiled.database,
                    compiled.rule_count,
                    &checksum,
                    verify,
                )?;
                Some(NpmEntry {
                    dir: report.dir.to_string(),
                    name: npm.name.clone(),
                    version: npm.version.clone(),
                    module: ModuleEntry {
                        file: report.module_file,
                        bytes: report.module.len(),
                        gzip_bytes: gzip_len(&report.module),
                        sha256: sha256_hex(&report.module),
                    },
                })
            }
            None => None,
        };
        Ok((module_gzip.join().expect("gzip thread"), npm))
    })?;
    let checksum = format!("xxh3:{:016x}", checksum(&compiled.database));
    staging.write("matcher.wasm", &module)?;
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
            sha256: sha256_hex(&module),
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
    let shards: Vec<_> = db
        .shards()
        .iter()
        .map(|s| {
            let mut entry = json!({
                "rules": s.rule_count(),
                "kind": s.kind().name(),
            });
            for (name, on) in s.flags().named().filter(|(name, _)| !INSPECT_OMITS.contains(name)) {
                entry[name] = json!(on);
            }
            entry
        })
        .collect();
    Ok(json!({
        "rules": db.rule_count(),
        "shards": shards,
        "prefilter_literals": db.prefilter().map_or(0, |p| p.literal_count()),
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
