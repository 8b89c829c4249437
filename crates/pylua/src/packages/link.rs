//! Placing one file of the package store into a staging directory: by reflink (a
//! copy-on-write clone, Linux `FICLONE`), by hard link, or by copy — the `link-mode` setting,
//! as uv's `link-mode`. `auto` tries them in that order; every mode falls back to a copy when
//! its way is refused (a file system without reflinks, another device, too many links), so a
//! setting never makes an install fail.
//!
//! A reflink or a copy gives the tree a file of its own. A hard link shares the store's
//! inode: cheapest (one system call a file), but an edit made in place through the tree
//! reaches the store, which is why [`crate::packages::store`] checks an entry before linking
//! it anywhere else.

use serde::{Deserialize, Serialize};
use std::fs;
use std::io;
use std::path::Path;

/// How installed files are made from the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkMode {
    /// Reflink where the file system can, else hard link, else copy.
    #[default]
    Auto,
    /// Reflink, else copy.
    Reflink,
    /// Hard link, else copy.
    Hardlink,
    /// Always copy.
    Copy,
}

impl LinkMode {
    pub const NAMES: [&'static str; 4] = ["auto", "reflink", "hardlink", "copy"];

    pub fn as_str(self) -> &'static str {
        match self {
            LinkMode::Auto => "auto",
            LinkMode::Reflink => "reflink",
            LinkMode::Hardlink => "hardlink",
            LinkMode::Copy => "copy",
        }
    }
}

impl std::fmt::Display for LinkMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for LinkMode {
    type Err = String;
    fn from_str(s: &str) -> Result<LinkMode, String> {
        match s {
            "auto" => Ok(LinkMode::Auto),
            "reflink" => Ok(LinkMode::Reflink),
            "hardlink" => Ok(LinkMode::Hardlink),
            "copy" => Ok(LinkMode::Copy),
            _ => Err(format!(
                "expected one of {}, found \"{s}\"",
                LinkMode::NAMES.join(", ")
            )),
        }
    }
}

/// The way files are placed, narrowed as refusals come in: a [`Linker`] starts from its
/// mode's first way and stops trying a way once the file system refused it, so an `auto`
/// install on a file system without reflinks pays for one failed clone, not one a file
/// (nor one a package: a refused reflink is remembered for the process).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    Reflink,
    Hardlink,
    Copy,
}

/// Places files by a [`LinkMode`], remembering which ways work.
#[derive(Debug)]
pub struct Linker {
    mode: LinkMode,
    way: Way,
    /// Whether an earlier refusal of reflinks between the same two file systems was looked
    /// up (see [`REFLINK_REFUSED`]).
    recalled: bool,
}

/// The (source, destination) devices between which a reflink was refused, for the rest of
/// the process: a refused reflink has created and unlinked a file by then, and on a file
/// system without them that would be one wasted inode for every package of an install.
#[cfg(target_os = "linux")]
static REFLINK_REFUSED: std::sync::Mutex<Vec<(u64, u64)>> = std::sync::Mutex::new(Vec::new());

/// The devices of `from` and of the directory `to` goes into.
#[cfg(target_os = "linux")]
fn devices(from: &Path, to: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let from = fs::metadata(from).ok()?.dev();
    let to = fs::metadata(to.parent()?).ok()?.dev();
    Some((from, to))
}

#[cfg(target_os = "linux")]
fn reflink_refused_before(from: &Path, to: &Path) -> bool {
    let Some(pair) = devices(from, to) else {
        return false;
    };
    REFLINK_REFUSED
        .lock()
        .is_ok_and(|refused| refused.contains(&pair))
}

#[cfg(target_os = "linux")]
fn remember_reflink_refused(from: &Path, to: &Path) {
    if let (Some(pair), Ok(mut refused)) = (devices(from, to), REFLINK_REFUSED.lock()) {
        if !refused.contains(&pair) {
            refused.push(pair);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn reflink_refused_before(_from: &Path, _to: &Path) -> bool {
    false
}

#[cfg(not(target_os = "linux"))]
fn remember_reflink_refused(_from: &Path, _to: &Path) {}

impl Linker {
    pub fn new(mode: LinkMode) -> Linker {
        let way = match mode {
            LinkMode::Auto | LinkMode::Reflink => Way::Reflink,
            LinkMode::Hardlink => Way::Hardlink,
            LinkMode::Copy => Way::Copy,
        };
        Linker {
            mode,
            way,
            recalled: false,
        }
    }

    /// The way tried after `self.way` was refused.
    fn next_way(&self) -> Way {
        match (self.way, self.mode) {
            (Way::Reflink, LinkMode::Auto) => Way::Hardlink,
            _ => Way::Copy,
        }
    }

    /// The way the next file will be tried first.
    pub fn way(&self) -> Way {
        self.way
    }

    /// Makes `to` (which must not exist) a file with `from`'s content and exactly `mode`'s
    /// permission bits (a hard link has the store file's own, which the store keeps equal).
    pub fn place(&mut self, from: &Path, to: &Path, mode: u32) -> io::Result<()> {
        if self.way == Way::Reflink && !self.recalled {
            self.recalled = true;
            if reflink_refused_before(from, to) {
                self.way = self.next_way();
            }
        }
        loop {
            let result = match self.way {
                Way::Reflink => reflink(from, to, mode),
                Way::Hardlink => fs::hard_link(from, to),
                Way::Copy => return copy(from, to, mode),
            };
            match result {
                Ok(()) => return Ok(()),
                Err(e) if refused(&e) => {
                    if self.way == Way::Reflink {
                        remember_reflink_refused(from, to);
                    }
                    self.way = self.next_way();
                    tracing::debug!(error = %e, next = ?self.way, "link refused; trying the next way");
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Errors that say "not this way here" rather than "this file is wrong": the next way may
/// still work. Cross-device (`EXDEV`) is one: store and tree on different file systems.
fn refused(e: &io::Error) -> bool {
    if e.kind() == io::ErrorKind::Unsupported || e.kind() == io::ErrorKind::CrossesDevices {
        return true;
    }
    #[cfg(unix)]
    if let Some(code) = e.raw_os_error() {
        return [
            libc::EXDEV,
            libc::EOPNOTSUPP,
            libc::ENOTSUP,
            libc::EINVAL,
            libc::ENOTTY,
            libc::ENOSYS,
            libc::EPERM,
            libc::EMLINK,
        ]
        .contains(&code);
    }
    false
}

/// A new file (never one that exists: it could be a hard link into the store) with `from`'s
/// content and `mode` as its permissions whatever the umask.
fn copy(from: &Path, to: &Path, mode: u32) -> io::Result<()> {
    let mut src = fs::File::open(from)?;
    let mut dst = create_new(to, mode)?;
    io::copy(&mut src, &mut dst)?;
    set_mode(&dst, mode)
}

#[cfg(unix)]
fn create_new(path: &Path, mode: u32) -> io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
}

#[cfg(not(unix))]
fn create_new(path: &Path, _mode: u32) -> io::Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(unix)]
fn set_mode(file: &fs::File, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_file: &fs::File, _mode: u32) -> io::Result<()> {
    Ok(())
}

/// A copy-on-write clone of `from` at `to`; on refusal `to` is removed again, so the caller
/// can try another way.
#[cfg(target_os = "linux")]
fn reflink(from: &Path, to: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::io::AsRawFd;
    let src = fs::File::open(from)?;
    let dst = create_new(to, mode)?;
    // SAFETY: both descriptors are open for the whole call (the `File`s outlive it), and
    // FICLONE takes the source descriptor as its integer argument and writes no memory.
    let rc = unsafe { libc::ioctl(dst.as_raw_fd(), libc::FICLONE, src.as_raw_fd()) };
    if rc != 0 {
        let e = io::Error::last_os_error();
        drop(dst);
        let _ = fs::remove_file(to);
        return Err(e);
    }
    // The umask may have taken bits off `mode` at creation.
    set_mode(&dst, mode)
}

#[cfg(not(target_os = "linux"))]
fn reflink(_from: &Path, _to: &Path, _mode: u32) -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn modes_parse_and_print() {
        for name in LinkMode::NAMES {
            assert_eq!(name.parse::<LinkMode>().unwrap().to_string(), name);
        }
        let err = "symlink".parse::<LinkMode>().unwrap_err();
        assert!(err.contains("auto, reflink, hardlink, copy"), "{err}");
        assert_eq!(LinkMode::default(), LinkMode::Auto);
    }

    #[test]
    fn each_mode_places_the_content_with_the_mode_asked() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("store.lua");
        fs::write(&from, "return 1").unwrap();
        fs::set_permissions(&from, fs::Permissions::from_mode(0o644)).unwrap();
        for mode in [
            LinkMode::Auto,
            LinkMode::Reflink,
            LinkMode::Hardlink,
            LinkMode::Copy,
        ] {
            let to = dir.path().join(format!("tree-{mode}.lua"));
            let mut linker = Linker::new(mode);
            linker.place(&from, &to, 0o644).unwrap();
            assert_eq!(fs::read_to_string(&to).unwrap(), "return 1", "{mode}");
            let meta = fs::metadata(&to).unwrap();
            assert_eq!(meta.permissions().mode() & 0o7777, 0o644, "{mode}");
            let same_inode = meta.ino() == fs::metadata(&from).unwrap().ino();
            assert_eq!(
                same_inode,
                linker.way() == Way::Hardlink,
                "{mode}: only a hard link shares the inode"
            );
            if mode == LinkMode::Copy {
                assert_eq!(linker.way(), Way::Copy);
            }
        }
    }

    #[test]
    fn an_existing_destination_is_an_error_not_a_fallback() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("a");
        let to = dir.path().join("b");
        fs::write(&from, "new").unwrap();
        fs::write(&to, "old").unwrap();
        for mode in [LinkMode::Hardlink, LinkMode::Copy] {
            let mut linker = Linker::new(mode);
            assert_eq!(
                linker.place(&from, &to, 0o644).unwrap_err().kind(),
                io::ErrorKind::AlreadyExists,
                "{mode}"
            );
            assert_eq!(fs::read_to_string(&to).unwrap(), "old", "{mode}");
        }
    }
}
