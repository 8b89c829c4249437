//! Property tests over every parser of text that comes from outside: package requests
//! (`NAME@CONSTRAINT`), `pylua.toml`, `pylua.lock`, `config.toml`, export files and the name
//! types. A small deterministic generator mixes hostile fragments (NUL, `../`, `-x`,
//! non-ASCII, huge, empty, unbalanced quotes…) into valid documents and mutates them; each
//! parser must return a value or an error, never panic, and whatever it accepts must hold
//! only valid names.

use pylua::config::Config;
use pylua::operations::project::parse_export;
use pylua::operations::query::parse_request;
use pylua::packages::names::{ModuleName, PackageName, RelativePath};
use pylua::project::{Lockfile, ProjectFile};
use std::path::Path;

/// Hostile fragments.
fn fragments() -> Vec<String> {
    let mut v: Vec<String> = [
        "",
        "\0",
        "../",
        "..",
        ".",
        "/",
        "\\",
        "-x",
        "--upload-pack=touch /tmp/x",
        "é",
        "🦀",
        "\u{202e}",
        "\u{fffd}",
        "\"",
        "'",
        "\"\"\"",
        "[",
        "]]",
        "{",
        "=",
        "@",
        "@@",
        ">=",
        "~>",
        ",",
        "#",
        "\n",
        "\r\n",
        "\t",
        " ",
        "\u{1b}[2J",
        "$(id)",
        "C:",
        "a..b",
        "1e999",
        "-9223372036854775809",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push("x".repeat(100_000));
    v.push("é".repeat(10_000));
    v.push("../".repeat(1000));
    v
}

/// xorshift64: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// `template` with `{}` replaced by each fragment, plus `count` random mutations of the
/// filled-in valid text: fragments inserted at random char boundaries, and truncations.
fn variants(template: &str, valid: &str, count: usize, seed: u64) -> Vec<String> {
    let frags = fragments();
    let mut out: Vec<String> = frags.iter().map(|f| template.replace("{}", f)).collect();
    let mut rng = Rng(seed);
    let filled = template.replace("{}", valid);
    let bounds: Vec<usize> = filled
        .char_indices()
        .map(|(i, _)| i)
        .chain([filled.len()])
        .collect();
    for _ in 0..count {
        let mut s = filled.clone();
        for _ in 0..1 + rng.below(3) {
            let at = bounds[rng.below(bounds.len())].min(s.len());
            let at = (0..=at).rev().find(|i| s.is_char_boundary(*i)).unwrap_or(0);
            s.insert_str(at, &frags[rng.below(frags.len())]);
        }
        out.push(s);
        let cut = bounds[rng.below(bounds.len())];
        out.push(filled[..cut].to_string());
    }
    out
}

#[test]
fn name_types_accept_only_what_stays_in_place() {
    for f in fragments() {
        for text in [
            f.clone(),
            format!("a{f}b"),
            format!("{f}a"),
            format!("a/{f}"),
        ] {
            if let Ok(n) = PackageName::parse(&text) {
                assert!(!n.contains(['/', '\\', '\0']) && n.as_str() != "." && n.as_str() != "..");
                assert!(!n.starts_with('-') && !n.is_empty() && n.len() <= 128);
                assert_eq!(PackageName::parse(n.as_str()).unwrap(), n);
            }
            if let Ok(m) = ModuleName::parse(&text) {
                let p = m.to_path();
                assert!(p.split('/').all(|s| !s.is_empty() && s != ".." && s != "."));
                assert!(!p.starts_with('/'), "{p}");
            }
            if let Ok(r) = RelativePath::parse(&text) {
                assert!(!r.starts_with('/') && !r.is_empty() && !r.contains(['\\', '\0']));
                assert!(r.split('/').all(|s| !s.is_empty() && s != ".." && s != "."));
                // Normalised: parsing again changes nothing.
                assert_eq!(RelativePath::parse(r.as_str()).unwrap(), r);
                let joined = Path::new("/base").join(r.as_str());
                assert!(joined.starts_with("/base"), "{joined:?}");
            }
        }
    }
}

#[test]
fn package_requests_never_panic_and_name_valid_packages() {
    let mut inputs = variants("{}", "penlight@>= 1.13, < 2", 400, 1);
    inputs.extend(variants("lua-cjson@{}", "~> 2.1", 200, 2));
    inputs.extend(variants("{}@1.0", "LuaSocket", 200, 3));
    for text in inputs {
        if let Ok(dep) = parse_request(&text) {
            assert!(PackageName::parse(dep.name.as_str()).is_ok(), "{text:?}");
            let _ = dep.to_string();
        }
    }
}

#[test]
fn project_files_never_panic_and_hold_valid_names() {
    let template = "[project]\nname = \"app\"\nlua = \"5.4\"\nservers = [\"file:///srv/rocks\"]\n\n[dependencies]\n\"{}\" = \">= 1.0\"\npenlight = \"~> 1.13\"\n\n[run]\nsandbox = \"standard\"\nmemory = \"64M\"\n";
    for text in variants(template, "lua-cjson", 400, 4) {
        if let Ok(p) = ProjectFile::parse(&text, Path::new("pylua.toml")) {
            for (name, _) in p.requirements(false).iter().chain(&p.requirements(true)) {
                assert!(PackageName::parse(name).is_ok(), "{name:?} from {text:?}");
            }
        }
    }
}

const LOCK: &str = "version = 1\nlua = \"5.4\"\n\n[requirements]\npenlight = \"\"\n\n[[package]]\nname = \"{}\"\nversion = \"1.13.1-1\"\nserver = \"file:///srv/rocks\"\nfile = \"penlight-1.13.1-1.src.rock\"\nsha256 = \"0000000000000000000000000000000000000000000000000000000000000000\"\ncommit = \"0123456789abcdef0123456789abcdef01234567\"\ndependencies = []\n";

#[test]
fn lockfiles_never_panic_and_hold_valid_names() {
    for text in variants(LOCK, "penlight", 400, 5) {
        if let Ok(lock) = Lockfile::parse(&text, Path::new("pylua.lock")) {
            for p in &lock.packages {
                assert!(PackageName::parse(p.name.as_str()).is_ok());
                assert!(!p.file.contains('/') && p.file != ".." && p.file != ".");
            }
            for name in lock.requirements.keys() {
                assert!(PackageName::parse(name).is_ok(), "{name:?}");
            }
            let _ = lock.render();
        }
    }
    // Each hostile field is refused on its own.
    for (from, to) in [
        ("name = \"penlight\"", "name = \"../../tmp/escaped\""),
        ("file = \"penlight-1.13.1-1.src.rock\"", "file = \"..\""),
        (
            "commit = \"0123456789abcdef0123456789abcdef01234567\"",
            "commit = \"--detach\"",
        ),
        (
            "server = \"file:///srv/rocks\"",
            "server = \"-oProxyCommand=x\"",
        ),
        ("[requirements]\npenlight", "[requirements]\n\"../x\""),
    ] {
        let text = LOCK.replace("{}", "penlight").replace(from, to);
        assert!(
            Lockfile::parse(&text, Path::new("pylua.lock")).is_err(),
            "accepted {to}"
        );
    }
}

#[test]
fn config_files_never_panic() {
    let template = "servers = [\"file:///srv/rocks\"]\nlua = \"5.4\"\nunpack-max-bytes = \"{}\"\nunpack-max-files = 100\n\n[profiles.web]\ndescription = \"d\"\nextends = \"standard\"\npackages = [\"etlua\", \"penlight@>= 1.0\"]\n";
    for text in variants(template, "512M", 300, 6) {
        if let Ok(c) = Config::parse(&text, Path::new("config.toml")) {
            let b = c.unpack_bounds();
            assert!(b.max_bytes > 0 && b.max_files > 0 && b.max_ratio > 0);
        }
    }
    let template = "[profiles.mine]\ndescription = \"d\"\npackages = [\"{}\"]\n";
    for text in variants(template, "etlua@~> 1.3", 200, 7) {
        let _ = Config::parse(&text, Path::new("config.toml"));
    }
}

#[test]
fn export_files_never_panic_and_hold_valid_names() {
    let template = format!(
        "format = \"pylua-environment\"\nversion = 1\n\n[project.project]\nname = \"app\"\nlua = \"5.4\"\n\n[project.dependencies]\npenlight = \"\"\n\n[lock]\n{}",
        LOCK.replace("[requirements]", "[lock.requirements]")
            .replace("[[package]]", "[[lock.package]]")
    );
    for text in variants(&template, "penlight", 300, 8) {
        if let Ok((export, _)) = parse_export(&text, Path::new("env.toml")) {
            for p in &export.lock.packages {
                assert!(PackageName::parse(p.name.as_str()).is_ok());
            }
        }
    }
    let json_template = "{\"format\": \"pylua-environment\", \"version\": 1, \"project\": {\"project\": {\"name\": \"app\", \"lua\": \"5.4\"}, \"dependencies\": {\"{}\": \"\"}}, \"lock\": {\"version\": 1, \"lua\": \"5.4\", \"package\": []}}";
    for text in variants(json_template, "penlight", 300, 9) {
        let _ = parse_export(&text, Path::new("env.json"));
    }
}
