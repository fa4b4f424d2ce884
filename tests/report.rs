//! `remix report`: one self-contained page over whatever stages a work directory holds.

mod common;

use std::fs;

use common::*;

#[test]
fn report_covers_the_stages_that_ran_and_loads_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    let output = remix(work, &["report", ".", "-o", "report.html"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("nothing to report"),
        "{}",
        stderr(&output)
    );

    let corpus = fixtures().join("corpus");
    assert_ok(&remix(
        work,
        &[
            "stats",
            "--quiet",
            "--corpus",
            corpus.to_str().unwrap(),
            "-o",
            "stats",
        ],
    ));
    tokenize_fixtures(work, &[]);
    assert_ok(&remix(
        work,
        &[
            "sample",
            "--tokens",
            "tokens",
            "-n",
            "16",
            "-o",
            "mixtures.parquet",
        ],
    ));
    let output = remix(work, &["report", ".", "-o", "report.html"]);
    assert_ok(&output);
    assert!(
        stdout(&output).contains("4 sections"),
        "{}",
        stdout(&output)
    );
    let page = fs::read_to_string(work.join("report.html")).unwrap();
    for id in ["stats", "dedup", "tokens", "candidates"] {
        assert!(
            page.contains(&format!("<section id=\"{id}\">")),
            "no {id} section"
        );
    }
    assert!(!page.contains("<section id=\"fit\">"), "no fit ran");
    assert!(page.matches("<svg").count() >= 4, "a chart per section");
    assert!(
        !page.contains("<script") && !page.contains("src=\"http"),
        "the page loads nothing"
    );
    // The cross-domain matrix has a row and a column per domain.
    assert!(page.contains("dropped from \\ kept in"));
    for domain in ["code", "email", "novel", "speeches"] {
        assert!(page.contains(&format!("<td>{domain}</td>")), "{domain}");
    }
}
