//! Team networks end to end: an HTTPS rocks server on 127.0.0.1 whose certificate comes from
//! a CA made by the test (rcgen), trusted through `SSL_CERT_FILE` or `ca-certs`; the sandbox's
//! `net` over the same server; a proxy (CONNECT for https, absolute-form for http) and
//! `NO_PROXY`; Basic auth from netrc and from `[server-auth]`, whose password appears in no
//! output, log or lock. Everything runs on loopback and is generated here: no prerequisite
//! can be missing, so nothing skips (under `CI=true` or not).

mod common;

use assert_cmd::Command;
use common::{HttpServer, RockServer};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PASSWORD: &str = "s3cret-Pw-41";

/// A CA and a server certificate for 127.0.0.1 and localhost, signed by it.
struct Pki {
    ca_pem: String,
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    key_der: Vec<u8>,
}

fn pki() -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "pylua test CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, "rocks.test");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_cert = leaf.signed_by(&leaf_key, &ca_cert, &ca_key).unwrap();
    Pki {
        ca_pem: ca_cert.pem(),
        chain: vec![leaf_cert.der().clone(), ca_cert.der().clone()],
        key_der: leaf_key.serialize_der(),
    }
}

/// Reads an HTTP request head (up to the empty line) byte by byte.
fn read_head(stream: &mut impl Read) -> std::io::Result<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 {
            break;
        }
        head.push(byte[0]);
        if head.len() > 64 << 10 {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

/// Runs `handle` for each connection to a fresh listener on 127.0.0.1, on its own thread,
/// until the returned flag is set (or 5 minutes pass).
fn serve(handle: impl Fn(TcpStream) + Send + Sync + 'static) -> (u16, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let handle = Arc::new(handle);
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(300);
        while !stop2.load(Ordering::Relaxed) && Instant::now() < deadline {
            match listener.accept() {
                Ok((stream, _)) => {
                    let handle = handle.clone();
                    std::thread::spawn(move || {
                        stream.set_nonblocking(false).unwrap();
                        stream
                            .set_read_timeout(Some(Duration::from_secs(20)))
                            .unwrap();
                        handle(stream)
                    });
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    (port, stop)
}

/// An HTTPS server for a directory, `/x` answering a JSON document. With `require_auth`, a
/// request without exactly that `Authorization` value gets 401; with `redirect_to`,
/// `/moved/PATH` answers 302 to `redirect_to/PATH`. Every request head is kept.
struct TlsServer {
    port: u16,
    url: String,
    heads: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl TlsServer {
    fn start(pki: &Pki, root: &Path, require_auth: Option<String>) -> TlsServer {
        TlsServer::start_with(pki, root, require_auth, None)
    }

    fn start_with(
        pki: &Pki,
        root: &Path,
        require_auth: Option<String>,
        redirect_to: Option<String>,
    ) -> TlsServer {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(pki.key_der.clone().into());
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(pki.chain.clone(), key)
                .unwrap(),
        );
        let heads = Arc::new(Mutex::new(Vec::new()));
        let (root, heads2) = (root.to_path_buf(), heads.clone());
        let (port, stop) = serve(move |tcp| {
            let conn = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            // A client that refuses the certificate ends the handshake here.
            let Ok(head) = read_head(&mut tls) else {
                return;
            };
            if head.is_empty() {
                return;
            }
            heads2.lock().unwrap().push(head.clone());
            let target = head.split_whitespace().nth(1).unwrap_or("/");
            // Absolute form too (RFC 9112 §3.2.2: servers accept it; ureq sends it through
            // a CONNECT tunnel).
            let path = match target.strip_prefix("https://") {
                Some(rest) => rest[rest.find('/').unwrap_or(rest.len())..].to_string(),
                None => target.to_string(),
            };
            let authorized = require_auth.as_ref().is_none_or(|want| {
                head.lines().any(|l| {
                    l.split_once(':').is_some_and(|(n, v)| {
                        n.eq_ignore_ascii_case("authorization") && v.trim() == want
                    })
                })
            });
            let mut extra = String::new();
            let (status, body) = if !authorized {
                (401, b"who are you?".to_vec())
            } else if let (Some(to), Some(rest)) = (&redirect_to, path.strip_prefix("/moved/")) {
                extra = format!("Location: {to}/{rest}\r\n");
                (302, b"moved".to_vec())
            } else if path == "/x" {
                (200, br#"{"ok": true}"#.to_vec())
            } else {
                match std::fs::read(root.join(path.trim_start_matches('/'))) {
                    Ok(bytes) => (200, bytes),
                    Err(_) => (404, b"not found".to_vec()),
                }
            };
            let _ = write!(
                tls,
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
                body.len()
            );
            let _ = tls.write_all(&body);
            tls.conn.send_close_notify();
            let _ = tls.flush();
        });
        TlsServer {
            port,
            url: format!("https://127.0.0.1:{port}"),
            heads,
            stop,
        }
    }

    fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// An HTTP proxy: `CONNECT host:port` tunnels; an absolute-form request
/// (`GET http://host:port/path`) is forwarded in origin form. Keeps each request head.
struct Proxy {
    url: String,
    heads: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    fn start() -> Proxy {
        let heads = Arc::new(Mutex::new(Vec::new()));
        let heads2 = heads.clone();
        let (port, stop) = serve(move |mut client| {
            let Ok(head) = read_head(&mut client) else {
                return;
            };
            heads2.lock().unwrap().push(head.clone());
            let mut words = head.split_whitespace();
            let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
            if method == "CONNECT" {
                let Ok(upstream) = TcpStream::connect(target) else {
                    let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n");
                    return;
                };
                let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
                let (mut c2, mut u2) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
                let up = std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c2, &mut u2);
                    let _ = u2.shutdown(std::net::Shutdown::Write);
                });
                let (mut upstream, mut client) = (upstream, client);
                let _ = std::io::copy(&mut upstream, &mut client);
                let _ = client.shutdown(std::net::Shutdown::Write);
                let _ = up.join();
            } else if let Some(rest) = target.strip_prefix("http://") {
                let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
                let Ok(mut upstream) = TcpStream::connect(authority) else {
                    let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n");
                    return;
                };
                let mut forwarded = format!(
                    "{method} {} HTTP/1.1\r\n",
                    if path.is_empty() { "/" } else { path }
                );
                for line in head.lines().skip(1) {
                    if !line.is_empty() && !line.to_ascii_lowercase().starts_with("proxy-") {
                        forwarded.push_str(line);
                        forwarded.push_str("\r\n");
                    }
                }
                forwarded.push_str("\r\n");
                let _ = upstream.write_all(forwarded.as_bytes());
                let _ = std::io::copy(&mut upstream, &mut client);
            } else {
                let _ = client.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
            }
        });
        Proxy {
            url: format!("http://127.0.0.1:{port}"),
            heads,
            stop,
        }
    }

    fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A temporary home, a rocks server directory with one pure-Lua package, and commands with
/// a clean network environment (no proxy, CA or netrc variables from the caller's).
struct Ctx {
    dir: tempfile::TempDir,
    pki: Pki,
}

impl Ctx {
    fn new() -> Ctx {
        let dir = tempfile::tempdir().unwrap();
        let mut rocks = RockServer::new(&dir.path().join("rocks"));
        rocks.package(
            "strutil",
            "1.0-1",
            &["lua >= 5.1"],
            &[(
                "src/strutil.lua",
                "return { shout = function(s) return s:upper() .. '!' end }",
            )],
            r#"type = "builtin", modules = { strutil = "src/strutil.lua" }"#,
        );
        rocks.publish();
        let pki = pki();
        std::fs::write(dir.path().join("ca.pem"), &pki.ca_pem).unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        Ctx { dir, pki }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn ca(&self) -> String {
        self.path("ca.pem").display().to_string()
    }

    fn rocks(&self) -> PathBuf {
        self.path("rocks")
    }

    fn pylua(&self) -> Command {
        let mut cmd = Command::cargo_bin("pylua").unwrap();
        cmd.current_dir(self.dir.path())
            .env("PYLUA_HOME", self.path("pylua-home"))
            .env("HOME", self.path("home"));
        for var in [
            "SSL_CERT_FILE",
            "SSL_CERT_DIR",
            "HTTPS_PROXY",
            "https_proxy",
            "HTTP_PROXY",
            "http_proxy",
            "NO_PROXY",
            "no_proxy",
            "ALL_PROXY",
            "all_proxy",
            "NETRC",
        ] {
            cmd.env_remove(var);
        }
        cmd
    }

    /// `pylua install strutil --only-server URL --tree TREE`, `--json` when asked.
    fn install(&self, server: &str, tree: &str) -> Command {
        let mut cmd = self.pylua();
        cmd.args(["install", "strutil", "--only-server", server, "--tree"])
            .arg(self.path(tree));
        cmd
    }

    /// Checks that the tree `tree` has strutil and that it loads.
    fn loads(&self, tree: &str) {
        self.pylua()
            .args(["eval", "--no-project", "--tree"])
            .arg(self.path(tree))
            .arg("return require('strutil').shout('ok')")
            .assert()
            .success()
            .stdout("OK!\n");
    }

    fn write_config(&self, text: &str) {
        let dir = self.path("pylua-home/config");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.toml"), text).unwrap();
    }
}

fn output(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Fails when `needle` occurs in any file under `dir` (except those named in `except`).
fn assert_nowhere_under(dir: &Path, needle: &str, except: &[&Path]) {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, &mut files);
    for file in files {
        if except.contains(&file.as_path()) {
            continue;
        }
        let bytes = std::fs::read(&file).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(needle),
            "{} contains {needle:?}",
            file.display()
        );
    }
}

#[test]
fn install_over_https_needs_the_private_ca_then_works_with_ssl_cert_file() {
    let ctx = Ctx::new();
    let server = TlsServer::start(&ctx.pki, &ctx.rocks(), None);

    let out = ctx.install(&server.url, "t1").output().unwrap();
    let text = output(&out);
    assert_eq!(out.status.code(), Some(6), "{text}");
    assert!(
        text.contains("invalid peer certificate") && text.contains("UnknownIssuer"),
        "{text}"
    );
    assert!(
        text.contains("not signed by a trusted CA") && text.contains("ca-certs"),
        "the error says what to do: {text}"
    );

    ctx.install(&server.url, "t2")
        .env("SSL_CERT_FILE", ctx.ca())
        .assert()
        .success();
    ctx.loads("t2");
}

#[test]
fn install_over_https_with_ca_certs_in_the_config() {
    let ctx = Ctx::new();
    let server = TlsServer::start(&ctx.pki, &ctx.rocks(), None);

    // A missing CA file, or one without a certificate, is refused naming the file.
    let out = ctx
        .pylua()
        .args(["config", "set", "ca-certs", "no-such-ca.pem"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(10), "{}", output(&out));
    assert!(
        output(&out).contains("no-such-ca.pem: cannot read it"),
        "{}",
        output(&out)
    );
    std::fs::write(ctx.path("junk.pem"), "hello\n").unwrap();
    let out = ctx
        .pylua()
        .args(["config", "set", "ca-certs", "junk.pem"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(10), "{}", output(&out));
    assert!(
        output(&out).contains("junk.pem: holds no certificate"),
        "{}",
        output(&out)
    );

    // A relative path is taken from the current directory and stored absolute.
    ctx.pylua()
        .args(["config", "set", "ca-certs", "ca.pem"])
        .assert()
        .success();
    ctx.pylua()
        .args(["config", "get", "ca-certs"])
        .assert()
        .success()
        .stdout(predicates::str::contains(ctx.ca()));
    ctx.install(&server.url, "t").assert().success();
    ctx.loads("t");

    // A CA file that disappears later makes the config invalid, naming the file.
    std::fs::remove_file(ctx.path("ca.pem")).unwrap();
    let out = ctx.install(&server.url, "t3").output().unwrap();
    assert_eq!(out.status.code(), Some(10), "{}", output(&out));
    assert!(
        output(&out).contains("ca.pem: cannot read it"),
        "{}",
        output(&out)
    );
}

#[test]
fn sandbox_net_reaches_the_https_server_when_the_ca_is_trusted() {
    let ctx = Ctx::new();
    let server = TlsServer::start(&ctx.pki, &ctx.rocks(), None);
    let port = server.port;
    let eval = |code: &str| {
        let mut cmd = ctx.pylua();
        cmd.args(["eval", "--no-project", "--sandbox", "strict", "--allow-net"])
            .arg(format!("127.0.0.1:{port}"))
            .arg(code);
        cmd
    };
    let get = format!("return net.get(\"https://127.0.0.1:{port}/x\").status");
    eval(&get)
        .env("SSL_CERT_FILE", ctx.ca())
        .assert()
        .success()
        .stdout("200\n");
    let body = format!("return net.get(\"https://127.0.0.1:{port}/x\").body");
    eval(&body)
        .env("SSL_CERT_FILE", ctx.ca())
        .assert()
        .success()
        .stdout("{\"ok\": true}\n");

    // Untrusted: a network error that names the certificate problem.
    let out = eval(&get).arg("--json").output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["error"]["kind"], "network_error", "{doc}");
    let message = doc["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains("UnknownIssuer"), "{doc}");

    // The environment's proxy is never used by `net`: the request still goes straight to
    // the checked address.
    let proxy = Proxy::start();
    eval(&get)
        .env("SSL_CERT_FILE", ctx.ca())
        .env("HTTPS_PROXY", &proxy.url)
        .env("https_proxy", &proxy.url)
        .assert()
        .success()
        .stdout("200\n");
    assert!(proxy.heads().is_empty(), "{:?}", proxy.heads());
}

#[test]
fn proxies_carry_package_requests_and_no_proxy_bypasses_them() {
    let ctx = Ctx::new();
    let server = TlsServer::start(&ctx.pki, &ctx.rocks(), None);
    let proxy = Proxy::start();
    let with_credentials = proxy
        .url
        .replace("http://", &format!("http://proxyuser:{PASSWORD}@"));

    // https through the proxy: a CONNECT tunnel, with the proxy's credentials.
    let out = ctx
        .install(&server.url, "t1")
        .args(["-vv"])
        .env("SSL_CERT_FILE", ctx.ca())
        .env("HTTPS_PROXY", &with_credentials)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", output(&out));
    assert!(!output(&out).contains(PASSWORD), "{}", output(&out));
    let heads = proxy.heads();
    let target = format!("CONNECT 127.0.0.1:{} ", server.port);
    assert!(
        !heads.is_empty() && heads.iter().all(|h| h.starts_with(&target)),
        "{heads:?}"
    );
    assert!(
        heads[0]
            .to_ascii_lowercase()
            .contains("proxy-authorization: basic"),
        "{heads:?}"
    );
    assert!(!server.heads().is_empty());
    ctx.loads("t1");

    // NO_PROXY: straight to the server, the proxy sees nothing more.
    let before = proxy.heads().len();
    for no_proxy in ["127.0.0.1", "*", "localhost,127.0.0.0/8"] {
        ctx.install(&server.url, &format!("t-{}", no_proxy.len()))
            .env("SSL_CERT_FILE", ctx.ca())
            .env("HTTPS_PROXY", &proxy.url)
            .env("no_proxy", no_proxy)
            .assert()
            .success();
    }
    assert_eq!(proxy.heads().len(), before, "{:?}", proxy.heads());

    // http through the proxy: absolute-form requests.
    let http = HttpServer::serve(&ctx.rocks());
    ctx.install(&http.url, "t2")
        .env("http_proxy", &proxy.url)
        .assert()
        .success();
    let absolute = format!("GET {}/manifest", http.url);
    assert!(
        proxy.heads().iter().any(|h| h.starts_with(&absolute)),
        "{:?}",
        proxy.heads()
    );

    // A proxy that is not there: the error names the problem, never the password.
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let out = ctx
        .install(&server.url, "t3")
        .arg("--json")
        .env("SSL_CERT_FILE", ctx.ca())
        .env(
            "HTTPS_PROXY",
            format!("http://proxyuser:{PASSWORD}@127.0.0.1:{dead}"),
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(6), "{}", output(&out));
    assert!(!output(&out).contains(PASSWORD), "{}", output(&out));
    assert_nowhere_under(&ctx.path("pylua-home"), PASSWORD, &[]);
}

#[test]
fn basic_auth_from_netrc_reaches_only_its_server_and_the_password_is_never_shown() {
    let ctx = Ctx::new();
    let token = base64_token("ci", PASSWORD);
    // The server asking for a password redirects `/moved/…` to another host (`localhost`,
    // the same certificate), which must get no credentials.
    let other = TlsServer::start(&ctx.pki, &ctx.rocks(), None);
    let other_url = format!("https://localhost:{}", other.port);
    let server = TlsServer::start_with(
        &ctx.pki,
        &ctx.rocks(),
        Some(format!("Basic {token}")),
        Some(other_url),
    );
    let netrc = ctx.path("netrc");
    std::fs::write(
        &netrc,
        format!("machine 127.0.0.1\n  login ci\n  password {PASSWORD}\n"),
    )
    .unwrap();

    // No credentials: the server's 401, clearly.
    let out = ctx
        .install(&server.url, "t0")
        .env("SSL_CERT_FILE", ctx.ca())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(6), "{}", output(&out));
    assert!(output(&out).contains("HTTP 401"), "{}", output(&out));

    // From $NETRC: installs, and nothing shows the password (or its Basic token), even at -vv.
    let out = ctx
        .install(&server.url, "t1")
        .args(["--json", "-vv"])
        .env("SSL_CERT_FILE", ctx.ca())
        .env("NETRC", &netrc)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", output(&out));
    assert!(!output(&out).contains(PASSWORD) && !output(&out).contains(&token));
    assert!(server
        .heads()
        .iter()
        .any(|h| h.contains(&format!("Basic {token}"))));
    ctx.loads("t1");

    // From ~/.netrc when NETRC is not set.
    std::fs::copy(&netrc, ctx.path("home/.netrc")).unwrap();
    ctx.install(&server.url, "t2")
        .env("SSL_CERT_FILE", ctx.ca())
        .assert()
        .success();
    std::fs::remove_file(ctx.path("home/.netrc")).unwrap();

    // A wrong password: the error says 401 and shows neither password.
    let wrong = format!("{PASSWORD}-wrong");
    std::fs::write(
        ctx.path("netrc-wrong"),
        format!("machine 127.0.0.1 login ci password {wrong}\n"),
    )
    .unwrap();
    let out = ctx
        .install(&server.url, "t3")
        .args(["--json", "-vv"])
        .env("SSL_CERT_FILE", ctx.ca())
        .env("NETRC", ctx.path("netrc-wrong"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(6), "{}", output(&out));
    assert!(output(&out).contains("HTTP 401"), "{}", output(&out));
    assert!(!output(&out).contains(&wrong) && !output(&out).contains(PASSWORD));

    // A redirect to another host: the first hop carries the credentials, the next none.
    let moved = format!("{}/moved", server.url);
    let before = server.heads().len();
    ctx.install(&moved, "t4")
        .env("SSL_CERT_FILE", ctx.ca())
        .env("NETRC", &netrc)
        .assert()
        .success();
    ctx.loads("t4");
    let first_hops = &server.heads()[before..];
    assert!(
        !first_hops.is_empty()
            && first_hops
                .iter()
                .all(|h| h.starts_with("GET /moved/") && h.contains(&token)),
        "{first_hops:?}"
    );
    assert!(
        !other.heads().is_empty()
            && other
                .heads()
                .iter()
                .all(|h| !h.to_ascii_lowercase().contains("authorization")),
        "{:?}",
        other.heads()
    );

    // A server URL carrying a password is refused, and the refusal does not repeat it.
    let with_password = server
        .url
        .replace("https://", &format!("https://ci:{PASSWORD}@"));
    let out = ctx.install(&with_password, "t5").output().unwrap();
    assert!(!out.status.success());
    assert!(
        output(&out).contains("may not carry a user name or password"),
        "{}",
        output(&out)
    );
    assert!(!output(&out).contains(PASSWORD), "{}", output(&out));

    // Logs, cache and state hold no password.
    assert_nowhere_under(&ctx.path("pylua-home"), PASSWORD, &[]);
    assert_nowhere_under(&ctx.path("pylua-home"), &token, &[]);
}

#[test]
fn server_auth_in_the_config_locks_without_the_password() {
    let ctx = Ctx::new();
    let token = base64_token("ci", PASSWORD);
    let server = TlsServer::start(&ctx.pki, &ctx.rocks(), Some(format!("Basic {token}")));
    ctx.write_config(&format!(
        "ca-certs = [{:?}]\n\n[server-auth.\"{}\"]\nusername = \"ci\"\npassword = \"{PASSWORD}\"\n",
        ctx.ca(),
        server.url
    ));
    let config_file = ctx.path("pylua-home/config/config.toml");

    // `config list` and `get` hide the password, in text and in JSON.
    for args in [
        &["config", "list"][..],
        &["config", "list", "--json"],
        &["config", "get", "server-auth"],
    ] {
        let out = ctx.pylua().args(args).output().unwrap();
        assert!(out.status.success(), "{}", output(&out));
        assert!(!output(&out).contains(PASSWORD), "{}", output(&out));
        assert!(output(&out).contains("********"), "{}", output(&out));
    }
    // Credentials cannot be set from a command line (they would stay in the shell's history).
    ctx.pylua()
        .args(["config", "set", "server-auth", "x"])
        .assert()
        .code(10);

    // A project locked against the authenticated server: pylua.lock names the server
    // without credentials, and no file written holds the password.
    let project = ctx.path("app");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("pylua.toml"),
        format!(
            "[project]\nname = \"app\"\nlua = \"5.4\"\nservers = [\"{}\"]\n\n[dependencies]\nstrutil = \"*\"\n",
            server.url
        ),
    )
    .unwrap();
    for command in ["lock", "sync"] {
        let out = ctx
            .pylua()
            .current_dir(&project)
            .args([command, "--json"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", output(&out));
        assert!(!output(&out).contains(PASSWORD));
    }
    let lock = std::fs::read_to_string(project.join("pylua.lock")).unwrap();
    assert!(
        lock.contains(&format!("server = \"{}\"", server.url)),
        "{lock}"
    );
    assert_nowhere_under(&project, PASSWORD, &[]);
    assert_nowhere_under(&ctx.path("pylua-home"), PASSWORD, &[config_file.as_path()]);
    assert_nowhere_under(&ctx.path("pylua-home"), &token, &[]);
}

/// The Basic auth token of `user:password` (standard base64), written out here so the
/// tests do not share the code under test.
fn base64_token(user: &str, password: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = format!("{user}:{password}").into_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
