//! `pylua bench`: renders the library's load benchmarks (`operations::bench`).

use crate::packages::{ServerArgs, TreeArgs};
use pylua::operations::bench::{bench_installed, bench_requests, BenchOptions, PackageBench};
use serde_json::json;
use std::process::ExitCode;

pub fn run(
    packages: &[String],
    installed: bool,
    runs: usize,
    servers: &ServerArgs,
    tree: &TreeArgs,
) -> ExitCode {
    let json_output = servers.json;
    let options = BenchOptions {
        lua: servers.external(),
        runs,
    };
    let result: Result<Vec<PackageBench>, (String, String)> = if installed || packages.is_empty() {
        bench_installed(&tree.tree(), packages, &options).map_err(|e| ("not_found".into(), e))
    } else {
        let server_options = match servers.options() {
            Ok(o) => o,
            Err(code) => return code,
        };
        let pylua = std::env::current_exe().unwrap_or_else(|_| "pylua".into());
        bench_requests(packages, &server_options, &options, pylua)
            .map_err(|e| (e.kind().to_string(), e.to_string()))
    };
    let benches = match result {
        Ok(b) => b,
        Err((kind, message)) => return crate::render::failure(&kind, &message, json_output),
    };
    // Inside a project, the results are kept for the doctor.
    if let Ok(project) = crate::project_cmd::find_project(None) {
        pylua::operations::checks::record_benches(&project, &benches);
    }
    if json_output {
        println!("{}", json!({"ok": true, "result": benches}));
        return ExitCode::SUCCESS;
    }
    for b in &benches {
        println!(
            "{} {} on Lua {} ({:.1} KiB on disk, {} runs per module; median [min–max])",
            b.package,
            b.version,
            b.lua,
            b.size_bytes as f64 / 1024.0,
            b.runs
        );
        println!(
            "  {:<28} {:>22} {:>12} {:>18}",
            "module", "cold require (ms)", "warm (µs)", "memory (KiB)"
        );
        for m in &b.modules {
            if let Some(e) = &m.error {
                println!("  {:<28} does not load alone: {e}", m.module);
                continue;
            }
            println!(
                "  {:<28} {:>8.3} [{:.3}–{:.3}] {:>12.2} {:>8.1} [{:.1}–{:.1}]",
                m.module,
                m.cold_ms.median,
                m.cold_ms.min,
                m.cold_ms.max,
                m.warm_us.median,
                m.memory_kib.median,
                m.memory_kib.min,
                m.memory_kib.max
            );
        }
    }
    ExitCode::SUCCESS
}
