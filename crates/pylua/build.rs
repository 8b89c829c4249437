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

/// Lua's pattern matcher runs in C, where no hook can stop it, so one `string.find` with a
/// pathological pattern could outlast any timeout. This compiles Lua 5.4's own `lstrlib.c`
/// (the release embedded by mlua) with one change: every step of the matcher calls
/// `pylua_pattern_tick`, which raises the VM's fired limit (see `runtime/guard.rs`). VMs with
/// limits take `find`, `match`, `gmatch` and `gsub` from it.
fn compile_interruptible_patterns(lua_src: &Path, out: &Path) {
    let dir = std::fs::read_dir(lua_src)
        .expect("read the lua-src sources")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("lua-5.4"))
        })
        .expect("lua-src carries Lua 5.4");
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
