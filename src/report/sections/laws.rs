//! The report's table of the chosen mixing law's parameters (`fit/model.json`), per regressor input.

use crate::regmix::fit::law::TargetLaws;
use crate::regmix::fit::{Fitted, Target};
use crate::report::html::{escape, table};

/// The chosen law's parameters, one row per regressor input (`domains`): how much the target
/// looks like the domain (`a`) and the law of the domain's own loss; empty for other regressors.
pub(super) fn law_table(model: &Fitted, domains: &[String], target: &Target) -> String {
    let (header, rows): (&[&str], Vec<Vec<String>>) = match model {
        Fitted::MixingLaw(mix) => (
            &[
                "domain",
                "a (target's share)",
                "floor exp(c)",
                "own coefficient t",
            ],
            (mix.laws.iter().zip(&mix.a).enumerate())
                .map(|(j, (law, a))| {
                    let own = law.t.get(j).copied().unwrap_or(f64::NAN);
                    vec![
                        format!("{a:.4}"),
                        format!("{:.4}", law.c.exp()),
                        format!("{own:.3}"),
                    ]
                })
                .collect(),
        ),
        Fitted::PowerLaw(mix) => (
            &[
                "domain",
                "a (target's share)",
                "floor e",
                "scale k",
                "exponent alpha",
                "eps",
                "most transfer from",
            ],
            (mix.laws.iter().zip(&mix.a).enumerate())
                .map(|(j, (law, a))| {
                    let from = (law.t.iter().enumerate().filter(|(i, _)| *i != j))
                        .max_by(|x, y| x.1.total_cmp(y.1))
                        .map_or("-".into(), |(i, t)| {
                            format!("{} ({t:.3})", domains.get(i).map_or("?", |d| d))
                        });
                    vec![
                        format!("{a:.4}"),
                        format!("{:.4}", law.e),
                        format!("{:.4}", law.k),
                        format!("{:.3}", law.alpha),
                        format!("{:.2e}", law.eps),
                        from,
                    ]
                })
                .collect(),
        ),
        Fitted::LogLinear(laws) => return target_laws(laws, domains, target),
        _ => return String::new(),
    };
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .enumerate()
        .map(|(j, row)| [vec![domains.get(j).cloned().unwrap_or_default()], row].concat())
        .collect();
    format!(
        "<h3>The chosen law, per domain</h3><p>The target's loss is b + sum_j a_j L_j(w), one law L_j per \
         domain's own loss; a_j is how much the target looks like domain j (a_j >= 0, their sum at most \
         1); every floor is at least 0.</p>{}{}",
        table(header, &rows),
        on_bounds(model, domains, target)
    )
}

/// The law's parameters on their bounds ([`Fitted::bounds`]), as a list; empty when none is.
fn on_bounds(model: &Fitted, domains: &[String], target: &Target) -> String {
    let bounds = model.bounds(domains, target);
    if bounds.is_empty() {
        return String::new();
    }
    let items: String = bounds
        .iter()
        .map(|b| format!("<li>{}</li>", escape(&b.describe())))
        .collect();
    format!("<p>Parameters on their bounds:</p><ul>{items}</ul>")
}

/// Olmix's law per target domain: a row per regressor input with each target law's coefficient `t`
/// on it (the lowest coefficient is where the law pulls weight), and each law's floor and weight in the
/// objective.
fn target_laws(laws: &TargetLaws, domains: &[String], target: &Target) -> String {
    let header: Vec<String> = std::iter::once("domain".to_string())
        .chain((0..laws.laws.len()).map(|m| {
            target
                .domains()
                .get(m)
                .map_or(format!("t of target law {}", m + 1), |d| {
                    format!("t of loss_{d}")
                })
        }))
        .collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut rows: Vec<Vec<String>> = (domains.iter().enumerate())
        .map(|(d, domain)| {
            std::iter::once(domain.clone())
                .chain(
                    (laws.laws.iter())
                        .map(|law| law.t.get(d).map_or("-".into(), |t| format!("{t:.4}"))),
                )
                .collect()
        })
        .collect();
    rows.push(
        std::iter::once("floor exp(c)".to_string())
            .chain(laws.laws.iter().map(|law| format!("{:.4}", law.c.exp())))
            .collect(),
    );
    rows.push(
        std::iter::once("weight in the objective".to_string())
            .chain(laws.weights.iter().map(|w| format!("{w:.3}")))
            .collect(),
    );
    format!(
        "<h3>The chosen law, per target domain</h3><p>Each target domain's loss is exp(c) + exp(t . w), \
         in the target's order; the prediction is their weighted sum.</p>{}{}",
        table(&header, &rows),
        on_bounds(&Fitted::LogLinear(laws.clone()), domains, target)
    )
}
