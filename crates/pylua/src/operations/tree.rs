//! Operations on an installed tree: `list`, `remove`, `path`, `which`.

use crate::packages::tree::{InstalledRock, Tree, TreeError};
use serde::Serialize;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum TreeOpError {
    #[error(transparent)]
    Tree(#[from] TreeError),
    #[error("{0}")]
    NotInstalled(String),
    #[error("{0}")]
    InUse(String),
}

impl TreeOpError {
    pub fn kind(&self) -> &'static str {
        match self {
            TreeOpError::Tree(_) => "tree",
            TreeOpError::NotInstalled(_) => "not_found",
            TreeOpError::InUse(_) => "in_use",
        }
    }
}

/// The tree to use when none is named: inside a project (found from `cwd` upwards) its
/// `.pylua/`, elsewhere the per-user tree in pylua's data directory (like `luarocks --local`).
pub fn default_root(cwd: &std::path::Path) -> PathBuf {
    crate::project::Project::find(cwd)
        .map(|p| p.tree_dir())
        .unwrap_or_else(|| crate::paths::Paths::data_dir().join("tree"))
}

/// Everything installed in `tree`, by name.
pub fn list(tree: &Tree) -> Result<Vec<InstalledRock>, TreeOpError> {
    Ok(tree.read()?.into_values().collect())
}

/// Removes `names` from the tree in one transaction. Refuses while another installed
/// package depends on one of them, unless `force`.
pub fn remove(
    tree: &Tree,
    names: &[String],
    force: bool,
) -> Result<Vec<InstalledRock>, TreeOpError> {
    let lock = tree.lock()?;
    let installed = tree.installed()?;
    let mut removing = Vec::new();
    for name in names {
        let key = name.to_ascii_lowercase();
        let rock = installed.get(&key).ok_or_else(|| {
            TreeOpError::NotInstalled(format!(
                "{name} is not installed in {}",
                tree.root().display()
            ))
        })?;
        removing.push(rock.clone());
    }
    if !force {
        for rock in &removing {
            let users: Vec<String> = installed
                .values()
                .filter(|other| other.dependencies.contains_key(&rock.name))
                .filter(|other| !removing.iter().any(|r| r.name == other.name))
                .map(|other| format!("{} {}", other.name, other.version))
                .collect();
            if !users.is_empty() {
                return Err(TreeOpError::InUse(format!(
                    "cannot remove {} {}: {} depend{} on it (remove {} too, or use --force)",
                    rock.name,
                    rock.version,
                    users.join(", "),
                    if users.len() == 1 { "s" } else { "" },
                    if users.len() == 1 { "it" } else { "them" },
                )));
            }
        }
    }
    let mut txn = tree.transaction(&lock);
    for rock in &removing {
        txn.remove(rock.clone());
    }
    txn.commit()?;
    Ok(removing)
}

/// Shell lines that make `lua` and scripts see the tree, like `luarocks path`.
#[derive(Debug, Clone, Serialize)]
pub struct ShellPaths {
    pub lua_path: String,
    pub lua_cpath: String,
    pub bin: String,
}

pub fn path(tree: &Tree) -> ShellPaths {
    ShellPaths {
        lua_path: format!("{};;", tree.package_path()),
        lua_cpath: format!("{};;", tree.package_cpath()),
        bin: tree.bin_dir().display().to_string(),
    }
}

/// Where a module comes from.
#[derive(Debug, Clone, Serialize)]
pub struct ModuleLocation {
    pub module: String,
    pub package: String,
    pub version: String,
    pub file: PathBuf,
}

/// The file `require(module)` loads from the tree: the module itself, else its `init` file
/// (the tree manifest names `a/init.lua` `a.init`, as LuaRocks does).
pub fn which(tree: &Tree, module: &str) -> Result<ModuleLocation, TreeOpError> {
    let rocks = tree.read()?;
    let init = format!("{module}.init");
    let found = [module, init.as_str()].into_iter().find_map(|name| {
        rocks
            .values()
            .find_map(|rock| rock.modules.get(name).map(|rel| (rock, rel)))
    });
    if let Some((rock, rel)) = found {
        let base = if rel.ends_with(".lua") {
            tree.lua_dir()
        } else {
            tree.lib_dir()
        };
        return Ok(ModuleLocation {
            module: module.to_string(),
            package: rock.name.clone(),
            version: rock.version.to_string(),
            file: base.join(rel),
        });
    }
    Err(TreeOpError::NotInstalled(format!(
        "no installed package in {} provides module '{module}'",
        tree.root().display()
    )))
}
