//! `remix cluster` and the `[cluster]` stage against the fixture corpus: every document lands in one
//! topic domain with every column, the same seed gives the same clusters for any thread or task count,
//! `within` splits one domain and keeps the others, `centroids_from` assigns to earlier clusters, and
//! bad settings stop before anything is written.

mod common;

use std::fs;
use std::path::Path;

use common::*;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

/// Per output domain folder: its rows and column names, read from its parts.
fn domains(work: &Path) -> Vec<(String, usize, Vec<String>)> {
    let root = work.join("cluster");
    let mut out = Vec::new();
    let mut folders: Vec<_> = fs::read_dir(&root)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .collect();
    folders.sort_by_key(|e| e.file_name());
    for folder in folders {
        let (mut rows, mut columns) = (0, Vec::new());
        for part in files_under(&folder.path()) {
            let file = fs::File::open(folder.path().join(part)).unwrap();
            let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
            columns = reader
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
            rows += reader.metadata().file_metadata().num_rows() as usize;
        }
        out.push((
            folder.file_name().to_string_lossy().into_owned(),
            rows,
            columns,
        ));
    }
    out
}

fn clusters_json(work: &Path) -> Value {
    serde_json::from_slice(&fs::read(work.join("cluster/clusters.json")).unwrap()).unwrap()
}

fn cluster(dir: &Path, threads: &str, args: &[&str]) -> std::process::Output {
    remix_cluster(dir, &fixtures().join("corpus"), threads, args)
}

/// The fixture corpus's rows: 832 documents over four domains.
const FIXTURE_DOCUMENTS: usize = 832;

#[test]
fn every_document_lands_in_one_named_cluster_with_every_column_the_same_for_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    assert_ok(&cluster(dir.path(), "1", &["--k", "3,4", "-o", "one"]));
    assert_ok(&cluster(dir.path(), "2", &["--k", "3,4", "-o", "two"]));
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));

    let found = domains(&one);
    let json = clusters_json(&one);
    let group = &json["groups"][0];
    let scores = group["silhouette"].as_array().unwrap();
    assert_eq!(scores.len(), 2, "{group}");
    let names: Vec<&str> = group["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(names.len() == 3 || names.len() == 4, "{names:?}");
    assert!(names.iter().all(|n| n.starts_with('c')), "{names:?}");
    let folders: Vec<&str> = found.iter().map(|(f, _, _)| f.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(
        folders, sorted,
        "one folder per cluster, named as clusters.json says"
    );
    assert_eq!(
        found.iter().map(|(_, rows, _)| rows).sum::<usize>(),
        FIXTURE_DOCUMENTS
    );
    for (folder, _, columns) in &found {
        assert_eq!(columns, &["id", "text", "source"], "{folder}");
    }
    let documents: u64 = group["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["documents"].as_u64().unwrap())
        .sum();
    assert_eq!(documents as usize, FIXTURE_DOCUMENTS);
    validate(&one, &[("cluster/clusters.json", "clusters.schema.json")]);

    // The same seed on one thread and on two: the same clusters, names and parts, byte for byte.
    assert_eq!(
        fs::read(one.join("cluster/clusters.json")).unwrap(),
        fs::read(two.join("cluster/clusters.json")).unwrap()
    );
    let parts = |w: &Path| -> Vec<(String, Vec<u8>)> {
        files_under(&w.join("cluster"))
            .into_iter()
            .filter(|f| f.ends_with(".parquet"))
            .map(|f| (f.clone(), fs::read(w.join("cluster").join(f)).unwrap()))
            .collect()
    };
    assert_eq!(parts(&one), parts(&two));
}

#[test]
fn within_splits_one_domain_keeps_the_others_and_centroids_from_assigns_to_the_same_clusters() {
    let dir = tempfile::tempdir().unwrap();
    let first = cluster(
        dir.path(),
        "2",
        &["--within", "email", "--k", "3", "-o", "first"],
    );
    assert_ok(&first);
    assert!(
        stdout(&first).contains("domain `email`: 3 clusters"),
        "{}",
        stdout(&first)
    );
    let found = domains(&dir.path().join("first"));
    let kept: Vec<(&str, usize)> = found
        .iter()
        .filter(|(f, _, _)| !f.starts_with("email"))
        .map(|(f, rows, _)| (f.as_str(), *rows))
        .collect();
    assert_eq!(
        kept,
        [("code", 87), ("novel", 102), ("speeches", 20)],
        "the other domains are kept whole"
    );
    let topics: Vec<&str> = found
        .iter()
        .filter(|(f, _, _)| f.starts_with("email"))
        .map(|(f, _, _)| f.as_str())
        .collect();
    assert_eq!(topics.len(), 3, "{topics:?}");
    assert!(
        topics.iter().all(|t| t.starts_with("email%2Fc0")),
        "{topics:?}"
    );
    let json = clusters_json(&dir.path().join("first"));
    assert_eq!(json["groups"][0]["source"], "email");
    assert!(
        json["groups"][0]["clusters"][0]["name"]
            .as_str()
            .unwrap()
            .starts_with("email/c00-")
    );

    // The tokenizer sees `email/c00-...` as a domain name.
    let tokens = remix(
        dir.path(),
        &[
            "tokenize",
            "--input",
            "first/cluster",
            "--tokenizer",
            fixtures().join("tokenizer.json").to_str().unwrap(),
            "-o",
            "first",
        ],
    );
    assert_ok(&tokens);
    let index: Value =
        serde_json::from_slice(&fs::read(dir.path().join("first/tokens/index.json")).unwrap())
            .unwrap();
    let names: Vec<&str> = index["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["domain"].as_str().unwrap())
        .collect();
    assert!(
        names.iter().filter(|n| n.starts_with("email/c0")).count() == 3,
        "{names:?}"
    );

    // The report's clusters section: the source -> topic tree, each topic with its terms, the kept
    // domains.
    let report = remix(dir.path(), &["report", "first", "-o", "first/report.html"]);
    assert_ok(&report);
    let page = fs::read_to_string(dir.path().join("first/report.html")).unwrap();
    let start = page
        .find("<section id=\"clusters\">")
        .expect("a clusters section");
    let section = &page[start..start + page[start..].find("</section>").unwrap()];
    assert!(section.contains("email -&gt; 3 topics"), "{section}");
    for cluster in json["groups"][0]["clusters"].as_array().unwrap() {
        assert!(
            section.contains(cluster["name"].as_str().unwrap()),
            "{section}"
        );
        let term = cluster["top_terms"][0].as_str().unwrap();
        assert!(section.contains(term), "{term}: {section}");
    }
    assert!(
        section.contains("Kept as they are") && section.contains("speeches"),
        "{section}"
    );
    assert!(section.contains("<svg"), "a chart of the topics' sizes");
    assert!(
        section.contains("sampled documents, coloured by topic") && section.contains("<circle"),
        "the sample's picture"
    );

    // A later corpus assigned to the first run's centroids: the same clusters and the same documents.
    let model = dir.path().join("first/cluster/clusters.json");
    let again = cluster(
        dir.path(),
        "1",
        &[
            "--within",
            "email",
            "--centroids-from",
            model.to_str().unwrap(),
            "-o",
            "again",
        ],
    );
    assert_ok(&again);
    assert_eq!(domains(&dir.path().join("again")), found);
    let json_again = clusters_json(&dir.path().join("again"));
    assert_eq!(
        json_again["groups"][0]["clusters"][1]["name"],
        json["groups"][0]["clusters"][1]["name"]
    );
    assert_eq!(json_again["centroids_from"], model.display().to_string());

    // centroids_from fitted for another `within` is refused.
    let other = cluster(
        dir.path(),
        "1",
        &["--centroids-from", model.to_str().unwrap(), "-o", "other"],
    );
    assert!(!other.status.success());
    assert!(
        stderr(&other).contains("use the same `within`"),
        "{}",
        stderr(&other)
    );
}

#[test]
fn bad_settings_stop_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 5] = [
        (
            &["--within", "mail"],
            "within names `mail`, which the corpus does not have; its domains are code, email",
        ),
        (
            &["--k", "5", "--sample-documents", "4"],
            "k = 5, but the corpus has 4 sampled document(s)",
        ),
        (&["--k", "1"], "at least 2 clusters"),
        (
            &["--within", "speeches", "--eval-only", "speeches"],
            "a target is never clustered",
        ),
        (&["--within", "email,email"], "within names `email` twice"),
    ];
    for (args, expected) in cases {
        let output = cluster(dir.path(), "2", &[args, &["-o", "w"][..]].concat());
        assert!(!output.status.success(), "{args:?}");
        assert!(
            stderr(&output).contains(expected),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(
            !dir.path().join("w/cluster").exists(),
            "{args:?} wrote output"
        );
    }
}

/// `[cluster]` in `remix run`: one process, and the fit and assign phases as tasks (`--task I/N`, as
/// any array scheduler runs them) joined by a plain run: the same clusters and the same token shards.
#[test]
fn the_cluster_stage_in_tasks_equals_one_process() {
    let dir = tempfile::tempdir().unwrap();
    let rest = "[cluster]\nwithin = [\"email\"]\nk = 2\n\n[manifest]\nname = \"fx\"\ntrain_tokens = 1000000\n";
    let write = |name: &str, extra: &str| {
        let d = dir.path().join(name);
        fs::create_dir_all(&d).unwrap();
        let text = small_pipeline(&fixtures().join("corpus"), 2000, &format!("{rest}{extra}"));
        fs::write(d.join("run.toml"), text).unwrap();
        d
    };
    let whole = write("whole", "");
    assert_ok(&remix(
        &whole,
        &["run", "--quiet", "run.toml", "--until", "tokenize"],
    ));
    let split = write("split", "\n[executor]\ntasks = { cluster = 3 }\n");
    assert_ok(&remix(
        &split,
        &["run", "--quiet", "run.toml", "--until", "dedup"],
    ));
    let stage = [
        "run", "run.toml", "--quiet", "--from", "cluster", "--until", "cluster",
    ];
    assert_ok(&remix(
        &split,
        &[&stage[..], &["--task", "0/1", "--phase", "fit"]].concat(),
    ));
    for task in 0..3 {
        let slice = format!("{task}/3");
        assert_ok(&remix(
            &split,
            &[&stage[..], &["--task", &slice, "--phase", "assign"]].concat(),
        ));
    }
    let joined = remix(&split, &["run", "run.toml", "--until", "tokenize"]);
    assert_ok(&joined);
    assert!(
        stderr(&joined).contains("cluster: joining the output of its 3 tasks"),
        "{}",
        stderr(&joined)
    );
    assert!(!split.join("work/cluster-tasks").exists());
    let read = |d: &Path, f: &str| fs::read(d.join("work").join(f)).unwrap();
    assert_eq!(
        read(&whole, "cluster/clusters.json"),
        read(&split, "cluster/clusters.json")
    );
    assert_eq!(
        files_under(&whole.join("work/cluster")),
        files_under(&split.join("work/cluster"))
    );
    assert_eq!(
        read(&whole, "tokens/index.json"),
        read(&split, "tokens/index.json")
    );
}
