//! `pylua lua list|which|install|uninstall` and `--lua`/`--backend` end to end, on a machine
//! where the only Lua interpreters are the ones pylua builds: every command that runs Lua gets
//! a `PATH` with nothing on it.
//!
//! The interpreters are built once per checkout into `target/tmp/pylua-interpreters` (shared
//! with the library's tests, serialised by the provisioner's locks).

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const VERSIONS: [&str; 5] = ["5.1", "5.2", "5.3", "5.4", "luajit"];

fn shared_home() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pylua-interpreters")
}

/// An empty directory to use as `PATH`: no Lua, no compiler.
fn empty_path() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap()).path()
}

/// `pylua` with the shared home and nothing on `PATH`.
fn pylua() -> Command {
    pylua_in(&shared_home())
}

fn pylua_in(home: &Path) -> Command {
    let mut cmd = Command::cargo_bin("pylua").unwrap();
    cmd.env("PYLUA_HOME", home)
        .env("PATH", empty_path())
        .env_remove("CC");
    cmd
}

/// Builds every interpreter into the shared home once (with the real `PATH`, for the
/// compiler), through the command line.
fn installed() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        Command::cargo_bin("pylua")
            .unwrap()
            .env("PYLUA_HOME", shared_home())
            .args(["lua", "install", "all"])
            .assert()
            .success();
    });
}

fn json_of(output: &[u8]) -> Value {
    serde_json::from_slice(output)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(output)))
}

#[test]
fn install_is_a_no_op_the_second_time() {
    installed();
    let out = Command::cargo_bin("pylua")
        .unwrap()
        .env("PYLUA_HOME", shared_home())
        .args(["lua", "install", "5.1", "luajit", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let doc = json_of(&out.stdout);
    assert_eq!(doc["ok"], true);
    for entry in doc["installed"].as_array().unwrap() {
        assert_eq!(entry["status"], "already_installed", "{entry}");
        assert_eq!(entry["duration"], 0.0);
    }
    Command::cargo_bin("pylua")
        .unwrap()
        .env("PYLUA_HOME", shared_home())
        .args(["lua", "install", "5.3"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "Lua 5.3.6 is already installed in",
        ));
}

#[test]
fn eval_runs_on_every_interpreter() {
    installed();
    pylua()
        .args(["eval", "--lua", "luajit", "return jit.version"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("LuaJIT 2.1"));
    for (version, expected) in [
        ("5.1", "Lua 5.1\t0.5\n"),
        ("5.2", "Lua 5.2\t0.5\n"),
        ("5.3", "Lua 5.3\t0.5\n"),
        ("5.4", "Lua 5.4\t0.5\n"),
        ("luajit", "Lua 5.1\t0.5\n"),
    ] {
        pylua()
            .args(["eval", "--lua", version, "return _VERSION, 1/2"])
            .assert()
            .success()
            .stdout(expected);
    }
    // The embedded VM stays the default; `--backend process` alone means an external 5.4.
    pylua()
        .args(["eval", "return _VERSION"])
        .assert()
        .success()
        .stdout("Lua 5.4\n");
    let out = pylua()
        .args([
            "eval",
            "--backend",
            "process",
            "--json",
            "print('out') return {1, {a = true}}",
        ])
        .output()
        .unwrap();
    let doc = json_of(&out.stdout);
    assert_eq!(doc["values"], serde_json::json!([[1, {"a": true}]]));
    assert_eq!(doc["output"], "out\n");
}

#[test]
fn a_repl_session_keeps_its_state() {
    installed();
    for version in VERSIONS {
        pylua()
            .args(["repl", "--backend", "process", "--lua", version])
            .write_stdin("x = 41\nfunction inc(n) return n + 1 end\ninc(x)\n")
            .assert()
            .success()
            .stdout(predicate::str::contains("(process, sandbox none)"))
            .stdout(predicate::str::contains("42"));
    }
}

#[test]
fn run_passes_arguments_and_stdin() {
    installed();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("s.lua"),
        "#!/usr/bin/env lua\nprint(arg[0], io.read('*l'), ...)",
    )
    .unwrap();
    for version in VERSIONS {
        pylua()
            .current_dir(dir.path())
            .args(["run", "--lua", version, "s.lua", "a", "-b"])
            .write_stdin("line\n")
            .assert()
            .success()
            .stdout("s.lua\tline\ta\t-b\n");
    }
}

#[test]
fn limits_stop_every_interpreter() {
    installed();
    for version in VERSIONS {
        for (flags, code, kind) in [
            (&["--timeout", "200ms"][..], "while true do end", "timeout"),
            (
                &["--instructions", "100000"][..],
                "while true do pcall(function() while true do end end) end",
                "instruction_limit",
            ),
            (
                &["--memory", "32M"][..],
                "local t = {} while true do t[#t + 1] = {} end",
                "memory_limit",
            ),
        ] {
            let out = pylua()
                .args(["eval", "--json", "--sandbox", "strict", "--lua", version])
                .args(flags)
                .arg(code)
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(3), "{version} {kind}");
            assert_eq!(json_of(&out.stdout)["error"]["kind"], kind, "{version}");
        }
    }
}

#[test]
fn sandboxes_apply_in_interpreters() {
    installed();
    for version in VERSIONS {
        pylua()
            .args(["eval", "--lua", version, "--sandbox", "strict"])
            .arg("return io.open == nil and os.execute == nil and require == nil")
            .assert()
            .success()
            .stdout("true\n");
        let dir = tempfile::tempdir().unwrap();
        pylua()
            .current_dir(dir.path())
            .args(["eval", "--lua", version, "--sandbox", "standard"])
            .arg("return io.open('/etc/passwd')")
            .assert()
            .code(1)
            .stderr(predicate::str::contains("is denied"));
    }
}

#[test]
fn list_and_which_report_pylua_interpreters() {
    installed();
    let out = pylua().args(["lua", "list", "--json"]).output().unwrap();
    assert!(out.status.success());
    let doc = json_of(&out.stdout);
    let list = doc["interpreters"].as_array().unwrap();
    let versions: Vec<&str> = list
        .iter()
        .map(|i| i["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, VERSIONS);
    for i in list {
        assert_eq!(i["origin"], "pylua", "{i}");
        assert_eq!(i["c_modules"], true, "{i}");
        assert!(Path::new(i["headers"].as_str().unwrap())
            .join("lua.h")
            .is_file());
        assert!(Path::new(i["library"].as_str().unwrap()).is_file());
    }
    assert_eq!(doc["missing"], serde_json::json!([]));
    pylua()
        .args(["lua", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("LuaJIT 2.1"))
        .stdout(predicate::str::contains("embedded"));
    let out = pylua().args(["lua", "which", "luajit"]).output().unwrap();
    let path = String::from_utf8(out.stdout).unwrap();
    assert!(
        Path::new(path.trim()).starts_with(shared_home().join("data/interpreters")),
        "{path}"
    );
}

#[test]
fn nothing_installed_says_what_to_do() {
    let home = tempfile::tempdir().unwrap();
    pylua_in(home.path())
        .args(["lua", "which", "5.2"])
        .assert()
        .code(9)
        .stderr(predicate::str::contains("pylua lua install 5.2"));
    pylua_in(home.path())
        .args(["eval", "--lua", "5.3", "return 1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("pylua lua install 5.3"));
    pylua_in(home.path())
        .args(["eval", "--backend", "embedded", "--lua", "5.1", "return 1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("embedded VM is Lua 5.4"));
    pylua_in(home.path())
        .args(["eval", "--lua", "6.0", "return 1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "expected 5.1, 5.2, 5.3, 5.4 or luajit",
        ));
    pylua_in(home.path())
        .args(["lua", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "not found: 5.1, 5.2, 5.3, 5.4, luajit",
        ));
}

#[test]
fn a_missing_compiler_is_a_clear_error() {
    let home = tempfile::tempdir().unwrap();
    pylua_in(home.path())
        .args(["lua", "install", "5.2"])
        .assert()
        .code(9)
        .stderr(predicate::str::contains("no C compiler found"))
        .stderr(predicate::str::contains("apt-get install gcc"));
    // Nothing half-built is left behind.
    let dir = home.path().join("data/interpreters");
    let left: Vec<String> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| !n.ends_with(".lock"))
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn install_on_a_clean_home_then_uninstall() {
    let home = tempfile::tempdir().unwrap();
    // Building needs the compiler from the real PATH; running needs nothing.
    Command::cargo_bin("pylua")
        .unwrap()
        .env("PYLUA_HOME", home.path())
        .args(["lua", "install", "5.1"])
        .assert()
        .success()
        .stderr(predicate::str::contains("building Lua 5.1 (5.1.5)"))
        .stdout(predicate::str::contains("installed Lua 5.1.5 in"));
    pylua_in(home.path())
        .args(["eval", "--lua", "5.1", "return _VERSION"])
        .assert()
        .success()
        .stdout("Lua 5.1\n");
    pylua_in(home.path())
        .args(["lua", "uninstall", "5.1"])
        .assert()
        .success()
        .stdout(predicate::str::contains("removed Lua 5.1"));
    pylua_in(home.path())
        .args(["lua", "uninstall", "5.1"])
        .assert()
        .success()
        .stdout(predicate::str::contains("not installed"));
    pylua_in(home.path())
        .args(["lua", "which", "5.1"])
        .assert()
        .code(9);
}
