//! The interpreter process of a process VM: starting it (bootstrap, pipes, environment,
//! address-space cap), standard input and the stderr tail kept for crash reports, and
//! ending it (the whole process group is killed).

use super::super::error::{ErrorKind, VmError};
use super::super::limits::Limits;
use super::super::sandbox::Sandbox;
use super::protocol::*;
use super::{limit_error, SessionConfig, StderrSink};
use crate::interpreters::Interpreter;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The interpreter's side of the protocol.
pub(super) const SESSION: &str = include_str!("../lua/session.lua");

/// The session script for one policy: the policy's function (`policy.lua`), then
/// `session.lua`; built once per policy.
pub(super) fn session_source(sandbox: Sandbox) -> &'static str {
    use std::sync::OnceLock;
    static SOURCES: [OnceLock<String>; 3] = [const { OnceLock::new() }; 3];
    SOURCES[sandbox as usize].get_or_init(|| sandbox.policy_function() + SESSION)
}

/// Run with `-e`: reads the session script from fd 3 and starts it with both channels.
pub(super) const BOOTSTRAP: &str = "local i,o=io.open('/dev/fd/3','rb'),io.open('/dev/fd/4','wb') \
local n=tonumber(i:read('*l')) assert((loadstring or load)(i:read(n),'=pylua.session'))(i,o)";

/// How long a new interpreter may take to say hello.
pub(super) const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Address space allowed above the memory limit: the interpreter's code, libraries, stacks
/// and allocator overhead (an idle interpreter maps about 4 MiB).
pub(super) const ADDRESS_SPACE_SLACK: usize = 64 << 20;

/// How much of the interpreter's stderr is kept for crash reports.
pub(super) const STDERR_TAIL: usize = 4096;

/// Environment variables that would run code in the interpreter before the session.
pub(super) const INIT_VARS: [&str; 5] = [
    "LUA_INIT",
    "LUA_INIT_5_1",
    "LUA_INIT_5_2",
    "LUA_INIT_5_3",
    "LUA_INIT_5_4",
];

/// One running interpreter.
pub(super) struct Session {
    pub(super) child: Child,
    pub(super) requests: File,
    pub(super) replies: Replies,
    pub(super) stderr: Arc<StderrTail>,
    pub(super) killed: bool,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Session {
    pub(super) fn start(
        interpreter: &Interpreter,
        config: &SessionConfig,
    ) -> Result<Session, VmError> {
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
        let stderr = StderrTail::watch(child.stderr.take(), config.stderr.clone());
        let mut session = Session {
            child,
            requests: File::from(requests),
            replies: Replies::new(File::from(replies)),
            stderr,
            killed: false,
        };
        let source = session_source(config.sandbox);
        let mut first = format!("{}\n", source.len()).into_bytes();
        first.extend_from_slice(source.as_bytes());
        first.extend(encode_request(b'c', &[config.lua_table().as_bytes()]));
        let hello = match session.requests.write_all(&first) {
            Ok(()) => session.replies.frame(
                Some(Instant::now() + START_TIMEOUT),
                session.child.id(),
                &super::super::interrupt::InterruptCell::default(),
            ),
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
    pub(super) fn kill(&mut self) {
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
    pub(super) fn lost(self, interpreter: &Interpreter, limits: &Limits) -> VmError {
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
    pub(super) fn end(mut self) -> (Option<ExitStatus>, String, String) {
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

pub(super) fn with_stderr(mut message: String, tail: &str) -> String {
    let tail = tail.trim();
    if !tail.is_empty() {
        message.push_str(&format!("\nits last output on stderr:\n{tail}"));
    }
    message
}

/// Waits a little for a child to end, without reaping it.
pub(super) fn wait_briefly(child: &Child, limit: Duration) -> bool {
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

pub(super) fn describe_exit(status: ExitStatus) -> String {
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

/// Whether a child has ended, without reaping it (its pid keeps naming its process group).
pub(super) fn has_exited(pid: u32) -> bool {
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

/// The interpreter's stderr, passed to the caller's sink if any, with its end kept for crash
/// reports.
pub(super) struct StderrTail {
    pub(super) state: Mutex<(Vec<u8>, bool)>,
    pub(super) closed: Condvar,
}

impl StderrTail {
    pub(super) fn watch(
        stderr: Option<std::process::ChildStderr>,
        sink: Option<StderrSink>,
    ) -> Arc<StderrTail> {
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
                if let Some(sink) = &sink {
                    sink.write(&buf[..n]);
                }
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

    pub(super) fn wait_tail(&self, limit: Duration) -> String {
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
pub(super) fn stdin_for_child() -> io::Result<Stdio> {
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
pub(super) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
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

pub(super) fn high(fd: OwnedFd) -> io::Result<OwnedFd> {
    // SAFETY: duplicating a descriptor `fd` owns; the original is closed when `fd` drops.
    let new = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 10) };
    if new < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fcntl` succeeded: `new` is a fresh descriptor owned by no one else.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}
