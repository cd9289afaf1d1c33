"""lssg vs PyTorch, side by side in one run (docs/speed.md §1); called by scripts/bench-vs-pytorch.

For every thread count and tile size, `--reps` rounds each run `lssg model bench --loops ...
--json` and `benches/pytorch/loops.py --json` once, alternating which goes first, so that both
sides see the same machine state; the table gives the median over rounds of each side's
samples/s and their ratio. The PyTorch side is the repository's own port of lssg's CMX
(benches/pytorch/lssg_cmx.py, equal logits: crates/backbones/tests/pytorch_port.rs).

Units: `train`, `train_loop`, `forward`: samples/s; `score_batched`: tiles/s with every scenario
scored; `eval`: tile-scenarios/s (tiles/s × S). The last row of each block is lssg's batched
scoring over the reference's batch-1 method (PyTorch, one forward per tile and scenario).
Targets: every lssg / PyTorch ratio >= 1.0 and scoring >= 3x the reference.

`--precision fp32,bf16 --layout nchw,channels-last` measures both sides in every combination
(lssg: `model bench --precision --layout`; PyTorch: bf16 autocast, `channels_last` model and
inputs), lssg once per `--inference` value (`eager,packed`: its eval forwards with the weights as
they are, or packed once per session for oneDNN, docs/speed.md §10; training is the same in both), then per thread count, tile size and loop one more row: lssg's fastest configuration
against PyTorch's fastest eager one (channels-last + bf16 autocast on CPUs that compute bf16
fast; whichever measured fastest is taken, so the comparison is never against a slower
PyTorch configuration), target 1.1; with
`--compile`, PyTorch in that configuration under `torch.compile` is measured in the same rounds
and reported beside it.
JSON and markdown go to `--out` (written atomically); `--check` exits 1 when a target is missed.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys

LOOPS = ("train", "train_loop", "forward", "score_batched", "eval")
LABELS = {
    "train": ("train step", "samples/s"),
    "train_loop": ("training loop (data included)", "samples/s"),
    "forward": ("forward (eval)", "samples/s"),
    "score_batched": ("scoring, every scenario", "tiles/s"),
    "eval": ("evaluation, every scenario", "tile-scenarios/s"),
}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_json(cmd):
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"bench-vs-pytorch: {' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError as e:
        sys.exit(f"bench-vs-pytorch: {' '.join(cmd)} printed no JSON ({e}):\n{done.stdout[-2000:]}")


def lssg_rates(args, threads, size, precision, layout, inference):
    out = run_json([args.lssg, "--quiet", "model", "bench", "--backbone", "cmx", "--preset", args.preset,
                    "--batch", str(args.batch), "--size", str(size), "--steps", str(args.steps),
                    "--warmup", str(args.warmup), "--threads", str(threads), "--device", "cpu",
                    "--precision", precision, "--layout", layout, "--inference", inference,
                    "--loops", ",".join(args.loops), "--json"])
    if out["threads"] != threads:
        sys.exit(f"bench-vs-pytorch: lssg ran {out['threads']} threads, asked {threads}")
    return {name: out[name]["samples_per_s"] for name in args.loops}, out["scenarios"]


def torch_rates(args, threads, size, precision, layout, compiled=False):
    loops = args.loops + (("score_batch1",) if "score_batched" in args.loops and not compiled else ())
    cmd = [sys.executable, "benches/pytorch/loops.py", "--preset", args.preset, "--batch", str(args.batch),
           "--size", str(size), "--steps", str(args.steps), "--warmup", str(args.warmup),
           "--threads", str(threads), "--loops", ",".join(loops), "--precision", precision,
           "--memory-format", layout, "--json"]
    out = run_json(cmd + (["--compile"] if compiled else []))
    if out["threads"] != threads:
        sys.exit(f"bench-vs-pytorch: PyTorch ran {out['threads']} threads, asked {threads}")
    return {name: r["samples_per_s"] for name, r in out["loops"].items()}, out["torch"]


def block(args, threads, size, precision, layout, inference, rounds):
    """The rows of one configuration (lssg with `inference`) from its rounds."""
    side_key = {"lssg": f"lssg {inference}", "torch": "torch"}
    scenarios, torch_version = rounds[0][side_key["lssg"]][1], rounds[0]["torch"][1]
    med = lambda side, name: statistics.median(r[side_key[side]][0][name] for r in rounds)  # noqa: E731
    rows = []
    for name in args.loops:
        scale = scenarios if name == "eval" else 1
        lssg, torch = med("lssg", name) * scale, med("torch", name) * scale
        rows.append({"loop": name, "lssg": lssg, "pytorch": torch, "ratio": lssg / torch, "target": 1.0})
    if "score_batched" in args.loops:
        ref = med("torch", "score_batch1")
        rows.append({"loop": "score_vs_reference", "lssg": med("lssg", "score_batched"), "pytorch": ref,
                     "ratio": med("lssg", "score_batched") / ref, "target": 3.0})
    return {"threads": threads, "size": size, "precision": precision, "layout": layout, "inference": inference,
            "scenarios": scenarios, "torch": torch_version, "rows": rows,
            "rounds": [{side: r[side_key[side]][0] for side in side_key} for r in rounds]}


def measure(args, threads, size):
    """Every configuration at `threads` and `size`: per round each configuration's sides (lssg
    once per `--inference` value, PyTorch once, and torch.compile), the side that goes first
    alternating between rounds."""
    configs = [(p, lay) for p in args.precision for lay in args.layout]
    rounds = {c: [] for c in configs}
    compiled = []
    sides = [f"lssg {inf}" for inf in args.inference] + ["torch"]
    for rep in range(args.reps):
        for precision, layout in configs:
            order = sides if rep % 2 == 0 else sides[::-1]
            got = {}
            for side in order:
                print(f"  threads {threads}, {size}², {precision} {layout}, round {rep + 1}/{args.reps}: {side}",
                      file=sys.stderr, flush=True)
                if side == "torch":
                    got[side] = torch_rates(args, threads, size, precision, layout)
                else:
                    got[side] = lssg_rates(args, threads, size, precision, layout, side.split(" ", 1)[1])
            rounds[(precision, layout)].append(got)
        if args.compile:
            print(f"  threads {threads}, {size}², round {rep + 1}/{args.reps}: torch.compile", file=sys.stderr,
                  flush=True)
            compiled.append(torch_rates(args, threads, size, "bf16", "channels-last", compiled=True)[0])
    blocks = [block(args, threads, size, p, lay, inf, rounds[(p, lay)]) for p, lay in configs for inf in args.inference]
    return blocks, best_rows(args, threads, size, blocks, compiled)


def best_rows(args, threads, size, blocks, compiled):
    """Per loop: lssg's fastest configuration against PyTorch's fastest eager one (channels-last +
    bf16 autocast where the CPU computes bf16 fast; whichever measured fastest here)."""
    if len(blocks) < 2:
        return []
    rows = []
    for i, name in enumerate(args.loops):
        best = max(blocks, key=lambda b: b["rows"][i]["lssg"])
        theirs = max(blocks, key=lambda b: b["rows"][i]["pytorch"])
        scale = theirs["scenarios"] if name == "eval" else 1
        ref = theirs["rows"][i]["pytorch"]
        row = {"threads": threads, "size": size, "loop": name, "lssg": best["rows"][i]["lssg"],
               "lssg_config": f"{best['precision']}, {best['layout']}" + ("" if name.startswith("train") else
                                                                         f", {best['inference']}"),
               "pytorch": ref,
               "pytorch_config": f"{theirs['precision']}, {theirs['layout']}",
               "ratio": best["rows"][i]["lssg"] / ref, "target": 1.1}
        if compiled:
            row["compiled"] = statistics.median(c[name] for c in compiled) * scale
        rows.append(row)
    return rows


def markdown(result):
    a = result["args"]
    several = len(a["precision"]) * len(a["layout"]) * len(a["inference"]) > 1
    lines = [f"CMX `{a['preset']}`, batch {a['batch']}, 3 modalities × 3 channels, median of {a['steps']} "
             f"repetitions after {a['warmup']} warm-up, median of {a['reps']} alternating rounds; "
             f"{result['machine']}; torch {result['blocks'][0]['torch']}.", "",
             "| threads | tiles | loop | unit | lssg | PyTorch | lssg / PyTorch | target |",
             "|---:|---:|---|---|---:|---:|---:|---|"]
    if several:
        lines[2] = ("| threads | tiles | precision, layout (lssg inference) | loop | unit | lssg | PyTorch | "
                    "lssg / PyTorch | target |")
        lines[3] = "|---:|---:|---|---|---|---:|---:|---:|---|"
    for b in result["blocks"]:
        for r in b["rows"]:
            if r["loop"] == "score_vs_reference":
                what, unit, vs = "scoring: lssg batched vs reference batch-1", "tiles/s", "(batch-1)"
            else:
                (what, unit), vs = LABELS[r["loop"]], ""
            ok = "met" if r["ratio"] >= r["target"] else "**missed**"
            config = f" {b['precision']}, {b['layout']} ({b['inference']}) |" if several else ""
            lines.append(f"| {b['threads']} | {b['size']}² |{config} {what} | {unit} | {r['lssg']:.2f} | "
                         f"{r['pytorch']:.2f} {vs} | {r['ratio']:.2f} | ≥ {r['target']:.1f} {ok} |")
    if result["best"]:
        lines += ["", "lssg's best against PyTorch's best (eager; torch.compile of channels-last + bf16 beside it):",
                  "", "| threads | tiles | loop | unit | lssg's best | configuration | PyTorch's best | configuration | "
                  "lssg / PyTorch | PyTorch torch.compile | target |",
                  "|---:|---:|---|---|---:|---|---:|---|---:|---:|---|"]
        for r in result["best"]:
            what, unit = LABELS[r["loop"]]
            ok = "met" if r["ratio"] >= r["target"] else "**missed**"
            compiled = f"{r['compiled']:.2f}" if "compiled" in r else "not measured"
            lines.append(f"| {r['threads']} | {r['size']}² | {what} | {unit} | {r['lssg']:.2f} | {r['lssg_config']} | "
                         f"{r['pytorch']:.2f} | {r['pytorch_config']} | {r['ratio']:.2f} | {compiled} | ≥ {r['target']:.1f} {ok} |")
    return "\n".join(lines) + "\n"


def write_atomic(path, text):
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def machine():
    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{model}, {os.cpu_count()} logical CPUs, load {os.getloadavg()[0]:.2f} at the start"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lssg", required=True, help="the lssg binary")
    ap.add_argument("--threads", default="1,2", help="comma-separated libtorch thread counts")
    ap.add_argument("--sizes", default="64,128", help="comma-separated square tile sizes")
    ap.add_argument("--preset", default="paper", choices=("paper", "small", "tiny"))
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--steps", type=int, default=5, help="timed repetitions (train_loop: batches of its epoch)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--reps", type=int, default=3, help="alternating rounds per configuration")
    ap.add_argument("--out", default="runs/bench-vs-pytorch", help="directory for result.json and result.md")
    ap.add_argument("--precision", default="fp32", help="comma-separated: fp32, bf16")
    ap.add_argument("--layout", default="nchw", help="comma-separated: nchw, channels-last")
    ap.add_argument("--inference", default="eager",
                    help="comma-separated, lssg's eval forwards: eager, packed (docs/speed.md §10)")
    ap.add_argument("--loops", default=",".join(LOOPS), help="comma-separated subset of " + ", ".join(LOOPS))
    ap.add_argument("--compile", action="store_true", help="also PyTorch channels-last bf16 under torch.compile")
    ap.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = ap.parse_args()
    args.precision, args.layout = args.precision.split(","), args.layout.split(",")
    args.inference = args.inference.split(",")
    args.loops = tuple(args.loops.split(","))
    bad = [v for v in args.precision if v not in ("fp32", "bf16")] + \
        [v for v in args.layout if v not in ("nchw", "channels-last")] + [v for v in args.loops if v not in LOOPS] + \
        [v for v in args.inference if v not in ("eager", "packed")]
    if bad:
        ap.error(f"unknown values {bad}: --precision takes fp32,bf16, --layout nchw,channels-last, "
                 "--inference eager,packed, --loops "
                 + ",".join(LOOPS))
    try:
        threads = [int(t) for t in args.threads.split(",")]
        sizes = [int(s) for s in args.sizes.split(",")]
    except ValueError:
        ap.error(f"--threads {args.threads!r} / --sizes {args.sizes!r}: expected comma-separated integers")
    if min(threads + sizes) < 1 or min(args.batch, args.steps, args.reps) < 1:
        ap.error("threads, sizes, --batch, --steps and --reps must be >= 1")
    started = datetime.datetime.now(datetime.timezone.utc)
    measured = [measure(args, t, s) for t in threads for s in sizes]
    result = {"args": vars(args), "machine": machine(), "started": started.isoformat(timespec="seconds"),
              "blocks": [b for blocks, _ in measured for b in blocks], "best": [r for _, best in measured for r in best]}
    result["load_at_end"] = os.getloadavg()[0]
    table = markdown(result)
    os.makedirs(os.path.join(ROOT, args.out), exist_ok=True)
    write_atomic(os.path.join(ROOT, args.out, "result.json"), json.dumps(result, indent=2) + "\n")
    write_atomic(os.path.join(ROOT, args.out, "result.md"), table)
    print(table)
    missed = [(b["threads"], b["size"], r["loop"]) for b in result["blocks"] for r in b["rows"]
              if r["ratio"] < r["target"]] + \
        [(r["threads"], r["size"], f"best {r['loop']}") for r in result["best"] if r["ratio"] < r["target"]]
    total = sum(len(b["rows"]) for b in result["blocks"]) + len(result["best"])
    print(f"targets met: {total - len(missed)} of {total}" + (f"; missed: {missed}" if missed else ""))
    print(f"written: {os.path.join(args.out, 'result.json')}, {os.path.join(args.out, 'result.md')}")
    return 1 if (missed and args.check) else 0


if __name__ == "__main__":
    sys.exit(main())
