"""PyTorch loops for the throughput comparison with lssg, on the port of lssg_cmx.py.

    python benches/pytorch/loops.py --preset paper --batch 4 --size 64 --threads 1 --json

Times, on random inputs and labels (seeded), the median over `--steps` repetitions after
`--warmup` untimed ones:

- `train`: one training step as lssg's trainer does it (crates/trainer): zero_grad, forward in
  train mode with a random non-empty scenario per sample, BCE-with-logits (1 class) or
  cross-entropy (more) averaged over the pixels, backward, Adam (lr 1e-4).
- `score_batched`: the scores of every scenario for one batch as crates/scoring does it (eval,
  no grad): one forward of the full scenario, then the partial scenarios in chunks of
  `max_forward // batch` scenarios, the batch repeated sample-major once per scenario of a chunk;
  per-(sample, scenario) latent MSE and task-loss increase.
- `score_batch1`: the reference's method (lssg's `measure_distortion_naive`): batch size 1, per
  sample one forward of the full scenario and one per scenario (S = 2^M - 1, full included).
- `eval`: per-scenario evaluation as crates/trainer/src/evaluate.rs: the batch run once per
  scenario (every sample with that scenario), eval, no grad, a confusion matrix accumulated.
- `train_loop`: the full training loop, data loading included, as lssg's `train_loop`
  (crates/lssg/src/model_bench.rs): `steps * batch` random tiles held in memory, a
  `torch.utils.data.DataLoader` (PyTorch's defaults: no shuffling, `num_workers=0`), per batch
  the copy to the device, the `train` step and `loss.item()` (lssg reads every loss to refuse a
  non-finite one); one untimed epoch when `--warmup > 0`, then one timed epoch, reported as
  seconds per batch.

`--precision bf16` runs every forward (and the loss) under `torch.autocast(device, bfloat16)`,
backward and optimiser step outside it, as PyTorch's AMP recipe does; `--memory-format
channels-last` converts the model (`model.to(memory_format=torch.channels_last)`) and the inputs;
`--compile` wraps the model in `torch.compile` (its default mode) before anything is timed, so
the compilation happens in the warm-up.

A sample counts once when all of its work is done (every scenario, for scoring and evaluation), so
`samples_per_s = batch / median seconds` for every loop. `--json` prints one JSON object.
"""

import argparse
import contextlib
import json
import os
import statistics
import sys
import time
import warnings

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lssg_cmx  # noqa: E402


def scenarios(m):
    """Availability rows of every scenario in lssg's canonical order (by size, then indices)."""
    masks = sorted(range(1, 1 << m), key=lambda k: (bin(k).count("1"), [i for i in range(m) if k >> i & 1]))
    return torch.tensor([[float(k >> i & 1) for i in range(m)] for k in masks])


def loss_fn(logits, labels):
    """lssg's segmentation loss (crates/trainer/src/loss.rs) without ignored pixels or Dice."""
    if logits.shape[1] == 1:
        return F.binary_cross_entropy_with_logits(logits[:, 0], labels.float())
    return F.cross_entropy(logits, labels)


def per_sample_loss(logits, labels):
    """crates/scoring/src/task.rs: each sample's mean pixel loss, `[B]`."""
    if logits.shape[1] == 1:
        pixel = F.binary_cross_entropy_with_logits(logits[:, 0], labels.float(), reduction="none")
    else:
        pixel = F.cross_entropy(logits, labels, reduction="none")
    return pixel.flatten(1).mean(1)


def make_train(model, xs, labels, rows, amp, lr=1e-4):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(0)

    def step():
        model.train()
        avail = rows[torch.randint(len(rows), (labels.shape[0],), generator=gen)].to(labels.device)
        opt.zero_grad()
        with amp():
            logits, _ = model(xs, avail)
            loss = loss_fn(logits, labels)
        loss.backward()
        opt.step()
    return step


def make_forward(model, xs, rows, b):
    """One eval forward with every modality, no gradients (lssg's `forward` loop)."""
    full = rows[-1:].to(xs[0].device).repeat(b, 1)

    @torch.no_grad()
    def step():
        model.eval()
        model(xs, full)
    return step


def make_score_batched(model, xs, labels, rows, max_forward=64):
    b = labels.shape[0]
    partial = rows[:-1].to(labels.device)
    per_forward = max(max_forward // b, 1)

    @torch.no_grad()
    def step():
        model.eval()
        full_logits, full_latent = model(xs, rows[-1:].to(labels.device).repeat(b, 1))
        full_latent, full_loss = full_latent.flatten(1).unsqueeze(1), per_sample_loss(full_logits, labels)
        d, t = [], []
        for chunk in partial.split(per_forward):
            k = chunk.shape[0]
            logits, z = model([x.repeat_interleave(k, 0) for x in xs], chunk.repeat(b, 1))
            d.append((z.reshape(b, k, -1) - full_latent).square().mean(2))
            t.append(per_sample_loss(logits, labels.repeat_interleave(k, 0)).reshape(b, k) - full_loss[:, None])
        return torch.cat(d, 1).double().cpu(), torch.cat(t, 1).double().cpu()
    return step


def make_score_batch1(model, xs, labels, rows):
    @torch.no_grad()
    def step():
        model.eval()
        sums = torch.zeros(len(rows), dtype=torch.float64)
        for i in range(labels.shape[0]):
            x = [t[i:i + 1] for t in xs]
            _, full = model(x, rows[-1:].to(labels.device))
            for k in range(len(rows)):
                _, z = model(x, rows[k:k + 1].to(labels.device))
                sums[k] += (z - full).square().mean().item()
        return sums
    return step


def make_eval(model, xs, labels, rows, classes):
    b = labels.shape[0]
    k = max(classes, 2)

    @torch.no_grad()
    def step():
        model.eval()
        confusion = torch.zeros(len(rows), k * k, dtype=torch.int64, device=labels.device)
        for s in range(len(rows)):
            logits, _ = model(xs, rows[s:s + 1].to(labels.device).expand(b, -1))
            pred = (logits[:, 0] > 0).long() if classes == 1 else logits.argmax(1)
            confusion[s] += torch.bincount((labels * k + pred).flatten(), minlength=k * k)
        return confusion.cpu()
    return step


class MemoryTiles(torch.utils.data.Dataset):
    """`n` random tiles in memory (values uniform in [-1, 1), labels uniform over the classes)."""

    def __init__(self, n, channels, size, classes, seed):
        gen = torch.Generator().manual_seed(seed)
        self.xs = [torch.rand(n, c, size, size, generator=gen) * 2 - 1 for c in channels]
        self.labels = torch.randint(max(classes, 2), (n, size, size), generator=gen)

    def __len__(self):
        return self.labels.shape[0]

    def __getitem__(self, i):
        return [x[i] for x in self.xs], self.labels[i]


def time_train_loop(model, channels, classes, batch, size, steps, warmup, rows, device, seed, amp, memory_format,
                    lr=1e-4):
    """Seconds per batch of one timed epoch of the full loop (after one untimed epoch)."""
    loader = torch.utils.data.DataLoader(MemoryTiles(steps * batch, channels, size, classes, seed + 1),
                                         batch_size=batch, shuffle=False, num_workers=0)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)

    def epoch():
        model.train()
        for xs, labels in loader:
            xs = [x.to(device, non_blocking=True, memory_format=memory_format) for x in xs]
            labels = labels.to(device, non_blocking=True)
            avail = rows[torch.randint(len(rows), (labels.shape[0],), generator=gen)].to(device)
            opt.zero_grad()
            with amp():
                logits, _ = model(xs, avail)
                loss = loss_fn(logits, labels)
            loss.backward()
            opt.step()
            loss.item()
    if warmup > 0:
        epoch()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    epoch()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / steps


def timed(step, steps, warmup, device):
    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        sync()
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


LOOPS = ("train", "forward", "score_batched", "score_batch1", "eval", "train_loop")


def main(argv=None):
    ap = argparse.ArgumentParser(description="PyTorch loops of lssg's CMX")
    ap.add_argument("--preset", default="small", choices=sorted(lssg_cmx.PRESETS))
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--channels", default="3,3,3", help="channels per modality, comma-separated")
    ap.add_argument("--classes", type=int, default=1)
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--max-forward", type=int, default=64, help="lssg's scoring.max_forward")
    ap.add_argument("--loops", default=",".join(LOOPS), help="comma-separated subset of " + ", ".join(LOOPS))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--checkpoint", help="an lssg safetensors checkpoint to load (default: random weights)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    ap.add_argument("--memory-format", default="nchw", choices=("nchw", "channels-last"))
    ap.add_argument("--compile", action="store_true", help="torch.compile the model")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    channels = [int(c) for c in args.channels.split(",")]
    model = lssg_cmx.build(args.preset, channels, args.classes)
    if args.checkpoint:
        lssg_cmx.load_lssg_safetensors(model, args.checkpoint)
    memory_format = torch.channels_last if args.memory_format == "channels-last" else torch.contiguous_format
    model.to(device, memory_format=memory_format)
    if args.compile:
        model = torch.compile(model)
    bf16 = args.precision == "bf16"

    def amp():
        return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    def under_amp(step):
        def wrapped():
            with amp():
                return step()
        return wrapped
    b, s = args.batch, args.size
    xs = [torch.randn(b, c, s, s, device=device).contiguous(memory_format=memory_format) for c in channels]
    labels = torch.randint(max(args.classes, 2), (b, s, s), device=device)
    rows = scenarios(len(channels))
    makers = {
        "train": lambda: make_train(model, xs, labels, rows, amp),
        "score_batched": lambda: under_amp(make_score_batched(model, xs, labels, rows, args.max_forward)),
        "score_batch1": lambda: under_amp(make_score_batch1(model, xs, labels, rows)),
        "eval": lambda: under_amp(make_eval(model, xs, labels, rows, args.classes)),
        "forward": lambda: under_amp(make_forward(model, xs, rows, b)),
    }
    result = {"preset": args.preset, "batch": b, "size": s, "channels": channels, "classes": args.classes,
              "threads": torch.get_num_threads(), "device": str(device), "torch": torch.__version__,
              "precision": args.precision, "memory_format": args.memory_format, "compile": args.compile,
              "scenarios": len(rows), "loops": {}}
    for name in args.loops.split(","):
        if name not in LOOPS:
            ap.error(f"unknown loop {name!r}; expected some of {', '.join(LOOPS)}")
        if name == "train_loop":
            sec = time_train_loop(model, channels, args.classes, b, s, args.steps, args.warmup, rows, device, args.seed,
                                  amp, memory_format)
        else:
            sec = timed(makers[name](), args.steps, args.warmup, device)
        result["loops"][name] = {"seconds": sec, "samples_per_s": b / sec}
    if args.json:
        print(json.dumps(result))
    else:
        for name, r in result["loops"].items():
            print(f"{name:14s} {r['seconds'] * 1e3:9.2f} ms/batch {r['samples_per_s']:9.2f} samples/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
