//! Stopping a running script from another thread with an [`Interrupter`]: pure Lua loops
//! that call nothing, with and without limits, the VM usable afterwards; and the process
//! backend, whose interpreter is killed.

use pylua::interpreters::{self, Interpreter, Origin};
use pylua::runtime::{AnyVm, ErrorKind, Interrupter, Limits, ProcessVm, Sandbox, Vm};
use serde_json::json;
use std::time::{Duration, Instant};

mod common;
use common::{CLOSE_LOOP, RUNAWAY_LOOPS};

/// Interrupts after `delay` from another thread (a request that lands before the run starts
/// is kept for it, so a slow start cannot make the test hang).
fn interrupt_after(stop: Interrupter, delay: Duration) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        std::thread::sleep(delay);
        stop.interrupt();
    })
}

fn assert_interrupted(result: Result<Vec<serde_json::Value>, pylua::VmError>, what: &str) {
    let err = result.expect_err(what);
    assert_eq!(err.kind, ErrorKind::Interrupted, "{what}: {err}");
}

#[test]
fn a_pure_loop_stops_without_limits() {
    let mut vm = Vm::builder().sandbox(Sandbox::None).build().unwrap();
    for (what, code) in [
        ("plain loop", "while true do end"),
        ("pcall in a loop", RUNAWAY_LOOPS[1].1),
        ("error handler that swallows", RUNAWAY_LOOPS[6].1),
        // Without limits the stock string library runs: a stop waits for the current match
        // (short here), and the loop stops between two.
        (
            "pattern matching in a loop",
            "local s = ('a'):rep(40) while true do s:find('a*a*a*b') end",
        ),
    ] {
        let start = Instant::now();
        let t = interrupt_after(vm.interrupter(), Duration::from_millis(50));
        assert_interrupted(vm.eval(code), what);
        t.join().unwrap();
        assert!(start.elapsed() < Duration::from_secs(10), "{what}");
        // Usable afterwards, and the request does not linger into the next run.
        assert_eq!(vm.eval("return 1 + 1").unwrap(), vec![json!(2)], "{what}");
    }
}

#[test]
fn every_runaway_shape_stops_under_limits() {
    // With a limit set, coroutines poll too, so loops inside them stop as well.
    let limits = Limits::new()
        .memory(64 << 20)
        .instructions(u64::MAX / 2)
        .timeout(Duration::from_secs(600));
    let mut vm = Vm::builder()
        .sandbox(Sandbox::Strict)
        .limits(limits)
        .build()
        .unwrap();
    // Under limits the pattern matcher itself checks for a stop: one match of ~10^8 steps.
    let pattern = (
        "one long pattern match",
        "local s = ('a'):rep(60) return s:find('a*a*a*a*a*a*a*a*b')",
    );
    for &(what, code) in RUNAWAY_LOOPS.iter().chain([&CLOSE_LOOP, &pattern]) {
        let t = interrupt_after(vm.interrupter(), Duration::from_millis(30));
        assert_interrupted(vm.eval(code), what);
        t.join().unwrap();
        assert_eq!(vm.eval("return 1 + 1").unwrap(), vec![json!(2)], "{what}");
    }
}

#[test]
fn a_called_function_stops_on_the_fast_path() {
    let mut vm = Vm::new().unwrap();
    vm.exec("function spin(n) while true do n = n + 1 end end", "lib")
        .unwrap();
    let spin = vm.function("spin").unwrap();
    // Warm the collector first: a call then takes the shortest way through the run (no
    // first-run work, no limits), which must still publish the run to interrupters.
    vm.eval("return 1").unwrap();
    let t = interrupt_after(vm.interrupter(), Duration::from_millis(50));
    let err = vm.call_function::<_, i64>(&spin, 1i64).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Interrupted, "{err}");
    t.join().unwrap();
    let t = interrupt_after(vm.interrupter(), Duration::from_millis(50));
    assert_interrupted(vm.call("spin", &[json!(1)]), "vm.call");
    t.join().unwrap();
}

#[test]
fn a_request_between_runs_stops_the_next_run_only() {
    let mut vm = Vm::new().unwrap();
    let stop = vm.interrupter();
    stop.interrupt();
    assert!(stop.is_requested());
    assert_interrupted(vm.eval("return 1"), "the next run");
    assert!(!stop.is_requested(), "a run that ends clears the request");
    assert_eq!(vm.eval("return 2").unwrap(), vec![json!(2)]);
    stop.interrupt();
    stop.clear();
    assert_eq!(vm.eval("return 3").unwrap(), vec![json!(3)]);
}

#[test]
fn an_interrupter_outlives_a_reset_and_ignores_other_vms() {
    let mut vm = Vm::new().unwrap();
    let stop = vm.interrupter();
    vm.reset().unwrap();
    let mut other = Vm::new().unwrap();
    let t = interrupt_after(stop.clone(), Duration::from_millis(50));
    // Another VM on another thread keeps running while this one is interrupted.
    let bystander = std::thread::spawn(move || {
        other
            .eval("local n = 0 for i = 1, 3e7 do n = n + 1 end return n")
            .map(|v| v[0].clone())
    });
    assert_interrupted(vm.eval("while true do end"), "after reset");
    t.join().unwrap();
    assert_eq!(bystander.join().unwrap().unwrap(), json!(30_000_000));
}

#[test]
fn an_interrupt_does_not_stop_a_nested_vm_it_was_not_meant_for() {
    // A host callback that runs another VM on the same thread: interrupting the outer VM
    // stops the outer run once the inner one returns, not the inner one.
    let mut outer = Vm::builder().sandbox(Sandbox::None).build().unwrap();
    let stop = outer.interrupter();
    let lua = outer.lua();
    let inner_result = std::sync::Arc::new(std::sync::Mutex::new(None));
    let seen = inner_result.clone();
    let nested = lua
        .create_function(move |_, ()| {
            let mut inner = Vm::new().unwrap();
            stop.interrupt();
            let r = inner.eval("local n = 0 for i = 1, 1e6 do n = n + 1 end return n");
            *seen.lock().unwrap() = Some(r);
            Ok(())
        })
        .unwrap();
    lua.globals().set("nested", nested).unwrap();
    assert_interrupted(outer.eval("nested() while true do end"), "outer");
    let inner = inner_result.lock().unwrap().take().unwrap();
    assert_eq!(inner.unwrap(), vec![json!(1_000_000)]);
}

fn debian_lua() -> Option<Interpreter> {
    for name in ["lua5.4", "lua5.1"] {
        let Some(path) = std::env::var_os("PATH").and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(name))
                .find(|f| f.is_file())
        }) else {
            continue;
        };
        if let Some((version, release)) = interpreters::probe(&path) {
            return Some(Interpreter {
                version,
                release,
                path,
                aliases: Vec::new(),
                origin: Origin::Path,
                include_dir: None,
                library: None,
            });
        }
    }
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    assert!(
        !ci,
        "prerequisite missing under CI: lua5.4 or lua5.1 on PATH"
    );
    eprintln!("skipped: lua5.4 or lua5.1 on PATH");
    None
}

#[test]
fn a_process_vm_is_stopped_and_restarted() {
    let Some(interpreter) = debian_lua() else {
        return;
    };
    let mut vm = ProcessVm::builder()
        .interpreter(interpreter)
        .sandbox(Sandbox::Strict)
        .build()
        .unwrap();
    let first = vm.pid();
    let start = Instant::now();
    let t = interrupt_after(vm.interrupter(), Duration::from_millis(100));
    assert_interrupted(vm.eval("while true do end"), "process");
    t.join().unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(vm.eval("return 1 + 1").unwrap(), vec![json!(2)]);
    assert_ne!(vm.pid(), first, "a fresh interpreter");
    // Through the common interface too.
    let mut any = AnyVm::Process(vm);
    let t = interrupt_after(any.interrupter(), Duration::from_millis(100));
    assert_interrupted(any.eval("while true do end"), "AnyVm");
    t.join().unwrap();
}
