//! Values between JSON and the Lua stack, for the C-API paths of `state.rs`: reading a value
//! calls no Lua code and allocates nothing inside Lua, so it may run outside a protected
//! call; pushing one allocates, so it runs under `state::protect`.
//!
//! Rules: `nil` → `null`; integers and floats keep their type (`2` vs `2.0`); strings that are
//! not UTF-8 are converted lossily; a table whose keys are exactly `1..n` becomes an array,
//! any other table an object with string keys (numbers formatted as Lua does); the empty
//! table is `{}`; NaN and infinities become the strings Lua prints (`nan`, `inf`, `-inf`);
//! functions, threads and userdata become descriptive strings such as `"<function>"`; a cycle
//! becomes `"<cycle>"`.

use super::value::format_float;
use mlua::ffi;
use serde_json::{Map, Number, Value as Json};
use std::ffi::c_int;

/// Tables nested deeper than this are cut off (cycles are detected separately).
const MAX_DEPTH: usize = 64;
/// Values from the host nested deeper than this are refused: Lua's own limit on nested C
/// calls and on nesting in its parser (`LUAI_MAXCCALLS`).
pub(crate) const MAX_PUSH_DEPTH: usize = 200;
/// A value shared many times is copied each time into JSON, so `t = {t, t}` forty times over
/// would be 2^40 nodes: conversion stops after this many values or this much text, and what
/// is left becomes a `"<truncated>"` marker.
const MAX_NODES: usize = 1_000_000;
const MAX_TEXT: usize = 64 << 20;

struct Reader {
    /// The tables on the path from the root to the value being read (at most [`MAX_DEPTH`]):
    /// meeting one again is a cycle. A short list, searched linearly: no hashing, and no
    /// allocation at all for a value that is not a table.
    seen: Vec<usize>,
    nodes: usize,
    text: usize,
}

/// Converts the value at `index` to JSON.
///
/// # Safety
/// `index` must be a valid stack index of `state`, and nothing else may use the state
/// meanwhile.
pub(crate) unsafe fn to_json_at(state: *mut ffi::lua_State, index: c_int) -> Json {
    // SAFETY: the caller's contract.
    unsafe { JsonReader::new().read(state, index) }
}

/// Reads several values (a call's arguments or results) under one budget of nodes and text
/// for all of them: `return t, t, t, …` with a big `t` a thousand times over is read whole
/// once, then as `"<truncated>"` markers, instead of a thousand times the budget.
pub(crate) struct JsonReader(Reader);

impl JsonReader {
    pub(crate) fn new() -> JsonReader {
        JsonReader(Reader {
            seen: Vec::new(),
            nodes: MAX_NODES,
            text: MAX_TEXT,
        })
    }

    /// The value at `index`, from what is left of the budget.
    ///
    /// # Safety
    /// As [`to_json_at`].
    pub(crate) unsafe fn read(&mut self, state: *mut ffi::lua_State, index: c_int) -> Json {
        self.0.seen.clear();
        // SAFETY: the caller's contract; reading calls no Lua code and raises nothing.
        unsafe { self.0.read(state, ffi::lua_absindex(state, index), 0) }
    }
}

/// mlua's name for the type of the value at `index` (`integer` and `number` apart).
///
/// # Safety
/// `index` must be an acceptable index of `state`, which no one else uses meanwhile.
pub(crate) unsafe fn type_name_at(state: *mut ffi::lua_State, index: c_int) -> &'static str {
    // SAFETY: the caller's contract; type queries only read.
    match unsafe { ffi::lua_type(state, index) } {
        ffi::LUA_TNIL | ffi::LUA_TNONE => "nil",
        ffi::LUA_TBOOLEAN => "boolean",
        ffi::LUA_TLIGHTUSERDATA => "lightuserdata",
        // SAFETY: as above.
        ffi::LUA_TNUMBER if unsafe { ffi::lua_isinteger(state, index) } != 0 => "integer",
        ffi::LUA_TNUMBER => "number",
        ffi::LUA_TSTRING => "string",
        ffi::LUA_TTABLE => "table",
        ffi::LUA_TFUNCTION => "function",
        ffi::LUA_TTHREAD => "thread",
        _ => "userdata",
    }
}

/// The bytes of the string at `index` (which must be a string: numbers would be converted in
/// place, which allocates).
///
/// # Safety
/// The value at `index` must be a string, and stay on the stack (so uncollected and
/// unchanged: Lua strings are immutable) as long as the slice is used.
pub(crate) unsafe fn string_at<'a>(state: *mut ffi::lua_State, index: c_int) -> &'a [u8] {
    let mut len = 0;
    // SAFETY: for a string `lua_tolstring` returns its bytes in place, `len` long, alive
    // while the string is (the caller's contract).
    unsafe {
        let ptr = ffi::lua_tolstring(state, index, &mut len);
        std::slice::from_raw_parts(ptr as *const u8, len)
    }
}

impl Reader {
    /// # Safety
    /// As [`to_json_at`], with `index` absolute.
    unsafe fn read(&mut self, state: *mut ffi::lua_State, index: c_int, depth: usize) -> Json {
        if self.nodes == 0 {
            return Json::String("<truncated>".into());
        }
        self.nodes -= 1;
        // SAFETY: the caller's contract; only reads of the value at `index`: a string in
        // place, a number never converted in place, a table by `read_table`.
        unsafe {
            match ffi::lua_type(state, index) {
                ffi::LUA_TNIL | ffi::LUA_TNONE => Json::Null,
                ffi::LUA_TBOOLEAN => Json::Bool(ffi::lua_toboolean(state, index) != 0),
                ffi::LUA_TNUMBER => {
                    if ffi::lua_isinteger(state, index) != 0 {
                        Json::Number(ffi::lua_tointeger(state, index).into())
                    } else {
                        let n = ffi::lua_tonumberx(state, index, std::ptr::null_mut());
                        match Number::from_f64(n) {
                            Some(num) => Json::Number(num),
                            None => Json::String(format_float(n)),
                        }
                    }
                }
                ffi::LUA_TSTRING => {
                    let bytes = string_at(state, index);
                    if bytes.len() > self.text {
                        self.text = 0;
                        return Json::String("<truncated>".into());
                    }
                    self.text -= bytes.len();
                    Json::String(String::from_utf8_lossy(bytes).into_owned())
                }
                ffi::LUA_TTABLE => self.read_table(state, index, depth),
                _ => Json::String(format!("<{}>", type_name_at(state, index))),
            }
        }
    }

    /// A table whose keys are exactly `1..n` becomes an array, any other an object.
    ///
    /// # Safety
    /// As [`Reader::read`], with a table at `index`.
    unsafe fn read_table(
        &mut self,
        state: *mut ffi::lua_State,
        index: c_int,
        depth: usize,
    ) -> Json {
        // SAFETY: the caller's contract. Raw traversal (`lua_next`, `lua_rawgeti`) calls no
        // metamethod and raises nothing for keys it produced itself; each level pushes at
        // most a key and a value, covered by the `lua_checkstack` (which does not raise).
        // The recursion is bounded by `MAX_DEPTH`, and every push is popped before return.
        unsafe {
            let id = ffi::lua_topointer(state, index) as usize;
            // Each level holds a key and a value on the stack.
            if depth >= MAX_DEPTH || ffi::lua_checkstack(state, 3) == 0 || self.seen.contains(&id) {
                return Json::String("<cycle>".into());
            }
            self.seen.push(id);
            let mut len = 0usize;
            let mut sequence_keys = true;
            ffi::lua_pushnil(state);
            while ffi::lua_next(state, index) != 0 {
                len += 1;
                sequence_keys &=
                    ffi::lua_isinteger(state, -2) != 0 && ffi::lua_tointeger(state, -2) >= 1;
                ffi::lua_pop(state, 1);
            }
            // Distinct integer keys, all in 1..=len, are exactly 1..=len.
            let is_array = len > 0 && sequence_keys && {
                let mut in_range = true;
                ffi::lua_pushnil(state);
                while ffi::lua_next(state, index) != 0 {
                    in_range &= (ffi::lua_tointeger(state, -2) as u64) <= len as u64;
                    ffi::lua_pop(state, 1);
                }
                in_range
            };
            let out = if is_array {
                let mut items = Vec::with_capacity(len);
                for i in 1..=len {
                    ffi::lua_rawgeti(state, index, i as ffi::lua_Integer);
                    items.push(self.read(state, ffi::lua_gettop(state), depth + 1));
                    ffi::lua_pop(state, 1);
                }
                Json::Array(items)
            } else {
                let mut map = Map::new();
                ffi::lua_pushnil(state);
                while ffi::lua_next(state, index) != 0 {
                    let key = key_string(state, -2);
                    let value = self.read(state, ffi::lua_gettop(state), depth + 1);
                    map.insert(key, value);
                    ffi::lua_pop(state, 1);
                }
                Json::Object(map)
            };
            self.seen.pop();
            out
        }
    }
}

/// A table key as an object key, read without converting it in place.
///
/// # Safety
/// As [`type_name_at`].
unsafe fn key_string(state: *mut ffi::lua_State, index: c_int) -> String {
    // SAFETY: the caller's contract; only reads.
    unsafe {
        match ffi::lua_type(state, index) {
            ffi::LUA_TSTRING => String::from_utf8_lossy(string_at(state, index)).into_owned(),
            ffi::LUA_TNUMBER if ffi::lua_isinteger(state, index) != 0 => {
                ffi::lua_tointeger(state, index).to_string()
            }
            ffi::LUA_TNUMBER => {
                format_float(ffi::lua_tonumberx(state, index, std::ptr::null_mut()))
            }
            ffi::LUA_TBOOLEAN => (ffi::lua_toboolean(state, index) != 0).to_string(),
            _ => format!("<{}>", type_name_at(state, index)),
        }
    }
}

/// Pushes `json` (`null` → `nil`, arrays → sequences, objects → tables with string keys).
/// A value nested more than [`MAX_PUSH_DEPTH`] levels deep raises a Lua error instead: each
/// level is a native stack frame here, and a host may build a value of any depth.
///
/// # Safety
/// Allocates, so it may raise: call under `state::protect`, with no value with a destructor
/// alive in the caller's frames inside that call.
pub(crate) unsafe fn push_json(state: *mut ffi::lua_State, json: &Json) {
    // SAFETY: the caller's contract, passed on.
    unsafe { push_nested(state, json, 0) }
}

/// # Safety
/// As [`push_json`].
unsafe fn push_nested(state: *mut ffi::lua_State, json: &Json, depth: usize) {
    // SAFETY: the caller runs this under `protect` with nothing to drop
    // in its frames, so each call that raises (allocation, `luaL_checkstack`) may leave by
    // `longjmp`; this function holds only references and iterators, which have no
    // destructor. Every push is covered by a `luaL_checkstack` for its level.
    unsafe {
        match json {
            Json::Array(_) | Json::Object(_) if depth >= MAX_PUSH_DEPTH => {
                ffi::luaL_error(
                    state,
                    c"a value nested more than %d levels deep cannot be passed to Lua".as_ptr(),
                    MAX_PUSH_DEPTH as c_int,
                );
            }
            Json::Null => push_scalar(state, || ffi::lua_pushnil(state)),
            Json::Bool(b) => push_scalar(state, || ffi::lua_pushboolean(state, *b as c_int)),
            Json::Number(n) => push_scalar(state, || match n.as_i64() {
                Some(i) => ffi::lua_pushinteger(state, i),
                None => ffi::lua_pushnumber(state, n.as_f64().unwrap_or(f64::NAN)),
            }),
            Json::String(s) => push_scalar(state, || {
                ffi::lua_pushlstring(state, s.as_ptr().cast(), s.len());
            }),
            Json::Array(items) => {
                // The table, and one item above it.
                ffi::luaL_checkstack(state, 2, c"a value too big for the Lua stack".as_ptr());
                ffi::lua_createtable(state, items.len().min(c_int::MAX as usize) as c_int, 0);
                for (i, item) in items.iter().enumerate() {
                    push_nested(state, item, depth + 1);
                    ffi::lua_rawseti(state, -2, i as ffi::lua_Integer + 1);
                }
            }
            Json::Object(map) => {
                // The table, a key and its value.
                ffi::luaL_checkstack(state, 3, c"a value too big for the Lua stack".as_ptr());
                ffi::lua_createtable(state, 0, map.len().min(c_int::MAX as usize) as c_int);
                for (k, v) in map {
                    ffi::lua_pushlstring(state, k.as_ptr().cast(), k.len());
                    push_nested(state, v, depth + 1);
                    ffi::lua_rawset(state, -3);
                }
            }
        }
    }
}

/// Pushes one value with `push`, after making room for it.
///
/// # Safety
/// As [`push_json`]; `push` pushes exactly one value.
unsafe fn push_scalar(state: *mut ffi::lua_State, push: impl FnOnce()) {
    // SAFETY: may raise, which the caller's contract allows.
    unsafe { ffi::luaL_checkstack(state, 1, c"a value too big for the Lua stack".as_ptr()) };
    push();
}
