//! Any text: a package request (`NAME`, `NAME@CONSTRAINT`, `NAME >= 1.0`) parses or is an
//! error, never a panic, and a parsed request names a valid package.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pylua::operations::query::parse_request;
use pylua::packages::names::PackageName;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(dep) = parse_request(&text) {
        assert!(PackageName::parse(dep.name.as_str()).is_ok());
        let _ = dep.to_string();
    }
});
