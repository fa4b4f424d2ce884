//! The exports of `remix run mixtures/fixtures.toml`, and of a pipeline over megatron-core-written shards
//! brought in by `remix tokens import`, loaded by the trainers' own libraries: each samples every domain
//! within 0.01 of the manifest's weight, over at least 2,000 samples.
//!
//! The libraries live in a Python environment that `.ci/run` builds at pinned versions and names in
//! `REMIX_TRAINERS_PYTHON`; without it (a development machine) the test says so and does nothing, and
//! CI, which always sets it, fails on any missing library.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::Value;

/// Samples each trainer draws from the export.
const MIN_SAMPLES: usize = 2000;

/// The bundled pipeline, `mixtures/fixtures.toml`, with its work folder in `dir` and `edit` applied to
/// its text.
fn run_fixtures_pipeline(dir: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    let config = fixtures_config(dir, edit);
    assert_ok(&remix(dir, &["run", "--quiet", config.to_str().unwrap()]));
    dir.join("work/mixtures")
}

/// Writes the bundled pipeline as [`run_fixtures_pipeline`] runs it; returns the config's path.
fn fixtures_config(dir: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = fs::read_to_string(root.join("mixtures/fixtures.toml")).unwrap();
    let text = edit(text)
        .replace("\"../", &format!("\"{}/", root.display()))
        .replace(
            &format!("work = \"{}/work/fixtures\"", root.display()),
            &format!("work = \"{}\"", dir.join("work").display()),
        );
    let config = dir.join("fixtures.toml");
    fs::write(&config, text).unwrap();
    config
}

fn trainers_python() -> Option<String> {
    let python = std::env::var("REMIX_TRAINERS_PYTHON").ok();
    if python.is_none() {
        eprintln!("skipping: REMIX_TRAINERS_PYTHON is not set (.ci/run builds that environment)");
    }
    python
}

/// nanotron's reader, datatrove's `DatatroveFolderDataset`, lives in an environment of its own.
fn datatrove_python() -> String {
    std::env::var("REMIX_DATATROVE_PYTHON").expect(
        "REMIX_DATATROVE_PYTHON is not set: .ci/run builds datatrove's environment beside the trainers'",
    )
}

/// Held while a trainer script runs: mosaicml-streaming names its shared memory by a process-global
/// prefix counter (`/000004_locals`), so two of its loaders started at once by parallel tests collide
/// (`FileExistsError`), and its `clean_stale_shared_memory` unlinks the other's blocks. The tests'
/// remix runs stay parallel; only the trainers' loaders take turns.
static TRAINER_LOADERS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `tests/trainers/<script>` with the trainers' Python and checks the shares it reports.
fn check_shares(python: &str, script: &str, args: &[&Path]) {
    // A test that panicked while holding the lock leaves it poisoned; the lock guards no data.
    let _turn = TRAINER_LOADERS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/trainers")
        .join(script);
    let stdout = python_ok(
        Command::new(python)
            .arg(&path)
            .args(args)
            .arg(MIN_SAMPLES.to_string()),
        script,
    );
    // The report is the last line: the libraries may print progress to stdout before it.
    let last = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    let report: Value = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("{script} printed no report ({e}): {stdout}"));
    assert!(
        report["samples"].as_u64().unwrap() >= MIN_SAMPLES as u64,
        "{report}"
    );
    eprintln!("{script} {}: {report}", args[1].display());
    for (domain, pair) in report["shares"].as_object().unwrap() {
        let (share, weight) = (pair[0].as_f64().unwrap(), pair[1].as_f64().unwrap());
        assert!(
            (share - weight).abs() <= 0.01,
            "{script}: `{domain}` drawn {share:.4} of the samples, weight {weight:.4}"
        );
    }
}

/// Each trainer's check script and the export files it loads (`fixtures.<suffix>`).
const CHECKS: [(&str, &[&str]); 7] = [
    (
        "megatron_lm.py",
        &["megatron.args", "megatron.json", "neox.yml"],
    ),
    ("olmo_core_mix.py", &["olmo-core.yaml"]),
    ("nanoset.py", &["nanotron.yaml"]),
    ("mosaic.py", &["mosaic.py"]),
    ("litgpt.py", &["litgpt.py"]),
    ("hf.py", &["hf.py"]),
    ("torchtitan_mix.py", &["torchtitan.py"]),
];

#[test]
fn every_trainer_samples_the_manifests_weights() {
    let Some(python) = trainers_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mixtures = run_fixtures_pipeline(dir.path(), |text| text);
    check_every_trainer(&python, &mixtures);
}

/// Topic domains: the fixtures pipeline with its email split into topics by `[cluster]` (`email/c00-...`
/// domains beside the kept ones), read back by every trainer.
#[test]
fn every_trainer_reads_topic_domains_from_the_cluster_stage() {
    let Some(python) = trainers_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mixtures = run_fixtures_pipeline(dir.path(), |text| {
        text.replace(
            "[tokenize]\n",
            "[cluster]\nwithin = [\"email\"]\nk = 3\n\n[tokenize]\n",
        )
        .replace("candidates = 24", "candidates = 10")
        .split("[validate]")
        .next()
        .unwrap()
        .to_string()
    });
    let manifest: Value =
        serde_json::from_slice(&fs::read(mixtures.join("fixtures.json")).unwrap()).unwrap();
    let topics = manifest["domains"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["domain"].as_str().unwrap().starts_with("email/c0"))
        .count();
    assert_eq!(topics, 3, "{manifest}");
    check_every_trainer(&python, &mixtures);
}

/// A reused mixture: an earlier manifest over code, email and the novel, then email split into topics
/// by `[cluster]` and `[reuse]` searching only the topics beside the frozen code and novel; every
/// trainer reads the reused manifest's exports.
#[test]
fn every_trainer_reads_a_reused_mixture_after_a_split() {
    let Some(python) = trainers_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let old_dir = dir.path().join("old");
    fs::create_dir_all(&old_dir).unwrap();
    let config = fixtures_config(&old_dir, |text| text);
    assert_ok(&remix(
        &old_dir,
        &[
            "run",
            "--quiet",
            "--until",
            "tokenize",
            config.to_str().unwrap(),
        ],
    ));
    let old = dir.path().join("old.json");
    fs::write(
        dir.path().join("old-weights.json"),
        r#"{"code": 0.3, "email": 0.4, "novel": 0.3}"#,
    )
    .unwrap();
    let tokens = old_dir.join("work/tokens");
    assert_ok(&remix(
        dir.path(),
        &[
            "manifest",
            "--quiet",
            "--weights",
            "old-weights.json",
            "--tokens",
            tokens.to_str().unwrap(),
            "--train-tokens",
            "2000000",
            "--name",
            "old",
            "-o",
            old.to_str().unwrap(),
        ],
    ));
    let new_dir = dir.path().join("new");
    fs::create_dir_all(&new_dir).unwrap();
    let mixtures = run_fixtures_pipeline(&new_dir, |text| {
        let head = text.split("[validate]").next().unwrap().to_string();
        head.replace(
            "[tokenize]\n",
            "[cluster]\nwithin = [\"email\"]\nk = 3\n\n[tokenize]\n",
        )
        .replace("[regmix.sample]\ncandidates = 24\n", "[regmix.sample]\n")
        .replace(
            "[doremi]\n",
            &format!(
                "[reuse]\nfrom = \"{}\"\ncandidates = 6\n\n[doremi]\n",
                old.display()
            ),
        )
    });
    let manifest: Value =
        serde_json::from_slice(&fs::read(mixtures.join("fixtures.json")).unwrap()).unwrap();
    let reuse = &manifest["method"]["evidence"]["reuse"];
    assert_eq!(reuse["changes"]["split"][0]["old"], "email", "{reuse}");
    assert_eq!(
        reuse["frozen"]["domains"],
        serde_json::json!(["code", "novel"])
    );
    let weight = |d: &str| {
        manifest["domains"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["domain"] == d)
            .map_or(0.0, |x| x["weight"].as_f64().unwrap())
    };
    assert!(
        (weight("code") - weight("novel")).abs() < 1e-9,
        "{manifest}"
    );
    check_every_trainer(&python, &mixtures);
}

/// Every trainer's check over the exports in `mixtures` (`fixtures.*`).
fn check_every_trainer(python: &str, mixtures: &Path) {
    let manifest = mixtures.join("fixtures.json");
    for (script, suffixes) in CHECKS {
        for suffix in suffixes {
            check_shares(
                python,
                script,
                &[&manifest, &mixtures.join(format!("fixtures.{suffix}"))],
            );
        }
    }
    check_shares(
        &datatrove_python(),
        "nanoset_datatrove.py",
        &[&manifest, &mixtures.join("fixtures.nanotron.yaml")],
    );
}

/// A team's own tokens: megatron-core's `IndexedDatasetBuilder` writes the fixtures' tokens as Megatron
/// shards (documents of two sequences, a domain over two prefixes) and numpy writes raw token files as
/// OLMo-core and dolma do (`tests/trainers/megatron_write.py`); `remix tokens import` indexes them, a
/// pipeline with `[tokens.import]` trains proxies on them, and the trainers read its exports back.
#[test]
fn megatron_core_shards_import_train_and_export() {
    let Some(python) = trainers_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let source = d.join("source");
    fs::create_dir_all(&source).unwrap();
    tokenize_fixtures(&source, &["--eval-only", "speeches"]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/trainers/megatron_write.py");
    let stdout = python_ok(
        Command::new(&python)
            .arg(&script)
            .arg(source.join("tokens"))
            .arg(d.join("data")),
        "tests/trainers/megatron_write.py",
    );
    let documents: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();

    let tokenizer = fixtures().join("tokenizer.json").display().to_string();
    let import = [
        "--megatron",
        "code=data/code",
        "--megatron",
        "email=data/email-a,data/email-b",
        "--megatron",
        "speeches=data/speeches",
        "--numpy",
        "novel=data/novel-0.npy,data/novel-1.npy",
        "--dtype",
        "uint16",
        "--tokenizer",
        &tokenizer,
        "--eval-only",
        "speeches",
    ];
    let output = remix(
        d,
        &[
            &["tokens", "import", "--quiet", "--json", "-o", "cli"][..],
            &import,
        ]
        .concat(),
    );
    assert_ok(&output);
    let index: Value = serde_json::from_slice(&output.stdout).unwrap();
    for domain in index["domains"].as_array().unwrap() {
        let name = domain["domain"].as_str().unwrap();
        let total =
            domain["documents"].as_u64().unwrap() + domain["val_documents"].as_u64().unwrap();
        assert_eq!(
            Some(total),
            documents[name].as_u64(),
            "{name}: every document, once"
        );
    }

    let prefixes = |list: &[&str]| {
        list.iter()
            .map(|p| format!("\"{}\"", d.join("data").join(p).display()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let data = format!(
        "[tokens.import]\nmegatron = {{ code = [{}], email = [{}], speeches = [{}] }}\nnumpy = {{ novel = [{}] }}\n\
         dtype = \"uint16\"\ntokenizer = \"{tokenizer}\"\neval_only = [\"speeches\"]\n",
        prefixes(&["code"]),
        prefixes(&["email-a", "email-b"]),
        prefixes(&["speeches"]),
        prefixes(&["novel-0.npy", "novel-1.npy"]),
    );
    let rest = "[manifest]\nname = \"imported\"\ntrain_tokens = 2000000\nsequence_length = 64\n\
                exports = [\"megatron\", \"neox\", \"olmo-core\", \"mosaic\", \"nanotron\", \"litgpt\"]\n";
    fs::write(d.join("run.toml"), small_pipeline_over(&data, 2000, rest)).unwrap();
    assert_ok(&remix(d, &["run", "--quiet", "run.toml"]));
    let mixtures = d.join("work/mixtures");
    let manifest = mixtures.join("imported.json");
    for (script, suffixes) in [
        (
            "megatron_lm.py",
            &["megatron.args", "megatron.json", "neox.yml"][..],
        ),
        ("olmo_core_mix.py", &["olmo-core.yaml"]),
        ("mosaic.py", &["mosaic.py"]),
        ("litgpt.py", &["litgpt.py"]),
        ("nanoset.py", &["nanotron.yaml"]),
    ] {
        for suffix in suffixes {
            check_shares(
                &python,
                script,
                &[&manifest, &mixtures.join(format!("imported.{suffix}"))],
            );
        }
    }
    check_shares(
        &datatrove_python(),
        "nanoset_datatrove.py",
        &[&manifest, &mixtures.join("imported.nanotron.yaml")],
    );
}
