//! Writing Lua source text: the one string-literal writer every part of pylua uses when it
//! generates Lua (tree manifests, `rock_manifest` files, values sent to an external
//! interpreter), so a quoting rule is fixed in one place.
//!
//! The literal reads back as the same bytes in every Lua pylua runs (5.1–5.4 and LuaJIT):
//! only the escapes all of them know are used — `\"`, `\\`, `\n`, `\r` and the three-digit
//! decimal `\ddd`. The decimal escape is always written with three digits: `\1` followed
//! by the character `5` would read back as `\15`.

use std::fmt::Write as _;

/// Appends `bytes` as a double-quoted Lua string literal. Printable bytes and UTF-8
/// sequences stay as they are (so file names read naturally); control bytes and DEL are
/// escaped.
pub fn push_string(out: &mut String, bytes: &[u8]) {
    out.push('"');
    let mut rest = bytes;
    while !rest.is_empty() {
        // Runs of valid UTF-8 are copied through; other bytes are escaped one by one.
        let (valid, invalid) = match std::str::from_utf8(rest) {
            Ok(text) => (text, &rest[rest.len()..]),
            Err(e) => {
                let (good, bad) = rest.split_at(e.valid_up_to());
                // `good` is exactly the prefix `from_utf8` validated: this cannot fail.
                (std::str::from_utf8(good).unwrap_or_default(), bad)
            }
        };
        for c in valid.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                    let _ = write!(out, "\\{:03}", c as u32);
                }
                c => out.push(c),
            }
        }
        if let Some((&b, tail)) = invalid.split_first() {
            let _ = write!(out, "\\{b:03}");
            rest = tail;
        } else {
            rest = invalid;
        }
    }
    out.push('"');
}

/// `bytes` as a double-quoted Lua string literal (see [`push_string`]).
pub fn string(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    push_string(&mut out, bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every byte value, and the trap of an escape followed by a digit, read back through
    /// the embedded Lua and, where installed, Debian's `lua5.4` and `lua5.1`.
    fn samples() -> Vec<Vec<u8>> {
        let all: Vec<u8> = (0..=255u8).collect();
        vec![
            all.clone(),
            all.iter().rev().copied().collect(),
            b"\x015\x0299\x7f1".to_vec(),
            "é\"\\\n\r\tü–ok".as_bytes().to_vec(),
            b"\xff\xfe9\xc3".to_vec(),
            Vec::new(),
        ]
    }

    fn lua_program(cases: &[Vec<u8>]) -> String {
        let mut program = String::from("local t = {");
        for case in cases {
            push_string(&mut program, case);
            program.push(',');
        }
        program.push_str("}\nfor _, s in ipairs(t) do\n  local hex = {}\n  for i = 1, #s do hex[i] = string.format('%02x', s:byte(i)) end\n  io.write(table.concat(hex), '\\n')\nend\n");
        program
    }

    fn expected(cases: &[Vec<u8>]) -> String {
        cases
            .iter()
            .map(|c| c.iter().map(|b| format!("{b:02x}")).collect::<String>() + "\n")
            .collect()
    }

    #[test]
    fn round_trips_through_the_embedded_lua() {
        let cases = samples();
        let mut vm = crate::Vm::builder()
            .sandbox(crate::Sandbox::None)
            .build()
            .unwrap();
        vm.exec(&lua_program(&cases), "literal").unwrap();
        assert_eq!(vm.take_output(), expected(&cases));
    }

    #[test]
    fn round_trips_through_system_lua() {
        let cases = samples();
        let program = lua_program(&cases);
        let mut ran = Vec::new();
        for lua in ["lua5.4", "lua5.1"] {
            let Ok(out) = std::process::Command::new(lua)
                .args(["-e", &program])
                .output()
            else {
                continue;
            };
            assert!(
                out.status.success(),
                "{lua}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                expected(&cases),
                "{lua}"
            );
            ran.push(lua);
        }
        if !ran.contains(&"lua5.4") {
            assert!(
                std::env::var_os("CI").is_none(),
                "lua5.4 is not installed: CI must install it (apt-get install lua5.4)"
            );
            eprintln!("lua5.4 not installed: the round trip ran only through the embedded Lua");
        }
    }
}
