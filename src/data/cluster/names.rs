//! Each cluster named by its most distinctive words: the words of each group's sampled documents
//! counted by cluster (one more pass over the sample), scored by class-based TF-IDF (BERTopic's habit),
//! and the best few joined into a stable domain name, `c03-python-def-import` (`web/c03-...` under its
//! source with `within`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use anyhow::Result;

use super::features::{MAX_WORDS, for_each_word};
use super::fit::{Groups, Scan, location, poisoned, sample_units};
use crate::core::progress::Progress;
use crate::data::corpus::Corpus;

/// Words in a cluster's name.
const NAME_TERMS: usize = 3;
/// Top terms kept per cluster in `clusters.json`.
pub const TOP_TERMS: usize = 10;

/// Per cluster of one group, word counts of its sampled documents.
pub type WordCounts = Vec<HashMap<String, u64>>;

/// Pass 3: counts the words of each group's sampled documents by cluster, for the names.
pub fn sample_words(
    corpus: &Corpus,
    groups: &Groups,
    scan: &Scan,
    labels: &[Vec<usize>],
    clusters: &[usize],
    quiet: bool,
) -> Result<Vec<WordCounts>> {
    let counts: Vec<Mutex<WordCounts>> = clusters
        .iter()
        .map(|&k| Mutex::new(vec![HashMap::new(); k]))
        .collect();
    let units = sample_units(corpus, scan);
    let progress = Progress::new(corpus.units_rows(&units), "docs", quiet);
    progress.set_message("cluster: naming");
    corpus.par_map_units(&units, &progress, |batch| {
        let mut local: BTreeMap<(usize, usize), HashMap<String, u64>> = BTreeMap::new();
        for (row, key, text) in batch.docs() {
            let Some(g) = groups.of(&batch.domains()[key as usize]) else {
                continue;
            };
            if let Ok(i) = scan.samples[g].binary_search(&location(batch, row)) {
                let words = local.entry((g, labels[g][i])).or_default();
                for_each_word(text, MAX_WORDS, |w| {
                    if is_name_word(w) {
                        *words.entry(w.to_string()).or_default() += 1;
                    }
                });
            }
        }
        for ((g, c), words) in local {
            let mut shared = counts[g].lock().map_err(poisoned)?;
            for (word, n) in words {
                *shared[c].entry(word).or_default() += n;
            }
        }
        Ok(())
    })?;
    progress.finish();
    counts
        .into_iter()
        .map(|c| c.into_inner().map_err(poisoned))
        .collect()
}

/// A word fit for a name: 3 to 20 ASCII letters (digits, single letters and other scripts make poor
/// folder names).
fn is_name_word(word: &str) -> bool {
    (3..=20).contains(&word.len()) && word.bytes().all(|b| b.is_ascii_lowercase())
}

/// Each cluster's most distinctive words: class-based TF-IDF (BERTopic's c-TF-IDF treats each cluster
/// as one document) with the IDF replaced by the word's lift over the whole sample, `p_c(w) *
/// ln(p_c(w) / p(w))` (its term of the KL divergence of the cluster's word distribution from the
/// sample's), so words common everywhere ("the") score near 0 without a stop-word list. Best first;
/// ties by the word; only words with a positive score.
pub fn top_terms(counts: &WordCounts, limit: usize) -> Vec<Vec<String>> {
    let mut total: HashMap<&str, u64> = HashMap::new();
    for cluster in counts {
        for (word, &n) in cluster {
            *total.entry(word).or_default() += n;
        }
    }
    let all_words = total.values().sum::<u64>().max(1) as f64;
    counts
        .iter()
        .map(|cluster| {
            let words = cluster.values().sum::<u64>().max(1) as f64;
            let mut scored: Vec<(f64, &str)> = cluster
                .iter()
                .map(|(word, &n)| {
                    let p_c = n as f64 / words;
                    let p = total[word.as_str()] as f64 / all_words;
                    (p_c * (p_c / p).ln(), word.as_str())
                })
                .filter(|(score, _)| *score > 0.0)
                .collect();
            scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
            scored
                .into_iter()
                .take(limit)
                .map(|(_, w)| w.to_string())
                .collect()
        })
        .collect()
}

/// The names of a group's clusters: `cNN-` and the cluster's first name terms, under the source with
/// `within`.
pub fn names(source: &Option<String>, terms: &[Vec<String>]) -> Vec<String> {
    let width = if terms.len() > 100 { 3 } else { 2 };
    terms
        .iter()
        .enumerate()
        .map(|(i, terms)| {
            let mut name = format!("c{i:0width$}");
            for term in terms.iter().take(NAME_TERMS) {
                name.push('-');
                name.push_str(term);
            }
            match source {
                Some(source) => format!("{source}/{name}"),
                None => name,
            }
        })
        .collect()
}
