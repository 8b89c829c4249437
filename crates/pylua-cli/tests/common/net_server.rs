//! An HTTP server on 127.0.0.1 for the network tests, with routes for what a network policy
//! must handle: `/x` (a JSON document), `/redirect?to=URL` (302), `/big/N` (N bytes),
//! `/slow/MS` (answers after MS milliseconds), `/echo` (method, headers and body back),
//! `/headers/N` (N headers of 1000 bytes) and `/status/N`. One thread per connection, so a slow answer does not hold the others.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const JSON_DOC: &str = r#"{"name": "pylua", "ok": true, "n": [], "e": {}, "list": [1, 2.5, "three", null], "nested": {"k": "v\n\u00e9"}}"#;

pub struct NetServer {
    pub port: u16,
    pub base: String,
    pub hits: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl NetServer {
    pub fn start() -> NetServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let hits = Arc::new(AtomicUsize::new(0));
        let (stop2, hits2) = (stop.clone(), hits.clone());
        listener.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(300);
            while !stop2.load(Ordering::Relaxed) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((stream, _)) => {
                        hits2.fetch_add(1, Ordering::Relaxed);
                        std::thread::spawn(move || {
                            let _ = handle(stream);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        NetServer {
            port,
            base: format!("http://127.0.0.1:{port}"),
            hits,
            stop,
        }
    }
}

impl Drop for NetServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn handle(stream: std::net::TcpStream) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("/").to_string();
    let mut headers = Vec::new();
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
        let h = h.trim_end().to_string();
        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        headers.push(h);
    }
    let mut body = vec![0; length.min(1 << 20)];
    reader.read_exact(&mut body)?;
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut extra = String::new();
    let (status, content): (u16, Vec<u8>) = if path == "/x" {
        (200, JSON_DOC.as_bytes().to_vec())
    } else if path == "/redirect" {
        let to = query.strip_prefix("to=").unwrap_or("/x");
        extra = format!("Location: {to}\r\n");
        (302, b"moved".to_vec())
    } else if let Some(n) = path.strip_prefix("/big/") {
        (200, vec![b'a'; n.parse().unwrap_or(0)])
    } else if let Some(ms) = path.strip_prefix("/slow/") {
        std::thread::sleep(Duration::from_millis(ms.parse().unwrap_or(0)));
        (200, b"late".to_vec())
    } else if path == "/echo" {
        let mut text = format!("{method}\n{}\n", headers.join("\n")).into_bytes();
        text.extend_from_slice(&body);
        (200, text)
    } else if let Some(n) = path.strip_prefix("/headers/") {
        for i in 0..n.parse().unwrap_or(0) {
            extra.push_str(&format!("X-Filler-{i}: {}\r\n", "h".repeat(1000)));
        }
        (200, b"many headers".to_vec())
    } else if let Some(code) = path.strip_prefix("/status/") {
        (code.parse().unwrap_or(500), b"status".to_vec())
    } else {
        (404, b"not found".to_vec())
    };
    let mut out = stream;
    write!(
        out,
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nContent-Type: application/json\r\n{extra}Connection: close\r\n\r\n",
        content.len()
    )?;
    out.write_all(&content)?;
    out.flush()
}
