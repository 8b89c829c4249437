//! `net`: HTTP for sandboxed code, done by the host under a [`NetPolicy`]. The module exists
//! in a VM only when a policy is given; it needs no C module, so it works under `strict`.
//!
//! Lua sees `net.request{url=, method=, headers=, body=, timeout=}` → `{status, headers,
//! body}` or `nil, err`, and `net.get(url [, headers])`, which raises instead of returning
//! `nil, err`. An error's text starts with its kind (`network_denied: …`, `network_limit: …`,
//! `network_error: …`); when such an error ends a run, the run's error has that kind.
//!
//! Why a worker thread per request: a blocking read cannot be interrupted by the watchdog
//! (which stops Lua code, not system calls). The VM's thread waits for the worker and looks
//! at the run's abort flag while it waits, so a run's timeout or an interrupt ends the wait;
//! the worker's own timeout is the smaller of the policy's and the run's remaining time, so it
//! does not outlive the run by much either.

mod client;
mod glue;
mod options;
mod policy;
mod remote;

pub(crate) use glue::{install, NET_LUA};
pub use options::NetOptions;
pub use policy::{HostPattern, NetPolicy};
pub(crate) use remote::serve;

use super::error::{ErrorKind, VmError};
use std::sync::Mutex;
use std::time::Instant;

/// One request as the audit log keeps it (one per hop: a redirect is its own entry).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct NetAudit {
    pub method: String,
    /// Without its query string, which may carry secrets.
    pub url: String,
    /// `host:port`.
    pub host: String,
    /// None when no answer came.
    pub status: Option<u16>,
    /// Body bytes received.
    pub bytes: u64,
    pub ms: f64,
    /// The error kind when the request failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A failed request: its kind (one of the three network kinds) and what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NetError {
    pub kind: ErrorKind,
    pub message: String,
}

impl NetError {
    pub(crate) fn denied(message: impl Into<String>) -> NetError {
        NetError {
            kind: ErrorKind::NetworkDenied,
            message: message.into(),
        }
    }
    pub(crate) fn limit(message: impl Into<String>) -> NetError {
        NetError {
            kind: ErrorKind::NetworkLimit,
            message: message.into(),
        }
    }
    pub(crate) fn failed(message: impl Into<String>) -> NetError {
        NetError {
            kind: ErrorKind::NetworkError,
            message: message.into(),
        }
    }
    /// The text Lua sees: the kind first, so scripts and the host can tell them apart.
    pub(crate) fn lua_text(&self) -> String {
        format!("{}: {}", self.kind.as_str(), self.message)
    }
}

/// A VM's network state: the policy, and what the current run has used.
#[derive(Debug)]
pub(crate) struct NetSession {
    pub(crate) policy: NetPolicy,
    run: Mutex<RunUse>,
}

#[derive(Debug, Default)]
struct RunUse {
    deadline: Option<Instant>,
    requests: u32,
    bytes: u64,
    audit: Vec<NetAudit>,
    /// The errors given to Lua this run, to tell the kind of a run that ends with one.
    failures: Vec<(ErrorKind, String)>,
}

impl NetSession {
    pub(crate) fn new(policy: NetPolicy) -> NetSession {
        NetSession {
            policy,
            run: Mutex::new(RunUse::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RunUse> {
        self.run.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new run starts: fresh budgets and log; `deadline` is when the run's timeout ends it.
    pub(crate) fn begin_run(&self, deadline: Option<Instant>) {
        *self.lock() = RunUse {
            deadline,
            ..RunUse::default()
        };
    }

    fn deadline(&self) -> Option<Instant> {
        self.lock().deadline
    }

    /// Counts one request against the run's cap.
    fn count_request(&self) -> Result<(), NetError> {
        let mut run = self.lock();
        if run.requests >= self.policy.max_requests {
            return Err(NetError::limit(format!(
                "more than {} requests in one run",
                self.policy.max_requests
            )));
        }
        run.requests += 1;
        Ok(())
    }

    /// The most this response's body may have: the per-response cap or what is left of
    /// the run's total.
    fn body_cap(&self) -> u64 {
        let used = self.lock().bytes;
        self.policy
            .max_response_bytes
            .min(self.policy.max_total_bytes.saturating_sub(used))
    }

    fn count_bytes(&self, n: u64) {
        self.lock().bytes += n;
    }

    fn record(&self, entry: NetAudit) {
        let mut run = self.lock();
        if run.audit.len() < 10_000 {
            run.audit.push(entry);
        }
    }

    fn failed(&self, error: &NetError) {
        let mut run = self.lock();
        if run.failures.len() < 1000 {
            run.failures.push((error.kind, error.lua_text()));
        }
    }

    /// The audit log of the current (or last) run.
    pub(crate) fn audit(&self) -> Vec<NetAudit> {
        self.lock().audit.clone()
    }

    /// A runtime error that carries a network error given to Lua this run takes its kind.
    pub(crate) fn classify(&self, mut error: VmError) -> VmError {
        if error.kind == ErrorKind::Runtime {
            let run = self.lock();
            if let Some((kind, _)) = run
                .failures
                .iter()
                .rev()
                .find(|(_, text)| error.message.contains(text.as_str()))
            {
                error.kind = *kind;
            }
        }
        error
    }
}
