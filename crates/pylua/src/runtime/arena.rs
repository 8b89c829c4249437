//! Where a VM's memory comes from: small blocks from a region of its own, the rest from the C
//! allocator.
//!
//! Why: building a VM is mostly making small objects (strings, tables, closures, the
//! prelude's functions) and closing it frees them one by one, so `malloc` and `free` were a
//! fifth of the time a strict VM took to build, run a snippet and close. Here a small block
//! is cut from one region by bumping a pointer, a freed one goes onto a list for its size
//! (Lua tells the allocator every block's size, so no header is needed), and closing the VM
//! gives the region back in one `free`.
//!
//! The region has a fixed size: once it is used up, small blocks come from `malloc` too. So
//! what a VM holds in free lists, beyond what the memory limit counts (which is what Lua asks
//! for, as before), is bounded by [`REGION`].
//!
//! Every block from `malloc` is linked into a list (a 16-byte header), so dropping the arena
//! frees everything the state still holds: a state that needs nothing done when it closes
//! (no finalizer can exist, no file is open: see [`super::state::RawState`]) is not closed
//! object by object at all.

use std::cell::{Cell, UnsafeCell};
use std::ffi::c_void;

/// Bytes in the region: room for a strict VM and a bit of work (a fresh strict VM holds
/// about 21 KB).
const REGION: usize = 64 << 10;
/// Size classes: 16, 32, … 256 bytes.
const GRAIN: usize = 16;
const SMALL: usize = 256;
const CLASSES: usize = SMALL / GRAIN;

fn class(size: usize) -> usize {
    size.saturating_sub(1) / GRAIN
}

/// In front of every block from `malloc`.
#[repr(C, align(16))]
struct Header {
    prev: *mut Header,
    next: *mut Header,
}

const HEADER: usize = std::mem::size_of::<Header>();

pub(crate) struct Arena {
    /// The blocks from `malloc`, newest first.
    big: Cell<*mut Header>,
    start: *mut u8,
    end: *mut u8,
    /// The part of the region never handed out yet starts here.
    next: Cell<*mut u8>,
    /// Freed blocks of each class, linked through their first word.
    free: UnsafeCell<[*mut u8; CLASSES]>,
}

impl Arena {
    /// A region of [`REGION`] bytes; an empty one (everything from `malloc`) if it cannot be
    /// had.
    pub(crate) fn new() -> Arena {
        let start = unsafe { libc::malloc(REGION) } as *mut u8;
        let end = if start.is_null() {
            start
        } else {
            start.wrapping_add(REGION)
        };
        Arena {
            big: Cell::new(std::ptr::null_mut()),
            start,
            end,
            next: Cell::new(start),
            free: UnsafeCell::new([std::ptr::null_mut(); CLASSES]),
        }
    }

    fn owns(&self, ptr: *mut c_void) -> bool {
        let p = ptr as *mut u8;
        p >= self.start && p < self.end
    }

    /// Lua's allocator contract (`lua_Alloc`): `nsize == 0` frees, a null `ptr` allocates,
    /// anything else resizes; `osize` is the block's size when `ptr` is not null.
    ///
    /// # Safety
    /// Blocks passed in must come from this arena with the size Lua says, and only one
    /// thread may use the arena at a time.
    pub(crate) unsafe fn realloc(
        &self,
        ptr: *mut c_void,
        osize: usize,
        nsize: usize,
    ) -> *mut c_void {
        if ptr.is_null() {
            return if nsize == 0 {
                std::ptr::null_mut()
            } else {
                self.alloc(nsize)
            };
        }
        if !self.owns(ptr) {
            if nsize == 0 {
                self.big_free(ptr);
                return std::ptr::null_mut();
            }
            return self.big_realloc(ptr, nsize);
        }
        if nsize == 0 {
            self.release(ptr, osize);
            return std::ptr::null_mut();
        }
        if nsize <= SMALL && class(nsize) == class(osize) {
            return ptr;
        }
        let new = self.alloc(nsize);
        if new.is_null() {
            // Lua counts on shrinking never failing: keep the block, which is big enough (it
            // is then freed into a smaller class, which only wastes the difference).
            return if nsize < osize { ptr } else { new };
        }
        std::ptr::copy_nonoverlapping(ptr as *const u8, new as *mut u8, osize.min(nsize));
        self.release(ptr, osize);
        new
    }

    unsafe fn alloc(&self, size: usize) -> *mut c_void {
        if size <= SMALL {
            let c = class(size);
            let free = &mut *self.free.get();
            let head = free[c];
            if !head.is_null() {
                free[c] = *(head as *mut *mut u8);
                return head as *mut c_void;
            }
            let next = self.next.get();
            let block = (c + 1) * GRAIN;
            if (self.end as usize).saturating_sub(next as usize) >= block {
                self.next.set(next.add(block));
                return next as *mut c_void;
            }
        }
        self.big_alloc(size)
    }

    unsafe fn link(&self, h: *mut Header) {
        let head = self.big.get();
        (*h).prev = std::ptr::null_mut();
        (*h).next = head;
        if !head.is_null() {
            (*head).prev = h;
        }
        self.big.set(h);
    }

    unsafe fn unlink(&self, h: *mut Header) {
        let (prev, next) = ((*h).prev, (*h).next);
        if prev.is_null() {
            self.big.set(next);
        } else {
            (*prev).next = next;
        }
        if !next.is_null() {
            (*next).prev = prev;
        }
    }

    unsafe fn big_alloc(&self, size: usize) -> *mut c_void {
        let Some(total) = size.checked_add(HEADER) else {
            return std::ptr::null_mut();
        };
        let h = libc::malloc(total) as *mut Header;
        if h.is_null() {
            return h as *mut c_void;
        }
        self.link(h);
        h.add(1) as *mut c_void
    }

    unsafe fn big_free(&self, ptr: *mut c_void) {
        let h = (ptr as *mut Header).sub(1);
        self.unlink(h);
        libc::free(h as *mut c_void);
    }

    unsafe fn big_realloc(&self, ptr: *mut c_void, size: usize) -> *mut c_void {
        let Some(total) = size.checked_add(HEADER) else {
            return std::ptr::null_mut();
        };
        let h = (ptr as *mut Header).sub(1);
        self.unlink(h);
        let moved = libc::realloc(h as *mut c_void, total) as *mut Header;
        if moved.is_null() {
            self.link(h);
            return std::ptr::null_mut();
        }
        self.link(moved);
        moved.add(1) as *mut c_void
    }

    unsafe fn release(&self, ptr: *mut c_void, size: usize) {
        let c = class(size);
        let free = &mut *self.free.get();
        *(ptr as *mut *mut u8) = free[c];
        free[c] = ptr as *mut u8;
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        let mut h = self.big.get();
        while !h.is_null() {
            unsafe {
                let next = (*h).next;
                libc::free(h as *mut c_void);
                h = next;
            }
        }
        unsafe { libc::free(self.start as *mut c_void) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_reused_by_size_and_large_ones_come_from_malloc() {
        let arena = Arena::new();
        unsafe {
            let a = arena.realloc(std::ptr::null_mut(), 0, 24);
            assert!(arena.owns(a));
            std::ptr::write_bytes(a as *mut u8, 7, 24);
            // Same class: resized in place.
            assert_eq!(arena.realloc(a, 24, 30), a);
            // Another class: moved, contents kept, old block reused by the next of its size.
            let b = arena.realloc(a, 30, 100);
            assert_ne!(a, b);
            assert_eq!(*(b as *const u8).add(23), 7);
            assert_eq!(arena.realloc(std::ptr::null_mut(), 0, 17), a);
            let big = arena.realloc(std::ptr::null_mut(), 0, 4096);
            assert!(!arena.owns(big));
            let big = arena.realloc(big, 4096, 10);
            assert!(arena.realloc(big, 10, 0).is_null());
            arena.realloc(b, 100, 0);
        }
    }

    #[test]
    fn a_full_region_falls_back_to_malloc() {
        let arena = Arena::new();
        let blocks: Vec<_> = (0..REGION / SMALL + 10)
            .map(|_| unsafe { arena.realloc(std::ptr::null_mut(), 0, SMALL) })
            .collect();
        assert!(blocks.iter().any(|&p| !arena.owns(p)));
        // Half of them freed, the rest left to the arena's drop.
        for p in blocks.into_iter().step_by(2) {
            unsafe { arena.realloc(p, SMALL, 0) };
        }
    }
}
