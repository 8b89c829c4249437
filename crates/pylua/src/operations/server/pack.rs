//! Packing rocks as `luarocks pack` does: a `.src.rock` from a rockspec and its source
//! archive, and a binary (`.ARCH.rock`) or `.all.rock` from a package installed in a tree —
//! its rock directory (rockspec, `rock_manifest`, `doc/`, `bin/`) plus the `lua/` and `lib/`
//! files its `rock_manifest` lists.

use crate::packages::cache::Fetcher;
use crate::packages::index::platform_arch;
use crate::packages::manifest::{ServerManifest, Value};
use crate::packages::rockspec::Rockspec;
use crate::packages::tree::Tree;
use crate::packages::version::Version;
use md5::{Digest, Md5};
use std::fs;
use std::io::Write;
use std::path::Path;

/// Files (name inside the rock, bytes, unix mode) zipped into a rock. Every member has the
/// same fixed date, so packing the same files twice gives the same rock.
fn zip(members: &[(String, Vec<u8>, u32)]) -> Result<Vec<u8>, String> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    // Directory entries too, as LuaRocks' zips have them.
    let mut dirs = std::collections::BTreeSet::new();
    for (name, _, _) in members {
        let mut at = 0;
        while let Some(i) = name[at..].find('/') {
            dirs.insert(&name[..at + i + 1]);
            at += i + 1;
        }
    }
    for dir in dirs {
        let options = zip::write::SimpleFileOptions::default()
            .last_modified_time(zip::DateTime::default())
            .unix_permissions(0o755);
        writer
            .add_directory(dir, options)
            .map_err(|e| format!("{dir}: {e}"))?;
    }
    for (name, bytes, mode) in members {
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .last_modified_time(zip::DateTime::default())
            .unix_permissions(*mode);
        writer
            .start_file(name.as_str(), options)
            .map_err(|e| format!("{name}: {e}"))?;
        writer
            .write_all(bytes)
            .map_err(|e| format!("{name}: {e}"))?;
    }
    let cursor = writer.finish().map_err(|e| e.to_string())?;
    Ok(cursor.into_inner())
}

/// A path segment from a rockspec or `rock_manifest`: a plain file or directory name.
fn safe_segment(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains(['/', '\\', '\0'])
}

/// The `.src.rock` of a rockspec-only package: the rockspec and its source archive, as
/// `luarocks pack NAME-VERSION.rockspec` makes it. Sources in git are not packed (LuaRocks
/// packs a checkout; pylua leaves such a package as a rockspec).
pub fn pack_source_rock(
    spec: &Rockspec,
    rockspec_text: &str,
    fetcher: &Fetcher,
) -> Result<Vec<u8>, String> {
    let label = format!("{} {}", spec.package, spec.version);
    if spec.source.git().is_some() {
        return Err(format!(
            "{label}: sources in git are not packed into a .src.rock"
        ));
    }
    let url = spec.source.url.as_str();
    if !(url.starts_with("http://") || url.starts_with("https://") || url.starts_with("file://")) {
        return Err(format!("{label}: cannot fetch source.url {url}"));
    }
    let archive = match &spec.source.file {
        Some(file) => file.as_str().to_string(),
        None => url
            .split(['?', '#'])
            .next()
            .unwrap_or_default()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string(),
    };
    let rockspec_name = format!("{}-{}.rockspec", spec.package, spec.version);
    if !safe_segment(&archive) || archive == rockspec_name {
        return Err(format!(
            "{label}: source archive name {archive:?} is not a plain file name"
        ));
    }
    let fetched = fetcher.get(url).map_err(|e| format!("{label}: {e}"))?;
    if let Some(md5) = &spec.source.md5 {
        let got = crate::packages::cache::hex(&Md5::digest(&fetched.bytes));
        if !md5.eq_ignore_ascii_case(&got) {
            return Err(format!(
                "{label}: {url} has md5 {got}, the rockspec says {md5}"
            ));
        }
    }
    zip(&[
        (rockspec_name, rockspec_text.as_bytes().to_vec(), 0o644),
        (archive, fetched.bytes, 0o644),
    ])
}

/// A rock packed from a package installed in `tree`: returns its arch (this platform's when
/// it has C modules, else `all`) and its bytes.
pub fn pack_installed(
    tree: &Tree,
    name: &str,
    version: &Version,
) -> Result<(String, Vec<u8>), String> {
    let rock_dir = tree.rock_dir(name, version);
    let manifest_path = rock_dir.join("rock_manifest");
    let bytes = crate::packages::cache::read_bounded(&manifest_path, 16 << 20)?;
    let manifest = ServerManifest::parse_global(&bytes, "rock_manifest")
        .map_err(|e| format!("{}: {e}", manifest_path.display()))?
        .and_then(|v| v.as_table().cloned())
        .ok_or_else(|| format!("{}: no rock_manifest table", manifest_path.display()))?;
    let mut members = Vec::new();
    collect_dir(&rock_dir, "", &mut members)?;
    let mut binary = false;
    for (section, from, mode) in [
        ("lua", tree.lua_dir(), 0o644),
        ("lib", tree.lib_dir(), 0o755),
    ] {
        if let Some(table) = manifest.get(section).and_then(Value::as_table) {
            binary |= section == "lib";
            collect_listed(table, &from, section, mode, &mut members)?;
        }
    }
    members.sort_by(|a, b| a.0.cmp(&b.0));
    let arch = if binary { platform_arch() } else { "all" };
    Ok((arch.to_string(), zip(&members)?))
}

/// Every regular file under `dir` (links are skipped, as they are never installed).
fn collect_dir(
    dir: &Path,
    prefix: &str,
    out: &mut Vec<(String, Vec<u8>, u32)>,
) -> Result<(), String> {
    for entry in fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let entry = entry.map_err(|e| e.to_string())?;
        let Some(name) = entry.file_name().to_str().map(String::from) else {
            continue;
        };
        let kind = entry.file_type().map_err(|e| e.to_string())?;
        let inner = format!("{prefix}{name}");
        if kind.is_dir() {
            collect_dir(&entry.path(), &format!("{inner}/"), out)?;
        } else if kind.is_file() {
            let bytes = fs::read(entry.path()).map_err(|e| format!("{inner}: {e}"))?;
            let mode = if prefix.starts_with("bin/") {
                0o755
            } else {
                0o644
            };
            out.push((inner, bytes, mode));
        }
    }
    Ok(())
}

/// The files a `rock_manifest` section lists (`{ cjson = { ["util.lua"] = "md5" } }`), read
/// from the tree's directory for that section and checked against their md5.
fn collect_listed(
    table: &crate::packages::manifest::Table,
    from: &Path,
    prefix: &str,
    mode: u32,
    out: &mut Vec<(String, Vec<u8>, u32)>,
) -> Result<(), String> {
    for (key, value) in &table.fields {
        let Some(name) = key.as_str().filter(|k| safe_segment(k)) else {
            return Err(format!("rock_manifest: bad entry {key:?} in {prefix}"));
        };
        let inner = format!("{prefix}/{name}");
        match value {
            Value::Table(sub) => collect_listed(sub, &from.join(name), &inner, mode, out)?,
            Value::String(md5) => {
                let path = from.join(name);
                let bytes = fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                let got = crate::packages::cache::hex(&Md5::digest(&bytes));
                if !got.eq_ignore_ascii_case(md5) {
                    return Err(format!(
                        "{}: changed since it was installed (md5 {got}, rock_manifest says {md5})",
                        path.display()
                    ));
                }
                out.push((inner, bytes, mode));
            }
            _ => return Err(format!("rock_manifest: bad entry {inner}")),
        }
    }
    Ok(())
}
