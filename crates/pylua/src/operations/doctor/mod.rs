//! `pylua doctor`: checks the environment (Luas, compiler, tools, configuration, servers,
//! cache, an installed LuaRocks) and the project (lock, tree, installed files, modules that
//! load on the project's Lua, system libraries, orphans, duplicate and shadowed modules,
//! command wrappers). Each finding says what, why and the fix; [`fix`] applies the safe
//! fixes (resync, install a damaged package again, remove orphans) as one recorded
//! transaction.
//!
//! The checks read and run what is installed; they change nothing. Loading modules runs
//! their top-level code, with a time limit, in a VM whose `os.exit` cannot end pylua.

mod environment;
mod modules;
mod networking;
mod project;

pub use networking::{health as networking_health, NetworkingHealth};

use super::project::{EnvOptions, Outcome, ProjectError};
use crate::project::Project;
use serde::Serialize;
use std::str::FromStr;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Ok,
    /// Works, but something is missing or risky.
    Warning,
    /// Broken: something the environment needs does not work.
    Error,
}

/// Which part of the setup a check looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Area {
    /// The machine and pylua's configuration.
    Environment,
    /// The project around the directory.
    Project,
    /// Whether Lua code can use the network (only when asked: `--only networking`).
    Networking,
}

impl FromStr for Area {
    type Err = String;
    fn from_str(s: &str) -> Result<Area, String> {
        match s {
            "environment" | "env" => Ok(Area::Environment),
            "project" => Ok(Area::Project),
            "networking" | "network" | "net" => Ok(Area::Networking),
            other => Err(format!(
                "unknown area '{other}': expected environment, project or networking"
            )),
        }
    }
}

/// What to do about a finding, for the front to phrase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Fix {
    /// Make the tree match the lock (safe).
    Sync,
    /// Install these packages again from the lock (safe).
    Reinstall { packages: Vec<String> },
    /// Remove packages the lock does not hold (safe: a sync does it).
    RemoveOrphans { packages: Vec<String> },
    /// Resolve again and write the lock.
    Lock,
    /// Install an interpreter of this Lua version.
    InstallLua { version: String },
    /// Install a program or library from the system's packages.
    InstallSystem { what: String, debian: String },
    /// Unset an environment variable.
    UnsetEnv { var: String },
    /// Remove a dependency from the project.
    RemoveDependency { package: String },
    /// Change a configuration setting.
    EditConfig { file: String },
    /// Add a package to the project (or install it into the tree outside one).
    AddPackage { package: String },
    /// A step only the user can take, in words.
    Manual { step: String },
}

impl Fix {
    /// Whether `doctor --fix` applies it: only changes that bring the tree back to what the
    /// lock already says.
    pub fn is_safe(&self) -> bool {
        matches!(
            self,
            Fix::Sync | Fix::Reinstall { .. } | Fix::RemoveOrphans { .. }
        )
    }
}

/// One thing the doctor checked.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub area: Area,
    /// A stable name for the check (`lock.fresh`, `files.integrity`…).
    pub check: &'static str,
    pub severity: Severity,
    pub what: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<Fix>,
}

impl Finding {
    fn ok(area: Area, check: &'static str, what: impl Into<String>) -> Finding {
        Finding {
            area,
            check,
            severity: Severity::Ok,
            what: what.into(),
            why: None,
            fix: None,
        }
    }

    fn problem(
        area: Area,
        check: &'static str,
        severity: Severity,
        what: impl Into<String>,
        why: impl Into<String>,
        fix: Option<Fix>,
    ) -> Finding {
        Finding {
            area,
            check,
            severity,
            what: what.into(),
            why: Some(why.into()),
            fix,
        }
    }
}

/// The doctor's report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub findings: Vec<Finding>,
    /// No finding worse than a warning.
    pub healthy: bool,
    /// The project checked, if any.
    pub project: Option<String>,
    /// With the networking area: its readiness percentage and whether LuaSocket is ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub networking: Option<NetworkingSummary>,
}

/// The networking area's summary in a [`Report`].
#[derive(Debug, Clone, Serialize)]
pub struct NetworkingSummary {
    pub readiness_percentage: f64,
    pub luasocket_ready: bool,
    pub tree: String,
}

impl Report {
    pub fn worst(&self) -> Severity {
        self.findings
            .iter()
            .map(|f| f.severity)
            .max()
            .unwrap_or(Severity::Ok)
    }
}

/// What to check.
pub struct DoctorOptions<'a> {
    /// Only this area (default: both; the project area only inside a project).
    pub only: Option<Area>,
    pub project: Option<Project>,
    pub env: &'a EnvOptions<'a>,
    /// Ask the servers whether they answer (off with `--offline`).
    pub check_servers: bool,
}

/// Runs the checks.
pub fn doctor(options: &DoctorOptions) -> Report {
    let mut findings = Vec::new();
    let state = options
        .project
        .as_ref()
        .map(|p| super::project::state(p, options.env));
    let mut networking = None;
    if options.only == Some(Area::Networking) {
        let tree = match (&options.project, &state) {
            (Some(project), Some(Ok(_))) => crate::packages::tree::Tree::detect(project.tree_dir()),
            _ => crate::packages::tree::Tree::detect(super::tree::default_root(
                &std::env::current_dir().unwrap_or_default(),
            )),
        };
        let servers = environment::configured_servers(options.env);
        let host = servers
            .defaults
            .first()
            .and_then(|s| url::Url::parse(s).ok())
            .and_then(|u| u.host_str().map(String::from))
            .unwrap_or_else(|| "luarocks.org".into());
        let public = (options.check_servers && !options.env.offline).then_some(host);
        let health = networking::health(&tree, public.as_deref());
        networking = Some(NetworkingSummary {
            readiness_percentage: health.readiness_percentage,
            luasocket_ready: health.luasocket_ready,
            tree: health.tree,
        });
        findings.extend(health.checks);
    }
    if options.only.is_none() || options.only == Some(Area::Environment) {
        let servers = match &state {
            Some(Ok(s)) => s.servers.clone(),
            _ => environment::configured_servers(options.env),
        };
        findings.extend(environment::check(
            options.env,
            &servers,
            options.check_servers,
        ));
    }
    if options.only.is_none() || options.only == Some(Area::Project) {
        match (&options.project, state) {
            (Some(project), Some(Ok(state))) => {
                findings.extend(project::check(project, &state));
                findings.extend(modules::check(&state));
            }
            (Some(_), Some(Err(e))) => findings.push(Finding::problem(
                Area::Project,
                "project.files",
                Severity::Error,
                "the project cannot be read",
                e.to_string(),
                None,
            )),
            _ if options.only == Some(Area::Project) => findings.push(Finding::problem(
                Area::Project,
                "project.found",
                Severity::Error,
                "no project here",
                "there is no pylua.toml in this directory or above it",
                None,
            )),
            _ => {}
        }
    }
    let healthy = findings.iter().all(|f| f.severity < Severity::Error);
    Report {
        findings,
        healthy,
        project: options
            .project
            .as_ref()
            .map(|p| p.root().display().to_string()),
        networking,
    }
}

/// Applies the safe fixes of `report` to `project` in one transaction; None when there was
/// nothing safe to do.
pub fn fix(
    project: &Project,
    env: &EnvOptions,
    report: &Report,
) -> Result<Option<Outcome>, ProjectError> {
    let safe: Vec<&Fix> = report
        .findings
        .iter()
        .filter_map(|f| f.fix.as_ref())
        .filter(|f| f.is_safe())
        .collect();
    if safe.is_empty() {
        return Ok(None);
    }
    let mut reinstall: Vec<String> = safe
        .iter()
        .flat_map(|f| match f {
            Fix::Reinstall { packages } => packages.clone(),
            _ => Vec::new(),
        })
        .collect();
    reinstall.sort();
    reinstall.dedup();
    super::project::repair(project, env, &reinstall).map(Some)
}
