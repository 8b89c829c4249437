//! `pylua audit`: a project with a package named in an advisory file and a file changed by
//! hand gets both findings with their fixes (exit 13); without them it is clean (exit 0);
//! risky code is information unless its category is denied; SARIF for CI.

mod common;

use assert_cmd::Command;
use common::RockServer;
use serde_json::Value;

const ADVISORY: &str = r#"{
  "schema_version": "1.6.0",
  "id": "TEST-2026-0001",
  "modified": "2026-11-01T00:00:00Z",
  "summary": "alpha evaluates its input",
  "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
  "affected": [{
    "package": {"ecosystem": "LuaRocks", "name": "alpha", "purl": "pkg:luarocks/alpha"},
    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.1-1"}]}]
  }]
}"#;

fn pylua(dir: &std::path::Path, args: &[&str]) -> Command {
    let mut c = Command::cargo_bin("pylua").unwrap();
    c.current_dir(dir.join("app"))
        .env("PYLUA_HOME", dir.join("home"))
        .args(args);
    c
}

#[test]
fn advisories_and_changed_files_fail_the_audit_with_their_fixes() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = RockServer::new(&dir.path().join("server"));
    for version in ["1.0-1", "1.1-1"] {
        server.package(
            "alpha",
            version,
            &[],
            &[(
                "alpha.lua",
                "local f = load(...)\nos.execute('true')\nreturn {}\n",
            )],
            r#"type = "builtin", modules = { alpha = "alpha.lua" }"#,
        );
    }
    server.publish();
    std::fs::create_dir_all(dir.path().join("app")).unwrap();
    std::fs::write(dir.path().join("advisory.json"), ADVISORY).unwrap();
    let advisory = dir.path().join("advisory.json");
    let advisory = advisory.to_str().unwrap();
    pylua(dir.path(), &["init", "--server", &server.url()])
        .assert()
        .success();
    pylua(dir.path(), &["add", "alpha@==1.0-1"])
        .assert()
        .success();
    let lua_file = dir.path().join("app/.pylua/share/lua/5.4/alpha.lua");
    std::fs::write(&lua_file, "return 'changed'\n").unwrap();

    let out = pylua(dir.path(), &["audit", "--advisories", advisory, "--json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(13),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let report = &doc["result"];
    assert_eq!(report["advisories"][0]["id"], "TEST-2026-0001", "{doc}");
    assert_eq!(report["advisories"][0]["package"], "alpha");
    assert_eq!(report["advisories"][0]["fixed"], "1.1-1");
    assert!(report["advisories"][0]["severity"]
        .as_str()
        .unwrap()
        .starts_with("CVSS_V3"));
    assert_eq!(
        report["integrity"]["damaged"]["alpha"][0],
        serde_json::json!({"problem": "changed", "path": "share/lua/5.4/alpha.lua"}),
        "{doc}"
    );
    // The text names the fixes.
    let out = pylua(dir.path(), &["audit", "--advisories", advisory])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("fix: `pylua add 'alpha@>=1.1-1'`"), "{text}");
    assert!(
        text.contains("alpha: share/lua/5.4/alpha.lua was changed"),
        "{text}"
    );

    // Taking the fixes: a clean audit, and the risky code is information only...
    pylua(dir.path(), &["add", "alpha@>=1.1-1"])
        .assert()
        .success();
    let out = pylua(dir.path(), &["audit", "--advisories", advisory, "--json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let risky: Vec<(String, u64)> = doc["result"]["risky"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["category"].as_str().unwrap().to_string(),
                r["line"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(risky, [("load".into(), 1), ("shell".into(), 2)], "{doc}");
    // ...unless denied.
    let out = pylua(dir.path(), &["audit", "--deny", "shell"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(13));
    // SARIF for CI.
    let out = pylua(dir.path(), &["audit", "--deny", "shell", "--sarif"])
        .output()
        .unwrap();
    let sarif: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert!(results.iter().any(|r| r["ruleId"] == "risky-shell"
        && r["level"] == "error"
        && r["locations"][0]["physicalLocation"]["region"]["startLine"] == 2));
    // A locked file that changed on the server (or in the cache) since it was locked.
    let rock = dir.path().join("server/alpha-1.1-1.src.rock");
    let mut bytes = std::fs::read(&rock).unwrap();
    bytes.extend_from_slice(b"tampered");
    std::fs::write(&rock, bytes).unwrap();
    let out = pylua(dir.path(), &["audit", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(13));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        doc["result"]["lock_mismatches"][0]["package"], "alpha",
        "{doc}"
    );
    // A broken advisory file is an error, not a pass.
    std::fs::write(dir.path().join("bad.json"), "{\"id\": 1}").unwrap();
    let bad = dir.path().join("bad.json");
    let out = pylua(
        dir.path(),
        &["audit", "--advisories", bad.to_str().unwrap()],
    )
    .output()
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
