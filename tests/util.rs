//! Helpers shared by the CLI tests: run the built `lssg` binary, assert on its output.

use std::path::Path;
use std::process::{Command, Output};

/// The `lssg` binary cargo built for this test run.
pub fn lssg() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lssg"))
}

/// Runs `lssg args…` in `dir` (or the current directory) and returns its output.
pub fn run_in(dir: Option<&Path>, args: &[&str]) -> Output {
    let mut cmd = lssg();
    cmd.args(args);
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    cmd.output().expect("the lssg binary runs")
}

/// Runs `lssg args…`, asserts success and returns stdout.
pub fn ok(args: &[&str]) -> String {
    let out = run_in(None, args);
    assert!(
        out.status.success(),
        "lssg {args:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// Runs `lssg args…`, asserts exit code 2 and returns stderr.
pub fn fails(args: &[&str]) -> String {
    let out = run_in(None, args);
    assert_eq!(
        out.status.code(),
        Some(2),
        "lssg {args:?} should fail with exit code 2:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stderr).expect("utf-8 stderr")
}

/// Asserts that `haystack` contains `needle`, printing both when it does not.
macro_rules! assert_contains {
    ($haystack:expr, $needle:expr) => {{
        let (h, n) = (&$haystack, &$needle);
        assert!(h.contains(n.as_ref() as &str), "expected to find {:?} in:\n{}", n, h);
    }};
}
