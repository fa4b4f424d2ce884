//! `remix stats`: per-domain statistics of a corpus.
//!
//! Reads the corpus once through the shared reader ([`crate::corpus`]), turns every usable document
//! into one row of (domain, bytes, words) on rayon's workers, and lets DataFusion SQL aggregate those
//! rows per domain ([`sql`]): documents, bytes, share of the corpus by bytes, words, and the document
//! length distribution (mean, median, p90, p99, max; exact, not sketched; and a histogram in
//! power-of-two bins). Rows skipped by the reader
//! (null, empty or invalid UTF-8 text) are reported per domain beside them.
//!
//! Artifacts, in the output folder (`WORK/stats/` in a pipeline):
//! - `stats.parquet`: one row per domain, the SQL result;
//! - `stats.json`: the same with the corpus settings, as [`StatsReport`] (schema in `schemas/`);
//! - `_done.json`: the completion marker.
//!
//! Once the tokenize stage has run, each domain also reports its training and validation tokens
//! from `tokens/index.json`.

mod sql;
mod table;
mod words;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Result;
use arrow::array::{ArrayRef, DictionaryArray, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Int32Type, Schema, SchemaRef};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use table::render_table;
pub use words::count_words;

use crate::config::CorpusConfig;
use crate::corpus::{Corpus, SkipCounts};
use crate::progress::Progress;
use crate::tokens::TokensIndex;
use crate::workdir::{DoneMarker, Stage, write_atomic, write_atomic_with};

/// Statistics of one domain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DomainStats {
    /// The domain name as it appears in the data.
    pub domain: String,
    /// The safe file stem later stages use for this domain's files.
    pub file_stem: String,
    /// Usable documents (non-null, non-empty, valid UTF-8 text).
    pub documents: u64,
    /// UTF-8 bytes of text in the usable documents.
    pub bytes: u64,
    /// This domain's share of all usable bytes in the corpus.
    pub share_bytes: f64,
    /// Whitespace-separated words.
    pub words: u64,
    /// Document length in bytes: mean, median, 90th and 99th percentile (interpolated), maximum.
    pub len_mean: f64,
    pub len_median: f64,
    pub len_p90: f64,
    pub len_p99: f64,
    pub len_max: u64,
    /// Document lengths on a log scale: each non-empty bin of `min_bytes` to `2 * min_bytes - 1` bytes
    /// (powers of two) and its documents, shortest first.
    #[serde(default)]
    pub length_histogram: Vec<LengthBin>,
    /// Rows skipped, by reason.
    pub skipped: SkipCounts,
    /// Training tokens (end-of-document tokens included), once `tokens/index.json` exists.
    pub tokens: Option<u64>,
    /// Held-out validation tokens, once `tokens/index.json` exists.
    pub val_tokens: Option<u64>,
}

/// One bin of [`DomainStats::length_histogram`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LengthBin {
    /// The bin's shortest length in bytes, a power of two; its longest is twice that, less one.
    pub min_bytes: u64,
    pub documents: u64,
}

/// What `remix stats` writes to `stats.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StatsReport {
    pub tool_version: String,
    /// How the corpus was read.
    pub corpus: CorpusConfig,
    /// The Parquet files read, in reading order.
    pub files: Vec<String>,
    /// Rows read, usable or not.
    pub rows: u64,
    /// Rows whose domain column was null: they belong to no domain and are skipped.
    pub rows_without_domain: u64,
    /// One entry per domain, sorted by name.
    pub domains: Vec<DomainStats>,
}

/// The settings that decide the content of the stats artifacts (hashed into `_done.json`).
#[derive(Serialize)]
struct StatsSettings<'a> {
    corpus: &'a CorpusConfig,
}

/// Computes the statistics of the corpus at `paths` and writes them to `out_dir`. With a token index
/// (`tokens/index.json`), each domain also gets its token counts.
pub fn run(
    paths: &[PathBuf],
    config: &CorpusConfig,
    out_dir: &Path,
    tokens: Option<&TokensIndex>,
    quiet: bool,
) -> Result<StatsReport> {
    let corpus = Corpus::open(paths, config)?;
    DoneMarker::clear(out_dir)?;
    let progress = Progress::new(corpus.rows(), "docs", quiet);
    progress.set_message("stats");

    let schema = doc_schema();
    let per_batch = corpus.par_map(&progress, |batch| {
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

    let mut doc_batches = Vec::with_capacity(per_batch.len());
    let mut skips: BTreeMap<String, SkipCounts> = BTreeMap::new();
    let mut rows_without_domain = 0;
    for (rows, batch_skips, without_domain) in per_batch {
        doc_batches.push(rows);
        for (name, counts) in batch_skips {
            skips.entry(name).or_default().add(&counts);
        }
        rows_without_domain += without_domain;
    }

    let skip_table = skip_table(&skips)?;
    let (table, mut histogram) = sql::aggregate(schema, doc_batches, skip_table)?;
    let mut report = StatsReport {
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        corpus: config.clone(),
        files: corpus
            .files
            .iter()
            .map(|f| f.path.display().to_string())
            .collect(),
        rows: corpus.rows(),
        rows_without_domain,
        domains: sql::domain_stats(&table, &skips, &mut histogram)?,
    };
    if let Some(index) = tokens {
        for domain in &mut report.domains {
            if let Some(t) = index.domains.iter().find(|t| t.domain == domain.domain) {
                domain.tokens = Some(t.tokens);
                domain.val_tokens = Some(t.val_tokens);
            }
        }
    }

    write_atomic_with(&out_dir.join("stats.parquet"), |file| {
        let mut writer = parquet::arrow::ArrowWriter::try_new(file, table.schema(), None)?;
        writer.write(&table)?;
        writer.close()?;
        Ok(())
    })?;
    write_atomic(
        &out_dir.join("stats.json"),
        &serde_json::to_vec_pretty(&report)?,
    )?;
    DoneMarker::new(
        Stage::Stats,
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

/// Every domain seen by the reader (even one whose every row was skipped), with its skip counts.
fn skip_table(skips: &BTreeMap<String, SkipCounts>) -> Result<RecordBatch> {
    let column = |f: fn(&SkipCounts) -> u64| -> ArrayRef {
        Arc::new(UInt64Array::from_iter_values(skips.values().map(f)))
    };
    Ok(RecordBatch::try_from_iter([
        (
            "domain",
            Arc::new(StringArray::from_iter_values(skips.keys())) as ArrayRef,
        ),
        ("null_text", column(|s| s.null_text)),
        ("empty_text", column(|s| s.empty_text)),
        ("invalid_utf8", column(|s| s.invalid_utf8)),
    ])?)
}
