//! What every VM is built with, whichever backend runs it: the sandbox policy, the limits,
//! where output goes, the directories the `standard` policy allows, and extra module search
//! paths. The builders of both backends hold one and share its setters.

use super::error::{ErrorKind, VmError};
use super::limits::Limits;
use super::output::Output;
use super::sandbox::{template_dirs, AllowedDirs, Sandbox};
use std::path::PathBuf;

/// The settings common to every VM. Defaults: the `strict` sandbox, no limits, buffered
/// output, no allowed directories, no extra search paths.
#[derive(Debug, Default)]
pub struct VmSettings {
    pub sandbox: Sandbox,
    pub limits: Limits,
    pub output: Output,
    /// Directories the `standard` policy lets scripts read and write.
    pub allowed_dirs: Vec<PathBuf>,
    /// Directories the `standard` policy lets scripts read but not write in, remove or
    /// rename (nor any directory above them): a rocks tree, whose modules other runs trust.
    pub read_only_dirs: Vec<PathBuf>,
    /// Templates put in front of `package.path` (not under `strict`, which has no `require`).
    pub package_path: Option<String>,
    /// Templates put in front of `package.cpath` (only under `none`: the other policies load
    /// no native code).
    pub package_cpath: Option<String>,
    /// The network policy; with one, scripts get the `net` module.
    pub net: Option<super::net::NetPolicy>,
    /// Under `standard`: load LuaSocket's and LuaSec's C modules (`socket.core`,
    /// `mime.core`, `ssl.*`) from `package_cpath`, which becomes read-only to scripts. No
    /// network policy constrains a C module: this is the user's explicit choice.
    pub luasocket: bool,
}

impl VmSettings {
    /// The templates network C modules load from, when this VM loads them under `standard`
    /// (`Some("")`: the interpreter's default `package.cpath`). `--allow-luasocket` under
    /// `strict`, which has no `require`, is a usage error.
    pub(crate) fn luasocket_cpath(&self) -> Result<Option<String>, VmError> {
        match (self.luasocket, self.sandbox) {
            (false, _) | (true, Sandbox::None) => Ok(None),
            (true, Sandbox::Standard) => Ok(Some(self.package_cpath.clone().unwrap_or_default())),
            (true, Sandbox::Strict) => Err(VmError::new(
                ErrorKind::Usage,
                "loading LuaSocket (--allow-luasocket) needs the standard sandbox: strict has no `require`",
            )),
        }
    }

    /// The directories the `standard` policy checks paths against: the allowed ones, and
    /// read-only the ones network C modules load from.
    pub(crate) fn allowed(&self) -> AllowedDirs {
        if self.sandbox != Sandbox::Standard {
            // The others never consult it: skip resolving (a `realpath` per directory).
            return AllowedDirs::default();
        }
        let mut read_only = self.read_only_dirs.clone();
        if let (Some(cpath), true) = (&self.package_cpath, self.luasocket) {
            read_only.extend(template_dirs(cpath));
        }
        let mut readable = self.allowed_dirs.clone();
        readable.extend(self.read_only_dirs.iter().cloned());
        AllowedDirs::new(&readable, &read_only)
    }
}

/// The setters of [`VmSettings`], for a builder that keeps them in a `settings` field.
macro_rules! settings_setters {
    () => {
        /// The sandbox policy (default `strict`).
        pub fn sandbox(mut self, sandbox: $crate::runtime::Sandbox) -> Self {
            self.settings.sandbox = sandbox;
            self
        }
        /// Memory, instruction and time limits (default: none).
        pub fn limits(mut self, limits: $crate::runtime::Limits) -> Self {
            self.settings.limits = limits;
            self
        }
        /// Where `print` and `io.write` go (default: a buffer).
        pub fn output(mut self, output: $crate::runtime::Output) -> Self {
            self.settings.output = output;
            self
        }
        /// A directory the `standard` policy lets scripts read and write (repeatable).
        pub fn allow_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
            self.settings.allowed_dirs.push(dir.into());
            self
        }
        /// A directory the `standard` policy lets scripts read but not change (repeatable):
        /// no writing, removing or renaming in it or in a directory above it.
        pub fn read_only_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
            self.settings.read_only_dirs.push(dir.into());
            self
        }
        /// Puts these `;`-separated templates in front of `package.path` (ignored under
        /// `strict`). A rocks tree gives them with `Tree::package_path`.
        pub fn package_path(mut self, path: impl Into<String>) -> Self {
            self.settings.package_path = Some(path.into());
            self
        }
        /// Puts these templates in front of `package.cpath` (used only under `none`).
        pub fn package_cpath(mut self, cpath: impl Into<String>) -> Self {
            self.settings.package_cpath = Some(cpath.into());
            self
        }
        /// Under `standard`, loads LuaSocket's and LuaSec's C modules from `package_cpath`
        /// (which scripts then cannot write in); refused under `strict`, implied by `none`.
        pub fn allow_luasocket(mut self, allow: bool) -> Self {
            self.settings.luasocket = allow;
            self
        }
        /// Gives scripts the `net` module under this policy (default: no network), in either
        /// backend: the host makes every request.
        pub fn net(mut self, policy: $crate::runtime::NetPolicy) -> Self {
            self.settings.net = Some(policy);
            self
        }
        /// All of the settings at once.
        pub fn settings(mut self, settings: $crate::runtime::VmSettings) -> Self {
            self.settings = settings;
            self
        }
    };
}
pub(crate) use settings_setters;
