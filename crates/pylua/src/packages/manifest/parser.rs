//! The manifest parser: a byte-level lexer and recursive reader for the subset of Lua that
//! manifests use (table constructors, strings in every Lua form, numbers, booleans, `nil`,
//! comments), building a [`ServerManifest`] without running anything.

use super::*;

/// A table key as read: bare names and strings stay borrowed when they can.
use super::lexical::*;

pub(super) struct Parser<'a> {
    src: &'a [u8],
    pos: usize,
    depth: usize,
    /// Archs of the version being read.
    archs: Vec<String>,
    /// Arch names seen so far (a handful), cloned instead of converted again.
    known_archs: Vec<String>,
}

type Res<T> = Result<T, ManifestError>;

#[path = "listing.rs"]
mod listing;

impl<'a> Parser<'a> {
    pub(super) fn new(src: &'a [u8]) -> Self {
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
    fn repository(&mut self, manifest: &mut ServerManifest) -> Res<()> {
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
    pub(super) fn manifest(mut self) -> Res<ServerManifest> {
        let mut manifest = ServerManifest::default();
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

    /// Any file of `name = value` statements (a `rock_manifest`): the value last assigned to
    /// `wanted`, if any, every other statement checked for syntax.
    pub(super) fn global(mut self, wanted: &str) -> Res<Option<Value>> {
        let mut found = None;
        loop {
            self.skip_ws()?;
            let Some(b) = self.peek() else { break };
            if b == b';' {
                self.pos += 1;
                continue;
            }
            if !is_name_start(b) {
                return Err(self.expected(&format!("a global assignment such as '{wanted} = {{'")));
            }
            let name = self.name();
            self.skip_ws()?;
            if self.peek() != Some(b'=') {
                return Err(self.expected(&format!("'=' after '{}'", lossy(name))));
            }
            self.pos += 1;
            let value = self.value()?;
            if name == wanted.as_bytes() {
                found = Some(value);
            }
        }
        Ok(found)
    }
}
