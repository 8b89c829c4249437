//! Lending a `Vm` object's VM to one call at a time.
//!
//! Why not a `Mutex`: every call took and gave back the lock, two locked instructions — a
//! twentieth of what a kept function's call costs — and a Python callback that ran code on the
//! VM that called it waited for itself forever. Every call starts and ends holding the GIL,
//! so the GIL can guard who holds the VM: taking a free VM and giving it back are plain reads
//! and writes made under the GIL, and the GIL's own hand-over orders the VM's memory between
//! the threads that hold it in turn. Only a call that finds the VM held by another thread
//! waits (with the GIL released, on a condition variable); one that finds it held by its own
//! thread — a callback from Lua into the VM that is calling it — is refused at once.
//!
//! A thread is known by its Python thread state, which stays the same for the whole life of
//! a thread in one interpreter (a callback on the thread that runs Lua gets the state the
//! call saved when it released the GIL).

use pylua::runtime::AnyVm;
use pyo3::ffi;
use pyo3::prelude::*;
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering::Relaxed};
use std::sync::{Condvar, Mutex};

/// A VM (or none, once closed) and who holds it.
pub(crate) struct Slot {
    vm: UnsafeCell<Option<AnyVm>>,
    /// The thread state of the call holding the VM; null when free. Read and written only
    /// with the GIL held (atomics only so that the type is `Sync`: plain loads and stores).
    holder: AtomicPtr<ffi::PyThreadState>,
    /// Tickets of the calls that waited for the VM: `queued` handed out, `served` taken
    /// their turn. The VM goes to waiting calls in turn; a new call takes it at once only
    /// when none waits (else a thread calling in a loop, which gets the GIL back first,
    /// would keep it from the others for ever). As `holder`: with the GIL held.
    queued: AtomicU64,
    served: AtomicU64,
    /// How many times the VM was given back while calls waited: a waiter sleeps until it
    /// changes.
    turns: Mutex<u64>,
    given_back: Condvar,
}

// SAFETY: the VM inside is only reached through a `Lent`, which exists for one holder at a
// time (`holder`, guarded by the GIL); the other fields are atomics and a mutex.
unsafe impl Sync for Slot {}

/// The VM is held by the very thread asking for it: a callback running code on the VM that
/// called it.
pub(crate) struct HeldHere;

impl Slot {
    pub(crate) fn new(vm: AnyVm) -> Slot {
        Slot {
            vm: UnsafeCell::new(Some(vm)),
            holder: AtomicPtr::new(std::ptr::null_mut()),
            queued: AtomicU64::new(0),
            served: AtomicU64::new(0),
            turns: Mutex::new(0),
            given_back: Condvar::new(),
        }
    }

    /// Takes the VM for this thread, waiting with the GIL released while another thread
    /// holds it (waiting calls take their turns in order).
    #[inline]
    pub(crate) fn take<'py>(&self, py: Python<'py>) -> Result<Lent<'_, 'py>, HeldHere> {
        // SAFETY: the GIL is held (`py`), so this thread has a current thread state.
        let me = unsafe { ffi::PyThreadState_Get() };
        match self.try_take(py, me) {
            Some(lent) => Ok(lent),
            None => self.wait_for(py, me),
        }
    }

    /// [`Slot::take`] when the VM is held, or others wait for it: waits for this call's
    /// turn.
    #[cold]
    fn wait_for<'py>(
        &self,
        py: Python<'py>,
        me: *mut ffi::PyThreadState,
    ) -> Result<Lent<'_, 'py>, HeldHere> {
        if self.holder.load(Relaxed) == me {
            return Err(HeldHere);
        }
        let ticket = self.queued.load(Relaxed);
        self.queued.store(ticket + 1, Relaxed);
        loop {
            if self.holder.load(Relaxed).is_null() && self.served.load(Relaxed) == ticket {
                self.served.store(ticket + 1, Relaxed);
                self.holder.store(me, Relaxed);
                return Ok(Lent { slot: self, py });
            }
            // Read with the GIL held, so no give-back (which needs the GIL) comes between
            // the check above and this read: a later one changes `turns`.
            let seen = *lock(&self.turns);
            py.allow_threads(|| {
                let mut turns = lock(&self.turns);
                while *turns == seen {
                    turns = self
                        .given_back
                        .wait(turns)
                        .unwrap_or_else(|e| e.into_inner());
                }
            });
        }
    }

    /// Takes the VM if no call holds it now and none waits for it.
    #[inline]
    pub(crate) fn try_take<'py>(
        &self,
        py: Python<'py>,
        me: *mut ffi::PyThreadState,
    ) -> Option<Lent<'_, 'py>> {
        if !self.holder.load(Relaxed).is_null()
            || self.queued.load(Relaxed) != self.served.load(Relaxed)
        {
            return None;
        }
        self.holder.store(me, Relaxed);
        Some(Lent { slot: self, py })
    }

    /// [`Slot::try_take`] for the current thread.
    pub(crate) fn try_take_here<'py>(&self, py: Python<'py>) -> Option<Lent<'_, 'py>> {
        // SAFETY: the GIL is held (`py`), so this thread has a current thread state.
        self.try_take(py, unsafe { ffi::PyThreadState_Get() })
    }
}

/// The VM, held by one call; given back when dropped (with the GIL held: a `Lent` cannot
/// enter `allow_threads`, only the `&mut` it lends can).
pub(crate) struct Lent<'a, 'py> {
    slot: &'a Slot,
    /// Proof that the GIL is held where this is made and dropped.
    #[allow(dead_code)]
    py: Python<'py>,
}

impl Lent<'_, '_> {
    pub(crate) fn vm(&mut self) -> &mut Option<AnyVm> {
        // SAFETY: this `Lent` is the one holder (`Slot::take`), and `&mut self` makes the
        // borrow unique for as long as it lasts.
        unsafe { &mut *self.slot.vm.get() }
    }
}

impl Drop for Lent<'_, '_> {
    #[inline]
    fn drop(&mut self) {
        let slot = self.slot;
        slot.holder.store(std::ptr::null_mut(), Relaxed);
        if slot.queued.load(Relaxed) != slot.served.load(Relaxed) {
            slot.wake_the_waiting();
        }
    }
}

impl Slot {
    #[cold]
    fn wake_the_waiting(&self) {
        *lock(&self.turns) += 1;
        self.given_back.notify_all();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves nothing half-done that matters here.
    m.lock().unwrap_or_else(|p| p.into_inner())
}
