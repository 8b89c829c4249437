//! `pylua provides` and `pylua recommend`: rendering the curator's module index answers and
//! recommendations.

use crate::packages::{ServerArgs, TreeArgs};
use pylua::curator::module_index::ModuleKind;
use pylua::operations::provides::{provides as provides_op, ProvidesReport};
use pylua::operations::recommend::{recommend as recommend_op, RecommendOptions};
use serde_json::json;
use std::path::Path;
use std::process::ExitCode;

/// The project around the current directory (or `dir`), unless a tree was named.
fn project(dir: Option<&Path>, tree: &TreeArgs) -> Option<pylua::project::Project> {
    if tree.tree.is_some() && dir.is_none() {
        return None;
    }
    crate::project_cmd::find_project(dir).ok()
}

/// `pylua provides MODULE…`.
pub fn provides(
    modules: &[String],
    servers: &ServerArgs,
    tree: &TreeArgs,
    jobs: Option<usize>,
) -> ExitCode {
    let json_output = servers.json;
    let mut options = match servers.options() {
        Ok(o) => o,
        Err(code) => return code,
    };
    let config = match crate::curator_cmd::load_config(json_output) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let catalog = match config.catalog() {
        Ok(c) => c,
        Err(e) => return crate::render::failure("config", &e.to_string(), json_output),
    };
    let project = project(None, tree);
    // A project's own servers stand in for the configured ones.
    if let Some(file) = project
        .as_ref()
        .and_then(|p| p.snapshot().and_then(|s| p.read_project(&s)).ok())
    {
        if !file.project.servers.is_empty() {
            options.defaults = file.project.servers;
        }
    }
    let tree = match &project {
        Some(p) => pylua::packages::tree::Tree::detect(p.tree_dir()),
        None => tree.tree(),
    };
    let report = match provides_op(
        &options,
        modules,
        &catalog,
        Some(&tree),
        project.is_some(),
        jobs.unwrap_or(0),
    ) {
        Ok(r) => r,
        Err(e) => return crate::render::failure(e.kind(), &e.to_string(), json_output),
    };
    let missing: Vec<&str> = report
        .results
        .iter()
        .filter(|r| r.packages.is_empty() && r.installed.is_empty())
        .map(|r| r.module.as_str())
        .collect();
    if json_output {
        let mut doc = json!({"ok": missing.is_empty(), "result": report});
        if !missing.is_empty() {
            doc["error"] = json!({"kind": "not_found", "message": not_found(&missing, &report)});
        }
        println!("{doc}");
    } else {
        print_provides(&report);
        if !missing.is_empty() {
            eprintln!("pylua: {}", not_found(&missing, &report));
        }
    }
    if missing.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::render::exit_code_of("not_found"))
    }
}

fn not_found(missing: &[&str], report: &ProvidesReport) -> String {
    let servers: Vec<&str> = report.indexes.iter().map(|i| i.server.as_str()).collect();
    format!(
        "no package on {} provides {}",
        servers.join(", "),
        missing
            .iter()
            .map(|m| format!("'{m}'"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn print_provides(report: &ProvidesReport) {
    for result in &report.results {
        for i in &result.installed {
            println!(
                "{}: installed, from {} {} ({})",
                result.module,
                i.package,
                i.version,
                kind_words(i.kind)
            );
        }
        if result.packages.is_empty() {
            continue;
        }
        println!("{} is provided by:", result.module);
        for (n, s) in result.packages.iter().enumerate() {
            let p = &s.provider;
            let mut notes = Vec::new();
            if p.in_catalog {
                notes.push("in the catalog".to_string());
            }
            notes.push(format!(
                "{} of {} versions",
                p.versions.len(),
                p.version_count
            ));
            notes.push(kind_words(p.kind).to_string());
            println!(
                "  {:<24} {:<12} {}",
                p.package,
                p.versions.first().map_or("", String::as_str),
                notes.join(", ")
            );
            if n == 0 {
                println!("  add it with: {}", s.command);
            }
        }
    }
}

fn kind_words(kind: ModuleKind) -> &'static str {
    match kind {
        ModuleKind::Lua => "Lua module",
        ModuleKind::C => "C module",
        ModuleKind::Opener => "luaopen_ function in a C library",
    }
}

/// `pylua recommend`.
pub fn recommend(
    project_dir: Option<&Path>,
    servers: &ServerArgs,
    tree: &TreeArgs,
    jobs: Option<usize>,
) -> ExitCode {
    let json_output = servers.json;
    let options = match servers.options() {
        Ok(o) => o,
        Err(code) => return code,
    };
    let config = match crate::curator_cmd::load_config(json_output) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Some(dir) = project_dir {
        if let Err(e) = crate::project_cmd::find_project(Some(dir)) {
            return crate::project_cmd::fail(&e, json_output);
        }
    }
    let project = project(project_dir, tree);
    let result = recommend_op(&RecommendOptions {
        project: project.as_ref(),
        tree: Some(tree.tree()),
        servers: options,
        config: &config,
        jobs: jobs.unwrap_or(0),
    });
    let report = match result {
        Ok(r) => r,
        Err(e) => return crate::render::failure(e.kind(), &e.to_string(), json_output),
    };
    if json_output {
        println!("{}", json!({"ok": true, "result": report}));
        return ExitCode::SUCCESS;
    }
    for w in &report.warnings {
        eprintln!("pylua: warning: {w}");
    }
    match &report.project {
        Some(p) => println!(
            "project {p} (Lua {}): {} modules required, {} recorded runs",
            report.lua,
            report.required.len(),
            report.recorded_runs
        ),
        None => println!(
            "no project here: recommending for the tree and the profile (Lua {})",
            report.lua
        ),
    }
    if report.recommendations.is_empty() {
        println!("nothing to recommend");
    }
    for r in &report.recommendations {
        let label = serde_json::to_value(r.kind)
            .ok()
            .and_then(|v| v.as_str().map(|s| s.replace('_', "-")))
            .unwrap_or_default();
        let what = r.package.as_deref().or(r.module.as_deref()).unwrap_or("");
        println!("\n{label:<16}{what}");
        println!("  why: {}", r.reason);
        println!("  run: {}", r.command);
    }
    ExitCode::SUCCESS
}
