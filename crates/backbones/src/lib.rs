//! Multimodal segmentation backbones on libtorch (docs/method.md §2, §5, §7): CMX, CBC and CBC-SLP behind one
//! [`SegmentationModel`] trait, with per-sample availability masks, LoRA adapters and strict
//! safetensors checkpoints. Devices, precision and other libtorch extensions are in lssg-torch.
//!
//! ```no_run
//! use lssg_backbones::{ModelConfig, BackboneKind, Preset};
//! use tch::{nn, Device, Kind, Tensor};
//!
//! let vs = nn::VarStore::new(Device::Cpu);
//! let cfg = ModelConfig { backbone: BackboneKind::Cmx, preset: Preset::Tiny, ..Default::default() };
//! let model = cfg.build(&vs, &[3, 3, 3]).unwrap();
//! let xs: Vec<Tensor> = (0..3).map(|_| Tensor::zeros([2, 3, 64, 64], (Kind::Float, Device::Cpu))).collect();
//! let out = model.forward_t(&xs, &Tensor::ones([2, 3], (Kind::Float, Device::Cpu)), false).unwrap();
//! assert_eq!(out.logits.size(), [2, 1, 64, 64]);
//! ```
#![deny(missing_docs)]

pub mod agreement;
pub mod cbc;
pub mod checkpoint;
pub mod cmx;
pub mod config;
pub mod error;
pub mod input;
pub mod layers;
pub mod layout;
pub mod load;
pub mod lora;
pub mod model;
pub mod packed;
pub mod summary;

pub use config::{ArchitectureConfig, BackboneKind, LoraConfig, ModelConfig, OutputHead, Preset};
pub use error::{Error, Result};
pub use load::{LoadedModel, Weights};
pub use model::{ModelOutput, SegmentationModel};
