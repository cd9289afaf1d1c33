//! The small network the trainer's integration tests train, evaluate and resume: one
//! convolution per modality, gated by the availability and summed, so every scenario gives
//! different logits and a run takes milliseconds.

use lssg_backbones::model::check_inputs;
use lssg_backbones::{ModelOutput, SegmentationModel};
use tch::nn::{self, Module};
use tch::{Kind, Tensor};

/// logits = Σ_m a[:, m] · conv_m(x_m).
#[derive(Debug)]
pub struct Tiny {
    pub convs: Vec<nn::Conv2D>,
    pub channels: Vec<i64>,
    pub classes: i64,
}

impl SegmentationModel for Tiny {
    fn forward_t(&self, inputs: &[Tensor], availability: &Tensor, _train: bool) -> lssg_backbones::Result<ModelOutput> {
        check_inputs(&self.channels, inputs, availability)?;
        let maps: Vec<Tensor> = inputs
            .iter()
            .zip(&self.convs)
            .enumerate()
            .map(|(m, (x, conv))| conv.forward(x) * availability.narrow(1, m as i64, 1).view([-1, 1, 1, 1]))
            .collect();
        let latent = Tensor::stack(&maps, 1);
        Ok(ModelOutput::new(latent.sum_dim_intlist(1, false, Kind::Float), latent))
    }

    fn hook_point(&self) -> &str {
        "stack"
    }

    fn num_classes(&self) -> i64 {
        self.classes
    }
}
