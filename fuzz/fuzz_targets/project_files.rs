//! Any bytes, read as each of the project's files: `pylua.toml`, `pylua.lock`, `config.toml`
//! and an export (TOML or JSON). Each returns a value or an error naming the file, never
//! panics, and whatever is accepted holds only valid package names.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pylua::config::Config;
use pylua::operations::project::parse_export;
use pylua::packages::names::PackageName;
use pylua::project::{Lockfile, ProjectFile};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(p) = ProjectFile::parse(&text, Path::new("pylua.toml")) {
        for (name, _) in p.requirements(false) {
            assert!(PackageName::parse(&name).is_ok());
        }
    }
    if let Ok(lock) = Lockfile::parse(&text, Path::new("pylua.lock")) {
        let _ = lock.render();
    }
    if let Ok(c) = Config::parse(&text, Path::new("config.toml")) {
        let _ = c.unpack_bounds();
    }
    if let Ok((export, _)) = parse_export(&text, Path::new("env.toml")) {
        for p in &export.lock.packages {
            assert!(PackageName::parse(p.name.as_str()).is_ok());
        }
    }
});
