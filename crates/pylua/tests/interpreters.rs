//! The VM suites — values, output, errors, sessions, limits, sandbox — against every external
//! interpreter (Lua 5.1, 5.2, 5.3, 5.4, LuaJIT) run as a process VM; plus discovery and
//! provisioning.
//!
//! The interpreters are built from pylua's bundled sources once per checkout, into
//! `target/tmp/pylua-interpreters` (the CLI tests share it). The provisioner's per-version
//! locks keep parallel tests and test binaries from building the same one twice, and a
//! rebuild happens only when the bundled sources change.

use pylua::interpreters::{
    discover_on, InstallStatus, Interpreter, LuaVersion, Origin, Provisioner,
};
use pylua::paths::Paths;
use pylua::runtime::{AnyVm, Backend, ErrorKind, Limits, Output, ProcessVm, Sandbox};
use serde_json::{json, Value};

mod common;
use common::{CLOSE_LOOP, RUNAWAY_LOOPS};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The shared home of provisioned interpreters (its `data` directory is what pylua uses).
fn shared_home() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pylua-interpreters")
}

fn interpreter(version: LuaVersion) -> Interpreter {
    let provisioner = Provisioner::new(&shared_home().join("data"));
    match provisioner.install(version) {
        Ok(installed) => installed.interpreter,
        Err(e) => panic!("cannot provision {version}: {e}"),
    }
}

fn vm_with(version: LuaVersion, sandbox: Sandbox, limits: Limits) -> ProcessVm {
    ProcessVm::builder()
        .interpreter(interpreter(version))
        .sandbox(sandbox)
        .limits(limits)
        .build()
        .unwrap_or_else(|e| panic!("{version}: {e}"))
}

fn vm(version: LuaVersion, sandbox: Sandbox) -> ProcessVm {
    vm_with(version, sandbox, Limits::new())
}

fn one(vm: &mut ProcessVm, code: &str) -> Value {
    let values = vm
        .eval(code)
        .unwrap_or_else(|e| panic!("{code}\n  failed: {e}"));
    values.into_iter().next().unwrap_or(Value::Null)
}

/// True for the versions with an integer subtype (5.3, 5.4).
fn has_integers(v: LuaVersion) -> bool {
    matches!(v, LuaVersion::Lua53 | LuaVersion::Lua54)
}

// ---- values ----

fn values(v: LuaVersion) {
    let mut vm = vm(v, Sandbox::Strict);
    assert_eq!(
        vm.eval("return 1 + 1, 'two', true, nil, 0.5").unwrap(),
        vec![json!(2), json!("two"), json!(true), Value::Null, json!(0.5)]
    );
    // A float with an integral value stays a float where Lua has both kinds.
    let float = one(&mut vm, "return 3 / 1");
    if has_integers(v) {
        assert!(float.is_f64(), "{v}: {float}");
    } else {
        assert_eq!(float, json!(3), "{v}");
    }
    let big = one(&mut vm, "return 2^53");
    if has_integers(v) {
        assert_eq!(big, json!(9007199254740992.0));
    } else {
        assert_eq!(big, json!(9007199254740992i64));
    }
    assert_eq!(one(&mut vm, "return 1/0"), json!("inf"));
    assert_eq!(one(&mut vm, "return -1/0"), json!("-inf"));
    assert_eq!(one(&mut vm, "return 0.1"), json!(0.1));
    // Strings: bytes kept, control characters escaped, invalid UTF-8 converted lossily.
    assert_eq!(
        one(&mut vm, r#"return "a\0b\n\"q\"""#),
        json!("a\u{0}b\n\"q\"")
    );
    assert_eq!(one(&mut vm, r#"return "caf\195\169""#), json!("café"));
    assert_eq!(one(&mut vm, r#"return "bad\255""#), json!("bad\u{fffd}"));
    // Tables: sequences are arrays, the rest objects, cycles marked.
    assert_eq!(
        one(&mut vm, "return { 1, 2, { x = 'y' }, {} }"),
        json!([1, 2, {"x": "y"}, {}])
    );
    assert_eq!(
        one(&mut vm, "return { 'a', n = 1, [2.5] = true }"),
        json!({"1": "a", "n": 1, "2.5": true})
    );
    assert_eq!(
        one(&mut vm, "local t = {} t.self = t return t"),
        json!({"self": "<cycle>"})
    );
    assert_eq!(one(&mut vm, "return print"), json!("<function>"));
    assert_eq!(
        one(&mut vm, "return coroutine.create(print)"),
        json!("<thread>")
    );
    // Into the VM and back.
    let config = json!({"name": "x", "list": [1, 2.5, "three", null, {"deep": [true]}], "n": -7});
    vm.set_global("config", &config).unwrap();
    // `null` leaves a hole, so the list is no longer a sequence.
    assert_eq!(
        vm.get_global("config").unwrap(),
        json!({"name": "x", "list": {"1": 1, "2": 2.5, "3": "three", "5": {"deep": [true]}}, "n": -7})
    );
    assert_eq!(vm.get_global("missing").unwrap(), Value::Null);
    vm.exec("function add(a, b) return a + b end", "setup.lua")
        .unwrap();
    assert_eq!(
        vm.call("add", &[json!(2), json!(40)]).unwrap(),
        vec![json!(42)]
    );
    assert_eq!(
        vm.call("select", &[json!("#"), Value::Null, Value::Null])
            .unwrap(),
        vec![json!(2)]
    );
    let err = vm.call("nope", &[]).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Runtime);
    assert!(
        err.message.contains("'nope' is not a function (it is nil)"),
        "{err}"
    );
}

// ---- output ----

fn output(v: LuaVersion) {
    let mut vm = vm(v, Sandbox::Strict);
    let values = vm
        .eval("print('a', 1, nil) io.write('b', 2) io.stdout:write('c\\n') return 'value'")
        .unwrap();
    assert_eq!(values, vec![json!("value")]);
    assert_eq!(vm.take_output(), "a\t1\tnil\nb2c\n");
    assert_eq!(vm.take_output(), "");
    // What was printed before an error is kept.
    let err = vm.eval("print('before') error('boom')").unwrap_err();
    assert!(err.message.contains("boom"), "{err}");
    assert_eq!(vm.take_output(), "before\n");

    // Streaming: each piece reaches the callback as it is written.
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = seen.clone();
    let mut streamed = ProcessVm::builder()
        .interpreter(interpreter(v))
        .output(Output::stream(move |bytes| {
            sink.lock()
                .unwrap()
                .push(String::from_utf8_lossy(bytes).into_owned())
        }))
        .build()
        .unwrap();
    streamed.eval("print('one') io.write('two')").unwrap();
    assert_eq!(*seen.lock().unwrap(), vec!["one\n", "two"]);
    assert_eq!(streamed.take_output(), "");

    // io.output(file) sends io.write to that file, as in Lua, and io.output(io.stdout) back.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.txt");
    let mut none = vm_with(v, Sandbox::None, Limits::new());
    none.eval(&format!(
        "io.write('a') io.output({:?}) io.write('b') io.close() io.output(io.stdout) io.write('c')",
        path.to_str().unwrap()
    ))
    .unwrap();
    assert_eq!(none.take_output(), "ac", "{v}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "b", "{v}");
}

// ---- errors ----

fn errors(v: LuaVersion) {
    let mut vm = vm(v, Sandbox::Strict);
    let err = vm.eval("return 1 +").unwrap_err();
    assert_eq!(err.kind, ErrorKind::Syntax);
    assert_eq!(err.chunk.as_deref(), Some("eval"));
    assert_eq!(err.line, Some(1));
    assert!(err.incomplete, "{err:?}");
    let err = vm.eval("x = = 1").unwrap_err();
    assert_eq!(err.kind, ErrorKind::Syntax);
    assert!(!err.incomplete);

    let err = vm
        .exec("local function f()\n  error('deep')\nend\nf()", "main.lua")
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Runtime);
    assert_eq!(err.message, "main.lua:2: deep");
    assert_eq!(
        (err.chunk.as_deref(), err.line),
        (Some("main.lua"), Some(2))
    );
    let tb = err.traceback.expect("a traceback");
    assert!(tb.starts_with("stack traceback:"), "{tb}");
    assert!(tb.contains("main.lua:4"), "{tb}");
    assert!(!tb.contains("pylua.session"), "{tb}");

    let err = vm.eval("error({ code = 1 })").unwrap_err();
    assert_eq!(err.message, "(error object is a table value)");
    let err = vm
        .eval("error(setmetatable({}, { __tostring = function() return 'custom' end }))")
        .unwrap_err();
    assert_eq!(err.message, "custom");

    // Interactive lines: expressions print, statements run, unfinished input asks for more.
    assert_eq!(vm.eval_interactive("1 + 2").unwrap(), vec![json!(3)]);
    assert!(vm.eval_interactive("y = 5").unwrap().is_empty());
    assert_eq!(vm.eval_interactive("y").unwrap(), vec![json!(5)]);
    assert!(
        vm.eval_interactive("for i = 1, 2 do")
            .unwrap_err()
            .incomplete
    );

    // Scripts: arg, ..., the #! line, and a missing file.
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("s.lua");
    std::fs::write(
        &script,
        "#!/usr/bin/env lua\nlocal a, b = ...\nreturn arg[0], arg[1], a, b, select('#', ...)",
    )
    .unwrap();
    let values = vm.run_file(&script, &["x".into(), "y".into()]).unwrap();
    assert_eq!(
        values,
        vec![
            json!(script.display().to_string()),
            json!("x"),
            json!("x"),
            json!("y"),
            json!(2)
        ]
    );
    std::fs::write(&script, "\n\nerror('line three')").unwrap();
    let err = vm.run_file(&script, &[]).unwrap_err();
    assert_eq!(err.line, Some(3), "{err}");
    let err = vm
        .run_file(&dir.path().join("missing.lua"), &[])
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Io);
}

// ---- sessions ----

fn sessions(v: LuaVersion) {
    let mut vm = vm(v, Sandbox::None);
    let pid = vm.pid().expect("a running interpreter");
    vm.eval("counter = 0 function bump() counter = counter + 1 return counter end")
        .unwrap();
    for expected in 1..=5 {
        assert_eq!(vm.eval("return bump()").unwrap(), vec![json!(expected)]);
    }
    assert_eq!(vm.pid(), Some(pid), "one process for the whole session");
    assert_eq!(vm.call("bump", &[]).unwrap(), vec![json!(6)]);

    // os.exit ends the interpreter: a clear error, then a fresh one on the next call.
    let err = vm.eval("os.exit(3)").unwrap_err();
    assert_eq!(err.kind, ErrorKind::Runtime);
    assert!(err.message.contains("exited with status 3"), "{err}");
    assert!(
        err.message.contains("next call starts a fresh one"),
        "{err}"
    );
    assert_eq!(vm.eval("return counter").unwrap(), vec![Value::Null]);
    assert_ne!(vm.pid(), Some(pid));
    assert_eq!(vm.starts(), 2);

    // A crash by signal is named.
    let err = vm
        .eval("os.execute('kill -SEGV $PPID') return 1")
        .unwrap_err();
    assert!(err.message.contains("signal 11"), "{err}");
    assert_eq!(vm.eval("return 'back'").unwrap(), vec![json!("back")]);

    // reset: a new interpreter, same settings.
    vm.eval("kept = true").unwrap();
    vm.reset().unwrap();
    assert_eq!(vm.eval("return kept").unwrap(), vec![Value::Null]);
    assert_eq!(vm.sandbox(), Sandbox::None);
}

// ---- limits ----

/// The limits suite's runaway loops (tests/common), in the forms every version parses.
fn loops(v: LuaVersion) -> Vec<(&'static str, &'static str)> {
    let mut loops = RUNAWAY_LOOPS.to_vec();
    if v == LuaVersion::Lua54 {
        loops.push(CLOSE_LOOP);
    }
    loops
}

fn assert_healthy(vm: &mut ProcessVm) {
    assert_eq!(vm.eval("return 1 + 1").unwrap(), vec![json!(2)]);
    vm.reset().unwrap();
    assert_eq!(vm.eval("return 40 + 2").unwrap(), vec![json!(42)]);
}

fn timeouts(v: LuaVersion) {
    let limits = Limits::new().timeout(Duration::from_millis(100));
    let mut vm = vm_with(v, Sandbox::Strict, limits);
    for (what, code) in loops(v) {
        let start = Instant::now();
        let err = vm.eval(code).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Timeout, "{v} {what}: {err}");
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{v} {what} took {:?}",
            start.elapsed()
        );
        assert_eq!(
            vm.eval("return 1 + 1").unwrap(),
            vec![json!(2)],
            "{v} {what}"
        );
    }
    // The whole process group goes: a child the script started dies with it.
    let mut none = vm_with(v, Sandbox::None, limits);
    let err = none
        .eval("os.execute('sleep 30 &') while true do end")
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Timeout);
    assert_healthy(&mut none);
    let mut standard = vm_with(v, Sandbox::Standard, limits);
    assert_eq!(
        standard.eval("while true do end").unwrap_err().kind,
        ErrorKind::Timeout
    );
    assert_healthy(&mut standard);
}

fn instruction_limits(v: LuaVersion) {
    let mut vm = vm_with(v, Sandbox::Strict, Limits::new().instructions(100_000));
    let pid = vm.pid();
    for (what, code) in loops(v) {
        let err = vm.eval(code).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InstructionLimit, "{v} {what}: {err}");
        assert_eq!(
            vm.eval("return 1 + 1").unwrap(),
            vec![json!(2)],
            "{v} {what}"
        );
    }
    // Caught inside the interpreter: the same process, no restart.
    assert_eq!(vm.pid(), pid);
    assert_healthy(&mut vm);

    // The budget is per run and roughly exact.
    let mut vm = vm_with(v, Sandbox::Strict, Limits::new().instructions(50_000));
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
}

fn memory_limits(v: LuaVersion) {
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
        let limits = Limits::new()
            .memory(32 << 20)
            .timeout(Duration::from_secs(20));
        let mut vm = vm_with(v, sandbox, limits);
        for (what, code) in cases {
            let err = vm.eval(code).unwrap_err();
            assert_eq!(
                err.kind,
                ErrorKind::MemoryLimit,
                "{v} {sandbox} {what}: {err}"
            );
            assert!(
                vm.used_memory().unwrap() <= 32 << 20,
                "{v} {what}: {:?}",
                vm.used_memory()
            );
            // The garbage of the failed run is collectable: a modest allocation works again.
            assert_eq!(
                vm.eval("local t = {} for i = 1, 1000 do t[i] = {} end return #t")
                    .unwrap(),
                vec![json!(1000)],
                "{v} {what}"
            );
        }
        assert_healthy(&mut vm);
    }
}

// ---- sandbox ----

fn strict_sandbox(v: LuaVersion) {
    let mut vm = vm(v, Sandbox::Strict);
    for name in [
        "string.dump",
        "debug",
        "package",
        "require",
        "dofile",
        "loadfile",
        "io.open",
        "io.popen",
        "io.read",
        "io.lines",
        "os.execute",
        "os.exit",
        "os.getenv",
        "os.remove",
        "os.rename",
        "os.tmpname",
        "getfenv",
        "setfenv",
        "module",
        "newproxy",
    ] {
        assert_eq!(
            one(&mut vm, &format!("return {name} == nil")),
            json!(true),
            "{v}: {name} must be gone"
        );
    }
    assert_eq!(one(&mut vm, "return os.time() > 0"), json!(true));
    assert_eq!(one(&mut vm, "return getmetatable('')"), json!(false));
    assert_eq!(one(&mut vm, "return ('x'):rep(3)"), json!("xxx"));
    let err = vm.eval("collectgarbage('stop')").unwrap_err();
    assert!(
        err.message.contains("only collectgarbage('count')"),
        "{err}"
    );
    assert_eq!(
        one(&mut vm, "return type(collectgarbage('count'))"),
        json!("number")
    );
    // No bytecode, by any route.
    let err = vm.eval("\x1bLua").unwrap_err();
    assert_eq!(err.kind, ErrorKind::Syntax, "{v}: {err}");
    assert_eq!(
        one(
            &mut vm,
            r#"local f = (loadstring or load)("\27Lua\81\0") return f == nil"#
        ),
        json!(true)
    );
    let err = vm
        .eval("setmetatable({}, { __gc = function() end })")
        .unwrap_err();
    assert!(err.message.contains("__gc"), "{err}");
    if v == LuaVersion::LuaJit {
        assert_eq!(
            one(
                &mut vm,
                "return jit.on == nil and jit.util == nil and type(jit.version)"
            ),
            json!("string")
        );
    }
}

fn standard_sandbox(v: LuaVersion) {
    let dir = tempfile::tempdir().unwrap();
    let allowed = dir.path().join("allowed");
    std::fs::create_dir(&allowed).unwrap();
    std::fs::write(allowed.join("mod.lua"), "return { answer = 42 }").unwrap();
    let outside = dir.path().join("outside.txt");
    std::fs::write(&outside, "secret").unwrap();
    let mut vm = ProcessVm::builder()
        .interpreter(interpreter(v))
        .sandbox(Sandbox::Standard)
        .allow_dir(&allowed)
        .package_path(format!("{}/?.lua", allowed.display()))
        .build()
        .unwrap();
    let inside = allowed.join("note.txt");
    let code = format!(
        "local f = assert(io.open({p:?}, 'w')) f:write('hi') f:close()
         local g = assert(io.open({p:?})) local s = g:read('*a') g:close() return s",
        p = inside.display().to_string()
    );
    assert_eq!(one(&mut vm, &code), json!("hi"));
    let err = vm
        .eval(&format!(
            "return io.open({:?})",
            outside.display().to_string()
        ))
        .unwrap_err();
    assert!(err.message.contains("is denied"), "{v}: {err}");
    let err = vm
        .eval(&format!(
            "return io.open({:?})",
            format!("{}/../outside.txt", allowed.display())
        ))
        .unwrap_err();
    assert!(err.message.contains("is denied"), "{v}: {err}");
    assert_eq!(one(&mut vm, "return require('mod').answer"), json!(42));
    for name in [
        "io.popen",
        "os.execute",
        "os.exit",
        "package.loadlib",
        "debug.getinfo",
    ] {
        assert_eq!(
            one(&mut vm, &format!("return {name} == nil")),
            json!(true),
            "{v}: {name}"
        );
    }
    assert_eq!(
        one(&mut vm, "return type(debug.traceback)"),
        json!("function")
    );
    assert_eq!(
        one(&mut vm, "return (pcall(require, 'ffi'))"),
        json!(false),
        "{v}: no FFI"
    );
    assert_eq!(
        one(
            &mut vm,
            "return (loadstring or load)(string.dump(function() return 1 end)) == nil"
        ),
        json!(true)
    );
}

fn none_sandbox(v: LuaVersion) {
    let mut vm = vm(v, Sandbox::None);
    assert_eq!(
        one(&mut vm, "return type(os.getenv('PATH'))"),
        json!("string")
    );
    assert_eq!(one(&mut vm, "return type(io.popen)"), json!("function"));
    assert_eq!(
        one(&mut vm, "return type(require('string').format)"),
        json!("function")
    );
    if v == LuaVersion::LuaJit {
        assert_eq!(
            one(&mut vm, "return require('ffi').abi('64bit')"),
            json!(true)
        );
    }
}

/// C modules build against the installed headers and load into the interpreter.
fn c_modules(v: LuaVersion) {
    let interp = interpreter(v);
    let include = interp.include_dir.clone().expect("headers");
    assert!(include.join("lua.h").is_file());
    assert!(interp.library.as_ref().is_some_and(|l| l.is_file()));
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("hello.c");
    std::fs::write(
        &src,
        r#"#include "lua.h"
#include "lauxlib.h"
static int twice(lua_State *L) { lua_pushnumber(L, 2 * luaL_checknumber(L, 1)); return 1; }
int luaopen_hello(lua_State *L) {
  lua_newtable(L);
  lua_pushcfunction(L, twice);
  lua_setfield(L, -2, "twice");
  return 1;
}
"#,
    )
    .unwrap();
    let status = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(dir.path().join("hello.so"))
        .arg("-I")
        .arg(&include)
        .arg(&src)
        .status()
        .unwrap();
    assert!(status.success());
    let mut vm = ProcessVm::builder()
        .interpreter(interp)
        .sandbox(Sandbox::None)
        .package_cpath(format!("{}/?.so", dir.path().display()))
        .build()
        .unwrap();
    assert_eq!(
        one(&mut vm, "return require('hello').twice(21) == 42"),
        json!(true)
    );
}

macro_rules! for_every_interpreter {
    ($($suite:ident),* $(,)?) => {
        mod lua51 { $( #[test] fn $suite() { super::$suite(super::LuaVersion::Lua51) } )* }
        mod lua52 { $( #[test] fn $suite() { super::$suite(super::LuaVersion::Lua52) } )* }
        mod lua53 { $( #[test] fn $suite() { super::$suite(super::LuaVersion::Lua53) } )* }
        mod lua54 { $( #[test] fn $suite() { super::$suite(super::LuaVersion::Lua54) } )* }
        mod luajit { $( #[test] fn $suite() { super::$suite(super::LuaVersion::LuaJit) } )* }
    };
}

for_every_interpreter!(
    values,
    output,
    errors,
    sessions,
    timeouts,
    instruction_limits,
    memory_limits,
    strict_sandbox,
    standard_sandbox,
    none_sandbox,
    c_modules,
);

// ---- versions, the common interface, discovery, provisioning ----

#[test]
fn each_interpreter_is_the_version_it_claims() {
    for v in LuaVersion::ALL {
        let mut vm = vm(v, Sandbox::Strict);
        let version = one(&mut vm, "return _VERSION");
        assert_eq!(version, json!(format!("Lua {}", v.api())), "{v}");
        assert!(vm
            .interpreter()
            .release
            .starts_with(if v == LuaVersion::LuaJit {
                "LuaJIT 2.1"
            } else {
                "Lua 5."
            }));
        if v == LuaVersion::LuaJit {
            assert_eq!(
                one(&mut vm, "return jit.version"),
                json!(vm.interpreter().release)
            );
        }
    }
}

#[test]
fn any_vm_picks_the_backend() {
    let home = shared_home();
    let paths = Paths {
        config: home.join("config"),
        data: home.join("data"),
        cache: home.join("cache"),
        state: home.join("cache"),
    };
    interpreter(LuaVersion::Lua51);
    let mut embedded = AnyVm::builder().build().unwrap();
    assert_eq!(embedded.backend(), Backend::Embedded);
    assert_eq!(
        embedded.eval("return _VERSION").unwrap(),
        vec![json!("Lua 5.4")]
    );
    let mut process = AnyVm::builder()
        .lua(LuaVersion::Lua51)
        .paths(paths)
        .build()
        .unwrap();
    assert_eq!(process.backend(), Backend::Process);
    assert_eq!(process.release(), "Lua 5.1.5");
    assert_eq!(
        process.eval("return _VERSION").unwrap(),
        vec![json!("Lua 5.1")]
    );
    let err = AnyVm::builder()
        .backend(Backend::Embedded)
        .lua(LuaVersion::Lua51)
        .build()
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Usage);
    let empty = tempfile::tempdir().unwrap();
    let err = AnyVm::builder()
        .lua(LuaVersion::Lua52)
        .paths(Paths {
            config: empty.path().join("c"),
            data: empty.path().join("d"),
            cache: empty.path().join("x"),
            state: empty.path().join("x"),
        })
        .build();
    // On a machine with a lua5.2 on PATH this finds it; otherwise it says how to get one.
    if let Err(e) = err {
        assert_eq!(e.kind, ErrorKind::Usage);
        assert!(e.message.contains("pylua can build one"), "{e}");
        assert_eq!(
            e.hint.as_deref(),
            Some(&pylua::hint::Hint::InstallLua {
                version: "5.2".into()
            })
        );
    }
}

#[test]
fn discovery_reads_names_versions_headers_and_libraries() {
    let bin = tempfile::tempdir().unwrap();
    let link = |name: &str, v: LuaVersion| {
        std::os::unix::fs::symlink(interpreter(v).path, bin.path().join(name)).unwrap();
    };
    link("lua", LuaVersion::Lua54);
    link("lua54", LuaVersion::Lua54);
    link("lua5.1", LuaVersion::Lua51);
    link("lua-5.3", LuaVersion::Lua53);
    link("luajit", LuaVersion::LuaJit);
    // Look-alikes that are not interpreters.
    std::fs::write(bin.path().join("lua-any"), "#!/bin/sh\necho Lua 5.4.0\n").unwrap();
    std::fs::write(bin.path().join("luac"), "#!/bin/sh\necho Lua 5.4.0\n").unwrap();
    std::fs::write(bin.path().join("lua5.2"), "#!/bin/sh\necho not lua\n").unwrap();
    for f in ["lua-any", "luac", "lua5.2"] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(bin.path().join(f), std::fs::Permissions::from_mode(0o755))
            .unwrap();
    }
    let nothing_installed = tempfile::tempdir().unwrap();
    let paths = Paths {
        config: nothing_installed.path().join("c"),
        data: nothing_installed.path().join("d"),
        cache: nothing_installed.path().join("x"),
        state: nothing_installed.path().join("x"),
    };
    let found = discover_on(Some(bin.path().as_os_str()), &paths);
    let summary: Vec<(LuaVersion, String)> = found
        .iter()
        .map(|i| {
            (
                i.version,
                i.path.file_name().unwrap().to_string_lossy().into_owned(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (LuaVersion::Lua54, "lua".to_string()),
            (LuaVersion::Lua51, "lua5.1".to_string()),
            (LuaVersion::LuaJit, "luajit".to_string()),
            (LuaVersion::Lua53, "lua-5.3".to_string()),
        ]
    );
    assert_eq!(found[0].aliases, vec![bin.path().join("lua54")]);
    for i in &found {
        assert_eq!(i.origin, Origin::Path);
        assert!(i.include_dir.is_some(), "{i:?}");
        assert!(i.library.is_some(), "{i:?}");
        assert!(i.can_build_c_modules());
    }
    // pylua's own come first, and an interpreter on PATH that is one of them is not repeated.
    let home = shared_home();
    let shared = Paths {
        config: home.join("config"),
        data: home.join("data"),
        cache: home.join("cache"),
        state: home.join("cache"),
    };
    let found = discover_on(Some(bin.path().as_os_str()), &shared);
    assert!(
        found.iter().take(5).all(|i| i.origin == Origin::Pylua),
        "{found:?}"
    );
    assert_eq!(found.len(), 5);
}

#[test]
fn provisioning_is_a_no_op_the_second_time_and_uninstall_removes() {
    let data = tempfile::tempdir().unwrap();
    let provisioner = Provisioner::new(data.path());
    // Leftovers of a killed build are cleaned up.
    let leftover = data.path().join("interpreters/.tmp-lua-5.1-1-2");
    std::fs::create_dir_all(&leftover).unwrap();
    let first = provisioner.install(LuaVersion::Lua51).unwrap();
    assert_eq!(first.status, InstallStatus::Installed);
    assert!(!leftover.exists());
    let dir = first.dir.clone();
    for f in [
        "bin/lua",
        "include/lua.h",
        "include/lauxlib.h",
        "lib/liblua.a",
    ] {
        assert!(dir.join(f).is_file(), "{f}");
    }
    let installed_at = std::fs::metadata(dir.join("bin/lua"))
        .unwrap()
        .modified()
        .unwrap();
    let second = provisioner.install(LuaVersion::Lua51).unwrap();
    assert_eq!(second.status, InstallStatus::AlreadyInstalled);
    assert_eq!(
        std::fs::metadata(dir.join("bin/lua"))
            .unwrap()
            .modified()
            .unwrap(),
        installed_at
    );
    assert_eq!(provisioner.installed_all().len(), 1);
    assert!(provisioner.uninstall(LuaVersion::Lua51).unwrap());
    assert!(!dir.exists());
    assert!(!provisioner.uninstall(LuaVersion::Lua51).unwrap());
    assert!(provisioner.installed(LuaVersion::Lua51).is_none());
    let names: Vec<_> = std::fs::read_dir(data.path().join("interpreters"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".lock"))
        .collect();
    assert!(names.is_empty(), "{names:?}");
}

#[test]
fn the_provisioned_lua_command_behaves_like_lua() {
    for v in [LuaVersion::Lua51, LuaVersion::Lua54] {
        let lua = interpreter(v).path;
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("s.lua");
        std::fs::write(
            &script,
            "print(arg[0], ...) os.exit(arg[1] == 'fail' and 3 or 0)",
        )
        .unwrap();
        let run = |args: &[&str], stdin: &str| {
            use std::io::Write;
            let mut child = std::process::Command::new(&lua)
                .args(args)
                .current_dir(dir.path())
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(stdin.as_bytes())
                .unwrap();
            let out = child.wait_with_output().unwrap();
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        };
        let (code, out, _) = run(&["s.lua", "a", "b"], "");
        assert_eq!((code, out.as_str()), (Some(0), "s.lua\ta\tb\n"), "{v}");
        assert_eq!(run(&["s.lua", "fail"], "").0, Some(3));
        let (_, out, _) = run(&["-e", "x = 6", "-e", "print(x * 7)"], "");
        assert_eq!(out, "42\n");
        let (_, out, _) = run(&["-l", "string", "-e", "print(string.upper('ok'))"], "");
        assert_eq!(out, "OK\n");
        let (_, out, _) = run(&["-v"], "");
        assert!(out.starts_with(&format!("Lua {}.", v.as_str())), "{out}");
        let (_, out, _) = run(&["-"], "print('from stdin')");
        assert_eq!(out, "from stdin\n");
        let (_, out, _) = run(&[], "print('piped')");
        assert_eq!(out, "piped\n");
        let (_, out, _) = run(&["-i"], "x = 2\nx * 21\nfor i = 1, 2 do\nprint(i)\nend\n");
        assert!(out.contains("42\n"), "{out}");
        assert!(out.contains("1\n2\n"), "{out}");
        let (code, _, err) = run(&["-e", "error('boom')"], "");
        assert_eq!(code, Some(1));
        assert!(
            err.contains("boom") && err.contains("stack traceback"),
            "{err}"
        );
        let (code, _, err) = run(&["-x"], "");
        assert_eq!(code, Some(1));
        assert!(err.contains("unrecognized option '-x'"), "{err}");
    }
}

#[test]
fn the_library_finds_pylua_interpreters_first() {
    let home = shared_home();
    let paths = Paths {
        config: home.join("config"),
        data: home.join("data"),
        cache: home.join("cache"),
        state: home.join("cache"),
    };
    let expected = interpreter(LuaVersion::Lua53);
    let found = pylua::interpreters::find(LuaVersion::Lua53, &paths).unwrap();
    assert_eq!(found.path, expected.path);
    assert_eq!(found.origin, Origin::Pylua);
    assert!(Path::new(&found.path).starts_with(home.join("data/interpreters")));
}

#[test]
fn an_interpreter_that_is_not_one_is_a_clear_error() {
    let fake = |path: &str| Interpreter {
        version: LuaVersion::Lua54,
        release: "Lua 5.4.0".into(),
        path: PathBuf::from(path),
        aliases: Vec::new(),
        origin: Origin::Path,
        include_dir: None,
        library: None,
    };
    let err = ProcessVm::builder()
        .interpreter(fake("/bin/false"))
        .build()
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Runtime);
    assert!(
        err.message
            .contains("cannot start a session in the Lua 5.4.0 interpreter '/bin/false': it exited with status 1"),
        "{err}"
    );
    let err = ProcessVm::builder()
        .interpreter(fake("/nonexistent/lua"))
        .build()
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Io);
    assert!(err.message.contains("cannot start"), "{err}");
}
