//! `pylua doctor` end to end: a clean project is healthy (exit 0); ten planted faults are
//! each reported with a fix (tampered file, deleted module, stale lock, orphan package,
//! 5.1-only package on 5.4, missing system library of a C module, shadowing `LUA_PATH`,
//! broken wrapper, unreachable server, duplicate module); `--fix` repairs the fixable ones
//! in one recorded transaction and leaves the lock as it was.

mod common;

use assert_cmd::Command;
use common::RockServer;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

const DEP_C: &str = "int pylua_test_dep(void) { return 42; }\n";

const CMOD_C: &str = r#"
#include "lua.h"
#include "lauxlib.h"
extern int pylua_test_dep(void);
static int f(lua_State *L) { lua_pushinteger(L, pylua_test_dep()); return 1; }
int luaopen_cmod(lua_State *L) {
    lua_newtable(L);
    lua_pushcfunction(L, f);
    lua_setfield(L, -2, "f");
    return 1;
}
"#;

struct Ctx {
    dir: tempfile::TempDir,
    libdir: PathBuf,
}

impl Ctx {
    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn pylua(&self, args: &[&str]) -> Command {
        let mut c = Command::cargo_bin("pylua").unwrap();
        c.current_dir(self.path("app"))
            .env("PYLUA_HOME", self.path("home"))
            .env("LD_LIBRARY_PATH", &self.libdir)
            .env_remove("LUA_PATH")
            .env_remove("LUA_CPATH")
            .args(args);
        c
    }

    fn doctor(&self, extra: &[&str], env: &[(&str, &str)]) -> (Value, i32) {
        let mut args = vec!["doctor", "--json"];
        args.extend_from_slice(extra);
        let mut c = self.pylua(&args);
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (doc, out.status.code().unwrap_or(-1))
    }
}

/// The problems of a report: (check, severity, fix action), for the checks that failed.
fn problems(doc: &Value) -> Vec<(String, String, String)> {
    doc["result"]["report"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] != "ok")
        .map(|f| {
            (
                f["check"].as_str().unwrap().to_string(),
                f["severity"].as_str().unwrap().to_string(),
                f["fix"]["action"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn has(list: &[(String, String, String)], check: &str, fix: &str) -> bool {
    list.iter().any(|(c, _, f)| c == check && f == fix)
}

fn setup() -> Option<Ctx> {
    if !common::have_program("cc") {
        common::missing_prerequisite("a C compiler (cc) for the doctor's C module");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let libdir = dir.path().join("syslib");
    std::fs::create_dir_all(&libdir).unwrap();
    std::fs::write(libdir.join("dep.c"), DEP_C).unwrap();
    let built = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-o", "libpyluatestdep.so", "dep.c"])
        .current_dir(&libdir)
        .status()
        .unwrap();
    assert!(built.success());
    let ctx = Ctx { dir, libdir };
    let mut server = RockServer::new(&ctx.path("server"));
    server
        .package(
            "alpha",
            "1.0-1",
            &["beta"],
            &[
                ("alpha.lua", "local beta = require 'beta'\nreturn { v = beta.v + 1 }\n"),
                ("bin/alpha-cmd", "print(require('alpha').v)\n"),
            ],
            r#"type = "builtin", modules = { alpha = "alpha.lua" }, install = { bin = { ["alpha-cmd"] = "bin/alpha-cmd" } }"#,
        )
        .package(
            "beta",
            "1.0-1",
            &[],
            &[("beta.lua", "return { v = 1 }\n")],
            r#"type = "builtin", modules = { beta = "beta.lua" }"#,
        )
        .package(
            "gamma",
            "1.0-1",
            &[],
            &[("gamma.lua", "return {}\n")],
            r#"type = "builtin", modules = { gamma = "gamma.lua" }"#,
        )
        .package(
            "oldlua",
            "1.0-1",
            &[],
            &[("oldlua.lua", "setfenv(1, {})\nreturn {}\n")],
            r#"type = "builtin", modules = { oldlua = "oldlua.lua" }"#,
        )
        .package(
            "cmod",
            "1.0-1",
            &[],
            &[("cmod.c", CMOD_C)],
            &format!(
                r#"type = "builtin", modules = {{ cmod = {{ sources = {{ "cmod.c" }}, libraries = {{ "pyluatestdep" }}, libdirs = {{ {:?} }} }} }}"#,
                ctx.libdir.display().to_string()
            ),
        )
        .all_rock("dup", "1.0-1", &[("lib/beta.so", "not really a library")])
        .publish();
    std::fs::create_dir_all(ctx.path("app")).unwrap();
    let url = server.url();
    ctx.pylua(&["init", "--server", &url]).assert().success();
    ctx.pylua(&["add", "alpha", "cmod"]).assert().success();
    Some(ctx)
}

#[test]
fn a_clean_project_is_healthy_and_ten_planted_faults_are_found_and_the_safe_ones_fixed() {
    let Some(ctx) = setup() else {
        return;
    };
    let (doc, code) = ctx.doctor(&[], &[]);
    assert_eq!(
        problems(&doc).iter().filter(|p| p.1 == "error").count(),
        0,
        "{doc}"
    );
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["result"]["report"]["healthy"], true);
    // Text for people: ✓ lines and a verdict.
    let out = ctx
        .pylua(&["doctor", "--only", "project"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("✓ pylua.lock matches pylua.toml"), "{text}");
    assert!(text.contains("modules load on Lua 5.4"), "{text}");

    // Plant the faults.
    let url = format!("file://{}", ctx.path("server").display());
    ctx.pylua(&["add", "oldlua", "dup"]).assert().success(); // 5.1-only code; a duplicate module
    ctx.pylua(&[
        "install",
        "gamma",
        "--tree",
        ".pylua",
        "--only-server",
        &url,
    ])
    .assert()
    .success(); // an orphan
    let lua_dir = ctx.path("app/.pylua/share/lua/5.4");
    std::fs::write(lua_dir.join("alpha.lua"), "return { v = 'tampered' }\n").unwrap();
    std::fs::remove_file(lua_dir.join("beta.lua")).unwrap();
    let wrapper = ctx.path("app/.pylua/bin/alpha-cmd");
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::remove_file(ctx.libdir.join("libpyluatestdep.so")).unwrap();
    let shadow = ctx.path("shadow");
    std::fs::create_dir_all(&shadow).unwrap();
    std::fs::write(shadow.join("gamma.lua"), "return 'shadow'\n").unwrap();
    let lua_path = format!("{}/?.lua;;", shadow.display());
    // A stale lock and an unreachable server: the project now asks for more than it locked.
    let toml = std::fs::read_to_string(ctx.path("app/pylua.toml")).unwrap();
    let toml = toml
        .replace(
            &format!("servers = [\"{url}\"]"),
            &format!("servers = [\"{url}\", \"http://127.0.0.1:9/\"]"),
        )
        .replace("[dependencies]\n", "[dependencies]\ngamma = \"*\"\n");
    std::fs::write(ctx.path("app/pylua.toml"), &toml).unwrap();
    let lock_before = std::fs::read(ctx.path("app/pylua.lock")).unwrap();

    let (doc, code) = ctx.doctor(&[], &[("LUA_PATH", &lua_path)]);
    assert_eq!(code, 12, "{doc}");
    assert_eq!(doc["ok"], false);
    let found = problems(&doc);
    for (check, fix) in [
        ("files.integrity", "reinstall"), // tampered alpha.lua, deleted beta.lua
        ("lock.fresh", "lock"),           // gamma asked for, not locked
        ("tree.orphans", "remove_orphans"), // gamma installed, not locked
        ("modules.lua_version", "remove_dependency"), // oldlua calls setfenv
        ("modules.system_library", "install_system"), // libpyluatestdep.so is gone
        ("modules.shadowed", "unset_env"), // LUA_PATH holds gamma.lua
        ("bin.wrappers", "reinstall"),    // alpha-cmd is not executable
        ("servers", ""),                  // 127.0.0.1:9 does not answer
        ("modules.duplicates", "remove_dependency"), // beta from beta and dup
    ] {
        assert!(
            has(&found, check, fix),
            "{check} with fix {fix:?} missing: {found:#?}"
        );
    }
    let integrity = doc["result"]["report"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "files.integrity")
        .unwrap();
    let why = integrity["why"].as_str().unwrap();
    assert!(
        why.contains("alpha.lua was changed") && why.contains("beta.lua is missing"),
        "{why}"
    );
    // The text names each fix as a command.
    let out = ctx
        .pylua(&["doctor", "--only", "project"])
        .env("LUA_PATH", &lua_path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("✗ ") && text.contains("fix: `pylua lock`"),
        "{text}"
    );
    assert!(text.contains("fix: `unset LUA_PATH`"), "{text}");

    // --fix: the safe ones, in one recorded transaction; the lock is left as it was.
    let (doc, code) = ctx.doctor(&["--fix"], &[]);
    assert_eq!(code, 12, "unfixable problems remain: {doc}");
    assert!(doc["result"]["fixed"]["history_id"].is_u64(), "{doc}");
    let left = problems(&doc);
    for check in ["files.integrity", "tree.orphans", "bin.wrappers"] {
        assert!(
            !left.iter().any(|p| p.0 == check),
            "{check} still there: {left:#?}"
        );
    }
    for check in [
        "lock.fresh",
        "modules.lua_version",
        "modules.system_library",
    ] {
        assert!(left.iter().any(|p| p.0 == check), "{check} gone: {left:#?}");
    }
    assert_eq!(
        std::fs::read(ctx.path("app/pylua.lock")).unwrap(),
        lock_before
    );
    assert_eq!(
        std::fs::read_to_string(lua_dir.join("alpha.lua")).unwrap(),
        "local beta = require 'beta'\nreturn { v = beta.v + 1 }\n"
    );
    let out = ctx.pylua(&["history", "--json"]).output().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("doctor --fix"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let _: &Path = &wrapper;
}

#[test]
fn only_picks_an_area_and_outside_a_project_the_environment_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::cargo_bin("pylua")
            .unwrap()
            .current_dir(dir.path())
            .env("PYLUA_HOME", dir.path().join("home"))
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["doctor", "--json", "--offline"]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let areas: Vec<&str> = doc["result"]["report"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["area"].as_str().unwrap())
        .collect();
    assert!(areas.iter().all(|a| *a == "environment"), "{doc}");
    assert!(doc["result"]["report"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["check"] == "lua.embedded" && f["severity"] == "ok"));
    let out = run(&["doctor", "--only", "project", "--json"]);
    assert_eq!(out.status.code(), Some(12));
    let out = run(&["health", "--only", "nowhere"]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["doctor", "--fix"]);
    assert_eq!(out.status.code(), Some(2));
}
