//! RegMix's search (Liu et al. 2024), stage by stage: [`mixture`] holds the Dirichlet prior and the epoch
//! caps a mixture obeys; [`sample`] draws the candidates proxies train on (`mixtures.parquet`;
//! [`spread`] picks a space-filling few of many draws for a reuse search); [`train`]
//! is the train stage, one proxy run per candidate into the runs table ([`runs`], `runs/runs.parquet`);
//! [`fit`] regresses the target loss on the mixture weights, cross-validated (`fit/model.json`,
//! `fit/report.json`); [`predict`] scores mixtures with the fit; [`simulate`] searches the mixture space
//! with it under the caps (`fit/optimum.json`); [`rounds`] makes the train stage a search in rounds that
//! close in on the optimum (`runs/rounds/`); [`frozen`] is the block of domains a mixture reuse keeps in
//! fixed proportions, and the reduced space the search then works in ([`crate::reuse`] plans it).

pub mod bootstrap;
pub mod fit;
pub mod frozen;
pub mod mixture;
pub mod mixture_table;
pub mod predict;
pub mod rounds;
pub mod runs;
pub mod sample;
pub mod simulate;
pub mod solve;
pub mod spread;
pub mod train;
pub mod weights;
