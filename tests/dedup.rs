//! `remix dedup` on a labelled near-duplicate set, on the fixtures, and across domains.

mod common;

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, AsArray, Int64Array, RecordBatch};
use common::*;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

/// Every row of the Parquet files under `dir`, as batches.
fn read_all(dir: &Path) -> Vec<RecordBatch> {
    let mut batches = Vec::new();
    for name in files_under(dir) {
        if !name.ends_with(".parquet") {
            continue;
        }
        let file = fs::File::open(dir.join(&name)).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
        batches.extend(reader.map(|b| b.unwrap()));
    }
    batches
}

fn strings_of(batch: &RecordBatch, column: &str) -> Vec<String> {
    let array = batch.column_by_name(column).unwrap();
    let array = arrow::compute::cast(array, &arrow::datatypes::DataType::Utf8).unwrap();
    array
        .as_string::<i32>()
        .iter()
        .map(|v| v.unwrap().to_string())
        .collect()
}

fn ids_of(batch: &RecordBatch) -> Vec<i64> {
    let ids = batch.column_by_name("id").unwrap();
    ids.as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .values()
        .to_vec()
}

/// Word 5-gram shingles, computed here independently of remix.
fn shingles(text: &str) -> HashSet<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    words.windows(5).map(|w| w.join(" ")).collect()
}

fn jaccard(a: &HashSet<String>, b: &HashSet<String>) -> f64 {
    a.intersection(b).count() as f64 / a.union(b).count() as f64
}

/// A labelled set: families of documents edited from one base at controlled word-edit rates.
struct Labelled {
    texts: Vec<String>,
    /// Pairs (i, j), i < j, whose true Jaccard is at least 0.8.
    true_pairs: Vec<(usize, usize)>,
    shingles: Vec<HashSet<String>>,
}

fn labelled_set() -> Labelled {
    let mut rng = StdRng::seed_from_u64(2024);
    let word = |rng: &mut StdRng| format!("w{}", rng.random_range(0..50_000u32));
    let rates = [
        0.0, 0.004, 0.008, 0.012, 0.016, 0.02, 0.025, 0.03, 0.04, 0.06, 0.1,
    ];
    let mut texts = Vec::new();
    let mut family = Vec::new();
    for f in 0..40 {
        let base: Vec<String> = (0..400).map(|_| word(&mut rng)).collect();
        texts.push(base.join(" "));
        family.push(f);
        for &rate in &rates {
            let edited: Vec<String> = base
                .iter()
                .map(|w| {
                    if rng.random::<f64>() < rate {
                        word(&mut rng)
                    } else {
                        w.clone()
                    }
                })
                .collect();
            texts.push(edited.join(" "));
            family.push(f);
        }
    }
    // Unrelated documents.
    for _ in 0..200 {
        texts.push(
            (0..300)
                .map(|_| word(&mut rng))
                .collect::<Vec<_>>()
                .join(" "),
        );
        family.push(usize::MAX);
    }
    let shingles: Vec<HashSet<String>> = texts.iter().map(|t| shingles(t)).collect();
    let mut true_pairs = Vec::new();
    for i in 0..texts.len() {
        for j in i + 1..texts.len() {
            if family[i] == family[j]
                && family[i] != usize::MAX
                && jaccard(&shingles[i], &shingles[j]) >= 0.8
            {
                true_pairs.push((i, j));
            }
        }
    }
    Labelled {
        texts,
        true_pairs,
        shingles,
    }
}

/// Writes the labelled set into two domains (even documents in `a`, odd in `b`), ids = positions.
fn write_labelled(dir: &Path, set: &Labelled) {
    for (domain, parity) in [("a", 0), ("b", 1)] {
        let picked: Vec<usize> = (0..set.texts.len()).filter(|i| i % 2 == parity).collect();
        let texts: Vec<Option<&str>> = picked
            .iter()
            .map(|&i| Some(set.texts[i].as_str()))
            .collect();
        let ids: Arc<dyn Array> = Arc::new(Int64Array::from(
            picked.iter().map(|&i| i as i64).collect::<Vec<_>>(),
        ));
        write_parquet(
            &dir.join(format!("corpus/{domain}/part-0.parquet")),
            vec![("id", ids), ("text", strings(&texts))],
            64,
        );
    }
}

/// (recall over true pairs by cluster, precision of each dropped document's matched twin).
fn score(work: &Path, set: &Labelled) -> (f64, f64, usize) {
    // `path#row` -> id, from the input files.
    let mut id_at: HashMap<String, usize> = HashMap::new();
    for domain in ["a", "b"] {
        let rel = format!("corpus/{domain}/part-0.parquet");
        let ids: Vec<i64> = read_all(&work.join(format!("corpus/{domain}")))
            .iter()
            .flat_map(ids_of)
            .collect();
        for (row, id) in ids.into_iter().enumerate() {
            id_at.insert(format!("{rel}#{row}"), id as usize);
        }
    }
    let mut cluster: Vec<usize> = (0..set.texts.len()).collect();
    let mut edges = Vec::new();
    for batch in read_all(&work.join("out/dedup/_dropped")) {
        let ids = ids_of(&batch);
        let twins = strings_of(&batch, "remix_twin");
        let kept = strings_of(&batch, "remix_kept");
        for ((id, twin), kept) in ids.iter().zip(&twins).zip(&kept) {
            cluster[*id as usize] = id_at[kept];
            edges.push((*id as usize, id_at[twin]));
        }
    }
    let found = set
        .true_pairs
        .iter()
        .filter(|(i, j)| cluster[*i] == cluster[*j])
        .count();
    let good_edges = edges
        .iter()
        .filter(|(d, t)| jaccard(&set.shingles[*d], &set.shingles[*t]) >= 0.8)
        .count();
    (
        found as f64 / set.true_pairs.len() as f64,
        good_edges as f64 / edges.len().max(1) as f64,
        edges.len(),
    )
}

#[test]
fn labelled_near_duplicates_recall_and_precision() {
    let set = labelled_set();
    assert!(
        set.true_pairs.len() > 300,
        "{} true pairs",
        set.true_pairs.len()
    );
    let dir = tempfile::tempdir().unwrap();
    write_labelled(dir.path(), &set);

    let output = remix(
        dir.path(),
        &[
            "dedup",
            "--quiet",
            "--corpus",
            "corpus",
            "-o",
            "out",
            "--verify",
            "--write-dropped",
        ],
    );
    assert_ok(&output);
    let (recall, precision, dropped) = score(dir.path(), &set);
    println!("with --verify: recall {recall:.3}, precision {precision:.3}, {dropped} dropped");
    assert!(recall >= 0.9, "recall {recall}");
    assert!(precision >= 0.95, "precision {precision}");

    let output = remix(
        dir.path(),
        &[
            "dedup",
            "--quiet",
            "--corpus",
            "corpus",
            "-o",
            "out",
            "--write-dropped",
        ],
    );
    assert_ok(&output);
    let (recall, precision, dropped) = score(dir.path(), &set);
    println!("without --verify: recall {recall:.3}, precision {precision:.3}, {dropped} dropped");
    assert!(recall >= 0.9, "recall {recall}");

    // Unrelated documents all survive; the report's counts add up.
    let report: Value =
        serde_json::from_slice(&fs::read(dir.path().join("out/dedup/stats.json")).unwrap())
            .unwrap();
    let kept = report["kept"].as_u64().unwrap();
    let dropped_total =
        report["dropped_exact"].as_u64().unwrap() + report["dropped_near"].as_u64().unwrap();
    assert_eq!(kept + dropped_total, set.texts.len() as u64);
    let distinct: HashSet<&String> = set.texts.iter().collect();
    assert!(
        set.texts.len() - distinct.len() >= 40,
        "every family has an exact copy"
    );
    assert_eq!(
        report["dropped_exact"].as_u64().unwrap(),
        (set.texts.len() - distinct.len()) as u64
    );
    let surviving: Vec<i64> = read_all(&dir.path().join("out/dedup/a"))
        .iter()
        .chain(read_all(&dir.path().join("out/dedup/b")).iter())
        .flat_map(ids_of)
        .collect();
    assert_eq!(surviving.len() as u64, kept);
    let families = 40 * 12;
    assert_eq!(surviving.iter().filter(|&&id| id >= families).count(), 200);
}

#[test]
fn fixtures_dedup_keeps_every_column_and_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = fixtures().join("corpus");
    let corpus = corpus.to_str().unwrap();
    for out in ["one", "two"] {
        assert_ok(&remix(
            dir.path(),
            &[
                "dedup",
                "--quiet",
                "--corpus",
                corpus,
                "-o",
                out,
                "--write-dropped",
            ],
        ));
    }
    let one = files_under(&dir.path().join("one"));
    assert_eq!(one, files_under(&dir.path().join("two")));
    for name in &one {
        assert_eq!(
            fs::read(dir.path().join("one").join(name)).unwrap(),
            fs::read(dir.path().join("two").join(name)).unwrap(),
            "{name} differs between two runs"
        );
    }
    // Every original column, and survivors + dropped = documents in.
    let report: Value =
        serde_json::from_slice(&fs::read(dir.path().join("one/dedup/stats.json")).unwrap())
            .unwrap();
    for domain in report["domains"].as_array().unwrap() {
        let name = domain["domain"].as_str().unwrap();
        let kept = read_all(&dir.path().join("one/dedup").join(name));
        let rows: usize = kept.iter().map(|b| b.num_rows()).sum();
        assert_eq!(rows as u64, domain["kept"].as_u64().unwrap(), "{name}");
        let names: Vec<String> = kept[0]
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, ["id", "text", "source"]);
    }
}

#[test]
fn cross_domain_priority_and_a_domain_that_dedups_to_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let docs = [
        "the first document about rivers and their many bends",
        "a second one about mountains high and wide",
        "third text on the sea and its tides",
    ];
    let web: Vec<Option<&str>> = docs.iter().map(|d| Some(*d)).collect();
    // `copies` holds only copies (one with different whitespace) of web's documents.
    let copy = "the first   document about rivers\nand their many bends";
    let copies = vec![Some(copy), Some(docs[2])];
    write_parquet(
        &dir.path().join("corpus/web/p.parquet"),
        vec![("text", strings(&web))],
        10,
    );
    write_parquet(
        &dir.path().join("corpus/copies/p.parquet"),
        vec![("text", strings(&copies))],
        10,
    );

    // By default the first domain in corpus order (`copies`, by path) keeps the copies.
    let output = remix(
        dir.path(),
        &[
            "dedup", "--quiet", "--corpus", "corpus", "-o", "out", "--json",
        ],
    );
    assert_ok(&output);
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let domain = |name: &str| {
        report["domains"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["domain"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(domain("copies")["kept"], 2);
    assert_eq!(domain("web")["kept"], 1);
    assert_eq!(report["cross_domain"][0]["dropped_from"], "web");

    // With web first, `copies` dedups to nothing: a warning, and an empty domain.
    let output = remix(
        dir.path(),
        &[
            "dedup",
            "--quiet",
            "--corpus",
            "corpus",
            "-o",
            "out",
            "--json",
            "--priority",
            "web",
        ],
    );
    assert_ok(&output);
    assert!(
        stderr(&output).contains("no documents left"),
        "{}",
        stderr(&output)
    );
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let domain = |name: &str| {
        report["domains"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["domain"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(domain("copies")["kept"], 0);
    assert_eq!(domain("copies")["dropped_exact"], 2);
    assert_eq!(report["cross_domain"][0]["dropped_from"], "copies");
    assert_eq!(report["cross_domain"][0]["kept_in"], "web");
    assert_eq!(report["cross_domain"][0]["documents"], 2);
    // The empty domain keeps its folder (an empty part with the schema).
    let parts = files_under(&dir.path().join("out/dedup/copies"));
    assert_eq!(parts.len(), 1, "{parts:?}");
    assert_eq!(
        read_all(&dir.path().join("out/dedup/copies"))
            .iter()
            .map(|b| b.num_rows())
            .sum::<usize>(),
        0
    );
    // Tokenize keeps it as an empty domain too: empty shards, zero counts.
    let tokenizer = fixtures().join("tokenizer.json");
    let output = remix(
        dir.path(),
        &[
            "tokenize",
            "--quiet",
            "--input",
            "out/dedup",
            "--tokenizer",
            tokenizer.to_str().unwrap(),
            "-o",
            "out",
            "--json",
        ],
    );
    assert_ok(&output);
    let index: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let copies = index["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == "copies")
        .unwrap();
    assert_eq!(
        (copies["documents"].as_u64(), copies["tokens"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(
        fs::metadata(dir.path().join("out/tokens/copies.bin"))
            .unwrap()
            .len(),
        0
    );

    let output = remix(
        dir.path(),
        &[
            "dedup",
            "--quiet",
            "--corpus",
            "corpus",
            "-o",
            "out",
            "--priority",
            "books",
        ],
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("`books`") && stderr(&output).contains("copies, web"),
        "{}",
        stderr(&output)
    );
}

/// The dedup stage split into tasks (`[executor] tasks = { dedup = N }`), its four phases run one task
/// at a time through `remix run --phase P --task I/N` as any array scheduler would, then joined by
/// `remix run`: the same output files, byte for byte, and the same `stats.json` as the one-process
/// stage, for 2, 3 and 40 tasks (more tasks than the corpus's 13 row groups: the extra ones have
/// nothing to do). The corpus has exact copies across domains, near-duplicate families split over two
/// domains, a priority that is not corpus order, a domain that dedups to nothing and the audit of the
/// dropped rows.
#[test]
fn dedup_in_tasks_equals_the_one_process_stage_for_any_task_count() {
    let set = labelled_set();
    let dir = tempfile::tempdir().unwrap();
    write_labelled(dir.path(), &set);
    let copies: Vec<Option<&str>> = [0, 13, 14]
        .iter()
        .map(|&i| Some(set.texts[i].as_str()))
        .collect();
    write_parquet(
        &dir.path().join("corpus/copies/p.parquet"),
        vec![("text", strings(&copies))],
        2,
    );
    let config = |name: &str, tasks: usize| {
        let root = dir.path().join(name);
        fs::create_dir_all(&root).unwrap();
        let data = format!(
            "[corpus]\npaths = [\"{}\"]\ntokenizer = \"{}\"\n\n[dedup]\npriority = [\"b\"]\nwrite_dropped = true\n",
            dir.path().join("corpus").display(),
            fixtures().join("tokenizer.json").display()
        );
        let rest = format!(
            "[manifest]\nname = \"x\"\ntrain_tokens = 1000000\n\n[executor]\ntasks = {{ dedup = {tasks} }}\n"
        );
        let path = root.join("run.toml");
        fs::write(&path, small_pipeline_over(&data, 1000, &rest)).unwrap();
        (root, path)
    };
    let outputs = |root: &Path| -> Vec<(String, Vec<u8>)> {
        let dedup = root.join("work/dedup");
        files_under(&dedup)
            .into_iter()
            .filter(|f| !f.ends_with("_done.json"))
            .map(|f| {
                let bytes = fs::read(dedup.join(&f)).unwrap();
                (f, bytes)
            })
            .collect()
    };

    let (whole, path) = config("whole", 1);
    assert_ok(&remix(
        &whole,
        &["run", "--quiet", path.to_str().unwrap(), "--until", "dedup"],
    ));
    let expected = outputs(&whole);
    let report: Value =
        serde_json::from_slice(&expected.iter().find(|(f, _)| f == "stats.json").unwrap().1)
            .unwrap();
    assert!(report["dropped_exact"].as_u64().unwrap() >= 40, "{report}");
    assert!(report["dropped_near"].as_u64().unwrap() >= 100, "{report}");
    assert_eq!(report["domains"][2]["domain"], "copies");
    assert_eq!(report["domains"][2]["kept"], 0, "{report}");
    assert!(expected.iter().any(|(f, _)| f.starts_with("_dropped/")));

    for tasks in [2, 3, 40] {
        let (root, path) = config(&format!("tasks-{tasks}"), tasks);
        let path = path.to_str().unwrap();
        assert_ok(&remix(&root, &["run", "--quiet", path, "--until", "stats"]));
        let stage = [
            "run", path, "--quiet", "--from", "dedup", "--until", "dedup",
        ];
        let wrong = remix(&root, &[&stage[..], &["--task", "0/2"]].concat());
        assert!(
            stderr(&wrong).contains("name one with --phase"),
            "{}",
            stderr(&wrong)
        );
        let first = format!("0/{tasks}");
        let early = remix(
            &root,
            &[&stage[..], &["--phase", "buckets", "--task", &first]].concat(),
        );
        assert!(
            stderr(&early).contains("every signatures task")
                && stderr(&early).contains("has not finished"),
            "{}",
            stderr(&early)
        );
        for (phase, count) in [
            ("signatures", tasks),
            ("buckets", tasks),
            ("clusters", 1),
            ("filter", tasks),
        ] {
            // Backwards, so no task leans on another of its phase having run first.
            for index in (0..count).rev() {
                let task = format!("{index}/{count}");
                let output = remix(
                    &root,
                    &[&stage[..], &["--phase", phase, "--task", &task]].concat(),
                );
                assert_ok(&output);
            }
        }
        let joined = remix(&root, &["run", path, "--until", "dedup"]);
        assert_ok(&joined);
        assert!(
            stderr(&joined).contains(&format!("joining the output of its {tasks} tasks")),
            "{}",
            stderr(&joined)
        );
        let got = outputs(&root);
        assert_eq!(
            got.iter().map(|(f, _)| f).collect::<Vec<_>>(),
            expected.iter().map(|(f, _)| f).collect::<Vec<_>>(),
            "{tasks} tasks"
        );
        for ((file, a), (_, b)) in got.iter().zip(&expected) {
            assert!(a == b, "{file} differs with {tasks} tasks");
        }
        assert!(!root.join("work/dedup-tasks").exists());
        assert!(!root.join("work/pipeline/dedup/signatures").exists());
    }
}
