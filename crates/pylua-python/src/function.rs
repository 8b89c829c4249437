//! `LuaFunction`, the handle `Vm.function(name)` returns, as a Python type written against the
//! C API: calling a kept Lua function costs no argument parsing, no type lookup for `self` and
//! no wrapper frame — the path Python code takes thousands of times a second (`add(1, 2)`).
//! Python calls it through vectorcall (PEP 590: the arguments as the caller's array, no tuple
//! made and freed per call; `__vectorcalloffset__`, honoured by `PyType_FromSpec` since
//! Python 3.9), and through `tp_call` where a caller has a tuple already. Everything past the
//! entry (arguments, the call, results, errors) is [`PyVm::call_python`], as for
//! `Vm.call`.
//!
//! The type is made once, when the module is imported ([`register`]); objects only come from
//! [`new`] (Python cannot instantiate it), and each owns a boxed [`Kept`].

use crate::vm::PyVm;
use pylua::runtime::{AnyVm, VmFunction};
use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::ffi;
use pyo3::panic::PanicException;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use std::ffi::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicPtr, Ordering};

/// What one handle holds.
struct Kept {
    vm: Py<PyVm>,
    function: VmFunction,
    name: String,
}

impl Kept {
    /// Lets the VM collect the function, unless a call holds the VM right now (waiting for
    /// it here, with the GIL held, could deadlock against a callback into Python): then it
    /// stays referenced until the VM is reset or closed. Then lets go of the VM.
    fn release(self, py: Python<'_>) {
        if let Some(mut lent) = self.vm.get().try_vm(py) {
            if let Some(AnyVm::Embedded(vm)) = lent.vm() {
                let _ = vm.release_function(self.function);
            }
        }
        // Released now, with the GIL held (also while the interpreter shuts down).
        drop(self.vm.into_bound(py));
    }
}

/// The object's layout: Python's header, then the handle (null only in an object made
/// some other way than [`new`], which every slot refuses).
#[repr(C)]
struct Object {
    base: ffi::PyObject,
    kept: *mut Kept,
    /// Where `__vectorcalloffset__` points: [`vectorcall`], set by [`new`].
    vectorcall: Option<ffi::vectorcallfunc>,
}

/// `Py_TPFLAGS_HAVE_VECTORCALL`: the same bit in every Python 3 since 3.8, though the limited
/// API names it only from 3.12.
const HAVE_VECTORCALL: std::ffi::c_ulong = 1 << 11;

/// The bit of a vectorcall's argument count that only says the caller left a free slot in
/// front of the arguments (`PY_VECTORCALL_ARGUMENTS_OFFSET`).
const ARGUMENTS_OFFSET: usize = 1 << (usize::BITS - 1);

/// The type, made by [`register`] and never freed.
static TYPE: AtomicPtr<ffi::PyTypeObject> = AtomicPtr::new(std::ptr::null_mut());

const DOC: &std::ffi::CStr = c"A Lua function kept by its VM (Vm.function(name)): calling it from Python calls the function as it was when kept, even if the global changes later. After the VM's reset() calling it raises.";

/// Makes the type and adds it to the module as `LuaFunction`.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    // The arrays the type points at must outlive it: it lives as long as the process.
    let getset: &'static mut [ffi::PyGetSetDef; 2] = Box::leak(Box::new([
        ffi::PyGetSetDef {
            name: c"name".as_ptr(),
            get: Some(get_name),
            set: None,
            doc: c"The global's name when it was kept.".as_ptr(),
            closure: std::ptr::null_mut(),
        },
        // SAFETY: all-zero is the terminating entry the C API expects.
        unsafe { std::mem::zeroed() },
    ]));
    let members: &'static mut [ffi::PyMemberDef; 2] = Box::leak(Box::new([
        ffi::PyMemberDef {
            name: c"__vectorcalloffset__".as_ptr(),
            type_code: ffi::Py_T_PYSSIZET,
            offset: std::mem::offset_of!(Object, vectorcall) as ffi::Py_ssize_t,
            flags: ffi::Py_READONLY,
            doc: std::ptr::null(),
        },
        // SAFETY: all-zero is the terminating entry the C API expects.
        unsafe { std::mem::zeroed() },
    ]));
    let slots: &'static mut [ffi::PyType_Slot; 8] = Box::leak(Box::new([
        slot(ffi::Py_tp_call, call as *mut c_void),
        slot(ffi::Py_tp_members, members.as_mut_ptr().cast()),
        slot(ffi::Py_tp_dealloc, dealloc as *mut c_void),
        slot(ffi::Py_tp_repr, repr as *mut c_void),
        slot(ffi::Py_tp_new, refuse_new as *mut c_void),
        slot(ffi::Py_tp_getset, getset.as_mut_ptr().cast()),
        slot(ffi::Py_tp_doc, DOC.as_ptr() as *mut c_void),
        slot(0, std::ptr::null_mut()),
    ]));
    let spec: &'static mut ffi::PyType_Spec = Box::leak(Box::new(ffi::PyType_Spec {
        // Before Python 3.12 the type keeps pointing at this name: a literal, for ever.
        name: c"pylua_vm._core.LuaFunction".as_ptr(),
        basicsize: std::mem::size_of::<Object>() as c_int,
        itemsize: 0,
        flags: (ffi::Py_TPFLAGS_DEFAULT | HAVE_VECTORCALL) as _,
        slots: slots.as_mut_ptr(),
    }));
    // SAFETY: the spec, its slots and its members are leaked above (they live for ever) and
    // well formed (terminated arrays, functions of the slots' signatures); the GIL is held.
    let ty = unsafe { ffi::PyType_FromSpec(spec) };
    if ty.is_null() {
        return Err(PyErr::fetch(py));
    }
    // SAFETY: `ty` is a new reference to a type object; the module's attribute takes one
    // reference and the static keeps the other, never released.
    let bound = unsafe { Bound::from_borrowed_ptr(py, ty) };
    m.add("LuaFunction", bound)?;
    TYPE.store(ty.cast(), Ordering::Release);
    Ok(())
}

fn slot(slot: c_int, pfunc: *mut c_void) -> ffi::PyType_Slot {
    ffi::PyType_Slot { slot, pfunc }
}

/// A new handle of `vm`'s function.
pub(crate) fn new(
    py: Python<'_>,
    vm: Py<PyVm>,
    function: VmFunction,
    name: &str,
) -> PyResult<PyObject> {
    let ty = TYPE.load(Ordering::Acquire);
    if ty.is_null() {
        return Err(PyRuntimeError::new_err("LuaFunction's type is not ready"));
    }
    let kept = Box::new(Kept {
        vm,
        function,
        name: name.to_string(),
    });
    // SAFETY: the GIL is held; `ty` is the live type made by `register`, whose objects have
    // `Object`'s layout; `PyType_GenericAlloc` returns a zeroed object (or null with an
    // exception set), to which the handle is given before anyone sees it.
    unsafe {
        let obj = ffi::PyType_GenericAlloc(ty, 0);
        if obj.is_null() {
            return Err(PyErr::fetch(py));
        }
        let object = obj.cast::<Object>();
        (*object).kept = Box::into_raw(kept);
        (*object).vectorcall = Some(vectorcall);
        Ok(PyObject::from_owned_ptr(py, obj))
    }
}

/// The handle of `obj`, or None for an object without one.
///
/// # Safety
/// `obj` is a live object of the type made by [`register`].
unsafe fn kept<'a>(obj: *mut ffi::PyObject) -> Option<&'a Kept> {
    // SAFETY: the caller's contract: the layout is `Object`'s, and `kept` is null or the
    // box `new` gave it, freed only by `dealloc` (when no one can call the object).
    unsafe { (*obj.cast::<Object>()).kept.as_ref() }
}

/// Runs `f` with the GIL token, turning a Rust panic into Python's `PanicException` and an
/// error into a raised exception (null).
///
/// # Safety
/// Called by Python through a slot, with the GIL held.
unsafe fn entry(f: impl FnOnce(Python<'_>) -> PyResult<PyObject>) -> *mut ffi::PyObject {
    // SAFETY: the caller's contract: the GIL is held for the whole call.
    let py = unsafe { Python::assume_gil_acquired() };
    match catch_unwind(AssertUnwindSafe(|| f(py))) {
        Ok(Ok(value)) => value.into_ptr(),
        Ok(Err(e)) => {
            e.restore(py);
            std::ptr::null_mut()
        }
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic in pylua_vm".into());
            PanicException::new_err(message).restore(py);
            std::ptr::null_mut()
        }
    }
}

/// `tp_call`: `handle(*args)`, for callers that hold a tuple.
unsafe extern "C" fn call(
    obj: *mut ffi::PyObject,
    args: *mut ffi::PyObject,
    kwargs: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: Python calls a type's `tp_call` with the GIL held, a live object of the type,
    // a tuple of arguments and null or a dict of keyword arguments, all borrowed.
    unsafe {
        entry(|py| {
            if !kwargs.is_null() && ffi::PyDict_Size(kwargs) != 0 {
                return Err(positional_only());
            }
            let kept = kept(obj).ok_or_else(not_kept)?;
            let args = Bound::from_borrowed_ptr(py, args).downcast_into_unchecked::<PyTuple>();
            kept.vm
                .get()
                .call_python(py, &kept.name, Some(&kept.function), args.iter_borrowed())
        })
    }
}

/// The vectorcall of a handle: `handle(*args)` with the arguments in the caller's array.
///
/// # Safety
/// Only as the vectorcall of an object made by [`new`] (Python reads it at
/// `__vectorcalloffset__`), called by Python with the GIL held and PEP 590's arguments.
unsafe extern "C" fn vectorcall(
    obj: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargsf: usize,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: Python calls a vectorcall with the GIL held, a live object of the type,
    // `nargsf & !ARGUMENTS_OFFSET` borrowed arguments at `args` (which may be dangling when
    // there are none), then one more per name in `kwnames` (null or a tuple of strings).
    unsafe {
        entry(|py| {
            if !kwnames.is_null() && ffi::PyTuple_Size(kwnames) != 0 {
                return Err(positional_only());
            }
            let kept = kept(obj).ok_or_else(not_kept)?;
            let n = nargsf & !ARGUMENTS_OFFSET;
            let args: &[*mut ffi::PyObject] = if n == 0 {
                &[]
            } else {
                std::slice::from_raw_parts(args, n)
            };
            let args = args.iter().map(|&a| Borrowed::from_ptr(py, a));
            kept.vm
                .get()
                .call_python(py, &kept.name, Some(&kept.function), args)
        })
    }
}

fn positional_only() -> PyErr {
    PyTypeError::new_err("a Lua function takes positional arguments only")
}

fn not_kept() -> PyErr {
    PyTypeError::new_err("not a kept Lua function")
}

/// `tp_repr`: `<LuaFunction add>`.
unsafe extern "C" fn repr(obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: Python calls `tp_repr` with the GIL held and a live object of the type.
    unsafe {
        entry(|py| {
            let name = kept(obj).map_or("?", |k| k.name.as_str());
            Ok(format!("<LuaFunction {name}>")
                .into_pyobject(py)?
                .into_any()
                .unbind())
        })
    }
}

/// The `name` attribute.
unsafe extern "C" fn get_name(
    obj: *mut ffi::PyObject,
    _closure: *mut c_void,
) -> *mut ffi::PyObject {
    // SAFETY: Python calls a getter with the GIL held and a live object of the type.
    unsafe {
        entry(|py| match kept(obj) {
            Some(k) => Ok(k.name.as_str().into_pyobject(py)?.into_any().unbind()),
            None => Err(PyTypeError::new_err("not a kept Lua function")),
        })
    }
}

/// `tp_new`: handles come from `Vm.function(name)` only.
unsafe extern "C" fn refuse_new(
    _ty: *mut ffi::PyTypeObject,
    _args: *mut ffi::PyObject,
    _kwargs: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: Python calls `tp_new` with the GIL held.
    unsafe {
        entry(|_| {
            Err(PyTypeError::new_err(
                "LuaFunction cannot be created directly; use Vm.function(name)",
            ))
        })
    }
}

/// `tp_dealloc`: drops the handle (letting the VM collect the function), then frees the
/// object and the reference it held to its heap type.
unsafe extern "C" fn dealloc(obj: *mut ffi::PyObject) {
    // SAFETY: Python calls `tp_dealloc` once, with the GIL held, when the last reference
    // went; the handle is taken out before the memory goes, and `tp_free` is the allocator
    // `PyType_GenericAlloc` used.
    unsafe {
        let kept = std::mem::replace(&mut (*obj.cast::<Object>()).kept, std::ptr::null_mut());
        if !kept.is_null() {
            let kept = *Box::from_raw(kept);
            let py = Python::assume_gil_acquired();
            let _ = catch_unwind(AssertUnwindSafe(|| kept.release(py)));
        }
        let ty = ffi::Py_TYPE(obj);
        let free = ffi::PyType_GetSlot(ty, ffi::Py_tp_free);
        if !free.is_null() {
            let free: ffi::freefunc = std::mem::transmute(free);
            free(obj.cast());
        }
        ffi::Py_DECREF(ty.cast());
    }
}
