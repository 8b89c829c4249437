//! Whether every module of every installed package loads on the project's Lua: catches
//! code written for another Lua (`setfenv` on 5.4), C modules whose system library is
//! missing, and modules that need a package the tree does not have.

use super::{Area, Finding, Fix, Severity};
use crate::interpreters::LuaVersion;
use crate::operations::project::ProjectState;
use crate::packages::tree::InstalledRock;
use crate::runtime::{AnyVm, Limits, Sandbox};
use std::time::Duration;

const AREA: Area = Area::Project;

/// How long one package's modules may take to load.
const LOAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Run before the modules load: a module that ends the process would end pylua.
const GUARD: &str = "os.exit = function() error('os.exit called while loading a module', 2) end";

/// Loads `module` and reports `ok` or the error (values: true / false, message).
const LOAD: &str = "local ok, err = pcall(require, ...) return ok, ok and '' or tostring(err)";

pub(super) fn check(state: &ProjectState) -> Vec<Finding> {
    let installed = match state.tree.read() {
        Ok(i) => i,
        Err(_) => return Vec::new(), // reported by the tree checks
    };
    let lua = state.file.project.lua;
    let mut out = Vec::new();
    let mut loaded = 0;
    for rock in installed.values() {
        if rock.modules.is_empty() {
            continue;
        }
        match load_package(state, lua, rock) {
            Ok(problems) if problems.is_empty() => loaded += rock.modules.len(),
            Ok(problems) => out.extend(problems),
            Err(e) => out.push(Finding::problem(
                AREA,
                "modules.load",
                Severity::Error,
                format!(
                    "{}'s modules cannot be checked on {}",
                    rock.name,
                    lua.display_name()
                ),
                e,
                None,
            )),
        }
    }
    out.insert(
        0,
        Finding::ok(
            AREA,
            "modules.load",
            format!("{loaded} modules load on {}", lua.display_name()),
        ),
    );
    out
}

/// Loads each module of `rock` in one fresh VM; one finding per kind of problem.
fn load_package(
    state: &ProjectState,
    lua: LuaVersion,
    rock: &InstalledRock,
) -> Result<Vec<Finding>, String> {
    let mut builder = AnyVm::builder()
        .sandbox(Sandbox::None)
        .limits(Limits::new().timeout(LOAD_TIMEOUT))
        .package_path(state.tree.package_path())
        .package_cpath(state.tree.package_cpath());
    if lua != LuaVersion::Lua54 {
        builder = builder.lua(lua);
    }
    let mut vm = builder.build().map_err(|e| e.to_string())?;
    vm.eval_code(GUARD).map_err(|e| e.to_string())?;
    let mut other_lua = Vec::new();
    let mut missing_libs = Vec::new();
    let mut needs = Vec::new();
    let mut broken = Vec::new();
    for module in load_order(rock) {
        let module = &module;
        let message = match vm.call_chunk(LOAD, module) {
            Ok(None) => continue,
            Ok(Some(message)) => message,
            Err(e) => e,
        };
        match classify(&message, rock) {
            Problem::OtherLua => other_lua.push(format!("{module}: {}", first_line(&message))),
            Problem::SystemLibrary(lib) => missing_libs.push((module.clone(), lib)),
            Problem::NeedsModule(m) => needs.push(format!("{module} needs '{m}'")),
            Problem::Broken => broken.push(format!("{module}: {}", first_line(&message))),
            Problem::Script => {}
        }
    }
    let mut out = Vec::new();
    let name = &rock.name;
    if !other_lua.is_empty() {
        out.push(Finding::problem(
            AREA,
            "modules.lua_version",
            Severity::Error,
            format!(
                "{name} does not load on {}: it is written or built for another Lua",
                lua.display_name()
            ),
            other_lua.join("; "),
            direct(state, name).then(|| Fix::RemoveDependency {
                package: name.clone(),
            }),
        ));
    }
    for (module, lib) in missing_libs {
        out.push(Finding::problem(
            AREA,
            "modules.system_library",
            Severity::Error,
            format!("{module} ({name}) needs the system library {lib}, which is not installed"),
            "the dynamic loader cannot find it".to_string(),
            Some(Fix::InstallSystem {
                what: lib,
                debian: String::new(),
            }),
        ));
    }
    if !needs.is_empty() {
        out.push(Finding::problem(
            AREA,
            "modules.optional",
            Severity::Warning,
            format!("some of {name}'s modules need packages the tree does not have"),
            format!("{} (optional dependencies?)", needs.join(", ")),
            None,
        ));
    }
    if !broken.is_empty() {
        out.push(Finding::problem(
            AREA,
            "modules.load",
            Severity::Error,
            format!("{name}'s modules fail to load"),
            broken.join("; "),
            Some(Fix::Reinstall {
                packages: vec![name.clone()],
            }),
        ));
    }
    Ok(out)
}

/// The names `require` takes (`a.init` is required as `a`), parents before their
/// submodules: a submodule often needs its parent loaded first.
fn load_order(rock: &InstalledRock) -> Vec<String> {
    let mut names: Vec<String> = rock
        .modules
        .keys()
        .map(|m| m.strip_suffix(".init").unwrap_or(m).to_string())
        .collect();
    names.sort_by(|a, b| {
        (a.matches('.').count(), a.as_str()).cmp(&(b.matches('.').count(), b.as_str()))
    });
    names.dedup();
    names
}

/// Whether the project asks for `name` itself (so removing it is the project's choice).
fn direct(state: &ProjectState, name: &str) -> bool {
    let file = &state.file;
    file.dependencies
        .keys()
        .chain(file.dev_dependencies.keys())
        .any(|d| d.eq_ignore_ascii_case(name))
}

enum Problem {
    /// Written for another Lua version (5.1's `setfenv`, `module`, `getfenv`…).
    OtherLua,
    /// A shared library the C module links is missing.
    SystemLibrary(String),
    /// It requires a module no installed package provides.
    NeedsModule(String),
    Broken,
    /// A script installed beside the modules (it reads `arg`): not a module to require.
    Script,
}

fn classify(message: &str, rock: &InstalledRock) -> Problem {
    if message.contains("(global 'arg')") || message.contains("global 'arg' (a nil value)") {
        return Problem::Script;
    }
    if message.contains("undefined symbol: lua") || message.contains("undefined symbol: luaL") {
        return Problem::OtherLua;
    }
    if let Some(at) = message.find(": cannot open shared object file") {
        let lib = message[..at]
            .rsplit(['\t', '\n', ' ', ':'])
            .next()
            .unwrap_or("a library")
            .to_string();
        return Problem::SystemLibrary(lib);
    }
    for global in [
        "setfenv",
        "getfenv",
        "module",
        "loadstring",
        "unpack",
        "newproxy",
    ] {
        if message.contains(&format!("(global '{global}')")) {
            return Problem::OtherLua;
        }
    }
    if message.contains("(field 'getn')") || message.contains("(field 'setn')") {
        return Problem::OtherLua;
    }
    if let Some(rest) = message.strip_prefix("module '").or_else(|| {
        message
            .find("module '")
            .map(|i| &message[i + "module '".len()..])
    }) {
        if let Some(end) = rest.find("' not found") {
            let wanted = &rest[..end];
            let own = rock.modules.contains_key(wanted)
                || rock.modules.contains_key(&format!("{wanted}.init"));
            if !own {
                return Problem::NeedsModule(wanted.to_string());
            }
        }
    }
    Problem::Broken
}

/// The message on one line (a loader's error continues on a tab-indented line).
fn first_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs a loader chunk on one module name: `Ok(None)` when it loaded, `Ok(Some(error))`
/// when `require` failed, `Err` when the VM itself failed (a limit, a crashed interpreter).
trait CallChunk {
    fn call_chunk(&mut self, chunk: &str, module: &str) -> Result<Option<String>, String>;
}

impl CallChunk for AnyVm {
    fn call_chunk(&mut self, chunk: &str, module: &str) -> Result<Option<String>, String> {
        let quoted = crate::lua_syntax::string(module.as_bytes());
        let code = format!("return (function(...) {chunk} end)({quoted})");
        let values = self.eval_code(&code).map_err(|e| e.to_string())?;
        match values.first() {
            Some(serde_json::Value::Bool(true)) => Ok(None),
            _ => Ok(Some(
                values
                    .get(1)
                    .and_then(|v| v.as_str())
                    .unwrap_or("unknown error")
                    .to_string(),
            )),
        }
    }
}
