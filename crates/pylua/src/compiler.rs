//! The C compiler and the build tools pylua runs: one lookup for every place that compiles
//! (packages' C modules, Lua interpreters built from source), one rule for `$CC` (a program
//! and its arguments, so `CC="ccache gcc"` works everywhere), one identity for build caches.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A C compiler command: the program, then the arguments `$CC` gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compiler {
    words: Vec<OsString>,
}

impl Compiler {
    /// `$CC` (with its arguments) when set and its program exists, else `cc`, `gcc` or
    /// `clang` from `PATH`.
    pub fn detect() -> Option<Compiler> {
        if let Some(cc) = std::env::var_os("CC").filter(|c| !c.is_empty()) {
            if let Some(compiler) = Compiler::from_words(&cc.to_string_lossy()) {
                return Some(compiler);
            }
        }
        ["cc", "gcc", "clang"]
            .iter()
            .find_map(|name| which(name))
            .map(|p| Compiler {
                words: vec![p.into_os_string()],
            })
    }

    /// A compiler written as a `$(CC)` value (`gcc`, `ccache gcc -m64`); None when its
    /// program cannot be found.
    pub fn from_words(text: &str) -> Option<Compiler> {
        let mut words = text.split_whitespace();
        let program = which(words.next()?)?;
        let mut all = vec![program.into_os_string()];
        all.extend(words.map(OsString::from));
        Some(Compiler { words: all })
    }

    /// A command running the compiler, its own arguments already given.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.words[0]);
        cmd.args(&self.words[1..]);
        cmd
    }

    /// The compiler as a Makefile's `$(CC)` (words joined by spaces).
    pub fn to_variable(&self) -> String {
        self.words
            .iter()
            .map(|w| w.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// What of the environment changes compiled output: part of every build cache key.
pub fn build_identity() -> String {
    format!(
        "CC={}\nCFLAGS={}",
        std::env::var("CC").unwrap_or_default(),
        std::env::var("CFLAGS").unwrap_or_default()
    )
}

/// A program by name on `PATH` (or a path, checked as is).
pub fn which(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let runnable = |p: &Path| {
        fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if name.contains('/') {
        let p = PathBuf::from(name);
        return runnable(&p).then_some(p);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| runnable(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cc_with_arguments_is_a_program_and_its_arguments() {
        let c = Compiler::from_words("sh -c true").expect("sh is on PATH");
        assert!(c.to_variable().ends_with("sh -c true"));
        assert!(c.command().status().unwrap().success());
        assert_eq!(Compiler::from_words("no-such-compiler-here -O2"), None);
        assert_eq!(Compiler::from_words("   "), None);
    }
}
