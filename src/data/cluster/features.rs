//! A document's TF-IDF features, hashed and projected to a small dense vector.
//!
//! Words are maximal runs of alphanumeric characters, lower-cased; the first [`MAX_WORDS`] of a
//! document count. Each word and each pair of neighbouring words is hashed (XXH3) into one of
//! [`SLOTS`] slots (the hashing trick, as scikit-learn's `HashingVectorizer`); a slot's weight is
//! sublinear TF times smoothed IDF, `(1 + ln tf) * (ln((1 + n) / (1 + df)) + 1)` as scikit-learn's
//! `TfidfVectorizer(sublinear_tf=True)` computes it, and the sparse vector is L2-normalised. It is then
//! projected to `dims` dimensions by a seeded sparse random projection (Achlioptas 2003; Li, Hastie and
//! Church 2006) applied to the non-zeros only: slot `s` adds `±w / 2` to [`PROJECTION_NONZEROS`]
//! dimensions drawn from a hash of `(s, seed)`, so the 2^20 x `dims` matrix is never stored. The
//! projected vector is L2-normalised again, so squared Euclidean distance is `2 - 2 cos`: k-means on it
//! is spherical k-means on the TF-IDF vectors.

use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Hashed feature slots: 2^20, scikit-learn's `HashingVectorizer` default; collisions among a
/// document's few hundred distinct words and pairs are rare.
pub const SLOTS: usize = 1 << 20;

/// Words of a document that count, from its start. 2,000: a topic shows in a document's first pages
/// (embedding models used for clustering, CLIMB's included, read 512 tokens), and a book-length
/// document costs no more than a long article.
pub const MAX_WORDS: usize = 2_000;

/// Output dimensions each slot lands in. 4 with weight ±1/2: the variance of a projected inner
/// product falls with the non-zeros per column, and 4 keeps the projection a few additions per slot.
pub const PROJECTION_NONZEROS: u64 = 4;

const WORD_SEED: u64 = 0x72656d69785f7764; // "remix_wd"

/// The hashed slots of a document's words and word pairs with their counts, sorted by slot.
pub fn slot_counts(text: &str) -> Vec<(u32, u32)> {
    let mut slots = Vec::with_capacity(256);
    let mut previous: Option<u64> = None;
    for_each_word(text, MAX_WORDS, |word| {
        let hash = xxh3_64_with_seed(word.as_bytes(), WORD_SEED);
        slots.push(slot(hash));
        if let Some(previous) = previous {
            slots.push(slot(mix(previous.rotate_left(17) ^ hash)));
        }
        previous = Some(hash);
    });
    slots.sort_unstable();
    let mut counts: Vec<(u32, u32)> = Vec::with_capacity(slots.len());
    for s in slots {
        match counts.last_mut() {
            Some((last, count)) if *last == s => *count += 1,
            _ => counts.push((s, 1)),
        }
    }
    counts
}

/// Calls `each` with the first `limit` words of `text`, lower-cased: maximal runs of alphanumeric
/// characters.
pub fn for_each_word(text: &str, limit: usize, mut each: impl FnMut(&str)) {
    let mut word = String::with_capacity(32);
    let mut seen = 0;
    for c in text.chars() {
        if c.is_alphanumeric() {
            if c.is_ascii() {
                word.push(c.to_ascii_lowercase());
            } else {
                word.extend(c.to_lowercase());
            }
            continue;
        }
        if !word.is_empty() {
            each(&word);
            word.clear();
            seen += 1;
            if seen == limit {
                return;
            }
        }
    }
    if !word.is_empty() {
        each(&word);
    }
}

fn slot(hash: u64) -> u32 {
    (hash & (SLOTS as u64 - 1)) as u32
}

/// SplitMix64's finaliser: a cheap bijective mix of 64 bits.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d049bb133111eb);
    x ^ (x >> 31)
}

/// Smoothed IDF per slot from document frequencies over `documents` documents: scikit-learn's
/// `ln((1 + n) / (1 + df)) + 1`. Shape `[SLOTS]`.
pub fn idf(document_frequency: &[u32], documents: u64) -> Vec<f32> {
    let n = documents as f64;
    document_frequency
        .iter()
        .map(|&df| (((1.0 + n) / (1.0 + df as f64)).ln() + 1.0) as f32)
        .collect()
}

/// The projection of one document: `dims` values, L2-normalised (all zero for a document without
/// words).
#[derive(Debug, Clone)]
pub struct Projection {
    dims: usize,
    seed: u64,
}

impl Projection {
    pub fn new(dims: usize, seed: u64) -> Self {
        Self { dims, seed }
    }

    pub fn dims(&self) -> usize {
        self.dims
    }

    /// The document's TF-IDF vector (from [`slot_counts`] and [`idf`]) projected into `out`
    /// (length `dims`), L2-normalised.
    pub fn project(&self, counts: &[(u32, u32)], idf: &[f32], out: &mut [f32]) {
        out.iter_mut().for_each(|x| *x = 0.0);
        let weights: Vec<f32> = counts
            .iter()
            .map(|&(s, tf)| (1.0 + (tf as f32).ln()) * idf[s as usize])
            .collect();
        let norm = weights.iter().map(|w| w * w).sum::<f32>().sqrt();
        if norm == 0.0 {
            return;
        }
        let scale = 0.5 / norm;
        for (&(s, _), &w) in counts.iter().zip(&weights) {
            let base = mix(self.seed ^ (s as u64).wrapping_mul(0x9e3779b97f4a7c15));
            for r in 0..PROJECTION_NONZEROS {
                let h = mix(base.wrapping_add(r));
                let dim = (h >> 1) as usize % self.dims;
                let sign = if h & 1 == 0 { 1.0 } else { -1.0 };
                out[dim] += sign * w * scale;
            }
        }
        let norm = out.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            out.iter_mut().for_each(|x| *x /= norm);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_lowercased_alphanumeric_runs() {
        let mut words = Vec::new();
        for_each_word("Hello, WORLD! fn main() { Ünïcode }", 10, |w| {
            words.push(w.to_string())
        });
        assert_eq!(words, ["hello", "world", "fn", "main", "ünïcode"]);
        let mut first = Vec::new();
        for_each_word("a b c d", 2, |w| first.push(w.to_string()));
        assert_eq!(first, ["a", "b"]);
    }

    #[test]
    fn counts_words_and_pairs() {
        let counts = slot_counts("the cat the cat");
        // Unigrams: the x2, cat x2; pairs: (the, cat) x2, (cat, the) x1.
        let total: u32 = counts.iter().map(|c| c.1).sum();
        assert_eq!(total, 7);
        assert!(counts.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(slot_counts("").is_empty());
    }

    /// Similar texts land closer together than different ones, and the projection is a unit vector.
    #[test]
    fn the_projection_keeps_similarity() {
        let idf = vec![1.0f32; SLOTS];
        let projection = Projection::new(256, 7);
        let vector = |text: &str| {
            let mut out = vec![0.0; 256];
            projection.project(&slot_counts(text), &idf, &mut out);
            out
        };
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
        let a = vector("fn main() { let x = vec![1, 2, 3]; println!(\"{x:?}\"); }");
        let b = vector("fn run() { let y = vec![4, 5]; println!(\"{y:?}\"); }");
        let c = vector(
            "Call me Ishmael. Some years ago, never mind how long precisely, I went to sea.",
        );
        assert!((dot(&a, &a) - 1.0).abs() < 1e-5);
        assert!(
            dot(&a, &b) > dot(&a, &c) + 0.2,
            "{} {}",
            dot(&a, &b),
            dot(&a, &c)
        );
        let mut empty = vec![1.0; 256];
        projection.project(&[], &idf, &mut empty);
        assert!(empty.iter().all(|&x| x == 0.0));
    }
}
