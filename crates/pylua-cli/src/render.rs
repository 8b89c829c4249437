//! How results look: text for people, one JSON object for programs, and exit codes.

use pylua::runtime::{render_values, ErrorKind, VmError, LUA_RELEASE};
use serde_json::{json, Value};
use std::process::ExitCode;
use std::time::Duration;

/// The one table of exit codes, by the stable error `kind` every library error has (the
/// README's "Exit codes" lists the same). Every command's failure goes through it.
pub fn exit_code_of(kind: &str) -> u8 {
    match kind {
        "syntax" | "runtime" => 1,
        "usage" => 2,
        "memory_limit" | "instruction_limit" | "timeout" => 3,
        "io" => 4,
        "not_found" | "no_solution" => 5,
        "server" | "tree" => 6,
        "build" => 7,
        "in_use" => 8,
        "no_interpreter" => 9,
        "project_file" | "config" => 10,
        "lock_stale" => 11,
        _ => 1,
    }
}

/// The exit code for a VM error.
pub fn exit_code(e: &VmError) -> u8 {
    exit_code_of(e.kind.as_str())
}

/// What one run produced.
pub struct Report {
    pub result: Result<Vec<Value>, VmError>,
    pub output: String,
    pub setup: Duration,
    pub run: Duration,
}

impl Report {
    pub fn print_text(&self, print_values: bool) {
        match &self.result {
            Ok(values) if print_values && !values.is_empty() => {
                println!("{}", render_values(values))
            }
            Ok(_) => {}
            Err(e) => print_error(e),
        }
    }

    pub fn print_json(&self) {
        let (values, error) = match &self.result {
            Ok(values) => (json!(values), Value::Null),
            Err(e) => (json!([]), error_json(e)),
        };
        let doc = json!({
            "ok": self.result.is_ok(),
            "values": values,
            "output": self.output,
            "error": error,
            "timings": {
                "setup_ms": ms(self.setup),
                "run_ms": ms(self.run),
                "total_ms": ms(self.setup + self.run),
            },
        });
        println!("{doc}");
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

fn error_json(e: &VmError) -> Value {
    serde_json::to_value(e).unwrap_or(Value::Null)
}

/// Prints an error for a person: what happened, where, and what to do about a limit.
pub fn print_error(e: &VmError) {
    eprintln!("pylua: {e}");
    if let Some(tb) = &e.traceback {
        eprintln!("{tb}");
    }
    let hint = match e.kind {
        ErrorKind::Timeout => Some("raise the limit with --timeout, e.g. --timeout 30s"),
        ErrorKind::MemoryLimit => Some("raise the limit with --memory, e.g. --memory 512M"),
        ErrorKind::InstructionLimit => Some("raise the limit with --instructions"),
        _ => None,
    };
    if let Some(hint) = hint {
        eprintln!("hint: {hint}");
    }
}

/// Reports an error that happened before any code ran.
pub fn fail(e: &VmError, json_output: bool) -> ExitCode {
    if json_output {
        println!(
            "{}",
            json!({"ok": false, "values": [], "output": "", "error": error_json(e)})
        );
    } else {
        print_error(e);
    }
    ExitCode::from(exit_code(e))
}

/// `pylua info`.
pub fn info(json_output: bool) {
    let paths = pylua::paths::Paths::discover();
    let interpreters = pylua::interpreters::discover(&paths);
    let mut backends = vec![json!({"name": "embedded", "lua": LUA_RELEASE, "available": true})];
    for i in &interpreters {
        backends.push(json!({
            "name": "process",
            "lua": i.release,
            "version": i.version,
            "path": i.path,
            "origin": i.origin,
            "headers": i.include_dir.is_some(),
        }));
    }
    let doc = json!({
        "pylua": env!("CARGO_PKG_VERSION"),
        "backends": backends,
        "sandboxes": ["none", "standard", "strict"],
        "paths": paths,
    });
    if json_output {
        println!("{doc}");
        return;
    }
    println!("pylua {}", env!("CARGO_PKG_VERSION"));
    println!("backends:");
    println!("  embedded  {LUA_RELEASE} (compiled in, always available)");
    for i in &interpreters {
        println!(
            "  process   {} ({}, {}{})",
            i.release,
            i.path.display(),
            if i.origin == pylua::interpreters::Origin::Pylua {
                "installed by pylua"
            } else {
                "on PATH"
            },
            if i.include_dir.is_some() {
                ", can build C modules"
            } else {
                ""
            }
        );
    }
    if interpreters.is_empty() {
        println!("  process   none found (`pylua lua install 5.1|5.2|5.3|5.4|luajit` builds one)");
    }
    println!("sandboxes:  none, standard, strict");
    println!("paths:");
    println!("  config    {}", paths.config.display());
    println!("  data      {}", paths.data.display());
    println!("  cache     {}", paths.cache.display());
    println!("  logs      {}", crate::logging::log_dir(&paths).display());
}

/// Prints a failed command's error: `{"ok": false, "error": {kind, message}}` with `--json`,
/// else `pylua: message` on stderr.
pub fn print_failure(kind: &str, message: &str, json_output: bool) {
    if json_output {
        println!(
            "{}",
            serde_json::json!({"ok": false, "error": {"kind": kind, "message": message}})
        );
    } else {
        eprintln!("pylua: {message}");
    }
}

/// Reports a failure of any command — `{"ok": false, "error": {"kind", "message"}}` with
/// `--json`, `pylua: message` otherwise — and returns its exit code.
pub fn failure(kind: &str, message: &str, json_output: bool) -> ExitCode {
    print_failure(kind, message, json_output);
    ExitCode::from(exit_code_of(kind))
}
