//! Calling Lua functions from Python: `Vm.call(name, *args)` and the handles
//! `Vm.function(name)` returns ([`crate::function`]), which Python calls like functions (as
//! lupa's are).
//!
//! On the embedded VM the arguments go straight onto the Lua stack
//! ([`pylua::runtime::Vm::call_args`]): numbers, booleans and None without any allocation,
//! strings, lists and dicts as JSON values; scalar results come back as Python numbers
//! without a JSON value in between ([`Returned`]). The process backend gets JSON, as always.

use crate::convert::{to_json, to_py};
use crate::errors::{error, vm_error};
use crate::vm::{as_returned, PyVm};
use pylua::runtime::{AnyVm, Arg, Callee, Returned, VmFunction};
use pyo3::prelude::*;
use pyo3::types::PyFloat;
use pyo3::{ffi, IntoPyObjectExt};
use serde_json::Value as Json;

/// Arguments up to this many, all numbers, booleans or None, need no allocation at all.
const INLINE: usize = 6;

/// Where a call's results go. Most calls return one value: it is kept as it is, with no
/// buffer to fill and walk again (a small vector cost a twentieth of a kept call).
enum Out {
    None,
    One(Returned),
    Many(Vec<Returned>),
}

impl Out {
    fn as_slice(&self) -> &[Returned] {
        match self {
            Out::None => &[],
            Out::One(one) => std::slice::from_ref(one),
            Out::Many(many) => many,
        }
    }
}

impl Extend<Returned> for Out {
    fn extend<I: IntoIterator<Item = Returned>>(&mut self, values: I) {
        for value in values {
            *self = match std::mem::replace(self, Out::None) {
                Out::None => Out::One(value),
                Out::One(first) => Out::Many(vec![first, value]),
                Out::Many(mut many) => {
                    many.push(value);
                    Out::Many(many)
                }
            };
        }
    }
}

/// One result as Python sees it.
fn result_to_py(py: Python<'_>, value: &Returned) -> PyResult<PyObject> {
    match value {
        Returned::Nil => Ok(py.None()),
        Returned::Bool(b) => b.into_py_any(py),
        Returned::Int(i) => i.into_py_any(py),
        Returned::Float(x) => Ok(PyFloat::new(py, *x).into_any().unbind()),
        Returned::Json(j) => to_py(py, j),
    }
}

/// Python arguments as call arguments, read in one pass: scalars written into `inline` (and
/// `Ok(Some(n))`), or, when one is a string or a container, all of them as JSON (`Ok(None)`,
/// in `json`).
fn read_args<'a, 'py>(
    args: impl ExactSizeIterator<Item = Borrowed<'a, 'py, PyAny>>,
    inline: &mut [Arg<'static>; INLINE],
    json: &mut Vec<Json>,
) -> PyResult<Option<usize>> {
    let n = args.len();
    let mut args = args;
    if n <= INLINE {
        let mut read = 0;
        for a in args.by_ref() {
            match scalar(&a) {
                Some(arg) => {
                    inline[read] = arg?;
                    read += 1;
                }
                None => {
                    // The scalars before this one, this one and the rest, all as JSON.
                    json.extend(inline[..read].iter().map(arg_json));
                    json.push(to_json(&a)?);
                    break;
                }
            }
        }
        if json.is_empty() {
            return Ok(Some(n));
        }
    }
    for a in args {
        json.push(to_json(&a)?);
    }
    Ok(None)
}

/// A call argument as JSON, for the process backend (the JSON Python's value would give).
fn arg_json(a: &Arg<'_>) -> Json {
    match *a {
        Arg::Bool(b) => Json::Bool(b),
        Arg::Int(i) => Json::from(i),
        Arg::Float(x) => serde_json::Number::from_f64(x).map_or(Json::Null, Json::Number),
        Arg::Json(j) => j.clone(),
        _ => Json::Null,
    }
}

/// Call arguments as JSON, for the process backend.
fn as_json(args: &[Arg<'_>]) -> Vec<Json> {
    args.iter().map(arg_json).collect()
}

/// A scalar argument, or None for anything that needs more (a string, a container).
/// Exact types only (a subclass may redefine what its value means), read through the C
/// API: this runs for every argument of every call.
fn scalar(value: &Bound<'_, PyAny>) -> Option<PyResult<Arg<'static>>> {
    let py = value.py();
    let ptr = value.as_ptr();
    // SAFETY: `ptr` is a live object (borrowed from `value`) and the GIL is held; the type
    // objects are the interpreter's static ones, compared by address, and each conversion
    // is called only on an object of exactly its type.
    unsafe {
        if ptr == ffi::Py_None() {
            return Some(Ok(Arg::Nil));
        }
        let ty = ffi::Py_TYPE(ptr);
        if ty == std::ptr::addr_of_mut!(ffi::PyLong_Type) {
            let mut overflow = 0;
            let v = ffi::PyLong_AsLongLongAndOverflow(ptr, &mut overflow);
            if overflow != 0 {
                return Some(Err(pyo3::exceptions::PyOverflowError::new_err(
                    "integer does not fit in a Lua integer (64-bit signed)",
                )));
            }
            if v == -1 {
                if let Some(e) = PyErr::take(py) {
                    return Some(Err(e));
                }
            }
            return Some(Ok(Arg::Int(v)));
        }
        if ty == std::ptr::addr_of_mut!(ffi::PyBool_Type) {
            return Some(Ok(Arg::Bool(ptr == ffi::Py_True())));
        }
        if ty == std::ptr::addr_of_mut!(ffi::PyFloat_Type) {
            let x = ffi::PyFloat_AsDouble(ptr);
            return Some(if x.is_finite() {
                Ok(Arg::Float(x))
            } else {
                Err(pyo3::exceptions::PyValueError::new_err(
                    "NaN and infinity cannot be passed to Lua",
                ))
            });
        }
    }
    None
}

impl PyVm {
    /// Calls `callee` (a global's name, or a kept function) with Python arguments.
    pub(crate) fn call_python<'a, 'py>(
        &self,
        py: Python<'py>,
        name: &str,
        function: Option<&VmFunction>,
        args: impl ExactSizeIterator<Item = Borrowed<'a, 'py, PyAny>>,
    ) -> PyResult<PyObject> {
        let mut inline = [Arg::Nil; INLINE];
        let mut json = Vec::new();
        let json_args: Vec<Arg<'_>>;
        let args: &[Arg<'_>] = match read_args(args, &mut inline, &mut json)? {
            Some(n) => &inline[..n],
            None => {
                json_args = json.iter().map(Arg::Json).collect();
                &json_args
            }
        };
        let mut values = Out::None;
        let called = self.with_vm(py, |vm| {
            let callee = match function {
                Some(f) => Callee::Function(f),
                None => Callee::Global(name),
            };
            match vm {
                AnyVm::Embedded(vm) => vm.call_args_returning(callee, args, &mut values),
                vm => vm
                    .call(name, &as_json(args))
                    .map(|v| values.extend(v.into_iter().map(Returned::Json))),
            }
        });
        match called {
            Ok(Ok(())) => as_returned(py, values.as_slice(), result_to_py),
            Ok(Err(e)) => Err(vm_error(py, &e)),
            Err(e) => Err(e),
        }
    }
}

/// `Vm.function(name)`: keeps the global function `name` (embedded VM only).
pub(crate) fn keep(slf: &Bound<'_, PyVm>, name: &str) -> PyResult<PyObject> {
    let py = slf.py();
    let kept = slf.get().with_vm(py, |vm| match vm {
        AnyVm::Embedded(vm) => Some(vm.function(name)),
        AnyVm::Process(_) => None,
    })?;
    match kept {
        Some(Ok(function)) => crate::function::new(py, slf.clone().unbind(), function, name),
        Some(Err(e)) => Err(vm_error(py, &e)),
        None => Err(error(
            py,
            "usage",
            "function handles need the embedded VM (lua_executable=None); use call(name, ...)",
            Json::Null,
        )),
    }
}
