//! The work directory: where stages hand off to each other.
//!
//! Every stage reads the artifacts of the stages before it from one work directory and writes its own
//! named folder there (`stats/`, `dedup/`, `tokens/`, ...), finishing with a `_done.json` marker that
//! records the tool version, a hash of the stage's settings, digests of its inputs and its counts
//! (the datatrove habit). A stage whose marker matches is complete and can be skipped; anything else
//! is redone. Files are written under a temporary name and renamed into place ([`write_atomic`]), and
//! a stage removes its old marker before it starts, so a crash never leaves an artifact that looks
//! whole.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use anyhow::{Context, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The name of the completion marker inside each stage folder.
pub const DONE_MARKER: &str = "_done.json";

/// The folders a stage's library code finishes with its own `_done.json` (the artifact is whole,
/// whether a subcommand or `remix run` wrote it). Not the pipeline's stage list: `remix run` keeps its
/// markers of settings and upstream digests apart, in `WORK/pipeline/<stage>/` (`PipelineStage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageFolder {
    Stats,
    Dedup,
    Cluster,
    Tokens,
    Runs,
    Doremi,
    Fit,
}

impl StageFolder {
    pub fn folder(self) -> &'static str {
        match self {
            StageFolder::Stats => "stats",
            StageFolder::Dedup => "dedup",
            StageFolder::Cluster => "cluster",
            StageFolder::Tokens => "tokens",
            StageFolder::Runs => "runs",
            StageFolder::Doremi => "doremi",
            StageFolder::Fit => "fit",
        }
    }
}

/// A work directory on disk.
#[derive(Debug, Clone)]
pub struct WorkDir {
    root: PathBuf,
}

impl WorkDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder of a stage (not created).
    pub fn stage_dir(&self, stage: StageFolder) -> PathBuf {
        self.root.join(stage.folder())
    }

    /// The completion marker of a stage, when the stage has finished.
    pub fn marker(&self, stage: StageFolder) -> Result<Option<DoneMarker>> {
        DoneMarker::read(&self.stage_dir(stage))
    }
}

/// What a finished stage records about itself in `_done.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DoneMarker {
    /// The stage folder name (`stats`, `dedup`, ...).
    pub stage: String,
    /// The remix version that wrote the artifacts.
    pub tool_version: String,
    /// SHA-256 of the stage's settings as canonical JSON.
    pub config_hash: String,
    /// One digest per input file: SHA-256 over its path, size and modification time.
    pub inputs: Vec<InputDigest>,
    /// Counts the stage wants to report (documents, domains, ...).
    pub counts: serde_json::Map<String, serde_json::Value>,
}

/// A cheap identity of an input file: hashing a terabyte corpus on every resume would cost more
/// than the stage, so size and modification time stand in for the content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct InputDigest {
    pub path: String,
    pub digest: String,
}

impl DoneMarker {
    /// A marker for `stage` with the settings `config` and the input files `inputs`.
    pub fn new(stage: StageFolder, config: &impl Serialize, inputs: &[PathBuf]) -> Result<Self> {
        Self::named(stage.folder(), config, inputs)
    }

    /// A marker for a step that is not one of the [`StageFolder`] folders (the pipeline's own steps).
    pub fn named(stage: &str, config: &impl Serialize, inputs: &[PathBuf]) -> Result<Self> {
        Ok(Self {
            stage: stage.to_string(),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            config_hash: config_hash(config)?,
            inputs: inputs
                .iter()
                .map(|p| input_digest(p))
                .collect::<Result<_>>()?,
            counts: serde_json::Map::new(),
        })
    }

    pub fn with_count(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.counts.insert(key.to_string(), value.into());
        self
    }

    /// Whether this marker describes the same work as `expected` (counts aside).
    pub fn matches(&self, expected: &DoneMarker) -> bool {
        self.stage == expected.stage
            && self.tool_version == expected.tool_version
            && self.config_hash == expected.config_hash
            && self.inputs == expected.inputs
    }

    pub fn read(dir: &Path) -> Result<Option<Self>> {
        let path = dir.join(DONE_MARKER);
        match fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(marker) => Ok(Some(marker)),
                // A marker that is not one (cut short, or edited by hand) says nothing was finished:
                // the stage runs again, which rewrites it.
                Err(e) => {
                    tracing::warn!(
                        marker = %path.display(),
                        error = %e,
                        "the completion marker is unreadable: its stage counts as not done and runs again"
                    );
                    Ok(None)
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// Removes the marker of a stage that is about to be redone, so that a crash part-way leaves
    /// no marker behind.
    pub fn clear(dir: &Path) -> Result<()> {
        let path = dir.join(DONE_MARKER);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("cannot remove the old marker {}", path.display()))
            }
            _ => Ok(()),
        }
    }

    /// Writes the marker last, after every artifact of the stage is in place.
    pub fn write(&self, dir: &Path) -> Result<()> {
        write_json(&dir.join(DONE_MARKER), self)
    }
}

/// SHA-256 of a value's JSON form, as hex. Struct fields serialise in declaration order, so the
/// same settings always give the same hash.
pub fn config_hash(config: &impl Serialize) -> Result<String> {
    Ok(hex(&Sha256::digest(serde_json::to_vec(config)?)))
}

/// A stage input's digest: of its path, size and modification time; for an object in a store
/// ([`crate::core::store`]), of its URL, size and ETag.
fn input_digest(path: &Path) -> Result<InputDigest> {
    if let Some(url) = crate::core::store::StoreUrl::parse(path)? {
        return Ok(InputDigest {
            path: path.display().to_string(),
            digest: hex(&Sha256::digest(
                crate::core::store::identity(&url)?.as_bytes(),
            )),
        });
    }
    let meta =
        fs::metadata(path).with_context(|| format!("cannot stat input {}", path.display()))?;
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let mut hasher = Sha256::new();
    hasher.update(path.to_string_lossy().as_bytes());
    hasher.update(meta.len().to_le_bytes());
    hasher.update(modified.to_le_bytes());
    Ok(InputDigest {
        path: path.display().to_string(),
        digest: hex(&hasher.finalize()),
    })
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so that readers
/// see either the old file or the whole new one. Creates the parent folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |file| file.write_all(bytes).map_err(Into::into))
}

/// `value` as pretty-printed JSON at `path`, written atomically ([`write_atomic`]); the counterpart of
/// [`read_json`]. Errors: a value serde cannot serialise, or the write.
pub fn write_json<T: serde::Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    write_atomic(path, &serde_json::to_vec_pretty(value)?)
}

/// Like [`write_atomic`], with the content produced by `write` into the temporary file.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut fs::File) -> Result<()>,
) -> Result<()> {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(parent)
        .with_context(|| format!("cannot create the output folder {}", parent.display()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| -> Result<()> {
        let mut file = fs::File::create(&tmp)?;
        write(&mut file)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        Ok(())
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(e).with_context(|| {
            format!(
                "cannot write {} (is the disk full or read-only?); nothing was changed there",
                path.display()
            )
        });
    }
    Ok(())
}

/// Reads the JSON file `path` that an earlier step (a stage, a task) wrote. Errors: the file is missing
/// (`missing` says which step has not finished and what to run), or it is not what remix writes there.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path, missing: &str) -> Result<T> {
    let bytes =
        fs::read(path).with_context(|| format!("cannot read {}: {missing}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{} is not the file remix writes there (damaged, or from another version): {missing}",
            path.display()
        )
    })
}

/// Reads the JSON file `path`, or `None` when it is absent. Errors: unreadable, or not parseable as `T`
/// (the message is the path followed by `not_what`, which says what the file should be and what to do).
pub fn read_json_if_present<T: serde::de::DeserializeOwned>(
    path: &Path,
    not_what: &str,
) -> Result<Option<T>> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .with_context(|| format!("{} {not_what}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// A temporary sibling of a stage folder, where the stage's output is assembled before
/// [`replace_dir`] moves it into place.
pub fn staging_dir(out_dir: &Path) -> PathBuf {
    let name = out_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    out_dir.with_file_name(format!(".{name}.staging-{}", std::process::id()))
}

/// Builds the folder `target` with `fill` in a fresh [`staging_dir`] and moves it into place, replacing
/// what was there; on any error the staging folder is removed and `target` is left as it was.
pub fn write_dir(target: &Path, fill: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let staging = staging_dir(target);
    if staging.exists() {
        fs::remove_dir_all(&staging)
            .with_context(|| format!("cannot clear {}", staging.display()))?;
    }
    fs::create_dir_all(&staging).with_context(|| {
        format!(
            "cannot create {} (is the disk full or read-only?)",
            staging.display()
        )
    })?;
    match fill(&staging).and_then(|()| replace_dir(&staging, target)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = fs::remove_dir_all(&staging);
            Err(e)
        }
    }
}

/// Moves the finished `staging` folder to `target`, replacing what was there.
pub fn replace_dir(staging: &Path, target: &Path) -> Result<()> {
    if target.exists() {
        fs::remove_dir_all(target)
            .with_context(|| format!("cannot remove the previous output {}", target.display()))?;
    }
    fs::rename(staging, target).with_context(|| {
        format!(
            "cannot move {} to {} (is the disk full or read-only?)",
            staging.display(),
            target.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_round_trip_and_matching() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.parquet");
        fs::write(&input, b"x").unwrap();
        let marker = DoneMarker::new(
            StageFolder::Stats,
            &("text", 1),
            std::slice::from_ref(&input),
        )
        .unwrap()
        .with_count("documents", 3);
        marker.write(dir.path()).unwrap();
        let back = DoneMarker::read(dir.path()).unwrap().unwrap();
        assert_eq!(back, marker);
        assert!(
            back.matches(
                &DoneMarker::new(
                    StageFolder::Stats,
                    &("text", 1),
                    std::slice::from_ref(&input)
                )
                .unwrap()
            )
        );
        assert!(
            !back.matches(
                &DoneMarker::new(
                    StageFolder::Stats,
                    &("text", 2),
                    std::slice::from_ref(&input)
                )
                .unwrap()
            )
        );
        fs::write(&input, b"longer").unwrap();
        assert!(
            !back.matches(&DoneMarker::new(StageFolder::Stats, &("text", 1), &[input]).unwrap())
        );
        DoneMarker::clear(dir.path()).unwrap();
        assert!(DoneMarker::read(dir.path()).unwrap().is_none());
    }

    #[test]
    fn atomic_write_leaves_no_temporary_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        write_atomic(&path, b"old").unwrap();
        let err = write_atomic_with(&path, |_| anyhow::bail!("simulated failure"));
        assert!(err.is_err());
        assert_eq!(fs::read(&path).unwrap(), b"old");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    /// What one stage writes, the next reads bit for bit (serde_json's `float_roundtrip`): a validation
    /// loss folded into the manifest is the loss in `validate/results.json`.
    #[test]
    fn json_floats_read_back_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        let mut x = 0.1_f64;
        let values: Vec<f64> = (0..2000)
            .map(|_| {
                x = (x * 7.3758978843688965 + 0.3333).fract() * 10.0;
                x
            })
            .chain([
                7.3758978843688965,
                0.009355554246903404,
                f64::MIN_POSITIVE,
                1e300,
            ])
            .collect();
        write_json(&path, &values).unwrap();
        let back: Vec<f64> = read_json(&path, "").unwrap();
        assert!(
            values
                .iter()
                .zip(&back)
                .all(|(a, b)| a.to_bits() == b.to_bits())
        );
    }
}
