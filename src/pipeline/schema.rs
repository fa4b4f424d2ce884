//! JSON Schemas of every JSON file remix writes, generated from the Rust types (the uv habit).
//!
//! The committed copies live in `schemas/`; a test regenerates them and fails when one is stale
//! (`REMIX_UPDATE_SCHEMAS=1 cargo test --test schemas` rewrites them).

use schemars::{JsonSchema, schema_for};

/// (file name, schema) for each JSON artifact.
pub fn all() -> Vec<(&'static str, serde_json::Value)> {
    fn one<T: JsonSchema>(name: &'static str) -> (&'static str, serde_json::Value) {
        (name, schema_for!(T).to_value())
    }
    vec![
        one::<crate::data::stats::StatsReport>("stats.schema.json"),
        one::<crate::core::workdir::DoneMarker>("done-marker.schema.json"),
        one::<crate::regmix::fit::FitModel>("fit-model.schema.json"),
        one::<crate::regmix::fit::FitReport>("fit-report.schema.json"),
        one::<crate::regmix::simulate::Optimum>("optimum.schema.json"),
        one::<crate::data::tokens::TokensIndex>("tokens-index.schema.json"),
        one::<crate::data::dedup::DedupReport>("dedup-stats.schema.json"),
        one::<crate::data::cluster::ClustersFile>("clusters.schema.json"),
        one::<crate::manifest::Manifest>("manifest.schema.json"),
        one::<crate::doremi::DoremiWeights>("doremi-weights.schema.json"),
        one::<crate::pipeline::PipelineConfig>("pipeline-config.schema.json"),
        one::<crate::validate::ValidationReport>("validation.schema.json"),
        one::<crate::regmix::rounds::Proposal>("round-proposal.schema.json"),
        one::<crate::reuse::ReusePlan>("reuse-plan.schema.json"),
    ]
}
