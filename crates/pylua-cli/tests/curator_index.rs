//! The module index end to end with the real binary: `pylua provides` on the realrocks
//! mirror for every module of every package, the package hint on a "module not found" error
//! (from the cache only), the index refreshed when a server changes, and hostile servers and
//! cache files.

mod common;

use assert_cmd::Command;
use common::RockServer;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

fn pylua(home: &Path) -> Command {
    let mut c = Command::cargo_bin("pylua").unwrap();
    c.env("PYLUA_HOME", home).env_remove("PYLUA_LOG");
    c
}

fn json_of(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Every module of every mirror package, as a tree LuaRocks can read records them after
/// installing all of them, must be answered by `provides` with its own package first; and
/// `cjson.safe`, a second `luaopen_` function inside `cjson.so`, with lua-cjson.
#[test]
fn provides_names_the_right_package_for_every_module_of_the_mirror() {
    let Some(mirror) = common::realrocks_mirror() else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let names: Vec<String> = json_of(
        &pylua(home.path())
            .args(["search", "", "--json", "--only-server", &mirror])
            .output()
            .unwrap(),
    )["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap().to_string())
        .collect();
    assert!(names.len() >= 15, "{names:?}");
    let tree = home.path().join("all");
    let mut install = pylua(home.path());
    install
        .args(["install", "--only-server", &mirror, "--tree"])
        .arg(&tree)
        .args(&names);
    install.assert().success();
    let listed = json_of(
        &pylua(home.path())
            .args(["list", "--json", "--tree"])
            .arg(&tree)
            .output()
            .unwrap(),
    );
    // module → the package whose files it is, from the installed tree.
    let mut expected: BTreeMap<String, String> = BTreeMap::new();
    for package in listed["result"]["packages"].as_array().unwrap() {
        let name = package["name"].as_str().unwrap();
        for module in package["modules"].as_object().unwrap().keys() {
            assert!(
                expected.insert(module.clone(), name.to_string()).is_none(),
                "two packages install {module}"
            );
        }
    }
    let installed: std::collections::BTreeSet<&String> = expected.values().collect();
    assert_eq!(
        installed.len(),
        names.len(),
        "every package installed modules"
    );
    expected.insert("cjson.safe".into(), "lua-cjson".into());
    assert!(expected.len() > 100, "{}", expected.len());

    // Outside the tree (a fresh directory, no --tree): only the server index answers.
    let work = tempfile::tempdir().unwrap();
    let out = pylua(home.path())
        .current_dir(work.path())
        .args(["provides", "--json", "--only-server", &mirror])
        .args(expected.keys())
        .output()
        .unwrap();
    let doc = json_of(&out);
    assert_eq!(doc["ok"], true, "{doc}");
    let results = doc["result"]["results"].as_array().unwrap();
    assert_eq!(results.len(), expected.len());
    let mut wrong = Vec::new();
    for r in results {
        let module = r["module"].as_str().unwrap();
        let first = r["packages"][0]["package"].as_str().unwrap_or("(none)");
        let command = r["packages"][0]["command"].as_str().unwrap_or("");
        if first != expected[module] || command != format!("pylua install {first}") {
            wrong.push(format!(
                "{module}: {first} (`{command}`), expected {}",
                expected[module]
            ));
        }
    }
    assert!(wrong.is_empty(), "wrong answers:\n{}", wrong.join("\n"));
    let safe = results
        .iter()
        .find(|r| r["module"] == "cjson.safe")
        .unwrap();
    assert_eq!(safe["packages"][0]["kind"], "opener");

    // The text form says the same, with the command.
    let out = pylua(home.path())
        .current_dir(work.path())
        .args(["provides", "lfs", "--only-server", &mirror])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        text.contains("luafilesystem") && text.contains("pylua install luafilesystem"),
        "{text}"
    );

    // With the tree, the installed package is reported too, with its symbols read from the
    // built library.
    let doc = json_of(
        &pylua(home.path())
            .args([
                "provides",
                "cjson.safe",
                "--json",
                "--only-server",
                &mirror,
                "--tree",
            ])
            .arg(&tree)
            .output()
            .unwrap(),
    );
    let found = &doc["result"]["results"][0]["installed"][0];
    assert_eq!(found["package"], "lua-cjson", "{doc}");
    assert_eq!(found["kind"], "opener");
}

/// A script requiring a module that is not installed fails with the package that provides
/// it and the command to add it, in text and JSON — from the cached index alone: the server
/// is gone by the time the script runs.
#[test]
fn a_missing_module_error_names_the_package_and_the_command() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut server = RockServer::new(&dir.path().join("server"));
    server
        .package(
            "luafilesystem",
            "1.8.0-1",
            &[],
            &[("lfs.lua", "return {}")],
            r#"type = "builtin", modules = { lfs = "lfs.lua" }"#,
        )
        .package(
            "lfs-compat",
            "0.1-1",
            &[],
            &[("lfs.lua", "return {}")],
            r#"type = "builtin", modules = { lfs = "lfs.lua" }"#,
        )
        .publish();
    pylua(home.path())
        .args(["provides", "lfs", "--only-server", &server.url()])
        .assert()
        .success();
    std::fs::remove_dir_all(&server.dir).unwrap();

    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("main.lua"), "local lfs = require 'lfs'\n").unwrap();
    let out = pylua(home.path())
        .current_dir(&work)
        .args(["run", "main.lua"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("hint: module 'lfs' is provided by package luafilesystem (also: lfs-compat); add it with: `pylua install luafilesystem`"),
        "{err}"
    );

    let out = pylua(home.path())
        .current_dir(&work)
        .args(["eval", "--json", "return require('lfs')"])
        .output()
        .unwrap();
    let doc = json_of(&out);
    let hint = &doc["error"]["hint"];
    assert_eq!(hint["module"], "lfs");
    assert_eq!(
        hint["packages"],
        serde_json::json!(["luafilesystem", "lfs-compat"])
    );
    assert_eq!(hint["action"], "provided_by");
    assert_eq!(hint["in_project"], false);

    // Another error gets no hint; nor does a module no index knows.
    let doc = json_of(
        &pylua(home.path())
            .args(["eval", "--json", "error('module \\'lfs\\' is fine')"])
            .output()
            .unwrap(),
    );
    assert!(doc["error"].get("hint").is_none(), "{doc}");
    let doc = json_of(
        &pylua(home.path())
            .args(["eval", "--json", "require 'surely_unknown'"])
            .output()
            .unwrap(),
    );
    assert!(doc["error"].get("hint").is_none(), "{doc}");

    // The REPL says it too.
    let out = pylua(home.path())
        .current_dir(&work)
        .args(["repl"])
        .write_stdin("require 'lfs'\n")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("add it with: `pylua install luafilesystem`"),
        "{err}"
    );
}

/// A release added to the server is found once the manifest changes; the index is rebuilt
/// incrementally and a damaged index file in the cache is rebuilt, not trusted.
#[test]
fn the_index_follows_the_server_and_survives_a_damaged_cache() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut server = RockServer::new(dir.path());
    server
        .package(
            "alpha",
            "1.0-1",
            &[],
            &[("a.lua", "return 1")],
            r#"type = "builtin", modules = { ["alpha.core"] = "a.lua" }"#,
        )
        .publish();
    let url = server.url();
    let ask = |module: &str| {
        json_of(
            &pylua(home.path())
                .args(["provides", module, "--json", "--only-server", &url])
                .output()
                .unwrap(),
        )
    };
    assert_eq!(
        ask("alpha.core")["result"]["results"][0]["packages"][0]["package"],
        "alpha"
    );
    let doc = ask("beta");
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["error"]["kind"], "not_found");

    server
        .package(
            "beta",
            "2.0-1",
            &[],
            &[("b.lua", "return 1")],
            r#"type = "builtin", modules = { beta = "b.lua" }"#,
        )
        .package(
            "alpha",
            "1.1-1",
            &[],
            &[("a.lua", "return 1")],
            r#"type = "builtin", modules = { ["alpha.core"] = "a.lua" }"#,
        )
        .publish();
    assert_eq!(
        ask("beta")["result"]["results"][0]["packages"][0]["package"],
        "beta"
    );
    let alpha = ask("alpha.core");
    assert_eq!(
        alpha["result"]["results"][0]["packages"][0]["versions"],
        serde_json::json!(["1.1-1", "1.0-1"])
    );

    let index_dir = home.path().join("cache/module-index");
    let files: Vec<_> = std::fs::read_dir(&index_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    for damage in [&b"garbage"[..], &[0x1f, 0x8b, 0, 0, 0, 0][..], b""] {
        std::fs::write(&files[0], damage).unwrap();
        assert_eq!(
            ask("beta")["result"]["results"][0]["packages"][0]["package"],
            "beta"
        );
    }
}

/// Hostile servers: a rockspec that does not parse, one whose module climbs out, a binary
/// rock whose library is garbage and whose rock_manifest names `../` paths, a `.src.rock`
/// whose C source is not text. `provides` still answers for the rest and never crashes.
#[test]
fn hostile_releases_are_skipped_not_fatal() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut server = RockServer::new(dir.path());
    server
        .raw_rockspec("broken", "1.0-1", "this is not lua {{{")
        .raw_rockspec(
            "climber",
            "1.0-1",
            r#"package = "climber" version = "1.0-1" source = { url = "x.tar.gz" }
               build = { type = "builtin", modules = { ["../../etc"] = "x.lua" } }"#,
        )
        .package(
            "good",
            "1.0-1",
            &[],
            &[("g.lua", "return 1")],
            r#"type = "builtin", modules = { good = "g.lua" }"#,
        );
    // A binary rock: garbage library, a manifest with a hostile path and a deep table.
    let rock = dir.path().join(format!("native-1.0-1.{}.rock", platform()));
    let mut zip = zip::ZipWriter::new(std::fs::File::create(rock).unwrap());
    let opts = zip::write::SimpleFileOptions::default();
    use std::io::Write;
    zip.start_file("native-1.0-1.rockspec", opts).unwrap();
    zip.write_all(
        b"package = 'native' version = '1.0-1' source = { url = 'x' } build = { type = 'none' }",
    )
    .unwrap();
    zip.start_file("rock_manifest", opts).unwrap();
    zip.write_all(b"rock_manifest = { lib = { [\"native.so\"] = \"x\", [\"..\"] = { [\"evil.so\"] = \"x\" } }, lua = { native = { [\"util.lua\"] = \"x\" } } }").unwrap();
    zip.start_file("lib/native.so", opts).unwrap();
    zip.write_all(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\xff\xff\xff\xff")
        .unwrap();
    zip.finish().unwrap();
    server.list("native", "1.0-1", platform());
    // Another whose rock_manifest nests deeper than any reader follows: refused, not fatal.
    let rock = dir.path().join(format!("deep-1.0-1.{}.rock", platform()));
    let mut zip = zip::ZipWriter::new(std::fs::File::create(rock).unwrap());
    zip.start_file("rock_manifest", opts).unwrap();
    let deep = "{".repeat(5000) + &"}".repeat(5000);
    zip.write_all(
        format!("rock_manifest = {{ lua = {{ [\"deep.lua\"] = \"x\" }}, x = {deep} }}").as_bytes(),
    )
    .unwrap();
    zip.finish().unwrap();
    server.list("deep", "1.0-1", platform());
    server.src_rock_with(
        "csrc",
        "1.0-1",
        r#"package = "csrc" version = "1.0-1" source = { url = "csrc.tar.gz" }
           build = { type = "builtin", modules = { csrc = { sources = { "../../x.c", "c.c" } } } }"#,
        &[("csrc.tar.gz", &common::tar_gz("csrc", &[("c.c", "\u{0}\u{1}luaopen_csrc_x(lua_State *L) { }")]))],
    );
    server.publish();
    let doc = json_of(
        &pylua(home.path())
            .args([
                "provides",
                "good",
                "native",
                "native.util",
                "csrc",
                "csrc.x",
                "--json",
                "--only-server",
                &server.url(),
            ])
            .output()
            .unwrap(),
    );
    assert_eq!(doc["ok"], true, "{doc}");
    let first = |i: usize| doc["result"]["results"][i]["packages"][0]["package"].clone();
    assert_eq!(first(0), "good");
    assert_eq!(first(1), "native");
    assert_eq!(first(2), "native");
    assert_eq!(first(3), "csrc");
    assert_eq!(first(4), "csrc");
    let out = pylua(home.path())
        .args([
            "provides",
            "etc",
            "evil",
            "deep",
            "--json",
            "--only-server",
            &server.url(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    // A module name that is not one is a usage error.
    pylua(home.path())
        .args(["provides", "../x", "--only-server", &server.url()])
        .assert()
        .code(2);
}

fn platform() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "linux-aarch64",
        _ => "linux-x86_64",
    }
}

/// A server with both loose rockspecs and `.src.rock`s (as luarocks.org has): the rockspec
/// is read, and the source rock only when its C sources can tell more — here a second
/// `luaopen_` function, which makes `ext.fast` a module of `ext`.
#[test]
fn rockspecs_first_sources_when_they_tell_more() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut server = RockServer::new(dir.path());
    let spec = r#"package = "ext" version = "1.0-1" source = { url = "https://example.invalid/ext.tar.gz" }
        build = { type = "builtin", modules = { ext = { sources = { "ext.c" } }, ["ext.util"] = "util.lua" } }"#;
    let source = "int luaopen_ext(lua_State *L) { return 1; }\nint luaopen_ext_fast(lua_State *L) { return 1; }\n";
    server.raw_rockspec("ext", "1.0-1", spec).src_rock_with(
        "ext",
        "1.0-1",
        spec,
        &[(
            "ext.tar.gz",
            &common::tar_gz("ext-1.0", &[("ext.c", source), ("util.lua", "return 1")]),
        )],
    );
    server.publish();
    let doc = json_of(
        &pylua(home.path())
            .args([
                "provides",
                "ext",
                "ext.util",
                "ext.fast",
                "--json",
                "--only-server",
                &server.url(),
            ])
            .output()
            .unwrap(),
    );
    assert_eq!(doc["ok"], true, "{doc}");
    let kinds: Vec<&str> = (0..3)
        .map(|i| {
            doc["result"]["results"][i]["packages"][0]["kind"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(kinds, ["c", "lua", "opener"]);
}

/// An installed tree is read like any input: a `rock_manifest` naming paths outside the
/// tree, a library that is a link out of it and one that is garbage are skipped, and the
/// rest of the tree still answers.
#[test]
fn a_tampered_tree_is_read_safely() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut server = RockServer::new(&dir.path().join("server"));
    server
        .package(
            "good",
            "1.0-1",
            &[],
            &[("g.lua", "return 1")],
            r#"type = "builtin", modules = { good = "g.lua" }"#,
        )
        .publish();
    let tree = dir.path().join("tree");
    pylua(home.path())
        .args(["install", "good", "--only-server", &server.url(), "--tree"])
        .arg(&tree)
        .assert()
        .success();
    let rock = tree.join("lib/luarocks/rocks-5.4/good/1.0-1/rock_manifest");
    std::fs::write(
        &rock,
        r#"rock_manifest = { lua = { ["good.lua"] = "x" }, lib = { [".."] = { ["passwd.so"] = "x" }, ["link.so"] = "x", ["junk.so"] = "x" } }"#,
    )
    .unwrap();
    let lib = tree.join("lib/lua/5.4");
    std::fs::create_dir_all(&lib).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", lib.join("link.so")).unwrap();
    std::fs::write(lib.join("junk.so"), b"\x7fELF garbage").unwrap();
    let out = pylua(home.path())
        .args([
            "provides",
            "good",
            "link",
            "junk",
            "passwd",
            "--json",
            "--offline",
            "--only-server",
            &server.url(),
            "--tree",
        ])
        .arg(&tree)
        .output()
        .unwrap();
    let doc = json_of(&out);
    let results = doc["result"]["results"].as_array().unwrap();
    assert_eq!(results[0]["installed"][0]["package"], "good", "{doc}");
    // The names the manifest lists are reported as its modules; nothing outside is read.
    assert!(
        results[3]["installed"].as_array().unwrap().is_empty(),
        "{doc}"
    );
}
