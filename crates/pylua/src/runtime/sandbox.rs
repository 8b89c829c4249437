//! Sandbox policies: which parts of the standard library a VM exposes. The policy is written
//! once, in `lua/policy.lua`, and installed before any user code runs by both backends: the
//! embedded VM's `lua/prelude.lua` and the process VM's `lua/session.lua`.
//!
//! | what | `none` | `standard` | `strict` |
//! | --- | --- | --- | --- |
//! | base functions (`pairs`, `pcall`, `setmetatable`, `tostring`, …) | all | all | all but `dofile`, `loadfile`, `require` |
//! | `load` | text and binary | text only | text only |
//! | `collectgarbage` | all options | all options | `"count"` only |
//! | `string`, `table`, `math`, `utf8`, `coroutine` | all | all | all but `string.dump` |
//! | `print`, `io.write`, `io.stdout:write` | captured | captured | captured |
//! | `io` (files) | all | files in allowed directories; no `io.popen` | none |
//! | `os` | all | all but `execute`, `exit`, `tmpname`; `remove`/`rename` in allowed directories | `time`, `clock`, `date` |
//! | `require` | Lua and C modules | Lua modules from allowed and read-only directories; LuaSocket's C modules with `allow_luasocket` | none |
//! | `package.loadlib`, C module searchers | yes | no | no |
//! | `debug` | all (`sethook` refused while limits are set) | `traceback` only | none |
//! | string metatable | visible | visible | hidden (`getmetatable("")` is `false`) |
//! | `__gc` metamethods (finalizers) | yes | refused by `setmetatable` | refused by `setmetatable` |
//!
//! Why `__gc` is refused: Lua 5.4 runs finalizers with debug hooks switched off, so a
//! finalizer that loops could not be stopped by any limit. For the same reason, while a limit
//! is unwinding a run, `xpcall` message handlers are skipped (the error passes through as is).
//!
//! Lua's C pattern matcher runs no Lua instructions, so under limits `string.find`, `match`,
//! `gmatch` and `gsub` come from a build of Lua's own `lstrlib.c` whose matcher checks the
//! VM's limits as it goes (see `build.rs` and `guard.rs`): a pathological pattern stops at
//! the timeout like a loop does.
//!
//! Limits (memory, instructions, time) are enforced under every policy. Under `none` a script
//! can still end the host process (`os.exit`) or load native code, which the host can't guard;
//! use `standard` or `strict` for code you do not trust.

use super::error::{ErrorKind, VmError};
use super::state::Library;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// A sandbox policy: what a VM's code may reach.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Sandbox {
    /// The full standard library, as the `lua` command gives it.
    None,
    /// No process spawning or exiting, no native code, files only inside allowed directories.
    Standard,
    /// Pure computation. The default for code handed to the library.
    #[default]
    Strict,
}

impl Sandbox {
    pub fn as_str(self) -> &'static str {
        match self {
            Sandbox::None => "none",
            Sandbox::Standard => "standard",
            Sandbox::Strict => "strict",
        }
    }

    /// The standard libraries to open, in order, before the prelude trims them. Under limits
    /// `string` is the build of Lua's own whose pattern matcher a limit can interrupt.
    pub(crate) fn libraries(self, limited: bool) -> &'static [Library] {
        use super::state::*;
        const STRING_INTERRUPTIBLE: Library =
            (c"string", super::guard::pylua_luaopen_string_interruptible);
        match (self, limited) {
            (Sandbox::Strict, false) => &[BASE, COROUTINE, TABLE, OS, STRING, MATH, UTF8],
            (Sandbox::Strict, true) => {
                &[BASE, COROUTINE, TABLE, OS, STRING_INTERRUPTIBLE, MATH, UTF8]
            }
            (_, false) => &[
                BASE, PACKAGE, COROUTINE, TABLE, IO, OS, STRING, MATH, UTF8, DEBUG,
            ],
            (_, true) => &[
                BASE,
                PACKAGE,
                COROUTINE,
                TABLE,
                IO,
                OS,
                STRING_INTERRUPTIBLE,
                MATH,
                UTF8,
                DEBUG,
            ],
        }
    }
}

impl FromStr for Sandbox {
    type Err = VmError;
    fn from_str(s: &str) -> Result<Self, VmError> {
        match s {
            "none" => Ok(Sandbox::None),
            "standard" => Ok(Sandbox::Standard),
            "strict" => Ok(Sandbox::Strict),
            other => Err(VmError::new(
                ErrorKind::Usage,
                format!("unknown sandbox policy '{other}': expected none, standard or strict"),
            )),
        }
    }
}

impl std::fmt::Display for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

pub(crate) const PRELUDE: &str = include_str!("lua/prelude.lua");
const POLICY: &str = include_str!("lua/policy.lua");

impl Sandbox {
    /// `local apply_policy = function(...) … end`: this policy's sections of `policy.lua` as
    /// one Lua function, for the front of a host script (the prelude or the session).
    pub(crate) fn policy_function(self) -> String {
        let body = sections(POLICY, |tag| tag == "all" || tag == self.as_str());
        format!("local apply_policy = function(...)\n{body}end\n")
    }
}

/// The lines of `text` in the sections whose `--@ TAG …` line has a tag `keep` accepts
/// (lines before the first tag line are comments and kept). Left-out lines become empty, so
/// line numbers stay the file's.
pub(crate) fn sections(text: &str, keep: impl Fn(&str) -> bool) -> String {
    let mut kept = true;
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if let Some(tags) = line.strip_prefix("--@ ") {
            kept = tags.split_whitespace().any(&keep);
        } else if kept {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// The directories a `standard` VM may touch, resolved once (symlinks included), and the
/// directories it may read but neither write in nor move: those it loads C modules from
/// (`--allow-luasocket`), so a script cannot plant native code and then load it.
#[derive(Debug, Clone, Default)]
pub(crate) struct AllowedDirs {
    dirs: Vec<PathBuf>,
    read_only: Vec<PathBuf>,
}

impl AllowedDirs {
    pub(crate) fn new(dirs: &[PathBuf], read_only: &[PathBuf]) -> Self {
        let resolve = |list: &[PathBuf]| {
            list.iter()
                .filter_map(|d| std::fs::canonicalize(d).ok())
                .collect()
        };
        AllowedDirs {
            dirs: resolve(dirs),
            read_only: resolve(read_only),
        }
    }

    /// True when `path` lies inside an allowed directory once `..` and symlinks are resolved.
    /// A path that does not exist yet is judged by its parent directory. Writing (which
    /// includes removing and renaming) is refused inside a read-only directory and on any
    /// directory that holds one.
    pub(crate) fn allows(&self, path: &str, writing: bool) -> bool {
        let path = Path::new(path);
        let resolved = match std::fs::canonicalize(path) {
            Ok(p) => p,
            Err(_) => {
                let Some(name) = path.file_name() else {
                    return false;
                };
                let parent = match path.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p,
                    _ => Path::new("."),
                };
                match std::fs::canonicalize(parent) {
                    Ok(p) => p.join(name),
                    Err(_) => return false,
                }
            }
        };
        if writing
            && self
                .read_only
                .iter()
                .any(|ro| resolved.starts_with(ro) || ro.starts_with(&resolved))
        {
            return false;
        }
        self.dirs.iter().any(|dir| resolved.starts_with(dir))
    }
}

/// The directories of `;`-separated module search templates (`/t/lib/lua/5.4/?.so` gives
/// `/t/lib/lua/5.4`): the part before the component holding the first `?`.
pub(crate) fn template_dirs(templates: &str) -> Vec<PathBuf> {
    templates
        .split(';')
        .filter_map(|t| {
            let at = t.find('?')?;
            let dir = Path::new(&t[..at]);
            // `/a/b/?.so` → `/a/b`; `/a/b/x?.so` → `/a/b`.
            let dir = if t[..at].ends_with('/') {
                dir
            } else {
                dir.parent()?
            };
            (!dir.as_os_str().is_empty()).then(|| dir.to_path_buf())
        })
        .collect()
}
