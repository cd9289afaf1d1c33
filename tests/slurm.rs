//! The Slurm route of `lssg bench` on a real single-node Slurm on localhost
//! (`scripts/slurm-local`: Debian's slurm-wlm and munge, which scripts/setup installs): the
//! emitted script, submitted both ways (`bash SCRIPT --wait`: two arrays chained by afterok;
//! `sbatch --wait SCRIPT`: one array), gives exactly the cell records and the report of the
//! same grid run locally. Without root or Slurm the test says it skipped; under CI (`CI` set)
//! it fails instead, since CI must run it.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::bench::{fixture, records};
use crate::util::ok;

/// A running local Slurm, stopped on drop.
pub(crate) struct LocalSlurm {
    dir: PathBuf,
    conf: PathBuf,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/slurm-local")
}

impl LocalSlurm {
    pub(crate) fn start(dir: &Path) -> Option<Self> {
        let out = Command::new(script()).arg("start").arg(dir).output().expect("bash runs");
        if out.status.success() {
            return Some(Self { dir: dir.to_path_buf(), conf: dir.join("slurm.conf") });
        }
        let why = String::from_utf8_lossy(&out.stderr).into_owned();
        // Exit code 3: no Slurm here or not root. Anything else is a real failure.
        assert!(out.status.code() == Some(3) && std::env::var_os("CI").is_none(), "local Slurm did not start: {why}");
        eprintln!("skipped: the Slurm test needs root and slurm-wlm + munge ({})", why.trim());
        None
    }

    pub(crate) fn run(&self, program: &str, args: &[&str]) {
        let out = Command::new(program).args(args).env("SLURM_CONF", &self.conf).output().expect("runs");
        let logs = self.dir.join("slurmctld.log");
        assert!(
            out.status.success(),
            "{program} {args:?} failed ({}):\n{}\n{}\n(see {})",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            logs.display()
        );
    }
}

impl LocalSlurm {
    /// Runs a Slurm command and returns its stdout (empty when it fails).
    fn stdout(&self, program: &str, args: &[&str]) -> String {
        let out = Command::new(program).args(args).env("SLURM_CONF", &self.conf).output().expect("runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `JobState` and `Restarts` of job `id` (the controller keeps a finished job for MinJobAge).
    fn job(&self, id: &str) -> (String, String) {
        let text = self.stdout("scontrol", &["show", "job", id]);
        let field =
            |name: &str| text.split_whitespace().find_map(|w| w.strip_prefix(name)).unwrap_or_default().to_string();
        (field("JobState="), field("Restarts="))
    }
}

impl Drop for LocalSlurm {
    fn drop(&mut self) {
        let _ = Command::new(script()).arg("stop").arg(&self.dir).status();
    }
}

fn emit(out: &Path) -> String {
    let script = out.with_extension("sbatch");
    ok(&["bench", &fixture(), "--out", out.to_str().unwrap(), "--emit-slurm", script.to_str().unwrap()]);
    script.display().to_string()
}

#[test]
fn slurm_arrays_reproduce_the_local_grid() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(slurm) = LocalSlurm::start(&tmp.path().join("slurm")) else { return };
    let local = tmp.path().join("local");
    ok(&["--quiet", "bench", &fixture(), "--out", local.to_str().unwrap()]);
    let expected = records(&local);
    assert_eq!(expected.len(), 10);

    let chained = tmp.path().join("chained");
    slurm.run("bash", &[&emit(&chained), "--wait"]);
    assert_eq!(records(&chained), expected, "bash SCRIPT --wait differs from the local grid");
    // Each pretraining was trained by one task: its epochs appear in one task's output only.
    let trained = std::fs::read_dir(chained.join("slurm"))
        .unwrap()
        .filter(|e| std::fs::read_to_string(e.as_ref().unwrap().path()).unwrap().contains("pretrain epoch 1/2"))
        .count();
    assert_eq!(trained, 2, "pretraining ran more than once per seed");

    let single = tmp.path().join("single");
    slurm.run("sbatch", &["--wait", &emit(&single)]);
    assert_eq!(records(&single), expected, "sbatch --wait SCRIPT differs from the local grid");

    let report = |dir: &Path| {
        ok(&["--quiet", "report", dir.to_str().unwrap(), "--out", dir.join("report").to_str().unwrap()]);
        std::fs::read_to_string(dir.join("report/report.csv")).unwrap()
    };
    let want = report(&local);
    assert_eq!(report(&chained), want, "the reports differ");
    assert_eq!(report(&single), want, "the reports differ");
}

/// A pretraining cell killed by `scontrol requeue` in the middle of training and run again by
/// Slurm resumes from its last finished epoch and ends with the record of an uninterrupted run.
#[test]
fn a_requeued_cell_resumes_to_the_uninterrupted_record() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(slurm) = LocalSlurm::start(&tmp.path().join("slurm")) else { return };
    // Eight pretraining epochs of about half a second: time to requeue after the first.
    let longer = ["--cells", "0", "--set", "pretrain.epochs=8", "--set", "data.generator.tiles=60"];
    let local = tmp.path().join("local");
    let mut args = ["--quiet", "bench", "FIXTURE", "--out", local.to_str().unwrap()];
    let fixture = fixture();
    args[2] = &fixture;
    ok(&[&args[..], &longer[..]].concat());
    let expected = records(&local);
    assert_eq!(expected.len(), 1);

    let out = tmp.path().join("requeued");
    let job = tmp.path().join("cell.sbatch");
    let command: Vec<String> =
        [env!("CARGO_BIN_EXE_lssg"), "--quiet", "bench", &fixture, "--out", out.to_str().unwrap()]
            .iter()
            .chain(longer.iter())
            .map(|a| format!("'{a}'"))
            .collect();
    let log = tmp.path().join("slurm-%j.out");
    std::fs::write(
        &job,
        format!("#!/bin/bash\n#SBATCH --requeue\n#SBATCH --output={}\nexec {}\n", log.display(), command.join(" ")),
    )
    .unwrap();
    let id = slurm.stdout("sbatch", &["--parsable", job.to_str().unwrap()]).trim().to_string();
    assert!(!id.is_empty(), "sbatch gave no job id");

    // Requeue once the first epoch is committed and before the last.
    let state = |dir: &Path| -> Option<usize> {
        let path = dir.join(&expected[0].0).parent()?.join("pretrain/checkpoint/state.json");
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
        v["epoch"].as_u64().map(|e| e as usize)
    };
    let started = std::time::Instant::now();
    while state(&out).is_none() {
        assert!(started.elapsed().as_secs() < 300, "the job did not finish an epoch: {:?}", slurm.job(&id));
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    slurm.run("scontrol", &["requeue", &id]);
    let at = state(&out).unwrap();
    assert!(at < 8, "requeued only after training ended (epoch {at})");
    // Slurm holds a requeued job back for a while (its begin time): let it start at once.
    while slurm.job(&id).0 != "PENDING" && started.elapsed().as_secs() < 300 {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    slurm.stdout("scontrol", &["update", &format!("JobId={id}"), "StartTime=now"]);
    loop {
        let (job_state, restarts) = slurm.job(&id);
        if job_state == "COMPLETED" {
            assert_eq!(restarts, "1", "the job was not requeued");
            break;
        }
        assert!(
            !["FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL"].contains(&job_state.as_str()),
            "job {id} ended {job_state}"
        );
        assert!(started.elapsed().as_secs() < 600, "job {id} still {job_state}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let run_log = std::fs::read_to_string(out.join(&expected[0].0).parent().unwrap().join("run.log")).unwrap();
    assert_eq!(run_log.matches("bench cell 0:").count(), 2, "the cell did not run twice:\n{run_log}");
    println!("requeued at epoch {at} of 8; the resumed cell's record equals the uninterrupted one's");
    assert_eq!(records(&out), expected, "the requeued cell's record differs from the uninterrupted one");
}
