//! Which Lua modules a C module file opens: the `luaopen_*` functions it exports.
//!
//! Lua's all-in-one C loader finds `require "cjson.safe"` as the symbol `luaopen_cjson_safe`
//! inside `cjson.so`, so a compiled module can provide more modules than its file name says.
//! Two sources tell which: the dynamic symbol table of a built library (read with the
//! `object` crate, which checks every offset it follows, so a truncated or hostile file is an
//! error and never a panic), and, before anything is built, the C sources that define the
//! functions. Both are bounded: a library above [`MAX_LIBRARY`] bytes and a source above
//! [`MAX_SOURCE`] bytes are not read.

use object::{Object, ObjectSymbol};

/// Largest shared library whose symbols are read (real Lua modules are well under 1 MiB).
pub const MAX_LIBRARY: usize = 64 << 20;
/// Largest C source scanned for `luaopen_` definitions.
pub const MAX_SOURCE: usize = 8 << 20;
/// At most this many `luaopen_` names are taken from one file.
const MAX_NAMES: usize = 4096;

/// The `luaopen_` names a shared library exports (without the prefix: `cjson_safe`), sorted.
/// An unreadable or non-library file is an error naming why.
pub fn exported_openers(bytes: &[u8]) -> Result<Vec<String>, String> {
    if bytes.len() > MAX_LIBRARY {
        return Err(format!("larger than {} MiB", MAX_LIBRARY >> 20));
    }
    let file = object::File::parse(bytes).map_err(|e| format!("not a shared library: {e}"))?;
    let mut names: Vec<String> = file
        .dynamic_symbols()
        .chain(file.symbols())
        .filter(|s| s.is_definition() && s.is_global())
        .filter_map(|s| s.name().ok())
        // Mach-O prefixes C names with an underscore.
        .map(|n| {
            n.strip_prefix('_')
                .filter(|_| n.starts_with("_luaopen_"))
                .unwrap_or(n)
        })
        .filter_map(|n| n.strip_prefix("luaopen_"))
        .filter(|n| is_opener_suffix(n))
        .take(MAX_NAMES)
        .map(String::from)
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// The `luaopen_` functions a C source defines (`int luaopen_cjson_safe(lua_State *l)`),
/// without the prefix, sorted. Calls and declarations ending in `;` are not definitions.
pub fn defined_openers(source: &[u8]) -> Vec<String> {
    let source = &source[..source.len().min(MAX_SOURCE)];
    let mut names = Vec::new();
    let mut from = 0;
    while let Some(at) = find(&source[from..], b"luaopen_") {
        let start = from + at;
        from = start + 8;
        // A whole identifier: not `my_luaopen_x`.
        if start > 0 && is_ident(source[start - 1]) {
            continue;
        }
        let end = from + source[from..].iter().take_while(|b| is_ident(**b)).count();
        let suffix = &source[from..end];
        let rest = &source[end..];
        let after_paren = skip_space(rest).strip_prefix(b"(").map(|r| {
            let close = r.iter().position(|b| *b == b')').unwrap_or(r.len());
            skip_space(&r[(close + 1).min(r.len())..])
        });
        // A definition: `luaopen_x (lua_State *L) {`, the prototype followed by a body.
        let defines = after_paren.is_some_and(|r| r.starts_with(b"{"));
        if defines && names.len() < MAX_NAMES {
            if let Ok(text) = std::str::from_utf8(suffix) {
                if is_opener_suffix(text) {
                    names.push(text.to_string());
                }
            }
        }
        from = end;
    }
    names.sort();
    names.dedup();
    names
}

/// The module name Lua's C loaders look up as `luaopen_SUFFIX` for the file `file_module`
/// (`cjson` for `cjson.so`): `cjson` → that module, `cjson_safe` → `cjson.safe`. Only a
/// top-level file (no `.` in `file_module`) can hold other modules, since the all-in-one
/// loader opens the file named by a module's first component. `None` for a symbol no
/// `require` would reach.
pub fn module_for_opener(file_module: &str, suffix: &str) -> Option<String> {
    let own = file_module
        .rsplit_once('-')
        .map_or(file_module, |(_, after)| after)
        .replace('.', "_");
    if suffix == own {
        return Some(file_module.to_string());
    }
    if file_module.contains('.') {
        return None;
    }
    let rest = suffix.strip_prefix(&own)?.strip_prefix('_')?;
    if rest.is_empty() || rest.split('_').any(str::is_empty) {
        return None;
    }
    Some(format!("{file_module}.{}", rest.replace('_', ".")))
}

/// The symbol suffix Lua's C loaders use for `module` (`a.b` → `a_b`, `v2-a.b` → `a_b`).
pub fn opener_suffix(module: &str) -> String {
    let base = module.split_once('-').map_or(module, |(_, after)| after);
    base.replace('.', "_")
}

fn is_opener_suffix(s: &str) -> bool {
    !s.is_empty() && s.len() <= 256 && s.bytes().all(is_ident)
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn skip_space(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|b| b.is_ascii_whitespace()).count();
    &s[n..]
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_definitions_not_calls_or_prototypes() {
        let src = b"int luaopen_cjson(lua_State *l);\n\
            static int x(lua_State *L) { return luaopen_cjson(L); }\n\
            int luaopen_cjson(lua_State *l)\n{ return 1; }\n\
            LUALIB_API int luaopen_cjson_safe (lua_State *l) { return 1; }\n\
            int my_luaopen_fake(lua_State *l) { return 0; }\n";
        assert_eq!(defined_openers(src), ["cjson", "cjson_safe"]);
        assert!(defined_openers(b"luaopen_").is_empty());
        assert!(defined_openers(b"luaopen_x(").is_empty());
    }

    #[test]
    fn maps_symbols_to_modules() {
        assert_eq!(
            module_for_opener("cjson", "cjson").as_deref(),
            Some("cjson")
        );
        assert_eq!(
            module_for_opener("cjson", "cjson_safe").as_deref(),
            Some("cjson.safe")
        );
        assert_eq!(module_for_opener("cjson", "other"), None);
        assert_eq!(module_for_opener("cjson", "cjson_"), None);
        assert_eq!(
            module_for_opener("socket.core", "socket_core").as_deref(),
            Some("socket.core")
        );
        assert_eq!(module_for_opener("socket.core", "socket_core_x"), None);
        assert_eq!(opener_suffix("v2-a.b"), "a_b");
    }

    #[test]
    fn hostile_libraries_are_errors() {
        assert!(exported_openers(b"").is_err());
        assert!(exported_openers(b"\x7fELF\x02\x01\x01\0garbage").is_err());
        let mut elf = b"\x7fELF\x02\x01\x01".to_vec();
        elf.resize(4096, 0xff);
        assert!(exported_openers(&elf).is_err());
    }

    #[test]
    fn reads_this_machines_libraries() {
        // Any shared library works as a well-formed input: it has no luaopen_ symbols.
        for lib in [
            "/lib/x86_64-linux-gnu/libm.so.6",
            "/usr/lib/x86_64-linux-gnu/libm.so.6",
        ] {
            if let Ok(bytes) = std::fs::read(lib) {
                assert_eq!(exported_openers(&bytes).unwrap(), Vec::<String>::new());
                return;
            }
        }
    }
}
