//! `remix cluster --features column:NAME`: documents clustered by an embedding column the corpus already
//! has. The corpus is built so that only the embeddings tell the topics apart (every text is the same
//! words in the same order, numbered), so a clustering that recovers the topics must have read them; the
//! same clusters for any thread count; `centroids_from` assigns to them again; `[cluster]` in `remix run`
//! reads them through dedup into the token index, a target without embeddings kept; and each bad embedding
//! (wrong type, a null, NaN, ragged lengths, a missing column) stops the run, naming the row and the
//! column, before anything is written.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, FixedSizeListArray, Int64Array, ListArray, StringArray,
};
use arrow::datatypes::{Float32Type, Float64Type, Int64Type};
use common::*;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

const TOPICS: usize = 3;
const PER_TOPIC: usize = 60;
const DIMS: usize = 8;

/// Row `i`'s hidden topic and embedding: the topic's axis plus a deterministic jitter of up to ±0.3
/// on every dimension.
fn embedding(i: usize) -> (i64, Vec<f64>) {
    let topic = i % TOPICS;
    let mut state = (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let values = (0..DIMS)
        .map(|d| {
            state ^= state >> 29;
            state = state.wrapping_mul(0xbf58_476d_1ce4_e5b9);
            let jitter = ((state >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 0.6;
            jitter + if d == topic { 1.0 } else { 0.0 }
        })
        .collect();
    (topic as i64, values)
}

/// Row `i`'s text: 60 words drawn from one list whatever the topic, so only the embedding tells the
/// topics apart (and no two texts are near duplicates, for dedup).
fn text(i: usize) -> String {
    const WORDS: [&str; 24] = [
        "river", "stone", "market", "window", "garden", "letter", "engine", "winter", "silver",
        "forest", "harbor", "candle", "orange", "ladder", "pocket", "valley", "mirror", "basket",
        "thunder", "pencil", "bridge", "meadow", "anchor", "violet",
    ];
    let mut state = (i as u64 + 7).wrapping_mul(0x2545_f491_4f6c_dd1d);
    let words: Vec<&str> = (0..60)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            WORDS[(state % WORDS.len() as u64) as usize]
        })
        .collect();
    format!("document {i}: {}", words.join(" "))
}

fn texts(rows: std::ops::Range<usize>) -> ArrayRef {
    Arc::new(StringArray::from(rows.map(text).collect::<Vec<_>>()))
}

/// `corpus/crawl/`: two files, the first with the embeddings as a list of f32 in row groups of 25,
/// the second as a fixed-size list of f64; a `topic` column the stage must carry through untouched.
fn write_corpus(root: &Path) {
    let half = TOPICS * PER_TOPIC / 2;
    let first: Vec<_> = (0..half).map(embedding).collect();
    let list = ListArray::from_iter_primitive::<Float32Type, _, _>(
        first
            .iter()
            .map(|(_, v)| Some(v.iter().map(|&x| Some(x as f32)).collect::<Vec<_>>())),
    );
    write_parquet(
        &root.join("crawl/part-0.parquet"),
        vec![
            ("text", texts(0..half)),
            ("emb", Arc::new(list)),
            (
                "topic",
                Arc::new(Int64Array::from_iter_values(first.iter().map(|(t, _)| *t))),
            ),
        ],
        25,
    );
    let second: Vec<_> = (half..2 * half).map(embedding).collect();
    let fixed = FixedSizeListArray::from_iter_primitive::<Float64Type, _, _>(
        second
            .iter()
            .map(|(_, v)| Some(v.iter().map(|&x| Some(x)).collect::<Vec<_>>())),
        DIMS as i32,
    );
    write_parquet(
        &root.join("crawl/part-1.parquet"),
        vec![
            ("text", texts(half..2 * half)),
            ("emb", Arc::new(fixed)),
            (
                "topic",
                Arc::new(Int64Array::from_iter_values(second.iter().map(|(t, _)| *t))),
            ),
        ],
        40,
    );
}

/// Per output folder, the hidden topics of its rows and how many rows each.
fn topics_per_folder(work: &Path) -> BTreeMap<String, BTreeMap<i64, usize>> {
    let mut out = BTreeMap::new();
    for folder in fs::read_dir(work.join("cluster")).unwrap().flatten() {
        if !folder.path().is_dir() {
            continue;
        }
        let counts: &mut BTreeMap<i64, usize> = out
            .entry(folder.file_name().to_string_lossy().into_owned())
            .or_default();
        for part in files_under(&folder.path()) {
            let file = fs::File::open(folder.path().join(part)).unwrap();
            for batch in ParquetRecordBatchReaderBuilder::try_new(file)
                .unwrap()
                .build()
                .unwrap()
            {
                let batch = batch.unwrap();
                // A domain kept as it is (the speeches) has neither column.
                let Some(topic) = batch.column_by_name("topic") else {
                    continue;
                };
                assert!(
                    batch.column_by_name("emb").is_some(),
                    "the embeddings are kept"
                );
                for t in topic.as_primitive::<Int64Type>().iter() {
                    *counts.entry(t.unwrap()).or_default() += 1;
                }
            }
        }
    }
    out
}

fn clusters_json(work: &Path) -> Value {
    serde_json::from_slice(&fs::read(work.join("cluster/clusters.json")).unwrap()).unwrap()
}

#[test]
fn embeddings_recover_topics_the_text_cannot_tell_apart() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    write_corpus(&corpus);
    let args = ["--features", "column:emb", "--k", "3"];
    assert_ok(&remix_cluster(
        dir.path(),
        &corpus,
        "1",
        &[&args[..], &["-o", "one"]].concat(),
    ));
    assert_ok(&remix_cluster(
        dir.path(),
        &corpus,
        "2",
        &[&args[..], &["-o", "two"]].concat(),
    ));

    let found = topics_per_folder(&dir.path().join("one"));
    assert_eq!(found.len(), TOPICS, "{found:?}");
    let mut seen = BTreeSet::new();
    for (folder, topics) in &found {
        assert_eq!(topics.len(), 1, "{folder} mixes topics: {topics:?}");
        let (&topic, &rows) = topics.iter().next().unwrap();
        assert_eq!(rows, PER_TOPIC, "{folder}");
        seen.insert(topic);
    }
    assert_eq!(seen.len(), TOPICS);

    let one = clusters_json(&dir.path().join("one"));
    assert_eq!(one["features"], "column:emb");
    assert_eq!(one["dims"], DIMS);
    assert_eq!(one["groups"][0]["idf_file"], Value::Null);
    assert!(!dir.path().join("one/cluster/idf-00.bin").exists());
    assert_eq!(
        one,
        clusters_json(&dir.path().join("two")),
        "thread count changed the clusters"
    );

    // The same clusters assign a corpus again without a fit; TF-IDF cannot use them.
    let model = dir.path().join("one/cluster/clusters.json");
    let model = model.to_str().unwrap();
    assert_ok(&remix_cluster(
        dir.path(),
        &corpus,
        "2",
        &[
            "--features",
            "column:emb",
            "--centroids-from",
            model,
            "-o",
            "again",
        ],
    ));
    assert_eq!(topics_per_folder(&dir.path().join("again")), found);
    let other = remix_cluster(
        dir.path(),
        &corpus,
        "2",
        &["--centroids-from", model, "-o", "tfidf"],
    );
    assert!(!other.status.success());
    assert!(
        stderr(&other).contains("features = \"column:emb\""),
        "{}",
        stderr(&other)
    );
}

/// One file `crawl/part-0.parquet` of 20 rows whose embedding column is `emb`.
fn write_one(root: &Path, emb: ArrayRef) {
    write_parquet(
        &root.join("crawl/part-0.parquet"),
        vec![("text", texts(0..emb.len())), ("emb", emb)],
        10,
    );
}

#[test]
fn a_bad_embedding_stops_the_run_naming_the_row_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let rows = |edit: &dyn Fn(usize, Vec<f64>) -> Option<Vec<Option<f64>>>| -> ArrayRef {
        Arc::new(ListArray::from_iter_primitive::<Float64Type, _, _>(
            (0..20).map(|i| edit(i, embedding(i).1)),
        ))
    };
    let plain = |v: Vec<f64>| Some(v.into_iter().map(Some).collect::<Vec<_>>());
    let cases: Vec<(&str, ArrayRef, &str)> = vec![
        (
            "strings",
            Arc::new(StringArray::from(vec!["0.1, 0.2"; 20])),
            "the embedding column `emb` in",
        ),
        (
            "null",
            rows(&|i, v| (i != 13).then(|| plain(v)).flatten()),
            "column `emb` at row 13 of",
        ),
        (
            "nan",
            rows(&|i, mut v| {
                if i == 7 {
                    v[2] = f64::NAN;
                }
                plain(v)
            }),
            "at row 7 of",
        ),
        (
            "ragged",
            rows(&|i, mut v| {
                if i == 15 {
                    v.pop();
                }
                plain(v)
            }),
            "at row 15 of",
        ),
    ];
    for (name, emb, expected) in cases {
        let corpus = dir.path().join(name);
        write_one(&corpus, emb);
        let out = format!("w-{name}");
        let output = remix_cluster(
            dir.path(),
            &corpus,
            "2",
            &["--features", "column:emb", "--k", "2", "-o", &out],
        );
        assert!(!output.status.success(), "{name} passed");
        assert!(
            stderr(&output).contains(expected),
            "{name}: {}",
            stderr(&output)
        );
        assert!(
            !dir.path().join(&out).join("cluster").exists(),
            "{name} wrote output"
        );
    }
    let missing = remix_cluster(
        dir.path(),
        &dir.path().join("nan"),
        "2",
        &[
            "--features",
            "column:vectors",
            "--k",
            "2",
            "-o",
            "w-missing",
        ],
    );
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains("no embedding column `vectors`")
            && stderr(&missing).contains("emb (List(Float64))"),
        "{}",
        stderr(&missing)
    );
}

/// `[cluster] features = "column:emb"` in `remix run`: dedup keeps the column, the cluster stage reads it,
/// and tokenize indexes the three topics beside the evaluation-only speeches, whose files have no
/// embeddings (a domain kept as it is needs none).
#[test]
fn a_pipeline_clusters_by_the_embeddings_through_dedup() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    write_corpus(&corpus);
    let speeches = fixtures().join("corpus/speeches");
    fs::create_dir_all(corpus.join("speeches")).unwrap();
    for part in files_under(&speeches) {
        fs::copy(speeches.join(&part), corpus.join("speeches").join(&part)).unwrap();
    }
    let rest = "[cluster]\nfeatures = \"column:emb\"\nk = 3\n\n[manifest]\nname = \"emb\"\ntrain_tokens = 100000\n";
    let config = small_pipeline(&corpus, 2000, rest).replace(
        "eval_only = [\"speeches\"]\n",
        "eval_only = [\"speeches\"]\nval_fraction = 0.1\n",
    );
    fs::write(dir.path().join("run.toml"), config).unwrap();
    assert_ok(&remix(
        dir.path(),
        &["run", "--quiet", "run.toml", "--until", "tokenize"],
    ));

    let work = dir.path().join("work");
    let clusters = clusters_json(&work);
    assert_eq!(clusters["features"], "column:emb");
    assert_eq!(clusters["kept"][0]["domain"], "speeches");
    let found = topics_per_folder(&work);
    let topics: Vec<_> = found
        .iter()
        .filter(|(f, _)| f.as_str() != "speeches")
        .collect();
    assert_eq!(topics.len(), TOPICS, "{found:?}");
    for (folder, counts) in &topics {
        assert_eq!(counts.len(), 1, "{folder} mixes topics: {counts:?}");
    }
    let index: Value =
        serde_json::from_slice(&fs::read(work.join("tokens/index.json")).unwrap()).unwrap();
    let mut domains: Vec<String> = index["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["domain"].as_str().unwrap().to_string())
        .collect();
    domains.sort();
    let mut expected: Vec<String> = topics.iter().map(|(f, _)| f.to_string()).collect();
    expected.push("speeches".into());
    expected.sort();
    assert_eq!(domains, expected);
}

/// A row group with text that is not UTF-8 is read again through the raw path: its embeddings come with
/// it, row for row (the broken row skipped and counted); a file of a clustered domain without the
/// column is refused, though its neighbour has it.
#[test]
fn embeddings_come_through_the_raw_read_and_a_file_without_them_is_refused() {
    use arrow::buffer::{Buffer, OffsetBuffer};
    let dir = tempfile::tempdir().unwrap();
    let rows = 20;
    let mut bytes = Vec::new();
    let mut offsets = vec![0i32];
    for i in 0..rows {
        if i == 3 {
            bytes.extend_from_slice(b"\xff\xfe broken");
        } else {
            bytes.extend_from_slice(text(i).as_bytes());
        }
        offsets.push(bytes.len() as i32);
    }
    // Arrow's writer does not validate UTF-8, so a file with a broken string can be made directly.
    let broken = unsafe {
        StringArray::new_unchecked(OffsetBuffer::new(offsets.into()), Buffer::from(bytes), None)
    };
    let emb: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Float64Type, _, _>(
        (0..rows).map(|i| Some(embedding(i).1.into_iter().map(Some).collect::<Vec<_>>())),
    ));
    let corpus = dir.path().join("raw");
    write_parquet(
        &corpus.join("crawl/part-0.parquet"),
        vec![("text", Arc::new(broken) as ArrayRef), ("emb", emb.clone())],
        rows,
    );
    let args = ["--features", "column:emb", "--k", "3", "-o", "w-raw"];
    assert_ok(&remix_cluster(dir.path(), &corpus, "2", &args));
    let clusters = clusters_json(&dir.path().join("w-raw"));
    assert_eq!(clusters["skipped"]["invalid_utf8"], 1);
    // Rows 0..20 but 3: each cluster holds one topic (row i's topic is i % 3) with every row of it.
    let mut by_cluster: Vec<u64> = clusters["groups"][0]["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["documents"].as_u64().unwrap())
        .collect();
    by_cluster.sort();
    assert_eq!(by_cluster, [6, 6, 7], "{clusters}");

    let partial = dir.path().join("partial");
    write_one(&partial, emb);
    write_parquet(
        &partial.join("crawl/part-1.parquet"),
        vec![("text", texts(20..30))],
        10,
    );
    let output = remix_cluster(
        dir.path(),
        &partial,
        "2",
        &["--features", "column:emb", "--k", "2", "-o", "w-p"],
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("part-1.parquet has no embedding column `emb`"),
        "{}",
        stderr(&output)
    );
    assert!(!dir.path().join("w-p/cluster").exists());
}
