//! [`Lazy`]: a value built on first use, shareable across threads, without
//! `std` (the matcher is `no_std` in its wasm modules).

use alloc::boxed::Box;
use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicPtr, AtomicU8, Ordering};

/// A value built on first use by whichever thread needs it first; a thread
/// that loses the race drops its copy (building is pure, so both copies are
/// equal). What a database's DFAs and a matcher's exact engines are kept in,
/// so that one database and one matcher serve every thread.
pub(crate) struct Lazy<T> {
    ptr: AtomicPtr<T>,
    /// Owns a `T` (drop check, and `Send` only when `T` is).
    _owns: PhantomData<Box<T>>,
}

// SAFETY: as `std::sync::OnceLock`: a `&Lazy` hands out `&T` to every
// thread (so `T: Sync`) and may build the `T` on any of them (`T: Send`).
unsafe impl<T: Send + Sync> Sync for Lazy<T> {}

impl<T> Lazy<T> {
    pub(crate) const fn new() -> Lazy<T> {
        Lazy {
            ptr: AtomicPtr::new(core::ptr::null_mut()),
            _owns: PhantomData,
        }
    }

    /// A value set already.
    pub(crate) fn with(value: T) -> Lazy<T> {
        Lazy {
            ptr: AtomicPtr::new(Box::into_raw(Box::new(value))),
            _owns: PhantomData,
        }
    }

    pub(crate) fn get(&self) -> Option<&T> {
        // SAFETY: a non-null pointer came from `Box::into_raw` and was
        // published once; it is freed only by `drop`, which takes `&mut self`.
        unsafe { self.ptr.load(Ordering::Acquire).as_ref() }
    }

    /// Inlined: the value is there on every call but the first, and the
    /// building path's frame would be paid on each (in wasm, a called
    /// function spills its values).
    #[inline(always)]
    pub(crate) fn get_or_init(&self, init: impl FnOnce() -> T) -> &T {
        match self.get() {
            Some(value) => value,
            None => self.init(init),
        }
    }

    #[cold]
    #[inline(never)]
    fn init(&self, init: impl FnOnce() -> T) -> &T {
        let new = Box::into_raw(Box::new(init()));
        match self.ptr.compare_exchange(
            core::ptr::null_mut(),
            new,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            // SAFETY: `new` is now published; see `get`.
            Ok(_) => unsafe { &*new },
            Err(winner) => {
                // SAFETY: `new` was never published, so it is ours to free;
                // `winner` was published (see `get`).
                unsafe {
                    drop(Box::from_raw(new));
                    &*winner
                }
            }
        }
    }
}

impl<T> Default for Lazy<T> {
    fn default() -> Lazy<T> {
        Lazy::new()
    }
}

impl<T: Clone> Clone for Lazy<T> {
    fn clone(&self) -> Lazy<T> {
        match self.get() {
            Some(value) => Lazy::with(value.clone()),
            None => Lazy::new(),
        }
    }
}

impl<T: core::fmt::Debug> core::fmt::Debug for Lazy<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("Lazy").field(&self.get()).finish()
    }
}

impl<T> Drop for Lazy<T> {
    fn drop(&mut self) {
        let p = *self.ptr.get_mut();
        if !p.is_null() {
            // SAFETY: from `Box::into_raw`, published once, freed once here.
            drop(unsafe { Box::from_raw(p) });
        }
    }
}

/// [`Lazy`] for a value that borrows (a shard's DFA over the database's
/// bytes): stored in place and never dropped, because a type with a `Drop`
/// impl would make the borrow checker demand that those bytes outlive every
/// temporary holding the database (`Database<'a>` in a tail expression).
/// Only for values whose drop frees nothing: a DFA deserialized from bytes
/// holds borrowed slices and no prefilter.
pub(crate) struct LazyInPlace<T> {
    state: AtomicU8,
    value: UnsafeCell<MaybeUninit<T>>,
}

const EMPTY: u8 = 0;
const BUILDING: u8 = 1;
const READY: u8 = 2;
/// `init` panicked (natively, where a panic unwinds: a DFA that failed its
/// first-use check); every later caller panics too instead of waiting.
const FAILED: u8 = 3;

// SAFETY: as `Lazy`: the value is written once, by the thread that moved
// `state` from EMPTY to BUILDING, and read only after READY is published.
unsafe impl<T: Send + Sync> Sync for LazyInPlace<T> {}

impl<T> LazyInPlace<T> {
    pub(crate) const fn new() -> LazyInPlace<T> {
        LazyInPlace {
            state: AtomicU8::new(EMPTY),
            value: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    /// A value set already.
    pub(crate) fn with(value: T) -> LazyInPlace<T> {
        LazyInPlace {
            state: AtomicU8::new(READY),
            value: UnsafeCell::new(MaybeUninit::new(value)),
        }
    }

    pub(crate) fn get(&self) -> Option<&T> {
        // SAFETY: READY is stored (Release) only after the value is written.
        (self.state.load(Ordering::Acquire) == READY)
            .then(|| unsafe { (*self.value.get()).assume_init_ref() })
    }

    /// The value, built by `init` if no thread has built it; a thread that
    /// finds another building it waits for it (building a DFA from its
    /// bytes takes microseconds; wasm modules are single-threaded).
    /// Inlined, as [`Lazy::get_or_init`].
    #[inline(always)]
    pub(crate) fn get_or_init(&self, init: impl FnOnce() -> T) -> &T {
        match self.get() {
            Some(value) => value,
            None => self.init(init),
        }
    }

    #[cold]
    #[inline(never)]
    fn init(&self, init: impl FnOnce() -> T) -> &T {
        let mut init = Some(init);
        loop {
            if let Some(value) = self.get() {
                return value;
            }
            match self
                .state
                .compare_exchange(EMPTY, BUILDING, Ordering::Acquire, Ordering::Acquire)
            {
                Ok(_) => {
                    // Marks the value FAILED if `init` unwinds, so that no
                    // later caller waits for a builder that is gone.
                    struct Unwinding<'a>(&'a AtomicU8);
                    impl Drop for Unwinding<'_> {
                        fn drop(&mut self) {
                            self.0.store(FAILED, Ordering::Release);
                        }
                    }
                    let unwinding = Unwinding(&self.state);
                    let value = (init.take().expect("built once"))();
                    core::mem::forget(unwinding);
                    // SAFETY: the EMPTY -> BUILDING exchange made this thread
                    // the only writer, and no reader reads before READY.
                    unsafe { (*self.value.get()).write(value) };
                    self.state.store(READY, Ordering::Release);
                }
                Err(FAILED) => panic!(
                    "this value failed to build before (the database failed its first-use check)"
                ),
                Err(_) => core::hint::spin_loop(),
            }
        }
    }
}

impl<T: Clone> Clone for LazyInPlace<T> {
    fn clone(&self) -> LazyInPlace<T> {
        match self.get() {
            Some(value) => LazyInPlace::with(value.clone()),
            None => LazyInPlace::new(),
        }
    }
}

impl<T: core::fmt::Debug> core::fmt::Debug for LazyInPlace<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("LazyInPlace").field(&self.get()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_build_that_panicked_fails_later_callers_instead_of_blocking_them() {
        extern crate std;
        let lazy: LazyInPlace<u32> = LazyInPlace::new();
        let first = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            lazy.get_or_init(|| panic!("bad DFA"));
        }));
        assert!(first.is_err());
        // Before: the state stayed BUILDING and this call spun forever.
        let (tx, rx) = std::sync::mpsc::channel();
        let lazy = std::sync::Arc::new(lazy);
        let again = lazy.clone();
        std::thread::spawn(move || {
            let r =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| *again.get_or_init(|| 7)));
            let _ = tx.send(r.is_err());
        });
        assert_eq!(
            rx.recv_timeout(std::time::Duration::from_secs(10)),
            Ok(true),
            "a later caller panics at once"
        );
    }

    #[test]
    fn built_once_and_shared() {
        let lazy = Lazy::new();
        assert!(lazy.get().is_none());
        assert_eq!(*lazy.get_or_init(|| 7), 7);
        assert_eq!(*lazy.get_or_init(|| 8), 7);
        assert_eq!(lazy.clone().get(), Some(&7));
        let in_place = LazyInPlace::new();
        assert!(in_place.get().is_none());
        assert_eq!(*in_place.get_or_init(|| 7), 7);
        assert_eq!(*in_place.get_or_init(|| 8), 7);
        assert_eq!(in_place.clone().get(), Some(&7));
    }

    #[cfg(feature = "std")]
    #[test]
    fn threads_racing_see_one_value() {
        extern crate std;
        let lazy: Lazy<alloc::vec::Vec<u8>> = Lazy::new();
        let lazy = &lazy;
        let seen: alloc::vec::Vec<usize> = std::thread::scope(|s| {
            (0..8u8)
                .map(|i| s.spawn(move || lazy.get_or_init(|| alloc::vec![i; 16]).as_ptr() as usize))
                .collect::<alloc::vec::Vec<_>>()
                .into_iter()
                .map(|h| h.join().unwrap())
                .collect()
        });
        assert!(seen.windows(2).all(|w| w[0] == w[1]), "{seen:?}");
        let in_place: LazyInPlace<[u8; 16]> = LazyInPlace::new();
        let in_place = &in_place;
        let seen: alloc::vec::Vec<[u8; 16]> = std::thread::scope(|s| {
            (0..8u8)
                .map(|i| s.spawn(move || *in_place.get_or_init(|| [i; 16])))
                .collect::<alloc::vec::Vec<_>>()
                .into_iter()
                .map(|h| h.join().unwrap())
                .collect()
        });
        assert!(seen.windows(2).all(|w| w[0] == w[1]), "{seen:?}");
    }
}
