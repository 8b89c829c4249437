//! The stack suite: every function Lua calls in the host (print, io.write, the error handler,
//! the coroutine wrappers) and every host entry point (`call`, typed calls, globals) meets
//! thousands of arguments and results, huge error values and deeply nested values — under
//! each sandbox policy, with and without limits, embedded and in an external interpreter.
//! Each run must end with a value or a Lua error: Lua guarantees a C function only 20 free
//! stack slots, so a host function that pushes one value per argument without checking
//! writes past the stack's end.

use pylua::interpreters::{discover_on, Interpreter, LuaVersion, Provisioner};
use pylua::paths::Paths;
use pylua::runtime::{ErrorKind, Limits, ProcessVm, Sandbox, Vm, VmError};
use serde_json::{json, Value as Json};
use std::path::PathBuf;
use std::time::Duration;

/// Argument and result counts: past any fixed slack, and close to Lua's own stack cap (a
/// million slots) once copies are counted.
const COUNTS: [usize; 2] = [10_000, 200_000];

const POLICIES: [Sandbox; 3] = [Sandbox::None, Sandbox::Standard, Sandbox::Strict];

/// No limits; memory and time (the watchdog and the counting allocator); and all three (a
/// count hook on the main thread too).
fn limit_sets() -> [Limits; 3] {
    [
        Limits::new(),
        Limits::new()
            .memory(512 << 20)
            .timeout(Duration::from_secs(120)),
        Limits::new()
            .memory(512 << 20)
            .timeout(Duration::from_secs(120))
            .instructions(1 << 40),
    ]
}

/// What a script must end with.
enum Expect {
    Values(Json),
    /// A runtime error whose message contains this.
    Error(&'static str),
}

struct Case {
    what: &'static str,
    code: String,
    expect: Expect,
    /// The captured output it must leave, when it matters.
    output: Option<String>,
}

/// `local t` holds `n` strings `"s"` for each script.
fn cases(n: usize) -> Vec<Case> {
    let prep = format!("local N = {n} local t = {{}} for i = 1, N do t[i] = 's' end ");
    let case = |what, body: &str, expect, output: Option<String>| Case {
        what,
        code: format!("{prep}{body}"),
        expect,
        output,
    };
    let line = format!("{}s\n", "s\t".repeat(n - 1));
    vec![
        case(
            "print of n values",
            "print(table.unpack(t)) return 'survived'",
            Expect::Values(json!(["survived"])),
            Some(line),
        ),
        case(
            "io.write of n values",
            "io.write(table.unpack(t)) io.stdout:write(table.unpack(t)) return 'survived'",
            Expect::Values(json!(["survived"])),
            Some("s".repeat(2 * n)),
        ),
        case(
            "pcall(print, ...)",
            "return pcall(print, table.unpack(t))",
            Expect::Values(json!([true])),
            None,
        ),
        case(
            "select('#', ...)",
            "return select('#', table.unpack(t))",
            Expect::Values(json!([n])),
            None,
        ),
        case(
            "n results",
            "local r = table.pack(table.unpack(t)) return r.n, #r",
            Expect::Values(json!([n, n])),
            None,
        ),
        case(
            "n values through coroutine resume, yield and wrap",
            "local co = coroutine.create(function(...)
               local got = select('#', ...)
               local back = table.pack(coroutine.yield(...))
               return got, back.n
             end)
             local r1 = table.pack(coroutine.resume(co, table.unpack(t)))
             local r2 = table.pack(coroutine.resume(co, table.unpack(t)))
             local w = coroutine.wrap(function(...)
               local x = table.pack(coroutine.yield(...))
               return x.n
             end)
             local n1 = select('#', w(table.unpack(t)))
             local n2 = w(table.unpack(t))
             return r1.n, r2[2], r2[3], n1, n2",
            Expect::Values(json!([n + 1, n, n, n, n])),
            None,
        ),
        case(
            "error with n arguments",
            "error(table.unpack(t))",
            Expect::Error("bad argument #2 to 'error'"),
            None,
        ),
        case(
            "error with a huge string",
            "error(string.rep('x', 1 << 20) .. 'end', 0)",
            Expect::Error("xxxxend"),
            None,
        ),
        case("error with a huge table", "error(t)", Expect::Error(""), None),
        case(
            "error whose __tostring raises",
            "error(setmetatable({}, { __tostring = function() error('inner') end }))",
            Expect::Error(""),
            None,
        ),
        case(
            "print whose __tostring raises",
            "print(1, setmetatable({}, { __tostring = function() error('boom') end }), table.unpack(t))",
            Expect::Error("boom"),
            Some(String::new()),
        ),
        case(
            "print whose __tostring yields",
            "coroutine.wrap(function()
               print(setmetatable({}, { __tostring = function() coroutine.yield() end }))
             end)()",
            Expect::Error("yield"),
            Some(String::new()),
        ),
        case(
            "print of values whose __tostring returns huge strings",
            "local mt = { __tostring = function() return string.rep('y', 4000) end }
             print(setmetatable({}, mt), 'a', setmetatable({}, mt)) return 'survived'",
            Expect::Values(json!(["survived"])),
            Some(format!("{}\ta\t{}\n", "y".repeat(4000), "y".repeat(4000))),
        ),
        case(
            "__index that raises",
            "local p = setmetatable({}, { __index = function() error('no such key') end })
             return p.x",
            Expect::Error("no such key"),
            None,
        ),
        case(
            "a deeply nested result",
            "local v = {} for i = 1, 100000 do v = { v } end return v",
            Expect::Values(Json::Null),
            None,
        ),
    ]
}

/// Checks one outcome; `Expect::Values(Null)` accepts any value.
fn check(what: &str, result: Result<Vec<Json>, VmError>, expect: &Expect) {
    match (result, expect) {
        (Ok(values), Expect::Values(Json::Null)) => assert!(!values.is_empty(), "{what}"),
        (Ok(values), Expect::Values(want)) => assert_eq!(&Json::from(values), want, "{what}"),
        (Err(e), Expect::Error(part)) => {
            assert_eq!(e.kind, ErrorKind::Runtime, "{what}: {e}");
            assert!(e.message.contains(part), "{what}: {}", &e.message);
        }
        (Ok(values), Expect::Error(_)) => {
            panic!("{what}: expected an error, got {} values", values.len())
        }
        (Err(e), Expect::Values(_)) => panic!("{what}: {e}"),
    }
}

/// An embedded VM under each policy with each set of limits.
fn embedded_vms() -> impl Iterator<Item = (Sandbox, Limits, Vm)> {
    POLICIES.into_iter().flat_map(|sandbox| {
        limit_sets().into_iter().map(move |limits| {
            let vm = Vm::builder()
                .sandbox(sandbox)
                .limits(limits)
                .build()
                .unwrap();
            (sandbox, limits, vm)
        })
    })
}

#[test]
fn host_functions_take_thousands_of_arguments_under_every_policy_and_limit() {
    for (sandbox, limits, mut vm) in embedded_vms() {
        for n in COUNTS {
            for case in cases(n) {
                let what = format!("{sandbox} {limits:?} n={n}: {}", case.what);
                check(&what, vm.eval(&case.code), &case.expect);
                let output = vm.take_output();
                if let Some(want) = &case.output {
                    assert!(output == *want, "{what}: output of {} bytes", output.len());
                }
            }
        }
        assert_eq!(vm.eval("return 1 + 1").unwrap(), vec![json!(2)]);
    }
}

#[test]
fn host_calls_pass_and_return_thousands_of_values() {
    for (sandbox, limits, mut vm) in embedded_vms() {
        vm.exec(
                "function count(...) return select('#', ...), ... end
                 function many(n) return table.unpack(big, 1, n) end
                 function depth(v) local d = 0 while type(v) == 'table' do d = d + 1 v = v[1] end return d end",
                "lib",
            )
            .unwrap();
        for n in COUNTS {
            let what = format!("{sandbox} {limits:?} n={n}");
            let args = vec![json!("s"); n];
            let values = vm.call("count", &args).unwrap();
            assert_eq!(values.len(), n + 1, "{what}");
            assert_eq!(values[0], json!(n), "{what}");

            vm.set_global("big", &Json::Array(args)).unwrap();
            let big = vm.get_global("big").unwrap();
            assert_eq!(big.as_array().map(Vec::len), Some(n), "{what}");

            let many = vm.function("many").unwrap();
            // Twice: the second call may take the fast path of an idle, unlimited VM.
            for _ in 0..2 {
                let all: Vec<Json> = vm.call_function(&many, n as i64).unwrap();
                assert_eq!(all.len(), n, "{what}");
                let first: String = vm.call_function(&many, n as i64).unwrap();
                assert_eq!(first, "s", "{what}");
            }
            vm.release_function(many).unwrap();
        }
        // Beyond what Lua's stack holds at all: an error, not a crash.
        let err = vm.call("count", &vec![Json::Null; 1_100_000]).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Runtime, "{err}");

        // Nesting: within the limit it arrives whole, beyond it is refused.
        let depth = vm.function("depth").unwrap();
        vm.set_global("nested", &nested(150)).unwrap();
        vm.exec("result = depth(nested)", "check").unwrap();
        assert_eq!(vm.get_global("result").unwrap(), json!(150));
        assert_eq!(vm.call_function::<_, i64>(&depth, ()).unwrap(), 0);
        let deep = nested(100_000);
        let err = vm.set_global("deep", &deep).unwrap_err();
        assert!(err.message.contains("nested"), "{err}");
        let err = vm.call("depth", std::slice::from_ref(&deep)).unwrap_err();
        assert!(err.message.contains("nested"), "{err}");
        dismantle(deep);
        // And a deep Lua value comes back cut off, not as a native stack overflow.
        vm.exec(
            "deep = {} for i = 1, 100000 do deep = { deep } end",
            "build",
        )
        .unwrap();
        assert!(vm.get_global("deep").unwrap().is_array());
        assert_eq!(vm.eval("return 6 * 7").unwrap(), vec![json!(42)]);
    }
}

#[test]
fn registered_host_functions_take_and_give_thousands_of_values() {
    for (sandbox, limits, mut vm) in embedded_vms() {
        // Echoes its arguments; fails with a message; panics; returns what it is told.
        vm.register("echo", Box::new(Ok)).unwrap();
        vm.register("fail", Box::new(|_| Err("no\0pe".into())))
            .unwrap();
        vm.register("boom", Box::new(|_| panic!("inside the host")))
            .unwrap();
        vm.register(
            "give",
            Box::new(|args| Ok(vec![json!("x"); args[0].as_u64().unwrap_or(0) as usize])),
        )
        .unwrap();
        let what = format!("{sandbox} {limits:?}");
        assert_eq!(
            vm.eval("return echo(1, 2.5, 's', nil, {1, {k = true}})")
                .unwrap(),
            vec![
                json!(1),
                json!(2.5),
                json!("s"),
                Json::Null,
                json!([1, {"k": true}])
            ],
            "{what}"
        );
        for n in COUNTS {
            let code = format!("return select('#', echo(string.rep('a', {n}):byte(1, -1)))");
            assert_eq!(vm.eval(&code).unwrap(), vec![json!(n)], "{what} n={n}");
            let code = format!("return select('#', give({n}))");
            assert_eq!(vm.eval(&code).unwrap(), vec![json!(n)], "{what} n={n}");
        }
        // Past Lua's stack: an error, not a crash.
        let err = vm.eval("return give(1100000)").unwrap_err();
        assert_eq!(err.kind, ErrorKind::Runtime, "{what}: {err}");
        // An error and a panic are Lua errors, which pcall catches, message and all.
        assert_eq!(
            vm.eval("return select(2, pcall(fail))").unwrap(),
            vec![json!("no\u{0}pe")],
            "{what}"
        );
        let err = vm.eval("boom()").unwrap_err();
        assert!(err.message.contains("panicked"), "{what}: {err}");
        assert_eq!(vm.eval("return 6 * 7").unwrap(), vec![json!(42)], "{what}");
        // A reset takes them away.
        vm.reset().unwrap();
        assert!(vm.eval("return echo(1)").is_err(), "{what}");
    }
}

/// `[[[...]]]`, `levels` deep, built without recursion.
fn nested(levels: usize) -> Json {
    let mut v = json!([]);
    for _ in 1..levels {
        v = Json::Array(vec![v]);
    }
    v
}

/// Drops a deep value level by level: dropping it whole recurses once per level.
fn dismantle(mut v: Json) {
    while let Json::Array(mut items) = v {
        v = items.pop().unwrap_or(Json::Null);
    }
}

// ---- the process backend ----

/// Debian's (or any) Lua 5.4 on `PATH`, else one built from pylua's bundled sources into
/// the shared test directory (as the interpreter suite does).
fn lua54() -> Interpreter {
    let paths = Paths::discover();
    let on_path = discover_on(std::env::var_os("PATH").as_deref(), &paths)
        .into_iter()
        .find(|i| i.version == LuaVersion::Lua54);
    on_path.unwrap_or_else(|| {
        let home = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pylua-interpreters");
        Provisioner::new(&home.join("data"))
            .install(LuaVersion::Lua54)
            .unwrap_or_else(|e| panic!("no Lua 5.4 on PATH and none can be built: {e}"))
            .interpreter
    })
}

/// The interpreter's own ending is the one outcome no script may cause.
fn assert_alive(what: &str, vm: &mut ProcessVm, result: &Result<Vec<Json>, VmError>) {
    if let Err(e) = result {
        for sign in ["interpreter was killed", "exited with", "stopped answering"] {
            assert!(!e.message.contains(sign), "{what}: {e}");
        }
    }
    assert_eq!(vm.eval("return 1 + 1").unwrap(), vec![json!(2)], "{what}");
    assert_eq!(vm.starts(), 1, "{what}: the interpreter was restarted");
}

#[test]
fn the_process_backend_takes_thousands_of_arguments_too() {
    let interpreter = lua54();
    for sandbox in POLICIES {
        for limits in limit_sets() {
            let mut vm = ProcessVm::builder()
                .interpreter(interpreter.clone())
                .sandbox(sandbox)
                .limits(limits)
                .build()
                .unwrap();
            for n in COUNTS {
                for case in cases(n) {
                    let what = format!("process {sandbox} {limits:?} n={n}: {}", case.what);
                    let result = vm.eval(&case.code);
                    // The session's messages differ from the embedded VM's (an error object
                    // is described, not converted), so only the values are compared.
                    if let (Ok(values), Expect::Values(want)) = (&result, &case.expect) {
                        if !want.is_null() {
                            assert_eq!(&Json::from(values.clone()), want, "{what}");
                        }
                    }
                    if matches!(case.expect, Expect::Error(_)) {
                        assert!(result.is_err(), "{what}");
                    }
                    let output = vm.take_output();
                    if let (Some(want), Ok(_)) = (&case.output, &result) {
                        assert!(output == *want, "{what}: output of {} bytes", output.len());
                    }
                    assert_alive(&what, &mut vm, &result);
                }
                let what = format!("process {sandbox} {limits:?} n={n}: host calls");
                vm.exec(
                    "function count(...) return select('#', ...), ... end",
                    "lib",
                )
                .unwrap();
                let values = vm.call("count", &vec![json!("s"); n]).unwrap();
                assert_eq!(values.len(), n + 1, "{what}");
                assert_eq!(values[0], json!(n), "{what}");
                vm.set_global("big", &Json::Array(vec![json!(1); n]))
                    .unwrap();
                let big = vm.get_global("big").unwrap();
                assert_eq!(big.as_array().map(Vec::len), Some(n), "{what}");
            }
            let deep = nested(100_000);
            let err = vm.set_global("deep", &deep).unwrap_err();
            assert!(err.message.contains("nested"), "{err}");
            dismantle(deep);
            let result = vm.eval("deep = {} for i = 1, 100000 do deep = { deep } end return deep");
            assert_alive("process: a deep result", &mut vm, &result);
            let result = vm.get_global("deep").map(|v| vec![v]);
            assert_alive("process: a deep global", &mut vm, &result);
        }
    }
}

#[test]
fn copies_of_one_big_table_share_one_budget_of_nodes() {
    // Ten results or arguments that are the same 200 000-element table: read whole while
    // the call's budget (a million nodes) lasts, then as markers — not ten times over.
    let mut vm = Vm::new().unwrap();
    vm.exec("t = {} for i = 1, 200000 do t[i] = i end", "build")
        .unwrap();
    let values = vm.eval("return t, t, t, t, t, t, t, t, t, t").unwrap();
    assert_eq!(values.len(), 10);
    assert_eq!(values[0].as_array().map(Vec::len), Some(200_000));
    assert_eq!(values[9], json!("<truncated>"));
    vm.register(
        "whole",
        Box::new(|args| {
            Ok(vec![json!(args
                .iter()
                .filter(|a| a
                    .as_array()
                    .is_some_and(|t| t.len() == 200_000 && t[199_999] == json!(200_000)))
                .count())])
        }),
    )
    .unwrap();
    let whole = vm
        .eval("return whole(t, t, t, t, t, t, t, t, t, t)")
        .unwrap();
    assert_eq!(whole, vec![json!(4)]);
    vm.exec(
        "function same() return t, t, t, t, t, t, t, t, t, t end",
        "lib",
    )
    .unwrap();
    let same = vm.function("same").unwrap();
    let values = vm
        .call_args(pylua::runtime::Callee::Function(&same), &[])
        .unwrap();
    assert_eq!(values[9], json!("<truncated>"));
}
