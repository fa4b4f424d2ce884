//! Proxy models: the small language models whose validation losses the regression learns from.
//!
//! This module holds the data side so far: [`shard`] opens the Megatron token shards that the tokenize
//! stage writes (memory-mapped, so a proxy never loads a corpus), and [`data`] builds training batches
//! from them in proportion to a mixture and the fixed validation sequences every proxy is scored on.
//! The model and the training loop (burn) are tracked in the proxy-model issue.

pub mod data;
pub mod shard;
