//! A hostile rocks server, lockfile, export file and command line against the real `pylua`
//! binary: names that climb out of the tree, `install` keys, module names, copy_directories
//! and source.dir that point outside, git URLs and refs that smuggle options into git, and
//! archive bombs. Each is refused with a clear error and exit code, and nothing is written
//! outside the tree: every path that climbs aims at a sentinel directory that must stay empty.

mod common;

use assert_cmd::Command;
use common::RockServer;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use tempfile::TempDir;

struct Ctx {
    home: TempDir,
    server: RockServer,
}

impl Ctx {
    fn new() -> Ctx {
        let home = tempfile::tempdir().unwrap();
        let mut server = RockServer::new(&home.path().join("server"));
        server.package(
            "good",
            "1.0-1",
            &[],
            &[("good.lua", "return 'good'")],
            r#"type = "builtin", modules = { good = "good.lua" }"#,
        );
        server.publish();
        std::fs::create_dir_all(home.path().join("sentinel")).unwrap();
        let ctx = Ctx { home, server };
        // Every command, in a project or not, asks only the local server.
        let config = ctx.path("pylua-home/config");
        std::fs::create_dir_all(&config).unwrap();
        std::fs::write(
            config.join("config.toml"),
            format!("servers = [\"{}\"]\n", ctx.server.url()),
        )
        .unwrap();
        ctx
    }

    fn path(&self, p: &str) -> PathBuf {
        self.home.path().join(p)
    }

    fn pylua_in(&self, dir: &str, args: &[&str]) -> Command {
        let cwd = self.path(dir);
        std::fs::create_dir_all(&cwd).unwrap();
        let mut cmd = Command::cargo_bin("pylua").unwrap();
        cmd.current_dir(cwd)
            .env("PYLUA_HOME", self.path("pylua-home"))
            .env_remove("PYLUA_LOG")
            .timeout(std::time::Duration::from_secs(120))
            .args(args);
        cmd
    }

    /// `pylua install --tree tree NAME` against the local server.
    fn install(&self, name: &str) -> std::process::Output {
        self.pylua_in(
            ".",
            &[
                "install",
                "--only-server",
                &self.server.url(),
                "--tree",
                self.path("tree").to_str().unwrap(),
                name,
            ],
        )
        .output()
        .unwrap()
    }

    /// A path that climbs from anywhere in the test's directories to `sentinel/NAME`.
    fn climb(&self, name: &str) -> String {
        format!(
            "{}{}/{name}",
            "../".repeat(40),
            self.path("sentinel")
                .display()
                .to_string()
                .trim_start_matches('/')
        )
    }

    fn assert_sentinel_empty(&self) {
        let left: Vec<_> = std::fs::read_dir(self.path("sentinel"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert!(left.is_empty(), "written outside the tree: {left:?}");
    }

    /// A project `app` depending on `deps`, on the local server.
    fn project(&self, deps: &[&str]) {
        let deps: String = deps.iter().map(|d| format!("{d} = \"\"\n")).collect();
        std::fs::create_dir_all(self.path("app")).unwrap();
        std::fs::write(
            self.path("app/pylua.toml"),
            format!(
                "[project]\nname = \"app\"\nlua = \"5.4\"\nservers = [\"{}\"]\n\n[dependencies]\n{deps}",
                self.server.url()
            ),
        )
        .unwrap();
    }
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts a clean failure with `code` whose message holds every one of `expected`.
fn refused(out: &std::process::Output, code: i32, expected: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "{err}");
    for e in expected {
        assert!(err.contains(e), "expected {e:?} in:\n{err}");
    }
}

/// The total size of the files under `dir`.
fn tree_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .map(|e| e.unwrap())
        .map(|e| {
            let t = e.file_type().unwrap();
            if t.is_dir() {
                tree_bytes(&e.path())
            } else {
                e.metadata().unwrap().len()
            }
        })
        .sum()
}

fn src_rock_rockspec(name: &str, url: &str, dir: &str, build: &str) -> String {
    format!(
        "package = {name:?}\nversion = \"1.0-1\"\nsource = {{ url = {url:?}, dir = {dir:?} }}\nbuild = {{ {build} }}\n"
    )
}

#[test]
fn a_manifest_name_that_climbs_is_skipped_and_the_rest_of_the_server_works() {
    let mut ctx = Ctx::new();
    let hostile = ctx.climb("escaped");
    ctx.server.list(&hostile, "1.0-1", "rockspec").publish();
    let out = ctx
        .pylua_in(
            ".",
            &["search", "escaped", "--only-server", &ctx.server.url()],
        )
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("sentinel"));
    // Asked for by name, it is not a package name at all.
    refused(&ctx.install(&hostile), 2, &["package name", "'/'"]);
    // The good package on the same server still installs.
    let out = ctx.install("good");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(ctx.path("tree/share/lua/5.4/good.lua").is_file());
    ctx.assert_sentinel_empty();
}

#[test]
fn a_lockfile_entry_that_climbs_is_refused_by_sync_frozen() {
    let ctx = Ctx::new();
    ctx.project(&["good"]);
    // A real lock (right file, right sha256) whose package name is changed to climb out.
    let out = ctx.pylua_in("app", &["lock"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let lock = std::fs::read_to_string(ctx.path("app/pylua.lock")).unwrap();
    assert!(lock.contains("name = \"good\""), "{lock}");
    let hostile = ctx.climb("escaped");
    std::fs::write(
        ctx.path("app/pylua.lock"),
        lock.replace("name = \"good\"", &format!("name = {hostile:?}")),
    )
    .unwrap();
    let out = ctx.pylua_in("app", &["sync", "--frozen"]).output().unwrap();
    refused(&out, 10, &["pylua.lock", "package name", "'/'"]);
    ctx.assert_sentinel_empty();
    assert!(!ctx.path("app/.pylua/lib/luarocks").exists());
}

#[test]
fn an_export_file_that_climbs_is_refused_by_import() {
    let ctx = Ctx::new();
    let hostile = ctx.climb("escaped");
    for (table, dep_line) in [
        // The lock's package name climbs.
        ("package", "good = \"\"".to_string()),
        // The project's dependency name climbs.
        ("dependency", format!("{hostile:?} = \"\"")),
    ] {
        let lock_name = if table == "package" {
            hostile.clone()
        } else {
            "good".to_string()
        };
        let export = format!(
            "format = \"pylua-environment\"\nversion = 1\n\n[project.project]\nname = \"app\"\nlua = \"5.4\"\nservers = [\"{url}\"]\n\n[project.dependencies]\n{dep_line}\n\n[lock]\nversion = 1\nlua = \"5.4\"\n\n[lock.requirements]\ngood = \"\"\n\n[[lock.package]]\nname = {lock_name:?}\nversion = \"1.0-1\"\nserver = \"{url}\"\nfile = \"good-1.0-1.src.rock\"\nsha256 = \"{zeros}\"\ndependencies = []\n",
            url = ctx.server.url(),
            zeros = "0".repeat(64),
        );
        std::fs::write(ctx.path("env.toml"), export).unwrap();
        let out = ctx
            .pylua_in("copy", &["import", "../env.toml"])
            .output()
            .unwrap();
        refused(&out, 10, &["env.toml", "package name", "'/'"]);
        ctx.assert_sentinel_empty();
        assert!(!ctx.path("copy/pylua.toml").exists(), "{table}");
    }
}

#[test]
fn rockspec_paths_that_climb_are_refused_naming_the_field() {
    let mut ctx = Ctx::new();
    let climb = ctx.climb("x");
    let files: &[(&str, &str)] = &[("good.lua", "return 1"), ("docs/a.txt", "a")];
    let cases = [
        (
            "binkey",
            format!(
                r#"type = "builtin", modules = {{ binkey = "good.lua" }}, install = {{ bin = {{ [{climb:?}] = "good.lua" }} }}"#
            ),
            "build.install.bin' key",
        ),
        (
            "confkey",
            format!(r#"type = "none", install = {{ conf = {{ [{climb:?}] = "good.lua" }} }}"#),
            "build.install.conf' key",
        ),
        (
            "luakey",
            r#"type = "none", install = { lua = { ["..x"] = "good.lua" } }"#.to_string(),
            "build.install.lua' key",
        ),
        (
            "binvalue",
            format!(r#"type = "none", install = {{ bin = {{ x = {climb:?} }} }}"#),
            "build.install.bin' value",
        ),
        (
            "modname",
            format!(r#"type = "builtin", modules = {{ [{climb:?}] = "good.lua" }}"#),
            "build.modules' key",
        ),
        (
            "modpath",
            r#"type = "builtin", modules = { m = "/etc/passwd" }"#.to_string(),
            "build.modules[\"m\"]'",
        ),
        (
            "copydirs",
            format!(
                r#"type = "none", copy_directories = {{ "docs", {:?} }}"#,
                "../".repeat(40)
            ),
            "build.copy_directories[2]'",
        ),
    ];
    for (name, build, _) in &cases {
        ctx.server.package(name, "1.0-1", &[], files, build);
    }
    // source.dir and source.file outside the sources.
    let tarball = common::tar_gz("sd-1.0", &[("good.lua", "return 1")]);
    ctx.server.src_rock_with(
        "sourcedir",
        "1.0-1",
        &src_rock_rockspec("sourcedir", "sd-1.0.tar.gz", "/etc", "type = \"none\""),
        &[("sd-1.0.tar.gz", &tarball)],
    );
    ctx.server.src_rock_with(
        "sourcefile",
        "1.0-1",
        &format!(
            "package = \"sourcefile\"\nversion = \"1.0-1\"\nsource = {{ url = \"sd-1.0.tar.gz\", file = {climb:?} }}\nbuild = {{ type = \"none\" }}\n"
        ),
        &[("sd-1.0.tar.gz", &tarball)],
    );
    ctx.server.publish();
    let mut all: Vec<(String, String)> = cases
        .iter()
        .map(|(n, _, field)| (n.to_string(), field.to_string()))
        .collect();
    all.push((
        "sourcedir".into(),
        "field 'source.dir': path \"/etc\"".into(),
    ));
    all.push(("sourcefile".into(), "field 'source.file'".into()));
    for (name, field) in &all {
        let out = ctx.install(name);
        refused(&out, 5, &["rockspec", field]);
        assert!(!ctx
            .path(&format!("tree/lib/luarocks/rocks-5.4/{name}"))
            .exists());
        ctx.assert_sentinel_empty();
    }
}

#[test]
fn rock_archive_entries_that_climb_are_refused() {
    let mut ctx = Ctx::new();
    let climb = ctx.climb("x");
    ctx.server
        .all_rock(
            "allrock",
            "1.0-1",
            &[("lua/ok.lua", "return 1"), (&climb, "pwned")],
        )
        .publish();
    let out = ctx.install("allrock");
    refused(
        &out,
        7,
        &[
            "allrock-1.0-1.all.rock",
            "unsafe entry",
            "leaves the archive",
        ],
    );
    ctx.assert_sentinel_empty();
}

/// A repository with one commit tagged `v1.0`, for rockspecs with git sources.
fn git_repo(ctx: &Ctx) -> PathBuf {
    let repo = ctx.path("repo");
    std::fs::create_dir_all(&repo).unwrap();
    common::git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("g.lua"), "return 'g'").unwrap();
    common::git(&repo, &["add", "."]);
    common::git(&repo, &["commit", "-qm", "first"]);
    common::git(&repo, &["tag", "v1.0"]);
    repo
}

#[test]
fn git_urls_and_refs_cannot_smuggle_options_into_git() {
    let mut ctx = Ctx::new();
    let repo = git_repo(&ctx);
    let marker = ctx.path("sentinel/marker");
    let cases = [
        (
            "evilurl",
            format!("git+--upload-pack=touch {};", marker.display()),
            "v1.0".to_string(),
            "field 'source.url'",
        ),
        (
            "evilext",
            format!("git+ext::sh -c touch% {}", marker.display()),
            "v1.0".to_string(),
            "unsupported git URL",
        ),
        (
            "eviltag",
            format!("git+file://{}", repo.display()),
            format!("--upload-pack=touch {}", marker.display()),
            "field 'source.tag'",
        ),
    ];
    for (name, url, tag, _) in &cases {
        ctx.server.raw_rockspec(
            name,
            "1.0-1",
            &format!(
                "package = {name:?}\nversion = \"1.0-1\"\nsource = {{ url = {url:?}, tag = {tag:?} }}\nbuild = {{ type = \"builtin\", modules = {{ g = \"g.lua\" }} }}\n"
            ),
        );
    }
    ctx.server.publish();
    for (name, _, _, expected) in &cases {
        refused(&ctx.install(name), 5, &[expected]);
        assert!(!marker.exists(), "{name}: git ran the injected command");
        // In a project: `add` and `lock` fail the same way and change nothing.
        ctx.project(&[]);
        let out = ctx.pylua_in("app", &["add", name]).output().unwrap();
        refused(&out, 5, &[expected]);
        ctx.project(&[name]);
        let out = ctx.pylua_in("app", &["lock"]).output().unwrap();
        refused(&out, 5, &[expected]);
        assert!(!ctx.path("app/pylua.lock").exists());
        assert!(!marker.exists(), "{name}: git ran the injected command");
    }
    ctx.assert_sentinel_empty();

    // The same repository with an honest tag installs: the hardening keeps git+file working.
    ctx.server.raw_rockspec(
        "honest",
        "1.0-1",
        &format!(
            "package = \"honest\"\nversion = \"1.0-1\"\nsource = {{ url = \"git+file://{}\", tag = \"v1.0\" }}\nbuild = {{ type = \"builtin\", modules = {{ g = \"g.lua\" }} }}\n",
            repo.display()
        ),
    );
    ctx.server.publish();
    let out = ctx.install("honest");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(ctx.path("tree/share/lua/5.4/g.lua").is_file());

    // A repository whose symbolic link points out (here at the sentinel, which holds a
    // secret) cannot smuggle that file into the tree through copy_directories.
    std::fs::write(ctx.path("sentinel/secret"), "s").unwrap();
    std::os::unix::fs::symlink(ctx.path("sentinel"), repo.join("docs")).unwrap();
    common::git(&repo, &["add", "docs"]);
    common::git(&repo, &["commit", "-qm", "link"]);
    common::git(&repo, &["tag", "v2.0"]);
    ctx.server.raw_rockspec(
        "linky",
        "2.0-1",
        &format!(
            "package = \"linky\"\nversion = \"2.0-1\"\nsource = {{ url = \"git+file://{}\", tag = \"v2.0\" }}\nbuild = {{ type = \"none\", copy_directories = {{ \"docs\" }} }}\n",
            repo.display()
        ),
    );
    ctx.server.publish();
    refused(
        &ctx.install("linky"),
        7,
        &["symbolic link 'docs' points outside the repository"],
    );
    let copied = walk_names(&ctx.path("tree"));
    assert!(!copied.iter().any(|n| n == "secret"), "{copied:?}");
}

/// Every file name under `dir`.
fn walk_names(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        out.push(e.file_name().to_string_lossy().into_owned());
        if e.file_type().unwrap().is_dir() {
            out.extend(walk_names(&e.path()));
        }
    }
    out
}

/// A `.tar.gz` of one file of `size` zero bytes, compressed while it is produced.
fn zeros_tar_gz(path: &str, size: u64) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    header.set_mode(0o644);
    builder
        .append_data(&mut header, path, std::io::repeat(0).take(size))
        .unwrap();
    builder.into_inner().unwrap().finish().unwrap()
}

#[test]
fn archive_bombs_are_refused_and_leave_nothing_behind() {
    let mut ctx = Ctx::new();
    // A source tarball holding one 1 GiB file of zeros (about 1 MB compressed).
    let bomb = zeros_tar_gz("bomb-1.0/zeros.lua", 1 << 30);
    assert!(bomb.len() < 8 << 20, "{}", bomb.len());
    ctx.server.src_rock_with(
        "tarbomb",
        "1.0-1",
        &src_rock_rockspec(
            "tarbomb",
            "bomb-1.0.tar.gz",
            "bomb-1.0",
            "type = \"builtin\", modules = { zeros = \"zeros.lua\" }",
        ),
        &[("bomb-1.0.tar.gz", &bomb)],
    );
    // A rock (a zip) whose own entry is 1 GiB of zeros.
    let path = ctx.server.dir.join("zipbomb-1.0-1.src.rock");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let deflate = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    zip.start_file("zipbomb-1.0-1.rockspec", deflate).unwrap();
    zip.write_all(
        src_rock_rockspec("zipbomb", "zeros.lua", "", "type = \"none\"")
            .replace("dir = \"\"", "")
            .as_bytes(),
    )
    .unwrap();
    zip.start_file("zeros.lua", deflate).unwrap();
    std::io::copy(&mut std::io::repeat(0).take(1 << 30), &mut zip).unwrap();
    zip.finish().unwrap();
    ctx.server.list("zipbomb", "1.0-1", "src").publish();

    for (name, archive) in [
        ("tarbomb", "bomb-1.0.tar.gz"),
        ("zipbomb", "zipbomb-1.0-1.src.rock"),
    ] {
        let out = ctx.install(name);
        // The per-file bound or the ratio stops it, whichever is lower for this archive.
        refused(&out, 7, &[archive, "setting in config.toml raises it"]);
        let err = stderr(&out);
        assert!(
            err.contains("larger than 256 MiB") || err.contains("200 times its own size"),
            "{err}"
        );
        // Nothing of it is left in the tree or its staging directories.
        let left = tree_bytes(&ctx.path("tree"));
        assert!(left < 1 << 20, "{name}: {left} bytes left in the tree");
        ctx.assert_sentinel_empty();
    }
}

#[test]
fn profile_show_of_a_profile_whose_parent_is_missing_is_an_error_not_a_panic() {
    let ctx = Ctx::new();
    std::fs::write(
        ctx.path("catalog.toml"),
        "[profile.orphan]\ndescription = \"d\"\nextends = \"gone\"\npackages = []\n",
    )
    .unwrap();
    std::fs::write(
        ctx.path("pylua-home/config/config.toml"),
        format!("catalogs = [\"{}\"]\n", ctx.path("catalog.toml").display()),
    )
    .unwrap();
    let out = ctx
        .pylua_in(".", &["profile", "show", "orphan", "--no-check"])
        .output()
        .unwrap();
    refused(
        &out,
        10,
        &["profile 'orphan'", "names 'gone', which is not a profile"],
    );
    let out = ctx
        .pylua_in(".", &["profile", "show", "nonesuch", "--no-check"])
        .output()
        .unwrap();
    refused(&out, 5, &["unknown profile 'nonesuch'"]);
}

/// Text arguments a user or a script might pass: traversal, options, non-ASCII, control
/// characters, quotes, huge and empty values, request syntax gone wrong.
fn hostile_args() -> Vec<String> {
    let mut v: Vec<String> = [
        "",
        "../../../../tmp/escaped",
        "-x",
        "--upload-pack=touch /tmp/x",
        "abcé",
        "é",
        "🦀",
        "a\u{202e}b",
        "a\tb",
        "a\nb",
        "'\"",
        "\"unbalanced",
        "name@",
        "@",
        "a@@b",
        "good@>=",
        "good@~>",
        "good@1.0@2",
        ".",
        "..",
        "a/b",
        "a\\b",
        "%s%n%x",
        "$(touch /tmp/x)",
        "lua",
        "\u{fffd}",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push("x".repeat(60_000));
    v.push("é".repeat(5_000));
    v
}

#[test]
fn hostile_command_arguments_end_in_clean_errors_never_a_panic() {
    let ctx = Ctx::new();
    ctx.server.publish();
    ctx.project(&[]);
    let tree = ctx.path("tree").display().to_string();
    for arg in hostile_args() {
        let a = arg.as_str();
        let commands: Vec<(&str, Vec<&str>)> = vec![
            (".", vec!["search", a]),
            (".", vec!["show", a]),
            (".", vec!["show", "good", a]),
            (".", vec!["install", "--dry-run", a]),
            (".", vec!["install", "--tree", &tree, a]),
            (".", vec!["remove", "--tree", &tree, a]),
            (".", vec!["which", "--tree", &tree, a]),
            (".", vec!["catalog", a]),
            (".", vec!["info", a]),
            (".", vec!["config", "get", a]),
            (".", vec!["profile", "show", a, "--no-check"]),
            ("app", vec!["add", a]),
            ("app", vec!["remove", a]),
            ("app", vec!["update", a]),
            ("app", vec!["rollback", a]),
        ];
        for (dir, args) in commands {
            let out = ctx.pylua_in(dir, &args).output().unwrap();
            let shown: Vec<String> = args.iter().map(|s| s.chars().take(40).collect()).collect();
            let code = out.status.code();
            assert!(
                code.is_some() && code != Some(101),
                "pylua {shown:?} ended with {:?}: {}",
                out.status,
                stderr(&out).chars().take(2000).collect::<String>()
            );
            assert!(
                !stderr(&out).contains("panicked"),
                "pylua {shown:?}: {}",
                stderr(&out)
            );
        }
    }
    ctx.assert_sentinel_empty();
}

/// An installed tree is data too (a `.pylua/` committed to someone's repository): a journal
/// of an "interrupted transaction" naming files outside the tree, or a tree manifest whose
/// module files climb out, must not make pylua move or delete anything there.
#[test]
fn a_hostile_installed_tree_cannot_move_or_delete_files_outside_it() {
    let ctx = Ctx::new();
    let out = ctx.install("good");
    assert!(out.status.success(), "{}", stderr(&out));
    let tree = ctx.path("tree");
    let victim = ctx.path("victim.txt");
    std::fs::write(&victim, "keep me").unwrap();
    let tree_arg = tree.to_str().unwrap();

    // A journal whose "new" file is the victim: recovery would delete it.
    let txn = tree.join(".pylua-txn");
    std::fs::create_dir_all(txn.join("trash")).unwrap();
    std::fs::write(txn.join("journal"), format!("new\t{}\n", victim.display())).unwrap();
    let out = ctx
        .pylua_in(".", &["list", "--tree", tree_arg])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("outside the tree"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    // The same through `..` inside the tree's own path.
    std::fs::write(
        txn.join("journal"),
        format!("new\t{}/../victim.txt\n", tree.display()),
    )
    .unwrap();
    let out = ctx
        .pylua_in(".", &["list", "--tree", tree_arg])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(victim.exists());
    std::fs::remove_dir_all(&txn).unwrap();

    // A manifest whose module file climbs out: `remove` must not delete the victim.
    let manifest = tree.join("lib/luarocks/rocks-5.4/manifest");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let climbing = format!("{}victim.txt", "../".repeat(4));
    assert!(text.contains("\"good.lua\""), "{text}");
    std::fs::write(
        &manifest,
        text.replace("\"good.lua\"", &format!("{climbing:?}")),
    )
    .unwrap();
    let out = ctx
        .pylua_in(".", &["remove", "--tree", tree_arg, "good"])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("good"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");

    // A symbolic link inside the tree pointing out: files behind it are not the tree's.
    std::fs::write(&manifest, &text).unwrap();
    let lua_dir = tree.join("share/lua/5.4");
    std::fs::remove_dir_all(&lua_dir).unwrap();
    std::fs::create_dir_all(ctx.path("elsewhere")).unwrap();
    std::fs::write(ctx.path("elsewhere/good.lua"), "precious").unwrap();
    std::os::unix::fs::symlink(ctx.path("elsewhere"), &lua_dir).unwrap();
    let out = ctx
        .pylua_in(".", &["remove", "--tree", tree_arg, "good"])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(ctx.path("elsewhere/good.lua")).unwrap(),
        "precious"
    );
}
