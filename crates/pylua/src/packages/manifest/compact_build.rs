//! Building a [`CompactIndex`]: from a parsed [`ServerManifest`], or straight from manifest
//! text through the lean listing (`listing.rs`), hashing the text on a second thread while
//! it is read.
//!
//! Packages are grouped by lower-cased name and sorted; a large index is then assembled in
//! parts on several threads, each with its own string table, and the parts are joined into
//! the final buffer with their offsets shifted — one pass, one allocation for the result.
//! Parts repeat a few strings (a version like `1.0-1` is in every part's table), which costs
//! a few kilobytes and changes nothing a reader sees.

use super::*;
use crate::packages::manifest::ServerManifest;
use crate::packages::names::PackageName;
use crate::packages::version::OrderKey;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

/// Indexes with fewer versions than this are assembled by one thread.
const SPLIT_ABOVE_VERSIONS: usize = 20_000;

/// Versions in string order, each with its archs.
type Listed<'m, T> = Vec<(&'m str, &'m [T])>;
/// One package name as written, with its versions.
type Named<'m, T> = (&'m str, Listed<'m, T>);
/// A package name lower-cased, as written, and its versions.
type Grouped<'m, T> = (Cow<'m, str>, &'m str, Listed<'m, T>);

/// How many threads a build may use.
fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

impl CompactIndex {
    /// Builds the index of `manifest`, recording `source_sha256` as the hash of its text.
    /// Names that are not valid package names are left out with a warning.
    pub fn build(manifest: &ServerManifest, source_sha256: &[u8; 32]) -> CompactIndex {
        assemble(manifest_named(manifest), source_sha256, threads())
    }

    /// Builds the index of manifest text, without building a [`ServerManifest`] on the way
    /// (names, versions and archs stay borrowed from `text`): the same result as
    /// [`ServerManifest::parse_bytes`] followed by [`CompactIndex::build`], and the same
    /// errors.
    pub fn build_from_text(
        text: &[u8],
        source_sha256: &[u8; 32],
    ) -> Result<CompactIndex, ManifestError> {
        build_from_text(text, source_sha256, threads())
    }

    /// [`CompactIndex::build_from_text`] with the sha256 of `text` computed on a second
    /// thread while the text is read ([`CompactIndex::source_sha256`] gives it).
    pub fn build_hashing(text: &[u8]) -> Result<CompactIndex, ManifestError> {
        std::thread::scope(|scope| {
            let sha = scope.spawn(|| -> [u8; 32] { Sha256::digest(text).into() });
            let index = build_from_text(text, &[0; 32], threads());
            let sha = sha
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            index.map(|mut index| {
                index.bytes[16..48].copy_from_slice(&sha);
                index
            })
        })
    }
}

/// [`CompactIndex::build_from_text`] with up to `threads` threads.
fn build_from_text(
    text: &[u8],
    source_sha256: &[u8; 32],
    threads: usize,
) -> Result<CompactIndex, ManifestError> {
    let Ok(listing) = super::super::parser::Parser::new(text).listing(threads) else {
        // The full parser says what is wrong (or reads what the lean one could not).
        let manifest = ServerManifest::parse_bytes(text)?;
        return Ok(assemble(manifest_named(&manifest), source_sha256, threads));
    };
    // As in Lua (and `ServerManifest`), the last of duplicate names or versions wins.
    let mut packages: Vec<Named<'_, Cow<str>>> = listing
        .packages
        .iter()
        .map(|(name, versions)| {
            // Versions come in string order, duplicates already resolved.
            let list: Listed<'_, Cow<str>> = listing.versions[versions.clone()]
                .iter()
                .map(|(v, archs)| (&**v, &listing.archs[archs.clone()]))
                .collect();
            (&**name, list)
        })
        .collect();
    packages.sort_by(|a, b| a.0.cmp(b.0));
    packages.dedup_by(|later, earlier| {
        let same = later.0 == earlier.0;
        if same {
            std::mem::swap(later, earlier);
        }
        same
    });
    Ok(assemble(packages.into_iter(), source_sha256, threads))
}

fn manifest_named(manifest: &ServerManifest) -> impl Iterator<Item = Named<'_, String>> {
    manifest.repository.iter().map(|(name, versions)| {
        let versions = versions
            .iter()
            .map(|(v, archs)| (v.as_str(), archs.as_slice()))
            .collect();
        (name.as_str(), versions)
    })
}

/// The index of `packages` (each with its versions in string order, names unique), in up to
/// `threads` parts.
fn assemble<'m, T: AsRef<str> + Sync + 'm>(
    packages: impl Iterator<Item = Named<'m, T>>,
    sha: &[u8; 32],
    threads: usize,
) -> CompactIndex {
    // Names by lower-cased name, then manifest (byte) order: the first spelling listing a
    // version string provides it, as in `ServerManifest::merge`. Most names are lower case
    // already and need no copy.
    let mut names: Vec<Grouped<'m, T>> = Vec::new();
    let mut version_total = 0;
    for (name, versions) in packages {
        if let Err(e) = PackageName::check(name) {
            tracing::warn!("manifest entry skipped: {e}");
            continue;
        }
        let lower = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(name.to_ascii_lowercase())
        } else {
            Cow::Borrowed(name)
        };
        version_total += versions.len();
        names.push((lower, name, versions));
    }
    names.sort_by(|a, b| a.0.cmp(&b.0)); // stable: spellings stay in manifest order
    let parts = if version_total < SPLIT_ABOVE_VERSIONS {
        1
    } else {
        threads.max(1)
    };
    // Cut at group boundaries: all spellings of a name go to one part.
    let mut cuts = vec![0];
    for k in 1..parts {
        let mut at = (names.len() * k / parts).max(*cuts.last().unwrap_or(&0));
        while at > 0 && at < names.len() && names[at].0 == names[at - 1].0 {
            at += 1;
        }
        cuts.push(at);
    }
    cuts.push(names.len());
    let chunks: Vec<&[Grouped<'m, T>]> = cuts.windows(2).map(|w| &names[w[0]..w[1]]).collect();
    let built: Vec<Part> = if chunks.len() == 1 {
        vec![Part::build(chunks[0])]
    } else {
        std::thread::scope(|scope| {
            let helpers: Vec<_> = chunks[1..]
                .iter()
                .map(|&chunk| scope.spawn(move || Part::build(chunk)))
                .collect();
            let mut built = vec![Part::build(chunks[0])];
            built.extend(helpers.into_iter().map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            }));
            built
        })
    };
    join(&built, sha)
}

/// One part of an index: its records and its own string table.
#[derive(Default)]
struct Part {
    packages: Vec<u8>,
    versions: Vec<u8>,
    archs: Vec<u8>,
    strings: Vec<u8>,
    package_count: u32,
    version_count: u32,
    arch_count: u32,
}

/// Collects one part's records and interns its strings.
#[derive(Default)]
struct Builder<'m> {
    part: Part,
    interned: HashMap<&'m str, (u32, u32), BuildHasherDefault<WordHasher>>,
    recent_archs: Vec<(&'m str, (u32, u32))>,
}

/// A multiply-rotate hash for interning short strings from one trusted build (SipHash's
/// flooding resistance buys nothing here and costs a tenth of the build).
#[derive(Default)]
struct WordHasher(u64);

impl Hasher for WordHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes(c.try_into().unwrap_or_default());
            self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x517c_c1b7_2722_0a95);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }

    fn finish(&self) -> u64 {
        // A multiply carries bits only upwards: fold the high bits down, or the table's
        // bucket (the low bits) would depend on the first bytes alone.
        let h = (self.0 ^ (self.0 >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^ (h >> 33)
    }
}

fn put(out: &mut Vec<u8>, values: &[u32]) {
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

impl Part {
    /// The part holding `groups` (sorted by lower-cased name, each name's spellings together).
    fn build<'m, T: AsRef<str> + 'm>(groups: &[Grouped<'m, T>]) -> Part {
        let versions: usize = groups.iter().map(|g| g.2.len()).sum();
        let archs: usize = groups
            .iter()
            .flat_map(|g| g.2.iter().map(|v| v.1.len()))
            .sum();
        let mut builder = Builder {
            part: Part {
                packages: Vec::with_capacity(groups.len() * PACKAGE_RECORD),
                versions: Vec::with_capacity(versions * VERSION_RECORD),
                archs: Vec::with_capacity(archs * ARCH_RECORD),
                strings: Vec::with_capacity(versions * 8),
                ..Part::default()
            },
            interned: HashMap::with_capacity_and_hasher(versions / 2, Default::default()),
            recent_archs: Vec::new(),
        };
        let mut lowers: Vec<&Cow<'m, str>> = Vec::new();
        let mut list: Vec<(OrderKey, &'m str, &'m str, &'m [T])> = Vec::new();
        let mut start = 0;
        while start < groups.len() {
            let lower = &groups[start].0;
            let end = start + groups[start..].iter().take_while(|n| n.0 == *lower).count();
            let group = &groups[start..end];
            start = end;
            // Version strings in string order, each from the first spelling listing it.
            let strings: Vec<(&'m str, &'m str, &'m [T])> = if group.len() == 1 {
                let (_, spelled, versions) = &group[0];
                versions
                    .iter()
                    .map(|&(v, archs)| (v, *spelled, archs))
                    .collect()
            } else {
                let mut by_string: BTreeMap<&'m str, (&'m str, &'m [T])> = BTreeMap::new();
                for (_, spelled, versions) in group {
                    for &(v, archs) in versions {
                        by_string.entry(v).or_insert((*spelled, archs));
                    }
                }
                by_string.into_iter().map(|(v, (n, a))| (v, n, a)).collect()
            };
            list.clear();
            list.extend(strings.into_iter().filter_map(|(v, spelled, archs)| {
                // A version LuaRocks could not parse either is left out.
                Some((OrderKey::parse(v).ok()?, spelled, v, archs))
            }));
            if list.is_empty() {
                continue;
            }
            // Newest first; the sort is stable, so of equal versions (`1.0-1`, `1.0.0-1`) the
            // first in string order comes first and is the one kept.
            list.sort_by(|a, b| b.0.cmp(&a.0));
            list.dedup_by(|later, earlier| later.0 == earlier.0);
            builder.add_package(&list);
            lowers.push(lower);
        }
        for (i, lower) in lowers.iter().enumerate() {
            // A lower-cased name usually equals a spelling already interned.
            let r = match builder.interned.get(&***lower) {
                Some(&r) => r,
                None => {
                    let part = &mut builder.part;
                    let r = (part.strings.len() as u32, lower.len() as u32);
                    part.strings.extend_from_slice(lower.as_bytes());
                    r
                }
            };
            let pos = i * PACKAGE_RECORD;
            let packages = &mut builder.part.packages;
            packages[pos..pos + 4].copy_from_slice(&r.0.to_le_bytes());
            packages[pos + 4..pos + 8].copy_from_slice(&r.1.to_le_bytes());
        }
        builder.part
    }
}

impl<'m> Builder<'m> {
    fn intern(&mut self, s: &'m str) -> (u32, u32) {
        if let Some(&r) = self.interned.get(s) {
            return r;
        }
        let strings = &mut self.part.strings;
        let r = (strings.len() as u32, s.len() as u32);
        strings.extend_from_slice(s.as_bytes());
        self.interned.insert(s, r);
        r
    }

    /// Like [`Builder::intern`], for the handful of arch names a manifest repeats on every
    /// entry: looked up in a short list before the map.
    fn intern_arch(&mut self, s: &'m str) -> (u32, u32) {
        if let Some(&(_, r)) = self.recent_archs.iter().find(|(a, _)| *a == s) {
            return r;
        }
        let r = self.intern(s);
        if self.recent_archs.len() < 8 {
            self.recent_archs.push((s, r));
        }
        r
    }

    /// Adds a package with its versions, newest first; its name is filled in afterwards.
    fn add_package<T: AsRef<str> + 'm>(&mut self, list: &[(OrderKey, &'m str, &'m str, &'m [T])]) {
        let first_version = self.part.version_count;
        let mut last_name: Option<(&str, (u32, u32))> = None;
        for (_, spelled, v, archs) in list {
            let name = match last_name {
                Some((n, r)) if std::ptr::eq(n, *spelled) => r,
                _ => {
                    let r = self.intern(spelled);
                    last_name = Some((spelled, r));
                    r
                }
            };
            let version = self.intern(v);
            let first_arch = self.part.arch_count;
            for arch in archs.iter() {
                let a = self.intern_arch(arch.as_ref());
                put(&mut self.part.archs, &[a.0, a.1]);
                self.part.arch_count += 1;
            }
            put(
                &mut self.part.versions,
                &[
                    name.0,
                    name.1,
                    version.0,
                    version.1,
                    first_arch,
                    archs.len() as u32,
                ],
            );
            self.part.version_count += 1;
        }
        let part = &mut self.part;
        part.package_count += 1;
        part.packages.extend_from_slice(&[0; 8]);
        put(&mut part.packages, &[first_version, list.len() as u32]);
    }
}

/// Appends `records` (of `size` bytes each) to `out`, adding `shift[k]` to each record's
/// `k`-th `u32`.
fn append_shifted(out: &mut Vec<u8>, records: &[u8], size: usize, shift: &[u32]) {
    if shift.iter().all(|&s| s == 0) {
        out.extend_from_slice(records);
        return;
    }
    for record in records.chunks_exact(size) {
        for (k, word) in record.chunks_exact(4).enumerate() {
            let w = u32::from_le_bytes(word.try_into().unwrap_or_default());
            let by = shift.get(k).copied().unwrap_or(0);
            out.extend_from_slice(&w.wrapping_add(by).to_le_bytes());
        }
    }
}

/// The index made of `parts` in order, each part's offsets shifted past the parts before it.
fn join(parts: &[Part], sha: &[u8; 32]) -> CompactIndex {
    let sum = |f: fn(&Part) -> usize| parts.iter().map(f).sum::<usize>();
    let size = HEADER
        + sum(|p| p.packages.len())
        + sum(|p| p.versions.len())
        + sum(|p| p.archs.len())
        + sum(|p| p.strings.len());
    let count = |f: fn(&Part) -> u32| parts.iter().map(f).sum::<u32>();
    let (packages, versions, archs) = (
        count(|p| p.package_count),
        count(|p| p.version_count),
        count(|p| p.arch_count),
    );
    let strings = sum(|p| p.strings.len()) as u32;
    let mut bytes = Vec::with_capacity(size);
    bytes.extend_from_slice(MAGIC);
    put(&mut bytes, &[FORMAT_VERSION, 0]);
    bytes.extend_from_slice(sha);
    put(&mut bytes, &[packages, versions, archs, strings]);
    bytes.extend_from_slice(&[0; 16]); // checksum (below) and reserved
                                       // Where each part's strings, versions and archs start in the joined tables.
    let mut bases = Vec::with_capacity(parts.len());
    let (mut s, mut v, mut a) = (0u32, 0u32, 0u32);
    for p in parts {
        bases.push((s, v, a));
        s += p.strings.len() as u32;
        v += p.version_count;
        a += p.arch_count;
    }
    for (p, &(s, v, _)) in parts.iter().zip(&bases) {
        append_shifted(&mut bytes, &p.packages, PACKAGE_RECORD, &[s, 0, v]);
    }
    for (p, &(s, _, a)) in parts.iter().zip(&bases) {
        append_shifted(&mut bytes, &p.versions, VERSION_RECORD, &[s, 0, s, 0, a]);
    }
    for (p, &(s, _, _)) in parts.iter().zip(&bases) {
        append_shifted(&mut bytes, &p.archs, ARCH_RECORD, &[s]);
    }
    for p in parts {
        bytes.extend_from_slice(&p.strings);
    }
    let sum = checksum(&bytes[HEADER..]);
    bytes[64..72].copy_from_slice(&sum.to_le_bytes());
    CompactIndex {
        packages: packages as usize,
        versions: versions as usize,
        archs: archs as usize,
        strings: strings as usize,
        bytes,
    }
}

#[cfg(test)]
pub(super) fn build_from_text_with(
    text: &[u8],
    sha: &[u8; 32],
    threads: usize,
) -> Result<CompactIndex, ManifestError> {
    build_from_text(text, sha, threads)
}
