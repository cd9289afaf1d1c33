//! Pretraining and fine-tuning loops, losses, metrics and checkpoints (SPEC §5, §6). Not implemented yet: see the method issue.
