//! The curated catalog, profiles and the global configuration through the real `pylua`
//! binary: listing and showing them, profiles checked against what a rocks server really
//! has, user profiles and catalogs, `config get/set/unset`, and invalid configuration that
//! must be reported (file, key, expectation) without writing anything.

mod common;

use assert_cmd::Command;
use common::RockServer;
use predicates::prelude::*;
use serde_json::Value;
use std::path::PathBuf;
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
    fn config_file(&self) -> PathBuf {
        self.path("pylua-home/config/config.toml")
    }
    fn pylua(&self, args: &[&str]) -> Command {
        let mut cmd = Command::cargo_bin("pylua").unwrap();
        cmd.current_dir(self.home.path())
            .env("PYLUA_HOME", self.path("pylua-home"))
            .args(args);
        cmd
    }
    fn json(&self, args: &[&str]) -> Value {
        let out = self.pylua(args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()["result"].clone()
    }
}

#[test]
fn the_catalog_lists_categories_and_shows_entries() {
    let ctx = Ctx::new();
    ctx.pylua(&["catalog"]).assert().success().stdout(
        predicate::str::contains("core:")
            .and(predicate::str::contains("networking:"))
            .and(predicate::str::contains("lua-cjson"))
            .and(predicate::str::contains("security:")),
    );
    let entry = ctx.json(&["catalog", "penlight", "--json"]);
    assert_eq!(entry["category"], "core");
    assert_eq!(entry["native"], false);
    let testing = ctx.json(&["catalog", "--category", "testing", "--json"]);
    let names: Vec<&str> = testing
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"busted") && names.contains(&"luassert"),
        "{names:?}"
    );
    ctx.pylua(&["catalog", "nonesuch"]).assert().code(5);
    ctx.pylua(&["catalog", "--category", "games"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("expected one of core"));
}

#[test]
fn profiles_say_which_packages_the_servers_lack() {
    let ctx = Ctx::new();
    let list = ctx.json(&["profile", "list", "--json"]);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for p in [
        "minimal",
        "standard",
        "full",
        "development",
        "production",
        "networking",
    ] {
        assert!(names.contains(&p), "{names:?}");
    }
    // A server with only part of the standard profile.
    let mut server = RockServer::new(&ctx.path("server"));
    server
        .rock("penlight", "1.13.1-1", &[])
        .rock("inspect", "3.0-1", &[])
        .publish();
    let out = ctx.json(&[
        "profile",
        "show",
        "standard",
        "--only-server",
        &server.url(),
        "--json",
    ]);
    let unavailable: Vec<String> = out["unavailable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            format!(
                "{}: {}",
                u["name"].as_str().unwrap(),
                u["why"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(unavailable.len(), 3, "{unavailable:?}");
    assert!(
        unavailable
            .iter()
            .any(|u| u.starts_with("lua-cjson: not on file://")),
        "{unavailable:?}"
    );
    assert!(
        unavailable
            .iter()
            .any(|u| u.starts_with("inspect: the profile asks for >= 3.1; the servers have 3.0-1")),
        "{unavailable:?}"
    );
    ctx.pylua(&[
        "profile",
        "show",
        "standard",
        "--only-server",
        &server.url(),
    ])
    .assert()
    .success()
    .stdout(
        predicate::str::contains("MISSING").and(predicate::str::contains(
            "3 of 4 packages are not available",
        )),
    );
    // Unreachable servers are reported, and the profile is still shown.
    ctx.pylua(&[
        "profile",
        "show",
        "minimal",
        "--only-server",
        "http://127.0.0.1:9",
    ])
    .assert()
    .success()
    .stdout(predicate::str::contains("could not ask the servers"));
    ctx.pylua(&["profile", "show", "nonesuch", "--no-check"])
        .assert()
        .code(5)
        .stderr(predicate::str::contains("unknown profile 'nonesuch'"));
}

#[test]
fn user_profiles_and_catalogs_live_in_the_config() {
    let ctx = Ctx::new();
    ctx.pylua(&[
        "profile",
        "create",
        "web",
        "--extends",
        "standard",
        "--package",
        "etlua",
        "--description",
        "our stack",
    ])
    .assert()
    .success();
    let web = ctx.json(&["profile", "show", "web", "--no-check", "--json"]);
    let pkgs: Vec<&str> = web["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(
        pkgs.contains(&"etlua") && pkgs.contains(&"penlight"),
        "{pkgs:?}"
    );
    ctx.pylua(&["profile", "create", "web"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--force"));
    ctx.pylua(&["profile", "create", "standard"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("built-in"));
    let before = std::fs::read(ctx.config_file()).unwrap();
    ctx.pylua(&["profile", "create", "bad", "--package", "penlite"])
        .assert()
        .code(10)
        .stderr(predicate::str::contains("'penlite' is not in the catalog"));
    assert_eq!(std::fs::read(ctx.config_file()).unwrap(), before);

    // A catalog of one's own adds packages that profiles can use.
    std::fs::write(
        ctx.path("mine.toml"),
        "[[package]]\nname = \"inhouse\"\ncategory = \"utility\"\nsummary = \"our helpers\"\nconstraint = \">= 1.0\"\nlua = [\"5.4\"]\nnative = false\n",
    )
    .unwrap();
    ctx.pylua(&[
        "config",
        "set",
        "catalogs",
        ctx.path("mine.toml").to_str().unwrap(),
    ])
    .assert()
    .success();
    ctx.pylua(&["catalog", "inhouse"])
        .assert()
        .success()
        .stdout(predicate::str::contains("mine.toml"));
    ctx.pylua(&["profile", "create", "ours", "--package", "inhouse"])
        .assert()
        .success();
    let ours = ctx.json(&[
        "profile",
        "show",
        "ours",
        "--lua",
        "5.1",
        "--no-check",
        "--json",
    ]);
    assert_eq!(ours["skipped"][0][0], "inhouse", "{ours}");
    ctx.pylua(&["profile", "delete", "web"]).assert().success();
    ctx.pylua(&["profile", "delete", "standard"])
        .assert()
        .code(2);
    ctx.pylua(&["profile", "show", "web", "--no-check"])
        .assert()
        .code(5);
}

#[test]
fn config_get_set_unset_and_invalid_files() {
    let ctx = Ctx::new();
    ctx.pylua(&["config", "path"])
        .assert()
        .success()
        .stdout(predicate::str::contains("pylua-home/config/config.toml"));
    ctx.pylua(&["config", "set", "lua", "5.1"])
        .assert()
        .success();
    ctx.pylua(&["config", "get", "lua"])
        .assert()
        .success()
        .stdout("5.1\n");
    std::fs::write(
        ctx.config_file(),
        format!(
            "# mine\n{}",
            std::fs::read_to_string(ctx.config_file()).unwrap()
        ),
    )
    .unwrap();
    ctx.pylua(&["config", "set", "profile", "minimal"])
        .assert()
        .success();
    assert!(std::fs::read_to_string(ctx.config_file())
        .unwrap()
        .starts_with("# mine\n"));
    let all = ctx.json(&["config", "list", "--json"]);
    assert_eq!(
        (all["lua"].as_str(), all["profile"].as_str()),
        (Some("5.1"), Some("minimal"))
    );

    let before = std::fs::read(ctx.config_file()).unwrap();
    ctx.pylua(&["config", "set", "lua", "5.9"])
        .assert()
        .code(10)
        .stderr(predicate::str::contains(
            "config.toml: key 'lua': unknown Lua version '5.9': expected 5.1, 5.2, 5.3, 5.4 or luajit",
        ));
    ctx.pylua(&["config", "set", "colour", "red"])
        .assert()
        .code(10)
        .stderr(predicate::str::contains("unknown key 'colour'"));
    assert_eq!(std::fs::read(ctx.config_file()).unwrap(), before);
    ctx.pylua(&["config", "unset", "profile"])
        .assert()
        .success();
    ctx.pylua(&["config", "get", "profile"]).assert().code(5);

    // The configured servers are used when none are given.
    let mut server = RockServer::new(&ctx.path("server"));
    server.rock("tinylib", "1.0-1", &[]).publish();
    ctx.pylua(&["config", "set", "servers", &server.url()])
        .assert()
        .success();
    ctx.pylua(&["search", "tiny"])
        .assert()
        .success()
        .stdout(predicate::str::contains("tinylib"));

    // A broken file is an error naming the file and what is wrong, for every command that
    // reads it, and nothing is written.
    std::fs::write(ctx.config_file(), "lua = '5.4'\nservers = 'not a list'\n").unwrap();
    let snapshot = std::fs::read(ctx.config_file()).unwrap();
    for args in [
        &["config", "list"][..],
        &["search", "x"],
        &["profile", "list"],
        &["init", "proj"],
    ] {
        ctx.pylua(args).assert().code(10).stderr(
            predicate::str::contains("config.toml").and(predicate::str::contains("line 2")),
        );
    }
    assert_eq!(std::fs::read(ctx.config_file()).unwrap(), snapshot);
    assert!(!ctx.path("proj").exists());
}

/// `pylua setup` with every answer as a flag writes config.toml in one go; a refused answer
/// writes nothing; without a terminal and without flags it says what to pass.
#[test]
fn setup_writes_the_answers_given_as_flags() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let run = |args: &[&str]| {
        Command::cargo_bin("pylua")
            .unwrap()
            .current_dir(dir.path())
            .env("PYLUA_HOME", &home)
            .args(args)
            .output()
            .unwrap()
    };
    let config = home.join("config/config.toml");
    let out = run(&["setup"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--yes"));
    let out = run(&["setup", "--profile", "nope", "--lua", "5.1"]);
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    assert!(!config.exists(), "a refused setup writes nothing");
    std::fs::create_dir_all(dir.path().join("rocks")).unwrap();
    let out = run(&[
        "setup",
        "--lua",
        "5.1",
        "--profile",
        "minimal",
        "--server",
        "rocks",
        "--json",
    ]);
    assert!(out.status.success(), "{out:?}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["result"]["now"]["lua"], "5.1", "{doc}");
    assert!(doc["result"]["facts"]["embedded"]
        .as_str()
        .unwrap()
        .starts_with("Lua 5.4"));
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(
        text.contains("lua = \"5.1\"") && text.contains("profile = \"minimal\""),
        "{text}"
    );
    assert!(
        text.contains(&format!("file://{}", dir.path().join("rocks").display())),
        "{text}"
    );
    // `none` clears the profile; other settings stay.
    assert!(run(&["setup", "--profile", "none", "--yes"])
        .status
        .success());
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(
        !text.contains("profile") && text.contains("lua = \"5.1\""),
        "{text}"
    );
}
