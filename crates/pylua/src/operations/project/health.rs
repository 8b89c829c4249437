//! What the doctor reads of a project, and its one repair: a sync that installs again the
//! packages it names (tampered or incomplete) and removes what the lock does not hold, as
//! one recorded transaction that keeps the lock as it is.

use super::*;

/// A project as the doctor sees it.
#[derive(Debug)]
pub struct ProjectState {
    pub file: ProjectFile,
    pub lock: Option<Lockfile>,
    /// Whether the lock was made for what `pylua.toml` asks now; if not, why.
    pub fresh: Result<(), String>,
    /// The project's tree, in the layout of its Lua.
    pub tree: Tree,
    /// Whether the tree holds exactly the locked packages.
    pub tree_matches: bool,
    /// The servers the project resolves against.
    pub servers: ServerOptions,
}

pub fn state(project: &Project, options: &EnvOptions) -> Result<ProjectState, ProjectError> {
    let snapshot = project.snapshot()?;
    let file = project.read_project(&snapshot)?;
    let lock = project.read_lock(&snapshot)?;
    let fresh = match &lock {
        Some(l) => check_fresh(&options.config, &file, l),
        None => Err("there is no lock yet".into()),
    };
    let tree = project_tree(&file, project);
    let tree_matches = tree_matches(&tree, lock.as_ref(), options.no_dev)?;
    let servers = server_options(&file, options);
    Ok(ProjectState {
        file,
        lock,
        fresh,
        tree,
        tree_matches,
        servers,
    })
}

/// Makes the tree match the lock, installing `reinstall` again even where their locked
/// version is in place; the lock is kept exactly as it is.
pub fn repair(
    project: &Project,
    options: &EnvOptions,
    reinstall: &[String],
) -> Result<Outcome, ProjectError> {
    transact(project, options, "doctor --fix", false, false, |before| {
        Ok(Change {
            project: None,
            lock: LockChange::Exact(before.lock.clone()),
            sync: true,
            reinstall: reinstall.to_vec(),
        })
    })
}

/// `pylua audit` in a project: its tree, its locked packages and its Lua.
pub fn audit(
    project: &Project,
    options: &EnvOptions,
    audit: &crate::operations::audit::AuditOptions,
) -> Result<crate::operations::audit::AuditReport, ProjectError> {
    let state = state(project, options)?;
    let locked: Vec<(String, String)> = state
        .lock
        .iter()
        .flat_map(|l| &l.packages)
        .map(|p| (p.name.to_string(), p.version.clone()))
        .collect();
    let release = crate::operations::audit::lua_release(state.file.project.lua);
    let mut report =
        crate::operations::audit::audit(&state.tree, &locked, release.as_deref(), audit)
            .map_err(ProjectError::Io)?;
    // Every locked file's cached copy against the sha256 the lock records.
    let fetcher = state.servers.fetcher();
    for p in state.lock.iter().flat_map(|l| &l.packages) {
        let url = p.url();
        if let Some(cached) = fetcher.cached_sha256(&url) {
            if !cached.eq_ignore_ascii_case(&p.sha256) {
                report
                    .lock_mismatches
                    .push(crate::operations::audit::LockMismatch {
                        package: p.name.to_string(),
                        version: p.version.clone(),
                        url,
                        locked: p.sha256.clone(),
                        cached,
                    });
            }
        }
    }
    report.passed &= report.lock_mismatches.is_empty();
    Ok(report)
}
