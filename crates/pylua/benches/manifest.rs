//! Reading a LuaRocks server manifest at luarocks.org scale (a synthetic one, generated in
//! memory by `pylua::packages::manifest::synthetic`; `examples/gen_manifest.rs` writes the
//! same text to a file).
//!
//! Groups:
//! * `manifest/parse` — `ServerManifest::parse` of the whole text (dropping the result is not timed);
//! * `manifest/merge` — `ServerManifest::merge` of that manifest with a second, smaller server's.

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

criterion_group!(benches, parse);
criterion_main!(benches);
