//! `pylua install`, `remove`, `list`, `which`, `path` and `cache` end to end: real sources
//! (pure Lua and C) in rocks servers the tests build, over file:// and HTTP on 127.0.0.1,
//! with the faults a real network and real packages produce. Every failure must leave the
//! tree exactly as it was.

mod common;

use assert_cmd::Command;
use common::{rockspec_with, tar_gz, HttpServer, RockServer};
use md5::{Digest, Md5};
use predicates::prelude::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

struct Ctx {
    home: TempDir,
}

impl Ctx {
    fn new() -> Ctx {
        Ctx {
            home: tempfile::tempdir().unwrap(),
        }
    }
    fn path(&self, p: &str) -> PathBuf {
        self.home.path().join(p)
    }
    fn tree(&self) -> String {
        self.path("tree").display().to_string()
    }
    fn pylua(&self) -> Command {
        let mut cmd = Command::cargo_bin("pylua").unwrap();
        cmd.current_dir(self.home.path())
            .env("PYLUA_HOME", self.path("pylua-home"));
        cmd
    }
    /// `pylua install ARGS --tree TREE`
    fn install(&self, args: &[&str]) -> Command {
        let mut cmd = self.pylua();
        cmd.arg("install").args(args).args(["--tree", &self.tree()]);
        cmd
    }
    fn eval(&self, code: &str) -> Command {
        let mut cmd = self.pylua();
        cmd.args(["eval", "--tree", &self.tree(), code]);
        cmd
    }
    /// A fingerprint of every file in the tree (path and content), for before/after checks.
    fn snapshot(&self) -> Vec<(String, Vec<u8>)> {
        fn walk(dir: &Path, root: &Path, out: &mut Vec<(String, Vec<u8>)>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for e in entries.flatten() {
                let p = e.path();
                let rel = p.strip_prefix(root).unwrap().display().to_string();
                // The lock file, and staging and build debris of a killed process (no
                // journal, so no change under way: invisible to Lua and LuaRocks, cleared by
                // the next writer).
                if rel == ".pylua-lock"
                    || rel.starts_with(".pylua-txn/stage-")
                    || rel.starts_with(".pylua-txn/work-")
                {
                    continue;
                }
                if p.is_dir() {
                    walk(&p, root, out);
                } else {
                    out.push((rel, std::fs::read(&p).unwrap_or_default()));
                }
            }
        }
        let mut out = Vec::new();
        let root = self.path("tree");
        walk(&root, &root, &mut out);
        out.sort();
        out
    }
}

const GREET_C: &str = r#"
#include "lua.h"
#include "lauxlib.h"
static int hello(lua_State *L) {
    const char *who = luaL_optstring(L, 1, "world");
    lua_pushfstring(L, "hello, %s", who);
    return 1;
}
int luaopen_greet_core(lua_State *L) {
    lua_newtable(L);
    lua_pushcfunction(L, hello);
    lua_setfield(L, -2, "hello");
    return 1;
}
"#;

/// A server with a pure-Lua package, a C package and a package depending on both.
fn server(ctx: &Ctx) -> RockServer {
    let mut s = RockServer::new(&ctx.path("server"));
    s.package(
        "strutil",
        "1.0-1",
        &["lua >= 5.1"],
        &[("src/strutil.lua", "local M = {} function M.shout(s) return s:upper() .. '!' end return M")],
        r#"type = "builtin", modules = { strutil = "src/strutil.lua" }"#,
    )
    .package(
        "strutil",
        "1.1-1",
        &["lua >= 5.1"],
        &[("src/strutil.lua", "local M = {} function M.shout(s) return s:upper() .. '!!' end return M")],
        r#"type = "builtin", modules = { strutil = "src/strutil.lua" }"#,
    )
    .package(
        "greet",
        "0.2-1",
        &["lua >= 5.1"],
        &[("csrc/greet.c", GREET_C), ("lua/greet.lua", "local core = require('greet.core') return { hello = core.hello }"), ("bin/greet", "print(require('greet').hello(arg[1]))")],
        r#"type = "builtin", modules = { ["greet.core"] = { sources = { "csrc/greet.c" } }, greet = "lua/greet.lua" }, install = { bin = { greet = "bin/greet" } }, copy_directories = {}"#,
    )
    .package(
        "app",
        "1.0-1",
        &["strutil >= 1.0", "greet ~> 0.2"],
        &[("app.lua", "local s, g = require('strutil'), require('greet') return function(n) return s.shout(g.hello(n)) end")],
        r#"type = "builtin", modules = { app = "app.lua" }"#,
    )
    .package(
        "broken-c",
        "1.0-1",
        &[],
        &[("bad.c", "this is not C at all;")],
        r#"type = "builtin", modules = { bad = "bad.c" }"#,
    );
    s.publish();
    s
}

/// Compares two snapshots, naming the paths that differ (not dumping contents).
fn assert_same(before: &[(String, Vec<u8>)], after: &[(String, Vec<u8>)], context: &str) {
    if before == after {
        return;
    }
    let names = |s: &[(String, Vec<u8>)]| {
        s.iter()
            .map(|(p, _)| p.clone())
            .collect::<std::collections::BTreeSet<_>>()
    };
    let (b, a) = (names(before), names(after));
    let changed: Vec<&String> = before
        .iter()
        .filter(|(p, c)| after.iter().any(|(q, d)| q == p && d != c))
        .map(|(p, _)| p)
        .collect();
    panic!(
        "{context}: the tree changed\n  removed: {:?}\n  added: {:?}\n  changed: {:?}",
        b.difference(&a).collect::<Vec<_>>(),
        a.difference(&b).collect::<Vec<_>>(),
        changed
    );
}

fn json(cmd: &mut Command) -> Value {
    let out = cmd.output().unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn installs_lua_and_c_packages_that_the_embedded_vm_loads() {
    let ctx = Ctx::new();
    let s = server(&ctx);
    ctx.install(&["app", "--only-server", &s.url()])
        .assert()
        .success()
        .stdout(predicate::str::contains("Installed 3 packages"))
        .stdout(predicate::str::contains("+ greet 0.2-1"))
        .stdout(predicate::str::contains("+ strutil 1.1-1"));
    ctx.eval("return require('app')('lua')")
        .assert()
        .success()
        .stdout("HELLO, LUA!!\n");
    // The C module itself, through the Lua C API exported by the pylua binary.
    ctx.eval("return require('greet.core').hello()")
        .assert()
        .success()
        .stdout("hello, world\n");
    // The tree has the LuaRocks layout.
    let tree = ctx.path("tree");
    for f in [
        "share/lua/5.4/app.lua",
        "share/lua/5.4/greet.lua",
        "lib/lua/5.4/greet/core.so",
        "lib/luarocks/rocks-5.4/manifest",
        "lib/luarocks/rocks-5.4/greet/0.2-1/rock_manifest",
        "lib/luarocks/rocks-5.4/greet/0.2-1/greet-0.2-1.rockspec",
        "lib/luarocks/rocks-5.4/greet/0.2-1/bin/greet",
        "bin/greet",
    ] {
        assert!(tree.join(f).exists(), "{f} missing");
    }
    // The command wrapper runs the script with the tree's modules.
    std::process::Command::new(tree.join("bin/greet"))
        .arg("you")
        .output()
        .map(|o| {
            assert_eq!(
                String::from_utf8_lossy(&o.stdout),
                "hello, you\n",
                "{}",
                String::from_utf8_lossy(&o.stderr)
            )
        })
        .unwrap();
    ctx.pylua()
        .args(["list", "--tree", &ctx.tree()])
        .assert()
        .success()
        .stdout("app                      1.0-1\ngreet                    0.2-1\nstrutil                  1.1-1\n");
    ctx.pylua()
        .args(["which", "greet.core", "--tree", &ctx.tree()])
        .assert()
        .success()
        .stdout(predicate::str::contains("lib/lua/5.4/greet/core.so"))
        .stdout(predicate::str::contains("provided by greet 0.2-1"));
    ctx.pylua()
        .args(["path", "--tree", &ctx.tree()])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "export LUA_PATH='{}/share/lua/5.4/?.lua;",
            ctx.tree()
        )));
    // Into a second tree, the builds come from the cache: no C compiler needed this time.
    let empty_path = ctx.path("no-tools");
    std::fs::create_dir_all(&empty_path).unwrap();
    let mut cmd = ctx.pylua();
    cmd.env("PATH", &empty_path)
        .args(["install", "app", "--only-server", &s.url(), "--tree"])
        .arg(ctx.path("tree2"))
        .assert()
        .success()
        .stdout(predicate::str::contains("Installed 3 packages"));
    let mut cmd = ctx.pylua();
    cmd.args(["eval", "--tree"])
        .arg(ctx.path("tree2"))
        .arg("return require('greet.core').hello('cache')")
        .assert()
        .success()
        .stdout("hello, cache\n");
    // A second install of the same thing does nothing, without asking any server.
    ctx.install(&["app", "--only-server", "file:///nonexistent"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("Nothing to do"));
}

#[test]
fn make_and_command_builds_and_prebuilt_rocks() {
    let ctx = Ctx::new();
    let mut s = RockServer::new(&ctx.path("server"));
    s.package(
        "viamake",
        "1.0-1",
        &[],
        &[
            ("mk.lua", "return 'built by make'"),
            ("Makefile", "all:\n\ttrue\ninstall:\n\tmkdir -p $(LUADIR) && cp mk.lua $(LUADIR)/mk.lua\n"),
        ],
        r#"type = "make", install_variables = { LUADIR = "$(LUADIR)" }"#,
    )
    .package(
        "viacmd",
        "1.0-1",
        &[],
        &[("README", "x")],
        r#"type = "command", build_command = "mkdir -p out && echo \"return 'built by a command'\" > out/c.lua", install = { lua = { cmd = "out/c.lua" } }"#,
    )
    .all_rock("prebuilt", "2.0-1", &[("lua/prebuilt.lua", "return 'prebuilt'"), ("lua/prebuilt/util.lua", "return 'util'")]);
    s.publish();
    ctx.install(&["viamake", "viacmd", "prebuilt", "--only-server", &s.url()])
        .assert()
        .success()
        .stdout(predicate::str::contains("Installed 3 packages"));
    ctx.eval("return (require('mk')), (require('cmd')), (require('prebuilt')), (require('prebuilt.util'))")
        .assert()
        .success()
        .stdout("built by make\tbuilt by a command\tprebuilt\tutil\n");
    // Modules of a prebuilt rock are recorded, so which and remove know them.
    ctx.pylua()
        .args(["which", "prebuilt.util", "--tree", &ctx.tree()])
        .assert()
        .success()
        .stdout(predicate::str::contains("share/lua/5.4/prebuilt/util.lua"));
    ctx.pylua()
        .args(["remove", "prebuilt", "viamake", "--tree", &ctx.tree()])
        .assert()
        .success();
    assert!(!ctx.path("tree/share/lua/5.4/prebuilt/util.lua").exists());
    assert!(!ctx.path("tree/share/lua/5.4/mk.lua").exists());
}

#[test]
fn upgrades_remove_and_dependents() {
    let ctx = Ctx::new();
    let s = server(&ctx);
    ctx.install(&["strutil@1.0", "--only-server", &s.url()])
        .assert()
        .success();
    ctx.eval("return require('strutil').shout('a')")
        .assert()
        .stdout("A!\n");
    ctx.install(&["strutil@>=1.1", "--only-server", &s.url()])
        .assert()
        .success()
        .stdout(predicate::str::contains("~ strutil 1.1-1 (was 1.0-1)"));
    ctx.eval("return require('strutil').shout('a')")
        .assert()
        .stdout("A!!\n");
    assert!(!ctx
        .path("tree/lib/luarocks/rocks-5.4/strutil/1.0-1")
        .exists());

    ctx.install(&["app", "--only-server", &s.url()])
        .assert()
        .success();
    let before = ctx.snapshot();
    ctx.pylua()
        .args(["remove", "strutil", "--tree", &ctx.tree()])
        .assert()
        .code(8)
        .stderr(predicate::str::contains(
            "cannot remove strutil 1.1-1: app 1.0-1 depends on it",
        ));
    assert_same(&before, &ctx.snapshot(), "after a refused remove");
    ctx.pylua()
        .args(["remove", "app", "strutil", "--tree", &ctx.tree()])
        .assert()
        .success()
        .stdout("  - app 1.0-1\n  - strutil 1.1-1\n");
    assert!(!ctx.path("tree/share/lua/5.4/strutil.lua").exists());
    ctx.pylua()
        .args(["remove", "greet", "--force", "--tree", &ctx.tree()])
        .assert()
        .success();
    ctx.pylua()
        .args(["list", "--tree", &ctx.tree()])
        .assert()
        .stdout(predicate::str::starts_with("no packages installed"));
    ctx.pylua()
        .args(["remove", "ghost", "--tree", &ctx.tree()])
        .assert()
        .code(5)
        .stderr(predicate::str::contains("ghost is not installed"));
}

#[test]
fn a_compiler_error_installs_nothing() {
    let ctx = Ctx::new();
    let s = server(&ctx);
    ctx.install(&["strutil", "--only-server", &s.url()])
        .assert()
        .success();
    let before = ctx.snapshot();
    ctx.install(&["broken-c", "app", "--only-server", &s.url()])
        .assert()
        .code(7)
        .stderr(predicate::str::contains(
            "broken-c 1.0-1: the C compiler failed",
        ))
        .stderr(predicate::str::contains("bad.c"))
        .stderr(predicate::str::contains("the tree is unchanged"));
    assert_same(&before, &ctx.snapshot(), "after a compiler error");
}

#[test]
fn checksums_are_verified() {
    let ctx = Ctx::new();
    let src = ctx.path("src");
    std::fs::create_dir_all(&src).unwrap();
    let tarball = tar_gz("m-1.0", &[("m.lua", "return 'm'")]);
    std::fs::write(src.join("m-1.0.tar.gz"), &tarball).unwrap();
    let url = format!("file://{}/m-1.0.tar.gz", src.display());
    let good = format!("{:x}", Md5::digest(&tarball));
    let spec = |md5: &str| {
        rockspec_with(
            "m",
            "1.0-1",
            &[],
            &url,
            "m-1.0",
            Some(md5),
            r#"type = "builtin", modules = { m = "m.lua" }"#,
        )
    };
    std::fs::write(
        src.join("m-1.0-1.rockspec"),
        spec("0123456789abcdef0123456789abcdef"),
    )
    .unwrap();
    let empty = RockServer::new(&ctx.path("server"));
    empty.publish();
    ctx.install(&[
        src.join("m-1.0-1.rockspec").to_str().unwrap(),
        "--only-server",
        &empty.url(),
    ])
    .assert()
    .code(7)
    .stderr(predicate::str::contains("checksum mismatch"))
    .stderr(predicate::str::contains(&good));
    assert!(!ctx.path("tree/share/lua/5.4/m.lua").exists());
    // With the right checksum, the local rockspec installs.
    std::fs::write(src.join("m-1.0-1.rockspec"), spec(&good)).unwrap();
    ctx.install(&[
        src.join("m-1.0-1.rockspec").to_str().unwrap(),
        "--only-server",
        &empty.url(),
    ])
    .assert()
    .success();
    ctx.eval("return (require('m'))").assert().stdout("m\n");
}

#[test]
fn git_sources_with_a_tag() {
    let ctx = Ctx::new();
    let repo = ctx.path("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let git = |args: &[&str]| {
        common::git(&repo, args);
    };
    git(&["init", "-q"]);
    std::fs::write(repo.join("g.lua"), "return 'v1'").unwrap();
    git(&["add", "."]);
    git(&["commit", "-qm", "v1"]);
    git(&["tag", "v1.0"]);
    std::fs::write(repo.join("g.lua"), "return 'v2 (not tagged)'").unwrap();
    git(&["commit", "-qam", "v2"]);
    let spec = format!(
        "package = 'g'\nversion = '1.0-1'\nsource = {{ url = 'git+file://{}', tag = 'v1.0' }}\nbuild = {{ type = 'builtin', modules = {{ g = 'g.lua' }} }}\n",
        repo.display()
    );
    let path = ctx.path("g-1.0-1.rockspec");
    std::fs::write(&path, spec).unwrap();
    let empty = RockServer::new(&ctx.path("server"));
    empty.publish();
    ctx.install(&[path.to_str().unwrap(), "--only-server", &empty.url()])
        .assert()
        .success();
    ctx.eval("return (require('g'))").assert().stdout("v1\n");
}

#[test]
fn http_faults_leave_the_tree_intact_and_the_cache_works_offline() {
    let ctx = Ctx::new();
    let s = server(&ctx);
    let http = HttpServer::serve(&s.dir);
    ctx.install(&["strutil@1.0", "--only-server", &http.url])
        .assert()
        .success();
    let before = ctx.snapshot();

    *http.fail_only.lock().unwrap() = Some("greet-0.2-1.src.rock".into());
    *http.fail_with.lock().unwrap() = Some(500);
    // The rock is read while resolving (its rockspec is inside it): a server error.
    ctx.install(&["app", "--only-server", &http.url])
        .assert()
        .code(6)
        .stderr(predicate::str::contains(
            "greet-0.2-1.src.rock: the server answered HTTP 500",
        ));
    assert_same(&before, &ctx.snapshot(), "after HTTP 500");

    *http.fail_with.lock().unwrap() = None;
    http.truncate
        .store(true, std::sync::atomic::Ordering::Relaxed);
    ctx.install(&["app", "--only-server", &http.url])
        .assert()
        .code(6)
        .stderr(predicate::str::contains("truncated"));
    assert_same(&before, &ctx.snapshot(), "after a truncated download");

    http.truncate
        .store(false, std::sync::atomic::Ordering::Relaxed);
    let doc = json(&mut ctx.install(&["app", "--json", "--only-server", &http.url]));
    assert_eq!(doc["ok"], true, "{doc}");
    let greet = doc["result"]["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "greet")
        .unwrap();
    assert_eq!(
        greet["sha256"].as_str().unwrap().len(),
        64,
        "sha256 recorded"
    );

    // The manifest is revalidated, not downloaded again: the server answers 304.
    ctx.pylua()
        .args(["search", "greet", "--only-server", &http.url])
        .assert()
        .success()
        .stdout(predicate::str::contains("greet"));
    assert!(http.not_modified.load(std::sync::atomic::Ordering::Relaxed) >= 1);

    // Everything is cached now: a new tree installs with the server gone.
    let url = http.url.clone();
    drop(http);
    let mut cmd = ctx.pylua();
    cmd.args([
        "install",
        "app",
        "--offline",
        "--only-server",
        &url,
        "--tree",
    ])
    .arg(ctx.path("tree2"))
    .assert()
    .success()
    .stdout(predicate::str::contains("Installed 3 packages"));
    // And offline with an empty cache is a clear error.
    ctx.pylua().args(["cache", "clean"]).assert().success();
    ctx.pylua()
        .args([
            "install",
            "app",
            "--offline",
            "--only-server",
            &url,
            "--tree",
        ])
        .arg(ctx.path("tree3"))
        .assert()
        .code(6)
        .stderr(predicate::str::contains("--offline"));
}

#[test]
fn concurrent_installs_serialise_on_the_tree_lock() {
    let ctx = Ctx::new();
    let s = server(&ctx);
    let spawn = |pkg: &str| {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("pylua"))
            .current_dir(ctx.home.path())
            .env("PYLUA_HOME", ctx.path("pylua-home"))
            .args([
                "install",
                pkg,
                "--only-server",
                &s.url(),
                "--tree",
                &ctx.tree(),
            ])
            .output()
            .unwrap()
    };
    let (a, b) = std::thread::scope(|sc| {
        let a = sc.spawn(|| spawn("app"));
        let b = sc.spawn(|| spawn("strutil"));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    ctx.eval("return require('app')('x')")
        .assert()
        .success()
        .stdout("HELLO, X!!\n");
}

#[test]
fn kill_9_at_any_moment_leaves_the_tree_before_or_after() {
    let ctx = Ctx::new();
    let mut s = RockServer::new(&ctx.path("server"));
    // A package with many files, so the install has a long window to be killed in.
    let files: Vec<(String, String)> = (0..300)
        .map(|i| (format!("big/m{i}.lua"), format!("return {i}")))
        .collect();
    let file_refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let modules: Vec<String> = (0..300)
        .map(|i| format!("[\"big.m{i}\"] = \"big/m{i}.lua\""))
        .collect();
    s.package(
        "big",
        "1.0-1",
        &[],
        &file_refs,
        &format!("type = \"builtin\", modules = {{ {} }}", modules.join(", ")),
    );
    s.package(
        "small",
        "1.0-1",
        &[],
        &[("small.lua", "return 'small'")],
        r#"type = "builtin", modules = { small = "small.lua" }"#,
    );
    s.publish();
    ctx.install(&["small", "--only-server", &s.url()])
        .assert()
        .success();
    let before = ctx.snapshot();
    let mut outcomes = (0, 0, 0);
    // Kills at fixed moments (mostly while fetching and building), then kills aimed at the
    // commit itself: as soon as the journal appears, while files are being moved.
    let plans: Vec<Option<u64>> = [5, 30, 80, 150, 300, 600]
        .into_iter()
        .map(Some)
        .chain([None; 6])
        .collect();
    for plan in plans {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("pylua"))
            .current_dir(ctx.home.path())
            .env("PYLUA_HOME", ctx.path("pylua-home"))
            .args([
                "install",
                "big",
                "--only-server",
                &s.url(),
                "--tree",
                &ctx.tree(),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let journal = ctx.path("tree/.pylua-txn/journal");
        match plan {
            Some(ms) => std::thread::sleep(std::time::Duration::from_millis(ms)),
            None => {
                let start = std::time::Instant::now();
                while !journal.exists() && start.elapsed() < std::time::Duration::from_secs(20) {
                    if child.try_wait().unwrap().is_some() {
                        break;
                    }
                    std::thread::yield_now();
                }
            }
        }
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let mid_commit = journal.exists();
        // The next command recovers the tree before reading it.
        let listed = ctx
            .pylua()
            .args(["list", "--tree", &ctx.tree()])
            .output()
            .unwrap();
        let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
        if listed.contains("big") {
            outcomes.2 += 1;
            ctx.eval("return (require('big.m299'))")
                .assert()
                .success()
                .stdout("299\n");
            ctx.pylua()
                .args(["remove", "big", "--tree", &ctx.tree()])
                .assert()
                .success();
        } else if mid_commit {
            outcomes.1 += 1;
        } else {
            outcomes.0 += 1;
        }
        assert!(!journal.exists(), "a reader recovers an interrupted change");
        assert_same(
            &before,
            &ctx.snapshot(),
            &format!("after a kill ({plan:?}), then removing what completed"),
        );
        ctx.eval("return (require('small'))")
            .assert()
            .success()
            .stdout("small\n");
    }
    eprintln!(
        "killed before the commit: {}, during the commit (rolled back): {}, after it: {}",
        outcomes.0, outcomes.1, outcomes.2
    );
}
