//! The shape of a proxy ([`ProxyShape`]): vocabulary, layers, widths, heads and context, RegMix's 1M proxy
//! by default, with its parameter counts and the checks a shape must pass before anything trains.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The shape of a proxy, with RegMix's 1M proxy as the default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProxyShape {
    /// Vocabulary size: from the tokenizer (`tokens/index.json`).
    pub vocab_size: usize,
    /// Decoder blocks. RegMix: 2.
    pub layers: usize,
    /// Model width. RegMix: 256.
    pub d_model: usize,
    /// Attention heads. RegMix: 8 (head width 32).
    pub heads: usize,
    /// SwiGLU hidden width. RegMix: 512.
    pub ffn_hidden: usize,
    /// Context length in tokens. RegMix: 512.
    pub context: usize,
    /// RoPE base. 10000, as in LLaMA.
    pub rope_theta: f32,
}

impl ProxyShape {
    /// RegMix's 1M proxy for a vocabulary.
    pub fn regmix_1m(vocab_size: usize) -> Self {
        Self {
            vocab_size,
            layers: 2,
            d_model: 256,
            heads: 8,
            ffn_hidden: 512,
            context: 512,
            rope_theta: 10_000.0,
        }
    }

    /// A shape with LLaMA's RoPE base, refused when the model cannot take it ([`Self::check`]).
    pub fn checked(
        vocab_size: usize,
        layers: usize,
        d_model: usize,
        heads: usize,
        ffn_hidden: usize,
        context: usize,
    ) -> anyhow::Result<Self> {
        let shape = Self {
            vocab_size,
            layers,
            d_model,
            heads,
            ffn_hidden,
            context,
            rope_theta: 10_000.0,
        };
        shape.check()?;
        Ok(shape)
    }

    /// Refuses shapes the model cannot take: heads must split the width into pieces of even size
    /// (rotary embeddings rotate pairs).
    pub fn check(&self) -> anyhow::Result<()> {
        if self.heads == 0 || self.d_model % self.heads != 0 || (self.d_model / self.heads) % 2 != 0
        {
            anyhow::bail!(
                "d_model {} must split into {} heads of even width (rotary embeddings rotate pairs)",
                self.d_model,
                self.heads
            );
        }
        if self.layers == 0 || self.context == 0 || self.ffn_hidden == 0 {
            anyhow::bail!("the proxy needs at least one layer, a context and a feed-forward width");
        }
        Ok(())
    }

    /// Parameters outside the input embedding and the output head: what "1M" counts.
    pub fn non_embedding_params(&self) -> usize {
        let (d, h) = (self.d_model, self.ffn_hidden);
        self.layers * (4 * d * d + 3 * d * h + 2 * d) + d
    }

    /// Every parameter, the embedding and the untied head included.
    pub fn params(&self) -> usize {
        self.non_embedding_params() + 2 * self.vocab_size * self.d_model
    }
}

/// The flex device's random generator is one per process: tests that seed it and draw from it take
/// turns through this lock, or concurrent tests would draw each other's numbers.
#[cfg(test)]
pub(crate) fn test_rng() -> std::sync::MutexGuard<'static, ()> {
    static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());
    RNG.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A proxy small enough for unit tests to train in milliseconds.
#[cfg(test)]
pub(crate) fn test_shape() -> ProxyShape {
    ProxyShape {
        vocab_size: 50,
        layers: 2,
        d_model: 16,
        heads: 4,
        ffn_hidden: 32,
        context: 12,
        rope_theta: 10_000.0,
    }
}
