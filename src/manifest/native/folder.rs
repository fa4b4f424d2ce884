//! Writing a native data folder whole or not at all: under a temporary name beside its destination,
//! then renamed into place ([`FolderWriter`]).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// A folder written under a temporary name beside its destination, then renamed into place.
pub struct FolderWriter {
    tmp: PathBuf,
    dir: PathBuf,
}

impl FolderWriter {
    pub(super) fn start(dir: &Path) -> Result<Self> {
        // What an interrupted writer left: its half-written folder, or the old one it had moved aside.
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Ok(entries) = fs::read_dir(dir.parent().unwrap_or(Path::new("."))) {
            for entry in entries.flatten() {
                let left = entry.file_name().to_string_lossy().into_owned();
                if left.starts_with(&format!(".{name}.tmp-"))
                    || (left.starts_with(&format!(".{name}.old-")) && dir.exists())
                {
                    fs::remove_dir_all(entry.path())
                        .with_context(|| format!("cannot remove {}", entry.path().display()))?;
                }
            }
        }
        let tmp = sibling(dir, "tmp");
        fs::create_dir_all(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        Ok(Self {
            tmp,
            dir: dir.to_path_buf(),
        })
    }

    /// Writes one file of the folder.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        self.write_chunks(name, [bytes])
    }

    /// Writes one file of the folder from its pieces, in order.
    pub fn write_chunks<'b>(
        &self,
        name: &str,
        chunks: impl IntoIterator<Item = &'b [u8]>,
    ) -> Result<()> {
        let path = self.tmp.join(name);
        let mut file =
            fs::File::create(&path).with_context(|| format!("cannot write {}", path.display()))?;
        chunks
            .into_iter()
            .try_for_each(|chunk| file.write_all(chunk))
            .and_then(|()| file.sync_all())
            .with_context(|| format!("cannot write {}", path.display()))
    }

    /// Puts the folder in place: the old one moves aside first and is removed only after.
    pub(super) fn finish(self) -> Result<()> {
        let old = sibling(&self.dir, "old");
        if self.dir.exists() {
            fs::rename(&self.dir, &old)
                .with_context(|| format!("cannot move {} aside", self.dir.display()))?;
        }
        fs::rename(&self.tmp, &self.dir).with_context(|| {
            format!(
                "cannot rename {} to {}",
                self.tmp.display(),
                self.dir.display()
            )
        })?;
        if old.exists() {
            fs::remove_dir_all(&old).with_context(|| format!("cannot remove {}", old.display()))?;
        }
        Ok(())
    }
}

fn sibling(dir: &Path, what: &str) -> PathBuf {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir.with_file_name(format!(".{name}.{what}-{}", std::process::id()))
}
