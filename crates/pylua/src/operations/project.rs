//! Project environments: `init`, `add`, `remove`, `lock`, `update`, `sync`, `profile use`,
//! `rollback`, `export`, `import` and `status`.
//!
//! Every change is one transaction, under the project's file lock: read `pylua.toml` and
//! `pylua.lock`, work out the new files (resolving again only when the lock is stale or an
//! update asks for it), write them, make `.pylua/` match the lock, and record the
//! transaction in the history. A failure at any step puts both files back as they were, and
//! the tree's own transaction guarantees it is never half changed.

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
use crate::project::history::{self, PackageChange, Record, Snapshot};
use crate::project::manifest::{
    edit, normalize_constraint, parse_constraint, FileError, ProjectFile,
};
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

/// What a transaction does to the lock.
enum LockChange {
    /// Keep the lock when it still fits `pylua.toml`, else resolve again keeping every
    /// locked version that still fits.
    Refresh,
    /// Resolve again, letting these packages (all, if empty) move to their newest versions.
    Update(Vec<String>),
    /// Put this exact lock text (or no lock) in place.
    Exact(Option<String>),
}

struct Change {
    project: Option<String>,
    lock: LockChange,
    sync: bool,
}

// ---------------------------------------------------------------------------------------
// Commands

/// `pylua init`: writes a new `pylua.toml` in `dir`.
pub fn init(
    config: &Config,
    dir: &Path,
    name: Option<&str>,
    lua: &str,
    profile: Option<&str>,
    servers: &[String],
) -> Result<PathBuf, ProjectError> {
    let project = Project::at(dir);
    let path = project.project_file();
    if path.exists() {
        return Err(ProjectError::Usage(format!(
            "{} already exists; edit it, or use `pylua add`",
            path.display()
        )));
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
    let text = ProjectFile::render_new(&name, lua, profile, &servers);
    ProjectFile::parse(&text, &path)?;
    std::fs::create_dir_all(dir)
        .map_err(|e| ProjectError::Io(format!("{}: {e}", dir.display())))?;
    crate::packages::cache::write_atomic(&path, text.as_bytes())
        .map_err(|e| ProjectError::Io(format!("{}: {e}", path.display())))?;
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
                    "{name} is not a dependency in {} (a profile's packages leave with `pylua profile use`)",
                    project.project_file().display()
                )));
                }
                text = next;
            }
            Ok(Change {
                project: Some(text),
                lock: LockChange::Refresh,
                sync: options.mode != LockMode::Frozen,
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
    profile_requirements(&options.config, profile, &file.project.lua)?;
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
    let options = EnvOptions {
        mode: LockMode::Frozen,
        ..options.clone()
    };
    transact(
        project,
        &options,
        &format!("rollback {}", record.id),
        false,
        false,
        move |_| {
            Ok(Change {
                project: target.project.clone(),
                lock: LockChange::Exact(target.lock.clone()),
                sync: true,
            })
        },
    )
}

/// The environment as one file: the project file and the lock.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Export {
    /// Always `pylua-environment`.
    pub format: String,
    pub version: u32,
    pub project: toml::Table,
    pub lock: Lockfile,
}

/// `pylua export`: the environment as TOML or JSON, for `pylua import` elsewhere.
pub fn export(project: &Project, options: &EnvOptions, json: bool) -> Result<String, ProjectError> {
    let snapshot = project.snapshot()?;
    let file = project.read_project(&snapshot)?;
    let lock = project.read_lock(&snapshot)?.ok_or_else(|| {
        ProjectError::Usage(format!(
            "{} does not exist yet; run `pylua lock` first",
            project.lock_file().display()
        ))
    })?;
    check_fresh(&options.config, &file, &lock).map_err(|why| {
        ProjectError::Stale(format!(
            "{} is out of date ({why}); run `pylua lock` first",
            project.lock_file().display()
        ))
    })?;
    let table: toml::Table = toml::from_str(snapshot.project.as_deref().unwrap_or_default())
        .map_err(|e| file_error(project, e.to_string()))?;
    let export = Export {
        format: EXPORT_FORMAT.into(),
        version: 1,
        project: table,
        lock,
    };
    Ok(if json {
        serde_json::to_string_pretty(&export).expect("exports serialize") + "\n"
    } else {
        toml::to_string(&export).expect("exports serialize")
    })
}

const EXPORT_FORMAT: &str = "pylua-environment";

/// `pylua import FILE`: makes this directory's project the exported one (creating
/// `pylua.toml` if needed) and syncs the tree to its lock.
pub fn import(
    project: &Project,
    options: &EnvOptions,
    file: &Path,
) -> Result<Outcome, ProjectError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| ProjectError::Usage(format!("cannot read {}: {e}", file.display())))?;
    let export: Export = if text.trim_start().starts_with('{') {
        serde_json::from_str(&text)
            .map_err(|e| FileError::new(file, format!("not a pylua export: {e}")))?
    } else {
        toml::from_str(&text).map_err(|e| {
            FileError::new(
                file,
                format!("not a pylua export: {}", e.to_string().trim_end()),
            )
        })?
    };
    if export.format != EXPORT_FORMAT || export.version != 1 {
        return Err(FileError::new(
            file,
            format!("expected format = \"{EXPORT_FORMAT}\" and version = 1"),
        )
        .into());
    }
    let project_text = toml::to_string(&export.project).expect("tables serialize");
    let parsed = ProjectFile::parse(&project_text, file)?;
    let lock_text = export.lock.render();
    Lockfile::parse(&lock_text, file)?;
    check_fresh(&options.config, &parsed, &export.lock).map_err(|why| {
        FileError::new(file, format!("its lock does not match its project ({why})"))
    })?;
    let options = EnvOptions {
        mode: LockMode::Frozen,
        ..options.clone()
    };
    transact(
        project,
        &options,
        &format!("import {}", file.display()),
        false,
        true,
        move |_| {
            Ok(Change {
                project: Some(project_text.clone()),
                lock: LockChange::Exact(Some(lock_text.clone())),
                sync: true,
            })
        },
    )
}

/// What `pylua status` shows.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub root: String,
    pub name: String,
    pub lua: String,
    pub profile: Option<String>,
    /// `missing`, `stale (why)` or `fresh`.
    pub lock: String,
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
        None => "missing".to_string(),
        Some(l) => match check_fresh(&options.config, &file, l) {
            Ok(()) => "fresh".into(),
            Err(why) => format!("stale ({why})"),
        },
    };
    let in_sync = tree_matches(&tree, lock.as_ref(), options.no_dev)?;
    Ok(Status {
        root: project.root().display().to_string(),
        name: file.project.name.clone(),
        lua: file.project.lua.clone(),
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

/// Before `pylua run`: syncs when the lock is stale or the tree does not match it (the fast
/// path reads three small files and takes no lock). Returns what the sync did, if anything.
pub fn ensure_synced(
    project: &Project,
    options: &EnvOptions,
) -> Result<Option<Outcome>, ProjectError> {
    let snapshot = project.snapshot()?;
    let file = project.read_project(&snapshot)?;
    let lock = project.read_lock(&snapshot)?;
    let fresh = lock.as_ref().is_some_and(|l| {
        options.mode == LockMode::Frozen || check_fresh(&options.config, &file, l).is_ok()
    });
    if fresh && tree_matches(&project_tree(&file, project), lock.as_ref(), options.no_dev)? {
        return Ok(None);
    }
    sync(project, options).map(Some)
}

/// The tree and Lua the project's code runs with.
pub fn runtime_setup(project: &Project) -> Result<(ProjectFile, Tree), ProjectError> {
    let snapshot = project.snapshot()?;
    let file = project.read_project(&snapshot)?;
    let tree = project_tree(&file, project);
    Ok((file, tree))
}

// ---------------------------------------------------------------------------------------
// The transaction

fn transact(
    project: &Project,
    options: &EnvOptions,
    command: &str,
    dry_run: bool,
    creates: bool,
    make: impl FnOnce(&Snapshot) -> Result<Change, ProjectError>,
) -> Result<Outcome, ProjectError> {
    let started = Instant::now();
    let _guard = if dry_run {
        None
    } else {
        Some(lock_project(project)?)
    };
    let before = project.snapshot()?;
    if before.project.is_some() || !creates {
        project.read_project(&before)?;
    }
    let old_lock = project.read_lock(&before)?;
    let change = make(&before)?;
    let project_text = change.project.clone().or_else(|| before.project.clone());
    let file = ProjectFile::parse(
        project_text.as_deref().unwrap_or_default(),
        &project.project_file(),
    )?;

    let new_lock: Option<Lockfile> = match &change.lock {
        LockChange::Exact(text) => text
            .as_deref()
            .map(|t| Lockfile::parse(t, &project.lock_file()))
            .transpose()?,
        LockChange::Refresh => match (&old_lock, options.mode) {
            (Some(l), LockMode::Frozen) => Some(l.clone()),
            (None, LockMode::Frozen) => {
                return Err(ProjectError::Stale(format!(
                    "--frozen: {} does not exist; run `pylua lock`",
                    project.lock_file().display()
                )))
            }
            (Some(l), _) if check_fresh(&options.config, &file, l).is_ok() => Some(l.clone()),
            (old, LockMode::Locked) => {
                let why = old.as_ref().map_or("it does not exist".into(), |l| {
                    check_fresh(&options.config, &file, l).unwrap_err()
                });
                return Err(ProjectError::Stale(format!(
                    "--locked: {} needs updating ({why}); run `pylua lock`",
                    project.lock_file().display()
                )));
            }
            (old, LockMode::Update) => Some(resolve_lock(&file, old.as_ref(), None, options)?),
        },
        LockChange::Update(names) => {
            if options.mode != LockMode::Update {
                return Err(ProjectError::Stale(
                    "update changes the lock; it cannot run with --locked or --frozen".into(),
                ));
            }
            Some(resolve_lock(
                &file,
                old_lock.as_ref(),
                Some(names),
                options,
            )?)
        }
    };
    let after = Snapshot {
        project: project_text,
        lock: match (&change.lock, &new_lock) {
            (LockChange::Exact(text), _) => text.clone(),
            (_, Some(l)) if Some(l) == old_lock.as_ref() => before.lock.clone(),
            (_, l) => l.as_ref().map(Lockfile::render),
        },
    };
    let changes = history::diff(&versions(old_lock.as_ref()), &versions(new_lock.as_ref()));
    let mut outcome = Outcome {
        command: command.to_string(),
        history_id: None,
        changes,
        sync: SyncReport::default(),
        applied: false,
        seconds: 0.0,
    };
    if dry_run {
        outcome.seconds = started.elapsed().as_secs_f64();
        return Ok(outcome);
    }
    let files_changed = after != before;
    if files_changed {
        project.write(&after)?;
    }
    if change.sync {
        match sync_tree(
            project,
            &file,
            new_lock.as_ref(),
            old_lock.as_ref(),
            options,
        ) {
            Ok(report) => outcome.sync = report,
            Err(e) => {
                if files_changed {
                    project.write(&before)?;
                }
                let failed = format!("failed: {e}");
                record(
                    project,
                    command,
                    &failed,
                    started,
                    &outcome.changes,
                    &before,
                    &before,
                );
                tracing::warn!(target: "pylua::transaction", command, error = %e, seconds = started.elapsed().as_secs_f64(), "transaction failed");
                return Err(e);
            }
        }
    }
    let tree_changed = !outcome.sync.installed.is_empty() || !outcome.sync.removed.is_empty();
    outcome.applied = files_changed || tree_changed;
    if outcome.applied {
        outcome.history_id = record(
            project,
            command,
            "ok",
            started,
            &outcome.changes,
            &before,
            &after,
        );
    }
    outcome.seconds = started.elapsed().as_secs_f64();
    tracing::info!(
        target: "pylua::transaction",
        command,
        changed = outcome.changes.len(),
        installed = outcome.sync.installed.len(),
        removed = outcome.sync.removed.len(),
        seconds = outcome.seconds,
        "transaction done"
    );
    Ok(outcome)
}

/// Appends a history record; a history that cannot be written is reported in the log but
/// does not undo a change that is already made.
fn record(
    project: &Project,
    command: &str,
    outcome: &str,
    started: Instant,
    changes: &[PackageChange],
    before: &Snapshot,
    after: &Snapshot,
) -> Option<u64> {
    let rec = Record {
        id: 0,
        time: history::now(),
        command: command.to_string(),
        outcome: outcome.to_string(),
        seconds: started.elapsed().as_secs_f64(),
        changes: changes.to_vec(),
        before: before.clone(),
        after: after.clone(),
    };
    match project.history().append(rec) {
        Ok(r) => Some(r.id),
        Err(e) => {
            tracing::error!("cannot record the transaction in the history: {e}");
            None
        }
    }
}

/// Holds the project's lock until dropped: one command changes a project at a time.
struct ProjectLock {
    _file: std::fs::File,
}

fn lock_project(project: &Project) -> Result<ProjectLock, ProjectError> {
    let path = project.lock_path();
    let io = |e: std::io::Error| ProjectError::Io(format!("{}: {e}", path.display()));
    std::fs::create_dir_all(project.tree_dir()).map_err(io)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io)?;
    file.lock_exclusive().map_err(io)?;
    Ok(ProjectLock { _file: file })
}

fn file_error(project: &Project, message: String) -> ProjectError {
    FileError::new(&project.project_file(), message).into()
}

fn versions(lock: Option<&Lockfile>) -> BTreeMap<String, String> {
    lock.map(|l| {
        l.packages
            .iter()
            .map(|p| (p.name.clone(), p.version.clone()))
            .collect()
    })
    .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// Requirements and resolution

/// Package name → constraint (`""` for any version).
type Requirements = BTreeMap<String, String>;

/// The project's requirements: its profile's packages, overridden and extended by its own
/// dependencies; and its dev-dependencies.
fn requirements(
    config: &Config,
    file: &ProjectFile,
) -> Result<(Requirements, Requirements), ProjectError> {
    let mut main = BTreeMap::new();
    if let Some(profile) = &file.project.profile {
        main.extend(profile_requirements(config, profile, &file.project.lua)?);
    }
    main.extend(file.requirements(false));
    let dev = file
        .requirements(true)
        .into_iter()
        .filter(|(n, _)| !main.contains_key(n))
        .collect();
    Ok((main, dev))
}

/// Whether `lock` was made for what `file` asks now; if not, why.
fn check_fresh(config: &Config, file: &ProjectFile, lock: &Lockfile) -> Result<(), String> {
    if lock.lua != file.project.lua {
        return Err(format!(
            "it is for Lua {}, the project asks for {}",
            lock.lua, file.project.lua
        ));
    }
    if lock.profile != file.project.profile {
        return Err(format!(
            "it is for profile {}, the project uses {}",
            lock.profile.as_deref().unwrap_or("(none)"),
            file.project.profile.as_deref().unwrap_or("(none)")
        ));
    }
    let (main, dev) = requirements(config, file).map_err(|e| e.to_string())?;
    for (kind, wanted, locked) in [
        ("", &main, &lock.requirements),
        ("dev-", &dev, &lock.dev_requirements),
    ] {
        if let Some((name, c)) = wanted.iter().find(|(n, c)| locked.get(*n) != Some(c)) {
            return Err(format!(
                "{kind}requirement {name} {} is not locked",
                if c.is_empty() { "(any)" } else { c }
            ));
        }
        if let Some(name) = locked.keys().find(|n| !wanted.contains_key(*n)) {
            return Err(format!("{name} is locked but no longer required"));
        }
    }
    Ok(())
}

fn server_options(file: &ProjectFile, options: &EnvOptions) -> ServerOptions {
    let servers = if !file.project.servers.is_empty() {
        file.project.servers.clone()
    } else if !options.config.servers.is_empty() {
        options.config.servers.clone()
    } else {
        vec![DEFAULT_SERVER.to_string()]
    };
    ServerOptions {
        extra: Vec::new(),
        defaults: Vec::new(),
        only: servers,
        lua_version: lua_api(&file.project.lua).to_string(),
        cache_dir: options
            .cache_dir
            .clone()
            .or_else(|| options.config.cache_dir.clone()),
        offline: options.offline,
    }
}

fn lua_api(lua: &str) -> &'static str {
    lua.parse::<LuaVersion>()
        .map(LuaVersion::api)
        .unwrap_or("5.4")
}

/// Resolves the project's requirements against its servers, keeping locked versions that
/// still fit (except the packages in `unlock`; all of them when it is empty), and records
/// each package's file and sha256.
fn resolve_lock(
    file: &ProjectFile,
    old: Option<&Lockfile>,
    unlock: Option<&Vec<String>>,
    options: &EnvOptions,
) -> Result<Lockfile, ProjectError> {
    let (main, dev) = requirements(&options.config, file)?;
    let mut deps = Vec::new();
    for (name, constraint) in main.iter().chain(&dev) {
        let constraints = parse_constraint(constraint).map_err(ProjectError::Usage)?;
        deps.push(Dependency {
            name: name.clone(),
            constraints,
        });
    }
    let server_options = server_options(file, options);
    let index = server_options.index()?;
    if let Some(profile) = &file.project.profile {
        check_profile_available(&options.config, profile, &file.project.lua, &index)?;
    }
    let mut resolve_options = ResolveOptions::for_lua(lua_api(&file.project.lua));
    if let Some(old) = old {
        for p in &old.packages {
            let free = unlock.is_some_and(|names| names.is_empty() || names.contains(&p.name));
            if let (false, Ok(v)) = (free, Version::parse(&p.version)) {
                resolve_options.preferred.insert(p.name.clone(), v);
            }
        }
    }
    let started = Instant::now();
    let resolution = resolve(&index, &deps, &resolve_options).map_err(QueryError::from)?;
    tracing::info!(
        packages = resolution.packages.len(),
        ms = started.elapsed().as_secs_f64() * 1e3,
        "resolved"
    );

    // The file each package comes from, and its sha256 (fetched through the cache, in parallel).
    let mut wanted = Vec::new();
    for (name, version) in &resolution.packages {
        let entry = index.entry(name, version).ok_or_else(|| {
            QueryError::Server(format!("{name} {version} is missing from the server index"))
        })?;
        let url = index.rock_url(entry);
        let server = index.servers()[entry.server].url().to_string();
        wanted.push((name.clone(), version.to_string(), server, url));
    }
    let fetcher = index.fetcher();
    // Git sources are pinned to the commit their tag or branch names now.
    let hashes = parallel_map(&wanted, options.jobs, |(name, version, _, url)| {
        let sha256 = fetcher
            .get(url)
            .map(|f| f.sha256)
            .map_err(|e| e.to_string())?;
        let version = Version::parse(version).map_err(|e| e.message)?;
        let spec = index
            .rockspec(name, &version)
            .map_err(|e| format!("{name} {version}: {e}"))?;
        let commit = match crate::packages::git::git_url(&spec.source.url) {
            Some(git) => {
                let reference = spec.source.tag.as_ref().or(spec.source.branch.as_ref());
                Some(
                    crate::packages::git::remote_commit(&git, reference.map(String::as_str))
                        .map_err(|e| format!("{name} {version}: {e}"))?,
                )
            }
            None => None,
        };
        Ok::<_, String>((sha256, commit))
    });
    // Packages reachable from the main requirements are needed at run time; the rest only
    // by dev-dependencies.
    let mut runtime = std::collections::BTreeSet::new();
    let mut queue: Vec<String> = main.keys().cloned().collect();
    while let Some(name) = queue.pop() {
        if runtime.insert(name.clone()) {
            queue.extend(
                resolution
                    .dependencies
                    .get(&name)
                    .into_iter()
                    .flatten()
                    .cloned(),
            );
        }
    }
    let mut packages = Vec::new();
    for ((name, version, server, url), pinned) in wanted.into_iter().zip(hashes) {
        let (sha256, commit) = pinned.map_err(QueryError::Server)?;
        let file_name = url.rsplit('/').next().unwrap_or(&url).to_string();
        packages.push(LockedPackage {
            dev: !runtime.contains(&name),
            dependencies: resolution
                .dependencies
                .get(&name)
                .cloned()
                .unwrap_or_default(),
            name,
            version,
            server,
            file: file_name,
            sha256,
            commit,
        });
    }
    Ok(Lockfile {
        version: LOCK_VERSION,
        lua: file.project.lua.clone(),
        profile: file.project.profile.clone(),
        requirements: main,
        dev_requirements: dev,
        packages,
    })
}

/// Runs `f` over `items` on up to `jobs` threads, keeping the order.
fn parallel_map<T: Sync, R: Send>(items: &[T], jobs: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let jobs = if jobs == 0 {
        install::default_jobs()
    } else {
        jobs
    }
    .clamp(1, 16);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: std::sync::Mutex<Vec<Option<R>>> =
        std::sync::Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(items.len()) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let r = f(item);
                results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|r| r.expect("every item is mapped"))
        .collect()
}

// ---------------------------------------------------------------------------------------
// The tree

fn project_tree(file: &ProjectFile, project: &Project) -> Tree {
    Tree::new(project.tree_dir(), lua_api(&file.project.lua))
}

/// Whether the tree holds exactly the locked packages (at their versions).
fn tree_matches(tree: &Tree, lock: Option<&Lockfile>, no_dev: bool) -> Result<bool, ProjectError> {
    let installed = tree.read().map_err(InstallError::from)?;
    let wanted: Vec<&LockedPackage> = lock
        .map(|l| l.packages.iter().filter(|p| !(no_dev && p.dev)).collect())
        .unwrap_or_default();
    Ok(installed.len() == wanted.len()
        && wanted.iter().all(|p| {
            installed
                .get(&p.name)
                .is_some_and(|r| r.version.to_string() == p.version)
        }))
}

fn sync_tree(
    project: &Project,
    file: &ProjectFile,
    lock: Option<&Lockfile>,
    previous: Option<&Lockfile>,
    options: &EnvOptions,
) -> Result<SyncReport, ProjectError> {
    let server_options = server_options(file, options);
    let lua = match file.project.lua.as_str() {
        "5.4" => None,
        other => Some(
            other
                .parse::<LuaVersion>()
                .map_err(|e| ProjectError::Usage(e.to_string()))?,
        ),
    };
    let cache_root = server_options.fetcher().root().to_path_buf();
    let dest = destination(lua, &project.tree_dir(), &cache_root, Launcher::OnPath)?;
    let mut pins = Vec::new();
    for p in lock.map(|l| l.packages.as_slice()).unwrap_or_default() {
        if options.no_dev && p.dev {
            continue;
        }
        pins.push(Pinned {
            name: p.name.clone(),
            version: Version::parse(&p.version)
                .map_err(|e| FileError::new(&project.lock_file(), e.message))?,
            url: p.url(),
            sha256: Some(p.sha256.clone()),
            commit: p.commit.clone(),
            // Same version, other sources (a git branch that moved on): build it again.
            reinstall: previous
                .and_then(|old| old.package(&p.name))
                .is_some_and(|old| {
                    old.version == p.version && (old.sha256 != p.sha256 || old.commit != p.commit)
                }),
        });
    }
    let install_options = InstallOptions {
        servers: server_options,
        tree: dest.tree,
        target: dest.target,
        launcher: dest.launcher,
        jobs: if options.jobs == 0 {
            install::default_jobs()
        } else {
            options.jobs
        },
        progress: options.progress,
    };
    Ok(install::sync_exact(&install_options, &pins)?)
}

// ---------------------------------------------------------------------------------------
// Profiles

/// Fails, naming every missing package, when the servers lack some of a profile's packages:
/// clearer than the resolver's report of the first one it meets.
fn check_profile_available(
    config: &Config,
    profile: &str,
    lua: &str,
    index: &crate::packages::index::ServerIndex,
) -> Result<(), ProjectError> {
    // A profile that cannot be expanded is reported where the requirements are read.
    let Ok(Ok(expansion)) = config.profiles().map(|p| p.expand(profile, lua)) else {
        return Ok(());
    };
    let missing: Vec<String> = crate::curator::availability(&expansion, index)
        .into_iter()
        .filter_map(|(name, why)| why.map(|w| format!("  {name}: {w}")))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(ProjectError::NotFound(format!(
        "profile {profile} needs packages the servers do not offer:\n{}\n(`pylua profile show {profile}` checks a profile against the servers; `servers` in pylua.toml or `pylua config set servers` picks them)",
        missing.join("\n")
    )))
}

/// The requirements profile `name` adds for a project on `lua`, from the catalog and
/// profiles `config` knows.
pub fn profile_requirements(
    config: &Config,
    name: &str,
    lua: &str,
) -> Result<Requirements, ProjectError> {
    let profiles = config
        .profiles()
        .map_err(|e| ProjectError::Config(e.to_string()))?;
    let expansion = profiles.expand(name, lua).map_err(|e| match e {
        ProfileError::Unknown { .. } => ProjectError::NotFound(e.to_string()),
        ProfileError::Invalid { .. } => ProjectError::Config(e.to_string()),
    })?;
    for (pkg, why) in &expansion.skipped {
        tracing::warn!("profile {name}: leaving out {pkg} for Lua {lua}: it {why}");
    }
    Ok(expansion
        .requirements
        .into_iter()
        .map(|r| (r.name, normalize_constraint(&r.constraint)))
        .collect())
}
