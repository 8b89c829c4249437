//! `pylua bench`: what loading a package costs — for each module, the time to `require` it
//! in a fresh VM (cold) and again once loaded (warm), the memory it leaves in the VM after
//! a full collection, and its size on disk; medians over several runs with the spread.
//! Installed packages are measured where they are; named ones (`penlight@1.13`) are
//! installed into a throw-away tree each, so two versions of one package compare side by
//! side. Times come from `os.clock` inside the VM (CPU time), so the VM's own start-up and
//! the host are not counted.

use super::install::{destination, install, InstallError, InstallOptions, Launcher};
use super::query::ServerOptions;
use crate::interpreters::LuaVersion;
use crate::packages::tree::{InstalledRock, Tree};
use crate::runtime::{AnyVm, Limits, Sandbox};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

/// A median with the smallest and largest value seen.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    fn of(mut values: Vec<f64>) -> Spread {
        if values.is_empty() {
            return Spread::default();
        }
        values.sort_by(f64::total_cmp);
        Spread {
            median: values[values.len() / 2],
            min: values[0],
            max: values[values.len() - 1],
        }
    }
}

/// One module's costs.
#[derive(Debug, Clone, Serialize)]
pub struct ModuleBench {
    pub module: String,
    /// `require` in a fresh VM, in milliseconds.
    pub cold_ms: Spread,
    /// `require` of the loaded module, in microseconds.
    pub warm_us: Spread,
    /// What stays in the VM's heap after loading and a full collection, in KiB.
    pub memory_kib: Spread,
    pub size_bytes: u64,
    /// Why it could not be loaded (a script, an optional dependency missing…).
    pub error: Option<String>,
}

/// One package's costs.
#[derive(Debug, Clone, Serialize)]
pub struct PackageBench {
    pub package: String,
    pub version: String,
    pub lua: LuaVersion,
    pub runs: usize,
    pub size_bytes: u64,
    pub modules: Vec<ModuleBench>,
}

/// How to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub lua: Option<LuaVersion>,
    /// Runs per module (fresh VMs).
    pub runs: usize,
}

const MEASURE: &str = r#"local name = ...
os.exit = function() error('os.exit called while loading a module', 2) end
collectgarbage() collectgarbage()
local m0 = collectgarbage('count')
local t0 = os.clock()
local ok, err = pcall(require, name)
local t1 = os.clock()
if not ok then return false, tostring(err) end
collectgarbage() collectgarbage()
local m1 = collectgarbage('count')
local t2 = os.clock()
for _ = 1, 100 do require(name) end
local t3 = os.clock()
return true, '', (t1 - t0) * 1e3, (t3 - t2) * 1e4, m1 - m0"#;

/// Measures the installed packages `names` of `tree` (all of them when empty).
pub fn bench_installed(
    tree: &Tree,
    names: &[String],
    options: &BenchOptions,
) -> Result<Vec<PackageBench>, String> {
    let installed = tree.read().map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for rock in installed.values() {
        if !names.is_empty() && !names.iter().any(|n| n.eq_ignore_ascii_case(&rock.name)) {
            continue;
        }
        out.push(bench_rock(tree, rock, options)?);
    }
    for name in names {
        if !installed.keys().any(|k| k.eq_ignore_ascii_case(name)) {
            return Err(format!(
                "{name} is not installed in {}",
                tree.root().display()
            ));
        }
    }
    Ok(out)
}

/// Installs each request (`name` or `name@constraint`) into a throw-away tree of its own
/// and measures it.
pub fn bench_requests(
    requests: &[String],
    servers: &ServerOptions,
    options: &BenchOptions,
    pylua: PathBuf,
) -> Result<Vec<PackageBench>, InstallError> {
    let mut out = Vec::new();
    for request in requests {
        let work = tempfile::Builder::new()
            .prefix("pylua-bench-")
            .tempdir()
            .map_err(|e| InstallError::Package(format!("cannot make a work directory: {e}")))?;
        let fetcher = servers.fetcher();
        let dest = destination(
            options.lua,
            &work.path().join("tree"),
            fetcher.root(),
            Launcher::Executable(pylua.clone()),
        )?;
        let report = install(
            &InstallOptions {
                servers: servers.clone(),
                tree: dest.tree.clone(),
                target: dest.target,
                launcher: dest.launcher,
                jobs: 0,
                progress: None,
            },
            std::slice::from_ref(request),
        )?;
        let name = request
            .split(['@', ' ', '<', '>', '=', '~'])
            .next()
            .unwrap_or(request)
            .to_string();
        let installed = dest.tree.read().map_err(InstallError::from)?;
        let rock = installed
            .values()
            .find(|r| r.name.eq_ignore_ascii_case(&name))
            .ok_or_else(|| InstallError::Package(format!("{name} was not installed")))?;
        let _ = report;
        out.push(bench_rock(&dest.tree, rock, options).map_err(InstallError::Package)?);
    }
    Ok(out)
}

fn bench_rock(
    tree: &Tree,
    rock: &InstalledRock,
    options: &BenchOptions,
) -> Result<PackageBench, String> {
    let lua = options.lua.unwrap_or(LuaVersion::Lua54);
    let runs = options.runs.max(1);
    let mut modules = Vec::new();
    let mut size_total = 0;
    let mut names: Vec<(String, String)> = rock
        .modules
        .iter()
        .map(|(m, rel)| {
            (
                m.strip_suffix(".init").unwrap_or(m).to_string(),
                rel.clone(),
            )
        })
        .collect();
    names.sort();
    for (module, rel) in names {
        let file = if rel.ends_with(".lua") {
            tree.lua_dir().join(&rel)
        } else {
            tree.lib_dir().join(&rel)
        };
        let size_bytes = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        size_total += size_bytes;
        let (mut cold, mut warm, mut memory) = (Vec::new(), Vec::new(), Vec::new());
        let mut error = None;
        for _ in 0..runs {
            match measure(tree, lua, &module) {
                Ok((c, w, m)) => {
                    cold.push(c);
                    warm.push(w);
                    memory.push(m);
                }
                Err(e)
                    if e.contains("(global 'arg')") || e.contains("global 'arg' (a nil value)") =>
                {
                    error = Some(
                        "a script installed beside the modules (it reads arg), not a module".into(),
                    );
                    break;
                }
                Err(e) => {
                    error = Some(e.lines().next().unwrap_or(&e).to_string());
                    break;
                }
            }
        }
        modules.push(ModuleBench {
            module,
            cold_ms: Spread::of(cold),
            warm_us: Spread::of(warm),
            memory_kib: Spread::of(memory),
            size_bytes,
            error,
        });
    }
    Ok(PackageBench {
        package: rock.name.clone(),
        version: rock.version.to_string(),
        lua,
        runs,
        size_bytes: size_total,
        modules,
    })
}

/// One fresh VM: (cold ms, warm µs, KiB retained).
fn measure(tree: &Tree, lua: LuaVersion, module: &str) -> Result<(f64, f64, f64), String> {
    let mut builder = AnyVm::builder()
        .sandbox(Sandbox::None)
        .limits(Limits::new().timeout(Duration::from_secs(10)))
        .package_path(tree.package_path())
        .package_cpath(tree.package_cpath());
    if lua != LuaVersion::Lua54 {
        builder = builder.lua(lua);
    }
    let mut vm = builder.build().map_err(|e| e.to_string())?;
    let quoted = crate::lua_syntax::string(module.as_bytes());
    let code = format!("return (function(...)\n{MEASURE}\nend)({quoted})");
    let values = vm.eval_code(&code).map_err(|e| e.to_string())?;
    if values.first() != Some(&serde_json::Value::Bool(true)) {
        return Err(values
            .get(1)
            .and_then(|v| v.as_str())
            .unwrap_or("it does not load")
            .to_string());
    }
    let num = |i: usize| values.get(i).and_then(|v| v.as_f64()).unwrap_or(0.0);
    Ok((num(2), num(3), num(4).max(0.0)))
}
