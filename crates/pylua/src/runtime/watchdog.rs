//! The watchdog: one thread for all VMs of a process, which stops a run that outlives its
//! timeout, sleeping until the earliest deadline it knows and idle while no timed run is in
//! progress.
//!
//! Why this shape (see also `guard.rs`):
//! * A run publishes itself by writing its guard's word (a run count and an in-run bit) and
//!   reads how long the watchdog sleeps; it wakes the watchdog when that is longer than its
//!   own look step (an eighth of its timeout; an idle watchdog sleeps for ever). The
//!   watchdog, before a sleep longer than the step of a guard it follows, publishes the
//!   sleep and then looks at the words once more. The barrier between each side's write and
//!   read is paid by the watchdog (`barrier.rs`), so a run pays two plain stores and a load.
//!   (A run once read only whether the watchdog was idle: while a long-timeout run kept it
//!   sleeping an eighth of a minute, a short-timeout run started meanwhile was seen, and
//!   stopped, seconds late.)
//! * A run is stopped by a compare-and-swap on the word the watchdog saw a whole timeout
//!   earlier: a run that ended in between changed the word and is never stopped.
//! * A forked child has no watchdog thread (threads do not survive `fork`): a fork handler
//!   forgets the parent's, and the child's first timed run starts its own. Without that, a
//!   child's timeouts would never fire (`multiprocessing` forks by default on Linux).

use super::guard::{reason, Abort, Guard, IN_RUN, NEXT_RUN};
use std::sync::atomic::{
    AtomicPtr, AtomicU64,
    Ordering::{AcqRel, Acquire, Relaxed, Release, SeqCst},
};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

struct Watchdog {
    /// Every guard that ran with a timeout and may still be alive.
    guards: Mutex<Vec<Watched>>,
    wake: Condvar,
    /// How long the watchdog sleeps, in nanoseconds (`u64::MAX`: until a run wakes it; 0
    /// while it is awake). A run that starts reads it, after publishing itself, and wakes the
    /// watchdog when it is longer than the run's look step.
    sleep: AtomicU64,
    /// Which watchdog of the process this is (from 1): a guard registered with another one
    /// (a forked parent's) registers again.
    generation: u64,
}

/// How often the watchdog looks at a guard with this timeout while its runs are in progress:
/// an eighth of it (at least 50 µs), so a run is stopped at most that long after its timeout.
pub(super) fn look_step(timeout: Duration) -> Duration {
    (timeout / 8).max(Duration::from_micros(50))
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A guard as the watchdog follows it.
struct Watched {
    guard: Weak<Guard>,
    /// The guard's word when its run in progress was first seen (0: none seen).
    seen: u64,
    /// When that was.
    since: Instant,
    /// The guard's run count when the watchdog last looked: a VM that started a run since
    /// then is likely to start another soon, so the watchdog keeps looking rather than going
    /// idle (which would make the next run wake it, a system call, run after run).
    runs: u64,
}

/// A timed run in progress; dropping it ends the run for the watchdog.
pub(crate) struct TimedRun<'a> {
    guard: &'a Guard,
}

impl Drop for TimedRun<'_> {
    fn drop(&mut self) {
        // From now on the word differs from the one the watchdog saw: it stops nothing. A
        // plain store: a timeout the watchdog records in between, or an interrupt, comes
        // after the run's end and is rightly dropped.
        let word = self.guard.abort.load(Relaxed);
        self.guard.abort.store(word & !IN_RUN, Release);
    }
}

impl Guard {
    /// Marks the start of a run with a timeout, which the calling thread is about to begin.
    /// Keep the returned value until the run ends.
    #[inline]
    pub(crate) fn start_timer(self: &Arc<Self>) -> TimedRun<'_> {
        let dog = watchdog();
        if self.watching.load(Relaxed) != dog.generation {
            self.watching.store(dog.generation, Relaxed);
            dog.watch(self);
        }
        // A new run, published before the watchdog's sleep is read, as the watchdog
        // publishes a long sleep before it looks at the guards again: one of the two sees the
        // other (the watchdog pays for the barrier, see `barrier.rs`). A plain store: between runs
        // only this thread writes the word (the watchdog writes it only during a run), and the
        // run's own interrupt handling starts after this (`Vm::run`), so no signal handler
        // on this thread records into it meanwhile.
        let word = self.abort.load(Relaxed);
        self.abort
            .store(word.wrapping_add(NEXT_RUN) | IN_RUN, Relaxed);
        super::barrier::light();
        if dog.sleep.load(Relaxed) > self.look_step_nanos {
            dog.wake_up();
        }
        TimedRun { guard: self }
    }
}

impl Watchdog {
    #[cold]
    fn wake_up(&self) {
        // Taking the lock waits until the watchdog sleeps (it holds the lock until then).
        let _guards = self.guards.lock().unwrap_or_else(|e| e.into_inner());
        self.wake.notify_one();
    }

    #[cold]
    fn watch(&self, guard: &Arc<Guard>) {
        let mut guards = self.guards.lock().unwrap_or_else(|e| e.into_inner());
        if guards.len().is_power_of_two() {
            guards.retain(|g| g.guard.strong_count() > 0);
        }
        guards.push(Watched {
            guard: Arc::downgrade(guard),
            seen: 0,
            since: Instant::now(),
            runs: 0,
        });
        // No wake-up here: the run, once published, wakes a watchdog that sleeps longer
        // than its step (`start_timer`); the watchdog's sleep was written before it let go
        // of the lock this took.
    }
}

/// This process's watchdog; null until the first timed run, and again in a child the process
/// forks (the thread does not survive the fork: see [`forked`]).
static DOG: AtomicPtr<Watchdog> = AtomicPtr::new(std::ptr::null_mut());

/// How many watchdogs this process (with its forked ancestors) has started.
static GENERATIONS: AtomicU64 = AtomicU64::new(0);

/// The watchdog of this process, started on first use.
#[inline]
fn watchdog() -> &'static Watchdog {
    let dog = DOG.load(Acquire);
    if !dog.is_null() {
        // SAFETY: a non-null `DOG` is a leaked `Box`, never freed.
        return unsafe { &*dog };
    }
    start_watchdog()
}

#[cold]
fn start_watchdog() -> &'static Watchdog {
    super::barrier::init();
    static AT_FORK: std::sync::Once = std::sync::Once::new();
    super::fork::in_every_child(&AT_FORK, forked, "the watchdog");
    let dog = Box::into_raw(Box::new(Watchdog {
        guards: Mutex::new(Vec::new()),
        wake: Condvar::new(),
        sleep: AtomicU64::new(0),
        generation: GENERATIONS.fetch_add(1, Relaxed) + 1,
    }));
    match DOG.compare_exchange(std::ptr::null_mut(), dog, AcqRel, Acquire) {
        Ok(_) => {
            // SAFETY: just leaked into `DOG`, never freed.
            let dog: &'static Watchdog = unsafe { &*dog };
            std::thread::Builder::new()
                .name("pylua-watchdog".into())
                .spawn(move || watch(dog))
                .expect("cannot start the pylua watchdog thread");
            dog
        }
        Err(other) => {
            // Another thread started one first.
            // SAFETY: `dog` was never shared; `other` is a leaked `Box`, never freed.
            unsafe {
                drop(Box::from_raw(dog));
                &*other
            }
        }
    }
}

/// Runs in the child after a `fork`: only the forking thread exists there, so the parent's
/// watchdog thread is gone and its lock may be held forever. Forget it (leaking it): the
/// child's first timed run starts its own, and each guard registers again with it.
extern "C" fn forked() {
    DOG.store(std::ptr::null_mut(), Relaxed);
}

/// Stops the runs that have been in progress for their whole timeout, and returns when to
/// look again (`None`: no run is in progress and none started since the last look). A run
/// is stopped between its timeout and an eighth of it later: first seen at most that long
/// after it started (the watchdog looks that often while runs are in progress or starting),
/// stopped a whole timeout after it was seen.
fn sweep(guards: &mut Vec<Watched>, now: Instant) -> Option<Instant> {
    let mut next: Option<Instant> = None;
    guards.retain_mut(|watched| {
        let Some(guard) = watched.guard.upgrade() else {
            return false;
        };
        let word = guard.abort.load(SeqCst);
        let timeout = guard.timeout.unwrap_or(Duration::MAX);
        let step = look_step(timeout);
        let runs = word / NEXT_RUN;
        let busy = runs != watched.runs;
        watched.runs = runs;
        if word & IN_RUN == 0 || reason(word) != Abort::None {
            watched.seen = 0;
            if busy {
                let at = now + step;
                next = Some(next.map_or(at, |n| n.min(at)));
            }
            return true;
        }
        if word != watched.seen {
            watched.seen = word;
            watched.since = now;
        } else if now.saturating_duration_since(watched.since) >= timeout {
            // Only if the word is still the one seen: the same run, nothing recorded yet.
            let _ =
                guard
                    .abort
                    .compare_exchange(word, word | Abort::Timeout as u64, AcqRel, Relaxed);
            watched.seen = 0;
            return true;
        }
        let at = (watched.since + timeout).min(now + step);
        next = Some(next.map_or(at, |n| n.min(at)));
        true
    });
    next
}

/// The shortest look step of the guards followed: a sleep up to that long sees every run
/// in time without any handshake.
fn shortest_step(guards: &[Watched]) -> Duration {
    guards
        .iter()
        .filter_map(|w| w.guard.upgrade())
        .map(|g| look_step(g.timeout.unwrap_or(Duration::MAX)))
        .min()
        .unwrap_or(Duration::MAX)
}

fn watch(dog: &'static Watchdog) {
    let mut guards = dog.guards.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let now = Instant::now();
        let mut next = sweep(&mut guards, now);
        let sleep = |next: Option<Instant>| {
            next.map_or(u64::MAX, |at| nanos(at.saturating_duration_since(now)))
        };
        if sleep(next) > nanos(shortest_step(&guards)) {
            // Longer than some guard's step: a run of it that starts now must either wake
            // the watchdog or be seen by the look below. It published itself before reading
            // the sleep (`start_timer`); the sleep is published before that look. Without
            // the barrier's promise, look again soon instead.
            dog.sleep.store(sleep(next), SeqCst);
            let fenced = super::barrier::heavy();
            if let Some(again) = sweep(&mut guards, Instant::now()) {
                next = Some(next.map_or(again, |n| n.min(again)));
            }
            if !fenced {
                let soon = Instant::now() + Duration::from_millis(5);
                next = Some(next.map_or(soon, |n| n.min(soon)));
            }
        }
        dog.sleep.store(sleep(next), SeqCst);
        guards = match next {
            None => dog.wake.wait(guards).unwrap_or_else(|e| e.into_inner()),
            Some(at) => {
                let wait = at.saturating_duration_since(Instant::now());
                dog.wake
                    .wait_timeout(guards, wait)
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
        };
        dog.sleep.store(0, SeqCst);
    }
}
