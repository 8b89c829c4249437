use pylua::runtime::{Limits, Sandbox, Vm};
use std::time::Duration;
fn main() {
    let mode = std::env::args().nth(1).unwrap();
    let n: usize = std::env::args().nth(2).unwrap().parse().unwrap();
    let limits = if mode.ends_with("_limits") {
        Limits::new()
            .memory(64 << 20)
            .instructions(10_000_000_000)
            .timeout(Duration::from_secs(60))
    } else {
        Limits::new()
    };
    let mut vm = Vm::builder()
        .sandbox(Sandbox::Strict)
        .limits(limits)
        .build()
        .unwrap();
    vm.eval("function add(a, b) return a + b end").unwrap();
    let add = vm.function("add").unwrap();
    for _ in 0..n {
        if mode.starts_with("call") {
            std::hint::black_box(vm.call_function::<_, i64>(&add, (1, 2)).unwrap());
        } else {
            std::hint::black_box(vm.eval("return 1+1").unwrap());
        }
    }
}
