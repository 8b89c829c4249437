//! Projects: a directory holding `pylua.toml` (what the user asks for), `pylua.lock` (exactly
//! what that resolved to) and `.pylua/` (the installed tree, in the LuaRocks layout, and the
//! history of every change). This layer reads and writes those files; the operations that
//! change an environment live in [`crate::operations::project`].

pub mod file;
pub mod history;
pub mod lockfile;

pub use file::{FileError, ProjectFile};
pub use history::{History, PackageChange, Record, Snapshot};
pub use lockfile::{LockedPackage, Lockfile, LOCK_VERSION};

use std::path::{Path, PathBuf};

pub const PROJECT_FILE: &str = "pylua.toml";
pub const LOCK_FILE: &str = "pylua.lock";
pub const TREE_DIR: &str = ".pylua";
/// Inside `.pylua/`: the history, and the file locked while a command changes the project.
const HISTORY_DIR: &str = "history";
const PROJECT_LOCK: &str = ".project-lock";
/// The project's local record of which modules its code requires (see
/// [`crate::curator::usage`]).
pub const USAGE_DIR: &str = "usage";
/// Entries of `.pylua/` that are not part of the installed tree (left out of its hash).
/// Results of `pylua test` and `pylua bench` for the installed packages, read by `doctor`
/// ([`crate::operations::checks`]).
pub const CHECKS_DIR: &str = "checks";
pub const NOT_IN_TREE: [&str; 4] = [HISTORY_DIR, PROJECT_LOCK, USAGE_DIR, CHECKS_DIR];

/// A project on disk.
#[derive(Debug, Clone)]
pub struct Project {
    root: PathBuf,
}

impl Project {
    /// The project whose root is `root` (it need not have a `pylua.toml` yet).
    pub fn at(root: impl Into<PathBuf>) -> Project {
        Project { root: root.into() }
    }

    /// The nearest directory from `start` upwards holding a `pylua.toml`.
    pub fn find(start: &Path) -> Option<Project> {
        let start = std::path::absolute(start).unwrap_or_else(|_| start.to_path_buf());
        start
            .ancestors()
            .find(|dir| dir.join(PROJECT_FILE).is_file())
            .map(Project::at)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn project_file(&self) -> PathBuf {
        self.root.join(PROJECT_FILE)
    }
    pub fn lock_file(&self) -> PathBuf {
        self.root.join(LOCK_FILE)
    }
    pub fn tree_dir(&self) -> PathBuf {
        self.root.join(TREE_DIR)
    }
    pub fn history(&self) -> History {
        History::new(self.tree_dir().join(HISTORY_DIR))
    }
    pub(crate) fn lock_path(&self) -> PathBuf {
        self.tree_dir().join(PROJECT_LOCK)
    }

    /// The project and lock files as they are now.
    pub fn snapshot(&self) -> Result<Snapshot, FileError> {
        let read = |path: PathBuf| match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(FileError::new(&path, e.to_string())),
        };
        Ok(Snapshot {
            project: read(self.project_file())?,
            lock: read(self.lock_file())?,
        })
    }

    /// Reads and validates `pylua.toml`.
    pub fn read_project(&self, snapshot: &Snapshot) -> Result<ProjectFile, FileError> {
        let path = self.project_file();
        let text = snapshot.project.as_deref().ok_or_else(|| {
            FileError::new(&path, "not found: there is no project here")
                .with_hint(crate::hint::Hint::Init)
        })?;
        ProjectFile::parse(text, &path)
    }

    /// Reads and checks `pylua.lock`, if there is one.
    pub fn read_lock(&self, snapshot: &Snapshot) -> Result<Option<Lockfile>, FileError> {
        snapshot
            .lock
            .as_deref()
            .map(|text| Lockfile::parse(text, &self.lock_file()))
            .transpose()
    }

    /// Writes the project and lock files of `snapshot` (removing one that is `None`), each
    /// atomically.
    pub fn write(&self, snapshot: &Snapshot) -> Result<(), FileError> {
        for (path, text) in [
            (self.project_file(), &snapshot.project),
            (self.lock_file(), &snapshot.lock),
        ] {
            let result = match text {
                Some(text) => crate::packages::cache::write_atomic(&path, text.as_bytes()),
                None => match std::fs::remove_file(&path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                    _ => Ok(()),
                },
            };
            result.map_err(|e| FileError::new(&path, e.to_string()))?;
        }
        Ok(())
    }
}
