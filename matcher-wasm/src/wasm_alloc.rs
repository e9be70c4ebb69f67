//! The wasm modules' allocator: size classes with free lists, and whole
//! pages for big blocks.
//!
//! Why not the standard library's (dlmalloc): JavaScript engines compile a
//! wasm function the first time it is called, so every byte of code on the
//! path to a fresh instance's first answer is paid for at load. dlmalloc's
//! `malloc` alone is ~5 KB of code on that path; this allocator is a few
//! hundred bytes. The matcher allocates little (tables at start, a result
//! list and an input buffer per call, exact engines as rules need them), so
//! a simple design loses nothing:
//!
//! * blocks up to 32 KiB come from power-of-two size classes (16 B and up),
//!   each with a free list threaded through the free blocks, carved from a
//!   bump region of grown pages when the list is empty;
//! * bigger blocks are whole pages, kept on a first-fit free list (a larger
//!   free block is split) when released. The list is in address order and
//!   a released run merges with free runs next to it; a request no run fits
//!   extends a free run that ends memory, growing only the difference.
//!   Without both, inputs of varied sizes (each a fresh buffer in the
//!   `wasm-bindgen` flavour) grew memory at every call.
//!
//! Like every allocator here it only hands out pages it grows with
//! `memory.grow`, so it never touches the baked database, which lies below
//! the module's initial memory size.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ptr::null_mut;

const PAGE: usize = 65536;
/// The smallest class is `1 << MIN_SHIFT` bytes (room for a list link and
/// the alignment of any small block).
const MIN_SHIFT: usize = 4;
const CLASSES: usize = 12;
/// The largest size class: 32 KiB.
const SMALL_MAX: usize = 1 << (MIN_SHIFT + CLASSES - 1);
/// Alignment of every small block.
const SMALL_ALIGN: usize = 1 << MIN_SHIFT;

/// A free run of whole pages.
#[repr(C)]
struct FreePages {
    next: *mut FreePages,
    pages: usize,
}

struct Heap {
    /// Per size class, the first free block (each holds the next's address).
    free: [*mut u8; CLASSES],
    /// Unused memory at the end of the last grown pages.
    bump: usize,
    bump_end: usize,
    /// Free runs of pages for big blocks, in address order, none adjacent.
    pages: *mut FreePages,
}

/// The global allocator of the wasm matcher modules.
pub struct Allocator(UnsafeCell<Heap>);

// SAFETY: wasm32-unknown-unknown without the atomics feature runs one thread.
unsafe impl Sync for Allocator {}

impl Allocator {
    /// An empty heap: all memory comes from `memory.grow`.
    pub const fn new() -> Allocator {
        Allocator(UnsafeCell::new(Heap {
            free: [null_mut(); CLASSES],
            bump: 0,
            bump_end: 0,
            pages: null_mut(),
        }))
    }
}

fn is_small(layout: &Layout) -> bool {
    layout.size() <= SMALL_MAX && layout.align() <= SMALL_ALIGN
}

/// The class of a small block: its size is `1 << (class + MIN_SHIFT)`.
fn class_of(size: usize) -> usize {
    let size = size.max(SMALL_ALIGN).next_power_of_two();
    size.trailing_zeros() as usize - MIN_SHIFT
}

fn pages_for(size: usize) -> usize {
    size.max(1).div_ceil(PAGE)
}

/// Grows memory by `pages`; the address of the new pages.
fn grow(pages: usize) -> Option<usize> {
    let previous = core::arch::wasm32::memory_grow(0, pages);
    (previous != usize::MAX).then_some(previous * PAGE)
}

impl Heap {
    /// A small block of `class`, from its free list or the bump region.
    unsafe fn small(&mut self, class: usize) -> *mut u8 {
        let head = self.free[class];
        if !head.is_null() {
            self.free[class] = *(head as *mut *mut u8);
            return head;
        }
        let size = 1 << (class + MIN_SHIFT);
        if self.bump_end - self.bump < size {
            let Some(at) = grow(1) else { return null_mut() };
            if at == self.bump_end {
                self.bump_end += PAGE;
            } else {
                self.release_bump_rest();
                self.bump = at;
                self.bump_end = at + PAGE;
            }
        }
        let block = self.bump as *mut u8;
        self.bump += size;
        block
    }

    /// Hands what is left of the bump region to the free lists, in the
    /// biggest blocks that fit, so that a new region wastes nothing.
    unsafe fn release_bump_rest(&mut self) {
        while self.bump_end - self.bump >= SMALL_ALIGN {
            let rest = self.bump_end - self.bump;
            let class = (usize::BITS - 1 - rest.leading_zeros()) as usize - MIN_SHIFT;
            let class = class.min(CLASSES - 1);
            let block = self.bump as *mut u8;
            *(block as *mut *mut u8) = self.free[class];
            self.free[class] = block;
            self.bump += 1 << (class + MIN_SHIFT);
        }
    }

    /// A run of `pages` pages: first fit from the free runs, else grown;
    /// and whether it was grown (then it is all zero, as `memory.grow`
    /// leaves new pages).
    unsafe fn pages(&mut self, pages: usize) -> (*mut u8, bool) {
        let mut link: *mut *mut FreePages = &mut self.pages;
        while !(*link).is_null() {
            let run = *link;
            if (*run).pages == pages {
                *link = (*run).next;
                return (run as *mut u8, false);
            }
            if (*run).pages > pages {
                // Keep the front of the run free; hand out its end.
                (*run).pages -= pages;
                return ((run as *mut u8).add((*run).pages * PAGE), false);
            }
            link = &mut (*run).next;
        }
        // No run fits. The last one (highest address) may end where memory
        // ends: grow only what it lacks and hand out the two together.
        let mut link: *mut *mut FreePages = &mut self.pages;
        while !(*link).is_null() && !(**link).next.is_null() {
            link = &mut (**link).next;
        }
        let last = *link;
        if !last.is_null() {
            let end = last as usize + (*last).pages * PAGE;
            if end == core::arch::wasm32::memory_size(0) * PAGE {
                // One thread: the grown pages start at `end`.
                if grow(pages - (*last).pages).is_none() {
                    return (null_mut(), false);
                }
                *link = null_mut();
                return (last as *mut u8, false);
            }
        }
        grow(pages).map_or((null_mut(), false), |at| (at as *mut u8, true))
    }

    /// Puts a run of `pages` pages back on the free list, in address order,
    /// merged with the free runs it touches.
    unsafe fn release_pages(&mut self, ptr: *mut u8, pages: usize) {
        let at = ptr as usize;
        let mut prev: *mut FreePages = null_mut();
        let mut next = self.pages;
        while !next.is_null() && (next as usize) < at {
            prev = next;
            next = (*next).next;
        }
        let run = ptr as *mut FreePages;
        (*run).pages = pages;
        (*run).next = next;
        if !next.is_null() && at + pages * PAGE == next as usize {
            (*run).pages += (*next).pages;
            (*run).next = (*next).next;
        }
        if prev.is_null() {
            self.pages = run;
        } else if prev as usize + (*prev).pages * PAGE == at {
            (*prev).pages += (*run).pages;
            (*prev).next = (*run).next;
        } else {
            (*prev).next = run;
        }
    }
}

unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let heap = &mut *self.0.get();
        if is_small(&layout) {
            heap.small(class_of(layout.size()))
        } else if layout.align() <= PAGE {
            heap.pages(pages_for(layout.size())).0
        } else {
            null_mut()
        }
    }

    /// Zeroes only blocks that may hold old bytes: pages just grown are
    /// zero already, and writing them would make the engine fault in every
    /// page of a big table (a 30,000-state rule's visited set) that a
    /// search touches a corner of.
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let heap = &mut *self.0.get();
        if !is_small(&layout) && layout.align() <= PAGE {
            let (block, grown) = heap.pages(pages_for(layout.size()));
            if !block.is_null() && !grown {
                core::ptr::write_bytes(block, 0, layout.size());
            }
            return block;
        }
        let block = self.alloc(layout);
        if !block.is_null() {
            core::ptr::write_bytes(block, 0, layout.size());
        }
        block
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let heap = &mut *self.0.get();
        if is_small(&layout) {
            let class = class_of(layout.size());
            *(ptr as *mut *mut u8) = heap.free[class];
            heap.free[class] = ptr;
        } else {
            heap.release_pages(ptr, pages_for(layout.size()));
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = Layout::from_size_align_unchecked(new_size, layout.align());
        let same_block = match (is_small(&layout), is_small(&new)) {
            (true, true) => class_of(layout.size()) == class_of(new_size),
            (false, false) => pages_for(layout.size()) == pages_for(new_size),
            _ => false,
        };
        if same_block {
            return ptr;
        }
        let moved = self.alloc(new);
        if !moved.is_null() {
            core::ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
            self.dealloc(ptr, layout);
        }
        moved
    }
}
