//! A WKT parser for the polygons of DSTL's `train_wkt_v4.csv` (docs/method.md §8.1): `MULTIPOLYGON`
//! (including `MULTIPOLYGON EMPTY`) and `POLYGON`, with optional Z coordinates dropped.
//!
//! Fields can be several MB long, so the parser is a single pass over the bytes with no
//! per-coordinate allocation beyond the output rings. Errors say what was expected and at which
//! byte offset; the caller adds the file and line ([`crate::Error::Parse`]).

/// A closed ring of `(x, y)` vertices (the closing vertex may or may not repeat the first).
pub type Ring = Vec<(f64, f64)>;

/// The largest coordinate magnitude accepted. DSTL's grid coordinates lie within about ±0.01;
/// far larger values can only be damage, and near f64::MAX they overflow to infinity once
/// scaled to pixels, which would silently fill or empty whole rows of the label map.
pub const MAX_COORDINATE: f64 = 1e12;

/// A polygon: its exterior ring first, then its holes.
#[derive(Debug, Clone, PartialEq)]
pub struct Polygon {
    /// Exterior, then holes.
    pub rings: Vec<Ring>,
}

/// Parses a WKT `MULTIPOLYGON` or `POLYGON` into its polygons (empty for `… EMPTY`).
pub fn parse_multipolygon(text: &str) -> Result<Vec<Polygon>, String> {
    let mut p = Parser { s: text.as_bytes(), i: 0 };
    p.ws();
    let word = p.word();
    let multi = match word.to_ascii_uppercase().as_str() {
        "MULTIPOLYGON" => true,
        "POLYGON" => false,
        "" => return Err("empty field: expected MULTIPOLYGON".into()),
        other => return Err(format!("expected MULTIPOLYGON or POLYGON, found `{}`", truncate(other))),
    };
    p.ws();
    // Optional dimension tag (`Z`, `M`, `ZM`).
    let save = p.i;
    let tag = p.word().to_ascii_uppercase();
    match tag.as_str() {
        "Z" | "M" | "ZM" => p.ws(),
        _ => p.i = save,
    }
    let save = p.i;
    if p.word().eq_ignore_ascii_case("EMPTY") {
        p.end()?;
        return Ok(Vec::new());
    }
    p.i = save;
    let polygons = if multi {
        let mut out = Vec::new();
        p.expect(b'(')?;
        loop {
            out.push(p.polygon()?);
            if !p.list_continues()? {
                break;
            }
        }
        out
    } else {
        vec![p.polygon()?]
    };
    p.end()?;
    Ok(polygons)
}

fn truncate(s: &str) -> String {
    if s.len() > 40 { format!("{}…", &s[..s.char_indices().nth(40).map_or(s.len(), |(i, _)| i)]) } else { s.into() }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn word(&mut self) -> String {
        let start = self.i;
        while self.i < self.s.len() && self.s[self.i].is_ascii_alphabetic() {
            self.i += 1;
        }
        String::from_utf8_lossy(&self.s[start..self.i]).into_owned()
    }

    fn found(&self) -> String {
        match self.s.get(self.i) {
            None => "the end of the field".into(),
            Some(_) => {
                let end = (self.i + 20).min(self.s.len());
                format!("`{}`", String::from_utf8_lossy(&self.s[self.i..end]))
            }
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        self.ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected `{}` at byte {}, found {}", c as char, self.i, self.found()))
        }
    }

    /// After an element of a parenthesised list: `,` (more follow) or `)` (list closed).
    fn list_continues(&mut self) -> Result<bool, String> {
        self.ws();
        match self.s.get(self.i) {
            Some(b',') => {
                self.i += 1;
                Ok(true)
            }
            Some(b')') => {
                self.i += 1;
                Ok(false)
            }
            _ => Err(format!("expected `,` or `)` at byte {}, found {}", self.i, self.found())),
        }
    }

    fn end(&mut self) -> Result<(), String> {
        self.ws();
        if self.i == self.s.len() {
            Ok(())
        } else {
            Err(format!("unexpected {} at byte {} after the geometry", self.found(), self.i))
        }
    }

    fn number(&mut self) -> Result<f64, String> {
        self.ws();
        let start = self.i;
        while self.i < self.s.len() && matches!(self.s[self.i], b'0'..=b'9' | b'.' | b'-' | b'+' | b'e' | b'E') {
            self.i += 1;
        }
        let text = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
        match text.parse::<f64>() {
            Ok(v) if v.abs() <= MAX_COORDINATE => Ok(v),
            Ok(v) => Err(format!("coordinate {v:e} at byte {start} is out of range (|x| <= {MAX_COORDINATE:e})")),
            _ => {
                self.i = start;
                Err(format!("expected a number at byte {start}, found {}", self.found()))
            }
        }
    }

    fn polygon(&mut self) -> Result<Polygon, String> {
        self.expect(b'(')?;
        let mut rings = Vec::new();
        loop {
            let start = self.i;
            let ring = self.ring()?;
            if ring.len() < 3 {
                return Err(format!("ring at byte {start} has {} vertices, a ring needs at least 3", ring.len()));
            }
            rings.push(ring);
            if !self.list_continues()? {
                break;
            }
        }
        Ok(Polygon { rings })
    }

    fn ring(&mut self) -> Result<Ring, String> {
        self.expect(b'(')?;
        let mut ring = Vec::new();
        loop {
            let x = self.number()?;
            let y = self.number()?;
            // Drop Z / M values.
            loop {
                self.ws();
                match self.s.get(self.i) {
                    Some(b',') | Some(b')') => break,
                    _ => {
                        self.number()?;
                    }
                }
            }
            ring.push((x, y));
            if !self.list_continues()? {
                break;
            }
        }
        Ok(ring)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_polygons_holes_and_empty() {
        assert_eq!(parse_multipolygon("MULTIPOLYGON EMPTY").unwrap(), vec![]);
        let m = parse_multipolygon(
            "MULTIPOLYGON (((0 0, 1 0, 1 1, 0 1, 0 0), (0.2 0.2, 0.4 0.2, 0.4 0.4, 0.2 0.2)),((2 2,3 2,3 -1e-3,2 2)))",
        )
        .unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].rings.len(), 2);
        assert_eq!(m[0].rings[1][1], (0.4, 0.2));
        assert_eq!(m[1].rings[0][2], (3.0, -0.001));
        let p = parse_multipolygon("POLYGON Z ((0 0 5, 1 0 5, 1 1 5, 0 0 5))").unwrap();
        assert_eq!(p[0].rings[0], vec![(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 0.0)]);
    }

    #[test]
    fn malformed_input_says_what_and_where() {
        for (text, needle) in [
            ("MULTIPOLYGON (((0 0, 1 0, 1 1, 0 0))", "expected `,` or `)`"),
            ("MULTIPOLYGON (((0 0, 1 x, 1 1, 0 0)))", "expected a number at byte"),
            ("MULTIPOLYGON (((0 0, 1 0)))", "at least 3"),
            ("LINESTRING (0 0, 1 1)", "expected MULTIPOLYGON"),
            ("MULTIPOLYGON (((0 0, 1 0, 1 1, 0 0))) junk", "after the geometry"),
            ("", "empty field"),
            ("MULTIPOLYGON (((0 0, 1e308 0, 1 1, 0 0)))", "out of range"),
            ("MULTIPOLYGON (((0 0, 1 0, 1 -1e13, 0 0)))", "out of range"),
            ("MULTIPOLYGON (((0 0, 1 0, 1 1e999, 0 0)))", "out of range"),
        ] {
            let err = parse_multipolygon(text).unwrap_err();
            assert!(err.contains(needle), "{text:?}: {err}");
        }
    }
}
