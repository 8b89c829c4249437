//! Host functions a binding registers ([`Vm::register`]): a function of the host (a Python
//! callable, say) that Lua calls like any other, with values crossing as data (JSON-shaped
//! arguments in, results or an error message out).
//!
//! Each is a Lua C closure over the address of its [`HostCell`], which the VM owns and frees
//! after the state that can call it is closed. No mlua handle is made, so runs and calls on
//! the VM keep their direct path (with the handle, every one would take mlua's lock).

use super::error::VmError;
use super::stack::{push_json, JsonReader};
use super::state::protect;
use super::vm::{classify, Vm};
use mlua::ffi;
use serde_json::Value as Json;
use std::ffi::c_int;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// What a host function gets (its arguments) and gives (its results, or the message of the
/// error raised in Lua).
pub type HostFunction = Box<dyn FnMut(Vec<Json>) -> Result<Vec<Json>, String> + Send>;

/// One registered function, and what its last call left for Lua to take: values owned here,
/// not by the C function's frame, which a Lua error may leave by `longjmp`.
pub(super) struct HostCell {
    function: HostFunction,
    /// Set while the function runs: a call that reaches it again meanwhile is refused
    /// (`FnMut` is not reentrant).
    busy: bool,
    results: Vec<Json>,
    error: String,
}

impl Vm {
    /// Makes `function` the global Lua function `name`. It is called with its arguments as
    /// JSON values (read as [`Vm::eval`] returns values); its results come back to Lua as
    /// values, and an `Err(message)` raises `message` as a Lua error (which `pcall` catches).
    /// After [`Vm::reset`] the function is gone.
    ///
    /// ```
    /// # use pylua::Vm;
    /// let mut vm = Vm::new()?;
    /// vm.register("double", Box::new(|args| Ok(vec![(args[0].as_i64().unwrap_or(0) * 2).into()])))?;
    /// assert_eq!(vm.eval("return double(21)")?, vec![serde_json::json!(42)]);
    /// # Ok::<(), pylua::VmError>(())
    /// ```
    pub fn register(&mut self, name: &str, function: HostFunction) -> Result<(), VmError> {
        let mut cell = Box::new(HostCell {
            function,
            busy: false,
            results: Vec::new(),
            error: String::new(),
        });
        let address: *mut HostCell = &mut *cell;
        // SAFETY: the VM's state, at rest on this thread; inside `protect` only references
        // and raw pointers are alive. The cell's address stays valid as long as the state:
        // the box moves into `self.hosts`, which `reset` and `drop` clear only after the
        // state that holds the closure is closed.
        let result = self.state.with_state(|state| unsafe {
            protect(state, 0, 0, |s| {
                ffi::lua_rawgeti(s, ffi::LUA_REGISTRYINDEX, ffi::LUA_RIDX_GLOBALS);
                ffi::lua_pushlstring(s, name.as_ptr().cast(), name.len());
                ffi::lua_pushlightuserdata(s, address.cast());
                ffi::lua_pushcclosure(s, host_call, 1);
                ffi::lua_rawset(s, -3);
                ffi::lua_pop(s, 1);
            })
        });
        // Kept even when registering failed: the closure may exist all the same.
        self.hosts.push(cell);
        let fired = self.guard.fired();
        self.guard.reset_run();
        result.map_err(|f| classify(f, fired, &self.limits()))
    }
}

/// The Lua side of every host function: reads the arguments, calls the host with nothing
/// of Lua's on its frames, then pushes the results (or raises the error) from the cell.
///
/// # Safety
/// Only as a Lua C function whose upvalue 1 is the address of a live [`HostCell`].
unsafe extern "C-unwind" fn host_call(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: Lua calls this with `state`, the calling thread; upvalue 1 was set by
    // `Vm::register` to a cell that outlives the state. Nothing with a destructor is alive
    // in this frame when a call that may raise is made (the pushes and `lua_error` below):
    // the values pushed are read through the cell, which owns them.
    unsafe {
        let cell = ffi::lua_touserdata(state, ffi::lua_upvalueindex(1)) as *mut HostCell;
        if cell.is_null() {
            ffi::luaL_error(state, c"host function without its cell".as_ptr());
        }
        let n = ffi::lua_gettop(state);
        let ok = call_host(&mut *cell, || {
            let mut reader = JsonReader::new();
            (1..=n)
                .map(|i| reader.read(state, i))
                .collect::<Vec<Json>>()
        });
        if !ok {
            let error = &(*cell).error;
            ffi::lua_pushlstring(state, error.as_ptr().cast(), error.len());
            ffi::lua_error(state);
        }
        let results = &(*cell).results;
        let count = c_int::try_from(results.len()).unwrap_or(c_int::MAX);
        ffi::luaL_checkstack(state, count, c"too many results".as_ptr());
        for value in results {
            push_json(state, value);
        }
        // Pushed: the cell need not hold them until the next call (nothing raises past here).
        (*cell).results.clear();
        count
    }
}

/// Calls the cell's function on the arguments `read` gives, leaving its results or its
/// error message in the cell; false for an error. Raises nothing: every Rust value made
/// here is dropped before it returns.
fn call_host(cell: &mut HostCell, read: impl FnOnce() -> Vec<Json>) -> bool {
    cell.results.clear();
    cell.error.clear();
    if cell.busy {
        cell.error
            .push_str("a host function cannot be called again while it runs");
        return false;
    }
    cell.busy = true;
    let args = read();
    let outcome = catch_unwind(AssertUnwindSafe(|| (cell.function)(args)));
    cell.busy = false;
    match outcome {
        Ok(Ok(results)) => {
            cell.results = results;
            true
        }
        Ok(Err(message)) => {
            cell.error = message;
            false
        }
        Err(_) => {
            cell.error.push_str("the host function panicked");
            false
        }
    }
}
