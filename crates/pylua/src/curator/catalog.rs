//! The curated catalog: packages chosen with judgement — name, category, summary, recommended
//! constraint, supported Lua versions, pure Lua or native, what they pair with and their
//! alternatives — from the file shipped inside pylua plus the user's own catalog files (same
//! format), which add entries or replace them by name. Every entry is checked on load.

use super::profiles::ProfileSpec;
use crate::packages::version::Constraints;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The catalog shipped with pylua.
pub const BUILTIN: &str = include_str!("catalog.toml");
/// Where built-in entries say they come from.
pub const BUILTIN_SOURCE: &str = "built-in";

pub const CATEGORIES: [&str; 8] = [
    "core",
    "networking",
    "parsing",
    "testing",
    "data",
    "security",
    "utility",
    "web",
];
const LUA_APIS: [&str; 4] = ["5.1", "5.2", "5.3", "5.4"];

/// One curated package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CatalogEntry {
    pub name: String,
    pub category: String,
    pub summary: String,
    /// The LuaRocks constraint we recommend.
    pub constraint: String,
    /// Lua versions it supports (`5.1`…`5.4`; LuaJIT counts as 5.1).
    pub lua: Vec<String>,
    /// Needs a C compiler (and maybe a system library) to build.
    pub native: bool,
    #[serde(default)]
    pub pairs_with: Vec<String>,
    #[serde(default)]
    pub alternatives: Vec<String>,
    /// The catalog file it came from (`built-in` for pylua's own).
    #[serde(default, skip_deserializing)]
    pub source: String,
}

/// The file format: entries and profiles.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    #[serde(default)]
    package: Vec<CatalogEntry>,
    #[serde(default)]
    profile: BTreeMap<String, ProfileSpec>,
}

/// A catalog that could not be read, naming the file, the entry and what is expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {message}")]
pub struct CatalogError {
    pub file: String,
    pub message: String,
}

/// The built-in catalog and the user's, merged.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    entries: BTreeMap<String, CatalogEntry>,
    /// Profiles defined in catalog files, with the file they came from.
    pub(crate) profiles: BTreeMap<String, (ProfileSpec, String)>,
}

impl Catalog {
    /// The catalog shipped with pylua (its validity is checked by a unit test).
    pub fn builtin() -> Catalog {
        static PARSED: std::sync::OnceLock<Catalog> = std::sync::OnceLock::new();
        PARSED
            .get_or_init(|| {
                let mut catalog = Catalog::default();
                catalog
                    .add_file(BUILTIN, BUILTIN_SOURCE)
                    .expect("the shipped catalog is valid");
                catalog
            })
            .clone()
    }

    /// The built-in catalog plus `user_catalogs`, in order (later files win by name).
    pub fn load(user_catalogs: &[PathBuf]) -> Result<Catalog, CatalogError> {
        let mut catalog = Catalog::builtin();
        for path in user_catalogs {
            let text = std::fs::read_to_string(path).map_err(|e| CatalogError {
                file: path.display().to_string(),
                message: format!("cannot read this catalog: {e}"),
            })?;
            catalog.add_file(&text, &path.display().to_string())?;
        }
        Ok(catalog)
    }

    fn add_file(&mut self, text: &str, source: &str) -> Result<(), CatalogError> {
        let err = |message: String| CatalogError {
            file: source.to_string(),
            message,
        };
        let file: CatalogFile =
            toml::from_str(text).map_err(|e| err(crate::project::file::toml_message(&e)))?;
        let mut added = Vec::new();
        for (i, mut entry) in file.package.into_iter().enumerate() {
            check_entry(&entry).map_err(|m| {
                let name = match crate::packages::names::PackageName::parse(&entry.name) {
                    Ok(_) => entry.name.clone(),
                    Err(_) => crate::packages::names::quote(&entry.name),
                };
                err(format!("package[{i}] ({name}): {m}"))
            })?;
            entry.source = source.to_string();
            added.push(entry.name.clone());
            self.entries.insert(entry.name.clone(), entry);
        }
        for name in &added {
            let entry = &self.entries[name];
            for (field, names) in [
                ("pairs-with", &entry.pairs_with),
                ("alternatives", &entry.alternatives),
            ] {
                if let Some(unknown) = names.iter().find(|n| !self.entries.contains_key(*n)) {
                    return Err(err(format!(
                        "package '{name}': {field} names '{unknown}', which is not in the catalog"
                    )));
                }
            }
        }
        for (name, spec) in file.profile {
            self.profiles.insert(name, (spec, source.to_string()));
        }
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&CatalogEntry> {
        self.entries.get(name)
    }

    /// Every entry, by name.
    pub fn entries(&self) -> impl Iterator<Item = &CatalogEntry> {
        self.entries.values()
    }
}

fn check_entry(e: &CatalogEntry) -> Result<(), String> {
    crate::packages::names::PackageName::parse(&e.name).map_err(|x| format!("name: {x}"))?;
    if e.name.chars().any(|c| c.is_ascii_uppercase()) {
        return Err("name: expected a lower-case LuaRocks package name".into());
    }
    if !CATEGORIES.contains(&e.category.as_str()) {
        return Err(format!(
            "category: expected one of {}, found \"{}\"",
            CATEGORIES.join(", "),
            e.category
        ));
    }
    Constraints::parse(&e.constraint).map_err(|x| {
        format!(
            "constraint: expected a LuaRocks constraint such as \">= 1.0\", found \"{}\" ({})",
            e.constraint, x.message
        )
    })?;
    if e.lua.is_empty() {
        return Err("lua: expected at least one of 5.1, 5.2, 5.3, 5.4".into());
    }
    if let Some(bad) = e.lua.iter().find(|v| !LUA_APIS.contains(&v.as_str())) {
        return Err(format!(
            "lua: expected 5.1, 5.2, 5.3 or 5.4, found \"{bad}\""
        ));
    }
    if e.summary.trim().is_empty() {
        return Err("summary: expected a sentence saying what it is for".into());
    }
    Ok(())
}

/// Reads one catalog file on its own (for `pylua catalog check FILE`-style validation).
pub fn check_file(path: &Path) -> Result<usize, CatalogError> {
    let catalog = Catalog::load(&[path.to_path_buf()])?;
    Ok(catalog
        .entries()
        .filter(|e| e.source == path.display().to_string())
        .count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_catalog_is_valid_and_has_what_it_promises() {
        let mut c = Catalog::default();
        c.add_file(BUILTIN, BUILTIN_SOURCE).unwrap();
        let wanted = [
            ("lua-cjson", "core"),
            ("luafilesystem", "core"),
            ("penlight", "core"),
            ("inspect", "core"),
            ("luasocket", "networking"),
            ("luasec", "networking"),
            ("http", "networking"),
            ("lpeg", "parsing"),
            ("lua-parser", "parsing"),
            ("busted", "testing"),
            ("luassert", "testing"),
        ];
        for (name, category) in wanted {
            assert_eq!(
                c.get(name).map(|e| e.category.as_str()),
                Some(category),
                "{name}"
            );
        }
        for category in CATEGORIES {
            assert!(
                c.entries().any(|e| e.category == category),
                "{category} is empty"
            );
        }
        assert_eq!(c.get("penlight").unwrap().source, "built-in");
    }

    #[test]
    fn bad_entries_name_the_file_entry_and_expectation() {
        let dir = tempfile::tempdir().unwrap();
        let write = |text: &str| {
            let p = dir.path().join("mine.toml");
            std::fs::write(&p, text).unwrap();
            Catalog::load(&[p]).unwrap_err().to_string()
        };
        let entry = |extra: &str| {
            format!("[[package]]\nname = \"x\"\ncategory = \"core\"\nsummary = \"s\"\nconstraint = \">= 1\"\nlua = [\"5.4\"]\nnative = false\n{extra}")
        };
        let e = write(&entry("").replace("core", "games"));
        assert!(
            e.contains("mine.toml: package[0] (x): category: expected one of core"),
            "{e}"
        );
        let e = write(&entry("").replace("\"5.4\"", "\"5.9\""));
        assert!(
            e.contains("lua: expected 5.1, 5.2, 5.3 or 5.4, found \"5.9\""),
            "{e}"
        );
        let e = write(&entry("alternatives = [\"nope\"]\n"));
        assert!(e.contains("alternatives names 'nope'"), "{e}");
        let e = write(&entry("").replace(">= 1", ">= 1 <<"));
        assert!(
            e.contains("constraint: expected a LuaRocks constraint"),
            "{e}"
        );
        let e = write(&entry("colour = 1\n"));
        assert!(e.contains("colour"), "{e}");
        let missing = Catalog::load(&[dir.path().join("absent.toml")]).unwrap_err();
        assert!(missing.to_string().contains("absent.toml: cannot read"));
    }

    #[test]
    fn user_catalogs_add_and_replace_entries() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mine.toml");
        std::fs::write(&p, "[[package]]\nname = \"inspect\"\ncategory = \"utility\"\nsummary = \"ours\"\nconstraint = \">= 3.1.3\"\nlua = [\"5.4\"]\nnative = false\n\n[[package]]\nname = \"mylib\"\ncategory = \"web\"\nsummary = \"in house\"\nconstraint = \"\"\nlua = [\"5.4\"]\nnative = false\npairs-with = [\"penlight\"]\n").unwrap();
        let c = Catalog::load(std::slice::from_ref(&p)).unwrap();
        assert_eq!(c.get("inspect").unwrap().summary, "ours");
        assert_eq!(c.get("mylib").unwrap().source, p.display().to_string());
        assert_eq!(check_file(&p).unwrap(), 2);
    }
}
