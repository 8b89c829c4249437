//! The curator's judgement from Python: doctor, recommend, audit, package tests and load
//! benchmarks. Each function calls one library operation with the same configuration as the
//! CLI and returns its typed result as Python data; Lua runs with the GIL released.

use crate::convert::serialized;
use crate::env::load;
use crate::errors::error;
use pylua::operations::audit::{self, risky::Category, AuditOptions};
use pylua::operations::doctor::{self as doctor_op, Area, DoctorOptions};
use pylua::operations::project::EnvOptions;
use pylua::operations::ServerOptions;
use pylua::project::Project;
use pyo3::prelude::*;
use serde_json::Value as Json;
use std::path::PathBuf;
use std::time::Duration;

fn project_at(py: Python<'_>, project: Option<PathBuf>) -> PyResult<Option<Project>> {
    match project {
        None => Ok(None),
        Some(dir) => {
            let p = Project::at(&dir);
            if p.project_file().is_file() {
                Ok(Some(p))
            } else {
                Err(error(
                    py,
                    "project_file",
                    &format!("{}: no pylua.toml there", dir.display()),
                    Json::Null,
                ))
            }
        }
    }
}

fn servers_of(config: &pylua::config::Config, lua: Option<&str>) -> ServerOptions {
    let lua = lua.and_then(|l| l.parse::<pylua::interpreters::LuaVersion>().ok());
    ServerOptions::from_config(config, lua, Vec::new(), Vec::new(), false)
}

/// The servers for package commands (`servers` only, when given) and the Lua they are for
/// (None: the embedded 5.4).
fn package_servers(
    py: Python<'_>,
    config_path: Option<PathBuf>,
    lua: Option<&str>,
    servers: Vec<String>,
) -> PyResult<(ServerOptions, Option<pylua::interpreters::LuaVersion>)> {
    let (_, config) = load(py, config_path)?;
    let mut options = servers_of(&config, lua);
    if !servers.is_empty() {
        options.only = servers;
    }
    let external = lua
        .and_then(|l| l.parse().ok())
        .filter(|v| *v != pylua::interpreters::LuaVersion::Lua54);
    Ok((options, external))
}

/// `pylua doctor`: the report (`findings`, `healthy`); with `fix`, the safe fixes are applied
/// first and `fixed` holds the transaction.
#[pyfunction]
#[pyo3(signature = (project=None, only=None, offline=false, fix=false, config_path=None))]
pub fn doctor(
    py: Python<'_>,
    project: Option<PathBuf>,
    only: Option<&str>,
    offline: bool,
    fix: bool,
    config_path: Option<PathBuf>,
) -> PyResult<PyObject> {
    let (_, config) = load(py, config_path)?;
    let only: Option<Area> = only
        .map(str::parse)
        .transpose()
        .map_err(|e: String| error(py, "usage", &e, Json::Null))?;
    let project = project_at(py, project)?;
    let env = EnvOptions {
        offline,
        config,
        ..EnvOptions::default()
    };
    let outcome = py.allow_threads(|| {
        let options = DoctorOptions {
            only,
            project,
            env: &env,
            check_servers: !offline,
        };
        let mut report = doctor_op::doctor(&options);
        let mut fixed = None;
        if fix {
            if let Some(p) = &options.project {
                fixed = doctor_op::fix(p, &env, &report).map_err(|e| (e.kind(), e.to_string()))?;
                report = doctor_op::doctor(&options);
            }
        }
        Ok::<_, (&str, String)>(serde_json::json!({"report": report, "fixed": fixed}))
    });
    match outcome {
        Ok(v) => serialized(py, &v),
        Err((kind, message)) => Err(error(py, kind, &message, Json::Null)),
    }
}

/// `pylua recommend`: what a project's code requires but lacks, what it never uses, better
/// alternatives; outside a project, from the profile and the catalog.
#[pyfunction]
#[pyo3(signature = (project=None, tree=None, config_path=None))]
pub fn recommend(
    py: Python<'_>,
    project: Option<PathBuf>,
    tree: Option<PathBuf>,
    config_path: Option<PathBuf>,
) -> PyResult<PyObject> {
    let (_, config) = load(py, config_path)?;
    let project = project_at(py, project)?;
    let tree = tree.map(pylua::packages::tree::Tree::detect).or_else(|| {
        let cwd = std::env::current_dir().unwrap_or_default();
        Some(pylua::packages::tree::Tree::detect(
            pylua::operations::tree::default_root(&cwd),
        ))
    });
    let servers = servers_of(&config, None);
    let result = py.allow_threads(|| {
        pylua::operations::recommend::recommend(&pylua::operations::recommend::RecommendOptions {
            project: project.as_ref(),
            tree,
            servers,
            config: &config,
            jobs: 0,
        })
    });
    match result {
        Ok(r) => serialized(py, &r),
        Err(e) => Err(error(py, e.kind(), &e.to_string(), Json::Null)),
    }
}

/// `pylua audit`: advisories, changed files and risky code of a project or tree.
#[pyfunction]
#[pyo3(signature = (project=None, tree=None, advisories=Vec::new(), deny=Vec::new(), builtin=true, config_path=None))]
pub fn audit_env(
    py: Python<'_>,
    project: Option<PathBuf>,
    tree: Option<PathBuf>,
    advisories: Vec<String>,
    deny: Vec<String>,
    builtin: bool,
    config_path: Option<PathBuf>,
) -> PyResult<PyObject> {
    let (_, config) = load(py, config_path)?;
    let deny: Vec<Category> = deny
        .iter()
        .map(|d| d.parse())
        .collect::<Result<_, String>>()
        .map_err(|e| error(py, "usage", &e, Json::Null))?;
    let options = AuditOptions::from_config(&config, &advisories, deny, builtin);
    let project = project_at(py, project)?;
    let result = py.allow_threads(|| match (&project, tree) {
        (Some(p), _) => {
            let env = EnvOptions {
                config,
                ..EnvOptions::default()
            };
            pylua::operations::project::audit(p, &env, &options).map_err(|e| e.to_string())
        }
        (None, tree) => {
            let cwd = std::env::current_dir().unwrap_or_default();
            let root = tree.unwrap_or_else(|| pylua::operations::tree::default_root(&cwd));
            let tree = pylua::packages::tree::Tree::detect(root);
            audit::audit(&tree, &[], Some(pylua::runtime::LUA_RELEASE), &options)
        }
    });
    match result {
        Ok(r) => serialized(py, &r),
        Err(e) => Err(error(py, "audit", &e, Json::Null)),
    }
}

/// `pylua test PACKAGE…`: each package's own suite against it installed in a throw-away
/// tree. `pylua` is the executable that runs the suites (the `pylua` console script).
#[pyfunction]
#[pyo3(signature = (packages, pylua, lua=None, timeout=300.0, servers=Vec::new(), config_path=None))]
pub fn test_packages(
    py: Python<'_>,
    packages: Vec<String>,
    pylua: PathBuf,
    lua: Option<&str>,
    timeout: f64,
    servers: Vec<String>,
    config_path: Option<PathBuf>,
) -> PyResult<PyObject> {
    let (server_options, external) = package_servers(py, config_path, lua, servers)?;
    let options = pylua::operations::test::TestOptions {
        servers: server_options,
        lua: external,
        pylua,
        timeout: Duration::try_from_secs_f64(timeout).unwrap_or(Duration::from_secs(300)),
        jobs: 0,
    };
    let result = py.allow_threads(|| {
        packages
            .iter()
            .map(|p| pylua::operations::test::test_package(p, &options))
            .collect::<Result<Vec<_>, _>>()
    });
    match result {
        Ok(r) => serialized(py, &r),
        Err(e) => Err(error(py, e.kind(), &e.to_string(), Json::Null)),
    }
}

/// `pylua bench PACKAGE…`: require time (cold and warm), memory and size per module.
#[pyfunction]
#[pyo3(signature = (packages, lua=None, runs=7, servers=Vec::new(), config_path=None))]
pub fn bench(
    py: Python<'_>,
    packages: Vec<String>,
    lua: Option<&str>,
    runs: usize,
    servers: Vec<String>,
    config_path: Option<PathBuf>,
) -> PyResult<PyObject> {
    let (server_options, external) = package_servers(py, config_path, lua, servers)?;
    let options = pylua::operations::bench::BenchOptions {
        lua: external,
        runs,
    };
    let launcher = PathBuf::from("pylua");
    let result = py.allow_threads(|| {
        pylua::operations::bench::bench_requests(&packages, &server_options, &options, launcher)
    });
    match result {
        Ok(r) => serialized(py, &r),
        Err(e) => Err(error(py, e.kind(), &e.to_string(), Json::Null)),
    }
}
