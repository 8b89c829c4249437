//! Where pylua keeps its files on this machine: configuration, data (installed interpreters,
//! the per-user tree, REPL history), cache and state (logs), following the platform's conventions (XDG on
//! Linux). `PYLUA_HOME` puts all of them under one directory instead, which tests and
//! portable installs use.

use serde::Serialize;
use std::path::PathBuf;

/// pylua's directories. Nothing is created until something is written there.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Paths {
    pub config: PathBuf,
    pub data: PathBuf,
    pub cache: PathBuf,
    /// Logs and other state worth keeping but not backing up.
    pub state: PathBuf,
}

impl Paths {
    /// The directories for this user, honouring `PYLUA_HOME`.
    pub fn discover() -> Paths {
        if let Some(home) = std::env::var_os("PYLUA_HOME").filter(|h| !h.is_empty()) {
            let home = PathBuf::from(home);
            return Paths {
                config: home.join("config"),
                data: home.join("data"),
                cache: home.join("cache"),
                state: home.join("state"),
            };
        }
        let fallback = || std::env::temp_dir().join("pylua");
        Paths {
            config: dirs::config_dir().unwrap_or_else(fallback).join("pylua"),
            data: Paths::data_dir(),
            cache: dirs::cache_dir().unwrap_or_else(fallback).join("pylua"),
            state: dirs::state_dir()
                .or_else(dirs::data_local_dir)
                .unwrap_or_else(fallback)
                .join("pylua"),
        }
    }

    /// [`Paths::discover`]'s `data` alone (what finding the per-user tree needs, on every
    /// new VM of the Python module).
    pub fn data_dir() -> PathBuf {
        match std::env::var_os("PYLUA_HOME").filter(|h| !h.is_empty()) {
            Some(home) => PathBuf::from(home).join("data"),
            None => dirs::data_dir()
                .unwrap_or_else(|| std::env::temp_dir().join("pylua"))
                .join("pylua"),
        }
    }

    /// The REPL's history file.
    pub fn repl_history(&self) -> PathBuf {
        self.data.join("repl_history")
    }
}
