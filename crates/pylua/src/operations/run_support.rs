//! What every front adds around running code (`run`, `eval`, `repl`, the Python module): the
//! package hint on a "module not found" error — from the module indexes already in the
//! cache, never the network — and, in a project with usage analytics on, the record of
//! which modules the run required (`.pylua/usage/`).
//!
//! ```no_run
//! # use pylua::operations::run_support::{annotate_error, UsageRecorder};
//! # fn demo(vm: &mut pylua::runtime::AnyVm, project: Option<&pylua::project::Project>,
//! #         config: &pylua::config::Config) {
//! let usage = UsageRecorder::start(vm, project, config);
//! let mut result = vm.run_file("main.lua".as_ref(), &[]);
//! usage.finish(vm, &result);
//! if let Err(e) = &mut result {
//!     annotate_error(e, project, config);
//! }
//! # }
//! ```

use super::provides::{annotate, HintContext};
use crate::config::Config;
use crate::curator::module_index::missing_module;
use crate::curator::usage::{self, RunUsage};
use crate::paths::Paths;
use crate::project::Project;
use crate::runtime::{AnyVm, VmError};
use std::path::PathBuf;

/// Adds the package hint to `error` when it is Lua's "module 'X' not found" and a cached
/// module index knows X. `project`: the project the code runs in (its servers are asked
/// first and the command is `pylua add`).
pub fn annotate_error(error: &mut VmError, project: Option<&Project>, config: &Config) {
    if missing_module(&error.message).is_none() {
        return;
    }
    let Ok(catalog) = config.catalog() else {
        return;
    };
    let mut servers: Vec<String> = project
        .and_then(|p| p.snapshot().and_then(|s| p.read_project(&s)).ok())
        .map(|f| f.project.servers)
        .unwrap_or_default();
    servers.extend(config.servers.iter().cloned());
    let cache_root = config
        .cache_dir
        .clone()
        .unwrap_or_else(|| Paths::discover().cache);
    annotate(
        error,
        &HintContext {
            cache_root: &cache_root,
            servers: &servers,
            catalog: &catalog,
            in_project: project.is_some(),
        },
    );
}

/// Usage recording for one run: does nothing outside a project or when `usage-analytics` is
/// off.
#[must_use = "call finish() after the run"]
pub struct UsageRecorder {
    path: Option<PathBuf>,
}

impl UsageRecorder {
    /// Installs the tracker in `vm` when the run belongs to `project` and recording is on.
    pub fn start(vm: &mut AnyVm, project: Option<&Project>, config: &Config) -> UsageRecorder {
        let path = project
            .filter(|_| config.usage_analytics())
            .map(|p| usage::usage_dir(&p.tree_dir()))
            .filter(|_| vm.exec(usage::TRACKER, "=pylua-usage").is_ok());
        UsageRecorder { path }
    }

    /// Reads what the run required and adds it to the project's record. A failure to write
    /// the record is logged, never an error of the run.
    pub fn finish(self, vm: &mut AnyVm, result: &Result<Vec<serde_json::Value>, VmError>) {
        let Some(path) = self.path else { return };
        // A limit may have left the VM unable to run anything more.
        let stopped_by_limit = result.as_ref().err().is_some_and(|e| e.kind.is_limit());
        let mut run = if stopped_by_limit {
            RunUsage::default()
        } else {
            vm.exec(usage::COLLECTOR, "=pylua-usage")
                .map(|v| RunUsage::from_collected(&v))
                .unwrap_or_default()
        };
        if let Some(module) = result
            .as_ref()
            .err()
            .and_then(|e| missing_module(&e.message))
        {
            run.add_failure(module);
        }
        if let Err(e) = usage::record(&path, &run) {
            tracing::warn!("usage record {} not written: {e}", path.display());
        }
    }
}
