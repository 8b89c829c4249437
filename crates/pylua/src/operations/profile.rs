//! Profiles as every front shows and edits them: a profile's packages for one Lua, checked
//! against the servers when asked, and removing one of the user's own profiles.

use super::query::ServerOptions;
use crate::config::{self, ConfigError};
use crate::curator::{availability, Profile, ProfileError, Profiles, Requirement};
use crate::interpreters::LuaVersion;
use serde::Serialize;
use std::path::Path;

/// A package of the profile the servers do not offer (at a version its constraint takes).
#[derive(Debug, Clone, Serialize)]
pub struct Unavailable {
    pub name: String,
    pub why: String,
}

/// What `pylua profile show` reports.
#[derive(Debug, Clone, Serialize)]
pub struct ProfileReport {
    pub profile: Profile,
    pub lua: LuaVersion,
    /// The packages for that Lua, sorted by name.
    pub packages: Vec<Requirement>,
    /// Packages left out, with why (they do not support that Lua).
    pub skipped: Vec<(String, String)>,
    pub unavailable: Vec<Unavailable>,
    /// Whether the servers were asked (`servers` was given and they answered).
    pub servers_checked: bool,
    /// Why the servers could not be asked.
    pub server_error: Option<String>,
}

/// Profile `name` for `lua`; with `servers`, which of its packages they lack.
pub fn show(
    profiles: &Profiles,
    name: &str,
    lua: LuaVersion,
    servers: Option<&ServerOptions>,
) -> Result<ProfileReport, ProfileError> {
    let expansion = profiles.expand(name, lua.as_str())?;
    let profile = profiles.get(name)?.clone();
    let (checked, server_error) = match servers.map(ServerOptions::index) {
        None => (None, None),
        Some(Ok(index)) => (Some(availability(&expansion, &index)), None),
        Some(Err(e)) => (None, Some(e.to_string())),
    };
    let unavailable = checked
        .iter()
        .flatten()
        .filter_map(|(name, why)| {
            why.clone().map(|why| Unavailable {
                name: name.clone(),
                why,
            })
        })
        .collect();
    Ok(ProfileReport {
        profile,
        lua,
        packages: expansion.requirements,
        skipped: expansion.skipped,
        unavailable,
        servers_checked: checked.is_some(),
        server_error,
    })
}

/// Why a profile could not be deleted.
#[derive(Debug, thiserror::Error)]
pub enum DeleteProfileError {
    #[error(transparent)]
    Unknown(ProfileError),
    /// Built-in and catalog profiles are not the user's to delete.
    #[error("'{name}' is not one of your profiles ({source_name}); only profiles in your config can be deleted")]
    NotYours { name: String, source_name: String },
    #[error(transparent)]
    Config(#[from] ConfigError),
}

impl DeleteProfileError {
    pub fn kind(&self) -> &'static str {
        match self {
            DeleteProfileError::Unknown(_) => "not_found",
            DeleteProfileError::NotYours { .. } => "usage",
            DeleteProfileError::Config(_) => "config",
        }
    }
}

/// Removes the user's profile `name` from the config file at `path`.
pub fn delete(path: &Path, profiles: &Profiles, name: &str) -> Result<(), DeleteProfileError> {
    let profile = profiles.get(name).map_err(DeleteProfileError::Unknown)?;
    if profile.source != "config" {
        return Err(DeleteProfileError::NotYours {
            name: name.to_string(),
            source_name: profile.source.clone(),
        });
    }
    config::unset(path, &format!("profiles.{name}"))?;
    Ok(())
}
