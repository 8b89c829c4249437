//! The environment area: Luas, the C compiler, build tools, the configuration, the servers,
//! the download cache and an installed LuaRocks.

use super::{Area, Finding, Fix, Severity};
use crate::compiler::{which, Compiler};
use crate::operations::project::EnvOptions;
use crate::operations::query::ServerOptions;
use crate::paths::Paths;
use crate::runtime::{Vm, LUA_RELEASE};
use std::process::Command;

const AREA: Area = Area::Environment;

/// The servers pylua asks outside a project: the configured ones, else luarocks.org.
pub(super) fn configured_servers(env: &EnvOptions) -> ServerOptions {
    ServerOptions {
        defaults: env.config.servers.clone(),
        cache_dir: env.cache_dir.clone().or(env.config.cache_dir.clone()),
        offline: env.offline,
        unpack: env.config.unpack_bounds(),
        link_mode: env.config.link_mode.unwrap_or_default(),
        ..ServerOptions::default()
    }
}

pub(super) fn check(env: &EnvOptions, servers: &ServerOptions, ask_servers: bool) -> Vec<Finding> {
    let mut out = Vec::new();
    out.push(embedded());
    out.extend(interpreters());
    out.push(compiler());
    for (tool, why, debian) in [
        (
            "make",
            "packages built with make and LuaJIT need it",
            "make",
        ),
        ("git", "packages whose sources are in git need it", "git"),
        ("cmake", "packages built with cmake need it", "cmake"),
    ] {
        out.push(tool_check(tool, why, debian));
    }
    out.push(config());
    if ask_servers && !env.offline {
        out.extend(server_checks(servers));
    }
    out.push(cache(servers));
    out.push(luarocks());
    out
}

fn embedded() -> Finding {
    let works = Vm::builder()
        .build()
        .and_then(|mut vm| vm.eval("return 1 + 1"))
        .is_ok_and(|v| v.first() == Some(&serde_json::json!(2)));
    if works {
        Finding::ok(AREA, "lua.embedded", format!("embedded {LUA_RELEASE} runs"))
    } else {
        Finding::problem(
            AREA,
            "lua.embedded",
            Severity::Error,
            "the embedded Lua does not run",
            "a new VM could not compute 1 + 1",
            None,
        )
    }
}

fn interpreters() -> Vec<Finding> {
    let found = crate::interpreters::discover(&Paths::discover());
    if found.is_empty() {
        return vec![Finding::ok(
            AREA,
            "lua.interpreters",
            "no external Lua interpreters (only the embedded 5.4; others are needed for 5.1–5.3 and LuaJIT)",
        )];
    }
    found
        .iter()
        .map(|i| {
            if i.include_dir.is_some() {
                Finding::ok(
                    AREA,
                    "lua.interpreters",
                    format!("{} at {} (with headers)", i.release, i.path.display()),
                )
            } else {
                Finding::problem(
                    AREA,
                    "lua.headers",
                    Severity::Warning,
                    format!("{} at {} has no headers", i.release, i.path.display()),
                    "C modules cannot be built for it without lua.h",
                    Some(Fix::InstallLua {
                        version: i.version.as_str().to_string(),
                    }),
                )
            }
        })
        .collect()
}

fn compiler() -> Finding {
    match Compiler::detect() {
        Some(c) => Finding::ok(AREA, "tools.cc", format!("C compiler: {}", c.to_variable())),
        None => Finding::problem(
            AREA,
            "tools.cc",
            Severity::Warning,
            "no C compiler ($CC, cc, gcc, clang)",
            "packages with C modules (lua-cjson, lpeg, luasocket…) cannot be built",
            Some(Fix::InstallSystem {
                what: "a C compiler".into(),
                debian: "gcc".into(),
            }),
        ),
    }
}

fn tool_check(tool: &str, why: &str, debian: &str) -> Finding {
    let check = match tool {
        "make" => "tools.make",
        "git" => "tools.git",
        _ => "tools.cmake",
    };
    match which(tool) {
        Some(path) => Finding::ok(AREA, check, format!("{tool}: {}", path.display())),
        None => Finding::problem(
            AREA,
            check,
            Severity::Warning,
            format!("{tool} is not on PATH"),
            why,
            Some(Fix::InstallSystem {
                what: tool.into(),
                debian: debian.into(),
            }),
        ),
    }
}

fn config() -> Finding {
    let paths = Paths::discover();
    match crate::config::Config::load(&paths) {
        Ok(_) => Finding::ok(AREA, "config", "configuration is valid"),
        Err(e) => Finding::problem(
            AREA,
            "config",
            Severity::Error,
            "the configuration cannot be read",
            e.to_string(),
            Some(Fix::EditConfig {
                file: crate::config::config_path(&paths).display().to_string(),
            }),
        ),
    }
}

fn server_checks(servers: &ServerOptions) -> Vec<Finding> {
    let urls = match servers.servers() {
        Ok(list) => list,
        Err(e) => {
            return vec![Finding::problem(
                AREA,
                "servers",
                Severity::Error,
                "the server list is invalid",
                e.to_string(),
                None,
            )]
        }
    };
    urls.iter()
        .map(|server| {
            let one = ServerOptions {
                extra: Vec::new(),
                defaults: Vec::new(),
                only: vec![server.url().to_string()],
                ..servers.clone()
            };
            match one.index() {
                Ok(index) => Finding::ok(
                    AREA,
                    "servers",
                    format!(
                        "{} answers ({} packages)",
                        server.url(),
                        index.package_count()
                    ),
                ),
                Err(e) => Finding::problem(
                    AREA,
                    "servers",
                    Severity::Error,
                    format!("{} does not answer", server.url()),
                    e.to_string(),
                    None,
                ),
            }
        })
        .collect()
}

fn cache(servers: &ServerOptions) -> Finding {
    let fetcher = servers.fetcher();
    let root = fetcher.root();
    let probe = root.join(".pylua-doctor-probe");
    let writable = std::fs::create_dir_all(root)
        .and_then(|()| std::fs::write(&probe, b"ok"))
        .and_then(|()| std::fs::remove_file(&probe));
    match writable {
        Ok(()) => Finding::ok(
            AREA,
            "cache",
            format!(
                "download cache {} ({:.1} MiB)",
                root.display(),
                fetcher.size() as f64 / (1024.0 * 1024.0)
            ),
        ),
        Err(e) => Finding::problem(
            AREA,
            "cache",
            Severity::Error,
            format!("the download cache {} is not writable", root.display()),
            e.to_string(),
            None,
        ),
    }
}

fn luarocks() -> Finding {
    let Some(path) = which("luarocks") else {
        return Finding::ok(
            AREA,
            "luarocks",
            "no LuaRocks installed (pylua does not need it)",
        );
    };
    let version = Command::new(&path)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_else(|| "version unknown".into());
    Finding::ok(
        AREA,
        "luarocks",
        format!(
            "{version} at {}; its trees are LuaRocks' own (pylua reads and writes the same layout)",
            path.display()
        ),
    )
}
