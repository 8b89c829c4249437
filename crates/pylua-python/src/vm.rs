//! `pylua_vm._core.Vm`: one runtime VM ([`pylua::runtime::AnyVm`]) shared by Python threads.
//!
//! Lua runs with the GIL released, so other Python threads (and other VMs) run meanwhile.
//! A mutex serialises the threads that use one VM; it is only taken with the GIL released,
//! so a Lua callback into Python (which takes the GIL) cannot deadlock against a thread that
//! waits for the VM.

use crate::convert::{to_json, to_py};
use crate::errors::{error, vm_error, vm_error_details};
use crate::sigint;
use crate::slot::{HeldHere, Lent, Slot};
use pylua::interpreters::{self, Interpreter, LuaVersion, Origin};
use pylua::runtime::{
    parse_duration, parse_size, AnyVm, Backend, Interrupter, Limits, Sandbox, VmError,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyList, PyString, PyTuple};
use serde_json::Value as Json;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A Python exception raised inside a callback, kept until the run returns so the caller
/// gets the original exception (a `KeyboardInterrupt` stays one) rather than a Lua error.
/// The flag spares every call a lock when nothing is pending (the common case).
#[derive(Default)]
struct PendingError {
    set: AtomicBool,
    error: Mutex<Option<PyErr>>,
}

type Pending = Arc<PendingError>;

impl PendingError {
    fn put(&self, e: PyErr) {
        *lock(&self.error) = Some(e);
        self.set.store(true, SeqCst);
    }
    fn is_set(&self) -> bool {
        self.set.load(SeqCst)
    }
    fn take(&self) -> Option<PyErr> {
        if !self.is_set() {
            return None;
        }
        self.set.store(false, SeqCst);
        lock(&self.error).take()
    }
}

#[pyclass(module = "pylua_vm._core", name = "Vm", frozen)]
pub struct PyVm {
    vm: Slot,
    /// Stops the VM's running script: Ctrl-C on the main thread ([`sigint`]), or
    /// `interrupt()` from any thread.
    interrupter: Interrupter,
    pending: Pending,
    #[pyo3(get)]
    backend: &'static str,
    #[pyo3(get)]
    release: String,
    #[pyo3(get)]
    sandbox: &'static str,
}

/// A size in bytes from an int or the CLI's notation (`64M`); `what` names the argument in
/// errors.
pub fn size_arg(what: &str, value: &Bound<'_, PyAny>) -> PyResult<usize> {
    if let Ok(s) = value.downcast::<PyString>() {
        let py = value.py();
        return parse_size(&s.to_cow()?).map_err(|e| vm_error(py, &e));
    }
    let n: i128 = exact_int(value).ok_or_else(|| {
        PyTypeError::new_err(format!(
            "{what} must be a number of bytes or a size like '64M'"
        ))
    })?;
    usize::try_from(n)
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| PyValueError::new_err(format!("{what} must be a positive size, not {n}")))
}

/// A duration from seconds or the CLI's notation (`2s`, `500ms`); `what` names the argument
/// in errors.
pub fn duration_arg(what: &str, value: &Bound<'_, PyAny>) -> PyResult<Duration> {
    if let Ok(s) = value.downcast::<PyString>() {
        let py = value.py();
        return parse_duration(&s.to_cow()?).map_err(|e| vm_error(py, &e));
    }
    if value.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err(format!(
            "{what} must be seconds or a duration like '2s', not a bool"
        )));
    }
    let seconds: f64 = value.extract().map_err(|_| {
        PyTypeError::new_err(format!("{what} must be seconds or a duration like '2s'"))
    })?;
    Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| PyValueError::new_err(format!("{what} must be positive, not {seconds}")))
}

/// A positive count (an int, not a bool); `what` names the argument in errors.
pub fn count_arg(what: &str, value: &Bound<'_, PyAny>) -> PyResult<u64> {
    let n = exact_int(value)
        .ok_or_else(|| PyTypeError::new_err(format!("{what} must be a whole number")))?;
    if n > i128::from(u64::MAX) {
        return Err(PyValueError::new_err(format!("{what} is too large: {n}")));
    }
    u64::try_from(n)
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| PyValueError::new_err(format!("{what} must be a positive count, not {n}")))
}

/// An int's value, or None for anything else (a bool is not a number of anything here).
fn exact_int(value: &Bound<'_, PyAny>) -> Option<i128> {
    if value.is_instance_of::<PyBool>() {
        return None;
    }
    value.extract().ok()
}

/// A directory given to the sandbox: no NUL inside (no such path can exist).
fn dir_arg(what: &str, dir: PathBuf) -> PyResult<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    if dir.as_os_str().as_bytes().contains(&0) {
        return Err(PyValueError::new_err(format!(
            "{what} entry {dir:?} contains a NUL character"
        )));
    }
    Ok(dir)
}

/// A string that becomes a C string or a Lua name: no NUL inside.
fn checked<'a>(what: &str, text: &'a str) -> PyResult<&'a str> {
    if text.contains('\0') {
        return Err(PyValueError::new_err(format!(
            "{what} contains a NUL character"
        )));
    }
    Ok(text)
}

/// The interpreter a `lua_executable` names: a version (`5.1`, `luajit`) is looked up as the
/// CLI's `--lua` is; anything else must be the path of a Lua interpreter.
fn interpreter_for(py: Python<'_>, executable: &str) -> PyResult<Option<LuaVersion>> {
    if let Ok(version) = executable.parse::<LuaVersion>() {
        return Ok(Some(version));
    }
    let _ = py;
    Ok(None)
}

fn probe_path(py: Python<'_>, executable: &str) -> PyResult<Interpreter> {
    let path = PathBuf::from(checked("lua_executable", executable)?);
    let probed = py.allow_threads(|| interpreters::probe(&path));
    let (version, release) = probed.ok_or_else(|| {
        error(
            py,
            "usage",
            &format!("'{executable}' is not a Lua interpreter pylua can run (5.1–5.4 or LuaJIT)"),
            Json::Null,
        )
    })?;
    Ok(Interpreter {
        version,
        release,
        path,
        aliases: Vec::new(),
        origin: Origin::Path,
        include_dir: None,
        library: None,
    })
}

impl PyVm {
    /// Runs `job` on the VM with the GIL released, then raises what a callback left pending.
    /// A Ctrl-C meanwhile stops the script (on the main thread) and raises
    /// `KeyboardInterrupt` here.
    pub(crate) fn with_vm<R: Send>(
        &self,
        py: Python<'_>,
        job: impl FnOnce(&mut AnyVm) -> R + Send,
    ) -> PyResult<R> {
        let mut lent = self.take(py)?;
        let vm = lent.vm();
        let (result, on_main) = py.allow_threads(|| {
            // Once the VM is ours: Ctrl-C while waiting for it must not stop another
            // thread's call.
            let call = sigint::Call::begin(&self.interrupter);
            (vm.as_mut().map(job), call.on_main())
        });
        drop(lent);
        if on_main && sigint::arrived() {
            if let Err(e) = py.check_signals() {
                // The Ctrl-C that raised this may have come after the run ended: it must
                // not stop the next one.
                self.interrupter.clear();
                return Err(e);
            }
        }
        if let Some(e) = self.pending.take() {
            return Err(e);
        }
        result.ok_or_else(|| error(py, "closed", "this LuaProcess is closed", Json::Null))
    }
}

impl PyVm {
    /// The VM, for this call: waits while another thread's call holds it; refused when
    /// this thread's does (a callback running code on the VM that called it).
    fn take<'py>(&self, py: Python<'py>) -> PyResult<Lent<'_, 'py>> {
        self.vm.take(py).map_err(|HeldHere| {
            error(
                py,
                "usage",
                "this LuaProcess is running the code that made this call (a Python callback \
                 cannot run code on the VM that called it; use another LuaProcess)",
                Json::Null,
            )
        })
    }

    /// The VM if no call holds it now.
    pub(crate) fn try_vm<'py>(&self, py: Python<'py>) -> Option<Lent<'_, 'py>> {
        self.vm.try_take_here(py)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves nothing half-done that matters here.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One value as Python returns it: nothing → None, one → the value, several → a tuple.
pub(crate) fn returned(py: Python<'_>, values: &[Json]) -> PyResult<PyObject> {
    as_returned(py, values, to_py)
}

/// [`returned`] for values of any kind, each made a Python object by `convert`.
pub(crate) fn as_returned<T>(
    py: Python<'_>,
    values: &[T],
    convert: impl Fn(Python<'_>, &T) -> PyResult<PyObject>,
) -> PyResult<PyObject> {
    match values {
        [] => Ok(py.None()),
        [one] => convert(py, one),
        many => {
            let items = many
                .iter()
                .map(|v| convert(py, v))
                .collect::<PyResult<Vec<_>>>()?;
            Ok(PyTuple::new(py, items)?.into_any().unbind())
        }
    }
}

#[pymethods]
impl PyVm {
    #[new]
    #[pyo3(signature = (sandbox="none", memory=None, timeout=None, instructions=None,
                        lua_executable=None, package_path=None, package_cpath=None,
                        allow_dirs=Vec::new(), allow_net=Vec::new(), deny_net=Vec::new(),
                        allow_http=false, net_limits=None, allow_luasocket=false,
                        read_only_dirs=Vec::new()))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        sandbox: &str,
        memory: Option<&Bound<'_, PyAny>>,
        timeout: Option<&Bound<'_, PyAny>>,
        instructions: Option<&Bound<'_, PyAny>>,
        lua_executable: Option<&str>,
        package_path: Option<&str>,
        package_cpath: Option<&str>,
        allow_dirs: Vec<PathBuf>,
        allow_net: Vec<String>,
        deny_net: Vec<String>,
        allow_http: bool,
        net_limits: Option<&Bound<'_, PyDict>>,
        allow_luasocket: bool,
        read_only_dirs: Vec<PathBuf>,
    ) -> PyResult<Self> {
        let sandbox: Sandbox = sandbox.parse().map_err(|e: VmError| vm_error(py, &e))?;
        let limits = Limits {
            memory: memory.map(|m| size_arg("memory", m)).transpose()?,
            timeout: timeout.map(|t| duration_arg("timeout", t)).transpose()?,
            instructions: instructions
                .map(|n| count_arg("instructions", n))
                .transpose()?,
        };
        // The interpreter's stderr goes to this process's, as Python users expect of a child.
        let mut builder = AnyVm::builder()
            .sandbox(sandbox)
            .limits(limits)
            .exit_with_parent(true)
            .allow_luasocket(allow_luasocket)
            .stderr(pylua::runtime::StderrSink::inherit());
        if let Some(exe) = lua_executable {
            builder = match interpreter_for(py, exe)? {
                Some(version) => builder.lua(version).backend(Backend::Process),
                None => builder.interpreter(probe_path(py, exe)?),
            };
        }
        if let Some(p) = package_path {
            builder = builder.package_path(checked("package_path", p)?);
        }
        if let Some(p) = package_cpath {
            builder = builder.package_cpath(checked("package_cpath", p)?);
        }
        for dir in allow_dirs {
            builder = builder.allow_dir(dir_arg("allow_dirs", dir)?);
        }
        for dir in read_only_dirs {
            builder = builder.read_only_dir(dir_arg("read_only_dirs", dir)?);
        }
        if let Some(policy) = crate::net::policy(&allow_net, &deny_net, allow_http, net_limits)? {
            builder = builder.net(policy);
        }
        let vm = py
            .allow_threads(|| builder.build())
            .map_err(|e| vm_error(py, &e))?;
        Ok(PyVm {
            interrupter: vm.interrupter(),
            backend: vm.backend().as_str(),
            release: vm.release().to_string(),
            sandbox: vm.sandbox().as_str(),
            vm: Slot::new(vm),
            pending: Arc::default(),
        })
    }

    /// Runs `code` as a chunk (`interactive`: as a line typed at a prompt, an expression when
    /// it is one) and reports everything as a dict; never raises for Lua errors.
    #[pyo3(signature = (code, interactive=false))]
    fn execute(&self, py: Python<'_>, code: &str, interactive: bool) -> PyResult<PyObject> {
        let start = Instant::now();
        let (result, output) = self.with_vm(py, |vm| {
            let result = if interactive {
                vm.eval_interactive(code)
            } else {
                vm.eval(code)
            };
            (result, vm.take_output())
        })?;
        let run = start.elapsed();
        // Interned keys: building the dict is most of what a warm snippet costs here.
        let out = PyDict::new(py);
        out.set_item(intern!(py, "success"), result.is_ok())?;
        let values = PyList::empty(py);
        match &result {
            Ok(vals) => {
                for v in vals {
                    values.append(to_py(py, v)?)?;
                }
                out.set_item(intern!(py, "values"), values)?;
                out.set_item(intern!(py, "error"), py.None())?;
            }
            Err(e) => {
                out.set_item(intern!(py, "values"), values)?;
                out.set_item(intern!(py, "error"), to_py(py, &vm_error_details(e))?)?;
            }
        }
        let output = if output.is_empty() {
            intern!(py, "").clone()
        } else {
            PyString::new(py, &output)
        };
        out.set_item(intern!(py, "output"), output)?;
        let timings = PyDict::new(py);
        timings.set_item(intern!(py, "run_s"), run.as_secs_f64())?;
        out.set_item(intern!(py, "timings"), timings)?;
        Ok(out.into_any().unbind())
    }

    /// Runs `code` (a chunk, or an expression) and returns its values; raises on errors.
    fn eval(&self, py: Python<'_>, code: &str) -> PyResult<PyObject> {
        let values = self
            .with_vm(py, |vm| vm.eval_code(code))?
            .map_err(|e| vm_error(py, &e))?;
        returned(py, &values)
    }

    /// Calls the global function `name`.
    #[pyo3(signature = (name, *args))]
    fn call(&self, py: Python<'_>, name: &str, args: &Bound<'_, PyTuple>) -> PyResult<PyObject> {
        self.call_python(py, name, None, args.iter_borrowed())
    }

    /// Keeps the global function `name` as a Python callable (embedded VM only): the fast
    /// way to call one function many times.
    fn function(slf: &Bound<'_, Self>, name: &str) -> PyResult<PyObject> {
        crate::call::keep(slf, name)
    }

    /// Runs a script file with `args` as `arg` and `...`.
    #[pyo3(signature = (path, *args))]
    fn run_file(&self, py: Python<'_>, path: PathBuf, args: Vec<String>) -> PyResult<PyObject> {
        let path = Path::new(&path).to_path_buf();
        let values = self
            .with_vm(py, |vm| vm.run_file(&path, &args))?
            .map_err(|e| vm_error(py, &e))?;
        returned(py, &values)
    }

    fn get_global(&self, py: Python<'_>, name: &str) -> PyResult<PyObject> {
        let value = self
            .with_vm(py, |vm| vm.get_global(name))?
            .map_err(|e| vm_error(py, &e))?;
        to_py(py, &value)
    }

    fn set_global(&self, py: Python<'_>, name: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let value = to_json(value)?;
        self.with_vm(py, |vm| vm.set_global(name, &value))?
            .map_err(|e| vm_error(py, &e))
    }

    /// The requests the last run made through `net`: a list of dicts (`method`, `url`,
    /// `host`, `status`, `bytes`, `ms`, and `error` for a failed one).
    fn net_audit(&self, py: Python<'_>) -> PyResult<PyObject> {
        let audit = self.with_vm(py, |vm| vm.net_audit())?;
        let json = serde_json::to_value(audit).unwrap_or_default();
        to_py(py, &json)
    }

    /// Output printed since the last call (run results already carry theirs).
    fn take_output(&self, py: Python<'_>) -> PyResult<String> {
        self.with_vm(py, |vm| vm.take_output())
    }

    /// Makes the Python callable `func` the global Lua function `name`. Arguments and results
    /// cross as data (the JSON values), never as Python objects, so Lua can reach nothing of
    /// the host but what the function returns. Only the embedded VM can call back.
    fn register(&self, py: Python<'_>, name: &str, func: PyObject) -> PyResult<()> {
        checked("name", name)?;
        if !func.bind(py).is_callable() {
            return Err(PyTypeError::new_err("register() needs a callable"));
        }
        let pending = self.pending.clone();
        let name = name.to_string();
        let outcome = self.with_vm(py, move |vm| match vm {
            AnyVm::Embedded(vm) => vm
                .register(&name, Box::new(move |args| callback(&func, &pending, args)))
                .map(|()| true),
            AnyVm::Process(_) => Ok(false),
        })?;
        match outcome {
            Ok(true) => Ok(()),
            Ok(false) => Err(error(
                py,
                "usage",
                "Python callables can be registered only in the embedded VM (lua_executable=None)",
                Json::Null,
            )),
            Err(e) => Err(vm_error(py, &e)),
        }
    }

    /// Stops the running script (from any thread); with none running, the next one. The
    /// call it stops raises `LuaInterruptedError`.
    fn interrupt(&self) {
        self.interrupter.interrupt();
    }

    /// A fresh Lua state with the same settings.
    fn reset(&self, py: Python<'_>) -> PyResult<()> {
        self.with_vm(py, |vm| vm.reset())?
            .map_err(|e| vm_error(py, &e))
    }

    /// Ends the VM (a process VM's interpreter exits). Later calls raise.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let vm = self.take(py)?.vm().take();
        py.allow_threads(move || drop(vm));
        Ok(())
    }

    #[getter]
    fn closed(&self, py: Python<'_>) -> bool {
        match self.vm.take(py) {
            Ok(mut lent) => lent.vm().is_none(),
            // Asked from a callback of this very VM, which is running.
            Err(HeldHere) => false,
        }
    }

    #[getter]
    fn limits(&self, py: Python<'_>) -> PyResult<PyObject> {
        let limits = self.with_vm(py, |vm| vm.limits())?;
        let out = PyDict::new(py);
        out.set_item("memory", limits.memory)?;
        out.set_item("timeout", limits.timeout.map(|d| d.as_secs_f64()))?;
        out.set_item("instructions", limits.instructions)?;
        Ok(out.into_any().unbind())
    }
}

/// A call from Lua into a registered Python callable: its one result, or the message of the
/// Lua error its exception becomes.
fn callback(func: &PyObject, pending: &Pending, args: Vec<Json>) -> Result<Vec<Json>, String> {
    if pending.is_set() {
        // An interrupt is on its way to the caller: Python is not called again in this run.
        return Err("interrupted".into());
    }
    let result = Python::with_gil(|py| {
        let call = || -> PyResult<Json> {
            // Ctrl-C while Lua calls back: stop here, and the caller gets the KeyboardInterrupt.
            py.check_signals()?;
            let items = args
                .iter()
                .map(|a| to_py(py, a))
                .collect::<PyResult<Vec<_>>>()?;
            let out = func.call1(py, PyTuple::new(py, items)?)?;
            to_json(out.bind(py))
        };
        call().map_err(|e| {
            let message = e.to_string();
            // KeyboardInterrupt and SystemExit are not Lua's to catch: they end the run and
            // reach the caller as they are. Other exceptions become Lua errors.
            let is_exception = e.is_instance_of::<pyo3::exceptions::PyException>(py);
            (message, (!is_exception).then_some(e))
        })
    });
    match result {
        Ok(value) => Ok(vec![value]),
        Err((_, Some(escape))) => {
            pending.put(escape);
            Err("interrupted".into())
        }
        Err((message, None)) => Err(format!("python: {message}")),
    }
}
