//! The per-domain aggregation, in DataFusion SQL.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int64Type, SchemaRef, UInt64Type};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use super::{DomainStats, LengthBin};
use crate::corpus::SkipCounts;
use crate::domain::file_stem;

/// Per-domain statistics over `docs` (domain, bytes, words: one row per usable document), joined with
/// `skipped` (domain, null_text, empty_text, invalid_utf8) so that a domain whose every row was skipped
/// still appears. Quantiles are exact and interpolated (`percentile_cont`), as DuckDB's
/// `quantile_cont` computes them.
const QUERY: &str = "
WITH per_domain AS (
    SELECT arrow_cast(domain, 'Utf8') AS domain,
           count(*) AS documents,
           sum(bytes) AS bytes,
           sum(words) AS words,
           avg(bytes) AS len_mean,
           median(CAST(bytes AS DOUBLE)) AS len_median,
           percentile_cont(0.9) WITHIN GROUP (ORDER BY CAST(bytes AS DOUBLE)) AS len_p90,
           percentile_cont(0.99) WITHIN GROUP (ORDER BY CAST(bytes AS DOUBLE)) AS len_p99,
           max(bytes) AS len_max
    FROM docs
    GROUP BY arrow_cast(domain, 'Utf8')
)
SELECT skipped.domain AS domain,
       arrow_cast(coalesce(documents, 0), 'UInt64') AS documents,
       arrow_cast(coalesce(bytes, 0), 'UInt64') AS bytes,
       coalesce(CAST(bytes AS DOUBLE) / nullif((SELECT CAST(sum(bytes) AS DOUBLE) FROM docs), 0), 0.0) AS share_bytes,
       arrow_cast(coalesce(words, 0), 'UInt64') AS words,
       coalesce(len_mean, 0.0) AS len_mean,
       coalesce(len_median, 0.0) AS len_median,
       coalesce(len_p90, 0.0) AS len_p90,
       coalesce(len_p99, 0.0) AS len_p99,
       arrow_cast(coalesce(len_max, 0), 'UInt64') AS len_max,
       null_text, empty_text, invalid_utf8
FROM skipped LEFT JOIN per_domain ON skipped.domain = per_domain.domain
ORDER BY skipped.domain
";

/// Documents per domain and length bin: bin `k` holds the documents of `2^k` to `2^(k+1) - 1` bytes
/// (texts are never empty, so `log2` is defined).
const HISTOGRAM: &str = "
SELECT arrow_cast(domain, 'Utf8') AS domain,
       CAST(floor(log2(CAST(bytes AS DOUBLE))) AS BIGINT) AS bin,
       count(*) AS documents
FROM docs
GROUP BY arrow_cast(domain, 'Utf8'), CAST(floor(log2(CAST(bytes AS DOUBLE))) AS BIGINT)
ORDER BY domain, bin
";

/// Runs [`QUERY`] and [`HISTOGRAM`]; returns the per-domain table as one batch and the histogram's
/// bins per domain (`(first byte count of the bin, documents)`, in length order).
pub(super) fn aggregate(
    doc_schema: SchemaRef,
    docs: Vec<RecordBatch>,
    skipped: RecordBatch,
) -> Result<(RecordBatch, BTreeMap<String, Vec<LengthBin>>)> {
    let threads = rayon::current_num_threads().max(1);
    let mut partitions = vec![Vec::new(); threads];
    for (i, batch) in docs.into_iter().filter(|b| b.num_rows() > 0).enumerate() {
        partitions[i % threads].push(batch);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .build()
        .context("cannot start the query runtime")?;
    runtime.block_on(async {
        let ctx = SessionContext::new();
        ctx.register_table("docs", Arc::new(MemTable::try_new(doc_schema, partitions)?))?;
        let skipped_schema = skipped.schema();
        ctx.register_table(
            "skipped",
            Arc::new(MemTable::try_new(skipped_schema, vec![vec![skipped]])?),
        )?;
        let batches = ctx.sql(QUERY).await?.collect().await?;
        let schema = batches
            .first()
            .map(|b| b.schema())
            .ok_or_else(|| anyhow!("the stats query returned nothing"))?;
        let table = arrow::compute::concat_batches(&schema, &batches)?;
        let mut histogram: BTreeMap<String, Vec<LengthBin>> = BTreeMap::new();
        for batch in ctx.sql(HISTOGRAM).await?.collect().await? {
            let column = |i: usize| arrow::compute::cast(batch.column(i), &DataType::Int64);
            let (domains, bins, counts) = (
                arrow::compute::cast(batch.column(0), &DataType::Utf8)?,
                column(1)?,
                column(2)?,
            );
            let (domains, bins, counts) = (
                domains.as_string::<i32>(),
                bins.as_primitive::<Int64Type>(),
                counts.as_primitive::<Int64Type>(),
            );
            for row in 0..batch.num_rows() {
                histogram
                    .entry(domains.value(row).to_string())
                    .or_default()
                    .push(LengthBin {
                        min_bytes: 1u64 << bins.value(row).clamp(0, 63),
                        documents: counts.value(row).max(0) as u64,
                    });
            }
        }
        Ok((table, histogram))
    })
}

/// The query result as typed rows.
pub(super) fn domain_stats(
    table: &RecordBatch,
    skips: &BTreeMap<String, SkipCounts>,
    histogram: &mut BTreeMap<String, Vec<LengthBin>>,
) -> Result<Vec<DomainStats>> {
    let text = |name: &str| -> Result<Vec<String>> {
        let column = table
            .column_by_name(name)
            .ok_or_else(|| anyhow!("stats query lacks {name}"))?;
        let column = arrow::compute::cast(column, &DataType::Utf8)?;
        let strings = column.as_string::<i32>();
        Ok((0..strings.len())
            .map(|i| strings.value(i).to_string())
            .collect())
    };
    let int = |name: &str| -> Result<Vec<u64>> {
        let column = table
            .column_by_name(name)
            .ok_or_else(|| anyhow!("stats query lacks {name}"))?;
        Ok(column
            .as_primitive_opt::<UInt64Type>()
            .ok_or_else(|| anyhow!("{name} is not u64"))?
            .values()
            .to_vec())
    };
    let float = |name: &str| -> Result<Vec<f64>> {
        let column = table
            .column_by_name(name)
            .ok_or_else(|| anyhow!("stats query lacks {name}"))?;
        Ok(column
            .as_primitive_opt::<Float64Type>()
            .ok_or_else(|| anyhow!("{name} is not f64"))?
            .values()
            .to_vec())
    };
    let (domains, documents, bytes, words) = (
        text("domain")?,
        int("documents")?,
        int("bytes")?,
        int("words")?,
    );
    let (share, mean, median) = (
        float("share_bytes")?,
        float("len_mean")?,
        float("len_median")?,
    );
    let (p90, p99, max) = (float("len_p90")?, float("len_p99")?, int("len_max")?);
    Ok((0..domains.len())
        .map(|i| DomainStats {
            file_stem: file_stem(&domains[i]),
            skipped: skips.get(&domains[i]).copied().unwrap_or_default(),
            domain: domains[i].clone(),
            documents: documents[i],
            bytes: bytes[i],
            share_bytes: share[i],
            words: words[i],
            len_mean: mean[i],
            len_median: median[i],
            len_p90: p90[i],
            len_p99: p99[i],
            len_max: max[i],
            length_histogram: histogram.remove(&domains[i]).unwrap_or_default(),
            tokens: None,
            val_tokens: None,
        })
        .collect())
}
