//! The proxy model: a LLaMA-style decoder (RegMix's "1M" proxy by default).
//!
//! Token embedding, then pre-norm blocks of RMSNorm -> causal multi-head attention with rotary position
//! embeddings -> residual, RMSNorm -> SwiGLU feed-forward -> residual; a final RMSNorm and an untied output
//! head; no biases anywhere. burn's transformer encoder has neither RMSNorm nor RoPE, so the block is
//! composed from burn's `Linear`, `RmsNorm`, `RotaryEncoding`, `SwiGlu` and its fused `attention`.

use burn::nn::{
    Embedding, EmbeddingConfig, Linear, LinearConfig, RmsNorm, RmsNormConfig, RotaryEncoding,
    RotaryEncodingConfig, SwiGlu, SwiGluConfig,
};
use burn::prelude::*;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
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

    pub fn init(&self, device: &Device) -> ProxyModel {
        let head_dim = self.d_model / self.heads;
        let linear = |i, o| LinearConfig::new(i, o).with_bias(false).init(device);
        ProxyModel {
            embedding: EmbeddingConfig::new(self.vocab_size, self.d_model).init(device),
            blocks: (0..self.layers)
                .map(|_| Block {
                    attention_norm: RmsNormConfig::new(self.d_model).init(device),
                    query: linear(self.d_model, self.d_model),
                    key: linear(self.d_model, self.d_model),
                    value: linear(self.d_model, self.d_model),
                    output: linear(self.d_model, self.d_model),
                    ffn_norm: RmsNormConfig::new(self.d_model).init(device),
                    gate: SwiGluConfig::new(self.d_model, self.ffn_hidden).init(device),
                    down: linear(self.ffn_hidden, self.d_model),
                    heads: self.heads,
                })
                .collect(),
            final_norm: RmsNormConfig::new(self.d_model).init(device),
            head: linear(self.d_model, self.vocab_size),
            rope: RotaryEncodingConfig::new(self.context, head_dim)
                .with_theta(self.rope_theta)
                .init(device),
        }
    }
}

/// One pre-norm decoder block.
#[derive(Module, Debug)]
pub struct Block {
    attention_norm: RmsNorm,
    query: Linear,
    key: Linear,
    value: Linear,
    output: Linear,
    ffn_norm: RmsNorm,
    gate: SwiGlu,
    down: Linear,
    heads: usize,
}

impl Block {
    fn forward(&self, x: Tensor<3>, rope: &RotaryEncoding) -> Tensor<3> {
        let [batch, length, width] = x.dims();
        let head_dim = width / self.heads;
        let split = |t: Tensor<3>| {
            t.reshape([batch, length, self.heads, head_dim])
                .swap_dims(1, 2)
        };
        let h = self.attention_norm.forward(x.clone());
        let q = rope.forward(split(self.query.forward(h.clone())));
        let k = rope.forward(split(self.key.forward(h.clone())));
        let v = split(self.value.forward(h));
        let options = AttentionModuleOptions {
            scale: None,
            softcap: None,
            is_causal: true,
        };
        let attended = attention(q, k, v, None, None, options)
            .swap_dims(1, 2)
            .reshape([batch, length, width]);
        let x = x + self.output.forward(attended);
        let ffn = self
            .down
            .forward(self.gate.forward(self.ffn_norm.forward(x.clone())));
        x + ffn
    }
}

/// The proxy model.
#[derive(Module, Debug)]
pub struct ProxyModel {
    embedding: Embedding,
    blocks: Vec<Block>,
    final_norm: RmsNorm,
    head: Linear,
    rope: RotaryEncoding,
}

impl ProxyModel {
    /// Logits `[batch, length, vocab]` for tokens `[batch, length]`.
    pub fn forward(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        let mut x = self.embedding.forward(tokens);
        for block in &self.blocks {
            x = block.forward(x, &self.rope);
        }
        self.head.forward(self.final_norm.forward(x))
    }
}

/// Mean next-token cross-entropy of `rows` (`[batch, length + 1]` token ids): the first `length` tokens
/// are the input, the last `length` the targets.
pub fn next_token_loss(model: &ProxyModel, rows: Tensor<2, Int>) -> Tensor<1> {
    let [batch, width] = rows.dims();
    let length = width - 1;
    let inputs = rows.clone().slice([0..batch, 0..length]);
    let targets = rows.slice([0..batch, 1..width]).reshape([batch * length]);
    let logits = model.forward(inputs);
    let vocab = logits.dims()[2];
    burn::nn::loss::CrossEntropyLossConfig::new()
        .init(&targets.device())
        .forward(logits.reshape([batch * length, vocab]), targets)
}

/// Next-token cross-entropy of every target of `rows` (`[batch, length + 1]` token ids):
/// `[batch, length]`, unreduced, for losses that weigh tokens differently (DoReMi).
pub fn token_losses(model: &ProxyModel, rows: Tensor<2, Int>) -> Tensor<2> {
    let [batch, width] = rows.dims();
    let length = width - 1;
    let inputs = rows.clone().slice([0..batch, 0..length]);
    let targets = rows.slice([0..batch, 1..width]).reshape([batch, length, 1]);
    let log_probs = burn::tensor::activation::log_softmax(model.forward(inputs), 2);
    log_probs.gather(2, targets).reshape([batch, length]).neg()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Module;

    fn tiny() -> ProxyShape {
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

    #[test]
    fn regmix_shape_counts_a_million_non_embedding_params() {
        let shape = ProxyShape::regmix_1m(4096);
        assert_eq!(shape.non_embedding_params(), 1_312_000);
        assert_eq!(shape.params(), 1_312_000 + 2 * 4096 * 256);
        let device = Device::flex();
        let model = tiny().init(&device);
        assert_eq!(
            model.num_params(),
            tiny().params(),
            "the formula matches the module"
        );
    }

    /// The same weights and batch give the same loss on the CPU (flex) and on wgpu (lavapipe where there
    /// is no GPU; `.ci/run` installs it). Skipped with a message where no wgpu adapter exists.
    #[test]
    fn cpu_and_wgpu_agree_on_the_loss() {
        let wgpu = match crate::proxy::device::DeviceChoice::Wgpu.device() {
            Ok(device) => device,
            Err(e) => {
                eprintln!("skipping the wgpu comparison: {e}");
                return;
            }
        };
        let cpu = Device::flex();
        cpu.seed(7);
        let model = tiny().init(&cpu);
        let ids: Vec<i64> = (0..3 * 13).map(|i| (i * 17 + 5) % 50).collect();
        let rows = |device: &Device| {
            Tensor::<2, Int>::from_data(TensorData::new(ids.clone(), [3, 13]), device)
        };
        let on_cpu = next_token_loss(&model, rows(&cpu)).into_scalar::<f32>();
        let moved = model.clone().to_device(&wgpu);
        let on_wgpu = next_token_loss(&moved, rows(&wgpu)).into_scalar::<f32>();
        assert!(
            on_cpu.is_finite() && (on_cpu - on_wgpu).abs() < 1e-4,
            "cpu {on_cpu}, wgpu {on_wgpu}"
        );
        let per_token_cpu = token_losses(&model, rows(&cpu)).into_data();
        let per_token_wgpu = token_losses(&moved, rows(&wgpu)).into_data();
        per_token_cpu
            .assert_approx_eq::<f32>(&per_token_wgpu, burn::tensor::Tolerance::absolute(1e-4));
    }

    #[test]
    fn attention_is_causal() {
        let device = Device::flex();
        let model = tiny().init(&device);
        let a = Tensor::<2, Int>::from_ints([[1, 2, 3, 4, 5, 6]], &device);
        let b = Tensor::<2, Int>::from_ints([[1, 2, 3, 9, 9, 9]], &device);
        let (la, lb) = (model.forward(a), model.forward(b));
        assert_eq!(la.dims(), [1, 6, 50]);
        let early = (la.clone().slice([0..1, 0..3]) - lb.clone().slice([0..1, 0..3]))
            .abs()
            .max()
            .into_scalar::<f32>();
        let late = (la.slice([0..1, 3..6]) - lb.slice([0..1, 3..6]))
            .abs()
            .max()
            .into_scalar::<f32>();
        assert!(early < 1e-5, "positions before the change moved by {early}");
        assert!(late > 1e-4, "positions after the change did not move");
    }

    #[test]
    fn adamw_steps_fit_a_fixed_batch() {
        use burn::optim::{AdamWConfig, GradientsParams};
        let device = Device::flex().autodiff();
        let mut model = tiny().init(&device);
        let mut optimizer = AdamWConfig::new()
            .with_beta_2(0.95)
            .with_weight_decay(0.1)
            .init();
        let rows = Tensor::<2, Int>::from_ints(
            [[1, 2, 3, 4, 5, 6, 7, 8, 9], [9, 8, 7, 6, 5, 4, 3, 2, 1]],
            &device,
        );
        let first = next_token_loss(&model, rows.clone()).into_scalar::<f32>();
        assert!(
            first.is_finite() && first > 1.0,
            "an untrained model: {first}"
        );
        let mut last = first;
        for _ in 0..40 {
            let loss = next_token_loss(&model, rows.clone());
            last = loss.clone().into_scalar::<f32>();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optimizer.step(1e-2, model, grads);
        }
        assert!(
            last < first * 0.3,
            "40 steps on one batch: {first} -> {last}"
        );
    }

    #[test]
    fn token_losses_average_to_the_mean_loss() {
        let device = Device::flex();
        let model = tiny().init(&device);
        let rows = Tensor::<2, Int>::from_ints([[1, 2, 3, 4, 5], [7, 3, 9, 1, 0]], &device);
        let each = token_losses(&model, rows.clone());
        assert_eq!(each.dims(), [2, 4]);
        let mean = each.mean().into_scalar::<f32>();
        let reduced = next_token_loss(&model, rows).into_scalar::<f32>();
        assert!((mean - reduced).abs() < 1e-5, "{mean} vs {reduced}");
    }
}
