//! The corpus and what the data stages make of it, in pipeline order: [`corpus`] reads any corpus layout
//! with bounded memory; [`stats`] measures it per domain (`stats/`); [`dedup`] removes exact and near
//! duplicates across domains (`dedup/`); [`cluster`] splits documents into topic
//! domains (`cluster/`); [`tokenize`] turns documents into token shards with a held-out
//! validation split, or indexes token files a team already has (`tokens/`); [`tokens`] is the Megatron
//! token format itself: its writer, its memory-mapped reader and `tokens/index.json`.

pub mod cluster;
pub mod corpus;
pub mod dedup;
pub mod stats;
pub mod tokenize;
pub mod tokens;
