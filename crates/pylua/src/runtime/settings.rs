//! What every VM is built with, whichever backend runs it: the sandbox policy, the limits,
//! where output goes, the directories the `standard` policy allows, and extra module search
//! paths. The builders of both backends hold one and share its setters.

use super::limits::Limits;
use super::output::Output;
use super::sandbox::Sandbox;
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
    /// Templates put in front of `package.path` (not under `strict`, which has no `require`).
    pub package_path: Option<String>,
    /// Templates put in front of `package.cpath` (only under `none`: the other policies load
    /// no native code).
    pub package_cpath: Option<String>,
    /// The network policy; with one, scripts get the `net` module (embedded VM only).
    pub net: Option<super::net::NetPolicy>,
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
        /// Gives scripts the `net` module under this policy (default: no network). Only the
        /// embedded VM provides it: a process VM refuses to build with one.
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
