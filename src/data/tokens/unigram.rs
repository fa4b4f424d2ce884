//! A shard's unigram entropy: the loss, in nats per token, of a model that knows only how often each
//! token occurs in it. A proxy whose loss on a domain is not below its unigram entropy has learned the
//! domain's token frequencies and nothing of context, so its ranking of mixtures says whose frequencies
//! resemble the target's, not what trains a model for it (the report's answer says so).

use std::path::Path;

use anyhow::Result;

use super::index::TokenDomain;
use super::read::{TokenShard, decode};

/// Tokens decoded at a time.
const CHUNK: usize = 1 << 16;

/// Measures `domain`'s [`TokenDomain::val_unigram_entropy`] from its validation shard in `tokens_dir`.
/// Errors: an unreadable shard.
pub fn measure(domain: &mut TokenDomain, tokens_dir: &Path) -> Result<()> {
    let shard = TokenShard::validation(domain, tokens_dir)?;
    domain.val_unigram_entropy = unigram_entropy(&shard);
    Ok(())
}

/// The entropy (nats per token) of the token frequencies of `shard`, end-of-document tokens included,
/// with Miller and Madow's correction `(K - 1) / 2N` for the `K` distinct tokens seen in `N` (the plain
/// estimate is biased low when a held-out shard is small beside the vocabulary). `None` for an empty
/// shard.
pub fn unigram_entropy(shard: &TokenShard) -> Option<f64> {
    let mut counts: Vec<u64> = Vec::new();
    let width = shard.dtype().bytes();
    let mut ids = vec![0u32; CHUNK];
    for bytes in shard.file_bytes() {
        for chunk in bytes.chunks(CHUNK * width) {
            let ids = &mut ids[..chunk.len() / width];
            decode(shard.dtype(), chunk, ids);
            for &id in ids.iter() {
                let id = id as usize;
                if id >= counts.len() {
                    counts.resize(id + 1, 0);
                }
                counts[id] += 1;
            }
        }
    }
    entropy(&counts)
}

/// The Miller-Madow entropy (nats) of `counts`; `None` when they sum to 0.
fn entropy(counts: &[u64]) -> Option<f64> {
    let n: u64 = counts.iter().sum();
    if n == 0 {
        return None;
    }
    let n = n as f64;
    let seen = counts.iter().filter(|&&c| c > 0).count() as f64;
    let plain: f64 = (counts.iter().filter(|&&c| c > 0))
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.ln()
        })
        .sum();
    Some(plain + (seen - 1.0) / (2.0 * n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::tokens::write::{ShardWriter, TokenDtype};

    #[test]
    fn the_entropy_of_known_frequencies() {
        assert_eq!(entropy(&[0, 0]), None);
        // One token only: no uncertainty, no correction.
        assert_eq!(entropy(&[0, 7]), Some(0.0));
        // Four equally likely tokens, each seen 1000 times: ln 4 plus 3 / 8000.
        let h = entropy(&[1000; 4]).unwrap();
        assert!((h - (4f64.ln() + 3.0 / 8000.0)).abs() < 1e-12, "{h}");
    }

    #[test]
    fn a_shard_is_counted_across_documents_and_dtypes() {
        let dir = tempfile::tempdir().unwrap();
        for dtype in [TokenDtype::U16, TokenDtype::I32] {
            let prefix = dir.path().join(format!("s{}", dtype.code()));
            let mut writer = ShardWriter::create(&prefix, dtype).unwrap();
            writer.push(&[1, 2, 0]).unwrap();
            writer.push(&[3, 4, 0]).unwrap();
            writer.finish().unwrap();
            let shard = TokenShard::open(&prefix).unwrap();
            // Frequencies 2/6 for token 0 and 1/6 for four others; five distinct in six.
            let expected = -(2.0 / 6.0f64) * (2.0 / 6.0f64).ln()
                - 4.0 * (1.0 / 6.0f64) * (1.0 / 6.0f64).ln()
                + 4.0 / 12.0;
            let h = unigram_entropy(&shard).unwrap();
            assert!((h - expected).abs() < 1e-12, "{h} vs {expected}");
        }
    }
}
