//! Writes a synthetic LuaRocks server manifest at luarocks.org scale, for benchmarks and for
//! comparing with other readers (`lua5.4 -e 'dofile("/tmp/synthetic-manifest")'`).
//!
//! ```text
//! cargo run --release -p pylua --example gen_manifest -- /tmp/synthetic-manifest [PACKAGES] [SEED]
//! ```
//!
//! The output is deterministic for a given package count and seed. The manifest is read back
//! once and its size, package and version counts and parse time are printed.

use pylua::packages::manifest::{self, ServerManifest};
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: gen_manifest PATH [PACKAGES] [SEED]");
        return ExitCode::from(2);
    };
    let number = |i: usize, default: u64| -> Result<u64, String> {
        args.get(i).map_or(Ok(default), |s| {
            s.parse().map_err(|_| format!("not a number: {s}"))
        })
    };
    let (packages, seed) = match (number(1, manifest::SYNTHETIC_PACKAGES as u64), number(2, 1)) {
        (Ok(p), Ok(s)) => (p as usize, s),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("gen_manifest: {e}");
            return ExitCode::from(2);
        }
    };

    let text = manifest::synthetic(packages, seed);
    if let Err(e) = std::fs::write(path, &text) {
        eprintln!("gen_manifest: cannot write {path}: {e}");
        return ExitCode::FAILURE;
    }

    let start = Instant::now();
    let parsed = match ServerManifest::parse(&text) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("gen_manifest: the generated manifest does not parse: {e}");
            return ExitCode::FAILURE;
        }
    };
    let elapsed = start.elapsed();
    let rocks: usize = parsed
        .repository
        .values()
        .flat_map(|v| v.values())
        .map(Vec::len)
        .sum();
    println!(
        "{path}: {} bytes, {} packages, {} versions, {rocks} rocks, parsed in {:.2} ms",
        text.len(),
        parsed.repository.len(),
        parsed.version_count(),
        elapsed.as_secs_f64() * 1e3
    );
    ExitCode::SUCCESS
}
