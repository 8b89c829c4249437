//! `pylua test`: a package's own test suite run against the installed package, as
//! `luarocks test` does — its rockspec's `test` table (`type = "busted"` with `flags`, or
//! `type = "command"`), else busted when the sources carry `spec/` or `.busted`. Each named
//! package is fetched, its sources unpacked, and it is installed with busted and its
//! `test_dependencies` into a throw-away tree; the suite runs in a child process (the front
//! gives the pylua executable that runs it) with a time limit, and busted's JSON output is
//! counted. In a project, the project's own `spec/` runs with the project's busted.

use super::install::{
    destination, install, unpack_sources, InstallError, InstallOptions, Launcher,
};
use super::query::{plan, ServerOptions};
use crate::interpreters::LuaVersion;
use crate::packages::rockspec::Rockspec;
use crate::packages::version::Version;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How to run tests.
#[derive(Debug, Clone)]
pub struct TestOptions {
    pub servers: ServerOptions,
    /// The Lua to test on (None: the embedded 5.4).
    pub lua: Option<LuaVersion>,
    /// The pylua executable that runs the suites (`pylua run`).
    pub pylua: PathBuf,
    /// How long one suite may run.
    pub timeout: Duration,
    pub jobs: usize,
}

/// How a suite runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Runner {
    Busted { flags: Vec<String> },
    Command { command: String },
}

/// One suite's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct TestReport {
    pub package: String,
    pub version: String,
    pub runner: Option<Runner>,
    pub passed: usize,
    pub failed: usize,
    pub errors: usize,
    pub pending: usize,
    /// The suite ran and nothing failed.
    pub ok: bool,
    pub seconds: f64,
    /// Why the suite could not run or what ended it (a time limit, no tests found).
    pub problem: Option<String>,
    /// The end of what the suite printed, for a failure.
    pub output: String,
}

impl TestReport {
    fn new(package: String, version: String, runner: Option<Runner>) -> TestReport {
        TestReport {
            package,
            version,
            runner,
            passed: 0,
            failed: 0,
            errors: 0,
            pending: 0,
            ok: false,
            seconds: 0.0,
            problem: None,
            output: String::new(),
        }
    }
}

/// Tests `request` (`name` or `name@constraint`): fetch, install into a throw-away tree,
/// run its own suite. The tree and sources are removed afterwards.
pub fn test_package(request: &str, options: &TestOptions) -> Result<TestReport, InstallError> {
    let work = tempfile::Builder::new()
        .prefix("pylua-test-")
        .tempdir()
        .map_err(|e| InstallError::Package(format!("cannot make a work directory: {e}")))?;
    let work = work.path();
    let planned = plan(&options.servers, &[request.to_string()])?;
    let target = planned
        .packages
        .iter()
        .find(|p| p.requested)
        .ok_or_else(|| InstallError::Package(format!("{request}: nothing to test")))?;
    let (name, version) = (target.name.clone(), target.version.clone());
    let parsed = Version::parse(&version).map_err(|e| InstallError::Package(e.message))?;
    let (spec, source_dir) =
        unpack_sources(&options.servers, &name, &parsed, &work.join("sources"))?;
    let mut report = TestReport::new(
        name.clone(),
        version.clone(),
        runner_for(&spec, &source_dir),
    );
    let Some(runner) = report.runner.clone() else {
        report.problem = Some(
            "no tests found: no test table in the rockspec, no spec/ or .busted in the sources"
                .into(),
        );
        return Ok(report);
    };
    let tree_root = work.join("tree");
    let fetcher = options.servers.fetcher();
    let dest = destination(
        options.lua,
        &tree_root,
        fetcher.root(),
        Launcher::Executable(options.pylua.clone()),
    )?;
    let mut requests = vec![format!("{name}@=={version}")];
    if matches!(runner, Runner::Busted { .. }) {
        requests.push("busted".into());
    }
    requests.extend(
        spec.test_dependencies
            .iter()
            .map(|d| format!("{}@{}", d.name, d.constraints)),
    );
    let install_options = InstallOptions {
        servers: options.servers.clone(),
        tree: dest.tree.clone(),
        target: dest.target,
        launcher: dest.launcher,
        jobs: options.jobs,
        progress: None,
    };
    install(&install_options, &requests)?;
    run_suite(&mut report, &runner, &dest.tree, &source_dir, options);
    Ok(report)
}

/// The project's own suite (`spec/` under its root), with the busted of its tree.
pub fn test_project(
    project_root: &Path,
    tree: &crate::packages::tree::Tree,
    lua: LuaVersion,
    pylua: &Path,
    timeout: Duration,
) -> TestReport {
    let name = project_root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut report = TestReport::new(
        name,
        String::new(),
        Some(Runner::Busted { flags: Vec::new() }),
    );
    let options = TestOptions {
        servers: ServerOptions::default(),
        lua: Some(lua).filter(|v| *v != LuaVersion::Lua54),
        pylua: pylua.to_path_buf(),
        timeout,
        jobs: 0,
    };
    run_suite(
        &mut report,
        &Runner::Busted { flags: Vec::new() },
        tree,
        project_root,
        &options,
    );
    report
}

/// The rockspec's `test` table, else busted when the sources look like a busted project.
fn runner_for(spec: &Rockspec, source_dir: &Path) -> Option<Runner> {
    if let Some(test) = spec.test.as_ref().filter(|t| t.is_object()) {
        let field = |k: &str| test.get(k).and_then(|v| v.as_str()).map(str::to_string);
        match field("type").as_deref() {
            Some("busted") => {
                let flags = test
                    .get("flags")
                    .and_then(|f| f.as_array())
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                return Some(Runner::Busted { flags });
            }
            Some("command") => {
                let command =
                    field("command").or_else(|| field("script").map(|s| format!("lua {s}")))?;
                return Some(Runner::Command { command });
            }
            _ => {}
        }
    }
    (source_dir.join("spec").is_dir() || source_dir.join(".busted").is_file())
        .then(|| Runner::Busted { flags: Vec::new() })
}

fn run_suite(
    report: &mut TestReport,
    runner: &Runner,
    tree: &crate::packages::tree::Tree,
    dir: &Path,
    options: &TestOptions,
) {
    let started = Instant::now();
    let mut cmd = match runner {
        Runner::Busted { flags } => {
            let script = match tree.command_script("busted") {
                Ok(Some(s)) => s,
                _ => {
                    report.problem = Some(format!(
                        "busted is not installed in {}",
                        tree.root().display()
                    ));
                    return;
                }
            };
            let mut cmd = Command::new(&options.pylua);
            cmd.arg("run")
                .arg("--no-project")
                .arg("--tree")
                .arg(tree.root());
            if let Some(lua) = options.lua {
                cmd.arg("--lua").arg(lua.as_str());
            }
            cmd.arg(script).arg("--output=json").args(flags);
            // Suites that start `lua` themselves (argparse's) find the tree too.
            let path = format!("{};;", tree.package_path());
            let cpath = format!("{};;", tree.package_cpath());
            let suffix = tree.lua_version().replace('.', "_");
            cmd.env("LUA_PATH", &path)
                .env(format!("LUA_PATH_{suffix}"), &path)
                .env("LUA_CPATH", &cpath)
                .env(format!("LUA_CPATH_{suffix}"), &cpath);
            cmd
        }
        Runner::Command { command } => {
            let mut cmd = Command::new("/bin/sh");
            cmd.arg("-c").arg(command);
            let path = std::env::var_os("PATH").unwrap_or_default();
            let mut dirs = vec![tree.bin_dir()];
            dirs.extend(std::env::split_paths(&path));
            if let Ok(joined) = std::env::join_paths(dirs) {
                cmd.env("PATH", joined);
            }
            cmd.env("LUA_PATH", format!("{};;", tree.package_path()))
                .env("LUA_CPATH", format!("{};;", tree.package_cpath()));
            cmd
        }
    };
    cmd.current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let output = match run_with_timeout(cmd, options.timeout) {
        Ok(o) => o,
        Err(e) => {
            report.problem = Some(e);
            report.seconds = started.elapsed().as_secs_f64();
            return;
        }
    };
    report.seconds = started.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let success = output.status.success();
    match runner {
        Runner::Busted { .. } => match busted_counts(&stdout) {
            Some((passed, failed, errors, pending, summary)) => {
                report.passed = passed;
                report.failed = failed;
                report.errors = errors;
                report.pending = pending;
                report.ok = failed == 0 && errors == 0;
                if !report.ok {
                    report.output = summary;
                    return;
                }
            }
            None => {
                report.problem = Some("busted printed no JSON report".into());
            }
        },
        Runner::Command { .. } => {
            report.ok = success;
            if success {
                report.passed = 1;
            } else {
                report.failed = 1;
            }
        }
    }
    if !report.ok {
        let both = format!("{stdout}{stderr}");
        let tail: Vec<&str> = both.lines().rev().take(30).collect();
        report.output = tail.into_iter().rev().collect::<Vec<_>>().join("\n");
    }
}

/// Runs `cmd`, killing it when it outlives `limit`.
fn run_with_timeout(mut cmd: Command, limit: Duration) -> Result<std::process::Output, String> {
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start the suite: {e}"))?;
    let deadline = Instant::now() + limit;
    // Read both pipes on threads so a chatty suite never blocks on a full pipe.
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let reader = |p: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = p {
                let _ = std::io::Read::read_to_end(&mut p, &mut buf);
            }
            buf
        })
    };
    let out_thread = reader(
        out.take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
    );
    let err_thread = reader(
        err.take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
    );
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "the suite did not finish within {} s",
                    limit.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(e.to_string()),
        }
    };
    Ok(std::process::Output {
        status,
        stdout: out_thread.join().unwrap_or_default(),
        stderr: err_thread.join().unwrap_or_default(),
    })
}

/// (passed, failed, errors, pending, what failed) from busted's `--output=json` report.
fn busted_counts(stdout: &str) -> Option<(usize, usize, usize, usize, String)> {
    let start = stdout.find("{\"")?;
    let doc: serde_json::Value = serde_json::from_str(stdout[start..].trim()).ok()?;
    let list = |k: &str| {
        doc.get(k)
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_default()
    };
    doc.get("successes")?;
    let mut summary = Vec::new();
    for item in list("failures")
        .iter()
        .chain(list("errors").iter())
        .take(20)
    {
        let name = item.get("name").and_then(|v| v.as_str()).unwrap_or("?");
        let message = item
            .get("message")
            .and_then(|v| v.as_str())
            .and_then(|m| m.lines().next())
            .unwrap_or("");
        summary.push(format!("{name}: {message}"));
    }
    Some((
        list("successes").len(),
        list("failures").len(),
        list("errors").len(),
        list("pendings").len(),
        summary.join("\n"),
    ))
}
