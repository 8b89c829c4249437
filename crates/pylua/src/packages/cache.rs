//! The download cache, in the platform cache directory: files from servers and source URLs
//! kept by their sha256 (so a file is downloaded once and verified every time it is used),
//! server manifests revalidated with conditional requests (ETag / Last-Modified), and an
//! offline mode that uses only what is cached. Writes are atomic (temp file + rename), so a
//! killed process never leaves a half-written entry.

use super::server::{fetch_url_with, FetchError, Revalidate};
use sha2::{Digest, Sha256};
use std::fs;
use std::path::{Path, PathBuf};

/// A downloaded file and its sha256 (hex).
#[derive(Debug, Clone)]
pub struct Fetched {
    pub bytes: Vec<u8>,
    pub sha256: String,
}

/// Fetches through the cache.
#[derive(Debug, Clone)]
pub struct Fetcher {
    root: PathBuf,
    offline: bool,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Fetcher {
    pub fn new(root: impl Into<PathBuf>, offline: bool) -> Fetcher {
        Fetcher {
            root: root.into(),
            offline,
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn url_key(url: &str) -> String {
        sha256_hex(url.as_bytes())
    }

    fn archive_path(&self, sha: &str) -> PathBuf {
        self.root.join("files").join(&sha[..2]).join(sha)
    }

    /// The sha256 of what the cache holds for `url` (read directly for `file://`), without
    /// downloading anything: None when it was never fetched or is gone.
    pub fn cached_sha256(&self, url: &str) -> Option<String> {
        if url.starts_with("file://") {
            return fetch_url_with(url, None).ok().map(|(b, _)| sha256_hex(&b));
        }
        let index = self.root.join("urls").join(Self::url_key(url));
        let sha = fs::read_to_string(&index).ok()?;
        let bytes = fs::read(self.archive_path(sha.trim())).ok()?;
        Some(sha256_hex(&bytes))
    }

    /// A file that does not change once published (rockspecs, rocks, source archives):
    /// served from the cache when this URL was fetched before and its bytes still hash right.
    /// Local `file://` URLs are read directly.
    pub fn get(&self, url: &str) -> Result<Fetched, FetchError> {
        if url.starts_with("file://") {
            let bytes = fetch_url_with(url, None)?.0;
            let sha256 = sha256_hex(&bytes);
            return Ok(Fetched { bytes, sha256 });
        }
        let index = self.root.join("urls").join(Self::url_key(url));
        if let Ok(sha) = fs::read_to_string(&index) {
            let sha = sha.trim();
            if let Ok(bytes) = fs::read(self.archive_path(sha)) {
                if sha256_hex(&bytes) == sha {
                    return Ok(Fetched {
                        bytes,
                        sha256: sha.to_string(),
                    });
                }
            }
        }
        if self.offline {
            return Err(FetchError::Failed {
                url: url.to_string(),
                reason: "not in the cache, and --offline forbids downloading it".into(),
            });
        }
        let bytes = fetch_url_with(url, None)?.0;
        let sha256 = sha256_hex(&bytes);
        // A cache that cannot be written is not fatal: the download itself succeeded.
        let _ = write_atomic(&self.archive_path(&sha256), &bytes);
        let _ = write_atomic(&index, sha256.as_bytes());
        Ok(Fetched { bytes, sha256 })
    }

    /// A file that changes (server manifests): revalidated with the server each time using
    /// the stored ETag / Last-Modified; offline, the cached copy is used as is.
    pub fn get_fresh(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        if url.starts_with("file://") {
            return Ok(fetch_url_with(url, None)?.0);
        }
        let dir = self.root.join("manifests");
        let key = Self::url_key(url);
        let body_path = dir.join(format!("{key}.body"));
        let meta_path = dir.join(format!("{key}.meta"));
        // A server without a versioned manifest answers 404; remembering that lets offline
        // runs fall back to the plain manifest the same way.
        let missing_path = dir.join(format!("{key}.missing"));
        let cached = super::server::read_file(&body_path).ok();
        let meta = fs::read_to_string(&meta_path).unwrap_or_default();
        if self.offline {
            if cached.is_none() && missing_path.exists() {
                return Err(FetchError::NotFound {
                    url: url.to_string(),
                });
            }
            return cached.ok_or_else(|| FetchError::Failed {
                url: url.to_string(),
                reason: "not in the cache, and --offline forbids downloading it".into(),
            });
        }
        let mut lines = meta.lines();
        let validators = cached.as_ref().map(|_| Revalidate {
            etag: lines.next().filter(|s| !s.is_empty()).map(String::from),
            last_modified: lines.next().filter(|s| !s.is_empty()).map(String::from),
        });
        let (bytes, fresh) = match fetch_url_with(url, validators.as_ref()) {
            Err(FetchError::NotFound { url }) => {
                let _ = write_atomic(&missing_path, b"");
                return Err(FetchError::NotFound { url });
            }
            other => other?,
        };
        match fresh {
            // 304 Not Modified.
            None => Ok(cached.unwrap_or_default()),
            Some(v) => {
                let _ = write_atomic(&body_path, &bytes);
                let _ = write_atomic(
                    &meta_path,
                    format!(
                        "{}\n{}\n",
                        v.etag.unwrap_or_default(),
                        v.last_modified.unwrap_or_default()
                    )
                    .as_bytes(),
                );
                Ok(bytes)
            }
        }
    }

    /// Total bytes in the cache.
    pub fn size(&self) -> u64 {
        dir_size(&self.root)
    }

    /// Removes everything in the cache; returns the bytes freed.
    pub fn clean(&self) -> std::io::Result<u64> {
        let size = self.size();
        match fs::remove_dir_all(&self.root) {
            Ok(()) => Ok(size),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(e),
        }
    }
}

fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(path) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(_) => e.metadata().map(|m| m.len()).unwrap_or(0),
            Err(_) => 0,
        })
        .sum()
}

/// Writes a file so readers see the old content or the new, never a part.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    fs::write(&tmp, bytes)?;
    fs::rename(&tmp, path).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

/// A regular file of at most `max` bytes, read with that bound: a device, a FIFO or a file
/// that grows while read is an error, never a way to exhaust memory. For files users name
/// (export files, advisory databases).
pub fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let fail = |e: String| format!("{}: {e}", path.display());
    let meta = fs::metadata(path).map_err(|e| fail(e.to_string()))?;
    if !meta.is_file() {
        return Err(fail("not a regular file".into()));
    }
    let mut bytes = Vec::new();
    fs::File::open(path)
        .map_err(|e| fail(e.to_string()))?
        .take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(e.to_string()))?;
    if bytes.len() as u64 > max {
        return Err(fail(format!("larger than {} MiB", max >> 20)));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha_and_atomic_writes() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/c.txt");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(
            fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1,
            "no temp files left"
        );
        let f = Fetcher::new(dir.path(), true);
        assert_eq!(f.size(), 3);
        assert!(
            f.get("https://example.invalid/x.tar.gz").is_err(),
            "offline and not cached"
        );
        assert_eq!(f.clean().unwrap(), 3);
    }
}
