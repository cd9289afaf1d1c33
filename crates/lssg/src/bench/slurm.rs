//! `lssg bench FILE --emit-slurm SCRIPT` (docs/bench.md §5): one script that is both the
//! submitter and the array task.
//!
//! * `bash SCRIPT [--wait]` submits the pretraining cells as one array and the fine-tuning
//!   cells as a second array with `--dependency=afterok` on the first (and
//!   `--kill-on-invalid-dep=yes`, so a failed pretraining cancels the rest instead of leaving
//!   it pending forever); `--wait` waits for the second.
//! * `sbatch [--wait] SCRIPT` submits every cell as one array, pretraining cells first: a
//!   fine-tuning task whose pretraining has not finished waits for its lock, or does it itself,
//!   so no pretraining is trained twice (`crate::bench::execute`).
//!
//! Each array task runs `lssg bench FILE --out DIR --cells $SLURM_ARRAY_TASK_ID` with the
//! `--set` overrides the script was written with.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::bench::execute::Bench;
use crate::error::{Error, Result};

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlurmScript {
    /// The script.
    pub path: PathBuf,
    /// The pretraining cells (the first array), as `a-b`.
    pub pretrain: String,
    /// The fine-tuning cells (the second array), as `a-b` (empty when there are none).
    pub methods: String,
}

/// Writes the array script of `bench` to `path`, calling the `lssg` binary `exe`. Paths in it
/// are absolute and the tasks start in the current directory (relative data roots resolve as
/// they do here). Creates `<out>/slurm/` for the tasks' output.
pub fn emit(bench: &Bench, path: &Path, exe: &Path) -> Result<SlurmScript> {
    let abs = |p: &Path| std::path::absolute(p).map_err(|source| Error::Io { path: p.to_path_buf(), source });
    let (out, file, exe, cwd) = (abs(&bench.out)?, abs(&bench.path)?, abs(exe)?, abs(Path::new("."))?);
    let logs = out.join("slurm");
    std::fs::create_dir_all(&logs).map_err(|source| Error::Io { path: logs.clone(), source })?;
    let n = bench.grid.cells.len();
    let p = bench.grid.pretrain_cells();
    let s = &bench.file.slurm;
    let range = |a: usize, b: usize| if a < b { format!("{a}-{}", b - 1) } else { String::new() };
    let (pretrain, methods) = (range(0, p), range(p, n));
    let throttle = format!("%{}", s.max_parallel);

    let mut t = String::from("#!/bin/bash\n");
    let mut sbatch = |line: String| writeln!(t, "#SBATCH {line}").expect("write to a String");
    sbatch(format!("--job-name={}", s.job_name));
    sbatch(format!("--array={}{throttle}", range(0, n)));
    sbatch(format!("--cpus-per-task={}", s.cpus_per_task));
    if s.tasks > 1 {
        sbatch(format!("--ntasks={}", s.tasks));
    }
    sbatch(format!("--mem={}", s.mem));
    sbatch(format!("--time={}", s.time));
    sbatch(format!("--output={}/%x-%A_%a.out", logs.display()));
    for (flag, value) in [("partition", &s.partition), ("account", &s.account), ("qos", &s.qos)] {
        if let Some(v) = value {
            sbatch(format!("--{flag}={v}"));
        }
    }
    if s.gpus > 0 {
        sbatch(format!("--gres=gpu:{}", s.gpus));
    }
    for line in &s.extra {
        sbatch(line.clone());
    }
    // Cells that leave `[run] threads` unset get the task's CPUs rather than the node's cores.
    let threads_unset = bench.grid.cells.iter().any(|c| c.config.run.threads.is_none());
    let threads = if threads_unset { " --threads \"${SLURM_CPUS_PER_TASK:-1}\"" } else { "" };
    let set: String = bench.set.iter().map(|o| format!(" --set {}", shell_quote(&o.to_string()))).collect();
    let q = |p: &Path| shell_quote(&p.display().to_string());
    let _ = write!(
        t,
        r#"# Written by `lssg bench {file} --emit-slurm` for {n} cells: pretraining cells {pretrain},
# fine-tuning cells {methods_or_none} (see `lssg bench {file} --list`). docs/bench.md §5.
#   bash THIS_SCRIPT [--wait]   two arrays: pretraining, then fine-tuning (afterok)
#   sbatch [--wait] THIS_SCRIPT one array of every cell
set -euo pipefail
LSSG={exe}
BENCH={file_q}
OUT={out}
cd {cwd}
if [ -z "${{SLURM_ARRAY_TASK_ID:-}}" ]; then
    if [ -n "${{SLURM_JOB_ID:-}}" ]; then
        echo "submit this script as an array: bash $0, or sbatch $0" >&2
        exit 2
    fi
    wait=()
    if [ "${{1:-}}" = "--wait" ]; then wait=(--wait); fi
    pre=$(sbatch --parsable --array={pretrain}{throttle} "$0")
    pre=${{pre%%;*}}
    echo "pretraining cells {pretrain}: job $pre"
"#,
        file = bench.path.display(),
        methods_or_none = methods,
        exe = q(&exe),
        file_q = q(&file),
        out = q(&out),
        cwd = q(&cwd),
    );
    // Every grid has at least one method (the bench file and [finetune] both require one).
    let _ = writeln!(
        t,
        "    echo \"fine-tuning cells {methods}: after job $pre\"\n    post=$(sbatch --parsable \"${{wait[@]}}\" --dependency=afterok:$pre --kill-on-invalid-dep=yes --array={methods}{throttle} \"$0\")\n    echo \"fine-tuning cells {methods}: job ${{post%%;*}}${{wait:+, finished}}\""
    );
    // Several tasks: `srun` starts the cell's data-parallel ranks (docs/distributed.md §3), each
    // array task with its own rendezvous port, as array tasks may share a node.
    let launch = match s.tasks {
        1 => "exec \"$LSSG\"",
        _ => "export MASTER_PORT=\"${MASTER_PORT:-$((20000 + SLURM_JOB_ID % 20000))}\"\nexec srun \"$LSSG\"",
    };
    let _ = writeln!(
        t,
        "    exit 0\nfi\n{launch} bench \"$BENCH\" --out \"$OUT\" --cells \"$SLURM_ARRAY_TASK_ID\"{threads}{set}"
    );
    lssg_scenario::io::write_atomic(path, t.as_bytes())?;
    set_executable(path)?;
    Ok(SlurmScript { path: path.to_path_buf(), pretrain, methods })
}

fn set_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let perms = std::fs::Permissions::from_mode(0o755);
    std::fs::set_permissions(path, perms).map_err(|source| Error::Io { path: path.to_path_buf(), source })
}

/// Single-quotes `s` for bash.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}
