//! `pylua repl`: an interactive session on one VM. Lines that are expressions print their
//! values; an unfinished statement asks for more lines; history is kept between sessions.

use crate::render::print_error;
use crate::Prepared;
use pylua::paths::Paths;
use pylua::runtime::render_values;
use rustyline::error::ReadlineError;
use rustyline::DefaultEditor;
use std::process::ExitCode;

pub fn run(args: &Prepared) -> ExitCode {
    let mut vm = match args.build(None, false) {
        Ok(vm) => vm,
        Err(e) => return crate::render::fail(&e, false),
    };
    let mut editor = match DefaultEditor::new() {
        Ok(editor) => editor,
        Err(e) => {
            eprintln!("pylua: cannot start the line editor: {e}");
            return ExitCode::from(1);
        }
    };
    let history = Paths::discover().repl_history();
    let _ = editor.load_history(&history);
    println!(
        "pylua {} — {} ({}, sandbox {}). Ctrl-D to leave.",
        env!("CARGO_PKG_VERSION"),
        vm.release(),
        vm.backend(),
        vm.sandbox()
    );
    let mut pending = String::new();
    loop {
        let prompt = if pending.is_empty() { "> " } else { ">> " };
        let line = match editor.readline(prompt) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => {
                // Ctrl-C drops an unfinished statement, as lua does.
                pending.clear();
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("pylua: cannot read input: {e}");
                break;
            }
        };
        if !pending.is_empty() {
            pending.push('\n');
        }
        pending.push_str(&line);
        if pending.trim().is_empty() {
            pending.clear();
            continue;
        }
        match vm.eval_interactive(&pending) {
            Err(e) if e.incomplete => continue,
            Ok(values) => {
                if !values.is_empty() {
                    println!("{}", render_values(&values));
                }
            }
            Err(mut e) => {
                crate::run_hooks::annotate_error(&mut e, args);
                print_error(&e)
            }
        }
        let _ = editor.add_history_entry(pending.as_str());
        pending.clear();
    }
    if let Some(dir) = history.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = editor.save_history(&history);
    ExitCode::SUCCESS
}
