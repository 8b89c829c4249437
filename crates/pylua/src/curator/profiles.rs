//! Profiles: named sets of catalog packages a project starts from — the built-in `minimal`,
//! `standard`, `development`, `production`, `networking` and `full`, any defined in user
//! catalogs, and the user's own from the global config. A profile may extend another; its
//! packages take the catalog's recommended constraint unless written `name@constraint`.

use super::catalog::Catalog;
use crate::packages::index::ServerIndex;
use crate::packages::version::Constraints;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A profile as written in a catalog or in `config.toml` (`[profiles.NAME]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ProfileSpec {
    #[serde(default)]
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extends: Option<String>,
    #[serde(default)]
    pub packages: Vec<String>,
}

/// A profile with where it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Profile {
    pub name: String,
    pub description: String,
    pub extends: Option<String>,
    pub packages: Vec<String>,
    /// `built-in`, a catalog file, or `config` (the user's own).
    pub source: String,
    pub builtin: bool,
}

/// One package a profile asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Requirement {
    pub name: String,
    /// LuaRocks syntax; `""` means any version.
    pub constraint: String,
}

/// A profile's packages for one Lua version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProfileExpansion {
    /// Sorted by name.
    pub requirements: Vec<Requirement>,
    /// Packages left out, with why (they do not support that Lua).
    pub skipped: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    #[error("unknown profile '{name}' (known: {known})")]
    Unknown { name: String, known: String },
    #[error("profile '{profile}' ({source_file}): {message}")]
    Invalid {
        profile: String,
        source_file: String,
        message: String,
    },
}

/// Every profile the user can pick.
#[derive(Debug, Clone)]
pub struct Profiles {
    profiles: BTreeMap<String, Profile>,
    catalog: Catalog,
}

impl Profiles {
    /// The catalog's profiles plus the user's (`user`, from the global config).
    pub fn new(catalog: &Catalog, user: &BTreeMap<String, ProfileSpec>) -> Profiles {
        let mut profiles = BTreeMap::new();
        for (name, (spec, source)) in &catalog.profiles {
            profiles.insert(
                name.clone(),
                profile(name, spec, source, source == super::catalog::BUILTIN_SOURCE),
            );
        }
        for (name, spec) in user {
            profiles.insert(name.clone(), profile(name, spec, "config", false));
        }
        Profiles {
            profiles,
            catalog: catalog.clone(),
        }
    }

    pub fn list(&self) -> Vec<&Profile> {
        self.profiles.values().collect()
    }

    pub fn get(&self, name: &str) -> Result<&Profile, ProfileError> {
        self.profiles
            .get(name)
            .ok_or_else(|| ProfileError::Unknown {
                name: name.to_string(),
                known: self.profiles.keys().cloned().collect::<Vec<_>>().join(", "),
            })
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The packages of `name` (following `extends`) for a project on `lua` (`5.1`…`5.4` or
    /// `luajit`), with the catalog's constraints unless the profile overrides them.
    pub fn expand(&self, name: &str, lua: &str) -> Result<ProfileExpansion, ProfileError> {
        let api = if lua == "luajit" { "5.1" } else { lua };
        let mut chain = Vec::new();
        let mut next = Some(name.to_string());
        while let Some(n) = next {
            if chain.contains(&n) {
                chain.push(n);
                return Err(ProfileError::Invalid {
                    profile: name.to_string(),
                    source_file: self.get(name)?.source.clone(),
                    message: format!("`extends` goes round in a circle: {}", chain.join(" -> ")),
                });
            }
            // A missing parent is a fault of the profile that names it, not an unknown name.
            let p = match (self.get(&n), chain.last()) {
                (Ok(p), _) => p,
                (Err(e), None) => return Err(e),
                (Err(_), Some(child)) => {
                    let child = &self.profiles[child];
                    return Err(ProfileError::Invalid {
                        profile: child.name.clone(),
                        source_file: child.source.clone(),
                        message: format!(
                            "`extends` names '{n}', which is not a profile (known: {})",
                            self.profiles.keys().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    });
                }
            };
            next = p.extends.clone();
            chain.push(n);
        }
        let mut wanted: BTreeMap<String, String> = BTreeMap::new();
        for n in chain.iter().rev() {
            let p = &self.profiles[n];
            for item in &p.packages {
                let (pkg, constraint) = match item.split_once('@') {
                    Some((pkg, c)) => (pkg.trim(), Some(c.trim().to_string())),
                    None => (item.trim(), None),
                };
                let invalid = |message: String| ProfileError::Invalid {
                    profile: n.clone(),
                    source_file: p.source.clone(),
                    message,
                };
                let entry = self
                    .catalog
                    .get(pkg)
                    .ok_or_else(|| invalid(format!("'{pkg}' is not in the catalog")))?;
                let constraint = constraint.unwrap_or_else(|| entry.constraint.clone());
                Constraints::parse(&constraint)
                    .map_err(|e| invalid(format!("'{item}': invalid constraint: {}", e.message)))?;
                wanted.insert(pkg.to_string(), constraint);
            }
        }
        let mut out = ProfileExpansion::default();
        for (pkg, constraint) in wanted {
            let entry = self.catalog.get(&pkg).expect("checked above");
            if entry.lua.iter().any(|v| v == api) {
                out.requirements.push(Requirement {
                    name: pkg,
                    constraint,
                });
            } else {
                out.skipped
                    .push((pkg, format!("supports Lua {} only", entry.lua.join(", "))));
            }
        }
        Ok(out)
    }
}

fn profile(name: &str, spec: &ProfileSpec, source: &str, builtin: bool) -> Profile {
    Profile {
        name: name.to_string(),
        description: spec.description.clone(),
        extends: spec.extends.clone(),
        packages: spec.packages.clone(),
        source: source.to_string(),
        builtin,
    }
}

/// Whether the servers behind `index` offer each required package at a version its
/// constraint accepts: `None` when they do, else why not.
pub fn availability(
    expansion: &ProfileExpansion,
    index: &ServerIndex,
) -> Vec<(String, Option<String>)> {
    let servers: Vec<&str> = index.servers().iter().map(|s| s.url()).collect();
    expansion
        .requirements
        .iter()
        .map(|r| {
            let entries = index.entries(&r.name);
            let why = if entries.is_empty() {
                Some(format!("not on {}", servers.join(", ")))
            } else {
                let constraints = Constraints::parse(&r.constraint).unwrap_or_default();
                (!entries.iter().any(|e| constraints.matches(&e.version))).then(|| {
                    let versions: Vec<String> = entries
                        .iter()
                        .take(5)
                        .map(|e| e.version.to_string())
                        .collect();
                    format!(
                        "the profile asks for {}; the servers have {}",
                        r.constraint,
                        versions.join(", ")
                    )
                })
            };
            (r.name.clone(), why)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(e: &ProfileExpansion) -> Vec<&str> {
        e.requirements.iter().map(|r| r.name.as_str()).collect()
    }

    #[test]
    fn builtin_profiles_expand_over_the_catalog() {
        let p = Profiles::new(&Catalog::builtin(), &BTreeMap::new());
        for name in [
            "minimal",
            "standard",
            "full",
            "development",
            "production",
            "networking",
        ] {
            let profile = p.get(name).unwrap();
            assert!(profile.builtin && !profile.description.is_empty());
            assert!(
                !p.expand(name, "5.4").unwrap().requirements.is_empty(),
                "{name}"
            );
        }
        assert_eq!(
            names(&p.expand("standard", "5.4").unwrap()),
            ["inspect", "lua-cjson", "luafilesystem", "penlight"]
        );
        let minimal = p.expand("minimal", "5.4").unwrap();
        assert!(!names(&minimal).contains(&"penlight") && !names(&minimal).contains(&"lua-cjson"));
        let dev = p.expand("development", "luajit").unwrap();
        assert!(names(&dev).contains(&"busted") && names(&dev).contains(&"penlight"));
        let penlight = &dev
            .requirements
            .iter()
            .find(|r| r.name == "penlight")
            .unwrap()
            .constraint;
        assert_eq!(penlight, ">= 1.13");
    }

    #[test]
    fn user_profiles_extend_override_and_fail_clearly() {
        let spec = |extends: Option<&str>, packages: &[&str]| ProfileSpec {
            description: "mine".into(),
            extends: extends.map(String::from),
            packages: packages.iter().map(|s| s.to_string()).collect(),
        };
        let mut user = BTreeMap::new();
        user.insert(
            "web".to_string(),
            spec(Some("standard"), &["etlua", "penlight@>= 1.14"]),
        );
        user.insert("loop-a".to_string(), spec(Some("loop-b"), &[]));
        user.insert("loop-b".to_string(), spec(Some("loop-a"), &[]));
        user.insert("typo".to_string(), spec(None, &["penlite"]));
        let p = Profiles::new(&Catalog::builtin(), &user);
        let web = p.expand("web", "5.4").unwrap();
        assert!(names(&web).contains(&"etlua") && names(&web).contains(&"lua-cjson"));
        assert_eq!(
            web.requirements
                .iter()
                .find(|r| r.name == "penlight")
                .unwrap()
                .constraint,
            ">= 1.14"
        );
        assert_eq!(p.get("web").unwrap().source, "config");
        let e = p.expand("loop-a", "5.4").unwrap_err().to_string();
        assert!(e.contains("loop-a -> loop-b -> loop-a"), "{e}");
        let e = p.expand("typo", "5.4").unwrap_err().to_string();
        assert!(
            e.contains("profile 'typo' (config): 'penlite' is not in the catalog"),
            "{e}"
        );
        let e = p.expand("nonesuch", "5.4").unwrap_err().to_string();
        assert!(
            e.contains("unknown profile 'nonesuch'") && e.contains("standard"),
            "{e}"
        );
        // A profile whose parent is missing names itself and its parent (this panicked
        // in `pylua profile show`, which took any unknown-profile error as its own name's).
        user.insert("orphan".to_string(), spec(Some("gone"), &[]));
        let p = Profiles::new(&Catalog::builtin(), &user);
        let e = p.expand("orphan", "5.4").unwrap_err();
        assert!(matches!(e, ProfileError::Invalid { .. }), "{e:?}");
        assert!(
            e.to_string().contains(
                "profile 'orphan' (config): `extends` names 'gone', which is not a profile"
            ),
            "{e}"
        );
    }
}
