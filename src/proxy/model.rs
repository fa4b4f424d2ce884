//! The proxy model: a LLaMA-style decoder (RegMix's "1M" proxy by default), P of them stacked.
//!
//! Token embedding, then pre-norm blocks of RMSNorm -> causal multi-head attention with rotary position
//! embeddings -> residual, RMSNorm -> SwiGLU feed-forward -> residual; a final RMSNorm and an untied output
//! head; no biases anywhere.
//!
//! Every weight has a leading model dimension: a [`ProxyModel`] holds P proxies, each layer is one
//! batched matmul for all of them, and each proxy reads its own rows of the batch (`[P, batch, length]`).
//! Nothing mixes across that dimension (the losses are summed, so each proxy's gradient is its own), so
//! P proxies trained together follow the same path as each trained alone; one proxy is P = 1.
//! burn's `Linear`/`RmsNorm`/`SwiGlu` modules hold 2-D weights and cannot be stacked, so the layers are
//! written here from burn's tensor operations, with the rotary tables and the causal mask computed once
//! at initialisation rather than on every call (burn's `RotaryEncoding` multiplies by a sign matrix per
//! call and its attention rebuilds the mask).

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::{silu, softmax};

use super::cpu::rope::RopeTables;
pub use super::shape::ProxyShape;
#[cfg(test)]
pub(crate) use super::shape::{test_rng, test_shape};

/// RMSNorm's epsilon, as in LLaMA.
pub(crate) const NORM_EPSILON: f64 = 1e-5;

/// Building proxies of a shape (the shape itself is [`super::shape`]).
impl ProxyShape {
    /// One proxy initialised from `seed`.
    pub fn init(&self, seed: u64, device: &Device) -> ProxyModel {
        self.init_stacked(&[seed], device)
    }

    /// Proxies stacked along the model dimension, the p-th initialised from `seeds[p]` exactly as
    /// [`Self::init`] would initialise it alone: linear weights uniform in +-1/sqrt(fan-in), embeddings
    /// standard normal, norm gains 1. `seeds` must not be empty.
    pub fn init_stacked(&self, seeds: &[u64], device: &Device) -> ProxyModel {
        let (d, h, v) = (self.d_model, self.ffn_hidden, self.vocab_size);
        let singles: Vec<Vec<Tensor<3>>> = seeds
            .iter()
            .map(|&seed| {
                device.seed(seed);
                let linear = |fan_in: usize, fan_out: usize| {
                    let bound = 1.0 / (fan_in as f64).sqrt();
                    Tensor::random(
                        [1, fan_in, fan_out],
                        Distribution::Uniform(-bound, bound),
                        device,
                    )
                };
                let ones = || Tensor::ones([1, 1, d], device);
                let mut weights = vec![Tensor::random(
                    [1, v, d],
                    Distribution::Normal(0.0, 1.0),
                    device,
                )];
                for _ in 0..self.layers {
                    weights.extend([ones(), linear(d, 3 * d), linear(d, d), ones()]);
                    weights.extend([linear(d, 2 * h), linear(h, d)]);
                }
                weights.extend([ones(), linear(d, v)]);
                weights
            })
            .collect();
        let mut stacked = (0..singles[0].len()).map(|i| {
            let parts = singles.iter().map(|w| w[i].clone()).collect();
            Param::from_tensor(Tensor::cat(parts, 0))
        });
        let mut next = || stacked.next().expect("one tensor per parameter");
        let embedding = next();
        let blocks = (0..self.layers)
            .map(|_| Block {
                attention_norm: next(),
                qkv: next(),
                output: next(),
                ffn_norm: next(),
                gate_up: next(),
                down: next(),
            })
            .collect();
        ProxyModel {
            embedding,
            blocks,
            final_norm: next(),
            head: next(),
            rope: Rope::new(self, device),
            causal_mask: causal_mask(self.context, device),
            heads: self.heads,
        }
    }
}

/// Rotary position embedding tables, interleaved pairs (LLaMA's layout): a pair `(x0, x1)` at position
/// t turns by angle `t * theta^(-2i/head_dim)`. `cos` repeats each pair's cosine twice; `sin` holds
/// `-sin, +sin`, so `rotate(x) = x * cos + swap_pairs(x) * sin`. The query tables also carry attention's
/// 1/sqrt(head_dim) scale, which saves a pass over the scores.
#[derive(Module, Debug)]
struct Rope {
    cos: Tensor<2>,
    sin: Tensor<2>,
    query_cos: Tensor<2>,
    query_sin: Tensor<2>,
}

impl Rope {
    fn new(shape: &ProxyShape, device: &Device) -> Self {
        let head_dim = shape.d_model / shape.heads;
        let angles = RopeTables::new(shape.context, head_dim, shape.rope_theta as f64);
        let cos = angles.cos.iter().flat_map(|&c| [c, c]).collect();
        let sin = angles.sin.iter().flat_map(|&s| [-s, s]).collect();
        let table = |values: Vec<f32>| {
            Tensor::<2>::from_data(TensorData::new(values, [shape.context, head_dim]), device)
        };
        let scale = 1.0 / (head_dim as f64).sqrt();
        let (cos, sin) = (table(cos), table(sin));
        Self {
            query_cos: cos.clone().mul_scalar(scale),
            query_sin: sin.clone().mul_scalar(scale),
            cos,
            sin,
        }
    }

    /// Rotates `x` (`[.., length, head_dim]`); `query` also scales it for attention.
    fn rotate(&self, x: Tensor<4>, query: bool) -> Tensor<4> {
        let [a, b, length, head_dim] = x.dims();
        let (cos, sin) = if query {
            (&self.query_cos, &self.query_sin)
        } else {
            (&self.cos, &self.sin)
        };
        let cos = cos.clone().slice(0..length).unsqueeze::<4>();
        let sin = sin.clone().slice(0..length).unsqueeze::<4>();
        let swapped = x
            .clone()
            .reshape([a * b * length, head_dim / 2, 2])
            .flip([2])
            .reshape([a, b, length, head_dim]);
        x * cos + swapped * sin
    }
}

/// `[context, context]`: 0 where a position may attend (itself and earlier), -1e9 elsewhere; added to
/// the attention scores before the softmax.
fn causal_mask(context: usize, device: &Device) -> Tensor<2> {
    let values: Vec<f32> = (0..context * context)
        .map(|i| if i % context > i / context { -1e9 } else { 0.0 })
        .collect();
    Tensor::from_data(TensorData::new(values, [context, context]), device)
}

/// RMSNorm of `x` (`[P, rows, width]`) with each model's gain (`[P, 1, width]`).
fn rms_norm(x: Tensor<3>, gain: &Param<Tensor<3>>) -> Tensor<3> {
    let rms = (x.clone().square().mean_dim(2) + NORM_EPSILON).sqrt();
    x / rms * gain.val()
}

/// One pre-norm decoder block; every weight `[P, in, out]`.
#[derive(Module, Debug)]
pub struct Block {
    attention_norm: Param<Tensor<3>>,
    /// Query, key and value projections side by side (`[P, d, 3d]`): one matmul instead of three.
    qkv: Param<Tensor<3>>,
    output: Param<Tensor<3>>,
    ffn_norm: Param<Tensor<3>>,
    /// SwiGLU's gate and up projections side by side (`[P, d, 2h]`).
    gate_up: Param<Tensor<3>>,
    down: Param<Tensor<3>>,
}

impl Block {
    /// `x`: `[P, batch * length, d]`.
    fn forward(
        &self,
        x: Tensor<3>,
        batch: usize,
        heads: usize,
        rope: &Rope,
        mask: &Tensor<2>,
    ) -> Tensor<3> {
        let [models, rows, width] = x.dims();
        let length = rows / batch;
        let head_dim = width / heads;
        let qkv = rms_norm(x.clone(), &self.attention_norm).matmul(self.qkv.val());
        let split = |i: usize| {
            qkv.clone()
                .slice([0..models, 0..rows, i * width..(i + 1) * width])
                .reshape([models * batch, length, heads, head_dim])
                .swap_dims(1, 2)
        };
        let q = rope.rotate(split(0), true);
        let k = rope.rotate(split(1), false);
        let scores = q.matmul(k.swap_dims(2, 3))
            + mask.clone().slice([0..length, 0..length]).unsqueeze::<4>();
        let attended = softmax(scores, 3)
            .matmul(split(2))
            .swap_dims(1, 2)
            .reshape([models, rows, width]);
        let x = x + attended.matmul(self.output.val());

        let gate_up = rms_norm(x.clone(), &self.ffn_norm).matmul(self.gate_up.val());
        let hidden = gate_up.dims()[2] / 2;
        let gate = gate_up.clone().slice([0..models, 0..rows, 0..hidden]);
        let up = gate_up.slice([0..models, 0..rows, hidden..2 * hidden]);
        x + (silu(gate) * up).matmul(self.down.val())
    }
}

/// P proxies with their weights stacked along a leading model dimension.
#[derive(Module, Debug)]
pub struct ProxyModel {
    /// `[P, vocab, d]`.
    embedding: Param<Tensor<3>>,
    blocks: Vec<Block>,
    final_norm: Param<Tensor<3>>,
    /// `[P, d, vocab]`, untied from the embedding.
    head: Param<Tensor<3>>,
    rope: Rope,
    causal_mask: Tensor<2>,
    heads: usize,
}

impl ProxyModel {
    /// How many proxies are stacked.
    pub fn models(&self) -> usize {
        self.embedding.dims()[0]
    }

    /// Every trained weight, each `[P, .., ..]`: what per-model gradient clipping visits.
    pub fn parameters(&self) -> Vec<&Param<Tensor<3>>> {
        let mut all = vec![&self.embedding];
        for b in &self.blocks {
            all.extend([
                &b.attention_norm,
                &b.qkv,
                &b.output,
                &b.ffn_norm,
                &b.gate_up,
                &b.down,
            ]);
        }
        all.extend([&self.final_norm, &self.head]);
        all
    }

    fn parameters_mut(&mut self) -> Vec<&mut Param<Tensor<3>>> {
        let mut all = vec![&mut self.embedding];
        for b in &mut self.blocks {
            all.extend([
                &mut b.attention_norm,
                &mut b.qkv,
                &mut b.output,
                &mut b.ffn_norm,
                &mut b.gate_up,
                &mut b.down,
            ]);
        }
        all.extend([&mut self.final_norm, &mut self.head]);
        all
    }

    /// Each stacked model's parameters on the host, in [`Self::parameters`] order: `[model][parameter]`.
    pub fn host_parameters(&self) -> anyhow::Result<Vec<Vec<Vec<f32>>>> {
        let models = self.models();
        let mut out = vec![Vec::new(); models];
        for p in self.parameters() {
            let values = p
                .val()
                .into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .map_err(|e| {
                    anyhow::anyhow!("cannot read the weights back from the device: {e:?}")
                })?;
            let per_model = values.len() / models;
            for (model, chunk) in out.iter_mut().zip(values.chunks_exact(per_model)) {
                model.push(chunk.to_vec());
            }
        }
        Ok(out)
    }

    /// This model with the parameters replaced by `values` (`[model][parameter]`, in
    /// [`Self::parameters`] order, each as long as the parameter it replaces).
    pub fn with_host_parameters(mut self, values: &[Vec<&[f32]>]) -> Self {
        for (i, param) in self.parameters_mut().into_iter().enumerate() {
            let dims = param.dims();
            let joined: Vec<f32> = values.iter().flat_map(|m| m[i].iter().copied()).collect();
            *param = Param::from_data(TensorData::new(joined, dims), &param.device());
        }
        self
    }

    /// Logits `[P, batch * length, vocab]` for tokens `[P, batch, length]` (model p reads row block p).
    pub fn forward(&self, tokens: Tensor<3, Int>) -> Tensor<3> {
        let [models, batch, length] = tokens.dims();
        let [_, vocab, width] = self.embedding.dims();
        // Model p's rows of the flattened `[P * vocab, d]` table start at p * vocab.
        let offsets = Tensor::<1, Int>::arange(0..models as i64, &tokens.device())
            .mul_scalar(vocab as i64)
            .reshape([models, 1, 1]);
        let table = self.embedding.val().reshape([models * vocab, width]);
        let mut x = burn::tensor::module::embedding(
            table,
            (tokens + offsets).reshape([models * batch, length]),
        )
        .reshape([models, batch * length, width]);
        for block in &self.blocks {
            x = block.forward(x, batch, self.heads, &self.rope, &self.causal_mask);
        }
        rms_norm(x, &self.final_norm).matmul(self.head.val())
    }
}

/// Next-token cross-entropy of every target of `rows` (`[P, batch, length + 1]` token ids; the first
/// `length` are the inputs, the last `length` the targets): `[P, batch, length]`.
pub fn token_losses(model: &ProxyModel, rows: Tensor<3, Int>) -> Tensor<3> {
    let [models, batch, width] = rows.dims();
    let length = width - 1;
    let inputs = rows.clone().slice([0..models, 0..batch, 0..length]);
    let targets = rows
        .slice([0..models, 0..batch, 1..width])
        .reshape([models, batch * length, 1]);
    let logits = model.forward(inputs);
    // log-sum-exp minus the target's logit; the shift is a constant, so it is detached.
    let shift = logits.clone().detach().max_dim(2);
    let log_sum_exp = (logits.clone() - shift.clone()).exp().sum_dim(2).log() + shift;
    (log_sum_exp - logits.gather(2, targets)).reshape([models, batch, length])
}

/// Each model's mean next-token loss over its rows: `[P]`.
pub fn next_token_loss(model: &ProxyModel, rows: Tensor<3, Int>) -> Tensor<1> {
    let [models, batch, width] = rows.dims();
    token_losses(model, rows)
        .reshape([models, batch * (width - 1)])
        .mean_dim(1)
        .reshape([models])
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Module;

    use super::test_shape as tiny;

    use super::test_rng as rng;

    fn rows(ids: &[i64], shape: [usize; 3], device: &Device) -> Tensor<3, Int> {
        Tensor::from_data(TensorData::new(ids.to_vec(), shape), device)
    }

    #[test]
    fn regmix_shape_counts_a_million_non_embedding_params() {
        let _rng = rng();
        let shape = ProxyShape::regmix_1m(4096);
        assert_eq!(shape.non_embedding_params(), 1_312_000);
        assert_eq!(shape.params(), 1_312_000 + 2 * 4096 * 256);
        let device = Device::flex();
        assert_eq!(
            tiny().init(0, &device).num_params(),
            tiny().params(),
            "the formula matches the module"
        );
        assert_eq!(
            tiny().init_stacked(&[0, 1, 2], &device).num_params(),
            3 * tiny().params()
        );
    }

    /// Each model of a stack computes what it computes alone: the same initial weights from its seed,
    /// its own rows only.
    #[test]
    fn a_stack_computes_what_each_model_computes_alone() {
        let _rng = rng();
        let device = Device::flex();
        let ids: Vec<i64> = (0..2 * 3 * 9).map(|i| (i * 13 + 1) % 50).collect();
        let stacked = token_losses(
            &tiny().init_stacked(&[4, 9], &device),
            rows(&ids, [2, 3, 9], &device),
        );
        for (p, seed) in [4, 9].into_iter().enumerate() {
            let alone = token_losses(
                &tiny().init(seed, &device),
                rows(&ids[p * 27..(p + 1) * 27], [1, 3, 9], &device),
            );
            stacked
                .clone()
                .slice(p..p + 1)
                .into_data()
                .assert_approx_eq::<f32>(
                    &alone.into_data(),
                    burn::tensor::Tolerance::absolute(1e-5),
                );
        }
    }

    /// The same weights and batch give the same loss on the CPU (flex) and on wgpu (lavapipe where there
    /// is no GPU; `.ci/run` installs it). Skipped with a message where no wgpu adapter exists, except
    /// under `REMIX_REQUIRE_WGPU` (CI).
    #[test]
    fn cpu_and_wgpu_agree_on_the_loss() {
        let _rng = rng();
        let wgpu = match crate::proxy::device::DeviceChoice::Wgpu.device() {
            Ok(device) => device,
            // CI installs lavapipe and sets REMIX_REQUIRE_WGPU: there a missing adapter fails.
            Err(e) if std::env::var_os("REMIX_REQUIRE_WGPU").is_some() => {
                panic!("REMIX_REQUIRE_WGPU is set but {e}")
            }
            Err(e) => {
                eprintln!("skipping the wgpu comparison: {e}");
                return;
            }
        };
        let cpu = Device::flex();
        let model = tiny().init_stacked(&[7, 8], &cpu);
        let ids: Vec<i64> = (0..2 * 3 * 13).map(|i| (i * 17 + 5) % 50).collect();
        let on_cpu = next_token_loss(&model, rows(&ids, [2, 3, 13], &cpu)).into_data();
        let moved = model.clone().to_device(&wgpu);
        let on_wgpu = next_token_loss(&moved, rows(&ids, [2, 3, 13], &wgpu)).into_data();
        on_cpu.assert_approx_eq::<f32>(&on_wgpu, burn::tensor::Tolerance::absolute(1e-4));
        let per_token_cpu = token_losses(&model, rows(&ids, [2, 3, 13], &cpu)).into_data();
        let per_token_wgpu = token_losses(&moved, rows(&ids, [2, 3, 13], &wgpu)).into_data();
        per_token_cpu
            .assert_approx_eq::<f32>(&per_token_wgpu, burn::tensor::Tolerance::absolute(1e-4));
    }

    #[test]
    fn attention_is_causal() {
        let _rng = rng();
        let device = Device::flex();
        let model = tiny().init(0, &device);
        let a = rows(&[1, 2, 3, 4, 5, 6], [1, 1, 6], &device);
        let b = rows(&[1, 2, 3, 9, 9, 9], [1, 1, 6], &device);
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
        let _rng = rng();
        use burn::optim::{AdamWConfig, GradientsParams};
        let device = Device::flex().autodiff();
        let mut model = tiny().init(0, &device);
        let mut optimizer = AdamWConfig::new()
            .with_beta_2(0.95)
            .with_weight_decay(0.1)
            .init();
        let batch = rows(
            &[1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 8, 7, 6, 5, 4, 3, 2, 1],
            [1, 2, 9],
            &device,
        );
        let first = next_token_loss(&model, batch.clone()).into_scalar::<f32>();
        assert!(
            first.is_finite() && first > 1.0,
            "an untrained model: {first}"
        );
        let mut last = first;
        for _ in 0..40 {
            let loss = next_token_loss(&model, batch.clone());
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
        let _rng = rng();
        let device = Device::flex();
        let model = tiny().init(0, &device);
        let batch = rows(&[1, 2, 3, 4, 5, 7, 3, 9, 1, 0], [1, 2, 5], &device);
        let each = token_losses(&model, batch.clone());
        assert_eq!(each.dims(), [1, 2, 4]);
        let mean = each.mean().into_scalar::<f32>();
        let reduced = next_token_loss(&model, batch).into_scalar::<f32>();
        assert!((mean - reduced).abs() < 1e-5, "{mean} vs {reduced}");
    }
}
