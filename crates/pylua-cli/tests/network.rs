//! `net` and the network policy end to end: `pylua eval`/`run` with `--allow-net` against an
//! HTTP server on 127.0.0.1 started by the test (never an outside address).

mod common;

use assert_cmd::Command;
use common::net_server::NetServer;
use serde_json::Value;

fn pylua() -> Command {
    let mut cmd = Command::cargo_bin("pylua").unwrap();
    let home = tempfile::tempdir().unwrap().keep();
    cmd.env("PYLUA_HOME", home).arg("eval").arg("--no-project");
    cmd
}

/// `pylua eval --json` with these flags; returns the JSON document and the exit code.
fn eval_json(flags: &[&str], code: &str) -> (Value, i32) {
    let out = pylua()
        .arg("--json")
        .args(flags)
        .arg(code)
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (doc, out.status.code().unwrap_or(-1))
}

fn allow(server: &NetServer) -> Vec<String> {
    vec![
        "--sandbox".into(),
        "strict".into(),
        "--allow-net".into(),
        format!("127.0.0.1:{}", server.port),
        "--allow-http".into(),
    ]
}

fn kind(doc: &Value) -> &str {
    doc["error"]["kind"].as_str().unwrap_or("none")
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn done_when_status_200_under_strict() {
    let server = NetServer::start();
    let port = server.port;
    let code = format!("return net.get(\"http://127.0.0.1:{port}/x\").status");
    pylua()
        .args(["--sandbox", "strict", "--allow-net"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--allow-http")
        .arg(&code)
        .assert()
        .success()
        .stdout("200\n");
}

#[test]
fn without_allow_net_there_is_no_net() {
    for sandbox in ["strict", "standard", "none"] {
        pylua()
            .args(["--sandbox", sandbox, "return net == nil"])
            .assert()
            .success()
            .stdout("true\n");
    }
}

#[test]
fn another_port_is_denied() {
    let server = NetServer::start();
    let other = server.port.wrapping_add(1).max(1);
    let (doc, code) = eval_json(
        &strs(&allow(&server)),
        &format!("return net.get('http://127.0.0.1:{other}/x').status"),
    );
    assert_eq!(kind(&doc), "network_denied", "{doc}");
    assert_eq!(code, 20);
    assert_eq!(server.hits.load(std::sync::atomic::Ordering::Relaxed), 0);
}

#[test]
fn redirects_are_rechecked() {
    let server = NetServer::start();
    let port = server.port;
    // To the same host: followed.
    let (doc, _) = eval_json(
        &strs(&allow(&server)),
        &format!(
            "local r = net.get('http://127.0.0.1:{port}/redirect?to=/x'); return r.status, #r.body"
        ),
    );
    assert_eq!(doc["values"][0], 200, "{doc}");
    assert_eq!(doc["network"].as_array().unwrap().len(), 2, "{doc}");
    // To another host (the same server under another name): refused.
    let (doc, code) = eval_json(
        &strs(&allow(&server)),
        &format!("return net.get('http://127.0.0.1:{port}/redirect?to=http://localhost:{port}/x').status"),
    );
    assert_eq!(kind(&doc), "network_denied", "{doc}");
    assert_eq!(code, 20);
}

#[test]
fn a_body_over_the_cap_is_a_limit() {
    let server = NetServer::start();
    let port = server.port;
    let mut flags = allow(&server);
    flags.extend(["--net-max-response".into(), "1K".into()]);
    let (doc, code) = eval_json(
        &strs(&flags),
        &format!("return #net.get('http://127.0.0.1:{port}/big/5000').body"),
    );
    assert_eq!(kind(&doc), "network_limit", "{doc}");
    assert_eq!(code, 21);
    // The default cap is 8 MiB.
    let (doc, _) = eval_json(
        &strs(&allow(&server)),
        &format!(
            "return #net.get('http://127.0.0.1:{port}/big/{}').body",
            (8 << 20) + 1
        ),
    );
    assert_eq!(kind(&doc), "network_limit", "{doc}");
    let (doc, _) = eval_json(
        &strs(&allow(&server)),
        &format!("return #net.get('http://127.0.0.1:{port}/big/100000').body"),
    );
    assert_eq!(doc["values"][0], 100000, "{doc}");
}

#[test]
fn a_slow_response_is_a_limit() {
    let server = NetServer::start();
    let port = server.port;
    let mut flags = allow(&server);
    flags.extend(["--net-timeout".into(), "300ms".into()]);
    let (doc, code) = eval_json(
        &strs(&flags),
        &format!("return net.get('http://127.0.0.1:{port}/slow/5000').status"),
    );
    assert_eq!(kind(&doc), "network_limit", "{doc}");
    assert_eq!(code, 21);
}

#[test]
fn the_run_timeout_ends_a_request_in_flight() {
    let server = NetServer::start();
    let port = server.port;
    let mut flags = allow(&server);
    flags.extend(["--timeout".into(), "400ms".into()]);
    // A pcall cannot keep the run alive past its timeout either.
    let (doc, code) = eval_json(
        &strs(&flags),
        &format!("pcall(net.get, 'http://127.0.0.1:{port}/slow/8000'); while true do end"),
    );
    assert_eq!(kind(&doc), "timeout", "{doc}");
    assert_eq!(code, 3);
}

#[test]
fn the_audit_log_is_in_json_output() {
    let server = NetServer::start();
    let port = server.port;
    let (doc, code) = eval_json(
        &strs(&allow(&server)),
        &format!(
            "local r = net.request{{url = 'http://127.0.0.1:{port}/echo?token=secret', method = 'POST', \
             body = 'hello', headers = {{['X-Test'] = 'yes'}}}}; return r.status, r.body"
        ),
    );
    assert_eq!(code, 0, "{doc}");
    let body = doc["values"][1].as_str().unwrap();
    assert!(
        body.starts_with("POST\n")
            && body.to_ascii_lowercase().contains("x-test: yes")
            && body.ends_with("hello"),
        "{body}"
    );
    let log = doc["network"].as_array().unwrap();
    assert_eq!(log.len(), 1);
    let entry = &log[0];
    assert_eq!(entry["method"], "POST");
    assert_eq!(entry["host"], format!("127.0.0.1:{port}"));
    assert_eq!(entry["status"], 200);
    assert!(entry["bytes"].as_u64().unwrap() > 0 && entry["ms"].is_number());
    // The query string (which may hold secrets) stays out of the log.
    assert!(
        !entry["url"].as_str().unwrap().contains("secret"),
        "{entry}"
    );
}

#[test]
fn deny_wins_and_https_is_the_default() {
    let server = NetServer::start();
    let port = server.port;
    let url = format!("http://127.0.0.1:{port}/x");
    let mut flags = allow(&server);
    flags.extend(["--deny-net".into(), "127.0.0.1".into()]);
    let (doc, _) = eval_json(&strs(&flags), &format!("return net.get('{url}').status"));
    assert_eq!(kind(&doc), "network_denied", "{doc}");
    let (doc, _) = eval_json(
        &[
            "--sandbox",
            "strict",
            "--allow-net",
            &format!("127.0.0.1:{port}"),
        ],
        &format!("return net.get('{url}').status"),
    );
    assert_eq!(kind(&doc), "network_denied", "{doc}");
    assert!(doc["error"]["message"]
        .as_str()
        .unwrap()
        .contains("--allow-http"));
}

#[test]
fn private_addresses_must_be_named() {
    let server = NetServer::start();
    let port = server.port;
    // `*` allows every host, but not a loopback address it does not name.
    let (doc, _) = eval_json(
        &["--sandbox", "strict", "--allow-net", "*", "--allow-http"],
        &format!("return net.get('http://127.0.0.1:{port}/x').status"),
    );
    assert_eq!(kind(&doc), "network_denied", "{doc}");
    // `localhost`, named, reaches loopback.
    let (doc, _) = eval_json(
        &[
            "--sandbox",
            "strict",
            "--allow-net",
            &format!("localhost:{port}"),
            "--allow-http",
        ],
        &format!("return net.get('http://localhost:{port}/x').status"),
    );
    assert_eq!(doc["values"][0], 200, "{doc}");
}

#[test]
fn hostile_requests_are_refused() {
    let server = NetServer::start();
    let port = server.port;
    let base = format!("http://127.0.0.1:{port}");
    let cases = [
        (
            format!("http://user:pw@127.0.0.1:{port}/x"),
            "{}",
            "network_denied",
        ),
        (
            format!("{base}/x"),
            "{Host = 'evil.example'}",
            "network_denied",
        ),
        (
            format!("{base}/x"),
            "{['X-A'] = 'b\\r\\nHost: evil'}",
            "network_error",
        ),
        (format!("{base}/x"), "{['Bad Name'] = 'x'}", "network_error"),
        (
            "http://127.0.0.1\\0.evil/x".to_string(),
            "{}",
            "network_error",
        ),
        ("file:///etc/passwd".to_string(), "{}", "network_denied"),
    ];
    for (url, headers, expected) in cases {
        let (doc, _) = eval_json(
            &strs(&allow(&server)),
            &format!("return net.get('{url}', {headers}).status"),
        );
        assert_eq!(kind(&doc), expected, "{url} {headers}: {doc}");
    }
    // Huge response headers end the request, they do not reach the script.
    let (doc, code) = eval_json(
        &strs(&allow(&server)),
        &format!("return net.get('http://127.0.0.1:{port}/headers/200').status"),
    );
    assert!(
        ["network_limit", "network_error"].contains(&kind(&doc)),
        "{doc}"
    );
    assert!(code == 21 || code == 22, "{doc}");
    // `0x7f.1` is 127.0.0.1 to the URL parser, and to the policy alike.
    let (doc, _) = eval_json(
        &strs(&allow(&server)),
        &format!("return net.get('http://0x7f.1:{port}/x').status"),
    );
    assert_eq!(doc["values"][0], 200, "{doc}");
}

#[test]
fn request_count_is_capped_and_errors_can_be_caught() {
    let server = NetServer::start();
    let port = server.port;
    let mut flags = allow(&server);
    flags.extend(["--net-max-requests".into(), "2".into()]);
    let (doc, code) = eval_json(
        &strs(&flags),
        &format!(
            "local url = 'http://127.0.0.1:{port}/x'; net.get(url); net.get(url); \
             local r, err = net.request{{url = url}}; \
             local ok, e = pcall(net.get, 'http://127.0.0.1:1/x'); \
             return r, err, ok, e"
        ),
    );
    assert_eq!(code, 0, "{doc}");
    assert!(
        doc["values"][1]
            .as_str()
            .unwrap()
            .starts_with("network_limit:"),
        "{doc}"
    );
    assert_eq!(doc["values"][2], false);
    assert!(
        doc["values"][3]
            .as_str()
            .unwrap()
            .contains("network_denied"),
        "{doc}"
    );
}

#[test]
fn statuses_and_headers_reach_the_script() {
    let server = NetServer::start();
    let port = server.port;
    let (doc, _) = eval_json(
        &strs(&allow(&server)),
        &format!(
            "local r = net.request{{url = 'http://127.0.0.1:{port}/status/404'}}; \
             return r.status, r.ok, r.headers['content-type']"
        ),
    );
    assert_eq!(
        doc["values"],
        serde_json::json!([404, false, "application/json"]),
        "{doc}"
    );
}

#[test]
fn process_vms_get_net_from_the_host_under_the_same_policy() {
    // An external interpreter has `net` too: its requests go up the session pipe and the
    // host checks and performs them, so every rule holds there as in the embedded VM.
    let mut interpreters = vec!["5.4"];
    if common::have_program("lua5.1") {
        interpreters.push("5.1");
    }
    let server = NetServer::start();
    let port = server.port;
    for lua in interpreters {
        let mut flags = allow(&server);
        flags.extend([
            "--backend".into(),
            "process".into(),
            "--lua".into(),
            lua.into(),
        ]);
        let (doc, code) = eval_json(
            &strs(&flags),
            &format!(
                "local r = net.request{{url = 'http://127.0.0.1:{port}/echo', method = 'POST', body = 'a\\0b'}} \
                 return r.status, #r.body, net.get('http://127.0.0.1:{port}/x').status"
            ),
        );
        assert_eq!(code, 0, "{lua}: {doc}");
        assert_eq!(doc["values"][0], 200, "{lua}: {doc}");
        assert_eq!(doc["values"][2], 200, "{lua}: {doc}");
        assert_eq!(doc["network"].as_array().unwrap().len(), 2, "{lua}: {doc}");
        // Another port: denied, with its exit code.
        let (doc, code) = eval_json(&strs(&flags), "return net.get('http://127.0.0.1:9/x')");
        assert_eq!(kind(&doc), "network_denied", "{lua}: {doc}");
        assert_eq!(code, 20);
        // A body over the cap: a limit.
        let mut capped = flags.clone();
        capped.extend(["--net-max-response".into(), "1K".into()]);
        let (doc, code) = eval_json(
            &strs(&capped),
            &format!("return #net.get('http://127.0.0.1:{port}/big/5000').body"),
        );
        assert_eq!(kind(&doc), "network_limit", "{lua}: {doc}");
        assert_eq!(code, 21);
        // The run's timeout ends a request in flight.
        let mut timed = flags.clone();
        timed.extend(["--timeout".into(), "400ms".into()]);
        let started = std::time::Instant::now();
        let (doc, code) = eval_json(
            &strs(&timed),
            &format!("pcall(net.get, 'http://127.0.0.1:{port}/slow/8000'); while true do end"),
        );
        assert_eq!(kind(&doc), "timeout", "{lua}: {doc}");
        assert_eq!(code, 3);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(6),
            "{lua}"
        );
    }
    // Without a policy there is no `net` there either.
    let (doc, _) = eval_json(&["--backend", "process"], "return net == nil");
    assert_eq!(doc["values"][0], true, "{doc}");
}

#[test]
fn bad_patterns_are_usage_errors() {
    for bad in ["http://x", "a b", "x:0", "a.*.b"] {
        pylua()
            .args(["--allow-net", bad, "return 1"])
            .assert()
            .code(2);
    }
}

#[test]
fn the_http_client_template_runs_against_a_local_server() {
    let server = NetServer::start();
    let port = server.port;
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("client");
    let pylua_at = |cwd: &std::path::Path| {
        let mut cmd = Command::cargo_bin("pylua").unwrap();
        cmd.env("PYLUA_HOME", home.path()).current_dir(cwd);
        cmd
    };
    pylua_at(dir.path())
        .args(["init", "--template", "http-client", "client"])
        .assert()
        .success();
    let toml = std::fs::read_to_string(project.join("pylua.toml")).unwrap();
    assert!(toml.contains("sandbox = \"strict\""), "{toml}");
    let url = format!("http://127.0.0.1:{port}/x");
    let out = pylua_at(&project)
        .args([
            "run",
            "--frozen",
            "--allow-net",
            &format!("127.0.0.1:{port}"),
            "--allow-http",
        ])
        .args(["main.lua", &url])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "name: \"pylua\"",
        "ok: true",
        "n: []",
        "e: {}",
        "2.5",
        "\"three\"",
        "null",
        "k: \"v\\né\"",
    ] {
        assert!(
            stdout.contains(expected),
            "{expected} missing from:\n{stdout}"
        );
    }
    // Without --allow-net there is no network, and the script says so.
    let out = pylua_at(&project)
        .args(["run", "--frozen", "main.lua", &url])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--allow-net"));
    // The same policy from pylua.toml's [run].
    std::fs::write(
        project.join("pylua.toml"),
        toml.replace(
            "# allow-net = [\"api.example.com\"]",
            &format!("allow-net = [\"127.0.0.1:{port}\"]\nallow-http = true"),
        ),
    )
    .unwrap();
    pylua_at(&project)
        .args(["run", "--frozen", "main.lua", &url])
        .assert()
        .success();
    // A redirect elsewhere fails with its kind, through the template's error path.
    let out = pylua_at(&project)
        .args(["run", "--frozen", "--json", "main.lua"])
        .arg(format!(
            "http://127.0.0.1:{port}/redirect?to=http://localhost:{port}/x"
        ))
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(kind(&doc), "network_denied", "{doc}");
}

#[test]
fn the_other_templates_write_their_files() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (template, files) in [
        (
            "cli",
            vec!["main.lua", "app.lua", "spec/app_spec.lua", ".busted"],
        ),
        (
            "library",
            vec![
                "src/my_lib.lua",
                "spec/my_lib_spec.lua",
                "my-lib-dev-1.rockspec",
            ],
        ),
    ] {
        let project = dir.path().join(format!("{template}-x"));
        Command::cargo_bin("pylua")
            .unwrap()
            .env("PYLUA_HOME", home.path())
            .args(["init", "--template", template, "--name", "my-lib"])
            .arg(&project)
            .assert()
            .success();
        for f in files {
            assert!(project.join(f).is_file(), "{template}: {f}");
        }
    }
    let cli = dir.path().join("cli-x");
    Command::cargo_bin("pylua")
        .unwrap()
        .env("PYLUA_HOME", home.path())
        .current_dir(&cli)
        .args(["run", "--frozen", "main.lua", "--name", "Lua", "--shout"])
        .assert()
        .success()
        .stdout("HELLO, LUA!\n");
    // A template never writes over a file.
    let taken = dir.path().join("taken");
    std::fs::create_dir_all(&taken).unwrap();
    std::fs::write(taken.join("main.lua"), "mine").unwrap();
    Command::cargo_bin("pylua")
        .unwrap()
        .env("PYLUA_HOME", home.path())
        .args(["init", "--template", "http-client"])
        .arg(&taken)
        .assert()
        .code(2);
    assert_eq!(
        std::fs::read_to_string(taken.join("main.lua")).unwrap(),
        "mine"
    );
    assert!(!taken.join("pylua.toml").exists());
}

#[test]
fn doctor_reports_networking_readiness_with_fixes() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("pylua")
        .unwrap()
        .env("PYLUA_HOME", home.path())
        .current_dir(dir.path())
        .args(["doctor", "--only", "networking", "--offline", "--json"])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let report = &doc["result"]["report"];
    let readiness = report["networking"]["readiness_percentage"]
        .as_f64()
        .unwrap();
    assert!((0.0..=100.0).contains(&readiness), "{doc}");
    let findings = report["findings"].as_array().unwrap();
    let checks: Vec<&str> = findings
        .iter()
        .filter_map(|f| f["check"].as_str())
        .collect();
    for check in [
        "net.host",
        "net.luasocket",
        "net.luasec",
        "net.dns",
        "net.loopback",
        "net.tls",
        "net.proxy",
    ] {
        assert!(checks.contains(&check), "{check} missing: {checks:?}");
    }
    for f in findings {
        assert_eq!(f["area"], "networking");
        if f["severity"] != "ok" {
            assert!(
                f["fix"].is_object() || f["why"].is_string(),
                "no fix or reason: {f}"
            );
        }
    }
    // pylua's own `net` and loopback work on any machine that runs the tests.
    for check in ["net.host", "net.loopback"] {
        let f = findings.iter().find(|f| f["check"] == check).unwrap();
        assert_eq!(f["severity"], "ok", "{f}");
    }
    // An empty tree has no LuaSocket: a warning whose fix adds it.
    let socket = findings
        .iter()
        .find(|f| f["check"] == "net.luasocket")
        .unwrap();
    assert_eq!(socket["fix"]["package"], "luasocket", "{socket}");
    assert_eq!(report["networking"]["luasocket_ready"], false);
    let text = Command::cargo_bin("pylua")
        .unwrap()
        .env("PYLUA_HOME", home.path())
        .current_dir(dir.path())
        .args(["doctor", "--only", "networking", "--offline"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("Networking readiness: ") && text.contains("fix: `pylua add luasocket`"),
        "{text}"
    );
}

#[test]
fn network_c_modules_are_refused_in_the_standard_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("socket.lua"),
        "return require('socket.core')",
    )
    .unwrap();
    let out = pylua()
        .current_dir(dir.path())
        .args(["--json", "--sandbox", "standard"])
        .arg("package.path = './?.lua;' .. package.path; return require('socket')")
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let message = doc["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("cannot constrain a C module") && message.contains("net"),
        "{doc}"
    );
}

/// A stand-in for LuaSocket's C module: `socket.core` with one function.
const FAKE_SOCKET_CORE: &str = r#"
#include "lua.h"
static int hello(lua_State *L) { lua_pushstring(L, "native hello"); return 1; }
int luaopen_socket_core(lua_State *L) {
    lua_newtable(L);
    lua_pushcfunction(L, hello);
    lua_setfield(L, -2, "hello");
    return 1;
}
"#;

/// A tree whose `lib/lua/5.4/socket/core.so` is [`FAKE_SOCKET_CORE`], built with `cc`.
fn tree_with_socket_core() -> Option<tempfile::TempDir> {
    if !common::have_program("cc") {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let cdir = dir.path().join("tree/lib/lua/5.4/socket");
    std::fs::create_dir_all(&cdir).unwrap();
    std::fs::write(dir.path().join("core.c"), FAKE_SOCKET_CORE).unwrap();
    let include = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../pylua/src/packages/include/lua5.4"
    );
    let built = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-I", include, "-o"])
        .arg(cdir.join("core.so"))
        .arg(dir.path().join("core.c"))
        .status()
        .unwrap();
    assert!(built.success());
    Some(dir)
}

#[test]
fn allow_luasocket_loads_network_c_modules_from_the_tree_under_standard() {
    let Some(dir) = tree_with_socket_core() else {
        return;
    };
    let tree = dir.path().join("tree");
    let tree = tree.to_str().unwrap();
    let run = |extra: &[&str], code: &str| {
        let mut flags = vec!["--sandbox", "standard", "--tree", tree];
        flags.extend_from_slice(extra);
        let mut cmd = pylua();
        cmd.current_dir(dir.path())
            .arg("--json")
            .args(&flags)
            .arg(code);
        let out = cmd.output().unwrap();
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        (doc, out.status.code().unwrap_or(-1))
    };
    let load = "return require('socket.core').hello()";
    // Without the flag: refused, naming the way out.
    let (doc, code) = run(&[], load);
    assert_ne!(code, 0, "{doc}");
    let message = doc["error"]["message"].as_str().unwrap();
    assert!(message.contains("cannot constrain a C module"), "{doc}");
    // With it: the C module loads and runs.
    let (doc, code) = run(&["--allow-luasocket"], load);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["values"][0], "native hello", "{doc}");
    // The same in an external Lua 5.4 interpreter (the process backend).
    if common::have_program("lua5.4") {
        let (doc, code) = run(&["--allow-luasocket", "--backend", "process"], load);
        assert_eq!(code, 0, "{doc}");
        assert_eq!(doc["values"][0], "native hello", "{doc}");
    }
    // Only network C modules: any other C module is still refused.
    let (doc, _) = run(&["--allow-luasocket"], "return require('lfs')");
    assert_eq!(doc["ok"], false, "{doc}");
    // The directory C modules load from is read-only to scripts: no overwriting the module,
    // no new file beside it, no moving it (or any directory above it) away.
    let so = format!("{tree}/lib/lua/5.4/socket/core.so");
    for code in [
        format!("return assert(io.open('{so}', 'wb'))"),
        format!("return assert(io.open('{tree}/lib/lua/5.4/socket/evil.so', 'wb'))"),
        format!("return assert(os.rename('{tree}/lib', '{tree}/moved'))"),
        format!("return assert(os.rename('{tree}', '{tree}-moved'))"),
        format!("return assert(os.remove('{so}'))"),
    ] {
        let (doc, _) = run(&["--allow-luasocket"], &code);
        let message = doc["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("is denied"), "{code}: {doc}");
    }
    // The current directory stays writable.
    let (doc, code) = run(
        &["--allow-luasocket"],
        "local f = assert(io.open('notes.txt', 'w')) f:write('x') f:close() return true",
    );
    assert_eq!(code, 0, "{doc}");
    // A module reached through a symlink into a directory scripts can write is refused.
    std::fs::create_dir_all(dir.path().join("planted/socket")).unwrap();
    std::fs::rename(
        format!("{tree}/lib/lua/5.4/socket/core.so"),
        dir.path().join("planted/socket/core.so"),
    )
    .unwrap();
    std::fs::remove_dir(format!("{tree}/lib/lua/5.4/socket")).unwrap();
    std::os::unix::fs::symlink(
        dir.path().join("planted/socket"),
        format!("{tree}/lib/lua/5.4/socket"),
    )
    .unwrap();
    let (doc, _) = run(&["--allow-luasocket"], load);
    let message = doc["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("the sandbox can write in that directory"),
        "{doc}"
    );
}

#[test]
fn allow_luasocket_is_refused_under_strict() {
    let (doc, code) = eval_json(&["--sandbox", "strict", "--allow-luasocket"], "return 1");
    assert_eq!(code, 2, "{doc}");
    assert_eq!(doc["error"]["kind"], "usage", "{doc}");
    let message = doc["error"]["message"].as_str().unwrap();
    assert!(message.contains("needs the standard sandbox"), "{doc}");
}
