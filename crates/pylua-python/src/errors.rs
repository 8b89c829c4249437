//! Errors to Python exceptions. The choice of class for each library `kind` is made in one
//! place, `pylua_vm.exceptions.error_for` (Python, so users can read it next to the classes);
//! this side only hands over the kind, the message and the structured details.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use serde_json::{json, Value as Json};

/// The exception for a library error of `kind`.
pub fn error(py: Python<'_>, kind: &str, message: &str, details: Json) -> PyErr {
    let made = (|| -> PyResult<PyErr> {
        let details = crate::convert::to_py(py, &details)?;
        let exception = py
            .import("pylua_vm.exceptions")?
            .getattr("error_for")?
            .call1((kind, message, details))?;
        Ok(PyErr::from_value(exception))
    })();
    made.unwrap_or_else(|e| {
        PyRuntimeError::new_err(format!("{kind}: {message} (and pylua_vm.exceptions: {e})"))
    })
}

/// A VM error with its location and traceback.
pub fn vm_error(py: Python<'_>, e: &pylua::VmError) -> PyErr {
    error(py, e.kind.as_str(), &e.message, vm_error_details(e))
}

pub fn vm_error_details(e: &pylua::VmError) -> Json {
    json!({
        "kind": e.kind.as_str(),
        "message": e.message,
        "chunk": e.chunk,
        "line": e.line,
        "traceback": e.traceback,
    })
}
