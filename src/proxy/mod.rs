//! Proxy models: the small language models whose validation losses the regression learns from.
//!
//! [`data`] builds training batches from the token shards (memory-mapped by
//! [`crate::data::tokens::read`], so a proxy never loads a corpus) in proportion to a mixture, and the
//! fixed validation sequences every proxy is scored on; [`model`] is the LLaMA-style proxy in burn, P of
//! them stacked; [`settings`] their training settings; [`train`] trains a stack, through burn's autodiff
//! ([`autodiff`]) or the step written out for the CPU ([`cpu`]); [`eval`] scores it; [`memory`] sizes
//! a stack for a device; [`device`] where they train; [`bench`] `remix bench train`. The train stage that runs one proxy per candidate
//! mixture is RegMix's ([`crate::regmix::train`]).

pub mod autodiff;
pub mod bench;
pub mod cpu;
pub mod data;
pub mod device;
pub mod eval;
pub mod memory;
pub mod model;
pub mod settings;
pub mod shape;
pub mod train;
