//! Usage analytics, local only: which modules a project's code requires, which of those
//! failed to load, and in how many runs — kept in `.pylua/usage/` of the project, read by
//! `recommend`, never sent anywhere (`usage-analytics = false` in `config.toml` turns it off).
//!
//! Recording costs two tiny chunks per run: [`TRACKER`] puts a searcher first in
//! `package.searchers` (`package.loaders` on 5.1) that notes each name `require` looks up and
//! finds nothing itself, so only modules not loaded yet reach it; [`COLLECTOR`] reads the
//! names back after the run and checks which of them `package.loaded` holds. Counts are per
//! run (a module required ten times in one run counts once).
//!
//! On disk a run is one line appended to `usage/log` (`O_APPEND`, one write), so concurrent
//! runs never lose each other's lines and a run never waits on a rename: replacing a file by
//! rename makes ext4 flush it first, which under I/O load costs a run tens of milliseconds.
//! When the log passes [`COMPACT_AT`] bytes, one run (holding `usage/lock`) renames it aside
//! and folds it into `usage/summary.json`.
//!
//! The files are input like any other: read into checked types and bounded; a malformed log
//! line is skipped and a damaged summary is started afresh.

use crate::packages::cache::write_atomic;
use crate::packages::names::ModuleName;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Runs before the code: installs the recording searcher. Harmless where `package` is
/// absent (the strict sandbox).
pub const TRACKER: &str = r#"
local searchers = type(package) == "table" and (package.searchers or package.loaders)
if type(searchers) == "table" then
  local seen, order, marker = {}, {}, {}
  table.insert(searchers, 1, function(name)
    if type(name) == "string" then
      if not seen[name] and #order < 10000 then seen[name] = true; order[#order + 1] = name end
    elseif type(name) == "table" and name.pylua_usage then
      return order
    end
    return nil
  end)
end
"#;

/// Runs after the code: returns the names required and, for each, whether it is loaded.
pub const COLLECTOR: &str = r#"
local searchers = type(package) == "table" and (package.searchers or package.loaders)
if type(searchers) ~= "table" or type(searchers[1]) ~= "function" then return {}, {} end
local ok, order = pcall(searchers[1], { pylua_usage = true })
if not ok or type(order) ~= "table" then return {}, {} end
local loaded = {}
for i, name in ipairs(order) do loaded[i] = package.loaded[name] ~= nil end
return order, loaded
"#;

/// What one run required: each name, and whether it loaded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunUsage {
    pub required: Vec<(ModuleName, bool)>,
}

impl RunUsage {
    /// Reads the two values [`COLLECTOR`] returns; names that are not module names are
    /// dropped.
    pub fn from_collected(values: &[serde_json::Value]) -> RunUsage {
        let list = |i: usize| {
            values
                .get(i)
                .and_then(|v| v.as_array())
                .cloned()
                .unwrap_or_default()
        };
        let (names, loaded) = (list(0), list(1));
        let required = names
            .iter()
            .enumerate()
            .filter_map(|(i, n)| {
                let name = ModuleName::parse(n.as_str()?).ok()?;
                Some((
                    name,
                    loaded.get(i).and_then(|b| b.as_bool()).unwrap_or(false),
                ))
            })
            .take(MAX_MODULES)
            .collect();
        RunUsage { required }
    }

    /// Adds the module a "module not found" error names (the run stopped there, so the
    /// collector may not have seen it, e.g. when the code replaced `package.searchers`).
    pub fn add_failure(&mut self, module: ModuleName) {
        match self.required.iter_mut().find(|(m, _)| *m == module) {
            Some(entry) => entry.1 = false,
            None => self.required.push((module, false)),
        }
    }
}

/// At most this many modules are kept in a project's record.
const MAX_MODULES: usize = 10_000;
/// Largest summary or log read.
const MAX_FILE: u64 = 16 << 20;
/// The log is folded into the summary once it is this long.
pub const COMPACT_AT: u64 = 256 << 10;
const FORMAT: u32 = 1;
const SUMMARY: &str = "summary.json";
const LOG: &str = "log";
const FOLDING: &str = "log.folding";
const LOCK: &str = "lock";

/// One module's record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleUsage {
    /// Runs that required it.
    pub runs: u64,
    /// Runs in which it did not load.
    pub failures: u64,
    /// When it was last required (seconds since the Unix epoch).
    pub last: u64,
}

/// A project's usage record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// Runs recorded.
    pub runs: u64,
    pub modules: BTreeMap<ModuleName, ModuleUsage>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SummaryFile {
    version: u32,
    runs: u64,
    modules: BTreeMap<String, ModuleUsage>,
}

#[derive(Serialize)]
struct SummaryOut<'a> {
    version: u32,
    runs: u64,
    modules: &'a BTreeMap<ModuleName, ModuleUsage>,
}

/// The usage directory of the project whose tree is `tree_dir` (`.pylua/usage`).
pub fn usage_dir(tree_dir: &Path) -> PathBuf {
    tree_dir.join(crate::project::USAGE_DIR)
}

fn read_bounded(path: &Path) -> Result<Option<String>, String> {
    use std::io::Read;
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let mut bytes = Vec::new();
    file.take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(format!(
            "{}: larger than {} MiB",
            path.display(),
            MAX_FILE >> 20
        ));
    }
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

impl Usage {
    /// The record in `dir` (see [`usage_dir`]): the summary plus the log not folded into it
    /// yet. A missing record is empty; a damaged summary is an error naming the file.
    pub fn load(dir: &Path) -> Result<Usage, String> {
        let mut usage = Usage::load_summary(&dir.join(SUMMARY))?;
        for log in [FOLDING, LOG] {
            if let Some(text) = read_bounded(&dir.join(log))? {
                usage.fold_log(&text);
            }
        }
        Ok(usage)
    }

    fn load_summary(path: &Path) -> Result<Usage, String> {
        let Some(text) = read_bounded(path)? else {
            return Ok(Usage::default());
        };
        let raw: SummaryFile =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        if raw.version != FORMAT {
            return Err(format!(
                "{}: unknown format version {}",
                path.display(),
                raw.version
            ));
        }
        let mut usage = Usage {
            runs: raw.runs,
            modules: BTreeMap::new(),
        };
        for (name, record) in raw.modules.into_iter().take(MAX_MODULES) {
            let name = ModuleName::parse(&name).map_err(|e| format!("{}: {e}", path.display()))?;
            usage.modules.insert(name, record);
        }
        Ok(usage)
    }

    /// Adds the runs of a log: `TIME<TAB>loaded,modules<TAB>failed,modules` per line; lines
    /// that are not that are skipped.
    fn fold_log(&mut self, text: &str) {
        for line in text.lines() {
            let fields: Vec<&str> = line.split('\t').collect();
            let [time, loaded, failed] = fields.as_slice() else {
                continue;
            };
            let Ok(time) = time.parse::<u64>() else {
                continue;
            };
            let names = |list: &str| -> Option<Vec<ModuleName>> {
                list.split(',')
                    .filter(|s| !s.is_empty())
                    .map(|s| ModuleName::parse(s).ok())
                    .collect()
            };
            let (Some(loaded), Some(failed)) = (names(loaded), names(failed)) else {
                continue;
            };
            let run = RunUsage {
                required: loaded
                    .into_iter()
                    .map(|m| (m, true))
                    .chain(failed.into_iter().map(|m| (m, false)))
                    .collect(),
            };
            self.add(&run, time);
        }
    }

    /// Adds one run.
    pub fn add(&mut self, run: &RunUsage, now: u64) {
        self.runs = self.runs.saturating_add(1);
        for (name, loaded) in &run.required {
            if self.modules.len() >= MAX_MODULES && !self.modules.contains_key(name) {
                continue;
            }
            let entry = self.modules.entry(name.clone()).or_default();
            entry.runs = entry.runs.saturating_add(1);
            if !loaded {
                entry.failures = entry.failures.saturating_add(1);
            }
            entry.last = entry.last.max(now);
        }
    }

    fn save_summary(&self, path: &Path) -> std::io::Result<()> {
        let out = SummaryOut {
            version: FORMAT,
            runs: self.runs,
            modules: &self.modules,
        };
        let text = serde_json::to_string_pretty(&out).map_err(std::io::Error::other)?;
        write_atomic(path, text.as_bytes())
    }
}

/// Appends `run` to the record in `dir`, folding the log into the summary when it is long.
pub fn record(dir: &Path, run: &RunUsage) -> std::io::Result<()> {
    use std::io::Write;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let list = |loaded: bool| {
        run.required
            .iter()
            .filter(|(_, l)| *l == loaded)
            .map(|(m, _)| m.as_str())
            .collect::<Vec<_>>()
            .join(",")
    };
    let line = format!("{now}\t{}\t{}\n", list(true), list(false));
    std::fs::create_dir_all(dir)?;
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(LOG))?;
    log.write_all(line.as_bytes())?;
    if log.metadata()?.len() >= COMPACT_AT {
        compact(dir)?;
    }
    Ok(())
}

/// Folds the log into the summary, unless another process is doing it.
pub fn compact(dir: &Path) -> std::io::Result<()> {
    use fs4::fs_std::FileExt;
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(LOCK))?;
    if !lock.try_lock_exclusive().unwrap_or(false) {
        return Ok(());
    }
    let folding = dir.join(FOLDING);
    // A fold a killed process left half done is finished first.
    if !folding.exists() {
        match std::fs::rename(dir.join(LOG), &folding) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    let summary = dir.join(SUMMARY);
    let mut usage = Usage::load_summary(&summary).unwrap_or_else(|e| {
        tracing::warn!("usage summary started afresh: {e}");
        Usage::default()
    });
    if let Some(text) = read_bounded(&folding).map_err(std::io::Error::other)? {
        usage.fold_log(&text);
    }
    usage.save_summary(&summary)?;
    std::fs::remove_file(&folding)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn records_runs_and_refuses_damage() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path().join("usage");
        let mut run = RunUsage::from_collected(&[
            json!(["lfs", "../x", "pl.path"]),
            json!([false, true, true]),
        ]);
        assert_eq!(run.required.len(), 2);
        run.add_failure(ModuleName::parse("cjson").unwrap());
        record(&dir, &run).unwrap();
        record(&dir, &run).unwrap();
        let check = |usage: &Usage, runs: u64| {
            assert_eq!(usage.runs, runs);
            let lfs = &usage.modules[&ModuleName::parse("lfs").unwrap()];
            assert_eq!((lfs.runs, lfs.failures), (runs, runs));
            let pl = &usage.modules[&ModuleName::parse("pl.path").unwrap()];
            assert_eq!((pl.runs, pl.failures), (runs, 0));
        };
        check(&Usage::load(&dir).unwrap(), 2);
        compact(&dir).unwrap();
        assert!(!dir.join(LOG).exists());
        record(&dir, &run).unwrap();
        check(&Usage::load(&dir).unwrap(), 3);

        // Malformed log lines are skipped.
        std::fs::write(
            dir.join(LOG),
            "x\ty\n1\t../a\t\n1\tok\tbad,\u{0}\n5\tgood\t\n",
        )
        .unwrap();
        let usage = Usage::load(&dir).unwrap();
        assert_eq!(usage.runs, 3);
        assert!(usage
            .modules
            .contains_key(&ModuleName::parse("good").unwrap()));
        assert_eq!(usage.runs, 3, "only the last log line counts");

        for bad in [
            r#"{"version":1,"runs":1,"modules":{"../x":{"runs":1,"failures":0,"last":0}}}"#,
            r#"{"version":9,"runs":1,"modules":{}}"#,
            r#"{"version":1,"runs":-1,"modules":{}}"#,
            "not json",
        ] {
            std::fs::write(dir.join(SUMMARY), bad).unwrap();
            assert!(Usage::load(&dir).is_err(), "{bad}");
        }
        // A damaged summary is replaced when the log is folded, not fatal.
        compact(&dir).unwrap();
        assert_eq!(Usage::load(&dir).unwrap().runs, 1);
    }

    #[test]
    fn the_tracker_sees_requires_and_failures() {
        let mut vm = crate::runtime::Vm::builder()
            .sandbox(crate::runtime::Sandbox::None)
            .build()
            .unwrap();
        vm.exec(TRACKER, "tracker").unwrap();
        vm.exec(
            "package.preload['present'] = function() return 1 end
             require 'present'; require 'present'; pcall(require, 'absent.mod')",
            "main",
        )
        .unwrap();
        let values = vm.exec(COLLECTOR, "collector").unwrap();
        let run = RunUsage::from_collected(&values);
        let names: Vec<(String, bool)> = run
            .required
            .iter()
            .map(|(m, l)| (m.to_string(), *l))
            .collect();
        assert_eq!(
            names,
            [
                ("present".to_string(), true),
                ("absent.mod".to_string(), false)
            ]
        );
    }
}
