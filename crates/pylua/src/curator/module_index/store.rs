//! The module index on disk, in a compact binary layout read in place: one buffer read whole,
//! checked once, then answered from without building anything per release or module — the
//! modules are sorted by name, so "which package provides `lfs`" is a binary search.
//!
//! Layout (integers little-endian `u32` unless said otherwise; a string is an `(offset,
//! length)` pair into the string table):
//!
//! ```text
//! header (64 bytes)
//!   0  magic "PYLUAMI\0"       8  format version      12 reserved (0)
//!   16 releases R   20 modules M   24 string bytes S   28 reserved (0)
//!   32 server   40 Lua version   48 sha256 of the server manifest (hex)
//!   56 checksum of everything after the header (u64)
//! releases  R × 40: lower-cased name, name as written, version, note, first module,
//!                   module count | 1 << 31 when the note is a fetch failure to retry
//!                   | 1 << 30 when there is a note
//! modules   M × 16: name, kind (0 Lua file, 1 compiled module, 2 other opener), release
//! by name   M × 4:  module numbers sorted by name (`a.init` sorting as `a`), then number
//! strings   S bytes of UTF-8
//! ```
//!
//! Releases are sorted by lower-cased name, each package's newest first; every string is
//! stored once (versions and module names repeat from release to release). The file is in
//! the cache, which other programs can write: [`ModuleIndex::from_bytes`] checks the sizes,
//! the checksum, that every string is in the table, and every name, version and module name
//! against the rules of [`PackageName`], [`Version`] and [`ModuleName`] (names reach the
//! commands pylua suggests; each shared string is checked once), so a damaged or hostile file
//! is an error — the index is rebuilt — never a panic or a command that is not what it seems.
//! The order of the modules by name is not checked: out of order, lookups answer wrongly,
//! never unsafely, and damage that would cause it is what the checksum catches.

use super::{canonical, IndexedRelease, ModuleKind, ProvidedModule, ServerModules};
use crate::packages::cache::write_atomic;
use crate::packages::names::{ModuleName, PackageName};
use crate::packages::version::{OrderKey, Version};
use std::collections::HashMap;
use std::path::Path;

pub(super) const EXTENSION: &str = ".midx";
const MAGIC: &[u8; 8] = b"PYLUAMI\0";
/// Bumped whenever the layout or what it holds changes; older files are rebuilt.
const FORMAT_VERSION: u32 = 1;
const HEADER: usize = 64;
const RELEASE: usize = 40;
const MODULE: usize = 16;
const BY_NAME: usize = 4;
/// Most bytes an index file may have (luarocks.org's index is a few MiB).
const MAX_FILE: u64 = 256 << 20;
const RETRY: u32 = 1 << 31;
const HAS_NOTE: u32 = 1 << 30;
const COUNT: u32 = (1 << 24) - 1;

/// Strings already checked, by `(offset, length)`: a small direct-mapped table. Releases
/// of one package name the same strings one after the other, so nearly every repeat hits; a
/// file built to make it miss only gets each string checked again, and every check is
/// bounded by the string's length limit.
struct Checked(Vec<u64>);

impl Default for Checked {
    fn default() -> Self {
        Checked(vec![u64::MAX; 1 << 12])
    }
}

impl Checked {
    fn slot(key: u64) -> usize {
        (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 52) as usize
    }

    fn contains(&self, key: &u64) -> bool {
        self.0[Self::slot(*key)] == *key
    }

    fn insert(&mut self, key: u64) {
        self.0[Self::slot(key)] = key;
    }
}

/// Longest note kept (names and versions have their own bounds): a string's length is
/// checked before its content, so a file cannot make the checks long.
const MAX_NOTE: usize = 4096;

/// An index file that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("module index {file}: {message}")]
pub struct StoreError {
    pub file: String,
    pub message: String,
}

/// A checked module index (see the module documentation).
#[derive(Clone)]
pub struct ModuleIndex {
    bytes: Vec<u8>,
    releases: usize,
    modules: usize,
}

impl std::fmt::Debug for ModuleIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModuleIndex")
            .field("server", &self.server())
            .field("lua", &self.lua())
            .field("releases", &self.releases)
            .field("modules", &self.modules)
            .finish()
    }
}

/// One release as a [`ModuleIndex`] holds it.
#[derive(Debug, Clone, Copy)]
pub struct Release<'a> {
    index: &'a ModuleIndex,
    /// The package name lower-cased, as names are compared.
    pub lower: &'a str,
    /// The package name as the server writes it.
    pub name: &'a str,
    pub version: &'a str,
    /// Why the module list may be incomplete, if anything.
    pub note: Option<&'a str>,
    /// True when the note is a failure to fetch, retried on the next build.
    pub retry: bool,
    first_module: usize,
    module_count: usize,
}

impl<'a> Release<'a> {
    /// The modules the release provides.
    pub fn modules(&self) -> impl ExactSizeIterator<Item = (&'a str, ModuleKind)> + 'a {
        let index = self.index;
        (self.first_module..self.first_module + self.module_count).map(move |m| index.module(m))
    }

    /// The release as an owned [`IndexedRelease`] (what a rebuild keeps).
    pub fn to_indexed(&self) -> Option<IndexedRelease> {
        Some(IndexedRelease {
            name: PackageName::parse(self.name).ok()?,
            version: Version::parse(self.version).ok()?,
            modules: self
                .modules()
                .map(|(name, kind)| {
                    Some(ProvidedModule {
                        name: ModuleName::parse(name).ok()?,
                        kind,
                    })
                })
                .collect::<Option<_>>()?,
            note: self.note.map(String::from),
            retry: self.retry,
        })
    }
}

fn u32_at(bytes: &[u8], pos: usize) -> u32 {
    bytes
        .get(pos..pos + 4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

fn put(out: &mut Vec<u8>, values: &[u32]) {
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

fn kind_code(kind: ModuleKind) -> u32 {
    match kind {
        ModuleKind::Lua => 0,
        ModuleKind::C => 1,
        ModuleKind::Opener => 2,
    }
}

fn kind_of(code: u32) -> Option<ModuleKind> {
    match code {
        0 => Some(ModuleKind::Lua),
        1 => Some(ModuleKind::C),
        2 => Some(ModuleKind::Opener),
        _ => None,
    }
}

/// Notes are shown to people: one line, no control characters.
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

impl ModuleIndex {
    /// The compact form of `index`.
    pub fn build(index: &ServerModules) -> ModuleIndex {
        // Strings are kept once: versions and module names repeat from release to release.
        let mut strings: Vec<u8> = Vec::new();
        let mut interned: HashMap<String, [u32; 2]> = HashMap::new();
        let mut string = |s: &str| -> [u32; 2] {
            if let Some(&r) = interned.get(s) {
                return r;
            }
            let r = [strings.len() as u32, s.len() as u32];
            strings.extend_from_slice(s.as_bytes());
            interned.insert(s.to_string(), r);
            r
        };
        let server = string(&index.server);
        let lua = string(&index.lua);
        let sha = string(&index.manifest_sha256);
        let mut releases = Vec::new();
        let mut modules = Vec::new();
        let mut names: Vec<(String, u32)> = Vec::new();
        let mut release_count = 0u32;
        let mut module_count = 0u32;
        for (lower, list) in &index.packages {
            let lower_ref = string(lower);
            for release in list {
                let name = if release.name.as_str() == lower {
                    lower_ref
                } else {
                    string(release.name.as_str())
                };
                let version = string(release.version.as_str());
                let note = release.note.as_deref().map(|n| {
                    let mut n = clean(n);
                    if n.len() > MAX_NOTE {
                        let mut end = MAX_NOTE;
                        while !n.is_char_boundary(end) {
                            end -= 1;
                        }
                        n.truncate(end);
                    }
                    n
                });
                let note_ref = string(note.as_deref().unwrap_or(""));
                let count = release.modules.len().min(COUNT as usize) as u32;
                let flags = if release.retry { RETRY } else { 0 }
                    | if note.is_some() { HAS_NOTE } else { 0 };
                put(&mut releases, &lower_ref);
                put(&mut releases, &name);
                put(&mut releases, &version);
                put(&mut releases, &note_ref);
                put(&mut releases, &[module_count, count | flags]);
                for module in release.modules.iter().take(count as usize) {
                    let name = module.name.as_str();
                    names.push((canonical(name).to_string(), module_count));
                    put(&mut modules, &string(name));
                    put(&mut modules, &[kind_code(module.kind), release_count]);
                    module_count += 1;
                }
                release_count += 1;
            }
        }
        names.sort();
        let mut bytes = Vec::with_capacity(
            HEADER + releases.len() + modules.len() + names.len() * BY_NAME + strings.len(),
        );
        bytes.extend_from_slice(MAGIC);
        put(&mut bytes, &[FORMAT_VERSION, 0]);
        put(
            &mut bytes,
            &[release_count, module_count, strings.len() as u32, 0],
        );
        for r in [server, lua, sha] {
            put(&mut bytes, &r);
        }
        bytes.extend_from_slice(&[0; 8]); // checksum, below
        bytes.extend_from_slice(&releases);
        bytes.extend_from_slice(&modules);
        for (_, m) in &names {
            put(&mut bytes, &[*m]);
        }
        bytes.extend_from_slice(&strings);
        let sum = crate::packages::manifest::compact::checksum(&bytes[HEADER..]);
        bytes[56..64].copy_from_slice(&sum.to_le_bytes());
        ModuleIndex {
            bytes,
            releases: release_count as usize,
            modules: module_count as usize,
        }
    }

    /// Checks `bytes` and takes them as an index; `file` names them in errors.
    pub fn from_bytes(bytes: Vec<u8>, file: &str) -> Result<ModuleIndex, StoreError> {
        let err = |message: &str| StoreError {
            file: file.to_string(),
            message: message.to_string(),
        };
        if bytes.len() < HEADER || bytes[..8] != MAGIC[..] {
            return Err(err("not a module index (bad magic)"));
        }
        if u32_at(&bytes, 8) != FORMAT_VERSION {
            return Err(err("written by another version of pylua"));
        }
        let [releases, modules, strings] = [16, 20, 24].map(|p| u32_at(&bytes, p) as u64);
        let expected = HEADER as u64
            + releases * RELEASE as u64
            + modules * (MODULE + BY_NAME) as u64
            + strings;
        if expected != bytes.len() as u64 {
            return Err(err("its size does not match its header"));
        }
        let sum = u64::from_le_bytes(bytes[56..64].try_into().unwrap_or_default());
        if crate::packages::manifest::compact::checksum(&bytes[HEADER..]) != sum {
            return Err(err("checksum mismatch"));
        }
        let index = ModuleIndex {
            bytes,
            releases: releases as usize,
            modules: modules as usize,
        };
        index.check().map_err(err)?;
        Ok(index)
    }

    /// Every check but the size and checksum (see the module documentation).
    fn check(&self) -> Result<(), &'static str> {
        let table = self.string_table();
        let text = std::str::from_utf8(table).map_err(|_| "strings are not UTF-8")?;
        let string = |pos: usize| -> Result<&str, &'static str> {
            let (off, len) = (
                u32_at(&self.bytes, pos) as usize,
                u32_at(&self.bytes, pos + 4) as usize,
            );
            off.checked_add(len)
                .and_then(|end| text.get(off..end))
                .ok_or("a string lies outside the string table")
        };
        // Strings are shared: each is checked against a rule the first time a record names
        // it for that rule (one set per rule: a string fit as a note may not be a version).
        let mut checked: [Checked; 3] = Default::default();
        let mut check_once = |pos: usize, rule: usize, what: &'static str| {
            let s = string(pos)?;
            let key = u64::from(u32_at(&self.bytes, pos)) << 32 | s.len() as u64;
            if checked[rule].contains(&key) {
                return Ok(s);
            }
            let fit = match rule {
                0 => PackageName::check(s).is_ok(),
                1 => OrderKey::parse(s).is_ok(),
                _ => s.len() <= MAX_NOTE && !s.chars().any(char::is_control),
            };
            if !fit {
                return Err(what);
            }
            checked[rule].insert(key);
            Ok(s)
        };
        let sha = string(48)?;
        if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("the manifest checksum is not a sha256");
        }
        if string(32)?.chars().any(char::is_control) || string(40)?.chars().any(char::is_control) {
            return Err("a control character in the server or Lua version");
        }
        let mut previous = "";
        for i in 0..self.releases {
            let pos = self.release_pos(i);
            let name = check_once(pos + 8, 0, "an invalid package name")?;
            let lower = string(pos)?;
            if !lower.eq_ignore_ascii_case(name) || lower.bytes().any(|b| b.is_ascii_uppercase()) {
                return Err("a package's key is not its lower-cased name");
            }
            if lower < previous {
                return Err("releases are not sorted by name");
            }
            previous = lower;
            check_once(pos + 16, 1, "an invalid version")?;
            check_once(pos + 24, 2, "a control character in a note")?;
            let first = u32_at(&self.bytes, pos + 32) as u64;
            let count = (u32_at(&self.bytes, pos + 36) & COUNT) as u64;
            if first + count > self.modules as u64 {
                return Err("a release's modules lie outside the module table");
            }
        }
        let mut module_names = Checked::default();
        for k in 0..self.modules {
            let pos = self.module_pos(k);
            let name = string(pos)?;
            let key = u64::from(u32_at(&self.bytes, pos)) << 32 | name.len() as u64;
            if !module_names.contains(&key) {
                ModuleName::check(name).map_err(|_| "an invalid module name")?;
                module_names.insert(key);
            }
            kind_of(u32_at(&self.bytes, pos + 8)).ok_or("an unknown module kind")?;
            let r = u32_at(&self.bytes, pos + 12) as usize;
            let owned = r < self.releases && {
                let release = self.release_pos(r);
                let first = u32_at(&self.bytes, release + 32) as usize;
                let count = (u32_at(&self.bytes, release + 36) & COUNT) as usize;
                (first..first + count).contains(&k)
            };
            if !owned {
                return Err("a module is not among its release's modules");
            }
            // The order by name is not checked: a file out of order (damage the checksum
            // did not catch) gives wrong answers, not unsafe ones.
            if u32_at(&self.bytes, self.by_name_pos(k)) as usize >= self.modules {
                return Err("the module order names no module");
            }
        }
        Ok(())
    }

    fn release_pos(&self, i: usize) -> usize {
        HEADER + i * RELEASE
    }

    fn module_pos(&self, m: usize) -> usize {
        HEADER + self.releases * RELEASE + m * MODULE
    }

    fn by_name_pos(&self, k: usize) -> usize {
        HEADER + self.releases * RELEASE + self.modules * MODULE + k * BY_NAME
    }

    fn string_table(&self) -> &[u8] {
        let start = self.by_name_pos(self.modules);
        &self.bytes[start.min(self.bytes.len())..]
    }

    /// The string at `pos`; validation guarantees it is in bounds and UTF-8, and anything
    /// else reads as "" rather than panicking.
    fn string(&self, pos: usize) -> &str {
        let (off, len) = (
            u32_at(&self.bytes, pos) as usize,
            u32_at(&self.bytes, pos + 4) as usize,
        );
        self.string_table()
            .get(off..off.saturating_add(len))
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or_default()
    }

    fn module(&self, m: usize) -> (&str, ModuleKind) {
        let pos = self.module_pos(m);
        (
            self.string(pos),
            kind_of(u32_at(&self.bytes, pos + 8)).unwrap_or(ModuleKind::Lua),
        )
    }

    /// The whole buffer, as written to the cache.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn server(&self) -> &str {
        self.string(32)
    }

    pub fn lua(&self) -> &str {
        self.string(40)
    }

    /// sha256 (hex) of the server manifest the index was built from.
    pub fn manifest_sha256(&self) -> &str {
        self.string(48)
    }

    pub fn release_count(&self) -> usize {
        self.releases
    }

    pub fn module_count(&self) -> usize {
        self.modules
    }

    /// Release `i` (`0..release_count()`).
    pub fn release(&self, i: usize) -> Release<'_> {
        let pos = self.release_pos(i);
        let word = u32_at(&self.bytes, pos + 36);
        Release {
            index: self,
            lower: self.string(pos),
            name: self.string(pos + 8),
            version: self.string(pos + 16),
            note: (word & HAS_NOTE != 0).then(|| self.string(pos + 24)),
            retry: word & RETRY != 0,
            first_module: u32_at(&self.bytes, pos + 32) as usize,
            module_count: (word & COUNT) as usize,
        }
    }

    /// Every release, by lower-cased name, each package's newest first.
    pub fn releases(&self) -> impl ExactSizeIterator<Item = Release<'_>> + '_ {
        (0..self.releases).map(|i| self.release(i))
    }

    /// The releases of the package whose lower-cased name is `lower`, newest first.
    pub fn package_releases<'s>(&'s self, lower: &str) -> impl Iterator<Item = Release<'s>> + 's {
        let start = self.partition(|r| r.lower < lower);
        let end = start + self.partition_from(start, |r| r.lower == lower);
        (start..end).map(|i| self.release(i))
    }

    /// Whether the index lists the package whose lower-cased name is `lower`.
    pub fn has_package(&self, lower: &str) -> bool {
        self.package_releases(lower).next().is_some()
    }

    /// True when no release waits for a retry.
    pub fn is_complete(&self) -> bool {
        self.releases().all(|r| !r.retry)
    }

    /// The releases providing `module` (`a` and `a.init` are one module), by package name
    /// and each package's newest first, with how they provide it.
    pub fn providing<'s>(
        &'s self,
        module: &str,
    ) -> impl Iterator<Item = (Release<'s>, ModuleKind)> + 's {
        let wanted = canonical(module).to_string();
        let module_of = move |k: usize| u32_at(&self.bytes, self.by_name_pos(k)) as usize;
        let (mut lo, mut hi) = (0, self.modules);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if canonical(self.module(module_of(mid)).0) < wanted.as_str() {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        (lo..self.modules)
            .map(module_of)
            .take_while(move |&m| canonical(self.module(m).0) == wanted)
            .filter_map(move |m| {
                let release = self.release_of_module(m)?;
                Some((release, self.module(m).1))
            })
    }

    /// The release whose modules include module `m`.
    fn release_of_module(&self, m: usize) -> Option<Release<'_>> {
        let r = u32_at(&self.bytes, self.module_pos(m) + 12) as usize;
        (r < self.releases).then(|| self.release(r))
    }

    /// How many releases from the start satisfy `pred` (which holds for a prefix).
    fn partition(&self, pred: impl Fn(&Release<'_>) -> bool) -> usize {
        self.partition_from(0, pred)
    }

    fn partition_from(&self, start: usize, pred: impl Fn(&Release<'_>) -> bool) -> usize {
        let (mut lo, mut hi) = (start, self.releases);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if pred(&self.release(mid)) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo - start
    }
}

/// Writes `index` to `path` atomically.
pub(super) fn write(path: &Path, index: &ModuleIndex) -> std::io::Result<()> {
    write_atomic(path, index.as_bytes())
}

/// Reads and checks an index file.
pub(super) fn read(path: &Path) -> Result<ModuleIndex, StoreError> {
    let name = path.display().to_string();
    let err = |message: String| StoreError {
        file: name.clone(),
        message,
    };
    let meta = std::fs::metadata(path).map_err(|e| err(e.to_string()))?;
    if meta.len() > MAX_FILE {
        return Err(err(format!("larger than {} MiB", MAX_FILE >> 20)));
    }
    let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    ModuleIndex::from_bytes(bytes, &name)
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
