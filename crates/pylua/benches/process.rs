//! Benchmarks of the process backend, per interpreter (Lua 5.1–5.4, LuaJIT):
//!
//! * `session` — one round trip of `vm.eval("return 1+1")` on a persistent [`ProcessVm`]
//!   (strict sandbox): request down the pipe, chunk run (compiled once), JSON back;
//! * `session+limits` — the same on a VM with memory, instruction and time limits (none
//!   fires): the count hook runs, and LuaJIT's compiler is off;
//! * `spawn` — the baseline: one `<interpreter> -e 'io.write(1+1)'` process per snippet,
//!   spawned and waited for;
//! * `provision` — `Provisioner::install` of each version into an empty data directory
//!   (sources unpacked, compiled with the system C compiler, installed).
//!
//! Every figure is a median. Run: `cargo bench -p pylua --bench process` (add `-- quick` to
//! skip provisioning, which takes about a minute). Results and the machine they were measured
//! on are in BENCHMARKS.md ("Interpreters and the process backend").

use pylua::interpreters::{Interpreter, LuaVersion, Provisioner};
use pylua::runtime::{Limits, ProcessVm, Sandbox, Vm};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SESSION_RUNS: usize = 20_000;
const SPAWN_RUNS: usize = 300;

fn cache() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pylua-interpreters/data")
}

fn interpreter(v: LuaVersion) -> Interpreter {
    Provisioner::new(&cache())
        .install(v)
        .unwrap_or_else(|e| panic!("cannot provision {v}: {e}"))
        .interpreter
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn percentile(samples: &[Duration], p: f64) -> Duration {
    let mut s = samples.to_vec();
    s.sort();
    s[((s.len() as f64 * p) as usize).min(s.len() - 1)]
}

fn fmt(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.1} µs")
    }
}

fn session(interp: &Interpreter, limits: Limits) -> (Duration, Duration) {
    let mut vm = ProcessVm::builder()
        .interpreter(interp.clone())
        .sandbox(Sandbox::Strict)
        .limits(limits)
        .build()
        .expect("start a session");
    for _ in 0..2000 {
        vm.eval("return 1+1").unwrap();
    }
    let mut samples = Vec::with_capacity(SESSION_RUNS);
    for _ in 0..SESSION_RUNS {
        let start = Instant::now();
        let values = vm.eval("return 1+1").unwrap();
        samples.push(start.elapsed());
        assert_eq!(values[0], 2);
    }
    (percentile(&samples, 0.9), median(samples))
}

fn spawn(interp: &Interpreter) -> Duration {
    let mut samples = Vec::with_capacity(SPAWN_RUNS);
    for _ in 0..SPAWN_RUNS {
        let start = Instant::now();
        let out = Command::new(&interp.path)
            .args(["-e", "io.write(1+1)"])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .unwrap();
        samples.push(start.elapsed());
        assert_eq!(out.stdout, b"2");
    }
    median(samples)
}

fn embedded() -> Duration {
    let mut vm = Vm::builder().sandbox(Sandbox::Strict).build().unwrap();
    for _ in 0..2000 {
        vm.eval("return 1+1").unwrap();
    }
    let mut samples = Vec::with_capacity(SESSION_RUNS);
    for _ in 0..SESSION_RUNS {
        let start = Instant::now();
        vm.eval("return 1+1").unwrap();
        samples.push(start.elapsed());
    }
    median(samples)
}

fn main() {
    let quick = std::env::args().any(|a| a == "quick");
    let limits = Limits::new()
        .memory(64 << 20)
        .instructions(10_000_000_000)
        .timeout(Duration::from_secs(60));
    println!(
        "| interpreter | session `return 1+1` (median) | p90 | … with limits (median) | spawn per snippet (median) | spawn / session |"
    );
    println!("|---|---|---|---|---|---|");
    for v in LuaVersion::ALL {
        let interp = interpreter(v);
        let (p90, warm) = session(&interp, Limits::new());
        let (_, limited) = session(&interp, limits);
        let cold = spawn(&interp);
        println!(
            "| {} | {} | {} | {} | {} | {:.0}× |",
            interp.release,
            fmt(warm),
            fmt(p90),
            fmt(limited),
            fmt(cold),
            cold.as_secs_f64() / warm.as_secs_f64()
        );
    }
    println!("| embedded (reference) | {} | | | | |", fmt(embedded()));
    if quick {
        return;
    }
    println!();
    println!("| interpreter | provision (build and install) |");
    println!("|---|---|");
    for v in LuaVersion::ALL {
        let data = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let start = Instant::now();
        let installed = Provisioner::new(data.path())
            .install(v)
            .unwrap_or_else(|e| panic!("cannot provision {v}: {e}"));
        println!(
            "| {} | {:.1} s |",
            installed.interpreter.release,
            start.elapsed().as_secs_f64()
        );
    }
}
