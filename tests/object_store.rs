//! A corpus in an S3-compatible object store. moto's server (PyPI `moto[server]`, with boto3 to upload,
//! both pinned in `.ci/run`, which names their Python in `REMIX_S3_PYTHON`) serves the fixtures corpus on
//! localhost, uploaded with boto3 as a team's own tooling would. `remix stats` and `remix run` on
//! `s3://` paths give what they give on the local files, and so does `--executor slurm` on the one-node
//! cluster (with `REMIX_SLURM=1`); a proxy between remix and the server that cuts range reads mid-body
//! shows remix retrying through the cuts, or, allowed no retries, failing with the object and the byte
//! range and no artifact written. Without `REMIX_S3_PYTHON` (a development machine) the tests say so
//! and do nothing; CI always sets it.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use arrow::array::{ArrayRef, StringArray};
use arrow::buffer::{Buffer, OffsetBuffer};
use common::*;
use serde_json::Value;

fn s3_python() -> Option<String> {
    let python = std::env::var("REMIX_S3_PYTHON").ok();
    if python.is_none() {
        eprintln!("skipping: REMIX_S3_PYTHON is not set (.ci/run builds moto's environment)");
    }
    python
}

/// moto's S3 server on a free localhost port, stopped when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_server(python: &str) -> Server {
    let port = free_port();
    let child = Command::new(python)
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot start moto's server");
    let server = Server { child, port };
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "moto's server did not listen on port {port}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    server
}

/// Uploads the folder `local` to `s3://corpus/<prefix>/` with boto3.
fn upload(python: &str, port: u16, prefix: &str, local: &Path) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/s3/upload.py");
    python_ok(
        Command::new(python).arg(script).args([
            &format!("http://127.0.0.1:{port}"),
            "corpus",
            prefix,
            local.to_str().unwrap(),
        ]),
        "upload.py",
    );
}

/// Uploads the fixtures corpus to `s3://corpus/fixtures/`.
fn upload_fixtures(python: &str, port: u16) {
    upload(python, port, "fixtures", &fixtures().join("corpus"));
}

const CORPUS_URL: &str = "s3://corpus/fixtures/";

/// remix in `dir` with the store at `port` in the standard AWS variables.
fn remix_s3(dir: &Path, port: u16, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_remix"))
        .args(args)
        .current_dir(dir)
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_ACCESS_KEY_ID", "remix")
        .env("AWS_SECRET_ACCESS_KEY", "remix")
        .env("AWS_REGION", "us-east-1")
        .output()
        .expect("cannot start remix")
}

fn stats_domains(out: &Path) -> Value {
    let stats: Value = serde_json::from_slice(&fs::read(out.join("stats.json")).unwrap()).unwrap();
    stats["domains"].clone()
}

/// The manifest's domains with their weights and tokens, the part that must not depend on where the
/// corpus was read from.
fn manifest_domains(work: &Path) -> Vec<Value> {
    let manifest: Value =
        serde_json::from_slice(&fs::read(work.join("mixtures/s3-mix.json")).unwrap()).unwrap();
    manifest["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| serde_json::json!([d["domain"], d["weight"], d["tokens_available"]]))
        .collect()
}

fn write_pipeline(dir: &Path, corpus: &str) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    let text = small_pipeline(
        Path::new(corpus),
        2000,
        "\n[manifest]\nname = \"s3-mix\"\ntrain_tokens = 1000000\nexports = [\"megatron\"]\n",
    );
    let path = dir.join("pipeline.toml");
    fs::write(&path, text).unwrap();
    path
}

/// moto's server holding the fixtures corpus, and a work folder whose `local/` holds `remix stats` of the
/// local fixtures, to compare with; `None` without `REMIX_S3_PYTHON`.
fn serve_fixtures() -> Option<(String, Server, tempfile::TempDir)> {
    let python = s3_python()?;
    let server = start_server(&python);
    upload_fixtures(&python, server.port);
    let dir = tempfile::tempdir().unwrap();
    let local = fixtures().join("corpus");
    assert_ok(&remix(
        dir.path(),
        &["stats", "--corpus", local.to_str().unwrap(), "-o", "local"],
    ));
    Some((python, server, dir))
}

#[test]
fn stats_and_the_pipeline_read_the_corpus_from_the_store_as_from_disk() {
    let Some((python, server, dir)) = serve_fixtures() else {
        return;
    };
    let d = dir.path();
    let local = fixtures().join("corpus");
    let remote = remix_s3(
        d,
        server.port,
        &["stats", "--corpus", CORPUS_URL, "-o", "remote"],
    );
    assert_ok(&remote);
    assert_eq!(
        stats_domains(&d.join("remote")),
        stats_domains(&d.join("local"))
    );
    let files: Value =
        serde_json::from_slice(&fs::read(d.join("remote/stats.json")).unwrap()).unwrap();
    assert_eq!(
        files["files"],
        serde_json::json!([
            "s3://corpus/fixtures/code/part-00000.parquet",
            "s3://corpus/fixtures/email/part-00000.parquet",
            "s3://corpus/fixtures/novel/part-00000.parquet",
            "s3://corpus/fixtures/speeches/part-00000.parquet"
        ]),
        "_SUCCESS and README.md are passed over"
    );
    // A glob over keys, as over local paths.
    let glob = remix_s3(
        d,
        server.port,
        &[
            "stats",
            "--corpus",
            "s3://corpus/fixtures/*/part-*.parquet",
            "-o",
            "glob",
        ],
    );
    assert_ok(&glob);
    assert_eq!(
        stats_domains(&d.join("glob")),
        stats_domains(&d.join("local"))
    );

    // A row that is not UTF-8 sends the row group through the raw reader, which reads ranges too.
    let values = b"good one\xff\xfebadalso good";
    let offsets = OffsetBuffer::new(vec![0i32, 8, 13, 22].into());
    let text =
        unsafe { StringArray::new_unchecked(offsets, Buffer::from(values.as_slice()), None) };
    write_parquet(
        &d.join("broken/web/a.parquet"),
        vec![("text", Arc::new(text) as ArrayRef)],
        10,
    );
    upload(&python, server.port, "broken", &d.join("broken"));
    assert_ok(&remix(
        d,
        &["stats", "--corpus", "broken", "-o", "broken-local"],
    ));
    let broken = remix_s3(
        d,
        server.port,
        &[
            "stats",
            "--corpus",
            "s3://corpus/broken",
            "-o",
            "broken-store",
        ],
    );
    assert_ok(&broken);
    let domains = stats_domains(&d.join("broken-store"));
    assert_eq!(domains, stats_domains(&d.join("broken-local")));
    assert_eq!(domains[0]["skipped"]["invalid_utf8"], 1, "{domains}");

    // A row group whose text column chunk is 20 MB, one range read, as from disk.
    let long: Vec<String> = (0..2000)
        .map(|i| format!("{i} ") + &"word ".repeat(2000 + i % 7))
        .collect();
    let long = arrow::array::StringArray::from(long);
    write_parquet(
        &d.join("long/web/a.parquet"),
        vec![("text", Arc::new(long) as ArrayRef)],
        2000,
    );
    upload(&python, server.port, "long", &d.join("long"));
    assert_ok(&remix(
        d,
        &["stats", "--corpus", "long", "-o", "long-local"],
    ));
    let long = remix_s3(
        d,
        server.port,
        &["stats", "--corpus", "s3://corpus/long", "-o", "long-store"],
    );
    assert_ok(&long);
    assert_eq!(
        stats_domains(&d.join("long-store")),
        stats_domains(&d.join("long-local"))
    );

    // The pipeline: the same manifest from the store as from disk, and a second run skips every stage
    // (the digest of an object is its URL, size and ETag).
    let on_disk = d.join("disk");
    assert_ok(&remix(
        &on_disk.clone(),
        &[
            "run",
            "--quiet",
            write_pipeline(&on_disk, local.to_str().unwrap())
                .to_str()
                .unwrap(),
        ],
    ));
    let in_store = d.join("store");
    let config = write_pipeline(&in_store, CORPUS_URL);
    assert_ok(&remix_s3(
        &in_store,
        server.port,
        &["run", "--quiet", config.to_str().unwrap()],
    ));
    assert_eq!(
        manifest_domains(&in_store.join("work")),
        manifest_domains(&on_disk.join("work"))
    );
    let again = remix_s3(
        &in_store,
        server.port,
        &["run", "--quiet", "--json", config.to_str().unwrap()],
    );
    assert_ok(&again);
    let summary: Value = serde_json::from_str(&stdout(&again)).unwrap();
    for stage in summary["stages"].as_array().unwrap() {
        assert_ne!(stage["status"], "ran", "a second run re-ran {stage}");
    }

    if std::env::var("REMIX_SLURM").is_ok_and(|v| v == "1") {
        let on_slurm = d.join("slurm");
        let config = write_pipeline(&on_slurm, CORPUS_URL);
        assert_ok(&remix_s3(
            &on_slurm,
            server.port,
            &[
                "run",
                "--quiet",
                config.to_str().unwrap(),
                "--executor",
                "slurm",
            ],
        ));
        assert_eq!(
            manifest_domains(&on_slurm.join("work")),
            manifest_domains(&on_disk.join("work"))
        );
    } else {
        eprintln!("not on Slurm: REMIX_SLURM is not 1");
    }
}

/// A TCP proxy to `upstream` that passes the first `pass` ranged GETs, then cuts the response of the
/// next `cut` ranged GETs after their headers and a few body bytes; everything else passes. Returns
/// its port and the count of cuts made.
fn cutting_proxy(upstream: u16, pass: usize, cut: usize) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let ranged = Arc::new(AtomicUsize::new(0));
    let cuts = Arc::new(AtomicUsize::new(0));
    let made = cuts.clone();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            let (ranged, cuts) = (ranged.clone(), cuts.clone());
            std::thread::spawn(move || relay(client, upstream, pass, cut, &ranged, &cuts));
        }
    });
    (port, made)
}

/// One client connection of [`cutting_proxy`]. Requests come one at a time (HTTP/1.1, no pipelining),
/// each in one read; the server's bytes are pumped back on a second thread, which cuts a marked
/// response after its headers and 16 body bytes by shutting both sockets.
fn relay(
    mut client: TcpStream,
    upstream: u16,
    pass: usize,
    cut: usize,
    ranged: &AtomicUsize,
    cuts: &Arc<AtomicUsize>,
) {
    let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)) else {
        return;
    };
    let marked = Arc::new(AtomicUsize::new(0));
    let pump = {
        let (mut from, mut to, marked, cuts) = (
            server.try_clone().unwrap(),
            client.try_clone().unwrap(),
            marked.clone(),
            cuts.clone(),
        );
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            let mut buf = [0u8; 8192];
            loop {
                let n = match from.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                if marked.load(Ordering::SeqCst) == 1 {
                    seen.extend_from_slice(&buf[..n]);
                    if let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                        let keep = (end + 4 + 16).min(seen.len());
                        let _ = to.write_all(&seen[..keep]);
                        cuts.fetch_add(1, Ordering::SeqCst);
                        let _ = to.shutdown(Shutdown::Both);
                        let _ = from.shutdown(Shutdown::Both);
                        break;
                    }
                    continue;
                }
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        })
    };
    let mut buf = [0u8; 16384];
    loop {
        let n = match client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let head = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
        if head.starts_with("get ") && head.contains("\r\nrange: bytes=") {
            let index = ranged.fetch_add(1, Ordering::SeqCst);
            if index >= pass && index < pass + cut {
                marked.store(1, Ordering::SeqCst);
            }
        }
        if server.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = server.shutdown(Shutdown::Both);
    let _ = pump.join();
}

#[test]
fn a_cut_connection_is_retried_through_or_named_with_its_byte_range() {
    let Some((_, server, dir)) = serve_fixtures() else {
        return;
    };
    let d = dir.path();

    // Opening the corpus reads each of the four footers with one ranged GET; the row groups follow.
    let (port, cuts) = cutting_proxy(server.port, 4, 2);
    let through = remix_s3(
        d,
        port,
        &[
            "stats",
            "--corpus",
            CORPUS_URL,
            "-o",
            "through",
            "--store-retries",
            "3",
        ],
    );
    assert_ok(&through);
    assert_eq!(
        cuts.load(Ordering::SeqCst),
        2,
        "the proxy cut two row-group reads"
    );
    assert_eq!(
        stats_domains(&d.join("through")),
        stats_domains(&d.join("local"))
    );

    let (port, cuts) = cutting_proxy(server.port, 4, usize::MAX / 2);
    let failed = remix_s3(
        d,
        port,
        &[
            "stats",
            "--corpus",
            CORPUS_URL,
            "-o",
            "failed",
            "--store-retries",
            "0",
        ],
    );
    assert!(!failed.status.success());
    assert!(cuts.load(Ordering::SeqCst) >= 1);
    let err = stderr(&failed);
    assert!(
        err.contains("cannot read bytes ")
            && err.contains(" of s3://corpus/fixtures/")
            && err.contains(".parquet"),
        "{err}"
    );
    assert!(
        files_under(&d.join("failed"))
            .iter()
            .all(|f| !f.ends_with("stats.json") && !f.ends_with("_done.json")),
        "{:?}",
        files_under(&d.join("failed"))
    );
}
