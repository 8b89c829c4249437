//! Any text: parsing constraints never panics, and the resolver's range agrees with
//! LuaRocks' matching rule for a few probe versions.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pylua::packages::version::{Constraints, Version};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(c) = Constraints::parse(&text) {
        let range = c.to_range();
        for probe in ["0", "1.0-1", "1.2.3-4", "2.0rc1-1", "scm-1", "5.4"] {
            let v = Version::parse(probe).unwrap();
            assert_eq!(c.matches(&v), range.contains(&v), "{text} vs {probe}");
        }
        let _ = c.to_string();
    }
});
