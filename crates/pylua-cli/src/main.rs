//! The `pylua` binary: the command line of [`pylua_cli::run`].

fn main() -> std::process::ExitCode {
    quiet_broken_pipe();
    pylua_cli::run(std::env::args_os())
}

/// `pylua list | head` closes stdout early: end quietly, as a shell tool does, instead of
/// reporting the failed print as a crash. (SIGPIPE stays ignored: a process VM's pipes must
/// fail with an error, not kill pylua.)
fn quiet_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}
