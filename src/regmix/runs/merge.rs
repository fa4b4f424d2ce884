//! `remix runs merge`: joining the runs tables that several machines wrote (`remix train --shard I/N`).
//!
//! The tables must train on the same domains (their column order may differ; the first table's order
//! is kept). Evaluated domains are the union: a run without a loss for a domain gets none. A run id
//! found twice must describe the same run; two different results under one id are an error, because
//! one of them would silently win. Runs come out ordered by id (shorter ids first, then by text), so the
//! merged table does not depend on how the work was split or the order of the inputs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::run::{Run, RunsTable};
use super::table::{read_runs, write_runs};

/// Merges the runs tables at `paths`.
pub fn merge(paths: &[PathBuf]) -> Result<RunsTable> {
    let Some(first) = paths.first() else {
        bail!("give at least one runs table to merge");
    };
    let tables = paths
        .iter()
        .map(|p| read_runs(p).map(|t| (p, t)))
        .collect::<Result<Vec<_>>>()?;
    let domains = tables[0].1.domains.clone();
    let mut loss_domains = tables[0].1.loss_domains.clone();
    let frozen = tables[0].1.frozen.clone();
    for (path, table) in &tables[1..] {
        if table.frozen != frozen {
            bail!(
                "{} and {} froze different domains (mixture reuse): only runs of one reuse search can be merged",
                path.display(),
                first.display()
            );
        }
        let mut mine = table.domains.clone();
        let mut theirs = domains.clone();
        mine.sort();
        theirs.sort();
        if mine != theirs {
            bail!(
                "{} trains on {} but {} on {}: only runs over the same domains can be merged",
                path.display(),
                table.domains.join(", "),
                first.display(),
                domains.join(", ")
            );
        }
        for d in &table.loss_domains {
            if !loss_domains.contains(d) {
                loss_domains.push(d.clone());
            }
        }
    }

    let mut runs = BTreeMap::new();
    for (path, table) in &tables {
        let weight_order: Vec<usize> = domains
            .iter()
            .map(|d| table.domains.iter().position(|x| x == d).unwrap_or(0))
            .collect();
        for run in &table.runs {
            let mut run = run.clone();
            run.weights = weight_order.iter().map(|&i| run.weights[i]).collect();
            let loss_order: Vec<Option<usize>> = loss_domains
                .iter()
                .map(|d| table.loss_domains.iter().position(|x| x == d))
                .collect();
            let reorder = |values: &[Option<f64>]| -> Vec<Option<f64>> {
                loss_order
                    .iter()
                    .map(|i| i.and_then(|i| values[i]))
                    .collect()
            };
            run.losses = reorder(&run.losses);
            run.loss_errors = reorder(&run.loss_errors);
            let key = (run.run_id.len(), run.run_id.clone());
            match runs.get(&key) {
                Some(existing) if *existing != run => bail!(
                    "run `{}` is in {} with a different result than in an earlier table: remove the stale copy",
                    run.run_id,
                    path.display()
                ),
                Some(_) => {}
                None => {
                    runs.insert(key, run);
                }
            }
        }
    }
    Ok(RunsTable {
        domains,
        loss_domains,
        runs: runs.into_values().collect(),
        frozen,
    })
}

/// Joins the parts that the tasks of a split train stage wrote into the runs table at `runs_path`:
/// `rounds[r]` is round `r + 1`'s parts folder (`*.parquet`, each a runs table) and the candidates file
/// that orders them. A part's run replaces the table's run of the same id (a task re-run with new
/// settings supersedes the old result), and the runs are put in the order one process trains them in,
/// whatever the number of tasks: by round (a run without one is round 1), then by the position of its
/// id in that round's candidates (runs of a round not given keep their order, after the rounds given).
/// Does nothing when there are no parts (the folders absent or empty). Errors: a folder that cannot be
/// listed (the caller removes the folders only after this returns), unreadable tables, parts over other
/// domains than the table.
pub fn fold_parts(runs_path: &Path, rounds: &[(PathBuf, PathBuf)]) -> Result<()> {
    let mut parts = Vec::new();
    for (parts_dir, _) in rounds {
        parts.extend(list_parts(parts_dir)?);
    }
    if parts.is_empty() {
        return Ok(());
    }
    let mut table = if runs_path.exists() {
        Some(read_runs(runs_path)?)
    } else {
        None
    };
    for part in &parts {
        let part_table = read_runs(part)?;
        let table = table.get_or_insert_with(|| RunsTable {
            domains: part_table.domains.clone(),
            loss_domains: part_table.loss_domains.clone(),
            runs: Vec::new(),
            frozen: part_table.frozen.clone(),
        });
        if part_table.domains != table.domains
            || part_table.loss_domains != table.loss_domains
            || part_table.frozen != table.frozen
        {
            bail!(
                "{} holds runs over other domains than {}: remove the stale one ({} to start training over)",
                part.display(),
                runs_path.display(),
                part.parent().unwrap_or(part).display()
            );
        }
        for run in part_table.runs {
            table.runs.retain(|r| r.run_id != run.run_id);
            table.runs.push(run);
        }
    }
    let Some(mut table) = table else {
        return Ok(());
    };
    let mut orders = Vec::with_capacity(rounds.len());
    for (parts_dir, mixtures) in rounds {
        // A round whose tasks left nothing need not have its candidates yet.
        orders.push(if parts_dir.exists() {
            crate::regmix::mixture_table::read_mixtures(mixtures)?
                .id
                .map(|(_, ids)| ids)
                .unwrap_or_default()
        } else {
            Vec::new()
        });
    }
    let rank = |run: &Run| {
        let round = run.round.unwrap_or(1) as usize;
        let position = (round.checked_sub(1).and_then(|r| orders.get(r)))
            .and_then(|order| order.iter().position(|o| *o == run.run_id))
            .unwrap_or(usize::MAX);
        (round, position)
    };
    table.runs.sort_by_key(|r| rank(r));
    if let Some(parent) = runs_path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    write_runs(&table, runs_path)
}

/// The parts (`*.parquet`) in `parts_dir`, sorted; none when it does not exist.
fn list_parts(parts_dir: &Path) -> Result<Vec<PathBuf>> {
    let mut parts: Vec<PathBuf> = match std::fs::read_dir(parts_dir) {
        Ok(entries) => entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(e).with_context(|| {
                format!(
                    "cannot list the train tasks' parts in {}: nothing was folded or removed; make the folder \
                     readable and run the stage again",
                    parts_dir.display()
                )
            });
        }
    };
    parts.sort();
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::regmix::runs::run::{FINISHED, Run};

    /// A parts folder that cannot be listed is an error, never "no parts" (the caller would then remove
    /// the folder with the runs in it).
    #[test]
    fn an_unlistable_parts_folder_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let not_a_folder = dir.path().join("tasks");
        std::fs::write(&not_a_folder, "a file where the parts folder should be").unwrap();
        let runs = dir.path().join("runs.parquet");
        let mixtures = dir.path().join("mixtures.parquet");
        let error = fold_parts(&runs, &[(not_a_folder, mixtures.clone())]).unwrap_err();
        assert!(
            format!("{error:#}").contains("cannot list the train tasks' parts"),
            "{error:#}"
        );
        fold_parts(&runs, &[(dir.path().join("absent"), mixtures)]).unwrap();
    }

    /// Parts of two rounds, written in any task order, fold into the order one process trains them
    /// in: round 1's candidates, then round 2's; a run of round 0 (not remix's) sorts first, no panic.
    #[test]
    fn parts_of_rounds_fold_by_round_then_candidate() {
        let dir = tempfile::tempdir().unwrap();
        let domains = vec!["web".to_string(), "code".to_string()];
        let table = |runs: Vec<Run>| RunsTable {
            domains: domains.clone(),
            loss_domains: vec!["web".into()],
            runs,
            frozen: None,
        };
        let in_round = |id: &str, round: u32| Run {
            round: Some(round),
            ..run(id, vec![0.5, 0.5], vec![Some(3.0)])
        };
        let mut rounds = Vec::new();
        for (round, ids) in [(1, ["a1", "b1", "c1"]), (2, ["r2-x", "r2-y", "r2-z"])] {
            let parts = dir.path().join(format!("parts-{round}"));
            std::fs::create_dir_all(&parts).unwrap();
            // Task 0 of 2 trains candidates 0 and 2, task 1 candidate 1.
            let part =
                |ids: Vec<&str>| table(ids.into_iter().map(|id| in_round(id, round)).collect());
            write_runs(&part(vec![ids[2], ids[0]]), &parts.join("0-of-2.parquet")).unwrap();
            write_runs(&part(vec![ids[1]]), &parts.join("1-of-2.parquet")).unwrap();
            let order = dir.path().join(format!("round-{round}.parquet"));
            let rows = ids
                .iter()
                .map(|id| (id.to_string(), vec![0.5, 0.5]))
                .collect();
            crate::regmix::sample::write(
                &crate::regmix::sample::Mixtures {
                    domains: domains.clone(),
                    rows,
                    frozen: None,
                },
                &order,
            )
            .unwrap();
            rounds.push((parts, order));
        }
        let runs = dir.path().join("runs.parquet");
        write_runs(&table(vec![in_round("r2-z", 2), in_round("odd", 0)]), &runs).unwrap();
        fold_parts(&runs, &rounds).unwrap();
        let ids: Vec<String> = read_runs(&runs)
            .unwrap()
            .runs
            .into_iter()
            .map(|r| r.run_id)
            .collect();
        assert_eq!(ids, ["odd", "a1", "b1", "c1", "r2-x", "r2-y", "r2-z"]);
    }

    fn run(id: &str, weights: Vec<f64>, losses: Vec<Option<f64>>) -> Run {
        Run {
            run_id: id.into(),
            seed: Some(0),
            round: None,
            proxy_config_hash: None,
            weights,
            tokens_trained: Some(100),
            wall_time_s: None,
            device: Some("cpu".into()),
            loss_errors: vec![None; losses.len()],
            losses,
            status: FINISHED.into(),
        }
    }

    #[test]
    fn merges_reordered_columns_and_refuses_conflicts() {
        let dir = tempfile::tempdir().unwrap();
        let a = RunsTable {
            domains: vec!["web".into(), "code".into()],
            loss_domains: vec!["web".into()],
            runs: vec![
                run("cand-00002", vec![0.3, 0.7], vec![Some(3.0)]),
                run("natural", vec![0.5, 0.5], vec![Some(3.5)]),
            ],
            frozen: None,
        };
        let b = RunsTable {
            domains: vec!["code".into(), "web".into()],
            loss_domains: vec!["code".into(), "web".into()],
            runs: vec![run(
                "cand-00001",
                vec![0.9, 0.1],
                vec![Some(1.0), Some(4.0)],
            )],
            frozen: None,
        };
        let (pa, pb) = (dir.path().join("a.parquet"), dir.path().join("b.parquet"));
        write_runs(&a, &pa).unwrap();
        write_runs(&b, &pb).unwrap();
        let merged = merge(&[pa.clone(), pb.clone()]).unwrap();
        assert_eq!(merged.domains, ["web", "code"]);
        assert_eq!(merged.loss_domains, ["web", "code"]);
        let ids: Vec<&str> = merged.runs.iter().map(|r| r.run_id.as_str()).collect();
        assert_eq!(ids, ["natural", "cand-00001", "cand-00002"]);
        assert_eq!(merged.runs[1].weights, [0.1, 0.9]);
        assert_eq!(merged.runs[1].losses, [Some(4.0), Some(1.0)]);
        assert_eq!(merged.runs[0].losses, [Some(3.5), None]);
        assert_eq!(merge(&[pb.clone(), pa.clone()]).unwrap().runs.len(), 3);

        let stale = RunsTable {
            runs: vec![run("natural", vec![0.5, 0.5], vec![Some(9.0)])],
            ..a.clone()
        };
        let ps = dir.path().join("stale.parquet");
        write_runs(&stale, &ps).unwrap();
        let err = merge(&[pa.clone(), ps]).unwrap_err().to_string();
        assert!(
            err.contains("`natural`") && err.contains("stale.parquet"),
            "{err}"
        );
        let other = RunsTable {
            domains: vec!["web".into(), "books".into()],
            ..a
        };
        let po = dir.path().join("other.parquet");
        write_runs(&other, &po).unwrap();
        assert!(
            merge(&[pa, po])
                .unwrap_err()
                .to_string()
                .contains("same domains")
        );
    }
}
