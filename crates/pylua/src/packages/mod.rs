//! Packages: LuaRocks formats (versions, constraints, rockspecs, server manifests), the
//! resolver that picks versions, and access to rocks servers.

pub mod archive;
pub mod build;
pub mod cache;
pub mod git;
pub mod index;
pub mod index_cache;
pub mod manifest;
pub mod names;
pub mod resolve;
pub mod rockspec;
pub mod server;
pub mod tree;
pub mod version;
pub mod ways_out;
