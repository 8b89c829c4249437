//! `install`: resolve the request, fetch every package's sources (in parallel, through the
//! cache, checking `source.md5` and recording sha256), build them (in parallel, each in its
//! own staging directory inside the tree), and install them all in one transaction — so the
//! tree is never left half-installed.

use super::query::{parse_request, QueryError, ServerOptions};
use crate::packages::archive::{self, Bounds};
use crate::packages::build::{self, Target};
use crate::packages::cache::{hex, Fetcher};
use crate::packages::git;
use crate::packages::names::RelativePath;
use crate::packages::resolve::{resolve, ResolveOptions};
use crate::packages::rockspec::{Dependency, Rockspec};
use crate::packages::tree::{InstalledRock, StagedRock, Tree, TreeError};
use crate::packages::version::Version;
use md5::{Digest, Md5};
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
    let results: Mutex<Vec<Prepared>> = Mutex::new(Vec::new());
    let next = Mutex::new(0usize);
    let workers = options.jobs.clamp(1, 16).min(jobs.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = {
                    let mut n = next.lock().unwrap_or_else(|e| e.into_inner());
                    let i = *n;
                    *n += 1;
                    i
                };
                let Some(job) = jobs.get(i) else { break };
                let started = Instant::now();
                let outcome = prepare(job, fetcher, options, lock, resolved);
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
                    *next.lock().unwrap_or_else(|e| e.into_inner()) = jobs.len();
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

/// Fetches, verifies, unpacks and builds one package into its staging directory.
fn prepare(
    job: &Job,
    fetcher: &Fetcher,
    options: &InstallOptions,
    lock: &crate::packages::tree::TreeLock,
    resolved: &BTreeMap<String, String>,
) -> Prepared {
    let label = format!("{}-{}", job.name, job.version);
    let work = options
        .tree
        .staging_dir(lock, &label)
        .map_err(|e| e.to_string())?;
    let unpacked = work.join("src");
    let bounds = options.servers.unpack;
    fs::create_dir_all(&unpacked).map_err(|e| format!("{}: {e}", unpacked.display()))?;
    // Set for self-contained rocks: where their build for this target is (or will be) cached.
    let mut build_cache: Option<PathBuf> = None;
    let (rockspec, rockspec_text, source_root, sha) = match &job.origin {
        Origin::Remote {
            url,
            sha256,
            commit,
        } => {
            let url = url.clone();
            let fetched = fetcher.get(&url).map_err(|e| e.to_string())?;
            if let Some(expected) = sha256 {
                if !expected.eq_ignore_ascii_case(&fetched.sha256) {
                    return Err(format!(
                        "{} {}: checksum mismatch for {url}: the lock says sha256 {expected}, the file has {}; refusing to install it",
                        job.name, job.version, fetched.sha256
                    ));
                }
            }
            if url.ends_with(".rockspec") {
                let text = String::from_utf8_lossy(&fetched.bytes).into_owned();
                let spec = Rockspec::parse(&text, &url).map_err(|e| e.to_string())?;
                let sha = fetch_source(&spec, fetcher, &unpacked, None, commit.as_deref(), bounds)?;
                (spec, text, unpacked.clone(), Some(sha))
            } else {
                let rock_dir = work.join("rock");
                fs::create_dir_all(&rock_dir).map_err(|e| e.to_string())?;
                archive::unpack(&fetched.bytes, &url, &rock_dir, bounds)
                    .map_err(|e| e.to_string())?;
                let name = url
                    .rsplit('/')
                    .next()
                    .and_then(|f| f.strip_suffix(".rock"))
                    .and_then(|f| f.rsplit_once('.'))
                    .map(|(base, _arch)| format!("{base}.rockspec"))
                    .unwrap_or_else(|| format!("{}-{}.rockspec", job.name, job.version));
                let text = fs::read_to_string(rock_dir.join(&name))
                    .map_err(|_| format!("{url}: the rock has no {name}"))?;
                let spec =
                    Rockspec::parse(&text, &format!("{url}!/{name}")).map_err(|e| e.to_string())?;
                if url.ends_with(".src.rock") {
                    let cached = build_cache_dir(fetcher, &fetched.sha256, &options.target);
                    if !cached.join(BUILT_FILE).is_file() {
                        fetch_source(
                            &spec,
                            fetcher,
                            &unpacked,
                            Some(&rock_dir),
                            commit.as_deref(),
                            bounds,
                        )?;
                    }
                    build_cache = Some(cached);
                    (spec, text, unpacked.clone(), Some(fetched.sha256))
                } else {
                    // A binary or .all rock carries built files: lua/, lib/, bin/.
                    (spec, text, rock_dir, Some(fetched.sha256))
                }
            }
        }
        Origin::LocalRockspec(path) => {
            let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let spec =
                Rockspec::parse(&text, &path.display().to_string()).map_err(|e| e.to_string())?;
            let base = path.parent().unwrap_or(Path::new("."));
            let sha = fetch_source(&spec, fetcher, &unpacked, Some(base), None, bounds)?;
            (spec, text, unpacked.clone(), Some(sha))
        }
    };
    let source_dir = match &rockspec.source.dir {
        Some(dir) if source_root.join(dir).is_dir() => source_root.join(dir),
        _ => archive::single_root(&source_root).unwrap_or(source_root.clone()),
    };
    let stage = work.join("stage");
    let is_binary_rock = matches!(&job.origin, Origin::Remote { url, .. } if !url.ends_with(".src.rock") && !url.ends_with(".rockspec"));
    let cached_build = build_cache
        .as_ref()
        .and_then(|dir| load_cached_build(dir, &stage));
    let built = if let Some(built) = cached_build {
        built
    } else if is_binary_rock {
        // As LuaRocks does: lua/, lib/ and bin/ are deployed, everything else the rock
        // carries (docs, its own rock_manifest) stays in the rock's directory.
        fs::create_dir_all(stage.join("rock")).map_err(|e| e.to_string())?;
        for entry in fs::read_dir(&source_dir).map_err(|e| e.to_string())? {
            let entry = entry.map_err(|e| e.to_string())?;
            let name = entry.file_name();
            let to = match name.to_str() {
                Some("lua" | "lib" | "bin") => stage.join(&name),
                _ => stage.join("rock").join(&name),
            };
            let kind = entry.file_type().map_err(|e| e.to_string())?;
            if kind.is_dir() {
                build::copy_tree(&entry.path(), &to).map_err(|e| e.to_string())?;
            } else if kind.is_file() {
                fs::copy(entry.path(), &to).map_err(|e| e.to_string())?;
            }
        }
        build::scan(&stage)
    } else {
        let built = build::build(&rockspec, &source_dir, &stage, &options.target)
            .map_err(|e| e.to_string())?;
        if let Some(dir) = &build_cache {
            store_cached_build(dir, &stage, &built);
        }
        built
    };
    let dependencies = rockspec
        .dependencies
        .iter()
        .filter_map(|d| {
            resolved
                .get(d.name.as_str())
                .map(|v| (d.name.to_string(), v.clone()))
        })
        .collect();
    let rock = InstalledRock {
        name: job.name.clone(),
        version: job.version.clone(),
        modules: built.modules,
        commands: built.commands,
        dependencies,
        constraints: rockspec.dependencies.clone(),
    };
    Ok((
        StagedRock {
            rock,
            stage,
            rockspec_text,
            launcher: options.launcher.clone(),
        },
        sha,
    ))
}

const BUILT_FILE: &str = "built.json";

/// Part of a cached build's identity: raised whenever what a build stages changes (2: the
/// LuaRocks layout of `init` modules, the `lua/` directory and default docs), so a build
/// cached by an older pylua is never reused.
const BUILD_LAYOUT: u32 = 2;

/// Where the build of a self-contained rock (identified by its sha256) for `target` is kept:
/// a rebuild with the same sources, Lua, headers, compiler and flags gives the same files, so
/// a warm install copies them instead of compiling again.
fn build_cache_dir(fetcher: &Fetcher, rock_sha256: &str, target: &Target) -> PathBuf {
    let identity = format!(
        "{rock_sha256}\n{}\n{}\n{:?}\n{:?}\n{}\n{}\n{BUILD_LAYOUT}",
        target.lua_version,
        target.incdir.display(),
        target.libdir,
        target.lualib,
        crate::compiler::build_identity(),
        env!("CARGO_PKG_VERSION"),
    );
    fetcher
        .root()
        .join("builds")
        .join(crate::packages::cache::sha256_hex(identity.as_bytes()))
}

fn load_cached_build(dir: &Path, stage: &Path) -> Option<build::Built> {
    let text = fs::read_to_string(dir.join(BUILT_FILE)).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    let map = |key: &str| -> Option<BTreeMap<String, String>> {
        value.get(key)?.as_object().map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
    };
    let built = build::Built {
        modules: map("modules")?,
        commands: map("commands")?,
    };
    let _ = fs::remove_dir_all(stage);
    build::copy_tree(&dir.join("stage"), stage).ok()?;
    Some(built)
}

/// Keeps a finished build; a cache that cannot be written only costs a rebuild later.
fn store_cached_build(dir: &Path, stage: &Path, built: &build::Built) {
    let Some(parent) = dir.parent() else { return };
    let tmp = parent.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        dir.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    let _ = fs::remove_dir_all(&tmp);
    let saved = build::copy_tree(stage, &tmp.join("stage")).is_ok()
        && fs::write(
            tmp.join(BUILT_FILE),
            serde_json::json!({"modules": built.modules, "commands": built.commands}).to_string(),
        )
        .is_ok()
        && fs::rename(&tmp, dir).is_ok();
    if !saved {
        let _ = fs::remove_dir_all(&tmp);
    }
}

/// Gets the sources a rockspec names into `dest`: from inside the rock (`.src.rock`), from a
/// file next to a local rockspec, from a URL (through the cache), or from git. Checks
/// `source.md5`; returns the sha256 of the archive.
fn fetch_source(
    spec: &Rockspec,
    fetcher: &Fetcher,
    dest: &Path,
    local: Option<&Path>,
    commit: Option<&str>,
    bounds: Bounds,
) -> Result<String, String> {
    let url = &spec.source.url;
    let what = || format!("{} {}", spec.package, spec.version);
    if let Some(git) =
        git::GitUrl::from_source_url(url).map_err(|e| format!("{}: source.url: {e}", what()))?
    {
        let commit = commit
            .map(git::CommitId::parse)
            .transpose()
            .map_err(|e| format!("{}: the locked commit {e}", what()))?;
        return git_checkout(&git, spec, dest, commit.as_ref());
    }
    // The file name the sources are kept under: `source.file`, else the URL's last part,
    // which must be a plain file name too.
    let file_name = match &spec.source.file {
        Some(file) => file.clone(),
        None => RelativePath::parse(url.rsplit('/').next().unwrap_or(url))
            .ok()
            .filter(|p| !p.contains('/'))
            .ok_or_else(|| {
                format!(
                    "{}: source.url {} does not end with a file name; set source.file",
                    what(),
                    crate::packages::names::quote(url)
                )
            })?,
    };
    let (bytes, origin) = match local.map(|d| d.join(&file_name)).filter(|p| p.is_file()) {
        Some(path) => (
            fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?,
            path.display().to_string(),
        ),
        None => {
            let fetched = fetcher.get(url).map_err(|e| {
                format!(
                    "{} {}: cannot fetch sources: {e}",
                    spec.package, spec.version
                )
            })?;
            (fetched.bytes, url.clone())
        }
    };
    if let Some(expected) = &spec.source.md5 {
        let actual = hex(&Md5::digest(&bytes));
        if !actual.eq_ignore_ascii_case(expected) {
            return Err(format!(
                "{} {}: checksum mismatch for {origin}: the rockspec says md5 {expected}, the file has {actual}; refusing to build it",
                spec.package, spec.version
            ));
        }
    }
    if archive::is_archive(&file_name) {
        archive::unpack(&bytes, &file_name, dest, bounds).map_err(|e| e.to_string())?;
    } else {
        // A single source file (some rockspecs point at one .lua file).
        fs::write(dest.join(&file_name), &bytes).map_err(|e| e.to_string())?;
    }
    Ok(crate::packages::cache::sha256_hex(&bytes))
}

fn git_checkout(
    url: &git::GitUrl,
    spec: &Rockspec,
    dest: &Path,
    commit: Option<&git::CommitId>,
) -> Result<String, String> {
    // The checkout goes where `source.dir` says, else under the repository's name (a plain
    // file name, or `src` when the URL's last part is not one).
    let dir = spec.source.dir.clone().unwrap_or_else(|| {
        RelativePath::parse(
            url.as_str()
                .trim_end_matches(".git")
                .rsplit('/')
                .next()
                .unwrap_or(""),
        )
        .ok()
        .filter(|p| !p.contains('/'))
        .unwrap_or_else(|| RelativePath::parse("src").expect("a valid path"))
    });
    let checkout = dest.join(dir.as_str());
    let reference = spec.source.tag.as_ref().or(spec.source.branch.as_ref());
    let head = git::checkout(url, reference, commit, &checkout)
        .map_err(|e| format!("{} {}: {e}", spec.package, spec.version))?;
    Ok(format!("git:{head}"))
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
