//! LuaRocks versions (`1.2.3-1`, `scm-1`, `2.0rc1`) and constraints (`>= 1.0, < 2`, `~> 1.2`),
//! with the ordering and matching rules of LuaRocks itself, and their translation into
//! version ranges for the resolver.
//!
//! The rules, as LuaRocks defines them:
//! * A version is a list of components and an optional revision (`-N` at the end). Runs of
//!   digits are numbers; words are `dev` > `scm` > `cvs` > numbers-in-practice, and
//!   `rc` < `pre`… are below zero (`2.0rc1` < `2.0`); any other word counts as its first
//!   letter's code / 1000. Separators are `.`, `-`, `_`. Missing components are 0, so
//!   `1.0` equals `1`.
//! * Two versions whose components are equal compare by revision only when both have one:
//!   the constraint `== 1.0` accepts `1.0-1` and `1.0-2`; `> 1.0` accepts neither, `<= 1.0`
//!   both.
//! * `~> 1.2` accepts versions whose leading components are `1.2` (`1.2`, `1.2.9-3`), and not
//!   `1.3`.

use serde::{Serialize, Serializer};
use smallvec::SmallVec;
use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// Why a version or constraint did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct VersionError {
    pub message: String,
}

impl VersionError {
    fn new(message: String) -> Self {
        VersionError { message }
    }
}

/// A LuaRocks version. Equality and order follow LuaRocks (see the module docs); the text
/// is kept as written for display.
#[derive(Clone)]
pub struct Version {
    text: String,
    components: Components,
    revision: Option<i64>,
}

/// A version's components: most versions have at most four, kept without an allocation.
type Components = SmallVec<[f64; 4]>;

/// A version's place in the order without its text, for sorting many versions read from a
/// manifest without allocating for each (same order as [`Version`]).
#[derive(Debug, Clone)]
pub(crate) struct OrderKey {
    components: Components,
    revision: Option<i64>,
}

impl OrderKey {
    /// The key of `text`, under the same rules as [`Version::parse`].
    pub(crate) fn parse(text: &str) -> Result<OrderKey, VersionError> {
        let (_, components, revision) = parse_parts(text)?;
        Ok(OrderKey {
            components,
            revision,
        })
    }
}

impl Ord for OrderKey {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_components(&self.components, &other.components).then(self.revision.cmp(&other.revision))
    }
}
impl PartialOrd for OrderKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for OrderKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for OrderKey {}

/// Compares components only, as LuaRocks does before looking at revisions: missing
/// components are 0.
fn cmp_components(a: &[f64], b: &[f64]) -> Ordering {
    let n = a.len().max(b.len());
    for i in 0..n {
        let x = a.get(i).copied().unwrap_or(0.0);
        let y = b.get(i).copied().unwrap_or(0.0);
        match x.total_cmp(&y) {
            Ordering::Equal => continue,
            other => return other,
        }
    }
    Ordering::Equal
}

/// A version's text trimmed, its components (trailing zeros dropped) and its revision.
fn parse_parts(text: &str) -> Result<(&str, Components, Option<i64>), VersionError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(VersionError::new("empty version".into()));
    }
    if t.len() > MAX_LEN {
        return Err(VersionError::new(format!(
            "version '{}…' is longer than {MAX_LEN} characters",
            &t[..t.char_indices().nth(20).map_or(t.len(), |(i, _)| i)]
        )));
    }
    let (main, revision) = match t.rsplit_once('-') {
        Some((main, rev)) if !rev.is_empty() && rev.bytes().all(|b| b.is_ascii_digit()) => {
            let rev: i64 = rev.parse().map_err(|_| {
                VersionError::new(format!("revision of version '{t}' is too large"))
            })?;
            (main, Some(rev))
        }
        _ => (t, None),
    };
    let mut components = parse_components(main, t)?;
    if components.is_empty() {
        return Err(VersionError::new(format!(
            "invalid version '{t}': no number or word in it"
        )));
    }
    while components.len() > 1 && components.last() == Some(&0.0) {
        components.pop();
    }
    Ok((t, components, revision))
}

const WORDS: &[(&str, f64)] = &[
    ("dev", 120_000_000.0),
    ("scm", 110_000_000.0),
    ("cvs", 100_000_000.0),
    ("rc", -1_000.0),
    ("pre", -10_000.0),
    ("beta", -100_000.0),
    ("alpha", -1_000_000.0),
];

/// Longest version text accepted; real versions are short, and this bounds the work.
const MAX_LEN: usize = 256;

/// The components of a version's main part (before the revision), as written: trailing
/// zeros kept.
fn parse_components(main: &str, t: &str) -> Result<Components, VersionError> {
    let bytes = main.as_bytes();
    let mut components = Components::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        if bytes[i].is_ascii_digit() {
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            // Up to 15 digits are exact in an f64 and need no float parser.
            let n: f64 = if i - start <= 15 {
                bytes[start..i]
                    .iter()
                    .fold(0u64, |n, d| n * 10 + u64::from(d - b'0')) as f64
            } else {
                main[start..i].parse().unwrap_or(f64::MAX)
            };
            components.push(n);
        } else if bytes[i].is_ascii_alphabetic() {
            while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
                i += 1;
            }
            let word = &main[start..i];
            let value = WORDS
                .iter()
                .find(|(w, _)| *w == word)
                .map_or(bytes[start] as f64 / 1000.0, |(_, v)| *v);
            components.push(value);
        } else {
            return Err(VersionError::new(format!(
                "invalid version '{t}': unexpected '{}' (a version is numbers and words separated by '.', '-' or '_', like 1.2.3-1)",
                main[i..].chars().next().unwrap_or('?')
            )));
        }
        while i < bytes.len() && matches!(bytes[i], b'.' | b'-' | b'_') {
            i += 1;
        }
    }
    Ok(components)
}

impl Version {
    /// Parses a version such as `1.2.3-1`, `scm-1`, `0.9rc2`, `1.0`.
    pub fn parse(text: &str) -> Result<Version, VersionError> {
        let (t, components, revision) = parse_parts(text)?;
        Ok(Version {
            text: t.to_string(),
            components,
            revision,
        })
    }

    /// The components as LuaRocks' version tables list them (`3.0` → `[3, 0]`): unlike
    /// [`Version::components`], trailing zeros are kept.
    pub fn written_components(&self) -> Vec<f64> {
        let main = match self.revision {
            Some(_) => self
                .text
                .rsplit_once('-')
                .map_or(self.text.as_str(), |(m, _)| m),
            None => &self.text,
        };
        parse_components(main, &self.text)
            .unwrap_or_else(|_| self.components.clone())
            .into_vec()
    }

    /// The version as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The numeric components (words already mapped to their LuaRocks values).
    pub fn components(&self) -> &[f64] {
        &self.components
    }

    /// The revision (`-N`), if written.
    pub fn revision(&self) -> Option<i64> {
        self.revision
    }

    /// True for development versions (`scm`, `dev`, `cvs`), which LuaRocks only picks when asked.
    pub fn is_development(&self) -> bool {
        self.components.first().is_some_and(|c| *c >= 100_000_000.0)
    }

    /// True when both name the same release, ignoring the revision.
    pub fn same_release(&self, other: &Version) -> bool {
        self.cmp_components(other) == Ordering::Equal
    }

    /// The same components with a revision bound: the last version of this version's block
    /// of revisions (used to build ranges).
    fn with_revision(&self, revision: i64) -> Version {
        Version {
            text: self.text.clone(),
            components: self.components.clone(),
            revision: Some(revision),
        }
    }

    /// The same release without a revision: the first version of its block (`1.0-1` → `1.0`).
    fn without_revision(&self) -> Version {
        let text = match self.revision {
            Some(_) => self
                .text
                .rsplit_once('-')
                .map_or(&*self.text, |(main, _)| main),
            None => &self.text,
        };
        Version {
            text: text.to_string(),
            components: self.components.clone(),
            revision: None,
        }
    }

    /// Compares components only, as LuaRocks does before looking at revisions.
    fn cmp_components(&self, other: &Version) -> Ordering {
        cmp_components(&self.components, &other.components)
    }

    /// LuaRocks' `==`: equal components, and equal revisions when both have one.
    pub fn matches_eq(&self, wanted: &Version) -> bool {
        self.cmp_components(wanted) == Ordering::Equal
            && (wanted.revision.is_none()
                || self.revision.is_none()
                || self.revision == wanted.revision)
    }

    /// The versions `~> self` accepts, as a half-open range `[low, high)` of the total order:
    /// every version whose leading components are this one's. Components after them can be
    /// negative (`2.0rc1` is `2, 0, rc, 1`, and `~> 2` accepts it) and need not be whole
    /// numbers (a word counts as its first letter's code / 1000), so `low` is this version
    /// followed by a component below all others (-∞), and `high` is the same with the last
    /// component raised to the next value a component can take, also followed by -∞. Its
    /// text reads as the last component plus one (`1.2` → `1.3`).
    fn pessimistic_bounds(&self) -> (Version, Version) {
        let mut low = self.components.clone();
        low.push(f64::NEG_INFINITY);
        let mut high = self.components.clone();
        if let Some(last) = high.last_mut() {
            *last = next_up(*last);
        }
        high.push(f64::NEG_INFINITY);
        let mut shown = self.components.clone();
        if let Some(last) = shown.last_mut() {
            *last += 1.0;
        }
        let text = shown
            .iter()
            .map(|c| {
                if c.fract() == 0.0 {
                    format!("{}", *c as i64)
                } else {
                    c.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join(".");
        (
            Version {
                text: self.text.clone(),
                components: low,
                revision: None,
            },
            Version {
                text,
                components: high,
                revision: None,
            },
        )
    }
}

/// The smallest `f64` above `x` (`f64::next_up`, which needs a newer Rust than this crate).
fn next_up(x: f64) -> f64 {
    if x.is_nan() || x == f64::INFINITY {
        return x;
    }
    if x == 0.0 {
        return f64::from_bits(1);
    }
    let bits = x.to_bits();
    f64::from_bits(if x > 0.0 { bits + 1 } else { bits - 1 })
}

/// A total order for the resolver: components, then revision, a version without a revision
/// (`5.4`, as the Lua version is given) coming just before the revisions of its release.
/// It is a point of its own, not revision 0 (`1.0` ≠ `1.0-0`): LuaRocks compares revisions
/// only when both versions have one, so `== 1.0-1` accepts `1.0` but not `1.0-0`.
impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.cmp_components(other)
            .then(self.revision.cmp(&other.revision))
    }
}
impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Version {}
impl std::hash::Hash for Version {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        for c in &self.components {
            c.to_bits().hash(state);
        }
        self.revision.hash(state);
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}
impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Version({})", self.text)
    }
}
impl FromStr for Version {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Version::parse(s)
    }
}
impl Serialize for Version {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

/// A comparison operator of a constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Eq,
    Ne,
    Ge,
    Gt,
    Le,
    Lt,
    /// `~>`: same leading components.
    Pessimistic,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "==",
            Op::Ne => "~=",
            Op::Ge => ">=",
            Op::Gt => ">",
            Op::Le => "<=",
            Op::Lt => "<",
            Op::Pessimistic => "~>",
        }
    }
}

/// One `op version` pair.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Constraint {
    pub op: Op,
    pub version: Version,
}

impl Constraint {
    /// Whether `v` satisfies this constraint, exactly as LuaRocks decides.
    pub fn matches(&self, v: &Version) -> bool {
        let c = &self.version;
        let lt = |a: &Version, b: &Version| match a.cmp_components(b) {
            Ordering::Less => true,
            Ordering::Greater => false,
            Ordering::Equal => match (a.revision, b.revision) {
                (Some(x), Some(y)) => x < y,
                _ => false,
            },
        };
        match self.op {
            Op::Eq => v.matches_eq(c),
            Op::Ne => !v.matches_eq(c),
            Op::Lt => lt(v, c),
            Op::Gt => lt(c, v),
            Op::Ge => !lt(v, c),
            Op::Le => !lt(c, v),
            Op::Pessimistic => c
                .components
                .iter()
                .enumerate()
                .all(|(i, ci)| v.components.get(i).copied().unwrap_or(0.0) == *ci),
        }
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.op.as_str(), self.version)
    }
}

/// Several constraints that must all hold (`>= 1.0, < 2.0`). Empty means any version.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Constraints(pub Vec<Constraint>);

impl Constraints {
    pub fn any() -> Self {
        Constraints(Vec::new())
    }

    /// Parses `>= 1.0, < 2.0`, `1.2` (meaning `== 1.2`), `~> 3`, `!= 1` and `= 1` aliases.
    pub fn parse(text: &str) -> Result<Constraints, VersionError> {
        let mut out = Vec::new();
        let mut rest = text.trim();
        while !rest.is_empty() {
            rest = rest.strip_prefix('@').unwrap_or(rest);
            let op_len = rest
                .find(|c: char| !matches!(c, '<' | '>' | '=' | '~' | '!'))
                .unwrap_or(rest.len());
            let op = match &rest[..op_len] {
                "" | "==" | "=" => Op::Eq,
                "~=" | "!=" => Op::Ne,
                ">=" => Op::Ge,
                ">" => Op::Gt,
                "<=" => Op::Le,
                "<" => Op::Lt,
                "~>" => Op::Pessimistic,
                other => {
                    return Err(VersionError::new(format!(
                        "invalid constraint '{}': unknown operator '{other}' (use ==, ~=, >=, >, <=, < or ~>)",
                        text.trim()
                    )))
                }
            };
            rest = rest[op_len..].trim_start();
            let end = rest
                .find(|c: char| c == ',' || c.is_whitespace())
                .unwrap_or(rest.len());
            if end == 0 {
                return Err(VersionError::new(format!(
                    "invalid constraint '{}': operator '{}' has no version after it",
                    text.trim(),
                    op.as_str()
                )));
            }
            let version = Version::parse(&rest[..end]).map_err(|e| {
                VersionError::new(format!(
                    "invalid constraint '{}': {}",
                    text.trim(),
                    e.message
                ))
            })?;
            out.push(Constraint { op, version });
            rest = rest[end..].trim_start_matches(|c: char| c == ',' || c.is_whitespace());
        }
        Ok(Constraints(out))
    }

    pub fn is_any(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `v` satisfies every constraint.
    pub fn matches(&self, v: &Version) -> bool {
        self.0.iter().all(|c| c.matches(v))
    }

    /// The same set as a range of the resolver's total order.
    pub fn to_range(&self) -> Range {
        self.0.iter().fold(Range::full(), |acc, c| {
            acc.intersection(&constraint_range(c))
        })
    }
}

impl fmt::Display for Constraints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("any version");
        }
        let parts: Vec<String> = self.0.iter().map(|c| c.to_string()).collect();
        f.write_str(&parts.join(", "))
    }
}

impl FromStr for Constraints {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Constraints::parse(s)
    }
}

/// A set of versions as the resolver sees it.
pub type Range = version_ranges::Ranges<Version>;

/// The set of versions a constraint accepts. LuaRocks compares revisions only when both
/// versions have one, so the versions equal to a constraint version without a revision are
/// its whole block of revisions (from the release without a revision to the last revision),
/// and those equal to one with a revision are that version and the release without a
/// revision (`== 1.0-1` and `>= 1.0-1` accept `1.0`, `< 1.0-1` does not).
fn constraint_range(c: &Constraint) -> Range {
    let v = &c.version;
    let (equal, last) = match v.revision {
        None => {
            let last = v.with_revision(i64::MAX);
            (Range::between_inclusive(v.clone(), last.clone()), last)
        }
        Some(_) => (
            Range::singleton(v.clone()).union(&Range::singleton(v.without_revision())),
            v.clone(),
        ),
    };
    let below = Range::strictly_lower_than(v.clone()).intersection(&equal.complement());
    let above = Range::strictly_higher_than(last);
    match c.op {
        Op::Eq => equal,
        Op::Ne => equal.complement(),
        Op::Lt => below,
        Op::Ge => below.complement(),
        Op::Gt => above,
        Op::Le => above.complement(),
        Op::Pessimistic => {
            let (low, high) = v.pessimistic_bounds();
            Range::between(low, high)
        }
    }
}

trait BetweenInclusive {
    fn between_inclusive(a: Version, b: Version) -> Self;
}
impl BetweenInclusive for Range {
    fn between_inclusive(a: Version, b: Version) -> Self {
        Range::higher_than(a).intersection(&Range::lower_than(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }
    fn c(s: &str) -> Constraints {
        Constraints::parse(s).unwrap()
    }

    #[test]
    fn ordering_follows_luarocks() {
        // Each is strictly lower than the next (from LuaRocks' own version tests).
        let ordered = [
            "0.9", "1.0alpha", "1.0beta", "1.0pre", "1.0rc1", "1.0-1", "1.0-2", "1.0.1-1", "1.1",
            "1.2", "1.10", "2", "2.0.1", "10.0", "cvs-1", "scm-1", "dev-1",
        ];
        for pair in ordered.windows(2) {
            assert!(v(pair[0]) < v(pair[1]), "{} < {}", pair[0], pair[1]);
            assert!(v(pair[1]) > v(pair[0]));
        }
        assert_eq!(v("1.0"), v("1"));
        assert_eq!(v("1.0.0"), v("1"));
        assert_eq!(v("1_2"), v("1.2"));
        assert!(v("scm-1").is_development());
        assert!(!v("1.0-1").is_development());
    }

    #[test]
    fn bad_versions_say_why() {
        assert!(Version::parse("").unwrap_err().message.contains("empty"));
        let e = Version::parse("1.0+x").unwrap_err();
        assert!(e.message.contains("unexpected '+'"), "{}", e.message);
        assert!(Version::parse(&"1".repeat(300)).is_err());
        assert!(Version::parse("1.0-99999999999999999999999").is_err());
    }

    #[test]
    fn matching_follows_luarocks() {
        let cases: &[(&str, &str, bool)] = &[
            ("1.0-1", "== 1.0", true),
            ("1.0-2", "1.0", true),
            ("1.0-2", "== 1.0-1", false),
            ("1.0-1", "~= 1.0", false),
            ("1.1-1", "~= 1.0", true),
            ("1.0-1", "> 1.0", false),
            ("1.0-1", ">= 1.0", true),
            ("1.0-1", "< 1.0", false),
            ("1.0-1", "<= 1.0", true),
            ("1.0-2", "> 1.0-1", true),
            ("1.2.9-3", "~> 1.2", true),
            ("1.2-1", "~> 1.2", true),
            ("1.3-1", "~> 1.2", false),
            ("2.0-1", "~> 1", false),
            ("1.99-1", "~> 1", true),
            ("5.3", ">= 5.1, < 5.5", true),
            ("5.5", ">= 5.1, < 5.5", false),
            ("2.0rc1-1", ">= 2.0", false),
            ("scm-1", ">= 1.0", true),
        ];
        for (version, constraint, expected) in cases {
            assert_eq!(
                c(constraint).matches(&v(version)),
                *expected,
                "{version} {constraint}"
            );
            // The range used by the resolver agrees with the direct rule.
            assert_eq!(
                c(constraint).to_range().contains(&v(version)),
                *expected,
                "range: {version} {constraint}"
            );
        }
    }

    /// Asserts LuaRocks' rule and the resolver's range both give `expected`.
    fn check(constraint: &str, version: &str, expected: bool) {
        assert_eq!(
            c(constraint).matches(&v(version)),
            expected,
            "{version} {constraint}"
        );
        assert_eq!(
            c(constraint).to_range().contains(&v(version)),
            expected,
            "range: {version} {constraint}"
        );
    }

    #[test]
    fn pessimistic_range_is_exactly_the_leading_components() {
        // Found by the constraint fuzzer: `~> 2` accepts `2.0rc1` (2, 0, rc, 1), which
        // sorts below `2`, and `~> r` (r counts as 0.114) accepted `1.0` in its range.
        check("~> 2", "2.0rc1-1", true);
        check("~>2", "2.0alpha", true);
        check("~> 2", "3.0rc1-1", false);
        check("~> 1.2", "1.2rc1-1", true);
        check("~> 1.2", "1.3rc1-1", false);
        check("~> 1.2", "1.2.9-3", true);
        check("~>r", "1.0-1", false);
        check("~>r", "r.5", true);
        check("~> 0", "a", false);
        check("~> 0", "0.9rc2", true);
        check("~> scm", "scm-1", true);
        check("~> rc", "0", false);
        let range = c("~> 1.2").to_range();
        assert!(range.contains(&v("1.2")) && !range.contains(&v("1.3")));
    }

    #[test]
    fn a_version_without_revision_equals_every_revision() {
        // Found by the constraint fuzzer: `0-1` (`== 0-1`) accepts `0` in LuaRocks (it
        // compares revisions only when both versions have one) but its range did not, as
        // `0` sorted as `0-0`.
        check("0-1", "0", true);
        check("== 5.4-1", "5.4", true);
        check("== 5.4-2", "5.4", true);
        check("~= 5.4-1", "5.4", false);
        check(">= 5.4-1", "5.4", true);
        check("> 5.4-0", "5.4", false);
        check("<= 5.4-1", "5.4", true);
        check("< 5.4-1", "5.4", false);
        check("< 5.4-1", "5.3", true);
        check(">= 00, != 0-1", "0", false);
        // An explicit revision 0 is a revision like any other.
        check("== 1.0-1", "1.0-0", false);
        check("< 1.0-1", "1.0-0", true);
        check("== 1.0-0", "1.0", true);
        assert_ne!(v("1.0"), v("1.0-0"));
        assert!(v("1.0") < v("1.0-0") && v("1.0-0") < v("1.0-1"));
    }

    #[test]
    fn constraint_syntax() {
        assert_eq!(c(">=1.0,<2").0.len(), 2);
        assert_eq!(c("  >= 1.0 ,  < 2.0 ").to_string(), ">= 1.0, < 2.0");
        assert_eq!(c("!= 1").0[0].op, Op::Ne);
        assert_eq!(c("= 1").0[0].op, Op::Eq);
        assert!(c("").is_any());
        let e = Constraints::parse("=> 1").unwrap_err();
        assert!(e.message.contains("unknown operator '=>'"), "{}", e.message);
        let e = Constraints::parse(">=").unwrap_err();
        assert!(e.message.contains("no version after it"), "{}", e.message);
    }
}
