//! The network flags of every command that runs Lua (`run`, `eval`, `repl`): they become the
//! library's [`NetOptions`], which fill in over the project's `[run]` network settings.

use clap::Args;
use pylua::runtime::{parse_duration, parse_size, HostPattern, NetOptions};
use std::time::Duration;

#[derive(Args, Clone, Default)]
pub struct NetArgs {
    /// Give scripts the `net` module, allowed to reach HOST[:PORT] (repeatable; `*.example.com`
    /// for subdomains, `*` for any host). Loopback and private addresses must be named
    /// themselves (e.g. 127.0.0.1:8080).
    #[arg(long = "allow-net", value_parser = parse_pattern, value_name = "HOST[:PORT]")]
    allow_net: Vec<HostPattern>,
    /// Refuse HOST[:PORT] even when --allow-net covers it (repeatable; wins).
    #[arg(long = "deny-net", value_parser = parse_pattern, value_name = "HOST[:PORT]")]
    deny_net: Vec<HostPattern>,
    /// Allow plain http:// as well as https://.
    #[arg(long)]
    allow_http: bool,
    /// Largest response body a request may receive (default 8M).
    #[arg(long, value_parser = parse_bytes, value_name = "SIZE")]
    net_max_response: Option<u64>,
    /// Time one request may take, redirects included (default 30s).
    #[arg(long, value_parser = parse_time, value_name = "DURATION")]
    net_timeout: Option<Duration>,
    /// Requests one run may make (default 100).
    #[arg(long, value_name = "N")]
    net_max_requests: Option<u32>,
    /// Bytes one run may receive in all (default 64M).
    #[arg(long, value_parser = parse_bytes, value_name = "SIZE")]
    net_max_total: Option<u64>,
}

fn parse_pattern(s: &str) -> Result<HostPattern, String> {
    HostPattern::parse(s)
}
fn parse_bytes(s: &str) -> Result<u64, String> {
    parse_size(s).map(|n| n as u64).map_err(|e| e.message)
}
fn parse_time(s: &str) -> Result<Duration, String> {
    parse_duration(s).map_err(|e| e.message)
}

impl NetArgs {
    pub fn options(self) -> NetOptions {
        NetOptions {
            allow: self.allow_net,
            deny: self.deny_net,
            allow_http: self.allow_http.then_some(true),
            max_response_bytes: self.net_max_response,
            request_timeout: self.net_timeout,
            max_requests: self.net_max_requests,
            max_total_bytes: self.net_max_total,
        }
    }
}
