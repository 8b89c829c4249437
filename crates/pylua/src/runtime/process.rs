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

use super::error::{ErrorKind, VmError};
use super::limits::Limits;
use super::output::{Output, OutputHandle};
use super::sandbox::{AllowedDirs, Sandbox};
use super::settings::{settings_setters, VmSettings};
use super::stack::MAX_PUSH_DEPTH;
use super::vm::human_bytes;
use crate::interpreters::{self, Interpreter, LuaVersion};
use crate::paths::Paths;
use serde::Deserialize;
use serde_json::{json, Value as Json};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The interpreter's side of the protocol.
const SESSION: &str = include_str!("lua/session.lua");

/// Run with `-e`: reads the session script from fd 3 and starts it with both channels.
const BOOTSTRAP: &str = "local i,o=io.open('/dev/fd/3','rb'),io.open('/dev/fd/4','wb') \
local n=tonumber(i:read('*l')) assert((loadstring or load)(i:read(n),'=pylua.session'))(i,o)";

/// How long a new interpreter may take to say hello.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Address space allowed above the memory limit: the interpreter's code, libraries, stacks
/// and allocator overhead (an idle interpreter maps about 4 MiB).
const ADDRESS_SPACE_SLACK: usize = 64 << 20;

/// How much of the interpreter's stderr is kept for crash reports.
const STDERR_TAIL: usize = 4096;

/// Environment variables that would run code in the interpreter before the session.
const INIT_VARS: [&str; 5] = [
    "LUA_INIT",
    "LUA_INIT_5_1",
    "LUA_INIT_5_2",
    "LUA_INIT_5_3",
    "LUA_INIT_5_4",
];

/// Builds a [`ProcessVm`]. Defaults: Lua 5.4 (pylua's own, else the first on `PATH`), the
/// `strict` sandbox, no limits, buffered output, no stdin.
#[derive(Debug, Default)]
pub struct ProcessVmBuilder {
    interpreter: Option<Interpreter>,
    version: Option<LuaVersion>,
    settings: VmSettings,
    inherit_stdin: bool,
    exit_with_parent: bool,
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
    pub fn inherit_stdin(mut self, inherit: bool) -> Self {
        self.inherit_stdin = inherit;
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
                interpreters::find(version, &Paths::discover())
                    .map_err(|e| VmError::new(ErrorKind::Usage, e.to_string()))?
            }
        };
        let s = self.settings;
        let config = Config {
            sandbox: s.sandbox,
            limits: s.limits,
            allowed: AllowedDirs::new(&s.allowed_dirs),
            package_path: s.package_path,
            package_cpath: s.package_cpath,
            inherit_stdin: self.inherit_stdin,
            exit_with_parent: self.exit_with_parent,
            stream: matches!(s.output, Output::Stream(_)),
        };
        let mut vm = ProcessVm {
            interpreter,
            config,
            output: OutputHandle::new(s.output),
            session: None,
            starts: 0,
        };
        vm.start()?;
        Ok(vm)
    }
}

#[derive(Debug, Clone)]
struct Config {
    sandbox: Sandbox,
    limits: Limits,
    allowed: AllowedDirs,
    package_path: Option<String>,
    package_cpath: Option<String>,
    inherit_stdin: bool,
    exit_with_parent: bool,
    stream: bool,
}

impl Config {
    /// The configuration request, as a Lua table constructor.
    fn lua_table(&self) -> String {
        let doc = json!({
            "policy": self.sandbox.as_str(),
            "stream": self.stream,
            "instructions": self.limits.instructions,
            "memory": self.limits.memory,
            "path": self.package_path,
            "cpath": self.package_cpath,
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
    config: Config,
    output: OutputHandle,
    session: Option<Session>,
    starts: u64,
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
        let bytes = std::fs::read(path).map_err(|e| {
            VmError::new(
                ErrorKind::Io,
                format!("cannot read script '{}': {}", path.display(), io_reason(&e)),
            )
        })?;
        let source = skip_shebang(&bytes);
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
    /// started first if the last one is gone.
    fn request(&mut self, op: u8, fields: &[&[u8]]) -> Result<Vec<Json>, VmError> {
        if self.session.is_none() {
            self.start()?;
        }
        let Some(mut session) = self.session.take() else {
            return Err(VmError::new(ErrorKind::Runtime, "no interpreter"));
        };
        let deadline = self.config.limits.timeout.map(|t| Instant::now() + t);
        if session
            .requests
            .write_all(&encode_request(op, fields))
            .is_err()
        {
            return Err(session.lost(&self.interpreter, &self.config.limits));
        }
        loop {
            let (kind, payload) = match session.replies.frame(deadline, session.child.id()) {
                Ok(frame) => frame,
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
                    let path = String::from_utf8_lossy(payload.get(1..).unwrap_or_default());
                    let answer: &[u8] = if self.config.allowed.allows(&path) {
                        b"1\n"
                    } else {
                        b"0\n"
                    };
                    if session.requests.write_all(answer).is_err() {
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

/// One running interpreter.
struct Session {
    child: Child,
    requests: File,
    replies: Replies,
    stderr: Arc<StderrTail>,
    killed: bool,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Session {
    fn start(interpreter: &Interpreter, config: &Config) -> Result<Session, VmError> {
        let cannot = |e: io::Error| {
            VmError::new(
                ErrorKind::Io,
                format!(
                    "cannot start the {} interpreter '{}': {e}",
                    interpreter.release,
                    interpreter.path.display()
                ),
            )
        };
        let (child_in, requests) = pipe().map_err(cannot)?;
        let (replies, child_out) = pipe().map_err(cannot)?;
        let stdin = if config.inherit_stdin {
            stdin_for_child().map_err(cannot)?
        } else {
            Stdio::null()
        };
        let mut cmd = Command::new(&interpreter.path);
        cmd.arg("-e")
            .arg(BOOTSTRAP)
            .stdin(stdin)
            .stdout(Stdio::inherit())
            .stderr(Stdio::piped())
            .process_group(0);
        for var in INIT_VARS {
            cmd.env_remove(var);
        }
        let (fd_in, fd_out) = (child_in.as_raw_fd(), child_out.as_raw_fd());
        let exit_with_parent = config.exit_with_parent;
        let address_space = config
            .limits
            .memory
            .map(|m| m.saturating_add(ADDRESS_SPACE_SLACK) as libc::rlim_t);
        // SAFETY: between fork and exec the closure makes only async-signal-safe calls
        // (dup2, prctl, setrlimit) on plain integers it owns; it allocates nothing and takes
        // no lock.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(fd_in, 3) < 0 || libc::dup2(fd_out, 4) < 0 {
                    return Err(io::Error::last_os_error());
                }
                #[cfg(any(target_os = "linux", target_os = "android"))]
                if exit_with_parent {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                }
                #[cfg(not(any(target_os = "linux", target_os = "android")))]
                let _ = exit_with_parent;
                let no_core = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                libc::setrlimit(libc::RLIMIT_CORE, &no_core);
                if let Some(bytes) = address_space {
                    let limit = libc::rlimit {
                        rlim_cur: bytes,
                        rlim_max: bytes,
                    };
                    if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(cannot)?;
        drop(child_in);
        drop(child_out);
        let stderr = StderrTail::watch(child.stderr.take());
        let mut session = Session {
            child,
            requests: File::from(requests),
            replies: Replies::new(File::from(replies)),
            stderr,
            killed: false,
        };
        let mut first = format!("{}\n", SESSION.len()).into_bytes();
        first.extend_from_slice(SESSION.as_bytes());
        first.extend(encode_request(b'c', &[config.lua_table().as_bytes()]));
        let hello = match session.requests.write_all(&first) {
            Ok(()) => session
                .replies
                .frame(Some(Instant::now() + START_TIMEOUT), session.child.id()),
            Err(e) => Err(Stop::Failed(e)),
        };
        match hello {
            Ok((b'h', _)) => Ok(session),
            Ok(_) | Err(_) => {
                let (_, how, tail) = session.end();
                let message = format!(
                    "cannot start a session in the {} interpreter '{}': it {how}",
                    interpreter.release,
                    interpreter.path.display(),
                );
                Err(VmError::new(
                    ErrorKind::Runtime,
                    with_stderr(message, &tail),
                ))
            }
        }
    }

    /// Kills the interpreter's whole process group (it and anything it started) and reaps it.
    fn kill(&mut self) {
        if self.killed {
            return;
        }
        self.killed = true;
        // SAFETY: `kill` touches no memory. The interpreter is not reaped before this, so
        // its pid still names its own process group, not a recycled one.
        unsafe {
            libc::kill(-(self.child.id() as libc::pid_t), libc::SIGKILL);
        }
        let _ = self.child.wait();
    }

    /// The error for an interpreter that went away: how it ended and its last words.
    fn lost(self, interpreter: &Interpreter, limits: &Limits) -> VmError {
        let (status, how, tail) = self.end();
        let out_of_memory = tail.contains("not enough memory")
            || status.and_then(|s| s.signal()).is_some_and(|sig| {
                [libc::SIGSEGV, libc::SIGABRT, libc::SIGBUS, libc::SIGKILL].contains(&sig)
            });
        let kind = if limits.memory.is_some() && out_of_memory {
            ErrorKind::MemoryLimit
        } else {
            ErrorKind::Runtime
        };
        let mut message = format!(
            "the {} interpreter {how}; the next call starts a fresh one",
            interpreter.release
        );
        if kind == ErrorKind::MemoryLimit {
            message = format!(
                "{} ({message})",
                limit_error(ErrorKind::MemoryLimit, limits).message
            );
        }
        VmError::new(kind, with_stderr(message, &tail))
    }

    /// Ends the interpreter: how it went (exit status, in words) and its last stderr.
    fn end(mut self) -> (Option<ExitStatus>, String, String) {
        // A crash may still be in progress: give it a moment to finish before the kill.
        let ended = wait_briefly(&self.child, Duration::from_millis(200));
        self.kill();
        let status = if ended {
            self.child.try_wait().ok().flatten()
        } else {
            None
        };
        let tail = self.stderr.wait_tail(Duration::from_millis(200));
        let how = match status {
            Some(s) => describe_exit(s),
            None => "stopped answering".to_string(),
        };
        (status, how, tail)
    }
}

fn with_stderr(mut message: String, tail: &str) -> String {
    let tail = tail.trim();
    if !tail.is_empty() {
        message.push_str(&format!("\nits last output on stderr:\n{tail}"));
    }
    message
}

/// Waits a little for a child to end, without reaping it.
fn wait_briefly(child: &Child, limit: Duration) -> bool {
    let start = Instant::now();
    loop {
        if has_exited(child.id()) {
            return true;
        }
        if start.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn describe_exit(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exited with status {code}");
    }
    let Some(sig) = status.signal() else {
        return "ended".into();
    };
    let name = match sig {
        libc::SIGSEGV => " (SIGSEGV, a crash)",
        libc::SIGABRT => " (SIGABRT)",
        libc::SIGBUS => " (SIGBUS)",
        libc::SIGKILL => " (SIGKILL)",
        libc::SIGTERM => " (SIGTERM)",
        libc::SIGINT => " (SIGINT)",
        libc::SIGPIPE => " (SIGPIPE)",
        _ => "",
    };
    format!("was killed by signal {sig}{name}")
}

/// Why no frame came.
enum Stop {
    Timeout,
    Closed,
    Failed(#[allow(dead_code)] io::Error),
}

/// The reply channel: frames `<kind><len>\n<payload>`, read with a deadline.
struct Replies {
    file: File,
    buf: Vec<u8>,
    pos: usize,
}

/// The largest reply frame read from an interpreter: values and output beyond this are
/// refused rather than read into the host's memory (a script in the child can write to the
/// reply channel itself).
const MAX_FRAME: usize = 1 << 30;

impl Replies {
    fn new(file: File) -> Replies {
        Replies {
            file,
            buf: Vec::with_capacity(8192),
            pos: 0,
        }
    }

    /// The next frame. Everything here comes from the child, which may be any program
    /// writing anything: a malformed header, a length past what it sends or past `usize`,
    /// end of file mid-frame — each is a [`Stop`], never a panic.
    fn frame(&mut self, deadline: Option<Instant>, pid: u32) -> Result<(u8, Vec<u8>), Stop> {
        let invalid = || Stop::Failed(io::Error::from(io::ErrorKind::InvalidData));
        // Offsets from `self.pos`: `fill` moves the unread bytes to the buffer's start.
        let newline = loop {
            if let Some(i) = self.buf[self.pos..].iter().position(|&b| b == b'\n') {
                break i;
            }
            self.fill(deadline, pid)?;
        };
        // The header is `<kind><decimal length>`: at least two bytes before the newline.
        let header = &self.buf[self.pos..self.pos + newline];
        let (&kind, digits) = header.split_first().ok_or_else(invalid)?;
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return Err(invalid());
        }
        let len: usize = std::str::from_utf8(digits)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(invalid)?;
        if len > MAX_FRAME {
            return Err(Stop::Failed(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the interpreter announced a reply of {len} bytes, more than the {} pylua accepts",
                    super::vm::human_bytes(MAX_FRAME)
                ),
            )));
        }
        let start = newline + 1;
        let end = start.checked_add(len).ok_or_else(invalid)?;
        while self.buf.len() - self.pos < end {
            self.fill(deadline, pid)?;
        }
        let payload = self.buf[self.pos + start..self.pos + end].to_vec();
        self.pos += end;
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        Ok((kind, payload))
    }

    /// Reads what is there, waiting until the deadline. Checks now and then that the
    /// interpreter still lives: a process it started may hold the pipe open after it died.
    fn fill(&mut self, deadline: Option<Instant>, pid: u32) -> Result<(), Stop> {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let mut exited = false;
        loop {
            let wait_ms = match deadline {
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return Err(Stop::Timeout);
                    }
                    ((d - now).as_micros().div_ceil(1000)).min(500) as libc::c_int
                }
                None => 500,
            };
            let wait_ms = if exited { 0 } else { wait_ms };
            let mut pfd = libc::pollfd {
                fd: self.file.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: `pfd` is one valid `pollfd` for a descriptor `self.file` owns.
            let n = unsafe { libc::poll(&mut pfd, 1, wait_ms) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(Stop::Failed(e));
            }
            if n == 0 {
                if exited {
                    return Err(Stop::Closed);
                }
                exited = has_exited(pid);
                continue;
            }
            let mut chunk = [0u8; 65536];
            match self.file.read(&mut chunk) {
                Ok(0) => return Err(Stop::Closed),
                Ok(k) => {
                    self.buf.extend_from_slice(&chunk[..k]);
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Stop::Failed(e)),
            }
        }
    }
}

/// Whether a child has ended, without reaping it (its pid keeps naming its process group).
fn has_exited(pid: u32) -> bool {
    // SAFETY: `waitid` writes into a zeroed `siginfo_t` of ours; `WNOWAIT` leaves the child
    // unreaped, so its pid stays reserved for it.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let r = libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        );
        r == 0 && info.si_pid() != 0
    }
}

/// The interpreter's stderr, passed through to ours, with its end kept for crash reports.
struct StderrTail {
    state: Mutex<(Vec<u8>, bool)>,
    closed: Condvar,
}

impl StderrTail {
    fn watch(stderr: Option<std::process::ChildStderr>) -> Arc<StderrTail> {
        let tail = Arc::new(StderrTail {
            state: Mutex::new((Vec::new(), false)),
            closed: Condvar::new(),
        });
        let Some(mut stderr) = stderr else {
            tail.state.lock().unwrap_or_else(|e| e.into_inner()).1 = true;
            return tail;
        };
        let shared = tail.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                let n = match stderr.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let _ = io::stderr().write_all(&buf[..n]);
                let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
                state.0.extend_from_slice(&buf[..n]);
                if state.0.len() > STDERR_TAIL {
                    let cut = state.0.len() - STDERR_TAIL;
                    state.0.drain(..cut);
                }
            }
            shared.state.lock().unwrap_or_else(|e| e.into_inner()).1 = true;
            shared.closed.notify_all();
        });
        tail
    }

    fn wait_tail(&self, limit: Duration) -> String {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (state, _) = self
            .closed
            .wait_timeout_while(state, limit, |s| !s.1)
            .unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&state.0).into_owned()
    }
}

/// Standard input for an interpreter that may read ours. Pipes and files are passed as they
/// are; a terminal is relayed by one thread per process into a pipe for the newest
/// interpreter (a background process group reading the terminal would be stopped).
fn stdin_for_child() -> io::Result<Stdio> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Once;
    static TARGET: Mutex<Option<File>> = Mutex::new(None);
    static RELAY: Once = Once::new();
    static ENDED: AtomicBool = AtomicBool::new(false);
    // SAFETY: `isatty` only queries a descriptor number.
    if unsafe { libc::isatty(0) } == 0 {
        return Ok(Stdio::inherit());
    }
    if ENDED.load(Ordering::Relaxed) {
        return Ok(Stdio::null());
    }
    let (read, write) = pipe()?;
    *TARGET.lock().unwrap_or_else(|e| e.into_inner()) = Some(File::from(write));
    RELAY.call_once(|| {
        std::thread::spawn(|| {
            let mut buf = [0u8; 4096];
            loop {
                let n = match io::stdin().read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                if let Some(target) = TARGET.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
                    let _ = target.write_all(&buf[..n]);
                }
            }
            ENDED.store(true, Ordering::Relaxed);
            // End of input: the interpreter reads end-of-file too.
            TARGET.lock().unwrap_or_else(|e| e.into_inner()).take();
        });
    });
    Ok(Stdio::from(read))
}

/// A pipe whose ends are closed on exec and numbered above the fds the child gets (3, 4).
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    #[cfg(any(
        target_os = "linux",
        target_os = "android",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "openbsd",
        target_os = "dragonfly"
    ))]
    // SAFETY: `fds` has room for the two descriptors `pipe2` writes.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    #[cfg(not(any(
        target_os = "linux",
        target_os = "android",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "openbsd",
        target_os = "dragonfly"
    )))]
    // SAFETY: `fds` has room for the two descriptors `pipe` writes.
    let r = unsafe { libc::pipe(fds.as_mut_ptr()) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the pipe succeeded, so both are fresh descriptors owned by no one else.
    let (a, b) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((high(a)?, high(b)?))
}

fn high(fd: OwnedFd) -> io::Result<OwnedFd> {
    // SAFETY: duplicating a descriptor `fd` owns; the original is closed when `fd` drops.
    let new = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 10) };
    if new < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fcntl` succeeded: `new` is a fresh descriptor owned by no one else.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

fn encode_request(op: u8, fields: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + fields.iter().map(|f| f.len() + 8).sum::<usize>());
    out.push(op);
    for f in fields {
        out.push(b' ');
        out.extend_from_slice(f.len().to_string().as_bytes());
    }
    out.push(b'\n');
    for f in fields {
        out.extend_from_slice(f);
    }
    out
}

/// Refuses a value nested deeper than the embedded VM takes ([`MAX_PUSH_DEPTH`]): writing
/// it out recurses once per level, and no Lua parser reads more than about 200 levels.
fn check_depth(value: &Json) -> Result<(), VmError> {
    let mut pending = vec![(value, 0usize)];
    while let Some((value, depth)) = pending.pop() {
        let children: Box<dyn Iterator<Item = &Json>> = match value {
            Json::Array(items) => Box::new(items.iter()),
            Json::Object(map) => Box::new(map.values()),
            _ => continue,
        };
        if depth >= MAX_PUSH_DEPTH {
            return Err(VmError::new(
                ErrorKind::Runtime,
                format!(
                    "a value nested more than {MAX_PUSH_DEPTH} levels deep cannot be passed to Lua"
                ),
            ));
        }
        pending.extend(children.map(|child| (child, depth + 1)));
    }
    Ok(())
}

/// Writes a JSON value as a Lua expression that builds the same value (`null` is `nil`,
/// arrays are sequences), readable by every Lua version.
fn lua_literal(value: &Json, out: &mut String) {
    use std::fmt::Write as _;
    match value {
        Json::Null => out.push_str("nil"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                if i == i64::MIN {
                    out.push_str("(-9223372036854775807-1)");
                } else {
                    let _ = write!(out, "{i}");
                }
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                if f.is_finite() {
                    let _ = write!(out, "{f:?}");
                } else {
                    out.push_str("(0/0)");
                }
            }
        }
        Json::String(s) => crate::lua_syntax::push_string(out, s.as_bytes()),
        Json::Array(items) => {
            out.push('{');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                lua_literal(item, out);
            }
            out.push('}');
        }
        Json::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push('[');
                lua_literal(&Json::String(k.clone()), out);
                out.push_str("]=");
                lua_literal(v, out);
            }
            out.push('}');
        }
    }
}

fn io_reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

fn skip_shebang(bytes: &[u8]) -> Vec<u8> {
    if bytes.first() == Some(&b'#') {
        // Keep the newline so line numbers stay right.
        let end = bytes
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or(bytes.len());
        bytes[end..].to_vec()
    } else {
        bytes.to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_lua() {
        let mut s = String::new();
        lua_literal(
            &json!({"a": [1, 2.5, null, "x\"\n\u{e9}"], "b": true, "c": -9223372036854775808i64}),
            &mut s,
        );
        assert_eq!(
            s,
            "{[\"a\"]={1,2.5,nil,\"x\\\"\\n\u{e9}\"},[\"b\"]=true,[\"c\"]=(-9223372036854775807-1)}"
        );
    }

    #[test]
    fn vms_move_between_threads() {
        fn is_send<T: Send>() {}
        is_send::<ProcessVm>();
        is_send::<crate::runtime::AnyVm>();
    }

    #[test]
    fn requests_are_framed() {
        assert_eq!(
            encode_request(b'x', &[b"=eval", b"return 1"]),
            b"x 5 8\n=evalreturn 1".to_vec()
        );
    }
}
