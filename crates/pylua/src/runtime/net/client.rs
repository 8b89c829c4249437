//! One `net.request`, done by the host: the URL checked against the policy, the name resolved
//! and every address checked, the connection made to exactly those addresses (no second
//! lookup a rebinding DNS server could answer differently), redirects followed by hand and
//! each re-checked, the body read up to its cap. Runs on a worker thread (see `glue.rs`).

use super::policy::host_port;
use super::{NetAudit, NetError, NetSession};
use std::io::Read;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Request headers the host sets itself: a script may not smuggle framing or routing.
const BLOCKED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "expect",
    "proxy-authorization",
    "proxy-connection",
];
const MAX_HEADERS: usize = 64;
const MAX_HEADER_BYTES: usize = 32 << 10;
/// Response headers beyond this (all of them, flattened) end the request.
const MAX_RESPONSE_HEADER_BYTES: usize = 64 << 10;
const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// What the script asked for, copied out of Lua.
#[derive(Debug)]
pub(crate) struct Request {
    pub url: String,
    pub method: String,
    /// `name NUL value` lines, as the Lua side flattens them.
    pub headers: Vec<u8>,
    pub body: Option<Vec<u8>>,
    pub timeout: Option<Duration>,
}

/// What the script gets back.
#[derive(Debug)]
pub(crate) struct Response {
    pub status: u16,
    /// `name NUL value` lines, names in lower case.
    pub headers: Vec<u8>,
    pub body: Vec<u8>,
}

/// Parses the flattened headers, refusing what could break the request's framing.
fn parse_headers(flat: &[u8]) -> Result<Vec<(String, String)>, NetError> {
    if flat.len() > MAX_HEADER_BYTES {
        return Err(NetError::limit(format!(
            "request headers larger than {} KiB",
            MAX_HEADER_BYTES >> 10
        )));
    }
    let mut out = Vec::new();
    for line in flat.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let Some(nul) = line.iter().position(|&b| b == 0) else {
            return Err(NetError::failed(
                "a request header value contains a line break",
            ));
        };
        let (name, value) = (&line[..nul], &line[nul + 1..]);
        let token = |b: &u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b);
        if name.is_empty() || !name.iter().all(token) {
            return Err(NetError::failed(format!(
                "invalid request header name {:?}",
                String::from_utf8_lossy(name)
            )));
        }
        if value
            .iter()
            .any(|&b| b == 0 || b == b'\r' || (b < 0x20 && b != b'\t') || b == 0x7f)
        {
            return Err(NetError::failed(format!(
                "the value of request header '{}' contains control characters",
                String::from_utf8_lossy(name)
            )));
        }
        let name = String::from_utf8_lossy(name).to_ascii_lowercase();
        if BLOCKED_HEADERS.contains(&name.as_str()) || name.starts_with("proxy-") {
            return Err(NetError::denied(format!(
                "the request header '{name}' is set by the host and may not be given"
            )));
        }
        let Ok(value) = String::from_utf8(value.to_vec()) else {
            return Err(NetError::failed(format!(
                "the value of '{name}' is not UTF-8"
            )));
        };
        out.push((name, value));
    }
    if out.len() > MAX_HEADERS {
        return Err(NetError::limit(format!(
            "more than {MAX_HEADERS} request headers"
        )));
    }
    Ok(out)
}

/// Parses a URL string from a script; refuses control characters and spaces, which the
/// URL standard would silently drop (`exa\nmple.com` would become `example.com`).
fn parse_url(text: &str) -> Result<url::Url, NetError> {
    if text.len() > 8192 {
        return Err(NetError::limit("the URL is longer than 8192 bytes"));
    }
    if text.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(NetError::failed(
            "the URL contains spaces or control characters",
        ));
    }
    url::Url::parse(text).map_err(|e| NetError::failed(format!("invalid URL '{text}': {e}")))
}

/// Performs `request` under `session`'s policy, following redirects; records each hop in
/// the session's audit log.
pub(crate) fn perform(
    session: &Arc<NetSession>,
    request: Request,
    run_deadline: Option<Instant>,
) -> Result<Response, NetError> {
    let policy = &session.policy;
    let start = Instant::now();
    let mut limit = policy.request_timeout;
    if let Some(t) = request.timeout {
        limit = limit.min(t);
    }
    let mut deadline = start + limit;
    if let Some(run) = run_deadline {
        deadline = deadline.min(run);
    }
    let mut method = request.method.to_ascii_uppercase();
    if !METHODS.contains(&method.as_str()) {
        return Err(NetError::failed(format!(
            "unsupported method '{}': use one of {}",
            request.method.escape_debug(),
            METHODS.join(", ")
        )));
    }
    let headers = parse_headers(&request.headers)?;
    let mut body = request.body;
    if let Some(b) = &body {
        if b.len() as u64 > policy.max_request_bytes {
            return Err(NetError::limit(format!(
                "the request body is larger than the {} byte cap",
                policy.max_request_bytes
            )));
        }
    }
    let mut url = parse_url(&request.url)?;
    let mut redirects = 0;
    loop {
        let (host, port) = match policy.check_url(&url) {
            Ok(checked) => checked,
            Err(e) => {
                session.record(NetAudit {
                    method: method.clone(),
                    url: redacted(&url),
                    host: url.host_str().unwrap_or("").to_string(),
                    status: None,
                    bytes: 0,
                    ms: 0.0,
                    error: Some(e.kind.as_str().to_string()),
                });
                return Err(e);
            }
        };
        session.count_request()?;
        let hop_start = Instant::now();
        let result = hop(
            session,
            &url,
            &host,
            port,
            &method,
            &headers,
            body.as_deref(),
            deadline,
            limit,
        );
        let entry = |status: Option<u16>, bytes: u64, error: Option<&NetError>| NetAudit {
            method: method.clone(),
            url: redacted(&url),
            host: host_port(&host, port),
            status,
            bytes,
            ms: (hop_start.elapsed().as_secs_f64() * 1e6).round() / 1e3,
            error: error.map(|e| e.kind.as_str().to_string()),
        };
        let response = match result {
            Ok(r) => {
                session.record(entry(Some(r.status), r.body.len() as u64, None));
                r
            }
            Err(e) => {
                session.record(entry(None, 0, Some(&e)));
                return Err(e);
            }
        };
        if !matches!(response.status, 301 | 302 | 303 | 307 | 308) {
            return Ok(response);
        }
        let Some(location) = header_value(&response.headers, "location") else {
            return Ok(response);
        };
        redirects += 1;
        if redirects > policy.max_redirects {
            return Err(NetError::limit(format!(
                "more than {} redirects",
                policy.max_redirects
            )));
        }
        let next = url
            .join(&location)
            .map_err(|e| NetError::failed(format!("bad redirect location '{location}': {e}")))?;
        if location.chars().any(|c| c.is_control()) {
            return Err(NetError::failed(
                "a redirect location contains control characters",
            ));
        }
        // As browsers do: 303, and 301/302 after a POST, continue as a GET without body.
        if response.status == 303 || (method == "POST" && response.status <= 302) {
            method = "GET".into();
            body = None;
        }
        url = next;
    }
}

/// The URL for the audit log: no query string (it may carry tokens).
fn redacted(url: &url::Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

fn header_value(flat: &[u8], name: &str) -> Option<String> {
    flat.split(|&b| b == b'\n').find_map(|line| {
        let nul = line.iter().position(|&b| b == 0)?;
        (&line[..nul] == name.as_bytes())
            .then(|| String::from_utf8_lossy(&line[nul + 1..]).into_owned())
    })
}

/// Resolves `host` and keeps the addresses the policy allows.
fn resolve(
    session: &NetSession,
    host: &url::Host<String>,
    port: u16,
) -> Result<Vec<SocketAddr>, NetError> {
    let ips: Vec<IpAddr> = match host {
        url::Host::Ipv4(ip) => vec![IpAddr::V4(*ip)],
        url::Host::Ipv6(ip) => vec![IpAddr::V6(*ip)],
        url::Host::Domain(name) => (name.as_str(), port)
            .to_socket_addrs()
            .map_err(|e| NetError::failed(format!("cannot resolve {name}: {e}")))?
            .map(|a| a.ip())
            .collect(),
    };
    let allowed = session.policy.check_addresses(host, port, &ips)?;
    Ok(allowed
        .into_iter()
        .map(|ip| SocketAddr::new(ip, port))
        .collect())
}

/// One request and response, without following redirects.
#[allow(clippy::too_many_arguments)]
fn hop(
    session: &NetSession,
    url: &url::Url,
    host: &url::Host<String>,
    port: u16,
    method: &str,
    headers: &[(String, String)],
    body: Option<&[u8]>,
    deadline: Instant,
    limit: Duration,
) -> Result<Response, NetError> {
    let too_slow = || {
        NetError::limit(format!(
            "no complete answer within the {limit:?} request time limit"
        ))
    };
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
        .ok_or_else(too_slow)?;
    let addrs = resolve(session, host, port)?;
    let remaining = deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
        .ok_or_else(too_slow)?;
    let tls = crate::http::tls_config().map_err(NetError::failed)?;
    // No proxy, whatever the environment says: the policy checked the addresses below, and
    // through a proxy the connection would go elsewhere. Trust is pylua's one TLS
    // configuration: the system store, SSL_CERT_FILE/SSL_CERT_DIR and `ca-certs`.
    let agent = ureq::AgentBuilder::new()
        .try_proxy_from_env(false)
        .tls_config(tls)
        .redirects(0)
        .timeout(remaining)
        .timeout_connect(remaining)
        .user_agent(concat!("pylua-net/", env!("CARGO_PKG_VERSION")))
        // The connection goes to the addresses checked above, whatever the name resolves to now.
        .resolver(move |_: &str| Ok(addrs.clone()))
        .build();
    let mut req = agent.request_url(method, url);
    for (name, value) in headers {
        req = req.set(name, value);
    }
    let result = match body {
        Some(b) => req.send_bytes(b),
        None => req.call(),
    };
    let response = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(ureq::Error::Transport(t)) => {
            let text = t.to_string();
            return Err(
                if Instant::now() >= deadline || text.contains("timed out") {
                    too_slow()
                } else {
                    NetError::failed(format!(
                        "{}: {}",
                        host_port(host, port),
                        crate::http::explain_tls_error(text)
                    ))
                },
            );
        }
    };
    let status = response.status();
    let mut flat = Vec::new();
    for name in response.headers_names() {
        for value in response.all(&name) {
            flat.extend_from_slice(name.to_ascii_lowercase().as_bytes());
            flat.push(0);
            flat.extend(value.bytes().filter(|&b| b != 0 && b != b'\n'));
            flat.push(b'\n');
        }
        if flat.len() > MAX_RESPONSE_HEADER_BYTES {
            return Err(NetError::limit(format!(
                "response headers larger than {} KiB",
                MAX_RESPONSE_HEADER_BYTES >> 10
            )));
        }
    }
    let cap = session.body_cap();
    let over = |got: u64| {
        NetError::limit(format!(
            "the response body ({got} bytes or more) is over the {cap} byte cap for this request"
        ))
    };
    if let Some(length) = response
        .header("content-length")
        .and_then(|l| l.trim().parse::<u64>().ok())
    {
        if length > cap {
            return Err(over(length));
        }
    }
    let mut bytes = Vec::new();
    let read = response.into_reader().take(cap + 1).read_to_end(&mut bytes);
    if let Err(e) = read {
        return Err(
            if Instant::now() >= deadline
                || matches!(
                    e.kind(),
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
                )
            {
                too_slow()
            } else {
                NetError::failed(format!(
                    "{}: reading the answer: {e}",
                    host_port(host, port)
                ))
            },
        );
    }
    if bytes.len() as u64 > cap {
        return Err(over(bytes.len() as u64));
    }
    session.count_bytes(bytes.len() as u64);
    Ok(Response {
        status,
        headers: flat,
        body: bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_headers_are_refused() {
        assert!(parse_headers(b"accept\0text/plain\nx-a\0b").is_ok());
        assert!(parse_headers(b"host\0evil").is_err());
        assert!(parse_headers(b"Transfer-Encoding\0chunked").is_err());
        assert!(parse_headers(b"x\0a\rb").is_err());
        assert!(parse_headers(b"bad name\0x").is_err());
        assert!(parse_headers(b"novalue").is_err());
        assert!(parse_headers(&vec![b'a'; 40 << 10]).is_err());
    }

    #[test]
    fn hostile_urls_are_refused() {
        assert!(parse_url("https://exa\nmple.com/").is_err());
        assert!(parse_url("https://example.com/\0").is_err());
        assert!(parse_url("https://exa mple.com/").is_err());
        assert!(parse_url("https://example.com/a?b=c").is_ok());
    }
}
