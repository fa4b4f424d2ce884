//! The committed JSON Schemas match the Rust types, and what remix writes validates against them.

mod common;

use std::fs;

use common::*;

#[test]
fn committed_schemas_are_current() {
    let update = std::env::var_os("REMIX_UPDATE_SCHEMAS").is_some();
    for (name, schema) in remix::pipeline::schema::all() {
        let path = schema_dir().join(name);
        let fresh = serde_json::to_string_pretty(&schema).unwrap() + "\n";
        if update {
            fs::create_dir_all(schema_dir()).unwrap();
            fs::write(&path, &fresh).unwrap();
        }
        let committed = fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == fresh,
            "schemas/{name} is stale: run `REMIX_UPDATE_SCHEMAS=1 cargo test --test schemas` and commit it"
        );
    }
}

#[test]
fn stats_output_validates() {
    let work = tempfile::tempdir().unwrap();
    let corpus = fixtures().join("corpus");
    assert_ok(&remix(
        work.path(),
        &[
            "stats",
            "--quiet",
            "--corpus",
            corpus.to_str().unwrap(),
            "-o",
            "stats",
        ],
    ));
    validate(
        work.path(),
        &[
            ("stats/stats.json", "stats.schema.json"),
            ("stats/_done.json", "done-marker.schema.json"),
        ],
    );
}

#[test]
fn dedup_and_tokens_outputs_validate() {
    let work = tempfile::tempdir().unwrap();
    tokenize_fixtures(work.path(), &[]);
    validate(
        work.path(),
        &[
            ("dedup/stats.json", "dedup-stats.schema.json"),
            ("dedup/_done.json", "done-marker.schema.json"),
            ("tokens/index.json", "tokens-index.schema.json"),
            ("tokens/_done.json", "done-marker.schema.json"),
        ],
    );
}

#[test]
fn fit_and_optimum_outputs_validate() {
    let work = tempfile::tempdir().unwrap();
    regmix_ridge_optimum(work.path());
    validate(
        work.path(),
        &[
            ("fit/model.json", "fit-model.schema.json"),
            ("fit/report.json", "fit-report.schema.json"),
            ("fit/_done.json", "done-marker.schema.json"),
            ("fit/optimum.json", "optimum.schema.json"),
        ],
    );
}
