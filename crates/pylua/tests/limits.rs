//! The limits suite: runaway code in every shape the issue lists must end with the right
//! error kind, while this test process, other VMs and the limited VM itself stay healthy.

use pylua::runtime::{ErrorKind, Limits, Sandbox, Vm};
use serde_json::json;
use std::time::{Duration, Instant};

mod common;

use common::{CLOSE_LOOP, RUNAWAY_LOOPS};

/// Loops the VM counts in other places than `while`'s backward jump (see build.rs): each
/// must meet the instruction limit too.
const OTHER_LOOPS: &[(&str, &str)] = &[
    ("goto", "::top:: goto top"),
    ("repeat", "repeat until false"),
    ("numeric for", "for i = 1, math.maxinteger do end"),
    ("float for", "for i = 1, math.huge do end"),
    ("generic for", "for _ in function() return 1 end do end"),
    ("tail calls", "local function f() return f() end return f()"),
    (
        "calls in a loop condition",
        "local function t() return true end while t() do end",
    ),
];

/// The runaway loops plus the Lua 5.4-only ones.
fn loops() -> impl Iterator<Item = &'static (&'static str, &'static str)> {
    RUNAWAY_LOOPS
        .iter()
        .chain(std::iter::once(&CLOSE_LOOP))
        .chain(OTHER_LOOPS)
}

fn limited(limits: Limits, sandbox: Sandbox) -> Vm {
    Vm::builder()
        .sandbox(sandbox)
        .limits(limits)
        .build()
        .unwrap()
}

/// After a limit fired, the same VM, a fresh VM and a reset VM all still work.
fn assert_healthy(vm: &mut Vm) {
    assert_eq!(vm.eval("return 1 + 1").unwrap(), vec![json!(2)]);
    let mut other = Vm::new().unwrap();
    assert_eq!(other.eval("return 'ok'").unwrap(), vec![json!("ok")]);
    vm.reset().unwrap();
    assert_eq!(vm.eval("return 40 + 2").unwrap(), vec![json!(42)]);
}

#[test]
fn timeouts_fire_whatever_the_loop_hides_behind() {
    for sandbox in [Sandbox::Strict, Sandbox::Standard, Sandbox::None] {
        for (what, code) in loops() {
            let mut vm = limited(Limits::new().timeout(Duration::from_millis(100)), sandbox);
            let start = Instant::now();
            let err = vm.eval(code).unwrap_err();
            assert_eq!(err.kind, ErrorKind::Timeout, "{sandbox} {what}: {err}");
            // Bounded: generous for a loaded machine, but far from hanging.
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "{what} took {:?}",
                start.elapsed()
            );
            assert_healthy(&mut vm);
        }
    }
}

#[test]
fn instruction_limits_fire_whatever_the_loop_hides_behind() {
    for (what, code) in loops() {
        let mut vm = limited(Limits::new().instructions(100_000), Sandbox::Strict);
        let err = vm.eval(code).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InstructionLimit, "{what}: {err}");
        assert_healthy(&mut vm);
    }
}

#[test]
fn instruction_budget_is_per_run_and_roughly_exact() {
    let mut vm = limited(Limits::new().instructions(50_000), Sandbox::Strict);
    // About 4 instructions per iteration: 5 000 iterations fit, 50 000 do not.
    for _ in 0..5 {
        assert_eq!(
            vm.eval("local s = 0 for i = 1, 5000 do s = s + i end return s")
                .unwrap(),
            vec![json!(12502500)]
        );
    }
    let err = vm
        .eval("local s = 0 for i = 1, 50000 do s = s + i end return s")
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InstructionLimit);
    // Calls count too: about 7 instructions per iteration here (4 in the loop, 3 in `f`).
    let calls =
        "local function f(x) return x + 1 end local s = 0 for i = 1, N do s = f(s) end return s";
    let run = |vm: &mut Vm, n: u32| vm.eval(&calls.replace('N', &n.to_string()));
    assert_eq!(run(&mut vm, 4000).unwrap(), vec![json!(4000)]);
    assert_eq!(
        run(&mut vm, 12000).unwrap_err().kind,
        ErrorKind::InstructionLimit
    );
}

#[test]
fn memory_limits_stop_big_strings_and_growing_tables() {
    let cases = [
        ("string.rep of a gigabyte", "return #string.rep('x', 1024 * 1024 * 1024)"),
        ("string.rep under pcall, retried", "for i = 1, 100 do pcall(string.rep, 'x', 2^30) end return 'escaped'"),
        ("doubling a string", "local s = 'x' while true do s = s .. s end"),
        ("unbounded table growth", "local t = {} while true do t[#t + 1] = {} end"),
        ("table growth under pcall", "local t = {} while true do pcall(function() for i = 1, 1e6 do t[#t + 1] = i end end) end"),
        ("growth inside a coroutine", "local t = {} coroutine.wrap(function() while true do t[#t + 1] = ('y'):rep(100) .. #t end end)()"),
        ("table.concat of a huge list", "local t = {} for i = 1, 1e7 do t[i] = 'abcdefgh' end return #table.concat(t)"),
        ("error handler that allocates", "local t = {} xpcall(function() while true do t[#t+1] = {} end end, function() local u = {} for i = 1, 1e6 do u[i] = i end end) return 'escaped'"),
    ];
    for sandbox in [Sandbox::Strict, Sandbox::None] {
        for (what, code) in cases {
            let mut vm = limited(
                Limits::new()
                    .memory(32 << 20)
                    .timeout(Duration::from_secs(20)),
                sandbox,
            );
            let err = vm.eval(code).unwrap_err();
            assert_eq!(err.kind, ErrorKind::MemoryLimit, "{sandbox} {what}: {err}");
            assert!(vm.used_memory() <= 32 << 20, "{what}: {}", vm.used_memory());
            assert_healthy(&mut vm);
        }
    }
}

/// The VM's own set-up (libraries, prelude) is not charged to the instruction budget: the
/// smallest budget still builds a VM, and its first run gets the same budget as any later
/// one (each loop length below ends the same way in a fresh VM's first run and in a second
/// run).
#[test]
fn set_up_is_not_charged_to_the_instruction_budget() {
    for sandbox in [Sandbox::Strict, Sandbox::Standard, Sandbox::None] {
        // `return 1` is three instructions (VARARGPREP, LOADI, RETURN1).
        let mut vm = limited(Limits::new().instructions(1), sandbox);
        let err = vm.eval("return 1").unwrap_err();
        assert_eq!(err.kind, ErrorKind::InstructionLimit, "{sandbox}: {err}");
        let mut vm = limited(Limits::new().instructions(5), sandbox);
        assert_eq!(vm.eval("return 1").unwrap(), vec![json!(1)], "{sandbox}");
        let code = |n: u32| format!("local s = 0 for i = 1, {n} do s = s + i end return s");
        for n in (200..280).step_by(3) {
            let mut first = limited(Limits::new().instructions(1_000), sandbox);
            let mut second = limited(Limits::new().instructions(1_000), sandbox);
            second.eval("return 1").unwrap();
            let (a, b) = (first.eval(&code(n)), second.eval(&code(n)));
            assert_eq!(a.is_ok(), b.is_ok(), "{sandbox} n={n}: {a:?} / {b:?}");
        }
    }
}

/// A memory limit too small for the VM itself, at every size up to where a VM fits: the
/// build fails with the memory-limit error (or succeeds), never crashes — also when the
/// limit refuses the state's very first block, before there is a thread to stop.
#[test]
fn limits_too_small_for_the_vm_itself_are_errors() {
    for sandbox in [Sandbox::Strict, Sandbox::Standard, Sandbox::None] {
        let mut built = None;
        for size in (1..=170).map(|k| k * 768).chain([1, 7, 100, 1000]) {
            let vm = Vm::builder()
                .sandbox(sandbox)
                .limits(Limits::new().memory(size))
                .build();
            match vm {
                Ok(mut vm) => {
                    built.get_or_insert(size);
                    // Running may still hit the limit: an error, and the VM stays usable.
                    if let Err(e) = vm.eval("return 1 + 1") {
                        assert_eq!(e.kind, ErrorKind::MemoryLimit, "{sandbox} {size}: {e}");
                    }
                }
                Err(e) => {
                    assert_eq!(e.kind, ErrorKind::MemoryLimit, "{sandbox} {size}: {e}");
                    assert!(e.message.contains("the VM itself needs"), "{e}");
                }
            }
        }
        assert!(built.is_some(), "{sandbox}: no VM fits in 127 KiB");
    }
}

#[test]
fn memory_is_given_back_after_a_limit() {
    let mut vm = limited(Limits::new().memory(16 << 20), Sandbox::Strict);
    for _ in 0..3 {
        let err = vm
            .eval("local t = {} while true do t[#t + 1] = {} end")
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::MemoryLimit);
        // The garbage from the failed run is collectable: a modest allocation works again.
        assert_eq!(
            vm.eval("local t = {} for i = 1, 1000 do t[i] = {} end return #t")
                .unwrap(),
            vec![json!(1000)]
        );
    }
}

#[test]
fn strings_beyond_what_lua_allows_are_runtime_errors() {
    let mut vm = limited(Limits::new().memory(32 << 20), Sandbox::Strict);
    let err = vm.eval("return #string.rep('x', 2^33)").unwrap_err();
    assert_eq!(err.kind, ErrorKind::Runtime);
    assert!(
        err.message.contains("resulting string too large"),
        "{}",
        err.message
    );
}

#[test]
fn deep_recursion_is_a_runtime_error_not_a_crash() {
    let mut vm = Vm::new().unwrap();
    let err = vm
        .eval("local function f(n) return 1 + f(n + 1) end return f(1)")
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Runtime);
    assert!(err.message.contains("stack overflow"), "{}", err.message);
    // Through C boundaries too (string.gsub calling back into Lua).
    let err = vm
        .eval("local function f(s) return (s:gsub('.', f)) end return f('ab')")
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Runtime, "{err}");
    assert_healthy(&mut vm);
}

#[test]
fn limits_apply_to_calls_from_the_host() {
    let mut vm = limited(
        Limits::new().timeout(Duration::from_millis(100)),
        Sandbox::Strict,
    );
    vm.eval("function spin(n) while true do n = n + 1 end end function add(a, b) return a + b end")
        .unwrap();
    assert_eq!(
        vm.call("spin", &[json!(1)]).unwrap_err().kind,
        ErrorKind::Timeout
    );
    assert_eq!(
        vm.call("add", &[json!(2), json!(3)]).unwrap(),
        vec![json!(5)]
    );
}

#[test]
fn many_limited_vms_on_many_threads() {
    let handles: Vec<_> = (0..8)
        .map(|i| {
            std::thread::spawn(move || {
                let mut vm = limited(
                    Limits::new()
                        .timeout(Duration::from_millis(50 + 10 * i))
                        .memory(16 << 20),
                    Sandbox::Strict,
                );
                for _ in 0..3 {
                    assert_eq!(
                        vm.eval("while true do end").unwrap_err().kind,
                        ErrorKind::Timeout
                    );
                    assert_eq!(vm.eval("return 6 * 7").unwrap(), vec![json!(42)]);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn a_vm_without_limits_is_not_slowed_by_others_timers() {
    // A timer armed for one VM must never fire into another.
    let mut limited_vm = limited(
        Limits::new().timeout(Duration::from_millis(30)),
        Sandbox::Strict,
    );
    let mut free = Vm::new().unwrap();
    assert_eq!(
        limited_vm.eval("while true do end").unwrap_err().kind,
        ErrorKind::Timeout
    );
    let v = free
        .eval("local s = 0 for i = 1, 3e6 do s = s + 1 end return s")
        .unwrap();
    assert_eq!(v, vec![json!(3000000)]);
}

#[test]
fn a_result_shared_exponentially_many_times_is_truncated_not_a_hang() {
    let mut vm = Vm::new().unwrap();
    let values = vm
        .eval("local t = {} for i = 1, 40 do t = { t, t } end return t")
        .unwrap();
    let text = values[0].to_string();
    assert!(text.contains("<truncated>"), "{}", &text[..100]);
    // Cycles are cut too.
    let values = vm.eval("local t = {} t.self = t return t").unwrap();
    assert_eq!(values[0], json!({"self": "<cycle>"}));
}

#[test]
fn a_pathological_pattern_meets_the_timeout() {
    for sandbox in [Sandbox::Strict, Sandbox::None] {
        let mut vm = limited(Limits::new().timeout(Duration::from_millis(200)), sandbox);
        let start = Instant::now();
        let err = vm
            .eval("return string.find(string.rep('a', 30000), '.-.-.-.-.-b')")
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Timeout, "{sandbox}: {err}");
        assert!(start.elapsed() < Duration::from_secs(10));
        // The same behind pcall, through gsub and gmatch, and as a method.
        for code in [
            "while true do pcall(string.find, string.rep('a', 30000), '.-.-.-.-.-b') end",
            "return (string.rep('a', 30000)):gsub('.-.-.-.-.-b', '')",
            "for m in string.rep('a', 30000):gmatch('.-.-.-.-.-b') do end",
        ] {
            assert_eq!(
                vm.eval(code).unwrap_err().kind,
                ErrorKind::Timeout,
                "{sandbox}: {code}"
            );
        }
        // Ordinary patterns behave as Lua's own.
        assert_eq!(
            vm.eval("return ('key = value'):match('^(%w+)%s*=%s*(%w+)$')")
                .unwrap(),
            vec![json!("key"), json!("value")]
        );
        assert_healthy(&mut vm);
    }
}

/// A script file is read before Lua sees it, outside the VM's limits: an endless one
/// (`/dev/zero`) is refused at a bound (here the memory limit), not read until memory runs
/// out.
#[test]
fn an_endless_script_file_is_refused_not_read_forever() {
    let mut vm = limited(Limits::new().memory(8 << 20), Sandbox::Strict);
    let err = vm
        .run_file(std::path::Path::new("/dev/zero"), &[])
        .unwrap_err();
    assert!(err.message.contains("is larger than 8 MiB"), "{err}");
    assert_healthy(&mut vm);
}
