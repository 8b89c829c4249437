//! Rocks servers: reading files from a LuaRocks server over `file://`, `http://` or
//! `https://`, with timeouts, a size bound and errors that say which URL failed and why.
//! Trust, proxies and credentials are [`crate::http`]'s.

use std::io::Read;
use std::path::PathBuf;

/// The server real users get by default.
pub const DEFAULT_SERVER: &str = "https://luarocks.org";

/// Largest file accepted from a server (manifests of luarocks.org are ~10 MB).
const MAX_DOWNLOAD: u64 = 512 << 20;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The server answered, but has no such file.
    #[error("{url}: not found")]
    NotFound { url: String },
    /// The file could not be read (network, HTTP error, unreadable path).
    #[error("{url}: {reason}")]
    Failed { url: String, reason: String },
}

/// One rocks server, identified by its base URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Server {
    url: String,
}

impl Server {
    /// Accepts `file:///path`, a plain local path, `http://…` and `https://…`.
    pub fn new(url: &str) -> Result<Server, FetchError> {
        let trimmed = url.trim().trim_end_matches('/');
        if crate::http::has_credentials(trimmed) {
            // A server URL ends up in pylua.lock, pylua.toml, logs and messages.
            return Err(FetchError::Failed {
                url: crate::http::redact_url(trimmed),
                reason: "a server URL may not carry a user name or password: put them in \
                         config.toml's [server-auth.\"URL\"] or in ~/.netrc"
                    .into(),
            });
        }
        let url = if trimmed.starts_with("http://")
            || trimmed.starts_with("https://")
            || trimmed.starts_with("file://")
        {
            trimmed.to_string()
        } else if trimmed.contains("://") {
            return Err(FetchError::Failed {
                url: url.to_string(),
                reason: "unsupported scheme: use file://, http:// or https://".into(),
            });
        } else if trimmed.is_empty() {
            return Err(FetchError::Failed {
                url: url.to_string(),
                reason: "empty server URL".into(),
            });
        } else {
            // A local directory given as a path.
            let path = std::fs::canonicalize(trimmed).unwrap_or_else(|_| PathBuf::from(trimmed));
            format!("file://{}", path.display())
        };
        Ok(Server { url })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The URL of a file on this server.
    pub fn file_url(&self, name: &str) -> String {
        format!("{}/{}", self.url, name)
    }

    /// Reads one file of the server.
    pub fn fetch(&self, name: &str) -> Result<Vec<u8>, FetchError> {
        fetch_url(&self.file_url(name))
    }
}

/// Validators from an earlier download of the same URL, for a conditional request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Revalidate {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// Reads a `file://`, `http://` or `https://` URL whole.
pub fn fetch_url(url: &str) -> Result<Vec<u8>, FetchError> {
    fetch_url_with(url, None).map(|(bytes, _)| bytes)
}

/// Reads a URL; with `validators`, a `304 Not Modified` answer returns no bytes and `None`.
/// Otherwise returns the bytes and the new validators.
pub fn fetch_url_with(
    url: &str,
    validators: Option<&Revalidate>,
) -> Result<(Vec<u8>, Option<Revalidate>), FetchError> {
    // Messages name the URL without any user name or password it carries.
    let shown = || crate::http::redact_url(url);
    let failed = |reason: String| FetchError::Failed {
        url: shown(),
        reason,
    };
    if let Some(path) = url.strip_prefix("file://") {
        return match read_file(path.as_ref()) {
            Ok(bytes) => Ok((bytes, Some(Revalidate::default()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(FetchError::NotFound { url: shown() })
            }
            Err(e) => Err(failed(e.to_string())),
        };
    }
    let mut headers = Vec::new();
    if let Some(v) = validators {
        if let Some(etag) = &v.etag {
            headers.push(("If-None-Match", etag.as_str()));
        }
        if let Some(lm) = &v.last_modified {
            headers.push(("If-Modified-Since", lm.as_str()));
        }
    }
    match crate::http::get(url, &headers) {
        Ok(response) if response.status() == 304 => Ok((Vec::new(), None)),
        Ok(response) => {
            let fresh = Revalidate {
                etag: response.header("ETag").map(String::from),
                last_modified: response.header("Last-Modified").map(String::from),
            };
            let expected: Option<u64> = response
                .header("Content-Length")
                .and_then(|l| l.parse().ok());
            let mut bytes = Vec::new();
            response
                .into_reader()
                .take(MAX_DOWNLOAD + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| failed(format!("download truncated or interrupted: {e}")))?;
            if bytes.len() as u64 > MAX_DOWNLOAD {
                return Err(failed(format!("larger than {} MiB", MAX_DOWNLOAD >> 20)));
            }
            if let Some(expected) = expected {
                if bytes.len() as u64 != expected {
                    return Err(failed(format!(
                        "download truncated: got {} of {expected} bytes",
                        bytes.len()
                    )));
                }
            }
            Ok((bytes, Some(fresh)))
        }
        Err(crate::http::GetError::Status(404 | 410, _)) => {
            Err(FetchError::NotFound { url: shown() })
        }
        Err(crate::http::GetError::Status(code, text)) => {
            Err(failed(format!("the server answered HTTP {code} {text}")))
        }
        Err(crate::http::GetError::Failed(reason)) => Err(failed(reason)),
    }
}

/// Takes the rockspec out of a `.src.rock` or `.all.rock` (a zip archive), reading no more
/// than it needs.
/// Reads a whole file, as `std::fs::read` does; a big one (a luarocks.org-sized manifest is
/// 9 MB) into a buffer whose pages are made present in one system call first, instead of one
/// page fault per 4 KiB while the file is copied in (a fresh process touches them all):
/// 5.6-9.8 → 4.6-7.0 ms for 9.4 MB here. Not mapped: a file that another program truncates
/// while it is mapped kills the process (`SIGBUS`), and `luarocks-admin` rewrites manifests
/// in place.
pub fn read_file(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    const BIG: usize = 1 << 20;
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata().map(|m| m.len() as usize).unwrap_or(0);
    let mut bytes = Vec::with_capacity(len.saturating_add(1));
    if len >= BIG {
        let start = bytes.as_mut_ptr() as usize;
        let page = 4096;
        let (from, to) = (start.div_ceil(page) * page, (start + len) / page * page);
        if to > from {
            // SAFETY: the range lies inside the buffer just allocated (whole pages only),
            // which nothing else uses; the advice only makes its pages present and changes
            // no byte of it. A kernel without it (before 5.14) answers EINVAL, which is fine.
            unsafe {
                libc::madvise(
                    from as *mut libc::c_void,
                    to - from,
                    libc::MADV_POPULATE_WRITE,
                );
            }
        }
    }
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

pub fn rockspec_from_rock(rock: &[u8], rockspec_name: &str) -> Result<String, String> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(rock))
        .map_err(|e| format!("not a valid rock archive: {e}"))?;
    let mut file = archive
        .by_name(rockspec_name)
        .map_err(|_| format!("the rock has no {rockspec_name}"))?;
    let mut text = String::new();
    (&mut file)
        .take(4 << 20)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read {rockspec_name} in the rock: {e}"))?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_big_and_small_read_back_exactly() {
        let dir = tempfile::tempdir().unwrap();
        for len in [
            0usize,
            1,
            4095,
            4096,
            (1 << 20) - 1,
            1 << 20,
            (3 << 20) + 17,
        ] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let path = dir.path().join(format!("f{len}"));
            std::fs::write(&path, &bytes).unwrap();
            assert!(read_file(&path).unwrap() == bytes, "{len} bytes");
            let url = format!("file://{}", path.display());
            assert!(fetch_url(&url).unwrap() == bytes, "{len} bytes by URL");
        }
        let missing = format!("file://{}/nothing", dir.path().display());
        assert!(matches!(
            fetch_url(&missing),
            Err(FetchError::NotFound { .. })
        ));
    }

    #[test]
    fn server_urls() {
        assert_eq!(
            Server::new("https://luarocks.org/").unwrap().url(),
            "https://luarocks.org"
        );
        assert!(Server::new("ftp://x").is_err());
        let e = Server::new("https://ci:hunter2@rocks.example/").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let dir = std::env::temp_dir();
        let s = Server::new(dir.to_str().unwrap()).unwrap();
        assert!(s.url().starts_with("file:///"));
        match s.fetch("surely-not-here-12345") {
            Err(FetchError::NotFound { url }) => assert!(url.ends_with("surely-not-here-12345")),
            other => panic!("{other:?}"),
        }
    }
}
