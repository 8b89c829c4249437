//! Operations: one module per thing a user asks for. Each takes typed options, does the
//! work through the lower layers and returns a typed result that fronts render as text or
//! JSON.

pub mod install;
pub mod project;
pub mod query;
pub mod tree;

pub use query::{plan, search, show, Plan, PlannedPackage, SearchHit, ServerOptions, ShowResult};
