//! Rocks trees in the LuaRocks layout — `share/lua/5.x`, `lib/lua/5.x`, `bin/`,
//! `lib/luarocks/rocks-5.x/NAME/VERSION/` with the rockspec and `rock_manifest`, and the tree
//! `manifest` — so LuaRocks itself can list and use them.
//!
//! Changes go through a [`Transaction`]: files are staged inside the tree, a journal lists
//! every move, old files go to a trash directory, new files are renamed into place, and
//! deleting the journal is the commit point. A process killed at any moment leaves a journal
//! behind; the next [`Tree::lock`] rolls it back, so the tree is always as it was before or as
//! it is after a change. An exclusive file lock serialises pylua processes on one tree.

use super::cache::{hex, write_atomic};
use super::manifest::{ServerManifest, Table, Value as MValue};
use super::rockspec::Dependency;
use super::version::{Constraints, Version};
use fs4::fs_std::FileExt;
use md5::{Digest, Md5};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    #[error("{path}: the tree manifest is damaged: {message}")]
    ServerManifest { path: String, message: String },
    #[error("{0}")]
    Conflict(String),
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> TreeError {
    TreeError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// A package installed in a tree, as its manifest records it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InstalledRock {
    pub name: String,
    pub version: Version,
    /// module → path relative to the Lua or C module directory.
    pub modules: BTreeMap<String, String>,
    /// command → script name.
    pub commands: BTreeMap<String, String>,
    /// Resolved dependencies: name → version installed for it.
    pub dependencies: BTreeMap<String, String>,
    /// The rockspec's dependencies with their constraints.
    pub constraints: Vec<Dependency>,
}

/// A rocks tree for one Lua version.
#[derive(Debug, Clone)]
pub struct Tree {
    root: PathBuf,
    lua_version: String,
}

const TXN_DIR: &str = ".pylua-txn";
const LOCK_FILE: &str = ".pylua-lock";
/// The pylua executable that last installed into the tree, one line: the last resort of the
/// command wrappers in `bin/`, so `.pylua/bin/busted` works without `pylua` on `PATH`.
pub const LAUNCHER_FILE: &str = ".pylua-launcher";

impl Tree {
    pub fn new(root: impl Into<PathBuf>, lua_version: &str) -> Tree {
        let root = root.into();
        let root = if root.is_relative() {
            std::env::current_dir()
                .map(|d| d.join(&root))
                .unwrap_or(root)
        } else {
            root
        };
        Tree {
            root,
            lua_version: lua_version.to_string(),
        }
    }

    /// The tree at `root` in the layout it already has: the Lua version of its one
    /// `lib/luarocks/rocks-5.x` directory; 5.4 when it has none or several.
    pub fn detect(root: impl Into<PathBuf>) -> Tree {
        let root = root.into();
        let versions: Vec<String> = fs::read_dir(root.join("lib/luarocks"))
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter_map(|e| {
                        e.file_name()
                            .to_str()?
                            .strip_prefix("rocks-")
                            .filter(|v| ["5.1", "5.2", "5.3", "5.4"].contains(v))
                            .map(String::from)
                    })
                    .collect()
            })
            .unwrap_or_default();
        match versions.as_slice() {
            [only] => Tree::new(root, only),
            _ => Tree::new(root, "5.4"),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn lua_version(&self) -> &str {
        &self.lua_version
    }
    pub fn lua_dir(&self) -> PathBuf {
        self.root.join("share/lua").join(&self.lua_version)
    }
    pub fn lib_dir(&self) -> PathBuf {
        self.root.join("lib/lua").join(&self.lua_version)
    }
    pub fn bin_dir(&self) -> PathBuf {
        self.root.join("bin")
    }
    pub fn rocks_dir(&self) -> PathBuf {
        self.root
            .join("lib/luarocks")
            .join(format!("rocks-{}", self.lua_version))
    }
    pub fn rock_dir(&self, name: &str, version: &Version) -> PathBuf {
        self.rocks_dir().join(name).join(version.to_string())
    }
    fn manifest_path(&self) -> PathBuf {
        self.rocks_dir().join("manifest")
    }

    /// `package.path` entries for this tree.
    pub fn package_path(&self) -> String {
        let d = self.lua_dir();
        format!("{0}/?.lua;{0}/?/init.lua", d.display())
    }

    /// `package.cpath` entries for this tree.
    pub fn package_cpath(&self) -> String {
        format!("{}/?.so", self.lib_dir().display())
    }

    /// The installed packages, by name. A tree that does not exist yet is empty.
    pub fn installed(&self) -> Result<BTreeMap<String, InstalledRock>, TreeError> {
        let path = self.manifest_path();
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(e) => return Err(io_err(&path, e)),
        };
        let damaged = |message: String| TreeError::ServerManifest {
            path: path.display().to_string(),
            message,
        };
        let manifest = ServerManifest::parse_bytes(&bytes).map_err(|e| damaged(e.to_string()))?;
        let mut out = BTreeMap::new();
        for (name, versions) in &manifest.repository {
            for version_text in versions.keys() {
                let version = Version::parse(version_text).map_err(|e| damaged(e.message))?;
                let fields = manifest.fields(name, version_text, "installed");
                let map = |key: &str| -> BTreeMap<String, String> {
                    fields
                        .and_then(|f| f.get(key))
                        .and_then(MValue::as_table)
                        .map(string_fields)
                        .unwrap_or_default()
                };
                let constraints = manifest
                    .dependencies
                    .as_ref()
                    .and_then(|d| d.get(name))
                    .and_then(MValue::as_table)
                    .and_then(|t| t.get(version_text))
                    .and_then(MValue::as_table)
                    .map(read_constraints)
                    .unwrap_or_default();
                let modules = map("modules");
                let commands = map("commands");
                for rel in modules.values() {
                    super::names::RelativePath::parse(rel)
                        .map_err(|e| damaged(format!("{name} {version_text}: module file {e}")))?;
                }
                for command in commands.keys() {
                    let single = super::names::RelativePath::parse(command)
                        .is_ok_and(|p| !p.as_str().contains('/'));
                    if !single {
                        return Err(damaged(format!(
                            "{name} {version_text}: command {command:?} is not a file name"
                        )));
                    }
                }
                out.insert(
                    name.clone(),
                    InstalledRock {
                        name: name.clone(),
                        version,
                        modules,
                        commands,
                        dependencies: map("dependencies"),
                        constraints,
                    },
                );
            }
        }
        Ok(out)
    }

    /// The installed packages, for readers: if a killed process left a change half done,
    /// it is rolled back first (under the lock), so readers never see a half state.
    pub fn read(&self) -> Result<BTreeMap<String, InstalledRock>, TreeError> {
        if self.root.join(TXN_DIR).join("journal").exists() {
            let _lock = self.lock()?;
            return self.installed();
        }
        self.installed()
    }

    /// The script behind an installed command: `bin/NAME` inside the directory of the rock
    /// that provides it — the file the command's wrapper in the tree's `bin/` runs.
    pub fn command_script(&self, command: &str) -> Result<Option<PathBuf>, TreeError> {
        Ok(self.read()?.values().find_map(|r| {
            r.commands
                .get(command)
                .map(|script| self.rock_dir(&r.name, &r.version).join("bin").join(script))
        }))
    }

    /// Records the pylua executable the tree's command wrappers fall back to when neither
    /// `$PYLUA` nor `pylua` on `PATH` names one (see [`LAUNCHER_FILE`]). Not part of the
    /// tree's content: a project tree stays the same on every machine.
    pub fn record_launcher(&self, exe: &Path) -> Result<(), TreeError> {
        let path = self.root.join(LAUNCHER_FILE);
        let text = format!("{}\n", exe.display());
        if fs::read_to_string(&path).is_ok_and(|old| old == text) {
            return Ok(());
        }
        fs::create_dir_all(&self.root).map_err(|e| io_err(&self.root, e))?;
        write_atomic(&path, text.as_bytes()).map_err(|e| io_err(&path, e))
    }

    /// Takes the tree's exclusive lock (waiting for other pylua processes), creating the
    /// tree if needed, and rolls back any change a killed process left half done.
    pub fn lock(&self) -> Result<TreeLock, TreeError> {
        fs::create_dir_all(&self.root).map_err(|e| io_err(&self.root, e))?;
        let path = self.root.join(LOCK_FILE);
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| io_err(&path, e))?;
        file.lock_exclusive().map_err(|e| io_err(&path, e))?;
        recover(&self.root.join(TXN_DIR))?;
        Ok(TreeLock { _file: file })
    }

    /// Where a package is staged inside the tree (same file system, so moves are renames):
    /// the transaction directory exists, the staging directory does not — whoever fills it
    /// creates it (linking from the store makes it as one of the package's directories).
    /// Each directory made costs an inode, the bulk of a warm install's time.
    pub fn staging_dir(&self, lock: &TreeLock, label: &str) -> Result<PathBuf, TreeError> {
        self.txn_path(lock, &format!("stage-{label}"))
    }

    /// A scratch directory for a package's download and build (unpacked rocks and sources),
    /// beside its staging directory and cleared with it; not created: a package linked from
    /// the store needs none.
    pub fn work_dir(&self, lock: &TreeLock, label: &str) -> Result<PathBuf, TreeError> {
        self.txn_path(lock, &format!("work-{label}"))
    }

    /// `name` inside the transaction directory (created if needed), cleared of anything an
    /// earlier attempt left there.
    fn txn_path(&self, _lock: &TreeLock, name: &str) -> Result<PathBuf, TreeError> {
        let txn = self.root.join(TXN_DIR);
        fs::create_dir_all(&txn).map_err(|e| io_err(&txn, e))?;
        let dir = txn.join(name);
        let _ = fs::remove_dir_all(&dir);
        Ok(dir)
    }

    /// Removes staging directories after a failed attempt (only while no journal exists:
    /// a journal means a commit is under way, and only [`Tree::lock`] may touch it).
    pub fn discard_staging(&self, _lock: &TreeLock) {
        let txn = self.root.join(TXN_DIR);
        if !txn.join("journal").exists() {
            let _ = fs::remove_dir_all(&txn);
        }
    }

    pub fn transaction<'a>(&'a self, _lock: &'a TreeLock) -> Transaction<'a> {
        Transaction {
            tree: self,
            add: Vec::new(),
            remove: Vec::new(),
        }
    }
}

impl Tree {
    /// A sha256 over every file of the tree — relative path, executable bit and contents, in
    /// path order — leaving out pylua's own bookkeeping (the lock and transaction files) and
    /// the top-level entries named in `skip`. Two trees with the same packages built the same
    /// way have the same hash, wherever they are.
    pub fn content_hash(&self, skip: &[&str]) -> Result<String, TreeError> {
        use sha2::{Digest as _, Sha256};
        let mut files = Vec::new();
        list_files(&self.root, &self.root, &mut files)?;
        files.sort();
        let mut hasher = Sha256::new();
        for rel in files {
            let top = rel.split('/').next().unwrap_or("");
            if [TXN_DIR, LOCK_FILE, LAUNCHER_FILE].contains(&top) || skip.contains(&top) {
                continue;
            }
            let path = self.root.join(&rel);
            let bytes = fs::read(&path).map_err(|e| io_err(&path, e))?;
            let exec = is_executable(&path);
            hasher.update(format!("{rel}\0{}\0{}\0", u8::from(exec), bytes.len()));
            hasher.update(&bytes);
        }
        Ok(hex(&hasher.finalize()))
    }
}

fn list_files(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), TreeError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| io_err(dir, e))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(|e| io_err(&path, e))?;
        if kind.is_dir() {
            list_files(root, &path, out)?;
        } else {
            let rel = path.strip_prefix(root).unwrap_or(&path);
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
    Ok(())
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(_path: &Path) -> bool {
    false
}

/// Holds the tree's lock until dropped.
pub struct TreeLock {
    _file: fs::File,
}

fn string_fields(t: &Table) -> BTreeMap<String, String> {
    t.fields
        .iter()
        .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.as_str()?.to_string())))
        .collect()
}

fn read_constraints(t: &Table) -> Vec<Dependency> {
    t.items
        .iter()
        .filter_map(MValue::as_table)
        .filter_map(|dep| {
            let name = dep.get("name")?.as_str()?.to_string();
            let parts: Vec<String> = dep
                .get("constraints")
                .and_then(MValue::as_table)
                .map(|c| {
                    c.items
                        .iter()
                        .filter_map(MValue::as_table)
                        .filter_map(|c| {
                            let op = c.get("op")?.as_str()?;
                            let v = c.get("version")?.as_table()?.get("string")?.as_str()?;
                            Some(format!("{op} {v}"))
                        })
                        .collect()
                })
                .unwrap_or_default();
            Some(Dependency {
                name: crate::packages::names::PackageName::parse(&name).ok()?,
                constraints: Constraints::parse(&parts.join(", ")).ok()?,
            })
        })
        .collect()
}

mod transaction;
pub mod verify;
mod writers;

use transaction::recover;
pub use transaction::{set_deploy_modes, StagedRock, Transaction};
pub use writers::rock_manifest_text;

#[cfg(test)]
mod tests {
    use super::*;

    fn staged(dir: &Path, name: &str, version: &str, module: &str, body: &str) -> StagedRock {
        let stage = dir.join(format!("stage-{name}-{version}"));
        let file = stage.join("lua").join(format!("{module}.lua"));
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        fs::write(&file, body).unwrap();
        StagedRock {
            rock: InstalledRock {
                name: name.into(),
                version: Version::parse(version).unwrap(),
                modules: BTreeMap::from([(module.to_string(), format!("{module}.lua"))]),
                commands: BTreeMap::new(),
                dependencies: BTreeMap::new(),
                constraints: vec![Dependency::parse("lua >= 5.1").unwrap()],
            },
            stage,
            rockspec_text: format!("package = '{name}'\nversion = '{version}'\n"),
            launcher: "pylua run".into(),
            modes_deployed: false,
            md5: BTreeMap::new(),
        }
    }

    #[test]
    fn install_replace_remove_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let tree = Tree::new(dir.path().join("tree"), "5.4");
        let lock = tree.lock().unwrap();
        let mut txn = tree.transaction(&lock);
        let work = tree.staging_dir(&lock, "a").unwrap();
        txn.add(staged(&work, "alpha", "1.0-1", "alpha", "return 1"));
        txn.commit().unwrap();
        let installed = tree.installed().unwrap();
        assert_eq!(installed["alpha"].version.to_string(), "1.0-1");
        assert_eq!(installed["alpha"].constraints[0].to_string(), "lua >= 5.1");
        assert_eq!(
            fs::read_to_string(tree.lua_dir().join("alpha.lua")).unwrap(),
            "return 1"
        );
        assert!(tree
            .rock_dir("alpha", &Version::parse("1.0-1").unwrap())
            .join("rock_manifest")
            .is_file());

        // Upgrade: the old version goes, the new one comes, in one step.
        let mut txn = tree.transaction(&lock);
        let work = tree.staging_dir(&lock, "b").unwrap();
        txn.remove(installed["alpha"].clone());
        txn.add(staged(&work, "alpha", "2.0-1", "alpha", "return 2"));
        txn.commit().unwrap();
        assert_eq!(
            fs::read_to_string(tree.lua_dir().join("alpha.lua")).unwrap(),
            "return 2"
        );
        assert!(!tree.rocks_dir().join("alpha/1.0-1").exists());

        // A file owned by another package is a conflict, and nothing changes.
        let mut txn = tree.transaction(&lock);
        let work = tree.staging_dir(&lock, "c").unwrap();
        txn.add(staged(&work, "beta", "1.0-1", "alpha", "return 'beta'"));
        let err = txn.commit().unwrap_err().to_string();
        assert!(
            err.contains("would overwrite") && err.contains("alpha 2.0-1"),
            "{err}"
        );
        assert_eq!(
            fs::read_to_string(tree.lua_dir().join("alpha.lua")).unwrap(),
            "return 2"
        );

        let installed = tree.installed().unwrap();
        let mut txn = tree.transaction(&lock);
        txn.remove(installed["alpha"].clone());
        txn.commit().unwrap();
        assert!(tree.installed().unwrap().is_empty());
        assert!(!tree.lua_dir().join("alpha.lua").exists());
    }

    #[test]
    fn packages_sharing_a_new_directory_in_one_change_both_land() {
        let dir = tempfile::tempdir().unwrap();
        let tree = Tree::new(dir.path().join("tree"), "5.4");
        let lock = tree.lock().unwrap();
        let mut txn = tree.transaction(&lock);
        let work = tree.staging_dir(&lock, "a").unwrap();
        // `shared/` is new to the tree: the first package moves it whole, the second
        // adds its file into it.
        txn.add(staged(&work, "one", "1.0-1", "shared/one", "return 1"));
        txn.add(staged(&work, "two", "1.0-1", "shared/two", "return 2"));
        txn.commit().unwrap();
        let shared = tree.lua_dir().join("shared");
        assert_eq!(
            fs::read_to_string(shared.join("one.lua")).unwrap(),
            "return 1"
        );
        assert_eq!(
            fs::read_to_string(shared.join("two.lua")).unwrap(),
            "return 2"
        );
        assert!(!tree.root().join(TXN_DIR).exists());
        let installed = tree.installed().unwrap();
        let mut txn = tree.transaction(&lock);
        txn.remove(installed["one"].clone());
        txn.commit().unwrap();
        assert!(!shared.join("one.lua").exists());
        assert_eq!(
            fs::read_to_string(shared.join("two.lua")).unwrap(),
            "return 2"
        );
    }

    #[test]
    fn packages_sharing_nested_new_directories_in_one_change_all_land() {
        let dir = tempfile::tempdir().unwrap();
        let tree = Tree::new(dir.path().join("tree"), "5.4");
        let lock = tree.lock().unwrap();
        let mut txn = tree.transaction(&lock);
        let work = tree.staging_dir(&lock, "a").unwrap();
        // The first package's `lua/` becomes the tree's Lua directory whole, `shared/deep/`
        // with it; the others add their files into directories that only exist once the
        // first one's move is done.
        txn.add(staged(&work, "one", "1.0-1", "shared/deep/one", "return 1"));
        txn.add(staged(&work, "two", "1.0-1", "shared/deep/two", "return 2"));
        txn.add(staged(&work, "three", "1.0-1", "shared/three", "return 3"));
        txn.commit().unwrap();
        let shared = tree.lua_dir().join("shared");
        for (rel, body) in [
            ("deep/one.lua", "return 1"),
            ("deep/two.lua", "return 2"),
            ("three.lua", "return 3"),
        ] {
            assert_eq!(fs::read_to_string(shared.join(rel)).unwrap(), body, "{rel}");
        }
        // Into a tree that has the directories: file by file, and a removal leaves the rest.
        let mut txn = tree.transaction(&lock);
        let work = tree.staging_dir(&lock, "b").unwrap();
        txn.add(staged(
            &work,
            "four",
            "1.0-1",
            "shared/deep/four",
            "return 4",
        ));
        txn.remove(tree.installed().unwrap()["one"].clone());
        txn.commit().unwrap();
        assert!(!shared.join("deep/one.lua").exists());
        assert_eq!(
            fs::read_to_string(shared.join("deep/four.lua")).unwrap(),
            "return 4"
        );
        assert_eq!(
            fs::read_to_string(shared.join("deep/two.lua")).unwrap(),
            "return 2"
        );
    }

    #[test]
    fn staging_and_work_directories_are_made_only_by_their_users() {
        let dir = tempfile::tempdir().unwrap();
        let tree = Tree::new(dir.path().join("tree"), "5.4");
        let lock = tree.lock().unwrap();
        let stage = tree.staging_dir(&lock, "alpha-1.0-1").unwrap();
        let work = tree.work_dir(&lock, "alpha-1.0-1").unwrap();
        assert_eq!(stage.parent(), Some(tree.root().join(TXN_DIR).as_path()));
        assert_eq!(work.parent(), stage.parent());
        assert!(!stage.exists() && !work.exists());
        // What an earlier attempt left there is cleared.
        fs::create_dir_all(stage.join("lua")).unwrap();
        fs::create_dir_all(work.join("src")).unwrap();
        assert_eq!(tree.staging_dir(&lock, "alpha-1.0-1").unwrap(), stage);
        assert_eq!(tree.work_dir(&lock, "alpha-1.0-1").unwrap(), work);
        assert!(!stage.exists() && !work.exists());
        tree.discard_staging(&lock);
        assert!(!tree.root().join(TXN_DIR).exists());
    }

    #[test]
    fn an_interrupted_transaction_is_rolled_back() {
        let dir = tempfile::tempdir().unwrap();
        let tree = Tree::new(dir.path().join("tree"), "5.4");
        {
            let lock = tree.lock().unwrap();
            let mut txn = tree.transaction(&lock);
            let work = tree.staging_dir(&lock, "a").unwrap();
            txn.add(staged(&work, "alpha", "1.0-1", "alpha", "return 1"));
            txn.commit().unwrap();
        }
        let before = fs::read_to_string(tree.manifest_path()).unwrap();
        // Simulate a crash half-way: the old file moved to trash, a new one in place, journal left.
        let txn = tree.root().join(TXN_DIR);
        fs::create_dir_all(txn.join("trash")).unwrap();
        let old = tree.lua_dir().join("alpha.lua");
        let trashed = txn.join("trash/0");
        fs::rename(&old, &trashed).unwrap();
        fs::write(&old, "return 'half-installed'").unwrap();
        fs::write(tree.lua_dir().join("new.lua"), "x").unwrap();
        fs::write(
            txn.join("journal"),
            format!(
                "old\t{}\t{}\nnew\t{}\nnew\t{}\n",
                old.display(),
                trashed.display(),
                old.display(),
                tree.lua_dir().join("new.lua").display()
            ),
        )
        .unwrap();
        drop(tree.lock().unwrap());
        assert_eq!(fs::read_to_string(&old).unwrap(), "return 1");
        assert!(!tree.lua_dir().join("new.lua").exists());
        assert!(!txn.exists());
        assert_eq!(fs::read_to_string(tree.manifest_path()).unwrap(), before);
    }

    #[test]
    fn a_kill_before_an_old_file_moved_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let tree = Tree::new(dir.path().join("tree"), "5.4");
        {
            let lock = tree.lock().unwrap();
            let mut txn = tree.transaction(&lock);
            let work = tree.staging_dir(&lock, "a").unwrap();
            txn.add(staged(&work, "alpha", "1.0-1", "alpha", "return 1"));
            txn.commit().unwrap();
        }
        let before = fs::read_to_string(tree.manifest_path()).unwrap();
        // The journal is written, but the process died before moving anything: the manifest
        // (replaced by this change) is still the old one, and has no trashed copy.
        let txn = tree.root().join(TXN_DIR);
        fs::create_dir_all(txn.join("trash")).unwrap();
        let manifest = tree.manifest_path();
        fs::write(
            txn.join("journal"),
            format!(
                "old\t{}\t{}\nnew\t{}\n",
                manifest.display(),
                txn.join("trash/0").display(),
                manifest.display()
            ),
        )
        .unwrap();
        drop(tree.lock().unwrap());
        assert_eq!(fs::read_to_string(tree.manifest_path()).unwrap(), before);
        assert!(!txn.exists());
    }
}
