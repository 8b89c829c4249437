//! `pylua lua …`: the external interpreters — list those on this machine, say which one a
//! version runs on, build one from the sources that ship with pylua, remove one.

use clap::Subcommand;
use pylua::interpreters::{
    self, bundled_release, InstallStatus, Interpreter, InterpreterError, LuaVersion, Provisioner,
};
use pylua::paths::Paths;
use pylua::runtime::LUA_RELEASE;
use serde_json::json;
use std::process::ExitCode;

/// The exit code when an interpreter can't be found or built.
/// The error kind of a missing or unbuildable interpreter.
const NO_INTERPRETER: &str = "no_interpreter";

#[derive(Subcommand)]
pub enum LuaCommand {
    /// List the Lua interpreters on this machine: pylua's own first, then those on PATH.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Print the interpreter `--lua VERSION` runs (pylua's own, else the first on PATH).
    Which {
        #[arg(value_parser = parse_version, value_name = "VERSION")]
        version: LuaVersion,
        #[arg(long)]
        json: bool,
    },
    /// Build interpreters from the sources bundled with pylua (no network): 5.1, 5.2, 5.3,
    /// 5.4, luajit, or all. Needs a C compiler (and make for LuaJIT).
    Install {
        #[arg(required = true, value_name = "VERSION")]
        versions: Vec<String>,
        /// Rebuild even when it is already installed.
        #[arg(long)]
        force: bool,
        #[arg(long)]
        json: bool,
    },
    /// Remove interpreters that pylua built.
    Uninstall {
        #[arg(required = true, value_name = "VERSION")]
        versions: Vec<String>,
        #[arg(long)]
        json: bool,
    },
}

pub fn parse_version(s: &str) -> Result<LuaVersion, String> {
    s.parse().map_err(|e: InterpreterError| e.to_string())
}

pub fn run(command: LuaCommand) -> ExitCode {
    let paths = Paths::discover();
    match command {
        LuaCommand::List { json } => list(&paths, json),
        LuaCommand::Which { version, json } => which(&paths, version, json),
        LuaCommand::Install {
            versions,
            force,
            json,
        } => install(&paths, &versions, force, json),
        LuaCommand::Uninstall { versions, json } => uninstall(&paths, &versions, json),
    }
}

/// `5.1 luajit` or `all`, in the order given, each once.
fn versions(args: &[String]) -> Result<Vec<LuaVersion>, String> {
    let mut out = Vec::new();
    for a in args {
        let list = if a == "all" {
            LuaVersion::ALL.to_vec()
        } else {
            vec![parse_version(a)?]
        };
        for v in list {
            if !out.contains(&v) {
                out.push(v);
            }
        }
    }
    Ok(out)
}

fn fail(e: &dyn std::fmt::Display, kind: &str, as_json: bool) -> ExitCode {
    crate::render::failure(kind, &e.to_string(), as_json)
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn list(paths: &Paths, as_json: bool) -> ExitCode {
    let found = interpreters::discover(paths);
    let missing: Vec<LuaVersion> = LuaVersion::ALL
        .into_iter()
        .filter(|v| !found.iter().any(|i| i.version == *v))
        .collect();
    if as_json {
        let doc = json!({
            "interpreters": found.iter().map(interpreter_json).collect::<Vec<_>>(),
            "embedded": {"release": LUA_RELEASE},
            "missing": missing,
            "provisioned_dir": interpreters::interpreters_dir(paths),
        });
        println!("{doc}");
        return ExitCode::SUCCESS;
    }
    println!(
        "{:<8} {:<22} {:<6} {:<8} {:<8} PATH",
        "VERSION", "RELEASE", "FROM", "HEADERS", "LIBRARY"
    );
    for i in &found {
        let mut path = i.path.display().to_string();
        if !i.aliases.is_empty() {
            let aliases: Vec<String> = i.aliases.iter().map(|a| a.display().to_string()).collect();
            path.push_str(&format!(" (also {})", aliases.join(", ")));
        }
        println!(
            "{:<8} {:<22} {:<6} {:<8} {:<8} {}",
            i.version.as_str(),
            i.release,
            i.origin.as_str(),
            yes_no(i.include_dir.is_some()),
            yes_no(i.library.is_some()),
            path
        );
    }
    println!(
        "{:<8} {:<22} (compiled into pylua)",
        "embedded", LUA_RELEASE
    );
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(|v| v.as_str()).collect();
        println!(
            "not found: {} (build with `pylua lua install {}`)",
            names.join(", "),
            names[0]
        );
    }
    ExitCode::SUCCESS
}

fn interpreter_json(i: &Interpreter) -> serde_json::Value {
    json!({
        "version": i.version,
        "release": i.release,
        "path": i.path,
        "aliases": i.aliases,
        "origin": i.origin,
        "headers": i.include_dir,
        "library": i.library,
        "c_modules": i.can_build_c_modules(),
    })
}

fn which(paths: &Paths, version: LuaVersion, as_json: bool) -> ExitCode {
    match interpreters::find(version, paths) {
        Ok(i) if as_json => {
            println!("{}", interpreter_json(&i));
            ExitCode::SUCCESS
        }
        Ok(i) => {
            println!("{}", i.path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            crate::render::print_failure_hinted(
                NO_INTERPRETER,
                &e.to_string(),
                e.hint().as_ref(),
                as_json,
            );
            ExitCode::from(crate::render::exit_code_of(NO_INTERPRETER))
        }
    }
}

fn install(paths: &Paths, args: &[String], force: bool, as_json: bool) -> ExitCode {
    let list = match versions(args) {
        Ok(list) => list,
        Err(e) => return fail(&e, "usage", as_json),
    };
    let provisioner = Provisioner::new(&paths.data);
    let mut done = Vec::new();
    for v in list {
        if !as_json && (force || provisioner.installed(v).is_none()) {
            eprintln!(
                "pylua: building {} ({}) from the bundled sources…",
                v.display_name(),
                bundled_release(v)
            );
        }
        match provisioner.install_with(v, force) {
            Ok(installed) => {
                if !as_json {
                    let release = &installed.interpreter.release;
                    let dir = installed.dir.display();
                    match &installed.status {
                        InstallStatus::AlreadyInstalled => {
                            println!("{release} is already installed in {dir}")
                        }
                        InstallStatus::Installed => println!(
                            "installed {release} in {dir} ({:.1}s)",
                            installed.duration.as_secs_f64()
                        ),
                        InstallStatus::Replaced { previous } => println!(
                            "installed {release} in {dir} in place of {previous} ({:.1}s)",
                            installed.duration.as_secs_f64()
                        ),
                    }
                }
                done.push(installed);
            }
            Err(e) => {
                if as_json {
                    println!(
                        "{}",
                        json!({"ok": false, "installed": done, "error": {"kind": NO_INTERPRETER, "version": v, "message": e.to_string()}})
                    );
                    return ExitCode::from(crate::render::exit_code_of(NO_INTERPRETER));
                }
                return fail(&e, NO_INTERPRETER, false);
            }
        }
    }
    if as_json {
        println!("{}", json!({"ok": true, "installed": done}));
    }
    ExitCode::SUCCESS
}

fn uninstall(paths: &Paths, args: &[String], as_json: bool) -> ExitCode {
    let list = match versions(args) {
        Ok(list) => list,
        Err(e) => return fail(&e, "usage", as_json),
    };
    let provisioner = Provisioner::new(&paths.data);
    let mut report = Vec::new();
    for v in list {
        let dir = provisioner.dir(v);
        match provisioner.uninstall(v) {
            Ok(removed) => {
                if !as_json {
                    if removed {
                        println!("removed {} ({})", v.display_name(), dir.display());
                    } else {
                        println!("{} is not installed by pylua", v.display_name());
                    }
                }
                report.push(json!({"version": v, "removed": removed, "dir": dir}));
            }
            Err(e) => return fail(&e, NO_INTERPRETER, as_json),
        }
    }
    if as_json {
        println!("{}", json!({"ok": true, "uninstalled": report}));
    }
    ExitCode::SUCCESS
}
