//! Provisioning: building Lua 5.1–5.4 and LuaJIT from the sources bundled in pylua, with the
//! system C compiler, into `<data>/interpreters/<name>/`:
//!
//! ```text
//! lua-5.4/                     luajit/
//!   bin/lua                      bin/luajit
//!   include/lua.h …              include/lua.h luajit.h …
//!   lib/liblua.a lib/liblua.so   lib/libluajit-5.1.a
//!   pylua-interpreter.json       share/luajit-2.1/jit/*.lua
//!                                pylua-interpreter.json
//! ```
//!
//! Lua's library sources come without the standalone `lua` command, so pylua compiles its own
//! (`driver/lua.c`); LuaJIT's sources build with their own Makefile and `luajit.c`. The
//! interpreters export the Lua API (`-Wl,-E`), so C modules built against `include/` load
//! into them.
//!
//! Crash safety: each build happens in a temporary directory next to its destination and is
//! renamed into place when complete, so a killed build leaves either the old interpreter or
//! the new one, never half of one. A lock file per version serialises pylua processes (and
//! threads) installing the same version; an installed interpreter built from the same sources
//! makes `install` a no-op.

use super::sources::{extract, source_key};
use super::{probe, Interpreter, InterpreterError, LuaVersion, Origin};
use crate::compiler::{which, Compiler};
use fs4::fs_std::FileExt;
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The standalone interpreter pylua builds for Lua 5.1–5.4.
const DRIVER: &str = include_str!("driver/lua.c");
const MANIFEST: &str = "pylua-interpreter.json";
const HEADERS: [&str; 4] = ["lua.h", "luaconf.h", "lualib.h", "lauxlib.h"];
const LUA_HPP: &str = "// C++ wrapper for the Lua headers, installed by pylua.\n\
extern \"C\" {\n#include \"lua.h\"\n#include \"lualib.h\"\n#include \"lauxlib.h\"\n}\n";

/// What `install` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum InstallStatus {
    /// It was already installed from the same sources: nothing was done.
    AlreadyInstalled,
    /// Built and installed.
    Installed,
    /// Built and installed in place of an interpreter built from other sources.
    Replaced { previous: String },
}

/// The result of an install.
#[derive(Debug, Clone, Serialize)]
pub struct Installed {
    pub interpreter: Interpreter,
    #[serde(flatten)]
    pub status: InstallStatus,
    /// The installation directory.
    pub dir: PathBuf,
    /// How long the build took (zero when nothing was done).
    #[serde(serialize_with = "seconds")]
    pub duration: Duration,
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
}

/// What pylua records about an interpreter it built.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct InstallRecord {
    version: LuaVersion,
    release: String,
    source: String,
    executable: String,
    include: String,
    library: String,
    built_at: u64,
}

/// Installs, lists and removes the interpreters pylua builds, under `<data>/interpreters`.
#[derive(Debug, Clone)]
pub struct Provisioner {
    root: PathBuf,
}

impl Provisioner {
    /// A provisioner for pylua's data directory (`Paths::discover().data`).
    pub fn new(data_dir: &Path) -> Provisioner {
        Provisioner {
            root: data_dir.join("interpreters"),
        }
    }

    /// Where a version is (or would be) installed.
    pub fn dir(&self, version: LuaVersion) -> PathBuf {
        self.root.join(dir_name(version))
    }

    /// The installed interpreter for a version, if any.
    pub fn installed(&self, version: LuaVersion) -> Option<Interpreter> {
        let dir = self.dir(version);
        let manifest = read_manifest(&dir)?;
        let exe = dir.join(&manifest.executable);
        if manifest.version != version || !exe.is_file() {
            return None;
        }
        Some(Interpreter {
            version,
            release: manifest.release,
            path: exe,
            aliases: Vec::new(),
            origin: Origin::Pylua,
            include_dir: Some(dir.join(&manifest.include)).filter(|d| d.is_dir()),
            library: Some(dir.join(&manifest.library)).filter(|l| l.is_file()),
        })
    }

    /// Every installed interpreter, oldest version first.
    pub fn installed_all(&self) -> Vec<Interpreter> {
        LuaVersion::ALL
            .iter()
            .filter_map(|v| self.installed(*v))
            .collect()
    }

    /// Builds and installs a version unless it is already installed from the same sources.
    pub fn install(&self, version: LuaVersion) -> Result<Installed, InterpreterError> {
        self.install_with(version, false)
    }

    /// [`Provisioner::install`]; with `force`, rebuilds even when it is installed.
    pub fn install_with(
        &self,
        version: LuaVersion,
        force: bool,
    ) -> Result<Installed, InterpreterError> {
        let _lock = self.lock(version)?;
        let dir = self.dir(version);
        let key = source_key(version);
        let previous = read_manifest(&dir);
        if let (false, Some(found), Some(m)) = (force, self.installed(version), &previous) {
            if m.source == key {
                return Ok(Installed {
                    interpreter: found,
                    status: InstallStatus::AlreadyInstalled,
                    dir,
                    duration: Duration::ZERO,
                });
            }
        }
        self.remove_leftovers(version);
        let start = Instant::now();
        let tools = Toolchain::find(version)?;
        let tmp = self.root.join(format!(
            ".tmp-{}-{}-{}",
            dir_name(version),
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .subsec_nanos()
        ));
        fs::create_dir_all(&tmp).map_err(|e| InterpreterError::io("cannot create", &tmp, e))?;
        let built = build(version, &tools, &tmp, &dir);
        let manifest = match built {
            Ok(m) => m,
            Err(e) => {
                let _ = fs::remove_dir_all(&tmp);
                return Err(e);
            }
        };
        self.swap_in(version, &tmp, &dir)?;
        let interpreter = self.installed(version).ok_or_else(|| {
            InterpreterError::io(
                "the installed interpreter is not usable",
                &dir.join(&manifest.executable),
                std::io::Error::from(std::io::ErrorKind::NotFound),
            )
        })?;
        let status = match previous {
            Some(p) => InstallStatus::Replaced {
                previous: p.release,
            },
            None => InstallStatus::Installed,
        };
        Ok(Installed {
            interpreter,
            status,
            dir,
            duration: start.elapsed(),
        })
    }

    /// Removes an installed version; false when it was not installed.
    pub fn uninstall(&self, version: LuaVersion) -> Result<bool, InterpreterError> {
        let _lock = self.lock(version)?;
        self.remove_leftovers(version);
        let dir = self.dir(version);
        if !dir.exists() {
            return Ok(false);
        }
        // Rename first: a crash halfway through deleting leaves no half interpreter behind.
        let trash = self.root.join(format!(
            ".trash-{}-{}",
            dir_name(version),
            std::process::id()
        ));
        fs::rename(&dir, &trash).map_err(|e| InterpreterError::io("cannot remove", &dir, e))?;
        fs::remove_dir_all(&trash).map_err(|e| InterpreterError::io("cannot remove", &trash, e))?;
        Ok(true)
    }

    fn lock(&self, version: LuaVersion) -> Result<fs::File, InterpreterError> {
        fs::create_dir_all(&self.root)
            .map_err(|e| InterpreterError::io("cannot create", &self.root, e))?;
        let path = self.root.join(format!(".{}.lock", dir_name(version)));
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| InterpreterError::io("cannot open the lock file", &path, e))?;
        file.lock_exclusive()
            .map_err(|e| InterpreterError::io("cannot lock", &path, e))?;
        Ok(file)
    }

    /// Deletes what an interrupted build or removal of this version left (under its lock).
    fn remove_leftovers(&self, version: LuaVersion) {
        let name = dir_name(version);
        let Ok(entries) = fs::read_dir(&self.root) else {
            return;
        };
        for entry in entries.flatten() {
            let file_name = entry.file_name().to_string_lossy().into_owned();
            let ours = [".tmp-", ".old-", ".trash-"].iter().any(|p| {
                file_name
                    .strip_prefix(p)
                    .and_then(|rest| rest.strip_prefix(name.as_str()))
                    .is_some_and(|rest| rest.starts_with('-'))
            });
            if ours {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }

    /// Moves a finished build into place, replacing what was there.
    fn swap_in(&self, version: LuaVersion, tmp: &Path, dir: &Path) -> Result<(), InterpreterError> {
        let old = self
            .root
            .join(format!(".old-{}-{}", dir_name(version), std::process::id()));
        if dir.exists() {
            fs::rename(dir, &old).map_err(|e| InterpreterError::io("cannot replace", dir, e))?;
        }
        if let Err(e) = fs::rename(tmp, dir) {
            let _ = fs::rename(&old, dir);
            let _ = fs::remove_dir_all(tmp);
            return Err(InterpreterError::io("cannot install into", dir, e));
        }
        let _ = fs::remove_dir_all(&old);
        Ok(())
    }
}

fn dir_name(version: LuaVersion) -> String {
    match version {
        LuaVersion::LuaJit => "luajit".into(),
        v => format!("lua-{}", v.as_str()),
    }
}

fn read_manifest(dir: &Path) -> Option<InstallRecord> {
    let text = fs::read_to_string(dir.join(MANIFEST)).ok()?;
    serde_json::from_str(&text).ok()
}

/// The programs a build needs.
struct Toolchain {
    /// The C compiler and the arguments `$CC` gave it.
    cc: Compiler,
    ar: PathBuf,
    make: Option<PathBuf>,
}

impl Toolchain {
    fn find(version: LuaVersion) -> Result<Toolchain, InterpreterError> {
        let what = format!("{} from source", version.display_name());
        let cc = Compiler::detect()
            .ok_or_else(|| InterpreterError::NoCompiler { what: what.clone() })?;
        let missing = |tool: &str, package: &str| InterpreterError::MissingTool {
            tool: tool.into(),
            package: package.into(),
            what: what.clone(),
        };
        let ar = which("ar")
            .or_else(|| which("llvm-ar"))
            .ok_or_else(|| missing("ar", "binutils"))?;
        let make = if version == LuaVersion::LuaJit {
            Some(
                which("make")
                    .or_else(|| which("gmake"))
                    .ok_or_else(|| missing("make", "make"))?,
            )
        } else {
            None
        };
        Ok(Toolchain { cc, ar, make })
    }

    fn cc(&self) -> Command {
        self.cc.command()
    }
}

fn jobs() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(8)
}

fn build(
    version: LuaVersion,
    tools: &Toolchain,
    tmp: &Path,
    dest: &Path,
) -> Result<InstallRecord, InterpreterError> {
    let src = tmp.join("src");
    extract(version, &src)
        .map_err(|e| InterpreterError::io("cannot unpack the sources into", &src, e))?;
    let manifest = match version {
        LuaVersion::LuaJit => build_luajit(tools, tmp, &src, dest)?,
        v => build_lua(v, tools, tmp, &src)?,
    };
    let _ = fs::remove_dir_all(&src);
    let text = serde_json::to_string_pretty(&manifest).unwrap_or_default();
    let path = tmp.join(MANIFEST);
    fs::write(&path, text).map_err(|e| InterpreterError::io("cannot write", &path, e))?;
    Ok(manifest)
}

fn mkdirs(dirs: &[&Path]) -> Result<(), InterpreterError> {
    for d in dirs {
        fs::create_dir_all(d).map_err(|e| InterpreterError::io("cannot create", d, e))?;
    }
    Ok(())
}

fn copy(from: &Path, to: &Path) -> Result<(), InterpreterError> {
    fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| InterpreterError::io("cannot copy", from, e))
}

/// Runs a build step, turning a failure into an error that shows the tool's output.
fn run(mut cmd: Command, what: &str, step: &str) -> Result<(), InterpreterError> {
    let output = cmd.output().map_err(|e| InterpreterError::BuildFailed {
        what: what.into(),
        step: step.into(),
        output: e.to_string(),
    })?;
    if output.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    // The end of a long log says what went wrong.
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(40)..].join("\n");
    Err(InterpreterError::BuildFailed {
        what: what.into(),
        step: step.into(),
        output: tail,
    })
}

fn build_lua(
    version: LuaVersion,
    tools: &Toolchain,
    tmp: &Path,
    src: &Path,
) -> Result<InstallRecord, InterpreterError> {
    let what = format!("Lua {}", super::bundled_release(version));
    let driver = src.join("pylua_lua.c");
    fs::write(&driver, DRIVER).map_err(|e| InterpreterError::io("cannot write", &driver, e))?;
    let (bin, include, lib, obj) = (
        tmp.join("bin"),
        tmp.join("include"),
        tmp.join("lib"),
        src.join("obj"),
    );
    mkdirs(&[&bin, &include, &lib, &obj])?;

    let mut flags: Vec<&str> = vec!["-O2", "-fPIC", "-std=gnu99", "-w"];
    flags.push(if cfg!(target_os = "linux") {
        "-DLUA_USE_LINUX"
    } else if cfg!(target_os = "macos") {
        "-DLUA_USE_MACOSX"
    } else {
        "-DLUA_USE_POSIX"
    });
    if !cfg!(any(target_os = "linux", target_os = "macos")) {
        flags.push("-DLUA_USE_DLOPEN");
    }
    // The compatibility options the reference builds use.
    flags.extend(match version {
        LuaVersion::Lua52 => Some("-DLUA_COMPAT_ALL"),
        LuaVersion::Lua53 => Some("-DLUA_COMPAT_5_2"),
        LuaVersion::Lua54 => Some("-DLUA_COMPAT_5_3"),
        _ => None,
    });

    let mut sources: Vec<PathBuf> = fs::read_dir(src)
        .map_err(|e| InterpreterError::io("cannot read", src, e))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "c"))
        .collect();
    sources.sort();
    let objects: Vec<PathBuf> = sources
        .iter()
        .map(|s| {
            obj.join(s.file_stem().unwrap_or_default())
                .with_extension("o")
        })
        .collect();
    compile_all(tools, &flags, src, &sources, &objects, &what)?;

    let (driver_obj, lib_objs): (Vec<&PathBuf>, Vec<&PathBuf>) = objects
        .iter()
        .partition(|o| o.file_stem().is_some_and(|s| s == "pylua_lua"));

    let exe = bin.join("lua");
    let mut link = tools.cc();
    link.arg("-o").arg(&exe).args(&lib_objs).args(&driver_obj);
    if cfg!(target_os = "linux") {
        link.args(["-Wl,-E", "-lm", "-ldl"]);
    } else {
        link.arg("-lm");
    }
    run(link, &what, "link bin/lua")?;

    let static_lib = lib.join("liblua.a");
    let mut ar = Command::new(&tools.ar);
    ar.arg("rcs").arg(&static_lib).args(&lib_objs);
    run(ar, &what, "ar lib/liblua.a")?;
    let mut shared = tools.cc();
    if cfg!(target_os = "macos") {
        shared
            .args(["-dynamiclib", "-o"])
            .arg(lib.join("liblua.dylib"));
    } else {
        shared.args(["-shared", "-o"]).arg(lib.join("liblua.so"));
    }
    shared.args(&lib_objs).arg("-lm");
    run(shared, &what, "link the shared library")?;

    for h in HEADERS {
        copy(&src.join(h), &include.join(h))?;
    }
    let hpp = include.join("lua.hpp");
    fs::write(&hpp, LUA_HPP).map_err(|e| InterpreterError::io("cannot write", &hpp, e))?;

    let release = verify(version, &exe, &what)?;
    Ok(InstallRecord {
        version,
        release,
        source: source_key(version),
        executable: "bin/lua".into(),
        include: "include".into(),
        library: "lib/liblua.a".into(),
        built_at: now(),
    })
}

/// Compiles every source on a few threads; the first failure stops the rest.
fn compile_all(
    tools: &Toolchain,
    flags: &[&str],
    src: &Path,
    sources: &[PathBuf],
    objects: &[PathBuf],
    what: &str,
) -> Result<(), InterpreterError> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let error: Mutex<Option<InterpreterError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..jobs() {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= sources.len() || failed.load(Ordering::Relaxed) {
                    return;
                }
                let mut cmd = tools.cc();
                cmd.args(flags)
                    .arg("-I")
                    .arg(src)
                    .arg("-c")
                    .arg(&sources[i])
                    .arg("-o")
                    .arg(&objects[i]);
                let name = sources[i].file_name().unwrap_or_default().to_string_lossy();
                if let Err(e) = run(cmd, what, &format!("compile {name}")) {
                    failed.store(true, Ordering::Relaxed);
                    error
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get_or_insert(e);
                    return;
                }
            });
        }
    });
    match error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn build_luajit(
    tools: &Toolchain,
    tmp: &Path,
    src: &Path,
    dest: &Path,
) -> Result<InstallRecord, InterpreterError> {
    let what = "LuaJIT".to_string();
    let make = tools.make.as_ref().expect("make is found for LuaJIT");
    let cc = tools.cc.to_variable();
    let mut cmd = Command::new(make);
    cmd.arg("-C")
        .arg(src.join("src"))
        .arg(format!("-j{}", jobs()))
        .arg("BUILDMODE=static")
        .arg(format!("CC={cc}"))
        .arg("XCFLAGS=-fPIC")
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .env_remove("MAKELEVEL");
    if cfg!(target_os = "macos") && std::env::var_os("MACOSX_DEPLOYMENT_TARGET").is_none() {
        // LuaJIT's Makefile refuses to guess it.
        cmd.env("MACOSX_DEPLOYMENT_TARGET", "11.0");
    }
    // The final directory is compiled in, so `require "jit.v"` finds share/luajit-2.1. Make
    // can't quote it, so an unusual path goes without (only the jit.* tools miss it).
    let prefix = dest.to_string_lossy();
    if !prefix.contains(|c: char| c.is_whitespace() || "\"'\\$#".contains(c)) {
        cmd.arg(format!("PREFIX={prefix}"));
    }
    run(cmd, &what, "make")?;

    let built = src.join("src");
    let (bin, include, lib, jit) = (
        tmp.join("bin"),
        tmp.join("include"),
        tmp.join("lib"),
        tmp.join("share/luajit-2.1/jit"),
    );
    mkdirs(&[&bin, &include, &lib, &jit])?;
    let exe = bin.join("luajit");
    copy(&built.join("luajit"), &exe)?;
    for h in [
        "lua.h",
        "luaconf.h",
        "lualib.h",
        "lauxlib.h",
        "lua.hpp",
        "luajit.h",
    ] {
        copy(&built.join(h), &include.join(h))?;
    }
    copy(&built.join("libluajit.a"), &lib.join("libluajit-5.1.a"))?;
    if let Ok(entries) = fs::read_dir(built.join("jit")) {
        for entry in entries.flatten() {
            if entry.path().extension().is_some_and(|x| x == "lua") {
                copy(&entry.path(), &jit.join(entry.file_name()))?;
            }
        }
    }
    let release = verify(LuaVersion::LuaJit, &exe, &what)?;
    Ok(InstallRecord {
        version: LuaVersion::LuaJit,
        release,
        source: source_key(LuaVersion::LuaJit),
        executable: "bin/luajit".into(),
        include: "include".into(),
        library: "lib/libluajit-5.1.a".into(),
        built_at: now(),
    })
}

/// Runs the new interpreter once: it must say it is the version just built.
fn verify(version: LuaVersion, exe: &Path, what: &str) -> Result<String, InterpreterError> {
    match probe(exe) {
        Some((v, release)) if v == version => Ok(release),
        other => Err(InterpreterError::BuildFailed {
            what: what.into(),
            step: format!("{} -v", exe.display()),
            output: format!("the new interpreter answered {other:?}"),
        }),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
