//! One transaction: under the project's file lock, work out the new `pylua.toml` and
//! `pylua.lock`, write them, sync the tree, and record it all in the history; on failure put
//! both files back.

use super::*;

/// What a transaction does to the lock.
pub(super) enum LockChange {
    /// Keep the lock when it still fits `pylua.toml`, else resolve again keeping every
    /// locked version that still fits.
    Refresh,
    /// Resolve again, letting these packages (all, if empty) move to their newest versions.
    Update(Vec<String>),
    /// Put this exact lock text (or no lock) in place.
    Exact(Option<String>),
}

/// What a command asks a transaction to do.
pub(super) struct Change {
    /// The new `pylua.toml` text (None: unchanged).
    pub(super) project: Option<String>,
    pub(super) lock: LockChange,
    /// Make the tree match the lock afterwards.
    pub(super) sync: bool,
    /// Packages to install again even where the tree has their locked version.
    pub(super) reinstall: Vec<String>,
}

pub(super) fn transact(
    project: &Project,
    options: &EnvOptions,
    command: &str,
    dry_run: bool,
    creates: bool,
    make: impl FnOnce(&Snapshot) -> Result<Change, ProjectError>,
) -> Result<Outcome, ProjectError> {
    let started = Instant::now();
    let _guard = if dry_run {
        None
    } else {
        Some(lock_project(project)?)
    };
    let before = project.snapshot()?;
    if before.project.is_some() || !creates {
        project.read_project(&before)?;
    }
    let old_lock = project.read_lock(&before)?;
    let change = make(&before)?;
    let project_text = change.project.clone().or_else(|| before.project.clone());
    let file = ProjectFile::parse(
        project_text.as_deref().unwrap_or_default(),
        &project.project_file(),
    )?;

    let new_lock: Option<Lockfile> = match &change.lock {
        LockChange::Exact(text) => text
            .as_deref()
            .map(|t| Lockfile::parse(t, &project.lock_file()))
            .transpose()?,
        LockChange::Refresh => match (&old_lock, options.mode) {
            (Some(l), LockMode::Frozen) => Some(l.clone()),
            (None, LockMode::Frozen) => {
                return Err(ProjectError::Stale(format!(
                    "{} does not exist, and a frozen run uses the lock as it is",
                    project.lock_file().display()
                ))
                .with_hint(crate::hint::Hint::Lock))
            }
            (Some(l), _) if check_fresh(&options.config, &file, l).is_ok() => Some(l.clone()),
            (old, LockMode::Locked) => {
                let why = old.as_ref().map_or("it does not exist".into(), |l| {
                    check_fresh(&options.config, &file, l).unwrap_err()
                });
                return Err(ProjectError::Stale(format!(
                    "{} needs updating ({why}), and a locked run may not change it",
                    project.lock_file().display()
                ))
                .with_hint(crate::hint::Hint::Lock));
            }
            (old, LockMode::Update) => Some(resolve_lock(&file, old.as_ref(), None, options)?),
        },
        LockChange::Update(names) => {
            if options.mode != LockMode::Update {
                return Err(ProjectError::Stale(
                    "update changes the lock; it cannot run with --locked or --frozen".into(),
                ));
            }
            Some(resolve_lock(
                &file,
                old_lock.as_ref(),
                Some(names),
                options,
            )?)
        }
    };
    let after = Snapshot {
        project: project_text,
        lock: match (&change.lock, &new_lock) {
            (LockChange::Exact(text), _) => text.clone(),
            (_, Some(l)) if Some(l) == old_lock.as_ref() => before.lock.clone(),
            (_, l) => l.as_ref().map(Lockfile::render),
        },
    };
    let changes = history::diff(&versions(old_lock.as_ref()), &versions(new_lock.as_ref()));
    let mut outcome = Outcome {
        command: command.to_string(),
        history_id: None,
        changes,
        sync: SyncReport::default(),
        applied: false,
        seconds: 0.0,
    };
    if dry_run {
        outcome.seconds = started.elapsed().as_secs_f64();
        return Ok(outcome);
    }
    let files_changed = after != before;
    if files_changed {
        project.write(&after)?;
    }
    if change.sync {
        match sync_tree(
            project,
            &file,
            new_lock.as_ref(),
            old_lock.as_ref(),
            options,
            &change.reinstall,
        ) {
            Ok(report) => outcome.sync = report,
            Err(e) => {
                if files_changed {
                    project.write(&before)?;
                }
                let failed = format!("failed: {e}");
                record(
                    project,
                    command,
                    &failed,
                    started,
                    &outcome.changes,
                    &before,
                    &before,
                );
                tracing::warn!(
                    target: "pylua::transaction",
                    project = %project.root().display(),
                    command,
                    error = %e,
                    seconds = started.elapsed().as_secs_f64(),
                    "transaction failed"
                );
                return Err(e);
            }
        }
    }
    let tree_changed = !outcome.sync.installed.is_empty() || !outcome.sync.removed.is_empty();
    outcome.applied = files_changed || tree_changed;
    if outcome.applied {
        outcome.history_id = record(
            project,
            command,
            "ok",
            started,
            &outcome.changes,
            &before,
            &after,
        );
    }
    outcome.seconds = started.elapsed().as_secs_f64();
    if outcome.applied {
        tracing::info!(
            target: "pylua::transaction",
            project = %project.root().display(),
            command,
            id = outcome.history_id,
            changed = outcome.changes.len(),
            installed = outcome.sync.installed.len(),
            removed = outcome.sync.removed.len(),
            seconds = outcome.seconds,
            "transaction done"
        );
    } else {
        tracing::debug!(command, seconds = outcome.seconds, "nothing to change");
    }
    Ok(outcome)
}

/// Appends a history record; a history that cannot be written is reported in the log but
/// does not undo a change that is already made.
pub(super) fn record(
    project: &Project,
    command: &str,
    outcome: &str,
    started: Instant,
    changes: &[PackageChange],
    before: &Snapshot,
    after: &Snapshot,
) -> Option<u64> {
    let rec = Record {
        id: 0,
        time: history::now(),
        command: command.to_string(),
        outcome: outcome.to_string(),
        seconds: started.elapsed().as_secs_f64(),
        changes: changes.to_vec(),
        before: before.clone(),
        after: after.clone(),
    };
    match project.history().append(rec) {
        Ok(r) => Some(r.id),
        Err(e) => {
            tracing::error!("cannot record the transaction in the history: {e}");
            None
        }
    }
}

/// Holds the project's lock until dropped: one command changes a project at a time.
pub(super) struct ProjectLock {
    _file: std::fs::File,
}

pub(super) fn lock_project(project: &Project) -> Result<ProjectLock, ProjectError> {
    let path = project.lock_path();
    let io = |e: std::io::Error| ProjectError::Io(format!("{}: {e}", path.display()));
    std::fs::create_dir_all(project.tree_dir()).map_err(io)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io)?;
    file.lock_exclusive().map_err(io)?;
    Ok(ProjectLock { _file: file })
}

pub(super) fn file_error(project: &Project, message: String) -> ProjectError {
    FileError::new(&project.project_file(), message).into()
}

pub(super) fn versions(lock: Option<&Lockfile>) -> BTreeMap<String, String> {
    lock.map(|l| {
        l.packages
            .iter()
            .map(|p| (p.name.to_string(), p.version.clone()))
            .collect()
    })
    .unwrap_or_default()
}

/// Puts `target`'s project and lock files in place as they are (no resolution) and syncs
/// the tree to them: rollback and import. `creates`: the project may not exist yet.
pub(super) fn restore(
    project: &Project,
    options: &EnvOptions,
    command: &str,
    target: Snapshot,
    creates: bool,
) -> Result<Outcome, ProjectError> {
    let options = EnvOptions {
        mode: LockMode::Frozen,
        ..options.clone()
    };
    transact(project, &options, command, false, creates, move |_| {
        Ok(Change {
            project: target.project.clone(),
            lock: LockChange::Exact(target.lock.clone()),
            sync: true,
            reinstall: Vec::new(),
        })
    })
}
