//! The escape suite: code under the `strict` and `standard` policies tries every known way
//! out of its sandbox; each attempt must fail and leave the host untouched.

use pylua::runtime::{ErrorKind, Limits, Sandbox, Vm};
use serde_json::{json, Value};
use std::time::Duration;

fn vm(sandbox: Sandbox) -> Vm {
    Vm::builder().sandbox(sandbox).build().unwrap()
}

fn eval(vm: &mut Vm, code: &str) -> Value {
    let values = vm
        .eval(code)
        .unwrap_or_else(|e| panic!("{code}\n  failed: {e}"));
    values.into_iter().next().unwrap_or(Value::Null)
}

/// Runs `code` under both restrictive policies and expects `true`.
fn holds_in_both(code: &str) {
    for sandbox in [Sandbox::Strict, Sandbox::Standard] {
        let mut vm = vm(sandbox);
        assert_eq!(eval(&mut vm, code), json!(true), "{sandbox}: {code}");
    }
}

#[test]
fn binary_chunks_are_refused_by_load() {
    // A real Lua 5.4 bytecode header; the body does not matter, the mode check comes first.
    holds_in_both(
        r#"local f, err = load("\27Lua\84\0\25\147\13\10\26\10\4\8\8")
           return f == nil and err:find("binary chunk") ~= nil"#,
    );
    holds_in_both(
        r#"local f, err = load("\27Lua", "x", "b")
           return f == nil and err:find("binary chunk") ~= nil"#,
    );
    // Under standard, string.dump exists but what it makes cannot be loaded back.
    let mut std_vm = vm(Sandbox::Standard);
    assert_eq!(
        eval(
            &mut std_vm,
            "local f, err = load(string.dump(function() return 1 end)) return f == nil and err"
        ),
        json!("attempt to load a binary chunk (mode is 't')")
    );
    // Nor through a reader function.
    holds_in_both(
        r#"local parts, i = { "\27Lua\84", "\0" }, 0
           local f = load(function() i = i + 1 return parts[i] end)
           return f == nil"#,
    );
}

#[test]
fn strict_has_no_dump_debug_io_package_or_native_modules() {
    let mut vm = vm(Sandbox::Strict);
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
        "loadstring",
        "module",
    ] {
        assert_eq!(
            eval(&mut vm, &format!("return {name} == nil")),
            json!(true),
            "{name}"
        );
    }
    for name in [
        "os.time",
        "os.clock",
        "os.date",
        "io.write",
        "print",
        "coroutine.wrap",
    ] {
        assert_eq!(
            eval(&mut vm, &format!("return type({name})")),
            json!("function"),
            "{name}"
        );
    }
}

#[test]
fn standard_keeps_files_but_not_processes_or_native_code() {
    let mut vm = vm(Sandbox::Standard);
    for name in [
        "os.execute",
        "os.exit",
        "os.tmpname",
        "io.popen",
        "package.loadlib",
        "debug.getinfo",
        "debug.sethook",
        "debug.getregistry",
        "debug.getupvalue",
        "debug.setmetatable",
    ] {
        assert_eq!(
            eval(&mut vm, &format!("return {name} == nil")),
            json!(true),
            "{name}"
        );
    }
    assert_eq!(eval(&mut vm, "return #package.searchers"), json!(2));
    assert_eq!(eval(&mut vm, "return package.cpath"), json!(""));
    assert_eq!(
        eval(&mut vm, "return type(debug.traceback)"),
        json!("function")
    );
}

#[test]
fn aliases_and_registries_do_not_reach_removed_functions() {
    holds_in_both(
        r#"local o = os return o["exe" .. "cute"] == nil and _G["o" .. "s"].exit == nil"#,
    );
    holds_in_both(r#"return rawget(rawget(_G, "os"), "execute") == nil"#);
    holds_in_both(r#"return (rawget(_G, "io") or {}).popen == nil"#);
    holds_in_both(
        r#"for k, v in pairs(_G) do
             if type(v) == "table" then
               for name in pairs(v) do
                 if name == "execute" or name == "popen" or name == "loadlib" then return k .. "." .. name end
               end
             end
           end
           return true"#,
    );
    // Standard: the module table `require` returns is the same trimmed table.
    let mut vm = vm(Sandbox::Standard);
    assert_eq!(
        eval(
            &mut vm,
            r#"return require("os").execute == nil and require("io").popen == nil and package.loaded.os.exit == nil"#
        ),
        json!(true)
    );
}

#[test]
fn load_with_a_custom_environment_reaches_nothing_new() {
    holds_in_both(r#"return load("return os.execute", "x", "t", { os = os })() == nil"#);
    holds_in_both(
        r#"local env = setmetatable({}, { __index = function(_, k) return rawget(_G, k) end })
           return load("return io.popen or os.exit or require and require('io').popen", "x", "t", env)() == nil"#,
    );
    // An explicit nil environment gives a chunk with no globals at all.
    holds_in_both(r#"return load("return 1", "x", "t", nil)() == 1"#);
    holds_in_both(
        r#"local ok, err = pcall(load("return print('x')", "x", "t", nil)) return not ok"#,
    );
}

#[test]
fn getfenv_style_tricks_and_env_upvalues_find_nothing() {
    holds_in_both("return getfenv == nil and setfenv == nil");
    holds_in_both("local function f() return _ENV end return f().os.execute == nil");
    holds_in_both("local _ENV = setmetatable({}, {__index = _G}) return os.execute == nil");
    // In strict there is no debug library to read upvalues of the sandbox's own wrappers.
    let mut vm = vm(Sandbox::Strict);
    assert_eq!(
        eval(
            &mut vm,
            "return pcall(function() return debug.getupvalue(load, 1) end) == false"
        ),
        json!(true)
    );
}

#[test]
fn string_metatable_is_hidden_in_strict() {
    let mut vm = vm(Sandbox::Strict);
    assert_eq!(eval(&mut vm, r#"return getmetatable("")"#), json!(false));
    assert_eq!(
        eval(
            &mut vm,
            r#"return pcall(function() getmetatable("").__index = {} end)"#
        ),
        json!(false)
    );
    // Methods still work.
    assert_eq!(eval(&mut vm, r#"return ("abc"):upper()"#), json!("ABC"));
}

#[test]
fn vms_share_no_tables() {
    let mut a = vm(Sandbox::Strict);
    let mut b = vm(Sandbox::Strict);
    eval(&mut a, "string.upper = function() return 'pwned' end; math.pi = 3; rawset(_G, 'leak', 1); print = nil");
    assert_eq!(eval(&mut b, r#"return ("a"):upper()"#), json!("A"));
    assert_eq!(
        eval(
            &mut b,
            "return math.pi > 3.14 and leak == nil and type(print) == 'function'"
        ),
        json!(true)
    );
    // And a fresh VM after both is pristine too.
    let mut c = vm(Sandbox::Standard);
    assert_eq!(eval(&mut c, r#"return ("a"):upper()"#), json!("A"));
}

#[test]
fn rawset_on_globals_changes_only_this_vm() {
    let mut a = vm(Sandbox::Strict);
    eval(
        &mut a,
        "rawset(_G, 'os', { execute = function() return 'fake' end })",
    );
    assert_eq!(eval(&mut a, "return os.execute()"), json!("fake"));
    let mut b = vm(Sandbox::Strict);
    assert_eq!(eval(&mut b, "return os.execute == nil"), json!(true));
}

#[test]
fn collectgarbage_is_count_only_in_strict() {
    let mut vm = vm(Sandbox::Strict);
    assert_eq!(
        eval(&mut vm, "return type(collectgarbage('count'))"),
        json!("number")
    );
    for opt in [
        "",
        "'stop'",
        "'collect'",
        "'step'",
        "'incremental'",
        "'generational'",
        "'setpause', 1",
    ] {
        let code = if opt.is_empty() {
            "return pcall(collectgarbage)".to_string()
        } else {
            format!("return pcall(collectgarbage, {opt})")
        };
        assert_eq!(eval(&mut vm, &code), json!(false), "{opt}");
    }
}

#[test]
fn native_modules_cannot_be_required() {
    let dir = tempfile::tempdir().unwrap();
    // A file that looks like a shared library in an allowed directory.
    std::fs::write(dir.path().join("evil.so"), b"\x7fELF").unwrap();
    let mut vm = Vm::builder()
        .sandbox(Sandbox::Standard)
        .allow_dir(dir.path())
        .build()
        .unwrap();
    let code = format!(
        r#"package.cpath = "{}/?.so"
           local ok, err = pcall(require, "evil")
           return not ok and err:find("module 'evil' not found") ~= nil"#,
        dir.path().display()
    );
    assert_eq!(eval(&mut vm, &code), json!(true));
    let mut strict = Vm::new().unwrap();
    assert_eq!(
        eval(
            &mut strict,
            "return pcall(function() return require('evil') end)"
        ),
        json!(false)
    );
}

#[test]
fn standard_files_stay_inside_allowed_directories() {
    let allowed = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.txt");
    std::fs::write(&secret, "top secret").unwrap();
    std::fs::write(outside.path().join("mod.lua"), "return 'outside module'").unwrap();
    std::fs::write(allowed.path().join("inside.lua"), "return 'inside module'").unwrap();
    std::os::unix::fs::symlink(&secret, allowed.path().join("link.txt")).unwrap();
    let a = allowed.path().display().to_string();
    let o = outside.path().display().to_string();
    let mut vm = Vm::builder()
        .sandbox(Sandbox::Standard)
        .allow_dir(allowed.path())
        .build()
        .unwrap();

    // Inside: read and write work.
    let code = format!(
        r#"local f = assert(io.open("{a}/note.txt", "w")) f:write("hello") f:close()
           local r = assert(io.open("{a}/note.txt")) local s = r:read("a") r:close()
           return s"#
    );
    assert_eq!(eval(&mut vm, &code), json!("hello"));

    // Outside, directly, through `..`, through a symlink, and through every file function.
    for attempt in [
        format!(r#"io.open("{o}/secret.txt")"#),
        format!(
            r#"io.open("{a}/../{}/secret.txt")"#,
            outside.path().file_name().unwrap().to_str().unwrap()
        ),
        format!(r#"io.open("{a}/link.txt")"#),
        format!(r#"io.open("{o}/new.txt", "w")"#),
        format!(r#"io.lines("{o}/secret.txt")"#),
        format!(r#"io.input("{o}/secret.txt")"#),
        format!(r#"io.output("{o}/new.txt")"#),
        format!(r#"dofile("{o}/secret.txt")"#),
        format!(r#"loadfile("{o}/mod.lua")"#),
        format!(r#"os.remove("{o}/secret.txt")"#),
        format!(r#"os.rename("{o}/secret.txt", "{a}/stolen.txt")"#),
        "io.open('/etc/passwd')".to_string(),
    ] {
        let code =
            format!("local ok, err = pcall(function() return {attempt} end) return not ok and err");
        let got = eval(&mut vm, &code);
        assert!(
            got.as_str()
                .is_some_and(|m| m.contains("outside the directories this sandbox allows")),
            "{attempt} -> {got}"
        );
    }
    assert!(secret.exists());
    assert!(!outside.path().join("new.txt").exists());
    assert!(!allowed.path().join("stolen.txt").exists());

    // require: only modules inside the allowed directories are found.
    let code = format!(r#"package.path = "{o}/?.lua;{a}/?.lua" return require("inside")"#);
    assert_eq!(eval(&mut vm, &code), json!("inside module"));
    let code = format!(r#"package.path = "{o}/?.lua" return select(2, pcall(require, "mod"))"#);
    let err = eval(&mut vm, &code);
    assert!(
        err.as_str().unwrap().contains("module 'mod' not found"),
        "{err}"
    );
}

#[test]
fn none_refuses_sethook_while_limited() {
    let mut vm = Vm::builder()
        .sandbox(Sandbox::None)
        .limits(Limits::new().timeout(Duration::from_millis(300)))
        .build()
        .unwrap();
    let err = vm.eval("debug.sethook() while true do end").unwrap_err();
    assert_eq!(err.kind, ErrorKind::Runtime);
    assert!(
        err.message.contains("debug.sethook is not available"),
        "{}",
        err.message
    );
    // Even when the refusal is swallowed, the loop still meets the timeout.
    let err = vm
        .eval("pcall(debug.sethook) while true do end")
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Timeout);
}

#[test]
fn output_is_captured_not_printed() {
    for sandbox in [Sandbox::Strict, Sandbox::Standard, Sandbox::None] {
        let mut vm = vm(sandbox);
        vm.eval(r#"print("a", 1, 2.5, nil, true) io.write("b", 3, "\n") io.write("c"):write("d") io.stdout:write("e")"#)
            .unwrap();
        assert_eq!(
            vm.take_output(),
            "a\t1\t2.5\tnil\ttrue\nb3\ncde",
            "{sandbox}"
        );
        assert_eq!(vm.take_output(), "");
    }
}
