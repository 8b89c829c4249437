//! External Lua interpreters: finding them ([`discover`]), building them from the sources that
//! ship with pylua ([`Provisioner`]) and picking one for a version ([`find`]).
//!
//! Five versions are known: Lua 5.1, 5.2, 5.3, 5.4 and LuaJIT. An interpreter is either on
//! `PATH` (`lua`, `lua5.1`, `lua54`, `lua-5.3`, `luajit`, …) or provisioned by pylua into its
//! data directory (`<data>/interpreters/lua-5.4/`, with `bin/`, `include/` and `lib/`, so C
//! modules can be built against it). pylua's own interpreters come first when both exist: they
//! are the ones it built and knows how to build modules for.
//!
//! The process VM ([`crate::runtime::ProcessVm`]) runs code in any of them.

mod discover;
mod provision;
mod sources;

pub use discover::{discover, discover_on, probe};
pub use provision::{InstallStatus, Installed, Provisioner};
pub use sources::{bundled_release, BUNDLED_SOURCES};

use crate::paths::Paths;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// A Lua version pylua can run as an external interpreter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum LuaVersion {
    #[serde(rename = "5.1")]
    Lua51,
    #[serde(rename = "5.2")]
    Lua52,
    #[serde(rename = "5.3")]
    Lua53,
    #[serde(rename = "5.4")]
    Lua54,
    #[serde(rename = "luajit")]
    LuaJit,
}

impl LuaVersion {
    /// Every version, oldest first, LuaJIT last.
    pub const ALL: [LuaVersion; 5] = [
        LuaVersion::Lua51,
        LuaVersion::Lua52,
        LuaVersion::Lua53,
        LuaVersion::Lua54,
        LuaVersion::LuaJit,
    ];

    /// The name users type: `5.1` … `5.4`, `luajit`.
    pub fn as_str(self) -> &'static str {
        match self {
            LuaVersion::Lua51 => "5.1",
            LuaVersion::Lua52 => "5.2",
            LuaVersion::Lua53 => "5.3",
            LuaVersion::Lua54 => "5.4",
            LuaVersion::LuaJit => "luajit",
        }
    }

    /// The Lua language and C API version (LuaJIT implements 5.1's).
    pub fn api(self) -> &'static str {
        match self {
            LuaVersion::LuaJit => "5.1",
            other => other.as_str(),
        }
    }

    /// How people name it in prose: `Lua 5.1`, `LuaJIT`.
    pub fn display_name(self) -> String {
        match self {
            LuaVersion::LuaJit => "LuaJIT".into(),
            other => format!("Lua {}", other.as_str()),
        }
    }

    /// The version a release string names (`Lua 5.4.6`, `LuaJIT 2.1.1703358377`).
    pub fn from_release(release: &str) -> Option<LuaVersion> {
        if release.starts_with("LuaJIT") {
            return Some(LuaVersion::LuaJit);
        }
        let rest = release.strip_prefix("Lua ")?;
        let mut parts = rest.split('.');
        match (parts.next()?, parts.next()?.get(..1)?) {
            ("5", "1") => Some(LuaVersion::Lua51),
            ("5", "2") => Some(LuaVersion::Lua52),
            ("5", "3") => Some(LuaVersion::Lua53),
            ("5", "4") => Some(LuaVersion::Lua54),
            _ => None,
        }
    }
}

impl FromStr for LuaVersion {
    type Err = InterpreterError;
    fn from_str(s: &str) -> Result<Self, InterpreterError> {
        let t = s.trim().to_ascii_lowercase();
        let t = t.strip_prefix("lua").unwrap_or(&t);
        let t = t.trim_start_matches(['-', ' ']);
        match t {
            "5.1" | "51" => Ok(LuaVersion::Lua51),
            "5.2" | "52" => Ok(LuaVersion::Lua52),
            "5.3" | "53" => Ok(LuaVersion::Lua53),
            "5.4" | "54" => Ok(LuaVersion::Lua54),
            "jit" | "luajit" => Ok(LuaVersion::LuaJit),
            _ => Err(InterpreterError::UnknownVersion(s.to_string())),
        }
    }
}

impl<'de> Deserialize<'de> for LuaVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for LuaVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an interpreter came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Built by `pylua lua install` into pylua's data directory.
    Pylua,
    /// Found on `PATH`.
    Path,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Pylua => "pylua",
            Origin::Path => "path",
        }
    }
}

/// One Lua interpreter on this machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Interpreter {
    pub version: LuaVersion,
    /// What the interpreter says it is, e.g. `Lua 5.4.6` or `LuaJIT 2.1.1703358377`.
    pub release: String,
    /// The executable, as found (not resolved through symlinks).
    pub path: PathBuf,
    /// Other names on `PATH` for the same executable (`lua` → `lua5.1`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<PathBuf>,
    pub origin: Origin,
    /// The directory holding `lua.h` for this version, when there is one.
    pub include_dir: Option<PathBuf>,
    /// The Lua library (`liblua5.4.so`, `liblua.a`, `libluajit-5.1.a`…), when there is one.
    pub library: Option<PathBuf>,
}

impl Interpreter {
    /// True when headers are there: enough to build C modules, which take the Lua API from
    /// the interpreter that loads them (the library is needed only to link programs).
    pub fn can_build_c_modules(&self) -> bool {
        self.include_dir.is_some()
    }
}

/// Errors of discovery and provisioning, each saying what to do next.
#[derive(Debug, thiserror::Error)]
pub enum InterpreterError {
    #[error("unknown Lua version '{0}': expected 5.1, 5.2, 5.3, 5.4 or luajit")]
    UnknownVersion(String),
    #[error(
        "no {name} interpreter found: none on PATH and none installed by pylua in {dir}; \
         pylua can build one from the sources it ships",
        name = .version.display_name(),
        dir = .dir.display()
    )]
    NotFound { version: LuaVersion, dir: PathBuf },
    #[error(
        "no C compiler found (looked for $CC, cc, gcc and clang on PATH): building {what} needs \
         one; install it, e.g. `apt-get install gcc` (Debian, Ubuntu), `dnf install gcc` \
         (Fedora), `apk add build-base` (Alpine) or `xcode-select --install` (macOS)"
    )]
    NoCompiler { what: String },
    #[error(
        "`{tool}` not found on PATH: building {what} needs it; install it, e.g. \
         `apt-get install {package}` (Debian, Ubuntu) or `xcode-select --install` (macOS)"
    )]
    MissingTool {
        tool: String,
        package: String,
        what: String,
    },
    #[error("building {what} failed at `{step}`:\n{output}")]
    BuildFailed {
        what: String,
        step: String,
        output: String,
    },
    #[error("{what} '{path}': {source}")]
    Io {
        what: String,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl InterpreterError {
    /// What the user can do about it, when there is one thing to do.
    pub fn hint(&self) -> Option<crate::hint::Hint> {
        match self {
            InterpreterError::NotFound { version, .. } => Some(crate::hint::Hint::InstallLua {
                version: version.as_str().to_string(),
            }),
            _ => None,
        }
    }
}

impl InterpreterError {
    pub(crate) fn io(what: &str, path: &Path, source: std::io::Error) -> Self {
        InterpreterError::Io {
            what: what.to_string(),
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The directory pylua provisions interpreters into.
pub fn interpreters_dir(paths: &Paths) -> PathBuf {
    paths.data.join("interpreters")
}

/// The interpreter to use for `version`: pylua's own when installed, else the first on
/// `PATH`.
pub fn find(version: LuaVersion, paths: &Paths) -> Result<Interpreter, InterpreterError> {
    if let Some(found) = Provisioner::new(&paths.data).installed(version) {
        return Ok(found);
    }
    discover::on_path(std::env::var_os("PATH").as_deref())
        .into_iter()
        .find(|i| i.version == version)
        .ok_or_else(|| InterpreterError::NotFound {
            version,
            dir: interpreters_dir(paths),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_in_the_forms_people_type() {
        for (text, v) in [
            ("5.1", LuaVersion::Lua51),
            ("lua5.2", LuaVersion::Lua52),
            ("53", LuaVersion::Lua53),
            ("Lua 5.4", LuaVersion::Lua54),
            ("luajit", LuaVersion::LuaJit),
            ("jit", LuaVersion::LuaJit),
        ] {
            assert_eq!(text.parse::<LuaVersion>().unwrap(), v, "{text}");
        }
        let err = "5.9".parse::<LuaVersion>().unwrap_err().to_string();
        assert!(err.contains("5.1, 5.2, 5.3, 5.4 or luajit"), "{err}");
    }

    #[test]
    fn releases_name_their_version() {
        assert_eq!(
            LuaVersion::from_release("Lua 5.1.5"),
            Some(LuaVersion::Lua51)
        );
        assert_eq!(
            LuaVersion::from_release("Lua 5.4.7"),
            Some(LuaVersion::Lua54)
        );
        assert_eq!(
            LuaVersion::from_release("LuaJIT 2.1.ROLLING"),
            Some(LuaVersion::LuaJit)
        );
        assert_eq!(LuaVersion::from_release("Lua 6.0"), None);
    }
}
