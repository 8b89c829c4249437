//! `pylua_vm._core`: the compiled half of the Python module `pylua_vm`. A thin layer over the
//! `pylua` library — VMs ([`vm`]), environments and installs ([`env`]), logging — that only
//! converts arguments and results; the pure-Python package around it gives the API its shape.

mod call;
mod convert;
mod env;
mod errors;
mod function;
mod judge;
mod logging;
mod net;
mod sigint;
mod slot;
mod vm;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    logging::init();
    m.add_class::<vm::PyVm>()?;
    function::register(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("LUA_RELEASE", pylua::runtime::LUA_RELEASE)?;
    m.add("MAX_DEPTH", convert::MAX_DEPTH)?;
    m.add_function(wrap_pyfunction!(parse_size, m)?)?;
    m.add_function(wrap_pyfunction!(parse_duration, m)?)?;
    m.add_function(wrap_pyfunction!(logging::set_log_level, m)?)?;
    m.add_function(wrap_pyfunction!(sigint::install_sigint_handler, m)?)?;
    m.add_function(wrap_pyfunction!(env::config_path, m)?)?;
    m.add_function(wrap_pyfunction!(env::config_get, m)?)?;
    m.add_function(wrap_pyfunction!(env::config_set, m)?)?;
    m.add_function(wrap_pyfunction!(env::config_check, m)?)?;
    m.add_function(wrap_pyfunction!(env::config_portable, m)?)?;
    m.add_function(wrap_pyfunction!(env::config_replace, m)?)?;
    m.add_function(wrap_pyfunction!(env::check_lua, m)?)?;
    m.add_function(wrap_pyfunction!(env::profiles, m)?)?;
    m.add_function(wrap_pyfunction!(env::expand_profile, m)?)?;
    m.add_function(wrap_pyfunction!(env::create_profile, m)?)?;
    m.add_function(wrap_pyfunction!(env::catalog, m)?)?;
    m.add_function(wrap_pyfunction!(env::interpreters, m)?)?;
    m.add_function(wrap_pyfunction!(env::paths, m)?)?;
    m.add_function(wrap_pyfunction!(env::tree_info, m)?)?;
    m.add_function(wrap_pyfunction!(env::installed, m)?)?;
    m.add_function(wrap_pyfunction!(env::install, m)?)?;
    m.add_function(wrap_pyfunction!(env::cli_main, m)?)?;
    m.add_function(wrap_pyfunction!(judge::doctor, m)?)?;
    m.add_function(wrap_pyfunction!(judge::recommend, m)?)?;
    m.add_function(wrap_pyfunction!(judge::audit_env, m)?)?;
    m.add_function(wrap_pyfunction!(judge::test_packages, m)?)?;
    m.add_function(wrap_pyfunction!(judge::bench, m)?)?;
    m.add_function(wrap_pyfunction!(net::networking_health, m)?)?;
    Ok(())
}

/// Bytes from an int or a size as the CLI writes it (`64M`), by the library's rules.
#[pyfunction]
fn parse_size(value: &Bound<'_, PyAny>) -> PyResult<usize> {
    vm::size_arg("size", value)
}

/// Seconds from a number or a duration as the CLI writes it (`2s`, `500ms`).
#[pyfunction]
fn parse_duration(value: &Bound<'_, PyAny>) -> PyResult<f64> {
    vm::duration_arg("duration", value).map(|d| d.as_secs_f64())
}
