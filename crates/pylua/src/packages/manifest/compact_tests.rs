//! Tests of the compact index: round trips against the manifest they come from (the way the
//! index was built before it existed is the oracle), and damaged or hostile buffers.

use super::*;
use crate::packages::manifest::ServerManifest;
use crate::packages::version::Version;
use std::collections::BTreeMap;

/// Lower-cased name → (name as written, version, archs), newest first.
type Listing = Vec<(String, Vec<(String, String, Vec<String>)>)>;

/// What the index must hold, computed the way the index was built before it existed:
/// merge, parse the versions, keep one of equal versions, newest first.
fn expected(manifest: &ServerManifest) -> Listing {
    let merged = ServerManifest::merge([("s".to_string(), manifest.clone())]);
    type Found = Vec<(Version, String, String, Vec<String>)>;
    let mut out: BTreeMap<String, Found> = BTreeMap::new();
    for e in merged.entries() {
        let Ok(version) = Version::parse(e.version) else {
            continue;
        };
        let list = out.entry(e.package.to_ascii_lowercase()).or_default();
        if list.iter().any(|(v, ..)| *v == version) {
            continue;
        }
        list.push((
            version,
            e.package.to_string(),
            e.version.to_string(),
            e.archs.to_vec(),
        ));
    }
    out.into_iter()
        .map(|(name, mut list)| {
            list.sort_by(|a, b| b.0.cmp(&a.0));
            let list = list.into_iter().map(|(_, n, v, a)| (n, v, a)).collect();
            (name, list)
        })
        .collect()
}

fn contents(index: &CompactIndex) -> Listing {
    (0..index.package_count())
        .map(|i| {
            let versions = index
                .versions(i)
                .map(|v| {
                    let archs = v.archs().map(String::from).collect();
                    (v.name.to_string(), v.version.to_string(), archs)
                })
                .collect();
            (index.package_name(i).to_string(), versions)
        })
        .collect()
}

/// Builds, writes out and reads back; the result must hold what the manifest says.
fn round_trip(text: &[u8]) -> CompactIndex {
    let manifest = ServerManifest::parse_bytes(text).unwrap();
    let sha = [7; 32];
    let built = CompactIndex::build(&manifest, &sha);
    let lean = CompactIndex::build_from_text(text, &sha).unwrap();
    assert_eq!(
        lean.as_bytes(),
        built.as_bytes(),
        "the lean reading builds the same"
    );
    let read = CompactIndex::from_bytes(built.as_bytes().to_vec(), Some(&sha)).unwrap();
    assert_eq!(contents(&read), expected(&manifest));
    assert_eq!(read.source_sha256(), &sha[..]);
    for (i, name) in read.package_names().enumerate() {
        assert_eq!(read.find(name), Some(i));
    }
    read
}

/// Recomputes the checksum after a deliberate change, so the structural checks are what
/// is tested.
fn reseal(bytes: &mut [u8]) {
    let sum = checksum(&bytes[HEADER..]);
    bytes[64..72].copy_from_slice(&sum.to_le_bytes());
}

const SMALL: &str = r#"
    repository = {
       ["lua-cjson"] = { ["2.1.0-1"] = { { arch = "src" }, { arch = "rockspec" } },
                         ["2.1.0.10-1"] = { { arch = "rockspec" } } },
       LuaSocket = { ["3.0-1"] = { { arch = "src" } }, ["3.0.0-1"] = { { arch = "all" } } },
       luasocket = { ["3.1.0-1"] = { { arch = "src" }, { arch = "x-ä" } }, ["3.0-1"] = { { arch = "rockspec" } } },
       ["../evil"] = { ["1.0-1"] = { { arch = "src" } } },
       odd = { ["not a version"] = { { arch = "src" } } },
       ["ünï"] = { ["1.0-1"] = { { arch = "linux-x86_64" } } },
    }
"#;

#[test]
fn round_trip_small_with_spellings_duplicates_and_bad_entries() {
    let index = round_trip(SMALL.as_bytes());
    let names: Vec<&str> = index.package_names().collect();
    assert_eq!(names, ["lua-cjson", "luasocket"]);
    let sock: Vec<(&str, &str)> = index
        .versions(index.find("luasocket").unwrap())
        .map(|v| (v.name, v.version))
        .collect();
    assert_eq!(sock, [("luasocket", "3.1.0-1"), ("LuaSocket", "3.0-1")]);
    assert_eq!(index.find("nosuch"), None);
}

#[test]
fn the_lean_reading_agrees_on_duplicates_escapes_and_errors() {
    let text = concat!(
        "# a shebang line\n",
        "commands = {} modules = { x = { 'y' } }\n",
        "repository = { old = { ['1.0-1'] = { { arch = 'src' } } } }\n",
        "repository = {\n",
        "  a = { ['1.0-1'] = { { arch = 'src' } }, ['1.0-1'] = { { arch = 'all' } } },\n",
        "  a = { ['2.0-1'] = { { arch = [[rockspec]] } }, ['0.9-1'] = { [1] = { arch = 'src' } } },\n",
        "  [\"b\\x41\"] = { ['1.0-1'] = { { arch = 'src', modules = { m = 'm.lua' } }, n = 3 } },\n",
        "  c = { ['1.0-1'] = { { arch = '\\u{e4}\\255' } } },\n",
        "  [\"d\\255\"] = { ['1.0-1'] = { { arch = 'src' } } },\n",
        "}\n",
    );
    let index = round_trip(text.as_bytes());
    let names: Vec<&str> = index.package_names().collect();
    assert_eq!(names, ["a", "ba", "c"]);
    let a: Vec<&str> = index.versions(0).map(|v| v.version).collect();
    assert_eq!(a, ["2.0-1", "0.9-1"], "the second `a` replaces the first");
    for bad in [
        "repository = { a = { ['1.0-1'] = { { } } } }",
        "repository = { a = { ['1.0-1'] = { 'src' } } }",
        "repository = { [1] = {} }",
        "repository = { a = 1 }",
        "repository = { a = {",
        "modules = {}",
        "repository = { a = { ['1.0-1'] = { { arch = 'src' } } } } x",
    ] {
        let full = ServerManifest::parse(bad).unwrap_err();
        let lean = CompactIndex::build_from_text(bad.as_bytes(), &[0; 32]).unwrap_err();
        assert_eq!(lean, full, "{bad}");
    }
}

#[test]
fn round_trip_synthetic_and_empty() {
    for (packages, seed) in [(300, 1), (1_000, 7)] {
        let text = super::super::synthetic(packages, seed);
        let index = round_trip(text.as_bytes());
        assert!(index.package_count() > packages / 2);
    }
    let empty = round_trip(b"repository = {}");
    assert_eq!(empty.package_count(), 0);
}

#[test]
fn reading_and_assembling_in_parts_gives_what_one_thread_gives() {
    // Large enough to be split (over 1 MiB, over 20 000 versions).
    let text = super::super::synthetic(2_000, 5);
    assert!(text.len() > 1 << 20);
    let one = build::build_from_text_with(text.as_bytes(), &[3; 32], 1).unwrap();
    let manifest = ServerManifest::parse_bytes(text.as_bytes()).unwrap();
    assert_eq!(contents(&one), expected(&manifest));
    round_trip(text.as_bytes());
    for threads in [2, 3, 4] {
        let split = build::build_from_text_with(text.as_bytes(), &[3; 32], threads).unwrap();
        assert_eq!(contents(&split), contents(&one), "{threads} threads");
        let read = CompactIndex::from_bytes(split.as_bytes().to_vec(), Some(&[3; 32])).unwrap();
        assert_eq!(contents(&read), contents(&one));
    }
    // Written another way — packages at the margin, versions indented by three spaces — the
    // guessed boundaries land inside packages: the first pass reads on past them.
    let shifted: String = text
        .lines()
        .map(|l| match l.strip_prefix("   ") {
            Some(rest) if !rest.starts_with(' ') => format!("{rest}\n"),
            _ => format!("{}\n", l.strip_prefix("   ").unwrap_or(l)),
        })
        .collect();
    assert!(
        shifted.contains("\n   [\""),
        "versions now start lines with three spaces"
    );
    for threads in [1, 2, 4] {
        let index = build::build_from_text_with(shifted.as_bytes(), &[3; 32], threads).unwrap();
        assert_eq!(contents(&index), contents(&one), "{threads} threads");
    }
    // A long string spanning the guessed boundaries, full of lines that look like package
    // keys: the helpers read what is inside it, and none of that is used.
    let decoys: String = (0..40_000)
        .map(|i| format!("\n   [\"decoy{i}\"] = {{ [\"1.0-1\"] = {{ {{ arch = \"src\" }} }} }},"))
        .collect();
    let middle = text.len() / 2 + text[text.len() / 2..].find("\n   [").unwrap();
    let trap = format!(
        "{}\n   trap = {{ [\"1.0-1\"] = {{ {{ arch = \"src\", note = [[{decoys}\n]] }} }} }},{}",
        &text[..middle],
        &text[middle..]
    );
    let expected_trap = expected(&ServerManifest::parse_bytes(trap.as_bytes()).unwrap());
    assert!(expected_trap
        .iter()
        .all(|(name, _)| !name.starts_with("decoy")));
    for threads in [1, 2, 4] {
        let index = build::build_from_text_with(trap.as_bytes(), &[3; 32], threads).unwrap();
        assert_eq!(contents(&index), expected_trap, "{threads} threads");
    }
    // An error after a boundary is still found, and is the full parser's.
    let broken = text.replacen("arch = \"rockspec\"", "arch = rockspec", 1);
    let at = text.len() * 3 / 4;
    let late = format!(
        "{}{}",
        &text[..at],
        text[at..].replacen("arch = \"", "arch = \"\\q", 1)
    );
    for bad in [broken, late] {
        let full = ServerManifest::parse_bytes(bad.as_bytes()).unwrap_err();
        for threads in [1, 2, 4] {
            let lean = build::build_from_text_with(bad.as_bytes(), &[3; 32], threads).unwrap_err();
            assert_eq!(lean, full, "{threads} threads");
        }
    }
    // Hashing while reading records the text's sha256.
    let hashed = CompactIndex::build_hashing(text.as_bytes()).unwrap();
    let sha: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(text.as_bytes()).into();
    assert_eq!(hashed.source_sha256(), &sha[..]);
    assert_eq!(contents(&hashed), contents(&one));
}

#[test]
fn round_trip_realrocks_mirror() {
    let path = std::path::Path::new("/tmp/pylua-realrocks/manifest");
    let path = std::env::var_os("PYLUA_REALROCKS")
        .map(|d| std::path::PathBuf::from(d).join("manifest"))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| path.to_path_buf());
    match std::fs::read(&path) {
        Ok(text) => {
            let index = round_trip(&text);
            assert!(index.find("busted").is_some());
        }
        Err(e) => {
            let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
            assert!(
                !ci,
                "prerequisite missing under CI: {}: {e}",
                path.display()
            );
            eprintln!("skipped: {}: {e}", path.display());
        }
    }
}

#[test]
fn damaged_and_hostile_buffers_are_refused() {
    let manifest = ServerManifest::parse(SMALL).unwrap();
    let good = CompactIndex::build(&manifest, &[1; 32]).as_bytes().to_vec();
    let refuse = |bytes: Vec<u8>| CompactIndex::from_bytes(bytes, None).unwrap_err();
    assert_eq!(refuse(Vec::new()), CompactError::Magic);
    assert_eq!(refuse(good[..HEADER - 1].to_vec()), CompactError::Magic);
    assert!(matches!(
        refuse(good[..good.len() - 3].to_vec()),
        CompactError::Size { .. }
    ));
    assert_eq!(
        CompactIndex::from_bytes(good.clone(), Some(&[2; 32])).unwrap_err(),
        CompactError::Stale
    );
    let mut v = good.clone();
    v[8] = 99;
    assert_eq!(refuse(v), CompactError::FormatVersion { found: 99 });
    let mut flipped = good.clone();
    *flipped.last_mut().unwrap() ^= 1;
    assert_eq!(refuse(flipped), CompactError::Checksum);

    // Structurally wrong but correctly sealed: each must be named corrupt.
    let [p, v, a] = [48, 52, 56].map(|pos| u32_at(&good, pos) as usize);
    assert_eq!((p, v), (2, 4));
    let versions_at = HEADER + p * PACKAGE_RECORD;
    let archs_at = versions_at + v * VERSION_RECORD;
    let strings_at = archs_at + a * ARCH_RECORD;
    assert_eq!(strings_at, good.len() - u32_at(&good, 60) as usize);
    let cases: Vec<(usize, u32)> = vec![
        (HEADER, u32::MAX),              // package name offset
        (HEADER + 4, 1 << 20),           // package name length
        (HEADER + 8, 3),                 // versions run past the table
        (HEADER + 12, 0),                // a package without versions
        (HEADER + 12, u32::MAX),         // absurd version count
        (versions_at + 8, u32::MAX - 1), // version string offset
        (versions_at + 16, a as u32),    // archs run past the table
        (versions_at + 20, u32::MAX),    // absurd arch count
        (archs_at + 4, 1 << 30),         // arch length
        (HEADER + PACKAGE_RECORD, 0),    // second name = first → unsorted
    ];
    for (pos, value) in cases {
        let mut bytes = good.clone();
        bytes[pos..pos + 4].copy_from_slice(&value.to_le_bytes());
        reseal(&mut bytes);
        let e = refuse(bytes);
        assert!(matches!(e, CompactError::Corrupt(_)), "{pos}: {e:?}");
    }
    // Invalid UTF-8, and a string that splits a character.
    let mut bytes = good.clone();
    bytes[strings_at] = 0xff;
    reseal(&mut bytes);
    assert!(matches!(refuse(bytes), CompactError::Corrupt(_)));
    let mut bytes = good.clone();
    let text = std::str::from_utf8(&good[strings_at..]).unwrap();
    let inside = text.find('ä').unwrap() as u32 + 1;
    bytes[archs_at..archs_at + 4].copy_from_slice(&inside.to_le_bytes());
    bytes[archs_at + 4..archs_at + 8].copy_from_slice(&1u32.to_le_bytes());
    reseal(&mut bytes);
    assert!(matches!(refuse(bytes), CompactError::Corrupt(_)));
}

#[test]
fn random_damage_never_panics() {
    let text = super::super::synthetic(40, 3);
    let good = CompactIndex::build(&ServerManifest::parse(&text).unwrap(), &[0; 32])
        .as_bytes()
        .to_vec();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..3_000 {
        let mut bytes = good.clone();
        for _ in 0..1 + next() % 4 {
            let pos = (next() % bytes.len() as u64) as usize;
            bytes[pos] = next() as u8;
        }
        if next() % 2 == 0 {
            bytes.truncate((next() % bytes.len() as u64) as usize);
        }
        if bytes.len() >= HEADER {
            reseal(&mut bytes);
        }
        if let Ok(index) = CompactIndex::from_bytes(bytes, None) {
            // Whatever passed validation reads without panicking.
            let _ = contents(&index);
        }
    }
}
