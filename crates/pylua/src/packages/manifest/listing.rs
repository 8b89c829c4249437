//! A lean reading of a manifest's `repository` for building its compact index: the same
//! grammar as [`Parser::manifest`], but names, versions and archs are borrowed from the text
//! when they can be (no escapes, valid UTF-8) and kept in three flat lists, so a
//! luarocks.org-sized manifest is read with a few dozen allocations instead of a few
//! hundred thousand. Everything else (entry fields, `modules`, `commands`) is checked for
//! syntax and dropped. On any error the caller reads the text with the full parser, whose
//! messages are the ones users see.
//!
//! A large `repository` table is read by several threads: each starts at a guessed package
//! boundary (a line indented like LuaRocks writes a package key), and a part is used only
//! once the part before it has reached that very position at the start of one of the
//! table's fields — so every part used reads exactly what one sequential pass would. A
//! guess that turns out wrong (the file is written another way) costs its thread's work
//! and nothing else: the pass before it reads on.

use super::*;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};

/// Tables smaller than this are read by one thread.
const SPLIT_ABOVE: usize = 1 << 20;
/// How far past a guess to look for a package boundary.
const BOUNDARY_SEARCH: usize = 64 << 10;

/// The `repository` table as written: later duplicates of a name (or of a version within a
/// package) override earlier ones, as in Lua.
#[derive(Debug, Default)]
pub(crate) struct Listing<'a> {
    pub(crate) packages: Vec<(Cow<'a, str>, Range<usize>)>,
    /// Version and the range of its archs; each package's versions in string order, once.
    pub(crate) versions: Vec<(Cow<'a, str>, Range<usize>)>,
    pub(crate) archs: Vec<Cow<'a, str>>,
}

impl<'a> Listing<'a> {
    /// An empty listing with room for what `bytes` of manifest text usually hold.
    fn for_text(bytes: usize) -> Self {
        Listing {
            packages: Vec::with_capacity(bytes / 2048),
            versions: Vec::with_capacity(bytes / 160),
            archs: Vec::with_capacity(bytes / 80),
        }
    }

    /// Appends the fields `other` read after this listing's.
    fn append(&mut self, other: Listing<'a>) {
        let (versions, archs) = (self.versions.len(), self.archs.len());
        let shift = |r: Range<usize>, by: usize| r.start + by..r.end + by;
        self.packages.extend(
            other
                .packages
                .into_iter()
                .map(|(name, r)| (name, shift(r, versions))),
        );
        self.versions.extend(
            other
                .versions
                .into_iter()
                .map(|(version, r)| (version, shift(r, archs))),
        );
        self.archs.extend(other.archs);
    }
}

/// How reading a run of `repository` fields ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// The table closed.
    Closed,
    /// The position to stop at was reached at the start of a field.
    Reached,
}

/// Where parts after the first may start: for each of `parts - 1` evenly spaced offsets in
/// `src[from..]`, the first following line that starts with exactly three spaces and a
/// package key (`["name"]` or a bare name), as LuaRocks writes them.
fn guessed_starts(src: &[u8], from: usize, parts: usize) -> Vec<usize> {
    let mut starts: Vec<usize> = Vec::new();
    if parts < 2 || src.len().saturating_sub(from) < SPLIT_ABOVE {
        return starts;
    }
    let span = src.len() - from;
    for k in 1..parts {
        let target = (from + span / parts * k).max(starts.last().map_or(0, |s| s + 1));
        let end = (target + BOUNDARY_SEARCH).min(src.len());
        let window = &src[target.min(end)..end];
        let found = window
            .windows(5)
            .position(|w| w[..4] == *b"\n   " && (w[4] == b'[' || is_name_start(w[4])));
        if let Some(i) = found {
            starts.push(target + i + 4);
        }
    }
    starts
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
    /// The whole file, keeping only the last `repository` assignment; a large table is read
    /// in up to `parts` parts on as many threads.
    pub(crate) fn listing(mut self, parts: usize) -> Res<Listing<'a>> {
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
                listing = Some(self.listed_repository(parts)?);
            } else {
                self.value()?;
            }
        }
        listing.ok_or(ManifestError::MissingRepository)
    }

    fn listed_repository(&mut self, parts: usize) -> Res<Listing<'a>> {
        let open = self.expect_table(|| "a table".to_string())?;
        self.enter(open)?;
        self.pos += 1;
        let starts = guessed_starts(self.src, self.pos, parts);
        let first_end = starts.first().copied().unwrap_or(self.src.len());
        let mut listing = Listing::for_text(first_end - self.pos);
        let Some(&first_stop) = starts.first() else {
            self.listed_fields(open, &mut listing, None, None)?;
            return Ok(listing);
        };
        let cancel = AtomicBool::new(false);
        let (src, depth) = (self.src, self.depth);
        std::thread::scope(|scope| {
            let cancel = &cancel;
            let helpers: Vec<_> = starts
                .iter()
                .enumerate()
                .map(|(k, &start)| {
                    let stop = starts.get(k + 1).copied();
                    scope.spawn(move || {
                        let mut part = Parser::new(src);
                        (part.pos, part.depth) = (start, depth);
                        let mut listing = Listing::for_text(stop.unwrap_or(src.len()) - start);
                        let ended = part.listed_fields(open, &mut listing, stop, Some(cancel));
                        (ended.map(|e| (e, part.pos, part.depth)), listing)
                    })
                })
                .collect();
            let ended = self.listed_fields(open, &mut listing, Some(first_stop), None);
            if ended != Ok(Ended::Reached) {
                // The first guess was not a package boundary (or the text is wrong): this
                // pass has read the whole table, or found the error.
                cancel.store(true, Ordering::Relaxed);
                return ended.map(|_| listing);
            }
            for helper in helpers {
                let (ended, part) = helper
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                let (ended, pos, depth) = ended?;
                listing.append(part);
                (self.pos, self.depth) = (pos, depth);
                if ended == Ended::Closed {
                    break;
                }
            }
            cancel.store(true, Ordering::Relaxed);
            Ok(listing)
        })
    }

    /// Fields of the `repository` table opened at `open`, from the current position until
    /// it closes or `stop` is reached at the start of a field. A `stop` passed inside a
    /// field was no boundary: reading goes on to the end of the table. `cancel` ends a
    /// helper's work once it cannot be used.
    fn listed_fields(
        &mut self,
        open: usize,
        listing: &mut Listing<'a>,
        mut stop: Option<usize>,
        cancel: Option<&AtomicBool>,
    ) -> Res<Ended> {
        loop {
            if self.table_closes(open)? {
                return Ok(Ended::Closed);
            }
            if let Some(at) = stop {
                if self.pos == at {
                    return Ok(Ended::Reached);
                }
                if self.pos > at {
                    stop = None;
                }
            }
            if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                return Err(self.structure(self.pos, "reading cancelled"));
            }
            let key_pos = self.pos;
            let Some(name) = self.field_key()?.and_then(key_text) else {
                return Err(self.structure(key_pos, "expected a package name"));
            };
            let first = listing.versions.len();
            self.listed_package(listing)?;
            // In string order; as in Lua, the last of duplicate versions wins.
            let mut versions = listing.versions.split_off(first);
            versions.sort_by(|a, b| a.0.cmp(&b.0));
            versions.dedup_by(|later, earlier| {
                let same = later.0 == earlier.0;
                if same {
                    std::mem::swap(later, earlier);
                }
                same
            });
            listing.versions.append(&mut versions);
            listing.packages.push((name, first..listing.versions.len()));
            if self.field_end(open)? {
                return Ok(Ended::Closed);
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
