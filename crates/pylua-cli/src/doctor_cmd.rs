//! `pylua doctor`: renders the library's checks (`operations::doctor`) as ✓ ! ✗ lines with
//! their fixes, or as JSON; `--fix` applies the safe fixes and checks again.

use crate::project_cmd::{fail, find_project, print_outcome, EnvArgs};
use pylua::operations::doctor::{self, Area, DoctorOptions, Finding, Fix, Report, Severity};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

/// The exit code when a check found an error.
const UNHEALTHY: u8 = 12;

pub fn run(
    only: Option<Area>,
    project_dir: Option<&PathBuf>,
    fix: bool,
    offline: bool,
    json_output: bool,
) -> ExitCode {
    let config = match crate::curator_cmd::load_config(json_output) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let project = match project_dir {
        Some(dir) => match find_project(Some(dir)) {
            Ok(p) => Some(p),
            Err(e) => return fail(&e, json_output),
        },
        None => find_project(None).ok(),
    };
    let args = EnvArgs {
        offline,
        json: json_output,
        ..EnvArgs::default()
    };
    let env = args.options(config, None);
    let options = DoctorOptions {
        only,
        project,
        env: &env,
        check_servers: !offline,
    };
    let mut report = doctor::doctor(&options);
    let mut fixed = None;
    if fix {
        let Some(project) = &options.project else {
            return crate::render::failure(
                "usage",
                "--fix repairs a project, and there is no pylua.toml here or above",
                json_output,
            );
        };
        match doctor::fix(project, &env, &report) {
            Ok(outcome) => {
                if let (Some(o), false) = (&outcome, json_output) {
                    print_outcome(o);
                }
                fixed = outcome;
                report = doctor::doctor(&options);
            }
            Err(e) => return fail(&e, json_output),
        }
    }
    if json_output {
        println!(
            "{}",
            json!({"ok": report.healthy, "result": {"report": report, "fixed": fixed}})
        );
    } else {
        print_report(&report, fix);
    }
    if report.healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(UNHEALTHY)
    }
}

fn print_report(report: &Report, fixed: bool) {
    for (area, title) in [
        (Area::Environment, "Environment"),
        (Area::Project, "Project"),
        (Area::Networking, "Networking"),
    ] {
        let findings: Vec<&Finding> = report.findings.iter().filter(|f| f.area == area).collect();
        if findings.is_empty() {
            continue;
        }
        match (&report.project, area) {
            (Some(root), Area::Project) => println!("{title} ({root})"),
            _ => println!("{title}"),
        }
        for f in findings {
            let mark = match f.severity {
                Severity::Ok => "✓",
                Severity::Warning => "!",
                Severity::Error => "✗",
            };
            println!("  {mark} {}", f.what);
            if let Some(why) = &f.why {
                println!("      why: {why}");
            }
            if let Some(fix) = &f.fix {
                println!("      fix: {}", fix_text(fix));
            }
        }
    }
    if let Some(net) = &report.networking {
        println!(
            "Networking readiness: {}% (tree {}; LuaSocket ready: {})",
            net.readiness_percentage,
            net.tree,
            if net.luasocket_ready { "yes" } else { "no" }
        );
    }
    let worst = report.worst();
    let safe = report
        .findings
        .iter()
        .any(|f| f.fix.as_ref().is_some_and(Fix::is_safe));
    match worst {
        Severity::Ok => println!("No problems found."),
        _ if safe && !fixed => {
            println!("`pylua doctor --fix` applies the fixes that only restore what the lock says.")
        }
        _ => {}
    }
}

/// A fix in the command line's words.
pub fn fix_text(fix: &Fix) -> String {
    match fix {
        Fix::Sync => "`pylua sync` (or `pylua doctor --fix`)".into(),
        Fix::Reinstall { packages } => format!(
            "`pylua doctor --fix` installs {} again from the lock",
            packages.join(", ")
        ),
        Fix::RemoveOrphans { packages } => format!(
            "`pylua sync` (or `pylua doctor --fix`) removes {}",
            packages.join(", ")
        ),
        Fix::Lock => "`pylua lock`".into(),
        Fix::InstallLua { version } => format!("`pylua lua install {version}`"),
        Fix::InstallSystem { what, debian } if debian.is_empty() => {
            format!("install {what} from your system's packages")
        }
        Fix::InstallSystem { what, debian } => {
            format!("install {what}, e.g. `apt-get install {debian}` (Debian, Ubuntu)")
        }
        Fix::UnsetEnv { var } => format!("`unset {var}` (or remove those copies)"),
        Fix::RemoveDependency { package } => format!("`pylua remove {package}`"),
        Fix::EditConfig { file } if file.starts_with('/') => format!("correct {file}"),
        Fix::EditConfig { file } => format!("correct {file} (`pylua config list` shows it)"),
        Fix::Manual { step } => step.clone(),
        Fix::AddPackage { package } => {
            format!("`pylua add {package}` in a project (`pylua install {package}` outside one)")
        }
    }
}
