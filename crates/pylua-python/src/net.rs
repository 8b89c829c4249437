//! The network policy from Python's keyword arguments (`allow_net=[...]`, `deny_net`,
//! `allow_http`, `net_limits`), and the library's networking health check.

use crate::convert::to_py;
use crate::vm::{count_arg, duration_arg, size_arg};
use pylua::runtime::{HostPattern, NetOptions, NetPolicy};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;

/// The policy these arguments ask for; None without `allow_net` (then Lua has no `net`).
/// `net_limits` keys: `max_response`, `timeout`, `max_requests`, `max_total`.
pub fn policy(
    allow_net: &[String],
    deny_net: &[String],
    allow_http: bool,
    net_limits: Option<&Bound<'_, PyDict>>,
) -> PyResult<Option<NetPolicy>> {
    let patterns = |list: &[String]| {
        list.iter()
            .map(|p| HostPattern::parse(p).map_err(PyValueError::new_err))
            .collect::<PyResult<Vec<_>>>()
    };
    let mut options = NetOptions {
        allow: patterns(allow_net)?,
        deny: patterns(deny_net)?,
        allow_http: Some(allow_http),
        ..NetOptions::default()
    };
    if let Some(limits) = net_limits {
        for (key, value) in limits.iter() {
            let key: String = key.extract()?;
            match key.as_str() {
                "max_response" => {
                    options.max_response_bytes =
                        Some(size_arg("net_limits['max_response']", &value)? as u64)
                }
                "timeout" => {
                    options.request_timeout =
                        Some(duration_arg("net_limits['timeout']", &value)?)
                }
                "max_requests" => {
                    let n = count_arg("net_limits['max_requests']", &value)?;
                    options.max_requests = Some(n.try_into().map_err(|_| {
                        pyo3::exceptions::PyValueError::new_err(format!(
                            "net_limits['max_requests'] is too large: {n}"
                        ))
                    })?)
                }
                "max_total" => {
                    options.max_total_bytes =
                        Some(size_arg("net_limits['max_total']", &value)? as u64)
                }
                other => {
                    return Err(PyValueError::new_err(format!(
                        "unknown net_limits key '{other}': expected max_response, timeout, max_requests or max_total"
                    )))
                }
            }
        }
    }
    Ok(options.policy())
}

/// The networking checks of `pylua doctor --only networking` against `tree`, as a dict:
/// `checks` (each with `check`, `severity`, `what`, `why`, `fix`), `readiness_percentage`,
/// `luasocket_ready`, `tree`.
#[pyfunction]
#[pyo3(signature = (tree, offline=true))]
pub fn networking_health(py: Python<'_>, tree: PathBuf, offline: bool) -> PyResult<PyObject> {
    let tree = pylua::packages::tree::Tree::detect(tree);
    let public = (!offline).then_some("luarocks.org");
    let health = py.allow_threads(|| pylua::operations::doctor::networking_health(&tree, public));
    let json = serde_json::to_value(&health).map_err(|e| PyValueError::new_err(e.to_string()))?;
    to_py(py, &json)
}
