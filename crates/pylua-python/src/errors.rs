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

/// A VM error with its location and traceback. A "module not found" error gets the package
/// that provides the module, from the module indexes already cached (never the network).
pub fn vm_error(py: Python<'_>, e: &pylua::VmError) -> PyErr {
    let mut e = e.clone();
    if e.hint.is_none() && pylua::curator::module_index::missing_module(&e.message).is_some() {
        if let Ok(config) = pylua::config::Config::load(&pylua::paths::Paths::discover()) {
            pylua::operations::run_support::annotate_error(&mut e, None, &config);
        }
    }
    let message = match e.hint.as_deref().and_then(hint_text) {
        Some(hint) => format!("{}\nhint: {hint}", e.message),
        None => e.message.clone(),
    };
    error(py, e.kind.as_str(), &message, vm_error_details(&e))
}

pub fn vm_error_details(e: &pylua::VmError) -> Json {
    json!({
        "kind": e.kind.as_str(),
        "message": e.message,
        "chunk": e.chunk,
        "line": e.line,
        "traceback": e.traceback,
        "hint": e.hint,
        // A syntax error that only lacks more input (a line typed at a prompt).
        "incomplete": e.incomplete,
    })
}

/// A library hint in Python's words, where there is a method for it.
pub fn hint_text(hint: &pylua::hint::Hint) -> Option<String> {
    use pylua::hint::Hint;
    match hint {
        Hint::ProvidedBy {
            module, packages, ..
        } => {
            let first = packages.first()?;
            Some(format!(
                "module '{module}' is provided by package {first}; install it with LuaProcess.install_package('{first}')"
            ))
        }
        Hint::InstallLua { version } => Some(format!(
            "no Lua {version} interpreter: `python -m pylua_vm lua install {version}` builds one"
        )),
        Hint::Lock => Some("the project's lock is missing or stale: lock it again".into()),
        _ => None,
    }
}
