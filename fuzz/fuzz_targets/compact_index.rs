//! Any bytes as a cached compact manifest index: refused or read whole, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pylua::packages::manifest::compact::CompactIndex;

fuzz_target!(|data: &[u8]| {
    if let Ok(index) = CompactIndex::from_bytes(data.to_vec(), None) {
        for i in 0..index.package_count() {
            let name = index.package_name(i);
            assert_eq!(index.find(name), Some(i));
            for v in index.versions(i) {
                let _ = (v.name, v.version, v.archs().count());
            }
        }
    }
});
