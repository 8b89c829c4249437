//! Unpacking downloaded archives (`.tar.gz`, `.tgz`, `.tar.bz2`, `.tar.xz`, `.tar`, `.zip`,
//! and rocks, which are zips) safely: every entry must land inside the target directory —
//! no `..`, no absolute paths, no links pointing out — and the total size and file count are
//! bounded, so a hostile archive ends in a clear error instead of filling the disk.

use std::fs;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

/// Bounds for one archive.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub max_bytes: u64,
    pub max_files: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            max_bytes: 1 << 30,
            max_files: 100_000,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{archive}: unsafe entry '{entry}': {why}")]
    Unsafe {
        archive: String,
        entry: String,
        why: &'static str,
    },
    #[error("{archive}: {why}")]
    TooLarge { archive: String, why: String },
    #[error("{archive}: cannot unpack: {why}")]
    Corrupt { archive: String, why: String },
    #[error("{archive}: unsupported archive type (expected .tar.gz, .tgz, .tar.bz2, .tar.xz, .tar, .zip or .rock)")]
    Unsupported { archive: String },
}

/// The kinds of archives we read, by file name.
fn kind(name: &str) -> Option<&'static str> {
    let n = name.to_ascii_lowercase();
    [
        (".tar.gz", "tgz"),
        (".tgz", "tgz"),
        (".tar.bz2", "tbz"),
        (".tbz2", "tbz"),
        (".tar.xz", "txz"),
        (".txz", "txz"),
        (".tar", "tar"),
        (".zip", "zip"),
        (".rock", "zip"),
    ]
    .iter()
    .find(|(ext, _)| n.ends_with(ext))
    .map(|(_, k)| *k)
}

/// True when `name` looks like an archive this module can unpack.
pub fn is_archive(name: &str) -> bool {
    kind(name).is_some()
}

/// Unpacks `bytes` (named `name`, whose extension picks the format) into `dest`, which must
/// exist. Returns the number of files written.
pub fn unpack(
    bytes: &[u8],
    name: &str,
    dest: &Path,
    bounds: Bounds,
) -> Result<usize, ArchiveError> {
    let corrupt = |why: String| ArchiveError::Corrupt {
        archive: name.to_string(),
        why,
    };
    match kind(name) {
        Some("tgz") => unpack_tar(flate2::read::GzDecoder::new(bytes), name, dest, bounds),
        Some("tbz") => unpack_tar(bzip2::read::BzDecoder::new(bytes), name, dest, bounds),
        Some("txz") => unpack_tar(xz2::read::XzDecoder::new(bytes), name, dest, bounds),
        Some("tar") => unpack_tar(bytes, name, dest, bounds),
        Some("zip") => {
            let mut zip =
                zip::ZipArchive::new(io::Cursor::new(bytes)).map_err(|e| corrupt(e.to_string()))?;
            if zip.len() > bounds.max_files {
                return Err(ArchiveError::TooLarge {
                    archive: name.into(),
                    why: format!("more than {} files", bounds.max_files),
                });
            }
            let mut total = 0u64;
            let mut files = 0;
            for i in 0..zip.len() {
                let mut entry = zip.by_index(i).map_err(|e| corrupt(e.to_string()))?;
                let entry_name = entry.name().to_string();
                let rel = safe_relative(&entry_name).map_err(|why| ArchiveError::Unsafe {
                    archive: name.into(),
                    entry: entry_name.clone(),
                    why,
                })?;
                let Some(rel) = rel else { continue };
                let target = dest.join(&rel);
                if entry.is_dir() {
                    fs::create_dir_all(&target).map_err(|e| corrupt(e.to_string()))?;
                    continue;
                }
                if entry.unix_mode().is_some_and(|m| m & 0o170000 == 0o120000) {
                    return Err(ArchiveError::Unsafe {
                        archive: name.into(),
                        entry: entry_name,
                        why: "symbolic links are not accepted in zip archives",
                    });
                }
                if let Some(parent) = target.parent() {
                    fs::create_dir_all(parent).map_err(|e| corrupt(e.to_string()))?;
                }
                let written = write_bounded(&mut entry, &target, bounds.max_bytes - total)
                    .map_err(|e| bounded_error(e, name, bounds))?;
                total += written;
                files += 1;
                if let Some(mode) = entry.unix_mode() {
                    set_mode(&target, mode);
                }
            }
            Ok(files)
        }
        _ => Err(ArchiveError::Unsupported {
            archive: name.to_string(),
        }),
    }
}

fn bounded_error(e: io::Error, name: &str, bounds: Bounds) -> ArchiveError {
    if e.kind() == io::ErrorKind::FileTooLarge {
        ArchiveError::TooLarge {
            archive: name.into(),
            why: format!("unpacks to more than {} MiB", bounds.max_bytes >> 20),
        }
    } else {
        ArchiveError::Corrupt {
            archive: name.into(),
            why: e.to_string(),
        }
    }
}

fn unpack_tar(
    reader: impl Read,
    name: &str,
    dest: &Path,
    bounds: Bounds,
) -> Result<usize, ArchiveError> {
    let corrupt = |why: String| ArchiveError::Corrupt {
        archive: name.to_string(),
        why,
    };
    let mut archive = tar::Archive::new(reader);
    let mut total = 0u64;
    let mut files = 0usize;
    let mut links: Vec<(PathBuf, PathBuf, bool)> = Vec::new();
    for entry in archive.entries().map_err(|e| corrupt(e.to_string()))? {
        let mut entry = entry.map_err(|e| corrupt(e.to_string()))?;
        let path_bytes = entry.path_bytes().into_owned();
        let entry_name = String::from_utf8_lossy(&path_bytes).into_owned();
        let rel = safe_relative(&entry_name).map_err(|why| ArchiveError::Unsafe {
            archive: name.into(),
            entry: entry_name.clone(),
            why,
        })?;
        let Some(rel) = rel else { continue };
        files += 1;
        if files > bounds.max_files {
            return Err(ArchiveError::TooLarge {
                archive: name.into(),
                why: format!("more than {} files", bounds.max_files),
            });
        }
        let target = dest.join(&rel);
        let kind = entry.header().entry_type();
        use tar::EntryType::*;
        match kind {
            Directory => fs::create_dir_all(&target).map_err(|e| corrupt(e.to_string()))?,
            Regular | Continuous | GNUSparse => {
                if let Some(parent) = target.parent() {
                    fs::create_dir_all(parent).map_err(|e| corrupt(e.to_string()))?;
                }
                let written = write_bounded(&mut entry, &target, bounds.max_bytes - total)
                    .map_err(|e| bounded_error(e, name, bounds))?;
                total += written;
                if let Ok(mode) = entry.header().mode() {
                    set_mode(&target, mode);
                }
            }
            Symlink | Link => {
                let link = entry
                    .link_name()
                    .map_err(|e| corrupt(e.to_string()))?
                    .ok_or_else(|| corrupt(format!("link '{entry_name}' has no target")))?
                    .into_owned();
                // A symlink is relative to its own directory, a hard link to the root.
                let base = if kind == Symlink {
                    rel.parent().map(Path::to_path_buf).unwrap_or_default()
                } else {
                    PathBuf::new()
                };
                if link.is_absolute() || !stays_inside(&base.join(&link)) {
                    return Err(ArchiveError::Unsafe {
                        archive: name.into(),
                        entry: entry_name,
                        why: "the link points outside the archive",
                    });
                }
                links.push((target, link, kind == Symlink));
            }
            // Headers that carry metadata only.
            XGlobalHeader | XHeader | GNULongName | GNULongLink => {}
            _ => {
                return Err(ArchiveError::Unsafe {
                    archive: name.into(),
                    entry: entry_name,
                    why: "device files and FIFOs are not accepted",
                })
            }
        }
    }
    // Links last, so no later entry can be written through one.
    for (target, link, symbolic) in links {
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(|e| corrupt(e.to_string()))?;
        }
        let _ = fs::remove_file(&target);
        let made = if symbolic {
            std::os::unix::fs::symlink(&link, &target)
        } else {
            fs::copy(dest.join(&link), &target).map(|_| ())
        };
        made.map_err(|e| corrupt(format!("cannot create link {}: {e}", target.display())))?;
    }
    Ok(files)
}

/// Checks an entry name: relative, no `..` escaping, no drive or root. `Ok(None)` for the
/// archive root itself (`./`).
fn safe_relative(name: &str) -> Result<Option<PathBuf>, &'static str> {
    if name.starts_with('/') || name.starts_with('\\') {
        return Err("absolute paths are not accepted");
    }
    let mut out = PathBuf::new();
    for part in Path::new(name).components() {
        match part {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return Err("the path leaves the archive ('..')");
                }
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err("absolute paths are not accepted")
            }
        }
    }
    Ok((!out.as_os_str().is_empty()).then_some(out))
}

/// True when a relative path with `..` parts stays inside its root.
fn stays_inside(path: &Path) -> bool {
    let mut depth = 0i32;
    for part in path.components() {
        match part {
            Component::Normal(_) => depth += 1,
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            Component::CurDir => {}
            _ => return false,
        }
    }
    true
}

/// Copies at most `budget` bytes into a new file; more is a `FileTooLarge` error.
fn write_bounded(reader: &mut impl Read, target: &Path, budget: u64) -> io::Result<u64> {
    // Never write through an existing link.
    if fs::symlink_metadata(target).is_ok_and(|m| m.file_type().is_symlink()) {
        fs::remove_file(target)?;
    }
    let mut file = fs::File::create(target)?;
    let copied = io::copy(&mut reader.take(budget + 1), &mut file)?;
    if copied > budget {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            "archive too large",
        ));
    }
    Ok(copied)
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    // Keep execute bits, drop setuid/setgid/sticky and world-writability.
    let mode = (mode & 0o755) | 0o600;
    let _ = fs::set_permissions(path, fs::Permissions::from_mode(mode));
}

/// The single top-level directory of an unpacked archive, if it has exactly one entry that
/// is a directory (most source tarballs: `foo-1.0/`).
pub fn single_root(dir: &Path) -> Option<PathBuf> {
    let mut entries = fs::read_dir(dir).ok()?.filter_map(Result::ok);
    let first = entries.next()?;
    if entries.next().is_some() || !first.file_type().ok()?.is_dir() {
        return None;
    }
    Some(first.path())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_gz(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        for (name, data) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_entry_type(tar::EntryType::Regular);
            // Write the raw name so hostile names survive the builder's own checks.
            let raw = header.as_old_mut();
            raw.name[..name.len()].copy_from_slice(name.as_bytes());
            header.set_cksum();
            builder.append(&header, *data).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

    fn symlink_tar(name: &str, target: &str) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        header.set_path(name).unwrap();
        let raw = header.as_old_mut();
        raw.linkname[..target.len()].copy_from_slice(target.as_bytes());
        header.set_cksum();
        builder.append(&header, io::empty()).unwrap();
        builder.into_inner().unwrap()
    }

    #[test]
    fn unpacks_ordinary_archives() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = tar_gz(&[
            ("pkg-1.0/src/a.lua", b"return 1"),
            ("pkg-1.0/README", b"hi"),
        ]);
        assert_eq!(
            unpack(&bytes, "pkg-1.0.tar.gz", dir.path(), Bounds::default()).unwrap(),
            2
        );
        let root = single_root(dir.path()).unwrap();
        assert_eq!(
            fs::read_to_string(root.join("src/a.lua")).unwrap(),
            "return 1"
        );
    }

    #[test]
    fn refuses_escapes() {
        for (name, expected) in [
            ("../evil.lua", "leaves the archive"),
            ("a/../../evil.lua", "leaves the archive"),
            ("/etc/evil", "absolute paths"),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let inner = dir.path().join("inner");
            fs::create_dir(&inner).unwrap();
            let bytes = tar_gz(&[(name, b"x")]);
            let err = unpack(&bytes, "x.tar.gz", &inner, Bounds::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{name}: {err}");
            assert!(!dir.path().join("evil.lua").exists());
        }
        let dir = tempfile::tempdir().unwrap();
        for target in ["/etc/passwd", "../../outside", "a/../../x"] {
            let err = unpack(
                &symlink_tar("link", target),
                "x.tar",
                dir.path(),
                Bounds::default(),
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains("points outside"), "{target}: {err}");
        }
        // A link that stays inside is fine.
        unpack(
            &symlink_tar("d/link", "../file"),
            "x.tar",
            dir.path(),
            Bounds::default(),
        )
        .unwrap();
    }

    #[test]
    fn bounds_size_and_count() {
        let dir = tempfile::tempdir().unwrap();
        let big = vec![b'x'; 10_000];
        let bytes = tar_gz(&[("a", &big)]);
        let bounds = Bounds {
            max_bytes: 1000,
            max_files: 10,
        };
        let err = unpack(&bytes, "x.tgz", dir.path(), bounds)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("more than 0 MiB") || err.contains("unpacks to more than"),
            "{err}"
        );
        let many: Vec<(String, &[u8])> =
            (0..20).map(|i| (format!("f{i}"), b"x" as &[u8])).collect();
        let many: Vec<(&str, &[u8])> = many.iter().map(|(n, d)| (n.as_str(), *d)).collect();
        let err = unpack(&tar_gz(&many), "x.tgz", dir.path(), bounds)
            .unwrap_err()
            .to_string();
        assert!(err.contains("more than 10 files"), "{err}");
    }

    #[test]
    fn corrupt_and_unknown() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = tar_gz(&[("a", b"hello")]);
        bytes.truncate(bytes.len() / 2);
        assert!(matches!(
            unpack(&bytes, "x.tar.gz", dir.path(), Bounds::default()),
            Err(ArchiveError::Corrupt { .. })
        ));
        assert!(matches!(
            unpack(b"x", "x.rar", dir.path(), Bounds::default()),
            Err(ArchiveError::Unsupported { .. })
        ));
    }
}
