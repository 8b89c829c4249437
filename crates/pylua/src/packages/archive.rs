//! Unpacking downloaded archives (`.tar.gz`, `.tgz`, `.tar.bz2`, `.tar.xz`, `.tar`, `.zip`,
//! and rocks, which are zips) safely: every entry must land inside the target directory —
//! no `..`, no absolute paths, no links pointing out — and the total size, each file's size,
//! the file count and the compression ratio are bounded, so a hostile archive ends in a clear
//! error instead of filling the disk.
//!
//! The bounds are checked against the sizes entries declare (tar headers, zip directories)
//! before anything is written, and again while bytes stream out, since a declared size can
//! lie: a bomb is refused in well under a second, before it is written out. The defaults sit
//! far above real packages — the largest rocks on luarocks.org unpack to a few tens of MB in a
//! few thousand files, and source archives compress 3–10× — and far below what a bomb needs.

use std::fs;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

/// Bounds for one archive; `config.toml` can change each (the `unpack-*` settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// All files together (`unpack-max-bytes`).
    pub max_bytes: u64,
    /// Any one file (`unpack-max-file-bytes`).
    pub max_file_bytes: u64,
    /// Number of files (`unpack-max-files`).
    pub max_files: usize,
    /// Unpacked bytes per archive byte, beyond the first [`RATIO_FLOOR`] bytes
    /// (`unpack-max-ratio`).
    pub max_ratio: u64,
}

/// Default total: 512 MiB, ten times the largest real rock.
pub const DEFAULT_MAX_BYTES: u64 = 512 << 20;
/// Default per file: 256 MiB.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 256 << 20;
/// Default file count: 50 000 (large rocks hold a few thousand).
pub const DEFAULT_MAX_FILES: usize = 50_000;
/// Default ratio: 200 to 1; text compresses at most ~20× with gzip, zeros ~1000×.
pub const DEFAULT_MAX_RATIO: u64 = 200;
/// Archives may unpack to this much whatever their ratio (tiny archives of text).
pub const RATIO_FLOOR: u64 = 8 << 20;

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            max_bytes: DEFAULT_MAX_BYTES,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            max_files: DEFAULT_MAX_FILES,
            max_ratio: DEFAULT_MAX_RATIO,
        }
    }
}

/// What an archive may still unpack to, as files are written.
struct Budget<'a> {
    bounds: Bounds,
    archive: &'a str,
    /// Total bytes the ratio allows (at least [`RATIO_FLOOR`]).
    ratio_total: u64,
    total: u64,
    files: usize,
}

impl<'a> Budget<'a> {
    fn new(bounds: Bounds, archive: &'a str, compressed: u64) -> Budget<'a> {
        Budget {
            bounds,
            archive,
            ratio_total: bounds.max_ratio.saturating_mul(compressed).max(RATIO_FLOOR),
            total: 0,
            files: 0,
        }
    }

    fn too_large(&self, why: String) -> ArchiveError {
        ArchiveError::TooLarge {
            archive: self.archive.to_string(),
            why,
        }
    }

    fn count_file(&mut self) -> Result<(), ArchiveError> {
        self.files += 1;
        if self.files > self.bounds.max_files {
            return Err(self.too_large(format!(
                "it holds more than {} files (the unpack-max-files setting in config.toml raises it)",
                self.bounds.max_files
            )));
        }
        Ok(())
    }

    /// How many bytes the next file may have, and the error for going over it.
    fn next_file_limit(&self) -> (u64, ArchiveError) {
        let by_total = self.bounds.max_bytes.saturating_sub(self.total);
        let by_ratio = self.ratio_total.saturating_sub(self.total);
        let limit = self.bounds.max_file_bytes.min(by_total).min(by_ratio);
        let error = if limit == self.bounds.max_file_bytes {
            self.too_large(format!(
                "a file in it is larger than {} (the unpack-max-file-bytes setting in config.toml raises it)",
                mib(self.bounds.max_file_bytes)
            ))
        } else if limit == by_total {
            self.too_large(format!(
                "it unpacks to more than {} (the unpack-max-bytes setting in config.toml raises it)",
                mib(self.bounds.max_bytes)
            ))
        } else {
            self.too_large(format!(
                "it unpacks to more than {} times its own size beyond the first {} — a compression bomb? (the unpack-max-ratio setting in config.toml raises it)",
                self.bounds.max_ratio,
                mib(RATIO_FLOOR)
            ))
        };
        (limit, error)
    }

    /// Refuses an entry by its declared size, before anything of it is written.
    fn check_declared(&self, size: u64) -> Result<(), ArchiveError> {
        let (limit, error) = self.next_file_limit();
        if size > limit {
            return Err(error);
        }
        Ok(())
    }

    /// Writes one file, within the bounds whatever its declared size said.
    fn write(&mut self, reader: &mut impl Read, target: &Path) -> Result<(), ArchiveError> {
        let (limit, error) = self.next_file_limit();
        match write_bounded(reader, target, limit) {
            Ok(written) => {
                self.total += written;
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::FileTooLarge => {
                let _ = fs::remove_file(target);
                Err(error)
            }
            Err(e) => Err(ArchiveError::Corrupt {
                archive: self.archive.to_string(),
                why: e.to_string(),
            }),
        }
    }
}

fn mib(bytes: u64) -> String {
    if bytes & ((1 << 20) - 1) == 0 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
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
    let mut budget = Budget::new(bounds, name, bytes.len() as u64);
    match kind(name) {
        Some("tgz") => unpack_tar(flate2::read::GzDecoder::new(bytes), name, dest, budget),
        Some("tbz") => unpack_tar(bzip2::read::BzDecoder::new(bytes), name, dest, budget),
        Some("txz") => unpack_tar(xz2::read::XzDecoder::new(bytes), name, dest, budget),
        Some("tar") => unpack_tar(bytes, name, dest, budget),
        Some("zip") => {
            let mut zip =
                zip::ZipArchive::new(io::Cursor::new(bytes)).map_err(|e| corrupt(e.to_string()))?;
            if zip.len() > bounds.max_files {
                budget.files = zip.len() - 1;
                budget.count_file()?;
            }
            // The central directory declares every size: refuse a bomb before writing.
            let mut declared = Budget::new(bounds, name, bytes.len() as u64);
            for i in 0..zip.len() {
                let size = zip
                    .by_index_raw(i)
                    .map_err(|e| corrupt(e.to_string()))?
                    .size();
                declared.check_declared(size)?;
                declared.total = declared.total.saturating_add(size);
            }
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
                budget.count_file()?;
                budget.write(&mut entry, &target)?;
                if let Some(mode) = entry.unix_mode() {
                    set_mode(&target, mode);
                }
            }
            Ok(budget.files)
        }
        _ => Err(ArchiveError::Unsupported {
            archive: name.to_string(),
        }),
    }
}

fn unpack_tar(
    reader: impl Read,
    name: &str,
    dest: &Path,
    mut budget: Budget<'_>,
) -> Result<usize, ArchiveError> {
    let corrupt = |why: String| ArchiveError::Corrupt {
        archive: name.to_string(),
        why,
    };
    let mut archive = tar::Archive::new(reader);
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
        budget.count_file()?;
        let target = dest.join(&rel);
        let kind = entry.header().entry_type();
        use tar::EntryType::*;
        match kind {
            Directory => fs::create_dir_all(&target).map_err(|e| corrupt(e.to_string()))?,
            Regular | Continuous | GNUSparse => {
                if let Some(parent) = target.parent() {
                    fs::create_dir_all(parent).map_err(|e| corrupt(e.to_string()))?;
                }
                // The header's size first: a bomb is refused before a byte is written.
                budget.check_declared(entry.size())?;
                budget.write(&mut entry, &target)?;
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
            // A hard link becomes a copy, which counts like any other file.
            let source = dest.join(&link);
            let size = fs::metadata(&source).map(|m| m.len()).unwrap_or(0);
            budget.check_declared(size)?;
            budget.total += size;
            fs::copy(source, &target).map(|_| ())
        };
        made.map_err(|e| corrupt(format!("cannot create link {}: {e}", target.display())))?;
    }
    Ok(budget.files)
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
            ..Bounds::default()
        };
        let err = unpack(&bytes, "x.tgz", dir.path(), bounds)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unpacks to more than 1000 bytes (the unpack-max-bytes setting"),
            "{err}"
        );
        assert!(!dir.path().join("a").exists(), "nothing of it is written");
        let many: Vec<(String, &[u8])> =
            (0..20).map(|i| (format!("f{i}"), b"x" as &[u8])).collect();
        let many: Vec<(&str, &[u8])> = many.iter().map(|(n, d)| (n.as_str(), *d)).collect();
        let err = unpack(&tar_gz(&many), "x.tgz", dir.path(), bounds)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("more than 10 files (the unpack-max-files setting"),
            "{err}"
        );
    }

    /// A tar.gz of one entry of `size` zero bytes, compressed as it is produced.
    pub(crate) fn zeros_tar_gz(name: &str, size: u64) -> Vec<u8> {
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        let mut header = tar::Header::new_gnu();
        header.set_size(size);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(&mut header, name, io::repeat(0).take(size))
            .unwrap();
        builder.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn a_gigabyte_of_zeros_is_refused_before_it_is_written() {
        let bytes = zeros_tar_gz("bomb/zeros", 1 << 30);
        assert!(bytes.len() < 8 << 20, "{}", bytes.len());
        let dir = tempfile::tempdir().unwrap();
        let err = unpack(&bytes, "bomb.tar.gz", dir.path(), Bounds::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("a file in it is larger than 256 MiB (the unpack-max-file-bytes setting"),
            "{err}"
        );
        assert!(!dir.path().join("bomb/zeros").exists());
    }

    #[test]
    fn ratio_and_per_file_bounds_hold_while_streaming() {
        // Several files, each within the per-file bound, that together compress too well.
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        for i in 0..8 {
            let mut header = tar::Header::new_gnu();
            header.set_size(4 << 20);
            header.set_mode(0o644);
            builder
                .append_data(&mut header, format!("f{i}"), io::repeat(0).take(4 << 20))
                .unwrap();
        }
        let bytes = builder.into_inner().unwrap().finish().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let err = unpack(&bytes, "r.tgz", dir.path(), Bounds::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("times its own size beyond the first 8 MiB"),
            "{err}"
        );
        assert!(err.contains("unpack-max-ratio"), "{err}");
        // What was written stays within the ratio's allowance, and the rest never started.
        let written: u64 = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum();
        assert!(
            written <= RATIO_FLOOR.max(DEFAULT_MAX_RATIO * bytes.len() as u64),
            "{written}"
        );
        assert!(!dir.path().join("f7").exists());
        // The same archive with a generous ratio unpacks.
        let generous = Bounds {
            max_ratio: 100_000,
            ..Bounds::default()
        };
        assert_eq!(unpack(&bytes, "r.tgz", dir.path(), generous).unwrap(), 8);

        // A zip whose entries are refused from its central directory.
        let mut zip = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        zip.start_file("big", options).unwrap();
        io::copy(&mut io::repeat(0).take(2 << 20), &mut zip).unwrap();
        let bytes = zip.finish().unwrap().into_inner();
        let small = Bounds {
            max_file_bytes: 1 << 20,
            ..Bounds::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let err = unpack(&bytes, "x.zip", dir.path(), small)
            .unwrap_err()
            .to_string();
        assert!(err.contains("larger than 1 MiB"), "{err}");
        assert!(!dir.path().join("big").exists());
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
