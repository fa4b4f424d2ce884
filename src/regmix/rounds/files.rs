//! The rounds' files in `WORK/runs/rounds/` and the train stage in rounds: round 1's candidates, then
//! each later round's proposal ([`super::Search::propose`]), made or reused, and its proxies.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use super::{Proposal, Search};
use crate::core::tasks::TaskSlice;
use crate::core::workdir::write_json;
use crate::proxy::device::ProxyDevice;
use crate::regmix::runs::{read_runs, write_runs};
use crate::regmix::train::{ProxyRunConfig, TrainOptions, train_candidates};

/// The proposal file of `round` in `dir`.
pub fn proposal_path(dir: &Path, round: u32) -> PathBuf {
    dir.join(format!("round-{round}.json"))
}

/// The candidates file of `round` in `dir`.
pub fn candidates_path(dir: &Path, round: u32) -> PathBuf {
    dir.join(format!("round-{round}.parquet"))
}

/// Reads the proposals in `dir`, in round order (none when there is no such folder). Errors: a file
/// that is not a proposal.
pub fn read_proposals(dir: &Path) -> Result<Vec<Proposal>> {
    let mut proposals = Vec::new();
    for round in 2.. {
        let path = proposal_path(dir, round);
        if !path.exists() {
            break;
        }
        proposals.push(read_proposal(&path)?);
    }
    Ok(proposals)
}

fn read_proposal(path: &Path) -> Result<Proposal> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{} is not a round proposal of remix: remove it, and `remix run` proposes the round again",
            path.display()
        )
    })
}

/// The train stage in rounds: trains round 1's candidates (`first`, the sampled ones) into the runs
/// table `runs`, then for each later round proposes its candidates into `dir` (or reuses a proposal
/// that still holds, [`Search::propose`]) and trains them. `options.shard` must be the whole.
pub fn train_rounds(
    tokens_dir: &Path,
    first: &Path,
    runs: &Path,
    dir: &Path,
    proxy: &ProxyRunConfig,
    options: TrainOptions,
    device: &ProxyDevice,
    search: &Search,
) -> Result<()> {
    if options.shard != TaskSlice::WHOLE {
        bail!(
            "the rounds after the first train in one process, not in task {}",
            options.shard
        );
    }
    let with_round = |round| TrainOptions {
        round: Some(round),
        ..options
    };
    train_candidates(tokens_dir, first, runs, proxy, with_round(1), device)?;
    for round in 2..=search.rounds.candidates.len() as u32 {
        let candidates = propose_round(dir, runs, search, round, options.quiet)?.candidates;
        train_candidates(
            tokens_dir,
            &candidates,
            runs,
            proxy,
            with_round(round),
            device,
        )?;
    }
    Ok(())
}

/// Round `round`'s candidates in `dir`, from the runs of every earlier round in the runs table `runs`:
/// the proposal already there when it still holds (made from the same runs and settings), else a new
/// one, after the runs of `round` and later (made from other runs or settings) leave the table.
/// Errors: the fit's or the search's ([`Search::propose`]), files that cannot be read or written.
pub fn propose_round(
    dir: &Path,
    runs: &Path,
    search: &Search,
    round: u32,
    quiet: bool,
) -> Result<Proposed> {
    let mut table = read_runs(runs)?;
    let basis = search.basis(&table, round)?;
    let (proposal, candidates) = (proposal_path(dir, round), candidates_path(dir, round));
    let standing = if proposal.exists() && candidates.exists() {
        match read_proposal(&proposal) {
            Ok(read) => Some(read).filter(|read| read.basis == basis),
            Err(e) => {
                tracing::info!(round, reason = %format!("{e:#}"), "the round's proposal cannot be read: it is made again");
                None
            }
        }
    } else {
        None
    };
    if let Some(read) = standing {
        tracing::info!(
            round,
            "round {round}'s proposal holds (same runs before it, same settings): its candidates stand"
        );
        return Ok(Proposed {
            count: read.candidates(),
            candidates,
            anew: false,
        });
    }
    let later = table
        .runs
        .iter()
        .filter(|r| r.round.unwrap_or(1) >= round)
        .count();
    if later > 0 {
        tracing::info!(
            round,
            runs = later,
            "the runs or settings before round {round} changed: its candidates are proposed again, \
             and the runs of round {round} and later leave the runs table"
        );
        table.runs.retain(|r| r.round.unwrap_or(1) < round);
        write_runs(&table, runs)?;
    }
    let (made, mixtures) = search.propose(&table, round)?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    crate::regmix::sample::write(&mixtures, &candidates)?;
    // The proposal last: it says the candidates beside it are complete.
    write_json(&proposal, &made)?;
    tracing::info!(round, runs = made.runs_fitted, "round {round} proposed");
    if !quiet {
        eprintln!(
            "remix run: round {round}: {} candidates around the optimum of {} runs ({} chose, \
             predicted loss {:.4})",
            mixtures.rows.len(),
            made.runs_fitted,
            made.regressor.name(),
            made.predicted_loss
        );
    }
    Ok(Proposed {
        count: made.candidates(),
        candidates,
        anew: true,
    })
}

/// A round's candidates, as [`propose_round`] leaves them.
#[derive(Debug)]
pub struct Proposed {
    /// The candidates file (`rounds/round-<r>.parquet`).
    pub candidates: PathBuf,
    /// Candidates in it.
    pub count: usize,
    /// Whether they were proposed now (false: an earlier proposal held).
    pub anew: bool,
}
