//! `pylua.toml`, the project file: what the user asks for — the project's name, its Lua, its
//! profile, its dependencies and dev-dependencies (LuaRocks constraints), the rocks servers it
//! uses and the sandbox `pylua run` applies. Reading validates every field and names the key
//! that is wrong; edits go through `toml_edit` so the user's comments and layout survive.
//!
//! ```toml
//! [project]
//! name = "demo"
//! lua = "5.4"                 # 5.4 (embedded, the default), 5.1, 5.2, 5.3 or luajit
//! profile = "standard"        # a profile from `pylua profile list` (optional)
//! servers = ["https://luarocks.org"]  # optional; replaces the configured servers
//!
//! [dependencies]
//! penlight = ">= 1.13"
//! lua-cjson = "*"
//!
//! [dev-dependencies]
//! busted = "~> 2.2"
//!
//! [run]                        # defaults for `pylua run` in this project (optional)
//! sandbox = "standard"
//! memory = "256M"
//! timeout = "30s"
//! instructions = 100000000
//! allow-net = ["api.example.com", "*.cdn.example.com:443"]   # gives scripts `net`
//! deny-net = ["admin.example.com"]                           # wins over allow-net
//! allow-http = false
//! net-max-response = "8M"
//! net-timeout = "30s"
//! net-max-requests = 100
//! net-max-total = "64M"
//! allow-luasocket = false     # standard sandbox: load LuaSocket/LuaSec's C modules
//! ```

use crate::packages::version::Constraints;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

use crate::interpreters::LuaVersion;

/// A parsed and validated `pylua.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ProjectFile {
    pub project: ProjectSection,
    /// Package name → LuaRocks constraint (`""` or `"*"` for any version).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dependencies: BTreeMap<String, String>,
    /// Packages needed to develop and test the project, not to run it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dev_dependencies: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "RunSection::is_empty")]
    pub run: RunSection,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ProjectSection {
    pub name: String,
    #[serde(default = "default_lua", deserialize_with = "project_lua")]
    pub lua: LuaVersion,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<String>,
}

fn project_lua<'de, D: serde::Deserializer<'de>>(d: D) -> Result<LuaVersion, D::Error> {
    lua_version_at("project.lua", d)
}

fn default_lua() -> LuaVersion {
    LuaVersion::Lua54
}

/// Defaults for `pylua run` in the project; flags on the command line win.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RunSection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_net: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deny_net: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_http: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net_max_response: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net_timeout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net_max_requests: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net_max_total: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_luasocket: Option<bool>,
}

/// `[run]`, parsed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunSettings {
    pub sandbox: Option<crate::runtime::Sandbox>,
    pub memory: Option<usize>,
    pub timeout: Option<std::time::Duration>,
    pub instructions: Option<u64>,
    pub net: crate::runtime::NetOptions,
    pub allow_luasocket: Option<bool>,
}

impl RunSection {
    fn is_empty(&self) -> bool {
        *self == RunSection::default()
    }
}

/// What is wrong with a project or lock file: the file, the key (when one is to blame) and
/// what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {message}")]
pub struct FileError {
    pub file: String,
    pub message: String,
    pub hint: Option<crate::hint::Hint>,
}

impl FileError {
    pub fn new(file: &Path, message: impl Into<String>) -> FileError {
        FileError {
            file: file.display().to_string(),
            message: message.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: crate::hint::Hint) -> FileError {
        self.hint = Some(hint);
        self
    }
}

impl ProjectFile {
    /// Parses and validates `text`, read from `file` (named in errors).
    pub fn parse(text: &str, file: &Path) -> Result<ProjectFile, FileError> {
        let parsed: ProjectFile =
            toml::from_str(text).map_err(|e| FileError::new(file, toml_message(&e)))?;
        parsed.validate(file)?;
        Ok(parsed)
    }

    fn validate(&self, file: &Path) -> Result<(), FileError> {
        let bad =
            |key: &str, message: String| FileError::new(file, format!("key '{key}': {message}"));
        if self.project.name.trim().is_empty() {
            return Err(bad("project.name", "expected a non-empty name".into()));
        }
        for (i, server) in self.project.servers.iter().enumerate() {
            crate::packages::server::Server::new(server)
                .map_err(|e| bad(&format!("project.servers[{i}]"), e.to_string()))?;
        }
        for (table, deps) in [
            ("dependencies", &self.dependencies),
            ("dev-dependencies", &self.dev_dependencies),
        ] {
            for (name, constraint) in deps {
                crate::packages::names::PackageName::parse(name).map_err(|e| {
                    bad(
                        &format!("{table}.{}", crate::packages::names::quote(name)),
                        e.to_string(),
                    )
                })?;
                let key = format!("{table}.{name}");
                parse_constraint(constraint).map_err(|e| {
                    bad(
                        &key,
                        format!("expected a LuaRocks constraint such as \">= 1.0\" or \"~> 2.1\", found \"{constraint}\" ({e})"),
                    )
                })?;
            }
        }
        if let Some(sandbox) = &self.run.sandbox {
            sandbox
                .parse::<crate::runtime::Sandbox>()
                .map_err(|e| bad("run.sandbox", e.message))?;
        }
        if let Some(memory) = &self.run.memory {
            crate::runtime::parse_size(memory).map_err(|e| bad("run.memory", e.message))?;
        }
        if let Some(timeout) = &self.run.timeout {
            crate::runtime::parse_duration(timeout).map_err(|e| bad("run.timeout", e.message))?;
        }
        self.net_options().map_err(|(key, why)| bad(key, why))?;
        Ok(())
    }

    /// `[run]`'s network settings, parsed; on error, the key and what is wrong.
    fn net_options(&self) -> Result<crate::runtime::NetOptions, (&'static str, String)> {
        use crate::runtime::{parse_duration, parse_size, HostPattern};
        let run = &self.run;
        let patterns = |key: &'static str, list: &Option<Vec<String>>| {
            list.iter()
                .flatten()
                .map(|p| HostPattern::parse(p).map_err(|e| (key, e)))
                .collect::<Result<Vec<_>, _>>()
        };
        let size = |key: &'static str, v: &Option<String>| {
            v.as_deref()
                .map(|s| {
                    parse_size(s)
                        .map(|n| n as u64)
                        .map_err(|e| (key, e.message))
                })
                .transpose()
        };
        Ok(crate::runtime::NetOptions {
            allow: patterns("run.allow-net", &run.allow_net)?,
            deny: patterns("run.deny-net", &run.deny_net)?,
            allow_http: run.allow_http,
            max_response_bytes: size("run.net-max-response", &run.net_max_response)?,
            request_timeout: run
                .net_timeout
                .as_deref()
                .map(|t| parse_duration(t).map_err(|e| ("run.net-timeout", e.message)))
                .transpose()?,
            max_requests: run.net_max_requests,
            max_total_bytes: size("run.net-max-total", &run.net_max_total)?,
        })
    }

    /// `[run]` with its values parsed (they were checked when the file was read).
    pub fn project_run(&self) -> RunSettings {
        RunSettings {
            sandbox: self.run.sandbox.as_deref().and_then(|s| s.parse().ok()),
            memory: self
                .run
                .memory
                .as_deref()
                .and_then(|m| crate::runtime::parse_size(m).ok()),
            timeout: self
                .run
                .timeout
                .as_deref()
                .and_then(|t| crate::runtime::parse_duration(t).ok()),
            instructions: self.run.instructions,
            net: self.net_options().unwrap_or_default(),
            allow_luasocket: self.run.allow_luasocket,
        }
    }

    /// The project's own requirements: dependencies, then dev-dependencies.
    pub fn requirements(&self, dev: bool) -> Vec<(String, String)> {
        let table = if dev {
            &self.dev_dependencies
        } else {
            &self.dependencies
        };
        table
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), normalize_constraint(v)))
            .collect()
    }

    /// A fresh project file, as `pylua init` writes it.
    pub fn render_new(name: &str, lua: &str, profile: Option<&str>, servers: &[String]) -> String {
        let mut doc = toml_edit::DocumentMut::new();
        let mut project = toml_edit::Table::new();
        project["name"] = toml_edit::value(name);
        project["lua"] = toml_edit::value(lua);
        if let Some(profile) = profile {
            project["profile"] = toml_edit::value(profile);
        }
        if !servers.is_empty() {
            let mut list = toml_edit::Array::new();
            for s in servers {
                list.push(s.as_str());
            }
            project["servers"] = toml_edit::value(list);
        }
        doc["project"] = toml_edit::Item::Table(project);
        let mut deps = toml_edit::Table::new();
        deps.decor_mut()
            .set_prefix("\n# name = \"LuaRocks constraint\", e.g. penlight = \">= 1.13\"\n");
        doc["dependencies"] = toml_edit::Item::Table(deps);
        doc.to_string()
    }
}

/// `""` and `"*"` both mean any version.
pub fn normalize_constraint(text: &str) -> String {
    let t = text.trim();
    if t == "*" {
        String::new()
    } else {
        t.to_string()
    }
}

/// Parses a constraint as written in `pylua.toml`.
pub fn parse_constraint(text: &str) -> Result<Constraints, String> {
    Constraints::parse(&normalize_constraint(text)).map_err(|e| e.message)
}

/// toml's messages already carry the line, column and the offending text.
pub(crate) fn toml_message(e: &toml::de::Error) -> String {
    let full = e.to_string();
    // A value that is valid TOML but not a valid setting names its key itself.
    if e.message().starts_with("key '") {
        return match full
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("TOML parse error at "))
        {
            Some(at) => format!("{} ({at})", e.message()),
            None => e.message().to_string(),
        };
    }
    full.trim_end()
        .replace("TOML parse error at ", "invalid TOML at ")
}

/// A Lua version read from a TOML file, its key named in the error.
pub(crate) fn lua_version_at<'de, D: serde::Deserializer<'de>>(
    key: &str,
    d: D,
) -> Result<LuaVersion, D::Error> {
    let text = String::deserialize(d)?;
    text.parse()
        .map_err(|e| serde::de::Error::custom(format!("key '{key}': {e}")))
}

/// Edits of `pylua.toml` text that keep everything else as the user wrote it.
pub mod edit {
    use toml_edit::{value, DocumentMut, Item, Table};

    fn parse(text: &str) -> Result<DocumentMut, String> {
        text.parse::<DocumentMut>().map_err(|e| e.to_string())
    }

    fn table<'a>(doc: &'a mut DocumentMut, name: &str) -> &'a mut Table {
        if !doc.contains_table(name) {
            doc[name] = Item::Table(Table::new());
        }
        doc[name].as_table_mut().expect("checked to be a table")
    }

    /// Adds (or changes) a dependency; `dev` picks `[dev-dependencies]`.
    pub fn add_dependency(
        text: &str,
        name: &str,
        constraint: &str,
        dev: bool,
    ) -> Result<String, String> {
        let mut doc = parse(text)?;
        let section = if dev {
            "dev-dependencies"
        } else {
            "dependencies"
        };
        let constraint = if constraint.is_empty() {
            "*"
        } else {
            constraint
        };
        table(&mut doc, section)[name] = value(constraint);
        Ok(doc.to_string())
    }

    /// Removes a dependency from both tables; returns whether it was there.
    pub fn remove_dependency(text: &str, name: &str) -> Result<(String, bool), String> {
        let mut doc = parse(text)?;
        let mut found = false;
        for section in ["dependencies", "dev-dependencies"] {
            if let Some(t) = doc.get_mut(section).and_then(Item::as_table_mut) {
                let key = t
                    .iter()
                    .map(|(k, _)| k.to_string())
                    .find(|k| k.eq_ignore_ascii_case(name));
                if let Some(key) = key {
                    t.remove(&key);
                    found = true;
                }
            }
        }
        Ok((doc.to_string(), found))
    }

    /// Sets `[project] profile` (None removes it).
    pub fn set_profile(text: &str, profile: Option<&str>) -> Result<String, String> {
        let mut doc = parse(text)?;
        let project = table(&mut doc, "project");
        match profile {
            Some(p) => project["profile"] = value(p),
            None => {
                project.remove("profile");
            }
        }
        Ok(doc.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ProjectFile, String> {
        ProjectFile::parse(text, Path::new("pylua.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn reads_every_section() {
        let p = parse(
            "[project]\nname='x'\nlua='5.1'\nprofile='standard'\n[dependencies]\npenlight='>= 1.13'\nlpeg='*'\n[dev-dependencies]\nbusted='~> 2'\n[run]\nsandbox='strict'\nmemory='64M'\ntimeout='2s'\ninstructions=5\n",
        )
        .unwrap();
        assert_eq!(p.project.lua, LuaVersion::Lua51);
        assert_eq!(
            p.requirements(false),
            vec![
                ("lpeg".to_string(), String::new()),
                ("penlight".into(), ">= 1.13".into())
            ]
        );
        assert_eq!(p.requirements(true), vec![("busted".into(), "~> 2".into())]);
        assert_eq!(
            parse("[project]\nname='x'\n").unwrap().project.lua,
            LuaVersion::Lua54
        );
    }

    #[test]
    fn errors_name_the_file_and_key() {
        let e = parse("[project]\nname='x'\nlua='5.9'\n").unwrap_err();
        assert!(
            e.contains("pylua.toml: key 'project.lua'")
                && e.contains("line 3")
                && e.contains("unknown Lua version '5.9': expected 5.1, 5.2, 5.3, 5.4 or luajit"),
            "{e}"
        );
        let e = parse("[project]\nname='x'\n[dependencies]\npenlight='>= 1 <<'\n").unwrap_err();
        assert!(
            e.contains("key 'dependencies.penlight'") && e.contains(">= 1 <<"),
            "{e}"
        );
        let e = parse("[project]\nname='x'\n[run]\nallow-net=['http://x']\n").unwrap_err();
        assert!(e.contains("key 'run.allow-net'"), "{e}");
        let e = parse("[project]\nname='x'\n[run]\nnet-timeout='soon'\n").unwrap_err();
        assert!(e.contains("key 'run.net-timeout'"), "{e}");
        let e = parse("[project]\nname='x'\n[run]\nmemory='lots'\n").unwrap_err();
        assert!(e.contains("key 'run.memory'"), "{e}");
        let e = parse("[project]\nname='x'\ncolour='red'\n").unwrap_err();
        assert!(e.contains("colour") && e.contains("line 3"), "{e}");
        let e = parse("[project\nname='x'\n").unwrap_err();
        assert!(e.contains("invalid TOML at line 1"), "{e}");
    }

    #[test]
    fn edits_keep_comments() {
        let text = "# my project\n[project]\nname = 'x' # the name\n\n[dependencies]\n# json\nlua-cjson = '*'\n";
        let added = edit::add_dependency(text, "penlight", ">= 1.13", false).unwrap();
        assert!(
            added.contains("# my project")
                && added.contains("# the name")
                && added.contains("# json")
        );
        assert!(added.contains("penlight = \">= 1.13\""));
        let (removed, found) = edit::remove_dependency(&added, "LUA-CJSON").unwrap();
        assert!(found && !removed.contains("lua-cjson"));
        let p = parse(&edit::set_profile(&removed, Some("minimal")).unwrap()).unwrap();
        assert_eq!(p.project.profile.as_deref(), Some("minimal"));
        let fresh =
            ProjectFile::render_new("demo", "5.4", Some("standard"), &["file:///srv".into()]);
        let p = parse(&fresh).unwrap();
        assert_eq!(p.project.servers, vec!["file:///srv".to_string()]);
    }
}
