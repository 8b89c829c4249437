//! `recommend`: gathers what the curator's judgement needs — the project's `pylua.toml`, its
//! installed tree, its usage record and a static scan of its Lua files, the module indexes of
//! its servers (the cached ones when the servers cannot be reached) and the catalog — and
//! returns [`crate::curator::recommend`]'s recommendations. Outside a project it looks at the
//! tree given and the configured profile instead.

use super::query::ServerOptions;
use crate::config::Config;
use crate::curator::module_index::{self, BuildOptions, ModuleIndex};
use crate::curator::recommend::{self as judge, Inputs, Recommendation, RequiredModule};
use crate::curator::require_scan::scan_project;
use crate::curator::usage::{usage_dir, Usage};
use crate::packages::names::ModuleName;
use crate::packages::tree::Tree;
use crate::project::Project;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Why `recommend` could not judge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecommendError {
    #[error("{0}")]
    ProjectFile(String),
    #[error("{0}")]
    Tree(String),
    #[error("{0}")]
    Config(String),
}

impl RecommendError {
    pub fn kind(&self) -> &'static str {
        match self {
            RecommendError::ProjectFile(_) => "project_file",
            RecommendError::Tree(_) => "tree",
            RecommendError::Config(_) => "config",
        }
    }
}

/// Where to look.
pub struct RecommendOptions<'a> {
    /// The project; `None` outside one.
    pub project: Option<&'a Project>,
    /// Outside a project: the tree to look at.
    pub tree: Option<Tree>,
    /// Servers (outside a project; a project's own servers come from its `pylua.toml`).
    pub servers: ServerOptions,
    pub config: &'a Config,
    /// Parallel index jobs (0: a default).
    pub jobs: usize,
}

/// What `recommend` found.
#[derive(Debug, Clone, Serialize)]
pub struct RecommendReport {
    /// The project's directory, when in one.
    pub project: Option<String>,
    pub lua: String,
    /// Runs in the usage record.
    pub recorded_runs: u64,
    pub required: Vec<RequiredModule>,
    pub recommendations: Vec<Recommendation>,
    /// Problems that made the answer less complete (an unreachable server, say).
    pub warnings: Vec<String>,
}

pub fn recommend(options: &RecommendOptions) -> Result<RecommendReport, RecommendError> {
    let catalog = options
        .config
        .catalog()
        .map_err(|e| RecommendError::Config(e.to_string()))?;
    let mut warnings = Vec::new();
    let mut servers = options.servers.clone();
    let (lua, tree, direct, usage, scanned, root) = match options.project {
        Some(project) => {
            let file = project
                .snapshot()
                .and_then(|s| project.read_project(&s))
                .map_err(|e| RecommendError::ProjectFile(e.to_string()))?;
            let lua = file.project.lua.api();
            if !file.project.servers.is_empty() {
                servers.only = file.project.servers.clone();
            }
            servers.lua_version = lua.to_string();
            let usage = Usage::load(&usage_dir(&project.tree_dir())).unwrap_or_else(|e| {
                warnings.push(format!("usage record not read: {e}"));
                Usage::default()
            });
            let direct: BTreeSet<String> = file
                .dependencies
                .keys()
                .chain(file.dev_dependencies.keys())
                .map(|k| k.to_ascii_lowercase())
                .collect();
            let scanned = scan_project(project.root());
            (
                lua.to_string(),
                Tree::new(project.tree_dir(), lua),
                direct,
                usage,
                scanned,
                Some(project.root().to_path_buf()),
            )
        }
        None => {
            let tree = options
                .tree
                .clone()
                .ok_or_else(|| RecommendError::Tree("no tree given".into()))?;
            let lua = tree.lua_version().to_string();
            (
                lua,
                tree,
                BTreeSet::new(),
                Usage::default(),
                BTreeMap::new(),
                None,
            )
        }
    };
    let installed =
        module_index::tree_modules(&tree).map_err(|e| RecommendError::Tree(e.to_string()))?;
    let rocks = tree
        .read()
        .map_err(|e| RecommendError::Tree(e.to_string()))?;
    let installed_constraints = rocks
        .values()
        .map(|r| (r.name.to_ascii_lowercase(), r.constraints.clone()))
        .collect();
    let with_commands = rocks
        .values()
        .filter(|r| !r.commands.is_empty())
        .map(|r| r.name.to_ascii_lowercase())
        .collect();
    let indexes = indexes(&servers, options.jobs, &mut warnings);
    let (profile_name, profile_packages) = if options.project.is_none() {
        let name = options
            .config
            .profile
            .clone()
            .unwrap_or_else(|| "standard".into());
        let profiles = options
            .config
            .profiles()
            .map_err(|e| RecommendError::Config(e.to_string()))?;
        let packages = profiles
            .expand(&name, &lua)
            .map(|x| x.requirements.into_iter().map(|r| r.name).collect())
            .unwrap_or_else(|e| {
                warnings.push(e.to_string());
                Vec::new()
            });
        (Some(name), packages)
    } else {
        (None, Vec::new())
    };
    let is_local = |m: &ModuleName| root.as_deref().is_some_and(|r| is_project_module(r, m));
    let inputs = Inputs {
        lua: &lua,
        in_project: options.project.is_some(),
        direct,
        installed: &installed,
        installed_constraints,
        with_commands,
        usage: &usage,
        scanned: &scanned,
        is_local: &is_local,
        indexes: &indexes,
        catalog: &catalog,
        profile_packages,
        profile_name,
    };
    let (required, recommendations) = judge::recommend(&inputs);
    Ok(RecommendReport {
        project: options.project.map(|p| p.root().display().to_string()),
        lua,
        recorded_runs: usage.runs,
        required,
        recommendations,
        warnings,
    })
}

/// The servers' module indexes, built or refreshed; when a server cannot be read, what the
/// cache holds for it, with a warning.
fn indexes(servers: &ServerOptions, jobs: usize, warnings: &mut Vec<String>) -> Vec<ModuleIndex> {
    let fetcher = servers.fetcher();
    let build = BuildOptions {
        lua: servers.lua_version.clone(),
        jobs: if jobs == 0 {
            super::install::default_jobs() * 2
        } else {
            jobs
        },
        bounds: servers.unpack,
    };
    let list = match servers.servers() {
        Ok(list) => list,
        Err(e) => {
            warnings.push(e.to_string());
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for server in list {
        match module_index::load_or_build(&server, &fetcher, &build) {
            Ok(index) => out.push(index),
            Err(e) => {
                warnings.push(format!(
                    "module index of {} not refreshed: {e}",
                    server.url()
                ));
                let cached = module_index::cached(fetcher.root(), &[server.url().to_string()]);
                out.extend(
                    cached
                        .into_iter()
                        .filter(|c| c.server() == server.url() && c.lua() == servers.lua_version),
                );
            }
        }
    }
    out
}

/// Whether `module` is one of the project's own files, where `package.path`'s `./?.lua`
/// (and the usual `src/`, `lua/` layouts) would find it.
fn is_project_module(root: &Path, module: &ModuleName) -> bool {
    let rel = module.to_path();
    ["", "src/", "lua/"].iter().any(|dir| {
        root.join(format!("{dir}{rel}.lua")).is_file()
            || root.join(format!("{dir}{rel}/init.lua")).is_file()
    })
}
