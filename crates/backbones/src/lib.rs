//! Multimodal segmentation backbones on libtorch (SPEC §7). Under construction.
