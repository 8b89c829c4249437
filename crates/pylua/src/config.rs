//! The global configuration, `config.toml` in pylua's config directory (XDG on Linux, or
//! `$PYLUA_HOME/config`): rocks servers, the cache directory, the default Lua and profile for
//! new projects, extra catalogs and the user's own profiles. Reading checks every key and
//! names the file, the key and what is expected; `set` and `unset` edit the file keeping its
//! comments, check the result first and write it atomically, so a refused change leaves the
//! file as it was.
//!
//! ```toml
//! servers = ["https://luarocks.org"]
//! cache-dir = "/var/cache/pylua"
//! lua = "5.4"
//! profile = "standard"
//! catalogs = ["/home/me/catalog.toml"]
//! unpack-max-bytes = "512M"       # what one downloaded archive may unpack to, in total
//! unpack-max-file-bytes = "256M"  # … in any one file
//! unpack-max-files = 50000        # … in files
//! unpack-max-ratio = 200          # … per byte of archive, beyond the first 8 MiB
//! usage-analytics = false         # do not record which modules projects require (.pylua/usage/)
//! ca-certs = ["/etc/company/ca.pem"]  # CAs trusted besides the system's (PEM files)
//! link-mode = "auto"              # installed files from the package store: auto, reflink, hardlink, copy
//!
//! [server-auth."https://rocks.example.com"]   # HTTP Basic auth for URLs under this one
//! username = "ci"
//! password = "…"                  # shown as ******** by `pylua config list/get`
//!
//! [profiles.web]
//! description = "Our web stack"
//! extends = "standard"
//! packages = ["lapis", "etlua@~> 1.3"]
//! ```

use crate::curator::{Catalog, ProfileSpec, Profiles};
use crate::paths::Paths;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml_edit::{DocumentMut, Item};

/// The settings, with defaults for what the file leaves out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    /// Rocks servers; empty means luarocks.org.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_dir: Option<PathBuf>,
    /// Default Lua for new projects.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "config_lua"
    )]
    pub lua: Option<crate::interpreters::LuaVersion>,
    /// Default profile for new projects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub catalogs: Vec<PathBuf>,
    /// Security advisory sources for `pylua audit`: OSV files, directories or URLs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub advisories: Vec<String>,
    /// Archive bounds (see [`crate::packages::archive::Bounds`]): sizes as `512M` or bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unpack_max_bytes: Option<Size>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unpack_max_file_bytes: Option<Size>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unpack_max_files: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unpack_max_ratio: Option<u64>,
    /// Record, per project and on this machine only, which modules its code requires
    /// (`.pylua/usage/`, read by `pylua recommend`); on unless set to `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_analytics: Option<bool>,
    /// CA certificates trusted besides the system's: PEM files (absolute paths).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ca_certs: Vec<PathBuf>,
    /// How installs make tree files from the package store (see [`crate::packages::link`]);
    /// `auto` when unset.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "config_link_mode"
    )]
    pub link_mode: Option<crate::packages::link::LinkMode>,
    /// Credentials for rocks servers, by URL prefix (see [`crate::http`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub server_auth: BTreeMap<String, ServerAuthEntry>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub profiles: BTreeMap<String, ProfileSpec>,
}

/// One `[server-auth."URL"]` table.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerAuthEntry {
    pub username: String,
    #[serde(default)]
    pub password: String,
}

impl std::fmt::Debug for ServerAuthEntry {
    // The password stays out of every debug print.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerAuthEntry")
            .field("username", &self.username)
            .field("password", &"********")
            .finish()
    }
}

/// What `pylua config list` and `get` show instead of a password.
const HIDDEN: &str = "********";

/// A size setting: a number of bytes, or text with a unit (`512M`, `1G`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Size {
    Bytes(u64),
    Text(String),
}

fn config_lua<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<crate::interpreters::LuaVersion>, D::Error> {
    crate::project::file::lua_version_at("lua", d).map(Some)
}

fn config_link_mode<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<crate::packages::link::LinkMode>, D::Error> {
    let text = String::deserialize(d)?;
    text.parse()
        .map(Some)
        .map_err(|e| serde::de::Error::custom(format!("key 'link-mode': {e}")))
}

impl Size {
    fn bytes(&self) -> Result<u64, String> {
        match self {
            Size::Bytes(0) => Err("expected a size above 0".into()),
            Size::Bytes(n) => Ok(*n),
            Size::Text(t) => crate::runtime::parse_size(t)
                .map(|n| n as u64)
                .map_err(|e| e.message),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {message}")]
pub struct ConfigError {
    pub file: String,
    pub message: String,
}

/// The keys that belong to this machine or this user and never travel in an exported
/// environment: local paths (`catalogs`, `cache-dir`, `ca-certs` — the last also adds trusted
/// CAs) and credentials (`server-auth`). An export leaves them out; an import refuses them.
pub const MACHINE_KEYS: [&str; 4] = ["catalogs", "cache-dir", "ca-certs", "server-auth"];

/// `text` (a config.toml) without the [`MACHINE_KEYS`], comments and layout kept: what an
/// exported environment carries. Text that is not TOML is returned as it is (the import
/// then reports it).
pub fn portable_text(text: &str) -> String {
    let Ok(mut doc) = text.parse::<DocumentMut>() else {
        return text.to_string();
    };
    for key in MACHINE_KEYS {
        doc.remove(key);
    }
    doc.to_string()
}

/// A list value as `config set` takes it: a TOML array (`["a", "b"]`) or comma-separated
/// words (`a, b`).
fn list_items(value: &str) -> Vec<String> {
    match value.trim().parse::<toml_edit::Value>() {
        Ok(toml_edit::Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        _ => value
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
    }
}

/// The keys `get`, `set` and `unset` know (`profiles.NAME.FIELD` too).
pub const KEYS: [&str; 15] = [
    "servers",
    "cache-dir",
    "lua",
    "profile",
    "catalogs",
    "advisories",
    "unpack-max-bytes",
    "unpack-max-file-bytes",
    "unpack-max-files",
    "unpack-max-ratio",
    "usage-analytics",
    "ca-certs",
    "link-mode",
    "server-auth",
    "profiles",
];
/// Keys whose value is `true` or `false`.
const BOOL_KEYS: [&str; 1] = ["usage-analytics"];
/// Keys whose value is a whole number (written to the file as a TOML integer).
const NUMBER_KEYS: [&str; 2] = ["unpack-max-files", "unpack-max-ratio"];
const LIST_KEYS: [&str; 4] = ["servers", "catalogs", "advisories", "ca-certs"];

/// Where the config file is.
pub fn config_path(paths: &Paths) -> PathBuf {
    paths.config.join("config.toml")
}

impl Config {
    /// The user's configuration (defaults when there is no file).
    pub fn load(paths: &Paths) -> Result<Config, ConfigError> {
        Config::load_file(&config_path(paths))
    }

    /// Reads the file at `path`; its HTTP settings (`ca-certs`, `server-auth`) then apply to
    /// every request this process makes (see [`crate::http::configure`]).
    pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
        let config = match std::fs::read_to_string(path) {
            Ok(text) => Config::parse(&text, path)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Config::default(),
            Err(e) => return Err(error(path, format!("cannot read it: {e}"))),
        };
        crate::http::configure(config.http_settings());
        Ok(config)
    }

    /// The settings of pylua's HTTP clients (the file was checked when it was read).
    pub fn http_settings(&self) -> crate::http::Settings {
        crate::http::Settings {
            ca_certs: self.ca_certs.clone(),
            server_auth: self
                .server_auth
                .iter()
                .filter_map(|(prefix, auth)| {
                    Some(crate::http::ServerAuth {
                        prefix: crate::http::parse_auth_prefix(prefix).ok()?,
                        username: auth.username.clone(),
                        password: auth.password.clone(),
                    })
                })
                .collect(),
        }
    }

    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text)
            .map_err(|e| error(path, crate::project::file::toml_message(&e)))?;
        config.validate(path)?;
        Ok(config)
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let key = |k: &str, m: String| error(path, format!("key '{k}': {m}"));
        for (i, s) in self.servers.iter().enumerate() {
            crate::packages::server::Server::new(s)
                .map_err(|e| key(&format!("servers[{i}]"), e.to_string()))?;
        }
        for (name, size) in [
            ("unpack-max-bytes", &self.unpack_max_bytes),
            ("unpack-max-file-bytes", &self.unpack_max_file_bytes),
        ] {
            if let Some(size) = size {
                size.bytes().map_err(|m| key(name, m))?;
            }
        }
        for (name, n) in [
            ("unpack-max-files", self.unpack_max_files),
            ("unpack-max-ratio", self.unpack_max_ratio),
        ] {
            if n == Some(0) {
                return Err(key(name, "expected a whole number above 0".into()));
            }
        }
        for (i, file) in self.ca_certs.iter().enumerate() {
            let at = format!("ca-certs[{i}]");
            if !file.is_absolute() {
                return Err(key(
                    &at,
                    format!("expected an absolute path, found {}", file.display()),
                ));
            }
            crate::http::read_ca_file(file).map_err(|m| key(&at, m))?;
        }
        for (prefix, auth) in &self.server_auth {
            let at = format!("server-auth.\"{prefix}\"");
            crate::http::parse_auth_prefix(prefix).map_err(|m| key(&at, m))?;
            if auth.username.is_empty() {
                return Err(key(&at, "expected a non-empty 'username'".into()));
            }
        }
        let catalog = Catalog::load(&self.catalogs).map_err(|e| key("catalogs", e.to_string()))?;
        let builtin = Profiles::new(&catalog, &BTreeMap::new());
        for name in self.profiles.keys() {
            if builtin.get(name).is_ok() {
                return Err(key(
                    &format!("profiles.{name}"),
                    format!("'{name}' is a built-in profile; give yours another name"),
                ));
            }
        }
        let profiles = Profiles::new(&catalog, &self.profiles);
        for name in self.profiles.keys() {
            profiles
                .expand(name, "5.4")
                .map_err(|e| key(&format!("profiles.{name}"), e.to_string()))?;
        }
        if let Some(p) = &self.profile {
            profiles.get(p).map_err(|e| key("profile", e.to_string()))?;
        }
        Ok(())
    }

    /// The archive bounds: the defaults, with the `unpack-*` settings applied (they were
    /// checked when the file was read).
    pub fn unpack_bounds(&self) -> crate::packages::archive::Bounds {
        let mut b = crate::packages::archive::Bounds::default();
        let size = |s: &Option<Size>| s.as_ref().and_then(|s| s.bytes().ok());
        if let Some(n) = size(&self.unpack_max_bytes) {
            b.max_bytes = n;
        }
        if let Some(n) = size(&self.unpack_max_file_bytes) {
            b.max_file_bytes = n;
        }
        if let Some(n) = self.unpack_max_files {
            b.max_files = usize::try_from(n).unwrap_or(usize::MAX);
        }
        if let Some(n) = self.unpack_max_ratio {
            b.max_ratio = n;
        }
        b
    }

    /// Whether projects' module usage is recorded (the default) — `usage-analytics = false`
    /// turns it off.
    pub fn usage_analytics(&self) -> bool {
        self.usage_analytics != Some(false)
    }

    /// The catalog: built-in plus the configured catalogs.
    pub fn catalog(&self) -> Result<Catalog, crate::curator::CatalogError> {
        Catalog::load(&self.catalogs)
    }

    /// Every profile: the catalog's and the user's.
    pub fn profiles(&self) -> Result<Profiles, crate::curator::CatalogError> {
        Ok(Profiles::new(&self.catalog()?, &self.profiles))
    }

    /// Every set key with its value, flattened (`profiles.web.packages`); passwords are
    /// shown as `********`.
    pub fn list(&self) -> Vec<(String, String)> {
        let mut shown = self.clone();
        for auth in shown.server_auth.values_mut() {
            if !auth.password.is_empty() {
                auth.password = HIDDEN.into();
            }
        }
        let value = toml::Value::try_from(&shown).expect("config serializes");
        let mut out = Vec::new();
        flatten("", &value, &mut out);
        out
    }

    /// One key's value (None when it is not set).
    pub fn get(&self, key: &str) -> Option<String> {
        self.list()
            .into_iter()
            .filter(|(k, _)| k == key || k.starts_with(&format!("{key}.")))
            .map(|(k, v)| if k == key { v } else { format!("{k} = {v}") })
            .reduce(|a, b| format!("{a}\n{b}"))
    }
}

fn flatten(prefix: &str, value: &toml::Value, out: &mut Vec<(String, String)>) {
    match value {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        toml::Value::String(s) => out.push((prefix.to_string(), s.clone())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

fn error(path: &Path, message: String) -> ConfigError {
    ConfigError {
        file: path.display().to_string(),
        message,
    }
}

/// Sets `key` to `value` in the file at `path` (created if missing). Lists (`servers`,
/// `catalogs`, `profiles.NAME.packages`) take a TOML array or comma-separated values.
pub fn set(path: &Path, key: &str, value: &str) -> Result<(), ConfigError> {
    set_all(path, &[(key, value)])
}

/// Sets several keys in one checked, atomic write: all of them or, when one is refused,
/// none.
pub fn set_all(path: &Path, pairs: &[(&str, &str)]) -> Result<(), ConfigError> {
    let keys: Vec<&str> = pairs.iter().map(|(k, _)| *k).collect();
    edit_keys(path, &keys, |doc| {
        for (key, value) in pairs {
            let parts: Vec<&str> = key.split('.').collect();
            set_in(doc, key, parts, value)?;
        }
        Ok(())
    })
}

fn set_in(doc: &mut DocumentMut, key: &str, parts: Vec<&str>, value: &str) -> Result<(), String> {
    if parts[0] == "server-auth" {
        // A password on a command line ends up in the shell's history.
        return Err("'server-auth' is edited in the file itself (`pylua config path`), so no password passes through a command line".into());
    }
    // A relative CA file is taken from where the command runs, as a shell user expects.
    let absolute;
    let value = if key == "ca-certs" {
        let cwd = std::env::current_dir().unwrap_or_default();
        let items = list_items(value);
        let mut array = toml_edit::Array::new();
        for i in items {
            array.push(cwd.join(i).display().to_string());
        }
        absolute = array.to_string();
        absolute.as_str()
    } else {
        value
    };
    {
        let is_list = LIST_KEYS.contains(&key) || (parts.len() == 3 && parts[2] == "packages");
        let item =
            if is_list {
                let items = list_items(value);
                let mut array = toml_edit::Array::new();
                for i in items {
                    array.push(i);
                }
                toml_edit::value(array)
            } else if BOOL_KEYS.contains(&key) {
                let b: bool = value.trim().parse().map_err(|_| {
                    format!("key '{key}': expected true or false, found \"{value}\"")
                })?;
                toml_edit::value(b)
            } else if NUMBER_KEYS.contains(&key) {
                let n: i64 = value.trim().parse().map_err(|_| {
                    format!("key '{key}': expected a whole number, found \"{value}\"")
                })?;
                toml_edit::value(n)
            } else {
                toml_edit::value(value)
            };
        match parts.as_slice() {
            [k] => doc[*k] = item,
            ["profiles", name, field] => {
                if !doc.contains_table("profiles") {
                    let mut t = toml_edit::Table::new();
                    t.set_implicit(true);
                    doc["profiles"] = Item::Table(t);
                }
                let profiles = doc["profiles"].as_table_mut().ok_or_else(|| "'profiles' is not a table".to_string())?;
                if !profiles.contains_table(name) {
                    profiles[*name] = Item::Table(toml_edit::Table::new());
                }
                profiles[*name][*field] = item;
            }
            _ => return Err(format!("cannot set '{key}': expected one of {}, or profiles.NAME.description|extends|packages", KEYS.join(", "))),
        }
        Ok(())
    }
}

/// Removes `key` (a whole profile with `profiles.NAME`).
pub fn unset(path: &Path, key: &str) -> Result<(), ConfigError> {
    edit(path, key, |doc, parts| {
        let removed = match parts.as_slice() {
            [k] => doc.remove(k).is_some(),
            ["profiles", name] => doc
                .get_mut("profiles")
                .and_then(Item::as_table_mut)
                .and_then(|t| t.remove(name))
                .is_some(),
            ["profiles", name, field] => doc
                .get_mut("profiles")
                .and_then(|p| p.get_mut(name))
                .and_then(Item::as_table_mut)
                .and_then(|t| t.remove(field))
                .is_some(),
            _ => false,
        };
        if removed {
            Ok(())
        } else {
            Err(format!("'{key}' is not set"))
        }
    })
}

/// Edits the document, checks the result as a whole, then writes it atomically.
/// Why a profile could not be created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreateProfileError {
    /// The name is taken by a built-in profile or one from a catalog file.
    #[error("'{0}' is a built-in profile; pick another name")]
    Reserved(String),
    /// The user already has a profile with that name (and `replace` was not asked).
    #[error("you already have a profile '{0}'")]
    Exists(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// Creates the user's profile `name` in the config file at `path` (replacing one of theirs
/// with that name when `replace`), in one checked, atomic write: a refused profile leaves the
/// file, and any profile it held before, as they were. `profiles` is what the name is checked
/// against (built-in and catalog profiles cannot be shadowed).
pub fn create_profile(
    path: &Path,
    profiles: &Profiles,
    name: &str,
    spec: &ProfileSpec,
    replace: bool,
) -> Result<(), CreateProfileError> {
    if let Ok(existing) = profiles.get(name) {
        if existing.builtin || existing.source != "config" {
            return Err(CreateProfileError::Reserved(name.to_string()));
        }
        if !replace {
            return Err(CreateProfileError::Exists(name.to_string()));
        }
    }
    edit(path, &format!("profiles.{name}"), |doc, _| {
        if !doc.contains_table("profiles") {
            let mut t = toml_edit::Table::new();
            t.set_implicit(true);
            doc["profiles"] = Item::Table(t);
        }
        let table = doc["profiles"]
            .as_table_mut()
            .ok_or_else(|| "'profiles' is not a table".to_string())?;
        let mut profile = toml_edit::Table::new();
        if !spec.description.is_empty() {
            profile["description"] = toml_edit::value(spec.description.as_str());
        }
        if let Some(extends) = spec.extends.as_deref().filter(|e| !e.is_empty()) {
            profile["extends"] = toml_edit::value(extends);
        }
        let mut packages = toml_edit::Array::new();
        for p in &spec.packages {
            packages.push(p.as_str());
        }
        profile["packages"] = toml_edit::value(packages);
        table[name] = Item::Table(profile);
        Ok(())
    })
    .map_err(CreateProfileError::from)
}

fn edit(
    path: &Path,
    key: &str,
    change: impl FnOnce(&mut DocumentMut, Vec<&str>) -> Result<(), String>,
) -> Result<(), ConfigError> {
    edit_keys(path, &[key], |doc| change(doc, key.split('.').collect()))
}

/// Reads the file, checks every key is one the configuration knows, applies `change`,
/// checks the result parses and validates, and writes it atomically.
fn edit_keys(
    path: &Path,
    keys: &[&str],
    change: impl FnOnce(&mut DocumentMut) -> Result<(), String>,
) -> Result<(), ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(error(path, format!("cannot read it: {e}"))),
    };
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| error(path, format!("invalid TOML: {e}")))?;
    for key in keys {
        let parts: Vec<&str> = key.split('.').collect();
        let known = KEYS.contains(&parts[0])
            && (parts.len() == 1 && parts[0] != "profiles"
                || parts[0] == "profiles"
                    && (parts.len() == 2
                        || parts.len() == 3
                            && ["description", "extends", "packages"].contains(&parts[2])));
        if !known {
            return Err(error(
                path,
                format!(
                    "unknown key '{key}': expected one of {}, or profiles.NAME[.description|.extends|.packages]",
                    KEYS.iter().filter(|k| **k != "profiles").copied().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
    }
    change(&mut doc).map_err(|m| error(path, m))?;
    let new_text = doc.to_string();
    Config::parse(&new_text, path)?;
    crate::packages::cache::write_atomic(path, new_text.as_bytes())
        .map_err(|e| error(path, format!("cannot write it: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exports_leave_out_machine_keys_and_keep_the_rest() {
        let text = "# mine\nservers = [\"file:///srv\"] # here\ncache-dir = \"/c\"\nca-certs = [\"/ca.pem\"]\n\n[server-auth.\"https://x.test/\"]\nusername = \"u\"\npassword = \"secret\"\n\n[profiles.web]\npackages = [\"lpeg\"]\n";
        let out = portable_text(text);
        assert!(!out.contains("secret") && !out.contains("ca.pem") && !out.contains("/c\""));
        assert!(
            out.contains("# mine") && out.contains("file:///srv") && out.contains("[profiles.web]")
        );
        assert_eq!(portable_text("not = = toml"), "not = = toml");
    }

    #[test]
    fn reads_validates_and_names_file_and_key() {
        let p = Path::new("/etc/pylua/config.toml");
        let c = Config::parse(
            "servers = ['file:///srv']\nlua = '5.1'\nprofile = 'web'\n[profiles.web]\nextends = 'standard'\npackages = ['etlua']\n",
            p,
        )
        .unwrap();
        assert_eq!(c.servers, vec!["file:///srv".to_string()]);
        assert!(c
            .list()
            .contains(&("profiles.web.extends".into(), "standard".into())));
        assert_eq!(c.get("lua").as_deref(), Some("5.1"));
        let e = Config::parse("lua = '5.9'\n", p).unwrap_err().to_string();
        assert_eq!(e, "/etc/pylua/config.toml: key 'lua': unknown Lua version '5.9': expected 5.1, 5.2, 5.3, 5.4 or luajit (line 1, column 7)");
        let c = Config::parse("link-mode = 'hardlink'\n", p).unwrap();
        assert_eq!(c.link_mode, Some(crate::packages::link::LinkMode::Hardlink));
        assert_eq!(c.get("link-mode").as_deref(), Some("hardlink"));
        let e = Config::parse("link-mode = 'symlink'\n", p)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "/etc/pylua/config.toml: key 'link-mode': expected one of auto, reflink, hardlink, copy, found \"symlink\" (line 1, column 13)");
        let e = Config::parse("servers = 'x'\n", p).unwrap_err().to_string();
        assert!(
            e.contains("/etc/pylua/config.toml: invalid TOML at line 1") && e.contains("sequence"),
            "{e}"
        );
        let e = Config::parse("colour = 'red'\n", p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("colour"), "{e}");
        let e = Config::parse("[profiles.standard]\npackages = []\n", p)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("key 'profiles.standard': 'standard' is a built-in profile"),
            "{e}"
        );
        let e = Config::parse("profile = 'nonesuch'\n", p)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("key 'profile': unknown profile 'nonesuch'"),
            "{e}"
        );
        let e = Config::parse("catalogs = ['/nope.toml']\n", p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("key 'catalogs': /nope.toml: cannot read"), "{e}");
    }

    #[test]
    fn set_keeps_comments_and_a_refused_set_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "# my settings\nlua = '5.4' # embedded\n").unwrap();
        set(&path, "servers", "file:///a, https://b.example").unwrap();
        set(&path, "profiles.web.packages", "[\"etlua\", \"lapis\"]").unwrap();
        set(&path, "profiles.web.extends", "standard").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("# my settings") && text.contains("# embedded"),
            "{text}"
        );
        let c = Config::load_file(&path).unwrap();
        assert_eq!(c.servers.len(), 2);
        assert_eq!(
            c.profiles["web"].packages,
            vec!["etlua".to_string(), "lapis".to_string()]
        );

        let before = std::fs::read(&path).unwrap();
        assert!(set(&path, "lua", "5.9")
            .unwrap_err()
            .to_string()
            .contains("key 'lua'"));
        assert!(set(&path, "colour", "red")
            .unwrap_err()
            .to_string()
            .contains("unknown key 'colour'"));
        assert!(set(&path, "profiles.web.packages", "nope-not-in-catalog").is_err());
        assert_eq!(std::fs::read(&path).unwrap(), before);

        set(&path, "unpack-max-bytes", "1G").unwrap();
        set(&path, "unpack-max-files", "60000").unwrap();
        let c = Config::load_file(&path).unwrap();
        let b = c.unpack_bounds();
        assert_eq!((b.max_bytes, b.max_files), (1 << 30, 60_000));
        assert_eq!(b.max_ratio, crate::packages::archive::DEFAULT_MAX_RATIO);
        assert_eq!(c.get("unpack-max-files").as_deref(), Some("60000"));
        let before = std::fs::read(&path).unwrap();
        for (k, v, why) in [
            ("unpack-max-files", "many", "expected a whole number"),
            ("unpack-max-ratio", "0", "above 0"),
            ("unpack-max-file-bytes", "lots", "invalid size 'lots'"),
        ] {
            let e = set(&path, k, v).unwrap_err().to_string();
            assert!(e.contains(&format!("key '{k}'")) && e.contains(why), "{e}");
        }
        assert_eq!(std::fs::read(&path).unwrap(), before);
        unset(&path, "unpack-max-bytes").unwrap();
        unset(&path, "unpack-max-files").unwrap();

        // CA files are checked where they enter: a missing one, or one with no certificate.
        let before = std::fs::read(&path).unwrap();
        let e = set(&path, "ca-certs", "/nonexistent/ca.pem")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("key 'ca-certs[0]': /nonexistent/ca.pem: cannot read it"),
            "{e}"
        );
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = set(&path, "ca-certs", empty.to_str().unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("empty.pem: holds no certificate"), "{e}");
        assert!(set(&path, "server-auth", "x").is_err());
        assert_eq!(std::fs::read(&path).unwrap(), before);

        // Passwords are never shown; a URL key with credentials is refused.
        let p = Path::new("/c.toml");
        let c = Config::parse(
            "[server-auth.\"https://rocks.example/r\"]\nusername = \"ci\"\npassword = \"hunter2\"\n",
            p,
        )
        .unwrap();
        let listed = format!("{:?} {:?}", c.list(), c);
        assert!(
            !listed.contains("hunter2") && listed.contains("********"),
            "{listed}"
        );
        assert_eq!(c.http_settings().server_auth.len(), 1);
        let e = Config::parse(
            "[server-auth.\"https://u:p@rocks.example\"]\nusername = \"ci\"\n",
            p,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("may not carry a user name or password"), "{e}");

        unset(&path, "profiles.web").unwrap();
        assert!(Config::load_file(&path).unwrap().profiles.is_empty());
        assert!(unset(&path, "profile")
            .unwrap_err()
            .to_string()
            .contains("'profile' is not set"));
    }
}
