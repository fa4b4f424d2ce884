//! The per-domain aggregation, in DataFusion SQL, and the statistics computed from it.
//!
//! The aggregate is exact and mergeable: per domain and document length in bytes, the documents of
//! that length and their words ([`LENGTHS`]). Partial aggregates of disjoint parts of the corpus (the
//! row groups of array tasks) merge by summing ([`MERGE`]), and every statistic, the percentiles
//! included, follows exactly from the merged table ([`domain_stats`]): a corpus split into any number of
//! tasks gets the same statistics as one read in one process.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use arrow::array::{ArrayRef, AsArray, Float64Array, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, SchemaRef, UInt64Type};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use super::report::{DomainStats, LengthBin};
use crate::core::domain::file_stem;
use crate::data::corpus::SkipCounts;

/// The partial aggregate of `docs` (domain, bytes, words: one row per usable document): one row per
/// domain and length.
const LENGTHS: &str = "
SELECT arrow_cast(domain, 'Utf8') AS domain,
       bytes,
       arrow_cast(count(*), 'UInt64') AS documents,
       arrow_cast(sum(words), 'UInt64') AS words
FROM docs
GROUP BY arrow_cast(domain, 'Utf8'), bytes
";

/// Partial aggregates (`lengths`, the shape of [`LENGTHS`]) merged, in domain and length order.
const MERGE: &str = "
SELECT domain,
       bytes,
       arrow_cast(sum(documents), 'UInt64') AS documents,
       arrow_cast(sum(words), 'UInt64') AS words
FROM lengths
GROUP BY domain, bytes
ORDER BY domain, bytes
";

/// Runs `query` over `batches` registered as `table` (split over the worker threads).
fn query(
    table: &str,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    query: &str,
) -> Result<Vec<RecordBatch>> {
    let threads = rayon::current_num_threads().max(1);
    let mut partitions = vec![Vec::new(); threads];
    for (i, batch) in batches.into_iter().filter(|b| b.num_rows() > 0).enumerate() {
        partitions[i % threads].push(batch);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .build()
        .context("cannot start the query runtime")?;
    runtime.block_on(async {
        let ctx = SessionContext::new();
        ctx.register_table(table, Arc::new(MemTable::try_new(schema, partitions)?))?;
        Ok(ctx.sql(query).await?.collect().await?)
    })
}

/// The partial aggregate of one-row-per-document batches: (domain, bytes, documents, words) rows.
pub(super) fn lengths(doc_schema: SchemaRef, docs: Vec<RecordBatch>) -> Result<Vec<RecordBatch>> {
    query("docs", doc_schema, docs, LENGTHS)
}

/// One domain's merged aggregate: (length in bytes, documents, words), shortest first.
pub(super) type Lengths = Vec<(u64, u64, u64)>;

/// Merges partial aggregates (any number of batches of [`LENGTHS`]' shape) into each domain's lengths.
pub(super) fn merge(
    schema: SchemaRef,
    partials: Vec<RecordBatch>,
) -> Result<BTreeMap<String, Lengths>> {
    let mut out: BTreeMap<String, Lengths> = BTreeMap::new();
    for batch in query("lengths", schema, partials, MERGE)? {
        let column = |name: &str| -> Result<&UInt64Array> {
            batch
                .column_by_name(name)
                .and_then(|c| c.as_primitive_opt::<UInt64Type>())
                .ok_or_else(|| anyhow!("the merged lengths lack the u64 column {name}"))
        };
        let domain = arrow::compute::cast(
            batch
                .column_by_name("domain")
                .ok_or_else(|| anyhow!("no domain column"))?,
            &DataType::Utf8,
        )?;
        let domain = domain.as_string::<i32>();
        let (bytes, documents, words) = (column("bytes")?, column("documents")?, column("words")?);
        for row in 0..batch.num_rows() {
            out.entry(domain.value(row).to_string()).or_default().push((
                bytes.value(row),
                documents.value(row),
                words.value(row),
            ));
        }
    }
    Ok(out)
}

/// The `q` quantile of the lengths, interpolated between the two nearest ranks (DuckDB's
/// `quantile_cont`, DataFusion's `percentile_cont`): rank `q * (n - 1)` of the `n` sorted lengths.
fn quantile(lengths: &Lengths, documents: u64, q: f64) -> f64 {
    let position = q * (documents - 1) as f64;
    let (low, high) = (position.floor() as u64, position.ceil() as u64);
    // The length at 0-based rank `r`.
    let at = |r: u64| {
        let mut seen = 0;
        for &(bytes, n, _) in lengths {
            seen += n;
            if seen > r {
                return bytes as f64;
            }
        }
        0.0
    };
    let (a, b) = (at(low), at(high));
    a + (b - a) * (position - low as f64)
}

/// Every domain the reader saw (`skips` has them all, even one whose every row was skipped), sorted
/// by name, with its statistics from its merged lengths.
pub(super) fn domain_stats(
    merged: &BTreeMap<String, Lengths>,
    skips: &BTreeMap<String, SkipCounts>,
) -> Vec<DomainStats> {
    let empty = Lengths::new();
    let sum =
        |lengths: &Lengths, f: fn(&(u64, u64, u64)) -> u64| lengths.iter().map(f).sum::<u64>();
    let total_bytes: u64 = merged.values().map(|l| sum(l, |&(b, n, _)| b * n)).sum();
    skips
        .iter()
        .map(|(domain, skipped)| {
            let lengths = merged.get(domain).unwrap_or(&empty);
            let documents = sum(lengths, |&(_, n, _)| n);
            let bytes = sum(lengths, |&(b, n, _)| b * n);
            let mut histogram: Vec<LengthBin> = Vec::new();
            for &(length, n, _) in lengths {
                let min_bytes = 1u64 << (63 - length.max(1).leading_zeros());
                match histogram.last_mut() {
                    Some(bin) if bin.min_bytes == min_bytes => bin.documents += n,
                    _ => histogram.push(LengthBin {
                        min_bytes,
                        documents: n,
                    }),
                }
            }
            let (mean, median, p90, p99) = if documents == 0 {
                (0.0, 0.0, 0.0, 0.0)
            } else {
                (
                    bytes as f64 / documents as f64,
                    quantile(lengths, documents, 0.5),
                    quantile(lengths, documents, 0.9),
                    quantile(lengths, documents, 0.99),
                )
            };
            DomainStats {
                domain: domain.clone(),
                file_stem: file_stem(domain),
                documents,
                bytes,
                share_bytes: if total_bytes == 0 {
                    0.0
                } else {
                    bytes as f64 / total_bytes as f64
                },
                words: sum(lengths, |&(_, _, w)| w),
                len_mean: mean,
                len_median: median,
                len_p90: p90,
                len_p99: p99,
                len_max: lengths.last().map_or(0, |l| l.0),
                length_histogram: histogram,
                skipped: *skipped,
                tokens: None,
                val_tokens: None,
            }
        })
        .collect()
}

/// `stats.parquet`: one row per domain.
pub(super) fn table(domains: &[DomainStats]) -> Result<RecordBatch> {
    let ints = |f: fn(&DomainStats) -> u64| -> ArrayRef {
        Arc::new(UInt64Array::from_iter_values(domains.iter().map(f)))
    };
    let floats = |f: fn(&DomainStats) -> f64| -> ArrayRef {
        Arc::new(Float64Array::from_iter_values(domains.iter().map(f)))
    };
    Ok(RecordBatch::try_from_iter([
        (
            "domain",
            Arc::new(StringArray::from_iter_values(
                domains.iter().map(|d| &d.domain),
            )) as ArrayRef,
        ),
        ("documents", ints(|d| d.documents)),
        ("bytes", ints(|d| d.bytes)),
        ("share_bytes", floats(|d| d.share_bytes)),
        ("words", ints(|d| d.words)),
        ("len_mean", floats(|d| d.len_mean)),
        ("len_median", floats(|d| d.len_median)),
        ("len_p90", floats(|d| d.len_p90)),
        ("len_p99", floats(|d| d.len_p99)),
        ("len_max", ints(|d| d.len_max)),
        ("null_text", ints(|d| d.skipped.null_text)),
        ("empty_text", ints(|d| d.skipped.empty_text)),
        ("invalid_utf8", ints(|d| d.skipped.invalid_utf8)),
    ])?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_from_lengths_match_the_sorted_list() {
        // Lengths 3, 3, 5, 8, 8, 8, 20.
        let lengths = vec![(3, 2, 0), (5, 1, 0), (8, 3, 0), (20, 1, 0)];
        let sorted = [3.0, 3.0, 5.0, 8.0, 8.0, 8.0, 20.0];
        for q in [0.0f64, 0.1, 0.5, 0.9, 0.99, 1.0] {
            let position = q * 6.0;
            let (lo, hi) = (position.floor() as usize, position.ceil() as usize);
            let want = sorted[lo] + (sorted[hi] - sorted[lo]) * (position - lo as f64);
            assert!((quantile(&lengths, 7, q) - want).abs() < 1e-12, "{q}");
        }
    }
}
