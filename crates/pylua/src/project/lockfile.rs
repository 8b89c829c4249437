//! `pylua.lock`: exactly what a project's requirements resolved to — every package's version,
//! the server and file it comes from, that file's sha256 and its dependencies — plus the Lua
//! version, the profile and the requirements it was made for (so a stale lock is seen at
//! once). TOML, in a deterministic order, with a format version.

use super::file::{toml_message, FileError};
use crate::packages::names::PackageName;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The format version this pylua writes and reads.
pub const LOCK_VERSION: u32 = 1;

const HEADER: &str = "# pylua.lock: made by pylua from pylua.toml; do not edit it by hand.\n# `pylua lock` updates it, `pylua sync` makes .pylua/ match it.\n";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Lockfile {
    pub version: u32,
    /// The project's Lua (`5.4`, `5.1`, … or `luajit`).
    pub lua: crate::interpreters::LuaVersion,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// The requirements the lock was resolved for: name → constraint (`""` = any).
    #[serde(default)]
    pub requirements: BTreeMap<String, String>,
    #[serde(default)]
    pub dev_requirements: BTreeMap<String, String>,
    /// Sorted by name.
    #[serde(default, rename = "package")]
    pub packages: Vec<LockedPackage>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LockedPackage {
    pub name: PackageName,
    pub version: String,
    /// The rocks server the file comes from.
    pub server: String,
    /// The rock (`.src.rock`, `.all.rock`, a binary rock) or `.rockspec` on that server.
    pub file: String,
    /// sha256 of that file.
    pub sha256: String,
    /// For sources in git: the commit the rockspec's tag or branch named when locked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Names of the locked packages it depends on.
    #[serde(default)]
    pub dependencies: Vec<PackageName>,
    /// Only needed by dev-dependencies.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dev: bool,
}

impl LockedPackage {
    /// The file's URL.
    pub fn url(&self) -> String {
        format!("{}/{}", self.server.trim_end_matches('/'), self.file)
    }
}

impl Lockfile {
    /// Parses and checks `text`, read from `file`.
    pub fn parse(text: &str, file: &Path) -> Result<Lockfile, FileError> {
        let lock: Lockfile =
            toml::from_str(text).map_err(|e| FileError::new(file, toml_message(&e)))?;
        if lock.version != LOCK_VERSION {
            return Err(FileError::new(
                file,
                format!(
                    "key 'version': this pylua reads lock format {LOCK_VERSION}, the file has {}; locking again rewrites it",
                    lock.version
                ),
            )
            .with_hint(crate::hint::Hint::Lock));
        }
        for (k, _) in lock.requirements.iter().chain(&lock.dev_requirements) {
            PackageName::parse(k)
                .map_err(|e| FileError::new(file, format!("requirements: {e}")))?;
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, p) in lock.packages.iter().enumerate() {
            let key = format!("package[{i}]");
            if !seen.insert(p.name.as_str()) {
                return Err(FileError::new(
                    file,
                    format!("{key}: '{}' is locked twice", p.name),
                ));
            }
            crate::packages::version::Version::parse(&p.version)
                .map_err(|e| FileError::new(file, format!("{key}.version: {}", e.message)))?;
            if p.sha256.len() != 64 || !p.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(FileError::new(
                    file,
                    format!(
                        "{key}.sha256: expected 64 hex digits, found \"{}\"",
                        p.sha256
                    ),
                ));
            }
            if let Some(commit) = &p.commit {
                crate::packages::git::CommitId::parse(commit)
                    .map_err(|e| FileError::new(file, format!("{key}.commit: {e}")))?;
            }
            // A lock records servers as URLs (a local directory as `file://…`).
            if !["http://", "https://", "file://"]
                .iter()
                .any(|s| p.server.starts_with(s))
            {
                return Err(FileError::new(
                    file,
                    format!(
                        "{key}.server: expected an http://, https:// or file:// URL, found {}",
                        crate::packages::names::quote(&p.server)
                    ),
                ));
            }
            crate::packages::server::Server::new(&p.server)
                .map_err(|e| FileError::new(file, format!("{key}.server: {e}")))?;
            if p.file.contains('/')
                || p.file.contains('\\')
                || p.file.chars().any(char::is_control)
                || p.file.is_empty()
                || p.file == "."
                || p.file == ".."
            {
                return Err(FileError::new(
                    file,
                    format!(
                        "{key}.file: expected a file name on the server, found \"{}\"",
                        p.file
                    ),
                ));
            }
        }
        for p in &lock.packages {
            if let Some(missing) = p.dependencies.iter().find(|d| !seen.contains(d.as_str())) {
                return Err(FileError::new(
                    file,
                    format!("'{}' depends on '{missing}', which is not locked", p.name),
                ));
            }
        }
        Ok(lock)
    }

    /// The text written to `pylua.lock`: the same lock always gives the same bytes.
    pub fn render(&self) -> String {
        let mut sorted = self.clone();
        sorted.packages.sort_by(|a, b| a.name.cmp(&b.name));
        for p in &mut sorted.packages {
            p.dependencies.sort();
            p.dependencies.dedup();
        }
        let body = toml::to_string(&sorted).expect("a lock always serializes");
        format!("{HEADER}{body}")
    }

    pub fn package(&self, name: &str) -> Option<&LockedPackage> {
        self.packages.iter().find(|p| p.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Lockfile {
        Lockfile {
            version: LOCK_VERSION,
            lua: crate::interpreters::LuaVersion::Lua54,
            profile: Some("standard".into()),
            requirements: [("penlight".to_string(), ">= 1.13".to_string())].into(),
            dev_requirements: BTreeMap::new(),
            packages: vec![
                LockedPackage {
                    name: PackageName::parse("penlight").unwrap(),
                    version: "1.14.0-1".into(),
                    server: "file:///srv/rocks".into(),
                    file: "penlight-1.14.0-1.src.rock".into(),
                    sha256: "a".repeat(64),
                    commit: None,
                    dependencies: vec![PackageName::parse("luafilesystem").unwrap()],
                    dev: false,
                },
                LockedPackage {
                    name: PackageName::parse("luafilesystem").unwrap(),
                    version: "1.8.0-1".into(),
                    server: "file:///srv/rocks".into(),
                    file: "luafilesystem-1.8.0-1.src.rock".into(),
                    sha256: "b".repeat(64),
                    commit: Some("c".repeat(40)),
                    dependencies: vec![],
                    dev: true,
                },
            ],
        }
    }

    #[test]
    fn round_trips_in_a_fixed_order() {
        let text = sample().render();
        let back = Lockfile::parse(&text, Path::new("pylua.lock")).unwrap();
        assert_eq!(back.render(), text);
        assert!(
            text.find("name = \"luafilesystem\"").unwrap()
                < text.find("name = \"penlight\"").unwrap()
        );
        assert_eq!(
            back.package("penlight").unwrap().url(),
            "file:///srv/rocks/penlight-1.14.0-1.src.rock"
        );
    }

    #[test]
    fn damaged_locks_are_refused_with_the_key() {
        let text = sample().render();
        let check = |t: String, want: &str| {
            let e = Lockfile::parse(&t, Path::new("pylua.lock"))
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("pylua.lock: ") && e.contains(want), "{e}");
        };
        check(text.replace(&"a".repeat(64), "abc"), "package[1].sha256");
        check(
            text.replace("version = 1\n", "version = 7\n"),
            "lock format 1",
        );
        check(
            text.replace(
                "dependencies = [\"luafilesystem\"]",
                "dependencies = [\"nope\"]",
            ),
            "'nope'",
        );
        check(text.replace("[[package]]", "[[package]\n"), "invalid TOML");
        check(text.replace("\"1.14.0-1\"", "\"\""), "package[1].version");
    }
}
