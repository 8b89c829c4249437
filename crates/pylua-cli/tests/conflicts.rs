//! Requests that do not resolve come with ways out, each checked by resolving again: taking
//! an older version, leaving a package out, another Lua. Taking one resolves.

mod common;

use assert_cmd::Command;
use common::RockServer;
use serde_json::Value;

fn server(dir: &std::path::Path) -> String {
    let mut server = RockServer::new(&dir.join("server"));
    server
        .package(
            "core",
            "1.0-1",
            &[],
            &[("core.lua", "return { v = 1 }\n")],
            r#"type = "builtin", modules = { core = "core.lua" }"#,
        )
        .package(
            "core",
            "2.0-1",
            &[],
            &[("core.lua", "return { v = 2 }\n")],
            r#"type = "builtin", modules = { core = "core.lua" }"#,
        )
        .package(
            "plugin",
            "1.0-1",
            &["core < 2"],
            &[("plugin.lua", "return require('core').v\n")],
            r#"type = "builtin", modules = { plugin = "plugin.lua" }"#,
        )
        .package(
            "newonly",
            "1.0-1",
            &["lua >= 5.4"],
            &[("newonly.lua", "return true\n")],
            r#"type = "builtin", modules = { newonly = "newonly.lua" }"#,
        )
        .publish();
    server.url()
}

#[test]
fn an_unsatisfiable_add_lists_ways_out_and_taking_one_resolves() {
    let dir = tempfile::tempdir().unwrap();
    let url = server(dir.path());
    std::fs::create_dir_all(dir.path().join("app")).unwrap();
    let pylua = |args: &[&str]| {
        let mut c = Command::cargo_bin("pylua").unwrap();
        c.current_dir(dir.path().join("app"))
            .env("PYLUA_HOME", dir.path().join("home"))
            .args(args);
        c
    };
    pylua(&["init", "--server", &url]).assert().success();
    let out = pylua(&["add", "core@>=2", "plugin", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["error"]["kind"], "no_solution", "{doc}");
    let ways = doc["error"]["ways_out"].as_array().unwrap();
    assert!(
        ways.contains(&serde_json::json!({"choice": "relax", "package": "core", "constraint": ">= 2", "version": "1.0-1"})),
        "{doc}"
    );
    assert!(
        ways.contains(&serde_json::json!({"choice": "drop", "package": "plugin"})),
        "{doc}"
    );
    assert!(
        ways.contains(&serde_json::json!({"choice": "drop", "package": "core"})),
        "{doc}"
    );
    // Nothing changed.
    assert!(!dir.path().join("app/pylua.lock").exists());
    // The text lists them with what to type.
    let out = pylua(&["add", "core@>=2", "plugin"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("ways out (each of these resolves):"),
        "{text}"
    );
    assert!(text.contains("`core@==1.0-1`"), "{text}");

    // Taking the first way out resolves.
    pylua(&["add", "core@==1.0-1", "plugin"]).assert().success();
    let lock = std::fs::read_to_string(dir.path().join("app/pylua.lock")).unwrap();
    assert!(
        lock.contains("name = \"core\"\nversion = \"1.0-1\""),
        "{lock}"
    );
    pylua(&["eval", "return (require('plugin'))"])
        .assert()
        .success()
        .stdout("1\n");
}

#[test]
fn another_lua_is_a_way_out_for_a_package_that_needs_a_newer_one() {
    let dir = tempfile::tempdir().unwrap();
    let url = server(dir.path());
    let out = Command::cargo_bin("pylua")
        .unwrap()
        .env("PYLUA_HOME", dir.path().join("home"))
        .args([
            "install",
            "newonly",
            "--dry-run",
            "--lua",
            "5.1",
            "--json",
            "--only-server",
            &url,
        ])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["error"]["kind"], "no_solution", "{doc}");
    assert_eq!(
        doc["error"]["ways_out"],
        serde_json::json!([{"choice": "other_lua", "lua": "5.4"}]),
        "{doc}"
    );
}
