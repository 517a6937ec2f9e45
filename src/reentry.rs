//! Detects calls into a handle from inside one of its own callbacks.
//!
//! A read holds the handle's locks while it runs the caller's callbacks, so a call back
//! into the same handle from the same thread would wait on itself forever. Each thread
//! remembers which handles it is running callbacks for, and such calls fail instead.

use std::cell::RefCell;

thread_local! {
    static IN_CALLBACK: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// Marks the current thread as running callbacks of handle `id` until dropped.
pub(crate) struct CallbackScope(u64);

impl CallbackScope {
    pub(crate) fn enter(id: u64) -> Self {
        IN_CALLBACK.with(|v| v.borrow_mut().push(id));
        CallbackScope(id)
    }
}

impl Drop for CallbackScope {
    fn drop(&mut self) {
        IN_CALLBACK.with(|v| {
            let mut v = v.borrow_mut();
            if let Some(i) = v.iter().rposition(|&x| x == self.0) {
                v.remove(i);
            }
        });
    }
}

/// Whether the current thread is inside a callback of handle `id`.
pub(crate) fn inside(id: u64) -> bool {
    IN_CALLBACK.with(|v| v.borrow().contains(&id))
}
