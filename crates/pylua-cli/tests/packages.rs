//! `pylua search`, `show` and `install --dry-run` against rocks servers the tests build,
//! over file:// and HTTP on 127.0.0.1.

mod common;

use assert_cmd::Command;
use common::{HttpServer, RockServer};
use predicates::prelude::*;
use serde_json::Value;
use tempfile::TempDir;

fn pylua(home: &TempDir) -> Command {
    let mut cmd = Command::cargo_bin("pylua").unwrap();
    cmd.current_dir(home.path())
        .env("PYLUA_HOME", home.path().join("home"));
    cmd
}

/// A small ecosystem with a diamond, an old-Lua-only version and a conflict.
fn ecosystem(dir: &std::path::Path) -> RockServer {
    let mut s = RockServer::new(dir);
    s.rock("penlight", "1.13.1-1", &["lua >= 5.1", "luafilesystem"])
        .rock(
            "penlight",
            "1.14.0-1",
            &["lua >= 5.1", "luafilesystem >= 1.8"],
        )
        .rock("luafilesystem", "1.7.0-2", &["lua >= 5.1"])
        .rock("luafilesystem", "1.8.0-1", &["lua >= 5.1"])
        .rock("lua-cjson", "2.1.0-1", &["lua >= 5.1"])
        .rock("lua-cjson", "2.1.0.10-1", &["lua >= 5.1"])
        .rock("oldlib", "1.0-1", &["lua ~> 5.1"])
        .rock("web", "1.0-1", &["json-lib >= 2.0"])
        .rock("cli", "1.0-1", &["json-lib < 2.0"])
        .rock("json-lib", "1.5-1", &[])
        .rock("json-lib", "2.1-1", &[])
        .src_rock("srconly", "0.3-1", &["lua-cjson ~> 2.1"]);
    s.publish();
    s
}

fn stdout_json(cmd: &mut Command) -> Value {
    let out = cmd.output().unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn dry_run_resolves_the_whole_graph_in_install_order() {
    let home = tempfile::tempdir().unwrap();
    let server = ecosystem(&home.path().join("server"));
    pylua(&home)
        .args(["install", "--dry-run", "penlight", "lua-cjson@2.1.0", "--only-server", &server.url()])
        .assert()
        .success()
        .stdout(
            "Would install 3 packages for Lua 5.4:\n  lua-cjson 2.1.0-1\n  luafilesystem 1.8.0-1  (dependency)\n  penlight 1.14.0-1\n",
        );
    let doc = stdout_json(pylua(&home).args([
        "install",
        "--dry-run",
        "--json",
        "srconly",
        "--only-server",
        &server.url(),
    ]));
    let names: Vec<(&str, &str)> = doc["result"]["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["version"].as_str().unwrap()))
        .collect();
    // The .src.rock-only package's dependencies come from the rockspec inside the rock.
    assert_eq!(
        names,
        vec![("lua-cjson", "2.1.0.10-1"), ("srconly", "0.3-1")]
    );
}

#[test]
fn constraints_and_the_lua_version_steer_the_choice() {
    let home = tempfile::tempdir().unwrap();
    let server = ecosystem(&home.path().join("server"));
    pylua(&home)
        .args([
            "install",
            "--dry-run",
            "penlight@<1.14",
            "luafilesystem@~>1.7",
            "--only-server",
            &server.url(),
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("luafilesystem 1.7.0-2"))
        .stdout(predicate::str::contains("penlight 1.13.1-1"));
    pylua(&home)
        .args([
            "install",
            "--dry-run",
            "oldlib",
            "--lua",
            "5.1",
            "--only-server",
            &server.url(),
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("for Lua 5.1"));
    pylua(&home)
        .args([
            "install",
            "--dry-run",
            "oldlib",
            "--only-server",
            &server.url(),
        ])
        .assert()
        .code(5)
        .stderr(predicate::str::contains(
            "oldlib depends on lua >= 5.1, < 5.2",
        ))
        .stderr(predicate::str::contains("Lua 5.4"));
}

#[test]
fn conflicts_are_explained_naming_both_sides() {
    let home = tempfile::tempdir().unwrap();
    let server = ecosystem(&home.path().join("server"));
    let out = pylua(&home)
        .args([
            "install",
            "--dry-run",
            "web",
            "cli",
            "--only-server",
            &server.url(),
        ])
        .assert()
        .code(5)
        .get_output()
        .clone();
    let err = String::from_utf8_lossy(&out.stderr);
    // Both requirers and both constraints are named (a package with one version may be
    // named without it).
    assert!(
        err.contains("web 1.0-1 depends on json-lib >= 2.0")
            || err.contains("web depends on json-lib >= 2.0"),
        "{err}"
    );
    assert!(
        err.contains("cli 1.0-1 depends on json-lib < 2.0")
            || err.contains("cli depends on json-lib < 2.0"),
        "{err}"
    );
    assert!(
        err.contains("you asked for web") && err.contains("you asked for cli"),
        "{err}"
    );
    let doc = stdout_json(pylua(&home).args([
        "install",
        "--dry-run",
        "--json",
        "web",
        "cli",
        "--only-server",
        &server.url(),
    ]));
    assert_eq!(doc["error"]["kind"], "no_solution");
}

#[test]
fn search_and_show() {
    let home = tempfile::tempdir().unwrap();
    let server = ecosystem(&home.path().join("server"));
    pylua(&home)
        .args(["search", "json", "--only-server", &server.url()])
        .assert()
        .success()
        .stdout(
            "json-lib                 2.1-1, 1.5-1\nlua-cjson                2.1.0.10-1, 2.1.0-1\n",
        );
    pylua(&home)
        .args(["show", "penlight", "--only-server", &server.url()])
        .assert()
        .success()
        .stdout(predicate::str::starts_with(
            "penlight 1.14.0-1\n  The penlight package\n",
        ))
        .stdout(predicate::str::contains("license:      MIT"))
        .stdout(predicate::str::contains("versions:     1.14.0-1, 1.13.1-1"))
        .stdout(predicate::str::contains("  luafilesystem >= 1.8"));
    let doc = stdout_json(pylua(&home).args([
        "show",
        "--json",
        "penlight",
        "1.13.1",
        "--only-server",
        &server.url(),
    ]));
    assert_eq!(doc["result"]["version"], "1.13.1-1");
    assert_eq!(doc["result"]["dependencies"][1]["name"], "luafilesystem");
    pylua(&home)
        .args(["show", "penlite", "--only-server", &server.url()])
        .assert()
        .code(5)
        .stderr(predicate::str::contains("no package named 'penlite'"))
        .stderr(predicate::str::contains("similar names: penlight"));
    pylua(&home)
        .args(["show", "penlight", "9.9", "--only-server", &server.url()])
        .assert()
        .code(5)
        .stderr(predicate::str::contains(
            "penlight has no version 9.9; available: 1.14.0-1, 1.13.1-1",
        ));
}

/// Every `.idx` file of the manifest index cache under `home`.
fn cached_indexes(home: &TempDir) -> Vec<std::path::PathBuf> {
    let dir = home.path().join("home/cache/indexes");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

#[test]
fn search_and_resolution_read_the_same_from_a_warm_index_cache() {
    let home = tempfile::tempdir().unwrap();
    let server = ecosystem(&home.path().join("server"));
    let mut mirror = RockServer::new(&home.path().join("mirror"));
    mirror
        .rock("json-lib", "3.0-1", &[])
        .rock("mirrored", "1.0-1", &[]);
    mirror.publish();
    let urls = [server.url(), mirror.url()];
    let run = |args: &[&str]| -> String {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--only-server", &urls[0], "--only-server", &urls[1]]);
        let out = pylua(&home).args(&all).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let ask = || {
        [
            run(&["search", "--json", "l"]),
            run(&["search", "nomatch"]),
            run(&[
                "install",
                "--dry-run",
                "--json",
                "penlight",
                "srconly",
                "json-lib",
            ]),
        ]
    };
    assert!(cached_indexes(&home).is_empty());
    let cold = ask();
    assert!(
        cold[0].contains("json-lib") && cold[0].contains("3.0-1"),
        "{}",
        cold[0]
    );
    let files = cached_indexes(&home);
    assert_eq!(files.len(), 2, "one index per server: {files:?}");
    let stored: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    assert_eq!(ask(), cold, "warm");
    // Damaged cache files are ignored and rewritten.
    std::fs::write(&files[0], b"garbage").unwrap();
    std::fs::write(&files[1], &stored[1][..stored[1].len() / 2]).unwrap();
    assert_eq!(ask(), cold, "after damage");
    let restored: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    assert_eq!(restored, stored);
    // A changed manifest is read again.
    mirror.rock("mirrored", "2.0-1", &[]).publish();
    let changed = run(&["search", "mirrored"]);
    assert!(changed.contains("2.0-1, 1.0-1"), "{changed}");
    assert_eq!(cached_indexes(&home).len(), 2);
}

#[test]
fn servers_are_tried_in_priority_order() {
    let home = tempfile::tempdir().unwrap();
    let mut first = RockServer::new(&home.path().join("first"));
    first
        .rock("dup", "1.0-1", &["only-first"])
        .rock("only-first", "1.0-1", &[])
        .publish();
    let mut second = RockServer::new(&home.path().join("second"));
    second
        .rock("dup", "1.0-1", &["only-second"])
        .rock("dup", "2.0-1", &[])
        .publish();
    // dup 2.0 exists only on the second server; dup 1.0 comes from the first.
    pylua(&home)
        .args([
            "install",
            "--dry-run",
            "dup@1.0",
            "--only-server",
            &first.url(),
            "--only-server",
            &second.url(),
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("only-first 1.0-1"));
    pylua(&home)
        .args([
            "install",
            "--dry-run",
            "dup",
            "--only-server",
            &first.url(),
            "--only-server",
            &second.url(),
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("dup 2.0-1"));
}

#[test]
fn the_same_works_over_http() {
    let home = tempfile::tempdir().unwrap();
    let server = ecosystem(&home.path().join("server"));
    let http = HttpServer::serve(&server.dir);
    pylua(&home)
        .args([
            "install",
            "--dry-run",
            "penlight",
            "srconly",
            "--only-server",
            &http.url,
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("penlight 1.14.0-1"))
        .stdout(predicate::str::contains("srconly 0.3-1"));
    *http.fail_with.lock().unwrap() = Some(500);
    pylua(&home)
        .args(["search", "pen", "--only-server", &http.url])
        .assert()
        .code(6)
        .stderr(predicate::str::contains(
            "/manifest-5.4: the server answered HTTP 500",
        ));
}

#[test]
fn broken_servers_and_rockspecs_get_clear_errors() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("server");
    let mut s = RockServer::new(&dir);
    s.rock("good", "1.0-1", &[])
        .raw_rockspec("good", "2.0-1", "package = 'good'\nversion = '2.0-1'\nsource = {url = 'x'}\ndependencies = { '>= 1' }\n")
        .raw_rockspec("loop", "1.0-1", "while true do end")
        .publish();
    // A broken newest version is skipped, with the reason kept for reports.
    pylua(&home)
        .args(["install", "--dry-run", "good", "--only-server", &s.url()])
        .assert()
        .success()
        .stdout(predicate::str::contains("good 1.0-1"));
    pylua(&home)
        .args([
            "install",
            "--dry-run",
            "good@2.0",
            "--only-server",
            &s.url(),
        ])
        .assert()
        .code(5)
        .stderr(predicate::str::contains(
            "good-2.0-1.rockspec: field 'dependencies[1]'",
        ));
    // A rockspec that loops is stopped by the sandbox's limits.
    pylua(&home)
        .args(["install", "--dry-run", "loop", "--only-server", &s.url()])
        .assert()
        .code(5)
        .stderr(predicate::str::contains("limit exceeded"));
    // A malformed manifest names the place.
    std::fs::write(
        dir.join("manifest"),
        "repository = {\n  good = {\n    [\"1.0-1\"] = { { arch = } }\n",
    )
    .unwrap();
    pylua(&home)
        .args(["search", "good", "--only-server", &s.url()])
        .assert()
        .code(6)
        .stderr(predicate::str::contains("manifest line 3"));
    // Not a server at all.
    let empty = home.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    pylua(&home)
        .args(["search", "x", "--only-server", empty.to_str().unwrap()])
        .assert()
        .code(6)
        .stderr(predicate::str::contains(
            "neither manifest-5.4 nor manifest",
        ));
    pylua(&home)
        .args(["install", "--dry-run", "good@", "--only-server", &s.url()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("invalid package request 'good@'"));
}
