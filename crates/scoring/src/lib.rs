//! Latent distortion per availability scenario (SPEC §3). Not implemented yet: see the method issue.
