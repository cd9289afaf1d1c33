//! What the user sees while a run works: indicatif bars (stage, epoch, step, loss, lr,
//! samples/s, ETA) on a terminal, plain log lines otherwise, nothing with `--quiet`.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lssg_core::format_number;
use lssg_trainer::{EpochRecord, StepEvent, TrainObserver};

use crate::reporter::{Reporter, Stage, StageStatus};

/// Progress on stderr.
#[derive(Debug)]
pub struct ConsoleReporter {
    quiet: bool,
    terminal: bool,
    stage: String,
    bar: Option<ProgressBar>,
}

impl ConsoleReporter {
    /// Bars when stderr is a terminal, plain lines when not, nothing when `quiet`.
    pub fn new(quiet: bool) -> Self {
        Self { quiet, terminal: std::io::stderr().is_terminal(), stage: String::new(), bar: None }
    }

    fn line(&self, message: &str) {
        if self.quiet {
            return;
        }
        match &self.bar {
            Some(bar) => bar.println(message),
            None => eprintln!("{message}"),
        }
    }

    fn start_bar(&mut self, len: usize, prefix: String) {
        self.finish_bar();
        if self.quiet || !self.terminal {
            return;
        }
        let bar = ProgressBar::with_draw_target(Some(len as u64), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{prefix:>24} [{bar:30}] {pos}/{len} {msg} (ETA {eta})")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(prefix);
        self.bar = Some(bar);
    }

    fn finish_bar(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for ConsoleReporter {
    fn drop(&mut self) {
        self.finish_bar();
    }
}

impl Reporter for ConsoleReporter {
    fn stage(&mut self, stage: &Stage, status: StageStatus) {
        self.stage = stage.to_string();
        self.line(&format!("lssg: {}", status.line(stage)));
    }

    fn info(&mut self, message: &str) {
        self.line(&format!("lssg: {message}"));
    }

    fn progress(&mut self, what: &str, done: usize, total: usize) {
        if self.bar.is_none() || done <= 1 {
            self.start_bar(total, what.to_string());
        }
        if let Some(bar) = &self.bar {
            bar.set_position(done as u64);
        } else if !self.quiet && done == total {
            eprintln!("lssg: {what}: {done}/{total} samples");
        }
    }

    fn observer(&mut self) -> &mut dyn TrainObserver {
        self
    }
}

impl TrainObserver for ConsoleReporter {
    fn run_start(&mut self, first: usize, epochs: usize) {
        if first > 1 && first <= epochs {
            self.line(&format!("lssg: {}: resuming at epoch {first} of {epochs}", self.stage));
        } else if first > epochs {
            self.line(&format!("lssg: {}: all {epochs} epochs done earlier", self.stage));
        }
    }

    fn epoch_start(&mut self, epoch: usize, epochs: usize, steps: usize) {
        let prefix = format!("{} {epoch}/{epochs}", self.stage);
        self.start_bar(steps, prefix);
    }

    fn step(&mut self, e: &StepEvent) {
        if let Some(bar) = &self.bar {
            bar.set_position(e.step as u64);
            bar.set_message(format!("loss {:.4} lr {:.2e} {:.0} samples/s", e.loss, e.lr, e.samples_per_s));
        }
    }

    fn validation_start(&mut self, epoch: usize, batches: usize) {
        self.start_bar(batches, format!("{} {epoch} validation", self.stage));
    }

    fn validation_progress(&mut self, done: usize, _total: usize) {
        if let Some(bar) = &self.bar {
            bar.set_position(done as u64);
        }
    }

    fn epoch_end(&mut self, r: &EpochRecord) {
        self.finish_bar();
        let val = match (&r.val_loss, &r.val) {
            (Some(loss), Some(m)) => format!(
                ", val loss {loss:.4}, soft Jaccard {:.4}, mIoU {}{}",
                m.soft_jaccard.mean,
                format_number(m.miou, 4),
                if r.best { " (best)" } else { "" }
            ),
            _ => String::new(),
        };
        self.line(&format!(
            "lssg: {} epoch {}/{}: lr {:.2e}, train loss {:.4}, {:.1} samples/s, {:.1} s{val}",
            self.stage, r.epoch, r.epochs, r.lr, r.train_loss, r.samples_per_s, r.wall_seconds
        ));
    }

    fn evaluation_start(&mut self, scenarios: &[String], batches: usize) {
        self.start_bar(batches, format!("{} ({} scenarios)", self.stage, scenarios.len()));
    }

    fn evaluation_progress(&mut self, done: usize, _total: usize) {
        if let Some(bar) = &self.bar {
            bar.set_position(done as u64);
        }
    }
}
