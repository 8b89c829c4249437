//! `provides`: which packages provide a module, from the module index of each server (built
//! or refreshed as needed) and the tree's installed packages; and the hint attached to a
//! "module not found" error, from the cached indexes only.

use super::query::{QueryError, ServerOptions};
use crate::curator::module_index::{self, BuildOptions, ModuleIndex, ModuleKind, Provider};
use crate::curator::Catalog;
use crate::hint::Hint;
use crate::packages::names::ModuleName;
use crate::packages::tree::Tree;
use crate::runtime::VmError;
use serde::Serialize;
use std::path::Path;

/// A package providing the module, with what to type to get it.
#[derive(Debug, Clone, Serialize)]
pub struct Suggestion {
    #[serde(flatten)]
    pub provider: Provider,
    /// `pylua add NAME` in a project, else `pylua install NAME`.
    pub command: String,
}

/// An installed package that provides the module.
#[derive(Debug, Clone, Serialize)]
pub struct InstalledProvider {
    pub package: String,
    pub version: String,
    pub kind: ModuleKind,
}

/// What `provides MODULE` found.
#[derive(Debug, Clone, Serialize)]
pub struct ProvidesResult {
    pub module: String,
    /// Best first: catalogued packages, then those with more versions, then by name.
    pub packages: Vec<Suggestion>,
    /// Packages of the tree that already provide it.
    pub installed: Vec<InstalledProvider>,
}

/// How each server's index was had.
#[derive(Debug, Clone, Serialize)]
pub struct IndexSummary {
    pub server: String,
    pub releases: usize,
    pub modules: usize,
    pub manifest_sha256: String,
}

/// The answer for several modules at once (one index load).
#[derive(Debug, Clone, Serialize)]
pub struct ProvidesReport {
    pub results: Vec<ProvidesResult>,
    pub indexes: Vec<IndexSummary>,
}

/// The command that adds `package`: to the project when in one, else to the tree.
pub fn add_command(package: &str, in_project: bool) -> String {
    if in_project {
        format!("pylua add {package}")
    } else {
        format!("pylua install {package}")
    }
}

/// The module indexes of the servers `options` names, built or refreshed as needed.
pub fn indexes(options: &ServerOptions, jobs: usize) -> Result<Vec<ModuleIndex>, QueryError> {
    let fetcher = options.fetcher();
    let build = BuildOptions {
        lua: options.lua_version.clone(),
        jobs: if jobs == 0 {
            super::install::default_jobs() * 2
        } else {
            jobs
        },
        bounds: options.unpack,
    };
    options
        .servers()?
        .iter()
        .map(|server| {
            module_index::load_or_build(server, &fetcher, &build).map_err(QueryError::Server)
        })
        .collect()
}

/// Which packages provide each of `modules`. `tree`: the installed packages to report too;
/// `in_project` picks the command suggested.
pub fn provides(
    options: &ServerOptions,
    modules: &[String],
    catalog: &Catalog,
    tree: Option<&Tree>,
    in_project: bool,
    jobs: usize,
) -> Result<ProvidesReport, QueryError> {
    let names: Vec<ModuleName> = modules
        .iter()
        .map(|m| ModuleName::parse(m).map_err(|e| QueryError::BadRequest(e.to_string())))
        .collect::<Result<_, _>>()?;
    let indexes = indexes(options, jobs)?;
    let installed = match tree {
        Some(tree) => {
            module_index::tree_modules(tree).map_err(|e| QueryError::Server(e.to_string()))?
        }
        None => Vec::new(),
    };
    let results = names
        .iter()
        .map(|module| ProvidesResult {
            module: module.to_string(),
            packages: module_index::providers(&indexes, module.as_str(), |n| {
                catalog.get(n).is_some()
            })
            .into_iter()
            .map(|provider| Suggestion {
                command: add_command(&provider.package, in_project),
                provider,
            })
            .collect(),
            installed: installed
                .iter()
                .filter_map(|r| {
                    Some(InstalledProvider {
                        kind: r.provides(module.as_str())?,
                        package: r.name.to_string(),
                        version: r.version.to_string(),
                    })
                })
                .collect(),
        })
        .collect();
    Ok(ProvidesReport {
        results,
        indexes: indexes
            .iter()
            .map(|i| IndexSummary {
                server: i.server().to_string(),
                releases: i.release_count(),
                modules: i.module_count(),
                manifest_sha256: i.manifest_sha256().to_string(),
            })
            .collect(),
    })
}

/// Where the error-path lookup reads: the cache, and the servers to prefer.
#[derive(Debug, Clone)]
pub struct HintContext<'a> {
    pub cache_root: &'a Path,
    /// The project's or configuration's servers, asked first.
    pub servers: &'a [String],
    pub catalog: &'a Catalog,
    pub in_project: bool,
}

/// When `error` is Lua's "module 'X' not found", the packages that provide X according to
/// the module indexes already in the cache (never the network), best first, and the command
/// that adds the first. `None` when the error is another one or no cached index knows X.
pub fn missing_module_hint(error: &VmError, context: &HintContext) -> Option<Hint> {
    let module = module_index::missing_module(&error.message)?;
    let indexes = module_index::cached(context.cache_root, context.servers);
    let found = module_index::providers(&indexes, module.as_str(), |n| {
        context.catalog.get(n).is_some()
    });
    let first = found.first()?;
    let _ = first;
    Some(Hint::ProvidedBy {
        module: module.to_string(),
        packages: found.iter().map(|p| p.package.clone()).collect(),
        in_project: context.in_project,
    })
}

/// Attaches [`missing_module_hint`] to `error` (what `run`, `eval` and `repl` do).
pub fn annotate(error: &mut VmError, context: &HintContext) {
    if error.hint.is_none() {
        error.hint = missing_module_hint(error, context).map(Box::new);
    }
}
