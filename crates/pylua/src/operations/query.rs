//! Questions answered from rocks servers without changing anything: `search`, `show`, and
//! the resolved plan of `install --dry-run`.

use crate::packages::cache::Fetcher;
use crate::packages::index::ServerIndex;
use crate::packages::resolve::{resolve, ResolveError, ResolveOptions};
use crate::packages::rockspec::{Dependency, Description};
use crate::packages::server::{Server, DEFAULT_SERVER};
use crate::packages::version::{Constraints, Version};
use serde::Serialize;

/// Which servers to ask, and for which Lua.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Servers asked before the defaults (`--server`).
    pub extra: Vec<String>,
    /// When not empty, only these servers (`--only-server`).
    pub only: Vec<String>,
    /// The servers asked after `extra` (the configured ones); empty means luarocks.org.
    pub defaults: Vec<String>,
    /// The Lua version packages are for (`5.4` for the embedded VM).
    pub lua_version: String,
    /// Where downloads are cached (default: pylua's cache directory).
    pub cache_dir: Option<std::path::PathBuf>,
    /// Use only the cache; never download.
    pub offline: bool,
    /// Bounds on what one downloaded archive may unpack to (`unpack-*` in `config.toml`).
    pub unpack: crate::packages::archive::Bounds,
    /// How installs make tree files from the package store in the cache (`link-mode` in
    /// `config.toml`, `--link-mode`).
    pub link_mode: crate::packages::link::LinkMode,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            extra: Vec::new(),
            only: Vec::new(),
            defaults: Vec::new(),
            lua_version: "5.4".into(),
            cache_dir: None,
            offline: false,
            unpack: crate::packages::archive::Bounds::default(),
            link_mode: crate::packages::link::LinkMode::default(),
        }
    }
}

/// Why a query failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("{0}")]
    Server(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Resolve(#[from] ResolveError),
}

impl QueryError {
    /// Changes of the request that would resolve, when resolution failed.
    pub fn ways_out(&self) -> &[crate::packages::ways_out::WayOut] {
        match self {
            QueryError::Resolve(ResolveError::NoSolution { ways_out, .. }) => ways_out,
            _ => &[],
        }
    }

    /// A stable name for JSON output.
    pub fn kind(&self) -> &'static str {
        match self {
            QueryError::Server(_) => "server",
            QueryError::BadRequest(_) => "usage",
            QueryError::NotFound(_) => "not_found",
            QueryError::Resolve(ResolveError::NoSolution { .. }) => "no_solution",
            QueryError::Resolve(ResolveError::Index(_)) => "server",
        }
    }
}

impl ServerOptions {
    /// The configured servers (`extra` first, `only` instead when given), cache, unpack
    /// bounds and link mode, for packages of `lua` (None: the embedded 5.4).
    pub fn from_config(
        config: &crate::config::Config,
        lua: Option<crate::interpreters::LuaVersion>,
        extra: Vec<String>,
        only: Vec<String>,
        offline: bool,
    ) -> ServerOptions {
        ServerOptions {
            extra,
            only,
            defaults: config.servers.clone(),
            lua_version: lua.map_or("5.4", |v| v.api()).to_string(),
            cache_dir: config.cache_dir.clone(),
            offline,
            unpack: config.unpack_bounds(),
            link_mode: config.link_mode.unwrap_or_default(),
        }
    }

    pub fn servers(&self) -> Result<Vec<Server>, QueryError> {
        let urls: Vec<&str> = if self.only.is_empty() {
            let defaults: Vec<&str> = if self.defaults.is_empty() {
                vec![DEFAULT_SERVER]
            } else {
                self.defaults.iter().map(String::as_str).collect()
            };
            self.extra
                .iter()
                .map(String::as_str)
                .chain(defaults)
                .collect()
        } else {
            self.only.iter().map(String::as_str).collect()
        };
        urls.into_iter()
            .map(|u| Server::new(u).map_err(|e| QueryError::Server(e.to_string())))
            .collect()
    }

    pub fn index(&self) -> Result<ServerIndex, QueryError> {
        if Version::parse(&self.lua_version).is_err() {
            return Err(QueryError::BadRequest(format!(
                "invalid Lua version '{}': expected 5.1, 5.2, 5.3 or 5.4",
                self.lua_version
            )));
        }
        ServerIndex::load(self.servers()?, &self.lua_version, self.fetcher())
            .map_err(|e| QueryError::Server(e.0))
    }

    pub fn fetcher(&self) -> Fetcher {
        let root = self
            .cache_dir
            .clone()
            .unwrap_or_else(|| crate::paths::Paths::discover().cache);
        Fetcher::new(root, self.offline)
    }
}

/// One package found by `search`.
#[derive(Debug, Clone, Serialize)]
pub struct SearchHit {
    pub name: String,
    /// Newest first.
    pub versions: Vec<String>,
    pub server: String,
}

pub fn search(options: &ServerOptions, term: &str) -> Result<Vec<SearchHit>, QueryError> {
    let index = options.index()?;
    Ok(index
        .search(term)
        .into_iter()
        .filter(|(_, entries)| !entries.is_empty())
        .map(|(_, entries)| SearchHit {
            name: entries[0].name.clone(),
            versions: entries.iter().map(|e| e.version.to_string()).collect(),
            server: index.servers()[entries[0].server].url().to_string(),
        })
        .collect())
}

/// What `show` tells about one version of a package.
#[derive(Debug, Clone, Serialize)]
pub struct ShowResult {
    pub name: String,
    pub version: String,
    /// Every version the servers have, newest first.
    pub versions: Vec<String>,
    pub description: Description,
    pub dependencies: Vec<Dependency>,
    pub build_type: String,
    pub server: String,
}

/// `name [version]`: the newest release when no version is given.
pub fn show(
    options: &ServerOptions,
    name: &str,
    version: Option<&str>,
) -> Result<ShowResult, QueryError> {
    crate::packages::names::PackageName::parse(name)
        .map_err(|e| QueryError::BadRequest(e.to_string()))?;
    let index = options.index()?;
    let entries = index.entries(name);
    if entries.is_empty() {
        return Err(QueryError::NotFound(not_found_message(&index, name)));
    }
    let entry = match version {
        Some(text) => {
            let wanted = Version::parse(text).map_err(|e| QueryError::BadRequest(e.message))?;
            entries
                .iter()
                .find(|e| e.version.matches_eq(&wanted))
                .ok_or_else(|| {
                    QueryError::NotFound(format!(
                        "{name} has no version {text}; available: {}",
                        entries
                            .iter()
                            .map(|e| e.version.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?
        }
        None => entries
            .iter()
            .find(|e| !e.version.is_development())
            .unwrap_or(&entries[0]),
    };
    let rockspec = index
        .rockspec(&entry.name, &entry.version)
        .map_err(|e| QueryError::Server(e.to_string()))?;
    Ok(ShowResult {
        name: entry.name.clone(),
        version: entry.version.to_string(),
        versions: entries.iter().map(|e| e.version.to_string()).collect(),
        description: rockspec.description.clone(),
        dependencies: rockspec.dependencies.clone(),
        build_type: format!("{:?}", rockspec.build.build_type).to_ascii_lowercase(),
        server: index.servers()[entry.server].url().to_string(),
    })
}

fn not_found_message(index: &ServerIndex, name: &str) -> String {
    // The first four characters (not bytes: a name may be any text here).
    let prefix: String = name.chars().take(4).collect();
    let similar: Vec<&str> = index
        .search(&prefix)
        .into_iter()
        .take(5)
        .map(|(n, _)| n.as_str())
        .collect();
    let servers: Vec<&str> = index.servers().iter().map(|s| s.url()).collect();
    let mut msg = format!("no package named '{name}' on {}", servers.join(", "));
    if !similar.is_empty() {
        msg.push_str(&format!(" (similar names: {})", similar.join(", ")));
    }
    msg
}

/// Parses `name`, `name@>=1.0,<2` or `name >= 1.0` into a dependency.
pub fn parse_request(text: &str) -> Result<Dependency, QueryError> {
    let bad =
        |why: String| QueryError::BadRequest(format!("invalid package request '{text}': {why}"));
    let dep = match text.split_once('@') {
        Some((name, constraint)) => {
            let name = Dependency::parse(name).map_err(|e| bad(e.message))?.name;
            let constraints = Constraints::parse(constraint).map_err(|e| bad(e.message))?;
            if constraints.is_any() {
                return Err(bad(
                    "nothing after '@' (write name@1.0 or name@>=1.0)".into()
                ));
            }
            Dependency { name, constraints }
        }
        None => Dependency::parse(text).map_err(|e| bad(e.message))?,
    };
    Ok(dep)
}

/// One package of a plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedPackage {
    pub name: String,
    pub version: String,
    pub server: String,
    /// Its dependencies among the planned packages.
    pub dependencies: Vec<String>,
    /// True when it was asked for, not pulled in.
    pub requested: bool,
}

/// What `install --dry-run` would install, in install order.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub lua_version: String,
    pub packages: Vec<PlannedPackage>,
}

/// `requests` (`name`, `name@constraint`) resolved against the options' servers: the index,
/// the parsed requests and the resolution. `none_asked` is the error for no request at all.
pub(crate) fn resolve_requests(
    options: &ServerOptions,
    requests: &[String],
    none_asked: &str,
) -> Result<
    (
        ServerIndex,
        Vec<Dependency>,
        crate::packages::resolve::Resolution,
    ),
    QueryError,
> {
    if requests.is_empty() {
        return Err(QueryError::BadRequest(none_asked.into()));
    }
    let deps = requests
        .iter()
        .map(|r| parse_request(r))
        .collect::<Result<Vec<_>, _>>()?;
    let index = options.index()?;
    let resolution = resolve(
        &index,
        &deps,
        &ResolveOptions::for_lua(&options.lua_version),
    )?;
    Ok((index, deps, resolution))
}

pub fn plan(options: &ServerOptions, requests: &[String]) -> Result<Plan, QueryError> {
    let (index, deps, resolution) =
        resolve_requests(options, requests, "name at least one package to install")?;
    let packages = resolution
        .install_order()
        .into_iter()
        .map(|name| {
            let version = resolution.packages[&name].clone();
            let entry = index.entries(&name).iter().find(|e| e.version == version);
            PlannedPackage {
                name: entry.map_or(name.clone(), |e| e.name.clone()),
                version: version.to_string(),
                server: entry.map_or(String::new(), |e| {
                    index.servers()[e.server].url().to_string()
                }),
                dependencies: resolution.dependencies[&name].clone(),
                requested: deps.iter().any(|d| d.name == name),
            }
        })
        .collect();
    Ok(Plan {
        lua_version: options.lua_version.clone(),
        packages,
    })
}
