//! `pylua audit`: renders the library's audit (`operations::audit`) as text, JSON or SARIF.

use crate::packages::TreeArgs;
use crate::project_cmd::{fail, find_project, EnvArgs};
use pylua::operations::audit::risky::Category;
use pylua::operations::audit::{self, AuditOptions, AuditReport};
use std::path::PathBuf;
use std::process::ExitCode;

/// The exit code when the audit found something.
const FINDINGS: u8 = 13;

pub struct AuditArgs {
    pub advisories: Vec<String>,
    pub deny: Vec<Category>,
    pub no_builtin: bool,
    pub sarif: bool,
    pub json: bool,
    pub project: Option<PathBuf>,
    pub tree: TreeArgs,
}

pub fn run(args: AuditArgs) -> ExitCode {
    let as_data = args.json || args.sarif;
    let config = match crate::curator_cmd::load_config(as_data) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let options = AuditOptions::from_config(
        &config,
        &args.advisories,
        args.deny.clone(),
        !args.no_builtin,
    );
    let project = match (&args.project, &args.tree.tree) {
        (Some(dir), _) => match find_project(Some(dir)) {
            Ok(p) => Some(p),
            Err(e) => return fail(&e, as_data),
        },
        (None, None) => find_project(None).ok(),
        (None, Some(_)) => None,
    };
    let report = match project {
        Some(p) => {
            let env = EnvArgs::default().options(config, None);
            match pylua::operations::project::audit(&p, &env, &options) {
                Ok(r) => r,
                Err(e) => return fail(&e, as_data),
            }
        }
        None => {
            let tree = args.tree.tree();
            let lua = match tree.lua_version() {
                "5.4" => pylua::interpreters::LuaVersion::Lua54,
                other => other
                    .parse()
                    .unwrap_or(pylua::interpreters::LuaVersion::Lua54),
            };
            match audit::audit(&tree, &[], audit::lua_release(lua).as_deref(), &options) {
                Ok(r) => r,
                Err(e) => return crate::render::failure("io", &e, as_data),
            }
        }
    };
    if args.sarif {
        println!("{}", audit::sarif::to_sarif(&report));
    } else if args.json {
        println!(
            "{}",
            serde_json::json!({"ok": report.passed, "result": report})
        );
    } else {
        print_report(&report, project_mode(&args));
    }
    if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(FINDINGS)
    }
}

fn project_mode(args: &AuditArgs) -> bool {
    args.tree.tree.is_none()
}

fn print_report(report: &AuditReport, in_project: bool) {
    println!("Audited {} ({})", report.tree, report.sources.join(", "));
    if report.advisories.is_empty() {
        println!("✓ no known advisory affects what is installed or locked");
    }
    for a in &report.advisories {
        let severity = a
            .severity
            .as_deref()
            .map(|s| format!(" [{s}]"))
            .unwrap_or_default();
        println!(
            "✗ {} {}: {}{severity} — {}",
            a.package, a.version, a.id, a.summary
        );
        let fix = match (&a.fixed, a.package.as_str()) {
            (Some(f), "lua") => format!(
                "run on Lua {f} or newer (the embedded Lua is {})",
                pylua::runtime::LUA_RELEASE
            ),
            (Some(f), name) if in_project => format!("`pylua add '{name}@>={f}'`"),
            (Some(f), name) => format!("`pylua install '{name}@>={f}'`"),
            (None, _) => "no fixed version is known; consider another package".into(),
        };
        println!("    fix: {fix}");
        if a.package == "lua" {
            println!(
                "    note: the version is the interpreter's; a distribution may ship it patched"
            );
        }
    }
    if report.integrity.damaged.is_empty() {
        println!(
            "✓ {} installed files match their checksums",
            report.integrity.files
        );
    }
    for (package, problems) in &report.integrity.damaged {
        let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
        println!("✗ {package}: {}", list.join(", "));
        println!("    fix: `pylua doctor --fix` installs {package} again (or `pylua install {package}` in a rocks tree)");
    }
    for m in &report.lock_mismatches {
        println!(
            "✗ {} {}: the cached {} has sha256 {}, the lock says {}",
            m.package, m.version, m.url, m.cached, m.locked
        );
        println!("    fix: `pylua cache clean` then `pylua sync` fetches it again; if it still differs, the server changed a published file");
    }
    let mut by_category: std::collections::BTreeMap<Category, usize> = Default::default();
    for r in &report.risky {
        *by_category.entry(r.category).or_default() += 1;
    }
    for (category, count) in by_category {
        let mark = if report.denied.contains(&category) {
            "✗"
        } else {
            "i"
        };
        println!(
            "{mark} {count} place(s) reach {} (--deny {} fails on them):",
            describe(category),
            category.as_str()
        );
        for r in report
            .risky
            .iter()
            .filter(|r| r.category == category)
            .take(20)
        {
            if r.line > 0 {
                println!("    {} {}:{}: {}", r.package, r.file, r.line, r.code);
            } else {
                println!("    {} {}: {}", r.package, r.file, r.code);
            }
        }
    }
    println!(
        "{}",
        if report.passed {
            "No findings that fail the audit."
        } else {
            "The audit failed."
        }
    );
}

fn describe(category: Category) -> &'static str {
    match category {
        Category::Shell => "the shell",
        Category::Load => "code loaded from non-constant strings",
        Category::Debug => "the debug library",
        Category::Native => "native code",
    }
}
