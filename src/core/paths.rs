//! Paths a config names, resolved against the folder of the file that names them.

use std::path::{Path, PathBuf};

/// `path` relative to the folder `base`, with `a/../` folded away (`mixtures/../work` is `work`).
pub fn beside(base: &Path, path: &Path) -> PathBuf {
    use std::path::Component;
    if crate::core::store::StoreUrl::is_url(path) {
        return path.to_path_buf();
    }
    let mut out = PathBuf::new();
    for part in base.join(path).components() {
        match part {
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_relative_to_the_config_folder() {
        let base = Path::new("mixtures");
        assert_eq!(
            beside(base, Path::new("../work/x")),
            PathBuf::from("work/x")
        );
        assert_eq!(beside(base, Path::new("/abs/y")), PathBuf::from("/abs/y"));
        assert_eq!(
            beside(Path::new(""), Path::new("../up")),
            PathBuf::from("../up")
        );
        assert_eq!(beside(Path::new("a"), Path::new("..")), PathBuf::from("."));
    }
}
