//! PyLua VM: run Lua code in managed VMs and curate the package environments they run in.
//!
//! The library does all the work; the `pylua` command line (and later the Python module)
//! only parses arguments and renders results. Today it holds the runtime layer:
//!
//! * [`runtime::Vm`] — an embedded Lua 5.4 with a [`runtime::Sandbox`] policy and
//!   [`runtime::Limits`] (memory, instructions, wall-clock time) that a script cannot escape;
//! * captured output ([`runtime::Output`]), JSON conversion of values, typed errors
//!   ([`runtime::VmError`] with a stable [`runtime::ErrorKind`]).
//!
//! ```
//! use pylua::runtime::{Vm, Limits};
//! use std::time::Duration;
//!
//! let mut vm = Vm::builder()                       // strict sandbox by default
//!     .limits(Limits::new().timeout(Duration::from_secs(1)))
//!     .build()
//!     .unwrap();
//! let values = vm.eval("print('hi') return 1 + 1").unwrap();
//! assert_eq!(values[0], serde_json::json!(2));
//! assert_eq!(vm.take_output(), "hi\n");
//! ```

// Every `unsafe` operation sits in a block of its own with a `// SAFETY:` comment naming the
// invariant it relies on, also inside `unsafe fn`s (whose `# Safety` docs say what callers
// must uphold).
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod config;
pub mod curator;
pub mod interpreters;
pub mod lua_syntax;
pub mod operations;
pub mod packages;
pub mod paths;
pub mod project;
pub mod runtime;

pub use runtime::{
    CallArgs, CallResult, ErrorKind, Limits, Output, Sandbox, Vm, VmBuilder, VmError, VmFunction,
};
