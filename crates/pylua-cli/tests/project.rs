//! Projects end to end with the real `pylua` binary: `init` → `lock` → `sync` → a script
//! using penlight and lua-cjson runs → `profile use minimal` → the script fails with a
//! missing-module error → `rollback` → it runs again on a tree with the same hash; a lock
//! reproduces the same tree in another directory; concurrent `add`s; and bad input that must
//! change nothing on disk.

mod common;

use assert_cmd::Command;
use common::RockServer;
use predicates::prelude::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

const CJSON_C: &str = r#"
#include "lua.h"
#include "lauxlib.h"
static int encode(lua_State *L) {
    if (lua_type(L, 1) == LUA_TSTRING) {
        lua_pushfstring(L, "\"%s\"", lua_tostring(L, 1));
    } else {
        luaL_checknumber(L, 1);
        lua_pushstring(L, lua_tostring(L, 1));
    }
    return 1;
}
int luaopen_cjson(lua_State *L) {
    lua_newtable(L);
    lua_pushcfunction(L, encode);
    lua_setfield(L, -2, "encode");
    return 1;
}
"#;

const LFS_C: &str = r#"
#include <unistd.h>
#include "lua.h"
#include "lauxlib.h"
static int currentdir(lua_State *L) {
    char buf[4096];
    if (getcwd(buf, sizeof buf) == NULL) return 0;
    lua_pushstring(L, buf);
    return 1;
}
int luaopen_lfs(lua_State *L) {
    lua_newtable(L);
    lua_pushcfunction(L, currentdir);
    lua_setfield(L, -2, "currentdir");
    return 1;
}
"#;

const PRETTY: &str = r#"
local lfs = require 'lfs'
assert(lfs.currentdir())
local M = {}
function M.write(t)
  local parts = {}
  for i, v in ipairs(t) do parts[i] = tostring(v) end
  return '{' .. table.concat(parts, ',') .. '}'
end
return M
"#;

const SCRIPT: &str = r#"
local pretty = require 'pl.pretty'
local cjson = require 'cjson'
print(pretty.write({1, 2, 3}), cjson.encode('hi'))
"#;

/// The standard profile's packages (penlight needs luafilesystem), with real C modules.
fn standard_server(dir: &Path) -> RockServer {
    let mut s = RockServer::new(dir);
    s.package(
        "penlight",
        "1.13.1-1",
        &["luafilesystem"],
        &[("lua/pl/pretty.lua", PRETTY)],
        r#"type = "builtin", modules = { ["pl.pretty"] = "lua/pl/pretty.lua" }"#,
    )
    .package(
        "luafilesystem",
        "1.8.0-1",
        &[],
        &[("src/lfs.c", LFS_C)],
        r#"type = "builtin", modules = { lfs = "src/lfs.c" }"#,
    )
    .package(
        "lua-cjson",
        "2.1.0.10-1",
        &[],
        &[("lua_cjson.c", CJSON_C)],
        r#"type = "builtin", modules = { cjson = "lua_cjson.c" }"#,
    )
    .package(
        "inspect",
        "3.1.3-0",
        &[],
        &[
            (
                "inspect.lua",
                "return { inspect = function(v) return tostring(v) end }",
            ),
            ("bin/inspect-cli", "print('inspected ' .. (arg[1] or ''))"),
        ],
        r#"type = "builtin", modules = { inspect = "inspect.lua" }, install = { bin = { ["inspect-cli"] = "bin/inspect-cli" } }"#,
    )
    .publish();
    s
}

struct Ctx {
    home: TempDir,
    server: RockServer,
}

impl Ctx {
    fn new() -> Ctx {
        let home = tempfile::tempdir().unwrap();
        let server = standard_server(&home.path().join("server"));
        Ctx { home, server }
    }
    fn path(&self, p: &str) -> PathBuf {
        self.home.path().join(p)
    }
    /// `pylua ARGS` in directory `dir` (relative to the test's home).
    fn pylua_in(&self, dir: &str, args: &[&str]) -> Command {
        let cwd = self.path(dir);
        std::fs::create_dir_all(&cwd).unwrap();
        let mut cmd = Command::cargo_bin("pylua").unwrap();
        cmd.current_dir(cwd)
            .env("PYLUA_HOME", self.path("pylua-home"))
            .env_remove("PYLUA_LOG")
            .args(args);
        cmd
    }
    fn pylua(&self, args: &[&str]) -> Command {
        self.pylua_in("app", args)
    }
    fn init(&self, profile: &str) {
        self.pylua(&[
            "init",
            "--name",
            "app",
            "--profile",
            profile,
            "--server",
            &self.server.url(),
        ])
        .assert()
        .success();
        std::fs::write(self.path("app/main.lua"), SCRIPT).unwrap();
    }
    fn status(&self, dir: &str) -> Value {
        let out = self.pylua_in(dir, &["status", "--json"]).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()["result"].clone()
    }
    fn read(&self, p: &str) -> String {
        std::fs::read_to_string(self.path(p)).unwrap_or_default()
    }
    /// pylua.toml, pylua.lock and the tree's hash: what a failed command must not change.
    fn state(&self) -> (String, String, String) {
        (
            self.read("app/pylua.toml"),
            self.read("app/pylua.lock"),
            self.status("app")["tree_hash"]
                .as_str()
                .unwrap()
                .to_string(),
        )
    }
}

#[test]
fn the_whole_story_init_lock_sync_run_switch_profile_rollback() {
    let ctx = Ctx::new();
    ctx.init("standard");
    let toml = ctx.read("app/pylua.toml");
    assert!(
        toml.contains("profile = \"standard\"") && toml.contains("lua = \"5.4\""),
        "{toml}"
    );

    ctx.pylua(&["lock"])
        .assert()
        .success()
        .stdout(predicate::str::contains("+ penlight 1.13.1-1"));
    let lock = ctx.read("app/pylua.lock");
    for name in ["penlight", "luafilesystem", "lua-cjson", "inspect"] {
        assert!(lock.contains(&format!("name = \"{name}\"")), "{lock}");
    }
    assert!(lock.contains("sha256 = \"") && lock.contains("file = \"penlight-1.13.1-1.src.rock\""));
    assert_eq!(ctx.status("app")["lock"], "fresh");
    assert_eq!(ctx.status("app")["tree_in_sync"], false);

    ctx.pylua(&["sync"])
        .assert()
        .success()
        .stdout(predicate::str::contains("4 installed"));
    ctx.pylua(&["run", "main.lua"])
        .assert()
        .success()
        .stdout("{1,2,3}\t\"hi\"\n");
    // The project's commands are on PATH for the scripts `run` starts.
    std::fs::write(ctx.path("app/cmd.lua"), "os.execute('inspect-cli hello')").unwrap();
    ctx.pylua(&["run", "cmd.lua"])
        .assert()
        .success()
        .stdout("inspected hello\n");
    let before = ctx.status("app");
    assert_eq!(before["tree_in_sync"], true);
    let hash = before["tree_hash"].as_str().unwrap().to_string();

    // A dry run changes nothing; without --yes off a terminal, nothing is applied.
    ctx.pylua(&["profile", "use", "minimal", "--dry-run"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("- penlight 1.13.1-1")
                .and(predicate::str::contains("- lua-cjson")),
        );
    ctx.pylua(&["profile", "use", "minimal"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--yes"));
    assert_eq!(ctx.status("app")["tree_hash"], hash.as_str());

    ctx.pylua(&["profile", "use", "minimal", "--yes"])
        .assert()
        .success()
        .stdout(predicate::str::contains("3 removed"));
    ctx.pylua(&["run", "main.lua"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("module 'pl.pretty' not found"));
    assert!(ctx.read("app/pylua.toml").contains("profile = \"minimal\""));

    ctx.pylua(&["rollback"])
        .assert()
        .success()
        .stdout(predicate::str::contains("3 installed"));
    ctx.pylua(&["run", "main.lua"])
        .assert()
        .success()
        .stdout("{1,2,3}\t\"hi\"\n");
    let after = ctx.status("app");
    assert_eq!(
        after["tree_hash"],
        hash.as_str(),
        "rollback gives back the same tree"
    );
    assert_eq!(after["profile"], "standard");

    // Every transaction is in the history, with its command and changes.
    let out = ctx.pylua(&["history", "--json"]).output().unwrap();
    let history: Value = serde_json::from_slice(&out.stdout).unwrap();
    let commands: Vec<&str> = history["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["command"].as_str().unwrap())
        .collect();
    assert_eq!(
        commands,
        ["lock", "sync", "profile use minimal", "rollback 3"]
    );
    ctx.pylua(&["history"])
        .assert()
        .success()
        .stdout(predicate::str::contains("profile use minimal"));

    // Nothing to do is fast and says so.
    ctx.pylua(&["sync"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Nothing to do"));

    // The same lock gives a byte-identical tree in another directory.
    ctx.pylua(&["export", "-o", "../env.toml"])
        .assert()
        .success();
    ctx.pylua_in("elsewhere/deep", &["import", "../../env.toml"])
        .assert()
        .success()
        .stdout(predicate::str::contains("4 installed"));
    assert_eq!(ctx.status("elsewhere/deep")["tree_hash"], hash.as_str());
    assert_eq!(
        ctx.read("elsewhere/deep/pylua.lock"),
        ctx.read("app/pylua.lock")
    );
    // JSON exports import too.
    ctx.pylua(&["export", "--format", "json", "-o", "../env.json"])
        .assert()
        .success();
    ctx.pylua_in("third", &["import", "../env.json", "--json"])
        .assert()
        .success();
    assert_eq!(ctx.status("third")["tree_hash"], hash.as_str());
}

#[test]
fn add_remove_update_and_the_lock_modes() {
    let mut ctx = Ctx::new();
    ctx.init("minimal");
    ctx.pylua(&["add", "penlight@>=1.13"]).assert().success();
    let toml = ctx.read("app/pylua.toml");
    assert!(toml.contains("penlight = \">= 1.13\""), "{toml}");
    let status = ctx.status("app");
    assert_eq!(
        (status["lock"].as_str(), status["tree_in_sync"].as_bool()),
        (Some("fresh"), Some(true))
    );

    // A newer penlight appears: the lock keeps 1.13.1 until `update` asks for it.
    ctx.server
        .package(
            "penlight",
            "1.14.0-1",
            &["luafilesystem"],
            &[("lua/pl/pretty.lua", PRETTY)],
            r#"type = "builtin", modules = { ["pl.pretty"] = "lua/pl/pretty.lua" }"#,
        )
        .publish();
    ctx.pylua(&["add", "inspect"]).assert().success();
    assert!(ctx
        .read("app/pylua.lock")
        .contains("version = \"1.13.1-1\""));
    ctx.pylua(&["update", "penlight", "-v"])
        .assert()
        .success()
        .stdout(predicate::str::contains("~ penlight 1.13.1-1 -> 1.14.0-1"))
        .stderr(
            predicate::str::contains("resolved").and(predicate::str::contains("fetched and built")),
        );

    // --locked fails when pylua.toml asks for more than the lock holds; --frozen ignores it.
    let toml = ctx.read("app/pylua.toml");
    std::fs::write(
        ctx.path("app/pylua.toml"),
        format!("{toml}lua-cjson = \"*\"\n"),
    )
    .unwrap();
    let lock_before = ctx.read("app/pylua.lock");
    ctx.pylua(&["sync", "--locked"])
        .assert()
        .code(11)
        .stderr(predicate::str::contains("lua-cjson"));
    assert_eq!(ctx.read("app/pylua.lock"), lock_before);
    ctx.pylua(&["sync", "--frozen"]).assert().success();
    assert_eq!(ctx.read("app/pylua.lock"), lock_before);
    // `run` syncs first when the lock is stale.
    std::fs::write(ctx.path("app/j.lua"), "print(require('cjson').encode(5))").unwrap();
    ctx.pylua(&["run", "j.lua"])
        .assert()
        .success()
        .stdout("5\n")
        .stderr(predicate::str::contains("synced"));

    // Removing a dependency removes what only it needed.
    ctx.pylua(&["remove", "penlight"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("- penlight").and(predicate::str::contains("- luafilesystem")),
        );
    ctx.pylua(&["remove", "penlight"])
        .assert()
        .code(5)
        .stderr(predicate::str::contains("not a dependency"));

    // Every transaction is in the log file, with its timing.
    let logs = ctx.path("pylua-home/state/logs");
    let log: String = std::fs::read_dir(&logs)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    for command in ["add penlight@>=1.13", "update penlight", "remove penlight"] {
        assert!(log.contains(&format!("command=\"{command}\"")), "{log}");
    }
    assert!(
        log.contains("transaction done") && log.contains("seconds="),
        "{log}"
    );
    // Only transactions that changed something: the no-op `sync --frozen` is not there.
    assert_eq!(log.matches("command=\"sync\"").count(), 1, "{log}");
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let ctx = Ctx::new();
    ctx.init("standard");
    ctx.pylua(&["sync"]).assert().success();
    let state = ctx.state();

    // A constraint nobody satisfies.
    ctx.pylua(&["add", "penlight@>=9"])
        .assert()
        .code(5)
        .stderr(predicate::str::contains("penlight"));
    assert_eq!(ctx.state(), state);
    // An unknown profile.
    ctx.pylua(&["profile", "use", "nonesuch", "--yes"])
        .assert()
        .code(5)
        .stderr(predicate::str::contains("nonesuch"));
    assert_eq!(ctx.state(), state);
    // A profile whose packages the server lacks names each of them.
    ctx.pylua(&["profile", "use", "networking", "--yes"])
        .assert()
        .code(5)
        .stderr(
            predicate::str::contains("profile networking needs packages the servers do not offer")
                .and(predicate::str::contains("luasocket: not on file://"))
                .and(predicate::str::contains("luasec: not on"))
                .and(predicate::str::contains("http: not on")),
        );
    assert_eq!(ctx.state(), state);
    // A package no server has.
    ctx.pylua(&["add", "no-such-rock"]).assert().code(5);
    assert_eq!(ctx.state(), state);

    // A malformed pylua.toml: the error names the file and the key.
    let good = ctx.read("app/pylua.toml");
    std::fs::write(
        ctx.path("app/pylua.toml"),
        good.replace("lua = \"5.4\"", "lua = \"5.9\""),
    )
    .unwrap();
    ctx.pylua(&["sync"])
        .assert()
        .code(10)
        .stderr(predicate::str::contains(
            "pylua.toml: key 'project.lua': unknown Lua version '5.9'",
        ));
    std::fs::write(ctx.path("app/pylua.toml"), "[project\nname = 1").unwrap();
    ctx.pylua(&["add", "inspect"])
        .assert()
        .code(10)
        .stderr(predicate::str::contains(
            "pylua.toml: invalid TOML at line 1",
        ));
    assert_eq!(ctx.read("app/pylua.toml"), "[project\nname = 1");
    std::fs::write(ctx.path("app/pylua.toml"), &good).unwrap();

    // A malformed pylua.lock.
    let lock = ctx.read("app/pylua.lock");
    std::fs::write(
        ctx.path("app/pylua.lock"),
        lock.replacen("sha256 = \"", "sha256 = \"zz", 1),
    )
    .unwrap();
    ctx.pylua(&["sync"])
        .assert()
        .code(10)
        .stderr(predicate::str::contains(
            "pylua.lock: package[0].sha256: expected 64 hex digits",
        ));
    std::fs::write(ctx.path("app/pylua.lock"), &lock).unwrap();
    assert_eq!(ctx.state(), state);

    // A server file that no longer matches the lock's sha256 is refused; nothing changes.
    ctx.pylua(&["profile", "use", "minimal", "--yes"])
        .assert()
        .success();
    let minimal = ctx.state();
    let rock = ctx.server.dir.join("penlight-1.13.1-1.src.rock");
    let mut bytes = std::fs::read(&rock).unwrap();
    bytes.extend_from_slice(b"tampered");
    std::fs::write(&rock, bytes).unwrap();
    std::fs::remove_dir_all(ctx.path("pylua-home/cache")).unwrap();
    ctx.pylua(&["rollback"]).assert().code(7).stderr(
        predicate::str::contains("checksum mismatch").and(predicate::str::contains("penlight")),
    );
    assert_eq!(ctx.state(), minimal);
    let history = ctx.pylua(&["history", "--json"]).output().unwrap();
    let history: Value = serde_json::from_slice(&history.stdout).unwrap();
    let last = history["result"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert!(
        last["outcome"].as_str().unwrap().starts_with("failed: "),
        "{last}"
    );

    // An import that is not an export, or whose lock does not match its project.
    std::fs::write(ctx.path("junk.toml"), "format = 'something-else'\n").unwrap();
    ctx.pylua_in("fresh", &["import", "../junk.toml"])
        .assert()
        .code(10)
        .stderr(predicate::str::contains("junk.toml: not a pylua export"));
    ctx.pylua(&["export", "-o", "../env.toml"])
        .assert()
        .success();
    let export = ctx.read("env.toml");
    std::fs::write(
        ctx.path("env.toml"),
        export.replace("profile = \"minimal\"", "profile = \"standard\""),
    )
    .unwrap();
    ctx.pylua_in("fresh", &["import", "../env.toml"])
        .assert()
        .code(10)
        .stderr(predicate::str::contains(
            "its lock does not match its project",
        ));
    assert!(std::fs::read_dir(ctx.path("fresh"))
        .unwrap()
        .next()
        .is_none());

    // Outside a project.
    ctx.pylua_in("nowhere", &["sync"])
        .assert()
        .code(10)
        .stderr(predicate::str::contains("pylua init"));
    // init refuses to overwrite.
    ctx.pylua(&["init"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("already exists"));
}

#[test]
fn concurrent_adds_end_with_a_consistent_lock() {
    let ctx = Ctx::new();
    ctx.init("minimal");
    ctx.pylua(&["sync"]).assert().success();
    let spawn = |pkg: &str| {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("pylua"));
        cmd.current_dir(ctx.path("app"))
            .env("PYLUA_HOME", ctx.path("pylua-home"))
            .args(["add", pkg])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        cmd.spawn().unwrap()
    };
    let a = spawn("penlight");
    let b = spawn("lua-cjson");
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let toml = ctx.read("app/pylua.toml");
    assert!(
        toml.contains("penlight") && toml.contains("lua-cjson"),
        "{toml}"
    );
    let status = ctx.status("app");
    assert_eq!(status["lock"], "fresh");
    assert_eq!(status["tree_in_sync"], true);
    let lock = ctx.read("app/pylua.lock");
    for name in ["penlight", "luafilesystem", "lua-cjson", "inspect"] {
        assert!(lock.contains(&format!("name = \"{name}\"")), "{lock}");
    }
}

#[test]
fn git_sources_are_locked_to_a_commit() {
    let mut ctx = Ctx::new();
    let repo = ctx.path("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let git = |args: &[&str]| common::git(&repo, args);
    git(&["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("g.lua"), "return 'first'").unwrap();
    git(&["add", "."]);
    git(&["commit", "-qm", "first"]);
    let first = git(&["rev-parse", "HEAD"]);
    let spec = format!(
        "package = 'g'\nversion = 'scm-1'\nsource = {{ url = 'git+file://{}', branch = 'main' }}\nbuild = {{ type = 'builtin', modules = {{ g = 'g.lua' }} }}\n",
        repo.display()
    );
    ctx.server.raw_rockspec("g", "scm-1", &spec).publish();
    ctx.init("minimal");
    ctx.pylua(&["add", "g"]).assert().success();
    assert!(ctx
        .read("app/pylua.lock")
        .contains(&format!("commit = \"{first}\"")));
    ctx.pylua(&["eval", "return (require('g'))"])
        .assert()
        .stdout("first\n");

    // The branch moves on; the lock still installs the locked commit elsewhere.
    std::fs::write(repo.join("g.lua"), "return 'second'").unwrap();
    git(&["commit", "-qam", "second"]);
    ctx.pylua(&["export", "-o", "../env.toml"])
        .assert()
        .success();
    ctx.pylua_in("copy", &["import", "../env.toml"])
        .assert()
        .success();
    ctx.pylua_in("copy", &["eval", "return (require('g'))"])
        .assert()
        .stdout("first\n");
    // `update` locks the branch's new commit.
    ctx.pylua(&["update", "g"]).assert().success();
    let second = git(&["rev-parse", "HEAD"]);
    assert!(ctx
        .read("app/pylua.lock")
        .contains(&format!("commit = \"{second}\"")));
    ctx.pylua(&["eval", "return (require('g'))"])
        .assert()
        .stdout("second\n");
}

#[test]
fn over_http_a_failing_server_changes_nothing_and_a_synced_project_needs_no_server() {
    let ctx = Ctx::new();
    let http = common::HttpServer::serve(&ctx.server.dir);
    ctx.pylua(&[
        "init",
        "--name",
        "app",
        "--profile",
        "standard",
        "--server",
        &http.url,
    ])
    .assert()
    .success();
    std::fs::write(ctx.path("app/main.lua"), SCRIPT).unwrap();
    ctx.pylua(&["run", "main.lua"])
        .assert()
        .success()
        .stdout("{1,2,3}\t\"hi\"\n");
    let state = ctx.state();

    // The server fails: a change that needs it fails clearly and changes nothing…
    *http.fail_with.lock().unwrap() = Some(503);
    ctx.pylua(&["update"]).assert().code(6).stderr(
        predicate::str::contains("503").and(predicate::str::contains("nothing was changed")),
    );
    assert_eq!(ctx.state(), state);
    // …while running the synced project asks no server at all.
    ctx.pylua(&["run", "main.lua"]).assert().success();
    ctx.pylua(&["sync", "--locked"]).assert().success();

    // The download cache alone reproduces the environment elsewhere…
    ctx.pylua(&["export", "-o", "../env.toml"])
        .assert()
        .success();
    ctx.pylua_in("copy", &["import", "../env.toml", "--offline"])
        .assert()
        .success();
    assert_eq!(ctx.status("copy")["tree_hash"], state.2.as_str());
    // …but without it, a failing server means a clear error and nothing half installed.
    ctx.pylua_in("copy2", &["import", "../env.toml"])
        .env("PYLUA_HOME", ctx.path("empty-home"))
        .assert()
        .code(7)
        .stderr(predicate::str::contains("503"));
    assert!(!ctx.path("copy2/pylua.toml").exists());
    let tree = ctx.path("copy2/.pylua/lib/luarocks/rocks-5.4");
    assert!(!tree.exists() || std::fs::read_dir(&tree).unwrap().next().is_none());
}

/// A project's tools: `pylua run TOOL` runs a command of the project's packages (a file of
/// that name still wins), and the wrapper in `.pylua/bin` works from a shell with no pylua
/// on PATH.
#[test]
fn project_commands_run_through_pylua_run_and_their_wrappers() {
    let ctx = Ctx::new();
    ctx.init("minimal");
    ctx.pylua(&["add", "inspect"]).assert().success();
    ctx.pylua(&["run", "inspect-cli", "x"])
        .assert()
        .success()
        .stdout("inspected x\n");
    let out = std::process::Command::new("/bin/sh")
        .args(["-c", ".pylua/bin/inspect-cli y"])
        .current_dir(ctx.path("app"))
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("PYLUA_HOME", ctx.path("pylua-home"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "inspected y\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The launcher record is not part of the tree: the hash is the same without it.
    let hash = ctx.status("app")["tree_hash"].clone();
    std::fs::remove_file(ctx.path("app/.pylua/.pylua-launcher")).unwrap();
    assert_eq!(ctx.status("app")["tree_hash"], hash);
    // A script file of the same name is what `run` runs.
    std::fs::write(ctx.path("app/inspect-cli"), "print('the local file')").unwrap();
    ctx.pylua(&["run", "inspect-cli"])
        .assert()
        .success()
        .stdout("the local file\n");
    // Neither a file nor a command: the usual error for a missing script.
    ctx.pylua(&["run", "no-such-tool"])
        .assert()
        .code(4)
        .stderr(predicates::str::contains("no-such-tool"));
}
