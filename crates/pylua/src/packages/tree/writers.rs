//! The files LuaRocks reads in a tree, written as LuaRocks writes them: each rock's
//! `rock_manifest` (md5 of every installed file) and the tree `manifest`.

use super::transaction::StagedRock;
use super::*;

fn md5_file(path: &Path) -> String {
    fs::read(path)
        .map(|b| hex(&Md5::digest(&b)))
        .unwrap_or_default()
}

/// `rock_manifest`: the md5 of every file the rock installed, by section, as LuaRocks writes it.
pub(super) fn rock_manifest(staged: &StagedRock, rockspec_name: &str) -> Result<String, TreeError> {
    Ok(rock_manifest_text(
        &staged.stage,
        &staged.md5,
        rockspec_name,
        &staged.rockspec_text,
    ))
}

/// The `rock_manifest` of the package staged in `stage` (before its `bin/` and `conf/` move
/// into `rock/`), whose rockspec `rockspec_name` holds `rockspec_text`; `md5` gives the
/// digests already known, by path relative to the stage (other files are read).
pub fn rock_manifest_text(
    stage: &Path,
    md5: &BTreeMap<String, String>,
    rockspec_name: &str,
    rockspec_text: &str,
) -> String {
    struct Staged<'a> {
        stage: &'a Path,
        md5: &'a BTreeMap<String, String>,
    }
    let staged = Staged { stage, md5 };
    // `rel` is the path relative to the stage, the key of the digests the store knows.
    fn tree_of(staged: &Staged, rel: &str) -> Option<LuaTable> {
        let entries = fs::read_dir(staged.stage.join(rel)).ok()?;
        let mut map = BTreeMap::new();
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = format!("{rel}/{name}");
            if super::transaction::is_dir(&entry) {
                if let Some(t) = tree_of(staged, &rel) {
                    map.insert(name, t);
                }
            } else {
                let md5 = match staged.md5.get(&rel) {
                    Some(known) => known.clone(),
                    None => md5_file(&entry.path()),
                };
                map.insert(name, LuaTable::Str(md5));
            }
        }
        (!map.is_empty()).then_some(LuaTable::Map(map))
    }
    let mut top = BTreeMap::new();
    for (section, dir) in [("lua", "lua"), ("lib", "lib"), ("bin", "bin")] {
        if let Some(t) = tree_of(&staged, dir) {
            top.insert(section.to_string(), t);
        }
    }
    if let Some(LuaTable::Map(rock)) = tree_of(&staged, "rock") {
        for (k, v) in rock {
            if k != "bin" && k != "conf" {
                top.insert(k, v);
            }
        }
    }
    // The rockspec was just written from this text.
    top.insert(
        rockspec_name.to_string(),
        LuaTable::Str(hex(&Md5::digest(rockspec_text.as_bytes()))),
    );
    let mut out = String::from("rock_manifest = ");
    LuaTable::Map(top).write(&mut out, 0);
    out.push('\n');
    out
}

/// A Lua table literal, written the way LuaRocks writes its manifests.
enum LuaTable {
    Str(String),
    Num(f64),
    List(Vec<LuaTable>),
    Map(BTreeMap<String, LuaTable>),
    /// A parsed version as LuaRocks writes it: positional numbers then named fields,
    /// `{ 1, 4, 0, revision = 1, string = "1.4.0-1" }`.
    Version(Vec<f64>, Option<i64>, String),
}

fn lua_key(k: &str) -> String {
    let ident = k
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && ![
            "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto",
            "if", "in", "local", "nil", "not", "or", "repeat", "return", "then", "true", "until",
            "while",
        ]
        .contains(&k);
    if ident {
        k.to_string()
    } else {
        format!("[{}]", lua_string(k))
    }
}

fn lua_string(s: &str) -> String {
    crate::lua_syntax::string(s.as_bytes())
}

fn lua_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

impl LuaTable {
    fn write(&self, out: &mut String, indent: usize) {
        let pad = "   ".repeat(indent + 1);
        match self {
            LuaTable::Str(s) => out.push_str(&lua_string(s)),
            LuaTable::Num(n) => out.push_str(&lua_number(*n)),
            LuaTable::Version(parts, revision, text) => {
                let mut fields: Vec<String> = parts.iter().map(|n| lua_number(*n)).collect();
                if let Some(revision) = revision {
                    fields.push(format!("revision = {revision}"));
                }
                fields.push(format!("string = {}", lua_string(text)));
                let _ = write!(
                    out,
                    "{{\n{pad}{}\n{}}}",
                    fields.join(", "),
                    "   ".repeat(indent)
                );
            }
            LuaTable::List(items) if items.is_empty() => out.push_str("{}"),
            LuaTable::Map(map) if map.is_empty() => out.push_str("{}"),
            LuaTable::List(items) => {
                out.push_str("{\n");
                for (i, item) in items.iter().enumerate() {
                    out.push_str(&pad);
                    item.write(out, indent + 1);
                    out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
                }
                out.push_str(&"   ".repeat(indent));
                out.push('}');
            }
            LuaTable::Map(map) => {
                out.push_str("{\n");
                let n = map.len();
                for (i, (k, v)) in map.iter().enumerate() {
                    let _ = write!(out, "{pad}{} = ", lua_key(k));
                    v.write(out, indent + 1);
                    out.push_str(if i + 1 < n { ",\n" } else { "\n" });
                }
                out.push_str(&"   ".repeat(indent));
                out.push('}');
            }
        }
    }
}

/// The tree `manifest` LuaRocks reads for `list`, `show` and its loader.
pub(super) fn write_tree_manifest(installed: &BTreeMap<String, InstalledRock>) -> String {
    let id = |r: &InstalledRock| format!("{}/{}", r.name, r.version);
    let mut commands: BTreeMap<String, Vec<LuaTable>> = BTreeMap::new();
    let mut modules: BTreeMap<String, Vec<LuaTable>> = BTreeMap::new();
    let mut dependencies = BTreeMap::new();
    let mut repository = BTreeMap::new();
    for r in installed.values() {
        for c in r.commands.keys() {
            commands
                .entry(c.clone())
                .or_default()
                .push(LuaTable::Str(id(r)));
        }
        for m in r.modules.keys() {
            modules
                .entry(m.clone())
                .or_default()
                .push(LuaTable::Str(id(r)));
        }
        let deps = r
            .constraints
            .iter()
            .map(|d| {
                let constraints = d
                    .constraints
                    .0
                    .iter()
                    .map(|c| {
                        LuaTable::Map(BTreeMap::from([
                            ("op".to_string(), LuaTable::Str(c.op.as_str().to_string())),
                            (
                                "version".to_string(),
                                LuaTable::Version(
                                    c.version.written_components(),
                                    c.version.revision(),
                                    c.version.to_string(),
                                ),
                            ),
                        ]))
                    })
                    .collect();
                LuaTable::Map(BTreeMap::from([
                    ("constraints".to_string(), LuaTable::List(constraints)),
                    ("name".to_string(), LuaTable::Str(d.name.to_string())),
                ]))
            })
            .collect();
        dependencies.insert(
            r.name.clone(),
            LuaTable::Map(BTreeMap::from([(
                r.version.to_string(),
                LuaTable::List(deps),
            )])),
        );
        let strings = |m: &BTreeMap<String, String>| {
            LuaTable::Map(
                m.iter()
                    .map(|(k, v)| (k.clone(), LuaTable::Str(v.clone())))
                    .collect(),
            )
        };
        let entry = LuaTable::Map(BTreeMap::from([
            ("arch".to_string(), LuaTable::Str("installed".into())),
            ("commands".to_string(), strings(&r.commands)),
            ("dependencies".to_string(), strings(&r.dependencies)),
            ("modules".to_string(), strings(&r.modules)),
        ]));
        repository.insert(
            r.name.clone(),
            LuaTable::Map(BTreeMap::from([(
                r.version.to_string(),
                LuaTable::List(vec![entry]),
            )])),
        );
    }
    let mut out = String::new();
    for (name, table) in [
        (
            "commands",
            LuaTable::Map(
                commands
                    .into_iter()
                    .map(|(k, v)| (k, LuaTable::List(v)))
                    .collect(),
            ),
        ),
        ("dependencies", LuaTable::Map(dependencies)),
        (
            "modules",
            LuaTable::Map(
                modules
                    .into_iter()
                    .map(|(k, v)| (k, LuaTable::List(v)))
                    .collect(),
            ),
        ),
        ("repository", LuaTable::Map(repository)),
    ] {
        let _ = write!(out, "{name} = ");
        table.write(&mut out, 0);
        out.push('\n');
    }
    let _ = LuaTable::Num(0.0); // (numbers appear inside version tables)
    out
}
