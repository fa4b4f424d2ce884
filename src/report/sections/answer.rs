//! The report's first section: the answer of each manifest in `mixtures/` ([`Answer`]): the chosen
//! weights beside the natural and uniform mixtures, the predicted target loss of each, the validation
//! verdict and the warnings, before the evidence that follows.

use std::path::Path;

use anyhow::Result;

use super::choice::manifests_in;
use crate::report::answer::Answer;
use crate::report::html::{escape, section, table};

pub fn answer(work: &Path) -> Result<Option<String>> {
    let mut body = String::new();
    for manifest in manifests_in(work) {
        let answer = Answer::of(&manifest);
        let mut rows: Vec<Vec<String>> = answer
            .domains
            .iter()
            .map(|d| {
                vec![
                    d.domain.clone(),
                    format!("{:.4}", d.chosen),
                    format!("{:.4}", d.natural),
                    format!("{:.4}", d.uniform),
                    answer.interval(&d.domain),
                ]
            })
            .collect();
        if let Some(p) = &answer.predicted_loss {
            rows.push(vec![
                "predicted target loss".into(),
                format!("{:.4}", p.chosen),
                p.natural.map_or("-".into(), |l| format!("{l:.4}")),
                format!("{:.4}", p.uniform),
                String::new(),
            ]);
        }
        body.push_str(&format!(
            "<h3>{} ({})</h3>{}",
            escape(&answer.name),
            escape(&answer.method),
            table(
                &["domain", "chosen", "natural", "uniform", "interval"],
                &rows
            )
        ));
        if let Some(sentence) = answer.intervals_sentence() {
            body.push_str(&format!("<p>{}.</p>", escape(&sentence)));
        }
        if let Some(learning) = &answer.proxy_learning {
            body.push_str(&format!("<p>{}.</p>", escape(&learning.sentence())));
            if let Some(refusal) = learning.refusal() {
                body.push_str(&format!("<p><b>{}</b></p>", escape(refusal)));
            }
        }
        if let Some(v) = &answer.validation {
            body.push_str(&format!("<p>{}.</p>", escape(&v.sentence())));
        }
        if !answer.warnings.is_empty() {
            body.push_str("<ul class=\"warnings\">");
            for w in &answer.warnings {
                body.push_str(&format!(
                    "<li><b>Warning</b>: {}. <i>What to do</i>: {}.</li>",
                    escape(&w.warning),
                    escape(&w.todo)
                ));
            }
            body.push_str("</ul>");
        }
    }
    if body.is_empty() {
        return Ok(None);
    }
    Ok(Some(section(
        "answer",
        "The answer",
        "the chosen mixture first; the evidence follows",
        &body,
    )))
}
