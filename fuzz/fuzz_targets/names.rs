//! Any text: the name types and git refs never panic, and what they accept stays in place —
//! a package name is one harmless path component, a module name maps to a relative path
//! without `..`, a relative path joined onto a directory stays inside it, a git ref never
//! looks like an option.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pylua::packages::git::{GitRef, GitUrl};
use pylua::packages::names::{ModuleName, PackageName, RelativePath};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(n) = PackageName::parse(&text) {
        assert!(!n.contains(['/', '\\', '\0']) && !n.starts_with(['-', '.']));
    }
    if let Ok(m) = ModuleName::parse(&text) {
        assert!(m.to_path().split('/').all(|s| !s.is_empty() && s != ".."));
    }
    if let Ok(r) = RelativePath::parse(&text) {
        assert!(Path::new("/base").join(r.as_str()).starts_with("/base"));
        assert!(r.split('/').all(|s| s != ".." && s != "." && !s.is_empty()));
        assert_eq!(RelativePath::parse(r.as_str()).unwrap(), r);
    }
    if let Ok(g) = GitRef::parse(&text) {
        assert!(!g.as_str().starts_with('-') && !g.as_str().contains(char::is_whitespace));
    }
    if let Ok(Some(u)) = GitUrl::from_source_url(&text) {
        assert!(!u.as_str().starts_with('-') && !u.as_str().contains(char::is_whitespace));
    }
});
