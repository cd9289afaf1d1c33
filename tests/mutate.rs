//! The seeded mutation engine of the fuzz tests: byte mutations of a file, value mutations
//! inside valid JSON and TOML, and the tally every fuzz target prints. Shared by the test
//! binaries of the workspace (`#[path]`), so each target mutates the same way.
//!
//! A case's outcome is one of: the parser refused it, it parsed but validation refused it, it
//! was accepted and the accepted value passed the target's own checks, or it panicked (caught,
//! counted, and failing the test).

use std::panic::{AssertUnwindSafe, catch_unwind};

/// SplitMix64: small, seeded, the same on every platform.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Numbers at the edges: what a hostile or damaged file holds.
pub const EDGE_NUMBERS: [&str; 22] = [
    "0",
    "-0",
    "-1",
    "1",
    "0.5",
    "2",
    "255",
    "256",
    "65536",
    "-65536",
    "4294967296",
    "18446744073709551616",
    "1e308",
    "-1e308",
    "1e-320",
    "1e400",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "9.9e15",
    "3",
];

/// One to four random byte-level edits: bit flips, edge bytes, insertions, deletions,
/// duplicated ranges, truncation.
pub fn mutate_bytes(rng: &mut Rng, data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = out.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                out[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                out[i] = *rng.pick(&[0u8, 0xff, 0x7f, 0x80, b'9', b'-', b'"', b',', b'\n']);
            }
            2 => {
                let i = rng.below(len + 1);
                out.insert(i, rng.next() as u8);
            }
            3 if len > 1 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(16));
                out.drain(i..i + n);
            }
            4 if len > 1 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(32));
                let chunk: Vec<u8> = out[i..i + n].to_vec();
                let at = rng.below(out.len() + 1);
                out.splice(at..at, chunk);
            }
            5 if len > 0 => out.truncate(rng.below(len)),
            _ if len > 0 => {
                // Overwrite a little-endian word (sizes, offsets and counts in binary headers).
                let i = rng.below(len);
                let value = *rng.pick(&[0u64, 1, 0xffff_ffff, u64::MAX, 1 << 31, 1 << 40]);
                for (k, b) in value.to_le_bytes().iter().enumerate().take(len - i) {
                    out[i + k] = *b;
                }
            }
            _ => out.push(b'0'),
        }
    }
    out
}

/// Replaces one to three numbers of a text (digits with an optional sign, point and exponent)
/// by edge numbers: a mutation that keeps the surrounding structure.
pub fn mutate_text_numbers(rng: &mut Rng, text: &str) -> String {
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let start = if i > 0 && bytes[i - 1] == b'-' { i - 1 } else { i };
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'.' | b'-' | b'+')) {
                i += 1;
            }
            spans.push((start, i));
        } else {
            i += 1;
        }
    }
    if spans.is_empty() {
        return text.to_string();
    }
    let mut out = text.to_string();
    let mut chosen: Vec<(usize, usize)> = (0..1 + rng.below(3)).map(|_| *rng.pick(&spans)).collect();
    chosen.sort();
    chosen.dedup();
    for (start, end) in chosen.into_iter().rev() {
        let edge: &&str = rng.pick(&EDGE_NUMBERS);
        out.replace_range(start..end, edge);
    }
    out
}

/// A JSON value changed at one or two random places: a number to an edge number, a string
/// emptied or changed, an array emptied, truncated or extended, a key removed, a value nulled.
pub fn mutate_json(rng: &mut Rng, value: &serde_json::Value) -> serde_json::Value {
    let mut v = value.clone();
    let edits = if rng.below(3) == 0 { 2 } else { 1 };
    for _ in 0..edits {
        let leaves = json_paths(&v, &mut Vec::new());
        if leaves.is_empty() {
            break;
        }
        // Mostly numbers (what validation must range-check), sometimes anything.
        let numbers: Vec<&Vec<String>> = leaves.iter().filter(|p| json_at(&mut v.clone(), p).is_number()).collect();
        let path = if !numbers.is_empty() && rng.below(3) > 0 {
            (*rng.pick(&numbers)).clone()
        } else {
            rng.pick(&leaves).clone()
        };
        let numeric = json_at(&mut v, &path).is_number();
        let choice = if numeric && rng.below(3) > 0 { 0 } else { rng.below(6) };
        let target = json_at(&mut v, &path);
        *target = match (choice, &*target) {
            (0 | 1, _) => {
                let text = rng.pick(&EDGE_NUMBERS);
                serde_json::from_str(text).unwrap_or_else(|_| serde_json::json!(edge_f64(text)))
            }
            (2, serde_json::Value::Array(a)) if !a.is_empty() => {
                let mut a = a.clone();
                if rng.below(2) == 0 {
                    a.truncate(rng.below(a.len()))
                } else {
                    a.push(a[0].clone())
                }
                serde_json::Value::Array(a)
            }
            (3, serde_json::Value::Object(o)) if !o.is_empty() => {
                let mut o = o.clone();
                let key = o.keys().nth(rng.below(o.len())).cloned().unwrap_or_default();
                o.remove(&key);
                serde_json::Value::Object(o)
            }
            (4, _) => serde_json::Value::String(rng.pick(&["", "all", "x", "rgb+nir", "-1", "NaN"]).to_string()),
            _ => serde_json::Value::Null,
        };
    }
    v
}

/// The f64 an edge-number string stands for (what JSON cannot spell is written as the nearest
/// value it can).
fn edge_f64(text: &str) -> f64 {
    text.parse::<f64>().ok().filter(|v| v.is_finite()).unwrap_or(f64::MAX)
}

/// Every node's path (keys and indices), the root excluded.
fn json_paths(v: &serde_json::Value, prefix: &mut Vec<String>) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let children: Vec<(String, &serde_json::Value)> = match v {
        serde_json::Value::Object(o) => o.iter().map(|(k, v)| (k.clone(), v)).collect(),
        serde_json::Value::Array(a) => a.iter().enumerate().map(|(i, v)| (i.to_string(), v)).collect(),
        _ => Vec::new(),
    };
    for (key, child) in children {
        prefix.push(key);
        out.push(prefix.clone());
        out.extend(json_paths(child, prefix));
        prefix.pop();
    }
    out
}

fn json_at<'a>(v: &'a mut serde_json::Value, path: &[String]) -> &'a mut serde_json::Value {
    path.iter().fold(v, |v, key| match v {
        serde_json::Value::Array(a) => &mut a[key.parse::<usize>().unwrap()],
        other => &mut other[key.as_str()],
    })
}

/// What happened to one case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The parser refused it.
    ParseError,
    /// It parsed; validation refused it.
    Rejected,
    /// It was accepted and passed the target's checks of the accepted value.
    Accepted,
}

/// Cases, errors, successes and panics of one fuzz target.
#[derive(Debug, Default)]
pub struct Tally {
    pub name: String,
    pub cases: usize,
    pub parse_errors: usize,
    pub rejected: usize,
    pub accepted: usize,
    pub panics: Vec<String>,
}

impl Tally {
    pub fn new(name: &str) -> Self {
        Self { name: name.to_string(), ..Default::default() }
    }

    /// Runs one case, catching a panic (counted with `label`, which says how to reproduce it).
    pub fn case(&mut self, label: impl FnOnce() -> String, run: impl FnOnce() -> Outcome) {
        self.cases += 1;
        match catch_unwind(AssertUnwindSafe(run)) {
            Ok(Outcome::ParseError) => self.parse_errors += 1,
            Ok(Outcome::Rejected) => self.rejected += 1,
            Ok(Outcome::Accepted) => self.accepted += 1,
            Err(e) => {
                let message = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                self.panics.push(format!("{}: {message}", label()));
            }
        }
    }

    /// Cases that got past the parser (to validation or further).
    pub fn reached_validation(&self) -> usize {
        self.rejected + self.accepted
    }

    /// Prints the line the fuzz summary quotes and fails on any panic.
    pub fn finish(self) {
        println!(
            "fuzz {:<22} cases {:>5}  parse errors {:>5}  reached validation {:>5} (rejected {:>5}, accepted {:>5})  panics {}",
            self.name,
            self.cases,
            self.parse_errors,
            self.reached_validation(),
            self.rejected,
            self.accepted,
            self.panics.len()
        );
        assert!(self.panics.is_empty(), "{}: {} panics:\n{}", self.name, self.panics.len(), self.panics.join("\n"));
    }
}
