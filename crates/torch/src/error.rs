//! Errors of the libtorch extensions. Every variant carries the evidence: the field, value,
//! device or call at fault and what was expected.

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong parsing a device or precision, entering autocast, scaling
/// gradients, running a fused kernel, copying to a device or comparing devices.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting has a value outside its domain.
    #[error("invalid {field} = {value}: expected {expected}")]
    InvalidConfig {
        /// The setting (`grad_scaler.scale`, `tolerance`, …).
        field: &'static str,
        /// The offending value, printed.
        value: String,
        /// What was expected.
        expected: String,
    },
    /// A name (device, precision) could not be parsed.
    #[error("unknown {what} {value:?}: expected one of {expected}")]
    UnknownName {
        /// What was being parsed (`device`, `precision`).
        what: &'static str,
        /// The text given.
        value: String,
        /// The accepted spellings.
        expected: String,
    },
    /// The requested operation is not available, or libtorch refused it.
    #[error("{what} is not supported: {reason}")]
    Unsupported {
        /// What was requested (a precision on a device, a kernel, …).
        what: String,
        /// Why it is not available: the rule, or libtorch's message.
        reason: String,
    },
    /// A TorchScript archive could not be read or written.
    #[error("TorchScript archive {what}: {reason}")]
    Jit {
        /// The archive (or archives) concerned.
        what: String,
        /// libtorch's message, or what is wrong with the path.
        reason: String,
    },
    /// A tensor or buffer has the wrong shape or length.
    #[error("{what}: expected {expected}, got {got}")]
    Shape {
        /// Which tensor or buffer.
        what: String,
        /// The expected shape or length, printed.
        expected: String,
        /// What was given, printed.
        got: String,
    },
    /// A collective or the rendezvous failed: a peer left or refused, or c10d reported an error.
    #[error("{op} failed on rank {rank} of {world_size}: {reason}")]
    Distributed {
        /// The collective or step (`all-reduce`, `joining the group at HOST:PORT`, …).
        op: String,
        /// This process's rank.
        rank: usize,
        /// Processes in the group.
        world_size: usize,
        /// c10d's or Gloo's message.
        reason: String,
    },
    /// A collective or the rendezvous waited longer than the group's timeout for the other ranks.
    #[error("{op} timed out after {timeout_ms} ms on rank {rank} of {world_size}: {reason}")]
    DistributedTimeout {
        /// The collective or step.
        op: String,
        /// This process's rank.
        rank: usize,
        /// Processes in the group.
        world_size: usize,
        /// The group's timeout.
        timeout_ms: u64,
        /// c10d's or Gloo's message.
        reason: String,
    },
    /// CUDA was requested but libtorch cannot use it.
    #[error(
        "device {requested} requested but CUDA is not usable: cuda available = {available}, device count = {count}"
    )]
    CudaUnavailable {
        /// The device spec given.
        requested: String,
        /// `tch::Cuda::is_available()`.
        available: bool,
        /// `tch::Cuda::device_count()`.
        count: i64,
    },
}

impl Error {
    /// Shorthand for [`Error::InvalidConfig`].
    pub fn invalid(field: &'static str, value: impl std::fmt::Display, expected: impl Into<String>) -> Self {
        Error::InvalidConfig { field, value: value.to_string(), expected: expected.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Error>();
    }

    #[test]
    fn messages_name_the_value_and_the_expectation() {
        let e = Error::invalid("tolerance", 0.0, "> 0").to_string();
        assert_eq!(e, "invalid tolerance = 0: expected > 0");
        let e = Error::CudaUnavailable { requested: "cuda:1".into(), available: true, count: 1 }.to_string();
        assert!(e.contains("cuda:1") && e.contains("device count = 1"), "{e}");
    }
}
