//! Lua values out of a VM, once converted to JSON (`stack.rs`), rendered for people: what
//! `eval` and the REPL print, tables pretty-printed.

use serde_json::Value as Json;
use std::fmt::Write;

/// Formats a float the way Lua 5.4's `tostring` does (`%.14g`, with `.0` on integral values).
pub(crate) fn format_float(n: f64) -> String {
    if n.is_nan() {
        return if n.is_sign_negative() { "-nan" } else { "nan" }.into();
    }
    if n.is_infinite() {
        return if n > 0.0 { "inf" } else { "-inf" }.into();
    }
    let s = format_g14(n);
    if s.contains(['.', 'e', 'n', 'i']) {
        s
    } else {
        s + ".0"
    }
}

/// `%.14g` formatting.
fn format_g14(n: f64) -> String {
    if n == 0.0 {
        return if n.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let exp = n.abs().log10().floor() as i32;
    if !(-4..14).contains(&exp) {
        let s = format!("{:.13e}", n);
        // Rust prints `1.2340000000000e5`; C prints `1.234e+05`.
        let (mantissa, e) = s.split_once('e').unwrap_or((&s, "0"));
        let mantissa = trim_zeros(mantissa);
        let e: i32 = e.parse().unwrap_or(0);
        format!("{mantissa}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
    } else {
        let decimals = (13 - exp).max(0) as usize;
        trim_zeros(&format!("{:.*}", decimals, n)).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// Renders one JSON-converted value as a person reads Lua values: strings bare at the top
/// level, numbers as Lua prints them, tables pretty-printed over several lines.
pub fn render_value(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        other => {
            let mut out = String::new();
            render_nested(other, 0, &mut out);
            out
        }
    }
}

/// Renders several returned values the way Lua's `print` separates them (tabs).
pub fn render_values(values: &[Json]) -> String {
    values
        .iter()
        .map(render_value)
        .collect::<Vec<_>>()
        .join("\t")
}

fn render_nested(value: &Json, indent: usize, out: &mut String) {
    match value {
        Json::Null => out.push_str("nil"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) if !n.is_f64() => write!(out, "{i}").unwrap(),
            (_, Some(f)) => out.push_str(&format_float(f)),
            _ => write!(out, "{n}").unwrap(),
        },
        Json::String(s) => write!(out, "{s:?}").unwrap(),
        Json::Array(items) if items.is_empty() => out.push_str("{}"),
        Json::Object(map) if map.is_empty() => out.push_str("{}"),
        Json::Array(items) => {
            let inline: Vec<String> = items
                .iter()
                .filter(|v| is_scalar(v))
                .map(|v| {
                    let mut s = String::new();
                    render_nested(v, 0, &mut s);
                    s
                })
                .collect();
            if inline.len() == items.len() && inline.iter().map(|s| s.len() + 2).sum::<usize>() < 72
            {
                write!(out, "{{ {} }}", inline.join(", ")).unwrap();
                return;
            }
            out.push_str("{\n");
            for item in items {
                out.push_str(&"  ".repeat(indent + 1));
                render_nested(item, indent + 1, out);
                out.push_str(",\n");
            }
            out.push_str(&"  ".repeat(indent));
            out.push('}');
        }
        Json::Object(map) => {
            // A Lua table with both a sequence and named keys arrives with its positions as
            // "1".."n": show them as positions again, before the named keys.
            let mut n = 0;
            while map.contains_key(&(n + 1).to_string()) {
                n += 1;
            }
            out.push_str("{\n");
            for i in 1..=n {
                out.push_str(&"  ".repeat(indent + 1));
                render_nested(&map[&i.to_string()], indent + 1, out);
                out.push_str(",\n");
            }
            for (k, v) in map {
                if k.parse::<usize>().is_ok_and(|i| (1..=n).contains(&i)) {
                    continue;
                }
                out.push_str(&"  ".repeat(indent + 1));
                if is_identifier(k) {
                    out.push_str(k);
                } else {
                    write!(out, "[{k:?}]").unwrap();
                }
                out.push_str(" = ");
                render_nested(v, indent + 1, out);
                out.push_str(",\n");
            }
            out.push_str(&"  ".repeat(indent));
            out.push('}');
        }
    }
}

fn is_scalar(v: &Json) -> bool {
    !matches!(v, Json::Array(_) | Json::Object(_))
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn floats_print_like_lua() {
        assert_eq!(format_float(2.0), "2.0");
        assert_eq!(format_float(0.1), "0.1");
        assert_eq!(format_float(1e100), "1e+100");
        assert_eq!(format_float(1.5e-7), "1.5e-07");
        assert_eq!(format_float(123456.789), "123456.789");
        assert_eq!(format_float(f64::INFINITY), "inf");
        assert_eq!(format_float(1.0 / 3.0), "0.33333333333333");
    }

    #[test]
    fn renders_tables() {
        assert_eq!(render_value(&json!([1, 2, "x"])), "{ 1, 2, \"x\" }");
        assert_eq!(render_value(&json!("plain")), "plain");
        assert_eq!(
            render_value(&json!({"a": 1, "b c": [true]})),
            "{\n  a = 1,\n  [\"b c\"] = { true },\n}"
        );
        assert_eq!(render_values(&[json!(1), json!(null)]), "1\tnil");
        assert_eq!(
            render_value(&json!({"1": "a", "2": "b", "n": 2})),
            "{\n  \"a\",\n  \"b\",\n  n = 2,\n}"
        );
    }
}
