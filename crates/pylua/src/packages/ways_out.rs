//! Ways out of an unsatisfiable request: changes that do resolve, each checked by resolving
//! again — accept another version of a requested package (the resolver names the one it
//! would pick), leave a requested package out, or resolve for another Lua.

use super::resolve::{resolve_once, PackageIndex, ResolveOptions};
use super::rockspec::Dependency;
use super::version::{Constraints, Version};
use serde::Serialize;

/// At most this many ways out are looked for (each costs a resolution).
const MAX_ATTEMPTS: usize = 16;

/// One change of the request that resolves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "choice", rename_all = "snake_case")]
pub enum WayOut {
    /// Take `version` of `package`, which the requested `constraint` excludes.
    Relax {
        package: String,
        constraint: String,
        version: String,
    },
    /// Leave `package` out of the request.
    Drop { package: String },
    /// Resolve for Lua `lua` instead.
    OtherLua { lua: String },
}

/// The ways out of `requests`, which do not resolve as they are.
pub fn ways_out(
    index: &dyn PackageIndex,
    requests: &[Dependency],
    options: &ResolveOptions,
) -> Vec<WayOut> {
    let mut out = Vec::new();
    let mut attempts = 0;
    let mut attempt = |requests: &[Dependency], options: &ResolveOptions| {
        attempts += 1;
        if attempts > MAX_ATTEMPTS {
            return None;
        }
        resolve_once(index, requests, options).ok()
    };
    for (i, request) in requests.iter().enumerate() {
        if request.name.as_str() == "lua" {
            continue;
        }
        if !request.constraints.0.is_empty() {
            let mut relaxed = requests.to_vec();
            relaxed[i].constraints = Constraints::any();
            if let Some(resolution) = attempt(&relaxed, options) {
                if let Some(version) = resolution.packages.get(request.name.as_str()) {
                    out.push(WayOut::Relax {
                        package: request.name.to_string(),
                        constraint: request.constraints.to_string(),
                        version: version.to_string(),
                    });
                }
            }
        }
        if requests.len() > 1 {
            let mut dropped = requests.to_vec();
            dropped.remove(i);
            if attempt(&dropped, options).is_some() {
                out.push(WayOut::Drop {
                    package: request.name.to_string(),
                });
            }
        }
    }
    for lua in ["5.4", "5.3", "5.2", "5.1"] {
        let version = Version::parse(lua).expect("a valid version");
        if version == options.lua_version {
            continue;
        }
        let other = ResolveOptions {
            lua_version: version,
            ..options.clone()
        };
        if attempt(requests, &other).is_some() {
            out.push(WayOut::OtherLua { lua: lua.into() });
        }
    }
    out
}
