#!/usr/bin/env python3
"""Segment a GeoTIFF with a model written by `lssg export`, without lssg (docs/export.md §5).

    python segment_geotiff.py MODEL (--image ALL.tif | --modality NAME=PATH ...)
        [--available NAME,NAME] [--threads N] --out labels.tif

MODEL is a TorchScript archive (`.pt`, run with torch) or an ONNX model (`.onnx`, run with
onnxruntime); its `lssg.json` says which modalities it takes, their bands, the tile and batch
it was traced with, and the class names. `--image` is one raster holding every modality's bands
in the model's order; `--modality` gives one raster per modality instead. A modality left out
of `--available` (or given no raster) is missing: the model sees zeros and availability 0, as
in lssg. Raw values go in unchanged: the model normalises them itself, and NaN or infinite
values (no-data) count as 0 after normalisation.

The scene is cut into non-overlapping tiles of the traced size (the last row and column padded
with no-data), run `batch` tiles at a time, and the label of each pixel (argmax of the logits;
`logit > 0` for a binary model) written as an 8-bit GeoTIFF with the input's georeferencing
tags. `lssg predict` blends overlapping tiles instead (docs/predict.md §2).

Needs numpy and tifffile, plus torch or onnxruntime: the venv of `scripts/setup` has them all.
"""

import argparse
import json
import sys

import numpy as np
import tifffile

# GeoTIFF tags copied to the output: pixel scale, tie points, transformation, geo keys.
GEO_TAGS = (33550, 33922, 34264, 34735, 34736, 34737)


class Model:
    """The exported model and its lssg.json, behind one `run(xs, availability)`."""

    def __init__(self, path, threads=None):
        if path.endswith(".onnx"):
            import onnxruntime

            options = onnxruntime.SessionOptions()
            if threads:
                options.intra_op_num_threads = threads
            self.session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
            self.meta = json.loads(self.session.get_modelmeta().custom_metadata_map["lssg"])
            self.names = [i.name for i in self.session.get_inputs()]
            self.module = None
        else:
            import torch

            if threads:
                torch.set_num_threads(threads)
            extra = {"lssg.json": ""}
            self.module = torch.jit.load(path, _extra_files=extra)
            self.meta = json.loads(extra["lssg.json"])

    def run(self, xs, availability):
        """Logits `[B, K, T, T]` of float32 inputs `xs[m]` `[B, C_m, T, T]`, availability `[B, M]`."""
        if self.module is None:
            feeds = dict(zip(self.names, list(xs) + [availability]))
            return self.session.run(["logits"], feeds)[0]
        import torch

        with torch.no_grad():
            args = [torch.from_numpy(x) for x in xs] + [torch.from_numpy(availability)]
            return self.module(*args).numpy()


def read_bands(path):
    """A raster as float32 `[bands, H, W]`, with the geo tags of its first page."""
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        data = page.asarray()
        tags = [(t.code, t.dtype, t.count, t.value, True) for t in page.tags.values() if t.code in GEO_TAGS]
        planar_contig = page.planarconfig == tifffile.PLANARCONFIG.CONTIG
    if data.ndim == 2:
        data = data[None]
    elif planar_contig:
        data = np.moveaxis(data, -1, 0)
    return data.astype(np.float32), tags


def load_inputs(args, modalities):
    """Per modality `[C_m, H, W]` (None when missing) and the geo tags of the first raster."""
    arrays, tags = [None] * len(modalities), None
    names = [m["name"] for m in modalities]
    if args.image:
        data, tags = read_bands(args.image)
        want = sum(m["bands"] for m in modalities)
        if data.shape[0] != want:
            sys.exit(f"{args.image}: {data.shape[0]} bands, the model takes {want} ({names})")
        start = 0
        for i, m in enumerate(modalities):
            arrays[i] = data[start : start + m["bands"]]
            start += m["bands"]
    for spec in args.modality:
        name, _, path = spec.partition("=")
        if name not in names:
            sys.exit(f"--modality {spec}: unknown modality {name!r} (known: {', '.join(names)})")
        i = names.index(name)
        data, t = read_bands(path)
        if data.shape[0] != modalities[i]["bands"]:
            sys.exit(f"{path}: {data.shape[0]} bands, modality {name} has {modalities[i]['bands']}")
        arrays[i], tags = data, tags or t
    if args.available:
        keep = set(args.available.split(","))
        unknown = keep - set(names)
        if unknown:
            sys.exit(f"--available: unknown modalities {sorted(unknown)} (known: {', '.join(names)})")
        arrays = [a if n in keep else None for a, n in zip(arrays, names)]
    present = [a for a in arrays if a is not None]
    if not present:
        sys.exit("no available modality has a raster")
    if len({a.shape[1:] for a in present}) != 1:
        sys.exit("the modalities' rasters differ in size: give them on one grid")
    return arrays, tags


def segment(model, arrays):
    """Labels `[H, W]` (uint8) of the scene `arrays` with the model's fixed tile and batch."""
    meta = model.meta
    tile, batch = meta["shapes"]["tile"], meta["shapes"]["batch"]
    h, w = next(a for a in arrays if a is not None).shape[1:]
    rows, cols = -(-h // tile), -(-w // tile)
    padded = []
    for a, m in zip(arrays, meta["modalities"]):
        p = np.zeros((m["bands"], rows * tile, cols * tile), np.float32)
        if a is not None:
            p[:] = np.nan
            p[:, :h, :w] = a
        padded.append(p)
    availability = np.array([[0.0 if a is None else 1.0 for a in arrays]], np.float32)
    labels = np.zeros((rows * tile, cols * tile), np.uint8)
    tiles = [(r, c) for r in range(rows) for c in range(cols)]
    for start in range(0, len(tiles), batch):
        chunk = tiles[start : start + batch]
        # The traced batch is fixed: a short last batch is filled with copies of its first tile.
        filled = chunk + [chunk[0]] * (batch - len(chunk))
        xs = [
            np.stack([p[:, r * tile : (r + 1) * tile, c * tile : (c + 1) * tile] for r, c in filled])
            for p in padded
        ]
        logits = model.run(xs, np.repeat(availability, batch, axis=0))
        if logits.shape[1] == 1:
            pred = (logits[:, 0] > 0).astype(np.uint8)
        else:
            pred = logits.argmax(axis=1).astype(np.uint8)
        for (r, c), p in zip(chunk, pred):
            labels[r * tile : (r + 1) * tile, c * tile : (c + 1) * tile] = p
    return labels[:h, :w]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="model.pt (TorchScript) or model.onnx")
    parser.add_argument("--image", help="one raster with every modality's bands in model order")
    parser.add_argument("--modality", action="append", default=[], help="NAME=PATH, one raster per modality")
    parser.add_argument("--available", help="comma-separated available modalities (default: all given)")
    parser.add_argument("--threads", type=int, help="CPU threads of torch or onnxruntime (default: theirs)")
    parser.add_argument("--out", required=True, help="the label GeoTIFF to write")
    args = parser.parse_args()
    if not args.image and not args.modality:
        parser.error("give --image or --modality NAME=PATH")
    model = Model(args.model, args.threads)
    arrays, tags = load_inputs(args, model.meta["modalities"])
    labels = segment(model, arrays)
    tifffile.imwrite(args.out, labels, extratags=tags or [])
    classes = model.meta["classes"]
    counts = np.bincount(labels.ravel(), minlength=len(classes))
    for name, n in zip(classes, counts):
        print(f"{name}: {n} pixels")


if __name__ == "__main__":
    main()
