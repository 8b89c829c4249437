//! Micro-benchmarks of the embedded VM, with the `lua5.4` command as the reference where one
//! exists. `benches/run.sh` at the repository root runs them next to the lupa figures and
//! prints the comparison table (see BENCHMARKS.md).
//!
//! Groups (the ids are what `benches/compare.py` reads back from the criterion output):
//! * `startup` — (a) a new strict VM running `return 1+1`, built and dropped each iteration;
//! * `warm`    — (b) `vm.eval("return 1+1")` on a VM that already ran it (with no limits,
//!   with typical limits, and with a timeout alone);
//! * `call`    — (c) one Rust→Lua call of `add(1, 2)`, by every route the public API offers
//!   (the fastest: [`Vm::function`] once, then [`Vm::call_function`]);
//! * `fib`     — (d) `fib(30)` in the VM and in a running `lua5.4` process;
//! * `spawn`   — (e) one `lua5.4 -e 'return 1+1'` process per snippet.

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

use criterion::{black_box, criterion_group, criterion_main, Criterion, SamplingMode};
use mlua::{Function, Lua, LuaOptions, StdLib};
use pylua::{Limits, Sandbox, Vm};
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

const FIB: &str = include_str!("fib.lua");
const ADD: &str = "function add(a, b) return a + b end";
const FIB_N: i64 = 30;
/// fib(30)
const FIB_30: i64 = 832_040;

/// Limits a host would typically set; none of them fires in these benchmarks.
fn typical_limits() -> Limits {
    Limits::new()
        .memory(64 << 20)
        .instructions(10_000_000_000)
        .timeout(Duration::from_secs(60))
}

fn strict_vm(limits: Limits) -> Vm {
    Vm::builder()
        .sandbox(Sandbox::Strict)
        .limits(limits)
        .build()
        .expect("build a strict VM")
}

/// Whether the reference interpreter is installed (`benches/setup.sh` installs it).
fn have_lua54() -> bool {
    let found = Command::new("lua5.4")
        .args(["-e", "return 1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        eprintln!(
            "lua5.4 not found: skipping the lua5.4 reference benchmarks (run benches/setup.sh)"
        );
    }
    found
}

fn startup(c: &mut Criterion) {
    let mut g = c.benchmark_group("startup");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    g.bench_function("strict_build_eval", |b| {
        b.iter(|| {
            let mut vm = strict_vm(Limits::new());
            black_box(vm.eval(black_box("return 1+1")).unwrap())
        })
    });
    g.bench_function("strict_limits_build_eval", |b| {
        b.iter(|| {
            let mut vm = strict_vm(typical_limits());
            black_box(vm.eval(black_box("return 1+1")).unwrap())
        })
    });
    // The floor under the two above: a bare state with the same libraries, no prelude, built
    // through the C API as the VM builds its own.
    g.bench_function("raw_state_eval", |b| {
        b.iter(|| {
            // SAFETY: a state of our own, used on this thread and closed before the next.
            unsafe {
                use mlua::ffi;
                let state = ffi::luaL_newstate();
                for (name, open) in [
                    (c"_G", ffi::luaopen_base as ffi::lua_CFunction),
                    (c"coroutine", ffi::luaopen_coroutine),
                    (c"table", ffi::luaopen_table),
                    (c"os", ffi::luaopen_os),
                    (c"string", ffi::luaopen_string),
                    (c"math", ffi::luaopen_math),
                    (c"utf8", ffi::luaopen_utf8),
                ] {
                    ffi::luaL_requiref(state, name.as_ptr(), open, 1);
                    ffi::lua_pop(state, 1);
                }
                let code = black_box("return 1+1");
                ffi::luaL_loadbufferx(
                    state,
                    code.as_ptr().cast(),
                    code.len(),
                    c"=eval".as_ptr(),
                    c"t".as_ptr(),
                );
                ffi::lua_pcall(state, 0, 1, 0);
                black_box(ffi::lua_tointeger(state, -1));
                ffi::lua_close(state);
            }
        })
    });
    // The same through mlua (what the VM was built on before it drove the C API itself).
    g.bench_function("mlua_state_eval", |b| {
        let libs = StdLib::COROUTINE
            | StdLib::TABLE
            | StdLib::STRING
            | StdLib::UTF8
            | StdLib::MATH
            | StdLib::OS;
        b.iter(|| {
            let lua = Lua::new_with(libs, LuaOptions::new()).unwrap();
            black_box(lua.load(black_box("return 1+1")).eval::<i64>().unwrap())
        })
    });
    g.finish();
}

fn warm(c: &mut Criterion) {
    let mut g = c.benchmark_group("warm");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    let mut vm = strict_vm(Limits::new());
    g.bench_function("eval", |b| {
        b.iter(|| black_box(vm.eval(black_box("return 1+1")).unwrap()))
    });
    let mut limited = strict_vm(typical_limits());
    g.bench_function("eval_limits", |b| {
        b.iter(|| black_box(limited.eval(black_box("return 1+1")).unwrap()))
    });
    // A timeout alone: no hook until the deadline, so this should cost only arming and
    // disarming the watchdog's timer.
    let mut timed = strict_vm(Limits::new().timeout(Duration::from_secs(60)));
    g.bench_function("eval_timeout", |b| {
        b.iter(|| black_box(timed.eval(black_box("return 1+1")).unwrap()))
    });
    // The floor: the same compiled chunk called straight through mlua.
    let chunk: Function = vm.lua().load("return 1+1").into_function().unwrap();
    g.bench_function("mlua_compiled_chunk", |b| {
        b.iter(|| black_box(chunk.call::<i64>(()).unwrap()))
    });
    g.finish();
}

fn call(c: &mut Criterion) {
    let mut g = c.benchmark_group("call");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    // The VM's own fast route, on a VM whose mlua handle was never taken (taking it makes
    // every operation take mlua's lock too).
    let mut fast = strict_vm(Limits::new());
    fast.eval(ADD).unwrap();
    let add = fast.function("add").unwrap();
    g.bench_function("vm_function_call", |b| {
        b.iter(|| {
            black_box(
                fast.call_function::<_, i64>(&add, black_box((1, 2)))
                    .unwrap(),
            )
        })
    });
    let mut limited = strict_vm(typical_limits());
    limited.eval(ADD).unwrap();
    let limited_add = limited.function("add").unwrap();
    g.bench_function("vm_function_call_limits", |b| {
        b.iter(|| {
            black_box(
                limited
                    .call_function::<_, i64>(&limited_add, black_box((1, 2)))
                    .unwrap(),
            )
        })
    });
    let mut vm = strict_vm(Limits::new());
    vm.eval(ADD).unwrap();
    g.bench_function("vm_call_json", |b| {
        b.iter(|| black_box(vm.call(black_box("add"), &[json!(1), json!(2)]).unwrap()))
    });
    let lua = vm.lua();
    g.bench_function("globals_get_call", |b| {
        b.iter(|| {
            let add: Function = lua.globals().get(black_box("add")).unwrap();
            black_box(add.call::<i64>((1, 2)).unwrap())
        })
    });
    let add: Function = lua.globals().get("add").unwrap();
    g.bench_function("cached_function_call", |b| {
        b.iter(|| black_box(add.call::<i64>(black_box((1, 2))).unwrap()))
    });
    // The floor under the routes above: the raw C API (`lua_getglobal` + `lua_call`) inside
    // mlua's protected-call wrapper.
    g.bench_function("exec_raw_ffi", |b| {
        b.iter(|| {
            // SAFETY: the closure keeps the stack balanced as `exec_raw` requires (it leaves
            // only the result) and `add` is a Lua function taking two integers.
            let r: i64 = unsafe {
                lua.exec_raw((), |state| {
                    mlua::ffi::lua_getglobal(state, c"add".as_ptr());
                    mlua::ffi::lua_pushinteger(state, 1);
                    mlua::ffi::lua_pushinteger(state, 2);
                    mlua::ffi::lua_call(state, 2, 1);
                })
            }
            .unwrap();
            black_box(r)
        })
    });
    // The C API floor: 1000 `lua_getglobal` + `lua_pcall` round trips in one protected call,
    // so the per-call cost is this figure / 1000.
    g.bench_function("raw_pcall_x1000", |b| {
        b.iter(|| {
            // SAFETY: every round trip leaves the stack as it found it; `add` is a Lua
            // function taking two integers and cannot fail on them.
            let sum: i64 = unsafe {
                lua.exec_raw((), |state| {
                    let mut sum = 0;
                    for i in 0..1000 {
                        mlua::ffi::lua_getglobal(state, c"add".as_ptr());
                        mlua::ffi::lua_pushinteger(state, i);
                        mlua::ffi::lua_pushinteger(state, 2);
                        mlua::ffi::lua_pcall(state, 2, 1, 0);
                        sum += mlua::ffi::lua_tointeger(state, -1);
                        mlua::ffi::lua_pop(state, 1);
                    }
                    mlua::ffi::lua_pushinteger(state, sum);
                })
            }
            .unwrap();
            black_box(sum)
        })
    });
    g.finish();
}

/// A `lua5.4` process that has loaded `fib.lua` and answers `fib(n)` for each `n` it reads,
/// so only the computation is timed, not the process start.
struct LuaServer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl LuaServer {
    fn start() -> LuaServer {
        // One `-e` chunk; `lua5.4` refuses an `-e` argument that starts with `-`.
        let driver = format!(
            "do {FIB} end for line in io.lines() do io.write(fib(tonumber(line)), '\\n') io.flush() end"
        );
        let mut child = Command::new("lua5.4")
            .args(["-e", &driver])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start lua5.4");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        LuaServer {
            child,
            stdin,
            stdout,
        }
    }

    fn fib(&mut self, n: i64) -> i64 {
        writeln!(self.stdin, "{n}").unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        line.trim().parse().unwrap()
    }
}

impl Drop for LuaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn fib(c: &mut Criterion) {
    let mut g = c.benchmark_group("fib");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let mut vm = strict_vm(Limits::new());
    vm.eval(FIB).unwrap();
    assert_eq!(vm.call("fib", &[json!(FIB_N)]).unwrap(), [json!(FIB_30)]);
    g.bench_function("vm", |b| {
        b.iter(|| black_box(vm.call("fib", &[json!(black_box(FIB_N))]).unwrap()))
    });
    // All three limits: the VM counts the instruction budget itself (at calls and loop
    // back-edges) and the watchdog reads the deadline.
    let mut limited = strict_vm(typical_limits());
    limited.eval(FIB).unwrap();
    g.bench_function("vm_limits", |b| {
        b.iter(|| black_box(limited.call("fib", &[json!(black_box(FIB_N))]).unwrap()))
    });
    if have_lua54() {
        let mut server = LuaServer::start();
        assert_eq!(server.fib(FIB_N), FIB_30);
        g.bench_function("lua54_process", |b| {
            b.iter(|| black_box(server.fib(black_box(FIB_N))))
        });
    }
    g.finish();
}

fn spawn(c: &mut Criterion) {
    if !have_lua54() {
        return;
    }
    let mut g = c.benchmark_group("spawn");
    g.sample_size(20)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    g.bench_function("lua54_eval", |b| {
        b.iter(|| {
            let status = Command::new("lua5.4")
                .args(["-e", "return 1+1"])
                .status()
                .unwrap();
            assert!(status.success());
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = startup, warm, call, fib, spawn
}
criterion_main!(benches);
