//! Calls a kept Lua function `add(1, 2)` N times, for counting what one call costs in
//! instructions (stable on a loaded machine, unlike time):
//!
//! ```text
//! cargo build --release -p pylua --example call_loop
//! valgrind --tool=callgrind target/release/examples/call_loop 10000 limits
//! valgrind --tool=callgrind target/release/examples/call_loop 20000 limits
//! ```
//!
//! The difference of the two totals divided by 10 000 is one call. Without `limits` the VM
//! has none; with it, a memory limit, an instruction limit and a timeout, none of which fires.

use pylua::{Limits, Sandbox, Vm};
use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(Ok(n)) = args.first().map(|s| s.parse::<u64>()) else {
        eprintln!("usage: call_loop N [limits]");
        return ExitCode::from(2);
    };
    let limits = match args.get(1).map(String::as_str) {
        None => Limits::new(),
        Some("limits") => Limits::new()
            .memory(64 << 20)
            .instructions(10_000_000_000)
            .timeout(Duration::from_secs(60)),
        Some(other) => {
            eprintln!("call_loop: unknown mode {other:?} (only `limits`)");
            return ExitCode::from(2);
        }
    };
    let run = || -> Result<i64, pylua::VmError> {
        let mut vm = Vm::builder()
            .sandbox(Sandbox::Strict)
            .limits(limits)
            .build()?;
        vm.eval("function add(a, b) return a + b end")?;
        let add = vm.function("add")?;
        let mut sum = 0;
        for _ in 0..n {
            sum += vm.call_function::<_, i64>(&add, std::hint::black_box((1, 2)))?;
        }
        Ok(sum)
    };
    match run() {
        Ok(sum) => {
            println!("{sum}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("call_loop: {e}");
            ExitCode::FAILURE
        }
    }
}
