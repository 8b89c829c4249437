//! A lean reading of a manifest's `repository` for building its compact index: the same
//! grammar as [`Parser::manifest`], but names, versions and archs are borrowed from the text
//! when they can be (no escapes, valid UTF-8) and kept in three flat lists, so a
//! luarocks.org-sized manifest is read with a few dozen allocations instead of a few
//! hundred thousand. Everything else (entry fields, `modules`, `commands`) is checked for
//! syntax and dropped. On any error the caller reads the text with the full parser, whose
//! messages are the ones users see.

use super::*;
use std::ops::Range;

/// The `repository` table as written: later duplicates of a name (or of a version within a
/// package) override earlier ones, as in Lua.
#[derive(Debug, Default)]
pub(crate) struct Listing<'a> {
    pub(crate) packages: Vec<(Cow<'a, str>, Range<usize>)>,
    /// Version and the range of its archs.
    pub(crate) versions: Vec<(Cow<'a, str>, Range<usize>)>,
    pub(crate) archs: Vec<Cow<'a, str>>,
}

fn borrowed_text(bytes: Cow<'_, [u8]>) -> Cow<'_, str> {
    match bytes {
        Cow::Borrowed(b) => String::from_utf8_lossy(b),
        Cow::Owned(v) => Cow::Owned(text(Cow::Owned(v))),
    }
}

fn key_text(key: Key<'_>) -> Option<Cow<'_, str>> {
    match key {
        Key::Name(b) => Some(String::from_utf8_lossy(b)),
        Key::Str(s) => Some(borrowed_text(s)),
        Key::Other(Value::String(s)) => Some(Cow::Owned(s)),
        Key::Other(_) => None,
    }
}

impl<'a> Parser<'a> {
    /// The whole file, keeping only the last `repository` assignment.
    pub(crate) fn listing(mut self) -> Res<Listing<'a>> {
        let mut listing = None;
        loop {
            self.skip_ws()?;
            let Some(b) = self.peek() else { break };
            if b == b';' {
                self.pos += 1;
                continue;
            }
            if !is_name_start(b) {
                return Err(self.expected("a global assignment"));
            }
            let name = self.name();
            self.skip_ws()?;
            if self.peek() != Some(b'=') {
                return Err(self.expected("'='"));
            }
            self.pos += 1;
            if name == b"repository" {
                listing = Some(self.listed_repository()?);
            } else {
                self.value()?;
            }
        }
        listing.ok_or(ManifestError::MissingRepository)
    }

    fn listed_repository(&mut self) -> Res<Listing<'a>> {
        let open = self.expect_table(|| "a table".to_string())?;
        self.enter(open)?;
        self.pos += 1;
        let mut listing = Listing::default();
        loop {
            if self.table_closes(open)? {
                return Ok(listing);
            }
            let key_pos = self.pos;
            let Some(name) = self.field_key()?.and_then(key_text) else {
                return Err(self.structure(key_pos, "expected a package name"));
            };
            let first = listing.versions.len();
            self.listed_package(&mut listing)?;
            listing.packages.push((name, first..listing.versions.len()));
            if self.field_end(open)? {
                return Ok(listing);
            }
        }
    }

    fn listed_package(&mut self, listing: &mut Listing<'a>) -> Res<()> {
        let open = self.expect_table(|| "a table of versions".to_string())?;
        self.enter(open)?;
        self.pos += 1;
        loop {
            if self.table_closes(open)? {
                return Ok(());
            }
            let key_pos = self.pos;
            let Some(version) = self.field_key()?.and_then(key_text) else {
                return Err(self.structure(key_pos, "expected a version"));
            };
            let first = listing.archs.len();
            self.listed_entries(listing)?;
            listing.versions.push((version, first..listing.archs.len()));
            if self.field_end(open)? {
                return Ok(());
            }
        }
    }

    fn listed_entries(&mut self, listing: &mut Listing<'a>) -> Res<()> {
        let open = self.expect_table(|| "a table of rocks".to_string())?;
        self.enter(open)?;
        self.pos += 1;
        loop {
            if self.table_closes(open)? {
                return Ok(());
            }
            let entry = match self.field_key()? {
                None | Some(Key::Other(Value::Integer(_))) => true,
                Some(_) => {
                    self.value()?;
                    false
                }
            };
            if entry {
                let arch = self.listed_entry()?;
                listing.archs.push(arch);
            }
            if self.field_end(open)? {
                return Ok(());
            }
        }
    }

    fn listed_entry(&mut self) -> Res<Cow<'a, str>> {
        let open = self.expect_table(|| "a table with an 'arch' field".to_string())?;
        self.enter(open)?;
        self.pos += 1;
        let mut arch = None;
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
                        _ => return Err(self.structure(self.pos, "expected a string")),
                    };
                    arch = Some(borrowed_text(s));
                }
                _ => {
                    self.value()?;
                }
            }
            if self.field_end(open)? {
                break;
            }
        }
        arch.ok_or_else(|| self.structure(open, "no 'arch' field"))
    }
}
