//! A test model: the masked modalities concatenated and one convolution (pointwise with a 1×1
//! kernel, fully convolutional with a 3×3 one).

use lssg_backbones::model::check_inputs;
use lssg_backbones::{ModelOutput, SegmentationModel};
use tch::{Device, Tensor, nn};

/// Concatenates the masked modalities and applies one convolution.
#[derive(Debug)]
pub struct ConvModel {
    conv: nn::Conv2D,
    channels: Vec<i64>,
    classes: i64,
    _vs: nn::VarStore,
}

impl ConvModel {
    pub fn new(channels: Vec<i64>, classes: i64, kernel: i64) -> Self {
        let vs = nn::VarStore::new(Device::Cpu);
        let cfg = nn::ConvConfig { padding: kernel / 2, ..Default::default() };
        let inputs: i64 = channels.iter().sum();
        let mut conv = nn::conv2d(vs.root(), inputs, classes, kernel, cfg);
        // Deterministic weights (tests run in parallel, so libtorch's global seed is no help).
        let n = classes * inputs * kernel * kernel;
        let w: Vec<f32> = (0..n).map(|i| ((i * 37 % 17) as f32 - 8.0) / 8.0).collect();
        let b: Vec<f32> = (0..classes).map(|i| i as f32 * 0.1 - 0.2).collect();
        tch::no_grad(|| {
            conv.ws.copy_(&Tensor::from_slice(&w).view([classes, inputs, kernel, kernel]));
            if let Some(bs) = conv.bs.as_mut() {
                bs.copy_(&Tensor::from_slice(&b));
            }
        });
        Self { conv, channels, classes, _vs: vs }
    }
}

impl SegmentationModel for ConvModel {
    fn forward_t(&self, inputs: &[Tensor], availability: &Tensor, _train: bool) -> lssg_backbones::Result<ModelOutput> {
        check_inputs(&self.channels, inputs, availability)?;
        let masked: Vec<Tensor> =
            inputs.iter().enumerate().map(|(m, x)| lssg_backbones::layers::gate(x, availability, m as i64)).collect();
        let logits = Tensor::cat(&masked, 1).apply(&self.conv);
        Ok(ModelOutput::new(logits.shallow_clone(), logits))
    }
    fn hook_point(&self) -> &str {
        "conv"
    }
    fn num_classes(&self) -> i64 {
        self.classes
    }
}
