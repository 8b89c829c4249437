//! The runtime layer: Lua VMs, the sandbox policies they run under and the limits that stop
//! them. It knows nothing about packages — a VM is given search paths and a policy, no more.

mod arena;
mod backend;
mod barrier;
mod call;
mod dyncall;
mod error;
mod fork;
mod guard;
mod host_call;
mod host_functions;
mod interrupt;
mod limits;
mod net;
mod output;
mod process;
mod sandbox;
mod script;
mod settings;
mod stack;
mod state;
mod value;
mod vm;
mod watchdog;

pub use backend::{AnyVm, AnyVmBuilder, Backend};
pub use call::{CallArg, CallArgs, CallResult, VmFunction};
pub use dyncall::{Arg, Callee, Returned};
pub use error::{ErrorKind, VmError};
pub use host_call::HostFunction;
pub use interrupt::Interrupter;
pub use limits::{parse_duration, parse_size, Limits};
pub use net::{HostPattern, NetAudit, NetOptions, NetPolicy};
pub use output::Output;
pub use process::{ProcessVm, ProcessVmBuilder, StderrSink};
pub use sandbox::Sandbox;
pub use settings::VmSettings;
pub use value::{render_value, render_values};
pub use vm::{Vm, VmBuilder, LUA_RELEASE};
