//! The corpus sections: statistics (`stats/`), dedup (`dedup/`) and tokens (`tokens/`). Each returns `None`
//! when its stage has not run.

use std::path::Path;

use anyhow::Result;

use super::inputs::read_json;
use crate::data::dedup::DedupReport;
use crate::data::stats::StatsReport;
use crate::data::tokens::TokensIndex;
use crate::report::charts::{bars, log_histograms};
use crate::report::html::{charts, pct, section, table};

pub fn stats(work: &Path) -> Result<Option<String>> {
    let Some(report) = read_json::<StatsReport>(&work.join("stats/stats.json"))? else {
        return Ok(None);
    };
    // In a pipeline, stats runs before tokenize: the training tokens come from the token index.
    let index = read_json::<TokensIndex>(&work.join("tokens/index.json"))?;
    let tokens_of = |domain: &str| {
        index
            .as_ref()
            .and_then(|i| i.domains.iter().find(|t| t.domain == domain))
            .map(|t| t.tokens)
    };
    let rows: Vec<Vec<String>> = report
        .domains
        .iter()
        .map(|d| {
            vec![
                d.domain.clone(),
                d.documents.to_string(),
                format!("{:.2}", d.bytes as f64 / 1e6),
                pct(d.share_bytes),
                d.words.to_string(),
                format!("{:.0}", d.len_median),
                format!("{:.0}", d.len_p90),
                d.tokens
                    .or_else(|| tokens_of(&d.domain))
                    .map(|t| t.to_string())
                    .unwrap_or_default(),
                d.skipped.total().to_string(),
            ]
        })
        .collect();
    let labels: Vec<String> = report.domains.iter().map(|d| d.domain.clone()).collect();
    let chart = bars(
        "Share of the corpus (bytes)",
        &labels,
        &[(
            "bytes",
            report.domains.iter().map(|d| d.share_bytes).collect(),
        )],
        "share",
    )?;
    let body = table(
        &[
            "domain",
            "docs",
            "MB",
            "share",
            "words",
            "median bytes",
            "p90 bytes",
            "tokens",
            "skipped",
        ],
        &rows,
    ) + &charts(&[chart]);
    // Each domain's documents by length, as shares of the domain, on a log scale.
    let series: Vec<(&str, Vec<(f64, f64)>)> = report
        .domains
        .iter()
        .filter(|d| d.documents > 0 && !d.length_histogram.is_empty())
        .map(|d| {
            let bins = d
                .length_histogram
                .iter()
                .map(|b| {
                    (
                        (b.min_bytes as f64).log2(),
                        b.documents as f64 / d.documents as f64,
                    )
                })
                .collect();
            (d.domain.as_str(), bins)
        })
        .collect();
    let body = if series.is_empty() {
        body
    } else {
        body + &charts(&[log_histograms(
            "Document length per domain",
            &series,
            "document length (bytes, log scale)",
            "share of the domain's documents",
        )?])
    };
    Ok(Some(section(
        "stats",
        "Corpus statistics",
        &format!("{} rows in {} files", report.rows, report.files.len()),
        &body,
    )))
}

pub fn dedup(work: &Path) -> Result<Option<String>> {
    let Some(report) = read_json::<DedupReport>(&work.join("dedup/stats.json"))? else {
        return Ok(None);
    };
    let rows: Vec<Vec<String>> = report
        .domains
        .iter()
        .map(|d| {
            vec![
                d.domain.clone(),
                d.documents_in.to_string(),
                d.kept.to_string(),
                d.dropped_exact.to_string(),
                d.dropped_near.to_string(),
                pct(if d.documents_in == 0 {
                    0.0
                } else {
                    1.0 - d.kept as f64 / d.documents_in as f64
                }),
            ]
        })
        .collect();
    let names: Vec<String> = report.domains.iter().map(|d| d.domain.clone()).collect();
    let mut matrix = Vec::new();
    for from in &names {
        let mut row = vec![from.clone()];
        for to in &names {
            let n: u64 = report
                .cross_domain
                .iter()
                .filter(|c| &c.dropped_from == from && &c.kept_in == to)
                .map(|c| c.documents)
                .sum();
            row.push(n.to_string());
        }
        matrix.push(row);
    }
    let mut header = vec!["dropped from \\ kept in"];
    header.extend(names.iter().map(String::as_str));
    let chart = bars(
        "Documents kept and dropped",
        &names,
        &[
            (
                "kept",
                report.domains.iter().map(|d| d.kept as f64).collect(),
            ),
            (
                "exact",
                report
                    .domains
                    .iter()
                    .map(|d| d.dropped_exact as f64)
                    .collect(),
            ),
            (
                "near",
                report
                    .domains
                    .iter()
                    .map(|d| d.dropped_near as f64)
                    .collect(),
            ),
        ],
        "documents",
    )?;
    let note = format!(
        "{} in, {} kept; {} candidate pairs{}; MinHash {}-grams, {} bands x {} rows",
        report.documents_in,
        report.kept,
        report.candidate_pairs,
        report
            .verified_pairs
            .map(|v| format!(", {v} verified"))
            .unwrap_or_default(),
        report.config.minhash.ngram,
        report.config.minhash.bands,
        report.config.minhash.rows
    );
    let body = table(&["domain", "in", "kept", "exact", "near", "dropped"], &rows)
        + "<h3>Cross-domain duplicates</h3>"
        + &table(&header, &matrix)
        + &charts(&[chart]);
    Ok(Some(section("dedup", "Deduplication", &note, &body)))
}

pub fn tokens(work: &Path) -> Result<Option<String>> {
    let Some(index) = read_json::<TokensIndex>(&work.join("tokens/index.json"))? else {
        return Ok(None);
    };
    let rows: Vec<Vec<String>> = index
        .domains
        .iter()
        .map(|d| {
            vec![
                d.domain.clone(),
                d.documents.to_string(),
                d.tokens.to_string(),
                d.val_documents.to_string(),
                d.val_tokens.to_string(),
                d.val_unigram_entropy
                    .map_or("-".into(), |h| format!("{h:.3}")),
                if d.eval_only {
                    "evaluation only".into()
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    let labels: Vec<String> = index.domains.iter().map(|d| d.domain.clone()).collect();
    let chart = bars(
        "Tokens per domain",
        &labels,
        &[
            (
                "training",
                index.domains.iter().map(|d| d.tokens as f64).collect(),
            ),
            (
                "validation",
                index.domains.iter().map(|d| d.val_tokens as f64).collect(),
            ),
        ],
        "tokens",
    )?;
    let note = format!(
        "vocabulary {}, {} shards, end-of-document id {}",
        index.vocab_size, index.dtype, index.eod_id
    );
    let body = table(
        &[
            "domain",
            "docs",
            "tokens",
            "val docs",
            "val tokens",
            "val unigram entropy (nats/token)",
            "",
        ],
        &rows,
    ) + &charts(&[chart]);
    Ok(Some(section("tokens", "Tokens", &note, &body)))
}
