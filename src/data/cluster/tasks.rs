//! The cluster stage as array tasks, with the same clusters, names and files as the one-process
//! [`super::run`] for any task count.
//!
//! With `[executor] tasks = { cluster = N }` the stage runs as two phases in `WORK/cluster-tasks/`:
//!
//! 1. **fit** (1 task): picks the sample, fits the clusters and names them as [`super::run`] does
//!    (or reads `centroids_from`), and writes the model to `model/` (`clusters.json` without counts,
//!    the IDF files).
//! 2. **assign** (N tasks): task `i` assigns the row groups [`crate::data::corpus::Corpus::task_units`] gives it, writes their
//!    parts to `output/` (named by file and row group, as the one-process run names them) and its
//!    counts to `counts/<i>.json`.
//!
//! The stage itself then adds up the counts into `clusters.json`, moves `output/` to `cluster/` with the
//! model and its marker, and removes `cluster-tasks/`.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::assign::{self, AssignCounts, Model};
use super::fit::Groups;
use super::{ClusterConfig, ClustersFile, model_for, open_corpus};
use crate::core::tasks::TaskSlice;
use crate::core::workdir::{DoneMarker, StageFolder, WorkDir, read_json, replace_dir, write_json};

/// The folder of the phases' files inside the work directory.
pub const TASKS_FOLDER: &str = "cluster-tasks";

/// `WORK/cluster-tasks/`.
pub fn tasks_dir(work: &WorkDir) -> PathBuf {
    work.root().join(TASKS_FOLDER)
}

/// Phase 1: fits (or reads) the model and writes it to `dir/model/`.
pub fn fit(paths: &[PathBuf], config: &ClusterConfig, dir: &Path, quiet: bool) -> Result<()> {
    config.check()?;
    let corpus = open_corpus(paths, config)?;
    let model = model_for(&corpus, config, quiet)?;
    // What an earlier attempt's assign tasks left (maybe with other settings) is not this model's.
    for stale in ["output", "counts"].map(|d| dir.join(d)) {
        if stale.exists() {
            fs::remove_dir_all(&stale)
                .with_context(|| format!("cannot remove {}", stale.display()))?;
        }
    }
    let staging = dir.join("model.partial");
    if staging.exists() {
        fs::remove_dir_all(&staging)
            .with_context(|| format!("cannot remove {}", staging.display()))?;
    }
    super::save_model(&model, &staging)?;
    replace_dir(&staging, &dir.join("model"))
}

/// The model the fit phase wrote.
fn read_model(dir: &Path) -> Result<Model> {
    let path = dir.join("model").join(super::CLUSTERS_FILE);
    super::read_model(&path).with_context(|| {
        format!(
            "the cluster stage's fit phase has not finished in {}",
            dir.display()
        )
    })
}

/// Phase 2, task `task`: assigns its row groups into `dir/output/` and writes `dir/counts/<i>.json`.
pub fn assign(
    paths: &[PathBuf],
    config: &ClusterConfig,
    dir: &Path,
    task: TaskSlice,
    quiet: bool,
) -> Result<()> {
    let corpus = open_corpus(paths, config)?;
    let model = read_model(dir)?;
    let units = corpus.task_units(task.index, task.count);
    let groups = Groups::new(config);
    let counts = assign::assign(&corpus, &units, &model, &groups, &dir.join("output"), quiet)?;
    let counts_dir = dir.join("counts");
    fs::create_dir_all(&counts_dir)
        .with_context(|| format!("cannot create {}", counts_dir.display()))?;
    write_json(&counts_dir.join(format!("{}.json", task.index)), &counts)
}

/// Joins the tasks' output into `WORK/cluster/` with `clusters.json` and the marker.
pub fn finish(
    paths: &[PathBuf],
    config: &ClusterConfig,
    work: &WorkDir,
    count: usize,
) -> Result<ClustersFile> {
    let corpus = open_corpus(paths, config)?;
    let dir = tasks_dir(work);
    let model = read_model(&dir)?;
    let mut counts = AssignCounts::default();
    for i in 0..count {
        let path = dir.join("counts").join(format!("{i}.json"));
        counts.merge(read_json(
            &path,
            "an assign task has not finished; run the cluster stage again",
        )?);
    }
    let out_dir = work.stage_dir(StageFolder::Cluster);
    DoneMarker::clear(&out_dir)?;
    let output = dir.join("output");
    if !output.is_dir() {
        // No task had a document to write (an empty corpus is refused when it is opened).
        bail!(
            "{} is missing: the assign phase has not finished; run the cluster stage again",
            output.display()
        );
    }
    let file = super::finish(model, counts, &output)?;
    replace_dir(&output, &out_dir)?;
    super::marker(config, &corpus, &file)?.write(&out_dir)?;
    fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    Ok(file)
}
