//! The Lua state under a [`crate::Vm`], driven through Lua's C API: created with the counting
//! allocator (`guard.rs`), given only the libraries its policy keeps, and closed with the VM.
//!
//! Why not through mlua: setting up mlua's handle on a state (its registry entries, reference
//! thread and metatables) costs more than the rest of a strict VM put together, and running a
//! chunk or calling a function through it pays a lock and reference counting on every call.
//! So a VM runs everything itself and attaches mlua's handle only when a host asks for it
//! ([`RawState::lua`]). From then on, since that handle may be cloned and used from another
//! thread, every operation goes through mlua's lock ([`RawState::with_state`]).

use super::guard::Guard;
use mlua::{ffi, Lua};
use std::cell::OnceCell;
use std::ffi::{c_int, c_void, CStr};
use std::sync::Arc;

/// The outcome of a failed protected call: Lua's status code and the error turned to text.
#[derive(Debug)]
pub(crate) struct LuaFailure {
    pub(crate) code: c_int,
    pub(crate) message: String,
}

/// One Lua state, owned: closed when dropped, or, when closing would do nothing but free
/// memory, left for its guard's arena to free in one go.
pub(crate) struct RawState {
    main: *mut ffi::lua_State,
    mlua: OnceCell<Lua>,
    /// Whether closing may ever have work to do besides freeing: finalizers (`__gc`, which
    /// mlua's own values carry) or open files. When it may, [`pylua_close_has_work`] looks
    /// at the state as it is when dropped.
    may_need_close: bool,
}

extern "C" {
    /// Whether `lua_close` on the main thread `state` would do more than free memory: run a
    /// finalizer that does something (an open file's, a loaded C library's, any `__gc` of
    /// the script's) or close a pending to-be-closed variable (`runtime/closing.c`). Reads
    /// the state only; allocates nothing and raises nothing.
    fn pylua_close_has_work(state: *mut ffi::lua_State) -> c_int;
}

// SAFETY: the state belongs to this value alone and is only reached through it (or through
// the mlua handle, which locks); Lua states carry no tie to the thread that created them.
unsafe impl Send for RawState {}

impl Drop for RawState {
    fn drop(&mut self) {
        // mlua's handle first: it refers to the state, which mlua does not own here.
        let shared = self.mlua.take().is_some();
        // SAFETY: `main` is this live state's main thread, not running (we own it).
        if shared || (self.may_need_close && unsafe { pylua_close_has_work(self.main) } != 0) {
            // SAFETY: the state is ours and closed once; the guard (its allocator) is still
            // alive, since the owner drops it after this (`Vm`'s field order).
            unsafe { ffi::lua_close(self.main) };
        }
    }
}

impl RawState {
    /// Creates a state whose every byte `guard` counts and comes from its arena; `None` when
    /// not even the bare state fits in the memory limit. `may_need_close` is false when no
    /// code in it can make a finalizer or open a file (the `strict` policy). A state dropped
    /// with nothing to do at closing leaves its memory to the arena, which the guard frees.
    ///
    /// # Safety
    /// The guard must outlive the state.
    pub(crate) unsafe fn new(guard: &Arc<Guard>, may_need_close: bool) -> Option<RawState> {
        // SAFETY: the caller keeps the guard alive longer than the state.
        let main = unsafe { guard.new_state() };
        (!main.is_null()).then(|| RawState {
            main,
            mlua: OnceCell::new(),
            may_need_close,
        })
    }

    /// mlua's handle on this state, set up on first use.
    pub(crate) fn lua(&self, guard: &Guard) -> &Lua {
        self.mlua.get_or_init(|| {
            // mlua panics when its set-up cannot allocate: give it room whatever the limit.
            // SAFETY: `main` is a live state that stays alive as long as the handle (it is
            // dropped first, in `drop`); mlua adds its own registry entries and never closes
            // a state it did not create.
            guard.without_memory_limit(|| unsafe { Lua::init_from_ptr(self.main) })
        })
    }

    /// The main thread.
    pub(crate) fn main(&self) -> *mut ffi::lua_State {
        self.main
    }

    /// Runs `f` on the state: straight on the main thread, or under mlua's lock (inside one
    /// of its protected calls) once its handle exists. `f` must leave the stack as it found
    /// it.
    #[inline]
    pub(crate) fn with_state<R>(&self, f: impl FnOnce(*mut ffi::lua_State) -> R) -> R {
        match self.mlua.get() {
            None => f(self.main),
            Some(lua) => self.under_lock(lua, f),
        }
    }

    /// mlua's handle, when it exists; for [`RawState::under_lock`].
    #[inline]
    pub(crate) fn shared(&self) -> Option<&Lua> {
        self.mlua.get()
    }

    /// [`RawState::with_state`] once mlua's handle exists: out of line, so the direct way
    /// stays small enough to inline into every call.
    #[inline(never)]
    pub(crate) fn under_lock<R>(&self, lua: &Lua, f: impl FnOnce(*mut ffi::lua_State) -> R) -> R {
        let mut f = Some(f);
        let mut out = None;
        // SAFETY: `f` balances the stack and raises no Lua error of its own (it runs
        // everything that may fail under `protect`).
        let _ = unsafe {
            lua.exec_raw::<()>((), |state| {
                if let Some(f) = f.take() {
                    out = Some(f(state));
                }
            })
        };
        match (out, f) {
            (Some(out), _) => out,
            // Only when mlua could not even reserve stack space for its call.
            (None, Some(f)) => f(self.main),
            (None, None) => unreachable!("`f` ran but produced nothing"),
        }
    }
}

/// Runs `f` in a protected call with the `nargs` values on top of the stack as its only
/// stack, and leaves `nresults` values (or `LUA_MULTRET`: what `f` left) in their place, so a
/// Lua error raised inside (out of memory, most often) comes back as a [`LuaFailure`] instead
/// of ending the process.
///
/// # Safety
/// `f` may be left by `longjmp`: nothing with a destructor may be alive in it when it calls
/// into Lua. `f` gets `LUA_MINSTACK` free slots, as every C function does, and must check
/// for more (`luaL_checkstack`) before pushing more.
pub(crate) unsafe fn protect<F: FnOnce(*mut ffi::lua_State)>(
    state: *mut ffi::lua_State,
    nargs: c_int,
    nresults: c_int,
    f: F,
) -> Result<(), LuaFailure> {
    /// # Safety
    /// Only as the function `protect` calls, with the slot's address as argument 1.
    unsafe extern "C-unwind" fn trampoline<F: FnOnce(*mut ffi::lua_State)>(
        state: *mut ffi::lua_State,
    ) -> c_int {
        // SAFETY: argument 1 is the address of `protect`'s `slot`, alive until the
        // `lua_pcall` below returns; `f` is taken out first, so when it leaves by `longjmp`
        // nothing here is left to drop (the panic guard is not alive across Lua calls that
        // raise: `f` makes them, and catch_unwind only sees Rust panics).
        unsafe {
            let slot = ffi::lua_touserdata(state, 1) as *mut Option<F>;
            ffi::lua_remove(state, 1);
            if let Some(f) = (*slot).take() {
                let panicked =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(state))).is_err();
                if panicked {
                    raise(state, c"internal error in the pylua runtime");
                }
            }
            ffi::lua_gettop(state)
        }
    }
    // SAFETY: `state` is live and ours (the caller's contract); two slots are reserved for
    // the trampoline and the slot's address, and `slot` outlives the protected call.
    unsafe {
        reserve(state, 2)?;
        let mut slot = Some(f);
        ffi::lua_pushcfunction(state, trampoline::<F>);
        ffi::lua_pushlightuserdata(state, &mut slot as *mut Option<F> as *mut c_void);
        ffi::lua_rotate(state, -(nargs + 2), 2);
        match ffi::lua_pcall(state, nargs + 1, nresults, 0) {
            ffi::LUA_OK => Ok(()),
            code => Err(pop_failure(state, code)),
        }
    }
}

/// Makes room for `n` more values on the stack, for host code that pushes outside any C
/// function Lua called (where only what was reserved is guaranteed). Never raises: a stack
/// that cannot grow (Lua caps it at a million slots) is a failure to report.
///
/// # Safety
/// `state` must be a live Lua thread used by no one else meanwhile.
pub(crate) unsafe fn reserve(state: *mut ffi::lua_State, n: c_int) -> Result<(), LuaFailure> {
    // SAFETY: `lua_checkstack` never raises; `state` is live (the caller's contract).
    if unsafe { ffi::lua_checkstack(state, n) } != 0 {
        return Ok(());
    }
    Err(LuaFailure {
        code: ffi::LUA_ERRRUN,
        message: format!("stack overflow (no room for {n} more values on the Lua stack)"),
    })
}

/// Raises `message` as a Lua error.
///
/// # Safety
/// Inside a function Lua called, with a free slot, and nothing with a destructor alive in
/// the frames the `longjmp` leaves.
unsafe fn raise(state: *mut ffi::lua_State, message: &CStr) -> ! {
    // SAFETY: the caller's contract.
    unsafe {
        ffi::lua_pushstring(state, message.as_ptr());
        ffi::lua_error(state)
    }
}

/// The message handler of every run: the error as text (through `__tostring`, as Lua's own
/// interpreter does) followed by the stack traceback.
///
/// # Safety
/// Only as a message handler Lua calls.
pub(crate) unsafe extern "C-unwind" fn traceback(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: Lua calls the handler with the error object as argument 1; every push is
    // covered by a `lua_checkstack`, and nothing here has a destructor (a `__tostring` that
    // raises leaves by `longjmp`).
    unsafe {
        if ffi::lua_checkstack(state, 2) == 0 {
            return 1;
        }
        let text = ffi::luaL_tolstring(state, -1, std::ptr::null_mut());
        if ffi::lua_checkstack(state, ffi::LUA_TRACEBACK_STACK) != 0 {
            ffi::luaL_traceback(state, state, text, 0);
            ffi::lua_remove(state, -2);
        }
    }
    1
}

/// Pops the error object a failed call left on top and turns it into text without calling
/// into Lua (no metamethod, no allocation).
///
/// # Safety
/// A value must be on top of `state`'s stack, and no one else may use the state meanwhile.
#[cold]
pub(crate) unsafe fn pop_failure(state: *mut ffi::lua_State, code: c_int) -> LuaFailure {
    // SAFETY: the caller's contract; only reads of the top value (a string is read in place,
    // a number never converted in place), then one pop.
    unsafe {
        let message = match ffi::lua_type(state, -1) {
            ffi::LUA_TSTRING => {
                String::from_utf8_lossy(super::stack::string_at(state, -1)).into_owned()
            }
            ffi::LUA_TNUMBER => {
                let mut is_int = 0;
                let i = ffi::lua_tointegerx(state, -1, &mut is_int);
                if is_int != 0 {
                    i.to_string()
                } else {
                    ffi::lua_tonumberx(state, -1, std::ptr::null_mut()).to_string()
                }
            }
            ffi::LUA_TNIL => "<nil>".to_string(),
            ffi::LUA_TBOOLEAN => (ffi::lua_toboolean(state, -1) != 0).to_string(),
            _ => format!("<{}>", super::stack::type_name_at(state, -1)),
        };
        ffi::lua_pop(state, 1);
        LuaFailure { code, message }
    }
}

/// A library of Lua's standard set: the global it goes in and the function that opens it.
pub(crate) type Library = (&'static CStr, ffi::lua_CFunction);

pub(crate) const BASE: Library = (c"_G", ffi::luaopen_base);
pub(crate) const PACKAGE: Library = (c"package", ffi::luaopen_package);
pub(crate) const COROUTINE: Library = (c"coroutine", ffi::luaopen_coroutine);
pub(crate) const TABLE: Library = (c"table", ffi::luaopen_table);
pub(crate) const IO: Library = (c"io", ffi::luaopen_io);
pub(crate) const OS: Library = (c"os", ffi::luaopen_os);
pub(crate) const STRING: Library = (c"string", ffi::luaopen_string);
pub(crate) const MATH: Library = (c"math", ffi::luaopen_math);
pub(crate) const UTF8: Library = (c"utf8", ffi::luaopen_utf8);
pub(crate) const DEBUG: Library = (c"debug", ffi::luaopen_debug);

/// Opens `libs` in order, as `luaL_openlibs` does.
///
/// # Safety
/// Raises on failure: call under [`protect`], with a free slot.
pub(crate) unsafe fn open_libs(state: *mut ffi::lua_State, libs: &[Library]) {
    for &(name, open) in libs {
        // SAFETY: the caller's contract; `luaL_requiref` leaves one value, popped at once.
        unsafe {
            ffi::luaL_requiref(state, name.as_ptr(), open, 1);
            ffi::lua_pop(state, 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::Limits;

    /// Runs `code` on the state; it must succeed.
    fn run(state: *mut ffi::lua_State, code: &str) {
        let code = std::ffi::CString::new(code).unwrap();
        // SAFETY: a live state with free slots; the chunk and its result are popped.
        unsafe {
            assert_eq!(ffi::luaL_loadstring(state, code.as_ptr()), ffi::LUA_OK);
            if ffi::lua_pcall(state, 0, 0, 0) != ffi::LUA_OK {
                let message = super::super::stack::string_at(state, -1);
                panic!("{}", String::from_utf8_lossy(message));
            }
        }
    }

    #[test]
    fn closing_has_work_only_while_a_finalizer_would_do_something() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("out.txt");
        let guard = Guard::new(&Limits::new());
        // SAFETY: `guard` outlives `state` (declared first, dropped last).
        let state = unsafe { RawState::new(&guard, true) }.unwrap();
        let l = state.main();
        // SAFETY: a fresh state, not running.
        unsafe { ffi::luaL_openlibs(l) };
        // SAFETY: the state is live and not running between the runs below.
        let has_work = || unsafe { pylua_close_has_work(l) } != 0;
        run(l, &format!("path = {:?}", file.to_str().unwrap()));
        assert!(
            !has_work(),
            "a fresh state holds the standard files and no C library"
        );

        run(l, "f = io.open(path, 'w') f:write('x')");
        assert!(has_work(), "an open file must be flushed and closed");
        run(l, "f:close()");
        assert!(!has_work(), "a closed file has nothing left to do");

        run(l, "io.output(path)");
        assert!(has_work(), "io.output's file must be flushed");
        run(l, "io.output():close() io.output(io.stdout)");
        assert!(!has_work());

        for mode in ["incremental", "generational"] {
            run(l, &format!("collectgarbage('{mode}')"));
            run(l, "t = setmetatable({}, {__gc = function() end})");
            assert!(has_work(), "{mode}: a __gc metamethod must run");
            // Old enough to sit in the later parts of the list in generational mode.
            run(
                l,
                "collectgarbage('step') collectgarbage('step') collectgarbage()",
            );
            assert!(has_work(), "{mode}: a __gc metamethod must run");
            run(l, "t = nil collectgarbage() collectgarbage()");
            assert!(!has_work(), "{mode}: the finalizer ran already");
        }

        // A loaded C library (the C library itself, found in this process's map) must be
        // unloaded.
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let libc = maps
            .split_whitespace()
            .find(|w| w.starts_with('/') && w.contains("/libc.so"))
            .expect("libc is mapped");
        run(l, &format!("assert(package.loadlib({libc:?}, '*'))"));
        assert!(has_work(), "a loaded C library must be unloaded");
    }
}
