//! The curator: the judgement layer over packages — the curated catalog and the profiles
//! built over it, the module index (which package provides which module), the local usage
//! record of each project and the recommendations drawn from them.

pub mod catalog;
pub mod module_index;
pub mod profiles;
pub mod recommend;
pub mod require_scan;
pub mod usage;

pub use catalog::{Catalog, CatalogEntry, CatalogError, CATEGORIES};
pub use profiles::{
    availability, Profile, ProfileError, ProfileExpansion, ProfileSpec, Profiles, Requirement,
};
