//! The project's installed tree: whether it matches the lock, and making it match.

use super::*;

pub(super) fn project_tree(file: &ProjectFile, project: &Project) -> Tree {
    Tree::new(project.tree_dir(), file.project.lua.api())
}

/// Whether the tree holds exactly the locked packages (at their versions).
pub(super) fn tree_matches(
    tree: &Tree,
    lock: Option<&Lockfile>,
    no_dev: bool,
) -> Result<bool, ProjectError> {
    let installed = tree.read().map_err(InstallError::from)?;
    let wanted: Vec<&LockedPackage> = lock
        .map(|l| l.packages.iter().filter(|p| !(no_dev && p.dev)).collect())
        .unwrap_or_default();
    Ok(installed.len() == wanted.len()
        && wanted.iter().all(|p| {
            installed
                .get(p.name.as_str())
                .is_some_and(|r| r.version.to_string() == p.version)
        }))
}

pub(super) fn sync_tree(
    project: &Project,
    file: &ProjectFile,
    lock: Option<&Lockfile>,
    previous: Option<&Lockfile>,
    options: &EnvOptions,
    reinstall: &[String],
) -> Result<SyncReport, ProjectError> {
    let server_options = server_options(file, options);
    let lua = Some(file.project.lua).filter(|v| *v != LuaVersion::Lua54);
    let cache_root = server_options.fetcher().root().to_path_buf();
    let dest = destination(lua, &project.tree_dir(), &cache_root, Launcher::OnPath)?;
    if let Some(exe) = &options.pylua_exe {
        dest.tree.record_launcher(exe).map_err(InstallError::from)?;
    }
    let mut pins = Vec::new();
    for p in lock.map(|l| l.packages.as_slice()).unwrap_or_default() {
        if options.no_dev && p.dev {
            continue;
        }
        pins.push(Pinned {
            name: p.name.to_string(),
            version: Version::parse(&p.version)
                .map_err(|e| FileError::new(&project.lock_file(), e.message))?,
            url: p.url(),
            sha256: Some(p.sha256.clone()),
            commit: p.commit.clone(),
            // Same version, other sources (a git branch that moved on): build it again.
            reinstall: reinstall
                .iter()
                .any(|r| r.eq_ignore_ascii_case(p.name.as_str()))
                || previous
                    .and_then(|old| old.package(&p.name))
                    .is_some_and(|old| {
                        old.version == p.version
                            && (old.sha256 != p.sha256 || old.commit != p.commit)
                    }),
        });
    }
    let install_options = InstallOptions {
        servers: server_options,
        tree: dest.tree,
        target: dest.target,
        launcher: dest.launcher,
        jobs: if options.jobs == 0 {
            install::default_jobs()
        } else {
            options.jobs
        },
        progress: options.progress,
    };
    Ok(install::sync_exact(&install_options, &pins)?)
}
