//! A network in a memory layout (docs/speed.md §8): its 4-D weights converted once, and every
//! input batch converted on the way in, so that libtorch runs the channels-last convolution
//! kernels. Values, shapes and checkpoints are those of the plain network.

use lssg_torch::Layout;
use lssg_torch::packed::Inference;
use tch::{Tensor, nn};

use crate::error::Result;
use crate::model::{ModelOutput, SegmentationModel};

/// `net` with its inputs put in `layout` before every forward (the weights are converted by
/// [`with_layout`]).
#[derive(Debug)]
pub struct LaidOut {
    net: Box<dyn SegmentationModel>,
    layout: Layout,
}

impl LaidOut {
    fn inputs(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        Ok(inputs.iter().map(|x| self.layout.apply(x)).collect::<lssg_torch::Result<_>>()?)
    }
}

/// `net` (whose variables live in `vs`) in `layout` resolved for `vs`'s device: for
/// channels-last, every 4-D variable is converted in place and the network wrapped so that its
/// inputs are converted too; for NCHW, `net` itself.
pub fn with_layout(
    net: Box<dyn SegmentationModel>,
    vs: &nn::VarStore,
    layout: Layout,
) -> Result<Box<dyn SegmentationModel>> {
    let layout = layout.resolve(vs.device());
    if !layout.is_channels_last() {
        return Ok(net);
    }
    layout.apply_to_vars(vs)?;
    Ok(Box::new(LaidOut { net, layout }))
}

impl SegmentationModel for LaidOut {
    fn forward_t(&self, inputs: &[Tensor], availability: &Tensor, train: bool) -> Result<ModelOutput> {
        self.net.forward_t(&self.inputs(inputs)?, availability, train)
    }

    fn forward_scenarios(&self, inputs: &[Tensor], scenarios: &Tensor) -> Result<ModelOutput> {
        self.net.forward_scenarios(&self.inputs(inputs)?, scenarios)
    }

    fn hook_point(&self) -> &str {
        self.net.hook_point()
    }

    fn num_classes(&self) -> i64 {
        self.net.num_classes()
    }

    fn inference(&self, requested: Inference) -> Inference {
        self.net.inference(requested)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use lssg_torch::layout::is_contiguous_as;
    use tch::{Device, Kind};

    use super::*;

    /// Records the strides of the inputs it is given.
    #[derive(Debug, Default)]
    struct Probe(Mutex<Vec<Vec<i64>>>);

    impl SegmentationModel for Probe {
        fn forward_t(&self, inputs: &[Tensor], _: &Tensor, _: bool) -> Result<ModelOutput> {
            self.0.lock().unwrap().extend(inputs.iter().map(Tensor::stride));
            Ok(ModelOutput::new(inputs[0].shallow_clone(), inputs[0].shallow_clone()))
        }
        fn hook_point(&self) -> &str {
            "probe"
        }
        fn num_classes(&self) -> i64 {
            1
        }
    }

    #[test]
    fn inputs_reach_the_network_in_channels_last_order() {
        let vs = nn::VarStore::new(Device::Cpu);
        let net = with_layout(Box::new(Probe::default()), &vs, Layout::ChannelsLast).unwrap();
        let xs = [
            Tensor::ones([2, 3, 4, 5], (Kind::Float, Device::Cpu)),
            Tensor::ones([2, 1, 4, 5], (Kind::Float, Device::Cpu)),
        ];
        let out = net.forward_t(&xs, &Tensor::ones([2, 2], (Kind::Float, Device::Cpu)), false).unwrap();
        assert!(is_contiguous_as(&out.logits, true).unwrap());
        assert_eq!(out.logits.stride(), [60, 1, 15, 3]);
        assert!(out.logits.equal(&xs[0]));
        assert_eq!(net.hook_point(), "probe");
        // NCHW returns the network itself: its inputs keep their strides.
        let plain = with_layout(Box::new(Probe::default()), &vs, Layout::Nchw).unwrap();
        let out = plain.forward_t(&xs, &Tensor::ones([2, 2], (Kind::Float, Device::Cpu)), false).unwrap();
        assert_eq!(out.logits.stride(), [60, 20, 5, 1]);
    }
}
