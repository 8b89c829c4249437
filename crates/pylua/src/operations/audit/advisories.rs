//! Security advisories in the OSV format (<https://ossf.github.io/osv-schema/>) for the
//! `LuaRocks` ecosystem: read from directories of `.json` records, single files (one record,
//! an array, or `{"vulns": [...]}`) or URLs (cached; the cached copy is used when the URL
//! cannot be reached), plus a small built-in set. Records are data from outside: sizes and
//! counts are bounded, and a record that does not parse is an error naming its source.

use crate::packages::version::Version;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The largest advisory file read.
const MAX_FILE: u64 = 64 << 20;
/// The most records read from all sources.
const MAX_RECORDS: usize = 200_000;

/// Advisories shipped with pylua, for the Lua interpreters themselves (the `lua` dependency
/// every rockspec names). Version ranges are those of the upstream releases; a distribution
/// may ship a patched build under an affected version number.
const BUILT_IN: &str = include_str!("builtin_advisories.json");

#[derive(Debug, Deserialize)]
struct Record {
    id: String,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    details: String,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    severity: Vec<RecordSeverity>,
    #[serde(default)]
    affected: Vec<Affected>,
    #[serde(default)]
    database_specific: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct RecordSeverity {
    #[serde(rename = "type")]
    kind: String,
    score: String,
}

#[derive(Debug, Deserialize)]
struct Affected {
    package: AffectedPackage,
    #[serde(default)]
    ranges: Vec<Range>,
    #[serde(default)]
    versions: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct AffectedPackage {
    ecosystem: String,
    name: String,
}

#[derive(Debug, Deserialize)]
struct Range {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    events: Vec<Event>,
}

#[derive(Debug, Default, Deserialize)]
struct Event {
    introduced: Option<String>,
    fixed: Option<String>,
    last_affected: Option<String>,
}

/// One advisory for one package.
#[derive(Debug, Clone, Serialize)]
pub struct Advisory {
    pub id: String,
    pub aliases: Vec<String>,
    pub summary: String,
    /// `CRITICAL`/`HIGH`/… or a CVSS vector, when the record gives one.
    pub severity: Option<String>,
    /// The package, lower-case.
    pub package: String,
    /// Affected spans: (introduced, fixed, last affected); `None` introduced means all.
    #[serde(skip)]
    spans: Vec<(Option<Version>, Option<Version>, Option<Version>)>,
    /// Explicitly listed affected versions.
    #[serde(skip)]
    versions: Vec<String>,
    /// Where the record came from.
    pub source: String,
}

impl Advisory {
    /// Whether `version` is affected.
    pub fn affects(&self, version: &Version) -> bool {
        let text = version.to_string();
        if self
            .versions
            .iter()
            .any(|v| *v == text || Version::parse(v).is_ok_and(|v| v == *version))
        {
            return true;
        }
        self.spans.iter().any(|(introduced, fixed, last)| {
            introduced.as_ref().is_none_or(|i| version >= i)
                && fixed.as_ref().is_none_or(|f| version < f)
                && last.as_ref().is_none_or(|l| version <= l)
        })
    }

    /// The lowest fixed version above `version`, if the record names one.
    pub fn fixed_after(&self, version: &Version) -> Option<Version> {
        self.spans
            .iter()
            .filter_map(|(_, fixed, _)| fixed.clone())
            .filter(|f| f > version)
            .min()
    }
}

/// Where advisories come from.
#[derive(Debug, Clone)]
pub enum Source {
    BuiltIn,
    Path(PathBuf),
    Url(String),
}

impl Source {
    /// A path or a URL, as written in `config.toml` or on the command line.
    pub fn parse(text: &str) -> Source {
        if text.starts_with("https://") || text.starts_with("http://") {
            Source::Url(text.to_string())
        } else {
            Source::Path(PathBuf::from(text.strip_prefix("file://").unwrap_or(text)))
        }
    }

    fn name(&self) -> String {
        match self {
            Source::BuiltIn => "built-in".into(),
            Source::Path(p) => p.display().to_string(),
            Source::Url(u) => u.clone(),
        }
    }
}

/// Loads every `LuaRocks` advisory from `sources`; `cache` holds downloaded copies.
pub fn load(sources: &[Source], cache: &Path) -> Result<Vec<Advisory>, String> {
    let mut out = Vec::new();
    let mut records = 0;
    for source in sources {
        let texts: Vec<(String, Vec<u8>)> = match source {
            Source::BuiltIn => vec![("built-in".into(), BUILT_IN.as_bytes().to_vec())],
            Source::Path(p) if p.is_dir() => {
                let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                    .map_err(|e| format!("{}: {e}", p.display()))?
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "json"))
                    .collect();
                files.sort();
                let mut texts = Vec::new();
                for f in files {
                    texts.push((f.display().to_string(), read_bounded(&f)?));
                }
                texts
            }
            Source::Path(p) => vec![(p.display().to_string(), read_bounded(p)?)],
            Source::Url(url) => vec![(url.clone(), fetch_cached(url, cache)?)],
        };
        for (name, bytes) in texts {
            let value: serde_json::Value =
                serde_json::from_slice(&bytes).map_err(|e| format!("{name}: not JSON: {e}"))?;
            let list = match value {
                serde_json::Value::Array(a) => a,
                serde_json::Value::Object(mut o) if o.contains_key("vulns") => {
                    match o.remove("vulns") {
                        Some(serde_json::Value::Array(a)) => a,
                        _ => return Err(format!("{name}: 'vulns' is not a list")),
                    }
                }
                other => vec![other],
            };
            records += list.len();
            if records > MAX_RECORDS {
                return Err(format!("{name}: more than {MAX_RECORDS} advisories"));
            }
            for item in list {
                let record: Record = serde_json::from_value(item)
                    .map_err(|e| format!("{name}: not an OSV record: {e}"))?;
                out.extend(from_record(record, &name)?);
            }
        }
    }
    let _ = source_names(sources);
    Ok(out)
}

/// The names of `sources`, for reports.
pub fn source_names(sources: &[Source]) -> Vec<String> {
    sources.iter().map(Source::name).collect()
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, String> {
    crate::packages::cache::read_bounded(path, MAX_FILE)
}

fn fetch_cached(url: &str, cache: &Path) -> Result<Vec<u8>, String> {
    use sha2::{Digest, Sha256};
    let key: String = Sha256::digest(url.as_bytes())
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    let cached = cache.join("advisories").join(format!("{key}.json"));
    match crate::packages::server::fetch_url(url) {
        Ok(bytes) if bytes.len() as u64 <= MAX_FILE => {
            let _ = crate::packages::cache::write_atomic(&cached, &bytes);
            Ok(bytes)
        }
        Ok(_) => Err(format!("{url}: larger than {} MiB", MAX_FILE >> 20)),
        Err(e) => match std::fs::read(&cached) {
            Ok(bytes) => {
                tracing::warn!("{url}: {e}; using the copy cached in {}", cached.display());
                Ok(bytes)
            }
            Err(_) => Err(format!("{url}: {e}")),
        },
    }
}

fn from_record(record: Record, source: &str) -> Result<Vec<Advisory>, String> {
    let severity = record
        .severity
        .first()
        .map(|s| format!("{} {}", s.kind, s.score))
        .or_else(|| {
            record
                .database_specific
                .as_ref()
                .and_then(|d| d.get("severity"))
                .and_then(|s| s.as_str())
                .map(str::to_string)
        });
    let summary = if record.summary.is_empty() {
        record
            .details
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()
    } else {
        record.summary.clone()
    };
    let mut out = Vec::new();
    for affected in record.affected {
        if !affected.package.ecosystem.eq_ignore_ascii_case("luarocks") {
            continue;
        }
        let parse = |v: &Option<String>| -> Result<Option<Version>, String> {
            match v.as_deref() {
                None | Some("0") => Ok(None),
                Some(text) => Version::parse(text).map(Some).map_err(|e| {
                    format!("{source}: {}: version {text:?}: {}", record.id, e.message)
                }),
            }
        };
        let mut spans = Vec::new();
        for range in affected.ranges.iter().filter(|r| r.kind == "ECOSYSTEM") {
            let mut introduced: Option<Option<Version>> = None;
            for event in &range.events {
                if event.introduced.is_some() {
                    introduced = Some(parse(&event.introduced)?);
                }
                if event.fixed.is_some() || event.last_affected.is_some() {
                    let start = introduced.take().unwrap_or(None);
                    spans.push((start, parse(&event.fixed)?, parse(&event.last_affected)?));
                }
            }
            if let Some(start) = introduced {
                spans.push((start, None, None));
            }
        }
        out.push(Advisory {
            id: record.id.clone(),
            aliases: record.aliases.clone(),
            summary: summary.clone(),
            severity: severity.clone(),
            package: affected.package.name.to_ascii_lowercase(),
            spans,
            versions: affected.versions,
            source: source.to_string(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn ranges_and_versions_decide_what_is_affected() {
        let record = r#"{"id": "TEST-1", "summary": "s", "affected": [{"package": {"ecosystem": "LuaRocks", "name": "Foo"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "1.0"}, {"fixed": "1.2"}, {"introduced": "2.0"}]}],
            "versions": ["0.9-1"]}]}"#;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.json"), record).unwrap();
        let all = load(&[Source::Path(dir.path().to_path_buf())], dir.path()).unwrap();
        assert_eq!(all.len(), 1);
        let a = &all[0];
        assert_eq!(a.package, "foo");
        assert!(a.affects(&v("1.0-1")) && a.affects(&v("1.1")) && !a.affects(&v("1.2-1")));
        assert!(a.affects(&v("2.5")) && a.affects(&v("0.9-1")) && !a.affects(&v("0.8")));
        assert_eq!(a.fixed_after(&v("1.1")), Some(v("1.2")));
    }

    #[test]
    fn the_built_in_set_parses_and_hostile_files_are_errors() {
        let all = load(&[Source::BuiltIn], Path::new("/nonexistent")).unwrap();
        assert!(all.iter().all(|a| a.package == "lua"), "{all:?}");
        assert!(all.iter().any(|a| a.affects(&v("5.4.3"))));
        assert!(!all.iter().any(|a| a.affects(&v("5.4.7"))));
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in [
            ("bad.json", "{"),
            ("notosv.json", "[1, 2]"),
            ("zero", "/dev/zero"),
            (
                "badversion.json",
                r#"{"id": "X", "affected": [{"package": {"ecosystem": "LuaRocks", "name": "a"}, "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "one two"}]}]}]}"#,
            ),
        ] {
            let f = if name == "zero" {
                std::path::PathBuf::from(text)
            } else {
                let f = dir.path().join(name);
                std::fs::write(&f, text).unwrap();
                f
            };
            assert!(load(&[Source::Path(f)], dir.path()).is_err(), "{name}");
        }
    }
}
