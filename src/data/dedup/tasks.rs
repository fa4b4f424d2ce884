//! The dedup stage as array tasks: the phases of datatrove's MinHash pipeline, over a shared work
//! directory, with the same kept set and `dedup/stats.json` as the one-process [`super::run`] for any
//! task count.
//!
//! With `[executor] tasks = { dedup = N }` the stage runs as four phases, each reading what the one
//! before it wrote in `WORK/dedup-tasks/`:
//!
//! 1. **signatures** (N tasks): task `i` hashes the row groups [`Corpus::task_units`] gives it (a
//!    contiguous run of about `rows / N`) as [`super::run`]'s first pass does, and writes
//!    `signatures/<i>-of-<N>/`: `docs.bin` (each document's corpus-wide row and domain), `meta.json` (its
//!    domains in order of first appearance, their counts and skipped rows) and, per LSH band `b` and
//!    key partition `p`, `band-<b>-<p>.bin` ([`BandRecord`]: band key, exact hash, row, domain). A band
//!    has `P = ceil(N / bands)` partitions by `key % P`, so that N tasks have work in the next phase.
//! 2. **buckets** (N tasks): task `t` takes the band partitions `t, t + N, ...` and reads each from every
//!    signatures task. Documents with equal key and exact hash are copies of one text, so they sit in
//!    the same bucket of every band; the first of them by priority and corpus order is the survivor
//!    the one-process exact pass picks, and band 0's tasks write the others to `exact.bin`. Among the
//!    survivors, buckets give candidate pairs exactly as [`super::index::DocIndex::candidate_pairs`]
//!    does (every pair up to `full_bucket`, a chain above), written to `pairs.bin`.
//! 3. **clusters** (1 task): reads every pair and exact copy, joins the pairs by union-find over the
//!    documents that appear in a pair (memory bounded by the pairs, not the corpus), picks each dropped
//!    document's twin and survivor as [`super::run`] does, writes `drops/<i>.bin` (the dropped rows of
//!    filter task `i`) and `clusters.json` (the report and each empty domain's first row).
//! 4. **filter** (N tasks): task `i` writes the survivors of its row groups to `output/`, one part per
//!    row group and domain, named as the one-process run names them.
//!
//! The stage itself then moves `output/` to `dedup/` with `stats.json` and its marker, and removes
//! `dedup-tasks/`. `verify` needs the candidates' text in one place and runs in one task only.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::index::{Clusters, DocLocation};
use super::minhash::MinHasher;
use super::records::{
    BandRecord, DocRecord, DropRecord, ExactRecord, PairRecord, RecordWriter, read_all, write_all,
};
use super::task_files::{
    ClusterPlan, Domains, SignatureMeta, band_file, bands, partitions, read_metas, read_plan,
    task_dir,
};
use super::write::{Decisions, Dropped};
use super::{
    DedupConfig, DedupReport, REPORT_FILE, assemble_report, check, cluster_pairs,
    empty_domain_counts, priority_ranks, sketch,
};
use crate::core::progress::Progress;
use crate::core::tasks::TaskSlice;
use crate::core::workdir::{
    DoneMarker, StageFolder, WorkDir, replace_dir, write_atomic, write_dir, write_json,
};
use crate::data::corpus::{Corpus, SkipCounts};

/// The folder of the phases' files inside the work directory.
pub const TASKS_FOLDER: &str = "dedup-tasks";

/// `WORK/dedup-tasks/`.
pub fn tasks_dir(work: &WorkDir) -> PathBuf {
    work.root().join(TASKS_FOLDER)
}

/// Errors: what [`super::run`] refuses, and `verify` with more than one task.
pub fn check_tasks(config: &DedupConfig, tasks: usize) -> Result<()> {
    check(config)?;
    if tasks > 1 && config.verify {
        bail!(
            "[dedup] verify = true reads every candidate pair's text in one process, so dedup runs as one \
             task with it: set [executor] tasks dedup = 1, or verify = false"
        );
    }
    Ok(())
}

/// Phase 1, task `task`: the signatures of its row groups. See the module docs.
pub fn signatures(
    paths: &[PathBuf],
    config: &DedupConfig,
    dir: &Path,
    task: TaskSlice,
    quiet: bool,
) -> Result<()> {
    check_tasks(config, task.count)?;
    let corpus = Corpus::open(paths, &config.corpus)?;
    let units = corpus.task_units(task.index, task.count);
    let offsets = corpus.row_offsets();
    let hasher = MinHasher::new(&config.minhash, config.seed);
    let progress = Progress::new(corpus.units_rows(&units), "docs", quiet);
    progress.set_message(format!("signatures {task}"));
    let sketches = corpus.par_map_units(&units, &progress, |b| sketch(b, config, &hasher))?;
    progress.finish();
    let (bands, parts) = (bands(config), partitions(config, task.count));
    write_dir(&task_dir(dir, "signatures", task), |out| {
        let mut docs = RecordWriter::create(out.join("docs.bin"))?;
        let mut meta = SignatureMeta {
            bands,
            partitions: parts,
            ..Default::default()
        };
        let mut ids: HashMap<String, u32> = HashMap::new();
        // Each sketch's domains as indices into the task's list.
        let mut locals: Vec<Vec<u32>> = Vec::with_capacity(sketches.len());
        for sketch in &sketches {
            let local: Vec<u32> = sketch
                .domain_names
                .iter()
                .map(|name| {
                    *ids.entry(name.clone()).or_insert_with(|| {
                        meta.domains.push(name.clone());
                        meta.documents.push(0);
                        meta.skipped.push(SkipCounts::default());
                        meta.first_row.push(None);
                        meta.domains.len() as u32 - 1
                    })
                })
                .collect();
            for (key, counts) in sketch.skips.iter().enumerate() {
                meta.skipped[local[key] as usize].add(counts);
            }
            meta.rows_without_domain += sketch.rows_without_domain;
            for &(row, key) in &sketch.rows {
                let row = offsets[sketch.file as usize] + row;
                let domain = local[key as usize];
                meta.documents[domain as usize] += 1;
                meta.first_row[domain as usize].get_or_insert(row);
                docs.put(&DocRecord { row, domain })?;
            }
            locals.push(local);
        }
        docs.finish()?;
        // One band at a time, so that a task holds `parts` files open, not `bands * parts`.
        for b in 0..bands {
            let mut band_files = (0..parts)
                .map(|p| RecordWriter::create(out.join(band_file(b, p))))
                .collect::<Result<Vec<_>>>()?;
            for (sketch, local) in sketches.iter().zip(&locals) {
                for (j, &(row, key)) in sketch.rows.iter().enumerate() {
                    let exact = sketch.exact[j];
                    let exact = ((exact >> 64) as u64, exact as u64);
                    let band_key = if config.near {
                        sketch.band_keys[j * config.minhash.bands + b]
                    } else {
                        exact.1
                    };
                    band_files[(band_key % parts as u64) as usize].put(&BandRecord {
                        key: band_key,
                        exact,
                        row: offsets[sketch.file as usize] + row,
                        domain: local[key as usize],
                    })?;
                }
            }
            for writer in band_files {
                writer.finish()?;
            }
        }
        write_atomic(&out.join("meta.json"), &serde_json::to_vec(&meta)?)
    })
}

/// Phase 2, task `task`: exact copies and candidate pairs of its band partitions.
pub fn buckets(config: &DedupConfig, dir: &Path, task: TaskSlice) -> Result<()> {
    let metas = read_metas(config, dir, task.count)?;
    let domains = Domains::merge(&metas);
    let priority = priority_ranks(&config.priority, &domains.names)?;
    let (bands, parts) = (bands(config), partitions(config, task.count));
    let mut pairs: Vec<PairRecord> = Vec::new();
    let mut exact: Vec<ExactRecord> = Vec::new();
    for j in (task.index..bands * parts).step_by(task.count) {
        let (b, p) = (j / parts, j % parts);
        let mut records = Vec::new();
        for (w, map) in domains.maps.iter().enumerate() {
            let path = task_dir(
                dir,
                "signatures",
                TaskSlice {
                    index: w,
                    count: task.count,
                },
            )
            .join(band_file(b, p));
            records.extend(read_all::<BandRecord>(&path)?.into_iter().map(|mut r| {
                r.domain = map[r.domain as usize];
                r
            }));
        }
        let exact_out = (b == 0 && config.exact).then_some(&mut exact);
        bucket(records, config, &priority, exact_out, &mut pairs);
    }
    pairs.sort_unstable();
    pairs.dedup();
    exact.sort_unstable();
    write_dir(&task_dir(dir, "buckets", task), |out| {
        write_all(out.join("pairs.bin"), &pairs)?;
        write_all(out.join("exact.bin"), &exact)
    })
}

/// One band partition: drops all but the first copy of each text (recording the others in `exact`
/// when given), then adds the candidate pairs of the buckets to `pairs`.
fn bucket(
    mut records: Vec<BandRecord>,
    config: &DedupConfig,
    priority: &[u32],
    mut exact: Option<&mut Vec<ExactRecord>>,
    pairs: &mut Vec<PairRecord>,
) {
    if config.exact {
        records.sort_unstable_by_key(|r| (r.key, r.exact, priority[r.domain as usize], r.row));
        // Keep the first of each text in place (no second copy of the partition in memory).
        let mut kept = 0;
        for i in 0..records.len() {
            let first = records[kept.max(1) - 1];
            let r = records[i];
            if kept > 0 && (first.key, first.exact) == (r.key, r.exact) {
                if let Some(exact) = exact.as_deref_mut() {
                    exact.push(ExactRecord {
                        row: r.row,
                        twin: first.row,
                        domain: r.domain,
                        twin_domain: first.domain,
                    });
                }
            } else {
                records[kept] = r;
                kept += 1;
            }
        }
        records.truncate(kept);
    }
    if !config.near {
        return;
    }
    records.sort_unstable_by_key(|r| (r.key, r.row));
    let pair = |a: &BandRecord, b: &BandRecord| PairRecord {
        a: a.row,
        b: b.row,
        domain_a: a.domain,
        domain_b: b.domain,
    };
    for group in records.chunk_by(|a, b| a.key == b.key) {
        if group.len() < 2 {
            continue;
        }
        if group.len() <= config.full_bucket {
            for (i, a) in group.iter().enumerate() {
                pairs.extend(group[i + 1..].iter().map(|b| pair(a, b)));
            }
        } else {
            pairs.extend(group[1..].iter().map(|b| pair(&group[0], b)));
            pairs.extend(group[1..].windows(2).map(|w| pair(&w[0], &w[1])));
        }
    }
}

/// Phase 3 (one task): clusters, the drop list of each filter task, and the report.
pub fn clusters(paths: &[PathBuf], config: &DedupConfig, dir: &Path, count: usize) -> Result<()> {
    let corpus = Corpus::open(paths, &config.corpus)?;
    let metas = read_metas(config, dir, count)?;
    let domains = Domains::merge(&metas);
    let priority = priority_ranks(&config.priority, &domains.names)?;
    let mut pairs: Vec<PairRecord> = Vec::new();
    let mut exact: Vec<ExactRecord> = Vec::new();
    for index in 0..count {
        let task = task_dir(dir, "buckets", TaskSlice { index, count });
        pairs.extend(read_all::<PairRecord>(&task.join("pairs.bin"))?);
        exact.extend(read_all::<ExactRecord>(&task.join("exact.bin"))?);
    }
    pairs.sort_unstable();
    pairs.dedup();
    let candidate_pairs = pairs.len() as u64;

    // Union-find over the documents in a pair, numbered densely in corpus order.
    let mut members: Vec<(u64, u32)> = pairs
        .iter()
        .flat_map(|p| [(p.a, p.domain_a), (p.b, p.domain_b)])
        .collect();
    members.sort_unstable();
    members.dedup();
    let dense = |row: u64| {
        members
            .binary_search_by_key(&row, |&(r, _)| r)
            .ok()
            .map(|i| i as u32)
    };
    let rank = |d: u32| (priority[members[d as usize].1 as usize], d);
    let scored: Vec<(u32, u32, f64)> = pairs
        .iter()
        .filter_map(|p| Some((dense(p.a)?, dense(p.b)?, 1.0)))
        .collect();
    drop(pairs);
    let mut clusters = Clusters::new(members.len());
    let near = cluster_pairs(&scored, &rank, &mut clusters);
    drop(scored);

    // Every dropped document, its twin and survivor, and the counts of the report.
    let mut counts = empty_domain_counts(&domains.names, &domains.skipped);
    for (counts, &documents) in counts.iter_mut().zip(&domains.documents) {
        counts.documents_in = documents;
    }
    let mut cross = std::collections::BTreeMap::new();
    let mut drops = Vec::with_capacity(near.len() + exact.len());
    for &(doc, twin) in &near {
        let survivor = clusters.find(doc);
        let (row, domain) = members[doc as usize];
        counts[domain as usize].dropped_near += 1;
        *cross
            .entry((domain, members[survivor as usize].1))
            .or_insert(0u64) += 1;
        drops.push(DropRecord {
            row,
            twin: members[twin as usize].0,
            survivor: members[survivor as usize].0,
            exact: false,
        });
    }
    for copy in &exact {
        let (survivor, survivor_domain) = match dense(copy.twin) {
            Some(d) => members[clusters.find(d) as usize],
            None => (copy.twin, copy.twin_domain),
        };
        counts[copy.domain as usize].dropped_exact += 1;
        *cross.entry((copy.domain, survivor_domain)).or_insert(0u64) += 1;
        drops.push(DropRecord {
            row: copy.row,
            twin: copy.twin,
            survivor,
            exact: true,
        });
    }
    for counts in &mut counts {
        counts.kept = counts.documents_in - counts.dropped_exact - counts.dropped_near;
    }
    let report = assemble_report(
        counts,
        cross,
        &domains.names,
        domains.rows_without_domain,
        candidate_pairs,
        None,
        config,
    );
    let empty_domain_at = report
        .domains
        .iter()
        .zip(&domains.first_row)
        .map(|(d, &first)| if d.kept == 0 { first } else { None })
        .collect();

    // The drops of each filter task: its row groups are a contiguous run of rows.
    drops.sort_unstable_by_key(|d| d.row);
    let starts = corpus.task_row_starts(count);
    let output = dir.join("output");
    if output.exists() {
        fs::remove_dir_all(&output)
            .with_context(|| format!("cannot clear {}", output.display()))?;
    }
    write_dir(&dir.join("clusters"), |out| {
        fs::create_dir_all(out.join("drops"))?;
        for index in 0..count {
            let lo = drops.partition_point(|d| d.row < starts[index]);
            let hi = drops.partition_point(|d| d.row < starts[index + 1]);
            let name = format!("{}.bin", TaskSlice { index, count }.file_name());
            write_all(out.join("drops").join(name), &drops[lo..hi])?;
        }
        let plan = ClusterPlan {
            report,
            empty_domain_at,
        };
        write_atomic(&out.join("clusters.json"), &serde_json::to_vec(&plan)?)
    })
}

/// Phase 4, task `task`: the survivors of its row groups into `dedup-tasks/output/`.
pub fn filter(
    paths: &[PathBuf],
    config: &DedupConfig,
    dir: &Path,
    task: TaskSlice,
    quiet: bool,
) -> Result<()> {
    let corpus = Corpus::open(paths, &config.corpus)?;
    let metas = read_metas(config, dir, task.count)?;
    let domains = Domains::merge(&metas);
    let plan = read_plan(dir)?;
    let offsets = corpus.row_offsets();
    let location = |row: u64| {
        let file = offsets.partition_point(|&o| o <= row) - 1;
        DocLocation {
            file: file as u32,
            row: row - offsets[file],
        }
    };
    let docs = read_all::<DocRecord>(&task_dir(dir, "signatures", task).join("docs.bin"))?;
    let map = &domains.maps[task.index];
    let locations: Vec<DocLocation> = docs.iter().map(|d| location(d.row)).collect();
    let doc_domains: Vec<u32> = docs.iter().map(|d| map[d.domain as usize]).collect();
    let drops_path = dir
        .join("clusters")
        .join("drops")
        .join(format!("{}.bin", task.file_name()));
    let mut dropped = Vec::new();
    for drop in read_all::<DropRecord>(&drops_path)? {
        let Ok(position) = docs.binary_search_by_key(&drop.row, |d| d.row) else {
            bail!(
                "{} drops row {}, which signatures task {task} did not hash: the phases ran with other \
                 settings; run the dedup stage again",
                drops_path.display(),
                drop.row
            );
        };
        let dropped_doc = Dropped {
            exact: drop.exact,
            twin: location(drop.twin),
            survivor: location(drop.survivor),
        };
        dropped.push((position as u32, dropped_doc));
    }
    let empty_domain_at: Vec<Option<DocLocation>> = plan
        .empty_domain_at
        .iter()
        .map(|row| row.map(location))
        .collect();
    let decisions = Decisions {
        locations: &locations,
        domains: &doc_domains,
        dropped: &dropped,
        empty_domain_at: &empty_domain_at,
    };
    let output = dir.join("output");
    fs::create_dir_all(&output)
        .with_context(|| format!("cannot create {} (is the disk full?)", output.display()))?;
    super::write::write_outputs(
        &corpus,
        &corpus.task_units(task.index, task.count),
        &decisions,
        &domains.names,
        &output,
        config.write_dropped,
        quiet,
    )
}

/// The stage after its phases: `dedup-tasks/output/` with `stats.json` becomes `dedup/`, its marker
/// is written and `dedup-tasks/` removed.
pub fn finish(paths: &[PathBuf], config: &DedupConfig, work: &WorkDir) -> Result<DedupReport> {
    let corpus = Corpus::open(paths, &config.corpus)?;
    let dir = tasks_dir(work);
    let report = read_plan(&dir)?.report;
    let out_dir = work.stage_dir(StageFolder::Dedup);
    DoneMarker::clear(&out_dir)?;
    let output = dir.join("output");
    if !output.is_dir() {
        bail!(
            "{} is missing: the filter phase has not finished; run the dedup stage again",
            output.display()
        );
    }
    write_json(&output.join(REPORT_FILE), &report)?;
    replace_dir(&output, &out_dir)?;
    DoneMarker::new(StageFolder::Dedup, config, &corpus.paths())?
        .with_count("documents_in", report.documents_in)
        .with_count("kept", report.kept)
        .write(&out_dir)?;
    fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    Ok(report)
}
