//! Project commands — `init`, `add`, `remove`, `lock`, `update`, `sync`, `status`,
//! `history`, `rollback`, `export`, `import` and `profile use` — rendering the library's
//! project operations as text or JSON.

use crate::curator_cmd::load_config;
use crate::packages::{progress_bar, show_progress};
use clap::Args;
use pylua::config::Config;
use pylua::interpreters::LuaVersion;
use pylua::operations::install::Progress;
use pylua::operations::project::{self as ops, EnvOptions, LockMode, Outcome, ProjectError};
use pylua::packages::link::LinkMode;
use pylua::project::{Project, PROJECT_FILE};
use serde_json::json;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Settings shared by the commands that change a project.
#[derive(Args, Clone, Default)]
pub struct EnvArgs {
    /// Fail instead of changing pylua.lock (for CI: the lock must already be up to date).
    #[arg(long, conflicts_with = "frozen")]
    pub locked: bool,
    /// Use pylua.lock as it is, without checking it against pylua.toml.
    #[arg(long)]
    pub frozen: bool,
    /// Use only the download cache; never touch the network.
    #[arg(long)]
    pub offline: bool,
    /// Parallel fetch and build jobs (default: the number of CPUs).
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,
    /// How installed files are made from the package store in the cache: auto (reflink,
    /// else hard link, else copy), reflink, hardlink or copy (default: `link-mode` in
    /// config.toml, else auto).
    #[arg(long, value_name = "MODE", value_parser = parse_link_mode)]
    pub link_mode: Option<LinkMode>,
    /// The project's directory (default: the nearest one upwards holding a pylua.toml).
    #[arg(long, value_name = "DIR")]
    pub project: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `--link-mode`'s value.
pub fn parse_link_mode(text: &str) -> Result<LinkMode, String> {
    text.parse()
}

impl EnvArgs {
    pub fn mode(&self) -> LockMode {
        if self.locked {
            LockMode::Locked
        } else if self.frozen {
            LockMode::Frozen
        } else {
            LockMode::Update
        }
    }

    pub fn options<'a>(
        &self,
        mut config: Config,
        progress: Option<&'a (dyn Fn(Progress) + Sync)>,
    ) -> EnvOptions<'a> {
        if self.link_mode.is_some() {
            config.link_mode = self.link_mode;
        }
        EnvOptions {
            mode: self.mode(),
            offline: self.offline,
            no_dev: false,
            jobs: self.jobs.unwrap_or(0),
            cache_dir: None,
            config,
            progress,
            pylua_exe: std::env::current_exe().ok(),
        }
    }

    /// The project to work on.
    pub fn project(&self) -> Result<Project, ProjectError> {
        find_project(self.project.as_deref())
    }

    /// The project and the global configuration; either failing is reported (the exit code
    /// is the error).
    fn context(&self) -> Result<(Project, Config), ExitCode> {
        let project = self.project().map_err(|e| fail(&e, self.json))?;
        let config = load_config(self.json)?;
        Ok((project, config))
    }
}

/// The project in `dir`, or the nearest one above the current directory.
pub fn find_project(dir: Option<&Path>) -> Result<Project, ProjectError> {
    match dir {
        Some(d) => {
            let p = Project::at(d);
            if p.project_file().is_file() {
                Ok(p)
            } else {
                Err(no_project(d))
            }
        }
        None => {
            let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
            Project::find(&cwd).ok_or_else(|| no_project(&cwd))
        }
    }
}

fn no_project(dir: &Path) -> ProjectError {
    pylua::project::FileError::new(
        &dir.join(PROJECT_FILE),
        format!(
            "no {PROJECT_FILE} here or in any parent directory; `pylua init` creates a project"
        ),
    )
    .into()
}

pub fn fail(e: &ProjectError, json_output: bool) -> ExitCode {
    let code = crate::render::failure_full(
        e.kind(),
        &e.to_string(),
        e.hint().as_ref(),
        e.ways_out(),
        json_output,
    );
    if !json_output && matches!(e, ProjectError::Install(_) | ProjectError::Query(_)) {
        eprintln!("nothing was changed: pylua.toml, pylua.lock and .pylua/ are as they were");
    }
    code
}

fn done<T: serde::Serialize>(
    result: Result<T, ProjectError>,
    json_output: bool,
    text: impl FnOnce(&T),
) -> ExitCode {
    match result {
        Ok(value) => {
            if json_output {
                println!("{}", json!({"ok": true, "result": value}));
            } else {
                text(&value);
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e, json_output),
    }
}

/// Runs a transaction with a progress bar, then renders its outcome.
fn transaction(
    args: &EnvArgs,
    run: impl FnOnce(&Project, &EnvOptions) -> Result<Outcome, ProjectError>,
) -> ExitCode {
    let (project, config) = match args.context() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let bar = progress_bar(args.json);
    let progress = |p: Progress| show_progress(bar.as_ref(), p);
    let result = run(&project, &args.options(config, Some(&progress)));
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    done(result, args.json, print_outcome)
}

/// The text form of a transaction's outcome.
pub fn print_outcome(o: &Outcome) {
    if !o.changes.is_empty() {
        println!(
            "{}pylua.lock:",
            if o.applied {
                "Updated "
            } else {
                "Would update "
            }
        );
        for c in &o.changes {
            match (&c.from, &c.to) {
                (None, Some(to)) => println!("  + {} {to}", c.name),
                (Some(from), None) => println!("  - {} {from}", c.name),
                (Some(from), Some(to)) => println!("  ~ {} {from} -> {to}", c.name),
                (None, None) => {}
            }
        }
    }
    let s = &o.sync;
    if !s.installed.is_empty() || !s.removed.is_empty() {
        println!(
            "Synced .pylua/: {} installed, {} removed, {} unchanged ({:.2}s)",
            s.installed.len(),
            s.removed.len(),
            s.unchanged,
            o.seconds
        );
    } else if o.changes.is_empty() {
        println!("Nothing to do: everything is up to date.");
    }
    if let Some(id) = o.history_id {
        println!("Recorded as transaction {id} (`pylua rollback {id}` undoes it).");
    }
}

/// `pylua add`: when the packages do not resolve with the project, the ways out are shown;
/// on a terminal one can be picked and the add runs again with it.
pub fn add(args: &EnvArgs, packages: &[String], dev: bool) -> ExitCode {
    let (project, config) = match args.context() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let bar = progress_bar(args.json);
    let progress = |p: Progress| show_progress(bar.as_ref(), p);
    let options = args.options(config, Some(&progress));
    let result = ops::add(&project, &options, packages, dev);
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let interactive =
        !args.json && std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if let (Err(e), true) = (&result, interactive) {
        let choices: Vec<(String, Vec<String>)> = e
            .ways_out()
            .iter()
            .filter_map(|way| {
                retry_with(way, packages).map(|p| (crate::render::way_out_text(way), p))
            })
            .collect();
        if !choices.is_empty() {
            let code = fail(e, false);
            let mut items: Vec<&str> = choices.iter().map(|(t, _)| t.as_str()).collect();
            items.push("none: change nothing");
            let picked = dialoguer::Select::new()
                .with_prompt("Apply a way out?")
                .items(&items)
                .default(items.len() - 1)
                .interact()
                .unwrap_or(items.len() - 1);
            return match choices.get(picked) {
                Some((_, retry)) => {
                    let again = ops::add(&project, &options, retry, dev);
                    done(again, false, print_outcome)
                }
                None => code,
            };
        }
    }
    done(result, args.json, print_outcome)
}

/// The packages to add again for a way out, when it is a change of this add's own request.
fn retry_with(way: &pylua::packages::ways_out::WayOut, packages: &[String]) -> Option<Vec<String>> {
    use pylua::packages::ways_out::WayOut;
    let base = |p: &str| {
        p.split(['@', ' ', '<', '>', '=', '~'])
            .next()
            .unwrap_or(p)
            .to_ascii_lowercase()
    };
    match way {
        WayOut::Relax {
            package, version, ..
        } => {
            let mut out: Vec<String> = packages
                .iter()
                .filter(|p| base(p) != package.to_ascii_lowercase())
                .cloned()
                .collect();
            out.push(format!("{package}@=={version}"));
            Some(out)
        }
        WayOut::Drop { package } => {
            let out: Vec<String> = packages
                .iter()
                .filter(|p| base(p) != package.to_ascii_lowercase())
                .cloned()
                .collect();
            (out.len() < packages.len() && !out.is_empty()).then_some(out)
        }
        WayOut::OtherLua { .. } => None,
    }
}

pub fn remove(args: &EnvArgs, packages: &[String]) -> ExitCode {
    transaction(args, |p, o| ops::remove(p, o, packages))
}

pub fn lock(args: &EnvArgs) -> ExitCode {
    transaction(args, ops::lock)
}

pub fn update(args: &EnvArgs, packages: &[String]) -> ExitCode {
    transaction(args, |p, o| ops::update(p, o, packages))
}

pub fn sync(args: &EnvArgs, no_dev: bool) -> ExitCode {
    transaction(args, |p, o| {
        ops::sync(
            p,
            &EnvOptions {
                no_dev,
                ..o.clone()
            },
        )
    })
}

pub fn rollback(args: &EnvArgs, id: Option<u64>) -> ExitCode {
    transaction(args, |p, o| ops::rollback(p, o, id))
}

pub fn import(args: &EnvArgs, file: &Path) -> ExitCode {
    // Import may create the project.
    let dir = args
        .project
        .clone()
        .unwrap_or_else(|| std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")));
    let args = EnvArgs {
        project: Some(dir.clone()),
        ..args.clone()
    };
    let config = match load_config(args.json) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let bar = progress_bar(args.json);
    let progress = |p: Progress| show_progress(bar.as_ref(), p);
    let result = ops::import(
        &Project::at(&dir),
        &args.options(config, Some(&progress)),
        file,
    );
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    done(result, args.json, print_outcome)
}

/// `pylua profile use NAME`: shows the change, asks, applies.
pub fn use_profile(args: &EnvArgs, name: &str, yes: bool, dry_run: bool) -> ExitCode {
    let (project, config) = match args.context() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let plan = match ops::use_profile(&project, &args.options(config, None), name, true) {
        Ok(plan) => plan,
        Err(e) => return fail(&e, args.json),
    };
    if dry_run {
        return done(Ok(plan), args.json, print_outcome);
    }
    if !yes {
        if args.json || !std::io::stdin().is_terminal() {
            return fail(
                &ProjectError::Usage(format!(
                    "`profile use {name}` changes the environment; pass --yes to apply it (or --dry-run to only see the change)"
                )),
                args.json,
            );
        }
        print_outcome(&plan);
        let go = dialoguer::Confirm::new()
            .with_prompt(format!("Switch to profile {name}?"))
            .default(true)
            .interact()
            .unwrap_or(false);
        if !go {
            eprintln!("nothing was changed");
            return ExitCode::SUCCESS;
        }
    }
    transaction(args, |p, o| ops::use_profile(p, o, name, false))
}

pub fn status(args: &EnvArgs) -> ExitCode {
    let (project, config) = match args.context() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let result = ops::status(&project, &args.options(config, None));
    done(result, args.json, |s| {
        println!("project:   {} ({})", s.name, s.root);
        println!(
            "lua:       {}",
            if s.lua == LuaVersion::Lua54 {
                "5.4 (embedded)"
            } else {
                s.lua.as_str()
            }
        );
        println!("profile:   {}", s.profile.as_deref().unwrap_or("(none)"));
        println!(
            "lock:      {} ({} package{})",
            s.lock,
            s.packages,
            if s.packages == 1 { "" } else { "s" }
        );
        println!(
            "tree:      {}",
            if s.tree_in_sync {
                "in sync with the lock"
            } else {
                "out of sync (`pylua sync` fixes it)"
            }
        );
        println!("tree hash: {}", s.tree_hash);
    })
}

pub fn history(args: &EnvArgs) -> ExitCode {
    let result = args.project().and_then(|p| ops::history(&p));
    done(result, args.json, |records| {
        if records.is_empty() {
            println!("No transactions yet.");
        }
        for r in records {
            let changes: Vec<String> = r
                .changes
                .iter()
                .map(|c| match (&c.from, &c.to) {
                    (None, Some(to)) => format!("+{} {to}", c.name),
                    (Some(from), None) => format!("-{} {from}", c.name),
                    (Some(from), Some(to)) => format!("~{} {from}->{to}", c.name),
                    _ => String::new(),
                })
                .collect();
            let shown = if changes.len() > 3 {
                format!(
                    "{}, … ({} more)",
                    changes[..2].join(", "),
                    changes.len() - 2
                )
            } else {
                changes.join(", ")
            };
            println!(
                "{:>4}  {}  {:<24} {:<6} {:>6.2}s  {}",
                r.id,
                r.time,
                r.command,
                if r.succeeded() { "ok" } else { "FAILED" },
                r.seconds,
                shown
            );
            if !r.succeeded() {
                println!("      {}", r.outcome);
            }
        }
    })
}

pub fn export(args: &EnvArgs, format: &str, output: Option<&Path>) -> ExitCode {
    let (project, config) = match args.context() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let result = ops::export(&project, &args.options(config, None), format == "json");
    match result {
        Ok(text) => match output {
            Some(path) => match std::fs::write(path, text) {
                Ok(()) => {
                    eprintln!("Wrote {}", path.display());
                    ExitCode::SUCCESS
                }
                Err(e) => fail(
                    &ProjectError::Io(format!("{}: {e}", path.display())),
                    args.json,
                ),
            },
            None => {
                print!("{text}");
                ExitCode::SUCCESS
            }
        },
        Err(e) => fail(&e, args.json),
    }
}

/// `pylua init`: asks on a terminal for what the flags leave open.
pub fn init(
    dir: &Path,
    name: Option<&str>,
    lua: Option<LuaVersion>,
    profile: Option<&str>,
    (servers, template): (&[String], Option<ops::Template>),
    json_output: bool,
) -> ExitCode {
    let config = match load_config(json_output) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let interactive =
        !json_output && std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let lua = match (lua.or(config.lua), interactive) {
        (Some(l), _) => l,
        (None, false) => LuaVersion::Lua54,
        (None, true) => {
            // Newest first, LuaJIT last; the embedded one is the default.
            let versions = [
                LuaVersion::Lua54,
                LuaVersion::Lua53,
                LuaVersion::Lua52,
                LuaVersion::Lua51,
                LuaVersion::LuaJit,
            ];
            let choices: Vec<String> = versions
                .iter()
                .map(|v| match v {
                    LuaVersion::Lua54 => "5.4 (embedded in pylua, nothing to install)".into(),
                    other => other.as_str().to_string(),
                })
                .collect();
            let picked = dialoguer::Select::new()
                .with_prompt("Lua version")
                .items(&choices)
                .default(0)
                .interact()
                .unwrap_or(0);
            versions[picked]
        }
    };
    let profile = match (profile.or(config.profile.as_deref()), interactive) {
        (Some(p), _) => Some(p.to_string()),
        (None, false) => None,
        (None, true) => {
            let profiles = match config.profiles() {
                Ok(p) => p,
                Err(e) => return fail(&ProjectError::Config(e.to_string()), false),
            };
            let mut names = vec!["none".to_string()];
            let mut items = vec!["none — no packages, add your own".to_string()];
            for p in profiles.list() {
                names.push(p.name.clone());
                items.push(format!("{} — {}", p.name, p.description));
            }
            let picked = dialoguer::Select::new()
                .with_prompt("Profile (packages to start with)")
                .items(&items)
                .default(0)
                .interact()
                .unwrap_or(0);
            (picked > 0).then(|| names[picked].clone())
        }
    };
    let result = match template {
        Some(t) => ops::init_from_template(&config, dir, name, lua, profile.as_deref(), servers, t),
        None => ops::init(&config, dir, name, lua, profile.as_deref(), servers),
    };
    done(result, json_output, |path| {
        println!("Created {}", path.display());
        if let Some(t) = template {
            println!(
                "From the {} template: see main.lua (or src/) to start.",
                t.name()
            );
        }
        println!(
            "Next: `pylua add PACKAGE` adds a dependency, `pylua sync` installs the environment."
        );
    })
}
