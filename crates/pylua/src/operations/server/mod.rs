//! `pylua server`: writing and serving a standard LuaRocks server — a directory of
//! `.rockspec`s, `.src.rock`s, optionally binary rocks built here, and `manifest`,
//! `manifest-5.1` … `manifest-5.4` in LuaRocks' format — that Debian's `luarocks`, pylua and
//! any static web server or object store can use.
//!
//! Binary rocks are named as LuaRocks names them, `NAME-VERSION.linux-x86_64.rock`, which
//! leaves no room for the Lua they were built for: a directory holds binary rocks for one Lua,
//! listed in that Lua's `manifest-5.x` (and the plain `manifest`) only. A lock made against
//! such a server records the binary rock and its sha256 (installs prefer a binary rock for
//! this platform), so `pylua sync --locked` checks exactly the file it installs.

mod layout;
mod pack;
mod serve;

pub use layout::{file_name, scan, ServerFile, LUA_VERSIONS};
pub use pack::{pack_installed, pack_source_rock};
pub use serve::Serving;

use super::install::{self, InstallOptions, Launcher, Pinned};
use super::query::{resolve_requests, QueryError, ServerOptions};
use crate::interpreters::LuaVersion;
use crate::packages::cache::{sha256_hex, Fetcher};
use crate::packages::rockspec::Rockspec;
use crate::packages::server::rockspec_from_rock;
use crate::packages::version::Version;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error(transparent)]
    Install(#[from] install::InstallError),
    #[error("{0}")]
    BadRequest(String),
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    /// A package could not be fetched, verified, packed or built.
    #[error("{0}")]
    Package(String),
}

impl ServerError {
    fn io(path: &Path, e: impl std::fmt::Display) -> ServerError {
        ServerError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            ServerError::Query(q) => q.kind(),
            ServerError::Install(i) => i.kind(),
            ServerError::BadRequest(_) => "usage",
            ServerError::Io { .. } => "io",
            ServerError::Package(_) => "build",
        }
    }
}

/// What `server build` is asked for.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    /// The server directory (created when missing).
    pub dir: PathBuf,
    /// Take the packages, exact files and sha256s from this `pylua.lock`.
    pub from_lock: Option<PathBuf>,
    /// Otherwise resolve these requests (`name`, `name@constraint`) as `install` would.
    pub packages: Vec<String>,
    /// Also build every package here and write binary (or `.all`) rocks.
    pub binary: bool,
    /// The Lua binary rocks are built for (None: the embedded 5.4). With `from_lock`, the
    /// lock's Lua is used.
    pub lua: Option<LuaVersion>,
}

/// One file `server build` or `server add` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct WrittenFile {
    pub file: String,
    pub sha256: String,
    /// `copied` from a server, `packed` from a rockspec and its sources, `built` here, or
    /// `added` by `server add`.
    pub how: &'static str,
}

/// What `server build` or `server add` did.
#[derive(Debug, Clone, Serialize)]
pub struct ServerReport {
    pub dir: String,
    pub files: Vec<WrittenFile>,
    /// How many rockspecs and rocks the manifests now list.
    pub listed: usize,
    /// Files in the directory the manifests leave out, with why.
    pub skipped: Vec<String>,
    /// The Lua binary rocks were built for, when some were.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binary_lua: Option<String>,
}

/// A package to put on the server: where its file is and the sha256 it must have.
struct Wanted {
    name: String,
    version: Version,
    /// `(url, arch)` of each file to copy (rockspec, src, all, or a binary for this platform).
    files: Vec<(String, String)>,
    sha256: Option<String>,
}

/// The file in a server directory that `build` and `add` hold an exclusive lock on, so two
/// writers at once cannot lose each other's files from the manifests.
const LOCK_FILE: &str = ".pylua-server.lock";

fn lock(dir: &Path) -> Result<fs::File, ServerError> {
    use fs4::fs_std::FileExt;
    let path = dir.join(LOCK_FILE);
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| ServerError::io(&path, e))?;
    file.lock_exclusive()
        .map_err(|e| ServerError::io(&path, e))?;
    Ok(file)
}

/// `server build`: writes a LuaRocks server for the request into `request.dir`.
pub fn build(options: &ServerOptions, request: &BuildRequest) -> Result<ServerReport, ServerError> {
    let dir = &request.dir;
    fs::create_dir_all(dir).map_err(|e| ServerError::io(dir, e))?;
    let dir = dir.canonicalize().map_err(|e| ServerError::io(dir, e))?;
    let _lock = lock(&dir)?;
    let fetcher = options.fetcher();
    let (wanted, lua) = match &request.from_lock {
        Some(path) => from_lock(path)?,
        None => (resolved(options, &request.packages)?, request.lua),
    };
    let mut files = Vec::new();
    for w in &wanted {
        files.extend(put_sources(&dir, &fetcher, w)?);
    }
    let mut binary_lua = BTreeMap::new();
    let mut built_for = None;
    if request.binary {
        let api = lua.map_or("5.4", LuaVersion::api);
        for (file, sha) in build_binaries(options, &dir, &wanted, lua)? {
            binary_lua.insert(file.clone(), api.to_string());
            files.push(WrittenFile {
                file,
                sha256: sha,
                how: "built",
            });
        }
        built_for = Some(api.to_string());
    }
    let (listed, skipped) = layout::rewrite_manifests(&dir, &binary_lua)?;
    Ok(ServerReport {
        dir: dir.display().to_string(),
        files,
        listed,
        skipped,
        binary_lua: built_for,
    })
}

/// The packages of a lock, each from its pinned file.
fn from_lock(path: &Path) -> Result<(Vec<Wanted>, Option<LuaVersion>), ServerError> {
    let text = fs::read_to_string(path).map_err(|e| ServerError::io(path, e))?;
    let lock = crate::project::lockfile::Lockfile::parse(&text, path)
        .map_err(|e| ServerError::BadRequest(e.to_string()))?;
    let mut wanted = Vec::new();
    for p in &lock.packages {
        let version = Version::parse(&p.version).map_err(|e| {
            ServerError::BadRequest(format!("{}: package {}: {e}", path.display(), p.name))
        })?;
        let arch = layout::ServerFile::parse(&p.file)
            .filter(|f| {
                f.name.as_str().eq_ignore_ascii_case(p.name.as_str()) && f.version == version
            })
            .map(|f| f.arch)
            .ok_or_else(|| {
                ServerError::BadRequest(format!(
                    "{}: package {}: file {:?} is not a rockspec or rock of {} {}",
                    path.display(),
                    p.name,
                    p.file,
                    p.name,
                    p.version
                ))
            })?;
        wanted.push(Wanted {
            name: p.name.to_string(),
            version,
            files: vec![(p.url(), arch)],
            sha256: Some(p.sha256.clone()),
        });
    }
    let lua = Some(lock.lua).filter(|l| *l != LuaVersion::Lua54);
    Ok((wanted, lua))
}

/// The packages a request resolves to (as `install --dry-run` would), with their files.
fn resolved(options: &ServerOptions, requests: &[String]) -> Result<Vec<Wanted>, ServerError> {
    let (index, _, resolution) = resolve_requests(
        options,
        requests,
        "name the packages to put on the server, or give --from-lock",
    )?;
    let mut wanted = Vec::new();
    for name in resolution.install_order() {
        let version = resolution.packages[&name].clone();
        let entry = index.entry(&name, &version).ok_or_else(|| {
            ServerError::Package(format!("{name} {version} vanished from the index"))
        })?;
        let server = &index.servers()[entry.server];
        let files = entry
            .archs
            .iter()
            .filter(|a| crate::packages::index::usable_arch(a))
            .map(|a| {
                (
                    server.file_url(&file_name(&entry.name, &entry.version, a)),
                    a.clone(),
                )
            })
            .collect();
        wanted.push(Wanted {
            name: entry.name.clone(),
            version,
            files,
            sha256: None,
        });
    }
    Ok(wanted)
}

/// Copies one package's files into `dir`, and adds what a standard server has beside them:
/// the loose rockspec (taken out of a rock) and a `.src.rock` (packed from a rockspec).
fn put_sources(dir: &Path, fetcher: &Fetcher, w: &Wanted) -> Result<Vec<WrittenFile>, ServerError> {
    let label = format!("{} {}", w.name, w.version);
    let rockspec_name = file_name(&w.name, &w.version, "rockspec");
    let mut written = Vec::new();
    let mut rockspec_text: Option<String> = None;
    let mut has_src = false;
    for (url, arch) in &w.files {
        let fetched = fetcher
            .get(url)
            .map_err(|e| ServerError::Package(format!("{label}: {e}")))?;
        if let Some(expected) = &w.sha256 {
            if !expected.eq_ignore_ascii_case(&fetched.sha256) {
                return Err(ServerError::Package(format!(
                    "{label}: checksum mismatch for {url}: the lock says sha256 {expected}, the file has {}",
                    fetched.sha256
                )));
            }
        }
        if arch == "rockspec" {
            rockspec_text = Some(String::from_utf8_lossy(&fetched.bytes).into_owned());
        } else if rockspec_text.is_none() {
            rockspec_text = rockspec_from_rock(&fetched.bytes, &rockspec_name).ok();
        }
        has_src |= arch == "src";
        let file = file_name(&w.name, &w.version, arch);
        layout::write_atomic(&dir.join(&file), &fetched.bytes)?;
        written.push(WrittenFile {
            file,
            sha256: fetched.sha256,
            how: "copied",
        });
    }
    let text = rockspec_text
        .ok_or_else(|| ServerError::Package(format!("{label}: no rockspec on the server")))?;
    let spec =
        Rockspec::parse(&text, &rockspec_name).map_err(|e| ServerError::Package(e.to_string()))?;
    if !spec.package.as_str().eq_ignore_ascii_case(&w.name) || spec.version != w.version {
        return Err(ServerError::Package(format!(
            "{rockspec_name} describes {} {} instead",
            spec.package, spec.version
        )));
    }
    if !written.iter().any(|f| f.file == rockspec_name) {
        layout::write_atomic(&dir.join(&rockspec_name), text.as_bytes())?;
        written.push(WrittenFile {
            file: rockspec_name.clone(),
            sha256: sha256_hex(text.as_bytes()),
            how: "copied",
        });
    }
    // Only a rockspec: pack its `.src.rock`, as a standard server has one beside it.
    if !has_src && spec.source.git().is_none() && w.files.iter().all(|(_, a)| a == "rockspec") {
        let rock = pack::pack_source_rock(&spec, &text, fetcher).map_err(ServerError::Package)?;
        let file = file_name(&w.name, &w.version, "src");
        layout::write_atomic(&dir.join(&file), &rock)?;
        written.push(WrittenFile {
            file,
            sha256: sha256_hex(&rock),
            how: "packed",
        });
    }
    Ok(written)
}

/// Installs every package from `dir` into a scratch tree for `lua` and packs each installed
/// package as `luarocks pack` would. Returns each rock's file name and sha256.
fn build_binaries(
    options: &ServerOptions,
    dir: &Path,
    wanted: &[Wanted],
    lua: Option<LuaVersion>,
) -> Result<Vec<(String, String)>, ServerError> {
    let fetcher = options.fetcher();
    let scratch = tempfile::Builder::new()
        .prefix("pylua-server-build-")
        .tempdir()
        .map_err(|e| ServerError::io(&std::env::temp_dir(), e))?;
    let destination = install::destination(lua, scratch.path(), fetcher.root(), Launcher::OnPath)?;
    let files = layout::scan(dir)?;
    let mut pins = Vec::new();
    for w in wanted {
        // Built from the source side of what is now on the server.
        let pick = ["src", "rockspec"].iter().find_map(|arch| {
            files.iter().find(|f| {
                f.name.as_str().eq_ignore_ascii_case(&w.name)
                    && f.version == w.version
                    && f.arch == *arch
            })
        });
        let Some(file) = pick else {
            continue; // Only a prebuilt rock: copied as it is.
        };
        let path = dir.join(file.file_name());
        pins.push(Pinned {
            name: w.name.to_ascii_lowercase(),
            version: w.version.clone(),
            url: format!("file://{}", path.display()),
            sha256: None,
            commit: None,
            reinstall: false,
        });
    }
    let install_options = InstallOptions {
        servers: options.clone(),
        tree: destination.tree,
        target: destination.target,
        launcher: destination.launcher,
        jobs: install::default_jobs(),
        progress: None,
    };
    install::sync_exact(&install_options, &pins)?;
    let mut out = Vec::new();
    for pin in &pins {
        let (arch, rock) = pack::pack_installed(&install_options.tree, &pin.name, &pin.version)
            .map_err(|e| ServerError::Package(format!("{} {}: {e}", pin.name, pin.version)))?;
        let name = wanted
            .iter()
            .find(|w| w.name.eq_ignore_ascii_case(&pin.name))
            .map_or(pin.name.as_str(), |w| w.name.as_str());
        let file = file_name(name, &pin.version, &arch);
        layout::write_atomic(&dir.join(&file), &rock)?;
        out.push((file, sha256_hex(&rock)));
    }
    Ok(out)
}

/// `server add`: copies rockspecs and rocks into an existing server directory and rewrites
/// its manifests. A binary rock added with `lua` is listed for that Lua only.
pub fn add(dir: &Path, files: &[PathBuf], lua: Option<&str>) -> Result<ServerReport, ServerError> {
    if !dir.join("manifest").is_file() {
        return Err(ServerError::BadRequest(format!(
            "{}: not a rocks server (it has no manifest); make one with `pylua server build`",
            dir.display()
        )));
    }
    let _lock = lock(dir)?;
    let mut written = Vec::new();
    let mut binary_lua = BTreeMap::new();
    for path in files {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(layout::ServerFile::parse)
            .ok_or_else(|| {
                ServerError::BadRequest(format!(
                    "{}: not a NAME-VERSION.rockspec or NAME-VERSION.ARCH.rock file",
                    path.display()
                ))
            })?;
        let bytes =
            crate::packages::cache::read_bounded(path, 512 << 20).map_err(|e| ServerError::Io {
                path: path.display().to_string(),
                message: e,
            })?;
        // The file must describe what its name says before it goes on the server.
        let rockspec_name = file_name(name.name.as_str(), &name.version, "rockspec");
        let text = if name.arch == "rockspec" {
            String::from_utf8_lossy(&bytes).into_owned()
        } else {
            rockspec_from_rock(&bytes, &rockspec_name)
                .map_err(|e| ServerError::BadRequest(format!("{}: {e}", path.display())))?
        };
        let spec = Rockspec::parse(&text, &path.display().to_string())
            .map_err(|e| ServerError::BadRequest(e.to_string()))?;
        if !spec
            .package
            .as_str()
            .eq_ignore_ascii_case(name.name.as_str())
            || spec.version != name.version
        {
            return Err(ServerError::BadRequest(format!(
                "{}: its rockspec describes {} {}",
                path.display(),
                spec.package,
                spec.version
            )));
        }
        let file = name.file_name();
        layout::write_atomic(&dir.join(&file), &bytes)?;
        if let Some(lua) = lua {
            binary_lua.insert(file.clone(), lua.to_string());
        }
        written.push(WrittenFile {
            file,
            sha256: sha256_hex(&bytes),
            how: "added",
        });
    }
    let (listed, skipped) = layout::rewrite_manifests(dir, &binary_lua)?;
    Ok(ServerReport {
        dir: dir.display().to_string(),
        files: written,
        listed,
        skipped,
        binary_lua: lua.map(String::from),
    })
}
