//! Lua values out of a VM: conversion to JSON (for the API and `--json`) and rendering for
//! people (what `eval` and the REPL print, tables pretty-printed).

use mlua::{Lua, Value};
use serde_json::{Map, Number, Value as Json};
use std::collections::HashSet;
use std::fmt::Write;

/// Tables nested deeper than this are cut off (cycles are detected separately).
const MAX_DEPTH: usize = 64;

/// A value shared many times is copied each time into JSON, so `t = {t, t}` forty times over
/// would be 2^40 nodes: conversion stops after this many values or this much text, and what
/// is left becomes a `"<truncated>"` marker.
const MAX_NODES: usize = 1_000_000;
const MAX_TEXT: usize = 64 << 20;

struct Budget {
    nodes: usize,
    text: usize,
}

/// Converts a Lua value to JSON.
///
/// Rules: `nil` → `null`; integers and floats keep their type (`2` vs `2.0`); strings that are
/// not UTF-8 are converted lossily; a table whose keys are exactly `1..n` becomes an array,
/// any other table an object with string keys (numbers formatted as Lua does); the empty table
/// is `{}`; NaN and infinities become the strings Lua prints (`nan`, `inf`, `-inf`);
/// functions, threads and userdata become descriptive strings such as `"<function>"`; a cycle
/// becomes `"<cycle>"`.
pub(crate) fn to_json(value: &Value) -> Json {
    let mut seen = HashSet::new();
    let mut budget = Budget {
        nodes: MAX_NODES,
        text: MAX_TEXT,
    };
    to_json_inner(value, &mut seen, 0, &mut budget)
}

fn to_json_inner(
    value: &Value,
    seen: &mut HashSet<usize>,
    depth: usize,
    budget: &mut Budget,
) -> Json {
    if budget.nodes == 0 {
        return Json::String("<truncated>".into());
    }
    budget.nodes -= 1;
    match value {
        Value::Nil => Json::Null,
        Value::Boolean(b) => Json::Bool(*b),
        Value::Integer(i) => Json::Number((*i).into()),
        Value::Number(n) => match Number::from_f64(*n) {
            Some(num) => Json::Number(num),
            None => Json::String(format_float(*n)),
        },
        Value::String(s) => {
            let bytes = s.as_bytes();
            if bytes.len() > budget.text {
                budget.text = 0;
                return Json::String("<truncated>".into());
            }
            budget.text -= bytes.len();
            Json::String(String::from_utf8_lossy(&bytes).into_owned())
        }
        Value::Table(t) => {
            let id = t.to_pointer() as usize;
            if depth >= MAX_DEPTH || !seen.insert(id) {
                return Json::String("<cycle>".into());
            }
            let mut entries: Vec<(Value, Value)> =
                t.clone().pairs().filter_map(Result::ok).collect();
            let len = entries.len();
            let is_array = len > 0
                && entries.iter().all(
                    |(k, _)| matches!(k, Value::Integer(i) if *i >= 1 && (*i as usize) <= len),
                );
            let out = if is_array {
                entries.sort_by_key(|(k, _)| k.as_integer().unwrap_or(0));
                Json::Array(
                    entries
                        .iter()
                        .map(|(_, v)| to_json_inner(v, seen, depth + 1, budget))
                        .collect(),
                )
            } else {
                let mut map = Map::new();
                for (k, v) in &entries {
                    map.insert(key_string(k), to_json_inner(v, seen, depth + 1, budget));
                }
                Json::Object(map)
            };
            seen.remove(&id);
            out
        }
        other => Json::String(format!("<{}>", other.type_name())),
    }
}

fn key_string(key: &Value) -> String {
    match key {
        Value::String(s) => s.to_string_lossy().to_string(),
        Value::Integer(i) => i.to_string(),
        Value::Number(n) => format_float(*n),
        Value::Boolean(b) => b.to_string(),
        other => format!("<{}>", other.type_name()),
    }
}

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

/// Converts JSON to a Lua value in `lua` (`null` becomes `nil`, arrays become sequences).
pub(crate) fn from_json(lua: &Lua, json: &Json) -> mlua::Result<Value> {
    Ok(match json {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Boolean(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Integer(i),
            None => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => Value::String(lua.create_string(s)?),
        Json::Array(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                t.raw_set(i + 1, from_json(lua, item)?)?;
            }
            Value::Table(t)
        }
        Json::Object(map) => {
            let t = lua.create_table_with_capacity(0, map.len())?;
            for (k, v) in map {
                t.raw_set(k.as_str(), from_json(lua, v)?)?;
            }
            Value::Table(t)
        }
    })
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
