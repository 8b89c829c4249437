//! Building a server's module index: read the server manifest (revalidated through the
//! cache, so an unchanged manifest costs one conditional request), compare its sha256 with the
//! index on disk, and when it changed index the releases not indexed before — several at a
//! time — keeping every release the old index already had.

use super::extract::index_release;
use super::{index_dir, store, IndexedRelease, ModuleIndex, ServerModules};
use crate::packages::archive::Bounds;
use crate::packages::cache::{sha256_hex, Fetcher};
use crate::packages::manifest::ServerManifest;
use crate::packages::names::PackageName;
use crate::packages::server::{FetchError, Server};
use crate::packages::version::Version;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// How an index is built.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// The Lua version whose server manifest (`manifest-5.4`) is read.
    pub lua: String,
    /// Releases indexed at once.
    pub jobs: usize,
    /// Bounds on unpacking the rocks read.
    pub bounds: Bounds,
}

/// Where the index of `server` for `lua` is kept.
fn index_path(fetcher: &Fetcher, server: &Server, lua: &str) -> PathBuf {
    let key = sha256_hex(format!("{}\n{lua}", server.url()).as_bytes());
    index_dir(fetcher.root()).join(format!("{}{}", &key[..32], store::EXTENSION))
}

/// The module index of `server`: from the cache when the server manifest has not changed,
/// else (re)built and stored. Fails only when the server manifest cannot be had; a release
/// that cannot be read is kept with a note saying why.
pub fn load_or_build(
    server: &Server,
    fetcher: &Fetcher,
    options: &BuildOptions,
) -> Result<ModuleIndex, String> {
    let bytes = manifest_bytes(server, fetcher, &options.lua)?;
    let sha = sha256_hex(&bytes);
    let path = index_path(fetcher, server, &options.lua);
    let previous = store::read(&path)
        .ok()
        .filter(|p| p.server() == server.url());
    let previous = match previous {
        Some(p) if p.manifest_sha256() == sha && p.is_complete() => return Ok(p),
        other => other,
    };
    let manifest =
        ServerManifest::parse_bytes(&bytes).map_err(|e| format!("{}: {e}", server.url()))?;
    let merged = ServerManifest::merge([(server.url().to_string(), manifest)]);
    // A published release does not change: what the old index says of it is kept.
    let known: HashMap<(String, String), IndexedRelease> = previous
        .iter()
        .flat_map(|p| p.releases())
        .filter(|r| !r.retry)
        .filter_map(|r| {
            Some((
                (r.lower.to_string(), r.version.to_string()),
                r.to_indexed()?,
            ))
        })
        .collect();
    let mut reused = Vec::new();
    let mut todo = Vec::new();
    for entry in merged.entries() {
        let (Ok(name), Ok(version)) = (
            PackageName::parse(entry.package),
            Version::parse(entry.version),
        ) else {
            continue;
        };
        match known.get(&(name.as_str().to_ascii_lowercase(), version.to_string())) {
            Some(r) => reused.push(r.clone()),
            None => todo.push((name, version, entry.archs.to_vec())),
        }
    }
    tracing::info!(
        "module index of {}: {} releases reused, {} to read",
        server.url(),
        reused.len(),
        todo.len()
    );
    let fresh = index_all(server, fetcher, options, &todo);
    let mut packages: BTreeMap<String, Vec<IndexedRelease>> = BTreeMap::new();
    for release in reused.into_iter().chain(fresh) {
        let list = packages
            .entry(release.name.as_str().to_ascii_lowercase())
            .or_default();
        if !list.iter().any(|r| r.version == release.version) {
            list.push(release);
        }
    }
    for list in packages.values_mut() {
        list.sort_by(|a, b| b.version.cmp(&a.version));
    }
    let index = ModuleIndex::build(&ServerModules {
        server: server.url().to_string(),
        lua: options.lua.clone(),
        manifest_sha256: sha,
        packages,
    });
    // An index in the earlier gzip-compressed text form is not read any more.
    let _ = std::fs::remove_file(path.with_extension("idx.gz"));
    if let Err(e) = store::write(&path, &index) {
        // The index still answers this time; it is rebuilt next time.
        tracing::warn!("cannot write the module index {}: {e}", path.display());
    }
    Ok(index)
}

/// Indexes `todo` with up to `options.jobs` threads.
fn index_all(
    server: &Server,
    fetcher: &Fetcher,
    options: &BuildOptions,
    todo: &[(PackageName, Version, Vec<String>)],
) -> Vec<IndexedRelease> {
    let next = AtomicUsize::new(0);
    let done = Mutex::new(Vec::with_capacity(todo.len()));
    let workers = options.jobs.clamp(1, 32).min(todo.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((name, version, archs)) = todo.get(i) else {
                    break;
                };
                let release = index_release(fetcher, server, name, version, archs, options.bounds);
                done.lock().unwrap_or_else(|e| e.into_inner()).push(release);
            });
        }
    });
    done.into_inner().unwrap_or_else(|e| e.into_inner())
}

/// The server manifest for `lua`: `manifest-5.4` when the server has one, else `manifest`.
fn manifest_bytes(server: &Server, fetcher: &Fetcher, lua: &str) -> Result<Vec<u8>, String> {
    let versioned = format!("manifest-{lua}");
    match fetcher.get_fresh(&server.file_url(&versioned)) {
        Ok(bytes) => Ok(bytes),
        Err(FetchError::NotFound { .. }) => match fetcher.get_fresh(&server.file_url("manifest")) {
            Ok(bytes) => Ok(bytes),
            Err(FetchError::NotFound { url }) => Err(format!(
                "{url}: not found — is {} a LuaRocks server?",
                server.url()
            )),
            Err(e) => Err(e.to_string()),
        },
        Err(e) => Err(e.to_string()),
    }
}
