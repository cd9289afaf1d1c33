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
