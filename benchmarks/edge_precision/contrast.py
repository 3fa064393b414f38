"""Offline instrument: the edge repair (3 fit-and-move steps, as the trainer runs it) on phantoms of several lesion
contrasts, under four rules for which labels are over-drawn (``nnunet_svl.edge``; on the raw images, no network):

  offset      the first fit is trusted and lies beyond the tolerance (the default until 2026-12-03, ``_EdgeAnyStep``)
  z1          ... by one jackknife standard error of its offset (``edge_offset_z`` 1)
  step        ... and its step's t is at least 2 × the dataset's on-edge labels' median (``edge_step_ratio`` 2,
              ``on_edge_step_reference``; the offset alone where the dataset has no reference): the default since
              2026-12-03
  step+z1     both (``_EdgePrecise``)

Per dataset folder and rule: how many clean labels move and their summed loss of Dice against themselves; how many
noisy labels move and the mean change of the noisy labels' Dice against the clean ones (label repair, points).

usage: python contrast.py DATASET_FOLDER [...] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from nnunet_svl.edge.boundary import fit_edge, on_edge_step_reference, repair_to_edge
from nnunet_svl.tools.metrics import dice

TOLERANCE = 1.0
STEPS = 3
RULES = ("offset", "z1", "step", "step+z1")


def contrast_of(folder: Path) -> float:
    source = folder / "dataset.json" if (folder / "dataset.json").is_file() else \
        (folder / "imagesTr").resolve().parent / "dataset.json"          # the test labels' folder links the source's
    info = json.loads(source.read_text()).get("svl_demo", {})
    return float(info.get("lesion_contrast_sd", 1.75)), int(info.get("seed", 0))


def run_dataset(folder: Path) -> dict:
    manifest = json.loads((folder / "noise_manifest.json").read_text())["cases"] \
        if (folder / "noise_manifest.json").is_file() else {}
    clean_dir = folder / "labelsTr_clean" if (folder / "labelsTr_clean").is_dir() else folder / "labelsTr"
    cases = {}
    for lab in sorted((folder / "labelsTr").glob("*.nii.gz")):
        case = lab.name[:-len(".nii.gz")]
        image = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "imagesTr" / f"{case}_0000.nii.gz")))[None]
        given = sitk.GetArrayFromImage(sitk.ReadImage(str(lab))).astype(np.int16)
        clean = sitk.GetArrayFromImage(sitk.ReadImage(str(clean_dir / lab.name))) == 1
        cases[case] = (image, given, clean, fit_edge(image, given > 0),
                       bool(manifest.get(case, {}).get("noisy", False)))
    ref = on_edge_step_reference({c: (f.offset, f.t_value, f.reliable) for c, (*_, f, _) in cases.items()}, TOLERANCE)

    def step_ok(f):
        return not np.isfinite(ref) or f.t_value >= 2.0 * ref

    judges = {"offset": lambda f: f.moves(TOLERANCE), "z1": lambda f: f.moves(TOLERANCE, 1.0),
              "step": lambda f: f.moves(TOLERANCE) and step_ok(f),
              "step+z1": lambda f: f.moves(TOLERANCE, 1.0) and step_ok(f)}
    rows = {}
    for case, (image, given, clean, first, noisy) in cases.items():
        row = {"noisy": noisy, "dice_given": dice(given > 0, clean), "first_offset": first.offset, "trusted": first.reliable,
               "offset_se": first.offset_se, "t": first.t_value,
               "step_ratio": first.t_value / ref if np.isfinite(ref) else None}
        repaired = None
        for name in RULES:
            moved = judges[name](first)
            if moved and repaired is None:
                repaired = repair_to_edge(image, given, TOLERANCE, STEPS)[0]
            out = repaired if moved else given
            row[name] = {"moved": moved, "dice": dice(out > 0, clean)}
        rows[case] = row
    return {"reference": ref, "cases": rows}


def summarise(folder: Path, result: dict) -> str:
    contrast, seed = contrast_of(folder)
    rows = list(result["cases"].values())
    clean = [r for r in rows if not r["noisy"]]
    noisy = [r for r in rows if r["noisy"]]
    parts = [f"c {contrast:<4g} phantoms {seed} {folder.name.split('_', 1)[1]:<30} ref t {result['reference']:5.1f}"]
    for name in RULES:
        c_moved = sum(r[name]["moved"] for r in clean)
        c_loss = sum(100 * (r[name]["dice"] - r["dice_given"]) for r in clean)
        text = f"{name}: clean {c_moved}/{len(clean)} ({c_loss:+.0f})"
        if noisy:
            gain = np.mean([100 * (r[name]["dice"] - r["dice_given"]) for r in noisy])
            text += f", noisy {sum(r[name]['moved'] for r in noisy)}/{len(noisy)} ({gain:+.1f})"
        parts.append(text)
    beyond = [r for r in rows if r["trusted"] and r["first_offset"] > TOLERANCE and r["step_ratio"] is not None]
    ratios = sorted(r["step_ratio"] for r in beyond if not r["noisy"])
    noisy_ratios = sorted(r["step_ratio"] for r in beyond if r["noisy"])
    parts.append("step ratios of the trusted fits beyond the tolerance: clean " + (" ".join(f"{v:.2f}" for v in ratios) or "-") +
                 "; noisy min " + (" ".join(f"{v:.2f}" for v in noisy_ratios[:2]) or "-"))
    return " | ".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("datasets", nargs="+", type=Path)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    print(f"edge repair, tolerance {TOLERANCE}, {STEPS} steps. Per rule: clean labels moved (their summed Dice change "
          f"against themselves, pts), noisy labels moved (mean label repair over the noisy labels, pts)")
    everything = {}
    for folder in args.datasets:
        result = run_dataset(folder)
        everything[str(folder)] = result
        print(summarise(folder, result), flush=True)
    if args.json:
        args.json.write_text(json.dumps(everything, indent=1, default=float))


if __name__ == "__main__":
    main()
