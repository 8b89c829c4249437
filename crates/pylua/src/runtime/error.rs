//! Errors a VM reports: what went wrong (a stable [`ErrorKind`]) and where (chunk, line,
//! traceback), so fronts can render them for people or as JSON.

use serde::Serialize;
use std::fmt;

/// What kind of failure ended a piece of Lua code. The names are stable: they are the `kind`
/// field of `--json` output and they pick the process exit code of the CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The source does not parse (chunk name and line are set).
    Syntax,
    /// The code raised an error while running (message and traceback are set).
    Runtime,
    /// The VM tried to use more memory than its limit.
    MemoryLimit,
    /// The VM ran more instructions than its limit.
    InstructionLimit,
    /// The VM ran longer than its wall-clock limit.
    Timeout,
    /// A file could not be read (missing script, unreadable path).
    Io,
    /// The request itself is wrong (bad option value, invalid setting).
    Usage,
    /// An [`crate::runtime::Interrupter`] stopped the run (Ctrl-C, or the host's own stop).
    Interrupted,
    /// The network policy refused a request (host, port, scheme, address or header).
    NetworkDenied,
    /// A request went over one of the network policy's caps (size, time, count).
    NetworkLimit,
    /// A request failed on the network (resolution, connection, TLS, a broken answer).
    NetworkError,
}

impl ErrorKind {
    /// The stable name used in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Syntax => "syntax",
            ErrorKind::Runtime => "runtime",
            ErrorKind::MemoryLimit => "memory_limit",
            ErrorKind::InstructionLimit => "instruction_limit",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Io => "io",
            ErrorKind::Usage => "usage",
            ErrorKind::Interrupted => "interrupted",
            ErrorKind::NetworkDenied => "network_denied",
            ErrorKind::NetworkLimit => "network_limit",
            ErrorKind::NetworkError => "network_error",
        }
    }

    /// True for the three limits (memory, instructions, time).
    pub fn is_limit(self) -> bool {
        matches!(
            self,
            ErrorKind::MemoryLimit | ErrorKind::InstructionLimit | ErrorKind::Timeout
        )
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error from a VM, with as much location as Lua gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
pub struct VmError {
    pub kind: ErrorKind,
    /// The message without the traceback, e.g. `main.lua:3: attempt to call a nil value`.
    pub message: String,
    /// The chunk the error points into (a file path or a name like `eval`), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunk: Option<String>,
    /// The line in that chunk, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// The Lua stack traceback for runtime errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traceback: Option<String>,
    /// True when a syntax error is only "unexpected end of input": more lines may complete it.
    #[serde(skip)]
    pub incomplete: bool,
    /// What the user can do about it, when the library knows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<Box<crate::hint::Hint>>,
}

impl VmError {
    pub fn with_hint(mut self, hint: Option<crate::hint::Hint>) -> Self {
        self.hint = hint.map(Box::new);
        self
    }

    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        VmError {
            kind,
            message: message.into(),
            chunk: None,
            line: None,
            traceback: None,
            incomplete: false,
            hint: None,
        }
    }

    /// Builds an error from a Lua message, taking chunk and line from its `chunk:line:` prefix.
    pub(crate) fn located(kind: ErrorKind, message: &str) -> Self {
        let message = message.trim_end().to_string();
        let mut err = VmError::new(kind, message);
        if let Some((chunk, line)) = split_location(&err.message) {
            err.chunk = Some(chunk);
            err.line = Some(line);
        }
        err
    }
}

impl fmt::Display for VmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ErrorKind::Syntax => "syntax error",
            ErrorKind::Runtime => "runtime error",
            ErrorKind::MemoryLimit => "memory limit exceeded",
            ErrorKind::InstructionLimit => "instruction limit exceeded",
            ErrorKind::Timeout => "time limit exceeded",
            ErrorKind::Io => "cannot read input",
            ErrorKind::Usage => "invalid request",
            ErrorKind::Interrupted => "interrupted",
            ErrorKind::NetworkDenied => "network request denied",
            ErrorKind::NetworkLimit => "network limit exceeded",
            ErrorKind::NetworkError => "network error",
        };
        write!(f, "{what}: {}", self.message)
    }
}

/// Splits `name:12: message` (as Lua formats positions) into the chunk name and line.
fn split_location(message: &str) -> Option<(String, u32)> {
    let first = message.lines().next()?;
    // Chunk names of loaded strings look like `[string "..."]`, which may contain colons.
    let search_from = if first.starts_with("[string \"") {
        first.find("\"]")? + 2
    } else {
        0
    };
    let rest = &first[search_from..];
    let colon = rest.find(':')? + search_from;
    let after = &first[colon + 1..];
    let digits: String = after.chars().take_while(|c| c.is_ascii_digit()).collect();
    if digits.is_empty() || !after[digits.len()..].starts_with(':') {
        return None;
    }
    Some((first[..colon].to_string(), digits.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_file_and_string_chunk_locations() {
        assert_eq!(
            split_location("main.lua:3: boom"),
            Some(("main.lua".into(), 3))
        );
        assert_eq!(
            split_location("[string \"a:b\"]:12: oops"),
            Some(("[string \"a:b\"]".into(), 12))
        );
        assert_eq!(split_location("no location here"), None);
        assert_eq!(split_location("C:\\x: not a line"), None);
    }
}
