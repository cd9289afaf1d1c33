//! `--restart-stage STAGE` of `lssg run` and `lssg bench`: discards one stage's files, and
//! those of every stage computed from them, so that the next run starts that stage afresh. This
//! is how a run directory whose state is refused on resume (a damaged `state.json`, a NaN in
//! an optimiser file) is recovered without losing the stages before it.
//!
//! | stage | discarded |
//! |---|---|
//! | `pretrain` | `pretrain/`, `scoring/`, `finetune/`, `eval/` |
//! | `scoring` | `scoring/`, `finetune/`, `eval/` except `eval/pretrained.json` |
//! | `finetune/<method>` | `finetune/<method>/`, `eval/<method>.json` |
//! | `eval/<name>` | `eval/<name>.json` |
//!
//! and in every case the results tables and a bench cell's `cell.json`, which summarise them.

use std::path::PathBuf;

use lssg_report::CELL_FILE;
use lssg_trainer::Method;

use crate::bench::{Bench, CellKind};
use crate::error::{Error, Result};
use crate::reporter::Stage;
use crate::run_dir::RunDir;

/// The name `eval/<name>` uses for the pretrained network.
const PRETRAINED: &str = "pretrained";

/// Parses a stage as the run log names it: `pretrain`, `scoring`, `finetune/<method>` or
/// `eval/<name>` (a method or `pretrained`).
pub fn parse_stage(text: &str) -> Result<Stage> {
    let method = |name: &str| {
        Method::ALL.into_iter().find(|m| m.name() == name).ok_or_else(|| {
            let known: Vec<&str> = Method::ALL.iter().map(|m| m.name()).collect();
            let reason = format!("unknown method {name:?}; known: {}", known.join(", "));
            Error::RestartStage { stage: text.to_string(), reason }
        })
    };
    match text.split_once('/') {
        None if text == "pretrain" => Ok(Stage::Pretrain),
        None if text == "scoring" => Ok(Stage::Scoring),
        Some(("finetune", name)) => Ok(Stage::Finetune(method(name)?)),
        Some(("eval", PRETRAINED)) => Ok(Stage::Eval(PRETRAINED.into())),
        Some(("eval", name)) => Ok(Stage::Eval(method(name)?.name().to_string())),
        _ => Err(Error::RestartStage {
            stage: text.to_string(),
            reason: "expected pretrain, scoring, finetune/<method> or eval/<method|pretrained>".into(),
        }),
    }
}

/// The files and directories of `dir` that restarting `stage` discards (whether they exist or
/// not).
pub fn discarded(dir: &RunDir, stage: &Stage) -> Vec<PathBuf> {
    let root = dir.root();
    let mut paths = vec![root.join("results.md"), root.join("results.json"), root.join("results.csv")];
    paths.push(root.join(CELL_FILE));
    match stage {
        Stage::Pretrain => {
            paths.extend(["pretrain", "scoring", "finetune", "eval"].map(|d| root.join(d)));
        }
        Stage::Scoring => {
            paths.extend([root.join("scoring"), root.join("finetune")]);
            paths.extend(Method::ALL.iter().map(|m| dir.eval(m.name())));
        }
        Stage::Finetune(method) => paths.extend([dir.finetune(*method), dir.eval(method.name())]),
        Stage::Eval(name) => paths.push(dir.eval(name)),
    }
    paths
}

/// Discards `stage` in `dir` (see the module's table) and returns what existed and was removed.
pub fn restart_stage(dir: &RunDir, stage: &Stage) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    for path in discarded(dir, stage) {
        let result = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else if path.exists() {
            std::fs::remove_file(&path)
        } else {
            continue;
        };
        result.map_err(|source| Error::Io { path: path.clone(), source })?;
        removed.push(path);
    }
    Ok(removed)
}

/// Whether a bench cell of `kind` runs `stage`.
fn cell_runs(kind: CellKind, stage: &Stage) -> bool {
    match (kind, stage) {
        (CellKind::Pretrain, Stage::Pretrain | Stage::Scoring) => true,
        (CellKind::Pretrain, Stage::Eval(name)) => name == PRETRAINED,
        (CellKind::Method(m), Stage::Finetune(s)) => m == *s,
        (CellKind::Method(m), Stage::Eval(name)) => m.name() == name,
        _ => false,
    }
}

/// Discards `stage` in every cell of `cells` that runs it (`lssg bench --restart-stage`); a
/// pretraining cell's `pretrain` or `scoring` also discards the whole directories of the
/// fine-tuning cells computed from it. Returns what was removed; a stage no selected cell runs
/// is an error.
pub fn restart_cells(bench: &Bench, cells: &[usize], stage: &Stage) -> Result<Vec<PathBuf>> {
    let grid = &bench.grid.cells;
    let targets: Vec<usize> = cells.iter().copied().filter(|&i| cell_runs(grid[i].kind, stage)).collect();
    if targets.is_empty() {
        return Err(Error::RestartStage {
            stage: stage.to_string(),
            reason: format!("none of the {} selected cells runs this stage (see --list)", cells.len()),
        });
    }
    let mut removed = Vec::new();
    for &i in &targets {
        let dir = RunDir::new(bench.dir(&grid[i]));
        dir.check_config(&grid[i].config)?;
        removed.extend(restart_stage(&dir, stage)?);
        if matches!(stage, Stage::Pretrain | Stage::Scoring) {
            for cell in grid.iter().filter(|c| c.pretrain == i && c.index != i) {
                let path = bench.dir(cell);
                if path.exists() {
                    std::fs::remove_dir_all(&path).map_err(|source| Error::Io { path: path.clone(), source })?;
                    removed.push(path);
                }
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_parse_as_the_run_log_names_them() {
        for text in ["pretrain", "scoring", "finetune/guided", "finetune/full-only", "eval/pretrained", "eval/lora"] {
            assert_eq!(parse_stage(text).unwrap().to_string(), text);
        }
        for bad in ["", "finetune", "finetune/nope", "eval/x", "train/guided", "pretrain/x"] {
            assert!(matches!(parse_stage(bad), Err(Error::RestartStage { .. })), "{bad}");
        }
    }

    #[test]
    fn restarting_a_method_keeps_the_stages_before_it() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = RunDir::new(tmp.path());
        let files = [
            "pretrain/checkpoint/state.json",
            "scoring/probabilities.json",
            "finetune/guided/checkpoint/state.json",
            "finetune/uniform/checkpoint/state.json",
            "eval/guided.json",
            "eval/uniform.json",
            "eval/pretrained.json",
            "results.md",
        ];
        for f in files {
            let p = tmp.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b"x").unwrap();
        }
        let removed = restart_stage(&dir, &Stage::Finetune(Method::Guided)).unwrap();
        assert_eq!(removed.len(), 3, "{removed:?}");
        assert!(!dir.finetune(Method::Guided).exists() && !dir.eval("guided").exists());
        assert!(dir.finetune(Method::Uniform).exists() && dir.eval("uniform").exists());
        restart_stage(&dir, &Stage::Scoring).unwrap();
        assert!(dir.eval("pretrained").exists() && !dir.eval("uniform").exists());
        assert!(tmp.path().join("pretrain/checkpoint/state.json").exists());
        assert!(!tmp.path().join("scoring").exists() && !tmp.path().join("finetune").exists());
        restart_stage(&dir, &Stage::Pretrain).unwrap();
        assert!(!tmp.path().join("pretrain").exists() && !tmp.path().join("eval").exists());
    }
}
