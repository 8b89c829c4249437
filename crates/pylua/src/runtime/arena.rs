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
//! (no finalizer that would do something, no file left open: see
//! [`super::state::RawState`]) is not closed object by object at all.
//!
//! With `PYLUA_NO_ARENA` set in the environment (read once per process), there is no region
//! and every block comes from `malloc`: for memory checkers (`scripts/sanitize.sh`), which
//! see each block then, as they cannot inside a region.

use std::cell::{Cell, UnsafeCell};
use std::ffi::c_void;
use std::sync::OnceLock;

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
        static NO_REGION: OnceLock<bool> = OnceLock::new();
        let no_region = *NO_REGION.get_or_init(|| std::env::var_os("PYLUA_NO_ARENA").is_some());
        let start = if no_region {
            std::ptr::null_mut()
        } else {
            // SAFETY: `malloc` has no preconditions; a null result is handled below.
            unsafe { libc::malloc(REGION) as *mut u8 }
        };
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
        // SAFETY: the caller's contract says `ptr` (when not null) came
        // from this arena with `osize` bytes; a block outside the region came from
        // `big_alloc`, so it has a header; one inside it is a slot of `osize`'s class. `new`
        // is a distinct block of at least `nsize` bytes, so copying `min(osize, nsize)`
        // bytes stays inside both, and they do not overlap.
        unsafe {
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
                // Lua counts on shrinking never failing: keep the block, which is big enough
                // (it is then freed into a smaller class, which only wastes the difference).
                return if nsize < osize { ptr } else { new };
            }
            std::ptr::copy_nonoverlapping(ptr as *const u8, new as *mut u8, osize.min(nsize));
            self.release(ptr, osize);
            new
        }
    }

    /// A new block of at least `size` bytes (null when none can be had).
    ///
    /// # Safety
    /// One thread at a time (the free lists are not synchronised).
    unsafe fn alloc(&self, size: usize) -> *mut c_void {
        if size <= SMALL {
            let c = class(size);
            // SAFETY: the caller's contract: no other reference to the free lists exists
            // while this one does. A listed block is a freed slot of class `c`, at least 16
            // bytes and aligned to 16 (slots are cut at multiples of `GRAIN` from a `malloc`
            // block), whose first word links the next.
            unsafe {
                let free = &mut *self.free.get();
                let head = free[c];
                if !head.is_null() {
                    free[c] = *(head as *mut *mut u8);
                    return head as *mut c_void;
                }
            }
            let next = self.next.get();
            let block = (c + 1) * GRAIN;
            if (self.end as usize).saturating_sub(next as usize) >= block {
                // SAFETY: `next + block` is at most `end`, inside (or one past) the region.
                self.next.set(unsafe { next.add(block) });
                return next as *mut c_void;
            }
        }
        // SAFETY: the caller's contract.
        unsafe { self.big_alloc(size) }
    }

    /// # Safety
    /// `h` is a header of a `malloc` block not in the list; one thread at a time.
    unsafe fn link(&self, h: *mut Header) {
        let head = self.big.get();
        // SAFETY: `h` and the list's head are headers of live `malloc` blocks (the caller's
        // contract and the list's invariant).
        unsafe {
            (*h).prev = std::ptr::null_mut();
            (*h).next = head;
            if !head.is_null() {
                (*head).prev = h;
            }
        }
        self.big.set(h);
    }

    /// # Safety
    /// `h` is a header in the list; one thread at a time.
    unsafe fn unlink(&self, h: *mut Header) {
        // SAFETY: `h` is in the list, so it and its neighbours are live headers.
        unsafe {
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
    }

    /// # Safety
    /// One thread at a time.
    unsafe fn big_alloc(&self, size: usize) -> *mut c_void {
        let Some(total) = size.checked_add(HEADER) else {
            return std::ptr::null_mut();
        };
        // SAFETY: a fresh `malloc` block of `HEADER + size` bytes (aligned to 16, as
        // `Header` is), linked in, and the block after its header handed out.
        unsafe {
            let h = libc::malloc(total) as *mut Header;
            if h.is_null() {
                return h as *mut c_void;
            }
            self.link(h);
            h.add(1) as *mut c_void
        }
    }

    /// # Safety
    /// `ptr` came from `big_alloc`/`big_realloc` of this arena and is not used again.
    unsafe fn big_free(&self, ptr: *mut c_void) {
        // SAFETY: such a block has its header just before it, in the list.
        unsafe {
            let h = (ptr as *mut Header).sub(1);
            self.unlink(h);
            libc::free(h as *mut c_void);
        }
    }

    /// # Safety
    /// As [`Arena::big_free`]; on success the old pointer is not used again.
    unsafe fn big_realloc(&self, ptr: *mut c_void, size: usize) -> *mut c_void {
        let Some(total) = size.checked_add(HEADER) else {
            return std::ptr::null_mut();
        };
        // SAFETY: the header precedes the block; it leaves the list while `realloc` may move
        // it and goes back (moved or not) afterwards, so the list never holds a freed one.
        unsafe {
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
    }

    /// # Safety
    /// `ptr` is a slot of the region of `size`'s class, not used again; one thread at a time.
    unsafe fn release(&self, ptr: *mut c_void, size: usize) {
        let c = class(size);
        // SAFETY: a slot holds at least 16 aligned bytes, room for the link word; the free
        // lists are ours alone (the caller's contract).
        unsafe {
            let free = &mut *self.free.get();
            *(ptr as *mut *mut u8) = free[c];
            free[c] = ptr as *mut u8;
        }
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        let mut h = self.big.get();
        while !h.is_null() {
            // SAFETY: every header in the list is a live `malloc` block owned by the arena;
            // its link is read before it is freed. The state using the arena is gone.
            unsafe {
                let next = (*h).next;
                libc::free(h as *mut c_void);
                h = next;
            }
        }
        // SAFETY: the region came from `malloc` (or is null, which `free` accepts).
        unsafe { libc::free(self.start as *mut c_void) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_reused_by_size_and_large_ones_come_from_malloc() {
        let arena = Arena::new();
        // Without a region (`PYLUA_NO_ARENA`), every block comes from `malloc`.
        let region = !arena.start.is_null();
        // SAFETY: every block passed back came from this arena with the size given.
        unsafe {
            let a = arena.realloc(std::ptr::null_mut(), 0, 24);
            assert_eq!(arena.owns(a), region);
            std::ptr::write_bytes(a as *mut u8, 7, 24);
            // Same class: resized in place.
            let a2 = arena.realloc(a, 24, 30);
            assert!(!region || a2 == a);
            // Another class: moved, contents kept, old block reused by the next of its size.
            let b = arena.realloc(a2, 30, 100);
            assert!(!region || a2 != b);
            assert_eq!(*(b as *const u8).add(23), 7);
            let c = arena.realloc(std::ptr::null_mut(), 0, 17);
            assert!(!region || c == a);
            let big = arena.realloc(std::ptr::null_mut(), 0, 4096);
            assert!(!arena.owns(big));
            let big = arena.realloc(big, 4096, 10);
            assert!(arena.realloc(big, 10, 0).is_null());
            arena.realloc(b, 100, 0);
            arena.realloc(c, 17, 0);
        }
    }

    #[test]
    fn a_full_region_falls_back_to_malloc() {
        let arena = Arena::new();
        let blocks: Vec<_> = (0..REGION / SMALL + 10)
            // SAFETY: a fresh allocation has no precondition beyond one thread at a time.
            .map(|_| unsafe { arena.realloc(std::ptr::null_mut(), 0, SMALL) })
            .collect();
        assert!(blocks.iter().any(|&p| !arena.owns(p)));
        // Half of them freed, the rest left to the arena's drop.
        for p in blocks.into_iter().step_by(2) {
            // SAFETY: `p` came from this arena with `SMALL` bytes and is freed once.
            unsafe { arena.realloc(p, SMALL, 0) };
        }
    }
}
