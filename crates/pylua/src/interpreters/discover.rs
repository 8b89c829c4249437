//! Finding interpreters: executables on `PATH` whose names look like Lua's (`lua`, `lua5.1`,
//! `lua54`, `lua-5.3`, `luajit`, `luajit-2.1.0-beta3`), asked what they are with `-v`, plus
//! the ones pylua provisioned; and, for each, the headers and library C modules build with.

use super::{Interpreter, LuaVersion, Origin, Provisioner};
use crate::paths::Paths;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long an executable may take to answer `-v` before it is passed over.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Every interpreter on this machine: pylua's own first (oldest version first), then those on
/// `PATH` in `PATH` order. One entry per executable; other names for it are its aliases.
pub fn discover(paths: &Paths) -> Vec<Interpreter> {
    discover_on(std::env::var_os("PATH").as_deref(), paths)
}

/// [`discover`] with a given `PATH` value.
pub fn discover_on(path_var: Option<&OsStr>, paths: &Paths) -> Vec<Interpreter> {
    let mut found = Provisioner::new(&paths.data).installed_all();
    let own: Vec<PathBuf> = found
        .iter()
        .filter_map(|i| std::fs::canonicalize(&i.path).ok())
        .collect();
    found.extend(
        on_path(path_var)
            .into_iter()
            .filter(|i| !own.contains(&std::fs::canonicalize(&i.path).unwrap_or_default())),
    );
    found
}

/// The interpreters on `PATH`, in `PATH` order.
pub(crate) fn on_path(path_var: Option<&OsStr>) -> Vec<Interpreter> {
    let Some(path_var) = path_var else {
        return Vec::new();
    };
    // Inside a probe, something that is not an interpreter was run as one (a script wrapper
    // that starts pylua, say): looking again would start it again, without end.
    if std::env::var_os(PROBING).is_some() {
        return Vec::new();
    }
    let mut found: Vec<Interpreter> = Vec::new();
    let mut by_target: HashMap<PathBuf, usize> = HashMap::new();
    for dir in std::env::split_paths(path_var) {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| is_interpreter_name(n))
            .collect();
        // Plain names first, so `lua` is listed under its own name and `lua5.1` as an alias.
        names.sort_by_key(|n| (n.len(), n.clone()));
        for name in names {
            let exe = dir.join(&name);
            if !is_executable(&exe) {
                continue;
            }
            let Ok(target) = std::fs::canonicalize(&exe) else {
                continue;
            };
            if let Some(&i) = by_target.get(&target) {
                if found[i].path != exe && !found[i].aliases.contains(&exe) {
                    found[i].aliases.push(exe);
                }
                continue;
            }
            let Some((version, release)) = probe(&exe) else {
                continue;
            };
            by_target.insert(target.clone(), found.len());
            found.push(Interpreter {
                version,
                release,
                include_dir: find_headers(version, &target),
                library: find_library(version, &target),
                path: exe,
                aliases: Vec::new(),
                origin: Origin::Path,
            });
        }
    }
    found
}

/// Set in the environment of a probed program.
const PROBING: &str = "PYLUA_PROBING";

/// Whether a file name is one Lua interpreters go by: `lua` or `luajit`, optionally followed
/// by a version (`5.1`, `54`, `-5.3`, `-2.1.0-beta3`). Compilers (`luac`), package managers
/// (`luarocks`) and wrappers (`lua-any`) are not.
fn is_interpreter_name(name: &str) -> bool {
    let rest = name
        .strip_prefix("luajit")
        .or_else(|| name.strip_prefix("lua"));
    let Some(rest) = rest else {
        return false;
    };
    if rest.is_empty() {
        return true;
    }
    // A version: digits and dots (`5.1`, `54`, `2.1.0`), then maybe a tag (`-beta3`). So
    // `lua2json` and other tools named after Lua are not run as interpreters.
    let rest = rest.strip_prefix(['-', '_']).unwrap_or(rest);
    let (number, tag) = rest.split_once('-').unwrap_or((rest, ""));
    !number.is_empty()
        && number
            .split('.')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Asks an executable what it is (`exe -v`): its version and release string, or `None` when it
/// is not a Lua interpreter pylua knows.
pub fn probe(exe: &Path) -> Option<(LuaVersion, String)> {
    use std::os::unix::process::CommandExt;
    let mut child = Command::new(exe)
        .arg("-v")
        .env_remove("LUA_INIT")
        .env(PROBING, "1")
        // Its own process group, so a timeout ends whatever it started too.
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if start.elapsed() < PROBE_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(2))
            }
            _ => {
                // SAFETY: signalling the process group the child leads; no memory is touched.
                unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let mut text = String::new();
    let mut buf = Vec::new();
    // Lua 5.1 prints its banner on stderr, later versions on stdout.
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_end(&mut buf);
    }
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_end(&mut buf);
    }
    text.push_str(&String::from_utf8_lossy(&buf));
    parse_banner(&text)
}

/// `Lua 5.4.6  Copyright (C) …` or `LuaJIT 2.1.1703358377 -- Copyright (C) …`.
fn parse_banner(text: &str) -> Option<(LuaVersion, String)> {
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let (Some(name), Some(number)) = (words.next(), words.next()) else {
            continue;
        };
        if name != "Lua" && name != "LuaJIT" {
            continue;
        }
        if !number.starts_with(|c: char| c.is_ascii_digit()) {
            continue;
        }
        let release = format!("{name} {number}");
        if let Some(version) = LuaVersion::from_release(&release) {
            return Some((version, release));
        }
    }
    None
}

/// The installation prefix of an executable: `/usr` for `/usr/bin/lua5.4`.
fn prefix_of(exe: &Path) -> Option<&Path> {
    exe.parent()?.parent()
}

/// Where the headers of an interpreter live, checked against the version in `lua.h`.
fn find_headers(version: LuaVersion, exe: &Path) -> Option<PathBuf> {
    let mut prefixes: Vec<PathBuf> = prefix_of(exe).map(Path::to_path_buf).into_iter().collect();
    for p in ["/usr/local", "/usr"] {
        if !prefixes.iter().any(|x| x == Path::new(p)) {
            prefixes.push(PathBuf::from(p));
        }
    }
    let api = version.api();
    let compact = api.replace('.', "");
    let subdirs: Vec<String> = match version {
        LuaVersion::LuaJit => vec![
            "luajit-2.1".into(),
            "luajit-2.0".into(),
            "luajit".into(),
            String::new(),
        ],
        _ => vec![
            format!("lua{api}"),
            format!("lua-{api}"),
            format!("lua{compact}"),
            format!("lua/{api}"),
            String::new(),
        ],
    };
    for prefix in &prefixes {
        for sub in &subdirs {
            let dir = if sub.is_empty() {
                prefix.join("include")
            } else {
                prefix.join("include").join(sub)
            };
            if headers_match(version, &dir) {
                return Some(dir);
            }
        }
    }
    None
}

/// True when `dir/lua.h` is the given version's (and `luajit.h` is there for LuaJIT).
pub(crate) fn headers_match(version: LuaVersion, dir: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join("lua.h")) else {
        return false;
    };
    if version == LuaVersion::LuaJit && !dir.join("luajit.h").is_file() {
        return false;
    }
    let want = match version.api() {
        "5.1" => "501",
        "5.2" => "502",
        "5.3" => "503",
        _ => "504",
    };
    if let Some(num) = define_value(&text, "LUA_VERSION_NUM")
        .filter(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit()))
    {
        return num == want;
    }
    // Lua 5.3+ headers spell the number out of parts.
    let major = define_value(&text, "LUA_VERSION_MAJOR").map(|v| v.trim_matches('"').to_string());
    let minor = define_value(&text, "LUA_VERSION_MINOR").map(|v| v.trim_matches('"').to_string());
    matches!((major, minor), (Some(a), Some(b)) if format!("{a}.{b}") == version.api())
}

fn define_value<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines().find_map(|line| {
        let rest = line.trim_start().strip_prefix('#')?.trim_start();
        let rest = rest.strip_prefix("define")?.trim_start();
        let value = rest.strip_prefix(name)?;
        if !value.starts_with([' ', '\t']) {
            return None;
        }
        value.split_whitespace().next()
    })
}

/// The Lua library of an interpreter: a versioned name anywhere in its prefix's library
/// directories, or a plain `liblua` next to headers of the same version.
fn find_library(version: LuaVersion, exe: &Path) -> Option<PathBuf> {
    let prefix = prefix_of(exe)?;
    let mut dirs = vec![prefix.join("lib"), prefix.join("lib64")];
    if let Ok(entries) = std::fs::read_dir(prefix.join("lib")) {
        let mut multiarch: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().contains("-linux-"))
            })
            .collect();
        multiarch.sort();
        dirs.extend(multiarch);
    }
    let api = version.api();
    let compact = api.replace('.', "");
    let stems: Vec<String> = match version {
        LuaVersion::LuaJit => vec!["libluajit-5.1".into()],
        _ => vec![
            format!("liblua{api}"),
            format!("liblua-{api}"),
            format!("liblua{compact}"),
            format!("liblua.{api}"),
        ],
    };
    let plain_ok = version != LuaVersion::LuaJit && headers_match(version, &prefix.join("include"));
    for dir in &dirs {
        for ext in ["so", "dylib", "a"] {
            for stem in &stems {
                let file = dir.join(format!("{stem}.{ext}"));
                if file.is_file() {
                    return Some(file);
                }
            }
            if plain_ok {
                let file = dir.join(format!("liblua.{ext}"));
                if file.is_file() {
                    return Some(file);
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probed_programs_are_told_so_and_wrappers_named_after_lua_are_not_probed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let seen = dir.path().join("seen");
        // A script posing as an interpreter records what it was told, then answers.
        for name in ["lua5.1", "lua2json"] {
            let script = dir.path().join(name);
            std::fs::write(
                &script,
                format!(
                    "#!/bin/sh\necho \"{name} $PYLUA_PROBING\" >> '{}'\necho 'Lua 5.1.5  Copyright (C) 1994-2012 Lua.org, PUC-Rio' >&2\n",
                    seen.display()
                ),
            )
            .unwrap();
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let found = on_path(Some(dir.path().as_os_str()));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(std::fs::read_to_string(&seen).unwrap(), "lua5.1 1\n");
    }

    #[test]
    fn names_that_are_interpreters() {
        for yes in [
            "lua",
            "lua5.1",
            "lua54",
            "lua-5.3",
            "lua5.4.6",
            "luajit",
            "luajit-2.1.0-beta3",
            "luajit2.1",
        ] {
            assert!(is_interpreter_name(yes), "{yes}");
        }
        for no in [
            "luac",
            "luac5.1",
            "luarocks",
            "luarocks-5.1",
            "lua-any",
            "luatex",
            "lua-language-server",
            "lua2json",
            "lua2c",
            "lua5.1x",
            "luajit2json",
            "lua5.1.bak~",
        ] {
            assert!(!is_interpreter_name(no), "{no}");
        }
    }

    #[test]
    fn banners_of_every_version() {
        assert_eq!(
            parse_banner("Lua 5.1.5  Copyright (C) 1994-2012 Lua.org, PUC-Rio\n"),
            Some((LuaVersion::Lua51, "Lua 5.1.5".into()))
        );
        assert_eq!(
            parse_banner("Lua 5.4.6  Copyright (C) 1994-2023 Lua.org, PUC-Rio"),
            Some((LuaVersion::Lua54, "Lua 5.4.6".into()))
        );
        assert_eq!(
            parse_banner("LuaJIT 2.1.1703358377 -- Copyright (C) 2005-2023 Mike Pall."),
            Some((LuaVersion::LuaJit, "LuaJIT 2.1.1703358377".into()))
        );
        assert_eq!(parse_banner("usage: lua-any"), None);
    }

    #[test]
    fn header_versions() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("lua.h"),
            "#define LUA_VERSION_MAJOR\t\"5\"\n#define LUA_VERSION_MINOR\t\"3\"\n",
        )
        .unwrap();
        assert!(headers_match(LuaVersion::Lua53, dir.path()));
        assert!(!headers_match(LuaVersion::Lua54, dir.path()));
        std::fs::write(dir.path().join("lua.h"), "#define LUA_VERSION_NUM\t\t501\n").unwrap();
        assert!(headers_match(LuaVersion::Lua51, dir.path()));
        assert!(!headers_match(LuaVersion::LuaJit, dir.path()));
        std::fs::write(dir.path().join("luajit.h"), "").unwrap();
        assert!(headers_match(LuaVersion::LuaJit, dir.path()));
    }
}
