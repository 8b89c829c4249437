//! Calling one Lua function from Rust many times, without JSON in between:
//! [`crate::Vm::function`] keeps a global function in the VM, and
//! [`crate::Vm::call_function`] calls it with typed arguments and result.
//!
//! Arguments are numbers and booleans only (and tuples of up to four): they go onto the Lua
//! stack without allocating, so a call is one protected Lua call and nothing else. Strings
//! and tables go through [`crate::Vm::call`] and JSON.

use super::error::{ErrorKind, VmError};
use super::stack::{string_at, to_json_at, type_name_at, JsonReader};
use mlua::ffi;
use serde_json::Value as Json;
use std::ffi::c_int;

/// A Lua function held by one VM, from [`crate::Vm::function`].
///
/// It stays valid until the VM is dropped or reset, or until
/// [`crate::Vm::release_function`]; calling it on another VM is an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmFunction {
    pub(crate) vm: u64,
    pub(crate) key: c_int,
}

/// Arguments of [`crate::Vm::call_function`]: `()`, one of `i64`, `i32`, `u32`, `f64` and
/// `bool`, or a tuple of up to four of them.
pub trait CallArgs: private::Push {}

/// What [`crate::Vm::call_function`] returns: `()` (results dropped), `i64`, `f64`, `bool`
/// (Lua truthiness), `String`, one `serde_json::Value`, or every result as a
/// `Vec<serde_json::Value>`.
pub trait CallResult: private::Read {}

pub(crate) mod private {
    use super::*;

    pub trait Push {
        /// Pushes the arguments and returns how many.
        ///
        /// # Safety
        /// The stack must have room for them (at most four).
        unsafe fn push(self, state: *mut ffi::lua_State) -> c_int;
    }

    pub trait Read: Sized {
        /// How many results to ask Lua for (`LUA_MULTRET`: all).
        const RESULTS: c_int;
        /// Reads the `n` results that start at stack index `first`.
        ///
        /// # Safety
        /// They must be there; nothing else may use the state meanwhile.
        unsafe fn read(state: *mut ffi::lua_State, first: c_int, n: c_int)
            -> Result<Self, VmError>;
    }
}

use private::{Push, Read};

/// One argument.
pub trait CallArg: Copy {
    #[doc(hidden)]
    /// # Safety
    /// The stack must have room for one more value.
    unsafe fn push_one(self, state: *mut ffi::lua_State);
}

// SAFETY (each `push_one` below): the caller guarantees a free slot; pushing a number or a
// boolean allocates nothing, so it cannot raise.
impl CallArg for i64 {
    unsafe fn push_one(self, state: *mut ffi::lua_State) {
        // SAFETY: see above.
        unsafe { ffi::lua_pushinteger(state, self) }
    }
}
impl CallArg for i32 {
    unsafe fn push_one(self, state: *mut ffi::lua_State) {
        // SAFETY: see above.
        unsafe { ffi::lua_pushinteger(state, self.into()) }
    }
}
impl CallArg for u32 {
    unsafe fn push_one(self, state: *mut ffi::lua_State) {
        // SAFETY: see above.
        unsafe { ffi::lua_pushinteger(state, self.into()) }
    }
}
impl CallArg for f64 {
    unsafe fn push_one(self, state: *mut ffi::lua_State) {
        // SAFETY: see above.
        unsafe { ffi::lua_pushnumber(state, self) }
    }
}
impl CallArg for bool {
    unsafe fn push_one(self, state: *mut ffi::lua_State) {
        // SAFETY: see above.
        unsafe { ffi::lua_pushboolean(state, self as c_int) }
    }
}

impl Push for () {
    unsafe fn push(self, _: *mut ffi::lua_State) -> c_int {
        0
    }
}
impl CallArgs for () {}

impl<A: CallArg> Push for A {
    unsafe fn push(self, state: *mut ffi::lua_State) -> c_int {
        // SAFETY: the caller's room for the arguments covers this one.
        unsafe { self.push_one(state) };
        1
    }
}
impl<A: CallArg> CallArgs for A {}

macro_rules! tuple_args {
    ($n:expr; $($t:ident $v:ident),+) => {
        impl<$($t: CallArg),+> Push for ($($t,)+) {
            unsafe fn push(self, state: *mut ffi::lua_State) -> c_int {
                let ($($v,)+) = self;
                // SAFETY: the caller's room for (at most four) arguments covers these.
                unsafe { $($v.push_one(state);)+ }
                $n
            }
        }
        impl<$($t: CallArg),+> CallArgs for ($($t,)+) {}
    };
}
tuple_args!(1; A a);
tuple_args!(2; A a, B b);
tuple_args!(3; A a, B b, C c);
tuple_args!(4; A a, B b, C c, D d);

/// The error for a result of the wrong type.
///
/// # Safety
/// `index` must be an acceptable index of `state`, which no one else uses meanwhile.
unsafe fn unexpected(state: *mut ffi::lua_State, index: c_int, wanted: &str) -> VmError {
    // SAFETY: the caller's contract.
    let got = unsafe { type_name_at(state, index) };
    VmError::new(
        ErrorKind::Runtime,
        format!("the function returned {got} where {wanted} was expected"),
    )
}

impl Read for () {
    const RESULTS: c_int = 0;
    unsafe fn read(_: *mut ffi::lua_State, _: c_int, _: c_int) -> Result<Self, VmError> {
        Ok(())
    }
}
impl CallResult for () {}

impl Read for i64 {
    const RESULTS: c_int = 1;
    unsafe fn read(state: *mut ffi::lua_State, first: c_int, _: c_int) -> Result<Self, VmError> {
        // SAFETY: the result is at `first` (the caller's contract); only read, and a string
        // is never converted in place (the type is checked as well as the conversion).
        unsafe {
            let mut ok = 0;
            let i = ffi::lua_tointegerx(state, first, &mut ok);
            if ok != 0 && ffi::lua_type(state, first) == ffi::LUA_TNUMBER {
                Ok(i)
            } else {
                Err(unexpected(state, first, "an integer"))
            }
        }
    }
}
impl CallResult for i64 {}

impl Read for f64 {
    const RESULTS: c_int = 1;
    unsafe fn read(state: *mut ffi::lua_State, first: c_int, _: c_int) -> Result<Self, VmError> {
        // SAFETY: the result is at `first` (the caller's contract); only read.
        unsafe {
            if ffi::lua_type(state, first) == ffi::LUA_TNUMBER {
                Ok(ffi::lua_tonumberx(state, first, std::ptr::null_mut()))
            } else {
                Err(unexpected(state, first, "a number"))
            }
        }
    }
}
impl CallResult for f64 {}

impl Read for bool {
    const RESULTS: c_int = 1;
    unsafe fn read(state: *mut ffi::lua_State, first: c_int, _: c_int) -> Result<Self, VmError> {
        // SAFETY: the result is at `first` (the caller's contract); only read.
        Ok(unsafe { ffi::lua_toboolean(state, first) } != 0)
    }
}
impl CallResult for bool {}

impl Read for String {
    const RESULTS: c_int = 1;
    unsafe fn read(state: *mut ffi::lua_State, first: c_int, _: c_int) -> Result<Self, VmError> {
        // SAFETY: the result is at `first` (the caller's contract) and stays there while
        // its bytes are copied; a string is read in place.
        unsafe {
            if ffi::lua_type(state, first) == ffi::LUA_TSTRING {
                Ok(String::from_utf8_lossy(string_at(state, first)).into_owned())
            } else {
                Err(unexpected(state, first, "a string"))
            }
        }
    }
}
impl CallResult for String {}

impl Read for Json {
    const RESULTS: c_int = 1;
    unsafe fn read(state: *mut ffi::lua_State, first: c_int, _: c_int) -> Result<Self, VmError> {
        // SAFETY: the result is at `first` (the caller's contract).
        Ok(unsafe { to_json_at(state, first) })
    }
}
impl CallResult for Json {}

impl Read for Vec<Json> {
    const RESULTS: c_int = ffi::LUA_MULTRET;
    unsafe fn read(state: *mut ffi::lua_State, first: c_int, n: c_int) -> Result<Self, VmError> {
        let mut reader = JsonReader::new();
        Ok((first..first + n)
            // SAFETY: the `n` results are at `first..first + n` (the caller's contract).
            .map(|i| unsafe { reader.read(state, i) })
            .collect())
    }
}
impl CallResult for Vec<Json> {}
