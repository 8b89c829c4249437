//! The modules of one release, from whatever the server has for it, and of an installed tree.
//!
//! * A binary or `.all` rock: its `rock_manifest` lists every file it installs (`lua/…` and
//!   `lib/…`), and each library in it is read for its `luaopen_*` symbols.
//! * A `.src.rock`: its rockspec's `build.modules` and `install.lua`/`install.lib`; for a
//!   `builtin` build, also the sources packed in the rock — the top-level `lua/` directory
//!   LuaRocks copies as it is, and the `luaopen_*` functions the C modules' sources define.
//! * A loose `.rockspec`: only what the rockspec says (its sources are elsewhere).
//!
//! For `make`, `cmake`, `command` and plugin build types only the `install` tables are
//! known; the release carries a note saying so. `copy_directories` install no modules.

use super::symbols::{defined_openers, exported_openers, module_for_opener, MAX_LIBRARY};
use super::{IndexedRelease, ModuleKind, ProvidedModule};
use crate::packages::archive::{self, Bounds};
use crate::packages::cache::Fetcher;
use crate::packages::manifest::{ServerManifest, Value as MValue};
use crate::packages::names::{ModuleName, PackageName, RelativePath};
use crate::packages::rockspec::{BuildType, Module, Rockspec};
use crate::packages::server::{rockspec_from_rock, Server};
use crate::packages::tree::{Tree, TreeError};
use crate::packages::version::Version;
use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;

/// Largest `rock_manifest` read from a rock.
const MAX_ROCK_MANIFEST: u64 = 4 << 20;
/// At most this many modules are recorded for one release.
const MAX_MODULES: usize = 10_000;
/// How deep a `rock_manifest` directory tree is followed.
const MAX_DEPTH: usize = 32;

/// Collects modules without duplicates, within [`MAX_MODULES`].
#[derive(Default)]
struct Modules(BTreeSet<ProvidedModule>);

impl Modules {
    fn add(&mut self, name: &str, kind: ModuleKind) {
        if self.0.len() >= MAX_MODULES {
            return;
        }
        if let Ok(name) = ModuleName::parse(name) {
            // A module both as a file and as a symbol is the file.
            if kind == ModuleKind::Opener && self.0.iter().any(|m| m.name == name) {
                return;
            }
            self.0.insert(ProvidedModule { name, kind });
        }
    }

    /// The module a file under `lua/` or `lib/` is, as LuaRocks' manifest names it: the path
    /// without its extension, `/` read as `.`.
    fn add_file(&mut self, rel: &str, kind: ModuleKind) -> Option<String> {
        let stem = rel.rsplit_once('.').map_or(rel, |(stem, _)| stem);
        let module = stem.replace('/', ".");
        self.add(&module, kind);
        Some(module)
    }

    fn into_vec(self) -> Vec<ProvidedModule> {
        self.0.into_iter().collect()
    }
}

/// What the rockspec alone says a release provides, and a note when its build type hides
/// modules from it.
pub fn modules_from_rockspec(rockspec: &Rockspec) -> (Vec<ProvidedModule>, Option<String>) {
    let mut modules = Modules::default();
    add_rockspec_modules(rockspec, &mut modules);
    (modules.into_vec(), build_note(rockspec))
}

fn add_rockspec_modules(rockspec: &Rockspec, modules: &mut Modules) {
    for (name, module) in &rockspec.build.modules {
        let kind = match module {
            Module::Lua { .. } => ModuleKind::Lua,
            Module::C { .. } => ModuleKind::C,
        };
        modules.add(name.as_str(), kind);
    }
    for (section, kind, ext) in [
        ("lua", ModuleKind::Lua, ".lua"),
        ("lib", ModuleKind::C, ".so"),
    ] {
        for key in rockspec
            .build
            .install
            .get(section)
            .into_iter()
            .flat_map(|t| t.keys())
        {
            // A key that is a file name (`"x.lua"`) installs the file under that name.
            let key = key.as_str();
            let module = key
                .strip_suffix(ext)
                .map_or(key.to_string(), |s| s.replace('/', "."));
            modules.add(&module, kind);
        }
    }
}

fn build_note(rockspec: &Rockspec) -> Option<String> {
    let what = match &rockspec.build.build_type {
        BuildType::Builtin | BuildType::None => return None,
        BuildType::Make => "make",
        BuildType::Cmake => "cmake",
        BuildType::Command => "command",
        BuildType::Other(name) => name.as_str(),
    };
    Some(format!(
        "build type '{what}': only the modules of its install table are known before it is built"
    ))
}

/// Indexes one release of `server`: `archs` as the manifest lists them.
pub(super) fn index_release(
    fetcher: &Fetcher,
    server: &Server,
    name: &PackageName,
    version: &Version,
    archs: &[String],
    bounds: Bounds,
) -> IndexedRelease {
    let mut release = IndexedRelease {
        name: name.clone(),
        version: version.clone(),
        modules: Vec::new(),
        note: None,
        retry: false,
    };
    let base = format!("{name}-{version}");
    let platform = crate::packages::index::platform_arch();
    let has = |arch: &str| archs.iter().any(|a| a == arch);
    // A built rock says exactly what it installs; otherwise the loose rockspec is the
    // smallest download, and the `.src.rock` is fetched only when its sources can tell more
    // (a builtin build with C modules, whose sources may define other `luaopen_*`
    // functions, or with no module list, whose `lua/` directory is installed as it is).
    let outcome = if let Some(arch) = [platform, "all"].into_iter().find(|a| has(a)) {
        fetch(fetcher, &server.file_url(&format!("{base}.{arch}.rock")))
            .map(|(bytes, url)| from_built_rock(&bytes, &url))
    } else if has("rockspec") {
        fetch(fetcher, &server.file_url(&format!("{base}.rockspec"))).map(|(bytes, url)| {
            let spec = Rockspec::parse(&String::from_utf8_lossy(&bytes), &url)
                .map_err(|e| e.to_string())?;
            if has("src") && sources_tell_more(&spec) {
                if let Ok((rock, url)) =
                    fetch(fetcher, &server.file_url(&format!("{base}.src.rock")))
                {
                    return from_src_rock(&rock, &base, &url, bounds);
                }
            }
            Ok(modules_from_rockspec(&spec))
        })
    } else if has("src") {
        fetch(fetcher, &server.file_url(&format!("{base}.src.rock")))
            .map(|(bytes, url)| from_src_rock(&bytes, &base, &url, bounds))
    } else {
        Ok(Err(format!(
            "no rock for this platform (only {})",
            archs.join(", ")
        )))
    };
    match outcome {
        Ok(Ok((modules, note))) => {
            release.modules = modules;
            release.note = note;
        }
        Ok(Err(why)) => release.note = Some(why),
        Err(why) => {
            release.note = Some(why);
            release.retry = true;
        }
    }
    release
}

/// Downloads `url` through the cache; a failure is worth retrying on the next build.
fn fetch(fetcher: &Fetcher, url: &str) -> Result<(Vec<u8>, String), String> {
    fetcher
        .get(url)
        .map(|f| (f.bytes, url.to_string()))
        .map_err(|e| e.to_string())
}

/// Whether a rockspec's packed sources would show modules the rockspec does not list.
fn sources_tell_more(spec: &Rockspec) -> bool {
    matches!(spec.build.build_type, BuildType::Builtin)
        && (spec.build.modules.is_empty()
            || spec
                .build
                .modules
                .values()
                .any(|m| matches!(m, Module::C { .. })))
}

type Found = Result<(Vec<ProvidedModule>, Option<String>), String>;

/// A binary or `.all` rock: its `rock_manifest`, and the symbols of its libraries.
fn from_built_rock(bytes: &[u8], url: &str) -> Found {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| format!("{url}: not a valid rock archive: {e}"))?;
    let text = read_member(&mut zip, "rock_manifest", MAX_ROCK_MANIFEST)
        .map_err(|e| format!("{url}: {e}"))?;
    let table = ServerManifest::parse_global(&text, "rock_manifest")
        .map_err(|e| format!("{url}: rock_manifest: {e}"))?
        .ok_or_else(|| format!("{url}: rock_manifest assigns no 'rock_manifest'"))?;
    let table = table
        .as_table()
        .ok_or_else(|| format!("{url}: rock_manifest is not a table"))?;
    let mut modules = Modules::default();
    let mut files = Vec::new();
    for (section, kind) in [("lua", ModuleKind::Lua), ("lib", ModuleKind::C)] {
        if let Some(MValue::Table(dir)) = table.get(section) {
            walk_files(dir, "", 0, &mut |rel| files.push((kind, rel)));
        }
    }
    for (kind, rel) in files {
        let Ok(rel) = RelativePath::parse(&rel) else {
            continue;
        };
        let Some(module) = modules.add_file(rel.as_str(), kind) else {
            continue;
        };
        if kind == ModuleKind::C {
            if let Ok(lib) = read_member(&mut zip, &format!("lib/{rel}"), MAX_LIBRARY as u64) {
                for suffix in exported_openers(&lib).unwrap_or_default() {
                    if let Some(m) = module_for_opener(&module, &suffix) {
                        modules.add(&m, ModuleKind::Opener);
                    }
                }
            }
        }
    }
    Ok((modules.into_vec(), None))
}

/// Calls `found` with the path of every file in a `rock_manifest` directory table.
fn walk_files(
    dir: &crate::packages::manifest::Table,
    prefix: &str,
    depth: usize,
    found: &mut dyn FnMut(String),
) {
    if depth > MAX_DEPTH {
        return;
    }
    for (key, value) in &dir.fields {
        let Some(key) = key.as_str() else { continue };
        let path = format!("{prefix}{key}");
        match value {
            MValue::Table(sub) => walk_files(sub, &format!("{path}/"), depth + 1, found),
            MValue::String(_) => found(path),
            _ => {}
        }
    }
}

fn read_member(
    zip: &mut zip::ZipArchive<std::io::Cursor<&[u8]>>,
    name: &str,
    limit: u64,
) -> Result<Vec<u8>, String> {
    let file = zip
        .by_name(name)
        .map_err(|_| format!("the rock has no {name}"))?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {name}: {e}"))?;
    if bytes.len() as u64 > limit {
        return Err(format!("{name} is larger than {} KiB", limit >> 10));
    }
    Ok(bytes)
}

/// A `.src.rock`: the rockspec, plus for a builtin build what its packed sources show.
fn from_src_rock(bytes: &[u8], base: &str, url: &str, bounds: Bounds) -> Found {
    let rockspec_name = format!("{base}.rockspec");
    let text = rockspec_from_rock(bytes, &rockspec_name).map_err(|e| format!("{url}: {e}"))?;
    let spec =
        Rockspec::parse(&text, &format!("{url}!/{rockspec_name}")).map_err(|e| e.to_string())?;
    let mut modules = Modules::default();
    add_rockspec_modules(&spec, &mut modules);
    let mut note = build_note(&spec);
    if matches!(spec.build.build_type, BuildType::Builtin) {
        if let Err(why) = scan_sources(bytes, url, &spec, bounds, &mut modules) {
            note = Some(format!("sources not scanned: {why}"));
        }
    }
    Ok((modules.into_vec(), note))
}

/// Unpacks the sources a `.src.rock` carries into a temporary directory and adds the
/// modules of its top-level `lua/` directory and the extra `luaopen_*` functions of its
/// top-level C modules.
fn scan_sources(
    bytes: &[u8],
    url: &str,
    spec: &Rockspec,
    bounds: Bounds,
    modules: &mut Modules,
) -> Result<(), String> {
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let rock_dir = work.path().join("rock");
    let src_dir = work.path().join("src");
    std::fs::create_dir_all(&rock_dir).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&src_dir).map_err(|e| e.to_string())?;
    archive::unpack(bytes, url, &rock_dir, bounds).map_err(|e| e.to_string())?;
    let file_name = match &spec.source.file {
        Some(f) => f.as_str().to_string(),
        None => spec
            .source
            .url
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string(),
    };
    let file_name = RelativePath::parse(&file_name)
        .ok()
        .filter(|p| !p.as_str().contains('/'))
        .ok_or("the source URL names no file")?;
    let packed = rock_dir.join(file_name.as_str());
    let root = if packed.is_file() && archive::is_archive(file_name.as_str()) {
        let data = std::fs::read(&packed).map_err(|e| e.to_string())?;
        archive::unpack(&data, file_name.as_str(), &src_dir, bounds).map_err(|e| e.to_string())?;
        src_dir
    } else if packed.is_file() {
        // A single source file: nothing more to find than the rockspec says.
        return Ok(());
    } else {
        // Git sources are packed as a directory named by `source.dir` or the repository.
        rock_dir.clone()
    };
    let source_dir = match &spec.source.dir {
        Some(dir) if root.join(dir.as_str()).is_dir() => root.join(dir.as_str()),
        _ => archive::single_root(&root).unwrap_or(root),
    };
    let lua_dir = source_dir.join("lua");
    if lua_dir.is_dir() {
        let mut files = Vec::new();
        list_files(&lua_dir, "", 0, &mut files);
        for rel in files.iter().filter(|f| f.ends_with(".lua")) {
            modules.add_file(rel, ModuleKind::Lua);
        }
    }
    for (name, module) in &spec.build.modules {
        let Module::C { sources, .. } = module else {
            continue;
        };
        for source in sources {
            let Ok(rel) = RelativePath::parse(source) else {
                continue;
            };
            let path = source_dir.join(rel.as_str());
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if !meta.is_file() || meta.len() > super::symbols::MAX_SOURCE as u64 {
                continue;
            }
            let Ok(text) = std::fs::read(&path) else {
                continue;
            };
            for suffix in defined_openers(&text) {
                if let Some(m) = module_for_opener(name.as_str(), &suffix) {
                    modules.add(&m, ModuleKind::Opener);
                }
            }
        }
    }
    Ok(())
}

/// Regular files under `dir` (no links followed), relative with `/`.
fn list_files(dir: &Path, prefix: &str, depth: usize, out: &mut Vec<String>) {
    if depth > MAX_DEPTH || out.len() >= MAX_MODULES {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = format!("{prefix}{name}");
        if kind.is_dir() {
            list_files(&entry.path(), &format!("{rel}/"), depth + 1, out);
        } else if kind.is_file() {
            out.push(rel);
        }
    }
}

/// The modules of every package installed in `tree`: each rock's `rock_manifest` (every
/// file it installed under `lua/` and `lib/`; the tree manifest's module list when a rock has
/// none), plus the `luaopen_*` symbols of its top-level libraries.
pub fn tree_modules(tree: &Tree) -> Result<Vec<IndexedRelease>, TreeError> {
    let installed = tree.read()?;
    let mut out = Vec::new();
    for rock in installed.values() {
        let Ok(name) = PackageName::parse(&rock.name) else {
            continue;
        };
        let files =
            installed_files(&tree.rock_dir(&rock.name, &rock.version)).unwrap_or_else(|| {
                rock.modules
                    .values()
                    .map(|rel| {
                        let kind = if rel.ends_with(".lua") {
                            ModuleKind::Lua
                        } else {
                            ModuleKind::C
                        };
                        (kind, rel.clone())
                    })
                    .collect()
            });
        let mut modules = Modules::default();
        for (kind, rel) in files {
            let Ok(rel) = RelativePath::parse(&rel) else {
                continue;
            };
            let Some(module) = modules.add_file(rel.as_str(), kind) else {
                continue;
            };
            if kind == ModuleKind::C && !module.contains('.') {
                let path = tree.lib_dir().join(rel.as_str());
                let small = std::fs::symlink_metadata(&path)
                    .is_ok_and(|m| m.is_file() && m.len() <= MAX_LIBRARY as u64);
                let Some(bytes) = small.then(|| std::fs::read(&path).ok()).flatten() else {
                    continue;
                };
                for suffix in exported_openers(&bytes).unwrap_or_default() {
                    if let Some(m) = module_for_opener(&module, &suffix) {
                        modules.add(&m, ModuleKind::Opener);
                    }
                }
            }
        }
        out.push(IndexedRelease {
            name,
            version: rock.version.clone(),
            modules: modules.into_vec(),
            note: None,
            retry: false,
        });
    }
    Ok(out)
}

/// The `lua/` and `lib/` files an installed rock's `rock_manifest` lists, or `None` when it
/// has none that can be read.
fn installed_files(rock_dir: &Path) -> Option<Vec<(ModuleKind, String)>> {
    let path = rock_dir.join("rock_manifest");
    let meta = std::fs::symlink_metadata(&path).ok()?;
    if !meta.is_file() || meta.len() > MAX_ROCK_MANIFEST {
        return None;
    }
    let text = std::fs::read(&path).ok()?;
    let value = ServerManifest::parse_global(&text, "rock_manifest").ok()??;
    let table = value.as_table()?;
    let mut files = Vec::new();
    for (section, kind) in [("lua", ModuleKind::Lua), ("lib", ModuleKind::C)] {
        if let Some(MValue::Table(dir)) = table.get(section) {
            walk_files(dir, "", 0, &mut |rel| files.push((kind, rel)));
        }
    }
    Some(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(modules: &[ProvidedModule]) -> Vec<(String, ModuleKind)> {
        modules
            .iter()
            .map(|m| (m.name.to_string(), m.kind))
            .collect()
    }

    #[test]
    fn rockspec_modules_and_install_tables() {
        let spec = Rockspec::parse(
            r#"package = "x" version = "1.0-1" source = { url = "x.tar.gz" }
               build = { type = "builtin",
                 modules = { x = "x.lua", ["x.core"] = { sources = { "core.c" } } },
                 install = { lua = { ["x.extra"] = "extra.lua", ["top.lua"] = "top.lua" },
                             lib = { ["x.native"] = "native.so" },
                             bin = { xtool = "bin/xtool" } },
                 copy_directories = { "doc" } }"#,
            "x-1.0-1.rockspec",
        )
        .unwrap();
        let (modules, note) = modules_from_rockspec(&spec);
        assert_eq!(
            names(&modules),
            [
                ("top".to_string(), ModuleKind::Lua),
                ("x".to_string(), ModuleKind::Lua),
                ("x.core".to_string(), ModuleKind::C),
                ("x.extra".to_string(), ModuleKind::Lua),
                ("x.native".to_string(), ModuleKind::C),
            ]
        );
        assert!(note.is_none());
        assert!(!sources_tell_more(
            &Rockspec::parse(
                r#"package = "y" version = "1.0-1" source = { url = "y.tar.gz" }
               build = { type = "builtin", modules = { y = "y.lua" } }"#,
                "y",
            )
            .unwrap()
        ));
        assert!(sources_tell_more(&spec));
    }

    #[test]
    fn make_builds_say_what_is_unknown() {
        let spec = Rockspec::parse(
            r#"package = "m" version = "1.0-1" source = { url = "m.tar.gz" }
               build = { type = "make", install = { lua = { m = "m.lua" } } }"#,
            "m",
        )
        .unwrap();
        let (modules, note) = modules_from_rockspec(&spec);
        assert_eq!(names(&modules), [("m".to_string(), ModuleKind::Lua)]);
        assert!(note.unwrap().contains("'make'"));
    }

    #[test]
    fn built_rocks_refuse_garbage() {
        assert!(from_built_rock(b"not a zip", "u").is_err());
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        zip.start_file("rock_manifest", zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut zip, b"rock_manifest = 'not a table'").unwrap();
        let bytes = zip.finish().unwrap().into_inner();
        assert!(from_built_rock(&bytes, "u")
            .unwrap_err()
            .contains("not a table"));
    }
}
