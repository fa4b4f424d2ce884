//! MinHash signatures and LSH band keys over word n-gram shingles.
//!
//! A shingle is `ngram` consecutive words of the normalised text, hashed with 64-bit XXH3 straight from
//! the text (no joined copy is built). Signature value `i` is the minimum over the shingles of
//! `a_i * h + b_i` (wrapping 64-bit arithmetic, `a_i` odd, so each is a bijection of the hash space);
//! the probability that two documents agree on one value is their Jaccard similarity. The signature is
//! cut into `bands` bands of `rows` values; documents sharing any whole band are candidate duplicates,
//! so a pair with similarity `s` becomes a candidate with probability `1 - (1 - s^rows)^bands`.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

/// MinHash and LSH settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct MinHashConfig {
    /// Words per shingle. Default 5: the reference pipelines' (datatrove, RefinedWeb, FineWeb) setting.
    pub ngram: usize,
    /// LSH bands. Default 14 with 8 rows (112 hashes): FineWeb's setting, which makes a pair at
    /// Jaccard 0.8 a candidate with probability 0.92 and one at 0.5 with probability 0.054.
    pub bands: usize,
    /// Signature values per band. Default 8.
    pub rows: usize,
}

impl Default for MinHashConfig {
    fn default() -> Self {
        Self {
            ngram: 5,
            bands: 14,
            rows: 8,
        }
    }
}

impl MinHashConfig {
    pub fn hashes(&self) -> usize {
        self.bands * self.rows
    }

    /// Probability that a pair of Jaccard similarity `s` shares at least one band.
    pub fn candidate_probability(&self, s: f64) -> f64 {
        1.0 - (1.0 - s.powi(self.rows as i32)).powi(self.bands as i32)
    }
}

/// A seeded MinHash function family.
pub struct MinHasher {
    config: MinHashConfig,
    mul: Vec<u64>,
    add: Vec<u64>,
}

impl MinHasher {
    pub fn new(config: &MinHashConfig, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let n = config.hashes();
        let mul = (0..n).map(|_| rng.random::<u64>() | 1).collect();
        let add = (0..n).map(|_| rng.random::<u64>()).collect();
        Self {
            config: config.clone(),
            mul,
            add,
        }
    }

    pub fn config(&self) -> &MinHashConfig {
        &self.config
    }

    /// Calls `each` with the hash of every shingle of `text` (normalised text: words separated by
    /// whitespace). A text shorter than one shingle is one shingle of all its words; an empty text has none.
    pub fn for_each_shingle(&self, text: &str, mut each: impl FnMut(u64)) {
        let n = self.config.ngram.max(1);
        // Byte ranges of the words; a shingle is the text from its first word's start to its last's end.
        let mut words: Vec<(usize, usize)> = Vec::new();
        let bytes = text.as_bytes();
        let mut start = None;
        for (i, c) in text.char_indices() {
            if c.is_whitespace() {
                if let Some(s) = start.take() {
                    words.push((s, i));
                }
            } else if start.is_none() {
                start = Some(i);
            }
        }
        if let Some(s) = start {
            words.push((s, text.len()));
        }
        if words.is_empty() {
            return;
        }
        if words.len() < n {
            each(xxh3_64(&bytes[words[0].0..words[words.len() - 1].1]));
            return;
        }
        for window in words.windows(n) {
            each(xxh3_64(&bytes[window[0].0..window[n - 1].1]));
        }
    }

    /// The MinHash signature of a normalised text into `signature` (length `bands * rows`). A text
    /// with no words gets all-`u64::MAX`.
    pub fn signature(&self, text: &str, signature: &mut [u64]) {
        signature.fill(u64::MAX);
        let (mul, add) = (&self.mul[..signature.len()], &self.add[..signature.len()]);
        let mut shingles = Vec::new();
        self.for_each_shingle(text, |h| shingles.push(h));
        fold_min(&shingles, mul, add, signature);
    }

    /// The LSH key of each band of a signature, appended to `keys`.
    pub fn band_keys(&self, signature: &[u64], keys: &mut Vec<u64>) {
        for (band, values) in signature.chunks_exact(self.config.rows).enumerate() {
            let mut bytes = [0u8; 8 * 64];
            let used = &mut bytes[..8 * values.len().min(64)];
            for (chunk, v) in used.chunks_exact_mut(8).zip(values) {
                chunk.copy_from_slice(&v.to_le_bytes());
            }
            keys.push(xxh3_64_with_seed(used, band as u64));
        }
    }

    /// The sorted, distinct shingle hashes of a normalised text (for the true Jaccard).
    pub fn shingle_set(&self, text: &str) -> Vec<u64> {
        let mut set = Vec::new();
        self.for_each_shingle(text, |h| set.push(h));
        set.sort_unstable();
        set.dedup();
        set
    }
}

/// `signature[i] = min(signature[i], a_i * h + b_i)` over every shingle hash `h`: where the time goes.
/// Without AVX-512 a 64-bit multiply and an unsigned 64-bit minimum are emulated with several vector
/// instructions, so the loop is compiled three times and the best the processor has is picked at run
/// time (the result is the same bit for bit).
fn fold_min(shingles: &[u64], mul: &[u64], add: &[u64], signature: &mut [u64]) {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512dq") {
            // SAFETY: the processor has the features the function is compiled for.
            return unsafe { fold_min_avx512(shingles, mul, add, signature) };
        }
        if is_x86_feature_detected!("avx2") {
            // SAFETY: as above.
            return unsafe { fold_min_avx2(shingles, mul, add, signature) };
        }
    }
    fold_min_portable(shingles, mul, add, signature);
}

#[inline(always)]
fn fold_min_portable(shingles: &[u64], mul: &[u64], add: &[u64], signature: &mut [u64]) {
    for &h in shingles {
        for ((s, &a), &b) in signature.iter_mut().zip(mul).zip(add) {
            *s = (*s).min(a.wrapping_mul(h).wrapping_add(b));
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl")]
unsafe fn fold_min_avx512(shingles: &[u64], mul: &[u64], add: &[u64], signature: &mut [u64]) {
    fold_min_portable(shingles, mul, add, signature);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn fold_min_avx2(shingles: &[u64], mul: &[u64], add: &[u64], signature: &mut [u64]) {
    fold_min_portable(shingles, mul, add, signature);
}

/// Jaccard similarity of two sorted, distinct sets.
pub fn jaccard(a: &[u64], b: &[u64]) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let (mut i, mut j, mut common) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                common += 1;
                i += 1;
                j += 1;
            }
        }
    }
    common as f64 / (a.len() + b.len() - common) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_agreement_estimates_jaccard() {
        let config = MinHashConfig {
            bands: 64,
            rows: 8,
            ..Default::default()
        };
        let hasher = MinHasher::new(&config, 7);
        let words: Vec<String> = (0..400).map(|i| format!("w{}", i * 7919 % 1000)).collect();
        let a = words.join(" ");
        let mut edited = words.clone();
        for i in (0..400).step_by(25) {
            edited[i] = format!("x{i}");
        }
        let b = edited.join(" ");
        let truth = jaccard(&hasher.shingle_set(&a), &hasher.shingle_set(&b));
        let (mut sa, mut sb) = (vec![0; config.hashes()], vec![0; config.hashes()]);
        hasher.signature(&a, &mut sa);
        hasher.signature(&b, &mut sb);
        let agree = sa.iter().zip(&sb).filter(|(x, y)| x == y).count() as f64 / sa.len() as f64;
        assert!(
            (agree - truth).abs() < 0.06,
            "estimate {agree} vs truth {truth}"
        );
        assert!(truth > 0.5 && truth < 0.9, "{truth}");
    }

    #[test]
    fn every_code_path_gives_the_same_signature() {
        let hasher = MinHasher::new(&MinHashConfig::default(), 3);
        let shingles: Vec<u64> = (0..1000u64)
            .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
            .collect();
        let n = hasher.config().hashes();
        let mut portable = vec![u64::MAX; n];
        fold_min_portable(&shingles, &hasher.mul, &hasher.add, &mut portable);
        let mut dispatched = vec![u64::MAX; n];
        fold_min(&shingles, &hasher.mul, &hasher.add, &mut dispatched);
        assert_eq!(portable, dispatched);
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx2") {
            let mut avx2 = vec![u64::MAX; n];
            unsafe { fold_min_avx2(&shingles, &hasher.mul, &hasher.add, &mut avx2) };
            assert_eq!(portable, avx2);
        }
    }

    #[test]
    fn short_and_empty_texts() {
        let hasher = MinHasher::new(&MinHashConfig::default(), 1);
        assert_eq!(hasher.shingle_set("one two").len(), 1);
        assert!(hasher.shingle_set("   ").is_empty());
        assert_eq!(hasher.shingle_set("a b c d e f").len(), 2);
        assert_eq!(jaccard(&[1, 2, 3], &[2, 3, 4]), 0.5);
        let p = MinHashConfig::default().candidate_probability(0.8);
        assert!((p - 0.924).abs() < 0.01, "{p}");
    }
}
