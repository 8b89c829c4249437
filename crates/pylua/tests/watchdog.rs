//! The watchdog under stress: thousands of runs with deadlines of a few milliseconds, on
//! several threads at once, each thread with its own VMs, running code that keeps the VM
//! busy in every way it can be (coroutines, deep recursion, string building, the collector,
//! the pattern matcher). The watchdog records the timeout and the VM stops itself at its
//! next check; every run must end normally or with the timeout error, and none may crash or
//! run on.
//!
//! Plus: a thread that blocks every signal, a timed run nested inside another's output
//! callback, runs that start right after one that timed out (a timeout belongs to its own
//! run), and a forked child (the parent's watchdog thread is not there, its thread id
//! differs).

use pylua::runtime::{ErrorKind, Limits, Output, Sandbox, Vm};
use serde_json::json;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Scripts that run until stopped, or end soon; (what, code, ends by itself).
const SCRIPTS: &[(&str, &str)] = &[
    (
        "coroutines yielding strings",
        "local co = coroutine.wrap(function() while true do coroutine.yield(string.rep('x', 10)) end end)
         local s = '' while true do s = s .. co() if #s > 10000 then s = '' end end",
    ),
    (
        "deep recursion, over and over",
        "local function f(n) if n == 0 then return 0 end return 1 + f(n - 1) end
         local total = 0 while true do total = total + f(150) end",
    ),
    (
        "string building and the collector",
        "local t = {} local i = 0
         while true do i = i + 1 t[#t + 1] = tostring(i) .. ('y'):rep(i % 50)
           if #t > 1000 then t = {} collectgarbage('step') collectgarbage('count') end end",
    ),
    (
        "a full collection in a loop",
        "local keep = {} for i = 1, 2000 do keep[i] = { i } end while true do collectgarbage() end",
    ),
    (
        "pcall-wrapped work",
        "while true do pcall(function() local x = {} for i = 1, 100 do x[i] = i .. '' end error(x) end) end",
    ),
    (
        "recursion inside nested coroutines",
        "local function f(n) if n == 0 then coroutine.yield(n) return 0 end return 1 + f(n - 1) end
         while true do local co = coroutine.create(function() while true do f(100) end end)
           for i = 1, 10 do coroutine.resume(co) end end",
    ),
    (
        "a pathological pattern",
        "return string.find(string.rep('a', 30000), '.-.-.-.-.-b')",
    ),
    (
        "a short sum",
        "local s = 0 for i = 1, 2000 do s = s + i end return s",
    ),
    ("an empty run", "return 1 + 1"),
];

/// A run may overrun its deadline by this much before the test calls it a failure: far
/// above any stop on a loaded machine, far below a hang.
const OVERRUN: Duration = Duration::from_secs(2);

#[test]
fn thousands_of_short_deadlines_on_many_threads() {
    const THREADS: u64 = 4;
    const RUNS: u64 = 600;
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            std::thread::spawn(move || {
                let (mut ended, mut stopped) = (0u32, 0u32);
                let mut vms: Vec<(Vm, Duration)> = (1..=5u64)
                    .map(|ms| {
                        let timeout = Duration::from_millis(ms);
                        let mut limits = Limits::new().timeout(timeout);
                        if (t + ms) % 2 == 0 {
                            limits = limits.memory(64 << 20);
                        }
                        let vm = Vm::builder()
                            .sandbox(Sandbox::None)
                            .limits(limits)
                            .build()
                            .unwrap();
                        (vm, timeout)
                    })
                    .collect();
                for run in 0..RUNS {
                    let (vm, timeout) = &mut vms[((run * 7 + t) % 5) as usize];
                    let (what, code) = SCRIPTS[((run + t * 3) as usize) % SCRIPTS.len()];
                    let start = Instant::now();
                    let result = vm.eval(code);
                    let took = start.elapsed();
                    assert!(
                        took < *timeout + OVERRUN,
                        "thread {t} run {run} ({what}) took {took:?}"
                    );
                    match result {
                        Ok(_) => ended += 1,
                        Err(e) if e.kind == ErrorKind::Timeout => stopped += 1,
                        Err(e) => panic!("thread {t} run {run} ({what}): {e}"),
                    }
                }
                // Every VM is still usable. A 1 ms limit may expire even for this snippet on
                // a loaded or instrumented machine, so a timeout is retried; any other error,
                // or never answering, is a failure.
                for (vm, _) in &mut vms {
                    let answer = (0..200).find_map(|_| match vm.eval("return 6 * 7") {
                        Ok(values) => Some(values),
                        Err(e) if e.kind == ErrorKind::Timeout => None,
                        Err(e) => panic!("thread {t}: a VM is broken after the stress: {e}"),
                    });
                    assert_eq!(answer, Some(vec![json!(42)]), "thread {t}");
                }
                (ended, stopped)
            })
        })
        .collect();
    let (mut ended, mut stopped) = (0, 0);
    for h in handles {
        let (e, s) = h.join().expect("a stress thread panicked");
        ended += e;
        stopped += s;
    }
    // Both outcomes happen: the endless scripts are stopped, the short ones end.
    assert!(stopped > 0 && ended > 0, "{ended} ended, {stopped} stopped");
    assert_eq!(u64::from(ended + stopped), THREADS * RUNS);
}

/// Runs `f` on a new thread and waits for it, failing (instead of hanging) if it runs on.
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .expect("the run was never stopped (or panicked)")
}

#[test]
fn a_thread_that_blocks_every_signal_still_meets_its_timeout() {
    let kind = within(Duration::from_secs(30), || {
        // SAFETY: blocks every signal in this test thread only; nothing else runs on it.
        unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            assert_eq!(
                libc::pthread_sigmask(libc::SIG_BLOCK, &all, std::ptr::null_mut()),
                0
            );
        }
        let mut vm = Vm::builder()
            .limits(Limits::new().timeout(Duration::from_millis(100)))
            .build()
            .unwrap();
        let kind = vm.eval("while true do end").unwrap_err().kind;
        // And the stop does not outlive the run.
        assert_eq!(vm.eval("return 1 + 1").unwrap(), vec![json!(2)]);
        kind
    });
    assert_eq!(kind, ErrorKind::Timeout);
}

/// A VM whose `print` runs another timed VM on the same thread, from its output callback.
fn nested(outer_timeout: Duration, inner_timeout: Duration) -> (ErrorKind, Vec<ErrorKind>) {
    let (tx, rx) = mpsc::channel();
    let output = Output::stream(move |_| {
        let mut inner = Vm::builder()
            .limits(Limits::new().timeout(inner_timeout))
            .build()
            .unwrap();
        let kind = inner.eval("while true do end").unwrap_err().kind;
        let _ = tx.send(kind);
    });
    let mut outer = Vm::builder()
        .limits(Limits::new().timeout(outer_timeout))
        .output(output)
        .build()
        .unwrap();
    let kind = outer.eval("print('x') while true do end").unwrap_err().kind;
    (kind, rx.try_iter().collect())
}

#[test]
fn a_timed_run_nested_in_another_stops_each_in_turn() {
    // The inner deadline comes first: it stops the inner run, then the outer one's.
    let (outer, inner) = within(Duration::from_secs(30), || {
        nested(Duration::from_millis(300), Duration::from_millis(50))
    });
    assert_eq!(
        (outer, inner),
        (ErrorKind::Timeout, vec![ErrorKind::Timeout])
    );
    // The outer deadline passes while the inner run still runs: its stop must not be lost.
    let (outer, inner) = within(Duration::from_secs(30), || {
        nested(Duration::from_millis(30), Duration::from_millis(300))
    });
    assert_eq!(
        (outer, inner),
        (ErrorKind::Timeout, vec![ErrorKind::Timeout])
    );
}

#[test]
fn a_timeout_stops_its_own_run_and_never_the_next() {
    within(Duration::from_secs(120), || {
        let timeout = Duration::from_millis(2);
        let mut vm = Vm::builder()
            .limits(Limits::new().timeout(timeout))
            .build()
            .unwrap();
        vm.exec(
            "function spin(s) local t = os.clock() + s while os.clock() < t do end return true end",
            "lib",
        )
        .unwrap();
        let mut timed_out = 0;
        let mut held_up = 0;
        for round in 0..300 {
            // Ends around its deadline: stopped or not... (`os.clock` is the process's CPU
            // time, which runs up to twice as fast as the wall clock while another test spins
            // on the other core: 0.8 to 2.9 times the timeout in CPU time.)
            let spin = timeout.as_secs_f64() * (0.8 + (round % 8) as f64 * 0.3);
            match vm.call("spin", &[json!(spin)]) {
                Ok(_) => {}
                Err(e) => {
                    assert_eq!(e.kind, ErrorKind::Timeout, "round {round}: {e}");
                    timed_out += 1;
                }
            }
            // ...but the runs right after it, well within their own timeout, are never
            // stopped by it. (A run the machine itself held up for the whole timeout, which a
            // busy two-core machine does now and then, is rightly stopped: it took that long.)
            for _ in 0..20 {
                let start = Instant::now();
                match vm.call("spin", &[json!(0.0)]) {
                    Ok(values) => assert_eq!(values, vec![json!(true)], "round {round}"),
                    Err(e) => {
                        let took = start.elapsed();
                        assert!(
                            e.kind == ErrorKind::Timeout && took >= timeout,
                            "round {round}: a short run failed after {took:?}: {e}"
                        );
                        held_up += 1;
                    }
                }
            }
        }
        assert!(timed_out > 0, "no run met its timeout");
        assert!(held_up < 100, "{held_up} of 6000 short runs were stopped");
        // A run that really runs on is stopped, between its timeout and a small multiple.
        let start = Instant::now();
        let err = vm.eval("while true do end").unwrap_err();
        assert_eq!(err.kind, ErrorKind::Timeout);
        assert!(start.elapsed() >= timeout, "{:?}", start.elapsed());
    });
}

/// A run with a 60 s timeout, in progress on its own thread (it prints once, then waits
/// inside its run) until the sender is used; join the thread after.
fn a_long_run_in_progress() -> (mpsc::Sender<()>, std::thread::JoinHandle<()>) {
    let (release, wait) = mpsc::channel::<()>();
    let long = std::thread::spawn(move || {
        let mut started = false;
        let output = Output::stream(move |_| {
            if !started {
                started = true;
                let _ = wait.recv_timeout(Duration::from_secs(30));
            }
        });
        let mut vm = Vm::builder()
            .limits(Limits::new().timeout(Duration::from_secs(60)))
            .output(output)
            .build()
            .unwrap();
        vm.exec("print('started')", "long").unwrap();
    });
    std::thread::sleep(Duration::from_millis(50));
    (release, long)
}

#[test]
fn a_short_timeout_is_met_while_the_watchdog_follows_only_long_ones() {
    // A VM with a long timeout keeps the watchdog looking rarely (every eighth of a minute);
    // a VM made afterwards with a short timeout must still be stopped on time, its first run
    // included: registering it wakes the watchdog when it would look too late.
    let (release, long) = a_long_run_in_progress();
    for _ in 0..3 {
        let took = within(Duration::from_secs(20), || {
            let mut vm = Vm::builder()
                .limits(Limits::new().timeout(Duration::from_millis(40)))
                .build()
                .unwrap();
            let start = Instant::now();
            let err = vm.eval("while true do end").unwrap_err();
            assert_eq!(err.kind, ErrorKind::Timeout);
            start.elapsed()
        });
        assert!(took < Duration::from_secs(2), "stopped only after {took:?}");
    }
    release.send(()).unwrap();
    long.join().unwrap();
}

#[test]
fn a_short_timeout_vm_used_again_is_stopped_on_time_beside_a_long_run() {
    // The same, for a VM that ran before: once its earlier runs are over the watchdog goes
    // back to looking every eighth of the long timeout, so the next run must wake it (it
    // once woke only an idle watchdog: stopped up to 7.5 s late here).
    let (release, long) = a_long_run_in_progress();
    let took = within(Duration::from_secs(30), || {
        let mut vm = Vm::builder()
            .limits(Limits::new().timeout(Duration::from_millis(40)))
            .build()
            .unwrap();
        let mut took = Vec::new();
        for _ in 0..3 {
            assert_eq!(vm.eval("return 1").unwrap(), vec![serde_json::json!(1)]);
            // Long enough for the watchdog to stop looking at this VM often.
            std::thread::sleep(Duration::from_millis(200));
            let start = Instant::now();
            let err = vm.eval("while true do end").unwrap_err();
            assert_eq!(err.kind, ErrorKind::Timeout);
            took.push(start.elapsed());
            std::thread::sleep(Duration::from_millis(200));
        }
        took
    });
    for t in took {
        assert!(t < Duration::from_secs(2), "stopped only after {t:?}");
    }
    release.send(()).unwrap();
    long.join().unwrap();
}

#[test]
fn a_forked_child_meets_its_timeouts_and_interrupts() {
    // The parent's watchdog is running when it forks; the child has no watchdog thread and
    // another thread id, and must still stop its runs.
    let timed = || {
        Vm::builder()
            .limits(Limits::new().timeout(Duration::from_millis(100)))
            .build()
            .unwrap()
    };
    let mut inherited = timed();
    let kind = inherited.eval("while true do end").unwrap_err().kind;
    assert_eq!(kind, ErrorKind::Timeout);
    let mut unlimited = Vm::new().unwrap();
    unlimited.eval("return 1").unwrap();
    // SAFETY: the child runs VMs on its one thread (and one it starts), then leaves by
    // `_exit` whatever happens, never returning into the test harness.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut kinds = Vec::new();
            for vm in [&mut inherited, &mut timed()] {
                kinds.push(vm.eval("while true do end").map_err(|e| e.kind));
            }
            for vm in [&mut unlimited, &mut Vm::new().unwrap()] {
                let stop = vm.interrupter();
                let t = std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(50));
                    stop.interrupt();
                });
                kinds.push(vm.eval("while true do end").map_err(|e| e.kind));
                t.join().unwrap();
            }
            kinds
                == [
                    Err(ErrorKind::Timeout),
                    Err(ErrorKind::Timeout),
                    Err(ErrorKind::Interrupted),
                    Err(ErrorKind::Interrupted),
                ]
        }));
        // SAFETY: ends the child at once, as `fork`'s child must.
        unsafe { libc::_exit(if matches!(ok, Ok(true)) { 0 } else { 1 }) };
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut status = 0;
    loop {
        // SAFETY: waits for the child forked above; `status` is a valid out-pointer.
        let done = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if done == pid {
            break;
        }
        if Instant::now() > deadline {
            // SAFETY: the child is ours and still running.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            panic!("a run in the forked child went on past its timeout or interrupt");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the forked child's runs did not all stop as they should (status {status})"
    );
}
