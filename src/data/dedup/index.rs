//! The dedup index: a few fixed-size fields per document, and the clustering over it.
//!
//! Per document the index holds its location (file and row: 16 bytes), its domain (4), its 128-bit
//! exact hash (16) and one 64-bit key per LSH band (8 x 14 = 112 with the defaults): 148 bytes,
//! whatever the length of the text. Clustering adds a union-find parent and a band-sorting buffer (4 + 16 bytes per
//! document, one band at a time) and the candidate pairs (8 bytes each).

use rayon::prelude::*;

/// Where a document is, in corpus order (file, then row).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DocLocation {
    pub file: u32,
    pub row: u64,
}

/// The index of every usable document of the corpus, in corpus order.
#[derive(Debug, Default)]
pub struct DocIndex {
    pub locations: Vec<DocLocation>,
    /// Index into the global domain list.
    pub domains: Vec<u32>,
    pub exact: Vec<u128>,
    /// `bands` keys per document, document after document.
    pub band_keys: Vec<u64>,
    pub bands: usize,
}

/// Bytes the index holds per document with `bands` LSH bands.
pub fn bytes_per_document(bands: usize) -> usize {
    std::mem::size_of::<DocLocation>() + 4 + 16 + 8 * bands
}

/// Why a document did not survive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Kept,
    /// An exact copy of `twin` (after normalisation).
    Exact {
        twin: u32,
    },
    /// A near-duplicate of `twin`, the document it matched.
    Near {
        twin: u32,
    },
}

impl DocIndex {
    pub fn len(&self) -> usize {
        self.locations.len()
    }

    pub fn is_empty(&self) -> bool {
        self.locations.is_empty()
    }

    /// The document at a location, if the index has it.
    pub fn find(&self, location: DocLocation) -> Option<u32> {
        self.locations
            .binary_search(&location)
            .ok()
            .map(|i| i as u32)
    }

    /// Exact duplicates: every document whose hash an earlier-ranked one shares is dropped, with that one
    /// as its twin. `rank` orders documents by who survives (lower first).
    pub fn exact_fates(&self, rank: &(impl Fn(u32) -> (u32, u32) + Sync)) -> Vec<Fate> {
        let mut order: Vec<u32> = (0..self.len() as u32).collect();
        order.par_sort_unstable_by_key(|&d| (self.exact[d as usize], rank(d)));
        let mut fates = vec![Fate::Kept; self.len()];
        for group in order.chunk_by(|&a, &b| self.exact[a as usize] == self.exact[b as usize]) {
            for &d in &group[1..] {
                fates[d as usize] = Fate::Exact { twin: group[0] };
            }
        }
        fates
    }

    /// Candidate pairs `(a, b)`, `a < b`, among the documents `alive` says are still in play: documents
    /// that share a whole band. In a bucket of at most `full_bucket` documents every pair is a candidate;
    /// a larger bucket (boilerplate shared by thousands) links each member to the first and to the one
    /// before it, which keeps the cluster connected without quadratic work.
    pub fn candidate_pairs(&self, alive: &[bool], full_bucket: usize) -> Vec<(u32, u32)> {
        let mut pairs = Vec::new();
        let mut bucket: Vec<(u64, u32)> = Vec::with_capacity(self.len());
        for band in 0..self.bands {
            bucket.clear();
            bucket.extend(
                (0..self.len())
                    .filter(|&d| alive[d])
                    .map(|d| (self.band_keys[d * self.bands + band], d as u32)),
            );
            bucket.par_sort_unstable();
            for group in bucket.chunk_by(|a, b| a.0 == b.0) {
                if group.len() < 2 {
                    continue;
                }
                if group.len() <= full_bucket {
                    for (i, a) in group.iter().enumerate() {
                        pairs.extend(group[i + 1..].iter().map(|b| (a.1, b.1)));
                    }
                } else {
                    pairs.extend(group[1..].iter().map(|b| (group[0].1, b.1)));
                    pairs.extend(group[1..].windows(2).map(|w| (w[0].1, w[1].1)));
                }
            }
        }
        pairs.par_sort_unstable();
        pairs.dedup();
        pairs
    }
}

/// Union-find whose root is always the lowest-ranked member, so the root is the cluster's survivor.
pub struct Clusters {
    parent: Vec<u32>,
}

impl Clusters {
    pub fn new(n: usize) -> Self {
        Self {
            parent: (0..n as u32).collect(),
        }
    }

    pub fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let grand = self.parent[self.parent[x as usize] as usize];
            self.parent[x as usize] = grand;
            x = grand;
        }
        x
    }

    pub fn union(&mut self, a: u32, b: u32, rank: &impl Fn(u32) -> (u32, u32)) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return;
        }
        let (root, child) = if rank(ra) <= rank(rb) {
            (ra, rb)
        } else {
            (rb, ra)
        };
        self.parent[child as usize] = root;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clusters_root_at_lowest_rank() {
        let rank = |d: u32| (if d == 3 { 0 } else { 1 }, d);
        let mut clusters = Clusters::new(5);
        clusters.union(0, 1, &rank);
        clusters.union(1, 3, &rank);
        clusters.union(2, 4, &rank);
        assert_eq!(clusters.find(0), 3);
        assert_eq!(clusters.find(1), 3);
        assert_eq!(clusters.find(4), 2);
    }

    #[test]
    fn buckets_give_pairs() {
        let index = DocIndex {
            locations: (0..4).map(|r| DocLocation { file: 0, row: r }).collect(),
            domains: vec![0; 4],
            exact: vec![1, 2, 1, 3],
            band_keys: vec![10, 20, 10, 21, 11, 22, 12, 20],
            bands: 2,
        };
        assert_eq!(index.candidate_pairs(&[true; 4], 8), vec![(0, 1), (0, 3)]);
        let fates = index.exact_fates(&|d| (0, d));
        assert_eq!(fates[2], Fate::Exact { twin: 0 });
        assert_eq!(fates[1], Fate::Kept);
    }
}
