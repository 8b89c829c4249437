//! A script file as either backend runs it (`run_file`, `pylua run`): read whole, bounded in
//! size, its first line skipped when it starts with `#` (a shebang), as the `lua` command
//! does.
//!
//! Why bounded: the file is read before Lua sees a byte of it, outside any limit of the VM,
//! so a path such as `/dev/zero` would otherwise be read until memory ran out.

use super::error::{ErrorKind, VmError};
use super::limits::Limits;
use super::vm::human_bytes;
use std::io::Read;
use std::path::Path;

/// The largest script read: far above any real Lua source (the biggest files of the
/// LuaRocks ecosystem are a few MiB).
pub(crate) const MAX_SCRIPT: usize = 256 << 20;

/// The source of the script at `path` for a VM with `limits`, without its shebang line (its
/// newline is kept, so line numbers stay right). A script larger than the VM's memory limit
/// could not be loaded into it, so the memory limit bounds the read too.
pub(crate) fn read_script(path: &Path, limits: &Limits) -> Result<Vec<u8>, VmError> {
    let max = limits.memory.map_or(MAX_SCRIPT, |m| m.min(MAX_SCRIPT));
    read_bounded(path, max).map(skip_shebang)
}

fn read_bounded(path: &Path, max: usize) -> Result<Vec<u8>, VmError> {
    let cannot = |e: std::io::Error| {
        VmError::new(
            ErrorKind::Io,
            format!("cannot read script '{}': {}", path.display(), io_reason(&e)),
        )
    };
    let file = std::fs::File::open(path).map_err(cannot)?;
    let mut bytes = Vec::new();
    file.take(max as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() > max {
        return Err(VmError::new(
            ErrorKind::Io,
            format!(
                "script '{}' is larger than {} (the largest script read, or the VM's memory \
                 limit): not loaded",
                path.display(),
                human_bytes(max)
            ),
        ));
    }
    Ok(bytes)
}

pub(crate) fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

fn skip_shebang(mut bytes: Vec<u8>) -> Vec<u8> {
    if bytes.first() == Some(&b'#') {
        let end = bytes
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or(bytes.len());
        bytes.drain(..end);
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebangs_go_and_sizes_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("s.lua");
        std::fs::write(&script, "#!/usr/bin/env lua\nprint(1)\n").unwrap();
        let none = Limits::new();
        assert_eq!(read_script(&script, &none).unwrap(), b"\nprint(1)\n");
        std::fs::write(&script, "print(2)").unwrap();
        assert_eq!(read_script(&script, &none).unwrap(), b"print(2)");
        let err = read_script(&script, &Limits::new().memory(4)).unwrap_err();
        assert!(err.message.contains("is larger than 4 B"), "{err}");
        // An endless file stops at the bound.
        let err = read_bounded(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert!(err.message.contains("is larger than 1 MiB"), "{err}");
        let err = read_script(&dir.path().join("missing.lua"), &none).unwrap_err();
        assert!(err.message.contains("no such file"), "{err}");
        assert!(read_script(dir.path(), &none).is_err());
    }
}
