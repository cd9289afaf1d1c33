//! The predicted-map panels (docs/report.md §10.6): per shown test tile, a grid with a row per
//! method and a column per setting, the tile's labels in the first column, classes in the
//! data set's palette and a class legend underneath.
//!
//! The maps are images, not vector drawings: the PNG gets their pixels directly and the SVG
//! embeds each map as a small PNG (`<image>` with a data URI, drawn pixelated), with the text
//! drawn by plotters in both, so the HTML page stays self-contained.

use std::fmt::Write as _;

use lssg_scenario::robustness::TileMap;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::aggregate::GroupReport;
use crate::maps::MapPanel;
use crate::plot_panels::{DrawResult, FAMILY, draw_legend, legend_height};
use crate::plots::{Plot, PlotError, encode_png, ensure_font};

/// The side of a map's box, pixels.
const CELL: u32 = 120;
/// Space between boxes.
const GAP: u32 = 10;
/// The method-name column.
const LEFT: u32 = 150;
/// Title and column headers.
const TOP: u32 = 84;
/// At most this many tiles are drawn.
pub const MAX_TILES: usize = 4;
/// The colour of unlabelled pixels (label 255) and of classes outside the palette.
const VOID: [u8; 3] = [70, 70, 70];

/// Where one map goes and its pixels.
struct Placed<'a> {
    x: u32,
    y: u32,
    height: usize,
    width: usize,
    classes: &'a [u8],
}

/// One tile's grid.
struct Grid<'a> {
    title: String,
    columns: Vec<String>,
    rows: Vec<String>,
    maps: Vec<Placed<'a>>,
    legend: Vec<(String, RGBColor)>,
    palette: &'a [[u8; 3]],
    size: (u32, u32),
}

fn color(palette: &[[u8; 3]], class: u8) -> [u8; 3] {
    palette.get(class as usize).copied().unwrap_or(VOID)
}

/// The scale that fits a `height × width` map into a [`CELL`] box.
fn scale(height: usize, width: usize) -> f64 {
    CELL as f64 / height.max(width).max(1) as f64
}

impl<'a> Grid<'a> {
    fn new(group: &GroupReport, panel: &'a MapPanel, tile: &'a TileMap) -> Self {
        let columns: Vec<String> =
            std::iter::once("labels".to_string()).chain(tile.predictions.iter().map(|p| p.scenario.clone())).collect();
        let palette: &[[u8; 3]] = &panel.methods[0].1.palette;
        let mut maps = Vec::new();
        let mut rows = Vec::new();
        for (r, (method, maps_of)) in panel.methods.iter().enumerate() {
            rows.push(method.clone());
            let Some(own) = maps_of.tiles.iter().find(|t| t.tile == tile.tile) else { continue };
            let y = TOP + r as u32 * (CELL + GAP);
            let mut place = |c: usize, classes: &'a [u8]| {
                if classes.len() == own.height * own.width {
                    let x = LEFT + c as u32 * (CELL + GAP);
                    maps.push(Placed { x, y, height: own.height, width: own.width, classes });
                }
            };
            place(0, &own.labels);
            for (c, name) in columns.iter().enumerate().skip(1) {
                if let Some(p) = own.predictions.iter().find(|p| p.scenario == *name) {
                    place(c, &p.classes);
                }
            }
        }
        let legend: Vec<(String, RGBColor)> = panel
            .class_names
            .iter()
            .enumerate()
            .map(|(k, name)| {
                let [r, g, b] = color(palette, k as u8);
                (name.clone(), RGBColor(r, g, b))
            })
            .chain(std::iter::once(("unlabelled".to_string(), RGBColor(VOID[0], VOID[1], VOID[2]))))
            .collect();
        let width = (LEFT + columns.len() as u32 * (CELL + GAP) + GAP).max(600);
        let height = TOP + rows.len() as u32 * (CELL + GAP) + legend_height(&legend, width);
        let title = format!(
            "{}: test tile {}, seed {}: labels and each method's prediction",
            group.key.label(),
            tile.tile,
            panel.seed
        );
        Grid { title, columns, rows, maps, legend, palette, size: (width, height) }
    }

    /// The text, the frames and the legend (the maps themselves are placed by the caller).
    fn draw_frame<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        root.draw(&Text::new(self.title.clone(), (12, 8), (FAMILY, 16).into_font().color(&BLACK)))?;
        let head = (FAMILY, 12).into_font().color(&BLACK).pos(Pos::new(HPos::Center, VPos::Bottom));
        for (c, name) in self.columns.iter().enumerate() {
            let x = (LEFT + c as u32 * (CELL + GAP) + CELL / 2) as i32;
            // long scenario names break after a `+`
            let lines = wrap(name, 18);
            for (i, line) in lines.iter().rev().enumerate() {
                root.draw(&Text::new(line.clone(), (x, TOP as i32 - 4 - 14 * i as i32), head.clone()))?;
            }
        }
        let side = (FAMILY, 14).into_font().color(&BLACK).pos(Pos::new(HPos::Right, VPos::Center));
        for (r, name) in self.rows.iter().enumerate() {
            let y = (TOP + r as u32 * (CELL + GAP) + CELL / 2) as i32;
            root.draw(&Text::new(name.clone(), (LEFT as i32 - 10, y), side.clone()))?;
        }
        let legend_top = (TOP + self.rows.len() as u32 * (CELL + GAP)) as i32;
        let (w, h) = self.size;
        let strip = root.clone().shrink((0, legend_top), (w, h - legend_top as u32));
        draw_legend(&strip, &self.legend)
    }

    /// Writes each map into an RGB buffer of the figure's size, nearest-neighbour scaled.
    fn blit(&self, rgb: &mut [u8]) {
        let w = self.size.0 as usize;
        for m in &self.maps {
            let s = scale(m.height, m.width);
            let (bw, bh) = ((m.width as f64 * s).round() as usize, (m.height as f64 * s).round() as usize);
            for oy in 0..bh {
                let sy = ((oy as f64 / s) as usize).min(m.height - 1);
                for ox in 0..bw {
                    let sx = ((ox as f64 / s) as usize).min(m.width - 1);
                    let at = ((m.y as usize + oy) * w + m.x as usize + ox) * 3;
                    rgb[at..at + 3].copy_from_slice(&color(self.palette, m.classes[sy * m.width + sx]));
                }
            }
        }
    }

    /// Each map as an `<image>` element holding its pixels as a PNG.
    fn svg_images(&self) -> Result<String, png::EncodingError> {
        let mut out = String::new();
        for m in &self.maps {
            let rgb: Vec<u8> = m.classes.iter().flat_map(|c| color(self.palette, *c)).collect();
            let png = encode_png(&rgb, m.width as u32, m.height as u32)?;
            let s = scale(m.height, m.width);
            let _ = writeln!(
                out,
                "<image x=\"{}\" y=\"{}\" width=\"{:.1}\" height=\"{:.1}\" preserveAspectRatio=\"none\" \
                 style=\"image-rendering:pixelated\" href=\"data:image/png;base64,{}\"/>",
                m.x,
                m.y,
                m.width as f64 * s,
                m.height as f64 * s,
                base64(&png)
            );
        }
        Ok(out)
    }
}

/// `name` in lines of at most about `width` characters, broken after `+`.
fn wrap(name: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for (i, part) in name.split('+').enumerate() {
        let piece = if i == 0 { part.to_string() } else { format!("+{part}") };
        let last = lines.last_mut().expect("one line at least");
        if !last.is_empty() && last.chars().count() + piece.chars().count() > width {
            lines.push(piece);
        } else {
            last.push_str(&piece);
        }
    }
    lines
}

/// Standard base64 with padding (RFC 4648).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> shift) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn draw_grid(name: String, title: String, grid: &Grid<'_>) -> Result<Plot, PlotError> {
    ensure_font()?;
    let fail = |message: String| PlotError::Draw { name: name.clone(), message };
    let (w, h) = grid.size;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
        grid.draw_frame(&root).map_err(|e| fail(e.to_string()))?;
        root.present().map_err(|e| fail(e.to_string()))?;
    }
    let images = grid.svg_images().map_err(|e| fail(e.to_string()))?;
    let end = svg.rfind("</svg>").ok_or_else(|| fail("no closing </svg>".into()))?;
    svg.insert_str(end, &images);
    let mut rgb = vec![255u8; w as usize * h as usize * 3];
    grid.blit(&mut rgb);
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        grid.draw_frame(&root).map_err(|e| fail(e.to_string()))?;
        root.present().map_err(|e| fail(e.to_string()))?;
    }
    let png = encode_png(&rgb, w, h).map_err(|e| fail(e.to_string()))?;
    Ok(Plot { name, title, png, svg })
}

/// One figure per shown tile (at most [`MAX_TILES`]), none without recorded maps.
pub fn map_plots(group: &GroupReport) -> Result<Vec<Plot>, PlotError> {
    let Some(panel) = group.maps.as_ref().filter(|p| !p.methods.is_empty()) else { return Ok(Vec::new()) };
    panel.methods[0]
        .1
        .tiles
        .iter()
        .take(MAX_TILES)
        .map(|tile| {
            let name = format!("{}_maps_tile{}", group.key.slug(), tile.tile);
            let title =
                format!("{}: predicted maps of test tile {} (seed {})", group.key.label(), tile.tile, panel.seed);
            draw_grid(name, title, &Grid::new(group, panel, tile))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_examples() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn long_scenario_names_break_after_a_plus() {
        assert_eq!(wrap("optical", 18), ["optical"]);
        assert_eq!(wrap("optical+sar+height", 12), ["optical+sar", "+height"]);
    }
}
