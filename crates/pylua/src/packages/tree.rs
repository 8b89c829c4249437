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
use super::manifest::{Manifest, Table, Value as MValue};
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
    Manifest { path: String, message: String },
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

    /// The tree at `root` with the layout of the one Lua version it holds packages for
    /// (`lib/luarocks/rocks-5.1`…), or 5.4's when it is empty or holds several.
    pub fn detect(root: impl Into<PathBuf>) -> Tree {
        let probe = Tree::new(root, "5.4");
        let versions: Vec<String> = fs::read_dir(probe.root.join("lib/luarocks"))
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter_map(|e| {
                        e.file_name()
                            .to_str()?
                            .strip_prefix("rocks-")
                            .map(String::from)
                    })
                    .collect()
            })
            .unwrap_or_default();
        match versions.as_slice() {
            [only] => Tree::new(probe.root, only),
            _ => probe,
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
        let damaged = |message: String| TreeError::Manifest {
            path: path.display().to_string(),
            message,
        };
        let manifest = Manifest::parse_bytes(&bytes).map_err(|e| damaged(e.to_string()))?;
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
                out.insert(
                    name.clone(),
                    InstalledRock {
                        name: name.clone(),
                        version,
                        modules: map("modules"),
                        commands: map("commands"),
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

    /// A directory for staging inside the tree (same file system, so moves are renames).
    pub fn staging_dir(&self, _lock: &TreeLock, label: &str) -> Result<PathBuf, TreeError> {
        let dir = self.root.join(TXN_DIR).join(format!("stage-{label}"));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
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
                name,
                constraints: Constraints::parse(&parts.join(", ")).ok()?,
            })
        })
        .collect()
}

/// A package staged for installation: `stage` holds `lua/`, `lib/`, `bin/`, `conf/` and
/// `rock/` (the rockspec and copied directories).
#[derive(Debug, Clone)]
pub struct StagedRock {
    pub rock: InstalledRock,
    pub stage: PathBuf,
    /// The rockspec text, kept in the rock's directory.
    pub rockspec_text: String,
    /// How a command is started: the interpreter line for bin wrappers, which may use
    /// `"$TREE"` (the tree's root).
    pub launcher: String,
}

/// A set of installs and removals applied all at once.
pub struct Transaction<'a> {
    tree: &'a Tree,
    add: Vec<StagedRock>,
    remove: Vec<InstalledRock>,
}

impl Transaction<'_> {
    pub fn add(&mut self, staged: StagedRock) {
        self.add.push(staged);
    }
    pub fn remove(&mut self, rock: InstalledRock) {
        self.remove.push(rock);
    }

    /// Applies the changes atomically (see the module docs).
    pub fn commit(self) -> Result<(), TreeError> {
        let tree = self.tree;
        let txn = tree.root.join(TXN_DIR);
        let mut installed = tree.installed()?;
        let mut moves: Vec<(PathBuf, PathBuf)> = Vec::new(); // staged → destination
        let mut removals: Vec<PathBuf> = Vec::new();

        for old in &self.remove {
            for rel in old.modules.values() {
                for base in [tree.lua_dir(), tree.lib_dir()] {
                    let p = base.join(rel);
                    if p.exists() && !removals.contains(&p) {
                        removals.push(p);
                    }
                }
            }
            for cmd in old.commands.keys() {
                let p = tree.bin_dir().join(cmd);
                if p.exists() {
                    removals.push(p);
                }
            }
            let dir = tree.rock_dir(&old.name, &old.version);
            if dir.exists() {
                removals.push(dir);
            }
            installed.remove(&old.name);
        }

        for staged in &self.add {
            let rock = &staged.rock;
            let rock_stage = staged.stage.join("rock");
            fs::create_dir_all(&rock_stage).map_err(|e| io_err(&rock_stage, e))?;
            let rockspec_name = format!("{}-{}.rockspec", rock.name, rock.version);
            fs::write(rock_stage.join(&rockspec_name), &staged.rockspec_text)
                .map_err(|e| io_err(&rock_stage, e))?;
            // Scripts live in the rock's directory; the tree's bin/ gets wrappers.
            // Configuration files are kept in the rock's directory too.
            for dir in ["bin", "conf"] {
                let from = staged.stage.join(dir);
                let has_files = fs::read_dir(&from).is_ok_and(|mut d| d.next().is_some());
                if has_files {
                    super::build::copy_tree(&from, &rock_stage.join(dir))
                        .map_err(|e| io_err(&from, e))?;
                }
            }
            let wrappers = staged.stage.join("wrappers");
            fs::create_dir_all(&wrappers).map_err(|e| io_err(&wrappers, e))?;
            for cmd in rock.commands.keys() {
                // Relative to the tree, so a tree works (and hashes the same) wherever it is.
                let script = format!(
                    "lib/luarocks/rocks-{}/{}/{}/bin/{cmd}",
                    tree.lua_version, rock.name, rock.version
                );
                let text = wrapper(&rock.name, &rock.version, &staged.launcher, &script);
                let w = wrappers.join(cmd);
                fs::write(&w, text).map_err(|e| io_err(&w, e))?;
                super::build::set_executable(&w);
            }
            // A prebuilt rock brings its own rock_manifest, which LuaRocks keeps as it is.
            let kept = rock_stage.join("rock_manifest");
            if !fs::symlink_metadata(&kept).is_ok_and(|m| m.is_file()) {
                let rock_manifest = rock_manifest(staged, &rockspec_name)?;
                fs::write(&kept, rock_manifest).map_err(|e| io_err(&rock_stage, e))?;
            }

            // Deployed with LuaRocks' permissions: Lua files readable, C modules executable.
            set_modes(&staged.stage.join("lua"), 0o644);
            set_modes(&staged.stage.join("lib"), 0o755);
            let mut files = Vec::new();
            collect_files(&staged.stage.join("lua"), &tree.lua_dir(), &mut files);
            collect_files(&staged.stage.join("lib"), &tree.lib_dir(), &mut files);
            collect_files(&wrappers, &tree.bin_dir(), &mut files);
            for (from, to) in files {
                if to.exists() && !removals.contains(&to) {
                    let owner = installed
                        .values()
                        .find(|r| {
                            r.modules.values().any(|rel| {
                                tree.lua_dir().join(rel) == to || tree.lib_dir().join(rel) == to
                            }) || r.commands.keys().any(|c| tree.bin_dir().join(c) == to)
                        })
                        .map(|r| format!("{} {}", r.name, r.version))
                        .unwrap_or_else(|| "a file not installed by pylua".into());
                    return Err(TreeError::Conflict(format!(
                        "{} {} would overwrite {} (it belongs to {owner}); remove that first",
                        rock.name,
                        rock.version,
                        to.display()
                    )));
                }
                moves.push((from, to));
            }
            let dest = tree.rock_dir(&rock.name, &rock.version);
            if dest.exists() && !removals.contains(&dest) {
                removals.push(dest.clone());
            }
            moves.push((rock_stage, dest));
            installed.insert(rock.name.clone(), rock.clone());
        }

        // The new tree manifest is one more file moved into place.
        let new_manifest = txn.join("manifest.new");
        write_atomic(&new_manifest, write_tree_manifest(&installed).as_bytes())
            .map_err(|e| io_err(&new_manifest, e))?;
        let manifest_path = tree.manifest_path();
        if manifest_path.exists() {
            removals.push(manifest_path.clone());
        }
        moves.push((new_manifest, manifest_path));

        // The journal: written whole before anything moves.
        let trash = txn.join("trash");
        fs::create_dir_all(&trash).map_err(|e| io_err(&trash, e))?;
        let mut journal = String::new();
        let mut trash_moves = Vec::new();
        for (i, old) in removals.iter().enumerate() {
            let t = trash.join(i.to_string());
            let _ = writeln!(journal, "old\t{}\t{}", old.display(), t.display());
            trash_moves.push((old.clone(), t));
        }
        for (_, to) in &moves {
            let _ = writeln!(journal, "new\t{}", to.display());
        }
        let journal_path = txn.join("journal");
        write_atomic(&journal_path, journal.as_bytes()).map_err(|e| io_err(&journal_path, e))?;

        let apply = || -> Result<(), TreeError> {
            for (from, to) in &trash_moves {
                fs::rename(from, to).map_err(|e| io_err(from, e))?;
            }
            for (from, to) in &moves {
                if let Some(parent) = to.parent() {
                    fs::create_dir_all(parent).map_err(|e| io_err(parent, e))?;
                }
                fs::rename(from, to).map_err(|e| io_err(to, e))?;
            }
            Ok(())
        };
        if let Err(e) = apply() {
            recover(&txn)?;
            return Err(e);
        }
        // Commit point.
        fs::remove_file(&journal_path).map_err(|e| io_err(&journal_path, e))?;
        let _ = fs::remove_dir_all(&txn);
        for (_, to) in &trash_moves {
            if let Some(parent) = to.parent() {
                let _ = fs::remove_dir_all(parent);
            }
        }
        for old in &self.remove {
            prune_empty_parents(&tree.rock_dir(&old.name, &old.version), &tree.root);
            for rel in old.modules.values() {
                prune_empty_parents(&tree.lua_dir().join(rel), &tree.root);
                prune_empty_parents(&tree.lib_dir().join(rel), &tree.root);
            }
        }
        Ok(())
    }
}

/// The shell script installed as `bin/COMMAND`: it finds the tree from its own location and
/// runs the rock's script through `launcher`. A launcher naming `$PYLUA` (project trees)
/// falls back to the executable recorded in [`LAUNCHER_FILE`] when `pylua` is not on `PATH`.
fn wrapper(name: &str, version: &Version, launcher: &str, script: &str) -> String {
    let fallback = if launcher.contains("PYLUA") {
        format!(
            "if [ -z \"${{PYLUA:-}}\" ] && ! command -v pylua >/dev/null 2>&1; then\n  {{ read -r PYLUA < \"$TREE/{LAUNCHER_FILE}\"; }} 2>/dev/null\nfi\n"
        )
    } else {
        String::new()
    };
    format!(
        "#!/bin/sh\n# Installed by pylua for {name} {version}.\nTREE=$(cd \"$(dirname \"$0\")/..\" && pwd)\n{fallback}exec {launcher} \"$TREE/{script}\" \"$@\"\n"
    )
}

/// Rolls back an interrupted transaction (journal present) or clears a finished one.
fn recover(txn: &Path) -> Result<(), TreeError> {
    let journal_path = txn.join("journal");
    if let Ok(journal) = fs::read_to_string(&journal_path) {
        let lines: Vec<&str> = journal.lines().collect();
        // Where each replaced file went: a path that is both replaced and new still holds
        // the old file while its trashed copy does not exist (every old file is moved away
        // before any new one comes in), and that file must stay.
        let trashed_to: BTreeMap<&str, &str> = lines
            .iter()
            .filter_map(
                |line| match line.split('\t').collect::<Vec<_>>().as_slice() {
                    ["old", original, trashed] => Some((*original, *trashed)),
                    _ => None,
                },
            )
            .collect();
        // Undo new files first (they may sit where old ones were), then restore the old.
        for line in lines.iter().rev() {
            let parts: Vec<&str> = line.split('\t').collect();
            if let ["new", to] = parts.as_slice() {
                if trashed_to
                    .get(to)
                    .is_some_and(|trashed| !Path::new(trashed).exists())
                {
                    continue;
                }
                let to = Path::new(to);
                match fs::symlink_metadata(to) {
                    Ok(m) if m.is_dir() => fs::remove_dir_all(to).map_err(|e| io_err(to, e))?,
                    Ok(_) => fs::remove_file(to).map_err(|e| io_err(to, e))?,
                    Err(_) => {}
                }
            }
        }
        for line in lines.iter().rev() {
            let parts: Vec<&str> = line.split('\t').collect();
            if let ["old", original, trashed] = parts.as_slice() {
                let (original, trashed) = (Path::new(original), Path::new(trashed));
                if trashed.exists() {
                    if let Some(parent) = original.parent() {
                        fs::create_dir_all(parent).map_err(|e| io_err(parent, e))?;
                    }
                    fs::rename(trashed, original).map_err(|e| io_err(original, e))?;
                }
            }
        }
        fs::remove_file(&journal_path).map_err(|e| io_err(&journal_path, e))?;
    }
    if txn.exists() {
        fs::remove_dir_all(txn).map_err(|e| io_err(txn, e))?;
    }
    Ok(())
}

fn prune_empty_parents(path: &Path, stop: &Path) {
    let mut dir = path.parent();
    while let Some(d) = dir {
        if d == stop || fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
}

/// Every file under `from` paired with its place under `to`.
/// Gives every regular file under `dir` the permissions `mode` (Unix; elsewhere nothing).
fn set_modes(dir: &Path, mode: u32) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        match entry.file_type() {
            Ok(t) if t.is_dir() => set_modes(&entry.path(), mode),
            #[cfg(unix)]
            Ok(t) if t.is_file() => {
                use std::os::unix::fs::PermissionsExt;
                let _ = fs::set_permissions(entry.path(), fs::Permissions::from_mode(mode));
            }
            _ => {}
        }
    }
    #[cfg(not(unix))]
    let _ = mode;
}

fn collect_files(from: &Path, to: &Path, out: &mut Vec<(PathBuf, PathBuf)>) {
    let Ok(entries) = fs::read_dir(from) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let dest = to.join(entry.file_name());
        if path.is_dir() {
            collect_files(&path, &dest, out);
        } else {
            out.push((path, dest));
        }
    }
}

fn md5_file(path: &Path) -> String {
    fs::read(path)
        .map(|b| hex(&Md5::digest(&b)))
        .unwrap_or_default()
}

/// `rock_manifest`: the md5 of every file the rock installed, by section, as LuaRocks writes it.
fn rock_manifest(staged: &StagedRock, rockspec_name: &str) -> Result<String, TreeError> {
    fn tree_of(dir: &Path) -> Option<LuaTable> {
        let entries = fs::read_dir(dir).ok()?;
        let mut map = BTreeMap::new();
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if let Some(t) = tree_of(&path) {
                    map.insert(name, t);
                }
            } else {
                map.insert(name, LuaTable::Str(md5_file(&path)));
            }
        }
        (!map.is_empty()).then_some(LuaTable::Map(map))
    }
    let mut top = BTreeMap::new();
    for (section, dir) in [("lua", "lua"), ("lib", "lib"), ("bin", "bin")] {
        if let Some(t) = tree_of(&staged.stage.join(dir)) {
            top.insert(section.to_string(), t);
        }
    }
    if let Some(LuaTable::Map(rock)) = tree_of(&staged.stage.join("rock")) {
        for (k, v) in rock {
            if k != "bin" && k != "conf" {
                top.insert(k, v);
            }
        }
    }
    top.insert(
        rockspec_name.to_string(),
        LuaTable::Str(md5_file(&staged.stage.join("rock").join(rockspec_name))),
    );
    let mut out = String::from("rock_manifest = ");
    LuaTable::Map(top).write(&mut out, 0);
    out.push('\n');
    Ok(out)
}

/// A Lua table literal, written the way LuaRocks writes its manifests.
enum LuaTable {
    Str(String),
    Num(f64),
    List(Vec<LuaTable>),
    Map(BTreeMap<String, LuaTable>),
    /// A parsed version as LuaRocks writes it: positional numbers then named fields,
    /// `{ 1, 4, 0, revision = 1, string = "1.4.0-1" }`.
    Version(Vec<f64>, Option<i64>, String),
}

fn lua_key(k: &str) -> String {
    let ident = k
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && ![
            "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto",
            "if", "in", "local", "nil", "not", "or", "repeat", "return", "then", "true", "until",
            "while",
        ]
        .contains(&k);
    if ident {
        k.to_string()
    } else {
        format!("[{}]", lua_string(k))
    }
}

fn lua_string(s: &str) -> String {
    crate::lua_syntax::string(s.as_bytes())
}

fn lua_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

impl LuaTable {
    fn write(&self, out: &mut String, indent: usize) {
        let pad = "   ".repeat(indent + 1);
        match self {
            LuaTable::Str(s) => out.push_str(&lua_string(s)),
            LuaTable::Num(n) => out.push_str(&lua_number(*n)),
            LuaTable::Version(parts, revision, text) => {
                let mut fields: Vec<String> = parts.iter().map(|n| lua_number(*n)).collect();
                if let Some(revision) = revision {
                    fields.push(format!("revision = {revision}"));
                }
                fields.push(format!("string = {}", lua_string(text)));
                let _ = write!(
                    out,
                    "{{\n{pad}{}\n{}}}",
                    fields.join(", "),
                    "   ".repeat(indent)
                );
            }
            LuaTable::List(items) if items.is_empty() => out.push_str("{}"),
            LuaTable::Map(map) if map.is_empty() => out.push_str("{}"),
            LuaTable::List(items) => {
                out.push_str("{\n");
                for (i, item) in items.iter().enumerate() {
                    out.push_str(&pad);
                    item.write(out, indent + 1);
                    out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
                }
                out.push_str(&"   ".repeat(indent));
                out.push('}');
            }
            LuaTable::Map(map) => {
                out.push_str("{\n");
                let n = map.len();
                for (i, (k, v)) in map.iter().enumerate() {
                    let _ = write!(out, "{pad}{} = ", lua_key(k));
                    v.write(out, indent + 1);
                    out.push_str(if i + 1 < n { ",\n" } else { "\n" });
                }
                out.push_str(&"   ".repeat(indent));
                out.push('}');
            }
        }
    }
}

/// The tree `manifest` LuaRocks reads for `list`, `show` and its loader.
fn write_tree_manifest(installed: &BTreeMap<String, InstalledRock>) -> String {
    let id = |r: &InstalledRock| format!("{}/{}", r.name, r.version);
    let mut commands: BTreeMap<String, Vec<LuaTable>> = BTreeMap::new();
    let mut modules: BTreeMap<String, Vec<LuaTable>> = BTreeMap::new();
    let mut dependencies = BTreeMap::new();
    let mut repository = BTreeMap::new();
    for r in installed.values() {
        for c in r.commands.keys() {
            commands
                .entry(c.clone())
                .or_default()
                .push(LuaTable::Str(id(r)));
        }
        for m in r.modules.keys() {
            modules
                .entry(m.clone())
                .or_default()
                .push(LuaTable::Str(id(r)));
        }
        let deps = r
            .constraints
            .iter()
            .map(|d| {
                let constraints = d
                    .constraints
                    .0
                    .iter()
                    .map(|c| {
                        LuaTable::Map(BTreeMap::from([
                            ("op".to_string(), LuaTable::Str(c.op.as_str().to_string())),
                            (
                                "version".to_string(),
                                LuaTable::Version(
                                    c.version.written_components(),
                                    c.version.revision(),
                                    c.version.to_string(),
                                ),
                            ),
                        ]))
                    })
                    .collect();
                LuaTable::Map(BTreeMap::from([
                    ("constraints".to_string(), LuaTable::List(constraints)),
                    ("name".to_string(), LuaTable::Str(d.name.clone())),
                ]))
            })
            .collect();
        dependencies.insert(
            r.name.clone(),
            LuaTable::Map(BTreeMap::from([(
                r.version.to_string(),
                LuaTable::List(deps),
            )])),
        );
        let strings = |m: &BTreeMap<String, String>| {
            LuaTable::Map(
                m.iter()
                    .map(|(k, v)| (k.clone(), LuaTable::Str(v.clone())))
                    .collect(),
            )
        };
        let entry = LuaTable::Map(BTreeMap::from([
            ("arch".to_string(), LuaTable::Str("installed".into())),
            ("commands".to_string(), strings(&r.commands)),
            ("dependencies".to_string(), strings(&r.dependencies)),
            ("modules".to_string(), strings(&r.modules)),
        ]));
        repository.insert(
            r.name.clone(),
            LuaTable::Map(BTreeMap::from([(
                r.version.to_string(),
                LuaTable::List(vec![entry]),
            )])),
        );
    }
    let mut out = String::new();
    for (name, table) in [
        (
            "commands",
            LuaTable::Map(
                commands
                    .into_iter()
                    .map(|(k, v)| (k, LuaTable::List(v)))
                    .collect(),
            ),
        ),
        ("dependencies", LuaTable::Map(dependencies)),
        (
            "modules",
            LuaTable::Map(
                modules
                    .into_iter()
                    .map(|(k, v)| (k, LuaTable::List(v)))
                    .collect(),
            ),
        ),
        ("repository", LuaTable::Map(repository)),
    ] {
        let _ = write!(out, "{name} = ");
        table.write(&mut out, 0);
        out.push('\n');
    }
    let _ = LuaTable::Num(0.0); // (numbers appear inside version tables)
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staged(dir: &Path, name: &str, version: &str, module: &str, body: &str) -> StagedRock {
        let stage = dir.join(format!("stage-{name}-{version}"));
        fs::create_dir_all(stage.join("lua")).unwrap();
        fs::write(stage.join("lua").join(format!("{module}.lua")), body).unwrap();
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
