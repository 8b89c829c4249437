//! Calling Lua functions from Python: `Vm.call(name, *args)` and the handles
//! `Vm.function(name)` returns, which Python calls like functions (as lupa's are).
//!
//! On the embedded VM the arguments go straight onto the Lua stack
//! ([`pylua::runtime::Vm::call_args`]): numbers, booleans and None without any allocation,
//! strings, lists and dicts as JSON values. The process backend gets JSON, as always.

use crate::convert::to_json;
use crate::errors::{error, vm_error};
use crate::vm::{returned, PyVm};
use pylua::runtime::{AnyVm, Arg, Callee, VmFunction};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyTuple};
use serde_json::Value as Json;
use smallvec::SmallVec;

/// Arguments up to this many, all numbers, booleans or None, need no allocation at all.
const INLINE: usize = 6;

/// Results up to this many need no allocation.
type Results = SmallVec<[Json; 2]>;

/// Where a call's results go: a buffer on the stack, filled one by one (no size hint to
/// reserve for, unlike `Extend` on the buffer itself).
struct Out(Results);

impl Extend<Json> for Out {
    fn extend<I: IntoIterator<Item = Json>>(&mut self, values: I) {
        for value in values {
            self.0.push(value);
        }
    }
}

/// Python arguments as call arguments: scalars written into `inline` (and `Ok(Some(n))`),
/// or, when one is a string or a container, all of them as JSON (`Ok(None)`, in `json`).
fn read_args(
    args: &Bound<'_, PyTuple>,
    inline: &mut [Arg<'static>; INLINE],
    json: &mut Vec<Json>,
) -> PyResult<Option<usize>> {
    let n = args.len();
    if n <= INLINE {
        let mut all = true;
        for (slot, a) in inline.iter_mut().zip(args.iter_borrowed()) {
            match scalar(&a) {
                Some(arg) => *slot = arg?,
                None => {
                    all = false;
                    break;
                }
            }
        }
        if all {
            return Ok(Some(n));
        }
    }
    for a in args.iter_borrowed() {
        json.push(to_json(&a)?);
    }
    Ok(None)
}

/// Call arguments as JSON, for the process backend.
fn as_json(args: &[Arg<'_>]) -> Vec<Json> {
    args.iter()
        .map(|a| match *a {
            Arg::Bool(b) => Json::Bool(b),
            Arg::Int(i) => Json::from(i),
            Arg::Float(x) => serde_json::Number::from_f64(x).map_or(Json::Null, Json::Number),
            Arg::Json(j) => j.clone(),
            _ => Json::Null,
        })
        .collect()
}

/// A scalar argument, or None for anything that needs more (a string, a container).
fn scalar(value: &Bound<'_, PyAny>) -> Option<PyResult<Arg<'static>>> {
    if value.is_none() {
        return Some(Ok(Arg::Nil));
    }
    if let Ok(b) = value.downcast_exact::<PyBool>() {
        return Some(Ok(Arg::Bool(b.is_true())));
    }
    if value.is_exact_instance_of::<PyInt>() {
        return Some(value.extract::<i64>().map(Arg::Int).map_err(|_| {
            pyo3::exceptions::PyOverflowError::new_err(
                "integer does not fit in a Lua integer (64-bit signed)",
            )
        }));
    }
    if let Ok(f) = value.downcast_exact::<PyFloat>() {
        let x = f.value();
        return Some(if x.is_finite() {
            Ok(Arg::Float(x))
        } else {
            Err(pyo3::exceptions::PyValueError::new_err(
                "NaN and infinity cannot be passed to Lua",
            ))
        });
    }
    None
}

impl PyVm {
    /// Calls `callee` (a global's name, or a kept function) with Python arguments.
    pub(crate) fn call_python(
        &self,
        py: Python<'_>,
        name: &str,
        function: Option<&VmFunction>,
        args: &Bound<'_, PyTuple>,
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
        let mut values = Out(Results::new());
        let called = self.with_vm(py, |vm| {
            let callee = match function {
                Some(f) => Callee::Function(f),
                None => Callee::Global(name),
            };
            match vm {
                AnyVm::Embedded(vm) => vm.call_args_into(callee, args, &mut values),
                vm => vm.call(name, &as_json(args)).map(|v| values.extend(v)),
            }
        });
        match called {
            Ok(Ok(())) => returned(py, &values.0),
            Ok(Err(e)) => Err(vm_error(py, &e)),
            Err(e) => Err(e),
        }
    }
}

/// A Lua function kept by its VM (`Vm.function(name)`): calling it from Python calls the
/// function as it was when kept, even if the global changes later. It belongs to its VM's
/// current state: after `reset()` calling it raises.
#[pyclass(module = "pylua_vm._core", name = "LuaFunction", frozen)]
pub struct LuaFunction {
    vm: Py<PyVm>,
    function: VmFunction,
    #[pyo3(get)]
    name: String,
}

#[pymethods]
impl LuaFunction {
    #[pyo3(signature = (*args))]
    fn __call__(&self, py: Python<'_>, args: &Bound<'_, PyTuple>) -> PyResult<PyObject> {
        self.vm
            .get()
            .call_python(py, &self.name, Some(&self.function), args)
    }

    fn __repr__(&self) -> String {
        format!("<LuaFunction {}>", self.name)
    }
}

impl Drop for LuaFunction {
    fn drop(&mut self) {
        // Lets the VM collect the function, unless a call holds the VM right now (waiting
        // for it here, with the GIL held, could deadlock against a callback into Python):
        // then it stays referenced until the VM is reset or closed.
        if let Some(mut guard) = self.vm.get().try_vm() {
            if let Some(AnyVm::Embedded(vm)) = guard.as_mut() {
                let _ = vm.release_function(self.function.clone());
            }
        }
    }
}

/// `Vm.function(name)`: keeps the global function `name` (embedded VM only).
pub(crate) fn keep(slf: &Bound<'_, PyVm>, name: &str) -> PyResult<LuaFunction> {
    let py = slf.py();
    let kept = slf.get().with_vm(py, |vm| match vm {
        AnyVm::Embedded(vm) => Some(vm.function(name)),
        AnyVm::Process(_) => None,
    })?;
    match kept {
        Some(Ok(function)) => Ok(LuaFunction {
            vm: slf.clone().unbind(),
            function,
            name: name.to_string(),
        }),
        Some(Err(e)) => Err(vm_error(py, &e)),
        None => Err(error(
            py,
            "usage",
            "function handles need the embedded VM (lua_executable=None); use call(name, ...)",
            Json::Null,
        )),
    }
}
