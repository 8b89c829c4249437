//! What `pylua info` and the Python module's `get_system_info()` report: pylua's version,
//! the backends code can run on, the sandbox policies and pylua's directories.

use crate::interpreters::{self, Interpreter};
use crate::paths::Paths;
use crate::runtime::{Sandbox, LUA_RELEASE};
use serde::Serialize;

/// The system as pylua sees it.
#[derive(Debug, Clone, Serialize)]
pub struct SystemInfo {
    pub pylua: &'static str,
    /// The embedded Lua (always available), e.g. `Lua 5.4.7`.
    pub embedded: &'static str,
    /// External interpreters found on `PATH` or installed by pylua, for the process backend.
    pub interpreters: Vec<Interpreter>,
    pub sandboxes: [Sandbox; 3],
    pub paths: Paths,
}

pub fn system_info(paths: &Paths) -> SystemInfo {
    SystemInfo {
        pylua: env!("CARGO_PKG_VERSION"),
        embedded: LUA_RELEASE,
        interpreters: interpreters::discover(paths),
        sandboxes: [Sandbox::None, Sandbox::Standard, Sandbox::Strict],
        paths: paths.clone(),
    }
}
