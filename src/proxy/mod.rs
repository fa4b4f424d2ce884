//! Proxy models: the small language models whose validation losses the regression learns from.
//!
//! [`shard`] opens the Megatron token shards that the tokenize stage writes (memory-mapped, so a proxy
//! never loads a corpus); [`data`] builds training batches from them in proportion to a mixture, and the
//! fixed validation sequences every proxy is scored on; [`model`] is the LLaMA-style proxy in burn, P of
//! them stacked; [`train`] the training loop, and [`cpu`] its step written out for the CPU; [`stage`] `remix train` over a candidate list; [`device`]
//! where they train.

pub mod cpu;
pub mod data;
pub mod device;
pub mod model;
pub mod shard;
pub mod stage;
pub mod train;
