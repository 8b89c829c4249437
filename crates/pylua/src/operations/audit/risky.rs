//! Installed code that reaches past plain computation: the shell (`os.execute`, `io.popen`),
//! code loading from strings that are not constants (`load`, `loadstring`, `dofile`,
//! `loadfile`), the debug library, native code (`package.loadlib`, LuaJIT's `ffi`, C
//! modules). A line scan, not a parser: it skips comments and names what it saw, as
//! information — a package may need these — unless a category is denied.

use crate::packages::tree::{InstalledRock, Tree};
use serde::Serialize;
use std::collections::BTreeMap;

/// What a finding reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Shell,
    Load,
    Debug,
    Native,
}

impl Category {
    pub const ALL: [Category; 4] = [
        Category::Shell,
        Category::Load,
        Category::Debug,
        Category::Native,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Shell => "shell",
            Category::Load => "load",
            Category::Debug => "debug",
            Category::Native => "native",
        }
    }
}

impl std::str::FromStr for Category {
    type Err = String;
    fn from_str(s: &str) -> Result<Category, String> {
        Category::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("unknown category '{s}': expected shell, load, debug or native"))
    }
}

/// One place in installed code.
#[derive(Debug, Clone, Serialize)]
pub struct RiskyCode {
    pub package: String,
    pub category: Category,
    /// Relative to the tree.
    pub file: String,
    /// 0 for a whole file (a C module).
    pub line: usize,
    pub code: String,
}

/// The largest file scanned (bigger ones are reported as not scanned).
const MAX_SCAN: u64 = 8 << 20;

pub fn scan(tree: &Tree, installed: &BTreeMap<String, InstalledRock>) -> Vec<RiskyCode> {
    let mut out = Vec::new();
    for rock in installed.values() {
        let mut files: Vec<(std::path::PathBuf, bool)> = Vec::new();
        for rel in rock.modules.values() {
            if rel.ends_with(".lua") {
                files.push((tree.lua_dir().join(rel), true));
            } else {
                files.push((tree.lib_dir().join(rel), false));
            }
        }
        for command in rock.commands.keys() {
            if let Ok(Some(script)) = tree.command_script(command) {
                files.push((script, true));
            }
        }
        for (path, is_lua) in files {
            let shown = path
                .strip_prefix(tree.root())
                .unwrap_or(&path)
                .display()
                .to_string();
            if !is_lua {
                out.push(RiskyCode {
                    package: rock.name.clone(),
                    category: Category::Native,
                    file: shown,
                    line: 0,
                    code: "a C module: native code runs outside every sandbox".into(),
                });
                continue;
            }
            if std::fs::metadata(&path).map_or(true, |m| m.len() > MAX_SCAN) {
                continue;
            }
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            let text = String::from_utf8_lossy(&bytes);
            for (i, line) in code_lines(&text) {
                for category in categorize(line) {
                    out.push(RiskyCode {
                        package: rock.name.clone(),
                        category,
                        file: shown.clone(),
                        line: i + 1,
                        code: line.trim().chars().take(120).collect(),
                    });
                }
            }
        }
    }
    out
}

/// Lines with comments removed (`--` to the end of the line outside a string, and
/// `--[[ … ]]` blocks), numbered from 0.
fn code_lines(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut in_block = false;
    for (i, line) in text.lines().enumerate() {
        if in_block {
            if line.contains("]]") {
                in_block = false;
            }
            continue;
        }
        let code = strip_comment(line);
        if line[code.len()..].starts_with("--[[") || line[code.len()..].starts_with("--[=") {
            in_block = !line[code.len()..].contains("]]");
        }
        if !code.trim().is_empty() {
            out.push((i, code));
        }
    }
    out
}

/// The part of `line` before a `--` that is not inside a quoted string.
fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(_) if b == b'\\' => i += 1,
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if b == b'-' && bytes.get(i + 1) == Some(&b'-') => return &line[..i],
            None => {}
        }
        i += 1;
    }
    line
}

fn categorize(line: &str) -> Vec<Category> {
    let mut found = Vec::new();
    if line.contains("os.execute") || line.contains("io.popen") {
        found.push(Category::Shell);
    }
    if ["load", "loadstring", "dofile", "loadfile"]
        .iter()
        .any(|f| calls_with_non_constant(line, f))
    {
        found.push(Category::Load);
    }
    if line.contains("debug.") && !line.contains("debug.traceback") {
        found.push(Category::Debug);
    }
    if line.contains("package.loadlib")
        || line.contains("require(\"ffi\")")
        || line.contains("require('ffi')")
        || line.contains("require \"ffi\"")
        || line.contains("require 'ffi'")
    {
        found.push(Category::Native);
    }
    found
}

/// Whether `line` calls the global function `name` with something other than a string
/// literal as its first argument.
fn calls_with_non_constant(line: &str, name: &str) -> bool {
    let bytes = line.as_bytes();
    let mut from = 0;
    while let Some(at) = line[from..].find(name) {
        let start = from + at;
        let end = start + name.len();
        from = end;
        let before_ok = start == 0
            || !(bytes[start - 1].is_ascii_alphanumeric()
                || bytes[start - 1] == b'_'
                || bytes[start - 1] == b'.'
                || bytes[start - 1] == b':');
        if !before_ok {
            continue;
        }
        let rest = line[end..].trim_start();
        let Some(args) = rest.strip_prefix('(') else {
            continue;
        };
        let arg = args.trim_start();
        let constant = arg.starts_with('"') || arg.starts_with('\'') || arg.starts_with("[[");
        if !constant {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_categorized_and_comments_and_constants_skipped() {
        assert_eq!(categorize("os.execute('ls')"), [Category::Shell]);
        assert_eq!(categorize("local f = io.popen(cmd)"), [Category::Shell]);
        assert_eq!(categorize("local f = load(code)"), [Category::Load]);
        assert!(categorize("local f = load('return 1')").is_empty());
        assert!(categorize("x:load(y)").is_empty());
        assert_eq!(categorize("debug.sethook(f, 'c')"), [Category::Debug]);
        assert!(categorize("print(debug.traceback())").is_empty());
        assert_eq!(categorize("local ffi = require 'ffi'"), [Category::Native]);
        assert_eq!(strip_comment("x = 1 -- os.execute"), "x = 1 ");
        assert_eq!(
            strip_comment("s = '--' .. os.execute"),
            "s = '--' .. os.execute"
        );
        let lines = code_lines("a()\n--[[\nos.execute()\n]]\nb()\n");
        assert_eq!(lines.iter().map(|l| l.0).collect::<Vec<_>>(), [0, 4]);
    }
}
