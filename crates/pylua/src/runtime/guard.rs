//! How limits are enforced inside one Lua state: an allocator that counts bytes, a count hook
//! that stops a script, and one shared watchdog thread that arms that hook when a deadline
//! passes.
//!
//! Why this shape:
//! * A count hook makes Lua 5.4 trace every instruction (about 2× slower) whatever its
//!   interval, so the main thread only carries one when an instruction limit is set. For a
//!   timeout the watchdog installs the hook at the deadline (`lua_sethook` may be called
//!   asynchronously), which costs nothing until then.
//! * A hook is per Lua thread, and a watchdog cannot know which coroutine is running, so when
//!   any limit is set each coroutine gets a count hook when it is created (the sandbox wraps
//!   `coroutine.create`/`wrap`); it polls the abort flag every [`INTERVAL`] instructions.
//! * Once a limit fires it stays fired until the run returns to the host: the hook re-arms
//!   itself to fire on every instruction, so `pcall`, `xpcall` handlers and coroutines that
//!   catch the error meet it again at their next instruction and the error unwinds to the top.
//!   The host reads the reason from the flag, never from the (catchable) message.

use super::arena::Arena;
use mlua::ffi;
use std::collections::BTreeMap;
use std::ffi::{c_int, c_void};
use std::sync::atomic::{
    AtomicBool, AtomicI64, AtomicPtr, AtomicU8, AtomicUsize, Ordering::Relaxed,
};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Instant;

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
}

impl Abort {
    fn from_u8(v: u8) -> Abort {
        match v {
            1 => Abort::Timeout,
            2 => Abort::Instructions,
            3 => Abort::Memory,
            _ => Abort::None,
        }
    }
    fn message(self) -> &'static str {
        match self {
            Abort::Timeout => "time limit exceeded",
            Abort::Instructions => "instruction limit exceeded",
            Abort::Memory => "not enough memory (memory limit exceeded)",
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
    main: AtomicPtr<ffi::lua_State>,
    /// Where the state's memory comes from; used by the allocator alone.
    arena: Arena,
}

// SAFETY: the watchdog thread only reads and writes the atomics (through `fire`); the arena
// is only used by the allocator, which runs on the one thread using the VM at a time.
unsafe impl Sync for Guard {}
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
        let main = ffi::lua_newstate(counting_alloc, Arc::as_ptr(self) as *mut c_void);
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
        if let Some(limit) = self.instruction_limit {
            self.budget
                .store(limit.min(i64::MAX as u64) as i64, Relaxed);
        }
        unsafe { self.rest(self.main.load(Relaxed)) };
    }

    /// The hook a thread carries while nothing has fired: the main thread counts
    /// instructions only under an instruction limit; coroutines always poll.
    fn resting_count(&self, state: *mut ffi::lua_State) -> Option<c_int> {
        match self.instruction_limit {
            Some(limit) => Some(limit.clamp(1, INTERVAL as u64) as c_int),
            None if state == self.main.load(Relaxed) => None,
            None => Some(INTERVAL),
        }
    }

    /// Puts `state`'s hook back to its resting configuration.
    unsafe fn rest(&self, state: *mut ffi::lua_State) {
        match self.resting_count(state) {
            Some(count) => {
                if ffi::lua_gethook(state).is_none() || ffi::lua_gethookcount(state) != count {
                    ffi::lua_sethook(state, Some(limit_hook), ffi::LUA_MASKCOUNT, count);
                }
            }
            None => {
                if ffi::lua_gethook(state).is_some() {
                    ffi::lua_sethook(state, None, 0, 0);
                    // The watchdog may have armed it in between: never lose a fired limit.
                    if self.fired() != Abort::None {
                        self.arm_main();
                    }
                }
            }
        }
    }

    /// Makes the main thread's hook run at its next instruction.
    fn arm_main(&self) {
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
        Abort::from_u8(self.abort.load(Relaxed))
    }

    /// Bytes the state holds now.
    pub(crate) fn used_memory(&self) -> usize {
        self.used.load(Relaxed)
    }

    /// Stops the running script: records why and makes the main thread's hook fire at the
    /// next instruction. Safe to call from another thread while Lua runs.
    fn fire(&self, why: Abort) {
        let _ = self
            .abort
            .compare_exchange(Abort::None as u8, why as u8, Relaxed, Relaxed);
        self.arm_main();
    }
}

/// Gives a new coroutine the polling hook (see the module docs). A Lua C function:
/// `arm(thread)`, installed by the sandbox around `coroutine.create` and `coroutine.wrap`.
pub(crate) unsafe extern "C-unwind" fn arm_coroutine(state: *mut ffi::lua_State) -> c_int {
    let co = ffi::lua_tothread(state, 1);
    if !co.is_null() {
        ffi::lua_sethook(co, Some(limit_hook), ffi::LUA_MASKCOUNT, INTERVAL);
    }
    0
}

/// `aborted()`: true while a fired limit is unwinding the run. A Lua C function the sandbox
/// uses to keep `xpcall` message handlers from running then: Lua calls a handler for an error
/// raised in a hook while hooks are still disabled, so a looping handler could never be
/// stopped.
pub(crate) unsafe extern "C-unwind" fn aborted(state: *mut ffi::lua_State) -> c_int {
    let fired = guard_of(state).is_some_and(|g| g.fired() != Abort::None);
    ffi::lua_pushboolean(state, fired as c_int);
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
#[no_mangle]
pub unsafe extern "C-unwind" fn pylua_pattern_tick(state: *mut ffi::lua_State) {
    thread_local! {
        static STEPS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    }
    let steps = STEPS.with(|s| {
        let n = s.get().wrapping_add(1);
        s.set(n);
        n
    });
    if !steps.is_multiple_of(1024) {
        return;
    }
    let Some(guard) = guard_of(state) else { return };
    let why = guard.fired();
    if why != Abort::None {
        let msg = why.message();
        ffi::lua_pushlstring(state, msg.as_ptr().cast(), msg.len());
        ffi::lua_error(state);
    }
}

unsafe fn guard_of(state: *mut ffi::lua_State) -> Option<&'static Guard> {
    let mut ud = std::ptr::null_mut();
    let alloc = ffi::lua_getallocf(state, &mut ud);
    if std::ptr::fn_addr_eq(alloc, counting_alloc as ffi::lua_Alloc) && !ud.is_null() {
        Some(&*(ud as *const Guard))
    } else {
        None
    }
}

/// The count hook shared by every thread of a guarded state. It must not hold values with
/// destructors: `lua_error` leaves it by `longjmp`.
unsafe extern "C-unwind" fn limit_hook(state: *mut ffi::lua_State, _ar: *mut ffi::lua_Debug) {
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

/// Counts every byte against the limit; the memory itself comes from the guard's arena
/// (`arena.rs`). Shrinking never fails, as Lua requires.
unsafe extern "C-unwind" fn counting_alloc(
    ud: *mut c_void,
    ptr: *mut c_void,
    osize: usize,
    nsize: usize,
) -> *mut c_void {
    let guard = &*(ud as *const Guard);
    let old = if ptr.is_null() { 0 } else { osize };
    let used = guard.used.load(Relaxed);
    if nsize > old {
        let limit = guard.memory_limit.load(Relaxed);
        if limit != 0 && used.saturating_add(nsize - old) > limit {
            let request = (ptr as usize, nsize);
            let last = (guard.refused.0.load(Relaxed), guard.refused.1.load(Relaxed));
            if guard.pending.load(Relaxed) && last == request {
                guard.fire(Abort::Memory);
            } else {
                guard.refused.0.store(request.0, Relaxed);
                guard.refused.1.store(request.1, Relaxed);
                guard.pending.store(true, Relaxed);
                guard.arm_main();
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
    let new = guard.arena.realloc(ptr, osize, nsize);
    if nsize == 0 || !new.is_null() {
        guard.used.store(used - old + nsize, Relaxed);
    }
    new
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
    pending: BTreeMap<(Instant, u64), Arc<Guard>>,
    /// What the watchdog sleeps until: `None` while it is awake, `Some(None)` while it waits
    /// for any timer. A new deadline wakes it only when it is earlier than that, so a host
    /// running many short snippets under one timeout wakes it about once per timeout, not
    /// once per snippet.
    asleep_until: Option<Option<Instant>>,
}

/// A registered deadline; dropping it disarms the timer.
pub(crate) struct Deadline {
    key: (Instant, u64),
}

impl Drop for Deadline {
    fn drop(&mut self) {
        // Under the lock, so once this returns the watchdog cannot fire for this run.
        let dog = watchdog();
        let mut timers = dog.timers.lock().unwrap_or_else(|e| e.into_inner());
        timers.pending.remove(&self.key);
    }
}

/// Arms a timer that stops `guard`'s run at `at`.
pub(crate) fn arm_deadline(guard: &Arc<Guard>, at: Instant) -> Deadline {
    let dog = watchdog();
    let mut timers = dog.timers.lock().unwrap_or_else(|e| e.into_inner());
    timers.next_id += 1;
    let key = (at, timers.next_id);
    let earliest = timers
        .pending
        .keys()
        .next()
        .is_none_or(|first| key < *first);
    timers.pending.insert(key, Arc::clone(guard));
    drop(timers);
    if earliest {
        dog.wake.notify_one();
    }
    Deadline { key }
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
                let (_, guard) = timers.pending.pop_first().expect("first entry exists");
                guard.fire(Abort::Timeout);
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
