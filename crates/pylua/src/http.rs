//! The HTTP clients pylua builds for itself: who is trusted, which proxy is used and which
//! credentials go to which server. The package client (`packages::server`) and the sandbox's
//! `net` module (`runtime::net::client`) both take their TLS configuration from here, so a
//! company CA given once works for both.
//!
//! - **Trust**: the system's trust store, read by `rustls-native-certs` (which honours
//!   `SSL_CERT_FILE` and `SSL_CERT_DIR`; when either is set, only those are read), plus the
//!   PEM files of the `ca-certs` setting; Mozilla's roots (webpki-roots) only when the system
//!   offers none, so a machine without a CA bundle still reaches public servers.
//! - **Proxies** (package client only): `HTTPS_PROXY`/`https_proxy` for `https://` URLs,
//!   `HTTP_PROXY`/`http_proxy` for `http://`, and `NO_PROXY`/`no_proxy` (comma list: a host and
//!   its subdomains, `.example.com`, an address, an address block `10.0.0.0/8`, `host:port`, or
//!   `*`). The sandbox's `net` never uses them: its policy checks the address it connects to,
//!   and a proxy would make that address the proxy's.
//! - **Credentials** (package client only): `[server-auth."URL"]` in `config.toml`, else the
//!   `machine` entries of a netrc file (`$NETRC`, else `~/.netrc`), sent as HTTP Basic auth
//!   to the matching host only — each redirect hop is matched again, so a redirect to another
//!   host carries none. A password is never part of a URL pylua builds, so it cannot reach a
//!   message, a log line or `pylua.lock`; URLs that carry one are refused where they enter.
//!
//! What is costly (reading the system store, parsing the roots) is done once per process and
//! per setting, then shared: every agent holds the same `Arc<ClientConfig>`.

use base64::Engine as _;
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the configuration says about HTTP (from `config.toml`, see [`crate::config`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// Extra trusted CA certificates: PEM files.
    pub ca_certs: Vec<PathBuf>,
    /// Credentials for servers, each for the URLs under its prefix.
    pub server_auth: Vec<ServerAuth>,
}

/// Credentials for the URLs under `prefix` (scheme, host and port equal, path below).
#[derive(Clone, PartialEq, Eq)]
pub struct ServerAuth {
    pub prefix: url::Url,
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for ServerAuth {
    // The password stays out of every debug print.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerAuth")
            .field("prefix", &self.prefix.as_str())
            .field("username", &self.username)
            .field("password", &"********")
            .finish()
    }
}

/// The settings in force: the configuration last loaded by this process.
static SETTINGS: Mutex<Option<Arc<Settings>>> = Mutex::new(None);

/// Makes `settings` the ones every later request uses (the configuration calls this when it
/// is loaded).
pub fn configure(settings: Settings) {
    let mut current = SETTINGS.lock().unwrap_or_else(|e| e.into_inner());
    if current.as_deref() != Some(&settings) {
        *current = Some(Arc::new(settings));
    }
}

fn settings() -> Arc<Settings> {
    SETTINGS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .unwrap_or_default()
}

/// Reads a PEM file of CA certificates; a missing file, or one holding no certificate, is
/// an error naming the file.
pub fn read_ca_file(
    path: &Path,
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, String> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let bytes =
        std::fs::read(path).map_err(|e| format!("{}: cannot read it: {e}", path.display()))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: not a PEM certificate file: {e:?}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{}: holds no certificate (expected PEM \"-----BEGIN CERTIFICATE-----\" blocks)",
            path.display()
        ));
    }
    Ok(certs)
}

/// The TLS configuration for the current settings and environment, built once and shared.
pub fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    type Key = (
        Vec<PathBuf>,
        Option<std::ffi::OsString>,
        Option<std::ffi::OsString>,
    );
    static CACHE: Mutex<Option<(Key, Arc<rustls::ClientConfig>)>> = Mutex::new(None);
    let key: Key = (
        settings().ca_certs.clone(),
        std::env::var_os("SSL_CERT_FILE"),
        std::env::var_os("SSL_CERT_DIR"),
    );
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((seen, config)) = cache.as_ref() {
        if *seen == key {
            return Ok(config.clone());
        }
    }
    let config = Arc::new(build_tls_config(&key.0)?);
    *cache = Some((key, config.clone()));
    Ok(config)
}

fn build_tls_config(ca_certs: &[PathBuf]) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for error in &native.errors {
        tracing::debug!("reading the system's CA certificates: {error}");
    }
    let (added, _ignored) = roots.add_parsable_certificates(native.certs);
    if added == 0 {
        tracing::debug!("no CA certificates on this system: using the built-in Mozilla roots");
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    for path in ca_certs {
        for cert in read_ca_file(path)? {
            roots
                .add(cert)
                .map_err(|e| format!("{}: not a usable CA certificate: {e}", path.display()))?;
        }
    }
    // The provider named here rather than the process default: the Python host may load
    // another rustls user with another default.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Adds a hint to a transport error when the certificate's issuer is not in the trust store,
/// so the message says what to do (other certificate errors, such as an expired one or a
/// wrong name, are not fixed by trusting a CA).
pub fn explain_tls_error(text: String) -> String {
    if text.contains("UnknownIssuer") {
        format!(
            "{text} (the server's certificate is not signed by a trusted CA: add the CA's PEM file to `ca-certs` in config.toml, or set SSL_CERT_FILE)"
        )
    } else {
        text
    }
}

/// `url` without a user name or password, for messages.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        Ok(_) => url.to_string(),
        // Not a URL: still cut whatever stands between "://" and an '@'.
        Err(_) => match (url.find("://"), url.rfind('@')) {
            (Some(s), Some(at)) if at > s => format!("{}{}", &url[..s + 3], &url[at + 1..]),
            _ => url.to_string(),
        },
    }
}

/// Whether a URL carries a user name or password.
pub fn has_credentials(url: &str) -> bool {
    match url::Url::parse(url) {
        Ok(u) => !u.username().is_empty() || u.password().is_some(),
        Err(_) => url
            .split_once("://")
            .is_some_and(|(_, rest)| rest.split('/').next().unwrap_or("").contains('@')),
    }
}

/// Why a request of the package client did not produce an answer.
#[derive(Debug)]
pub enum GetError {
    /// The server answered with an error status (4xx, 5xx).
    Status(u16, String),
    /// No answer: connection, TLS, proxy, a redirect loop, an invalid setting.
    Failed(String),
}

/// At most this many redirects per request.
const MAX_REDIRECTS: usize = 5;

/// A GET for the package client with `headers`, following redirects hop by hop (each hop's
/// proxy and credentials chosen for that hop's URL). Returns the final answer (2xx or 304).
pub fn get(url: &str, headers: &[(&str, &str)]) -> Result<ureq::Response, GetError> {
    let mut current =
        url::Url::parse(url).map_err(|e| GetError::Failed(format!("invalid URL: {e}")))?;
    // A URL's own user name and password (a rockspec's `source.url` may carry them) become
    // the first hop's Authorization header, so the URL ureq sees — and puts in its error
    // messages — carries none.
    let mut own = None;
    if !current.username().is_empty() || current.password().is_some() {
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        own = Some(basic_auth(
            &decode(current.username()),
            &decode(current.password().unwrap_or("")),
        ));
        let _ = current.set_username("");
        let _ = current.set_password(None);
    }
    let clients = clients().map_err(GetError::Failed)?;
    for _ in 0..=MAX_REDIRECTS {
        let agent = clients.agent_for(&current).map_err(GetError::Failed)?;
        let mut request = agent.request_url("GET", &current);
        for (name, value) in headers {
            request = request.set(name, value);
        }
        if let Some(auth) = own.take().or_else(|| clients.credentials_for(&current)) {
            request = request.set("Authorization", &auth);
        }
        let response = match request.call() {
            Ok(r) => r,
            Err(ureq::Error::Status(code, r)) => {
                return Err(GetError::Status(code, r.status_text().to_string()))
            }
            Err(ureq::Error::Transport(t)) => {
                return Err(GetError::Failed(explain_tls_error(t.to_string())))
            }
        };
        if !matches!(response.status(), 301 | 302 | 303 | 307 | 308) {
            return Ok(response);
        }
        let Some(location) = response.header("Location") else {
            return Ok(response);
        };
        let next = current
            .join(location)
            .map_err(|e| GetError::Failed(format!("a redirect to an invalid location: {e}")))?;
        if !matches!(next.scheme(), "http" | "https")
            || (current.scheme() == "https" && next.scheme() == "http")
        {
            return Err(GetError::Failed(format!(
                "refused a redirect from {} to a {} URL",
                current.scheme(),
                next.scheme()
            )));
        }
        if has_credentials(next.as_str()) {
            return Err(GetError::Failed(
                "refused a redirect to a URL carrying credentials".into(),
            ));
        }
        current = next;
    }
    Err(GetError::Failed(format!(
        "more than {MAX_REDIRECTS} redirects"
    )))
}

/// The package client's agents and credentials for one set of settings and environment.
struct Clients {
    key: ClientsKey,
    tls: Arc<rustls::ClientConfig>,
    proxies: ProxyEnv,
    netrc: Vec<NetrcMachine>,
    /// One agent per proxy (None: direct), each keeping its own connections.
    agents: Mutex<HashMap<Option<String>, ureq::Agent>>,
}

#[derive(PartialEq)]
struct ClientsKey {
    settings: Arc<Settings>,
    proxies: ProxyEnv,
    netrc: Option<PathBuf>,
}

fn clients() -> Result<Arc<Clients>, String> {
    static CACHE: Mutex<Option<Arc<Clients>>> = Mutex::new(None);
    let key = ClientsKey {
        settings: settings(),
        proxies: ProxyEnv::from_env(),
        netrc: netrc_path(),
    };
    let tls = tls_config()?;
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(c) = cache.as_ref() {
        if c.key == key && Arc::ptr_eq(&c.tls, &tls) {
            return Ok(c.clone());
        }
    }
    let netrc = match &key.netrc {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => parse_netrc(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(format!("{}: cannot read it: {e}", path.display())),
        },
        None => Vec::new(),
    };
    let clients = Arc::new(Clients {
        proxies: key.proxies.clone(),
        key,
        tls,
        netrc,
        agents: Mutex::new(HashMap::new()),
    });
    *cache = Some(clients.clone());
    Ok(clients)
}

impl Clients {
    fn agent_for(&self, url: &url::Url) -> Result<ureq::Agent, String> {
        let proxy = self.proxies.proxy_for(url)?;
        let mut agents = self.agents.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(agent) = agents.get(&proxy.as_ref().map(|p| p.text.clone())) {
            return Ok(agent.clone());
        }
        let mut builder = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(10))
            .timeout_read(Duration::from_secs(30))
            .user_agent(concat!("pylua/", env!("CARGO_PKG_VERSION")))
            .tls_config(self.tls.clone())
            // The proxy is the one chosen above (NO_PROXY applied), never ureq's own pick.
            .try_proxy_from_env(false)
            // Redirects are followed by `get`, which picks each hop's proxy and credentials.
            .redirects(0);
        if let Some(p) = &proxy {
            builder = builder.proxy(p.proxy.clone());
        }
        let agent = builder.build();
        agents.insert(proxy.map(|p| p.text), agent.clone());
        Ok(agent)
    }

    /// The `Authorization` value for `url`: the longest matching `server-auth` prefix, else
    /// the netrc entry of its host.
    fn credentials_for(&self, url: &url::Url) -> Option<String> {
        let (user, password) = self
            .key
            .settings
            .server_auth
            .iter()
            .filter(|a| prefix_matches(&a.prefix, url))
            .max_by_key(|a| a.prefix.path().len())
            .map(|a| (a.username.as_str(), a.password.as_str()))
            .or_else(|| {
                let host = url.host_str()?;
                self.netrc
                    .iter()
                    .find(|m| m.machine.eq_ignore_ascii_case(host))
                    .map(|m| (m.login.as_str(), m.password.as_str()))
            })?;
        Some(basic_auth(user, password))
    }
}

/// An `Authorization` header value for HTTP Basic auth.
fn basic_auth(user: &str, password: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {token}")
}

/// Whether `url` is under `prefix`: same scheme, host and port, and a path at or below.
fn prefix_matches(prefix: &url::Url, url: &url::Url) -> bool {
    if prefix.scheme() != url.scheme()
        || prefix.host_str().map(str::to_ascii_lowercase)
            != url.host_str().map(str::to_ascii_lowercase)
        || prefix.port_or_known_default() != url.port_or_known_default()
    {
        return false;
    }
    let base = prefix.path().trim_end_matches('/');
    let path = url.path();
    path == base || path.starts_with(&format!("{base}/")) || base.is_empty()
}

/// Checks a `server-auth` key: an http(s) URL with a host and no credentials of its own.
pub fn parse_auth_prefix(text: &str) -> Result<url::Url, String> {
    let url =
        url::Url::parse(text).map_err(|e| format!("expected an http:// or https:// URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("expected an http:// or https:// URL with a host".into());
    }
    if has_credentials(text) {
        return Err(
            "the URL may not carry a user name or password: give them as `username` and `password`"
                .into(),
        );
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("expected a URL without a query or fragment".into());
    }
    Ok(url)
}

/// A proxy chosen for a URL: ureq's form and the text it came from (the agent's key).
struct ChosenProxy {
    proxy: ureq::Proxy,
    text: String,
}

/// The proxy variables as they were when the clients were built.
#[derive(Debug, Clone, PartialEq, Default)]
struct ProxyEnv {
    https: Option<String>,
    http: Option<String>,
    no_proxy: Option<String>,
}

impl ProxyEnv {
    fn from_env() -> ProxyEnv {
        let var = |names: [&str; 2]| {
            names
                .iter()
                .find_map(|n| std::env::var(n).ok())
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        // The lower-case spelling first, as curl and Python read them.
        ProxyEnv {
            https: var(["https_proxy", "HTTPS_PROXY"]),
            http: var(["http_proxy", "HTTP_PROXY"]),
            no_proxy: var(["no_proxy", "NO_PROXY"]),
        }
    }

    fn proxy_for(&self, url: &url::Url) -> Result<Option<ChosenProxy>, String> {
        let (name, text) = match url.scheme() {
            "https" => ("HTTPS_PROXY", &self.https),
            "http" => ("HTTP_PROXY", &self.http),
            _ => return Ok(None),
        };
        let Some(text) = text else {
            return Ok(None);
        };
        let host = url.host_str().unwrap_or("");
        if let Some(list) = &self.no_proxy {
            if no_proxy_matches(list, host, url.port_or_known_default()) {
                return Ok(None);
            }
        }
        let with_scheme = if text.contains("://") {
            text.clone()
        } else {
            format!("http://{text}")
        };
        let shown = redact_url(&with_scheme);
        let parsed = url::Url::parse(&with_scheme)
            .map_err(|e| format!("{name}: invalid proxy URL '{shown}': {e}"))?;
        if parsed.scheme() != "http" {
            return Err(format!(
                "{name}: proxy URL '{shown}': only http:// proxies are supported"
            ));
        }
        let proxy = ureq::Proxy::new(&with_scheme)
            .map_err(|_| format!("{name}: invalid proxy URL '{shown}'"))?;
        Ok(Some(ChosenProxy {
            proxy,
            text: with_scheme,
        }))
    }
}

/// Whether `host` (and `port`) is on a `NO_PROXY` list.
fn no_proxy_matches(list: &str, host: &str, port: Option<u16>) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let ip: Option<IpAddr> = host.parse().ok();
    list.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            let entry = entry.to_ascii_lowercase();
            if let (Some(ip), Some((net, bits))) = (ip, entry.split_once('/')) {
                return in_block(ip, net, bits);
            }
            // `host:port` (not an IPv6 address): the port must match too.
            let (name, entry_port) = match entry.rsplit_once(':') {
                Some((n, p)) if !n.contains(':') || n.ends_with(']') => (n, p.parse::<u16>().ok()),
                _ => (entry.as_str(), None),
            };
            if entry_port.is_some() && entry_port != port {
                return false;
            }
            let name = name.trim_start_matches('[').trim_end_matches(']');
            let name = name.trim_start_matches("*.").trim_start_matches('.');
            host == name || host.ends_with(&format!(".{name}"))
        })
}

/// Whether `ip` is in the block `net/bits`.
fn in_block(ip: IpAddr, net: &str, bits: &str) -> bool {
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// One `machine` of a netrc file.
#[derive(Clone, PartialEq)]
struct NetrcMachine {
    machine: String,
    login: String,
    password: String,
}

/// `$NETRC`, else `~/.netrc`.
fn netrc_path() -> Option<PathBuf> {
    match std::env::var_os("NETRC").filter(|v| !v.is_empty()) {
        Some(p) => Some(PathBuf::from(p)),
        None => dirs::home_dir().map(|h| h.join(".netrc")),
    }
}

/// Parses a netrc file: `machine NAME login USER password PASS` (any whitespace between
/// tokens, `account` ignored, `macdef` bodies skipped, `#` comments, double-quoted tokens).
/// The `default` entry is ignored on purpose: it would send a password to every host a
/// redirect leads to. Written here because the format is a dozen lines of tokenising and the
/// netrc crates on crates.io are unmaintained or add more than they save.
fn parse_netrc(text: &str) -> Vec<NetrcMachine> {
    let mut tokens = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let mut rest = line;
        loop {
            rest = rest.trim_start();
            if rest.is_empty() || rest.starts_with('#') {
                break;
            }
            let token = if let Some(quoted) = rest.strip_prefix('"') {
                let mut out = String::new();
                let mut chars = quoted.char_indices();
                let mut end = quoted.len();
                while let Some((i, c)) = chars.next() {
                    match c {
                        '"' => {
                            end = i + 1;
                            break;
                        }
                        '\\' => {
                            if let Some((_, n)) = chars.next() {
                                out.push(n);
                            }
                        }
                        c => out.push(c),
                    }
                }
                rest = &quoted[end.min(quoted.len())..];
                out
            } else {
                let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                let t = rest[..end].to_string();
                rest = &rest[end..];
                t
            };
            tokens.push(token);
        }
        // A macro definition runs to the next empty line; its body is not tokens.
        if tokens.len() >= 2 && tokens[tokens.len() - 2] == "macdef" {
            tokens.truncate(tokens.len() - 2);
            for body in lines.by_ref() {
                if body.trim().is_empty() {
                    break;
                }
            }
        }
    }
    let mut machines = Vec::new();
    let mut current: Option<NetrcMachine> = None;
    let mut it = tokens.into_iter();
    while let Some(token) = it.next() {
        match token.as_str() {
            "machine" | "default" => {
                machines.extend(current.take());
                if token == "machine" {
                    current = it.next().map(|machine| NetrcMachine {
                        machine,
                        login: String::new(),
                        password: String::new(),
                    });
                }
            }
            "login" | "password" | "account" => {
                let value = it.next().unwrap_or_default();
                if let Some(m) = current.as_mut() {
                    match token.as_str() {
                        "login" => m.login = value,
                        "password" => m.password = value,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    machines.extend(current);
    machines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netrc_entries() {
        let text = "# mine\nmachine rocks.example.com login ci password \"s3 cret\"\n\
                    macdef init\nmachine evil login x password y\n\n\
                    default login anon password anon\n\
                    machine other.example\n  login bob\n  account a\n  password pw\n";
        let m = parse_netrc(text);
        let found: Vec<(&str, &str, &str)> = m
            .iter()
            .map(|m| (m.machine.as_str(), m.login.as_str(), m.password.as_str()))
            .collect();
        assert_eq!(
            found,
            vec![
                ("rocks.example.com", "ci", "s3 cret"),
                ("other.example", "bob", "pw")
            ]
        );
    }

    #[test]
    fn no_proxy_lists() {
        assert!(no_proxy_matches("*", "anything", Some(443)));
        assert!(no_proxy_matches(
            "example.com",
            "rocks.example.com",
            Some(443)
        ));
        assert!(no_proxy_matches(".example.com", "example.com", Some(443)));
        assert!(no_proxy_matches("a, *.example.com", "x.example.com", None));
        assert!(!no_proxy_matches(
            "example.com",
            "badexample.com",
            Some(443)
        ));
        assert!(no_proxy_matches("127.0.0.1", "127.0.0.1", Some(80)));
        assert!(no_proxy_matches("10.0.0.0/8", "10.1.2.3", Some(80)));
        assert!(!no_proxy_matches("10.0.0.0/8", "11.1.2.3", Some(80)));
        assert!(no_proxy_matches("host:8080", "host", Some(8080)));
        assert!(!no_proxy_matches("host:8080", "host", Some(80)));
        assert!(no_proxy_matches("::1", "[::1]", Some(80)));
        assert!(no_proxy_matches("[::1]:80", "[::1]", Some(80)));
    }

    #[test]
    fn credentials_never_shown() {
        assert_eq!(
            redact_url("https://u:secret@h.example/x"),
            "https://h.example/x"
        );
        assert_eq!(
            redact_url("http://u:secret@proxy:3128"),
            "http://proxy:3128/"
        );
        assert!(has_credentials("https://u@h/"));
        assert!(!has_credentials("https://h/a@b"));
        let auth = ServerAuth {
            prefix: url::Url::parse("https://h/").unwrap(),
            username: "u".into(),
            password: "secret".into(),
        };
        assert!(!format!("{auth:?}").contains("secret"));
        let env = ProxyEnv {
            https: Some("ftp://u:secret@proxy".into()),
            ..ProxyEnv::default()
        };
        let e = env
            .proxy_for(&url::Url::parse("https://x/").unwrap())
            .err()
            .unwrap();
        assert!(!e.contains("secret") && e.contains("HTTPS_PROXY"), "{e}");
    }

    #[test]
    fn prefixes() {
        let p = parse_auth_prefix("https://h.example/rocks").unwrap();
        let u = |s: &str| url::Url::parse(s).unwrap();
        assert!(prefix_matches(&p, &u("https://h.example/rocks/manifest")));
        assert!(prefix_matches(&p, &u("https://H.example:443/rocks")));
        assert!(!prefix_matches(&p, &u("https://h.example/rocksother")));
        assert!(!prefix_matches(&p, &u("http://h.example/rocks/x")));
        assert!(!prefix_matches(&p, &u("https://other.example/rocks/x")));
        assert!(parse_auth_prefix("https://u:p@h/").is_err());
        assert!(parse_auth_prefix("ftp://h/").is_err());
    }
}
