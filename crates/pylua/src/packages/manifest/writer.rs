//! Writing a server manifest in the format `luarocks-admin make-manifest` writes, so
//! LuaRocks (and any other client) reads a server pylua made as one of its own.
//!
//! Only what a server manifest holds is written: empty `commands` and `modules` tables and the
//! `repository` (package → version → `{ arch = … }` entries); the extra fields of old or
//! rocks-tree manifests ([`ServerManifest::entry_fields`]) are not a server's business.

use super::ServerManifest;
use std::fmt::Write as _;

const KEYWORDS: &[&str] = &[
    "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in",
    "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
];

/// `name` or `["na-me"]`, as LuaRocks' serializer writes a table key.
fn key(k: &str) -> String {
    let ident = k
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !KEYWORDS.contains(&k);
    if ident {
        k.to_string()
    } else {
        format!("[{}]", crate::lua_syntax::string(k.as_bytes()))
    }
}

impl ServerManifest {
    /// The manifest as Lua source in LuaRocks' layout (three-space indents, keys sorted).
    /// What [`ServerManifest::parse`] reads back is the same repository.
    pub fn to_lua(&self) -> String {
        let mut out = String::from("commands = {}\nmodules = {}\nrepository = {");
        let packages = self.repository.len();
        for (p, (name, versions)) in self.repository.iter().enumerate() {
            let _ = write!(out, "\n   {} = {{", key(name));
            for (v, (version, archs)) in versions.iter().enumerate() {
                let _ = write!(out, "\n      {} = {{", key(version));
                for (a, arch) in archs.iter().enumerate() {
                    let _ = write!(
                        out,
                        "\n         {{\n            arch = {}\n         }}{}",
                        crate::lua_syntax::string(arch.as_bytes()),
                        if a + 1 < archs.len() { "," } else { "" }
                    );
                }
                out.push_str(if archs.is_empty() { "}" } else { "\n      }" });
                if v + 1 < versions.len() {
                    out.push(',');
                }
            }
            out.push_str(if versions.is_empty() { "}" } else { "\n   }" });
            if p + 1 < packages {
                out.push(',');
            }
        }
        out.push_str(if packages == 0 { "}\n" } else { "\n}\n" });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_luarocks_layout_and_reads_back() {
        let mut m = ServerManifest::default();
        m.repository.entry("lua-cjson".into()).or_default().insert(
            "2.1.0-1".into(),
            vec!["rockspec".into(), "src".into(), "linux-x86_64".into()],
        );
        m.repository
            .entry("lpeg".into())
            .or_default()
            .insert("1.0.2-1".into(), vec!["src".into()]);
        m.repository.entry("end".into()).or_default();
        let text = m.to_lua();
        assert!(text.starts_with("commands = {}\nmodules = {}\nrepository = {\n   [\"end\"] = {},\n   lpeg = {\n      [\"1.0.2-1\"] = {\n         {\n            arch = \"src\"\n         }\n      }\n   },"), "{text}");
        let back = ServerManifest::parse(&text).unwrap();
        assert_eq!(back.repository, m.repository);
        assert_eq!(
            ServerManifest::default().to_lua(),
            "commands = {}\nmodules = {}\nrepository = {}\n"
        );
    }

    #[test]
    fn hostile_names_stay_strings() {
        let mut m = ServerManifest::default();
        m.repository
            .entry("a\"]} os.exit() --".into())
            .or_default()
            .insert("1-1\n".into(), vec!["src\0".into()]);
        let back = ServerManifest::parse(&m.to_lua()).unwrap();
        assert_eq!(back.repository, m.repository);
    }
}
