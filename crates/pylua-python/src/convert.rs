//! Python values to and from the JSON values the runtime exchanges with Lua (the runtime owns
//! the Lua side of the conversion; this is only the Python side). Whatever a Python caller
//! passes, the result is a value or a clean exception: recursion and depth are bounded, and
//! integers that do not fit Lua's 64 bits, NaN, bytes that are not UTF-8, keys that are not
//! strings and objects of other types are refused with a message saying which.

use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::{Map, Number, Value as Json};

/// Deeper than this is refused (recursive containers reach it at once); the runtime pushes
/// nested values recursively, so this also bounds its C stack use.
pub const MAX_DEPTH: usize = 100;

pub fn to_json(value: &Bound<'_, PyAny>) -> PyResult<Json> {
    to_json_at(value, 0)
}

fn to_json_at(value: &Bound<'_, PyAny>, depth: usize) -> PyResult<Json> {
    if depth > MAX_DEPTH {
        return Err(PyValueError::new_err(format!(
            "value nested more than {MAX_DEPTH} levels deep (or recursive): cannot pass it to Lua"
        )));
    }
    if value.is_none() {
        return Ok(Json::Null);
    }
    if let Ok(b) = value.downcast::<PyBool>() {
        return Ok(Json::Bool(b.is_true()));
    }
    if let Ok(i) = value.downcast::<PyInt>() {
        return match i.extract::<i64>() {
            Ok(n) => Ok(Json::Number(n.into())),
            Err(_) => Err(PyOverflowError::new_err(
                "integer does not fit in a Lua integer (64-bit signed)",
            )),
        };
    }
    if let Ok(f) = value.downcast::<PyFloat>() {
        return Number::from_f64(f.value())
            .map(Json::Number)
            .ok_or_else(|| PyValueError::new_err("NaN and infinity cannot be passed to Lua"));
    }
    if let Ok(s) = value.downcast::<PyString>() {
        return Ok(Json::String(s.to_cow()?.into_owned()));
    }
    if let Ok(b) = value.downcast::<PyBytes>() {
        return String::from_utf8(b.as_bytes().to_vec())
            .map(Json::String)
            .map_err(|_| PyValueError::new_err("bytes passed to Lua must be UTF-8"));
    }
    if let Ok(list) = value.downcast::<PyList>() {
        let mut items = Vec::with_capacity(list.len());
        for item in list.iter() {
            items.push(to_json_at(&item, depth + 1)?);
        }
        return Ok(Json::Array(items));
    }
    if let Ok(tuple) = value.downcast::<PyTuple>() {
        let mut items = Vec::with_capacity(tuple.len());
        for item in tuple.iter() {
            items.push(to_json_at(&item, depth + 1)?);
        }
        return Ok(Json::Array(items));
    }
    if let Ok(dict) = value.downcast::<PyDict>() {
        let mut map = Map::with_capacity(dict.len());
        for (k, v) in dict.iter() {
            let key = k.downcast::<PyString>().map_err(|_| {
                PyTypeError::new_err(format!(
                    "dict keys passed to Lua must be str, not {}",
                    type_name(&k)
                ))
            })?;
            map.insert(key.to_cow()?.into_owned(), to_json_at(&v, depth + 1)?);
        }
        return Ok(Json::Object(map));
    }
    Err(PyTypeError::new_err(format!(
        "cannot pass a {} to Lua (None, bool, int, float, str, bytes, list, tuple and dict can)",
        type_name(value)
    )))
}

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "object".into())
}

pub fn to_py(py: Python<'_>, value: &Json) -> PyResult<PyObject> {
    Ok(match value {
        Json::Null => py.None(),
        Json::Bool(b) => PyBool::new(py, *b).to_owned().into_any().unbind(),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any().unbind()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any().unbind()
            } else {
                n.as_f64()
                    .unwrap_or(f64::NAN)
                    .into_pyobject(py)?
                    .into_any()
                    .unbind()
            }
        }
        Json::String(s) => PyString::new(py, s).into_any().unbind(),
        Json::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            list.into_any().unbind()
        }
        Json::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, to_py(py, v)?)?;
            }
            dict.into_any().unbind()
        }
    })
}

/// Any serializable library result as Python values.
pub fn serialized<T: serde::Serialize>(py: Python<'_>, value: &T) -> PyResult<PyObject> {
    let json = serde_json::to_value(value)
        .map_err(|e| PyValueError::new_err(format!("cannot convert a result: {e}")))?;
    to_py(py, &json)
}
