//! Panics turned into errors where a library reports failure by panicking (burn's wgpu runtime panics
//! when an allocation fails or no adapter answers).
//!
//! std has one process-wide panic hook and no scoped one, so `main` installs one hook
//! ([`install_hook`]) that prints as the default hook does, except on a thread that is inside
//! [`quietly`]: there the panic becomes the `Err` that [`quietly`] returns, and the caller's error says
//! what to do. Other threads' panics print as always.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};

thread_local! {
    /// Whether this thread is inside [`quietly`].
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Installs the process's panic hook: the default one, silent on a thread inside [`quietly`]. Called
/// once, by `main`; without it [`quietly`] still catches, and the default hook prints the message too.
pub fn install_hook() {
    let default = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        if !QUIET.with(Cell::get) {
            default(info);
        }
    }));
}

/// Runs `work` on this thread, turning a panic into its message (empty when the payload is not text).
pub fn quietly<T>(work: impl FnOnce() -> T) -> Result<T, String> {
    let outer = QUIET.with(|quiet| quiet.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(work));
    QUIET.with(|quiet| quiet.set(outer));
    result.map_err(|payload| {
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_its_message_and_the_flag_is_restored() {
        assert_eq!(quietly(|| 7), Ok(7));
        assert_eq!(
            quietly(|| -> u8 { panic!("out of memory") }),
            Err("out of memory".to_string())
        );
        let nested = quietly(|| quietly(|| -> u8 { panic!("inner") }).unwrap_err());
        assert_eq!(nested, Ok("inner".to_string()));
        assert!(!QUIET.with(Cell::get), "the flag is off again outside");
    }
}
