//! The report stage: one self-contained HTML page over the work directory (`WORK/report.html`).

use std::path::PathBuf;

use anyhow::Result;
use serde_json::{Value, json};

use crate::pipeline::config::PipelineConfig;
use crate::pipeline::context::Context;
use crate::pipeline::spec::{StageSpec, StageTasks};
use crate::pipeline::stage::PipelineStage;
use crate::report;

pub struct Report;

impl StageSpec for Report {
    fn stage(&self) -> PipelineStage {
        PipelineStage::Report
    }

    fn enabled(&self, config: &PipelineConfig) -> bool {
        config.report
    }

    /// Every stage before it.
    fn reads(&self, _config: &PipelineConfig) -> Result<Vec<PipelineStage>> {
        Ok(PipelineStage::ALL
            .into_iter()
            .filter(|s| *s < PipelineStage::Report)
            .collect())
    }

    fn outputs(&self, cx: &Context) -> Vec<PathBuf> {
        vec![cx.report_path()]
    }

    fn settings(&self, _cx: &Context) -> Result<Value> {
        Ok(json!({}))
    }

    fn run(&self, cx: &Context, _tasks: &StageTasks, _quiet: bool) -> Result<()> {
        report::write(cx.work.root(), &cx.report_path())?;
        Ok(())
    }
}
