//! How limits are enforced inside one Lua state: an allocator that counts bytes, a VM that
//! counts its own instructions, and one shared watchdog thread that reads each VM's deadline.
//!
//! Why this shape:
//! * Lua's count hook makes the VM trace every instruction (about 2× slower) whatever its
//!   interval. So the VM counts instead (the patched `lvm.c`, see `build.rs`): every Lua
//!   thread counts down at calls, returns and backward jumps, and when its countdown runs out
//!   it calls [`pylua_vm_tick`], which charges the run's instruction budget, raises a limit
//!   that fired, and gives the next interval: [`INTERVAL`] under any limit, so coroutines and
//!   the main thread alike notice a fired limit within about that many instructions, and
//!   practically never without limits. No hook is set until a limit fires.
//! * A timeout costs a run two plain stores, a load and no locked instruction (the watchdog
//!   pays for the barrier, `barrier.rs`): each guard holds one word (the stop reason, an in-run bit
//!   and a run count), and the watchdog (`watchdog.rs`), which learnt of the guard once (its
//!   VM's first timed run), looks at the words every eighth of the shortest timeout while
//!   runs are in progress or starting. A run it sees with the same word for a whole timeout
//!   is stopped by a compare-and-swap on that word, so a run that is over (its word changed)
//!   is never stopped, and the VM's next tick raises it. A run wakes a watchdog that sleeps
//!   longer than an eighth of the run's timeout (an idle one sleeps until woken). No signal,
//!   no per-run registration.
//! * Lua allows `lua_sethook` asynchronously only from a signal handler on the thread running
//!   the state (as `lua.c` does on Ctrl-C): an interrupt ([`super::Interrupter`]) sends
//!   [`stop_signal`] to the thread running the VM, whose handler arms the hook.
//! * Once a limit fires it stays fired until the run returns to the host: the main thread's
//!   hook fires on every instruction, and every tick raises again, so `pcall`, `xpcall`
//!   handlers and coroutines that catch the error meet it again and the error unwinds to
//!   the top. The host reads the reason from the flag, never from the (catchable) message.

use super::arena::Arena;
use mlua::ffi;
use std::cell::Cell;
use std::ffi::{c_int, c_void};
use std::sync::atomic::{
    AtomicBool, AtomicI64, AtomicPtr, AtomicU64, AtomicUsize,
    Ordering::{AcqRel, Acquire, Relaxed},
};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Instructions (as the VM counts them) between two ticks of a thread under limits.
pub(crate) const INTERVAL: c_int = 1000;

/// The interval of a thread without limits: a tick every billion or so instructions.
const IDLE_INTERVAL: c_int = 1 << 30;

extern "C" {
    /// Sets a thread's countdown to the next tick (the patched `lvm.c`, see `build.rs`).
    fn pylua_vm_set_countdown(state: *mut ffi::lua_State, n: c_int);
}

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

/// The reason bits of [`Guard::abort`].
pub(super) const REASON: u64 = 0xff;
/// Set in [`Guard::abort`] while a timed run is in progress.
pub(super) const IN_RUN: u64 = 0x100;
/// One timed run more, in [`Guard::abort`].
pub(super) const NEXT_RUN: u64 = 0x200;

pub(super) fn reason(word: u64) -> Abort {
    Abort::from_u8((word & REASON) as u8)
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
    /// Why the run must stop (the low byte, an [`Abort`]), whether a timed run is in
    /// progress ([`IN_RUN`]) and which one (the bits above, one more for each timed run):
    /// the watchdog stops a run only if this word has not changed since it saw the run start.
    pub(super) abort: AtomicU64,
    /// 0 means unlimited.
    memory_limit: AtomicUsize,
    used: AtomicUsize,
    /// The last refused request (`ptr`, `nsize`), until it is retried successfully. Lua
    /// retries most refused allocations once after an emergency collection; some paths
    /// (`luaL_Buffer`) raise "not enough memory" at once. So a refusal only becomes a fired
    /// limit when the retry fails too, or when the next instruction runs with it unresolved.
    refused: (AtomicUsize, AtomicUsize),
    pending: AtomicBool,
    /// Instructions left in this run; only meaningful with an instruction limit.
    budget: AtomicI64,
    instruction_limit: Option<u64>,
    /// Whether any limit is set: then threads tick every [`INTERVAL`].
    watched: bool,
    /// How long one run may take.
    pub(super) timeout: Option<Duration>,
    /// The watchdog's look step for this timeout, in nanoseconds (`watchdog::look_step`).
    pub(super) look_step_nanos: u64,
    /// The generation of the watchdog that knows this guard (0: none does).
    pub(super) watching: AtomicU64,
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
    pub(crate) fn new(limits: &super::Limits) -> Arc<Guard> {
        Arc::new(Guard {
            abort: AtomicU64::new(0),
            memory_limit: AtomicUsize::new(limits.memory.unwrap_or(0)),
            used: AtomicUsize::new(0),
            refused: (AtomicUsize::new(0), AtomicUsize::new(0)),
            pending: AtomicBool::new(false),
            budget: AtomicI64::new(0),
            instruction_limit: limits.instructions,
            watched: !limits.is_unlimited(),
            timeout: limits.timeout,
            look_step_nanos: limits.timeout.map_or(u64::MAX, |t| {
                u64::try_from(super::watchdog::look_step(t).as_nanos()).unwrap_or(u64::MAX)
            }),
            watching: AtomicU64::new(0),
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

    /// For the VM's own set-up (its libraries and prelude): nothing is charged to the
    /// instruction budget, so the smallest budget leaves a VM that can run. The caller ends
    /// the set-up with [`Guard::reset_run`], which gives the first run its whole budget.
    pub(crate) fn setting_up(&self) {
        if self.instruction_limit.is_some() {
            self.budget.store(i64::MAX, Relaxed);
        }
    }

    /// Prepares for a new top-level run: clears a fired limit, refills the instruction
    /// budget, takes the main thread's hook off and starts its countdown.
    #[cold]
    pub(crate) fn reset_run(&self) {
        self.abort.fetch_and(!REASON, Relaxed);
        self.pending.store(false, Relaxed);
        if let Some(limit) = self.instruction_limit {
            self.budget
                .store(limit.min(i64::MAX as u64) as i64, Relaxed);
        }
        let main = self.main.load(Relaxed);
        // SAFETY: `main` is the live state this guard was made for (`new_state`), and this
        // runs on the thread using the VM, between runs; the countdown is a plain field.
        unsafe {
            self.rest(main);
            pylua_vm_set_countdown(main, self.interval());
        }
    }

    /// Ends a run that stopped for `fired`: only a fired limit, a refused allocation left
    /// waiting or an instruction budget to refill need [`Guard::reset_run`]'s work.
    #[inline]
    pub(crate) fn end_run(&self, fired: Abort) {
        if fired != Abort::None || self.pending.load(Relaxed) {
            self.reset_run();
        } else if let Some(limit) = self.instruction_limit {
            self.budget
                .store(limit.min(i64::MAX as u64) as i64, Relaxed);
            // The interval `interval()` gives for a full budget (the guard is watched).
            let interval = limit.min(INTERVAL as u64).max(1) as c_int;
            // SAFETY: as in `reset_run`: the live main thread, between runs, on its thread.
            unsafe { pylua_vm_set_countdown(self.main.load(Relaxed), interval) };
        }
    }

    /// Instructions until a thread's next tick.
    fn interval(&self) -> c_int {
        if !self.watched {
            return IDLE_INTERVAL;
        }
        match self.instruction_limit {
            Some(_) => self.budget.load(Relaxed).clamp(1, INTERVAL as i64) as c_int,
            None => INTERVAL,
        }
    }

    /// Takes `state`'s hook off (the VM's own count watches it) unless a limit fired.
    ///
    /// # Safety
    /// `state` must be a thread of this guard's state, and the caller must be the thread
    /// running the VM (in a hook, a Lua C function, or the host between runs).
    unsafe fn rest(&self, state: *mut ffi::lua_State) {
        // SAFETY: the caller's contract: `state` is live and ours to change.
        unsafe {
            if ffi::lua_gethook(state).is_some() {
                ffi::lua_sethook(state, None, 0, 0);
                // A limit may have fired in between: never lose it.
                if self.fired() != Abort::None {
                    self.arm_main();
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
        let main = self.main.load(Relaxed);
        if main.is_null() {
            // The state is still being made (`lua_newstate` asked for memory the limit
            // refuses): there is no thread to stop, and `lua_newstate` fails by itself.
            return;
        }
        // SAFETY: `main` is not null, so `new_state` stored it once `lua_newstate` had made
        // the state, which the caller's contract keeps alive and on this thread;
        // `lua_sethook` only stores the hook and marks the running calls for it, which Lua
        // makes safe even from a signal handler.
        unsafe { ffi::lua_sethook(main, Some(limit_hook), ffi::LUA_MASKCOUNT, 1) };
    }

    /// Why the last run was stopped, if it was.
    pub(crate) fn fired(&self) -> Abort {
        reason(self.abort.load(Acquire))
    }

    /// Bytes the state holds now.
    pub(crate) fn used_memory(&self) -> usize {
        self.used.load(Relaxed)
    }

    /// Records why the run must stop (the first reason wins). Safe from any thread: the
    /// hooks, the pattern matcher and the allocator read the flag.
    fn record(&self, why: Abort) {
        let _ = self.abort.fetch_update(AcqRel, Acquire, |word| {
            (reason(word) == Abort::None).then_some(word | why as u64)
        });
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

/// The count hook a guarded state's main thread carries once a limit fired (or a refused
/// allocation waits): it raises the limit at every instruction. It must not hold values
/// with destructors: `lua_error` leaves it by `longjmp`.
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
        if guard.pending.load(Relaxed) {
            // Code runs again while a refused allocation was never satisfied: Lua raised
            // "not enough memory" and someone caught it.
            guard.fire(Abort::Memory);
        }
        let why = guard.fired();
        if why != Abort::None {
            // Stay armed on this thread: whoever catches the error meets it again.
            if ffi::lua_gethookcount(state) != 1 {
                ffi::lua_sethook(state, Some(limit_hook), ffi::LUA_MASKCOUNT, 1);
            }
            let msg = why.message();
            ffi::lua_pushlstring(state, msg.as_ptr().cast(), msg.len());
            ffi::lua_error(state);
        }
        guard.rest(state);
    }
}

/// Called by the VM (the patched `lvm.c`, see `build.rs`) when a thread's countdown runs
/// out, with the instructions it counted since the last tick: charges them to the run's
/// budget, raises a limit that fired (the instruction limit, a timeout the watchdog
/// recorded, memory, an interrupt) and returns the next interval. A thread of a state
/// without a guard (one a host made itself) is left alone. It must not hold values with
/// destructors: `lua_error` leaves it by `longjmp`.
///
/// # Safety
/// Only from the VM, with `state` the thread it runs and its stack in order for an error
/// (the VM saves its state first).
#[no_mangle]
pub unsafe extern "C-unwind" fn pylua_vm_tick(state: *mut ffi::lua_State, used: c_int) -> c_int {
    // SAFETY: `state` is the running thread (the caller's contract). Pushing the message is
    // checked first; without the slot the armed hook raises at the next instruction.
    unsafe {
        let Some(guard) = guard_of(state) else {
            return IDLE_INTERVAL;
        };
        if guard.instruction_limit.is_some() && guard.fired() == Abort::None {
            let left = guard.budget.load(Relaxed) - i64::from(used.max(0));
            guard.budget.store(left, Relaxed);
            if left <= 0 {
                guard.fire(Abort::Instructions);
            }
        }
        if guard.pending.load(Relaxed) {
            guard.fire(Abort::Memory);
        }
        let why = guard.fired();
        if why != Abort::None {
            // The main thread's hook keeps raising it after this (`fire`, `arm_main`).
            guard.arm_main();
            if ffi::lua_checkstack(state, 1) != 0 {
                let msg = why.message();
                ffi::lua_pushlstring(state, msg.as_ptr().cast(), msg.len());
                ffi::lua_error(state);
            }
            return 1;
        }
        guard.interval()
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

/// The real-time signal an interrupt sends to stop a run, installed on first use; `None`
/// when no real-time signal is free.
///
/// It is the highest-numbered real-time signal whose disposition is still the default
/// (nobody else handles it), scanning down from `SIGRTMAX`, installed with `SA_RESTART`
/// (interrupted system calls go on) and `SA_SIGINFO`. A host must not block it in threads
/// that run VMs, nor take it over afterwards: an interrupt then reaches a VM under limits
/// only at its next tick, and one without limits not at all.
pub(crate) fn stop_signal() -> Option<c_int> {
    *STOP_SIGNAL.get_or_init(install_stop_handler)
}

static STOP_SIGNAL: OnceLock<Option<c_int>> = OnceLock::new();

/// [`stop_signal`] if it is installed, without installing it: a plain atomic load, so
/// async-signal-safe.
pub(crate) fn installed_stop_signal() -> Option<c_int> {
    STOP_SIGNAL.get().copied().flatten()
}

/// Gives the stop signal's handler back the run `outer` (which [`super::interrupt::begin`]
/// replaced, and its drop restored), arming its hook when it was stopped while the nested
/// run ran (the signal then found the nested run and did nothing for the outer one).
/// `interrupted`: the outer run has an interrupt waiting.
///
/// # Safety
/// `outer` must be the guard of a run in progress on this thread, which holds it.
pub(crate) unsafe fn leave(outer: *const Guard, interrupted: bool) {
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
    let guard = super::interrupt::running_guard();
    if guard.is_null() {
        return;
    }
    // SAFETY: the thread's running guard is that of a run in progress on this thread, which
    // holds an `Arc` of it until after the slot is restored (`interrupt::Running::drop`).
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
