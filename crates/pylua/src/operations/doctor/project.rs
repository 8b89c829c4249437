//! The project area, from files alone: the lock, the project's Lua, the tree against the
//! lock, every installed file against its `rock_manifest` checksum, modules two packages
//! provide, modules `LUA_PATH`/`LUA_CPATH` would shadow, and the command wrappers.

use super::{Area, Finding, Fix, Severity};
use crate::interpreters::LuaVersion;
use crate::operations::project::ProjectState;
use crate::packages::tree::{InstalledRock, Tree};
use crate::project::Project;
use std::collections::BTreeMap;
use std::path::Path;

const AREA: Area = Area::Project;

pub(super) fn check(project: &Project, state: &ProjectState) -> Vec<Finding> {
    let mut out = vec![lock(project, state), interpreter(state)];
    let installed = match state.tree.read() {
        Ok(i) => i,
        Err(e) => {
            out.push(Finding::problem(
                AREA,
                "tree.read",
                Severity::Error,
                format!("{} cannot be read", state.tree.root().display()),
                e.to_string(),
                Some(Fix::Sync),
            ));
            return out;
        }
    };
    out.extend(tree_against_lock(state, &installed));
    out.push(integrity(&state.tree, &installed));
    out.push(duplicates(&installed));
    out.extend(shadowed(&state.tree, &installed));
    out.push(wrappers(&state.tree, &installed));
    out.extend(recorded(project, state, &installed));
    out
}

/// What earlier `pylua test` and `pylua bench` runs found for the installed versions.
fn recorded(
    project: &Project,
    state: &ProjectState,
    installed: &BTreeMap<String, InstalledRock>,
) -> Vec<Finding> {
    use crate::operations::checks;
    let lua = state.file.project.lua.as_str();
    let mut out = Vec::new();
    let version_of = |name: &str| {
        installed
            .values()
            .find(|r| r.name.eq_ignore_ascii_case(name))
            .map(|r| r.version.to_string())
    };
    for (name, t) in checks::tests(project) {
        if !t.ok && t.lua == lua && version_of(&name).as_deref() == Some(t.version.as_str()) {
            out.push(Finding::problem(
                AREA,
                "packages.tests",
                Severity::Warning,
                format!("{name} {}'s own tests fail on Lua {lua}", t.version),
                format!(
                    "{} failed and {} errors of {} in the last recorded test run",
                    t.failed,
                    t.errors,
                    t.passed + t.failed + t.errors
                ),
                None,
            ));
        }
    }
    for (name, b) in checks::benches(project) {
        if b.cold_ms > 50.0 && version_of(&name).as_deref() == Some(b.version.as_str()) {
            out.push(Finding::problem(
                AREA,
                "packages.load_time",
                Severity::Warning,
                format!(
                    "{name} takes {:.0} ms to load ({})",
                    b.cold_ms, b.slowest_module
                ),
                "from the last recorded load benchmark: a script requiring it pays this at every start",
                None,
            ));
        }
    }
    out
}

fn lock(project: &Project, state: &ProjectState) -> Finding {
    match (&state.lock, &state.fresh) {
        (Some(_), Ok(())) => Finding::ok(AREA, "lock.fresh", "pylua.lock matches pylua.toml"),
        (None, _) => Finding::problem(
            AREA,
            "lock.fresh",
            Severity::Error,
            format!("{} does not exist", project.lock_file().display()),
            "nothing is locked, so the environment cannot be reproduced",
            Some(Fix::Lock),
        ),
        (Some(_), Err(why)) => Finding::problem(
            AREA,
            "lock.fresh",
            Severity::Error,
            "pylua.lock is out of date",
            why.clone(),
            Some(Fix::Lock),
        ),
    }
}

fn interpreter(state: &ProjectState) -> Finding {
    let lua = state.file.project.lua;
    if lua == LuaVersion::Lua54 {
        return Finding::ok(
            AREA,
            "lua.project",
            "the project runs on the embedded Lua 5.4",
        );
    }
    match crate::interpreters::find(lua, &crate::paths::Paths::discover()) {
        Ok(i) => Finding::ok(
            AREA,
            "lua.project",
            format!(
                "the project's {} is {}",
                lua.display_name(),
                i.path.display()
            ),
        ),
        Err(e) => Finding::problem(
            AREA,
            "lua.project",
            Severity::Error,
            format!("the project's {} is not installed", lua.display_name()),
            e.to_string(),
            Some(Fix::InstallLua {
                version: lua.as_str().to_string(),
            }),
        ),
    }
}

fn tree_against_lock(
    state: &ProjectState,
    installed: &BTreeMap<String, InstalledRock>,
) -> Vec<Finding> {
    let Some(lock) = &state.lock else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let orphans: Vec<String> = installed
        .keys()
        .filter(|name| lock.package(name).is_none())
        .cloned()
        .collect();
    let missing: Vec<String> = lock
        .packages
        .iter()
        .filter(|p| {
            installed
                .get(p.name.as_str())
                .is_none_or(|r| r.version.to_string() != p.version)
        })
        .map(|p| format!("{} {}", p.name, p.version))
        .collect();
    if !missing.is_empty() {
        out.push(Finding::problem(
            AREA,
            "tree.matches",
            Severity::Error,
            format!("the tree lacks locked packages: {}", missing.join(", ")),
            "the tree does not match pylua.lock",
            Some(Fix::Sync),
        ));
    }
    if !orphans.is_empty() {
        out.push(Finding::problem(
            AREA,
            "tree.orphans",
            Severity::Warning,
            format!("installed but not locked: {}", orphans.join(", ")),
            "packages the lock does not hold can hide a missing dependency",
            Some(Fix::RemoveOrphans { packages: orphans }),
        ));
    }
    if out.is_empty() {
        out.push(Finding::ok(
            AREA,
            "tree.matches",
            format!("the tree holds the {} locked packages", lock.packages.len()),
        ));
    }
    out
}

fn integrity(tree: &Tree, installed: &BTreeMap<String, InstalledRock>) -> Finding {
    let checked = crate::packages::tree::verify::verify(tree, installed);
    if checked.damaged.is_empty() {
        return Finding::ok(
            AREA,
            "files.integrity",
            format!("{} installed files match their checksums", checked.files),
        );
    }
    let names: Vec<String> = checked.damaged.keys().cloned().collect();
    let details: Vec<String> = checked
        .damaged
        .iter()
        .map(|(name, problems)| {
            let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
            format!("{name}: {}", list.join(", "))
        })
        .collect();
    Finding::problem(
        AREA,
        "files.integrity",
        Severity::Error,
        format!(
            "installed files were changed or deleted in {}",
            names.join(", ")
        ),
        details.join("; "),
        Some(Fix::Reinstall { packages: names }),
    )
}

fn duplicates(installed: &BTreeMap<String, InstalledRock>) -> Finding {
    let mut by_module: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for rock in installed.values() {
        for module in rock.modules.keys() {
            by_module.entry(module).or_default().push(&rock.name);
        }
    }
    let clashes: Vec<String> = by_module
        .iter()
        .filter(|(_, owners)| owners.len() > 1)
        .map(|(m, owners)| format!("{m} ({})", owners.join(", ")))
        .collect();
    if clashes.is_empty() {
        return Finding::ok(AREA, "modules.duplicates", "no module is provided twice");
    }
    let first_owner = by_module
        .values()
        .find(|o| o.len() > 1)
        .and_then(|o| o.last())
        .map(|s| s.to_string())
        .unwrap_or_default();
    Finding::problem(
        AREA,
        "modules.duplicates",
        Severity::Error,
        format!("modules provided by two packages: {}", clashes.join(", ")),
        "which one `require` finds depends on file order; one of them is not what its package expects",
        Some(Fix::RemoveDependency {
            package: first_owner,
        }),
    )
}

fn shadowed(tree: &Tree, installed: &BTreeMap<String, InstalledRock>) -> Vec<Finding> {
    let mut out = Vec::new();
    for (var, ext) in [("LUA_PATH", "lua"), ("LUA_CPATH", "so")] {
        let Some(value) = std::env::var_os(var) else {
            continue;
        };
        let value = value.to_string_lossy().into_owned();
        let tree_root = tree.root().to_string_lossy().into_owned();
        let templates: Vec<&str> = value
            .split(';')
            .filter(|t| t.contains('?') && !t.starts_with(&tree_root))
            .collect();
        let mut hits = Vec::new();
        for rock in installed.values() {
            for (module, rel) in &rock.modules {
                if !rel.ends_with(&format!(".{ext}")) {
                    continue;
                }
                let path = module.replace('.', "/");
                if let Some(found) = templates
                    .iter()
                    .map(|t| t.replace('?', &path))
                    .find(|f| Path::new(f).is_file())
                {
                    hits.push(format!("{module} ({found})"));
                }
            }
        }
        if !hits.is_empty() {
            out.push(Finding::problem(
                AREA,
                "modules.shadowed",
                Severity::Warning,
                format!("{var} holds other copies of installed modules: {}", hits.join(", ")),
                format!(
                    "`lua` and scripts that use {var} before the tree load those copies instead of the project's"
                ),
                Some(Fix::UnsetEnv { var: var.into() }),
            ));
        }
    }
    if out.is_empty() {
        out.push(Finding::ok(
            AREA,
            "modules.shadowed",
            "no installed module is shadowed by LUA_PATH or LUA_CPATH",
        ));
    }
    out
}

fn wrappers(tree: &Tree, installed: &BTreeMap<String, InstalledRock>) -> Finding {
    use std::os::unix::fs::PermissionsExt;
    let mut broken: Vec<String> = Vec::new();
    let mut owners: Vec<String> = Vec::new();
    let mut count = 0;
    for rock in installed.values() {
        for command in rock.commands.keys() {
            count += 1;
            let wrapper = tree.bin_dir().join(command);
            let problem = match std::fs::metadata(&wrapper) {
                Err(_) => Some("is missing".to_string()),
                Ok(m) if m.permissions().mode() & 0o111 == 0 => Some("is not executable".into()),
                Ok(_) => match tree.command_script(command) {
                    Ok(Some(script)) if script.is_file() => {
                        let text = std::fs::read_to_string(&wrapper).unwrap_or_default();
                        (!text.starts_with("#!")).then(|| "is not a script".to_string())
                    }
                    _ => Some("runs a script that is missing".into()),
                },
            };
            if let Some(p) = problem {
                broken.push(format!("bin/{command} {p}"));
                owners.push(rock.name.clone());
            }
        }
    }
    if broken.is_empty() {
        return Finding::ok(
            AREA,
            "bin.wrappers",
            format!("{count} command wrappers are runnable"),
        );
    }
    owners.dedup();
    Finding::problem(
        AREA,
        "bin.wrappers",
        Severity::Error,
        format!("broken commands: {}", broken.join(", ")),
        "the tree's commands cannot start",
        Some(Fix::Reinstall { packages: owners }),
    )
}
