//! The host functions the prelude hands to Lua (see `lua/prelude.lua` and `lua/policy.lua`):
//! the captured `print` and `io.write`, and the path check of the `standard` policy. Each is
//! a Lua C function that checks its stack and takes its state from upvalue 1.

use super::output::OutputHandle;
use super::sandbox::AllowedDirs;
use super::stack::string_at;
use mlua::ffi;
use std::ffi::{c_int, c_void};

/// `print` for the VM: formats like Lua's own (`tostring` of each argument, tabs, newline)
/// and writes to the VM's output. A Lua C function; the output handle is upvalue 1.
///
/// It converts and writes one argument at a time, as Lua's own `print` does: Lua guarantees
/// a C function only `LUA_MINSTACK` (20) free slots, and `print(table.unpack(t))` passes
/// thousands of arguments, so converting them all first would push past the stack's end.
/// A short line still reaches the output in one write: pieces gather in a buffer on the C
/// stack, which (having no destructor) a `__tostring` that raises may leave behind.
///
/// # Safety
/// Only as a Lua C function with the output handle as upvalue 1.
pub(super) unsafe extern "C-unwind" fn captured_print(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: `state` is the calling thread (Lua calls this as a C function).
    let n = unsafe { ffi::lua_gettop(state) };
    let mut line = LineBuffer::new(state);
    for i in 1..=n {
        // SAFETY: `i` is one of this call's arguments; `luaL_tolstring` pushes one string
        // (and, inside, at most a metamethod call's worth: within `LUA_MINSTACK`), popped
        // below before the next one, so the stack never holds more than that at once.
        let piece = unsafe {
            ffi::luaL_tolstring(state, i, std::ptr::null_mut());
            string_at(state, -1)
        };
        if i > 1 {
            line.push(b"\t");
        }
        line.push(piece);
        // SAFETY: pops the string pushed above; `piece` is not used after this.
        unsafe { ffi::lua_pop(state, 1) };
    }
    line.push(b"\n");
    line.flush();
    0
}

/// What `print` has converted but not written yet, held on the C stack: it has no
/// destructor, so a Lua error (a `longjmp`) may leave the frame holding it.
struct LineBuffer {
    state: *mut ffi::lua_State,
    bytes: [u8; 1024],
    len: usize,
}

impl LineBuffer {
    fn new(state: *mut ffi::lua_State) -> LineBuffer {
        LineBuffer {
            state,
            bytes: [0; 1024],
            len: 0,
        }
    }

    fn push(&mut self, piece: &[u8]) {
        if self.len + piece.len() > self.bytes.len() {
            self.flush();
            if piece.len() > self.bytes.len() {
                // SAFETY: called from a Lua C function whose upvalue 1 is the output handle.
                unsafe { write_out(self.state, piece) };
                return;
            }
        }
        self.bytes[self.len..self.len + piece.len()].copy_from_slice(piece);
        self.len += piece.len();
    }

    fn flush(&mut self) {
        if self.len > 0 {
            // SAFETY: as in `push`.
            unsafe { write_out(self.state, &self.bytes[..self.len]) };
            self.len = 0;
        }
    }
}

/// `io.write` for the VM: strings and numbers, as Lua's own. It pushes nothing, so any
/// number of arguments is fine.
///
/// # Safety
/// Only as a Lua C function with the output handle as upvalue 1.
pub(super) unsafe extern "C-unwind" fn captured_write(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: every argument is checked (and a number turned into a string in place, which
    // may raise) before anything with a destructor exists; then each is a string on the
    // stack, read in place while the call lasts.
    unsafe {
        let n = ffi::lua_gettop(state);
        for i in 1..=n {
            ffi::luaL_checklstring(state, i, std::ptr::null_mut());
        }
        let mut bytes = Vec::new();
        for i in 1..=n {
            bytes.extend_from_slice(string_at(state, i));
        }
        write_out(state, &bytes);
    }
    0
}

/// Writes to the output handle that is upvalue 1 of the running C function.
///
/// # Safety
/// Only inside a Lua C function whose upvalue 1 is a live output handle's pointer.
unsafe fn write_out(state: *mut ffi::lua_State, bytes: &[u8]) {
    // SAFETY: the caller's contract; the VM keeps its output handle alive as long as the
    // state, and `write_raw` contains a panicking stream callback.
    unsafe {
        let handle = ffi::lua_touserdata(state, ffi::lua_upvalueindex(1)) as *const c_void;
        OutputHandle::write_raw(handle, bytes);
    }
}

/// `allowed(path, writing)` for the `standard` prelude: whether `path` lies inside an allowed
/// directory. A Lua C function; the VM's [`AllowedDirs`] is upvalue 1.
///
/// # Safety
/// Only as that Lua C function.
pub(super) unsafe extern "C-unwind" fn allowed_path(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: upvalue 1 points at the `AllowedDirs` the VM's config keeps alive (an `Arc`
    // held as long as the state); argument 1 is read only when it is a string, argument 2
    // (`writing`) as a boolean, which any value (or none) converts to; the one
    // push is within `LUA_MINSTACK`. The `String` is dropped before `lua_pushboolean`,
    // which cannot raise.
    unsafe {
        // Only strings: converting a number in place would allocate.
        let allowed = ffi::lua_type(state, 1) == ffi::LUA_TSTRING && {
            let dirs =
                &*(ffi::lua_touserdata(state, ffi::lua_upvalueindex(1)) as *const AllowedDirs);
            let path = String::from_utf8_lossy(string_at(state, 1));
            dirs.allows(&path, ffi::lua_toboolean(state, 2) != 0)
        };
        ffi::lua_pushboolean(state, allowed as c_int);
    }
    1
}
