//! `lssg bench --jobs N`: cells in N processes on one machine (docs/bench.md §2). Each child is
//! `lssg bench FILE --out DIR --cells I --threads T` with the parent's `--set` overrides, and
//! T = the cores divided by N
//! (at least 1), its output in `DIR/logs/cell-I.log`. Pretraining cells run first, as one
//! wave; fine-tuning cells start when it is over. A failed cell does not stop the others; a
//! fine-tuning cell whose pretraining failed is not started.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::bench::execute::{Bench, CellStatus};
use crate::bench::grid::CellKind;
use crate::error::{Error, Result};

/// How a parallel run went.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobsSummary {
    /// Cells that ran to the end now.
    pub ran: Vec<usize>,
    /// Cells that had finished earlier.
    pub done_earlier: Vec<usize>,
    /// Cells that failed, with their log file.
    pub failed: Vec<(usize, PathBuf)>,
    /// Cells not started because their pretraining failed.
    pub blocked: Vec<usize>,
}

/// The libtorch threads of each of `jobs` processes on this machine.
pub fn threads_per_job(jobs: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / jobs.max(1)).max(1)
}

/// Runs `cells` of `bench` in at most `jobs` child processes of the `lssg` binary `exe`, each
/// with `threads` libtorch threads; `progress(finished, total, line)` follows them.
pub fn run_parallel(
    bench: &Bench,
    cells: &[usize],
    jobs: usize,
    threads: usize,
    exe: &Path,
    progress: &mut dyn FnMut(usize, usize, &str),
) -> Result<JobsSummary> {
    let mut summary = JobsSummary::default();
    // The pretraining cells the selection needs, then the selected fine-tuning cells.
    let mut first: Vec<usize> = cells.iter().map(|&i| bench.grid.cells[i].pretrain).collect();
    first.sort_unstable();
    first.dedup();
    let second: Vec<usize> =
        cells.iter().copied().filter(|&i| matches!(bench.grid.cells[i].kind, CellKind::Method(_))).collect();
    let total = first.len() + second.len();
    let mut finished = 0;
    for wave in [first, second] {
        let mut queue: Vec<usize> = Vec::new();
        for i in wave {
            let cell = &bench.grid.cells[i];
            if bench.status(cell) == CellStatus::Done {
                summary.done_earlier.push(i);
                finished += 1;
            } else if summary.failed.iter().any(|(f, _)| *f == cell.pretrain) {
                summary.blocked.push(i);
                finished += 1;
            } else {
                queue.push(i);
            }
        }
        queue.reverse();
        let mut running: Vec<(usize, Child, PathBuf)> = Vec::new();
        while !queue.is_empty() || !running.is_empty() {
            while running.len() < jobs.max(1) {
                let Some(i) = queue.pop() else { break };
                let (child, log) = spawn(bench, i, threads, exe)?;
                progress(finished, total, &format!("started cell {i}: {}", super::describe(&bench.grid.cells[i])));
                running.push((i, child, log));
            }
            std::thread::sleep(Duration::from_millis(200));
            let mut k = 0;
            while k < running.len() {
                let status = running[k].1.try_wait().map_err(|source| Error::Io { path: exe.to_path_buf(), source })?;
                let Some(status) = status else {
                    k += 1;
                    continue;
                };
                let (i, _, log) = running.swap_remove(k);
                finished += 1;
                if status.success() {
                    summary.ran.push(i);
                    progress(finished, total, &format!("cell {i} finished"));
                } else {
                    progress(finished, total, &format!("cell {i} FAILED ({status}); see {}", log.display()));
                    summary.failed.push((i, log));
                }
            }
        }
    }
    Ok(summary)
}

fn spawn(bench: &Bench, index: usize, threads: usize, exe: &Path) -> Result<(Child, PathBuf)> {
    let logs = bench.out.join("logs");
    std::fs::create_dir_all(&logs).map_err(|source| Error::Io { path: logs.clone(), source })?;
    let log = logs.join(format!("cell-{index}.log"));
    let file = std::fs::File::create(&log).map_err(|source| Error::Io { path: log.clone(), source })?;
    let err = file.try_clone().map_err(|source| Error::Io { path: log.clone(), source })?;
    let child = Command::new(exe)
        .arg("bench")
        .arg(&bench.path)
        .arg("--out")
        .arg(&bench.out)
        .args(["--cells", &index.to_string(), "--threads", &threads.to_string()])
        .args(bench.set.iter().flat_map(|o| ["--set".to_string(), o.to_string()]))
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(err)
        .spawn()
        .map_err(|source| Error::Io { path: exe.to_path_buf(), source })?;
    Ok((child, log))
}
