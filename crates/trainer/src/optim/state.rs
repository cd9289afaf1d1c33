//! The optimiser's state on disk: [`Optimizer::save`] writes every variable's step count and
//! buffers to a safetensors file, atomically, and [`Optimizer::load`] restores them, refusing a
//! file that does not hold exactly this optimiser's entries. A resumed run continues
//! bit-identically.
//!
//! Keys: `step/<var>` (i64 `[1]`), and `exp_avg/<var>`, `exp_avg_sq/<var>` (Adam, AdamW) or
//! `momentum_buffer/<var>` (SGD with momentum), each of the variable's shape.

use std::collections::BTreeMap;
use std::path::Path;

use tch::{Kind, Tensor};

use super::Optimizer;
use crate::error::{Error, Result};

impl Optimizer {
    /// Saves the state (step counts and buffers) to a safetensors file, atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut named: Vec<(String, Tensor)> = Vec::new();
        for slot in &self.slots {
            named.push((format!("step/{}", slot.name), Tensor::from_slice(&[slot.step])));
            for (buffer, t) in self.config.buffer_names().iter().zip(&slot.buffers) {
                named.push((format!("{buffer}/{}", slot.name), t.to_device(tch::Device::Cpu).contiguous()));
            }
        }
        crate::checkpoint::write_tensors(path, &named)
    }

    /// Restores the state saved by [`Optimizer::save`]. Fails with
    /// [`Error::OptimizerStateMismatch`] (nothing changed) unless the file holds exactly this
    /// optimiser's entries with the same shapes, and with [`Error::InvalidState`] when a step
    /// count is negative or a buffer holds NaN or infinite values.
    pub fn load(&mut self, path: &Path) -> Result<()> {
        let read = Tensor::read_safetensors(path)
            .map_err(|e| Error::Checkpoint { path: path.to_path_buf(), reason: e.to_string() })?;
        let mut file: BTreeMap<String, Tensor> = read.into_iter().collect();
        let (mut missing, mut misshaped) = (Vec::new(), Vec::new());
        let mut plan: Vec<(usize, Option<usize>, Tensor)> = Vec::new();
        for (i, slot) in self.slots.iter().enumerate() {
            let step_key = format!("step/{}", slot.name);
            match file.remove(&step_key) {
                Some(t) if t.size() == [1] && t.kind() == Kind::Int64 => {
                    if t.int64_value(&[0]) < 0 {
                        let reason = format!("step count {} is negative", t.int64_value(&[0]));
                        return Err(Error::InvalidState { path: path.to_path_buf(), field: step_key, reason });
                    }
                    plan.push((i, None, t))
                }
                Some(t) => misshaped.push(format!("{step_key}: file {:?} {:?} vs [1] Int64", t.size(), t.kind())),
                None => missing.push(step_key),
            }
            for (b, buffer) in self.config.buffer_names().iter().enumerate() {
                let key = format!("{buffer}/{}", slot.name);
                match file.remove(&key) {
                    Some(t) if t.size() == slot.var.size() => {
                        if t.isfinite().all().int64_value(&[]) == 0 {
                            let reason = "holds NaN or infinite values".to_string();
                            return Err(Error::InvalidState { path: path.to_path_buf(), field: key, reason });
                        }
                        plan.push((i, Some(b), t))
                    }
                    Some(t) => misshaped.push(format!("{key}: file {:?} vs model {:?}", t.size(), slot.var.size())),
                    None => missing.push(key),
                }
            }
        }
        let unexpected: Vec<String> = file.into_keys().collect();
        if !(missing.is_empty() && unexpected.is_empty() && misshaped.is_empty()) {
            return Err(Error::OptimizerStateMismatch { path: path.to_path_buf(), missing, unexpected, misshaped });
        }
        tch::no_grad(|| {
            for (i, buffer, t) in plan {
                let slot = &mut self.slots[i];
                match buffer {
                    None => {
                        slot.step = t.int64_value(&[0]);
                        let _ = slot.step_tensor.fill_(slot.step as f64);
                    }
                    Some(b) => {
                        let kind = slot.buffers[b].kind();
                        slot.buffers[b].copy_(&t.to_kind(kind));
                    }
                }
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use tch::Device;
    use tch::nn::{self, VarStore};

    use super::super::testing::{loss, max_diff, problem};
    use crate::error::Error;
    use crate::optim::{Optimizer, OptimizerConfig, OptimizerKind};

    #[test]
    fn saved_state_resumes_bit_identically() {
        for kind in [OptimizerKind::Adam, OptimizerKind::AdamW, OptimizerKind::Sgd] {
            let cfg = OptimizerConfig { kind, lr: 0.01, weight_decay: 0.01, ..Default::default() };
            let dir = tempfile::tempdir().unwrap();
            let (vs_a, lin_a, x, y) = problem(5);
            let mut a = Optimizer::new(&vs_a, &cfg).unwrap();
            for _ in 0..3 {
                a.backward_step(&loss(&lin_a, &x, &y), None).unwrap();
            }
            let (wpath, opath) = (dir.path().join("w.safetensors"), dir.path().join("o.safetensors"));
            vs_a.save(&wpath).unwrap();
            a.save(&opath).unwrap();
            // A fresh model and optimiser restored from the files.
            let (mut vs_b, lin_b, _, _) = problem(99);
            vs_b.load(&wpath).unwrap();
            let mut b = Optimizer::new(&vs_b, &cfg).unwrap();
            b.load(&opath).unwrap();
            assert_eq!(b.steps(), 3);
            for _ in 0..3 {
                a.backward_step(&loss(&lin_a, &x, &y), None).unwrap();
                b.backward_step(&loss(&lin_b, &x, &y), None).unwrap();
            }
            assert_eq!(max_diff(&lin_a.ws, &lin_b.ws), 0.0, "{kind:?}");
        }
    }

    #[test]
    fn load_rejects_a_foreign_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.safetensors");
        let (vs, lin, x, y) = problem(1);
        let mut adam = Optimizer::new(&vs, &OptimizerConfig::default()).unwrap();
        adam.backward_step(&loss(&lin, &x, &y), None).unwrap();
        adam.save(&path).unwrap();
        let sgd_cfg = OptimizerConfig { kind: OptimizerKind::Sgd, ..Default::default() };
        let mut sgd = Optimizer::new(&vs, &sgd_cfg).unwrap();
        match sgd.load(&path) {
            Err(Error::OptimizerStateMismatch { missing, unexpected, .. }) => {
                assert!(missing.iter().any(|k| k.starts_with("momentum_buffer/")), "{missing:?}");
                assert!(unexpected.iter().any(|k| k.starts_with("exp_avg/")), "{unexpected:?}");
            }
            other => panic!("expected a mismatch, got {other:?}"),
        }
        // A differently shaped model.
        let vs2 = VarStore::new(Device::Cpu);
        let _ = nn::linear(vs2.root() / "lin", 4, 2, Default::default());
        let mut other = Optimizer::new(&vs2, &OptimizerConfig::default()).unwrap();
        assert!(
            matches!(other.load(&path), Err(Error::OptimizerStateMismatch { misshaped, .. }) if !misshaped.is_empty())
        );
        assert!(matches!(other.load(&dir.path().join("absent.safetensors")), Err(Error::Checkpoint { .. })));
    }
}
