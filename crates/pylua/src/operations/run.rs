//! Getting ready to run Lua code, as `pylua run`, `eval` and `repl` do and a Python caller
//! may: which tree the code sees, on which Lua, under which policy and limits.
//!
//! The caller's options win. Inside a project (unless a tree is given or the project is
//! ignored), the project is synced first when its lock or tree is out of date, and its tree,
//! Lua and `[run]` settings fill in what the options leave open. The result, a [`RunPlan`],
//! builds the VM; it changes nothing in the process (the front decides whether to put the
//! tree's commands on `PATH`: see [`RunPlan::command_path`]).

use super::project::{prepare_run, EnvOptions, Outcome, ProjectError};
use crate::interpreters::LuaVersion;
use crate::packages::tree::Tree;
use crate::project::Project;
use crate::runtime::{AnyVmBuilder, Backend, Limits, NetOptions, NetPolicy, Sandbox};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// What the caller asks for; `None` leaves a setting to the project, then to the default.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// A rocks tree to use instead of the project's (default: the project's, else the
    /// per-user tree).
    pub tree: Option<PathBuf>,
    pub lua: Option<LuaVersion>,
    pub backend: Option<Backend>,
    /// Default: the project's `[run] sandbox`, else `none` (as the `lua` command).
    pub sandbox: Option<Sandbox>,
    pub memory: Option<usize>,
    pub timeout: Option<std::time::Duration>,
    pub instructions: Option<u64>,
    /// Directories a `standard` sandbox may touch besides the tree. Empty: the current
    /// directory and the script's.
    pub allow_dirs: Vec<PathBuf>,
    /// Ignore the project around the current directory.
    pub no_project: bool,
    /// The network policy: with an allow list, scripts get `net` (over the project's
    /// `[run]` network settings).
    pub net: NetOptions,
    /// Under `standard`, load LuaSocket's and LuaSec's C modules from the tree (default:
    /// the project's `[run] allow-luasocket`, else no).
    pub allow_luasocket: Option<bool>,
}

/// The project part of a plan.
#[derive(Debug)]
pub struct ProjectRun {
    pub project: Project,
    /// What the sync before the run did, when one was needed.
    pub synced: Option<Outcome>,
}

/// Everything needed to build the VM.
#[derive(Debug)]
pub struct RunPlan {
    /// The tree the code sees, in the layout of the Lua it runs on.
    pub tree: Tree,
    pub lua: Option<LuaVersion>,
    pub backend: Option<Backend>,
    pub sandbox: Sandbox,
    pub limits: Limits,
    pub allow_dirs: Vec<PathBuf>,
    /// None: scripts have no `net`.
    pub net: Option<NetPolicy>,
    /// Under `standard`: LuaSocket's C modules load from the tree.
    pub allow_luasocket: bool,
    pub project: Option<ProjectRun>,
}

impl RunOptions {
    /// The project these options run in: the nearest one upwards of `cwd`, unless a tree is
    /// given or projects are ignored.
    pub fn project(&self, cwd: &Path) -> Option<Project> {
        if self.tree.is_some() || self.no_project {
            return None;
        }
        Project::find(cwd)
    }

    /// The plan, in `project` if any. With `sync` options, a stale project is synced first;
    /// without, it is used as it is (`--frozen`).
    pub fn prepare(
        self,
        project: Option<Project>,
        sync: Option<&EnvOptions>,
    ) -> Result<RunPlan, ProjectError> {
        let mut options = self;
        let mut project_run = None;
        if let Some(project) = project {
            let setup = prepare_run(&project, sync)?;
            let run = setup.file.project_run();
            options.tree = Some(setup.tree.root().to_path_buf());
            options.lua = options.lua.or(Some(setup.file.project.lua));
            options.sandbox = options.sandbox.or(run.sandbox);
            options.memory = options.memory.or(run.memory);
            options.timeout = options.timeout.or(run.timeout);
            options.instructions = options.instructions.or(run.instructions);
            options.net = std::mem::take(&mut options.net).over(run.net);
            options.allow_luasocket = options.allow_luasocket.or(run.allow_luasocket);
            project_run = Some(ProjectRun {
                project,
                synced: setup.synced,
            });
        }
        let tree = match &options.tree {
            Some(root) => Tree::detect(root.clone()),
            None => Tree::detect(super::tree::default_root(
                &std::env::current_dir().unwrap_or_default(),
            )),
        };
        // The tree's modules for the layout of the Lua the code runs on (LuaJIT uses 5.1's).
        let tree = match options.lua {
            Some(version) => Tree::new(tree.root(), version.api()),
            None => tree,
        };
        Ok(RunPlan {
            tree,
            // The embedded VM is 5.4: asking for 5.4 is not asking for an interpreter.
            lua: options
                .lua
                .filter(|v| *v != LuaVersion::Lua54 || options.backend.is_some()),
            backend: options.backend,
            sandbox: options.sandbox.unwrap_or(Sandbox::None),
            limits: Limits {
                memory: options.memory,
                instructions: options.instructions,
                timeout: options.timeout,
            },
            allow_dirs: options.allow_dirs,
            net: options.net.policy(),
            allow_luasocket: options.allow_luasocket.unwrap_or(false),
            project: project_run,
        })
    }
}

impl RunPlan {
    /// What running `name` means: the file `name` if there is one, else the script of the
    /// tree's command `name` (what `.pylua/bin/NAME` would run).
    pub fn script_or_command(&self, file: PathBuf) -> PathBuf {
        let is_bare_name = file.components().count() == 1;
        if file.exists() || !is_bare_name {
            return file;
        }
        match self.tree.command_script(&file.to_string_lossy()) {
            Ok(Some(script)) => script,
            _ => file,
        }
    }

    /// A VM builder with the plan's Lua, policy, limits, module paths and allowed
    /// directories (`script_dir` too, when no directories were named). Output, stdin and
    /// stderr are the caller's to set.
    pub fn vm_builder(&self, script_dir: Option<&Path>) -> AnyVmBuilder {
        let mut builder = crate::runtime::AnyVm::builder();
        if let Some(version) = self.lua {
            builder = builder.lua(version);
        }
        if let Some(backend) = self.backend {
            builder = builder.backend(backend);
        }
        builder = builder
            .sandbox(self.sandbox)
            .limits(self.limits)
            .package_path(self.tree.package_path())
            .package_cpath(self.tree.package_cpath());
        // Scripts read the tree's modules but cannot change them: other runs, under other
        // policies, trust what is installed there.
        if self.tree.root().is_dir() {
            builder = builder.read_only_dir(self.tree.root());
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
        if let Some(policy) = &self.net {
            builder = builder.net(policy.clone());
        }
        if self.allow_luasocket {
            builder = builder.allow_luasocket(true);
        }
        builder
    }

    /// In a project, `PATH` with the tree's `bin/` first, so code that starts the project's
    /// commands (`os.execute("busted")`) finds them; None outside one. An embedded VM's child
    /// processes see the host's environment, so only the host can apply it.
    pub fn command_path(&self) -> Option<OsString> {
        self.project.as_ref()?;
        let mut dirs = vec![self.tree.bin_dir()];
        dirs.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        std::env::join_paths(dirs).ok()
    }
}
