//! `scripts/readme-tables` on fixture runs (`tests/fixtures/readme-tables/`) and a copy of the
//! README: the marked blocks get the runs' tables, the rest of the README stays as it was, and
//! `--check` tells a README that matches the runs from one that does not.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn readme_tables(readme: &Path, extra: &[&str]) -> Output {
    Command::new("python3")
        .current_dir(ROOT)
        .arg("scripts/readme-tables")
        .args(["--quickstart", "tests/fixtures/readme-tables/quickstart"])
        .args(["--bench", "tests/fixtures/readme-tables/bench/report"])
        .args(["--robustness", "tests/fixtures/readme-tables/bench/report", "--readme"])
        .arg(readme)
        .args(extra)
        .output()
        .expect("python3 runs")
}

fn readme_copy(dir: &Path) -> (PathBuf, String) {
    let original = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let path = dir.join("README.md");
    std::fs::write(&path, &original).unwrap();
    (path, original)
}

/// The text between `<!-- readme-tables:NAME -->` and its closing marker.
fn block<'a>(text: &'a str, name: &str) -> &'a str {
    let start = format!("<!-- readme-tables:{name} -->\n");
    let from = text.find(&start).unwrap_or_else(|| panic!("no {start}")) + start.len();
    let to = text[from..].find(&format!("<!-- /readme-tables:{name} -->")).unwrap();
    &text[from..from + to]
}

#[test]
fn readme_tables_writes_the_runs_tables_into_the_marked_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let (readme, original) = readme_copy(dir.path());
    let out = readme_tables(&readme, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&readme).unwrap();

    let quickstart = block(&text, "quickstart");
    assert_contains!(quickstart, "device Cpu, 2 libtorch threads, 1 min 35 s wall time");
    assert_contains!(quickstart, "mIoU from the confusion matrix (%) over the 64 test tiles");
    assert_contains!(quickstart, "| scenario | pretrained | guided |\n|---|---:|---:|\n");
    assert_contains!(quickstart, "| sar | **41.25** | 40.00 |");
    assert_contains!(quickstart, "| optical+sar | **80.00** | **80.00** |");
    assert_contains!(quickstart, "| **mean** | 60.42 | **60.83** |");
    assert!(!quickstart.contains("overall accuracy"), "only the main metric: {quickstart}");
    assert_contains!(quickstart, " cores (");

    let bench = block(&text, "bench");
    assert_contains!(bench, "(2 cells; the cells took 1 min 15 s together)");
    assert_contains!(bench, "| synthetic / cmx-small: mIoU (%), mean ± std over 2 seeds | uniform | guided |");
    assert_contains!(bench, "| mean over scenarios | 70.00 ± 1.00 | 71.50 ± 1.00 |");
    assert_contains!(bench, "| worst scenario | 40.00 ± 0.50 | 42.25 ± 0.50 |");
    assert_contains!(bench, "mean over scenarios +1.50 [+0.50, +2.50]");
    assert_contains!(bench, "worst scenario −0.25 [−1.00, +0.50] (Wilcoxon p 0.500, seeds won / tied / lost 2/0/0)");

    let robustness = block(&text, "robustness");
    assert_contains!(robustness, "synthetic / cmx-small, 2 strategies × 2 seeds, mIoU (%)");
    assert_contains!(robustness, "| protocol | best (mean) | best other − uniform | guided − uniform |");
    assert_contains!(
        robustness,
        "| worst scenario | guided (42.25) | guided −0.25 [−1.00, +0.50] (2/0/0) | −0.25 [−1.00, +0.50] (2/0/0) |"
    );

    // Outside the blocks, and the speed block that was not asked for, nothing changed.
    let outside = |t: &str| {
        let mut rest = t.to_string();
        for name in ["quickstart", "bench", "robustness"] {
            rest = rest.replace(block(t, name), "");
        }
        rest
    };
    assert_eq!(outside(&text), outside(&original));
    assert_eq!(block(&text, "speed"), block(&original, "speed"));
}

#[test]
fn readme_tables_check_tells_a_matching_readme_from_a_stale_one() {
    let dir = tempfile::tempdir().unwrap();
    let (readme, _) = readme_copy(dir.path());
    assert!(readme_tables(&readme, &[]).status.success());
    let matching = readme_tables(&readme, &["--check"]);
    assert!(matching.status.success(), "{}", String::from_utf8_lossy(&matching.stdout));

    let stale = std::fs::read_to_string(&readme).unwrap().replace("| **41.25** |", "| **41.26** |");
    std::fs::write(&readme, &stale).unwrap();
    let out = readme_tables(&readme, &["--check"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    assert_contains!(String::from_utf8_lossy(&out.stdout), "differs from the runs");
    assert_eq!(std::fs::read_to_string(&readme).unwrap(), stale, "--check writes nothing");
}

#[test]
fn readme_tables_names_a_missing_block() {
    let dir = tempfile::tempdir().unwrap();
    let readme = dir.path().join("README.md");
    std::fs::write(&readme, "# no tables here\n").unwrap();
    let out = readme_tables(&readme, &[]);
    assert!(!out.status.success());
    assert_contains!(String::from_utf8_lossy(&out.stderr), "no <!-- readme-tables:quickstart -->");
}
