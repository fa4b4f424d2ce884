//! The stage list (`src/pipeline/stages/`): one spec per stage in order, the phases each split stage
//! runs, and the refusals of a phase or task count a stage does not have. An integration test rather
//! than unit tests beside the list: a unit test that touches the list makes every stage's code
//! reachable from the library's test binary, which then compiles the whole pipeline a second time
//! (151 s against 249 s for that binary on the 2-core machine).

use std::path::Path;

use remix::core::tasks::TaskSlice;
use remix::manifest::WeightsFrom;
use remix::pipeline::context::Context;
use remix::pipeline::executor::ExecutorSection;
use remix::pipeline::spec::Phase;
use remix::pipeline::stages::{SPECS, check_tasks, find_phase, phases_for, spec, splittable};
use remix::pipeline::{PipelineConfig, PipelineStage};

fn fixtures_config() -> PipelineConfig {
    PipelineConfig::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("mixtures/fixtures.toml"))
        .unwrap()
}

/// A phase name a stage does not have is an error, never another phase's work.
#[test]
fn a_phase_a_stage_does_not_have_is_refused() {
    let config = fixtures_config();
    let cx = Context::new(&config);
    let task = TaskSlice::new(0, 2).unwrap();
    for stage in splittable() {
        let error = spec(stage)
            .run_task(&cx, Phase::new("nope", true), task, true)
            .unwrap_err();
        assert!(
            error.to_string().contains("has no phase `nope`"),
            "{stage:?}: {error}"
        );
    }
    let error = spec(PipelineStage::Fit)
        .run_task(&cx, Phase::new("tasks", true), task, true)
        .unwrap_err();
    assert!(error.to_string().contains("does not split"), "{error}");
}

/// Where the manifest's weights come from is an error when the config leaves it open, never a
/// guess.
#[test]
fn the_manifest_reads_the_stage_its_weights_come_from() {
    let mut config = fixtures_config();
    let reads = spec(PipelineStage::Manifest).reads(&config).unwrap();
    use PipelineStage::{Doremi, Simulate, Tokenize, Validate};
    assert_eq!(reads, [Tokenize, Simulate, Validate]);
    config.manifest.from = Some(WeightsFrom::Doremi);
    let reads = spec(PipelineStage::Manifest).reads(&config).unwrap();
    assert_eq!(reads, [Tokenize, Doremi, Validate]);
    config.doremi = None;
    assert!(spec(PipelineStage::Manifest).reads(&config).is_err());
}

#[test]
fn one_spec_per_stage_in_order() {
    for (spec, stage) in SPECS.iter().zip(PipelineStage::ALL) {
        assert_eq!(spec.stage(), stage);
    }
    assert_eq!(SPECS.len(), PipelineStage::ALL.len());
}

#[test]
fn only_splittable_stages_take_more_than_one_task() {
    let mut section = ExecutorSection::default();
    section.tasks.insert(PipelineStage::Train, 8);
    check_tasks(&section).unwrap();
    assert_eq!(section.tasks(PipelineStage::Train), 8);
    assert_eq!(section.tasks(PipelineStage::Fit), 1);
    section.tasks.insert(PipelineStage::Fit, 3);
    assert!(
        check_tasks(&section)
            .unwrap_err()
            .to_string()
            .contains("does not split")
    );
    section.tasks.insert(PipelineStage::Fit, 0);
    assert!(
        section
            .check()
            .unwrap_err()
            .to_string()
            .contains("at least one task")
    );
    let misspelt = toml::from_str::<ExecutorSection>("tasks = { trian = 2 }").unwrap_err();
    assert!(
        misspelt.to_string().contains("unknown variant `trian`"),
        "{misspelt}"
    );
}

#[test]
fn phases_are_found_by_name_and_unknown_ones_refused() {
    let mut config = fixtures_config();
    let train = |config: &PipelineConfig, name| {
        find_phase(PipelineStage::Train, config, name).map(|p| p.name)
    };
    assert_eq!(train(&config, None).unwrap(), "tasks");
    assert_eq!(
        find_phase(PipelineStage::Dedup, &config, Some("buckets"))
            .unwrap()
            .name,
        "buckets"
    );
    assert!(find_phase(PipelineStage::Dedup, &config, None).is_err());
    assert!(find_phase(PipelineStage::Dedup, &config, Some("encode")).is_err());
    assert!(find_phase(PipelineStage::Fit, &config, None).is_err());
    // With rounds, a proposal and a round of tasks per later round.
    let regmix = config.regmix.as_mut().unwrap();
    regmix.rounds = Some(toml::from_str("candidates = [10, 4, 4]").unwrap());
    let names: Vec<&str> = (phases_for(PipelineStage::Train, &config).iter())
        .map(|p| p.name)
        .collect();
    assert_eq!(
        names,
        ["tasks", "propose-2", "round-2", "propose-3", "round-3"]
    );
    assert_eq!(train(&config, Some("round-3")).unwrap(), "round-3");
    assert!(train(&config, Some("round-4")).is_err());
    assert!(train(&config, None).is_err());
}
