//! What one proxy's training step holds in memory, and so how many proxies a device can stack: the
//! estimate [`step_bytes`], the largest single buffer [`largest_buffer_bytes`] (a stack must fit the
//! device's largest binding), and [`auto_parallel`], the stack size `parallel = 0` picks.

use serde::Serialize;

use super::device::StackBudget;
use super::model::ProxyShape;
use super::settings::TrainConfig;

/// Bytes one proxy's training step holds: weights, gradients and AdamW's two moments, and the
/// activations the backward pass keeps (per layer the residual stream, norms, projections, the
/// attention scores and probabilities, the SwiGLU halves; then the logits, their exponentials and
/// gradient). An estimate, within a factor of about two of what flex allocates.
pub fn step_bytes(shape: &ProxyShape, config: &TrainConfig) -> u64 {
    let tokens = (config.batch_size * shape.context) as u64;
    let (d, h, v) = (
        shape.d_model as u64,
        shape.ffn_hidden as u64,
        shape.vocab_size as u64,
    );
    let scores = (config.batch_size * shape.heads * shape.context * shape.context) as u64;
    let per_layer = tokens * (12 * d + 5 * h) + 3 * scores;
    let floats = 4 * shape.params() as u64 + shape.layers as u64 * per_layer + 3 * tokens * v;
    4 * floats
}

/// Bytes of the largest single buffer one proxy's step allocates in burn, f32: the logits `[batch,
/// context, vocab]`, the embedding or head weight (and its gradient and AdamW moments) `[vocab,
/// d_model]`, or the attention scores `[batch, heads, context, context]`. A stack of P holds P times
/// this in one buffer, which must fit the device's largest binding (on lavapipe, 128 MiB: a stack of 4
/// proxies at vocabulary 50,304 failed on its 206 MB head weight).
pub fn largest_buffer_bytes(shape: &ProxyShape, config: &TrainConfig) -> u64 {
    let rows = (config.batch_size * shape.context) as u64;
    let logits = rows * shape.vocab_size as u64;
    let weight = (shape.vocab_size * shape.d_model) as u64;
    let scores = rows * (shape.heads * shape.context) as u64;
    4 * logits.max(weight).max(scores)
}

/// "As many as fit": how many proxies to stack within `budget` (1 without a budget): their step bytes
/// within its bytes and their largest tensor within its largest binding; at most `candidates` and at
/// most 64 (past that a stack only delays the first row written).
pub fn auto_parallel(
    shape: &ProxyShape,
    config: &TrainConfig,
    budget: Option<StackBudget>,
    candidates: usize,
) -> usize {
    let Some(budget) = budget else {
        return 1;
    };
    let by_memory = budget.bytes / step_bytes(shape, config).max(1);
    let by_binding = budget.max_binding_bytes / largest_buffer_bytes(shape, config).max(1);
    (by_memory.min(by_binding) as usize)
        .clamp(1, 64)
        .min(candidates.max(1))
}

/// Bytes in a mebibyte, for messages.
pub const MIB: f64 = 1024.0 * 1024.0;

/// What a stack of proxies holds on a device: how many, and their memory against the device's budget.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StackMemory {
    /// Proxies per stack: the configured `parallel`, or [`auto_parallel`]'s for 0.
    pub proxies: usize,
    /// [`step_bytes`] of one proxy.
    pub per_proxy_bytes: u64,
    /// All of the stack's: `proxies` times `per_proxy_bytes`.
    pub stack_bytes: u64,
    /// The stack's largest single buffer.
    pub largest_buffer_bytes: u64,
    /// What a stack may take on the device ([`StackBudget`]); `None` on the CPU.
    pub budget_bytes: Option<u64>,
    /// The largest single buffer the device takes; `None` on the CPU.
    pub max_binding_bytes: Option<u64>,
}

impl StackMemory {
    /// A stack of `parallel` proxies (0: as many as fit, at most `candidates`) on a device with `budget`.
    pub fn of(
        shape: &ProxyShape,
        config: &TrainConfig,
        parallel: usize,
        budget: Option<StackBudget>,
        candidates: usize,
    ) -> StackMemory {
        let proxies = match parallel {
            0 => auto_parallel(shape, config, budget, candidates),
            p => p,
        };
        let per_proxy_bytes = step_bytes(shape, config);
        StackMemory {
            proxies,
            per_proxy_bytes,
            stack_bytes: proxies as u64 * per_proxy_bytes,
            largest_buffer_bytes: proxies as u64 * largest_buffer_bytes(shape, config),
            budget_bytes: budget.map(|b| b.bytes),
            max_binding_bytes: budget.map(|b| b.max_binding_bytes),
        }
    }

    /// Whether the stack passes what the device holds (never on the CPU, which has no budget).
    pub fn too_large(&self) -> bool {
        self.budget_bytes.is_some_and(|b| self.stack_bytes > b)
            || self
                .max_binding_bytes
                .is_some_and(|b| self.largest_buffer_bytes > b)
    }

    /// Errors when the stack passes what the device holds ([`Self::too_large`]): the stack and its
    /// budget in MiB ([`Self::describe`]) on `device` (its label), then `fix()`, what to change in the
    /// caller's terms (flags or config keys).
    pub fn check(&self, device: &str, fix: impl FnOnce() -> String) -> anyhow::Result<()> {
        if self.too_large() {
            anyhow::bail!(
                "a stack of {} proxies does not fit on {device}: {}; {}",
                self.proxies,
                self.describe(),
                fix()
            );
        }
        Ok(())
    }

    /// The stack in a sentence, in MiB.
    pub fn describe(&self) -> String {
        let budget = match (self.budget_bytes, self.max_binding_bytes) {
            (Some(bytes), Some(binding)) => format!(
                " of the {:.0} MiB a stack may take (largest buffer {:.0} MiB of {:.0} MiB)",
                bytes as f64 / MIB,
                self.largest_buffer_bytes as f64 / MIB,
                binding as f64 / MIB
            ),
            _ => ", in host memory".into(),
        };
        format!(
            "{} per stack, about {:.0} MiB per proxy, {:.0} MiB together{budget}",
            self.proxies,
            self.per_proxy_bytes as f64 / MIB,
            self.stack_bytes as f64 / MIB
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RegMix's proxy at vocabulary 50,304 on lavapipe's limits: 2 GiB of memory, 128 MiB a binding.
    #[test]
    fn a_stack_fits_both_the_memory_and_the_largest_binding() {
        let shape = ProxyShape {
            context: 32,
            ..ProxyShape::regmix_1m(50_304)
        };
        let config = TrainConfig {
            batch_size: 2,
            ..Default::default()
        };
        // The head weight, 50,304 x 256 f32, is the largest buffer: two fit in 128 MiB, four did not.
        assert_eq!(largest_buffer_bytes(&shape, &config), 4 * 50_304 * 256);
        let lavapipe = StackBudget {
            bytes: 2 << 30,
            max_binding_bytes: 128 << 20,
            from_adapter: true,
        };
        assert_eq!(auto_parallel(&shape, &config, Some(lavapipe), 100), 2);
        // With room in every buffer, the memory decides; never more than the candidates, or 64.
        let roomy = StackBudget {
            max_binding_bytes: u64::MAX,
            ..lavapipe
        };
        let by_memory = ((2u64 << 30) / step_bytes(&shape, &config)) as usize;
        assert_eq!(
            auto_parallel(&shape, &config, Some(roomy), 100),
            by_memory.clamp(1, 64)
        );
        assert_eq!(auto_parallel(&shape, &config, Some(roomy), 1), 1);
        let huge = StackBudget {
            bytes: u64::MAX,
            ..roomy
        };
        assert_eq!(auto_parallel(&shape, &config, Some(huge), 1000), 64);
        // No budget (the CPU): one at a time.
        assert_eq!(auto_parallel(&shape, &config, None, 100), 1);
    }
}
