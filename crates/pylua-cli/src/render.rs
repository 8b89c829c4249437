//! How results look: text for people, one JSON object for programs, and exit codes.

use pylua::hint::Hint;
use pylua::packages::ways_out::WayOut;
use pylua::runtime::{render_values, ErrorKind, VmError, LUA_RELEASE};
use serde_json::{json, Value};
use std::process::ExitCode;
use std::time::Duration;

/// The one table of exit codes: each code, the stable error `kind`s (every library error
/// has one) that end with it, and what it means. Every command's failure goes through it,
/// and `pylua --help` lists it.
pub const EXIT_CODES: &[(u8, &[&str], &str)] = &[
    (
        1,
        &["syntax", "runtime"],
        "the Lua code failed (syntax or runtime error)",
    ),
    (
        2,
        &["usage"],
        "usage error (unknown option, bad value such as --memory lots)",
    ),
    (
        3,
        &["memory_limit", "instruction_limit", "timeout"],
        "a limit stopped the code (memory, instructions or time)",
    ),
    (4, &["io"], "an input file could not be read"),
    (
        5,
        &["not_found", "no_solution"],
        "no such package, or no versions satisfy the request",
    ),
    (
        6,
        &["server", "tree"],
        "a rocks server or the tree could not be read or written",
    ),
    (
        7,
        &["build"],
        "a package failed to fetch, verify or build (nothing was installed)",
    ),
    (
        8,
        &["in_use"],
        "refused: other installed packages depend on what you asked to remove",
    ),
    (
        9,
        &["no_interpreter"],
        "no such Lua interpreter, or it could not be built (pylua lua ...)",
    ),
    (
        10,
        &["project_file", "config"],
        "pylua.toml, pylua.lock or config.toml is missing or invalid",
    ),
    (
        11,
        &["lock_stale"],
        "--locked: pylua.lock would have to change (or --frozen without a lock)",
    ),
    (12, &["unhealthy"], "pylua doctor found something broken"),
    (
        13,
        &["audit"],
        "pylua audit found advisories, damaged files or risky code you --deny",
    ),
    (
        20,
        &["network_denied"],
        "net: the network policy refused a request",
    ),
    (
        21,
        &["network_limit"],
        "net: a request or the run went past a network cap",
    ),
    (
        22,
        &["network_error"],
        "net: a request failed (DNS, connection, TLS, HTTP)",
    ),
];

/// The exit code for an error `kind` (1 for a kind not in [`EXIT_CODES`]).
pub fn exit_code_of(kind: &str) -> u8 {
    EXIT_CODES
        .iter()
        .find(|(_, kinds, _)| kinds.contains(&kind))
        .map_or(1, |(code, _, _)| *code)
}

/// The "Exit codes" part of `pylua --help`, from [`EXIT_CODES`].
pub fn exit_codes_help() -> String {
    let mut out = String::from("Exit codes:\n   0  success\n");
    for (code, _, meaning) in EXIT_CODES {
        out.push_str(&format!("  {code:>2}  {meaning}\n"));
    }
    out
}

/// The exit code for a VM error.
pub fn exit_code(e: &VmError) -> u8 {
    exit_code_of(e.kind.as_str())
}

/// What one run produced.
pub struct Report {
    pub result: Result<Vec<Value>, VmError>,
    pub output: String,
    /// The audit log of `net` requests, when the run had a network policy.
    pub network: Option<Vec<pylua::runtime::NetAudit>>,
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
        let mut doc = json!({
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
        if let Some(network) = &self.network {
            doc["network"] = json!(network);
        }
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
    if let Some(hint) = &e.hint {
        eprintln!("hint: {}", hint_text(hint));
    }
    let hint = match e.kind {
        ErrorKind::Timeout => Some("raise the limit with --timeout, e.g. --timeout 30s"),
        ErrorKind::MemoryLimit => Some("raise the limit with --memory, e.g. --memory 512M"),
        ErrorKind::InstructionLimit => Some("raise the limit with --instructions"),
        ErrorKind::NetworkDenied => Some(
            "allow the host with --allow-net HOST[:PORT] (and plain http with --allow-http)",
        ),
        ErrorKind::NetworkLimit => Some(
            "raise the cap with --net-max-response, --net-timeout, --net-max-requests or --net-max-total",
        ),
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
    let info = pylua::operations::info::system_info(&pylua::paths::Paths::discover());
    let (paths, interpreters) = (&info.paths, &info.interpreters);
    let mut backends = vec![json!({"name": "embedded", "lua": info.embedded, "available": true})];
    for i in interpreters {
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
        "pylua": info.pylua,
        "backends": backends,
        "sandboxes": info.sandboxes,
        "paths": paths,
    });
    if json_output {
        println!("{doc}");
        return;
    }
    println!("pylua {}", env!("CARGO_PKG_VERSION"));
    println!("backends:");
    println!("  embedded  {LUA_RELEASE} (compiled in, always available)");
    for i in interpreters {
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
    println!("  logs      {}", crate::logging::log_dir(paths).display());
}

/// Prints a failed command's error: `{"ok": false, "error": {kind, message}}` with `--json`,
/// else `pylua: message` on stderr.
pub fn print_failure(kind: &str, message: &str, json_output: bool) {
    print_failure_hinted(kind, message, None, json_output);
}

/// [`print_failure`] with the library's hint: `hint` in JSON, a `hint:` line for people.
pub fn print_failure_hinted(kind: &str, message: &str, hint: Option<&Hint>, json_output: bool) {
    print_failure_full(kind, message, hint, &[], json_output);
}

/// A failure with its hint and, for a request that does not resolve, the ways out
/// (`ways_out` in JSON, a numbered list for people).
pub fn print_failure_full(
    kind: &str,
    message: &str,
    hint: Option<&Hint>,
    ways_out: &[WayOut],
    json_output: bool,
) {
    if json_output {
        let mut error = serde_json::json!({"kind": kind, "message": message});
        if let Some(hint) = hint {
            error["hint"] = serde_json::to_value(hint).unwrap_or(Value::Null);
        }
        if !ways_out.is_empty() {
            error["ways_out"] = serde_json::to_value(ways_out).unwrap_or(Value::Null);
        }
        println!("{}", serde_json::json!({"ok": false, "error": error}));
    } else {
        eprintln!("pylua: {message}");
        if let Some(hint) = hint {
            eprintln!("hint: {}", hint_text(hint));
        }
        if !ways_out.is_empty() {
            eprintln!("ways out (each of these resolves):");
            for (i, way) in ways_out.iter().enumerate() {
                eprintln!("  {}. {}", i + 1, way_out_text(way));
            }
        }
    }
}

/// [`print_failure_full`], then the exit code of `kind`.
pub fn failure_full(
    kind: &str,
    message: &str,
    hint: Option<&Hint>,
    ways_out: &[WayOut],
    json_output: bool,
) -> ExitCode {
    print_failure_full(kind, message, hint, ways_out, json_output);
    ExitCode::from(exit_code_of(kind))
}

/// A way out in words.
pub fn way_out_text(way: &WayOut) -> String {
    match way {
        WayOut::Relax {
            package,
            constraint,
            version,
        } => format!("take {package} {version} (the request asks {package} {constraint}): `{package}@=={version}`"),
        WayOut::Drop { package } => format!("leave {package} out"),
        WayOut::OtherLua { lua } => format!("resolve for Lua {lua} (`lua = \"{lua}\"` in pylua.toml, or --lua {lua})"),
    }
}

/// A library hint in the command line's words: the command that helps.
pub fn hint_text(hint: &Hint) -> String {
    match hint {
        Hint::Lock => "run `pylua lock`".into(),
        Hint::Init => "`pylua init` creates a project here".into(),
        Hint::Add => "edit pylua.toml, or add dependencies with `pylua add PACKAGE`".into(),
        Hint::Update => "`pylua update` locks the current commit".into(),
        Hint::History => "`pylua history` lists the transactions".into(),
        Hint::Catalog => "`pylua catalog` lists the curated packages".into(),
        Hint::ProfileShow { profile } => {
            format!("`pylua profile show {profile}` checks it against the servers")
        }
        Hint::ProfileUse => "`pylua profile use NAME` switches the project's profile".into(),
        Hint::ConfigSet { key, example } => format!("`pylua config set {key} {example}`"),
        Hint::InstallLua { version } => {
            format!("install one with `pylua lua install {version}`")
        }
        Hint::ProvidedBy {
            module,
            packages,
            in_project,
        } => {
            let first = packages.first().map_or("", String::as_str);
            let others = &packages[1.min(packages.len())..];
            let also = if others.is_empty() {
                String::new()
            } else {
                format!(" (also: {})", others.join(", "))
            };
            let verb = if *in_project {
                "pylua add"
            } else {
                "pylua install"
            };
            format!("module '{module}' is provided by package {first}{also}; add it with: `{verb} {first}`")
        }
    }
}

/// Reports a failure of any command — `{"ok": false, "error": {"kind", "message"}}` with
/// `--json`, `pylua: message` otherwise — and returns its exit code.
pub fn failure(kind: &str, message: &str, json_output: bool) -> ExitCode {
    print_failure(kind, message, json_output);
    ExitCode::from(exit_code_of(kind))
}
