"""Checks the PyTorch port against lssg: `python check_logits.py DIR [--tol 1e-4]`.

DIR is written by crates/backbones/tests/pytorch_port.rs:
- `meta.json`: `{"preset": ..., "channels": [...], "classes": ...}`;
- `model.safetensors`: lssg's checkpoint (`checkpoint::save`);
- `io.safetensors`: `input_0 … input_{M-1}`, `availability` and lssg's eval-mode `logits` and
  `latent` for them.

Loads the checkpoint into the port (strictly), runs it in eval mode on the same input and prints
one JSON line with the max absolute and relative differences of logits and latent. Exits 1 when
an element differs by more than `tol · (1 + |lssg|)` (absolute near zero, relative for large
values), 2 when the checkpoint does not fit the port.
"""

import argparse
import json
import os
import sys
import warnings

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")

import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lssg_cmx  # noqa: E402


def differences(ours, theirs):
    diff = (ours.double() - theirs.double()).abs()
    return {
        "max_abs": diff.max().item(),
        "max_rel": (diff / theirs.double().abs().clamp_min(1e-12)).max().item(),
        "max_scaled": (diff / (1 + theirs.double().abs())).max().item(),
        "max_ref": theirs.abs().max().item(),
        "shape": list(theirs.shape),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir")
    ap.add_argument("--tol", type=float, default=1e-4)
    args = ap.parse_args()
    torch.set_num_threads(1)
    with open(os.path.join(args.dir, "meta.json")) as f:
        meta = json.load(f)
    model = lssg_cmx.build(meta["preset"], meta["channels"], meta["classes"])
    try:
        lssg_cmx.load_lssg_safetensors(model, os.path.join(args.dir, "model.safetensors"))
    except ValueError as e:
        print(f"check_logits: {e}", file=sys.stderr)
        return 2
    model.eval()
    io = lssg_cmx.read_safetensors(os.path.join(args.dir, "io.safetensors"))
    inputs = [io[f"input_{m}"] for m in range(len(meta["channels"]))]
    with torch.no_grad():
        logits, latent = model(inputs, io["availability"])
    ours = {"logits": logits, "latent": latent}
    for k, t in ours.items():
        if t.shape != io[k].shape:
            print(f"check_logits: {k} shape {list(t.shape)}, lssg {list(io[k].shape)}", file=sys.stderr)
            return 1
    report = {"preset": meta["preset"], **{k: differences(t, io[k]) for k, t in ours.items()}}
    print(json.dumps(report))
    bad = [k for k in ours if not report[k]["max_scaled"] <= args.tol]
    if bad:
        print(f"check_logits: {', '.join(bad)} differ by more than {args.tol} (scaled by 1 + |lssg|): "
              + "; ".join(f"{k} max abs {report[k]['max_abs']:.3g}, max rel {report[k]['max_rel']:.3g}" for k in bad),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
