//! What a user can do about an error, as data: library errors describe the problem in their
//! message and carry a [`Hint`]; each front phrases it in its own words (the CLI names a
//! command, the Python module a method). JSON errors carry it as `hint`.

use serde::Serialize;

/// A way forward from an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Hint {
    /// Resolve the project again and write `pylua.lock`.
    Lock,
    /// Create a project (`pylua.toml`) in this directory.
    Init,
    /// Add dependencies to the existing project file instead of creating one.
    Add,
    /// Lock the current commit of git sources.
    Update,
    /// List the transactions the history holds.
    History,
    /// Look the package up in the catalog.
    Catalog,
    /// Check a profile against the servers.
    ProfileShow { profile: String },
    /// Switch or drop the project's profile.
    ProfileUse,
    /// Change a configuration setting (`example` is a value that would help).
    ConfigSet { key: String, example: String },
    /// Install an interpreter of this Lua version.
    InstallLua { version: String },
    /// A module `require` did not find is provided by these packages (best first): add the
    /// first to the project (`in_project`) or install it.
    ProvidedBy {
        module: String,
        packages: Vec<String>,
        in_project: bool,
    },
}

impl Hint {
    pub fn config_set(key: &str, example: &str) -> Hint {
        Hint::ConfigSet {
            key: key.to_string(),
            example: example.to_string(),
        }
    }
}
