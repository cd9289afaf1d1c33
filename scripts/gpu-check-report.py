#!/usr/bin/env python3
"""Assembles scripts/gpu-check's steps.tsv and logs/ into gpu-check.json and gpu-check.md.

Usage: gpu-check-report.py OUT_FOLDER TOTAL_S BUDGET_S. Exits 1 when a step failed or timed out
(a CBC-family bench that ran out of memory and then fitted a smaller batch is not a failure).
"""
import json
import os
import re
import sys


def load_steps(out):
    steps = []
    for line in open(os.path.join(out, "steps.tsv")):
        name, status, rc, secs, cmd, tail = (line.rstrip("\n").split("\t") + [""] * 6)[:6]
        s = {"name": name, "status": status, "rc": int(rc) if rc else None, "seconds": int(secs or 0),
             "command": cmd, "note_or_stderr_tail": tail.strip()}
        path = os.path.join(out, "logs", name + ".out")
        if os.path.exists(path):
            text = open(path, errors="replace").read()
            try:
                s["output"] = json.loads(text)
            except ValueError:
                s["output"] = text[-6000:]
        err = os.path.join(out, "logs", name + ".err")
        if (name.startswith("bench-") and status == "failed" and os.path.exists(err)
                and "out of memory" in open(err, errors="replace").read().lower()):
            s["status"] = "out-of-memory"
        steps.append(s)
    return steps


def summarize(steps, total, budget):
    by = {s["name"]: s for s in steps}
    got = lambda n: by.get(n, {}).get("output")  # noqa: E731
    summary = {"seconds": total, "budget_s": budget}
    if isinstance(got("cuda"), dict):
        summary["lssg_cuda"] = got("cuda").get("cuda")
    smi = got("nvidia-smi")
    if isinstance(smi, str) and smi.strip():
        fields = [x.strip() for x in smi.strip().splitlines()[0].split(",")]
        summary["gpu"] = dict(zip(["name", "memory_total", "memory_used", "driver", "compute_capability"], fields))
    if isinstance(got("python-torch"), dict):
        summary["pytorch"] = got("python-torch")
    agreement = {}
    for n in ["agreement-cmx", "agreement-cbc-slp", "agreement-cmx-tf32-default"]:
        o = got(n)
        if isinstance(o, dict) and "agreement" in o:
            a = o["agreement"]
            agreement[n] = {k: a[k]["relative"] for k in ["forward", "loss", "gradients", "after_step"]}
            agreement[n]["agrees"] = a["agrees"]
    summary["agreement"] = agreement
    bench = []
    for s in steps:
        m = re.match(r"bench-(.+)-(fp32|bf16|fp16)(?:-b(\d+))?$", s["name"])
        if not m:
            continue
        row = {"backbone": m.group(1), "precision": m.group(2), "batch": int(m.group(3)) if m.group(3) else None,
               "status": s["status"]}
        o = s.get("output")
        if isinstance(o, dict) and "train" in o:
            row.update(train_samples_per_s=o["train"]["samples_per_s"],
                       forward_samples_per_s=o["forward"]["samples_per_s"],
                       train_median_ms=o["train"]["median_s"] * 1e3, forward_median_ms=o["forward"]["median_s"] * 1e3)
        elif s["status"] != "ok":
            row["why"] = s["note_or_stderr_tail"][-200:]
        bench.append(row)
    summary["bench"] = bench
    q = by.get("quickstart")
    if q:
        table = q.get("output") if isinstance(q.get("output"), str) else None
        summary["quickstart"] = {"status": q["status"], "seconds": q["seconds"], "table": table}
    p = by.get("pytorch-cmx")
    if p:
        summary["pytorch_cmx"] = {"status": p["status"], "output": p.get("output") or p["note_or_stderr_tail"]}
        summary["pytorch_cmx"].update(side_by_side(bench, p.get("output")))
    summary["failed"] = [s["name"] for s in steps if s["status"] in ("failed", "timeout")]
    return summary


def side_by_side(bench, pytorch_output):
    """The CMX fp32 train step of lssg and of the PyTorch port (same preset, size, batch), and
    lssg / PyTorch, when both ran."""
    lssg = next((r for r in bench if r["backbone"] == "cmx" and r["precision"] == "fp32"
                 and "train_samples_per_s" in r), None)
    try:
        torch_sps = pytorch_output["loops"]["train"]["samples_per_s"]
    except (TypeError, KeyError):
        return {}
    out = {"pytorch_train_samples_per_s": torch_sps}
    if lssg:
        out["lssg_train_samples_per_s"] = lssg["train_samples_per_s"]
        out["ratio_lssg_over_pytorch"] = lssg["train_samples_per_s"] / torch_sps
    return out


def cell(text, n=160):
    return str(text)[-n:].replace("|", "/").replace("\n", " ")


def markdown(summary, steps):
    g = summary.get("gpu", {})
    md = ["# lssg gpu-check", ""]
    md.append("- GPU: %s, %s (used %s), driver %s, compute capability %s" % (
        g.get("name"), g.get("memory_total"), g.get("memory_used"), g.get("driver"), g.get("compute_capability")))
    if "pytorch" in summary:
        md.append("- this machine's PyTorch: %s" % json.dumps(summary["pytorch"]))
    md.append("- lssg (tch::Cuda): %s" % json.dumps(summary.get("lssg_cuda")))
    md.append("- %d s of a %d s budget; failed or timed out: %s" % (
        summary["seconds"], summary["budget_s"], ", ".join(summary["failed"]) or "none"))
    md += ["", "## CPU vs CUDA: max |Δ| / max |cpu| (agreement-*: fp32, NVIDIA_TF32_OVERRIDE=0)", "",
           "| check | forward | loss | gradients | after step | agrees (1e-3) |", "|---|---:|---:|---:|---:|---|"]
    for n, a in summary["agreement"].items():
        md.append("| %s | %.2e | %.2e | %.2e | %.2e | %s |" % (
            n, a["forward"], a["loss"], a["gradients"], a["after_step"], a["agrees"]))
    md += ["", "## lssg model bench --device cuda (paper preset, 224²)", "",
           "| backbone | precision | batch | status | train samples/s | forward samples/s | train ms | forward ms |",
           "|---|---|---:|---|---:|---:|---:|---:|"]
    for r in summary["bench"]:
        if "train_samples_per_s" in r:
            md.append("| %s | %s | %s | %s | %.1f | %.1f | %.1f | %.1f |" % (
                r["backbone"], r["precision"], r["batch"], r["status"], r["train_samples_per_s"],
                r["forward_samples_per_s"], r["train_median_ms"], r["forward_median_ms"]))
        else:
            md.append("| %s | %s | %s | %s | %s | | | |" % (
                r["backbone"], r["precision"], r["batch"] or "", r["status"], cell(r.get("why", ""), 120)))
    p = summary.get("pytorch_cmx")
    md += ["", "## The CMX step in this machine's PyTorch", ""]
    if p and "ratio_lssg_over_pytorch" in p:
        md += ["| CMX paper 224², batch 8, fp32 | lssg samples/s | PyTorch samples/s | lssg / PyTorch |",
               "|---|---:|---:|---:|",
               "| train step | %.1f | %.1f | %.2f |" % (
                   p["lssg_train_samples_per_s"], p["pytorch_train_samples_per_s"], p["ratio_lssg_over_pytorch"])]
    else:
        md.append("%s: %s" % (p["status"], cell(p["output"], 2000)) if p else "not run")
    q = summary.get("quickstart")
    if q:
        md += ["", "## Quickstart on CUDA: %s in %d s" % (q["status"], q["seconds"]), "", q["table"] or "(no table)"]
    md += ["", "## Steps", "", "| step | status | seconds | note / stderr tail |", "|---|---|---:|---|"]
    for s in steps:
        md.append("| %s | %s | %d | %s |" % (s["name"], s["status"], s["seconds"], cell(s["note_or_stderr_tail"])))
    return "\n".join(md) + "\n"


def main():
    out, total, budget = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    steps = load_steps(out)
    summary = summarize(steps, total, budget)
    with open(os.path.join(out, "gpu-check.json"), "w") as f:
        json.dump({"summary": summary, "steps": steps}, f, indent=2)
    with open(os.path.join(out, "gpu-check.md"), "w") as f:
        f.write(markdown(summary, steps))
    print("gpu-check: wrote %s/gpu-check.{json,md}; failed or timed out: %s" % (
        out, ", ".join(summary["failed"]) or "none"))
    return 1 if summary["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
