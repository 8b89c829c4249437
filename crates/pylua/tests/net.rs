//! `net` through the library: an interrupt and a run's timeout end a request in flight, a
//! response bigger than the memory limit is a memory error (never a crash), the budget and
//! audit log start over with each run, and the policy travels through `RunOptions`.
//! The server is a thread on 127.0.0.1 of the test's own.

use pylua::runtime::{ErrorKind, HostPattern, Limits, NetOptions, NetPolicy, Vm};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::Duration;

/// Answers every request after `delay` with `size` bytes; returns the port.
fn serve(delay: Duration, size: usize) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(64) {
            let Ok(stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(&stream);
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                std::thread::sleep(delay);
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n"
                );
                let _ = (&stream).write_all(head.as_bytes());
                let _ = (&stream).write_all(&vec![b'x'; size]);
            });
        }
    });
    port
}

fn vm(port: u16, limits: Limits) -> Vm {
    let mut policy = NetPolicy::allowing(&[format!("127.0.0.1:{port}")]).unwrap();
    policy.allow_http = true;
    Vm::builder().net(policy).limits(limits).build().unwrap()
}

#[test]
fn an_interrupt_ends_a_request_in_flight() {
    let port = serve(Duration::from_secs(20), 2);
    let mut vm = vm(port, Limits::new());
    let stop = vm.interrupter();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        stop.interrupt();
    });
    let err = vm
        .eval(&format!(
            "pcall(net.get, 'http://127.0.0.1:{port}/') return 1"
        ))
        .unwrap_err();
    t.join().unwrap();
    assert_eq!(err.kind, ErrorKind::Interrupted, "{err}");
    // The VM is usable afterwards.
    assert_eq!(vm.eval("return 2").unwrap(), vec![serde_json::json!(2)]);
}

#[test]
fn the_run_timeout_ends_a_request_in_flight() {
    let port = serve(Duration::from_secs(20), 2);
    let mut vm = vm(port, Limits::new().timeout(Duration::from_millis(300)));
    let err = vm
        .eval(&format!(
            "return net.get('http://127.0.0.1:{port}/').status"
        ))
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Timeout, "{err}");
}

#[test]
fn a_response_over_the_memory_limit_is_a_memory_error() {
    let port = serve(Duration::ZERO, 4 << 20);
    let mut vm = vm(port, Limits::new().memory(1 << 20));
    let err = vm
        .eval(&format!("return #net.get('http://127.0.0.1:{port}/').body"))
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::MemoryLimit, "{err}");
    assert_eq!(vm.eval("return 3").unwrap(), vec![serde_json::json!(3)]);
}

#[test]
fn budgets_and_the_audit_log_start_over_each_run() {
    let port = serve(Duration::ZERO, 10);
    let mut policy = NetPolicy::allowing(&[format!("127.0.0.1:{port}")]).unwrap();
    policy.allow_http = true;
    policy.max_requests = 1;
    let mut vm = Vm::builder().net(policy).build().unwrap();
    let get = format!("return net.get('http://127.0.0.1:{port}/').status");
    assert_eq!(vm.eval(&get).unwrap(), vec![serde_json::json!(200)]);
    assert_eq!(vm.net_audit().len(), 1);
    assert_eq!(vm.eval(&get).unwrap(), vec![serde_json::json!(200)]);
    let twice = format!("net.get('http://127.0.0.1:{port}/') {get}");
    let err = vm.eval(&twice).unwrap_err();
    assert_eq!(err.kind, ErrorKind::NetworkLimit, "{err}");
    assert_eq!(vm.net_audit().len(), 1);
}

#[test]
fn no_policy_no_net_and_options_merge() {
    let mut plain = Vm::builder().build().unwrap();
    assert_eq!(
        plain.eval("return net == nil").unwrap(),
        vec![serde_json::json!(true)]
    );
    assert!(plain.net_audit().is_empty());
    let options = NetOptions {
        allow: vec![HostPattern::parse("example.com").unwrap()],
        ..NetOptions::default()
    };
    let policy = options.policy().unwrap();
    assert!(!policy.allow_http);
    assert_eq!(policy.max_response_bytes, 8 << 20);
    assert_eq!(policy.request_timeout, Duration::from_secs(30));
}
