//! The `pylua` command line: parses arguments, calls the library, renders results.
//! No work happens here that the library could do.

mod lua_cmd;
mod packages;
mod render;
mod repl;

use clap::{Args, Parser, Subcommand};
use pylua::interpreters::LuaVersion;
use pylua::runtime::{
    parse_duration, parse_size, AnyVm, Backend, Limits, Output, Sandbox, VmError,
};
use render::{exit_code, Report};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const AFTER_HELP: &str = "\
Exit codes:
  0  success
  1  the Lua code failed (syntax or runtime error)
  2  usage error (unknown option, bad value such as --memory lots)
  3  a limit stopped the code (memory, instructions or time)
  4  an input file could not be read
  5  no such package, or no versions satisfy the request
  6  a rocks server or the tree could not be read or written
  7  a package failed to fetch, verify or build (nothing was installed)
  8  refused: other installed packages depend on what you asked to remove
  9  no such Lua interpreter, or it could not be built (pylua lua ...)

Examples:
  pylua eval 'return 1 + 1'
  pylua run script.lua arg1 arg2
  pylua run --sandbox strict --timeout 2s --memory 64M untrusted.lua
  pylua repl
  pylua lua install luajit && pylua eval --lua luajit 'return jit.version'
  pylua search json --only-server file:///srv/rocks
  pylua install --dry-run penlight lua-cjson@2.1.0";

/// Run Lua code in managed, sandboxed VMs.
#[derive(Parser)]
#[command(name = "pylua", version, about, after_help = AFTER_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a Lua script file; extra arguments reach it as `arg` and `...`.
    Run {
        /// The script to run.
        file: PathBuf,
        /// Arguments for the script.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
        #[command(flatten)]
        vm: VmArgs,
    },
    /// Run a chunk of Lua code and print the values it returns.
    ///
    /// A bare expression works too: `pylua eval '1 + 1'` prints 2.
    Eval {
        /// The Lua code.
        code: String,
        #[command(flatten)]
        vm: VmArgs,
    },
    /// Start an interactive session (history, multi-line input, values pretty-printed).
    Repl {
        #[command(flatten)]
        vm: VmArgs,
    },
    /// Search rocks servers for packages whose name contains TERM.
    Search {
        term: String,
        #[command(flatten)]
        servers: packages::ServerArgs,
    },
    /// Show a package: versions, dependencies, summary, license, homepage.
    Show {
        package: String,
        /// A specific version (default: the newest release).
        version: Option<String>,
        #[command(flatten)]
        servers: packages::ServerArgs,
    },
    /// Install packages and their dependencies (NAME, NAME@1.2, NAME@>=1.0,<2, or a path
    /// to a .rockspec) into a rocks tree, all at once or not at all.
    Install {
        #[arg(required = true, value_name = "PACKAGE")]
        packages: Vec<String>,
        /// Print the resolved plan without installing anything.
        #[arg(long)]
        dry_run: bool,
        /// Parallel fetch and build jobs (default: the number of CPUs).
        #[arg(long, short = 'j')]
        jobs: Option<usize>,
        #[command(flatten)]
        servers: packages::ServerArgs,
        #[command(flatten)]
        tree: packages::TreeArgs,
    },
    /// Remove installed packages (refused while others depend on them, unless --force).
    Remove {
        #[arg(required = true, value_name = "PACKAGE")]
        packages: Vec<String>,
        /// Remove even if other installed packages depend on them.
        #[arg(long)]
        force: bool,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        tree: packages::TreeArgs,
    },
    /// List the packages installed in a tree.
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        tree: packages::TreeArgs,
    },
    /// Print shell commands that let `lua` and scripts use a tree (like `luarocks path`).
    Path {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        tree: packages::TreeArgs,
    },
    /// Show which installed file provides a module.
    Which {
        module: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        tree: packages::TreeArgs,
    },
    /// The download cache: where it is, how big, or empty it.
    Cache {
        #[arg(value_parser = ["dir", "size", "clean"])]
        action: String,
        #[arg(long)]
        json: bool,
    },
    /// External Lua interpreters (5.1-5.4, LuaJIT): list, which, install, uninstall.
    Lua {
        #[command(subcommand)]
        command: lua_cmd::LuaCommand,
    },
    /// Show versions, directories and available backends.
    Info {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Settings shared by every command that runs Lua.
#[derive(Args, Clone)]
struct VmArgs {
    /// Sandbox policy: none (full library, like `lua`), standard (no processes, files only
    /// in allowed directories) or strict (pure computation).
    #[arg(long, default_value = "none", value_parser = parse_sandbox, value_name = "POLICY")]
    sandbox: Sandbox,
    /// Memory limit, e.g. 64M or 1G.
    #[arg(long, value_parser = parse_memory, value_name = "SIZE")]
    memory: Option<usize>,
    /// Wall-clock limit, e.g. 500ms, 5s or 2m.
    #[arg(long, value_parser = parse_timeout, value_name = "DURATION")]
    timeout: Option<Duration>,
    /// Instruction limit (Lua VM instructions, checked every 1000).
    #[arg(long, value_name = "N")]
    instructions: Option<u64>,
    /// A directory the standard sandbox may read and write (repeatable; default: the current
    /// directory and the script's directory).
    #[arg(long = "allow-dir", value_name = "DIR")]
    allow_dirs: Vec<PathBuf>,
    /// Print one JSON object (values, output, error, timings) instead of text.
    #[arg(long)]
    json: bool,
    /// Make this rocks tree's modules available to `require` (default: your per-user tree).
    #[arg(long, value_name = "DIR")]
    tree: Option<PathBuf>,
    /// Lua version: 5.1, 5.2, 5.3, 5.4 or luajit (default: the embedded 5.4). Versions other
    /// than 5.4 run in an external interpreter (see `pylua lua list`).
    #[arg(long = "lua", value_parser = lua_cmd::parse_version, value_name = "VERSION")]
    lua: Option<LuaVersion>,
    /// Where the code runs: embedded (Lua 5.4 compiled into pylua) or process (an external
    /// interpreter, kept running for the session).
    #[arg(long, value_parser = parse_backend, value_name = "BACKEND")]
    backend: Option<Backend>,
}

fn parse_sandbox(s: &str) -> Result<Sandbox, String> {
    s.parse().map_err(|e: VmError| e.message)
}
fn parse_memory(s: &str) -> Result<usize, String> {
    parse_size(s).map_err(|e| e.message)
}
fn parse_timeout(s: &str) -> Result<Duration, String> {
    parse_duration(s).map_err(|e| e.message)
}
fn parse_backend(s: &str) -> Result<Backend, String> {
    s.parse().map_err(|e: VmError| e.message)
}

impl VmArgs {
    fn limits(&self) -> Limits {
        Limits {
            memory: self.memory,
            instructions: self.instructions,
            timeout: self.timeout,
        }
    }

    /// Builds the VM; output streams to stdout unless JSON was asked for.
    /// `stdin`: whether the code may read standard input (not in the REPL, which reads it).
    fn build(&self, script_dir: Option<PathBuf>, stdin: bool) -> Result<AnyVm, VmError> {
        let mut tree = packages::TreeArgs {
            tree: self.tree.clone(),
        }
        .tree();
        let mut builder = AnyVm::builder().inherit_stdin(stdin).exit_with_parent(true);
        if let Some(version) = self.lua {
            builder = builder.lua(version);
            // The tree's modules for that version's layout (LuaJIT uses 5.1's).
            tree = pylua::packages::tree::Tree::new(tree.root(), version.api());
        }
        if let Some(backend) = self.backend {
            builder = builder.backend(backend);
        }
        builder = builder
            .sandbox(self.sandbox)
            .limits(self.limits())
            .package_path(tree.package_path())
            .package_cpath(tree.package_cpath());
        if tree.root().is_dir() {
            builder = builder.allow_dir(tree.root());
        }
        if self.allow_dirs.is_empty() {
            builder = builder.allow_dir(".");
            if let Some(dir) = script_dir {
                builder = builder.allow_dir(dir);
            }
        }
        for dir in &self.allow_dirs {
            builder = builder.allow_dir(dir);
        }
        if !self.json {
            builder = builder.output(Output::stream(|bytes| {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(bytes);
                let _ = out.flush();
            }));
        }
        builder.build()
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run { file, args, vm } => {
            let dir = file.parent().map(|p| {
                if p.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    p.to_path_buf()
                }
            });
            one_shot(&vm, dir, |machine| machine.run_file(&file, &args), false)
        }
        Command::Eval { code, vm } => {
            one_shot(&vm, None, |machine| eval_code(machine, &code), true)
        }
        Command::Repl { vm } => repl::run(&vm),
        Command::Search { term, servers } => packages::search(&servers, &term),
        Command::Show {
            package,
            version,
            servers,
        } => packages::show(&servers, &package, version.as_deref()),
        Command::Install {
            packages: list,
            dry_run,
            jobs,
            servers,
            tree,
        } => packages::install(&servers, &tree, &list, dry_run, jobs),
        Command::Remove {
            packages: list,
            force,
            json,
            tree,
        } => packages::remove(&tree, &list, force, json),
        Command::List { json, tree } => packages::list(&tree, json),
        Command::Path { json, tree } => packages::path(&tree, json),
        Command::Which { module, json, tree } => packages::which(&tree, &module, json),
        Command::Cache { action, json } => packages::cache(&action, json),
        Command::Lua { command } => lua_cmd::run(command),
        Command::Info { json } => {
            render::info(json);
            ExitCode::SUCCESS
        }
    }
}

/// `eval`: the code as a chunk, or as an expression when it is one.
fn eval_code(vm: &mut AnyVm, code: &str) -> Result<Vec<serde_json::Value>, VmError> {
    match vm.eval(code) {
        Err(e) if e.kind == pylua::ErrorKind::Syntax => match vm.eval(&format!("return {code}")) {
            Ok(values) => Ok(values),
            Err(_) => Err(e),
        },
        other => other,
    }
}

fn one_shot(
    args: &VmArgs,
    script_dir: Option<PathBuf>,
    job: impl FnOnce(&mut AnyVm) -> Result<Vec<serde_json::Value>, VmError>,
    print_values: bool,
) -> ExitCode {
    let start = Instant::now();
    let mut vm = match args.build(script_dir, true) {
        Ok(vm) => vm,
        Err(e) => return render::fail(&e, args.json),
    };
    let setup = start.elapsed();
    let result = job(&mut vm);
    let report = Report {
        result,
        output: vm.take_output(),
        setup,
        run: start.elapsed() - setup,
    };
    let code = report.result.as_ref().err().map_or(0, exit_code);
    if args.json {
        report.print_json();
    } else {
        report.print_text(print_values);
    }
    ExitCode::from(code)
}
