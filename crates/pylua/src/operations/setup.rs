//! `pylua setup`: what a first run needs to know — the Luas on the machine, an installed
//! LuaRocks and the servers it uses, a C compiler, the configuration as it is — and writing
//! the user's choices (default Lua, profile, servers) to `config.toml` in one atomic write.

use crate::config::{self, Config, ConfigError};
use crate::interpreters::{self, Interpreter, LuaVersion};
use crate::paths::Paths;
use serde::Serialize;
use std::path::PathBuf;
use std::process::Command;

/// An installed LuaRocks.
#[derive(Debug, Clone, Serialize)]
pub struct LuaRocks {
    pub path: PathBuf,
    pub version: String,
    /// The servers it is configured to use, in its order.
    pub servers: Vec<String>,
}

/// What `setup` found.
#[derive(Debug, Clone, Serialize)]
pub struct SetupFacts {
    pub embedded: &'static str,
    pub interpreters: Vec<Interpreter>,
    pub luarocks: Option<LuaRocks>,
    /// The C compiler, as `$(CC)` would be.
    pub compiler: Option<String>,
    pub config_file: PathBuf,
    /// The configuration now (defaults when there is no file yet).
    pub lua: Option<LuaVersion>,
    pub profile: Option<String>,
    pub servers: Vec<String>,
    /// The profiles there are to choose from.
    pub profiles: Vec<String>,
}

/// What the user chose; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default)]
pub struct SetupChoices {
    pub lua: Option<LuaVersion>,
    /// `none` clears the default profile.
    pub profile: Option<String>,
    pub servers: Option<Vec<String>>,
}

pub fn detect(paths: &Paths) -> Result<SetupFacts, ConfigError> {
    let config = Config::load(paths)?;
    let profiles = config
        .profiles()
        .map(|p| p.list().iter().map(|p| p.name.clone()).collect())
        .unwrap_or_default();
    Ok(SetupFacts {
        embedded: crate::runtime::LUA_RELEASE,
        interpreters: interpreters::discover(paths),
        luarocks: luarocks(),
        compiler: crate::compiler::Compiler::detect().map(|c| c.to_variable()),
        config_file: config::config_path(paths),
        lua: config.lua,
        profile: config.profile.clone(),
        servers: config.servers.clone(),
        profiles,
    })
}

fn luarocks() -> Option<LuaRocks> {
    let path = crate::compiler::which("luarocks")?;
    let run = |args: &[&str]| {
        Command::new(&path)
            .args(args)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    };
    let version = run(&["--version"])
        .and_then(|t| {
            t.lines()
                .next()
                .map(|l| l.rsplit(' ').next().unwrap_or(l).to_string())
        })
        .unwrap_or_default();
    // `luarocks config rocks_servers` prints a Lua table of strings (nested in 3.x).
    let servers = run(&["config", "rocks_servers"])
        .map(|text| {
            text.split('"')
                .skip(1)
                .step_by(2)
                .filter(|s| s.contains("://"))
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    Some(LuaRocks {
        path,
        version,
        servers,
    })
}

/// Why the choices were refused.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("unknown profile '{0}': expected one of {1}, or none")]
    UnknownProfile(String, String),
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A catalog or profile in the configuration is invalid.
    #[error(transparent)]
    Catalog(#[from] crate::curator::CatalogError),
}

impl SetupError {
    pub fn kind(&self) -> &'static str {
        match self {
            SetupError::UnknownProfile(..) => "not_found",
            SetupError::Config(_) | SetupError::Catalog(_) => "config",
        }
    }
}

/// Writes `choices` into the configuration file (created if missing; its comments kept),
/// all of them or, when one is refused, none.
pub fn apply(paths: &Paths, choices: &SetupChoices) -> Result<PathBuf, SetupError> {
    let path = config::config_path(paths);
    let config = Config::load(paths)?;
    let mut pairs: Vec<(&str, String)> = Vec::new();
    if let Some(lua) = choices.lua {
        pairs.push(("lua", lua.as_str().to_string()));
    }
    let mut clear_profile = false;
    match choices.profile.as_deref() {
        None => {}
        Some("none") => clear_profile = config.profile.is_some(),
        Some(name) => {
            let profiles = config.profiles()?;
            if profiles.get(name).is_err() {
                let known: Vec<String> = profiles.list().iter().map(|p| p.name.clone()).collect();
                return Err(SetupError::UnknownProfile(name.into(), known.join(", ")));
            }
            pairs.push(("profile", name.to_string()));
        }
    }
    if let Some(servers) = &choices.servers {
        // A local directory is written as an absolute file:// URL, so it works from anywhere.
        let servers: Vec<String> = servers
            .iter()
            .map(|s| match std::path::absolute(s) {
                Ok(abs) if !s.contains("://") => format!("file://{}", abs.display()),
                _ => s.clone(),
            })
            .collect();
        pairs.push(("servers", servers.join(",")));
    }
    let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    if !borrowed.is_empty() {
        config::set_all(&path, &borrowed)?;
    }
    if clear_profile {
        config::unset(&path, "profile")?;
    }
    Ok(path)
}
