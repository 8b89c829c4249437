//! The embedded VM: a Lua 5.4 state compiled into the binary, built with a sandbox policy and
//! limits, that runs chunks and files, calls functions and moves values in and out as JSON.

use super::error::{ErrorKind, VmError};
use super::guard::{self, Abort, Guard};
use super::limits::Limits;
use super::output::OutputHandle;
use super::sandbox::{AllowedDirs, Sandbox, PRELUDE};
use super::settings::{settings_setters, VmSettings};
use super::value::{from_json, to_json};
use mlua::{ffi, Function, Lua, LuaOptions, MultiValue, Value};
use serde_json::Value as Json;
use std::collections::HashMap;
use std::ffi::{c_int, c_void};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// The release of the embedded Lua (the `lua-src` crate vendors it; `547` is 5.4.7).
pub const LUA_RELEASE: &str = "Lua 5.4.7";

/// Compiled chunks kept per VM for [`Vm::eval`]; beyond this the cache starts over.
const CHUNK_CACHE_LIMIT: usize = 256;

/// Builds a [`Vm`]. Defaults: the `strict` sandbox, no limits, buffered output.
#[derive(Debug, Default)]
pub struct VmBuilder {
    settings: VmSettings,
}

impl VmBuilder {
    settings_setters!();

    pub fn build(self) -> Result<Vm, VmError> {
        let s = self.settings;
        let config = Config {
            sandbox: s.sandbox,
            limits: s.limits,
            allowed: AllowedDirs::new(&s.allowed_dirs),
            package_path: s.package_path,
            package_cpath: s.package_cpath,
        };
        let output = OutputHandle::new(s.output);
        let (lua, guard) = new_state(&config, &output)?;
        Ok(Vm {
            chunks: HashMap::new(),
            lua,
            guard,
            output,
            config,
        })
    }
}

#[derive(Debug, Clone)]
struct Config {
    sandbox: Sandbox,
    limits: Limits,
    allowed: AllowedDirs,
    package_path: Option<String>,
    package_cpath: Option<String>,
}

/// One independent Lua 5.4 state with its policy, limits and captured output.
///
/// A `Vm` is `Send`: it may move to another thread, but is used from one thread at a time.
/// After a limit fires the VM stays usable (the next run starts with a fresh budget and
/// deadline); [`Vm::reset`] gives a clean state with the same settings.
pub struct Vm {
    // Declared before `lua` so cached functions are released first.
    chunks: HashMap<String, Function>,
    lua: Lua,
    guard: Arc<Guard>,
    output: OutputHandle,
    config: Config,
}

impl Drop for Vm {
    fn drop(&mut self) {
        self.chunks.clear();
        // The state may outlive the guard only with its own allocator back.
        unsafe { self.guard.detach() };
    }
}

fn new_state(config: &Config, output: &OutputHandle) -> Result<(Lua, Arc<Guard>), VmError> {
    let lua = unsafe { Lua::unsafe_new_with(config.sandbox.libs(), LuaOptions::new()) };
    let main = unsafe {
        let mut main = std::ptr::null_mut();
        lua.exec_raw::<()>((), |state| {
            ffi::lua_rawgeti(state, ffi::LUA_REGISTRYINDEX, ffi::LUA_RIDX_MAINTHREAD);
            main = ffi::lua_tothread(state, -1);
            ffi::lua_pop(state, 1);
        })
        .map_err(|e| internal(&e))?;
        main
    };
    let limits = config.limits;
    let guard = unsafe { Guard::attach(main, limits.memory, limits.instructions) };
    let install = || -> mlua::Result<()> {
        let out_ptr = output.as_ptr() as *mut c_void;
        type Installed = (Function, Function, Option<Function>, Option<Function>);
        let (print, write, arm, aborted): Installed = unsafe {
            lua.exec_raw((), |state| {
                ffi::lua_pushlightuserdata(state, out_ptr);
                ffi::lua_pushcclosure(state, captured_print, 1);
                ffi::lua_pushlightuserdata(state, out_ptr);
                ffi::lua_pushcclosure(state, captured_write, 1);
                if limits.is_unlimited() {
                    ffi::lua_pushnil(state);
                    ffi::lua_pushnil(state);
                } else {
                    ffi::lua_pushcfunction(state, guard::arm_coroutine);
                    ffi::lua_pushcfunction(state, guard::aborted);
                }
            })?
        };
        // With limits, the pattern functions come from the interruptible matcher (guard.rs).
        let patterns: Option<mlua::Table> = if limits.is_unlimited() {
            None
        } else {
            Some(unsafe {
                lua.exec_raw((), |state| {
                    // Opening the library replaces the string metatable; keep the original,
                    // whose `__index` is the sandboxed `string` table.
                    ffi::lua_pushstring(state, c"".as_ptr());
                    ffi::lua_getmetatable(state, -1);
                    guard::pylua_luaopen_string_interruptible(state);
                    ffi::lua_pushvalue(state, -3);
                    ffi::lua_pushvalue(state, -3);
                    ffi::lua_setmetatable(state, -2);
                    ffi::lua_pop(state, 1);
                    ffi::lua_rotate(state, -3, 1);
                    ffi::lua_pop(state, 2);
                })?
            })
        };
        // Only the standard policy checks paths.
        let checker = if config.sandbox == Sandbox::Standard {
            let allowed = config.allowed.clone();
            Some(
                lua.create_function(move |_, (path, _writing): (String, bool)| {
                    Ok(allowed.allows(&path))
                })?,
            )
        } else {
            None
        };
        lua.load(prelude_bytecode(config.sandbox, !limits.is_unlimited()))
            .set_name("=pylua.prelude")
            .set_mode(mlua::ChunkMode::Binary)
            .call::<()>((
                config.sandbox.as_str(),
                print,
                write,
                checker,
                arm,
                aborted,
                patterns,
            ))?;
        if config.sandbox != Sandbox::Strict {
            let package: mlua::Table = lua.globals().get("package")?;
            let prepend = |key: &str, extra: &str| -> mlua::Result<()> {
                let current: String = package.get(key)?;
                package.set(key, format!("{extra};{current}"))
            };
            if let Some(path) = &config.package_path {
                prepend("path", path)?;
            }
            if config.sandbox == Sandbox::None {
                if let Some(cpath) = &config.package_cpath {
                    prepend("cpath", cpath)?;
                }
            }
        }
        Ok(())
    };
    // Nothing built here is garbage: collecting while building would only cost time.
    lua.gc_stop();
    let installed = install();
    lua.gc_restart();
    if let Err(e) = installed {
        unsafe { guard.detach() };
        let fired = guard.fired();
        return Err(classify(e, fired, &config.limits));
    }
    Ok((lua, guard))
}

/// The prelude for one policy, with or without limits, compiled once per process: loading
/// bytecode skips the parser, and leaving out the sections other policies need keeps a strict
/// VM from loading the standard policy's code. It is our own code, compiled by the same Lua,
/// so loading it as a binary chunk is safe (user code is never loaded as bytecode under a
/// sandbox).
fn prelude_bytecode(sandbox: Sandbox, limited: bool) -> &'static [u8] {
    use std::sync::OnceLock;
    static COMPILED: [OnceLock<Vec<u8>>; 6] = [const { OnceLock::new() }; 6];
    let slot = sandbox as usize * 2 + usize::from(limited);
    COMPILED[slot].get_or_init(|| {
        let source = prelude_source(PRELUDE, sandbox.as_str(), limited);
        let lua = Lua::new();
        lua.load(source)
            .set_name("=pylua.prelude")
            .into_function()
            .expect("the prelude compiles")
            .dump(true)
    })
}

/// The lines of the `--@ all` sections and of the sections tagged with `policy` (and
/// `limits`, when limited). Left-out lines become empty, so line numbers stay the file's.
fn prelude_source(text: &str, policy: &str, limited: bool) -> String {
    let mut keep = true;
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if let Some(tags) = line.strip_prefix("--@ ") {
            keep = tags
                .split_whitespace()
                .any(|t| t == "all" || t == policy || (limited && t == "limits"));
        } else if keep {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

fn internal(e: &mlua::Error) -> VmError {
    VmError::new(ErrorKind::Runtime, format!("cannot set up the VM: {e}"))
}

impl Vm {
    /// Starts building a VM.
    pub fn builder() -> VmBuilder {
        VmBuilder::default()
    }

    /// A VM with the `strict` policy and no limits.
    pub fn new() -> Result<Vm, VmError> {
        Vm::builder().build()
    }

    pub fn sandbox(&self) -> Sandbox {
        self.config.sandbox
    }

    pub fn limits(&self) -> Limits {
        self.config.limits
    }

    /// Runs `source` as a chunk named `eval` and returns what it returns. The compiled chunk
    /// is cached, so running the same snippet again skips the compiler.
    pub fn eval(&mut self, source: &str) -> Result<Vec<Json>, VmError> {
        if !self.chunks.contains_key(source) {
            let f = self.compile(source, "=eval")?;
            if self.chunks.len() >= CHUNK_CACHE_LIMIT {
                self.chunks.clear();
            }
            self.chunks.insert(source.to_string(), f);
        }
        let function = &self.chunks[source];
        self.run(|| function.call::<MultiValue>(()))
    }

    /// Runs `source` as a chunk with the given name (used in error messages and tracebacks).
    pub fn exec(&mut self, source: &str, chunk_name: &str) -> Result<Vec<Json>, VmError> {
        let function = self.compile(source, &format!("={chunk_name}"))?;
        self.run(|| function.call::<MultiValue>(()))
    }

    /// Runs a line typed at a prompt: as an expression whose values are returned when it is
    /// one (`1 + 1`, `f()`), else as a statement. A syntax error that only lacks more input
    /// has [`VmError::incomplete`] set, so a REPL can ask for another line.
    pub fn eval_interactive(&mut self, source: &str) -> Result<Vec<Json>, VmError> {
        let function = match self.compile(&format!("return {source}"), "=stdin") {
            Ok(f) => f,
            Err(_) => self.compile(source, "=stdin")?,
        };
        self.run(|| function.call::<MultiValue>(()))
    }

    /// Runs a script file as the `lua` command does: `arg[0]` is the script, `arg[1..]` and
    /// `...` are `args`, and a first line starting with `#` is skipped.
    pub fn run_file(&mut self, path: &Path, args: &[String]) -> Result<Vec<Json>, VmError> {
        let bytes = std::fs::read(path).map_err(|e| {
            VmError::new(
                ErrorKind::Io,
                format!("cannot read script '{}': {}", path.display(), io_reason(&e)),
            )
        })?;
        let source = skip_shebang(&bytes);
        let name = format!("@{}", path.display());
        let function = self
            .lua
            .load(source)
            .set_name(name)
            .set_mode(mlua::ChunkMode::Text)
            .into_function()
            .map_err(|e| classify(e, Abort::None, &self.config.limits))?;
        let arg = self.lua.create_table().map_err(|e| internal(&e))?;
        let set_args = || -> mlua::Result<()> {
            arg.raw_set(-1, "pylua")?;
            arg.raw_set(0, path.display().to_string())?;
            for (i, a) in args.iter().enumerate() {
                arg.raw_set(i as i64 + 1, self.lua.create_string(a)?)?;
            }
            self.lua.globals().raw_set("arg", &arg)
        };
        set_args().map_err(|e| classify(e, self.guard.fired(), &self.config.limits))?;
        let lua_args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.run(|| {
            function.call::<MultiValue>(MultiValue::from_iter(
                lua_args
                    .iter()
                    .filter_map(|a| self.lua.create_string(a).ok())
                    .map(Value::String),
            ))
        })
    }

    /// Calls the global function `name` with JSON arguments.
    pub fn call(&mut self, name: &str, args: &[Json]) -> Result<Vec<Json>, VmError> {
        let value: Value = self
            .lua
            .globals()
            .get(name)
            .map_err(|e| classify(e, Abort::None, &self.config.limits))?;
        let Value::Function(function) = value else {
            return Err(VmError::new(
                ErrorKind::Runtime,
                format!("'{name}' is not a function (it is {})", value.type_name()),
            ));
        };
        let lua_args = args
            .iter()
            .map(|a| from_json(&self.lua, a))
            .collect::<mlua::Result<Vec<Value>>>()
            .map_err(|e| classify(e, self.guard.fired(), &self.config.limits))?;
        self.run(|| function.call::<MultiValue>(MultiValue::from_iter(lua_args)))
    }

    /// Reads a global variable as JSON (`null` when unset).
    pub fn get_global(&self, name: &str) -> Result<Json, VmError> {
        let value: Value = self
            .lua
            .globals()
            .raw_get(name)
            .map_err(|e| classify(e, Abort::None, &self.config.limits))?;
        Ok(to_json(&value))
    }

    /// Sets a global variable from JSON.
    pub fn set_global(&mut self, name: &str, value: &Json) -> Result<(), VmError> {
        let result = from_json(&self.lua, value).and_then(|v| self.lua.globals().raw_set(name, v));
        let fired = self.guard.fired();
        self.guard.reset_run();
        result.map_err(|e| classify(e, fired, &self.config.limits))
    }

    /// Returns and clears the captured output (lossy UTF-8).
    pub fn take_output(&mut self) -> String {
        String::from_utf8_lossy(&self.output.take()).into_owned()
    }

    /// Returns and clears the captured output as bytes.
    pub fn take_output_bytes(&mut self) -> Vec<u8> {
        self.output.take()
    }

    /// Bytes the Lua state holds now.
    pub fn used_memory(&self) -> usize {
        self.guard.used_memory()
    }

    /// Replaces the state with a fresh one with the same policy, limits and output.
    pub fn reset(&mut self) -> Result<(), VmError> {
        let (lua, guard) = new_state(&self.config, &self.output)?;
        self.chunks.clear();
        unsafe { self.guard.detach() };
        self.lua = lua;
        self.guard = guard;
        Ok(())
    }

    /// The underlying `mlua` state, for hosts that need more than this API.
    ///
    /// Code run through it directly is not covered by the timeout (instruction and memory
    /// limits still apply); prefer [`Vm::eval`], [`Vm::exec`] and [`Vm::call`].
    pub fn lua(&self) -> &Lua {
        &self.lua
    }

    fn compile(&self, source: &str, name: &str) -> Result<Function, VmError> {
        let result = self
            .lua
            .load(source)
            .set_name(name)
            .set_mode(mlua::ChunkMode::Text)
            .into_function();
        let fired = self.guard.fired();
        if fired != Abort::None {
            self.guard.reset_run();
        }
        result.map_err(|e| classify(e, fired, &self.config.limits))
    }

    /// Runs `f` under the limits, then turns what it returned into JSON or a typed error.
    fn run(&self, f: impl FnOnce() -> mlua::Result<MultiValue>) -> Result<Vec<Json>, VmError> {
        let deadline = self
            .config
            .limits
            .timeout
            .map(|t| guard::arm_deadline(&self.guard, Instant::now() + t));
        let result = f();
        drop(deadline);
        let fired = self.guard.fired();
        self.guard.reset_run();
        if fired == Abort::Memory {
            // Give the failed run's garbage back now, so the next run starts with room.
            let _ = self.lua.gc_collect();
        }
        match result {
            Ok(values) if fired == Abort::None => Ok(values.iter().map(to_json).collect()),
            Ok(_) => Err(limit_error(fired, &self.config.limits)),
            Err(e) => Err(classify(e, fired, &self.config.limits)),
        }
    }
}

fn limit_error(fired: Abort, limits: &Limits) -> VmError {
    match fired {
        Abort::Timeout => VmError::new(
            ErrorKind::Timeout,
            format!(
                "the script ran longer than its {:?} limit",
                limits.timeout.unwrap_or_default()
            ),
        ),
        Abort::Instructions => VmError::new(
            ErrorKind::InstructionLimit,
            format!(
                "the script ran more than its limit of {} instructions",
                limits.instructions.unwrap_or_default()
            ),
        ),
        Abort::Memory | Abort::None => VmError::new(
            ErrorKind::MemoryLimit,
            format!(
                "the script needed more than its {} memory limit",
                human_bytes(limits.memory.unwrap_or_default())
            ),
        ),
    }
}

/// Turns an `mlua` error into a [`VmError`]; a fired limit wins over whatever message the
/// script's error handlers left.
fn classify(error: mlua::Error, fired: Abort, limits: &Limits) -> VmError {
    if fired != Abort::None {
        return limit_error(fired, limits);
    }
    match error {
        mlua::Error::SyntaxError {
            message,
            incomplete_input,
        } => {
            let mut e = VmError::located(ErrorKind::Syntax, &message);
            e.incomplete = incomplete_input;
            e
        }
        mlua::Error::MemoryError(_) => limit_error(Abort::Memory, limits),
        mlua::Error::CallbackError { traceback, cause } => {
            let mut e = classify((*cause).clone(), fired, limits);
            if e.traceback.is_none() {
                e.traceback = Some(traceback);
            }
            e
        }
        mlua::Error::RuntimeError(text) => {
            let (message, traceback) = match text.find("\nstack traceback:") {
                Some(i) => (&text[..i], Some(text[i + 1..].to_string())),
                None => (text.as_str(), None),
            };
            let mut e = VmError::located(ErrorKind::Runtime, message);
            e.traceback = traceback;
            e
        }
        other => VmError::new(ErrorKind::Runtime, other.to_string()),
    }
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

fn skip_shebang(bytes: &[u8]) -> Vec<u8> {
    if bytes.first() == Some(&b'#') {
        // Keep the newline so line numbers stay right.
        let end = bytes
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or(bytes.len());
        bytes[end..].to_vec()
    } else {
        bytes.to_vec()
    }
}

pub(crate) fn human_bytes(n: usize) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if value.fract() == 0.0 {
        format!("{value} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `print` for the VM: formats like Lua's own (`tostring` of each argument, tabs, newline)
/// and writes to the VM's output. A Lua C function; the output handle is upvalue 1.
unsafe extern "C-unwind" fn captured_print(state: *mut ffi::lua_State) -> c_int {
    let n = ffi::lua_gettop(state);
    // First convert everything (this may raise a Lua error, so nothing with a destructor
    // may be alive yet), then write.
    for i in 1..=n {
        ffi::luaL_tolstring(state, i, std::ptr::null_mut());
    }
    let mut line = Vec::new();
    for i in 1..=n {
        let mut len = 0;
        let ptr = ffi::lua_tolstring(state, n + i, &mut len);
        if i > 1 {
            line.push(b'\t');
        }
        line.extend_from_slice(std::slice::from_raw_parts(ptr as *const u8, len));
    }
    line.push(b'\n');
    write_out(state, &line);
    0
}

/// `io.write` for the VM: strings and numbers, as Lua's own.
unsafe extern "C-unwind" fn captured_write(state: *mut ffi::lua_State) -> c_int {
    let n = ffi::lua_gettop(state);
    for i in 1..=n {
        ffi::luaL_checklstring(state, i, std::ptr::null_mut());
    }
    let mut bytes = Vec::new();
    for i in 1..=n {
        let mut len = 0;
        let ptr = ffi::lua_tolstring(state, i, &mut len);
        bytes.extend_from_slice(std::slice::from_raw_parts(ptr as *const u8, len));
    }
    write_out(state, &bytes);
    0
}

unsafe fn write_out(state: *mut ffi::lua_State, bytes: &[u8]) {
    let handle = ffi::lua_touserdata(state, ffi::lua_upvalueindex(1)) as *const c_void;
    OutputHandle::write_raw(handle, bytes);
}

#[cfg(test)]
mod prelude_tests {
    use super::*;

    #[test]
    fn each_policy_compiles_only_its_sections() {
        let strict = prelude_source(PRELUDE, "strict", false);
        let standard = prelude_source(PRELUDE, "standard", true);
        let none = prelude_source(PRELUDE, "none", false);
        assert!(strict.contains("keep_only") && !strict.contains("searchpath"));
        assert!(standard.contains("searchpath") && !standard.contains("keep_only"));
        assert!(standard.contains("co.create") && !strict.contains("co.create"));
        assert!(!none.contains("text_only_load") && none.contains("G.io.write"));
        // Line numbers stay the file's.
        assert_eq!(strict.lines().count(), PRELUDE.lines().count());
        for sandbox in [Sandbox::None, Sandbox::Standard, Sandbox::Strict] {
            for limited in [false, true] {
                assert!(!prelude_bytecode(sandbox, limited).is_empty());
            }
        }
    }
}
