//! The runs table: one row per proxy run, the hand-off between training and regression.
//!
//! `runs.parquet` holds, per run: `run_id`, `seed`, `proxy_config_hash`, one `w_<domain>` weight
//! column per training domain (weights sum to 1), `tokens_trained`, `wall_time_s`, `device`, one
//! `loss_<domain>` validation-loss column per evaluated domain, and `status`. Domain names inside
//! column names are the original names from the data. Tables from elsewhere come in through
//! [`regmix`] (RegMix's published CSV pair); [`merge`] joins the tables of sharded training.

pub mod merge;
mod reduce;
pub mod regmix;
mod run;
mod table;

pub use merge::fold_parts;
pub use run::{FINISHED, Run, RunsTable, WEIGHT_SUM_TOLERANCE};
pub use table::{read_runs, write_runs};
