//! The one percentile of lssg: the bootstrap intervals of the scores (docs/method.md §3.5) and
//! of the report (docs/report.md §2.2) are both read off sorted resamples with it.

/// The `q`-quantile (`q` clamped to [0, 1]) of ascending `sorted` values by linear
/// interpolation between order statistics (Hyndman & Fan type 7, numpy's default):
/// with h = q·(n − 1), `sorted[⌊h⌋] + (h − ⌊h⌋)·(sorted[⌊h⌋ + 1] − sorted[⌊h⌋])`, and
/// `sorted[n − 1]` itself when ⌊h⌋ is the last index. `None` for no values.
///
/// ```
/// use lssg_core::percentile;
/// let s = [1.0, 2.0, 3.0, 4.0];
/// assert_eq!(percentile(&s, 0.5), Some(2.5));
/// assert_eq!(percentile(&s, 0.25), Some(1.75));
/// assert_eq!(percentile(&s, 1.0), Some(4.0));
/// assert_eq!(percentile(&[], 0.5), None);
/// ```
pub fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let h = last as f64 * q.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    if lo >= last {
        return Some(sorted[last]);
    }
    Some(sorted[lo] + (h - lo as f64) * (sorted[lo + 1] - sorted[lo]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolates_between_order_statistics() {
        let s = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(percentile(&s, 0.5), Some(3.0));
        assert_eq!(percentile(&s, 0.25), Some(2.0));
        assert!((percentile(&s, 0.1).unwrap() - 1.4).abs() < 1e-12);
        assert_eq!(percentile(&s, 0.0), Some(1.0));
        assert_eq!(percentile(&s, 2.0), Some(5.0));
        assert_eq!(percentile(&[7.0], 0.975), Some(7.0));
        // The last order statistic is returned as it is (an infinity is not turned into NaN).
        assert_eq!(percentile(&[1.0, f64::INFINITY], 1.0), Some(f64::INFINITY));
    }
}
