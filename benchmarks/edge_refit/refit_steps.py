"""Offline instrument for the edge repair's refit steps (``edge_repair_steps``, nnunet_svl.edge.boundary.repair_to_edge):
how much of an over-drawn label one fit-and-move repairs, and how much more fitting the moved label again does.

Per raw benchmark dataset (its ``labelsTr``, ``labelsTr_clean`` and ``noise_manifest.json`` from ``nnunet-svl
corrupt``; the raw images, no network): for one step and for up to ``--steps`` steps, the noisy cases' Dice to the
clean label before and after the repair, the moved voxels' precision (background in the clean label), the mean number
of moves per noisy case, and on the clean cases their Dice after the repair and how many moved.

usage: python refit_steps.py RAW_DATASET_FOLDER [...] [--steps 4] [--tolerance 1.0]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from nnunet_svl.edge.boundary import repair_to_edge
from nnunet_svl.tools.metrics import dice


def _read(path: Path) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--tolerance", type=float, default=1.0)
    args = ap.parse_args()
    variants = {"1 step": 1, f"<= {args.steps} steps": args.steps}
    for folder in args.folders:
        manifest = json.loads((folder / "noise_manifest.json").read_text())["cases"]
        rows = {v: [] for v in variants}
        for lab in sorted((folder / "labelsTr").glob("*.nii.gz")):
            case = lab.name[:-len(".nii.gz")]
            image = _read(folder / "imagesTr" / f"{case}_0000.nii.gz")[None]
            given = _read(lab) == 1
            clean = _read(folder / "labelsTr_clean" / lab.name) == 1
            for name, steps in variants.items():
                out, fits = repair_to_edge(image, given.astype(np.int16), args.tolerance, steps)
                moves = sum(f.moves(args.tolerance) for f in fits)
                r = out > 0
                rows[name].append((manifest[case]["noisy"], dice(given, clean), dice(r, clean),
                                   int((given & ~r).sum()), int((given & ~r & ~clean).sum()), moves))
        for name, values in rows.items():
            a = np.array(values, dtype=float)
            noisy, kept = a[a[:, 0] == 1], a[a[:, 0] == 0]
            line = (f"{folder.name:36s} {name:12s} noisy: Dice to clean {noisy[:, 1].mean():.3f} -> "
                    f"{noisy[:, 2].mean():.3f}, moved-voxel precision {noisy[:, 4].sum() / max(noisy[:, 3].sum(), 1):.3f}, "
                    f"moves per case {noisy[:, 5].mean():.2f}")
            if len(kept):
                line += f" | clean: Dice {kept[:, 2].mean():.4f}, {int((kept[:, 3] > 0).sum())} of {len(kept)} moved"
            print(line, flush=True)


if __name__ == "__main__":
    main()
