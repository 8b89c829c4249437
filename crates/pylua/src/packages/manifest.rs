//! LuaRocks server manifests (`manifest`, `manifest-5.1`, … `manifest-5.4`), read without Lua.
//!
//! A manifest is Lua source that assigns a few globals, the essential one being a large table
//! literal:
//!
//! ```lua
//! commands = {}
//! modules = {}
//! repository = {
//!    ["lua-cjson"] = {
//!       ["2.1.0-1"] = {
//!          { arch = "rockspec" },
//!          { arch = "src" },
//!       },
//!    },
//! }
//! ```
//!
//! [`Manifest::parse`] reads that subset of Lua — table constructors, strings in every Lua
//! form, numbers, `true`/`false`/`nil`, comments — with a byte-level lexer, so the whole
//! luarocks.org index parses in a few tens of milliseconds and nothing in a downloaded file is ever run.
//! Nesting is limited to [`MAX_DEPTH`] tables and every error names the line and column.
//!
//! Several servers are combined with [`Manifest::merge`]: the first server that lists a
//! `(package, version)` provides it, and the result remembers which one that was.
//!
//! ```
//! use pylua::packages::manifest::Manifest;
//!
//! let main = Manifest::parse(r#"repository = { luasocket = { ["3.1.0-1"] = { { arch = "src" } } } }"#).unwrap();
//! let mirror = Manifest::parse(r#"repository = { LuaSocket = { ["3.0-1"] = { { arch = "rockspec" } } } }"#).unwrap();
//! assert_eq!(main.repository["luasocket"]["3.1.0-1"], ["src"]);
//!
//! let merged = Manifest::merge([
//!     ("https://luarocks.org".to_string(), main),
//!     ("https://mirror.example".to_string(), mirror),
//! ]);
//! let sock = merged.package("LUASOCKET").unwrap();
//! assert_eq!(sock.versions.len(), 2);
//! assert_eq!(merged.server(sock.versions["3.0-1"].server), "https://mirror.example");
//! ```

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

/// How deeply tables may nest (the top-level `repository = {` counts as one level); a deeper
/// input is rejected with [`ManifestError::TooDeep`].
pub const MAX_DEPTH: usize = 64;

/// A manifest that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The text is not the Lua subset manifests are written in.
    #[error("manifest line {line}, column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    /// Valid Lua, but `repository` does not have the shape of a manifest.
    #[error("manifest line {line}, column {column}: {message}")]
    Structure {
        line: usize,
        column: usize,
        message: String,
    },
    /// Tables nested deeper than [`MAX_DEPTH`].
    #[error("manifest line {line}, column {column}: tables nested deeper than {limit} levels")]
    TooDeep {
        line: usize,
        column: usize,
        limit: usize,
    },
    /// Nothing assigns the `repository` global.
    #[error("manifest has no 'repository' table")]
    MissingRepository,
}

impl ManifestError {
    /// Line and column (both from 1, columns in characters) the error points at, if any.
    pub fn position(&self) -> Option<(usize, usize)> {
        match self {
            ManifestError::Syntax { line, column, .. }
            | ManifestError::Structure { line, column, .. }
            | ManifestError::TooDeep { line, column, .. } => Some((*line, *column)),
            ManifestError::MissingRepository => None,
        }
    }
}

/// A Lua value kept from a manifest outside the essential package → version → archs index
/// (rocks-tree manifests and old server manifests carry `modules`, `commands` and
/// `dependencies` tables). Strings that are not UTF-8 are kept with U+FFFD in place of the
/// invalid bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Nil,
    Boolean(bool),
    Integer(i64),
    Float(f64),
    String(String),
    Table(Table),
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_table(&self) -> Option<&Table> {
        match self {
            Value::Table(t) => Some(t),
            _ => None,
        }
    }
}

/// A table constructor as written: positional entries and keyed entries, each in source order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    /// `{ a, b }` entries.
    pub items: Vec<Value>,
    /// `k = v` and `[k] = v` entries (`k = v` has a string key).
    pub fields: Vec<(Value, Value)>,
}

impl Table {
    /// The value of string key `key` (the last one written, as Lua would keep).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.fields
            .iter()
            .rev()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty() && self.fields.is_empty()
    }
}

/// One rocks server's manifest.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Manifest {
    /// package name (as written) → version (`1.2.3-1`, `scm-1`) → archs (`rockspec`, `src`,
    /// `all`, `linux-x86_64`, …) in the order listed.
    pub repository: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    /// Fields of repository entries other than `arch` (`modules`, `commands`,
    /// `dependencies` in old server manifests and rocks-tree manifests): package → version →
    /// `(arch, fields)` for each entry that has any.
    pub entry_fields: BTreeMap<String, BTreeMap<String, Vec<(String, Table)>>>,
    /// The top-level `modules` table, when it is a table.
    pub modules: Option<Table>,
    /// The top-level `commands` table, when it is a table.
    pub commands: Option<Table>,
    /// The top-level `dependencies` table (rocks-tree manifests), when it is a table.
    pub dependencies: Option<Table>,
}

impl Manifest {
    /// Reads manifest text. Unknown globals are checked for syntax and ignored; a missing
    /// `repository` is an error.
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        Manifest::parse_bytes(text.as_bytes())
    }

    /// [`Manifest::parse`] on raw bytes (a download need not be UTF-8; strings that are not
    /// are kept with U+FFFD for the invalid bytes). A leading UTF-8 byte-order mark and a
    /// `#` first line are skipped, as `lua` does.
    pub fn parse_bytes(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        Parser::new(bytes).manifest()
    }

    /// The versions of `name`, found case-insensitively (ASCII, as LuaRocks lower-cases
    /// names); an exact spelling is preferred. Returns the name as written. Other spellings
    /// are found by a scan; [`MergedManifest::package`] is indexed for repeated lookups.
    pub fn find_package(&self, name: &str) -> Option<(&str, &BTreeMap<String, Vec<String>>)> {
        if let Some((k, v)) = self.repository.get_key_value(name) {
            return Some((k, v));
        }
        self.repository
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(k, v)| (k.as_str(), v))
    }

    /// The non-`arch` fields of one entry, if it has any.
    pub fn fields(&self, package: &str, version: &str, arch: &str) -> Option<&Table> {
        self.entry_fields
            .get(package)?
            .get(version)?
            .iter()
            .find(|(a, _)| a == arch)
            .map(|(_, t)| t)
    }

    /// How many `(package, version)` pairs the repository lists.
    pub fn version_count(&self) -> usize {
        self.repository.values().map(BTreeMap::len).sum()
    }

    /// Combines the manifests of several servers given in priority order: the first server
    /// listing a `(package, version)` provides it. Package names are matched without regard
    /// to ASCII case; a name that is not a valid [`super::names::PackageName`] is skipped
    /// with a warning.
    pub fn merge(manifests: impl IntoIterator<Item = (String, Manifest)>) -> MergedManifest {
        let mut merged = MergedManifest::default();
        for (server, (url, manifest)) in manifests.into_iter().enumerate() {
            merged.servers.push(url.clone());
            for (name, versions) in manifest.repository {
                // A name that is not a valid package name (`../x`, `-o`, a NUL…) is skipped
                // rather than refusing the whole manifest: one hostile or broken entry on a
                // mirror must not make every other package unavailable. It can never be
                // installed, since nothing resolves to it.
                if let Err(e) = super::names::PackageName::parse(&name) {
                    tracing::warn!("rocks server {url}: manifest entry skipped: {e}");
                    continue;
                }
                let spelled: Arc<str> = Arc::from(name.as_str());
                let package = merged
                    .packages
                    .entry(name.to_ascii_lowercase())
                    .or_insert_with(|| MergedPackage {
                        name,
                        versions: BTreeMap::new(),
                    });
                for (version, archs) in versions {
                    package.versions.entry(version).or_insert_with(|| Release {
                        name: spelled.clone(),
                        archs,
                        server,
                    });
                }
            }
        }
        merged
    }
}

/// The manifests of several servers combined (see [`Manifest::merge`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MergedManifest {
    servers: Vec<String>,
    /// ASCII-lower-cased name → package.
    packages: BTreeMap<String, MergedPackage>,
}

/// A package across servers.
#[derive(Debug, Clone, PartialEq)]
pub struct MergedPackage {
    /// The name as written by the first server listing the package.
    pub name: String,
    /// version → where it comes from (versions ordered as strings, not by LuaRocks rules).
    pub versions: BTreeMap<String, Release>,
}

/// One version of a package as one server provides it.
#[derive(Debug, Clone, PartialEq)]
pub struct Release {
    /// The package name as that server writes it (file names on the server use it).
    pub name: Arc<str>,
    /// The archs the server has (`rockspec`, `src`, `all`, `linux-x86_64`, …).
    pub archs: Vec<String>,
    /// Index of the server in the order given to [`Manifest::merge`] (0 = highest priority);
    /// [`MergedManifest::server`] gives its URL.
    pub server: usize,
}

/// One `(package, version)` of a [`MergedManifest`], from [`MergedManifest::entries`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The name as the providing server writes it.
    pub package: &'a str,
    pub version: &'a str,
    pub archs: &'a [String],
    /// URL of the providing server.
    pub server: &'a str,
    /// Its index in the priority order.
    pub server_index: usize,
}

impl MergedManifest {
    /// Server URLs in priority order.
    pub fn servers(&self) -> &[String] {
        &self.servers
    }

    /// URL of server `index` (as in [`Release::server`]).
    pub fn server(&self, index: usize) -> &str {
        &self.servers[index]
    }

    /// A package by name, without regard to ASCII case.
    pub fn package(&self, name: &str) -> Option<&MergedPackage> {
        if name.bytes().any(|b| b.is_ascii_uppercase()) {
            self.packages.get(&name.to_ascii_lowercase())
        } else {
            self.packages.get(name)
        }
    }

    /// Packages ordered by lower-cased name.
    pub fn packages(&self) -> impl Iterator<Item = &MergedPackage> + '_ {
        self.packages.values()
    }

    /// Every `(package, version, archs, server)`, packages by lower-cased name, versions as
    /// strings.
    pub fn entries(&self) -> impl Iterator<Item = Entry<'_>> + '_ {
        self.packages.values().flat_map(move |p| {
            p.versions.iter().map(move |(version, r)| Entry {
                package: &r.name,
                version,
                archs: &r.archs,
                server: &self.servers[r.server],
                server_index: r.server,
            })
        })
    }

    pub fn package_count(&self) -> usize {
        self.packages.len()
    }

    pub fn version_count(&self) -> usize {
        self.packages.values().map(|p| p.versions.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.packages.is_empty()
    }
}

// ---------------------------------------------------------------------------------------
// The parser.

/// A table key as read: bare names and strings stay borrowed when they can.
enum Key<'a> {
    Name(&'a [u8]),
    Str(Cow<'a, [u8]>),
    Other(Value),
}

impl Key<'_> {
    fn bytes(&self) -> Option<&[u8]> {
        match self {
            Key::Name(b) => Some(b),
            Key::Str(s) => Some(s),
            Key::Other(Value::String(s)) => Some(s.as_bytes()),
            Key::Other(_) => None,
        }
    }

    fn into_string(self) -> Option<String> {
        match self {
            Key::Name(b) => Some(text(Cow::Borrowed(b))),
            Key::Str(s) => Some(text(s)),
            Key::Other(Value::String(s)) => Some(s),
            Key::Other(_) => None,
        }
    }

    fn into_value(self) -> Value {
        match self {
            Key::Other(v) => v,
            k => Value::String(k.into_string().unwrap_or_default()),
        }
    }
}

/// Bytes of a Lua string as a Rust string, invalid UTF-8 replaced.
fn text(bytes: Cow<'_, [u8]>) -> String {
    match bytes {
        Cow::Borrowed(b) => match std::str::from_utf8(b) {
            Ok(s) => s.to_owned(),
            Err(_) => String::from_utf8_lossy(b).into_owned(),
        },
        Cow::Owned(v) => String::from_utf8(v)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

fn lossy(bytes: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

#[inline]
fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

#[inline]
fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Lua's whitespace (`isspace` in the C locale).
#[inline]
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn hex_value(b: u8) -> Option<u32> {
    (b as char).to_digit(16)
}

/// Appends `x` in UTF-8 as Lua's `\u{...}` does, extended to 31 bits (up to 6 bytes), so
/// surrogates and values past U+10FFFF produce bytes that are not valid UTF-8.
fn push_utf8(out: &mut Vec<u8>, x: u32) {
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
fn numeral(text: &[u8]) -> Option<Value> {
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

fn hex_numeral(body: &[u8]) -> Option<Value> {
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

struct Parser<'a> {
    src: &'a [u8],
    pos: usize,
    depth: usize,
    /// Archs of the version being read.
    archs: Vec<String>,
    /// Arch names seen so far (a handful), cloned instead of converted again.
    known_archs: Vec<String>,
}

type Res<T> = Result<T, ManifestError>;

impl<'a> Parser<'a> {
    fn new(src: &'a [u8]) -> Self {
        let mut pos = 0;
        if src.starts_with(b"\xEF\xBB\xBF") {
            pos = 3;
        }
        if src.get(pos) == Some(&b'#') {
            while pos < src.len() && src[pos] != b'\n' && src[pos] != b'\r' {
                pos += 1;
            }
        }
        Parser {
            src,
            pos,
            depth: 0,
            archs: Vec::new(),
            known_archs: Vec::new(),
        }
    }

    // -- positions and errors ------------------------------------------------------------

    fn line_col(&self, pos: usize) -> (usize, usize) {
        let src = &self.src[..pos.min(self.src.len())];
        let mut line = 1;
        let mut line_start = 0;
        let mut i = 0;
        while i < src.len() {
            let b = src[i];
            if b == b'\n' || b == b'\r' {
                // \r\n and \n\r count as one line break, as in Lua.
                if let Some(&n) = src.get(i + 1) {
                    if (n == b'\n' || n == b'\r') && n != b {
                        i += 1;
                    }
                }
                line += 1;
                line_start = i + 1;
            }
            i += 1;
        }
        let column = 1 + src[line_start.min(src.len())..]
            .iter()
            .filter(|&&b| b & 0xc0 != 0x80)
            .count();
        (line, column)
    }

    fn syntax(&self, pos: usize, message: impl Into<String>) -> ManifestError {
        let (line, column) = self.line_col(pos);
        ManifestError::Syntax {
            line,
            column,
            message: message.into(),
        }
    }

    fn structure(&self, pos: usize, message: impl Into<String>) -> ManifestError {
        let (line, column) = self.line_col(pos);
        ManifestError::Structure {
            line,
            column,
            message: message.into(),
        }
    }

    /// What is at `pos`, for "found …" in messages.
    fn describe(&self, pos: usize) -> String {
        let src = self.src;
        let Some(&b) = src.get(pos) else {
            return "end of input".to_string();
        };
        let rest = &src[pos..];
        if is_name_start(b) {
            let n = rest.iter().take_while(|&&c| is_name_char(c)).count();
            return format!("'{}'", lossy(&rest[..n.min(40)]));
        }
        if b == b'"' || b == b'\'' {
            let body = &rest[1..];
            let end = body
                .iter()
                .take(60)
                .position(|&c| c == b || c == b'\\' || c == b'\n' || c == b'\r');
            return match end {
                Some(n) if body[n] == b => {
                    format!("string {}{}{}", b as char, lossy(&body[..n]), b as char)
                }
                _ => "a string".to_string(),
            };
        }
        if b.is_ascii_digit() {
            let n = rest
                .iter()
                .take_while(|&&c| c.is_ascii_alphanumeric() || c == b'.')
                .count();
            return format!("number {}", lossy(&rest[..n.min(40)]));
        }
        if b.is_ascii_graphic() {
            return format!("'{}'", b as char);
        }
        format!("byte 0x{b:02X}")
    }

    fn expected(&self, what: &str) -> ManifestError {
        self.syntax(
            self.pos,
            format!("expected {what}, found {}", self.describe(self.pos)),
        )
    }

    fn unclosed(&self, open: usize) -> ManifestError {
        let (line, column) = self.line_col(open);
        self.syntax(
            self.pos,
            format!(
                "expected '}}' to close the table opened at line {line}, column {column}, found {}",
                self.describe(self.pos)
            ),
        )
    }

    // -- lexing --------------------------------------------------------------------------

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    /// Skips whitespace and comments.
    #[inline(always)]
    fn skip_ws(&mut self) -> Res<()> {
        let src = self.src;
        let mut i = self.pos;
        loop {
            match src.get(i) {
                Some(b' ') => {
                    i += 1;
                    // Indentation comes in runs of spaces: take them eight at a time.
                    while src.get(i..i + 8) == Some(b"        ".as_slice()) {
                        i += 8;
                    }
                }
                Some(b'\n' | b'\t' | b'\r' | 0x0b | 0x0c) => i += 1,
                Some(b'-') if src.get(i + 1) == Some(&b'-') => {
                    self.pos = i;
                    self.skip_comment()?;
                    i = self.pos;
                }
                _ => break,
            }
        }
        self.pos = i;
        Ok(())
    }

    /// At `--`: skips a long comment `--[==[ … ]==]` or the rest of the line.
    #[cold]
    fn skip_comment(&mut self) -> Res<()> {
        let start = self.pos;
        let src = self.src;
        let i = start + 2;
        if let Some(level) = self.long_bracket_level(i) {
            let body = i + level + 2;
            match self.find_long_close(body, level) {
                Some((_, after)) => {
                    self.pos = after;
                    return Ok(());
                }
                None => {
                    return Err(self.syntax(
                        start,
                        "unfinished long comment (missing its closing bracket)",
                    ))
                }
            }
        }
        let len = src[i..]
            .iter()
            .position(|&b| b == b'\n' || b == b'\r')
            .unwrap_or(src.len() - i);
        self.pos = i + len;
        Ok(())
    }

    /// If a long bracket `[`, `=`*n, `[` starts at `i`, its level n.
    fn long_bracket_level(&self, i: usize) -> Option<usize> {
        let src = self.src;
        if src.get(i) != Some(&b'[') {
            return None;
        }
        let level = src[i + 1..].iter().take_while(|&&b| b == b'=').count();
        (src.get(i + 1 + level) == Some(&b'[')).then_some(level)
    }

    /// Finds `]`, `=`*level, `]` from `from`: (start of the closing bracket, position after it).
    fn find_long_close(&self, from: usize, level: usize) -> Option<(usize, usize)> {
        let src = self.src;
        let mut i = from;
        while i < src.len() {
            let close = i + src[i..].iter().position(|&b| b == b']')?;
            let eq = src[close + 1..].iter().take_while(|&&b| b == b'=').count();
            if eq == level && src.get(close + 1 + level) == Some(&b']') {
                return Some((close, close + level + 2));
            }
            // `]==]` with the wrong count: the last `]` may start the real one.
            i = close + 1 + eq;
        }
        None
    }

    /// At `[`: reads a long string.
    fn long_string(&mut self) -> Res<Cow<'a, [u8]>> {
        let start = self.pos;
        let src = self.src;
        let Some(level) = self.long_bracket_level(start) else {
            return Err(self.syntax(start, "invalid long string delimiter"));
        };
        let mut body = start + level + 2;
        // A line break right after the opening bracket is not part of the string.
        match (src.get(body), src.get(body + 1)) {
            (Some(b'\r'), Some(b'\n')) | (Some(b'\n'), Some(b'\r')) => body += 2,
            (Some(b'\r' | b'\n'), _) => body += 1,
            _ => {}
        }
        let Some((end, after)) = self.find_long_close(body, level) else {
            return Err(self.syntax(
                start,
                "unfinished long string (missing its closing bracket)",
            ));
        };
        self.pos = after;
        let raw = &src[body..end];
        if !raw.contains(&b'\r') {
            return Ok(Cow::Borrowed(raw));
        }
        // Every line break sequence reads as "\n", as in Lua.
        let mut out = Vec::with_capacity(raw.len());
        let mut i = 0;
        while i < raw.len() {
            let b = raw[i];
            if b == b'\r' || b == b'\n' {
                if let Some(&n) = raw.get(i + 1) {
                    if (n == b'\r' || n == b'\n') && n != b {
                        i += 1;
                    }
                }
                out.push(b'\n');
            } else {
                out.push(b);
            }
            i += 1;
        }
        Ok(Cow::Owned(out))
    }

    /// At `"` or `'`: reads a quoted string, borrowing it when it has no escapes.
    #[inline]
    fn short_string(&mut self) -> Res<Cow<'a, [u8]>> {
        let src = self.src;
        let open = self.pos;
        let quote = src[open];
        let start = open + 1;
        let mut i = start;
        loop {
            match src.get(i) {
                Some(&b) if b == quote => {
                    self.pos = i + 1;
                    return Ok(Cow::Borrowed(&src[start..i]));
                }
                Some(b'\\') => break,
                Some(b'\n' | b'\r') | None => {
                    return Err(self.syntax(open, "unfinished string (missing its closing quote)"))
                }
                Some(_) => i += 1,
            }
        }
        self.escaped_string(open, i).map(Cow::Owned)
    }

    /// The rest of a quoted string opened at `open`, from its first backslash at `i`.
    fn escaped_string(&mut self, open: usize, mut i: usize) -> Res<Vec<u8>> {
        let src = self.src;
        let quote = src[open];
        let mut out = src[open + 1..i].to_vec();
        let unfinished = |p: &Self| p.syntax(open, "unfinished string (missing its closing quote)");
        loop {
            let Some(&b) = src.get(i) else {
                return Err(unfinished(self));
            };
            if b == quote {
                self.pos = i + 1;
                return Ok(out);
            }
            match b {
                b'\n' | b'\r' => return Err(unfinished(self)),
                b'\\' => {}
                _ => {
                    out.push(b);
                    i += 1;
                    continue;
                }
            }
            let esc = i;
            i += 1;
            let Some(&c) = src.get(i) else {
                return Err(unfinished(self));
            };
            i += 1;
            match c {
                b'a' => out.push(0x07),
                b'b' => out.push(0x08),
                b'f' => out.push(0x0c),
                b'n' => out.push(b'\n'),
                b'r' => out.push(b'\r'),
                b't' => out.push(b'\t'),
                b'v' => out.push(0x0b),
                b'\\' | b'"' | b'\'' => out.push(c),
                b'\n' | b'\r' => {
                    out.push(b'\n');
                    if let Some(&n) = src.get(i) {
                        if (n == b'\n' || n == b'\r') && n != c {
                            i += 1;
                        }
                    }
                }
                b'x' => {
                    let hi = src.get(i).and_then(|&d| hex_value(d));
                    let lo = src.get(i + 1).and_then(|&d| hex_value(d));
                    match (hi, lo) {
                        (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                        _ => {
                            return Err(
                                self.syntax(esc, "hexadecimal digit expected in '\\x' escape")
                            )
                        }
                    }
                    i += 2;
                }
                b'z' => {
                    while src.get(i).is_some_and(|&s| is_space(s)) {
                        i += 1;
                    }
                }
                b'0'..=b'9' => {
                    let mut v = (c - b'0') as u32;
                    for _ in 0..2 {
                        match src.get(i) {
                            Some(&d) if d.is_ascii_digit() => {
                                v = v * 10 + (d - b'0') as u32;
                                i += 1;
                            }
                            _ => break,
                        }
                    }
                    if v > 255 {
                        return Err(self.syntax(esc, "decimal escape too large (above \\255)"));
                    }
                    out.push(v as u8);
                }
                b'u' => {
                    if src.get(i) != Some(&b'{') {
                        return Err(self.syntax(esc, "missing '{' in '\\u{XXXX}' escape"));
                    }
                    i += 1;
                    let mut v: u32 = 0;
                    let mut digits = 0;
                    while let Some(d) = src.get(i).and_then(|&d| hex_value(d)) {
                        if v >= 0x0800_0000 {
                            return Err(self.syntax(esc, "UTF-8 value too large in '\\u' escape"));
                        }
                        v = v * 16 + d;
                        digits += 1;
                        i += 1;
                    }
                    if digits == 0 {
                        return Err(self.syntax(esc, "hexadecimal digit expected in '\\u' escape"));
                    }
                    if src.get(i) != Some(&b'}') {
                        return Err(self.syntax(esc, "missing '}' in '\\u{XXXX}' escape"));
                    }
                    i += 1;
                    push_utf8(&mut out, v);
                }
                _ => {
                    let shown = if c.is_ascii_graphic() {
                        format!("'\\{}'", c as char)
                    } else {
                        format!("'\\' followed by byte 0x{c:02X}")
                    };
                    return Err(
                        self.syntax(esc, format!("invalid escape sequence {shown} in string"))
                    );
                }
            }
        }
    }

    /// At a digit or `.`: reads a numeral.
    fn number(&mut self) -> Res<Value> {
        let src = self.src;
        let start = self.pos;
        let mut i = start;
        let hex = src[i] == b'0' && matches!(src.get(i + 1), Some(b'x' | b'X'));
        let expo = if hex {
            i += 2;
            b'p'
        } else {
            b'e'
        };
        while let Some(&b) = src.get(i) {
            if b | 0x20 == expo {
                i += 1;
                if matches!(src.get(i), Some(b'+' | b'-')) {
                    i += 1;
                }
            } else if is_name_char(b) || b == b'.' {
                i += 1;
            } else {
                break;
            }
        }
        self.pos = i;
        let raw = &src[start..i];
        numeral(raw).ok_or_else(|| self.syntax(start, format!("malformed number '{}'", lossy(raw))))
    }

    /// An arch string, from the few already seen when it is one of them.
    #[inline]
    fn arch_text(&mut self, s: Cow<'_, [u8]>) -> String {
        if let Some(known) = self.known_archs.iter().find(|k| k.as_bytes() == &*s) {
            return known.clone();
        }
        let arch = text(s);
        if self.known_archs.len() < 16 {
            self.known_archs.push(arch.clone());
        }
        arch
    }

    fn name(&mut self) -> &'a [u8] {
        let src = self.src;
        let start = self.pos;
        let len = src[start..]
            .iter()
            .take_while(|&&b| is_name_char(b))
            .count();
        self.pos = start + len;
        &src[start..start + len]
    }

    // -- grammar -------------------------------------------------------------------------

    fn enter(&mut self, open: usize) -> Res<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let (line, column) = self.line_col(open);
            return Err(ManifestError::TooDeep {
                line,
                column,
                limit: MAX_DEPTH,
            });
        }
        Ok(())
    }

    /// Any value (after optional whitespace).
    fn value(&mut self) -> Res<Value> {
        self.skip_ws()?;
        let Some(b) = self.peek() else {
            return Err(self.expected("a value"));
        };
        match b {
            b'{' => self.table().map(Value::Table),
            b'"' | b'\'' => self.short_string().map(|s| Value::String(text(s))),
            b'[' if matches!(self.src.get(self.pos + 1), Some(b'[' | b'=')) => {
                self.long_string().map(|s| Value::String(text(s)))
            }
            b'0'..=b'9' => self.number(),
            b'.' if self.src.get(self.pos + 1).is_some_and(u8::is_ascii_digit) => self.number(),
            b'-' => {
                let minus = self.pos;
                self.pos += 1;
                self.skip_ws()?;
                let numeric = match self.peek() {
                    Some(b'0'..=b'9') => true,
                    Some(b'.') => self.src.get(self.pos + 1).is_some_and(u8::is_ascii_digit),
                    _ => false,
                };
                if !numeric {
                    let found = self.describe(self.pos);
                    return Err(
                        self.syntax(minus, format!("expected a number after '-', found {found}"))
                    );
                }
                Ok(match self.number()? {
                    Value::Integer(i) => Value::Integer(i.wrapping_neg()),
                    Value::Float(f) => Value::Float(-f),
                    other => other,
                })
            }
            _ if is_name_start(b) => {
                let start = self.pos;
                match self.name() {
                    b"true" => Ok(Value::Boolean(true)),
                    b"false" => Ok(Value::Boolean(false)),
                    b"nil" => Ok(Value::Nil),
                    _ => {
                        self.pos = start;
                        Err(self.expected("a value"))
                    }
                }
            }
            _ => Err(self.expected("a value")),
        }
    }

    /// At the start of a table field (not `}`): reads `name =` or `[key] =` and returns the
    /// key, or returns `None` for a positional field, leaving the position at its value.
    #[inline]
    fn field_key(&mut self) -> Res<Option<Key<'a>>> {
        let src = self.src;
        let start = self.pos;
        match src[start] {
            b'[' if !matches!(src.get(start + 1), Some(b'[' | b'=')) => {
                self.pos += 1;
                self.skip_ws()?;
                let key = match self.peek() {
                    Some(b'"' | b'\'') => Key::Str(self.short_string()?),
                    _ => Key::Other(self.value()?),
                };
                self.skip_ws()?;
                if self.peek() != Some(b']') {
                    return Err(self.expected("']' after table key"));
                }
                self.pos += 1;
                self.skip_ws()?;
                if self.peek() != Some(b'=') {
                    return Err(self.expected("'=' after table key"));
                }
                self.pos += 1;
                Ok(Some(key))
            }
            b if is_name_start(b) => {
                let name = self.name();
                if matches!(name, b"true" | b"false" | b"nil") {
                    self.pos = start;
                    return Ok(None);
                }
                self.skip_ws()?;
                if self.peek() != Some(b'=') {
                    return Err(self.expected(&format!("'=' after key '{}'", lossy(name))));
                }
                self.pos += 1;
                Ok(Some(Key::Name(name)))
            }
            _ => Ok(None),
        }
    }

    /// After a field: reads `,`/`;` (returns false) or the closing `}` (returns true).
    #[inline(always)]
    fn field_end(&mut self, open: usize) -> Res<bool> {
        self.skip_ws()?;
        match self.peek() {
            Some(b',' | b';') => {
                self.pos += 1;
                Ok(false)
            }
            Some(b'}') => {
                self.pos += 1;
                self.depth -= 1;
                Ok(true)
            }
            None => Err(self.unclosed(open)),
            Some(_) => Err(self.expected("',' or '}' after table entry")),
        }
    }

    /// Before a field: skips whitespace; true if the table closes here.
    #[inline(always)]
    fn table_closes(&mut self, open: usize) -> Res<bool> {
        self.skip_ws()?;
        match self.peek() {
            Some(b'}') => {
                self.pos += 1;
                self.depth -= 1;
                Ok(true)
            }
            None => Err(self.unclosed(open)),
            Some(_) => Ok(false),
        }
    }

    /// At `{`: a table of any shape.
    fn table(&mut self) -> Res<Table> {
        let open = self.pos;
        self.enter(open)?;
        self.pos += 1;
        let mut table = Table::default();
        loop {
            if self.table_closes(open)? {
                return Ok(table);
            }
            match self.field_key()? {
                None => {
                    let v = self.value()?;
                    table.items.push(v);
                }
                Some(k) => {
                    let v = self.value()?;
                    table.fields.push((k.into_value(), v));
                }
            }
            if self.field_end(open)? {
                return Ok(table);
            }
        }
    }

    /// Skips whitespace and requires `{` (for a part of the repository).
    fn expect_table(&mut self, what: impl FnOnce() -> String) -> Res<usize> {
        self.skip_ws()?;
        if self.peek() == Some(b'{') {
            return Ok(self.pos);
        }
        let found = self.describe(self.pos);
        Err(self.structure(self.pos, format!("expected {}, found {found}", what())))
    }

    /// After `repository =`.
    fn repository(&mut self, manifest: &mut Manifest) -> Res<()> {
        let open = self.expect_table(|| "a table after 'repository ='".to_string())?;
        self.enter(open)?;
        self.pos += 1;
        manifest.entry_fields.clear();
        // Sorting once and building the map in bulk is cheaper than inserting key by key
        // (`from_iter` keeps the last of equal keys, as Lua does).
        let mut packages = Vec::new();
        loop {
            if self.table_closes(open)? {
                manifest.repository = BTreeMap::from_iter(packages);
                return Ok(());
            }
            let key_pos = self.pos;
            let name = match self.field_key()?.map(Key::into_string) {
                Some(Some(name)) => name,
                _ => {
                    let found = self.describe(key_pos);
                    return Err(self.structure(
                        key_pos,
                        format!("expected a package name as key in 'repository', found {found}"),
                    ));
                }
            };
            let mut fields = BTreeMap::new();
            let versions = self.package(&name, &mut fields)?;
            if fields.is_empty() {
                manifest.entry_fields.remove(&name);
            } else {
                manifest.entry_fields.insert(name.clone(), fields);
            }
            packages.push((name, versions));
            if self.field_end(open)? {
                manifest.repository = BTreeMap::from_iter(packages);
                return Ok(());
            }
        }
    }

    /// The versions table of package `name`.
    fn package(
        &mut self,
        name: &str,
        fields: &mut BTreeMap<String, Vec<(String, Table)>>,
    ) -> Res<BTreeMap<String, Vec<String>>> {
        let open = self.expect_table(|| format!("a table of versions for package '{name}'"))?;
        self.enter(open)?;
        self.pos += 1;
        let mut versions = Vec::new();
        loop {
            if self.table_closes(open)? {
                return Ok(BTreeMap::from_iter(versions));
            }
            let key_pos = self.pos;
            let version = match self.field_key()?.map(Key::into_string) {
                Some(Some(v)) => v,
                _ => {
                    let found = self.describe(key_pos);
                    return Err(self.structure(
                        key_pos,
                        format!("expected a version as key in package '{name}', found {found}"),
                    ));
                }
            };
            let mut extra = Vec::new();
            let archs = self.entries(name, &version, &mut extra)?;
            if extra.is_empty() {
                fields.remove(&version);
            } else {
                fields.insert(version.clone(), extra);
            }
            versions.push((version, archs));
            if self.field_end(open)? {
                return Ok(BTreeMap::from_iter(versions));
            }
        }
    }

    /// The list of `{ arch = "…" }` entries of one version.
    fn entries(
        &mut self,
        name: &str,
        version: &str,
        extra: &mut Vec<(String, Table)>,
    ) -> Res<Vec<String>> {
        let open = self.expect_table(|| format!("a table of rocks for {name} {version}"))?;
        self.enter(open)?;
        self.pos += 1;
        // Collected in a reused buffer so the result is allocated once, at its exact size.
        self.archs.clear();
        loop {
            if self.table_closes(open)? {
                return Ok(self.archs.drain(..).collect());
            }
            let entry = match self.field_key()? {
                None => true,
                // `[1] = { … }` is a list entry written with its index.
                Some(Key::Other(Value::Integer(_))) => true,
                // Anything else keyed is not part of the list; checked and ignored.
                Some(_) => {
                    self.value()?;
                    false
                }
            };
            if entry {
                let (arch, rest) = self.entry(name, version)?;
                if let Some(rest) = rest {
                    extra.push((arch.clone(), rest));
                }
                self.archs.push(arch);
            }
            if self.field_end(open)? {
                return Ok(self.archs.drain(..).collect());
            }
        }
    }

    /// One `{ arch = "src", … }` entry: its arch and its other fields if any.
    fn entry(&mut self, name: &str, version: &str) -> Res<(String, Option<Table>)> {
        let open =
            self.expect_table(|| format!("a table with an 'arch' field for {name} {version}"))?;
        self.enter(open)?;
        self.pos += 1;
        let mut arch = None;
        let mut rest = Table::default();
        loop {
            if self.table_closes(open)? {
                break;
            }
            match self.field_key()? {
                Some(k) if k.bytes() == Some(b"arch") => {
                    self.skip_ws()?;
                    let s = match self.peek() {
                        Some(b'"' | b'\'') => self.short_string()?,
                        Some(b'[') if matches!(self.src.get(self.pos + 1), Some(b'[' | b'=')) => {
                            self.long_string()?
                        }
                        _ => {
                            let found = self.describe(self.pos);
                            return Err(self.structure(
                                self.pos,
                                format!("expected a string for 'arch' of {name} {version}, found {found}"),
                            ));
                        }
                    };
                    arch = Some(self.arch_text(s));
                }
                Some(k) => {
                    let v = self.value()?;
                    rest.fields.push((k.into_value(), v));
                }
                None => {
                    let v = self.value()?;
                    rest.items.push(v);
                }
            }
            if self.field_end(open)? {
                break;
            }
        }
        let Some(arch) = arch else {
            return Err(self.structure(
                open,
                format!("entry of {name} {version} has no 'arch' field"),
            ));
        };
        Ok((arch, (!rest.is_empty()).then_some(rest)))
    }

    /// The whole file: `name = value` statements.
    fn manifest(mut self) -> Res<Manifest> {
        let mut manifest = Manifest::default();
        let mut has_repository = false;
        loop {
            self.skip_ws()?;
            let Some(b) = self.peek() else { break };
            if b == b';' {
                self.pos += 1;
                continue;
            }
            if !is_name_start(b) {
                return Err(self.expected("a global assignment such as 'repository = {'"));
            }
            let name = self.name();
            self.skip_ws()?;
            if self.peek() != Some(b'=') {
                return Err(self.expected(&format!("'=' after '{}'", lossy(name))));
            }
            self.pos += 1;
            let table = |v: Value| match v {
                Value::Table(t) => Some(t),
                _ => None,
            };
            match name {
                b"repository" => {
                    self.repository(&mut manifest)?;
                    has_repository = true;
                }
                b"modules" => manifest.modules = table(self.value()?),
                b"commands" => manifest.commands = table(self.value()?),
                b"dependencies" => manifest.dependencies = table(self.value()?),
                _ => {
                    self.value()?;
                }
            }
        }
        if !has_repository {
            return Err(ManifestError::MissingRepository);
        }
        Ok(manifest)
    }
}

// ---------------------------------------------------------------------------------------
// A synthetic manifest for benchmarks.

/// Packages in the synthetic manifest the benchmark and `examples/gen_manifest.rs` use by
/// default: about the size of the luarocks.org root manifest.
#[doc(hidden)]
pub const SYNTHETIC_PACKAGES: usize = 5_000;

/// A deterministic manifest in the luarocks.org layout with `packages` packages (about 13
/// versions each on average, a few with old-style `modules`/`commands`/`dependencies`).
#[doc(hidden)]
pub fn synthetic(packages: usize, seed: u64) -> String {
    synth::generate(packages, seed)
}

mod synth {
    use std::collections::BTreeSet;
    use std::fmt::Write as _;

    /// xorshift64* seeded through splitmix64.
    struct Rng(u64);

    impl Rng {
        fn new(seed: u64) -> Rng {
            let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            Rng((z ^ (z >> 31)) | 1)
        }

        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            self.0 = x;
            x.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        /// Uniform in 0..n (n > 0).
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        /// True with probability `percent`/100.
        fn chance(&mut self, percent: u64) -> bool {
            self.below(100) < percent
        }

        fn pick<'s>(&mut self, items: &[&'s str]) -> &'s str {
            items[self.below(items.len() as u64) as usize]
        }
    }

    const PREFIXES: &[&str] = &[
        "",
        "",
        "",
        "",
        "lua-",
        "lua-",
        "l",
        "resty-",
        "lua-resty-",
        "kong-plugin-",
        "apisix-",
        "luv-",
        "moon",
        "tl-",
        "nvim-",
        "lapis-",
        "busted-",
    ];
    const WORDS: &[&str] = &[
        "socket",
        "cjson",
        "filesystem",
        "penlight",
        "http",
        "json",
        "yaml",
        "lpeg",
        "argparse",
        "date",
        "utf8",
        "ssl",
        "redis",
        "mysql",
        "postgres",
        "template",
        "uuid",
        "base64",
        "md5",
        "sha2",
        "zlib",
        "xml",
        "csv",
        "serpent",
        "inspect",
        "log",
        "path",
        "term",
        "cqueues",
        "openssl",
        "curl",
        "websocket",
        "jwt",
        "cache",
        "lru",
        "queue",
        "promise",
        "coro",
        "sqlite3",
        "dkjson",
        "lustache",
        "etlua",
        "ansicolors",
        "luacheck",
        "stdlib",
        "class",
        "middleclass",
        "vector",
        "matrix",
        "bit32",
        "struct",
        "pack",
        "iconv",
        "posix",
        "signal",
        "timer",
        "event",
        "mqtt",
        "grpc",
        "protobuf",
        "msgpack",
        "toml",
        "ini",
        "dotenv",
        "i18n",
        "markdown",
        "html",
        "router",
        "session",
        "cookie",
        "cors",
        "auth",
        "acl",
        "rate-limit",
        "metrics",
        "tracing",
        "prometheus",
        "statsd",
        "consul",
        "etcd",
        "kafka",
        "nats",
        "amqp",
        "s3",
        "crypto",
        "hmac",
        "bcrypt",
        "argon2",
        "random",
        "fun",
        "lume",
        "moses",
        "tween",
        "compat53",
        "luassert",
        "say",
        "mediator",
        "system",
        "luafilesystem",
        "lanes",
        "effil",
    ];
    const SUFFIXES: &[&str] = &[
        "", "", "", "", "", "", "-ng", "2", "-lite", "-ffi", "x", "-utils", "-core", ".nvim",
        "-client", "-server",
    ];
    const LUA_KEYWORDS: &[&str] = &[
        "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if",
        "in", "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
    ];

    fn is_identifier(s: &str) -> bool {
        let mut bytes = s.bytes();
        matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
            && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && !LUA_KEYWORDS.contains(&s)
    }

    fn key(out: &mut String, name: &str) {
        if is_identifier(name) {
            out.push_str(name);
        } else {
            let _ = write!(out, "[\"{name}\"]");
        }
    }

    fn names(rng: &mut Rng, count: usize) -> Vec<String> {
        let mut seen = BTreeSet::new();
        while seen.len() < count {
            let mut name = String::new();
            // A few old packages have capitals in their names (LuaRocks matches them
            // case-insensitively).
            name.push_str(if rng.chance(2) {
                "Lua"
            } else {
                rng.pick(PREFIXES)
            });
            name.push_str(rng.pick(WORDS));
            if rng.chance(25) {
                name.push('-');
                name.push_str(rng.pick(WORDS));
            }
            name.push_str(rng.pick(SUFFIXES));
            if seen.contains(&name) {
                let _ = write!(name, "{}", 2 + rng.below(40));
            }
            seen.insert(name);
        }
        seen.into_iter().collect()
    }

    /// Versions of one package, oldest first.
    fn versions(rng: &mut Rng) -> Vec<String> {
        let count = match rng.below(100) {
            0..=39 => 1 + rng.below(4),
            40..=69 => 4 + rng.below(8),
            70..=89 => 12 + rng.below(18),
            _ => 30 + rng.below(40),
        };
        let mut out = Vec::with_capacity(count as usize + 1);
        let (mut major, mut minor, mut patch) = (rng.below(3), rng.below(10), rng.below(5));
        let three = rng.chance(70);
        while out.len() < count as usize {
            let revisions = if rng.chance(85) { 1 } else { 1 + rng.below(3) };
            for rev in 1..=revisions {
                let v = if three {
                    format!("{major}.{minor}.{patch}-{rev}")
                } else {
                    format!("{major}.{minor}-{rev}")
                };
                out.push(v);
            }
            match rng.below(100) {
                0..=59 => patch += 1 + rng.below(2),
                60..=89 => {
                    minor += 1;
                    patch = 0;
                }
                _ => {
                    major += 1;
                    minor = 0;
                    patch = 0;
                }
            }
            if !three && patch > 0 {
                minor += patch;
                patch = 0;
            }
        }
        out.truncate(count as usize);
        if rng.chance(15) {
            out.push(if rng.chance(80) { "scm-1" } else { "dev-1" }.to_string());
        }
        out
    }

    fn archs(rng: &mut Rng, version: &str) -> Vec<&'static str> {
        let mut archs = vec!["rockspec"];
        if version.starts_with("scm") || version.starts_with("dev") {
            return archs;
        }
        match rng.below(100) {
            0..=69 => archs.push("src"),
            70..=84 => archs.push("all"),
            85..=89 => {
                archs.push("src");
                archs.push("all");
            }
            _ => {}
        }
        if rng.chance(6) {
            archs.push(rng.pick(&[
                "linux-x86_64",
                "macosx-x86_64",
                "win32-x86",
                "macosx-aarch64",
            ]));
        }
        archs
    }

    fn old_style_fields(rng: &mut Rng, out: &mut String, name: &str, words: &[&str]) {
        let ind = "            ";
        out.push_str(",\n");
        let _ = writeln!(out, "{ind}commands = {{}},");
        let _ = write!(out, "{ind}dependencies = {{");
        let deps = rng.below(3);
        for i in 0..deps {
            out.push_str(if i == 0 { "\n" } else { ",\n" });
            let _ = write!(
                out,
                "{ind}   {} = \"{}.{}-1\"",
                rng.pick(words).replace('-', "_"),
                rng.below(3),
                rng.below(10)
            );
        }
        if deps > 0 {
            let _ = write!(out, "\n{ind}");
        }
        out.push_str("},\n");
        let _ = writeln!(out, "{ind}modules = {{");
        let base = name.replace(['-', '.'], "_");
        let modules = 1 + rng.below(4);
        for i in 0..modules {
            if i == 0 {
                let _ = write!(out, "{ind}   {base} = \"{base}.lua\"");
            } else {
                let sub = rng.pick(words).replace('-', "_");
                let _ = write!(out, ",\n{ind}   [\"{base}.{sub}\"] = \"{base}/{sub}.lua\"");
            }
        }
        let _ = write!(out, "\n{ind}}}");
    }

    pub(super) fn generate(packages: usize, seed: u64) -> String {
        let mut rng = Rng::new(seed);
        let names = names(&mut rng, packages);
        let mut out = String::with_capacity(packages * 1700);
        out.push_str("commands = {}\nmodules = {}\nrepository = {\n");
        for (p, name) in names.iter().enumerate() {
            out.push_str("   ");
            key(&mut out, name);
            out.push_str(" = {\n");
            let versions = versions(&mut rng);
            for (v, version) in versions.iter().enumerate() {
                let _ = writeln!(out, "      [\"{version}\"] = {{");
                let archs = archs(&mut rng, version);
                for (a, arch) in archs.iter().enumerate() {
                    let _ = write!(out, "         {{\n            arch = \"{arch}\"");
                    if *arch != "rockspec" && rng.chance(4) {
                        old_style_fields(&mut rng, &mut out, name, WORDS);
                    }
                    out.push_str("\n         }");
                    out.push_str(if a + 1 < archs.len() { ",\n" } else { "\n" });
                }
                out.push_str("      }");
                out.push_str(if v + 1 < versions.len() { ",\n" } else { "\n" });
            }
            out.push_str("   }");
            out.push_str(if p + 1 < names.len() { ",\n" } else { "\n" });
        }
        out.push_str("}\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Manifest {
        match Manifest::parse(text) {
            Ok(m) => m,
            Err(e) => panic!("{e}\n--- in ---\n{text}"),
        }
    }

    fn err(text: &str) -> String {
        match Manifest::parse(text) {
            Ok(m) => panic!("parsed: {m:?}\n--- from ---\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    fn err_bytes(bytes: &[u8]) -> String {
        Manifest::parse_bytes(bytes).unwrap_err().to_string()
    }

    fn archs<'m>(m: &'m Manifest, package: &str, version: &str) -> Vec<&'m str> {
        m.repository[package][version]
            .iter()
            .map(String::as_str)
            .collect()
    }

    /// The items of `modules = { … }`, for checking values.
    fn items(text: &str) -> Vec<Value> {
        let m = parse(&format!("repository = {{}}\nmodules = {{ {text} }}"));
        m.modules.expect("modules is a table").items
    }

    fn strings(text: &str) -> Vec<String> {
        items(text)
            .into_iter()
            .map(|v| match v {
                Value::String(s) => s,
                other => panic!("not a string: {other:?}"),
            })
            .collect()
    }

    /// Laid out as luarocks.org serves it.
    const SERVER: &str = r#"commands = {}
modules = {}
repository = {
   ["lua-cjson"] = {
      ["2.1.0-1"] = {
         {
            arch = "rockspec"
         },
         {
            arch = "src"
         }
      },
      ["2.1.0.10-1"] = {
         {
            arch = "rockspec"
         }
      }
   },
   luasocket = {
      ["3.0rc1-2"] = {
         {
            arch = "rockspec"
         },
         {
            arch = "src"
         },
         {
            arch = "win32-x86"
         }
      },
      ["scm-3"] = {
         {
            arch = "rockspec"
         }
      }
   },
   penlight = {
      ["1.13.1-1"] = {
         {
            arch = "all"
         },
         {
            arch = "rockspec"
         }
      }
   }
}
"#;

    #[test]
    fn reads_a_server_manifest() {
        let m = parse(SERVER);
        let mut expected: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
        let mut add = |p: &str, v: &str, a: &[&str]| {
            expected
                .entry(p.to_string())
                .or_default()
                .insert(v.to_string(), a.iter().map(|s| s.to_string()).collect());
        };
        add("lua-cjson", "2.1.0-1", &["rockspec", "src"]);
        add("lua-cjson", "2.1.0.10-1", &["rockspec"]);
        add("luasocket", "3.0rc1-2", &["rockspec", "src", "win32-x86"]);
        add("luasocket", "scm-3", &["rockspec"]);
        add("penlight", "1.13.1-1", &["all", "rockspec"]);
        assert_eq!(m.repository, expected);
        assert_eq!(m.modules, Some(Table::default()));
        assert_eq!(m.commands, Some(Table::default()));
        assert_eq!(m.dependencies, None);
        assert!(m.entry_fields.is_empty());
        assert_eq!(m.version_count(), 5);
        assert_eq!(Manifest::parse_bytes(SERVER.as_bytes()), Ok(m));
    }

    #[test]
    fn reads_the_versioned_form() {
        // manifest-5.1 / manifest-5.4: the same shape, globals in any order, compact layout.
        let text = r#"repository = {
   lpeg = {
      ["1.0.2-1"] = {
         {
            arch = "rockspec"
         },
         {
            arch = "src"
         },
         {
            arch = "linux-x86_64"
         }
      }
   },
   ["lua-resty-http"] = { ["0.17.1-0"] = { { arch = "rockspec" }, { arch = "src" } } },
}
modules = {
}
commands = {
}
"#;
        let m = parse(text);
        assert_eq!(
            archs(&m, "lpeg", "1.0.2-1"),
            ["rockspec", "src", "linux-x86_64"]
        );
        assert_eq!(archs(&m, "lua-resty-http", "0.17.1-0"), ["rockspec", "src"]);
        assert_eq!(m.repository.len(), 2);
    }

    #[test]
    fn keeps_the_fields_of_old_and_rocks_tree_manifests() {
        let text = r#"commands = {
   luacheck = {
      "luacheck/0.26.1-1"
   }
}
dependencies = {
   luacheck = {
      ["0.26.1-1"] = {
         {
            constraints = {
               {
                  op = ">=",
                  version = {
                     5, 1, string = "5.1"
                  }
               }
            },
            name = "lua"
         }
      }
   }
}
modules = {
   ["luacheck.builtin_standards"] = {
      "luacheck/0.26.1-1"
   }
}
repository = {
   luacheck = {
      ["0.26.1-1"] = {
         {
            arch = "installed",
            commands = {
               luacheck = "luacheck"
            },
            dependencies = {
               argparse = "0.7.1-1",
               luafilesystem = "1.8.0-1"
            },
            modules = {
               ["luacheck.builtin_standards"] = "luacheck/builtin_standards/init.lua"
            }
         }
      }
   }
}
"#;
        let m = parse(text);
        assert_eq!(archs(&m, "luacheck", "0.26.1-1"), ["installed"]);
        let fields = m.fields("luacheck", "0.26.1-1", "installed").unwrap();
        let deps = fields
            .get("dependencies")
            .and_then(Value::as_table)
            .unwrap();
        assert_eq!(deps.get("argparse"), Some(&Value::String("0.7.1-1".into())));
        let modules = fields.get("modules").and_then(Value::as_table).unwrap();
        assert_eq!(
            modules
                .get("luacheck.builtin_standards")
                .and_then(Value::as_str),
            Some("luacheck/builtin_standards/init.lua")
        );
        assert_eq!(m.fields("luacheck", "0.26.1-1", "src"), None);
        assert_eq!(m.fields("luacheck", "0.26.0-1", "installed"), None);

        let top = m.dependencies.as_ref().unwrap();
        let version = top.get("luacheck").and_then(Value::as_table).unwrap();
        let rocks = version.get("0.26.1-1").and_then(Value::as_table).unwrap();
        let lua = rocks.items[0].as_table().unwrap();
        assert_eq!(lua.get("name").and_then(Value::as_str), Some("lua"));
        let constraint = lua
            .get("constraints")
            .and_then(Value::as_table)
            .unwrap()
            .items[0]
            .as_table()
            .unwrap();
        let v = constraint.get("version").and_then(Value::as_table).unwrap();
        assert_eq!(v.items, [Value::Integer(5), Value::Integer(1)]);
        assert_eq!(v.get("string").and_then(Value::as_str), Some("5.1"));
        let commands = m.commands.as_ref().unwrap();
        assert_eq!(
            commands
                .get("luacheck")
                .and_then(Value::as_table)
                .unwrap()
                .items,
            [Value::String("luacheck/0.26.1-1".into())]
        );
        assert!(m
            .modules
            .as_ref()
            .unwrap()
            .get("luacheck.builtin_standards")
            .is_some());
    }

    #[test]
    fn reads_every_string_form() {
        let got = strings(
            r#""double", 'single', "it's", 'say "hi"', "",
               "a\tb\nc\\d\"e\'f", "\a\b\f\v\r", "\65\066\0677", "\x41\x6a\x6A",
               "\u{48}\u{20AC}\u{1F600}\u{0}", "a\z
                     b", "one\
two", [[long]], [==[with ]] and ]=] inside]==], [[
first line break skipped]], [=[
]=], [[]]"#,
        );
        assert_eq!(
            got,
            [
                "double",
                "single",
                "it's",
                "say \"hi\"",
                "",
                "a\tb\nc\\d\"e'f",
                "\x07\x08\x0c\x0b\r",
                "ABC7",
                "Ajj",
                "H\u{20ac}\u{1f600}\0",
                "ab",
                "one\ntwo",
                "long",
                "with ]] and ]=] inside",
                "first line break skipped",
                "",
                "",
            ]
        );
    }

    #[test]
    fn line_breaks_in_long_strings_and_escapes_read_as_newlines() {
        let m = Manifest::parse_bytes(
            b"repository = {}\nmodules = { [[a\r\nb\rc\n\rd\n\ne]], \"x\\\r\ny\" }",
        )
        .unwrap();
        assert_eq!(
            m.modules.unwrap().items,
            [
                Value::String("a\nb\nc\nd\n\ne".into()),
                Value::String("x\ny".into())
            ]
        );
    }

    #[test]
    fn skips_comments() {
        let text = "-- LuaRocks manifest\n\
            --[[ a block\n comment ]] commands = {} --[==[ with ]] and ]=] ]==]\n\
            --[ not a long comment: runs to the end of the line {{{\n\
            --[=x neither\n\
            repository = { -- packages\n\
               lpeg --[[ name ]] = --[[ value ]] { [\"1.0-1\"] = { { arch -- key\n = \"src\" } } },\n\
            }\n\
            -- no line break at the end";
        let m = parse(text);
        assert_eq!(archs(&m, "lpeg", "1.0-1"), ["src"]);
        // A comment ending the input right after its dashes.
        assert!(Manifest::parse("repository = {}--").is_ok());
        assert!(Manifest::parse("repository = {}--[[x]]").is_ok());
    }

    #[test]
    fn reads_numbers_and_literals() {
        let got = items(
            "1, -2, 3.5, 1e3, 2E-2, .5, 5., 0x10, 0XfF, 0xA.8p1, 0x1p-2, -0x10, - 7, \
             9223372036854775807, 9223372036854775808, 0xffffffffffffffff, true, false, nil",
        );
        assert_eq!(
            got,
            [
                Value::Integer(1),
                Value::Integer(-2),
                Value::Float(3.5),
                Value::Float(1000.0),
                Value::Float(0.02),
                Value::Float(0.5),
                Value::Float(5.0),
                Value::Integer(16),
                Value::Integer(255),
                Value::Float(21.0),
                Value::Float(0.25),
                Value::Integer(-16),
                Value::Integer(-7),
                Value::Integer(i64::MAX),
                Value::Float(9223372036854775808.0),
                Value::Integer(-1),
                Value::Boolean(true),
                Value::Boolean(false),
                Value::Nil,
            ]
        );
        let m = parse("repository = {}\nmodules = { [1] = 'one', [true] = 2, ['k'] = 3, k2 = {}, [ [[l]] ] = 4, [2.5] = 5 }");
        let t = m.modules.unwrap();
        assert!(t.items.is_empty());
        assert_eq!(
            t.fields,
            [
                (Value::Integer(1), Value::String("one".into())),
                (Value::Boolean(true), Value::Integer(2)),
                (Value::String("k".into()), Value::Integer(3)),
                (Value::String("k2".into()), Value::Table(Table::default())),
                (Value::String("l".into()), Value::Integer(4)),
                (Value::Float(2.5), Value::Integer(5)),
            ]
        );
        assert_eq!(t.get("k"), Some(&Value::Integer(3)));
        assert_eq!(t.get("l"), Some(&Value::Integer(4)));
    }

    #[test]
    fn accepts_either_separator_and_trailing_ones() {
        let m = parse(
            "; repository = { a = { ['1.0-1'] = { { arch = 'src' }; { arch = 'all', }; }; }; \
             b = {}, c = { ['2-1'] = {} } };;",
        );
        assert_eq!(archs(&m, "a", "1.0-1"), ["src", "all"]);
        assert!(m.repository["b"].is_empty());
        assert!(m.repository["c"]["2-1"].is_empty());
        // An entry list written with explicit indices; other keys there are ignored.
        let m = parse("repository = { a = { ['1-1'] = { [1] = { arch = 'src' }, n = 1, { arch = 'all' } } } }");
        assert_eq!(archs(&m, "a", "1-1"), ["src", "all"]);
    }

    #[test]
    fn ignores_unknown_globals() {
        let m = parse(
            "format = '3.0'\nfoo = { bar = { 1, 2, { 'x' } }, [10] = true }\n\
             repository = { a = { ['1-1'] = { { arch = 'src' } } } }\nlast = -1.5\n",
        );
        assert_eq!(archs(&m, "a", "1-1"), ["src"]);
        // ... but they must still be well-formed.
        assert_eq!(
            err("foo = { 1 2 }\nrepository = {}"),
            "manifest line 1, column 11: expected ',' or '}' after table entry, found number 2"
        );
    }

    #[test]
    fn later_assignments_win_as_in_lua() {
        let m = parse(
            "repository = { gone = {} }\nrepository = {\n a = { ['1-1'] = { { arch = 'src' } } },\n \
             b = { ['1-1'] = { { arch = 'src' } }, ['1-1'] = { { arch = 'all' } } },\n \
             a = { ['2-1'] = { { arch = 'rockspec', modules = {} } } },\n}",
        );
        assert_eq!(m.repository.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(m.repository["a"].keys().collect::<Vec<_>>(), ["2-1"]);
        assert_eq!(archs(&m, "b", "1-1"), ["all"]);
        assert!(m.fields("a", "2-1", "rockspec").is_some());
        // A later entry without extra fields drops the earlier one's.
        let m = parse(
            "repository = { a = { ['1-1'] = { { arch = 'src', modules = {} } } }, \
             a = { ['1-1'] = { { arch = 'src' } } } }",
        );
        assert!(m.entry_fields.is_empty());
        let m = parse("repository = { a = { ['1-1'] = { { arch = 'src', x = 1 } }, ['1-1'] = { { arch = 'src' } } } }");
        assert!(m.entry_fields.is_empty());
    }

    #[test]
    fn a_manifest_without_repository_is_an_error() {
        for text in [
            "",
            "commands = {}\nmodules = {}\n",
            "-- nothing\n",
            "\u{feff}",
        ] {
            assert_eq!(err(text), "manifest has no 'repository' table");
            assert_eq!(
                Manifest::parse(text).unwrap_err(),
                ManifestError::MissingRepository
            );
        }
    }

    #[test]
    fn skips_a_byte_order_mark_and_a_first_line_starting_with_hash() {
        let m = Manifest::parse_bytes(b"\xEF\xBB\xBFrepository = { a = {} }").unwrap();
        assert!(m.repository.contains_key("a"));
        let m = parse("#!/usr/bin/env lua\nrepository = { a = {} }");
        assert!(m.repository.contains_key("a"));
        assert_eq!(
            err("repository = {}\n#x"),
            "manifest line 2, column 1: expected a global assignment such as 'repository = {', found '#'"
        );
    }

    #[test]
    fn malformed_input_is_reported_with_position_and_expectation() {
        let cases: &[(&str, &str)] = &[
            (
                "repository = {\n   luasocket = {\n      [\"3.0-1\"] = {\n         { arch = \"src\" }\n      }\n   }\n   lpeg = {}\n}",
                "manifest line 7, column 4: expected ',' or '}' after table entry, found 'lpeg'",
            ),
            (
                "repository = { luasocket }",
                "manifest line 1, column 26: expected '=' after key 'luasocket', found '}'",
            ),
            (
                "repository = { [\"a\" = {} }",
                "manifest line 1, column 21: expected ']' after table key, found '='",
            ),
            (
                "repository = { [\"a\"] {} }",
                "manifest line 1, column 22: expected '=' after table key, found '{'",
            ),
            (
                "repository = \"x\"",
                "manifest line 1, column 14: expected a table after 'repository =', found string \"x\"",
            ),
            (
                "repository = { \"a\" }",
                "manifest line 1, column 16: expected a package name as key in 'repository', found string \"a\"",
            ),
            (
                "repository = { [1] = {} }",
                "manifest line 1, column 16: expected a package name as key in 'repository', found '['",
            ),
            (
                "repository = { a = 1 }",
                "manifest line 1, column 20: expected a table of versions for package 'a', found number 1",
            ),
            (
                "repository = { a = @ }",
                "manifest line 1, column 20: expected a table of versions for package 'a', found '@'",
            ),
            (
                "repository = { a = { [1] = {} } }",
                "manifest line 1, column 22: expected a version as key in package 'a', found '['",
            ),
            (
                "repository = { a = { ['1-1'] = 'src' } }",
                "manifest line 1, column 32: expected a table of rocks for a 1-1, found string 'src'",
            ),
            (
                "repository = { a = { ['1-1'] = { 'src' } } }",
                "manifest line 1, column 34: expected a table with an 'arch' field for a 1-1, found string 'src'",
            ),
            (
                "repository = { a = { ['1-1'] = { { arch = 5 } } } }",
                "manifest line 1, column 43: expected a string for 'arch' of a 1-1, found number 5",
            ),
            (
                "repository = {\n a = { ['1-1'] = {\n   { name = 'x' } } } }",
                "manifest line 3, column 4: entry of a 1-1 has no 'arch' field",
            ),
            (
                "repository = { [\"a] = {} }\n",
                "manifest line 1, column 17: unfinished string (missing its closing quote)",
            ),
            (
                "repository = { a = { ['1-1'] = { { arch = 'src\\q' } } } }",
                "manifest line 1, column 47: invalid escape sequence '\\q' in string",
            ),
            (
                "modules = { \"\\256\" }",
                "manifest line 1, column 14: decimal escape too large (above \\255)",
            ),
            (
                "modules = { \"ab\\xZZ\" }",
                "manifest line 1, column 16: hexadecimal digit expected in '\\x' escape",
            ),
            (
                "modules = { \"\\x4\" }",
                "manifest line 1, column 14: hexadecimal digit expected in '\\x' escape",
            ),
            (
                "modules = { \"\\u{80000000}\" }",
                "manifest line 1, column 14: UTF-8 value too large in '\\u' escape",
            ),
            (
                "modules = { \"\\u48\" }",
                "manifest line 1, column 14: missing '{' in '\\u{XXXX}' escape",
            ),
            (
                "modules = { \"\\u{48\" }",
                "manifest line 1, column 14: missing '}' in '\\u{XXXX}' escape",
            ),
            (
                "modules = { \"\\u{}\" }",
                "manifest line 1, column 14: hexadecimal digit expected in '\\u' escape",
            ),
            (
                "modules = { [==[ abc ]=] }",
                "manifest line 1, column 13: unfinished long string (missing its closing bracket)",
            ),
            (
                "modules = { [=x }",
                "manifest line 1, column 13: invalid long string delimiter",
            ),
            (
                "repository = {}\n--[==[ never\nclosed ]]",
                "manifest line 2, column 1: unfinished long comment (missing its closing bracket)",
            ),
            ("modules = { @ }", "manifest line 1, column 13: expected a value, found '@'"),
            ("modules = { x = y }", "manifest line 1, column 17: expected a value, found 'y'"),
            ("modules = { 1.2.3 }", "manifest line 1, column 13: malformed number '1.2.3'"),
            ("modules = { 3x }", "manifest line 1, column 13: malformed number '3x'"),
            ("modules = { 0x }", "manifest line 1, column 13: malformed number '0x'"),
            ("modules = { 1e }", "manifest line 1, column 13: malformed number '1e'"),
            (
                "modules = { - \"a\" }",
                "manifest line 1, column 13: expected a number after '-', found string \"a\"",
            ),
            ("modules = { [ }", "manifest line 1, column 15: expected a value, found '}'"),
            ("modules = ", "manifest line 1, column 11: expected a value, found end of input"),
            (
                "{}",
                "manifest line 1, column 1: expected a global assignment such as 'repository = {', found '{'",
            ),
            (
                "repository {}",
                "manifest line 1, column 12: expected '=' after 'repository', found '{'",
            ),
            ("return {}", "manifest line 1, column 8: expected '=' after 'return', found '{'"),
            (
                "repository = {}\nmodules = { 'é', \"x\" é }",
                "manifest line 2, column 22: expected ',' or '}' after table entry, found byte 0xC3",
            ),
            (
                "repository = { é = {} }",
                "manifest line 1, column 16: expected a package name as key in 'repository', found byte 0xC3",
            ),
            (
                "repository = {}\r\nmodules = {\r\n\r\n  ? }",
                "manifest line 4, column 3: expected a value, found '?'",
            ),
        ];
        for (text, message) in cases {
            assert_eq!(&err(text), message, "for {text:?}");
        }
    }

    #[test]
    fn truncated_input_is_an_error_never_a_panic() {
        let bytes = SERVER.as_bytes();
        let complete = SERVER.trim_end().len();
        for n in 0..bytes.len() {
            let result = Manifest::parse_bytes(&bytes[..n]);
            assert_eq!(
                result.is_ok(),
                n >= complete,
                "prefix of {n} bytes: {result:?}"
            );
        }
        // Cut inside the entries of "2.1.0-1" (the table opened at line 5, column 19).
        let cut = SERVER.find("arch = \"src\"").unwrap() + "arch = \"src\"".len();
        assert_eq!(
            err(&SERVER[..cut]),
            "manifest line 10, column 25: expected '}' to close the table opened at line 9, column 10, found end of input"
        );
        assert_eq!(
            err(&SERVER[..cut - 1]),
            "manifest line 10, column 20: unfinished string (missing its closing quote)"
        );
        assert_eq!(
            err("repository = { a = { ['1-1'] = { { arch = "),
            "manifest line 1, column 43: expected a string for 'arch' of a 1-1, found end of input"
        );
        assert_eq!(
            err("repository = { a"),
            "manifest line 1, column 17: expected '=' after key 'a', found end of input"
        );
    }

    fn nested(levels: usize) -> String {
        format!(
            "repository = {{}}\nmodules = {}{}",
            "{".repeat(levels),
            "}".repeat(levels)
        )
    }

    #[test]
    fn limits_nesting_depth() {
        assert!(Manifest::parse(&nested(MAX_DEPTH)).is_ok());
        assert_eq!(
            err(&nested(MAX_DEPTH + 1)),
            "manifest line 2, column 75: tables nested deeper than 64 levels"
        );
        // Far deeper input fails just as fast, without exhausting the stack.
        let e = Manifest::parse(&nested(1_000_000)).unwrap_err();
        assert_eq!(
            e,
            ManifestError::TooDeep {
                line: 2,
                column: 75,
                limit: MAX_DEPTH
            }
        );
        assert_eq!(e.position(), Some((2, 75)));
        // The repository levels count too: 4 of them, then fields of an entry.
        let deep = |n: usize| {
            format!(
                "repository = {{ a = {{ ['1-1'] = {{ {{ arch = 'src', modules = {}1{} }} }} }} }}",
                "{".repeat(n),
                "}".repeat(n)
            )
        };
        assert!(Manifest::parse(&deep(MAX_DEPTH - 4)).is_ok());
        assert!(matches!(
            Manifest::parse(&deep(MAX_DEPTH - 3)),
            Err(ManifestError::TooDeep { .. })
        ));
        // Deep keys are tables too.
        let keys = format!(
            "repository = {{}} modules = {{ {}1{} }}",
            "[{".repeat(100),
            "}] = 1".repeat(100)
        );
        assert!(matches!(
            Manifest::parse(&keys),
            Err(ManifestError::TooDeep { .. })
        ));
    }

    #[test]
    fn non_utf8_bytes_in_strings_are_replaced() {
        let m = Manifest::parse_bytes(
            b"repository = { [\"caf\xE9\"] = { [\"1.0-1\"] = { { arch = \"src\xFF\" } } } }\n\
              modules = { '\\xE9t\\xE9', \"\\u{D800}\", \"\\u{7FFFFFFF}\", [[\xC3\xA9\xC3]], \"\xC3\xA9\" }",
        )
        .unwrap();
        assert_eq!(archs(&m, "caf\u{FFFD}", "1.0-1"), ["src\u{FFFD}"]);
        let got: Vec<String> = m
            .modules
            .unwrap()
            .items
            .into_iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        assert_eq!(got[0], "\u{FFFD}t\u{FFFD}");
        assert!(got[1].chars().all(|c| c == '\u{FFFD}') && !got[1].is_empty());
        assert!(got[2].chars().all(|c| c == '\u{FFFD}') && !got[2].is_empty());
        assert_eq!(got[3], "é\u{FFFD}");
        assert_eq!(got[4], "é");
        // Outside strings such bytes are errors.
        assert_eq!(
            err_bytes(b"repository = {}\n\xFF"),
            "manifest line 2, column 1: expected a global assignment such as 'repository = {', found byte 0xFF"
        );
        // The column counts characters, so a broken one counts as one.
        assert_eq!(
            err_bytes(b"modules = { '\xE9\xE9', @ }"),
            "manifest line 1, column 19: expected a value, found '@'"
        );
    }

    #[test]
    fn extended_utf8_escapes_match_lua() {
        let mut out = Vec::new();
        for x in [
            0x7f, 0x80, 0x7ff, 0x800, 0xffff, 0x10000, 0x10ffff, 0x1fffff, 0x200000, 0x3ffffff,
            0x4000000, 0x7fffffff,
        ] {
            out.clear();
            push_utf8(&mut out, x);
            if let Some(c) = char::from_u32(x) {
                assert_eq!(out, c.to_string().as_bytes(), "{x:#x}");
            }
            // Decoding the pattern gives the value back.
            let len = out.len();
            let mut v = if len == 1 {
                out[0] as u32
            } else {
                (out[0] & (0x7f >> len)) as u32
            };
            for b in &out[1..] {
                assert_eq!(b & 0xc0, 0x80);
                v = (v << 6) | (b & 0x3f) as u32;
            }
            assert_eq!(v, x, "{x:#x} -> {out:x?}");
        }
        out.clear();
        push_utf8(&mut out, 0x7fffffff);
        assert_eq!(out, [0xfd, 0xbf, 0xbf, 0xbf, 0xbf, 0xbf]);
    }

    /// Random edits of a valid manifest: every outcome is a result, never a panic or a hang.
    #[test]
    fn mangled_input_never_panics() {
        let base = format!(
            "{SERVER}\nextra = {{ 'a\\tb', [[x]], --[==[c]==] 0x1p4, -3, {{ k = {{ true }} }} }}\n"
        );
        let alphabet: &[u8] = b"{}[]=,;\"'\\-\n\r azZ_09.xpe#\x00\xff\xc3";
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..3_000 {
            let mut bytes = base.as_bytes().to_vec();
            for _ in 0..1 + next() % 4 {
                let at = (next() % bytes.len() as u64) as usize;
                let b = alphabet[(next() % alphabet.len() as u64) as usize];
                match next() % 3 {
                    0 => bytes[at] = b,
                    1 => bytes.insert(at, b),
                    _ => {
                        bytes.remove(at);
                    }
                }
            }
            if let Err(e) = Manifest::parse_bytes(&bytes) {
                assert!(e.to_string().starts_with("manifest "), "{e}");
            }
        }
    }

    #[test]
    fn finds_packages_without_regard_to_case() {
        let m = parse("repository = { LuaSocket = { ['2.0-1'] = {} }, lpeg = { ['1-1'] = {} } }");
        assert_eq!(
            m.find_package("luasocket").map(|(n, _)| n),
            Some("LuaSocket")
        );
        assert_eq!(m.find_package("LPEG").map(|(n, _)| n), Some("lpeg"));
        assert_eq!(m.find_package("lpeg").map(|(_, v)| v.len()), Some(1));
        assert!(m.find_package("lfs").is_none());
    }

    #[test]
    fn merges_servers_in_priority_order() {
        let first = parse(
            "repository = { luasocket = { ['3.1.0-1'] = { { arch = 'rockspec' }, { arch = 'src' } } }, \
             lpeg = { ['1.1.0-1'] = { { arch = 'src' } } } }",
        );
        let second = parse(
            "repository = { LuaSocket = { ['3.1.0-1'] = { { arch = 'all' } }, ['2.0.2-6'] = { { arch = 'src' } } }, \
             Penlight = { ['1.5.4-1'] = { { arch = 'all' } } } }",
        );
        let third = parse("repository = { penlight = { ['1.5.4-1'] = { { arch = 'src' } }, ['1.14.0-1'] = { { arch = 'all' } } } }");
        let merged = Manifest::merge([
            ("https://luarocks.org".to_string(), first),
            ("https://mirror.example/rocks".to_string(), second),
            ("file:///srv/rocks".to_string(), third),
        ]);
        assert_eq!(
            merged.servers(),
            [
                "https://luarocks.org",
                "https://mirror.example/rocks",
                "file:///srv/rocks"
            ]
        );
        assert_eq!(merged.package_count(), 3);
        assert_eq!(merged.version_count(), 5);
        assert!(!merged.is_empty());

        let sock = merged.package("LUASOCKET").unwrap();
        assert_eq!(sock.name, "luasocket");
        assert_eq!(sock.versions["3.1.0-1"].archs, ["rockspec", "src"]);
        assert_eq!(sock.versions["3.1.0-1"].server, 0);
        assert_eq!(&*sock.versions["2.0.2-6"].name, "LuaSocket");
        assert_eq!(
            merged.server(sock.versions["2.0.2-6"].server),
            "https://mirror.example/rocks"
        );
        assert!(merged.package("lfs").is_none());

        let entries: Vec<(&str, &str, Vec<&str>, &str, usize)> = merged
            .entries()
            .map(|e| {
                (
                    e.package,
                    e.version,
                    e.archs.iter().map(String::as_str).collect(),
                    e.server,
                    e.server_index,
                )
            })
            .collect();
        assert_eq!(
            entries,
            [
                ("lpeg", "1.1.0-1", vec!["src"], "https://luarocks.org", 0),
                (
                    "LuaSocket",
                    "2.0.2-6",
                    vec!["src"],
                    "https://mirror.example/rocks",
                    1
                ),
                (
                    "luasocket",
                    "3.1.0-1",
                    vec!["rockspec", "src"],
                    "https://luarocks.org",
                    0
                ),
                ("penlight", "1.14.0-1", vec!["all"], "file:///srv/rocks", 2),
                (
                    "Penlight",
                    "1.5.4-1",
                    vec!["all"],
                    "https://mirror.example/rocks",
                    1
                ),
            ]
        );
        let names: Vec<&str> = merged.packages().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["lpeg", "luasocket", "Penlight"]);
        assert!(Manifest::merge(Vec::new()).is_empty());
    }

    #[test]
    fn synthetic_manifests_are_deterministic_and_parse() {
        let a = synthetic(300, 9);
        assert_eq!(a, synthetic(300, 9));
        assert_ne!(a, synthetic(300, 10));
        let m = parse(&a);
        assert_eq!(m.repository.len(), 300);
        assert!(m.version_count() > 2_000, "{}", m.version_count());
        assert!(!m.entry_fields.is_empty());
        assert!(a.contains("[\"scm-1\"]") && a.contains("arch = \"all\""));
        assert!(m.repository.keys().any(|k| k.contains('-')));
    }

    #[test]
    fn the_benchmark_manifest_has_luarocks_org_scale() {
        let text = synthetic(SYNTHETIC_PACKAGES, 1);
        let m = parse(&text);
        assert!(m.repository.len() >= 5_000);
        assert!(m.version_count() >= 50_000, "{}", m.version_count());
        assert!(
            (8_000_000..11_000_000).contains(&text.len()),
            "{}",
            text.len()
        );
        let archs: std::collections::BTreeSet<&str> = m
            .repository
            .values()
            .flat_map(|v| v.values())
            .flatten()
            .map(String::as_str)
            .collect();
        for arch in ["rockspec", "src", "all", "linux-x86_64"] {
            assert!(archs.contains(arch), "{arch}");
        }
    }
}
