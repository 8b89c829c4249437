//! Any text: parsing a version never panics, and a parsed version orders consistently.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pylua::packages::version::Version;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (a, b) = text.split_at(text.char_indices().nth(text.chars().count() / 2).map_or(0, |(i, _)| i));
    if let (Ok(x), Ok(y)) = (Version::parse(a), Version::parse(b)) {
        assert_eq!(x.cmp(&y), y.cmp(&x).reverse());
        assert_eq!(x == y, y == x);
    }
});
