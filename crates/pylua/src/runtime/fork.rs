//! What a child of `fork` must redo before it uses the runtime: only the forking thread
//! exists there, so what lived on the parent's other threads (the watchdog) and what a
//! thread cached about itself (its kernel id) is wrong in the child. Each part that keeps
//! such state registers a handler here, once.

use std::sync::Once;

/// Runs `handler` in the child after every `fork`, registered the first time `once` is
/// passed. The handler runs on the child's one thread before `fork` returns there, so it may
/// only do what a signal handler may (atomics, thread-locals with constant initialisers).
///
/// # Panics
/// When the system cannot register it (out of memory): a forked child would then break the
/// part's promise quietly (`what` names the part).
pub(crate) fn in_every_child(once: &'static Once, handler: extern "C" fn(), what: &str) {
    once.call_once(|| {
        // SAFETY: `pthread_atfork` only records the function; what it does in the child is
        // the caller's contract above.
        let registered = unsafe { libc::pthread_atfork(None, None, Some(handler)) } == 0;
        assert!(
            registered,
            "cannot register pylua's fork handler for {what}"
        );
    });
}
