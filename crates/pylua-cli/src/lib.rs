//! The `pylua` command line: parses arguments, calls the library, renders results.
//! No work happens here that the library could do.
//!
//! It is a library with one entry point, [`run`], so that the `pylua` binary and the Python
//! module (`python -m pylua_vm`) run the very same command line.

mod advice_cmd;
mod audit_cmd;
mod bench_cmd;
mod curator_cmd;
mod doctor_cmd;
mod graph_cmd;
mod logging;
mod lua_cmd;
mod net_args;
mod packages;
mod project_cmd;
mod render;
mod repl;
mod run_hooks;
mod server_cmd;
mod setup_cmd;
mod test_cmd;

use clap::{Args, Parser, Subcommand};
use pylua::interpreters::LuaVersion;
use pylua::operations::run::{RunOptions, RunPlan};
use pylua::runtime::{
    parse_duration, parse_size, AnyVm, Backend, Output, Sandbox, StderrSink, VmError,
};
use render::{exit_code, Report};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const EXAMPLES: &str = "\
Examples:
  pylua eval 'return 1 + 1'
  pylua run script.lua arg1 arg2
  pylua run --sandbox strict --timeout 2s --memory 64M untrusted.lua
  pylua repl
  pylua lua install luajit && pylua eval --lua luajit 'return jit.version'
  pylua search json --only-server file:///srv/rocks
  pylua install --dry-run penlight lua-cjson@2.1.0
  pylua init --profile standard && pylua add argparse && pylua run main.lua
  pylua sync --locked          (CI: install exactly what pylua.lock says)
  pylua provides lfs           (which package to add for require 'lfs')
  pylua recommend              (what the project's code lacks, never uses, or pairs with)
  pylua history && pylua rollback";

/// Run Lua code in managed, sandboxed VMs.
#[derive(Parser)]
#[command(name = "pylua", version, about, after_help = format!("{}\n{EXAMPLES}", render::exit_codes_help()))]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// More detail on stderr (-v: steps, -vv: debug, -vvv: everything). PYLUA_LOG takes a
    /// filter instead, e.g. PYLUA_LOG=pylua=debug.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    quiet: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Run a Lua script file, or a command installed in the tree; extra arguments reach it
    /// as `arg` and `...`.
    ///
    /// `pylua run busted spec/` runs the `busted` command of the project's (or --tree's)
    /// packages when no file named `busted` exists here.
    Run {
        /// The script to run, or the name of a command installed in the tree.
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
    /// Create a project here: a pylua.toml naming the Lua version, profile and servers
    /// (asks on a terminal for what the flags leave open).
    Init {
        /// The directory (default: the current one).
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// The project's name (default: the directory's name).
        #[arg(long)]
        name: Option<String>,
        /// Lua version: 5.4 (embedded, the default), 5.3, 5.2, 5.1 or luajit.
        #[arg(long, value_parser = lua_cmd::parse_version, value_name = "VERSION")]
        lua: Option<LuaVersion>,
        /// A profile of curated packages to start with (see `pylua profile list`).
        #[arg(long)]
        profile: Option<String>,
        /// Rocks servers for this project (repeatable; default: the configured ones).
        #[arg(long = "server", value_name = "URL")]
        servers: Vec<String>,
        /// Start from a template: http-client, cli or library.
        #[arg(long, value_name = "NAME")]
        template: Option<pylua::operations::project::Template>,
        #[arg(long)]
        json: bool,
    },
    /// Add dependencies to pylua.toml (NAME, NAME@1.2, NAME@>=1.0,<2), lock and sync.
    #[command(
        after_help = "Examples:\n  pylua add penlight                 any version (locks the newest)\n  pylua add 'lua-cjson@>= 2.1, < 3'  a range\n  pylua add --dev busted             a dev-dependency\n  pylua add --frozen lpeg            only edit pylua.toml (no lock, no sync)\n\nA package the profile already brings takes the constraint you give here."
    )]
    Add {
        #[arg(required = true, value_name = "PACKAGE")]
        packages: Vec<String>,
        /// Add them as dev-dependencies (for developing and testing the project).
        #[arg(long)]
        dev: bool,
        #[command(flatten)]
        env: project_cmd::EnvArgs,
    },
    /// Resolve pylua.toml into pylua.lock (keeping locked versions that still fit).
    Lock {
        #[command(flatten)]
        env: project_cmd::EnvArgs,
    },
    /// Move locked packages (all, or those named) to the newest versions pylua.toml allows.
    Update {
        #[arg(value_name = "PACKAGE")]
        packages: Vec<String>,
        #[command(flatten)]
        env: project_cmd::EnvArgs,
    },
    /// Make .pylua/ hold exactly what pylua.lock says: install what is missing, remove what
    /// is extra (locking first if pylua.toml changed).
    #[command(
        after_help = "Examples:\n  pylua sync                 lock if pylua.toml changed, then install exactly the lock\n  pylua sync --locked        CI: fail (exit 11) if pylua.lock is not up to date\n  pylua sync --frozen        install the lock as it is, whatever pylua.toml says\n  pylua sync --offline       only from the download cache"
    )]
    Sync {
        /// Leave packages only dev-dependencies need out of the tree.
        #[arg(long)]
        no_dev: bool,
        #[command(flatten)]
        env: project_cmd::EnvArgs,
    },
    /// Show the project: Lua, profile, whether the lock and tree are up to date, tree hash.
    Status {
        #[command(flatten)]
        env: project_cmd::EnvArgs,
    },
    /// List the project's transactions (add, remove, sync, update, profile use, import,
    /// rollback) with their time, outcome and package changes.
    History {
        #[command(flatten)]
        env: project_cmd::EnvArgs,
    },
    /// Put pylua.toml, pylua.lock and .pylua/ back as they were before transaction N
    /// (default: the last one). The rollback is recorded too, so it can be undone.
    #[command(
        after_help = "Examples:\n  pylua history              the transactions and their numbers\n  pylua rollback             undo the last one\n  pylua rollback 3           back to how things were before transaction 3"
    )]
    Rollback {
        id: Option<u64>,
        #[command(flatten)]
        env: project_cmd::EnvArgs,
    },
    /// Write the environment (project file and lock) as one file for `pylua import`.
    Export {
        #[arg(long, default_value = "toml", value_parser = ["toml", "json"])]
        format: String,
        /// Write to FILE instead of standard output.
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
        #[command(flatten)]
        env: project_cmd::EnvArgs,
    },
    /// Make this directory's project the exported one and install it exactly.
    Import {
        file: PathBuf,
        #[command(flatten)]
        env: project_cmd::EnvArgs,
    },
    /// Profiles: curated sets of packages a project starts from (list, show, create,
    /// delete, use).
    Profile {
        #[command(subcommand)]
        command: ProfileCommand,
    },
    /// The curated catalog: packages by category with recommended constraints; NAME shows
    /// one.
    Catalog {
        name: Option<String>,
        /// Only this category: core, networking, parsing, testing, data, security, utility, web.
        #[arg(long)]
        category: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// The global configuration (servers, cache dir, default Lua and profile, catalogs, your
    /// profiles): list, get, set, unset, path.
    Config {
        #[command(subcommand)]
        command: curator_cmd::ConfigAction,
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
        /// How installed files are made from the package store in the cache: auto (reflink,
        /// else hard link, else copy), reflink, hardlink or copy (default: `link-mode` in
        /// config.toml, else auto).
        #[arg(long, value_name = "MODE", value_parser = project_cmd::parse_link_mode)]
        link_mode: Option<pylua::packages::link::LinkMode>,
        #[command(flatten)]
        servers: packages::ServerArgs,
        #[command(flatten)]
        tree: packages::TreeArgs,
    },
    /// In a project: remove dependencies from pylua.toml, lock and sync. Elsewhere (or with
    /// --tree): remove installed packages from a tree (refused while others depend on them,
    /// unless --force).
    Remove {
        #[arg(required = true, value_name = "PACKAGE")]
        packages: Vec<String>,
        /// Tree mode: remove even if other installed packages depend on them.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        tree: packages::TreeArgs,
        #[command(flatten)]
        env: project_cmd::EnvArgs,
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
    /// Which packages provide a module (what `require "MODULE"` needs), best first: curated
    /// packages, then those with more versions, then by name; with the command to add one.
    ///
    /// The answer comes from a module index of each server, built from its rockspecs and
    /// rocks the first time and kept in the cache until the server's manifest changes.
    Provides {
        #[arg(required = true, value_name = "MODULE")]
        modules: Vec<String>,
        /// Parallel downloads while indexing (default: twice the number of CPUs).
        #[arg(long, short = 'j')]
        jobs: Option<usize>,
        #[command(flatten)]
        servers: packages::ServerArgs,
        #[command(flatten)]
        tree: packages::TreeArgs,
    },
    /// Recommendations with reasons: modules the code requires but lacks, dependencies it
    /// never requires, what pairs with what it uses, better alternatives, packages that do
    /// not support its Lua. Outside a project: from the tree, the profile and the catalog.
    Recommend {
        /// The project's directory (default: the nearest one upwards holding a pylua.toml).
        #[arg(long, value_name = "DIR")]
        project: Option<PathBuf>,
        #[arg(long, short = 'j')]
        jobs: Option<usize>,
        #[command(flatten)]
        servers: packages::ServerArgs,
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
    /// First-run setup: detect Luas, LuaRocks and a compiler; choose the default Lua,
    /// profile and servers; write config.toml. Every answer is also a flag.
    Setup {
        /// Default Lua for new projects.
        #[arg(long, value_parser = lua_cmd::parse_version, value_name = "VERSION")]
        lua: Option<LuaVersion>,
        /// Default profile for new projects (`none` for no profile).
        #[arg(long, value_name = "NAME")]
        profile: Option<String>,
        /// Rocks servers to use (repeatable), replacing the configured ones.
        #[arg(long = "server", value_name = "URL")]
        servers: Vec<String>,
        /// Do not ask: keep what the flags leave open as it is.
        #[arg(long, short = 'y')]
        yes: bool,
        #[arg(long)]
        json: bool,
    },
    /// Run tests: with PACKAGEs, each package's own suite (its rockspec's test table, or
    /// busted when its sources carry spec/) against it installed in a throw-away tree; in a
    /// project without names, the project's spec/ with its busted.
    Test {
        packages: Vec<String>,
        /// How long one suite may run.
        #[arg(long, value_parser = parse_timeout, default_value = "300s")]
        timeout: Duration,
        #[command(flatten)]
        servers: packages::ServerArgs,
    },
    /// Measure what loading packages costs: per module, require time cold (fresh VM) and
    /// warm, memory left in the VM, size on disk; medians with the spread. Named packages
    /// (`penlight@1.13 penlight@1.14`) are installed into throw-away trees; without names,
    /// the tree's installed packages.
    Bench {
        packages: Vec<String>,
        /// Measure the named packages as installed in the tree instead of fetching them.
        #[arg(long)]
        installed: bool,
        /// Fresh VMs per module.
        #[arg(long, default_value_t = 7)]
        runs: usize,
        #[command(flatten)]
        servers: packages::ServerArgs,
        #[command(flatten)]
        tree: packages::TreeArgs,
    },
    /// Audit what is installed: security advisories (OSV), installed files against their
    /// checksums, and code that reaches the shell, loads code or native libraries (exit 13
    /// on findings).
    Audit {
        /// An extra advisory source for this run: an OSV file, a directory of them, or a URL.
        #[arg(long, value_name = "PATH")]
        advisories: Vec<String>,
        /// Fail on risky code of this category: shell, load, debug or native (repeatable).
        #[arg(long, value_name = "CATEGORY", value_parser = parse_category)]
        deny: Vec<pylua::operations::audit::risky::Category>,
        /// Leave out the built-in advisories.
        #[arg(long)]
        no_builtin: bool,
        /// Print a SARIF 2.1.0 report (for code-scanning services).
        #[arg(long, conflicts_with = "json")]
        sarif: bool,
        #[arg(long)]
        json: bool,
        /// The project's directory (default: the nearest one upwards holding a pylua.toml).
        #[arg(long, value_name = "DIR")]
        project: Option<PathBuf>,
        #[command(flatten)]
        tree: packages::TreeArgs,
    },
    /// Check the environment and the project: Luas, compiler, servers, lock, installed files,
    /// modules that load; each problem with its fix (exit 12 when something is broken).
    #[command(visible_alias = "health")]
    Doctor {
        /// Apply the safe fixes (resync, install damaged packages again, remove orphans) as
        /// one transaction, then check again.
        #[arg(long)]
        fix: bool,
        /// Check one area only: environment, project or networking (networking runs only when asked).
        #[arg(long, value_name = "AREA", value_parser = parse_area)]
        only: Option<pylua::operations::doctor::Area>,
        /// The project's directory (default: the nearest one upwards holding a pylua.toml).
        #[arg(long, value_name = "DIR")]
        project: Option<PathBuf>,
        /// Do not ask the servers whether they answer.
        #[arg(long)]
        offline: bool,
        #[arg(long)]
        json: bool,
    },
    /// Draw the dependency tree of the project (from its lock) or of a rocks tree (--tree).
    Tree {
        /// Show who needs PACKAGE: it at the top, the packages that depend on it below.
        #[arg(long, value_name = "PACKAGE")]
        invert: Option<String>,
        /// How many levels below the top to draw.
        #[arg(long, value_name = "N")]
        depth: Option<usize>,
        /// The project's directory (default: the nearest one upwards holding a pylua.toml).
        #[arg(long, value_name = "DIR")]
        project: Option<PathBuf>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        tree: packages::TreeArgs,
    },
    /// List each package's version, the newest its constraints allow and the newest available.
    Outdated {
        /// The project's directory (default: the nearest one upwards holding a pylua.toml).
        #[arg(long, value_name = "DIR")]
        project: Option<PathBuf>,
        #[command(flatten)]
        servers: packages::ServerArgs,
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
    /// Team servers: write a LuaRocks server (with binary rocks built here), add to it,
    /// serve it.
    Server {
        #[command(subcommand)]
        command: server_cmd::ServerCommand,
    },
    /// Show versions, directories and available backends.
    Info {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print a shell completion script.
    ///
    /// Examples: `pylua completions bash > ~/.local/share/bash-completion/completions/pylua`,
    /// `pylua completions zsh > "${fpath[1]}/_pylua"`,
    /// `pylua completions fish > ~/.config/fish/completions/pylua.fish`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand)]
enum ProfileCommand {
    #[command(flatten)]
    Catalog(curator_cmd::ProfileAction),
    /// Switch the project to profile NAME: shows the packages to add and remove, asks, then
    /// locks and syncs.
    Use {
        name: String,
        /// Apply without asking.
        #[arg(long, short = 'y')]
        yes: bool,
        /// Only show the change.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        env: project_cmd::EnvArgs,
    },
}

/// Settings shared by every command that runs Lua.
#[derive(Args, Clone)]
struct VmArgs {
    /// Sandbox policy: none (full library, like `lua`), standard (no processes, files only
    /// in allowed directories) or strict (pure computation).
    /// In a project, `[run] sandbox` in pylua.toml is the default.
    #[arg(long, value_parser = parse_sandbox, value_name = "POLICY")]
    sandbox: Option<Sandbox>,
    /// Memory limit, e.g. 64M or 1G.
    #[arg(long, value_parser = parse_memory, value_name = "SIZE")]
    memory: Option<usize>,
    /// Wall-clock limit, e.g. 500ms, 5s or 2m.
    #[arg(long, value_parser = parse_timeout, value_name = "DURATION")]
    timeout: Option<Duration>,
    /// Instruction limit (Lua VM instructions per run, at least 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    instructions: Option<u64>,
    /// A directory the standard sandbox may read and write (repeatable; default: the current
    /// directory and the script's directory).
    #[arg(long = "allow-dir", value_name = "DIR")]
    allow_dirs: Vec<PathBuf>,
    /// Under --sandbox standard, let scripts load LuaSocket's and LuaSec's C modules
    /// (socket.core, mime.core, ssl) from the tree, which becomes read-only to them. No
    /// network policy can constrain a C module: prefer `net` with --allow-net.
    #[arg(long)]
    allow_luasocket: bool,
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
    /// Ignore the project around the current directory (its tree, Lua and [run] settings).
    #[arg(long)]
    no_project: bool,
    /// In a project: use pylua.lock and .pylua/ as they are, without syncing first.
    #[arg(long)]
    frozen: bool,
    #[command(flatten)]
    net: net_args::NetArgs,
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
fn parse_category(s: &str) -> Result<pylua::operations::audit::risky::Category, String> {
    s.parse()
}
fn parse_area(s: &str) -> Result<pylua::operations::doctor::Area, String> {
    s.parse()
}
fn parse_backend(s: &str) -> Result<Backend, String> {
    s.parse().map_err(|e: VmError| e.message)
}

impl VmArgs {
    /// The library's run plan for these flags: inside a project (and without --tree or
    /// --no-project) the project is synced when stale, and its tree, Lua and `[run]`
    /// defaults fill what the flags leave open.
    fn prepare(self) -> Result<Prepared, ExitCode> {
        let json = self.json;
        let options = RunOptions {
            tree: self.tree,
            lua: self.lua,
            backend: self.backend,
            sandbox: self.sandbox,
            memory: self.memory,
            timeout: self.timeout,
            instructions: self.instructions,
            allow_dirs: self.allow_dirs,
            no_project: self.no_project,
            net: self.net.options(),
            allow_luasocket: self.allow_luasocket.then_some(true),
        };
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let project = options.project(&cwd);
        let config = match &project {
            Some(_) if !self.frozen => Some(curator_cmd::load_config(json)?),
            _ => None,
        };
        let sync = config.map(|c| project_cmd::EnvArgs::default().options(c, None));
        let plan = options
            .prepare(project, sync.as_ref())
            .map_err(|e| project_cmd::fail(&e, json))?;
        if let Some(run) = &plan.project {
            if let (Some(outcome), false) = (&run.synced, json) {
                eprintln!(
                    "pylua: synced {}: {} installed, {} removed",
                    run.project.tree_dir().display(),
                    outcome.sync.installed.len(),
                    outcome.sync.removed.len()
                );
            }
        }
        // Scripts that start the project's commands (`.pylua/bin`) find them, and the
        // wrappers find this pylua: the command line owns its process's environment.
        if let Some(path) = plan.command_path() {
            std::env::set_var("PATH", path);
            if let Ok(exe) = std::env::current_exe() {
                std::env::set_var("PYLUA", exe);
            }
        }
        Ok(Prepared { plan, json })
    }
}

/// A run plan and how to print.
pub struct Prepared {
    plan: RunPlan,
    json: bool,
}

impl Prepared {
    /// Builds the VM; output streams to stdout unless JSON was asked for.
    /// `stdin`: whether the code may read standard input (not in the REPL, which reads it).
    fn build(&self, script_dir: Option<PathBuf>, stdin: bool) -> Result<AnyVm, VmError> {
        let mut builder = self
            .plan
            .vm_builder(script_dir.as_deref())
            .inherit_stdin(stdin)
            .exit_with_parent(true)
            .stderr(StderrSink::inherit());
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

/// The command line's definition: every command, argument and help text. The command
/// reference (`docs/reference/commands.md`) is generated from it and checked against it by
/// `tests/docs_reference.rs`, so a renamed flag cannot leave the docs behind.
pub fn command() -> clap::Command {
    use clap::CommandFactory as _;
    Cli::command()
}

/// Runs the command line on `args` (the program name first, as `std::env::args_os` gives
/// them) and returns the exit code.
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // What `Cli::parse` does, without ending the process: help and version go to
            // stdout with 0, usage errors to stderr with 2.
            let _ = e.print();
            return ExitCode::from(e.exit_code().clamp(0, 255) as u8);
        }
    };
    logging::init(cli.verbose, cli.quiet);
    match cli.command {
        Command::Run { file, args, vm } => {
            let vm = match vm.prepare() {
                Ok(vm) => vm,
                Err(code) => return code,
            };
            let file = vm.plan.script_or_command(file);
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
            let vm = match vm.prepare() {
                Ok(vm) => vm,
                Err(code) => return code,
            };
            one_shot(&vm, None, |machine| machine.eval_code(&code), true)
        }
        Command::Repl { vm } => match vm.prepare() {
            Ok(vm) => repl::run(&vm),
            Err(code) => code,
        },
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
            link_mode,
            servers,
            tree,
        } => packages::install(&servers, &tree, &list, dry_run, jobs, link_mode),
        Command::Remove {
            packages: list,
            force,
            tree,
            env,
        } => {
            let in_project = tree.tree.is_none()
                && (env.project.is_some() || project_cmd::find_project(None).is_ok());
            if in_project {
                project_cmd::remove(&env, &list)
            } else {
                packages::remove(&tree, &list, force, env.json)
            }
        }
        Command::Init {
            dir,
            name,
            lua,
            profile,
            servers,
            template,
            json,
        } => project_cmd::init(
            &dir,
            name.as_deref(),
            lua,
            profile.as_deref(),
            (&servers, template),
            json,
        ),
        Command::Add { packages, dev, env } => project_cmd::add(&env, &packages, dev),
        Command::Lock { env } => project_cmd::lock(&env),
        Command::Update { packages, env } => project_cmd::update(&env, &packages),
        Command::Sync { no_dev, env } => project_cmd::sync(&env, no_dev),
        Command::Status { env } => project_cmd::status(&env),
        Command::History { env } => project_cmd::history(&env),
        Command::Rollback { id, env } => project_cmd::rollback(&env, id),
        Command::Export {
            format,
            output,
            env,
        } => project_cmd::export(&env, &format, output.as_deref()),
        Command::Import { file, env } => project_cmd::import(&env, &file),
        Command::Catalog {
            name,
            category,
            json,
        } => curator_cmd::catalog(name.as_deref(), category.as_deref(), json),
        Command::Config { command } => curator_cmd::config_cmd(command),
        Command::Profile { command } => match command {
            ProfileCommand::Catalog(action) => curator_cmd::profile(action),
            ProfileCommand::Use {
                name,
                yes,
                dry_run,
                env,
            } => project_cmd::use_profile(&env, &name, yes, dry_run),
        },
        Command::List { json, tree } => packages::list(&tree, json),
        Command::Path { json, tree } => packages::path(&tree, json),
        Command::Which { module, json, tree } => packages::which(&tree, &module, json),
        Command::Provides {
            modules,
            jobs,
            servers,
            tree,
        } => advice_cmd::provides(&modules, &servers, &tree, jobs),
        Command::Recommend {
            project,
            jobs,
            servers,
            tree,
        } => advice_cmd::recommend(project.as_deref(), &servers, &tree, jobs),
        Command::Cache { action, json } => packages::cache(&action, json),
        Command::Setup {
            lua,
            profile,
            servers,
            yes,
            json,
        } => setup_cmd::run(setup_cmd::SetupArgs {
            lua,
            profile,
            servers,
            yes,
            json,
        }),
        Command::Bench {
            packages,
            installed,
            runs,
            servers,
            tree,
        } => bench_cmd::run(&packages, installed, runs, &servers, &tree),
        Command::Test {
            packages,
            timeout,
            servers,
        } => test_cmd::run(&packages, &servers, timeout),
        Command::Audit {
            advisories,
            deny,
            no_builtin,
            sarif,
            json,
            project,
            tree,
        } => audit_cmd::run(audit_cmd::AuditArgs {
            advisories,
            deny,
            no_builtin,
            sarif,
            json,
            project,
            tree,
        }),
        Command::Doctor {
            fix,
            only,
            project,
            offline,
            json,
        } => doctor_cmd::run(only, project.as_ref(), fix, offline, json),
        Command::Tree {
            invert,
            depth,
            project,
            json,
            tree,
        } => graph_cmd::tree(&tree, project.as_ref(), invert.as_deref(), depth, json),
        Command::Outdated {
            project,
            servers,
            tree,
        } => graph_cmd::outdated_cmd(&servers, &tree, project.as_ref()),
        Command::Lua { command } => lua_cmd::run(command),
        Command::Server { command } => server_cmd::run(command),
        Command::Completions { shell } => {
            use clap::CommandFactory as _;
            // Into memory first: the generator panics on a write error (`| head`).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "pylua", &mut script);
            let _ = std::io::stdout().write_all(&script);
            ExitCode::SUCCESS
        }
        Command::Info { json } => {
            render::info(json);
            ExitCode::SUCCESS
        }
    }
}

fn one_shot(
    args: &Prepared,
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
    let usage = run_hooks::UsageRecorder::start(args, &mut vm);
    let mut result = job(&mut vm);
    usage.finish(&mut vm, &result);
    if let Err(e) = &mut result {
        run_hooks::annotate_error(e, args);
    }
    let report = Report {
        result,
        output: vm.take_output(),
        network: args.plan.net.as_ref().map(|_| vm.net_audit()),
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
