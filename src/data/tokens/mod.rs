//! The token shards every later stage reads: Megatron-LM's indexed dataset (`.bin` + `.idx`), written
//! byte-exact by [`write`], memory-mapped by [`read`], and listed per domain in `tokens/index.json`
//! ([`index`]), with each domain's content digest ([`digest`]).

pub mod digest;
pub mod index;
pub mod read;
pub mod unigram;
pub mod write;

pub use digest::ContentDigest;
pub use index::*;
