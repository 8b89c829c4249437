//! Reading a LuaRocks server manifest at luarocks.org scale (a synthetic one, generated in
//! memory by `pylua::packages::manifest::synthetic`; `examples/gen_manifest.rs` writes the
//! same text to a file).
//!
//! Groups:
//! * `manifest/parse` — `ServerManifest::parse` of the whole text (dropping the result is not timed);
//! * `manifest/merge` — `ServerManifest::merge` of that manifest with a second, smaller server's;
//! * `module_index/load` — checking a luarocks.org-sized module index read from the cache
//!   (`ModuleIndex::from_bytes`: 60 000 releases, 240 000 modules), and `module_index/lookup`
//!   — which releases provide one module.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use pylua::packages::manifest::{self, ServerManifest};
use std::hint::black_box;

fn parse(c: &mut Criterion) {
    let text = manifest::synthetic(manifest::SYNTHETIC_PACKAGES, 1);
    let parsed = ServerManifest::parse(&text).expect("the synthetic manifest parses");
    eprintln!(
        "synthetic manifest: {} bytes, {} packages, {} versions",
        text.len(),
        parsed.repository.len(),
        parsed.version_count()
    );

    let mut group = c.benchmark_group("manifest");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.sample_size(50);
    group.bench_function("parse", |b| {
        b.iter_with_large_drop(|| ServerManifest::parse(black_box(&text)).unwrap())
    });

    let mirror = ServerManifest::parse(&manifest::synthetic(500, 2)).unwrap();
    group.throughput(Throughput::Elements(parsed.version_count() as u64));
    group.bench_function("merge", |b| {
        b.iter_batched(
            || {
                vec![
                    ("https://luarocks.org".to_string(), parsed.clone()),
                    ("https://mirror.example".to_string(), mirror.clone()),
                ]
            },
            ServerManifest::merge,
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

/// A module index the size of luarocks.org's: 6 000 packages of 10 releases with 4 modules.
fn module_index(c: &mut Criterion) {
    use pylua::curator::module_index::{
        IndexedRelease, ModuleIndex, ModuleKind, ProvidedModule, ServerModules,
    };
    use pylua::packages::names::{ModuleName, PackageName};
    use pylua::packages::version::Version;
    let packages = (0..6_000)
        .map(|p| {
            let name = format!("package-{p}");
            let releases = (0..10)
                .rev()
                .map(|v| IndexedRelease {
                    name: PackageName::parse(&name).unwrap(),
                    version: Version::parse(&format!("1.{v}-1")).unwrap(),
                    modules: (0..4)
                        .map(|m| ProvidedModule {
                            name: ModuleName::parse(&format!("mod{p}.part{m}")).unwrap(),
                            kind: ModuleKind::Lua,
                        })
                        .collect(),
                    note: None,
                    retry: false,
                })
                .collect();
            (name, releases)
        })
        .collect();
    let index = ModuleIndex::build(&ServerModules {
        server: "https://luarocks.org".into(),
        lua: "5.4".into(),
        manifest_sha256: "0".repeat(64),
        packages,
    });
    let bytes = index.as_bytes().to_vec();
    eprintln!("module index: {} bytes", bytes.len());
    let mut group = c.benchmark_group("module_index");
    group.sample_size(30);
    group.bench_function("load", |b| {
        b.iter_batched(
            || bytes.clone(),
            |bytes| ModuleIndex::from_bytes(bytes, "bench").unwrap(),
            BatchSize::LargeInput,
        )
    });
    group.bench_function("lookup", |b| {
        b.iter(|| black_box(index.providing(black_box("mod4321.part2")).count()))
    });
    group.finish();
}

criterion_group!(benches, parse, module_index);
criterion_main!(benches);
