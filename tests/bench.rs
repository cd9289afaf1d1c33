//! `lssg bench` end to end on `tests/fixtures/tiny-bench.toml` (2 seeds × uniform, guided × a
//! fine-tuning axis of 2 learning rates: 2 pretraining cells, 8 fine-tuning cells): the grid,
//! cell selection, shared pretraining, skipping and resuming, `--jobs`, and the Slurm script.

use std::path::{Path, PathBuf};

use crate::util::{fails, ok};

pub fn fixture() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tiny-bench.toml").display().to_string()
}

/// Every `cell.json` under `dir`, by relative path, with the wall times removed (they are the
/// only part that may differ between two runs of the same cell).
pub fn records(dir: &Path) -> Vec<(PathBuf, serde_json::Value)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n == "cell.json") {
                let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
                v["seconds"] = 0.into();
                out.push((path.strip_prefix(dir).unwrap().to_path_buf(), v));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn bench(out: &Path, extra: &[&str]) -> String {
    let mut args = vec!["--quiet", "bench", "FIXTURE", "--out", out.to_str().unwrap()];
    let fixture = fixture();
    args[2] = &fixture;
    args.extend_from_slice(extra);
    ok(&args)
}

#[test]
fn list_numbers_pretraining_cells_first_and_selects_ranges() {
    let tmp = tempfile::tempdir().unwrap();
    let list = bench(tmp.path(), &["--list"]);
    let rows: Vec<&str> = list.lines().skip(1).collect();
    assert_eq!(rows.len(), 10, "{list}");
    assert!(rows[..2].iter().all(|r| r.contains("pretrain") && r.contains("pretrained")), "{list}");
    assert!(rows[2..].iter().all(|r| r.contains("finetune") && r.contains("pending")), "{list}");
    // The fine-tuning axis does not touch pretraining: both learning rates of seed 1 fine-tune
    // from cell 1.
    let seed1: Vec<&&str> = rows[2..].iter().filter(|r| r.contains("/seed-1/")).collect();
    assert_eq!(seed1.len(), 4);
    assert!(seed1.iter().all(|r| r.split_whitespace().nth(7) == Some("1")), "{list}");
    assert!(list.contains("cells/synthetic/cmx-tiny/ftlr=1e-3/seed-0/guided [ftlr=1e-3]"), "{list}");

    let some = bench(tmp.path(), &["--list", "--cells", "0, 3-5,4"]);
    let indices: Vec<&str> = some.lines().skip(1).map(|l| l.split_whitespace().next().unwrap()).collect();
    assert_eq!(indices, ["0", "3", "4", "5"]);
    let f = fixture();
    assert_contains!(fails(&["bench", &f, "--list", "--cells", "10"]), "outside 0-9");
    assert_contains!(fails(&["bench", &f, "--list", "--cells", "2-x"]), "not an index");
    assert_contains!(fails(&["bench", &f, "--list", "--cells", "5-3"]), "\"5-3\"");
}

#[test]
fn bad_bench_files_name_the_file_and_field() {
    let tmp = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
    let write = |name: &str, body: &str| {
        let p = tmp.path().join(name);
        let base = fixtures.join("tiny-run.toml");
        std::fs::write(&p, format!("[bench]\nbase = {:?}\n{body}", base.display().to_string())).unwrap();
        p.display().to_string()
    };
    let dup = write("dup.toml", "seeds = [1, 1]\n");
    let err = fails(&["bench", &dup, "--list"]);
    assert_contains!(err, "dup.toml");
    assert_contains!(err, "seed 1 is listed twice");
    let unknown = write("unknown.toml", "seeds = [1]\nseedz = 3\n");
    assert_contains!(fails(&["bench", &unknown, "--list"]), "seedz");
    let label = write("label.toml", "seeds = [1]\n[[bench.datasets]]\nlabel = \"a/b\"\n");
    assert_contains!(fails(&["bench", &label, "--list"]), "label \"a/b\"");
    let missing = tmp.path().join("missing.toml");
    std::fs::write(&missing, "[bench]\nbase = \"nowhere.toml\"\nseeds = [0]\n").unwrap();
    assert_contains!(fails(&["bench", missing.to_str().unwrap(), "--list"]), "nowhere.toml");
    // A bad override names itself, and which cell it came from.
    let bad = write("bad.toml", "seeds = [0]\nset = [\"pretrain.epochz=2\"]\n");
    assert_contains!(fails(&["bench", &bad, "--list"]), "epochz");
}

/// The grid runs every cell once; pretraining is trained once per seed and shared; a second
/// call does nothing; a deleted fine-tuning result is redone identically; two processes give
/// the same records as one.
#[test]
fn grid_shares_pretraining_skips_finished_cells_and_jobs_agree() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let stdout = bench(&a, &[]);
    assert_contains!(stdout, "10 cells ran, 0 done earlier");
    let recs = records(&a);
    assert_eq!(recs.len(), 10);
    let seed0 = a.join("cells/synthetic/cmx-tiny");
    assert!(seed0.join("base/seed-0/pretrained/pretrain/metrics.jsonl").is_file());
    // Fine-tuning cells hold no pretraining of their own.
    assert!(!seed0.join("ftlr=1e-3/seed-0/guided/pretrain").exists());
    let pretrained = &recs.iter().find(|(p, _)| p.ends_with("base/seed-0/pretrained/cell.json")).unwrap().1;
    assert_eq!(pretrained["key"]["method"], "pretrained");
    assert_eq!(pretrained["distribution"]["probabilities"].as_array().unwrap().len(), 7);
    assert_eq!(pretrained["curves"][0]["stage"], "pretrain");
    assert_eq!(pretrained["curves"][0]["points"].as_array().unwrap().len(), 2);
    let tiles = &pretrained["scenarios"][0]["tiles"];
    assert_eq!(tiles["confusion"].as_array().unwrap().len(), 4, "4 test tiles");
    assert_eq!(tiles["confusion"][0].as_array().unwrap().len(), 49, "7 × 7 classes");

    // Methods and seeds draw different random streams: no two training curves coincide.
    let losses: Vec<f64> = recs
        .iter()
        .filter(|(p, _)| !p.to_string_lossy().contains("pretrained"))
        .map(|(_, r)| r["curves"][0]["points"][0]["train_loss"].as_f64().unwrap())
        .collect();
    for (i, x) in losses.iter().enumerate() {
        assert!(losses[..i].iter().all(|y| y != x), "two cells share a training curve: {losses:?}");
    }

    assert_contains!(bench(&a, &[]), "0 cells ran, 10 done earlier");
    let redo = a.join("cells/synthetic/cmx-tiny/ftlr=1e-4/seed-1/guided");
    std::fs::remove_file(redo.join("cell.json")).unwrap();
    std::fs::remove_dir_all(redo.join("eval")).unwrap();
    assert_contains!(bench(&a, &[]), "1 cells ran, 9 done earlier");
    assert_eq!(records(&a), recs, "the redone cell differs");

    let b = tmp.path().join("b");
    assert_contains!(bench(&b, &["--jobs", "2"]), "10 cells ran, 0 done earlier");
    assert!(b.join("logs/cell-0.log").is_file());
    assert_eq!(records(&b), recs, "--jobs 2 differs from one process");

    report_reads_the_grid_and_names_a_corrupt_cell(&a);
}

/// `lssg report` on the finished tiny grid: the bench's `[report]` settings are used, the
/// tables and the HTML are written, and a corrupt cell file is named and left out without
/// changing the numbers.
fn report_reads_the_grid_and_names_a_corrupt_cell(dir: &Path) {
    let stdout = ok(&["--quiet", "report", dir.to_str().unwrap()]);
    assert_contains!(stdout, "| scenario | pretrained | uniform | guided |");
    let out = dir.join("report");
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert_contains!(md, "10 cells included, 0 files left out. Bootstrap: 200 resamples");
    assert_contains!(md, "guided − uniform");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<svg") && !html.contains("src=") && !html.contains("href="));
    let csv = std::fs::read_to_string(out.join("report.csv")).unwrap();

    let corrupt = dir.join("cells/extra/cell.json");
    std::fs::create_dir_all(corrupt.parent().unwrap()).unwrap();
    std::fs::write(&corrupt, "{\"format\": 1, \"index\": ").unwrap();
    let again = crate::util::run_in(None, &["--quiet", "report", dir.to_str().unwrap()]);
    assert!(again.status.success());
    assert_contains!(String::from_utf8_lossy(&again.stderr), corrupt.display().to_string());
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert_contains!(md, "10 cells included, 1 files left out");
    assert_eq!(std::fs::read_to_string(out.join("report.csv")).unwrap(), csv, "a corrupt file changed the numbers");
    std::fs::remove_file(&corrupt).unwrap();
}

#[test]
fn slurm_script_requests_the_resources_and_chains_the_arrays() {
    let tmp = tempfile::tempdir().unwrap();
    let script = tmp.path().join("grid.sbatch");
    let stdout = bench(&tmp.path().join("out"), &["--emit-slurm", script.to_str().unwrap()]);
    assert_contains!(stdout, "pretraining cells 0-1, fine-tuning cells 2-9");
    let text = std::fs::read_to_string(&script).unwrap();
    for line in [
        "#SBATCH --array=0-9%2",
        "#SBATCH --cpus-per-task=1",
        "#SBATCH --mem=500M",
        "#SBATCH --time=00:10:00",
        "--array=0-1%2",
        "--dependency=afterok:$pre --kill-on-invalid-dep=yes --array=2-9%2",
        "--cells \"$SLURM_ARRAY_TASK_ID\"",
    ] {
        assert_contains!(text, line);
    }
    assert!(!text.contains("--partition"), "no partition unless asked");
    assert!(tmp.path().join("out/slurm").is_dir(), "Slurm needs the output directory to exist");
    // The script is valid bash.
    let check = std::process::Command::new("bash").arg("-n").arg(&script).status().unwrap();
    assert!(check.success());
}

/// `--set` reaches every cell, in this process, in `--jobs` children and in Slurm tasks, and is
/// part of each cell's identity: the cells of a grid shortened for a smoke test are never taken
/// for the full grid's, finished or not, and the full grid refuses to run over them.
#[test]
fn set_reaches_every_cell_and_is_part_of_its_identity() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let short = ["--set", "pretrain.epochs=1"];
    // Cell 2 (uniform, seed 0, ftlr=1e-4) fine-tunes from cell 0; the children must see --set.
    let ran = bench(&out, &[&short[..], &["--jobs", "2", "--cells", "2"]].concat());
    assert_contains!(ran, "2 cells ran, 0 done earlier");
    let recs = records(&out);
    assert_eq!(recs.len(), 2);
    let pretrained = &recs.iter().find(|(p, _)| p.ends_with("base/seed-0/pretrained/cell.json")).unwrap().1;
    assert_eq!(pretrained["curves"][0]["points"].as_array().unwrap().len(), 1, "one pretraining epoch");
    let cell2 = out.join("cells/synthetic/cmx-tiny/ftlr=1e-4/seed-0/uniform");
    assert_contains!(std::fs::read_to_string(cell2.join("config.toml")).unwrap(), "epochs = 1");
    assert_contains!(bench(&out, &[&short[..], &["--cells", "0,2"]].concat()), "0 cells ran, 2 done earlier");

    // The full grid in the same directory: those cells are listed as conflicts, and running any
    // cell that needs them is refused before anything runs.
    let list = bench(&out, &["--list", "--cells", "0-3"]);
    let status: Vec<&str> = list.lines().skip(1).map(|l| l.split_whitespace().nth(2).unwrap()).collect();
    assert_eq!(status, ["conflict", "pending", "conflict", "pending"], "{list}");
    let f = fixture();
    let o = out.to_str().unwrap();
    let err = fails(&["--quiet", "bench", &f, "--out", o, "--cells", "3"]);
    assert_contains!(err, "cells [0] were run with another config");
    assert_contains!(err, "[pretrain]");
    assert!(!out.join("cells/synthetic/cmx-tiny/ftlr=1e-4/seed-0/guided").exists(), "cell 3 started");
    assert_eq!(records(&out), recs, "the refused run changed a record");
    let short_list = bench(&out, &[&short[..], &["--list", "--cells", "0-3"]].concat());
    assert_contains!(short_list.lines().nth(1).unwrap(), "done");

    // Slurm tasks repeat the overrides; unknown keys are errors naming them, before any work.
    let script = tmp.path().join("grid.sbatch");
    bench(&out, &[&short[..], &["--emit-slurm", script.to_str().unwrap()]].concat());
    assert_contains!(
        std::fs::read_to_string(&script).unwrap(),
        "--cells \"$SLURM_ARRAY_TASK_ID\" --set 'pretrain.epochs=1'"
    );
    assert_contains!(fails(&["bench", &f, "--out", o, "--set", "pretrain.epochz=1"]), "pretrain.epochz");
    assert_contains!(fails(&["bench", &f, "--out", o, "--set", "pretrian.epochs=1"]), "unknown key pretrian.epochs");
    assert_contains!(fails(&["bench", &f, "--out", o, "--set", "run.seed=1"]), "bench.seeds");
}
