//! `export` and `import`: a project file and its lock as one TOML or JSON file.

use super::*;

/// The environment as one file: the project file and the lock.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Export {
    /// Always `pylua-environment`.
    pub format: String,
    pub version: u32,
    pub project: toml::Table,
    pub lock: Lockfile,
}

/// `pylua export`: the environment as TOML or JSON, for `pylua import` elsewhere.
pub fn export(project: &Project, options: &EnvOptions, json: bool) -> Result<String, ProjectError> {
    let snapshot = project.snapshot()?;
    let file = project.read_project(&snapshot)?;
    let lock = project.read_lock(&snapshot)?.ok_or_else(|| {
        ProjectError::Usage(format!(
            "{} does not exist yet: an export is made from the lock",
            project.lock_file().display()
        ))
        .with_hint(crate::hint::Hint::Lock)
    })?;
    check_fresh(&options.config, &file, &lock).map_err(|why| {
        ProjectError::Stale(format!(
            "{} is out of date ({why}): an export is made from a current lock",
            project.lock_file().display()
        ))
        .with_hint(crate::hint::Hint::Lock)
    })?;
    let table: toml::Table = toml::from_str(snapshot.project.as_deref().unwrap_or_default())
        .map_err(|e| file_error(project, e.to_string()))?;
    let export = Export {
        format: EXPORT_FORMAT.into(),
        version: 1,
        project: table,
        lock,
    };
    Ok(if json {
        serde_json::to_string_pretty(&export).expect("exports serialize") + "\n"
    } else {
        toml::to_string(&export).expect("exports serialize")
    })
}

pub(super) const EXPORT_FORMAT: &str = "pylua-environment";

/// Reads an export (TOML, or JSON when it starts with `{`) from `file` and checks it as a
/// whole: its project file and its lock are validated as if read from disk (names, versions,
/// servers, commits), so nothing in it reaches a path unchecked.
pub fn parse_export(text: &str, file: &Path) -> Result<(Export, ProjectFile), FileError> {
    let export: Export = if text.trim_start().starts_with('{') {
        serde_json::from_str(text)
            .map_err(|e| FileError::new(file, format!("not a pylua export: {e}")))?
    } else {
        toml::from_str(text).map_err(|e| {
            FileError::new(
                file,
                format!("not a pylua export: {}", e.to_string().trim_end()),
            )
        })?
    };
    if export.format != EXPORT_FORMAT || export.version != 1 {
        return Err(FileError::new(
            file,
            format!("expected format = \"{EXPORT_FORMAT}\" and version = 1"),
        ));
    }
    let project_text = toml::to_string(&export.project)
        .map_err(|e| FileError::new(file, format!("its project table: {e}")))?;
    let parsed = ProjectFile::parse(&project_text, file)?;
    Lockfile::parse(&export.lock.render(), file)?;
    Ok((export, parsed))
}

/// `pylua import FILE`: makes this directory's project the exported one (creating
/// `pylua.toml` if needed) and syncs the tree to its lock.
pub fn import(
    project: &Project,
    options: &EnvOptions,
    file: &Path,
) -> Result<Outcome, ProjectError> {
    // An export holds a project file and a lock: 16 MiB is far more than any needs.
    let bytes = crate::packages::cache::read_bounded(file, 16 << 20)
        .map_err(|e| ProjectError::Usage(format!("cannot read {e}")))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| ProjectError::Usage(format!("{}: not UTF-8 text", file.display())))?;
    let (export, parsed) = parse_export(&text, file)?;
    let project_text = toml::to_string(&export.project).expect("tables serialize");
    let lock_text = export.lock.render();
    check_fresh(&options.config, &parsed, &export.lock).map_err(|why| {
        FileError::new(file, format!("its lock does not match its project ({why})"))
    })?;
    let target = Snapshot {
        project: Some(project_text),
        lock: Some(lock_text),
    };
    restore(
        project,
        options,
        &format!("import {}", file.display()),
        target,
        true,
    )
}
