//! Any bytes: the readers behind the module index and the usage scan never panic — an index
//! file from the cache, a rock's `rock_manifest`, a shared library's symbol table, a C source
//! scanned for `luaopen_` definitions and a Lua source scanned for requires; and what they
//! accept is checked (module names valid, symbols mapped back to the module they open).
#![no_main]
use libfuzzer_sys::fuzz_target;
use pylua::curator::module_index::{decode, symbols};
use pylua::curator::require_scan::scan_source;
use pylua::packages::manifest::ServerManifest;
use pylua::packages::names::ModuleName;

fuzz_target!(|data: &[u8]| {
    if let Ok(index) = decode(data) {
        for release in index.packages.values().flatten() {
            for module in &release.modules {
                assert!(ModuleName::parse(module.name.as_str()).is_ok());
            }
        }
    }
    let _ = ServerManifest::parse_global(data, "rock_manifest");
    if let Ok(names) = symbols::exported_openers(data) {
        assert!(names.iter().all(|n| !n.is_empty()));
    }
    for suffix in symbols::defined_openers(data) {
        if let Some(module) = symbols::module_for_opener("m", &suffix) {
            assert_eq!(symbols::opener_suffix(&module), suffix);
        }
    }
    for (module, line) in scan_source(data) {
        assert!(ModuleName::parse(module.as_str()).is_ok() && line >= 1);
    }
});
