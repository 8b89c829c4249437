//! The real world: every package of the realrocks mirror (real upstream packages from Debian's
//! source packages, built by `../shared/realrocks/build-mirror.py`) installed into its own
//! fresh tree for the embedded Lua 5.4 and for a Lua 5.1 that pylua provisions itself, then
//! every module it installed required by that Lua. When LuaRocks is on the machine, it must
//! list each tree too.
//!
//! Needs the mirror: set `PYLUA_REALROCKS` to its directory (`.ci/run` builds it and does).
//! Without it the tests fail under `CI=true` and say what they skipped elsewhere.

mod common;

use assert_cmd::Command;
use serde_json::Value;

#[test]
fn every_mirror_package_installs_and_loads_on_the_embedded_5_4_and_a_provisioned_5_1() {
    let Some(mirror) = common::realrocks_mirror() else {
        return;
    };
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
        // module → file, for every module of every package in the tree.
        let modules: Vec<(String, String)> = listed["result"]["packages"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| {
                p["modules"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(m, f)| (m.clone(), f.as_str().unwrap().to_string()))
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut loaded = 0;
        let mut required = 0;
        for (module, file) in &modules {
            // A command script kept in the Lua directory (lua-cjson's lua2json.lua) is listed
            // as a module, as LuaRocks lists it, but it is run, not required.
            let path = if file.ends_with(".lua") {
                format!("{tree}/share/lua/{lua}/{file}")
            } else {
                format!("{tree}/lib/lua/{lua}/{file}")
            };
            if std::fs::read(&path).is_ok_and(|b| b.starts_with(b"#!")) {
                continue;
            }
            required += 1;
            // As a program would: the parents first (lua-term's `term.cursor` needs `term`).
            let mut code = String::new();
            let parts: Vec<&str> = module.split('.').collect();
            for i in 1..parts.len() {
                code.push_str(&format!("pcall(require, {:?}) ", parts[..i].join(".")));
            }
            code.push_str(&format!("local ok, err = pcall(require, {module:?}) if not ok then error(err, 0) end return 'ok'"));
            let run = pylua()
                .args(["eval", "--lua", lua, "--tree", tree, &code])
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&run.stderr);
            if run.status.success() {
                loaded += 1;
            } else if lua == "5.1" && stderr.contains("system/core.so: undefined symbol") {
                // The mirror's trap: luasystem exists only as a binary rock built for Lua
                // 5.4 (its rockspec says `lua >= 5.1`). LuaRocks installs it for 5.1 all the
                // same, and so does pylua (the trees must match); its C module cannot load
                // there, and the error says why.
            } else {
                failures.push(format!(
                    "{name} on {lua}: require '{module}': {}",
                    stderr.trim()
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
            required
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
    let Some(mirror) = common::realrocks_mirror() else {
        return;
    };
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

/// The packages' own entry points, not only their modules: busted runs a spec file in a
/// project (through `pylua run busted` and through `.pylua/bin/busted` with no pylua on
/// PATH) and counts passes and failures with the right exit code; argparse parses a command
/// line; lua-cjson's `lua2json` converts a file.
#[test]
fn busted_argparse_and_lua2json_run_from_a_project() {
    let Some(mirror) = common::realrocks_mirror() else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let app = home.path().join("app");
    std::fs::create_dir_all(app.join("spec")).unwrap();
    let pylua = |args: &[&str]| {
        let mut c = Command::cargo_bin("pylua").unwrap();
        c.env("PYLUA_HOME", home.path().join("home"))
            .current_dir(&app)
            .args(args);
        c
    };
    pylua(&["init", "--server", &mirror]).assert().success();
    pylua(&["add", "busted", "argparse", "lua-cjson"])
        .assert()
        .success();
    std::fs::write(
        app.join("spec/sum_spec.lua"),
        "describe('sum', function()\n  it('adds', function() assert.are.equal(2, 1 + 1) end)\n  it('adds again', function() assert.is_true(1 + 2 == 3) end)\n  it('is wrong on purpose', function() assert.are.equal(3, 1 + 1) end)\nend)\n",
    )
    .unwrap();
    let tap = |out: &std::process::Output| {
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let ok = text.lines().filter(|l| l.starts_with("ok ")).count();
        let not_ok = text.lines().filter(|l| l.starts_with("not ok ")).count();
        (ok, not_ok, text)
    };
    let out = pylua(&["run", "busted", "-o", "TAP", "spec"])
        .output()
        .unwrap();
    let (ok, not_ok, text) = tap(&out);
    assert_eq!(
        (ok, not_ok),
        (2, 1),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "one failure: busted exits 1");
    // Only passing specs: exit 0.
    let out = pylua(&["run", "busted", "-o", "TAP", "--filter", "adds", "spec"])
        .output()
        .unwrap();
    assert_eq!(tap(&out).0, 2, "{}", tap(&out).2);
    assert_eq!(out.status.code(), Some(0));
    // `pylua test` runs the project's spec/ with its busted and counts.
    let out = pylua(&["test", "--json"]).output().unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let r = &doc["result"][0];
    assert_eq!(
        (r["passed"].as_u64(), r["failed"].as_u64()),
        (Some(2), Some(1)),
        "{doc}"
    );
    assert_eq!(out.status.code(), Some(1));
    // The wrapper, from a shell that has no pylua on PATH.
    let out = std::process::Command::new("/bin/sh")
        .args(["-c", ".pylua/bin/busted -o TAP spec"])
        .current_dir(&app)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("PYLUA_HOME", home.path().join("home"))
        .output()
        .unwrap();
    assert_eq!(
        tap(&out).0 + tap(&out).1,
        3,
        "{}{}",
        tap(&out).2,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1));

    std::fs::write(
        app.join("cli.lua"),
        "local parser = require('argparse')('cli', 'a test')\nparser:argument('input')\nparser:option('-n --count'):convert(tonumber)\nlocal args = parser:parse()\nprint(args.input, args.count + 1)\n",
    )
    .unwrap();
    pylua(&["run", "cli.lua", "in.txt", "-n", "41"])
        .assert()
        .success()
        .stdout("in.txt\t42\n");
    pylua(&["run", "cli.lua"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("missing argument 'input'"));

    std::fs::write(app.join("data.json"), r#"{"a": [1, 2, {"b": true}]}"#).unwrap();
    // json2lua prints a JSON file as a Lua table; lua2json the reverse.
    let out = pylua(&["run", "json2lua", "data.json"]).output().unwrap();
    assert!(
        out.status.success(),
        "json2lua: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lua_text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        lua_text.contains("b = true") || lua_text.contains("[\"b\"] = true"),
        "{lua_text}"
    );
    std::fs::write(app.join("data.lua"), &lua_text).unwrap();
    let out = pylua(&["run", "lua2json", "data.lua"]).output().unwrap();
    assert!(
        out.status.success(),
        "lua2json: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let back: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(back, serde_json::json!({"a": [1, 2, {"b": true}]}));
}

/// `pylua tree` draws a project's lock and a rocks tree; `--invert` shows who needs a
/// package; `outdated` compares with the servers.
#[test]
fn tree_and_outdated_on_real_packages() {
    let Some(mirror) = common::realrocks_mirror() else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let app = home.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    let pylua = |args: &[&str]| {
        let mut c = Command::cargo_bin("pylua").unwrap();
        c.env("PYLUA_HOME", home.path().join("home"))
            .current_dir(&app)
            .args(args);
        c
    };
    pylua(&["init", "--server", &mirror]).assert().success();
    pylua(&["tree"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("hint: run `pylua lock`"));
    pylua(&["add", "penlight"]).assert().success();
    let out = pylua(&["tree"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("penlight ") && text.contains("\n└── luafilesystem "),
        "{text}"
    );
    let out = pylua(&["tree", "--invert", "luafilesystem", "--json"])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["result"][0]["name"], "luafilesystem", "{doc}");
    assert_eq!(doc["result"][0]["children"][0]["name"], "penlight", "{doc}");
    pylua(&["tree", "--invert", "nothing-here"])
        .assert()
        .code(5);
    let out = pylua(&["tree", "--depth", "0"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);

    let out = pylua(&["outdated", "--json"]).output().unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = doc["result"].as_array().unwrap();
    let lfs = rows.iter().find(|r| r["name"] == "luafilesystem").unwrap();
    assert_eq!(lfs["current"], lfs["latest"], "{doc}");
    assert_eq!(lfs["wanted"], lfs["latest"], "{doc}");
    assert!(rows.iter().any(|r| r["name"] == "penlight"), "{doc}");

    // A rocks tree: the roots are what nothing installed needs.
    let out = pylua(&["tree", "--tree", ".pylua", "--json"])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let roots: Vec<&str> = doc["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(roots, ["penlight"], "{doc}");
    let out = pylua(&[
        "outdated",
        "--tree",
        ".pylua",
        "--only-server",
        &mirror,
        "--json",
    ])
    .output()
    .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["result"].as_array().unwrap().len(), 2, "{doc}");
}

/// `pylua test inspect argparse` runs those packages' own busted specs (detected from their
/// sources' spec/) against them installed in a throw-away tree; a failing suite fails.
#[test]
fn package_test_suites_run_and_failures_are_reported() {
    let Some(mirror) = common::realrocks_mirror() else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let pylua = |args: &[&str]| {
        let mut c = Command::cargo_bin("pylua").unwrap();
        c.env("PYLUA_HOME", home.path().join("home")).args(args);
        c
    };
    let out = pylua(&[
        "test",
        "inspect",
        "argparse",
        "--json",
        "--only-server",
        &mirror,
    ])
    .output()
    .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{doc}");
    for (i, name) in ["inspect", "argparse"].iter().enumerate() {
        let r = &doc["result"][i];
        assert_eq!(r["package"], *name);
        assert_eq!(r["runner"]["type"], "busted");
        assert!(r["passed"].as_u64().unwrap() > 20, "{r}");
        assert_eq!(r["failed"], 0, "{r}");
    }

    let mut server = common::RockServer::new(&home.path().join("server"));
    server
        .package(
            "shaky",
            "1.0-1",
            &[],
            &[
                ("shaky.lua", "return { add = function(a, b) return a + b end }\n"),
                (
                    "spec/shaky_spec.lua",
                    "local shaky = require 'shaky'\ndescribe('shaky', function()\n  it('adds', function() assert.are.equal(3, shaky.add(1, 2)) end)\n  it('is wrong', function() assert.are.equal(4, shaky.add(1, 2)) end)\nend)\n",
                ),
            ],
            r#"type = "builtin", modules = { shaky = "shaky.lua" }"#,
        )
        .publish();
    let out = pylua(&[
        "test",
        "shaky",
        "--only-server",
        &server.url(),
        "--only-server",
        &mirror,
    ])
    .output()
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("✗ shaky 1.0-1: 1 passed, 1 failed"), "{text}");
    assert!(text.contains("shaky is wrong"), "{text}");

    // Inside a project the result is kept, and the doctor warns about the installed version.
    let app = home.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    let in_app = |args: &[&str]| {
        let mut c = pylua(args);
        c.current_dir(&app);
        c
    };
    in_app(&["init", "--server", &server.url(), "--server", &mirror])
        .assert()
        .success();
    in_app(&["add", "shaky"]).assert().success();
    in_app(&[
        "test",
        "shaky",
        "--only-server",
        &server.url(),
        "--only-server",
        &mirror,
    ])
    .assert()
    .code(1);
    let out = in_app(&["doctor", "--only", "project", "--json"])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings = doc["result"]["report"]["findings"].as_array().unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f["check"] == "packages.tests" && f["severity"] == "warning"),
        "{doc}"
    );
}

/// `pylua bench lua-cjson dkjson` measures require times and memory for both, with spread.
#[test]
fn bench_measures_require_time_and_memory_with_spread() {
    let Some(mirror) = common::realrocks_mirror() else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("pylua")
        .unwrap()
        .env("PYLUA_HOME", home.path().join("home"))
        .args([
            "bench",
            "lua-cjson",
            "dkjson",
            "--runs",
            "3",
            "--json",
            "--only-server",
            &mirror,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let packages: Vec<&str> = doc["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["package"].as_str().unwrap())
        .collect();
    assert_eq!(packages, ["lua-cjson", "dkjson"]);
    for p in doc["result"].as_array().unwrap() {
        let main = p["modules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["module"] == "cjson" || m["module"] == "dkjson")
            .unwrap();
        let cold = &main["cold_ms"];
        assert!(cold["median"].as_f64().unwrap() > 0.0, "{main}");
        assert!(
            cold["min"].as_f64() <= cold["median"].as_f64()
                && cold["median"].as_f64() <= cold["max"].as_f64()
        );
        assert!(
            main["memory_kib"]["median"].as_f64().unwrap() > 0.0,
            "{main}"
        );
        assert!(main["size_bytes"].as_u64().unwrap() > 1000, "{main}");
    }
}
