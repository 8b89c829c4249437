//! What `pylua test` and `pylua bench` found, kept per project (`.pylua/checks/`) so the
//! doctor can judge with it: a package whose own tests fail on the project's Lua, a package
//! slow to load. Written atomically; a damaged record is ignored and replaced.

use super::bench::PackageBench;
use super::test::TestReport;
use crate::project::{Project, CHECKS_DIR};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A package's last test run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TestRecord {
    pub version: String,
    pub lua: String,
    pub ok: bool,
    pub passed: usize,
    pub failed: usize,
    pub errors: usize,
}

/// A package's last load benchmark: the slowest module's cold `require`, in ms.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchRecord {
    pub version: String,
    pub lua: String,
    pub slowest_module: String,
    pub cold_ms: f64,
}

fn path(project: &Project, name: &str) -> PathBuf {
    project.tree_dir().join(CHECKS_DIR).join(name)
}

fn read<T: for<'de> Deserialize<'de>>(project: &Project, name: &str) -> BTreeMap<String, T> {
    std::fs::read(path(project, name))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn write<T: Serialize>(project: &Project, name: &str, map: &BTreeMap<String, T>) {
    let bytes = serde_json::to_vec_pretty(map).unwrap_or_default();
    if let Err(e) = crate::packages::cache::write_atomic(&path(project, name), &bytes) {
        tracing::warn!("{}: not written: {e}", path(project, name).display());
    }
}

pub fn tests(project: &Project) -> BTreeMap<String, TestRecord> {
    read(project, "tests.json")
}

pub fn benches(project: &Project) -> BTreeMap<String, BenchRecord> {
    read(project, "bench.json")
}

/// Adds test runs on `lua` to the project's record.
pub fn record_tests(project: &Project, lua: &str, reports: &[TestReport]) {
    let mut map = tests(project);
    for r in reports
        .iter()
        .filter(|r| r.problem.is_none() && !r.version.is_empty())
    {
        map.insert(
            r.package.to_ascii_lowercase(),
            TestRecord {
                version: r.version.clone(),
                lua: lua.to_string(),
                ok: r.ok,
                passed: r.passed,
                failed: r.failed,
                errors: r.errors,
            },
        );
    }
    write(project, "tests.json", &map);
}

/// Adds load benchmarks to the project's record.
pub fn record_benches(project: &Project, benches: &[PackageBench]) {
    let mut map = self::benches(project);
    for b in benches {
        let slowest = b
            .modules
            .iter()
            .filter(|m| m.error.is_none())
            .max_by(|a, c| a.cold_ms.median.total_cmp(&c.cold_ms.median));
        if let Some(m) = slowest {
            map.insert(
                b.package.to_ascii_lowercase(),
                BenchRecord {
                    version: b.version.clone(),
                    lua: b.lua.as_str().to_string(),
                    slowest_module: m.module.clone(),
                    cold_ms: m.cold_ms.median,
                },
            );
        }
    }
    write(project, "bench.json", &map);
}
