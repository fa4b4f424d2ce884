//! `remix train` on the fixtures: proxies train on sampled mixtures, the runs table fills, re-runs skip,
//! shards split the work, and the table feeds `remix fit`.

mod common;

use std::fs;
use std::path::Path;

use common::*;
use serde_json::Value;

fn prepare(work: &Path, candidates: &str) {
    tokenize_fixtures(work, &["--eval-only", "speeches"]);
    assert_ok(&remix(
        work,
        &[
            "sample",
            "--tokens",
            "tokens",
            "-n",
            candidates,
            "--seed",
            "1",
            "-o",
            "mixtures.parquet",
        ],
    ));
}

/// `remix train` of `mixtures` into `out` with the small test proxy, on the CPU unless `extra` names a
/// device (`auto` would take a GPU where there is one).
fn train_args<'a>(mixtures: &'a str, out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    train_args_with(mixtures, out, &[], extra)
}

/// [`train_args`] with some of the small proxy's settings changed.
fn train_args_with<'a>(
    mixtures: &'a str,
    out: &'a str,
    proxy: &[(&'static str, &'static str)],
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "train",
        "--quiet",
        "--tokens",
        "tokens",
        "--mixtures",
        mixtures,
        "-o",
        out,
    ];
    args.extend_from_slice(&small_proxy(proxy));
    if !extra.contains(&"--device") {
        args.extend_from_slice(&["--device", "cpu"]);
    }
    args.extend_from_slice(extra);
    args
}

fn train(work: &Path, out: &str, extra: &[&str]) -> Value {
    let mut args = train_args("mixtures.parquet", out, extra);
    args.push("--json");
    let output = remix(work, &args);
    assert_ok(&output);
    serde_json::from_str(&stdout(&output)).unwrap()
}

#[test]
fn proxies_fill_the_runs_table_and_resume() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    prepare(work, "2");

    let dry = remix(
        work,
        &[
            "train",
            "--tokens",
            "tokens",
            "--mixtures",
            "mixtures.parquet",
            "-o",
            ".",
            "--dry-run",
        ],
    );
    assert_ok(&dry);
    assert!(
        stdout(&dry).contains("1312000 without embeddings"),
        "{}",
        stdout(&dry)
    );

    let summary = train(work, ".", &[]);
    assert_eq!(summary["trained"], 4, "natural, uniform and 2 sampled");
    let again = train(work, ".", &[]);
    assert_eq!(
        (again["trained"].as_u64(), again["skipped"].as_u64()),
        (Some(0), Some(4)),
        "finished runs are skipped"
    );

    let table = remix::regmix::runs::read_runs(&work.join("runs/runs.parquet")).unwrap();
    assert_eq!(table.domains, ["code", "email", "novel"]);
    assert_eq!(
        table.loss_domains,
        ["code", "email", "novel", "speeches"],
        "the eval-only domain is scored"
    );
    for run in &table.runs {
        assert_eq!(run.status, "finished");
        assert_eq!(run.tokens_trained, Some(65536));
        for loss in &run.losses {
            let loss = loss.unwrap();
            // Below uniform over the 4096-token vocabulary (ln 4096 = 8.3): the proxies learned.
            assert!(loss.is_finite() && loss < 8.0, "{} loss {loss}", run.run_id);
        }
    }
    // A code-heavy and an email-heavy mixture differ where they should: the natural mixture is the reference.
    assert!(
        table.runs.iter().any(|r| r.run_id == "natural")
            && table.runs.iter().any(|r| r.run_id == "uniform")
    );

    // Two shards train disjoint halves; merged, they hold every run.
    let a = train(work, "shard-a", &["--shard", "0/2"]);
    let b = train(work, "shard-b", &["--shard", "1/2"]);
    assert_eq!(
        a["trained"].as_u64().unwrap() + b["trained"].as_u64().unwrap(),
        4
    );
    assert_ok(&remix(
        work,
        &[
            "runs",
            "merge",
            "shard-a/runs/runs.parquet",
            "shard-b/runs/runs.parquet",
            "-o",
            "merged.parquet",
        ],
    ));
    let merged = remix::regmix::runs::read_runs(&work.join("merged.parquet")).unwrap();
    assert_eq!(merged.runs.len(), 4);
    // Same seed, same mixture, same losses, whichever process trained it.
    for run in &merged.runs {
        let first = table.runs.iter().find(|r| r.run_id == run.run_id).unwrap();
        for (x, y) in run.losses.iter().zip(&first.losses) {
            assert!(
                (x.unwrap() - y.unwrap()).abs() < 1e-4,
                "{}: {x:?} vs {y:?}",
                run.run_id
            );
        }
    }
    let _ = fs::remove_dir_all(work.join("shard-a"));

    // The 4 proxies trained in one stack end as each did alone (above, one at a time on the CPU).
    let stacked = train(work, "stacked", &["--parallel", "4"]);
    assert_eq!(
        (stacked["trained"].as_u64(), stacked["parallel"].as_u64()),
        (Some(4), Some(4))
    );
    let stacked = remix::regmix::runs::read_runs(&work.join("stacked/runs/runs.parquet")).unwrap();
    let order = |t: &remix::regmix::runs::RunsTable| {
        t.runs.iter().map(|r| r.run_id.clone()).collect::<Vec<_>>()
    };
    assert_eq!(
        order(&stacked),
        order(&table),
        "the same rows in the same order"
    );
    for (run, alone) in stacked.runs.iter().zip(&table.runs) {
        for (x, y) in run.losses.iter().zip(&alone.losses) {
            assert!(
                (x.unwrap() - y.unwrap()).abs() < 1e-4,
                "{} stacked {x:?} vs alone {y:?}",
                run.run_id
            );
        }
    }
}

fn mixtures_file(work: &Path, name: &str, rows: &[(&str, [f64; 3])]) {
    let column = |d: usize| -> arrow::array::ArrayRef {
        std::sync::Arc::new(arrow::array::Float64Array::from(
            rows.iter().map(|(_, w)| w[d]).collect::<Vec<_>>(),
        ))
    };
    let ids: Vec<Option<&str>> = rows.iter().map(|(id, _)| Some(*id)).collect();
    write_parquet(
        &work.join(name),
        vec![
            ("mixture_id", strings(&ids)),
            ("w_code", column(0)),
            ("w_email", column(1)),
            ("w_novel", column(2)),
        ],
        100,
    );
}

fn train_fails(work: &Path, mixtures: &str, extra: &[&str]) -> String {
    let output = remix(work, &train_args(mixtures, "bad", extra));
    assert!(!output.status.success(), "{mixtures} {extra:?} trained");
    assert!(!work.join("bad/runs/runs.parquet").exists());
    stderr(&output)
}

#[test]
fn bad_mixtures_and_devices_are_refused_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    prepare(work, "1");

    // Domains the tokens index does not have.
    let ids = [Some("a")];
    let half: arrow::array::ArrayRef =
        std::sync::Arc::new(arrow::array::Float64Array::from(vec![0.5]));
    write_parquet(
        &work.join("web.parquet"),
        vec![
            ("mixture_id", strings(&ids)),
            ("w_code", half.clone()),
            ("w_web", half),
        ],
        10,
    );
    let message = train_fails(work, "web.parquet", &[]);
    assert!(
        message.contains("code, web") && message.contains("code, email, novel"),
        "{message}"
    );

    // A domain repeated beyond the epoch cap: 98% of 65,536 tokens from code's ~250k is 0.25 epochs.
    mixtures_file(
        work,
        "heavy.parquet",
        &[("ok", [0.3, 0.4, 0.3]), ("heavy", [0.98, 0.01, 0.01])],
    );
    let message = train_fails(work, "heavy.parquet", &["--max-epochs", "0.1"]);
    assert!(
        message.contains("row 1 (heavy)")
            && message.contains("w_code")
            && message.contains("cap of 0.1"),
        "{message}"
    );

    // Weight on a domain without training tokens.
    let index_path = work.join("tokens/index.json");
    let original = fs::read_to_string(&index_path).unwrap();
    let mut index: Value = serde_json::from_str(&original).unwrap();
    for domain in index["domains"].as_array_mut().unwrap() {
        if domain["domain"] == "novel" {
            domain["tokens"] = 0.into();
        }
    }
    fs::write(&index_path, index.to_string()).unwrap();
    let message = train_fails(work, "heavy.parquet", &[]);
    assert!(
        message.contains("`novel` has no training tokens"),
        "{message}"
    );
    fs::write(&index_path, original).unwrap();

    // A device this build (or this machine, in a `cuda` build) does not have: the message names the
    // devices there are.
    let message = train_fails(work, "mixtures.parquet", &["--device", "cuda"]);
    assert!(
        message.to_lowercase().contains("cuda")
            && message.contains("devices")
            && message.contains("cpu"),
        "{message}"
    );
}

#[test]
fn a_killed_train_resumes_without_losing_or_repeating_runs() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    prepare(work, "4");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_remix"))
        .args(train_args("mixtures.parquet", ".", &[]))
        .current_dir(work)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let runs = work.join("runs/runs.parquet");
    let started = std::time::Instant::now();
    while !runs.exists() {
        assert!(started.elapsed().as_secs() < 300, "no proxy finished");
        assert!(
            child.try_wait().unwrap().is_none(),
            "train ended before the kill"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before = remix::regmix::runs::read_runs(&runs).unwrap();
    assert!(
        !before.runs.is_empty() && before.runs.len() < 6,
        "{}",
        before.runs.len()
    );

    let summary = train(work, ".", &[]);
    assert_eq!(
        summary["skipped"].as_u64().unwrap() + summary["trained"].as_u64().unwrap(),
        6
    );
    let after = remix::regmix::runs::read_runs(&runs).unwrap();
    let mut ids: Vec<&str> = after.runs.iter().map(|r| r.run_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!((after.runs.len(), ids.len()), (6, 6));
    // The rows finished before the kill are kept as they were.
    for run in &before.runs {
        assert!(after.runs.contains(run), "{} changed", run.run_id);
    }
}

/// A proxy small enough for a benchmark run in a test.
const TINY_BENCH_PROXY: [&str; 12] = [
    "--layers",
    "1",
    "--d-model",
    "16",
    "--heads",
    "2",
    "--ffn-hidden",
    "32",
    "--context",
    "32",
    "--vocab-size",
    "256",
];

#[test]
fn bench_train_prints_a_rate_and_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec![
        "bench",
        "train",
        "--steps",
        "3",
        "--parallel",
        "2",
        "--json",
    ];
    args.extend_from_slice(&TINY_BENCH_PROXY);
    let output = remix(dir.path(), &args);
    assert_ok(&output);
    // Each rate on stderr as it is measured; stdout holds the JSON alone.
    let errors = String::from_utf8_lossy(&output.stderr).to_string();
    let rates: Vec<&str> = errors
        .lines()
        .filter(|l| l.contains(" tokens/s ("))
        .collect();
    assert_eq!(rates.len(), 2, "{errors}");
    for line in rates {
        let (rate, unit) = line.split_once(' ').unwrap();
        assert!(unit.starts_with("tokens/s ("), "{line}");
        let rate: f64 = rate.parse().unwrap();
        assert!(
            rate > 0.0 && rate.is_finite(),
            "one proxy, then the stack of 2"
        );
    }
    let summary: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let runs = summary["runs"].as_array().unwrap();
    assert_eq!(
        runs.iter()
            .map(|r| r["parallel"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [1, 2]
    );
    for run in runs {
        assert_eq!(run["step_seconds"].as_array().unwrap().len(), 3);
        assert!(run["final_loss"].as_f64().unwrap().is_finite());
    }
    assert!(summary["stacked_over_one_at_a_time"].as_f64().unwrap() > 0.0);
}

/// A stack past the adapter's largest buffer is refused before it trains, naming the stack that fits:
/// on lavapipe (128 MiB a buffer) four proxies' head weights at vocabulary 50,304 (4 x 51 MB) do not
/// fit, two do. The one-proxy line before it is printed.
#[test]
fn bench_train_refuses_a_stack_past_the_largest_buffer() {
    let dir = tempfile::tempdir().unwrap();
    let output = remix(
        dir.path(),
        &[
            "bench",
            "train",
            "--device",
            "wgpu",
            "--steps",
            "2",
            "--parallel",
            "4",
            "--vocab-size",
            "50304",
            "--layers",
            "1",
            "--d-model",
            "256",
            "--heads",
            "4",
            "--ffn-hidden",
            "64",
            "--context",
            "16",
            "--batch-size",
            "1",
        ],
    );
    let message = stderr(&output);
    assert!(!output.status.success(), "{message}");
    assert!(
        message.contains("a stack of 4 proxies does not fit on wgpu")
            && message.contains("at most --parallel 2 fits")
            && !message.contains("panicked"),
        "{message}"
    );
    assert_eq!(stdout(&output).lines().count(), 1, "{}", stdout(&output));
}

/// With every graphics driver hidden (Vulkan ICDs and EGL vendors pointed at nothing), `--device wgpu`
/// is an error that names the devices there are, not a panic.
#[test]
fn a_machine_without_a_wgpu_adapter_gets_an_error_naming_the_devices() {
    let dir = tempfile::tempdir().unwrap();
    let nothing = dir.path().join("no-driver.json");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_remix"))
        .args(["bench", "train", "--device", "wgpu", "--steps", "2"])
        .args(TINY_BENCH_PROXY)
        .env("VK_ICD_FILENAMES", &nothing)
        .env("VK_DRIVER_FILES", &nothing)
        .env("__EGL_VENDOR_LIBRARY_FILENAMES", &nothing)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let message = stderr(&output);
    assert!(!output.status.success(), "{message}");
    assert!(
        message.contains("no wgpu device could be started")
            && message.contains("devices found: cpu")
            && message.contains("mesa-vulkan-drivers")
            && !message.contains("panicked"),
        "{message}"
    );
}

fn devices(runs: &Path) -> Vec<String> {
    let table = remix::regmix::runs::read_runs(runs).unwrap();
    table
        .runs
        .iter()
        .map(|r| r.device.clone().unwrap())
        .collect()
}

/// wgpu's own adapter list decides `auto`: where the only Vulkan adapter is lavapipe, a CPU one,
/// proxies train on the CPU and the log says why; `--device wgpu` still trains on lavapipe, with the
/// stack sized from what the adapter reports, and the runs table records each device. Vulkan is shown
/// lavapipe alone (and OpenGL nothing), so the test means the same on a machine with a GPU.
#[test]
fn auto_prefers_the_cpu_to_a_software_adapter_and_wgpu_still_runs_on_it() {
    let Some(icd) = lavapipe() else {
        return;
    };
    let nothing = Path::new("/nonexistent/egl-vendors.json");
    let remix = |work: &Path, args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_remix"))
            .args(args)
            .env("VK_ICD_FILENAMES", &icd)
            .env("VK_DRIVER_FILES", &icd)
            .env("__EGL_VENDOR_LIBRARY_FILENAMES", nothing)
            .current_dir(work)
            .output()
            .unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    prepare(work, "2");

    // A short run: lavapipe is slow.
    let args = |out, device| {
        train_args_with(
            "mixtures.parquet",
            out,
            &[("--train-tokens", "8192")],
            device,
        )
    };
    let auto = remix(work, &args("auto", &["--device", "auto"]));
    assert_ok(&auto);
    let log = stderr(&auto);
    assert!(
        log.contains(
            "proxies train on the CPU: auto chose the CPU: the only wgpu adapters are not GPUs"
        ) && log.contains("llvmpipe")
            && log.contains("(Cpu, Vulkan)"),
        "{log}"
    );
    let on_cpu = devices(&work.join("auto/runs/runs.parquet"));
    assert!(
        !on_cpu.is_empty() && on_cpu.iter().all(|d| d == "cpu"),
        "{on_cpu:?}"
    );

    let wgpu = remix(
        work,
        &args("wgpu", &["--device", "wgpu", "--parallel", "0"]),
    );
    assert_ok(&wgpu);
    let log = stderr(&wgpu);
    assert!(
        log.contains("proxies train on wgpu: --device wgpu: llvmpipe")
            && log.contains("--parallel 0 on wgpu: llvmpipe")
            && log.contains(" per stack, about ")
            && log.contains("80% of the adapter's largest memory heap"),
        "{log}"
    );
    let on_wgpu = devices(&work.join("wgpu/runs/runs.parquet"));
    assert_eq!(on_wgpu.len(), on_cpu.len());
    assert!(
        on_wgpu
            .iter()
            .all(|d| d.starts_with("wgpu: llvmpipe") && d.ends_with("(Cpu, Vulkan)")),
        "{on_wgpu:?}"
    );
}

/// On a headless machine (no `XDG_RUNTIME_DIR`), listing the adapters prints no display error from
/// Mesa's libwayland lookup: remix points the variable at a private folder of its own.
#[test]
fn a_headless_adapter_listing_prints_no_display_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_remix"))
        .arg("devices")
        .env_remove("XDG_RUNTIME_DIR")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_ok(&output);
    let errors = stderr(&output);
    assert!(!errors.contains("XDG_RUNTIME_DIR"), "{errors}");
}
