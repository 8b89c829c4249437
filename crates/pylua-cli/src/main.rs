//! The `pylua` binary: the command line of [`pylua_cli::run`].

fn main() -> std::process::ExitCode {
    pylua_cli::run(std::env::args_os())
}
