//! Operations: one module per thing a user asks for. Each takes typed options, does the
//! work through the lower layers and returns a typed result that fronts render as text or
//! JSON.

pub mod audit;
pub mod bench;
pub mod checks;
pub mod doctor;
pub mod graph;
pub mod info;
pub mod install;
pub mod profile;
pub mod project;
pub mod provides;
pub mod query;
pub mod recommend;
pub mod run;
pub mod run_support;
pub mod server;
pub mod setup;
pub mod test;
pub mod tree;

pub use query::{plan, search, show, Plan, PlannedPackage, SearchHit, ServerOptions, ShowResult};
