//! The history of a project's environment: one record per transaction (add, remove, lock,
//! update, sync, profile use, import, rollback) in `.pylua/history/`, with its time, command,
//! outcome, duration, the package changes, and the project and lock files before and after —
//! everything `rollback` needs to put the environment back as it was.

use serde::{Deserialize, Serialize};
use std::fs;
use std::path::{Path, PathBuf};

/// The project and lock files at one moment (`None`: the file did not exist).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub project: Option<String>,
    pub lock: Option<String>,
}

/// One package whose locked version a transaction changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageChange {
    pub name: String,
    /// The version before (None: it was added).
    pub from: Option<String>,
    /// The version after (None: it was removed).
    pub to: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub id: u64,
    /// RFC 3339, UTC.
    pub time: String,
    /// The command as the user would type it, e.g. `add penlight@>=1.13`.
    pub command: String,
    /// `ok`, or `failed: why`.
    pub outcome: String,
    pub seconds: f64,
    pub changes: Vec<PackageChange>,
    pub before: Snapshot,
    pub after: Snapshot,
}

impl Record {
    pub fn succeeded(&self) -> bool {
        self.outcome == "ok"
    }
}

/// The history directory of one project.
#[derive(Debug, Clone)]
pub struct History {
    dir: PathBuf,
}

impl History {
    pub fn new(dir: impl Into<PathBuf>) -> History {
        History { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, id: u64) -> PathBuf {
        self.dir.join(format!("{id:06}.json"))
    }

    /// Every record, oldest first. Unreadable records are reported, not skipped.
    pub fn list(&self) -> Result<Vec<Record>, String> {
        let mut ids = self.ids()?;
        ids.sort_unstable();
        ids.into_iter().map(|id| self.get(id)).collect()
    }

    fn ids(&self) -> Result<Vec<u64>, String> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(format!("{}: {e}", self.dir.display())),
        };
        Ok(entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                e.file_name()
                    .to_str()?
                    .strip_suffix(".json")?
                    .parse::<u64>()
                    .ok()
            })
            .collect())
    }

    /// One record.
    pub fn get(&self, id: u64) -> Result<Record, String> {
        let path = self.path(id);
        let text = fs::read_to_string(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                format!("there is no transaction {id} in the history")
            }
            _ => format!("{}: {e}", path.display()),
        })?;
        serde_json::from_str(&text)
            .map_err(|e| format!("{}: damaged history record: {e}", path.display()))
    }

    /// Appends a record, giving it the next id. Callers hold the project lock.
    pub fn append(&self, mut record: Record) -> Result<Record, String> {
        record.id = self.ids()?.into_iter().max().unwrap_or(0) + 1;
        let text = serde_json::to_string_pretty(&record).expect("records serialize");
        crate::packages::cache::write_atomic(&self.path(record.id), text.as_bytes())
            .map_err(|e| format!("{}: {e}", self.dir.display()))?;
        Ok(record)
    }
}

/// The current time as RFC 3339 (UTC, seconds).
pub fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// What changed between two locks' package sets (name → version), sorted by name.
pub fn diff(
    before: &std::collections::BTreeMap<String, String>,
    after: &std::collections::BTreeMap<String, String>,
) -> Vec<PackageChange> {
    let mut names: Vec<&String> = before.keys().chain(after.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter(|n| before.get(*n) != after.get(*n))
        .map(|n| PackageChange {
            name: n.clone(),
            from: before.get(n).cloned(),
            to: after.get(n).cloned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_get_increasing_ids_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::new(dir.path().join("history"));
        assert!(h.list().unwrap().is_empty());
        let rec = Record {
            id: 0,
            time: now(),
            command: "add x".into(),
            outcome: "ok".into(),
            seconds: 0.5,
            changes: vec![],
            before: Snapshot {
                project: Some("a".into()),
                lock: None,
            },
            after: Snapshot {
                project: Some("b".into()),
                lock: Some("l".into()),
            },
        };
        assert_eq!(h.append(rec.clone()).unwrap().id, 1);
        assert_eq!(h.append(rec).unwrap().id, 2);
        let all = h.list().unwrap();
        assert_eq!(all.iter().map(|r| r.id).collect::<Vec<_>>(), vec![1, 2]);
        assert!(all[0].time.ends_with('Z'));
        assert!(h.get(9).unwrap_err().contains("no transaction 9"));
    }

    #[test]
    fn diff_lists_added_removed_changed() {
        let a = [("x".to_string(), "1".to_string()), ("y".into(), "1".into())].into();
        let b = [("y".to_string(), "2".to_string()), ("z".into(), "1".into())].into();
        let d = diff(&a, &b);
        assert_eq!(d.len(), 3);
        assert_eq!(
            (d[0].from.as_deref(), d[0].to.as_deref()),
            (Some("1"), None)
        );
        assert_eq!(
            (d[1].from.as_deref(), d[1].to.as_deref()),
            (Some("1"), Some("2"))
        );
        assert_eq!(
            (d[2].from.as_deref(), d[2].to.as_deref()),
            (None, Some("1"))
        );
    }
}
