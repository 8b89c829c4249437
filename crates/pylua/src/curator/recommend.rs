//! Recommendations with reasons: from what a project's code requires (recorded runs and the
//! static scan), what its tree holds, the module index and the catalog, work out what to
//! add, what could go, what pairs with what is used, which better alternative exists, and
//! which package does not support the project's Lua. Every recommendation carries the
//! reason in words and the command that acts on it.
//!
//! This module only judges; gathering the inputs (reading the project, the tree, the usage
//! record, building the index) is the `recommend` operation's job.

use super::catalog::Catalog;
use super::module_index::{providers, IndexedRelease, ModuleIndex};
use super::require_scan::Site;
use super::usage::Usage;
use crate::packages::names::ModuleName;
use crate::packages::rockspec::Dependency;
use crate::packages::version::Version;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// What a recommendation asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A required module no installed package provides: add the package that does.
    Add,
    /// A required module no known package provides.
    Unknown,
    /// A Lua version the package does not support.
    UnsupportedLua,
    /// A dependency none of whose modules the code requires.
    Remove,
    /// The catalog's better choice for something used.
    Alternative,
    /// A package the catalog says goes well with one used.
    PairsWith,
    /// A package of the profile that is not installed (outside a project).
    Profile,
}

/// One recommendation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recommendation {
    pub kind: Kind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    pub reason: String,
    pub command: String,
}

/// A module the code requires, with what is known about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequiredModule {
    pub module: String,
    /// Runs that required it, and in how many it failed to load.
    pub runs: u64,
    pub failures: u64,
    /// Where the static scan found it.
    pub sites: Vec<Site>,
    /// The installed package providing it, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provided_by: Option<String>,
    /// True for Lua's own libraries and the project's own files.
    pub builtin_or_local: bool,
}

/// Everything the judgement looks at.
pub struct Inputs<'a> {
    /// The Lua API the project runs on (`5.4`; LuaJIT is `5.1`).
    pub lua: &'a str,
    pub in_project: bool,
    /// Direct dependencies (`[dependencies]` and `[dev-dependencies]`), lower-cased.
    pub direct: BTreeSet<String>,
    /// Installed packages with their modules, and each one's rockspec dependencies.
    pub installed: &'a [IndexedRelease],
    pub installed_constraints: BTreeMap<String, Vec<Dependency>>,
    /// Installed packages that bring commands (used as tools, not through `require`).
    pub with_commands: BTreeSet<String>,
    pub usage: &'a Usage,
    pub scanned: &'a BTreeMap<ModuleName, Vec<Site>>,
    /// Whether a module is one of the project's own files.
    pub is_local: &'a dyn Fn(&ModuleName) -> bool,
    pub indexes: &'a [ModuleIndex],
    pub catalog: &'a Catalog,
    /// Outside a project: the profile whose packages to suggest.
    pub profile_packages: Vec<String>,
    pub profile_name: Option<String>,
}

/// Lua's own libraries (and LuaJIT's), which no package provides.
const STANDARD: &[&str] = &[
    "_G",
    "bit",
    "bit32",
    "coroutine",
    "debug",
    "ffi",
    "io",
    "jit",
    "jit.opt",
    "jit.util",
    "math",
    "os",
    "package",
    "string",
    "string.buffer",
    "table",
    "table.new",
    "table.clear",
    "utf8",
];

fn add_command(package: &str, in_project: bool) -> String {
    crate::operations::provides::add_command(package, in_project)
}

fn remove_command(package: &str) -> String {
    format!("pylua remove {package}")
}

/// The modules required, then the recommendations, in a stable order.
pub fn recommend(inputs: &Inputs) -> (Vec<RequiredModule>, Vec<Recommendation>) {
    let required = required_modules(inputs);
    let mut out = Vec::new();
    let installed_names: BTreeSet<String> = inputs
        .installed
        .iter()
        .map(|r| r.name.as_str().to_ascii_lowercase())
        .collect();
    let in_catalog = |n: &str| inputs.catalog.get(n).is_some();

    for m in required
        .iter()
        .filter(|m| m.provided_by.is_none() && !m.builtin_or_local)
    {
        let found = providers(inputs.indexes, &m.module, in_catalog);
        let evidence = evidence(m);
        match found.first() {
            Some(best) => {
                let others: Vec<&str> = found[1..].iter().map(|p| p.package.as_str()).collect();
                let also = if others.is_empty() {
                    String::new()
                } else {
                    format!(" (also provided by {})", others.join(", "))
                };
                out.push(Recommendation {
                    kind: Kind::Add,
                    package: Some(best.package.clone()),
                    module: Some(m.module.clone()),
                    reason: format!(
                        "the code requires '{}' ({evidence}) and no installed package provides it; package {} does{also}",
                        m.module, best.package
                    ),
                    command: add_command(&best.package, inputs.in_project),
                });
            }
            None => out.push(Recommendation {
                kind: Kind::Unknown,
                package: None,
                module: Some(m.module.clone()),
                reason: format!(
                    "the code requires '{}' ({evidence}), but neither the tree nor the indexed servers provide it",
                    m.module
                ),
                command: format!("pylua provides {} --server URL", m.module),
            }),
        }
    }

    // Lua support, from the rockspec's `lua` dependency, else the catalog.
    let lua = Version::parse(inputs.lua).ok();
    for release in inputs.installed {
        let key = release.name.as_str().to_ascii_lowercase();
        let from_rockspec = inputs
            .installed_constraints
            .get(&key)
            .and_then(|deps| deps.iter().find(|d| d.name.as_str() == "lua"))
            .filter(|d| lua.as_ref().is_some_and(|v| !d.constraints.matches(v)))
            .map(|d| format!("its rockspec requires {d}"));
        let from_catalog = inputs
            .catalog
            .get(&key)
            .filter(|e| !e.lua.iter().any(|l| l == inputs.lua))
            .map(|e| format!("the catalog lists it for Lua {} only", e.lua.join(", ")));
        if let Some(why) = from_rockspec.or(from_catalog) {
            out.push(Recommendation {
                kind: Kind::UnsupportedLua,
                package: Some(release.name.to_string()),
                module: None,
                reason: format!(
                    "{} {} does not support Lua {}: {why}",
                    release.name, release.version, inputs.lua
                ),
                command: remove_command(release.name.as_str()),
            });
        }
    }

    let used: BTreeSet<String> = required
        .iter()
        .filter_map(|m| m.provided_by.clone())
        .collect();
    if inputs.in_project {
        for release in inputs.installed {
            let key = release.name.as_str().to_ascii_lowercase();
            let unused = inputs.direct.contains(&key)
                && !used.contains(&key)
                && !inputs.with_commands.contains(&key)
                && !release.modules.is_empty();
            if unused {
                out.push(Recommendation {
                    kind: Kind::Remove,
                    package: Some(release.name.to_string()),
                    module: None,
                    reason: format!(
                        "a dependency, but none of its modules ({}) is required by the project's code or in {} recorded runs",
                        list(release.modules.iter().map(|m| m.name.as_str()), 4),
                        inputs.usage.runs
                    ),
                    command: remove_command(release.name.as_str()),
                });
            }
        }
    }

    // The catalog's view of what is used (in a project) or installed (outside one).
    let basis: BTreeSet<String> = if inputs.in_project {
        used.clone()
    } else {
        installed_names.clone()
    };
    // Only what the servers have (when any index could be read) and supports this Lua.
    let supports = |name: &str| {
        let on_servers =
            inputs.indexes.is_empty() || inputs.indexes.iter().any(|i| i.has_package(name));
        on_servers
            && inputs
                .catalog
                .get(name)
                .is_some_and(|e| e.lua.iter().any(|l| l == inputs.lua))
    };
    let mut suggested: BTreeSet<String> = out.iter().filter_map(|r| r.package.clone()).collect();
    for name in &basis {
        let Some(entry) = inputs.catalog.get(name) else {
            continue;
        };
        for other in &entry.alternatives {
            let Some(alt) = inputs.catalog.get(other) else {
                continue;
            };
            let better = alt.native && !entry.native;
            if better
                && supports(other)
                && !installed_names.contains(other)
                && suggested.insert(other.clone())
            {
                let runs = hottest_runs(&required, name);
                out.push(Recommendation {
                    kind: Kind::Alternative,
                    package: Some(other.clone()),
                    module: None,
                    reason: format!(
                        "{name} is pure Lua{runs}; {other} does the same job in C, faster in a hot path: {}",
                        alt.summary
                    ),
                    command: add_command(other, inputs.in_project),
                });
            }
        }
        for other in &entry.pairs_with {
            if supports(other)
                && !installed_names.contains(other)
                && suggested.insert(other.clone())
            {
                let summary = inputs
                    .catalog
                    .get(other)
                    .map_or(String::new(), |e| format!(": {}", e.summary));
                out.push(Recommendation {
                    kind: Kind::PairsWith,
                    package: Some(other.clone()),
                    module: None,
                    reason: format!("{name} pairs with {other}{summary}"),
                    command: add_command(other, inputs.in_project),
                });
            }
        }
    }

    if !inputs.in_project {
        for name in &inputs.profile_packages {
            let key = name.to_ascii_lowercase();
            if installed_names.contains(&key) || !supports(&key) || !suggested.insert(key.clone()) {
                continue;
            }
            let summary = inputs
                .catalog
                .get(&key)
                .map_or(String::new(), |e| format!(": {}", e.summary));
            out.push(Recommendation {
                kind: Kind::Profile,
                package: Some(name.clone()),
                module: None,
                reason: format!(
                    "in the '{}' profile and not installed{summary}",
                    inputs.profile_name.as_deref().unwrap_or("default")
                ),
                command: add_command(name, false),
            });
        }
    }
    out.sort_by(|a, b| {
        a.kind
            .cmp(&b.kind)
            .then(a.package.cmp(&b.package))
            .then(a.module.cmp(&b.module))
    });
    (required, out)
}

fn required_modules(inputs: &Inputs) -> Vec<RequiredModule> {
    let mut names: BTreeSet<&ModuleName> = inputs.usage.modules.keys().collect();
    names.extend(inputs.scanned.keys());
    names
        .into_iter()
        .map(|name| {
            let record = inputs.usage.modules.get(name);
            let provided_by = inputs
                .installed
                .iter()
                .find(|r| r.provides(name.as_str()).is_some())
                .map(|r| r.name.as_str().to_ascii_lowercase());
            RequiredModule {
                module: name.to_string(),
                runs: record.map_or(0, |r| r.runs),
                failures: record.map_or(0, |r| r.failures),
                sites: inputs.scanned.get(name).cloned().unwrap_or_default(),
                builtin_or_local: provided_by.is_none()
                    && (STANDARD.contains(&name.as_str()) || (inputs.is_local)(name)),
                provided_by,
            }
        })
        .collect()
}

/// "required at main.lua:3; failed in 2 of 2 runs".
fn evidence(m: &RequiredModule) -> String {
    let mut parts = Vec::new();
    if let Some(site) = m.sites.first() {
        let more = if m.sites.len() > 1 {
            format!(" and {} more places", m.sites.len() - 1)
        } else {
            String::new()
        };
        parts.push(format!("at {}:{}{more}", site.file, site.line));
    }
    if m.runs > 0 {
        parts.push(format!(
            "failed to load in {} of {} runs that required it",
            m.failures, m.runs
        ));
        if m.sites.is_empty() {
            // The tracker sees every `require`, the packages' own included.
            parts.push(
                "not required by the project's own files: perhaps an optional dependency of a package"
                    .into(),
            );
        }
    }
    parts.join("; ")
}

fn hottest_runs(required: &[RequiredModule], package: &str) -> String {
    let runs = required
        .iter()
        .filter(|m| m.provided_by.as_deref() == Some(package))
        .map(|m| m.runs)
        .max()
        .unwrap_or(0);
    if runs > 0 {
        format!(" and required in {runs} recorded runs")
    } else {
        String::new()
    }
}

fn list<'a>(items: impl Iterator<Item = &'a str>, at_most: usize) -> String {
    let all: Vec<&str> = items.collect();
    if all.len() > at_most {
        format!("{}, …", all[..at_most].join(", "))
    } else {
        all.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::curator::module_index::{ModuleKind, ProvidedModule, ServerModules};
    use crate::curator::usage::{ModuleUsage, Usage};
    use crate::packages::names::PackageName;

    fn release(name: &str, modules: &[&str]) -> IndexedRelease {
        IndexedRelease {
            name: PackageName::parse(name).unwrap(),
            version: Version::parse("1.0-1").unwrap(),
            modules: modules
                .iter()
                .map(|m| ProvidedModule {
                    name: ModuleName::parse(m).unwrap(),
                    kind: ModuleKind::Lua,
                })
                .collect(),
            note: None,
            retry: false,
        }
    }

    #[test]
    fn judges_from_runs_scan_tree_and_rockspecs() {
        let catalog = Catalog::builtin();
        let installed = vec![release("oldie", &["oldie"]), release("dkjson", &["dkjson"])];
        let index = ModuleIndex::build(&ServerModules {
            server: "file:///s".into(),
            lua: "5.4".into(),
            manifest_sha256: "0".repeat(64),
            packages: BTreeMap::from([("lpeg".to_string(), vec![release("lpeg", &["lpeg"])])]),
        });
        let mut usage = Usage {
            runs: 3,
            ..Usage::default()
        };
        for (m, failures) in [("dkjson", 0), ("lpeg", 3), ("string", 0)] {
            usage.modules.insert(
                ModuleName::parse(m).unwrap(),
                ModuleUsage {
                    runs: 3,
                    failures,
                    last: 0,
                },
            );
        }
        let scanned = BTreeMap::from([(
            ModuleName::parse("mine").unwrap(),
            vec![Site {
                file: "main.lua".into(),
                line: 1,
            }],
        )]);
        let old_lua = vec![Dependency::parse("lua >= 5.1, < 5.4").unwrap()];
        let inputs = Inputs {
            lua: "5.4",
            in_project: true,
            direct: BTreeSet::from(["oldie".to_string(), "dkjson".to_string()]),
            installed: &installed,
            installed_constraints: BTreeMap::from([("oldie".to_string(), old_lua)]),
            with_commands: BTreeSet::new(),
            usage: &usage,
            scanned: &scanned,
            is_local: &|m: &ModuleName| m.as_str() == "mine",
            indexes: std::slice::from_ref(&index),
            catalog: &catalog,
            profile_packages: Vec::new(),
            profile_name: None,
        };
        let (required, recs) = recommend(&inputs);
        assert_eq!(required.len(), 4);
        assert!(required
            .iter()
            .any(|r| r.module == "string" && r.builtin_or_local));
        assert!(required
            .iter()
            .any(|r| r.module == "mine" && r.builtin_or_local));
        let kinds: Vec<(Kind, &str)> = recs
            .iter()
            .map(|r| (r.kind, r.package.as_deref().unwrap_or("")))
            .collect();
        assert_eq!(
            kinds,
            [
                (Kind::Add, "lpeg"),
                (Kind::UnsupportedLua, "oldie"),
                (Kind::Remove, "oldie"),
            ],
            "{recs:#?}"
        );
        assert!(
            recs[0].reason.contains("optional dependency"),
            "{}",
            recs[0].reason
        );
        assert!(
            recs[1].reason.contains("lua >= 5.1, < 5.4"),
            "{}",
            recs[1].reason
        );
    }
}
