//! The process VM: Lua code run by an external interpreter — Lua 5.1, 5.2, 5.3, 5.4 or
//! LuaJIT, found on `PATH` or provisioned by pylua — in a child process that lives as long as
//! the session, so state persists between calls and a call costs a pipe round trip, not a
//! process start.
//!
//! How it talks: the interpreter starts with a tiny `-e` bootstrap that reads the session
//! script (`lua/session.lua`) from fd 3 and runs it. Requests go down fd 3, replies come back
//! on fd 4, so the script's own stdin, stdout and stderr stay free: `print` and `io.write` are
//! captured and sent as output frames, kept apart from the returned values (JSON, with the
//! embedded VM's conversion rules) and from errors (kind, message, traceback).
//!
//! Limits: a timeout kills the interpreter's whole process group (it runs in its own group),
//! the only thing that stops LuaJIT's compiled code or a C function that never returns. A
//! memory limit is checked inside the interpreter on the Lua heap and, as a hard backstop,
//! caps the process's address space (`RLIMIT_AS`, set in the child before `exec`). The
//! instruction limit is a count hook (on LuaJIT the JIT compiler is switched off while limits
//! are set, since compiled code runs no hooks). The sandbox policies are installed by the
//! session script the same way as in the embedded VM; the differences are listed in the
//! README ("Interpreters").
//!
//! A crashed or killed interpreter is an error naming what happened; the next call starts a
//! fresh interpreter (the old state is gone), and [`ProcessVm::reset`] does so at once.

mod child;
mod protocol;

use super::error::{ErrorKind, VmError};
use super::interrupt::{self, InterruptCell, Interrupter};
use super::limits::Limits;
use super::net::{self, NetAudit, NetSession, NET_LUA};
use super::output::{Output, OutputHandle};
use super::sandbox::{AllowedDirs, Sandbox};
use super::settings::{settings_setters, VmSettings};
use super::vm::human_bytes;
use crate::interpreters::{self, Interpreter, LuaVersion};
use crate::paths::Paths;
use child::Session;
use protocol::{check_depth, encode_request, lua_literal, Stop};
use serde::Deserialize;
use serde_json::{json, Value as Json};
use std::io::{self, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Builds a [`ProcessVm`]. Defaults: Lua 5.4 (pylua's own, else the first on `PATH`), the
/// `strict` sandbox, no limits, buffered output, no stdin, the interpreter's stderr kept only
/// for crash reports.
#[derive(Debug, Default)]
pub struct ProcessVmBuilder {
    interpreter: Option<Interpreter>,
    version: Option<LuaVersion>,
    settings: VmSettings,
    inherit_stdin: bool,
    exit_with_parent: bool,
    stderr: Option<StderrSink>,
}

/// Where a process VM's interpreter writes its standard error (warnings, a C module's
/// messages). Its last 4 KiB are kept for crash reports either way; without a sink nothing
/// else is written anywhere: the library never writes to its host's stderr on its own.
#[derive(Clone)]
pub struct StderrSink(Arc<Mutex<dyn Write + Send>>);

impl StderrSink {
    pub fn new(writer: impl Write + Send + 'static) -> StderrSink {
        StderrSink(Arc::new(Mutex::new(writer)))
    }
    /// This process's own standard error, as a command line wants.
    pub fn inherit() -> StderrSink {
        StderrSink::new(io::stderr())
    }
    pub(super) fn write(&self, bytes: &[u8]) {
        let mut writer = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writer.write_all(bytes).and_then(|()| writer.flush());
    }
}

impl std::fmt::Debug for StderrSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StderrSink")
    }
}

impl ProcessVmBuilder {
    /// Runs this interpreter.
    pub fn interpreter(mut self, interpreter: Interpreter) -> Self {
        self.interpreter = Some(interpreter);
        self
    }
    /// Runs the interpreter [`interpreters::find`] picks for this version.
    pub fn lua(mut self, version: LuaVersion) -> Self {
        self.version = Some(version);
        self
    }
    settings_setters!();

    /// Lets the interpreter read this process's standard input (`io.read` in a script).
    /// A terminal is relayed through a pipe: the interpreter runs in a process group of its
    /// own, which may not read the terminal itself.
    ///
    /// The relay is one thread per process, started on the first such interpreter and
    /// ending at the end of this process's input: only ask for it where this process owns
    /// the terminal (a command line), not from a library's caller.
    pub fn inherit_stdin(mut self, inherit: bool) -> Self {
        self.inherit_stdin = inherit;
        self
    }
    /// Where the interpreter's standard error goes (default: nowhere but crash reports).
    pub fn stderr(mut self, sink: StderrSink) -> Self {
        self.stderr = Some(sink);
        self
    }
    /// Kills the interpreter when the thread that started it ends (Linux; elsewhere it
    /// only ends when its requests pipe closes). Right for a command line, whose main thread
    /// lives as long as the process: Ctrl-C then leaves no interpreter running. Off by
    /// default, since a library's VM may outlive the thread that built it.
    pub fn exit_with_parent(mut self, exit: bool) -> Self {
        self.exit_with_parent = exit;
        self
    }

    /// Finds the interpreter and starts it.
    pub fn build(self) -> Result<ProcessVm, VmError> {
        let interpreter = match self.interpreter {
            Some(i) => i,
            None => {
                let version = self.version.unwrap_or(LuaVersion::Lua54);
                interpreters::find(version, &Paths::discover()).map_err(|e| {
                    VmError::new(ErrorKind::Usage, e.to_string()).with_hint(e.hint())
                })?
            }
        };
        let s = self.settings;
        let luasocket_cpath = s.luasocket_cpath()?;
        let config = SessionConfig {
            sandbox: s.sandbox,
            limits: s.limits,
            allowed: s.allowed(),
            luasocket_cpath,
            net: s.net.map(|policy| Arc::new(NetSession::new(policy))),
            package_path: s.package_path,
            package_cpath: s.package_cpath,
            inherit_stdin: self.inherit_stdin,
            exit_with_parent: self.exit_with_parent,
            stderr: self.stderr,
            stream: matches!(s.output, Output::Stream(_)),
        };
        let mut vm = ProcessVm {
            interpreter,
            config,
            output: OutputHandle::new(s.output),
            session: None,
            starts: 0,
            interrupts: InterruptCell::new(),
        };
        vm.start()?;
        Ok(vm)
    }
}

/// What an interpreter session is started with (sent to `session.lua` as its first request).
#[derive(Debug, Clone)]
struct SessionConfig {
    sandbox: Sandbox,
    limits: Limits,
    allowed: AllowedDirs,
    package_path: Option<String>,
    package_cpath: Option<String>,
    /// Where LuaSocket's C modules load from under `standard` (`--allow-luasocket`).
    luasocket_cpath: Option<String>,
    /// The network policy and its per-run use, when scripts have `net` (requests come up
    /// the pipe as `n` frames; see `net::serve`).
    net: Option<Arc<NetSession>>,
    inherit_stdin: bool,
    exit_with_parent: bool,
    stderr: Option<StderrSink>,
    stream: bool,
}

impl SessionConfig {
    /// The configuration request, as a Lua table constructor.
    fn lua_table(&self) -> String {
        let doc = json!({
            "policy": self.sandbox.as_str(),
            "stream": self.stream,
            "instructions": self.limits.instructions,
            "memory": self.limits.memory,
            "path": self.package_path,
            "cpath": self.package_cpath,
            "luasocket_cpath": self.luasocket_cpath,
            "net": self.net.as_ref().map(|_| NET_LUA),
        });
        let mut out = String::new();
        lua_literal(&doc, &mut out);
        out
    }
}

/// A Lua VM in an external interpreter process, with the same interface as the embedded
/// [`crate::runtime::Vm`]. It is `Send`; calls need `&mut self` since each is a conversation
/// with the process.
pub struct ProcessVm {
    interpreter: Interpreter,
    config: SessionConfig,
    output: OutputHandle,
    session: Option<Session>,
    starts: u64,
    /// Shared with this VM's [`Interrupter`]s: a request ends the conversation and kills
    /// the interpreter, as a timeout does.
    interrupts: Arc<InterruptCell>,
}

impl std::fmt::Debug for ProcessVm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessVm")
            .field("interpreter", &self.interpreter.path)
            .field("release", &self.interpreter.release)
            .field("pid", &self.pid())
            .finish()
    }
}

impl ProcessVm {
    pub fn builder() -> ProcessVmBuilder {
        ProcessVmBuilder::default()
    }

    pub fn sandbox(&self) -> Sandbox {
        self.config.sandbox
    }

    pub fn limits(&self) -> Limits {
        self.config.limits
    }

    /// A handle that stops this VM's running script from another thread or a signal
    /// handler: the interpreter is killed and the next call starts a fresh one.
    pub fn interrupter(&self) -> Interrupter {
        Interrupter::new(&self.interrupts)
    }

    /// The interpreter this VM runs.
    pub fn interpreter(&self) -> &Interpreter {
        &self.interpreter
    }

    /// The process id of the running interpreter, if one is running.
    pub fn pid(&self) -> Option<u32> {
        self.session.as_ref().map(|s| s.child.id())
    }

    /// How many interpreter processes this VM has started (1 until one crashes or is reset).
    pub fn starts(&self) -> u64 {
        self.starts
    }

    /// Runs `source` as a chunk named `eval` and returns what it returns. The interpreter
    /// keeps the compiled chunk, so running the same snippet again skips the compiler.
    pub fn eval(&mut self, source: &str) -> Result<Vec<Json>, VmError> {
        self.request(b'x', &[b"=eval", source.as_bytes()])
    }

    /// Runs `source` as a chunk with the given name (used in error messages and tracebacks).
    pub fn exec(&mut self, source: &str, chunk_name: &str) -> Result<Vec<Json>, VmError> {
        let name = format!("={chunk_name}");
        self.request(b'x', &[name.as_bytes(), source.as_bytes()])
    }

    /// Runs a line typed at a prompt: an expression when it is one, else a statement. A
    /// syntax error that only lacks more input has [`VmError::incomplete`] set.
    pub fn eval_interactive(&mut self, source: &str) -> Result<Vec<Json>, VmError> {
        self.request(b'i', &[source.as_bytes()])
    }

    /// Runs a script file as the `lua` command does: `arg[0]` is the script, `arg[1..]` and
    /// `...` are `args`, and a first line starting with `#` is skipped.
    pub fn run_file(&mut self, path: &Path, args: &[String]) -> Result<Vec<Json>, VmError> {
        let source = super::script::read_script(path, &self.config.limits)?;
        let name = format!("@{}", path.display());
        let shown = path.display().to_string();
        let mut fields: Vec<&[u8]> = vec![name.as_bytes(), &source, shown.as_bytes()];
        fields.extend(args.iter().map(|a| a.as_bytes()));
        self.request(b'f', &fields)
    }

    /// Calls the global function `name` with JSON arguments.
    pub fn call(&mut self, name: &str, args: &[Json]) -> Result<Vec<Json>, VmError> {
        args.iter().try_for_each(check_depth)?;
        let mut list = String::from("return {");
        for (i, a) in args.iter().enumerate() {
            if i > 0 {
                list.push(',');
            }
            lua_literal(a, &mut list);
        }
        list.push('}');
        let count = args.len().to_string();
        self.request(b'c', &[name.as_bytes(), list.as_bytes(), count.as_bytes()])
    }

    /// Reads a global variable as JSON (`null` when unset).
    pub fn get_global(&mut self, name: &str) -> Result<Json, VmError> {
        let mut values = self.request(b'g', &[name.as_bytes()])?;
        Ok(if values.is_empty() {
            Json::Null
        } else {
            values.swap_remove(0)
        })
    }

    /// Sets a global variable from JSON.
    pub fn set_global(&mut self, name: &str, value: &Json) -> Result<(), VmError> {
        check_depth(value)?;
        let mut text = String::from("return ");
        lua_literal(value, &mut text);
        self.request(b's', &[name.as_bytes(), text.as_bytes()])
            .map(|_| ())
    }

    /// Returns and clears the captured output (lossy UTF-8).
    /// The requests the last run made through `net` (empty without a network policy).
    pub fn net_audit(&self) -> Vec<NetAudit> {
        self.config
            .net
            .as_ref()
            .map(|n| n.audit())
            .unwrap_or_default()
    }

    pub fn take_output(&mut self) -> String {
        String::from_utf8_lossy(&self.output.take()).into_owned()
    }

    /// Returns and clears the captured output as bytes.
    pub fn take_output_bytes(&mut self) -> Vec<u8> {
        self.output.take()
    }

    /// Bytes the interpreter's Lua heap holds now (`collectgarbage("count")`).
    pub fn used_memory(&mut self) -> Result<usize, VmError> {
        let values = self.request(b'm', &[])?;
        Ok(values.first().and_then(Json::as_u64).unwrap_or(0) as usize)
    }

    /// Stops the interpreter and starts a fresh one with the same settings.
    pub fn reset(&mut self) -> Result<(), VmError> {
        self.session = None;
        self.start()
    }

    fn start(&mut self) -> Result<(), VmError> {
        self.session = None;
        self.starts += 1;
        self.session = Some(Session::start(&self.interpreter, &self.config)?);
        Ok(())
    }

    /// Sends one request and follows the conversation to its reply. The interpreter is
    /// started first if the last one is gone. A run that ends with an error `net` gave the
    /// script takes that error's kind.
    fn request(&mut self, op: u8, fields: &[&[u8]]) -> Result<Vec<Json>, VmError> {
        let result = self.converse(op, fields);
        match &self.config.net {
            Some(net) => result.map_err(|e| net.classify(e)),
            None => result,
        }
    }

    fn converse(&mut self, op: u8, fields: &[&[u8]]) -> Result<Vec<Json>, VmError> {
        if self.session.is_none() {
            self.start()?;
        }
        let Some(mut session) = self.session.take() else {
            return Err(VmError::new(ErrorKind::Runtime, "no interpreter"));
        };
        // The run's time starts once its interpreter is there: starting one is not the
        // script's time.
        let deadline = self.config.limits.timeout.map(|t| Instant::now() + t);
        if let Some(net) = &self.config.net {
            net.begin_run(deadline);
        }
        let cell = Arc::clone(&self.interrupts);
        let _running = interrupt::begin(&cell, None);
        if session
            .requests
            .write_all(&encode_request(op, fields))
            .is_err()
        {
            return Err(session.lost(&self.interpreter, &self.config.limits));
        }
        loop {
            let pid = session.child.id();
            let (kind, payload) = match session.replies.frame(deadline, pid, &cell) {
                Ok(frame) => frame,
                Err(Stop::Interrupted) => {
                    session.kill();
                    return Err(VmError::new(
                        ErrorKind::Interrupted,
                        format!(
                            "the script was interrupted (the {} interpreter was stopped; the next call starts a fresh one)",
                            self.interpreter.release
                        ),
                    ));
                }
                Err(Stop::Timeout) => {
                    session.kill();
                    return Err(self.timeout_error());
                }
                // A frame pylua refuses on its own terms (too large): say which.
                Err(Stop::Failed(e)) if e.get_ref().is_some() => {
                    session.kill();
                    return Err(VmError::new(
                        ErrorKind::Runtime,
                        format!("{e}; the next call starts a fresh interpreter"),
                    ));
                }
                Err(Stop::Closed) | Err(Stop::Failed(_)) => {
                    return Err(session.lost(&self.interpreter, &self.config.limits))
                }
            };
            match kind {
                // SAFETY: the pointer comes from this VM's own output handle, alive in `self`.
                b'o' => unsafe { OutputHandle::write_raw(self.output.as_ptr(), &payload) },
                b'p' => {
                    let writing = payload.first() == Some(&b'w');
                    let path = String::from_utf8_lossy(payload.get(1..).unwrap_or_default());
                    let answer: &[u8] = if self.config.allowed.allows(&path, writing) {
                        b"1\n"
                    } else {
                        b"0\n"
                    };
                    if session.requests.write_all(answer).is_err() {
                        return Err(session.lost(&self.interpreter, &self.config.limits));
                    }
                }
                b'n' => {
                    let reply = match &self.config.net {
                        Some(net) => {
                            let stopped = || {
                                cell.requested() || deadline.is_some_and(|d| Instant::now() >= d)
                            };
                            net::serve(net, &payload, &stopped)
                        }
                        None => (b'x', vec![b"network_denied: no network policy".to_vec()]),
                    };
                    let fields: Vec<&[u8]> = reply.1.iter().map(Vec::as_slice).collect();
                    if session
                        .requests
                        .write_all(&encode_request(reply.0, &fields))
                        .is_err()
                    {
                        return Err(session.lost(&self.interpreter, &self.config.limits));
                    }
                }
                b'r' => {
                    let text = String::from_utf8_lossy(&payload);
                    let values = serde_json::from_str::<Vec<Json>>(&text);
                    self.session = Some(session);
                    return values.map_err(|e| {
                        VmError::new(
                            ErrorKind::Runtime,
                            format!("the interpreter sent values pylua cannot read: {e}"),
                        )
                    });
                }
                b'e' => {
                    let text = String::from_utf8_lossy(&payload);
                    self.session = Some(session);
                    return Err(self.error_reply(&text));
                }
                b'h' => {}
                _ => return Err(session.lost(&self.interpreter, &self.config.limits)),
            }
        }
    }

    fn error_reply(&self, text: &str) -> VmError {
        #[derive(Deserialize)]
        struct Reply {
            kind: String,
            message: String,
            traceback: Option<String>,
            #[serde(default)]
            incomplete: bool,
        }
        let Ok(reply) = serde_json::from_str::<Reply>(text) else {
            return VmError::new(
                ErrorKind::Runtime,
                format!("unreadable error reply: {text}"),
            );
        };
        match reply.kind.as_str() {
            "syntax" => {
                let mut e = VmError::located(ErrorKind::Syntax, &reply.message);
                e.incomplete = reply.incomplete;
                e
            }
            "instruction_limit" => limit_error(ErrorKind::InstructionLimit, &self.config.limits),
            "memory_limit" => limit_error(ErrorKind::MemoryLimit, &self.config.limits),
            _ => {
                let mut e = VmError::located(ErrorKind::Runtime, &reply.message);
                e.traceback = reply.traceback;
                e
            }
        }
    }

    fn timeout_error(&self) -> VmError {
        let mut e = limit_error(ErrorKind::Timeout, &self.config.limits);
        e.message.push_str(&format!(
            " (the {} interpreter was stopped; the next call starts a fresh one)",
            self.interpreter.release
        ));
        e
    }
}

fn limit_error(kind: ErrorKind, limits: &Limits) -> VmError {
    let message = match kind {
        ErrorKind::Timeout => format!(
            "the script ran longer than its {:?} limit",
            limits.timeout.unwrap_or_default()
        ),
        ErrorKind::InstructionLimit => format!(
            "the script ran more than its limit of {} instructions",
            limits.instructions.unwrap_or_default()
        ),
        _ => format!(
            "the script needed more than its {} memory limit",
            human_bytes(limits.memory.unwrap_or_default())
        ),
    };
    VmError::new(kind, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vms_move_between_threads() {
        fn is_send<T: Send>() {}
        is_send::<ProcessVm>();
        is_send::<crate::runtime::AnyVm>();
    }
}
