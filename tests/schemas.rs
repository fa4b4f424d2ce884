//! The committed JSON Schemas match the Rust types, and what remix writes validates against them.

mod common;

use std::fs;
use std::path::PathBuf;

use common::*;

fn schema_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schemas")
}

#[test]
fn committed_schemas_are_current() {
    let update = std::env::var_os("REMIX_UPDATE_SCHEMAS").is_some();
    for (name, schema) in remix::schema::all() {
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
    for (file, schema) in [
        ("stats/stats.json", "stats.schema.json"),
        ("stats/_done.json", "done-marker.schema.json"),
    ] {
        let schema: serde_json::Value =
            serde_json::from_slice(&fs::read(schema_dir().join(schema)).unwrap()).unwrap();
        let value: serde_json::Value =
            serde_json::from_slice(&fs::read(work.path().join(file)).unwrap()).unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{file}: {errors:?}");
    }
}
