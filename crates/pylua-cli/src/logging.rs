//! Logging: `tracing` events to stderr at the verbosity asked for (`-q`, `-v`, `-vv`, or a
//! filter in `PYLUA_LOG` such as `pylua=debug`), and every transaction with its timings to a
//! log file in pylua's state directory, rotated daily and keeping a week.

use pylua::paths::Paths;
use std::io::Write;
use std::sync::{Mutex, OnceLock};
use tracing_appender::rolling::{Builder, RollingFileAppender, Rotation};
use tracing_subscriber::filter::{EnvFilter, LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

/// The log file, opened (and its directory created) on the first event written, so commands
/// that record nothing leave no trace on disk. A log that cannot be opened is skipped.
struct LazyFile {
    dir: std::path::PathBuf,
    appender: OnceLock<Option<Mutex<RollingFileAppender>>>,
}

impl LazyFile {
    fn appender(&self) -> Option<&Mutex<RollingFileAppender>> {
        self.appender
            .get_or_init(|| {
                std::fs::create_dir_all(&self.dir).ok()?;
                Builder::new()
                    .rotation(Rotation::DAILY)
                    .filename_prefix("pylua")
                    .filename_suffix("log")
                    .max_log_files(7)
                    .build(&self.dir)
                    .ok()
                    .map(Mutex::new)
            })
            .as_ref()
    }
}

struct LazyWriter<'a>(&'a LazyFile);

impl Write for LazyWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0.appender() {
            Some(m) => m.lock().unwrap_or_else(|e| e.into_inner()).write(buf),
            None => Ok(buf.len()),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self.0.appender() {
            Some(m) => m.lock().unwrap_or_else(|e| e.into_inner()).flush(),
            None => Ok(()),
        }
    }
}

impl<'a> MakeWriter<'a> for LazyFile {
    type Writer = LazyWriter<'a>;
    fn make_writer(&'a self) -> LazyWriter<'a> {
        LazyWriter(self)
    }
}

/// Where the transaction log is written.
pub fn log_dir(paths: &Paths) -> std::path::PathBuf {
    paths.state.join("logs")
}

/// Installs the subscriber. `verbose` counts `-v`; `quiet` wins over it.
pub fn init(verbose: u8, quiet: bool) {
    let stderr_filter = match std::env::var("PYLUA_LOG") {
        Ok(spec) if !spec.trim().is_empty() => {
            EnvFilter::try_new(spec.trim()).unwrap_or_else(|e| {
                eprintln!("pylua: ignoring PYLUA_LOG={spec}: {e}");
                EnvFilter::new("warn")
            })
        }
        _ => EnvFilter::new(match (quiet, verbose) {
            (true, _) => "error",
            (false, 0) => "warn",
            (false, 1) => "pylua=info,warn",
            (false, 2) => "pylua=debug,info",
            _ => "trace",
        }),
    };
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .with_filter(stderr_filter);
    let file = tracing_subscriber::fmt::layer()
        .with_writer(LazyFile {
            dir: log_dir(&Paths::discover()),
            appender: OnceLock::new(),
        })
        .with_ansi(false)
        .with_filter(
            Targets::new()
                .with_target("pylua::transaction", LevelFilter::INFO)
                .with_default(LevelFilter::WARN),
        );
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(file)
        .try_init();
}
