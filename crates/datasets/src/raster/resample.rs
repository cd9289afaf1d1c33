//! Bilinear resampling of a block of source rows onto destination rows of the prediction grid
//! (docs/predict.md §5): pixel centres aligned, source coordinate (i + ½)·S/D − ½ clamped to the
//! source, the convention of the data-set readers in training, so strips join without seams.

/// Source coordinate of destination pixel `i` when `src` pixels map onto `dst` (pixel centres
/// aligned), clamped to the source.
pub(crate) fn source_coord(i: usize, src: usize, dst: usize) -> f64 {
    let s = (i as f64 + 0.5) * src as f64 / dst as f64 - 0.5;
    s.clamp(0.0, (src - 1) as f64)
}

/// Bilinear interpolation of `block` (source rows from `r0`, `sw` wide) onto destination rows
/// `[y0, y0 + rows)` of a `width × height` grid, appended to `out`.
pub(crate) fn resample_into(
    block: &[f32],
    (sw, sh): (usize, usize),
    r0: usize,
    (y0, rows): (usize, usize),
    (width, height): (usize, usize),
    out: &mut Vec<f32>,
) {
    let block_rows = block.len() / sw;
    let xs: Vec<(usize, usize, f32)> = (0..width)
        .map(|x| {
            let fx = source_coord(x, sw, width);
            let i = fx.floor() as usize;
            (i, (i + 1).min(sw - 1), (fx - i as f64) as f32)
        })
        .collect();
    for y in y0..y0 + rows {
        let fy = source_coord(y, sh, height);
        let i = fy.floor() as usize;
        let (a, b) = ((i - r0).min(block_rows - 1), ((i + 1).min(sh - 1) - r0).min(block_rows - 1));
        let ty = (fy - i as f64) as f32;
        let (ra, rb) = (&block[a * sw..(a + 1) * sw], &block[b * sw..(b + 1) * sw]);
        out.extend(xs.iter().map(|&(i0, i1, tx)| {
            let top = ra[i0] + (ra[i1] - ra[i0]) * tx;
            let bottom = rb[i0] + (rb[i1] - rb[i0]) * tx;
            top + (bottom - top) * ty
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_coordinates_align_pixel_centres() {
        // 2× upsampling: destination 0 and 1 sit at source −0.25 (clamped) and 0.25.
        assert_eq!(source_coord(0, 5, 10), 0.0);
        assert!((source_coord(1, 5, 10) - 0.25).abs() < 1e-12);
        assert!((source_coord(9, 5, 10) - 4.0).abs() < 1e-12);
        assert_eq!(source_coord(3, 10, 10), 3.0);
    }

    #[test]
    fn bilinear_of_a_ramp_is_a_ramp() {
        // A horizontal ramp 0..4 over 5 columns, 2 rows, upsampled to 10 × 4.
        let block: Vec<f32> = (0..2).flat_map(|_| (0..5).map(|x| x as f32)).collect();
        let mut out = Vec::new();
        resample_into(&block, (5, 2), 0, (0, 4), (10, 4), &mut out);
        assert_eq!(out.len(), 40);
        for row in out.chunks(10) {
            for (x, &v) in row.iter().enumerate() {
                let want = source_coord(x, 5, 10) as f32;
                assert!((v - want).abs() < 1e-6, "x {x}: {v} vs {want}");
            }
        }
    }
}
