//! The small network the trainer's integration tests train, evaluate and resume: one
//! convolution per modality, gated by the availability and summed, so every scenario gives
//! different logits and a run takes milliseconds.

use lssg_backbones::layers::gate;
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
            .map(|(m, (x, conv))| gate(&conv.forward(x), availability, m as i64))
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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Runs `f(rank)` on two threads, each with rank `rank` of one fresh group installed.
#[allow(dead_code)] // not every test binary runs two ranks
pub fn two_ranks<T: Send + 'static>(
    timeout: std::time::Duration,
    f: impl Fn(usize) -> T + Send + Sync + Clone + 'static,
) -> [T; 2] {
    use lssg_torch::distributed::{self, GroupConfig, ProcessGroup};
    let port = free_port();
    let handles: Vec<_> = (0..2)
        .map(|rank| {
            let f = f.clone();
            std::thread::spawn(move || {
                let config = GroupConfig {
                    master_addr: "127.0.0.1".into(),
                    master_port: port,
                    rank,
                    world_size: 2,
                    timeout,
                    interface: None,
                };
                distributed::install(ProcessGroup::new(&config).unwrap());
                let out = f(rank);
                distributed::uninstall();
                out
            })
        })
        .collect();
    let mut out = handles.into_iter().map(|h| h.join().unwrap());
    [out.next().unwrap(), out.next().unwrap()]
}
