//! DSTL polygons to pixel masks (docs/method.md §8.1).
//!
//! Coordinates: with the image `W × H` and the grid's `Xmax`, `Ymin` (< 0),
//! W′ = W·W/(W+1), H′ = H·H/(H+1), x_px = x·W′/Xmax, y_px = y·H′/Ymin (the competition's
//! published transform). Pixel `(i, j)` covers `[i, i+1) × [j, j+1)`; it is inside a polygon
//! when its centre `(i + ½, j + ½)` is, by the even-odd rule over all the polygon's rings
//! (so exteriors fill 1 and holes cut back to 0). Polygons of a multipolygon are OR-ed, so
//! overlapping parts stay filled. A scanline fill: per row, the crossings of every edge with
//! `y = j + ½` (half-open in y, so a vertex on the line counts once), sorted, filled pairwise.

use super::wkt::Polygon;

/// The pixel transform of one image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GridTransform {
    /// x scale: W′ / Xmax.
    pub sx: f64,
    /// y scale: H′ / Ymin.
    pub sy: f64,
}

impl GridTransform {
    /// The transform of an image `width × height` with grid size `xmax`, `ymin`.
    pub fn new(width: usize, height: usize, xmax: f64, ymin: f64) -> Self {
        let (w, h) = (width as f64, height as f64);
        let w_ = w * w / (w + 1.0);
        let h_ = h * h / (h + 1.0);
        Self { sx: w_ / xmax, sy: h_ / ymin }
    }

    /// Geo → pixel coordinates.
    pub fn to_pixel(&self, (x, y): (f64, f64)) -> (f64, f64) {
        (x * self.sx, y * self.sy)
    }

    /// Pixel → geo coordinates (the layout writer's inverse).
    pub fn to_geo(&self, (px, py): (f64, f64)) -> (f64, f64) {
        (px / self.sx, py / self.sy)
    }
}

/// Sets `mask[j * width + i] = value` for every pixel whose centre lies in a polygon of
/// `polygons` (geo coordinates, mapped with `t`); other pixels are left as they are.
pub fn fill_polygons(polygons: &[Polygon], t: &GridTransform, width: usize, height: usize, mask: &mut [u8], value: u8) {
    debug_assert_eq!(mask.len(), width * height);
    let mut crossings: Vec<f64> = Vec::new();
    let mut edges: Vec<[f64; 4]> = Vec::new();
    for poly in polygons {
        // Edges in pixel coordinates, with their y range, for this polygon's rings.
        edges.clear();
        let (mut ymin, mut ymax) = (f64::INFINITY, f64::NEG_INFINITY);
        for ring in &poly.rings {
            let n = ring.len();
            for k in 0..n {
                let (x0, y0) = t.to_pixel(ring[k]);
                let (x1, y1) = t.to_pixel(ring[(k + 1) % n]);
                if y0 != y1 {
                    edges.push([x0, y0, x1, y1]);
                    ymin = ymin.min(y0.min(y1));
                    ymax = ymax.max(y0.max(y1));
                }
            }
        }
        if edges.is_empty() {
            continue;
        }
        // Rows whose centre can cross: j + ½ in [ymin, ymax).
        let j0 = ((ymin - 0.5).ceil().max(0.0)) as usize;
        let j1 = ((ymax - 0.5).ceil().min(height as f64).max(0.0)) as usize;
        for j in j0..j1 {
            let yc = j as f64 + 0.5;
            crossings.clear();
            for &[x0, y0, x1, y1] in &edges {
                if (y0 <= yc) != (y1 <= yc) {
                    crossings.push(x0 + (yc - y0) * (x1 - x0) / (y1 - y0));
                }
            }
            crossings.sort_unstable_by(f64::total_cmp);
            let row = &mut mask[j * width..(j + 1) * width];
            for pair in crossings.chunks_exact(2) {
                // Columns whose centre i + ½ lies in [a, b).
                let a = (pair[0] - 0.5).ceil().max(0.0);
                let b = (pair[1] - 0.5).ceil().min(width as f64);
                if b > a {
                    row[a as usize..b as usize].fill(value);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> Vec<(f64, f64)> {
        vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
    }

    const ID: GridTransform = GridTransform { sx: 1.0, sy: 1.0 };

    #[test]
    fn square_with_hole_fills_centres() {
        let poly = Polygon { rings: vec![rect(1.0, 1.0, 7.0, 6.0), rect(3.0, 2.0, 5.0, 4.0)] };
        let mut m = vec![0u8; 8 * 8];
        fill_polygons(&[poly], &ID, 8, 8, &mut m, 1);
        let count = m.iter().filter(|&&v| v == 1).count();
        assert_eq!(count, 6 * 5 - 2 * 2);
        assert_eq!(m[8 + 1], 1);
        assert_eq!(m[2 * 8 + 3], 0); // in the hole
        assert_eq!(m[8], 0); // left of the exterior
        assert_eq!(m[6 * 8 + 1], 0); // row 6 is outside [1, 6)
    }

    #[test]
    fn triangle_by_centres_and_clipping() {
        // Right triangle (0,0) (4,0) (0,4): centre (i+½, j+½) inside when i + j + 1 < 4.
        let poly = Polygon { rings: vec![vec![(0.0, 0.0), (4.0, 0.0), (0.0, 4.0)]] };
        let mut m = vec![0u8; 16];
        fill_polygons(std::slice::from_ref(&poly), &ID, 4, 4, &mut m, 1);
        for j in 0..4 {
            for i in 0..4 {
                assert_eq!(m[j * 4 + i], u8::from(i + j + 1 < 4), "({i},{j})");
            }
        }
        // Partly outside the image: clipped, no panic.
        let big = Polygon { rings: vec![rect(-5.0, -5.0, 50.0, 2.0)] };
        let mut m = vec![0u8; 16];
        fill_polygons(&[big], &ID, 4, 4, &mut m, 1);
        assert_eq!(m.iter().filter(|&&v| v == 1).count(), 8);
    }

    #[test]
    fn transform_matches_the_competition_formula() {
        let t = GridTransform::new(3349, 3391, 0.009169, -0.00904);
        let (px, py) = t.to_pixel((0.009169, -0.00904));
        assert!((px - 3349.0 * 3349.0 / 3350.0).abs() < 1e-9);
        assert!((py - 3391.0 * 3391.0 / 3392.0).abs() < 1e-9);
        let back = t.to_geo((px, py));
        assert!((back.0 - 0.009169).abs() < 1e-15 && (back.1 + 0.00904).abs() < 1e-15);
    }
}
