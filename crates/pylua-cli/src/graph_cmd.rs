//! `pylua tree` and `pylua outdated`: rendering the library's dependency graph and its
//! outdated report (`operations::graph`).

use crate::packages::{ServerArgs, TreeArgs};
use crate::project_cmd::{fail, find_project, EnvArgs};
use crate::render::failure;
use pylua::operations::graph::{outdated, DependencyGraph, Outdated, TreeNode};
use pylua::operations::project as ops;
use pylua::packages::tree::Tree;
use pylua::project::Project;
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

/// Where the graph comes from: a rocks tree named with `--tree`, else the project around
/// the directory (its lock), else the per-user tree.
enum Source {
    Project(Project),
    Tree(Tree),
}

fn source(
    tree: &TreeArgs,
    project: Option<&PathBuf>,
) -> Result<Source, pylua::operations::project::ProjectError> {
    if tree.tree.is_none() {
        if let Some(dir) = project {
            return find_project(Some(dir)).map(Source::Project);
        }
        if let Ok(p) = find_project(None) {
            return Ok(Source::Project(p));
        }
    }
    Ok(Source::Tree(tree.tree()))
}

fn installed_graph(
    tree: &Tree,
    json_output: bool,
) -> Result<
    (
        DependencyGraph,
        std::collections::BTreeMap<String, pylua::packages::tree::InstalledRock>,
    ),
    ExitCode,
> {
    match tree.read() {
        Ok(rocks) => Ok((DependencyGraph::from_installed(&rocks), rocks)),
        Err(e) => Err(failure("tree", &e.to_string(), json_output)),
    }
}

/// `pylua tree`.
pub fn tree(
    tree_args: &TreeArgs,
    project: Option<&PathBuf>,
    invert: Option<&str>,
    depth: Option<usize>,
    json_output: bool,
) -> ExitCode {
    let graph = match source(tree_args, project) {
        Err(e) => return fail(&e, json_output),
        Ok(Source::Project(p)) => match ops::dependency_graph(&p) {
            Ok(g) => g,
            Err(e) => return fail(&e, json_output),
        },
        Ok(Source::Tree(t)) => match installed_graph(&t, json_output) {
            Ok((g, _)) => g,
            Err(code) => return code,
        },
    };
    let nodes = match invert {
        Some(name) => match graph.invert(name, depth) {
            Some(node) => vec![node],
            None => {
                return failure(
                    "not_found",
                    &format!("{name} is not in this environment"),
                    json_output,
                )
            }
        },
        None => graph.tree(depth),
    };
    if json_output {
        println!("{}", json!({"ok": true, "result": nodes}));
        return ExitCode::SUCCESS;
    }
    if nodes.is_empty() {
        println!("(no packages)");
    }
    for node in &nodes {
        println!("{} {}", node.name, node.version);
        draw(&node.children, "");
    }
    ExitCode::SUCCESS
}

fn draw(children: &[TreeNode], prefix: &str) {
    for (i, child) in children.iter().enumerate() {
        let last = i + 1 == children.len();
        let (branch, next) = if last {
            ("└── ", "    ")
        } else {
            ("├── ", "│   ")
        };
        let mark = if child.repeated { " (*)" } else { "" };
        println!("{prefix}{branch}{} {}{mark}", child.name, child.version);
        draw(&child.children, &format!("{prefix}{next}"));
    }
}

/// `pylua outdated`.
pub fn outdated_cmd(
    servers: &ServerArgs,
    tree_args: &TreeArgs,
    project: Option<&PathBuf>,
) -> ExitCode {
    let json_output = servers.json;
    let rows: Vec<Outdated> = match source(tree_args, project) {
        Err(e) => return fail(&e, json_output),
        Ok(Source::Project(p)) => {
            let config = match crate::curator_cmd::load_config(json_output) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let env = EnvArgs {
                json: json_output,
                ..EnvArgs::default()
            };
            match ops::outdated(&p, &env.options(config, None)) {
                Ok(rows) => rows,
                Err(e) => return fail(&e, json_output),
            }
        }
        Ok(Source::Tree(t)) => {
            let (graph, rocks) = match installed_graph(&t, json_output) {
                Ok(g) => g,
                Err(code) => return code,
            };
            let options = match servers.options() {
                Ok(o) => o,
                Err(code) => return code,
            };
            let index = match options.index() {
                Ok(i) => i,
                Err(e) => return failure(e.kind(), &e.to_string(), json_output),
            };
            outdated(&graph, &Default::default(), Some(&rocks), &index)
        }
    };
    if json_output {
        println!("{}", json!({"ok": true, "result": rows}));
        return ExitCode::SUCCESS;
    }
    let dash = || "-".to_string();
    println!(
        "{:<24} {:<14} {:<14} {:<14}",
        "package", "current", "wanted", "latest"
    );
    for r in &rows {
        let behind = r.latest.as_deref().is_some_and(|l| l != r.current);
        println!(
            "{:<24} {:<14} {:<14} {:<14}{}",
            r.name,
            r.current,
            r.wanted.clone().unwrap_or_else(dash),
            r.latest.clone().unwrap_or_else(dash),
            if behind { "" } else { "  (up to date)" }
        );
    }
    ExitCode::SUCCESS
}
