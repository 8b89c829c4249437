//! The same package set as LuaRocks: on hand-made graphs (revisions, `~>`, `==`, `lua`
//! constraints, shared dependencies), `pylua install --dry-run` must plan exactly what
//! `luarocks install` installs. Runs where Debian's luarocks and the Lua 5.4 headers it needs
//! are installed (`.ci/run` has them after building the realrocks mirror); says so otherwise.

mod common;

use common::RockServer;
use serde_json::Value;
use std::collections::BTreeSet;
use std::process::Command;

fn luarocks_available() -> bool {
    Command::new("luarocks")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
        && std::path::Path::new("/usr/include/lua5.4/lua.h").exists()
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
        eprintln!("luarocks parity skipped: luarocks or /usr/include/lua5.4/lua.h not installed");
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
