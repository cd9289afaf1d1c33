//! Data-parallel training and evaluation (docs/distributed.md §2): what each rank of a
//! [`ProcessGroup`] does with its share and how the shares are combined.
//!
//! The group is the one the binary installed for this thread
//! ([`lssg_torch::distributed::install`]); without one every function here is the identity and
//! the single-process path runs unchanged.
//!
//! - Training: every rank forms the same global batches from the same seeded order and draws
//!   the same scenarios for all of the batch's samples, then keeps its contiguous part
//!   ([`Shard::part`]); gradients are averaged over the ranks after backward
//!   ([`GradientAverager`], a [`GradientHook`]), weighted by each rank's share of the batch.
//! - Evaluation and validation: each rank takes a contiguous block of whole batches
//!   ([`Shard::batch_block`]); confusion matrices are added and per-image and per-tile values
//!   gathered in rank order, which is the data set's order, so the combined metrics equal the
//!   single-process ones exactly.
//! - Strategies with per-scenario statistics reduce them with [`all_reduce_f64`] before use.

use std::cell::Cell;
use std::ops::Range;
use std::rc::Rc;

use lssg_datasets::{BatchLoader, Batches};
use lssg_torch::distributed::{DEFAULT_BUCKET_BYTES, GradientBuckets, ProcessGroup, ReduceOp, current};
use tch::Tensor;
use tch::nn::VarStore;

use crate::error::{Error, Result};
use crate::metrics::MetricsAccumulator;
use crate::train::{GradientHook, StepContext, StepIndex};

/// This process's rank and the number of ranks (0 of 1 in a single process).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This process's rank.
    pub rank: usize,
    /// Processes in the group.
    pub world_size: usize,
}

impl Shard {
    /// The shard of this thread's group; rank 0 of 1 without one.
    pub fn current() -> Self {
        current().map_or(Self { rank: 0, world_size: 1 }, |g| Self { rank: g.rank(), world_size: g.world_size() })
    }

    /// Whether this process writes the files (rank 0).
    pub fn is_primary(&self) -> bool {
        self.rank == 0
    }

    /// This rank's positions among a global batch of `n` samples and its weight in the gradient
    /// mean, `len · world_size / n` (1 when the ranks' parts are equal). Parts are contiguous
    /// and in rank order; a rank whose part would be empty (`n` < world size) computes the last
    /// sample with weight 0, so that it still takes part in every collective.
    pub fn part(&self, n: usize) -> (Range<usize>, f64) {
        let (r, w) = (self.rank, self.world_size);
        let range = r * n / w..(r + 1) * n / w;
        if range.is_empty() {
            return (n.saturating_sub(1)..n, 0.0);
        }
        let weight = (range.len() * w) as f64 / n as f64;
        (range, weight)
    }

    /// This rank's contiguous block of `batches` whole batches (evaluation, validation).
    pub fn batch_block(&self, batches: usize) -> Range<usize> {
        let (r, w) = (self.rank, self.world_size);
        r * batches / w..(r + 1) * batches / w
    }
}

/// Sums `values` over the ranks in place (the identity in a single process): per-scenario loss
/// sums and counts of a strategy that reweights scenarios, before it uses them.
pub fn all_reduce_f64(values: &mut [f64]) -> Result<()> {
    match current() {
        Some(g) => Ok(g.all_reduce_f64(values, ReduceOp::Sum)?),
        None => Ok(()),
    }
}

/// Seconds this process has spent inside collectives so far; `None` in a single process.
pub fn busy_seconds() -> Option<f64> {
    current().map(|g| g.busy_seconds())
}

thread_local! {
    /// This rank's gradient weight for the current step ([`Shard::part`]); 1 in one process.
    static STEP_WEIGHT: Cell<f64> = const { Cell::new(1.0) };
}

/// Sets this rank's gradient weight for the coming step (the epoch loop does, per batch).
pub(crate) fn set_step_weight(weight: f64) {
    STEP_WEIGHT.with(|w| w.set(weight));
}

/// This rank's gradient weight for the current step, `len · world_size / n` for its `len` of the
/// batch's `n` samples (0 for a stand-in sample, 1 in one process): a loss that combines groups
/// across ranks scales its value by `world_size / weight` (see `finetune::dro`).
pub fn step_weight() -> f64 {
    STEP_WEIGHT.with(Cell::get)
}

/// Waits for every rank (the identity in a single process): after rank 0 wrote files that the
/// others read next.
pub fn barrier() -> Result<()> {
    match current() {
        Some(g) => Ok(g.barrier()?),
        None => Ok(()),
    }
}

/// Gives every variable of `vs` rank 0's value: the initial weights before training, and the
/// buffers (batch-norm running statistics, which each rank updates from its own samples) after
/// every epoch, so validation, checkpoints and evaluation see one model.
pub fn broadcast_variables(vs: &VarStore) -> Result<()> {
    let Some(group) = current() else { return Ok(()) };
    let mut variables: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    variables.sort_by(|a, b| a.0.cmp(&b.0));
    // One flat buffer per element kind: one collective instead of one per variable.
    let mut kinds: Vec<tch::Kind> = variables.iter().map(|(_, v)| v.kind()).collect();
    kinds.dedup();
    kinds.sort_by_key(|k| format!("{k:?}"));
    kinds.dedup();
    for kind in kinds {
        let same: Vec<&Tensor> = variables.iter().map(|(_, v)| v).filter(|v| v.kind() == kind).collect();
        let parts: Vec<Tensor> = same.iter().map(|v| v.detach().to_device(tch::Device::Cpu).reshape([-1])).collect();
        let flat = Tensor::cat(&parts, 0);
        group.broadcast(&flat, 0)?;
        let mut offset = 0;
        for v in same {
            let n = v.numel() as i64;
            let value = flat.narrow(0, offset, n).view(v.size().as_slice()).to_device(v.device());
            tch::no_grad(|| v.shallow_clone().copy_(&value));
            offset += n;
        }
    }
    Ok(())
}

/// The batches of one evaluation pass over `loader` that this rank runs: all of them in a
/// single process, else its contiguous block ([`Shard::batch_block`]).
pub(crate) fn eval_batches(loader: &BatchLoader) -> Batches {
    let shard = Shard::current();
    if shard.world_size < 2 {
        return loader.epoch(0);
    }
    let block = shard.batch_block(loader.num_batches());
    loader.epoch_parts(0, move |i, n| if block.contains(&i) { 0..n } else { 0..0 })
}

/// Combines an evaluation pass's per-scenario accumulators, loss sums (f64 0-d tensors) and
/// sample count over the ranks (nothing in a single process).
pub(crate) fn combine_pass(
    accs: &mut [MetricsAccumulator],
    loss_sums: &mut [Tensor],
    samples: &mut usize,
) -> Result<()> {
    let Some(group) = current() else { return Ok(()) };
    for acc in accs.iter_mut() {
        acc.gather(&group)?;
    }
    let mut totals: Vec<f64> = loss_sums.iter().map(|l| l.double_value(&[])).collect();
    totals.push(*samples as f64);
    group.all_reduce_f64(&mut totals, ReduceOp::Sum)?;
    *samples = totals.pop().unwrap_or(0.0) as usize;
    for (l, total) in loss_sums.iter_mut().zip(totals) {
        *l = Tensor::from(total).to_device(l.device());
    }
    Ok(())
}

/// Refuses to resume a run written by `written` ranks with this group's world size.
pub fn check_world_size(written: Option<usize>, state: &std::path::Path) -> Result<()> {
    let (written, now) = (written.unwrap_or(1), Shard::current().world_size);
    if written != now {
        return Err(Error::WorldSizeChanged { state: state.to_path_buf(), written, now });
    }
    Ok(())
}

/// The world size to record in `state.json`: `None` in a single process (the file stays as
/// before).
pub fn recorded_world_size() -> Option<usize> {
    Some(Shard::current().world_size).filter(|&w| w > 1)
}

/// Prepares a run's step context for this thread's group (nothing without one): rank 0's
/// weights everywhere, and a [`GradientAverager`] as the gradient hook. Returns the averager's
/// per-step weight, which the epoch loop sets.
pub(crate) fn attach(ctx: &mut StepContext<'_>, vs: &VarStore) -> Result<Option<Rc<Cell<f64>>>> {
    let Some(group) = current() else { return Ok(None) };
    broadcast_variables(vs)?;
    // The optimiser's order: trainable variables sorted by name.
    let mut variables: Vec<(String, Tensor)> = vs.variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
    variables.sort_by(|a, b| a.0.cmp(&b.0));
    let averager = GradientAverager::new(group, variables.into_iter().map(|(_, t)| t).collect());
    let weight = averager.weight();
    ctx.gradient_hook = Some(Box::new(averager));
    Ok(Some(weight))
}

/// Averages the gradients over the ranks after backward ([`GradientHook`]): each rank's
/// gradients times its weight ([`Shard::part`], set per step through [`Self::weight`]), summed
/// in DDP-sized buckets and divided by the world size.
pub struct GradientAverager {
    group: Rc<ProcessGroup>,
    like: Vec<Tensor>,
    buckets: GradientBuckets,
    weight: Rc<Cell<f64>>,
}

impl GradientAverager {
    /// An averager for the optimised `variables` (the optimiser's order) over `group`.
    pub fn new(group: Rc<ProcessGroup>, variables: Vec<Tensor>) -> Self {
        let buckets = GradientBuckets::for_tensors(&variables, DEFAULT_BUCKET_BYTES);
        Self { group, like: variables, buckets, weight: Rc::new(Cell::new(1.0)) }
    }

    /// The weight of this rank's next gradients, shared with the loop that forms the batches.
    pub fn weight(&self) -> Rc<Cell<f64>> {
        Rc::clone(&self.weight)
    }
}

impl GradientHook for GradientAverager {
    fn after_backward(&mut self, gradients: &[Tensor], _at: StepIndex) -> Result<()> {
        let weight = self.weight.get();
        if weight != 1.0 {
            tch::no_grad(|| {
                for g in gradients.iter().filter(|g| g.defined()) {
                    let _ = g.shallow_clone().g_mul_scalar_(weight);
                }
            });
        }
        Ok(self.buckets.average(&self.group, gradients, &self.like)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_each_batch_once_in_rank_order() {
        for world_size in 1..5 {
            for n in 1..11 {
                let parts: Vec<_> = (0..world_size).map(|rank| Shard { rank, world_size }.part(n)).collect();
                let covered: Vec<usize> = parts.iter().filter(|(_, w)| *w > 0.0).flat_map(|(r, _)| r.clone()).collect();
                assert_eq!(covered, (0..n).collect::<Vec<_>>(), "{world_size} ranks, {n} samples");
                let total: f64 = parts.iter().map(|(_, w)| w).sum();
                assert!((total - world_size as f64).abs() < 1e-12, "weights average to one");
                assert!(parts.iter().all(|(r, _)| !r.is_empty()), "every rank computes something");
            }
        }
        assert_eq!(Shard { rank: 1, world_size: 2 }.part(4), (2..4, 1.0));
        assert_eq!(Shard { rank: 0, world_size: 2 }.part(1), (0..1, 0.0), "rank 0 idles with weight 0");
        assert_eq!(Shard { rank: 1, world_size: 2 }.part(1), (0..1, 2.0));
    }

    #[test]
    fn batch_blocks_are_contiguous_and_cover_every_batch() {
        let blocks: Vec<_> = (0..3).map(|rank| Shard { rank, world_size: 3 }.batch_block(7)).collect();
        assert_eq!(blocks, [0..2, 2..4, 4..7]);
        assert_eq!(Shard { rank: 0, world_size: 1 }.batch_block(5), 0..5);
    }

    #[test]
    fn without_a_group_everything_is_the_identity() {
        let mut v = [1.5, -2.0];
        all_reduce_f64(&mut v).unwrap();
        assert_eq!(v, [1.5, -2.0]);
        barrier().unwrap();
        assert_eq!(Shard::current(), Shard { rank: 0, world_size: 1 });
        assert_eq!(recorded_world_size(), None);
        check_world_size(None, std::path::Path::new("state.json")).unwrap();
        let e = check_world_size(Some(2), std::path::Path::new("state.json")).unwrap_err();
        assert!(e.to_string().contains("--nproc 2"), "{e}");
    }
}
