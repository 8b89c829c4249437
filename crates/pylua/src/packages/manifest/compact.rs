//! A server manifest's package index in a compact binary layout that loads without parsing:
//! one buffer read whole from the cache, checked once, then read in place.
//!
//! Why a purpose-built layout rather than a serialisation crate (rkyv, bincode): what the
//! index needs is small and flat — package names, versions, archs — so four tables of
//! fixed-size records and one string table describe it completely; reading it is a single
//! `read` into a `Vec<u8>` and a validation pass, with no `unsafe`, no memory map (a file
//! shrinking under a map is a `SIGBUS`) and no dependency whose format or validation rules
//! can change under the cache. Loading allocates nothing per entry; [`CompactIndex`] hands
//! out `&str`s borrowed from the buffer.
//!
//! The index holds what [`crate::packages::index::ServerIndex`] needs, already prepared:
//! packages keyed by their ASCII-lower-cased name (sorted, for binary search), names that are
//! not valid package names left out, each package's versions newest first (LuaRocks order)
//! with versions that do not parse left out and `1.0-1`/`1.0.0-1` kept once (the first in
//! string order), each version with the spelling of the name that lists it and its archs.
//!
//! Layout (integers little-endian `u32` unless said otherwise):
//!
//! ```text
//! header (80 bytes)
//!   0  magic "PYLUAIX\0"          8  format version      12 reserved (0)
//!   16 sha256 of the manifest text (32 bytes)
//!   48 packages P   52 versions V   56 archs A   60 string bytes S
//!   64 checksum of everything after the header (u64)     72 reserved (0, 8 bytes)
//! packages  P × 16: lower-cased name (offset, length), first version, version count
//! versions  V × 24: name as written (offset, length), version (offset, length),
//!                   first arch, arch count
//! archs     A × 8:  arch (offset, length)
//! strings   S bytes of UTF-8
//! ```
//!
//! [`CompactIndex::build_from_text`] makes an index straight from manifest text through a lean
//! reading of the `repository` table (`listing.rs`: names, versions and archs borrowed from
//! the text, no [`ServerManifest`] built, so a first parse allocates next to nothing per
//! entry); [`CompactIndex::build`] makes the same bytes from a parsed [`ServerManifest`].
//!
//! [`CompactIndex::from_bytes`] refuses a buffer whose size does not add up, whose checksum or
//! format version differs, whose string table is not UTF-8, whose offsets leave their table or
//! split a character, or whose packages are not strictly sorted — so a truncated, corrupt or
//! hostile cache file is an error (the caller re-parses the manifest), never a panic.

use super::ManifestError;

const MAGIC: &[u8; 8] = b"PYLUAIX\0";
/// Bumped whenever the layout or what it holds changes; older files are rebuilt.
pub const FORMAT_VERSION: u32 = 1;
const HEADER: usize = 80;
const PACKAGE_RECORD: usize = 16;
const VERSION_RECORD: usize = 24;
const ARCH_RECORD: usize = 8;

/// Why a buffer is not a usable compact index.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CompactError {
    #[error("not a compact manifest index (bad magic)")]
    Magic,
    #[error("compact index format {found}, this pylua reads {FORMAT_VERSION}")]
    FormatVersion { found: u32 },
    #[error("compact index built from another manifest (sha256 differs)")]
    Stale,
    #[error("compact index is {actual} bytes, its header says {expected}")]
    Size { expected: u64, actual: u64 },
    #[error("compact index checksum mismatch")]
    Checksum,
    #[error("compact index is corrupt: {0}")]
    Corrupt(&'static str),
}

/// A validated compact index (see the module documentation).
#[derive(Clone)]
pub struct CompactIndex {
    bytes: Vec<u8>,
    packages: usize,
    versions: usize,
    archs: usize,
    strings: usize,
}

impl std::fmt::Debug for CompactIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompactIndex")
            .field("packages", &self.packages)
            .field("versions", &self.versions)
            .field("archs", &self.archs)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// One version of a package as a [`CompactIndex`] lists it.
#[derive(Debug, Clone, Copy)]
pub struct CompactVersion<'a> {
    /// The package name as the manifest writes it for this version.
    pub name: &'a str,
    pub version: &'a str,
    index: &'a CompactIndex,
    first_arch: usize,
    arch_count: usize,
}

impl<'a> CompactVersion<'a> {
    /// The archs listed for this version, in manifest order.
    pub fn archs(&self) -> impl ExactSizeIterator<Item = &'a str> + 'a {
        let index = self.index;
        (self.first_arch..self.first_arch + self.arch_count).map(move |i| index.arch(i))
    }
}

fn u32_at(bytes: &[u8], pos: usize) -> u32 {
    bytes
        .get(pos..pos + 4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

fn u64_at(bytes: &[u8], pos: usize) -> u64 {
    bytes
        .get(pos..pos + 8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

/// A fast checksum (four interleaved multiply-xor lanes over 8-byte words) that catches a
/// damaged file; not a defence against a forged one — the bounds checks are that.
pub(crate) fn checksum(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut lanes = [1u64, 2, 3, 4];
    let mut chunks = bytes.chunks_exact(32);
    for chunk in &mut chunks {
        for (lane, word) in lanes.iter_mut().zip(chunk.chunks_exact(8)) {
            let w = u64::from_le_bytes(word.try_into().unwrap_or_default());
            *lane = (*lane ^ w).wrapping_mul(K).rotate_left(29);
        }
    }
    let mut h = (bytes.len() as u64).wrapping_mul(K);
    for lane in lanes {
        h = (h ^ lane).wrapping_mul(K).rotate_left(31);
    }
    for &b in chunks.remainder() {
        h = (h ^ u64::from(b)).wrapping_mul(K);
    }
    h ^ (h >> 32)
}

impl CompactIndex {
    /// Checks `bytes` and takes them as an index. With `source_sha256`, an index built from a
    /// manifest with another hash is refused as [`CompactError::Stale`].
    pub fn from_bytes(
        bytes: Vec<u8>,
        source_sha256: Option<&[u8; 32]>,
    ) -> Result<CompactIndex, CompactError> {
        use CompactError::Corrupt;
        if bytes.len() < HEADER || bytes[..8] != MAGIC[..] {
            return Err(CompactError::Magic);
        }
        let found = u32_at(&bytes, 8);
        if found != FORMAT_VERSION {
            return Err(CompactError::FormatVersion { found });
        }
        if let Some(sha) = source_sha256 {
            if bytes[16..48] != sha[..] {
                return Err(CompactError::Stale);
            }
        }
        let [packages, versions, archs, strings] =
            [48, 52, 56, 60].map(|pos| u32_at(&bytes, pos) as u64);
        let expected = HEADER as u64
            + packages * PACKAGE_RECORD as u64
            + versions * VERSION_RECORD as u64
            + archs * ARCH_RECORD as u64
            + strings;
        if expected != bytes.len() as u64 {
            return Err(CompactError::Size {
                expected,
                actual: bytes.len() as u64,
            });
        }
        if checksum(&bytes[HEADER..]) != u64_at(&bytes, 64) {
            return Err(CompactError::Checksum);
        }
        let index = CompactIndex {
            packages: packages as usize,
            versions: versions as usize,
            archs: archs as usize,
            strings: strings as usize,
            bytes,
        };
        let table = index.string_table();
        let text = std::str::from_utf8(table).map_err(|_| Corrupt("strings are not UTF-8"))?;
        let check_str = |off: usize, len: usize| -> Result<(), CompactError> {
            off.checked_add(len)
                .and_then(|end| text.get(off..end))
                .map(|_| ())
                .ok_or(Corrupt("a string lies outside the string table"))
        };
        for i in 0..index.archs {
            let (off, len) = index.arch_ref(i);
            check_str(off, len)?;
        }
        for i in 0..index.versions {
            let pos = index.version_pos(i);
            let field = |k: usize| u32_at(&index.bytes, pos + 4 * k) as usize;
            check_str(field(0), field(1))?;
            check_str(field(2), field(3))?;
            if field(4) as u64 + field(5) as u64 > index.archs as u64 {
                return Err(Corrupt("a version's archs lie outside the arch table"));
            }
        }
        let mut previous: Option<&str> = None;
        for i in 0..index.packages {
            let pos = index.package_pos(i);
            let field = |k: usize| u32_at(&index.bytes, pos + 4 * k) as usize;
            check_str(field(0), field(1))?;
            if field(3) == 0 || field(2) as u64 + field(3) as u64 > index.versions as u64 {
                return Err(Corrupt(
                    "a package's versions lie outside the version table",
                ));
            }
            let name = index.package_name(i);
            if previous.is_some_and(|p| p >= name) {
                return Err(Corrupt("packages are not sorted by name"));
            }
            previous = Some(name);
        }
        Ok(index)
    }

    /// The whole buffer, as written to the cache.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The sha256 of the manifest the index was built from.
    pub fn source_sha256(&self) -> &[u8] {
        &self.bytes[16..48]
    }

    pub fn package_count(&self) -> usize {
        self.packages
    }

    pub fn version_count(&self) -> usize {
        self.versions
    }

    fn package_pos(&self, i: usize) -> usize {
        HEADER + i * PACKAGE_RECORD
    }

    fn version_pos(&self, i: usize) -> usize {
        HEADER + self.packages * PACKAGE_RECORD + i * VERSION_RECORD
    }

    fn arch_ref(&self, i: usize) -> (usize, usize) {
        let pos = HEADER
            + self.packages * PACKAGE_RECORD
            + self.versions * VERSION_RECORD
            + i * ARCH_RECORD;
        (
            u32_at(&self.bytes, pos) as usize,
            u32_at(&self.bytes, pos + 4) as usize,
        )
    }

    fn string_table(&self) -> &[u8] {
        let start = self.bytes.len() - self.strings;
        &self.bytes[start..]
    }

    /// A string of the table; validation guarantees it is in bounds and UTF-8, and anything
    /// else reads as "" rather than panicking.
    fn str_at(&self, off: usize, len: usize) -> &str {
        self.string_table()
            .get(off..off.saturating_add(len))
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or_default()
    }

    fn arch(&self, i: usize) -> &str {
        let (off, len) = self.arch_ref(i);
        self.str_at(off, len)
    }

    /// The lower-cased name of package `i` (`0..package_count()`, sorted).
    pub fn package_name(&self, i: usize) -> &str {
        let pos = self.package_pos(i);
        self.str_at(
            u32_at(&self.bytes, pos) as usize,
            u32_at(&self.bytes, pos + 4) as usize,
        )
    }

    /// The lower-cased package names, sorted.
    pub fn package_names(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        (0..self.packages).map(|i| self.package_name(i))
    }

    /// The package whose lower-cased name is `lower`.
    pub fn find(&self, lower: &str) -> Option<usize> {
        let (mut lo, mut hi) = (0, self.packages);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.package_name(mid).cmp(lower) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }

    /// The versions of package `i`, newest first.
    pub fn versions(&self, i: usize) -> impl ExactSizeIterator<Item = CompactVersion<'_>> + '_ {
        let pos = self.package_pos(i);
        let first = u32_at(&self.bytes, pos + 8) as usize;
        let count = u32_at(&self.bytes, pos + 12) as usize;
        (first..first + count).map(move |v| {
            let pos = self.version_pos(v);
            let field = |k: usize| u32_at(&self.bytes, pos + 4 * k) as usize;
            CompactVersion {
                name: self.str_at(field(0), field(1)),
                version: self.str_at(field(2), field(3)),
                index: self,
                first_arch: field(4),
                arch_count: field(5),
            }
        })
    }
}

#[path = "compact_build.rs"]
mod build;

#[cfg(test)]
#[path = "compact_tests.rs"]
mod tests;
