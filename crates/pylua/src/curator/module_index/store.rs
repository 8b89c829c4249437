//! The module index on disk: gzip-compressed lines, one per release and one per module, so
//! the index of a whole server stays small (module lists repeat from version to version and
//! compress well) and reads without a parser generator.
//!
//! ```text
//! pylua-module-index 1
//! server<TAB>https://luarocks.org
//! lua<TAB>5.4
//! manifest<TAB><sha256 of the server manifest>
//! P<TAB>lua-cjson<TAB>2.1.0-1[<TAB>note][<TAB>retry]
//! M<TAB>c<TAB>cjson
//! M<TAB>o<TAB>cjson.safe
//! ```
//!
//! The file is in the cache, which other programs can write: reading checks every line into
//! the validated types ([`PackageName`], [`Version`], [`ModuleName`]) and bounds what it
//! decompresses, so a damaged or hostile file is an error (and the index is rebuilt), never a
//! panic.

use super::{IndexedRelease, ModuleKind, ProvidedModule, ServerModules};
use crate::packages::cache::write_atomic;
use crate::packages::names::{ModuleName, PackageName};
use crate::packages::version::Version;
use std::io::{Read, Write};
use std::path::Path;

pub(super) const EXTENSION: &str = ".idx.gz";
const MAGIC: &str = "pylua-module-index 1";
/// Most bytes one index may decompress to (luarocks.org's index is a few MiB).
const MAX_DECOMPRESSED: u64 = 256 << 20;
/// Most bytes a compressed index file may have.
const MAX_FILE: u64 = 64 << 20;

/// An index file that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("module index {file}: {message}")]
pub struct StoreError {
    pub file: String,
    pub message: String,
}

/// Writes `index` to `path` atomically.
pub(super) fn write(path: &Path, index: &ServerModules) -> std::io::Result<()> {
    let mut text = String::new();
    text.push_str(MAGIC);
    text.push('\n');
    for (key, value) in [
        ("server", &index.server),
        ("lua", &index.lua),
        ("manifest", &index.manifest_sha256),
    ] {
        text.push_str(&format!("{key}\t{}\n", clean(value)));
    }
    for release in index.packages.values().flatten() {
        text.push_str(&format!("P\t{}\t{}", release.name, release.version));
        if let Some(note) = &release.note {
            text.push('\t');
            text.push_str(&clean(note));
            if release.retry {
                text.push_str("\tretry");
            }
        }
        text.push('\n');
        for module in &release.modules {
            text.push_str(&format!("M\t{}\t{}\n", module.kind.code(), module.name));
        }
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(text.as_bytes())?;
    write_atomic(path, &gz.finish()?)
}

/// One line of free text: no tabs or line breaks, bounded.
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(1000)
        .collect()
}

/// Reads and checks an index file.
pub(super) fn read(path: &Path) -> Result<ServerModules, StoreError> {
    let err = |message: String| StoreError {
        file: path.display().to_string(),
        message,
    };
    let meta = std::fs::metadata(path).map_err(|e| err(e.to_string()))?;
    if meta.len() > MAX_FILE {
        return Err(err(format!("larger than {} MiB", MAX_FILE >> 20)));
    }
    let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    decode(&bytes, &path.display().to_string())
}

/// Checks the bytes of an index file; `file` names it in errors.
pub(super) fn decode(bytes: &[u8], file: &str) -> Result<ServerModules, StoreError> {
    let err = |message: String| StoreError {
        file: file.to_string(),
        message,
    };
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes)
        .take(MAX_DECOMPRESSED + 1)
        .read_to_string(&mut text)
        .map_err(|e| err(format!("not a readable index: {e}")))?;
    if text.len() as u64 > MAX_DECOMPRESSED {
        return Err(err(format!(
            "larger than {} MiB once decompressed",
            MAX_DECOMPRESSED >> 20
        )));
    }
    parse(&text).map_err(|(line, message)| err(format!("line {line}: {message}")))
}

fn parse(text: &str) -> Result<ServerModules, (usize, String)> {
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    if lines.next().map(|(_, l)| l) != Some(MAGIC) {
        return Err((1, format!("expected '{MAGIC}'")));
    }
    let mut header = |key: &str| -> Result<String, (usize, String)> {
        let (n, line) = lines
            .next()
            .ok_or((0, format!("missing the '{key}' line")))?;
        line.strip_prefix(key)
            .and_then(|r| r.strip_prefix('\t'))
            .map(String::from)
            .ok_or((n, format!("expected '{key}'")))
    };
    let server = header("server")?;
    let lua = header("lua")?;
    let manifest_sha256 = header("manifest")?;
    if manifest_sha256.len() != 64 || !manifest_sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err((4, "the manifest checksum is not a sha256".into()));
    }
    let mut index = ServerModules {
        server,
        lua,
        manifest_sha256,
        packages: Default::default(),
    };
    let mut current: Option<IndexedRelease> = None;
    let push = |index: &mut ServerModules, release: Option<IndexedRelease>| {
        if let Some(r) = release {
            index
                .packages
                .entry(r.name.as_str().to_ascii_lowercase())
                .or_default()
                .push(r);
        }
    };
    for (n, line) in lines {
        let fields: Vec<&str> = line.split('\t').collect();
        match fields.as_slice() {
            ["P", name, version, rest @ ..] if rest.len() <= 2 => {
                push(&mut index, current.take());
                let name = PackageName::parse(name).map_err(|e| (n, e.to_string()))?;
                let version = Version::parse(version).map_err(|e| (n, e.message))?;
                let retry = match rest.get(1) {
                    None => false,
                    Some(&"retry") => true,
                    Some(other) => return Err((n, format!("unexpected field {other:?}"))),
                };
                current = Some(IndexedRelease {
                    name,
                    version,
                    modules: Vec::new(),
                    note: rest.first().map(|s| s.to_string()),
                    retry,
                });
            }
            ["M", kind, module] => {
                let kind =
                    ModuleKind::from_code(kind).ok_or((n, format!("unknown kind {kind:?}")))?;
                let name = ModuleName::parse(module).map_err(|e| (n, e.to_string()))?;
                let release = current
                    .as_mut()
                    .ok_or((n, "a module before any package".to_string()))?;
                release.modules.push(ProvidedModule { name, kind });
            }
            _ => return Err((n, "not an index line".into())),
        }
    }
    push(&mut index, current.take());
    for releases in index.packages.values_mut() {
        releases.sort_by(|a, b| b.version.cmp(&a.version));
    }
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_damage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.idx.gz");
        let mut index = ServerModules {
            server: "file:///srv".into(),
            lua: "5.4".into(),
            manifest_sha256: "a".repeat(64),
            packages: Default::default(),
        };
        index.packages.insert(
            "lua-cjson".into(),
            vec![IndexedRelease {
                name: PackageName::parse("lua-cjson").unwrap(),
                version: Version::parse("2.1.0-1").unwrap(),
                modules: vec![
                    ProvidedModule {
                        name: ModuleName::parse("cjson").unwrap(),
                        kind: ModuleKind::C,
                    },
                    ProvidedModule {
                        name: ModuleName::parse("cjson.safe").unwrap(),
                        kind: ModuleKind::Opener,
                    },
                ],
                note: Some("a\tnote\nwith breaks".into()),
                retry: true,
            }],
        );
        write(&path, &index).unwrap();
        let back = read(&path).unwrap();
        assert_eq!(
            back.packages["lua-cjson"][0].modules,
            index.packages["lua-cjson"][0].modules
        );
        assert_eq!(
            back.packages["lua-cjson"][0].note.as_deref(),
            Some("a note with breaks")
        );
        assert!(back.packages["lua-cjson"][0].retry);

        for bad in [
            "",
            "pylua-module-index 1\nserver\tx\nlua\t5.4\nmanifest\tnope\n",
            &format!(
                "{MAGIC}\nserver\tx\nlua\t5.4\nmanifest\t{}\nP\t../x\t1.0-1\n",
                "a".repeat(64)
            ),
            &format!(
                "{MAGIC}\nserver\tx\nlua\t5.4\nmanifest\t{}\nM\tl\tx\n",
                "a".repeat(64)
            ),
            &format!(
                "{MAGIC}\nserver\tx\nlua\t5.4\nmanifest\t{}\nP\tx\t1.0-1\nM\tl\ta/../b\n",
                "a".repeat(64)
            ),
            &format!(
                "{MAGIC}\nserver\tx\nlua\t5.4\nmanifest\t{}\nP\tx\t1.0-1\nM\tl\ta\0b\n",
                "a".repeat(64)
            ),
        ] {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(bad.as_bytes()).unwrap();
            std::fs::write(&path, gz.finish().unwrap()).unwrap();
            assert!(read(&path).is_err(), "{bad:?}");
        }
        std::fs::write(&path, b"not gzip at all").unwrap();
        assert!(read(&path).is_err());
    }
}
