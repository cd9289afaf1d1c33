//! Data-parallel `lssg run` on Gloo (docs/distributed.md): `--nproc 1` is the plain run to the
//! byte, `--nproc 2` finishes the tiny pipeline with the run log naming the world, and a rank
//! killed mid-training stops the other with a clear error, leaving a committed epoch that a run
//! with another world size refuses to resume (a finished directory is accepted); a two-task
//! `srun` on the local Slurm (`scripts/slurm-local`) finishes with results.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::slurm::LocalSlurm;
use crate::util::{fails, lssg, ok};

fn fixture() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tiny-run.toml").display().to_string()
}

fn run(out: &Path, extra: &[&str]) -> String {
    let (config, out) = (fixture(), out.display().to_string());
    let mut args = vec!["--quiet", "run", &*config, "--out", &*out];
    args.extend_from_slice(extra);
    ok(&args)
}

#[test]
fn nproc_1_is_the_plain_run_and_2_ranks_finish_the_pipeline() {
    let tmp = tempfile::tempdir().unwrap();
    let (plain, one, two) = (tmp.path().join("plain"), tmp.path().join("one"), tmp.path().join("two"));
    run(&plain, &[]);
    run(&one, &["--nproc", "1"]);
    let bytes = |dir: &Path| std::fs::read(dir.join("results.json")).unwrap();
    assert_eq!(bytes(&plain), bytes(&one), "--nproc 1 writes the plain run's results.json");
    let stdout = run(&two, &["--nproc", "2"]);
    assert_contains!(stdout, "| **mean** |");
    let results: serde_json::Value = serde_json::from_slice(&bytes(&two)).unwrap();
    assert_eq!(results["methods"].as_array().unwrap().len(), 8);
    let log = std::fs::read_to_string(two.join("run.log")).unwrap();
    let first = log.lines().next().unwrap();
    assert_contains!(first, "world size 2, rank 0");
    assert_contains!(first, "backend gloo");
    assert_contains!(log, "inside collectives");
    let state = std::fs::read_to_string(two.join("pretrain/checkpoint/state.json")).unwrap();
    assert_contains!(state, "\"world_size\": 2");
    // A finished directory is finished in any world size.
    run(&two, &[]);
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&bytes(&two)).unwrap(), results);
}

/// Rank `rank` of 2 on `port`, torchrun's variables, pretraining long enough to be killed.
fn rank(out: &Path, rank: usize, port: u16) -> Child {
    lssg()
        .args(["--quiet", "run", &fixture(), "--out", &out.display().to_string()])
        .args(["--set", "pretrain.epochs=200", "--set", "finetune.methods=[\"uniform\"]"])
        .env("MASTER_ADDR", "127.0.0.1")
        .env("MASTER_PORT", port.to_string())
        .env("RANK", rank.to_string())
        .env("WORLD_SIZE", "2")
        .env("LSSG_DIST_TIMEOUT", "20")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn a_killed_rank_stops_the_other_with_a_clear_error_and_no_corrupt_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (zero, mut one) = (rank(&out, 0, port), rank(&out, 1, port));
    let state = out.join("pretrain/checkpoint/state.json");
    let started = Instant::now();
    while !state.exists() {
        assert!(started.elapsed() < Duration::from_secs(120), "no epoch committed");
        std::thread::sleep(Duration::from_millis(50));
    }
    one.kill().unwrap();
    one.wait().unwrap();
    let killed = Instant::now();
    let output = zero.wait_with_output().unwrap();
    assert!(killed.elapsed() < Duration::from_secs(40), "rank 0 took {:?}", killed.elapsed());
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("on rank 0 of 2"), "{stderr}");
    // The last commit point is whole: state.json parses and names weights that exist.
    let state: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert!(state["epoch"].as_u64().unwrap() >= 1);
    let weights = out.join("pretrain/checkpoint").join(state["model"].as_str().unwrap());
    assert!(std::fs::metadata(&weights).unwrap().len() > 0);
    let leftovers: Vec<_> = std::fs::read_dir(out.join("pretrain/checkpoint"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // One process may not train the remaining epochs of what two trained.
    let (config, dir) = (fixture(), out.display().to_string());
    let args = ["--quiet", "run", &*config, "--out", &*dir, "--set", "pretrain.epochs=200"];
    let err = fails(&[&args[..], &["--set", "finetune.methods=[\"uniform\"]"]].concat());
    assert_contains!(err, "resume it with --nproc 2");
}

#[test]
fn a_two_task_srun_on_the_local_slurm_finishes_with_results() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(slurm) = LocalSlurm::start(&tmp.path().join("slurm")) else { return };
    let out = tmp.path().join("run");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    // The ranks find rank 0 on the node list's first host, at this port.
    let (config, dir, export) = (fixture(), out.display().to_string(), format!("--export=ALL,MASTER_PORT={port}"));
    let lssg = env!("CARGO_BIN_EXE_lssg");
    let args = ["--ntasks=2", "--cpus-per-task=1", &*export, lssg, "--quiet", "run", &*config, "--out", &*dir];
    slurm.run("srun", &args);
    let results: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["methods"].as_array().unwrap().len(), 8);
    let log = std::fs::read_to_string(out.join("run.log")).unwrap();
    let first = log.lines().next().unwrap();
    assert_contains!(first, "world size 2, rank 0");
    assert_contains!(first, "launched by Slurm");
}

#[test]
fn slurm_tasks_make_the_emitted_cells_data_parallel() {
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(crate::bench::fixture()).unwrap().replace("[slurm]\n", "[slurm]\ntasks = 2\n");
    let (file, script, out) = (tmp.path().join("b.toml"), tmp.path().join("b.sbatch"), tmp.path().join("out"));
    std::fs::write(&file, text).unwrap();
    std::fs::copy(fixture(), tmp.path().join("tiny-run.toml")).unwrap();
    ok(&[
        "bench",
        &file.display().to_string(),
        "--out",
        &out.display().to_string(),
        "--emit-slurm",
        &script.display().to_string(),
    ]);
    let script = std::fs::read_to_string(&script).unwrap();
    assert_contains!(script, "#SBATCH --ntasks=2\n");
    assert_contains!(script, "export MASTER_PORT=");
    assert_contains!(script, "exec srun \"$LSSG\" bench");
}
