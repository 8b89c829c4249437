//! `pylua test`: renders the library's test runs (`operations::test`).

use crate::packages::ServerArgs;
use crate::project_cmd::{fail, find_project};
use pylua::operations::test::{test_package, test_project, TestOptions, TestReport};
use serde_json::json;
use std::process::ExitCode;
use std::time::Duration;

/// The exit code when a suite failed or could not run.
const FAILED: u8 = 1;

pub fn run(packages: &[String], servers: &ServerArgs, timeout: Duration) -> ExitCode {
    let json_output = servers.json;
    let pylua = std::env::current_exe().unwrap_or_else(|_| "pylua".into());
    let mut reports: Vec<TestReport> = Vec::new();
    if packages.is_empty() {
        let project = match find_project(None) {
            Ok(p) => p,
            Err(e) => return fail(&e, json_output),
        };
        let config = match crate::curator_cmd::load_config(json_output) {
            Ok(c) => c,
            Err(code) => return code,
        };
        let env = crate::project_cmd::EnvArgs::default().options(config, None);
        let state = match pylua::operations::project::state(&project, &env) {
            Ok(s) => s,
            Err(e) => return fail(&e, json_output),
        };
        reports.push(test_project(
            project.root(),
            &state.tree,
            state.file.project.lua,
            &pylua,
            timeout,
        ));
    } else {
        let options = match servers.options() {
            Ok(o) => TestOptions {
                servers: o,
                lua: servers.external(),
                pylua,
                timeout,
                jobs: 0,
            },
            Err(code) => return code,
        };
        for request in packages {
            if !json_output {
                eprintln!("testing {request}…");
            }
            match test_package(request, &options) {
                Ok(r) => reports.push(r),
                Err(e) => {
                    return crate::render::failure_full(
                        e.kind(),
                        &e.to_string(),
                        None,
                        e.ways_out(),
                        json_output,
                    );
                }
            }
        }
    }
    // Inside a project, the results are kept for the doctor.
    if let Ok(project) = find_project(None) {
        let lua = servers.external().map_or("5.4", |v| v.as_str());
        pylua::operations::checks::record_tests(&project, lua, &reports);
    }
    let all_ok = reports.iter().all(|r| r.ok);
    if json_output {
        println!("{}", json!({"ok": all_ok, "result": reports}));
    } else {
        for r in &reports {
            let mark = if r.ok { "✓" } else { "✗" };
            println!(
                "{mark} {} {}: {} passed, {} failed, {} errors, {} pending ({:.1} s)",
                r.package, r.version, r.passed, r.failed, r.errors, r.pending, r.seconds
            );
            if let Some(p) = &r.problem {
                println!("    {p}");
            }
            if !r.ok && !r.output.is_empty() {
                for line in r.output.lines().take(30) {
                    println!("    | {line}");
                }
            }
        }
    }
    if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(FAILED)
    }
}
