//! End-to-end tests of the `pylua` binary: each runs the real command in a temp directory
//! and checks what a user sees — stdout, stderr, exit code — and that bad input changes
//! nothing on disk.

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;
use std::path::Path;
use tempfile::TempDir;

struct Ctx {
    dir: TempDir,
}

impl Ctx {
    fn new() -> Ctx {
        Ctx {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn write(&self, name: &str, text: &str) -> &Self {
        std::fs::write(self.path().join(name), text).unwrap();
        self
    }
    fn pylua(&self) -> Command {
        let mut cmd = Command::cargo_bin("pylua").unwrap();
        cmd.current_dir(self.path())
            .env("PYLUA_HOME", self.path().join(".pylua-home"))
            .env_remove("PYLUA_LOG");
        cmd
    }
    fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

fn json_of(output: &[u8]) -> Value {
    serde_json::from_slice(output)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(output)))
}

#[test]
fn eval_prints_returned_values() {
    let ctx = Ctx::new();
    ctx.pylua()
        .args(["eval", "return 1+1"])
        .assert()
        .success()
        .stdout("2\n");
    ctx.pylua()
        .args(["eval", "1 + 1"])
        .assert()
        .success()
        .stdout("2\n");
    ctx.pylua()
        .args(["eval", "return 'a', 2.0, nil, true"])
        .assert()
        .success()
        .stdout("a\t2.0\tnil\ttrue\n");
    ctx.pylua()
        .args(["eval", "print('first') return {1, 2, x = {y = 'z'}}"])
        .assert()
        .success()
        .stdout("first\n{\n  1,\n  2,\n  x = {\n    y = \"z\",\n  },\n}\n");
    // A chunk that returns nothing prints nothing.
    ctx.pylua()
        .args(["eval", "local x = 1"])
        .assert()
        .success()
        .stdout("");
}

#[test]
fn run_passes_arguments_like_lua() {
    let ctx = Ctx::new();
    ctx.write(
        "args.lua",
        "#!/usr/bin/env lua\nlocal a, b = ...\nprint(arg[0], #arg, arg[1], arg[2], a, b, arg[-1])\nprint(select('#', ...))\n",
    );
    ctx.pylua()
        .args(["run", "args.lua", "one", "--two"])
        .assert()
        .success()
        .stdout("args.lua\t2\tone\t--two\tone\t--two\tpylua\n2\n");
}

#[test]
fn the_shipped_example_runs() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello.lua");
    let ctx = Ctx::new();
    ctx.pylua()
        .arg("run")
        .arg(&example)
        .arg("tester")
        .assert()
        .success()
        .stdout(predicate::str::contains("Hello, tester!"))
        .stdout(predicate::str::contains(
            "fibonacci: 0, 1, 1, 2, 3, 5, 8, 13, 21, 34",
        ));
}

#[test]
fn errors_say_what_and_where_with_documented_exit_codes() {
    let ctx = Ctx::new();
    ctx.write("bad.lua", "local x = 1\nlocal y = = 2\n");
    ctx.write(
        "boom.lua",
        "local function f()\n  error('boom')\nend\nf()\n",
    );
    let before = ctx.files();

    ctx.pylua()
        .args(["run", "missing.lua"])
        .assert()
        .code(4)
        .stderr(predicate::str::contains(
            "cannot read script 'missing.lua': no such file",
        ));
    ctx.pylua()
        .args(["run", "bad.lua"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "syntax error: bad.lua:2: unexpected symbol near '='",
        ));
    ctx.pylua()
        .args(["run", "boom.lua"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("runtime error: boom.lua:2: boom"))
        .stderr(predicate::str::contains("stack traceback:"))
        .stderr(predicate::str::contains("boom.lua:4: in main chunk"));
    ctx.pylua()
        .args(["eval", "--memory", "lots", "return 1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("invalid size 'lots'"));
    ctx.pylua()
        .args(["eval", "--timeout", "soon", "return 1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("invalid duration 'soon'"));
    ctx.pylua()
        .args(["eval", "--sandbox", "loose", "return 1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "expected none, standard or strict",
        ));
    ctx.pylua().args(["frobnicate"]).assert().code(2);
    assert_eq!(
        ctx.files(),
        before,
        "bad input must not change the directory"
    );
}

#[test]
fn limits_exit_with_code_3_and_a_hint() {
    let ctx = Ctx::new();
    ctx.pylua()
        .args([
            "eval",
            "--timeout",
            "200ms",
            "while true do pcall(function() while true do end end) end",
        ])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("time limit exceeded"))
        .stderr(predicate::str::contains("--timeout"));
    ctx.pylua()
        .args([
            "eval",
            "--memory",
            "16M",
            "local t = {} while true do t[#t+1] = {} end",
        ])
        .assert()
        .code(3)
        .stderr(predicate::str::contains(
            "memory limit exceeded: the script needed more than its 16 MiB memory limit",
        ));
    ctx.pylua()
        .args(["eval", "--instructions", "10000", "while true do end"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("instruction limit exceeded"));
}

#[test]
fn json_output_carries_values_output_errors_and_timings() {
    let ctx = Ctx::new();
    let out = ctx
        .pylua()
        .args(["eval", "--json", "print('hi') return 1, 'two', {3}"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let doc = json_of(&out);
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["values"], serde_json::json!([1, "two", [3]]));
    assert_eq!(doc["output"], "hi\n");
    assert_eq!(doc["error"], Value::Null);
    assert!(doc["timings"]["total_ms"].as_f64().unwrap() >= 0.0);

    let out = ctx
        .pylua()
        .args([
            "eval",
            "--json",
            "--sandbox",
            "strict",
            "print('before') return os.execute('true')",
        ])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let doc = json_of(&out);
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["output"], "before\n");
    assert_eq!(doc["error"]["kind"], "runtime");
    assert_eq!(doc["error"]["chunk"], "eval");
    assert_eq!(doc["error"]["line"], 1);
    assert!(doc["error"]["message"]
        .as_str()
        .unwrap()
        .contains("attempt to call a nil value"));

    let out = ctx
        .pylua()
        .args(["eval", "--json", "--timeout", "100ms", "while true do end"])
        .assert()
        .code(3)
        .get_output()
        .stdout
        .clone();
    assert_eq!(json_of(&out)["error"]["kind"], "timeout");

    let out = ctx
        .pylua()
        .args(["run", "--json", "nope.lua"])
        .assert()
        .code(4)
        .get_output()
        .stdout
        .clone();
    assert_eq!(json_of(&out)["error"]["kind"], "io");
}

#[test]
fn standard_sandbox_allows_the_working_directory_only() {
    let ctx = Ctx::new();
    ctx.write("data.txt", "inside");
    ctx.write(
        "read.lua",
        "print(io.open('data.txt'):read('a'))\nprint(pcall(io.open, '/etc/hostname'))\nprint(os.execute == nil)\n",
    );
    ctx.pylua()
        .args(["run", "--sandbox", "standard", "read.lua"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("inside\nfalse\t"))
        .stdout(predicate::str::contains(
            "outside the directories this sandbox allows",
        ))
        .stdout(predicate::str::ends_with("true\n"));
}

#[test]
fn standard_sandbox_reads_the_tree_but_cannot_change_it() {
    let ctx = Ctx::new();
    let modules = ctx.path().join("tree/share/lua/5.4");
    std::fs::create_dir_all(&modules).unwrap();
    std::fs::write(modules.join("m.lua"), "return { v = 1 }\n").unwrap();
    let tree = ctx.path().join("tree");
    let tree = tree.to_str().unwrap();
    let run = |code: &str| {
        let out = ctx
            .pylua()
            .args([
                "eval",
                "--json",
                "--no-project",
                "--sandbox",
                "standard",
                "--tree",
                tree,
            ])
            .arg(code)
            .output()
            .unwrap();
        json_of(&out.stdout)
    };
    assert_eq!(run("return require('m').v")["values"][0], 1);
    for attack in [
        format!("return assert(io.open('{tree}/share/lua/5.4/m.lua', 'w'))"),
        format!("return assert(io.open('{tree}/share/lua/5.4/new.lua', 'w'))"),
        format!("return assert(os.remove('{tree}/share/lua/5.4/m.lua'))"),
        format!("return assert(os.rename('{tree}/share', 'elsewhere'))"),
        format!("return assert(os.rename('{tree}', 'elsewhere'))"),
        // Nor its parent, which holds it (the current directory, writable otherwise).
        format!(
            "return assert(os.rename('{}', '/tmp/moved'))",
            ctx.path().display()
        ),
    ] {
        let doc = run(&attack);
        let message = doc["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("is denied"), "{attack}: {doc}");
    }
    // The current directory stays writable.
    let doc = run("local f = assert(io.open('out.txt', 'w')) f:write('x') f:close() return true");
    assert_eq!(doc["values"][0], true, "{doc}");
    assert_eq!(
        std::fs::read_to_string(modules.join("m.lua")).unwrap(),
        "return { v = 1 }\n"
    );
}

#[test]
fn default_cli_sandbox_is_the_full_library() {
    let ctx = Ctx::new();
    ctx.pylua()
        .args([
            "eval",
            "return type(io.open), type(os.execute), type(debug.getinfo), type(require)",
        ])
        .assert()
        .success()
        .stdout("function\tfunction\tfunction\tfunction\n");
}

#[test]
fn repl_reads_lines_prints_values_and_continues_statements() {
    let ctx = Ctx::new();
    let out = ctx
        .pylua()
        .arg("repl")
        .write_stdin("1 + 1\nx = 20\nx * 2\nfor i = 1, 2 do\n  print('i=' .. i)\nend\n{a = 1}\nerror('oops')\nreturn 'still alive'\n")
        .assert()
        .success()
        .get_output()
        .clone();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "2\n",
        "40\n",
        "i=1\ni=2\n",
        "{\n  a = 1,\n}\n",
        "still alive\n",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in {stdout}"
        );
    }
    assert!(stderr.contains("runtime error: stdin:1: oops"), "{stderr}");
    assert!(
        ctx.path().join(".pylua-home/data/repl_history").exists(),
        "history is kept"
    );
}

#[test]
fn info_reports_versions_paths_and_backends() {
    let ctx = Ctx::new();
    ctx.pylua()
        .arg("info")
        .assert()
        .success()
        .stdout(predicate::str::contains("Lua 5.4"))
        .stdout(predicate::str::contains("embedded"));
    let out = ctx
        .pylua()
        .args(["info", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let doc = json_of(&out);
    assert_eq!(doc["backends"][0]["name"], "embedded");
    assert!(doc["paths"]["data"]
        .as_str()
        .unwrap()
        .ends_with(".pylua-home/data"));
}

#[test]
fn help_teaches_exit_codes_and_examples() {
    let ctx = Ctx::new();
    ctx.pylua()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("Exit codes:"))
        .stdout(predicate::str::contains("pylua eval 'return 1 + 1'"));
}

/// Every command fails the same way under `--json`: one object `{"ok": false, "error":
/// {"kind", "message"}}` on stdout, and the exit code the README's table gives that kind.
#[test]
fn json_errors_have_one_shape_and_the_exit_code_of_their_kind() {
    let ctx = Ctx::new();
    let table = |kind: &str| match kind {
        "syntax" | "runtime" => 1,
        "usage" => 2,
        "memory_limit" | "instruction_limit" | "timeout" => 3,
        "io" => 4,
        "not_found" | "no_solution" => 5,
        "server" | "tree" => 6,
        "build" => 7,
        "in_use" => 8,
        "no_interpreter" => 9,
        "project_file" | "config" => 10,
        "lock_stale" => 11,
        other => panic!("kind {other:?} is not in the README's table"),
    };
    let none = ctx.path().join("no-tree");
    let none = none.to_str().unwrap();
    let server = format!("file://{}/no-server", ctx.path().display());
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["eval", "return (", "--json"], "syntax"),
        (vec!["eval", "error('x')", "--json"], "runtime"),
        (vec!["run", "missing.lua", "--json"], "io"),
        (
            vec!["eval", "while true do end", "--timeout", "50ms", "--json"],
            "timeout",
        ),
        (vec!["lua", "install", "banana", "--json"], "usage"),
        (vec!["profile", "show", "nope", "--json"], "not_found"),
        (
            vec!["which", "nothing", "--json", "--tree", none],
            "not_found",
        ),
        (
            vec!["search", "x", "--json", "--only-server", &server],
            "server",
        ),
        (vec!["sync", "--json"], "project_file"),
    ];
    for (args, kind) in cases {
        let out = ctx.pylua().args(&args).output().unwrap();
        let doc: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out:?}"));
        assert_eq!(doc["ok"], false, "{args:?}: {doc}");
        assert_eq!(doc["error"]["kind"], kind, "{args:?}: {doc}");
        assert!(doc["error"]["message"].is_string(), "{args:?}: {doc}");
        assert_eq!(out.status.code(), Some(table(kind)), "{args:?}: {doc}");
    }
}

/// Library errors carry a structured hint; the JSON error has it as data, the text names the
/// command. Data commands print JSON with `--json`.
#[test]
fn hints_are_data_in_json_and_a_command_in_text() {
    let ctx = Ctx::new();
    let out = ctx
        .pylua()
        .args(["eval", "--json", "--lua", "5.2", "1"])
        .env("PATH", "/nonexistent")
        .env("XDG_DATA_HOME", ctx.path())
        .output()
        .unwrap();
    let doc = json_of(&out.stdout);
    assert_eq!(doc["error"]["hint"]["action"], "install_lua", "{doc}");
    assert_eq!(doc["error"]["hint"]["version"], "5.2", "{doc}");
    assert!(!doc["error"]["message"]
        .as_str()
        .unwrap()
        .contains("pylua lua install"));
    let out = ctx
        .pylua()
        .args(["eval", "--lua", "5.2", "1"])
        .env("PATH", "/nonexistent")
        .env("XDG_DATA_HOME", ctx.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("hint: install one with `pylua lua install 5.2`"),
        "{text}"
    );

    let out = ctx
        .pylua()
        .args(["cache", "dir", "--json"])
        .output()
        .unwrap();
    let doc = json_of(&out.stdout);
    assert_eq!(doc["ok"], true, "{doc}");
    assert!(doc["result"]["dir"].is_string(), "{doc}");
}

/// `pylua completions SHELL` prints a script the shell accepts.
#[test]
fn completions_load_in_bash() {
    let ctx = Ctx::new();
    let out = ctx.pylua().args(["completions", "bash"]).output().unwrap();
    assert!(out.status.success());
    let script = String::from_utf8(out.stdout).unwrap();
    assert!(script.contains("completions") && script.contains("install"));
    ctx.write("pylua.bash", &script);
    let check = std::process::Command::new("bash")
        .args(["-c", "source ./pylua.bash && complete -p pylua"])
        .current_dir(ctx.path())
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");
    ctx.pylua()
        .args(["completions", "tcsh"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("possible values"));
}
