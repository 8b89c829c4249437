//! `pylua recommend` and the usage record behind it, with the real binary on a sample
//! project served by a local rocks server: what the code requires but lacks (seen in runs
//! and by the static scan), what it installed and never requires, the catalog's better
//! alternative for a pure-Lua package in use, a package whose Lua support excludes the
//! project's Lua, the opt-out, and recommending outside a project.

mod common;

use assert_cmd::Command;
use common::RockServer;
use serde_json::Value;
use std::path::{Path, PathBuf};

struct Sample {
    _dir: tempfile::TempDir,
    root: PathBuf,
    home: PathBuf,
    project: PathBuf,
}

impl Sample {
    fn pylua(&self, dir: &Path, args: &[&str]) -> std::process::Output {
        Command::cargo_bin("pylua")
            .unwrap()
            .env("PYLUA_HOME", &self.home)
            .env_remove("PYLUA_LOG")
            .current_dir(dir)
            .args(args)
            .output()
            .unwrap()
    }

    fn ok(&self, dir: &Path, args: &[&str]) -> std::process::Output {
        let out = self.pylua(dir, args);
        assert!(
            out.status.success(),
            "pylua {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn json(&self, dir: &Path, args: &[&str]) -> Value {
        let out = self.ok(dir, args);
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// The usage record as `recommend` reports it: `runs`, and `modules` by name with their
    /// `runs` and `failures`.
    fn usage(&self) -> Value {
        let doc = self.json(&self.project, &["recommend", "--json", "--offline"]);
        let mut modules = serde_json::Map::new();
        for m in doc["result"]["required"].as_array().unwrap() {
            if m["runs"] != 0 {
                modules.insert(m["module"].as_str().unwrap().to_string(), m.clone());
            }
        }
        serde_json::json!({"runs": doc["result"]["recorded_runs"], "modules": modules})
    }
}

fn lua_package(server: &mut RockServer, name: &str, modules: &[&str]) {
    let files: Vec<(String, String)> = modules
        .iter()
        .map(|m| {
            (
                format!("{}.lua", m.replace('.', "_")),
                "return {}".to_string(),
            )
        })
        .collect();
    let list: Vec<String> = modules
        .iter()
        .map(|m| format!("[\"{m}\"] = \"{}.lua\"", m.replace('.', "_")))
        .collect();
    let borrowed: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    server.package(
        name,
        "1.0-1",
        &[],
        &borrowed,
        &format!("type = \"builtin\", modules = {{ {} }}", list.join(", ")),
    );
}

/// A project on a local server with packages named as in the catalog, a user catalog saying
/// `markdown` supports Lua 5.1 only, and code that requires some of what it has and some of
/// what it lacks.
fn sample() -> Sample {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let home = root.join("home");
    let mut server = RockServer::new(&root.join("server"));
    lua_package(&mut server, "penlight", &["pl.path", "pl.utils"]);
    lua_package(&mut server, "luafilesystem", &["lfs"]);
    lua_package(&mut server, "inspect", &["inspect"]);
    lua_package(&mut server, "argparse", &["argparse"]);
    lua_package(&mut server, "dkjson", &["dkjson"]);
    lua_package(&mut server, "lua-cjson", &["cjson"]);
    lua_package(&mut server, "markdown", &["markdown"]);
    server.publish();
    std::fs::create_dir_all(home.join("config")).unwrap();
    let catalog = root.join("mine.toml");
    std::fs::write(
        &catalog,
        "[[package]]\nname = \"markdown\"\ncategory = \"parsing\"\nsummary = \"Markdown to HTML\"\nconstraint = \">= 0.32\"\nlua = [\"5.1\"]\nnative = false\n",
    )
    .unwrap();
    std::fs::write(
        home.join("config/config.toml"),
        format!(
            "servers = [\"{}\"]\ncatalogs = [\"{}\"]\n",
            server.url(),
            catalog.display()
        ),
    )
    .unwrap();
    let project = root.join("demo");
    std::fs::create_dir_all(project.join("src")).unwrap();
    let sample = Sample {
        _dir: dir,
        root,
        home,
        project: project.clone(),
    };
    sample.ok(&project, &["init", "--name", "demo", "--lua", "5.4"]);
    sample.ok(
        &project,
        &["add", "inspect", "argparse", "dkjson", "markdown"],
    );
    std::fs::write(
        project.join("main.lua"),
        "local inspect = require 'inspect'\nlocal json = require('dkjson')\n\
         local ok, lfs = pcall(require, 'lfs')\nlocal helpers = require 'helpers'\n\
         print(ok, type(inspect))\n",
    )
    .unwrap();
    std::fs::write(project.join("src/helpers.lua"), "return {}").unwrap();
    std::fs::write(project.join("helpers.lua"), "return require 'src.helpers'").unwrap();
    std::fs::write(
        project.join("src/later.lua"),
        "-- not run yet\nlocal path = require \"pl.path\"\nlocal t = require 'table'\n",
    )
    .unwrap();
    sample
}

#[test]
fn recommend_lists_the_missing_and_the_unused_with_reasons() {
    let s = sample();
    let p = &s.project;
    for _ in 0..2 {
        let out = s.ok(p, &["run", "main.lua"]);
        assert_eq!(String::from_utf8_lossy(&out.stdout), "false\ttable\n");
    }
    let usage = s.usage();
    assert_eq!(usage["runs"], 2);
    assert_eq!(usage["modules"]["lfs"]["runs"], 2);
    assert_eq!(usage["modules"]["lfs"]["failures"], 2);
    assert_eq!(usage["modules"]["inspect"]["failures"], 0);
    assert!(usage["modules"].get("pl.path").is_none(), "not run yet");

    // The usage record is not part of the tree: the project stays in sync.
    let status = s.json(p, &["status", "--json"]);
    assert_eq!(status["result"]["tree_in_sync"], true, "{status}");

    let doc = s.json(p, &["recommend", "--json"]);
    let recs = doc["result"]["recommendations"].as_array().unwrap();
    let find = |kind: &str, package: &str| {
        recs.iter()
            .find(|r| r["kind"] == kind && r["package"] == package)
            .unwrap_or_else(|| panic!("no {kind} {package} in {doc:#}"))
    };
    let lfs = find("add", "luafilesystem");
    assert_eq!(lfs["module"], "lfs");
    assert_eq!(lfs["command"], "pylua add luafilesystem");
    let reason = lfs["reason"].as_str().unwrap();
    assert!(
        reason.contains("main.lua:3") && reason.contains("2 of 2 runs"),
        "{reason}"
    );
    let pl = find("add", "penlight");
    assert!(
        pl["reason"].as_str().unwrap().contains("src/later.lua:2"),
        "{pl}"
    );
    let argparse = find("remove", "argparse");
    assert_eq!(argparse["command"], "pylua remove argparse");
    assert!(argparse["reason"]
        .as_str()
        .unwrap()
        .contains("none of its modules"));
    let markdown = find("unsupported_lua", "markdown");
    assert!(
        markdown["reason"].as_str().unwrap().contains("5.1"),
        "{markdown}"
    );
    let cjson = find("alternative", "lua-cjson");
    assert!(
        cjson["reason"]
            .as_str()
            .unwrap()
            .contains("dkjson is pure Lua"),
        "{cjson}"
    );
    // Used packages, Lua's own libraries and the project's own modules are never flagged.
    for r in recs {
        assert_ne!(r["package"], "inspect", "{r}");
        assert_ne!(r["package"], "dkjson", "{r}");
        assert_ne!(r["module"], "helpers", "{r}");
        assert_ne!(r["module"], "table", "{r}");
        assert!(
            !r["reason"].as_str().unwrap().is_empty() && !r["command"].as_str().unwrap().is_empty()
        );
    }

    let text = String::from_utf8_lossy(&s.ok(p, &["recommend"]).stdout).into_owned();
    assert!(text.contains("why: the code requires 'lfs'"), "{text}");
    assert!(text.contains("run: pylua add luafilesystem"), "{text}");
    assert!(text.contains("run: pylua remove argparse"), "{text}");

    // Taking the advice: the missing module is added and no longer recommended.
    s.ok(p, &["add", "luafilesystem"]);
    let doc = s.json(p, &["recommend", "--json"]);
    let recs = doc["result"]["recommendations"].as_array().unwrap();
    assert!(
        !recs.iter().any(|r| r["package"] == "luafilesystem"),
        "{doc:#}"
    );
}

#[test]
fn usage_analytics_can_be_turned_off_and_a_damaged_record_is_replaced() {
    let s = sample();
    let p = &s.project;
    // A run that fails on a missing module: no hint while no module index is in the cache
    // (error paths never build one).
    std::fs::write(p.join("bad.lua"), "require 'lfs'").unwrap();
    let out = s.pylua(p, &["run", "bad.lua"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("hint:"));
    s.ok(p, &["run", "main.lua"]);
    let usage = s.usage();
    assert_eq!(usage["runs"], 2);
    assert_eq!(usage["modules"]["lfs"]["failures"], 2, "{usage}");
    // Now `recommend` has built the index: the same failure names the package.
    let out = s.pylua(p, &["run", "bad.lua"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("add it with: `pylua add luafilesystem`"));
    assert_eq!(s.usage()["runs"], 3);

    s.ok(p, &["config", "set", "usage-analytics", "false"]);
    s.ok(p, &["run", "main.lua"]);
    assert_eq!(s.usage()["runs"], 3, "nothing recorded when turned off");
    s.ok(p, &["config", "unset", "usage-analytics"]);

    // A damaged record: bad log lines are skipped, a damaged summary is reported, then
    // started afresh when the log is next folded into it.
    std::fs::write(
        p.join(".pylua/usage/summary.json"),
        "{\"version\":1,\"runs\":1,\"modules\":{\"../x\":{}}}",
    )
    .unwrap();
    std::fs::write(p.join(".pylua/usage/log"), "1\t../x\t\nnonsense\n").unwrap();
    let doc = s.json(p, &["recommend", "--json", "--offline"]);
    let warning = doc["result"]["warnings"][0].as_str().unwrap_or_default();
    assert!(warning.contains("summary.json"), "{doc}");
    std::fs::remove_file(p.join(".pylua/usage/summary.json")).unwrap();
    s.ok(p, &["run", "main.lua"]);
    assert_eq!(s.usage()["runs"], 1, "started afresh");
    // Outside a project nothing is recorded anywhere.
    let elsewhere = s.root.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(elsewhere.join("x.lua"), "require 'string'").unwrap();
    s.ok(&elsewhere, &["run", "x.lua"]);
    assert!(!elsewhere.join(".pylua").exists());
}

#[test]
fn outside_a_project_recommend_draws_on_the_profile_and_the_catalog() {
    let s = sample();
    let elsewhere = s.root.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let tree = s.root.join("tree");
    let tree_arg = tree.to_str().unwrap();
    s.ok(&elsewhere, &["install", "--tree", tree_arg, "penlight"]);
    let doc = s.json(&elsewhere, &["recommend", "--json", "--tree", tree_arg]);
    assert!(doc["result"]["project"].is_null());
    let recs = doc["result"]["recommendations"].as_array().unwrap();
    let kinds: Vec<(String, String)> = recs
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap().to_string(),
                r["package"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    // penlight pairs with luafilesystem and inspect; the standard profile adds lua-cjson.
    for want in [
        ("pairs_with", "luafilesystem"),
        ("pairs_with", "inspect"),
        ("profile", "lua-cjson"),
    ] {
        assert!(
            kinds.contains(&(want.0.to_string(), want.1.to_string())),
            "{want:?} not in {kinds:?}"
        );
    }
    assert!(
        !kinds.iter().any(|(_, p)| p == "penlight"),
        "installed already"
    );
    let cjson = recs.iter().find(|r| r["package"] == "lua-cjson").unwrap();
    assert_eq!(cjson["command"], "pylua install lua-cjson");
}
