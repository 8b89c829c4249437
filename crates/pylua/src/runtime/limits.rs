//! The limits a VM runs under — memory, instruction count and wall-clock time — and the
//! parsers for the human forms users type (`64M`, `1.5GiB`, `500ms`, `5s`).

use super::error::{ErrorKind, VmError};
use std::time::Duration;

/// Resource limits for one VM. `None` means unlimited. Limits apply to each top-level run
/// (`eval`, `exec`, `call`): the instruction budget and the deadline start again each time,
/// the memory limit bounds everything the VM holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Bytes the Lua state may hold in total (its heap, strings and tables included).
    pub memory: Option<usize>,
    /// Lua VM instructions one run may execute, as the VM counts them: each call counts 1,
    /// each return the instructions on the way to it from the function's start, each loop
    /// iteration its body's length. Straight-line code is counted as it ran, a branch not
    /// taken as if it had been: close to the instructions executed, and never far below.
    /// Checked about every 1000; counting costs a few percent at most (no hook).
    pub instructions: Option<u64>,
    /// Wall-clock time one run may take.
    ///
    /// A shared watchdog thread, which learns of the VM once, looks at it while a run is in
    /// progress (about every eighth of the timeout) and records the timeout once the same
    /// run has been in progress for the whole of it; the VM stops at its next check (every
    /// 1000 or so instructions, and inside pattern matches). A run costs two plain atomic
    /// stores (no lock, no locked instruction); a timeout fires up to an eighth of itself
    /// late, never early. A child of `fork` starts its own watchdog.
    pub timeout: Option<Duration>,
}

impl Limits {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn memory(mut self, bytes: usize) -> Self {
        self.memory = Some(bytes);
        self
    }
    pub fn instructions(mut self, count: u64) -> Self {
        self.instructions = Some(count);
        self
    }
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
    /// True when no limit is set.
    pub fn is_unlimited(&self) -> bool {
        self.memory.is_none() && self.instructions.is_none() && self.timeout.is_none()
    }
}

/// Parses a size such as `64M`, `512k`, `1.5GiB`, `1000000` (bytes). Suffixes are binary
/// (K = 1024), case-insensitive, with an optional `B`/`iB`.
pub fn parse_size(text: &str) -> Result<usize, VmError> {
    let bad = || {
        VmError::new(
            ErrorKind::Usage,
            format!("invalid size '{text}': expected a number of bytes with an optional unit, like 64M, 512K or 1G"),
        )
    };
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num.parse().map_err(|_| bad())?;
    let multiplier: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "tib" => 1024.0f64.powi(4),
        _ => return Err(bad()),
    };
    let bytes = value * multiplier;
    if !bytes.is_finite() || bytes < 1.0 || bytes > usize::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as usize)
}

/// Parses a duration such as `5s`, `250ms`, `1.5s`, `2m`, `100us`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, VmError> {
    let bad = || {
        VmError::new(
            ErrorKind::Usage,
            format!(
                "invalid duration '{text}': expected a number with a unit, like 500ms, 5s or 2m"
            ),
        )
    };
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num.parse().map_err(|_| bad())?;
    let seconds = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "s" | "sec" | "secs" => value,
        "ms" => value / 1e3,
        "us" | "µs" => value / 1e6,
        "ns" => value / 1e9,
        "m" | "min" | "mins" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(bad()),
    };
    if !seconds.is_finite() || seconds <= 0.0 || seconds > 1e9 {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64M").unwrap(), 64 << 20);
        assert_eq!(parse_size("512k").unwrap(), 512 << 10);
        assert_eq!(parse_size("1.5GiB").unwrap(), 3 << 29);
        assert_eq!(parse_size("1000").unwrap(), 1000);
        for bad in ["lots", "", "12Q", "-5M", "0", "M"] {
            let err = parse_size(bad).unwrap_err();
            assert_eq!(err.kind, ErrorKind::Usage, "{bad}");
            assert!(err.message.contains("64M"), "{}", err.message);
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        for bad in ["soon", "", "0s", "5 parsecs", "-1s"] {
            assert_eq!(
                parse_duration(bad).unwrap_err().kind,
                ErrorKind::Usage,
                "{bad}"
            );
        }
    }
}
