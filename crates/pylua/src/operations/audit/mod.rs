//! `pylua audit`: what is installed (a project's tree and lock, or any rocks tree) checked
//! against security advisories (OSV records, see [`advisories`]), every installed file
//! against its `rock_manifest` checksum, and installed code that reaches the shell, loads
//! code or native libraries ([`risky`], information unless a category is denied). The
//! report renders as text, JSON or SARIF ([`sarif`]).

pub mod advisories;
pub mod risky;
pub mod sarif;

use crate::interpreters::LuaVersion;
use crate::packages::tree::verify::{verify, Verification};
use crate::packages::tree::Tree;
use crate::packages::version::Version;
use advisories::{Advisory, Source};
use risky::{Category, RiskyCode};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What to audit with.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// Where advisories come from (the built-in set, `config.toml`'s `advisories`, and
    /// `--advisories`).
    pub sources: Vec<Source>,
    /// Where downloaded advisory files are cached.
    pub cache: PathBuf,
    /// Categories of risky code that fail the audit.
    pub deny: Vec<Category>,
}

impl AuditOptions {
    /// The sources every front uses: the built-in set (unless `builtin` is off), the
    /// configuration's `advisories`, then `extra` (one run's `--advisories`).
    pub fn from_config(
        config: &crate::config::Config,
        extra: &[String],
        deny: Vec<Category>,
        builtin: bool,
    ) -> AuditOptions {
        let mut sources = Vec::new();
        if builtin {
            sources.push(Source::BuiltIn);
        }
        sources.extend(config.advisories.iter().map(|s| Source::parse(s)));
        sources.extend(extra.iter().map(|s| Source::parse(s)));
        AuditOptions {
            sources,
            cache: config
                .cache_dir
                .clone()
                .unwrap_or_else(|| crate::paths::Paths::discover().cache),
            deny,
        }
    }
}

/// A package version an advisory affects.
#[derive(Debug, Clone, Serialize)]
pub struct AdvisoryFinding {
    pub id: String,
    pub aliases: Vec<String>,
    pub summary: String,
    pub severity: Option<String>,
    pub package: String,
    /// The installed or locked version (for `lua`, the interpreter's).
    pub version: String,
    /// The lowest fixed version above it, when the advisory names one.
    pub fixed: Option<String>,
    pub source: String,
}

/// A locked file whose cached copy no longer has the sha256 the lock records.
#[derive(Debug, Clone, Serialize)]
pub struct LockMismatch {
    pub package: String,
    pub version: String,
    pub url: String,
    pub locked: String,
    pub cached: String,
}

/// The audit's findings.
#[derive(Debug, Clone, Serialize)]
pub struct AuditReport {
    /// The tree audited.
    pub tree: String,
    pub advisories: Vec<AdvisoryFinding>,
    pub integrity: Verification,
    /// Locked files whose cached copies differ from the lock (projects only).
    pub lock_mismatches: Vec<LockMismatch>,
    pub risky: Vec<RiskyCode>,
    /// The denied categories that have findings.
    pub denied: Vec<Category>,
    pub sources: Vec<String>,
    /// No advisory, no damaged file, nothing in a denied category.
    pub passed: bool,
}

/// Audits `tree`, plus the `locked` packages (name, version) not installed in it, and the
/// Lua interpreter `lua_release` (`Lua 5.4.7`) when given.
pub fn audit(
    tree: &Tree,
    locked: &[(String, String)],
    lua_release: Option<&str>,
    options: &AuditOptions,
) -> Result<AuditReport, String> {
    let known = advisories::load(&options.sources, &options.cache)?;
    let mut by_package: BTreeMap<&str, Vec<&Advisory>> = BTreeMap::new();
    for a in &known {
        by_package.entry(a.package.as_str()).or_default().push(a);
    }
    let installed = tree.read().map_err(|e| e.to_string())?;
    let mut versions: BTreeMap<String, String> = installed
        .values()
        .map(|r| (r.name.to_ascii_lowercase(), r.version.to_string()))
        .collect();
    for (name, version) in locked {
        versions
            .entry(name.to_ascii_lowercase())
            .or_insert_with(|| version.clone());
    }
    if let Some(release) = lua_release {
        if let Some(v) = release.split_whitespace().nth(1) {
            versions.insert("lua".into(), v.to_string());
        }
    }
    let mut found = Vec::new();
    for (name, text) in &versions {
        let Ok(version) = Version::parse(text) else {
            continue;
        };
        for advisory in by_package.get(name.as_str()).into_iter().flatten() {
            if advisory.affects(&version) {
                found.push(AdvisoryFinding {
                    id: advisory.id.clone(),
                    aliases: advisory.aliases.clone(),
                    summary: advisory.summary.clone(),
                    severity: advisory.severity.clone(),
                    package: name.clone(),
                    version: text.clone(),
                    fixed: advisory.fixed_after(&version).map(|v| v.to_string()),
                    source: advisory.source.clone(),
                });
            }
        }
    }
    let integrity = verify(tree, &installed);
    let risky = risky::scan(tree, &installed);
    let mut denied: Vec<Category> = options
        .deny
        .iter()
        .copied()
        .filter(|c| risky.iter().any(|r| r.category == *c))
        .collect();
    denied.sort();
    denied.dedup();
    let passed = found.is_empty() && integrity.damaged.is_empty() && denied.is_empty();
    Ok(AuditReport {
        tree: tree.root().display().to_string(),
        advisories: found,
        integrity,
        lock_mismatches: Vec::new(),
        risky,
        denied,
        sources: advisories::source_names(&options.sources),
        passed,
    })
}

/// The release of the Lua a project or tree runs on: the embedded one for 5.4, else the
/// interpreter pylua would find.
pub fn lua_release(lua: LuaVersion) -> Option<String> {
    if lua == LuaVersion::Lua54 {
        return Some(crate::runtime::LUA_RELEASE.to_string());
    }
    crate::interpreters::find(lua, &crate::paths::Paths::discover())
        .ok()
        .map(|i| i.release)
}
