//! Packages: LuaRocks formats (versions, constraints, rockspecs, server manifests), the
//! resolver that picks versions, access to rocks servers, building, the package store and
//! the trees packages are linked into.

pub mod archive;
pub mod build;
pub mod cache;
pub mod git;
pub mod index;
pub mod index_cache;
pub mod link;
pub mod manifest;
pub mod names;
pub mod resolve;
pub mod rockspec;
pub mod server;
pub mod store;
pub mod tree;
pub mod version;
pub mod ways_out;
