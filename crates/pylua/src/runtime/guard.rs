//! How limits are enforced inside one Lua state: an allocator that counts bytes, a count hook
//! that stops a script, and one shared watchdog thread that has that hook armed when a
//! deadline passes.
//!
//! Why this shape:
//! * A count hook makes Lua 5.4 trace every instruction (about 2× slower) whatever its
//!   interval, so the main thread only carries one when an instruction limit is set. For a
//!   timeout the hook is installed at the deadline, which costs nothing until then.
//! * Lua allows `lua_sethook` asynchronously only from a signal handler on the thread running
//!   the state (as `lua.c` does on Ctrl-C): from another thread it would race the VM over
//!   the `CallInfo` list it walks. So the watchdog sets the abort flag and sends a real-time
//!   signal ([`stop_signal`]) to the thread running the VM, recorded when the run started;
//!   the handler, on that thread, installs the hook. The signal is sent under the lock that
//!   ending a run takes, so no thread is signalled for a run that is over. A thread that
//!   blocks that signal, or a process where no real-time signal is free, gets a polling hook
//!   on the main thread for its timed runs instead (slower, but the limit holds).
//! * A hook is per Lua thread, and a watchdog cannot know which coroutine is running, so when
//!   any limit is set each coroutine gets a count hook when it is created (the sandbox wraps
//!   `coroutine.create`/`wrap`); it polls the abort flag every [`INTERVAL`] instructions.
//! * Once a limit fires it stays fired until the run returns to the host: the hook re-arms
//!   itself to fire on every instruction, so `pcall`, `xpcall` handlers and coroutines that
//!   catch the error meet it again at their next instruction and the error unwinds to the top.
//!   The host reads the reason from the flag, never from the (catchable) message.

use super::arena::Arena;
use mlua::ffi;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::ffi::{c_int, c_void};
use std::sync::atomic::{
    AtomicBool, AtomicI64, AtomicPtr, AtomicU8, AtomicUsize,
    Ordering::{AcqRel, Acquire, Relaxed},
};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Instructions between two checks of a hooked thread.
pub(crate) const INTERVAL: c_int = 1000;

/// Why a run was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Abort {
    None = 0,
    Timeout = 1,
    Instructions = 2,
    Memory = 3,
    /// Not a limit: an [`super::Interrupter`] asked the run to stop.
    Interrupted = 4,
}

impl Abort {
    fn from_u8(v: u8) -> Abort {
        match v {
            1 => Abort::Timeout,
            2 => Abort::Instructions,
            3 => Abort::Memory,
            4 => Abort::Interrupted,
            _ => Abort::None,
        }
    }
    fn message(self) -> &'static str {
        match self {
            Abort::Timeout => "time limit exceeded",
            Abort::Instructions => "instruction limit exceeded",
            Abort::Memory => "not enough memory (memory limit exceeded)",
            Abort::Interrupted => "interrupted",
            Abort::None => "",
        }
    }
}

/// The limit state of one Lua state. It is the `ud` of the counting allocator, which is how
/// the hook (given only a `lua_State`) finds it.
pub(crate) struct Guard {
    abort: AtomicU8,
    /// 0 means unlimited.
    memory_limit: AtomicUsize,
    used: AtomicUsize,
    /// The last refused request (`ptr`, `nsize`), until it is retried successfully. Lua
    /// retries most refused allocations once after an emergency collection; some paths
    /// (`luaL_Buffer`) raise "not enough memory" at once. So a refusal only becomes a fired
    /// limit when the retry fails too, or when the next instruction runs with it unresolved.
    refused: (AtomicUsize, AtomicUsize),
    pending: AtomicBool,
    /// Instructions left in this run; only meaningful when `count_instructions`.
    budget: AtomicI64,
    instruction_limit: Option<u64>,
    /// Whether this run's main thread polls the abort flag, because the watchdog cannot
    /// signal the thread running it (see the module docs).
    polling_main: AtomicBool,
    main: AtomicPtr<ffi::lua_State>,
    /// Where the state's memory comes from; used by the allocator alone.
    arena: Arena,
}

// SAFETY: other threads (the watchdog) reach a guard only through `record`, which touches
// atomics alone; everything else, the arena included, is used by the allocator and hooks of
// the state, which run on the one thread using the VM at a time (`Vm` is not `Sync`).
unsafe impl Sync for Guard {}
// SAFETY: as for `Sync`: the arena's raw pointers are owned by the guard, not by a thread.
unsafe impl Send for Guard {}

impl Guard {
    /// A guard for a state that does not exist yet; [`Guard::new_state`] creates it.
    pub(crate) fn new(memory_limit: Option<usize>, instruction_limit: Option<u64>) -> Arc<Guard> {
        Arc::new(Guard {
            abort: AtomicU8::new(0),
            memory_limit: AtomicUsize::new(memory_limit.unwrap_or(0)),
            used: AtomicUsize::new(0),
            refused: (AtomicUsize::new(0), AtomicUsize::new(0)),
            pending: AtomicBool::new(false),
            budget: AtomicI64::new(0),
            instruction_limit,
            polling_main: AtomicBool::new(false),
            main: AtomicPtr::new(std::ptr::null_mut()),
            arena: Arena::new(),
        })
    }

    /// Creates the Lua state this guard watches, with the counting allocator from its first
    /// byte, so every byte the state ever holds is counted against the limit. Returns null
    /// when not even the bare state fits.
    ///
    /// # Safety
    /// The guard must outlive the state: close it before the last `Arc` is dropped.
    pub(crate) unsafe fn new_state(self: &Arc<Self>) -> *mut ffi::lua_State {
        // SAFETY: `counting_alloc` reads its `ud` as a `Guard`, which this pointer is, and the
        // caller keeps it alive as long as the state.
        let main = unsafe { ffi::lua_newstate(counting_alloc, Arc::as_ptr(self) as *mut c_void) };
        if !main.is_null() {
            self.main.store(main, Relaxed);
            self.reset_run();
        }
        main
    }

    /// Runs `f` with the memory limit lifted: for set-up whose failure could not be reported
    /// (mlua's own state, attached on demand, panics when it cannot allocate).
    pub(crate) fn without_memory_limit<R>(&self, f: impl FnOnce() -> R) -> R {
        let limit = self.memory_limit.swap(0, Relaxed);
        let result = f();
        self.memory_limit.store(limit, Relaxed);
        result
    }

    /// Prepares for a new top-level run: clears a fired limit, refills the instruction
    /// budget and puts the main thread's hook back to its resting configuration.
    pub(crate) fn reset_run(&self) {
        self.abort.store(Abort::None as u8, Relaxed);
        self.pending.store(false, Relaxed);
        self.polling_main.store(false, Relaxed);
        if let Some(limit) = self.instruction_limit {
            self.budget
                .store(limit.min(i64::MAX as u64) as i64, Relaxed);
        }
        // SAFETY: `main` is the live state this guard was made for (`new_state`), and this
        // runs on the thread using the VM, between runs.
        unsafe { self.rest(self.main.load(Relaxed)) };
    }

    /// Makes this run's main thread poll the abort flag, for a run the watchdog cannot
    /// signal (see the module docs).
    fn poll_main(&self) {
        self.polling_main.store(true, Relaxed);
        // SAFETY: called on the thread about to run the VM, before the run starts.
        unsafe { self.rest(self.main.load(Relaxed)) };
    }

    /// The hook a thread carries while nothing has fired: the main thread counts
    /// instructions only under an instruction limit (or polls when it cannot be signalled);
    /// coroutines always poll.
    fn resting_count(&self, state: *mut ffi::lua_State) -> Option<c_int> {
        match self.instruction_limit {
            Some(limit) => Some(limit.clamp(1, INTERVAL as u64) as c_int),
            None if state == self.main.load(Relaxed) && !self.polling_main.load(Relaxed) => None,
            None => Some(INTERVAL),
        }
    }

    /// Puts `state`'s hook back to its resting configuration.
    ///
    /// # Safety
    /// `state` must be a thread of this guard's state, and the caller must be the thread
    /// running the VM (in a hook, a Lua C function, or the host between runs).
    unsafe fn rest(&self, state: *mut ffi::lua_State) {
        // SAFETY: the caller's contract: `state` is live and ours to change.
        unsafe {
            match self.resting_count(state) {
                Some(count) => {
                    if ffi::lua_gethook(state).is_none() || ffi::lua_gethookcount(state) != count {
                        ffi::lua_sethook(state, Some(limit_hook), ffi::LUA_MASKCOUNT, count);
                    }
                }
                None => {
                    if ffi::lua_gethook(state).is_some() {
                        ffi::lua_sethook(state, None, 0, 0);
                        // A limit may have fired in between: never lose it.
                        if self.fired() != Abort::None {
                            self.arm_main();
                        }
                    }
                }
            }
        }
    }

    /// Makes the main thread's hook run at its next instruction.
    ///
    /// # Safety
    /// Only on the thread running the VM: from its own code, or from a signal handler
    /// interrupting it (the one asynchronous use Lua allows), and while the state is alive.
    unsafe fn arm_main(&self) {
        // SAFETY: the caller's contract; `lua_sethook` only stores the hook and marks the
        // running calls for it, which Lua makes safe even from a signal handler.
        unsafe {
            ffi::lua_sethook(
                self.main.load(Relaxed),
                Some(limit_hook),
                ffi::LUA_MASKCOUNT,
                1,
            )
        };
    }

    /// Why the last run was stopped, if it was.
    pub(crate) fn fired(&self) -> Abort {
        Abort::from_u8(self.abort.load(Acquire))
    }

    /// Bytes the state holds now.
    pub(crate) fn used_memory(&self) -> usize {
        self.used.load(Relaxed)
    }

    /// Records why the run must stop (the first reason wins). Safe from any thread: the
    /// hooks, the pattern matcher and the allocator read the flag.
    fn record(&self, why: Abort) {
        let _ = self
            .abort
            .compare_exchange(Abort::None as u8, why as u8, AcqRel, Relaxed);
    }

    /// [`Guard::fire`], for the interrupt module.
    ///
    /// # Safety
    /// As [`Guard::arm_main`].
    pub(crate) unsafe fn stop_here(&self, why: Abort) {
        // SAFETY: the caller's contract.
        unsafe { self.fire(why) }
    }

    /// Stops the running script from the VM's own thread: records why and makes the main
    /// thread's hook fire at its next instruction.
    ///
    /// # Safety
    /// As [`Guard::arm_main`].
    unsafe fn fire(&self, why: Abort) {
        self.record(why);
        // SAFETY: the caller's contract.
        unsafe { self.arm_main() };
    }
}

/// Gives a new coroutine the polling hook (see the module docs). A Lua C function:
/// `arm(thread)`, installed by the sandbox around `coroutine.create` and `coroutine.wrap`.
///
/// # Safety
/// Only as a Lua C function: `state` is the calling thread of a live state.
pub(crate) unsafe extern "C-unwind" fn arm_coroutine(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: argument 1 is read without pushing; a thread argument is a live coroutine of
    // this state, not running (it was just created), so setting its hook races nothing.
    unsafe {
        let co = ffi::lua_tothread(state, 1);
        if !co.is_null() {
            ffi::lua_sethook(co, Some(limit_hook), ffi::LUA_MASKCOUNT, INTERVAL);
        }
    }
    0
}

/// `aborted()`: true while a fired limit is unwinding the run. A Lua C function the sandbox
/// uses to keep `xpcall` message handlers from running then: Lua calls a handler for an error
/// raised in a hook while hooks are still disabled, so a looping handler could never be
/// stopped.
///
/// # Safety
/// Only as a Lua C function.
pub(crate) unsafe extern "C-unwind" fn aborted(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: `state` is the calling thread; pushing one value is within the `LUA_MINSTACK`
    // slots Lua guarantees a C function.
    unsafe {
        let fired = guard_of(state).is_some_and(|g| g.fired() != Abort::None);
        ffi::lua_pushboolean(state, fired as c_int);
    }
    1
}

extern "C-unwind" {
    /// `luaopen_string` of Lua's own `lstrlib.c`, compiled with a tick in its matcher
    /// (see `build.rs`).
    pub(crate) fn pylua_luaopen_string_interruptible(state: *mut ffi::lua_State) -> c_int;
}

/// Called by the patched pattern matcher at every step. Every 1024 steps it looks at the
/// VM's abort flag (set by the watchdog or the allocator) and raises the limit error, so a
/// pathological pattern stops like a runaway loop. Nothing with a destructor may be alive
/// here: `lua_error` leaves by `longjmp`.
///
/// # Safety
/// Only from the matcher, with `state` the thread running it.
#[no_mangle]
pub unsafe extern "C-unwind" fn pylua_pattern_tick(state: *mut ffi::lua_State) {
    thread_local! {
        static STEPS: Cell<u32> = const { Cell::new(0) };
    }
    let steps = STEPS.with(|s| {
        let n = s.get().wrapping_add(1);
        s.set(n);
        n
    });
    if !steps.is_multiple_of(1024) {
        return;
    }
    // SAFETY: `state` is the running thread (the matcher's own); the string library's
    // functions get `LUA_MINSTACK` slots and the matcher pushes nothing, but the slot is
    // checked anyway (without one, the next hook raises the error instead). Nothing here
    // has a destructor for `lua_error`'s `longjmp` to skip.
    unsafe {
        let Some(guard) = guard_of(state) else { return };
        let why = guard.fired();
        if why != Abort::None && ffi::lua_checkstack(state, 1) != 0 {
            let msg = why.message();
            ffi::lua_pushlstring(state, msg.as_ptr().cast(), msg.len());
            ffi::lua_error(state);
        }
    }
}

/// The guard of the state `state` belongs to, when it has one (a state made by
/// [`Guard::new_state`]).
///
/// # Safety
/// `state` must be a live Lua thread; the guard returned lives as long as its state (the
/// `'static` is a convenience for hooks, which never keep it).
unsafe fn guard_of(state: *mut ffi::lua_State) -> Option<&'static Guard> {
    let mut ud = std::ptr::null_mut();
    // SAFETY: `state` is live (the caller's contract).
    let alloc = unsafe { ffi::lua_getallocf(state, &mut ud) };
    if std::ptr::fn_addr_eq(alloc, counting_alloc as ffi::lua_Alloc) && !ud.is_null() {
        // SAFETY: a state with the counting allocator got a `Guard` as its `ud`
        // (`new_state`), and the guard outlives the state.
        Some(unsafe { &*(ud as *const Guard) })
    } else {
        None
    }
}

/// The count hook shared by every thread of a guarded state. It must not hold values with
/// destructors: `lua_error` leaves it by `longjmp`.
///
/// # Safety
/// Only as a Lua hook.
unsafe extern "C-unwind" fn limit_hook(state: *mut ffi::lua_State, _ar: *mut ffi::lua_Debug) {
    // SAFETY: Lua calls a hook on the running thread with `LUA_MINSTACK` free slots; the
    // one string pushed fits, and nothing alive here has a destructor.
    unsafe {
        let Some(guard) = guard_of(state) else {
            ffi::lua_sethook(state, None, 0, 0);
            return;
        };
        let count = ffi::lua_gethookcount(state);
        if guard.instruction_limit.is_some() && guard.abort.load(Relaxed) == 0 {
            let left = guard.budget.load(Relaxed) - count as i64;
            guard.budget.store(left, Relaxed);
            if left <= 0 {
                guard.fire(Abort::Instructions);
            }
        }
        if guard.pending.load(Relaxed) {
            // Code runs again while a refused allocation was never satisfied: Lua raised
            // "not enough memory" and someone caught it.
            guard.fire(Abort::Memory);
        }
        let why = guard.fired();
        if why != Abort::None {
            // Stay armed on this thread: whoever catches the error meets it again.
            if count != 1 {
                ffi::lua_sethook(state, Some(limit_hook), ffi::LUA_MASKCOUNT, 1);
            }
            let msg = why.message();
            ffi::lua_pushlstring(state, msg.as_ptr().cast(), msg.len());
            ffi::lua_error(state);
        }
        guard.rest(state);
    }
}

/// Counts every byte against the limit; the memory itself comes from the guard's arena
/// (`arena.rs`). Shrinking never fails, as Lua requires.
///
/// # Safety
/// Only as the allocator of a state made by [`Guard::new_state`], which passes its guard as
/// `ud`; Lua calls it on the thread running the state.
unsafe extern "C-unwind" fn counting_alloc(
    ud: *mut c_void,
    ptr: *mut c_void,
    osize: usize,
    nsize: usize,
) -> *mut c_void {
    // SAFETY: `ud` is the guard (`new_state`), alive as long as its state.
    let guard = unsafe { &*(ud as *const Guard) };
    let old = if ptr.is_null() { 0 } else { osize };
    let used = guard.used.load(Relaxed);
    if nsize > old {
        let limit = guard.memory_limit.load(Relaxed);
        if limit != 0 && used.saturating_add(nsize - old) > limit {
            let request = (ptr as usize, nsize);
            let last = (guard.refused.0.load(Relaxed), guard.refused.1.load(Relaxed));
            if guard.pending.load(Relaxed) && last == request {
                // SAFETY: the allocator runs on the thread running the VM.
                unsafe { guard.fire(Abort::Memory) };
            } else {
                guard.refused.0.store(request.0, Relaxed);
                guard.refused.1.store(request.1, Relaxed);
                guard.pending.store(true, Relaxed);
                // SAFETY: as above.
                unsafe { guard.arm_main() };
            }
            return std::ptr::null_mut();
        }
        if guard.pending.load(Relaxed)
            && (ptr as usize, nsize)
                == (guard.refused.0.load(Relaxed), guard.refused.1.load(Relaxed))
        {
            // The retry after the emergency collection fits: no limit was hit after all.
            guard.pending.store(false, Relaxed);
        }
    }
    // SAFETY: Lua passes blocks this allocator gave it, with their sizes, and uses the state
    // (so the arena) from one thread at a time.
    let new = unsafe { guard.arena.realloc(ptr, osize, nsize) };
    if nsize == 0 || !new.is_null() {
        guard.used.store(used - old + nsize, Relaxed);
    }
    new
}

// ---------------------------------------------------------------------------------------------
// Delivering a stop on the VM's own thread.

thread_local! {
    /// The guard of the innermost run in progress on this thread (null: none, or a process
    /// VM's run), set by [`enter`] for every run (interrupts need it) and by
    /// [`arm_deadline`] for timed ones. Read by the signal handler: a plain `Cell` of a
    /// pointer, with no destructor and a constant initialiser, so reading it allocates
    /// nothing and registers nothing.
    static RUNNING: Cell<*const Guard> = const { Cell::new(std::ptr::null()) };
}

/// The real-time signal the watchdog sends to stop a run, installed on first use; `None`
/// when no real-time signal is free.
///
/// It is the highest-numbered real-time signal whose disposition is still the default
/// (nobody else handles it), scanning down from `SIGRTMAX`, installed with `SA_RESTART`
/// (interrupted system calls go on) and `SA_SIGINFO`. A host must not block it in threads
/// that run VMs with a timeout, nor take it over afterwards: a run on a thread that blocks
/// it falls back to polling (see [`arm_deadline`]), and a replaced handler means timeouts
/// that never fire.
pub(crate) fn stop_signal() -> Option<c_int> {
    *STOP_SIGNAL.get_or_init(install_stop_handler)
}

static STOP_SIGNAL: OnceLock<Option<c_int>> = OnceLock::new();

/// [`stop_signal`] if it is installed, without installing it: a plain atomic load, so
/// async-signal-safe.
pub(crate) fn installed_stop_signal() -> Option<c_int> {
    STOP_SIGNAL.get().copied().flatten()
}

/// Makes `guard` (or none, for a process VM) the innermost run on this thread for the stop
/// signal's handler; returns what it replaces, for [`leave`].
pub(crate) fn enter(guard: Option<&Arc<Guard>>) -> *const Guard {
    let ptr = guard.map_or(std::ptr::null(), Arc::as_ptr);
    RUNNING.with(|running| running.replace(ptr))
}

/// Gives the handler back the run `outer` (from [`enter`]), arming its hook when it was
/// stopped while the nested run ran (the signal then found the nested run and did nothing
/// for the outer one). `interrupted`: the outer run has an interrupt waiting.
///
/// # Safety
/// `outer` must be null or the guard of a run in progress on this thread, which holds it.
pub(crate) unsafe fn leave(outer: *const Guard, interrupted: bool) {
    RUNNING.with(|running| running.set(outer));
    if outer.is_null() {
        return;
    }
    // SAFETY: the caller's contract.
    let outer = unsafe { &*outer };
    if interrupted {
        outer.record(Abort::Interrupted);
    }
    if outer.fired() != Abort::None {
        // SAFETY: on the thread running the outer VM, whose state is alive.
        unsafe { outer.arm_main() };
    }
}

fn install_stop_handler() -> Option<c_int> {
    for sig in (libc::SIGRTMIN()..=libc::SIGRTMAX()).rev() {
        // SAFETY: `sigaction` with a null new action only reads the current one into a
        // zeroed struct of the right type.
        let free = unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            libc::sigaction(sig, std::ptr::null(), &mut old) == 0
                && old.sa_sigaction == libc::SIG_DFL
        };
        if !free {
            continue;
        }
        // SAFETY: installs `on_stop_signal`, an `extern "C"` function of the three-argument
        // form `SA_SIGINFO` calls, which only does what a handler may (see its docs).
        let installed = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_stop_signal as *const () as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART | libc::SA_SIGINFO;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, std::ptr::null_mut()) == 0
        };
        if installed {
            return Some(sig);
        }
    }
    None
}

/// The handler of [`stop_signal`], on the thread the watchdog signalled. Async-signal-safe:
/// it reads a thread-local that the run wrote before the signal could be sent, loads an
/// atomic and calls `lua_sethook`, which Lua allows in a signal handler; no allocation, no
/// lock. It arms the hook only when the innermost timed run's limit has fired: a signal
/// that arrives late, for a run that is over, finds another guard (or none) and does
/// nothing.
extern "C" fn on_stop_signal(_sig: c_int, _info: *mut libc::siginfo_t, _context: *mut c_void) {
    let guard = RUNNING.with(Cell::get);
    if guard.is_null() {
        return;
    }
    // SAFETY: `RUNNING` points at the guard of a run in progress on this thread, which
    // holds an `Arc` of it until after `RUNNING` is restored (`Deadline::drop`,
    // `interrupt::Running::drop`).
    let guard = unsafe { &*guard };
    if super::interrupt::requested_here() {
        guard.record(Abort::Interrupted);
    }
    if guard.fired() != Abort::None {
        // SAFETY: on the VM's own thread, interrupting it: the asynchronous use of
        // `lua_sethook` Lua documents; the state lives as long as the run.
        unsafe { guard.arm_main() };
    }
}

/// Whether `sig` is blocked in the calling thread, asked of the kernel at most once per
/// [`MASK_RECHECK`] per thread: the question is a system call (about 300 ns here), most of
/// what arming a deadline cost, and a thread's mask rarely changes. A host that blocks the
/// signal on a thread that ran a timed VM less than that long ago loses the polling
/// fallback for that run (the module docs ask hosts not to block it at all).
fn blocked_here_cached(sig: c_int, now: Instant) -> bool {
    thread_local! {
        static MASK: Cell<Option<(Instant, bool)>> = const { Cell::new(None) };
    }
    MASK.with(|mask| match mask.get() {
        Some((asked, blocked)) if now.saturating_duration_since(asked) < MASK_RECHECK => blocked,
        _ => {
            let blocked = blocked_here(sig);
            mask.set(Some((now, blocked)));
            blocked
        }
    })
}

/// How long a thread's answer to [`blocked_here`] is reused.
const MASK_RECHECK: Duration = Duration::from_millis(1);

/// Whether `sig` is blocked in the calling thread.
fn blocked_here(sig: c_int) -> bool {
    // SAFETY: with a null new set, `pthread_sigmask` only reads the thread's mask into a
    // zeroed `sigset_t`.
    unsafe {
        let mut mask: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut mask) == 0
            && libc::sigismember(&mask, sig) == 1
    }
}

// ---------------------------------------------------------------------------------------------
// The watchdog: one thread for all VMs, sleeping until the earliest deadline.

struct Watchdog {
    timers: Mutex<Timers>,
    wake: Condvar,
}

#[derive(Default)]
struct Timers {
    next_id: u64,
    pending: BTreeMap<(Instant, u64), Timer>,
    /// What the watchdog sleeps until: `None` while it is awake, `Some(None)` while it waits
    /// for any timer. A new deadline wakes it only when it is earlier than that, so a host
    /// running many short snippets under one timeout wakes it about once per timeout, not
    /// once per snippet.
    asleep_until: Option<Option<Instant>>,
}

/// One run's deadline, as the watchdog keeps it.
struct Timer {
    guard: Arc<Guard>,
    /// The thread running the VM and the signal that stops it; `None` when the run polls.
    thread: Option<(libc::pthread_t, c_int)>,
}

impl Timer {
    /// Stops the run: the flag first, then the signal whose handler reads it. Called under
    /// the timers lock, which the run's end takes too ([`Deadline`]'s drop), so the thread
    /// signalled is still running this run.
    fn expire(self) {
        self.guard.record(Abort::Timeout);
        if let Some((thread, sig)) = self.thread {
            // SAFETY: the thread is alive: it is inside the run, which cannot end (drop its
            // `Deadline`) while the lock held here is. Its handler for `sig` is installed.
            unsafe { libc::pthread_kill(thread, sig) };
        }
    }
}

/// A registered deadline, for the run in progress on this thread; dropping it disarms the
/// timer and restores the thread's record of the run it was nested in (a `Deadline` is not
/// `Send`: it belongs to the thread that armed it).
pub(crate) struct Deadline {
    key: (Instant, u64),
    /// Keeps alive the guard `RUNNING` points at until it points elsewhere.
    _guard: Arc<Guard>,
    /// What `RUNNING` held before this run: the run this one is nested in, if any.
    outer: *const Guard,
}

impl Drop for Deadline {
    fn drop(&mut self) {
        {
            // Under the lock, so once this returns the watchdog cannot fire for this run.
            let dog = watchdog();
            let mut timers = dog.timers.lock().unwrap_or_else(|e| e.into_inner());
            timers.pending.remove(&self.key);
        }
        RUNNING.with(|running| running.set(self.outer));
        // The outer run may be this one's own (entered by `interrupt::begin`): its end is
        // handled there.
        if !self.outer.is_null() && self.outer != Arc::as_ptr(&self._guard) {
            // SAFETY: the outer run is still in progress on this thread and holds its guard.
            let outer = unsafe { &*self.outer };
            // Its deadline may have passed while this run ran: the signal then found this
            // run's guard and did nothing, so arm the outer run's hook now, on its thread.
            if outer.fired() != Abort::None {
                // SAFETY: on the thread running the outer VM, whose state is alive.
                unsafe { outer.arm_main() };
            }
        }
    }
}

/// Arms a timer that stops `guard`'s run, which the calling thread is about to start,
/// `timeout` after `now`. Keep the returned value until the run ends.
///
/// The watchdog will signal this thread ([`stop_signal`]); when it cannot (no free signal,
/// or this thread blocks it) the run's main thread polls the abort flag instead.
pub(crate) fn arm_deadline(guard: &Arc<Guard>, now: Instant, timeout: Duration) -> Deadline {
    let at = now + timeout;
    // Written before the timer exists, so the handler finds it, and so this thread's slot
    // is in use before any signal: the handler never makes the first access (which, in a
    // dynamically loaded library, may allocate).
    let outer = RUNNING.with(|running| running.replace(Arc::as_ptr(guard)));
    let thread = match stop_signal() {
        Some(sig) if !blocked_here_cached(sig, now) => {
            // SAFETY: `pthread_self` has no preconditions.
            Some((unsafe { libc::pthread_self() }, sig))
        }
        _ => {
            guard.poll_main();
            None
        }
    };
    let dog = watchdog();
    let mut timers = dog.timers.lock().unwrap_or_else(|e| e.into_inner());
    timers.next_id += 1;
    let key = (at, timers.next_id);
    // Wake the watchdog only if it sleeps past this deadline: an awake one looks at the
    // timers before it sleeps again.
    let wake = match timers.asleep_until {
        Some(None) => true,
        Some(Some(until)) => at < until,
        None => false,
    };
    let timer = Timer {
        guard: Arc::clone(guard),
        thread,
    };
    timers.pending.insert(key, timer);
    drop(timers);
    if wake {
        dog.wake.notify_one();
    }
    Deadline {
        key,
        _guard: Arc::clone(guard),
        outer,
    }
}

fn watchdog() -> &'static Watchdog {
    static DOG: OnceLock<&'static Watchdog> = OnceLock::new();
    DOG.get_or_init(|| {
        let dog: &'static Watchdog = Box::leak(Box::new(Watchdog {
            timers: Mutex::new(Timers::default()),
            wake: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("pylua-watchdog".into())
            .spawn(move || watch(dog))
            .expect("cannot start the pylua watchdog thread");
        dog
    })
}

fn watch(dog: &'static Watchdog) {
    let mut timers = dog.timers.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let now = Instant::now();
        match timers.pending.first_key_value() {
            None => {
                timers.asleep_until = Some(None);
                timers = dog.wake.wait(timers).unwrap_or_else(|e| e.into_inner());
            }
            Some((&(at, _), _)) if at <= now => {
                let (_, timer) = timers.pending.pop_first().expect("first entry exists");
                timer.expire();
            }
            Some((&(at, _), _)) => {
                timers.asleep_until = Some(Some(at));
                timers = dog
                    .wake
                    .wait_timeout(timers, at - now)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        }
        timers.asleep_until = None;
    }
}
