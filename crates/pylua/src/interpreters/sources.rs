//! The Lua and LuaJIT sources that ship inside pylua: one compressed archive made by the build
//! script from the `lua-src` and `luajit-src` crates, so provisioning needs neither a network
//! nor a cargo registry.

use super::LuaVersion;
use flate2::read::GzDecoder;
use std::io;
use std::path::{Component, Path, PathBuf};

static BUNDLE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/lua-sources.tar.gz"));

/// Which source releases are bundled: the crate versions they come from.
pub const BUNDLED_SOURCES: &str = concat!(
    "lua-src ",
    env!("PYLUA_LUA_SRC_VERSION"),
    ", luajit-src ",
    env!("PYLUA_LUAJIT_SRC_VERSION")
);

/// The release of the bundled sources for a version: `5.4.7`, or LuaJIT's crate version
/// (`210.5.12+a4f56a4`, which names the upstream commit).
pub fn bundled_release(version: LuaVersion) -> String {
    match version {
        LuaVersion::LuaJit => env!("PYLUA_LUAJIT_SRC_VERSION").to_string(),
        v => env!("PYLUA_LUA_RELEASES")
            .split(',')
            .find(|r| r.starts_with(&format!("{}.", v.as_str())))
            .unwrap_or("?")
            .to_string(),
    }
}

/// A key that changes whenever the sources pylua would build `version` from change; an
/// installed interpreter with the same key is up to date.
pub(crate) fn source_key(version: LuaVersion) -> String {
    match version {
        LuaVersion::LuaJit => format!("luajit-src {}", env!("PYLUA_LUAJIT_SRC_VERSION")),
        v => format!(
            "lua-src {} (lua-{})",
            env!("PYLUA_LUA_SRC_VERSION"),
            bundled_release(v)
        ),
    }
}

/// The archive directory holding a version's sources.
fn archive_dir(version: LuaVersion) -> String {
    match version {
        LuaVersion::LuaJit => "luajit".into(),
        v => format!("lua-{}", bundled_release(v)),
    }
}

/// Writes the sources of `version` into `dest` (the archive's top directory stripped).
pub(crate) fn extract(version: LuaVersion, dest: &Path) -> io::Result<usize> {
    let prefix = archive_dir(version);
    let mut archive = tar::Archive::new(GzDecoder::new(BUNDLE));
    let mut written = 0;
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        let Ok(rest) = path.strip_prefix(&prefix) else {
            continue;
        };
        // Only plain relative names: the archive is ours, but a path never escapes `dest`.
        if rest
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
        {
            continue;
        }
        let target: PathBuf = dest.join(rest);
        if entry.header().entry_type().is_dir() {
            std::fs::create_dir_all(&target)?;
            continue;
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        entry.unpack(&target)?;
        written += 1;
    }
    if written == 0 {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("the bundled sources have no '{prefix}' directory"),
        ));
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_version_is_bundled() {
        for v in LuaVersion::ALL {
            assert_ne!(bundled_release(v), "?", "{v}");
        }
        let dir = tempfile::tempdir().unwrap();
        extract(LuaVersion::Lua51, dir.path()).unwrap();
        assert!(dir.path().join("lapi.c").is_file());
        assert!(dir.path().join("lua.h").is_file());
    }
}
