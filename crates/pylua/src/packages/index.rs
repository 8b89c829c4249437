//! The package index of a set of rocks servers: their manifests merged in priority order
//! (the first server that lists a version wins), and each version's rockspec fetched on
//! demand — from a loose `.rockspec` or from inside a `.src.rock` — and kept for the session.
//!
//! Each server's manifest is held as a [`CompactIndex`] (kept in the cache by
//! [`super::index_cache`], so a warm run does not parse it), and the merged [`Entry`] lists
//! are built only for the packages a command asks about: a search that matches nothing, or a
//! resolution that touches ten packages, never looks at the other thousands.

use super::cache::Fetcher;
use super::manifest::compact::CompactIndex;
use super::manifest::ServerManifest;
use super::resolve::{IndexError, Metadata, PackageIndex};
use super::rockspec::Rockspec;
use super::server::{rockspec_from_rock, FetchError, Server};
use super::version::Version;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// One installable version as a server lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The name as the server writes it.
    pub name: String,
    pub version: Version,
    /// `rockspec`, `src`, `all` or a platform such as `linux-x86_64`.
    pub archs: Vec<String>,
    /// Index into [`ServerIndex::servers`].
    pub server: usize,
}

/// Why a rockspec could not be had: the server failed (fatal), or it is broken (that
/// version is unusable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RockspecProblem {
    Fetch(String),
    Invalid(String),
}

impl std::fmt::Display for RockspecProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RockspecProblem::Fetch(m) | RockspecProblem::Invalid(m) => f.write_str(m),
        }
    }
}

type RockspecCache = Mutex<HashMap<(String, String), Result<Arc<Rockspec>, RockspecProblem>>>;

/// The merged view of several servers.
pub struct ServerIndex {
    servers: Vec<Server>,
    fetcher: Fetcher,
    /// One per server, in priority order.
    indexes: Vec<CompactIndex>,
    /// Every lower-cased package name of any server, sorted: where to read the name, and
    /// the merged entries once asked for.
    names: Vec<Slot>,
    rockspecs: RockspecCache,
}

/// One package name of the merged index.
struct Slot {
    /// A server listing it and the package's position in that server's index.
    server: u32,
    package: u32,
    /// The lower-cased name and its entries, newest first; built on first use.
    merged: OnceLock<(String, Vec<Entry>)>,
}

/// The archs whose files carry a rockspec we can use here.
pub(crate) fn usable_arch(arch: &str) -> bool {
    matches!(arch, "rockspec" | "src" | "all") || arch == platform_arch()
}

/// LuaRocks' name for this platform's binary rocks, e.g. `linux-x86_64`.
pub fn platform_arch() -> &'static str {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => "linux-x86_64",
        ("linux", "aarch64") => "linux-aarch64",
        ("macos", "x86_64") => "macosx-x86_64",
        ("macos", "aarch64") => "macosx-aarch64",
        _ => "unknown",
    }
}

impl ServerIndex {
    /// Fetches and merges the manifests of `servers` (in priority order) for `lua_version`
    /// (`5.4`): the versioned `manifest-5.4` when the server has one, else `manifest`.
    pub fn load(
        servers: Vec<Server>,
        lua_version: &str,
        fetcher: Fetcher,
    ) -> Result<ServerIndex, IndexError> {
        let mut indexes = Vec::new();
        for server in &servers {
            let versioned = format!("manifest-{lua_version}");
            let get = |name: &str| fetcher.get_fresh(&server.file_url(name));
            let (file, bytes) = match get(&versioned) {
                Ok(bytes) => (versioned, bytes),
                Err(FetchError::NotFound { .. }) => match get("manifest") {
                    Ok(bytes) => ("manifest".to_string(), bytes),
                    Err(FetchError::NotFound { url }) => {
                        return Err(IndexError(format!(
                            "{url}: not found — is {} a LuaRocks server? It has neither manifest-{lua_version} nor manifest",
                            server.url()
                        )))
                    }
                    Err(e) => return Err(IndexError(e.to_string())),
                },
                Err(e) => return Err(IndexError(e.to_string())),
            };
            let url = server.file_url(&file);
            let (index, _) = super::index_cache::load(&fetcher, &url, &bytes)
                .map_err(|e| IndexError(format!("{url}: {e}")))?;
            indexes.push(index);
        }
        Ok(ServerIndex::from_indexes(servers, indexes, fetcher))
    }

    /// Builds the index from manifests already read, one per server, in priority order
    /// ([`ServerManifest::merge`] decides which server provides each version).
    pub fn from_manifests(
        servers: Vec<Server>,
        manifests: Vec<ServerManifest>,
        fetcher: Fetcher,
    ) -> ServerIndex {
        let indexes = manifests
            .iter()
            .map(|m| CompactIndex::build(m, &[0; 32]))
            .collect();
        ServerIndex::from_indexes(servers, indexes, fetcher)
    }

    /// Builds the index from the compact indexes of `servers`, one per server in priority
    /// order. Only the list of names is built here; entries are merged on first use.
    pub fn from_indexes(
        servers: Vec<Server>,
        indexes: Vec<CompactIndex>,
        fetcher: Fetcher,
    ) -> ServerIndex {
        let mut refs: Vec<(u32, u32)> = Vec::new();
        for (s, index) in indexes.iter().enumerate() {
            refs.extend((0..index.package_count() as u32).map(|p| (s as u32, p)));
        }
        if indexes.len() > 1 {
            // Stable: the highest-priority server comes first among equal names.
            let name = |&(s, p): &(u32, u32)| indexes[s as usize].package_name(p as usize);
            refs.sort_by(|a, b| name(a).cmp(name(b)));
            refs.dedup_by(|b, a| name(a) == name(b));
        }
        let names = refs
            .into_iter()
            .map(|(server, package)| Slot {
                server,
                package,
                merged: OnceLock::new(),
            })
            .collect();
        ServerIndex {
            servers,
            fetcher,
            indexes,
            names,
            rockspecs: Mutex::new(HashMap::new()),
        }
    }

    fn slot_name<'s>(&'s self, slot: &'s Slot) -> &'s str {
        self.indexes[slot.server as usize].package_name(slot.package as usize)
    }

    /// The entries of a name, merged across servers: for each version the first server (in
    /// priority order) listing it provides it.
    fn merged<'s>(&'s self, slot: &'s Slot) -> &'s (String, Vec<Entry>) {
        slot.merged.get_or_init(|| {
            let lower = self.slot_name(slot);
            let mut list: Vec<Entry> = Vec::new();
            for (server, index) in self.indexes.iter().enumerate() {
                let Some(package) = index.find(lower) else {
                    continue;
                };
                for v in index.versions(package) {
                    let Ok(version) = Version::parse(v.version) else {
                        continue;
                    };
                    if list.iter().any(|e| e.version == version) {
                        continue;
                    }
                    list.push(Entry {
                        name: v.name.to_string(),
                        version,
                        archs: v.archs().map(String::from).collect(),
                        server,
                    });
                }
            }
            list.sort_by(|a, b| b.version.cmp(&a.version));
            (lower.to_string(), list)
        })
    }

    fn slot(&self, lower: &str) -> Option<&Slot> {
        self.names
            .binary_search_by(|slot| self.slot_name(slot).cmp(lower))
            .ok()
            .map(|i| &self.names[i])
    }

    pub fn fetcher(&self) -> &Fetcher {
        &self.fetcher
    }

    /// The entry of one exact version.
    pub fn entry(&self, name: &str, version: &Version) -> Option<&Entry> {
        self.entries(name).iter().find(|e| &e.version == version)
    }

    /// The URL of the file an install uses for `entry`: a binary rock for this platform when
    /// the server has one (it needs no compiler; a server lists it in `manifest-5.x` only for
    /// the Lua it was built for), else its `.src.rock` or `.all.rock`, else its loose rockspec.
    pub fn rock_url(&self, entry: &Entry) -> String {
        self.url_in_order(entry, [platform_arch(), "src", "all"])
    }

    /// The URL of the file that carries `entry`'s sources: its `.src.rock` (or `.all.rock`,
    /// or a binary rock for this platform), else its loose rockspec.
    pub fn source_rock_url(&self, entry: &Entry) -> String {
        self.url_in_order(entry, ["src", "all", platform_arch()])
    }

    fn url_in_order(&self, entry: &Entry, order: [&str; 3]) -> String {
        let server = &self.servers[entry.server];
        let base = format!("{}-{}", entry.name, entry.version);
        for arch in order {
            if entry.archs.iter().any(|a| a == arch) {
                return server.file_url(&format!("{base}.{arch}.rock"));
            }
        }
        server.file_url(&format!("{base}.rockspec"))
    }

    pub fn servers(&self) -> &[Server] {
        &self.servers
    }

    /// How many packages the servers list together.
    pub fn package_count(&self) -> usize {
        self.names.len()
    }

    /// Every package name (lower-case) with its entries, newest first. Builds the entries of
    /// every package: prefer [`ServerIndex::search`] or [`ServerIndex::entries`].
    pub fn packages(&self) -> impl Iterator<Item = (&String, &Vec<Entry>)> {
        self.names.iter().map(|slot| {
            let (name, entries) = self.merged(slot);
            (name, entries)
        })
    }

    /// The entries of one package, newest first (case-insensitive).
    pub fn entries(&self, name: &str) -> &[Entry] {
        let lower = name.to_ascii_lowercase();
        self.slot(&lower)
            .map_or(&[], |slot| self.merged(slot).1.as_slice())
    }

    /// Packages whose name contains `term` (case-insensitive), sorted by name.
    pub fn search(&self, term: &str) -> Vec<(&String, &Vec<Entry>)> {
        let term = term.to_ascii_lowercase();
        self.names
            .iter()
            .filter(|slot| self.slot_name(slot).contains(&term))
            .map(|slot| {
                let (name, entries) = self.merged(slot);
                (name, entries)
            })
            .collect()
    }

    /// The rockspec of `name` `version`, fetched once per session.
    pub fn rockspec(
        &self,
        name: &str,
        version: &Version,
    ) -> Result<Arc<Rockspec>, RockspecProblem> {
        let key = (name.to_ascii_lowercase(), version.to_string());
        if let Some(hit) = self
            .rockspecs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return hit.clone();
        }
        let result = self.fetch_rockspec(name, version).map(Arc::new);
        self.rockspecs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, result.clone());
        result
    }

    /// Fetches the rockspecs of `wanted` that are not cached yet, several at a time.
    pub fn prefetch(&self, wanted: &[(String, Version)]) {
        const PARALLEL: usize = 8;
        let missing: Vec<&(String, Version)> = {
            let cache = self.rockspecs.lock().unwrap_or_else(|e| e.into_inner());
            wanted
                .iter()
                .filter(|(n, v)| !cache.contains_key(&(n.to_ascii_lowercase(), v.to_string())))
                .collect()
        };
        if missing.len() < 2 {
            return;
        }
        for chunk in missing.chunks(PARALLEL) {
            std::thread::scope(|scope| {
                for (name, version) in chunk {
                    scope.spawn(|| {
                        let _ = self.rockspec(name, version);
                    });
                }
            });
        }
    }

    fn fetch_rockspec(&self, name: &str, version: &Version) -> Result<Rockspec, RockspecProblem> {
        use RockspecProblem::{Fetch, Invalid};
        let entry = self
            .entries(name)
            .iter()
            .find(|e| &e.version == version)
            .ok_or_else(|| Invalid(format!("{name} {version} is not listed by any server")))?;
        let server = &self.servers[entry.server];
        let base = format!("{}-{}", entry.name, entry.version);
        let rockspec_name = format!("{base}.rockspec");
        let text = if entry.archs.iter().any(|a| a == "rockspec") {
            let fetched = self
                .fetcher
                .get(&server.file_url(&rockspec_name))
                .map_err(|e| Fetch(e.to_string()))?;
            String::from_utf8_lossy(&fetched.bytes).into_owned()
        } else {
            let arch = entry.archs.iter().find(|a| usable_arch(a)).ok_or_else(|| {
                Invalid(format!(
                    "{name} {version} has no rock for this platform (only {})",
                    entry.archs.join(", ")
                ))
            })?;
            let rock_name = format!("{base}.{arch}.rock");
            let fetched = self
                .fetcher
                .get(&server.file_url(&rock_name))
                .map_err(|e| Fetch(e.to_string()))?;
            rockspec_from_rock(&fetched.bytes, &rockspec_name)
                .map_err(|e| Invalid(format!("{}: {e}", server.file_url(&rock_name))))?
        };
        let rockspec = Rockspec::parse(&text, &server.file_url(&rockspec_name))
            .map_err(|e| Invalid(e.to_string()))?;
        if !rockspec.package.eq_ignore_ascii_case(name) || rockspec.version != *version {
            return Err(Invalid(format!(
                "{} describes {} {} instead of {name} {version}",
                server.file_url(&rockspec_name),
                rockspec.package,
                rockspec.version
            )));
        }
        Ok(rockspec)
    }
}

impl PackageIndex for ServerIndex {
    fn versions(&self, name: &str) -> Result<Vec<Version>, IndexError> {
        Ok(self
            .entries(name)
            .iter()
            .filter(|e| e.archs.iter().any(|a| usable_arch(a)))
            .map(|e| e.version.clone())
            .collect())
    }

    fn dependencies(&self, name: &str, version: &Version) -> Result<Metadata, IndexError> {
        let deps = match self.rockspec(name, version) {
            Ok(r) => r.dependencies.clone(),
            Err(RockspecProblem::Invalid(why)) => return Ok(Metadata::Unusable(why)),
            Err(RockspecProblem::Fetch(why)) => return Err(IndexError(why)),
        };
        // The solver will most likely ask next for the newest matching version of each
        // dependency: fetch those rockspecs now, in parallel (loading metadata, not solving,
        // is the slow part of resolution).
        let wanted: Vec<(String, Version)> =
            deps.iter()
                .filter_map(|d| {
                    let newest = self.entries(&d.name).iter().find(|e| {
                        !e.version.is_development() && d.constraints.matches(&e.version)
                    })?;
                    Some((d.name.to_string(), newest.version.clone()))
                })
                .collect();
        self.prefetch(&wanted);
        Ok(Metadata::Available(deps))
    }
}
