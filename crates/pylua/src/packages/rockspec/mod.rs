//! Rockspecs: a rockspec is Lua code, so it is run in the strict sandbox with memory, time and
//! instruction limits, then its globals are mapped to typed structs. Platform overrides
//! (`platforms = { unix = {...} }`) are merged for the running platform, as LuaRocks does.
//! Every name and path in it is parsed into a validated type here ([`PackageName`],
//! [`ModuleName`], [`RelativePath`], [`GitUrl`], [`GitRef`]), so a rockspec that climbs out
//! of its directory or smuggles an option into git is refused before anything is fetched.

use super::git::{GitRef, GitUrl};
use super::names::{ModuleName, PackageName, RelativePath};
use super::version::{Constraints, Version, VersionError};
use crate::runtime::{Limits, Sandbox, Vm, VmError};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// Why a rockspec could not be read: names the file and the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rockspec {file}: {message}")]
pub struct RockspecError {
    pub file: String,
    pub message: String,
}

/// A dependency: a package name (lower-cased, as LuaRocks matches names) and constraints.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Dependency {
    pub name: PackageName,
    #[serde(serialize_with = "display")]
    pub constraints: Constraints,
}

fn display<S: serde::Serializer, T: std::fmt::Display>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&v.to_string())
}

impl Dependency {
    /// Parses `luasocket >= 3.0, < 4`, `lua ~> 5.1`, `LPeg`.
    pub fn parse(text: &str) -> Result<Dependency, VersionError> {
        let t = text.trim();
        let end = t
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/')))
            .unwrap_or(t.len());
        let name = &t[..end];
        if name.is_empty() {
            return Err(VersionError {
                message: format!(
                    "invalid dependency {}: it must start with a package name",
                    super::names::quote(t)
                ),
            });
        }
        let name = PackageName::parse(&name.to_ascii_lowercase()).map_err(|e| VersionError {
            message: format!("invalid dependency: {e}"),
        })?;
        Ok(Dependency {
            name,
            constraints: Constraints::parse(&t[end..])?,
        })
    }
}

impl std::fmt::Display for Dependency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.constraints.is_any() {
            f.write_str(&self.name)
        } else {
            write!(f, "{} {}", self.name, self.constraints)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Source {
    /// The URL as written; when it is a git URL it has been checked by [`GitUrl`].
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<RelativePath>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dir: Option<RelativePath>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<GitRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<GitRef>,
}

impl Source {
    /// The git URL, when the source is in git (checked when the rockspec was parsed).
    pub fn git(&self) -> Option<GitUrl> {
        GitUrl::from_source_url(&self.url).ok().flatten()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Description {
    pub summary: Option<String>,
    pub detailed: Option<String>,
    pub homepage: Option<String>,
    pub license: Option<String>,
    pub maintainer: Option<String>,
    pub labels: Vec<String>,
}

/// How a module of a `builtin` build is made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Module {
    /// A Lua file copied into the tree.
    Lua { path: RelativePath },
    /// A C module compiled from sources.
    C {
        sources: Vec<String>,
        incdirs: Vec<String>,
        libdirs: Vec<String>,
        libraries: Vec<String>,
        defines: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BuildType {
    Builtin,
    Make,
    Cmake,
    Command,
    None,
    /// A build type provided by a LuaRocks plugin (`build.type = "rust"` …).
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Build {
    pub build_type: BuildType,
    pub modules: BTreeMap<ModuleName, Module>,
    /// `install = { lua = {...}, lib = {...}, conf = {...}, bin = {...} }`: target → source.
    /// Targets of `lua` and `lib` are also valid [`ModuleName`]s.
    pub install: BTreeMap<String, BTreeMap<RelativePath, RelativePath>>,
    pub copy_directories: Vec<RelativePath>,
    /// Every other field (`makefile`, `build_variables`, `build_command`, `variables`…),
    /// after platform overrides, for the build backends.
    pub extra: Map<String, Value>,
}

/// A parsed rockspec, with platform overrides applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rockspec {
    pub format: String,
    pub package: PackageName,
    pub version: Version,
    pub source: Source,
    pub description: Description,
    pub supported_platforms: Vec<String>,
    pub dependencies: Vec<Dependency>,
    pub build_dependencies: Vec<Dependency>,
    pub test_dependencies: Vec<Dependency>,
    /// name → { header = "…", library = "…" }
    pub external_dependencies: BTreeMap<String, BTreeMap<String, String>>,
    pub build: Build,
    /// The `test` table as written (type, flags…), if any.
    pub test: Option<Value>,
}

/// The platform names that apply here, most general first (`unix`, then `linux`).
pub fn platforms() -> Vec<&'static str> {
    let mut names = Vec::new();
    if cfg!(unix) {
        names.push("unix");
    }
    if cfg!(windows) {
        names.extend(["windows", "win32"]);
    }
    if cfg!(target_os = "linux") {
        names.push("linux");
    }
    if cfg!(target_os = "macos") {
        names.extend(["macosx", "macos", "bsd"]);
    }
    if cfg!(target_os = "freebsd") {
        names.extend(["bsd", "freebsd"]);
    }
    names
}

impl Rockspec {
    /// Reads and evaluates a rockspec file.
    pub fn from_file(path: &Path) -> Result<Rockspec, RockspecError> {
        let name = path.display().to_string();
        let text = std::fs::read(path).map_err(|e| RockspecError {
            file: name.clone(),
            message: format!("cannot read it: {e}"),
        })?;
        Rockspec::parse(&String::from_utf8_lossy(&text), &name)
    }

    /// Evaluates rockspec source text; `file` names it in errors.
    pub fn parse(source: &str, file: &str) -> Result<Rockspec, RockspecError> {
        let err = |message: String| RockspecError {
            file: file.to_string(),
            message,
        };
        let mut vm = Vm::builder()
            .sandbox(Sandbox::Strict)
            .limits(
                Limits::new()
                    .memory(32 << 20)
                    .instructions(10_000_000)
                    .timeout(Duration::from_secs(2)),
            )
            .build()
            .map_err(|e| err(e.to_string()))?;
        let chunk = Path::new(file)
            .file_name()
            .map_or(file.to_string(), |n| n.to_string_lossy().into_owned());
        run_chunk(&mut vm, source, &chunk).map_err(|e| err(e.to_string()))?;
        const FIELDS: [&str; 12] = [
            "rockspec_format",
            "package",
            "version",
            "source",
            "description",
            "supported_platforms",
            "dependencies",
            "build_dependencies",
            "test_dependencies",
            "external_dependencies",
            "build",
            "test",
        ];
        check_size(vm.lua(), &FIELDS).map_err(err)?;
        let get = |name: &str| vm.get_global(name).unwrap_or(Value::Null);
        let globals: Map<String, Value> = FIELDS.iter().map(|k| (k.to_string(), get(k))).collect();
        from_globals(globals).map_err(err)
    }
}

/// Runs the rockspec chunk under the VM's limits and drops what it returns: a rockspec
/// returns nothing, and reading a returned value would go through the unbounded conversion
/// [`check_size`] guards the fields against.
fn run_chunk(vm: &mut Vm, source: &str, chunk: &str) -> Result<(), VmError> {
    const ENTRY: &str = "__pylua_rockspec_chunk";
    let lua = vm.lua();
    let compiled = lua
        .load(source)
        .set_name(format!("={chunk}"))
        .set_mode(mlua::ChunkMode::Text)
        .into_function();
    let Ok(function) = compiled else {
        // The VM compiles it again and reports the error in its own words.
        return vm.exec(source, chunk).map(drop);
    };
    let internal = |e: mlua::Error| VmError::new(crate::runtime::ErrorKind::Runtime, e.to_string());
    let entry: mlua::Function = lua
        .load("local f = ... return function() f() end")
        .set_mode(mlua::ChunkMode::Text)
        .call(function)
        .map_err(internal)?;
    lua.globals().raw_set(ENTRY, entry).map_err(internal)?;
    let result = vm.call(ENTRY, &[]).map(drop);
    vm.lua()
        .globals()
        .raw_set(ENTRY, mlua::Value::Nil)
        .map_err(internal)?;
    result
}

/// How many values, and how many bytes of strings and keys, the fields of a rockspec may
/// add up to once read. Real rockspecs have a few hundred values; a table that refers to
/// another several times is read once per reference, so a few lines of Lua can describe
/// more values than memory holds (`for i = 1, 40 do t = { t, t } end`).
const MAX_VALUES: usize = 1_000_000;
const MAX_BYTES: usize = 32 << 20;
/// Tables deeper than this are not read (the runtime's conversion stops at the same depth).
const MAX_READ_DEPTH: usize = 64;

/// Errors when reading the `fields` globals would take more than [`MAX_VALUES`] values or
/// [`MAX_BYTES`] bytes, counting each table as often as it is referred to, as reading does.
fn check_size(lua: &mlua::Lua, fields: &[&str]) -> Result<(), String> {
    struct Walk {
        values: usize,
        bytes: usize,
        path: Vec<usize>,
    }
    impl Walk {
        fn add(&mut self, values: usize, bytes: usize) -> Result<(), ()> {
            self.values += values;
            self.bytes += bytes;
            if self.values > MAX_VALUES || self.bytes > MAX_BYTES {
                return Err(());
            }
            Ok(())
        }
        fn value(&mut self, v: &mlua::Value) -> Result<(), ()> {
            match v {
                mlua::Value::String(s) => self.add(1, s.as_bytes().len()),
                mlua::Value::Table(t) => {
                    let id = t.to_pointer() as usize;
                    if self.path.len() >= MAX_READ_DEPTH || self.path.contains(&id) {
                        return self.add(1, 16);
                    }
                    self.add(1, 0)?;
                    self.path.push(id);
                    for pair in t.clone().pairs::<mlua::Value, mlua::Value>() {
                        let Ok((k, v)) = pair else { continue };
                        // Keys are read as strings, a table key as its type name.
                        match k {
                            mlua::Value::String(s) => self.add(1, s.as_bytes().len())?,
                            _ => self.add(1, 16)?,
                        }
                        self.value(&v)?;
                    }
                    self.path.pop();
                    Ok(())
                }
                _ => self.add(1, 16),
            }
        }
    }
    let mut walk = Walk {
        values: 0,
        bytes: 0,
        path: Vec::new(),
    };
    for field in fields {
        let Ok(value) = lua.globals().raw_get::<mlua::Value>(*field) else {
            continue;
        };
        if walk.value(&value).is_err() {
            return Err(format!(
                "field '{field}' is too large to read (the fields may hold at most {MAX_VALUES} values and {} MiB of text, counting a table once for each reference to it)",
                MAX_BYTES >> 20
            ));
        }
    }
    Ok(())
}

fn from_globals(mut g: Map<String, Value>) -> Result<Rockspec, String> {
    let format = match g.get("rockspec_format") {
        None | Some(Value::Null) => "1.0".to_string(),
        Some(Value::String(s)) if ["1.0", "1.1", "3.0"].contains(&s.as_str()) => s.clone(),
        Some(other) => {
            return Err(format!(
                "field 'rockspec_format' is {other}: expected \"1.0\", \"1.1\" or \"3.0\""
            ))
        }
    };
    let package = PackageName::parse(&required_string(&g, "package")?)
        .map_err(|e| format!("field 'package': {e}"))?;
    let version_text = required_string(&g, "version")?;
    let version =
        Version::parse(&version_text).map_err(|e| format!("field 'version': {}", e.message))?;
    if version.revision().is_none() {
        return Err(format!(
            "field 'version' is \"{version_text}\": a rockspec version needs a revision, like \"{version_text}-1\""
        ));
    }
    for key in [
        "source",
        "build",
        "dependencies",
        "build_dependencies",
        "test_dependencies",
        "external_dependencies",
        "description",
    ] {
        if let Some(v) = g.get_mut(key) {
            apply_platforms(v);
        }
    }
    let source = parse_source(g.get("source"))?;
    let description = parse_description(g.get("description"))?;
    let build = parse_build(g.get("build"))?;
    Ok(Rockspec {
        format,
        package,
        version,
        source,
        description,
        supported_platforms: string_list(g.get("supported_platforms"), "supported_platforms")?,
        dependencies: deps(g.get("dependencies"), "dependencies")?,
        build_dependencies: deps(g.get("build_dependencies"), "build_dependencies")?,
        test_dependencies: deps(g.get("test_dependencies"), "test_dependencies")?,
        external_dependencies: parse_external(g.get("external_dependencies"))?,
        build,
        test: g.get("test").filter(|v| !v.is_null()).cloned(),
    })
}

/// Merges `t.platforms[p]` into `t` for each platform `p` that applies, recursively, and
/// removes the `platforms` key.
fn apply_platforms(value: &mut Value) {
    let Value::Object(map) = value else { return };
    if let Some(Value::Object(mut per_platform)) = map.remove("platforms") {
        // A list with a `platforms` key arrives as an object with keys "1".."n": make it a
        // list again so a platform's entries are added to it, not put in its place.
        if !map.is_empty() && (1..=map.len()).all(|i| map.contains_key(&i.to_string())) {
            let items = (1..=map.len())
                .filter_map(|i| map.remove(&i.to_string()))
                .collect();
            *value = Value::Array(items);
        }
        for name in platforms() {
            if let Some(overrides) = per_platform.remove(name) {
                merge(value, overrides);
            }
        }
    }
    if let Value::Object(map) = value {
        for v in map.values_mut() {
            apply_platforms(v);
        }
    }
}

fn merge(base: &mut Value, overrides: Value) {
    match (base, overrides) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (Value::Array(b), Value::Array(o)) => {
            // Lists from a platform override are added (LuaRocks merges dependency lists).
            b.extend(o);
        }
        (b, o) => *b = o,
    }
}

fn required_string(g: &Map<String, Value>, key: &str) -> Result<String, String> {
    match g.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        None | Some(Value::Null) => Err(format!("field '{key}' is missing")),
        Some(other) => Err(format!(
            "field '{key}' must be a string, not {}",
            kind(other)
        )),
    }
}

/// `field 'build.install.bin' key "../x": a path must stay inside the package (no "..")`.
fn keyed(field: &str, e: super::names::NameError) -> String {
    format!(
        "field '{field}' key {}: {}",
        super::names::quote(&e.value),
        e.reason
    )
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nil",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a table",
    }
}

fn opt_string(map: &Map<String, Value>, key: &str, field: &str) -> Result<Option<String>, String> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(format!(
            "field '{field}.{key}' must be a string, not {}",
            kind(other)
        )),
    }
}

/// A Lua sequence as a list. Tables converted to JSON lose the difference between `{}` and
/// `[]`, and a table with positions and names arrives as an object with keys "1".."n".
fn positional(v: &Value) -> Option<Vec<&Value>> {
    match v {
        Value::Array(items) => Some(items.iter().collect()),
        Value::Object(map) => {
            let mut out = Vec::new();
            while let Some(item) = map.get(&(out.len() + 1).to_string()) {
                out.push(item);
            }
            Some(out)
        }
        _ => None,
    }
}

fn string_list(v: Option<&Value>, field: &str) -> Result<Vec<String>, String> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(other) => positional(other)
            .ok_or_else(|| {
                format!(
                    "field '{field}' must be a list of strings, not {}",
                    kind(other)
                )
            })?
            .into_iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s.clone()),
                other => Err(format!(
                    "field '{field}[{}]' must be a string, not {}",
                    i + 1,
                    kind(other)
                )),
            })
            .collect(),
    }
}

fn deps(v: Option<&Value>, field: &str) -> Result<Vec<Dependency>, String> {
    string_list(v, field)?
        .iter()
        .enumerate()
        .map(|(i, d)| {
            Dependency::parse(d).map_err(|e| format!("field '{field}[{}]': {}", i + 1, e.message))
        })
        .collect()
}

fn parse_source(v: Option<&Value>) -> Result<Source, String> {
    let map = match v {
        Some(Value::Object(m)) => m,
        None | Some(Value::Null) => return Err("field 'source' is missing".into()),
        Some(other) => {
            return Err(format!(
                "field 'source' must be a table, not {}",
                kind(other)
            ))
        }
    };
    let url = opt_string(map, "url", "source")?.ok_or("field 'source.url' is missing")?;
    GitUrl::from_source_url(&url).map_err(|e| format!("field 'source.url': {e}"))?;
    let path = |key: &str| -> Result<Option<RelativePath>, String> {
        opt_string(map, key, "source")?
            .map(|p| RelativePath::parse(&p).map_err(|e| format!("field 'source.{key}': {e}")))
            .transpose()
    };
    let git_ref = |key: &str| -> Result<Option<GitRef>, String> {
        opt_string(map, key, "source")?
            .map(|r| GitRef::parse(&r).map_err(|e| format!("field 'source.{key}': {e}")))
            .transpose()
    };
    Ok(Source {
        url,
        md5: opt_string(map, "md5", "source")?,
        file: path("file")?,
        dir: path("dir")?,
        tag: git_ref("tag")?,
        branch: git_ref("branch")?,
    })
}

fn parse_description(v: Option<&Value>) -> Result<Description, String> {
    let Some(Value::Object(map)) = v else {
        return Ok(Description::default());
    };
    Ok(Description {
        summary: opt_string(map, "summary", "description")?,
        detailed: opt_string(map, "detailed", "description")?,
        homepage: opt_string(map, "homepage", "description")?,
        license: opt_string(map, "license", "description")?,
        maintainer: opt_string(map, "maintainer", "description")?,
        labels: string_list(map.get("labels"), "description.labels")?,
    })
}

fn parse_external(v: Option<&Value>) -> Result<BTreeMap<String, BTreeMap<String, String>>, String> {
    let mut out = BTreeMap::new();
    let Some(Value::Object(map)) = v else {
        return Ok(out);
    };
    for (name, spec) in map {
        let Value::Object(fields) = spec else {
            return Err(format!(
                "field 'external_dependencies.{name}' must be a table, not {}",
                kind(spec)
            ));
        };
        let mut entry = BTreeMap::new();
        for (k, val) in fields {
            if let Value::String(s) = val {
                entry.insert(k.clone(), s.clone());
            }
        }
        out.insert(name.clone(), entry);
    }
    Ok(out)
}

fn parse_build(v: Option<&Value>) -> Result<Build, String> {
    let empty = Map::new();
    let map = match v {
        Some(Value::Object(m)) => m,
        None | Some(Value::Null) => &empty,
        Some(other) => {
            return Err(format!(
                "field 'build' must be a table, not {}",
                kind(other)
            ))
        }
    };
    let build_type = match opt_string(map, "type", "build")?.as_deref() {
        None | Some("builtin") | Some("module") => BuildType::Builtin,
        Some("make") => BuildType::Make,
        Some("cmake") => BuildType::Cmake,
        Some("command") => BuildType::Command,
        Some("none") => BuildType::None,
        Some(other) => BuildType::Other(other.to_string()),
    };
    let mut modules = BTreeMap::new();
    if let Some(Value::Object(mods)) = map.get("modules") {
        for (name, spec) in mods {
            let module = ModuleName::parse(name).map_err(|e| keyed("build.modules", e))?;
            modules.insert(module, parse_module(name, spec)?);
        }
    }
    let mut install = BTreeMap::new();
    if let Some(Value::Object(sections)) = map.get("install") {
        for (section, entries) in sections {
            if !["lua", "lib", "conf", "bin"].contains(&section.as_str()) {
                return Err(format!(
                    "field 'build.install.{}': unknown install section (expected lua, lib, conf or bin)",
                    super::names::quote(section)
                ));
            }
            let field = format!("build.install.{section}");
            let mut files = BTreeMap::new();
            let mut add = |key: Option<&str>, source: &str| -> Result<(), String> {
                let source = RelativePath::parse(source)
                    .map_err(|e| format!("field '{field}' value: {e}"))?;
                let target = match key {
                    // A positional entry installs under its file name.
                    None => RelativePath::parse(source.file_name()),
                    Some(key) => RelativePath::parse(key),
                }
                .map_err(|e| keyed(&field, e))?;
                if section == "lua" || section == "lib" {
                    ModuleName::parse(target.as_str()).map_err(|e| keyed(&field, e))?;
                }
                files.insert(target, source);
                Ok(())
            };
            match entries {
                Value::Object(m) => {
                    let positions = positional(entries).unwrap_or_default();
                    for item in &positions {
                        if let Value::String(s) = item {
                            add(None, s)?;
                        }
                    }
                    for (k, item) in m {
                        if k.parse::<usize>()
                            .is_ok_and(|i| i >= 1 && i <= positions.len())
                        {
                            continue;
                        }
                        if let Value::String(s) = item {
                            add(Some(k), s)?;
                        }
                    }
                }
                Value::Array(items) => {
                    for item in items {
                        if let Value::String(s) = item {
                            add(None, s)?;
                        }
                    }
                }
                _ => {}
            }
            install.insert(section.clone(), files);
        }
    }
    let copy_directories = string_list(map.get("copy_directories"), "build.copy_directories")?
        .iter()
        .enumerate()
        .map(|(i, d)| {
            RelativePath::parse(d)
                .map_err(|e| format!("field 'build.copy_directories[{}]': {e}", i + 1))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let extra = map
        .iter()
        .filter(|(k, _)| !["type", "modules", "install", "copy_directories"].contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(Build {
        build_type,
        modules,
        install,
        copy_directories,
        extra,
    })
}

fn parse_module(name: &str, spec: &Value) -> Result<Module, String> {
    let field = format!("build.modules[\"{name}\"]");
    match spec {
        Value::String(path) if path.ends_with(".c") => Ok(Module::C {
            sources: vec![path.clone()],
            incdirs: vec![],
            libdirs: vec![],
            libraries: vec![],
            defines: vec![],
        }),
        Value::String(path) => Ok(Module::Lua {
            path: RelativePath::parse(path).map_err(|e| format!("field '{field}': {e}"))?,
        }),
        Value::Array(_) | Value::Object(_) => {
            let map = spec.as_object();
            let mut sources = positional(spec)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect::<Vec<_>>();
            let list =
                |key: &str| string_list(map.and_then(|m| m.get(key)), &format!("{field}.{key}"));
            sources.extend(list("sources")?);
            if sources.is_empty() {
                return Err(format!("field '{field}' has no sources"));
            }
            Ok(Module::C {
                sources,
                incdirs: list("incdirs")?,
                libdirs: list("libdirs")?,
                libraries: list("libraries")?,
                defines: list("defines")?,
            })
        }
        other => Err(format!(
            "field '{field}' must be a path or a table, not {}",
            kind(other)
        )),
    }
}

#[cfg(test)]
mod tests;
