//! The host side of `net` inside a Lua state: installing the module, and `raw`, the C
//! function behind `net.request`, which copies its arguments out of Lua, waits for the
//! request on a worker thread while watching the run's abort flag, and pushes the answer.

use super::client::{self, Request};
use super::{NetError, NetSession};
use crate::runtime::guard::{Abort, Guard};
use crate::runtime::stack::string_at;
use mlua::ffi;
use std::ffi::{c_int, c_void, CStr};
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// The Lua face of `net`, for both backends: a chunk taking the request function `raw`.
pub(crate) const NET_LUA: &str = include_str!("net.lua");

/// Sets the global `net` (and `package.loaded.net` where there is a `package`).
///
/// # Safety
/// Inside `state::protect` on a state being built, with `LUA_MINSTACK` free slots; `session`
/// and `guard` must outlive the state (the VM keeps both alive longer than it).
pub(crate) unsafe fn install(
    state: *mut ffi::lua_State,
    session: *const NetSession,
    guard: *const Guard,
) {
    // SAFETY: the caller's contract; at most four values are pushed at once, errors raised
    // here are caught by the caller's `protect`, and nothing here has a destructor.
    unsafe {
        let status = ffi::luaL_loadbufferx(
            state,
            NET_LUA.as_ptr().cast(),
            NET_LUA.len(),
            c"=pylua.net".as_ptr(),
            c"t".as_ptr(),
        );
        if status != ffi::LUA_OK {
            ffi::lua_error(state);
        }
        ffi::lua_pushlightuserdata(state, session as *mut c_void);
        ffi::lua_pushlightuserdata(state, guard as *mut c_void);
        ffi::lua_pushcclosure(state, raw, 2);
        ffi::lua_call(state, 1, 1);
        ffi::lua_pushvalue(state, -1);
        ffi::lua_setglobal(state, c"net".as_ptr());
        if ffi::lua_getglobal(state, c"package".as_ptr()) == ffi::LUA_TTABLE
            && ffi::lua_getfield(state, -1, c"loaded".as_ptr()) == ffi::LUA_TTABLE
        {
            ffi::lua_pushvalue(state, -3);
            ffi::lua_setfield(state, -2, c"net".as_ptr());
            ffi::lua_pop(state, 1);
        }
        ffi::lua_settop(state, -3);
    }
}

/// `raw(url, method, headers, body, timeout)` → `status, headers, body` or `nil, message`.
/// A Lua C function; upvalue 1 is the VM's [`NetSession`], upvalue 2 its [`Guard`].
///
/// # Safety
/// Only as that Lua C function.
unsafe extern "C-unwind" fn raw(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: `request` returns before anything is raised, so every Rust value it made has
    // been dropped when `lua_error` leaves this frame by `longjmp`; the message is static.
    unsafe {
        match request(state) {
            Ok(n) => n,
            Err(message) => {
                ffi::lua_pushstring(state, message.as_ptr());
                ffi::lua_error(state)
            }
        }
    }
}

/// The work of [`raw`]: returns how many results it pushed, or a message to raise.
///
/// # Safety
/// As [`raw`].
unsafe fn request(state: *mut ffi::lua_State) -> Result<c_int, &'static CStr> {
    // SAFETY: upvalue 1 points at the session the VM's config holds in an `Arc` for as long
    // as the state lives (so the count may be raised to hand a clone to the worker), upvalue
    // 2 at the VM's guard, alive as long as the state. Arguments are read only after their
    // type is checked, and copied before anything can collect them.
    let (session, guard, request) = unsafe {
        let session_ptr = ffi::lua_touserdata(state, ffi::lua_upvalueindex(1)) as *const NetSession;
        let guard = &*(ffi::lua_touserdata(state, ffi::lua_upvalueindex(2)) as *const Guard);
        Arc::increment_strong_count(session_ptr);
        let session = Arc::from_raw(session_ptr);
        let string = |i: c_int| {
            (ffi::lua_type(state, i) == ffi::LUA_TSTRING).then(|| string_at(state, i).to_vec())
        };
        let (Some(url), Some(method), Some(headers)) = (string(1), string(2), string(3)) else {
            return Err(c"net: url, method and headers must be strings");
        };
        let body = string(4);
        let timeout = match ffi::lua_type(state, 5) {
            ffi::LUA_TNUMBER => {
                let t = ffi::lua_tonumberx(state, 5, std::ptr::null_mut());
                Some(Duration::try_from_secs_f64(t).map_err(|_| c"net: bad timeout")?)
            }
            _ => None,
        };
        let request = Request {
            url: String::from_utf8_lossy(&url).into_owned(),
            method: String::from_utf8_lossy(&method).into_owned(),
            headers,
            body,
            timeout,
        };
        (session, guard, request)
    };
    let outcome = wait(&session, &|| guard.fired() != Abort::None, request);
    if let Err(e) = &outcome {
        session.failed(e);
    }
    let failure = outcome.as_ref().err().map(NetError::lua_text);
    // SAFETY: the stack has the arguments and `LUA_MINSTACK` free slots; `protect` catches
    // what pushing raises (out of memory), and its closure holds only references.
    let pushed = unsafe {
        let base = ffi::lua_gettop(state);
        let result = crate::runtime::state::protect(state, 0, ffi::LUA_MULTRET, |s| {
            match (&outcome, &failure) {
                (Ok(response), _) => {
                    ffi::lua_pushinteger(s, response.status.into());
                    ffi::lua_pushlstring(
                        s,
                        response.headers.as_ptr().cast(),
                        response.headers.len(),
                    );
                    ffi::lua_pushlstring(s, response.body.as_ptr().cast(), response.body.len());
                }
                (Err(_), Some(text)) => {
                    ffi::lua_pushnil(s);
                    ffi::lua_pushlstring(s, text.as_ptr().cast(), text.len());
                }
                (Err(_), None) => ffi::lua_pushnil(s),
            }
        });
        result.map(|()| ffi::lua_gettop(state) - base)
    };
    pushed.map_err(|_| c"not enough memory for the network response")
}

/// Runs the request on a worker thread and waits for it, giving up when `stopped` says the
/// run is stopped (its timeout, an interrupt or another limit): the error then carries no
/// weight, since the stopped run reports the limit.
pub(super) fn wait(
    session: &Arc<NetSession>,
    stopped: &dyn Fn() -> bool,
    request: Request,
) -> Result<client::Response, NetError> {
    let (tx, rx) = mpsc::channel();
    let worker = Arc::clone(session);
    let deadline = session.deadline();
    std::thread::Builder::new()
        .name("pylua-net".into())
        .spawn(move || {
            let _ = tx.send(client::perform(&worker, request, deadline));
        })
        .map_err(|e| NetError::failed(format!("cannot start the request: {e}")))?;
    loop {
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(result) => return result,
            Err(mpsc::RecvTimeoutError::Timeout) if stopped() => {
                return Err(NetError::failed(
                    "the run was stopped while the request was in flight",
                ));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(NetError::failed("the request ended without an answer"));
            }
        }
    }
}
