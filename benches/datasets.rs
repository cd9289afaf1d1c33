//! Placeholder until this area's issue lands its criterion benches.
fn main() {}
