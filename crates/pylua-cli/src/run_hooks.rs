//! What `run`, `eval` and `repl` add around the VM, through the library's
//! [`pylua::operations::run_support`]: the package hint on a "module not found" error and,
//! in a project, the usage record. This module only finds the project and the configuration.

use crate::Prepared;
use pylua::operations::run_support;
use pylua::project::Project;
use pylua::runtime::{AnyVm, VmError};

/// The project the run belongs to, when the run plan took one.
fn project_of(args: &Prepared) -> Option<&Project> {
    args.plan.project.as_ref().map(|p| &p.project)
}

/// Adds the package hint to a "module not found" error.
pub fn annotate_error(error: &mut VmError, args: &Prepared) {
    if pylua::curator::module_index::missing_module(&error.message).is_none() {
        return;
    }
    if let Some(config) = crate::curator_cmd::config_if_valid() {
        run_support::annotate_error(error, project_of(args), &config);
    }
}

/// Usage recording for one run (see [`run_support::UsageRecorder`]).
pub struct UsageRecorder(Option<run_support::UsageRecorder>);

impl UsageRecorder {
    pub fn start(args: &Prepared, vm: &mut AnyVm) -> UsageRecorder {
        let Some(project) = project_of(args) else {
            return UsageRecorder(None);
        };
        let Some(config) = crate::curator_cmd::config_if_valid() else {
            return UsageRecorder(None);
        };
        UsageRecorder(Some(run_support::UsageRecorder::start(
            vm,
            Some(project),
            &config,
        )))
    }

    pub fn finish(self, vm: &mut AnyVm, result: &Result<Vec<serde_json::Value>, VmError>) {
        if let Some(recorder) = self.0 {
            recorder.finish(vm, result);
        }
    }
}
