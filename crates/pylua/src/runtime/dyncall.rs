//! Calls whose arguments are only known at run time — what a host language binding makes
//! (the Python module's `vm.call("add", 1, 2)` and its function handles) — without a JSON
//! document in between: each argument goes straight onto the Lua stack, and the lookup,
//! the arguments and the call happen inside one protected call.
//!
//! [`crate::Vm::call`] builds JSON and makes two protected calls (one to push, one to
//! run); [`crate::Vm::call_function`] is faster still but takes its argument types at
//! compile time. This sits between: any number of [`Arg`]s, strings and tables included.

use super::call::VmFunction;
use super::error::{ErrorKind, VmError};
use super::stack::{push_json, type_name_at, JsonReader};
use super::state::{self, pop_failure, traceback};
use super::vm::{Failed, Vm};
use mlua::ffi;
use serde_json::Value as Json;
use std::ffi::{c_int, c_void};

/// One argument of [`Vm::call_args`].
#[derive(Debug, Clone, Copy)]
pub enum Arg<'a> {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Bytes, as Lua strings are (need not be UTF-8).
    Str(&'a [u8]),
    /// Anything else, as JSON (arrays and objects become tables).
    Json(&'a Json),
}

impl Arg<'_> {
    /// Pushing it allocates nothing (so it cannot raise).
    fn is_plain(&self) -> bool {
        matches!(self, Arg::Nil | Arg::Bool(_) | Arg::Int(_) | Arg::Float(_))
    }
}

/// One result of [`Vm::call_args_returning`]: nil, booleans, integers and finite numbers as
/// they are, anything else as [`Vm::call_args`] gives it (JSON).
#[derive(Debug, Clone, PartialEq)]
pub enum Returned {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Json(Json),
}

impl From<Returned> for Json {
    fn from(value: Returned) -> Json {
        match value {
            Returned::Nil => Json::Null,
            Returned::Bool(b) => Json::Bool(b),
            Returned::Int(i) => Json::from(i),
            // Finite by construction ([`returned_at`]).
            Returned::Float(x) => serde_json::Number::from_f64(x).map_or(Json::Null, Json::Number),
            Returned::Json(j) => j,
        }
    }
}

/// The result at `index`: scalars read in place, anything else by `reader` (whose budget
/// the call's results share).
///
/// # Safety
/// As [`JsonReader::read`].
unsafe fn returned_at(
    state: *mut ffi::lua_State,
    index: c_int,
    reader: &mut JsonReader,
) -> Returned {
    // SAFETY: the caller's contract; type queries and reads of numbers in place only.
    unsafe {
        match ffi::lua_type(state, index) {
            ffi::LUA_TNIL => Returned::Nil,
            ffi::LUA_TBOOLEAN => Returned::Bool(ffi::lua_toboolean(state, index) != 0),
            ffi::LUA_TNUMBER if ffi::lua_isinteger(state, index) != 0 => {
                Returned::Int(ffi::lua_tointeger(state, index))
            }
            ffi::LUA_TNUMBER => match ffi::lua_tonumberx(state, index, std::ptr::null_mut()) {
                x if x.is_finite() => Returned::Float(x),
                _ => Returned::Json(reader.read(state, index)),
            },
            _ => Returned::Json(reader.read(state, index)),
        }
    }
}

/// A JSON sink seen as a [`Returned`] one.
struct AsJson<'a, E>(&'a mut E);

impl<E: Extend<Json>> Extend<Returned> for AsJson<'_, E> {
    fn extend<I: IntoIterator<Item = Returned>>(&mut self, values: I) {
        self.0.extend(values.into_iter().map(Json::from));
    }
}

/// Plain arguments up to this many are pushed without a protected call around them.
const DIRECT_ARGS: usize = 16;

/// Pushes a plain argument ([`Arg::is_plain`]); anything else becomes nil.
///
/// # Safety
/// A free slot on `state`, a live thread no one else uses meanwhile.
unsafe fn push_plain(state: *mut ffi::lua_State, arg: Arg<'_>) {
    // SAFETY: the caller's contract; none of these allocates.
    unsafe {
        match arg {
            Arg::Bool(b) => ffi::lua_pushboolean(state, b as c_int),
            Arg::Int(i) => ffi::lua_pushinteger(state, i),
            Arg::Float(x) => ffi::lua_pushnumber(state, x),
            _ => ffi::lua_pushnil(state),
        }
    }
}

/// What to call.
#[derive(Debug, Clone, Copy)]
pub enum Callee<'a> {
    /// The global function of this name, looked up at the call.
    Global(&'a str),
    /// A function kept by [`Vm::function`].
    Function(&'a VmFunction),
}

/// What the trampoline reads: everything by reference, nothing with a destructor (it may be
/// left by `longjmp`).
struct CallFrame<'a> {
    callee: Callee<'a>,
    args: &'a [Arg<'a>],
}

impl Vm {
    /// Calls a global function or a kept one with `args`, returning every result as JSON.
    /// Limits, the timeout and interrupts apply as to every run.
    ///
    /// ```
    /// # use pylua::Vm;
    /// # use pylua::runtime::{Arg, Callee};
    /// let mut vm = Vm::new()?;
    /// vm.exec("function greet(name, n) return name:rep(n) end", "lib")?;
    /// let out = vm.call_args(Callee::Global("greet"), &[Arg::Str(b"ab"), Arg::Int(2)])?;
    /// assert_eq!(out, vec![serde_json::json!("abab")]);
    /// # Ok::<(), pylua::VmError>(())
    /// ```
    pub fn call_args(
        &mut self,
        callee: Callee<'_>,
        args: &[Arg<'_>],
    ) -> Result<Vec<Json>, VmError> {
        let mut out = Vec::new();
        self.call_args_into(callee, args, &mut out)?;
        Ok(out)
    }

    /// [`Vm::call_args`], appending the results to `out`: a caller that calls often can keep
    /// one buffer, or one on its stack (a `SmallVec`), instead of allocating one per call.
    pub fn call_args_into(
        &mut self,
        callee: Callee<'_>,
        args: &[Arg<'_>],
        out: &mut impl Extend<Json>,
    ) -> Result<(), VmError> {
        self.call_args_returning(callee, args, &mut AsJson(out))
    }

    /// [`Vm::call_args_into`], with scalar results as they are ([`Returned`]): a binding
    /// turns those into its own numbers without a JSON value in between.
    pub fn call_args_returning(
        &mut self,
        callee: Callee<'_>,
        args: &[Arg<'_>],
        out: &mut impl Extend<Returned>,
    ) -> Result<(), VmError> {
        if matches!(callee, Callee::Function(f) if f.vm != self.id) {
            return Err(VmError::new(
                ErrorKind::Usage,
                "this function belongs to another VM, or to this one before it was reset",
            ));
        }
        if c_int::try_from(args.len()).is_err() {
            return Err(VmError::new(
                ErrorKind::Usage,
                "too many arguments for a Lua call",
            ));
        }
        let frame = CallFrame { callee, args };
        // A kept function with arguments that allocate nothing needs no protection to be
        // pushed: the call alone, as `call_function` makes it.
        let direct = match callee {
            Callee::Function(f) if args.len() <= DIRECT_ARGS && args.iter().all(Arg::is_plain) => {
                Some(f.key)
            }
            _ => None,
        };
        // SAFETY: the VM's state, at rest on this thread (`run` hands it over). Direct:
        // slots are reserved for the handler, the function and the arguments, none of which
        // allocates. Else: three slots for the handler, the trampoline and the frame's
        // address; the frame outlives the protected call, and `trampoline` is only called
        // with it.
        self.run(|state| unsafe {
            let base = ffi::lua_gettop(state);
            let code = if let Some(key) = direct {
                state::reserve(state, DIRECT_ARGS as c_int + 2)?;
                ffi::lua_pushcfunction(state, traceback);
                ffi::lua_rawgeti(state, ffi::LUA_REGISTRYINDEX, key.into());
                for arg in args {
                    push_plain(state, *arg);
                }
                ffi::lua_pcall(state, args.len() as c_int, ffi::LUA_MULTRET, base + 1)
            } else {
                state::reserve(state, 3)?;
                ffi::lua_pushcfunction(state, traceback);
                ffi::lua_pushcfunction(state, trampoline);
                ffi::lua_pushlightuserdata(state, &frame as *const CallFrame as *mut c_void);
                ffi::lua_pcall(state, 1, ffi::LUA_MULTRET, base + 1)
            };
            if code != ffi::LUA_OK {
                let failure = pop_failure(state, code);
                ffi::lua_settop(state, base);
                return Err(Failed::Lua(failure));
            }
            let top = ffi::lua_gettop(state);
            let mut reader = JsonReader::new();
            out.extend((base + 2..=top).map(|i| returned_at(state, i, &mut reader)));
            ffi::lua_settop(state, base);
            Ok(())
        })
    }
}

/// Looks the function up, pushes the arguments and calls it, inside the protected call:
/// argument 1 is the [`CallFrame`]'s address. Its results are the call's.
///
/// # Safety
/// Only as the function [`Vm::call_args`] calls. Errors leave by `longjmp`: nothing here has
/// a destructor.
unsafe extern "C-unwind" fn trampoline(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: argument 1 is the frame's address, alive until the protected call returns;
    // every push is covered by the `luaL_checkstack` before it (which raises on failure, as
    // does any allocation here: both caught by the protected call).
    unsafe {
        let frame = &*(ffi::lua_touserdata(state, 1) as *const CallFrame);
        ffi::lua_settop(state, 0);
        let nargs = frame.args.len() as c_int;
        ffi::luaL_checkstack(state, nargs + 4, c"too many arguments".as_ptr());
        match frame.callee {
            Callee::Global(name) => {
                ffi::lua_rawgeti(state, ffi::LUA_REGISTRYINDEX, ffi::LUA_RIDX_GLOBALS);
                ffi::lua_pushlstring(state, name.as_ptr().cast(), name.len());
                ffi::lua_gettable(state, -2);
                ffi::lua_remove(state, -2);
                if ffi::lua_type(state, -1) != ffi::LUA_TFUNCTION {
                    let what = type_name_at(state, -1);
                    ffi::lua_pushstring(state, c"'".as_ptr());
                    ffi::lua_pushlstring(state, name.as_ptr().cast(), name.len());
                    ffi::lua_pushstring(state, c"' is not a function (it is ".as_ptr());
                    ffi::lua_pushlstring(state, what.as_ptr().cast(), what.len());
                    ffi::lua_pushstring(state, c")".as_ptr());
                    ffi::lua_concat(state, 5);
                    ffi::lua_error(state);
                }
            }
            Callee::Function(f) => {
                ffi::lua_rawgeti(state, ffi::LUA_REGISTRYINDEX, f.key.into());
            }
        }
        for arg in frame.args {
            match *arg {
                Arg::Str(s) => {
                    ffi::lua_pushlstring(state, s.as_ptr().cast(), s.len());
                }
                Arg::Json(j) => push_json(state, j),
                plain => push_plain(state, plain),
            }
        }
        ffi::lua_call(state, nargs, ffi::LUA_MULTRET);
        ffi::lua_gettop(state)
    }
}
