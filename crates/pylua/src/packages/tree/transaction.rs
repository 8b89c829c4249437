//! Changing a tree all at once: packages staged elsewhere are moved in and old files moved
//! to a trash directory under a journal written before anything moves, so a kill at any
//! point is rolled back by the next reader or writer ([`recover`]); every path read from the
//! tree's own files is checked to lie inside it first ([`within`]).

use super::writers::{rock_manifest, write_tree_manifest};
use super::*;

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
    /// The staged files already have the modes they are deployed with
    /// ([`set_deploy_modes`]): the transaction leaves them alone. Set for stages linked from
    /// the package store, whose files may be hard links a `chmod` would change in the store.
    pub modes_deployed: bool,
    /// The md5 (hex) of staged files by path relative to `stage`, where known (the store
    /// records them): the `rock_manifest` takes them instead of reading the files.
    pub md5: BTreeMap<String, String>,
}

/// A set of installs and removals applied all at once.
pub struct Transaction<'a> {
    pub(super) tree: &'a Tree,
    pub(super) add: Vec<StagedRock>,
    pub(super) remove: Vec<InstalledRock>,
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
        let mut checked = CheckedDirs::default();
        // Directories this change puts into the tree: each is moved whole by the first
        // package that has it (one rename, journaled as one new path); later packages
        // with files there add theirs one by one.
        let mut claimed: std::collections::HashSet<PathBuf> = std::collections::HashSet::new();

        for old in &self.remove {
            for rel in old.modules.values() {
                for base in [tree.lua_dir(), tree.lib_dir()] {
                    let p = base.join(rel);
                    if !checked.within(&tree.root, &p) {
                        return Err(TreeError::Conflict(format!(
                            "{} {}: its file {} lies outside the tree or behind a symbolic link; refusing to remove it",
                            old.name,
                            old.version,
                            p.display()
                        )));
                    }
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
            // Staged files may be hard links into the package store: pylua writes only new
            // files here, replacing (never rewriting) one that is there. A stage linked from
            // the store has it already (and its rock_manifest): a read costs no new inode.
            let rockspec_path = rock_stage.join(&rockspec_name);
            if !fs::read(&rockspec_path).is_ok_and(|t| t == staged.rockspec_text.as_bytes()) {
                replace_file(&rockspec_path, &staged.rockspec_text)?;
            }
            // A prebuilt rock brings its own rock_manifest, which LuaRocks keeps as it is;
            // else it is written from the staged files (before bin/ moves below).
            let kept = rock_stage.join("rock_manifest");
            let new_rock_manifest = if fs::symlink_metadata(&kept).is_ok_and(|m| m.is_file()) {
                None
            } else {
                Some(rock_manifest(staged, &rockspec_name)?)
            };
            // Scripts live in the rock's directory; the tree's bin/ gets wrappers.
            // Configuration files are kept in the rock's directory too.
            for dir in ["bin", "conf"] {
                let from = staged.stage.join(dir);
                let has_files = fs::read_dir(&from).is_ok_and(|mut d| d.next().is_some());
                if has_files {
                    let to = rock_stage.join(dir);
                    // A rename keeps links (and costs one call); a rock that also carries
                    // such a directory gets the staged files added to its copy.
                    if fs::rename(&from, &to).is_err() {
                        move_files(&from, &to).map_err(|e| io_err(&from, e))?;
                    }
                }
            }
            let wrappers = staged.stage.join("wrappers");
            if !rock.commands.is_empty() {
                fs::create_dir_all(&wrappers).map_err(|e| io_err(&wrappers, e))?;
            }
            for cmd in rock.commands.keys() {
                // Relative to the tree, so a tree works (and hashes the same) wherever it is.
                let script = format!(
                    "lib/luarocks/rocks-{}/{}/{}/bin/{cmd}",
                    tree.lua_version, rock.name, rock.version
                );
                let text = wrapper(&rock.name, &rock.version, &staged.launcher, &script);
                let w = wrappers.join(cmd);
                fs::write(&w, text).map_err(|e| io_err(&w, e))?;
                crate::packages::build::set_executable(&w);
            }
            if let Some(text) = new_rock_manifest {
                fs::write(&kept, text).map_err(|e| io_err(&rock_stage, e))?;
            }
            if !staged.modes_deployed {
                set_deploy_modes(&staged.stage);
            }
            let mut files = Vec::new();
            collect_top_moves(
                &staged.stage.join("lua"),
                &tree.lua_dir(),
                &mut claimed,
                &mut files,
            );
            collect_top_moves(
                &staged.stage.join("lib"),
                &tree.lib_dir(),
                &mut claimed,
                &mut files,
            );
            collect_top_moves(&wrappers, &tree.bin_dir(), &mut claimed, &mut files);
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

        // Every path moved away or into place must be the tree's own (the module files
        // were checked above with the package named; commands and rock directories here).
        for p in removals.iter().chain(moves.iter().map(|(_, to)| to)) {
            if !checked.within(&tree.root, p) {
                return Err(TreeError::Conflict(format!(
                    "{} lies outside the tree or behind a symbolic link; refusing to touch it",
                    p.display()
                )));
            }
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
        // Made only when something is replaced or removed (a first install replaces nothing).
        let trash = txn.join("trash");
        if !removals.is_empty() {
            fs::create_dir_all(&trash).map_err(|e| io_err(&trash, e))?;
        }
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
            // Many files share a directory: each is created (or found) once.
            let mut made: std::collections::HashSet<&Path> = std::collections::HashSet::new();
            for (from, to) in &moves {
                if let Some(parent) = to.parent() {
                    if made.insert(parent) {
                        fs::create_dir_all(parent).map_err(|e| io_err(parent, e))?;
                    }
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
pub(super) fn recover(txn: &Path) -> Result<(), TreeError> {
    let journal_path = txn.join("journal");
    if let Ok(journal) = fs::read_to_string(&journal_path) {
        let lines: Vec<&str> = journal.lines().collect();
        // The journal is data on disk like any other (a tree may come from someone else's
        // repository): every path it names must lie inside the tree, every trashed copy
        // inside the transaction's trash, or nothing is touched.
        let root = txn.parent().unwrap_or(txn);
        let trash = txn.join("trash");
        for line in &lines {
            let ok = match line.split('\t').collect::<Vec<_>>().as_slice() {
                ["old", original, trashed] => {
                    within(root, Path::new(original)) && within(&trash, Path::new(trashed))
                }
                ["new", to] => within(root, Path::new(to)),
                _ => false,
            };
            if !ok {
                return Err(TreeError::ServerManifest {
                    path: journal_path.display().to_string(),
                    message: format!(
                        "the interrupted transaction's journal names a path outside the tree ({line:?}); nothing was changed — delete {} if this tree is not yours",
                        txn.display()
                    ),
                });
            }
        }
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

/// [`within`] for many paths at once: a directory found to be no link is not looked at again
/// (a tree's files share a few directories, and each look is a system call).
#[derive(Default)]
struct CheckedDirs {
    dirs: std::collections::HashSet<PathBuf>,
}

impl CheckedDirs {
    fn within(&mut self, root: &Path, path: &Path) -> bool {
        let Ok(rel) = path.strip_prefix(root) else {
            return false;
        };
        let parts: Vec<_> = rel.components().collect();
        let mut at = root.to_path_buf();
        for (i, part) in parts.iter().enumerate() {
            let std::path::Component::Normal(name) = part else {
                return false;
            };
            at.push(name);
            let last = i + 1 == parts.len();
            if !last && !self.dirs.contains(&at) {
                if fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
                    return false;
                }
                self.dirs.insert(at.clone());
            }
        }
        !parts.is_empty()
    }
}

/// Whether `path` lies strictly inside `root` with no symbolic link on the way (the last
/// component may be one: removing or replacing a link never touches its target). Every path
/// read from the tree's own files passes this before pylua moves or deletes anything there.
fn within(root: &Path, path: &Path) -> bool {
    let Ok(rel) = path.strip_prefix(root) else {
        return false;
    };
    let parts: Vec<_> = rel.components().collect();
    let mut at = root.to_path_buf();
    for (i, part) in parts.iter().enumerate() {
        let std::path::Component::Normal(name) = part else {
            return false;
        };
        at.push(name);
        let last = i + 1 == parts.len();
        if !last && fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
            return false;
        }
    }
    !parts.is_empty()
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

/// Gives a stage's files the permissions LuaRocks deploys them with: Lua files readable,
/// C modules executable (other files keep theirs).
pub fn set_deploy_modes(stage: &Path) {
    set_modes(&stage.join("lua"), 0o644);
    set_modes(&stage.join("lib"), 0o755);
}

/// Writes `text` as a new file at `path`, unlinking what is there first: the old file may
/// be a hard link into the package store, which must never be written through.
fn replace_file(path: &Path, text: &str) -> Result<(), TreeError> {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(path, e)),
    }
    fs::write(path, text).map_err(|e| io_err(path, e))
}

/// Moves every file under `from` to the same place under `to`, replacing files there (by
/// rename, so a replaced file is unlinked, never written through).
fn move_files(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let dest = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            move_files(&entry.path(), &dest)?;
        } else {
            fs::rename(entry.path(), &dest)?;
        }
    }
    Ok(())
}

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

/// Whether a directory entry is a directory (or a link to one), asking the file system only
/// for links: the entry's type usually comes with the listing.
pub(super) fn is_dir(entry: &fs::DirEntry) -> bool {
    match entry.file_type() {
        Ok(t) if t.is_symlink() => entry.path().is_dir(),
        Ok(t) => t.is_dir(),
        Err(_) => false,
    }
}

/// [`collect_moves`] for a stage's `lua/`, `lib/` or wrappers: when the tree lacks the
/// directory they go to (a first install), the staged one becomes it, whole — one rename
/// instead of a new directory (an inode) and a rename per entry. An empty one installs nothing.
fn collect_top_moves(
    from: &Path,
    to: &Path,
    claimed: &mut std::collections::HashSet<PathBuf>,
    out: &mut Vec<(PathBuf, PathBuf)>,
) {
    if !fs::read_dir(from).is_ok_and(|mut d| d.next().is_some()) {
        return;
    }
    if !claimed.contains(to) && fs::symlink_metadata(to).is_err() {
        claim(claimed, from, to);
        out.push((from.to_path_buf(), to.to_path_buf()));
    } else {
        collect_moves(from, to, claimed, out);
    }
}

/// Records that the staged directory `from` moves whole to `to`: `to` and each directory
/// under it will exist once it has, so another package's files go into them one by one
/// (a second whole move onto one of them would fail).
fn claim(claimed: &mut std::collections::HashSet<PathBuf>, from: &Path, to: &Path) {
    claimed.insert(to.to_path_buf());
    let Ok(entries) = fs::read_dir(from) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        if is_dir(&entry) {
            claim(claimed, &entry.path(), &to.join(entry.file_name()));
        }
    }
}

/// What to move from `from` to `to`: every file paired with its place, except that a
/// directory the tree does not have (and no earlier package of this change claimed) moves
/// whole — fewer renames, and no empty directories left to delete after the commit.
fn collect_moves(
    from: &Path,
    to: &Path,
    claimed: &mut std::collections::HashSet<PathBuf>,
    out: &mut Vec<(PathBuf, PathBuf)>,
) {
    let Ok(entries) = fs::read_dir(from) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let dest = to.join(entry.file_name());
        if is_dir(&entry) {
            let new = !claimed.contains(&dest) && fs::symlink_metadata(&dest).is_err();
            if new {
                claim(claimed, &path, &dest);
                out.push((path, dest));
            } else {
                collect_moves(&path, &dest, claimed, out);
            }
        } else {
            out.push((path, dest));
        }
    }
}
