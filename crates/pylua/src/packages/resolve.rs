//! The resolver: PubGrub over LuaRocks versions, with the Lua version as a pseudo-package,
//! deterministic choices, optional preferences (installed or locked versions) and conflict
//! reports in plain words that name every requirer and constraint involved.

use super::rockspec::Dependency;
use super::version::{Range, Version};
use pubgrub::{
    DefaultStringReporter, Dependencies, DependencyProvider, DerivationTree, Derived, External,
    Map, PackageResolutionStatistics, PubGrubError, Reporter, Term,
};
use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Bound;

/// Where candidate versions and their dependencies come from (servers, a lock, a test graph).
pub trait PackageIndex {
    /// Every available version of `name` (lower-case), in any order.
    fn versions(&self, name: &str) -> Result<Vec<Version>, IndexError>;
    /// The dependencies of one version. [`Metadata::Unusable`] rules out that version (the
    /// reason shows in reports); an error (a server that fails) stops the resolution.
    fn dependencies(&self, name: &str, version: &Version) -> Result<Metadata, IndexError>;
}

/// What is known about one version's dependencies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Metadata {
    Available(Vec<Dependency>),
    /// Its metadata exists but cannot be used (a broken rockspec), with the reason.
    Unusable(String),
}

/// A failure to read package metadata.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct IndexError(pub String);

/// Settings of one resolution.
#[derive(Debug, Clone)]
pub struct ResolveOptions {
    /// The Lua version packages are resolved for (`lua` dependencies are checked against it).
    pub lua_version: Version,
    /// Versions to keep when they still satisfy every constraint (installed or locked ones).
    pub preferred: BTreeMap<String, Version>,
    /// Consider development versions (`scm`, `dev`) even when a release would do.
    pub prefer_development: bool,
}

impl ResolveOptions {
    pub fn for_lua(lua_version: &str) -> ResolveOptions {
        ResolveOptions {
            lua_version: Version::parse(lua_version).expect("valid Lua version"),
            preferred: BTreeMap::new(),
            prefer_development: false,
        }
    }
}

/// The chosen version of every package needed (the Lua pseudo-package left out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    pub packages: BTreeMap<String, Version>,
    /// Each package's direct dependencies among `packages`, for install order and display.
    pub dependencies: BTreeMap<String, Vec<String>>,
}

impl Resolution {
    /// Packages in an order where each comes after everything it depends on.
    pub fn install_order(&self) -> Vec<String> {
        let mut done: Vec<String> = Vec::new();
        let mut visiting = std::collections::BTreeSet::new();
        fn visit(
            name: &str,
            r: &Resolution,
            done: &mut Vec<String>,
            visiting: &mut std::collections::BTreeSet<String>,
        ) {
            if done.iter().any(|d| d == name) || !visiting.insert(name.to_string()) {
                return;
            }
            for dep in r.dependencies.get(name).into_iter().flatten() {
                visit(dep, r, done, visiting);
            }
            done.push(name.to_string());
        }
        for name in self.packages.keys() {
            visit(name, self, &mut done, &mut visiting);
        }
        done
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// No set of versions satisfies the request; the explanation says why in plain words,
    /// and the ways out are changes of the request that do resolve.
    #[error("no versions satisfy the request:\n{explanation}")]
    NoSolution {
        explanation: String,
        ways_out: Vec<super::ways_out::WayOut>,
    },
    /// Package metadata could not be read.
    #[error("{0}")]
    Index(String),
}

/// Resolves `requests` against `index`. When nothing satisfies them, the error lists the
/// ways out: changes of the request that do resolve (see [`super::ways_out`]).
pub fn resolve(
    index: &dyn PackageIndex,
    requests: &[Dependency],
    options: &ResolveOptions,
) -> Result<Resolution, ResolveError> {
    match resolve_once(index, requests, options) {
        Err(ResolveError::NoSolution { explanation, .. }) => Err(ResolveError::NoSolution {
            explanation,
            ways_out: super::ways_out::ways_out(index, requests, options),
        }),
        other => other,
    }
}

/// One attempt, without looking for ways out.
pub(super) fn resolve_once(
    index: &dyn PackageIndex,
    requests: &[Dependency],
    options: &ResolveOptions,
) -> Result<Resolution, ResolveError> {
    let provider = Provider {
        index,
        requests,
        options,
    };
    let root_version = Version::parse("0").expect("valid");
    match pubgrub::resolve(&provider, Pkg::Root, root_version) {
        Ok(selected) => {
            let mut packages = BTreeMap::new();
            for (pkg, version) in &selected {
                if let Pkg::Rock(name) = pkg {
                    packages.insert(name.clone(), version.clone());
                }
            }
            let mut dependencies = BTreeMap::new();
            for (name, version) in &packages {
                let deps = match index.dependencies(name, version) {
                    Ok(Metadata::Available(deps)) => deps,
                    Ok(Metadata::Unusable(why)) => return Err(ResolveError::Index(why)),
                    Err(e) => return Err(ResolveError::Index(e.0)),
                };
                let mut names: Vec<String> = deps
                    .into_iter()
                    .map(|d| d.name.into_string())
                    .filter(|n| packages.contains_key(n))
                    .collect();
                names.sort();
                names.dedup();
                dependencies.insert(name.clone(), names);
            }
            Ok(Resolution {
                packages,
                dependencies,
            })
        }
        Err(PubGrubError::NoSolution(tree)) => {
            let formatter = Words {
                lua: options.lua_version.clone(),
                index,
            };
            // Folding away "no other versions exist" facts makes reports read naturally,
            // except when that fact is the whole story (a package nobody has).
            let mut collapsed = tree.clone();
            collapsed.collapse_no_versions();
            let tree = match collapsed {
                DerivationTree::External(External::FromDependencyOf(..)) => tree,
                collapsed => collapsed,
            };
            let mut report = DefaultStringReporter::report_with_formatter(&tree, &formatter);
            let lua = format!("Lua {}", options.lua_version);
            if (report.contains("lua ") || report.contains("lua,")) && !report.contains(&lua) {
                report.push_str(&format!("\n(Packages are resolved for {lua}.)"));
            }
            Err(ResolveError::NoSolution {
                explanation: report,
                ways_out: Vec::new(),
            })
        }
        Err(PubGrubError::ErrorChoosingVersion { source, .. }) => {
            Err(ResolveError::Index(source.0))
        }
        Err(PubGrubError::ErrorRetrievingDependencies { source, .. }) => {
            Err(ResolveError::Index(source.0))
        }
        Err(PubGrubError::ErrorInShouldCancel(e)) => Err(ResolveError::Index(e.0)),
    }
}

/// A package as the solver sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Pkg {
    Root,
    Lua,
    Rock(String),
}

impl fmt::Display for Pkg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pkg::Root => f.write_str("your request"),
            Pkg::Lua => f.write_str("lua"),
            Pkg::Rock(name) => f.write_str(name),
        }
    }
}

struct Provider<'a> {
    index: &'a dyn PackageIndex,
    requests: &'a [Dependency],
    options: &'a ResolveOptions,
}

impl Provider<'_> {
    fn to_constraints(&self, deps: &[Dependency]) -> Map<Pkg, Range> {
        let mut out: Map<Pkg, Range> = Map::default();
        for dep in deps {
            let pkg = if dep.name == "lua" {
                Pkg::Lua
            } else {
                Pkg::Rock(dep.name.to_string())
            };
            let range = dep.constraints.to_range();
            let merged = match out.get(&pkg) {
                Some(existing) => existing.intersection(&range),
                None => range,
            };
            out.insert(pkg, merged);
        }
        out
    }
}

impl DependencyProvider for Provider<'_> {
    type P = Pkg;
    type V = Version;
    type VS = Range;
    type M = String;
    type Priority = (u32, Reverse<usize>, Reverse<Pkg>);
    type Err = IndexError;

    fn prioritize(
        &self,
        package: &Pkg,
        range: &Range,
        stats: &PackageResolutionStatistics,
    ) -> Self::Priority {
        // Decide the most contested and the most constrained packages first; the name
        // breaks ties so results never depend on hash order.
        let candidates = match package {
            Pkg::Rock(name) => self
                .index
                .versions(name)
                .map(|vs| vs.iter().filter(|v| range.contains(v)).count())
                .unwrap_or(0),
            _ => 0,
        };
        (
            stats.conflict_count(),
            Reverse(candidates),
            Reverse(package.clone()),
        )
    }

    fn choose_version(&self, package: &Pkg, range: &Range) -> Result<Option<Version>, IndexError> {
        match package {
            Pkg::Root => Ok(Some(Version::parse("0").expect("valid"))),
            Pkg::Lua => Ok(range
                .contains(&self.options.lua_version)
                .then(|| self.options.lua_version.clone())),
            Pkg::Rock(name) => {
                let mut versions: Vec<Version> = self
                    .index
                    .versions(name)?
                    .into_iter()
                    .filter(|v| range.contains(v))
                    .collect();
                if let Some(preferred) = self.options.preferred.get(name) {
                    if let Some(v) = versions.iter().find(|v| *v == preferred) {
                        return Ok(Some(v.clone()));
                    }
                }
                versions.sort();
                let release = versions.iter().rev().find(|v| !v.is_development());
                Ok(if self.options.prefer_development {
                    versions.last().cloned()
                } else {
                    release.or(versions.last()).cloned()
                })
            }
        }
    }

    fn get_dependencies(
        &self,
        package: &Pkg,
        version: &Version,
    ) -> Result<Dependencies<Pkg, Range, String>, IndexError> {
        match package {
            Pkg::Root => Ok(Dependencies::Available(self.to_constraints(self.requests))),
            Pkg::Lua => Ok(Dependencies::Available(Map::default())),
            Pkg::Rock(name) => match self.index.dependencies(name, version)? {
                Metadata::Available(deps) => {
                    Ok(Dependencies::Available(self.to_constraints(&deps)))
                }
                Metadata::Unusable(why) => Ok(Dependencies::Unavailable(why)),
            },
        }
    }
}

/// Renders a set of versions in LuaRocks' constraint syntax; empty for "any version".
pub fn describe_range(range: &Range) -> String {
    let segments: Vec<(&Bound<Version>, &Bound<Version>)> = range.iter().collect();
    let mut parts = Vec::new();
    for (i, &(lo, hi)) in segments.iter().enumerate() {
        // A release without a revision (`1.0`) sits just below its revisions and LuaRocks
        // treats it as equal to them; next to a segment of the same release it adds nothing
        // a reader needs (`== 1.0-1`, not `1.0 or 1.0-1`).
        if let (Bound::Included(a), Bound::Included(b)) = (lo, hi) {
            let next_same = segments
                .get(i + 1)
                .is_some_and(|(next_lo, _)| match next_lo {
                    Bound::Included(n) | Bound::Excluded(n) => n.same_release(a),
                    Bound::Unbounded => false,
                });
            if a == b && a.revision().is_none() && next_same {
                continue;
            }
        }
        let part = match (lo, hi) {
            (Bound::Unbounded, Bound::Unbounded) => return String::new(),
            (Bound::Included(a), Bound::Included(b)) if a.same_release(b) => {
                if a == b {
                    a.to_string()
                } else {
                    format!("== {a}")
                }
            }
            (lo, hi) => {
                let mut s = Vec::new();
                match lo {
                    Bound::Included(a) => s.push(format!(">= {a}")),
                    Bound::Excluded(a) => s.push(format!("> {a}")),
                    Bound::Unbounded => {}
                }
                match hi {
                    Bound::Included(b) => s.push(format!("<= {b}")),
                    Bound::Excluded(b) => s.push(format!("< {b}")),
                    Bound::Unbounded => {}
                }
                s.join(", ")
            }
        };
        parts.push(part);
    }
    if parts.is_empty() {
        "(no version)".into()
    } else {
        parts.join(" or ")
    }
}

/// `name range`, or just `name` for any version.
fn named(pkg: &Pkg, range: &Range) -> String {
    let r = describe_range(range);
    if r.is_empty() {
        pkg.to_string()
    } else {
        format!("{pkg} {r}")
    }
}

/// The report formatter: sentences a person can follow.
struct Words<'a> {
    lua: Version,
    index: &'a dyn PackageIndex,
}

impl Words<'_> {
    /// Whether the servers have no version of `p` at all (whatever a request asked for).
    fn absent(&self, p: &Pkg) -> bool {
        match p {
            Pkg::Rock(name) => self.index.versions(name).is_ok_and(|v| v.is_empty()),
            _ => false,
        }
    }

    fn external(&self, e: &External<Pkg, Range, String>) -> String {
        match e {
            External::NotRoot(p, v) => format!("{p} {v} is not the request being resolved"),
            External::NoVersions(Pkg::Lua, range) => format!(
                "lua {} is required but packages are resolved for Lua {}",
                describe_range(range),
                self.lua
            ),
            External::NoVersions(p, range)
                if describe_range(range).is_empty() || self.absent(p) =>
            {
                format!("no version of {p} is available on the configured servers")
            }
            External::NoVersions(p, range) => {
                format!(
                    "no version of {p} matching {} is available",
                    describe_range(range)
                )
            }
            External::FromDependencyOf(Pkg::Root, _, dep, range) => {
                format!("you asked for {}", named(dep, range))
            }
            External::FromDependencyOf(p, prange, dep, range) => {
                format!("{} depends on {}", named(p, prange), named(dep, range))
            }
            External::Custom(p, range, why) => format!("{} cannot be used: {why}", named(p, range)),
        }
    }

    fn terms(&self, terms: &Map<Pkg, Term<Range>>) -> String {
        let mut list: Vec<(&Pkg, &Term<Range>)> = terms.iter().collect();
        list.sort_by(|a, b| a.0.cmp(b.0));
        match list.as_slice() {
            [] => "no combination of versions works".into(),
            [(Pkg::Root, Term::Positive(_))] => "your request cannot be satisfied".into(),
            [(p, Term::Positive(r))] => format!("{} cannot be used", named(p, r)),
            [(p, Term::Negative(r))] => format!("{} is required", named(p, r)),
            [(p1, Term::Positive(r1)), (p2, Term::Negative(r2))]
            | [(p2, Term::Negative(r2)), (p1, Term::Positive(r1))] => {
                if **p1 == Pkg::Root {
                    format!("you need {}", named(p2, r2))
                } else {
                    format!("{} requires {}", named(p1, r1), named(p2, r2))
                }
            }
            many => {
                let names: Vec<String> = many
                    .iter()
                    .map(|(p, t)| match t {
                        Term::Positive(r) => named(p, r),
                        Term::Negative(r) => format!("not {}", named(p, r)),
                    })
                    .collect();
                format!("{} cannot be used together", names.join(", "))
            }
        }
    }
}

type Ext = External<Pkg, Range, String>;
type Terms = Map<Pkg, Term<Range>>;
type Der = Derived<Pkg, Range, String>;

impl pubgrub::ReportFormatter<Pkg, Range, String> for Words<'_> {
    type Output = String;

    fn format_external(&self, e: &Ext) -> String {
        self.external(e)
    }
    fn format_terms(&self, terms: &Terms) -> String {
        self.terms(terms)
    }
    fn explain_both_external(&self, e1: &Ext, e2: &Ext, terms: &Terms) -> String {
        format!(
            "Because {} and {}, {}.",
            self.external(e1),
            self.external(e2),
            self.terms(terms)
        )
    }
    fn explain_both_ref(
        &self,
        id1: usize,
        d1: &Der,
        id2: usize,
        d2: &Der,
        terms: &Terms,
    ) -> String {
        format!(
            "Because {} ({id1}) and {} ({id2}), {}.",
            self.terms(&d1.terms),
            self.terms(&d2.terms),
            self.terms(terms)
        )
    }
    fn explain_ref_and_external(&self, id: usize, d: &Der, e: &Ext, terms: &Terms) -> String {
        format!(
            "Because {} ({id}) and {}, {}.",
            self.terms(&d.terms),
            self.external(e),
            self.terms(terms)
        )
    }
    fn and_explain_external(&self, e: &Ext, terms: &Terms) -> String {
        format!("And because {}, {}.", self.external(e), self.terms(terms))
    }
    fn and_explain_ref(&self, id: usize, d: &Der, terms: &Terms) -> String {
        format!(
            "And because {} ({id}), {}.",
            self.terms(&d.terms),
            self.terms(terms)
        )
    }
    fn and_explain_prior_and_external(&self, prior: &Ext, e: &Ext, terms: &Terms) -> String {
        format!(
            "And because {} and {}, {}.",
            self.external(prior),
            self.external(e),
            self.terms(terms)
        )
    }
}

/// An in-memory index: a hand-made graph for tests, benchmarks and lockfile replays.
#[derive(Debug, Clone, Default)]
pub struct MemoryIndex {
    packages: BTreeMap<String, BTreeMap<Version, Result<Vec<Dependency>, String>>>,
}

impl MemoryIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `name version` depending on `deps` (each like `"b >= 1.0"`).
    pub fn add(&mut self, name: &str, version: &str, deps: &[&str]) -> &mut Self {
        let deps = deps
            .iter()
            .map(|d| Dependency::parse(d).expect("valid dependency in test graph"))
            .collect();
        self.packages
            .entry(name.to_ascii_lowercase())
            .or_default()
            .insert(Version::parse(version).expect("valid version"), Ok(deps));
        self
    }

    /// Adds a version whose metadata cannot be read.
    pub fn add_broken(&mut self, name: &str, version: &str, why: &str) -> &mut Self {
        self.packages
            .entry(name.to_ascii_lowercase())
            .or_default()
            .insert(
                Version::parse(version).expect("valid version"),
                Err(why.to_string()),
            );
        self
    }
}

impl PackageIndex for MemoryIndex {
    fn versions(&self, name: &str) -> Result<Vec<Version>, IndexError> {
        Ok(self
            .packages
            .get(name)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default())
    }
    fn dependencies(&self, name: &str, version: &Version) -> Result<Metadata, IndexError> {
        match self.packages.get(name).and_then(|m| m.get(version)) {
            Some(Ok(deps)) => Ok(Metadata::Available(deps.clone())),
            Some(Err(why)) => Ok(Metadata::Unusable(why.clone())),
            None => Err(IndexError(format!("{name} {version} is not in the index"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(list: &[&str]) -> Vec<Dependency> {
        list.iter().map(|d| Dependency::parse(d).unwrap()).collect()
    }
    fn solve(index: &MemoryIndex, list: &[&str]) -> Result<BTreeMap<String, String>, ResolveError> {
        resolve(index, &req(list), &ResolveOptions::for_lua("5.4")).map(|r| {
            r.packages
                .into_iter()
                .map(|(k, v)| (k, v.to_string()))
                .collect()
        })
    }
    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn picks_newest_compatible_versions() {
        let mut idx = MemoryIndex::new();
        idx.add("app", "1.0-1", &["lib >= 1.0", "lua >= 5.1"])
            .add("lib", "1.0-1", &[])
            .add("lib", "1.5-1", &["util ~> 2"])
            .add("lib", "2.0-1", &["lua < 5.4"])
            .add("util", "2.1-1", &[])
            .add("util", "3.0-1", &[]);
        // lib 2.0 needs an older Lua, so 1.5 is chosen; util ~> 2 picks 2.1.
        assert_eq!(
            solve(&idx, &["app"]).unwrap(),
            map(&[("app", "1.0-1"), ("lib", "1.5-1"), ("util", "2.1-1")])
        );
    }

    #[test]
    fn backtracks_when_the_newest_choice_fails_later() {
        let mut idx = MemoryIndex::new();
        // a 2.0 needs c 2 while b needs c 1: the solver must fall back to a 1.0.
        idx.add("a", "1.0-1", &["c == 1.0"])
            .add("a", "2.0-1", &["c == 2.0"])
            .add("b", "1.0-1", &["c < 2"])
            .add("c", "1.0-1", &[])
            .add("c", "2.0-1", &[]);
        assert_eq!(
            solve(&idx, &["a", "b"]).unwrap(),
            map(&[("a", "1.0-1"), ("b", "1.0-1"), ("c", "1.0-1")])
        );
    }

    #[test]
    fn prefers_releases_and_preferred_versions() {
        let mut idx = MemoryIndex::new();
        idx.add("x", "1.0-1", &[])
            .add("x", "1.1-1", &[])
            .add("x", "scm-1", &[]);
        assert_eq!(solve(&idx, &["x"]).unwrap(), map(&[("x", "1.1-1")]));
        let mut opts = ResolveOptions::for_lua("5.4");
        opts.preferred
            .insert("x".into(), Version::parse("1.0-1").unwrap());
        let r = resolve(&idx, &req(&["x"]), &opts).unwrap();
        assert_eq!(r.packages["x"].to_string(), "1.0-1");
        // Only a development version matches: it is used.
        assert_eq!(solve(&idx, &["x > 2"]).unwrap(), map(&[("x", "scm-1")]));
    }

    #[test]
    fn broken_metadata_makes_only_that_version_unusable() {
        let mut idx = MemoryIndex::new();
        idx.add("x", "1.0-1", &[])
            .add_broken("x", "2.0-1", "rockspec has a syntax error");
        assert_eq!(solve(&idx, &["x"]).unwrap(), map(&[("x", "1.0-1")]));
        let err = solve(&idx, &["x >= 2"]).unwrap_err().to_string();
        assert!(
            err.contains("x 2.0-1 cannot be used: rockspec has a syntax error"),
            "{err}"
        );
    }

    #[test]
    fn conflicts_name_both_sides_in_plain_words() {
        let mut idx = MemoryIndex::new();
        idx.add("web", "1.0-1", &["json >= 2.0"])
            .add("cli", "1.0-1", &["json < 2.0"])
            .add("json", "1.5-1", &[])
            .add("json", "2.1-1", &[]);
        let err = solve(&idx, &["web", "cli"]).unwrap_err().to_string();
        // A package with a single version is named without it.
        assert!(
            err.contains("web 1.0-1 depends on json >= 2.0")
                || err.contains("web depends on json >= 2.0"),
            "{err}"
        );
        assert!(
            err.contains("cli 1.0-1 depends on json < 2.0")
                || err.contains("cli depends on json < 2.0"),
            "{err}"
        );
        assert!(
            err.contains("you asked for web") || err.contains("you asked for cli"),
            "{err}"
        );
    }

    #[test]
    fn lua_version_and_missing_packages_are_explained() {
        let mut idx = MemoryIndex::new();
        idx.add("old", "1.0-1", &["lua ~> 5.1"]);
        let err = solve(&idx, &["old"]).unwrap_err().to_string();
        assert!(
            err.contains("lua ~> 5.1") || err.contains("lua >= 5.1, < 5.2"),
            "{err}"
        );
        assert!(err.contains("Lua 5.4"), "{err}");
        let err = solve(&idx, &["ghost"]).unwrap_err().to_string();
        assert!(err.contains("no version of ghost is available"), "{err}");
        // A package no server has is said so, whatever the request's constraint.
        let err = solve(&idx, &["ghost >= 0.4"]).unwrap_err().to_string();
        assert!(
            err.contains("no version of ghost is available on the configured servers"),
            "{err}"
        );
        let err = solve(&idx, &["old >= 2"]).unwrap_err().to_string();
        assert!(err.contains("no version of old matching >= 2"), "{err}");
    }

    #[test]
    fn deterministic_and_ordered_for_install() {
        let mut idx = MemoryIndex::new();
        idx.add("app", "1.0-1", &["b", "c"])
            .add("b", "1.0-1", &["d"])
            .add("c", "1.0-1", &["d"])
            .add("d", "1.0-1", &[]);
        let first = resolve(&idx, &req(&["app"]), &ResolveOptions::for_lua("5.4")).unwrap();
        for _ in 0..5 {
            assert_eq!(
                resolve(&idx, &req(&["app"]), &ResolveOptions::for_lua("5.4")).unwrap(),
                first
            );
        }
        assert_eq!(first.install_order(), vec!["d", "b", "c", "app"]);
    }
}

#[cfg(test)]
mod describe_tests {
    use super::describe_range;
    use crate::packages::version::Constraints;

    #[test]
    fn ranges_read_as_constraints() {
        for (c, expected) in [
            // One exact version reads as itself: "foo 1.0-1 depends on …".
            ("== 1.0-1", "1.0-1"),
            (">= 1.0-1", ">= 1.0-1"),
            ("~> 1.2", ">= 1.2, < 1.3"),
            ("< 2", "< 2"),
            ("== 1.0", "== 1.0"),
            ("~= 1.0", "< 1.0 or > 1.0"),
            (">= 1.0, < 2.0", ">= 1.0, < 2.0"),
            ("", ""),
        ] {
            let r = Constraints::parse(c).unwrap().to_range();
            assert_eq!(describe_range(&r), expected, "{c}");
        }
    }
}
