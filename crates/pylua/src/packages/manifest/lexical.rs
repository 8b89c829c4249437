//! The lexical pieces of the manifest parser: table keys, names, blanks, numerals (decimal
//! and hexadecimal, as Lua reads them) and UTF-8 escapes.

use super::Value;
use std::borrow::Cow;

pub(super) enum Key<'a> {
    Name(&'a [u8]),
    Str(Cow<'a, [u8]>),
    Other(Value),
}

impl Key<'_> {
    pub(super) fn bytes(&self) -> Option<&[u8]> {
        match self {
            Key::Name(b) => Some(b),
            Key::Str(s) => Some(s),
            Key::Other(Value::String(s)) => Some(s.as_bytes()),
            Key::Other(_) => None,
        }
    }

    pub(super) fn into_string(self) -> Option<String> {
        match self {
            Key::Name(b) => Some(text(Cow::Borrowed(b))),
            Key::Str(s) => Some(text(s)),
            Key::Other(Value::String(s)) => Some(s),
            Key::Other(_) => None,
        }
    }

    pub(super) fn into_value(self) -> Value {
        match self {
            Key::Other(v) => v,
            k => Value::String(k.into_string().unwrap_or_default()),
        }
    }
}

/// Bytes of a Lua string as a Rust string, invalid UTF-8 replaced.
pub(super) fn text(bytes: Cow<'_, [u8]>) -> String {
    match bytes {
        Cow::Borrowed(b) => match std::str::from_utf8(b) {
            Ok(s) => s.to_owned(),
            Err(_) => String::from_utf8_lossy(b).into_owned(),
        },
        Cow::Owned(v) => String::from_utf8(v)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

pub(super) fn lossy(bytes: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

#[inline]
pub(super) fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

#[inline]
pub(super) fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Lua's whitespace (`isspace` in the C locale).
#[inline]
pub(super) fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

pub(super) fn hex_value(b: u8) -> Option<u32> {
    (b as char).to_digit(16)
}

/// Appends `x` in UTF-8 as Lua's `\u{...}` does, extended to 31 bits (up to 6 bytes), so
/// surrogates and values past U+10FFFF produce bytes that are not valid UTF-8.
pub(super) fn push_utf8(out: &mut Vec<u8>, x: u32) {
    if x < 0x80 {
        out.push(x as u8);
        return;
    }
    let len = match x {
        0..=0x7ff => 2,
        0x800..=0xffff => 3,
        0x1_0000..=0x1f_ffff => 4,
        0x20_0000..=0x3ff_ffff => 5,
        _ => 6,
    };
    let lead_mark: u8 = !(0xffu8 >> len);
    out.push(lead_mark | (x >> (6 * (len - 1))) as u8);
    for i in (0..len - 1).rev() {
        out.push(0x80 | ((x >> (6 * i)) & 0x3f) as u8);
    }
}

/// Converts a numeral as Lua does: decimal integers that overflow become floats, hexadecimal
/// integers wrap around, hexadecimal floats (`0x1.8p3`) are accepted.
pub(super) fn numeral(text: &[u8]) -> Option<Value> {
    if text.len() > 2 && text[0] == b'0' && (text[1] | 0x20) == b'x' {
        return hex_numeral(&text[2..]);
    }
    let s = std::str::from_utf8(text).ok()?;
    if s.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(i) = s.parse::<i64>() {
            return Some(Value::Integer(i));
        }
    }
    // Only digits, '.', exponents and signs reach here; Rust accepts the same forms as Lua.
    if s.bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return s.parse::<f64>().ok().map(Value::Float);
    }
    None
}

pub(super) fn hex_numeral(body: &[u8]) -> Option<Value> {
    let mut int: u64 = 0;
    let mut float = 0.0f64;
    let mut exp: i64 = 0;
    let mut digits = false;
    let mut dot = false;
    let mut is_float = false;
    let mut i = 0;
    while i < body.len() {
        let b = body[i];
        if let Some(d) = hex_value(b) {
            int = int.wrapping_mul(16).wrapping_add(d as u64);
            float = float * 16.0 + d as f64;
            if dot {
                exp -= 4;
            }
            digits = true;
        } else if b == b'.' && !dot {
            dot = true;
            is_float = true;
        } else if b | 0x20 == b'p' {
            break;
        } else {
            return None;
        }
        i += 1;
    }
    if !digits {
        return None;
    }
    if i < body.len() {
        // binary exponent
        is_float = true;
        i += 1;
        let mut negative = false;
        if let Some(&s @ (b'+' | b'-')) = body.get(i) {
            negative = s == b'-';
            i += 1;
        }
        if i == body.len() {
            return None;
        }
        let mut e: i64 = 0;
        for &b in &body[i..] {
            if !b.is_ascii_digit() {
                return None;
            }
            e = (e * 10 + (b - b'0') as i64).min(1_000_000);
        }
        exp += if negative { -e } else { e };
    }
    if !is_float {
        return Some(Value::Integer(int as i64));
    }
    if float == 0.0 {
        return Some(Value::Float(0.0));
    }
    let exp = exp.clamp(-100_000, 100_000) as i32;
    // Split the scaling so intermediate powers do not overflow before the product would.
    let half = exp / 2;
    Some(Value::Float(
        float * 2f64.powi(half) * 2f64.powi(exp - half),
    ))
}
