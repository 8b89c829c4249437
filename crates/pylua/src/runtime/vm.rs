//! The embedded VM: a Lua 5.4 state compiled into the binary, built with a sandbox policy and
//! limits, that runs chunks and files, calls functions and moves values in and out as JSON.
//!
//! Everything runs on the state through Lua's C API (`state.rs` says why); the sandbox itself
//! is Lua code (`lua/prelude.lua`) run once per VM.

use super::call::{CallArgs, CallResult, VmFunction};
use super::error::{ErrorKind, VmError};
use super::guard::{self, Abort, Guard};
use super::host_functions::{allowed_path, captured_print, captured_write};
use super::interrupt::{self, InterruptCell, Interrupter};
use super::limits::Limits;
use super::net::{NetAudit, NetSession};
use super::output::OutputHandle;
use super::sandbox::{sections, AllowedDirs, Sandbox, PRELUDE};
use super::settings::{settings_setters, VmSettings};
use super::stack::{push_json, to_json_at, type_name_at, JsonReader};
use super::state::{self, protect, traceback, LuaFailure, RawState};
use mlua::{ffi, Lua};
use serde_json::Value as Json;
use std::cell::Cell;
use std::collections::HashMap;
use std::ffi::{c_int, c_void, CStr, CString};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
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
        let luasocket_cpath = s.luasocket_cpath()?;
        let config = VmConfig {
            sandbox: s.sandbox,
            limits: s.limits,
            allowed: Arc::new(s.allowed()),
            luasocket_cpath,
            package_path: s.package_path,
            package_cpath: s.package_cpath,
            net: s.net.map(|policy| Arc::new(NetSession::new(policy))),
        };
        let output = OutputHandle::new(s.output);
        let (state, guard) = new_state(&config, &output)?;
        Ok(Vm {
            chunks: HashMap::new(),
            state,
            hosts: Vec::new(),
            guard,
            output,
            config,
            id: next_id(),
            collecting: Cell::new(false),
            interrupts: InterruptCell::new(),
        })
    }
}

/// What a VM is built with: its policy, limits, module paths and allowed directories.
#[derive(Debug, Clone)]
struct VmConfig {
    sandbox: Sandbox,
    limits: Limits,
    /// Shared with the state's path checker, which holds a pointer to it.
    allowed: Arc<AllowedDirs>,
    package_path: Option<String>,
    package_cpath: Option<String>,
    /// Where LuaSocket's C modules load from under `standard` (`--allow-luasocket`).
    luasocket_cpath: Option<String>,
    /// The network policy and its per-run use, when scripts have `net`; the state's `net`
    /// function holds a pointer to it.
    net: Option<Arc<NetSession>>,
}

/// One independent Lua 5.4 state with its policy, limits and captured output.
///
/// A `Vm` is `Send`: it may move to another thread, but is used from one thread at a time
/// (it is not `Sync`). After a limit fires the VM stays usable (the next run starts with a
/// fresh budget and deadline); [`Vm::reset`] gives a clean state with the same settings.
pub struct Vm {
    /// Registry references of the compiled chunks of [`Vm::eval`], by source.
    chunks: HashMap<String, c_int>,
    // The fields below are dropped in order: the state is closed while the guard (its
    // allocator), the output and the allowed directories it points to are still alive.
    pub(super) state: RawState,
    /// The cells of the host functions the state's closures point at ([`Vm::register`]):
    /// freed only once the state is closed. Boxed: the closures hold their addresses, which
    /// must not move when the vector grows.
    #[allow(clippy::vec_box)]
    pub(super) hosts: Vec<Box<super::host_call::HostCell>>,
    pub(super) guard: Arc<Guard>,
    output: OutputHandle,
    config: VmConfig,
    /// Tells this VM's [`VmFunction`]s from others'; a new one after [`Vm::reset`].
    pub(super) id: u64,
    /// Whether the collector runs: it stays off from the state's creation until code first
    /// runs, since a fresh state holds no garbage (a snippet's compiler is then not slowed by
    /// a collection cycle over the freshly built sandbox).
    collecting: Cell<bool>,
    /// Shared with this VM's [`Interrupter`]s; the same across [`Vm::reset`].
    interrupts: Arc<InterruptCell>,
}

fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Relaxed)
}

fn new_state(config: &VmConfig, output: &OutputHandle) -> Result<(RawState, Arc<Guard>), VmError> {
    let limits = config.limits;
    let limited = !limits.is_unlimited();
    let guard = Guard::new(&limits);
    // The strict policy refuses `__gc` and has no `io`: nothing to do when its state closes.
    let may_need_close = config.sandbox != Sandbox::Strict;
    // SAFETY: the state is dropped before the guard, here and in `Vm`.
    let Some(state) = (unsafe { RawState::new(&guard, may_need_close) }) else {
        return Err(too_small_for_a_vm(&limits));
    };
    guard.setting_up();
    let main = state.main();
    let libs = config.sandbox.libraries(limited);
    let prelude = prelude_bytecode(config.sandbox, limited);
    let policy = config.sandbox.as_str();
    let out_ptr = output.as_ptr() as *mut c_void;
    let allowed_ptr = Arc::as_ptr(&config.allowed) as *mut c_void;
    let sandbox = config.sandbox;
    let net = config.net.as_ref().map(Arc::as_ptr);
    let guard_ptr = Arc::as_ptr(&guard);
    let luasocket_cpath = config.luasocket_cpath.as_deref();
    let (path, cpath) = match sandbox {
        Sandbox::Strict => (None, None),
        Sandbox::Standard => (config.package_path.as_deref(), None),
        Sandbox::None => (
            config.package_path.as_deref(),
            config.package_cpath.as_deref(),
        ),
    };
    // SAFETY: everything that may raise runs inside `protect`, and nothing in the closure
    // has a destructor.
    let built = unsafe {
        // Nothing built here is garbage: collecting while building would only cost time.
        // The collector starts with the first run (`Vm::run`) or the mlua handle.
        ffi::lua_gc(main, ffi::LUA_GCSTOP, 0);
        protect(main, 0, 0, |s| {
            // Globals and loaded modules sized for what the policy puts there, so opening
            // the libraries does not grow them key by key.
            ffi::lua_createtable(s, 0, 64);
            ffi::lua_rawseti(s, ffi::LUA_REGISTRYINDEX, ffi::LUA_RIDX_GLOBALS);
            ffi::lua_createtable(s, 0, 16);
            ffi::lua_setfield(s, ffi::LUA_REGISTRYINDEX, c"_LOADED".as_ptr());
            state::open_libs(s, libs);
            let status = ffi::luaL_loadbufferx(
                s,
                prelude.as_ptr().cast(),
                prelude.len(),
                c"=pylua.prelude".as_ptr(),
                c"b".as_ptr(),
            );
            if status != ffi::LUA_OK {
                ffi::lua_error(s);
            }
            ffi::lua_pushlstring(s, policy.as_ptr().cast(), policy.len());
            ffi::lua_pushlightuserdata(s, out_ptr);
            ffi::lua_pushcclosure(s, captured_print, 1);
            ffi::lua_pushlightuserdata(s, out_ptr);
            ffi::lua_pushcclosure(s, captured_write, 1);
            if sandbox == Sandbox::Standard {
                ffi::lua_pushlightuserdata(s, allowed_ptr);
                ffi::lua_pushcclosure(s, allowed_path, 1);
            } else {
                ffi::lua_pushnil(s);
            }
            if limited {
                ffi::lua_pushcfunction(s, guard::aborted);
            } else {
                ffi::lua_pushnil(s);
            }
            match luasocket_cpath {
                Some(cpath) => {
                    ffi::lua_pushlstring(s, cpath.as_ptr().cast(), cpath.len());
                }
                None => ffi::lua_pushnil(s),
            }
            ffi::lua_call(s, 6, 0);
            for (key, extra) in [(c"path", path), (c"cpath", cpath)] {
                if let Some(extra) = extra {
                    ffi::lua_getglobal(s, c"package".as_ptr());
                    ffi::lua_pushlstring(s, extra.as_ptr().cast(), extra.len());
                    ffi::lua_pushstring(s, c";".as_ptr());
                    ffi::lua_getfield(s, -3, key.as_ptr());
                    ffi::lua_concat(s, 3);
                    ffi::lua_setfield(s, -2, key.as_ptr());
                    ffi::lua_pop(s, 1);
                }
            }
            if let Some(net) = net {
                super::net::install(s, net, guard_ptr);
            }
        })
    };
    if let Err(failure) = built {
        let fired = guard.fired();
        drop(state);
        return Err(match classify(failure, fired, &limits) {
            e if e.kind == ErrorKind::MemoryLimit => too_small_for_a_vm(&limits),
            e => e,
        });
    }
    guard.reset_run();
    Ok((state, guard))
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
        let source = prelude_source(sandbox, limited);
        let lua = Lua::new();
        lua.load(source)
            .set_name("=pylua.prelude")
            .into_function()
            .expect("the prelude compiles")
            .dump(true)
    })
}

/// The policy's function (`policy.lua`) followed by the prelude's `all` sections, the
/// policy's own and, when limited, the `limits` ones.
fn prelude_source(sandbox: Sandbox, limited: bool) -> String {
    let mut source = sandbox.policy_function();
    let policy = sandbox.as_str();
    source.push_str(&sections(PRELUDE, |tag| {
        tag == "all" || tag == policy || (limited && tag == "limits")
    }));
    source
}

/// Why a run failed.
pub(super) enum Failed {
    /// Lua reported an error: compiling, setting up or running.
    Lua(LuaFailure),
    /// Not an error of Lua's: the message says what.
    Host(VmError),
}

impl From<LuaFailure> for Failed {
    fn from(f: LuaFailure) -> Self {
        Failed::Lua(f)
    }
}

/// Loads `source` as a text chunk and leaves the function on the stack. Lua's loader runs
/// protected itself, so this needs no `protect`.
///
/// # Safety
/// `state` must be the VM's state (or a thread of it) at rest, used by no one else meanwhile.
unsafe fn load(state: *mut ffi::lua_State, source: &[u8], name: &CStr) -> Result<(), LuaFailure> {
    // SAFETY: the caller's contract; a slot is reserved for the chunk or the error, and
    // text mode keeps unverified bytecode out.
    unsafe {
        state::reserve(state, 1)?;
        match ffi::luaL_loadbufferx(
            state,
            source.as_ptr().cast(),
            source.len(),
            name.as_ptr(),
            c"t".as_ptr(),
        ) {
            ffi::LUA_OK => Ok(()),
            code => Err(state::pop_failure(state, code)),
        }
    }
}

/// Calls the function under the `nargs` arguments on top of the stack, with the traceback
/// message handler, and leaves its results in its place; returns how many.
///
/// # Safety
/// As [`load`], with a function and `nargs` arguments on top of the stack.
unsafe fn call(
    state: *mut ffi::lua_State,
    nargs: c_int,
    nresults: c_int,
) -> Result<c_int, LuaFailure> {
    // SAFETY: the caller's contract; the handler's slot is reserved first, and `lua_pcall`
    // catches every error, leaving one error object or the results.
    unsafe {
        // The handler goes under the function: one more slot than the caller pushed.
        state::reserve(state, 1)?;
        let func = ffi::lua_gettop(state) - nargs;
        ffi::lua_pushcfunction(state, traceback);
        ffi::lua_insert(state, func);
        let code = ffi::lua_pcall(state, nargs, nresults, func);
        if code != ffi::LUA_OK {
            let failure = state::pop_failure(state, code);
            ffi::lua_remove(state, func);
            return Err(failure);
        }
        ffi::lua_remove(state, func);
        Ok(ffi::lua_gettop(state) - func + 1)
    }
}

/// Calls as [`call`] and turns every result into JSON, leaving the stack as before the
/// function was pushed.
///
/// # Safety
/// As [`call`].
unsafe fn call_json(state: *mut ffi::lua_State, nargs: c_int) -> Result<Vec<Json>, LuaFailure> {
    // SAFETY: the caller's contract; the `n` results are at `first..first + n` while they
    // are read, and dropped after.
    unsafe {
        let n = call(state, nargs, ffi::LUA_MULTRET)?;
        let first = ffi::lua_gettop(state) - n + 1;
        let mut reader = JsonReader::new();
        let values = (first..first + n).map(|i| reader.read(state, i)).collect();
        ffi::lua_settop(state, first - 1);
        Ok(values)
    }
}

/// Calls the function kept under registry key `key` with the traceback message handler and
/// reads its results as `R`, leaving the stack as it found it.
///
/// # Safety
/// As [`load`]; `key` must be a registry reference of this state.
#[inline]
unsafe fn call_registered<A: CallArgs, R: CallResult>(
    state: *mut ffi::lua_State,
    key: c_int,
    args: A,
) -> Result<R, Failed> {
    // SAFETY: the caller's contract; six slots are reserved for the handler, the function
    // and at most four arguments (none of which allocates), `lua_pcall` catches every
    // error, and the results are read where Lua left them, above `base + 1`.
    unsafe {
        // The handler, the function and at most four arguments.
        state::reserve(state, 6)?;
        let base = ffi::lua_gettop(state);
        ffi::lua_pushcfunction(state, traceback);
        ffi::lua_rawgeti(state, ffi::LUA_REGISTRYINDEX, key.into());
        let nargs = args.push(state);
        let code = ffi::lua_pcall(state, nargs, R::RESULTS, base + 1);
        if code != ffi::LUA_OK {
            let failure = state::pop_failure(state, code);
            ffi::lua_settop(state, base);
            return Err(Failed::Lua(failure));
        }
        let read = R::read(state, base + 2, ffi::lua_gettop(state) - base - 1);
        ffi::lua_settop(state, base);
        read.map_err(Failed::Host)
    }
}

fn chunk_name(name: &str) -> CString {
    CString::new(name.replace('\0', "?")).expect("no NUL left")
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

    /// The requests the last run made through `net` (empty without a network policy).
    pub fn net_audit(&self) -> Vec<NetAudit> {
        self.config
            .net
            .as_ref()
            .map(|n| n.audit())
            .unwrap_or_default()
    }

    /// A handle that stops this VM's running script from another thread or a signal
    /// handler (see [`Interrupter`]). It stays valid across [`Vm::reset`].
    pub fn interrupter(&self) -> Interrupter {
        Interrupter::new(&self.interrupts)
    }

    /// Runs `source` as a chunk named `eval` and returns what it returns. The compiled chunk
    /// is cached, so running the same snippet again skips the compiler.
    pub fn eval(&mut self, source: &str) -> Result<Vec<Json>, VmError> {
        let key = match self.chunks.get(source) {
            Some(&key) => key,
            None => {
                let key = self.compile_cached(source)?;
                self.chunks.insert(source.to_string(), key);
                key
            }
        };
        // SAFETY: the VM's state, at rest on this thread (`with_state` gives it under mlua's lock when the handle exists); `key` is a chunk `compile_cached` kept in this state's registry.
        self.run(|state| unsafe {
            state::reserve(state, 1)?;
            ffi::lua_rawgeti(state, ffi::LUA_REGISTRYINDEX, key.into());
            Ok(call_json(state, 0)?)
        })
    }

    /// Compiles `source` for [`Vm::eval`] and keeps it in the registry.
    fn compile_cached(&mut self, source: &str) -> Result<c_int, VmError> {
        if self.chunks.len() >= CHUNK_CACHE_LIMIT {
            let keys: Vec<c_int> = self.chunks.drain().map(|(_, key)| key).collect();
            // SAFETY: the VM's state, at rest on this thread (`with_state` gives it under mlua's lock when the handle exists); `protect` catches what `luaL_unref` raises, and the closure
            // holds only a reference.
            let released = self.state.with_state(|state| unsafe {
                protect(state, 0, 0, |s| {
                    for &key in &keys {
                        ffi::luaL_unref(s, ffi::LUA_REGISTRYINDEX, key);
                    }
                })
            });
            released.map_err(|f| classify(f, Abort::None, &self.config.limits))?;
        }
        // SAFETY: the VM's state, at rest on this thread (`with_state` gives it under mlua's lock when the handle exists); `load` leaves the chunk for `protect` to take, and the closure
        // holds nothing with a destructor.
        let result = self.state.with_state(|state| unsafe {
            load(state, source.as_bytes(), c"=eval")?;
            let mut key = 0;
            protect(state, 1, 0, |s| {
                key = ffi::luaL_ref(s, ffi::LUA_REGISTRYINDEX)
            })?;
            Ok(key)
        });
        self.after_compile(result)
    }

    /// Runs `source` as a chunk with the given name (used in error messages and tracebacks).
    pub fn exec(&mut self, source: &str, chunk_name: &str) -> Result<Vec<Json>, VmError> {
        let name = self::chunk_name(&format!("={chunk_name}"));
        // SAFETY: the VM's state, at rest on this thread (`with_state` gives it under mlua's lock when the handle exists); `load` leaves only the chunk.
        self.run_chunk(|state| unsafe { load(state, source.as_bytes(), &name) })
    }

    /// Runs a line typed at a prompt: as an expression whose values are returned when it is
    /// one (`1 + 1`, `f()`), else as a statement. A syntax error that only lacks more input
    /// has [`VmError::incomplete`] set, so a REPL can ask for another line.
    pub fn eval_interactive(&mut self, source: &str) -> Result<Vec<Json>, VmError> {
        let expression = format!("return {source}");
        // SAFETY: the VM's state, at rest on this thread (`with_state` gives it under mlua's lock when the handle exists); `load` leaves only the chunk (a failed first try leaves nothing).
        self.run_chunk(|state| unsafe {
            load(state, expression.as_bytes(), c"=stdin")
                .or_else(|_| load(state, source.as_bytes(), c"=stdin"))
        })
    }

    /// Loads a chunk with `load` (which leaves the function on the stack) and runs it.
    fn run_chunk(
        &mut self,
        load: impl FnOnce(*mut ffi::lua_State) -> Result<(), LuaFailure>,
    ) -> Result<Vec<Json>, VmError> {
        self.run(|state| {
            load(state)?;
            // SAFETY: `load` left the chunk on top, where `call_json` expects the function.
            Ok(unsafe { call_json(state, 0)? })
        })
    }

    /// Runs a script file as the `lua` command does: `arg[0]` is the script, `arg[1..]` and
    /// `...` are `args`, and a first line starting with `#` is skipped.
    pub fn run_file(&mut self, path: &Path, args: &[String]) -> Result<Vec<Json>, VmError> {
        let source = super::script::read_script(path, &self.config.limits)?;
        let name = chunk_name(&format!("@{}", path.display()));
        let script = path.display().to_string();
        let nargs = c_int::try_from(args.len())
            .map_err(|_| VmError::new(ErrorKind::Usage, "too many arguments for a Lua script"))?;
        // SAFETY: the VM's state, at rest on this thread (`with_state` gives it under mlua's lock when the handle exists). The closure given to `protect` holds only references
        // and checks the stack for the arguments it pushes; `call_json` finds the chunk under them.
        self.run(|state| unsafe {
            load(state, &source, &name)?;
            // `arg`, and the arguments again as `...`, above the function.
            protect(state, 0, ffi::LUA_MULTRET, |s| {
                ffi::luaL_checkstack(s, nargs + 3, c"too many arguments".as_ptr());
                ffi::lua_createtable(s, nargs, 2);
                ffi::lua_pushstring(s, c"pylua".as_ptr());
                ffi::lua_rawseti(s, -2, -1);
                ffi::lua_pushlstring(s, script.as_ptr().cast(), script.len());
                ffi::lua_rawseti(s, -2, 0);
                for (i, a) in args.iter().enumerate() {
                    ffi::lua_pushlstring(s, a.as_ptr().cast(), a.len());
                    ffi::lua_rawseti(s, -2, i as ffi::lua_Integer + 1);
                }
                ffi::lua_rawgeti(s, ffi::LUA_REGISTRYINDEX, ffi::LUA_RIDX_GLOBALS);
                ffi::lua_pushvalue(s, -2);
                ffi::lua_setfield(s, -2, c"arg".as_ptr());
                ffi::lua_pop(s, 2);
                for a in args {
                    ffi::lua_pushlstring(s, a.as_ptr().cast(), a.len());
                }
            })?;
            Ok(call_json(state, nargs)?)
        })
    }

    /// Calls the global function `name` with JSON arguments.
    pub fn call(&mut self, name: &str, args: &[Json]) -> Result<Vec<Json>, VmError> {
        let nargs = c_int::try_from(args.len())
            .map_err(|_| VmError::new(ErrorKind::Usage, "too many arguments for a Lua call"))?;
        // SAFETY: the VM's state, at rest on this thread (`with_state` gives it under mlua's lock when the handle exists). The closure given to `protect` holds only references and
        // checks the stack for the arguments it pushes; `call_json` finds the function under them.
        self.run(|state| unsafe {
            let mut not_a_function = None;
            protect(state, 0, ffi::LUA_MULTRET, |s| {
                ffi::luaL_checkstack(s, nargs + 3, c"too many arguments".as_ptr());
                ffi::lua_rawgeti(s, ffi::LUA_REGISTRYINDEX, ffi::LUA_RIDX_GLOBALS);
                ffi::lua_pushlstring(s, name.as_ptr().cast(), name.len());
                ffi::lua_gettable(s, -2);
                ffi::lua_remove(s, -2);
                if ffi::lua_type(s, -1) != ffi::LUA_TFUNCTION {
                    not_a_function = Some(type_name_at(s, -1));
                    ffi::lua_pop(s, 1);
                    return;
                }
                for a in args {
                    push_json(s, a);
                }
            })?;
            if let Some(type_name) = not_a_function {
                return Err(Failed::Host(VmError::new(
                    ErrorKind::Runtime,
                    format!("'{name}' is not a function (it is {type_name})"),
                )));
            }
            Ok(call_json(state, nargs)?)
        })
    }

    /// Keeps the global function `name` in the VM for [`Vm::call_function`], the fast way to
    /// call one function many times. It stays valid after the global changes, until the VM
    /// is dropped or reset or [`Vm::release_function`] lets it go.
    pub fn function(&mut self, name: &str) -> Result<VmFunction, VmError> {
        let mut found = None;
        // SAFETY: the VM's state, at rest on this thread (`with_state` gives it under mlua's lock when the handle exists); the closure given to `protect` holds only references and
        // leaves the stack balanced.
        let result = self.state.with_state(|state| unsafe {
            protect(state, 0, 0, |s| {
                ffi::lua_rawgeti(s, ffi::LUA_REGISTRYINDEX, ffi::LUA_RIDX_GLOBALS);
                ffi::lua_pushlstring(s, name.as_ptr().cast(), name.len());
                ffi::lua_gettable(s, -2);
                if ffi::lua_type(s, -1) == ffi::LUA_TFUNCTION {
                    found = Some(Ok(ffi::luaL_ref(s, ffi::LUA_REGISTRYINDEX)));
                } else {
                    found = Some(Err(type_name_at(s, -1)));
                    ffi::lua_pop(s, 1);
                }
                ffi::lua_pop(s, 1);
            })
        });
        let fired = self.guard.fired();
        self.guard.reset_run();
        result.map_err(|f| classify(f, fired, &self.config.limits))?;
        match found {
            Some(Ok(key)) => Ok(VmFunction { vm: self.id, key }),
            Some(Err(type_name)) => Err(VmError::new(
                ErrorKind::Runtime,
                format!("'{name}' is not a function (it is {type_name})"),
            )),
            None => Err(VmError::new(ErrorKind::Runtime, "cannot read the global")),
        }
    }

    /// Calls a function kept by [`Vm::function`] with numbers or booleans, reading its first
    /// result as `R` (see [`CallResult`]). Limits apply as to every run.
    ///
    /// ```
    /// # use pylua::Vm;
    /// let mut vm = Vm::new()?;
    /// vm.exec("function add(a, b) return a + b end", "lib")?;
    /// let add = vm.function("add")?;
    /// assert_eq!(vm.call_function::<_, i64>(&add, (1, 2))?, 3);
    /// # Ok::<(), pylua::VmError>(())
    /// ```
    pub fn call_function<A: CallArgs, R: CallResult>(
        &mut self,
        function: &VmFunction,
        args: A,
    ) -> Result<R, VmError> {
        if function.vm != self.id {
            return Err(foreign_function());
        }
        let key = function.key;
        // SAFETY: the VM's state, at rest on this thread (`run` hands it over); `key`
        // is a function `Vm::function` kept in this state's registry.
        self.run(|state| unsafe { call_registered::<A, R>(state, key, args) })
    }

    /// Lets a function kept by [`Vm::function`] go (it may then be collected).
    pub fn release_function(&mut self, function: VmFunction) -> Result<(), VmError> {
        if function.vm != self.id {
            return Err(foreign_function());
        }
        // SAFETY: the VM's state, at rest on this thread (`with_state` gives it under mlua's lock when the handle exists); `protect` catches what `luaL_unref` raises.
        let result = self.state.with_state(|state| unsafe {
            protect(state, 0, 0, |s| {
                ffi::luaL_unref(s, ffi::LUA_REGISTRYINDEX, function.key)
            })
        });
        result.map_err(|f| classify(f, Abort::None, &self.config.limits))
    }

    /// Reads a global variable as JSON (`null` when unset).
    pub fn get_global(&self, name: &str) -> Result<Json, VmError> {
        // SAFETY: the VM's state, at rest on this thread (`with_state` gives it under mlua's lock when the handle exists); `protect` leaves the one value it pushed, read and popped here.
        let result = self.state.with_state(|state| unsafe {
            protect(state, 0, 1, |s| {
                ffi::lua_rawgeti(s, ffi::LUA_REGISTRYINDEX, ffi::LUA_RIDX_GLOBALS);
                ffi::lua_pushlstring(s, name.as_ptr().cast(), name.len());
                ffi::lua_rawget(s, -2);
                ffi::lua_remove(s, -2);
            })?;
            let value = to_json_at(state, -1);
            ffi::lua_pop(state, 1);
            Ok(value)
        });
        result.map_err(|f| classify(f, Abort::None, &self.config.limits))
    }

    /// Sets a global variable from JSON.
    pub fn set_global(&mut self, name: &str, value: &Json) -> Result<(), VmError> {
        // SAFETY: the VM's state, at rest on this thread (`with_state` gives it under mlua's lock when the handle exists); `push_json` runs under `protect` with only references alive.
        let result = self.state.with_state(|state| unsafe {
            protect(state, 0, 0, |s| {
                ffi::lua_rawgeti(s, ffi::LUA_REGISTRYINDEX, ffi::LUA_RIDX_GLOBALS);
                ffi::lua_pushlstring(s, name.as_ptr().cast(), name.len());
                push_json(s, value);
                ffi::lua_rawset(s, -3);
                ffi::lua_pop(s, 1);
            })
        });
        let fired = self.guard.fired();
        self.guard.reset_run();
        result.map_err(|f| classify(f, fired, &self.config.limits))
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
    /// Functions kept by [`Vm::function`] belong to the old state and are no longer valid.
    pub fn reset(&mut self) -> Result<(), VmError> {
        let (state, guard) = new_state(&self.config, &self.output)?;
        self.chunks.clear();
        // The old state is closed here, while its guard is still alive; then the host
        // functions it could call go.
        self.state = state;
        self.hosts.clear();
        self.guard = guard;
        self.id = next_id();
        self.collecting.set(false);
        Ok(())
    }

    /// The underlying `mlua` state, for hosts that need more than this API. It is set up on
    /// first use (which costs about as much as building the VM did); from then on every
    /// operation of this VM also takes mlua's lock, since the handle may be cloned and used
    /// from another thread.
    ///
    /// Code run through it directly is not covered by the timeout (instruction and memory
    /// limits still apply); prefer [`Vm::eval`], [`Vm::exec`] and [`Vm::call`].
    pub fn lua(&self) -> &Lua {
        // Code run through the handle must be collected like any other.
        self.start_collector();
        self.state.lua(&self.guard)
    }

    fn start_collector(&self) {
        if !self.collecting.replace(true) {
            // SAFETY: the VM's state, at rest on this thread (`with_state` gives it under mlua's lock when the handle exists); `lua_gc` pushes nothing.
            self.state.with_state(|state| unsafe {
                ffi::lua_gc(state, ffi::LUA_GCRESTART, 0);
            });
        }
    }

    /// Turns the outcome of compiling into a result: a limit that fired while compiling is
    /// reported (and cleared) like one that fired while running.
    fn after_compile<T>(&self, result: Result<T, LuaFailure>) -> Result<T, VmError> {
        let fired = self.guard.fired();
        if fired != Abort::None {
            self.guard.reset_run();
        }
        result.map_err(|f| classify(f, fired, &self.config.limits))
    }

    /// Runs `f` on the state under the limits, then turns what it returned into a result.
    ///
    /// Inlined: for a short call, this is most of what the VM adds to Lua's own work. What
    /// only a first run, a network policy or a fired limit needs stays out of line.
    #[inline]
    pub(super) fn run<T>(
        &self,
        f: impl FnOnce(*mut ffi::lua_State) -> Result<T, Failed>,
    ) -> Result<T, VmError> {
        if !self.collecting.get() {
            self.start_collector();
        }
        if let Some(net) = &self.config.net {
            self.begin_net_run(net);
        }
        // The deadline first, the interrupt second (see `Guard::start_timer`).
        let timer = self.config.limits.timeout.map(|_| self.guard.start_timer());
        let running = interrupt::begin(&self.interrupts, Some(&self.guard));
        // `with_state`, written out so that `f` has one call site here and is inlined.
        let result = match self.state.shared() {
            None => f(self.state.main()),
            Some(lua) => self.state.under_lock(lua, f),
        };
        drop(running);
        drop(timer);
        let fired = self.guard.fired();
        self.guard.end_run(fired);
        if fired != Abort::None {
            return Err(self.stopped(fired, result.err()));
        }
        let result = match result {
            Ok(values) => Ok(values),
            Err(Failed::Host(e)) => Err(e),
            Err(Failed::Lua(f)) => Err(classify(f, Abort::None, &self.config.limits)),
        };
        match &self.config.net {
            Some(net) => result.map_err(|e| net.classify(e)),
            None => result,
        }
    }

    #[cold]
    fn begin_net_run(&self, net: &NetSession) {
        let now = Instant::now();
        net.begin_run(self.config.limits.timeout.map(|t| now + t));
    }

    /// The error of a run that `fired` stopped (`failure`: how it ended, if not with values).
    #[cold]
    fn stopped(&self, fired: Abort, failure: Option<Failed>) -> VmError {
        if fired == Abort::Memory {
            // Give the failed run's garbage back now, so the next run starts with room.
            // SAFETY: the VM's state, at rest on this thread (`with_state` gives it under mlua's lock when the handle exists); a full collection raises nothing (finalizers run protected).
            self.state.with_state(|state| unsafe {
                ffi::lua_gc(state, ffi::LUA_GCCOLLECT, 0);
            });
        }
        let error = match failure {
            Some(Failed::Lua(f)) => classify(f, fired, &self.config.limits),
            _ => limit_error(fired, &self.config.limits),
        };
        match &self.config.net {
            Some(net) => net.classify(error),
            None => error,
        }
    }
}

fn foreign_function() -> VmError {
    VmError::new(
        ErrorKind::Usage,
        "this function belongs to another VM, or to this one before it was reset",
    )
}

/// A memory limit the VM's own set-up does not fit in.
fn too_small_for_a_vm(limits: &Limits) -> VmError {
    VmError::new(
        ErrorKind::MemoryLimit,
        format!(
            "the VM itself needs more than its {} memory limit, before any script runs (a \
             fresh VM holds 25-40 KiB, depending on its sandbox)",
            human_bytes(limits.memory.unwrap_or_default())
        ),
    )
}

fn limit_error(fired: Abort, limits: &Limits) -> VmError {
    match fired {
        Abort::Interrupted => VmError::new(ErrorKind::Interrupted, "the script was interrupted"),
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

/// Turns a Lua failure into a [`VmError`]; a fired limit wins over whatever message the
/// script's error handlers left.
pub(super) fn classify(failure: LuaFailure, fired: Abort, limits: &Limits) -> VmError {
    if fired != Abort::None {
        return limit_error(fired, limits);
    }
    let LuaFailure { code, message } = failure;
    match code {
        ffi::LUA_ERRSYNTAX => {
            let mut e = VmError::located(ErrorKind::Syntax, &message);
            // What the stock Lua REPL checks to ask for another line.
            e.incomplete = message.ends_with("<eof>") || message.ends_with("'<eof>'");
            e
        }
        ffi::LUA_ERRMEM => limit_error(Abort::Memory, limits),
        _ => {
            let (text, traceback) = match message.find("\nstack traceback:") {
                Some(i) => (&message[..i], Some(message[i + 1..].to_string())),
                None => (message.as_str(), None),
            };
            let mut e = VmError::located(ErrorKind::Runtime, text);
            e.traceback = traceback;
            e
        }
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

#[cfg(test)]
mod prelude_tests {
    use super::*;

    #[test]
    fn each_policy_compiles_only_its_sections() {
        let strict = prelude_source(Sandbox::Strict, false);
        let standard = prelude_source(Sandbox::Standard, true);
        let none = prelude_source(Sandbox::None, false);
        assert!(strict.contains("G.string.dump = nil") && !strict.contains("searchpath"));
        assert!(standard.contains("searchpath") && !standard.contains("G.string.dump"));
        assert!(standard.contains("aborted()") && !strict.contains("aborted()"));
        assert!(!none.contains("G.load =") && none.contains("io.write = function"));
        for sandbox in [Sandbox::None, Sandbox::Standard, Sandbox::Strict] {
            for limited in [false, true] {
                assert!(!prelude_bytecode(sandbox, limited).is_empty());
            }
        }
    }
}
