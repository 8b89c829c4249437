//! `pylua server serve`: a small static HTTP/1.1 server for a server directory, for tests and
//! small teams. std's `TcpListener` and a thread per connection are enough for that load and
//! add no dependency; anything larger belongs behind a real web server or an object store.
//!
//! Only `GET` and `HEAD`; a request path is percent-decoded once and refused (400) when it
//! holds a NUL, a backslash, an encoded `/`, or a `.`/`..` segment, refused (403) when the
//! file it names resolves (following links) outside the directory, and hidden files (a name
//! starting with `.`) are not found.

use super::ServerError;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A bound server, ready to [`Serving::run`].
pub struct Serving {
    listener: TcpListener,
    root: PathBuf,
}

impl Serving {
    /// Binds `bind:port` (port 0: a free port) for the directory `dir`.
    pub fn bind(dir: &Path, bind: &str, port: u16) -> Result<Serving, ServerError> {
        let root = dir.canonicalize().map_err(|e| ServerError::io(dir, e))?;
        if !root.is_dir() {
            return Err(ServerError::BadRequest(format!(
                "{}: not a directory",
                dir.display()
            )));
        }
        let listener = TcpListener::bind((bind, port))
            .map_err(|e| ServerError::BadRequest(format!("cannot listen on {bind}:{port}: {e}")))?;
        Ok(Serving { listener, root })
    }

    /// The URL clients use.
    pub fn url(&self) -> String {
        match self.listener.local_addr() {
            Ok(addr) if addr.is_ipv6() => format!("http://[{}]:{}", addr.ip(), addr.port()),
            Ok(addr) => format!("http://{}:{}", addr.ip(), addr.port()),
            Err(_) => "http://?".into(),
        }
    }

    /// Serves until the process ends.
    pub fn run(self) -> ! {
        loop {
            let Ok((stream, _)) = self.listener.accept() else {
                continue;
            };
            let root = self.root.clone();
            std::thread::spawn(move || {
                let _ = handle(stream, &root);
            });
        }
    }
}

/// Why a path is not served, as an HTTP status.
fn resolve(root: &Path, target: &str) -> Result<PathBuf, (u16, &'static str)> {
    const BAD: (u16, &str) = (400, "Bad Request");
    let path = target.split(['?', '#']).next().unwrap_or_default();
    if !path.starts_with('/') {
        return Err(BAD);
    }
    let lower = path.to_ascii_lowercase();
    if lower.contains("%2f") || lower.contains("%5c") || lower.contains("%00") {
        return Err(BAD);
    }
    let decoded = percent_decode(path).ok_or(BAD)?;
    let decoded = String::from_utf8(decoded).map_err(|_| BAD)?;
    if decoded.contains(['\0', '\\']) {
        return Err(BAD);
    }
    let mut file = root.to_path_buf();
    for segment in decoded.split('/').filter(|s| !s.is_empty()) {
        if segment == "." || segment == ".." {
            return Err(BAD);
        }
        if segment.starts_with('.') {
            // Hidden files (the writers' lock, editor leftovers) are not the server's.
            return Err((404, "Not Found"));
        }
        file.push(segment);
    }
    let real = file.canonicalize().map_err(|_| (404, "Not Found"))?;
    if !real.starts_with(root) {
        return Err((403, "Forbidden"));
    }
    let real = if real.is_dir() {
        real.join("index.html")
    } else {
        real
    };
    if real.is_file() {
        Ok(real)
    } else {
        Err((404, "Not Found"))
    }
}

fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

fn handle(stream: TcpStream, root: &Path) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.set_write_timeout(Some(Duration::from_secs(60)))?;
    let mut reader = BufReader::new((&stream).take(16 << 10));
    let mut request = String::new();
    reader.read_line(&mut request)?;
    // Headers are read and ignored (up to the bound above).
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    let mut parts = request.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let mut out = &stream;
    if method != "GET" && method != "HEAD" {
        return respond(&mut out, 405, "Method Not Allowed", b"", true);
    }
    match resolve(root, target) {
        Ok(file) => {
            let body = std::fs::read(&file)?;
            let head = method == "HEAD";
            respond(&mut out, 200, "OK", &body, !head)
        }
        Err((code, text)) => respond(&mut out, code, text, text.as_bytes(), true),
    }
}

fn respond(
    out: &mut impl Write,
    code: u16,
    text: &str,
    body: &[u8],
    send_body: bool,
) -> std::io::Result<()> {
    write!(
        out,
        "HTTP/1.1 {code} {text}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    if send_body {
        out.write_all(body)?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::write(root.join("manifest"), "x").unwrap();
        std::fs::create_dir(root.join("sub")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("sub/link")).unwrap();
        assert_eq!(resolve(&root, "/manifest").unwrap(), root.join("manifest"));
        assert_eq!(
            resolve(&root, "/sub/../manifest"),
            Err((400, "Bad Request"))
        );
        assert_eq!(
            resolve(&root, "/%2e%2e/etc/passwd"),
            Err((400, "Bad Request"))
        );
        assert_eq!(resolve(&root, "/..%2fetc"), Err((400, "Bad Request")));
        assert_eq!(resolve(&root, "/manifest%00"), Err((400, "Bad Request")));
        assert_eq!(resolve(&root, "/a\\b"), Err((400, "Bad Request")));
        assert_eq!(resolve(&root, "/sub/link"), Err((403, "Forbidden")));
        assert_eq!(resolve(&root, "/nothing"), Err((404, "Not Found")));
        std::fs::write(root.join(".pylua-server.lock"), "").unwrap();
        assert_eq!(
            resolve(&root, "/.pylua-server.lock"),
            Err((404, "Not Found"))
        );
        assert_eq!(resolve(&root, "manifest"), Err((400, "Bad Request")));
    }
}
