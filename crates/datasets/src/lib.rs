//! Multimodal data sets: synthetic generator, DSTL / Potsdam / Hunan readers, tiling, batches (SPEC §8). Under construction.
