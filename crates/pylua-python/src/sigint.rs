//! Ctrl-C while Lua runs. Python's own `SIGINT` handler only sets a flag that the
//! interpreter checks between bytecodes, and Lua runs with the GIL released, inside one
//! call: a pure-Lua loop would never look. So the module installs its own handler at import,
//! which stops the VM the main thread is running (through the runtime's
//! [`pylua::runtime::Interrupter`]) and then calls the handler it replaced, so Python
//! raises `KeyboardInterrupt` as usual once the call returns.
//!
//! Only the main thread's VM is stopped: Python delivers `KeyboardInterrupt` to the main
//! thread alone, so a VM used by another thread keeps running (`LuaProcess.interrupt()`
//! stops one from anywhere).
//!
//! The handler is async-signal-safe: it reads atomics, makes `gettid`/`getpid`/`tgkill`
//! system calls and calls the previous handler (Python's, itself async-signal-safe). It
//! reads the main thread's VM only on the main thread, which cannot be leaving the call
//! while its own handler runs — so the pointer it reads is alive.

use pylua::runtime::Interrupter;
use pyo3::prelude::*;
use std::cell::Cell;
use std::ffi::{c_int, c_void};
use std::sync::atomic::{
    AtomicBool, AtomicI32, AtomicPtr, AtomicUsize,
    Ordering::{Relaxed, Release, SeqCst},
};
use std::sync::Mutex;

/// The kernel id of Python's main thread; 0 until the handler is installed.
static MAIN_THREAD: AtomicI32 = AtomicI32::new(0);
/// The interrupter of the VM the main thread is running now (null: none).
static MAIN_TARGET: AtomicPtr<Interrupter> = AtomicPtr::new(std::ptr::null_mut());
/// Set by the handler, taken by [`arrived`]: whether a Ctrl-C arrived since.
static ARRIVED: AtomicBool = AtomicBool::new(false);
/// The handler this one replaced (`sa_sigaction`) and its `sa_flags`.
static PREVIOUS: AtomicUsize = AtomicUsize::new(0);
static PREVIOUS_FLAGS: AtomicI32 = AtomicI32::new(0);

thread_local! {
    /// Whether this thread is Python's main thread: 0 not known yet, 1 yes, 2 no.
    static ON_MAIN: Cell<u8> = const { Cell::new(0) };
}

fn gettid() -> c_int {
    // SAFETY: `gettid` has no preconditions and is async-signal-safe.
    unsafe { libc::syscall(libc::SYS_gettid) as c_int }
}

/// Installs the handler (again, if Python code replaced it since with `signal.signal`),
/// chaining to whatever handles `SIGINT` now. Returns false when `SIGINT` is ignored (then
/// Ctrl-C is meant to do nothing) or the handler cannot be installed.
#[pyfunction]
pub fn install_sigint_handler(py: Python<'_>) -> PyResult<bool> {
    static LOCK: Mutex<()> = Mutex::new(());
    let _serial = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    static AT_FORK: std::sync::Once = std::sync::Once::new();
    AT_FORK.call_once(|| {
        // SAFETY: registers a handler that only makes a system call and writes atomics and
        // a thread-local with a constant initialiser. Should registering fail (ENOMEM),
        // Ctrl-C in a forked child would not stop its VM: say so at once.
        let registered = unsafe { libc::pthread_atfork(None, None, Some(forked)) } == 0;
        assert!(
            registered,
            "cannot register pylua's fork handler for Ctrl-C"
        );
    });
    let main: c_int = py
        .import("threading")?
        .call_method0("main_thread")?
        .getattr("native_id")?
        .extract()?;
    // SAFETY: reads the current action into a zeroed struct of the right type.
    let current = unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(libc::SIGINT, std::ptr::null(), &mut old) != 0 {
            return Ok(false);
        }
        old
    };
    let ours = on_sigint as *const () as libc::sighandler_t;
    if current.sa_sigaction == ours {
        return Ok(true);
    }
    if current.sa_sigaction == libc::SIG_IGN {
        return Ok(false);
    }
    // Published before the handler can run: it reads them.
    PREVIOUS.store(current.sa_sigaction, SeqCst);
    PREVIOUS_FLAGS.store(current.sa_flags, SeqCst);
    MAIN_THREAD.store(main, SeqCst);
    // SAFETY: installs `on_sigint`, an `extern "C"` function of the three-argument form
    // `SA_SIGINFO` calls, which only does what a handler may (see the module docs). The
    // mask keeps the previous handler's, so what Python blocked while it runs stays so.
    let installed = unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = ours;
        // Python installs its handlers with SA_ONSTACK (and without SA_RESTART): keep them.
        action.sa_flags =
            libc::SA_SIGINFO | (current.sa_flags & (libc::SA_RESTART | libc::SA_ONSTACK));
        action.sa_mask = current.sa_mask;
        libc::sigaction(libc::SIGINT, &action, std::ptr::null_mut()) == 0
    };
    Ok(installed)
}

/// Runs in the child after a `fork`, on its one thread, which Python makes the child's main
/// thread: Ctrl-C must reach it, not the parent's main thread (gone here), and this thread's
/// cached answer to "am I the main thread" may be the parent's.
extern "C" fn forked() {
    if MAIN_THREAD.load(Relaxed) != 0 {
        MAIN_THREAD.store(gettid(), SeqCst);
    }
    ON_MAIN.with(|on| on.set(0));
}

extern "C" fn on_sigint(sig: c_int, info: *mut libc::siginfo_t, context: *mut c_void) {
    // SAFETY: `__errno_location` returns this thread's errno, which a handler must leave as
    // it found it; the system calls below may change it.
    let errno = unsafe { *libc::__errno_location() };
    let main = MAIN_THREAD.load(Relaxed);
    if main != 0 && gettid() != main {
        // Python handles signals on its main thread, and only there can the main thread's
        // VM be read safely: hand the signal over.
        // SAFETY: system calls with integer arguments; a main thread that is gone makes
        // `tgkill` fail, which leaves nothing to interrupt.
        unsafe {
            libc::syscall(
                libc::SYS_tgkill,
                libc::getpid() as libc::c_long,
                main as libc::c_long,
                sig as libc::c_long,
            );
            *libc::__errno_location() = errno;
        }
        return;
    }
    ARRIVED.store(true, SeqCst);
    let target = MAIN_TARGET.load(SeqCst);
    if !target.is_null() {
        // SAFETY: on the main thread, `MAIN_TARGET` points at the interrupter of the VM
        // whose call the main thread is inside (`Call`), which cannot end while this
        // handler interrupts that same thread. `interrupt` is async-signal-safe.
        unsafe { (*target).interrupt() };
    }
    chain(sig, info, context);
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

/// Calls the handler `on_sigint` replaced; the default action (end the process) is taken as
/// the default would take it.
fn chain(sig: c_int, info: *mut libc::siginfo_t, context: *mut c_void) {
    let previous = PREVIOUS.load(Relaxed);
    if previous == libc::SIG_DFL {
        // SAFETY: restores the default action and raises the signal again, which ends the
        // process as if no handler had been installed: async-signal-safe calls.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
            libc::raise(sig);
        }
        return;
    }
    if previous == libc::SIG_IGN {
        return;
    }
    // SAFETY: `previous` is the handler that was installed for this signal, called with
    // the arguments its `SA_SIGINFO` flag says it takes, as the kernel would have.
    unsafe {
        if PREVIOUS_FLAGS.load(Relaxed) & libc::SA_SIGINFO != 0 {
            let f: extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void) =
                std::mem::transmute(previous);
            f(sig, info, context);
        } else {
            let f: extern "C" fn(c_int) = std::mem::transmute(previous);
            f(sig);
        }
    }
}

/// A call into a VM in progress on this thread; when it is the main thread, Ctrl-C stops
/// that VM until the call ends (calls nest: a Lua callback into Python may run another VM).
pub struct Call {
    previous: Option<*mut Interrupter>,
}

impl Call {
    /// Starts a call of the VM `interrupter` belongs to. Cheap: a thread-local read, and on
    /// the main thread two plain stores.
    pub fn begin(interrupter: &Interrupter) -> Call {
        let main = ON_MAIN.with(|on| {
            if on.get() == 0 {
                let main = MAIN_THREAD.load(Relaxed);
                if main == 0 {
                    return false; // not installed (yet): ask again next time
                }
                on.set(if gettid() == main { 1 } else { 2 });
            }
            on.get() == 1
        });
        // Only the main thread writes the target, so plain stores suffice (a locked swap
        // costs more than the rest of this); a Ctrl-C landing in the few nanoseconds before
        // the store is visible finds the previous target, or none and reaches Python.
        let previous = main.then(|| {
            let previous = MAIN_TARGET.load(Relaxed);
            MAIN_TARGET.store(interrupter as *const _ as *mut Interrupter, Release);
            previous
        });
        Call { previous }
    }

    /// Whether this call is the main thread's (Ctrl-C reaches it).
    pub fn on_main(&self) -> bool {
        self.previous.is_some()
    }
}

/// Whether a Ctrl-C arrived since the last time this was asked: only then has Python a
/// signal of ours to handle after a call (asking Python itself costs every call more).
pub fn arrived() -> bool {
    ARRIVED.load(Relaxed) && ARRIVED.swap(false, SeqCst)
}

impl Drop for Call {
    fn drop(&mut self) {
        if let Some(previous) = self.previous {
            MAIN_TARGET.store(previous, Release);
        }
    }
}
