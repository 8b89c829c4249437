//! PyLua VM: run Lua code in managed VMs and curate the package environments they run in.
//!
//! The library does all the work; the `pylua` command line and the Python module `pylua_vm`
//! only parse arguments, call one operation and render its typed result (text, JSON or
//! Python objects). Errors carry a stable `kind` and, when the library knows a way forward,
//! a structured [`hint::Hint`] each front phrases in its own words.
//!
//! # Layers
//!
//! | layer | modules | what it owns |
//! | --- | --- | --- |
//! | operations | [`operations`] | one function per user-visible verb: run plans, install, search, project lock/sync/add/remove, history |
//! | runtime | [`runtime`] | the embedded Lua 5.4 VM and external interpreters behind [`runtime::AnyVm`]; sandbox policies, limits, output |
//! | packages | [`packages`] | LuaRocks formats (server manifests, rockspecs, rock manifests), resolution, fetching, unpacking, building, rocks trees |
//! | project | [`project`] | `pylua.toml`, `pylua.lock`, the history of transactions |
//! | curator | [`curator`] | the catalog and the profiles |
//! | interpreters | [`interpreters`] | finding Lua interpreters, building them from bundled sources |
//! | support | [`config`], [`paths`], [`compiler`], [`hint`], [`lua_syntax`] | `config.toml`, directories, the C compiler, hints, writing Lua source |
//!
//! # Run code with limits
//!
//! ```
//! use pylua::runtime::{Limits, Vm};
//! use std::time::Duration;
//!
//! let mut vm = Vm::builder()                       // strict sandbox by default
//!     .limits(Limits::new().timeout(Duration::from_secs(1)))
//!     .build()
//!     .unwrap();
//! let values = vm.eval("print('hi') return 1 + 1").unwrap();
//! assert_eq!(values[0], serde_json::json!(2));
//! assert_eq!(vm.take_output(), "hi\n");
//!
//! // A loop that never ends stops at the limit with a typed error.
//! let e = vm.eval("while true do end").unwrap_err();
//! assert_eq!(e.kind, pylua::runtime::ErrorKind::Timeout);
//! ```
//!
//! # Run as `pylua run` does
//!
//! A [`operations::run::RunPlan`] merges the caller's options with the project around the
//! directory (synced first when stale) and builds the VM:
//!
//! ```
//! use pylua::operations::run::RunOptions;
//! use pylua::runtime::Sandbox;
//!
//! let options = RunOptions {
//!     sandbox: Some(Sandbox::Standard),
//!     no_project: true,
//!     ..RunOptions::default()
//! };
//! let plan = options.prepare(None, None).unwrap();
//! let mut vm = plan.vm_builder(None).build().unwrap();
//! assert_eq!(vm.eval_code("return type(io.popen)").unwrap()[0], "nil");
//! ```
//!
//! # Install packages into a rocks tree
//!
//! ```no_run
//! use pylua::operations::install::{destination, install, InstallOptions, Launcher};
//! use pylua::operations::query::ServerOptions;
//! use std::path::Path;
//!
//! let servers = ServerOptions {
//!     only: vec!["file:///srv/rocks".into()],
//!     ..ServerOptions::default()
//! };
//! let dest = destination(None, Path::new("tree"), servers.fetcher().root(), Launcher::OnPath)
//!     .unwrap();
//! let options = InstallOptions {
//!     servers,
//!     tree: dest.tree,
//!     target: dest.target,
//!     launcher: dest.launcher,
//!     jobs: 0,
//!     progress: None,
//! };
//! let report = install(&options, &["penlight".to_string()]).unwrap();
//! for package in &report.packages {
//!     println!("{} {}", package.name, package.version);
//! }
//! ```
//!
//! # Lock and sync a project
//!
//! ```no_run
//! use pylua::config::Config;
//! use pylua::operations::project::{lock, sync, EnvOptions, LockMode};
//! use pylua::paths::Paths;
//! use pylua::project::Project;
//!
//! let project = Project::find(Path::new(".")).expect("a pylua.toml here or above");
//! let options = EnvOptions {
//!     mode: LockMode::Update,
//!     config: Config::load(&Paths::discover()).unwrap(),
//!     ..EnvOptions::default()
//! };
//! let locked = lock(&project, &options).unwrap();
//! let synced = sync(&project, &options).unwrap();
//! println!("{} changed, history record {:?}", locked.command, synced.history_id);
//! # use std::path::Path;
//! ```

// Every `unsafe` operation sits in a block of its own with a `// SAFETY:` comment naming the
// invariant it relies on, also inside `unsafe fn`s (whose `# Safety` docs say what callers
// must uphold).
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod compiler;
pub mod config;
pub mod curator;
pub mod hint;
pub mod http;
pub mod interpreters;
pub mod lua_syntax;
pub mod operations;
pub mod packages;
pub mod paths;
pub mod project;
pub mod runtime;

pub use runtime::{
    CallArgs, CallResult, ErrorKind, Interrupter, Limits, Output, Sandbox, Vm, VmBuilder, VmError,
    VmFunction,
};
