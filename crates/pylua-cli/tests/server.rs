//! `pylua server`: a server built from the realrocks mirror (binary rocks for lua-cjson, lpeg
//! and luafilesystem) is used by Debian's `luarocks`, by `pylua install` and by a locked
//! project's `pylua sync --locked` on a machine whose C compiler is hidden; its binary rocks
//! hold what `luarocks pack` puts in one; `server add` and `server serve` work on it.
//!
//! Needs the mirror (`PYLUA_REALROCKS`) and Debian's `luarocks` with the Lua 5.4 headers;
//! without them the tests fail under `CI=true` and say what they skipped elsewhere.

mod common;

use assert_cmd::Command;
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::Path;

const PACKAGES: [&str; 3] = ["lua-cjson", "lpeg", "luafilesystem"];

fn pylua(home: &Path) -> Command {
    let mut c = Command::cargo_bin("pylua").unwrap();
    c.env("PYLUA_HOME", home.join("pylua-home"))
        .env_remove("PYLUA_LOG");
    c
}

/// `luarocks` reading no user or system configuration: its config, home and cache are
/// inside `home`.
fn luarocks(home: &Path) -> std::process::Command {
    let config = home.join("luarocks-config.lua");
    std::fs::write(&config, "").unwrap();
    let mut c = std::process::Command::new("luarocks");
    c.env("LUAROCKS_CONFIG", &config)
        .env("HOME", home.join("lr-home"))
        .arg("--lua-version=5.4");
    c
}

fn run_ok(c: &mut std::process::Command, what: &str) -> String {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn prerequisites() -> Option<String> {
    let mirror = common::realrocks_mirror()?;
    if !common::have_program("luarocks") {
        return None;
    }
    if !Path::new("/usr/include/lua5.4/lua.h").exists() {
        common::missing_prerequisite("/usr/include/lua5.4/lua.h (liblua5.4-dev) is not installed");
        return None;
    }
    Some(mirror)
}

/// The member names of a zip file (directories end with `/`).
fn members(rock: &Path) -> BTreeSet<String> {
    let file = std::fs::File::open(rock).unwrap();
    let mut zip = zip::ZipArchive::new(file).unwrap();
    (0..zip.len())
        .map(|i| zip.by_index(i).unwrap().name().to_string())
        .collect()
}

fn member(rock: &Path, name: &str) -> Vec<u8> {
    let file = std::fs::File::open(rock).unwrap();
    let mut zip = zip::ZipArchive::new(file).unwrap();
    let mut out = Vec::new();
    zip.by_name(name).unwrap().read_to_end(&mut out).unwrap();
    out
}

/// A directory holding only `sh` and friends: no `cc`, `gcc`, `make`.
fn path_without_compiler(home: &Path) -> std::path::PathBuf {
    let bin = home.join("no-compiler-bin");
    std::fs::create_dir_all(&bin).unwrap();
    for tool in ["sh", "env", "cat", "uname"] {
        let _ = std::os::unix::fs::symlink(format!("/bin/{tool}"), bin.join(tool));
    }
    bin
}

#[test]
fn a_binary_server_serves_luarocks_and_installs_without_a_compiler() {
    let Some(mirror) = prerequisites() else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let dir = home.join("server");
    let dir_s = dir.to_str().unwrap();
    let out = pylua(home)
        .args(["server", "build", dir_s])
        .args(PACKAGES)
        .args(["--binary", "--only-server", &mirror, "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["result"]["binary_lua"], "5.4");
    for file in [
        "lua-cjson-2.1.0-1.rockspec",
        "lua-cjson-2.1.0-1.src.rock",
        "lua-cjson-2.1.0-1.linux-x86_64.rock",
        "lpeg-1.0.2-1.linux-x86_64.rock",
        "luafilesystem-1.8.0-1.linux-x86_64.rock",
        "manifest",
        "manifest-5.1",
        "manifest-5.2",
        "manifest-5.3",
        "manifest-5.4",
        "index.html",
    ] {
        assert!(dir.join(file).is_file(), "{file} missing: {report:#}");
    }
    // Binary rocks for 5.4 are listed for 5.4 only; sources for every Lua they allow.
    let m54 = std::fs::read_to_string(dir.join("manifest-5.4")).unwrap();
    let m51 = std::fs::read_to_string(dir.join("manifest-5.1")).unwrap();
    assert!(m54.contains("arch = \"linux-x86_64\""), "{m54}");
    assert!(
        !m51.contains("linux-x86_64") && m51.contains("arch = \"src\""),
        "{m51}"
    );

    // The binary rock holds what `luarocks pack` makes from a tree luarocks built itself.
    let lr_tree = home.join("lr-source-tree");
    run_ok(
        luarocks(home)
            .arg("--tree")
            .arg(&lr_tree)
            .arg(format!("--only-server={mirror}"))
            .args(["install", "lua-cjson"]),
        "luarocks install lua-cjson from the mirror",
    );
    let packed = home.join("packed");
    std::fs::create_dir_all(&packed).unwrap();
    run_ok(
        luarocks(home)
            .current_dir(&packed)
            .arg("--tree")
            .arg(&lr_tree)
            .args(["pack", "lua-cjson"]),
        "luarocks pack lua-cjson",
    );
    let theirs = packed.join("lua-cjson-2.1.0-1.linux-x86_64.rock");
    let ours = dir.join("lua-cjson-2.1.0-1.linux-x86_64.rock");
    assert_eq!(members(&ours), members(&theirs));
    for name in members(&ours)
        .iter()
        .filter(|n| n.ends_with(".lua") || n.ends_with(".rockspec"))
    {
        assert_eq!(member(&ours, name), member(&theirs, name), "{name}");
    }

    // (a) Debian's luarocks installs from the server pylua wrote.
    let lr_tree = home.join("lr-from-server");
    let installed = run_ok(
        luarocks(home)
            .arg("--tree")
            .arg(&lr_tree)
            .arg(format!("--only-server={dir_s}"))
            .args(["install", "lua-cjson", "--verbose"]),
        "luarocks install lua-cjson from the pylua server",
    );
    // It took the binary rock pylua built (no compile), and Debian's lua5.4 loads it.
    assert!(
        installed.contains("lua-cjson-2.1.0-1.linux-x86_64.rock"),
        "{installed}"
    );
    if common::have_program("lua5.4") {
        let cpath = format!("package.cpath = '{}/lib/lua/5.4/?.so'", lr_tree.display());
        let out = run_ok(
            std::process::Command::new("lua5.4").args([
                "-e",
                &cpath,
                "-e",
                "io.write(require('cjson').encode({1}))",
            ]),
            "lua5.4 loads cjson",
        );
        assert_eq!(out, "[1]");
    }
    let listed = run_ok(
        luarocks(home)
            .arg("--tree")
            .arg(&lr_tree)
            .args(["list", "--porcelain"]),
        "luarocks list",
    );
    assert!(listed.contains("lua-cjson\t2.1.0-1"), "{listed}");

    // (b) pylua installs the three with no compiler anywhere, and they load.
    let no_cc = path_without_compiler(home);
    let tree = home.join("tree");
    let tree_s = tree.to_str().unwrap();
    pylua(home)
        .env("CC", "false")
        .env("PATH", &no_cc)
        .arg("install")
        .args(PACKAGES)
        .args(["--only-server", dir_s, "--tree", tree_s])
        .assert()
        .success();
    pylua(home)
        .args([
            "eval",
            "--tree",
            tree_s,
            "return require('cjson').encode({1}), type(require('lpeg').match), type(require('lfs').currentdir())",
        ])
        .assert()
        .success()
        .stdout("[1]\tfunction\tstring\n");

    // A locked project made against the server syncs from it with no compiler, each file
    // checked against the sha256 in the lock.
    let app = home.join("app");
    std::fs::create_dir_all(&app).unwrap();
    pylua(home)
        .current_dir(&app)
        .args(["init", "--name", "app", "--server", dir_s])
        .assert()
        .success();
    pylua(home)
        .current_dir(&app)
        .env("CC", "false")
        .env("PATH", &no_cc)
        .arg("add")
        .args(PACKAGES)
        .assert()
        .success();
    let lock = std::fs::read_to_string(app.join("pylua.lock")).unwrap();
    for p in PACKAGES {
        assert!(lock.contains(&format!("{p}-")), "{lock}");
    }
    assert_eq!(lock.matches(".linux-x86_64.rock\"").count(), 3, "{lock}");
    std::fs::remove_dir_all(app.join(".pylua")).unwrap();
    pylua(home)
        .current_dir(&app)
        .env("CC", "false")
        .env("PATH", &no_cc)
        .args(["sync", "--locked"])
        .assert()
        .success();
    pylua(home)
        .current_dir(&app)
        .args(["eval", "return require('cjson').encode({ok = true})"])
        .assert()
        .success()
        .stdout("{\"ok\":true}\n");

    // (d) `server add` lists a new package and keeps the binary rocks for 5.4 only.
    pylua(home)
        .args(["server", "add", dir_s])
        .arg(Path::new(&mirror).join("dkjson-2.6-1.src.rock"))
        .assert()
        .success();
    let m54 = std::fs::read_to_string(dir.join("manifest-5.4")).unwrap();
    let m51 = std::fs::read_to_string(dir.join("manifest-5.1")).unwrap();
    assert!(m54.contains("dkjson") && m51.contains("dkjson"), "{m51}");
    assert!(
        m54.contains("linux-x86_64") && !m51.contains("linux-x86_64"),
        "{m51}"
    );
    assert!(dir.join("dkjson-2.6-1.src.rock").is_file());
    // A file whose name and rockspec disagree is refused, and nothing changes.
    std::fs::copy(
        Path::new(&mirror).join("dkjson-2.6-1.src.rock"),
        home.join("evil-1.0-1.src.rock"),
    )
    .unwrap();
    pylua(home)
        .args(["server", "add", dir_s])
        .arg(home.join("evil-1.0-1.src.rock"))
        .assert()
        .failure();
    assert!(!dir.join("evil-1.0-1.src.rock").exists());
    assert_eq!(
        std::fs::read_to_string(dir.join("manifest-5.4")).unwrap(),
        m54
    );
}

/// Sends one raw request (no client-side path clean-up) and returns the status line and body.
fn get(addr: &str, path: &str) -> (String, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text.lines().next().unwrap_or_default().to_string();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn serve_serves_the_server_and_nothing_outside_it() {
    let Some(mirror) = common::realrocks_mirror() else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let dir = home.join("server");
    pylua(home)
        .args([
            "server",
            "build",
            dir.to_str().unwrap(),
            "dkjson",
            "--only-server",
            &mirror,
        ])
        .assert()
        .success();
    std::fs::write(home.join("secret"), "secret").unwrap();
    std::os::unix::fs::symlink(home.join("secret"), dir.join("link")).unwrap();

    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("pylua"))
        .args(["server", "serve"])
        .arg(&dir)
        .args(["--port", "0", "--json"])
        .env("PYLUA_HOME", home.join("pylua-home"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let url = serde_json::from_str::<Value>(&line).unwrap()["result"]["url"]
        .as_str()
        .unwrap()
        .to_string();
    let addr = url.strip_prefix("http://").unwrap().to_string();

    let (status, body) = get(&addr, "/manifest-5.4");
    assert!(status.contains("200"), "{status}");
    assert!(body.contains("dkjson"), "{body}");
    for bad in [
        "/../secret",
        "/%2e%2e/secret",
        "/..%2fsecret",
        "/manifest%00",
        "/a\\..\\secret",
    ] {
        let (status, body) = get(&addr, bad);
        assert!(status.contains("400"), "{bad}: {status}");
        assert!(!body.contains("secret"), "{bad}");
    }
    let (status, _) = get(&addr, "/link");
    assert!(status.contains("403"), "{status}");
    let (status, _) = get(&addr, "/nothing-here");
    assert!(status.contains("404"), "{status}");

    // pylua installs over HTTP from it.
    pylua(home)
        .args(["install", "dkjson", "--only-server", &url, "--tree"])
        .arg(home.join("tree"))
        .assert()
        .success();
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn from_a_lock_the_server_holds_exactly_the_locked_files() {
    let Some(mirror) = common::realrocks_mirror() else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let app = home.join("app");
    std::fs::create_dir_all(&app).unwrap();
    pylua(home)
        .current_dir(&app)
        .args(["init", "--name", "app", "--server", &mirror])
        .assert()
        .success();
    pylua(home)
        .current_dir(&app)
        .args(["add", "dkjson", "lua-cjson"])
        .assert()
        .success();
    let lock = app.join("pylua.lock");
    let dir = home.join("server");
    let out = pylua(home)
        .args(["server", "build", dir.to_str().unwrap(), "--from-lock"])
        .arg(&lock)
        .args(["--binary", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let files: BTreeSet<&str> = report["result"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["file"].as_str().unwrap())
        .collect();
    for f in [
        "dkjson-2.6-1.src.rock",
        "dkjson-2.6-1.rockspec",
        "dkjson-2.6-1.all.rock",
        "lua-cjson-2.1.0-1.src.rock",
        "lua-cjson-2.1.0-1.linux-x86_64.rock",
    ] {
        assert!(
            files.contains(f) && dir.join(f).is_file(),
            "{f}: {report:#}"
        );
    }
    // The copied source rock is the locked file, byte for byte.
    let locked = std::fs::read_to_string(&lock).unwrap();
    let sha = report["result"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["file"] == "lua-cjson-2.1.0-1.src.rock")
        .unwrap()["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(locked.contains(&sha), "{locked}");

    // A lock naming a file outside the server is refused.
    let hostile = home.join("hostile.lock");
    std::fs::write(
        &hostile,
        locked.replace(
            "\"dkjson-2.6-1.src.rock\"",
            "\"../../dkjson-2.6-1.src.rock\"",
        ),
    )
    .unwrap();
    pylua(home)
        .args([
            "server",
            "build",
            home.join("other").to_str().unwrap(),
            "--from-lock",
        ])
        .arg(&hostile)
        .assert()
        .code(2);
}

/// A package the source server has only as a rockspec gets a `.src.rock` packed as
/// `luarocks pack NAME-VERSION.rockspec` packs it: the rockspec and the source archive.
#[test]
fn a_rockspec_only_package_is_packed_like_luarocks_pack() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let sources = home.join("sources");
    std::fs::create_dir_all(&sources).unwrap();
    let archive = common::tar_gz(
        "greet-1.0",
        &[("greet.lua", "return { hi = function() return 'hi' end }\n")],
    );
    std::fs::write(sources.join("greet-1.0.tar.gz"), &archive).unwrap();
    let md5 = {
        use md5::Digest;
        md5::Md5::digest(&archive)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let url = format!("file://{}/greet-1.0.tar.gz", sources.display());
    let spec = common::rockspec_with(
        "greet",
        "1.0-1",
        &[],
        &url,
        "greet-1.0",
        Some(&md5),
        "type = \"builtin\", modules = { greet = \"greet.lua\" }",
    );
    let mut origin = common::RockServer::new(&home.join("origin"));
    origin.raw_rockspec("greet", "1.0-1", &spec).publish();

    let dir = home.join("server");
    pylua(home)
        .args([
            "server",
            "build",
            dir.to_str().unwrap(),
            "greet",
            "--binary",
            "--only-server",
        ])
        .arg(origin.url())
        .assert()
        .success();
    let ours = dir.join("greet-1.0-1.src.rock");
    assert_eq!(
        members(&ours),
        BTreeSet::from([
            "greet-1.0-1.rockspec".to_string(),
            "greet-1.0.tar.gz".to_string()
        ])
    );
    assert_eq!(member(&ours, "greet-1.0.tar.gz"), archive);
    assert!(dir.join("greet-1.0-1.all.rock").is_file());
    if prerequisites().is_some() {
        let packed = home.join("packed");
        std::fs::create_dir_all(&packed).unwrap();
        run_ok(
            luarocks(home)
                .current_dir(&packed)
                .arg("pack")
                .arg(origin.dir.join("greet-1.0-1.rockspec")),
            "luarocks pack greet-1.0-1.rockspec",
        );
        assert_eq!(
            members(&ours),
            members(&packed.join("greet-1.0-1.src.rock"))
        );
    }
    let tree = home.join("tree");
    pylua(home)
        .args([
            "install",
            "greet",
            "--only-server",
            dir.to_str().unwrap(),
            "--tree",
        ])
        .arg(&tree)
        .assert()
        .success();
    pylua(home)
        .args([
            "eval",
            "--tree",
            tree.to_str().unwrap(),
            "return require('greet').hi()",
        ])
        .assert()
        .success()
        .stdout("hi\n");
}
