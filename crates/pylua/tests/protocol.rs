//! The process VM's pipe protocol against a child that breaks it: a stand-in "interpreter"
//! (a shell script) writes malformed, truncated, split or oversized frames. The host must
//! end each conversation with an error (or the right value, for frames that are merely
//! split), never panic.

use pylua::interpreters::{Interpreter, LuaVersion, Origin};
use pylua::runtime::{ProcessVm, VmError};
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// An "interpreter" that runs `body` as a shell script (fd 4 is the reply channel).
fn fake(dir: &Path, name: &str, body: &str) -> Interpreter {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    Interpreter {
        version: LuaVersion::Lua54,
        release: "Lua 5.4 (stand-in)".into(),
        path,
        aliases: Vec::new(),
        origin: Origin::Path,
        include_dir: None,
        library: None,
    }
}

fn start(interpreter: Interpreter) -> Result<ProcessVm, VmError> {
    ProcessVm::builder().interpreter(interpreter).build()
}

#[test]
fn a_malformed_hello_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("one newline", r"printf '\n' >&4"),
        ("one byte then the end", r"printf 'h' >&4"),
        ("a kind without a length", r"printf 'h\n' >&4"),
        ("a length that is not a number", r"printf 'h1x\n' >&4"),
        ("a negative length", r"printf 'h-1\n' >&4"),
        (
            "a length past usize",
            r"printf 'h18446744073709551616\n' >&4",
        ),
        (
            "a length that overflows the offset",
            r"printf 'h18446744073709551615\n' >&4",
        ),
        ("a payload cut short", r"printf 'h99\nab' >&4"),
        ("an empty line first", r"printf '\nh0\n' >&4"),
        ("the wrong kind", r"printf 'r2\n[]' >&4"),
        ("nothing at all", "exit 3"),
    ];
    for (i, (what, body)) in cases.iter().enumerate() {
        let err = start(fake(dir.path(), &format!("hello{i}"), body))
            .err()
            .unwrap_or_else(|| panic!("{what}: started"));
        assert!(
            err.message.contains("cannot start a session"),
            "{what}: {err}"
        );
    }
}

#[test]
fn malformed_replies_are_errors_and_the_next_call_starts_afresh() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("one newline", r"printf 'h0\n\n' >&4"),
        ("one byte then the end", r"printf 'h0\nr' >&4"),
        (
            "a length past usize",
            r"printf 'h0\nr99999999999999999999999\n' >&4",
        ),
        (
            "a length that overflows the offset",
            r"printf 'h0\nr18446744073709551615\n' >&4",
        ),
        ("a payload cut short", r"printf 'h0\nr9\n[1' >&4"),
        ("an unknown kind", r"printf 'h0\nz0\n' >&4"),
        (
            "a reply larger than the host accepts",
            r"printf 'h0\nr2000000000\n' >&4; head -c 100000 /dev/zero >&4",
        ),
        (
            "values that are not JSON",
            r"printf 'h0\nr3\n{]}' >&4; sleep 5",
        ),
        (
            "an error that is not JSON",
            r"printf 'h0\ne5\nhello' >&4; sleep 5",
        ),
        ("a path question, then the end", r"printf 'h0\np0\n' >&4"),
    ];
    for (i, (what, body)) in cases.iter().enumerate() {
        // The stand-in lingers a moment after its reply, so the session surely starts
        // (its hello is read) before the child is seen to exit.
        let body = format!("{body}; sleep 1");
        let mut vm = start(fake(dir.path(), &format!("reply{i}"), &body))
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let err = vm.eval("return 1").unwrap_err();
        assert!(!err.message.is_empty(), "{what}");
        // The stand-in says hello again and then breaks again: still an error each time.
        assert!(vm.eval("return 1").is_err(), "{what}");
    }
}

#[test]
fn frames_split_across_reads_arrive_whole() {
    let dir = tempfile::tempdir().unwrap();
    // The reply's header arrives with the end of an output frame, its payload later: the
    // reader must not lose its place when it reads more.
    let vm = fake(
        dir.path(),
        "split",
        r"printf 'h0\n' >&4; sleep 0.2; printf 'o1\nar5\n[1' >&4; sleep 0.3; printf '23]' >&4; sleep 5",
    );
    let mut vm = start(vm).unwrap();
    assert_eq!(vm.eval("return 123").unwrap(), vec![json!(123)]);
    assert_eq!(vm.take_output(), "a");
}

#[test]
fn bytes_on_stdout_and_stderr_do_not_disturb_the_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let vm = fake(
        dir.path(),
        "noisy",
        r"printf 'x'; printf 'y' >&2; printf 'h0\nr3\n[1]' >&4; sleep 5",
    );
    let mut vm = start(vm).unwrap();
    assert_eq!(vm.eval("return 1").unwrap(), vec![json!(1)]);
}

/// A reply announced larger than the host accepts is refused by its header, before its
/// bytes are read into memory.
#[test]
fn an_oversized_reply_is_refused_by_its_header() {
    let dir = tempfile::tempdir().unwrap();
    let body = r"printf 'h0\nr5000000000\n' >&4; sleep 1";
    let mut vm = start(fake(dir.path(), "huge", body)).unwrap();
    let err = vm.eval("return 1").unwrap_err();
    assert!(
        err.message.contains("more than the 1 GiB"),
        "{}",
        err.message
    );
}
