//! Label colours: the data set's own palette where it has one (Potsdam), else a qualitative
//! palette. `lssg predict` colours its label rasters with it and `lssg export` records it.

use crate::config::DataConfig;

/// The colour of each of `n` classes of the data set of `config`.
pub fn class_palette(config: &DataConfig, n: usize) -> Vec<[u8; 3]> {
    match config {
        DataConfig::Potsdam(_) => crate::potsdam::PALETTE.to_vec(),
        _ => default_palette(n),
    }
}

/// A qualitative palette of `n` colours (Potsdam-like first entries, then a hue wheel).
pub fn default_palette(n: usize) -> Vec<[u8; 3]> {
    const BASE: [[u8; 3]; 10] = [
        [31, 119, 180],
        [255, 127, 14],
        [44, 160, 44],
        [214, 39, 40],
        [148, 103, 189],
        [140, 86, 75],
        [227, 119, 194],
        [127, 127, 127],
        [188, 189, 34],
        [23, 190, 207],
    ];
    (0..n)
        .map(|i| {
            if i < BASE.len() {
                return BASE[i];
            }
            let h = (i as f64 * 0.618_033_988_75).fract() * 6.0;
            let x = (255.0 * (1.0 - (h % 2.0 - 1.0).abs())) as u8;
            match h as usize {
                0 => [255, x, 0],
                1 => [x, 255, 0],
                2 => [0, 255, x],
                3 => [0, x, 255],
                4 => [x, 0, 255],
                _ => [255, 0, x],
            }
        })
        .collect()
}
