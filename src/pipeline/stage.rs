//! The pipeline's stages, in the order they run ([`PipelineStage`]).

use clap::ValueEnum;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The stages in the order they run.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    ValueEnum,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PipelineStage {
    Stats,
    Dedup,
    Cluster,
    Tokenize,
    Sample,
    Train,
    Fit,
    Simulate,
    Doremi,
    Validate,
    Manifest,
    Report,
}

impl PipelineStage {
    pub const ALL: [PipelineStage; 12] = [
        PipelineStage::Stats,
        PipelineStage::Dedup,
        PipelineStage::Cluster,
        PipelineStage::Tokenize,
        PipelineStage::Sample,
        PipelineStage::Train,
        PipelineStage::Fit,
        PipelineStage::Simulate,
        PipelineStage::Doremi,
        PipelineStage::Validate,
        PipelineStage::Manifest,
        PipelineStage::Report,
    ];

    /// The stages that train proxies, and the sample stage that sets their candidates: the checks of
    /// [`super::checks`] run before the first of them that runs.
    pub fn trains_proxies(self) -> bool {
        use PipelineStage::*;
        matches!(self, Sample | Train | Doremi | Validate)
    }

    pub fn name(self) -> &'static str {
        match self {
            PipelineStage::Stats => "stats",
            PipelineStage::Dedup => "dedup",
            PipelineStage::Cluster => "cluster",
            PipelineStage::Tokenize => "tokenize",
            PipelineStage::Sample => "sample",
            PipelineStage::Train => "train",
            PipelineStage::Fit => "fit",
            PipelineStage::Simulate => "simulate",
            PipelineStage::Doremi => "doremi",
            PipelineStage::Manifest => "manifest",
            PipelineStage::Validate => "validate",
            PipelineStage::Report => "report",
        }
    }
}
