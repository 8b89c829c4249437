//! `pylua search`, `show` and `install --dry-run`: rendering of the library's query results.

use clap::Args;
use pylua::operations::{self, query::QueryError, ServerOptions};
use serde::Serialize;
use serde_json::json;
use std::process::ExitCode;

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
    /// The Lua version packages are for.
    #[arg(long = "lua", default_value = "5.4", value_name = "VERSION")]
    lua: String,
    /// Use only what is in the download cache; never touch the network.
    #[arg(long)]
    offline: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

impl ServerArgs {
    fn options(&self) -> ServerOptions {
        ServerOptions {
            extra: self.servers.clone(),
            only: self.only.clone(),
            lua_version: self.lua.clone(),
            cache_dir: None,
            offline: self.offline,
        }
    }
}

/// Exit codes of package commands (see `pylua --help`).
fn exit_code(e: &QueryError) -> u8 {
    match e {
        QueryError::BadRequest(_) => 2,
        QueryError::NotFound(_) | QueryError::Resolve(_) => 5,
        QueryError::Server(_) => 6,
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
            if args.json {
                println!(
                    "{}",
                    json!({"ok": false, "error": {"kind": e.kind(), "message": e.to_string()}})
                );
            } else {
                eprintln!("pylua: {e}");
            }
            ExitCode::from(exit_code(&e))
        }
    }
}

pub fn search(args: &ServerArgs, term: &str) -> ExitCode {
    finish(args, operations::search(&args.options(), term), |hits| {
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
    finish(
        args,
        operations::show(&args.options(), name, version),
        |s| {
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
        },
    )
}

pub fn install(args: &ServerArgs, packages: &[String], dry_run: bool) -> ExitCode {
    if !dry_run {
        eprintln!(
            "pylua: this version resolves packages but does not install them yet; run `pylua install --dry-run {}` to see the plan",
            packages.join(" ")
        );
        return ExitCode::from(2);
    }
    finish(args, operations::plan(&args.options(), packages), |plan| {
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
    })
}
