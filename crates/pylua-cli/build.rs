// The `pylua` binary exports the Lua C API, so C modules built against pylua's shipped headers
// load into the embedded VM without any system Lua. On Linux only the Lua API is exported
// (`lua-api.list`): exporting every symbol (`-rdynamic`) makes each start of pylua pay for
// relocating thousands of them.
fn main() {
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os == "linux" {
        let list = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap())
            .join("lua-api.list");
        println!("cargo:rerun-if-changed={}", list.display());
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--dynamic-list={}",
            list.display()
        );
    } else {
        println!("cargo:rustc-link-arg-bins=-rdynamic");
    }
}
