//! The corpus and what the data stages make of it, in pipeline order: [`corpus`] reads any corpus layout
//! with bounded memory; [`stats`] measures it per domain (`stats/`); [`dedup`] removes exact and near
//! duplicates across domains (`dedup/`); [`tokenize`] turns documents into token shards with a held-out
//! validation split, or indexes token files a team already has (`tokens/`); [`tokens`] is the Megatron
//! token format itself: its writer, its memory-mapped reader and `tokens/index.json`.

pub mod corpus;
pub mod dedup;
pub mod stats;
pub mod tokenize;
pub mod tokens;
