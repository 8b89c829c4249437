//! The networking area (`pylua doctor --only networking`): whether Lua code here can talk to
//! the network — pylua's own `net` over loopback, LuaSocket and LuaSec installed and loadable
//! from the tree, name resolution, a TCP round trip on loopback, a TLS trust store for LuaSec,
//! proxy variables — with a readiness percentage and a fix for each failure.
//!
//! Nothing here reaches outside the machine except resolving the configured server's name
//! (skipped offline).

use super::{Area, Finding, Fix, Severity};
use crate::packages::tree::Tree;
use crate::runtime::{AnyVm, Limits, NetPolicy, Sandbox, Vm};
use serde::Serialize;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::time::Duration;

const AREA: Area = Area::Networking;
const STEP: Duration = Duration::from_secs(5);

/// What the networking checks found.
#[derive(Debug, Clone, Serialize)]
pub struct NetworkingHealth {
    pub checks: Vec<Finding>,
    /// Each check weighs the same: passed 1, warning ½, error 0.
    pub readiness_percentage: f64,
    /// LuaSocket is installed, loads, and a loopback round trip works.
    pub luasocket_ready: bool,
    /// The tree checked.
    pub tree: String,
}

/// Runs the networking checks against `tree`; `public_host` is resolved unless None
/// (offline).
pub fn health(tree: &Tree, public_host: Option<&str>) -> NetworkingHealth {
    let mut checks = vec![host_net()];
    let socket = load_check(
        tree,
        "net.luasocket",
        "socket",
        "LuaSocket",
        "luasocket",
        "return require('socket')._VERSION",
    );
    let socket_ok = socket.severity == Severity::Ok;
    checks.push(socket);
    checks.push(load_check(
        tree,
        "net.luasec",
        "ssl",
        "LuaSec (TLS for LuaSocket)",
        "luasec",
        "return require('ssl')._VERSION or 'loaded'",
    ));
    checks.push(dns(public_host));
    let loopback = loopback();
    let loopback_ok = loopback.severity == Severity::Ok;
    checks.push(loopback);
    checks.push(trust_store());
    checks.push(proxies());
    let score: f64 = checks
        .iter()
        .map(|c| match c.severity {
            Severity::Ok => 1.0,
            Severity::Warning => 0.5,
            Severity::Error => 0.0,
        })
        .sum();
    let readiness = (score / checks.len() as f64 * 1000.0).round() / 10.0;
    NetworkingHealth {
        checks,
        readiness_percentage: readiness,
        luasocket_ready: socket_ok && loopback_ok,
        tree: tree.root().display().to_string(),
    }
}

/// pylua's own `net`, end to end: a request to a one-shot server on loopback.
fn host_net() -> Finding {
    let result = (|| -> Result<(), String> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let server = std::thread::spawn(move || {
            if let Ok((stream, _)) = listener.accept() {
                let _ = stream.set_read_timeout(Some(STEP));
                let mut reader = BufReader::new(&stream);
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let _ = (&stream).write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                );
            }
        });
        let mut policy = NetPolicy::allowing(&[format!("127.0.0.1:{port}")])?;
        policy.allow_http = true;
        policy.request_timeout = STEP;
        let mut vm = Vm::builder()
            .net(policy)
            .limits(Limits::new().timeout(STEP * 2))
            .build()
            .map_err(|e| e.to_string())?;
        let got = vm
            .eval(&format!("return net.get('http://127.0.0.1:{port}/').body"))
            .map_err(|e| e.message)?;
        let _ = server.join();
        match got.first().and_then(|v| v.as_str()) {
            Some("ok") => Ok(()),
            other => Err(format!("unexpected answer {other:?}")),
        }
    })();
    match result {
        Ok(()) => Finding::ok(
            AREA,
            "net.host",
            "pylua's `net` module works (sandboxed HTTP through --allow-net)",
        ),
        Err(e) => Finding::problem(
            AREA,
            "net.host",
            Severity::Error,
            "pylua's `net` module cannot make a request on loopback",
            e,
            Some(Fix::Manual {
                step: "let local TCP connections to 127.0.0.1 through (firewall, sandboxing of this process)".into(),
            }),
        ),
    }
}

/// Loads `module` from `tree` in an embedded VM without a sandbox (as `--sandbox none`).
fn load_check(
    tree: &Tree,
    check: &'static str,
    module: &str,
    what: &str,
    package: &str,
    code: &str,
) -> Finding {
    let loaded = AnyVm::builder()
        .sandbox(Sandbox::None)
        .limits(Limits::new().timeout(STEP))
        .package_path(tree.package_path())
        .package_cpath(tree.package_cpath())
        .build()
        .and_then(|mut vm| {
            vm.eval_code("os.exit = function() error('os.exit called while loading', 2) end")?;
            vm.eval_code(code)
        });
    let fix = Some(Fix::AddPackage {
        package: package.to_string(),
    });
    match loaded {
        Ok(values) => {
            let version = values
                .first()
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string();
            Finding::ok(
                AREA,
                check,
                format!(
                    "{what} loads (`{module}`{}{version})",
                    if version.is_empty() { "" } else { ", " }
                ),
            )
        }
        Err(e) if e.message.contains("not found") => Finding::problem(
            AREA,
            check,
            Severity::Warning,
            format!("{what} is not installed in {}", tree.root().display()),
            format!(
                "Lua code that uses `require '{module}'` needs it under --sandbox none; sandboxed code uses `net`"
            ),
            fix,
        ),
        Err(e) => Finding::problem(
            AREA,
            check,
            Severity::Error,
            format!("{what} is installed but does not load"),
            e.message,
            fix,
        ),
    }
}

fn dns(public_host: Option<&str>) -> Finding {
    let resolve = |host: &str| (host, 443).to_socket_addrs().map(|a| a.count());
    if let Err(e) = resolve("localhost") {
        return Finding::problem(
            AREA,
            "net.dns",
            Severity::Error,
            "the name 'localhost' does not resolve",
            e.to_string(),
            Some(Fix::EditConfig {
                file: "/etc/hosts".into(),
            }),
        );
    }
    let Some(host) = public_host else {
        return Finding::ok(
            AREA,
            "net.dns",
            "name resolution works (localhost; offline: no public name tried)",
        );
    };
    match resolve(host) {
        Ok(n) if n > 0 => Finding::ok(AREA, "net.dns", format!("name resolution works ({host})")),
        Ok(_) | Err(_) => Finding::problem(
            AREA,
            "net.dns",
            Severity::Warning,
            format!("the name {host} does not resolve"),
            "there may be no network or no DNS server here; requests to named hosts will fail",
            Some(Fix::EditConfig {
                file: "/etc/resolv.conf".into(),
            }),
        ),
    }
}

/// A TCP connection on 127.0.0.1 that carries bytes both ways.
fn loopback() -> Finding {
    let result = (|| -> std::io::Result<bool> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let echo = std::thread::spawn(move || -> std::io::Result<()> {
            let (mut s, _) = listener.accept()?;
            s.set_read_timeout(Some(STEP))?;
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf)?;
            s.write_all(&buf)
        });
        let mut client = TcpStream::connect_timeout(&addr, STEP)?;
        client.set_read_timeout(Some(STEP))?;
        client.write_all(b"ping")?;
        let mut back = [0u8; 4];
        client.read_exact(&mut back)?;
        let _ = echo.join();
        Ok(&back == b"ping")
    })();
    match result {
        Ok(true) => Finding::ok(AREA, "net.loopback", "a TCP round trip on 127.0.0.1 works"),
        Ok(false) => Finding::problem(
            AREA,
            "net.loopback",
            Severity::Error,
            "a TCP round trip on 127.0.0.1 returned other bytes",
            "something between the two ends of a loopback connection changes data",
            Some(Fix::Manual {
                step: "remove what intercepts loopback traffic (a proxy or filter on 127.0.0.1)".into(),
            }),
        ),
        Err(e) => Finding::problem(
            AREA,
            "net.loopback",
            Severity::Error,
            "no TCP round trip on 127.0.0.1",
            e.to_string(),
            Some(Fix::Manual {
                step: "bring the loopback interface up (`ip link set lo up`) or let a firewall pass 127.0.0.1".into(),
            }),
        ),
    }
}

/// The CA bundle LuaSec (OpenSSL) reads; pylua's own `net` carries its own roots.
fn trust_store() -> Finding {
    let mut candidates: Vec<String> = std::env::var("SSL_CERT_FILE").ok().into_iter().collect();
    candidates.extend(
        [
            "/etc/ssl/certs/ca-certificates.crt",
            "/etc/pki/tls/certs/ca-bundle.crt",
            "/etc/ssl/cert.pem",
            "/etc/ssl/ca-bundle.pem",
        ]
        .map(String::from),
    );
    match candidates
        .iter()
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.len() > 0))
    {
        Some(path) => Finding::ok(AREA, "net.tls", format!("a TLS trust store is present ({path})")),
        None => Finding::problem(
            AREA,
            "net.tls",
            Severity::Warning,
            "no system CA bundle found",
            "LuaSec cannot verify https servers without one (pylua's `net` uses its built-in roots)",
            Some(Fix::InstallSystem {
                what: "the CA certificates".into(),
                debian: "ca-certificates".into(),
            }),
        ),
    }
}

fn proxies() -> Finding {
    let set: Vec<String> = [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "no_proxy",
    ]
    .iter()
    .filter(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()))
    .map(|v| v.to_string())
    .collect();
    if set.is_empty() {
        return Finding::ok(AREA, "net.proxy", "no proxy variables are set");
    }
    Finding::problem(
        AREA,
        "net.proxy",
        Severity::Warning,
        format!("proxy variables are set: {}", set.join(", ")),
        "pylua's `net` connects directly to the address its policy checked and ignores them; LuaSocket ignores them too, so a network that only works through the proxy fails",
        Some(Fix::UnsetEnv { var: set[0].clone() }),
    )
}
