//! Validated names and paths that come from outside: package names, Lua module names and
//! paths relative to a package's sources or its staging directory.
//!
//! Rocks servers, rockspecs, rock archives, lockfiles, export files, `pylua.toml`,
//! `config.toml` and command lines are all attacker-controlled. Each string that will end up
//! in a file system path is parsed into one of these types where it enters, so code further
//! in can join it onto a directory without checking again: a [`PackageName`] is one harmless
//! path component, a [`ModuleName`] maps to a relative path (`a.b` → `a/b`) and a
//! [`RelativePath`] never climbs out of the directory it is joined onto.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Longest accepted package name. The longest names on luarocks.org are around 50 bytes.
pub const MAX_PACKAGE_NAME: usize = 128;
/// Longest accepted module name (a dotted path such as `luassert.formatters.init`).
pub const MAX_MODULE_NAME: usize = 256;
/// Longest accepted relative path, in bytes (Linux's `PATH_MAX` is 4096).
pub const MAX_RELATIVE_PATH: usize = 1024;

/// Why a name or path was refused. The message quotes the value (escaped, shortened) and says
/// what is wrong with it; callers prefix the file and field it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} {}: {reason}", self.what, quote(&self.value))]
pub struct NameError {
    /// `package name`, `module name` or `path`.
    pub what: &'static str,
    pub value: String,
    pub reason: String,
}

impl NameError {
    fn new(what: &'static str, value: &str, reason: impl Into<String>) -> NameError {
        NameError {
            what,
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}

/// `value` in quotes, with control characters escaped and at most 60 characters shown, so a
/// hostile value cannot hide or flood the message.
pub fn quote(value: &str) -> String {
    let shown: String = value.chars().take(60).collect();
    let mut out = format!("{shown:?}");
    if shown.len() < value.len() {
        out.push('…');
    }
    out
}

/// A package name as LuaRocks spells them (`LuaSocket`, `lua-cjson`, `lua_cliargs`, `30log`,
/// `telescope.nvim`): ASCII letters, digits, `-`, `_`, `.` and `+`, starting with a letter,
/// a digit or `_`, at most [`MAX_PACKAGE_NAME`] bytes. It is always one path component: no
/// `/`, `\`, NUL, whitespace, and never `.` or `..` nor an option-looking `-x`. Case is kept
/// as written; the callers that compare names lower-case them, as LuaRocks does.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct PackageName(String);

impl PackageName {
    pub fn parse(text: &str) -> Result<PackageName, NameError> {
        Self::check(text)?;
        Ok(PackageName(text.to_string()))
    }

    /// Whether `text` is a valid name, without making one (the rules of [`PackageName`]).
    pub fn check(text: &str) -> Result<(), NameError> {
        let bad = |reason: &str| Err(NameError::new("package name", text, reason));
        if text.is_empty() {
            return bad("it is empty");
        }
        // At most one character past the longest name is read: a long text is refused by
        // its length, unless what makes it wrong comes first (`../`, the clearer message).
        if let Some(c) = text
            .chars()
            .take(MAX_PACKAGE_NAME + 1)
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+')))
        {
            return Err(NameError::new(
                "package name",
                text,
                match c {
                    '/' | '\\' => {
                        "a package name cannot hold '/' or '\\' (it names a directory in the tree)"
                            .to_string()
                    }
                    c if c.is_whitespace() || c.is_control() => {
                        "a package name cannot hold whitespace or control characters".to_string()
                    }
                    c => format!(
                        "'{}' is not allowed (use letters, digits, '-', '_', '.' and '+')",
                        c.escape_debug()
                    ),
                },
            ));
        }
        if !text.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
            return bad("it must start with a letter, a digit or '_'");
        }
        if text.len() > MAX_PACKAGE_NAME {
            return Err(NameError::new(
                "package name",
                text,
                format!("it is longer than {MAX_PACKAGE_NAME} bytes"),
            ));
        }
        Ok(())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name lower-cased (ASCII), as LuaRocks compares names. Still a valid name.
    pub fn to_lowercase(&self) -> PackageName {
        PackageName(self.0.to_ascii_lowercase())
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// A Lua module name as rockspecs write them (`socket.core`, `pl.compat`, `cjson.safe`,
/// `luassert.formatters.init`): dot-separated segments of ASCII letters, digits, `_` and
/// `-`, none empty and none starting with `-`. It maps to a relative path by turning dots into
/// `/`, which therefore never climbs out or becomes absolute.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ModuleName(String);

impl ModuleName {
    pub fn parse(text: &str) -> Result<ModuleName, NameError> {
        Self::check(text)?;
        Ok(ModuleName(text.to_string()))
    }

    /// Whether `text` is a valid module name, without making one (the rules of
    /// [`ModuleName`]).
    pub fn check(text: &str) -> Result<(), NameError> {
        let bad = |reason: String| Err(NameError::new("module name", text, reason));
        if text.is_empty() {
            return bad("it is empty".into());
        }
        if text.len() > MAX_MODULE_NAME {
            return bad(format!("it is longer than {MAX_MODULE_NAME} bytes"));
        }
        for segment in text.split('.') {
            if segment.is_empty() {
                return bad(
                    "it has an empty segment (a module name is like 'a.b.c', no '..' and no leading or trailing '.')"
                        .into(),
                );
            }
            if let Some(c) = segment
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-')))
            {
                return bad(match c {
                    '/' | '\\' => "a module name cannot hold '/' or '\\' (write 'a.b', not 'a/b')".into(),
                    c => format!(
                        "'{}' is not allowed (use letters, digits, '_' and '-', with '.' between parts)",
                        c.escape_debug()
                    ),
                });
            }
            if segment.starts_with('-') {
                return bad("a part of a module name cannot start with '-'".into());
            }
        }
        Ok(())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The relative path the name maps to, without extension (`a.b.c` → `a/b/c`).
    pub fn to_path(&self) -> String {
        self.0.replace('.', "/")
    }
}

/// A path relative to a directory it must stay inside (a package's sources, its staging
/// directory, an archive's root): not empty, not absolute, no `..` component, no NUL or other
/// control character, no `\` and no Windows drive (`C:`). Stored normalised: `a/./b` and
/// `a//b/` become `a/b`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct RelativePath(String);

impl RelativePath {
    pub fn parse(text: &str) -> Result<RelativePath, NameError> {
        let bad = |reason: String| Err(NameError::new("path", text, reason));
        if text.len() > MAX_RELATIVE_PATH {
            return bad(format!("it is longer than {MAX_RELATIVE_PATH} bytes"));
        }
        if text.starts_with('/') {
            return bad("a path must be relative to the package (it starts with '/')".into());
        }
        if text.contains('\\') {
            return bad("'\\' is not allowed in a path (use '/')".into());
        }
        if text.chars().any(char::is_control) {
            return bad("a path cannot hold NUL or other control characters".into());
        }
        let bytes = text.as_bytes();
        if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
            return bad("a path must be relative to the package (it starts with a drive)".into());
        }
        let mut parts = Vec::new();
        for part in text.split('/') {
            match part {
                "" | "." => {}
                ".." => return bad("a path must stay inside the package (no \"..\")".into()),
                p => parts.push(p),
            }
        }
        if parts.is_empty() {
            return bad("it names no file or directory".into());
        }
        Ok(RelativePath(parts.join("/")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The last component (`src/a.lua` → `a.lua`); never empty, `.` or `..`.
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }
}

macro_rules! string_type {
    ($t:ident) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl FromStr for $t {
            type Err = NameError;
            fn from_str(s: &str) -> Result<$t, NameError> {
                $t::parse(s)
            }
        }
        impl TryFrom<&str> for $t {
            type Error = NameError;
            fn try_from(s: &str) -> Result<$t, NameError> {
                $t::parse(s)
            }
        }
        impl TryFrom<String> for $t {
            type Error = NameError;
            fn try_from(s: String) -> Result<$t, NameError> {
                $t::parse(&s)
            }
        }
        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl AsRef<std::path::Path> for $t {
            fn as_ref(&self) -> &std::path::Path {
                std::path::Path::new(&self.0)
            }
        }
        impl std::borrow::Borrow<str> for $t {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
        impl std::ops::Deref for $t {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }
        impl PartialEq<str> for $t {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }
        impl PartialEq<&str> for $t {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
        impl PartialEq<String> for $t {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<$t, D::Error> {
                let text = String::deserialize(d)?;
                $t::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

string_type!(PackageName);
string_type!(ModuleName);
string_type!(RelativePath);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_package_names_are_accepted() {
        for name in [
            "LuaSocket",
            "lua-cjson",
            "lua_cliargs",
            "penlight",
            "30log",
            "lua-resty-http",
            "luaossl",
            "LPeg",
            "telescope.nvim",
            "lua-utf8",
            "_private",
        ] {
            assert_eq!(PackageName::parse(name).unwrap().as_str(), name);
        }
    }

    #[test]
    fn hostile_package_names_are_refused() {
        for (name, why) in [
            ("", "empty"),
            (".", "must start"),
            ("..", "must start"),
            ("-x", "must start"),
            ("--upload-pack=x", "not allowed"),
            ("--x", "must start"),
            ("a/b", "'/'"),
            ("../../../../tmp/escaped", "'/'"),
            ("a\\b", "'/' or '\\'"),
            ("a\0b", "control"),
            ("a b", "whitespace"),
            ("a\nb", "whitespace"),
            ("abcé", "'é' is not allowed"),
            ("a'b", "is not allowed"),
        ] {
            let e = PackageName::parse(name).unwrap_err().to_string();
            assert!(e.contains(why), "{name:?}: {e}");
            assert!(e.starts_with("package name "), "{e}");
        }
        let long = "a".repeat(MAX_PACKAGE_NAME + 1);
        assert!(PackageName::parse(&long)
            .unwrap_err()
            .to_string()
            .contains("longer than 128"));
        assert!(PackageName::parse(&"a".repeat(MAX_PACKAGE_NAME)).is_ok());
    }

    #[test]
    fn real_module_names_are_accepted() {
        for name in [
            "luassert.formatters.init",
            "pl.compat",
            "cjson.safe",
            "socket.core",
            "lpeg",
            "_openssl",
            "resty.http_headers",
            "lua-utf8",
            "a.init",
        ] {
            let m = ModuleName::parse(name).unwrap();
            assert_eq!(m.as_str(), name);
        }
        assert_eq!(
            ModuleName::parse("a.b.c").unwrap().to_path(),
            "a/b/c".to_string()
        );
    }

    #[test]
    fn hostile_module_names_are_refused() {
        for (name, why) in [
            ("", "empty"),
            ("..", "empty segment"),
            ("a..b", "empty segment"),
            (".a", "empty segment"),
            ("a.", "empty segment"),
            ("a/b", "'/'"),
            ("../../x", "empty segment"),
            ("a\\b", "'/' or '\\'"),
            ("a\0", "is not allowed"),
            ("a.-b", "cannot start with '-'"),
            ("a b", "is not allowed"),
        ] {
            let e = ModuleName::parse(name).unwrap_err().to_string();
            assert!(e.contains(why), "{name:?}: {e}");
        }
    }

    #[test]
    fn relative_paths_are_normalised_and_stay_inside() {
        for (text, normal) in [
            ("src/a.lua", "src/a.lua"),
            ("a/./b", "a/b"),
            ("./a//b/", "a/b"),
            ("docs", "docs"),
            ("..a/b..", "..a/b.."),
            ("$(LUADIR)/x", "$(LUADIR)/x"),
        ] {
            assert_eq!(RelativePath::parse(text).unwrap().as_str(), normal);
        }
        assert_eq!(
            RelativePath::parse("src/a.lua").unwrap().file_name(),
            "a.lua"
        );
        for (text, why) in [
            ("", "names no file"),
            (".", "names no file"),
            ("./", "names no file"),
            ("..", "no \"..\""),
            ("../x", "no \"..\""),
            ("a/../../x", "no \"..\""),
            ("a/..", "no \"..\""),
            ("/etc", "starts with '/'"),
            ("//etc", "starts with '/'"),
            ("C:x", "drive"),
            ("c:/x", "drive"),
            ("a\\..\\x", "'\\'"),
            ("a\0b", "control"),
            ("a\nb", "control"),
        ] {
            let e = RelativePath::parse(text).unwrap_err().to_string();
            assert!(e.contains(why), "{text:?}: {e}");
        }
    }

    #[test]
    fn errors_quote_hostile_values_shortly() {
        let e = PackageName::parse(&format!("a\u{1b}[2J{}", "x".repeat(500)))
            .unwrap_err()
            .to_string();
        assert!(e.contains("\\u{1b}"), "{e}");
        assert!(e.len() < 200, "{e}");
    }

    #[test]
    fn serde_checks_on_the_way_in() {
        #[derive(Deserialize, Serialize)]
        struct T {
            name: PackageName,
        }
        let t: T = toml::from_str("name = \"lua-cjson\"").unwrap();
        assert_eq!(toml::to_string(&t).unwrap().trim(), "name = \"lua-cjson\"");
        let e = toml::from_str::<T>("name = \"../x\"")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("package name \"../x\""), "{e}");
    }
}
