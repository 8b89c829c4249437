//! `install`: resolve the request, prepare every package in parallel — fetched through the
//! cache (checking `source.md5` and recording sha256), then linked from the package store,
//! or built and stored first ([`prepare`]) — each in its own staging directory inside the
//! tree, and install them all in one transaction, so the tree is never left half-installed.

mod prepare;

use super::query::{parse_request, QueryError, ServerOptions};
use crate::packages::archive;
use crate::packages::build::Target;
use crate::packages::cache::Fetcher;
use crate::packages::resolve::{resolve, ResolveOptions};
use crate::packages::rockspec::{Dependency, Rockspec};
use crate::packages::tree::{InstalledRock, StagedRock, Tree, TreeError};
use crate::packages::version::Version;
use prepare::{fetch_source, prepare};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

/// What a front shows while an install runs.
#[derive(Debug, Clone)]
pub enum Progress {
    /// The plan is known: this many packages will be fetched and built.
    Planned { total: usize },
    /// One package is fetched and built (or failed).
    Done { name: String, version: String },
    /// Everything is built; the tree is being updated.
    Installing,
}

/// Settings of an install.
pub struct InstallOptions<'a> {
    pub servers: ServerOptions,
    pub tree: Tree,
    pub target: Target,
    /// Shell words that start a script in this tree (for `bin/` wrappers).
    pub launcher: String,
    /// Parallel fetch/build jobs.
    pub jobs: usize,
    pub progress: Option<&'a (dyn Fn(Progress) + Sync)>,
}

/// What an install did to one package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Installed,
    Upgraded,
    Unchanged,
    Removed,
}

/// One package an install touched.
#[derive(Debug, Clone, Serialize)]
pub struct InstalledPackage {
    pub name: String,
    pub version: String,
    /// `installed`, `upgraded` (from the version in `previous`) or `unchanged`.
    pub action: Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    /// sha256 of the file the sources came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct InstallReport {
    pub tree: String,
    pub lua_version: String,
    pub packages: Vec<InstalledPackage>,
    pub seconds: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error(transparent)]
    Tree(#[from] TreeError),
    /// Fetching, verifying, unpacking or building one package failed.
    #[error("{0}")]
    Package(String),
}

impl InstallError {
    /// Changes of the request that would resolve, when resolution failed.
    pub fn ways_out(&self) -> &[crate::packages::ways_out::WayOut] {
        match self {
            InstallError::Query(q) => q.ways_out(),
            _ => &[],
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            InstallError::Query(q) => q.kind(),
            InstallError::Tree(_) => "tree",
            InstallError::Package(_) => "build",
        }
    }
}

/// A staged package with the sha256 of its source, or why it failed.
type Prepared = Result<(StagedRock, Option<String>), String>;

/// A package to fetch and build.
struct Job {
    name: String,
    version: Version,
    /// Where it comes from: a file on a server, or a local rockspec file.
    origin: Origin,
}

enum Origin {
    /// A rock or rockspec at `url`; when `sha256` is known (from a lockfile) the file must
    /// have it, and a git source is checked out at `commit`.
    Remote {
        url: String,
        sha256: Option<String>,
        commit: Option<String>,
    },
    LocalRockspec(PathBuf),
}

/// One package pinned exactly, as a lockfile records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pinned {
    pub name: String,
    pub version: Version,
    /// The rock or rockspec the package is built from.
    pub url: String,
    /// The sha256 that file must have.
    pub sha256: Option<String>,
    /// For git sources: the commit to check out.
    pub commit: Option<String>,
    /// Install it again even when this version is installed (its sources changed).
    pub reinstall: bool,
}

/// What a sync changed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncReport {
    pub installed: Vec<InstalledPackage>,
    pub removed: Vec<InstalledPackage>,
    pub unchanged: usize,
}

/// Installs `requests` (`name`, `name@constraint`, or a path to a `.rockspec`).
pub fn install(
    options: &InstallOptions,
    requests: &[String],
) -> Result<InstallReport, InstallError> {
    let started = Instant::now();
    if requests.is_empty() {
        return Err(QueryError::BadRequest("name at least one package to install".into()).into());
    }
    let mut deps: Vec<Dependency> = Vec::new();
    let mut local: Vec<(Rockspec, PathBuf)> = Vec::new();
    for r in requests {
        if r.ends_with(".rockspec") {
            let path = PathBuf::from(r);
            let spec =
                Rockspec::from_file(&path).map_err(|e| QueryError::BadRequest(e.to_string()))?;
            local.push((spec, path));
        } else {
            deps.push(parse_request(r)?);
        }
    }
    // A local rockspec's dependencies are resolved like a request of their own.
    for (spec, _) in &local {
        deps.extend(spec.dependencies.iter().cloned());
    }

    let tree = &options.tree;
    let lock = tree.lock()?;
    let installed = tree.installed()?;
    if local.is_empty() {
        if let Some(report) = already_satisfied(&deps, &installed) {
            return Ok(InstallReport {
                tree: tree.root().display().to_string(),
                lua_version: options.target.lua_version.clone(),
                packages: report,
                seconds: started.elapsed().as_secs_f64(),
            });
        }
    }
    let result = resolve_and_install(options, &deps, &local, &lock, &installed, started);
    if result.is_err() {
        tree.discard_staging(&lock);
    }
    result
}

fn resolve_and_install(
    options: &InstallOptions,
    deps: &[Dependency],
    local: &[(Rockspec, PathBuf)],
    lock: &crate::packages::tree::TreeLock,
    installed: &BTreeMap<String, InstalledRock>,
    started: Instant,
) -> Result<InstallReport, InstallError> {
    let tree = &options.tree;
    let index = options.servers.index()?;
    let mut resolve_options = ResolveOptions::for_lua(&options.target.lua_version);
    for rock in installed.values() {
        resolve_options
            .preferred
            .insert(rock.name.clone(), rock.version.clone());
    }
    let resolution = resolve(&index, deps, &resolve_options).map_err(QueryError::from)?;

    let mut report = Vec::new();
    let mut jobs = Vec::new();
    for name in resolution.install_order() {
        let version = resolution.packages[&name].clone();
        let current = installed.get(&name);
        if current.is_some_and(|c| c.version == version) {
            report.push(InstalledPackage {
                name: name.clone(),
                version: version.to_string(),
                action: Action::Unchanged,
                previous: None,
                sha256: None,
            });
            continue;
        }
        let entry = index.entry(&name, &version).ok_or_else(|| {
            InstallError::Package(format!("{name} {version} vanished from the index"))
        })?;
        jobs.push(Job {
            name,
            version,
            origin: Origin::Remote {
                url: index.rock_url(entry),
                sha256: None,
                commit: None,
            },
        });
    }
    for (spec, path) in local {
        jobs.push(Job {
            name: spec.package.to_ascii_lowercase(),
            version: spec.version.clone(),
            origin: Origin::LocalRockspec(path.clone()),
        });
    }
    let resolved: BTreeMap<String, String> = resolution
        .packages
        .iter()
        .map(|(k, v)| (k.clone(), v.to_string()))
        .collect();
    let staged = prepare_all(options, index.fetcher(), &jobs, lock, &resolved)?;
    let mut txn = tree.transaction(lock);
    report.extend(add_staged(&mut txn, staged, installed));
    txn.commit()?;
    Ok(InstallReport {
        tree: tree.root().display().to_string(),
        lua_version: options.target.lua_version.clone(),
        packages: report,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Fetches and builds every job in parallel, each into its own staging directory; the
/// first failure is reported and nothing is kept.
///
/// Compiles start first: a worker takes the jobs in order and looks at each one
/// ([`prepare::peek`]); one that will run a compiler it prepares at once, any other waits
/// until every job has been looked at. The install then takes about as long as its longest
/// compile, not that compile plus whatever happened to be queued before it.
fn prepare_all(
    options: &InstallOptions,
    fetcher: &Fetcher,
    jobs: &[Job],
    lock: &crate::packages::tree::TreeLock,
    resolved: &BTreeMap<String, String>,
) -> Result<Vec<(StagedRock, Option<String>)>, InstallError> {
    if let Some(p) = options.progress {
        p(Progress::Planned { total: jobs.len() });
    }
    /// Jobs not looked at yet start at `next`; `waiting` were looked at and need no compile.
    struct Queue {
        next: usize,
        waiting: std::collections::VecDeque<(usize, Option<crate::packages::cache::Fetched>)>,
    }
    let results: Mutex<Vec<Prepared>> = Mutex::new(Vec::new());
    let queue = Mutex::new(Queue {
        next: 0,
        waiting: Default::default(),
    });
    let take = || queue.lock().unwrap_or_else(|e| e.into_inner());
    let workers = options.jobs.clamp(1, 16).min(jobs.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let (i, fetched) = {
                    let mut q = take();
                    if q.next < jobs.len() {
                        q.next += 1;
                        let i = q.next - 1;
                        drop(q);
                        match prepare::peek(&jobs[i], fetcher, options) {
                            (true, fetched) => (i, fetched),
                            (false, fetched) => {
                                take().waiting.push_back((i, fetched));
                                continue;
                            }
                        }
                    } else {
                        match q.waiting.pop_front() {
                            Some(next) => next,
                            None => break,
                        }
                    }
                };
                let job = &jobs[i];
                let started = Instant::now();
                let outcome = prepare(job, fetcher, options, lock, resolved, fetched);
                tracing::info!(
                    package = %job.name,
                    version = %job.version,
                    ok = outcome.is_ok(),
                    ms = started.elapsed().as_secs_f64() * 1e3,
                    "fetched and built"
                );
                if let Some(p) = options.progress {
                    p(Progress::Done {
                        name: job.name.clone(),
                        version: job.version.to_string(),
                    });
                }
                let failed = outcome.is_err();
                results
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(outcome);
                if failed {
                    // Stop handing out work.
                    let mut q = take();
                    q.next = jobs.len();
                    q.waiting.clear();
                }
            });
        }
    });
    let mut staged = Vec::new();
    for r in results.into_inner().unwrap_or_else(|e| e.into_inner()) {
        staged.push(r.map_err(InstallError::Package)?);
    }
    if let Some(p) = options.progress {
        p(Progress::Installing);
    }
    Ok(staged)
}

/// Puts staged packages into `txn`, replacing the installed versions; says what each is.
fn add_staged(
    txn: &mut crate::packages::tree::Transaction,
    staged: Vec<(StagedRock, Option<String>)>,
    installed: &BTreeMap<String, InstalledRock>,
) -> Vec<InstalledPackage> {
    let mut report = Vec::new();
    for (rock, sha) in staged {
        let previous = installed.get(&rock.rock.name).cloned();
        report.push(InstalledPackage {
            name: rock.rock.name.clone(),
            version: rock.rock.version.to_string(),
            action: if previous.is_some() {
                Action::Upgraded
            } else {
                Action::Installed
            },
            previous: previous.as_ref().map(|p| p.version.to_string()),
            sha256: sha,
        });
        if let Some(old) = previous {
            txn.remove(old);
        }
        txn.add(rock);
    }
    report
}

/// Makes the tree hold exactly `pins`: installs what is missing or at another version and
/// removes every package not pinned, all in one transaction. No server index is read; each
/// file is fetched (through the cache) from its pinned URL and must have its pinned sha256.
pub fn sync_exact(options: &InstallOptions, pins: &[Pinned]) -> Result<SyncReport, InstallError> {
    let tree = &options.tree;
    let lock = tree.lock()?;
    let installed = tree.installed()?;
    let mut report = SyncReport::default();
    let mut jobs = Vec::new();
    for pin in pins {
        match installed.get(&pin.name) {
            Some(rock) if rock.version == pin.version && !pin.reinstall => report.unchanged += 1,
            _ => jobs.push(Job {
                name: pin.name.clone(),
                version: pin.version.clone(),
                origin: Origin::Remote {
                    url: pin.url.clone(),
                    sha256: pin.sha256.clone(),
                    commit: pin.commit.clone(),
                },
            }),
        }
    }
    let extra: Vec<&InstalledRock> = installed
        .values()
        .filter(|rock| !pins.iter().any(|p| p.name == rock.name))
        .collect();
    if jobs.is_empty() && extra.is_empty() {
        return Ok(report);
    }
    let resolved: BTreeMap<String, String> = pins
        .iter()
        .map(|p| (p.name.clone(), p.version.to_string()))
        .collect();
    let fetcher = options.servers.fetcher();
    let staged = match prepare_all(options, &fetcher, &jobs, &lock, &resolved) {
        Ok(staged) => staged,
        Err(e) => {
            tree.discard_staging(&lock);
            return Err(e);
        }
    };
    let mut txn = tree.transaction(&lock);
    for rock in extra {
        report.removed.push(InstalledPackage {
            name: rock.name.clone(),
            version: rock.version.to_string(),
            action: Action::Removed,
            previous: None,
            sha256: None,
        });
        txn.remove(rock.clone());
    }
    report.installed = add_staged(&mut txn, staged, &installed);
    if let Err(e) = txn.commit() {
        tree.discard_staging(&lock);
        return Err(e.into());
    }
    Ok(report)
}

/// When every request is installed at a matching version and everything those packages
/// need is installed too, there is nothing to do — and no server needs asking (as uv and
/// cargo do for a satisfied requirement).
fn already_satisfied(
    requests: &[Dependency],
    installed: &BTreeMap<String, InstalledRock>,
) -> Option<Vec<InstalledPackage>> {
    let mut seen = BTreeMap::new();
    let mut queue: Vec<Dependency> = requests.to_vec();
    while let Some(dep) = queue.pop() {
        if dep.name == "lua" {
            continue;
        }
        let rock = installed.get(dep.name.as_str())?;
        if !dep.constraints.matches(&rock.version) {
            return None;
        }
        if seen
            .insert(rock.name.clone(), rock.version.to_string())
            .is_none()
        {
            queue.extend(rock.constraints.iter().cloned());
        }
    }
    Some(
        seen.into_iter()
            .map(|(name, version)| InstalledPackage {
                name,
                version,
                action: Action::Unchanged,
                previous: None,
                sha256: None,
            })
            .collect(),
    )
}

/// Default number of parallel jobs.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .max(2)
}

/// Where packages go and what they are built for: a tree, the Lua it serves, and the line
/// that starts the tree's commands.
pub struct Destination {
    pub tree: Tree,
    pub target: Target,
    pub launcher: String,
}

/// How the tree's command wrappers start pylua.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Launcher {
    /// The pylua executable at this absolute path (per-user trees); the front passes its own.
    Executable(PathBuf),
    /// `pylua` from `PATH` (or `$PYLUA`), so a project tree is the same on every machine.
    OnPath,
}

/// Sets up a destination for `lua` (None: the embedded 5.4) in the tree at `root`. The
/// embedded target needs its headers in the cache; an external one needs the interpreter
/// (found on the system or installed by `pylua lua install`).
pub fn destination(
    lua: Option<crate::interpreters::LuaVersion>,
    root: &Path,
    cache_root: &Path,
    launcher: Launcher,
) -> Result<Destination, InstallError> {
    let program = match launcher {
        // Single quotes keep every byte but `'` literal; a non-UTF-8 path cannot be written
        // into the script faithfully, so such a tree finds pylua on PATH instead.
        Launcher::Executable(exe) => match exe.to_str() {
            Some(exe) => format!("'{}'", exe.replace('\'', "'\\''")),
            None => "\"${PYLUA:-pylua}\"".to_string(),
        },
        Launcher::OnPath => "\"${PYLUA:-pylua}\"".to_string(),
    };
    let (target, lua_flag) = match lua {
        None => {
            let target = Target::embedded(cache_root).map_err(|e| {
                InstallError::Tree(TreeError::Io {
                    path: cache_root.display().to_string(),
                    message: format!("cannot write the Lua headers into the cache: {e}"),
                })
            })?;
            (target, String::new())
        }
        Some(version) => {
            let target = crate::interpreters::find(version, &crate::paths::Paths::discover())
                .map_err(|e| e.to_string())
                .and_then(|i| Target::interpreter(&i))
                .map_err(InstallError::Package)?;
            (target, format!(" --lua {version}"))
        }
    };
    let tree = Tree::new(root, &target.lua_version);
    Ok(Destination {
        tree,
        target,
        launcher: format!("{program} run{lua_flag} --tree \"$TREE\""),
    })
}

/// Fetches `name` `version`'s rock (or rockspec) from the servers and unpacks its sources
/// into `dest`: its rockspec and the directory holding the sources (what `pylua test`
/// runs a package's own tests in).
pub fn unpack_sources(
    servers: &ServerOptions,
    name: &str,
    version: &Version,
    dest: &Path,
) -> Result<(Rockspec, PathBuf), InstallError> {
    let index = servers.index()?;
    let entry = index
        .entry(name, version)
        .ok_or_else(|| QueryError::NotFound(format!("{name} {version} is not on the servers")))?;
    let url = index.source_rock_url(entry);
    let fetcher = servers.fetcher();
    let bounds = servers.unpack;
    let fail = |e: String| InstallError::Package(format!("{name} {version}: {e}"));
    let fetched = fetcher.get(&url).map_err(|e| fail(e.to_string()))?;
    let unpacked = dest.join("src");
    fs::create_dir_all(&unpacked).map_err(|e| fail(e.to_string()))?;
    let spec = if url.ends_with(".rockspec") {
        let text = String::from_utf8_lossy(&fetched.bytes).into_owned();
        let spec = Rockspec::parse(&text, &url).map_err(|e| fail(e.to_string()))?;
        fetch_source(&spec, &fetcher, &unpacked, None, None, bounds).map_err(fail)?;
        spec
    } else {
        let rock_dir = dest.join("rock");
        fs::create_dir_all(&rock_dir).map_err(|e| fail(e.to_string()))?;
        archive::unpack(&fetched.bytes, &url, &rock_dir, bounds)
            .map_err(|e| fail(e.to_string()))?;
        let file = format!("{name}-{version}.rockspec");
        let text = fs::read_to_string(rock_dir.join(&file))
            .map_err(|_| fail(format!("the rock has no {file}")))?;
        let spec =
            Rockspec::parse(&text, &format!("{url}!/{file}")).map_err(|e| fail(e.to_string()))?;
        if !url.ends_with(".src.rock") {
            return Err(fail(
                "only a prebuilt rock is on the servers: its sources (and tests) are not".into(),
            ));
        }
        fetch_source(&spec, &fetcher, &unpacked, Some(&rock_dir), None, bounds).map_err(fail)?;
        spec
    };
    let source_dir = match &spec.source.dir {
        Some(dir) if unpacked.join(dir).is_dir() => unpacked.join(dir),
        _ => archive::single_root(&unpacked).unwrap_or(unpacked.clone()),
    };
    Ok((spec, source_dir))
}
