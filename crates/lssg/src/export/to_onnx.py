"""Converts the TorchScript module `lssg export` traced into ONNX (docs/export.md §4).

Usage: python to_onnx.py MODULE.pt OUT.onnx LSSG.json
Inputs are named after the modalities plus `availability`, the output `logits`; the JSON goes
into the model's metadata_props under the key `lssg`. Runs with the venv's torch and onnx.
"""

import json
import sys

import onnx
import torch

OPSET = 17


def main(module_path, out_path, metadata_path):
    with open(metadata_path, encoding="utf-8") as f:
        text = f.read()
    meta = json.loads(text)
    module = torch.jit.load(module_path)
    shapes = meta["shapes"]
    args = tuple(torch.zeros(shape) for shape in shapes["inputs"]) + (torch.ones(shapes["availability"]),)
    names = [m["name"] for m in meta["modalities"]] + ["availability"]
    torch.onnx.export(
        module,
        args,
        out_path,
        input_names=names,
        output_names=["logits"],
        opset_version=OPSET,
        dynamo=False,
    )
    model = onnx.load(out_path)
    entry = model.metadata_props.add()
    entry.key = "lssg"
    entry.value = text
    onnx.checker.check_model(model)
    onnx.save(model, out_path)


if __name__ == "__main__":
    main(*sys.argv[1:4])
