//! `pylua setup`: the first-run wizard over `operations::setup`. On a terminal it shows what
//! it found and asks for the default Lua, profile and servers; every answer is also a flag,
//! so scripts run it with `--yes`.

use pylua::interpreters::LuaVersion;
use pylua::operations::setup::{self, SetupChoices, SetupFacts};
use pylua::paths::Paths;
use serde_json::json;
use std::io::IsTerminal;
use std::process::ExitCode;

pub struct SetupArgs {
    pub lua: Option<LuaVersion>,
    pub profile: Option<String>,
    pub servers: Vec<String>,
    pub yes: bool,
    pub json: bool,
}

pub fn run(args: SetupArgs) -> ExitCode {
    let paths = Paths::discover();
    let facts = match setup::detect(&paths) {
        Ok(f) => f,
        Err(e) => return crate::render::failure("config", &e.to_string(), args.json),
    };
    let interactive = !args.yes
        && !args.json
        && std::io::stdin().is_terminal()
        && std::io::stderr().is_terminal();
    if !args.json {
        describe(&facts);
    }
    let mut choices = SetupChoices {
        lua: args.lua,
        profile: args.profile.clone(),
        servers: (!args.servers.is_empty()).then(|| args.servers.clone()),
    };
    if interactive {
        if choices.lua.is_none() {
            choices.lua = Some(ask_lua(&facts));
        }
        if choices.profile.is_none() {
            choices.profile = Some(ask_profile(&facts));
        }
        if choices.servers.is_none() {
            choices.servers = ask_servers(&facts);
        }
        let go = dialoguer::Confirm::new()
            .with_prompt(format!("Write {}?", facts.config_file.display()))
            .default(true)
            .interact()
            .unwrap_or(false);
        if !go {
            eprintln!("nothing was written");
            return ExitCode::SUCCESS;
        }
    } else if !args.yes
        && !args.json
        && choices.lua.is_none()
        && choices.profile.is_none()
        && choices.servers.is_none()
    {
        return crate::render::failure(
            "usage",
            "not a terminal: pass the answers as flags (--lua, --profile, --server), or --yes to keep the current settings",
            false,
        );
    }
    match setup::apply(&paths, &choices) {
        Ok(path) => {
            if args.json {
                let now = setup::detect(&paths).ok();
                println!(
                    "{}",
                    json!({"ok": true, "result": {"config_file": path, "facts": facts, "now": now}})
                );
            } else {
                println!(
                    "Wrote {}. `pylua doctor` checks the whole setup.",
                    path.display()
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => crate::render::failure(e.kind(), &e.to_string(), args.json),
    }
}

fn describe(facts: &SetupFacts) {
    eprintln!("Found:");
    eprintln!("  embedded   {} (always there)", facts.embedded);
    for i in &facts.interpreters {
        eprintln!(
            "  lua        {} at {}{}",
            i.release,
            i.path.display(),
            if i.include_dir.is_some() {
                " (with headers)"
            } else {
                " (no headers)"
            }
        );
    }
    match &facts.luarocks {
        Some(l) => eprintln!(
            "  luarocks   {} at {} (servers: {})",
            l.version,
            l.path.display(),
            l.servers.join(", ")
        ),
        None => eprintln!("  luarocks   not installed (pylua does not need it)"),
    }
    match &facts.compiler {
        Some(cc) => eprintln!("  compiler   {cc}"),
        None => eprintln!("  compiler   none: packages with C modules cannot be built"),
    }
    eprintln!("  config     {}", facts.config_file.display());
}

fn ask_lua(facts: &SetupFacts) -> LuaVersion {
    let mut versions = vec![LuaVersion::Lua54];
    for i in &facts.interpreters {
        if !versions.contains(&i.version) {
            versions.push(i.version);
        }
    }
    for v in LuaVersion::ALL {
        if !versions.contains(&v) {
            versions.push(v);
        }
    }
    let found = |v: LuaVersion| facts.interpreters.iter().any(|i| i.version == v);
    let items: Vec<String> = versions
        .iter()
        .map(|v| match v {
            LuaVersion::Lua54 => "5.4 — the embedded Lua, nothing to install".to_string(),
            v if found(*v) => format!("{v} — installed"),
            v => format!("{v} — not installed: `pylua lua install {v}` builds it"),
        })
        .collect();
    let current = facts
        .lua
        .and_then(|l| versions.iter().position(|v| *v == l))
        .unwrap_or(0);
    let picked = dialoguer::Select::new()
        .with_prompt("Default Lua for new projects")
        .items(&items)
        .default(current)
        .interact()
        .unwrap_or(current);
    versions[picked]
}

fn ask_profile(facts: &SetupFacts) -> String {
    let mut names = vec!["none".to_string()];
    names.extend(facts.profiles.iter().cloned());
    let current = facts
        .profile
        .as_ref()
        .and_then(|p| names.iter().position(|n| n == p))
        .unwrap_or(0);
    let picked = dialoguer::Select::new()
        .with_prompt("Default profile for new projects (`pylua profile list` describes them)")
        .items(&names)
        .default(current)
        .interact()
        .unwrap_or(current);
    names[picked].clone()
}

fn ask_servers(facts: &SetupFacts) -> Option<Vec<String>> {
    let default = if !facts.servers.is_empty() {
        facts.servers.join(",")
    } else if let Some(l) = facts.luarocks.as_ref().filter(|l| !l.servers.is_empty()) {
        l.servers.join(",")
    } else {
        pylua::packages::server::DEFAULT_SERVER.to_string()
    };
    let text: String = dialoguer::Input::new()
        .with_prompt("Rocks servers (comma-separated URLs or directories)")
        .default(default)
        .interact_text()
        .ok()?;
    let list: Vec<String> = text
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    Some(list)
}
