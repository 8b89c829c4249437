//! The real world: every package of the realrocks mirror (real upstream packages from Debian's
//! source packages, built by `../shared/realrocks/build-mirror.py`) installed into its own
//! fresh tree for the embedded Lua 5.4, then every module it installed required in the VM.
//!
//! Opt-in because building the mirror needs Debian's archive: set `PYLUA_REALROCKS` to the
//! mirror directory (`.ci/run` builds it and does). Without it the test says so and passes.

use assert_cmd::Command;
use serde_json::Value;

#[test]
fn every_mirror_package_installs_and_loads_in_the_embedded_vm() {
    let Some(mirror) = std::env::var_os("PYLUA_REALROCKS") else {
        eprintln!(
            "realrocks suite skipped: set PYLUA_REALROCKS to a mirror built by build-mirror.py"
        );
        return;
    };
    let mirror = mirror.to_string_lossy().into_owned();
    let home = tempfile::tempdir().unwrap();
    let pylua = || {
        let mut c = Command::cargo_bin("pylua").unwrap();
        c.env("PYLUA_HOME", home.path().join("home"));
        c
    };
    let out = pylua()
        .args(["search", "", "--json", "--only-server", &mirror])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<String> = doc["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap().to_string())
        .collect();
    assert!(
        names.len() >= 10,
        "the mirror has too few packages: {names:?}"
    );
    let mut report = Vec::new();
    let mut failures = Vec::new();
    for name in &names {
        let tree = home.path().join(format!("tree-{name}"));
        let tree = tree.to_str().unwrap();
        let install = pylua()
            .args(["install", name, "--only-server", &mirror, "--tree", tree])
            .output()
            .unwrap();
        if !install.status.success() {
            failures.push(format!(
                "{name}: install failed: {}",
                String::from_utf8_lossy(&install.stderr)
            ));
            continue;
        }
        let listed: Value = serde_json::from_slice(
            &pylua()
                .args(["list", "--json", "--tree", tree])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        let modules: Vec<String> = listed["result"]["packages"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| {
                p["modules"]
                    .as_object()
                    .unwrap()
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut loaded = 0;
        for module in &modules {
            let code = format!("local ok, err = pcall(require, {module:?}) if not ok then error(err, 0) end return 'ok'");
            let run = pylua()
                .args(["eval", "--tree", tree, &code])
                .output()
                .unwrap();
            if run.status.success() {
                loaded += 1;
            } else {
                failures.push(format!(
                    "{name}: require '{module}': {}",
                    String::from_utf8_lossy(&run.stderr).trim()
                ));
            }
        }
        report.push(format!(
            "{name:<18} installed, {loaded}/{} modules load",
            modules.len()
        ));
    }
    eprintln!(
        "realrocks on the embedded Lua 5.4:\n  {}",
        report.join("\n  ")
    );
    assert!(
        failures.is_empty(),
        "failures:\n  {}",
        failures.join("\n  ")
    );
}
