//! Headless machines: when Mesa's Vulkan drivers (lavapipe on a CPU-only machine) are enumerated, they
//! ask libwayland for a display, and libwayland prints `error: XDG_RUNTIME_DIR is invalid or not set in
//! the environment.` on stderr when that variable is unset (a login over SSH without a session, a
//! container, a CI job), which reads as remix failing. remix draws nothing, so where the variable is
//! unset it points it at a private, empty folder of its own: libwayland then finds no display there,
//! quietly.

use std::path::PathBuf;

/// Sets `XDG_RUNTIME_DIR` to a private folder (`<temp>/remix-runtime-<uid>`, mode 0700) when it is
/// unset. Call once at start, before any thread exists (it changes the environment).
/// A folder that cannot be made leaves the variable unset (Mesa's line is then only noise).
pub fn quiet_display_lookup() {
    if std::env::var_os("XDG_RUNTIME_DIR").is_some() {
        return;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
        let uid = std::fs::metadata("/proc/self")
            .map(|m| m.uid())
            .unwrap_or(0);
        let dir: PathBuf = std::env::temp_dir().join(format!("remix-runtime-{uid}"));
        let made = std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .or_else(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => Ok(()),
                _ => Err(e),
            });
        // Only a folder of this user's, closed to others, is used: libwayland refuses any other.
        let private = std::fs::symlink_metadata(&dir)
            .is_ok_and(|m| m.is_dir() && m.uid() == uid && m.permissions().mode() & 0o077 == 0);
        if made.is_ok() && private {
            // SAFETY: called at the start of main, before any other thread exists.
            unsafe { std::env::set_var("XDG_RUNTIME_DIR", &dir) };
        }
    }
}
