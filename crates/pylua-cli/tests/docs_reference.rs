//! The command reference, `docs/reference/commands.md`, is generated from the command line's
//! own definition (`pylua_cli::command()`): every command, subcommand, argument and option with
//! its help text. This test renders it again and compares, so a renamed flag or a changed help
//! text fails here until the page is regenerated:
//!
//! ```sh
//! PYLUA_BLESS=1 cargo test -p pylua-cli --test docs_reference
//! ```

use clap::{Arg, ArgAction, Command};
use std::fmt::Write as _;
use std::path::PathBuf;

const REGENERATE: &str = "PYLUA_BLESS=1 cargo test -p pylua-cli --test docs_reference";

fn page_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/reference/commands.md")
}

#[test]
fn the_command_reference_matches_the_command_line() {
    let page = page_path();
    let expected = reference_markdown();
    if std::env::var_os("PYLUA_BLESS").is_some_and(|v| !v.is_empty() && v != "0") {
        std::fs::write(&page, &expected).unwrap();
        return;
    }
    let found = std::fs::read_to_string(&page).unwrap_or_default();
    if found != expected {
        let first = found
            .lines()
            .zip(expected.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| found.lines().count().min(expected.lines().count()));
        let line = |text: &str| {
            text.lines()
                .nth(first)
                .unwrap_or("(end of file)")
                .to_string()
        };
        panic!(
            "docs/reference/commands.md is out of date with the command line (first difference at line {}):\n  \
             page:         {}\n  command line: {}\n\
             Regenerate it with:\n  {REGENERATE}\nand commit the result.",
            first + 1,
            line(&found),
            line(&expected),
        );
    }
}

/// A bug in the renderer (a section missing) would let everything pass; check the page names
/// what it must.
#[test]
fn the_reference_covers_every_command_and_flag() {
    let page = reference_markdown();
    let mut root = pylua_cli::command();
    root.build();
    let mut missing = Vec::new();
    walk(&root, &mut |cmd, path| {
        if !page.contains(&format!("## `{path}`")) && path != "pylua" {
            missing.push(path.to_string());
        }
        for arg in cmd.get_arguments().filter(|a| shown(a)) {
            if let Some(long) = arg.get_long() {
                if !page.contains(&format!("--{long}")) {
                    missing.push(format!("{path} --{long}"));
                }
            }
        }
    });
    assert!(missing.is_empty(), "not in the reference: {missing:?}");
    for sample in [
        "## `pylua lua install`",
        "`--allow-net <HOST[:PORT]>`",
        "`--frozen`",
    ] {
        assert!(page.contains(sample), "the reference lacks {sample}");
    }
}

fn walk(cmd: &Command, visit: &mut dyn FnMut(&Command, &str)) {
    let path = cmd
        .get_bin_name()
        .map(str::to_string)
        .unwrap_or_else(|| cmd.get_name().to_string());
    visit(cmd, &path);
    for sub in cmd.get_subcommands().filter(|s| listed(s)) {
        walk(sub, visit);
    }
}

/// Hidden commands and the `help` subcommands clap adds (`pylua help COMMAND` is `pylua
/// COMMAND --help`) are left out.
fn listed(cmd: &Command) -> bool {
    !cmd.is_hide_set() && cmd.get_name() != "help"
}

/// `--help`, `--version` and the global flags (documented once, at the top) are left out of
/// each command's list.
fn shown(arg: &Arg) -> bool {
    !arg.is_hide_set()
        && !arg.is_global_set()
        && !matches!(
            arg.get_action(),
            ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong | ArgAction::Version
        )
}

/// The whole page.
fn reference_markdown() -> String {
    let mut root = pylua_cli::command().term_width(0);
    root.build();
    let mut out = String::new();
    out.push_str(
        "<!-- GENERATED from the command line's definition (crates/pylua-cli/src/lib.rs) by \
         crates/pylua-cli/tests/docs_reference.rs. Do not edit: change the help texts, then run\n     ",
    );
    out.push_str(REGENERATE);
    out.push_str(" -->\n\n# Command reference\n\n");
    out.push_str(&full_stop(paragraphs(&text(
        root.get_long_about().or(root.get_about()),
    ))));
    out.push_str(
        "\n\nEvery command takes `-h` (a summary) and `--help` (everything on this page for \
         that command; `pylua help COMMAND` is the same). These options work with every \
         command:\n\n",
    );
    for arg in root.get_arguments().filter(|a| a.is_global_set()) {
        out.push_str(&arg_item(arg));
    }
    out.push_str("\n## Commands\n\n");
    let mut index = String::new();
    walk(&root, &mut |cmd, path| {
        if path == "pylua" {
            return;
        }
        let depth = path.matches(' ').count();
        let _ = writeln!(
            index,
            "{}- [`{path}`](#{}) — {}",
            "  ".repeat(depth - 1),
            anchor(path),
            text(cmd.get_about()).replace('\n', " ")
        );
    });
    out.push_str(&index);
    let after = text(root.get_after_long_help().or(root.get_after_help()));
    if !after.is_empty() {
        let _ = write!(
            out,
            "\n`pylua --help` ends with:\n\n```text\n{after}\n```\n"
        );
    }
    walk(&root, &mut |cmd, path| {
        if path != "pylua" {
            out.push_str(&command_section(cmd, path));
        }
    });
    out
}

fn command_section(cmd: &Command, path: &str) -> String {
    let mut out = format!("\n## `{path}`\n\n");
    let aliases: Vec<&str> = cmd.get_visible_aliases().collect();
    if !aliases.is_empty() {
        let names: Vec<String> = aliases.iter().map(|a| format!("`{a}`")).collect();
        let _ = writeln!(out, "Alias: {}.\n", names.join(", "));
    }
    let about = text(cmd.get_long_about().or(cmd.get_about()));
    if !about.is_empty() {
        let _ = writeln!(out, "{}\n", full_stop(paragraphs(&about)));
    }
    let usage = cmd.clone().render_usage().to_string();
    let usage = usage.trim().trim_start_matches("Usage:").trim();
    let _ = writeln!(out, "```text\n{usage}\n```");
    let subcommands: Vec<&Command> = cmd.get_subcommands().filter(|s| listed(s)).collect();
    if !subcommands.is_empty() {
        out.push_str("\nSubcommands:\n\n");
        for sub in subcommands {
            let name = sub.get_bin_name().unwrap_or(sub.get_name());
            let _ = writeln!(
                out,
                "- [`{}`](#{}) — {}",
                sub.get_name(),
                anchor(name),
                text(sub.get_about()).replace('\n', " ")
            );
        }
    }
    let (positional, options): (Vec<&Arg>, Vec<&Arg>) = cmd
        .get_arguments()
        .filter(|a| shown(a))
        .partition(|a| a.is_positional());
    if !positional.is_empty() {
        out.push_str("\nArguments:\n\n");
        for arg in positional {
            out.push_str(&arg_item(arg));
        }
    }
    if !options.is_empty() {
        out.push_str("\nOptions:\n\n");
        for arg in options {
            out.push_str(&arg_item(arg));
        }
    }
    let after = text(cmd.get_after_long_help().or(cmd.get_after_help()));
    if !after.is_empty() {
        let _ = write!(out, "\n```text\n{after}\n```\n");
    }
    out
}

/// One argument as a list item: its spelling, its help, then what clap knows of its values.
fn arg_item(arg: &Arg) -> String {
    let mut facts = Vec::new();
    if arg.is_required_set() && !arg.is_positional() {
        facts.push("Required.".to_string());
    }
    let mut body = text(arg.get_long_help().or(arg.get_help()));
    if matches!(arg.get_action(), ArgAction::Append) && !body.to_lowercase().contains("repeatable")
    {
        facts.push("Repeatable.".to_string());
    }
    if matches!(arg.get_action(), ArgAction::Count) {
        facts.push("Repeatable (`-vv`).".to_string());
    }
    let values: Vec<String> = arg
        .get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| format!("`{}`", v.get_name()))
        .collect();
    if !values.is_empty() && arg.get_action().takes_values() {
        facts.push(format!("One of {}.", values.join(", ")));
    }
    let flag = matches!(
        arg.get_action(),
        ArgAction::SetTrue | ArgAction::SetFalse | ArgAction::Count
    );
    let defaults: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|v| format!("`{}`", v.to_string_lossy()))
        .collect();
    if !defaults.is_empty() && !flag {
        facts.push(format!("Default: {}.", defaults.join(", ")));
    }
    body = full_stop(body);
    if !facts.is_empty() {
        if !body.is_empty() {
            body.push(' ');
        }
        body.push_str(&facts.join(" "));
    }
    let body = paragraphs(&body).replace("\n\n", "\n\n  ");
    if body.is_empty() {
        format!("- `{}`\n", spelling(arg))
    } else {
        format!("- `{}` — {body}\n", spelling(arg))
    }
}

/// How the argument is written: `-j, --jobs <JOBS>`, `<FILE>`, `[ARGS]...`.
fn spelling(arg: &Arg) -> String {
    let names: Vec<String> = arg
        .get_value_names()
        .map(|n| n.iter().map(|s| s.to_string()).collect())
        .unwrap_or_else(|| vec![arg.get_id().as_str().to_uppercase()]);
    let many = arg.get_num_args().is_some_and(|r| r.max_values() > 1)
        || matches!(arg.get_action(), ArgAction::Append);
    if arg.is_positional() {
        let name = names.join(" ");
        let inner = if arg.is_required_set() {
            format!("<{name}>")
        } else {
            format!("[{name}]")
        };
        return if many { format!("{inner}...") } else { inner };
    }
    let mut flag = String::new();
    if let Some(short) = arg.get_short() {
        flag.push('-');
        flag.push(short);
    }
    if let Some(long) = arg.get_long() {
        if !flag.is_empty() {
            flag.push_str(", ");
        }
        flag.push_str("--");
        flag.push_str(long);
    }
    if arg.get_action().takes_values() {
        for name in names {
            let _ = write!(flag, " <{name}>");
        }
    }
    flag
}

/// clap drops the full stop of a one-line help text; a page of sentences wants it back.
fn full_stop(mut s: String) -> String {
    if !s.is_empty() && !s.ends_with(['.', '!', '?', ':']) {
        s.push('.');
    }
    s
}

fn text(s: Option<&clap::builder::StyledStr>) -> String {
    s.map(|s| s.to_string().trim().to_string())
        .unwrap_or_default()
}

/// Help text as Markdown paragraphs: lines joined, blank lines kept.
fn paragraphs(s: &str) -> String {
    s.split("\n\n")
        .map(|p| p.lines().map(str::trim).collect::<Vec<_>>().join(" "))
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// The anchor a forge gives the heading "`pylua lua install`": `pylua-lua-install`.
fn anchor(path: &str) -> String {
    path.to_lowercase().replace(' ', "-")
}
