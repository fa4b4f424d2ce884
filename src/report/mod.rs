//! `remix report`: one self-contained HTML page over whatever stages a work directory holds.
//!
//! It opens with the answer of each manifest ([`answer`]), then each stage that has run adds a section:
//! corpus statistics (`stats/`), dedup results with the
//! cross-domain matrix (`dedup/`), token counts (`tokens/`), the sampled candidates (`mixtures.parquet`),
//! proxy losses (`runs/runs.parquet`), the regression fit with its cross-validated predicted-against-
//! measured scatter (`fit/report.json`), the chosen weights beside the natural and uniform ones
//! (`fit/optimum.json`), under mixture reuse the old and new mixtures side by side (`reuse/plan.json`), the validation at a larger scale with the rank transfer and the proxy ladder
//! (`validate/results.json`) and the manifests (`mixtures/*.json`). Charts are inline SVG ([`charts`]); the
//! page loads nothing from anywhere.

pub mod answer;
mod charts;
mod html;
pub mod learning;
mod sections;
pub mod warnings;

use std::path::Path;

use anyhow::{Result, bail};

use crate::core::workdir::write_atomic;

/// Builds one section from a work directory, or `None` when its stage has not run.
type SectionBuilder = fn(&Path) -> Result<Option<String>>;

/// Renders the report for the work directory `work`.
pub fn render(work: &Path) -> Result<String> {
    if !work.is_dir() {
        bail!("the work directory {} does not exist", work.display());
    }
    let builders: [SectionBuilder; 14] = [
        sections::answer,
        sections::stats,
        sections::dedup,
        sections::clusters,
        sections::tokens,
        sections::reuse,
        sections::candidates,
        sections::runs,
        sections::rounds,
        sections::fit,
        sections::optimum,
        sections::doremi,
        sections::validate,
        sections::manifests,
    ];
    let mut parts = Vec::new();
    for build in builders {
        if let Some(section) = build(work)? {
            parts.push(section);
        }
    }
    if parts.is_empty() {
        bail!(
            "nothing to report in {}: it holds no stage output yet (run `remix stats`, `remix dedup` or another stage \
             with -o pointing there first)",
            work.display()
        );
    }
    Ok(html::page(
        "remix report",
        &format!(
            "work directory {} · remix {}",
            work.display(),
            env!("CARGO_PKG_VERSION")
        ),
        &parts,
    ))
}

/// Renders the report and writes it to `output` (atomically). Returns the number of sections.
pub fn write(work: &Path, output: &Path) -> Result<usize> {
    let page = render(work)?;
    write_atomic(output, page.as_bytes())?;
    Ok(page.matches("<section ").count())
}
