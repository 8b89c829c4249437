//! Seeing an environment: the dependency tree of a project (from its lock) or of a rocks tree
//! (from what is installed), as `cargo tree` and `uv tree` draw them, inverted to show who
//! needs a package; and `outdated`: each package's version next to the newest its
//! constraints allow and the newest the servers have.

use crate::packages::index::ServerIndex;
use crate::packages::tree::InstalledRock;
use crate::packages::version::{Constraints, Version};
use crate::project::lockfile::Lockfile;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// One package in an environment and the names of the packages it depends on.
#[derive(Debug, Clone, Serialize)]
pub struct GraphPackage {
    pub version: String,
    pub dependencies: Vec<String>,
    /// Only needed by dev-dependencies (projects).
    pub dev: bool,
}

/// The packages of an environment and which of them were asked for.
#[derive(Debug, Clone, Serialize)]
pub struct DependencyGraph {
    /// By lower-case name.
    pub packages: BTreeMap<String, GraphPackage>,
    /// What the project requires (or, for a rocks tree, what nothing installed needs).
    pub roots: Vec<String>,
}

/// A node of the drawn tree.
#[derive(Debug, Clone, Serialize)]
pub struct TreeNode {
    pub name: String,
    pub version: String,
    /// Already drawn above: its children are not repeated (as cargo's `(*)`).
    pub repeated: bool,
    pub children: Vec<TreeNode>,
}

impl DependencyGraph {
    /// A project's graph, from its lock: the roots are its requirements.
    pub fn from_lock(lock: &Lockfile) -> DependencyGraph {
        let packages: BTreeMap<String, GraphPackage> = lock
            .packages
            .iter()
            .map(|p| {
                (
                    p.name.as_str().to_ascii_lowercase(),
                    GraphPackage {
                        version: p.version.clone(),
                        dependencies: p
                            .dependencies
                            .iter()
                            .map(|d| d.as_str().to_ascii_lowercase())
                            .collect(),
                        dev: p.dev,
                    },
                )
            })
            .collect();
        let roots = lock
            .requirements
            .keys()
            .chain(lock.dev_requirements.keys())
            .map(|n| n.to_ascii_lowercase())
            .filter(|n| packages.contains_key(n))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        DependencyGraph { packages, roots }
    }

    /// A rocks tree's graph, from what is installed: the roots are the packages nothing
    /// installed depends on.
    pub fn from_installed(installed: &BTreeMap<String, InstalledRock>) -> DependencyGraph {
        let packages: BTreeMap<String, GraphPackage> = installed
            .values()
            .map(|rock| {
                (
                    rock.name.to_ascii_lowercase(),
                    GraphPackage {
                        version: rock.version.to_string(),
                        dependencies: rock
                            .dependencies
                            .keys()
                            .map(|d| d.to_ascii_lowercase())
                            .filter(|d| installed_name(installed, d))
                            .collect(),
                        dev: false,
                    },
                )
            })
            .collect();
        let needed: BTreeSet<&String> = packages.values().flat_map(|p| &p.dependencies).collect();
        let roots = packages
            .keys()
            .filter(|n| !needed.contains(n))
            .cloned()
            .collect();
        DependencyGraph { packages, roots }
    }

    /// The tree from the roots down, `depth` levels below them at most.
    /// Each root's subtree is drawn whole; within one, a package met again is marked
    /// `repeated` and not expanded twice.
    pub fn tree(&self, depth: Option<usize>) -> Vec<TreeNode> {
        self.roots
            .iter()
            .map(|r| self.down(r, depth, &mut BTreeSet::new()))
            .collect()
    }

    fn down(&self, name: &str, depth: Option<usize>, seen: &mut BTreeSet<String>) -> TreeNode {
        let package = &self.packages[name];
        let repeated = !seen.insert(name.to_string());
        let children = match (repeated, depth) {
            (true, _) | (_, Some(0)) => Vec::new(),
            (false, depth) => package
                .dependencies
                .iter()
                .filter(|d| self.packages.contains_key(*d))
                .map(|d| self.down(d, depth.map(|n| n - 1), seen))
                .collect(),
        };
        TreeNode {
            name: name.to_string(),
            version: package.version.clone(),
            repeated: repeated && !package.dependencies.is_empty(),
            children,
        }
    }

    /// Who needs `name`: the package at the top, the packages depending on it below, up to
    /// the roots. None when the environment has no such package.
    pub fn invert(&self, name: &str, depth: Option<usize>) -> Option<TreeNode> {
        let name = name.to_ascii_lowercase();
        if !self.packages.contains_key(&name) {
            return None;
        }
        let mut dependents: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (pkg, p) in &self.packages {
            for d in &p.dependencies {
                dependents.entry(d.as_str()).or_default().push(pkg.as_str());
            }
        }
        let mut seen = BTreeSet::new();
        Some(self.up(&name, &dependents, depth, &mut seen))
    }

    fn up(
        &self,
        name: &str,
        dependents: &BTreeMap<&str, Vec<&str>>,
        depth: Option<usize>,
        seen: &mut BTreeSet<String>,
    ) -> TreeNode {
        let repeated = !seen.insert(name.to_string());
        let above = dependents.get(name).cloned().unwrap_or_default();
        let children = match (repeated, depth) {
            (true, _) | (_, Some(0)) => Vec::new(),
            (false, depth) => above
                .iter()
                .map(|d| self.up(d, dependents, depth.map(|n| n - 1), seen))
                .collect(),
        };
        TreeNode {
            name: name.to_string(),
            version: self.packages[name].version.clone(),
            repeated: repeated && !above.is_empty(),
            children,
        }
    }
}

fn installed_name(installed: &BTreeMap<String, InstalledRock>, lower: &str) -> bool {
    installed
        .values()
        .any(|r| r.name.eq_ignore_ascii_case(lower))
}

/// One row of `outdated`.
#[derive(Debug, Clone, Serialize)]
pub struct Outdated {
    pub name: String,
    /// The locked or installed version.
    pub current: String,
    /// The newest version every constraint on the package accepts (None: none does).
    pub wanted: Option<String>,
    /// The newest version the servers have.
    pub latest: Option<String>,
    /// The constraints taken into account, with who sets them (`pylua.toml` or a package).
    pub constraints: Vec<(String, String)>,
}

/// Each package of `graph` with the newest version its constraints allow and the newest
/// available. `direct` gives the constraints the project sets itself (name → constraint);
/// the constraints packages set on each other come from their rockspecs on the servers, or,
/// for a rocks tree, from what is installed (`installed`).
pub fn outdated(
    graph: &DependencyGraph,
    direct: &BTreeMap<String, String>,
    installed: Option<&BTreeMap<String, InstalledRock>>,
    index: &ServerIndex,
) -> Vec<Outdated> {
    let mut constraints: BTreeMap<String, Vec<(String, Constraints)>> = BTreeMap::new();
    let mut on = |name: &str, who: &str, c: Constraints| {
        constraints
            .entry(name.to_ascii_lowercase())
            .or_default()
            .push((who.to_string(), c));
    };
    for (name, c) in direct {
        // Validated when the project file was read; an unreadable one constrains nothing.
        if let Ok(c) = Constraints::parse(c) {
            on(name, "pylua.toml", c);
        }
    }
    match installed {
        Some(rocks) => {
            for rock in rocks.values() {
                for dep in &rock.constraints {
                    on(dep.name.as_str(), &rock.name, dep.constraints.clone());
                }
            }
        }
        None => {
            let wanted: Vec<(String, Version)> = graph
                .packages
                .iter()
                .filter_map(|(n, p)| Some((n.clone(), Version::parse(&p.version).ok()?)))
                .collect();
            index.prefetch(&wanted);
            for (name, version) in &wanted {
                let Ok(spec) = index.rockspec(name, version) else {
                    continue;
                };
                for dep in &spec.dependencies {
                    on(dep.name.as_str(), name, dep.constraints.clone());
                }
            }
        }
    }
    graph
        .packages
        .iter()
        .map(|(name, package)| {
            let set = constraints.remove(name).unwrap_or_default();
            let entries = index.entries(name);
            let wanted = entries
                .iter()
                .find(|e| set.iter().all(|(_, c)| c.matches(&e.version)))
                .map(|e| e.version.to_string());
            Outdated {
                name: name.clone(),
                current: package.version.clone(),
                wanted,
                latest: entries.first().map(|e| e.version.to_string()),
                constraints: set
                    .into_iter()
                    .filter(|(_, c)| !c.0.is_empty())
                    .map(|(who, c)| (who, c.to_string()))
                    .collect(),
            }
        })
        .collect()
}
