//! Tests of rockspec evaluation and parsing, on real rockspecs and hostile ones.

use super::*;

const LUASOCKET: &str = r#"
package = "LuaSocket"
version = "3.1.0-1"
source = {
   url = "git+https://github.com/lunarmodules/luasocket.git",
   tag = "v3.1.0"
}
description = {
   summary = "Network support for the Lua language",
   homepage = "https://github.com/lunarmodules/luasocket",
   license = "MIT"
}
dependencies = {
   "lua >= 5.1"
}

local function make_plat(plat)
   local defines = {
      unix = { "LUASOCKET_DEBUG" },
      mingw32 = { "LUASOCKET_DEBUG", "WINVER=0x0501" },
   }
   local modules = {
      ["socket.core"] = {
         sources = { "src/luasocket.c", "src/timeout.c" },
         defines = defines[plat],
         incdir = "/src"
      },
      ["socket.http"] = "src/http.lua",
   }
   if plat == "unix" then
      modules["socket.unix"] = { sources = { "src/unix.c" }, defines = defines[plat] }
   end
   return { modules = modules }
end

build = {
   type = "builtin",
   platforms = {
      unix = make_plat("unix"),
      mingw32 = make_plat("mingw32"),
   },
   copy_directories = { "docs", "samples" }
}
"#;

#[test]
fn real_world_rockspec_with_helpers_and_platforms() {
    let r = Rockspec::parse(LUASOCKET, "luasocket-3.1.0-1.rockspec").unwrap();
    assert_eq!(r.package, "LuaSocket");
    assert_eq!(r.version.as_str(), "3.1.0-1");
    assert_eq!(r.source.tag.as_ref().map(GitRef::as_str), Some("v3.1.0"));
    assert_eq!(
        r.dependencies,
        vec![Dependency::parse("lua >= 5.1").unwrap()]
    );
    assert_eq!(r.build.build_type, BuildType::Builtin);
    assert_eq!(r.build.copy_directories, vec!["docs", "samples"]);
    assert!(
        r.build.modules.contains_key("socket.unix"),
        "unix override merged"
    );
    match &r.build.modules["socket.core"] {
        Module::C {
            sources, defines, ..
        } => {
            assert_eq!(sources, &["src/luasocket.c", "src/timeout.c"]);
            assert_eq!(defines, &["LUASOCKET_DEBUG"]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        r.build.modules["socket.http"],
        Module::Lua {
            path: RelativePath::parse("src/http.lua").unwrap()
        }
    );
}

#[test]
fn later_assignments_win_and_module_is_builtin() {
    let r = Rockspec::parse(
            r#"package = "lpeg" version = "1.1.0-1"
               source = { url = "http://old" }
               source = { url = "https://new/lpeg-1.1.0.tar.gz", md5 = "abc" }
               build = { type = "module", modules = { lpeg = { "lpcap.c", "lpcode.c", defines = { "NDEBUG" } } } }"#,
            "lpeg-1.1.0-1.rockspec",
        )
        .unwrap();
    assert_eq!(r.source.url, "https://new/lpeg-1.1.0.tar.gz");
    assert_eq!(r.build.build_type, BuildType::Builtin);
    assert_eq!(
        r.build.modules["lpeg"],
        Module::C {
            sources: vec!["lpcap.c".into(), "lpcode.c".into()],
            incdirs: vec![],
            libdirs: vec![],
            libraries: vec![],
            defines: vec!["NDEBUG".into()],
        }
    );
}

#[test]
fn platform_entries_extend_a_list() {
    let r = Rockspec::parse(
            r#"package = "p" version = "1.0-1" source = { url = "x" }
               dependencies = { "lua >= 5.1", "base", platforms = { unix = { "luaposix >= 33" }, win32 = { "winapi" } } }"#,
            "p-1.0-1.rockspec",
        )
        .unwrap();
    let names: Vec<&str> = r.dependencies.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, vec!["lua", "base", "luaposix"]);
}

#[test]
fn dependency_names_are_lower_cased_and_constraints_parsed() {
    let d = Dependency::parse("LPeg >= 1.0, < 2").unwrap();
    assert_eq!(d.name, "lpeg");
    assert_eq!(d.to_string(), "lpeg >= 1.0, < 2");
    assert!(Dependency::parse(">= 1").is_err());
}

#[test]
fn fields_too_large_to_read_are_an_error_not_a_hang() {
    const HEAD: &str = "package = 'x' version = '1.0-1' source = { url = 'u' }\n";
    // A table referred to twice per level is read 2^40 times: this hung the rockspec
    // fuzz target (a timeout), as did the same value returned by the chunk.
    let e = Rockspec::parse(
        &format!("{HEAD}local t = {{}} for i = 1, 40 do t = {{ t, t }} end build = t"),
        "x-1.0-1.rockspec",
    )
    .unwrap_err();
    assert!(e.message.contains("field 'build' is too large"), "{e}");
    let r = Rockspec::parse(
        &format!("{HEAD}local t = {{}} for i = 1, 40 do t = {{ t, t }} end return t"),
        "x-1.0-1.rockspec",
    )
    .unwrap();
    assert_eq!(r.package, "x");
    // One 1 MB string in 100000 places fits the VM's memory but not a reader's (an
    // out-of-memory in the fuzz target).
    let e = Rockspec::parse(
        &format!(
            "{HEAD}local s = ('x'):rep(1000000) description = {{ labels = {{}} }}
                 for i = 1, 100000 do description.labels[i] = s end"
        ),
        "x-1.0-1.rockspec",
    )
    .unwrap_err();
    assert!(
        e.message.contains("field 'description' is too large"),
        "{e}"
    );
    // Shared tables and cycles of ordinary size still read.
    let r = Rockspec::parse(
        &format!(
            "{HEAD}local d = {{ 'NDEBUG' }}
                 build = {{ modules = {{ a = {{ sources = {{ 'a.c' }}, defines = d }},
                                        b = {{ sources = {{ 'b.c' }}, defines = d }} }} }}
                 build.self = build"
        ),
        "x-1.0-1.rockspec",
    )
    .unwrap();
    assert_eq!(r.build.modules.len(), 2);
}

#[test]
fn hostile_names_and_paths_are_refused_naming_the_field() {
    const HEAD: &str = "package = 'foo' version = '1.0-1' ";
    let cases = [
            ("package = '../../x' version = '1.0-1' source = {url='x'}", "field 'package': package name \"../../x\""),
            ("package = '-x' version = '1.0-1' source = {url='x'}", "field 'package'"),
            ("source = {url='x'} dependencies = {'../evil >= 1'}", "field 'dependencies[1]': invalid dependency: package name \"../evil\""),
            ("source = { url = 'git+--upload-pack=touch /tmp/x;', tag = 'v1.0' }", "field 'source.url': \"git+--upload-pack=touch /tmp/x;\": unsupported git URL"),
            ("source = { url = 'git+https://h/r', tag = '--upload-pack=touch /tmp/x' }", "field 'source.tag'"),
            ("source = { url = 'git+https://h/r', branch = 'a b' }", "field 'source.branch'"),
            ("source = { url = 'x', dir = '/etc' }", "field 'source.dir': path \"/etc\""),
            ("source = { url = 'x', dir = '../..' }", "field 'source.dir'"),
            ("source = { url = 'x', file = '../x.tar.gz' }", "field 'source.file'"),
            ("source = {url='x'} build = { install = { bin = { ['../../../../../../../tmp/x'] = 'x' } } }", "field 'build.install.bin' key \"../../../../../../../tmp/x\": a path must stay inside the package (no \"..\")"),
            ("source = {url='x'} build = { install = { bin = { '../x' } } }", "field 'build.install.bin' value"),
            ("source = {url='x'} build = { install = { conf = { ['/etc/x'] = 'x' } } }", "field 'build.install.conf' key \"/etc/x\""),
            ("source = {url='x'} build = { install = { lua = { ['..x'] = 'x.lua' } } }", "field 'build.install.lua' key \"..x\""),
            ("source = {url='x'} build = { install = { lib = { ['a/b'] = 'x.so' } } }", "field 'build.install.lib' key \"a/b\""),
            ("source = {url='x'} build = { install = { share = { a = 'x' } } }", "unknown install section"),
            ("source = {url='x'} build = { modules = { ['..'] = 'x.lua' } }", "field 'build.modules' key \"..\""),
            ("source = {url='x'} build = { modules = { ['a/../../b'] = 'x.lua' } }", "field 'build.modules' key"),
            ("source = {url='x'} build = { modules = { a = '/etc/passwd' } }", "field 'build.modules[\"a\"]': path \"/etc/passwd\""),
            ("source = {url='x'} build = { copy_directories = { 'docs', '../' } }", "field 'build.copy_directories[2]'"),
        ];
    for (tail, expected) in cases {
        let source = if tail.starts_with("package") {
            tail.to_string()
        } else {
            format!("{HEAD}{tail}")
        };
        let e = Rockspec::parse(&source, "foo-1.0-1.rockspec").unwrap_err();
        assert!(
            e.to_string().starts_with("rockspec foo-1.0-1.rockspec: ")
                && e.to_string().contains(expected),
            "{tail}\n  gave: {e}\n  expected: {expected}"
        );
    }
    // Real shapes still parse, normalised.
    let r = Rockspec::parse(
            &format!("{HEAD}source = {{ url = 'https://h/foo-1.0.tar.gz', dir = './foo-1.0/' }}
                build = {{ modules = {{ ['foo.init'] = 'src/./init.lua' }},
                          install = {{ bin = {{ 'bin/foo' }}, lua = {{ ['foo.extra'] = 'extra.lua' }} }},
                          copy_directories = {{ 'docs' }} }}"),
            "foo-1.0-1.rockspec",
        )
        .unwrap();
    assert_eq!(r.source.dir.as_ref().unwrap().as_str(), "foo-1.0");
    assert_eq!(
        r.build.modules[&ModuleName::parse("foo.init").unwrap()],
        Module::Lua {
            path: RelativePath::parse("src/init.lua").unwrap()
        }
    );
    assert_eq!(
        r.build.install["bin"].keys().next().unwrap().as_str(),
        "foo"
    );
}

#[test]
fn real_rockspecs_pass_the_name_and_path_checks() {
    // The fuzz seeds hold real upstream rockspecs (penlight, lua-cjson, lpeg, …).
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/rockspec");
    let mut parsed = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let r = Rockspec::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(!r.package.is_empty());
        parsed += 1;
    }
    assert!(parsed >= 10, "{parsed}");
}

#[test]
fn invalid_rockspecs_name_the_file_and_field() {
    let cases = [
        (
            "version = '1.0-1' source = {url='x'}",
            "field 'package' is missing",
        ),
        (
            "package = 'a' source = {url='x'}",
            "field 'version' is missing",
        ),
        (
            "package = 'a' version = '1.0' source = {url='x'}",
            "needs a revision, like \"1.0-1\"",
        ),
        (
            "package = 'a' version = '1.0-1'",
            "field 'source' is missing",
        ),
        (
            "package = 'a' version = '1.0-1' source = {}",
            "field 'source.url' is missing",
        ),
        (
            "package = 'a' version = '1.0-1' source = {url='x'} dependencies = {'>= 1'}",
            "field 'dependencies[1]'",
        ),
        (
            "package = {} version = '1.0-1' source = {url='x'}",
            "field 'package' must be a string, not a table",
        ),
        (
            "package = 'a' version = '1.0-1' source = {url='x'} build = { modules = { m = 5 } }",
            "build.modules[\"m\"]",
        ),
        ("package = = 'a'", "syntax error: a-1.0-1.rockspec:1:"),
        ("error('nope')", "nope"),
        (
            "os.execute('touch /tmp/pwned')",
            "attempt to call a nil value",
        ),
        ("while true do end", "limit exceeded"),
        (
            "local t = {} while true do t[#t+1] = {} end",
            "memory limit exceeded",
        ),
    ];
    for (source, expected) in cases {
        let e = Rockspec::parse(source, "a-1.0-1.rockspec").unwrap_err();
        assert_eq!(e.file, "a-1.0-1.rockspec");
        assert!(
            e.to_string().contains(expected),
            "{source}\n  gave: {e}\n  expected: {expected}"
        );
    }
}
