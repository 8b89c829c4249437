//! `pylua search`, `show` and `install --dry-run`: rendering of the library's query results.

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use pylua::interpreters::LuaVersion;
use pylua::operations::install::{
    default_jobs, destination, Action, InstallOptions, Launcher, Progress,
};
use pylua::operations::tree::{self as tree_ops, TreeOpError};
use pylua::operations::{self, query::QueryError, ServerOptions};
use pylua::packages::link::LinkMode;
use pylua::packages::tree::Tree;
use serde::Serialize;
use serde_json::json;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

/// `--lua` of the package commands: a version, or `embedded` for the embedded 5.4.
fn parse_lua(s: &str) -> Result<LuaVersion, String> {
    if s == "embedded" {
        return Ok(LuaVersion::Lua54);
    }
    crate::lua_cmd::parse_version(s)
}

/// Which rocks servers to ask.
#[derive(Args, Clone)]
pub struct ServerArgs {
    /// A rocks server to ask before the default one (repeatable): https://…, http://…,
    /// file:///path or a local directory.
    #[arg(long = "server", value_name = "URL")]
    servers: Vec<String>,
    /// Ask only this server (repeatable); the default server is not used.
    #[arg(long = "only-server", value_name = "URL")]
    only: Vec<String>,
    /// The Lua packages are for: 5.4 (the embedded VM, default), or 5.1, 5.2, 5.3, luajit
    /// (an interpreter on PATH or installed by `pylua lua install`).
    #[arg(long = "lua", default_value = "5.4", value_name = "VERSION", value_parser = parse_lua)]
    lua: LuaVersion,
    /// Use only what is in the download cache; never touch the network.
    #[arg(long)]
    offline: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

impl ServerArgs {
    /// The Lua named with `--lua`.
    pub fn lua_name(&self) -> LuaVersion {
        self.lua
    }

    /// The interpreter asked for with `--lua`, when it is not the embedded 5.4.
    pub fn external(&self) -> Option<LuaVersion> {
        Some(self.lua).filter(|v| *v != LuaVersion::Lua54)
    }

    /// The server options, with the configured servers and cache directory (an invalid
    /// configuration is reported and ends the command).
    pub fn options(&self) -> Result<ServerOptions, ExitCode> {
        let config = crate::curator_cmd::load_config(self.json)?;
        Ok(ServerOptions::from_config(
            &config,
            Some(self.lua),
            self.servers.clone(),
            self.only.clone(),
            self.offline,
        ))
    }
}

/// A progress bar on stderr when it is a terminal (and the output is not JSON).
pub fn progress_bar(json_output: bool) -> Option<ProgressBar> {
    (!json_output && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg:<40} [{bar:30}] {pos}/{len} ({eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message("resolving");
        bar.enable_steady_tick(std::time::Duration::from_millis(100));
        bar
    })
}

/// Shows one install step on the bar.
pub fn show_progress(bar: Option<&ProgressBar>, p: Progress) {
    if let Some(bar) = bar {
        match p {
            Progress::Planned { total } => {
                bar.set_length(total as u64);
                bar.set_message("fetching and building");
            }
            Progress::Done { name, version } => {
                bar.inc(1);
                bar.set_message(format!("built {name} {version}"));
            }
            Progress::Installing => bar.set_message("installing"),
        }
    }
}

fn finish<T: Serialize>(
    args: &ServerArgs,
    result: Result<T, QueryError>,
    text: impl FnOnce(&T),
) -> ExitCode {
    match result {
        Ok(value) => {
            if args.json {
                println!("{}", json!({"ok": true, "result": value}));
            } else {
                text(&value);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            crate::render::failure_full(e.kind(), &e.to_string(), None, e.ways_out(), args.json)
        }
    }
}

pub fn search(args: &ServerArgs, term: &str) -> ExitCode {
    let options = match args.options() {
        Ok(o) => o,
        Err(code) => return code,
    };
    finish(args, operations::search(&options, term), |hits| {
        if hits.is_empty() {
            println!("no packages match '{term}'");
        }
        for hit in hits {
            let shown: Vec<&str> = hit.versions.iter().take(5).map(String::as_str).collect();
            let more = hit.versions.len().saturating_sub(shown.len());
            let more = if more > 0 {
                format!(" (+{more} more)")
            } else {
                String::new()
            };
            println!("{:<24} {}{more}", hit.name, shown.join(", "));
        }
    })
}

pub fn show(args: &ServerArgs, name: &str, version: Option<&str>) -> ExitCode {
    let options = match args.options() {
        Ok(o) => o,
        Err(code) => return code,
    };
    finish(args, operations::show(&options, name, version), |s| {
        println!("{} {}", s.name, s.version);
        if let Some(summary) = &s.description.summary {
            println!("  {summary}");
        }
        let line = |label: &str, value: &Option<String>| {
            if let Some(v) = value {
                println!("{label:<14}{v}");
            }
        };
        println!();
        line("license:", &s.description.license);
        line("homepage:", &s.description.homepage);
        println!("{:<14}{}", "build:", s.build_type);
        println!("{:<14}{}", "server:", s.server);
        println!("{:<14}{}", "versions:", s.versions.join(", "));
        if s.dependencies.is_empty() {
            println!("{:<14}none", "dependencies:");
        } else {
            println!("dependencies:");
            for d in &s.dependencies {
                println!("  {d}");
            }
        }
    })
}

/// Which tree to work on.
#[derive(Args, Clone)]
pub struct TreeArgs {
    /// The rocks tree (default: the project's .pylua/ inside a project, else your per-user
    /// tree in pylua's data directory).
    #[arg(long, value_name = "DIR")]
    pub tree: Option<PathBuf>,
}

impl TreeArgs {
    /// The tree, with the layout of the one Lua version it holds packages for (5.4 when it
    /// is empty or holds several).
    pub fn tree(&self) -> Tree {
        Tree::detect(self.tree_for("5.4").root())
    }

    /// The tree with the layout of Lua `api` (`share/lua/5.1`…).
    pub fn tree_for(&self, api: &str) -> Tree {
        let root = self.tree.clone().unwrap_or_else(|| {
            let cwd = std::env::current_dir().unwrap_or_default();
            tree_ops::default_root(&cwd)
        });
        Tree::new(root, api)
    }
}

pub fn install(
    args: &ServerArgs,
    tree: &TreeArgs,
    packages: &[String],
    dry_run: bool,
    jobs: Option<usize>,
    link_mode: Option<LinkMode>,
) -> ExitCode {
    if dry_run {
        let options = match args.options() {
            Ok(o) => o,
            Err(code) => return code,
        };
        return finish(args, operations::plan(&options, packages), |plan| {
            println!(
                "Would install {} package{} for Lua {}:",
                plan.packages.len(),
                if plan.packages.len() == 1 { "" } else { "s" },
                plan.lua_version
            );
            for p in &plan.packages {
                let why = if p.requested { "" } else { "  (dependency)" };
                println!("  {} {}{why}", p.name, p.version);
            }
        });
    }
    let mut options = match args.options() {
        Ok(o) => o,
        Err(code) => return code,
    };
    if let Some(mode) = link_mode {
        options.link_mode = mode;
    }
    let external = args.external();
    let root = tree.tree_for("5.4").root().to_path_buf();
    let destination = match destination(
        external,
        &root,
        options.fetcher().root(),
        Launcher::Executable(std::env::current_exe().unwrap_or_else(|_| "pylua".into())),
    ) {
        Ok(d) => d,
        Err(e) => return crate::render::failure(e.kind(), &e.to_string(), args.json),
    };
    let bar = progress_bar(args.json);
    let progress = |p: Progress| show_progress(bar.as_ref(), p);
    let install_options = InstallOptions {
        servers: options,
        tree: destination.tree,
        target: destination.target,
        launcher: destination.launcher,
        jobs: jobs.unwrap_or_else(default_jobs),
        progress: Some(&progress),
    };
    let result = operations::install::install(&install_options, packages);
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    match result {
        Ok(report) => {
            if args.json {
                println!("{}", json!({"ok": true, "result": report}));
            } else {
                let changed = report
                    .packages
                    .iter()
                    .filter(|p| p.action != Action::Unchanged)
                    .count();
                println!(
                    "{} {changed} package{} into {} (Lua {}) in {:.2}s",
                    if changed == 0 {
                        "Nothing to do: installed"
                    } else {
                        "Installed"
                    },
                    if changed == 1 { "" } else { "s" },
                    report.tree,
                    report.lua_version,
                    report.seconds
                );
                let mut shown: Vec<_> = report.packages.iter().collect();
                shown.sort_by(|a, b| a.name.cmp(&b.name));
                for p in shown {
                    match p.action {
                        Action::Installed => println!("  + {} {}", p.name, p.version),
                        Action::Upgraded => println!(
                            "  ~ {} {} (was {})",
                            p.name,
                            p.version,
                            p.previous.as_deref().unwrap_or("?")
                        ),
                        _ => println!("  = {} {} (already installed)", p.name, p.version),
                    }
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            let code = crate::render::failure_full(
                e.kind(),
                &e.to_string(),
                None,
                e.ways_out(),
                args.json,
            );
            if !args.json {
                eprintln!("nothing was installed; the tree is unchanged");
            }
            code
        }
    }
}

fn tree_fail(e: &TreeOpError, json_output: bool) -> ExitCode {
    crate::render::failure(e.kind(), &e.to_string(), json_output)
}

pub fn list(tree: &TreeArgs, json_output: bool) -> ExitCode {
    let tree = tree.tree();
    match tree_ops::list(&tree) {
        Ok(rocks) => {
            if json_output {
                println!(
                    "{}",
                    json!({"ok": true, "result": {"tree": tree.root(), "packages": rocks}})
                );
            } else if rocks.is_empty() {
                println!("no packages installed in {}", tree.root().display());
            } else {
                for r in &rocks {
                    println!("{:<24} {}", r.name, r.version);
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => tree_fail(&e, json_output),
    }
}

pub fn remove(tree: &TreeArgs, names: &[String], force: bool, json_output: bool) -> ExitCode {
    let tree = tree.tree();
    match tree_ops::remove(&tree, names, force) {
        Ok(removed) => {
            if json_output {
                println!("{}", json!({"ok": true, "result": {"removed": removed}}));
            } else {
                for r in &removed {
                    println!("  - {} {}", r.name, r.version);
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => tree_fail(&e, json_output),
    }
}

pub fn path(tree: &TreeArgs, json_output: bool) -> ExitCode {
    let p = tree_ops::path(&tree.tree());
    if json_output {
        println!("{}", json!({"ok": true, "result": p}));
    } else {
        println!("export LUA_PATH='{}'", p.lua_path);
        println!("export LUA_CPATH='{}'", p.lua_cpath);
        println!("export PATH='{}':\"$PATH\"", p.bin);
    }
    ExitCode::SUCCESS
}

pub fn which(tree: &TreeArgs, module: &str, json_output: bool) -> ExitCode {
    match tree_ops::which(&tree.tree(), module) {
        Ok(loc) => {
            if json_output {
                println!("{}", json!({"ok": true, "result": loc}));
            } else {
                println!("{}", loc.file.display());
                println!("  (provided by {} {})", loc.package, loc.version);
            }
            ExitCode::SUCCESS
        }
        Err(e) => tree_fail(&e, json_output),
    }
}

pub fn cache(action: &str, json_output: bool) -> ExitCode {
    let config = match crate::curator_cmd::load_config(json_output) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let fetcher = ServerOptions {
        cache_dir: config.cache_dir,
        ..ServerOptions::default()
    }
    .fetcher();
    let root = fetcher.root().display().to_string();
    match action {
        "dir" if json_output => println!("{}", json!({"ok": true, "result": {"dir": root}})),
        "dir" => println!("{root}"),
        "size" => {
            let size = fetcher.size();
            if json_output {
                println!(
                    "{}",
                    json!({"ok": true, "result": {"dir": root, "bytes": size}})
                );
            } else {
                println!("{:.1} MiB in {root}", size as f64 / (1024.0 * 1024.0));
            }
        }
        _ => match fetcher.clean() {
            Ok(freed) => {
                if json_output {
                    println!(
                        "{}",
                        json!({"ok": true, "result": {"dir": root, "freed_bytes": freed}})
                    );
                } else {
                    println!(
                        "removed {:.1} MiB from {root}",
                        freed as f64 / (1024.0 * 1024.0)
                    );
                }
            }
            Err(e) => {
                return crate::render::failure(
                    "tree",
                    &format!("cannot clean {root}: {e}"),
                    json_output,
                )
            }
        },
    }
    ExitCode::SUCCESS
}
