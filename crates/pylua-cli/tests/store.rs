//! The package store and `--link-mode`: packages are unpacked and built once into the cache's
//! store and linked into trees — sharing inodes with `hardlink`, not with `copy` — with trees
//! identical file for file whatever the mode; an installed file edited in place through a
//! hard link is caught before the entry spreads to another tree; removing, upgrading and
//! `cache clean` never change what another tree holds. Local servers only; the last test
//! runs busted from a linked tree built from the realrocks mirror (`PYLUA_REALROCKS`).

mod common;

use assert_cmd::Command;
use common::RockServer;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

struct Ctx {
    home: TempDir,
}

impl Ctx {
    fn new() -> Ctx {
        Ctx {
            home: tempfile::tempdir().unwrap(),
        }
    }
    fn path(&self, p: &str) -> PathBuf {
        self.home.path().join(p)
    }
    fn pylua(&self) -> Command {
        let mut cmd = Command::cargo_bin("pylua").unwrap();
        cmd.current_dir(self.home.path())
            .env("PYLUA_HOME", self.path("pylua-home"));
        cmd
    }
    /// `pylua install ARGS --tree TREE`, which must succeed.
    fn install(&self, tree: &str, args: &[&str]) {
        self.pylua()
            .arg("install")
            .args(args)
            .args(["--tree", &self.path(tree).display().to_string()])
            .assert()
            .success();
    }
    fn eval(&self, tree: &str, code: &str) -> String {
        let out = self
            .pylua()
            .args([
                "eval",
                "--tree",
                &self.path(tree).display().to_string(),
                code,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
    fn store(&self) -> PathBuf {
        self.path("pylua-home/cache/store")
    }
    /// The store's entries (directory names that are keys, not temporary ones).
    fn entries(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = std::fs::read_dir(self.store())
            .map(|d| {
                d.flatten()
                    .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }
    /// The store file a tree's module file came from: `files/lua/REL` of the entry that
    /// has it.
    fn stored(&self, rel: &str) -> PathBuf {
        self.entries()
            .into_iter()
            .map(|e| e.join("files/lua").join(rel))
            .find(|p| p.is_file())
            .unwrap_or_else(|| panic!("no store entry holds lua/{rel}"))
    }
}

/// Every file of a tree (pylua's lock and launcher left out): path → (content, mode).
fn files(root: &Path) -> BTreeMap<String, (Vec<u8>, u32)> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<String, (Vec<u8>, u32)>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            if rel == ".pylua-lock" || rel == ".pylua-launcher" {
                continue;
            }
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                walk(&p, root, out);
            } else {
                out.insert(rel, (std::fs::read(&p).unwrap(), meta.mode() & 0o7777));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn ino(path: &Path) -> u64 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .ino()
}

const CORE_C: &str = r#"
#include "lua.h"
#include "lauxlib.h"
static int twice(lua_State *L) {
    lua_pushinteger(L, 2 * luaL_checkinteger(L, 1));
    return 1;
}
int luaopen_calc_core(lua_State *L) {
    lua_newtable(L);
    lua_pushcfunction(L, twice);
    lua_setfield(L, -2, "twice");
    return 1;
}
"#;

/// A pure-Lua package in two versions, a C package with a command, and a prebuilt rock.
fn server(ctx: &Ctx) -> RockServer {
    let mut s = RockServer::new(&ctx.path("server"));
    for (version, body) in [("1.0-1", "return 'one'"), ("2.0-1", "return 'two'")] {
        s.package(
            "words",
            version,
            &[],
            &[("src/words.lua", body), ("src/words/extra.lua", "return 'extra'")],
            r#"type = "builtin", modules = { words = "src/words.lua", ["words.extra"] = "src/words/extra.lua" }"#,
        );
    }
    s.package(
        "calc",
        "1.0-1",
        &["words >= 1.0"],
        &[
            ("csrc/core.c", CORE_C),
            ("calc.lua", "return require('calc.core')"),
            ("bin/calc", "print(require('calc').twice(tonumber(arg[1])))"),
        ],
        r#"type = "builtin", modules = { ["calc.core"] = { sources = { "csrc/core.c" } }, calc = "calc.lua" }, install = { bin = { calc = "bin/calc" } }"#,
    )
    .all_rock(
        "prebuilt",
        "1.0-1",
        &[("lua/prebuilt.lua", "return 'prebuilt'")],
    );
    s.publish();
    s
}

#[test]
fn hardlink_shares_the_store_inodes_copy_does_not_and_the_trees_are_identical() {
    let ctx = Ctx::new();
    let s = server(&ctx);
    let url = s.url();
    let mut trees = Vec::new();
    for mode in ["hardlink", "copy", "auto", "reflink"] {
        let tree = format!("tree-{mode}");
        ctx.install(
            &tree,
            &[
                "calc",
                "prebuilt",
                "--link-mode",
                mode,
                "--only-server",
                &url,
            ],
        );
        assert_eq!(ctx.eval(&tree, "return require('calc').twice(21)"), "42");
        assert_eq!(ctx.eval(&tree, "return (require('prebuilt'))"), "prebuilt");
        trees.push((mode, ctx.path(&tree)));
    }
    // Three packages, each stored once however many trees hold it.
    assert_eq!(ctx.entries().len(), 3, "{:?}", ctx.entries());

    let stored = ctx.stored("words/extra.lua");
    let in_tree = |mode: &str| ctx.path(&format!("tree-{mode}/share/lua/5.4/words/extra.lua"));
    assert_eq!(ino(&in_tree("hardlink")), ino(&stored));
    assert_ne!(ino(&in_tree("copy")), ino(&stored));
    // The C module too: hard-linked, with the mode LuaRocks gives it.
    let so = ctx
        .entries()
        .into_iter()
        .map(|e| e.join("files/lib/calc/core.so"))
        .find(|p| p.is_file())
        .expect("the C module is stored");
    assert_eq!(
        ino(&ctx.path("tree-hardlink/lib/lua/5.4/calc/core.so")),
        ino(&so)
    );
    assert_ne!(
        ino(&ctx.path("tree-copy/lib/lua/5.4/calc/core.so")),
        ino(&so)
    );

    // The rock's directory too: its rockspec file and rock_manifest are stored, not
    // written by each install.
    let manifest = ctx.path("tree-hardlink/lib/luarocks/rocks-5.4/calc/1.0-1/rock_manifest");
    assert!(
        ctx.entries()
            .iter()
            .any(|e| e.join("files/rock/rock_manifest").is_file()
                && ino(&e.join("files/rock/rock_manifest")) == ino(&manifest)),
        "the rock_manifest is linked from the store"
    );
    let reference = files(&trees[0].1);
    assert!(reference.contains_key("lib/luarocks/rocks-5.4/calc/1.0-1/bin/calc"));
    assert_eq!(reference["lib/lua/5.4/calc/core.so"].1, 0o755);
    assert_eq!(reference["share/lua/5.4/words.lua"].1, 0o644);
    for (mode, root) in &trees[1..] {
        let other = files(root);
        assert_eq!(
            reference.keys().collect::<Vec<_>>(),
            other.keys().collect::<Vec<_>>(),
            "{mode}: the same files"
        );
        for (rel, (content, file_mode)) in &reference {
            assert_eq!(&other[rel].0, content, "{mode}: {rel} has the same content");
            assert_eq!(other[rel].1, *file_mode, "{mode}: {rel} has the same mode");
        }
    }
}

#[test]
fn link_mode_comes_from_config_and_a_bad_value_is_refused() {
    let ctx = Ctx::new();
    let s = server(&ctx);
    ctx.pylua()
        .args(["config", "set", "link-mode", "symlink"])
        .assert()
        .failure()
        .stderr(predicates::str::contains(
            "expected one of auto, reflink, hardlink, copy",
        ));
    ctx.pylua()
        .args(["config", "set", "link-mode", "copy"])
        .assert()
        .success();
    ctx.install("tree", &["words", "--only-server", &s.url()]);
    let stored = ctx.stored("words.lua");
    assert_ne!(ino(&ctx.path("tree/share/lua/5.4/words.lua")), ino(&stored));
    // The flag wins over the file.
    ctx.install(
        "tree2",
        &[
            "words",
            "--link-mode",
            "hardlink",
            "--only-server",
            &s.url(),
        ],
    );
    assert_eq!(
        ino(&ctx.path("tree2/share/lua/5.4/words.lua")),
        ino(&stored)
    );
    ctx.pylua()
        .args(["install", "words", "--link-mode", "symlink"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("expected one of auto"));
}

#[test]
fn an_installed_file_edited_in_place_is_caught_and_never_spread() {
    let ctx = Ctx::new();
    let s = server(&ctx);
    let url = s.url();
    ctx.install(
        "a",
        &[
            "words@1.0",
            "--link-mode",
            "hardlink",
            "--only-server",
            &url,
        ],
    );
    let edited = ctx.path("a/share/lua/5.4/words.lua");
    let stored = ctx.stored("words.lua");
    assert_eq!(ino(&edited), ino(&stored));
    // A person's edit, some time after the install: written in place, through the link.
    std::thread::sleep(std::time::Duration::from_millis(30));
    std::fs::write(&edited, "return 'EDITED'").unwrap();
    assert_eq!(std::fs::read_to_string(&stored).unwrap(), "return 'EDITED'");

    ctx.install(
        "b",
        &[
            "words@1.0",
            "--link-mode",
            "hardlink",
            "--only-server",
            &url,
        ],
    );
    assert_eq!(
        ctx.eval("b", "return (require('words'))"),
        "one",
        "pristine"
    );
    assert_eq!(
        ctx.eval("a", "return (require('words'))"),
        "EDITED",
        "a keeps its edit"
    );
    // The altered entry was replaced by a fresh one, which b is linked to.
    let fresh = ctx.stored("words.lua");
    assert_eq!(std::fs::read_to_string(&fresh).unwrap(), "return 'one'");
    assert_eq!(ino(&ctx.path("b/share/lua/5.4/words.lua")), ino(&fresh));
    assert_ne!(ino(&fresh), ino(&edited));

    // A chmod through a link is caught the same way.
    let so_tree = "c";
    ctx.install(
        so_tree,
        &["calc", "--link-mode", "hardlink", "--only-server", &url],
    );
    let so = ctx.path("c/lib/lua/5.4/calc/core.so");
    std::fs::set_permissions(&so, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    ctx.install(
        "d",
        &["calc", "--link-mode", "hardlink", "--only-server", &url],
    );
    let d_so = ctx.path("d/lib/lua/5.4/calc/core.so");
    assert_eq!(std::fs::metadata(&d_so).unwrap().mode() & 0o7777, 0o755);
    assert_ne!(ino(&d_so), ino(&so));
}

#[test]
fn removing_upgrading_and_cleaning_never_change_another_trees_files() {
    let ctx = Ctx::new();
    let s = server(&ctx);
    let url = s.url();
    ctx.install(
        "keep",
        &[
            "words@1.0",
            "--link-mode",
            "hardlink",
            "--only-server",
            &url,
        ],
    );
    ctx.install(
        "churn",
        &[
            "words@1.0",
            "--link-mode",
            "hardlink",
            "--only-server",
            &url,
        ],
    );
    let kept = files(&ctx.path("keep"));
    let stored = ctx.stored("words.lua");
    let stored_ino = ino(&stored);

    // Upgrade, then remove, in the other tree.
    ctx.install("churn", &["words@2.0", "--only-server", &url]);
    assert_eq!(ctx.eval("churn", "return (require('words'))"), "two");
    ctx.pylua()
        .args([
            "remove",
            "words",
            "--tree",
            &ctx.path("churn").display().to_string(),
        ])
        .assert()
        .success();
    assert_eq!(files(&ctx.path("keep")), kept);
    assert_eq!(std::fs::read_to_string(&stored).unwrap(), "return 'one'");
    // The entry is intact: a third tree links the very same file, nothing rebuilt.
    ctx.install(
        "third",
        &[
            "words@1.0",
            "--link-mode",
            "hardlink",
            "--only-server",
            &url,
        ],
    );
    assert_eq!(ino(&ctx.path("third/share/lua/5.4/words.lua")), stored_ino);

    // `cache clean` takes the store away; the trees keep working.
    ctx.pylua().args(["cache", "clean"]).assert().success();
    assert!(!ctx.store().exists());
    assert_eq!(files(&ctx.path("keep")), kept);
    assert_eq!(ctx.eval("keep", "return (require('words'))"), "one");
    ctx.install("fresh", &["words@1.0", "--only-server", &url]);
    assert_eq!(ctx.eval("fresh", "return (require('words'))"), "one");
}

#[test]
fn busted_runs_from_a_hard_linked_tree_of_the_realrocks_mirror() {
    let Some(mirror) = common::realrocks_mirror() else {
        return;
    };
    let ctx = Ctx::new();
    for (tree, mode) in [("linked", "hardlink"), ("copied", "copy")] {
        ctx.install(
            tree,
            &["busted", "--link-mode", mode, "--only-server", &mirror],
        );
    }
    let linked = ctx.path("linked");
    // Every module file of the linked tree is shared with the store.
    let lua = linked.join("share/lua/5.4/busted/init.lua");
    assert!(
        std::fs::metadata(&lua).unwrap().nlink() >= 2,
        "linked, not copied"
    );
    assert_eq!(
        std::fs::metadata(ctx.path("copied/share/lua/5.4/busted/init.lua"))
            .unwrap()
            .nlink(),
        1
    );
    assert_eq!(
        files(&linked),
        files(&ctx.path("copied")),
        "same files, contents and modes"
    );

    let work = ctx.path("work");
    std::fs::create_dir_all(work.join("spec")).unwrap();
    std::fs::write(
        work.join("spec/one_spec.lua"),
        "describe('x', function() it('adds', function() assert.are.equal(2, 1 + 1) end) it('fails', function() assert.are.equal(3, 1 + 1) end) end)\n",
    )
    .unwrap();
    let out = std::process::Command::new(linked.join("bin/busted"))
        .args(["-o", "TAP", "spec"])
        .current_dir(&work)
        .env("PYLUA_HOME", ctx.path("pylua-home"))
        .env("PYLUA", assert_cmd::cargo::cargo_bin("pylua"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        (
            text.lines().filter(|l| l.starts_with("ok ")).count(),
            text.lines().filter(|l| l.starts_with("not ok ")).count()
        ),
        (1, 1),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_package_built_from_a_rockspec_is_stored_once_and_rebuilt_when_its_sources_change() {
    let ctx = Ctx::new();
    let mut s = RockServer::new(&ctx.path("server"));
    let tarball = ctx.path("server/greet-1.0.tar.gz");
    let sources = |body: &str| common::tar_gz("greet-1.0", &[("greet.lua", body)]);
    std::fs::write(&tarball, sources("return 'hello'")).unwrap();
    // A rockspec alone on the server (as most of luarocks.org's packages are), its sources
    // fetched from their own URL.
    s.raw_rockspec(
        "greet",
        "1.0-1",
        &common::rockspec_with(
            "greet",
            "1.0-1",
            &[],
            &format!("file://{}", tarball.display()),
            "greet-1.0",
            None,
            r#"type = "builtin", modules = { greet = "greet.lua" }"#,
        ),
    );
    s.publish();
    let url = s.url();
    let install = |tree: &str| {
        ctx.install(
            tree,
            &["greet", "--link-mode", "hardlink", "--only-server", &url],
        )
    };
    for tree in ["a", "b"] {
        install(tree);
        assert_eq!(ctx.eval(tree, "return (require('greet'))"), "hello");
    }
    assert_eq!(ctx.entries().len(), 1, "{:?}", ctx.entries());
    let stored = ctx.stored("greet.lua");
    for tree in ["a", "b"] {
        let file = ctx.path(&format!("{tree}/share/lua/5.4/greet.lua"));
        assert_eq!(ino(&file), ino(&stored), "{tree} links the stored build");
    }
    // New sources behind the same rockspec are a new build; trees holding the old one keep it.
    std::fs::write(&tarball, sources("return 'bonjour'")).unwrap();
    install("c");
    assert_eq!(ctx.eval("c", "return (require('greet'))"), "bonjour");
    assert_eq!(ctx.eval("a", "return (require('greet'))"), "hello");
    assert_eq!(ctx.entries().len(), 2, "{:?}", ctx.entries());

    // A stored build edited in place through a tree's hard link is caught: the sources, left
    // packed while the entry looked usable, are unpacked and built again.
    let edited = ctx.path("c/share/lua/5.4/greet.lua");
    std::thread::sleep(std::time::Duration::from_millis(30));
    std::fs::write(&edited, "return 'EDITED'").unwrap();
    install("d");
    assert_eq!(ctx.eval("d", "return (require('greet'))"), "bonjour");
}
