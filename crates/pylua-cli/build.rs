// The `pylua` binary exports the Lua C API (`-rdynamic`), so C modules built against
// pylua's shipped headers load into the embedded VM without any system Lua.
fn main() {
    println!("cargo:rustc-link-arg-bins=-rdynamic");
}
