//! Any text: a rockspec evaluates (in the strict sandbox, under limits) to a rockspec or
//! an error, never a panic or a hang.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pylua::packages::rockspec::Rockspec;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = Rockspec::parse(&text, "fuzz-1.0-1.rockspec");
});
