//! Any bytes: the manifest parser returns a manifest or an error, never panics or hangs.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pylua::packages::manifest::ServerManifest;

fuzz_target!(|data: &[u8]| {
    let _ = ServerManifest::parse_bytes(data);
});
