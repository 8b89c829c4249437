//! Stopping a run from outside the VM: an [`Interrupter`] asks the run in progress to stop,
//! as Ctrl-C does in the `lua` command, even in a loop that calls nothing (`while true do
//! end`).
//!
//! Why this shape:
//! * The stop must be delivered on the VM's own thread (see `guard.rs`): Lua lets only a
//!   signal handler interrupting that thread install the hook asynchronously. So a run
//!   publishes the kernel id of its thread while it lasts, and [`Interrupter::interrupt`]
//!   sets a flag and sends the stop signal ([`super::guard::stop_signal`]) to that
//!   thread; the handler there sees the flag and arms the hook, exactly as for a timeout.
//!   A process VM's thread is blocked in `poll`, which the same signal wakes with `EINTR`.
//! * The signal goes by `tgkill` to a kernel thread id, not by `pthread_kill` to a
//!   `pthread_t`: a thread that ended in between makes `tgkill` fail with `ESRCH` instead
//!   of touching freed memory, and a thread that reused the id finds no request for its own
//!   run and does nothing. So `interrupt` needs no lock and is async-signal-safe: a host may
//!   call it from its own `SIGINT` handler.
//! * What a run costs when nobody interrupts it: a thread-local write and two plain atomic
//!   stores at its start and end, no locked instruction (the interrupter pays for the
//!   barrier, `barrier.rs`). Nothing polls.
//!
//! A request made while no run is in progress stops the next run at its first instruction;
//! a run that ends clears it.

use super::guard::{self, Guard};
use std::cell::Cell;
use std::ffi::c_int;
use std::marker::PhantomData;
use std::sync::atomic::{
    AtomicBool, AtomicI32,
    Ordering::{Relaxed, Release, SeqCst},
};
use std::sync::Arc;

/// What a VM and its interrupters share: it outlives every state the VM resets to.
#[derive(Debug, Default)]
pub(crate) struct InterruptCell {
    requested: AtomicBool,
    /// The kernel id of the thread running the VM now; 0 between runs.
    thread: AtomicI32,
}

impl InterruptCell {
    pub(crate) fn new() -> Arc<InterruptCell> {
        // The handler must exist before any interrupter can send its signal, and the
        // barrier be settled before any run or interrupter uses it.
        guard::stop_signal();
        super::barrier::init();
        static AT_FORK: std::sync::Once = std::sync::Once::new();
        super::fork::in_every_child(&AT_FORK, forked, "interrupts");
        Arc::default()
    }

    pub(crate) fn requested(&self) -> bool {
        self.requested.load(SeqCst)
    }
}

/// A handle that stops a running script of one VM, from any thread (or a signal handler).
///
/// The run ends with an error of kind [`super::ErrorKind::Interrupted`]; a `pcall` in the
/// script cannot catch it (the stop stays armed until the run returns to the host, as limits
/// do). The VM stays usable. An embedded VM stops at its next Lua instruction of the main
/// coroutine; with any limit set, also inside coroutines and in the middle of a pattern
/// match. Without limits neither is watched (it would cost every run): a loop inside a
/// coroutine runs on until control is back in the main coroutine, and a match finishes. A process VM's
/// interpreter is killed, as on a timeout, and the next call starts a fresh one.
///
/// ```
/// # use pylua::Vm;
/// let mut vm = Vm::new()?;
/// let stop = vm.interrupter();
/// let t = std::thread::spawn(move || {
///     std::thread::sleep(std::time::Duration::from_millis(50));
///     stop.interrupt();
/// });
/// let err = vm.eval("while true do end").unwrap_err();
/// assert_eq!(err.kind, pylua::runtime::ErrorKind::Interrupted);
/// t.join().unwrap();
/// # Ok::<(), pylua::VmError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Interrupter {
    cell: Arc<InterruptCell>,
}

impl Interrupter {
    pub(crate) fn new(cell: &Arc<InterruptCell>) -> Interrupter {
        Interrupter {
            cell: Arc::clone(cell),
        }
    }

    /// Stops the run in progress (or, when none is, the next one). Returns at once; the run
    /// ends shortly after on its own thread.
    ///
    /// Async-signal-safe: atomics and the `getpid` and `tgkill` system calls only (a signal
    /// handler calling it should save and restore `errno` around it).
    pub fn interrupt(&self) {
        self.cell.requested.store(true, SeqCst);
        // The run publishes its thread, then reads `requested` (`begin`); this side writes
        // `requested`, then reads the thread: one of the two sees the other. This side pays
        // for the barrier. (Should the kernel refuse it, a run starting at this very moment
        // may miss the request.)
        let _ = super::barrier::heavy();
        let thread = self.cell.thread.load(SeqCst);
        if thread != 0 {
            if let Some(sig) = guard::installed_stop_signal() {
                // SAFETY: system calls with plain integer arguments; a thread that is gone
                // makes `tgkill` fail (ESRCH), which is fine: its run is over.
                unsafe {
                    libc::syscall(
                        libc::SYS_tgkill,
                        libc::getpid() as libc::c_long,
                        thread as libc::c_long,
                        sig as libc::c_long,
                    );
                }
            }
        }
    }

    /// Whether a request is waiting (the run in progress, or the next, will stop).
    pub fn is_requested(&self) -> bool {
        self.cell.requested()
    }

    /// Withdraws a request that no run has met yet.
    pub fn clear(&self) {
        self.cell.requested.store(false, SeqCst);
    }
}

/// This thread's side of interrupts, in one thread-local (one lookup per run).
struct ThisThread {
    /// The interrupt cell of the innermost run in progress on this thread (null: none).
    /// Read by the stop signal's handler, so plain `Cell`s with constant initialisers,
    /// written before any signal for the run can be sent.
    current: Cell<*const InterruptCell>,
    /// This thread's kernel id, looked up once (0: not yet).
    id: Cell<c_int>,
    /// The guard of the innermost run in progress on this thread (null: none, or a process
    /// VM's run), read by the stop signal's handler ([`running_guard`]).
    guard: Cell<*const Guard>,
}

thread_local! {
    static THIS_THREAD: ThisThread = const {
        ThisThread {
            current: Cell::new(std::ptr::null()),
            id: Cell::new(0),
            guard: Cell::new(std::ptr::null()),
        }
    };
}

/// Runs in the child after a `fork`, on its one thread: the kernel id this thread cached is
/// its parent thread's, which an interrupter's signal would miss. Look it up again.
extern "C" fn forked() {
    THIS_THREAD.with(|t| t.id.set(0));
}

/// Whether the innermost run on this thread has been asked to stop. For the stop signal's
/// handler: it reads a thread-local the run wrote before publishing its thread, and an
/// atomic, nothing else.
/// The guard of the innermost run in progress on this thread (null: none, or a process VM's
/// run). For the stop signal's handler: a plain thread-local read, with no destructor and a
/// constant initialiser, so it allocates and registers nothing.
pub(crate) fn running_guard() -> *const Guard {
    THIS_THREAD.with(|t| t.guard.get())
}

pub(crate) fn requested_here() -> bool {
    let cell = THIS_THREAD.with(|t| t.current.get());
    // SAFETY: `current` points at the cell of a run in progress on this thread, whose VM
    // holds an `Arc` of it until after `Running::drop` restores the slot.
    !cell.is_null() && unsafe { &*cell }.requested()
}

/// One run in progress on this thread, as interrupters see it; dropping it ends the run's
/// visibility and clears its request.
pub(crate) struct Running<'a> {
    cell: &'a InterruptCell,
    outer_cell: *const InterruptCell,
    outer_thread: c_int,
    /// The guard of the run this one is nested in. (This run's own guard, which the stop
    /// signal's handler may read until the drop, is borrowed for as long.)
    outer_guard: *const Guard,
    /// This thread's `THIS_THREAD` (its address is fixed for the thread's life, and a
    /// `Running` never leaves its thread: it holds raw pointers, so it is not `Send`): the
    /// drop writes it back without a second thread-local lookup, which costs a call in a
    /// shared library.
    this_thread: *const ThisThread,
    _guard: PhantomData<&'a Guard>,
}

/// Marks the start of a run of `guard`'s state (or of a process VM, without a guard) on the
/// calling thread. A request already waiting stops it at its first instruction.
#[inline]
pub(crate) fn begin<'a>(cell: &'a InterruptCell, guard: Option<&'a Arc<Guard>>) -> Running<'a> {
    // A process VM's run enters no guard, so a signal meant for it arms no embedded state
    // this run is nested in.
    let guard_ptr = guard.map_or(std::ptr::null(), Arc::as_ptr);
    let (outer_cell, id, outer_guard, this_thread) = THIS_THREAD.with(|t| {
        if t.id.get() == 0 {
            // SAFETY: `gettid` has no preconditions.
            t.id.set(unsafe { libc::syscall(libc::SYS_gettid) } as c_int);
        }
        (
            t.current.replace(cell as *const InterruptCell),
            t.id.get(),
            t.guard.replace(guard_ptr),
            t as *const ThisThread,
        )
    });
    // Only runs write `thread`, one at a time (a VM is used by one thread at a time), so a
    // plain read and store; then the light side of the barrier `interrupt` pays for.
    let outer_thread = cell.thread.load(Relaxed);
    cell.thread.store(id, Relaxed);
    super::barrier::light();
    if cell.requested.load(Relaxed) {
        if let Some(g) = guard {
            // SAFETY: on the thread about to run the VM, whose state is alive.
            unsafe { g.stop_here(guard::Abort::Interrupted) };
        }
    }
    Running {
        cell,
        outer_cell,
        outer_thread,
        outer_guard,
        this_thread,
        _guard: PhantomData,
    }
}

impl Drop for Running<'_> {
    #[inline]
    fn drop(&mut self) {
        // A nested run of the same VM on this thread gives the thread back to the outer one.
        // No fence needed: an interrupter that still reads this run's thread signals a
        // thread whose handler then finds no request for its own run, and does nothing.
        self.cell.thread.store(self.outer_thread, Release);
        if self.outer_thread == 0 {
            self.cell.requested.store(false, Relaxed);
        }
        // SAFETY: `this_thread` is this thread's own `THIS_THREAD` (see the field), alive
        // as long as the thread; its cells are only used from this thread.
        let t = unsafe { &*self.this_thread };
        t.current.set(self.outer_cell);
        t.guard.set(self.outer_guard);
        if self.outer_guard.is_null() {
            return;
        }
        // SAFETY: `outer_cell` and `outer_guard` are what `begin` replaced: null, or the cell
        // and guard of a run still in progress on this thread, which holds them.
        unsafe {
            let outer_requested = !self.outer_cell.is_null() && (*self.outer_cell).requested();
            guard::leave(self.outer_guard, outer_requested);
        }
    }
}
