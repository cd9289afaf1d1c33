"""An exported model against `lssg predict` on one large scene (docs/export.md §7); called by
scripts/bench-export.

Generates a Potsdam-layout scene of `--size`² pixels (`lssg data synth`), stacks its modalities'
bands in model order into one float32 GeoTIFF, exports the run's model as TorchScript and ONNX
(`--batch` tiles, the run's tile size), then, for `--reps` rounds, segments the scene with
`lssg predict` (at its defaults, and with `--overlap 0 --blend flat`, the example's tiling) and
with examples/python/segment_geotiff.py on each export, every side at `--threads` threads, in
an order that rotates between rounds so that all sides see the same machine state. Each run's
wall time and peak resident memory (its own process tree, from wait4) are recorded; the table
gives the median over rounds of Mpx/s (scene pixels / wall time, reading and writing included)
and the largest peak memory. `result.json` and `result.md` go to `--out`.
"""

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def measured(cmd):
    """Runs `cmd` under a child Python that reports its own child's rusage (peak RSS per run)."""
    probe = (
        "import json, os, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)\n"
        "err = p.stderr.read()\n"
        "_, status, ru = os.wait4(p.pid, 0)\n"
        "code = os.waitstatus_to_exitcode(status)\n"
        "if code: sys.stderr.write(err.decode()[-4000:]); sys.exit(code)\n"
        "print(json.dumps({'seconds': time.perf_counter() - t, 'peak_mib': ru.ru_maxrss / 1024}))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe, *cmd], cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"bench-export: {' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout)


def checked(cmd):
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"bench-export: {' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return done.stdout


def make_scene(args, work):
    """The stacked scene `work/scene.tif` (rgb, ir, dsm bands of a synthetic Potsdam tile)."""
    scene = os.path.join(work, "scene.tif")
    if os.path.exists(scene):
        return scene
    root = os.path.join(work, f"potsdam-{args.size}")
    if not os.path.exists(os.path.join(root, "synthetic.json")):
        checked([args.lssg, "--quiet", "data", "synth", "--layout", "potsdam", "--tiles", "1",
                 "--size", str(args.size), "--seed", "9", "--out", root])
    import numpy as np
    import tifffile

    rgbir = tifffile.imread(os.path.join(root, "4_Ortho_RGBIR", "top_potsdam_2_10_RGBIR.tif"))
    if rgbir.shape[0] != 4:
        rgbir = np.moveaxis(rgbir, -1, 0)
    dsm = tifffile.imread(os.path.join(root, "1_DSM", "dsm_potsdam_02_10.tif"))
    data = np.concatenate([rgbir.astype(np.float32), dsm[None].astype(np.float32)])
    tmp = scene + ".tmp.tif"
    tifffile.imwrite(tmp, data, planarconfig="separate", tile=(256, 256))
    os.replace(tmp, scene)
    return scene


def sides(args, work, scene):
    """name → command of every side measured."""
    threads = str(args.threads)
    source = ["--run", args.run, "--method", args.method]
    predict = [args.lssg, "--quiet", "predict", *source, "--scene", scene, "--device", "cpu",
               "--set", f"run.threads={threads}", "--batch", str(args.batch)]
    example = [sys.executable, "examples/python/segment_geotiff.py"]
    out = {
        "lssg predict (overlap 32, hann)": predict + ["--out", os.path.join(work, "lssg.tif")],
        "lssg predict (overlap 0, flat)": predict + ["--overlap", "0", "--blend", "flat",
                                                     "--out", os.path.join(work, "lssg-flat.tif")],
    }
    for fmt, file in (("torchscript", "model.pt"), ("onnx", "model.onnx")):
        if fmt in args.formats:
            model = os.path.join(work, file)
            out[f"segment_geotiff.py, {fmt}"] = example + [model, "--image", scene, "--threads", threads,
                                                           "--out", os.path.join(work, f"{file}.tif")]
    return out


def machine():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{model}, {os.cpu_count()} logical CPUs, load {os.getloadavg()[0]:.2f} at the start"


def markdown(result):
    a = result["args"]
    pixels = a["size"] ** 2 / 1e6
    lines = [f"{a['size']}² scene ({pixels:.1f} Mpx, 5 bands float32), `{a['run']}` method `{a['method']}`, "
             f"{a['threads']} thread(s), batch {a['batch']}, median of {a['reps']} rotating round(s); "
             f"{result['machine']}.", "",
             "| side | Mpx/s | seconds | peak memory (MiB) |", "|---|---:|---:|---:|"]
    for name, r in result["sides"].items():
        lines.append(f"| {name} | {r['mpx_per_s']:.3f} | {r['seconds']:.1f} | {r['peak_mib']:.0f} |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lssg", required=True, help="the lssg binary")
    ap.add_argument("--run", default="runs/potsdam-predict", help="a finished run of configs/potsdam-predict.toml")
    ap.add_argument("--method", default="pretrained")
    ap.add_argument("--size", type=int, default=6000, help="scene side in pixels")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=16, help="tiles per forward, both sides")
    ap.add_argument("--formats", default="torchscript,onnx")
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--out", default="runs/bench-export", help="work directory: scene, exports, results")
    args = ap.parse_args()
    work = os.path.join(ROOT, args.out)
    os.makedirs(work, exist_ok=True)
    scene = make_scene(args, work)
    for fmt, file in (("torchscript", "model.pt"), ("onnx", "model.onnx")):
        if fmt in args.formats:
            checked([args.lssg, "--quiet", "export", "--run", args.run, "--method", args.method, "--format", fmt,
                     "--batch", str(args.batch), "--out", os.path.join(work, file)])
    commands = sides(args, work, scene)
    names = list(commands)
    rounds = {n: [] for n in names}
    started = datetime.datetime.now(datetime.timezone.utc)
    machine_text = machine()
    for rep in range(args.reps):
        order = names[rep % len(names):] + names[:rep % len(names)]
        for name in order:
            print(f"  round {rep + 1}/{args.reps}: {name}", file=sys.stderr, flush=True)
            rounds[name].append(measured(commands[name]))
            print(f"    {rounds[name][-1]['seconds']:.1f} s, peak {rounds[name][-1]['peak_mib']:.0f} MiB",
                  file=sys.stderr, flush=True)
    mpx = args.size ** 2 / 1e6
    result = {"args": vars(args), "machine": machine_text, "started": started.isoformat(timespec="seconds"),
              "commands": commands, "rounds": rounds, "load_at_end": os.getloadavg()[0], "sides": {}}
    for name in names:
        seconds = statistics.median(r["seconds"] for r in rounds[name])
        result["sides"][name] = {"seconds": seconds, "mpx_per_s": mpx / seconds,
                                 "peak_mib": max(r["peak_mib"] for r in rounds[name])}
    table = markdown(result)
    for file, text in (("result.json", json.dumps(result, indent=2) + "\n"), ("result.md", table)):
        tmp = os.path.join(work, f"{file}.tmp-{os.getpid()}")
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, os.path.join(work, file))
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
