//! What a server directory holds, read from its file names (`NAME-VERSION.rockspec`,
//! `NAME-VERSION.ARCH.rock`), and its manifests rewritten from that — as
//! `luarocks-admin make-manifest` does — each one atomically (temp file + rename).

use super::ServerError;
use crate::packages::manifest::ServerManifest;
use crate::packages::names::PackageName;
use crate::packages::rockspec::Rockspec;
use crate::packages::server::rockspec_from_rock;
use crate::packages::version::Version;
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// The Lua versions LuaRocks writes a `manifest-5.x` for.
pub const LUA_VERSIONS: [&str; 4] = ["5.1", "5.2", "5.3", "5.4"];

/// One file of a server, as its name describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerFile {
    pub name: PackageName,
    pub version: Version,
    /// `rockspec`, `src`, `all` or a platform (`linux-x86_64`).
    pub arch: String,
}

impl ServerFile {
    /// Reads a file name; `None` for anything that is not a rockspec or a rock (manifests,
    /// `index.html`) or does not name a valid package, version and arch.
    pub fn parse(file: &str) -> Option<ServerFile> {
        let (base, arch) = if let Some(base) = file.strip_suffix(".rockspec") {
            (base, "rockspec")
        } else {
            file.strip_suffix(".rock")?.rsplit_once('.')?
        };
        let arch_ok = !arch.is_empty()
            && arch
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        let mut parts = base.rsplitn(3, '-');
        let (revision, upstream, name) = (parts.next()?, parts.next()?, parts.next()?);
        if !arch_ok || file.contains('/') || file.contains('\\') {
            return None;
        }
        Some(ServerFile {
            name: PackageName::parse(name).ok()?,
            version: Version::parse(&format!("{upstream}-{revision}")).ok()?,
            arch: arch.to_string(),
        })
    }

    /// The file's name on the server.
    pub fn file_name(&self) -> String {
        file_name(self.name.as_str(), &self.version, &self.arch)
    }
}

/// `NAME-VERSION.rockspec` or `NAME-VERSION.ARCH.rock`.
pub fn file_name(name: &str, version: &Version, arch: &str) -> String {
    if arch == "rockspec" {
        format!("{name}-{version}.rockspec")
    } else {
        format!("{name}-{version}.{arch}.rock")
    }
}

/// Every rockspec and rock in `dir` (regular files only: a symlink is never listed).
pub fn scan(dir: &Path) -> Result<Vec<ServerFile>, ServerError> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| ServerError::io(dir, e))? {
        let entry = entry.map_err(|e| ServerError::io(dir, e))?;
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if !kind.is_file() {
            continue;
        }
        if let Some(file) = entry.file_name().to_str().and_then(ServerFile::parse) {
            files.push(file);
        }
    }
    files.sort_by(|a, b| {
        (a.name.as_str(), &a.version, &a.arch).cmp(&(b.name.as_str(), &b.version, &b.arch))
    });
    Ok(files)
}

/// The rockspec of `(name, version)` in `dir`: the loose one, else the one inside a rock.
pub fn rockspec_in(
    dir: &Path,
    files: &[ServerFile],
    file: &ServerFile,
) -> Result<Rockspec, String> {
    let rockspec_name = file_name(file.name.as_str(), &file.version, "rockspec");
    let siblings = files
        .iter()
        .filter(|f| f.name == file.name && f.version == file.version);
    let mut text = None;
    for f in siblings.clone() {
        if f.arch == "rockspec" {
            let path = dir.join(f.file_name());
            text = Some(
                crate::packages::cache::read_bounded(&path, 4 << 20)
                    .map(|b| String::from_utf8_lossy(&b).into_owned())?,
            );
            break;
        }
    }
    if text.is_none() {
        for f in siblings {
            let path = dir.join(f.file_name());
            let bytes = crate::packages::cache::read_bounded(&path, 512 << 20)?;
            if let Ok(t) = rockspec_from_rock(&bytes, &rockspec_name) {
                text = Some(t);
                break;
            }
        }
    }
    let text = text.ok_or_else(|| format!("{rockspec_name}: not in {}", dir.display()))?;
    let spec = Rockspec::parse(&text, &dir.join(&rockspec_name).display().to_string())
        .map_err(|e| e.to_string())?;
    if !spec
        .package
        .as_str()
        .eq_ignore_ascii_case(file.name.as_str())
        || spec.version != file.version
    {
        return Err(format!(
            "{rockspec_name} describes {} {} instead",
            spec.package, spec.version
        ));
    }
    Ok(spec)
}

/// Does `spec` allow Lua `lua` (`5.4`)? A rockspec without a `lua` dependency allows any.
fn allows_lua(spec: &Rockspec, lua: &str) -> bool {
    let Ok(v) = Version::parse(lua) else {
        return false;
    };
    spec.dependencies
        .iter()
        .filter(|d| d.name.as_str() == "lua")
        .all(|d| d.constraints.matches(&v))
}

/// Rewrites `manifest`, `manifest-5.1` … `manifest-5.4` and `index.html` from what `dir` holds. A binary
/// rock (an arch other than `rockspec`, `src`, `all`) goes into the versioned manifest of the
/// Lua in `binary_lua` (by file name) when given there, else of the Lua whose old manifest
/// listed it, else of every Lua its rockspec allows (what `luarocks-admin` does).
/// Returns the files listed and the files skipped, with why.
pub fn rewrite_manifests(
    dir: &Path,
    binary_lua: &BTreeMap<String, String>,
) -> Result<(usize, Vec<String>), ServerError> {
    let files = scan(dir)?;
    let old: BTreeMap<&str, Option<ServerManifest>> = LUA_VERSIONS
        .iter()
        .map(|lua| {
            let path = dir.join(format!("manifest-{lua}"));
            let m = crate::packages::cache::read_bounded(&path, 512 << 20)
                .ok()
                .and_then(|b| ServerManifest::parse_bytes(&b).ok());
            (*lua, m)
        })
        .collect();
    let mut all = ServerManifest::default();
    let mut versioned: BTreeMap<&str, ServerManifest> = LUA_VERSIONS
        .iter()
        .map(|lua| (*lua, ServerManifest::default()))
        .collect();
    let mut skipped = Vec::new();
    let mut listed = 0;
    let mut specs: BTreeMap<(String, String), Result<Rockspec, String>> = BTreeMap::new();
    for file in &files {
        let key = (file.name.to_string(), file.version.to_string());
        let spec = specs
            .entry(key)
            .or_insert_with(|| rockspec_in(dir, &files, file));
        let spec = match spec {
            Ok(spec) => spec,
            Err(why) => {
                skipped.push(format!("{}: {why}", file.file_name()));
                continue;
            }
        };
        listed += 1;
        let push = |m: &mut ServerManifest| {
            m.repository
                .entry(file.name.to_string())
                .or_default()
                .entry(file.version.to_string())
                .or_default()
                .push(file.arch.clone());
        };
        push(&mut all);
        let binary = !matches!(file.arch.as_str(), "rockspec" | "src" | "all");
        let name = file.file_name();
        for lua in LUA_VERSIONS {
            let include = if !binary {
                allows_lua(spec, lua)
            } else if let Some(built_for) = binary_lua.get(&name) {
                built_for == lua
            } else if old
                .values()
                .any(|m| m.as_ref().is_some_and(|m| lists(m, file)))
            {
                old[lua].as_ref().is_some_and(|m| lists(m, file))
            } else {
                allows_lua(spec, lua)
            };
            if include {
                push(versioned.get_mut(lua).expect("every Lua has a manifest"));
            }
        }
    }
    write_atomic(&dir.join("index.html"), index_html(&files).as_bytes())?;
    write_atomic(&dir.join("manifest"), all.to_lua().as_bytes())?;
    for (lua, m) in versioned {
        write_atomic(&dir.join(format!("manifest-{lua}")), m.to_lua().as_bytes())?;
    }
    Ok((listed, skipped))
}

/// A plain listing of the server's files for people with a browser.
fn index_html(files: &[ServerFile]) -> String {
    fn escape(s: &str) -> String {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    }
    let mut out = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Rocks</title></head><body>\n<h1>Rocks</h1>\n<p><a href=\"manifest\">manifest</a></p>\n<ul>\n",
    );
    for f in files {
        let name = escape(&f.file_name());
        out.push_str(&format!("<li><a href=\"{name}\">{name}</a></li>\n"));
    }
    out.push_str("</ul>\n</body></html>\n");
    out
}

fn lists(m: &ServerManifest, file: &ServerFile) -> bool {
    m.repository
        .get(file.name.as_str())
        .and_then(|v| v.get(&file.version.to_string()))
        .is_some_and(|archs| archs.contains(&file.arch))
}

/// Writes `path` through a temporary file in the same directory and a rename, so a client
/// reading the server never sees half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ServerError> {
    crate::packages::cache::write_atomic(path, bytes).map_err(|e| ServerError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        let f = ServerFile::parse("lua-cjson-2.1.0-1.linux-x86_64.rock").unwrap();
        assert_eq!(
            (
                f.name.as_str(),
                f.version.to_string().as_str(),
                f.arch.as_str()
            ),
            ("lua-cjson", "2.1.0-1", "linux-x86_64")
        );
        assert_eq!(f.file_name(), "lua-cjson-2.1.0-1.linux-x86_64.rock");
        let f = ServerFile::parse("lpeg-1.0.2-1.rockspec").unwrap();
        assert_eq!(f.arch, "rockspec");
        for bad in [
            "manifest",
            "index.html",
            "x.rock",
            "-o-1-1.src.rock",
            "../x-1-1.src.rock",
            "x-1-1.SRC.rock",
            "x-1-1..rock",
            "x-1-1.a/b.rock",
        ] {
            assert_eq!(ServerFile::parse(bad), None, "{bad}");
        }
    }
}
