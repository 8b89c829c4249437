//! The package store: every unpacked prebuilt rock and every built source rock kept once, in
//! the cache (`<cache>/store/<key>/`), content-addressed by what decides its files — the
//! rock's sha256, the package's name and version and, for a build, the target Lua, headers,
//! compiler and flags (see [`Store::key`]). An entry holds `files/` (the staging layout:
//! `lua/`, `lib/`, `bin/`, `conf/`, and `rock/` with the rockspec file and `rock_manifest`)
//! with the modes LuaRocks deploys, and `entry.json` (the rockspec, the modules and commands,
//! and a record of every file, with the md5 a tree's `rock_manifest` lists, so an install
//! reads no file it links). Installs link from it into a tree's
//! staging directory ([`crate::packages::link`]), and the tree's transaction moves them in.
//!
//! Entries are written whole in a temporary directory and renamed into place, so a reader
//! sees a complete entry or none; once there, pylua never writes into one again. The store's
//! layout version is part of every key ([`LAYOUT`]), so an entry written by a pylua with
//! another layout is never read, only left for `pylua cache clean`.
//!
//! **Hard links share inodes.** An installed file linked from the store *is* the store's
//! file: someone editing an installed module in place edits the entry. pylua itself never
//! does (the tree replaces and unlinks files, never writes into them), but a person might.
//! So `entry.json` records each file's size, modification time (to the nanosecond) and
//! permission bits, and every link first compares them with the file (one `statx` a file,
//! which costs less than the link it guards; hashing every file would read every byte, the
//! cost of the copy linking avoids). A write through any link changes the shared inode's
//! mtime, and a `chmod` its mode, so an ordinary edit is always seen; only someone setting
//! the time back to the nanosecond with the same size would hide one — the trust `make` and
//! cargo put in mtimes (or a script writing within the same tick of the kernel's coarse
//! clock, a few milliseconds, as the entry was stored). An altered entry is discarded (renamed away, then unlinked: the tree
//! that edited its copy keeps it) and rebuilt from the download cache, never spread.

use super::cache::{hex, sha256_hex};
use super::link::{LinkMode, Linker};
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The store's layout: raised whenever what an entry holds or how it is laid out changes
/// (3: the store replaces the build cache of layout 2, and keeps prebuilt rocks too; 4: an
/// entry's `rock/` holds the rockspec file and `rock_manifest` a tree installs, so they are
/// linked rather than written by every install).
pub const LAYOUT: u32 = 4;

const RECORD_FILE: &str = "entry.json";
const FILES_DIR: &str = "files";

/// What an entry says about its package.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The rockspec text the package was built from.
    pub rockspec: String,
    /// module → path under `lua/` or `lib/`.
    pub modules: BTreeMap<String, String>,
    /// command → script under `bin/`.
    pub commands: BTreeMap<String, String>,
}

/// `entry.json`.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    layout: u32,
    #[serde(flatten)]
    entry: Entry,
    /// Directories under `files/`, parents before children.
    dirs: Vec<String>,
    files: Vec<FileRecord>,
}

/// A file as it was when the entry was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct FileRecord {
    path: String,
    size: u64,
    mtime: i64,
    mtime_ns: i64,
    mode: u32,
    md5: String,
}

/// What [`Store::link_into`] found.
#[derive(Debug)]
pub enum Lookup {
    /// No entry for the key.
    Missing,
    /// The entry's files are linked into the destination; with the md5 (hex) of each, by
    /// path relative to it.
    Linked(Entry, BTreeMap<String, String>),
    /// The entry is damaged or was changed after it was written (the reason says which
    /// file and how); the caller discards it and builds again.
    Altered(String),
}

/// The store in a cache directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    pub fn new(cache_root: &Path) -> Store {
        Store {
            root: cache_root.join("store"),
        }
    }

    /// The key of the entry identified by `identity` (every input that decides its files,
    /// one per line); the layout version is part of it.
    pub fn key(identity: &str) -> String {
        sha256_hex(format!("{identity}\nstore-layout {LAYOUT}").as_bytes())
    }

    /// Where the entry for `key` is (whether or not it exists).
    pub fn entry_dir(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    /// Whether an entry for `key` exists (not whether it is intact).
    pub fn contains(&self, key: &str) -> bool {
        self.entry_dir(key).join(RECORD_FILE).is_file()
    }

    /// Links the entry's files into `dest` (created; it must not exist) after checking each
    /// against its record. On [`Lookup::Altered`] `dest` may hold part of the files.
    pub fn link_into(&self, key: &str, dest: &Path, mode: LinkMode) -> io::Result<Lookup> {
        let dir = self.entry_dir(key);
        let text = match fs::read(dir.join(RECORD_FILE)) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Lookup::Missing),
            Err(e) => return Err(e),
        };
        let record: Record = match serde_json::from_slice(&text) {
            Ok(r) => r,
            Err(e) => return Ok(Lookup::Altered(format!("{RECORD_FILE}: {e}"))),
        };
        if record.layout != LAYOUT {
            return Ok(Lookup::Altered(format!("layout {}", record.layout)));
        }
        let files = dir.join(FILES_DIR);
        fs::create_dir(dest)?;
        for d in &record.dirs {
            fs::create_dir(dest.join(d))?;
        }
        let mut linker = Linker::new(mode);
        for f in &record.files {
            let from = files.join(&f.path);
            match fs::symlink_metadata(&from) {
                Ok(meta) => {
                    if let Some(change) = changed(f, &meta) {
                        return Ok(Lookup::Altered(format!("{}: {change}", from.display())));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Ok(Lookup::Altered(format!("{}: missing", from.display())));
                }
                Err(e) => return Err(e),
            }
            linker.place(&from, &dest.join(&f.path), f.mode)?;
        }
        let md5 = record.files.into_iter().map(|f| (f.path, f.md5)).collect();
        Ok(Lookup::Linked(record.entry, md5))
    }

    /// Moves the staging directory `stage` (its files already with their deployed modes) into
    /// the store as the entry for `key` (copies it when the store is on another device). On
    /// success `stage` is gone — link the entry back with [`Store::link_into`]; on an error it
    /// is where it was. Another process storing the same key first is a success.
    pub fn insert(&self, key: &str, stage: &Path, entry: &Entry) -> io::Result<()> {
        fs::create_dir_all(&self.root)?;
        self.sweep();
        let tmp = self.root.join(format!(".tmp-{}-{key}", std::process::id()));
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir(&tmp)?;
        let files = tmp.join(FILES_DIR);
        let moved = fs::rename(stage, &files).is_ok();
        let result = (|| -> io::Result<()> {
            if !moved {
                super::build::copy_tree(stage, &files)?;
            }
            let mut record = Record {
                layout: LAYOUT,
                entry: entry.clone(),
                dirs: Vec::new(),
                files: Vec::new(),
            };
            walk(&files, "", &mut record)?;
            let json = serde_json::to_vec(&record).map_err(io::Error::other)?;
            fs::write(tmp.join(RECORD_FILE), json)?;
            match fs::rename(&tmp, self.entry_dir(key)) {
                Ok(()) => Ok(()),
                // Stored meanwhile by another process: theirs is as good as ours.
                Err(_) if self.contains(key) => Ok(()),
                Err(e) => Err(e),
            }
        })();
        match result {
            Ok(()) => {
                let _ = fs::remove_dir_all(&tmp);
                if !moved {
                    let _ = fs::remove_dir_all(stage);
                }
                Ok(())
            }
            Err(e) => {
                if moved {
                    let _ = fs::rename(&files, stage);
                }
                let _ = fs::remove_dir_all(&tmp);
                Err(e)
            }
        }
    }

    /// Removes what processes killed while writing or discarding an entry left behind:
    /// `.tmp-PID-…` and `.discarded-PID-…` directories of processes that are gone. Only
    /// when something is stored (a warm install never lists the store).
    fn sweep(&self) {
        let Ok(entries) = fs::read_dir(&self.root) else {
            return;
        };
        for e in entries.filter_map(Result::ok) {
            let name = e.file_name().to_string_lossy().into_owned();
            let pid = name
                .strip_prefix(".tmp-")
                .or_else(|| name.strip_prefix(".discarded-"))
                .and_then(|rest| rest.split('-').next())
                .and_then(|pid| pid.parse::<u32>().ok());
            if pid.is_some_and(|pid| !alive(pid)) {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }

    /// Takes the entry for `key` out of the store: renamed away first (so no reader links a
    /// half-deleted entry), then unlinked — trees holding links to its files keep them.
    pub fn discard(&self, key: &str) {
        let dir = self.entry_dir(key);
        let trash = self
            .root
            .join(format!(".discarded-{}-{key}", std::process::id()));
        let _ = fs::remove_dir_all(&trash);
        if fs::rename(&dir, &trash).is_ok() {
            let _ = fs::remove_dir_all(&trash);
        }
    }
}

/// Whether a process with this id runs (on systems without `/proc`, assumed so: nothing
/// another process may still be writing is removed).
fn alive(pid: u32) -> bool {
    pid == std::process::id()
        || !Path::new("/proc/self").exists()
        || Path::new("/proc").join(pid.to_string()).exists()
}

/// Records the directories and regular files under `dir` (links and other kinds are not
/// stored, as [`super::build::copy_tree`] does not copy them; empty directories only under
/// `rock/`).
fn walk(dir: &Path, rel: &str, record: &mut Record) -> io::Result<()> {
    let mut entries: Vec<fs::DirEntry> = fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let Some(name) = e.file_name().to_str().map(String::from) else {
            continue;
        };
        let path = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let meta = fs::symlink_metadata(e.path())?;
        if meta.is_dir() {
            let before = (record.dirs.len(), record.files.len());
            record.dirs.push(path.clone());
            walk(&e.path(), &path, record)?;
            // An empty lua/, lib/, bin/ or conf/ installs nothing: not linked, not
            // created; the rock's own directory keeps its empty directories, as LuaRocks.
            let empty = (record.dirs.len() - 1, record.files.len()) == before;
            if empty && path != "rock" && !path.starts_with("rock/") {
                record.dirs.pop();
            }
        } else if meta.is_file() {
            let mut file = file_record(path, &meta);
            file.md5 = hex(&Md5::digest(fs::read(e.path())?));
            record.files.push(file);
        }
    }
    Ok(())
}

#[cfg(unix)]
fn file_record(path: String, meta: &fs::Metadata) -> FileRecord {
    use std::os::unix::fs::MetadataExt;
    FileRecord {
        path,
        size: meta.len(),
        mtime: meta.mtime(),
        mtime_ns: meta.mtime_nsec(),
        mode: meta.mode() & 0o7777,
        md5: String::new(),
    }
}

#[cfg(not(unix))]
fn file_record(path: String, meta: &fs::Metadata) -> FileRecord {
    let since = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .unwrap_or_default();
    FileRecord {
        path,
        size: meta.len(),
        mtime: since.as_secs() as i64,
        mtime_ns: i64::from(since.subsec_nanos()),
        mode: 0o644,
        md5: String::new(),
    }
}

/// How the file behind `meta` differs from its record, if it does.
fn changed(record: &FileRecord, meta: &fs::Metadata) -> Option<String> {
    if !meta.is_file() {
        return Some("no longer a regular file".into());
    }
    let now = file_record(record.path.clone(), meta);
    if now.size != record.size {
        Some(format!(
            "size {} where {} was stored",
            now.size, record.size
        ))
    } else if (now.mtime, now.mtime_ns) != (record.mtime, record.mtime_ns) {
        Some("modified after it was stored".into())
    } else if now.mode != record.mode {
        Some(format!(
            "mode {:o} where {:o} was stored",
            now.mode, record.mode
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn stage(dir: &Path) -> PathBuf {
        let stage = dir.join("stage");
        fs::create_dir_all(stage.join("lua/pkg")).unwrap();
        fs::create_dir_all(stage.join("lib")).unwrap();
        fs::write(stage.join("lua/pkg/init.lua"), "return {}").unwrap();
        fs::write(stage.join("lib/core.so"), "\x7fELF").unwrap();
        fs::set_permissions(stage.join("lib/core.so"), fs::Permissions::from_mode(0o755)).unwrap();
        stage
    }

    fn entry() -> Entry {
        Entry {
            rockspec: "package = 'pkg'".into(),
            modules: BTreeMap::from([("pkg.init".into(), "pkg/init.lua".into())]),
            commands: BTreeMap::new(),
        }
    }

    #[test]
    fn an_entry_is_stored_once_and_linked_with_its_modes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(&dir.path().join("cache"));
        let key = Store::key("rock sha\n5.4");
        assert_ne!(key, Store::key("rock sha\n5.3"));
        assert!(matches!(
            store
                .link_into(&key, &dir.path().join("x"), LinkMode::Auto)
                .unwrap(),
            Lookup::Missing
        ));
        let stage = stage(dir.path());
        store.insert(&key, &stage, &entry()).unwrap();
        assert!(!stage.exists(), "the stage moved into the store");
        assert!(store.contains(&key));
        // Nothing but the entry is left in the store's directory.
        assert_eq!(
            fs::read_dir(dir.path().join("cache/store"))
                .unwrap()
                .count(),
            1
        );

        let linked = dir.path().join("linked");
        match store.link_into(&key, &linked, LinkMode::Hardlink).unwrap() {
            Lookup::Linked(e, md5) => {
                assert_eq!(e, entry());
                assert_eq!(md5["lua/pkg/init.lua"], hex(&Md5::digest(b"return {}")));
                assert_eq!(md5.len(), 2);
            }
            other => panic!("{other:?}"),
        }
        let stored = store.entry_dir(&key).join("files/lib/core.so");
        let meta = fs::metadata(linked.join("lib/core.so")).unwrap();
        assert_eq!(meta.ino(), fs::metadata(&stored).unwrap().ino());
        assert_eq!(meta.mode() & 0o7777, 0o755);

        let copied = dir.path().join("copied");
        assert!(matches!(
            store.link_into(&key, &copied, LinkMode::Copy).unwrap(),
            Lookup::Linked(..)
        ));
        let meta = fs::metadata(copied.join("lib/core.so")).unwrap();
        assert_ne!(meta.ino(), fs::metadata(&stored).unwrap().ino());
        assert_eq!(meta.mode() & 0o7777, 0o755);
        assert_eq!(
            fs::read_to_string(copied.join("lua/pkg/init.lua")).unwrap(),
            "return {}"
        );
    }

    #[test]
    fn an_edit_through_a_hard_link_is_found_and_the_entry_discarded() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(&dir.path().join("cache"));
        let key = Store::key("x");
        store.insert(&key, &stage(dir.path()), &entry()).unwrap();
        let tree = dir.path().join("tree");
        assert!(matches!(
            store.link_into(&key, &tree, LinkMode::Hardlink).unwrap(),
            Lookup::Linked(..)
        ));
        // Same size, new content: only the modification time tells (after a tick of the
        // kernel's coarse clock, as any edit by a person is).
        std::thread::sleep(std::time::Duration::from_millis(30));
        fs::write(tree.join("lua/pkg/init.lua"), "return 1!").unwrap();
        match store
            .link_into(&key, &dir.path().join("other"), LinkMode::Hardlink)
            .unwrap()
        {
            Lookup::Altered(why) => assert!(why.contains("init.lua"), "{why}"),
            other => panic!("{other:?}"),
        }
        store.discard(&key);
        assert!(!store.contains(&key));
        assert_eq!(
            fs::read_to_string(tree.join("lua/pkg/init.lua")).unwrap(),
            "return 1!",
            "the tree keeps its edited file"
        );
        // A chmod through a link is a change too.
        store.insert(&key, &stage(dir.path()), &entry()).unwrap();
        let again = dir.path().join("again");
        store.link_into(&key, &again, LinkMode::Hardlink).unwrap();
        fs::set_permissions(again.join("lib/core.so"), fs::Permissions::from_mode(0o700)).unwrap();
        assert!(matches!(
            store
                .link_into(&key, &dir.path().join("third"), LinkMode::Hardlink)
                .unwrap(),
            Lookup::Altered(_)
        ));
    }

    #[test]
    fn leftovers_of_killed_processes_are_swept_when_storing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(&dir.path().join("cache"));
        let root = dir.path().join("cache/store");
        // No process has id 0x7fffffff (above the kernel's pid limit); ours runs.
        let dead = root.join(format!(".tmp-{}-abc/files", 0x7fff_ffff));
        let discarded = root.join(format!(".discarded-{}-abc", 0x7fff_ffff));
        let ours = root.join(format!(".tmp-{}-other", std::process::id()));
        for d in [&dead, &discarded, &ours] {
            fs::create_dir_all(d).unwrap();
        }
        store
            .insert(&Store::key("z"), &stage(dir.path()), &entry())
            .unwrap();
        assert!(!dead.parent().unwrap().exists() && !discarded.exists());
        assert!(ours.exists(), "a running process's directory stays");
    }

    #[test]
    fn a_damaged_record_is_altered_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(&dir.path().join("cache"));
        let key = Store::key("y");
        store.insert(&key, &stage(dir.path()), &entry()).unwrap();
        fs::write(store.entry_dir(&key).join(RECORD_FILE), "{").unwrap();
        assert!(matches!(
            store
                .link_into(&key, &dir.path().join("t"), LinkMode::Auto)
                .unwrap(),
            Lookup::Altered(_)
        ));
    }
}
