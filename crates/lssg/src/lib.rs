//! Orchestration of the lssg pipeline; the `lssg` binary lives in main.rs.
