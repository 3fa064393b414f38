"""#12 item 2: what a noise protocol does to the training labels it corrupts, read from a benchmark workspace's raw
datasets' ``noise_manifest.json`` (``nnunet-svl corrupt`` records every noisy case's operation per class: its voxels
before and after and its Dice with the clean label; with one foreground class, as on the phantoms, that is the
label's foreground):

    python benchmarks/regime/label_damage.py WS mt_r0p5 mt_r1 dilate_r0p5 markov_r0p5

Per protocol over every seed's dataset: Dice(noisy, clean) per noisy case and class (mean), how many labels grew / shrank, the
geometric mean and median of the volume ratio noisy / clean, and how many lesions were erased (< 10 % of the clean
volume left)."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np


def damage(datasets: list) -> dict:
    dice, ratios = [], []
    for ds in datasets:
        manifest = json.loads((ds / "noise_manifest.json").read_text())
        for rec in (rec for rec in manifest["cases"].values() if rec.get("noisy")):
            for cls, op in rec["operations"].items():
                dice.append(rec["dice"][cls])
                ratios.append(op["voxels_after"] / max(op["voxels_before"], 1))
    ratios = np.asarray(ratios, float)
    r = np.maximum(ratios, 1e-3)
    return {"datasets": len(datasets), "noisy_labels": len(dice), "dice_noisy_clean": float(np.mean(dice)),
            "grown": int((ratios > 1).sum()), "shrunk": int((ratios < 1).sum()),
            "volume_ratio_geomean": float(np.exp(np.log(r).mean())), "volume_ratio_median": float(np.median(r)),
            "erased": int((ratios < 0.1).sum())}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ws, groups = Path(argv[0]), argv[1:]
    print("| protocol | datasets | Dice(noisy, clean) per noisy case | grown / shrunk | volume ratio, geometric mean "
          "(median) | erased (< 10 % left) |")
    print("|---|---|---|---|---|---|")
    for g in groups:
        d = damage(sorted(p for p in (ws / "raw").glob(f"Dataset*_{g}_s*") if re.search(rf"_{g}_s\d+$", p.name)))
        print(f"| {g} | {d['datasets']} | {d['dice_noisy_clean']:.2f} | {d['grown']} / {d['shrunk']} | "
              f"{d['volume_ratio_geomean']:.2f} ({d['volume_ratio_median']:.2f}) | {d['erased']} of {d['noisy_labels']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
