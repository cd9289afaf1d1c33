//! Tables of text cells, and the one Markdown and CSV writer for them. Every table lssg prints
//! or writes (an evaluation's, a run's results, the benchmark report) is built as a [`Table`]
//! and rendered here, so they all quote, escape and align the same way.
//!
//! ```
//! use lssg_core::{Align, Table};
//! let mut t = Table::new(["scenario", "mIoU"]).with_align(1, Align::Right);
//! t.rows.push(vec!["rgb".into(), "51.20".into()]);
//! assert_eq!(t.markdown(), "| scenario | mIoU |\n|---|---:|\n| rgb | 51.20 |\n");
//! assert_eq!(t.csv(), "scenario,mIoU\nrgb,51.20\n");
//! ```

use std::borrow::Cow;
use std::fmt::Write as _;

/// How a Markdown column is aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Align {
    /// The renderer's default (left).
    #[default]
    Left,
    /// Right (numbers).
    Right,
}

/// A table of text cells with an optional caption.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    /// One line above the table (Markdown: in italics), if any.
    pub caption: Option<String>,
    /// Column headers.
    pub header: Vec<String>,
    /// The alignment of each column (as long as `header`).
    pub align: Vec<Align>,
    /// Rows, each as long as `header`.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these column headers, every column left-aligned.
    pub fn new<S: Into<String>>(header: impl IntoIterator<Item = S>) -> Self {
        let header: Vec<String> = header.into_iter().map(Into::into).collect();
        Self { caption: None, align: vec![Align::Left; header.len()], header, rows: Vec::new() }
    }

    /// The table with a caption.
    pub fn with_caption(mut self, caption: impl Into<String>) -> Self {
        self.caption = Some(caption.into());
        self
    }

    /// The table with columns `from..` aligned `align`.
    pub fn with_align(mut self, from: usize, align: Align) -> Self {
        self.align.iter_mut().skip(from).for_each(|a| *a = align);
        self
    }

    /// GitHub-flavoured Markdown: the caption in italics and a blank line (if there is a
    /// caption), the header, the alignment row, the rows. `|` in a cell is escaped.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        if let Some(caption) = &self.caption {
            let _ = write!(s, "*{caption}*\n\n");
        }
        let line = |s: &mut String, cells: &[String]| {
            s.push('|');
            for c in cells {
                let _ = write!(s, " {} |", md_cell(c));
            }
            s.push('\n');
        };
        line(&mut s, &self.header);
        s.push('|');
        for i in 0..self.header.len() {
            s.push_str(match self.align.get(i).copied().unwrap_or_default() {
                Align::Left => "---|",
                Align::Right => "---:|",
            });
        }
        s.push('\n');
        for row in &self.rows {
            line(&mut s, row);
        }
        s
    }

    /// CSV (RFC 4180): the header, then the rows, each field quoted when it needs it.
    pub fn csv(&self) -> String {
        let mut s = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let fields: Vec<Cow<'_, str>> = row.iter().map(|f| csv_field(f)).collect();
            s.push_str(&fields.join(","));
            s.push('\n');
        }
        s
    }
}

/// What a table shows for an undefined value.
pub const UNDEFINED: &str = "–";

/// `v` with `decimals` decimals, or [`UNDEFINED`] when it is `None` or not finite.
///
/// ```
/// use lssg_core::format_number;
/// assert_eq!(format_number(Some(0.51234), 4), "0.5123");
/// assert_eq!(format_number(None, 2), "–");
/// ```
pub fn format_number(v: Option<f64>, decimals: usize) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.decimals$}"),
        _ => UNDEFINED.to_string(),
    }
}

/// Escapes `|` so a cell cannot break a Markdown table.
fn md_cell(s: &str) -> Cow<'_, str> {
    if s.contains('|') { Cow::Owned(s.replace('|', "\\|")) } else { Cow::Borrowed(s) }
}

/// A CSV field, quoted (and its quotes doubled) when it contains a comma, a quote or a line
/// break (RFC 4180).
pub fn csv_field(s: &str) -> Cow<'_, str> {
    if s.contains([',', '"', '\n', '\r']) {
        Cow::Owned(format!("\"{}\"", s.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_escapes_and_aligns() {
        let mut t = Table::new(["a|b", "n", "m"]).with_caption("numbers").with_align(1, Align::Right);
        t.rows.push(vec!["x".into(), "1".into(), "2".into()]);
        assert_eq!(t.markdown(), "*numbers*\n\n| a\\|b | n | m |\n|---|---:|---:|\n| x | 1 | 2 |\n");
    }

    #[test]
    fn csv_quotes_only_what_needs_it() {
        let mut t = Table::new(["scenario", "iou_misc, manmade"]);
        t.rows.push(vec!["say \"hi\"".into(), "0.5".into()]);
        assert_eq!(t.csv(), "scenario,\"iou_misc, manmade\"\n\"say \"\"hi\"\"\",0.5\n");
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
    }

    #[test]
    fn undefined_numbers_show_a_dash() {
        assert_eq!(format_number(Some(12.345), 2), "12.35");
        assert_eq!(format_number(Some(f64::NAN), 2), UNDEFINED);
        assert_eq!(format_number(None, 4), UNDEFINED);
    }
}
