//! An asymmetric memory barrier: a free one for the side that runs all the time (a VM
//! starting a run) and an expensive one for the side that runs rarely (the watchdog going
//! to sleep for longer than a run may wait to be seen, an interrupt).
//!
//! Why: a run and the watchdog (or an interrupter) each write one flag and then read the
//! other's (Dekker's pattern); each must see the other's write or have its own seen. That
//! takes a full barrier between the write and the read on both sides — a locked instruction
//! on every run, a third of what the limits cost a short call. Linux's `membarrier` moves
//! the whole cost to the rare side: the kernel makes every running thread of the process
//! execute a full barrier before the call returns, so the frequent side only has to keep the
//! compiler from reordering ([`light`]). Where `membarrier` is missing (old kernels, some
//! sandboxes) both sides use a full fence, as before.
//!
//! A forked child loses the registration; [`heavy`] registers again when the kernel says so.

use std::sync::atomic::{compiler_fence, fence, AtomicBool, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::OnceLock;

/// Whether the process registered for private expedited `membarrier` (set once by [`init`]).
static ASYMMETRIC: AtomicBool = AtomicBool::new(false);

/// Whether the kernel refused [`heavy`]'s call after accepting the registration.
static BROKEN: AtomicBool = AtomicBool::new(false);

/// Registers the process for [`heavy`]'s system call, once. Call it before either side of a
/// pattern can run (the sides read what it decided without synchronising).
pub(crate) fn init() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        if register() {
            ASYMMETRIC.store(true, SeqCst);
        }
    });
}

/// Whether the kernel accepted the registration.
fn register() -> bool {
    // SAFETY: a system call with integer arguments; it changes only the process's
    // registration.
    let query = unsafe { libc::syscall(libc::SYS_membarrier, libc::MEMBARRIER_CMD_QUERY, 0, 0) };
    let wanted = (libc::MEMBARRIER_CMD_PRIVATE_EXPEDITED
        | libc::MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) as libc::c_long;
    if query < 0 || query & wanted != wanted {
        return false;
    }
    // SAFETY: as above.
    unsafe {
        libc::syscall(
            libc::SYS_membarrier,
            libc::MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
            0,
            0,
        ) == 0
    }
}

/// The frequent side's barrier, between its write and its read.
#[inline(always)]
pub(crate) fn light() {
    if ASYMMETRIC.load(Relaxed) {
        compiler_fence(SeqCst);
    } else {
        fence(SeqCst);
    }
}

/// The rare side's barrier, between its write and its read: every thread of the process that
/// is running when it is called has passed a full barrier when it returns. Async-signal-safe
/// (one or three system calls, or a fence).
///
/// Returns false when it cannot keep that promise: the kernel accepted the registration and
/// then refused the call. The frequent side goes back to full fences, but a thread may still
/// read the old mode for a while, so from then on this always returns false: callers must not
/// rely on the other side having seen their write (the watchdog never sleeps for good).
#[must_use]
pub(crate) fn heavy() -> bool {
    fence(SeqCst);
    if BROKEN.load(Relaxed) {
        return false;
    }
    if !ASYMMETRIC.load(Relaxed) {
        return true;
    }
    let expedited = || {
        // SAFETY: a system call with integer arguments; it only orders memory.
        unsafe {
            libc::syscall(
                libc::SYS_membarrier,
                libc::MEMBARRIER_CMD_PRIVATE_EXPEDITED,
                0,
                0,
            ) == 0
        }
    };
    // A forked child starts unregistered (EPERM): register it and try again.
    if expedited() || (register() && expedited()) {
        return true;
    }
    ASYMMETRIC.store(false, SeqCst);
    BROKEN.store(true, SeqCst);
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
    use std::sync::Arc;

    /// Dekker's pattern, many times over: the two sides never both miss the other's write.
    #[test]
    fn one_side_always_sees_the_other() {
        init();
        for _ in 0..2_000 {
            let flags = Arc::new((AtomicU32::new(0), AtomicU32::new(0)));
            let other = Arc::clone(&flags);
            let rare = std::thread::spawn(move || {
                other.1.store(1, Relaxed);
                assert!(heavy());
                other.0.load(Relaxed)
            });
            flags.0.store(1, Relaxed);
            light();
            let frequent_saw = flags.1.load(Relaxed);
            let rare_saw = rare.join().unwrap();
            assert!(
                frequent_saw == 1 || rare_saw == 1,
                "both sides missed each other"
            );
        }
    }
}
