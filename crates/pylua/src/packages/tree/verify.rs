//! Checking installed files against the md5 each rock's `rock_manifest` records (what
//! LuaRocks writes, and what `doctor` and `audit` read): changed and missing files, by
//! package. The `rock_manifest` is data on disk: a name that is not one path component is
//! an error, never a way out of the tree.

use super::{InstalledRock, Tree};
use crate::packages::manifest::{ServerManifest, Value};
use md5::{Digest, Md5};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What is wrong with one installed file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum FileProblem {
    Changed {
        path: String,
    },
    Missing {
        path: String,
    },
    /// The rock's `rock_manifest` itself cannot be read.
    Unreadable {
        path: String,
        why: String,
    },
}

impl std::fmt::Display for FileProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileProblem::Changed { path } => write!(f, "{path} was changed"),
            FileProblem::Missing { path } => write!(f, "{path} is missing"),
            FileProblem::Unreadable { path, why } => write!(f, "{path}: {why}"),
        }
    }
}

/// The result of checking a tree.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Verification {
    /// How many files were checked.
    pub files: usize,
    /// Package name → its damaged files; only packages with problems.
    pub damaged: BTreeMap<String, Vec<FileProblem>>,
}

/// Checks every file of every package in `installed`.
pub fn verify(tree: &Tree, installed: &BTreeMap<String, InstalledRock>) -> Verification {
    let mut out = Verification::default();
    for rock in installed.values() {
        let mut problems = Vec::new();
        match manifest_files(tree, rock) {
            Ok(list) => {
                for (path, md5) in list {
                    out.files += 1;
                    let shown = shown(tree, &path);
                    match md5_hex(&path) {
                        None => problems.push(FileProblem::Missing { path: shown }),
                        Some(actual) if !actual.eq_ignore_ascii_case(&md5) => {
                            problems.push(FileProblem::Changed { path: shown })
                        }
                        Some(_) => {}
                    }
                }
            }
            Err((path, why)) => problems.push(FileProblem::Unreadable {
                path: shown(tree, &path),
                why,
            }),
        }
        if !problems.is_empty() {
            out.damaged.insert(rock.name.clone(), problems);
        }
    }
    out
}

/// `rock_manifest`'s files: path in the tree → md5. Sections `lua` and `lib` are the module
/// directories; the rest (the rockspec, `bin`, docs) live in the rock's own directory.
fn manifest_files(
    tree: &Tree,
    rock: &InstalledRock,
) -> Result<Vec<(PathBuf, String)>, (PathBuf, String)> {
    let dir = tree.rock_dir(&rock.name, &rock.version);
    let path = dir.join("rock_manifest");
    let fail = |why: String| (path.clone(), why);
    let bytes = std::fs::read(&path).map_err(|e| fail(e.to_string()))?;
    let value = ServerManifest::parse_global(&bytes, "rock_manifest")
        .map_err(|e| fail(e.to_string()))?
        .ok_or_else(|| fail("no rock_manifest table".into()))?;
    let Value::Table(top) = value else {
        return Err(fail("rock_manifest is not a table".into()));
    };
    let mut out = Vec::new();
    for (key, value) in &top.fields {
        let Some(key) = key.as_str() else { continue };
        let base = match key {
            "lua" => tree.lua_dir(),
            "lib" => tree.lib_dir(),
            other if is_component(other) => dir.join(other),
            other => return Err(fail(format!("it names the file {other:?}"))),
        };
        walk(&base, value, &mut out).map_err(fail)?;
    }
    Ok(out)
}

fn is_component(name: &str) -> bool {
    !(name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']))
}

fn walk(base: &Path, value: &Value, out: &mut Vec<(PathBuf, String)>) -> Result<(), String> {
    match value {
        Value::String(md5) => out.push((base.to_path_buf(), md5.clone())),
        Value::Table(t) => {
            for (k, v) in &t.fields {
                let name = k.as_str().unwrap_or_default();
                if !is_component(name) {
                    return Err(format!("it names the file {name:?}"));
                }
                walk(&base.join(name), v, out)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn md5_hex(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    Some(
        Md5::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    )
}

fn shown(tree: &Tree, path: &Path) -> String {
    path.strip_prefix(tree.root())
        .unwrap_or(path)
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packages::version::Version;

    fn rock(name: &str) -> InstalledRock {
        InstalledRock {
            name: name.into(),
            version: Version::parse("1.0-1").unwrap(),
            modules: BTreeMap::new(),
            commands: BTreeMap::new(),
            dependencies: BTreeMap::new(),
            constraints: Vec::new(),
        }
    }

    #[test]
    fn changed_missing_and_hostile_manifests_are_named_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let tree = Tree::new(dir.path().join("tree"), "5.4");
        std::fs::create_dir_all(tree.lua_dir()).unwrap();
        std::fs::write(tree.lua_dir().join("a.lua"), "return 1").unwrap();
        let a_md5 = md5_hex(&tree.lua_dir().join("a.lua")).unwrap();
        let cases = [
            (
                "good",
                format!("rock_manifest = {{ lua = {{ [\"a.lua\"] = \"{a_md5}\" }} }}"),
            ),
            (
                "changed",
                "rock_manifest = { lua = { [\"a.lua\"] = \"00\" } }".to_string(),
            ),
            (
                "missing",
                "rock_manifest = { lua = { [\"gone.lua\"] = \"00\" } }".to_string(),
            ),
            (
                "climbing",
                "rock_manifest = { lua = { [\"..\"] = { x = \"00\" } } }".to_string(),
            ),
            (
                "slash",
                "rock_manifest = { [\"../../etc\"] = \"00\" }".to_string(),
            ),
            ("garbage", "rock_manifest = os.execute('true')".to_string()),
        ];
        let mut installed = BTreeMap::new();
        for (name, text) in &cases {
            let r = rock(name);
            let rd = tree.rock_dir(name, &r.version);
            std::fs::create_dir_all(&rd).unwrap();
            std::fs::write(rd.join("rock_manifest"), text).unwrap();
            installed.insert(name.to_string(), r);
        }
        let v = verify(&tree, &installed);
        assert!(!v.damaged.contains_key("good"));
        assert!(matches!(
            v.damaged["changed"][0],
            FileProblem::Changed { .. }
        ));
        assert!(matches!(
            v.damaged["missing"][0],
            FileProblem::Missing { .. }
        ));
        for hostile in ["climbing", "slash", "garbage"] {
            assert!(
                matches!(v.damaged[hostile][0], FileProblem::Unreadable { .. }),
                "{hostile}: {:?}",
                v.damaged[hostile]
            );
        }
    }
}
