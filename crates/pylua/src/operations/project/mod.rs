//! Project environments: `init`, `add`, `remove`, `lock`, `update`, `sync`, `profile use`,
//! `rollback`, `export`, `import` and `status`.
//!
//! Every change is one transaction, under the project's file lock: read `pylua.toml` and
//! `pylua.lock`, work out the new files (resolving again only when the lock is stale or an
//! update asks for it), write them, make `.pylua/` match the lock, and record the
//! transaction in the history. A failure at any step puts both files back as they were, and
//! the tree's own transaction guarantees it is never half changed.
//!
//! ```no_run
//! use pylua::config::Config;
//! use pylua::operations::project::{self, EnvOptions};
//! use pylua::paths::Paths;
//! use pylua::project::Project;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Config::load(&Paths::discover())?;
//! project::init(&config, "app".as_ref(), None, pylua::interpreters::LuaVersion::Lua54, Some("standard"), &[])?;
//! let app = Project::at("app");
//! let options = EnvOptions { config, ..EnvOptions::default() };
//! let outcome = project::add(&app, &options, &["penlight@>=1.13".into()], false)?;
//! let status = project::status(&app, &options)?;
//! assert!(status.tree_in_sync);
//! project::rollback(&app, &options, outcome.history_id)?;
//! # Ok(())
//! # }
//! ```

mod environment;
mod exchange;
mod health;
mod resolution;
mod templates;
mod transaction;

use crate::operations::graph::{DependencyGraph, Outdated};
use environment::*;
pub use exchange::{export, import, parse_export, Export};
pub use health::{audit, repair, state, ProjectState};
pub use resolution::profile_requirements;
use resolution::*;
pub use templates::Template;
use transaction::*;

use super::install::{
    self, destination, InstallError, InstallOptions, Launcher, Pinned, Progress, SyncReport,
};
use super::query::{QueryError, ServerOptions};
use crate::config::Config;
use crate::curator::ProfileError;
use crate::interpreters::LuaVersion;
use crate::packages::resolve::{resolve, ResolveOptions};
use crate::packages::rockspec::Dependency;
use crate::packages::server::DEFAULT_SERVER;
use crate::packages::tree::Tree;
use crate::packages::version::Version;
use crate::project::file::{edit, normalize_constraint, parse_constraint, FileError, ProjectFile};
use crate::project::history::{self, PackageChange, Record, Snapshot};
use crate::project::{LockedPackage, Lockfile, Project, LOCK_VERSION, NOT_IN_TREE};
use fs4::fs_std::FileExt;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Why a project command failed. Nothing on disk changed unless said otherwise.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    /// `pylua.toml` or `pylua.lock` is missing or invalid.
    #[error(transparent)]
    File(#[from] FileError),
    /// A request that cannot be carried out as asked.
    #[error("{0}")]
    Usage(String),
    /// An unknown profile, or a package the project does not have.
    #[error("{0}")]
    NotFound(String),
    /// `--locked`: the lock would have to change.
    #[error("{0}")]
    Stale(String),
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error(transparent)]
    Install(#[from] InstallError),
    /// The history or the project lock could not be read or written.
    #[error("{0}")]
    Io(String),
    /// The global configuration, a catalog or a profile in them is invalid.
    #[error("{0}")]
    Config(String),
    /// Another error, with a way forward.
    #[error("{error}")]
    Hinted {
        error: Box<ProjectError>,
        hint: crate::hint::Hint,
    },
}

impl ProjectError {
    /// A stable name for JSON output.
    pub fn kind(&self) -> &'static str {
        match self {
            ProjectError::File(_) => "project_file",
            ProjectError::Usage(_) => "usage",
            ProjectError::NotFound(_) => "not_found",
            ProjectError::Stale(_) => "lock_stale",
            ProjectError::Query(q) => q.kind(),
            ProjectError::Install(i) => i.kind(),
            ProjectError::Io(_) => "io",
            ProjectError::Config(_) => "config",
            ProjectError::Hinted { error, .. } => error.kind(),
        }
    }

    /// Changes of the request that would resolve, when resolution failed.
    pub fn ways_out(&self) -> &[crate::packages::ways_out::WayOut] {
        match self {
            ProjectError::Query(q) => q.ways_out(),
            ProjectError::Install(i) => i.ways_out(),
            ProjectError::Hinted { error, .. } => error.ways_out(),
            _ => &[],
        }
    }

    /// What the user can do about it, when the library knows.
    pub fn hint(&self) -> Option<crate::hint::Hint> {
        match self {
            ProjectError::Hinted { hint, .. } => Some(hint.clone()),
            ProjectError::File(f) => f.hint.clone(),
            _ => None,
        }
    }

    pub fn with_hint(self, hint: crate::hint::Hint) -> ProjectError {
        ProjectError::Hinted {
            error: Box::new(self),
            hint,
        }
    }
}

/// How far a command may change the lock (cargo's and uv's `--locked` and `--frozen`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LockMode {
    /// Update the lock when `pylua.toml` asks for something it does not hold.
    #[default]
    Update,
    /// Fail if the lock would change.
    Locked,
    /// Use the lock as it is, without checking it against `pylua.toml`.
    Frozen,
}

/// Settings shared by the project commands.
#[derive(Clone, Default)]
pub struct EnvOptions<'a> {
    pub mode: LockMode,
    /// Use only the download cache.
    pub offline: bool,
    /// Leave dev-only packages out of the tree.
    pub no_dev: bool,
    /// Parallel fetch and build jobs (0: one per CPU).
    pub jobs: usize,
    /// Download cache (default: pylua's cache directory).
    pub cache_dir: Option<PathBuf>,
    /// The global configuration: servers (when `pylua.toml` names none), cache directory,
    /// catalogs and profiles.
    pub config: Config,
    pub progress: Option<&'a (dyn Fn(Progress) + Sync)>,
    /// The pylua executable the tree's command wrappers (`.pylua/bin/…`) fall back to when
    /// `pylua` is not on `PATH`; the CLI passes itself.
    pub pylua_exe: Option<PathBuf>,
}

/// What a transaction did.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub command: String,
    /// The history record, when something changed.
    pub history_id: Option<u64>,
    /// Packages whose locked version changed.
    pub changes: Vec<PackageChange>,
    /// What the tree sync did (empty for `lock` and dry runs).
    pub sync: SyncReport,
    /// Whether anything was written (false for dry runs and no-ops).
    pub applied: bool,
    pub seconds: f64,
}

// ---------------------------------------------------------------------------------------
// Commands

/// `pylua init`: writes a new `pylua.toml` in `dir`.
pub fn init(
    config: &Config,
    dir: &Path,
    name: Option<&str>,
    lua: LuaVersion,
    profile: Option<&str>,
    servers: &[String],
) -> Result<PathBuf, ProjectError> {
    let project = Project::at(dir);
    let path = project.project_file();
    if path.exists() {
        return Err(ProjectError::Usage(format!(
            "{} already exists: this directory is a project already",
            path.display()
        ))
        .with_hint(crate::hint::Hint::Add));
    }
    let name = match name {
        Some(n) => n.to_string(),
        None => std::path::absolute(dir)
            .ok()
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "project".into()),
    };
    if let Some(p) = profile {
        profile_requirements(config, p, lua)?;
    }
    // A local server is written as an absolute file:// URL, so it works from every directory.
    let servers: Vec<String> = servers
        .iter()
        .map(|s| {
            let local = !s.contains("://");
            match std::path::absolute(s) {
                Ok(abs) if local => format!("file://{}", abs.display()),
                _ => s.clone(),
            }
        })
        .collect();
    let text = ProjectFile::render_new(&name, lua.as_str(), profile, &servers);
    ProjectFile::parse(&text, &path)?;
    std::fs::create_dir_all(dir)
        .map_err(|e| ProjectError::Io(format!("{}: {e}", dir.display())))?;
    crate::packages::cache::write_atomic(&path, text.as_bytes())
        .map_err(|e| ProjectError::Io(format!("{}: {e}", path.display())))?;
    Ok(path)
}

/// [`init`] with a template's files and settings (`pylua init --template NAME`).
pub fn init_from_template(
    config: &Config,
    dir: &Path,
    name: Option<&str>,
    lua: LuaVersion,
    profile: Option<&str>,
    servers: &[String],
    template: Template,
) -> Result<PathBuf, ProjectError> {
    let project_name = match name {
        Some(n) => n.to_string(),
        None => std::path::absolute(dir)
            .ok()
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "project".into()),
    };
    // Checked before pylua.toml is written, so a clash leaves nothing behind.
    for (rel, _) in template.files(&project_name) {
        if dir.join(&rel).exists() {
            return Err(ProjectError::Usage(format!(
                "{} already exists: the {} template would overwrite it",
                dir.join(rel).display(),
                template.name()
            )));
        }
    }
    let path = init(config, dir, name, lua, profile, servers)?;
    template.write(dir, &project_name, &path)?;
    Ok(path)
}

/// `pylua add PKG[@CONSTRAINT]…`: adds dependencies, locks and syncs.
pub fn add(
    project: &Project,
    options: &EnvOptions,
    requests: &[String],
    dev: bool,
) -> Result<Outcome, ProjectError> {
    if requests.is_empty() {
        return Err(ProjectError::Usage(
            "name at least one package to add".into(),
        ));
    }
    let mut parsed = Vec::new();
    for r in requests {
        let dep = super::query::parse_request(r)?;
        let constraint = if dep.constraints.is_any() {
            String::new()
        } else {
            dep.constraints.to_string()
        };
        parsed.push((dep.name, constraint));
    }
    let command = format!(
        "add {}{}",
        if dev { "--dev " } else { "" },
        requests.join(" ")
    );
    transact(project, options, &command, false, false, |before| {
        let mut text = before.project.clone().unwrap_or_default();
        for (name, constraint) in &parsed {
            text = edit::add_dependency(&text, name, constraint, dev)
                .map_err(|e| file_error(project, e))?;
        }
        Ok(Change {
            project: Some(text),
            lock: LockChange::Refresh,
            sync: options.mode != LockMode::Frozen,
            reinstall: Vec::new(),
        })
    })
}

/// `pylua remove PKG…`: removes dependencies, locks and syncs.
pub fn remove(
    project: &Project,
    options: &EnvOptions,
    names: &[String],
) -> Result<Outcome, ProjectError> {
    if names.is_empty() {
        return Err(ProjectError::Usage(
            "name at least one package to remove".into(),
        ));
    }
    transact(
        project,
        options,
        &format!("remove {}", names.join(" ")),
        false,
        false,
        |before| {
            let mut text = before.project.clone().unwrap_or_default();
            for name in names {
                let (next, found) =
                    edit::remove_dependency(&text, name).map_err(|e| file_error(project, e))?;
                if !found {
                    return Err(ProjectError::NotFound(format!(
                        "{name} is not a dependency in {} (a profile's packages leave with the profile)",
                        project.project_file().display()
                    ))
                    .with_hint(crate::hint::Hint::ProfileUse));
                }
                text = next;
            }
            Ok(Change {
                project: Some(text),
                lock: LockChange::Refresh,
                sync: options.mode != LockMode::Frozen,
                reinstall: Vec::new(),
            })
        },
    )
}

/// `pylua lock`: brings the lock up to date with `pylua.toml` without touching the tree.
pub fn lock(project: &Project, options: &EnvOptions) -> Result<Outcome, ProjectError> {
    transact(project, options, "lock", false, false, |_| {
        Ok(Change {
            project: None,
            lock: LockChange::Refresh,
            sync: false,
            reinstall: Vec::new(),
        })
    })
}

/// `pylua update [PKG…]`: resolves again with the named packages (all, if none) free to
/// move to their newest allowed versions, then syncs.
pub fn update(
    project: &Project,
    options: &EnvOptions,
    names: &[String],
) -> Result<Outcome, ProjectError> {
    let command = ["update".to_string()]
        .into_iter()
        .chain(names.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    let names: Vec<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
    transact(project, options, &command, false, false, |before| {
        if let Some(lock) = project.read_lock(before)? {
            if let Some(missing) = names.iter().find(|n| lock.package(n).is_none()) {
                return Err(ProjectError::NotFound(format!(
                    "{missing} is not in {}",
                    project.lock_file().display()
                )));
            }
        }
        Ok(Change {
            project: None,
            lock: LockChange::Update(names.clone()),
            sync: true,
            reinstall: Vec::new(),
        })
    })
}

/// `pylua sync`: makes `.pylua/` hold exactly what the lock says (locking first when the
/// lock is stale, unless `--locked` or `--frozen`).
pub fn sync(project: &Project, options: &EnvOptions) -> Result<Outcome, ProjectError> {
    transact(project, options, "sync", false, false, |_| {
        Ok(Change {
            project: None,
            lock: LockChange::Refresh,
            sync: true,
            reinstall: Vec::new(),
        })
    })
}

/// `pylua profile use NAME`: switches the project's profile. With `dry_run`, only reports
/// the packages that would be added and removed.
pub fn use_profile(
    project: &Project,
    options: &EnvOptions,
    profile: &str,
    dry_run: bool,
) -> Result<Outcome, ProjectError> {
    let snapshot = project.snapshot()?;
    let file = project.read_project(&snapshot)?;
    profile_requirements(&options.config, profile, file.project.lua)?;
    transact(
        project,
        options,
        &format!("profile use {profile}"),
        dry_run,
        false,
        |before| {
            let text =
                edit::set_profile(before.project.as_deref().unwrap_or_default(), Some(profile))
                    .map_err(|e| file_error(project, e))?;
            Ok(Change {
                project: Some(text),
                lock: LockChange::Refresh,
                sync: true,
                reinstall: Vec::new(),
            })
        },
    )
}

/// `pylua rollback [N]`: puts the project back as it was before transaction `N` (default:
/// the last one) — `pylua.toml`, `pylua.lock` and the tree. The rollback is itself a
/// transaction, so it can be rolled back too.
pub fn rollback(
    project: &Project,
    options: &EnvOptions,
    id: Option<u64>,
) -> Result<Outcome, ProjectError> {
    let history = project.history();
    let record = match id {
        Some(id) => history.get(id).map_err(ProjectError::NotFound)?,
        None => history
            .list()
            .map_err(ProjectError::Io)?
            .into_iter()
            .rev()
            .find(Record::succeeded)
            .ok_or_else(|| {
                ProjectError::NotFound("the history is empty: there is nothing to roll back".into())
            })?,
    };
    let target = record.before.clone();
    if target.project.is_none() {
        return Err(ProjectError::Usage(format!(
            "transaction {} happened before pylua.toml existed; roll back to a later one",
            record.id
        )));
    }
    restore(
        project,
        options,
        &format!("rollback {}", record.id),
        target,
        false,
    )
}

/// Whether the lock fits `pylua.toml`. Serialized as `missing`, `stale (why)` or `fresh`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockState {
    Missing,
    Stale { why: String },
    Fresh,
}

impl std::fmt::Display for LockState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockState::Missing => f.write_str("missing"),
            LockState::Stale { why } => write!(f, "stale ({why})"),
            LockState::Fresh => f.write_str("fresh"),
        }
    }
}

impl Serialize for LockState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// What `pylua status` shows.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub root: String,
    pub name: String,
    pub lua: LuaVersion,
    pub profile: Option<String>,
    pub lock: LockState,
    /// Whether `.pylua/` holds exactly the locked packages.
    pub tree_in_sync: bool,
    pub packages: usize,
    /// sha256 of the installed tree (see [`Tree::content_hash`]).
    pub tree_hash: String,
}

/// `pylua status`.
pub fn status(project: &Project, options: &EnvOptions) -> Result<Status, ProjectError> {
    let snapshot = project.snapshot()?;
    let file = project.read_project(&snapshot)?;
    let lock = project.read_lock(&snapshot)?;
    let tree = project_tree(&file, project);
    let lock_state = match &lock {
        None => LockState::Missing,
        Some(l) => match check_fresh(&options.config, &file, l) {
            Ok(()) => LockState::Fresh,
            Err(why) => LockState::Stale { why },
        },
    };
    let in_sync = tree_matches(&tree, lock.as_ref(), options.no_dev)?;
    Ok(Status {
        root: project.root().display().to_string(),
        name: file.project.name.clone(),
        lua: file.project.lua,
        profile: file.project.profile.clone(),
        lock: lock_state,
        tree_in_sync: in_sync,
        packages: lock.as_ref().map_or(0, |l| l.packages.len()),
        tree_hash: tree
            .content_hash(&NOT_IN_TREE)
            .map_err(InstallError::from)?,
    })
}

/// The history of a project, oldest first.
pub fn history(project: &Project) -> Result<Vec<Record>, ProjectError> {
    project.history().list().map_err(ProjectError::Io)
}

/// What code run in a project needs: its file (Lua, `[run]`), its tree, and what syncing did.
pub struct RunSetup {
    pub file: ProjectFile,
    pub tree: Tree,
    pub synced: Option<Outcome>,
}

/// Before `pylua run`: with `sync` options, syncs when the lock is stale or the tree does not
/// match it (the fast path reads three small files once and takes no lock); without, uses
/// the project as it is (`--frozen`).
pub fn prepare_run(project: &Project, sync: Option<&EnvOptions>) -> Result<RunSetup, ProjectError> {
    let snapshot = project.snapshot()?;
    let file = project.read_project(&snapshot)?;
    let tree = project_tree(&file, project);
    let Some(options) = sync else {
        return Ok(RunSetup {
            file,
            tree,
            synced: None,
        });
    };
    let lock = project.read_lock(&snapshot)?;
    let fresh = lock.as_ref().is_some_and(|l| {
        options.mode == LockMode::Frozen || check_fresh(&options.config, &file, l).is_ok()
    });
    if fresh && tree_matches(&tree, lock.as_ref(), options.no_dev)? {
        return Ok(RunSetup {
            file,
            tree,
            synced: None,
        });
    }
    let outcome = self::sync(project, options)?;
    // The sync may have written a new lock, never a new pylua.toml.
    Ok(RunSetup {
        file,
        tree,
        synced: Some(outcome),
    })
}

/// The project file and its lock, which must exist.
fn file_and_lock(project: &Project) -> Result<(ProjectFile, Lockfile), ProjectError> {
    let snapshot = project.snapshot()?;
    let file = project.read_project(&snapshot)?;
    let lock = project.read_lock(&snapshot)?.ok_or_else(|| {
        ProjectError::Usage(format!(
            "{} does not exist yet: the dependency graph is read from the lock",
            project.lock_file().display()
        ))
        .with_hint(crate::hint::Hint::Lock)
    })?;
    Ok((file, lock))
}

/// `pylua tree` in a project: the dependency graph of its lock.
pub fn dependency_graph(project: &Project) -> Result<DependencyGraph, ProjectError> {
    let (_, lock) = file_and_lock(project)?;
    Ok(DependencyGraph::from_lock(&lock))
}

/// `pylua outdated` in a project: each locked package, the newest version its constraints
/// allow and the newest its servers have.
pub fn outdated(project: &Project, options: &EnvOptions) -> Result<Vec<Outdated>, ProjectError> {
    let (file, lock) = file_and_lock(project)?;
    let index = server_options(&file, options).index()?;
    let direct: std::collections::BTreeMap<String, String> = lock
        .requirements
        .iter()
        .chain(&lock.dev_requirements)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let graph = DependencyGraph::from_lock(&lock);
    Ok(crate::operations::graph::outdated(
        &graph, &direct, None, &index,
    ))
}
