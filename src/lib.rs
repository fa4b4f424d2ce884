//! remix: find the data mixture for a language-model pre-training run.
//!
//! The source tree reads as the pipeline, one folder a phase, each using only the folders above it in
//! this list (`tests/layout.rs` fails on an import against this order, and on any import cycle between
//! two files):
//!
//! - [`core`]: what every stage shares: the work directory and its markers ([`core::workdir`]), task
//!   slices of a split stage ([`core::tasks`]), domain names as file names, progress bars, logging.
//! - [`data`]: the corpus and what the data stages make of it: the corpus reader, `stats`, `dedup`,
//!   `tokenize` (and `tokens import`), and the Megatron token shards' writer, reader and index
//!   (`tokens/<domain>.bin/.idx`, `tokens/index.json`).
//! - [`proxy`]: the proxy model, its batches drawn by mixture, its devices and its training loops (burn,
//!   and the CPU step written out), and `remix bench train`.
//! - [`regmix`]: RegMix's search: the mixture prior and epoch caps, `sample` (`mixtures.parquet`), the train
//!   stage (`runs/runs.parquet`), the runs table, `fit` (`fit/model.json`, `fit/report.json`), `predict`
//!   and `simulate` (`fit/optimum.json`).
//! - [`doremi`]: domain weights by DoReMi's Group DRO against a reference proxy (`doremi/weights.json`).
//! - [`manifest`]: the chosen weights as `mixtures/<name>.json` and the exports for eight trainers.
//! - [`reuse`]: mixture reuse when the domains change: an earlier manifest compared with the token
//!   index by content digest, its unchanged domains frozen as one block (`reuse/plan.json`).
//! - [`validate`]: one larger model per chosen mixture, their validation losses side by side.
//! - [`report`]: one self-contained HTML page over a work directory.
//! - [`pipeline`]: `remix run CONFIG.toml`, every enabled stage in order, locally or on Slurm, and the
//!   JSON Schemas of everything remix writes.
//! - [`cli`]: one file per subcommand: its arguments and one call into the library.

pub mod cli;
pub mod core;
pub mod data;
pub mod doremi;
pub mod manifest;
pub mod pipeline;
pub mod proxy;
pub mod regmix;
pub mod report;
pub mod reuse;
pub mod validate;
