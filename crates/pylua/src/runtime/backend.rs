//! One interface over both kinds of VM: the embedded Lua 5.4 ([`Vm`]) and an external
//! interpreter in a process ([`ProcessVm`]). Fronts build an [`AnyVm`] from the user's choice
//! of backend and Lua version and call it the same way whichever it is.

use super::error::{ErrorKind, VmError};
use super::limits::Limits;

use super::process::{ProcessVm, StderrSink};
use super::sandbox::Sandbox;
use super::settings::{settings_setters, VmSettings};
use super::vm::{Vm, LUA_RELEASE};
use crate::interpreters::{self, Interpreter, LuaVersion};
use crate::paths::Paths;
use serde_json::Value as Json;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// Where Lua code runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// The Lua 5.4 compiled into pylua.
    Embedded,
    /// An external interpreter (Lua 5.1–5.4, LuaJIT) in a child process.
    Process,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Embedded => "embedded",
            Backend::Process => "process",
        }
    }
}

impl FromStr for Backend {
    type Err = VmError;
    fn from_str(s: &str) -> Result<Self, VmError> {
        match s {
            "embedded" => Ok(Backend::Embedded),
            "process" => Ok(Backend::Process),
            other => Err(VmError::new(
                ErrorKind::Usage,
                format!("unknown backend '{other}': expected embedded or process"),
            )),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Builds an [`AnyVm`]. Without a backend or version it is the embedded VM; a version other
/// than 5.4 (or an explicit interpreter) means the process backend.
#[derive(Debug, Default)]
pub struct AnyVmBuilder {
    backend: Option<Backend>,
    lua: Option<LuaVersion>,
    interpreter: Option<Interpreter>,
    settings: VmSettings,
    inherit_stdin: bool,
    exit_with_parent: bool,
    stderr: Option<StderrSink>,
    paths: Option<Paths>,
}

impl AnyVmBuilder {
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = Some(backend);
        self
    }
    pub fn lua(mut self, version: LuaVersion) -> Self {
        self.lua = Some(version);
        self
    }
    /// A specific interpreter for the process backend.
    pub fn interpreter(mut self, interpreter: Interpreter) -> Self {
        self.interpreter = Some(interpreter);
        self
    }
    settings_setters!();

    /// Lets a process VM read this process's standard input (the embedded VM always can).
    pub fn inherit_stdin(mut self, inherit: bool) -> Self {
        self.inherit_stdin = inherit;
        self
    }
    /// See [`crate::runtime::ProcessVmBuilder::exit_with_parent`].
    pub fn exit_with_parent(mut self, exit: bool) -> Self {
        self.exit_with_parent = exit;
        self
    }
    /// Where a process VM's interpreter writes its stderr (see [`StderrSink`]); the embedded
    /// VM has no stderr of its own.
    pub fn stderr(mut self, sink: StderrSink) -> Self {
        self.stderr = Some(sink);
        self
    }
    /// Where to look for pylua's own interpreters (default: [`Paths::discover`]).
    pub fn paths(mut self, paths: Paths) -> Self {
        self.paths = Some(paths);
        self
    }

    pub fn build(self) -> Result<AnyVm, VmError> {
        let backend = match (self.backend, self.lua, &self.interpreter) {
            (Some(b), _, _) => b,
            (None, _, Some(_)) => Backend::Process,
            (None, None | Some(LuaVersion::Lua54), None) => Backend::Embedded,
            (None, Some(_), None) => Backend::Process,
        };
        if backend == Backend::Embedded {
            if let Some(v) = self.lua.filter(|v| *v != LuaVersion::Lua54) {
                return Err(VmError::new(
                    ErrorKind::Usage,
                    format!(
                        "the embedded VM is Lua 5.4, not {}: use the process backend for it",
                        v.display_name()
                    ),
                ));
            }
            return Vm::builder()
                .settings(self.settings)
                .build()
                .map(AnyVm::Embedded);
        }
        let interpreter = match self.interpreter {
            Some(i) => i,
            None => {
                let version = self.lua.unwrap_or(LuaVersion::Lua54);
                let paths = self.paths.unwrap_or_else(Paths::discover);
                interpreters::find(version, &paths).map_err(|e| {
                    VmError::new(ErrorKind::Usage, e.to_string()).with_hint(e.hint())
                })?
            }
        };
        let mut builder = ProcessVm::builder()
            .interpreter(interpreter)
            .settings(self.settings)
            .inherit_stdin(self.inherit_stdin)
            .exit_with_parent(self.exit_with_parent);
        if let Some(sink) = self.stderr {
            builder = builder.stderr(sink);
        }
        builder.build().map(AnyVm::Process)
    }
}

/// A VM of either backend, with the operations both offer.
pub enum AnyVm {
    Embedded(Vm),
    Process(ProcessVm),
}

impl fmt::Debug for AnyVm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnyVm::Embedded(vm) => f
                .debug_struct("AnyVm::Embedded")
                .field("release", &LUA_RELEASE)
                .field("sandbox", &vm.sandbox())
                .finish(),
            AnyVm::Process(vm) => f.debug_tuple("AnyVm::Process").field(vm).finish(),
        }
    }
}

macro_rules! both {
    ($self:ident, $vm:ident => $e:expr) => {
        match $self {
            AnyVm::Embedded($vm) => $e,
            AnyVm::Process($vm) => $e,
        }
    };
}

impl AnyVm {
    pub fn builder() -> AnyVmBuilder {
        AnyVmBuilder::default()
    }

    pub fn backend(&self) -> Backend {
        match self {
            AnyVm::Embedded(_) => Backend::Embedded,
            AnyVm::Process(_) => Backend::Process,
        }
    }

    /// What runs the code: `Lua 5.4.7` for the embedded VM, the interpreter's release
    /// (`LuaJIT 2.1.…`, `Lua 5.1.5`) for a process VM.
    pub fn release(&self) -> &str {
        match self {
            AnyVm::Embedded(_) => LUA_RELEASE,
            AnyVm::Process(vm) => &vm.interpreter().release,
        }
    }

    pub fn sandbox(&self) -> Sandbox {
        both!(self, vm => vm.sandbox())
    }

    /// A handle that stops this VM's running script (see [`super::Interrupter`]).
    pub fn interrupter(&self) -> super::Interrupter {
        both!(self, vm => vm.interrupter())
    }

    pub fn limits(&self) -> Limits {
        both!(self, vm => vm.limits())
    }

    pub fn eval(&mut self, source: &str) -> Result<Vec<Json>, VmError> {
        both!(self, vm => vm.eval(source))
    }

    pub fn exec(&mut self, source: &str, chunk_name: &str) -> Result<Vec<Json>, VmError> {
        both!(self, vm => vm.exec(source, chunk_name))
    }

    /// What `pylua eval` runs: `code` as a chunk, or, when it does not parse as one, as an
    /// expression (`1 + 1` returns 2). The chunk's syntax error is kept when neither parses.
    pub fn eval_code(&mut self, code: &str) -> Result<Vec<Json>, VmError> {
        match self.eval(code) {
            Err(e) if e.kind == ErrorKind::Syntax => match self.eval(&format!("return {code}")) {
                Ok(values) => Ok(values),
                Err(_) => Err(e),
            },
            other => other,
        }
    }

    pub fn eval_interactive(&mut self, source: &str) -> Result<Vec<Json>, VmError> {
        both!(self, vm => vm.eval_interactive(source))
    }

    pub fn run_file(&mut self, path: &Path, args: &[String]) -> Result<Vec<Json>, VmError> {
        both!(self, vm => vm.run_file(path, args))
    }

    pub fn call(&mut self, name: &str, args: &[Json]) -> Result<Vec<Json>, VmError> {
        both!(self, vm => vm.call(name, args))
    }

    pub fn get_global(&mut self, name: &str) -> Result<Json, VmError> {
        both!(self, vm => vm.get_global(name))
    }

    pub fn set_global(&mut self, name: &str, value: &Json) -> Result<(), VmError> {
        both!(self, vm => vm.set_global(name, value))
    }

    /// The requests the last run made through `net`.
    pub fn net_audit(&self) -> Vec<super::NetAudit> {
        both!(self, vm => vm.net_audit())
    }

    pub fn take_output(&mut self) -> String {
        both!(self, vm => vm.take_output())
    }

    pub fn take_output_bytes(&mut self) -> Vec<u8> {
        both!(self, vm => vm.take_output_bytes())
    }

    pub fn reset(&mut self) -> Result<(), VmError> {
        both!(self, vm => vm.reset())
    }
}
