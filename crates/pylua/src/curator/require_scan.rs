//! The static half of usage analytics: the modules a project's Lua files require, found
//! without running them — `require "x"`, `require 'x'`, `require("x")`, `require [[x]]` and
//! `pcall(require, "x")` — so that `recommend` knows what code that has not run yet needs.
//!
//! A small lexer skips comments and the insides of strings, so `-- require "x"` and
//! `"require 'x'"` are not requires. Dynamic requires (`require(name)`) cannot be known and
//! are left out. The walk skips `.pylua/`, hidden directories and links, and is bounded in
//! files, depth and bytes per file.

use crate::packages::names::ModuleName;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const MAX_FILES: usize = 20_000;
const MAX_FILE_BYTES: u64 = 8 << 20;
const MAX_DEPTH: usize = 32;

/// Where a module is required.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Site {
    /// Relative to the project root.
    pub file: String,
    pub line: usize,
}

/// The modules required by the `.lua` files under `root`, each with where.
pub fn scan_project(root: &Path) -> BTreeMap<ModuleName, Vec<Site>> {
    let mut files = Vec::new();
    collect_lua_files(root, 0, &mut files);
    let mut found: BTreeMap<ModuleName, Vec<Site>> = BTreeMap::new();
    for path in files {
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let rel = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .to_string_lossy()
            .into_owned();
        for (module, line) in scan_source(&bytes) {
            found.entry(module).or_default().push(Site {
                file: rel.clone(),
                line,
            });
        }
    }
    found
}

fn collect_lua_files(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    if depth > MAX_DEPTH || out.len() >= MAX_FILES {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() && !name.starts_with('.') && name != "node_modules" {
            collect_lua_files(&entry.path(), depth + 1, out);
        } else if kind.is_file()
            && name.ends_with(".lua")
            && entry.metadata().is_ok_and(|m| m.len() <= MAX_FILE_BYTES)
            && out.len() < MAX_FILES
        {
            out.push(entry.path());
        }
    }
}

/// The modules one Lua source requires by a literal name, with their lines.
pub fn scan_source(src: &[u8]) -> Vec<(ModuleName, usize)> {
    let mut lexer = Lexer {
        src,
        pos: 0,
        line: 1,
    };
    let mut tokens: Vec<(Token, usize)> = Vec::new();
    let mut found = Vec::new();
    while let Some(token) = lexer.next() {
        tokens.push((token, lexer.line));
        // Look at the last few tokens for one of the require shapes.
        let n = tokens.len();
        let is = |i: usize, t: &Token| n > i && &tokens[n - 1 - i].0 == t;
        let name_at = |i: usize| match tokens.get(n.wrapping_sub(1 + i)) {
            Some((Token::Str(s), line)) => Some((s.clone(), *line)),
            _ => None,
        };
        let require = Token::Name(b"require".to_vec());
        let candidate =
            if is(1, &require) && !is(2, &Token::Other(b'.')) && !is(2, &Token::Other(b':')) {
                name_at(0) // require "x"
            } else if is(1, &Token::Other(b'(')) && is(2, &require) && !is(3, &Token::Other(b'.')) {
                name_at(0).filter(|_| lexer.peek_closes()) // require("x")
            } else if is(1, &Token::Other(b','))
                && is(2, &require)
                && is(3, &Token::Other(b'('))
                && is(4, &Token::Name(b"pcall".to_vec()))
            {
                name_at(0) // pcall(require, "x")
            } else {
                None
            };
        if let Some((text, line)) = candidate {
            if let Ok(module) = std::str::from_utf8(&text)
                .map_err(drop)
                .and_then(|t| ModuleName::parse(t).map_err(drop))
            {
                found.push((module, line));
            }
        }
        if tokens.len() > 8 {
            tokens.drain(..tokens.len() - 8);
        }
    }
    found
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Name(Vec<u8>),
    Str(Vec<u8>),
    Other(u8),
}

struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    line: usize,
}

impl Lexer<'_> {
    fn peek(&self, at: usize) -> Option<u8> {
        self.src.get(self.pos + at).copied()
    }

    /// Whether the next non-space character is `)`.
    fn peek_closes(&self) -> bool {
        self.src[self.pos..]
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| *b == b')')
    }

    fn next(&mut self) -> Option<Token> {
        loop {
            let b = self.peek(0)?;
            match b {
                b'\n' => {
                    self.line += 1;
                    self.pos += 1;
                }
                b' ' | b'\t' | b'\r' => self.pos += 1,
                b'-' if self.peek(1) == Some(b'-') => {
                    self.pos += 2;
                    if let Some(level) = self.long_bracket() {
                        self.long_string(level);
                    } else {
                        while self.peek(0).is_some_and(|c| c != b'\n') {
                            self.pos += 1;
                        }
                    }
                }
                b'"' | b'\'' => return Some(Token::Str(self.short_string(b))),
                b'[' => match self.long_bracket() {
                    Some(level) => return Some(Token::Str(self.long_string(level))),
                    None => {
                        self.pos += 1;
                        return Some(Token::Other(b'['));
                    }
                },
                c if c.is_ascii_alphabetic() || c == b'_' => {
                    let start = self.pos;
                    while self
                        .peek(0)
                        .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
                    {
                        self.pos += 1;
                    }
                    return Some(Token::Name(self.src[start..self.pos].to_vec()));
                }
                c => {
                    self.pos += 1;
                    return Some(Token::Other(c));
                }
            }
        }
    }

    /// At `[`: the level of a long bracket `[==[` (consumed), or `None` (nothing consumed).
    fn long_bracket(&mut self) -> Option<usize> {
        if self.peek(0) != Some(b'[') {
            return None;
        }
        let mut i = 1;
        while self.peek(i) == Some(b'=') {
            i += 1;
        }
        if self.peek(i) == Some(b'[') {
            self.pos += i + 1;
            Some(i - 1)
        } else {
            None
        }
    }

    fn long_string(&mut self, level: usize) -> Vec<u8> {
        let start = self.pos;
        while let Some(b) = self.peek(0) {
            if b == b'\n' {
                self.line += 1;
            }
            if b == b']' {
                let mut i = 1;
                while self.peek(i) == Some(b'=') {
                    i += 1;
                }
                if i - 1 == level && self.peek(i) == Some(b']') {
                    let text = self.src[start..self.pos].to_vec();
                    self.pos += i + 1;
                    return text;
                }
            }
            self.pos += 1;
        }
        // Never closed: not a string that names anything.
        Vec::new()
    }

    fn short_string(&mut self, quote: u8) -> Vec<u8> {
        self.pos += 1;
        let mut text = Vec::new();
        while let Some(b) = self.peek(0) {
            self.pos += 1;
            match b {
                b'\\' => {
                    if let Some(escaped) = self.peek(0) {
                        self.pos += 1;
                        if escaped == b'\n' {
                            self.line += 1;
                        }
                        // Escapes never make a module name valid; keep a marker that fails it.
                        text.push(b'\\');
                    }
                }
                b'\n' => {
                    self.line += 1;
                    return Vec::new();
                }
                b if b == quote => return text,
                b => text.push(b),
            }
        }
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(src: &str) -> Vec<(String, usize)> {
        scan_source(src.as_bytes())
            .into_iter()
            .map(|(m, l)| (m.to_string(), l))
            .collect()
    }

    #[test]
    fn finds_every_require_shape_and_nothing_else() {
        let src = "local a = require \"a\"\nlocal b = require('b.c')\nlocal c = require 'c'\n\
                   local ok, d = pcall(require, \"d\")\nlocal e = require [[e]]\n\
                   -- require 'commented'\n--[[ require 'long' ]]\nlocal s = \"require 'instring'\"\n\
                   local f = require(name)\nlocal g = require('g' .. x)\nlocal h = obj.require 'h'\n\
                   local i = require '../bad'\n";
        assert_eq!(
            names(src),
            [
                ("a".to_string(), 1),
                ("b.c".to_string(), 2),
                ("c".to_string(), 3),
                ("d".to_string(), 4),
                ("e".to_string(), 5)
            ]
        );
    }

    #[test]
    fn hostile_input_ends() {
        assert!(names("require '").is_empty());
        assert!(names("--[==[ never closed").is_empty());
        assert!(names("require [=[x").is_empty());
        assert!(scan_source(&[0xff, 0, b'"', 0]).is_empty());
    }

    #[test]
    fn scans_a_project_but_not_its_tree() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("main.lua"), "require 'x'").unwrap();
        std::fs::create_dir_all(dir.path().join("src/deep")).unwrap();
        std::fs::write(dir.path().join("src/deep/m.lua"), "\n\nrequire 'y'").unwrap();
        std::fs::create_dir_all(dir.path().join(".pylua/share")).unwrap();
        std::fs::write(dir.path().join(".pylua/share/z.lua"), "require 'z'").unwrap();
        let found = scan_project(dir.path());
        let keys: Vec<&str> = found.keys().map(|m| m.as_str()).collect();
        assert_eq!(keys, ["x", "y"]);
        assert_eq!(found[&ModuleName::parse("y").unwrap()][0].line, 3);
    }
}
