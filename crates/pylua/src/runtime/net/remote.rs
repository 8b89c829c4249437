//! `net` in a process VM. The interpreter runs the same `net.lua` as the embedded VM, over a
//! `raw` that sends its arguments up the session pipe as an `n` frame; the host checks and
//! performs the request under the VM's policy, exactly as for the embedded VM, and answers
//! with a reply in the request format the session script already reads.
//!
//! The frame comes from the interpreter, which may run any code: it is parsed as untrusted
//! input (field count, lengths, UTF-8), and a malformed one is an error given to the script,
//! never a panic.

use super::client::Request;
use super::glue::wait;
use super::{NetError, NetSession};
use std::sync::Arc;
use std::time::Duration;

/// What the host answers: an op (`k` done, `x` failed) and its fields — status, headers and
/// body, or the error's text.
pub(crate) type Reply = (u8, Vec<Vec<u8>>);

/// Performs the request of an `n` frame: `<len> <len> <len> <len> <len>\n` then the fields
/// url, method, headers (`name NUL value` lines), body, timeout (seconds, empty for none),
/// back to back; a body field starting with `-` is no body, one starting with `+` is the
/// body after that byte. `stopped` tells when the run has been stopped (timeout, interrupt).
pub(crate) fn serve(
    session: &Arc<NetSession>,
    payload: &[u8],
    stopped: &dyn Fn() -> bool,
) -> Reply {
    let outcome = parse(payload)
        .map_err(|why| NetError::failed(format!("malformed request from the interpreter: {why}")))
        .and_then(|request| wait(session, stopped, request));
    match outcome {
        Ok(response) => (
            b'k',
            vec![
                response.status.to_string().into_bytes(),
                response.headers,
                response.body,
            ],
        ),
        Err(e) => {
            session.failed(&e);
            (b'x', vec![e.lua_text().into_bytes()])
        }
    }
}

fn parse(payload: &[u8]) -> Result<Request, &'static str> {
    let newline = payload
        .iter()
        .position(|&b| b == b'\n')
        .ok_or("no header")?;
    let header = std::str::from_utf8(&payload[..newline]).map_err(|_| "header not text")?;
    let mut rest = &payload[newline + 1..];
    let mut fields = Vec::with_capacity(5);
    for len in header.split(' ') {
        let len: usize = len.parse().map_err(|_| "bad length")?;
        if len > rest.len() || fields.len() == 5 {
            return Err("lengths past the frame");
        }
        let (field, tail) = rest.split_at(len);
        fields.push(field);
        rest = tail;
    }
    let [url, method, headers, body, timeout] = fields[..] else {
        return Err("expected five fields");
    };
    if !rest.is_empty() {
        return Err("bytes after the fields");
    }
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).map_err(|_| "url and method must be UTF-8");
    let body = match body.split_first() {
        Some((b'+', body)) => Some(body.to_vec()),
        Some((b'-', [])) => None,
        _ => return Err("bad body field"),
    };
    let timeout = match timeout {
        [] => None,
        t => {
            let secs: f64 = std::str::from_utf8(t)
                .ok()
                .and_then(|t| t.parse().ok())
                .ok_or("bad timeout")?;
            Some(Duration::try_from_secs_f64(secs).map_err(|_| "bad timeout")?)
        }
    };
    Ok(Request {
        url: text(url)?,
        method: text(method)?,
        headers: headers.to_vec(),
        body,
        timeout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(fields: &[&[u8]]) -> Vec<u8> {
        let lens: Vec<String> = fields.iter().map(|f| f.len().to_string()).collect();
        let mut out = lens.join(" ").into_bytes();
        out.push(b'\n');
        for f in fields {
            out.extend_from_slice(f);
        }
        out
    }

    #[test]
    fn frames_parse_and_hostile_ones_are_refused() {
        let ok = parse(&frame(&[
            b"https://x.test/",
            b"GET",
            b"a\0b",
            b"+hi",
            b"2.5",
        ]))
        .unwrap();
        assert_eq!(ok.url, "https://x.test/");
        assert_eq!(ok.body.as_deref(), Some(&b"hi"[..]));
        assert_eq!(ok.timeout, Some(Duration::from_millis(2500)));
        let none = parse(&frame(&[b"u", b"GET", b"", b"-", b""])).unwrap();
        assert!(none.body.is_none() && none.timeout.is_none());
        for bad in [
            b"".to_vec(),
            b"1 2\nabc".to_vec(),
            b"99999999999999999999999 1 1 1 1\nx".to_vec(),
            b"18446744073709551615 1 1 1 1\nx".to_vec(),
            frame(&[b"u", b"GET", b"", b"?", b""]),
            frame(&[b"u", b"GET", b"", b"-", b"-1"]),
            frame(&[b"u", b"GET", b"", b"-", b"nan"]),
            frame(&[b"u", b"GET", b"", b"-", b"1e300"]),
            frame(&[b"\xff", b"GET", b"", b"-", b""]),
            frame(&[b"u", b"GET", b"", b"-", b"", b"extra"]),
            [frame(&[b"u", b"GET", b"", b"-", b""]), b"trailing".to_vec()].concat(),
        ] {
            assert!(parse(&bad).is_err(), "{}", String::from_utf8_lossy(&bad));
        }
    }
}
