//! The pipe protocol between the host and the session script (`lua/session.lua`): requests
//! (`<op> <len> <len> ...` then the fields), reply frames (`<kind><len>\n<payload>`, read with
//! a deadline and a size cap), and Lua literals for values sent down.

use super::super::error::{ErrorKind, VmError};
use super::super::interrupt::InterruptCell;
use super::super::stack::MAX_PUSH_DEPTH;
use super::super::vm::human_bytes;
use super::child::*;
use serde_json::Value as Json;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::time::Instant;

/// Why no frame came.
pub(super) enum Stop {
    Timeout,
    Interrupted,
    Closed,
    Failed(#[allow(dead_code)] io::Error),
}

/// The reply channel: frames `<kind><len>\n<payload>`, read with a deadline.
pub(super) struct Replies {
    pub(super) file: File,
    pub(super) buf: Vec<u8>,
    pub(super) pos: usize,
}

/// The largest reply frame read from an interpreter: values and output beyond this are
/// refused rather than read into the host's memory (a script in the child can write to the
/// reply channel itself).
pub(super) const MAX_FRAME: usize = 1 << 30;

impl Replies {
    pub(super) fn new(file: File) -> Replies {
        Replies {
            file,
            buf: Vec::with_capacity(8192),
            pos: 0,
        }
    }

    /// The next frame. Everything here comes from the child, which may be any program
    /// writing anything: a malformed header, a length past what it sends or past `usize`,
    /// end of file mid-frame — each is a [`Stop`], never a panic.
    pub(super) fn frame(
        &mut self,
        deadline: Option<Instant>,
        pid: u32,
        interrupts: &InterruptCell,
    ) -> Result<(u8, Vec<u8>), Stop> {
        let invalid = || Stop::Failed(io::Error::from(io::ErrorKind::InvalidData));
        // Offsets from `self.pos`: `fill` moves the unread bytes to the buffer's start.
        let newline = loop {
            if let Some(i) = self.buf[self.pos..].iter().position(|&b| b == b'\n') {
                break i;
            }
            self.fill(deadline, pid, interrupts)?;
        };
        // The header is `<kind><decimal length>`: at least two bytes before the newline.
        let header = &self.buf[self.pos..self.pos + newline];
        let (&kind, digits) = header.split_first().ok_or_else(invalid)?;
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return Err(invalid());
        }
        let len: usize = std::str::from_utf8(digits)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(invalid)?;
        if len > MAX_FRAME {
            return Err(Stop::Failed(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the interpreter announced a reply of {len} bytes, more than the {} pylua accepts",
                    human_bytes(MAX_FRAME)
                ),
            )));
        }
        let start = newline + 1;
        let end = start.checked_add(len).ok_or_else(invalid)?;
        while self.buf.len() - self.pos < end {
            self.fill(deadline, pid, interrupts)?;
        }
        let payload = self.buf[self.pos + start..self.pos + end].to_vec();
        self.pos += end;
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        Ok((kind, payload))
    }

    /// Reads what is there, waiting until the deadline. Checks now and then that the
    /// interpreter still lives: a process it started may hold the pipe open after it died.
    /// An interrupt request ends the wait: its signal makes `poll` return `EINTR`.
    pub(super) fn fill(
        &mut self,
        deadline: Option<Instant>,
        pid: u32,
        interrupts: &InterruptCell,
    ) -> Result<(), Stop> {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let mut exited = false;
        loop {
            if interrupts.requested() {
                return Err(Stop::Interrupted);
            }
            let wait_ms = match deadline {
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return Err(Stop::Timeout);
                    }
                    ((d - now).as_micros().div_ceil(1000)).min(500) as libc::c_int
                }
                None => 500,
            };
            let wait_ms = if exited { 0 } else { wait_ms };
            let mut pfd = libc::pollfd {
                fd: self.file.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: `pfd` is one valid `pollfd` for a descriptor `self.file` owns.
            let n = unsafe { libc::poll(&mut pfd, 1, wait_ms) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(Stop::Failed(e));
            }
            if n == 0 {
                if exited {
                    return Err(Stop::Closed);
                }
                exited = has_exited(pid);
                continue;
            }
            let mut chunk = [0u8; 65536];
            match self.file.read(&mut chunk) {
                Ok(0) => return Err(Stop::Closed),
                Ok(k) => {
                    self.buf.extend_from_slice(&chunk[..k]);
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Stop::Failed(e)),
            }
        }
    }
}

pub(super) fn encode_request(op: u8, fields: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + fields.iter().map(|f| f.len() + 8).sum::<usize>());
    out.push(op);
    for f in fields {
        out.push(b' ');
        out.extend_from_slice(f.len().to_string().as_bytes());
    }
    out.push(b'\n');
    for f in fields {
        out.extend_from_slice(f);
    }
    out
}

/// Refuses a value nested deeper than the embedded VM takes ([`MAX_PUSH_DEPTH`]): writing
/// it out recurses once per level, and no Lua parser reads more than about 200 levels.
pub(super) fn check_depth(value: &Json) -> Result<(), VmError> {
    let mut pending = vec![(value, 0usize)];
    while let Some((value, depth)) = pending.pop() {
        let children: Box<dyn Iterator<Item = &Json>> = match value {
            Json::Array(items) => Box::new(items.iter()),
            Json::Object(map) => Box::new(map.values()),
            _ => continue,
        };
        if depth >= MAX_PUSH_DEPTH {
            return Err(VmError::new(
                ErrorKind::Runtime,
                format!(
                    "a value nested more than {MAX_PUSH_DEPTH} levels deep cannot be passed to Lua"
                ),
            ));
        }
        pending.extend(children.map(|child| (child, depth + 1)));
    }
    Ok(())
}

/// Writes a JSON value as a Lua expression that builds the same value (`null` is `nil`,
/// arrays are sequences), readable by every Lua version.
pub(super) fn lua_literal(value: &Json, out: &mut String) {
    use std::fmt::Write as _;
    match value {
        Json::Null => out.push_str("nil"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                if i == i64::MIN {
                    out.push_str("(-9223372036854775807-1)");
                } else {
                    let _ = write!(out, "{i}");
                }
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                if f.is_finite() {
                    let _ = write!(out, "{f:?}");
                } else {
                    out.push_str("(0/0)");
                }
            }
        }
        Json::String(s) => crate::lua_syntax::push_string(out, s.as_bytes()),
        Json::Array(items) => {
            out.push('{');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                lua_literal(item, out);
            }
            out.push('}');
        }
        Json::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push('[');
                lua_literal(&Json::String(k.clone()), out);
                out.push_str("]=");
                lua_literal(v, out);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    pub(super) fn literals_are_lua() {
        let mut s = String::new();
        lua_literal(
            &json!({"a": [1, 2.5, null, "x\"\n\u{e9}"], "b": true, "c": -9223372036854775808i64}),
            &mut s,
        );
        assert_eq!(
            s,
            "{[\"a\"]={1,2.5,nil,\"x\\\"\\n\u{e9}\"},[\"b\"]=true,[\"c\"]=(-9223372036854775807-1)}"
        );
    }

    #[test]
    pub(super) fn requests_are_framed() {
        assert_eq!(
            encode_request(b'x', &[b"=eval", b"return 1"]),
            b"x 5 8\n=evalreturn 1".to_vec()
        );
    }
}
