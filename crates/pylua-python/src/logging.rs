//! The library's `tracing` events, delivered to Python's `logging` (logger `pylua.<target>`),
//! at or above a level Python sets (`debug_mode` sets DEBUG).
//!
//! Other libraries' events (the HTTP client's, which come through the `log` crate) are
//! forwarded from WARNING up, except at "trace": at "debug" a user sees what pylua does, not
//! every header the HTTP client writes.

use pyo3::prelude::*;
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// 0 off, 1 error, 2 warn, 3 info, 4 debug, 5 trace.
static MAX_LEVEL: AtomicU8 = AtomicU8::new(2);

fn rank(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 1,
        Level::WARN => 2,
        Level::INFO => 3,
        Level::DEBUG => 4,
        Level::TRACE => 5,
    }
}

/// Python's numeric logging level for a tracing level.
fn python_level(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 40,
        Level::WARN => 30,
        Level::INFO => 20,
        Level::DEBUG | Level::TRACE => 10,
    }
}

struct ToPython;

/// Whether `target` is pylua's own code (the library or this module), not a dependency's.
fn own(target: &str) -> bool {
    target.starts_with("pylua") || target.starts_with("_core")
}

/// Whether an event of `level` from `target` is forwarded.
fn wanted(level: &Level, target: &str) -> bool {
    let max = MAX_LEVEL.load(Relaxed);
    let rank = rank(level);
    if own(target) || max >= 5 {
        rank <= max
    } else {
        rank <= max.min(2)
    }
}

/// An event's text, and the target a `log` record came from (events from the `log` crate
/// arrive with the target "log" and their origin in fields).
#[derive(Default)]
struct Message {
    text: String,
    log_target: Option<String>,
}

impl Message {
    fn add(&mut self, name: &str, value: String) {
        match name {
            "message" => self.text.insert_str(0, &value),
            "log.target" => self.log_target = Some(value),
            "log.module_path" | "log.file" | "log.line" => {}
            _ => self.text.push_str(&format!(" {name}={value}")),
        }
    }
}

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.add(field.name(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.add(field.name(), value.to_string());
    }
}

impl<S: Subscriber> Layer<S> for ToPython {
    fn enabled(&self, metadata: &tracing::Metadata<'_>, _: Context<'_, S>) -> bool {
        // A `log` record's own target is only known from its fields (`on_event`).
        metadata.target() == "log" || wanted(metadata.level(), metadata.target())
    }
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut message = Message::default();
        event.record(&mut message);
        let meta = event.metadata();
        let target = message.log_target.as_deref().unwrap_or(meta.target());
        if !wanted(meta.level(), target) {
            return;
        }
        // `pylua::operations::install` becomes the logger `pylua.operations.install`.
        let logger = format!(
            "pylua.{}",
            target
                .strip_prefix("pylua::")
                .unwrap_or(target)
                .replace("::", ".")
        );
        let level = python_level(meta.level());
        Python::with_gil(|py| {
            let logged = py
                .import("logging")
                .and_then(|m| m.getattr("getLogger")?.call1((logger,)))
                .and_then(|l| l.call_method1("log", (level, message.text)));
            if let Err(e) = logged {
                e.write_unraisable(py, None);
            }
        });
    }
}

/// Installs the bridge (once per process; a no-op if a subscriber is already set).
pub fn init() {
    let _ = tracing_subscriber::registry().with(ToPython).try_init();
}

/// Sets the most detailed level forwarded: "error", "warning", "info", "debug" or "trace"
/// (other libraries' events: from "warning" up, all of them at "trace").
#[pyfunction]
pub fn set_log_level(level: &str) -> PyResult<()> {
    let rank = match level.to_ascii_lowercase().as_str() {
        "off" => 0,
        "error" => 1,
        "warning" | "warn" => 2,
        "info" => 3,
        "debug" => 4,
        "trace" => 5,
        other => {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "unknown log level '{other}'"
            )))
        }
    };
    MAX_LEVEL.store(rank, Relaxed);
    tracing::callsite::rebuild_interest_cache();
    Ok(())
}
