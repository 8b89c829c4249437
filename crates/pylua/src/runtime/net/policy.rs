//! The network policy: which hosts and ports sandboxed code may reach through `net`, over
//! which schemes, and how much it may use. It decides from the parsed URL and from the
//! addresses DNS gave, so the address connected to is the one that was checked.
//!
//! Rules, in order: a `deny` entry that matches wins; otherwise an `allow` entry must match
//! the host and port. Every address the host resolves to is then checked: loopback, private,
//! link-local, unspecified, multicast and other special addresses are refused unless the
//! matching allow entry names that address itself (`127.0.0.1:8080`, `[::1]`) or is
//! `localhost` (for loopback only) — a public name that resolves to a private address (DNS
//! rebinding) is refused.

use super::NetError;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

/// A host pattern with an optional port: `example.com`, `*.example.com`, `*`, `10.0.0.5:8080`,
/// `[::1]:3000`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    host: PatternHost,
    port: Option<u16>,
    text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PatternHost {
    /// `*`: every host.
    Any,
    /// `*.suffix`: every subdomain of `suffix` (not `suffix` itself).
    Subdomains(String),
    Domain(String),
    Ip(IpAddr),
}

impl HostPattern {
    /// Parses `HOST[:PORT]`. Hosts are normalised as URLs normalise them (lower case,
    /// punycode, `0x7f.1` read as `127.0.0.1`), so a pattern and a URL compare alike.
    pub fn parse(text: &str) -> Result<HostPattern, String> {
        let bad = |why: &str| format!("invalid network pattern '{}': {why}", text.escape_debug());
        if text.is_empty() || text.len() > 300 {
            return Err(bad("expected HOST[:PORT]"));
        }
        if text
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || "/@?#\\".contains(c))
        {
            return Err(bad("expected HOST[:PORT], without scheme, path or user"));
        }
        // The port: after the last `:` outside an IPv6 literal's brackets.
        let (host, port) = match text.rfind(':') {
            Some(i)
                if !text[i..].contains(']')
                    && (text.starts_with('[') || text[..i].find(':').is_none()) =>
            {
                let port = text[i + 1..]
                    .parse::<u16>()
                    .map_err(|_| bad("the port must be a number from 1 to 65535"))?;
                if port == 0 {
                    return Err(bad("the port must be a number from 1 to 65535"));
                }
                (&text[..i], Some(port))
            }
            _ => (text, None),
        };
        let host = if host == "*" {
            PatternHost::Any
        } else if let Some(suffix) = host.strip_prefix("*.") {
            match normalise_host(suffix).map_err(|e| bad(&e))? {
                url::Host::Domain(d) => PatternHost::Subdomains(d),
                _ => return Err(bad("a wildcard needs a domain after '*.'")),
            }
        } else if host.contains('*') {
            return Err(bad("'*' may only stand alone or start the host as '*.'"));
        } else {
            match normalise_host(host).map_err(|e| bad(&e))? {
                url::Host::Domain(d) => PatternHost::Domain(d),
                url::Host::Ipv4(ip) => PatternHost::Ip(IpAddr::V4(ip)),
                url::Host::Ipv6(ip) => PatternHost::Ip(IpAddr::V6(ip)),
            }
        };
        Ok(HostPattern {
            host,
            port,
            text: text.to_string(),
        })
    }

    /// Whether this pattern covers `host` on `port`.
    fn matches(&self, host: &url::Host<String>, port: u16) -> bool {
        if self.port.is_some_and(|p| p != port) {
            return false;
        }
        match (&self.host, host) {
            (PatternHost::Any, _) => true,
            (PatternHost::Subdomains(suffix), url::Host::Domain(d)) => d
                .strip_suffix(suffix.as_str())
                .is_some_and(|rest| rest.ends_with('.') && rest.len() > 1),
            (PatternHost::Domain(p), url::Host::Domain(d)) => p == d,
            (PatternHost::Ip(p), url::Host::Ipv4(ip)) => *p == IpAddr::V4(*ip),
            (PatternHost::Ip(p), url::Host::Ipv6(ip)) => *p == IpAddr::V6(*ip),
            _ => false,
        }
    }

    /// Whether this pattern, having matched, lets the host reach the special address `ip`:
    /// only when it names that address, or is `localhost` and the address is loopback.
    fn names_address(&self, ip: IpAddr) -> bool {
        match &self.host {
            PatternHost::Ip(p) => *p == ip,
            PatternHost::Domain(d) => d == "localhost" && ip.is_loopback(),
            _ => false,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// Reads a host as the URL parser does.
fn normalise_host(host: &str) -> Result<url::Host<String>, String> {
    let parsed = url::Url::parse(&format!("http://{host}/")).map_err(|e| e.to_string())?;
    match parsed.host() {
        Some(h) if parsed.port().is_none() && parsed.path() == "/" => Ok(h.to_owned()),
        _ => Err("not a host name or address".into()),
    }
}

/// What `net` may reach and how much it may use. Built by the fronts from `--allow-net`,
/// `--deny-net`, `--allow-http` and the caps, or from `[run]` in `pylua.toml`.
#[derive(Debug, Clone, PartialEq)]
pub struct NetPolicy {
    pub allow: Vec<HostPattern>,
    /// Wins over `allow`.
    pub deny: Vec<HostPattern>,
    /// Plain `http://` too (default: https only).
    pub allow_http: bool,
    /// Largest response body (default 8 MiB).
    pub max_response_bytes: u64,
    /// Largest request body (default 8 MiB).
    pub max_request_bytes: u64,
    /// Time for one request, redirects included (default 30 s); a run's own timeout ends it
    /// sooner.
    pub request_timeout: Duration,
    /// Requests per run, redirects counted (default 100).
    pub max_requests: u32,
    /// Bytes received per run, bodies summed (default 64 MiB).
    pub max_total_bytes: u64,
    /// Redirects followed per request (default 5).
    pub max_redirects: u32,
}

impl Default for NetPolicy {
    fn default() -> Self {
        NetPolicy {
            allow: Vec::new(),
            deny: Vec::new(),
            allow_http: false,
            max_response_bytes: 8 << 20,
            max_request_bytes: 8 << 20,
            request_timeout: Duration::from_secs(30),
            max_requests: 100,
            max_total_bytes: 64 << 20,
            max_redirects: 5,
        }
    }
}

impl NetPolicy {
    /// A policy allowing these `HOST[:PORT]` patterns, with the default caps.
    pub fn allowing<S: AsRef<str>>(patterns: &[S]) -> Result<NetPolicy, String> {
        let mut policy = NetPolicy::default();
        for p in patterns {
            policy.allow.push(HostPattern::parse(p.as_ref())?);
        }
        Ok(policy)
    }

    /// Checks a URL before anything is resolved: scheme, user info, host and port.
    /// Returns the host and port to resolve.
    pub(crate) fn check_url(&self, url: &url::Url) -> Result<(url::Host<String>, u16), NetError> {
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            "http" => {
                return Err(NetError::denied(format!(
                    "{}: plain http is refused (allow it with --allow-http)",
                    url.as_str()
                )))
            }
            other => {
                return Err(NetError::denied(format!(
                    "the scheme '{other}' is refused: only https (and http with --allow-http)"
                )))
            }
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(NetError::denied(
                "URLs with a user name or password are refused: send credentials in a header",
            ));
        }
        let host = url
            .host()
            .ok_or_else(|| NetError::denied("the URL has no host"))?
            .to_owned();
        let port = url
            .port_or_known_default()
            .ok_or_else(|| NetError::denied("the URL has no port"))?;
        let shown = host_port(&host, port);
        if self.deny.iter().any(|p| p.matches(&host, port)) {
            return Err(NetError::denied(format!(
                "{shown} is denied by the network policy"
            )));
        }
        if !self.allow.iter().any(|p| p.matches(&host, port)) {
            return Err(NetError::denied(format!(
                "{shown} is not allowed by the network policy (allow it with --allow-net {shown})"
            )));
        }
        Ok((host, port))
    }

    /// Of the addresses `host` resolved to, those it may connect to; an error when none.
    pub(crate) fn check_addresses(
        &self,
        host: &url::Host<String>,
        port: u16,
        addrs: &[IpAddr],
    ) -> Result<Vec<IpAddr>, NetError> {
        let matching: Vec<&HostPattern> = self
            .allow
            .iter()
            .filter(|p| p.matches(host, port))
            .collect();
        let mut refused = None;
        let mut ok = Vec::new();
        for &ip in addrs {
            let ip = canonical(ip);
            // A denied address stays denied whatever name leads to it.
            if self.deny.iter().any(|p| p.matches(&ip_host(ip), port)) {
                return Err(NetError::denied(format!(
                    "{} resolves to {ip}, which the network policy denies",
                    host_port(host, port)
                )));
            }
            if !is_special(ip) || matching.iter().any(|p| p.names_address(ip)) {
                ok.push(ip);
            } else {
                refused = Some(ip);
            }
        }
        match (ok.is_empty(), refused) {
            (false, _) => Ok(ok),
            (true, Some(ip)) => Err(NetError::denied(format!(
                "{} resolves to {ip}, a loopback, private or special address: name the address itself to allow it (--allow-net {})",
                host_port(host, port),
                host_port(&ip_host(ip), port)
            ))),
            (true, None) => Err(NetError::failed(format!(
                "{}: the name resolved to no address",
                host_port(host, port)
            ))),
        }
    }
}

fn ip_host(ip: IpAddr) -> url::Host<String> {
    match ip {
        IpAddr::V4(v4) => url::Host::Ipv4(v4),
        IpAddr::V6(v6) => url::Host::Ipv6(v6),
    }
}

/// `host:port` as a user writes it (`[::1]:80` for IPv6).
pub(crate) fn host_port(host: &url::Host<String>, port: u16) -> String {
    format!("{host}:{port}")
}

/// An IPv4 address wrapped in IPv6 (`::ffff:127.0.0.1`) judged as the IPv4 it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// Addresses that do not belong to the public internet.
pub(crate) fn is_special(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_special_v4(v4),
        IpAddr::V6(v6) => is_special_v6(v6),
    }
}

fn is_special_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240 // reserved
}

fn is_special_v6(ip: Ipv6Addr) -> bool {
    let seg = ip.segments();
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (seg[0] & 0xfe00) == 0xfc00 // unique local
        || (seg[0] & 0xffc0) == 0xfe80 // link local
        || (seg[0] & 0xffc0) == 0xfec0 // site local (deprecated)
        || seg[0] == 0x64 && seg[1] == 0xff9b // NAT64 may reach IPv4 private space
        || seg[0] == 0x2001 && seg[1] == 0x0db8 // documentation
        || seg[0] == 0x2002 // 6to4 embeds an IPv4 address
        || seg[0] == 0x2001 && seg[1] == 0 // Teredo
        || ip.to_ipv4().is_some_and(|v4| seg[0..6] == [0; 6] && is_special_v4(v4))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> url::Url {
        url::Url::parse(s).unwrap()
    }

    #[test]
    fn patterns_parse_and_match() {
        let p = NetPolicy::allowing(&["*.example.com", "127.0.0.1:8080", "[::1]:81"]).unwrap();
        assert!(p.check_url(&url("https://a.example.com/x")).is_ok());
        assert!(p.check_url(&url("https://a.b.example.com/x")).is_ok());
        assert!(p.check_url(&url("https://example.com/x")).is_err());
        assert!(p.check_url(&url("https://evilexample.com/x")).is_err());
        assert!(p.check_url(&url("https://127.0.0.1:8080/")).is_ok());
        assert!(p.check_url(&url("https://127.0.0.1:8081/")).is_err());
        // The URL parser reads these as 127.0.0.1 too.
        assert!(p.check_url(&url("https://0x7f.1:8080/")).is_ok());
        assert!(p.check_url(&url("https://2130706433:8080/")).is_ok());
        assert!(p.check_url(&url("https://[::1]:81/")).is_ok());
        assert!(p.check_url(&url("https://user:pw@a.example.com/")).is_err());
        assert!(p.check_url(&url("http://a.example.com/")).is_err());
        assert!(p.check_url(&url("ftp://a.example.com/")).is_err());
        for bad in [
            "", "a b", "http://x", "x:0", "x:99999", "a.*.com", "u@x", "*.", "x/y",
        ] {
            assert!(HostPattern::parse(bad).is_err(), "{bad}");
        }
        assert!(HostPattern::parse("EXAMPLE.com")
            .unwrap()
            .matches(&url::Host::Domain("example.com".into()), 443));
    }

    #[test]
    fn deny_wins() {
        let mut p = NetPolicy::allowing(&["*"]).unwrap();
        p.deny
            .push(HostPattern::parse("*.internal.example").unwrap());
        assert!(p.check_url(&url("https://x.internal.example/")).is_err());
        assert!(p.check_url(&url("https://example.org/")).is_ok());
    }

    #[test]
    fn special_addresses_need_naming() {
        let p = NetPolicy::allowing(&["*", "127.0.0.1", "localhost"]).unwrap();
        let public = url::Host::Domain("example.org".to_string());
        let rebinding = [IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))];
        assert!(p.check_addresses(&public, 443, &rebinding).is_err());
        let mapped: IpAddr = "::ffff:192.168.1.1".parse().unwrap();
        assert!(p.check_addresses(&public, 443, &[mapped]).is_err());
        let lo = url::Host::Ipv4(Ipv4Addr::LOCALHOST);
        assert!(p
            .check_addresses(&lo, 443, &[IpAddr::V4(Ipv4Addr::LOCALHOST)])
            .is_ok());
        let localhost = url::Host::Domain("localhost".to_string());
        assert!(p
            .check_addresses(&localhost, 443, &["::1".parse().unwrap()])
            .is_ok());
        // A public address passes; special ones are dropped from a mixed answer.
        let mixed = [
            "93.184.215.14".parse().unwrap(),
            "10.1.1.1".parse().unwrap(),
        ];
        assert_eq!(p.check_addresses(&public, 443, &mixed).unwrap().len(), 1);
        for s in [
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "fd00::1",
            "fe80::1",
            "::",
        ] {
            assert!(is_special(s.parse().unwrap()), "{s}");
        }
    }
}
