//! Resolution speed: a graph the size of busted's (the test framework most Lua projects
//! install) and a large synthetic graph built so the solver must backtrack.
//!
//! `cargo bench -p pylua --bench resolve`

use criterion::{criterion_group, criterion_main, Criterion};
use pylua::packages::resolve::{resolve, MemoryIndex, ResolveOptions};
use pylua::packages::rockspec::Dependency;
use std::hint::black_box;

/// busted 2.x and its dependency tree, each package with a realistic number of versions.
fn busted_graph() -> MemoryIndex {
    let mut idx = MemoryIndex::new();
    let many = |idx: &mut MemoryIndex, name: &str, count: usize, deps: &[&str]| {
        for i in 0..count {
            idx.add(
                name,
                &format!("{}.{}.{}-1", 1 + i / 10, i % 10, i % 3),
                deps,
            );
        }
    };
    for i in 0..12 {
        idx.add(
            "busted",
            &format!("2.{i}.0-1"),
            &[
                "lua >= 5.1",
                "lua_cliargs >= 3.0",
                "luasystem >= 0.2.0",
                "dkjson >= 2.1.0",
                "say >= 1.4",
                "luassert >= 1.9.0",
                "lua-term >= 0.1",
                "penlight >= 1.3.2",
                "mediator_lua >= 1.1.1",
            ],
        );
    }
    many(&mut idx, "lua_cliargs", 25, &["lua >= 5.1"]);
    many(&mut idx, "luasystem", 12, &["lua >= 5.1"]);
    many(&mut idx, "dkjson", 30, &["lua >= 5.1, < 5.5"]);
    many(&mut idx, "say", 10, &["lua >= 5.1"]);
    many(&mut idx, "luassert", 20, &["lua >= 5.1", "say >= 1.4"]);
    many(&mut idx, "lua-term", 5, &[]);
    many(&mut idx, "penlight", 40, &["lua >= 5.1", "luafilesystem"]);
    many(&mut idx, "mediator_lua", 8, &["lua >= 5.1"]);
    many(&mut idx, "luafilesystem", 25, &["lua >= 5.1"]);
    idx
}

/// 60 packages × 30 versions. Version k of p(i) needs p(i+1) at exactly k, except that
/// the last package only exists up to version 5: the solver starts from the newest of
/// everything and must walk back to 5 across the whole chain.
fn backtracking_graph() -> MemoryIndex {
    let mut idx = MemoryIndex::new();
    let n = 60;
    for i in 0..n {
        let name = format!("p{i}");
        let top = if i == n - 1 { 5 } else { 30 };
        for k in 1..=top {
            let deps = if i + 1 < n {
                vec![format!("p{} == {k}.0", i + 1)]
            } else {
                vec![]
            };
            let deps: Vec<&str> = deps.iter().map(String::as_str).collect();
            idx.add(&name, &format!("{k}.0-1"), &deps);
        }
    }
    idx
}

fn bench(c: &mut Criterion) {
    let opts = ResolveOptions::for_lua("5.4");
    let busted = busted_graph();
    let request = vec![Dependency::parse("busted").unwrap()];
    let r = resolve(&busted, &request, &opts).unwrap();
    assert_eq!(r.packages.len(), 10);
    c.bench_function("resolve/busted", |b| {
        b.iter(|| resolve(black_box(&busted), &request, &opts).unwrap())
    });

    let chain = backtracking_graph();
    let request = vec![Dependency::parse("p0").unwrap()];
    let r = resolve(&chain, &request, &opts).unwrap();
    assert_eq!(r.packages["p0"].to_string(), "5.0-1");
    c.bench_function("resolve/backtracking-60x30", |b| {
        b.iter(|| resolve(black_box(&chain), &request, &opts).unwrap())
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
