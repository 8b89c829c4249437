//! Server manifests kept in the cache as [`CompactIndex`] files, so that a command reading
//! a luarocks.org-sized index pays for parsing it once, not on every run.
//!
//! One file per manifest URL, `indexes/<sha256 of the URL>.idx` under the cache root, holding
//! the sha256 of the manifest text it was built from. The manifest itself is still read (or
//! revalidated with its ETag over HTTP, by [`super::cache::Fetcher::get_fresh`]) on every
//! run; hashing it is a few milliseconds, and the hash — not an ETag or a modification time,
//! which a server or a file copy can keep while the content changes — decides whether the
//! cached index still describes it. A changed manifest is parsed again and its index replaces
//! the old one; a cache file that is truncated, corrupt, from another format version or
//! simply unreadable is ignored the same way. Files are written atomically (temp file +
//! rename), so a process killed mid-write leaves the old index or none.

use super::cache::{write_atomic, Fetcher};
use super::manifest::compact::CompactIndex;
use super::manifest::ManifestError;
use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// Where the index of the manifest at `url` is kept.
pub fn index_path(fetcher: &Fetcher, url: &str) -> PathBuf {
    fetcher
        .root()
        .join("indexes")
        .join(format!("{}.idx", super::cache::sha256_hex(url.as_bytes())))
}

/// How an index was had, for tests and diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Read from the cache.
    Cached,
    /// Parsed from the manifest text (first use, a changed manifest or an unusable cache file).
    Parsed,
}

/// The index of the manifest at `url` whose text is `text`: from the cache when it was built
/// from this very text, else parsed and stored (a cache that cannot be written is not an
/// error).
pub fn load(
    fetcher: &Fetcher,
    url: &str,
    text: &[u8],
) -> Result<(CompactIndex, Source), ManifestError> {
    let path = index_path(fetcher, url);
    let index = match std::fs::read(&path) {
        Ok(bytes) => {
            let sha: [u8; 32] = Sha256::digest(text).into();
            match CompactIndex::from_bytes(bytes, Some(&sha)) {
                Ok(index) => return Ok((index, Source::Cached)),
                Err(e) => tracing::debug!("{}: rebuilding: {e}", path.display()),
            }
            CompactIndex::build_from_text(text, &sha)?
        }
        // Nothing cached: the text is hashed while it is read.
        Err(_) => CompactIndex::build_hashing(text)?,
    };
    if let Err(e) = write_atomic(&path, index.as_bytes()) {
        tracing::debug!("{}: not cached: {e}", path.display());
    }
    Ok((index, Source::Parsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &str = r#"repository = { ["lua-cjson"] = { ["2.1.0-1"] = { { arch = "src" } } } }"#;
    const TWO: &str = r#"repository = { ["lua-cjson"] = { ["2.1.0-1"] = { { arch = "src" } },
        ["2.1.0.10-1"] = { { arch = "rockspec" } } } }"#;

    fn versions(index: &CompactIndex, name: &str) -> Vec<String> {
        let i = index.find(name).unwrap();
        index.versions(i).map(|v| v.version.to_string()).collect()
    }

    #[test]
    fn parsed_once_then_cached_and_rebuilt_when_the_manifest_changes() {
        let dir = tempfile::tempdir().unwrap();
        let fetcher = Fetcher::new(dir.path(), false);
        let url = "file:///srv/rocks/manifest";
        let (a, how) = load(&fetcher, url, ONE.as_bytes()).unwrap();
        assert_eq!(how, Source::Parsed);
        let (b, how) = load(&fetcher, url, ONE.as_bytes()).unwrap();
        assert_eq!(how, Source::Cached);
        assert_eq!(a.as_bytes(), b.as_bytes());
        // A changed manifest invalidates the entry, which is replaced.
        let (c, how) = load(&fetcher, url, TWO.as_bytes()).unwrap();
        assert_eq!(how, Source::Parsed);
        assert_eq!(versions(&c, "lua-cjson"), ["2.1.0.10-1", "2.1.0-1"]);
        assert_eq!(
            load(&fetcher, url, TWO.as_bytes()).unwrap().1,
            Source::Cached
        );
        let files: Vec<_> = std::fs::read_dir(dir.path().join("indexes"))
            .unwrap()
            .collect();
        assert_eq!(files.len(), 1, "one file per URL, no temp files left");
    }

    #[test]
    fn a_damaged_cache_file_is_ignored_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let fetcher = Fetcher::new(dir.path(), false);
        let url = "https://rocks.example/manifest";
        let (good, _) = load(&fetcher, url, TWO.as_bytes()).unwrap();
        let path = index_path(&fetcher, url);
        let damages: Vec<Vec<u8>> = vec![
            Vec::new(),
            good.as_bytes()[..good.as_bytes().len() - 1].to_vec(),
            good.as_bytes()[..40].to_vec(),
            {
                let mut b = good.as_bytes().to_vec();
                let last = b.len() - 1;
                b[last] ^= 0x20;
                b
            },
            b"not an index at all".repeat(10),
        ];
        for damaged in damages {
            std::fs::write(&path, &damaged).unwrap();
            let (index, how) = load(&fetcher, url, TWO.as_bytes()).unwrap();
            assert_eq!(how, Source::Parsed);
            assert_eq!(index.as_bytes(), good.as_bytes());
            assert_eq!(std::fs::read(&path).unwrap(), good.as_bytes(), "replaced");
        }
    }

    #[test]
    fn an_unwritable_cache_still_gives_the_index_and_bad_manifests_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        // The cache root is a file: nothing can be stored under it.
        let root = dir.path().join("file");
        std::fs::write(&root, b"").unwrap();
        let fetcher = Fetcher::new(&root, false);
        let (index, how) = load(&fetcher, "file:///x/manifest", ONE.as_bytes()).unwrap();
        assert_eq!(how, Source::Parsed);
        assert_eq!(versions(&index, "lua-cjson"), ["2.1.0-1"]);
        assert!(load(&fetcher, "file:///x/manifest", b"repository = {").is_err());
    }
}
