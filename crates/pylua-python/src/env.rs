//! Environments from Python: the global configuration (the same `config.toml` as the CLI),
//! profiles and the catalog, interpreters, trees and installs. Each function calls one
//! library operation and converts its typed result; nothing is decided here.

use crate::convert::serialized;
use crate::errors::error;
use pylua::config::{self, Config, CreateProfileError};
use pylua::curator::{ProfileSpec, Profiles};
use pylua::interpreters::{self as interp, LuaVersion};
use pylua::operations::install::{self as install_op, InstallOptions, Launcher, Progress};
use pylua::operations::tree as tree_ops;
use pylua::operations::ServerOptions;
use pylua::packages::tree::Tree;
use pylua::paths::Paths;
use pyo3::prelude::*;
use serde_json::{json, Value as Json};
use std::path::PathBuf;

fn config_file(config_path: Option<PathBuf>) -> PathBuf {
    config_path.unwrap_or_else(|| config::config_path(&Paths::discover()))
}

pub(crate) fn load(py: Python<'_>, config_path: Option<PathBuf>) -> PyResult<(PathBuf, Config)> {
    let path = config_file(config_path);
    let config = if path.exists() {
        Config::load_file(&path).map_err(|e| config_error(py, &e))?
    } else {
        Config::default()
    };
    Ok((path, config))
}

fn config_error(py: Python<'_>, e: &config::ConfigError) -> PyErr {
    error(py, "config", &e.to_string(), json!({"file": e.file}))
}

fn profiles_of(py: Python<'_>, config: &Config) -> PyResult<Profiles> {
    config
        .profiles()
        .map_err(|e| error(py, "config", &e.to_string(), json!({"file": e.file})))
}

/// The Lua a `lua` argument names; None is the embedded 5.4.
fn lua_arg(py: Python<'_>, lua: Option<&str>) -> PyResult<Option<LuaVersion>> {
    match lua {
        None | Some("embedded") => Ok(None),
        Some(text) => match text.parse::<LuaVersion>() {
            Ok(LuaVersion::Lua54) => Ok(None),
            Ok(v) => Ok(Some(v)),
            // Not a version: the path of an interpreter, whose version it reports.
            Err(e) => match interp::probe(std::path::Path::new(text)) {
                Some((LuaVersion::Lua54, _)) => Ok(None),
                Some((v, _)) => Ok(Some(v)),
                None => Err(error(py, "usage", &e.to_string(), Json::Null)),
            },
        },
    }
}

#[pyfunction]
#[pyo3(signature = (config_path=None))]
pub fn config_path(config_path: Option<PathBuf>) -> PathBuf {
    config_file(config_path)
}

/// The configuration as a dict (an absent file is the defaults).
#[pyfunction]
#[pyo3(signature = (config_path=None))]
pub fn config_get(py: Python<'_>, config_path: Option<PathBuf>) -> PyResult<PyObject> {
    let (_, config) = load(py, config_path)?;
    serialized(py, &config)
}

/// `pylua config set KEY VALUE`.
#[pyfunction]
#[pyo3(signature = (key, value, config_path=None))]
pub fn config_set(
    py: Python<'_>,
    key: &str,
    value: &str,
    config_path: Option<PathBuf>,
) -> PyResult<()> {
    config::set(&config_file(config_path), key, value).map_err(|e| config_error(py, &e))
}

#[pyfunction]
#[pyo3(signature = (config_path=None))]
pub fn profiles(py: Python<'_>, config_path: Option<PathBuf>) -> PyResult<PyObject> {
    let (_, config) = load(py, config_path)?;
    let profiles = profiles_of(py, &config)?;
    serialized(py, &profiles.list())
}

/// A profile's packages for a Lua version: `requirements` and `skipped` (with reasons).
#[pyfunction]
#[pyo3(signature = (name, lua="5.4", config_path=None))]
pub fn expand_profile(
    py: Python<'_>,
    name: &str,
    lua: &str,
    config_path: Option<PathBuf>,
) -> PyResult<PyObject> {
    let (_, config) = load(py, config_path)?;
    let profiles = profiles_of(py, &config)?;
    let api = match lua.parse::<LuaVersion>() {
        Ok(v) => v.api(),
        Err(e) => return Err(error(py, "usage", &e.to_string(), Json::Null)),
    };
    let expansion = profiles.expand(name, api).map_err(|e| {
        error(
            py,
            "unknown_profile",
            &e.to_string(),
            json!({"profile": name}),
        )
    })?;
    serialized(py, &expansion)
}

#[pyfunction]
#[pyo3(signature = (name, packages, description=String::new(), extends=None, replace=false, config_path=None))]
pub fn create_profile(
    py: Python<'_>,
    name: &str,
    packages: Vec<String>,
    description: String,
    extends: Option<String>,
    replace: bool,
    config_path: Option<PathBuf>,
) -> PyResult<()> {
    let (path, config) = load(py, config_path)?;
    let profiles = profiles_of(py, &config)?;
    let spec = ProfileSpec {
        description,
        extends,
        packages,
    };
    config::create_profile(&path, &profiles, name, &spec, replace).map_err(|e| {
        let kind = match e {
            CreateProfileError::Reserved(_) | CreateProfileError::Exists(_) => "usage",
            CreateProfileError::Config(_) => "config",
        };
        error(py, kind, &e.to_string(), json!({"profile": name}))
    })
}

/// The curated catalog: every entry with category, summary, constraint, Lua versions.
#[pyfunction]
#[pyo3(signature = (config_path=None))]
pub fn catalog(py: Python<'_>, config_path: Option<PathBuf>) -> PyResult<PyObject> {
    let (_, config) = load(py, config_path)?;
    let catalog = config
        .catalog()
        .map_err(|e| error(py, "config", &e.to_string(), json!({"file": e.file})))?;
    let entries: Vec<_> = catalog.entries().collect();
    serialized(py, &entries)
}

/// Lua interpreters on this machine (on PATH and installed by `pylua lua install`).
#[pyfunction]
pub fn interpreters(py: Python<'_>) -> PyResult<PyObject> {
    let found = py.allow_threads(|| interp::discover(&Paths::discover()));
    serialized(py, &found)
}

/// pylua's directories (config, data, cache, state).
#[pyfunction]
pub fn paths(py: Python<'_>) -> PyResult<PyObject> {
    serialized(py, &Paths::discover())
}

fn tree_at(py: Python<'_>, tree: Option<PathBuf>, lua: Option<&str>) -> PyResult<Tree> {
    let root = tree.unwrap_or_else(|| {
        let cwd = std::env::current_dir().unwrap_or_default();
        tree_ops::default_root(&cwd)
    });
    Ok(match lua_arg(py, lua)? {
        Some(v) => Tree::new(root, v.api()),
        None if lua.is_some() => Tree::new(root, "5.4"),
        None => Tree::detect(root),
    })
}

/// Where a tree is and what a VM needs to use it: `(root, lua_version, package_path,
/// package_cpath)`. Every new `LuaProcess` asks, so it answers with a plain tuple.
#[pyfunction]
#[pyo3(signature = (tree=None, lua=None))]
pub fn tree_info(
    py: Python<'_>,
    tree: Option<PathBuf>,
    lua: Option<&str>,
) -> PyResult<(std::ffi::OsString, String, String, String)> {
    let tree = tree_at(py, tree, lua)?;
    let (path, cpath) = (tree.package_path(), tree.package_cpath());
    let root = tree.root().as_os_str().to_os_string();
    Ok((root, tree.lua_version().to_string(), path, cpath))
}

/// The packages installed in a tree.
#[pyfunction]
#[pyo3(signature = (tree=None, lua=None))]
pub fn installed(py: Python<'_>, tree: Option<PathBuf>, lua: Option<&str>) -> PyResult<PyObject> {
    let tree = tree_at(py, tree, lua)?;
    let list = py
        .allow_threads(|| tree_ops::list(&tree))
        .map_err(|e| error(py, e.kind(), &e.to_string(), json!({"tree": tree.root()})))?;
    serialized(py, &list)
}

/// Installs `requests` (`name`, `name@constraint`) into a tree, all or nothing, like
/// `pylua install`. `progress(event, name, version, total)` is called as it goes.
#[pyfunction]
#[pyo3(signature = (requests, tree=None, lua=None, servers=Vec::new(), only_servers=Vec::new(),
                    config_path=None, jobs=None, offline=false, progress=None))]
#[allow(clippy::too_many_arguments)]
pub fn install(
    py: Python<'_>,
    requests: Vec<String>,
    tree: Option<PathBuf>,
    lua: Option<&str>,
    servers: Vec<String>,
    only_servers: Vec<String>,
    config_path: Option<PathBuf>,
    jobs: Option<usize>,
    offline: bool,
    progress: Option<PyObject>,
) -> PyResult<PyObject> {
    if let Some(bad) = requests.iter().find(|r| r.contains('\0')) {
        return Err(error(
            py,
            "bad_request",
            &format!("invalid request {bad:?}"),
            Json::Null,
        ));
    }
    let (_, config) = load(py, config_path)?;
    let external = lua_arg(py, lua)?;
    let root = tree_at(py, tree, Some("5.4"))?.root().to_path_buf();
    let servers = ServerOptions::from_config(&config, external, servers, only_servers, offline);
    let report = py.allow_threads(|| {
        let destination = install_op::destination(
            external,
            &root,
            servers.fetcher().root(),
            // Wrappers in the tree's bin/ start `pylua` from PATH: in a virtualenv that is
            // the console script of this package; the Python executable is not pylua.
            Launcher::OnPath,
        )?;
        let report_progress = |p: Progress| {
            if let Some(callback) = &progress {
                let (event, name, version, total) = match p {
                    Progress::Planned { total } => ("planned", None, None, Some(total)),
                    Progress::Done { name, version } => ("built", Some(name), Some(version), None),
                    Progress::Installing => ("installing", None, None, None),
                };
                Python::with_gil(|py| {
                    if let Err(e) = callback.call1(py, (event, name, version, total)) {
                        e.write_unraisable(py, None);
                    }
                });
            }
        };
        let options = InstallOptions {
            servers,
            tree: destination.tree,
            target: destination.target,
            launcher: destination.launcher,
            jobs: jobs.unwrap_or_else(install_op::default_jobs),
            progress: Some(&report_progress),
        };
        install_op::install(&options, &requests)
    });
    match report {
        Ok(report) => serialized(py, &report),
        Err(e) => Err(error(
            py,
            e.kind(),
            &e.to_string(),
            json!({"requests": requests}),
        )),
    }
}

/// Runs the `pylua` command line with `argv` (program name first); returns its exit code.
#[pyfunction]
pub fn cli_main(py: Python<'_>, argv: Vec<String>) -> u8 {
    let code = py.allow_threads(|| pylua_cli::run(argv));
    // ExitCode has no accessor; it compares equal to the code it was made from.
    (0..=u8::MAX)
        .find(|&n| std::process::ExitCode::from(n) == code)
        .unwrap_or(1)
}

/// Checks a `config.toml` text from an import as the library checks the file (servers,
/// profiles, limits), writing nothing; returns the profiles it makes available. An import
/// is untrusted, so settings naming local paths (`catalogs`, `cache-dir`) are refused.
#[pyfunction]
pub fn config_check(py: Python<'_>, text: &str) -> PyResult<PyObject> {
    let config =
        Config::parse(text, std::path::Path::new("<import>")).map_err(|e| config_error(py, &e))?;
    if !config.catalogs.is_empty()
        || config.cache_dir.is_some()
        || !config.ca_certs.is_empty()
        || !config.server_auth.is_empty()
    {
        return Err(error(
            py,
            "config",
            "an imported configuration may not set 'catalogs', 'cache-dir', 'ca-certs' (local paths, trusted CAs) or 'server-auth' (credentials)",
            Json::Null,
        ));
    }
    let profiles = profiles_of(py, &config)?;
    serialized(py, &profiles.list())
}

/// `text` (a config.toml) as an export carries it: without local paths and credentials.
#[pyfunction]
pub fn config_portable(text: &str) -> String {
    pylua::config::portable_text(text)
}

/// Replaces the configuration file with `text`, checked first, atomically: the new file is
/// written beside the old one and renamed over it, so a reader sees one or the other.
#[pyfunction]
#[pyo3(signature = (text, config_path=None))]
pub fn config_replace(py: Python<'_>, text: &str, config_path: Option<PathBuf>) -> PyResult<()> {
    let path = config_file(config_path);
    Config::parse(text, &path).map_err(|e| config_error(py, &e))?;
    let io = |e: std::io::Error| {
        error(
            py,
            "config",
            &format!("cannot write {}: {e}", path.display()),
            json!({"file": path}),
        )
    };
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let staged = dir.join(format!(".config.toml.{}.tmp", std::process::id()));
    std::fs::write(&staged, text).map_err(io)?;
    std::fs::rename(&staged, &path).map_err(|e| {
        let _ = std::fs::remove_file(&staged);
        io(e)
    })
}

/// The Lua version a `lua_executable` names (a version such as `5.1` or `luajit`, or the
/// path of an interpreter, which is run to ask): `5.4` for the embedded one.
#[pyfunction]
pub fn check_lua(py: Python<'_>, lua: &str) -> PyResult<String> {
    Ok(match lua_arg(py, Some(lua))? {
        Some(v) => v.as_str().to_string(),
        None => "5.4".to_string(),
    })
}
