//! The same packages and the same trees as LuaRocks.
//!
//! * On hand-made graphs (revisions, `~>`, `==`, `lua` constraints, shared dependencies),
//!   `pylua install --dry-run` must plan exactly what `luarocks install` installs.
//! * On every package of the realrocks mirror (real upstream packages), `pylua install` must
//!   give the tree `luarocks install` gives, file for file: every path, every byte, every
//!   permission — for Lua 5.4 and 5.1. Only what cannot be the same is left out: the
//!   command wrappers in `bin/` (LuaRocks' start `lua5.x`, pylua's start pylua; their names
//!   must match) and pylua's own bookkeeping (`.pylua-lock`, `.pylua-launcher`).
//!
//! Needs Debian's `luarocks`, `lua5.4`/`lua5.1` with their headers, and `PYLUA_REALROCKS`;
//! `.ci/run` installs them. Without them the tests fail under `CI=true` and say what they
//! skipped elsewhere.

mod common;

use common::RockServer;
use serde_json::Value;
use std::collections::BTreeSet;
use std::process::Command;

fn luarocks_available() -> bool {
    if !common::have_program("luarocks") {
        return false;
    }
    let headers = std::path::Path::new("/usr/include/lua5.4/lua.h").exists();
    if !headers {
        common::missing_prerequisite("/usr/include/lua5.4/lua.h (liblua5.4-dev) is not installed");
    }
    headers
}

fn module(name: &str) -> String {
    format!(
        r#"type = "builtin", modules = {{ ["{m}"] = "{m}.lua" }}"#,
        m = name.replace('-', "_")
    )
}

#[test]
fn dry_run_plans_what_luarocks_installs() {
    if !luarocks_available() {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let mut s = RockServer::new(&home.path().join("server"));
    let pkg = |s: &mut RockServer, name: &str, version: &str, deps: &[&str]| {
        let m = name.replace('-', "_");
        s.package(
            name,
            version,
            deps,
            &[(&format!("{m}.lua"), "return {}")],
            &module(name),
        );
    };
    pkg(&mut s, "base", "1.0-1", &["lua >= 5.1"]);
    pkg(&mut s, "base", "1.0-2", &["lua >= 5.1"]);
    pkg(&mut s, "base", "1.1-1", &["lua >= 5.1"]);
    pkg(&mut s, "base", "2.0-1", &["lua >= 5.1"]);
    pkg(&mut s, "mid", "1.0-1", &["base ~> 1.0"]);
    pkg(&mut s, "mid", "1.5-1", &["base ~> 1"]);
    pkg(&mut s, "pinned", "0.9-1", &["base == 1.0"]);
    pkg(&mut s, "top", "1.0-1", &["mid >= 1.0", "leaf"]);
    pkg(&mut s, "leaf", "0.1-1", &[]);
    pkg(&mut s, "leaf", "0.2-1", &["base > 1.0, < 2"]);
    s.publish_versioned();

    let mut compared = Vec::new();
    for request in ["base", "mid", "pinned", "top", "leaf"] {
        let pylua = assert_cmd::Command::cargo_bin("pylua")
            .unwrap()
            .env("PYLUA_HOME", home.path().join("pylua-home"))
            .args([
                "install",
                "--dry-run",
                "--json",
                request,
                "--only-server",
                &s.url(),
            ])
            .output()
            .unwrap();
        let doc: Value = serde_json::from_slice(&pylua.stdout).unwrap();
        let ours: BTreeSet<String> = doc["result"]["packages"]
            .as_array()
            .unwrap_or_else(|| panic!("{request}: {doc}"))
            .iter()
            .map(|p| {
                format!(
                    "{} {}",
                    p["name"].as_str().unwrap(),
                    p["version"].as_str().unwrap()
                )
            })
            .collect();
        let tree = home.path().join(format!("lr-{request}"));
        let install = Command::new("luarocks")
            .args(["--lua-version=5.4", "--tree"])
            .arg(&tree)
            .arg(format!("--only-server={}", s.dir.display()))
            .args(["install", request])
            .output()
            .unwrap();
        assert!(
            install.status.success(),
            "luarocks install {request}: {}",
            String::from_utf8_lossy(&install.stderr)
        );
        let list = Command::new("luarocks")
            .args(["--lua-version=5.4", "--tree"])
            .arg(&tree)
            .args(["list", "--porcelain"])
            .output()
            .unwrap();
        let theirs: BTreeSet<String> = String::from_utf8_lossy(&list.stdout)
            .lines()
            .filter_map(|l| {
                let mut f = l.split('\t');
                Some(format!("{} {}", f.next()?, f.next()?))
            })
            .collect();
        assert_eq!(
            ours, theirs,
            "request {request}: pylua plans {ours:?}, luarocks installs {theirs:?}"
        );
        compared.push(format!(
            "{request}: {}",
            ours.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    eprintln!(
        "same package sets as luarocks:\n  {}",
        compared.join("\n  ")
    );

    // Where they differ on purpose: LuaRocks takes the newest `mid` and then fails on its
    // `lua < 5.4`; the resolver skips that version.
    pkg(&mut s, "mid", "3.0-1", &["base >= 2", "lua < 5.4"]);
    s.publish_versioned();
    let tree = home.path().join("lr-mid-newer");
    let install = Command::new("luarocks")
        .args(["--lua-version=5.4", "--tree"])
        .arg(&tree)
        .arg(format!("--only-server={}", s.dir.display()))
        .args(["install", "mid"])
        .output()
        .unwrap();
    assert!(
        !install.status.success(),
        "luarocks is expected to fail here"
    );
    let pylua = assert_cmd::Command::cargo_bin("pylua")
        .unwrap()
        .env("PYLUA_HOME", home.path().join("pylua-home"))
        .args(["install", "--dry-run", "mid", "--only-server", &s.url()])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&pylua.stdout).contains("mid 1.5-1"));
}

/// Every file of a tree: relative path → (permission bits, contents); the wrappers in `bin/`
/// by name only (see the module docs).
fn tree_files(root: &std::path::Path) -> std::collections::BTreeMap<String, (u32, Vec<u8>)> {
    use std::os::unix::fs::PermissionsExt;
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(root, &mut files);
    files
        .into_iter()
        .filter_map(|path| {
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if rel == ".pylua-lock" || rel == ".pylua-launcher" {
                return None;
            }
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            let bytes = if rel.starts_with("bin/") {
                Vec::new()
            } else {
                std::fs::read(&path).unwrap()
            };
            Some((rel, (mode, bytes)))
        })
        .collect()
}

fn same_trees_as_luarocks(lua: &str) {
    let Some(mirror) = common::realrocks_mirror() else {
        return;
    };
    if !common::have_program("luarocks") || !common::have_program(&format!("lua{lua}")) {
        return;
    }
    let mut packages: Vec<String> = std::fs::read_dir(&mirror)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            // NAME-VERSION-REV.ARCH.rock (ARCH: src, all, linux-x86_64…)
            let (stem, _arch) = name.strip_suffix(".rock")?.rsplit_once('.')?;
            let mut parts: Vec<&str> = stem.rsplitn(3, '-').collect();
            parts.reverse();
            (parts.len() == 3).then(|| parts[0].to_string())
        })
        .collect();
    packages.sort();
    packages.dedup();
    assert!(
        packages.len() >= 15,
        "the mirror has too few packages: {packages:?}"
    );
    let home = tempfile::tempdir().unwrap();
    let mut differences = Vec::new();
    for name in &packages {
        let theirs = home.path().join(format!("luarocks-{name}"));
        let ours = home.path().join(format!("pylua-{name}"));
        let out = Command::new("luarocks")
            .arg(format!("--lua-version={lua}"))
            .arg("--tree")
            .arg(&theirs)
            .arg(format!("--only-server={mirror}"))
            .args(["install", name])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "luarocks install {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_cmd::Command::cargo_bin("pylua")
            .unwrap()
            .env("PYLUA_HOME", home.path().join("pylua-home"))
            .args([
                "install",
                name,
                "--lua",
                lua,
                "--only-server",
                &mirror,
                "--tree",
            ])
            .arg(&ours)
            .assert()
            .success();
        let (theirs, ours) = (tree_files(&theirs), tree_files(&ours));
        for path in theirs.keys().chain(ours.keys()).collect::<BTreeSet<_>>() {
            let what = match (theirs.get(path), ours.get(path)) {
                (Some(_), None) => "only luarocks installs it".to_string(),
                (None, Some(_)) => "only pylua installs it".to_string(),
                (Some((m1, _)), Some((m2, _))) if m1 != m2 => {
                    format!("mode {m1:o} (luarocks) vs {m2:o} (pylua)")
                }
                (Some((_, a)), Some((_, b))) if a != b => "contents differ".to_string(),
                _ => continue,
            };
            differences.push(format!("Lua {lua} {name}: {path}: {what}"));
        }
    }
    assert!(
        differences.is_empty(),
        "trees differ from LuaRocks':\n  {}",
        differences.join("\n  ")
    );
    eprintln!(
        "Lua {lua}: {} packages, the same trees as luarocks",
        packages.len()
    );
}

#[test]
fn every_realrocks_package_gives_luarocks_tree_on_5_4() {
    same_trees_as_luarocks("5.4");
}

#[test]
fn every_realrocks_package_gives_luarocks_tree_on_5_1() {
    same_trees_as_luarocks("5.1");
}
