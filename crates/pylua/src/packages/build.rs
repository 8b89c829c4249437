//! Building a package from its unpacked sources into a staging directory, with the build
//! types LuaRocks defines — `builtin` (Lua files copied, C modules compiled with the system
//! C compiler), `make`, `cmake`, `command`, `none` — plus the `install` tables and
//! `copy_directories`, and the variables LuaRocks gives rockspecs (`$(LUA_INCDIR)`,
//! `$(CFLAGS)`, `$(LIBFLAG)`, `$(PREFIX)`…).
//!
//! The staging layout is `lua/` (Lua modules), `lib/` (C modules), `bin/` (scripts),
//! `conf/`, and `rock/` (the rockspec and copied directories), which the tree installs into
//! its LuaRocks layout.

use super::names::RelativePath;
use super::rockspec::{BuildType, Module, Rockspec};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Lua a package is built for.
#[derive(Debug, Clone)]
pub struct Target {
    /// `5.4`, `5.1`…
    pub lua_version: String,
    /// Directory holding `lua.h` and friends.
    pub incdir: PathBuf,
    /// Directory of the Lua library to link C modules against, if the target needs it.
    pub libdir: Option<PathBuf>,
    /// The library name for `-l` (e.g. `lua5.1`), if C modules must link it.
    pub lualib: Option<String>,
    /// The interpreter (`$(LUA)`, used by bin wrappers).
    pub interpreter: Option<PathBuf>,
}

/// The headers of the embedded Lua (the exact release compiled into pylua), shipped with
/// pylua so C modules can be built for it on a machine with no Lua installed.
const EMBEDDED_HEADERS: &[(&str, &[u8])] = &[
    ("lua.h", include_bytes!("include/lua5.4/lua.h")),
    ("luaconf.h", include_bytes!("include/lua5.4/luaconf.h")),
    ("lualib.h", include_bytes!("include/lua5.4/lualib.h")),
    ("lauxlib.h", include_bytes!("include/lua5.4/lauxlib.h")),
];

impl Target {
    /// The embedded Lua 5.4: C modules are compiled against the shipped headers and not
    /// linked against any Lua library — the `pylua` binary exports the Lua C API, and the
    /// dynamic loader resolves the modules' Lua symbols against it.
    pub fn embedded(cache_root: &Path) -> std::io::Result<Target> {
        let incdir = cache_root.join("include").join("lua-5.4.7");
        if !incdir.join("lauxlib.h").is_file() {
            for (name, bytes) in EMBEDDED_HEADERS {
                super::cache::write_atomic(&incdir.join(name), bytes)?;
            }
        }
        Ok(Target {
            lua_version: "5.4".into(),
            incdir,
            libdir: None,
            lualib: None,
            interpreter: None,
        })
    }
}

impl Target {
    /// An external interpreter (system or provisioned): C modules compile against its
    /// headers and take the Lua API from the interpreter that loads them, as LuaRocks does on
    /// Linux. Fails when the interpreter has no headers.
    pub fn interpreter(interpreter: &crate::interpreters::Interpreter) -> Result<Target, String> {
        let incdir = interpreter.include_dir.clone().ok_or_else(|| {
            format!(
                "{} at {} has no headers (lua.h), which building C modules needs; an interpreter pylua installs for {} has them",
                interpreter.release,
                interpreter.path.display(),
                interpreter.version
            )
        })?;
        Ok(Target {
            lua_version: interpreter.version.api().to_string(),
            incdir,
            libdir: None,
            lualib: None,
            interpreter: Some(interpreter.path.clone()),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{package}: {message}")]
    Failed { package: String, message: String },
    #[error("{package}: the C compiler failed:\n  $ {command}\n{output}")]
    Compiler {
        package: String,
        command: String,
        output: String,
    },
    #[error("{package}: missing external dependency {name}: {what} not found (looked in {looked}); install the system package that provides it, or set {var}")]
    MissingExternal {
        package: String,
        name: String,
        what: String,
        looked: String,
        var: String,
    },
}

/// What a build put into the staging directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Built {
    /// module name → path relative to `lua/` or `lib/` (as the tree manifest records it).
    pub modules: BTreeMap<String, String>,
    /// command name → script path relative to `bin/`.
    pub commands: BTreeMap<String, String>,
}

/// Builds `rockspec` from `source_dir` into `stage`.
pub fn build(
    rockspec: &Rockspec,
    source_dir: &Path,
    stage: &Path,
    target: &Target,
) -> Result<Built, BuildError> {
    let package = format!("{} {}", rockspec.package, rockspec.version);
    let fail = |message: String| BuildError::Failed {
        package: package.clone(),
        message,
    };
    for dir in ["lua", "lib", "bin", "conf", "rock"] {
        fs::create_dir_all(stage.join(dir))
            .map_err(|e| fail(format!("cannot create {}: {e}", stage.display())))?;
    }
    let mut vars = variables(rockspec, stage, target);
    find_externals(rockspec, &package, &mut vars)?;
    let mut built = Built::default();
    match &rockspec.build.build_type {
        BuildType::Builtin => builtin(rockspec, source_dir, stage, target, &vars, &package)?,
        BuildType::Make => make(rockspec, source_dir, &vars, &package)?,
        BuildType::Cmake => cmake(rockspec, source_dir, &vars, &package)?,
        BuildType::Command => {
            for key in ["build_command", "install_command"] {
                if let Some(Value::String(cmd)) = rockspec.build.extra.get(key) {
                    run_shell(&subst(cmd, &vars), source_dir, &vars, &package)?;
                }
            }
        }
        BuildType::None => {}
        BuildType::Other(kind) => {
            return Err(fail(format!(
                "build type '{kind}' needs a LuaRocks plugin; supported types are builtin, make, cmake, command and none"
            )))
        }
    }
    install_tables(rockspec, source_dir, stage, &vars, &mut built).map_err(fail)?;
    copy_directories(rockspec, source_dir, &stage.join("rock")).map_err(fail)?;
    // Every module file the build put in place, however it got there (a make/cmake/command
    // build installs into $(LUADIR)/$(LIBDIR) itself).
    record_stage_modules(stage, &mut built.modules);
    Ok(built)
}

/// The variables LuaRocks defines for rockspecs and build tools.
fn variables(rockspec: &Rockspec, stage: &Path, target: &Target) -> BTreeMap<String, String> {
    let mut v = BTreeMap::new();
    let s = |p: &Path| p.display().to_string();
    let cflags = std::env::var("CFLAGS").unwrap_or_else(|_| "-O2 -fPIC".into());
    let cc = crate::compiler::Compiler::detect()
        .map(|c| c.to_variable())
        .unwrap_or_else(|| "cc".into());
    v.insert("CC".into(), cc.clone());
    v.insert("LD".into(), cc);
    v.insert("CFLAGS".into(), cflags);
    v.insert("LIBFLAG".into(), "-shared".into());
    v.insert("OBJ_EXTENSION".into(), "o".into());
    v.insert("LIB_EXTENSION".into(), "so".into());
    v.insert("LUA_VERSION".into(), target.lua_version.clone());
    v.insert("LUA_INCDIR".into(), s(&target.incdir));
    v.insert(
        "LUA_LIBDIR".into(),
        target
            .libdir
            .as_deref()
            .map(s)
            .unwrap_or_else(|| s(&target.incdir)),
    );
    v.insert(
        "LUA_BINDIR".into(),
        target
            .interpreter
            .as_deref()
            .and_then(Path::parent)
            .map(s)
            .unwrap_or_default(),
    );
    v.insert(
        "LUA".into(),
        target
            .interpreter
            .as_deref()
            .map(s)
            .unwrap_or_else(|| "lua".into()),
    );
    v.insert(
        "LUALIB".into(),
        target
            .lualib
            .clone()
            .map(|l| format!("lib{l}.so"))
            .unwrap_or_default(),
    );
    v.insert("PREFIX".into(), s(&stage.join("rock")));
    v.insert("LUADIR".into(), s(&stage.join("lua")));
    v.insert("LIBDIR".into(), s(&stage.join("lib")));
    v.insert("BINDIR".into(), s(&stage.join("bin")));
    v.insert("CONFDIR".into(), s(&stage.join("conf")));
    v.insert("DOCDIR".into(), s(&stage.join("rock").join("doc")));
    v.insert("PACKAGE".into(), rockspec.package.to_string());
    v.insert("VERSION".into(), rockspec.version.to_string());
    v
}

/// Replaces `$(NAME)` with variables; unknown names become empty, as in LuaRocks.
pub fn subst(text: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("$(") {
        out.push_str(&rest[..start]);
        match rest[start + 2..].find(')') {
            Some(end) => {
                let name = &rest[start + 2..start + 2 + end];
                out.push_str(vars.get(name).map(String::as_str).unwrap_or(""));
                rest = &rest[start + 2 + end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

const INCLUDE_DIRS: &[&str] = &["/usr/local/include", "/usr/include"];
const LIB_DIRS: &[&str] = &[
    "/usr/local/lib",
    "/usr/lib",
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/lib/x86_64-linux-gnu",
    "/usr/lib64",
];

/// Looks up `external_dependencies` and defines `$(NAME_DIR)`, `$(NAME_INCDIR)`, `$(NAME_LIBDIR)`.
fn find_externals(
    rockspec: &Rockspec,
    package: &str,
    vars: &mut BTreeMap<String, String>,
) -> Result<(), BuildError> {
    for (name, spec) in &rockspec.external_dependencies {
        let var = name.to_ascii_uppercase().replace(['-', '.'], "_");
        // A user-set NAME_DIR wins, as in LuaRocks.
        let base = std::env::var(format!("{var}_DIR")).ok();
        let incdirs: Vec<PathBuf> = match &base {
            Some(b) => vec![Path::new(b).join("include")],
            None => INCLUDE_DIRS.iter().map(PathBuf::from).collect(),
        };
        let libdirs: Vec<PathBuf> = match &base {
            Some(b) => vec![Path::new(b).join("lib")],
            None => LIB_DIRS.iter().map(PathBuf::from).collect(),
        };
        // The first directory holding one of `files`, or an error naming what and where.
        let find = |dirs: &[PathBuf], files: &[String], what: String| {
            dirs.iter()
                .find(|d| files.iter().any(|f| d.join(f).is_file()))
                .cloned()
                .ok_or_else(|| BuildError::MissingExternal {
                    package: package.into(),
                    name: name.clone(),
                    what,
                    looked: dirs
                        .iter()
                        .map(|d| d.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                    var: format!("{var}_DIR"),
                })
        };
        let incdir = match spec.get("header") {
            Some(header) => find(
                &incdirs,
                std::slice::from_ref(header),
                format!("header {header}"),
            )?,
            None => incdirs.first().cloned().unwrap_or_default(),
        };
        let libdir = match spec.get("library") {
            Some(library) => find(
                &libdirs,
                &[
                    format!("lib{library}.so"),
                    format!("lib{library}.a"),
                    library.clone(),
                ],
                format!("library {library}"),
            )?,
            None => libdirs.first().cloned().unwrap_or_default(),
        };
        vars.insert(format!("{var}_INCDIR"), incdir.display().to_string());
        vars.insert(format!("{var}_LIBDIR"), libdir.display().to_string());
        vars.insert(
            format!("{var}_DIR"),
            incdir
                .parent()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        );
    }
    Ok(())
}

/// `a.b` → `a/b` (the path of a module, without extension).
fn module_path(module: &str) -> String {
    module.replace('.', "/")
}

/// The directory of a module, as LuaRocks' `path.module_to_path` gives it: `a.b.c` → `a/b/`,
/// `c` → `` (everything up to the last dot).
fn module_dir(module: &str) -> String {
    module
        .rfind('.')
        .map_or(String::new(), |i| module[..=i].replace('.', "/"))
}

/// The last segment of a dotted module name.
fn module_basename(module: &str) -> &str {
    module.rsplit('.').next().unwrap_or(module)
}

/// Where LuaRocks' builtin backend puts the Lua file of `build.modules[module] = file`,
/// relative to the Lua directory: the module's directory plus `<last segment>.lua`, except
/// that a file named `init.lua` for a module not itself named `….init` becomes
/// `<module path>/init.lua` (so `luassert.init = "src/init.lua"` and
/// `luassert = "src/init.lua"` both give `luassert/init.lua`).
fn builtin_lua_dest(module: &str, file: &str) -> String {
    let is_init = Path::new(file).file_name().is_some_and(|n| n == "init.lua");
    if is_init && !module.ends_with(".init") {
        format!("{}/init.lua", module_path(module))
    } else {
        format!("{}{}.lua", module_dir(module), module_basename(module))
    }
}

/// Where LuaRocks' `install.lua` / `install.lib` put `[key] = file`: the key's module
/// directory plus, for a Lua file, `<last segment>.lua`, for any other file its own name.
/// A key that is itself a file name (`"x.lua"`, `"x.so"`: how the list part of an install
/// table is read) goes to the top directory under that name.
fn install_module_dest(key: &str, file: &str, extension: &str) -> String {
    if key.ends_with(&format!(".{extension}")) {
        return key.to_string();
    }
    let file_name = Path::new(file)
        .file_name()
        .map_or_else(|| file.to_string(), |n| n.to_string_lossy().into_owned());
    if file.ends_with(".lua") {
        format!("{}{}.lua", module_dir(key), module_basename(key))
    } else {
        format!("{}{file_name}", module_dir(key))
    }
}

/// `copy_directories` as LuaRocks handles them: each listed directory is copied into the
/// rock's directory (a missing one is an error); when the rockspec lists none, `doc` is
/// copied if it exists; and when nothing was copied, the top-level README, LICENSE,
/// COPYING and `*.md` files go to the rock's `doc/`.
fn copy_directories(rockspec: &Rockspec, source_dir: &Path, rock: &Path) -> Result<(), String> {
    let listed = &rockspec.build.copy_directories;
    let default = [RelativePath::parse("doc").map_err(|e| e.to_string())?];
    let dirs = if listed.is_empty() {
        &default[..]
    } else {
        &listed[..]
    };
    let mut any = false;
    for dir in dirs {
        let from = source_dir.join(dir.as_str());
        if from.is_dir() {
            copy_tree(&from, &rock.join(dir.as_str()))
                .map_err(|e| format!("copying {dir}: {e}"))?;
            any = true;
        } else if !listed.is_empty() {
            return Err(format!(
                "copy_directories: directory '{dir}' not found in the sources"
            ));
        }
    }
    if any {
        return Ok(());
    }
    let Ok(entries) = fs::read_dir(source_dir) else {
        return Ok(());
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().to_lowercase();
        let is_doc = ["readme", "license", "copying"]
            .iter()
            .any(|p| name.starts_with(p))
            || name.contains(".md");
        if is_doc && entry.file_type().is_ok_and(|t| t.is_file()) {
            let dest = rock.join("doc").join(entry.file_name());
            copy_file(&entry.path(), &dest).map_err(|e| format!("copying docs: {e}"))?;
        }
    }
    Ok(())
}

fn builtin(
    rockspec: &Rockspec,
    source_dir: &Path,
    stage: &Path,
    target: &Target,
    vars: &BTreeMap<String, String>,
    package: &str,
) -> Result<(), BuildError> {
    let fail = |message: String| BuildError::Failed {
        package: package.into(),
        message,
    };
    let objects_dir = stage.join("obj");
    fs::create_dir_all(&objects_dir).map_err(|e| fail(e.to_string()))?;
    for (name, module) in &rockspec.build.modules {
        match module {
            Module::Lua { path } => {
                let from = source_path(source_dir, path, vars)
                    .map_err(|e| fail(format!("build.modules key \"{name}\": {e}")))?;
                let rel = builtin_lua_dest(name.as_str(), &subst(path, vars));
                copy_file(&from, &stage.join("lua").join(&rel)).map_err(|e| {
                    fail(format!(
                        "module {name}: cannot copy {}: {e}",
                        from.display()
                    ))
                })?;
            }
            Module::C {
                sources,
                incdirs,
                libdirs,
                libraries,
                defines,
            } => {
                let rel = format!("{}.so", module_path(name));
                let out = stage.join("lib").join(&rel);
                if let Some(parent) = out.parent() {
                    fs::create_dir_all(parent).map_err(|e| fail(e.to_string()))?;
                }
                let cc = crate::compiler::Compiler::from_words(&vars["CC"]).ok_or_else(|| {
                    fail(format!(
                        "no C compiler: '{}' is not on PATH (set CC to a compiler, e.g. CC=gcc)",
                        vars["CC"]
                    ))
                })?;
                let cflags: Vec<String> = vars["CFLAGS"]
                    .split_whitespace()
                    .map(String::from)
                    .collect();
                let mut objects = Vec::new();
                for (i, src) in sources.iter().enumerate() {
                    let src = subst(src, vars);
                    let obj = objects_dir.join(format!("{}-{i}.o", name.replace('.', "_")));
                    let mut cmd = cc.command();
                    cmd.current_dir(source_dir)
                        .args(&cflags)
                        .arg("-c")
                        .arg(&src)
                        .arg("-o")
                        .arg(&obj);
                    cmd.arg(format!("-I{}", target.incdir.display()));
                    for d in incdirs {
                        cmd.arg(format!("-I{}", subst(d, vars)));
                    }
                    for d in defines {
                        cmd.arg(format!("-D{}", subst(d, vars)));
                    }
                    run(&mut cmd, package)?;
                    objects.push(obj);
                }
                let mut link = cc.command();
                link.current_dir(source_dir)
                    .arg("-shared")
                    .arg("-o")
                    .arg(&out)
                    .args(&objects);
                for d in libdirs {
                    link.arg(format!("-L{}", subst(d, vars)));
                }
                if let (Some(dir), Some(lib)) = (&target.libdir, &target.lualib) {
                    link.arg(format!("-L{}", dir.display()))
                        .arg(format!("-l{lib}"));
                }
                for l in libraries {
                    link.arg(format!("-l{}", subst(l, vars)));
                }
                run(&mut link, package)?;
            }
        }
    }
    let _ = fs::remove_dir_all(&objects_dir);
    // LuaRocks' builtin backend also installs a top-level `lua/` directory as it is.
    let lua_dir = source_dir.join("lua");
    if lua_dir.is_dir() {
        copy_tree(&lua_dir, &stage.join("lua"))
            .map_err(|e| fail(format!("copying the lua directory: {e}")))?;
    }
    Ok(())
}

fn make(
    rockspec: &Rockspec,
    source_dir: &Path,
    vars: &BTreeMap<String, String>,
    package: &str,
) -> Result<(), BuildError> {
    let extra = &rockspec.build.extra;
    let get_str = |k: &str, default: &str| match extra.get(k) {
        Some(Value::String(s)) => s.clone(),
        _ => default.to_string(),
    };
    let table_vars = |k: &str| -> Vec<String> {
        match extra.get(k) {
            Some(Value::Object(map)) => map
                .iter()
                .filter_map(|(name, v)| v.as_str().map(|s| format!("{name}={}", subst(s, vars))))
                .collect(),
            _ => Vec::new(),
        }
    };
    let makefile = get_str("makefile", "Makefile");
    let pass = |target: String, assignments: Vec<String>| -> Result<(), BuildError> {
        let mut cmd = Command::new("make");
        cmd.current_dir(source_dir).arg("-f").arg(&makefile);
        if !target.is_empty() {
            cmd.arg(target);
        }
        cmd.args(assignments);
        run(&mut cmd, package)
    };
    if !matches!(extra.get("build_pass"), Some(Value::Bool(false))) {
        pass(get_str("build_target", ""), table_vars("build_variables"))?;
    }
    if !matches!(extra.get("install_pass"), Some(Value::Bool(false))) {
        pass(
            get_str("install_target", "install"),
            table_vars("install_variables"),
        )?;
    }
    Ok(())
}

fn cmake(
    rockspec: &Rockspec,
    source_dir: &Path,
    vars: &BTreeMap<String, String>,
    package: &str,
) -> Result<(), BuildError> {
    let mut configure = Command::new("cmake");
    configure
        .current_dir(source_dir)
        .args(["-H.", "-Bbuild.pylua", "-DCMAKE_BUILD_TYPE=Release"])
        .arg(format!("-DCMAKE_INSTALL_PREFIX={}", vars["PREFIX"]));
    if let Some(Value::Object(map)) = rockspec.build.extra.get("variables") {
        for (k, v) in map {
            if let Some(s) = v.as_str() {
                configure.arg(format!("-D{k}={}", subst(s, vars)));
            }
        }
    }
    run(&mut configure, package)?;
    run(
        Command::new("cmake").current_dir(source_dir).args([
            "--build",
            "build.pylua",
            "--config",
            "Release",
        ]),
        package,
    )?;
    run(
        Command::new("cmake").current_dir(source_dir).args([
            "--build",
            "build.pylua",
            "--target",
            "install",
            "--config",
            "Release",
        ]),
        package,
    )
}

fn run_shell(
    script: &str,
    dir: &Path,
    vars: &BTreeMap<String, String>,
    package: &str,
) -> Result<(), BuildError> {
    let mut cmd = Command::new("sh");
    cmd.current_dir(dir).arg("-c").arg(script).envs(vars);
    run(&mut cmd, package)
}

fn run(cmd: &mut Command, package: &str) -> Result<(), BuildError> {
    let shown = format!(
        "{} {}",
        cmd.get_program().to_string_lossy(),
        cmd.get_args()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let output = cmd.output().map_err(|e| BuildError::Failed {
        package: package.into(),
        message: if e.kind() == std::io::ErrorKind::NotFound {
            format!(
                "cannot run '{}': it is not installed (a C compiler and make are needed to build C modules: on Debian, apt-get install build-essential)",
                cmd.get_program().to_string_lossy()
            )
        } else {
            format!("cannot run '{shown}': {e}")
        },
    })?;
    if output.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stdout));
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(20)..].join("\n");
    Err(BuildError::Compiler {
        package: package.into(),
        command: shown,
        output: tail,
    })
}

/// `path` (from the rockspec, already a [`RelativePath`]) inside `dir` once the LuaRocks
/// variables in it are substituted: a variable must not make it absolute or climb out.
fn source_path(
    dir: &Path,
    path: &RelativePath,
    vars: &BTreeMap<String, String>,
) -> Result<PathBuf, String> {
    let text = subst(path, vars);
    RelativePath::parse(&text)
        .map(|p| dir.join(p.as_str()))
        .map_err(|e| {
            if text == path.as_str() {
                e.to_string()
            } else {
                format!("{e} (after substituting variables in \"{path}\")")
            }
        })
}

/// The `install` tables: `lua` (module name → file), `lib`, `conf`, `bin`.
fn install_tables(
    rockspec: &Rockspec,
    source_dir: &Path,
    stage: &Path,
    vars: &BTreeMap<String, String>,
    built: &mut Built,
) -> Result<(), String> {
    for (section, files) in &rockspec.build.install {
        for (key, src) in files {
            let from = source_path(source_dir, src, vars)
                .map_err(|e| format!("build.install.{section} value: {e}"))?;
            let dest = match section.as_str() {
                "lua" => {
                    stage
                        .join("lua")
                        .join(install_module_dest(key.as_str(), src.as_str(), "lua"))
                }
                "lib" => {
                    stage
                        .join("lib")
                        .join(install_module_dest(key.as_str(), src.as_str(), "so"))
                }
                "conf" => stage.join("conf").join(key.as_str()),
                "bin" => {
                    built.commands.insert(key.to_string(), key.to_string());
                    stage.join("bin").join(key.as_str())
                }
                other => {
                    return Err(format!(
                        "unknown install section '{other}' (expected lua, lib, conf or bin)"
                    ))
                }
            };
            copy_file(&from, &dest)
                .map_err(|e| format!("install.{section}: cannot copy {}: {e}", from.display()))?;
            if section == "bin" {
                set_executable(&dest);
            }
        }
    }
    Ok(())
}

/// What a staging directory that was filled without a build holds (a prebuilt `.all.rock`
/// or binary rock): its Lua and C modules and its commands.
pub fn scan(stage: &Path) -> Built {
    let mut built = Built::default();
    record_stage_modules(stage, &mut built.modules);
    if let Ok(entries) = fs::read_dir(stage.join("bin")) {
        for e in entries.filter_map(Result::ok) {
            let name = e.file_name().to_string_lossy().into_owned();
            built.commands.insert(name.clone(), name);
        }
    }
    built
}

/// Adds the Lua modules under `stage/lua` and the C modules under `stage/lib`.
fn record_stage_modules(stage: &Path, modules: &mut BTreeMap<String, String>) {
    record_modules(&stage.join("lua"), &stage.join("lua"), "lua", modules);
    record_modules(&stage.join("lib"), &stage.join("lib"), "so", modules);
}

/// Adds every file under `dir` as a module named as LuaRocks' manifest names it
/// (`path.path_to_module`): the path without its `.lua`/`.so` extension, `/` read as `.` —
/// so `a/init.lua` is the module `a.init`, which `require 'a'` finds through `?/init.lua`.
fn record_modules(root: &Path, dir: &Path, ext: &str, modules: &mut BTreeMap<String, String>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            record_modules(root, &path, ext, modules);
        } else {
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .into_owned();
            let stem = rel.strip_suffix(&format!(".{ext}")).unwrap_or(&rel);
            let module = stem.replace('/', ".").trim_matches('.').to_string();
            modules.entry(module).or_insert(rel);
        }
    }
}

fn copy_file(from: &Path, to: &Path) -> std::io::Result<()> {
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::copy(from, to).map(|_| ())
}

/// Copies a directory tree (regular files and directories; links are skipped).
pub fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let dest = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &dest)?;
        } else if kind.is_file() {
            fs::copy(entry.path(), &dest)?;
        }
    }
    Ok(())
}

pub fn set_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o755));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_variables() {
        let vars: BTreeMap<String, String> = [("A".to_string(), "1".to_string())].into();
        assert_eq!(subst("x$(A)y$(B)z$(", &vars), "x1yz$(");
    }

    #[test]
    fn builds_lua_and_c_modules() {
        let src = tempfile::tempdir().unwrap();
        let stage = tempfile::tempdir().unwrap();
        fs::create_dir_all(src.path().join("src/pkg")).unwrap();
        fs::write(src.path().join("src/pkg/init.lua"), "return {}").unwrap();
        fs::write(src.path().join("src/util.lua"), "return 1").unwrap();
        fs::write(
            src.path().join("hello.c"),
            "int luaopen_hello(void *L) { (void)L; return 0; }\n",
        )
        .unwrap();
        let rockspec = Rockspec::parse(
            r#"package = "demo" version = "1.0-1" source = { url = "x" }
               build = { type = "builtin", modules = {
                 pkg = "src/pkg/init.lua", ["pkg.util"] = "src/util.lua", hello = "hello.c" } }"#,
            "demo-1.0-1.rockspec",
        )
        .unwrap();
        let target = Target {
            lua_version: "5.4".into(),
            incdir: src.path().to_path_buf(),
            libdir: None,
            lualib: None,
            interpreter: None,
        };
        let built = build(&rockspec, src.path(), stage.path(), &target).unwrap();
        assert_eq!(built.modules["pkg.init"], "pkg/init.lua");
        assert_eq!(built.modules["pkg.util"], "pkg/util.lua");
        assert_eq!(built.modules["hello"], "hello.so");
        assert!(stage.path().join("lib/hello.so").is_file());
        assert!(stage.path().join("lua/pkg/init.lua").is_file());
    }

    #[test]
    fn compiler_errors_show_the_command_and_output() {
        let src = tempfile::tempdir().unwrap();
        let stage = tempfile::tempdir().unwrap();
        fs::write(src.path().join("bad.c"), "this is not C;\n").unwrap();
        let rockspec = Rockspec::parse(
            r#"package = "bad" version = "1.0-1" source = { url = "x" }
               build = { type = "builtin", modules = { bad = "bad.c" } }"#,
            "bad-1.0-1.rockspec",
        )
        .unwrap();
        let target = Target {
            lua_version: "5.4".into(),
            incdir: src.path().to_path_buf(),
            libdir: None,
            lualib: None,
            interpreter: None,
        };
        let err = build(&rockspec, src.path(), stage.path(), &target)
            .unwrap_err()
            .to_string();
        assert!(err.contains("the C compiler failed"), "{err}");
        assert!(err.contains("bad.c"), "{err}");
        assert!(err.contains("error"), "{err}");
    }

    #[test]
    fn missing_external_dependencies_are_named() {
        let rockspec = Rockspec::parse(
            r#"package = "ext" version = "1.0-1" source = { url = "x" }
               external_dependencies = { FOO = { header = "surely_missing_foo.h" } }
               build = { type = "none" }"#,
            "ext-1.0-1.rockspec",
        )
        .unwrap();
        let stage = tempfile::tempdir().unwrap();
        let target = Target {
            lua_version: "5.4".into(),
            incdir: stage.path().to_path_buf(),
            libdir: None,
            lualib: None,
            interpreter: None,
        };
        let err = build(&rockspec, stage.path(), stage.path(), &target)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("missing external dependency FOO: header surely_missing_foo.h not found"),
            "{err}"
        );
        assert!(err.contains("FOO_DIR"), "{err}");
    }
}
