//! Data-parallel scoring (docs/distributed.md §2): with a group installed on this thread
//! ([`lssg_torch::distributed::current`]), each rank scores a contiguous block of whole batches
//! and the per-sample rows are gathered in rank order, which is the data set's order, so every
//! rank ends with the rows one process computes, bit for bit. Without a group both functions are
//! the identity.

use lssg_datasets::{BatchLoader, Batches};
use lssg_torch::distributed::current;

use crate::error::Result;

/// The batches this rank scores: all of them in one process, else its contiguous block.
pub(crate) fn batches(loader: &BatchLoader) -> Batches {
    let Some(group) = current() else { return loader.epoch(0) };
    let (r, w, n) = (group.rank(), group.world_size(), loader.num_batches());
    let block = r * n / w..(r + 1) * n / w;
    loader.epoch_parts(0, move |i, len| if block.contains(&i) { 0..len } else { 0..0 })
}

/// Replaces this rank's latent and task rows by every rank's, in rank order, and fills the
/// latent shape from a rank that scored a batch.
pub(crate) fn gather_rows(latent: &mut Vec<Vec<f64>>, task: &mut Vec<Vec<f64>>, shape: &mut Vec<i64>) -> Result<()> {
    let Some(group) = current() else { return Ok(()) };
    let width = latent.first().or(task.first()).map_or(0, Vec::len);
    let mut widths = [width as f64];
    group.all_reduce_f64(&mut widths, lssg_torch::ReduceOp::Max)?;
    let width = widths[0] as usize;
    for rows in [&mut *latent, &mut *task] {
        let all: Vec<f64> = group.all_gather_f64(&rows.concat())?.concat();
        *rows = if width == 0 { Vec::new() } else { all.chunks(width).map(<[f64]>::to_vec).collect() };
    }
    let shapes = group.all_gather_f64(&shape.iter().map(|&d| d as f64).collect::<Vec<_>>())?;
    if let Some(first) = shapes.into_iter().find(|s| !s.is_empty()) {
        *shape = first.into_iter().map(|d| d as i64).collect();
    }
    Ok(())
}
