//! Tests of the manifest parser and merge.

use super::lexical::push_utf8;
use super::*;

fn parse(text: &str) -> ServerManifest {
    match ServerManifest::parse(text) {
        Ok(m) => m,
        Err(e) => panic!("{e}\n--- in ---\n{text}"),
    }
}

fn err(text: &str) -> String {
    match ServerManifest::parse(text) {
        Ok(m) => panic!("parsed: {m:?}\n--- from ---\n{text}"),
        Err(e) => e.to_string(),
    }
}

fn err_bytes(bytes: &[u8]) -> String {
    ServerManifest::parse_bytes(bytes).unwrap_err().to_string()
}

fn archs<'m>(m: &'m ServerManifest, package: &str, version: &str) -> Vec<&'m str> {
    m.repository[package][version]
        .iter()
        .map(String::as_str)
        .collect()
}

/// The items of `modules = { … }`, for checking values.
fn items(text: &str) -> Vec<Value> {
    let m = parse(&format!("repository = {{}}\nmodules = {{ {text} }}"));
    m.modules.expect("modules is a table").items
}

fn strings(text: &str) -> Vec<String> {
    items(text)
        .into_iter()
        .map(|v| match v {
            Value::String(s) => s,
            other => panic!("not a string: {other:?}"),
        })
        .collect()
}

/// Laid out as luarocks.org serves it.
const SERVER: &str = r#"commands = {}
modules = {}
repository = {
   ["lua-cjson"] = {
      ["2.1.0-1"] = {
         {
            arch = "rockspec"
         },
         {
            arch = "src"
         }
      },
      ["2.1.0.10-1"] = {
         {
            arch = "rockspec"
         }
      }
   },
   luasocket = {
      ["3.0rc1-2"] = {
         {
            arch = "rockspec"
         },
         {
            arch = "src"
         },
         {
            arch = "win32-x86"
         }
      },
      ["scm-3"] = {
         {
            arch = "rockspec"
         }
      }
   },
   penlight = {
      ["1.13.1-1"] = {
         {
            arch = "all"
         },
         {
            arch = "rockspec"
         }
      }
   }
}
"#;

#[test]
fn reads_a_server_manifest() {
    let m = parse(SERVER);
    let mut expected: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    let mut add = |p: &str, v: &str, a: &[&str]| {
        expected
            .entry(p.to_string())
            .or_default()
            .insert(v.to_string(), a.iter().map(|s| s.to_string()).collect());
    };
    add("lua-cjson", "2.1.0-1", &["rockspec", "src"]);
    add("lua-cjson", "2.1.0.10-1", &["rockspec"]);
    add("luasocket", "3.0rc1-2", &["rockspec", "src", "win32-x86"]);
    add("luasocket", "scm-3", &["rockspec"]);
    add("penlight", "1.13.1-1", &["all", "rockspec"]);
    assert_eq!(m.repository, expected);
    assert_eq!(m.modules, Some(Table::default()));
    assert_eq!(m.commands, Some(Table::default()));
    assert_eq!(m.dependencies, None);
    assert!(m.entry_fields.is_empty());
    assert_eq!(m.version_count(), 5);
    assert_eq!(ServerManifest::parse_bytes(SERVER.as_bytes()), Ok(m));
}

#[test]
fn reads_the_versioned_form() {
    // manifest-5.1 / manifest-5.4: the same shape, globals in any order, compact layout.
    let text = r#"repository = {
   lpeg = {
      ["1.0.2-1"] = {
         {
            arch = "rockspec"
         },
         {
            arch = "src"
         },
         {
            arch = "linux-x86_64"
         }
      }
   },
   ["lua-resty-http"] = { ["0.17.1-0"] = { { arch = "rockspec" }, { arch = "src" } } },
}
modules = {
}
commands = {
}
"#;
    let m = parse(text);
    assert_eq!(
        archs(&m, "lpeg", "1.0.2-1"),
        ["rockspec", "src", "linux-x86_64"]
    );
    assert_eq!(archs(&m, "lua-resty-http", "0.17.1-0"), ["rockspec", "src"]);
    assert_eq!(m.repository.len(), 2);
}

#[test]
fn keeps_the_fields_of_old_and_rocks_tree_manifests() {
    let text = r#"commands = {
   luacheck = {
      "luacheck/0.26.1-1"
   }
}
dependencies = {
   luacheck = {
      ["0.26.1-1"] = {
         {
            constraints = {
               {
                  op = ">=",
                  version = {
                     5, 1, string = "5.1"
                  }
               }
            },
            name = "lua"
         }
      }
   }
}
modules = {
   ["luacheck.builtin_standards"] = {
      "luacheck/0.26.1-1"
   }
}
repository = {
   luacheck = {
      ["0.26.1-1"] = {
         {
            arch = "installed",
            commands = {
               luacheck = "luacheck"
            },
            dependencies = {
               argparse = "0.7.1-1",
               luafilesystem = "1.8.0-1"
            },
            modules = {
               ["luacheck.builtin_standards"] = "luacheck/builtin_standards/init.lua"
            }
         }
      }
   }
}
"#;
    let m = parse(text);
    assert_eq!(archs(&m, "luacheck", "0.26.1-1"), ["installed"]);
    let fields = m.fields("luacheck", "0.26.1-1", "installed").unwrap();
    let deps = fields
        .get("dependencies")
        .and_then(Value::as_table)
        .unwrap();
    assert_eq!(deps.get("argparse"), Some(&Value::String("0.7.1-1".into())));
    let modules = fields.get("modules").and_then(Value::as_table).unwrap();
    assert_eq!(
        modules
            .get("luacheck.builtin_standards")
            .and_then(Value::as_str),
        Some("luacheck/builtin_standards/init.lua")
    );
    assert_eq!(m.fields("luacheck", "0.26.1-1", "src"), None);
    assert_eq!(m.fields("luacheck", "0.26.0-1", "installed"), None);

    let top = m.dependencies.as_ref().unwrap();
    let version = top.get("luacheck").and_then(Value::as_table).unwrap();
    let rocks = version.get("0.26.1-1").and_then(Value::as_table).unwrap();
    let lua = rocks.items[0].as_table().unwrap();
    assert_eq!(lua.get("name").and_then(Value::as_str), Some("lua"));
    let constraint = lua
        .get("constraints")
        .and_then(Value::as_table)
        .unwrap()
        .items[0]
        .as_table()
        .unwrap();
    let v = constraint.get("version").and_then(Value::as_table).unwrap();
    assert_eq!(v.items, [Value::Integer(5), Value::Integer(1)]);
    assert_eq!(v.get("string").and_then(Value::as_str), Some("5.1"));
    let commands = m.commands.as_ref().unwrap();
    assert_eq!(
        commands
            .get("luacheck")
            .and_then(Value::as_table)
            .unwrap()
            .items,
        [Value::String("luacheck/0.26.1-1".into())]
    );
    assert!(m
        .modules
        .as_ref()
        .unwrap()
        .get("luacheck.builtin_standards")
        .is_some());
}

#[test]
fn reads_every_string_form() {
    let got = strings(
        r#""double", 'single', "it's", 'say "hi"', "",
               "a\tb\nc\\d\"e\'f", "\a\b\f\v\r", "\65\066\0677", "\x41\x6a\x6A",
               "\u{48}\u{20AC}\u{1F600}\u{0}", "a\z
                     b", "one\
two", [[long]], [==[with ]] and ]=] inside]==], [[
first line break skipped]], [=[
]=], [[]]"#,
    );
    assert_eq!(
        got,
        [
            "double",
            "single",
            "it's",
            "say \"hi\"",
            "",
            "a\tb\nc\\d\"e'f",
            "\x07\x08\x0c\x0b\r",
            "ABC7",
            "Ajj",
            "H\u{20ac}\u{1f600}\0",
            "ab",
            "one\ntwo",
            "long",
            "with ]] and ]=] inside",
            "first line break skipped",
            "",
            "",
        ]
    );
}

#[test]
fn line_breaks_in_long_strings_and_escapes_read_as_newlines() {
    let m = ServerManifest::parse_bytes(
        b"repository = {}\nmodules = { [[a\r\nb\rc\n\rd\n\ne]], \"x\\\r\ny\" }",
    )
    .unwrap();
    assert_eq!(
        m.modules.unwrap().items,
        [
            Value::String("a\nb\nc\nd\n\ne".into()),
            Value::String("x\ny".into())
        ]
    );
}

#[test]
fn skips_comments() {
    let text = "-- LuaRocks manifest\n\
            --[[ a block\n comment ]] commands = {} --[==[ with ]] and ]=] ]==]\n\
            --[ not a long comment: runs to the end of the line {{{\n\
            --[=x neither\n\
            repository = { -- packages\n\
               lpeg --[[ name ]] = --[[ value ]] { [\"1.0-1\"] = { { arch -- key\n = \"src\" } } },\n\
            }\n\
            -- no line break at the end";
    let m = parse(text);
    assert_eq!(archs(&m, "lpeg", "1.0-1"), ["src"]);
    // A comment ending the input right after its dashes.
    assert!(ServerManifest::parse("repository = {}--").is_ok());
    assert!(ServerManifest::parse("repository = {}--[[x]]").is_ok());
}

#[test]
fn reads_numbers_and_literals() {
    let got = items(
        "1, -2, 3.5, 1e3, 2E-2, .5, 5., 0x10, 0XfF, 0xA.8p1, 0x1p-2, -0x10, - 7, \
             9223372036854775807, 9223372036854775808, 0xffffffffffffffff, true, false, nil",
    );
    assert_eq!(
        got,
        [
            Value::Integer(1),
            Value::Integer(-2),
            Value::Float(3.5),
            Value::Float(1000.0),
            Value::Float(0.02),
            Value::Float(0.5),
            Value::Float(5.0),
            Value::Integer(16),
            Value::Integer(255),
            Value::Float(21.0),
            Value::Float(0.25),
            Value::Integer(-16),
            Value::Integer(-7),
            Value::Integer(i64::MAX),
            Value::Float(9223372036854775808.0),
            Value::Integer(-1),
            Value::Boolean(true),
            Value::Boolean(false),
            Value::Nil,
        ]
    );
    let m = parse("repository = {}\nmodules = { [1] = 'one', [true] = 2, ['k'] = 3, k2 = {}, [ [[l]] ] = 4, [2.5] = 5 }");
    let t = m.modules.unwrap();
    assert!(t.items.is_empty());
    assert_eq!(
        t.fields,
        [
            (Value::Integer(1), Value::String("one".into())),
            (Value::Boolean(true), Value::Integer(2)),
            (Value::String("k".into()), Value::Integer(3)),
            (Value::String("k2".into()), Value::Table(Table::default())),
            (Value::String("l".into()), Value::Integer(4)),
            (Value::Float(2.5), Value::Integer(5)),
        ]
    );
    assert_eq!(t.get("k"), Some(&Value::Integer(3)));
    assert_eq!(t.get("l"), Some(&Value::Integer(4)));
}

#[test]
fn accepts_either_separator_and_trailing_ones() {
    let m = parse(
        "; repository = { a = { ['1.0-1'] = { { arch = 'src' }; { arch = 'all', }; }; }; \
             b = {}, c = { ['2-1'] = {} } };;",
    );
    assert_eq!(archs(&m, "a", "1.0-1"), ["src", "all"]);
    assert!(m.repository["b"].is_empty());
    assert!(m.repository["c"]["2-1"].is_empty());
    // An entry list written with explicit indices; other keys there are ignored.
    let m = parse(
        "repository = { a = { ['1-1'] = { [1] = { arch = 'src' }, n = 1, { arch = 'all' } } } }",
    );
    assert_eq!(archs(&m, "a", "1-1"), ["src", "all"]);
}

#[test]
fn ignores_unknown_globals() {
    let m = parse(
        "format = '3.0'\nfoo = { bar = { 1, 2, { 'x' } }, [10] = true }\n\
             repository = { a = { ['1-1'] = { { arch = 'src' } } } }\nlast = -1.5\n",
    );
    assert_eq!(archs(&m, "a", "1-1"), ["src"]);
    // ... but they must still be well-formed.
    assert_eq!(
        err("foo = { 1 2 }\nrepository = {}"),
        "manifest line 1, column 11: expected ',' or '}' after table entry, found number 2"
    );
}

#[test]
fn later_assignments_win_as_in_lua() {
    let m = parse(
        "repository = { gone = {} }\nrepository = {\n a = { ['1-1'] = { { arch = 'src' } } },\n \
             b = { ['1-1'] = { { arch = 'src' } }, ['1-1'] = { { arch = 'all' } } },\n \
             a = { ['2-1'] = { { arch = 'rockspec', modules = {} } } },\n}",
    );
    assert_eq!(m.repository.keys().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(m.repository["a"].keys().collect::<Vec<_>>(), ["2-1"]);
    assert_eq!(archs(&m, "b", "1-1"), ["all"]);
    assert!(m.fields("a", "2-1", "rockspec").is_some());
    // A later entry without extra fields drops the earlier one's.
    let m = parse(
        "repository = { a = { ['1-1'] = { { arch = 'src', modules = {} } } }, \
             a = { ['1-1'] = { { arch = 'src' } } } }",
    );
    assert!(m.entry_fields.is_empty());
    let m = parse("repository = { a = { ['1-1'] = { { arch = 'src', x = 1 } }, ['1-1'] = { { arch = 'src' } } } }");
    assert!(m.entry_fields.is_empty());
}

#[test]
fn a_manifest_without_repository_is_an_error() {
    for text in [
        "",
        "commands = {}\nmodules = {}\n",
        "-- nothing\n",
        "\u{feff}",
    ] {
        assert_eq!(err(text), "manifest has no 'repository' table");
        assert_eq!(
            ServerManifest::parse(text).unwrap_err(),
            ManifestError::MissingRepository
        );
    }
}

#[test]
fn skips_a_byte_order_mark_and_a_first_line_starting_with_hash() {
    let m = ServerManifest::parse_bytes(b"\xEF\xBB\xBFrepository = { a = {} }").unwrap();
    assert!(m.repository.contains_key("a"));
    let m = parse("#!/usr/bin/env lua\nrepository = { a = {} }");
    assert!(m.repository.contains_key("a"));
    assert_eq!(
            err("repository = {}\n#x"),
            "manifest line 2, column 1: expected a global assignment such as 'repository = {', found '#'"
        );
}

#[test]
fn malformed_input_is_reported_with_position_and_expectation() {
    let cases: &[(&str, &str)] = &[
            (
                "repository = {\n   luasocket = {\n      [\"3.0-1\"] = {\n         { arch = \"src\" }\n      }\n   }\n   lpeg = {}\n}",
                "manifest line 7, column 4: expected ',' or '}' after table entry, found 'lpeg'",
            ),
            (
                "repository = { luasocket }",
                "manifest line 1, column 26: expected '=' after key 'luasocket', found '}'",
            ),
            (
                "repository = { [\"a\" = {} }",
                "manifest line 1, column 21: expected ']' after table key, found '='",
            ),
            (
                "repository = { [\"a\"] {} }",
                "manifest line 1, column 22: expected '=' after table key, found '{'",
            ),
            (
                "repository = \"x\"",
                "manifest line 1, column 14: expected a table after 'repository =', found string \"x\"",
            ),
            (
                "repository = { \"a\" }",
                "manifest line 1, column 16: expected a package name as key in 'repository', found string \"a\"",
            ),
            (
                "repository = { [1] = {} }",
                "manifest line 1, column 16: expected a package name as key in 'repository', found '['",
            ),
            (
                "repository = { a = 1 }",
                "manifest line 1, column 20: expected a table of versions for package 'a', found number 1",
            ),
            (
                "repository = { a = @ }",
                "manifest line 1, column 20: expected a table of versions for package 'a', found '@'",
            ),
            (
                "repository = { a = { [1] = {} } }",
                "manifest line 1, column 22: expected a version as key in package 'a', found '['",
            ),
            (
                "repository = { a = { ['1-1'] = 'src' } }",
                "manifest line 1, column 32: expected a table of rocks for a 1-1, found string 'src'",
            ),
            (
                "repository = { a = { ['1-1'] = { 'src' } } }",
                "manifest line 1, column 34: expected a table with an 'arch' field for a 1-1, found string 'src'",
            ),
            (
                "repository = { a = { ['1-1'] = { { arch = 5 } } } }",
                "manifest line 1, column 43: expected a string for 'arch' of a 1-1, found number 5",
            ),
            (
                "repository = {\n a = { ['1-1'] = {\n   { name = 'x' } } } }",
                "manifest line 3, column 4: entry of a 1-1 has no 'arch' field",
            ),
            (
                "repository = { [\"a] = {} }\n",
                "manifest line 1, column 17: unfinished string (missing its closing quote)",
            ),
            (
                "repository = { a = { ['1-1'] = { { arch = 'src\\q' } } } }",
                "manifest line 1, column 47: invalid escape sequence '\\q' in string",
            ),
            (
                "modules = { \"\\256\" }",
                "manifest line 1, column 14: decimal escape too large (above \\255)",
            ),
            (
                "modules = { \"ab\\xZZ\" }",
                "manifest line 1, column 16: hexadecimal digit expected in '\\x' escape",
            ),
            (
                "modules = { \"\\x4\" }",
                "manifest line 1, column 14: hexadecimal digit expected in '\\x' escape",
            ),
            (
                "modules = { \"\\u{80000000}\" }",
                "manifest line 1, column 14: UTF-8 value too large in '\\u' escape",
            ),
            (
                "modules = { \"\\u48\" }",
                "manifest line 1, column 14: missing '{' in '\\u{XXXX}' escape",
            ),
            (
                "modules = { \"\\u{48\" }",
                "manifest line 1, column 14: missing '}' in '\\u{XXXX}' escape",
            ),
            (
                "modules = { \"\\u{}\" }",
                "manifest line 1, column 14: hexadecimal digit expected in '\\u' escape",
            ),
            (
                "modules = { [==[ abc ]=] }",
                "manifest line 1, column 13: unfinished long string (missing its closing bracket)",
            ),
            (
                "modules = { [=x }",
                "manifest line 1, column 13: invalid long string delimiter",
            ),
            (
                "repository = {}\n--[==[ never\nclosed ]]",
                "manifest line 2, column 1: unfinished long comment (missing its closing bracket)",
            ),
            ("modules = { @ }", "manifest line 1, column 13: expected a value, found '@'"),
            ("modules = { x = y }", "manifest line 1, column 17: expected a value, found 'y'"),
            ("modules = { 1.2.3 }", "manifest line 1, column 13: malformed number '1.2.3'"),
            ("modules = { 3x }", "manifest line 1, column 13: malformed number '3x'"),
            ("modules = { 0x }", "manifest line 1, column 13: malformed number '0x'"),
            ("modules = { 1e }", "manifest line 1, column 13: malformed number '1e'"),
            (
                "modules = { - \"a\" }",
                "manifest line 1, column 13: expected a number after '-', found string \"a\"",
            ),
            ("modules = { [ }", "manifest line 1, column 15: expected a value, found '}'"),
            ("modules = ", "manifest line 1, column 11: expected a value, found end of input"),
            (
                "{}",
                "manifest line 1, column 1: expected a global assignment such as 'repository = {', found '{'",
            ),
            (
                "repository {}",
                "manifest line 1, column 12: expected '=' after 'repository', found '{'",
            ),
            ("return {}", "manifest line 1, column 8: expected '=' after 'return', found '{'"),
            (
                "repository = {}\nmodules = { 'é', \"x\" é }",
                "manifest line 2, column 22: expected ',' or '}' after table entry, found byte 0xC3",
            ),
            (
                "repository = { é = {} }",
                "manifest line 1, column 16: expected a package name as key in 'repository', found byte 0xC3",
            ),
            (
                "repository = {}\r\nmodules = {\r\n\r\n  ? }",
                "manifest line 4, column 3: expected a value, found '?'",
            ),
        ];
    for (text, message) in cases {
        assert_eq!(&err(text), message, "for {text:?}");
    }
}

#[test]
fn truncated_input_is_an_error_never_a_panic() {
    let bytes = SERVER.as_bytes();
    let complete = SERVER.trim_end().len();
    for n in 0..bytes.len() {
        let result = ServerManifest::parse_bytes(&bytes[..n]);
        assert_eq!(
            result.is_ok(),
            n >= complete,
            "prefix of {n} bytes: {result:?}"
        );
    }
    // Cut inside the entries of "2.1.0-1" (the table opened at line 5, column 19).
    let cut = SERVER.find("arch = \"src\"").unwrap() + "arch = \"src\"".len();
    assert_eq!(
            err(&SERVER[..cut]),
            "manifest line 10, column 25: expected '}' to close the table opened at line 9, column 10, found end of input"
        );
    assert_eq!(
        err(&SERVER[..cut - 1]),
        "manifest line 10, column 20: unfinished string (missing its closing quote)"
    );
    assert_eq!(
        err("repository = { a = { ['1-1'] = { { arch = "),
        "manifest line 1, column 43: expected a string for 'arch' of a 1-1, found end of input"
    );
    assert_eq!(
        err("repository = { a"),
        "manifest line 1, column 17: expected '=' after key 'a', found end of input"
    );
}

fn nested(levels: usize) -> String {
    format!(
        "repository = {{}}\nmodules = {}{}",
        "{".repeat(levels),
        "}".repeat(levels)
    )
}

#[test]
fn limits_nesting_depth() {
    assert!(ServerManifest::parse(&nested(MAX_DEPTH)).is_ok());
    assert_eq!(
        err(&nested(MAX_DEPTH + 1)),
        "manifest line 2, column 75: tables nested deeper than 64 levels"
    );
    // Far deeper input fails just as fast, without exhausting the stack.
    let e = ServerManifest::parse(&nested(1_000_000)).unwrap_err();
    assert_eq!(
        e,
        ManifestError::TooDeep {
            line: 2,
            column: 75,
            limit: MAX_DEPTH
        }
    );
    assert_eq!(e.position(), Some((2, 75)));
    // The repository levels count too: 4 of them, then fields of an entry.
    let deep = |n: usize| {
        format!(
            "repository = {{ a = {{ ['1-1'] = {{ {{ arch = 'src', modules = {}1{} }} }} }} }}",
            "{".repeat(n),
            "}".repeat(n)
        )
    };
    assert!(ServerManifest::parse(&deep(MAX_DEPTH - 4)).is_ok());
    assert!(matches!(
        ServerManifest::parse(&deep(MAX_DEPTH - 3)),
        Err(ManifestError::TooDeep { .. })
    ));
    // Deep keys are tables too.
    let keys = format!(
        "repository = {{}} modules = {{ {}1{} }}",
        "[{".repeat(100),
        "}] = 1".repeat(100)
    );
    assert!(matches!(
        ServerManifest::parse(&keys),
        Err(ManifestError::TooDeep { .. })
    ));
}

#[test]
fn non_utf8_bytes_in_strings_are_replaced() {
    let m = ServerManifest::parse_bytes(
            b"repository = { [\"caf\xE9\"] = { [\"1.0-1\"] = { { arch = \"src\xFF\" } } } }\n\
              modules = { '\\xE9t\\xE9', \"\\u{D800}\", \"\\u{7FFFFFFF}\", [[\xC3\xA9\xC3]], \"\xC3\xA9\" }",
        )
        .unwrap();
    assert_eq!(archs(&m, "caf\u{FFFD}", "1.0-1"), ["src\u{FFFD}"]);
    let got: Vec<String> = m
        .modules
        .unwrap()
        .items
        .into_iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(got[0], "\u{FFFD}t\u{FFFD}");
    assert!(got[1].chars().all(|c| c == '\u{FFFD}') && !got[1].is_empty());
    assert!(got[2].chars().all(|c| c == '\u{FFFD}') && !got[2].is_empty());
    assert_eq!(got[3], "é\u{FFFD}");
    assert_eq!(got[4], "é");
    // Outside strings such bytes are errors.
    assert_eq!(
            err_bytes(b"repository = {}\n\xFF"),
            "manifest line 2, column 1: expected a global assignment such as 'repository = {', found byte 0xFF"
        );
    // The column counts characters, so a broken one counts as one.
    assert_eq!(
        err_bytes(b"modules = { '\xE9\xE9', @ }"),
        "manifest line 1, column 19: expected a value, found '@'"
    );
}

#[test]
fn extended_utf8_escapes_match_lua() {
    let mut out = Vec::new();
    for x in [
        0x7f, 0x80, 0x7ff, 0x800, 0xffff, 0x10000, 0x10ffff, 0x1fffff, 0x200000, 0x3ffffff,
        0x4000000, 0x7fffffff,
    ] {
        out.clear();
        push_utf8(&mut out, x);
        if let Some(c) = char::from_u32(x) {
            assert_eq!(out, c.to_string().as_bytes(), "{x:#x}");
        }
        // Decoding the pattern gives the value back.
        let len = out.len();
        let mut v = if len == 1 {
            out[0] as u32
        } else {
            (out[0] & (0x7f >> len)) as u32
        };
        for b in &out[1..] {
            assert_eq!(b & 0xc0, 0x80);
            v = (v << 6) | (b & 0x3f) as u32;
        }
        assert_eq!(v, x, "{x:#x} -> {out:x?}");
    }
    out.clear();
    push_utf8(&mut out, 0x7fffffff);
    assert_eq!(out, [0xfd, 0xbf, 0xbf, 0xbf, 0xbf, 0xbf]);
}

/// Random edits of a valid manifest: every outcome is a result, never a panic or a hang.
#[test]
fn mangled_input_never_panics() {
    let base = format!(
        "{SERVER}\nextra = {{ 'a\\tb', [[x]], --[==[c]==] 0x1p4, -3, {{ k = {{ true }} }} }}\n"
    );
    let alphabet: &[u8] = b"{}[]=,;\"'\\-\n\r azZ_09.xpe#\x00\xff\xc3";
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..3_000 {
        let mut bytes = base.as_bytes().to_vec();
        for _ in 0..1 + next() % 4 {
            let at = (next() % bytes.len() as u64) as usize;
            let b = alphabet[(next() % alphabet.len() as u64) as usize];
            match next() % 3 {
                0 => bytes[at] = b,
                1 => bytes.insert(at, b),
                _ => {
                    bytes.remove(at);
                }
            }
        }
        if let Err(e) = ServerManifest::parse_bytes(&bytes) {
            assert!(e.to_string().starts_with("manifest "), "{e}");
        }
    }
}

#[test]
fn finds_packages_without_regard_to_case() {
    let m = parse("repository = { LuaSocket = { ['2.0-1'] = {} }, lpeg = { ['1-1'] = {} } }");
    assert_eq!(
        m.find_package("luasocket").map(|(n, _)| n),
        Some("LuaSocket")
    );
    assert_eq!(m.find_package("LPEG").map(|(n, _)| n), Some("lpeg"));
    assert_eq!(m.find_package("lpeg").map(|(_, v)| v.len()), Some(1));
    assert!(m.find_package("lfs").is_none());
}

#[test]
fn merges_servers_in_priority_order() {
    let first = parse(
            "repository = { luasocket = { ['3.1.0-1'] = { { arch = 'rockspec' }, { arch = 'src' } } }, \
             lpeg = { ['1.1.0-1'] = { { arch = 'src' } } } }",
        );
    let second = parse(
            "repository = { LuaSocket = { ['3.1.0-1'] = { { arch = 'all' } }, ['2.0.2-6'] = { { arch = 'src' } } }, \
             Penlight = { ['1.5.4-1'] = { { arch = 'all' } } } }",
        );
    let third = parse("repository = { penlight = { ['1.5.4-1'] = { { arch = 'src' } }, ['1.14.0-1'] = { { arch = 'all' } } } }");
    let merged = ServerManifest::merge([
        ("https://luarocks.org".to_string(), first),
        ("https://mirror.example/rocks".to_string(), second),
        ("file:///srv/rocks".to_string(), third),
    ]);
    assert_eq!(
        merged.servers(),
        [
            "https://luarocks.org",
            "https://mirror.example/rocks",
            "file:///srv/rocks"
        ]
    );
    assert_eq!(merged.package_count(), 3);
    assert_eq!(merged.version_count(), 5);
    assert!(!merged.is_empty());

    let sock = merged.package("LUASOCKET").unwrap();
    assert_eq!(sock.name, "luasocket");
    assert_eq!(sock.versions["3.1.0-1"].archs, ["rockspec", "src"]);
    assert_eq!(sock.versions["3.1.0-1"].server, 0);
    assert_eq!(&*sock.versions["2.0.2-6"].name, "LuaSocket");
    assert_eq!(
        merged.server(sock.versions["2.0.2-6"].server),
        "https://mirror.example/rocks"
    );
    assert!(merged.package("lfs").is_none());

    let entries: Vec<(&str, &str, Vec<&str>, &str, usize)> = merged
        .entries()
        .map(|e| {
            (
                e.package,
                e.version,
                e.archs.iter().map(String::as_str).collect(),
                e.server,
                e.server_index,
            )
        })
        .collect();
    assert_eq!(
        entries,
        [
            ("lpeg", "1.1.0-1", vec!["src"], "https://luarocks.org", 0),
            (
                "LuaSocket",
                "2.0.2-6",
                vec!["src"],
                "https://mirror.example/rocks",
                1
            ),
            (
                "luasocket",
                "3.1.0-1",
                vec!["rockspec", "src"],
                "https://luarocks.org",
                0
            ),
            ("penlight", "1.14.0-1", vec!["all"], "file:///srv/rocks", 2),
            (
                "Penlight",
                "1.5.4-1",
                vec!["all"],
                "https://mirror.example/rocks",
                1
            ),
        ]
    );
    let names: Vec<&str> = merged.packages().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["lpeg", "luasocket", "Penlight"]);
    assert!(ServerManifest::merge(Vec::new()).is_empty());
}

#[test]
fn synthetic_manifests_are_deterministic_and_parse() {
    let a = synthetic(300, 9);
    assert_eq!(a, synthetic(300, 9));
    assert_ne!(a, synthetic(300, 10));
    let m = parse(&a);
    assert_eq!(m.repository.len(), 300);
    assert!(m.version_count() > 2_000, "{}", m.version_count());
    assert!(!m.entry_fields.is_empty());
    assert!(a.contains("[\"scm-1\"]") && a.contains("arch = \"all\""));
    assert!(m.repository.keys().any(|k| k.contains('-')));
}

#[test]
fn the_benchmark_manifest_has_luarocks_org_scale() {
    let text = synthetic(SYNTHETIC_PACKAGES, 1);
    let m = parse(&text);
    assert!(m.repository.len() >= 5_000);
    assert!(m.version_count() >= 50_000, "{}", m.version_count());
    assert!(
        (8_000_000..11_000_000).contains(&text.len()),
        "{}",
        text.len()
    );
    let archs: std::collections::BTreeSet<&str> = m
        .repository
        .values()
        .flat_map(|v| v.values())
        .flatten()
        .map(String::as_str)
        .collect();
    for arch in ["rockspec", "src", "all", "linux-x86_64"] {
        assert!(archs.contains(arch), "{arch}");
    }
}
