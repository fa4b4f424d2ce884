//! remix: find the data mixture for a language-model pre-training run.
//!
//! The pipeline reads a corpus split into domains (Parquet), and each stage writes a named folder in
//! a work directory with a `_done.json` marker ([`workdir`]). The stages that exist:
//!
//! - [`stats`]: per-domain statistics of a corpus (`stats/stats.parquet`, `stats/stats.json`).
//! - [`dedup`]: exact and MinHash near-duplicate removal across domains (`dedup/<domain>/part-*.parquet`,
//!   `dedup/stats.json`).
//! - [`tokenize`]: Megatron token shards per domain with a held-out validation split
//!   (`tokens/<domain>.bin/.idx`, `tokens/index.json`), and a BPE tokenizer trainer for proxies.
//! - [`sample`]: candidate mixtures for proxy runs (`mixtures.parquet`), RegMix's generator.
//! - [`runs`]: the runs table, one row per proxy run (`runs/runs.parquet`), and imports from RegMix.
//! - [`fit`]: the regression of loss on mixture weights, cross-validated (`fit/model.json`,
//!   `fit/report.json`); [`predict`] scores mixtures with it; [`simulate`] searches the mixture
//!   space with it under the epoch caps ([`mixture`]) for `fit/optimum.json`.
//! - [`manifest`]: the chosen weights as `mixtures/<name>.json` and exports for eight trainers.
//! - [`report`]: one self-contained HTML page over a work directory.
//! - [`proxy`]: the proxy model, its batches drawn by mixture and its training loop; `remix train` runs
//!   one proxy per candidate into `runs/runs.parquet`.
//! - [`doremi`]: domain weights by DoReMi's Group DRO against a reference proxy (`doremi/weights.json`).
//! - [`validate`]: one larger model per chosen mixture, their validation losses side by side.
//! - [`pipeline`]: `remix run CONFIG.toml`, every enabled stage in order, skipping those already done.
//!
//! - [`bench`]: `remix bench train`, proxy training speed on random tokens.
//!
//! Shared pieces: [`corpus`] reads any corpus layout with bounded memory; [`domain`] turns domain
//! names from the data into safe file names; [`config`] holds every setting with its default and the
//! reason for it; [`schema`] generates the JSON Schemas of everything remix writes.

pub mod allocator;
pub mod bench;
pub mod cmd;
pub mod config;
pub mod corpus;
pub mod dedup;
pub mod domain;
pub mod doremi;
pub mod fit;
pub mod logging;
pub mod manifest;
pub mod mixture;
pub mod pipeline;
pub mod predict;
pub mod progress;
pub mod proxy;
pub mod report;
pub mod runs;
pub mod sample;
pub mod schema;
pub mod simulate;
pub mod stats;
pub mod tokenize;
pub mod tokens;
pub mod validate;
pub mod workdir;
