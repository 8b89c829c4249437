//! `pylua catalog`, `pylua profile list|show|create|delete` and `pylua config`: rendering the
//! curated catalog, the profiles and the global configuration.

use crate::packages::ServerArgs;
use clap::Subcommand;
use pylua::config::{self, Config};
use pylua::curator::CATEGORIES;
use pylua::paths::Paths;
use serde_json::json;
use std::process::ExitCode;

/// The error kind of an invalid configuration, catalog or profile.
const INVALID_CONFIG: &str = "config";

fn error(message: &str, kind: &str, json_output: bool) -> ExitCode {
    crate::render::failure(kind, message, json_output)
}

fn ok(value: serde_json::Value) -> ExitCode {
    println!("{}", json!({"ok": true, "result": value}));
    ExitCode::SUCCESS
}

type ConfigStamp = (std::path::PathBuf, Option<(std::time::SystemTime, u64)>);

/// The configuration, read again only when its file changed: reading it checks the catalogs
/// and profiles, which costs more than a short `pylua run` should pay twice. (The command
/// line can run several times in one process, from the Python module.)
fn cached_config() -> Result<Config, config::ConfigError> {
    static CONFIG: std::sync::Mutex<Option<(ConfigStamp, Result<Config, config::ConfigError>)>> =
        std::sync::Mutex::new(None);
    let paths = Paths::discover();
    let path = config::config_path(&paths);
    let stamp = (
        path.clone(),
        std::fs::metadata(&path)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len()))),
    );
    let mut memo = CONFIG.lock().unwrap_or_else(|e| e.into_inner());
    match memo.as_ref() {
        Some((seen, config)) if *seen == stamp && stamp.1.is_some() => config.clone(),
        _ => {
            let config = Config::load(&paths);
            *memo = Some((stamp, config.clone()));
            config
        }
    }
}

/// The user's configuration; an invalid one is reported (exit 10).
pub fn load_config(json_output: bool) -> Result<Config, ExitCode> {
    cached_config().map_err(|e| error(&e.to_string(), INVALID_CONFIG, json_output))
}

/// The configuration when it is valid, reporting nothing otherwise (for what a run adds on
/// the side: a hint, the usage record).
pub fn config_if_valid() -> Option<Config> {
    cached_config().ok()
}

/// `pylua catalog [NAME]`.
pub fn catalog(name: Option<&str>, category: Option<&str>, json_output: bool) -> ExitCode {
    let config = match load_config(json_output) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let catalog = match config.catalog() {
        Ok(c) => c,
        Err(e) => return error(&e.to_string(), INVALID_CONFIG, json_output),
    };
    if let Some(name) = name {
        let Some(entry) = catalog.get(name) else {
            return error(
                &format!("'{name}' is not in the catalog (`pylua catalog` lists it)"),
                "not_found",
                json_output,
            );
        };
        if json_output {
            return ok(json!(entry));
        }
        println!("{} ({})", entry.name, entry.category);
        println!("  {}", entry.summary);
        println!();
        println!("{:<14}{}", "constraint:", entry.constraint);
        println!("{:<14}{}", "lua:", entry.lua.join(", "));
        println!(
            "{:<14}{}",
            "build:",
            if entry.native {
                "native (C compiler needed)"
            } else {
                "pure Lua"
            }
        );
        if !entry.pairs_with.is_empty() {
            println!("{:<14}{}", "pairs with:", entry.pairs_with.join(", "));
        }
        if !entry.alternatives.is_empty() {
            println!("{:<14}{}", "alternatives:", entry.alternatives.join(", "));
        }
        println!("{:<14}{}", "from:", entry.source);
        return ExitCode::SUCCESS;
    }
    if let Some(c) = category.filter(|c| !CATEGORIES.contains(c)) {
        return error(
            &format!(
                "unknown category '{c}': expected one of {}",
                CATEGORIES.join(", ")
            ),
            "usage",
            json_output,
        );
    }
    let entries: Vec<_> = catalog
        .entries()
        .filter(|e| category.is_none_or(|c| e.category == c))
        .collect();
    if json_output {
        return ok(json!(entries));
    }
    for cat in CATEGORIES {
        let in_cat: Vec<_> = entries.iter().filter(|e| e.category == cat).collect();
        if in_cat.is_empty() {
            continue;
        }
        println!("{cat}:");
        for e in in_cat {
            println!(
                "  {:<16} {:<12} {}{}",
                e.name,
                e.constraint,
                e.summary,
                if e.native { " [C]" } else { "" }
            );
        }
    }
    ExitCode::SUCCESS
}

/// `pylua profile …` (other than `use`, which changes a project).
#[derive(Subcommand)]
pub enum ProfileAction {
    /// List the profiles: built-in, from catalogs, and your own.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show a profile's packages for a Lua version and whether the servers have them.
    Show {
        name: String,
        /// Do not ask the servers whether they have the packages.
        #[arg(long)]
        no_check: bool,
        #[command(flatten)]
        servers: ServerArgs,
    },
    /// Create your own profile in the global config.
    Create {
        name: String,
        /// Start from this profile's packages.
        #[arg(long)]
        extends: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// A catalog package, optionally NAME@CONSTRAINT (repeatable).
        #[arg(long = "package", value_name = "PACKAGE")]
        packages: Vec<String>,
        /// Replace an existing profile of yours with that name.
        #[arg(long)]
        force: bool,
    },
    /// Delete one of your profiles from the global config.
    Delete { name: String },
}

pub fn profile(action: ProfileAction) -> ExitCode {
    let paths = Paths::discover();
    let json_output = match &action {
        ProfileAction::List { json } => *json,
        ProfileAction::Show { servers, .. } => servers.json,
        _ => false,
    };
    let config = match load_config(json_output) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let profiles = match config.profiles() {
        Ok(p) => p,
        Err(e) => return error(&e.to_string(), INVALID_CONFIG, json_output),
    };
    match action {
        ProfileAction::List { json } => {
            if json {
                return ok(json!(profiles.list()));
            }
            for p in profiles.list() {
                let extends = p
                    .extends
                    .as_deref()
                    .map(|e| format!(" (extends {e})"))
                    .unwrap_or_default();
                let origin = if p.builtin {
                    String::new()
                } else {
                    format!(" [{}]", p.source)
                };
                println!("{:<14} {}{extends}{origin}", p.name, p.description);
            }
            ExitCode::SUCCESS
        }
        ProfileAction::Show {
            name,
            no_check,
            servers,
        } => {
            let lua = servers.lua_name();
            let options = if no_check {
                None
            } else {
                match servers.options() {
                    Ok(o) => Some(o),
                    Err(code) => return code,
                }
            };
            let report =
                match pylua::operations::profile::show(&profiles, &name, lua, options.as_ref()) {
                    Ok(r) => r,
                    Err(e @ pylua::curator::ProfileError::Unknown { .. }) => {
                        return error(&e.to_string(), "not_found", servers.json)
                    }
                    Err(e) => return error(&e.to_string(), INVALID_CONFIG, servers.json),
                };
            if servers.json {
                return ok(json!(report));
            }
            let profile = &report.profile;
            println!("{} — {}", profile.name, profile.description);
            if let Some(e) = &profile.extends {
                println!("extends {e}");
            }
            println!("packages for Lua {lua}:");
            for r in &report.packages {
                let c = if r.constraint.is_empty() {
                    "(any)"
                } else {
                    &r.constraint
                };
                let note = report
                    .unavailable
                    .iter()
                    .find(|u| u.name == r.name)
                    .map(|u| format!("  MISSING: {}", u.why))
                    .unwrap_or_default();
                println!("  {:<16} {c}{note}", r.name);
            }
            for (n, why) in &report.skipped {
                println!("  {n:<16} left out: it {why}");
            }
            if let Some(p) = &report.server_error {
                println!("(could not ask the servers whether they have these packages: {p})");
            } else if !report.unavailable.is_empty() {
                println!(
                    "{} of {} packages are not available on the configured servers; a project using this profile will not lock",
                    report.unavailable.len(),
                    report.packages.len()
                );
            }
            ExitCode::SUCCESS
        }
        ProfileAction::Create {
            name,
            extends,
            description,
            packages,
            force,
        } => {
            let path = config::config_path(&paths);
            let spec = pylua::curator::ProfileSpec {
                description: description.unwrap_or_default(),
                extends,
                packages,
            };
            match config::create_profile(&path, &profiles, &name, &spec, force) {
                Ok(()) => {
                    println!("Created profile {name} in {}", path.display());
                    ExitCode::SUCCESS
                }
                Err(config::CreateProfileError::Exists(_)) => error(
                    &format!("you already have a profile '{name}'; pass --force to replace it"),
                    "usage",
                    false,
                ),
                Err(e @ config::CreateProfileError::Reserved(_)) => {
                    error(&e.to_string(), "usage", false)
                }
                Err(config::CreateProfileError::Config(e)) => {
                    error(&e.to_string(), INVALID_CONFIG, false)
                }
            }
        }
        ProfileAction::Delete { name } => {
            let path = config::config_path(&paths);
            match pylua::operations::profile::delete(&path, &profiles, &name) {
                Ok(()) => {
                    println!("Deleted profile {name}");
                    ExitCode::SUCCESS
                }
                Err(e) => error(&e.to_string(), e.kind(), false),
            }
        }
    }
}

/// `pylua config …`.
#[derive(Subcommand)]
pub enum ConfigAction {
    /// Every key that is set, with its value.
    List {
        #[arg(long)]
        json: bool,
    },
    /// One key's value (e.g. `lua`, `servers`, `profiles.web.packages`).
    Get { key: String },
    /// Set a key (lists take `a,b` or a TOML array); the file keeps its comments.
    Set { key: String, value: String },
    /// Remove a key (`profiles.NAME` removes a profile).
    Unset { key: String },
    /// Where the config file is.
    Path,
}

pub fn config_cmd(action: ConfigAction) -> ExitCode {
    let paths = Paths::discover();
    let path = config::config_path(&paths);
    match action {
        ConfigAction::Path => {
            println!("{}", path.display());
            ExitCode::SUCCESS
        }
        ConfigAction::List { json } => match load_config(json) {
            Ok(c) => {
                let items = c.list();
                if json {
                    return ok(json!(items
                        .into_iter()
                        .collect::<std::collections::BTreeMap<_, _>>()));
                }
                if items.is_empty() {
                    println!(
                        "(nothing set; defaults apply — {} does not set anything)",
                        path.display()
                    );
                }
                for (k, v) in items {
                    println!("{k} = {v}");
                }
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        ConfigAction::Get { key } => match load_config(false) {
            Ok(c) => match c.get(&key) {
                Some(v) => {
                    println!("{v}");
                    ExitCode::SUCCESS
                }
                None if config::KEYS.contains(&key.split('.').next().unwrap_or("")) => {
                    error(&format!("'{key}' is not set"), "not_found", false)
                }
                None => error(
                    &format!(
                        "unknown key '{key}': expected one of {}",
                        config::KEYS.join(", ")
                    ),
                    "usage",
                    false,
                ),
            },
            Err(code) => code,
        },
        ConfigAction::Set { key, value } => match config::set(&path, &key, &value) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => error(&e.to_string(), INVALID_CONFIG, false),
        },
        ConfigAction::Unset { key } => match config::unset(&path, &key) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => error(&e.to_string(), INVALID_CONFIG, false),
        },
    }
}
