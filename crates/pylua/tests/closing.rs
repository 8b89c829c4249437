//! What dropping a VM must still do although it no longer closes a state object by object
//! when closing would only free memory: flush and close the files a script left open and run
//! the finalizers it set, under each policy that allows them. Each test reads the effect
//! from outside, after the drop. And the default output file those files may be: `io.write`
//! follows `io.output`.

use pylua::runtime::{Sandbox, Vm};
use std::path::Path;

fn vm(sandbox: Sandbox, dir: &Path) -> Vm {
    Vm::builder()
        .sandbox(sandbox)
        .allow_dir(dir)
        .build()
        .unwrap()
}

fn lua_string(path: &Path) -> String {
    format!("{:?}", path.to_str().unwrap())
}

#[test]
fn files_left_open_are_flushed_when_the_vm_is_dropped() {
    for sandbox in [Sandbox::None, Sandbox::Standard] {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.txt"), dir.path().join("b.txt"));
        let mut vm = vm(sandbox, dir.path());
        vm.eval(&format!(
            "f = io.open({}, 'w') f:write('left open') io.output({}) io.write('by io.write')",
            lua_string(&a),
            lua_string(&b)
        ))
        .unwrap();
        // Buffered: nothing written yet.
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "", "{sandbox:?}");
        drop(vm);
        assert_eq!(
            std::fs::read_to_string(&a).unwrap(),
            "left open",
            "{sandbox:?}"
        );
        assert_eq!(
            std::fs::read_to_string(&b).unwrap(),
            "by io.write",
            "{sandbox:?}"
        );
    }
}

#[test]
fn finalizers_run_when_the_vm_is_dropped() {
    for mode in ["incremental", "generational"] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("gc.txt");
        let mut vm = vm(Sandbox::None, dir.path());
        vm.eval(&format!(
            "collectgarbage('{mode}')
             keep = setmetatable({{}}, {{__gc = function()
               local f = assert(io.open({}, 'w')) f:write('finalized') f:close()
             end}})
             collectgarbage() collectgarbage()",
            lua_string(&out)
        ))
        .unwrap();
        assert!(!out.exists(), "{mode}: the object is still reachable");
        drop(vm);
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "finalized",
            "{mode}"
        );
    }
}

#[test]
fn vms_with_nothing_to_close_can_be_made_and_dropped_many_times() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..2_000 {
        let mut vm = vm(Sandbox::None, dir.path());
        let got = vm.eval(&format!("return {i} + 1")).unwrap();
        assert_eq!(got, vec![serde_json::json!(i + 1)]);
    }
}

#[test]
fn io_write_follows_io_output_and_comes_back() {
    for sandbox in [Sandbox::None, Sandbox::Standard] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        let mut vm = vm(sandbox, dir.path());
        let got = vm
            .eval(&format!(
                "io.write('a') local f = io.output({}) io.write('b') io.close()
                 local closed = io.type(f)
                 io.output(io.stdout) io.write('c')
                 return closed, io.output() == io.stdout",
                lua_string(&path)
            ))
            .unwrap();
        assert_eq!(
            got,
            vec![serde_json::json!("closed file"), serde_json::json!(true)]
        );
        assert_eq!(vm.take_output(), "ac", "{sandbox:?}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "b", "{sandbox:?}");
    }
}
