//! The module index: which modules each package version of a rocks server provides, so that
//! `require "lfs"` can be answered with "add luafilesystem".
//!
//! LuaRocks server manifests list no modules, so the index is built from what each release
//! carries: a rockspec's `build.modules` and `install.lua`/`install.lib` tables (and, for a
//! `builtin` build whose sources are inside its `.src.rock`, the top-level `lua/` directory
//! and the `luaopen_*` functions its C sources define), a binary or `.all` rock's
//! `rock_manifest` and the symbols of the libraries in it, and — for what is installed — a
//! tree's own manifest and libraries. One index is kept per server and Lua version in the
//! cache directory, as a [`ModuleIndex`] (a compact layout answered from in place, with
//! nothing built per release), stamped with the sha256 of the server manifest it was built from: it is
//! built the first time it is asked for, rebuilt when the manifest changes (reusing every
//! release already indexed, since a published release does not change) and read without any
//! network access by [`cached`], which error paths use.

mod build;
mod extract;
mod store;
pub mod symbols;

pub use build::{load_or_build, BuildOptions};
pub use extract::{modules_from_rockspec, tree_modules};
pub use store::{ModuleIndex, Release, StoreError};

use crate::packages::names::{ModuleName, PackageName};
use crate::packages::version::Version;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How a release provides a module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModuleKind {
    /// A Lua file.
    Lua,
    /// A compiled module file (`lfs.so`).
    C,
    /// Another `luaopen_*` function inside a compiled module file (`cjson.safe` in
    /// `cjson.so`), found by Lua's all-in-one loader.
    Opener,
}

/// One module of a release.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ProvidedModule {
    pub name: ModuleName,
    pub kind: ModuleKind,
}

/// What one package version provides.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IndexedRelease {
    /// The name as the server writes it.
    pub name: PackageName,
    pub version: Version,
    pub modules: Vec<ProvidedModule>,
    /// Why the list may be incomplete or empty (a rockspec that does not parse, a `make`
    /// build whose modules only its Makefile knows), if anything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// True when the note is a failure to fetch (retried on the next build), not a property
    /// of the release.
    #[serde(skip)]
    pub retry: bool,
}

impl IndexedRelease {
    /// Whether this release provides `module` (`a` and `a.init` are one module: `require "a"`
    /// finds `a/init.lua`).
    pub fn provides(&self, module: &str) -> Option<ModuleKind> {
        let wanted = canonical(module);
        self.modules
            .iter()
            .find(|m| canonical(m.name.as_str()) == wanted)
            .map(|m| m.kind)
    }
}

/// `a.init` → `a`: what `require` resolves both to.
fn canonical(module: &str) -> &str {
    module.strip_suffix(".init").unwrap_or(module)
}

/// The index of one server for one Lua version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServerModules {
    pub server: String,
    pub lua: String,
    /// sha256 of the server manifest the index was built from.
    pub manifest_sha256: String,
    /// Every release, by lower-cased package name, newest version first.
    pub packages: BTreeMap<String, Vec<IndexedRelease>>,
}

impl ServerModules {
    pub fn release_count(&self) -> usize {
        self.packages.values().map(Vec::len).sum()
    }
}

/// A package that provides a module, as [`providers`] ranks it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Provider {
    /// The package name as the server writes it.
    pub package: String,
    /// The versions that provide the module, newest first.
    pub versions: Vec<String>,
    pub kind: ModuleKind,
    /// The server of the newest of them.
    pub server: String,
    /// Whether pylua's curated catalog lists the package.
    pub in_catalog: bool,
    /// How many versions of the package the servers have (all of them, not only those
    /// providing the module): a stand-in for how established it is.
    pub version_count: usize,
}

/// The packages that provide `module` in `indexes` (given in server priority order), best
/// first: catalogued packages, then those with more versions, then by name.
pub fn providers(
    indexes: &[ModuleIndex],
    module: &str,
    in_catalog: impl Fn(&str) -> bool,
) -> Vec<Provider> {
    let mut found: BTreeMap<String, Provider> = BTreeMap::new();
    for index in indexes {
        for (release, kind) in index.providing(module) {
            let provider = found
                .entry(release.lower.to_string())
                .or_insert_with(|| Provider {
                    package: release.name.to_string(),
                    versions: Vec::new(),
                    kind,
                    server: index.server().to_string(),
                    in_catalog: in_catalog(release.lower),
                    version_count: 0,
                });
            if !provider.versions.iter().any(|v| v == release.version) {
                provider.versions.push(release.version.to_string());
            }
        }
    }
    for (key, provider) in found.iter_mut() {
        let mut all: Vec<Version> = indexes
            .iter()
            .flat_map(|i| i.package_releases(key))
            .filter_map(|r| Version::parse(r.version).ok())
            .collect();
        all.sort();
        all.dedup();
        provider.version_count = all.len();
        let mut versions: Vec<Version> = provider
            .versions
            .iter()
            .filter_map(|v| Version::parse(v).ok())
            .collect();
        versions.sort_by(|a, b| b.cmp(a));
        versions.dedup();
        provider.versions = versions.iter().map(Version::to_string).collect();
    }
    let mut list: Vec<Provider> = found.into_values().collect();
    list.sort_by(|a, b| {
        b.in_catalog
            .cmp(&a.in_catalog)
            .then(b.version_count.cmp(&a.version_count))
            .then(
                a.package
                    .to_ascii_lowercase()
                    .cmp(&b.package.to_ascii_lowercase()),
            )
    });
    list
}

/// Reads an index file's bytes (as the cache keeps them): the checked [`ModuleIndex`], or
/// an error naming what is wrong.
pub fn decode(bytes: &[u8]) -> Result<ModuleIndex, StoreError> {
    ModuleIndex::from_bytes(bytes.to_vec(), "(bytes)")
}

/// The directory of the module indexes inside a cache directory.
pub fn index_dir(cache_root: &Path) -> PathBuf {
    cache_root.join("module-index")
}

/// Every module index in the cache, read from disk only (never the network): what an error
/// path may consult. Indexes that cannot be read are skipped. Those of `preferred` servers
/// (in that order) come first.
pub fn cached(cache_root: &Path, preferred: &[String]) -> Vec<ModuleIndex> {
    let Ok(entries) = std::fs::read_dir(index_dir(cache_root)) else {
        return Vec::new();
    };
    let mut found: Vec<ModuleIndex> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(store::EXTENSION))
        .filter_map(|e| store::read(&e.path()).ok())
        .collect();
    let rank = |s: &ModuleIndex| {
        preferred
            .iter()
            .position(|p| p.trim_end_matches('/') == s.server())
            .unwrap_or(preferred.len())
    };
    found.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.server().cmp(b.server())));
    found
}

/// The module named in Lua's "module not found" error (`module 'lfs' not found:`), if the
/// message is one.
pub fn missing_module(message: &str) -> Option<ModuleName> {
    let start = message.find("module '")? + "module '".len();
    let rest = &message[start..];
    let end = rest.find('\'')?;
    if !rest[end..].starts_with("' not found") {
        return None;
    }
    ModuleName::parse(&rest[..end]).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(name: &str, version: &str, modules: &[(&str, ModuleKind)]) -> IndexedRelease {
        IndexedRelease {
            name: PackageName::parse(name).unwrap(),
            version: Version::parse(version).unwrap(),
            modules: modules
                .iter()
                .map(|(m, k)| ProvidedModule {
                    name: ModuleName::parse(m).unwrap(),
                    kind: *k,
                })
                .collect(),
            note: None,
            retry: false,
        }
    }

    #[test]
    fn ranks_catalog_then_versions_then_name() {
        let index = ServerModules {
            server: "file:///s".into(),
            lua: "5.4".into(),
            manifest_sha256: "a".repeat(64),
            packages: BTreeMap::from([
                (
                    "zjson".into(),
                    vec![
                        release("zjson", "2.0-1", &[("json", ModuleKind::Lua)]),
                        release("zjson", "1.0-1", &[("json", ModuleKind::Lua)]),
                    ],
                ),
                (
                    "ajson".into(),
                    vec![release("ajson", "1.0-1", &[("json.init", ModuleKind::Lua)])],
                ),
                (
                    "bjson".into(),
                    vec![release("bjson", "1.0-1", &[("json", ModuleKind::C)])],
                ),
            ]),
        };
        let index = ModuleIndex::build(&index);
        let names = |c: &dyn Fn(&str) -> bool| -> Vec<String> {
            providers(std::slice::from_ref(&index), "json", c)
                .into_iter()
                .map(|p| p.package)
                .collect()
        };
        assert_eq!(names(&|_| false), ["zjson", "ajson", "bjson"]);
        assert_eq!(names(&|n| n == "bjson"), ["bjson", "zjson", "ajson"]);
        let p = &providers(std::slice::from_ref(&index), "json", |_| false)[0];
        assert_eq!(p.versions, ["2.0-1", "1.0-1"]);
        assert!(providers(std::slice::from_ref(&index), "nope", |_| false).is_empty());
    }

    #[test]
    fn reads_module_not_found_messages() {
        let m = "main.lua:1: module 'lfs' not found:\n\tno field package.preload['lfs']";
        assert_eq!(missing_module(m).unwrap().as_str(), "lfs");
        assert_eq!(
            missing_module("module 'a.b' not found").unwrap().as_str(),
            "a.b"
        );
        assert!(missing_module("error loading module 'x' from file").is_none());
        assert!(missing_module("module '../x' not found").is_none());
        assert!(missing_module("module 'x").is_none());
    }
}
