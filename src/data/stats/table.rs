//! The readable per-domain table that `remix stats` prints.

use super::report::{DomainStats, StatsReport};

/// Renders the report as an aligned text table, one line per domain and a total.
pub fn render_table(report: &StatsReport) -> String {
    let mut header = vec![
        "domain", "docs", "MB", "share", "words", "mean", "median", "p90", "p99", "max", "skipped",
    ];
    let mut rows: Vec<Vec<String>> = report
        .domains
        .iter()
        .map(|d| {
            vec![
                d.domain.escape_debug().to_string(),
                d.documents.to_string(),
                format!("{:.2}", d.bytes as f64 / 1e6),
                format!("{:.1}%", d.share_bytes * 100.0),
                d.words.to_string(),
                format!("{:.0}", d.len_mean),
                format!("{:.0}", d.len_median),
                format!("{:.0}", d.len_p90),
                format!("{:.0}", d.len_p99),
                d.len_max.to_string(),
                skipped_text(
                    d.skipped.null_text,
                    d.skipped.empty_text,
                    d.skipped.invalid_utf8,
                ),
            ]
        })
        .collect();
    let total = |f: fn(&DomainStats) -> u64| report.domains.iter().map(f).sum::<u64>();
    rows.push(vec![
        "TOTAL".into(),
        total(|d| d.documents).to_string(),
        format!("{:.2}", total(|d| d.bytes) as f64 / 1e6),
        "100.0%".into(),
        total(|d| d.words).to_string(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        skipped_text(
            total(|d| d.skipped.null_text),
            total(|d| d.skipped.empty_text),
            total(|d| d.skipped.invalid_utf8),
        ),
    ]);
    // Token counts, once the tokenize stage has run.
    if report.domains.iter().any(|d| d.tokens.is_some()) {
        header.push("tokens");
        for (row, d) in rows.iter_mut().zip(&report.domains) {
            row.push(d.tokens.map(|t| t.to_string()).unwrap_or_default());
        }
        let total: u64 = report.domains.iter().filter_map(|d| d.tokens).sum();
        if let Some(last) = rows.last_mut() {
            last.push(total.to_string());
        }
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].chars().count())
                .chain([header[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| -> String {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(c, cell)| {
                if c == 0 {
                    format!("{cell:<w$}", w = widths[c])
                } else {
                    format!("{cell:>w$}", w = widths[c])
                }
            })
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    let mut out = String::new();
    out.push_str(&line(
        &header.iter().map(|h| h.to_string()).collect::<Vec<_>>(),
    ));
    out.push('\n');
    for row in &rows {
        out.push_str(&line(row));
        out.push('\n');
    }
    out.push_str("Lengths are in bytes; skipped = null / empty / invalid UTF-8 text.\n");
    if report.rows_without_domain > 0 {
        out.push_str(&format!(
            "{} rows had a null domain and were skipped.\n",
            report.rows_without_domain
        ));
    }
    out
}

fn skipped_text(null: u64, empty: u64, invalid: u64) -> String {
    format!("{null}/{empty}/{invalid}")
}
