//! Tests of the module index on disk: round trips, lookups, and damaged or hostile files.

use super::*;
use std::collections::BTreeMap;

fn release(name: &str, version: &str, modules: &[(&str, ModuleKind)]) -> IndexedRelease {
    IndexedRelease {
        name: PackageName::parse(name).unwrap(),
        version: Version::parse(version).unwrap(),
        modules: modules
            .iter()
            .map(|(m, k)| ProvidedModule {
                name: ModuleName::parse(m).unwrap(),
                kind: *k,
            })
            .collect(),
        note: None,
        retry: false,
    }
}

fn sample() -> ServerModules {
    let mut cjson = release(
        "Lua-CJSON",
        "2.1.0-1",
        &[("cjson", ModuleKind::C), ("cjson.safe", ModuleKind::Opener)],
    );
    cjson.note = Some("a\tnote\nwith breaks".into());
    cjson.retry = true;
    ServerModules {
        server: "file:///srv".into(),
        lua: "5.4".into(),
        manifest_sha256: "a".repeat(64),
        packages: BTreeMap::from([
            (
                "lua-cjson".into(),
                vec![
                    cjson,
                    release("lua-cjson", "2.0-1", &[("cjson", ModuleKind::C)]),
                ],
            ),
            ("empty".into(), vec![release("empty", "1.0-1", &[])]),
            (
                "json".into(),
                vec![release("json", "1.0-1", &[("json.init", ModuleKind::Lua)])],
            ),
        ]),
    }
}

#[test]
fn round_trips_and_answers_lookups() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.midx");
    write(&path, &ModuleIndex::build(&sample())).unwrap();
    let index = read(&path).unwrap();
    assert_eq!(
        (index.server(), index.lua(), index.manifest_sha256()),
        ("file:///srv", "5.4", "a".repeat(64).as_str())
    );
    assert_eq!((index.release_count(), index.module_count()), (4, 4));
    let cjson: Vec<_> = index.package_releases("lua-cjson").collect();
    assert_eq!(
        cjson.iter().map(|r| r.version).collect::<Vec<_>>(),
        ["2.1.0-1", "2.0-1"]
    );
    assert_eq!(cjson[0].name, "Lua-CJSON");
    assert_eq!(cjson[0].note, Some("a note with breaks"));
    assert!(cjson[0].retry && !cjson[1].retry && !index.is_complete());
    assert_eq!(
        cjson[0].modules().collect::<Vec<_>>(),
        [("cjson", ModuleKind::C), ("cjson.safe", ModuleKind::Opener)]
    );
    let back = cjson[0].to_indexed().unwrap();
    assert_eq!(back.modules, sample().packages["lua-cjson"][0].modules);
    assert!(index.has_package("empty") && !index.has_package("nope"));
    let providing = |m: &str| -> Vec<(String, String, ModuleKind)> {
        index
            .providing(m)
            .map(|(r, k)| (r.lower.to_string(), r.version.to_string(), k))
            .collect()
    };
    assert_eq!(
        providing("cjson"),
        [
            ("lua-cjson".into(), "2.1.0-1".into(), ModuleKind::C),
            ("lua-cjson".into(), "2.0-1".into(), ModuleKind::C)
        ]
    );
    // `json.init` is what `require "json"` finds.
    assert_eq!(providing("json").len(), 1);
    assert_eq!(providing("json.init").len(), 1);
    assert!(providing("cjson.saf").is_empty() && providing("zzz").is_empty());
    assert!(providing("a").is_empty());
}

/// Recomputes the checksum of a buffer edited on purpose.
fn reseal(bytes: &mut [u8]) {
    let sum = crate::packages::manifest::compact::checksum(&bytes[HEADER..]);
    bytes[56..64].copy_from_slice(&sum.to_le_bytes());
}

#[test]
fn refuses_damaged_and_hostile_files() {
    let good = ModuleIndex::build(&sample()).as_bytes().to_vec();
    let string_at = |needle: &[u8]| {
        good.windows(needle.len())
            .rposition(|w| w == needle)
            .unwrap()
    };
    let mut bad: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("truncated", good[..good.len() - 1].to_vec()),
        ("header only", good[..HEADER].to_vec()),
        ("garbage", b"not an index at all, not at all".repeat(4)),
    ];
    let mut flipped = good.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    bad.push(("unsealed change", flipped));
    // Sealed edits: each passes the checksum and must be caught by the checks.
    let sealed = |what: &'static str, edit: &dyn Fn(&mut Vec<u8>)| {
        let mut b = good.clone();
        edit(&mut b);
        reseal(&mut b);
        (what, b)
    };
    let name = string_at(b"Lua-CJSON");
    let module = string_at(b"cjson.safe");
    bad.extend([
        sealed("option-like name", &|b| b[name] = b'-'),
        sealed("path in a name", &|b| b[name + 3] = b'/'),
        sealed("path in a module", &|b| b[module + 5] = b'/'),
        sealed("NUL in a module", &|b| b[module + 5] = 0),
        sealed("string out of bounds", &|b| {
            let pos = HEADER; // first release: its lower-cased name
            b[pos..pos + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        }),
        sealed("bad kind", &|b| {
            let pos = HEADER + 4 * RELEASE + 8;
            b[pos..pos + 4].copy_from_slice(&7u32.to_le_bytes());
        }),
        sealed("module of another release", &|b| {
            let pos = HEADER + 4 * RELEASE + 12;
            b[pos..pos + 4].copy_from_slice(&0u32.to_le_bytes());
        }),
        sealed("too many modules", &|b| {
            let pos = HEADER + 36;
            b[pos..pos + 4].copy_from_slice(&(COUNT).to_le_bytes());
        }),
        sealed("bad sha", &|b| {
            let pos = string_at(&[b'a'; 64]);
            b[pos] = b'z';
        }),
        sealed("newer format", &|b| b[8] = 2),
    ]);
    for (what, bytes) in bad {
        assert!(
            ModuleIndex::from_bytes(bytes, "x").is_err(),
            "{what} was accepted"
        );
    }
    assert!(ModuleIndex::from_bytes(good, "x").is_ok());
}

#[test]
fn random_damage_never_panics() {
    let good = ModuleIndex::build(&sample()).as_bytes().to_vec();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..3_000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut b = good.clone();
        let at = (seed as usize) % b.len();
        b[at] = (seed >> 32) as u8;
        reseal(&mut b);
        if let Ok(index) = ModuleIndex::from_bytes(b, "x") {
            for r in index.releases() {
                let _ = r.modules().count();
                let _ = r.to_indexed();
            }
            let _ = index.providing("cjson").count();
        }
    }
}
