//! `remix stats`: per-domain statistics of a corpus.
//!
//! Reads the corpus once through the shared reader ([`crate::data::corpus`]), turns every usable document
//! into one row of (domain, bytes, words) on rayon's workers, and lets DataFusion SQL aggregate those
//! rows per domain and document length ([`sql`]), an exact partial aggregate that merges by summing.
//! From it come the statistics per domain: documents, bytes, share of the corpus by bytes, words, and
//! the document length distribution (mean, median, p90, p99, max; exact, not sketched; and a
//! histogram in power-of-two bins). Rows skipped by the reader (null, empty or invalid UTF-8 text) are
//! reported per domain beside them.
//!
//! Split into array tasks ([`run_task`], [`join_tasks`]), each task writes the partial aggregate of its
//! row groups and the join merges them: the statistics are the same as one process's, percentiles
//! included.
//!
//! Artifacts, in the output folder (`WORK/stats/` in a pipeline):
//! - `stats.parquet`: one row per domain;
//! - `stats.json`: the same with the corpus settings, as [`StatsReport`] (schema in `schemas/`);
//! - `_done.json`: the completion marker.
//!
//! Stats runs before tokenize, so its artifacts hold the corpus alone; [`StatsReport::join_tokens`] adds
//! a token index's counts to a report afterwards (`remix stats --tokens`, in what it prints).

mod report;
mod sql;
mod table;
mod words;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use arrow::array::{ArrayRef, DictionaryArray, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Int32Type, Schema, SchemaRef};
use serde::{Deserialize, Serialize};

pub use report::{DomainStats, LengthBin, StatsReport};
pub use table::render_table;
pub use words::count_words;

use crate::core::progress::Progress;
use crate::core::workdir::{
    DoneMarker, StageFolder, read_json, write_atomic, write_atomic_with, write_json,
};
use crate::data::corpus::config::CorpusConfig;
use crate::data::corpus::{Corpus, SkipCounts};

/// The settings that decide the content of the stats artifacts (hashed into `_done.json`).
#[derive(Serialize)]
struct StatsSettings<'a> {
    corpus: &'a CorpusConfig,
}

/// The exact partial aggregate of some row groups of the corpus ([`sql`]): per domain and document
/// length, documents and words; and the rows the reader skipped, per domain.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Partial {
    /// Batches of (domain, bytes, documents, words); not in the JSON of a task's part.
    #[serde(skip)]
    lengths: Vec<RecordBatch>,
    skips: BTreeMap<String, SkipCounts>,
    rows_without_domain: u64,
}

/// Reads the row groups `units` of the corpus into their partial aggregate.
fn partial(corpus: &Corpus, units: &[(usize, usize)], quiet: bool) -> Result<Partial> {
    let progress = Progress::new(corpus.units_rows(units), "docs", quiet);
    progress.set_message("stats");
    let schema = doc_schema();
    let per_batch = corpus.par_map_units(units, &progress, |batch| {
        let mut keys = Vec::new();
        let mut bytes = Vec::new();
        let mut words = Vec::new();
        for (_, key, text) in batch.docs() {
            keys.push(key as i32);
            bytes.push(text.len() as u64);
            words.push(count_words(text));
        }
        let names: ArrayRef = Arc::new(StringArray::from_iter_values(batch.domains()));
        let domain = DictionaryArray::<Int32Type>::try_new(keys.into(), names)?;
        let rows = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(domain),
                Arc::new(UInt64Array::from(bytes)),
                Arc::new(UInt64Array::from(words)),
            ],
        )?;
        let skips: Vec<(String, SkipCounts)> = batch
            .domains()
            .iter()
            .cloned()
            .zip(batch.skips().iter().copied())
            .collect();
        Ok((rows, skips, batch.rows_without_domain()))
    })?;
    progress.finish();

    let mut out = Partial::default();
    let mut doc_batches = Vec::with_capacity(per_batch.len());
    for (rows, batch_skips, without_domain) in per_batch {
        doc_batches.push(rows);
        for (name, counts) in batch_skips {
            out.skips.entry(name).or_default().add(&counts);
        }
        out.rows_without_domain += without_domain;
    }
    out.lengths = sql::lengths(schema, doc_batches)?;
    Ok(out)
}

/// Computes the statistics of the corpus at `paths` and writes them to `out_dir`.
pub fn run(
    paths: &[PathBuf],
    config: &CorpusConfig,
    out_dir: &Path,
    quiet: bool,
) -> Result<StatsReport> {
    let corpus = Corpus::open(paths, config)?;
    DoneMarker::clear(out_dir)?;
    let partial = partial(&corpus, &corpus.units(), quiet)?;
    finish(&corpus, config, vec![partial], out_dir)
}

/// Task `index` of `count` of the stats stage: the partial aggregate of its row groups
/// ([`Corpus::task_units`]) into `parts_dir/<task>.parquet` and `<task>.json`.
pub fn run_task(
    paths: &[PathBuf],
    config: &CorpusConfig,
    parts_dir: &Path,
    (index, count): (usize, usize),
    name: &str,
    quiet: bool,
) -> Result<()> {
    let corpus = Corpus::open(paths, config)?;
    let partial = partial(&corpus, &corpus.task_units(index, count), quiet)?;
    std::fs::create_dir_all(parts_dir)
        .with_context(|| format!("cannot create {}", parts_dir.display()))?;
    write_parquet(
        &parts_dir.join(format!("{name}.parquet")),
        lengths_schema(),
        &partial.lengths,
    )?;
    write_atomic(
        &parts_dir.join(format!("{name}.json")),
        &serde_json::to_vec(&partial)?,
    )
}

/// The stats stage from the parts its tasks wrote (`names`, in task order): the same artifacts as
/// [`run`] on the whole corpus. Errors: a part missing or unreadable (its task has not finished).
pub fn join_tasks(
    paths: &[PathBuf],
    config: &CorpusConfig,
    parts_dir: &Path,
    names: &[String],
    out_dir: &Path,
) -> Result<StatsReport> {
    let corpus = Corpus::open(paths, config)?;
    DoneMarker::clear(out_dir)?;
    let mut partials = Vec::new();
    for name in names {
        let json = parts_dir.join(format!("{name}.json"));
        let mut partial: Partial = read_json(&json, "its stats task has not finished")?;
        let path = parts_dir.join(format!("{name}.parquet"));
        let file = std::fs::File::open(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        for batch in parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .with_context(|| format!("{} is not a stats part", path.display()))?
            .build()?
        {
            partial.lengths.push(batch?);
        }
        partials.push(partial);
    }
    finish(&corpus, config, partials, out_dir)
}

/// Merges the partial aggregates and writes the artifacts and the marker.
fn finish(
    corpus: &Corpus,
    config: &CorpusConfig,
    partials: Vec<Partial>,
    out_dir: &Path,
) -> Result<StatsReport> {
    let mut skips: BTreeMap<String, SkipCounts> = BTreeMap::new();
    let mut rows_without_domain = 0;
    let mut lengths = Vec::new();
    for partial in partials {
        for (name, counts) in &partial.skips {
            skips.entry(name.clone()).or_default().add(counts);
        }
        rows_without_domain += partial.rows_without_domain;
        lengths.extend(partial.lengths);
    }
    let merged = sql::merge(lengths_schema(), lengths)?;
    let report = StatsReport {
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        corpus: config.clone(),
        files: corpus
            .files
            .iter()
            .map(|f| f.path.display().to_string())
            .collect(),
        rows: corpus.rows(),
        rows_without_domain,
        domains: sql::domain_stats(&merged, &skips),
    };

    let table = sql::table(&report.domains)?;
    write_parquet(&out_dir.join("stats.parquet"), table.schema(), &[table])?;
    write_json(&out_dir.join("stats.json"), &report)?;
    DoneMarker::new(
        StageFolder::Stats,
        &StatsSettings { corpus: config },
        &corpus.paths(),
    )?
    .with_count("domains", report.domains.len())
    .with_count(
        "documents",
        report.domains.iter().map(|d| d.documents).sum::<u64>(),
    )
    .write(out_dir)?;
    Ok(report)
}

/// Writes `batches` to the Parquet file `path` under a temporary name, then renames it into place.
fn write_parquet(path: &Path, schema: SchemaRef, batches: &[RecordBatch]) -> Result<()> {
    write_atomic_with(path, |file| {
        let mut writer = parquet::arrow::ArrowWriter::try_new(file, schema, None)?;
        for batch in batches {
            writer.write(batch)?;
        }
        writer.close()?;
        Ok(())
    })
}

/// The partial aggregate's rows: (domain, bytes, documents, words).
fn lengths_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("domain", DataType::Utf8, true),
        Field::new("bytes", DataType::UInt64, true),
        Field::new("documents", DataType::UInt64, true),
        Field::new("words", DataType::UInt64, true),
    ]))
}

/// One row per usable document.
fn doc_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(
            "domain",
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            false,
        ),
        Field::new("bytes", DataType::UInt64, false),
        Field::new("words", DataType::UInt64, false),
    ]))
}
