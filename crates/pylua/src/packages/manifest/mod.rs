//! LuaRocks server manifests (`manifest`, `manifest-5.1`, … `manifest-5.4`), read without Lua.
//!
//! A manifest is Lua source that assigns a few globals, the essential one being a large table
//! literal:
//!
//! ```lua
//! commands = {}
//! modules = {}
//! repository = {
//!    ["lua-cjson"] = {
//!       ["2.1.0-1"] = {
//!          { arch = "rockspec" },
//!          { arch = "src" },
//!       },
//!    },
//! }
//! ```
//!
//! [`ServerManifest::parse`] reads that subset of Lua — table constructors, strings in every Lua
//! form, numbers, `true`/`false`/`nil`, comments — with a byte-level lexer, so the whole
//! luarocks.org index parses in a few tens of milliseconds and nothing in a downloaded file is ever run.
//! Nesting is limited to [`MAX_DEPTH`] tables and every error names the line and column.
//!
//! Several servers are combined with [`ServerManifest::merge`]: the first server that lists a
//! `(package, version)` provides it, and the result remembers which one that was.
//!
//! ```
//! use pylua::packages::manifest::ServerManifest;
//!
//! let main = ServerManifest::parse(r#"repository = { luasocket = { ["3.1.0-1"] = { { arch = "src" } } } }"#).unwrap();
//! let mirror = ServerManifest::parse(r#"repository = { LuaSocket = { ["3.0-1"] = { { arch = "rockspec" } } } }"#).unwrap();
//! assert_eq!(main.repository["luasocket"]["3.1.0-1"], ["src"]);
//!
//! let merged = ServerManifest::merge([
//!     ("https://luarocks.org".to_string(), main),
//!     ("https://mirror.example".to_string(), mirror),
//! ]);
//! let sock = merged.package("LUASOCKET").unwrap();
//! assert_eq!(sock.versions.len(), 2);
//! assert_eq!(merged.server(sock.versions["3.0-1"].server), "https://mirror.example");
//! ```

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

/// How deeply tables may nest (the top-level `repository = {` counts as one level); a deeper
/// input is rejected with [`ManifestError::TooDeep`].
pub const MAX_DEPTH: usize = 64;

/// A manifest that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The text is not the Lua subset manifests are written in.
    #[error("manifest line {line}, column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    /// Valid Lua, but `repository` does not have the shape of a manifest.
    #[error("manifest line {line}, column {column}: {message}")]
    Structure {
        line: usize,
        column: usize,
        message: String,
    },
    /// Tables nested deeper than [`MAX_DEPTH`].
    #[error("manifest line {line}, column {column}: tables nested deeper than {limit} levels")]
    TooDeep {
        line: usize,
        column: usize,
        limit: usize,
    },
    /// Nothing assigns the `repository` global.
    #[error("manifest has no 'repository' table")]
    MissingRepository,
}

impl ManifestError {
    /// Line and column (both from 1, columns in characters) the error points at, if any.
    pub fn position(&self) -> Option<(usize, usize)> {
        match self {
            ManifestError::Syntax { line, column, .. }
            | ManifestError::Structure { line, column, .. }
            | ManifestError::TooDeep { line, column, .. } => Some((*line, *column)),
            ManifestError::MissingRepository => None,
        }
    }
}

/// A Lua value kept from a manifest outside the essential package → version → archs index
/// (rocks-tree manifests and old server manifests carry `modules`, `commands` and
/// `dependencies` tables). Strings that are not UTF-8 are kept with U+FFFD in place of the
/// invalid bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Nil,
    Boolean(bool),
    Integer(i64),
    Float(f64),
    String(String),
    Table(Table),
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_table(&self) -> Option<&Table> {
        match self {
            Value::Table(t) => Some(t),
            _ => None,
        }
    }
}

/// A table constructor as written: positional entries and keyed entries, each in source order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    /// `{ a, b }` entries.
    pub items: Vec<Value>,
    /// `k = v` and `[k] = v` entries (`k = v` has a string key).
    pub fields: Vec<(Value, Value)>,
}

impl Table {
    /// The value of string key `key` (the last one written, as Lua would keep).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.fields
            .iter()
            .rev()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty() && self.fields.is_empty()
    }
}

/// One rocks server's manifest.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServerManifest {
    /// package name (as written) → version (`1.2.3-1`, `scm-1`) → archs (`rockspec`, `src`,
    /// `all`, `linux-x86_64`, …) in the order listed.
    pub repository: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    /// Fields of repository entries other than `arch` (`modules`, `commands`,
    /// `dependencies` in old server manifests and rocks-tree manifests): package → version →
    /// `(arch, fields)` for each entry that has any.
    pub entry_fields: BTreeMap<String, BTreeMap<String, Vec<(String, Table)>>>,
    /// The top-level `modules` table, when it is a table.
    pub modules: Option<Table>,
    /// The top-level `commands` table, when it is a table.
    pub commands: Option<Table>,
    /// The top-level `dependencies` table (rocks-tree manifests), when it is a table.
    pub dependencies: Option<Table>,
}

impl ServerManifest {
    /// Reads manifest text. Unknown globals are checked for syntax and ignored; a missing
    /// `repository` is an error.
    pub fn parse(text: &str) -> Result<ServerManifest, ManifestError> {
        ServerManifest::parse_bytes(text.as_bytes())
    }

    /// [`ServerManifest::parse`] on raw bytes (a download need not be UTF-8; strings that are not
    /// are kept with U+FFFD for the invalid bytes). A leading UTF-8 byte-order mark and a
    /// `#` first line are skipped, as `lua` does.
    pub fn parse_bytes(bytes: &[u8]) -> Result<ServerManifest, ManifestError> {
        Parser::new(bytes).manifest()
    }

    /// Reads a file of global assignments in the manifest's Lua subset (a rock's
    /// `rock_manifest`, say) and returns the value assigned to `global`, without running
    /// anything.
    pub fn parse_global(bytes: &[u8], global: &str) -> Result<Option<Value>, ManifestError> {
        Parser::new(bytes).global(global)
    }

    /// The versions of `name`, found case-insensitively (ASCII, as LuaRocks lower-cases
    /// names); an exact spelling is preferred. Returns the name as written. Other spellings
    /// are found by a scan; [`MergedManifest::package`] is indexed for repeated lookups.
    pub fn find_package(&self, name: &str) -> Option<(&str, &BTreeMap<String, Vec<String>>)> {
        if let Some((k, v)) = self.repository.get_key_value(name) {
            return Some((k, v));
        }
        self.repository
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(k, v)| (k.as_str(), v))
    }

    /// The non-`arch` fields of one entry, if it has any.
    pub fn fields(&self, package: &str, version: &str, arch: &str) -> Option<&Table> {
        self.entry_fields
            .get(package)?
            .get(version)?
            .iter()
            .find(|(a, _)| a == arch)
            .map(|(_, t)| t)
    }

    /// How many `(package, version)` pairs the repository lists.
    pub fn version_count(&self) -> usize {
        self.repository.values().map(BTreeMap::len).sum()
    }

    /// Combines the manifests of several servers given in priority order: the first server
    /// listing a `(package, version)` provides it. Package names are matched without regard
    /// to ASCII case; a name that is not a valid [`super::names::PackageName`] is skipped
    /// with a warning.
    pub fn merge(manifests: impl IntoIterator<Item = (String, ServerManifest)>) -> MergedManifest {
        let mut merged = MergedManifest::default();
        for (server, (url, manifest)) in manifests.into_iter().enumerate() {
            merged.servers.push(url.clone());
            for (name, versions) in manifest.repository {
                // A name that is not a valid package name (`../x`, `-o`, a NUL…) is skipped
                // rather than refusing the whole manifest: one hostile or broken entry on a
                // mirror must not make every other package unavailable. It can never be
                // installed, since nothing resolves to it.
                if let Err(e) = super::names::PackageName::parse(&name) {
                    tracing::warn!("rocks server {url}: manifest entry skipped: {e}");
                    continue;
                }
                let spelled: Arc<str> = Arc::from(name.as_str());
                let package = merged
                    .packages
                    .entry(name.to_ascii_lowercase())
                    .or_insert_with(|| MergedPackage {
                        name,
                        versions: BTreeMap::new(),
                    });
                for (version, archs) in versions {
                    package.versions.entry(version).or_insert_with(|| Release {
                        name: spelled.clone(),
                        archs,
                        server,
                    });
                }
            }
        }
        merged
    }
}

/// The manifests of several servers combined (see [`ServerManifest::merge`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MergedManifest {
    servers: Vec<String>,
    /// ASCII-lower-cased name → package.
    packages: BTreeMap<String, MergedPackage>,
}

/// A package across servers.
#[derive(Debug, Clone, PartialEq)]
pub struct MergedPackage {
    /// The name as written by the first server listing the package.
    pub name: String,
    /// version → where it comes from (versions ordered as strings, not by LuaRocks rules).
    pub versions: BTreeMap<String, Release>,
}

/// One version of a package as one server provides it.
#[derive(Debug, Clone, PartialEq)]
pub struct Release {
    /// The package name as that server writes it (file names on the server use it).
    pub name: Arc<str>,
    /// The archs the server has (`rockspec`, `src`, `all`, `linux-x86_64`, …).
    pub archs: Vec<String>,
    /// Index of the server in the order given to [`ServerManifest::merge`] (0 = highest priority);
    /// [`MergedManifest::server`] gives its URL.
    pub server: usize,
}

/// One `(package, version)` of a [`MergedManifest`], from [`MergedManifest::entries`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The name as the providing server writes it.
    pub package: &'a str,
    pub version: &'a str,
    pub archs: &'a [String],
    /// URL of the providing server.
    pub server: &'a str,
    /// Its index in the priority order.
    pub server_index: usize,
}

impl MergedManifest {
    /// Server URLs in priority order.
    pub fn servers(&self) -> &[String] {
        &self.servers
    }

    /// URL of server `index` (as in [`Release::server`]).
    pub fn server(&self, index: usize) -> &str {
        &self.servers[index]
    }

    /// A package by name, without regard to ASCII case.
    pub fn package(&self, name: &str) -> Option<&MergedPackage> {
        if name.bytes().any(|b| b.is_ascii_uppercase()) {
            self.packages.get(&name.to_ascii_lowercase())
        } else {
            self.packages.get(name)
        }
    }

    /// Packages ordered by lower-cased name.
    pub fn packages(&self) -> impl Iterator<Item = &MergedPackage> + '_ {
        self.packages.values()
    }

    /// Every `(package, version, archs, server)`, packages by lower-cased name, versions as
    /// strings.
    pub fn entries(&self) -> impl Iterator<Item = Entry<'_>> + '_ {
        self.packages.values().flat_map(move |p| {
            p.versions.iter().map(move |(version, r)| Entry {
                package: &r.name,
                version,
                archs: &r.archs,
                server: &self.servers[r.server],
                server_index: r.server,
            })
        })
    }

    pub fn package_count(&self) -> usize {
        self.packages.len()
    }

    pub fn version_count(&self) -> usize {
        self.packages.values().map(|p| p.versions.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.packages.is_empty()
    }
}

pub mod compact;
mod lexical;
mod parser;
#[cfg(any(test, feature = "synthetic"))]
mod synthetic;
#[cfg(test)]
mod tests;
mod writer;

use parser::Parser;
#[cfg(any(test, feature = "synthetic"))]
pub use synthetic::{synthetic, SYNTHETIC_PACKAGES};
