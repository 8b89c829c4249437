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

thread_local! {
    /// Results of the calls made on this thread, reused so a call allocates no vector.
    static RESULTS: std::cell::Cell<Vec<Json>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Arguments up to this many, all numbers, booleans or None, need no allocation at all.
const INLINE: usize = 8;

/// Python arguments as call arguments: inline when they are all scalars, else as JSON.
enum Args {
    Inline([Arg<'static>; INLINE], usize),
    Json(Vec<Json>),
}

impl Args {
    fn from_tuple(args: &Bound<'_, PyTuple>) -> PyResult<Args> {
        if args.len() <= INLINE {
            let mut inline = [Arg::Nil; INLINE];
            let mut all = true;
            for (slot, a) in inline.iter_mut().zip(args.iter()) {
                match scalar(&a) {
                    Some(arg) => *slot = arg?,
                    None => {
                        all = false;
                        break;
                    }
                }
            }
            if all {
                return Ok(Args::Inline(inline, args.len()));
            }
        }
        args.iter()
            .map(|a| to_json(&a))
            .collect::<PyResult<_>>()
            .map(Args::Json)
    }

    fn json(&self) -> Vec<Json> {
        match self {
            Args::Json(values) => values.clone(),
            Args::Inline(args, n) => args[..*n]
                .iter()
                .map(|a| match *a {
                    Arg::Bool(b) => Json::Bool(b),
                    Arg::Int(i) => Json::from(i),
                    Arg::Float(x) => {
                        serde_json::Number::from_f64(x).map_or(Json::Null, Json::Number)
                    }
                    _ => Json::Null,
                })
                .collect(),
        }
    }
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
        let args = Args::from_tuple(args)?;
        // This thread's result buffer, taken for the call (a call nested in a callback
        // finds it empty and makes its own).
        let mut values = RESULTS.take();
        let called = self.with_vm(py, |vm| {
            let callee = match function {
                Some(f) => Callee::Function(f),
                None => Callee::Global(name),
            };
            match (vm, &args) {
                (AnyVm::Embedded(vm), Args::Inline(inline, n)) => {
                    vm.call_args_into(callee, &inline[..*n], &mut values)
                }
                (AnyVm::Embedded(vm), Args::Json(json)) => {
                    let args: Vec<Arg<'_>> = json.iter().map(Arg::Json).collect();
                    vm.call_args_into(callee, &args, &mut values)
                }
                (vm, args) => vm.call(name, &args.json()).map(|v| values.extend(v)),
            }
        });
        let result = match called {
            Ok(Ok(())) => returned(py, &values),
            Ok(Err(e)) => Err(vm_error(py, &e)),
            Err(e) => Err(e),
        };
        values.clear();
        if values.capacity() <= 64 {
            RESULTS.set(values);
        }
        result
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
