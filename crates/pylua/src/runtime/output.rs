//! Where a VM's `print` and `io.write` go: kept in a buffer the host reads back, or handed to
//! a callback as it is produced (a CLI streams it to stdout this way).

use std::sync::{Arc, Mutex};

type Sink = Box<dyn FnMut(&[u8]) + Send>;

/// How a VM delivers what the script prints.
#[derive(Default)]
pub enum Output {
    /// Keep it; read it with [`crate::Vm::take_output`]. The default.
    #[default]
    Buffer,
    /// Call this function with each piece as it is written.
    Stream(Sink),
}

impl Output {
    /// Streams to a callback.
    pub fn stream(f: impl FnMut(&[u8]) + Send + 'static) -> Self {
        Output::Stream(Box::new(f))
    }
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Output::Buffer => f.write_str("Output::Buffer"),
            Output::Stream(_) => f.write_str("Output::Stream(..)"),
        }
    }
}

/// The shared end the Lua functions write into.
#[derive(Clone)]
pub(crate) struct OutputHandle(Arc<Mutex<OutputState>>);

struct OutputState {
    mode: Output,
    buffer: Vec<u8>,
}

impl OutputHandle {
    pub(crate) fn new(mode: Output) -> Self {
        OutputHandle(Arc::new(Mutex::new(OutputState {
            mode,
            buffer: Vec::new(),
        })))
    }

    /// The pointer handed to Lua C functions (kept alive by the VM owning this handle).
    pub(crate) fn as_ptr(&self) -> *const std::ffi::c_void {
        Arc::as_ptr(&self.0).cast()
    }

    /// Writes through a pointer from [`OutputHandle::as_ptr`]. A panicking stream callback
    /// is contained here: it must not unwind into Lua.
    ///
    /// # Safety
    /// `ptr` must come from `as_ptr` of a handle that is still alive.
    pub(crate) unsafe fn write_raw(ptr: *const std::ffi::c_void, bytes: &[u8]) {
        // SAFETY: `as_ptr` gave the `Arc`'s inner `Mutex<OutputState>`, which the caller
        // says is still alive.
        let state = unsafe { &*(ptr as *const Mutex<OutputState>) };
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
            match &mut state.mode {
                Output::Buffer => state.buffer.extend_from_slice(bytes),
                Output::Stream(sink) => sink(bytes),
            }
        }));
    }

    pub(crate) fn take(&self) -> Vec<u8> {
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut state.buffer)
    }
}
