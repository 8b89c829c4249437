//! The curator: the judgement layer over packages. Today it holds the curated catalog and the
//! profiles built over it; health checks, recommendations and audits will live here too.

pub mod catalog;
pub mod profiles;

pub use catalog::{Catalog, CatalogEntry, CatalogError, CATEGORIES};
pub use profiles::{
    availability, Profile, ProfileError, ProfileExpansion, ProfileSpec, Profiles, Requirement,
};
