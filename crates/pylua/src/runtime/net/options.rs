//! The network policy as the fronts and `pylua.toml` give it: each setting optional, so the
//! caller's flags can fill in over the project's `[run]` defaults before the policy is made.

use super::policy::{HostPattern, NetPolicy};
use std::time::Duration;

/// What a caller or a project asks of the network; `None` leaves a cap at its default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetOptions {
    /// `--allow-net`: with none, scripts get no `net` at all.
    pub allow: Vec<HostPattern>,
    /// `--deny-net`: wins over `allow`.
    pub deny: Vec<HostPattern>,
    /// `--allow-http`.
    pub allow_http: Option<bool>,
    pub max_response_bytes: Option<u64>,
    pub request_timeout: Option<Duration>,
    pub max_requests: Option<u32>,
    pub max_total_bytes: Option<u64>,
}

impl NetOptions {
    /// These options over `base` (a project's): a non-empty allow list replaces the base's,
    /// deny lists add up (a project's denial stands), other settings fill in where unset.
    pub fn over(self, base: NetOptions) -> NetOptions {
        let mut deny = base.deny;
        deny.extend(self.deny);
        NetOptions {
            allow: if self.allow.is_empty() {
                base.allow
            } else {
                self.allow
            },
            deny,
            allow_http: self.allow_http.or(base.allow_http),
            max_response_bytes: self.max_response_bytes.or(base.max_response_bytes),
            request_timeout: self.request_timeout.or(base.request_timeout),
            max_requests: self.max_requests.or(base.max_requests),
            max_total_bytes: self.max_total_bytes.or(base.max_total_bytes),
        }
    }

    /// The policy, or None when nothing is allowed (then scripts have no `net`).
    pub fn policy(&self) -> Option<NetPolicy> {
        if self.allow.is_empty() {
            return None;
        }
        let d = NetPolicy::default();
        Some(NetPolicy {
            allow: self.allow.clone(),
            deny: self.deny.clone(),
            allow_http: self.allow_http.unwrap_or(false),
            max_response_bytes: self.max_response_bytes.unwrap_or(d.max_response_bytes),
            request_timeout: self.request_timeout.unwrap_or(d.request_timeout),
            max_requests: self.max_requests.unwrap_or(d.max_requests),
            max_total_bytes: self.max_total_bytes.unwrap_or(d.max_total_bytes),
            ..d
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_over_project() {
        let p = |s: &str| HostPattern::parse(s).unwrap();
        let project = NetOptions {
            allow: vec![p("api.example.com")],
            deny: vec![p("admin.example.com")],
            allow_http: Some(true),
            ..NetOptions::default()
        };
        let caller = NetOptions {
            deny: vec![p("x.example.com")],
            max_requests: Some(3),
            ..NetOptions::default()
        };
        let merged = caller.over(project).policy().unwrap();
        assert_eq!(merged.allow.len(), 1);
        assert_eq!(merged.deny.len(), 2);
        assert!(merged.allow_http);
        assert_eq!(merged.max_requests, 3);
        assert_eq!(NetOptions::default().policy(), None);
    }
}
