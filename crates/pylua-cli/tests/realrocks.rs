//! The real world: every package of the realrocks mirror (real upstream packages from Debian's
//! source packages, built by `../shared/realrocks/build-mirror.py`) installed into its own
//! fresh tree for the embedded Lua 5.4 and for a Lua 5.1 that pylua provisions itself, then
//! every module it installed required by that Lua. When LuaRocks is on the machine, it must
//! list each tree too.
//!
//! Opt-in because building the mirror needs Debian's archive: set `PYLUA_REALROCKS` to the
//! mirror directory (`.ci/run` builds it and does). Without it the test says so and passes.

use assert_cmd::Command;
use serde_json::Value;

#[test]
fn every_mirror_package_installs_and_loads_on_the_embedded_5_4_and_a_provisioned_5_1() {
    let Some(mirror) = std::env::var_os("PYLUA_REALROCKS") else {
        eprintln!(
            "realrocks suite skipped: set PYLUA_REALROCKS to a mirror built by build-mirror.py"
        );
        return;
    };
    let mirror = mirror.to_string_lossy().into_owned();
    let home = tempfile::tempdir().unwrap();
    let pylua = || {
        let mut c = Command::cargo_bin("pylua").unwrap();
        c.env("PYLUA_HOME", home.path().join("home"));
        c
    };
    let out = pylua()
        .args(["search", "", "--json", "--only-server", &mirror])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<String> = doc["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap().to_string())
        .collect();
    assert!(
        names.len() >= 10,
        "the mirror has too few packages: {names:?}"
    );
    pylua().args(["lua", "install", "5.1"]).assert().success();
    let mut report = Vec::new();
    let mut failures = Vec::new();
    for (lua, name) in ["5.4", "5.1"]
        .iter()
        .flat_map(|l| names.iter().map(move |n| (*l, n)))
    {
        let tree = home.path().join(format!("tree-{lua}-{name}"));
        let tree = tree.to_str().unwrap();
        let install = pylua()
            .args([
                "install",
                name,
                "--lua",
                lua,
                "--only-server",
                &mirror,
                "--tree",
                tree,
            ])
            .output()
            .unwrap();
        if !install.status.success() {
            failures.push(format!(
                "{name}: install failed: {}",
                String::from_utf8_lossy(&install.stderr)
            ));
            continue;
        }
        let listed: Value = serde_json::from_slice(
            &pylua()
                .args(["list", "--json", "--tree", tree])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        let modules: Vec<String> = listed["result"]["packages"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| {
                p["modules"]
                    .as_object()
                    .unwrap()
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut loaded = 0;
        for module in &modules {
            let code = format!("local ok, err = pcall(require, {module:?}) if not ok then error(err, 0) end return 'ok'");
            let run = pylua()
                .args(["eval", "--lua", lua, "--tree", tree, &code])
                .output()
                .unwrap();
            if run.status.success() {
                loaded += 1;
            } else {
                failures.push(format!(
                    "{name} on {lua}: require '{module}': {}",
                    String::from_utf8_lossy(&run.stderr).trim()
                ));
            }
        }
        // LuaRocks itself reads the tree.
        if let Ok(out) = std::process::Command::new("luarocks")
            .args(["--lua-version", lua, "--tree", tree, "list", "--porcelain"])
            .output()
        {
            let text = String::from_utf8_lossy(&out.stdout);
            if !text.lines().any(|l| l.starts_with(&format!("{name}\t"))) {
                failures.push(format!(
                    "{name} on {lua}: luarocks list does not show it: {text}"
                ));
            }
        }
        report.push(format!(
            "Lua {lua}  {name:<18} installed, {loaded}/{} modules load",
            modules.len()
        ));
    }
    eprintln!(
        "realrocks (embedded Lua 5.4, provisioned Lua 5.1):\n  {}",
        report.join("\n  ")
    );
    assert!(
        failures.is_empty(),
        "failures:\n  {}",
        failures.join("\n  ")
    );
}

/// The project story on real packages: the standard profile (real penlight, lua-cjson and
/// luafilesystem, whose C modules are compiled here) locks, syncs and runs; `profile use
/// minimal` takes them away; `rollback` brings back the very same tree; and the lock
/// reproduces that tree byte for byte in another directory.
#[test]
fn the_standard_profile_locks_syncs_runs_and_rolls_back_on_real_packages() {
    let Some(mirror) = std::env::var_os("PYLUA_REALROCKS") else {
        eprintln!("realrocks project story skipped: set PYLUA_REALROCKS");
        return;
    };
    let mirror = mirror.to_string_lossy().into_owned();
    let home = tempfile::tempdir().unwrap();
    let pylua = |dir: &str, args: &[&str]| {
        let cwd = home.path().join(dir);
        std::fs::create_dir_all(&cwd).unwrap();
        let mut c = Command::cargo_bin("pylua").unwrap();
        c.env("PYLUA_HOME", home.path().join("home"))
            .current_dir(cwd)
            .args(args);
        c
    };
    let hash = |dir: &str| -> String {
        let out = pylua(dir, &["status", "--json"]).output().unwrap();
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        doc["result"]["tree_hash"].as_str().unwrap().to_string()
    };
    let script = "local pretty = require 'pl.pretty'\nlocal cjson = require 'cjson'\nlocal lfs = require 'lfs'\nprint(cjson.encode({ok = true}), pretty.write({1}, ''), type(lfs.currentdir()))\n";
    pylua(
        "app",
        &["init", "--profile", "standard", "--server", &mirror],
    )
    .assert()
    .success();
    std::fs::write(home.path().join("app/main.lua"), script).unwrap();
    pylua("app", &["lock"]).assert().success();
    pylua("app", &["sync"]).assert().success();
    pylua("app", &["run", "main.lua"])
        .assert()
        .success()
        .stdout("{\"ok\":true}\t{1}\tstring\n");
    let before = hash("app");
    pylua("app", &["profile", "use", "minimal", "--yes"])
        .assert()
        .success();
    pylua("app", &["run", "main.lua"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("module 'pl.pretty' not found"));
    pylua("app", &["rollback"]).assert().success();
    pylua("app", &["run", "main.lua"]).assert().success();
    assert_eq!(hash("app"), before);
    pylua("app", &["export", "-o", "../env.toml"])
        .assert()
        .success();
    pylua("copy", &["import", "../env.toml"]).assert().success();
    assert_eq!(hash("copy"), before);
}
