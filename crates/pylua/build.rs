//! Bundles the Lua and LuaJIT sources that ship with pylua (the `lua-src` and `luajit-src`
//! crates) into one compressed archive inside the library, so `pylua lua install` can build
//! interpreters on a machine with no network and no cargo registry.
//!
//! The crates do not export where their sources live, so this asks `cargo metadata` (the
//! documented way to locate a dependency's files, vendored or not) and falls back to the
//! registry's source directory.

use flate2::write::GzEncoder;
use flate2::Compression;
use std::env;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

struct Crate {
    version: String,
    dir: PathBuf,
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let lua = locate("lua-src");
    let luajit = locate("luajit-src");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));

    let file = File::create(out.join("lua-sources.tar.gz")).expect("create the source bundle");
    let gz = GzEncoder::new(BufWriter::new(file), Compression::new(6));
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    let mut releases = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&lua.dir)
        .expect("read the lua-src sources")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("lua-5."))
        .collect();
    entries.sort();
    for name in &entries {
        tar.append_dir_all(name, lua.dir.join(name))
            .expect("bundle the Lua sources");
        println!("cargo:rerun-if-changed={}", lua.dir.join(name).display());
        releases.push(name.trim_start_matches("lua-").to_string());
    }
    tar.append_path_with_name(lua.dir.join("LICENSE"), "lua-LICENSE")
        .expect("bundle the Lua license");
    tar.append_dir_all("luajit", luajit.dir.join("luajit2"))
        .expect("bundle the LuaJIT sources");
    println!(
        "cargo:rerun-if-changed={}",
        luajit.dir.join("luajit2").display()
    );
    let mut gz = tar.into_inner().expect("finish the source bundle");
    gz.flush().expect("write the source bundle");
    gz.finish().expect("write the source bundle");

    compile_interruptible_patterns(&lua.dir, &out);
    compile_counting_vm(&lua.dir, &out);
    compile_closing_check(&lua.dir);

    println!("cargo:rustc-env=PYLUA_LUA_SRC_VERSION={}", lua.version);
    println!(
        "cargo:rustc-env=PYLUA_LUAJIT_SRC_VERSION={}",
        luajit.version
    );
    println!("cargo:rustc-env=PYLUA_LUA_RELEASES={}", releases.join(","));
}

/// Finds a dependency's source directory and version.
fn locate(name: &str) -> Crate {
    if let Some(found) = from_metadata(name) {
        return found;
    }
    if let Some(found) = from_registry(name) {
        return found;
    }
    panic!(
        "cannot find the sources of the `{name}` crate: `cargo metadata` did not list it and it \
         is not in the cargo registry's source directory"
    );
}

fn from_metadata(name: &str) -> Option<Crate> {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = Path::new(&env::var_os("CARGO_MANIFEST_DIR")?).join("Cargo.toml");
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline", "--locked"])
        .arg("--manifest-path")
        .arg(manifest)
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).ok()?;
    let mut found: Vec<Crate> = doc["packages"]
        .as_array()?
        .iter()
        .filter(|p| p["name"] == name)
        .filter_map(|p| {
            Some(Crate {
                version: p["version"].as_str()?.to_string(),
                dir: Path::new(p["manifest_path"].as_str()?)
                    .parent()?
                    .to_path_buf(),
            })
        })
        .collect();
    // Only one version is locked in practice; take the newest if ever there are more.
    found.sort_by(|a, b| a.version.cmp(&b.version));
    found.pop()
}

fn from_registry(name: &str) -> Option<Crate> {
    let home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
    let mut found = Vec::new();
    for index in std::fs::read_dir(home.join("registry/src")).ok()?.flatten() {
        for entry in std::fs::read_dir(index.path()).ok()?.flatten() {
            let file_name = entry.file_name().to_string_lossy().into_owned();
            if let Some(version) = file_name.strip_prefix(&format!("{name}-")) {
                if version.starts_with(|c: char| c.is_ascii_digit()) {
                    found.push(Crate {
                        version: version.to_string(),
                        dir: entry.path(),
                    });
                }
            }
        }
    }
    found.sort_by(|a, b| a.version.cmp(&b.version));
    found.pop()
}

/// The directory of the Lua 5.4 release `lua-src` carries (the one mlua embeds).
fn lua54_dir(lua_src: &Path) -> PathBuf {
    std::fs::read_dir(lua_src)
        .expect("read the lua-src sources")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("lua-5.4"))
        })
        .expect("lua-src carries Lua 5.4")
}

/// Replaces `from` by `to` in `source`, which must hold it exactly `times` times: a Lua
/// release that changed shape stops the build instead of running unpatched.
fn patch(source: &mut String, file: &str, from: &str, to: &str, times: usize) {
    let found = source.matches(from).count();
    assert_eq!(
        found, times,
        "{file} changed shape: expected {times} occurrence(s) of {from:?}, found {found}"
    );
    *source = source.replace(from, to);
}

/// An instruction budget that costs (almost) nothing: Lua's count hook makes the VM trace
/// every instruction, about 2× slower. This compiles Lua 5.4's own `lvm.c` so that each Lua
/// thread counts down its own `hookcount` at calls (1), returns (the length of the path to
/// the return) and backward jumps (the length of the loop body), and calls
/// `pylua_vm_tick(L, used)` (`runtime/guard.rs`) when it reaches zero; the host charges the
/// run's budget, raises a fired limit, or gives the next interval. Without a count hook Lua
/// itself never reads `hookcount`; while one is set (a fired limit's) the tick lets it run.
///
/// The object defines every symbol `lvm.c` does, and the library's Rust code calls
/// `pylua_vm_set_countdown`, which only it defines: so the linker takes this `lvm.o` from the
/// pylua library (linked before mlua's Lua, which it depends on) and never the unpatched one
/// (whose symbols are then all defined). Were both taken, the link fails on duplicates; the
/// limits tests fail if neither patch is live. Same defines as `lua-src` (struct layouts and
/// `LUA_COMPAT_5_3`'s comparison fallback must match the rest of the VM).
fn compile_counting_vm(lua_src: &Path, out: &Path) {
    let dir = lua54_dir(lua_src);
    let mut source = std::fs::read_to_string(dir.join("lvm.c")).expect("read lvm.c");
    let f = "lvm.c";
    patch(
        &mut source,
        f,
        "#define dojump(ci,i,e)\t{ pc += GETARG_sJ(i) + e; updatetrap(ci); }",
        "#define dojump(ci,i,e)\t{ int sj_ = GETARG_sJ(i) + e; pc += sj_; \\\n  if (l_unlikely(sj_ < 0)) pylua_charge(-sj_); updatetrap(ci); }",
        1,
    );
    patch(
        &mut source,
        f,
        "void luaV_execute (lua_State *L, CallInfo *ci) {",
        COUNTING_PRELUDE,
        1,
    );
    patch(
        &mut source,
        f,
        "pc -= GETARG_Bx(i);  /* jump back */",
        "{ pc -= GETARG_Bx(i); pylua_charge(GETARG_Bx(i)); }",
        3,
    );
    // A call: after the call's top is set (the tick must not move it), before the call.
    patch(
        &mut source,
        f,
        "        /* else previous instruction set top */\n        savepc(L);  /* in case of errors */",
        "        /* else previous instruction set top */\n        pylua_charge_keep_top(1);\n        savepc(L);  /* in case of errors */",
        1,
    );
    patch(
        &mut source,
        f,
        "          b = cast_int(L->top.p - ra);\n        savepc(ci);  /* several calls here can raise errors */",
        "          b = cast_int(L->top.p - ra);\n        pylua_charge_keep_top(pylua_path(pc, cl));\n        savepc(ci);  /* several calls here can raise errors */",
        1,
    );
    // Returns: the length of the path from the function's start (the count of results is
    // read first; from there on `L->top` is free, as the return itself sets it).
    patch(
        &mut source,
        f,
        "          n = cast_int(L->top.p - ra);  /* get what is available */\n        savepc(ci);",
        "          n = cast_int(L->top.p - ra);  /* get what is available */\n        pylua_charge(pylua_path(pc, cl));\n        savepc(ci);",
        1,
    );
    for op in ["OP_RETURN0", "OP_RETURN1"] {
        patch(
            &mut source,
            f,
            &format!("      vmcase({op}) {{\n"),
            &format!("      vmcase({op}) {{\n        pylua_charge(pylua_path(pc, cl));\n"),
            1,
        );
    }
    let file = out.join("lvm_counting.c");
    std::fs::write(&file, source).expect("write the patched lvm.c");
    let mut build = lua_internals_build(&dir);
    build
        .file(&file)
        .warnings(false)
        .flag_if_supported("-fno-common");
    build.compile("pylua_counting_vm");
    println!("cargo:rerun-if-changed={}", dir.join("lvm.c").display());
}

/// A C build against the internals of the Lua 5.4 release in `dir` (the one mlua embeds),
/// with `lua-src`'s defines: struct layouts and `LUA_COMPAT_5_3`'s comparison fallback must
/// match the rest of the VM.
fn lua_internals_build(dir: &Path) -> cc::Build {
    let mut build = cc::Build::new();
    build
        .include(dir)
        .opt_level(2)
        .define("LUA_COMPAT_5_3", None);
    if env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        build.define("LUA_USE_LINUX", None);
    } else {
        build.define("LUA_USE_POSIX", None);
    }
    // As `lua-src` (whose build script runs under the same profile).
    if cfg!(debug_assertions) {
        build.define("LUA_USE_APICHECK", None);
    }
    build
}

/// `pylua_close_has_work` (`src/runtime/closing.c`), which reads a state's internals.
fn compile_closing_check(lua_src: &Path) {
    let file = Path::new("src/runtime/closing.c");
    lua_internals_build(&lua54_dir(lua_src))
        .file(file)
        .compile("pylua_closing");
    println!("cargo:rerun-if-changed={}", file.display());
}

/// Inserted before `luaV_execute` (see [`compile_counting_vm`]).
const COUNTING_PRELUDE: &str = r#"/* pylua: the VM counts its own instruction budget (see pylua's build.rs). */
int pylua_vm_tick (lua_State *L, int used);

/* Sets a thread's countdown; the host calls it between runs. */
void pylua_vm_set_countdown (lua_State *L, int n) {
  L->basehookcount = n;
  L->hookcount = n;
}

static void pylua_settle (lua_State *L) {
  int used, next;
  if (L->hookmask & LUA_MASKCOUNT) {
    /* A count hook owns the counter (a fired limit's): charge its period and let it run
       at the next instruction, which resets the counter. */
    L->hookcount = 1;
    pylua_vm_tick(L, L->basehookcount);
    return;
  }
  used = L->basehookcount - L->hookcount;
  /* Zero while the host decides: if it raises, the next charge asks again. */
  L->basehookcount = L->hookcount = 0;
  next = pylua_vm_tick(L, used);
  L->basehookcount = L->hookcount = next;
}

/* Instructions from the function's start to 'pc' (the path to a return). */
#define pylua_path(pc,cl)  cast_int((pc) - (cl)->p->code)

/* Charges 'n'; at zero asks the host, with the stack in order for an error. */
#define pylua_charge(n)  \
  { if (l_unlikely((L->hookcount -= (n)) <= 0)) { \
      savestate(L,ci); pylua_settle(L); updatetrap(ci); } }

/* The same where 'L->top' already means something (a call's arguments). */
#define pylua_charge_keep_top(n)  \
  { if (l_unlikely((L->hookcount -= (n)) <= 0)) { \
      savepc(L); pylua_settle(L); updatetrap(ci); } }

void luaV_execute (lua_State *L, CallInfo *ci) {"#;

/// Lua's pattern matcher runs in C, where no hook can stop it, so one `string.find` with a
/// pathological pattern could outlast any timeout. This compiles Lua 5.4's own `lstrlib.c`
/// (the release embedded by mlua) with one change: every step of the matcher calls
/// `pylua_pattern_tick`, which raises the VM's fired limit (see `runtime/guard.rs`). VMs with
/// limits take `find`, `match`, `gmatch` and `gsub` from it.
fn compile_interruptible_patterns(lua_src: &Path, out: &Path) {
    let dir = lua54_dir(lua_src);
    let source = std::fs::read_to_string(dir.join("lstrlib.c")).expect("read lstrlib.c");
    let entry = "static const char *match (MatchState *ms, const char *s, const char *p) {\n";
    assert!(
        source.contains(entry),
        "lstrlib.c changed shape: the matcher's entry was not found"
    );
    let patched = source.replace(
        entry,
        &format!("void pylua_pattern_tick (lua_State *L);\n{entry}  pylua_pattern_tick(ms->L);\n"),
    );
    let file = out.join("lstrlib_interruptible.c");
    std::fs::write(&file, patched).expect("write the patched lstrlib.c");
    cc::Build::new()
        .file(&file)
        .include(&dir)
        .define("luaopen_string", "pylua_luaopen_string_interruptible")
        .warnings(false)
        .compile("pylua_patterns");
    println!("cargo:rerun-if-changed={}", dir.join("lstrlib.c").display());
}
