//! The mixture-reuse section (`reuse/plan.json`): the old mixture beside the new one, domain by domain,
//! with what became of each (unchanged and frozen, reopened, changed, split, removed, added).

use std::path::Path;

use anyhow::Result;

use super::inputs::read_json;
use crate::regmix::simulate::Optimum;
use crate::report::charts::bars;
use crate::report::html::{charts, pct, section, table};
use crate::reuse::ReusePlan;

/// One row of the side-by-side view: a domain of either mixture.
struct Row {
    domain: String,
    old: Option<f64>,
    new: Option<f64>,
    what: String,
}

/// The rows: the old manifest's domains in its order (under their new names when renamed), then the
/// domains that are new.
fn rows(plan: &ReusePlan, new: &[(String, f64)]) -> Vec<Row> {
    let c = &plan.changes;
    let new_weight = |d: &str| new.iter().find(|(n, _)| n == d).map(|&(_, w)| w);
    let mut rows: Vec<Row> = Vec::new();
    for old in &plan.old_weights {
        let name = old.domain.as_str();
        let row = if let Some(k) = c.unchanged.iter().find(|k| k.old == name) {
            let state = if plan.reopened.contains(&k.new) {
                "reopened"
            } else {
                "frozen"
            };
            let what = if k.new == k.old {
                format!("unchanged, {state}")
            } else {
                format!("unchanged, renamed {}, {state}", k.old)
            };
            Row {
                domain: k.new.clone(),
                old: Some(old.weight),
                new: new_weight(&k.new),
                what,
            }
        } else if let Some(s) = c.split.iter().find(|s| s.old == name) {
            Row {
                domain: name.to_string(),
                old: Some(old.weight),
                new: None,
                what: format!("split into {}", s.into.join(", ")),
            }
        } else if c.changed.iter().any(|ch| ch.domain == name) {
            Row {
                domain: name.to_string(),
                old: Some(old.weight),
                new: new_weight(name),
                what: "changed, searched".into(),
            }
        } else if c.removed.iter().any(|r| r == name) {
            Row {
                domain: name.to_string(),
                old: Some(old.weight),
                new: None,
                what: "removed".into(),
            }
        } else {
            // Evaluation-only in the new index, or weightless: shown as it was.
            Row {
                domain: name.to_string(),
                old: Some(old.weight),
                new: new_weight(name),
                what: "not trained on now".into(),
            }
        };
        rows.push(row);
    }
    for s in &c.split {
        for part in &s.into {
            rows.push(Row {
                domain: part.clone(),
                old: None,
                new: new_weight(part),
                what: format!("split from {}, searched", s.old),
            });
        }
    }
    for added in &c.added {
        rows.push(Row {
            domain: added.clone(),
            old: None,
            new: new_weight(added),
            what: "added, searched".into(),
        });
    }
    rows
}

pub fn reuse(work: &Path) -> Result<Option<String>> {
    let Some(plan) = read_json::<ReusePlan>(&work.join("reuse/plan.json"))? else {
        return Ok(None);
    };
    // The new mixture: the renormalised old one after removals only, else the simulated optimum.
    let new: Vec<(String, f64)> = match &plan.removal_only {
        Some(weights) => weights
            .iter()
            .map(|w| (w.domain.clone(), w.weight))
            .collect(),
        None => read_json::<Optimum>(&work.join("fit/optimum.json"))?
            .map(|o| {
                o.domains
                    .into_iter()
                    .map(|d| (d.domain, d.weight))
                    .collect()
            })
            .unwrap_or_default(),
    };
    let rows = rows(&plan, &new);
    let cell = |w: Option<f64>| w.map_or("-".to_string(), pct);
    let body_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| vec![r.domain.clone(), cell(r.old), cell(r.new), r.what.clone()])
        .collect();
    let labels: Vec<String> = rows.iter().map(|r| r.domain.clone()).collect();
    let series = [
        ("old", rows.iter().map(|r| r.old.unwrap_or(0.0)).collect()),
        ("new", rows.iter().map(|r| r.new.unwrap_or(0.0)).collect()),
    ];
    let mut body = table(
        &["domain", "old weight", "new weight", "what changed"],
        &body_rows,
    );
    if !new.is_empty() {
        body += &charts(&[bars(
            "The old and the new mixture",
            &labels,
            &series,
            "weight",
        )?]);
    }
    let searched = match &plan.removal_only {
        Some(_) => "domains were only removed: the old mixture renormalised over what is left, no proxy trained".to_string(),
        None => format!(
            "{} frozen at their old proportions as one block; {} searched with {} candidates",
            if plan.block.domains.is_empty() { "nothing".to_string() } else { plan.block.domains.join(", ") },
            if plan.free.is_empty() { "only the block's total".to_string() } else { plan.free.join(", ") },
            plan.candidates
        ),
    };
    let note = format!(
        "reused {} ({}, sha256 {}): {searched}{}",
        plan.from_name,
        plan.from,
        &plan.from_sha256[..plan.from_sha256.len().min(12)],
        if new.is_empty() {
            "; the new mixture is not chosen yet"
        } else {
            ""
        }
    );
    Ok(Some(section(
        "reuse",
        "Mixture reuse: old and new",
        &note,
        &body,
    )))
}
