//! Two ranks as two threads of one process on localhost: values of every collective, the
//! gradient buckets' mean, a rendezvous nobody joins, and a peer that leaves.

use super::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn config(port: u16, rank: usize, world_size: usize, timeout: Duration) -> GroupConfig {
    GroupConfig { master_addr: "127.0.0.1".into(), master_port: port, rank, world_size, timeout, interface: None }
}

/// Runs `f(group)` on ranks 0 and 1 of a fresh group, each in its own thread; returns their results.
fn two_ranks<T: Send + 'static>(f: impl Fn(ProcessGroup) -> T + Send + Sync + Clone + 'static) -> [T; 2] {
    let port = free_port();
    let handles: Vec<_> = (0..2)
        .map(|rank| {
            let f = f.clone();
            std::thread::spawn(move || f(ProcessGroup::new(&config(port, rank, 2, Duration::from_secs(20))).unwrap()))
        })
        .collect();
    let mut out = handles.into_iter().map(|h| h.join().unwrap());
    [out.next().unwrap(), out.next().unwrap()]
}

fn values(t: &Tensor) -> Vec<f32> {
    Vec::try_from(t.reshape([-1])).unwrap()
}

#[test]
fn collectives_combine_both_ranks() {
    let [a, b] = two_ranks(|g| {
        let r = g.rank() as f32;
        let x = Tensor::from_slice(&[1.0 + r, 10.0 * r, -r]);
        let y = Tensor::from_slice(&[r, 2.0]);
        g.all_reduce(&[x.shallow_clone(), y.shallow_clone()], ReduceOp::Sum).unwrap();
        let m = Tensor::from_slice(&[r, 5.0 - r]);
        g.all_reduce(std::slice::from_ref(&m), ReduceOp::Max).unwrap();
        let mut f = [0.25 * (1.0 + g.rank() as f64), 1e-17];
        g.all_reduce_f64(&mut f, ReduceOp::Sum).unwrap();
        let w = Tensor::from_slice(&[7.0f32 + r, 8.0 + r]).view([1, 2]);
        g.broadcast(&w, 1).unwrap();
        let gathered = g.all_gather(&Tensor::from_slice(&[r, r + 0.5])).unwrap();
        let ragged = g.all_gather_f64(&vec![g.rank() as f64; 1 + 2 * g.rank()]).unwrap();
        g.barrier().unwrap();
        (values(&x), values(&y), values(&m), f, values(&w), gathered.size(), values(&gathered), ragged)
    });
    assert_eq!(a, b, "every rank ends with the same values");
    let (x, y, m, f, w, shape, gathered, ragged) = a;
    assert_eq!(x, [3.0, 10.0, -1.0]);
    assert_eq!(y, [1.0, 4.0]);
    assert_eq!(m, [1.0, 5.0]);
    assert_eq!(f, [0.75, 2e-17]);
    assert_eq!(w, [8.0, 9.0], "rank 1's tensor");
    assert_eq!(shape, [2, 2]);
    assert_eq!(gathered, [0.0, 0.5, 1.0, 1.5], "in rank order");
    assert_eq!(ragged, [vec![0.0], vec![1.0, 1.0, 1.0]]);
}

#[test]
fn buckets_average_gradients_across_ranks() {
    let [a, b] = two_ranks(|g| {
        let r = g.rank() as f64;
        let shapes: [&[i64]; 3] = [&[2, 3], &[4], &[1, 1, 2]];
        let grads: Vec<Tensor> = shapes
            .iter()
            .enumerate()
            .map(|(i, s)| Tensor::ones(*s, (Kind::Float, Device::Cpu)) * (i as f64 + 1.0) * (1.0 + 2.0 * r))
            .collect();
        // 24 + 16 + 8 bytes under a 30-byte limit: [0] alone, then [1, 2].
        let buckets = GradientBuckets::for_tensors(&grads, 30);
        assert_eq!(buckets.len(), 2);
        buckets.average(&g, &grads, &grads).unwrap();
        grads.iter().map(values).collect::<Vec<_>>()
    });
    assert_eq!(a, b);
    // Rank 0 holds i + 1, rank 1 three times that: the mean is 2(i + 1).
    for (i, g) in a.iter().enumerate() {
        assert!(g.iter().all(|&v| v == 2.0 * (i as f32 + 1.0)), "{i}: {g:?}");
    }
}

#[test]
fn buckets_split_at_the_size_limit() {
    let b = GradientBuckets::new(&[10, 10, 10, 40, 1], 4, 80);
    // 40 + 40 bytes fill the first; the 160-byte tensor is a bucket of its own, larger than the limit.
    assert_eq!(b.buckets, [0..2, 2..3, 3..4, 4..5]);
    assert!(GradientBuckets::new(&[], 4, 80).is_empty());
    assert_eq!(GradientBuckets::new(&[100], 4, 80).len(), 1, "a large tensor is a bucket alone");
}

#[test]
fn a_rendezvous_nobody_joins_times_out() {
    let started = Instant::now();
    let err = ProcessGroup::new(&config(free_port(), 0, 2, Duration::from_millis(1500))).unwrap_err();
    assert!(matches!(&err, Error::DistributedTimeout { rank: 0, world_size: 2, timeout_ms: 1500, .. }), "{err}");
    assert!(err.to_string().contains("joining the group at 127.0.0.1"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());
}

#[test]
fn a_peer_that_leaves_fails_the_next_collective() {
    let port = free_port();
    let timeout = Duration::from_secs(3);
    let leaver = std::thread::spawn(move || {
        let g = ProcessGroup::new(&config(port, 1, 2, timeout)).unwrap();
        g.barrier().unwrap();
    });
    let g = ProcessGroup::new(&config(port, 0, 2, timeout)).unwrap();
    g.barrier().unwrap();
    leaver.join().unwrap();
    let started = Instant::now();
    let err = g.all_reduce(&[Tensor::ones([4], (Kind::Float, Device::Cpu))], ReduceOp::Sum).unwrap_err();
    assert!(matches!(&err, Error::Distributed { rank: 0, .. } | Error::DistributedTimeout { rank: 0, .. }), "{err}");
    assert!(err.to_string().contains("all-reduce"), "{err}");
    assert!(started.elapsed() < timeout + Duration::from_secs(5), "{:?}", started.elapsed());
}

#[test]
fn bad_arguments_are_refused_before_the_shim() {
    let err = ProcessGroup::new(&config(1, 2, 2, Duration::from_secs(1))).unwrap_err();
    assert!(err.to_string().contains("rank"), "{err}");
}
