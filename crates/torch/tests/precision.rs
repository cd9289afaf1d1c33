//! Mixed precision on the CPU (docs/precision.md): bf16 autocast regions change the dtype of
//! matmul/linear outputs and restore the previous state (nested, and on panic); the fp16
//! gradient scaler skips non-finite steps and moves its scale as PyTorch's does.
//!
//! libtorch's autocast switches are per thread, but its RNG is process-wide: every test takes
//! `SERIAL` so seeded draws do not interleave.

use std::sync::Mutex;

use lssg_torch::precision::autocast_state;
use lssg_torch::{GradScaler, GradScalerState, Precision};
use tch::{Device, Kind, Tensor};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

const CPU: (Kind, Device) = (Kind::Float, Device::Cpu);

#[test]
fn precision_values_parse_and_fp16_needs_cuda() {
    assert_eq!("bf16".parse::<Precision>().unwrap(), Precision::Bf16);
    let e = "half".parse::<Precision>().unwrap_err().to_string();
    assert!(e.contains("precision") && e.contains("\"half\"") && e.contains("fp32, fp16, bf16"), "{e}");
    let e = Precision::Fp16.check_device(Device::Cpu).unwrap_err().to_string();
    assert!(e.contains("fp16") && e.contains("Cpu") && e.contains("bf16"), "{e}");
    Precision::Bf16.check_device(Device::Cpu).unwrap();
}

#[test]
fn bf16_autocast_changes_matmul_and_linear_dtypes_inside_only() {
    let _s = serial();
    let a = Tensor::randn([4, 8], CPU);
    let w = Tensor::randn([3, 8], CPU);
    assert!(!autocast_state(Device::Cpu).unwrap().0);
    let (mm, lin) = Precision::Bf16
        .autocast(Device::Cpu, || {
            assert_eq!(autocast_state(Device::Cpu).unwrap(), (true, Some(Kind::BFloat16)));
            (a.matmul(&w.tr()).kind(), a.linear::<Tensor>(&w, None).kind())
        })
        .unwrap();
    assert_eq!((mm, lin), (Kind::BFloat16, Kind::BFloat16));
    // Outside: f32 again, and the switch is off.
    assert_eq!(a.matmul(&w.tr()).kind(), Kind::Float);
    assert!(!autocast_state(Device::Cpu).unwrap().0);
    // fp32 is no region at all.
    let k = Precision::Fp32.autocast(Device::Cpu, || a.matmul(&w.tr()).kind()).unwrap();
    assert_eq!(k, Kind::Float);
}

#[test]
fn nested_regions_and_panics_restore_the_previous_state() {
    let _s = serial();
    let a = Tensor::randn([2, 2], CPU);
    let before = autocast_state(Device::Cpu).unwrap();
    {
        let _outer = Precision::Bf16.enter(Device::Cpu).unwrap();
        {
            let _inner = Precision::Bf16.enter(Device::Cpu).unwrap();
            assert_eq!(a.matmul(&a).kind(), Kind::BFloat16);
        }
        // The inner guard restores the outer region, not "off".
        assert_eq!(autocast_state(Device::Cpu).unwrap(), (true, Some(Kind::BFloat16)));
        // fp32 inside a bf16 region leaves it alone.
        assert_eq!(Precision::Fp32.autocast(Device::Cpu, || a.matmul(&a).kind()).unwrap(), Kind::BFloat16);
    }
    assert_eq!(autocast_state(Device::Cpu).unwrap(), before);
    let caught = std::panic::catch_unwind(|| {
        Precision::Bf16.autocast(Device::Cpu, || panic!("inside the region")).unwrap();
    });
    assert!(caught.is_err());
    assert_eq!(autocast_state(Device::Cpu).unwrap(), before);
    assert_eq!(a.matmul(&a).kind(), Kind::Float);
}

#[test]
fn scaler_skips_non_finite_steps_and_moves_its_scale() {
    let _s = serial();
    let mut scaler = GradScaler::new(Device::Cpu, true).with_growth_interval(3).unwrap();
    assert_eq!(scaler.scale_value(), GradScaler::INIT_SCALE);
    let s = GradScaler::INIT_SCALE;
    // An inf gradient: no step, the scale halves, the counter restarts.
    let grads = [Tensor::from_slice(&[1.0f32, f32::INFINITY]), Tensor::from_slice(&[2.0f32])];
    let mut stepped = false;
    assert!(!scaler.step(&grads, || {}, || stepped = true).unwrap());
    assert!(!stepped);
    assert_eq!(scaler.scale_value(), s * 0.5);
    assert_eq!(scaler.state().unwrap().growth_tracker, 0);
    // Finite gradients are unscaled (divided by S) before the step sees them.
    let g = Tensor::from_slice(&[s as f32 * 0.5 * 3.0]);
    let mut seen = 0.0;
    assert!(scaler.step(std::slice::from_ref(&g), || {}, || seen = g.double_value(&[0])).unwrap());
    assert_eq!(seen, 3.0);
    // Three finite steps in a row (growth interval 3) double the scale.
    for _ in 0..2 {
        assert!(scaler.step(&[Tensor::from_slice(&[1.0f32])], || {}, || {}).unwrap());
    }
    assert_eq!(scaler.scale_value(), s);
    assert_eq!(scaler.state().unwrap().growth_tracker, 0);
    // A NaN also counts as non-finite.
    assert!(!scaler.step(&[Tensor::from_slice(&[f32::NAN])], || {}, || {}).unwrap());
    assert_eq!(scaler.scale_value(), s * 0.5);
    // The loss is multiplied by S.
    let loss = Tensor::from_slice(&[2.0f32]).squeeze();
    assert_eq!(scaler.scale(&loss).double_value(&[]), 2.0 * s * 0.5);
}

#[test]
fn scaler_state_round_trips_and_disabled_scalers_are_the_identity() {
    let _s = serial();
    let mut a = GradScaler::new(Device::Cpu, true);
    a.step(&[Tensor::from_slice(&[f32::INFINITY])], || {}, || {}).unwrap();
    a.step(&[Tensor::from_slice(&[1.0f32])], || {}, || {}).unwrap();
    let state = a.state().unwrap();
    assert_eq!((state.scale, state.growth_tracker), (GradScaler::INIT_SCALE * 0.5, 1));
    let json = serde_json::to_string(&state).unwrap();
    let mut b = GradScaler::new(Device::Cpu, true);
    b.load_state(&serde_json::from_str(&json).unwrap()).unwrap();
    assert_eq!(b.state(), Some(state));
    let bad = GradScalerState { scale: f64::INFINITY, growth_tracker: 0 };
    assert!(b.load_state(&bad).unwrap_err().to_string().contains("grad_scaler.scale"));

    let mut off = GradScaler::for_precision(Precision::Bf16, Device::Cpu);
    assert!(!off.is_enabled() && off.state().is_none());
    let g = Tensor::from_slice(&[f32::INFINITY]);
    let (mut clipped, mut stepped) = (false, false);
    assert!(off.step(std::slice::from_ref(&g), || clipped = true, || stepped = true).unwrap());
    assert!(clipped && stepped);
    let loss = Tensor::from_slice(&[2.0f32]).squeeze();
    assert_eq!(off.scale(&loss).double_value(&[]), 2.0);
}
