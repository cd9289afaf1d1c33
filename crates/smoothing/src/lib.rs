//! RBF-kernel smoothing of distortion scores into a sampling distribution (SPEC §4). Under construction.
