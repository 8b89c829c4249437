//! Any bytes: the manifest parser returns a manifest or an error, never panics or hangs.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pylua::packages::manifest::Manifest;

fuzz_target!(|data: &[u8]| {
    let _ = Manifest::parse_bytes(data);
});
