//! The colour preview (docs/predict.md §7): the label map, subsampled so that its longer side is
//! at most [`PREVIEW_SIDE`] pixels (memory stays small for any scene), coloured with the palette,
//! with a legend of colour swatches and class names on the right, written as a PNG.

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use crate::blend::FinishedRows;
use crate::error::{Error, Result};
use crate::predict::RowSink;

/// The longest side of the map in the preview.
pub const PREVIEW_SIDE: usize = 1024;
/// DejaVu Sans, shared with lssg-report (crates/report/assets, Bitstream Vera licence).
static FONT: &[u8] = include_bytes!("../../report/assets/DejaVuSans.ttf");
const FAMILY: &str = "lssg-predict-sans";
const LEGEND: usize = 220;

/// Collects a subsampled label map while rows stream past.
#[derive(Debug, Clone)]
pub struct PreviewSink {
    step: usize,
    width: usize,
    height: usize,
    labels: Vec<u8>,
}

impl PreviewSink {
    /// A preview of a `height × width` scene.
    pub fn new(height: usize, width: usize) -> Self {
        let step = height.max(width).div_ceil(PREVIEW_SIDE).max(1);
        let (w, h) = (width.div_ceil(step), height.div_ceil(step));
        Self { step, width: w, height: h, labels: vec![0; w * h] }
    }

    /// Writes the PNG: the map coloured with `palette` and a legend of `names`.
    pub fn write(&self, path: &Path, names: &[String], palette: &[[u8; 3]]) -> Result<()> {
        let fail = |e: String| Error::Write { path: path.to_path_buf(), message: e };
        static REGISTERED: OnceLock<bool> = OnceLock::new();
        if !*REGISTERED.get_or_init(|| register_font(FAMILY, FontStyle::Normal, FONT).is_ok()) {
            return Err(fail("cannot load the legend font".into()));
        }
        let rows_needed = 16 + 24 * names.len();
        let (w, h) = (self.width + LEGEND, self.height.max(rows_needed));
        let mut rgb = vec![255u8; w * h * 3];
        for y in 0..self.height {
            for x in 0..self.width {
                let c = palette.get(self.labels[y * self.width + x] as usize).copied().unwrap_or([0, 0, 0]);
                rgb[(y * w + x) * 3..(y * w + x) * 3 + 3].copy_from_slice(&c);
            }
        }
        {
            let root = BitMapBackend::with_buffer(&mut rgb, (w as u32, h as u32)).into_drawing_area();
            for (i, name) in names.iter().enumerate() {
                let (x, y) = ((self.width + 12) as i32, (12 + 24 * i) as i32);
                let c = palette.get(i).copied().unwrap_or([0, 0, 0]);
                let swatch = Rectangle::new([(x, y), (x + 16, y + 16)], RGBColor(c[0], c[1], c[2]).filled());
                root.draw(&swatch).map_err(|e| fail(e.to_string()))?;
                let outline = Rectangle::new([(x, y), (x + 16, y + 16)], BLACK.stroke_width(1));
                root.draw(&outline).map_err(|e| fail(e.to_string()))?;
                let text = Text::new(format!("{i} {name}"), (x + 24, y), (FAMILY, 14).into_font().color(&BLACK));
                root.draw(&text).map_err(|e| fail(e.to_string()))?;
            }
            root.present().map_err(|e| fail(e.to_string()))?;
        }
        let png = encode_png(&rgb, w, h).map_err(fail)?;
        lssg_scenario::io::write_atomic(path, &png).map_err(|e| fail(e.to_string()))
    }
}

fn encode_png(rgb: &[u8], w: usize, h: usize) -> std::result::Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w as u32, h as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(rgb).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

impl RowSink for PreviewSink {
    fn write_rows(&mut self, rows: &FinishedRows) -> Result<()> {
        let labels = rows.labels();
        for r in 0..rows.rows {
            let y = rows.y0 + r;
            if !y.is_multiple_of(self.step) {
                continue;
            }
            let dst = (y / self.step) * self.width;
            for x in (0..rows.width).step_by(self.step) {
                self.labels[dst + x / self.step] = labels[r * rows.width + x];
            }
        }
        Ok(())
    }
}
