//! The library's `tracing` events, delivered to Python's `logging` (logger `pylua.<target>`),
//! at or above a level Python sets (`debug_mode` sets DEBUG).

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

#[derive(Default)]
struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0.insert_str(0, &format!("{value:?}"));
        } else {
            self.0.push_str(&format!(" {}={value:?}", field.name()));
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.insert_str(0, value);
        } else {
            self.0.push_str(&format!(" {}={value}", field.name()));
        }
    }
}

impl<S: Subscriber> Layer<S> for ToPython {
    fn enabled(&self, metadata: &tracing::Metadata<'_>, _: Context<'_, S>) -> bool {
        rank(metadata.level()) <= MAX_LEVEL.load(Relaxed)
    }
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut message = Message::default();
        event.record(&mut message);
        let meta = event.metadata();
        // `pylua::operations::install` becomes the logger `pylua.operations.install`.
        let target = meta.target();
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
                .and_then(|l| l.call_method1("log", (level, message.0)));
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

/// Sets the most detailed level forwarded: "error", "warning", "info", "debug" or "trace".
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
